package com.cavium.key;

import java.security.PrivateKey;

import org.opencloudhsm.jce.KeyBase;

/** An X25519 private key in the HSM (algorithm XDH). */
public class CaviumXDHPrivateKey extends KeyBase implements PrivateKey {
    private static final long serialVersionUID = 1L;

    public CaviumXDHPrivateKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes);
    }

    @Override
    public String getAlgorithm() {
        return "XDH";
    }

    @Override
    public String getFormat() {
        return "PKCS#8";
    }

    @Override
    public byte[] getEncoded() {
        return isExtractable() ? export() : null;
    }

    @Override
    public int getSize() {
        return 255;
    }
}
