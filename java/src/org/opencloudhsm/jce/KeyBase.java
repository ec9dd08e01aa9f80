package org.opencloudhsm.jce;

import java.security.spec.ECParameterSpec;
import java.util.Map;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.key.CaviumAESKey;
import com.cavium.key.CaviumDES3Key;
import com.cavium.key.CaviumECPrivateKey;
import com.cavium.key.CaviumECPublicKey;
import com.cavium.key.CaviumGenericSecretKey;
import com.cavium.key.CaviumKey;
import com.cavium.key.CaviumKeyAttributes;
import com.cavium.key.CaviumRSAPrivateKey;
import com.cavium.key.CaviumRSAPublicKey;
import com.cavium.key.CaviumXDHPrivateKey;
import com.cavium.key.CaviumXDHPublicKey;

/**
 * What every Cavium key object shares: the handle, the epoch of the connection
 * a session key belongs to, and the attributes read from the HSM. Immutable
 * except for the handle and attributes that Util.persistKey replaces under the
 * object's lock, so a key object can be shared by threads.
 */
public abstract class KeyBase implements CaviumKey {
    private static final long serialVersionUID = 1L;

    /** The attributes read for every key. */
    static final long[] COMMON = {P11.CKA_CLASS, P11.CKA_KEY_TYPE, P11.CKA_LABEL, P11.CKA_EXTRACTABLE, P11.CKA_TOKEN, P11.CKA_VALUE_LEN,
            P11.CKA_MODULUS_BITS, P11.CKA_MODULUS, P11.CKA_PUBLIC_EXPONENT, P11.CKA_EC_PARAMS, P11.CKA_PUBLIC_KEY_INFO};

    private volatile long handle;
    private volatile long epoch;
    private volatile CaviumKeyAttributes attrs;

    protected KeyBase(long handle, CaviumKeyAttributes attrs) {
        this.handle = handle;
        this.attrs = attrs;
        this.epoch = attrs.isPersistent() ? 0 : Hsm.get().epoch();
    }

    @Override
    public long getHandle() {
        return handle;
    }

    /** 0 for a token key; for a session key, the connection epoch its session belongs to. */
    public long epoch() {
        return epoch;
    }

    @Override
    public CaviumKeyAttributes getAttributes() {
        return attrs;
    }

    @Override
    public String getLabel() {
        return attrs.getLabel();
    }

    @Override
    public boolean isExtractable() {
        return attrs.isExtractable();
    }

    @Override
    public boolean isPersistent() {
        return attrs.isPersistent();
    }

    @Override
    public int getSize() {
        return attrs.getSize();
    }

    /** After Util.persistKey: the token copy replaces the session object. */
    public synchronized void replace(long newHandle) throws CFM2Exception {
        this.attrs = new CaviumKeyAttributes(Tpl.get(newHandle, 0, COMMON));
        this.handle = newHandle;
        this.epoch = 0;
    }

    /** A public key made in Java (KeyFactory) takes its HSM handle when it is first used there. */
    protected synchronized void adopt(long newHandle, long newEpoch) {
        this.handle = newHandle;
        this.epoch = newEpoch;
    }

    /** Public keys are equal when their encodings are; other keys when they are the same HSM object. */
    @Override
    public boolean equals(Object o) {
        if (this == o) return true;
        if (this instanceof java.security.PublicKey && o instanceof java.security.PublicKey) {
            byte[] a = getEncoded(), b = ((java.security.PublicKey) o).getEncoded();
            return a != null && java.util.Arrays.equals(a, b);
        }
        return o instanceof KeyBase && !(this instanceof java.security.PublicKey) && ((KeyBase) o).getHandle() == getHandle();
    }

    @Override
    public int hashCode() {
        if (this instanceof java.security.PublicKey) {
            byte[] a = getEncoded();
            return a == null ? 0 : java.util.Arrays.hashCode(a);
        }
        return Long.hashCode(handle);
    }

