/*
 * provider.c: the azcloudhsm OpenSSL 3 provider: OSSL_provider_init, the
 * algorithms it offers, its error library and its private library context.
 *
 * Loaded by `openssl ... -provider azcloudhsm -provider default` (with
 * -provider-path or OPENSSL_MODULES naming dist/lib64/ossl-modules, where
 * azcloudhsm.so links to libazcloudhsm_provider.so) or from an openssl.cnf
 * provider section (`module = /path/libazcloudhsm_provider.so`). Its section
 * may carry azcloudhsm_openssl_conf and azcloudhsm_password, which stand in
 * for the environment variables of the same names when those are not set.
 *
 * init does nothing that can fail, as the engine's: the sign-in happens at the
 * first operation that needs the HSM (hsm.c), and that operation fails with
 * the reason.
 *
 * Every algorithm is registered with "provider=azcloudhsm". The default
 * provider stays in charge of everything that needs no HSM key: this provider
 * imports no software private key (keymgmt.c), so OpenSSL uses the default
 * provider for those.
 */
#include "prov.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>

static const OSSL_CORE_HANDLE *g_handle;
static OSSL_FUNC_core_new_error_fn *c_new_error;
static OSSL_FUNC_core_set_error_debug_fn *c_set_error_debug;
static OSSL_FUNC_core_vset_error_fn *c_vset_error;
static OSSL_FUNC_core_get_params_fn *c_get_params;
static OSSL_FUNC_BIO_read_ex_fn *c_bio_read_ex;
static OSSL_FUNC_BIO_write_ex_fn *c_bio_write_ex;

/* ───────────────────────────── errors ───────────────────────────── */

static const OSSL_ITEM reason_strings[] = {
    {OSH_R_CONFIG, "configuration error"},
    {OSH_R_DAEMON, "cannot reach the client daemon"},
    {OSH_R_LOGIN, "HSM login failed"},
    {OSH_R_HSM, "HSM operation failed"},
    {OSH_R_KEYREF, "bad key reference"},
    {OSH_R_UNSUPPORTED, "not offered for HSM keys"},
    {OSH_R_INTERNAL, "internal error"},
    {OSH_R_URI, "no such HSM key"},
    {0, NULL},
};

const char osh_client_name[] = PROV_ID "/" PROV_VERSION;

void osh_error(const char *file, int line, const char *func, int reason, const char *fmt, ...) {
    va_list ap;
    if (c_new_error == NULL || c_vset_error == NULL) return;
    c_new_error(g_handle);
    if (c_set_error_debug != NULL) c_set_error_debug(g_handle, file, line, func);
    va_start(ap, fmt);
    c_vset_error(g_handle, (uint32_t)reason, fmt, ap);
    va_end(ap);
}

int prov_bio_read_ex(OSSL_CORE_BIO *bio, void *data, size_t len, size_t *read) {
    if (c_bio_read_ex == NULL) return 0;
    return c_bio_read_ex(bio, data, len, read);
}

int prov_bio_write_ex(OSSL_CORE_BIO *bio, const void *data, size_t len, size_t *written) {
    if (c_bio_write_ex == NULL) return 0;
    return c_bio_write_ex(bio, data, len, written);
}

/* ───────────────────────────── the software library context ───────────────────────────── */

static pthread_once_t sw_once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *sw_ctx;
static OSSL_PROVIDER *sw_default;

static void sw_setup(void) {
    sw_ctx = OSSL_LIB_CTX_new();
    if (sw_ctx != NULL) sw_default = OSSL_PROVIDER_load(sw_ctx, "default");
}

OSSL_LIB_CTX *prov_sw(void) {
    pthread_once(&sw_once, sw_setup);
    return sw_default != NULL ? sw_ctx : NULL;
}

/* ───────────────────────────── algorithms ───────────────────────────── */

/* The names OpenSSL knows each key type by (its own providers list the same), written once. */
#define NAMES_RSA "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define NAMES_EC "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define NAMES_ED25519 "ED25519:1.3.101.112"

