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

/* The new handles of a key-creating request. (Each such request carries the
 * session's creator tag, so the HSM destroys the session objects among them
 * when the session closes: session.c.) */
static CK_RV handles_of(ochsm_response *r, uint16_t id4, CK_OBJECT_HANDLE_PTR h4, uint16_t id5, CK_OBJECT_HANDLE_PTR h5) {
    uint64_t a, b = 0;
    if (!p11_result_u64(r, id4, &a) || (h5 && !p11_result_u64(r, id5, &b))) return CKR_DEVICE_ERROR;
    *h4 = (CK_OBJECT_HANDLE)a;
    if (h5) *h5 = (CK_OBJECT_HANDLE)b;
    return CKR_OK;
}

/* ───────────── C_GenerateKey ───────────── */

typedef struct {
    CK_ATTRIBUTE_PTR t;
    CK_ULONG n;
    CK_OBJECT_HANDLE_PTR out;
} gen_args;

static CK_RV gen_build(p11_req *q) {
    gen_args *a = q->ctx;
    if (a->out == NULL) return CKR_ARGUMENTS_BAD;
    ochsm_put_u64(&q->b, OCHSM_Q_GENERATE_KEY_SESSION, q->s->remote);
    p11_mech_put(&q->b, OCHSM_Q_GENERATE_KEY_MECHANISM, &q->m);
    CK_RV rv = p11_put_template(&q->b, OCHSM_Q_GENERATE_KEY_TEMPLATE, a->t, a->n);
    if (rv == CKR_OK) p11_put_creator(q->s, &q->b, OCHSM_Q_GENERATE_KEY_CREATOR); /* ids ascend */
    if (rv == CKR_OK) p11_put_read_only(q->s, &q->b, OCHSM_Q_GENERATE_KEY_READ_ONLY);
    return rv;
}

static CK_RV gen_parse(p11_req *q) {
    gen_args *a = q->ctx;
    return handles_of(&q->r, OCHSM_R_GENERATE_KEY_HANDLE, a->out, 0, NULL);
}

P11_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,
                               CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey) {
    gen_args a = {pTemplate, ulCount, phKey};
    return p11_request(hSession, OCHSM_OP_GENERATE_KEY, pMechanism, gen_build, gen_parse, &a);
}

/* ───────────── C_GenerateKeyPair ───────────── */

typedef struct {
    CK_ATTRIBUTE_PTR pub, priv;
    CK_ULONG npub, npriv;
    CK_OBJECT_HANDLE_PTR hpub, hpriv;
} pair_args;

static CK_RV pair_build(p11_req *q) {
    pair_args *a = q->ctx;
    CK_RV rv;
    if (a->hpub == NULL || a->hpriv == NULL) return CKR_ARGUMENTS_BAD;
    ochsm_put_u64(&q->b, OCHSM_Q_GENERATE_KEY_PAIR_SESSION, q->s->remote);
    p11_mech_put(&q->b, OCHSM_Q_GENERATE_KEY_PAIR_MECHANISM, &q->m);
    if ((rv = p11_put_template(&q->b, OCHSM_Q_GENERATE_KEY_PAIR_PUBLIC_TEMPLATE, a->pub, a->npub)) != CKR_OK) return rv;
    rv = p11_put_template(&q->b, OCHSM_Q_GENERATE_KEY_PAIR_PRIVATE_TEMPLATE, a->priv, a->npriv);
    if (rv == CKR_OK) p11_put_creator(q->s, &q->b, OCHSM_Q_GENERATE_KEY_PAIR_CREATOR); /* ids ascend */
    if (rv == CKR_OK) p11_put_read_only(q->s, &q->b, OCHSM_Q_GENERATE_KEY_PAIR_READ_ONLY);
    return rv;
}

static CK_RV pair_parse(p11_req *q) {
    pair_args *a = q->ctx;
    return handles_of(&q->r, OCHSM_R_GENERATE_KEY_PAIR_PUBLIC_HANDLE, a->hpub, OCHSM_R_GENERATE_KEY_PAIR_PRIVATE_HANDLE, a->hpriv);
}

P11_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                   CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                                   CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                                   CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey) {
    pair_args a = {pPublicKeyTemplate, pPrivateKeyTemplate, ulPublicKeyAttributeCount, ulPrivateKeyAttributeCount, phPublicKey,
                   phPrivateKey};
    return p11_request(hSession, OCHSM_OP_GENERATE_KEY_PAIR, pMechanism, pair_build, pair_parse, &a);
}

/* ───────────── C_WrapKey ───────────── */

typedef struct {
    CK_OBJECT_HANDLE wrapping, key;
    CK_BYTE_PTR out;
    CK_ULONG_PTR out_len;
} wrap_args;

static CK_RV wrap_build(p11_req *q) {
    wrap_args *a = q->ctx;
    if (a->out_len == NULL) return CKR_ARGUMENTS_BAD;
    if (!p11_number_ok(a->wrapping)) return CKR_WRAPPING_KEY_HANDLE_INVALID;
    if (!p11_number_ok(a->key)) return CKR_KEY_HANDLE_INVALID;
    ochsm_put_u64(&q->b, OCHSM_Q_WRAP_KEY_SESSION, q->s->remote);
    p11_mech_put(&q->b, OCHSM_Q_WRAP_KEY_MECHANISM, &q->m);
    ochsm_put_u64(&q->b, OCHSM_Q_WRAP_KEY_WRAPPING_HANDLE, a->wrapping);
    ochsm_put_u64(&q->b, OCHSM_Q_WRAP_KEY_KEY_HANDLE, a->key);
    return CKR_OK;
}

