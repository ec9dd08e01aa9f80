/*
 * sign.c: PKCS #11 v2.40 §5.11–5.12 signing, MACing and verification —
 * C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_VerifyInit, C_Verify,
 * C_VerifyUpdate, C_VerifyFinal — and C_SignRecoverInit, C_SignRecover,
 * C_VerifyRecoverInit, C_VerifyRecover, which the Azure guide lists as not
 * supported (the Azure Cloud HSM guides) and which return CKR_FUNCTION_NOT_SUPPORTED.
 *
 * Single-part calls are one sign or verify request; multi-part calls stream
 * through the node's context (stream.c; buffered when the node has no
 * multi-part form of the mechanism, see crypt.c). C_Sign and C_SignFinal follow
 * the output convention of §5.2 with the result kept for the retried call. A
 * wrong signature is the HSM's CKR_SIGNATURE_INVALID (or
 * CKR_SIGNATURE_LEN_RANGE), passed through.
 */
#include <string.h>

#include "p11.h"

P11_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return p11_op_start(hSession, P11_OP_SIGN, pMechanism, hKey, 1);
}

P11_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                        CK_ULONG_PTR pulSignatureLen) {
    return p11_op_single(hSession, P11_OP_SIGN, OCHSM_OP_SIGN, pData, ulDataLen, pSignature, pulSignatureLen);
}

P11_EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    return p11_op_feed(hSession, P11_OP_SIGN, pPart, ulPartLen);
}

P11_EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
    return p11_op_final(hSession, P11_OP_SIGN, OCHSM_OP_SIGN, pSignature, pulSignatureLen);
}

P11_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return p11_op_start(hSession, P11_OP_VERIFY, pMechanism, hKey, 1);
}

/* One verify request on data (this call's, or the buffered parts at Final); the operation ends. */
static CK_RV verify(CK_SESSION_HANDLE hSession, int final, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                    CK_ULONG ulSignatureLen) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    p11_op *op = &s->ops[P11_OP_VERIFY];
    if (!op->active) {
        p11_session_release(s);
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    if (final && op->mode == P11_MODE_STREAM) {
        rv = p11_stream_verify_final(s, op, pSignature, ulSignatureLen);
        p11_session_release(s);
        return rv;
    }
    const uint8_t *data = final ? op->acc : pData;
    size_t len = final ? op->acc_len : ulDataLen;
    if (!p11_buf_ok(data, len) || !p11_buf_ok(pSignature, ulSignatureLen)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (len > p11_max_data()) {
        rv = CKR_DATA_LEN_RANGE;
    } else if (ulSignatureLen > p11_max_data()) {
        rv = CKR_SIGNATURE_LEN_RANGE;
    } else {
        rv = p11_op_send(s, op, OCHSM_OP_VERIFY, data, len, pSignature, ulSignatureLen, NULL, NULL);
    }
    p11_op_reset(op);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                          CK_ULONG ulSignatureLen) {
    return verify(hSession, 0, pData, ulDataLen, pSignature, ulSignatureLen);
}

P11_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    return p11_op_feed(hSession, P11_OP_VERIFY, pPart, ulPartLen);
}

P11_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
    return verify(hSession, 1, NULL, 0, pSignature, ulSignatureLen);
}

/* ───────────────────────────── with recovery: not supported (the Azure Cloud HSM guides) ───────────────────────────── */

static CK_RV not_supported(void) {
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    (void)hSession, (void)pMechanism, (void)hKey;
    return not_supported();
}

P11_EXPORT CK_RV C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                               CK_ULONG_PTR pulSignatureLen) {
    (void)hSession, (void)pData, (void)ulDataLen, (void)pSignature, (void)pulSignatureLen;
    return not_supported();
}

P11_EXPORT CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    (void)hSession, (void)pMechanism, (void)hKey;
    return not_supported();
}

P11_EXPORT CK_RV C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen,
                                 CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen) {
    (void)hSession, (void)pSignature, (void)ulSignatureLen, (void)pData, (void)pulDataLen;
    return not_supported();
}
