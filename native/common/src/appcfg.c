/*
 * appcfg.c: azcloudhsm_application.cfg (see ochsm_appcfg.h), parsed with the
 * rules of parseApplicationConfig in packages/daemon/src/config.ts. The text
 * is handled by length, never by strlen, so a NUL byte in the file is just a
 * character that makes a value invalid.
 */
#include "ochsm_appcfg.h"
#include "ochsm_trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES (1024 * 1024)

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The value as a quoted, printable, short string for messages (like show() in config.ts). */
static void show(const char *s, size_t n, char *out, size_t outsz) {
    size_t o = 0;
    if (outsz < 8) {
        if (outsz > 0) out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 6 < outsz; i++) {
        if (i >= 57) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        } else if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* /^[0-9]{1,16}$/ and min <= n <= max. */
static int whole_number(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out) {
    if (n < 1 || n > 16) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < min || v > max) return 0;
    *out = v;
    return 1;
}

static int equals_ci(const char *s, size_t n, const char *word) {
    size_t k = strlen(word);
    if (n != k) return 0;
    for (size_t i = 0; i < n; i++) {
        char a = s[i];
        if (a >= 'a' && a <= 'z') a = (char)(a - 'a' + 'A');
        if (a != word[i]) return 0;
    }
    return 1;
}

/*
 * Lexically resolve `rel` against the absolute folder `base` (rel may itself
 * be absolute), as node's path.resolve does: '.' and empty segments vanish,
 * '..' removes the previous segment. 0, or -1 when out is too small.
 */
static int resolve_path(const char *base, const char *rel, size_t rel_len, char *out, size_t outsz) {
    char tmp[OCHSM_APPCFG_PATH_MAX * 2 + 2];
    size_t t = 0;
    if (rel_len > 0 && rel[0] == '/') {
        if (rel_len >= sizeof tmp) return -1;
        memcpy(tmp, rel, rel_len);
        t = rel_len;
    } else {
        size_t b = strlen(base);
        if (b + 1 + rel_len >= sizeof tmp) return -1;
        memcpy(tmp, base, b);
        tmp[b] = '/';
        if (rel_len > 0) memcpy(tmp + b + 1, rel, rel_len);
        t = b + 1 + rel_len;
    }
    /* Segment stack: starts of the kept segments in out. */
    size_t starts[512]; /* a path of more segments is refused */
    size_t depth = 0, o = 0;
    size_t i = 0;
    while (i < t) {
        while (i < t && tmp[i] == '/') i++;
        size_t s = i;
        while (i < t && tmp[i] != '/') i++;
        size_t n = i - s;
        if (n == 0 || (n == 1 && tmp[s] == '.')) continue;
        if (n == 2 && tmp[s] == '.' && tmp[s + 1] == '.') {
            if (depth > 0) o = starts[--depth];
            continue;
        }
        if (depth >= sizeof starts / sizeof starts[0] || o + 1 + n >= outsz) return -1;
        starts[depth++] = o;
        out[o++] = '/';
        memcpy(out + o, tmp + s, n);
        o += n;
    }
    if (o == 0) {
        if (outsz < 2) return -1;
        out[o++] = '/';
    }
    out[o] = '\0';
    return 0;
}

/* The absolute form of path, and its folder. */
static int absolute_and_dir(const char *path, char *abs, size_t abssz, char *dir, size_t dirsz) {
    char cwd[OCHSM_APPCFG_PATH_MAX];
    if (path[0] != '/') {
        if (getcwd(cwd, sizeof cwd) == NULL) return -1;
    } else {
        strcpy(cwd, "/");
    }
    if (resolve_path(cwd, path, strlen(path), abs, abssz) != 0) return -1;
    size_t n = strlen(abs);
    while (n > 1 && abs[n - 1] != '/') n--;
    if (n > 1) n--; /* drop the slash, except for the root */
    if (n + 1 > dirsz) return -1;
    memcpy(dir, abs, n);
    dir[n] = '\0';
    return 0;
}

enum { K_DAEMON_ID, K_SOCKET_TYPE, K_PORT, K_SOCKET_PATH, K_USER_KEK_HANDLE, K_SESSION_MODE, K_COUNT };
static const char *const KEYS[K_COUNT] = {"DAEMON_ID", "SOCKET_TYPE", "PORT", "SOCKET_PATH", "USER_KEK_HANDLE", "SESSION_MODE"};

