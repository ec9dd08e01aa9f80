/*
 * sample_app.c: the call sequence of the Azure Cloud HSM PKCS#11 integration
 * guide's sample program (azure-pkcs11-digest.md §7), with the "user code"
 * placeholder filled by key generation, signing and verification.
 *
 * Built exactly as the guide builds it, against the project's headers at the
 * guide's relative path:
 *     gcc -I <dist> -o sample_app sample_app.c -ldl
 *     ./sample_app -s cu1 -p user1234 -l <dist>/lib64/libazcloudhsm_pkcs11.so
 *
 * Command line as the guide's: getopt "s:p:l:", exactly 7 arguments. Each
 * step prints "ok" or "FAIL ... rv=0x..", and the last line is
 * "N passed, N failed". The exit status is 0 when nothing failed (the guide's
 * program always exits 0; the test harness wants to know).
 */
#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11_headers/include/cryptoki.h"
#include "pkcs11_headers/include/pkcs11t.h"

#define CAVIUM_SLOT 1

static CK_FUNCTION_LIST_PTR func_list;
static unsigned long Private, Public; /* the guide's global key handles (0 = none) */
static int passed, failed;

static int check(const char *what, CK_RV rv, CK_RV want) {
    if (rv == want) {
        passed++;
        printf("ok   %s\n", what);
        return 1;
    }
    failed++;
    printf("FAIL %s: rv=0x%lx (wanted 0x%lx)\n", what, (unsigned long)rv, (unsigned long)want);
    return 0;
}

/* The "user code" of the sample: an EC P-256 key pair and an RSA-2048 key
 * pair, each signs and verifies; a tampered signature is refused. */
static void user_code(CK_SESSION_HANDLE h) {
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE pub[] = {
        {CKA_EC_PARAMS, p256, sizeof p256},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_TOKEN, &no, sizeof no},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_TOKEN, &no, sizeof no},
    };
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
    if (!check("C_GenerateKeyPair EC P-256",
               func_list->C_GenerateKeyPair(h, &gen, pub, 3, priv, 2, &hpub, &hpriv), CKR_OK))
        return;
    Public = hpub;
    Private = hpriv;

    CK_BYTE data[] = "The quick brown fox jumps over the lazy dog";
    CK_MECHANISM ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
    CK_BYTE sig[512];
    CK_ULONG sig_len = 0;
    check("C_SignInit ECDSA-SHA256", func_list->C_SignInit(h, &ecdsa, hpriv), CKR_OK);
    check("C_Sign length query", func_list->C_Sign(h, data, sizeof data - 1, NULL, &sig_len), CKR_OK);
    check("signature length 64", sig_len == 64 ? CKR_OK : CKR_GENERAL_ERROR, CKR_OK);
    check("C_Sign", func_list->C_Sign(h, data, sizeof data - 1, sig, &sig_len), CKR_OK);
    check("C_VerifyInit", func_list->C_VerifyInit(h, &ecdsa, hpub), CKR_OK);
    check("C_Verify", func_list->C_Verify(h, data, sizeof data - 1, sig, sig_len), CKR_OK);
    sig[5] ^= 1;
    check("C_VerifyInit", func_list->C_VerifyInit(h, &ecdsa, hpub), CKR_OK);
    check("C_Verify tampered signature", func_list->C_Verify(h, data, sizeof data - 1, sig, sig_len),
          CKR_SIGNATURE_INVALID);

    /* RSA-2048 with multi-part signing. */
    CK_ULONG bits = 2048;
    CK_BYTE e[] = {0x01, 0x00, 0x01};
    CK_ATTRIBUTE rpub[] = {
        {CKA_MODULUS_BITS, &bits, sizeof bits},
        {CKA_PUBLIC_EXPONENT, e, sizeof e},
        {CKA_VERIFY, &yes, sizeof yes},
    };
    CK_ATTRIBUTE rpriv[] = {{CKA_SIGN, &yes, sizeof yes}};
    CK_MECHANISM rgen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE rp = 0, rk = 0;
    if (!check("C_GenerateKeyPair RSA-2048", func_list->C_GenerateKeyPair(h, &rgen, rpub, 3, rpriv, 1, &rp, &rk), CKR_OK))
        return;
    CK_MECHANISM rs = {CKM_SHA256_RSA_PKCS, NULL, 0};
    CK_BYTE rsig[512];
    CK_ULONG rlen = sizeof rsig;
    check("C_SignInit SHA256-RSA-PKCS", func_list->C_SignInit(h, &rs, rk), CKR_OK);
    check("C_SignUpdate", func_list->C_SignUpdate(h, data, 10), CKR_OK);
    check("C_SignUpdate", func_list->C_SignUpdate(h, data + 10, sizeof data - 11), CKR_OK);
    check("C_SignFinal", func_list->C_SignFinal(h, rsig, &rlen), CKR_OK);
    check("RSA signature length 256", rlen == 256 ? CKR_OK : CKR_GENERAL_ERROR, CKR_OK);
    check("C_VerifyInit", func_list->C_VerifyInit(h, &rs, rp), CKR_OK);
    check("C_Verify (single-part of the multi-part signature)", func_list->C_Verify(h, data, sizeof data - 1, rsig, rlen),
          CKR_OK);
    check("C_DestroyObject RSA public", func_list->C_DestroyObject(h, rp), CKR_OK);
    check("C_DestroyObject RSA private", func_list->C_DestroyObject(h, rk), CKR_OK);
}

