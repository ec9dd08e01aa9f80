import java.security.Security;

import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumDESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

public class KeyGenerateDES {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator keyGen = KeyGenerator.getInstance("DESede", "Cavium");
            keyGen.init(new CaviumDESKeyGenParameterSpec(192, "destest", true, true));
            SecretKey k = keyGen.generateKey();
            if (!k.getAlgorithm().equals("DESede") || !((CaviumKey) k).getLabel().equals("destest") || ((CaviumKey) k).getSize() != 192) {
                throw new AssertionError("a DESede key labelled destest: " + k);
            }
            System.out.println("DESede key: " + k);
        } finally {
            lm.logout();
        }
    }
}