int ochsm_appcfg_parse(const char *text, size_t len, const char *path, ochsm_appcfg *out, ochsm_error *err) {
    char dir[OCHSM_APPCFG_PATH_MAX];
    char shown[128];
    char resolved[OCHSM_APPCFG_PATH_MAX];
    unsigned seen[K_COUNT] = {0};
    if (out == NULL || path == NULL || (text == NULL && len > 0)) {
        return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_appcfg_parse: NULL argument");
    }
    memset(out, 0, sizeof *out);
    if (absolute_and_dir(path, out->path, sizeof out->path, dir, sizeof dir) != 0) {
        return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%.300s: cannot make the path absolute", path);
    }
    const char *P = out->path;
    out->daemon_id = 1;
    out->socket_type = OCHSM_SOCKET_UNIX;
    out->port = 1111;
    out->session_mode = OCHSM_SESSION_HOST;

    size_t i = 0;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF) i = 3;
    unsigned line_no = 0;
    while (i < len || (i == len && line_no == 0)) {
        size_t s = i;
        while (i < len && text[i] != '\n') i++;
        size_t e = i;
        if (i < len) i++; /* the '\n' */
        line_no++;
        while (s < e && is_space(text[s])) s++;
        while (e > s && is_space(text[e - 1])) e--;
        if (s == e || text[s] == '#') {
            if (i >= len) break;
            continue;
        }
        const char *line = text + s;
        size_t n = e - s;
        const char *eq = memchr(line, '=', n);
        if (eq == NULL) {
            show(line, n, shown, sizeof shown);
            return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%s:%u: expected KEY=VALUE, got %s", P, line_no, shown);
        }
        size_t ks = 0, ke = (size_t)(eq - line);
        while (ke > ks && is_space(line[ke - 1])) ke--;
        size_t vs = (size_t)(eq - line) + 1, ve = n;
        while (vs < ve && is_space(line[vs])) vs++;
        const char *key = line + ks, *value = line + vs;
        size_t klen = ke - ks, vlen = ve - vs;
        int k = -1;
        for (int j = 0; j < K_COUNT; j++) {
            if (klen == strlen(KEYS[j]) && memcmp(key, KEYS[j], klen) == 0) k = j;
        }
        if (k < 0) {
            if (i >= len) break;
            continue; /* unknown keys are ignored, so that a newer file still loads */
        }
        if (seen[k]) return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%s:%u: %s is already set on line %u", P, line_no, KEYS[k], seen[k]);
        seen[k] = line_no;
        if (vlen == 0) return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%s:%u: %s has no value", P, line_no, KEYS[k]);
        uint64_t v;
        show(value, vlen, shown, sizeof shown);
        switch (k) {
        case K_DAEMON_ID:
            if (!whole_number(value, vlen, 0, 0x7fffffffu, &v)) {
                return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%s:%u: DAEMON_ID must be a whole number from 0 to 2147483647 (got %s)", P,
                                       line_no, shown);
            }
            out->daemon_id = (uint32_t)v;
            break;
        case K_SOCKET_TYPE:
            if (equals_ci(value, vlen, "UNIXSOCKET")) {
                out->socket_type = OCHSM_SOCKET_UNIX;
            } else if (equals_ci(value, vlen, "TCPSOCKET")) {
                out->socket_type = OCHSM_SOCKET_TCP;
            } else {
                return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%s:%u: SOCKET_TYPE must be UNIXSOCKET or TCPSOCKET (got %s)", P, line_no,
                                       shown);
            }
            break;
        case K_PORT:
            if (!whole_number(value, vlen, 1, 65535, &v)) {
                return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%s:%u: PORT must be a TCP port from 1 to 65535 (got %s)", P, line_no, shown);
            }
            out->port = (uint16_t)v;
            break;
        case K_SOCKET_PATH:
            if (memchr(value, '\0', vlen) != NULL) {
                return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%s:%u: SOCKET_PATH contains a NUL character", P, line_no);
            }
            if (resolve_path(dir, value, vlen, resolved, sizeof resolved) != 0 || strlen(resolved) > OCHSM_SOCKET_PATH_MAX) {
                return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                                       "%s:%u: SOCKET_PATH %s is longer than %d bytes, the limit for a Unix socket path", P, line_no, shown,
                                       OCHSM_SOCKET_PATH_MAX);
            }
            memcpy(out->socket_path, resolved, strlen(resolved) + 1);
            break;
        case K_USER_KEK_HANDLE:
            if (!whole_number(value, vlen, 1, 9007199254740991ULL, &v)) {
                return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                                       "%s:%u: USER_KEK_HANDLE must be a key handle, a whole number such as 262150 (got %s)", P, line_no,
                                       shown);
            }
            out->has_user_kek_handle = 1;
            out->user_kek_handle = v;
            break;
        case K_SESSION_MODE:
            if (equals_ci(value, vlen, "HOST")) {
                out->session_mode = OCHSM_SESSION_HOST;
            } else if (equals_ci(value, vlen, "APPLICATION")) {
                out->session_mode = OCHSM_SESSION_APPLICATION;
            } else {
                return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%s:%u: SESSION_MODE must be HOST or APPLICATION (got %s)", P, line_no, shown);
            }
            break;
        default:
            break;
        }
        if (i >= len) break;
    }
    if (!seen[K_SOCKET_PATH]) {
        static const char rel[] = "../run/" OCHSM_SOCKET_FILE;
        int bad = resolve_path(dir, rel, sizeof rel - 1, resolved, sizeof resolved) != 0 || strlen(resolved) > OCHSM_SOCKET_PATH_MAX;
        if (bad && out->socket_type == OCHSM_SOCKET_UNIX) {
            return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                                   "%s: the default socket path (%.200s/../run/" OCHSM_SOCKET_FILE
                                   ") is longer than %d bytes; set SOCKET_PATH to a shorter path",
                                   P, dir, OCHSM_SOCKET_PATH_MAX);
        }
        if (!bad) memcpy(out->socket_path, resolved, strlen(resolved) + 1);
    }
    return OCHSM_OK;
}

