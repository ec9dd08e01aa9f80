/*
 * keymgmt.c: PKCS #11 v2.40 §5.14 key management — C_GenerateKey,
 * C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey.
 *
 * Each is one request (generateKey, generateKeyPair, wrapKey, unwrapKey,
 * deriveKey) with the mechanism record (mech.c) and the templates as
 * CK_ATTRIBUTE bytes. What a template may hold, which defaults apply, whether a
 * key may be wrapped: the HSM decides (docs/decisions.md). The daemon adds the
 * idempotency key to these mutating requests, so a retry after a node failure
 * returns the first key instead of making a second.
 *
 * C_WrapKey follows the output convention of §5.2; a length query wraps once to
 * learn the length (wrapping changes nothing), and the call with the buffer
 * wraps again.
 */
#include <string.h>

#include "p11.h"

/* The new handles of a key-creating request (field 4, and 5 for a pair); the
 * session objects among them are remembered as s's (session.c). */
static CK_RV handles_of(p11_session *s, ochsm_response *r, CK_OBJECT_HANDLE_PTR h4, CK_OBJECT_HANDLE_PTR h5) {
    uint64_t a, b = 0;
    if (!p11_result_u64(r, 4, &a) || (h5 && !p11_result_u64(r, 5, &b))) return CKR_DEVICE_ERROR;
    *h4 = (CK_OBJECT_HANDLE)a;
    p11_track_new_object(s, *h4);
    if (h5) {
        *h5 = (CK_OBJECT_HANDLE)b;
        p11_track_new_object(s, *h5);
    }
    return CKR_OK;
}

P11_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,
                               CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    p11_mech m;
    ochsm_builder b;
    ochsm_response r;
    memset(&r, 0, sizeof r);
    ochsm_builder_init(&b, NULL);
    if ((rv = p11_mech_from(pMechanism, &m)) != CKR_OK) goto out;
    if (phKey == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    ochsm_put_u64(&b, 1, s->remote);
    p11_mech_put(&b, 2, &m);
    if ((rv = p11_put_template(&b, 3, pTemplate, ulCount)) != CKR_OK) goto out;
    if ((rv = p11_call(OCHSM_OP_GENERATE_KEY, &b, &r)) == CKR_OK) rv = handles_of(s, &r, phKey, NULL);
out:
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    p11_mech_free(&m);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                   CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                                   CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                                   CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    p11_mech m;
    ochsm_builder b;
    ochsm_response r;
    memset(&r, 0, sizeof r);
    ochsm_builder_init(&b, NULL);
    if ((rv = p11_mech_from(pMechanism, &m)) != CKR_OK) goto out;
    if (phPublicKey == NULL || phPrivateKey == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    ochsm_put_u64(&b, 1, s->remote);
    p11_mech_put(&b, 2, &m);
    if ((rv = p11_put_template(&b, 3, pPublicKeyTemplate, ulPublicKeyAttributeCount)) != CKR_OK) goto out;
    if ((rv = p11_put_template(&b, 4, pPrivateKeyTemplate, ulPrivateKeyAttributeCount)) != CKR_OK) goto out;
    if ((rv = p11_call(OCHSM_OP_GENERATE_KEY_PAIR, &b, &r)) == CKR_OK) rv = handles_of(s, &r, phPublicKey, phPrivateKey);
out:
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    p11_mech_free(&m);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
                           CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    p11_mech m;
    ochsm_builder b;
    ochsm_response r;
    memset(&r, 0, sizeof r);
    ochsm_builder_init(&b, NULL);
    if ((rv = p11_mech_from(pMechanism, &m)) != CKR_OK) goto out;
    if (pulWrappedKeyLen == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (!p11_number_ok(hWrappingKey)) {
        rv = CKR_WRAPPING_KEY_HANDLE_INVALID;
        goto out;
    }
    if (!p11_number_ok(hKey)) {
        rv = CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    ochsm_put_u64(&b, 1, s->remote);
    p11_mech_put(&b, 2, &m);
    ochsm_put_u64(&b, 3, hWrappingKey);
    ochsm_put_u64(&b, 4, hKey);
    if ((rv = p11_call(OCHSM_OP_WRAP_KEY, &b, &r)) == CKR_OK) {
        const uint8_t *w;
        size_t wl;
        if (p11_result_bytes(&r, 4, &w, &wl)) rv = p11_output(w, wl, pWrappedKey, pulWrappedKeyLen);
        else rv = CKR_DEVICE_ERROR;
    }
out:
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    p11_mech_free(&m);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey,
                             CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                             CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    p11_mech m;
    ochsm_builder b;
    ochsm_response r;
    memset(&r, 0, sizeof r);
    ochsm_builder_init(&b, NULL);
    if ((rv = p11_mech_from(pMechanism, &m)) != CKR_OK) goto out;
    if (phKey == NULL || !p11_buf_ok(pWrappedKey, ulWrappedKeyLen)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (ulWrappedKeyLen > P11_MAX_DATA) {
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
        goto out;
    }
    if (!p11_number_ok(hUnwrappingKey)) {
        rv = CKR_UNWRAPPING_KEY_HANDLE_INVALID;
        goto out;
    }
    ochsm_put_u64(&b, 1, s->remote);
    p11_mech_put(&b, 2, &m);
    ochsm_put_u64(&b, 3, hUnwrappingKey);
    ochsm_put_bytes(&b, 4, ulWrappedKeyLen ? pWrappedKey : (const uint8_t *)"", ulWrappedKeyLen);
    if ((rv = p11_put_template(&b, 5, pTemplate, ulAttributeCount)) != CKR_OK) goto out;
    if ((rv = p11_call(OCHSM_OP_UNWRAP_KEY, &b, &r)) == CKR_OK) rv = handles_of(s, &r, phKey, NULL);
out:
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    p11_mech_free(&m);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
                             CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    p11_mech m;
    ochsm_builder b;
    ochsm_response r;
    memset(&r, 0, sizeof r);
    ochsm_builder_init(&b, NULL);
    if ((rv = p11_mech_from(pMechanism, &m)) != CKR_OK) goto out;
    if (phKey == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (!p11_number_ok(hBaseKey)) {
        rv = CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    ochsm_put_u64(&b, 1, s->remote);
    p11_mech_put(&b, 2, &m);
    ochsm_put_u64(&b, 3, hBaseKey);
    if ((rv = p11_put_template(&b, 4, pTemplate, ulAttributeCount)) != CKR_OK) goto out;
    if ((rv = p11_call(OCHSM_OP_DERIVE_KEY, &b, &r)) == CKR_OK) rv = handles_of(s, &r, phKey, NULL);
out:
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    p11_mech_free(&m);
    p11_session_release(s);
    return rv;
}
