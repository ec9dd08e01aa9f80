/*
 * decoder.c: key-reference files (the engine's `genpkey` output, azcloudhsm_util
 * getCaviumPrivKey's, this provider's) as HSM keys.
 *
 * OpenSSL turns PEM into DER and hands the DER of a private key to every
 * decoder of the key's type: PKCS#8 (structure PrivateKeyInfo, the engine's
 * and this provider's files) and the type-specific forms (PKCS#1 "RSA PRIVATE
 * KEY", SEC1 "EC PRIVATE KEY", azcloudhsm_util's). This decoder parses the
 * DER with OpenSSL's own code (prov_sw) and looks for the marker block in the
 * private part (docs/cli.md "Key-reference PEM files"): with it, the result is
 * an HSM key with the file's public key, passed to keymgmt.c by reference;
 * without it, the file is an ordinary key and the decoder steps aside (returns
 * 1 without a result) so that the default provider's decoder takes it.
 */
#include "prov.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#define DER_MAX (256 * 1024)
#define S_PKI 1
#define S_TS 2

typedef struct dec_ctx {
    int type;
    int structure;
} dec_ctx;

static void *dec_new(int type, int structure) {
    dec_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (c == NULL) return NULL;
    c->type = type;
    c->structure = structure;
    return c;
}
static void *new_rsa_pki(void *provctx) { (void)provctx; return dec_new(PROV_KEY_RSA, S_PKI); }
static void *new_rsa_ts(void *provctx) { (void)provctx; return dec_new(PROV_KEY_RSA, S_TS); }
static void *new_ec_pki(void *provctx) { (void)provctx; return dec_new(PROV_KEY_EC, S_PKI); }
static void *new_ec_ts(void *provctx) { (void)provctx; return dec_new(PROV_KEY_EC, S_TS); }
static void dec_free(void *c) { OPENSSL_free(c); }

static int does_selection(void *provctx, int selection) {
    (void)provctx;
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

/* Read the whole input (at most DER_MAX bytes). */
static unsigned char *read_all(OSSL_CORE_BIO *in, size_t *len) {
    size_t cap = 4096, n = 0, got;
    unsigned char *buf = OPENSSL_malloc(cap), *nb;
    if (buf == NULL) return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= DER_MAX || (nb = OPENSSL_realloc(buf, cap * 2)) == NULL) {
                OPENSSL_clear_free(buf, n);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        got = 0;
        if (!prov_bio_read_ex(in, buf + n, cap - n, &got) || got == 0) break;
        n += got;
    }
    *len = n;
    return buf;
}

/* The software key in der, when it is a private key of the decoder's type and structure. */
static EVP_PKEY *parse(const dec_ctx *c, const unsigned char *der, size_t len) {
    const unsigned char *p = der;
    EVP_PKEY *pk = NULL;
    if (c->structure == S_PKI) {
        PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
        const ASN1_OBJECT *alg = NULL;
        if (p8 != NULL && PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8)) {
            int nid = OBJ_obj2nid(alg);
            if ((c->type == PROV_KEY_RSA && nid == NID_rsaEncryption) ||
                (c->type == PROV_KEY_EC && nid == NID_X9_62_id_ecPublicKey))
                pk = EVP_PKCS82PKEY_ex(p8, prov_sw(), NULL);
        }
        PKCS8_PRIV_KEY_INFO_free(p8);
    } else {
        pk = d2i_PrivateKey_ex(c->type == PROV_KEY_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC, NULL, &p, (long)len, prov_sw(), NULL);
    }
    return pk;
}

static int dec_decode(void *vc, OSSL_CORE_BIO *in, int selection, OSSL_CALLBACK *data_cb, void *data_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
    dec_ctx *c = vc;
    unsigned char *der;
    size_t len = 0;
    EVP_PKEY *sw;
    prov_key *k;
    int r, ok = 1;
    (void)pw_cb;
    (void)pw_cbarg;
    if (selection != 0 && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0) return 1;
    if ((der = read_all(in, &len)) == NULL) return 1;
    ERR_set_mark();
    sw = parse(c, der, len);
    ERR_pop_to_mark(); /* not a private key of this form: another decoder's business */
    OPENSSL_clear_free(der, len);
    if (sw == NULL) return 1;
    k = prov_key_new(c->type);
    r = k != NULL ? prov_key_from_sw(k, sw) : -1;
    EVP_PKEY_free(sw);
    if (r == 1) {
        int object_type = OSSL_OBJECT_PKEY;
        OSSL_PARAM params[4];
        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, (char *)prov_key_type_name(c->type), 0);
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof k);
        params[3] = OSSL_PARAM_construct_end();
        ok = data_cb(params, data_cbarg);
    } else if (r < 0) {
        ok = 0;
    }
    prov_key_free(k);
    return ok;
}

/* A key from this decoder reaches another provider's key management as its public parts. */
static int dec_export_object(void *vc, const void *reference, size_t reference_sz, OSSL_CALLBACK *export_cb,
                             void *export_cbarg) {
    prov_key *k;
    OSSL_PARAM *params = NULL;
    int ok;
    (void)vc;
    if (reference_sz != sizeof k) return 0;
    memcpy(&k, reference, sizeof k);
    if (k == NULL || k->pub == NULL || EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &params) <= 0) return 0;
    ok = export_cb(params, export_cbarg);
    OSSL_PARAM_free(params);
    return ok;
}

#define DECODER(name, NEW)                                                                 \
    const OSSL_DISPATCH name[] = {                                                         \
        {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))NEW},                                   \
        {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_free},                             \
        {OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))does_selection},                \
        {OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_decode},                            \
        {OSSL_FUNC_DECODER_EXPORT_OBJECT, (void (*)(void))dec_export_object},              \
        {0, NULL},                                                                         \
    }

DECODER(prov_rsa_decoder_pki, new_rsa_pki);
DECODER(prov_rsa_decoder_ts, new_rsa_ts);
DECODER(prov_ec_decoder_pki, new_ec_pki);
DECODER(prov_ec_decoder_ts, new_ec_ts);
