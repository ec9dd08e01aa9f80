/*
 * stress.c: many threads through libazcloudhsm_pkcs11.so at once.
 *
 *   stress <module.so> <user:password> <seconds> <threads> <shared-threads> <shared-sessions>
 *
 * Phase 1: <threads> threads, each with its own session, for <seconds>: mixed
 * ECDSA P-256 signing (each signature verified) and AES-256-GCM encryption
 * (each ciphertext decrypted and compared). Every call must succeed.
 *
 * Phase 2: <shared-threads> threads share <shared-sessions> sessions for
 * <seconds>/2 (at least 1 s), each doing C_SignInit + C_Sign on whichever
 * session it picks. Two threads on one session is the application's error;
 * the module must answer it with a PKCS #11 code — CKR_OPERATION_ACTIVE (the
 * session is busy, or another thread's operation is active), or
 * CKR_OPERATION_NOT_INITIALIZED (another thread finished the operation first)
 * — and never crash or return a wrong signature: every signature that comes
 * back is verified.
 *
 * The keys are token objects (session objects are visible only in the session
 * that made them), destroyed at the end. The last line is
 * "N passed, N failed"; the exit status is non-zero on any failure.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cryptoki.h"

static CK_FUNCTION_LIST_PTR f;
static CK_OBJECT_HANDLE ec_pub, ec_priv, aes;
static double deadline;
static atomic_long n_sign, n_enc, n_bad, n_active, n_notinit;
static atomic_long rv_count[0x200];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void count_rv(CK_RV rv) {
    atomic_fetch_add(&rv_count[rv < 0x200 ? rv : 0x1ff], 1);
}

static void bad(const char *what, CK_RV rv) {
    atomic_fetch_add(&n_bad, 1);
    count_rv(rv);
    if (atomic_load(&n_bad) < 20) printf("unexpected: %s rv=0x%lx\n", what, (unsigned long)rv);
}

static int sign_verify(CK_SESSION_HANDLE s, CK_SESSION_HANDLE vs, unsigned seed) {
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
    CK_BYTE data[64], sig[128];
    CK_ULONG n = sizeof sig;
    for (int i = 0; i < 64; i++) data[i] = (CK_BYTE)(seed * 31 + i);
    CK_RV rv = f->C_SignInit(s, &m, ec_priv);
    if (rv == CKR_OK) rv = f->C_Sign(s, data, sizeof data, sig, &n);
    if (rv != CKR_OK) return (int)rv;
    rv = f->C_VerifyInit(vs, &m, ec_pub);
    if (rv == CKR_OK) rv = f->C_Verify(vs, data, sizeof data, sig, n);
    if (rv != CKR_OK) {
        bad("a signature that does not verify", rv);
        return -1;
    }
    return 0;
}

static void *own_session(void *arg) {
    long id = (long)arg;
    CK_SESSION_HANDLE s;
    CK_RV rv = f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        bad("C_OpenSession", rv);
        return NULL;
    }
    unsigned seed = (unsigned)id * 7919u;
    while (now() < deadline) {
        seed++;
        if (seed & 1) {
            int r = sign_verify(s, s, seed);
            if (r > 0) bad("C_Sign", (CK_RV)r);
            else if (r == 0) atomic_fetch_add(&n_sign, 1);
        } else {
            CK_BYTE iv[12], pt[1024], ct[1100], back[1100];
            for (int i = 0; i < 12; i++) iv[i] = (CK_BYTE)(seed >> (i % 4) * 8) ^ (CK_BYTE)i;
            for (int i = 0; i < 1024; i++) pt[i] = (CK_BYTE)(seed + i);
            CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
            CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof gp};
            CK_ULONG n = sizeof ct, b = sizeof back;
            if ((rv = f->C_EncryptInit(s, &m, aes)) != CKR_OK || (rv = f->C_Encrypt(s, pt, 1024, ct, &n)) != CKR_OK) {
                bad("C_Encrypt", rv);
                continue;
            }
            if ((rv = f->C_DecryptInit(s, &m, aes)) != CKR_OK || (rv = f->C_Decrypt(s, ct, n, back, &b)) != CKR_OK) {
                bad("C_Decrypt", rv);
                continue;
            }
            if (b != 1024 || memcmp(back, pt, 1024) != 0) bad("a decryption that does not match", CKR_GENERAL_ERROR);
            else atomic_fetch_add(&n_enc, 1);
        }
    }
    rv = f->C_CloseSession(s);
    if (rv != CKR_OK) bad("C_CloseSession", rv);
    return NULL;
}

static CK_SESSION_HANDLE shared[64];
static int n_shared;

static void *shared_session(void *arg) {
    long id = (long)arg;
    CK_SESSION_HANDLE vs;
    CK_RV rv = f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &vs); /* its own, for verifying */
    if (rv != CKR_OK) {
        bad("C_OpenSession", rv);
        return NULL;
    }
    unsigned seed = (unsigned)id * 104729u;
    while (now() < deadline) {
        seed++;
        CK_SESSION_HANDLE s = shared[seed % (unsigned)n_shared];
        int r = sign_verify(s, vs, seed);
        if (r == 0) atomic_fetch_add(&n_sign, 1);
        else if (r == (int)CKR_OPERATION_ACTIVE) atomic_fetch_add(&n_active, 1), sched_yield();
        else if (r == (int)CKR_OPERATION_NOT_INITIALIZED) atomic_fetch_add(&n_notinit, 1);
        else if (r > 0) bad("C_SignInit/C_Sign on a shared session", (CK_RV)r);
    }
    f->C_CloseSession(vs);
    return NULL;
}

