package org.opencloudhsm.jce;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.security.InvalidAlgorithmParameterException;
import java.security.InvalidKeyException;
import java.security.InvalidParameterException;
import java.security.MessageDigestSpi;
import java.security.PrivateKey;
import java.security.ProviderException;
import java.security.PublicKey;
import java.security.SecureRandomSpi;
import java.security.SignatureException;
import java.security.SignatureSpi;
import java.security.spec.AlgorithmParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.Locale;

import javax.crypto.MacSpi;

import com.cavium.cfm2.CFM2Exception;

/** Signature, Mac, MessageDigest and SecureRandom: one HSM request per signature, MAC, digest or random block. */
public final class Sigs {
    private Sigs() {}

    /** CKM_SHA* of a digest name (SHA-256, SHA256, sha-256 ...), or -1. */
    public static long hashMech(String name) {
        String n = name.toUpperCase(Locale.ROOT).replace("-", "");
        switch (n) {
            case "SHA1": case "SHA": return P11.CKM_SHA_1;
            case "SHA224": return P11.CKM_SHA224;
            case "SHA256": return P11.CKM_SHA256;
            case "SHA384": return P11.CKM_SHA384;
            case "SHA512": return P11.CKM_SHA512;
            default: return -1;
        }
    }

    static long mgfOf(long hash) {
        if (hash == P11.CKM_SHA_1) return P11.CKG_MGF1_SHA1;
        if (hash == P11.CKM_SHA224) return P11.CKG_MGF1_SHA224;
        if (hash == P11.CKM_SHA256) return P11.CKG_MGF1_SHA256;
        if (hash == P11.CKM_SHA384) return P11.CKG_MGF1_SHA384;
        if (hash == P11.CKM_SHA512) return P11.CKG_MGF1_SHA512;
        return -1;
    }

    static int hashLen(long hash) {
        if (hash == P11.CKM_SHA_1) return 20;
        if (hash == P11.CKM_SHA224) return 28;
        if (hash == P11.CKM_SHA256) return 32;
        if (hash == P11.CKM_SHA384) return 48;
        return 64;
    }

    /* ───────────── Signature ───────────── */

    /** kind: RSA (PKCS#1 v1.5), PSS, ECDSA; mech the CKM_*; hash the CKM_SHA* of a PSS name. */
    public static final class Sig extends SignatureSpi {
        private final String kind;
        private final long mech;
        private final long hash;
        private KeyBase key;
        private boolean signing;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private PSSParameterSpec pss;

        public Sig(String kind, long mech, long hash) {
            this.kind = kind;
            this.mech = mech;
            this.hash = hash;
            if (kind.equals("PSS")) pss = new PSSParameterSpec(hashName(hash), "MGF1", mgfSpec(hash), hashLen(hash), 1);
        }

        static String hashName(long h) {
            return h == P11.CKM_SHA_1 ? "SHA-1" : h == P11.CKM_SHA224 ? "SHA-224" : h == P11.CKM_SHA256 ? "SHA-256" : h == P11.CKM_SHA384 ? "SHA-384" : "SHA-512";
        }

        static MGF1ParameterSpec mgfSpec(long h) {
            return new MGF1ParameterSpec(hashName(h));
        }

        private void checkKey(java.security.Key k, boolean priv) throws InvalidKeyException {
            KeyBase b = priv ? KeyBase.of(k, "Signature") : KeyBase.ofPublic(k, "Signature");
            String want = kind.equals("ECDSA") ? "EC" : "RSA";
            if (!b.getAlgorithm().equals(want)) throw new InvalidKeyException("Signature: a " + want + " key is needed, got a " + b.getAlgorithm() + " key");
            if (priv != (b instanceof PrivateKey)) throw new InvalidKeyException("Signature: " + (priv ? "initSign takes a private key" : "initVerify takes a public key"));
            key = b;
        }

        @Override
        protected void engineInitVerify(PublicKey publicKey) throws InvalidKeyException {
            checkKey(publicKey, false);
            signing = false;
            buf.reset();
        }

        @Override
        protected void engineInitSign(PrivateKey privateKey) throws InvalidKeyException {
            checkKey(privateKey, true);
            signing = true;
            buf.reset();
        }

        @Override
        protected void engineUpdate(byte b) {
            buf.write(b);
        }

        @Override
        protected void engineUpdate(byte[] b, int off, int len) {
            buf.write(b, off, len);
        }

        private Msg mechanism() {
            Msg m = Tpl.mech(mech);
            if (pss != null) {
                long h = hashMech(pss.getDigestAlgorithm());
                AlgorithmParameterSpec mp = pss.getMGFParameters();
                long mg = mp instanceof MGF1ParameterSpec ? mgfOf(hashMech(((MGF1ParameterSpec) mp).getDigestAlgorithm())) : -1;
                m.put("hashAlg", h).put("mgf", mg).put("saltLen", (long) pss.getSaltLength());
            }
            return m;
        }

        private byte[] take() {
            byte[] d = buf.toByteArray();
            buf.reset();
            return d;
        }

