/*
 * schema.c: the opcode table of docs/protocol.md §6.2 (OPS and NOTICES of
 * packages/protocol/src/messages.ts) and the schema checks that messages.ts
 * applies after the TLV decoder. test_wire.c compares this table with
 * messages.ts field by field.
 */
#include "ochsm_schema.h"

#include <stdio.h>
#include <string.h>

#define FLD(n, i, t, o, m, rn, rs) {n, i, t, o, m, rn, rs}
#define U64(n, i) FLD(n, i, OCHSM_T_U64, 0, 0, NULL, NULL)
#define U64_(n, i) FLD(n, i, OCHSM_T_U64, 1, 0, NULL, NULL)
#define BYTES(n, i) FLD(n, i, OCHSM_T_BYTES, 0, 0, NULL, NULL)
#define BYTES_(n, i) FLD(n, i, OCHSM_T_BYTES, 1, 0, NULL, NULL)
#define STR(n, i) FLD(n, i, OCHSM_T_STRING, 0, 0, NULL, NULL)
#define STR_(n, i) FLD(n, i, OCHSM_T_STRING, 1, 0, NULL, NULL)
#define BOOL(n, i) FLD(n, i, OCHSM_T_BOOL, 0, 0, NULL, NULL)
#define BOOL_(n, i) FLD(n, i, OCHSM_T_BOOL, 1, 0, NULL, NULL)
#define ATTRS(n, i) FLD(n, i, OCHSM_T_ATTRS, 0, 0, NULL, NULL)
#define U64S(n, i, m) FLD(n, i, OCHSM_T_U64LIST, 0, m, NULL, NULL)
#define U64S_(n, i, m) FLD(n, i, OCHSM_T_U64LIST, 1, m, NULL, NULL)
#define STRS(n, i, m) FLD(n, i, OCHSM_T_STRINGS, 0, m, NULL, NULL)
#define REC(n, i, rn, rs) FLD(n, i, OCHSM_T_RECORD, 0, 0, rn, &rs)
#define RECS(n, i, rn, rs) FLD(n, i, OCHSM_T_RECORDS, 0, 0, rn, &rs)
#define RECS_(n, i, rn, rs) FLD(n, i, OCHSM_T_RECORDS, 1, 0, rn, &rs)
#define SESSION U64_("session", 1)
#define REQID STR_("requestId", OCHSM_F_REQUEST_ID)

