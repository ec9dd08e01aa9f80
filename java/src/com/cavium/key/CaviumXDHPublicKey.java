package com.cavium.key;

import org.opencloudhsm.jce.PublicKeys;

/** An X25519 public key in the HSM (algorithm XDH); its X.509 encoding comes from CKA_PUBLIC_KEY_INFO. */
public class CaviumXDHPublicKey extends PublicKeys.Base {
    private static final long serialVersionUID = 1L;

    public CaviumXDHPublicKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "XDH");
    }
}
