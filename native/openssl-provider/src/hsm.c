/*
 * hsm.c: the HSM requests only the provider makes: ECDH and the search for
 * private keys by label (the store). The connection, the sign-in and every
 * request both modules make are native/openssl-common's (osh.h); these two
 * go through its request helper, osh_request, like the rest.
 */
#include "osh_ck.h"
#include "prov.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ochsm_schema.h"

/* RFC 5649 unwrap of the wrapped secret, in OpenSSL (the default provider of prov_sw). */
static int unwrap_secret(const uint8_t *kek, const uint8_t *wrapped, size_t wrapped_len,
                         size_t secret_len, uint8_t **secret, size_t *out_len) {
    EVP_CIPHER *aes = EVP_CIPHER_fetch(prov_sw(), "AES-256-WRAP-PAD", NULL);
    EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0, ok;
    *secret = OPENSSL_malloc(wrapped_len + 16);
    ok = aes != NULL && cc != NULL && *secret != NULL && EVP_DecryptInit_ex2(cc, aes, kek, NULL, NULL) &&
         EVP_DecryptUpdate(cc, *secret, &n1, wrapped, (int)wrapped_len) &&
         EVP_DecryptFinal_ex(cc, *secret + n1, &n2) && (size_t)(n1 + n2) == secret_len;
    EVP_CIPHER_CTX_free(cc);
    EVP_CIPHER_free(aes);
    if (ok) {
        *out_len = secret_len;
        return 1;
    }
    OPENSSL_clear_free(*secret, wrapped_len + 16);
    *secret = NULL;
    OSH_ERR(OSH_R_INTERNAL, "the wrapped ECDH secret does not unwrap to %zu bytes", secret_len);
    return 0;
}

/* One request whose answer is one handle (field 4). */
static int request_handle(uint16_t opcode, ochsm_builder *b, const char *what, int repeatable, uint64_t *out) {
    ochsm_response r;
    int ok;
    if (!osh_request(opcode, b, what, repeatable, OSH_CALL_TIMEOUT_MS, &r)) return 0;
    ok = osh_result_u64(&r, 4, out);
    ochsm_response_free(&r);
    return ok;
}

/*
 * ECDH. The HSM keeps every key it holds sensitive, so the derived secret
 * cannot be read as CKA_VALUE; it leaves the HSM the way PKCS#11 lets any
 * extractable key leave: wrapped (CKM_AES_KEY_WRAP_PAD) under a one-time AES
 * key that the provider makes for this call. Both are session objects of a
 * session opened for the call, so closing it removes them.
 */
