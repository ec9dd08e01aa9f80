/*
 * mech.c: CK_MECHANISM → the protocol's Mechanism record (docs/protocol.md
 * §6.1), the one place where C reads mechanism parameter structures.
 *
 * This is ABI translation, not policy: the C side must read the structure the
 * caller's pointer names, so it checks that ulParameterLen is the size of that
 * structure and that every pointer inside it with a non-zero length is not
 * NULL (CKR_MECHANISM_PARAM_INVALID otherwise, with nothing sent), then copies
 * each field into the record. Whether an IV has the right length, a tag size
 * or a salt length is allowed, a hash or MGF is supported — all of that is
 * decided by the HSM (packages/hsm-core/src/mechanisms/), which answers with
 * the standard code.
 *
 * Parameter structures (PKCS #11 v2.40 Current Mechanisms):
 *   IV byte array     AES/DES3/DES CBC, CBC_PAD; AES key wrap (optional IV)
 *   CK_AES_CTR_PARAMS AES_CTR                     → iv = cb, counterBits
 *   CK_GCM_PARAMS     AES_GCM, CLOUDHSM_AES_GCM   → iv, aad, tagBits (the
 *                     v2.40 layout with ulIvBits, and the older one without,
 *                     which Java's SunPKCS11 falls back to)
 *   CK_RSA_PKCS_PSS_PARAMS  *_RSA_PKCS_PSS        → hashAlg, mgf, saltLen
 *   CK_RSA_PKCS_OAEP_PARAMS RSA_PKCS_OAEP         → hashAlg, mgf, sourceData
 *   CK_RSA_AES_KEY_WRAP_PARAMS RSA_AES_KEY_WRAP   → aesKeyBits + the OAEP fields
 *   CK_ECDH1_DERIVE_PARAMS ECDH1_(COFACTOR_)DERIVE → kdf, sharedData, publicData
 *   CK_MAC_GENERAL_PARAMS  *_HMAC_GENERAL, AES_CMAC_GENERAL → length
 *   CK_CCM_PARAMS     AES_CCM (v3.0)              → iv = pNonce, aad,
 *                     tagBits = ulMACLen * 8, length = ulDataLen
 * Any other mechanism is sent with its type alone: it takes no parameter in
 * this HSM (a parameter given anyway is ignored, as most tokens do), or the HSM
 * does not implement it and answers CKR_MECHANISM_INVALID.
 */
#include <stdlib.h>
#include <string.h>

#include "p11.h"

enum {
    K_NONE,
    K_IV,
    K_CTR,
    K_GCM,
    K_CCM,
    K_PSS,
    K_OAEP,
    K_RSA_AES,
    K_ECDH1,
    K_MAC_GENERAL,
    K_EDDSA
};

static int kind_of(CK_MECHANISM_TYPE t) {
    switch (t) {
    case CKM_AES_CBC:
    case CKM_AES_CBC_PAD:
    case CKM_DES3_CBC:
    case CKM_DES3_CBC_PAD:
    case CKM_DES_CBC:
    case CKM_DES_CBC_PAD:
    case CKM_AES_KEY_WRAP:
    case CKM_AES_KEY_WRAP_PAD:
    case CKM_AES_KEY_WRAP_NO_PAD:
    case CKM_AES_KEY_WRAP_PKCS5_PAD:
    case CKM_AES_KEY_WRAP_ZERO_PAD:
        return K_IV;
    case CKM_AES_CTR:
        return K_CTR;
    case CKM_AES_GCM:
    case CKM_CLOUDHSM_AES_GCM:
        return K_GCM;
    case CKM_AES_CCM:
        return K_CCM;
    case CKM_RSA_PKCS_PSS:
    case CKM_SHA1_RSA_PKCS_PSS:
    case CKM_SHA224_RSA_PKCS_PSS:
    case CKM_SHA256_RSA_PKCS_PSS:
    case CKM_SHA384_RSA_PKCS_PSS:
    case CKM_SHA512_RSA_PKCS_PSS:
        return K_PSS;
    case CKM_RSA_PKCS_OAEP:
        return K_OAEP;
    case CKM_RSA_AES_KEY_WRAP:
        return K_RSA_AES;
    case CKM_ECDH1_DERIVE:
    case CKM_ECDH1_COFACTOR_DERIVE:
        return K_ECDH1;
    case CKM_SHA_1_HMAC_GENERAL:
    case CKM_SHA224_HMAC_GENERAL:
    case CKM_SHA256_HMAC_GENERAL:
    case CKM_SHA384_HMAC_GENERAL:
    case CKM_SHA512_HMAC_GENERAL:
    case CKM_AES_CMAC_GENERAL:
        return K_MAC_GENERAL;
    case CKM_EDDSA:
        return K_EDDSA;
    default:
        return K_NONE;
    }
}

