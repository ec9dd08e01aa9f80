/*
 * session.c: PKCS #11 v2.40 §5.6 session management — C_OpenSession,
 * C_CloseSession, C_CloseAllSessions, C_GetSessionInfo, C_Login, C_Logout,
 * C_GetOperationState, C_SetOperationState — the session table, and the
 * application's cluster session.
 *
 * Session objects. PKCS #11 makes a session object (CKA_TOKEN FALSE) visible
 * to every session of the application that created it, and destroys it when
 * the session that created it closes (§4.4, §6.7). Applications rely on the
 * first rule: Java's SunPKCS11 generates a key in one pooled session and signs
 * in another. The HSM scopes session objects to one cluster session (a store
 * lease from `openSession`, docs/protocol.md §6), so the module opens ONE
 * cluster session per C_Initialize and names it in every request of every
 * PKCS #11 session of the application. The second rule is kept by the HSM:
 * every object-creating request carries the PKCS #11 session's handle as its
 * `creator` tag, the HSM keeps the tag on the session objects it makes, and
 * C_CloseSession (C_CloseAllSessions) sends `closeSession` with the session and
 * that tag, which destroys exactly those objects and leaves the cluster
 * session open. The module keeps no list of objects. C_Finalize disconnects,
 * and the daemon closes the cluster session with whatever it still holds (as
 * when the process dies).
 *
 * The handle the application sees is local: the slot index in the low 20 bits
 * and a sequence number above, so a stale handle is recognised.
 *
 * Sign-in follows the Azure client (the Azure Cloud HSM authentication guide, "Cloud HSM client session handling";
 * docs/daemon.md "Sign-in modes"): C_Login once per slot, later sessions share
 * it; the daemon decides — a second C_Login by this application is
 * CKR_USER_ALREADY_LOGGED_IN, another user while one is signed in on the host is
 * CKR_USER_ANOTHER_ALREADY_LOGGED_IN, a wrong PIN 0xA3, a locked account 0xA4.
 * The PIN is "<user>:<password>", split at the first ':' into the login
 * request's two fields; without a ':' the whole PIN goes as the user name with
 * an empty password, and the HSM answers 0xA3 like for any bad sign-in.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "p11.h"

#define IDX_BITS 20
#define IDX_MASK ((1UL << IDX_BITS) - 1)

static p11_session **g_tab;
static size_t g_cap;
static CK_ULONG g_seq;

void p11_op_reset(p11_op *op) {
    p11_mech_free(&op->mech);
    free(op->acc);
    free(op->out);
    free(op->in);
    memset(op, 0, sizeof *op);
}

static void session_free(p11_session *s) {
    for (int i = 0; i < P11_OP_COUNT; i++) p11_op_reset(&s->ops[i]);
    free(s->found);
    free(s);
}

static void unlink_session(p11_session *s);
static void drop_dead_lease(void);
/* Cluster sessions numbered below this are gone (p11_lease_lost). */
static atomic_uint_fast64_t g_dead_below;

/* Under the lock: find a live session. A session whose cluster session is gone
 * (the daemon restarted and the cluster no longer holds it) is closed here. */
static p11_session *lookup(CK_SESSION_HANDLE h) {
    size_t idx = (size_t)(h & IDX_MASK);
    if (idx == 0 || idx > g_cap) return NULL;
    p11_session *s = g_tab[idx - 1];
    if (!s || s->handle != h) return NULL;
    if (s->lease_gen < atomic_load(&g_dead_below)) {
        drop_dead_lease();
        unlink_session(s);
        if (s->refs == 0) session_free(s);
        return NULL;
    }
    return s;
}

/* Under the lock: take a session out of the table. The caller frees it when
 * refs reaches 0. */
static void unlink_session(p11_session *s) {
    size_t idx = (size_t)(s->handle & IDX_MASK);
    g_tab[idx - 1] = NULL;
    s->closed = 1;
    s->refs--;
}

/* ───────────── the application's cluster session and its session objects ───────────── */