int ochsm_appcfg_load(const char *path, ochsm_appcfg *out, ochsm_error *err) {
    if (path == NULL || out == NULL) return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_appcfg_load: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        const char *why = e == ENOENT ? "file not found" : e == EACCES ? "permission denied" : strerror(e);
        return ochsm_error_set(err, e == ENOENT || e == ENOTDIR ? OCHSM_ERR_NOT_FOUND : OCHSM_ERR_CONFIG,
                               "%.3000s: cannot read the configuration file: %s", path, why);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%.3000s: cannot read the configuration file: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        int dir = S_ISDIR(st.st_mode);
        close(fd);
        return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%.3000s: cannot read the configuration file: %s", path,
                               dir ? "is a directory" : "not a regular file");
    }
    int trust = ochsm_trust_cfg(&st, path, err);
    if (trust != OCHSM_OK) {
        close(fd);
        return trust;
    }
    if (st.st_size > MAX_FILE_BYTES) {
        close(fd);
        return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%.3000s: the file is larger than %d bytes; it is not an application cfg", path,
                               MAX_FILE_BYTES);
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *text = malloc(cap);
    if (text == NULL) {
        close(fd);
        return ochsm_error_set(err, OCHSM_ERR_NO_MEMORY, "no memory to read %.3000s", path);
    }
    for (;;) {
        if (len == cap) {
            /* The file grew since fstat; stay bounded. */
            if (cap > MAX_FILE_BYTES) {
                free(text);
                close(fd);
                return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%.3000s: the file is larger than %d bytes", path, MAX_FILE_BYTES);
            }
            char *t = realloc(text, cap * 2);
            if (t == NULL) {
                free(text);
                close(fd);
                return ochsm_error_set(err, OCHSM_ERR_NO_MEMORY, "no memory to read %.3000s", path);
            }
            text = t;
            cap *= 2;
        }
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(text);
            close(fd);
            return ochsm_error_set(err, OCHSM_ERR_CONFIG, "%.3000s: cannot read the configuration file: %s", path, strerror(e));
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    int rc = ochsm_appcfg_parse(text, len, path, out, err);
    free(text);
    return rc;
}

/* Append to the "tried" list, keeping it NUL-terminated and bounded. */
/* noinline: truncation is intended here, and an inlined constant format makes GCC warn about it. */
__attribute__((noinline)) static void tried_add(char *buf, size_t size, const char *fmt, const char *a, const char *b) {
    size_t n = strlen(buf);
    if (n + 1 >= size) return;
    snprintf(buf + n, size - n, fmt, a, b);
}

int ochsm_appcfg_find_in(const char *cwd, const char *exe_dir, const char *env_path, ochsm_appcfg *out, ochsm_error *err) {
    return ochsm_appcfg_find_in4(cwd, exe_dir, env_path, NULL, out, err);
}

/* What stat() says is at path (the file system's answer for ochsm_appcfg_lookup). */
static int stat_kind(const char *path, void *ctx, int *error) {
    (void)ctx;
    struct stat st;
    if (stat(path, &st) == 0) return S_ISDIR(st.st_mode) ? OCHSM_PATH_DIR : OCHSM_PATH_FILE;
    *error = errno;
    return errno == ENOENT || errno == ENOTDIR ? OCHSM_PATH_MISSING : OCHSM_PATH_ERROR;
}

