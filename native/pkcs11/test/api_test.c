/*
 * api_test.c: libazcloudhsm_pkcs11.so against a running cluster and daemon,
 * function by function: the return codes PKCS #11 v2.40 specifies for good and
 * bad input (NULL pointers, wrong lengths, invalid handles, template values of
 * the wrong size, mechanisms with bad parameters), the output-buffer
 * convention, C_GetAttributeValue's per-attribute rules, multi-part buffering,
 * sign-in (0xA3, lockout 0xA4, CKR_USER_ALREADY_LOGGED_IN), certificates in a
 * public session, wrap/unwrap, ECDH derivation, mutex callbacks and fork().
 *
 *   api_test <module.so> <user:password> <lock-test-user> <cert.der>
 *
 * The lock-test user is locked by this test (5 wrong passwords). The last
 * line is "N passed, N failed"; the exit status is non-zero on any failure.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cryptoki.h"

static CK_FUNCTION_LIST_PTR f;
static int passed, failed;

#define CHECK(what, expr, want)                                                                          \
    do {                                                                                                 \
        CK_RV rv_ = (expr);                                                                              \
        if (rv_ == (CK_RV)(want)) {                                                                      \
            passed++;                                                                                    \
        } else {                                                                                         \
            failed++;                                                                                    \
            printf("FAIL %s:%d %s: rv=0x%lx, wanted 0x%lx\n", __FILE__, __LINE__, what, (unsigned long)rv_, \
                   (unsigned long)(want));                                                               \
        }                                                                                                \
    } while (0)
#define TRUTH(what, cond) CHECK(what, (cond) ? CKR_OK : CKR_GENERAL_ERROR, CKR_OK)

/* ───────────── mutex callbacks that count their use ───────────── */
static int lock_calls;
static CK_RV cb_create(CK_VOID_PTR_PTR m) {
    pthread_mutex_t *p = malloc(sizeof *p);
    if (!p) return CKR_HOST_MEMORY;
    pthread_mutex_init(p, NULL);
    *m = p;
    return CKR_OK;
}
static CK_RV cb_destroy(CK_VOID_PTR m) {
    pthread_mutex_destroy(m);
    free(m);
    return CKR_OK;
}
static CK_RV cb_lock(CK_VOID_PTR m) {
    pthread_mutex_lock(m);
    lock_calls++;
    return CKR_OK;
}
static CK_RV cb_unlock(CK_VOID_PTR m) {
    pthread_mutex_unlock(m);
    return CKR_OK;
}

/* Threads of this process now (/proc/self/task). */
static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (d == NULL) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    unsigned char *buf = malloc(65536);
    *len = fread(buf, 1, 65536, fp);
    fclose(fp);
    return buf;
}

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static CK_OBJECT_HANDLE gen_aes(CK_SESSION_HANDLE s, CK_ULONG len, int wrap, int extractable) {
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE t[] = {
        {CKA_VALUE_LEN, &len, sizeof len}, {CKA_ENCRYPT, &yes, 1},  {CKA_DECRYPT, &yes, 1},
        {CKA_WRAP, wrap ? &yes : &no, 1},  {CKA_UNWRAP, wrap ? &yes : &no, 1}, {CKA_EXTRACTABLE, extractable ? &yes : &no, 1},
    };
    CK_OBJECT_HANDLE h = 0;
    CHECK("C_GenerateKey AES", f->C_GenerateKey(s, &m, t, 6, &h), CKR_OK);
    return h;
}

static void gen_ec(CK_SESSION_HANDLE s, int derive, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv) {
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof p256}, {CKA_VERIFY, &yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &yes, 1}, {CKA_DERIVE, derive ? &yes : &no, 1}};
    CHECK("C_GenerateKeyPair EC", f->C_GenerateKeyPair(s, &m, pt, 2, kt, 2, pub, priv), CKR_OK);
}

/* AES-ECB of one block, to compare two keys. */
static void ecb(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_BYTE out[16]) {
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    CK_BYTE in[16] = "0123456789abcdef";
    CK_ULONG n = 16;
    memset(out, 0, 16);
    CHECK("C_EncryptInit ECB", f->C_EncryptInit(s, &m, k), CKR_OK);
    CHECK("C_Encrypt ECB", f->C_Encrypt(s, in, 16, out, &n), CKR_OK);
}

