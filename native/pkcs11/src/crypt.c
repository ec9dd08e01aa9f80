/*
 * crypt.c: PKCS #11 v2.40 §5.8–5.9 encryption and decryption — C_EncryptInit,
 * C_Encrypt, C_EncryptUpdate, C_EncryptFinal, C_DecryptInit, C_Decrypt,
 * C_DecryptUpdate, C_DecryptFinal — the dual-function calls of §5.13
 * (not supported), and the operation plumbing that sign.c and digest.c share.
 *
 * Single-part calls are one request each (docs/protocol.md §6.2: encrypt,
 * decrypt, sign, digest carry the whole input, at most hello's maxData).
 * Multi-part calls stream through a context on the node (stream.c): each
 * C_EncryptUpdate / C_DecryptUpdate returns the whole blocks processed so far,
 * with no limit on the total. A mechanism the node cannot stream (AES-GCM,
 * RSA without hashing, ...) is buffered here instead, up to maxData (more is
 * CKR_DATA_LEN_RANGE), and sent in one request at *Final; its Updates return
 * 0 bytes (docs/pkcs11.md "Multi-part operations").
 *
 * Output buffers follow §5.2: a NULL buffer asks for the length and a short one
 * gets CKR_BUFFER_TOO_SMALL; either way the operation stays active. The module
 * learns the length by running the operation, keeps the result with the input
 * it came from, and the retried call with the same input gets that result
 * without a second request to the HSM (an RSA-PSS or ECDSA signature, or a
 * GCM encryption with an HSM-made IV, would otherwise differ between the two
 * calls). Any other outcome ends the operation.
 */
#include <stdlib.h>
#include <string.h>

#include "p11.h"

/* The CKF_* flag a mechanism needs for each kind of operation. */
static const CK_FLAGS NEEDED[P11_OP_COUNT] = {
    [P11_OP_ENCRYPT] = CKF_ENCRYPT, [P11_OP_DECRYPT] = CKF_DECRYPT, [P11_OP_SIGN] = CKF_SIGN,
    [P11_OP_VERIFY] = CKF_VERIFY,   [P11_OP_DIGEST] = CKF_DIGEST,
};

CK_RV p11_op_init(p11_session *s, int kind, const CK_MECHANISM *m, CK_OBJECT_HANDLE key, int needs_key) {
    p11_op *op = &s->ops[kind];
    if (op->active) return CKR_OPERATION_ACTIVE;
    if (m == NULL) return CKR_ARGUMENTS_BAD;
    if (needs_key && !p11_number_ok(key)) return CKR_KEY_HANDLE_INVALID;
    CK_RV rv = p11_mech_check(m->mechanism, NEEDED[kind]);
    if (rv != CKR_OK) return rv;
    rv = p11_mech_from(m, &op->mech);
    if (rv != CKR_OK) return rv;
    op->key = key;
    op->active = 1;
    return CKR_OK;
}

CK_RV p11_op_update(p11_op *op, const CK_BYTE *part, CK_ULONG len) {
    if (!p11_buf_ok(part, len)) {
        p11_op_reset(op);
        return CKR_ARGUMENTS_BAD;
    }
    op->multi = 1;
    if (len > p11_max_data() || op->acc_len + len > p11_max_data()) {
        p11_op_reset(op);
        return CKR_DATA_LEN_RANGE;
    }
    if (op->acc_len + len > op->acc_cap) {
        size_t cap = op->acc_cap ? op->acc_cap : 256;
        while (cap < op->acc_len + len) cap *= 2;
        if (cap > p11_max_data()) cap = p11_max_data();
        uint8_t *p = realloc(op->acc, cap);
        if (!p) {
            p11_op_reset(op);
            return CKR_HOST_MEMORY;
        }
        op->acc = p;
        op->acc_cap = cap;
    }
    if (len) memcpy(op->acc + op->acc_len, part, len);
    op->acc_len += len;
    return CKR_OK;
}

/* ───────────── the operation requests (p11_send) ───────────── */

typedef struct op_args {
    p11_op *op;
    uint16_t opcode;
    const uint8_t *in, *sig;
    size_t in_len, sig_len;
    uint8_t **out;
    size_t *out_len;
} op_args;

static const uint8_t EMPTY[1];

