import java.security.Key;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.security.spec.RSAPublicKeySpec;
import java.util.Arrays;

import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.DESedeKeySpec;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumDESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** The guide's KeyFactory examples 1 to 4: translateKey of SunJCE and SunRsaSign keys, getKeySpec of Cavium keys. */
public class KeyFactoryExample {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            /* Example 1: SunJCE keys become Cavium keys. */
            for (String alg : new String[] {"AES", "DESede"}) {
                KeyGenerator kg = KeyGenerator.getInstance(alg, "SunJCE");
                SecretKey soft = kg.generateKey();
                SecretKey hsm = SecretKeyFactory.getInstance(alg, "Cavium").translateKey(soft);
                if (!(hsm instanceof CaviumKey)) throw new AssertionError(alg + ": translateKey gives a CaviumKey");
                if (!Arrays.equals(hsm.getEncoded(), soft.getEncoded())) throw new AssertionError(alg + ": same bytes");
                if (((CaviumKey) hsm).isPersistent() || !((CaviumKey) hsm).isExtractable()) throw new AssertionError(alg + ": a session, extractable key");
            }
            /* Example 2: getKeySpec of extractable session keys equals getEncoded. */
            KeyGenerator dk = KeyGenerator.getInstance("DESede", "Cavium");
            dk.init(new CaviumDESKeyGenParameterSpec(192, "kf-des", true, false));
            SecretKey des = dk.generateKey();
            DESedeKeySpec ds = (DESedeKeySpec) SecretKeyFactory.getInstance("DESede", "Cavium").getKeySpec(des, DESedeKeySpec.class);
            if (!Arrays.equals(ds.getKey(), des.getEncoded())) throw new AssertionError("DESedeKeySpec bytes equal getEncoded");
            KeyGenerator ak = KeyGenerator.getInstance("AES", "Cavium");
            ak.init(new CaviumAESKeyGenParameterSpec(192, "kf-aes", true, false));
            SecretKey aes = ak.generateKey();
            SecretKeySpec as = (SecretKeySpec) SecretKeyFactory.getInstance("AES", "Cavium").getKeySpec(aes, SecretKeySpec.class);
            if (!Arrays.equals(as.getEncoded(), aes.getEncoded()) || as.getEncoded().length != 24) throw new AssertionError("SecretKeySpec bytes equal getEncoded");
            /* Examples 3 and 4: SunRsaSign keys through KeyFactory("RSA","Cavium").translateKey. */
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("RSA", "SunRsaSign");
            kpg.initialize(2048);
            KeyPair kp = kpg.generateKeyPair();
            KeyFactory kf = KeyFactory.getInstance("RSA", "Cavium");
            Key priv = kf.translateKey(kp.getPrivate());
            Key pub = kf.translateKey(kp.getPublic());
            if (!(priv instanceof CaviumKey) || !(pub instanceof CaviumKey)) throw new AssertionError("translateKey gives Cavium keys");
            if (!Arrays.equals(pub.getEncoded(), kp.getPublic().getEncoded())) throw new AssertionError("the public encodings match");
            KeyFactory sunKf = KeyFactory.getInstance("RSA", "SunRsaSign");
            java.security.spec.RSAPrivateCrtKeySpec a = sunKf.getKeySpec(kp.getPrivate(), java.security.spec.RSAPrivateCrtKeySpec.class);
            java.security.spec.RSAPrivateCrtKeySpec b = sunKf.getKeySpec(sunKf.generatePrivate(new java.security.spec.PKCS8EncodedKeySpec(priv.getEncoded())),
                    java.security.spec.RSAPrivateCrtKeySpec.class);
            if (!a.getPrivateExponent().equals(b.getPrivateExponent()) || !a.getModulus().equals(b.getModulus())) throw new AssertionError("the private keys match");
            RSAPublicKeySpec ps = kf.getKeySpec(pub, RSAPublicKeySpec.class);
            if (!ps.getModulus().equals(a.getModulus())) throw new AssertionError("getKeySpec of the Cavium public key");
            System.out.println("key factories: translate and getKeySpec match");
        } finally {
            lm.logout();
        }
    }
}
