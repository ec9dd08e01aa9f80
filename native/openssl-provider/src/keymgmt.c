/*
 * keymgmt.c: the provider's keys.
 *
 * A key is an HSM private-key handle with its public key, or a public key
 * alone (a peer's key, a certificate's key that OpenSSL hands over to compare).
 * The public key lives in prov_sw() (OpenSSL's default provider), which does
 * all public-key work; the private key never leaves the HSM.
 *
 *  - import takes public keys, and private keys only when they are key
 *    references (the marker block in RSA's d or EC's private scalar): a
 *    software private key is refused, so that OpenSSL keeps it in the default
 *    provider (the HSM provider answers only for its own keys).
 *  - export gives the public parts; asked for private parts it refuses.
 *  - gen makes RSA, EC and Ed25519 key pairs in the HSM (CKA_TOKEN true, the
 *    label "azcloudhsm_provider" or the `label` parameter); the public-key
 *    object is removed, as the engine does, so findKey counts one new key.
 *  - load takes the reference that decoder.c and store.c pass.
 */
#include "osh_ck.h"
#include "prov.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#define DEFAULT_RSA_BITS 2048
#define LABEL_MAX 128

const char *prov_key_type_name(int type) {
    switch (type) {
    case PROV_KEY_RSA: return "RSA";
    case PROV_KEY_EC: return "EC";
    case PROV_KEY_ED25519: return "ED25519";
    default: return "?";
    }
}

prov_key *prov_key_new(int type) {
    prov_key *k = OPENSSL_zalloc(sizeof *k);
    if (k == NULL) return NULL;
    k->type = type;
    k->refs = 1;
    return k;
}

prov_key *prov_key_ref(prov_key *k) {
    if (k != NULL) __atomic_add_fetch(&k->refs, 1, __ATOMIC_RELAXED);
    return k;
}

