/*
 * signature.c: signatures with HSM keys.
 *
 * Signing sends one request: RSA PKCS#1 v1.5 (CKM_RSA_PKCS over the
 * DigestInfo, or over the caller's bytes when no digest is set), RSA-PSS
 * (CKM_RSA_PKCS_PSS over the hash, with its hash, MGF1 and salt length),
 * ECDSA (CKM_ECDSA over the hash; the HSM's r ‖ s becomes a DER
 * ECDSA-Sig-Value) and Ed25519 (CKM_EDDSA over the message). Hashing for
 * DigestSign runs in OpenSSL (prov_sw): it needs no key. Any other padding is
 * refused: the HSM offers no raw RSA, and OpenSSL must not sign with a key
 * reference itself.
 *
 * Verification needs no secret: it runs in OpenSSL's default provider with the
 * key's public half (the same answer the HSM would give).
 */
#include "osh_ck.h"
#include "prov.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define OP_SIGN 1
#define OP_VERIFY 2
#define MDNAME_MAX 64

typedef struct sig_ctx {
    int type;
    int op;
    prov_key *key;
    char mdname[MDNAME_MAX];
    char mgf1name[MDNAME_MAX];
    EVP_MD *md;      /* NULL: no digest (sign the caller's bytes) */
    EVP_MD *mgf1;    /* NULL: the digest */
    int pad;         /* RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING, ... */
    int saltlen;     /* RSA_PSS_SALTLEN_* or a length */
    EVP_MD_CTX *mdctx;   /* DigestSign: the running hash */
    EVP_PKEY_CTX *vctx;  /* verify: OpenSSL's context for the public key */
    EVP_MD_CTX *vmdctx;  /* DigestVerify: OpenSSL's */
    EVP_PKEY_CTX *vfwd;  /* verify: where parameters go (vctx, or vmdctx's context) */
} sig_ctx;

static void *sig_newctx(int type) {
    sig_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (c == NULL) return NULL;
    c->type = type;
    c->pad = RSA_PKCS1_PADDING;
    c->saltlen = RSA_PSS_SALTLEN_AUTO;
    return c;
}
static void *newctx_rsa(void *provctx, const char *propq) { (void)provctx; (void)propq; return sig_newctx(PROV_KEY_RSA); }
static void *newctx_ec(void *provctx, const char *propq) { (void)provctx; (void)propq; return sig_newctx(PROV_KEY_EC); }
static void *newctx_ed(void *provctx, const char *propq) { (void)provctx; (void)propq; return sig_newctx(PROV_KEY_ED25519); }

static void sig_freectx(void *vc) {
    sig_ctx *c = vc;
    if (c == NULL) return;
    prov_key_free(c->key);
    EVP_MD_free(c->md);
    EVP_MD_free(c->mgf1);
    EVP_MD_CTX_free(c->mdctx);
    EVP_PKEY_CTX_free(c->vctx);
    EVP_MD_CTX_free(c->vmdctx);
    OPENSSL_free(c);
}

static void *sig_dupctx(void *vc) {
    sig_ctx *c = vc, *d = OPENSSL_memdup(c, sizeof *c);
    if (d == NULL) return NULL;
    d->key = prov_key_ref(c->key);
    if (c->md != NULL) EVP_MD_up_ref(c->md);
    if (c->mgf1 != NULL) EVP_MD_up_ref(c->mgf1);
    d->mdctx = NULL;
    d->vctx = NULL;
    d->vmdctx = NULL;
    if ((c->mdctx != NULL && ((d->mdctx = EVP_MD_CTX_new()) == NULL || !EVP_MD_CTX_copy_ex(d->mdctx, c->mdctx))) ||
        (c->vctx != NULL && (d->vctx = EVP_PKEY_CTX_dup(c->vctx)) == NULL) ||
        (c->vmdctx != NULL && ((d->vmdctx = EVP_MD_CTX_new()) == NULL || !EVP_MD_CTX_copy_ex(d->vmdctx, c->vmdctx)))) {
        sig_freectx(d);
        return NULL;
    }
    d->vfwd = d->vmdctx != NULL ? EVP_MD_CTX_get_pkey_ctx(d->vmdctx) : d->vctx;
    return d;
}