int prov_hsm_ecdh(uint64_t handle, const uint8_t *peer, size_t peer_len, size_t secret_len, uint8_t **secret,
                  size_t *out_len) {
    static const uint8_t yes = 1, no = 0;
    uint8_t cls[8], kt_aes[8], kt_gen[8], vlen[8], kek[32];
    uint64_t session = 0, kek_h = 0, derived = 0;
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    ochsm_builder b;
    ochsm_response r;
    char what[96];
    int ok = 0;

    if (RAND_priv_bytes(kek, sizeof kek) != 1) {
        OSH_ERR(OSH_R_INTERNAL, "no random bytes for the wrapping key");
        return 0;
    }
    osh_ulong_le(CKO_SECRET_KEY, cls);
    osh_ulong_le(CKK_AES, kt_aes);
    osh_ulong_le(CKK_GENERIC_SECRET, kt_gen);
    osh_ulong_le(secret_len, vlen);
    ochsm_builder_init(&b, NULL);
    if (!request_handle(OCHSM_OP_OPEN_SESSION, &b, "opening a session for ECDH", 1, &session)) goto done;
    {
        const ochsm_attr t[] = {
            {(uint32_t)CKA_CLASS, 8, cls}, {(uint32_t)CKA_TOKEN, 1, &no},    {(uint32_t)CKA_VALUE, sizeof kek, kek},
            {(uint32_t)CKA_KEY_TYPE, 8, kt_aes}, {(uint32_t)CKA_WRAP, 1, &yes},
        };
        ochsm_builder_init(&b, NULL);
        ochsm_put_u64(&b, 1, session);
        ochsm_put_attrs(&b, 2, t, sizeof t / sizeof t[0]);
    }
    if (!request_handle(OCHSM_OP_CREATE_OBJECT, &b, "the one-time wrapping key for ECDH", 0, &kek_h)) goto done;
    {
        const ochsm_attr t[] = {
            {(uint32_t)CKA_CLASS, 8, cls},       {(uint32_t)CKA_TOKEN, 1, &no},
            {(uint32_t)CKA_KEY_TYPE, 8, kt_gen}, {(uint32_t)CKA_VALUE_LEN, 8, vlen},
            {(uint32_t)CKA_EXTRACTABLE, 1, &yes},
        };
        ochsm_builder_init(&b, NULL);
        ochsm_put_u64(&b, 1, session);
        ochsm_begin_record(&b, 2);
        ochsm_put_u64(&b, 1, CKM_ECDH1_DERIVE);
        ochsm_put_u64(&b, 10, CKD_NULL);
        ochsm_put_bytes(&b, 12, peer, peer_len);
        ochsm_end_record(&b);
        ochsm_put_u64(&b, 3, handle);
        ochsm_put_attrs(&b, 4, t, sizeof t / sizeof t[0]);
    }
    snprintf(what, sizeof what, "ECDH with key handle %llu (mechanism 0x%llx)", (unsigned long long)handle,
             (unsigned long long)CKM_ECDH1_DERIVE);
    if (!request_handle(OCHSM_OP_DERIVE_KEY, &b, what, 0, &derived)) goto done;
    {
        const osh_mech m = {CKM_AES_KEY_WRAP_PAD, 0, 0, 0, 0, 0, NULL, 0};
        ochsm_builder_init(&b, NULL);
        ochsm_put_u64(&b, 1, session);
        osh_put_mechanism(&b, 2, &m);
        ochsm_put_u64(&b, 3, kek_h);
        ochsm_put_u64(&b, 4, derived);
    }
    if (!osh_request(OCHSM_OP_WRAP_KEY, &b, "wrapping the ECDH secret", 0, OSH_CALL_TIMEOUT_MS, &r)) goto done;
    ok = osh_result_bytes(&r, 4, &wrapped, &wrapped_len);
    ochsm_response_free(&r);
    if (ok) ok = unwrap_secret(kek, wrapped, wrapped_len, secret_len, secret, out_len);
done:
    OPENSSL_cleanse(kek, sizeof kek);
    OPENSSL_free(wrapped);
    if (session != 0) {
        ochsm_builder_init(&b, NULL);
        ochsm_put_u64(&b, 1, session);
        osh_request_quiet(OCHSM_OP_CLOSE_SESSION, &b);
    }
    return ok;
}

int prov_hsm_find_private(const char *label, uint64_t *handles, size_t max, size_t *count) {
    uint8_t cls[8];
    ochsm_builder b;
    ochsm_response r;
    ochsm_field f;
    ochsm_iter it;
    uint64_t h;
    osh_ulong_le(CKO_PRIVATE_KEY, cls);
    {
        const ochsm_attr t[] = {
            {(uint32_t)CKA_CLASS, 8, cls},
            {(uint32_t)CKA_LABEL, label != NULL ? (uint32_t)strlen(label) : 0, label},
        };
        ochsm_builder_init(&b, NULL);
        ochsm_put_attrs(&b, 2, t, label != NULL ? 2 : 1);
    }
    if (!osh_request(OCHSM_OP_FIND_OBJECTS, &b, "the search for private keys", 1, OSH_CALL_TIMEOUT_MS, &r)) return 0;
    *count = 0;
    if (!osh_result_field(&r, 4, &f) || ochsm_field_iter(&f, &it) != OCHSM_OK) {
        OSH_ERR(OSH_R_INTERNAL, "malformed findObjects answer");
        ochsm_response_free(&r);
        return 0;
    }
    while (ochsm_iter_u64(&it, &h) == 1) {
        if (*count < max) handles[*count] = h;
        (*count)++;
    }
    ochsm_response_free(&r);
    return 1;
}