/* Byte strings are gathered first, then copied into one allocation. */
typedef struct pending {
    p11_bytes *dst;
    const void *src;
    CK_ULONG len;
} pending;

static CK_RV want_bytes(pending *pend, int *n, p11_bytes *dst, const void *src, CK_ULONG len) {
    if (len == 0) return CKR_OK;
    if (src == NULL || len > P11_MAX_PARAM_BYTES) return CKR_MECHANISM_PARAM_INVALID;
    pend[*n].dst = dst;
    pend[*n].src = src;
    pend[*n].len = len;
    (*n)++;
    return CKR_OK;
}

static CK_RV set_u64(p11_mech *m, uint32_t bit, uint64_t *dst, CK_ULONG v) {
    if (!p11_number_ok(v)) return CKR_MECHANISM_PARAM_INVALID;
    *dst = v;
    m->r.present |= bit;
    return CKR_OK;
}

static CK_RV oaep_fields(p11_mech *m, const CK_RSA_PKCS_OAEP_PARAMS *p, pending *pend, int *n) {
    CK_RV rv;
    if ((rv = set_u64(m, OCHSM_M_HASH_ALG, &m->r.hash_alg, p->hashAlg)) != CKR_OK) return rv;
    if ((rv = set_u64(m, OCHSM_M_MGF, &m->r.mgf, p->mgf)) != CKR_OK) return rv;
    /* source CKZ_DATA_SPECIFIED names pSourceData as the label; 0 (none) is
     * what many callers pass with an empty label. */
    if (p->source != 0 && p->source != CKZ_DATA_SPECIFIED) return CKR_MECHANISM_PARAM_INVALID;
    if (p->ulSourceDataLen) {
        m->r.present |= OCHSM_M_SOURCE_DATA;
        return want_bytes(pend, n, &m->r.source_data, p->pSourceData, p->ulSourceDataLen);
    }
    return CKR_OK;
}