static int main_func(const char *user, const char *password, const char *lib) {
    void *dl = dlopen(lib, RTLD_NOW);
    if (!dl) {
        printf("FAIL dlopen %s: %s\n", lib, dlerror());
        failed++;
        return -1;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
    if (!get) {
        printf("FAIL dlsym C_GetFunctionList\n");
        failed++;
        return -1;
    }
    CK_RV rv = get(&func_list);
    if (!check("C_GetFunctionList", rv, CKR_OK) || func_list == NULL) return -1;
    CK_FUNCTION_LIST_PTR second = NULL;
    check("C_GetFunctionList through the list", func_list->C_GetFunctionList(&second), CKR_OK);
    if (second == NULL || memcmp(func_list, second, sizeof(CK_FUNCTION_LIST)) != 0) {
        printf("Warning: the two function lists differ\n");
        failed++;
    } else {
        passed++;
        printf("ok   the two function lists are identical\n");
    }

    int initialized = 0, session_opened = 0;
    CK_SESSION_HANDLE session_rw = 0;
    rv = func_list->C_Initialize(NULL);
    printf("C_Initialize: 0x%08lx\n", (unsigned long)rv);
    if (check("C_Initialize(NULL)", rv, CKR_OK)) initialized = 1;

    if (initialized) {
        CK_INFO info;
        if (check("C_GetInfo", func_list->C_GetInfo(&info), CKR_OK))
            printf("     cryptoki %d.%d, manufacturer %.32s\n", info.cryptokiVersion.major, info.cryptokiVersion.minor,
                   (const char *)info.manufacturerID);
        CK_TOKEN_INFO token_info;
        if (check("C_GetTokenInfo(slot 1) (retrieve access token)", func_list->C_GetTokenInfo(CAVIUM_SLOT, &token_info),
                  CKR_OK))
            printf("     token %.32s, serial %.16s\n", (const char *)token_info.label,
                   (const char *)token_info.serialNumber);
        rv = func_list->C_OpenSession(CAVIUM_SLOT, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session_rw);
        if (check("C_OpenSession(1, RW)", rv, CKR_OK)) session_opened = 1;
    }
    if (session_opened) {
        char pPin[256];
        snprintf(pPin, sizeof pPin, "%s:%s", user, password);
        CK_ULONG n_pin = strlen(pPin);
        rv = func_list->C_Login(session_rw, CKU_USER, (CK_UTF8CHAR_PTR)pPin, n_pin);
        printf("C_Login: 0x%08lx\n", (unsigned long)rv);
        if (check("C_Login", rv, CKR_OK)) user_code(session_rw);
        /* Cleanup as the guide does it (USE_FIND_KEY): destroy the global handles. */
        if (Private) check("C_DestroyObject Private", func_list->C_DestroyObject(session_rw, Private), CKR_OK);
        if (Public) check("C_DestroyObject Public", func_list->C_DestroyObject(session_rw, Public), CKR_OK);
        rv = func_list->C_Logout(session_rw);
        printf("C_Logout: 0x%08lx\n", (unsigned long)rv);
        check("C_Logout", rv, rv == CKR_USER_NOT_LOGGED_IN ? CKR_USER_NOT_LOGGED_IN : CKR_OK);
        check("C_CloseSession", func_list->C_CloseSession(session_rw), CKR_OK);
    }
    /* Always, even when C_Initialize failed (the guide's sample does). */
    rv = func_list->C_Finalize(NULL);
    printf("C_Finalize: 0x%08lx\n", (unsigned long)rv);
    check("C_Finalize", rv, initialized ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED);
    dlclose(dl);
    return 0;
}

int main(int argc, char **argv) {
    const char *user = NULL, *password = NULL, *lib = NULL;
    int c;
    if (argc < 7) {
        printf("Missing arguments\nUsage: %s -s <username> -p <password> -l <pkcs-lib>\n", argv[0]);
        return 0;
    }
    if (argc > 7) {
        printf("Too many arguments\nUsage: %s -s <username> -p <password> -l <pkcs-lib>\n", argv[0]);
        return 0;
    }
    while ((c = getopt(argc, argv, "s:p:l:")) != -1) {
        switch (c) {
        case 's': user = optarg; break;
        case 'p': password = optarg; break;
        case 'l': lib = optarg; break;
        default:
            printf("Wrong arguments\nUsage: %s -s <username> -p <password> -l <pkcs-lib>\n", argv[0]);
            return 0;
        }
    }
    if (!user || !password || !lib) {
        printf("Wrong arguments\nUsage: %s -s <username> -p <password> -l <pkcs-lib>\n", argv[0]);
        return 0;
    }
    if (main_func(user, password, lib) != 0) printf("Error while running the tests\n");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
