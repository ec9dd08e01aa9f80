package org.opencloudhsm.jce;

import java.math.BigInteger;
import java.security.InvalidAlgorithmParameterException;
import java.security.InvalidParameterException;
import java.security.KeyPair;
import java.security.KeyPairGeneratorSpi;
import java.security.ProviderException;
import java.security.PublicKey;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.spec.AlgorithmParameterSpec;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.NamedParameterSpec;
import java.security.spec.RSAKeyGenParameterSpec;

import javax.crypto.KeyGeneratorSpi;
import javax.crypto.SecretKey;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumDESKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumECGenParameterSpec;
import com.cavium.key.parameter.CaviumGenericSecretKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumKeyGenAlgorithmParameterSpec;
import com.cavium.key.parameter.CaviumRSAKeyGenParameterSpec;
import com.cavium.key.parameter.CaviumXDHKeyGenParameterSpec;

/**
 * KeyGenerator (AES, DESede, the HMAC generic secrets) and KeyPairGenerator
 * (RSA, EC, XDH): the guide's specs and defaults become a PKCS#11 template and
 * mechanism; sizes and curves are the HSM's to accept or refuse.
 */
public final class KeyGens {
    private KeyGens() {}

    /** A refusal of the HSM at generation time, as the exception JCE callers expect there. */
    static RuntimeException genError(CFM2Exception e) {
        String c = e.getCode();
        if ("ERR_KEY_SIZE_RANGE".equals(c) || "ERR_CURVE_NOT_SUPPORTED".equals(c) || "ERR_ATTRIBUTE_VALUE_INVALID".equals(c)
                || "ERR_TEMPLATE_INCONSISTENT".equals(c) || "ERR_MECHANISM_PARAM_INVALID".equals(c)) {
            InvalidParameterException x = new InvalidParameterException("HSM Error: " + e.getMessage());
            x.initCause(e);
            return x;
        }
        return new ProviderException("HSM Error: " + e.getMessage(), e);
    }

    /* ───────────── secret keys ───────────── */

    public static final class Secret extends KeyGeneratorSpi {
        private final long keyType;
        private final long mech;
        private final Class<? extends CaviumKeyGenAlgorithmParameterSpec> specType;
        private int bits;
        private String label;
        private boolean extractable = true, persistent;

        /** kind: AES, DESede, or a generic secret with the default size in bits. */
        public Secret(String kind, int defaultBits) {
            if (kind.equals("AES")) {
                keyType = P11.CKK_AES;
                mech = P11.CKM_AES_KEY_GEN;
                specType = CaviumAESKeyGenParameterSpec.class;
            } else if (kind.equals("DESede")) {
                keyType = P11.CKK_DES3;
                mech = P11.CKM_DES3_KEY_GEN;
                specType = CaviumDESKeyGenParameterSpec.class;
            } else {
                keyType = P11.CKK_GENERIC_SECRET;
                mech = P11.CKM_GENERIC_SECRET_KEY_GEN;
                specType = CaviumGenericSecretKeyGenParameterSpec.class;
            }
            bits = defaultBits;
        }

        private void size(int b) throws InvalidParameterException {
            if (b <= 0) throw new InvalidParameterException("key size must be positive, got " + b);
            /* Triple DES has one size: 168 bits of key in 192 bits with parity. */
            if (keyType == P11.CKK_DES3 && b != 168 && b != 192) throw new InvalidParameterException("DESede keys are 168 or 192 bits, got " + b);
            bits = b;
        }

        @Override
        protected void engineInit(SecureRandom random) {
            /* the HSM's own random numbers; the defaults stay */
        }

        @Override
        protected void engineInit(int keysize, SecureRandom random) {
            size(keysize);
            label = null;
            extractable = true;
            persistent = false;
        }

