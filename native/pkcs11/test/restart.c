/*
 * restart.c: threads keep signing through libazcloudhsm_pkcs11.so while the
 * test restarts the client daemon under them.
 *
 *   restart <module.so> <user:password> <seconds> <threads> [no-threads]
 *
 * Every thread has its own session and signs (ECDSA P-256, each signature
 * verified) until <seconds> have passed. When a call fails it does what an
 * application does with the code it gets:
 *   CKR_SESSION_HANDLE_INVALID  open a new session (the cluster no longer holds the old one);
 *   CKR_USER_NOT_LOGGED_IN      C_Login again (CKR_USER_ALREADY_LOGGED_IN: another thread did);
 *   CKR_DEVICE_ERROR            the call was in flight when the daemon went away: try again.
 * Any other code, a wrong signature, a call that takes longer than 20 s (a
 * hang), or no signature after the first failure (no recovery) is a failure.
 * The daemon must be restarted by the caller while this runs; the program
 * reports when the first failure came and when every thread signed again.
 *
 * "no-threads": C_Initialize with CKF_LIBRARY_CANT_CREATE_OS_THREADS (GnuTLS).
 * The last line is "N passed, N failed"; the exit status is non-zero on any failure.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cryptoki.h"

static CK_FUNCTION_LIST_PTR f;
static CK_OBJECT_HANDLE pub, priv;
static const char *pin;
static double t_start, deadline;
static atomic_long n_sign, n_bad, n_relogin, n_reopen, n_device;
static atomic_long rv_count[0x200];
static _Atomic double first_failure, worst_call;
static double recovered_at[256];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void note_failure(double t) {
    double cur = atomic_load(&first_failure);
    while ((cur == 0 || t < cur) && !atomic_compare_exchange_weak(&first_failure, &cur, t)) {
    }
}

static void note_latency(double d) {
    double cur = atomic_load(&worst_call);
    while (d > cur && !atomic_compare_exchange_weak(&worst_call, &cur, d)) {
    }
}

static CK_RV open_session(CK_SESSION_HANDLE *s) {
    return f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
}

static void *worker(void *arg) {
    long id = (long)arg;
    CK_SESSION_HANDLE s = 0;
    CK_RV rv = open_session(&s);
    int failed_since = 0;
    unsigned seed = (unsigned)id * 7919u + 1u;
    while (now() < deadline) {
        CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
        CK_BYTE data[32], sig[128];
        CK_ULONG n = sizeof sig;
        for (size_t i = 0; i < sizeof data; i++) data[i] = (CK_BYTE)(seed = seed * 1103515245u + 12345u) >> 16;
        double t0 = now();
        if (rv == CKR_OK) rv = f->C_SignInit(s, &m, priv);
        if (rv == CKR_OK) rv = f->C_Sign(s, data, sizeof data, sig, &n);
        if (rv == CKR_OK) {
            rv = f->C_VerifyInit(s, &m, pub);
            if (rv == CKR_OK) rv = f->C_Verify(s, data, sizeof data, sig, n);
            if (rv == CKR_SIGNATURE_INVALID) {
                atomic_fetch_add(&n_bad, 1);
                printf("thread %ld: a signature did not verify\n", id);
            }
        }
        double t1 = now();
        note_latency(t1 - t0);
        atomic_fetch_add(&rv_count[rv < 0x200 ? rv : 0x1ff], 1);
        if (rv == CKR_OK) {
            atomic_fetch_add(&n_sign, 1);
            if (failed_since) {
                recovered_at[id] = t1 - t_start;
                failed_since = 0;
            }
            continue;
        }
        note_failure(t1 - t_start);
        failed_since = 1;
        if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) {
            atomic_fetch_add(&n_reopen, 1);
            rv = open_session(&s);
        } else if (rv == CKR_USER_NOT_LOGGED_IN) {
            atomic_fetch_add(&n_relogin, 1);
            rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
            if (rv == CKR_USER_ALREADY_LOGGED_IN) rv = CKR_OK;
        } else if (rv == CKR_DEVICE_ERROR) {
            atomic_fetch_add(&n_device, 1);
            struct timespec p = {0, 20 * 1000000L};
            nanosleep(&p, NULL);
            rv = CKR_OK; /* the session may still be good: try the operation again */
        } else {
            atomic_fetch_add(&n_bad, 1);
            if (atomic_load(&n_bad) < 20) printf("thread %ld: unexpected rv 0x%lx\n", id, (unsigned long)rv);
            rv = CKR_OK;
        }
        if (rv != CKR_OK) {
            /* The recovery call failed too: count it and go round again. */
            atomic_fetch_add(&rv_count[rv < 0x200 ? rv : 0x1ff], 1);
            if (rv != CKR_DEVICE_ERROR && rv != CKR_SESSION_HANDLE_INVALID && rv != CKR_USER_NOT_LOGGED_IN) {
                atomic_fetch_add(&n_bad, 1);
                if (atomic_load(&n_bad) < 20) printf("thread %ld: recovery call answered 0x%lx\n", id, (unsigned long)rv);
            }
            struct timespec p = {0, 20 * 1000000L};
            nanosleep(&p, NULL);
            if (rv == CKR_DEVICE_ERROR || rv == CKR_SESSION_HANDLE_INVALID) rv = open_session(&s);
            else rv = CKR_OK;
        }
    }
    if (failed_since) recovered_at[id] = -1;
    f->C_CloseSession(s);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s <module.so> <user:password> <seconds> <threads> [no-threads]\n", argv[0]);
        return 2;
    }
    pin = argv[2];
    double seconds = atof(argv[3]);
    int threads = atoi(argv[4]);
    if (threads < 1 || threads > 256) threads = 8;
    int no_threads = argc > 5 && strcmp(argv[5], "no-threads") == 0;
    int passed = 0, failed = 0;
    void *dl = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&f) != CKR_OK) {
        printf("cannot load %s\n0 passed, 1 failed\n", argv[1]);
        return 1;
    }
    CK_C_INITIALIZE_ARGS a = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK | (no_threads ? CKF_LIBRARY_CANT_CREATE_OS_THREADS : 0), NULL};
    CK_SESSION_HANDLE s;
    CK_RV rv;
    if ((rv = f->C_Initialize(&a)) != CKR_OK || (rv = open_session(&s)) != CKR_OK ||
        (rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) != CKR_OK) {
        printf("setup failed: rv=0x%lx\n0 passed, 1 failed\n", (unsigned long)rv);
        return 1;
    }
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof p256}, {CKA_VERIFY, &yes, 1}, {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &yes, 1}, {CKA_TOKEN, &yes, 1}};
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    if ((rv = f->C_GenerateKeyPair(s, &gen, pt, 3, kt, 2, &pub, &priv)) != CKR_OK) {
        printf("key generation failed: rv=0x%lx\n0 passed, 1 failed\n", (unsigned long)rv);
        return 1;
    }
    printf("READY\n");
    fflush(stdout);

    t_start = now();
    deadline = t_start + seconds;
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    free(t);

    double ff = atomic_load(&first_failure), last_recovery = 0;
    int unrecovered = 0;
    for (int i = 0; i < threads; i++) {
        if (recovered_at[i] < 0) unrecovered++;
        if (recovered_at[i] > last_recovery) last_recovery = recovered_at[i];
    }
    printf("%d threads, %.1f s: %ld signed and verified; first failure at %.2f s, every thread signing again by %.2f s; "
           "%ld C_OpenSession after CKR_SESSION_HANDLE_INVALID, %ld C_Login after CKR_USER_NOT_LOGGED_IN, %ld CKR_DEVICE_ERROR; "
           "slowest call %.2f s\n",
           threads, seconds, atomic_load(&n_sign), ff, last_recovery, atomic_load(&n_reopen), atomic_load(&n_relogin),
           atomic_load(&n_device), atomic_load(&worst_call));
    for (int i = 0; i < 0x200; i++)
        if (i != 0 && atomic_load(&rv_count[i])) printf("  rv 0x%x: %ld\n", i, atomic_load(&rv_count[i]));

    /* The restart was noticed, and everyone recovered from it. */
    if (ff > 0) passed++;
    else failed++, printf("no failure seen: was the daemon restarted?\n");
    if (unrecovered == 0 && last_recovery > 0) passed++;
    else failed++, printf("%d thread(s) never signed again after a failure\n", unrecovered);
    if (atomic_load(&n_bad) == 0) passed++;
    else failed++, printf("%ld unexpected answers\n", atomic_load(&n_bad));
    if (atomic_load(&worst_call) < 20.0) passed++;
    else failed++, printf("a call took %.1f s\n", atomic_load(&worst_call));

    /* The module keeps working on one of its sessions: clean up the keys. */
    CK_SESSION_HANDLE c;
    rv = open_session(&c);
    if (rv == CKR_OK) {
        CK_RV lr = f->C_Login(c, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
        if (lr != CKR_OK && lr != CKR_USER_ALREADY_LOGGED_IN) rv = lr;
    }
    if (rv == CKR_OK) rv = f->C_DestroyObject(c, pub);
    if (rv == CKR_OK) rv = f->C_DestroyObject(c, priv);
    if (rv == CKR_OK) rv = f->C_Finalize(NULL);
    if (rv == CKR_OK) passed++;
    else failed++, printf("cleanup after the restart: rv 0x%lx\n", (unsigned long)rv);
    dlclose(dl);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
