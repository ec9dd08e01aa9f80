/*
 * rsa.c: RSA through the HSM.
 *
 * Two hooks, because OpenSSL 3 reaches an RSA key by two roads:
 *
 *  - The EVP_PKEY_METHOD for EVP_PKEY_RSA (registered through the ENGINE's
 *    pkey_meths; `-engine` and nginx's `ssl_engine` make it the default). Every
 *    EVP_PKEY_CTX for an RSA key then uses it: the built-in method's code with
 *    a few functions wrapped. init turns a provider key into a legacy one
 *    (make_legacy); keygen creates the pair in the HSM and returns a key
 *    reference; sign and decrypt look at the key, and for a key reference
 *    map OpenSSL's padding settings onto one HSM mechanism (PKCS#1 v1.5 →
 *    CKM_RSA_PKCS over the DigestInfo, PSS → CKM_RSA_PKCS_PSS over the hash,
 *    OAEP → CKM_RSA_PKCS_OAEP). This level matters because PSS and OAEP are
 *    padded in software below it, and the HSM offers no raw RSA.
 *  - The RSA_METHOD (the default RSA method), for code that calls
 *    RSA_private_encrypt/decrypt on a key reference directly: PKCS#1 v1.5
 *    goes to the HSM; anything else is refused, never computed in software
 *    with the marker as exponent.
 *
 * Ordinary (software) RSA keys go to OpenSSL's own code unchanged.
 * Key-reference layout: docs/cli.md "Key-reference PEM files" (real n and e;
 * the 32-byte marker block in d, p, q, dP, dQ, qInv). Recognition reads d.
 */
#include "osh_ck.h"
#include "eng.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define DEFAULT_BITS 2048

static RSA_METHOD *g_rsa_meth;
static int (*sw_priv_enc)(int, const unsigned char *, unsigned char *, RSA *, int);
static int (*sw_priv_dec)(int, const unsigned char *, unsigned char *, RSA *, int);

static EVP_PKEY_METHOD *g_pmeth;
static int (*sw_init)(EVP_PKEY_CTX *);
static int (*sw_ctrl)(EVP_PKEY_CTX *, int, int, void *);
static int (*sw_copy)(EVP_PKEY_CTX *, const EVP_PKEY_CTX *);
static void (*sw_cleanup)(EVP_PKEY_CTX *);
static int (*sw_sign)(EVP_PKEY_CTX *, unsigned char *, size_t *, const unsigned char *, size_t);
static int (*sw_decrypt)(EVP_PKEY_CTX *, unsigned char *, size_t *, const unsigned char *, size_t);

/* ───────────────────────────── key references ───────────────────────────── */

/* 1 and the handle when rsa is a key reference. */
static int rsa_reference(const RSA *rsa, uint64_t *handle) {
    const BIGNUM *d = NULL;
    uint8_t buf[OSH_RSA_MARKER_LENGTH];
    if (rsa == NULL) return 0;
    RSA_get0_key(rsa, NULL, NULL, &d);
    if (d == NULL || BN_num_bytes(d) > OSH_RSA_MARKER_LENGTH) return 0;
    if (BN_bn2binpad(d, buf, OSH_RSA_MARKER_LENGTH) != OSH_RSA_MARKER_LENGTH) return 0;
    return osh_marker_read(buf, OSH_RSA_MARKER_LENGTH, handle);
}

/* The file's public key is the HSM key's (keyref.c). */
static int check_public(const RSA *rsa, uint64_t handle) {
    unsigned char *der = NULL;
    int n = i2d_RSA_PUBKEY(rsa, &der), ok;
    if (n <= 0) {
        OSH_ERR(OSH_R_KEYREF, "the key reference for key handle %llu has no usable public key",
                (unsigned long long)handle);
        return 0;
    }
    ok = osh_keyref_check_public(handle, der, (size_t)n);
    OPENSSL_free(der);
    return ok;
}

/* Run one HSM operation for a key reference and copy the answer to `to` (room: cap bytes). */
static int hsm_op(int decrypt, const RSA *rsa, uint64_t handle, const osh_mech *m, const uint8_t *in, size_t in_len,
                  unsigned char *to, size_t cap, size_t *out_len) {
    uint8_t *out = NULL;
    size_t n = 0;
    int ok;
    if (!check_public(rsa, handle)) return 0;
    ok = decrypt ? osh_decrypt(handle, m, in, in_len, &out, &n) : osh_sign(handle, m, in, in_len, &out, &n);
    return ok && osh_copy_answer(out, n, to, cap, out_len);
}

