import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.util.Arrays;

import javax.crypto.KeyAgreement;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumECGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** Two HSM P-256 pairs agree in both directions (prints true); SunEC agrees with the same keys' public halves. */
public class BasicECDH {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "Cavium");
            kpg.initialize(new CaviumECGenParameterSpec("prime256v1", "ecdh-a-pub", "ecdh-a-priv", true, false));
            KeyPair a = kpg.generateKeyPair();
            kpg.initialize(new CaviumECGenParameterSpec("prime256v1", "ecdh-b-pub", "ecdh-b-priv", true, false));
            KeyPair b = kpg.generateKeyPair();
            KeyAgreement ka = KeyAgreement.getInstance("ECDH", "Cavium");
            ka.init(a.getPrivate());
            ka.doPhase(b.getPublic(), true);
            byte[] s1 = ka.generateSecret();
            KeyAgreement kb = KeyAgreement.getInstance("ECDH", "Cavium");
            kb.init(b.getPrivate());
            kb.doPhase(a.getPublic(), true);
            byte[] s2 = kb.generateSecret();
            boolean same = Arrays.equals(s1, s2) && s1.length == 32;
            System.out.println(same);
            if (!same) throw new AssertionError("the two secrets are equal");
            /* A software peer: SunEC with a P-256 key of its own. */
            KeyPairGenerator sun = KeyPairGenerator.getInstance("EC", "SunEC");
            sun.initialize(new java.security.spec.ECGenParameterSpec("secp256r1"));
            KeyPair c = sun.generateKeyPair();
            ka.init(a.getPrivate());
            ka.doPhase(c.getPublic(), true);
            KeyAgreement ks = KeyAgreement.getInstance("ECDH", "SunEC");
            ks.init(c.getPrivate());
            ks.doPhase(java.security.KeyFactory.getInstance("EC", "SunEC").generatePublic(new java.security.spec.X509EncodedKeySpec(a.getPublic().getEncoded())), true);
            if (!Arrays.equals(ka.generateSecret(), ks.generateSecret())) throw new AssertionError("the HSM and SunEC agree");
        } finally {
            lm.logout();
        }
    }
}
