import java.security.Security;
import java.util.Arrays;

import javax.crypto.KeyGenerator;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumDESKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumGenericSecretKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * The guide's HMAC sample with the name spelled HmacsHA224 (names are case-insensitive), keyed, as the
 * guide keys it, with a DESede key; and a generic-secret key, the usual HMAC key type.
 */
public class MacExample {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator dg = KeyGenerator.getInstance("DESede", "Cavium");
            dg.init(new CaviumDESKeyGenParameterSpec(192, "destest", true, false));
            SecretKey des = dg.generateKey();
            Mac dm = Mac.getInstance("HmacsHA224", "Cavium");
            dm.init(des);
            byte[] dout = dm.doFinal("This is a test message".getBytes());
            Mac dsun = Mac.getInstance("HmacSHA224", "SunJCE");
            dsun.init(new SecretKeySpec(des.getEncoded(), "HmacSHA224"));
            if (!Arrays.equals(dout, dsun.doFinal("This is a test message".getBytes()))) throw new AssertionError("HMAC with the DESede key equals SunJCE's");
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
