import java.security.MessageDigest;
import java.security.Security;

import com.cavium.cfm2.LoginManager;
import com.cavium.provider.CaviumProvider;

public class MessageDigestExample {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            byte[] msg = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6};
            MessageDigest md = MessageDigest.getInstance("SHA-224", "Cavium");
            md.update(msg);
            String hex = new java.math.BigInteger(1, md.digest()).toString(16);
            while (hex.length() < 56) hex = "0" + hex;
            if (!hex.equals("b3a5367614fbe06ec84dd54831199376aa8dcc7dcc65bbb2b0f714bd")) throw new AssertionError("SHA-224 known answer, got " + hex);
            for (String n : new String[] {"SHA1", "SHA-1", "SHA224", "SHA256", "SHA384", "SHA512"}) {
                byte[] a = MessageDigest.getInstance(n, "Cavium").digest(msg), b = MessageDigest.getInstance(n, "SUN").digest(msg);
                if (!java.util.Arrays.equals(a, b)) throw new AssertionError(n + " differs from SUN's");
            }
            System.out.println("SHA-224: " + hex);
        } finally {
            lm.logout();
        }
    }
}
