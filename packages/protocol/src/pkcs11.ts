/**
 * @module PKCS#11 v2.40 identifiers (plus the few v3.0 ones this project uses), verbatim.
 *
 * Source: OASIS PKCS #11 Cryptographic Token Interface Base Specification v2.40,
 * header pkcs11t.h. Names are kept exactly as the specification spells them so
 * that TypeScript, C and documentation can be grepped for the same identifier.
 * This file is data only: no logic, no imports.
 */

/* Object classes (CKO_*) */
export const CKO_DATA = 0x0;
export const CKO_CERTIFICATE = 0x1;
export const CKO_PUBLIC_KEY = 0x2;
export const CKO_PRIVATE_KEY = 0x3;
export const CKO_SECRET_KEY = 0x4;
export const CKO_HW_FEATURE = 0x5;
export const CKO_DOMAIN_PARAMETERS = 0x6;
export const CKO_MECHANISM = 0x7;
export const CKO_OTP_KEY = 0x8;
export const CKO_VENDOR_DEFINED = 0x80000000;

/* Key types (CKK_*) */
export const CKK_RSA = 0x0;
export const CKK_DSA = 0x1;
export const CKK_DH = 0x2;
export const CKK_EC = 0x3;
export const CKK_GENERIC_SECRET = 0x10;
export const CKK_RC4 = 0x12;
export const CKK_DES = 0x13;
export const CKK_DES2 = 0x14;
export const CKK_DES3 = 0x15;
export const CKK_AES = 0x1f;
/** PKCS#11 v3.0; used here for Ed25519 keys (see docs/decisions.md). */
export const CKK_EC_EDWARDS = 0x40;
/** PKCS#11 v3.0; used here for X25519 keys (see docs/decisions.md). */
export const CKK_EC_MONTGOMERY = 0x41;
export const CKK_VENDOR_DEFINED = 0x80000000;

/* Certificate types */
export const CKC_X_509 = 0x0;
export const CKC_X_509_ATTR_CERT = 0x1;
export const CKC_WTLS = 0x2;

/* Attribute types (CKA_*) */
export const CKF_ARRAY_ATTRIBUTE = 0x40000000;
export const CKA_CLASS = 0x0;
export const CKA_TOKEN = 0x1;
export const CKA_PRIVATE = 0x2;
export const CKA_LABEL = 0x3;
export const CKA_APPLICATION = 0x10;
export const CKA_VALUE = 0x11;
export const CKA_OBJECT_ID = 0x12;
export const CKA_CERTIFICATE_TYPE = 0x80;
export const CKA_ISSUER = 0x81;
export const CKA_SERIAL_NUMBER = 0x82;
export const CKA_AC_ISSUER = 0x83;
export const CKA_OWNER = 0x84;
export const CKA_ATTR_TYPES = 0x85;
export const CKA_TRUSTED = 0x86;
export const CKA_CERTIFICATE_CATEGORY = 0x87;
export const CKA_JAVA_MIDP_SECURITY_DOMAIN = 0x88;
export const CKA_URL = 0x89;
export const CKA_HASH_OF_SUBJECT_PUBLIC_KEY = 0x8a;
export const CKA_HASH_OF_ISSUER_PUBLIC_KEY = 0x8b;
export const CKA_NAME_HASH_ALGORITHM = 0x8c;
export const CKA_CHECK_VALUE = 0x90;
export const CKA_KEY_TYPE = 0x100;
export const CKA_SUBJECT = 0x101;
export const CKA_ID = 0x102;
export const CKA_SENSITIVE = 0x103;
export const CKA_ENCRYPT = 0x104;
export const CKA_DECRYPT = 0x105;
export const CKA_WRAP = 0x106;
export const CKA_UNWRAP = 0x107;
export const CKA_SIGN = 0x108;
export const CKA_SIGN_RECOVER = 0x109;
export const CKA_VERIFY = 0x10a;
export const CKA_VERIFY_RECOVER = 0x10b;
export const CKA_DERIVE = 0x10c;
export const CKA_START_DATE = 0x110;
export const CKA_END_DATE = 0x111;
export const CKA_MODULUS = 0x120;
export const CKA_MODULUS_BITS = 0x121;
export const CKA_PUBLIC_EXPONENT = 0x122;
export const CKA_PRIVATE_EXPONENT = 0x123;
export const CKA_PRIME_1 = 0x124;
export const CKA_PRIME_2 = 0x125;
export const CKA_EXPONENT_1 = 0x126;
export const CKA_EXPONENT_2 = 0x127;
export const CKA_COEFFICIENT = 0x128;
export const CKA_PUBLIC_KEY_INFO = 0x129;
export const CKA_PRIME = 0x130;
export const CKA_SUBPRIME = 0x131;
export const CKA_BASE = 0x132;
export const CKA_PRIME_BITS = 0x133;
export const CKA_SUBPRIME_BITS = 0x134;
export const CKA_VALUE_BITS = 0x160;
export const CKA_VALUE_LEN = 0x161;
export const CKA_EXTRACTABLE = 0x162;
export const CKA_LOCAL = 0x163;
export const CKA_NEVER_EXTRACTABLE = 0x164;
export const CKA_ALWAYS_SENSITIVE = 0x165;
export const CKA_KEY_GEN_MECHANISM = 0x166;
export const CKA_MODIFIABLE = 0x170;
export const CKA_COPYABLE = 0x171;
export const CKA_DESTROYABLE = 0x172;
export const CKA_EC_PARAMS = 0x180;
export const CKA_EC_POINT = 0x181;
export const CKA_ALWAYS_AUTHENTICATE = 0x202;
export const CKA_WRAP_WITH_TRUSTED = 0x210;
export const CKA_WRAP_TEMPLATE = CKF_ARRAY_ATTRIBUTE | 0x211;
export const CKA_UNWRAP_TEMPLATE = CKF_ARRAY_ATTRIBUTE | 0x212;
export const CKA_DERIVE_TEMPLATE = CKF_ARRAY_ATTRIBUTE | 0x213;
export const CKA_ALLOWED_MECHANISMS = CKF_ARRAY_ATTRIBUTE | 0x600;
export const CKA_VENDOR_DEFINED = 0x80000000;

