package com.cavium.key;

import java.security.PrivateKey;
import java.security.interfaces.ECKey;
import java.security.spec.ECParameterSpec;

import org.opencloudhsm.jce.KeyBase;

/** An EC private key in the HSM. getParams() names its curve; getEncoded() is the PKCS#8 export of an extractable key. */
public class CaviumECPrivateKey extends KeyBase.Held implements PrivateKey, ECKey {
    private static final long serialVersionUID = 1L;

    public CaviumECPrivateKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "EC", "PKCS#8");
    }

    @Override
    public ECParameterSpec getParams() {
        return ecParams(getAttributes().get(0x180));
    }

    @Override
    public int getSize() {
        ECParameterSpec p = getParams();
        return p == null ? -1 : p.getCurve().getField().getFieldSize();
    }
}
