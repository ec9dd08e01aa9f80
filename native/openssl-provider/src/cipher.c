/*
 * cipher.c: RSA decryption with HSM keys (PKCS#1 v1.5 as CKM_RSA_PKCS, OAEP as
 * CKM_RSA_PKCS_OAEP with its hash, MGF1 and label). Encryption uses the public
 * key only and runs in OpenSSL's default provider. Other paddings are refused:
 * the HSM offers no raw RSA, and TLS 1.2's RSA key exchange padding
 * (RSA_PKCS1_WITH_TLS_PADDING, with its Bleichenbacher countermeasures) is not
 * an HSM mechanism; TLS clients then use an ECDHE suite.
 */
#include "osh_ck.h"
#include "prov.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#define MDNAME_MAX 64

typedef struct ac_ctx {
    prov_key *key;
    int decrypt;
    int pad;
    char oaep_md[MDNAME_MAX], mgf1_md[MDNAME_MAX];
    unsigned char *label;
    size_t label_len;
    EVP_PKEY_CTX *ectx; /* encryption: OpenSSL's */
} ac_ctx;

static void *ac_new(void *provctx) {
    ac_ctx *c = OPENSSL_zalloc(sizeof *c);
    (void)provctx;
    if (c != NULL) c->pad = RSA_PKCS1_PADDING;
    return c;
}

static void ac_free(void *vc) {
    ac_ctx *c = vc;
    if (c == NULL) return;
    prov_key_free(c->key);
    OPENSSL_free(c->label);
    EVP_PKEY_CTX_free(c->ectx);
    OPENSSL_free(c);
}

static void *ac_dup(void *vc) {
    ac_ctx *c = vc, *d = OPENSSL_memdup(c, sizeof *c);
    if (d == NULL) return NULL;
    d->key = prov_key_ref(c->key);
    d->label = c->label != NULL ? OPENSSL_memdup(c->label, c->label_len) : NULL;
    d->ectx = c->ectx != NULL ? EVP_PKEY_CTX_dup(c->ectx) : NULL;
    return d;
}

static int ac_set_ctx_params(void *vc, const OSSL_PARAM params[]);

static int ac_init(ac_ctx *c, void *key, int decrypt, const OSSL_PARAM params[]) {
    prov_key *k = key;
    if (k == NULL || k->pub == NULL) return 0;
    prov_key_free(c->key);
    c->key = prov_key_ref(k);
    c->decrypt = decrypt;
    if (!decrypt) {
        EVP_PKEY_CTX_free(c->ectx);
        c->ectx = EVP_PKEY_CTX_new_from_pkey(prov_sw(), k->pub, NULL);
        if (c->ectx == NULL || EVP_PKEY_encrypt_init(c->ectx) <= 0) return 0;
    }
    return ac_set_ctx_params(c, params);
}
static int enc_init(void *vc, void *key, const OSSL_PARAM p[]) { return ac_init(vc, key, 0, p); }
static int dec_init(void *vc, void *key, const OSSL_PARAM p[]) { return ac_init(vc, key, 1, p); }

static int ac_encrypt(void *vc, unsigned char *out, size_t *outlen, size_t outsize, const unsigned char *in,
                      size_t inlen) {
    ac_ctx *c = vc;
    *outlen = outsize;
    return c->ectx != NULL && EVP_PKEY_encrypt(c->ectx, out, outlen, in, inlen) > 0;
}

static int hash_mechanism(const char *name, uint64_t *hash, uint64_t *mgf) {
    EVP_MD *md = EVP_MD_fetch(prov_sw(), name, NULL);
    int nid = md != NULL ? EVP_MD_get_type(md) : NID_undef;
    EVP_MD_free(md);
    return osh_hash_mechanism(nid, hash, mgf);
}

