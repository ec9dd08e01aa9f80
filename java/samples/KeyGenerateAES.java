import java.security.Security;
import java.util.UUID;

import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

public class KeyGenerateAES {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator keyGen = KeyGenerator.getInstance("AES", "Cavium");
            keyGen.init(new CaviumAESKeyGenParameterSpec(256, UUID.randomUUID().toString(), true, true));
            SecretKey k = keyGen.generateKey();
            CaviumKey ck = (CaviumKey) k;
            if (ck.getSize() != 256 || !k.getAlgorithm().equals("AES") || !ck.isPersistent()) throw new AssertionError("a persistent 256-bit AES key: " + k);
            if (k.getEncoded() == null || k.getEncoded().length != 32) throw new AssertionError("an extractable key exports 32 bytes");
            /* The default without a spec: 256 bits, a session key. */
            KeyGenerator plain = KeyGenerator.getInstance("AES", "Cavium");
            SecretKey d = plain.generateKey();
            if (((CaviumKey) d).getSize() != 256 || ((CaviumKey) d).isPersistent()) throw new AssertionError("the default AES key is 256 bits, session: " + d);
            plain.init(128);
            if (((CaviumKey) plain.generateKey()).getSize() != 128) throw new AssertionError("init(128) makes a 128-bit key");
            System.out.println("AES key: " + k);
        } finally {
            lm.logout();
        }
    }
}