void prov_key_free(prov_key *k) {
    if (k == NULL || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    EVP_PKEY_free(k->pub);
    OPENSSL_free(k);
}

static int type_of(const EVP_PKEY *pk) {
    if (EVP_PKEY_is_a(pk, "RSA")) return PROV_KEY_RSA;
    if (EVP_PKEY_is_a(pk, "EC")) return PROV_KEY_EC;
    if (EVP_PKEY_is_a(pk, "ED25519")) return PROV_KEY_ED25519;
    return 0;
}

prov_key *prov_key_from_spki(const uint8_t *der, size_t len, int has_handle, uint64_t handle) {
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY_ex(NULL, &p, (long)len, prov_sw(), NULL);
    prov_key *k;
    int type;
    if (pub == NULL || (type = type_of(pub)) == 0) {
        EVP_PKEY_free(pub);
        OSH_ERR(OSH_R_KEYREF, "key handle %llu: its public key is not an RSA, EC or Ed25519 key",
                 (unsigned long long)handle);
        return NULL;
    }
    if ((k = prov_key_new(type)) == NULL) {
        EVP_PKEY_free(pub);
        return NULL;
    }
    k->pub = pub;
    k->has_handle = has_handle;
    k->handle = handle;
    return k;
}

int prov_key_ready(prov_key *k, const char *what) {
    unsigned char *der = NULL;
    int n, ok;
    if (k == NULL || !k->has_handle) {
        OSH_ERR(OSH_R_UNSUPPORTED, "%s needs an HSM private key; this key is a public key", what);
        return 0;
    }
    if (__atomic_load_n(&k->checked, __ATOMIC_ACQUIRE)) return 1;
    n = i2d_PUBKEY(k->pub, &der);
    if (n <= 0) {
        OSH_ERR(OSH_R_KEYREF, "the key reference for key handle %llu has no usable public key",
                 (unsigned long long)k->handle);
        return 0;
    }
    ok = osh_keyref_check_public(k->handle, der, (size_t)n);
    OPENSSL_free(der);
    if (ok) __atomic_store_n(&k->checked, 1, __ATOMIC_RELEASE);
    return ok;
}

/* The public half of sw, in prov_sw(). */
static EVP_PKEY *public_of(EVP_PKEY *sw) {
    unsigned char *der = NULL;
    const unsigned char *p;
    EVP_PKEY *pub;
    int n = i2d_PUBKEY(sw, &der);
    if (n <= 0) return NULL;
    p = der;
    pub = d2i_PUBKEY_ex(NULL, &p, n, prov_sw(), NULL);
    OPENSSL_free(der);
    return pub;
}

int prov_key_from_sw(prov_key *k, EVP_PKEY *sw) {
    BIGNUM *bn = NULL;
    uint8_t buf[66];
    size_t len;
    uint64_t h;
    int is_ref = 0;
    if (k->type == PROV_KEY_RSA) {
        len = OSH_RSA_MARKER_LENGTH;
        if (EVP_PKEY_get_bn_param(sw, OSSL_PKEY_PARAM_RSA_D, &bn) && BN_num_bytes(bn) <= (int)len &&
            BN_bn2binpad(bn, buf, (int)len) == (int)len)
            is_ref = osh_marker_read(buf, len, &h);
    } else if (k->type == PROV_KEY_EC) {
        len = (size_t)(EVP_PKEY_get_bits(sw) + 7) / 8;
        if (len <= sizeof buf && EVP_PKEY_get_bn_param(sw, OSSL_PKEY_PARAM_PRIV_KEY, &bn) &&
            BN_num_bytes(bn) <= (int)len && BN_bn2binpad(bn, buf, (int)len) == (int)len)
            is_ref = osh_marker_read(buf, len, &h);
    }
    BN_clear_free(bn);
    if (!is_ref) return 0;
    EVP_PKEY_free(k->pub);
    k->pub = public_of(sw);
    if (k->pub == NULL) {
        OSH_ERR(OSH_R_KEYREF, "the key reference for key handle %llu has no usable public key", (unsigned long long)h);
        return -1;
    }
    k->has_handle = 1;
    k->handle = h;
    k->checked = 0;
    return 1;
}

/* ───────────────────────────── the software key management ───────────────────────────── */

static EVP_KEYMGMT *sw_keymgmt(int type) {
    static EVP_KEYMGMT *km[4];
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    EVP_KEYMGMT *r;
    pthread_mutex_lock(&mu);
    if (km[type] == NULL) km[type] = EVP_KEYMGMT_fetch(prov_sw(), prov_key_type_name(type), NULL);
    r = km[type];
    pthread_mutex_unlock(&mu);
    return r;
}

static const OSSL_PARAM *sw_import_types(int type, int selection) {
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(prov_sw(), prov_key_type_name(type), NULL);
    const OSSL_PARAM *p = NULL;
    if (c != NULL && EVP_PKEY_fromdata_init(c) > 0) p = EVP_PKEY_fromdata_settable(c, selection);
    EVP_PKEY_CTX_free(c);
    return p;
}

/* ───────────────────────────── keymgmt functions ───────────────────────────── */

static void *km_new(int type) { return prov_key_new(type); }
static void *km_new_rsa(void *provctx) { (void)provctx; return km_new(PROV_KEY_RSA); }
static void *km_new_ec(void *provctx) { (void)provctx; return km_new(PROV_KEY_EC); }
static void *km_new_ed(void *provctx) { (void)provctx; return km_new(PROV_KEY_ED25519); }
static void km_free(void *kd) { prov_key_free(kd); }

static int km_has(const void *kd, int selection) {
    const prov_key *k = kd;
    if (k == NULL) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !k->has_handle) return 0;
    if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS)) && k->pub == NULL)
        return 0;
    return 1;
}

static int km_match(const void *a, const void *b, int selection) {
    const prov_key *x = a, *y = b;
    (void)selection;
    if (x->pub == NULL || y->pub == NULL) return 0;
    if (x->has_handle && y->has_handle && x->handle != y->handle) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) return EVP_PKEY_parameters_eq(x->pub, y->pub) == 1;
    return EVP_PKEY_eq(x->pub, y->pub) == 1;
}

static int km_import(void *kd, int selection, const OSSL_PARAM params[]) {
    prov_key *k = kd;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(prov_sw(), prov_key_type_name(k->type), NULL);
    EVP_PKEY *sw = NULL;
    int with_private = (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) &&
                       (OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_D) != NULL ||
                        OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY) != NULL);
    int sel = with_private ? EVP_PKEY_KEYPAIR
              : (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) ? EVP_PKEY_PUBLIC_KEY
                                                             : EVP_PKEY_KEY_PARAMETERS;
    int ok = 0;
    ERR_set_mark();
    if (c != NULL && EVP_PKEY_fromdata_init(c) > 0 && EVP_PKEY_fromdata(c, &sw, sel, (OSSL_PARAM *)params) > 0) {
        if (with_private) {
            ok = prov_key_from_sw(k, sw) == 1; /* a software private key: not ours */
        } else {
            EVP_PKEY_free(k->pub);
            k->pub = sw;
            sw = NULL;
            ok = 1;
        }
    }
    EVP_PKEY_free(sw);
    EVP_PKEY_CTX_free(c);
    ERR_pop_to_mark();
    return ok;
}