static int set_md(EVP_MD **slot, char *name, const char *mdname) {
    EVP_MD *md;
    if (mdname == NULL || mdname[0] == '\0') return 1;
    md = EVP_MD_fetch(prov_sw(), mdname, NULL);
    if (md == NULL) {
        OSH_ERR(OSH_R_UNSUPPORTED, "unknown digest %s", mdname);
        return 0;
    }
    EVP_MD_free(*slot);
    *slot = md;
    strncpy(name, EVP_MD_get0_name(md), MDNAME_MAX - 1);
    return 1;
}

static int sig_set_ctx_params(void *vc, const OSSL_PARAM params[]);

static int sig_init(sig_ctx *c, void *key, int op, int plain_verify, const OSSL_PARAM params[]) {
    prov_key *k = key;
    if (k != NULL) {
        prov_key_free(c->key);
        c->key = prov_key_ref(k);
    }
    if (c->key == NULL || c->key->pub == NULL) {
        OSH_ERR(OSH_R_INTERNAL, "no key");
        return 0;
    }
    c->op = op;
    c->vfwd = NULL;
    if (op == OP_VERIFY && plain_verify) {
        EVP_PKEY_CTX_free(c->vctx);
        c->vctx = EVP_PKEY_CTX_new_from_pkey(prov_sw(), c->key->pub, NULL);
        if (c->vctx == NULL || EVP_PKEY_verify_init(c->vctx) <= 0) return 0;
        c->vfwd = c->vctx;
    }
    return sig_set_ctx_params(c, params);
}

static int sign_init(void *vc, void *key, const OSSL_PARAM params[]) { return sig_init(vc, key, OP_SIGN, 0, params); }
static int verify_init(void *vc, void *key, const OSSL_PARAM params[]) { return sig_init(vc, key, OP_VERIFY, 1, params); }

/* ───────────────────────────── mechanisms ───────────────────────────── */

static int hash_mechanism(const EVP_MD *md, uint64_t *hash, uint64_t *mgf) {
    return md != NULL && osh_hash_mechanism(EVP_MD_get_type(md), hash, mgf);
}

static int pss_salt(const sig_ctx *c, const EVP_MD *md) {
    int hlen = EVP_MD_get_size(md);
    int embits = EVP_PKEY_get_bits(c->key->pub) - 1, emlen = (embits + 7) / 8;
    switch (c->saltlen) {
    case RSA_PSS_SALTLEN_DIGEST: return hlen;
    case RSA_PSS_SALTLEN_AUTO:
    case RSA_PSS_SALTLEN_MAX: return emlen - hlen - 2;
    default: return c->saltlen;
    }
}

static int copy_out(unsigned char *sig, size_t *siglen, size_t sigsize, uint8_t *out, size_t n) {
    return osh_copy_answer(out, n, sig, sigsize, siglen);
}

