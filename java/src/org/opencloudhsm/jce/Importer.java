package org.opencloudhsm.jce;

import java.math.BigInteger;
import java.security.InvalidKeyException;
import java.security.Key;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECPoint;
import java.util.Locale;
import java.util.UUID;

import javax.crypto.SecretKey;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.key.CaviumKey;

/**
 * Templates for the keys the provider makes, and the import of software keys
 * (C_CreateObject with the key's numbers). The usage attributes are those
 * azcloudhsm_util sets on the keys it makes (packages/cli/src/util/templates.ts),
 * since the HSM's usage attributes default to FALSE: secret keys encrypt,
 * decrypt, wrap and unwrap (generic secrets sign and verify), RSA public keys
 * encrypt, verify and wrap, RSA private keys decrypt, sign and unwrap, EC
 * public keys verify, EC private keys sign and derive, X25519 private keys derive.
 */
public final class Importer {
    private Importer() {}

    public static Tpl secretTemplate(long keyType, String label, boolean extractable, boolean persistent) {
        Tpl t = new Tpl().ulong(P11.CKA_CLASS, P11.CKO_SECRET_KEY).ulong(P11.CKA_KEY_TYPE, keyType).bool(P11.CKA_TOKEN, persistent)
                .bool(P11.CKA_EXTRACTABLE, extractable).label(label);
        if (keyType == P11.CKK_GENERIC_SECRET) t.bool(P11.CKA_SIGN, true).bool(P11.CKA_VERIFY, true).bool(P11.CKA_DERIVE, true);
        else t.bool(P11.CKA_ENCRYPT, true).bool(P11.CKA_DECRYPT, true).bool(P11.CKA_WRAP, true).bool(P11.CKA_UNWRAP, true);
        /* AES and DESede keys also sign and verify: the guide's MacExamples compute an AESCMAC with a key
         * from KeyGenerator("AES") and an HmacSHA224 with one from KeyGenerator("DESede"). */
        if (keyType == P11.CKK_AES || keyType == P11.CKK_DES3) t.bool(P11.CKA_SIGN, true).bool(P11.CKA_VERIFY, true);
        return t;
    }

    public static Tpl publicTemplate(long keyType, String label, boolean persistent) {
        Tpl t = new Tpl().ulong(P11.CKA_CLASS, P11.CKO_PUBLIC_KEY).ulong(P11.CKA_KEY_TYPE, keyType).bool(P11.CKA_TOKEN, persistent).label(label);
        if (keyType == P11.CKK_RSA) t.bool(P11.CKA_ENCRYPT, true).bool(P11.CKA_VERIFY, true).bool(P11.CKA_WRAP, true);
        else if (keyType == P11.CKK_EC) t.bool(P11.CKA_VERIFY, true);
        return t;
    }

    public static Tpl privateTemplate(long keyType, String label, boolean extractable, boolean persistent) {
        Tpl t = new Tpl().ulong(P11.CKA_CLASS, P11.CKO_PRIVATE_KEY).ulong(P11.CKA_KEY_TYPE, keyType).bool(P11.CKA_TOKEN, persistent)
                .bool(P11.CKA_EXTRACTABLE, extractable).label(label);
        if (keyType == P11.CKK_RSA) t.bool(P11.CKA_DECRYPT, true).bool(P11.CKA_SIGN, true).bool(P11.CKA_UNWRAP, true);
        else if (keyType == P11.CKK_EC) t.bool(P11.CKA_SIGN, true).bool(P11.CKA_DERIVE, true);
        else if (keyType == P11.CKK_EC_MONTGOMERY) t.bool(P11.CKA_DERIVE, true);
        return t;
    }

    /** The CKK of a secret key's algorithm name. */
    public static long secretType(String alg) {
        String a = alg == null ? "" : alg.toUpperCase(Locale.ROOT);
        if (a.equals("AES")) return P11.CKK_AES;
        if (a.equals("DESEDE") || a.equals("TRIPLEDES") || a.equals("3DES")) return P11.CKK_DES3;
        return P11.CKK_GENERIC_SECRET;
    }

    static String randomLabel() {
        return UUID.randomUUID().toString();
    }