static CK_RV wrap_parse(p11_req *q) {
    wrap_args *a = q->ctx;
    const uint8_t *w;
    size_t wl;
    if (!p11_result_bytes(&q->r, OCHSM_R_WRAP_KEY_WRAPPED, &w, &wl)) return CKR_DEVICE_ERROR;
    return p11_output(w, wl, a->out, a->out_len);
}

P11_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
                           CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen) {
    wrap_args a = {hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen};
    return p11_request(hSession, OCHSM_OP_WRAP_KEY, pMechanism, wrap_build, wrap_parse, &a);
}

/* ───────────── C_UnwrapKey ───────────── */

typedef struct {
    CK_OBJECT_HANDLE unwrapping;
    CK_BYTE_PTR wrapped;
    CK_ULONG wrapped_len;
    CK_ATTRIBUTE_PTR t;
    CK_ULONG n;
    CK_OBJECT_HANDLE_PTR out;
} unwrap_args;

static CK_RV unwrap_build(p11_req *q) {
    unwrap_args *a = q->ctx;
    if (a->out == NULL || !p11_buf_ok(a->wrapped, a->wrapped_len)) return CKR_ARGUMENTS_BAD;
    if (a->wrapped_len > p11_max_data()) return CKR_WRAPPED_KEY_LEN_RANGE;
    if (!p11_number_ok(a->unwrapping)) return CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    ochsm_put_u64(&q->b, OCHSM_Q_UNWRAP_KEY_SESSION, q->s->remote);
    p11_mech_put(&q->b, OCHSM_Q_UNWRAP_KEY_MECHANISM, &q->m);
    ochsm_put_u64(&q->b, OCHSM_Q_UNWRAP_KEY_UNWRAPPING_HANDLE, a->unwrapping);
    ochsm_put_bytes(&q->b, OCHSM_Q_UNWRAP_KEY_WRAPPED, a->wrapped_len ? a->wrapped : (const uint8_t *)"", a->wrapped_len);
    CK_RV rv = p11_put_template(&q->b, OCHSM_Q_UNWRAP_KEY_TEMPLATE, a->t, a->n);
    if (rv == CKR_OK) p11_put_creator(q->s, &q->b, OCHSM_Q_UNWRAP_KEY_CREATOR); /* ids ascend */
    if (rv == CKR_OK) p11_put_read_only(q->s, &q->b, OCHSM_Q_UNWRAP_KEY_READ_ONLY);
    return rv;
}

static CK_RV unwrap_parse(p11_req *q) {
    unwrap_args *a = q->ctx;
    return handles_of(&q->r, OCHSM_R_UNWRAP_KEY_HANDLE, a->out, 0, NULL);
}

P11_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey,
                             CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                             CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey) {
    unwrap_args a = {hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate, ulAttributeCount, phKey};
    return p11_request(hSession, OCHSM_OP_UNWRAP_KEY, pMechanism, unwrap_build, unwrap_parse, &a);
}

/* ───────────── C_DeriveKey ───────────── */

typedef struct {
    CK_OBJECT_HANDLE base;
    CK_ATTRIBUTE_PTR t;
    CK_ULONG n;
    CK_OBJECT_HANDLE_PTR out;
} derive_args;

static CK_RV derive_build(p11_req *q) {
    derive_args *a = q->ctx;
    if (a->out == NULL) return CKR_ARGUMENTS_BAD;
    if (!p11_number_ok(a->base)) return CKR_KEY_HANDLE_INVALID;
    ochsm_put_u64(&q->b, OCHSM_Q_DERIVE_KEY_SESSION, q->s->remote);
    p11_mech_put(&q->b, OCHSM_Q_DERIVE_KEY_MECHANISM, &q->m);
    ochsm_put_u64(&q->b, OCHSM_Q_DERIVE_KEY_BASE_HANDLE, a->base);
    CK_RV rv = p11_put_template(&q->b, OCHSM_Q_DERIVE_KEY_TEMPLATE, a->t, a->n);
    if (rv == CKR_OK) p11_put_creator(q->s, &q->b, OCHSM_Q_DERIVE_KEY_CREATOR); /* ids ascend */
    if (rv == CKR_OK) p11_put_read_only(q->s, &q->b, OCHSM_Q_DERIVE_KEY_READ_ONLY);
    return rv;
}

static CK_RV derive_parse(p11_req *q) {
    derive_args *a = q->ctx;
    return handles_of(&q->r, OCHSM_R_DERIVE_KEY_HANDLE, a->out, 0, NULL);
}

P11_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
                             CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey) {
    derive_args a = {hBaseKey, pTemplate, ulAttributeCount, phKey};
    return p11_request(hSession, OCHSM_OP_DERIVE_KEY, pMechanism, derive_build, derive_parse, &a);
}