/* CKM_SHA* and CKG_MGF1_* for a digest. */
static int hash_mechanism(const EVP_MD *md, uint64_t *hash, uint64_t *mgf) {
    return md != NULL && osh_hash_mechanism(EVP_MD_get_type(md), hash, mgf);
}

static const char *md_name(const EVP_MD *md) { return md == NULL ? "none" : EVP_MD_get0_name(md); }

/* ───────────────────────────── RSA_METHOD ───────────────────────────── */

static int rm_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding) {
    uint64_t h;
    size_t n = 0;
    osh_mech m = {CKM_RSA_PKCS, 0, 0, 0, 0, 0, NULL, 0};
    if (!rsa_reference(rsa, &h)) return sw_priv_enc(flen, from, to, rsa, padding);
    if (padding != RSA_PKCS1_PADDING) {
        OSH_ERR(OSH_R_UNSUPPORTED,
                "key handle %llu: RSA private-key operation with padding %d: the HSM signs with PKCS#1 v1.5 and PSS "
                "through the engine's key method only (it offers no raw RSA)",
                (unsigned long long)h, padding);
        return -1;
    }
    if (flen < 0 || !hsm_op(0, rsa, h, &m, from, (size_t)flen, to, (size_t)RSA_size(rsa), &n)) return -1;
    return (int)n;
}

static int rm_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding) {
    uint64_t h;
    size_t n = 0;
    osh_mech m = {CKM_RSA_PKCS, 0, 0, 0, 0, 0, NULL, 0};
    if (!rsa_reference(rsa, &h)) return sw_priv_dec(flen, from, to, rsa, padding);
    if (padding == RSA_PKCS1_OAEP_PADDING) {
        /* RSA_private_decrypt's OAEP is SHA-1 with MGF1-SHA-1 and no label. */
        m.mechanism = CKM_RSA_PKCS_OAEP;
        m.has_hash = 1;
        m.hash_alg = CKM_SHA_1;
        m.mgf = CKG_MGF1_SHA1;
    } else if (padding != RSA_PKCS1_PADDING) {
        OSH_ERR(OSH_R_UNSUPPORTED,
                "key handle %llu: RSA decryption with padding %d: the HSM decrypts PKCS#1 v1.5 and OAEP only (no raw RSA)",
                (unsigned long long)h, padding);
        return -1;
    }
    if (flen < 0 || !hsm_op(1, rsa, h, &m, from, (size_t)flen, to, (size_t)RSA_size(rsa), &n)) return -1;
    return (int)n;
}

/* ───────────────────────────── keygen parameters ───────────────────────────── */

/*
 * The built-in method keeps rsa_keygen_bits and the public exponent in its own
 * private context, so the ctrl wrapper records them here too, per
 * EVP_PKEY_CTX (copy and cleanup keep the table in step).
 */
typedef struct keygen_params {
    const EVP_PKEY_CTX *ctx;
    int bits;
    uint8_t exp[64];
    size_t exp_len;
    struct keygen_params *next;
} keygen_params;

static keygen_params *g_params;
static pthread_mutex_t g_params_mu = PTHREAD_MUTEX_INITIALIZER;

/* Under g_params_mu: the entry of ctx, created when `create`. */
static keygen_params *params_locked(const EVP_PKEY_CTX *ctx, int create) {
    keygen_params *p;
    for (p = g_params; p != NULL; p = p->next)
        if (p->ctx == ctx) return p;
    if (!create || (p = calloc(1, sizeof *p)) == NULL) return NULL;
    p->ctx = ctx;
    p->next = g_params;
    g_params = p;
    return p;
}

static void params_drop(const EVP_PKEY_CTX *ctx) {
    keygen_params **pp, *p;
    pthread_mutex_lock(&g_params_mu);
    for (pp = &g_params; (p = *pp) != NULL; pp = &p->next) {
        if (p->ctx == ctx) {
            *pp = p->next;
            free(p);
            break;
        }
    }
    pthread_mutex_unlock(&g_params_mu);
}

/* ───────────────────────────── EVP_PKEY_METHOD ───────────────────────────── */