    /** Make an HSM key from a software key. */
    public static CaviumKey importKey(Key key, String label, boolean extractable, boolean persistent) throws InvalidKeyException, CFM2Exception {
        if (key instanceof CaviumKey) throw new InvalidKeyException("The key is an instance of CaviumKey and cannot be imported");
        if (label == null) label = randomLabel();
        Tpl t;
        if (key instanceof SecretKey) {
            byte[] v = key.getEncoded();
            if (v == null) throw new InvalidKeyException("the secret key has no encoding to import");
            t = secretTemplate(secretType(key.getAlgorithm()), label, extractable, persistent).bytes(P11.CKA_VALUE, v);
        } else if (key instanceof RSAPrivateCrtKey) {
            RSAPrivateCrtKey k = (RSAPrivateCrtKey) key;
            t = privateTemplate(P11.CKK_RSA, label, extractable, persistent).big(P11.CKA_MODULUS, k.getModulus()).big(P11.CKA_PUBLIC_EXPONENT, k.getPublicExponent())
                    .big(P11.CKA_PRIVATE_EXPONENT, k.getPrivateExponent()).big(P11.CKA_PRIME_1, k.getPrimeP()).big(P11.CKA_PRIME_2, k.getPrimeQ())
                    .big(P11.CKA_EXPONENT_1, k.getPrimeExponentP()).big(P11.CKA_EXPONENT_2, k.getPrimeExponentQ()).big(P11.CKA_COEFFICIENT, k.getCrtCoefficient());
        } else if (key instanceof ECPrivateKey) {
            ECPrivateKey k = (ECPrivateKey) key;
            byte[] oid = Curves.oidOf(k.getParams());
            if (oid == null) throw new InvalidKeyException("the EC key's curve is not a named curve this provider knows");
            int len = (k.getParams().getCurve().getField().getFieldSize() + 7) / 8;
            t = privateTemplate(P11.CKK_EC, label, extractable, persistent).bytes(P11.CKA_EC_PARAMS, oid).bytes(P11.CKA_VALUE, fixed(k.getS(), len));
        } else if (key instanceof RSAPublicKey) {
            RSAPublicKey k = (RSAPublicKey) key;
            t = publicTemplate(P11.CKK_RSA, label, persistent).big(P11.CKA_MODULUS, k.getModulus()).big(P11.CKA_PUBLIC_EXPONENT, k.getPublicExponent());
        } else if (key instanceof ECPublicKey) {
            ECPublicKey k = (ECPublicKey) key;
            byte[] oid = Curves.oidOf(k.getParams());
            if (oid == null) throw new InvalidKeyException("the EC key's curve is not a named curve this provider knows");
            t = publicTemplate(P11.CKK_EC, label, persistent).bytes(P11.CKA_EC_PARAMS, oid).bytes(P11.CKA_EC_POINT, octetString(point(k.getW(), k.getParams())));
        } else if (key instanceof PrivateKey || key instanceof PublicKey) {
            throw new InvalidKeyException("cannot import a " + key.getAlgorithm() + " key of class " + key.getClass().getName()
                    + ": RSA (with CRT numbers), EC and secret keys can be imported");
        } else {
            throw new InvalidKeyException("cannot import a key of class " + (key == null ? "null" : key.getClass().getName()));
        }
        long h = Hsm.get().call("createObject", Msg.of("template", t.list)).num("handle");
        return KeyBase.fromHandle(h, persistent ? 0 : Hsm.get().epoch());
    }

    static byte[] fixed(BigInteger v, int len) {
        byte[] u = Tpl.unsigned(v);
        if (u.length == len) return u;
        byte[] out = new byte[len];
        System.arraycopy(u, Math.max(0, u.length - len), out, Math.max(0, len - u.length), Math.min(len, u.length));
        return out;
    }

    /** The uncompressed point 04 || X || Y. */
    static byte[] point(ECPoint w, java.security.spec.ECParameterSpec p) {
        int len = (p.getCurve().getField().getFieldSize() + 7) / 8;
        byte[] x = fixed(w.getAffineX(), len), y = fixed(w.getAffineY(), len);
        byte[] out = new byte[1 + 2 * len];
        out[0] = 4;
        System.arraycopy(x, 0, out, 1, len);
        System.arraycopy(y, 0, out, 1 + len, len);
        return out;
    }

    /** DER OCTET STRING around b (CKA_EC_POINT). */
    static byte[] octetString(byte[] b) {
        byte[] len;
        if (b.length < 128) len = new byte[] {(byte) b.length};
        else if (b.length < 256) len = new byte[] {(byte) 0x81, (byte) b.length};
        else len = new byte[] {(byte) 0x82, (byte) (b.length >> 8), (byte) b.length};
        byte[] out = new byte[1 + len.length + b.length];
        out[0] = 4;
        System.arraycopy(len, 0, out, 1, len.length);
        System.arraycopy(b, 0, out, 1 + len.length, b.length);
        return out;
    }
}