/* The field ids of each operation's request and result (generated from the protocol's OPS table). */
static void op_build_fields(p11_req *q, const op_args *a) {
    const uint8_t *in = a->in_len ? a->in : EMPTY;
    switch (a->opcode) {
    case OCHSM_OP_DIGEST:
        ochsm_put_u64(&q->b, OCHSM_Q_DIGEST_SESSION, q->s->remote);
        p11_mech_put(&q->b, OCHSM_Q_DIGEST_MECHANISM, &a->op->mech);
        ochsm_put_bytes(&q->b, OCHSM_Q_DIGEST_DATA, in, a->in_len);
        break;
    case OCHSM_OP_VERIFY:
        ochsm_put_u64(&q->b, OCHSM_Q_VERIFY_SESSION, q->s->remote);
        p11_mech_put(&q->b, OCHSM_Q_VERIFY_MECHANISM, &a->op->mech);
        ochsm_put_u64(&q->b, OCHSM_Q_VERIFY_HANDLE, a->op->key);
        ochsm_put_bytes(&q->b, OCHSM_Q_VERIFY_DATA, in, a->in_len);
        ochsm_put_bytes(&q->b, OCHSM_Q_VERIFY_SIGNATURE, a->sig_len ? a->sig : EMPTY, a->sig_len);
        break;
    default: /* encrypt, decrypt and sign share one request shape */
        ochsm_put_u64(&q->b, OCHSM_Q_SIGN_SESSION, q->s->remote);
        p11_mech_put(&q->b, OCHSM_Q_SIGN_MECHANISM, &a->op->mech);
        ochsm_put_u64(&q->b, OCHSM_Q_SIGN_HANDLE, a->op->key);
        ochsm_put_bytes(&q->b, OCHSM_Q_SIGN_DATA, in, a->in_len);
        break;
    }
}

_Static_assert(OCHSM_Q_ENCRYPT_SESSION == OCHSM_Q_SIGN_SESSION && OCHSM_Q_DECRYPT_SESSION == OCHSM_Q_SIGN_SESSION &&
                   OCHSM_Q_ENCRYPT_MECHANISM == OCHSM_Q_SIGN_MECHANISM && OCHSM_Q_DECRYPT_MECHANISM == OCHSM_Q_SIGN_MECHANISM &&
                   OCHSM_Q_ENCRYPT_HANDLE == OCHSM_Q_SIGN_HANDLE && OCHSM_Q_DECRYPT_HANDLE == OCHSM_Q_SIGN_HANDLE &&
                   OCHSM_Q_ENCRYPT_DATA == OCHSM_Q_SIGN_DATA && OCHSM_Q_DECRYPT_DATA == OCHSM_Q_SIGN_DATA,
               "encrypt, decrypt and sign requests share their field ids");

static CK_RV op_build(p11_req *q) {
    op_args *a = q->ctx;
    op_build_fields(q, a);
    return CKR_OK;
}

static uint16_t result_field(uint16_t opcode) {
    switch (opcode) {
    case OCHSM_OP_DIGEST: return OCHSM_R_DIGEST_DIGEST;
    case OCHSM_OP_SIGN: return OCHSM_R_SIGN_SIGNATURE;
    case OCHSM_OP_ENCRYPT: return OCHSM_R_ENCRYPT_DATA;
    default: return OCHSM_R_DECRYPT_DATA;
    }
}

static CK_RV op_parse(p11_req *q) {
    op_args *a = q->ctx;
    if (a->out == NULL) return CKR_OK; /* verify: the CK_RV is the answer */
    const uint8_t *p;
    size_t n;
    if (!p11_result_bytes(&q->r, result_field(a->opcode), &p, &n)) return CKR_DEVICE_ERROR;
    *a->out = malloc(n ? n : 1);
    if (!*a->out) return CKR_HOST_MEMORY;
    if (n) memcpy(*a->out, p, n);
    *a->out_len = n;
    return CKR_OK;
}

CK_RV p11_op_send(p11_session *s, p11_op *op, uint16_t opcode, const uint8_t *in, size_t in_len, const uint8_t *sig,
                  size_t sig_len, uint8_t **out, size_t *out_len) {
    op_args a = {.op = op, .opcode = opcode, .in = in, .in_len = in_len, .sig = sig, .sig_len = sig_len, .out = out, .out_len = out_len};
    p11_req q;
    memset(&q, 0, sizeof q);
    q.s = s;
    q.ctx = &a;
    return p11_send(&q, opcode, op_build, op_parse);
}

CK_RV p11_op_run_output(p11_session *s, p11_op *op, uint16_t opcode, const uint8_t *in, size_t in_len,
                        CK_BYTE_PTR out, CK_ULONG_PTR pulOut) {
    if (pulOut == NULL || !p11_buf_ok(in, in_len)) {
        p11_op_reset(op);
        return CKR_ARGUMENTS_BAD;
    }
    if (in_len > p11_max_data()) {
        p11_op_reset(op);
        return CKR_DATA_LEN_RANGE;
    }
    int reuse = op->cached && op->in_len == in_len && (in_len == 0 || memcmp(op->in, in, in_len) == 0);
    if (!reuse) {
        uint8_t *res = NULL;
        size_t res_len = 0;
        CK_RV rv = p11_op_send(s, op, opcode, in, in_len, NULL, 0, &res, &res_len);
        if (rv != CKR_OK) {
            p11_op_reset(op);
            return rv;
        }
        uint8_t *copy = malloc(in_len ? in_len : 1);
        if (!copy) {
            free(res);
            p11_op_reset(op);
            return CKR_HOST_MEMORY;
        }
        if (in_len) memcpy(copy, in, in_len);
        free(op->out);
        free(op->in);
        op->out = res;
        op->out_len = res_len;
        op->in = copy;
        op->in_len = in_len;
        op->cached = 1;
    }
    CK_RV rv = p11_output(op->out, op->out_len, out, pulOut);
    if (out != NULL && rv == CKR_OK) p11_op_reset(op); /* delivered: the operation is over */
    return rv;
}

