package com.cavium.key.parameter;

/** KeyGenerator parameters for a GenericSecret key: the size in bits, label, extractable, persistent. */
public class CaviumGenericSecretKeyGenParameterSpec extends CaviumKeyGenAlgorithmParameterSpec {
    private final int keySize;

    public CaviumGenericSecretKeyGenParameterSpec(int keySize, String label, boolean extractable, boolean persistent) {
        super(label, extractable, persistent);
        this.keySize = keySize;
    }

    /** In bits. */
    public int getKeySize() {
        return keySize;
    }
}
