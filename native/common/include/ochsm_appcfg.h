/*
 * ochsm_appcfg.h: azcloudhsm_application.cfg, the file that tells an
 * application's library (PKCS#11 module, OpenSSL engine) how to reach the
 * local client daemon. The rules of docs/config-format.md, checked by the shared vectors
 * (test-vectors/cfg/application.json) that the TypeScript and Java parsers pass too:
 *
 *   KEY=VALUE lines; blank lines and lines starting with '#' are skipped;
 *   white space around keys and values is ignored; a UTF-8 BOM and CRLF line
 *   ends are accepted; unknown keys are ignored; a key set twice, a line
 *   without '=', an empty or invalid value is an error naming file and line.
 *
 *   DAEMON_ID        whole number 0..2147483647            (default 1)
 *   SOCKET_TYPE      UNIXSOCKET | TCPSOCKET (any case)      (default UNIXSOCKET)
 *   PORT             1..65535, used with TCPSOCKET          (default 1111)
 *   SOCKET_PATH      Unix socket; relative to the cfg's folder; <= 107 bytes
 *                    (default <folder of the cfg>/../run/azcloudhsm_client.sock)
 *   USER_KEK_HANDLE  key handle 1..2^53-1                   (default: none)
 *   SESSION_MODE     HOST | APPLICATION (any case)          (default HOST)
 *
 * Lookup (docs/config-format.md "Lookup", test-vectors/cfg/lookup.json): the
 * current working directory, then the folder of the executable
 * (/proc/self/exe), then the file named by the environment variable
 * AZCLOUDHSM_APPLICATION_CFG (or the file in the folder it names), then the
 * product's own copy,
 * /opt/azurecloudhsm/bin/azcloudhsm_application.cfg (for daemons such as
 * ssh-agent, systemd services and nginx workers, whose working directory is /).
 * The first file that exists is read; if it is invalid, or not trusted (owned
 * by another user than this process's or root, or writable by group or
 * others: ochsm_trust.h), that is the error (no fall-through). When none
 * exists, the error lists every path tried.
 *
 * No global state. ochsm_appcfg_find reads the environment and the working
 * directory of the process, so it must not race with setenv() or chdir().
 */
#ifndef OCHSM_APPCFG_H
#define OCHSM_APPCFG_H

#include "ochsm_client.h"
#include "ochsm_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCHSM_APPCFG_FILE "azcloudhsm_application.cfg"
#define OCHSM_APPCFG_ENV "AZCLOUDHSM_APPLICATION_CFG"
#define OCHSM_APPCFG_PRODUCT_DIR "/opt/azurecloudhsm/bin"
#define OCHSM_SOCKET_FILE "azcloudhsm_client.sock"
#define OCHSM_SOCKET_PATH_MAX 107 /* sockaddr_un.sun_path holds 108 bytes with the NUL */
#define OCHSM_APPCFG_PATH_MAX 4096

#define OCHSM_SESSION_HOST 1
#define OCHSM_SESSION_APPLICATION 2

typedef struct ochsm_appcfg {
    char path[OCHSM_APPCFG_PATH_MAX];           /* the file read (absolute) */
    uint32_t daemon_id;
    int socket_type;                            /* OCHSM_SOCKET_UNIX or OCHSM_SOCKET_TCP */
    uint16_t port;
    char socket_path[OCHSM_SOCKET_PATH_MAX + 1]; /* absolute */
    int has_user_kek_handle;
    uint64_t user_kek_handle;
    int session_mode;                           /* OCHSM_SESSION_HOST or OCHSM_SESSION_APPLICATION */
} ochsm_appcfg;

/*
 * Parse the text of a cfg file. path names the file in messages, and its
 * folder anchors a relative SOCKET_PATH and the default socket path (a
 * relative path is taken from the working directory). Errors:
 * OCHSM_ERR_CONFIG, message "<path>:<line>: ...".
 */
int ochsm_appcfg_parse(const char *text, size_t len, const char *path, ochsm_appcfg *out, ochsm_error *err);

/* Read and parse one file (OCHSM_ERR_NOT_FOUND when it does not exist). */
int ochsm_appcfg_load(const char *path, ochsm_appcfg *out, ochsm_error *err);

/* The lookup above. OCHSM_ERR_NOT_FOUND lists every path tried. */
int ochsm_appcfg_find(ochsm_appcfg *out, ochsm_error *err);

/* The same lookup with the three places given (each may be NULL: unknown or
 * unset), for tests and for callers that know better. */
int ochsm_appcfg_find_in(const char *cwd, const char *exe_dir, const char *env_path, ochsm_appcfg *out, ochsm_error *err);
/* The same with the fourth place, the product's copy (NULL: not tried). */
int ochsm_appcfg_find_in4(const char *cwd, const char *exe_dir, const char *env_path, const char *product_path, ochsm_appcfg *out,
                          ochsm_error *err);

/* What is at a path, for ochsm_appcfg_lookup (OCHSM_PATH_ERROR sets *error to an errno). */
enum { OCHSM_PATH_MISSING = 0, OCHSM_PATH_FILE = 1, OCHSM_PATH_DIR = 2, OCHSM_PATH_ERROR = 3 };
typedef int (*ochsm_path_kind_fn)(const char *path, void *ctx, int *error);

/* The lookup rule alone: the path to read in found (OCHSM_OK), or OCHSM_ERR_NOT_FOUND with the
 * message listing every place. kind says what is at a path (stat() in ochsm_appcfg_find_in4; a
 * vector's table in the tests). product_path NULL: the fourth place is not tried. */
int ochsm_appcfg_lookup(const char *cwd, const char *exe_dir, const char *env_path, const char *product_path, ochsm_path_kind_fn kind,
                        void *ctx, char *found, size_t foundsz, ochsm_error *err);

/* Fill the endpoint of connection options from a cfg (socket type, path, port). */
void ochsm_appcfg_conn_opts(const ochsm_appcfg *cfg, ochsm_conn_opts *o);

#ifdef __cplusplus
}
#endif

#endif /* OCHSM_APPCFG_H */
