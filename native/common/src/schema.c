/*
 * schema.c: the opcode table of docs/protocol.md §6.2 (OPS and NOTICES of
 * packages/protocol/src/messages.ts, generated from it at build time by
 * native/common/gen/gen_schema.mjs) and the schema checks that messages.ts
 * applies after the TLV decoder. test_wire.c still compares the table with
 * messages.ts field by field.
 */
#include "ochsm_schema.h"

#include <stdio.h>
#include <string.h>

#define FLD(n, i, t, o, m, rn, rs) {n, i, t, o, m, rn, rs}

#define SCHEMA(name, ...)                                       \
    static const ochsm_field_spec name##_f[] = {__VA_ARGS__};   \
    static const ochsm_schema name = {name##_f, sizeof name##_f / sizeof name##_f[0]}

static const ochsm_schema EMPTY = {NULL, 0};

/* The records (§6.1), every request and response schema (§6.2), OPS and
 * NOTICES: generated at build time from messages.ts (native/common/gen). */
#include "ochsm_schema_tables.inc"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const ochsm_op *ochsm_ops(size_t *count) {
    if (count != NULL) *count = COUNT(OPS);
    return OPS;
}

const ochsm_op *ochsm_op_by_opcode(uint16_t opcode) {
    for (size_t i = 0; i < COUNT(OPS); i++) {
        if (OPS[i].opcode == opcode) return &OPS[i];
    }
    return NULL;
}

const ochsm_op *ochsm_op_by_name(const char *name) {
    if (name == NULL) return NULL;
    for (size_t i = 0; i < COUNT(OPS); i++) {
        if (strcmp(OPS[i].name, name) == 0) return &OPS[i];
    }
    return NULL;
}

const ochsm_notice_op *ochsm_notices(size_t *count) {
    if (count != NULL) *count = COUNT(NOTICES);
    return NOTICES;
}

const ochsm_notice_op *ochsm_notice_by_opcode(uint16_t opcode) {
    for (size_t i = 0; i < COUNT(NOTICES); i++) {
        if (NOTICES[i].opcode == opcode) return &NOTICES[i];
    }
    return NULL;
}

/* ───────────── checks (fieldsToObj of messages.ts) ───────────── */

static const ochsm_field_spec *spec_of(const ochsm_schema *s, uint16_t id, size_t *index) {
    for (size_t i = 0; i < s->count; i++) {
        if (s->fields[i].id == id) {
            *index = i;
            return &s->fields[i];
        }
    }
    return NULL;
}

static int check_max(uint32_t n, const ochsm_field_spec *sp, const char *where, ochsm_error *err) {
    if (sp->max != 0 && n > sp->max) {
        return ochsm_error_set(err, OCHSM_ERR_LIMIT, "%s: field %s (%u) has %u elements, more than %u", where, sp->name, sp->id, n,
                               sp->max);
    }
    return OCHSM_OK;
}

int ochsm_check_fields(const ochsm_schema *s, ochsm_reader *r, const char *where, ochsm_error *err) {
    unsigned char seen[64];
    ochsm_field f;
    char sub_where[256];
    int rc;
    if (s->count > sizeof seen) return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "%s: schema too large", where);
    memset(seen, 0, sizeof seen);
    for (;;) {
        int n = ochsm_reader_next(r, &f, err);
        if (n < 0) return r->status;
        if (n == 0) break;
        size_t idx = 0;
        const ochsm_field_spec *sp = spec_of(s, f.id, &idx);
        if (sp == NULL) return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "%s: unknown field %u", where, f.id);
        if (f.type != sp->type) {
            return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "%s: field %s (%u) must be of type %s, got %s", where, sp->name, sp->id,
                                   ochsm_type_name(sp->type), ochsm_type_name(f.type));
        }
        ochsm_iter it;
        ochsm_reader sub;
        uint64_t v;
        switch (f.type) {
        case OCHSM_T_U64:
            ochsm_field_u64(&f, &v);
            if (v > OCHSM_MAX_SAFE_INTEGER) {
                return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "%s: field %s (%u) is %llu, above 2^53-1", where, sp->name, sp->id,
                                       (unsigned long long)v);
            }
            break;
        case OCHSM_T_U64LIST:
            if ((rc = check_max(f.count, sp, where, err))) return rc;
            ochsm_field_iter(&f, &it);
            while (ochsm_iter_u64(&it, &v) == 1) {
                if (v > OCHSM_MAX_SAFE_INTEGER) {
                    return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "%s: field %s (%u) element is %llu, above 2^53-1", where, sp->name,
                                           sp->id, (unsigned long long)v);
                }
            }
            break;
        case OCHSM_T_ATTRS:
        case OCHSM_T_STRINGS:
            if ((rc = check_max(f.count, sp, where, err))) return rc;
            break;
        case OCHSM_T_RECORD:
            ochsm_field_record(&f, &sub);
            snprintf(sub_where, sizeof sub_where, "%s.%s", where, sp->name);
            if ((rc = ochsm_check_fields(sp->fields, &sub, sub_where, err))) return rc;
            break;
        case OCHSM_T_RECORDS: {
            if ((rc = check_max(f.count, sp, where, err))) return rc;
            ochsm_field_iter(&f, &it);
            unsigned i = 0;
            while (ochsm_iter_record(&it, &sub) == 1) {
                snprintf(sub_where, sizeof sub_where, "%s.%s[%u]", where, sp->name, i++);
                if ((rc = ochsm_check_fields(sp->fields, &sub, sub_where, err))) return rc;
            }
            break;
        }
        default:
            break;
        }
        seen[idx] = 1;
    }
    for (size_t i = 0; i < s->count; i++) {
        if (!s->fields[i].optional && !seen[i]) {
            return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "%s: missing required field %s (%u)", where, s->fields[i].name,
                                   s->fields[i].id);
        }
    }
    return OCHSM_OK;
}

