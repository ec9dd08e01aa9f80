package com.cavium.provider;

import java.security.Provider;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import org.opencloudhsm.jce.Agreements;
import org.opencloudhsm.jce.Ciphers;
import org.opencloudhsm.jce.Factories;
import org.opencloudhsm.jce.KeyGens;
import org.opencloudhsm.jce.KeyStores;
import org.opencloudhsm.jce.P11;
import org.opencloudhsm.jce.Sigs;

/**
 * The Cavium JCE provider ("Cavium"): every operation runs in the HSM, through
 * the client daemon azcloudhsm_client. Register it with
 * {@code Security.addProvider(new CaviumProvider())}, or statically in
 * java.security (docs/jce.md). Algorithm names are case-insensitive, with the
 * guide's aliases.
 */
public final class CaviumProvider extends Provider {
    private static final long serialVersionUID = 1L;
    public static final String PROVIDER_NAME = "Cavium";
    private static final String KEY_CLASSES = "com.cavium.key.CaviumKey";

    public CaviumProvider() {
        super(PROVIDER_NAME, "1.0", "Cavium provider for OpenCloudHSM (keys and operations in the HSM, through azcloudhsm_client)");
        register();
    }

    private void add(String type, String alg, List<String> aliases, boolean keyed, Supplier<Object> make) {
        Map<String, String> attrs = new HashMap<>();
        if (keyed) attrs.put("SupportedKeyClasses", KEY_CLASSES);
        putService(new Service(this, type, alg, make.get().getClass().getName(), aliases, attrs) {
            @Override
            public Object newInstance(Object param) {
                return make.get();
            }
        });
    }

    private static List<String> al(String... a) {
        return a.length == 0 ? null : new ArrayList<>(Arrays.asList(a));
    }

