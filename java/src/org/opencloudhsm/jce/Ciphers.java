package org.opencloudhsm.jce;

import java.io.ByteArrayOutputStream;
import java.security.AlgorithmParameters;
import java.security.InvalidAlgorithmParameterException;
import java.security.InvalidKeyException;
import java.security.Key;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.ProviderException;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.spec.AlgorithmParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.util.Arrays;
import java.util.Locale;

import javax.crypto.AEADBadTagException;
import javax.crypto.BadPaddingException;
import javax.crypto.Cipher;
import javax.crypto.CipherSpi;
import javax.crypto.IllegalBlockSizeException;
import javax.crypto.NoSuchPaddingException;
import javax.crypto.SecretKey;
import javax.crypto.ShortBufferException;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.key.parameter.CaviumAEADParameterSpec;

/**
 * Cipher: each transformation the provider offers is a row of {@link #ROWS}:
 * the PKCS#11 mechanism, the key type, the IV it takes, and whether it
 * encrypts/decrypts or wraps/unwraps (the guide's matrix, restricted to what
 * the HSM implements). Data is buffered and sent in one request at doFinal.
 */
public final class Ciphers {
    private Ciphers() {}

    /** One transformation. */
    public static final class Row {
        public final String name; /* the canonical transformation */
        final String keyAlg; /* AES, DESede, RSA */
        final long mech;
        final int iv; /* IV bytes for CBC/CTR, 12 for GCM (generated), 0 none */
        final boolean gcm, crypt, wrap, rsaAes;
        final long oaepHash; /* -1: not OAEP */
        final int block;
        final boolean ccm; /* AES-CCM: nonce, AAD and tag length (CaviumAEADParameterSpec) */
        final boolean pkcs5; /* ECB with PKCS5Padding: the HSM has ECB only, the padding is added and checked here */

        Row(String name, String keyAlg, long mech, int iv, boolean gcm, boolean crypt, boolean wrap, boolean rsaAes, long oaepHash, int block) {
            this.name = name;
            this.keyAlg = keyAlg;
            this.mech = mech;
            this.iv = iv;
            this.gcm = gcm;
            this.crypt = crypt;
            this.wrap = wrap;
            this.rsaAes = rsaAes;
            this.oaepHash = oaepHash;
            this.block = block;
            this.ccm = mech == P11.CKM_AES_CCM;
            this.pkcs5 = crypt && name.endsWith("/ECB/PKCS5Padding");
        }

        boolean aead() {
            return gcm || ccm;
        }
    }

    /** CCM: the nonce length the provider draws from the HSM when the caller gives none (the guide's default and maximum). */
    static final int CCM_NONCE = 13;

    static final long SHA1 = P11.CKM_SHA_1, SHA224 = P11.CKM_SHA224, SHA256 = P11.CKM_SHA256, SHA384 = P11.CKM_SHA384, SHA512 = P11.CKM_SHA512;

