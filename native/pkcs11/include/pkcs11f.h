/*
 * pkcs11f.h: the 68 functions of PKCS #11 v2.40, in the order of
 * CK_FUNCTION_LIST (Base Specification v2.40 §5).
 *
 * Written for OpenCloudHSM from the specification. Like the header of the
 * same name that the specification describes, this file has no include guard
 * and is meant to be included several times: the includer defines
 * CK_PKCS11_FUNCTION_INFO(name) (and CK_NEED_ARG_LIST when it wants the
 * parameter lists) before each inclusion. cryptoki.h uses it three times: for
 * the prototypes, the CK_C_* pointer types and the members of
 * CK_FUNCTION_LIST.
 */

/* C_Initialize: Initialize a Cryptoki library. */
CK_PKCS11_FUNCTION_INFO(C_Initialize)
#ifdef CK_NEED_ARG_LIST
(CK_VOID_PTR pInitArgs);
#endif

/* C_Finalize: Clean up miscellaneous Cryptoki-associated resources. */
CK_PKCS11_FUNCTION_INFO(C_Finalize)
#ifdef CK_NEED_ARG_LIST
(CK_VOID_PTR pReserved);
#endif

/* C_GetInfo: General information about the library. */
CK_PKCS11_FUNCTION_INFO(C_GetInfo)
#ifdef CK_NEED_ARG_LIST
(CK_INFO_PTR pInfo);
#endif

/* C_GetFunctionList: The library's function list. */
CK_PKCS11_FUNCTION_INFO(C_GetFunctionList)
#ifdef CK_NEED_ARG_LIST
(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);
#endif

/* C_GetSlotList: The slots in the system. */
CK_PKCS11_FUNCTION_INFO(C_GetSlotList)
#ifdef CK_NEED_ARG_LIST
(CK_BBOOL tokenPresent,
 CK_SLOT_ID_PTR pSlotList,
 CK_ULONG_PTR pulCount);
#endif

/* C_GetSlotInfo: Information about one slot. */
CK_PKCS11_FUNCTION_INFO(C_GetSlotInfo)
#ifdef CK_NEED_ARG_LIST
(CK_SLOT_ID slotID,
 CK_SLOT_INFO_PTR pInfo);
#endif

/* C_GetTokenInfo: Information about the token in a slot. */
CK_PKCS11_FUNCTION_INFO(C_GetTokenInfo)
#ifdef CK_NEED_ARG_LIST
(CK_SLOT_ID slotID,
 CK_TOKEN_INFO_PTR pInfo);
#endif

/* C_GetMechanismList: The mechanism types a token supports. */
CK_PKCS11_FUNCTION_INFO(C_GetMechanismList)
#ifdef CK_NEED_ARG_LIST
(CK_SLOT_ID slotID,
 CK_MECHANISM_TYPE_PTR pMechanismList,
 CK_ULONG_PTR pulCount);
#endif

/* C_GetMechanismInfo: Information about one mechanism. */
CK_PKCS11_FUNCTION_INFO(C_GetMechanismInfo)
#ifdef CK_NEED_ARG_LIST
(CK_SLOT_ID slotID,
 CK_MECHANISM_TYPE type,
 CK_MECHANISM_INFO_PTR pInfo);
#endif

/* C_InitToken: Initialize a token. */
CK_PKCS11_FUNCTION_INFO(C_InitToken)
#ifdef CK_NEED_ARG_LIST
(CK_SLOT_ID slotID,
 CK_UTF8CHAR_PTR pPin,
 CK_ULONG ulPinLen,
 CK_UTF8CHAR_PTR pLabel);
#endif

/* C_InitPIN: Initialize the normal user's PIN. */
CK_PKCS11_FUNCTION_INFO(C_InitPIN)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_UTF8CHAR_PTR pPin,
 CK_ULONG ulPinLen);
#endif

/* C_SetPIN: Change the PIN of the user that is logged in. */
CK_PKCS11_FUNCTION_INFO(C_SetPIN)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_UTF8CHAR_PTR pOldPin,
 CK_ULONG ulOldLen,
 CK_UTF8CHAR_PTR pNewPin,
 CK_ULONG ulNewLen);
#endif

/* C_OpenSession: Open a session between an application and a token. */
CK_PKCS11_FUNCTION_INFO(C_OpenSession)
#ifdef CK_NEED_ARG_LIST
(CK_SLOT_ID slotID,
 CK_FLAGS flags,
 CK_VOID_PTR pApplication,
 CK_NOTIFY Notify,
 CK_SESSION_HANDLE_PTR phSession);
#endif

/* C_CloseSession: Close a session. */
CK_PKCS11_FUNCTION_INFO(C_CloseSession)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession);
#endif

