package org.opencloudhsm.jce;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.InvalidAlgorithmParameterException;
import java.security.InvalidKeyException;
import java.security.InvalidParameterException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.NoSuchAlgorithmException;
import java.security.Security;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.RSAKeyGenParameterSpec;
import java.util.LinkedHashMap;
import java.util.Map;

import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.KeyGenerator;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.key.CaviumKeyAttributes;
import com.cavium.key.parameter.CaviumAEADParameterSpec;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumDESKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumECGenParameterSpec;
import com.cavium.key.parameter.CaviumGenericSecretKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumKeyGenAlgorithmParameterSpec;
import com.cavium.key.parameter.CaviumRSAKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumXDHKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * Unit tests without an HSM: the codec against the protocol vectors (WireTest), the
 * parameter specs, the refusals that the provider makes before any request (wrong spec
 * types, names it does not offer, keys of other providers), the cfg reader and its
 * messages, and the small encoders (attributes, ECDSA signatures).
 *
 *   java -cp jar:test-classes org.opencloudhsm.jce.UnitTests &lt;dir of frames.txt&gt;
 */
public final class UnitTests {
    static final Check C = WireTest.C;

    public static void main(String[] args) throws Exception {
        WireTest.run(Paths.get(args.length > 0 ? args[0] : "dist/native-test"));
        cfgVectors(Paths.get(args.length > 0 ? args[0] : "dist/native-test"));
        lookupVectors(Paths.get(args.length > 0 ? args[0] : "dist/native-test"));
        Security.addProvider(new CaviumProvider());
        specs();
        refusals();
        config();
        encoders();
        clientName(System.getProperty("ochsm.version"));
        C.summary();
    }

    /** The shared lookup vectors (test-vectors/cfg/lookup.json as lookup.txt): the same path read, or the
     * same message, as the TypeScript and C lookups; what exists comes from the vector's table. */
    static void lookupVectors(Path dir) throws Exception {
        int count = 0;
        for (String line : Files.readAllLines(dir.resolve("lookup.txt"))) {
            String[] f = line.split("\t", -1);
            C.check(f.length == 7, "lookup vector line: " + f.length + " fields");
            if (f.length != 7) continue;
            count++;
            Map<String, AppConfig.Kind> exist = new LinkedHashMap<>();
            if (!f[4].equals("-")) {
                for (String e : f[4].split(",")) {
                    String[] pk = e.split(":");
                    exist.put(unhex(pk[0]), pk[1].equals("dir") ? AppConfig.Kind.DIR : AppConfig.Kind.FILE);
                }
            }
            String cwd = f[1].equals("-") ? null : unhex(f[1]);
            String exe = f[2].equals("-") ? null : unhex(f[2]);
            String env = f[3].equals("-") ? null : unhex(f[3]);
            String want = unhex(f[6]);
            String name = "lookup vector " + f[0];
            try {
                String got = AppConfig.lookup(cwd, exe, env, AppConfig.PRODUCT_DIR + "/" + AppConfig.FILE, p -> exist.getOrDefault(p, AppConfig.Kind.MISSING));
                C.check(f[5].equals("found") && got.equals(want), name + ": got " + got + ", want " + want);
            } catch (AppConfig.ConfigException e) {
                C.check(f[5].equals("error") && e.getMessage().equals(want), name + ": got \"" + e.getMessage() + "\", want \"" + want + "\"");
            }
        }
        C.check(count >= 10, count + " lookup vectors read");
    }