    /** The transformations, from the guide's tables; the ones the HSM lacks are listed in docs/jce.md. */
    public static final Row[] ROWS = {
        new Row("AES/ECB/NoPadding", "AES", P11.CKM_AES_ECB, 0, false, true, false, false, -1, 16),
        new Row("AES/ECB/PKCS5Padding", "AES", P11.CKM_AES_ECB, 0, false, true, false, false, -1, 16),
        new Row("AES/CBC/NoPadding", "AES", P11.CKM_AES_CBC, 16, false, true, false, false, -1, 16),
        new Row("AES/CBC/PKCS5Padding", "AES", P11.CKM_AES_CBC_PAD, 16, false, true, false, false, -1, 16),
        new Row("AES/CTR/NoPadding", "AES", P11.CKM_AES_CTR, 16, false, true, false, false, -1, 16),
        new Row("AES/GCM/NoPadding", "AES", P11.CKM_AES_GCM, 12, true, true, true, false, -1, 16),
        new Row("AES/CCM/NoPadding", "AES", P11.CKM_AES_CCM, 0, false, true, false, false, -1, 16),
        new Row("AESWrap/ECB/NoPadding", "AES", P11.CKM_AES_KEY_WRAP, 0, false, false, true, false, -1, 16),
        new Row("AESWrap/ECB/PKCS5Padding", "AES", P11.CKM_AES_KEY_WRAP_PKCS5_PAD, 0, false, false, true, false, -1, 16),
        new Row("AESWrap/ECB/ZeroPadding", "AES", P11.CKM_AES_KEY_WRAP_ZERO_PAD, 0, false, false, true, false, -1, 16),
        new Row("DESedeWrap/ECB/NoPadding", "DESede", P11.CKM_DES3_NIST_WRAP, 0, false, false, true, false, -1, 8),
        new Row("AESWrapPad/ECB/NoPadding", "AES", P11.CKM_AES_KEY_WRAP_PAD, 0, false, false, true, false, -1, 16),
        new Row("DESede/ECB/NoPadding", "DESede", P11.CKM_DES3_ECB, 0, false, true, false, false, -1, 8),
        new Row("DESede/ECB/PKCS5Padding", "DESede", P11.CKM_DES3_ECB, 0, false, true, false, false, -1, 8),
        new Row("DESede/CBC/NoPadding", "DESede", P11.CKM_DES3_CBC, 8, false, true, false, false, -1, 8),
        new Row("DESede/CBC/PKCS5Padding", "DESede", P11.CKM_DES3_CBC_PAD, 8, false, true, false, false, -1, 8),
        new Row("RSA/ECB/NoPadding", "RSA", P11.CKM_RSA_X_509, 0, false, true, false, false, -1, 0),
        new Row("RSA/ECB/PKCS1Padding", "RSA", P11.CKM_RSA_PKCS, 0, false, true, true, false, -1, 0),
        new Row("RSA/ECB/OAEPWithSHA-1ANDMGF1Padding", "RSA", P11.CKM_RSA_PKCS_OAEP, 0, false, true, true, false, SHA1, 0),
        new Row("RSA/ECB/OAEPWithSHA-224ANDMGF1Padding", "RSA", P11.CKM_RSA_PKCS_OAEP, 0, false, true, true, false, SHA224, 0),
        new Row("RSA/ECB/OAEPWithSHA-256ANDMGF1Padding", "RSA", P11.CKM_RSA_PKCS_OAEP, 0, false, true, true, false, SHA256, 0),
        new Row("RSA/ECB/OAEPWithSHA-384ANDMGF1Padding", "RSA", P11.CKM_RSA_PKCS_OAEP, 0, false, true, true, false, SHA384, 0),
        new Row("RSA/ECB/OAEPWithSHA-512ANDMGF1Padding", "RSA", P11.CKM_RSA_PKCS_OAEP, 0, false, true, true, false, SHA512, 0),
        new Row("RSAAESWrap/ECB/OAEPWithSHA1ANDMGF1Padding", "RSA", P11.CKM_RSA_AES_KEY_WRAP, 0, false, false, true, true, SHA1, 0),
        new Row("RSAAESWrap/ECB/OAEPWithSHA-224ANDMGF1Padding", "RSA", P11.CKM_RSA_AES_KEY_WRAP, 0, false, false, true, true, SHA224, 0),
        new Row("RSAAESWrap/ECB/OAEPWithSHA-256ANDMGF1Padding", "RSA", P11.CKM_RSA_AES_KEY_WRAP, 0, false, false, true, true, SHA256, 0),
        new Row("RSAAESWrap/ECB/OAEPWithSHA-384ANDMGF1Padding", "RSA", P11.CKM_RSA_AES_KEY_WRAP, 0, false, false, true, true, SHA384, 0),
        new Row("RSAAESWrap/ECB/OAEPWithSHA-512ANDMGF1Padding", "RSA", P11.CKM_RSA_AES_KEY_WRAP, 0, false, false, true, true, SHA512, 0),
    };

