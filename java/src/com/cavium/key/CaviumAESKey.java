package com.cavium.key;

import javax.crypto.SecretKey;

import org.opencloudhsm.jce.KeyBase;

/** A AES key in the HSM. getEncoded() exports it when it is extractable (null otherwise). */
public class CaviumAESKey extends KeyBase.Held implements SecretKey {
    private static final long serialVersionUID = 1L;

    public CaviumAESKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "AES", "RAW");
    }
}