static pthread_mutex_t g_legacy_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * OpenSSL 3 decodes PEM keys into provider keys. Used through this (legacy)
 * method such a key is half in each world, and ASN1_item_sign_ctx (req, x509,
 * CMS) then asks the context for a parameter only providers answer, and
 * fails. So the key is turned into a legacy RSA key in place, the form
 * OpenSSL 1.1.1 had: same n, e, d..., now with the engine's RSA_METHOD.
 * The first context made for a key does it; see docs/openssl.md about threads.
 */
static void make_legacy(EVP_PKEY *pk) {
    RSA *rsa;
    if (pk == NULL || EVP_PKEY_get0_provider(pk) == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) return;
    pthread_mutex_lock(&g_legacy_mu);
    if (EVP_PKEY_get0_provider(pk) != NULL) {
        ERR_set_mark();
        rsa = EVP_PKEY_get1_RSA(pk);
        if (rsa != NULL && !EVP_PKEY_assign_RSA(pk, rsa)) RSA_free(rsa);
        ERR_pop_to_mark();
    }
    pthread_mutex_unlock(&g_legacy_mu);
}

static int pm_init(EVP_PKEY_CTX *ctx) {
    make_legacy(EVP_PKEY_CTX_get0_pkey(ctx));
    return sw_init == NULL ? 1 : sw_init(ctx);
}

static int pm_ctrl(EVP_PKEY_CTX *ctx, int type, int p1, void *p2) {
    uint8_t exp[64];
    int exp_len = -1, rv;
    if (type == EVP_PKEY_CTRL_RSA_KEYGEN_PUBEXP && p2 != NULL && BN_num_bytes((const BIGNUM *)p2) <= (int)sizeof exp)
        exp_len = BN_bn2bin((const BIGNUM *)p2, exp); /* before the built-in method takes p2 over */
    rv = sw_ctrl(ctx, type, p1, p2);
    if (rv > 0 && (type == EVP_PKEY_CTRL_RSA_KEYGEN_BITS || (type == EVP_PKEY_CTRL_RSA_KEYGEN_PUBEXP && exp_len > 0))) {
        keygen_params *p;
        pthread_mutex_lock(&g_params_mu);
        p = params_locked(ctx, 1);
        if (p != NULL && type == EVP_PKEY_CTRL_RSA_KEYGEN_BITS) p->bits = p1;
        if (p != NULL && type == EVP_PKEY_CTRL_RSA_KEYGEN_PUBEXP) {
            memcpy(p->exp, exp, (size_t)exp_len);
            p->exp_len = (size_t)exp_len;
        }
        pthread_mutex_unlock(&g_params_mu);
    }
    return rv;
}

static int pm_copy(EVP_PKEY_CTX *dst, const EVP_PKEY_CTX *src) {
    int rv = sw_copy(dst, src);
    keygen_params *s, *d;
    if (rv <= 0) return rv;
    pthread_mutex_lock(&g_params_mu);
    s = params_locked(src, 0);
    if (s != NULL && (d = params_locked(dst, 1)) != NULL) {
        d->bits = s->bits;
        memcpy(d->exp, s->exp, sizeof d->exp);
        d->exp_len = s->exp_len;
    }
    pthread_mutex_unlock(&g_params_mu);
    return rv;
}

static void pm_cleanup(EVP_PKEY_CTX *ctx) {
    params_drop(ctx);
    if (sw_cleanup != NULL) sw_cleanup(ctx);
}

/* A BIGNUM holding the marker block for handle. */
static BIGNUM *marker_bn(uint64_t handle) {
    uint8_t buf[OSH_RSA_MARKER_LENGTH];
    osh_marker_write(handle, buf, sizeof buf);
    return BN_bin2bn(buf, sizeof buf, NULL);
}

