/*
 * slot.c: PKCS #11 v2.40 §5.5 slot and token management — C_GetSlotList,
 * C_GetSlotInfo, C_GetTokenInfo, C_WaitForSlotEvent, C_GetMechanismList,
 * C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN.
 *
 * There is one slot, ID 1 (the Azure guide's CAVIUM_SLOT), answering right
 * after C_Initialize; its token is the cluster's partition. The token's serial
 * number and label come from the partition certificate (POAC, slot 8 of
 * getCert, subject CN "HSM:<serial>:PARTN:<n>, ..."), read once; the firmware
 * version is the version the daemon reports. The mechanism list and each
 * mechanism's sizes and flags are the HSM's own answer (mechanismList,
 * mechanismInfo), so they say exactly what works.
 *
 * Users and PINs are managed with azcloudhsm_mgmt_util, not through PKCS #11:
 * C_InitToken and C_InitPIN return CKR_FUNCTION_NOT_SUPPORTED, and so does
 * C_WaitForSlotEvent (the token is never removed). C_SetPIN sends setPin when
 * the daemon's hello says the partition's profile has it (setPin, the row
 * SET_PIN); the node checks the old PIN and the new one. Otherwise it too is
 * CKR_FUNCTION_NOT_SUPPORTED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11.h"

/* The token's identity, read from the cluster once (copied under the lock). */
typedef struct token_id {
    int fetched;
    char serial[17];
    char label[33];
    CK_VERSION firmware;
} token_id;
static token_id g_token;

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode the base64 body of a PEM block (white space skipped) into out;
 * returns the bytes written. */
static size_t b64_decode(const uint8_t *p, size_t n, uint8_t *out, size_t cap) {
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n && o < cap; i++) {
        if (p[i] == '-') break; /* the END line */
        int v = b64val(p[i]);
        if (v < 0) continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

static const uint8_t *find(const uint8_t *h, size_t hn, const char *needle) {
    size_t nn = strlen(needle);
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp(h + i, needle, nn) == 0) return h + i;
    return NULL;
}

static int is_hex(int c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }

/* "HSM:<serial>:PARTN:<n>" somewhere in the certificate (PEM or DER). */
static void parse_partition_cert(token_id *t, const uint8_t *cert, size_t len) {
    uint8_t *der = NULL;
    const uint8_t *p = cert;
    size_t n = len;
    const uint8_t *begin = find(cert, len, "-----BEGIN CERTIFICATE-----");
    if (begin) {
        begin += strlen("-----BEGIN CERTIFICATE-----");
        der = malloc(len);
        if (!der) return;
        n = b64_decode(begin, len - (size_t)(begin - cert), der, len);
        p = der;
    }
    const uint8_t *h = find(p, n, "HSM:");
    if (h) {
        const uint8_t *s = h + 4, *end = p + n;
        size_t k = 0;
        while (s + k < end && is_hex(s[k])) k++;
        if (k > 0) {
            size_t take = k < 16 ? k : 16;
            memcpy(t->serial, s, take);
            t->serial[take] = 0;
        }
        const uint8_t *pn = s + k;
        if (end - pn > 7 && memcmp(pn, ":PARTN:", 7) == 0) {
            unsigned part = 0;
            for (const uint8_t *d = pn + 7; d < end && *d >= '0' && *d <= '9' && part < 100000; d++) part = part * 10 + (unsigned)(*d - '0');
            snprintf(t->label, sizeof t->label, "OpenCloudHSM PARTN:%u", part);
        }
    }
    free(der);
}