/* Mechanisms (CKM_*) */
export const CKM_RSA_PKCS_KEY_PAIR_GEN = 0x0;
export const CKM_RSA_PKCS = 0x1;
export const CKM_RSA_X_509 = 0x3;
export const CKM_MD5_RSA_PKCS = 0x5;
export const CKM_SHA1_RSA_PKCS = 0x6;
export const CKM_RSA_PKCS_OAEP = 0x9;
export const CKM_RSA_X9_31_KEY_PAIR_GEN = 0xa;
export const CKM_RSA_PKCS_PSS = 0xd;
export const CKM_SHA1_RSA_PKCS_PSS = 0xe;
export const CKM_SHA256_RSA_PKCS = 0x40;
export const CKM_SHA384_RSA_PKCS = 0x41;
export const CKM_SHA512_RSA_PKCS = 0x42;
export const CKM_SHA256_RSA_PKCS_PSS = 0x43;
export const CKM_SHA384_RSA_PKCS_PSS = 0x44;
export const CKM_SHA512_RSA_PKCS_PSS = 0x45;
export const CKM_SHA224_RSA_PKCS = 0x46;
export const CKM_SHA224_RSA_PKCS_PSS = 0x47;
export const CKM_DES3_KEY_GEN = 0x131;
export const CKM_DES3_ECB = 0x132;
export const CKM_DES3_CBC = 0x133;
export const CKM_DES3_CBC_PAD = 0x136;
export const CKM_SHA_1 = 0x220;
export const CKM_SHA_1_HMAC = 0x221;
export const CKM_SHA_1_HMAC_GENERAL = 0x222;
export const CKM_SHA256 = 0x250;
export const CKM_SHA256_HMAC = 0x251;
export const CKM_SHA256_HMAC_GENERAL = 0x252;
export const CKM_SHA224 = 0x255;
export const CKM_SHA224_HMAC = 0x256;
export const CKM_SHA224_HMAC_GENERAL = 0x257;
export const CKM_SHA384 = 0x260;
export const CKM_SHA384_HMAC = 0x261;
export const CKM_SHA384_HMAC_GENERAL = 0x262;
export const CKM_SHA512 = 0x270;
export const CKM_SHA512_HMAC = 0x271;
export const CKM_SHA512_HMAC_GENERAL = 0x272;
export const CKM_GENERIC_SECRET_KEY_GEN = 0x350;
export const CKM_EC_KEY_PAIR_GEN = 0x1040;
export const CKM_ECDSA = 0x1041;
export const CKM_ECDSA_SHA1 = 0x1042;
export const CKM_ECDSA_SHA224 = 0x1043;
export const CKM_ECDSA_SHA256 = 0x1044;
export const CKM_ECDSA_SHA384 = 0x1045;
export const CKM_ECDSA_SHA512 = 0x1046;
export const CKM_ECDH1_DERIVE = 0x1050;
export const CKM_ECDH1_COFACTOR_DERIVE = 0x1051;
export const CKM_RSA_AES_KEY_WRAP = 0x1054;
/** PKCS#11 v3.0 */
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
/** PKCS#11 v3.0 */
export const CKM_EC_MONTGOMERY_KEY_PAIR_GEN = 0x1056;
/** PKCS#11 v3.0 */
export const CKM_EDDSA = 0x1057;
export const CKM_AES_KEY_GEN = 0x1080;
export const CKM_AES_ECB = 0x1081;
export const CKM_AES_CBC = 0x1082;
export const CKM_AES_CBC_PAD = 0x1085;
export const CKM_AES_CTR = 0x1086;
export const CKM_AES_GCM = 0x1087;
export const CKM_AES_CCM = 0x1088;
export const CKM_AES_CMAC = 0x108a;
export const CKM_AES_CMAC_GENERAL = 0x108b;
export const CKM_AES_KEY_WRAP = 0x2109;
export const CKM_AES_KEY_WRAP_PAD = 0x210a;
export const CKM_VENDOR_DEFINED = 0x80000000;
/*
 * Vendor mechanisms of the Azure Cloud HSM / Cavium lineage, with the numbers of
 * its vendor header (as native/pkcs11/include/pkcs11t.h defines them).
 */
