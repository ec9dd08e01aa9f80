/*
 * prov.h: what the parts of the azcloudhsm OpenSSL 3 provider share.
 *
 *   provider.c   OSSL_provider_init, the algorithm tables, errors, the software library context
 *   hsm.c        the requests only the provider makes (ECDH, the search by label)
 *   keymgmt.c    RSA, EC and Ed25519 keys: HSM references and public keys; key generation in the HSM
 *   signature.c  RSA (PKCS#1 v1.5, PSS), ECDSA, Ed25519 signing in the HSM; verification in software
 *   cipher.c     RSA decryption in the HSM (PKCS#1 v1.5, OAEP); encryption in software
 *   exchange.c   ECDH in the HSM
 *   decoder.c    key-reference PEM/DER files (the engine's and azcloudhsm_util's) into HSM keys
 *   encoder.c    HSM keys into key-reference PEM/DER files
 *   store.c      azcloudhsm: and pkcs11: URIs (by label, by handle)
 *
 * The sign-in settings, the daemon connection with its requests and the key
 * references are native/openssl-common's (osh.h), shared with the engine.
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

#include "ochsm_shared_gen.h"
#include "osh.h"

#define PROV_NAME "azcloudhsm"                  /* -provider azcloudhsm, provider=azcloudhsm */
#define PROV_ID "azcloudhsm_provider"           /* the daemon's client name; the default key label */
#define PROV_LONG_NAME "Azure Cloud HSM compatible provider (OpenCloudHSM)"
#define PROV_VERSION OCHSM_VERSION                /* package.json, through the generated header */
#define PROV_PROPS "provider=azcloudhsm"

/* ───────────── errors (provider.c) ─────────────
 * The reasons (OSH_R_*) and OSH_ERR are native/openssl-common's (osh.h); provider.c defines
 * its hooks osh_error (the core's error functions) and osh_client_name. */

/* The private library context holding OpenSSL's default provider (public-key math, parsing). */
OSSL_LIB_CTX *prov_sw(void);

/* The core's BIO functions, for decoders and encoders. */
int prov_bio_read_ex(OSSL_CORE_BIO *bio, void *data, size_t len, size_t *read);
int prov_bio_write_ex(OSSL_CORE_BIO *bio, const void *data, size_t len, size_t *written);

/* ───────────── hsm.c: the requests only the provider makes ─────────────
 * Sign, decrypt, key generation, CKA_PUBLIC_KEY_INFO, the key-reference marker and the sign-in
 * settings are native/openssl-common's (osh_sign, osh_generate_ec, osh_marker_read, ...). */

/* CKM_ECDH1_DERIVE with CKD_NULL: the shared secret (secret_len bytes), read from a session key that is then destroyed. */
int prov_hsm_ecdh(uint64_t handle, const uint8_t *peer, size_t peer_len, size_t secret_len, uint8_t **secret,
                  size_t *out_len);
/* Private keys (all, or with this CKA_LABEL) the user can see: up to max handles, *count how many there are. */
int prov_hsm_find_private(const char *label, uint64_t *handles, size_t max, size_t *count);

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