int ochsm_check_request(uint16_t opcode, const void *body, size_t len, const ochsm_limits *limits, ochsm_error *err) {
    const ochsm_op *op = ochsm_op_by_opcode(opcode);
    if (op == NULL) return ochsm_error_set(err, OCHSM_ERR_FUNCTION_NOT_SUPPORTED, "opcode 0x%04x is not supported", opcode);
    int rc = ochsm_body_validate(body, len, limits, err);
    if (rc != OCHSM_OK) return rc;
    ochsm_reader r;
    char where[64];
    ochsm_reader_init(&r, body, len, limits, NULL);
    snprintf(where, sizeof where, "%s request", op->name);
    return ochsm_check_fields(op->request, &r, where, err);
}

int ochsm_check_response(uint16_t opcode, const void *body, size_t len, const ochsm_limits *limits, uint64_t *rv,
                         ochsm_error *err) {
    int rc = ochsm_body_validate(body, len, limits, err);
    if (rc != OCHSM_OK) return rc;
    ochsm_reader r;
    ochsm_field f;
    uint64_t v;
    ochsm_reader_init(&r, body, len, limits, NULL);
    if (ochsm_reader_next(&r, &f, NULL) != 1 || f.id != OCHSM_F_RV || f.type != OCHSM_T_U64) {
        return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "response: field rv (1) must come first, as a u64");
    }
    ochsm_field_u64(&f, &v);
    if (v != 0) {
        if (ochsm_reader_next(&r, &f, NULL) != 1 || f.id != OCHSM_F_CODE || f.type != OCHSM_T_STRING) {
            return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "error response: field code (2) must be a string");
        }
        if (ochsm_reader_next(&r, &f, NULL) != 1 || f.id != OCHSM_F_MESSAGE || f.type != OCHSM_T_STRING) {
            return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "error response: field message (3) must be a string");
        }
        if (ochsm_reader_next(&r, &f, NULL) == 1) {
            return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "error response: unknown field %u", f.id);
        }
        if (v > OCHSM_MAX_SAFE_INTEGER) {
            return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "response: field rv (1) is %llu, above 2^53-1", (unsigned long long)v);
        }
        if (rv != NULL) *rv = v;
        return OCHSM_OK;
    }
    const ochsm_op *op = ochsm_op_by_opcode(opcode);
    if (op == NULL) return ochsm_error_set(err, OCHSM_ERR_PROTOCOL, "success response to unknown opcode 0x%04x", opcode);
    char where[64];
    snprintf(where, sizeof where, "%s response", op->name);
    rc = ochsm_check_fields(op->response, &r, where, err);
    if (rc == OCHSM_OK && rv != NULL) *rv = 0;
    return rc;
}

int ochsm_check_notice(uint16_t opcode, const void *body, size_t len, const ochsm_limits *limits, ochsm_error *err) {
    int rc = ochsm_body_validate(body, len, limits, err);
    if (rc != OCHSM_OK) return rc;
    const ochsm_notice_op *n = ochsm_notice_by_opcode(opcode);
    if (n == NULL) return OCHSM_OK;
    ochsm_reader r;
    char where[64];
    ochsm_reader_init(&r, body, len, limits, NULL);
    snprintf(where, sizeof where, "%s notice", n->name);
    return ochsm_check_fields(n->fields, &r, where, err);
}