    /** Other names of rows (registered as aliases): the guide's spellings and defaults. */
    public static final String[][] ALIASES = {
        {"RSA/ECB/OAEPWithSHA-1ANDMGF1Padding", "RSA/ECB/OAEPPadding", "RSA/ECB/OAEPWithSHA1ANDMGF1Padding"},
        {"RSAAESWrap/ECB/OAEPWithSHA1ANDMGF1Padding", "RSAAESWrap/ECB/OAEPPadding", "RSAAESWrap/ECB/OAEPWithSHA-1ANDMGF1Padding", "RSAAESWrap"},
        {"AESWrap/ECB/NoPadding", "AESWrap"},
        {"DESedeWrap/ECB/NoPadding", "DESedeWrap"},
        {"AESWrapPad/ECB/NoPadding", "AESWrapPad", "AES/KWP/NoPadding"},
    };

    public static Row row(String name) {
        for (Row r : ROWS) if (r.name.equalsIgnoreCase(name)) return r;
        for (String[] a : ALIASES) for (int i = 1; i < a.length; i++) if (a[i].equalsIgnoreCase(name)) return row(a[0]);
        return null;
    }

    /* ───────────── the SPI ───────────── */

    public static final class Spi extends CipherSpi {
        private final String bare; /* AES, DESede or RSA for the bare names; null for a fixed row */
        private String mode, padding;
        private Row row;
        private int opmode;
        private KeyBase key;
        private byte[] iv;
        private boolean ivUsed;
        private boolean ivDrawn; /* the IV/nonce came from the HSM's generator, not from the caller */
        private int tagBits = 128;
        private OAEPParameterSpec oaep;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private final ByteArrayOutputStream aad = new ByteArrayOutputStream();

        /** A fixed transformation. */
        public Spi(Row row) {
            this.row = row;
            this.bare = null;
        }

        /** A bare algorithm name: mode and padding may be set; the defaults are the guide's (NoPadding; PKCS1Padding for RSA). */
        public Spi(String bare) {
            this.bare = bare;
            this.row = row(bare.equals("RSA") ? "RSA/ECB/PKCS1Padding" : bare + "/ECB/NoPadding");
        }

        private void pick() throws NoSuchAlgorithmException, NoSuchPaddingException {
            String m = mode != null ? mode : "ECB";
            String p = padding != null ? padding : bare.equals("RSA") ? "PKCS1Padding" : "NoPadding";
            Row r = row(bare + "/" + m + "/" + p);
            if (r == null) throw new NoSuchPaddingException(bare + "/" + m + "/" + p + " is not offered by the Cavium provider (docs/jce.md lists what the HSM implements)");
            row = r;
        }

        @Override
        protected void engineSetMode(String m) throws NoSuchAlgorithmException {
            if (bare == null) throw new NoSuchAlgorithmException("the mode of " + row.name + " is fixed");
            mode = m.toUpperCase(Locale.ROOT);
            if (row(bare + "/" + mode + "/" + (padding != null ? padding : bare.equals("RSA") ? "PKCS1Padding" : "NoPadding")) == null) {
                boolean any = false;
                for (Row r : ROWS) any |= r.name.toUpperCase(Locale.ROOT).startsWith(bare.toUpperCase(Locale.ROOT) + "/" + mode + "/");
                if (!any) throw new NoSuchAlgorithmException(bare + " mode " + m + " is not offered by the Cavium provider");
            }
        }

        @Override
        protected void engineSetPadding(String p) throws NoSuchPaddingException {
            if (bare == null) throw new NoSuchPaddingException("the padding of " + row.name + " is fixed");
            padding = p;
            try {
                pick();
            } catch (NoSuchAlgorithmException e) {
                throw new NoSuchPaddingException(e.getMessage());
            }
        }

        @Override
        protected int engineGetBlockSize() {
            return row.block;
        }

