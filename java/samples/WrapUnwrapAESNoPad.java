import java.security.Key;
import java.security.Security;
import java.util.Arrays;
import java.util.UUID;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** AESWrap/ECB/NoPadding: wrap one AES key with another, unwrap it as a new HSM key; and the padded variant (RFC 5649). */
public class WrapUnwrapAESNoPad {
    static SecretKey aes(int bits) throws Exception {
        KeyGenerator kg = KeyGenerator.getInstance("AES", "Cavium");
        kg.init(new CaviumAESKeyGenParameterSpec(bits, UUID.randomUUID().toString(), true, false));
        return kg.generateKey();
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            SecretKey wrapping = aes(256), toWrap = aes(256);
            for (String t : new String[] {"AESWrap/ECB/NoPadding", "AESWrapPad"}) {
                Cipher c = Cipher.getInstance(t, "Cavium");
                c.init(Cipher.WRAP_MODE, wrapping);
                byte[] wrapped = c.wrap(toWrap);
                c.init(Cipher.UNWRAP_MODE, wrapping);
                Key back = c.unwrap(wrapped, "AES", Cipher.SECRET_KEY);
                if (!(back instanceof CaviumKey) || ((CaviumKey) back).getHandle() == ((CaviumKey) toWrap).getHandle()) throw new AssertionError(t + ": unwrap makes a new HSM key");
                if (!Arrays.equals(back.getEncoded(), toWrap.getEncoded())) throw new AssertionError(t + ": the unwrapped key has the same bytes");
                Cipher sun = Cipher.getInstance(t.startsWith("AESWrapPad") ? "AESWrapPad" : "AESWrap", "SunJCE");
                sun.init(Cipher.UNWRAP_MODE, new javax.crypto.spec.SecretKeySpec(wrapping.getEncoded(), "AES"));
                if (!Arrays.equals(sun.unwrap(wrapped, "AES", Cipher.SECRET_KEY).getEncoded(), toWrap.getEncoded())) throw new AssertionError(t + ": SunJCE unwraps it too");
            }
            System.out.println("AESWrap round trips match");
        } finally {
            lm.logout();
        }
    }
}