int ochsm_appcfg_lookup(const char *cwd, const char *exe_dir, const char *env_path, const char *product_path, ochsm_path_kind_fn kind,
                        void *ctx, char *found, size_t foundsz, ochsm_error *err) {
    char cand[4][OCHSM_APPCFG_PATH_MAX];
    const char *what[4] = {"working directory", "executable's folder", "$" OCHSM_APPCFG_ENV, "the product's folder"};
    int have[4] = {0, 0, 0, 0};
    int places = product_path != NULL ? 4 : 3;
    char tried[OCHSM_ERROR_MESSAGE_MAX - 200];
    tried[0] = '\0';
    if (kind == NULL || found == NULL || foundsz == 0) return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_appcfg_lookup: NULL argument");

    if (cwd != NULL && cwd[0] != '\0' &&
        resolve_path(cwd, OCHSM_APPCFG_FILE, sizeof OCHSM_APPCFG_FILE - 1, cand[0], sizeof cand[0]) == 0) {
        have[0] = 1;
    }
    if (exe_dir != NULL && exe_dir[0] != '\0' &&
        resolve_path(exe_dir, OCHSM_APPCFG_FILE, sizeof OCHSM_APPCFG_FILE - 1, cand[1], sizeof cand[1]) == 0) {
        have[1] = 1;
    }
    if (env_path != NULL && env_path[0] != '\0' &&
        resolve_path(cwd != NULL && cwd[0] == '/' ? cwd : "/", env_path, strlen(env_path), cand[2], sizeof cand[2]) == 0) {
        int e = 0;
        have[2] = 1;
        /* A folder: the file in it. */
        if (kind(cand[2], ctx, &e) == OCHSM_PATH_DIR) {
            char dir[OCHSM_APPCFG_PATH_MAX];
            memcpy(dir, cand[2], strlen(cand[2]) + 1);
            have[2] = resolve_path(dir, OCHSM_APPCFG_FILE, sizeof OCHSM_APPCFG_FILE - 1, cand[2], sizeof cand[2]) == 0;
        }
    }
    if (product_path != NULL && product_path[0] == '/' && strlen(product_path) < sizeof cand[3]) {
        memcpy(cand[3], product_path, strlen(product_path) + 1);
        have[3] = 1;
    }
    for (int i = 0; i < places; i++) {
        const char *sep = tried[0] != '\0' ? "; " : "";
        if (!have[i]) {
            tried_add(tried, sizeof tried, i == 2 ? "%s%s not set" : "%s%s unknown", sep, what[i]);
            continue;
        }
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= have[j] && strcmp(cand[j], cand[i]) == 0;
        if (dup) {
            tried_add(tried, sizeof tried, "%s%s: the same path", sep, what[i]);
            continue;
        }
        int e = 0;
        int k = kind(cand[i], ctx, &e);
        if (k == OCHSM_PATH_FILE || k == OCHSM_PATH_DIR) {
            if (strlen(cand[i]) >= foundsz) return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_appcfg_lookup: path too long");
            memcpy(found, cand[i], strlen(cand[i]) + 1);
            return OCHSM_OK;
        }
        tried_add(tried, sizeof tried, "%s%s", sep, cand[i]);
        tried_add(tried, sizeof tried, " (%s%s)", what[i], k == OCHSM_PATH_ERROR ? ": " : "");
        if (k == OCHSM_PATH_ERROR) tried_add(tried, sizeof tried, "%s%s", strerror(e), "");
    }
    return ochsm_error_set(err, OCHSM_ERR_NOT_FOUND,
                           OCHSM_APPCFG_FILE " is not present (Cannot find file). Tried: %s. Put it in " OCHSM_APPCFG_PRODUCT_DIR
                           " or next to the application, or set " OCHSM_APPCFG_ENV " to its path",
                           tried);
}

int ochsm_appcfg_find_in4(const char *cwd, const char *exe_dir, const char *env_path, const char *product_path, ochsm_appcfg *out,
                          ochsm_error *err) {
    char found[OCHSM_APPCFG_PATH_MAX];
    if (out == NULL) return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_appcfg_find: NULL argument");
    int rc = ochsm_appcfg_lookup(cwd, exe_dir, env_path, product_path, stat_kind, NULL, found, sizeof found, err);
    if (rc != OCHSM_OK) return rc;
    return ochsm_appcfg_load(found, out, err);
}

int ochsm_appcfg_find(ochsm_appcfg *out, ochsm_error *err) {
    char cwd[OCHSM_APPCFG_PATH_MAX];
    char exe[OCHSM_APPCFG_PATH_MAX];
    const char *cwd_p = getcwd(cwd, sizeof cwd);
    const char *exe_p = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            if (slash == exe) slash[1] = '\0';
            else *slash = '\0';
            exe_p = exe;
        }
    }
    return ochsm_appcfg_find_in4(cwd_p, exe_p, getenv(OCHSM_APPCFG_ENV), OCHSM_APPCFG_PRODUCT_DIR "/" OCHSM_APPCFG_FILE, out, err);
}

void ochsm_appcfg_conn_opts(const ochsm_appcfg *cfg, ochsm_conn_opts *o) {
    o->socket_type = cfg->socket_type;
    o->socket_path = cfg->socket_path;
    o->port = cfg->port;
}