        @Override
        protected byte[] engineSign() throws SignatureException {
            if (key == null || !signing) throw new SignatureException("Signature not initialised for signing");
            try {
                byte[] s = Hsm.get().call("sign", Msg.of("mechanism", mechanism(), "handle", key.getHandle(), "data", take()), key.epoch()).bytes("signature");
                return kind.equals("ECDSA") ? derOfRaw(s) : s;
            } catch (CFM2Exception e) {
                throw sigError(e);
            }
        }

        @Override
        protected boolean engineVerify(byte[] sigBytes) throws SignatureException {
            if (key == null || signing) throw new SignatureException("Signature not initialised for verification");
            byte[] data = take();
            byte[] s = sigBytes;
            if (kind.equals("ECDSA")) {
                int n = (key.getSize() + 7) / 8;
                s = rawOfDer(sigBytes, n);
                if (s == null) throw new SignatureException("the ECDSA signature is not a DER SEQUENCE of two INTEGERs");
            }
            try {
                Hsm.get().call("verify", Msg.of("mechanism", mechanism(), "handle", key.getHandle(), "data", data, "signature", s), key.epoch());
                return true;
            } catch (CFM2Exception e) {
                if ("ERR_SIGNATURE_INVALID".equals(e.getCode()) || "ERR_SIGNATURE_LEN_RANGE".equals(e.getCode())) return false;
                throw sigError(e);
            }
        }

        private SignatureException sigError(CFM2Exception e) {
            return new SignatureException("HSM Error: " + e.getMessage(), e);
        }

        @Override
        protected void engineSetParameter(AlgorithmParameterSpec params) throws InvalidAlgorithmParameterException {
            if (!kind.equals("PSS")) throw new InvalidAlgorithmParameterException("this signature takes no parameters");
            if (!(params instanceof PSSParameterSpec)) throw new InvalidAlgorithmParameterException("expected a PSSParameterSpec, got " + KeyGens.Pair.name(params));
            PSSParameterSpec p = (PSSParameterSpec) params;
            if (hashMech(p.getDigestAlgorithm()) < 0) throw new InvalidAlgorithmParameterException("unknown digest " + p.getDigestAlgorithm());
            if (!"MGF1".equalsIgnoreCase(p.getMGFAlgorithm()) || !(p.getMGFParameters() instanceof MGF1ParameterSpec)
                    || hashMech(((MGF1ParameterSpec) p.getMGFParameters()).getDigestAlgorithm()) < 0) {
                throw new InvalidAlgorithmParameterException("only MGF1 with a SHA digest can be expressed to the HSM");
            }
            if (p.getTrailerField() != 1) throw new InvalidAlgorithmParameterException("the trailer field must be 1");
            pss = p;
        }

        @Override
        @Deprecated
        protected void engineSetParameter(String param, Object value) {
            throw new InvalidParameterException("no such parameter: " + param);
        }

        @Override
        @Deprecated
        protected Object engineGetParameter(String param) {
            throw new InvalidParameterException("no such parameter: " + param);
        }
    }

