/*
 * test_appcfg.c: azcloudhsm_application.cfg parsing (the rules of
 * docs/config-format.md; first the shared vectors) and the lookup
 * order: working directory, executable's folder, $AZCLOUDHSM_APPLICATION_CFG.
 */
#include "ochsm_appcfg.h"
#include "test_util.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *CFG = "/opt/azurecloudhsm/bin/azcloudhsm_application.cfg";

static int parse(const char *text, ochsm_appcfg *c, ochsm_error *e) {
    return ochsm_appcfg_parse(text, strlen(text), CFG, c, e);
}

static void test_parse_good(void) {
    ochsm_appcfg c;
    ochsm_error e;

    /* The file of the onboarding guide. */
    int rc = parse("DAEMON_ID=1\nSOCKET_TYPE=UNIXSOCKET\nPORT=1111\nUSER_KEK_HANDLE=262150\n", &c, &e);
    CHECK(rc == OCHSM_OK, "guide example: %s", e.message);
    CHECK(c.daemon_id == 1 && c.socket_type == OCHSM_SOCKET_UNIX && c.port == 1111, "guide example values");
    CHECK(c.has_user_kek_handle && c.user_kek_handle == 262150, "USER_KEK_HANDLE");
    CHECK(c.session_mode == OCHSM_SESSION_HOST, "SESSION_MODE defaults to HOST");
    CHECK(strcmp(c.socket_path, "/opt/azurecloudhsm/run/azcloudhsm_client.sock") == 0, "default socket path %s", c.socket_path);
    CHECK(strcmp(c.path, CFG) == 0, "path kept");

    /* Empty file: every default. */
    rc = parse("", &c, &e);
    CHECK(rc == OCHSM_OK && c.daemon_id == 1 && c.port == 1111 && !c.has_user_kek_handle && c.socket_type == OCHSM_SOCKET_UNIX,
          "empty file gives the defaults");

    /* BOM, CRLF, comments, blank lines, white space, value case. */
    rc = parse("\xEF\xBB\xBF# written by hand\r\n\r\n   SOCKET_TYPE = tcpsocket  \r\n\tPORT=\t2000\r\n  # another\r\n"
               "SESSION_MODE=application\r\nDAEMON_ID = 0",
               &c, &e);
    CHECK(rc == OCHSM_OK, "BOM, CRLF, comments: %s", e.message);
    CHECK(c.socket_type == OCHSM_SOCKET_TCP && c.port == 2000 && c.session_mode == OCHSM_SESSION_APPLICATION && c.daemon_id == 0,
          "values read through white space and CRLF");

    /* Unknown keys are ignored (a newer file still loads); keys are case-sensitive. */
    rc = parse("FOO=bar\nDEFAULT_WRAP_WITH_TRUSTED=0\nport=5\n=nothing\nPORT=5\n", &c, &e);
    CHECK(rc == OCHSM_OK && c.port == 5, "unknown keys ignored: %s", e.message);

    /* SOCKET_PATH: relative to the cfg's folder, normalised. */
    rc = ochsm_appcfg_parse("SOCKET_PATH=../run/x.sock\n", 26, "/etc/ochsm/bin/azcloudhsm_application.cfg", &c, &e);
    CHECK(rc == OCHSM_OK && strcmp(c.socket_path, "/etc/ochsm/run/x.sock") == 0, "relative SOCKET_PATH: %s", c.socket_path);
    rc = parse("SOCKET_PATH=/tmp//a/./b/../c.sock\n", &c, &e);
    CHECK(rc == OCHSM_OK && strcmp(c.socket_path, "/tmp/a/c.sock") == 0, "absolute SOCKET_PATH normalised: %s", c.socket_path);
    rc = parse("SOCKET_PATH = /run/ochsm/daemon.sock # not a comment\n", &c, &e);
    CHECK(rc == OCHSM_OK && strcmp(c.socket_path, "/run/ochsm/daemon.sock # not a comment") == 0,
          "a '#' after a value belongs to the value: %s", c.socket_path);

    /* A relative cfg path is taken from the working directory. */
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    if (getcwd(cwd, sizeof cwd) != NULL) {
        rc = ochsm_appcfg_parse("", 0, "sub/azcloudhsm_application.cfg", &c, &e);
        snprintf(want, sizeof want, "%s/sub/azcloudhsm_application.cfg", strcmp(cwd, "/") == 0 ? "" : cwd);
        CHECK(rc == OCHSM_OK && strcmp(c.path, want) == 0, "relative cfg path made absolute: %s", c.path);
    }

    /* Endpoint for the client. */
    ochsm_conn_opts o;
    ochsm_conn_opts_init(&o);
    parse("SOCKET_TYPE=TCPSOCKET\nPORT=4321\n", &c, &e);
    ochsm_appcfg_conn_opts(&c, &o);
    CHECK(o.socket_type == OCHSM_SOCKET_TCP && o.port == 4321 && o.socket_path == c.socket_path, "conn opts from the cfg");
}

