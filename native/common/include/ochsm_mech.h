/*
 * ochsm_mech.h: the protocol's Mechanism record (docs/protocol.md §6.1) — a
 * CK_MECHANISM with its parameters flattened — and its one encoder, shared by
 * the PKCS #11 module, the OpenSSL engine and the OpenSSL provider. Each
 * adapter fills the struct from what its API gives it (a CK_MECHANISM and its
 * parameter structure; an OpenSSL padding mode) and calls
 * ochsm_put_mechanism; which fields exist and their ids come from the
 * generated schema (OCHSM_REC_MECHANISM_*). Byte strings are borrowed: they
 * must live until the request is built.
 */
#ifndef OCHSM_MECH_H
#define OCHSM_MECH_H

#include "ochsm_schema.h"
#include "ochsm_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which optional fields are present (ochsm_mechanism.present). */
enum {
    OCHSM_M_IV = 1u << 0,
    OCHSM_M_COUNTER_BITS = 1u << 1,
    OCHSM_M_AAD = 1u << 2,
    OCHSM_M_TAG_BITS = 1u << 3,
    OCHSM_M_HASH_ALG = 1u << 4,
    OCHSM_M_MGF = 1u << 5,
    OCHSM_M_SALT_LEN = 1u << 6,
    OCHSM_M_SOURCE_DATA = 1u << 7,
    OCHSM_M_KDF = 1u << 8,
    OCHSM_M_SHARED_DATA = 1u << 9,
    OCHSM_M_PUBLIC_DATA = 1u << 10,
    OCHSM_M_AES_KEY_BITS = 1u << 11,
    OCHSM_M_LENGTH = 1u << 12
};

typedef struct ochsm_bytes {
    const uint8_t *p;
    size_t len;
} ochsm_bytes;

typedef struct ochsm_mechanism {
    uint64_t mechanism; /* CKM_* */
    uint32_t present;   /* OCHSM_M_* */
    ochsm_bytes iv, aad, source_data, shared_data, public_data;
    uint64_t counter_bits, tag_bits, hash_alg, mgf, salt_len, kdf, aes_key_bits, length;
} ochsm_mechanism;

/* Append m as record field id (errors are the builder's, sticky). */
void ochsm_put_mechanism(ochsm_builder *b, uint16_t id, const ochsm_mechanism *m);

#ifdef __cplusplus
}
#endif

#endif /* OCHSM_MECH_H */
