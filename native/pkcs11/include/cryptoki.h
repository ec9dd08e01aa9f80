/*
 * cryptoki.h: the PKCS #11 v2.40 interface of libazcloudhsm_pkcs11.so
 * (OpenCloudHSM), for Linux and other Unix-like systems.
 *
 * Include this file (the Azure integration guide's programs include it as
 * "pkcs11_headers/include/cryptoki.h", then pkcs11t.h). It sets the platform
 * macros that PKCS #11 leaves to the platform (Base Specification v2.40
 * §2.1: CK_PTR, CK_DECLARE_FUNCTION, CK_DECLARE_FUNCTION_POINTER,
 * CK_CALLBACK_FUNCTION, NULL_PTR), then brings in the types (pkcs11t.h), the
 * function prototypes, the CK_C_* function pointer types, and
 * CK_FUNCTION_LIST (pkcs11f.h, expanded three times).
 *
 * Written for OpenCloudHSM from the specification; no packing pragma is
 * needed on Unix (structures use the C ABI of the platform).
 */
#ifndef OCHSM_CRYPTOKI_H
#define OCHSM_CRYPTOKI_H 1

#ifndef CK_PTR
#define CK_PTR *
#endif
#ifndef CK_DECLARE_FUNCTION
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#endif
#ifndef CK_DECLARE_FUNCTION_POINTER
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType (CK_PTR name)
#endif
#ifndef CK_CALLBACK_FUNCTION
#define CK_CALLBACK_FUNCTION(returnType, name) returnType (CK_PTR name)
#endif
#ifndef NULL_PTR
#define NULL_PTR 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

#include "pkcs11t.h"

#define OCHSM_P11_PASTE_(a, b) a##b
#define OCHSM_P11_PASTE(a, b) OCHSM_P11_PASTE_(a, b)

/* 1. The prototypes: CK_RV C_Initialize(CK_VOID_PTR pInitArgs); ... */
#define CK_NEED_ARG_LIST 1
#define CK_PKCS11_FUNCTION_INFO(name) extern CK_DECLARE_FUNCTION(CK_RV, name)
#include "pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO

/* 2. The pointer types: typedef CK_RV (*CK_C_Initialize)(CK_VOID_PTR pInitArgs); ... */
#define CK_PKCS11_FUNCTION_INFO(name) typedef CK_DECLARE_FUNCTION_POINTER(CK_RV, OCHSM_P11_PASTE(CK_, name))
#include "pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO
#undef CK_NEED_ARG_LIST

/* 3. The function list: the version, then one pointer per function, in the order of pkcs11f.h. */
#define CK_PKCS11_FUNCTION_INFO(name) OCHSM_P11_PASTE(CK_, name) name;
struct CK_FUNCTION_LIST {
    CK_VERSION version; /* the Cryptoki version this list follows (2.40) */
#include "pkcs11f.h"
};
#undef CK_PKCS11_FUNCTION_INFO

#ifdef __cplusplus
}
#endif

#endif /* OCHSM_CRYPTOKI_H */
