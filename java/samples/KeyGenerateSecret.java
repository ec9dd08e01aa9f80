import java.security.Security;

import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumGenericSecretKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

public class KeyGenerateSecret {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator keyGen = KeyGenerator.getInstance("hmacsha1", "Cavium");
            keyGen.init(new CaviumGenericSecretKeyGenParameterSpec(192, "testGetSpec", true, true));
            SecretKey k = keyGen.generateKey();
            if (!k.getAlgorithm().equals("GenericSecret")) throw new AssertionError("the algorithm reads GenericSecret, got " + k.getAlgorithm());
            if (((CaviumKey) k).getSize() != 192) throw new AssertionError("192 bits: " + k);
            /* Sizes round up to whole bytes. */
            keyGen.init(new CaviumGenericSecretKeyGenParameterSpec(100, "round", true, false));
            if (((CaviumKey) keyGen.generateKey()).getSize() != 104) throw new AssertionError("100 bits round up to 104");
            System.out.println("generic secret: " + k);
        } finally {
            lm.logout();
        }
    }
}
