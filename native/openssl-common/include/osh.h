/*
 * osh.h: what the OpenSSL engine (native/openssl-engine) and the OpenSSL 3
 * provider (native/openssl-provider) share, written once: the sign-in
 * settings (config.c), the one connection to the client daemon with its
 * sign-in, fork and recovery rules and the request helpers (hsm.c), and the
 * key-reference marker block with its public-key check (keyref.c).
 *
 * Built into dist/native/libochsm_ossl.a with the provider's flags (no API
 * deprecated in OpenSSL 3.0), linked into both modules; each module has its
 * own copy of the state (one connection per module and process).
 *
 * What a module supplies (link-time hooks, defined once in each module):
 *   osh_error         put one error on OpenSSL's queue under the module's library
 *   osh_client_name   the daemon's client name ("azcloudhsm_openssl/" OCHSM_VERSION)
 *
 * The rule for all of it (docs/decisions.md, "Keep the C thin"): translate
 * one OpenSSL request into one HSM request, send it through the daemon, hand
 * the answer back or report the daemon's error. Which operation is allowed on
 * which key, and every cryptographic decision, is the HSM's.
 */
#ifndef OSH_H
#define OSH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ochsm_wire.h"
#include "ochsm_client.h"

/* ───────────── errors: the reasons both modules' error libraries name ───────────── */

#define OSH_R_CONFIG 100      /* environment variables, dynamic conf, application cfg */
#define OSH_R_DAEMON 101      /* the daemon cannot be reached */
#define OSH_R_LOGIN 102       /* sign-in refused */
#define OSH_R_HSM 103         /* the HSM refused or failed an operation */
#define OSH_R_KEYREF 104      /* a key reference that does not fit the HSM key */
#define OSH_R_UNSUPPORTED 105 /* an OpenSSL request with no HSM mechanism, or one OpenSSL must not do */
#define OSH_R_INTERNAL 106    /* out of memory, malformed answer */
#define OSH_R_URI 107         /* a store URI that names no key (the provider's store) */

