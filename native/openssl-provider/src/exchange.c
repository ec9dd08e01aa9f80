/*
 * exchange.c: ECDH with HSM keys: CKM_ECDH1_DERIVE with CKD_NULL and the peer's
 * uncompressed point; the HSM makes a session secret key of the field's length,
 * which is read (CKA_VALUE) and destroyed. No KDF here (OpenSSL applies its
 * own on the result when asked); cofactor mode is the same on the prime curves.
 */
#include "prov.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>

typedef struct kx_ctx {
    prov_key *key, *peer;
} kx_ctx;

static void *kx_new(void *provctx) {
    (void)provctx;
    return OPENSSL_zalloc(sizeof(kx_ctx));
}

static void kx_free(void *vc) {
    kx_ctx *c = vc;
    if (c == NULL) return;
    prov_key_free(c->key);
    prov_key_free(c->peer);
    OPENSSL_free(c);
}

static void *kx_dup(void *vc) {
    kx_ctx *c = vc, *d = OPENSSL_zalloc(sizeof *d);
    if (d == NULL) return NULL;
    d->key = prov_key_ref(c->key);
    d->peer = prov_key_ref(c->peer);
    return d;
}

static int kx_set_ctx_params(void *vc, const OSSL_PARAM params[]) {
    const OSSL_PARAM *p;
    (void)vc;
    if (params == NULL) return 1;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_TYPE)) != NULL) {
        const char *s = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s)) return 0;
        if (s[0] != '\0') {
            OSH_ERR(OSH_R_UNSUPPORTED, "ECDH with an HSM key gives the raw shared secret (KDF %s not offered)", s);
            return 0;
        }
    }
    return 1;
}

static const OSSL_PARAM *kx_settable(void *vc, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vc;
    (void)provctx;
    return p;
}

static int kx_init(void *vc, void *key, const OSSL_PARAM params[]) {
    kx_ctx *c = vc;
    prov_key *k = key;
    if (k == NULL || k->type != PROV_KEY_EC) return 0;
    prov_key_free(c->key);
    c->key = prov_key_ref(k);
    return kx_set_ctx_params(c, params);
}

static int kx_set_peer(void *vc, void *peer) {
    kx_ctx *c = vc;
    prov_key *p = peer;
    if (p == NULL || p->pub == NULL) return 0;
    prov_key_free(c->peer);
    c->peer = prov_key_ref(p);
    return 1;
}

static int kx_derive(void *vc, unsigned char *secret, size_t *secretlen, size_t outlen) {
    kx_ctx *c = vc;
    size_t field = (size_t)(EVP_PKEY_get_bits(c->key->pub) + 7) / 8, plen = 0, n = 0;
    unsigned char point[160];
    uint8_t *out = NULL;
    if (secret == NULL) {
        *secretlen = field;
        return 1;
    }
    if (c->peer == NULL) {
        OSH_ERR(OSH_R_INTERNAL, "ECDH without a peer key");
        return 0;
    }
    if (!prov_key_ready(c->key, "ECDH")) return 0;
    if (!EVP_PKEY_get_octet_string_param(c->peer->pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof point, &plen)) {
        OSH_ERR(OSH_R_UNSUPPORTED, "the peer key has no EC point");
        return 0;
    }
    return prov_hsm_ecdh(c->key->handle, point, plen, field, &out, &n) &&
           osh_copy_answer(out, n, secret, outlen, secretlen);
}

const OSSL_DISPATCH prov_ecdh_exchange[] = {
    {OSSL_FUNC_KEYEXCH_NEWCTX, (void (*)(void))kx_new},
    {OSSL_FUNC_KEYEXCH_FREECTX, (void (*)(void))kx_free},
    {OSSL_FUNC_KEYEXCH_DUPCTX, (void (*)(void))kx_dup},
    {OSSL_FUNC_KEYEXCH_INIT, (void (*)(void))kx_init},
    {OSSL_FUNC_KEYEXCH_SET_PEER, (void (*)(void))kx_set_peer},
    {OSSL_FUNC_KEYEXCH_DERIVE, (void (*)(void))kx_derive},
    {OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, (void (*)(void))kx_set_ctx_params},
    {OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS, (void (*)(void))kx_settable},
    {0, NULL},
};
