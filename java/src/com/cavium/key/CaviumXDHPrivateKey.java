package com.cavium.key;

import java.security.PrivateKey;

import org.opencloudhsm.jce.KeyBase;

/** An X25519 private key in the HSM (algorithm XDH). */
public class CaviumXDHPrivateKey extends KeyBase.Held implements PrivateKey {
    private static final long serialVersionUID = 1L;

    public CaviumXDHPrivateKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "XDH", "PKCS#8");
    }

    @Override
    public int getSize() {
        return 255;
    }
}