static void fetch_token_identity(token_id *t) {
    ochsm_builder b;
    ochsm_response r;
    const uint8_t *cert;
    size_t len;
    memset(t, 0, sizeof *t);
    snprintf(t->serial, sizeof t->serial, "unknown");
    snprintf(t->label, sizeof t->label, "OpenCloudHSM");
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 1, 8);
    if (p11_call(OCHSM_OP_GET_CERT, &b, &r) == CKR_OK && p11_result_bytes(&r, 4, &cert, &len)) parse_partition_cert(t, cert, len);
    ochsm_response_free(&r);
    ochsm_builder_reset(&b);
    if (p11_call(OCHSM_OP_STATUS, &b, &r) == CKR_OK) {
        ochsm_field f;
        const char *v;
        size_t vl;
        if (p11_result_field(&r, 5, &f) && ochsm_field_string(&f, &v, &vl) == OCHSM_OK) {
            unsigned maj = 0, min = 0;
            size_t i = 0;
            while (i < vl && v[i] >= '0' && v[i] <= '9' && maj < 1000) maj = maj * 10 + (unsigned)(v[i++] - '0');
            if (i < vl && v[i] == '.') i++;
            while (i < vl && v[i] >= '0' && v[i] <= '9' && min < 1000) min = min * 10 + (unsigned)(v[i++] - '0');
            t->firmware.major = (CK_BYTE)(maj > 255 ? 255 : maj);
            t->firmware.minor = (CK_BYTE)(min > 255 ? 255 : min);
        }
    }
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    t->fetched = 1;
}

P11_EXPORT CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
    (void)tokenPresent; /* the one slot always holds its token */
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (pulCount == NULL) return CKR_ARGUMENTS_BAD;
    if (pSlotList == NULL) {
        *pulCount = 1;
        return CKR_OK;
    }
    if (*pulCount < 1) {
        *pulCount = 1;
        return CKR_BUFFER_TOO_SMALL;
    }
    pSlotList[0] = P11_SLOT_ID;
    *pulCount = 1;
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (slotID != P11_SLOT_ID) return CKR_SLOT_ID_INVALID;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof *pInfo);
    p11_pad(pInfo->slotDescription, sizeof pInfo->slotDescription, "OpenCloudHSM cluster through azcloudhsm_client");
    p11_pad(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "OpenCloudHSM");
    pInfo->flags = CKF_TOKEN_PRESENT;
    pInfo->hardwareVersion.major = P11_VERSION_MAJOR;
    pInfo->hardwareVersion.minor = P11_VERSION_MINOR;
    pInfo->firmwareVersion.major = P11_VERSION_MAJOR;
    pInfo->firmwareVersion.minor = P11_VERSION_MINOR;
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (slotID != P11_SLOT_ID) return CKR_SLOT_ID_INVALID;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    /* Two threads may both fetch the first time; the answers are the same. */
    token_id t;
    if ((rv = p11_lock()) != CKR_OK) return rv;
    t = g_token;
    p11_unlock();
    if (!t.fetched) {
        fetch_token_identity(&t);
        if ((rv = p11_lock()) != CKR_OK) return rv;
        g_token = t;
        p11_unlock();
    }
    CK_ULONG all, rw;
    p11_session_counts(&all, &rw);
    memset(pInfo, 0, sizeof *pInfo);
    p11_pad(pInfo->label, sizeof pInfo->label, t.label);
    p11_pad(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "OpenCloudHSM");
    p11_pad(pInfo->model, sizeof pInfo->model, "Cloud HSM");
    p11_pad(pInfo->serialNumber, sizeof pInfo->serialNumber, t.serial);
    pInfo->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
    pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    pInfo->ulSessionCount = all;
    pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    pInfo->ulRwSessionCount = rw;
    /* "<user>:<password>", the lengths from the nodes' account rules (daemon hello). */
    p11_pin_lengths(&pInfo->ulMinPinLen, &pInfo->ulMaxPinLen);
    pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->hardwareVersion.major = P11_VERSION_MAJOR;
    pInfo->hardwareVersion.minor = P11_VERSION_MINOR;
    pInfo->firmwareVersion = t.firmware;
    memset(pInfo->utcTime, ' ', sizeof pInfo->utcTime); /* no CKF_CLOCK_ON_TOKEN */
    return CKR_OK;
}

