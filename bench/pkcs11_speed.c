/*
 * pkcs11_speed.c: operations per second through any PKCS#11 module, in the
 * spirit of the Cavium/Azure `pkpspeed` tool. A benchmark, not a test.
 *
 *   pkcs11_speed <module.so> <slot> <pin> <rsa|ecdsa|gcm|sha> <threads> <seconds>
 *
 *   rsa    RSA-2048 sign, CKM_SHA256_RSA_PKCS over 32 bytes
 *   ecdsa  ECDSA P-256 sign, CKM_ECDSA over a 32-byte digest (SoftHSM2 has no
 *          CKM_ECDSA_SHA256; hashing 32 bytes costs nothing either way)
 *   gcm    AES-256-GCM encrypt of 1 KiB (12-byte IV, 128-bit tag)
 *   sha    SHA-256 digest of 1 KiB: no key, no audit record; the cost of the path itself
 *
 * One key (a session object) is generated first; each thread opens its own
 * session and runs Init + the single-part call in a loop. Prints one line:
 * "<op> threads=<n> ops=<count> seconds=<s> ops_per_s=<rate> errors=<n> p50_us=<µs> p99_us=<µs> app_cpu_us=<µs>"
 * (app_cpu_us: this process's CPU time, all threads, per operation)
 * (latency quantiles from a histogram with buckets about 4 % wide).
 * Built against the project's headers; works with any v2.40 module
 * (SoftHSM2 is measured with it in the same run, bench/pkcs11_speed.mjs).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cryptoki.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE key;
static const char *op;
static double deadline, seconds_total;
static atomic_long ops, errors;
#include <math.h>
/* Latency histogram: 16 buckets per power of two of microseconds (about 4 % wide). */
#define HIST_BUCKETS (40 * 16)
static atomic_long hist[HIST_BUCKETS];

static void record_latency(double seconds) {
    double us = seconds * 1e6;
    int b = us <= 1 ? 0 : (int)(log2(us) * 16);
    if (b >= HIST_BUCKETS) b = HIST_BUCKETS - 1;
    atomic_fetch_add(&hist[b], 1);
}

/* The upper edge (µs) of the bucket holding quantile q. */
static double quantile_us(double q) {
    long total = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) total += atomic_load(&hist[i]);
    if (total == 0) return NAN;
    long want = (long)ceil(q * (double)total), seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += atomic_load(&hist[i]);
        if (seen >= want) return pow(2.0, (i + 1) / 16.0);
    }
    return NAN;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
    (void)arg;
    CK_SESSION_HANDLE s;
    if (f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK) {
        atomic_fetch_add(&errors, 1);
        return NULL;
    }
    CK_BYTE data[1024], out[2048], iv[12] = {0};
    memset(data, 0x5a, sizeof data);
    CK_GCM_PARAMS gp = {iv, sizeof iv, 96, NULL, 0, 128};
    CK_MECHANISM rsa = {CKM_SHA256_RSA_PKCS, NULL, 0}, ecdsa = {CKM_ECDSA, NULL, 0},
                 gcm = {CKM_AES_GCM, &gp, sizeof gp}, sha = {CKM_SHA256, NULL, 0};
    long local = 0;
    for (double start = now(); start < deadline; start = now()) {
        CK_ULONG n = sizeof out;
        CK_RV rv;
        if (op[0] == 'r') {
            rv = f->C_SignInit(s, &rsa, key);
            if (rv == CKR_OK) rv = f->C_Sign(s, data, 32, out, &n);
        } else if (op[0] == 'e') {
            rv = f->C_SignInit(s, &ecdsa, key);
            if (rv == CKR_OK) rv = f->C_Sign(s, data, 32, out, &n);
        } else if (op[0] == 's') {
            rv = f->C_DigestInit(s, &sha);
            if (rv == CKR_OK) rv = f->C_Digest(s, data, 1024, out, &n);
        } else {
            iv[0]++; /* a fresh IV per message */
            rv = f->C_EncryptInit(s, &gcm, key);
            if (rv == CKR_OK) rv = f->C_Encrypt(s, data, 1024, out, &n);
        }
        if (rv == CKR_OK) {
            local++;
            record_latency(now() - start);
        } else if (atomic_fetch_add(&errors, 1) < 5) {
            /* The first few failures by name, so a test can say what went wrong. */
            fprintf(stderr, "error: rv=0x%08lx at %.3f s\n", (unsigned long)rv, now() - (deadline - seconds_total));
        }
    }
    atomic_fetch_add(&ops, local);
    f->C_CloseSession(s);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s <module.so> <slot> <pin> <rsa|ecdsa|gcm|sha> <threads> <seconds>\n", argv[0]);
        return 2;
    }
    slot = strtoul(argv[2], NULL, 0);
    op = argv[4];
    int threads = atoi(argv[5]);
    double seconds = atof(argv[6]);
    void *dl = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&f) != CKR_OK) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    CK_C_INITIALIZE_ARGS a = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    CK_SESSION_HANDLE s;
    CK_RV rv;
    if ((rv = f->C_Initialize(&a)) != CKR_OK ||
        (rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK ||
        (rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3]))) != CKR_OK) {
        fprintf(stderr, "setup failed: 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    CK_BBOOL yes = CK_TRUE;
    CK_OBJECT_HANDLE pub;
    if (op[0] == 'r') {
        CK_ULONG bits = 2048;
        CK_BYTE e[] = {1, 0, 1};
        CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof bits}, {CKA_PUBLIC_EXPONENT, e, 3}, {CKA_VERIFY, &yes, 1}};
        CK_ATTRIBUTE kt[] = {{CKA_SIGN, &yes, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_PRIVATE, &yes, 1}};
        CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
        rv = f->C_GenerateKeyPair(s, &m, pt, 3, kt, 3, &pub, &key);
    } else if (op[0] == 'e') {
        CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
        CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof p256}, {CKA_VERIFY, &yes, 1}};
        CK_ATTRIBUTE kt[] = {{CKA_SIGN, &yes, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_PRIVATE, &yes, 1}};
        CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
        rv = f->C_GenerateKeyPair(s, &m, pt, 2, kt, 3, &pub, &key);
    } else if (op[0] == 's') {
        rv = CKR_OK;
    } else {
        CK_ULONG len = 32;
        CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof len}, {CKA_ENCRYPT, &yes, 1}, {CKA_SENSITIVE, &yes, 1}};
        CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
        rv = f->C_GenerateKey(s, &m, t, 3, &key);
    }
    if (rv != CKR_OK) {
        fprintf(stderr, "key generation failed: 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = now();
    seconds_total = seconds;
    deadline = t0 + seconds;
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    double dt = now() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    /* CPU (user + system, all threads) of this process during the measurement, per operation. */
    double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 ((ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec)) / 1e6;
    long done = atomic_load(&ops);
    printf("%s threads=%d ops=%ld seconds=%.2f ops_per_s=%.1f errors=%ld p50_us=%.0f p99_us=%.0f app_cpu_us=%.1f\n", op, threads, done, dt,
           done / dt, atomic_load(&errors), quantile_us(0.50), quantile_us(0.99), done ? cpu * 1e6 / (double)done : NAN);
    f->C_Logout(s);
    f->C_Finalize(NULL);
    free(t);
    return atomic_load(&errors) ? 1 : 0;
}