static uint64_t g_lease;            /* 0: none yet */
static uint64_t g_lease_gen;        /* its number; counts up, never reused */
static _Atomic uint64_t g_pub_lease, g_pub_gen; /* copies for p11_lease_current */

int p11_lease_current(uint64_t *lease, uint64_t *gen) {
    *lease = atomic_load(&g_pub_lease);
    *gen = atomic_load(&g_pub_gen);
    return *lease != 0;
}

void p11_lease_lost(uint64_t gen) {
    uint64_t cur = atomic_load(&g_dead_below);
    while (cur < gen + 1 && !atomic_compare_exchange_weak(&g_dead_below, &cur, gen + 1)) {
    }
}

/* Under the lock: forget a cluster session the cluster no longer holds (its
 * session objects went with it). */
static void drop_dead_lease(void) {
    if (g_lease != 0 && g_lease_gen < atomic_load(&g_dead_below)) {
        g_lease = 0;
        atomic_store(&g_pub_lease, 0);
    }
}

/* Under the lock (held across the one openSession request, once per C_Initialize
 * and after a daemon restart that lost the cluster session). */
static CK_RV ensure_lease(uint64_t *out, uint64_t *gen) {
    drop_dead_lease();
    if (g_lease == 0) {
        ochsm_builder b;
        ochsm_response r;
        uint64_t lease = 0;
        ochsm_builder_init(&b, NULL);
        ochsm_put_u64(&b, 1, (uint64_t)(CKF_RW_SESSION | CKF_SERIAL_SESSION));
        CK_RV rv = p11_call(OCHSM_OP_OPEN_SESSION, &b, &r);
        if (rv == CKR_OK && !p11_result_u64(&r, 4, &lease)) rv = CKR_DEVICE_ERROR;
        ochsm_response_free(&r);
        ochsm_builder_free(&b);
        if (rv != CKR_OK) return rv;
        g_lease = lease;
        g_lease_gen++;
        atomic_store(&g_pub_gen, g_lease_gen);
        atomic_store(&g_pub_lease, lease);
    }
    *out = g_lease;
    *gen = g_lease_gen;
    return CKR_OK;
}

void p11_lease_reset_unlocked(void) {
    g_lease = 0;
    atomic_store(&g_pub_lease, 0);
}

void p11_put_creator(p11_session *s, ochsm_builder *b, uint16_t id) {
    s->created = 1;
    ochsm_put_u64(b, id, (uint64_t)s->handle);
}

void p11_put_read_only(const p11_session *s, ochsm_builder *b, uint16_t id) {
    if (!(s->flags & CKF_RW_SESSION)) ochsm_put_bool(b, id, 1);
}

/* Session s is closed (no call runs on it): the HSM destroys the session
 * objects it created. Sessions that never sent a creating request skip the
 * round trip. A failure leaves them to the cluster session's end. */
static void destroy_created(const p11_session *s) {
    if (!s->created || !p11_ready()) return;
    ochsm_builder b;
    ochsm_response r;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, OCHSM_Q_CLOSE_SESSION_SESSION, s->remote);
    ochsm_put_u64(&b, OCHSM_Q_CLOSE_SESSION_CREATOR, (uint64_t)s->handle);
    p11_call(OCHSM_OP_CLOSE_SESSION, &b, &r);
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
}

CK_RV p11_session_acquire(CK_SESSION_HANDLE h, p11_session **out) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if ((rv = p11_lock()) != CKR_OK) return rv;
    p11_session *s = lookup(h);
    if (!s) {
        rv = CKR_SESSION_HANDLE_INVALID;
    } else if (s->busy) {
        rv = CKR_OPERATION_ACTIVE;
    } else {
        s->busy = 1;
        s->refs++;
        *out = s;
    }
    p11_unlock();
    return rv;
}

void p11_session_release(p11_session *s) {
    int last = 0;
    if (p11_lock() != CKR_OK) return; /* cannot happen with a working mutex; leak rather than race */
    s->busy = 0;
    s->refs--;
    last = s->closed && s->refs == 0;
    p11_unlock();
    if (last) {
        p11_stream_cancel_session(s);
        destroy_created(s);
        session_free(s);
    }
}

