/*
 * osh_ck.h: the few PKCS#11 identifiers the OpenSSL engine and provider put on
 * the wire, with their PKCS#11 v2.40 names and values. Every one is checked
 * against packages/protocol/src/pkcs11.ts by native/openssl-common/test/ck_header.test.ts,
 * so this header cannot drift from the protocol.
 * A header of its own so that neither builds with native/pkcs11's headers.
 */
#ifndef OSH_CK_H
#define OSH_CK_H

/* Object classes and key types (PKCS#11 v2.40 §4.1, §4.6). */
#define CKO_PRIVATE_KEY 0x3ULL
#define CKK_RSA 0x0ULL
#define CKO_SECRET_KEY 0x4ULL
#define CKK_EC 0x3ULL
#define CKK_GENERIC_SECRET 0x10ULL
#define CKK_AES 0x1FULL

/* Attributes (PKCS#11 v2.40 §4). */
#define CKA_CLASS 0x0UL
#define CKA_TOKEN 0x1UL
#define CKA_VALUE 0x11UL
#define CKA_KEY_TYPE 0x100UL
#define CKA_SENSITIVE 0x103UL
#define CKA_WRAP 0x106UL
#define CKA_DERIVE 0x10CUL
#define CKA_VALUE_LEN 0x161UL
#define CKA_EXTRACTABLE 0x162UL
#define CKA_EC_PARAMS 0x180UL
#define CKA_LABEL 0x3UL
#define CKA_DECRYPT 0x105UL
#define CKA_SIGN 0x108UL
#define CKA_ENCRYPT 0x104UL
#define CKA_VERIFY 0x10AUL
#define CKA_MODULUS 0x120UL
#define CKA_MODULUS_BITS 0x121UL
#define CKA_PUBLIC_EXPONENT 0x122UL
#define CKA_PUBLIC_KEY_INFO 0x129UL

/* Mechanisms (PKCS#11 v2.40 Current Mechanisms §2.1, §2.3, §2.25). */
#define CKM_RSA_PKCS_KEY_PAIR_GEN 0x0ULL
#define CKM_RSA_PKCS 0x1ULL
#define CKM_RSA_PKCS_OAEP 0x9ULL
#define CKM_RSA_PKCS_PSS 0xDULL
#define CKM_EC_KEY_PAIR_GEN 0x1040ULL
#define CKM_ECDSA 0x1041ULL
#define CKM_ECDH1_DERIVE 0x1050ULL
#define CKM_EC_EDWARDS_KEY_PAIR_GEN 0x1055ULL
#define CKM_EDDSA 0x1057ULL
#define CKD_NULL 0x1ULL
#define CKM_AES_KEY_WRAP_PAD 0x210AULL
#define CKM_SHA_1 0x220ULL
#define CKM_SHA224 0x255ULL
#define CKM_SHA256 0x250ULL
#define CKM_SHA384 0x260ULL
#define CKM_SHA512 0x270ULL

/* Mask generation functions (PKCS#11 v2.40 Current Mechanisms §2.1.7). */
#define CKG_MGF1_SHA1 0x1ULL
#define CKG_MGF1_SHA256 0x2ULL
#define CKG_MGF1_SHA384 0x3ULL
#define CKG_MGF1_SHA512 0x4ULL
#define CKG_MGF1_SHA224 0x5ULL

/* Return values the engine and the provider look at (PKCS#11 v2.40 §5.1). */
#define CKR_OK 0x0ULL
#define CKR_USER_ALREADY_LOGGED_IN 0x100ULL
#define CKR_USER_NOT_LOGGED_IN 0x101ULL

#endif /* OSH_CK_H */