static void before_initialize(void) {
    CK_INFO info;
    CK_SESSION_HANDLE h;
    CHECK("C_GetInfo before C_Initialize", f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK("C_OpenSession before C_Initialize", f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h),
          CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK("C_Finalize before C_Initialize", f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK("C_GetFunctionList(NULL)", f->C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
    CK_C_INITIALIZE_ARGS a;
    memset(&a, 0, sizeof a);
    a.pReserved = &a;
    CHECK("C_Initialize pReserved", f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
    memset(&a, 0, sizeof a);
    a.CreateMutex = cb_create;
    CHECK("C_Initialize with some callbacks", f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
    memset(&a, 0, sizeof a);
    /* GnuTLS and p11-kit: the library may not create threads. The calling
     * threads then read their own answers; no thread appears. */
    a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK;
    int threads_before = thread_count();
    CHECK("C_Initialize without threads", f->C_Initialize(&a), CKR_OK);
    TRUTH("no thread created by C_Initialize without threads", thread_count() == threads_before);
    CHECK("C_GetInfo without threads", f->C_GetInfo(&info), CKR_OK);
    CK_ULONG nslots = 0;
    CHECK("C_GetSlotList without threads", f->C_GetSlotList(CK_TRUE, NULL, &nslots), CKR_OK);
    CHECK("C_OpenSession without threads", f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_OK);
    CK_BYTE rnd[64];
    CHECK("C_GenerateRandom without threads", f->C_GenerateRandom(h, rnd, sizeof rnd), CKR_OK);
    CHECK("C_CloseSession without threads", f->C_CloseSession(h), CKR_OK);
    TRUTH("still no thread", thread_count() == threads_before);
    CHECK("C_Finalize without threads", f->C_Finalize(NULL), CKR_OK);
    a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
    a.CreateMutex = cb_create;
    a.DestroyMutex = cb_destroy;
    a.LockMutex = cb_lock;
    a.UnlockMutex = cb_unlock;
    CHECK("C_Initialize without threads, with mutex callbacks", f->C_Initialize(&a), CKR_OK);
    TRUTH("no thread with mutex callbacks either", thread_count() == threads_before);
    CHECK("C_GetInfo (callbacks, no threads)", f->C_GetInfo(&info), CKR_OK);
    CHECK("C_Finalize (callbacks, no threads)", f->C_Finalize(NULL), CKR_OK);
    lock_calls = 0; /* counted again by the main run below */
}

static void slots_and_mechanisms(void) {
    CK_INFO info;
    CHECK("C_GetInfo(NULL)", f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_GetInfo", f->C_GetInfo(&info), CKR_OK);
    TRUTH("cryptoki version 2.40", info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40);
    CK_SLOT_ID slots[4];
    CK_ULONG n = 0;
    CHECK("C_GetSlotList(pulCount NULL)", f->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_GetSlotList length", f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    TRUTH("one slot", n == 1);
    n = 0;
    CHECK("C_GetSlotList too small", f->C_GetSlotList(CK_TRUE, slots, &n), CKR_BUFFER_TOO_SMALL);
    n = 4;
    CHECK("C_GetSlotList", f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    TRUTH("slot list is [1]", n == 1 && slots[0] == 1);
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CHECK("C_GetSlotInfo(2)", f->C_GetSlotInfo(2, &si), CKR_SLOT_ID_INVALID);
    CHECK("C_GetSlotInfo(1)", f->C_GetSlotInfo(1, &si), CKR_OK);
    TRUTH("token present", si.flags & CKF_TOKEN_PRESENT);
    CHECK("C_GetTokenInfo(0)", f->C_GetTokenInfo(0, &ti), CKR_SLOT_ID_INVALID);
    CHECK("C_GetTokenInfo(1, NULL)", f->C_GetTokenInfo(1, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_GetTokenInfo(1)", f->C_GetTokenInfo(1, &ti), CKR_OK);
    TRUTH("token flags", (ti.flags & (CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_RNG)) ==
                             (CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_RNG));
    TRUTH("manufacturer", memcmp(ti.manufacturerID, "OpenCloudHSM ", 13) == 0);
    TRUTH("serial from the partition", memcmp(ti.serialNumber, "unknown", 7) != 0 && ti.serialNumber[0] != ' ');

    CK_MECHANISM_TYPE mechs[256];
    n = 0;
    CHECK("C_GetMechanismList(NULL count)", f->C_GetMechanismList(1, mechs, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_GetMechanismList length", f->C_GetMechanismList(1, NULL, &n), CKR_OK);
    CK_ULONG total = n;
    n = 1;
    CHECK("C_GetMechanismList too small", f->C_GetMechanismList(1, mechs, &n), CKR_BUFFER_TOO_SMALL);
    TRUTH("too small gives the count", n == total);
    n = 256;
    CHECK("C_GetMechanismList", f->C_GetMechanismList(1, mechs, &n), CKR_OK);
    int gcm = 0, ecdsa = 0;
    for (CK_ULONG i = 0; i < n; i++) gcm |= mechs[i] == CKM_AES_GCM, ecdsa |= mechs[i] == CKM_ECDSA_SHA256;
    TRUTH("AES-GCM and ECDSA-SHA256 listed", gcm && ecdsa && n == total && n > 20);
    CK_MECHANISM_INFO mi;
    CHECK("C_GetMechanismInfo MD5", f->C_GetMechanismInfo(1, CKM_MD5, &mi), CKR_MECHANISM_INVALID);
    CHECK("C_GetMechanismInfo NULL", f->C_GetMechanismInfo(1, CKM_AES_KEY_GEN, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_GetMechanismInfo AES_KEY_GEN", f->C_GetMechanismInfo(1, CKM_AES_KEY_GEN, &mi), CKR_OK);
    TRUTH("AES key sizes 16..32 bytes", mi.ulMinKeySize == 16 && mi.ulMaxKeySize == 32 && (mi.flags & CKF_GENERATE));
}

static void unsupported(CK_SESSION_HANDLE s) {
    CK_ULONG n;
    CK_BYTE b[8];
    CK_SLOT_ID slot;
    CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
    CHECK("C_InitToken", f->C_InitToken(1, (CK_UTF8CHAR_PTR) "x", 1, (CK_UTF8CHAR_PTR) "label"), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_InitPIN", f->C_InitPIN(s, (CK_UTF8CHAR_PTR) "x", 1), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_SetPIN", f->C_SetPIN(s, (CK_UTF8CHAR_PTR) "x", 1, (CK_UTF8CHAR_PTR) "y", 1), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_GetOperationState", f->C_GetOperationState(s, b, &n), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_GetObjectSize", f->C_GetObjectSize(s, 262144, &n), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_SignRecoverInit", f->C_SignRecoverInit(s, &m, 262144), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_VerifyRecoverInit", f->C_VerifyRecoverInit(s, &m, 262144), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_DigestEncryptUpdate", f->C_DigestEncryptUpdate(s, b, 1, b, &n), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_WaitForSlotEvent", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    CHECK("C_GetFunctionStatus", f->C_GetFunctionStatus(s), CKR_FUNCTION_NOT_PARALLEL);
    CHECK("C_CancelFunction", f->C_CancelFunction(s), CKR_FUNCTION_NOT_PARALLEL);
    CHECK("C_SeedRandom", f->C_SeedRandom(s, b, 8), CKR_RANDOM_SEED_NOT_SUPPORTED);
}

/* A certificate is a public object: created, read and destroyed without a sign-in. */
static void certificate(CK_SESSION_HANDLE s, const unsigned char *der, size_t der_len) {
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE ct = CKC_X_509;
    CK_BYTE subject[] = {0x30, 0x00};
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},       {CKA_CERTIFICATE_TYPE, &ct, sizeof ct}, {CKA_TOKEN, &no, 1},
        {CKA_SUBJECT, subject, sizeof subject}, {CKA_VALUE, (void *)der, der_len},   {CKA_LABEL, "cert", 4},
    };
    CK_OBJECT_HANDLE h = 0, found[8];
    CK_ULONG n = 0;
    /* Before C_Login a public session reads but creates nothing (the node's door, docs/protocol.md). */
    CK_ATTRIBUTE q[] = {{CKA_CLASS, &cls, sizeof cls}};
    CK_ULONG before = 0;
    CHECK("C_FindObjectsInit", f->C_FindObjectsInit(s, q, 1), CKR_OK);
    CHECK("C_FindObjects", f->C_FindObjects(s, found, 8, &before), CKR_OK);
    CHECK("C_FindObjectsFinal", f->C_FindObjectsFinal(s), CKR_OK);
    CHECK("C_CreateObject certificate (public session, before C_Login)", f->C_CreateObject(s, t, 6, &h), CKR_USER_NOT_LOGGED_IN);
    CHECK("C_CreateObject phObject NULL", f->C_CreateObject(s, t, 6, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_FindObjectsInit", f->C_FindObjectsInit(s, q, 1), CKR_OK);
    CHECK("C_FindObjects", f->C_FindObjects(s, found, 8, &n), CKR_OK);
    TRUTH("nothing was created", n == before);
    CHECK("C_FindObjectsFinal", f->C_FindObjectsFinal(s), CKR_OK);
}

static void sign_in(CK_SESSION_HANDLE ro, CK_SESSION_HANDLE rw, const char *pin, const char *lock_user) {
    CK_SESSION_INFO si;
    char bad[128];
    CHECK("C_GetSessionInfo NULL", f->C_GetSessionInfo(rw, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_GetSessionInfo rw", f->C_GetSessionInfo(rw, &si), CKR_OK);
    TRUTH("RW public session", si.state == CKS_RW_PUBLIC_SESSION && si.slotID == 1 &&
                                   si.flags == (CKF_RW_SESSION | CKF_SERIAL_SESSION));
    CHECK("C_GetSessionInfo ro", f->C_GetSessionInfo(ro, &si), CKR_OK);
    TRUTH("RO public session", si.state == CKS_RO_PUBLIC_SESSION);
    CHECK("C_Login NULL PIN", f->C_Login(rw, CKU_USER, NULL, 4), CKR_ARGUMENTS_BAD);
    CHECK("C_Login user type 7", f->C_Login(rw, 7, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_USER_TYPE_INVALID);
    CHECK("C_Login bad session", f->C_Login(0xdead, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)),
          CKR_SESSION_HANDLE_INVALID);
    CHECK("C_Logout nobody signed in", f->C_Logout(rw), CKR_USER_NOT_LOGGED_IN);
    /* Lockout: five wrong passwords answer 0xA3, then the account is locked: 0xA4. */
    snprintf(bad, sizeof bad, "%s:wrongpassword", lock_user);
    for (int i = 0; i < 5; i++) CHECK("C_Login wrong password", f->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)bad, strlen(bad)), 0xA3);
    CHECK("C_Login locked account", f->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)bad, strlen(bad)), CKR_PIN_LOCKED);
    CHECK("C_Login PIN without ':'", f->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR) "nocolon", 7), 0xA3);
    CHECK("C_Login not UTF-8", f->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR) "cu1:\xff\xfe", 6), 0xA3);
    CHECK("C_Login", f->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    CHECK("C_Login again", f->C_Login(ro, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_USER_ALREADY_LOGGED_IN);
    CHECK("C_GetSessionInfo after login", f->C_GetSessionInfo(rw, &si), CKR_OK);
    TRUTH("RW user functions", si.state == CKS_RW_USER_FUNCTIONS);
    CHECK("C_GetSessionInfo ro after login", f->C_GetSessionInfo(ro, &si), CKR_OK);
    TRUTH("RO user functions (the sign-in is shared)", si.state == CKS_RO_USER_FUNCTIONS);
}

static void templates(CK_SESSION_HANDLE s) {
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG len = 32;
    unsigned int four = 32;
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE short_len[] = {{CKA_VALUE_LEN, &four, sizeof four}};
    CHECK("CKA_VALUE_LEN of 4 bytes", f->C_GenerateKey(s, &m, short_len, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_BYTE two = 2;
    CK_ATTRIBUTE bad_bool[] = {{CKA_VALUE_LEN, &len, sizeof len}, {CKA_ENCRYPT, &two, 1}};
    CHECK("CK_BBOOL of value 2", f->C_GenerateKey(s, &m, bad_bool, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE long_bool[] = {{CKA_VALUE_LEN, &len, sizeof len}, {CKA_ENCRYPT, &len, sizeof len}};
    CHECK("CK_BBOOL of 8 bytes", f->C_GenerateKey(s, &m, long_bool, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE null_value[] = {{CKA_VALUE_LEN, NULL, sizeof len}};
    CHECK("NULL pValue with a length", f->C_GenerateKey(s, &m, null_value, 1, &h), CKR_ARGUMENTS_BAD);
    CHECK("NULL template with a count", f->C_GenerateKey(s, &m, NULL, 3, &h), CKR_ARGUMENTS_BAD);
    CK_ATTRIBUTE huge_type[] = {{0x100000000UL, &len, sizeof len}};
    CHECK("attribute type above 32 bits", f->C_GenerateKey(s, &m, huge_type, 1, &h), CKR_ATTRIBUTE_TYPE_INVALID);
    CK_ATTRIBUTE unknown[] = {{CKA_VALUE_LEN, &len, sizeof len}, {0x7777, &len, sizeof len}};
    CHECK("unknown attribute", f->C_GenerateKey(s, &m, unknown, 2, &h), CKR_ATTRIBUTE_TYPE_INVALID);
    CK_ATTRIBUTE not_sensitive[] = {{CKA_VALUE_LEN, &len, sizeof len}, {CKA_SENSITIVE, &no, 1}};
    CHECK("CKA_SENSITIVE FALSE (the HSM keeps keys sensitive)", f->C_GenerateKey(s, &m, not_sensitive, 2, &h),
          CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE ok[] = {{CKA_VALUE_LEN, &len, sizeof len}};
    CHECK("C_GenerateKey NULL mechanism", f->C_GenerateKey(s, NULL, ok, 1, &h), CKR_ARGUMENTS_BAD);
    CHECK("C_GenerateKey NULL handle", f->C_GenerateKey(s, &m, ok, 1, NULL), CKR_ARGUMENTS_BAD);
    CK_MECHANISM md5 = {CKM_MD5, NULL, 0};
    CHECK("C_GenerateKey with a digest mechanism", f->C_GenerateKey(s, &md5, ok, 1, &h), CKR_MECHANISM_INVALID);
}

static void encryption(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k) {
    CK_BYTE iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CK_BYTE aad[5] = "head";
    CK_GCM_PARAMS gp = {iv, sizeof iv, 96, aad, 4, 128};
    CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
    CK_MECHANISM bad_len = {CKM_AES_GCM, &gp, 7};
    CK_MECHANISM null_param = {CKM_AES_GCM, NULL, sizeof gp};
    CK_GCM_PARAMS gp_null_iv = {NULL, 12, 96, NULL, 0, 128};
    CK_MECHANISM null_iv = {CKM_AES_GCM, &gp_null_iv, sizeof gp_null_iv};
    CK_GCM_PARAMS gp_tag = {iv, sizeof iv, 96, NULL, 0, 129};
    CK_MECHANISM bad_tag = {CKM_AES_GCM, &gp_tag, sizeof gp_tag};
    CK_BYTE data[32] = "thirty-two bytes of plain text!";
    CK_BYTE out[128], back[128];
    CK_ULONG n, m;

    CHECK("C_EncryptInit GCM wrong parameter length", f->C_EncryptInit(s, &bad_len, k), CKR_MECHANISM_PARAM_INVALID);
    CHECK("C_EncryptInit GCM NULL parameter", f->C_EncryptInit(s, &null_param, k), CKR_MECHANISM_PARAM_INVALID);
    CHECK("C_EncryptInit GCM NULL IV", f->C_EncryptInit(s, &null_iv, k), CKR_MECHANISM_PARAM_INVALID);
    CHECK("C_EncryptInit NULL mechanism", f->C_EncryptInit(s, NULL, k), CKR_ARGUMENTS_BAD);
    CK_MECHANISM md5 = {CKM_MD5, NULL, 0};
    CHECK("C_EncryptInit MD5", f->C_EncryptInit(s, &md5, k), CKR_MECHANISM_INVALID);
    CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
    CHECK("C_EncryptInit with a digest mechanism", f->C_EncryptInit(s, &sha, k), CKR_MECHANISM_INVALID);
    CHECK("C_EncryptInit handle above 2^53", f->C_EncryptInit(s, &gcm, ~0UL), CKR_KEY_HANDLE_INVALID);
    /* The HSM checks the tag size. */
    CHECK("C_EncryptInit GCM tag 129 bits", f->C_EncryptInit(s, &bad_tag, k), CKR_OK);
    n = sizeof out;
    CHECK("C_Encrypt GCM tag 129 bits", f->C_Encrypt(s, data, 32, out, &n), CKR_MECHANISM_PARAM_INVALID);
    CHECK("C_Encrypt after an error", f->C_Encrypt(s, data, 32, out, &n), CKR_OPERATION_NOT_INITIALIZED);
    /* A key handle the HSM does not know: reported when the operation runs. */
    CHECK("C_EncryptInit unknown key", f->C_EncryptInit(s, &gcm, 999999), CKR_OK);
    n = sizeof out;
    CHECK("C_Encrypt unknown key", f->C_Encrypt(s, data, 32, out, &n), CKR_KEY_HANDLE_INVALID);

    CHECK("C_EncryptInit GCM", f->C_EncryptInit(s, &gcm, k), CKR_OK);
    CHECK("C_EncryptInit twice", f->C_EncryptInit(s, &gcm, k), CKR_OPERATION_ACTIVE);
    CHECK("C_Encrypt NULL length pointer", f->C_Encrypt(s, data, 32, out, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_EncryptInit GCM", f->C_EncryptInit(s, &gcm, k), CKR_OK);
    CHECK("C_Encrypt NULL data with a length", f->C_Encrypt(s, NULL, 32, out, &n), CKR_ARGUMENTS_BAD);
    CHECK("C_EncryptInit GCM", f->C_EncryptInit(s, &gcm, k), CKR_OK);
    n = 0;
    CHECK("C_Encrypt length query", f->C_Encrypt(s, data, 32, NULL, &n), CKR_OK);
    TRUTH("GCM output length 48", n == 48);
    n = 10;
    CHECK("C_Encrypt too small", f->C_Encrypt(s, data, 32, out, &n), CKR_BUFFER_TOO_SMALL);
    TRUTH("too small gives the length", n == 48);
    n = sizeof out;
    CHECK("C_Encrypt", f->C_Encrypt(s, data, 32, out, &n), CKR_OK);
    CHECK("C_Encrypt after it finished", f->C_Encrypt(s, data, 32, out, &n), CKR_OPERATION_NOT_INITIALIZED);
    CHECK("C_DecryptInit GCM", f->C_DecryptInit(s, &gcm, k), CKR_OK);
    m = sizeof back;
    CHECK("C_Decrypt", f->C_Decrypt(s, out, n, back, &m), CKR_OK);
    TRUTH("GCM round trip", m == 32 && memcmp(back, data, 32) == 0);
    out[3] ^= 1;
    CHECK("C_DecryptInit GCM", f->C_DecryptInit(s, &gcm, k), CKR_OK);
    m = sizeof back;
    CHECK("C_Decrypt tampered", f->C_Decrypt(s, out, n, back, &m), CKR_ENCRYPTED_DATA_INVALID);

    /* Multi-part CBC-PAD, streamed through the node: each Update returns the whole blocks so far. */
    CK_BYTE civ[16] = {0};
    CK_MECHANISM cbc = {CKM_AES_CBC_PAD, civ, sizeof civ};
    CK_BYTE big[100];
    for (int i = 0; i < 100; i++) big[i] = (CK_BYTE)i;
    CK_BYTE ct[256], pt[256], one[256];
    CK_ULONG part, total = 0;
    CHECK("C_EncryptInit CBC-PAD", f->C_EncryptInit(s, &cbc, k), CKR_OK);
    part = 0;
    CHECK("C_EncryptUpdate length query", f->C_EncryptUpdate(s, big, 30, NULL, &part), CKR_OK);
    TRUTH("the bound of 30 bytes is 32 (whole blocks)", part == 32);
    part = sizeof ct;
    CHECK("C_EncryptUpdate", f->C_EncryptUpdate(s, big, 30, ct, &part), CKR_OK);
    TRUTH("C_EncryptUpdate returns the one whole block", part == 16);
    total = part;
    part = 4;
    CHECK("C_EncryptUpdate too small", f->C_EncryptUpdate(s, big + 30, 70, ct + total, &part), CKR_BUFFER_TOO_SMALL);
    TRUTH("too small gives the length (80)", part == 80);
    part = sizeof ct - total;
    CHECK("C_EncryptUpdate retried", f->C_EncryptUpdate(s, big + 30, 70, ct + total, &part), CKR_OK);
    TRUTH("the retry gets the 80 bytes", part == 80);
    total += part;
    part = 0;
    CHECK("C_EncryptFinal length query", f->C_EncryptFinal(s, NULL, &part), CKR_OK);
    TRUTH("CBC-PAD last block 16", part == 16);
    CHECK("C_EncryptFinal", f->C_EncryptFinal(s, ct + total, &part), CKR_OK);
    total += part;
    TRUTH("CBC-PAD length 112", total == 112);
    CHECK("C_EncryptInit CBC-PAD", f->C_EncryptInit(s, &cbc, k), CKR_OK);
    part = sizeof one;
    CHECK("C_Encrypt CBC-PAD", f->C_Encrypt(s, big, 100, one, &part), CKR_OK);
    TRUTH("multi-part equals single-part", part == 112 && memcmp(one, ct, 112) == 0);
    CHECK("C_EncryptInit CBC-PAD", f->C_EncryptInit(s, &cbc, k), CKR_OK);
    CHECK("C_EncryptUpdate NULL length pointer", f->C_EncryptUpdate(s, big, 1, ct, NULL), CKR_ARGUMENTS_BAD);
    CHECK("the error ended it", f->C_EncryptFinal(s, NULL, &part), CKR_OPERATION_NOT_INITIALIZED);
    CHECK("C_DecryptInit CBC-PAD", f->C_DecryptInit(s, &cbc, k), CKR_OK);
    part = sizeof pt;
    CHECK("C_DecryptUpdate", f->C_DecryptUpdate(s, ct, 50, pt, &part), CKR_OK);
    TRUTH("C_DecryptUpdate 50: 48 bytes", part == 48);
    total = part;
    part = sizeof pt - total;
    CHECK("C_DecryptUpdate", f->C_DecryptUpdate(s, ct + 50, 62, pt + total, &part), CKR_OK);
    TRUTH("C_DecryptUpdate 62: 48 bytes (the last block held back)", part == 48);
    total += part;
    part = sizeof pt - total;
    CHECK("C_DecryptFinal", f->C_DecryptFinal(s, pt + total, &part), CKR_OK);
    total += part;
    TRUTH("multi-part round trip", total == 100 && memcmp(pt, big, 100) == 0);

    /* A mechanism the node cannot stream (GCM decryption: no plaintext before the tag) is buffered in the module, up to maxData. */
    CK_BYTE *mb = calloc(1, 600 * 1024);
    CHECK("C_DecryptInit GCM", f->C_DecryptInit(s, &gcm, k), CKR_OK);
    part = 0;
    CHECK("C_DecryptUpdate GCM 600 KiB", f->C_DecryptUpdate(s, mb, 600 * 1024, NULL, &part), CKR_OK);
    part = 0;
    CHECK("C_DecryptUpdate GCM 600 KiB", f->C_DecryptUpdate(s, mb, 600 * 1024, ct, &part), CKR_OK);
    TRUTH("a buffered Update returns 0 bytes", part == 0);
    CHECK("C_DecryptUpdate GCM past 1 MiB", f->C_DecryptUpdate(s, mb, 600 * 1024, ct, &part), CKR_DATA_LEN_RANGE);
    CHECK("operation ended", f->C_DecryptFinal(s, NULL, &part), CKR_OPERATION_NOT_INITIALIZED);
    /* GCM encryption streams: ciphertext at each Update, the tag at Final, as single-part. */
    CHECK("C_EncryptInit GCM", f->C_EncryptInit(s, &gcm, k), CKR_OK);
    part = 32;
    CHECK("C_EncryptUpdate GCM", f->C_EncryptUpdate(s, data, 32, ct, &part), CKR_OK);
    TRUTH("GCM Update returns its ciphertext", part == 32);
    total = sizeof ct - 32;
    CHECK("C_EncryptFinal GCM", f->C_EncryptFinal(s, ct + 32, &total), CKR_OK);
    CHECK("C_EncryptInit GCM", f->C_EncryptInit(s, &gcm, k), CKR_OK);
    part = sizeof one;
    CHECK("C_Encrypt GCM", f->C_Encrypt(s, data, 32, one, &part), CKR_OK);
    TRUTH("GCM in parts = single-part (ciphertext || tag)", total == 16 && part == 48 && memcmp(one, ct, 48) == 0);
    /* A streamed one has no such limit: 2 x 600 KiB of CBC in and out. */
    CK_MECHANISM plain_cbc = {CKM_AES_CBC, civ, sizeof civ};
    CK_BYTE *mo = malloc(600 * 1024);
    CHECK("C_EncryptInit CBC", f->C_EncryptInit(s, &plain_cbc, k), CKR_OK);
    part = 600 * 1024;
    CHECK("C_EncryptUpdate CBC 600 KiB", f->C_EncryptUpdate(s, mb, 600 * 1024, mo, &part), CKR_OK);
    TRUTH("600 KiB out", part == 600 * 1024);
    part = 600 * 1024;
    CHECK("C_EncryptUpdate CBC past 1 MiB", f->C_EncryptUpdate(s, mb, 600 * 1024, mo, &part), CKR_OK);
    TRUTH("600 KiB out again", part == 600 * 1024);
    part = 0;
    CHECK("C_EncryptFinal CBC", f->C_EncryptFinal(s, NULL, &part), CKR_OK);
    CHECK("C_EncryptFinal CBC", f->C_EncryptFinal(s, ct, &part), CKR_OK);
    TRUTH("nothing left at CBC final", part == 0);
    free(mo);
    free(mb);
    CHECK("C_DecryptFinal without init", f->C_DecryptFinal(s, pt, &part), CKR_OPERATION_NOT_INITIALIZED);
}

static void digests(CK_SESSION_HANDLE s) {
    static const CK_BYTE abc_sha256[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                           0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                           0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    CK_MECHANISM m = {CKM_SHA256, NULL, 0};
    CK_BYTE d[64];
    CK_ULONG n = 0;
    CHECK("C_DigestInit", f->C_DigestInit(s, &m), CKR_OK);
    CHECK("C_Digest length", f->C_Digest(s, (CK_BYTE_PTR) "abc", 3, NULL, &n), CKR_OK);
    TRUTH("SHA-256 length", n == 32);
    n = sizeof d;
    CHECK("C_Digest", f->C_Digest(s, (CK_BYTE_PTR) "abc", 3, d, &n), CKR_OK);
    TRUTH("SHA-256(abc)", n == 32 && memcmp(d, abc_sha256, 32) == 0);
    CHECK("C_DigestInit", f->C_DigestInit(s, &m), CKR_OK);
    CHECK("C_DigestUpdate", f->C_DigestUpdate(s, (CK_BYTE_PTR) "a", 1), CKR_OK);
    CHECK("C_DigestUpdate", f->C_DigestUpdate(s, (CK_BYTE_PTR) "bc", 2), CKR_OK);
    CHECK("C_DigestKey", f->C_DigestKey(s, 262144), CKR_FUNCTION_NOT_SUPPORTED);
    n = sizeof d;
    CHECK("C_DigestFinal", f->C_DigestFinal(s, d, &n), CKR_OK);
    TRUTH("multi-part SHA-256(abc)", n == 32 && memcmp(d, abc_sha256, 32) == 0);
    CK_MECHANISM md5 = {CKM_MD5, NULL, 0};
    CHECK("C_DigestInit MD5 (not offered)", f->C_DigestInit(s, &md5), CKR_MECHANISM_INVALID);
}

static void signatures_and_attributes(CK_SESSION_HANDLE s) {
    CK_OBJECT_HANDLE pub, priv;
    gen_ec(s, 0, &pub, &priv);
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
    CK_BYTE data[] = "message", sig[128];
    CK_ULONG n = 0;
    CHECK("C_SignInit", f->C_SignInit(s, &m, priv), CKR_OK);
    CHECK("C_Sign length", f->C_Sign(s, data, 7, NULL, &n), CKR_OK);
    TRUTH("ECDSA P-256 length 64", n == 64);
    n = 1;
    CHECK("C_Sign too small", f->C_Sign(s, data, 7, sig, &n), CKR_BUFFER_TOO_SMALL);
    n = sizeof sig;
    CHECK("C_Sign", f->C_Sign(s, data, 7, sig, &n), CKR_OK);
    CHECK("C_VerifyInit", f->C_VerifyInit(s, &m, pub), CKR_OK);
    CHECK("C_Verify NULL signature", f->C_Verify(s, data, 7, NULL, 64), CKR_ARGUMENTS_BAD);
    CHECK("C_VerifyInit", f->C_VerifyInit(s, &m, pub), CKR_OK);
    CHECK("C_VerifyUpdate", f->C_VerifyUpdate(s, data, 3), CKR_OK);
    CHECK("C_VerifyUpdate", f->C_VerifyUpdate(s, data + 3, 4), CKR_OK);
    CHECK("C_VerifyFinal", f->C_VerifyFinal(s, sig, n), CKR_OK);
    CHECK("C_VerifyInit", f->C_VerifyInit(s, &m, pub), CKR_OK);
    CHECK("C_Verify wrong length", f->C_Verify(s, data, 7, sig, 10), CKR_SIGNATURE_LEN_RANGE);
    CHECK("C_Verify not initialised", f->C_Verify(s, data, 7, sig, n), CKR_OPERATION_NOT_INITIALIZED);
    CK_MECHANISM sign_with_digest = {CKM_SHA256, NULL, 0};
    CHECK("C_SignInit with a digest mechanism", f->C_SignInit(s, &sign_with_digest, priv), CKR_MECHANISM_INVALID);
    CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    CK_MECHANISM pss_bad = {CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof pss - 1};
    CHECK("C_SignInit PSS wrong parameter length", f->C_SignInit(s, &pss_bad, priv), CKR_MECHANISM_PARAM_INVALID);
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 4};
    CK_MECHANISM oaep_bad = {CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
    CHECK("C_EncryptInit OAEP NULL label with a length", f->C_EncryptInit(s, &oaep_bad, pub), CKR_MECHANISM_PARAM_INVALID);

    /* C_GetAttributeValue, entry by entry (§5.7). */
    CK_BYTE params[2], point[128];
    CK_ULONG vlen = 0;
    CK_ATTRIBUTE t[] = {
        {CKA_EC_POINT, NULL, 0},
        {CKA_VALUE_LEN, &vlen, sizeof vlen},    /* not an attribute of an EC public key */
        {CKA_EC_PARAMS, params, sizeof params}, /* too small */
    };
    CK_RV rv = f->C_GetAttributeValue(s, pub, t, 3);
    TRUTH("C_GetAttributeValue: one of the errors", rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL);
    TRUTH("NULL pValue gets the length", t[0].ulValueLen == 67);
    TRUTH("invalid type gets CK_UNAVAILABLE_INFORMATION", t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    TRUTH("short buffer gets CK_UNAVAILABLE_INFORMATION", t[2].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CK_ATTRIBUTE pt[] = {{CKA_EC_POINT, point, sizeof point}};
    CHECK("C_GetAttributeValue EC_POINT", f->C_GetAttributeValue(s, pub, pt, 1), CKR_OK);
    TRUTH("EC point is a DER OCTET STRING", pt[0].ulValueLen == 67 && point[0] == 0x04 && point[2] == 0x04);
    CK_BYTE secret[64];
    CK_ATTRIBUTE sv[] = {{CKA_VALUE, secret, sizeof secret}};
    CHECK("C_GetAttributeValue private value", f->C_GetAttributeValue(s, priv, sv, 1), CKR_ATTRIBUTE_SENSITIVE);
    TRUTH("sensitive gets CK_UNAVAILABLE_INFORMATION", sv[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK("C_GetAttributeValue unknown object", f->C_GetAttributeValue(s, 999999, pt, 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK("C_GetAttributeValue NULL template", f->C_GetAttributeValue(s, pub, NULL, 1), CKR_ARGUMENTS_BAD);
    CK_ATTRIBUTE lbl[] = {{CKA_LABEL, "renamed", 7}};
    CHECK("C_SetAttributeValue label", f->C_SetAttributeValue(s, pub, lbl, 1), CKR_OK);
    char got[16] = {0};
    CK_ATTRIBUTE rl[] = {{CKA_LABEL, got, sizeof got}};
    CHECK("C_GetAttributeValue label", f->C_GetAttributeValue(s, pub, rl, 1), CKR_OK);
    TRUTH("label changed", rl[0].ulValueLen == 7 && memcmp(got, "renamed", 7) == 0);
    CK_ULONG cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE ro[] = {{CKA_CLASS, &cls, sizeof cls}};
    CHECK("C_SetAttributeValue CKA_CLASS", f->C_SetAttributeValue(s, pub, ro, 1), CKR_ATTRIBUTE_READ_ONLY);
    CK_OBJECT_HANDLE copy = 0;
    CHECK("C_CopyObject", f->C_CopyObject(s, pub, lbl, 1, &copy), CKR_OK);
    CHECK("C_CopyObject NULL handle", f->C_CopyObject(s, pub, lbl, 1, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_DestroyObject copy", f->C_DestroyObject(s, copy), CKR_OK);
    CHECK("C_DestroyObject again", f->C_DestroyObject(s, copy), CKR_OBJECT_HANDLE_INVALID);
    CHECK("C_DestroyObject", f->C_DestroyObject(s, pub), CKR_OK);
    CHECK("C_DestroyObject", f->C_DestroyObject(s, priv), CKR_OK);
}

static void wrapping_and_derivation(CK_SESSION_HANDLE s) {
    CK_OBJECT_HANDLE kek = gen_aes(s, 32, 1, 0), key = gen_aes(s, 16, 0, 1), back = 0;
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_BYTE wrapped[64];
    CK_ULONG n = 0;
    CHECK("C_WrapKey length", f->C_WrapKey(s, &kw, kek, key, NULL, &n), CKR_OK);
    TRUTH("RFC 3394 of 16 bytes is 24", n == 24);
    n = 8;
    CHECK("C_WrapKey too small", f->C_WrapKey(s, &kw, kek, key, wrapped, &n), CKR_BUFFER_TOO_SMALL);
    n = sizeof wrapped;
    CHECK("C_WrapKey", f->C_WrapKey(s, &kw, kek, key, wrapped, &n), CKR_OK);
    CHECK("C_WrapKey NULL length", f->C_WrapKey(s, &kw, kek, key, wrapped, NULL), CKR_ARGUMENTS_BAD);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_ENCRYPT, &yes, 1}};
    CHECK("C_UnwrapKey", f->C_UnwrapKey(s, &kw, kek, wrapped, n, ut, 3, &back), CKR_OK);
    CHECK("C_UnwrapKey NULL wrapped", f->C_UnwrapKey(s, &kw, kek, NULL, n, ut, 3, &back), CKR_ARGUMENTS_BAD);
    CK_BYTE a[16], b[16];
    ecb(s, key, a);
    ecb(s, back, b);
    TRUTH("the unwrapped key is the same key", memcmp(a, b, 16) == 0);
    wrapped[0] ^= 1;
    CK_OBJECT_HANDLE none = 0;
    CHECK("C_UnwrapKey tampered", f->C_UnwrapKey(s, &kw, kek, wrapped, n, ut, 3, &none), CKR_WRAPPED_KEY_INVALID);

    /* ECDH: both sides derive the same AES key. */
    CK_OBJECT_HANDLE p1, k1, p2, k2, d1 = 0, d2 = 0;
    gen_ec(s, 1, &p1, &k1);
    gen_ec(s, 1, &p2, &k2);
    CK_BYTE pt1[128], pt2[128];
    CK_ATTRIBUTE g1[] = {{CKA_EC_POINT, pt1, sizeof pt1}}, g2[] = {{CKA_EC_POINT, pt2, sizeof pt2}};
    CHECK("EC point 1", f->C_GetAttributeValue(s, p1, g1, 1), CKR_OK);
    CHECK("EC point 2", f->C_GetAttributeValue(s, p2, g2, 1), CKR_OK);
    CK_ULONG klen = 32;
    CK_ATTRIBUTE dt[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_VALUE_LEN, &klen, sizeof klen},
                         {CKA_ENCRYPT, &yes, 1}};
    CK_ECDH1_DERIVE_PARAMS e1 = {CKD_NULL, 0, NULL, g2[0].ulValueLen, pt2};
    CK_ECDH1_DERIVE_PARAMS e2 = {CKD_NULL, 0, NULL, g1[0].ulValueLen, pt1};
    CK_MECHANISM m1 = {CKM_ECDH1_DERIVE, &e1, sizeof e1}, m2 = {CKM_ECDH1_DERIVE, &e2, sizeof e2};
    CK_MECHANISM short_param = {CKM_ECDH1_DERIVE, &e1, sizeof e1 - 8};
    CK_ECDH1_DERIVE_PARAMS null_pub = {CKD_NULL, 0, NULL, 65, NULL};
    CK_MECHANISM null_point = {CKM_ECDH1_DERIVE, &null_pub, sizeof null_pub};
    CHECK("C_DeriveKey short parameter", f->C_DeriveKey(s, &short_param, k1, dt, 4, &d1), CKR_MECHANISM_PARAM_INVALID);
    CHECK("C_DeriveKey NULL public data", f->C_DeriveKey(s, &null_point, k1, dt, 4, &d1), CKR_MECHANISM_PARAM_INVALID);
    CHECK("C_DeriveKey 1", f->C_DeriveKey(s, &m1, k1, dt, 4, &d1), CKR_OK);
    CHECK("C_DeriveKey 2", f->C_DeriveKey(s, &m2, k2, dt, 4, &d2), CKR_OK);
    ecb(s, d1, a);
    ecb(s, d2, b);
    TRUTH("ECDH: both sides agree", memcmp(a, b, 16) == 0);
}

static void handles(CK_SESSION_HANDLE s) {
    CK_OBJECT_HANDLE found[4];
    CK_ULONG n;
    CK_BYTE r[64];
    CHECK("C_FindObjects without init", f->C_FindObjects(s, found, 4, &n), CKR_OPERATION_NOT_INITIALIZED);
    CHECK("C_FindObjectsInit", f->C_FindObjectsInit(s, NULL, 0), CKR_OK);
    CHECK("C_FindObjectsInit twice", f->C_FindObjectsInit(s, NULL, 0), CKR_OPERATION_ACTIVE);
    CHECK("C_FindObjects NULL count", f->C_FindObjects(s, found, 4, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_FindObjects", f->C_FindObjects(s, found, 4, &n), CKR_OK);
    CHECK("C_FindObjectsFinal", f->C_FindObjectsFinal(s), CKR_OK);
    CHECK("C_FindObjectsFinal again", f->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    CHECK("C_FindObjectsInit NULL template", f->C_FindObjectsInit(s, NULL, 2), CKR_ARGUMENTS_BAD);
    CHECK("C_GenerateRandom", f->C_GenerateRandom(s, r, sizeof r), CKR_OK);
    CHECK("C_GenerateRandom NULL", f->C_GenerateRandom(s, NULL, 8), CKR_ARGUMENTS_BAD);
    CHECK("C_GenerateRandom 0 bytes", f->C_GenerateRandom(s, NULL, 0), CKR_OK);
    CHECK("C_GenerateRandom bad session", f->C_GenerateRandom(0xdead, r, 8), CKR_SESSION_HANDLE_INVALID);
    CHECK("C_CloseSession bad handle", f->C_CloseSession(0), CKR_SESSION_HANDLE_INVALID);
    CK_SESSION_HANDLE h;
    CHECK("C_OpenSession without CKF_SERIAL_SESSION", f->C_OpenSession(1, CKF_RW_SESSION, NULL, NULL, &h),
          CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    CHECK("C_OpenSession slot 2", f->C_OpenSession(2, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_SLOT_ID_INVALID);
    CHECK("C_OpenSession NULL handle", f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
    CHECK("C_OpenSession", f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_OK);
    CHECK("C_CloseSession", f->C_CloseSession(h), CKR_OK);
    CHECK("a closed session", f->C_GenerateRandom(h, r, 8), CKR_SESSION_HANDLE_INVALID);
}

/* A session object is visible in every session of the application, and is
 * destroyed when the session that created it closes (§4.4, §6.7). */
static void session_objects(CK_SESSION_HANDLE rw, CK_SESSION_HANDLE ro) {
    CK_OBJECT_HANDLE k = gen_aes(rw, 16, 0, 0);
    CK_BYTE a[16], b[16];
    ecb(rw, k, a);
    ecb(ro, k, b);
    TRUTH("a session object is usable from another session", memcmp(a, b, 16) == 0);
    CK_SESSION_HANDLE s3;
    CHECK("C_OpenSession", f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s3), CKR_OK);
    CK_OBJECT_HANDLE k3 = gen_aes(s3, 16, 0, 0);
    ecb(rw, k3, a);
    CHECK("C_CloseSession", f->C_CloseSession(s3), CKR_OK);
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    CK_BYTE in[16] = {0};
    CK_ULONG n = 16;
    CHECK("C_EncryptInit", f->C_EncryptInit(rw, &m, k3), CKR_OK);
    CHECK("its session objects went with the session", f->C_Encrypt(rw, in, 16, a, &n), CKR_KEY_HANDLE_INVALID);
    CHECK("the other session's object is still there", f->C_DestroyObject(ro, k), CKR_OK);
}

/* After fork() the child must call C_Initialize again (§6.7.7), and then works. */
static void forked(CK_SESSION_HANDLE s) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        CK_INFO info;
        CK_SESSION_HANDLE h;
        CK_BYTE r[16];
        bad |= f->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED;
        bad |= f->C_GenerateRandom(s, r, 16) != CKR_CRYPTOKI_NOT_INITIALIZED;
        bad |= (f->C_Initialize(NULL) != CKR_OK) << 1;
        bad |= (f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK) << 2;
        bad |= (f->C_GenerateRandom(h, r, 16) != CKR_OK) << 3;
        bad |= (f->C_Finalize(NULL) != CKR_OK) << 4;
        _exit(bad);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) printf("fork child status 0x%x\n", st);
    TRUTH("fork: child re-initialises and works", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CK_BYTE r[16];
    CHECK("fork: the parent still works", f->C_GenerateRandom(s, r, 16), CKR_OK);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s <module.so> <user:password> <lock-test-user> <cert.der>\n", argv[0]);
        return 2;
    }
    void *dl = dlopen(argv[1], RTLD_NOW);
    if (!dl) {
        printf("dlopen: %s\n0 passed, 1 failed\n", dlerror());
        return 1;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
    if (!gfl || gfl(&f) != CKR_OK) {
        printf("C_GetFunctionList failed\n0 passed, 1 failed\n");
        return 1;
    }
    size_t der_len = 0;
    unsigned char *der = read_file(argv[4], &der_len);

    before_initialize();
    CK_C_INITIALIZE_ARGS a = {cb_create, cb_destroy, cb_lock, cb_unlock, 0, NULL};
    CHECK("C_Initialize with mutex callbacks only", f->C_Initialize(&a), CKR_OK);
    CHECK("C_Initialize again", f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    slots_and_mechanisms();
    CK_SESSION_HANDLE ro = 0, rw = 0;
    CHECK("C_OpenSession RO", f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    CHECK("C_OpenSession RW", f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw), CKR_OK);
    unsupported(rw);
    if (der) certificate(ro, der, der_len);
    TRUTH("certificate file read", der != NULL);
    sign_in(ro, rw, argv[2], argv[3]);
    TRUTH("the application's mutex callbacks are used", lock_calls > 0);
    templates(rw);
    encryption(rw, gen_aes(rw, 32, 0, 1));
    digests(ro);
    signatures_and_attributes(rw);
    wrapping_and_derivation(rw);
    handles(rw);
    session_objects(rw, ro);
    forked(rw);
    /* Session objects of every session go with C_CloseAllSessions (the cluster session stays). */
    CK_OBJECT_HANDLE krw = gen_aes(rw, 16, 0, 0), kro = gen_aes(ro, 16, 0, 0);
    CK_BYTE before[16];
    ecb(ro, krw, before);
    CHECK("C_Logout", f->C_Logout(rw), CKR_OK);
    CHECK("C_Logout again", f->C_Logout(rw), CKR_USER_NOT_LOGGED_IN);
    CHECK("C_CloseAllSessions slot 3", f->C_CloseAllSessions(3), CKR_SLOT_ID_INVALID);
    CHECK("C_CloseAllSessions", f->C_CloseAllSessions(1), CKR_OK);
    CHECK("sessions are gone", f->C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID);
    {
        CK_SESSION_HANDLE s2;
        CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
        CK_BYTE in[16] = {0}, out[16];
        CHECK("C_OpenSession after C_CloseAllSessions", f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s2), CKR_OK);
        CHECK("C_Login after C_CloseAllSessions", f->C_Login(s2, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], (CK_ULONG)strlen(argv[2])), CKR_OK);
        CK_OBJECT_HANDLE gone[2] = {krw, kro};
        for (int i = 0; i < 2; i++) {
            CK_ULONG n = 16;
            CHECK("C_EncryptInit", f->C_EncryptInit(s2, &m, gone[i]), CKR_OK);
            CHECK("C_CloseAllSessions destroyed the session objects", f->C_Encrypt(s2, in, 16, out, &n), CKR_KEY_HANDLE_INVALID);
        }
        CHECK("C_Logout", f->C_Logout(s2), CKR_OK);
        CHECK("C_CloseSession", f->C_CloseSession(s2), CKR_OK);
    }
    CHECK("C_Finalize(non-NULL)", f->C_Finalize(&a), CKR_ARGUMENTS_BAD);
    CHECK("C_Finalize", f->C_Finalize(NULL), CKR_OK);
    CHECK("C_Finalize again", f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    /* Initialise again in the same process (OS locking this time). */
    CK_C_INITIALIZE_ARGS os = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    CHECK("C_Initialize CKF_OS_LOCKING_OK", f->C_Initialize(&os), CKR_OK);
    CHECK("C_Finalize", f->C_Finalize(NULL), CKR_OK);
    free(der);
    dlclose(dl);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
