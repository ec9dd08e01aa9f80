import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Security;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import javax.crypto.AEADBadTagException;
import javax.crypto.BadPaddingException;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumAEADParameterSpec;
import com.cavium.provider.CaviumProvider;
import org.opencloudhsm.jce.Check;

/**
 * The transformations that the HSM's CCM, CMAC and raw RSA mechanisms (and the provider's ECB
 * padding) made possible, against a running cluster: AES/CCM/NoPadding and Mac AESCMAC on the
 * published vectors (SunJCE has neither), AES/ECB/PKCS5Padding, DESede/ECB/PKCS5Padding and
 * RSA/ECB/NoPadding against SunJCE in both directions, SecureRandom X9-17-RNG. Argument: the
 * repository (for test-vectors/). Prints "N passed, N failed".
 */
public class MechInterop {
    static final Check C = new Check();
    static final HexFormat HEX = HexFormat.of();

    static byte[] hex(String s) {
        return s == null ? new byte[0] : HEX.parseHex(s);
    }

    /** Paragraphs of "Name = value" lines. */
    static List<Map<String, String>> paragraphs(Path file) throws Exception {
        List<Map<String, String>> out = new ArrayList<>();
        Map<String, String> cur = new TreeMap<>();
        for (String raw : Files.readAllLines(file)) {
            String line = raw.trim();
            if (line.startsWith("#") || line.startsWith("[")) continue;
            if (line.isEmpty()) {
                if (!cur.isEmpty()) out.add(cur);
                cur = new TreeMap<>();
                continue;
            }
            int eq = line.indexOf('=');
            if (eq > 0) cur.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
        }
        if (!cur.isEmpty()) out.add(cur);
        return out;
    }

    static SecretKey hsmSecret(String alg, byte[] value) throws Exception {
        return SecretKeyFactory.getInstance(alg, "Cavium").generateSecret(new SecretKeySpec(value, alg));
    }

