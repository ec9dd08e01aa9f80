package org.opencloudhsm.jce;

import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;

import com.cavium.key.CaviumKeyAttributes;

/** Public keys: their X.509 SubjectPublicKeyInfo is CKA_PUBLIC_KEY_INFO; the numbers come from parsing it. */
public final class PublicKeys {
    private PublicKeys() {}

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

        @Override
        public int getSize() {
            int n = super.getSize();
            if (n > 0) return n;
            if (soft() instanceof java.security.interfaces.ECKey) return ((java.security.interfaces.ECKey) soft()).getParams().getCurve().getField().getFieldSize();
            return alg.equals("XDH") ? 255 : -1;
        }
    }
}