    /** The attributes after a change (setAttributeValue of the label). */
    public synchronized void refresh() throws CFM2Exception {
        this.attrs = new CaviumKeyAttributes(Tpl.get(handle, epoch, COMMON));
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[handle=" + handle + ", label=" + getLabel() + ", size=" + getSize() + ", extractable=" + isExtractable()
                + ", persistent=" + isPersistent() + "]";
    }

    /**
     * A private or secret key: its material stays in the HSM. getEncoded() is the HSM's export of
     * an extractable key (RAW for a secret key, PKCS#8 for a private key), null for one that is not.
     */
    public abstract static class Held extends KeyBase {
        private static final long serialVersionUID = 1L;
        private final String alg;
        private final String format;

        protected Held(long handle, CaviumKeyAttributes a, String alg, String format) {
            super(handle, a);
            this.alg = alg;
            this.format = format;
        }

        @Override
        public String getAlgorithm() {
            return alg;
        }

        @Override
        public String getFormat() {
            return format;
        }

        @Override
        public byte[] getEncoded() {
            return isExtractable() ? export() : null;
        }
    }

    /* ───────────── key objects from handles ───────────── */

    /** A key object for an HSM handle, of the class its attributes call for. */
    public static CaviumKey fromHandle(long handle) throws CFM2Exception {
        return fromHandle(handle, 0);
    }

    public static CaviumKey fromHandle(long handle, long epoch) throws CFM2Exception {
        Map<Long, byte[]> a = Tpl.get(handle, epoch, COMMON);
        return make(handle, new CaviumKeyAttributes(a));
    }

    public static CaviumKey make(long handle, CaviumKeyAttributes a) throws CFM2Exception {
        int cls = a.getKeyClass(), type = a.getKeyType();
        if (cls == CaviumKeyAttributes.CLASS_SECRET_KEY) {
            if (type == CaviumKeyAttributes.KEY_TYPE_AES) return new CaviumAESKey(handle, a);
            if (type == CaviumKeyAttributes.KEY_TYPE_DES3) return new CaviumDES3Key(handle, a);
            if (type == CaviumKeyAttributes.KEY_TYPE_GENERIC_SECRET) return new CaviumGenericSecretKey(handle, a);
        } else if (cls == CaviumKeyAttributes.CLASS_PUBLIC_KEY) {
            if (type == CaviumKeyAttributes.KEY_TYPE_RSA) return new CaviumRSAPublicKey(handle, a);
            if (type == CaviumKeyAttributes.KEY_TYPE_EC) return new CaviumECPublicKey(handle, a);
            if (type == CaviumKeyAttributes.KEY_TYPE_EC_MONTGOMERY) return new CaviumXDHPublicKey(handle, a);
        } else if (cls == CaviumKeyAttributes.CLASS_PRIVATE_KEY) {
            if (type == CaviumKeyAttributes.KEY_TYPE_RSA) return new CaviumRSAPrivateKey(handle, a);
            if (type == CaviumKeyAttributes.KEY_TYPE_EC) return new CaviumECPrivateKey(handle, a);
            if (type == CaviumKeyAttributes.KEY_TYPE_EC_MONTGOMERY) return new CaviumXDHPrivateKey(handle, a);
        }
        throw new CFM2Exception(0x63, "ERR_KEY_TYPE_INCONSISTENT", String.format("object %d is of class %d, key type 0x%x: not a key type this provider offers", handle, cls, type));
    }

    /**
     * A public key for an HSM operation: a Cavium key as it is, or a software RSA or EC
     * public key (from a certificate, say), imported when the operation runs. Public keys
     * carry no secret, so taking them from another provider is safe.
     */
    public static KeyBase ofPublic(java.security.Key k, String where) throws java.security.InvalidKeyException {
        if (k instanceof KeyBase) return (KeyBase) k;
        if (k instanceof java.security.interfaces.RSAPublicKey || k instanceof java.security.interfaces.ECPublicKey) {
            return PublicKeys.lazy((java.security.PublicKey) k);
        }
        return of(k, where);
    }

    /** The key's own handle, or an InvalidKeyException-worthy message when it is not a Cavium key. */
    public static KeyBase of(java.security.Key k, String where) throws java.security.InvalidKeyException {
        if (k instanceof KeyBase) return (KeyBase) k;
        throw new java.security.InvalidKeyException(where + ": the key must be a CaviumKey (a key in the HSM), not a "
                + (k == null ? "null key" : k.getClass().getName() + " (" + k.getAlgorithm() + ")") + "; import it with ImportKey.importKey or a Cavium KeyFactory");
    }

    /* ───────────── export of an extractable key ───────────── */

    /**
     * The key's material as the HSM exports it (CKA_VALUE of a secret key, PKCS#8
     * DER of a private key): wrapped in the HSM under a fresh non-extractable
     * session AES key with AES key wrap with padding (RFC 5649), unwrapped by the
     * HSM with the same key, which is then destroyed. The HSM decides whether the
     * key may leave it (CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED); null when it refuses.
     */
    protected byte[] export() {
        try {
            Hsm h = Hsm.get();
            long kek = h.call("generateKey", Msg.of("mechanism", Tpl.mech(P11.CKM_AES_KEY_GEN), "template",
                    new Tpl().ulong(P11.CKA_CLASS, P11.CKO_SECRET_KEY).ulong(P11.CKA_KEY_TYPE, P11.CKK_AES).ulong(P11.CKA_VALUE_LEN, 32)
                            .bool(P11.CKA_TOKEN, false).bool(P11.CKA_EXTRACTABLE, false).bool(P11.CKA_WRAP, true).bool(P11.CKA_DECRYPT, true)
                            .label("cavium-export").list)).num("handle");
            long kekEpoch = h.epoch();
            try {
                byte[] wrapped = h.call("wrapKey", Msg.of("mechanism", Tpl.mech(P11.CKM_AES_KEY_WRAP_PAD), "wrappingHandle", kek, "keyHandle", getHandle()),
                        epoch()).bytes("wrapped");
                return h.call("decrypt", Msg.of("mechanism", Tpl.mech(P11.CKM_AES_KEY_WRAP_PAD), "handle", kek, "data", wrapped), kekEpoch).bytes("data");
            } finally {
                try {
                    h.call("destroyObject", Msg.of("handle", kek), kekEpoch);
                } catch (CFM2Exception ignored) {
                    /* a session key: it ends with the session anyway */
                }
            }
        } catch (CFM2Exception e) {
            return null;
        }
    }

    /** The curve of an EC key's CKA_EC_PARAMS. */
    public static ECParameterSpec ecParams(byte[] oidDer) {
        return Curves.spec(oidDer);
    }
}
