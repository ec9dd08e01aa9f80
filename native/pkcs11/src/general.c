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
#include <time.h>

#include "ochsm_appcfg.h"
#include "p11.h"

enum { LOCK_OS = 1, LOCK_CALLBACKS = 2 };

/*
 * The connection to the daemon, as a counted reference: a call holds the link
 * it sends on, so that a reconnect can replace the current link while other
 * threads still finish their calls on the old one (closed by the last of
 * them).
 */
typedef struct p11_link {
    ochsm_conn *conn;
    int refs;    /* the module's reference (while current) + calls in progress */
} p11_link;

static struct {
    int initialized;
    unsigned long fork_gen; /* g_fork_gen when C_Initialize ran */
    int lock_mode;
    pthread_mutex_t mu;
    void *cb_mutex;
    CK_C_INITIALIZE_ARGS cb;
    p11_link *link;         /* current; swapped under g_link_mu */
    ochsm_appcfg cfg;       /* where the daemon is, for reconnecting */
    int no_threads;
    unsigned reconnects;    /* successful reconnects (diagnostics) */
} g;

/* Guards g.link and the links' refs (a pthread mutex whatever the locking
 * mode: native/common uses pthreads inside in any case). */
static pthread_mutex_t g_link_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_link_cv = PTHREAD_COND_INITIALIZER; /* a link's refs went down */
/* Serialises reconnect attempts; g_attempts counts them (under it). */
static pthread_mutex_t g_reconnect_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long g_attempts;

/* How the module waits for a restarted daemon: MODULE_RECONNECT of packages/protocol/src/retry.ts
 * (attempts, deadline, and the wait before each retry), generated into these two files. */
#include "ochsm_reconnect.inc"

/* Serialises C_Initialize and C_Finalize (before any application mutex exists). */
static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong g_fork_gen;
static atomic_int g_login;
static atomic_ullong g_max_data; /* hello's maxData; 0 = not said */
static atomic_ullong g_pin_min, g_pin_max; /* from hello's account rules; 0 = not said */
static atomic_ullong g_wrong_pin_rv; /* hello's wrongPinRv (the partition profile's); 0 = not said */
static atomic_int g_set_pin;         /* hello's setPin (the partition profile's row SET_PIN); 0 = no or not said */
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

static p11_link *link_acquire(void) {
    pthread_mutex_lock(&g_link_mu);
    p11_link *l = g.link;
    if (l) l->refs++;
    pthread_mutex_unlock(&g_link_mu);
    return l;
}

static void link_release(p11_link *l) {
    if (!l) return;
    pthread_mutex_lock(&g_link_mu);
    int last = --l->refs == 0;
    pthread_cond_broadcast(&g_link_cv);
    pthread_mutex_unlock(&g_link_mu);
    if (last) {
        ochsm_conn_close(l->conn);
        free(l);
    }
}

ochsm_conn *p11_conn(void) { return g.link ? g.link->conn : NULL; }

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

static void on_notice(void *ctx, uint16_t opcode, const uint8_t *body, size_t len);

static int open_conn(uint32_t connect_timeout_ms, ochsm_conn **out, ochsm_error *err) {
    ochsm_conn_opts o;
    ochsm_conn_opts_init(&o);
    ochsm_appcfg_conn_opts(&g.cfg, &o);
    o.client_name = P11_CLIENT_NAME;
    o.call_timeout_ms = 300000; /* a backstop; the daemon has its own deadlines */
    o.connect_timeout_ms = connect_timeout_ms;
    o.on_notice = on_notice;
    o.no_threads = g.no_threads;
    int rc = ochsm_conn_open(&o, out, err);
    /* The data limit the daemon announced (from the nodes); every connection, reconnects included, refreshes it. */
    if (rc == OCHSM_OK) {
        atomic_store(&g_max_data, (unsigned long long)ochsm_conn_max_data(*out));
        uint64_t user, pmin, pmax;
        ochsm_conn_account_rules(*out, &user, &pmin, &pmax);
        /* A PIN is "<user>:<password>": at least one character of name, the colon, the shortest password. */
        int said = user > 0 && pmin > 0 && pmax >= pmin && user < 4096 && pmax < 4096;
        atomic_store(&g_pin_min, said ? (unsigned long long)(1 + 1 + pmin) : 0ULL);
        atomic_store(&g_pin_max, said ? (unsigned long long)(user + 1 + pmax) : 0ULL);
        atomic_store(&g_wrong_pin_rv, (unsigned long long)ochsm_conn_wrong_pin_rv(*out));
        atomic_store(&g_set_pin, ochsm_conn_set_pin(*out));
    }
    return rc;
}

