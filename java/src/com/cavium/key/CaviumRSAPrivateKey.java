package com.cavium.key;

import java.math.BigInteger;
import java.security.PrivateKey;
import java.security.interfaces.RSAKey;

import org.opencloudhsm.jce.KeyBase;

/**
 * An RSA private key in the HSM. The modulus is public (RSAKey, so that tools
 * such as keytool and jarsigner learn the key size); getEncoded() is the PKCS#8
 * export of an extractable key, null for one that is not.
 */
public class CaviumRSAPrivateKey extends KeyBase.Held implements PrivateKey, RSAKey {
    private static final long serialVersionUID = 1L;

    public CaviumRSAPrivateKey(long handle, CaviumKeyAttributes attributes) {
        super(handle, attributes, "RSA", "PKCS#8");
    }

    @Override
    public BigInteger getModulus() {
        byte[] m = getAttributes().get(0x120);
        return m == null ? null : new BigInteger(1, m);
    }
}
