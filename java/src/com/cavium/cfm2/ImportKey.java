package com.cavium.cfm2;

import java.security.InvalidKeyException;
import java.security.Key;

import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumKeyGenAlgorithmParameterSpec;

import org.opencloudhsm.jce.Importer;

/** Import a software key into the HSM, with the label, extractability and persistence of the spec. */
public final class ImportKey {
    private ImportKey() {}

    public static CaviumKey importKey(Key key, CaviumKeyGenAlgorithmParameterSpec spec) throws InvalidKeyException, CFM2Exception {
        if (key instanceof CaviumKey) throw new InvalidKeyException("The key is an instance of CaviumKey and cannot be imported");
        if (spec == null) throw new InvalidKeyException("importKey: a CaviumKeyGenAlgorithmParameterSpec is required (label, extractable, persistent)");
        return Importer.importKey(key, spec.getLabel(), spec.isExtractable(), spec.isPersistent());
    }
}
