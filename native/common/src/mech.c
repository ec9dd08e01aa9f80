/*
 * mech.c: the one encoder of the Mechanism record (ochsm_mech.h). A present
 * byte string of length 0 is sent as an empty field, as the caller gave it.
 */
#include "ochsm_mech.h"

static void put_b(ochsm_builder *b, uint16_t id, const ochsm_mechanism *m, uint32_t bit, const ochsm_bytes *v) {
    if (m->present & bit) ochsm_put_bytes(b, id, v->len ? v->p : (const uint8_t *)"", v->len);
}

static void put_n(ochsm_builder *b, uint16_t id, const ochsm_mechanism *m, uint32_t bit, uint64_t v) {
    if (m->present & bit) ochsm_put_u64(b, id, v);
}

void ochsm_put_mechanism(ochsm_builder *b, uint16_t id, const ochsm_mechanism *m) {
    ochsm_begin_record(b, id);
    ochsm_put_u64(b, OCHSM_REC_MECHANISM_MECHANISM, m->mechanism);
    put_b(b, OCHSM_REC_MECHANISM_IV, m, OCHSM_M_IV, &m->iv);
    put_n(b, OCHSM_REC_MECHANISM_COUNTER_BITS, m, OCHSM_M_COUNTER_BITS, m->counter_bits);
    put_b(b, OCHSM_REC_MECHANISM_AAD, m, OCHSM_M_AAD, &m->aad);
    put_n(b, OCHSM_REC_MECHANISM_TAG_BITS, m, OCHSM_M_TAG_BITS, m->tag_bits);
    put_n(b, OCHSM_REC_MECHANISM_HASH_ALG, m, OCHSM_M_HASH_ALG, m->hash_alg);
    put_n(b, OCHSM_REC_MECHANISM_MGF, m, OCHSM_M_MGF, m->mgf);
    put_n(b, OCHSM_REC_MECHANISM_SALT_LEN, m, OCHSM_M_SALT_LEN, m->salt_len);
    put_b(b, OCHSM_REC_MECHANISM_SOURCE_DATA, m, OCHSM_M_SOURCE_DATA, &m->source_data);
    put_n(b, OCHSM_REC_MECHANISM_KDF, m, OCHSM_M_KDF, m->kdf);
    put_b(b, OCHSM_REC_MECHANISM_SHARED_DATA, m, OCHSM_M_SHARED_DATA, &m->shared_data);
    put_b(b, OCHSM_REC_MECHANISM_PUBLIC_DATA, m, OCHSM_M_PUBLIC_DATA, &m->public_data);
    put_n(b, OCHSM_REC_MECHANISM_AES_KEY_BITS, m, OCHSM_M_AES_KEY_BITS, m->aes_key_bits);
    put_n(b, OCHSM_REC_MECHANISM_LENGTH, m, OCHSM_M_LENGTH, m->length);
    ochsm_end_record(b);
}
