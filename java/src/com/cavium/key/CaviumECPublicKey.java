package com.cavium.key;

import java.security.interfaces.ECPublicKey;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;

import org.opencloudhsm.jce.PublicKeys;

/** An EC public key in the HSM; its X.509 encoding comes from CKA_PUBLIC_KEY_INFO. */
public class CaviumECPublicKey extends PublicKeys.Base implements ECPublicKey {
    private static final long serialVersionUID = 1L;

    public CaviumECPublicKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "EC");
    }

    @Override
    public ECPoint getW() {
        return ((ECPublicKey) soft()).getW();
    }

    @Override
    public ECParameterSpec getParams() {
        return ((ECPublicKey) soft()).getParams();
    }
}