        @Override
        protected void engineInit(AlgorithmParameterSpec params, SecureRandom random) throws InvalidAlgorithmParameterException {
            if (params == null || !specType.isInstance(params)) {
                throw new InvalidAlgorithmParameterException("expected a " + specType.getSimpleName() + ", got "
                        + (params == null ? "null" : params.getClass().getName()));
            }
            int b = params instanceof CaviumAESKeyGenParameterSpec ? ((CaviumAESKeyGenParameterSpec) params).getKeySize()
                    : params instanceof CaviumDESKeyGenParameterSpec ? ((CaviumDESKeyGenParameterSpec) params).getKeySize()
                    : ((CaviumGenericSecretKeyGenParameterSpec) params).getKeySize();
            try {
                size(b);
            } catch (InvalidParameterException e) {
                throw new InvalidAlgorithmParameterException(e.getMessage());
            }
            CaviumKeyGenAlgorithmParameterSpec s = (CaviumKeyGenAlgorithmParameterSpec) params;
            label = s.getLabel();
            extractable = s.isExtractable();
            persistent = s.isPersistent();
        }

        @Override
        protected SecretKey engineGenerateKey() {
            Tpl t = Importer.secretTemplate(keyType, label != null ? label : Importer.randomLabel(), extractable, persistent);
            /* Bits to bytes, rounded up (the guide: generic secrets round up to a multiple of 8); DES3 has no length. */
            if (keyType != P11.CKK_DES3) t.ulong(P11.CKA_VALUE_LEN, (bits + 7) / 8);
            try {
                long h = Hsm.get().call("generateKey", Msg.of("mechanism", Tpl.mech(mech), "template", t.list)).num("handle");
                return (SecretKey) KeyBase.fromHandle(h, persistent ? 0 : Hsm.get().epoch());
            } catch (CFM2Exception e) {
                throw genError(e);
            }
        }
    }

    /* ───────────── key pairs ───────────── */

    public static final class Pair extends KeyPairGeneratorSpi {
        private final String alg; /* RSA, EC, XDH */
        private int rsaBits = 4096;
        private BigInteger exponent = RSAKeyGenParameterSpec.F4;
        private byte[] curve;
        private String pubLabel, privLabel;
        private boolean extractable = true, persistent;

        public Pair(String alg) {
            this.alg = alg;
            if (alg.equals("XDH")) curve = Wire.unhex(Curves.X25519_OID);
        }

        @Override
        public void initialize(int keysize, SecureRandom random) {
            pubLabel = privLabel = null;
            extractable = true;
            persistent = false;
            if (alg.equals("RSA")) {
                rsaBits = keysize;
                exponent = RSAKeyGenParameterSpec.F4;
            } else if (alg.equals("EC")) {
                String n = keysize == 256 ? "secp256r1" : keysize == 384 ? "secp384r1" : keysize == 521 ? "secp521r1" : keysize == 224 ? "secp224r1" : null;
                if (n == null) throw new InvalidParameterException("no NIST curve of " + keysize + " bits: initialize with an ECGenParameterSpec naming the curve");
                curve = Curves.oidOf(n);
            } else if (keysize != 255) {
                throw new InvalidParameterException("XDH: only X25519 (255 bits) is offered");
            }
        }

