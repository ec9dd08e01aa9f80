/*
 * general.c: PKCS #11 v2.40 §5.4 general-purpose functions — C_Initialize,
 * C_Finalize, C_GetInfo — and the module state they set up: the connection to
 * the client daemon, the lock, the fork rule and the sign-in state.
 *
 * C_Initialize finds azcloudhsm_application.cfg (working directory, the
 * executable's folder, then $AZCLOUDHSM_APPLICATION_CFG; ochsm_appcfg.h),
 * connects to the daemon and says hello. With the daemon not running it
 * returns CKR_GENERAL_ERROR (0x5), as the Azure guide documents ("Failed to
 * connect socket"), and says why on stderr; a missing cfg is reported the same
 * way with every path tried.
 *
 * Locking (§5.4 C_Initialize): with no arguments, or CKF_OS_LOCKING_OK, the
 * module uses a pthread mutex. With only the mutex callbacks (and no
 * CKF_OS_LOCKING_OK) it uses the application's mutex for its own state.
 * Threads: the shared client in native/common normally runs a reader thread
 * per connection. With CKF_LIBRARY_CANT_CREATE_OS_THREADS (GnuTLS and every
 * p11-kit consumer that asks for it) the connection is opened with
 * no_threads: the calling threads read their own answers (the first waiter
 * reads for all until its answer is in, then hands the read side on), with
 * the same pipelining.
 *
 * Fork: the state belongs to the process that called C_Initialize. A
 * pthread_atfork child handler bumps a generation counter, and every function
 * of a child that has not called C_Initialize again returns
 * CKR_CRYPTOKI_NOT_INITIALIZED (§6.7.7). C_Initialize in the child drops the
 * parent's state without touching its locks and connects anew.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ochsm_appcfg.h"
#include "p11.h"

enum { LOCK_OS = 1, LOCK_CALLBACKS = 2 };

static struct {
    int initialized;
    unsigned long fork_gen; /* g_fork_gen when C_Initialize ran */
    int lock_mode;
    pthread_mutex_t mu;
    void *cb_mutex;
    CK_C_INITIALIZE_ARGS cb;
    ochsm_conn *conn;
} g;

/* Serialises C_Initialize and C_Finalize (before any application mutex exists). */
static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong g_fork_gen;
static atomic_int g_login;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* fork() waits for a C_Initialize or C_Finalize in progress, so the child
 * never inherits g_init_mu locked. */
static void on_fork_prepare(void) { pthread_mutex_lock(&g_init_mu); }
static void on_fork_parent(void) { pthread_mutex_unlock(&g_init_mu); }
static void on_fork_child(void) {
    atomic_fetch_add(&g_fork_gen, 1);
    pthread_mutex_unlock(&g_init_mu);
}

static void install_atfork(void) {
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

int p11_ready(void) {
    return g.initialized && g.fork_gen == atomic_load(&g_fork_gen);
}

CK_RV p11_check_ready(void) {
    return p11_ready() ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED;
}

ochsm_conn *p11_conn(void) { return g.conn; }

int p11_login_state(void) { return atomic_load(&g_login); }
void p11_set_login_state(int state) { atomic_store(&g_login, state); }

int p11_login_state_of(const char *role, size_t len) {
    if (len == 2 && memcmp(role, "CO", 2) == 0) return P11_LOGIN_SO;
    if (len == 5 && memcmp(role, "PRECO", 5) == 0) return P11_LOGIN_SO;
    return P11_LOGIN_USER;
}

CK_RV p11_lock(void) {
    if (g.lock_mode == LOCK_CALLBACKS) {
        CK_RV rv = g.cb.LockMutex(g.cb_mutex);
        return rv == CKR_OK ? CKR_OK : CKR_CANT_LOCK;
    }
    return pthread_mutex_lock(&g.mu) == 0 ? CKR_OK : CKR_CANT_LOCK;
}

void p11_unlock(void) {
    if (g.lock_mode == LOCK_CALLBACKS)
        g.cb.UnlockMutex(g.cb_mutex);
    else
        pthread_mutex_unlock(&g.mu);
}

void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *src) {
    size_t l = strlen(src);
    if (l > n) l = n;
    memset(dst, ' ', n);
    memcpy(dst, src, l);
}

CK_RV p11_output(const uint8_t *data, size_t len, CK_BYTE_PTR out, CK_ULONG_PTR pulLen) {
    if (out == NULL) {
        *pulLen = (CK_ULONG)len;
        return CKR_OK;
    }
    if (*pulLen < len) {
        *pulLen = (CK_ULONG)len;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (len) memcpy(out, data, len);
    *pulLen = (CK_ULONG)len;
    return CKR_OK;
}

/* Opt-in diagnostics: AZCLOUDHSM_PKCS11_VERBOSE=1 prints each error answer of the daemon. */
static int verbose(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("AZCLOUDHSM_PKCS11_VERBOSE");
        v = e && *e && strcmp(e, "0") != 0;
    }
    return v;
}