/* Under the lock (or in a child after fork, where no other thread exists). */
void p11_session_free_all_unlocked(void) {
    for (size_t i = 0; i < g_cap; i++) {
        p11_session *s = g_tab[i];
        if (!s) continue;
        g_tab[i] = NULL;
        /* A call still running keeps its session (C_Finalize while other threads
         * call is the application's error, §5.4); everything else is freed. */
        if (s->refs <= 1) session_free(s);
        else s->closed = 1, s->refs--;
    }
    free(g_tab);
    g_tab = NULL;
    g_cap = 0;
}

void p11_session_counts(CK_ULONG *all, CK_ULONG *rw) {
    *all = *rw = 0;
    if (p11_lock() != CKR_OK) return;
    for (size_t i = 0; i < g_cap; i++) {
        if (!g_tab[i]) continue;
        (*all)++;
        if (g_tab[i]->flags & CKF_RW_SESSION) (*rw)++;
    }
    p11_unlock();
}

/* Under the lock: a table slot for s. */
static CK_RV insert(p11_session *s) {
    size_t idx = 0;
    for (size_t i = 0; i < g_cap; i++) {
        if (!g_tab[i]) {
            idx = i + 1;
            break;
        }
    }
    if (idx == 0) {
        size_t ncap = g_cap ? g_cap * 2 : 64;
        if (ncap > IDX_MASK) return CKR_SESSION_COUNT;
        p11_session **t = realloc(g_tab, ncap * sizeof *t);
        if (!t) return CKR_HOST_MEMORY;
        memset(t + g_cap, 0, (ncap - g_cap) * sizeof *t);
        idx = g_cap + 1;
        g_tab = t;
        g_cap = ncap;
    }
    g_seq = (g_seq + 1) & ((1UL << (8 * sizeof(CK_ULONG) - IDX_BITS - 1)) - 1);
    if (g_seq == 0) g_seq = 1;
    s->handle = (g_seq << IDX_BITS) | idx;
    s->refs = 1;
    g_tab[idx - 1] = s;
    return CKR_OK;
}

P11_EXPORT CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                               CK_SESSION_HANDLE_PTR phSession) {
    (void)pApplication;
    (void)Notify; /* no surrender callbacks: nothing here runs for long in the module */
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (slotID != P11_SLOT_ID) return CKR_SLOT_ID_INVALID;
    if (!(flags & CKF_SERIAL_SESSION)) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    if (phSession == NULL) return CKR_ARGUMENTS_BAD;

    p11_session *s = calloc(1, sizeof *s);
    if (!s) return CKR_HOST_MEMORY;
    s->flags = flags & (CKF_RW_SESSION | CKF_SERIAL_SESSION);
    if ((rv = p11_lock()) == CKR_OK) {
        rv = ensure_lease(&s->remote, &s->lease_gen);
        if (rv == CKR_OK) rv = insert(s);
        p11_unlock();
    }
    if (rv != CKR_OK) {
        free(s);
        return rv;
    }
    *phSession = s->handle;
    return CKR_OK;
}

P11_EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE hSession) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if ((rv = p11_lock()) != CKR_OK) return rv;
    p11_session *s = lookup(hSession);
    int free_now = 0;
    if (!s) {
        rv = CKR_SESSION_HANDLE_INVALID;
    } else {
        /* New calls see an invalid handle at once; a call still running on it
         * finishes, and the last one out closes it on the daemon. */
        unlink_session(s);
        free_now = s->refs == 0;
    }
    p11_unlock();
    if (free_now) {
        p11_stream_cancel_session(s);
        destroy_created(s);
        session_free(s);
    }
    return rv;
}

