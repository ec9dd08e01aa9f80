import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.security.spec.X509EncodedKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumXDHKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** An X25519 key pair in the HSM; SunEC reads its public key. */
public class KeyPairXDH {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("XDH", "Cavium");
            kpg.initialize(new CaviumXDHKeyGenParameterSpec("x25519-pub", "x25519-priv", true, false));
            KeyPair kp = kpg.generateKeyPair();
            if (!kp.getPublic().getAlgorithm().equals("XDH") || !((CaviumKey) kp.getPrivate()).getLabel().equals("x25519-priv")) throw new AssertionError("an XDH pair");
            KeyFactory.getInstance("XDH", "SunEC").generatePublic(new X509EncodedKeySpec(kp.getPublic().getEncoded()));
            System.out.println("X25519 pair: " + kp.getPublic());
        } finally {
            lm.logout();
        }
    }
}