static int pm_keygen(EVP_PKEY_CTX *ctx, EVP_PKEY *pkey) {
    static const uint8_t f4[] = {0x01, 0x00, 0x01};
    int bits = DEFAULT_BITS;
    uint8_t exp[64];
    size_t exp_len = sizeof f4;
    uint64_t handle = 0;
    uint8_t *n = NULL, *e = NULL;
    size_t n_len = 0, e_len = 0;
    keygen_params *p;
    RSA *rsa;
    BIGNUM *bn_n, *bn_e, *bn_d, *bn_p, *bn_q, *bn_dp, *bn_dq, *bn_qi;

    memcpy(exp, f4, sizeof f4);
    pthread_mutex_lock(&g_params_mu);
    if ((p = params_locked(ctx, 0)) != NULL) {
        if (p->bits > 0) bits = p->bits;
        if (p->exp_len > 0) {
            memcpy(exp, p->exp, p->exp_len);
            exp_len = p->exp_len;
        }
    }
    pthread_mutex_unlock(&g_params_mu);

    if (!osh_generate_rsa((unsigned long)bits, exp, exp_len, ENG_ID, &handle, &n, &n_len, &e, &e_len)) return 0;
    rsa = RSA_new();
    bn_n = BN_bin2bn(n, (int)n_len, NULL);
    bn_e = BN_bin2bn(e, (int)e_len, NULL);
    bn_d = marker_bn(handle);
    bn_p = marker_bn(handle);
    bn_q = marker_bn(handle);
    bn_dp = marker_bn(handle);
    bn_dq = marker_bn(handle);
    bn_qi = marker_bn(handle);
    OPENSSL_free(n);
    OPENSSL_free(e);
    if (rsa == NULL || bn_n == NULL || bn_e == NULL || bn_d == NULL || bn_p == NULL || bn_q == NULL || bn_dp == NULL ||
        bn_dq == NULL || bn_qi == NULL || !RSA_set0_key(rsa, bn_n, bn_e, bn_d)) {
        BN_free(bn_n);
        BN_free(bn_e);
        BN_free(bn_d);
        BN_free(bn_p);
        BN_free(bn_q);
        BN_free(bn_dp);
        BN_free(bn_dq);
        BN_free(bn_qi);
        RSA_free(rsa);
        OSH_ERR(OSH_R_INTERNAL, "out of memory building the key reference for key handle %llu",
                (unsigned long long)handle);
        return 0;
    }
    if (!RSA_set0_factors(rsa, bn_p, bn_q) || !RSA_set0_crt_params(rsa, bn_dp, bn_dq, bn_qi) ||
        !RSA_set_method(rsa, g_rsa_meth) || !EVP_PKEY_assign_RSA(pkey, rsa)) {
        RSA_free(rsa);
        OSH_ERR(OSH_R_INTERNAL, "cannot build the key reference for key handle %llu", (unsigned long long)handle);
        return 0;
    }
    return 1;
}

/* The RSA key behind a context, when it is a key reference. */
static const RSA *ctx_reference(EVP_PKEY_CTX *ctx, uint64_t *handle) {
    EVP_PKEY *pk = EVP_PKEY_CTX_get0_pkey(ctx);
    const RSA *rsa;
    if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) return NULL;
    ERR_set_mark();
    rsa = EVP_PKEY_get0_RSA(pk);
    ERR_pop_to_mark();
    return rsa_reference(rsa, handle) ? rsa : NULL;
}