/* The module's hook: one error on OpenSSL's queue; the message is the text a user reads. */
void osh_error(const char *file, int line, const char *func, int reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define OSH_ERR(reason, ...) osh_error(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, (reason), __VA_ARGS__)

/* The module's hook: the client name sent in hello. */
extern const char osh_client_name[];

/* ───────────── config.c: sign-in and settings ─────────────
 *
 *   azcloudhsm_openssl_conf   path of azcloudhsm_openssl_dynamic.conf (required)
 *   azcloudhsm_password       "<user>:<password>" (split at the first colon)
 *
 * The file: Key=Value lines; blank lines and lines starting with '#' are
 * skipped; white space around keys and values is ignored; keys are matched
 * without regard to case; unknown keys are ignored (the guide's sample has
 * more); a key given twice, a line without '=', or a bad value is an error
 * naming file and line. Keys: Partition_Name, Username, Password, ECDSA_Sign
 * (0/1, default 0), ECDSA_Verify (0/1, default 0).
 *
 * Credentials: azcloudhsm_password when it is set (it wins over the file);
 * otherwise Username and Password from the file when both are there;
 * otherwise the guide's error "environment variable azcloudhsm_password is
 * not set". The provider's openssl.cnf parameters of the same two names stand
 * in for a variable that is not set (docs/openssl.md).
 */
#define OSH_ENV_CONF "azcloudhsm_openssl_conf"
#define OSH_ENV_PASSWORD "azcloudhsm_password"

#define OSH_CONFIG_PATH_MAX 4096
#define OSH_CONFIG_USER_MAX 256
#define OSH_CONFIG_PASSWORD_MAX 1024
#define OSH_CONFIG_MESSAGE_MAX 1024

typedef struct osh_config {
    char conf_path[OSH_CONFIG_PATH_MAX];
    char partition[OSH_CONFIG_USER_MAX]; /* Partition_Name ("" when absent) */
    char file_user[OSH_CONFIG_USER_MAX]; /* Username from the file */
    char file_password[OSH_CONFIG_PASSWORD_MAX];
    int has_file_user, has_file_password;
    int ecdsa_sign;   /* ECDSA_Sign: 1 = the engine signs EC key references in the HSM */
    int ecdsa_verify; /* ECDSA_Verify: read, see docs/openssl.md */
    /* The credentials in use. */
    char user[OSH_CONFIG_USER_MAX];
    char password[OSH_CONFIG_PASSWORD_MAX];
    const char *credentials_from; /* "azcloudhsm_password", "openssl.cnf azcloudhsm_password" or the conf file */
} osh_config;

/* Parse the text of a dynamic conf file into c (file settings only). 0 on
 * success; -1 with msg "<path>:<line>: ...". */
int osh_config_parse(const char *text, size_t len, const char *path, osh_config *c, char *msg, size_t msglen);
/* Read everything: both variables (cnf_conf and cnf_password, NULL when
 * absent, stand in for unset ones), the file, the credentials. 0 or -1 with
 * the guide's message in msg. */
int osh_config_load(osh_config *c, const char *cnf_conf, const char *cnf_password, char *msg, size_t msglen);
/* Overwrite the secrets. */
void osh_config_wipe(osh_config *c);

/* ───────────── hsm.c: the connection and the requests ───────────── */

#define OSH_CALL_TIMEOUT_MS 60000
#define OSH_KEYGEN_TIMEOUT_MS 300000

/* A CK_MECHANISM with the parameters the modules use (protocol Mechanism record). */
typedef struct osh_mech {
    uint64_t mechanism;
    int has_hash; /* PSS / OAEP: hashAlg and mgf */
    uint64_t hash_alg;
    uint64_t mgf;
    int has_salt; /* PSS: saltLen */
    uint64_t salt_len;
    const uint8_t *source; /* OAEP label (sourceData); NULL: none */
    size_t source_len;
} osh_mech;

/* Each returns 1 on success, 0 with an error on OpenSSL's queue. Outputs are
 * OPENSSL_malloc'd; the caller frees them with OPENSSL_free. */
int osh_sign(uint64_t handle, const osh_mech *m, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len);
int osh_decrypt(uint64_t handle, const osh_mech *m, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len);
/* CKA_PUBLIC_KEY_INFO (DER SubjectPublicKeyInfo) of a private key. */
int osh_public_key_info(uint64_t handle, uint8_t **der, size_t *len);
/* An RSA key pair in the HSM labelled `label`; the public-key object is removed once n and e are
 * read (the private key carries them), so findKey counts one new key. */
int osh_generate_rsa(unsigned long bits, const uint8_t *exp, size_t exp_len, const char *label, uint64_t *priv,
                     uint8_t **n, size_t *n_len, uint8_t **e, size_t *e_len);
/* An EC or EdDSA key pair (mechanism CKM_EC_KEY_PAIR_GEN or CKM_EC_EDWARDS_KEY_PAIR_GEN), CKA_EC_PARAMS
 * ec_params; *spki the private key's CKA_PUBLIC_KEY_INFO. The public-key object is removed. */
int osh_generate_ec(uint64_t mechanism, const uint8_t *ec_params, size_t params_len, int derive, const char *label,
                    const char *what, uint64_t *priv, uint8_t **spki, size_t *spki_len);
/* ECDSA_Sign of the dynamic conf (loading the configuration when needed): 1 on, 0 off, -1 error queued. */
int osh_ecdsa_sign_enabled(void);
/* The provider's openssl.cnf stand-ins for azcloudhsm_openssl_conf and azcloudhsm_password (NULL: none). */
void osh_set_cnf(const char *conf, const char *password);
void osh_setup(void);
void osh_teardown(void);

/* The request helpers, for requests a module adds of its own (the provider's ECDH and search).
 * osh_request: send the body built in b (and free b); `repeatable`: may be sent again on a fresh
 * connection when the first one dropped or lost its sign-in (never for requests that create
 * something). 1 with r filled (free it with ochsm_response_free) when the HSM answered CKR_OK;
 * 0 with an error queued, naming `what`, otherwise. */
int osh_request(uint16_t opcode, ochsm_builder *b, const char *what, int repeatable, uint32_t timeout_ms,
                ochsm_response *r);
/* The same, for a request whose failure is not worth reporting (clean-up): nothing is queued. */
void osh_request_quiet(uint16_t opcode, ochsm_builder *b);
void osh_put_mechanism(ochsm_builder *b, uint16_t id, const osh_mech *m);
/* A result field: 1, or 0 with "the daemon's answer has no field N" queued. */
int osh_result_u64(const ochsm_response *r, uint16_t id, uint64_t *out);
int osh_result_bytes(const ochsm_response *r, uint16_t id, uint8_t **out, size_t *out_len);
int osh_result_field(const ochsm_response *r, uint16_t id, ochsm_field *f);
/* A CK_ULONG as the 8 little-endian bytes of an attribute value. */
void osh_ulong_le(uint64_t v, uint8_t out[8]);

/* ───────────── mech.c: OpenSSL digests as PKCS#11 mechanisms ───────────── */

/* CKM_SHA* and CKG_MGF1_* for a digest's NID (SHA-1 and SHA-2); 0 for any other. */
int osh_hash_mechanism(int nid, uint64_t *hash, uint64_t *mgf);
/* DER DigestInfo (RFC 8017 §9.2) of a digest, for CKM_RSA_PKCS; 1, or 0 with an error queued.
 * *der is OPENSSL_malloc'd. */
int osh_digest_info(const EVP_MD *md, const unsigned char *dgst, size_t len, unsigned char **der, int *der_len);
/* Copy an HSM answer out[0..n) into to (room: cap) and clear-free it; 0 with an error when it does not fit. */
int osh_copy_answer(uint8_t *out, size_t n, unsigned char *to, size_t cap, size_t *to_len);

/* ───────────── keyref.c: key references ───────────── */

#define OSH_MARKER_MIN 16
#define OSH_RSA_MARKER_LENGTH 32

/* 1 and *handle when b[0..len) is a marker block (docs/cli.md "Key-reference PEM files"). */
int osh_marker_read(const uint8_t *b, size_t len, uint64_t *handle);
/* Write the marker block for handle into out[0..len), len >= 16. */
void osh_marker_write(uint64_t handle, uint8_t *out, size_t len);
/* 1 when the DER SubjectPublicKeyInfo `file_spki` (the public key of a key
 * reference) is the HSM key `handle`'s; 0 with an error queued otherwise.
 * Cached per process, so the HSM is asked once per handle and public key. */
int osh_keyref_check_public(uint64_t handle, const uint8_t *file_spki, size_t file_len);

#endif /* OSH_H */
