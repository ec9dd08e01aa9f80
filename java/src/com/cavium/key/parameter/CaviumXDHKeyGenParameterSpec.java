package com.cavium.key.parameter;

import java.security.spec.NamedParameterSpec;

/**
 * KeyPairGenerator parameters for an X25519 pair (algorithm "XDH"): the two
 * labels, extractable (the private key), persistent. The guide names the class
 * without its constructor; this shape follows CaviumECGenParameterSpec.
 */
public class CaviumXDHKeyGenParameterSpec extends NamedParameterSpec {
    private final String publicKeyLabel;
    private final String privateKeyLabel;
    private final boolean extractable;
    private final boolean persistent;

    public CaviumXDHKeyGenParameterSpec(String publicKeyLabel, String privateKeyLabel, boolean extractable, boolean persistent) {
        super("X25519");
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