/* C_CloseAllSessions: Close every session of the application with a token. */
CK_PKCS11_FUNCTION_INFO(C_CloseAllSessions)
#ifdef CK_NEED_ARG_LIST
(CK_SLOT_ID slotID);
#endif

/* C_GetSessionInfo: Information about a session. */
CK_PKCS11_FUNCTION_INFO(C_GetSessionInfo)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_SESSION_INFO_PTR pInfo);
#endif

/* C_GetOperationState: Save the cryptographic operation state of a session. */
CK_PKCS11_FUNCTION_INFO(C_GetOperationState)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pOperationState,
 CK_ULONG_PTR pulOperationStateLen);
#endif

/* C_SetOperationState: Restore the cryptographic operation state of a session. */
CK_PKCS11_FUNCTION_INFO(C_SetOperationState)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pOperationState,
 CK_ULONG ulOperationStateLen,
 CK_OBJECT_HANDLE hEncryptionKey,
 CK_OBJECT_HANDLE hAuthenticationKey);
#endif

/* C_Login: Log a user into a token. */
CK_PKCS11_FUNCTION_INFO(C_Login)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_USER_TYPE userType,
 CK_UTF8CHAR_PTR pPin,
 CK_ULONG ulPinLen);
#endif

/* C_Logout: Log a user out of a token. */
CK_PKCS11_FUNCTION_INFO(C_Logout)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession);
#endif

/* C_CreateObject: Create a new object. */
CK_PKCS11_FUNCTION_INFO(C_CreateObject)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_ATTRIBUTE_PTR pTemplate,
 CK_ULONG ulCount,
 CK_OBJECT_HANDLE_PTR phObject);
#endif

/* C_CopyObject: Copy an object, creating a new one. */
CK_PKCS11_FUNCTION_INFO(C_CopyObject)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_OBJECT_HANDLE hObject,
 CK_ATTRIBUTE_PTR pTemplate,
 CK_ULONG ulCount,
 CK_OBJECT_HANDLE_PTR phNewObject);
#endif

/* C_DestroyObject: Destroy an object. */
CK_PKCS11_FUNCTION_INFO(C_DestroyObject)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_OBJECT_HANDLE hObject);
#endif

/* C_GetObjectSize: The size of an object in bytes. */
CK_PKCS11_FUNCTION_INFO(C_GetObjectSize)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_OBJECT_HANDLE hObject,
 CK_ULONG_PTR pulSize);
#endif

/* C_GetAttributeValue: Read attribute values of an object. */
CK_PKCS11_FUNCTION_INFO(C_GetAttributeValue)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_OBJECT_HANDLE hObject,
 CK_ATTRIBUTE_PTR pTemplate,
 CK_ULONG ulCount);
#endif

/* C_SetAttributeValue: Modify attribute values of an object. */
CK_PKCS11_FUNCTION_INFO(C_SetAttributeValue)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_OBJECT_HANDLE hObject,
 CK_ATTRIBUTE_PTR pTemplate,
 CK_ULONG ulCount);
#endif

/* C_FindObjectsInit: Start a search for objects matching a template. */
CK_PKCS11_FUNCTION_INFO(C_FindObjectsInit)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_ATTRIBUTE_PTR pTemplate,
 CK_ULONG ulCount);
#endif

/* C_FindObjects: Continue a search for objects. */
CK_PKCS11_FUNCTION_INFO(C_FindObjects)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_OBJECT_HANDLE_PTR phObject,
 CK_ULONG ulMaxObjectCount,
 CK_ULONG_PTR pulObjectCount);
#endif

/* C_FindObjectsFinal: Finish a search for objects. */
CK_PKCS11_FUNCTION_INFO(C_FindObjectsFinal)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession);
#endif

/* C_EncryptInit: Start an encryption operation. */
CK_PKCS11_FUNCTION_INFO(C_EncryptInit)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hKey);
#endif

/* C_Encrypt: Encrypt single-part data. */
CK_PKCS11_FUNCTION_INFO(C_Encrypt)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pData,
 CK_ULONG ulDataLen,
 CK_BYTE_PTR pEncryptedData,
 CK_ULONG_PTR pulEncryptedDataLen);
#endif

/* C_EncryptUpdate: Continue a multiple-part encryption. */
CK_PKCS11_FUNCTION_INFO(C_EncryptUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pPart,
 CK_ULONG ulPartLen,
 CK_BYTE_PTR pEncryptedPart,
 CK_ULONG_PTR pulEncryptedPartLen);
#endif

/* C_EncryptFinal: Finish a multiple-part encryption. */
CK_PKCS11_FUNCTION_INFO(C_EncryptFinal)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pLastEncryptedPart,
 CK_ULONG_PTR pulLastEncryptedPartLen);
