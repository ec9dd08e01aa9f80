package com.cavium.key.parameter;

import java.math.BigInteger;
import java.security.spec.RSAKeyGenParameterSpec;

/** KeyPairGenerator parameters for RSA: size in bits, public exponent, the two labels, extractable (the private key), persistent. */
public class CaviumRSAKeyGenParameterSpec extends RSAKeyGenParameterSpec {
    private final String publicKeyLabel;
    private final String privateKeyLabel;
    private final boolean extractable;
    private final boolean persistent;

    public CaviumRSAKeyGenParameterSpec(int keySize, BigInteger publicExponent, String publicKeyLabel, String privateKeyLabel, boolean extractable,
            boolean persistent) {
        super(keySize, publicExponent);
        this.publicKeyLabel = publicKeyLabel;
        this.privateKeyLabel = privateKeyLabel;
        this.extractable = extractable;
        this.persistent = persistent;
    }

    public String getPublicKeyLabel() {
        return publicKeyLabel;
    }

    public String getPrivateKeyLabel() {
        return privateKeyLabel;
    }

    public boolean isExtractable() {
        return extractable;
    }

    public boolean isPersistent() {
        return persistent;
    }
}