static void test_parse_bad(void) {
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"DAEMON_ID=1\n\nSOCKET_TYPE=FOO\n", ":3: SOCKET_TYPE must be UNIXSOCKET or TCPSOCKET (got \"FOO\")"},
        {"PORT=0", ":1: PORT must be a TCP port from 1 to 65535"},
        {"PORT=65536", ":1: PORT must be"},
        {"# c\nPORT=12a", ":2: PORT must be"},
        {"PORT=+5", ":1: PORT must be"},
        {"DAEMON_ID=-1", ":1: DAEMON_ID must be a whole number from 0 to 2147483647"},
        {"DAEMON_ID=2147483648", ":1: DAEMON_ID must be"},
        {"DAEMON_ID=12345678901234567", ":1: DAEMON_ID must be"},
        {"USER_KEK_HANDLE=0", ":1: USER_KEK_HANDLE must be a key handle"},
        {"USER_KEK_HANDLE=9007199254740992", ":1: USER_KEK_HANDLE must be"},
        {"USER_KEK_HANDLE=0x40000", ":1: USER_KEK_HANDLE must be"},
        {"SESSION_MODE=per-app", ":1: SESSION_MODE must be HOST or APPLICATION (got \"per-app\")"},
        {"PORT=1\r\nPORT=2", ":2: PORT is already set on line 1"},
        {"\n\n\nPORT=   ", ":4: PORT has no value"},
        {"just some text", ":1: expected KEY=VALUE, got \"just some text\""},
        {"SOCKET_PATH=/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         ":1: SOCKET_PATH \"/aaa"},
    };
    ochsm_appcfg c;
    ochsm_error e;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = parse(cases[i].text, &c, &e);
        CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, cases[i].want) != NULL && strncmp(e.message, CFG, strlen(CFG)) == 0,
              "case %zu: got %s: %s; want ...%s", i, ochsm_status_name(rc), e.message, cases[i].want);
    }

    /* A NUL byte inside a value. */
    static const char nul[] = "SOCKET_PATH=/a\0b\n";
    int rc = ochsm_appcfg_parse(nul, sizeof nul - 1, CFG, &c, &e);
    CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, "NUL") != NULL, "NUL in SOCKET_PATH: %s", e.message);
    static const char nul2[] = "PORT=1\0" "2\n";
    rc = ochsm_appcfg_parse(nul2, sizeof nul2 - 1, CFG, &c, &e);
    CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, "\\x00") != NULL, "NUL in PORT shown escaped: %s", e.message);

    /* The default socket path must fit a sockaddr_un, unless TCP is used. */
    char deep[400];
    memset(deep, 0, sizeof deep);
    strcpy(deep, "/");
    for (int i = 0; i < 12; i++) strcat(deep, "directory/");
    strcat(deep, "azcloudhsm_application.cfg");
    rc = ochsm_appcfg_parse("", 0, deep, &c, &e);
    CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, "set SOCKET_PATH") != NULL, "default socket path too long: %s", e.message);
    rc = ochsm_appcfg_parse("SOCKET_TYPE=TCPSOCKET", 21, deep, &c, &e);
    CHECK(rc == OCHSM_OK, "a long cfg path is fine with TCPSOCKET: %s", e.message);
    rc = ochsm_appcfg_parse("SOCKET_PATH=/run/s.sock", 23, deep, &c, &e);
    CHECK(rc == OCHSM_OK && strcmp(c.socket_path, "/run/s.sock") == 0, "a long cfg path is fine with a SOCKET_PATH");
}

/* ───────────────────────────── files and lookup ───────────────────────────── */

static char root[256];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return;
    }
    fputs(text, f);
    fclose(f);
    chmod(path, 0644); /* whatever the umask: a cfg writable by group or others is refused */
}

