import java.security.Security;
import java.util.Arrays;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumDESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** DESede CBC with padding, and ECB without, against SunJCE. */
public class CipherDESede {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator kg = KeyGenerator.getInstance("DESede", "Cavium");
            kg.init(new CaviumDESKeyGenParameterSpec(192, "des-cipher", true, false));
            SecretKey key = kg.generateKey();
            Cipher c = Cipher.getInstance("DESede/CBC/PKCS5Padding", "Cavium");
            c.init(Cipher.ENCRYPT_MODE, key);
            byte[] ct = c.doFinal("SampleText".getBytes());
            Cipher sun = Cipher.getInstance("DESede/CBC/PKCS5Padding", "SunJCE");
            sun.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key.getEncoded(), "DESede"), new IvParameterSpec(c.getIV()));
            if (!new String(sun.doFinal(ct)).equals("SampleText")) throw new AssertionError("SunJCE decrypts the HSM's DESede-CBC");
            Cipher ecb = Cipher.getInstance("DESede/ECB/NoPadding", "Cavium");
            ecb.init(Cipher.ENCRYPT_MODE, key);
            Cipher sunEcb = Cipher.getInstance("DESede/ECB/NoPadding", "SunJCE");
            sunEcb.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key.getEncoded(), "DESede"));
            if (!Arrays.equals(ecb.doFinal(new byte[8]), sunEcb.doFinal(new byte[8]))) throw new AssertionError("DESede-ECB equals SunJCE's");
            System.out.println("DESede CBC and ECB agree with SunJCE");
        } finally {
            lm.logout();
        }
    }
}