    static void specs() {
        CaviumAESKeyGenParameterSpec aes = new CaviumAESKeyGenParameterSpec(192, "l1", false, true);
        C.check(aes.getKeySize() == 192 && aes.getLabel().equals("l1") && !aes.isExtractable() && aes.isPersistent(), "AES spec keeps (size, label, extractable, persistent)");
        C.check(aes instanceof CaviumKeyGenAlgorithmParameterSpec, "the AES spec is a CaviumKeyGenAlgorithmParameterSpec");
        CaviumDESKeyGenParameterSpec des = new CaviumDESKeyGenParameterSpec(192, "destest", true, true);
        C.check(des.getKeySize() == 192 && des.getLabel().equals("destest") && des.isExtractable(), "DES spec");
        CaviumGenericSecretKeyGenParameterSpec gen = new CaviumGenericSecretKeyGenParameterSpec(192, "testGetSpec", true, false);
        C.check(gen.getKeySize() == 192 && !gen.isPersistent(), "generic secret spec");
        CaviumRSAKeyGenParameterSpec rsa = new CaviumRSAKeyGenParameterSpec(2048, new BigInteger("65537"), "publickey", "privatekey", true, true);
        C.check(rsa instanceof RSAKeyGenParameterSpec && rsa.getKeysize() == 2048 && rsa.getPublicExponent().intValue() == 65537
                && rsa.getPublicKeyLabel().equals("publickey") && rsa.getPrivateKeyLabel().equals("privatekey") && rsa.isExtractable() && rsa.isPersistent(),
                "RSA spec: an RSAKeyGenParameterSpec with the labels and flags");
        CaviumECGenParameterSpec ec = new CaviumECGenParameterSpec("secp256k1", "ec_pub", "ec_priv", true, false);
        C.check(ec instanceof ECGenParameterSpec && ec.getName().equals("secp256k1") && ec.getPublicKeyLabel().equals("ec_pub") && !ec.isPersistent(), "EC spec: an ECGenParameterSpec");
        C.check(Curves.oidOf(CaviumECGenParameterSpec.PRIME256) != null && Wire.hex(Curves.oidOf("prime256v1")).equals("06082a8648ce3d030107"),
                "PRIME256 and prime256v1 name P-256 (OID 1.2.840.10045.3.1.7)");
        C.check(Wire.hex(Curves.oidOf("secp256k1")).equals("06052b8104000a") && Wire.hex(Curves.oidOf("secp384r1")).equals("06052b81040022"), "secp256k1 and P-384 OIDs");
        CaviumXDHKeyGenParameterSpec x = new CaviumXDHKeyGenParameterSpec("xp", "xs", true, false);
        C.check(x.getName().equals("X25519") && x.getPrivateKeyLabel().equals("xs"), "XDH spec names X25519");
        byte[] nonce = new byte[10];
        CaviumAEADParameterSpec aead = new CaviumAEADParameterSpec(nonce, new byte[10], 128);
        nonce[0] = 1;
        C.check(aead.getIV()[0] == 0 && aead.getAAD().length == 10 && aead.getTagLength() == 128, "AEAD spec copies its arrays");
        CaviumKeyGenAlgorithmParameterSpec base = new CaviumKeyGenAlgorithmParameterSpec("imported", true, false);
        C.check(base.getLabel().equals("imported") && base.isExtractable() && !base.isPersistent(), "base attribute spec");
    }