static void test_lookup(void) {
    char cwd_dir[300], exe_dir[300], env_dir[300], empty_dir[300];
    char cwd_cfg[400], exe_cfg[400], env_cfg[400];
    ochsm_appcfg c;
    ochsm_error e;
    snprintf(root, sizeof root, "/tmp/ochsm-appcfg-XXXXXX");
    if (mkdtemp(root) == NULL) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(cwd_dir, sizeof cwd_dir, "%s/app", root);
    snprintf(exe_dir, sizeof exe_dir, "%s/bin", root);
    snprintf(env_dir, sizeof env_dir, "%s/etc", root);
    snprintf(empty_dir, sizeof empty_dir, "%s/empty", root);
    mkdir(cwd_dir, 0700);
    mkdir(exe_dir, 0700);
    mkdir(env_dir, 0700);
    mkdir(empty_dir, 0700);
    snprintf(cwd_cfg, sizeof cwd_cfg, "%s/azcloudhsm_application.cfg", cwd_dir);
    snprintf(exe_cfg, sizeof exe_cfg, "%s/azcloudhsm_application.cfg", exe_dir);
    snprintf(env_cfg, sizeof env_cfg, "%s/custom.cfg", env_dir);
    write_file(cwd_cfg, "PORT=1\n");
    write_file(exe_cfg, "PORT=2\n");
    write_file(env_cfg, "PORT=3\n");

    int rc = ochsm_appcfg_find_in(cwd_dir, exe_dir, env_cfg, &c, &e);
    CHECK(rc == OCHSM_OK && c.port == 1 && strcmp(c.path, cwd_cfg) == 0, "the working directory comes first: %s", e.message);
    unlink(cwd_cfg);
    rc = ochsm_appcfg_find_in(cwd_dir, exe_dir, env_cfg, &c, &e);
    CHECK(rc == OCHSM_OK && c.port == 2 && strcmp(c.path, exe_cfg) == 0, "then the executable's folder: %s", e.message);
    unlink(exe_cfg);
    rc = ochsm_appcfg_find_in(cwd_dir, exe_dir, env_cfg, &c, &e);
    CHECK(rc == OCHSM_OK && c.port == 3 && strcmp(c.path, env_cfg) == 0, "then $AZCLOUDHSM_APPLICATION_CFG: %s", e.message);
    unlink(env_cfg);
    rc = ochsm_appcfg_find_in(cwd_dir, exe_dir, env_cfg, &c, &e);
    CHECK(rc == OCHSM_ERR_NOT_FOUND && strstr(e.message, "azcloudhsm_application.cfg is not present") != NULL &&
              strstr(e.message, cwd_cfg) != NULL && strstr(e.message, exe_cfg) != NULL && strstr(e.message, env_cfg) != NULL,
          "none found: every path is listed: %s", e.message);
    rc = ochsm_appcfg_find_in(cwd_dir, exe_dir, NULL, &c, &e);
    CHECK(rc == OCHSM_ERR_NOT_FOUND && strstr(e.message, "$AZCLOUDHSM_APPLICATION_CFG not set") != NULL, "unset variable named: %s",
          e.message);

    /* An invalid file found first is the error: no silent fall-through. */
    write_file(cwd_cfg, "PORT=1\nSOCKET_TYPE=PIPE\n");
    write_file(exe_cfg, "PORT=2\n");
    rc = ochsm_appcfg_find_in(cwd_dir, exe_dir, NULL, &c, &e);
    CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, cwd_cfg) != NULL && strstr(e.message, ":2: SOCKET_TYPE") != NULL,
          "invalid first file reported with its line: %s", e.message);
    unlink(cwd_cfg);
    unlink(exe_cfg);

    /* A directory where the file should be. */
    mkdir(cwd_cfg, 0700);
    rc = ochsm_appcfg_load(cwd_cfg, &c, &e);
    CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, "is a directory") != NULL, "directory: %s", e.message);
    rmdir(cwd_cfg);
    rc = ochsm_appcfg_load(cwd_cfg, &c, &e);
    CHECK(rc == OCHSM_ERR_NOT_FOUND && strstr(e.message, "file not found") != NULL, "missing file: %s", e.message);

    /* The real lookup: chdir, the environment, /proc/self/exe. */
    char saved[PATH_MAX], self[PATH_MAX], exe_cfg_real[PATH_MAX + 40];
    if (getcwd(saved, sizeof saved) == NULL) saved[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL) *slash = '\0';
    snprintf(exe_cfg_real, sizeof exe_cfg_real, "%s/azcloudhsm_application.cfg", self);
    CHECK(access(exe_cfg_real, F_OK) != 0, "no cfg beside the test binary (%s) to disturb the test", exe_cfg_real);
    unsetenv(OCHSM_APPCFG_ENV);
    write_file(cwd_cfg, "PORT=7\n");
    if (chdir(cwd_dir) == 0) {
        rc = ochsm_appcfg_find(&c, &e);
        CHECK(rc == OCHSM_OK && c.port == 7 && strcmp(c.path, cwd_cfg) == 0, "find() reads the working directory: %s", e.message);
    }
    write_file(env_cfg, "PORT=8\n");
    setenv(OCHSM_APPCFG_ENV, env_cfg, 1);
    if (chdir(empty_dir) == 0) {
        rc = ochsm_appcfg_find(&c, &e);
        CHECK(rc == OCHSM_OK && c.port == 8 && strcmp(c.path, env_cfg) == 0, "find() falls back to the variable: %s", e.message);
        setenv(OCHSM_APPCFG_ENV, "../etc/custom.cfg", 1);
        rc = ochsm_appcfg_find(&c, &e);
        CHECK(rc == OCHSM_OK && c.port == 8 && strcmp(c.path, env_cfg) == 0, "a relative variable is taken from the working directory: %s",
              e.message);
        unsetenv(OCHSM_APPCFG_ENV);
        rc = ochsm_appcfg_find(&c, &e);
        char empty_cfg[400];
        snprintf(empty_cfg, sizeof empty_cfg, "%s/azcloudhsm_application.cfg", empty_dir);
        CHECK(rc == OCHSM_ERR_NOT_FOUND && strstr(e.message, empty_cfg) != NULL && strstr(e.message, exe_cfg_real) != NULL,
              "find() lists the working directory and the executable's folder: %s", e.message);
    }
    if (saved[0] != '\0' && chdir(saved) != 0) perror("chdir back");
    unlink(cwd_cfg);
    unlink(env_cfg);
    rmdir(cwd_dir);
    rmdir(exe_dir);
    rmdir(env_dir);
    rmdir(empty_dir);
    rmdir(root);
}