    public static void main(String[] args) throws Exception {
        Path repo = Path.of(args[0]);
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            ccm(repo);
            cmac(repo);
            ecbPadding();
            rawRsa();
            rng();
            wraps(repo);
        } finally {
            lm.logout();
        }
        System.out.println(C.passed + " passed, " + C.failed + " failed");
        System.exit(C.failed == 0 ? 0 : 1);
    }

    /* NIST CAVP VNT256: Alen 32, Plen 24, Tlen 16, the nonce per record. */
    static void ccm(Path repo) throws Exception {
        int n = 0;
        SecretKey key = null;
        for (Map<String, String> p : paragraphs(repo.resolve("test-vectors/nist/ccm/VNT256.rsp"))) {
            if (p.containsKey("Key")) key = hsmSecret("AES", hex(p.get("Key")));
            if (!p.containsKey("CT") || n >= 12) continue;
            byte[] nonce = hex(p.get("Nonce")), aad = hex(p.get("Adata")), pt = hex(p.get("Payload")), ct = hex(p.get("CT"));
            Cipher e = Cipher.getInstance("AES/CCM/NoPadding", "Cavium");
            e.init(Cipher.ENCRYPT_MODE, key, new CaviumAEADParameterSpec(nonce, aad, 128));
            C.check(Arrays.equals(e.doFinal(pt), ct), "CCM encrypt VNT256 Count " + p.get("Count"));
            Cipher d = Cipher.getInstance("AES/CCM/NoPadding", "Cavium");
            /* AAD given in two parts: the spec's, then updateAAD (appended). */
            d.init(Cipher.DECRYPT_MODE, key, new CaviumAEADParameterSpec(nonce, Arrays.copyOf(aad, 10), 128));
            d.updateAAD(aad, 10, aad.length - 10);
            C.check(Arrays.equals(d.doFinal(ct), pt), "CCM decrypt VNT256 Count " + p.get("Count"));
            byte[] bad = ct.clone();
            bad[bad.length - 1] ^= 1;
            d.init(Cipher.DECRYPT_MODE, key, new CaviumAEADParameterSpec(nonce, aad, 128));
            try {
                d.doFinal(bad);
                C.check(false, "CCM: a changed tag is refused");
            } catch (AEADBadTagException x) {
                C.check(true, "CCM tag");
            }
            n++;
        }
        C.check(n == 12, "12 CCM records, got " + n);
        /* The guide's testCCM: nonce 10, aad 10, tag 128; and a nonce from the HSM when none is given. */
        Cipher e = Cipher.getInstance("AES/CCM/NoPadding", "Cavium");
        byte[] nonce = new byte[10], aad = new byte[10];
        new SecureRandom().nextBytes(nonce);
        e.init(Cipher.ENCRYPT_MODE, key, new CaviumAEADParameterSpec(nonce, aad, 128));
        byte[] ct = e.doFinal("SampleText".getBytes());
        Cipher d = Cipher.getInstance("AES/CCM/NoPadding", "Cavium");
        d.init(Cipher.DECRYPT_MODE, key, new CaviumAEADParameterSpec(nonce, aad, 128));
        C.check(new String(d.doFinal(ct)).equals("SampleText"), "testCCM round trip");
        e.init(Cipher.ENCRYPT_MODE, key);
        byte[] c1 = e.doFinal("SampleText".getBytes());
        byte[] iv1 = e.getIV();
        C.check(iv1 != null && iv1.length == 13, "CCM without a nonce: a 13-byte nonce from the HSM");
        byte[] c2 = e.doFinal("SampleText".getBytes());
        C.check(!Arrays.equals(iv1, e.getIV()) && !Arrays.equals(c1, c2), "a second doFinal draws a fresh nonce");
        d.init(Cipher.DECRYPT_MODE, key, new IvParameterSpec(iv1));
        C.check(Arrays.equals(d.doFinal(c1), "SampleText".getBytes()), "CCM decrypt with the IvParameterSpec of getIV()");
        try {
            d.init(Cipher.DECRYPT_MODE, key);
            C.check(false, "CCM decryption without a nonce is refused");
        } catch (java.security.InvalidKeyException | IllegalArgumentException x) {
            C.check(true, "");
        }
        try {
            e.init(Cipher.ENCRYPT_MODE, key, new CaviumAEADParameterSpec(new byte[6], null, 128));
            e.doFinal(new byte[1]);
            C.check(false, "a 6-byte nonce is refused by the HSM");
        } catch (java.security.ProviderException x) {
            C.check(String.valueOf(x.getMessage()).contains("nonce"), "6-byte nonce: " + x.getMessage());
        }
    }

    /* SP 800-38B D.1-D.3 (RFC 4493 section 4 for AES-128). */
    static void cmac(Path repo) throws Exception {
        int n = 0;
        for (String f : new String[] {"nist-800-38b-aes128.txt", "nist-800-38b-aes192.txt", "nist-800-38b-aes256.txt"}) {
            for (Map<String, String> p : paragraphs(repo.resolve("test-vectors/nist/cmac/" + f))) {
                if (!p.containsKey("OUTPUT")) continue;
                Mac m = Mac.getInstance("AESCMAC", "Cavium");
                m.init(hsmSecret("AES", hex(p.get("KEY"))));
                byte[] msg = hex(p.get("MESSAGE"));
                m.update(msg, 0, msg.length / 2);
                m.update(msg, msg.length / 2, msg.length - msg.length / 2);
                C.check(Arrays.equals(m.doFinal(), hex(p.get("OUTPUT"))), "AESCMAC " + f + " COUNT " + p.get("COUNT"));
                n++;
            }
        }
        C.check(n == 12, "12 CMAC examples, got " + n);
    }

    static void ecbPadding() throws Exception {
        for (String[] t : new String[][] {{"AES", "AES/ECB/PKCS5Padding", "32"}, {"DESede", "DESede/ECB/PKCS5Padding", "24"}}) {
            byte[] value = new byte[Integer.parseInt(t[2])];
            new SecureRandom().nextBytes(value);
            SecretKey hsm = hsmSecret(t[0], value);
            SecretKeySpec soft = new SecretKeySpec(value, t[0]);
            for (int len = 0; len <= 33; len++) {
                byte[] pt = new byte[len];
                new SecureRandom().nextBytes(pt);
                Cipher c = Cipher.getInstance(t[1], "Cavium"), s = Cipher.getInstance(t[1], "SunJCE");
                c.init(Cipher.ENCRYPT_MODE, hsm);
                s.init(Cipher.ENCRYPT_MODE, soft);
                byte[] ct = c.doFinal(pt);
                C.check(Arrays.equals(ct, s.doFinal(pt)), t[1] + " " + len + " bytes: the same ciphertext as SunJCE");
                s.init(Cipher.DECRYPT_MODE, soft);
                C.check(Arrays.equals(s.doFinal(ct), pt), t[1] + " Cavium -> SunJCE");
                c.init(Cipher.DECRYPT_MODE, hsm);
                s.init(Cipher.ENCRYPT_MODE, soft);
                C.check(Arrays.equals(c.doFinal(s.doFinal(pt)), pt), t[1] + " SunJCE -> Cavium");
            }
            /* A block that is not padding, and a length that is not whole blocks. */
            int b = t[0].equals("AES") ? 16 : 8;
            Cipher raw = Cipher.getInstance(t[0] + "/ECB/NoPadding", "SunJCE");
            raw.init(Cipher.ENCRYPT_MODE, soft);
            byte[] junk = new byte[b];
            junk[b - 1] = (byte) (b + 1);
            Cipher c = Cipher.getInstance(t[1], "Cavium");
            c.init(Cipher.DECRYPT_MODE, hsm);
            try {
                c.doFinal(raw.doFinal(junk));
                C.check(false, t[1] + ": bad padding refused");
            } catch (BadPaddingException x) {
                C.check(true, "");
            }
            try {
                c.doFinal(new byte[b + 1]);
                C.check(false, t[1] + ": a partial block refused");
            } catch (javax.crypto.IllegalBlockSizeException x) {
                C.check(true, "");
            }
            /* The bare name with setPadding. */
            Cipher bare = Cipher.getInstance(t[0] + "/ECB/PKCS5Padding", "Cavium");
            C.check(bare.getBlockSize() == b, "block size");
        }
    }

    static void rawRsa() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA", "SunRsaSign");
        g.initialize(2048);
        KeyPair soft = g.generateKeyPair();
        KeyFactory kf = KeyFactory.getInstance("RSA", "Cavium");
        PrivateKey hsmPriv = (PrivateKey) kf.translateKey(soft.getPrivate());
        PublicKey hsmPub = (PublicKey) kf.translateKey(soft.getPublic());
        C.check(hsmPriv instanceof CaviumKey, "the private key is in the HSM");
        byte[] pt = "SampleText1".getBytes();
        Cipher c = Cipher.getInstance("RSA/ECB/NoPadding", "Cavium"), s = Cipher.getInstance("RSA/ECB/NoPadding", "SunJCE");
        c.init(Cipher.ENCRYPT_MODE, hsmPub);
        s.init(Cipher.ENCRYPT_MODE, soft.getPublic());
        byte[] ct = c.doFinal(pt);
        C.check(ct.length == 256 && Arrays.equals(ct, s.doFinal(pt)), "raw RSA: the same ciphertext as SunJCE (deterministic)");
        s.init(Cipher.DECRYPT_MODE, soft.getPrivate());
        byte[] sunOut = s.doFinal(ct);
        c.init(Cipher.DECRYPT_MODE, hsmPriv);
        byte[] hsmOut = c.doFinal(ct);
        C.check(Arrays.equals(hsmOut, sunOut), "raw RSA decrypt: the same k bytes as SunJCE");
        C.check(hsmOut.length == 256 && Arrays.equals(Arrays.copyOfRange(hsmOut, 256 - pt.length, 256), pt), "zero-padded on the left");
        s.init(Cipher.ENCRYPT_MODE, soft.getPublic());
        C.check(Arrays.equals(c.doFinal(s.doFinal(pt)), sunOut), "SunJCE -> Cavium");
        try {
            c.init(Cipher.WRAP_MODE, hsmPub);
            C.check(false, "RSA/ECB/NoPadding does not wrap (the guide's matrix)");
        } catch (java.security.InvalidKeyException x) {
            C.check(true, "");
        }
    }

    /* AESWrap/ECB/{PKCS5,Zero,No}Padding against SunJCE's RFC 3394 both ways; DESedeWrap on NIST TKW-AE. */
    static void wraps(Path repo) throws Exception {
        byte[] kek = new byte[32], target = new byte[16];
        new SecureRandom().nextBytes(kek);
        new SecureRandom().nextBytes(target);
        SecretKey hsmKek = hsmSecret("AES", kek), hsmTarget = hsmSecret("AES", target);
        SecretKeySpec softKek = new SecretKeySpec(kek, "AES");
        /* The padded forms, as SunJCE's AES/KW/NoPadding sees them: PKCS#5 pads to 8 bytes (a full
         * 8 bytes here; SunJCE's own AES/KW/PKCS5Padding pads to 16 and so differs, docs/jce.md),
         * zero padding adds nothing to a 16-byte key. */
        byte[] p5 = Arrays.copyOf(target, 24);
        Arrays.fill(p5, 16, 24, (byte) 8);
        Object[][] rows = {{"AESWrap/ECB/PKCS5Padding", p5}, {"AESWrap/ECB/ZeroPadding", target}, {"AESWrap/ECB/NoPadding", target}};
        for (Object[] t : rows) {
            String name = (String) t[0];
            byte[] padded = (byte[]) t[1];
            Cipher c = Cipher.getInstance(name, "Cavium"), s = Cipher.getInstance("AES/KW/NoPadding", "SunJCE");
            c.init(Cipher.WRAP_MODE, hsmKek);
            byte[] w = c.wrap(hsmTarget);
            s.init(Cipher.ENCRYPT_MODE, softKek);
            C.check(Arrays.equals(w, s.doFinal(padded)), name + ": SunJCE's AES/KW/NoPadding over the padded key gives the same bytes");
            s.init(Cipher.DECRYPT_MODE, softKek);
            C.check(Arrays.equals(s.doFinal(w), padded), name + " Cavium -> SunJCE");
            c.init(Cipher.UNWRAP_MODE, hsmKek);
            s.init(Cipher.ENCRYPT_MODE, softKek);
            java.security.Key back = c.unwrap(s.doFinal(padded), "AES", Cipher.SECRET_KEY);
            C.check(back instanceof CaviumKey && Arrays.equals(back.getEncoded(), target), name + " SunJCE -> Cavium");
            try {
                c.init(Cipher.ENCRYPT_MODE, hsmKek);
                C.check(false, name + " is wrap-only");
            } catch (java.security.InvalidKeyException x) {
                C.check(true, "");
            }
        }
        int n = 0;
        for (Map<String, String> p : paragraphs(repo.resolve("test-vectors/nist/kw/TKW_AE.txt"))) {
            if (!p.containsKey("C") || n >= 6) continue;
            SecretKey k = SecretKeyFactory.getInstance("DESede", "Cavium").generateSecret(new javax.crypto.spec.DESedeKeySpec(hex(p.get("K"))));
            SecretKey g = SecretKeyFactory.getInstance("GenericSecret", "Cavium").generateSecret(new SecretKeySpec(hex(p.get("P")), "GenericSecret"));
            Cipher c = Cipher.getInstance("DESedeWrap", "Cavium");
            c.init(Cipher.WRAP_MODE, k);
            byte[] w = c.wrap(g);
            C.check(Arrays.equals(w, hex(p.get("C"))), "DESedeWrap TKW_AE COUNT " + p.get("COUNT"));
            c.init(Cipher.UNWRAP_MODE, k);
            C.check(Arrays.equals(c.unwrap(w, "GenericSecret", Cipher.SECRET_KEY).getEncoded(), hex(p.get("P"))), "DESedeWrap unwrap COUNT " + p.get("COUNT"));
            com.cavium.cfm2.Util.deleteKey((CaviumKey) g);
            n++;
        }
        C.check(n == 6, "6 TKW records, got " + n);
    }

    static void rng() throws Exception {
        SecureRandom r = SecureRandom.getInstance("X9-17-RNG", "Cavium");
        byte[] a = new byte[16005], b = new byte[16005];
        r.nextBytes(a);
        r.nextBytes(b);
        C.check(!Arrays.equals(a, b) && !Arrays.equals(a, new byte[16005]), "X9-17-RNG: 16005 bytes, twice, differ");
        C.check(r.generateSeed(16).length == 16, "generateSeed");
        try {
            r.setSeed(new byte[8]);
            C.check(false, "setSeed throws");
        } catch (UnsupportedOperationException x) {
            C.check(true, "");
        }
    }
}
