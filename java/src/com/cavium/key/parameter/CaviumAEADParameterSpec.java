package com.cavium.key.parameter;

import java.security.spec.AlgorithmParameterSpec;

/**
 * AES-CCM parameters as the guide's sample passes them: nonce, additional
 * authenticated data, tag length in bits. Taken by Cipher AES/CCM/NoPadding
 * (CKM_AES_CCM in the HSM; docs/jce.md). A null nonce on encryption lets the
 * provider draw one from the HSM.
 */
public class CaviumAEADParameterSpec implements AlgorithmParameterSpec {
    private final byte[] iv;
    private final byte[] aad;
    private final int tagLength;

    public CaviumAEADParameterSpec(byte[] iv, byte[] aad, int tagLength) {
        this.iv = iv == null ? null : iv.clone();
        this.aad = aad == null ? null : aad.clone();
        this.tagLength = tagLength;
    }

    public byte[] getIV() {
        return iv == null ? null : iv.clone();
    }

    public byte[] getAAD() {
        return aad == null ? null : aad.clone();
    }

    /** In bits. */
    public int getTagLength() {
        return tagLength;
    }
}
