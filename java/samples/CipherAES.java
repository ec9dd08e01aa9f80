import java.security.Security;
import java.util.Arrays;
import java.util.UUID;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** The guide's AES CBC (the provider makes the IV) and CTR (an external IV) samples, checked against SunJCE too. */
public class CipherAES {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyGenerator kg = KeyGenerator.getInstance("AES", "Cavium");
            kg.init(new CaviumAESKeyGenParameterSpec(256, UUID.randomUUID().toString(), true, false));
            SecretKey key = kg.generateKey();
            SecretKeySpec soft = new SecretKeySpec(key.getEncoded(), "AES");

            /* CBC: encrypt without an IV, read it with getIV(), decrypt with it. */
            Cipher enc = Cipher.getInstance("aes/CBC/PKCS5Padding", "Cavium");
            enc.init(Cipher.ENCRYPT_MODE, key);
            byte[] ct = enc.doFinal("SampleText".getBytes());
            byte[] iv = enc.getIV();
            if (iv == null || iv.length != 16) throw new AssertionError("CBC: a 16-byte IV from getIV()");
            Cipher dec = Cipher.getInstance("aes/CBC/PKCS5Padding", "Cavium");
            dec.init(Cipher.DECRYPT_MODE, key, new IvParameterSpec(iv));
            String back = new String(dec.doFinal(ct));
            if (!back.equals("SampleText")) throw new AssertionError("CBC round trip: " + back);
            Cipher sun = Cipher.getInstance("AES/CBC/PKCS5Padding", "SunJCE");
            sun.init(Cipher.DECRYPT_MODE, soft, new IvParameterSpec(iv));
            if (!new String(sun.doFinal(ct)).equals("SampleText")) throw new AssertionError("SunJCE decrypts the HSM's CBC");

            /* CTR with the IV 0x00..0x0f. */
            byte[] ctrIv = new byte[16];
            for (int i = 0; i < 16; i++) ctrIv[i] = (byte) i;
            Cipher ctr = Cipher.getInstance("aes/CTR/NoPadding", "Cavium");
            ctr.init(Cipher.ENCRYPT_MODE, key, new IvParameterSpec(ctrIv));
            byte[] plain = "SampleText1".getBytes();
            byte[] c2 = ctr.doFinal(plain);
            if (c2.length != plain.length) throw new AssertionError("CTR: ciphertext as long as the plaintext");
            ctr.init(Cipher.DECRYPT_MODE, key, new IvParameterSpec(ctrIv));
            if (!new String(ctr.doFinal(c2)).equals("SampleText1")) throw new AssertionError("CTR round trip");
            Cipher sunCtr = Cipher.getInstance("AES/CTR/NoPadding", "SunJCE");
            sunCtr.init(Cipher.ENCRYPT_MODE, soft, new IvParameterSpec(ctrIv));
            if (!Arrays.equals(sunCtr.doFinal(plain), c2)) throw new AssertionError("CTR equals SunJCE's");

            /* ECB, no padding, one block; and the bare name AES (ECB, NoPadding). */
            Cipher ecb = Cipher.getInstance("AES", "Cavium");
            ecb.init(Cipher.ENCRYPT_MODE, key);
            byte[] block = new byte[16];
            Cipher sunEcb = Cipher.getInstance("AES/ECB/NoPadding", "SunJCE");
            sunEcb.init(Cipher.ENCRYPT_MODE, soft);
            if (!Arrays.equals(ecb.doFinal(block), sunEcb.doFinal(block))) throw new AssertionError("ECB equals SunJCE's");
            System.out.println("CBC and CTR round trips: " + back + ", SampleText1");
        } finally {
            lm.logout();
        }
    }
}
