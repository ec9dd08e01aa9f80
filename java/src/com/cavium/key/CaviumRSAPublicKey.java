package com.cavium.key;

import java.math.BigInteger;
import java.security.interfaces.RSAPublicKey;

import org.opencloudhsm.jce.PublicKeys;

/** An RSA public key in the HSM; its X.509 encoding comes from CKA_PUBLIC_KEY_INFO. */
public class CaviumRSAPublicKey extends PublicKeys.Base implements RSAPublicKey {
    private static final long serialVersionUID = 1L;

    public CaviumRSAPublicKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "RSA");
    }

    @Override
    public BigInteger getModulus() {
        return ((RSAPublicKey) soft()).getModulus();
    }

    @Override
    public BigInteger getPublicExponent() {
        return ((RSAPublicKey) soft()).getPublicExponent();
    }
}
