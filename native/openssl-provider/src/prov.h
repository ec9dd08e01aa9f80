/*
 * prov.h: what the parts of the azcloudhsm OpenSSL 3 provider share.
 *
 *   provider.c   OSSL_provider_init, the algorithm tables, errors, the software library context
 *   config.c     azcloudhsm_password, azcloudhsm_openssl_conf, the dynamic conf (the engine's rules)
 *   hsm.c        the daemon connection (native/common), sign-in, one function per HSM request
 *   keyref.c     key references: the marker block, the public-key check
 *   keymgmt.c    RSA, EC and Ed25519 keys: HSM references and public keys; key generation in the HSM
 *   signature.c  RSA (PKCS#1 v1.5, PSS), ECDSA, Ed25519 signing in the HSM; verification in software
 *   cipher.c     RSA decryption in the HSM (PKCS#1 v1.5, OAEP); encryption in software
 *   exchange.c   ECDH in the HSM
 *   decoder.c    key-reference PEM/DER files (the engine's and azcloudhsm_util's) into HSM keys
 *   encoder.c    HSM keys into key-reference PEM/DER files
 *   store.c      azcloudhsm: and pkcs11: URIs (by label, by handle)
 *
 * The rule for all of them (the project's "thin C"): translate one OpenSSL
 * request into one HSM request, send it through the daemon, hand the answer
 * back or report the daemon's error. Which operation is allowed on which key,
 * sizes, curves and mechanisms: the HSM decides.
 *
 * Public-key work (verification, encryption, parsing, printing) needs no
 * secret: it runs in OpenSSL's own default provider, in a private library
 * context of this provider (prov_sw), never through the application's.
 */
#ifndef PROV_PROV_H
#define PROV_PROV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#define PROV_NAME "azcloudhsm"                  /* -provider azcloudhsm, provider=azcloudhsm */
#define PROV_ID "azcloudhsm_provider"           /* the daemon's client name; the default key label */
#define PROV_LONG_NAME "Azure Cloud HSM compatible provider (OpenCloudHSM)"
#define PROV_VERSION "0.1.0"
#define PROV_PROPS "provider=azcloudhsm"

/* ───────────── errors (provider.c): reasons of the provider's error library ───────────── */

#define PROV_R_CONFIG 100      /* environment variables, dynamic conf, application cfg */
#define PROV_R_DAEMON 101      /* the daemon cannot be reached */
#define PROV_R_LOGIN 102       /* sign-in refused */
#define PROV_R_HSM 103         /* the HSM refused or failed an operation */
#define PROV_R_KEYREF 104      /* a key reference that does not fit the HSM key */
#define PROV_R_UNSUPPORTED 105 /* an OpenSSL request with no HSM mechanism, or one OpenSSL must not do */
#define PROV_R_INTERNAL 106    /* out of memory, malformed answer */
#define PROV_R_URI 107         /* a store URI that names no key */

