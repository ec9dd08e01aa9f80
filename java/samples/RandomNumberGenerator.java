import java.security.SecureRandom;
import java.security.Security;

import com.cavium.cfm2.LoginManager;
import com.cavium.provider.CaviumProvider;

/** SecureRandom "AES-CTR-DRBG" without a provider argument: nextBytes and generateSeed work, setSeed is refused. */
public class RandomNumberGenerator {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            SecureRandom sr = SecureRandom.getInstance("AES-CTR-DRBG");
            check(sr.getProvider().getName().equals("Cavium"), "AES-CTR-DRBG comes from Cavium, got " + sr.getProvider().getName());
            byte[] b = new byte[16];
            sr.nextBytes(b);
            byte[] seed = sr.generateSeed(16);
            check(b.length == 16 && seed.length == 16 && !java.util.Arrays.equals(b, seed) && !java.util.Arrays.equals(b, new byte[16]), "16 random bytes twice, different");
            byte[] big = new byte[20000];
            sr.nextBytes(big);
            check(!java.util.Arrays.equals(java.util.Arrays.copyOfRange(big, 0, 8000), java.util.Arrays.copyOfRange(big, 8000, 16000)), "a request over 8000 bytes is filled in parts");
            try {
                sr.setSeed(new byte[] {1, 2, 3});
                check(false, "setSeed must throw");
            } catch (UnsupportedOperationException expected) {
                System.out.println("setSeed: " + expected.getMessage());
            }
            System.out.println("random bytes: " + b.length + ", seed: " + seed.length);
        } finally {
            lm.logout();
        }
    }
}
