import java.security.Key;
import java.security.Security;
import java.util.Arrays;
import java.util.UUID;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * The guide's testGCM and testGCMWrapUnwrap: AES/GCM/NoPadding with a 128-bit tag and AAD. Cavium
 * ignores the caller's IV on encryption and wrapping (the IV comes from the HSM: getIV()); SunJCE
 * decrypts Cavium's output with that IV, Cavium decrypts SunJCE's with the original IV; the same
 * for wrapped keys in every direction.
 */
public class TestGCM {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator kg = KeyGenerator.getInstance("AES", "Cavium");
            kg.init(new CaviumAESKeyGenParameterSpec(256, UUID.randomUUID().toString(), true, false));
            SecretKey key = kg.generateKey();
            SecretKeySpec soft = new SecretKeySpec(key.getEncoded(), "AES");
            byte[] iv = new byte[12];
            new java.security.SecureRandom().nextBytes(iv);
            byte[] aad = "additional data".getBytes();
            byte[] plain = "GCM plaintext, more than one block long".getBytes();

            Cipher cav = Cipher.getInstance("AES/GCM/NoPadding", "Cavium");
            cav.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, iv));
            cav.updateAAD(aad);
            byte[] ct = cav.doFinal(plain);
            byte[] hsmIv = cav.getIV();
            if (hsmIv.length != 12 || Arrays.equals(hsmIv, iv)) throw new AssertionError("Cavium ignores the caller's IV and makes a 12-byte one");
            if (ct.length != plain.length + 16) throw new AssertionError("ciphertext plus a 16-byte tag");
            /* 1: Cavium → Sun, with getIV(). */
            Cipher sun = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
            sun.init(Cipher.DECRYPT_MODE, soft, new GCMParameterSpec(128, hsmIv));
            sun.updateAAD(aad);
            if (!Arrays.equals(sun.doFinal(ct), plain)) throw new AssertionError("SunJCE decrypts Cavium's GCM");
            /* 2: Cavium → Cavium. */
            Cipher cd = Cipher.getInstance("AES/GCM/NoPadding", "Cavium");
            cd.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, hsmIv));
            cd.updateAAD(aad);
            if (!Arrays.equals(cd.doFinal(ct), plain)) throw new AssertionError("Cavium decrypts its own GCM");
            /* 3: Sun → Cavium, with the original IV. */
            sun.init(Cipher.ENCRYPT_MODE, soft, new GCMParameterSpec(128, iv));
            sun.updateAAD(aad);
            byte[] sct = sun.doFinal(plain);
            cd.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, iv));
            cd.updateAAD(aad);
            if (!Arrays.equals(cd.doFinal(sct), plain)) throw new AssertionError("Cavium decrypts SunJCE's GCM");
            /* A flipped bit fails the tag. */
            sct[0] ^= 1;
            cd.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, iv));
            cd.updateAAD(aad);
            try {
                cd.doFinal(sct);
                throw new AssertionError("a changed ciphertext must fail");
            } catch (javax.crypto.AEADBadTagException expected) {
                /* as SunJCE */
            }

            /* testGCMWrapUnwrap. */
            kg.init(new CaviumAESKeyGenParameterSpec(128, UUID.randomUUID().toString(), true, false));
            SecretKey target = kg.generateKey();
            Cipher w = Cipher.getInstance("AES/GCM/NoPadding", "Cavium");
            w.init(Cipher.WRAP_MODE, key, new GCMParameterSpec(128, iv));
            byte[] wrapped = w.wrap(target);
            byte[] wIv = w.getIV();
            sun.init(Cipher.UNWRAP_MODE, soft, new GCMParameterSpec(128, wIv));
            if (!Arrays.equals(sun.unwrap(wrapped, "AES", Cipher.SECRET_KEY).getEncoded(), target.getEncoded())) throw new AssertionError("Cavium wrap → Sun unwrap");
            Cipher u = Cipher.getInstance("AES/GCM/NoPadding", "Cavium");
            u.init(Cipher.UNWRAP_MODE, key, new GCMParameterSpec(128, wIv));
            Key back = u.unwrap(wrapped, "AES", Cipher.SECRET_KEY);
            if (!Arrays.equals(back.getEncoded(), target.getEncoded())) throw new AssertionError("Cavium wrap → Cavium unwrap");
            byte[] iv2 = new byte[12];
            new java.security.SecureRandom().nextBytes(iv2);
            sun.init(Cipher.WRAP_MODE, soft, new GCMParameterSpec(128, iv2));
            byte[] sw = sun.wrap(new SecretKeySpec(target.getEncoded(), "AES"));
            u.init(Cipher.UNWRAP_MODE, key, new GCMParameterSpec(128, iv2));
            if (!Arrays.equals(u.unwrap(sw, "AES", Cipher.SECRET_KEY).getEncoded(), target.getEncoded())) throw new AssertionError("Sun wrap → Cavium unwrap");
            System.out.println("GCM: all three comparisons pass, and the three wrap directions");
        } finally {
            lm.logout();
        }
    }
}
