package com.cavium.key;

import java.security.Key;

/**
 * A key that lives in the HSM: the Java object holds its handle and
 * attributes, never its material (getEncoded() asks the HSM to export an
 * extractable key, and answers null for one that is not).
 */
public interface CaviumKey extends Key {
    /** The HSM's object handle. */
    long getHandle();

    /** CKA_LABEL: the KeyStore alias. */
    String getLabel();

    /** CKA_EXTRACTABLE (public keys are always extractable). */
    boolean isExtractable();

    /** CKA_TOKEN: a token key outlives the session, a session key ends with it. */
    boolean isPersistent();

    /** The key size in bits. */
    int getSize();

    /** The attributes as the HSM reported them when the object was made. */
    CaviumKeyAttributes getAttributes();
}
