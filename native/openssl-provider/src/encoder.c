/*
 * encoder.c: HSM keys written as key-reference files, so that
 * `openssl genpkey -provider azcloudhsm ... -out key.pem` and `req -newkey`
 * write what the engine writes: a PKCS#8 "PRIVATE KEY" (or, with -aes256 & co,
 * "ENCRYPTED PRIVATE KEY") whose public part is the HSM key's and whose
 * private part is the marker block naming the handle (docs/cli.md
 * "Key-reference PEM files"): RSA with the 32-byte marker in d, p, q, dP,
 * dQ, qInv; EC with the marker of the curve's scalar length. The file is
 * built by OpenSSL's own PKCS#8 encoder (prov_sw) from those numbers; no key
 * material is involved.
 *
 * Only private-key selections: the public key (pkey -pubout, certificates)
 * is written by the default provider from the exported public parts.
 */
#include "prov.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#define CIPHER_MAX 64

typedef struct enc_ctx {
    int type;
    int pem;
    char cipher[CIPHER_MAX];
} enc_ctx;

static void *enc_new(int type, int pem) {
    enc_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (c == NULL) return NULL;
    c->type = type;
    c->pem = pem;
    return c;
}
static void *new_rsa_pem(void *provctx) { (void)provctx; return enc_new(PROV_KEY_RSA, 1); }
static void *new_rsa_der(void *provctx) { (void)provctx; return enc_new(PROV_KEY_RSA, 0); }
static void *new_ec_pem(void *provctx) { (void)provctx; return enc_new(PROV_KEY_EC, 1); }
static void *new_ec_der(void *provctx) { (void)provctx; return enc_new(PROV_KEY_EC, 0); }
static void enc_free(void *c) { OPENSSL_free(c); }

static int does_selection(void *provctx, int selection) {
    (void)provctx;
    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int enc_set_ctx_params(void *vc, const OSSL_PARAM params[]) {
    enc_ctx *c = vc;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_CIPHER);
    if (p != NULL) {
        char *s = c->cipher;
        if (!OSSL_PARAM_get_utf8_string(p, &s, sizeof c->cipher)) return 0;
    }
    return 1;
}

static const OSSL_PARAM *enc_settable_ctx_params(void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_CIPHER, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return p;
}

static BIGNUM *marker_bn(uint64_t handle, size_t len) {
    uint8_t buf[66];
    if (len > sizeof buf) return NULL;
    osh_marker_write(handle, buf, len);
    return BN_bin2bn(buf, (int)len, NULL);
}

/* The key reference as a software key of prov_sw(): the real public key, the marker as private part. */
static EVP_PKEY *reference_key(const prov_key *k) {
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL, *pub = NULL;
    EVP_PKEY_CTX *pc = NULL;
    EVP_PKEY *out = NULL;
    BIGNUM *m = NULL;
    int ok = bld != NULL;
    if (ok && EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &pub) <= 0) ok = 0;
    if (ok && k->type == PROV_KEY_RSA) {
        static const char *const names[] = {OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
                                            OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
                                            OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
        size_t i;
        ok = (m = marker_bn(k->handle, OSH_RSA_MARKER_LENGTH)) != NULL;
        for (i = 0; ok && i < sizeof names / sizeof names[0]; i++) ok = OSSL_PARAM_BLD_push_BN(bld, names[i], m);
    } else if (ok) {
        size_t len = (size_t)(EVP_PKEY_get_bits(k->pub) + 7) / 8;
        ok = (m = marker_bn(k->handle, len)) != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, m);
    }
    if (ok) ok = (params = OSSL_PARAM_BLD_to_param(bld)) != NULL;
    if (ok) {
        OSSL_PARAM *all = OSSL_PARAM_merge(pub, params);
        ok = all != NULL && (pc = EVP_PKEY_CTX_new_from_name(prov_sw(), prov_key_type_name(k->type), NULL)) != NULL &&
             EVP_PKEY_fromdata_init(pc) > 0 && EVP_PKEY_fromdata(pc, &out, EVP_PKEY_KEYPAIR, all) > 0;
        OPENSSL_free(all); /* OSSL_PARAM_merge copies the array, not the data */
    }
    if (!ok) {
        EVP_PKEY_free(out);
        out = NULL;
    }
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_free(pub);
    OSSL_PARAM_BLD_free(bld);
    BN_free(m);
    return out;
}

