package org.opencloudhsm.jce;

import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;

import com.cavium.key.CaviumKeyAttributes;

/** Public keys: their X.509 SubjectPublicKeyInfo is CKA_PUBLIC_KEY_INFO; the numbers come from parsing it. */
public final class PublicKeys {
    private PublicKeys() {}

    /** A Cavium public key for a software one, imported into the HSM when first used there. */
    public static Base lazy(PublicKey soft) throws java.security.InvalidKeyException {
        byte[] spki = soft.getEncoded();
        java.util.Map<Long, byte[]> a = new java.util.LinkedHashMap<>();
        a.put(P11.CKA_CLASS, new Tpl().ulong(0, P11.CKO_PUBLIC_KEY).list.get(0).value);
        a.put(P11.CKA_LABEL, Importer.randomLabel().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        a.put(P11.CKA_TOKEN, new byte[] {0});
        a.put(P11.CKA_PUBLIC_KEY_INFO, spki);
        Base b;
        if (soft instanceof java.security.interfaces.RSAPublicKey) {
            a.put(P11.CKA_KEY_TYPE, new Tpl().ulong(0, P11.CKK_RSA).list.get(0).value);
            a.put(P11.CKA_MODULUS_BITS, new Tpl().ulong(0, ((java.security.interfaces.RSAPublicKey) soft).getModulus().bitLength()).list.get(0).value);
            b = new com.cavium.key.CaviumRSAPublicKey(0, new CaviumKeyAttributes(a));
        } else if (soft instanceof java.security.interfaces.ECPublicKey) {
            a.put(P11.CKA_KEY_TYPE, new Tpl().ulong(0, P11.CKK_EC).list.get(0).value);
            b = new com.cavium.key.CaviumECPublicKey(0, new CaviumKeyAttributes(a));
        } else {
            throw new java.security.InvalidKeyException("RSA and EC public keys only, not " + soft.getAlgorithm());
        }
        b.soft = soft;
        return b;
    }

    public abstract static class Base extends KeyBase implements PublicKey {
        private static final long serialVersionUID = 1L;
        private final String alg;
        private transient volatile PublicKey soft;

        protected Base(long handle, CaviumKeyAttributes a, String alg) {
            super(handle, a);
            this.alg = alg;
        }

        @Override
        public String getAlgorithm() {
            return alg;
        }

        @Override
        public String getFormat() {
            return "X.509";
        }

        @Override
        public byte[] getEncoded() {
            byte[] spki = getAttributes().get(P11.CKA_PUBLIC_KEY_INFO);
            return spki;
        }

        /** The same public key as a software object (for its numbers, and for verification elsewhere). */
        public PublicKey soft() {
            PublicKey s = soft;
            if (s == null) {
                byte[] spki = getEncoded();
                if (spki == null) throw new IllegalStateException("the HSM gave no CKA_PUBLIC_KEY_INFO for key " + getHandle());
                try {
                    s = KeyFactory.getInstance(alg.equals("XDH") ? "XDH" : alg, alg.equals("RSA") ? "SunRsaSign" : "SunEC").generatePublic(new X509EncodedKeySpec(spki));
                } catch (Exception e) {
                    throw new IllegalStateException("cannot parse the public key of key " + getHandle() + ": " + e.getMessage(), e);
                }
                soft = s;
            }
            return s;
        }

        /**
         * A public key made by a Cavium KeyFactory lives in Java until it is first used
         * in the HSM: then it is imported (a session object), so that parsing a
         * certificate never needs the HSM or a sign-in.
         */
        @Override
        public long getHandle() {
            long h = super.getHandle();
            if (h != 0) return h;
            synchronized (this) {
                h = super.getHandle();
                if (h != 0) return h;
                try {
                    KeyBase k = (KeyBase) Importer.importKey(soft(), getLabel(), true, false);
                    adopt(k.getHandle(), k.epoch());
                    return k.getHandle();
                } catch (java.security.InvalidKeyException | com.cavium.cfm2.CFM2Exception e) {
                    throw new java.security.ProviderException("cannot import the public key into the HSM: " + e.getMessage(), e);
                }
            }
        }

        @Override
        public int getSize() {
            int n = super.getSize();
            if (n > 0) return n;
            if (soft() instanceof java.security.interfaces.ECKey) return ((java.security.interfaces.ECKey) soft()).getParams().getCurve().getField().getFieldSize();
            return alg.equals("XDH") ? 255 : -1;
        }
    }
}