/* The fourth place, the product's copy, and the owner and mode rules. */
static void test_product_and_trust(void) {
    char dir[300], cwd_dir[400], product[400], cwd_cfg[500];
    ochsm_appcfg c;
    ochsm_error e;
    snprintf(dir, sizeof dir, "/tmp/ochsm-appcfg-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(cwd_dir, sizeof cwd_dir, "%s/app", dir);
    mkdir(cwd_dir, 0700);
    snprintf(product, sizeof product, "%s/azcloudhsm_application.cfg", dir);
    snprintf(cwd_cfg, sizeof cwd_cfg, "%s/azcloudhsm_application.cfg", cwd_dir);

    int rc = ochsm_appcfg_find_in4(cwd_dir, NULL, NULL, product, &c, &e);
    CHECK(rc == OCHSM_ERR_NOT_FOUND && strstr(e.message, product) != NULL && strstr(e.message, "(the product's folder)") != NULL &&
              strstr(e.message, "Put it in /opt/azurecloudhsm/bin") != NULL,
          "the product's copy is named in the not-found message: %s", e.message);
    write_file(product, "PORT=9\n");
    rc = ochsm_appcfg_find_in4(cwd_dir, NULL, NULL, product, &c, &e);
    CHECK(rc == OCHSM_OK && c.port == 9 && strcmp(c.path, product) == 0, "the product's copy is the last place tried: %s", e.message);
    write_file(cwd_cfg, "PORT=1\n");
    rc = ochsm_appcfg_find_in4(cwd_dir, NULL, NULL, product, &c, &e);
    CHECK(rc == OCHSM_OK && c.port == 1, "the working directory still comes first: %s", e.message);
    rc = ochsm_appcfg_find_in(cwd_dir, NULL, NULL, &c, &e);
    CHECK(rc == OCHSM_OK && c.port == 1, "find_in (three places) still works: %s", e.message);

    chmod(cwd_cfg, 0664);
    rc = ochsm_appcfg_find_in4(cwd_dir, NULL, NULL, product, &c, &e);
    CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, cwd_cfg) != NULL && strstr(e.message, "writable by its group (mode 0664)") != NULL &&
              strstr(e.message, "chmod go-w") != NULL,
          "a group-writable cfg is refused, no fall-through to the next place: %s", e.message);
    chmod(cwd_cfg, 0646);
    rc = ochsm_appcfg_load(cwd_cfg, &c, &e);
    CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, "writable by others (mode 0646)") != NULL, "a world-writable cfg is refused: %s",
          e.message);
    chmod(cwd_cfg, 0644);
    if (geteuid() == 0) {
        /* Another user's file, read by root: the attack of a planted cfg. */
        CHECK(chown(cwd_cfg, 65534, 65534) == 0, "chown the cfg to uid 65534");
        rc = ochsm_appcfg_find_in4(cwd_dir, NULL, NULL, product, &c, &e);
        CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, cwd_cfg) != NULL && strstr(e.message, "belongs to uid 65534") != NULL &&
                  strstr(e.message, "chown 0") != NULL,
              "another user's cfg is refused: %s", e.message);
    } else {
        printf("(not root: the other-owner case is tested by the module tests as root)\n");
    }
    unlink(cwd_cfg);
    unlink(product);
    rmdir(cwd_dir);
    rmdir(dir);
}