static int run(int threads, double seconds, void *(*fn)(void *)) {
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    deadline = now() + seconds;
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, fn, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    free(t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s <module.so> <user:password> <seconds> <threads> <shared-threads> <shared-sessions>\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[3]);
    int threads = atoi(argv[4]), sthreads = atoi(argv[5]);
    n_shared = atoi(argv[6]);
    if (n_shared < 1 || n_shared > 64) n_shared = 4;
    int passed = 0, failed = 0;
    void *dl = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&f) != CKR_OK) {
        printf("cannot load %s\n0 passed, 1 failed\n", argv[1]);
        return 1;
    }
    /* OCHSM_STRESS_NO_THREADS=1: initialise as GnuTLS does (the library may not
     * create threads; the calling threads read their own answers). */
    const char *nt = getenv("OCHSM_STRESS_NO_THREADS");
    int no_threads = nt != NULL && strcmp(nt, "1") == 0;
    CK_C_INITIALIZE_ARGS a = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK | (no_threads ? CKF_LIBRARY_CANT_CREATE_OS_THREADS : 0), NULL};
    CK_SESSION_HANDLE s;
    CK_RV rv;
    if ((rv = f->C_Initialize(&a)) != CKR_OK || (rv = f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK ||
        (rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2]))) != CKR_OK) {
        printf("setup failed: rv=0x%lx\n0 passed, 1 failed\n", (unsigned long)rv);
        return 1;
    }
    if (no_threads) {
        /* Only this thread: the module started none. */
        int n = 0;
        DIR *d = opendir("/proc/self/task");
        for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
        if (d != NULL) closedir(d);
        printf("without threads: the process has %d thread(s) after C_Initialize and C_Login\n", n);
        if (n == 1) passed++;
        else failed++;
    }
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL yes = CK_TRUE;
    CK_ULONG len = 32;
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof p256}, {CKA_VERIFY, &yes, 1}, {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &yes, 1}, {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE at[] = {{CKA_VALUE_LEN, &len, sizeof len}, {CKA_ENCRYPT, &yes, 1}, {CKA_DECRYPT, &yes, 1}, {CKA_TOKEN, &yes, 1}};
    CK_MECHANISM ecgen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, aesgen = {CKM_AES_KEY_GEN, NULL, 0};
    if ((rv = f->C_GenerateKeyPair(s, &ecgen, pt, 3, kt, 2, &ec_pub, &ec_priv)) != CKR_OK ||
        (rv = f->C_GenerateKey(s, &aesgen, at, 4, &aes)) != CKR_OK) {
        printf("key generation failed: rv=0x%lx\n0 passed, 1 failed\n", (unsigned long)rv);
        return 1;
    }

    double t0 = now();
    run(threads, seconds, own_session);
    double t1 = now();
    long signs = atomic_load(&n_sign), encs = atomic_load(&n_enc), bads = atomic_load(&n_bad);
    printf("phase 1: %d threads, own sessions, %.1f s: %ld sign+verify, %ld encrypt+decrypt (%.0f ops/s), %ld failures\n",
           threads, t1 - t0, signs, encs, 2 * (signs + encs) / (t1 - t0), bads);
    if (bads == 0 && signs > 0 && encs > 0) passed++;
    else failed++;

    for (int i = 0; i < n_shared; i++)
        if ((rv = f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &shared[i])) != CKR_OK) bad("C_OpenSession", rv);
    atomic_store(&n_sign, 0);
    atomic_store(&n_bad, 0);
    t0 = now();
    run(sthreads, seconds / 2 > 1 ? seconds / 2 : 1, shared_session);
    t1 = now();
    signs = atomic_load(&n_sign);
    bads = atomic_load(&n_bad);
    printf("phase 2: %d threads on %d sessions, %.1f s: %ld signed and verified, %ld CKR_OPERATION_ACTIVE, "
           "%ld CKR_OPERATION_NOT_INITIALIZED, %ld other failures\n",
           sthreads, n_shared, t1 - t0, signs, atomic_load(&n_active), atomic_load(&n_notinit), bads);
    if (bads == 0 && signs > 0) passed++;
    else failed++;
    for (int i = 0; i < 0x200; i++)
        if (atomic_load(&rv_count[i])) printf("  unexpected rv 0x%x: %ld\n", i, atomic_load(&rv_count[i]));

    int cleanup = f->C_DestroyObject(s, ec_pub) == CKR_OK && f->C_DestroyObject(s, ec_priv) == CKR_OK &&
                  f->C_DestroyObject(s, aes) == CKR_OK && f->C_Logout(s) == CKR_OK && f->C_Finalize(NULL) == CKR_OK;
    if (cleanup) passed++;
    else failed++;
    dlclose(dl);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