static CK_RV translate(const CK_MECHANISM *in, p11_mech *m, pending *pend, int *n) {
    const void *pp = in->pParameter;
    CK_ULONG len = in->ulParameterLen;
    CK_RV rv;
    int kind = kind_of(in->mechanism);
    if (kind != K_NONE && pp == NULL && len != 0) return CKR_MECHANISM_PARAM_INVALID;
    /* No parameter at all: the record carries the type alone, and the HSM
     * says whether the mechanism needs one. */
    if (kind != K_NONE && len == 0) return CKR_OK;
    switch (kind) {
    case K_NONE:
        return CKR_OK;
    case K_IV:
        m->r.present |= OCHSM_M_IV;
        return want_bytes(pend, n, &m->r.iv, pp, len);
    case K_CTR: {
        if (len != sizeof(CK_AES_CTR_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
        const CK_AES_CTR_PARAMS *p = pp;
        if ((rv = set_u64(m, OCHSM_M_COUNTER_BITS, &m->r.counter_bits, p->ulCounterBits)) != CKR_OK) return rv;
        m->r.present |= OCHSM_M_IV;
        return want_bytes(pend, n, &m->r.iv, p->cb, sizeof p->cb);
    }
    case K_GCM: {
        const CK_BYTE *iv, *aad;
        CK_ULONG iv_len, aad_len, tag_bits;
        if (len == sizeof(CK_GCM_PARAMS)) {
            const CK_GCM_PARAMS *p = pp;
            iv = p->pIv, iv_len = p->ulIvLen, aad = p->pAAD, aad_len = p->ulAADLen, tag_bits = p->ulTagBits;
        } else if (len == 5 * sizeof(CK_ULONG)) {
            /* The pre-errata layout { pIv, ulIvLen, pAAD, ulAADLen, ulTagBits }. */
            const struct {
                CK_BYTE_PTR pIv;
                CK_ULONG ulIvLen;
                CK_BYTE_PTR pAAD;
                CK_ULONG ulAADLen;
                CK_ULONG ulTagBits;
            } *p = pp;
            iv = p->pIv, iv_len = p->ulIvLen, aad = p->pAAD, aad_len = p->ulAADLen, tag_bits = p->ulTagBits;
        } else {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        if ((rv = set_u64(m, OCHSM_M_TAG_BITS, &m->r.tag_bits, tag_bits)) != CKR_OK) return rv;
        if (iv_len) {
            m->r.present |= OCHSM_M_IV;
            if ((rv = want_bytes(pend, n, &m->r.iv, iv, iv_len)) != CKR_OK) return rv;
        }
        if (aad_len) {
            m->r.present |= OCHSM_M_AAD;
            if ((rv = want_bytes(pend, n, &m->r.aad, aad, aad_len)) != CKR_OK) return rv;
        }
        return CKR_OK;
    }
    case K_CCM: {
        if (len != sizeof(CK_CCM_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
        const CK_CCM_PARAMS *p = pp;
        /* ulMACLen is in bytes; the record's tagBits is in bits, as for GCM.
         * Which lengths are allowed is the HSM's to say. */
        if (p->ulMACLen > P11_MAX_NUMBER / 8) return CKR_MECHANISM_PARAM_INVALID;
        if ((rv = set_u64(m, OCHSM_M_TAG_BITS, &m->r.tag_bits, p->ulMACLen * 8)) != CKR_OK) return rv;
        if ((rv = set_u64(m, OCHSM_M_LENGTH, &m->r.length, p->ulDataLen)) != CKR_OK) return rv;
        if (p->ulNonceLen) {
            m->r.present |= OCHSM_M_IV;
            if ((rv = want_bytes(pend, n, &m->r.iv, p->pNonce, p->ulNonceLen)) != CKR_OK) return rv;
        }
        if (p->ulAADLen) {
            m->r.present |= OCHSM_M_AAD;
            if ((rv = want_bytes(pend, n, &m->r.aad, p->pAAD, p->ulAADLen)) != CKR_OK) return rv;
        }
        return CKR_OK;
    }
    case K_PSS: {
        if (len != sizeof(CK_RSA_PKCS_PSS_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
        const CK_RSA_PKCS_PSS_PARAMS *p = pp;
        if ((rv = set_u64(m, OCHSM_M_HASH_ALG, &m->r.hash_alg, p->hashAlg)) != CKR_OK) return rv;
        if ((rv = set_u64(m, OCHSM_M_MGF, &m->r.mgf, p->mgf)) != CKR_OK) return rv;
        return set_u64(m, OCHSM_M_SALT_LEN, &m->r.salt_len, p->sLen);
    }
    case K_OAEP:
        if (len != sizeof(CK_RSA_PKCS_OAEP_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
        return oaep_fields(m, pp, pend, n);
    case K_RSA_AES: {
        if (len != sizeof(CK_RSA_AES_KEY_WRAP_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
        const CK_RSA_AES_KEY_WRAP_PARAMS *p = pp;
        if (p->pOAEPParams == NULL) return CKR_MECHANISM_PARAM_INVALID;
        if ((rv = set_u64(m, OCHSM_M_AES_KEY_BITS, &m->r.aes_key_bits, p->ulAESKeyBits)) != CKR_OK) return rv;
        return oaep_fields(m, p->pOAEPParams, pend, n);
    }
    case K_ECDH1: {
        if (len != sizeof(CK_ECDH1_DERIVE_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
        const CK_ECDH1_DERIVE_PARAMS *p = pp;
        if ((rv = set_u64(m, OCHSM_M_KDF, &m->r.kdf, p->kdf)) != CKR_OK) return rv;
        if (p->ulSharedDataLen) {
            m->r.present |= OCHSM_M_SHARED_DATA;
            if ((rv = want_bytes(pend, n, &m->r.shared_data, p->pSharedData, p->ulSharedDataLen)) != CKR_OK) return rv;
        }
        if (p->ulPublicDataLen) {
            m->r.present |= OCHSM_M_PUBLIC_DATA;
            if ((rv = want_bytes(pend, n, &m->r.public_data, p->pPublicData, p->ulPublicDataLen)) != CKR_OK) return rv;
        }
        return CKR_OK;
    }
    case K_MAC_GENERAL: {
        if (len != sizeof(CK_MAC_GENERAL_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
        return set_u64(m, OCHSM_M_LENGTH, &m->r.length, *(const CK_MAC_GENERAL_PARAMS *)pp);
    }
    case K_EDDSA:
        /* CK_EDDSA_PARAMS (v3.0: Ed25519ph / a context) has no field in the
         * protocol: pure Ed25519 is the only form the HSM offers. */
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return CKR_OK;
}

CK_RV p11_mech_from(const CK_MECHANISM *in, p11_mech *m) {
    memset(m, 0, sizeof *m);
    if (in == NULL) return CKR_ARGUMENTS_BAD;
    if (!p11_number_ok(in->mechanism)) return CKR_MECHANISM_INVALID;
    m->r.mechanism = in->mechanism;
    pending pend[4];
    int n = 0;
    CK_RV rv = translate(in, m, pend, &n);
    if (rv != CKR_OK) {
        memset(m, 0, sizeof *m);
        return rv;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) total += pend[i].len;
    if (total) {
        m->owned = malloc(total);
        if (!m->owned) {
            memset(m, 0, sizeof *m);
            return CKR_HOST_MEMORY;
        }
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            memcpy(m->owned + off, pend[i].src, pend[i].len);
            pend[i].dst->p = m->owned + off;
            pend[i].dst->len = pend[i].len;
            off += pend[i].len;
        }
    }
    return CKR_OK;
}

void p11_mech_free(p11_mech *m) {
    free(m->owned);
    memset(m, 0, sizeof *m);
}

void p11_mech_put(ochsm_builder *b, uint16_t id, const p11_mech *m) {
    ochsm_put_mechanism(b, id, &m->r);
}

/* ───────────────────────────── what the HSM offers ───────────────────────────── */

/*
 * *Init must refuse a mechanism that the token does not offer for that
 * function with CKR_MECHANISM_INVALID (§5.8–5.12), and applications rely on it
 * (OpenSC's pkcs11-tool --test skips what C_SignInit refuses). The module asks
 * the HSM (mechanismInfo) once per mechanism and remembers the answer for the
 * life of the C_Initialize: it is the HSM's answer, kept, not a rule of ours.
 */
#define MECH_CACHE 256

static struct {
    uint64_t type;
    uint64_t flags; /* CKF_* from mechanismInfo */
    int state;      /* 1 offered, 2 not offered */
} g_mcache[MECH_CACHE];
static size_t g_mcache_n;

void p11_mech_cache_reset(void) {
    g_mcache_n = 0;
}

CK_RV p11_mech_check(CK_MECHANISM_TYPE type, CK_FLAGS needed) {
    if (!p11_number_ok(type)) return CKR_MECHANISM_INVALID;
    CK_RV rv = p11_lock();
    if (rv != CKR_OK) return rv;
    int state = 0;
    uint64_t flags = 0;
    for (size_t i = 0; i < g_mcache_n; i++) {
        if (g_mcache[i].type == type) {
            state = g_mcache[i].state;
            flags = g_mcache[i].flags;
            break;
        }
    }
    p11_unlock();
    if (state == 0) {
        ochsm_builder b;
        ochsm_response r;
        ochsm_builder_init(&b, NULL);
        ochsm_put_u64(&b, 1, type);
        rv = p11_call(OCHSM_OP_MECHANISM_INFO, &b, &r);
        if (rv == CKR_OK && p11_result_u64(&r, 6, &flags)) state = 1;
        else if (rv == CKR_MECHANISM_INVALID) state = 2;
        ochsm_response_free(&r);
        ochsm_builder_free(&b);
        if (state == 0) return rv == CKR_OK ? CKR_DEVICE_ERROR : rv;
        if (p11_lock() == CKR_OK) {
            int known = 0;
            for (size_t i = 0; i < g_mcache_n; i++) known |= g_mcache[i].type == type;
            if (!known && g_mcache_n < MECH_CACHE) {
                g_mcache[g_mcache_n].type = type;
                g_mcache[g_mcache_n].flags = flags;
                g_mcache[g_mcache_n].state = state;
                g_mcache_n++;
            }
            p11_unlock();
        }
    }
    if (state == 2 || (flags & needed) != needed) return CKR_MECHANISM_INVALID;
    return CKR_OK;
}