void p11_pin_lengths(CK_ULONG *min, CK_ULONG *max) {
    unsigned long long lo = atomic_load(&g_pin_min), hi = atomic_load(&g_pin_max);
    *min = lo ? (CK_ULONG)lo : P11_PIN_MIN_DEFAULT;
    *max = hi ? (CK_ULONG)hi : P11_PIN_MAX_DEFAULT;
}

CK_RV p11_wrong_pin_rv(void) {
    unsigned long long v = atomic_load(&g_wrong_pin_rv);
    /* Before the daemon has heard from a node: the Azure code, the default profile's. */
    return v ? (CK_RV)v : CKR_PIN_EXPIRED;
}

int p11_set_pin_supported(void) { return atomic_load(&g_set_pin) != 0; }

size_t p11_max_data(void) {
    unsigned long long v = atomic_load(&g_max_data);
    if (v == 0) return P11_MAX_DATA_DEFAULT;
    return v > (unsigned long long)SIZE_MAX ? SIZE_MAX : (size_t)v;
}

/* One request on a given connection, without reconnecting (used right after a reconnect). */
static CK_RV call_on(ochsm_conn *c, uint16_t opcode, ochsm_builder *b, ochsm_response *r) {
    const uint8_t *body;
    size_t len;
    memset(r, 0, sizeof *r);
    if (ochsm_builder_finish(b, &body, &len, NULL) != OCHSM_OK) return CKR_GENERAL_ERROR;
    ochsm_call(c, opcode, body, len, r);
    return (CK_RV)r->rv;
}

static void apply_login_status(ochsm_response *r) {
    ochsm_field f;
    int logged_in = 0;
    const char *role = "";
    size_t role_len = 0;
    if (p11_result_field(r, 4, &f)) ochsm_field_bool(&f, &logged_in);
    if (p11_result_field(r, 6, &f)) ochsm_field_string(&f, &role, &role_len);
    p11_set_login_state(logged_in ? p11_login_state_of(role, role_len) : P11_LOGIN_NONE);
}

/*
 * The daemon went away under link `failed` (restart, crash). Connect again,
 * waiting up to OCHSM_RECONNECT_DEADLINE_MS for it to come back (the shared
 * policy's attempts and waits); one thread does it
 * while the others wait for its outcome (and do not try again when it has just
 * failed). Then find out what survived: the sign-in (loginStatus: a new daemon
 * has none unless another application signed the host in) and the
 * application's cluster session (still held by the cluster, or gone: then
 * every PKCS #11 session on it answers CKR_SESSION_HANDLE_INVALID and the next
 * C_OpenSession opens a new one; session.c). CKR_OK when a new link is current.
 */
