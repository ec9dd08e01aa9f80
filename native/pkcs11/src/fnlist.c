/*
 * fnlist.c: the module's one CK_FUNCTION_LIST (PKCS #11 v2.40 §5.4
 * C_GetFunctionList) and the two legacy parallel-function calls.
 *
 * Every v2.40 function is present. The table is static and never changes, so
 * C_GetFunctionList returns the same pointer every time (the Azure sample
 * compares two calls with memcmp). The comment on each row names the file, by
 * specification chapter, that implements it; the functions the HSM does not
 * offer return CKR_FUNCTION_NOT_SUPPORTED there.
 *
 * C_GetFunctionStatus and C_CancelFunction return CKR_FUNCTION_NOT_PARALLEL,
 * as §5.16 prescribes for libraries without parallel functions.
 */
#include <stddef.h>

#include "p11.h"

P11_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession) {
    (void)hSession;
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_PARALLEL;
}

P11_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession) {
    (void)hSession;
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_PARALLEL;
}

static CK_FUNCTION_LIST g_function_list = {
    .version = {CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR},
    .C_Initialize = C_Initialize,                      /* general.c */
    .C_Finalize = C_Finalize,                          /* general.c */
    .C_GetInfo = C_GetInfo,                            /* general.c */
    .C_GetFunctionList = C_GetFunctionList,            /* fnlist.c */
    .C_GetSlotList = C_GetSlotList,                    /* slot.c */
    .C_GetSlotInfo = C_GetSlotInfo,                    /* slot.c */
    .C_GetTokenInfo = C_GetTokenInfo,                  /* slot.c */
    .C_GetMechanismList = C_GetMechanismList,          /* slot.c */
    .C_GetMechanismInfo = C_GetMechanismInfo,          /* slot.c */
    .C_InitToken = C_InitToken,                        /* slot.c */
    .C_InitPIN = C_InitPIN,                            /* slot.c */
    .C_SetPIN = C_SetPIN,                              /* slot.c */
    .C_OpenSession = C_OpenSession,                    /* session.c */
    .C_CloseSession = C_CloseSession,                  /* session.c */
    .C_CloseAllSessions = C_CloseAllSessions,          /* session.c */
    .C_GetSessionInfo = C_GetSessionInfo,              /* session.c */
    .C_GetOperationState = C_GetOperationState,        /* session.c */
    .C_SetOperationState = C_SetOperationState,        /* session.c */
    .C_Login = C_Login,                                /* session.c */
    .C_Logout = C_Logout,                              /* session.c */
    .C_CreateObject = C_CreateObject,                  /* object.c */
    .C_CopyObject = C_CopyObject,                      /* object.c */
    .C_DestroyObject = C_DestroyObject,                /* object.c */
    .C_GetObjectSize = C_GetObjectSize,                /* object.c */
    .C_GetAttributeValue = C_GetAttributeValue,        /* object.c */
    .C_SetAttributeValue = C_SetAttributeValue,        /* object.c */
    .C_FindObjectsInit = C_FindObjectsInit,            /* object.c */
    .C_FindObjects = C_FindObjects,                    /* object.c */
    .C_FindObjectsFinal = C_FindObjectsFinal,          /* object.c */
    .C_EncryptInit = C_EncryptInit,                    /* crypt.c */
    .C_Encrypt = C_Encrypt,                            /* crypt.c */
    .C_EncryptUpdate = C_EncryptUpdate,                /* crypt.c */
    .C_EncryptFinal = C_EncryptFinal,                  /* crypt.c */
    .C_DecryptInit = C_DecryptInit,                    /* crypt.c */
    .C_Decrypt = C_Decrypt,                            /* crypt.c */
    .C_DecryptUpdate = C_DecryptUpdate,                /* crypt.c */
    .C_DecryptFinal = C_DecryptFinal,                  /* crypt.c */
    .C_DigestInit = C_DigestInit,                      /* digest.c */
    .C_Digest = C_Digest,                              /* digest.c */
    .C_DigestUpdate = C_DigestUpdate,                  /* digest.c */
    .C_DigestKey = C_DigestKey,                        /* digest.c */
    .C_DigestFinal = C_DigestFinal,                    /* digest.c */
    .C_SignInit = C_SignInit,                          /* sign.c */
    .C_Sign = C_Sign,                                  /* sign.c */
    .C_SignUpdate = C_SignUpdate,                      /* sign.c */
    .C_SignFinal = C_SignFinal,                        /* sign.c */
    .C_SignRecoverInit = C_SignRecoverInit,            /* sign.c */
    .C_SignRecover = C_SignRecover,                    /* sign.c */
    .C_VerifyInit = C_VerifyInit,                      /* sign.c */
    .C_Verify = C_Verify,                              /* sign.c */
    .C_VerifyUpdate = C_VerifyUpdate,                  /* sign.c */
    .C_VerifyFinal = C_VerifyFinal,                    /* sign.c */
    .C_VerifyRecoverInit = C_VerifyRecoverInit,        /* sign.c */
    .C_VerifyRecover = C_VerifyRecover,                /* sign.c */
    .C_DigestEncryptUpdate = C_DigestEncryptUpdate,    /* crypt.c */
    .C_DecryptDigestUpdate = C_DecryptDigestUpdate,    /* crypt.c */
    .C_SignEncryptUpdate = C_SignEncryptUpdate,        /* crypt.c */
    .C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,    /* crypt.c */
    .C_GenerateKey = C_GenerateKey,                    /* keymgmt.c */
    .C_GenerateKeyPair = C_GenerateKeyPair,            /* keymgmt.c */
    .C_WrapKey = C_WrapKey,                            /* keymgmt.c */
    .C_UnwrapKey = C_UnwrapKey,                        /* keymgmt.c */
    .C_DeriveKey = C_DeriveKey,                        /* keymgmt.c */
    .C_SeedRandom = C_SeedRandom,                      /* random.c */
    .C_GenerateRandom = C_GenerateRandom,              /* random.c */
    .C_GetFunctionStatus = C_GetFunctionStatus,        /* fnlist.c */
    .C_CancelFunction = C_CancelFunction,              /* fnlist.c */
    .C_WaitForSlotEvent = C_WaitForSlotEvent,          /* slot.c */
};

_Static_assert(sizeof(CK_FUNCTION_LIST) == offsetof(CK_FUNCTION_LIST, C_Initialize) + 68 * sizeof(CK_C_Initialize),
               "CK_FUNCTION_LIST holds the 68 functions of v2.40");

P11_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
    if (ppFunctionList == NULL) return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &g_function_list;
    return CKR_OK;
}
