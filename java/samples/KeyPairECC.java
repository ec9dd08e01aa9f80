import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.security.interfaces.ECPublicKey;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumECGenParameterSpec;
import com.cavium.provider.CaviumProvider;

public class KeyPairECC {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "Cavium");
            kpg.initialize(new CaviumECGenParameterSpec("secp256k1", "ec_pub", "ec_priv", true, true));
            KeyPair kp = kpg.generateKeyPair();
            if (((ECPublicKey) kp.getPublic()).getParams().getCurve().getField().getFieldSize() != 256) throw new AssertionError("a 256-bit curve");
            if (!((CaviumKey) kp.getPrivate()).getLabel().equals("ec_priv") || !((CaviumKey) kp.getPublic()).getLabel().equals("ec_pub")) throw new AssertionError("labels");
            System.out.println("EC pair: " + kp.getPublic() + " " + kp.getPrivate());
        } finally {
            lm.logout();
        }
    }
}
