/*
 * digest.c: PKCS #11 v2.40 §5.10 message digesting — C_DigestInit, C_Digest,
 * C_DigestUpdate, C_DigestFinal — and C_DigestKey (not supported: the HSM
 * offers no digest over a key's value).
 *
 * A digest needs no key and no sign-in; it is one `digest` request with the
 * whole input, or, in parts, a stream through the node (stream.c), and the output follows
 * the §5.2 convention.
 */
#include "p11.h"

P11_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism) {
    return p11_op_start(hSession, P11_OP_DIGEST, pMechanism, 0, 0);
}

P11_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
                          CK_ULONG_PTR pulDigestLen) {
    return p11_op_single(hSession, P11_OP_DIGEST, OCHSM_OP_DIGEST, pData, ulDataLen, pDigest, pulDigestLen);
}

P11_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    return p11_op_feed(hSession, P11_OP_DIGEST, pPart, ulPartLen);
}

P11_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey) {
    (void)hKey;
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    rv = s->ops[P11_OP_DIGEST].active ? CKR_FUNCTION_NOT_SUPPORTED : CKR_OPERATION_NOT_INITIALIZED;
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen) {
    return p11_op_final(hSession, P11_OP_DIGEST, OCHSM_OP_DIGEST, pDigest, pulDigestLen);
}