/* ───────────────────────────── encrypt / decrypt ───────────────────────────── */

CK_RV p11_op_start(CK_SESSION_HANDLE h, int kind, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key, int needs_key) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(h, &s);
    if (rv != CKR_OK) return rv;
    rv = p11_op_init(s, kind, m, key, needs_key);
    p11_session_release(s);
    return rv;
}

/* Single-part: the data of this call. */
CK_RV p11_op_single(CK_SESSION_HANDLE h, int kind, uint16_t opcode, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                       CK_ULONG_PTR pulOut) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(h, &s);
    if (rv != CKR_OK) return rv;
    p11_op *op = &s->ops[kind];
    if (!op->active) rv = CKR_OPERATION_NOT_INITIALIZED;
    else rv = p11_op_run_output(s, op, opcode, in, in_len, out, pulOut);
    p11_session_release(s);
    return rv;
}

/* Update: the part goes to the node now, and the whole blocks processed so far come back (stream.c). */
static CK_RV op_update_out(CK_SESSION_HANDLE h, int kind, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                           CK_ULONG_PTR pulOut) {
    return p11_stream_update(h, kind, in, in_len, out, pulOut, 1);
}

/* Final: the node's context finishes (stream.c), or the buffered input goes in one request. */
CK_RV p11_op_final(CK_SESSION_HANDLE h, int kind, uint16_t opcode, CK_BYTE_PTR out, CK_ULONG_PTR pulOut) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(h, &s);
    if (rv != CKR_OK) return rv;
    p11_op *op = &s->ops[kind];
    if (!op->active) rv = CKR_OPERATION_NOT_INITIALIZED;
    else if (op->mode == P11_MODE_STREAM) rv = p11_stream_final(s, op, out, pulOut);
    else rv = p11_op_run_output(s, op, opcode, op->acc, op->acc_len, out, pulOut);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return p11_op_start(hSession, P11_OP_ENCRYPT, pMechanism, hKey, 1);
}

P11_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData,
                           CK_ULONG_PTR pulEncryptedDataLen) {
    return p11_op_single(hSession, P11_OP_ENCRYPT, OCHSM_OP_ENCRYPT, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen);
}

P11_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                                 CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen) {
    return op_update_out(hSession, P11_OP_ENCRYPT, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen);
}

P11_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                                CK_ULONG_PTR pulLastEncryptedPartLen) {
    return p11_op_final(hSession, P11_OP_ENCRYPT, OCHSM_OP_ENCRYPT, pLastEncryptedPart, pulLastEncryptedPartLen);
}

P11_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return p11_op_start(hSession, P11_OP_DECRYPT, pMechanism, hKey, 1);
}

P11_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
                           CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen) {
    return p11_op_single(hSession, P11_OP_DECRYPT, OCHSM_OP_DECRYPT, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen);
}

P11_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,
                                 CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen) {
    return op_update_out(hSession, P11_OP_DECRYPT, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen);
}

P11_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen) {
    return p11_op_final(hSession, P11_OP_DECRYPT, OCHSM_OP_DECRYPT, pLastPart, pulLastPartLen);
}

/* Update without output (sign, verify, digest): streamed to the node (stream.c). */
CK_RV p11_op_feed(CK_SESSION_HANDLE h, int kind, CK_BYTE_PTR in, CK_ULONG in_len) {
    return p11_stream_update(h, kind, in, in_len, NULL, NULL, 0);
}

/* ───────────────────────────── dual-function (§5.13): not supported ───────────────────────────── */

static CK_RV not_supported(void) {
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                                       CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen) {
    (void)hSession, (void)pPart, (void)ulPartLen, (void)pEncryptedPart, (void)pulEncryptedPartLen;
    return not_supported();
}

P11_EXPORT CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                                       CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen) {
    (void)hSession, (void)pEncryptedPart, (void)ulEncryptedPartLen, (void)pPart, (void)pulPartLen;
    return not_supported();
}

P11_EXPORT CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                                     CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen) {
    (void)hSession, (void)pPart, (void)ulPartLen, (void)pEncryptedPart, (void)pulEncryptedPartLen;
    return not_supported();
}

P11_EXPORT CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                                       CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen) {
    (void)hSession, (void)pEncryptedPart, (void)ulEncryptedPartLen, (void)pPart, (void)pulPartLen;
    return not_supported();
}