/** SP 800-38F TKW (Triple DES key wrap); the JCE's DESedeWrap. */
export const CKM_DES3_NIST_WRAP = 0x80008000;
/** RFC 3394 without padding (the same algorithm as CKM_AES_KEY_WRAP). */
export const CKM_AES_KEY_WRAP_NO_PAD = 0x80002109;
/** PKCS #7 padding to a multiple of 8 bytes, then RFC 3394. */
export const CKM_AES_KEY_WRAP_PKCS5_PAD = 0x8000210a;
/** Zero bytes up to a multiple of 8, then RFC 3394. */
export const CKM_AES_KEY_WRAP_ZERO_PAD = 0x8000216f;

/* Mechanism info flags (CKF_*) */
export const CKF_HW = 0x1;
export const CKF_ENCRYPT = 0x100;
export const CKF_DECRYPT = 0x200;
export const CKF_DIGEST = 0x400;
export const CKF_SIGN = 0x800;
export const CKF_SIGN_RECOVER = 0x1000;
export const CKF_VERIFY = 0x2000;
export const CKF_VERIFY_RECOVER = 0x4000;
export const CKF_GENERATE = 0x8000;
export const CKF_GENERATE_KEY_PAIR = 0x10000;
export const CKF_WRAP = 0x20000;
export const CKF_UNWRAP = 0x40000;
export const CKF_DERIVE = 0x80000;
export const CKF_EC_F_P = 0x100000;
export const CKF_EC_NAMEDCURVE = 0x800000;
export const CKF_EC_UNCOMPRESS = 0x1000000;

/* User types */
export const CKU_SO = 0;
export const CKU_USER = 1;
export const CKU_CONTEXT_SPECIFIC = 2;

/* MGF and hash identifiers for PSS / OAEP parameters */
export const CKG_MGF1_SHA1 = 0x1;
export const CKG_MGF1_SHA256 = 0x2;
export const CKG_MGF1_SHA384 = 0x3;
export const CKG_MGF1_SHA512 = 0x4;
export const CKG_MGF1_SHA224 = 0x5;
export const CKZ_DATA_SPECIFIED = 0x1;

/* ECDH key derivation functions */
export const CKD_NULL = 0x1;
export const CKD_SHA1_KDF = 0x2;
export const CKD_SHA224_KDF = 0x5;
export const CKD_SHA256_KDF = 0x6;
export const CKD_SHA384_KDF = 0x7;
export const CKD_SHA512_KDF = 0x8;