    private void register() {
        /* KeyGenerator: AES (default 256), DESede (192), the HMAC generic secrets (default: the digest length). */
        add("KeyGenerator", "AES", null, false, () -> new KeyGens.Secret("AES", 256));
        add("KeyGenerator", "DESede", al("TripleDES", "3DES"), false, () -> new KeyGens.Secret("DESede", 192));
        int[] hbits = {160, 224, 256, 384, 512};
        String[] hn = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"};
        for (int i = 0; i < hn.length; i++) {
            int b = hbits[i];
            add("KeyGenerator", "Hmac" + hn[i], null, false, () -> new KeyGens.Secret("GenericSecret", b));
        }
        add("KeyGenerator", "GenericSecret", null, false, () -> new KeyGens.Secret("GenericSecret", 256));

        /* KeyPairGenerator. */
        add("KeyPairGenerator", "RSA", null, false, () -> new KeyGens.Pair("RSA"));
        add("KeyPairGenerator", "EC", al("EllipticCurve"), false, () -> new KeyGens.Pair("EC"));
        add("KeyPairGenerator", "XDH", al("X25519"), false, () -> new KeyGens.Pair("XDH"));

        /* SecureRandom: the HSM's generator, at most 8000 bytes a request. */
        add("SecureRandom", "AES-CTR-DRBG", null, false, () -> new Sigs.Rng(8000));
        /* X9-17-RNG: the guide's second name, at most 16000 bytes a request. The HSM has one
         * generator (node:crypto's CSPRNG); both names draw from it (docs/jce.md). */
        add("SecureRandom", "X9-17-RNG", null, false, () -> new Sigs.Rng(16000));

        /* MessageDigest. */
        long[] hm = {P11.CKM_SHA_1, P11.CKM_SHA224, P11.CKM_SHA256, P11.CKM_SHA384, P11.CKM_SHA512};
        String[] dn = {"SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512"};
        for (int i = 0; i < dn.length; i++) {
            long m = hm[i];
            add("MessageDigest", dn[i], i == 0 ? al("SHA1", "SHA") : al(hn[i]), false, () -> new Sigs.Digest(m));
        }

        /* Mac: the HMAC family, with the guide's aliases. */
        long[] macs = {P11.CKM_SHA_1_HMAC, P11.CKM_SHA224_HMAC, P11.CKM_SHA256_HMAC, P11.CKM_SHA384_HMAC, P11.CKM_SHA512_HMAC};
        String[] macAlias = {"Hmac128SHA1", "Hmac128SHA224", "Hmac128SHA256", "Hmac256SHA384", "Hmac256SHA512"};
        int[] macLen = {20, 28, 32, 48, 64};
        for (int i = 0; i < macs.length; i++) {
            long m = macs[i];
            int l = macLen[i];
            add("Mac", "Hmac" + hn[i], al(macAlias[i]), true, () -> new Sigs.Hmac(m, l));
        }
        /* AESCMAC: CKM_AES_CMAC, the full 16-byte MAC (RFC 4493). */
        add("Mac", "AESCMAC", null, true, () -> new Sigs.Hmac(P11.CKM_AES_CMAC, 16));

        /* Cipher: the transformations of Ciphers.ROWS, their aliases, and the bare names. */
        for (Ciphers.Row r : Ciphers.ROWS) {
            List<String> aliases = null;
            for (String[] a : Ciphers.ALIASES) if (a[0].equals(r.name)) aliases = al(Arrays.copyOfRange(a, 1, a.length));
            add("Cipher", r.name, aliases, true, () -> new Ciphers.Spi(r));
        }
        add("Cipher", "AES", null, true, () -> new Ciphers.Spi("AES"));
        add("Cipher", "DESede", al("TripleDES"), true, () -> new Ciphers.Spi("DESede"));
        add("Cipher", "RSA", null, true, () -> new Ciphers.Spi("RSA"));

        /* Signature: PKCS#1 v1.5, PSS (two names each), ECDSA. */
        add("Signature", "NONEwithRSA", null, true, () -> new Sigs.Sig("RSA", P11.CKM_RSA_PKCS, -1));
        long[] rsa = {P11.CKM_SHA1_RSA_PKCS, P11.CKM_SHA224_RSA_PKCS, P11.CKM_SHA256_RSA_PKCS, P11.CKM_SHA384_RSA_PKCS, P11.CKM_SHA512_RSA_PKCS};
        long[] pss = {P11.CKM_SHA1_RSA_PKCS_PSS, P11.CKM_SHA224_RSA_PKCS_PSS, P11.CKM_SHA256_RSA_PKCS_PSS, P11.CKM_SHA384_RSA_PKCS_PSS, P11.CKM_SHA512_RSA_PKCS_PSS};
        long[] ecdsa = {P11.CKM_ECDSA_SHA1, P11.CKM_ECDSA_SHA224, P11.CKM_ECDSA_SHA256, P11.CKM_ECDSA_SHA384, P11.CKM_ECDSA_SHA512};
        for (int i = 0; i < hn.length; i++) {
            long a = rsa[i], p = pss[i], e = ecdsa[i], h = hm[i];
            add("Signature", hn[i] + "withRSA", null, true, () -> new Sigs.Sig("RSA", a, -1));
            add("Signature", hn[i] + "withRSA/PSS", al(hn[i] + "withRSAandMGF1"), true, () -> new Sigs.Sig("PSS", p, h));
            add("Signature", hn[i] + "withECDSA", null, true, () -> new Sigs.Sig("ECDSA", e, -1));
        }
        add("Signature", "NONEwithECDSA", null, true, () -> new Sigs.Sig("ECDSA", P11.CKM_ECDSA, -1));

        /* KeyAgreement. */
        add("KeyAgreement", "ECDH", null, true, Agreements.Ecdh::new);

        /* KeyFactory and SecretKeyFactory: software keys in, HSM keys out. */
        add("KeyFactory", "RSA", null, false, () -> new Factories.Asym("RSA"));
        add("KeyFactory", "EC", null, false, () -> new Factories.Asym("EC"));
        add("SecretKeyFactory", "AES", null, false, () -> new Factories.Secret("AES"));
        add("SecretKeyFactory", "DESede", al("TripleDES"), false, () -> new Factories.Secret("DESede"));
        add("SecretKeyFactory", "GenericSecret", null, false, () -> new Factories.Secret("GenericSecret"));

        /* KeyStore: LSKS (read-write, a file) and CAVIUM (read-only, the HSM itself). */
        add("KeyStore", "LSKS", null, false, KeyStores.Lsks::new);
        add("KeyStore", "CAVIUM", null, false, KeyStores.Cavium::new);
    }
}