/* The shared vectors (test-vectors/cfg/application.json, as dir/appcfg.txt from gen_vectors.mjs),
 * which the TypeScript and Java parsers pass too: the same values or the same message, byte for byte. */
static char *hex_string(const char *hex) {
    uint8_t *b = NULL;
    size_t n = 0;
    if (hex_decode(hex, &b, &n) != 0) return NULL;
    b[n] = '\0';
    return (char *)b;
}

static void test_vectors(const char *dir) {
    char file[4096], line[16384], *f[10], *path = NULL;
    FILE *in;
    unsigned count = 0;
    snprintf(file, sizeof file, "%s/appcfg.txt", dir);
    in = fopen(file, "r");
    CHECK(in != NULL, "%s can be read (make native-test writes it)", file);
    if (in == NULL) return;
    while (fgets(line, sizeof line, in) != NULL) {
        int nf = split_tabs(line, f, 10);
        ochsm_appcfg c;
        ochsm_error e;
        uint8_t *text = NULL;
        size_t len = 0;
        int rc;
        if (nf == 2 && strcmp(f[0], "path") == 0) {
            free(path);
            path = hex_string(f[1]);
            continue;
        }
        CHECK(path != NULL && nf >= 4 && hex_decode(f[1], &text, &len) == 0, "vector line: %s", f[0]);
        if (path == NULL || nf < 4 || text == NULL) continue;
        count++;
        memset(&e, 0, sizeof e);
        rc = ochsm_appcfg_parse((const char *)text, len, path, &c, &e);
        if (strcmp(f[2], "error") == 0) {
            char *want = hex_string(f[3]);
            CHECK(rc == OCHSM_ERR_CONFIG && want != NULL && strcmp(e.message, want) == 0, "vector %s: got \"%s\", want \"%s\"", f[0],
                  rc == OCHSM_OK ? "(accepted)" : e.message, want != NULL ? want : "?");
            free(want);
        } else if (nf == 9) {
            char *sock = hex_string(f[6]);
            int tcp = strcmp(f[4], "TCPSOCKET") == 0, app = strcmp(f[8], "APPLICATION") == 0;
            int kek_ok = strcmp(f[7], "-") == 0 ? !c.has_user_kek_handle
                                                : (c.has_user_kek_handle && c.user_kek_handle == strtoull(f[7], NULL, 10));
            CHECK(rc == OCHSM_OK, "vector %s: %s", f[0], e.message);
            if (rc == OCHSM_OK) {
                CHECK(c.daemon_id == strtoul(f[3], NULL, 10), "vector %s: DAEMON_ID %u", f[0], (unsigned)c.daemon_id);
                CHECK((c.socket_type == OCHSM_SOCKET_TCP) == tcp, "vector %s: SOCKET_TYPE", f[0]);
                CHECK(c.port == strtoul(f[5], NULL, 10), "vector %s: PORT %u", f[0], (unsigned)c.port);
                CHECK(sock != NULL && strcmp(c.socket_path, sock) == 0, "vector %s: SOCKET_PATH %s", f[0], c.socket_path);
                CHECK(kek_ok, "vector %s: USER_KEK_HANDLE", f[0]);
                CHECK((c.session_mode == OCHSM_SESSION_APPLICATION) == app, "vector %s: SESSION_MODE", f[0]);
            }
            free(sock);
        } else {
            CHECK(0, "vector %s: %d fields", f[0], nf);
        }
        free(text);
    }
    fclose(in);
    free(path);
    CHECK(count >= 20, "%u cfg vectors read", count);
}

