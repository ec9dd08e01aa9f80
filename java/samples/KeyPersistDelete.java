import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;

import com.cavium.cfm2.LoginManager;
import com.cavium.cfm2.Util;
import com.cavium.key.CaviumKey;
import com.cavium.provider.CaviumProvider;

/** A session EC pair becomes token keys with Util.persistKey, then disappears with Util.deleteKey. */
public class KeyPersistDelete {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "Cavium");
            kpg.initialize(256, null);
            KeyPair kp = kpg.generateKeyPair();
            CaviumKey pub = (CaviumKey) kp.getPublic(), priv = (CaviumKey) kp.getPrivate();
            if (pub.isPersistent() || priv.isPersistent()) throw new AssertionError("initialize(256) makes session keys");
            Util.persistKey(pub);
            Util.persistKey(priv);
            if (!pub.isPersistent() || !priv.isPersistent()) throw new AssertionError("persistKey makes token keys");
            long ph = priv.getHandle();
            if (Util.getKey(ph) == null || !Util.getKey(ph).isPersistent()) throw new AssertionError("the HSM reports a token key");
            Util.deleteKey(pub);
            Util.deleteKey(priv);
            try {
                Util.getKey(ph);
                throw new AssertionError("the deleted key is still there");
            } catch (com.cavium.cfm2.CFM2Exception expected) {
                if (expected.getStatus() != 0x60 && expected.getStatus() != 0x82) throw new AssertionError("unexpected status " + expected);
                System.out.println("deleted: " + expected.getMessage());
            }
        } finally {
            lm.logout();
        }
    }
}