    static void refusals() throws Exception {
        C.throwsType(InvalidAlgorithmParameterException.class, () -> KeyGenerator.getInstance("AES", "Cavium").init(new CaviumDESKeyGenParameterSpec(192, "x", true, false)),
                "AES KeyGenerator with a DES spec");
        C.throwsType(InvalidAlgorithmParameterException.class, () -> KeyGenerator.getInstance("AES", "Cavium").init(new RSAKeyGenParameterSpec(2048, RSAKeyGenParameterSpec.F4)),
                "AES KeyGenerator with an RSA spec");
        C.throwsType(InvalidAlgorithmParameterException.class, () -> KeyGenerator.getInstance("DESede", "Cavium").init(new CaviumDESKeyGenParameterSpec(100, "x", true, false)),
                "DESede KeyGenerator with 100 bits");
        C.throwsType(InvalidParameterException.class, () -> KeyGenerator.getInstance("DESede", "Cavium").init(64), "DESede init(64)");
        C.throwsType(InvalidAlgorithmParameterException.class, () -> KeyPairGenerator.getInstance("EC", "Cavium").initialize(new CaviumAESKeyGenParameterSpec(256, "x", true, false)),
                "EC KeyPairGenerator with an AES spec");
        C.throwsType(InvalidAlgorithmParameterException.class, () -> KeyPairGenerator.getInstance("EC", "Cavium").initialize(new ECGenParameterSpec("nosuchcurve")),
                "EC KeyPairGenerator with an unknown curve");
        C.throwsType(InvalidAlgorithmParameterException.class, () -> KeyPairGenerator.getInstance("RSA", "Cavium").initialize(new ECGenParameterSpec("secp256r1")),
                "RSA KeyPairGenerator with an EC spec");
        C.throwsType(InvalidParameterException.class, () -> KeyPairGenerator.getInstance("EC", "Cavium").initialize(100), "EC initialize(100)");
        C.throwsType(IllegalStateException.class, () -> KeyPairGenerator.getInstance("EC", "Cavium").generateKeyPair(), "EC generateKeyPair without a curve (no default curve)");
        for (String n : new String[] {"AES/CTR/PKCS5Padding", "AESWrap/CBC/NoPadding", "DESedeWrap/ECB/PKCS5Padding"}) {
            C.throwsType(java.security.GeneralSecurityException.class, () -> Cipher.getInstance(n, "Cavium"), "Cipher " + n + " is not offered (the HSM lacks it)");
        }
        /* Offered since the HSM has the mechanisms (CCM, CMAC, raw RSA; ECB padded by the provider). */
        for (String n : new String[] {"AES/CCM/NoPadding", "aes/ccm/nopadding", "RSA/ECB/NoPadding", "AES/ECB/PKCS5Padding", "DESede/ECB/PKCS5Padding",
            "AESWrap/ECB/PKCS5Padding", "AESWrap/ECB/ZeroPadding", "DESedeWrap/ECB/NoPadding", "DESedeWrap"}) {
            C.check(Cipher.getInstance(n, "Cavium").getProvider().getName().equals("Cavium"), "Cipher " + n + " is offered");
        }
        C.check(Mac.getInstance("AESCMAC", "Cavium").getMacLength() == 16, "Mac AESCMAC is offered, 16 bytes");
        C.check(java.security.SecureRandom.getInstance("X9-17-RNG", "Cavium").getProvider().getName().equals("Cavium"), "SecureRandom X9-17-RNG is offered");
        /* The provider's ECB padding (Padding.java): PKCS#7 shape, and every malformed padding refused. */
        C.check(Padding.pad(new byte[0], 16).length == 16 && Padding.pad(new byte[15], 16).length == 16 && Padding.pad(new byte[16], 8).length == 24, "PKCS5 pad lengths");
        C.check(java.util.Arrays.equals(Padding.unpad(Padding.pad(new byte[] {1, 2, 3}, 8), 8), new byte[] {1, 2, 3}), "PKCS5 unpad round trip");
        for (byte[] bad : new byte[][] {{1, 2, 3, 4, 5, 6, 7, 0}, {1, 2, 3, 4, 5, 6, 7, 9}, {1, 2, 3, 4, 5, 6, 2, 3}, {8, 8, 8, 8, 8, 8, 8, 7}}) {
            C.throwsType(javax.crypto.BadPaddingException.class, () -> Padding.unpad(bad.clone(), 8), "malformed padding " + java.util.Arrays.toString(bad));
        }
        C.throwsType(NoSuchAlgorithmException.class, () -> java.security.MessageDigest.getInstance("SHA3-256", "Cavium"), "no SHA-3");
        C.throwsType(NoSuchAlgorithmException.class, () -> Signature.getInstance("Ed25519", "Cavium"), "no EdDSA");
        /* Keys of another provider where a Cavium key is needed. */
        KeyPairGenerator soft = KeyPairGenerator.getInstance("RSA", "SunRsaSign");
        soft.initialize(2048);
        KeyPair kp = soft.generateKeyPair();
        C.throwsType(InvalidKeyException.class, () -> Signature.getInstance("SHA256withRSA", "Cavium").initSign(kp.getPrivate()), "Signature.initSign with a SunRsaSign key");
        C.throwsType(InvalidKeyException.class, () -> Signature.getInstance("SHA256withECDSA", "Cavium").initVerify(kp.getPublic()), "ECDSA initVerify with an RSA public key");
        C.throwsType(InvalidKeyException.class, () -> Cipher.getInstance("RSA/ECB/PKCS1Padding", "Cavium").init(Cipher.DECRYPT_MODE, kp.getPrivate()), "RSA decryption with a SunRsaSign private key");
        C.throwsType(InvalidKeyException.class, () -> Cipher.getInstance("RSA/ECB/PKCS1Padding", "Cavium").init(Cipher.DECRYPT_MODE, kp.getPublic()), "RSA decryption with a public key");
        SecretKeySpec sk = new SecretKeySpec(new byte[32], "AES");
        C.throwsType(InvalidKeyException.class, () -> Cipher.getInstance("AES/GCM/NoPadding", "Cavium").init(Cipher.ENCRYPT_MODE, sk), "Cipher.init with a SunJCE key");
        C.throwsType(InvalidKeyException.class, () -> Mac.getInstance("HmacSHA256", "Cavium").init(new SecretKeySpec(new byte[32], "HmacSHA256")), "Mac.init with a SunJCE key");
        C.throwsType(InvalidKeyException.class, () -> KeyAgreement.getInstance("ECDH", "Cavium").init(kp.getPrivate()), "KeyAgreement.init with a software key");
        /* PSS parameters: the wrong type, an MGF other than MGF1. */
        C.throwsType(InvalidAlgorithmParameterException.class, () -> Signature.getInstance("SHA256withRSA/PSS", "Cavium").setParameter(new ECGenParameterSpec("secp256r1")),
                "PSS setParameter with an EC spec");
        C.throwsType(InvalidAlgorithmParameterException.class, () -> Signature.getInstance("SHA256withRSA", "Cavium").setParameter(
                new java.security.spec.PSSParameterSpec("SHA-256", "MGF1", java.security.spec.MGF1ParameterSpec.SHA256, 32, 1)), "PKCS#1 signatures take no parameters");
        C.throwsType(InvalidAlgorithmParameterException.class, () -> Signature.getInstance("SHA1withRSAandMGF1", "Cavium").setParameter(
                new java.security.spec.PSSParameterSpec("SHA-256", "MGF1", java.security.spec.MGF1ParameterSpec.SHA256, 32, 2)), "PSS trailer field 2");
        /* The guide's names resolve case-insensitively, and the aliases. */
        C.check(Cipher.getInstance("aes/CBC/PKCS5Padding", "Cavium").getAlgorithm().equals("aes/CBC/PKCS5Padding"), "aes/CBC/PKCS5Padding resolves");
        C.check(Cipher.getInstance("RSAAESWrap/ECB/OAEPPADDING", "Cavium") != null && Mac.getInstance("HmacsHA224", "Cavium") != null
                && Signature.getInstance("SHA1withRSAandMGF1", "Cavium") != null && java.security.MessageDigest.getInstance("SHA1", "Cavium") != null,
                "RSAAESWrap/ECB/OAEPPADDING, HmacsHA224, SHA1withRSAandMGF1, SHA1 resolve");
        C.check(Cipher.getInstance("RSA", "Cavium") != null && Cipher.getInstance("DeSede", "Cavium") != null, "the bare names RSA and DeSede");
        C.check(Security.getProvider("Cavium").getService("KeyStore", "LSKS") != null && Security.getProvider("Cavium").getService("KeyStore", "Cavium") != null,
                "key stores LSKS and CAVIUM (any case)");
    }

