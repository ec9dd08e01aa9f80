import java.security.Security;
import java.util.Arrays;

import javax.crypto.KeyGenerator;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumGenericSecretKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * The guide's HMAC sample with the name spelled HmacsHA224 (names are case-insensitive). The guide keys it
 * with a DESede key; this HSM computes HMACs with generic-secret keys only (docs/jce.md), so the key here is one.
 */
public class MacExample {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator kg = KeyGenerator.getInstance("HmacSHA224", "Cavium");
            kg.init(new CaviumGenericSecretKeyGenParameterSpec(224, "hmactest", true, false));
            SecretKey key = kg.generateKey();
            Mac mac = Mac.getInstance("HmacsHA224", "Cavium");
            mac.init(key);
            mac.update("This is a test message".getBytes());
            byte[] out = mac.doFinal();
            if (out.length != 28) throw new AssertionError("a 28-byte MAC, got " + out.length);
            Mac sun = Mac.getInstance("HmacSHA224", "SunJCE");
            sun.init(new SecretKeySpec(key.getEncoded(), "HmacSHA224"));
            if (!Arrays.equals(out, sun.doFinal("This is a test message".getBytes()))) throw new AssertionError("the HSM's HMAC equals SunJCE's");
            Mac alias = Mac.getInstance("Hmac128SHA224", "Cavium");
            alias.init(key);
            if (!Arrays.equals(out, alias.doFinal("This is a test message".getBytes()))) throw new AssertionError("Hmac128SHA224 is HmacSHA224");
            System.out.println("HMAC-SHA224: " + out.length + " bytes");
        } finally {
            lm.logout();
        }
    }
}