        @Override
        protected int engineGetOutputSize(int inputLen) {
            int n = buf.size() + inputLen;
            if (row.keyAlg.equals("RSA")) return key == null ? 1024 : Math.max((key.getSize() + 7) / 8, n + 1024);
            return n + row.block + (row.aead() ? tagBits / 8 : 0) + 8;
        }

        @Override
        protected byte[] engineGetIV() {
            return iv == null ? null : iv.clone();
        }

        @Override
        protected AlgorithmParameters engineGetParameters() {
            if (iv == null || row.ccm) return null;
            try {
                AlgorithmParameters p = AlgorithmParameters.getInstance(row.gcm ? "GCM" : row.keyAlg, "SunJCE");
                p.init(row.gcm ? new GCMParameterSpec(tagBits, iv) : new IvParameterSpec(iv));
                return p;
            } catch (Exception e) {
                return null;
            }
        }

        @Override
        protected void engineInit(int op, Key k, SecureRandom random) throws InvalidKeyException {
            try {
                engineInit(op, k, (AlgorithmParameterSpec) null, random);
            } catch (InvalidAlgorithmParameterException e) {
                throw new InvalidKeyException(e.getMessage(), e);
            }
        }

        @Override
        protected void engineInit(int op, Key k, AlgorithmParameters params, SecureRandom random) throws InvalidKeyException, InvalidAlgorithmParameterException {
            AlgorithmParameterSpec spec = null;
            if (params != null && row.ccm) throw new InvalidAlgorithmParameterException("AES/CCM: init with AlgorithmParameters is not supported (the guide); pass a CaviumAEADParameterSpec or an IvParameterSpec");
            if (params != null) {
                try {
                    if (row.gcm) spec = params.getParameterSpec(GCMParameterSpec.class);
                    else if (row.oaepHash >= 0 && !row.rsaAes) spec = params.getParameterSpec(OAEPParameterSpec.class);
                    else spec = params.getParameterSpec(IvParameterSpec.class);
                } catch (Exception e) {
                    throw new InvalidAlgorithmParameterException("unusable parameters: " + e.getMessage());
                }
            }
            engineInit(op, k, spec, random);
        }