    static String unhex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return new String(b, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The shared cfg vectors (test-vectors/cfg/application.json as appcfg.txt, gen_vectors.mjs), which the
     * TypeScript and C parsers pass too: the same values, or the same message to the byte. */
    static void cfgVectors(Path dir) throws Exception {
        String path = null;
        int count = 0;
        for (String line : Files.readAllLines(dir.resolve("appcfg.txt"))) {
            String[] f = line.split("\t", -1);
            if (f.length == 2 && f[0].equals("path")) {
                path = unhex(f[1]);
                continue;
            }
            count++;
            String name = "cfg vector " + f[0];
            try {
                AppConfig c = AppConfig.parse(unhex(f[1]), path);
                if (!f[2].equals("ok")) {
                    C.check(false, name + ": accepted, expected " + unhex(f[3]));
                    continue;
                }
                C.check(c.daemonId == Long.parseLong(f[3]), name + ": DAEMON_ID " + c.daemonId);
                C.check(c.tcp == f[4].equals("TCPSOCKET"), name + ": SOCKET_TYPE");
                C.check(c.port == Integer.parseInt(f[5]), name + ": PORT " + c.port);
                C.check(c.socketPath.equals(unhex(f[6])), name + ": SOCKET_PATH " + c.socketPath);
                C.check(f[7].equals("-") ? c.userKekHandle == null : Long.valueOf(f[7]).equals(c.userKekHandle), name + ": USER_KEK_HANDLE");
                C.check(c.applicationMode == f[8].equals("APPLICATION"), name + ": SESSION_MODE");
            } catch (AppConfig.ConfigException e) {
                C.check(f[2].equals("error") && e.getMessage().equals(unhex(f[3])),
                        name + ": got \"" + e.getMessage() + "\"" + (f[2].equals("error") ? ", want \"" + unhex(f[3]) + "\"" : ""));
            }
        }
        C.check(count >= 20, count + " cfg vectors read");
    }

    static void config() throws Exception {
        Path d = Files.createTempDirectory("jce-cfg");
        try {
            Path f = d.resolve("azcloudhsm_application.cfg");
            Files.writeString(f, "\ufeff# comment\r\nDAEMON_ID=1\r\nSOCKET_TYPE=tcpsocket\r\nPORT=2345\r\nUNKNOWN_KEY=1\r\nUSER_KEK_HANDLE=262150\r\n");
            AppConfig c = AppConfig.load(f);
            C.check(c.tcp && c.port == 2345 && c.userKekHandle == 262150L && c.endpoint().equals("127.0.0.1:2345"), "cfg: BOM, CRLF, comments, any-case TCPSOCKET, unknown keys");
            C.check(c.socketPath.equals(d.getParent().resolve("run/azcloudhsm_client.sock").normalize().toString()), "cfg: the default socket path is <folder>/../run/azcloudhsm_client.sock");
            Files.writeString(f, "SOCKET_PATH=sock/x.sock\nSESSION_MODE=application\n");
            c = AppConfig.load(f);
            C.check(c.socketPath.equals(d.resolve("sock/x.sock").toString()) && c.applicationMode, "cfg: a relative SOCKET_PATH is relative to the cfg's folder");
            String[][] bad = {
                {"PORT=0\n", ":1: PORT must be a TCP port from 1 to 65535 (got \"0\")"},
                {"SOCKET_TYPE=PIPE\n", ":1: SOCKET_TYPE must be UNIXSOCKET or TCPSOCKET (got \"PIPE\")"},
                {"PORT=1\nPORT=2\n", ":2: PORT is already set on line 1"},
                {"DAEMON_ID=\n", ":1: DAEMON_ID has no value"},
                {"just words\n", ":1: expected KEY=VALUE, got \"just words\""},
                {"USER_KEK_HANDLE=abc\n", ":1: USER_KEK_HANDLE must be a key handle, a whole number such as 262150 (got \"abc\")"},
                {"SOCKET_PATH=/" + "x".repeat(120) + "\n", "is longer than 107 bytes, the limit for a Unix socket path"},
            };
            for (String[] b : bad) {
                Files.writeString(f, b[0]);
                try {
                    AppConfig.load(f);
                    C.check(false, "cfg " + b[0].trim() + " must be refused");
                } catch (AppConfig.ConfigException e) {
                    C.check(e.getMessage().startsWith(f.toString()) && e.getMessage().contains(b[1]), "cfg error names file, line and problem: " + e.getMessage());
                }
            }
            Path empty = Files.createTempDirectory("jce-nocfg");
            try {
                AppConfig.findIn(empty.toString(), empty.resolve("jar").toString(), null);
                C.check(false, "a missing cfg must be refused");
            } catch (AppConfig.ConfigException e) {
                C.check(e.notFound && e.getMessage().startsWith("azcloudhsm_application.cfg is not present (Cannot find file). Tried: " + empty.resolve("azcloudhsm_application.cfg"))
                        && e.getMessage().contains("$AZCLOUDHSM_APPLICATION_CFG not set"), "the missing-cfg message lists every place tried: " + e.getMessage());
            }
            Files.writeString(f, "PORT=7\n");
            C.check(AppConfig.findIn(empty.toString(), null, f.toString()).port == 7, "cfg found through AZCLOUDHSM_APPLICATION_CFG");
            C.check(AppConfig.findIn(d.toString(), null, null).port == 7, "cfg found in the working directory");
            Files.delete(empty);
        } finally {
            for (Path p : new Path[] {d.resolve("azcloudhsm_application.cfg")}) Files.deleteIfExists(p);
            Files.deleteIfExists(d);
        }
    }

    /** The name given in hello carries package.json's version (the test passes it as -Dochsm.version). */
    static void clientName(String expected) {
        C.check(expected != null && !expected.isEmpty(), "the test passes the package.json version (-Dochsm.version)");
        C.check(Connection.CLIENT.equals("OpenCloudHSM-jce/" + expected), "hello names the client OpenCloudHSM-jce/<package.json version>, got " + Connection.CLIENT);
    }

    static void encoders() {
        Map<Long, byte[]> m = new LinkedHashMap<>();
        m.put(P11.CKA_CLASS, new Tpl().ulong(0, P11.CKO_SECRET_KEY).list.get(0).value);
        m.put(P11.CKA_KEY_TYPE, new Tpl().ulong(0, P11.CKK_AES).list.get(0).value);
        m.put(P11.CKA_LABEL, "label".getBytes());
        m.put(P11.CKA_VALUE_LEN, new Tpl().ulong(0, 32).list.get(0).value);
        m.put(P11.CKA_TOKEN, new byte[] {1});
        CaviumKeyAttributes a = new CaviumKeyAttributes(new CaviumKeyAttributes(m).getEncoded());
        C.check(a.getKeyClass() == CaviumKeyAttributes.CLASS_SECRET_KEY && a.getKeyType() == CaviumKeyAttributes.KEY_TYPE_AES && a.getLabel().equals("label")
                && a.getSize() == 256 && a.isPersistent() && !a.isExtractable(), "CaviumKeyAttributes round-trips its byte form");
        C.check(Wire.hex(new Tpl().ulong(0, 0x1234).list.get(0).value).equals("3412000000000000"), "a CK_ULONG is 8 bytes little-endian on the wire");
        C.throwsType(IllegalArgumentException.class, () -> new CaviumKeyAttributes(new byte[] {0, 0, 0, 1, 0}), "a truncated attribute list is refused");
        byte[] raw = new byte[64];
        raw[0] = (byte) 0x80; /* r with the high bit: DER needs a leading zero */
        raw[63] = 5;
        byte[] der = Sigs.derOfRaw(raw);
        C.check(der[0] == 0x30 && java.util.Arrays.equals(Sigs.rawOfDer(der, 32), raw), "ECDSA r||s ↔ DER round trip");
        C.check(Sigs.rawOfDer(new byte[] {0x30, 3, 2, 1}, 32) == null && Sigs.rawOfDer(new byte[] {0x31, 0}, 32) == null, "malformed DER signatures are refused");
    }
}
