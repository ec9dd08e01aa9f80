import java.security.Provider;
import java.security.Security;
import java.util.Set;
import java.util.TreeSet;

import com.cavium.provider.CaviumProvider;

/** Lists the provider's services by type, as the guide's sample does from keySet(). */
public class ListAllAlgorithms {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        Provider p = Security.getProvider("Cavium");
        System.out.println(p.getName());
        String[] types = {"Cipher", "KeyAgreement", "Mac", "MessageDigest", "Signature", "KeyGenerator", "KeyPairGenerator", "KeyFactory", "SecretKeyFactory",
            "SecureRandom", "KeyStore"};
        Set<String> aliases = new TreeSet<>();
        for (String t : types) {
            Set<String> names = new TreeSet<>();
            for (Object k : p.keySet()) {
                String s = k.toString();
                if (s.startsWith(t + ".") && !s.contains(" ")) names.add(s.substring(t.length() + 1));
                if (s.startsWith("Alg.Alias." + t + ".")) aliases.add(s.substring(("Alg.Alias." + t + ".").length()));
            }
            if (names.isEmpty()) throw new AssertionError("no " + t + " services");
            System.out.println(t + ": " + names);
        }
        System.out.println("Aliases: " + aliases);
        for (String need : new String[] {"Hmac128SHA1", "SHA1withRSAandMGF1", "RSA/ECB/OAEPPadding", "SHA1"}) {
            if (!aliases.contains(need)) throw new AssertionError("alias " + need + " is registered");
        }
    }
}