static int ac_decrypt(void *vc, unsigned char *out, size_t *outlen, size_t outsize, const unsigned char *in,
                      size_t inlen) {
    ac_ctx *c = vc;
    osh_mech m = {CKM_RSA_PKCS, 0, 0, 0, 0, 0, NULL, 0};
    uint8_t *plain = NULL;
    size_t n = 0;
    if (out == NULL) {
        *outlen = (size_t)EVP_PKEY_get_size(c->key->pub);
        return 1;
    }
    if (!prov_key_ready(c->key, "RSA decryption")) return 0;
    if (c->pad == RSA_PKCS1_OAEP_PADDING) {
        const char *md = c->oaep_md[0] ? c->oaep_md : "SHA1";
        const char *mgf1 = c->mgf1_md[0] ? c->mgf1_md : md;
        uint64_t h, mgf, h2;
        if (!hash_mechanism(md, &h, &mgf) || !hash_mechanism(mgf1, &h2, &mgf)) {
            OSH_ERR(OSH_R_UNSUPPORTED, "OAEP in the HSM needs SHA-1 or SHA-2 (digest %s, MGF1 %s)", md, mgf1);
            return 0;
        }
        m.mechanism = CKM_RSA_PKCS_OAEP;
        m.has_hash = 1;
        m.hash_alg = h;
        m.mgf = mgf;
        m.source = c->label;
        m.source_len = c->label_len;
    } else if (c->pad != RSA_PKCS1_PADDING) {
        OSH_ERR(OSH_R_UNSUPPORTED,
                 "key handle %llu: RSA decryption with padding %d: the HSM decrypts PKCS#1 v1.5 and OAEP only (no raw RSA)",
                 (unsigned long long)c->key->handle, c->pad);
        return 0;
    }
    return osh_decrypt(c->key->handle, &m, in, inlen, &plain, &n) && osh_copy_answer(plain, n, out, outsize, outlen);
}

static const struct {
    int pad;
    const char *name;
} pads[] = {
    {RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15},
    {RSA_PKCS1_OAEP_PADDING, OSSL_PKEY_RSA_PAD_MODE_OAEP},
    {RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE},
    {RSA_X931_PADDING, OSSL_PKEY_RSA_PAD_MODE_X931},
};

static int ac_set_ctx_params(void *vc, const OSSL_PARAM params[]) {
    ac_ctx *c = vc;
    const OSSL_PARAM *p;
    if (params == NULL) return 1;
    if (!c->decrypt && c->ectx != NULL && EVP_PKEY_CTX_set_params(c->ectx, params) <= 0) return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL) {
        int pad = -1;
        size_t i;
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
            for (i = 0; i < sizeof pads / sizeof pads[0]; i++)
                if (strcmp(p->data, pads[i].name) == 0) pad = pads[i].pad;
        } else if (!OSSL_PARAM_get_int(p, &pad)) {
            return 0;
        }
        c->pad = pad;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL) {
        char *s = c->oaep_md;
        if (!OSSL_PARAM_get_utf8_string(p, &s, sizeof c->oaep_md)) return 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) != NULL) {
        char *s = c->mgf1_md;
        if (!OSSL_PARAM_get_utf8_string(p, &s, sizeof c->mgf1_md)) return 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) != NULL) {
        void *v = NULL;
        size_t n = 0;
        if (!OSSL_PARAM_get_octet_string(p, &v, 0, &n)) return 0;
        OPENSSL_free(c->label);
        c->label = v;
        c->label_len = n;
    }
    return 1;
}

static const OSSL_PARAM *ac_settable(void *vc, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, NULL),
        OSSL_PARAM_END,
    };
    (void)vc;
    (void)provctx;
    return p;
}

static int ac_get_ctx_params(void *vc, OSSL_PARAM params[]) {
    ac_ctx *c = vc;
    OSSL_PARAM *p;
    if ((p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL) {
        if (p->data_type == OSSL_PARAM_INTEGER) {
            if (!OSSL_PARAM_set_int(p, c->pad)) return 0;
        } else {
            size_t i;
            for (i = 0; i < sizeof pads / sizeof pads[0]; i++)
                if (pads[i].pad == c->pad && !OSSL_PARAM_set_utf8_string(p, pads[i].name)) return 0;
        }
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL &&
        !OSSL_PARAM_set_utf8_string(p, c->oaep_md[0] ? c->oaep_md : "SHA1"))
        return 0;
    return 1;
}

static const OSSL_PARAM *ac_gettable(void *vc, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vc;
    (void)provctx;
    return p;
}

const OSSL_DISPATCH prov_rsa_cipher[] = {
    {OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))ac_new},
    {OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))ac_free},
    {OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))ac_dup},
    {OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, (void (*)(void))enc_init},
    {OSSL_FUNC_ASYM_CIPHER_ENCRYPT, (void (*)(void))ac_encrypt},
    {OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, (void (*)(void))dec_init},
    {OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))ac_decrypt},
    {OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, (void (*)(void))ac_get_ctx_params},
    {OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, (void (*)(void))ac_gettable},
    {OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, (void (*)(void))ac_set_ctx_params},
    {OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, (void (*)(void))ac_settable},
    {0, NULL},
};
