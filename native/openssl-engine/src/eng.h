/*
 * eng.h: what the parts of the azcloudhsm_openssl engine share.
 *
 *   engine.c  the ENGINE: id, bind, methods, lifetime
 *   config.c  azcloudhsm_password, azcloudhsm_openssl_conf, the dynamic conf file
 *   hsm.c     the daemon connection (native/common), sign-in, one function per request
 *   keyref.c  key references: the marker block, the public-key check
 *   rsa.c     RSA: the EVP_PKEY_METHOD (keygen, sign, decrypt) and the RSA_METHOD
 *   ec.c      ECDSA: the EC_KEY_METHOD
 *   errors.c  the engine's OpenSSL error library
 *
 * The rule for all of them (docs/decisions.md, STYLE "Keep the C thin"): translate
 * OpenSSL's request into one HSM request, send it through the daemon, hand the
 * answer back or report the daemon's error. Which operation is allowed on
 * which key, and every cryptographic decision, is the HSM's.
 */
#ifndef ENG_ENG_H
#define ENG_ENG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/engine.h>
#include <openssl/evp.h>

#define ENG_ID "azcloudhsm_openssl"
#define ENG_NAME "Azure Cloud HSM compatible engine (OpenCloudHSM)"
#define ENG_VERSION "0.1.0"

/* ───────────── errors.c: reasons of the engine's error library ───────────── */

#define ENG_R_CONFIG 100      /* environment variables, dynamic conf, application cfg */
#define ENG_R_DAEMON 101      /* the daemon cannot be reached */
#define ENG_R_LOGIN 102       /* sign-in refused */
#define ENG_R_HSM 103         /* the HSM refused or failed an operation */
#define ENG_R_KEYREF 104      /* a key reference that does not fit the HSM key */
#define ENG_R_UNSUPPORTED 105 /* an OpenSSL request with no HSM mechanism */
#define ENG_R_INTERNAL 106    /* out of memory, malformed answer */

void eng_errors_load(void);
void eng_errors_unload(void);
/* Put one error on OpenSSL's queue; the message is the text a user reads. */
#define ENG_ERR(reason, ...) eng_error(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, (reason), __VA_ARGS__)
void eng_error(const char *file, int line, const char *func, int reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ───────────── hsm.c: one function per HSM request ───────────── */

/* A CK_MECHANISM with the parameters the engine uses (protocol Mechanism record). */
typedef struct eng_mech {
    uint64_t mechanism;
    int has_hash;          /* PSS / OAEP: hashAlg and mgf */
    uint64_t hash_alg;
    uint64_t mgf;
    int has_salt;          /* PSS: saltLen */
    uint64_t salt_len;
    const uint8_t *source; /* OAEP label (sourceData); NULL: none */
    size_t source_len;
} eng_mech;

/* Each returns 1 on success, 0 with an error on OpenSSL's queue. Outputs are
 * OPENSSL_malloc'd; the caller frees them with OPENSSL_free. */
int eng_hsm_sign(uint64_t handle, const eng_mech *m, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len);
int eng_hsm_decrypt(uint64_t handle, const eng_mech *m, const uint8_t *data, size_t len, uint8_t **out,
                    size_t *out_len);
/* CKA_PUBLIC_KEY_INFO (DER SubjectPublicKeyInfo) of a private key. */
int eng_hsm_public_key_info(uint64_t handle, uint8_t **der, size_t *len);
/* An RSA key pair in the HSM; the public-key object is removed once n and e are read
 * (the private key carries them), so findKey counts one new key. */
int eng_hsm_generate_rsa(unsigned long bits, const uint8_t *exp, size_t exp_len, uint64_t *priv, uint8_t **n,
                         size_t *n_len, uint8_t **e, size_t *e_len);
/* ECDSA_Sign of the dynamic conf (loading the configuration when needed): 1 on, 0 off, -1 error queued. */
int eng_hsm_ecdsa_sign_enabled(void);
void eng_hsm_setup(void);
void eng_hsm_teardown(void);

/* ───────────── keyref.c ───────────── */

#define ENG_MARKER_MIN 16

/* 1 and *handle when b[0..len) is a marker block (docs/cli.md "Key-reference PEM files"). */
int eng_marker_read(const uint8_t *b, size_t len, uint64_t *handle);
/* Write the marker block for handle into out[0..len), len >= 16. */
void eng_marker_write(uint64_t handle, uint8_t *out, size_t len);
/* 1 when the DER SubjectPublicKeyInfo `file_spki` (the public key of a key
 * reference) is the HSM key `handle`'s; 0 with an error queued otherwise.
 * Cached per process, so the HSM is asked once per handle and public key. */
int eng_keyref_check_public(uint64_t handle, const uint8_t *file_spki, size_t file_len);

/* ───────────── rsa.c, ec.c ───────────── */

int eng_rsa_setup(ENGINE *e);
void eng_rsa_teardown(void);
int eng_rsa_pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid);
int eng_ec_setup(ENGINE *e);
void eng_ec_teardown(void);

#endif /* ENG_ENG_H */
