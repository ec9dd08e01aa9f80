package org.opencloudhsm.jce;

import java.security.InvalidKeyException;
import java.security.Key;
import java.security.KeyFactory;
import java.security.KeyFactorySpi;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.KeySpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Locale;

import javax.crypto.SecretKey;
import javax.crypto.SecretKeyFactorySpi;
import javax.crypto.spec.DESedeKeySpec;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.key.CaviumKey;

/**
 * KeyFactory (RSA, EC) and SecretKeyFactory (AES, DESede, GenericSecret): a
 * software key or key spec becomes an HSM key (extractable, session, random
 * label; generic secrets persistent, as the guide says), and getKeySpec reads an
 * HSM key back (public keys from CKA_PUBLIC_KEY_INFO, others by export, which
 * the HSM allows for extractable keys only).
 */
public final class Factories {
    private Factories() {}

    static InvalidKeySpecException specError(Exception e) {
        return new InvalidKeySpecException(e instanceof CFM2Exception ? "HSM Error: " + e.getMessage() : e.getMessage(), e);
    }

    public static final class Asym extends KeyFactorySpi {
        private final String alg; /* RSA or EC */

        public Asym(String alg) {
            this.alg = alg;
        }

        private KeyFactory soft() throws InvalidKeySpecException {
            try {
                return KeyFactory.getInstance(alg, alg.equals("RSA") ? "SunRsaSign" : "SunEC");
            } catch (Exception e) {
                throw new InvalidKeySpecException(e.getMessage(), e);
            }
        }

        @Override
        protected PublicKey engineGeneratePublic(KeySpec spec) throws InvalidKeySpecException {
            PublicKey k = soft().generatePublic(spec);
            try {
                return PublicKeys.lazy(k);
            } catch (InvalidKeyException e) {
                throw specError(e);
            }
        }

        @Override
        protected PrivateKey engineGeneratePrivate(KeySpec spec) throws InvalidKeySpecException {
            PrivateKey k = soft().generatePrivate(spec);
            try {
                return (PrivateKey) Importer.importKey(k, null, true, false);
            } catch (InvalidKeyException | CFM2Exception e) {
                throw specError(e);
            }
        }

        @Override
        protected <T extends KeySpec> T engineGetKeySpec(Key key, Class<T> spec) throws InvalidKeySpecException {
            if (!(key instanceof CaviumKey)) return soft().getKeySpec(key, spec);
            if (!key.getAlgorithm().equals(alg)) throw new InvalidKeySpecException("a " + alg + " key is needed, got " + key.getAlgorithm());
            if (key instanceof PublicKeys.Base) return soft().getKeySpec(((PublicKeys.Base) key).soft(), spec);
            byte[] der = key.getEncoded();
            if (der == null) throw new InvalidKeySpecException("the key is not extractable: the HSM does not export it");
            PrivateKey k = soft().generatePrivate(new PKCS8EncodedKeySpec(der));
            return soft().getKeySpec(k, spec);
        }

        @Override
        protected Key engineTranslateKey(Key key) throws InvalidKeyException {
            if (key instanceof CaviumKey) return key;
            if (key == null || !key.getAlgorithm().equalsIgnoreCase(alg)) throw new InvalidKeyException("a " + alg + " key is needed, got " + (key == null ? "null" : key.getAlgorithm()));
            if (key instanceof PublicKey) return PublicKeys.lazy((PublicKey) key);
            try {
                return Importer.importKey(key, null, true, false);
            } catch (CFM2Exception e) {
                throw new InvalidKeyException("HSM Error: " + e.getMessage(), e);
            }
        }
    }

    public static final class Secret extends SecretKeyFactorySpi {
        private final String alg; /* AES, DESede, GenericSecret */

        public Secret(String alg) {
            this.alg = alg;
        }

        static final String[] GENERIC_NAMES = {"TlsRsaPremasterSecret", "TlsPremasterSecret", "GenericSecret", "HmacSHA1", "HmacSHA224", "HmacSHA256",
            "HmacSHA384", "HmacSHA512"};

        private boolean accepts(String a) {
            if (a == null) return false;
            if (alg.equals("GenericSecret")) {
                for (String n : GENERIC_NAMES) if (n.equalsIgnoreCase(a)) return true;
                return false;
            }
            return Importer.secretType(a) == Importer.secretType(alg);
        }

        private SecretKey make(byte[] v, String a) throws InvalidKeySpecException {
            try {
                return (SecretKey) Importer.importKey(new SecretKeySpec(v, a), null, true, alg.equals("GenericSecret"));
            } catch (InvalidKeyException | CFM2Exception e) {
                throw specError(e);
            }
        }

        @Override
        protected SecretKey engineGenerateSecret(KeySpec spec) throws InvalidKeySpecException {
            if (alg.equals("DESede") && spec instanceof DESedeKeySpec) return make(((DESedeKeySpec) spec).getKey(), "DESede");
            if (spec instanceof SecretKeySpec && accepts(((SecretKeySpec) spec).getAlgorithm())) {
                return make(((SecretKeySpec) spec).getEncoded(), alg.equals("GenericSecret") ? "GenericSecret" : alg);
            }
            throw new InvalidKeySpecException(alg + ": expected " + (alg.equals("DESede") ? "a DESedeKeySpec or " : "") + "a SecretKeySpec of algorithm "
                    + (alg.equals("GenericSecret") ? String.join(", ", GENERIC_NAMES) : alg) + ", got " + (spec == null ? "null" : spec.getClass().getName()
                    + (spec instanceof SecretKeySpec ? " (" + ((SecretKeySpec) spec).getAlgorithm() + ")" : "")));
        }

        @Override
        @SuppressWarnings({"rawtypes", "unchecked"})
        protected KeySpec engineGetKeySpec(SecretKey key, Class spec) throws InvalidKeySpecException {
            if (key == null || !accepts(key.getAlgorithm())) throw new InvalidKeySpecException("a " + alg + " key is needed");
            byte[] v = key.getEncoded();
            if (v == null) throw new InvalidKeySpecException("the key is not extractable: the HSM does not export it");
            try {
                if (spec != null && spec.isAssignableFrom(SecretKeySpec.class)) return new SecretKeySpec(v, key.getAlgorithm());
                if (spec != null && spec.isAssignableFrom(DESedeKeySpec.class) && alg.equals("DESede")) return new DESedeKeySpec(v);
            } catch (InvalidKeyException e) {
                throw new InvalidKeySpecException(e.getMessage(), e);
            }
            throw new InvalidKeySpecException("unsupported key spec " + (spec == null ? "null" : spec.getName()));
        }

        @Override
        protected SecretKey engineTranslateKey(SecretKey key) throws InvalidKeyException {
            if (key instanceof CaviumKey) return key;
            if (key == null || !accepts(key.getAlgorithm())) throw new InvalidKeyException("a " + alg + " key is needed, got " + (key == null ? "null" : key.getAlgorithm()));
            try {
                return (SecretKey) Importer.importKey(key, null, true, alg.equals("GenericSecret"));
            } catch (CFM2Exception e) {
                throw new InvalidKeyException("HSM Error: " + e.getMessage(), e);
            }
        }
    }

    static String upper(String s) {
        return s.toUpperCase(Locale.ROOT);
    }
}