static int km_export(void *kd, int selection, OSSL_CALLBACK *cb, void *cbarg) {
    prov_key *k = kd;
    OSSL_PARAM *params = NULL;
    int ok;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) || k->pub == NULL) return 0; /* the private key stays in the HSM */
    if (EVP_PKEY_todata(k->pub, (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) ? EVP_PKEY_PUBLIC_KEY
                                                                              : EVP_PKEY_KEY_PARAMETERS,
                        &params) <= 0)
        return 0;
    ok = cb(params, cbarg);
    OSSL_PARAM_free(params);
    return ok;
}

#define TYPES_FN(name, T)                                                                                         \
    static const OSSL_PARAM *name##_import_types(int selection) { return sw_import_types(T, selection); }      \
    static const OSSL_PARAM *name##_export_types(int selection) {                                              \
        return sw_import_types(T, selection & ~OSSL_KEYMGMT_SELECT_PRIVATE_KEY);                               \
    }                                                                                                          \
    static const OSSL_PARAM *name##_gettable(void *provctx) {                                                  \
        (void)provctx;                                                                                         \
        return EVP_KEYMGMT_gettable_params(sw_keymgmt(T));                                                     \
    }                                                                                                          \
    static const OSSL_PARAM *name##_settable(void *provctx) {                                                  \
        (void)provctx;                                                                                         \
        return EVP_KEYMGMT_settable_params(sw_keymgmt(T));                                                     \
    }
TYPES_FN(rsa, PROV_KEY_RSA)
TYPES_FN(ec, PROV_KEY_EC)
TYPES_FN(ed, PROV_KEY_ED25519)

static int km_get_params(void *kd, OSSL_PARAM params[]) {
    prov_key *k = kd;
    if (k->pub == NULL) return 1;
    return EVP_PKEY_get_params(k->pub, params);
}

static int km_set_params(void *kd, const OSSL_PARAM params[]) {
    prov_key *k = kd;
    if (k->pub == NULL || k->has_handle) return 0; /* an HSM key's public key is the HSM's */
    return EVP_PKEY_set_params(k->pub, (OSSL_PARAM *)params);
}

static void *km_load(const void *reference, size_t size, int type) {
    prov_key *k;
    if (reference == NULL || size != sizeof k) return NULL;
    memcpy(&k, reference, sizeof k);
    if (k == NULL || k->type != type) return NULL;
    return prov_key_ref(k);
}
static void *km_load_rsa(const void *r, size_t n) { return km_load(r, n, PROV_KEY_RSA); }
static void *km_load_ec(const void *r, size_t n) { return km_load(r, n, PROV_KEY_EC); }
static void *km_load_ed(const void *r, size_t n) { return km_load(r, n, PROV_KEY_ED25519); }

static void *km_dup(const void *kd, int selection) {
    const prov_key *k = kd;
    prov_key *d = prov_key_new(k->type);
    if (d == NULL) return NULL;
    if (k->pub != NULL && EVP_PKEY_up_ref(k->pub)) d->pub = k->pub;
    if (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) {
        d->has_handle = k->has_handle;
        d->handle = k->handle;
        d->checked = k->checked;
    }
    return d;
}

static const char *km_op_name_rsa(int op) { (void)op; return "RSA"; }
static const char *km_op_name_ec(int op) { return op == OSSL_OP_KEYEXCH ? "ECDH" : "ECDSA"; }
static const char *km_op_name_ed(int op) { (void)op; return "ED25519"; }

/* ───────────────────────────── key generation in the HSM ───────────────────────────── */

typedef struct gen_ctx {
    int type;
    int selection;
    size_t bits;
    uint8_t e[16];
    size_t e_len;
    char group[64];
    char label[LABEL_MAX];
} gen_ctx;

static int gen_set_params(void *g, const OSSL_PARAM params[]) {
    gen_ctx *c = g;
    const OSSL_PARAM *p;
    if (params == NULL) return 1;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS)) != NULL && !OSSL_PARAM_get_size_t(p, &c->bits))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E)) != NULL) {
        BIGNUM *e = NULL;
        int n;
        if (!OSSL_PARAM_get_BN(p, &e) || (n = BN_num_bytes(e)) > (int)sizeof c->e) {
            BN_free(e);
            return 0;
        }
        c->e_len = (size_t)BN_bn2bin(e, c->e);
        BN_free(e);
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_PRIMES)) != NULL) {
        size_t primes = 0;
        if (!OSSL_PARAM_get_size_t(p, &primes)) return 0;
        if (primes != 2) {
            OSH_ERR(OSH_R_UNSUPPORTED, "the HSM makes two-prime RSA keys (asked for %zu primes)", primes);
            return 0;
        }
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME)) != NULL) {
        char *s = c->group;
        if (!OSSL_PARAM_get_utf8_string(p, &s, sizeof c->group)) return 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, "label")) != NULL) {
        char *s = c->label;
        if (!OSSL_PARAM_get_utf8_string(p, &s, sizeof c->label)) return 0;
    }
    return 1;
}