        @Override
        protected void engineInit(int op, Key k, AlgorithmParameterSpec params, SecureRandom random) throws InvalidKeyException, InvalidAlgorithmParameterException {
            boolean enc = op == Cipher.ENCRYPT_MODE || op == Cipher.WRAP_MODE;
            boolean wrapOp = op == Cipher.WRAP_MODE || op == Cipher.UNWRAP_MODE;
            if (wrapOp && !row.wrap) throw new InvalidKeyException(row.name + " does not wrap or unwrap keys (ENCRYPT_MODE and DECRYPT_MODE only)");
            if (!wrapOp && !row.crypt) throw new InvalidKeyException(row.name + " is for WRAP_MODE and UNWRAP_MODE only");
            KeyBase b = row.keyAlg.equals("RSA") && enc ? KeyBase.ofPublic(k, "Cipher " + row.name) : KeyBase.of(k, "Cipher " + row.name);
            if (!b.getAlgorithm().equals(row.keyAlg)) throw new InvalidKeyException(row.name + " needs a " + row.keyAlg + " key, got a " + b.getAlgorithm() + " key");
            if (row.keyAlg.equals("RSA") && enc != (b instanceof PublicKey)) {
                throw new InvalidKeyException(row.name + ": " + (enc ? "encrypt and wrap take the public key" : "decrypt and unwrap take the private key"));
            }
            if (!row.keyAlg.equals("RSA") && !(b instanceof SecretKey)) throw new InvalidKeyException(row.name + " needs a secret key");
            byte[] newIv = null;
            int tag = 128;
            OAEPParameterSpec o = null;
            byte[] specAad = null;
            if (params != null) {
                if (row.ccm) {
                    /* The guide: a CaviumAEADParameterSpec, or an IvParameterSpec taken as the nonce (no AAD, the default tag). */
                    if (params instanceof CaviumAEADParameterSpec) {
                        CaviumAEADParameterSpec a = (CaviumAEADParameterSpec) params;
                        newIv = a.getIV();
                        specAad = a.getAAD();
                        tag = a.getTagLength();
                    } else if (params instanceof IvParameterSpec) {
                        newIv = ((IvParameterSpec) params).getIV();
                    } else {
                        throw new InvalidAlgorithmParameterException("AES/CCM takes a CaviumAEADParameterSpec or an IvParameterSpec, got " + KeyGens.Pair.name(params));
                    }
                } else if (row.gcm) {
                    if (!(params instanceof GCMParameterSpec)) throw new InvalidAlgorithmParameterException("AES/GCM takes a GCMParameterSpec, got " + KeyGens.Pair.name(params));
                    GCMParameterSpec g = (GCMParameterSpec) params;
                    tag = g.getTLen();
                    newIv = g.getIV();
                } else if (row.oaepHash >= 0 && !row.rsaAes && params instanceof OAEPParameterSpec) {
                    o = (OAEPParameterSpec) params;
                    if (Sigs.hashMech(o.getDigestAlgorithm()) < 0 || !(o.getMGFParameters() instanceof MGF1ParameterSpec)
                            || Sigs.hashMech(((MGF1ParameterSpec) o.getMGFParameters()).getDigestAlgorithm()) < 0 || !(o.getPSource() instanceof PSource.PSpecified)) {
                        throw new InvalidAlgorithmParameterException("OAEP: only SHA digests with MGF1 and a specified label can be expressed to the HSM");
                    }
                } else if (row.iv > 0 && !row.gcm) {
                    if (!(params instanceof IvParameterSpec)) throw new InvalidAlgorithmParameterException(row.name + " takes an IvParameterSpec, got " + KeyGens.Pair.name(params));
                    newIv = ((IvParameterSpec) params).getIV();
                } else {
                    throw new InvalidAlgorithmParameterException(row.name + " takes no parameters, got " + KeyGens.Pair.name(params));
                }
            }
            boolean drawn = false;
            if (row.ccm) {
                /* The guide: encryption without a nonce gets one of the maximum length from the HSM (read it with getIV()). */
                if (newIv == null) {
                    if (!enc) throw new InvalidAlgorithmParameterException("AES/CCM decryption needs the nonce that encryption used");
                    newIv = Sigs.random(CCM_NONCE);
                    drawn = true;
                }
            } else if (row.gcm) {
                if (enc) {
                    /* The guide: encrypt and wrap ignore the caller's IV; the IV comes from the HSM (read it with getIV()). */
                    newIv = Sigs.random(12);
                    drawn = true;
                } else if (newIv == null) {
                    throw new InvalidAlgorithmParameterException("AES/GCM decryption and unwrapping need the GCMParameterSpec with the IV that encryption used");
                }
            } else if (row.iv > 0 && newIv == null) {
                if (!enc) throw new InvalidAlgorithmParameterException(row.name + " decryption needs the IV (an IvParameterSpec)");
                newIv = Sigs.random(row.iv);
                drawn = true;
            }
            opmode = op;
            key = b;
            iv = newIv;
            ivUsed = false;
            tagBits = tag;
            oaep = o;
            ivDrawn = drawn;
            buf.reset();
            aad.reset();
            spec0Aad = specAad;
            if (specAad != null) aad.write(specAad, 0, specAad.length);
        }

        /** CCM: the spec's AAD, restored after each operation (updateAAD appends to it). */
        private byte[] spec0Aad;

        private void resetAad() {
            aad.reset();
            if (spec0Aad != null) aad.write(spec0Aad, 0, spec0Aad.length);
        }

