import java.math.BigInteger;
import java.security.Key;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.util.Arrays;
import java.util.UUID;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumRSAKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** The OAEP snippet (RSA/ECB/OAEPWithSHA-256ANDMGF1Padding) and WrapUnwrapRSAAES (RSAAESWrap/ECB/OAEPPADDING), RSA-2048 and AES-256. */
public class WrapUnwrapRSA {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("RSA", "Cavium");
            kpg.initialize(new CaviumRSAKeyGenParameterSpec(2048, new BigInteger("65537"), "wrap-pub", "wrap-priv", true, false));
            KeyPair kp = kpg.generateKeyPair();
            KeyGenerator kg = KeyGenerator.getInstance("AES", "Cavium");
            kg.init(new CaviumAESKeyGenParameterSpec(256, UUID.randomUUID().toString(), true, false));
            SecretKey aes = kg.generateKey();
            for (String t : new String[] {"RSA/ECB/OAEPWithSHA-256ANDMGF1Padding", "RSAAESWrap/ECB/OAEPPADDING", "RSA/ECB/PKCS1Padding"}) {
                Cipher c = Cipher.getInstance(t, "Cavium");
                c.init(Cipher.WRAP_MODE, kp.getPublic());
                byte[] wrapped = c.wrap(aes);
                c.init(Cipher.UNWRAP_MODE, kp.getPrivate());
                Key back = c.unwrap(wrapped, "AES", Cipher.SECRET_KEY);
                if (!Arrays.equals(back.getEncoded(), aes.getEncoded())) throw new AssertionError(t + ": the unwrapped key bytes match");
            }
            System.out.println("RSA-OAEP, RSAAESWrap and PKCS#1 wrap round trips match");
        } finally {
            lm.logout();
        }
    }
}
