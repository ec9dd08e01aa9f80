import java.security.Security;
import java.util.UUID;

import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** The guide's verification program: a persistent, extractable AES-256 key with a random label (findKey counts one more key). */
public class VerifyJCE {
    public static void main(String[] args) throws Exception {
        try {
            Security.addProvider(new CaviumProvider());
        } catch (Exception e) {
            System.out.println(e);
            System.exit(1);
        }
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator keyGen = KeyGenerator.getInstance("AES", "Cavium");
            CaviumAESKeyGenParameterSpec aesSpec = new CaviumAESKeyGenParameterSpec(256, UUID.randomUUID().toString(), true, true);
            keyGen.init(aesSpec);
            SecretKey aesKey = keyGen.generateKey();
            System.out.println("Generated key: " + aesKey.toString());
        } finally {
            lm.logout();
        }
    }
}