        private Msg mechanism() {
            Msg m = Tpl.mech(row.mech);
            if (row.iv > 0 && iv != null) m.put("iv", iv);
            if (row.mech == P11.CKM_AES_CTR) m.put("counterBits", 128L);
            if (row.ccm) m.put("iv", iv);
            if (row.aead()) {
                m.put("tagBits", (long) tagBits);
                if (aad.size() > 0) m.put("aad", aad.toByteArray());
            }
            if (row.oaepHash >= 0) {
                long h = row.oaepHash, mgf = Sigs.mgfOf(row.oaepHash);
                byte[] label = null;
                if (oaep != null) {
                    h = Sigs.hashMech(oaep.getDigestAlgorithm());
                    mgf = Sigs.mgfOf(Sigs.hashMech(((MGF1ParameterSpec) oaep.getMGFParameters()).getDigestAlgorithm()));
                    label = ((PSource.PSpecified) oaep.getPSource()).getValue();
                }
                m.put("hashAlg", h).put("mgf", mgf);
                if (label != null && label.length > 0) m.put("sourceData", label);
                if (row.rsaAes) m.put("aesKeyBits", 256L);
            }
            return m;
        }

        /** A fresh IV when the last one was used (GCM, or a CBC/CTR encryption without a caller's IV): never twice under one key. */
        private void freshIvIfUsed() {
            if (!ivUsed || !(opmode == Cipher.ENCRYPT_MODE || opmode == Cipher.WRAP_MODE)) return;
            if (row.gcm) iv = Sigs.random(12);
            if (row.ccm) {
                if (!ivDrawn) throw new IllegalStateException("AES/CCM: the caller's nonce was used; init again with a new nonce (a nonce is never used twice under one key)");
                iv = Sigs.random(CCM_NONCE);
            }
        }

        @Override
        protected void engineUpdateAAD(byte[] src, int offset, int len) {
            if (!row.aead()) throw new IllegalStateException(row.name + " takes no additional authenticated data");
            if (buf.size() > 0) throw new IllegalStateException("updateAAD must come before the data");
            aad.write(src, offset, len);
        }

        @Override
        protected byte[] engineUpdate(byte[] input, int off, int len) {
            check(false);
            if (input != null) buf.write(input, off, len);
            return new byte[0];
        }

        @Override
        protected int engineUpdate(byte[] input, int off, int len, byte[] output, int outOff) {
            check(false);
            if (input != null) buf.write(input, off, len);
            return 0;
        }

        private void check(boolean wrap) {
            if (key == null) throw new IllegalStateException("Cipher not initialised");
            boolean w = opmode == Cipher.WRAP_MODE || opmode == Cipher.UNWRAP_MODE;
            if (w != wrap) throw new IllegalStateException("Cipher initialised for " + (w ? "wrapping" : "encryption or decryption"));
        }

        @Override
        protected byte[] engineDoFinal(byte[] input, int off, int len) throws IllegalBlockSizeException, BadPaddingException {
            check(false);
            if (input != null) buf.write(input, off, len);
            freshIvIfUsed();
            byte[] data = buf.toByteArray();
            buf.reset();
            boolean enc = opmode == Cipher.ENCRYPT_MODE;
            if (row.pkcs5 && enc) data = Padding.pad(data, row.block);
            if (row.pkcs5 && !enc && (data.length == 0 || data.length % row.block != 0)) {
                throw new IllegalBlockSizeException(row.name + ": the encrypted data must be a non-empty multiple of " + row.block + " bytes");
            }
            try {
                byte[] out = Hsm.get().call(enc ? "encrypt" : "decrypt", Msg.of("mechanism", mechanism(), "handle", key.getHandle(), "data", data), key.epoch()).bytes("data");
                ivUsed = true;
                resetAad();
                return row.pkcs5 && !enc ? Padding.unpad(out, row.block) : out;
            } catch (CFM2Exception e) {
                resetAad();
                String c = e.getCode();
                if ("ERR_ENCRYPTED_DATA_INVALID".equals(c)) {
                    if (row.aead()) throw new AEADBadTagException("HSM Error: " + e.getMessage());
                    throw new BadPaddingException("HSM Error: " + e.getMessage());
                }
                if ("ERR_DATA_LEN_RANGE".equals(c) || "ERR_ENCRYPTED_DATA_LEN_RANGE".equals(c)) throw new IllegalBlockSizeException("HSM Error: " + e.getMessage());
                throw new ProviderException("HSM Error: " + e.getMessage(), e);
            }
        }

