package com.cavium.key;

import javax.crypto.SecretKey;

import org.opencloudhsm.jce.KeyBase;

/** A GenericSecret key in the HSM. getEncoded() exports it when it is extractable (null otherwise). */
public class CaviumGenericSecretKey extends KeyBase.Held implements SecretKey {
    private static final long serialVersionUID = 1L;

    public CaviumGenericSecretKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "GenericSecret", "RAW");
    }
}
