/*
 * holder.c: a process that holds a session object until it is killed, for
 * the test that a dead application's session objects leave the HSM
 * (pkcs11.test.ts). C_Initialize, C_OpenSession, C_Login, one AES key with
 * CKA_TOKEN FALSE; prints "handle <n>" and waits for its signal.
 *
 *   holder <module.so> <user:password>
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cryptoki.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <module.so> <user:password>\n", argv[0]);
        return 2;
    }
    void *dl = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    CK_FUNCTION_LIST_PTR f = NULL;
    if (!gfl || gfl(&f) != CKR_OK) {
        printf("no module: %s\n", dl ? "C_GetFunctionList" : dlerror());
        return 1;
    }
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ULONG len = 16;
    CK_ATTRIBUTE t[] = {{CKA_TOKEN, &no, 1}, {CKA_VALUE_LEN, &len, sizeof len}, {CKA_ENCRYPT, &yes, 1}};
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h = 0;
    CK_RV rv = f->C_Initialize(NULL);
    if (rv == CKR_OK) rv = f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv == CKR_OK) rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], (CK_ULONG)strlen(argv[2]));
    if (rv == CKR_OK) rv = f->C_GenerateKey(s, &m, t, 3, &h);
    if (rv != CKR_OK) {
        printf("failed: rv=0x%lx\n", (unsigned long)rv);
        return 1;
    }
    printf("handle %lu\n", (unsigned long)h);
    fflush(stdout);
    for (;;) pause();
}