/* Return values (CKR_*) */
export const CKR_OK = 0x0;
export const CKR_CANCEL = 0x1;
export const CKR_HOST_MEMORY = 0x2;
export const CKR_SLOT_ID_INVALID = 0x3;
export const CKR_GENERAL_ERROR = 0x5;
export const CKR_FUNCTION_FAILED = 0x6;
export const CKR_ARGUMENTS_BAD = 0x7;
export const CKR_NO_EVENT = 0x8;
export const CKR_NEED_TO_CREATE_THREADS = 0x9;
export const CKR_CANT_LOCK = 0xa;
export const CKR_ATTRIBUTE_READ_ONLY = 0x10;
export const CKR_ATTRIBUTE_SENSITIVE = 0x11;
export const CKR_ATTRIBUTE_TYPE_INVALID = 0x12;
export const CKR_ATTRIBUTE_VALUE_INVALID = 0x13;
export const CKR_ACTION_PROHIBITED = 0x1b;
export const CKR_DATA_INVALID = 0x20;
export const CKR_DATA_LEN_RANGE = 0x21;
export const CKR_DEVICE_ERROR = 0x30;
export const CKR_DEVICE_MEMORY = 0x31;
export const CKR_DEVICE_REMOVED = 0x32;
export const CKR_ENCRYPTED_DATA_INVALID = 0x40;
export const CKR_ENCRYPTED_DATA_LEN_RANGE = 0x41;
export const CKR_FUNCTION_CANCELED = 0x50;
export const CKR_FUNCTION_NOT_PARALLEL = 0x51;
export const CKR_FUNCTION_NOT_SUPPORTED = 0x54;
export const CKR_KEY_HANDLE_INVALID = 0x60;
export const CKR_KEY_SIZE_RANGE = 0x62;
export const CKR_KEY_TYPE_INCONSISTENT = 0x63;
export const CKR_KEY_NOT_NEEDED = 0x64;
export const CKR_KEY_CHANGED = 0x65;
export const CKR_KEY_NEEDED = 0x66;
export const CKR_KEY_INDIGESTIBLE = 0x67;
export const CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68;
export const CKR_KEY_NOT_WRAPPABLE = 0x69;
export const CKR_KEY_UNEXTRACTABLE = 0x6a;
export const CKR_MECHANISM_INVALID = 0x70;
export const CKR_MECHANISM_PARAM_INVALID = 0x71;
export const CKR_OBJECT_HANDLE_INVALID = 0x82;
export const CKR_OPERATION_ACTIVE = 0x90;
export const CKR_OPERATION_NOT_INITIALIZED = 0x91;
export const CKR_PIN_INCORRECT = 0xa0;
export const CKR_PIN_INVALID = 0xa1;
export const CKR_PIN_LEN_RANGE = 0xa2;
export const CKR_PIN_EXPIRED = 0xa3;
export const CKR_PIN_LOCKED = 0xa4;
export const CKR_SESSION_CLOSED = 0xb0;
export const CKR_SESSION_COUNT = 0xb1;
export const CKR_SESSION_HANDLE_INVALID = 0xb3;
export const CKR_SESSION_PARALLEL_NOT_SUPPORTED = 0xb4;
export const CKR_SESSION_READ_ONLY = 0xb5;
export const CKR_SESSION_EXISTS = 0xb6;
export const CKR_SESSION_READ_ONLY_EXISTS = 0xb7;
export const CKR_SESSION_READ_WRITE_SO_EXISTS = 0xb8;
export const CKR_SIGNATURE_INVALID = 0xc0;
export const CKR_SIGNATURE_LEN_RANGE = 0xc1;
export const CKR_TEMPLATE_INCOMPLETE = 0xd0;
export const CKR_TEMPLATE_INCONSISTENT = 0xd1;
export const CKR_TOKEN_NOT_PRESENT = 0xe0;
export const CKR_TOKEN_NOT_RECOGNIZED = 0xe1;
export const CKR_TOKEN_WRITE_PROTECTED = 0xe2;
export const CKR_UNWRAPPING_KEY_HANDLE_INVALID = 0xf0;
export const CKR_UNWRAPPING_KEY_SIZE_RANGE = 0xf1;
export const CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT = 0xf2;
export const CKR_USER_ALREADY_LOGGED_IN = 0x100;
export const CKR_USER_NOT_LOGGED_IN = 0x101;
export const CKR_USER_PIN_NOT_INITIALIZED = 0x102;
export const CKR_USER_TYPE_INVALID = 0x103;
export const CKR_USER_ANOTHER_ALREADY_LOGGED_IN = 0x104;
export const CKR_USER_TOO_MANY_TYPES = 0x105;
export const CKR_WRAPPED_KEY_INVALID = 0x110;
export const CKR_WRAPPED_KEY_LEN_RANGE = 0x112;
export const CKR_WRAPPING_KEY_HANDLE_INVALID = 0x113;
export const CKR_WRAPPING_KEY_SIZE_RANGE = 0x114;
export const CKR_WRAPPING_KEY_TYPE_INCONSISTENT = 0x115;
export const CKR_RANDOM_SEED_NOT_SUPPORTED = 0x120;
export const CKR_RANDOM_NO_RNG = 0x121;
export const CKR_DOMAIN_PARAMS_INVALID = 0x130;
export const CKR_CURVE_NOT_SUPPORTED = 0x140;
export const CKR_BUFFER_TOO_SMALL = 0x150;
export const CKR_SAVED_STATE_INVALID = 0x160;
export const CKR_INFORMATION_SENSITIVE = 0x170;
export const CKR_STATE_UNSAVEABLE = 0x180;
export const CKR_CRYPTOKI_NOT_INITIALIZED = 0x190;
export const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
export const CKR_MUTEX_BAD = 0x1a0;
export const CKR_MUTEX_NOT_LOCKED = 0x1a1;
export const CKR_FUNCTION_REJECTED = 0x200;
export const CKR_VENDOR_DEFINED = 0x80000000;
