package com.cavium.key;

import javax.crypto.SecretKey;

import org.opencloudhsm.jce.KeyBase;

/** A DESede key in the HSM. getEncoded() exports it when it is extractable (null otherwise). */
public class CaviumDES3Key extends KeyBase.Held implements SecretKey {
    private static final long serialVersionUID = 1L;

    public CaviumDES3Key(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "DESede", "RAW");
    }
}