static CK_RV reconnect(p11_link *failed) {
    unsigned long seen;
    pthread_mutex_lock(&g_link_mu);
    seen = g_attempts;
    int moved_on = g.link != failed;
    pthread_mutex_unlock(&g_link_mu);
    if (moved_on) return CKR_OK;
    pthread_mutex_lock(&g_reconnect_mu);
    pthread_mutex_lock(&g_link_mu);
    moved_on = g.link != failed;
    int just_failed = g_attempts != seen;
    pthread_mutex_unlock(&g_link_mu);
    if (moved_on || just_failed || !p11_ready()) {
        pthread_mutex_unlock(&g_reconnect_mu);
        return moved_on ? CKR_OK : CKR_DEVICE_ERROR;
    }
    ochsm_conn *conn = NULL;
    ochsm_error err;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Jitter for the waits: only this thread reconnects (g_reconnect_mu), so a plain xorshift will do. */
    uint32_t rnd = (uint32_t)t0.tv_nsec ^ ((uint32_t)t0.tv_sec << 16) ^ 0x9e3779b9u;
    for (unsigned attempt = 1;; attempt++) {
        if (open_conn(2000, &conn, &err) == OCHSM_OK) break;
        conn = NULL;
        if (err.code != OCHSM_ERR_CONNECT && err.code != OCHSM_ERR_TIMEOUT && err.code != OCHSM_ERR_DEVICE) break;
        if (attempt >= OCHSM_RECONNECT_ATTEMPTS) break;
        rnd ^= rnd << 13;
        rnd ^= rnd >> 17;
        rnd ^= rnd << 5;
        unsigned lo = ochsm_reconnect_wait_lo_ms[attempt - 1], hi = ochsm_reconnect_wait_hi_ms[attempt - 1];
        unsigned delay_ms = lo + (hi > lo ? rnd % (hi - lo + 1) : 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (long)(now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L;
        if (elapsed + (long)delay_ms > OCHSM_RECONNECT_DEADLINE_MS) break;
        struct timespec pause = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (conn == NULL) {
        if (verbose()) fprintf(stderr, "libazcloudhsm_pkcs11: reconnecting to the client daemon failed: %s\n", err.message);
        pthread_mutex_lock(&g_link_mu);
        g_attempts++;
        pthread_mutex_unlock(&g_link_mu);
        pthread_mutex_unlock(&g_reconnect_mu);
        return CKR_DEVICE_ERROR;
    }

    /* What survived, asked on the new connection before anyone else uses it. */
    ochsm_builder b;
    ochsm_response r;
    ochsm_builder_init(&b, NULL);
    if (call_on(conn, OCHSM_OP_LOGIN_STATUS, &b, &r) == CKR_OK) apply_login_status(&r);
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    uint64_t lease, lease_gen;
    if (p11_lease_current(&lease, &lease_gen)) {
        /* Any request naming the session tells whether the cluster still holds it. */
        ochsm_builder_init(&b, NULL);
        ochsm_put_u64(&b, 1, lease);
        ochsm_put_u64(&b, 2, 1);
        CK_RV rv = call_on(conn, OCHSM_OP_GENERATE_RANDOM, &b, &r);
        if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) p11_lease_lost(lease_gen);
        ochsm_response_free(&r);
        ochsm_builder_free(&b);
    }

    p11_link *nl = calloc(1, sizeof *nl);
    if (nl == NULL) {
        ochsm_conn_close(conn);
        pthread_mutex_unlock(&g_reconnect_mu);
        return CKR_HOST_MEMORY;
    }
    nl->conn = conn;
    nl->refs = 1;
    pthread_mutex_lock(&g_link_mu);
    p11_link *old = g.link;
    g.link = nl;
    g_attempts++;
    g.reconnects++;
    pthread_mutex_unlock(&g_link_mu);
    link_release(old); /* the module's reference; the last call on it closes it */
    if (verbose()) fprintf(stderr, "libazcloudhsm_pkcs11: reconnected to the client daemon (%u)\n", g.reconnects);
    pthread_mutex_unlock(&g_reconnect_mu);
    return CKR_OK;
}

/* Does opcode's request carry a Mechanism record? (From the generated schema.) */
static int opcode_takes_mechanism(uint16_t opcode) {
    const ochsm_op *op = ochsm_op_by_opcode(opcode);
    if (op == NULL) return 0;
    for (size_t i = 0; i < op->request->count; i++)
        if (op->request->fields[i].type == OCHSM_T_RECORD && op->request->fields[i].record != NULL &&
            strcmp(op->request->fields[i].record, "Mechanism") == 0)
            return 1;
    return 0;
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
    /* A connection that broke (the daemon restarted) is replaced once; the
     * request is sent again only if none of it reached the old daemon, so
     * nothing runs twice. A request that was in flight answers
     * CKR_DEVICE_ERROR; the next call uses the new connection. */
    for (int attempt = 0;; attempt++) {
        p11_link *l = link_acquire();
        if (l == NULL) {
            r->status = OCHSM_ERR_DEVICE;
            r->rv = CKR_DEVICE_ERROR;
            return CKR_DEVICE_ERROR;
        }
        ochsm_call(l->conn, opcode, body, len, r);
        int broken = r->status == OCHSM_ERR_DEVICE && !ochsm_conn_usable(l->conn);
        int unsent = r->unsent;
        if (!broken || attempt > 0 || reconnect(l) != CKR_OK || !unsent) {
            link_release(l);
            break;
        }
        link_release(l);
        ochsm_response_free(r);
    }
    if (r->rv != 0 && verbose()) {
        const ochsm_op *op = ochsm_op_by_opcode(opcode);
        fprintf(stderr, "libazcloudhsm_pkcs11: %s: 0x%llx %s: %s\n", op ? op->name : "?", (unsigned long long)r->rv,
                ochsm_response_code(r), ochsm_response_message(r));
    }
    return (CK_RV)r->rv;
}

CK_RV p11_send(p11_req *q, uint16_t opcode, p11_build_fn build, p11_parse_fn parse) {
    ochsm_builder_init(&q->b, NULL);
    CK_RV rv = build(q);
    if (rv == CKR_OK) rv = p11_call(opcode, &q->b, &q->r);
    if (rv == CKR_OK && parse != NULL) rv = parse(q);
    ochsm_response_free(&q->r);
    ochsm_builder_free(&q->b);
    return rv;
}

CK_RV p11_request(CK_SESSION_HANDLE h, uint16_t opcode, const CK_MECHANISM *pMechanism, p11_build_fn build, p11_parse_fn parse,
                  void *ctx) {
    p11_req q;
    memset(&q, 0, sizeof q);
    q.ctx = ctx;
    CK_RV rv = p11_session_acquire(h, &q.s);
    if (rv != CKR_OK) return rv;
    if (pMechanism != NULL || opcode_takes_mechanism(opcode)) rv = p11_mech_from(pMechanism, &q.m);
    if (rv == CKR_OK) rv = p11_send(&q, opcode, build, parse);
    p11_mech_free(&q.m);
    p11_session_release(q.s);
    return rv;
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
    if (p11_call(OCHSM_OP_LOGIN_STATUS, &b, &r) == CKR_OK) apply_login_status(&r);
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
}

/* The parent's state, inherited across fork(): forget it without touching its
 * locks (a parent thread may have held them) and close only our copy of the
 * socket. */
static void drop_forked_state(void) {
    /* The child path of native/common: closes the fd only. Links retired in
     * the parent but still referenced by its threads are simply forgotten. */
    if (g.link) {
        ochsm_conn_close(g.link->conn);
        free(g.link);
    }
    g.link = NULL;
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t fresh_cv = PTHREAD_COND_INITIALIZER;
    g_link_mu = fresh; /* may have been held by a parent thread */
    g_reconnect_mu = fresh;
    g_link_cv = fresh_cv;
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

    ochsm_error err;
    if (ochsm_appcfg_find(&g.cfg, &err) != OCHSM_OK) {
        fprintf(stderr, "libazcloudhsm_pkcs11: C_Initialize failed: %s\n", err.message);
        return (CK_RV)ochsm_status_ckr(err.code);
    }
    g.no_threads = a != NULL && (a->flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS) != 0;
    /* Before the first connection: a connection opened after it needs no getpid() per call to notice a fork. */
    ochsm_client_install_atfork();
    ochsm_conn *conn = NULL;
    if (open_conn(0, &conn, &err) != OCHSM_OK) {
        if (err.code == OCHSM_ERR_CONNECT)
            fprintf(stderr, "libazcloudhsm_pkcs11: C_Initialize failed: Failed to connect socket: %s%s (cfg: %s)\n",
                    err.message, strstr(err.message, "running") ? "" : " (is azcloudhsm_client running?)", g.cfg.path);
        else
            fprintf(stderr, "libazcloudhsm_pkcs11: C_Initialize failed: %s (cfg: %s)\n", err.message, g.cfg.path);
        return err.code == OCHSM_ERR_CONNECT || err.code == OCHSM_ERR_CONFIG ? CKR_GENERAL_ERROR : (CK_RV)ochsm_status_ckr(err.code);
    }
    p11_link *link = calloc(1, sizeof *link);
    if (link == NULL) {
        ochsm_conn_close(conn);
        return CKR_HOST_MEMORY;
    }
    link->conn = conn;
    link->refs = 1;

    CK_RV rv = setup_lock(a);
    if (rv != CKR_OK) {
        ochsm_conn_close(conn);
        free(link);
        return rv;
    }
    pthread_once(&g_atfork_once, install_atfork);
    pthread_mutex_lock(&g_link_mu);
    g.link = link;
    g_attempts = 0;
    g.reconnects = 0;
    pthread_mutex_unlock(&g_link_mu);
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
    pthread_mutex_lock(&g_link_mu);
    p11_link *link = g.link;
    g.link = NULL;
    pthread_mutex_unlock(&g_link_mu);
    if (link) {
        /* Wake the calls still waiting and wait until they have returned. */
        ochsm_conn_shutdown(link->conn);
        pthread_mutex_lock(&g_link_mu);
        while (link->refs > 1) pthread_cond_wait(&g_link_cv, &g_link_mu);
        pthread_mutex_unlock(&g_link_mu);
        link_release(link);
    }
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