static int rsa_sign(sig_ctx *c, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                    size_t tbslen) {
    osh_mech m = {CKM_RSA_PKCS, 0, 0, 0, 0, 0, NULL, 0};
    uint8_t *out = NULL;
    size_t n = 0;
    int ok;
    if (c->pad == RSA_PKCS1_PADDING) {
        unsigned char *der = NULL;
        int der_len = 0;
        if (c->md == NULL) return osh_sign(c->key->handle, &m, tbs, tbslen, &out, &n) &&
                                  copy_out(sig, siglen, sigsize, out, n);
        if (tbslen != (size_t)EVP_MD_get_size(c->md)) {
            OSH_ERR(OSH_R_UNSUPPORTED, "%zu bytes to sign are not a %s digest", tbslen, c->mdname);
            return 0;
        }
        if (!osh_digest_info(c->md, tbs, tbslen, &der, &der_len)) return 0;
        ok = osh_sign(c->key->handle, &m, der, (size_t)der_len, &out, &n);
        OPENSSL_free(der);
        return ok && copy_out(sig, siglen, sigsize, out, n);
    }
    if (c->pad == RSA_PKCS1_PSS_PADDING) {
        uint64_t h, mgf, h2;
        const EVP_MD *mgf1 = c->mgf1 != NULL ? c->mgf1 : c->md;
        int salt;
        if (c->md == NULL || !hash_mechanism(c->md, &h, &mgf) || !hash_mechanism(mgf1, &h2, &mgf)) {
            OSH_ERR(OSH_R_UNSUPPORTED, "RSA-PSS in the HSM needs SHA-1 or SHA-2 (digest %s, MGF1 %s)",
                     c->md != NULL ? c->mdname : "none", mgf1 != NULL ? EVP_MD_get0_name(mgf1) : "none");
            return 0;
        }
        salt = pss_salt(c, c->md);
        if (salt < 0) {
            OSH_ERR(OSH_R_UNSUPPORTED, "RSA-PSS salt length %d", salt);
            return 0;
        }
        m.mechanism = CKM_RSA_PKCS_PSS;
        m.has_hash = 1;
        m.hash_alg = h;
        m.mgf = mgf;
        m.has_salt = 1;
        m.salt_len = (uint64_t)salt;
        return osh_sign(c->key->handle, &m, tbs, tbslen, &out, &n) && copy_out(sig, siglen, sigsize, out, n);
    }
    OSH_ERR(OSH_R_UNSUPPORTED,
             "key handle %llu: RSA padding %d: the HSM signs with PKCS#1 v1.5 and PSS (it offers no raw RSA)",
             (unsigned long long)c->key->handle, c->pad);
    return 0;
}

static int ecdsa_sign(sig_ctx *c, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                      size_t tbslen) {
    osh_mech m = {CKM_ECDSA, 0, 0, 0, 0, 0, NULL, 0};
    uint8_t *rs = NULL;
    size_t rs_len = 0, half;
    ECDSA_SIG *s;
    BIGNUM *r, *ss;
    unsigned char *p = sig;
    int n;
    if (!osh_sign(c->key->handle, &m, tbs, tbslen, &rs, &rs_len)) return 0;
    half = rs_len / 2;
    if (rs_len == 0 || rs_len % 2 != 0) {
        OSH_ERR(OSH_R_INTERNAL, "the HSM's ECDSA signature has %zu bytes", rs_len);
        OPENSSL_free(rs);
        return 0;
    }
    s = ECDSA_SIG_new();
    r = BN_bin2bn(rs, (int)half, NULL);
    ss = BN_bin2bn(rs + half, (int)half, NULL);
    OPENSSL_free(rs);
    if (s == NULL || r == NULL || ss == NULL || !ECDSA_SIG_set0(s, r, ss)) {
        ECDSA_SIG_free(s);
        BN_free(r);
        BN_free(ss);
        OSH_ERR(OSH_R_INTERNAL, "out of memory");
        return 0;
    }
    n = i2d_ECDSA_SIG(s, NULL);
    if (n <= 0 || (size_t)n > sigsize) {
        ECDSA_SIG_free(s);
        OSH_ERR(OSH_R_INTERNAL, "the ECDSA signature does not fit");
        return 0;
    }
    n = i2d_ECDSA_SIG(s, &p);
    ECDSA_SIG_free(s);
    *siglen = (size_t)n;
    return 1;
}

static int do_sign(void *vc, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                   size_t tbslen) {
    sig_ctx *c = vc;
    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(c->key->pub);
        return 1;
    }
    if (!prov_key_ready(c->key, "signing")) return 0;
    if (c->type == PROV_KEY_RSA) return rsa_sign(c, sig, siglen, sigsize, tbs, tbslen);
    if (c->type == PROV_KEY_EC) return ecdsa_sign(c, sig, siglen, sigsize, tbs, tbslen);
    OSH_ERR(OSH_R_UNSUPPORTED, "Ed25519 signs whole messages (use DigestSign)");
    return 0;
}