static const OSSL_ALGORITHM keymgmts[] = {
    {NAMES_RSA, PROV_PROPS, prov_rsa_keymgmt, "RSA keys in the HSM"},
    {NAMES_EC, PROV_PROPS, prov_ec_keymgmt, "EC keys in the HSM"},
    {NAMES_ED25519, PROV_PROPS, prov_ed25519_keymgmt, "Ed25519 keys in the HSM"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM signatures[] = {
    {NAMES_RSA, PROV_PROPS, prov_rsa_signature, "RSA signatures in the HSM"},
    {"ECDSA", PROV_PROPS, prov_ecdsa_signature, "ECDSA in the HSM"},
    {NAMES_ED25519, PROV_PROPS, prov_ed25519_signature, "Ed25519 in the HSM"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM ciphers[] = {
    {NAMES_RSA, PROV_PROPS, prov_rsa_cipher, "RSA decryption in the HSM"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM exchanges[] = {
    {"ECDH", PROV_PROPS, prov_ecdh_exchange, "ECDH in the HSM"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM decoders[] = {
    {NAMES_RSA, PROV_PROPS ",input=der,structure=PrivateKeyInfo", prov_rsa_decoder_pki,
     "RSA key references (PKCS#8)"},
    {NAMES_RSA, PROV_PROPS ",input=der,structure=type-specific", prov_rsa_decoder_ts,
     "RSA key references (PKCS#1)"},
    {NAMES_EC, PROV_PROPS ",input=der,structure=PrivateKeyInfo", prov_ec_decoder_pki,
     "EC key references (PKCS#8)"},
    {NAMES_EC, PROV_PROPS ",input=der,structure=type-specific", prov_ec_decoder_ts,
     "EC key references (SEC1)"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM encoders[] = {
    {NAMES_RSA, PROV_PROPS ",output=pem,structure=PrivateKeyInfo", prov_rsa_encoder_pem,
     "RSA key references (PKCS#8 PEM)"},
    {NAMES_RSA, PROV_PROPS ",output=der,structure=PrivateKeyInfo", prov_rsa_encoder_der,
     "RSA key references (PKCS#8 DER)"},
    {NAMES_EC, PROV_PROPS ",output=pem,structure=PrivateKeyInfo", prov_ec_encoder_pem,
     "EC key references (PKCS#8 PEM)"},
    {NAMES_EC, PROV_PROPS ",output=der,structure=PrivateKeyInfo", prov_ec_encoder_der,
     "EC key references (PKCS#8 DER)"},
    {NAMES_RSA, PROV_PROPS ",output=text", prov_text_encoder, "HSM keys as text"},
    {NAMES_EC, PROV_PROPS ",output=text", prov_text_encoder, "HSM keys as text"},
    {NAMES_ED25519, PROV_PROPS ",output=text", prov_text_encoder, "HSM keys as text"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM stores[] = {
    {"azcloudhsm", PROV_PROPS, prov_store, "HSM keys by label or handle (azcloudhsm:)"},
    {"pkcs11", PROV_PROPS, prov_store, "HSM keys by label or handle (pkcs11: URIs, RFC 7512)"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *p_query(void *provctx, int operation_id, int *no_cache) {
    (void)provctx;
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KEYMGMT: return keymgmts;
    case OSSL_OP_SIGNATURE: return signatures;
    case OSSL_OP_ASYM_CIPHER: return ciphers;
    case OSSL_OP_KEYEXCH: return exchanges;
    case OSSL_OP_DECODER: return decoders;
    case OSSL_OP_ENCODER: return encoders;
    case OSSL_OP_STORE: return stores;
    default: return NULL;
    }
}

static const OSSL_PARAM *p_gettable_params(void *provctx) {
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return params;
}

static int p_get_params(void *provctx, OSSL_PARAM params[]) {
    OSSL_PARAM *p;
    (void)provctx;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != NULL && !OSSL_PARAM_set_utf8_ptr(p, PROV_LONG_NAME))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != NULL && !OSSL_PARAM_set_utf8_ptr(p, PROV_VERSION))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) != NULL &&
        !OSSL_PARAM_set_utf8_ptr(p, "OpenCloudHSM " PROV_VERSION))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != NULL && !OSSL_PARAM_set_int(p, 1)) return 0;
    return 1;
}

static const OSSL_ITEM *p_reason_strings(void *provctx) {
    (void)provctx;
    return reason_strings;
}

static void p_teardown(void *provctx) {
    (void)provctx;
    /* The connection stays: keys may outlive the provider object, and the
     * library is never unloaded (-z nodelete, as the engine). */
}

static const OSSL_DISPATCH provider_functions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))p_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))p_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))p_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))p_query},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))p_reason_strings},
    {0, NULL},
};

#pragma GCC visibility push(default)
int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                       void **provctx);
#pragma GCC visibility pop

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                       void **provctx) {
    char *cnf_conf = NULL, *cnf_password = NULL;
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_NEW_ERROR: c_new_error = OSSL_FUNC_core_new_error(in); break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG: c_set_error_debug = OSSL_FUNC_core_set_error_debug(in); break;
        case OSSL_FUNC_CORE_VSET_ERROR: c_vset_error = OSSL_FUNC_core_vset_error(in); break;
        case OSSL_FUNC_CORE_GET_PARAMS: c_get_params = OSSL_FUNC_core_get_params(in); break;
        case OSSL_FUNC_BIO_READ_EX: c_bio_read_ex = OSSL_FUNC_BIO_read_ex(in); break;
        case OSSL_FUNC_BIO_WRITE_EX: c_bio_write_ex = OSSL_FUNC_BIO_write_ex(in); break;
        default: break;
        }
    }
    g_handle = handle;
    if (c_get_params != NULL) {
        OSSL_PARAM p[] = {
            OSSL_PARAM_utf8_ptr("azcloudhsm_openssl_conf", &cnf_conf, 0),
            OSSL_PARAM_utf8_ptr("azcloudhsm_password", &cnf_password, 0),
            OSSL_PARAM_END,
        };
        if (c_get_params(handle, p)) osh_set_cnf(cnf_conf, cnf_password);
    }
    osh_setup();
    *out = provider_functions;
    *provctx = (void *)handle;
    return 1;
}
