/*
 * eng.h: what the parts of the azcloudhsm_openssl engine share.
 *
 *   engine.c  the ENGINE: id, bind, methods, lifetime
 *   rsa.c     RSA: the EVP_PKEY_METHOD (keygen, sign, decrypt) and the RSA_METHOD
 *   ec.c      ECDSA: the EC_KEY_METHOD
 *   errors.c  the engine's OpenSSL error library
 *
 * The sign-in settings, the daemon connection with its requests and the key
 * references are native/openssl-common's (osh.h), shared with the provider.
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

#include "ochsm_shared_gen.h"
#include "osh.h"

#define ENG_ID "azcloudhsm_openssl"
#define ENG_NAME "Azure Cloud HSM compatible engine (OpenCloudHSM)"
#define ENG_VERSION OCHSM_VERSION /* package.json, through the generated header */

/* ───────────── errors.c: the engine's error library ─────────────
 * The reasons (OSH_R_*) and OSH_ERR are native/openssl-common's (osh.h); errors.c
 * defines its hook osh_error and the hook osh_client_name. */

void eng_errors_load(void);
void eng_errors_unload(void);

/* ───────────── rsa.c, ec.c ───────────── */

int eng_rsa_setup(ENGINE *e);
void eng_rsa_teardown(void);
int eng_rsa_pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid);
int eng_ec_setup(ENGINE *e);
void eng_ec_teardown(void);

#endif /* ENG_ENG_H */