static int do_verify(void *vc, const unsigned char *sig, size_t siglen, const unsigned char *tbs, size_t tbslen) {
    sig_ctx *c = vc;
    if (c->vctx == NULL) return 0;
    return EVP_PKEY_verify(c->vctx, sig, siglen, tbs, tbslen);
}

/* ───────────────────────────── DigestSign / DigestVerify ───────────────────────────── */

static int dsig_init(void *vc, const char *mdname, void *key, const OSSL_PARAM params[], int op) {
    sig_ctx *c = vc;
    if (!sig_init(c, key, op, 0, NULL)) return 0;
    if (c->type == PROV_KEY_ED25519) {
        if (mdname != NULL && mdname[0] != '\0') {
            OSH_ERR(OSH_R_UNSUPPORTED, "Ed25519 takes no digest (got %s)", mdname);
            return 0;
        }
        return sig_set_ctx_params(c, params);
    }
    if (!set_md(&c->md, c->mdname, mdname != NULL && mdname[0] != '\0' ? mdname : "SHA256")) return 0;
    if (!sig_set_ctx_params(c, params)) return 0;
    if (op == OP_SIGN) {
        if (c->mdctx == NULL && (c->mdctx = EVP_MD_CTX_new()) == NULL) return 0;
        return EVP_DigestInit_ex2(c->mdctx, c->md, NULL);
    }
    return 1;
}

static int dsign_init(void *vc, const char *mdname, void *key, const OSSL_PARAM params[]) {
    return dsig_init(vc, mdname, key, params, OP_SIGN);
}

static int dsign_update(void *vc, const unsigned char *data, size_t len) {
    sig_ctx *c = vc;
    return c->mdctx != NULL && EVP_DigestUpdate(c->mdctx, data, len);
}

static int dsign_final(void *vc, unsigned char *sig, size_t *siglen, size_t sigsize) {
    sig_ctx *c = vc;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (sig == NULL) return do_sign(c, NULL, siglen, 0, NULL, 0);
    if (c->mdctx == NULL || !EVP_DigestFinal_ex(c->mdctx, dgst, &dlen)) return 0;
    return do_sign(c, sig, siglen, sigsize, dgst, dlen);
}

/* For the verify side OpenSSL does everything: the digest context is its own. */
static int dverify_init(void *vc, const char *mdname, void *key, const OSSL_PARAM params[]) {
    sig_ctx *c = vc;
    EVP_PKEY_CTX *pctx = NULL;
    if (!sig_init(c, key, OP_VERIFY, 0, NULL)) return 0;
    EVP_MD_CTX_free(c->vmdctx);
    if ((c->vmdctx = EVP_MD_CTX_new()) == NULL) return 0;
    if (c->type != PROV_KEY_ED25519 && (mdname == NULL || mdname[0] == '\0')) mdname = "SHA256";
    if (EVP_DigestVerifyInit_ex(c->vmdctx, &pctx, mdname, prov_sw(), NULL, c->key->pub, NULL) <= 0) return 0;
    c->vfwd = pctx; /* later parameters (PSS padding, salt) go to OpenSSL's context */
    return sig_set_ctx_params(c, params);
}

static int dverify_update(void *vc, const unsigned char *data, size_t len) {
    sig_ctx *c = vc;
    return c->vmdctx != NULL && EVP_DigestVerifyUpdate(c->vmdctx, data, len);
}

static int dverify_final(void *vc, const unsigned char *sig, size_t siglen) {
    sig_ctx *c = vc;
    return c->vmdctx != NULL && EVP_DigestVerifyFinal(c->vmdctx, sig, siglen);
}

static int ed_digest_sign(void *vc, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                          size_t tbslen) {
    sig_ctx *c = vc;
    osh_mech m = {CKM_EDDSA, 0, 0, 0, 0, 0, NULL, 0};
    uint8_t *out = NULL;
    size_t n = 0;
    if (sig == NULL) {
        *siglen = 64;
        return 1;
    }
    if (!prov_key_ready(c->key, "Ed25519 signing")) return 0;
    return osh_sign(c->key->handle, &m, tbs, tbslen, &out, &n) && copy_out(sig, siglen, sigsize, out, n);
}