        @Override
        public void initialize(AlgorithmParameterSpec params, SecureRandom random) throws InvalidAlgorithmParameterException {
            pubLabel = privLabel = null;
            extractable = true;
            persistent = false;
            if (alg.equals("RSA")) {
                if (!(params instanceof RSAKeyGenParameterSpec)) throw new InvalidAlgorithmParameterException("RSA: expected a CaviumRSAKeyGenParameterSpec (or RSAKeyGenParameterSpec), got " + name(params));
                RSAKeyGenParameterSpec s = (RSAKeyGenParameterSpec) params;
                rsaBits = s.getKeysize();
                exponent = s.getPublicExponent();
                if (exponent == null || exponent.signum() <= 0) throw new InvalidAlgorithmParameterException("RSA: the public exponent must be a positive number");
                if (s instanceof CaviumRSAKeyGenParameterSpec) {
                    CaviumRSAKeyGenParameterSpec c = (CaviumRSAKeyGenParameterSpec) s;
                    pubLabel = c.getPublicKeyLabel();
                    privLabel = c.getPrivateKeyLabel();
                    extractable = c.isExtractable();
                    persistent = c.isPersistent();
                }
            } else if (alg.equals("EC")) {
                String curveName = params instanceof ECGenParameterSpec ? ((ECGenParameterSpec) params).getName()
                        : params instanceof NamedParameterSpec ? ((NamedParameterSpec) params).getName() : null;
                if (curveName == null) throw new InvalidAlgorithmParameterException("EC: expected a CaviumECGenParameterSpec (or ECGenParameterSpec) naming a curve, got " + name(params));
                byte[] oid = Curves.oidOf(curveName);
                if (oid == null) throw new InvalidAlgorithmParameterException("EC: unknown curve name " + curveName);
                curve = oid;
                Object s = params;
                if (s instanceof CaviumECGenParameterSpec) {
                    CaviumECGenParameterSpec c = (CaviumECGenParameterSpec) s;
                    pubLabel = c.getPublicKeyLabel();
                    privLabel = c.getPrivateKeyLabel();
                    extractable = c.isExtractable();
                    persistent = c.isPersistent();
                }
            } else {
                if (!(params instanceof NamedParameterSpec) || !((NamedParameterSpec) params).getName().equalsIgnoreCase("X25519")) {
                    throw new InvalidAlgorithmParameterException("XDH: expected a CaviumXDHKeyGenParameterSpec (X25519), got " + name(params));
                }
                if (params instanceof CaviumXDHKeyGenParameterSpec) {
                    CaviumXDHKeyGenParameterSpec c = (CaviumXDHKeyGenParameterSpec) params;
                    pubLabel = c.getPublicKeyLabel();
                    privLabel = c.getPrivateKeyLabel();
                    extractable = c.isExtractable();
                    persistent = c.isPersistent();
                }
            }
        }

        static String name(Object o) {
            return o == null ? "null" : o.getClass().getName();
        }

        @Override
        public KeyPair generateKeyPair() {
            String label = Importer.randomLabel();
            long keyType, mech;
            Tpl pub, priv;
            if (alg.equals("RSA")) {
                keyType = P11.CKK_RSA;
                mech = P11.CKM_RSA_PKCS_KEY_PAIR_GEN;
                pub = Importer.publicTemplate(keyType, pubLabel != null ? pubLabel : label, persistent).ulong(P11.CKA_MODULUS_BITS, rsaBits)
                        .big(P11.CKA_PUBLIC_EXPONENT, exponent);
            } else {
                if (curve == null) throw new IllegalStateException("EC: initialize the generator with a curve first (there is no default curve)");
                keyType = alg.equals("EC") ? P11.CKK_EC : P11.CKK_EC_MONTGOMERY;
                mech = alg.equals("EC") ? P11.CKM_EC_KEY_PAIR_GEN : P11.CKM_EC_MONTGOMERY_KEY_PAIR_GEN;
                pub = Importer.publicTemplate(keyType, pubLabel != null ? pubLabel : label, persistent).bytes(P11.CKA_EC_PARAMS, curve);
            }
            priv = Importer.privateTemplate(keyType, privLabel != null ? privLabel : label, extractable, persistent);
            try {
                Hsm h = Hsm.get();
                Msg r = h.call("generateKeyPair", Msg.of("mechanism", Tpl.mech(mech), "publicTemplate", pub.list, "privateTemplate", priv.list));
                long epoch = persistent ? 0 : h.epoch();
                return new KeyPair((PublicKey) KeyBase.fromHandle(r.num("publicHandle"), epoch), (PrivateKey) KeyBase.fromHandle(r.num("privateHandle"), epoch));
            } catch (CFM2Exception e) {
                throw genError(e);
            }
        }
    }
}
