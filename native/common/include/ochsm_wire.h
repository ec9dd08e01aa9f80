/*
 * ochsm_wire.h: the wire codec of docs/protocol.md (version 1) in C.
 *
 *  - frame header encode/decode (§2), a whole-frame decoder and an
 *    incremental frame reader for byte streams;
 *  - a TLV body builder (§3) that refuses out-of-order field ids, so that
 *    what it produces is canonical;
 *  - a strict body parser: every field is fully checked (§3 order of checks,
 *    §4 limits against the bytes that remain) before it is returned, and
 *    nothing is allocated for a length or count that has not been checked;
 *  - big-endian helpers that never load through a cast pointer.
 *
 * No policy: this file knows the byte format and nothing about what an HSM
 * operation means. The opcode schemas live in ochsm_schema.h.
 *
 * Thread safety: no global mutable state. A builder, reader or frame reader
 * belongs to one thread at a time.
 */
#ifndef OCHSM_WIRE_H
#define OCHSM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ───────────────────────────── status codes ───────────────────────────── */

/*
 * Every function that can fail returns one of these (OCHSM_OK is 0) and, when
 * given an ochsm_error, fills it with the same code and a message for humans.
 * The first four are the codec codes of docs/protocol.md §5.2.
 */
typedef enum ochsm_status {
    OCHSM_OK = 0,
    OCHSM_ERR_PROTOCOL = 1,               /* bytes that are not a well-formed frame or body */
    OCHSM_ERR_LIMIT = 2,                  /* a limit of §4 (or a per-field limit of §6) exceeded */
    OCHSM_ERR_ARGUMENTS_BAD = 3,          /* well formed, but not the opcode's schema; or a bad argument */
    OCHSM_ERR_FUNCTION_NOT_SUPPORTED = 4, /* unknown request opcode */
    OCHSM_ERR_NO_MEMORY = 5,              /* malloc failed */
    OCHSM_ERR_DEVICE = 6,                 /* the connection to the daemon failed, closed, or is unusable */
    OCHSM_ERR_TIMEOUT = 7,                /* no answer within the call's timeout */
    OCHSM_ERR_CONNECT = 8,                /* could not connect to the daemon (is it running?) */
    OCHSM_ERR_CONFIG = 9,                 /* a configuration file is invalid */
    OCHSM_ERR_NOT_FOUND = 10              /* a configuration file was not found */
} ochsm_status;

#define OCHSM_ERROR_MESSAGE_MAX 1024

typedef struct ochsm_error {
    int code;                               /* an ochsm_status */
    char message[OCHSM_ERROR_MESSAGE_MAX];  /* NUL-terminated, possibly cut short */
} ochsm_error;

/* "ERR_PROTOCOL", "ERR_LIMIT", ... ("OK" for OCHSM_OK); never NULL. */
const char *ochsm_status_name(int status);

/*
 * The CK_RV that a PKCS#11 edge reports for a local failure of this status:
 * PROTOCOL/LIMIT/ARGUMENTS_BAD 0x7, FUNCTION_NOT_SUPPORTED 0x54, NO_MEMORY 0x2
 * (CKR_HOST_MEMORY), DEVICE/TIMEOUT 0x30 (CKR_DEVICE_ERROR), CONNECT/CONFIG/
 * NOT_FOUND 0x5 (CKR_GENERAL_ERROR), OK 0.
 */
uint64_t ochsm_status_ckr(int status);

