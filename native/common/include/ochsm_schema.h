/*
 * ochsm_schema.h: the message schemas of docs/protocol.md §6 as data, the C
 * twin of OPS and NOTICES in packages/protocol/src/messages.ts.
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

/* Opcodes (§6.2). */
#define OCHSM_OP_HELLO 0x0001
#define OCHSM_OP_LOGIN 0x0010
#define OCHSM_OP_LOGOUT 0x0011
#define OCHSM_OP_LOGIN_STATUS 0x0012
#define OCHSM_OP_OPEN_SESSION 0x0020
#define OCHSM_OP_CLOSE_SESSION 0x0021
#define OCHSM_OP_CREATE_OBJECT 0x0100
#define OCHSM_OP_COPY_OBJECT 0x0101
#define OCHSM_OP_DESTROY_OBJECT 0x0102
#define OCHSM_OP_GET_ATTRIBUTE_VALUE 0x0103
#define OCHSM_OP_SET_ATTRIBUTE_VALUE 0x0104
#define OCHSM_OP_FIND_OBJECTS 0x0105
#define OCHSM_OP_SHARE_KEY 0x0106
#define OCHSM_OP_KEY_INFO 0x0107
#define OCHSM_OP_GENERATE_KEY 0x0200
#define OCHSM_OP_GENERATE_KEY_PAIR 0x0201
#define OCHSM_OP_SIGN 0x0202
#define OCHSM_OP_VERIFY 0x0203
#define OCHSM_OP_ENCRYPT 0x0204
#define OCHSM_OP_DECRYPT 0x0205
#define OCHSM_OP_DIGEST 0x0206
#define OCHSM_OP_WRAP_KEY 0x0207
#define OCHSM_OP_UNWRAP_KEY 0x0208
#define OCHSM_OP_DERIVE_KEY 0x0209
#define OCHSM_OP_GENERATE_RANDOM 0x020A
#define OCHSM_OP_MECHANISM_LIST 0x020B
#define OCHSM_OP_MECHANISM_INFO 0x020C
#define OCHSM_OP_CREATE_USER 0x0300
#define OCHSM_OP_DELETE_USER 0x0301
#define OCHSM_OP_CHANGE_PASSWORD 0x0302
#define OCHSM_OP_LIST_USERS 0x0303
#define OCHSM_OP_UNLOCK_USER 0x0304
#define OCHSM_OP_GET_CLUSTER_INFO 0x0400
#define OCHSM_OP_STATUS 0x0401
#define OCHSM_OP_AUDIT_RECORDS 0x0402
#define OCHSM_OP_AUDIT_VERIFY 0x0403
#define OCHSM_OP_GET_CERT_REQ 0x0404
#define OCHSM_OP_STORE_CERT 0x0405
#define OCHSM_OP_GET_CERT 0x0406
#define OCHSM_OP_BACKUP_PARTITION 0x0407
#define OCHSM_OP_RESTORE_PARTITION 0x0408

/* Notices (kind 3, server to client). */
#define OCHSM_NOTICE_LOGIN_CHANGED 0x0040
#define OCHSM_NOTICE_GOODBYE 0x0041

/* Field 255 of every mutating request: the idempotency key (§6). */
#define OCHSM_F_REQUEST_ID 255

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