#define SCHEMA(name, ...)                                       \
    static const ochsm_field_spec name##_f[] = {__VA_ARGS__};   \
    static const ochsm_schema name = {name##_f, sizeof name##_f / sizeof name##_f[0]}

static const ochsm_schema EMPTY = {NULL, 0};

/* ───────────── records (§6.1) ───────────── */

SCHEMA(MECHANISM, U64("mechanism", 1), BYTES_("iv", 2), U64_("counterBits", 3), BYTES_("aad", 4), U64_("tagBits", 5),
       U64_("hashAlg", 6), U64_("mgf", 7), U64_("saltLen", 8), BYTES_("sourceData", 9), U64_("kdf", 10),
       BYTES_("sharedData", 11), BYTES_("publicData", 12), U64_("aesKeyBits", 13), U64_("length", 14));
SCHEMA(USER_INFO, U64("id", 1), STR("user", 2), STR("role", 3), BOOL("locked", 4), U64("failures", 5));
SCHEMA(NODE_INFO, U64("id", 1), STR("hostname", 2), U64("port", 3));
SCHEMA(NODE_STATUS, U64("id", 1), STR("hostname", 2), U64("port", 3), STR("state", 4), U64_("inFlight", 5));
SCHEMA(AUDIT_RECORD, U64("seq", 1), U64("time", 2), STR("user", 3), STR("role", 4), STR("action", 5),
       U64S_("handles", 6, 0), U64_("mechanism", 7), STR_("detail", 8), STR("result", 9), STR("prev", 10),
       STR("hash", 11), U64_("node", 12));

#define MECH REC("mechanism", 2, "Mechanism", MECHANISM)

/* ───────────── requests and responses (§6.2) ───────────── */

SCHEMA(hello_q, U64S("versions", 1, 0), STR_("client", 2));
SCHEMA(hello_r, U64("version", 4), STR("server", 5), U64("maxBody", 6), U64_("node", 7));
SCHEMA(login_q, STR("user", 1), STR("password", 2), STR_("role", 3));
SCHEMA(login_r, STR("user", 4), STR("role", 5));
SCHEMA(loginStatus_r, BOOL("loggedIn", 4), STR_("user", 5), STR_("role", 6));
SCHEMA(openSession_q, U64_("flags", 1));
SCHEMA(openSession_r, U64("session", 4));
SCHEMA(closeSession_q, U64("session", 1));
SCHEMA(handle_r, U64("handle", 4));
SCHEMA(createObject_q, SESSION, ATTRS("template", 2), REQID);
SCHEMA(copyObject_q, SESSION, U64("handle", 2), ATTRS("template", 3), REQID);
SCHEMA(destroyObject_q, SESSION, U64("handle", 2), REQID);
SCHEMA(getAttributeValue_q, SESSION, U64("handle", 2), U64S("types", 3, 64));
SCHEMA(getAttributeValue_r, ATTRS("attributes", 4), U64S("rvs", 5, 0));
SCHEMA(setAttributeValue_q, SESSION, U64("handle", 2), ATTRS("template", 3), REQID);
SCHEMA(findObjects_q, SESSION, ATTRS("template", 2));
SCHEMA(findObjects_r, U64S("handles", 4, 0));
SCHEMA(shareKey_q, SESSION, U64("handle", 2), STRS("users", 3, 64), BOOL("share", 4), REQID);
SCHEMA(shareKey_r, STRS("shared", 4, 0));
SCHEMA(keyInfo_q, SESSION, U64("handle", 2));
SCHEMA(keyInfo_r, STR("owner", 4), STRS("shared", 5, 0), BOOL("token", 6));
SCHEMA(generateKey_q, SESSION, MECH, ATTRS("template", 3), REQID);
SCHEMA(generateKeyPair_q, SESSION, MECH, ATTRS("publicTemplate", 3), ATTRS("privateTemplate", 4), REQID);
SCHEMA(generateKeyPair_r, U64("publicHandle", 4), U64("privateHandle", 5));
SCHEMA(sign_q, SESSION, MECH, U64("handle", 3), BYTES("data", 4));
SCHEMA(sign_r, BYTES("signature", 4));
SCHEMA(verify_q, SESSION, MECH, U64("handle", 3), BYTES("data", 4), BYTES("signature", 5));
SCHEMA(crypt_q, SESSION, MECH, U64("handle", 3), BYTES("data", 4));
SCHEMA(data_r, BYTES("data", 4));
SCHEMA(digest_q, SESSION, MECH, BYTES("data", 3));
SCHEMA(digest_r, BYTES("digest", 4));
SCHEMA(wrapKey_q, SESSION, MECH, U64("wrappingHandle", 3), U64("keyHandle", 4));
SCHEMA(wrapKey_r, BYTES("wrapped", 4));
SCHEMA(unwrapKey_q, SESSION, MECH, U64("unwrappingHandle", 3), BYTES("wrapped", 4), ATTRS("template", 5), REQID);
SCHEMA(deriveKey_q, SESSION, MECH, U64("baseHandle", 3), ATTRS("template", 4), REQID);
SCHEMA(generateRandom_q, SESSION, U64("length", 2));
SCHEMA(mechanismList_r, U64S("mechanisms", 4, 0));
SCHEMA(mechanismInfo_q, U64("mechanism", 1));
SCHEMA(mechanismInfo_r, U64("minKeySize", 4), U64("maxKeySize", 5), U64("flags", 6));
SCHEMA(createUser_q, STR("role", 1), STR("user", 2), STR("password", 3), REQID);
SCHEMA(user_r, REC("user", 4, "UserInfo", USER_INFO));
SCHEMA(deleteUser_q, STR("user", 1), REQID);
SCHEMA(changePassword_q, STR_("role", 1), STR("user", 2), STR("password", 3), REQID);
SCHEMA(listUsers_r, RECS("users", 4, "UserInfo", USER_INFO));
SCHEMA(unlockUser_q, STR("user", 1), REQID);
SCHEMA(getClusterInfo_r, RECS("nodes", 4, "NodeInfo", NODE_INFO));
SCHEMA(status_r, STR("component", 4), STR("version", 5), U64("uptime", 6), STR_("partitionState", 7),
       RECS_("nodes", 8, "NodeStatus", NODE_STATUS), BOOL_("loggedIn", 9), STR_("user", 10), STR_("role", 11),
       STR_("sessionMode", 12), U64_("inFlight", 13), U64_("applications", 14));
SCHEMA(auditRecords_q, U64_("fromSeq", 1), U64_("limit", 2), STR_("chain", 3));
SCHEMA(auditVerify_q, STR_("chain", 1));
SCHEMA(auditRecords_r, RECS("records", 4, "AuditRecord", AUDIT_RECORD));
SCHEMA(auditVerify_r, BOOL("ok", 4), U64("records", 5), U64_("brokenAt", 6), STR_("reason", 7), U64_("node", 8));
SCHEMA(getCertReq_r, BYTES("csr", 4));
SCHEMA(storeCert_q, U64("slot", 1), BYTES("cert", 2), REQID);
SCHEMA(getCert_q, U64("slot", 1));
SCHEMA(getCert_r, BYTES("cert", 4));
SCHEMA(backupPartition_r, BYTES("backup", 4), U64("entries", 5), U64("auditSeq", 6));
SCHEMA(restorePartition_q, BYTES("backup", 1), REQID);
SCHEMA(restorePartition_r, U64("entries", 4), U64("auditSeq", 5));

static const ochsm_op OPS[] = {
    {"hello", OCHSM_OP_HELLO, 0, &hello_q, &hello_r},
    {"login", OCHSM_OP_LOGIN, 0, &login_q, &login_r},
    {"logout", OCHSM_OP_LOGOUT, 0, &EMPTY, &EMPTY},
    {"loginStatus", OCHSM_OP_LOGIN_STATUS, 0, &EMPTY, &loginStatus_r},
    {"openSession", OCHSM_OP_OPEN_SESSION, 0, &openSession_q, &openSession_r},
    {"closeSession", OCHSM_OP_CLOSE_SESSION, 0, &closeSession_q, &EMPTY},
    {"createObject", OCHSM_OP_CREATE_OBJECT, 1, &createObject_q, &handle_r},
    {"copyObject", OCHSM_OP_COPY_OBJECT, 1, &copyObject_q, &handle_r},
    {"destroyObject", OCHSM_OP_DESTROY_OBJECT, 1, &destroyObject_q, &EMPTY},
    {"getAttributeValue", OCHSM_OP_GET_ATTRIBUTE_VALUE, 0, &getAttributeValue_q, &getAttributeValue_r},
    {"setAttributeValue", OCHSM_OP_SET_ATTRIBUTE_VALUE, 1, &setAttributeValue_q, &EMPTY},
    {"findObjects", OCHSM_OP_FIND_OBJECTS, 0, &findObjects_q, &findObjects_r},
    {"shareKey", OCHSM_OP_SHARE_KEY, 1, &shareKey_q, &shareKey_r},
    {"keyInfo", OCHSM_OP_KEY_INFO, 0, &keyInfo_q, &keyInfo_r},
    {"generateKey", OCHSM_OP_GENERATE_KEY, 1, &generateKey_q, &handle_r},
    {"generateKeyPair", OCHSM_OP_GENERATE_KEY_PAIR, 1, &generateKeyPair_q, &generateKeyPair_r},
    {"sign", OCHSM_OP_SIGN, 0, &sign_q, &sign_r},
    {"verify", OCHSM_OP_VERIFY, 0, &verify_q, &EMPTY},
    {"encrypt", OCHSM_OP_ENCRYPT, 0, &crypt_q, &data_r},
    {"decrypt", OCHSM_OP_DECRYPT, 0, &crypt_q, &data_r},
    {"digest", OCHSM_OP_DIGEST, 0, &digest_q, &digest_r},
    {"wrapKey", OCHSM_OP_WRAP_KEY, 0, &wrapKey_q, &wrapKey_r},
    {"unwrapKey", OCHSM_OP_UNWRAP_KEY, 1, &unwrapKey_q, &handle_r},
    {"deriveKey", OCHSM_OP_DERIVE_KEY, 1, &deriveKey_q, &handle_r},
    {"generateRandom", OCHSM_OP_GENERATE_RANDOM, 0, &generateRandom_q, &data_r},
    {"mechanismList", OCHSM_OP_MECHANISM_LIST, 0, &EMPTY, &mechanismList_r},
    {"mechanismInfo", OCHSM_OP_MECHANISM_INFO, 0, &mechanismInfo_q, &mechanismInfo_r},
    {"createUser", OCHSM_OP_CREATE_USER, 1, &createUser_q, &user_r},
    {"deleteUser", OCHSM_OP_DELETE_USER, 1, &deleteUser_q, &EMPTY},
    {"changePassword", OCHSM_OP_CHANGE_PASSWORD, 1, &changePassword_q, &user_r},
    {"listUsers", OCHSM_OP_LIST_USERS, 0, &EMPTY, &listUsers_r},
    {"unlockUser", OCHSM_OP_UNLOCK_USER, 1, &unlockUser_q, &user_r},
    {"getClusterInfo", OCHSM_OP_GET_CLUSTER_INFO, 0, &EMPTY, &getClusterInfo_r},
    {"status", OCHSM_OP_STATUS, 0, &EMPTY, &status_r},
    {"auditRecords", OCHSM_OP_AUDIT_RECORDS, 0, &auditRecords_q, &auditRecords_r},
    {"auditVerify", OCHSM_OP_AUDIT_VERIFY, 0, &auditVerify_q, &auditVerify_r},
    {"getCertReq", OCHSM_OP_GET_CERT_REQ, 0, &EMPTY, &getCertReq_r},
    {"storeCert", OCHSM_OP_STORE_CERT, 1, &storeCert_q, &EMPTY},
    {"getCert", OCHSM_OP_GET_CERT, 0, &getCert_q, &getCert_r},
    {"backupPartition", OCHSM_OP_BACKUP_PARTITION, 0, &EMPTY, &backupPartition_r},
    {"restorePartition", OCHSM_OP_RESTORE_PARTITION, 1, &restorePartition_q, &restorePartition_r},
};

SCHEMA(loginChanged_n, BOOL("loggedIn", 1), STR_("user", 2), STR_("role", 3));
SCHEMA(goodbye_n, STR("reason", 1));

static const ochsm_notice_op NOTICES[] = {
    {"loginChanged", OCHSM_NOTICE_LOGIN_CHANGED, &loginChanged_n},
    {"goodbye", OCHSM_NOTICE_GOODBYE, &goodbye_n},
};

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
