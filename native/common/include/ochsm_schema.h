/*
 * ochsm_schema.h: the message schemas of docs/protocol.md §6 as data, the C
 * twin of OPS and NOTICES in packages/protocol/src/messages.ts, generated from
 * it at build time (native/common/gen/gen_schema.mjs).
 *
 * The table says which fields each request, response and notice carries (id,
 * type, optional, per-field list bound). It is checked against messages.ts by
 * native/common/test/test_wire.c (via gen_vectors.mjs), so the two cannot
 * drift apart. The checks mirror messages.ts (decodeRequest,
 * decodeResponseMessage, decodeNotice): unknown field, wrong type, number
 * above 2^53-1, per-field list bound, missing required field. This is format,
 * not policy: nothing here knows what an operation does.
 */
#ifndef OCHSM_SCHEMA_H
#define OCHSM_SCHEMA_H

#include "ochsm_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opcodes (OCHSM_OP_*), notices (OCHSM_NOTICE_*), OCHSM_F_REQUEST_ID and the
 * field ids of every request (OCHSM_Q_<OP>_<FIELD>), response
 * (OCHSM_R_<OP>_<FIELD>), notice (OCHSM_N_*) and record (OCHSM_REC_*),
 * generated at build time from messages.ts into dist/native/gen (make native). */
#include "ochsm_schema_gen.h"

/* Numbers above this are refused (ERR_ARGUMENTS_BAD), as the TypeScript side does. */
#define OCHSM_MAX_SAFE_INTEGER 9007199254740991ULL

typedef struct ochsm_schema ochsm_schema;

typedef struct ochsm_field_spec {
    const char *name;             /* as in messages.ts */
    uint16_t id;
    uint8_t type;                 /* OCHSM_T_* */
    uint8_t optional;
    uint32_t max;                 /* per-field list bound, 0 = only the codec limit */
    const char *record;           /* record and record[]: the record's name (§6.1) */
    const ochsm_schema *fields;   /* record and record[]: its schema */
} ochsm_field_spec;

struct ochsm_schema {
    const ochsm_field_spec *fields; /* ascending id */
    size_t count;
};

typedef struct ochsm_op {
    const char *name;
    uint16_t opcode;
    uint8_t mutating;
    const ochsm_schema *request;
    const ochsm_schema *response; /* result fields (ids >= 4) */
} ochsm_op;

typedef struct ochsm_notice_op {
    const char *name;
    uint16_t opcode;
    const ochsm_schema *fields;
} ochsm_notice_op;

const ochsm_op *ochsm_ops(size_t *count);
const ochsm_op *ochsm_op_by_opcode(uint16_t opcode);
const ochsm_op *ochsm_op_by_name(const char *name);
const ochsm_notice_op *ochsm_notices(size_t *count);
const ochsm_notice_op *ochsm_notice_by_opcode(uint16_t opcode);

/*
 * A request body for opcode: unknown opcode ERR_FUNCTION_NOT_SUPPORTED; then
 * the TLV structure (ERR_PROTOCOL / ERR_LIMIT); then the schema
 * (ERR_ARGUMENTS_BAD, or ERR_LIMIT for a per-field bound).
 */
int ochsm_check_request(uint16_t opcode, const void *body, size_t len, const ochsm_limits *limits, ochsm_error *err);

/*
 * A response body: TLV structure; field 1 rv (u64) first; an error (rv != 0)
 * holds exactly code (2) and message (3) strings; a success holds the result
 * fields of opcode's schema (a success to an unknown opcode is ERR_PROTOCOL).
 * *rv (if not NULL) receives rv when the body is well formed.
 */
int ochsm_check_response(uint16_t opcode, const void *body, size_t len, const ochsm_limits *limits, uint64_t *rv,
                         ochsm_error *err);

/* A notice body. A notice opcode this version does not know is OK after the
 * TLV check (a client ignores it): use ochsm_notice_by_opcode to tell. */
int ochsm_check_notice(uint16_t opcode, const void *body, size_t len, const ochsm_limits *limits, ochsm_error *err);

/* Check the fields that remain in r against schema s; where names the message in errors. */
int ochsm_check_fields(const ochsm_schema *s, ochsm_reader *r, const char *where, ochsm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* OCHSM_SCHEMA_H */