static void *gen_init(int type, int selection, const OSSL_PARAM params[]) {
    gen_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (c == NULL) return NULL;
    c->type = type;
    c->selection = selection;
    c->bits = DEFAULT_RSA_BITS;
    c->e[0] = 0x01;
    c->e[1] = 0x00;
    c->e[2] = 0x01;
    c->e_len = 3;
    strcpy(c->label, PROV_ID);
    if (!gen_set_params(c, params)) {
        OPENSSL_free(c);
        return NULL;
    }
    return c;
}
static void *gen_init_rsa(void *provctx, int sel, const OSSL_PARAM p[]) { (void)provctx; return gen_init(PROV_KEY_RSA, sel, p); }
static void *gen_init_ec(void *provctx, int sel, const OSSL_PARAM p[]) { (void)provctx; return gen_init(PROV_KEY_EC, sel, p); }
static void *gen_init_ed(void *provctx, int sel, const OSSL_PARAM p[]) { (void)provctx; return gen_init(PROV_KEY_ED25519, sel, p); }

static int gen_set_template(void *g, void *templ) {
    gen_ctx *c = g;
    prov_key *t = templ;
    size_t n = 0;
    if (t == NULL || t->pub == NULL) return 0;
    if (c->type == PROV_KEY_EC) return EVP_PKEY_get_utf8_string_param(t->pub, OSSL_PKEY_PARAM_GROUP_NAME, c->group, sizeof c->group, &n);
    return 1;
}

static const OSSL_PARAM *gen_settable_rsa(void *g, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_PRIMES, NULL),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_utf8_string("label", NULL, 0),
        OSSL_PARAM_END,
    };
    (void)g;
    (void)provctx;
    return p;
}

static const OSSL_PARAM *gen_settable_ec(void *g, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string("label", NULL, 0),
        OSSL_PARAM_END,
    };
    (void)g;
    (void)provctx;
    return p;
}

static const OSSL_PARAM *gen_settable_ed(void *g, void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string("label", NULL, 0),
        OSSL_PARAM_END,
    };
    (void)g;
    (void)provctx;
    return p;
}

/* CKA_EC_PARAMS for a curve name: the DER of its OID. */
static int ec_params_der(const char *group, uint8_t *out, size_t cap, size_t *len) {
    int nid = EC_curve_nist2nid(group);
    ASN1_OBJECT *obj;
    unsigned char *p = out;
    int n;
    if (nid == NID_undef) nid = OBJ_sn2nid(group);
    if (nid == NID_undef) nid = OBJ_ln2nid(group);
    if (nid == NID_undef || (obj = OBJ_nid2obj(nid)) == NULL || (n = i2d_ASN1_OBJECT(obj, NULL)) <= 0 ||
        (size_t)n > cap)
        return 0;
    i2d_ASN1_OBJECT(obj, &p);
    *len = (size_t)n;
    return 1;
}

static void *gen_rsa(gen_ctx *c) {
    uint64_t handle = 0;
    uint8_t *n = NULL, *e = NULL;
    size_t n_len = 0, e_len = 0;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    EVP_PKEY_CTX *pc = NULL;
    prov_key *k = NULL;
    if (!osh_generate_rsa((unsigned long)c->bits, c->e, c->e_len, c->label, &handle, &n, &n_len, &e, &e_len))
        return NULL;
    bn = BN_bin2bn(n, (int)n_len, NULL);
    be = BN_bin2bn(e, (int)e_len, NULL);
    if (bn != NULL && be != NULL && (bld = OSSL_PARAM_BLD_new()) != NULL &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && (k = prov_key_new(PROV_KEY_RSA)) != NULL &&
        (pc = EVP_PKEY_CTX_new_from_name(prov_sw(), "RSA", NULL)) != NULL && EVP_PKEY_fromdata_init(pc) > 0 &&
        EVP_PKEY_fromdata(pc, &k->pub, EVP_PKEY_PUBLIC_KEY, params) > 0) {
        k->has_handle = 1;
        k->handle = handle;
        k->checked = 1;
    } else {
        OSH_ERR(OSH_R_INTERNAL, "cannot build the public key of new key handle %llu", (unsigned long long)handle);
        prov_key_free(k);
        k = NULL;
    }
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    OPENSSL_free(n);
    OPENSSL_free(e);
    return k;
}