P11_EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID slotID) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (slotID != P11_SLOT_ID) return CKR_SLOT_ID_INVALID;
    for (;;) {
        p11_session *victim = NULL;
        if ((rv = p11_lock()) != CKR_OK) return rv;
        for (size_t i = 0; i < g_cap && !victim; i++) {
            p11_session *s = g_tab[i];
            if (!s) continue;
            unlink_session(s);
            if (s->refs == 0) victim = s;
        }
        p11_unlock();
        if (!victim) break;
        p11_stream_cancel_session(victim);
        destroy_created(victim);
        session_free(victim);
    }
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if ((rv = p11_lock()) != CKR_OK) return rv;
    /* Read-only: allowed while another thread runs an operation on the session. */
    p11_session *s = lookup(hSession);
    CK_FLAGS flags = s ? s->flags : 0;
    p11_unlock();
    if (!s) return CKR_SESSION_HANDLE_INVALID;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    int rw = (flags & CKF_RW_SESSION) != 0;
    memset(pInfo, 0, sizeof *pInfo);
    pInfo->slotID = P11_SLOT_ID;
    pInfo->flags = flags;
    switch (p11_login_state()) {
    case P11_LOGIN_USER:
        pInfo->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
        break;
    case P11_LOGIN_SO:
        pInfo->state = rw ? CKS_RW_SO_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
        break;
    default:
        pInfo->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
    }
    pInfo->ulDeviceError = 0;
    return CKR_OK;
}

P11_EXPORT CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    const char *role;
    if (userType == CKU_USER) {
        role = "CU";
    } else if (userType == CKU_SO) {
        role = "CO"; /* the partition's crypto officer (user administration only) */
    } else {
        /* CKU_CONTEXT_SPECIFIC: no key of this HSM has CKA_ALWAYS_AUTHENTICATE. */
        p11_session_release(s);
        return userType == CKU_CONTEXT_SPECIFIC ? CKR_OPERATION_NOT_INITIALIZED : CKR_USER_TYPE_INVALID;
    }
    if (pPin == NULL) {
        /* No protected authentication path: the PIN must be given. */
        p11_session_release(s);
        return CKR_ARGUMENTS_BAD;
    }
    const char *pin = (const char *)pPin;
    const char *colon = memchr(pin, ':', ulPinLen);
    size_t ulen = colon ? (size_t)(colon - pin) : (size_t)ulPinLen;
    const char *pw = colon ? colon + 1 : "";
    size_t plen = colon ? (size_t)ulPinLen - ulen - 1 : 0;

    ochsm_builder b;
    ochsm_response r;
    ochsm_builder_init(&b, NULL);
    ochsm_put_string_n(&b, 1, pin, ulen);
    ochsm_put_string_n(&b, 2, pw, plen);
    ochsm_put_string(&b, 3, role);
    rv = p11_call(OCHSM_OP_LOGIN, &b, &r);
    if (rv == CKR_OK) {
        ochsm_field f;
        const char *got = role;
        size_t glen = strlen(role);
        if (p11_result_field(&r, 5, &f)) ochsm_field_string(&f, &got, &glen);
        p11_set_login_state(p11_login_state_of(got, glen));
    } else if (r.status != OCHSM_OK && r.status != OCHSM_ERR_DEVICE && r.status != OCHSM_ERR_TIMEOUT) {
        /* The codec refused the PIN before sending it (e.g. not UTF-8): a PIN in the
         * wrong format, answered as the partition answers a wrong PIN (hello's
         * wrongPinRv: 0xA3 in the azure profile, CKR_PIN_INCORRECT in standard). */
        rv = p11_wrong_pin_rv();
    }
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_Logout(CK_SESSION_HANDLE hSession) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    ochsm_builder b;
    ochsm_response r;
    ochsm_builder_init(&b, NULL);
    rv = p11_call(OCHSM_OP_LOGOUT, &b, &r);
    if (rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN) p11_set_login_state(P11_LOGIN_NONE);
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                     CK_ULONG_PTR pulOperationStateLen) {
    (void)hSession;
    (void)pOperationState;
    (void)pulOperationStateLen;
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                     CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                                     CK_OBJECT_HANDLE hAuthenticationKey) {
    (void)hSession;
    (void)pOperationState;
    (void)ulOperationStateLen;
    (void)hEncryptionKey;
    (void)hAuthenticationKey;
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}