static int pm_sign(EVP_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs, size_t tbslen) {
    uint64_t h;
    const RSA *rsa = ctx_reference(ctx, &h);
    const EVP_MD *md = NULL, *mgf1 = NULL;
    int pad = RSA_PKCS1_PADDING, saltlen = RSA_PSS_SALTLEN_AUTO, ok;
    size_t k;
    osh_mech m = {CKM_RSA_PKCS, 0, 0, 0, 0, 0, NULL, 0};

    if (rsa == NULL) return sw_sign(ctx, sig, siglen, tbs, tbslen);
    k = (size_t)RSA_size(rsa);
    if (sig == NULL) {
        *siglen = k;
        return 1;
    }
    if (*siglen < k) {
        OSH_ERR(OSH_R_INTERNAL, "signature buffer too small");
        return 0;
    }
    sw_ctrl(ctx, EVP_PKEY_CTRL_GET_RSA_PADDING, 0, &pad);
    sw_ctrl(ctx, EVP_PKEY_CTRL_GET_MD, 0, (void *)&md);
    if (md != NULL && tbslen != (size_t)EVP_MD_get_size(md)) {
        OSH_ERR(OSH_R_UNSUPPORTED, "key handle %llu: %zu bytes to sign, but a %s digest has %d", (unsigned long long)h,
                tbslen, md_name(md), EVP_MD_get_size(md));
        return 0;
    }
    if (pad == RSA_PKCS1_PADDING) {
        unsigned char *der = NULL;
        int der_len = 0;
        if (md == NULL || EVP_MD_get_type(md) == NID_md5_sha1) {
            /* No digest set, or TLS 1.0's MD5+SHA-1: the data is signed as it is. */
            return hsm_op(0, rsa, h, &m, tbs, tbslen, sig, *siglen, siglen);
        }
        if (!osh_digest_info(md, tbs, tbslen, &der, &der_len)) return 0;
        ok = hsm_op(0, rsa, h, &m, der, (size_t)der_len, sig, *siglen, siglen);
        OPENSSL_free(der);
        return ok;
    }
    if (pad == RSA_PKCS1_PSS_PADDING) {
        uint64_t mgf_hash = 0, mgf_mgf = 0;
        int mod_bits = RSA_bits(rsa), hlen = md == NULL ? 0 : EVP_MD_get_size(md), em_len;
        sw_ctrl(ctx, EVP_PKEY_CTRL_GET_RSA_MGF1_MD, 0, (void *)&mgf1);
        sw_ctrl(ctx, EVP_PKEY_CTRL_GET_RSA_PSS_SALTLEN, 0, &saltlen);
        if (mgf1 == NULL) mgf1 = md;
        if (!hash_mechanism(md, &m.hash_alg, &mgf_mgf) || !hash_mechanism(mgf1, &mgf_hash, &m.mgf)) {
            OSH_ERR(OSH_R_UNSUPPORTED, "key handle %llu: RSA-PSS with digest %s and MGF1 %s: the HSM offers SHA-1 and SHA-2",
                    (unsigned long long)h, md_name(md), md_name(mgf1));
            return 0;
        }
        /* RFC 8017 §9.1.1: emLen = ceil((modBits - 1) / 8); the longest salt is emLen - hLen - 2. */
        em_len = (mod_bits - 1 + 7) / 8;
        if (saltlen == RSA_PSS_SALTLEN_DIGEST) saltlen = hlen;
        else if (saltlen == RSA_PSS_SALTLEN_AUTO || saltlen == RSA_PSS_SALTLEN_MAX) saltlen = em_len - hlen - 2;
        if (saltlen < 0) {
            OSH_ERR(OSH_R_UNSUPPORTED, "key handle %llu: RSA-PSS salt length %d", (unsigned long long)h, saltlen);
            return 0;
        }
        m.mechanism = CKM_RSA_PKCS_PSS;
        m.has_hash = 1;
        m.has_salt = 1;
        m.salt_len = (uint64_t)saltlen;
        return hsm_op(0, rsa, h, &m, tbs, tbslen, sig, *siglen, siglen);
    }
    OSH_ERR(OSH_R_UNSUPPORTED, "key handle %llu: RSA signing with padding %d: the HSM signs with PKCS#1 v1.5 and PSS",
            (unsigned long long)h, pad);
    return 0;
}

static int pm_decrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen, const unsigned char *in, size_t inlen) {
    uint64_t h;
    const RSA *rsa = ctx_reference(ctx, &h);
    int pad = RSA_PKCS1_PADDING;
    osh_mech m = {CKM_RSA_PKCS, 0, 0, 0, 0, 0, NULL, 0};
    uint8_t *plain = NULL;
    size_t n = 0;

    if (rsa == NULL) return sw_decrypt(ctx, out, outlen, in, inlen);
    if (out == NULL) {
        *outlen = (size_t)RSA_size(rsa);
        return 1;
    }
    sw_ctrl(ctx, EVP_PKEY_CTRL_GET_RSA_PADDING, 0, &pad);
    if (pad == RSA_PKCS1_OAEP_PADDING) {
        const EVP_MD *md = NULL, *mgf1 = NULL;
        unsigned char *label = NULL;
        uint64_t unused;
        int label_len;
        sw_ctrl(ctx, EVP_PKEY_CTRL_GET_RSA_OAEP_MD, 0, (void *)&md);
        sw_ctrl(ctx, EVP_PKEY_CTRL_GET_RSA_MGF1_MD, 0, (void *)&mgf1);
        label_len = sw_ctrl(ctx, EVP_PKEY_CTRL_GET_RSA_OAEP_LABEL, 0, (void *)&label);
        if (md == NULL) md = EVP_sha1();
        if (mgf1 == NULL) mgf1 = md;
        if (!hash_mechanism(md, &m.hash_alg, &unused) || !hash_mechanism(mgf1, &unused, &m.mgf)) {
            OSH_ERR(OSH_R_UNSUPPORTED, "key handle %llu: RSA-OAEP with digest %s and MGF1 %s: the HSM offers SHA-1 and SHA-2",
                    (unsigned long long)h, md_name(md), md_name(mgf1));
            return 0;
        }
        m.mechanism = CKM_RSA_PKCS_OAEP;
        m.has_hash = 1;
        if (label != NULL && label_len > 0) {
            m.source = label;
            m.source_len = (size_t)label_len;
        }
    } else if (pad != RSA_PKCS1_PADDING) {
        OSH_ERR(OSH_R_UNSUPPORTED, "key handle %llu: RSA decryption with padding %d: the HSM decrypts PKCS#1 v1.5 and OAEP",
                (unsigned long long)h, pad);
        return 0;
    }
    if (!check_public(rsa, h) || !osh_decrypt(h, &m, in, inlen, &plain, &n)) return 0;
    if (n > *outlen) {
        OSH_ERR(OSH_R_INTERNAL, "output buffer too small");
        OPENSSL_clear_free(plain, n);
        return 0;
    }
    memcpy(out, plain, n);
    OPENSSL_clear_free(plain, n);
    *outlen = n;
    return 1;
}