static int enc_encode(void *vc, OSSL_CORE_BIO *out, const void *obj_raw, const OSSL_PARAM obj_abstract[],
                      int selection, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
    enc_ctx *c = vc;
    const prov_key *k = obj_raw;
    EVP_PKEY *ref;
    OSSL_ENCODER_CTX *ectx = NULL;
    unsigned char *data = NULL;
    size_t len = 0, written = 0;
    int ok;
    (void)obj_abstract;
    if (k == NULL || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0) return 0;
    if (!k->has_handle || k->pub == NULL) {
        OSH_ERR(OSH_R_UNSUPPORTED, "a public key has no key reference");
        return 0;
    }
    if ((ref = reference_key(k)) == NULL) {
        OSH_ERR(OSH_R_INTERNAL, "cannot build the key reference for key handle %llu", (unsigned long long)k->handle);
        return 0;
    }
    ectx = OSSL_ENCODER_CTX_new_for_pkey(ref, EVP_PKEY_KEYPAIR, c->pem ? "PEM" : "DER", "PrivateKeyInfo", NULL);
    ok = ectx != NULL && OSSL_ENCODER_CTX_get_num_encoders(ectx) > 0;
    if (ok && c->cipher[0] != '\0') {
        char pass[1024];
        size_t plen = 0;
        OSSL_PARAM none[] = {OSSL_PARAM_END};
        ok = cb != NULL && cb(pass, sizeof pass, &plen, none, cbarg) &&
             OSSL_ENCODER_CTX_set_cipher(ectx, c->cipher, NULL) &&
             OSSL_ENCODER_CTX_set_passphrase(ectx, (const unsigned char *)pass, plen);
        OPENSSL_cleanse(pass, sizeof pass);
    }
    if (ok) ok = OSSL_ENCODER_to_data(ectx, &data, &len);
    if (ok) ok = prov_bio_write_ex(out, data, len, &written) && written == len;
    if (!ok) OSH_ERR(OSH_R_INTERNAL, "cannot write the key reference for key handle %llu", (unsigned long long)k->handle);
    OPENSSL_free(data);
    OSSL_ENCODER_CTX_free(ectx);
    EVP_PKEY_free(ref);
    return ok;
}

/*
 * Text (`openssl pkey -text`, EVP_PKEY_print_private): the public key as
 * OpenSSL prints it, and where the private key is. Nothing private exists here
 * to print.
 */
static void *new_text(void *provctx) { (void)provctx; return enc_new(0, 0); }

static int text_does_selection(void *provctx, int selection) {
    (void)provctx;
    return (selection & (OSSL_KEYMGMT_SELECT_KEYPAIR | OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS)) != 0;
}

static int text_encode(void *vc, OSSL_CORE_BIO *out, const void *obj_raw, const OSSL_PARAM obj_abstract[],
                       int selection, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
    const prov_key *k = obj_raw;
    OSSL_ENCODER_CTX *ectx;
    unsigned char *data = NULL;
    size_t len = 0, written = 0;
    char line[160];
    int ok, n = 0;
    (void)vc;
    (void)obj_abstract;
    (void)cb;
    (void)cbarg;
    if (k == NULL || k->pub == NULL) return 0;
    ectx = OSSL_ENCODER_CTX_new_for_pkey(k->pub, EVP_PKEY_PUBLIC_KEY, "TEXT", NULL, NULL);
    ok = ectx != NULL && OSSL_ENCODER_to_data(ectx, &data, &len) && prov_bio_write_ex(out, data, len, &written);
    OSSL_ENCODER_CTX_free(ectx);
    OPENSSL_free(data);
    if (ok && k->has_handle && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
        n = snprintf(line, sizeof line, "Private-Key: in the HSM, key handle %llu (never exported)\n",
                     (unsigned long long)k->handle);
    if (ok && n > 0) ok = prov_bio_write_ex(out, line, (size_t)n, &written);
    return ok;
}

const OSSL_DISPATCH prov_text_encoder[] = {
    {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))new_text},
    {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_free},
    {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))text_does_selection},
    {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))text_encode},
    {0, NULL},
};

#define ENCODER(name, NEW)                                                                 \
    const OSSL_DISPATCH name[] = {                                                         \
        {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))NEW},                                   \
        {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_free},                             \
        {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))does_selection},                \
        {OSSL_FUNC_ENCODER_SET_CTX_PARAMS, (void (*)(void))enc_set_ctx_params},            \
        {OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS, (void (*)(void))enc_settable_ctx_params},  \
        {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))enc_encode},                            \
        {0, NULL},                                                                         \
    }

ENCODER(prov_rsa_encoder_pem, new_rsa_pem);
ENCODER(prov_rsa_encoder_der, new_rsa_der);
ENCODER(prov_ec_encoder_pem, new_ec_pem);
ENCODER(prov_ec_encoder_der, new_ec_der);