static void *gen_ec(gen_ctx *c) {
    static const uint8_t ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
    uint8_t params[64];
    size_t params_len = 0, spki_len = 0;
    uint8_t *spki = NULL;
    uint64_t handle = 0;
    prov_key *k;
    char what[96];
    if (c->type == PROV_KEY_ED25519) {
        /* No key-reference file exists for Ed25519 (its PKCS#8 form carries no public key, so OpenSSL
         * would derive a wrong one from the marker): genpkey could make the key but not write it. */
        OSH_ERR(OSH_R_UNSUPPORTED, "an Ed25519 key has no key-reference file: make it with azcloudhsm_util "
                                     "genECCKeyPair -i 28 -l NAME and use it as azcloudhsm:label=NAME");
        return NULL;
    }
    if (c->type == PROV_KEY_ED25519) {
        memcpy(params, ed25519_oid, sizeof ed25519_oid);
        params_len = sizeof ed25519_oid;
        strcpy(what, "Ed25519");
    } else {
        if (c->group[0] == '\0') {
            OSH_ERR(OSH_R_UNSUPPORTED, "EC key generation needs a curve (-pkeyopt ec_paramgen_curve:P-256)");
            return NULL;
        }
        if (!ec_params_der(c->group, params, sizeof params, &params_len)) {
            OSH_ERR(OSH_R_UNSUPPORTED, "unknown curve %s", c->group);
            return NULL;
        }
        snprintf(what, sizeof what, "EC %s", c->group);
    }
    if (!osh_generate_ec(c->type == PROV_KEY_ED25519 ? CKM_EC_EDWARDS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, params,
                              params_len, c->type == PROV_KEY_EC, c->label, what, &handle, &spki, &spki_len))
        return NULL;
    k = prov_key_from_spki(spki, spki_len, 1, handle);
    OPENSSL_free(spki);
    if (k != NULL) k->checked = 1;
    return k;
}

static void *gen_gen(void *g, OSSL_CALLBACK *cb, void *cbarg) {
    gen_ctx *c = g;
    (void)cb;
    (void)cbarg;
    if ((c->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        /* Parameters only (EC paramgen): no HSM key, a key with the group alone. */
        prov_key *k;
        EVP_PKEY_CTX *pc;
        if (c->type != PROV_KEY_EC || c->group[0] == '\0') return NULL;
        if ((k = prov_key_new(PROV_KEY_EC)) == NULL) return NULL;
        pc = EVP_PKEY_CTX_new_from_name(prov_sw(), "EC", NULL);
        if (pc == NULL || EVP_PKEY_paramgen_init(pc) <= 0 || EVP_PKEY_CTX_set_group_name(pc, c->group) <= 0 ||
            EVP_PKEY_paramgen(pc, &k->pub) <= 0) {
            prov_key_free(k);
            k = NULL;
        }
        EVP_PKEY_CTX_free(pc);
        return k;
    }
    return c->type == PROV_KEY_RSA ? gen_rsa(c) : gen_ec(c);
}

static void gen_cleanup(void *g) { OPENSSL_free(g); }

#define KEYMGMT(name, NEW, GENINIT, GENSET, LOAD, OPNAME, P)                                            \
    const OSSL_DISPATCH name[] = {                                                                       \
        {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))NEW},                                                    \
        {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free},                                               \
        {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has},                                                 \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match},                                             \
        {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import},                                           \
        {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))P##_import_types},                              \
        {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export},                                           \
        {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))P##_export_types},                              \
        {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params},                                   \
        {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))P##_gettable},                               \
        {OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))km_set_params},                                   \
        {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))P##_settable},                               \
        {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))LOAD},                                                  \
        {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup},                                                 \
        {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))GENINIT},                                           \
        {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))gen_set_params},                              \
        {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))GENSET},                                 \
        {OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))gen_set_template},                          \
        {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))gen_gen},                                                \
        {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))gen_cleanup},                                    \
        {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))OPNAME},                                \
        {0, NULL},                                                                                       \
    }

KEYMGMT(prov_rsa_keymgmt, km_new_rsa, gen_init_rsa, gen_settable_rsa, km_load_rsa, km_op_name_rsa, rsa);
KEYMGMT(prov_ec_keymgmt, km_new_ec, gen_init_ec, gen_settable_ec, km_load_ec, km_op_name_ec, ec);
KEYMGMT(prov_ed25519_keymgmt, km_new_ed, gen_init_ed, gen_settable_ed, km_load_ed, km_op_name_ed, ed);