/* ───────────────────────────── registration ───────────────────────────── */

static const int pkey_nids[] = {EVP_PKEY_RSA};

int eng_rsa_pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid) {
    (void)e;
    if (pmeth == NULL) {
        *nids = pkey_nids;
        return (int)(sizeof pkey_nids / sizeof pkey_nids[0]);
    }
    if (nid == EVP_PKEY_RSA && g_pmeth != NULL) {
        *pmeth = g_pmeth;
        return 1;
    }
    *pmeth = NULL;
    return 0;
}

int eng_rsa_setup(ENGINE *e) {
    const RSA_METHOD *sw = RSA_PKCS1_OpenSSL();
    const EVP_PKEY_METHOD *builtin = EVP_PKEY_meth_find(EVP_PKEY_RSA);
    int id = 0, flags = 0;
    int (*init)(EVP_PKEY_CTX *) = NULL;
    int (*ctrl_str)(EVP_PKEY_CTX *, const char *, const char *) = NULL;

    if (g_rsa_meth == NULL) {
        g_rsa_meth = RSA_meth_dup(sw);
        if (g_rsa_meth == NULL) return 0;
        RSA_meth_set1_name(g_rsa_meth, ENG_NAME " RSA method");
        sw_priv_enc = RSA_meth_get_priv_enc(sw);
        sw_priv_dec = RSA_meth_get_priv_dec(sw);
        RSA_meth_set_priv_enc(g_rsa_meth, rm_priv_enc);
        RSA_meth_set_priv_dec(g_rsa_meth, rm_priv_dec);
    }
    if (g_pmeth == NULL && builtin != NULL) {
        EVP_PKEY_meth_get0_info(&id, &flags, builtin);
        g_pmeth = EVP_PKEY_meth_new(EVP_PKEY_RSA, flags);
        if (g_pmeth == NULL) return 0;
        EVP_PKEY_meth_copy(g_pmeth, builtin);
        EVP_PKEY_meth_get_init(builtin, &sw_init);
        EVP_PKEY_meth_set_init(g_pmeth, pm_init);
        EVP_PKEY_meth_get_ctrl(builtin, &sw_ctrl, &ctrl_str);
        EVP_PKEY_meth_get_copy(builtin, &sw_copy);
        EVP_PKEY_meth_get_cleanup(builtin, &sw_cleanup);
        EVP_PKEY_meth_get_sign(builtin, &init, &sw_sign);
        EVP_PKEY_meth_set_sign(g_pmeth, init, pm_sign);
        EVP_PKEY_meth_get_decrypt(builtin, &init, &sw_decrypt);
        EVP_PKEY_meth_set_decrypt(g_pmeth, init, pm_decrypt);
        EVP_PKEY_meth_get_keygen(builtin, &init, NULL);
        EVP_PKEY_meth_set_keygen(g_pmeth, init, pm_keygen);
        EVP_PKEY_meth_set_ctrl(g_pmeth, pm_ctrl, ctrl_str);
        EVP_PKEY_meth_set_copy(g_pmeth, pm_copy);
        EVP_PKEY_meth_set_cleanup(g_pmeth, pm_cleanup);
    }
    if (g_pmeth == NULL || sw_ctrl == NULL || sw_copy == NULL || sw_sign == NULL || sw_decrypt == NULL) return 0;
    return ENGINE_set_RSA(e, g_rsa_meth) && ENGINE_set_pkey_meths(e, eng_rsa_pkey_meths);
}

void eng_rsa_teardown(void) {
    /* g_pmeth and g_rsa_meth stay: contexts and keys made with them may outlive the ENGINE. */
}