    /** r || s (n bytes each) → DER SEQUENCE { INTEGER r, INTEGER s }. */
    static byte[] derOfRaw(byte[] raw) {
        int n = raw.length / 2;
        byte[] r = new BigInteger(1, java.util.Arrays.copyOfRange(raw, 0, n)).toByteArray();
        byte[] s = new BigInteger(1, java.util.Arrays.copyOfRange(raw, n, 2 * n)).toByteArray();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.write(2);
        derLen(body, r.length);
        body.write(r, 0, r.length);
        body.write(2);
        derLen(body, s.length);
        body.write(s, 0, s.length);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x30);
        derLen(out, body.size());
        byte[] b = body.toByteArray();
        out.write(b, 0, b.length);
        return out.toByteArray();
    }

    static void derLen(ByteArrayOutputStream o, int n) {
        if (n < 128) o.write(n);
        else if (n < 256) {
            o.write(0x81);
            o.write(n);
        } else {
            o.write(0x82);
            o.write(n >> 8);
            o.write(n);
        }
    }

    /** DER ECDSA signature → r || s of n bytes each; null when malformed. */
    static byte[] rawOfDer(byte[] der, int n) {
        try {
            int[] p = {0};
            if ((der[p[0]++] & 0xff) != 0x30) return null;
            int len = readLen(der, p);
            if (p[0] + len != der.length) return null;
            byte[] out = new byte[2 * n];
            for (int i = 0; i < 2; i++) {
                if ((der[p[0]++] & 0xff) != 0x02) return null;
                int l = readLen(der, p);
                if (l < 1 || p[0] + l > der.length) return null;
                BigInteger v = new BigInteger(java.util.Arrays.copyOfRange(der, p[0], p[0] + l));
                p[0] += l;
                if (v.signum() < 0) return null;
                byte[] u = Tpl.unsigned(v);
                if (u.length > n) return null;
                System.arraycopy(u, 0, out, i * n + n - u.length, u.length);
            }
            return p[0] == der.length ? out : null;
        } catch (ArrayIndexOutOfBoundsException e) {
            return null;
        }
    }

    static int readLen(byte[] b, int[] p) {
        int l = b[p[0]++] & 0xff;
        if (l < 128) return l;
        int k = l & 0x7f;
        if (k > 2) throw new ArrayIndexOutOfBoundsException();
        int v = 0;
        for (int i = 0; i < k; i++) v = (v << 8) | (b[p[0]++] & 0xff);
        return v;
    }

    /* ───────────── Mac ───────────── */

    public static final class Hmac extends MacSpi {
        private final long mech;
        private final int len;
        private KeyBase key;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

        public Hmac(long mech, int len) {
            this.mech = mech;
            this.len = len;
        }

        @Override
        protected int engineGetMacLength() {
            return len;
        }

        @Override
        protected void engineInit(java.security.Key k, AlgorithmParameterSpec params) throws InvalidKeyException, InvalidAlgorithmParameterException {
            if (params != null) throw new InvalidAlgorithmParameterException("Mac takes no parameters");
            KeyBase b = KeyBase.of(k, "Mac");
            if (!(b instanceof javax.crypto.SecretKey)) throw new InvalidKeyException("Mac: a secret key is needed, got a " + b.getAlgorithm() + " " + b.getFormat() + " key");
            key = b;
            buf.reset();
        }

        @Override
        protected void engineUpdate(byte input) {
            buf.write(input);
        }

        @Override
        protected void engineUpdate(byte[] input, int offset, int l) {
            buf.write(input, offset, l);
        }

        @Override
        protected byte[] engineDoFinal() {
            if (key == null) throw new IllegalStateException("Mac not initialised");
            byte[] d = buf.toByteArray();
            buf.reset();
            try {
                return Hsm.get().call("sign", Msg.of("mechanism", Tpl.mech(mech), "handle", key.getHandle(), "data", d), key.epoch()).bytes("signature");
            } catch (CFM2Exception e) {
                throw new ProviderException("HSM Error: " + e.getMessage(), e);
            }
        }

        @Override
        protected void engineReset() {
            buf.reset();
        }
    }

    /* ───────────── MessageDigest ───────────── */

    public static final class Digest extends MessageDigestSpi {
        private final long mech;
        private final int len;
        private ByteArrayOutputStream buf = new ByteArrayOutputStream();

        public Digest(long mech) {
            this.mech = mech;
            this.len = hashLen(mech);
        }

        @Override
        protected int engineGetDigestLength() {
            return len;
        }

        @Override
        protected void engineUpdate(byte input) {
            buf.write(input);
        }

        @Override
        protected void engineUpdate(byte[] input, int offset, int l) {
            buf.write(input, offset, l);
        }

        @Override
        protected byte[] engineDigest() {
            byte[] d = buf.toByteArray();
            buf.reset();
            try {
                return Hsm.get().call("digest", Msg.of("mechanism", Tpl.mech(mech), "data", d)).bytes("digest");
            } catch (CFM2Exception e) {
                throw new ProviderException("HSM Error: " + e.getMessage(), e);
            }
        }

        @Override
        protected void engineReset() {
            buf.reset();
        }

        @Override
        public Object clone() throws CloneNotSupportedException {
            Digest c = (Digest) super.clone();
            c.buf = new ByteArrayOutputStream();
            byte[] b = buf.toByteArray();
            c.buf.write(b, 0, b.length);
            return c;
        }
    }

    /* ───────────── SecureRandom ───────────── */

    /** Random bytes from the HSM, in requests of at most `chunk` bytes. setSeed is refused: the HSM's generator takes no seed. */
    public static final class Rng extends SecureRandomSpi {
        private static final long serialVersionUID = 1L;
        private final int chunk;

        public Rng(int chunk) {
            this.chunk = chunk;
        }

        @Override
        protected void engineSetSeed(byte[] seed) {
            throw new UnsupportedOperationException("setSeed is not supported: the HSM's random number generator cannot be seeded");
        }

        @Override
        protected void engineNextBytes(byte[] bytes) {
            fill(bytes, chunk);
        }

        @Override
        protected byte[] engineGenerateSeed(int numBytes) {
            byte[] b = new byte[numBytes];
            fill(b, chunk);
            return b;
        }

        static void fill(byte[] out, int chunk) {
            try {
                for (int off = 0; off < out.length;) {
                    int n = Math.min(chunk, out.length - off);
                    byte[] r = Hsm.get().call("generateRandom", Msg.of("length", (long) n)).bytes("data");
                    System.arraycopy(r, 0, out, off, n);
                    off += n;
                }
            } catch (CFM2Exception e) {
                throw new ProviderException("HSM Error: " + e.getMessage(), e);
            }
        }
    }

    /** n random bytes from the HSM (IVs the provider makes for the caller). */
    public static byte[] random(int n) {
        byte[] b = new byte[n];
        Rng.fill(b, 8000);
        return b;
    }
}
