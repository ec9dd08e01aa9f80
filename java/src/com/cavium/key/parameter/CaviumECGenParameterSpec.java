package com.cavium.key.parameter;

import java.security.spec.ECGenParameterSpec;

/** KeyPairGenerator parameters for EC: a standard curve name, the two labels, extractable (the private key), persistent. */
public class CaviumECGenParameterSpec extends ECGenParameterSpec {
    /** NIST P-256. */
    public static final String PRIME256 = "secp256r1";
    /** NIST P-256, the OpenSSL name the guide's samples use. */
    public static final String PRIME256V1 = "prime256v1";
    /** NIST P-384. */
    public static final String PRIME384 = "secp384r1";
    /** The Koblitz curve of the guide's samples. */
    public static final String SECP256K1 = "secp256k1";

    private final String publicKeyLabel;
    private final String privateKeyLabel;
    private final boolean extractable;
    private final boolean persistent;

    public CaviumECGenParameterSpec(String curveName, String publicKeyLabel, String privateKeyLabel, boolean extractable, boolean persistent) {
        super(curveName);
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
