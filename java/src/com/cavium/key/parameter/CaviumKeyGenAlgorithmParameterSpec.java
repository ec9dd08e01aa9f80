package com.cavium.key.parameter;

import java.security.spec.AlgorithmParameterSpec;

/** The attributes of a key to make or import: label (the KeyStore alias), extractable, persistent (a token key). */
public class CaviumKeyGenAlgorithmParameterSpec implements AlgorithmParameterSpec {
    private final String label;
    private final boolean extractable;
    private final boolean persistent;

    public CaviumKeyGenAlgorithmParameterSpec(String label, boolean extractable, boolean persistent) {
        this.label = label;
        this.extractable = extractable;
        this.persistent = persistent;
    }

    public String getLabel() {
        return label;
    }

    public boolean isExtractable() {
        return extractable;
    }

    public boolean isPersistent() {
        return persistent;
    }
}