        @Override
        protected int engineDoFinal(byte[] input, int off, int len, byte[] output, int outOff) throws ShortBufferException, IllegalBlockSizeException, BadPaddingException {
            byte[] r = engineDoFinal(input, off, len);
            if (output.length - outOff < r.length) throw new ShortBufferException(r.length + " bytes needed");
            System.arraycopy(r, 0, output, outOff, r.length);
            return r.length;
        }

        @Override
        protected byte[] engineWrap(Key k) throws IllegalBlockSizeException, InvalidKeyException {
            check(true);
            KeyBase target = KeyBase.of(k, "Cipher.wrap");
            freshIvIfUsed();
            try {
                byte[] w = Hsm.get().call("wrapKey", Msg.of("mechanism", mechanism(), "wrappingHandle", key.getHandle(), "keyHandle", target.getHandle()),
                        key.epoch() != 0 ? key.epoch() : target.epoch()).bytes("wrapped");
                ivUsed = true;
                aad.reset();
                return w;
            } catch (CFM2Exception e) {
                aad.reset();
                String c = e.getCode();
                if ("ERR_KEY_UNEXTRACTABLE".equals(c) || "ERR_KEY_NOT_WRAPPABLE".equals(c) || "ERR_KEY_FUNCTION_NOT_PERMITTED".equals(c)
                        || "ERR_WRAPPING_KEY_TYPE_INCONSISTENT".equals(c) || "ERR_KEY_TYPE_INCONSISTENT".equals(c)) {
                    throw new InvalidKeyException("HSM Error: " + e.getMessage(), e);
                }
                if ("ERR_KEY_SIZE_RANGE".equals(c)) throw new IllegalBlockSizeException("HSM Error: " + e.getMessage());
                throw new ProviderException("HSM Error: " + e.getMessage(), e);
            }
        }

        @Override
        protected Key engineUnwrap(byte[] wrapped, String alg, int type) throws InvalidKeyException, NoSuchAlgorithmException {
            check(true);
            Tpl t;
            String label = Importer.randomLabel();
            if (type == Cipher.SECRET_KEY) {
                t = Importer.secretTemplate(Importer.secretType(alg), label, true, false);
            } else if (type == Cipher.PRIVATE_KEY) {
                String a = alg.toUpperCase(Locale.ROOT);
                long kt = a.equals("RSA") ? P11.CKK_RSA : a.equals("EC") ? P11.CKK_EC : -1;
                if (kt < 0) throw new NoSuchAlgorithmException("unwrap: RSA and EC private keys can be unwrapped, not " + alg);
                t = Importer.privateTemplate(kt, label, true, false);
            } else {
                throw new InvalidKeyException("unwrap: public keys are not wrapped; import them with a KeyFactory");
            }
            try {
                Hsm h = Hsm.get();
                long nh = h.call("unwrapKey", Msg.of("mechanism", mechanism(), "unwrappingHandle", key.getHandle(), "wrapped", wrapped, "template", t.list),
                        key.epoch()).num("handle");
                aad.reset();
                return KeyBase.fromHandle(nh, h.epoch());
            } catch (CFM2Exception e) {
                aad.reset();
                throw new InvalidKeyException("HSM Error: " + e.getMessage(), e);
            }
        }

        @Override
        protected int engineGetKeySize(Key k) throws InvalidKeyException {
            return KeyBase.of(k, "Cipher").getSize();
        }
    }

    static byte[] copy(byte[] b) {
        return b == null ? null : Arrays.copyOf(b, b.length);
    }
}
