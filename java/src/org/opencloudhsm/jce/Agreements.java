package org.opencloudhsm.jce;

import java.security.InvalidAlgorithmParameterException;
import java.security.InvalidKeyException;
import java.security.Key;
import java.security.NoSuchAlgorithmException;
import java.security.ProviderException;
import java.security.SecureRandom;
import java.security.interfaces.ECPublicKey;
import java.security.spec.AlgorithmParameterSpec;

import javax.crypto.KeyAgreementSpi;
import javax.crypto.SecretKey;
import javax.crypto.ShortBufferException;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.key.CaviumECPrivateKey;

/**
 * KeyAgreement ECDH: CKM_ECDH1_DERIVE (CKD_NULL) with the HSM private key and
 * the peer's public point. generateSecret() returns the raw shared secret,
 * which leaves the HSM as an extractable derived key does; generateSecret(alg)
 * returns the derived key itself, kept in the HSM.
 */
public final class Agreements {
    private Agreements() {}

    public static final class Ecdh extends KeyAgreementSpi {
        private KeyBase priv;
        private byte[] peer;

        @Override
        protected void engineInit(Key key, SecureRandom random) throws InvalidKeyException {
            KeyBase k = KeyBase.of(key, "KeyAgreement ECDH");
            if (!(k instanceof CaviumECPrivateKey)) throw new InvalidKeyException("KeyAgreement ECDH: init takes an EC private key, got a " + k.getAlgorithm() + " " + k.getFormat() + " key");
            priv = k;
            peer = null;
        }

        @Override
        protected void engineInit(Key key, AlgorithmParameterSpec params, SecureRandom random) throws InvalidKeyException, InvalidAlgorithmParameterException {
            if (params != null) throw new InvalidAlgorithmParameterException("ECDH takes no parameters");
            engineInit(key, random);
        }

        @Override
        protected Key engineDoPhase(Key key, boolean lastPhase) throws InvalidKeyException {
            if (priv == null) throw new IllegalStateException("KeyAgreement not initialised");
            if (!lastPhase) throw new IllegalStateException("ECDH has one phase: call doPhase(key, true)");
            if (!(key instanceof ECPublicKey)) throw new InvalidKeyException("ECDH: doPhase takes the peer's EC public key, got " + (key == null ? "null" : key.getClass().getName()));
            ECPublicKey p = (ECPublicKey) key;
            peer = Importer.point(p.getW(), p.getParams());
            return null;
        }

        private long derive(long keyType, long len) throws CFM2Exception {
            if (peer == null) throw new IllegalStateException("ECDH: doPhase(peerPublicKey, true) first");
            Tpl t = Importer.secretTemplate(keyType, Importer.randomLabel(), true, false).ulong(P11.CKA_VALUE_LEN, len);
            Msg mech = Tpl.mech(P11.CKM_ECDH1_DERIVE).put("kdf", P11.CKD_NULL).put("publicData", peer);
            return Hsm.get().call("deriveKey", Msg.of("mechanism", mech, "baseHandle", priv.getHandle(), "template", t.list), priv.epoch()).num("handle");
        }

        @Override
        protected byte[] engineGenerateSecret() {
            int n = (priv.getSize() + 7) / 8;
            try {
                long h = derive(P11.CKK_GENERIC_SECRET, n);
                KeyBase k = (KeyBase) KeyBase.fromHandle(h, Hsm.get().epoch());
                byte[] s = k.export();
                try {
                    Hsm.get().call("destroyObject", Msg.of("handle", h), k.epoch());
                } catch (CFM2Exception ignored) {
                    /* a session key: it ends with the session */
                }
                if (s == null) throw new ProviderException("the HSM did not export the shared secret");
                peer = null;
                return s;
            } catch (CFM2Exception e) {
                throw new ProviderException("HSM Error: " + e.getMessage(), e);
            }
        }

        @Override
        protected int engineGenerateSecret(byte[] out, int off) throws ShortBufferException {
            byte[] s = engineGenerateSecret();
            if (out.length - off < s.length) throw new ShortBufferException(s.length + " bytes needed");
            System.arraycopy(s, 0, out, off, s.length);
            return s.length;
        }

        @Override
        protected SecretKey engineGenerateSecret(String algorithm) throws NoSuchAlgorithmException {
            long type = Importer.secretType(algorithm);
            long len = type == P11.CKK_AES ? Math.min(32, (priv.getSize() + 7) / 8) : type == P11.CKK_DES3 ? 24 : (priv.getSize() + 7) / 8;
            try {
                long h = derive(type, len);
                peer = null;
                return (SecretKey) KeyBase.fromHandle(h, Hsm.get().epoch());
            } catch (CFM2Exception e) {
                throw new ProviderException("HSM Error: " + e.getMessage(), e);
            }
        }
    }
}