/* Set err (if not NULL) and return code. printf-style. */
int ochsm_error_set(ochsm_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ─────────────────────────────── constants ─────────────────────────────── */

#define OCHSM_MAGIC0 0x4F /* 'O' */
#define OCHSM_MAGIC1 0x48 /* 'H' */
#define OCHSM_PROTOCOL_VERSION 1
#define OCHSM_HEADER_BYTES 16
#define OCHSM_FIELD_HEADER_BYTES 7

#define OCHSM_KIND_REQUEST 1
#define OCHSM_KIND_RESPONSE 2
#define OCHSM_KIND_NOTICE 3

/* Field types (§3). */
#define OCHSM_T_U64 1
#define OCHSM_T_BYTES 2
#define OCHSM_T_STRING 3
#define OCHSM_T_BOOL 4
#define OCHSM_T_ATTRS 5
#define OCHSM_T_U64LIST 6
#define OCHSM_T_RECORD 7
#define OCHSM_T_RECORDS 8
#define OCHSM_T_STRINGS 9

/* Response fields 1-3 (§5.1). */
#define OCHSM_F_RV 1
#define OCHSM_F_CODE 2
#define OCHSM_F_MESSAGE 3

/* "u64", "bytes", ... (the names of messages.ts); "?" for an unknown type. */
const char *ochsm_type_name(int type);

/* ───────────────────────────────── limits ───────────────────────────────── */

/* §4. A limit may be lowered, never raised: a value above its default is
 * treated as the default (ochsm_limits_resolve). */
typedef struct ochsm_limits {
    uint32_t max_body_bytes;      /* 16 MiB */
    uint32_t max_fields;          /* 256 per body */
    uint32_t max_attributes;      /* 64 per attrs field */
    uint32_t max_attribute_bytes; /* 65536 per attribute value */
    uint32_t max_string_bytes;    /* 4096 */
    uint32_t max_depth;           /* 4 */
    uint32_t max_list_length;     /* 65536 */
} ochsm_limits;

extern const ochsm_limits ochsm_default_limits;

/* l with every value clamped to its default; NULL gives the defaults. */
ochsm_limits ochsm_limits_resolve(const ochsm_limits *l);

/* ───────────────────────────── big-endian helpers ───────────────────────────── */

static inline void ochsm_be16_put(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void ochsm_be32_put(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void ochsm_be64_put(uint8_t *p, uint64_t v) {
    ochsm_be32_put(p, (uint32_t)(v >> 32));
    ochsm_be32_put(p + 4, (uint32_t)v);
}
static inline uint16_t ochsm_be16_get(const uint8_t *p) {
    return (uint16_t)(((unsigned)p[0] << 8) | (unsigned)p[1]);
}
static inline uint32_t ochsm_be32_get(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint64_t ochsm_be64_get(const uint8_t *p) {
    return ((uint64_t)ochsm_be32_get(p) << 32) | (uint64_t)ochsm_be32_get(p + 4);
}

/* ─────────────────────────────── frame header ─────────────────────────────── */

typedef struct ochsm_header {
    uint8_t kind;        /* OCHSM_KIND_* */
    uint32_t request_id; /* != 0 for requests and responses, 0 for notices */
    uint16_t opcode;
    uint16_t flags;      /* 0 in version 1 */
    uint32_t body_len;
} ochsm_header;

/* Write the 16 header bytes. Refuses (ARGUMENTS_BAD) a bad kind, a broken
 * request id rule or flags != 0, and (LIMIT) a body over max_body_bytes. */
int ochsm_header_encode(const ochsm_header *h, uint8_t out[OCHSM_HEADER_BYTES], const ochsm_limits *limits,
                        ochsm_error *err);

/* Check the first n (< 16) bytes of a header as they arrive: magic, version,
 * kind (§2). OK when nothing seen so far is wrong. */
int ochsm_header_check_prefix(const uint8_t *b, size_t n, ochsm_error *err);

/*
 * Parse and check a complete header (n >= 16; fewer is a truncated header).
 * Order: magic, version, kind, flags, request id rule, body length limit.
 * When only the body length is refused (ERR_LIMIT), *h is filled so that a
 * server can answer that request id (§5.3 case 2).
 */
int ochsm_header_decode(const uint8_t *b, size_t n, const ochsm_limits *limits, ochsm_header *h, ochsm_error *err);

/* Decode exactly one whole frame: the header, then a body of exactly the
 * declared length (truncated or trailing bytes: ERR_PROTOCOL). *body points
 * into buf. */
int ochsm_frame_decode(const uint8_t *buf, size_t len, const ochsm_limits *limits, ochsm_header *h,
                       const uint8_t **body, ochsm_error *err);

/*
 * An incremental frame reader for a byte stream. Push what arrives; the
 * header is checked as its bytes arrive and the body is allocated only once
 * the header (and its length against the limit) is accepted. After an error
 * the reader stays failed.
 */
typedef struct ochsm_frame_reader {
    ochsm_limits limits;
    uint8_t hdr[OCHSM_HEADER_BYTES];
    size_t hdr_len;
    ochsm_header h;
    uint8_t *body;    /* malloc'd once the header is accepted */
    size_t body_got;
    int ready;        /* a whole frame is waiting for ochsm_frame_reader_take */
    int failed;       /* the status of the first error, else 0 */
} ochsm_frame_reader;

void ochsm_frame_reader_init(ochsm_frame_reader *r, const ochsm_limits *limits);
void ochsm_frame_reader_free(ochsm_frame_reader *r);
/*
 * Consume bytes from data[0..len). Stops after a whole frame: returns 1 (take
 * it, then push the rest: *consumed says how much was used), 0 when all of
 * data was consumed without completing a frame, or -1 on error (err filled).
 */
int ochsm_frame_reader_push(ochsm_frame_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                            ochsm_error *err);
/* Take the completed frame: *body is malloc'd (free it; non-NULL even when empty). */
void ochsm_frame_reader_take(ochsm_frame_reader *r, ochsm_header *h, uint8_t **body, size_t *body_len);
/* The stream ended: OK unless a partial frame is buffered (ERR_PROTOCOL). */
int ochsm_frame_reader_end(ochsm_frame_reader *r, ochsm_error *err);

/* ────────────────────────────── body builder ────────────────────────────── */

/* An attribute as CK_ATTRIBUTE carries it (the value bytes travel as they are). */
typedef struct ochsm_attr {
    uint32_t type;
    uint32_t len;
    const void *value; /* may be NULL only when len is 0 */
} ochsm_attr;

#define OCHSM_BUILDER_STACK 10 /* 2 entries per level of max_depth (4), and the top */

/*
 * Builds one body. Errors are sticky: after the first failure every call
 * returns that failure and ochsm_builder_finish reports it, so a caller may
 * append a whole message and check once. Each body's field ids must be
 * strictly ascending (ARGUMENTS_BAD otherwise). Limits are checked as values
 * are added (LIMIT), strings must be valid UTF-8 (ARGUMENTS_BAD).
 */
typedef struct ochsm_builder {
    uint8_t *data;
    size_t len, cap;
    ochsm_limits limits;
    int status;
    ochsm_error err;
    unsigned top; /* entries used in stack; stack[0] is the top-level body */
    struct {
        uint8_t kind;     /* body, record list */
        uint16_t prev_id; /* bodies: the last field id written */
        uint32_t nfields; /* bodies: fields written */
        uint32_t count;   /* lists: records written */
        size_t len_at;    /* where the enclosing length placeholder is */
        size_t start;     /* first byte that the length covers */
        size_t count_at;  /* lists: the count placeholder */
    } stack[OCHSM_BUILDER_STACK];
} ochsm_builder;

void ochsm_builder_init(ochsm_builder *b, const ochsm_limits *limits);
void ochsm_builder_free(ochsm_builder *b);
/* Start over (keeps the allocation). */
void ochsm_builder_reset(ochsm_builder *b);

int ochsm_put_u64(ochsm_builder *b, uint16_t id, uint64_t v);
int ochsm_put_bytes(ochsm_builder *b, uint16_t id, const void *p, size_t len);
/* s is NUL-terminated. */
int ochsm_put_string(ochsm_builder *b, uint16_t id, const char *s);
int ochsm_put_string_n(ochsm_builder *b, uint16_t id, const char *s, size_t len);
int ochsm_put_bool(ochsm_builder *b, uint16_t id, int v);
int ochsm_put_attrs(ochsm_builder *b, uint16_t id, const ochsm_attr *attrs, size_t count);
int ochsm_put_u64_list(ochsm_builder *b, uint16_t id, const uint64_t *v, size_t count);
/* NUL-terminated strings. */
int ochsm_put_string_list(ochsm_builder *b, uint16_t id, const char *const *s, size_t count);
/* Strings with lengths (they may contain U+0000). */
int ochsm_put_string_list_n(ochsm_builder *b, uint16_t id, const char *const *s, const size_t *lens, size_t count);

/* A record field: begin, put its fields (ids from 1 again), end. */
int ochsm_begin_record(ochsm_builder *b, uint16_t id);
int ochsm_end_record(ochsm_builder *b);
/* A record[] field: begin the list; for each element begin_item, fields, end_item; end the list. */
int ochsm_begin_record_list(ochsm_builder *b, uint16_t id);
int ochsm_begin_record_item(ochsm_builder *b);
int ochsm_end_record_item(ochsm_builder *b);
int ochsm_end_record_list(ochsm_builder *b);

/* The finished body (owned by the builder; valid until reset or free). Every
 * record must be closed. */
int ochsm_builder_finish(ochsm_builder *b, const uint8_t **body, size_t *len, ochsm_error *err);

/* ────────────────────────────── body parser ────────────────────────────── */

/* Iterates the fields of one body; see ochsm_reader_next. */
typedef struct ochsm_reader {
    const uint8_t *body;
    size_t len;
    size_t off;
    uint16_t prev_id;
    uint32_t nfields;
    uint32_t depth;
    ochsm_limits limits;
    int status; /* sticky: the first error */
} ochsm_reader;

/* One field, fully checked. value points into the body. */
typedef struct ochsm_field {
    uint16_t id;
    uint8_t type;
    uint32_t len;          /* value bytes */
    const uint8_t *value;
    uint32_t count;        /* attrs, u64[], record[], string[]: elements */
    uint32_t depth;        /* depth of the body that holds the field */
    ochsm_limits limits;
} ochsm_field;

/* A body at depth 0. A body longer than max_body_bytes is ERR_LIMIT. */
int ochsm_reader_init(ochsm_reader *r, const void *body, size_t len, const ochsm_limits *limits, ochsm_error *err);
/*
 * The next field: 1 and *f filled; 0 at the end of the body; -1 on error (err
 * filled; the reader stays failed). A field is returned only after all its
 * rules are checked, nested records included, in the order of §3.
 */
int ochsm_reader_next(ochsm_reader *r, ochsm_field *f, ochsm_error *err);

/* Check a whole body (every field, recursively). */
int ochsm_body_validate(const void *body, size_t len, const ochsm_limits *limits, ochsm_error *err);

/* Find field id in a body: 1 found, 0 absent, -1 malformed before it. */
int ochsm_body_find(const void *body, size_t len, const ochsm_limits *limits, uint16_t id, ochsm_field *f,
                    ochsm_error *err);

/* Typed accessors: OK, or ERR_ARGUMENTS_BAD when the field has another type. */
int ochsm_field_u64(const ochsm_field *f, uint64_t *out);
int ochsm_field_bool(const ochsm_field *f, int *out);
int ochsm_field_bytes(const ochsm_field *f, const uint8_t **p, size_t *len);
/* Not NUL-terminated (valid UTF-8 may contain U+0000): use len. */
int ochsm_field_string(const ochsm_field *f, const char **p, size_t *len);
/* A NUL-terminated copy; ERR_LIMIT when buf is too small, ERR_ARGUMENTS_BAD
 * when the string contains U+0000. */
int ochsm_field_string_copy(const ochsm_field *f, char *buf, size_t bufsize);
/* A reader over a record field's body (one level deeper). */
int ochsm_field_record(const ochsm_field *f, ochsm_reader *sub);

/* Elements of a list field (attrs, u64[], record[], string[]). */
typedef struct ochsm_iter {
    const uint8_t *p;
    size_t len;
    size_t off;
    uint32_t left;
    uint8_t type;
    uint32_t depth;
    ochsm_limits limits;
} ochsm_iter;

int ochsm_field_iter(const ochsm_field *f, ochsm_iter *it); /* ERR_ARGUMENTS_BAD if not a list */
/* Each returns 1 with the next element, 0 at the end, -1 if the list has another type. */
int ochsm_iter_attr(ochsm_iter *it, ochsm_attr *out);
int ochsm_iter_u64(ochsm_iter *it, uint64_t *out);
int ochsm_iter_string(ochsm_iter *it, const char **s, size_t *len);
int ochsm_iter_record(ochsm_iter *it, ochsm_reader *sub);

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). */
int ochsm_utf8_valid(const uint8_t *p, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* OCHSM_WIRE_H */