P11_EXPORT CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved) {
    (void)flags;
    (void)pSlot;
    (void)pReserved;
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (slotID != P11_SLOT_ID) return CKR_SLOT_ID_INVALID;
    if (pulCount == NULL) return CKR_ARGUMENTS_BAD;
    ochsm_builder b;
    ochsm_response r;
    ochsm_builder_init(&b, NULL);
    rv = p11_call(OCHSM_OP_MECHANISM_LIST, &b, &r);
    if (rv == CKR_OK) {
        ochsm_field f;
        ochsm_iter it;
        if (!p11_result_field(&r, 4, &f) || ochsm_field_iter(&f, &it) != OCHSM_OK) {
            rv = CKR_DEVICE_ERROR;
        } else {
            CK_ULONG count = f.count;
            if (pMechanismList == NULL) {
                *pulCount = count;
            } else if (*pulCount < count) {
                *pulCount = count;
                rv = CKR_BUFFER_TOO_SMALL;
            } else {
                uint64_t v;
                CK_ULONG i = 0;
                while (i < count && ochsm_iter_u64(&it, &v) == 1) pMechanismList[i++] = (CK_MECHANISM_TYPE)v;
                *pulCount = i;
            }
        }
    }
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    return rv;
}

P11_EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (slotID != P11_SLOT_ID) return CKR_SLOT_ID_INVALID;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    if (!p11_number_ok(type)) return CKR_MECHANISM_INVALID;
    ochsm_builder b;
    ochsm_response r;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 1, type);
    rv = p11_call(OCHSM_OP_MECHANISM_INFO, &b, &r);
    if (rv == CKR_OK) {
        uint64_t mn, mx, fl;
        if (p11_result_u64(&r, 4, &mn) && p11_result_u64(&r, 5, &mx) && p11_result_u64(&r, 6, &fl)) {
            pInfo->ulMinKeySize = (CK_ULONG)mn;
            pInfo->ulMaxKeySize = (CK_ULONG)mx;
            pInfo->flags = (CK_FLAGS)fl;
        } else {
            rv = CKR_DEVICE_ERROR;
        }
    }
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    return rv;
}

P11_EXPORT CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel) {
    (void)slotID;
    (void)pPin;
    (void)ulPinLen;
    (void)pLabel;
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
    (void)hSession;
    (void)pPin;
    (void)ulPinLen;
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

typedef struct {
    const char *old_pin, *new_pin;
    size_t old_len, new_len;
} set_pin_args;

static CK_RV set_pin_build(p11_req *q) {
    set_pin_args *a = q->ctx;
    /* A PIN the codec cannot send: the old one answers as a wrong PIN does (hello wrongPinRv); a new
     * one longer than a string may be is CKR_PIN_LEN_RANGE, one that is not UTF-8 CKR_PIN_INVALID. */
    if (ochsm_put_string_n(&q->b, OCHSM_Q_SET_PIN_OLD_PIN, a->old_pin, a->old_len) != OCHSM_OK) return p11_wrong_pin_rv();
    int rc = ochsm_put_string_n(&q->b, OCHSM_Q_SET_PIN_NEW_PIN, a->new_pin, a->new_len);
    if (rc != OCHSM_OK) return rc == OCHSM_ERR_LIMIT ? CKR_PIN_LEN_RANGE : CKR_PIN_INVALID;
    p11_put_read_only(q->s, &q->b, OCHSM_Q_SET_PIN_READ_ONLY);
    return CKR_OK;
}

P11_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin,
                          CK_ULONG ulNewLen) {
    CK_RV rv = p11_check_ready();
    if (rv != CKR_OK) return rv;
    if (!p11_set_pin_supported()) return CKR_FUNCTION_NOT_SUPPORTED;
    /* No protected authentication path: both PINs must be given. */
    if (pOldPin == NULL || pNewPin == NULL) return CKR_ARGUMENTS_BAD;
    set_pin_args a = {(const char *)pOldPin, (const char *)pNewPin, (size_t)ulOldLen, (size_t)ulNewLen};
    return p11_request(hSession, OCHSM_OP_SET_PIN, NULL, set_pin_build, NULL, &a);
}