static int ed_digest_verify(void *vc, const unsigned char *sig, size_t siglen, const unsigned char *tbs, size_t tbslen) {
    sig_ctx *c = vc;
    return c->vmdctx != NULL && EVP_DigestVerify(c->vmdctx, sig, siglen, tbs, tbslen);
}

/* ───────────────────────────── parameters ───────────────────────────── */

static const struct {
    int pad;
    const char *name;
} pads[] = {
    {RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15}, {RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS},
    {RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE},       {RSA_X931_PADDING, OSSL_PKEY_RSA_PAD_MODE_X931},
};

static int sig_set_ctx_params(void *vc, const OSSL_PARAM params[]) {
    sig_ctx *c = vc;
    const OSSL_PARAM *p;
    if (params == NULL) return 1;
    if (c->op == OP_VERIFY) return c->vfwd == NULL || EVP_PKEY_CTX_set_params(c->vfwd, (OSSL_PARAM *)params) > 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL) {
        const char *s = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s) || !set_md(&c->md, c->mdname, s)) return 0;
    }
    if (c->type != PROV_KEY_RSA) return 1;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL) {
        int pad = -1;
        size_t i;
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
            for (i = 0; i < sizeof pads / sizeof pads[0]; i++)
                if (strcmp(p->data, pads[i].name) == 0) pad = pads[i].pad;
        } else if (!OSSL_PARAM_get_int(p, &pad)) {
            return 0;
        }
        if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING && c->op == OP_SIGN) {
            OSH_ERR(OSH_R_UNSUPPORTED, "RSA padding %d: the HSM signs with PKCS#1 v1.5 and PSS only", pad);
            return 0;
        }
        c->pad = pad;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
        const char *s = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s) || !set_md(&c->mgf1, c->mgf1name, s)) return 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
        int salt;
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
            if (strcmp(p->data, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0) salt = RSA_PSS_SALTLEN_DIGEST;
            else if (strcmp(p->data, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0) salt = RSA_PSS_SALTLEN_MAX;
            else if (strcmp(p->data, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0) salt = RSA_PSS_SALTLEN_AUTO;
            else salt = atoi(p->data);
        } else if (!OSSL_PARAM_get_int(p, &salt)) {
            return 0;
        }
        c->saltlen = salt;
    }
    return 1;
}

static const OSSL_PARAM *settable_rsa(void *vc, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vc;
    (void)provctx;
    return p;
}

static const OSSL_PARAM *settable_ec(void *vc, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vc;
    (void)provctx;
    return p;
}

static const OSSL_PARAM *settable_ed(void *vc, void *provctx) {
    static const OSSL_PARAM p[] = {OSSL_PARAM_END};
    (void)vc;
    (void)provctx;
    return p;
}