#endif

/* C_DecryptInit: Start a decryption operation. */
CK_PKCS11_FUNCTION_INFO(C_DecryptInit)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hKey);
#endif

/* C_Decrypt: Decrypt single-part data. */
CK_PKCS11_FUNCTION_INFO(C_Decrypt)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pEncryptedData,
 CK_ULONG ulEncryptedDataLen,
 CK_BYTE_PTR pData,
 CK_ULONG_PTR pulDataLen);
#endif

/* C_DecryptUpdate: Continue a multiple-part decryption. */
CK_PKCS11_FUNCTION_INFO(C_DecryptUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pEncryptedPart,
 CK_ULONG ulEncryptedPartLen,
 CK_BYTE_PTR pPart,
 CK_ULONG_PTR pulPartLen);
#endif

/* C_DecryptFinal: Finish a multiple-part decryption. */
CK_PKCS11_FUNCTION_INFO(C_DecryptFinal)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pLastPart,
 CK_ULONG_PTR pulLastPartLen);
#endif

/* C_DigestInit: Start a message-digesting operation. */
CK_PKCS11_FUNCTION_INFO(C_DigestInit)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism);
#endif

/* C_Digest: Digest single-part data. */
CK_PKCS11_FUNCTION_INFO(C_Digest)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pData,
 CK_ULONG ulDataLen,
 CK_BYTE_PTR pDigest,
 CK_ULONG_PTR pulDigestLen);
#endif

/* C_DigestUpdate: Continue a multiple-part digest. */
CK_PKCS11_FUNCTION_INFO(C_DigestUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pPart,
 CK_ULONG ulPartLen);
#endif

/* C_DigestKey: Digest the value of a secret key. */
CK_PKCS11_FUNCTION_INFO(C_DigestKey)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_OBJECT_HANDLE hKey);
#endif

/* C_DigestFinal: Finish a multiple-part digest. */
CK_PKCS11_FUNCTION_INFO(C_DigestFinal)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pDigest,
 CK_ULONG_PTR pulDigestLen);
#endif

/* C_SignInit: Start a signature (or MAC) operation. */
CK_PKCS11_FUNCTION_INFO(C_SignInit)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hKey);
#endif

/* C_Sign: Sign single-part data. */
CK_PKCS11_FUNCTION_INFO(C_Sign)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pData,
 CK_ULONG ulDataLen,
 CK_BYTE_PTR pSignature,
 CK_ULONG_PTR pulSignatureLen);
#endif

/* C_SignUpdate: Continue a multiple-part signature. */
CK_PKCS11_FUNCTION_INFO(C_SignUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pPart,
 CK_ULONG ulPartLen);
#endif

/* C_SignFinal: Finish a multiple-part signature. */
CK_PKCS11_FUNCTION_INFO(C_SignFinal)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pSignature,
 CK_ULONG_PTR pulSignatureLen);
#endif

/* C_SignRecoverInit: Start a signature with data recovery. */
CK_PKCS11_FUNCTION_INFO(C_SignRecoverInit)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hKey);
#endif

/* C_SignRecover: Sign with data recovery. */
CK_PKCS11_FUNCTION_INFO(C_SignRecover)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pData,
 CK_ULONG ulDataLen,
 CK_BYTE_PTR pSignature,
 CK_ULONG_PTR pulSignatureLen);
#endif

/* C_VerifyInit: Start a verification operation. */
CK_PKCS11_FUNCTION_INFO(C_VerifyInit)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hKey);
#endif

/* C_Verify: Verify a single-part signature. */
CK_PKCS11_FUNCTION_INFO(C_Verify)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pData,
 CK_ULONG ulDataLen,
 CK_BYTE_PTR pSignature,
 CK_ULONG ulSignatureLen);
#endif

/* C_VerifyUpdate: Continue a multiple-part verification. */
CK_PKCS11_FUNCTION_INFO(C_VerifyUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pPart,
 CK_ULONG ulPartLen);
#endif

/* C_VerifyFinal: Finish a multiple-part verification. */
CK_PKCS11_FUNCTION_INFO(C_VerifyFinal)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pSignature,
 CK_ULONG ulSignatureLen);
#endif

/* C_VerifyRecoverInit: Start a verification with data recovery. */
CK_PKCS11_FUNCTION_INFO(C_VerifyRecoverInit)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hKey);
#endif

/* C_VerifyRecover: Verify a signature and recover the data. */
CK_PKCS11_FUNCTION_INFO(C_VerifyRecover)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pSignature,
 CK_ULONG ulSignatureLen,
 CK_BYTE_PTR pData,
 CK_ULONG_PTR pulDataLen);