/* The shared lookup vectors (test-vectors/cfg/lookup.json, as dir/lookup.txt): the same path read, or
 * the same message, as the TypeScript and Java lookups. What exists comes from the vector's table. */
typedef struct {
    char *paths[16];
    int kinds[16];
    int n;
} vec_fs;

static int vec_kind(const char *path, void *ctx, int *error) {
    vec_fs *fs = ctx;
    (void)error;
    for (int i = 0; i < fs->n; i++)
        if (strcmp(fs->paths[i], path) == 0) return fs->kinds[i];
    return OCHSM_PATH_MISSING;
}

static void test_lookup_vectors(const char *dir) {
    char file[4096], line[16384], *f[10];
    FILE *in;
    unsigned count = 0;
    snprintf(file, sizeof file, "%s/lookup.txt", dir);
    in = fopen(file, "r");
    CHECK(in != NULL, "%s can be read (make native-test writes it)", file);
    if (in == NULL) return;
    while (fgets(line, sizeof line, in) != NULL) {
        int nf = split_tabs(line, f, 10);
        CHECK(nf == 7, "lookup vector line: %d fields", nf);
        if (nf != 7) continue;
        count++;
        char *cwd = strcmp(f[1], "-") == 0 ? NULL : hex_string(f[1]);
        char *exe = strcmp(f[2], "-") == 0 ? NULL : hex_string(f[2]);
        char *env = strcmp(f[3], "-") == 0 ? NULL : hex_string(f[3]);
        char *want = hex_string(f[6]);
        vec_fs fs = {.n = 0};
        if (strcmp(f[4], "-") != 0) {
            for (char *save = NULL, *e = strtok_r(f[4], ",", &save); e != NULL && fs.n < 16; e = strtok_r(NULL, ",", &save)) {
                char *colon = strchr(e, ':');
                if (colon == NULL) continue;
                *colon = '\0';
                fs.paths[fs.n] = hex_string(e);
                fs.kinds[fs.n] = strcmp(colon + 1, "dir") == 0 ? OCHSM_PATH_DIR : OCHSM_PATH_FILE;
                fs.n++;
            }
        }
        char found[OCHSM_APPCFG_PATH_MAX];
        ochsm_error e;
        memset(&e, 0, sizeof e);
        int rc = ochsm_appcfg_lookup(cwd, exe, env, OCHSM_APPCFG_PRODUCT_DIR "/" OCHSM_APPCFG_FILE, vec_kind, &fs, found, sizeof found, &e);
        if (strcmp(f[5], "found") == 0) {
            CHECK(rc == OCHSM_OK && want != NULL && strcmp(found, want) == 0, "lookup vector %s: got %s, want %s", f[0],
                  rc == OCHSM_OK ? found : e.message, want != NULL ? want : "?");
        } else {
            CHECK(rc == OCHSM_ERR_NOT_FOUND && want != NULL && strcmp(e.message, want) == 0, "lookup vector %s: got \"%s\", want \"%s\"", f[0],
                  rc == OCHSM_OK ? found : e.message, want != NULL ? want : "?");
        }
        for (int i = 0; i < fs.n; i++) free(fs.paths[i]);
        free(cwd);
        free(exe);
        free(env);
        free(want);
    }
    fclose(in);
    CHECK(count >= 10, "%u lookup vectors read", count);
}

int main(int argc, char **argv) {
    printf("test_appcfg: azcloudhsm_application.cfg parsing and lookup\n");
    test_vectors(argc > 1 ? argv[1] : "dist/native-test");
    test_lookup_vectors(argc > 1 ? argv[1] : "dist/native-test");
    test_parse_good();
    test_parse_bad();
    test_lookup();
    test_product_and_trust();
    return t_summary();
}