/* The AlgorithmIdentifier of the signature being made (X.509, CMS). */
static int algorithm_id(const sig_ctx *c, unsigned char **der, int *len) {
    X509_ALGOR *alg = X509_ALGOR_new();
    int ok = 0, nid = NID_undef;
    if (alg == NULL) return 0;
    if (c->type == PROV_KEY_ED25519) {
        ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL);
    } else if (c->md == NULL) {
        ok = 0;
    } else if (c->type == PROV_KEY_EC) {
        ok = OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(c->md), NID_X9_62_id_ecPublicKey) &&
             X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL);
    } else if (c->pad == RSA_PKCS1_PADDING) {
        ok = OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(c->md), NID_rsaEncryption) &&
             X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL);
    } else if (c->pad == RSA_PKCS1_PSS_PADDING) {
        RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
        const EVP_MD *mgf1 = c->mgf1 != NULL ? c->mgf1 : c->md;
        ASN1_STRING *os = NULL;
        int salt = pss_salt(c, c->md);
        ok = pss != NULL;
        if (ok && EVP_MD_get_type(c->md) != NID_sha1)
            ok = (pss->hashAlgorithm = X509_ALGOR_new()) != NULL && X509_ALGOR_set0(pss->hashAlgorithm, OBJ_nid2obj(EVP_MD_get_type(c->md)), V_ASN1_NULL, NULL);
        if (ok && EVP_MD_get_type(mgf1) != NID_sha1) {
            X509_ALGOR *mh = X509_ALGOR_new();
            ASN1_STRING *ms = NULL;
            ok = mh != NULL && X509_ALGOR_set0(mh, OBJ_nid2obj(EVP_MD_get_type(mgf1)), V_ASN1_NULL, NULL) &&
                 (ms = ASN1_item_pack(mh, ASN1_ITEM_rptr(X509_ALGOR), NULL)) != NULL &&
                 (pss->maskGenAlgorithm = X509_ALGOR_new()) != NULL &&
                 X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, ms);
            if (!ok) ASN1_STRING_free(ms);
            X509_ALGOR_free(mh);
        }
        if (ok && salt != 20) ok = (pss->saltLength = ASN1_INTEGER_new()) != NULL && ASN1_INTEGER_set(pss->saltLength, salt);
        if (ok) ok = (os = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL)) != NULL &&
                     X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, os);
        if (!ok) ASN1_STRING_free(os);
        RSA_PSS_PARAMS_free(pss);
    }
    *der = NULL;
    if (ok) ok = (*len = i2d_X509_ALGOR(alg, der)) > 0;
    X509_ALGOR_free(alg);
    return ok;
}

static int sig_get_ctx_params(void *vc, OSSL_PARAM params[]) {
    sig_ctx *c = vc;
    OSSL_PARAM *p;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL) {
        unsigned char *der = NULL;
        int len = 0, ok = algorithm_id(c, &der, &len) && OSSL_PARAM_set_octet_string(p, der, (size_t)len);
        OPENSSL_free(der);
        if (!ok) return 0;
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL && !OSSL_PARAM_set_utf8_string(p, c->mdname))
        return 0;
    if (c->type != PROV_KEY_RSA) return 1;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL) {
        if (p->data_type == OSSL_PARAM_INTEGER) {
            if (!OSSL_PARAM_set_int(p, c->pad)) return 0;
        } else {
            size_t i;
            for (i = 0; i < sizeof pads / sizeof pads[0]; i++)
                if (pads[i].pad == c->pad && !OSSL_PARAM_set_utf8_string(p, pads[i].name)) return 0;
        }
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL &&
        !OSSL_PARAM_set_utf8_string(p, c->mgf1 != NULL ? c->mgf1name : c->mdname))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
        if (p->data_type == OSSL_PARAM_INTEGER) {
            if (!OSSL_PARAM_set_int(p, c->saltlen)) return 0;
        } else {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", c->saltlen);
            if (!OSSL_PARAM_set_utf8_string(p, buf)) return 0;
        }
    }
    return 1;
}

static const OSSL_PARAM *gettable(void *vc, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vc;
    (void)provctx;
    return p;
}

#define COMMON(NEW, SETTABLE)                                                           \
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))NEW},                                  \
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},                         \
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},                           \
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params},           \
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))gettable},                \
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params},           \
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))SETTABLE},                \
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))dsign_init},                 \
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))dverify_init}

#define PREHASHED                                                                       \
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sign_init},                         \
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))do_sign},                                \
    {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))verify_init},                     \
    {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))do_verify},                            \
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))dsign_update},             \
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))dsign_final},               \
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))dverify_update},         \
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))dverify_final}

const OSSL_DISPATCH prov_rsa_signature[] = {COMMON(newctx_rsa, settable_rsa), PREHASHED, {0, NULL}};
const OSSL_DISPATCH prov_ecdsa_signature[] = {COMMON(newctx_ec, settable_ec), PREHASHED, {0, NULL}};
const OSSL_DISPATCH prov_ed25519_signature[] = {
    COMMON(newctx_ed, settable_ed),
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))ed_digest_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))ed_digest_verify},
    {0, NULL},
};