#endif

/* C_DigestEncryptUpdate: Continue a digest and an encryption together. */
CK_PKCS11_FUNCTION_INFO(C_DigestEncryptUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pPart,
 CK_ULONG ulPartLen,
 CK_BYTE_PTR pEncryptedPart,
 CK_ULONG_PTR pulEncryptedPartLen);
#endif

/* C_DecryptDigestUpdate: Continue a decryption and a digest together. */
CK_PKCS11_FUNCTION_INFO(C_DecryptDigestUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pEncryptedPart,
 CK_ULONG ulEncryptedPartLen,
 CK_BYTE_PTR pPart,
 CK_ULONG_PTR pulPartLen);
#endif

/* C_SignEncryptUpdate: Continue a signature and an encryption together. */
CK_PKCS11_FUNCTION_INFO(C_SignEncryptUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pPart,
 CK_ULONG ulPartLen,
 CK_BYTE_PTR pEncryptedPart,
 CK_ULONG_PTR pulEncryptedPartLen);
#endif

/* C_DecryptVerifyUpdate: Continue a decryption and a verification together. */
CK_PKCS11_FUNCTION_INFO(C_DecryptVerifyUpdate)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pEncryptedPart,
 CK_ULONG ulEncryptedPartLen,
 CK_BYTE_PTR pPart,
 CK_ULONG_PTR pulPartLen);
#endif

/* C_GenerateKey: Generate a secret key. */
CK_PKCS11_FUNCTION_INFO(C_GenerateKey)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_ATTRIBUTE_PTR pTemplate,
 CK_ULONG ulCount,
 CK_OBJECT_HANDLE_PTR phKey);
#endif

/* C_GenerateKeyPair: Generate a public/private key pair. */
CK_PKCS11_FUNCTION_INFO(C_GenerateKeyPair)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_ATTRIBUTE_PTR pPublicKeyTemplate,
 CK_ULONG ulPublicKeyAttributeCount,
 CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
 CK_ULONG ulPrivateKeyAttributeCount,
 CK_OBJECT_HANDLE_PTR phPublicKey,
 CK_OBJECT_HANDLE_PTR phPrivateKey);
#endif

/* C_WrapKey: Wrap (encrypt) a key. */
CK_PKCS11_FUNCTION_INFO(C_WrapKey)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hWrappingKey,
 CK_OBJECT_HANDLE hKey,
 CK_BYTE_PTR pWrappedKey,
 CK_ULONG_PTR pulWrappedKeyLen);
#endif

/* C_UnwrapKey: Unwrap (decrypt) a wrapped key, creating a new key object. */
CK_PKCS11_FUNCTION_INFO(C_UnwrapKey)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hUnwrappingKey,
 CK_BYTE_PTR pWrappedKey,
 CK_ULONG ulWrappedKeyLen,
 CK_ATTRIBUTE_PTR pTemplate,
 CK_ULONG ulAttributeCount,
 CK_OBJECT_HANDLE_PTR phKey);
#endif

/* C_DeriveKey: Derive a key from a base key, creating a new key object. */
CK_PKCS11_FUNCTION_INFO(C_DeriveKey)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_MECHANISM_PTR pMechanism,
 CK_OBJECT_HANDLE hBaseKey,
 CK_ATTRIBUTE_PTR pTemplate,
 CK_ULONG ulAttributeCount,
 CK_OBJECT_HANDLE_PTR phKey);
#endif

/* C_SeedRandom: Mix seed material into the token's random number generator. */
CK_PKCS11_FUNCTION_INFO(C_SeedRandom)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR pSeed,
 CK_ULONG ulSeedLen);
#endif

/* C_GenerateRandom: Generate random data. */
CK_PKCS11_FUNCTION_INFO(C_GenerateRandom)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession,
 CK_BYTE_PTR RandomData,
 CK_ULONG ulRandomLen);
#endif

/* C_GetFunctionStatus: Legacy: status of a function running in parallel. */
CK_PKCS11_FUNCTION_INFO(C_GetFunctionStatus)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession);
#endif

/* C_CancelFunction: Legacy: cancel a function running in parallel. */
CK_PKCS11_FUNCTION_INFO(C_CancelFunction)
#ifdef CK_NEED_ARG_LIST
(CK_SESSION_HANDLE hSession);
#endif

/* C_WaitForSlotEvent: Wait for a slot event (token insertion, removal...). */
CK_PKCS11_FUNCTION_INFO(C_WaitForSlotEvent)
#ifdef CK_NEED_ARG_LIST
(CK_FLAGS flags,
 CK_SLOT_ID_PTR pSlot,
 CK_VOID_PTR pReserved);
#endif