CK_RV p11_call(uint16_t opcode, ochsm_builder *b, ochsm_response *r) {
    const uint8_t *body;
    size_t len;
    ochsm_error err;
    memset(r, 0, sizeof *r);
    if (ochsm_builder_finish(b, &body, &len, &err) != OCHSM_OK) {
        r->status = err.code;
        r->rv = ochsm_status_ckr(err.code);
        if (verbose()) fprintf(stderr, "libazcloudhsm_pkcs11: request refused before sending: %s\n", err.message);
        return (CK_RV)r->rv;
    }
    ochsm_call(g.conn, opcode, body, len, r);
    if (r->rv != 0 && verbose()) {
        const ochsm_op *op = ochsm_op_by_opcode(opcode);
        fprintf(stderr, "libazcloudhsm_pkcs11: %s: 0x%llx %s: %s\n", op ? op->name : "?", (unsigned long long)r->rv,
                ochsm_response_code(r), ochsm_response_message(r));
    }
    return (CK_RV)r->rv;
}

int p11_result_field(ochsm_response *r, uint16_t id, ochsm_field *f) {
    ochsm_reader rd = r->result; /* a copy: each lookup starts at the first result field */
    ochsm_field x;
    while (ochsm_reader_next(&rd, &x, NULL) == 1) {
        if (x.id == id) {
            *f = x;
            return 1;
        }
    }
    return 0;
}

int p11_result_u64(ochsm_response *r, uint16_t id, uint64_t *out) {
    ochsm_field f;
    return p11_result_field(r, id, &f) && ochsm_field_u64(&f, out) == OCHSM_OK;
}

int p11_result_bytes(ochsm_response *r, uint16_t id, const uint8_t **p, size_t *len) {
    ochsm_field f;
    return p11_result_field(r, id, &f) && ochsm_field_bytes(&f, p, len) == OCHSM_OK;
}

/* loginChanged notices keep the sign-in state that C_GetSessionInfo reports. */
static void on_notice(void *ctx, uint16_t opcode, const uint8_t *body, size_t len) {
    (void)ctx;
    if (opcode != OCHSM_NOTICE_LOGIN_CHANGED) return;
    ochsm_reader rd;
    ochsm_field f;
    int logged_in = 0;
    const char *role = "";
    size_t role_len = 0;
    if (ochsm_reader_init(&rd, body, len, NULL, NULL) != OCHSM_OK) return;
    while (ochsm_reader_next(&rd, &f, NULL) == 1) {
        if (f.id == 1) ochsm_field_bool(&f, &logged_in);
        if (f.id == 3) ochsm_field_string(&f, &role, &role_len);
    }
    p11_set_login_state(logged_in ? p11_login_state_of(role, role_len) : P11_LOGIN_NONE);
}

/* The daemon's current sign-in (HOST mode: another application's sign-in is inherited). */
static void read_login_status(void) {
    ochsm_builder b;
    ochsm_response r;
    ochsm_builder_init(&b, NULL);
    if (p11_call(OCHSM_OP_LOGIN_STATUS, &b, &r) == CKR_OK) {
        ochsm_field f;
        int logged_in = 0;
        const char *role = "";
        size_t role_len = 0;
        if (p11_result_field(&r, 4, &f)) ochsm_field_bool(&f, &logged_in);
        if (p11_result_field(&r, 6, &f)) ochsm_field_string(&f, &role, &role_len);
        p11_set_login_state(logged_in ? p11_login_state_of(role, role_len) : P11_LOGIN_NONE);
    }
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
}

/* The parent's state, inherited across fork(): forget it without touching its
 * locks (a parent thread may have held them) and close only our copy of the
 * socket. */
static void drop_forked_state(void) {
    if (g.conn) ochsm_conn_close(g.conn); /* the child path of native/common: closes the fd only */
    g.conn = NULL;
    p11_session_free_all_unlocked();
    p11_lease_reset_unlocked();
    g.initialized = 0;
    g.lock_mode = 0;
}

static CK_RV setup_lock(const CK_C_INITIALIZE_ARGS *a) {
    int have_cb = a && a->CreateMutex;
    if (a == NULL || (a->flags & CKF_OS_LOCKING_OK) || !have_cb) {
        /* No arguments; OS locking allowed; or no callbacks at all (the application
         * promises not to share the library between threads, and pthreads cost nothing). */
        if (pthread_mutex_init(&g.mu, NULL) != 0) return CKR_CANT_LOCK;
        g.lock_mode = LOCK_OS;
        return CKR_OK;
    }
    g.cb = *a;
    g.cb_mutex = NULL;
    CK_RV rv = a->CreateMutex(&g.cb_mutex);
    if (rv != CKR_OK) return rv == CKR_HOST_MEMORY ? rv : CKR_CANT_LOCK;
    g.lock_mode = LOCK_CALLBACKS;
    return CKR_OK;
}

