/*
 * config.h: the engine's sign-in and settings, from the environment and from
 * azcloudhsm_openssl_dynamic.conf (the Azure Cloud HSM OpenSSL guide; docs/openssl.md
 * "Configuration"). Plain C, no OpenSSL.
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
 * not set".
 */
#ifndef ENG_CONFIG_H
#define ENG_CONFIG_H

#include <stddef.h>

#define ENG_ENV_CONF "azcloudhsm_openssl_conf"
#define ENG_ENV_PASSWORD "azcloudhsm_password"

#define ENG_CONFIG_PATH_MAX 4096
#define ENG_CONFIG_USER_MAX 256
#define ENG_CONFIG_PASSWORD_MAX 1024
#define ENG_CONFIG_MESSAGE_MAX 1024

typedef struct eng_config {
    char conf_path[ENG_CONFIG_PATH_MAX];
    char partition[ENG_CONFIG_USER_MAX];     /* Partition_Name ("" when absent) */
    char file_user[ENG_CONFIG_USER_MAX];     /* Username from the file */
    char file_password[ENG_CONFIG_PASSWORD_MAX];
    int has_file_user, has_file_password;
    int ecdsa_sign;                          /* ECDSA_Sign: 1 = sign EC key references in the HSM */
    int ecdsa_verify;                        /* ECDSA_Verify: read, see docs/openssl.md */
    /* The credentials in use. */
    char user[ENG_CONFIG_USER_MAX];
    char password[ENG_CONFIG_PASSWORD_MAX];
    const char *credentials_from;            /* "azcloudhsm_password" or "azcloudhsm_openssl_dynamic.conf" */
} eng_config;

/* Parse the text of a dynamic conf file into c (file settings only). 0 on
 * success; -1 with msg "<path>:<line>: ...". */
int eng_config_parse(const char *text, size_t len, const char *path, eng_config *c, char *msg, size_t msglen);

/* Read everything: both variables, the file, the credentials. 0 or -1 with
 * the guide's message in msg. */
int eng_config_load(eng_config *c, char *msg, size_t msglen);

/* Overwrite the secrets. */
void eng_config_wipe(eng_config *c);

#endif /* ENG_CONFIG_H */
