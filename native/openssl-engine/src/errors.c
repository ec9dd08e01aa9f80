/*
 * errors.c: the engine's own OpenSSL error library, so that what goes wrong
 * reaches the user the way OpenSSL reports anything: `openssl` prints the
 * queue ("...:error:...:azcloudhsm_openssl:...:<reason>:...:<message>"),
 * nginx writes it to its error log. The message is always the useful part.
 */
#include "eng.h"

#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>

static int lib_code;
static int strings_loaded;

static ERR_STRING_DATA eng_reasons[] = {
    {ERR_PACK(0, 0, OSH_R_CONFIG), "configuration error"},
    {ERR_PACK(0, 0, OSH_R_DAEMON), "cannot reach the client daemon"},
    {ERR_PACK(0, 0, OSH_R_LOGIN), "HSM login failed"},
    {ERR_PACK(0, 0, OSH_R_HSM), "HSM operation failed"},
    {ERR_PACK(0, 0, OSH_R_KEYREF), "bad key reference"},
    {ERR_PACK(0, 0, OSH_R_UNSUPPORTED), "not offered by the HSM"},
    {ERR_PACK(0, 0, OSH_R_INTERNAL), "internal error"},
    {0, NULL},
};

static ERR_STRING_DATA eng_lib_name[] = {
    {0, ENG_ID},
    {0, NULL},
};

void eng_errors_load(void) {
    if (lib_code == 0) lib_code = ERR_get_next_error_library();
    if (!strings_loaded) {
        ERR_load_strings(lib_code, eng_reasons);
        /* ERR_load_strings stops at the first entry whose code is 0: pack the library's own. */
        eng_lib_name[0].error = ERR_PACK(lib_code, 0, 0);
        ERR_load_strings(lib_code, eng_lib_name);
        strings_loaded = 1;
    }
}

void eng_errors_unload(void) {
    if (strings_loaded) {
        ERR_unload_strings(lib_code, eng_reasons);
        ERR_unload_strings(lib_code, eng_lib_name);
        strings_loaded = 0;
    }
}

const char osh_client_name[] = ENG_ID "/" ENG_VERSION;

void osh_error(const char *file, int line, const char *func, int reason, const char *fmt, ...) {
    va_list ap;
    if (lib_code == 0) lib_code = ERR_get_next_error_library();
    ERR_new();
    ERR_set_debug(file, line, func);
    va_start(ap, fmt);
    ERR_vset_error(lib_code, reason, fmt, ap);
    va_end(ap);
}