static void teardown_lock(void) {
    if (g.lock_mode == LOCK_CALLBACKS)
        g.cb.DestroyMutex(g.cb_mutex);
    else if (g.lock_mode == LOCK_OS)
        pthread_mutex_destroy(&g.mu);
    g.lock_mode = 0;
}

static CK_RV initialize(CK_VOID_PTR pInitArgs) {
    const CK_C_INITIALIZE_ARGS *a = (const CK_C_INITIALIZE_ARGS *)pInitArgs;
    if (g.initialized && g.fork_gen != atomic_load(&g_fork_gen)) drop_forked_state();
    if (g.initialized) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    if (a) {
        if (a->pReserved != NULL) return CKR_ARGUMENTS_BAD;
        int n = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) + (a->UnlockMutex != NULL);
        if (n != 0 && n != 4) return CKR_ARGUMENTS_BAD;
    }

    ochsm_appcfg cfg;
    ochsm_error err;
    if (ochsm_appcfg_find(&cfg, &err) != OCHSM_OK) {
        fprintf(stderr, "libazcloudhsm_pkcs11: C_Initialize failed: %s\n", err.message);
        return (CK_RV)ochsm_status_ckr(err.code);
    }
    ochsm_conn_opts o;
    ochsm_conn_opts_init(&o);
    ochsm_appcfg_conn_opts(&cfg, &o);
    o.client_name = P11_CLIENT_NAME;
    o.call_timeout_ms = 300000; /* a backstop; the daemon has its own deadlines */
    o.on_notice = on_notice;
    o.no_threads = a != NULL && (a->flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS) != 0;
    ochsm_conn *conn = NULL;
    if (ochsm_conn_open(&o, &conn, &err) != OCHSM_OK) {
        if (err.code == OCHSM_ERR_CONNECT)
            fprintf(stderr, "libazcloudhsm_pkcs11: C_Initialize failed: Failed to connect socket: %s%s (cfg: %s)\n",
                    err.message, strstr(err.message, "running") ? "" : " (is azcloudhsm_client running?)", cfg.path);
        else
            fprintf(stderr, "libazcloudhsm_pkcs11: C_Initialize failed: %s (cfg: %s)\n", err.message, cfg.path);
        return err.code == OCHSM_ERR_CONNECT ? CKR_GENERAL_ERROR : (CK_RV)ochsm_status_ckr(err.code);
    }

    CK_RV rv = setup_lock(a);
    if (rv != CKR_OK) {
        ochsm_conn_close(conn);
        return rv;
    }
    pthread_once(&g_atfork_once, install_atfork);
    ochsm_client_install_atfork();
    g.conn = conn;
    g.fork_gen = atomic_load(&g_fork_gen);
    p11_set_login_state(P11_LOGIN_NONE);
    p11_mech_cache_reset();
    g.initialized = 1;
    read_login_status();
    return CKR_OK;
}

P11_EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs) {
    pthread_mutex_lock(&g_init_mu);
    CK_RV rv = initialize(pInitArgs);
    pthread_mutex_unlock(&g_init_mu);
    return rv;
}

P11_EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved) {
    if (pReserved != NULL) return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&g_init_mu);
    if (!p11_ready()) {
        pthread_mutex_unlock(&g_init_mu);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    g.initialized = 0;
    /* Closing the connection ends this application's sessions on the daemon
     * (it closes what an application leaves open) and, in HOST mode, its share
     * of the sign-in. ochsm_conn_close waits for calls still running. */
    ochsm_conn_close(g.conn);
    g.conn = NULL;
    if (p11_lock() == CKR_OK) {
        p11_session_free_all_unlocked();
        p11_lease_reset_unlocked();
        p11_unlock();
    }
    teardown_lock();
    p11_set_login_state(P11_LOGIN_NONE);
    pthread_mutex_unlock(&g_init_mu);
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetInfo(CK_INFO_PTR pInfo) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof *pInfo);
    pInfo->cryptokiVersion.major = CRYPTOKI_VERSION_MAJOR;
    pInfo->cryptokiVersion.minor = CRYPTOKI_VERSION_MINOR;
    p11_pad(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "OpenCloudHSM");
    pInfo->flags = 0;
    p11_pad(pInfo->libraryDescription, sizeof pInfo->libraryDescription, "OpenCloudHSM PKCS#11 (Azure)");
    pInfo->libraryVersion.major = P11_VERSION_MAJOR;
    pInfo->libraryVersion.minor = P11_VERSION_MINOR;
    return CKR_OK;
}