#define PROV_ERR(reason, ...) prov_error(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, (reason), __VA_ARGS__)
void prov_error(const char *file, int line, const char *func, int reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The private library context holding OpenSSL's default provider (public-key math, parsing). */
OSSL_LIB_CTX *prov_sw(void);

/* The core's BIO functions, for decoders and encoders. */
int prov_bio_read_ex(OSSL_CORE_BIO *bio, void *data, size_t len, size_t *read);
int prov_bio_write_ex(OSSL_CORE_BIO *bio, const void *data, size_t len, size_t *written);

/* ───────────── hsm.c: one function per HSM request ───────────── */

typedef struct prov_mech {
    uint64_t mechanism;
    int has_hash; /* PSS / OAEP: hashAlg and mgf */
    uint64_t hash_alg;
    uint64_t mgf;
    int has_salt; /* PSS: saltLen */
    uint64_t salt_len;
    const uint8_t *source; /* OAEP label (sourceData); NULL: none */
    size_t source_len;
} prov_mech;

/* Each returns 1 on success, 0 with an error on OpenSSL's queue. Outputs are
 * OPENSSL_malloc'd; the caller frees them with OPENSSL_free. */
int prov_hsm_sign(uint64_t handle, const prov_mech *m, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len);
int prov_hsm_decrypt(uint64_t handle, const prov_mech *m, const uint8_t *data, size_t len, uint8_t **out,
                     size_t *out_len);
int prov_hsm_public_key_info(uint64_t handle, uint8_t **der, size_t *len);
int prov_hsm_generate_rsa(unsigned long bits, const uint8_t *exp, size_t exp_len, const char *label, uint64_t *priv,
                          uint8_t **n, size_t *n_len, uint8_t **e, size_t *e_len);
/* An EC or EdDSA key pair (mechanism CKM_EC_KEY_PAIR_GEN or CKM_EC_EDWARDS_KEY_PAIR_GEN), CKA_EC_PARAMS
 * ec_params; *spki the private key's CKA_PUBLIC_KEY_INFO. The public-key object is removed. */
int prov_hsm_generate_ec(uint64_t mechanism, const uint8_t *ec_params, size_t params_len, int derive, const char *label,
                         const char *what, uint64_t *priv, uint8_t **spki, size_t *spki_len);
/* CKM_ECDH1_DERIVE with CKD_NULL: the shared secret (secret_len bytes), read from a session key that is then destroyed. */
int prov_hsm_ecdh(uint64_t handle, const uint8_t *peer, size_t peer_len, size_t secret_len, uint8_t **secret,
                  size_t *out_len);
/* Private keys (all, or with this CKA_LABEL) the user can see: up to max handles, *count how many there are. */
int prov_hsm_find_private(const char *label, uint64_t *handles, size_t max, size_t *count);
/* The provider's openssl.cnf stand-ins for azcloudhsm_openssl_conf and azcloudhsm_password (NULL: none). */
void prov_hsm_set_cnf(const char *conf, const char *password);
void prov_hsm_setup(void);
void prov_hsm_teardown(void);

/* ───────────── keyref.c ───────────── */

#define PROV_MARKER_MIN 16
#define PROV_RSA_MARKER_LENGTH 32
int prov_marker_read(const uint8_t *b, size_t len, uint64_t *handle);
void prov_marker_write(uint64_t handle, uint8_t *out, size_t len);
int prov_keyref_check_public(uint64_t handle, const uint8_t *file_spki, size_t file_len);

/* ───────────── keymgmt.c: the key object ───────────── */

#define PROV_KEY_RSA 1
#define PROV_KEY_EC 2
#define PROV_KEY_ED25519 3

typedef struct prov_key {
    int type;
    int refs;
    int has_handle;  /* an HSM private key */
    uint64_t handle;
    EVP_PKEY *pub;   /* the public key, in prov_sw(); NULL while empty */
    int checked;     /* the public key was checked against the HSM key */
} prov_key;

prov_key *prov_key_new(int type);
prov_key *prov_key_ref(prov_key *k);
void prov_key_free(prov_key *k);
/* A key from a DER SubjectPublicKeyInfo (its type from the SPKI) and an HSM handle (has_handle 0: public only). */
prov_key *prov_key_from_spki(const uint8_t *der, size_t len, int has_handle, uint64_t handle);
/* An HSM key usable for a private-key operation: it has a handle, and its public key is the HSM key's. */
int prov_key_ready(prov_key *k, const char *what);
const char *prov_key_type_name(int type); /* "RSA", "EC", "ED25519" */
/* A software key with private parts becomes an HSM key only when they hold the marker block. */
int prov_key_from_sw(prov_key *k, EVP_PKEY *sw);

extern const OSSL_DISPATCH prov_rsa_keymgmt[], prov_ec_keymgmt[], prov_ed25519_keymgmt[];
extern const OSSL_DISPATCH prov_rsa_signature[], prov_ecdsa_signature[], prov_ed25519_signature[];
extern const OSSL_DISPATCH prov_rsa_cipher[];
extern const OSSL_DISPATCH prov_ecdh_exchange[];
extern const OSSL_DISPATCH prov_rsa_decoder_pki[], prov_rsa_decoder_ts[], prov_ec_decoder_pki[], prov_ec_decoder_ts[];
extern const OSSL_DISPATCH prov_rsa_encoder_pem[], prov_rsa_encoder_der[], prov_ec_encoder_pem[], prov_ec_encoder_der[];
extern const OSSL_DISPATCH prov_text_encoder[];
extern const OSSL_DISPATCH prov_store[];

#endif /* PROV_PROV_H */
