/*
 * wire.c: the frame and TLV codec of docs/protocol.md (version 1).
 *
 * Every length and count read from the wire is compared with its limit and
 * with the bytes that remain, in size_t or uint64_t arithmetic that cannot
 * overflow, before anything is sliced or allocated. Multi-byte integers are
 * assembled byte by byte (ochsm_be*_get), never loaded through a cast pointer.
 * The order of checks is the one of docs/protocol.md §3, so that one malformed
 * input gets the same code here as in packages/protocol/src/codec.ts.
 */
#include "ochsm_wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ochsm_limits ochsm_default_limits = {
    16u * 1024u * 1024u, /* max_body_bytes */
    256u,                /* max_fields */
    64u,                 /* max_attributes */
    65536u,              /* max_attribute_bytes */
    4096u,               /* max_string_bytes */
    4u,                  /* max_depth */
    65536u,              /* max_list_length */
};

ochsm_limits ochsm_limits_resolve(const ochsm_limits *l) {
    const ochsm_limits *d = &ochsm_default_limits;
    ochsm_limits r = *d;
    if (l == NULL) return r;
#define OCHSM_CLAMP(f) r.f = l->f > d->f ? d->f : l->f
    OCHSM_CLAMP(max_body_bytes);
    OCHSM_CLAMP(max_fields);
    OCHSM_CLAMP(max_attributes);
    OCHSM_CLAMP(max_attribute_bytes);
    OCHSM_CLAMP(max_string_bytes);
    OCHSM_CLAMP(max_depth);
    OCHSM_CLAMP(max_list_length);
#undef OCHSM_CLAMP
    return r;
}

/* ───────────────────────────── errors ───────────────────────────── */

const char *ochsm_status_name(int status) {
    switch (status) {
    case OCHSM_OK: return "OK";
    case OCHSM_ERR_PROTOCOL: return "ERR_PROTOCOL";
    case OCHSM_ERR_LIMIT: return "ERR_LIMIT";
    case OCHSM_ERR_ARGUMENTS_BAD: return "ERR_ARGUMENTS_BAD";
    case OCHSM_ERR_FUNCTION_NOT_SUPPORTED: return "ERR_FUNCTION_NOT_SUPPORTED";
    case OCHSM_ERR_NO_MEMORY: return "ERR_HOST_MEMORY";
    case OCHSM_ERR_DEVICE: return "ERR_DEVICE_ERROR";
    case OCHSM_ERR_TIMEOUT: return "ERR_DEVICE_ERROR";
    case OCHSM_ERR_CONNECT: return "ERR_CONNECT";
    case OCHSM_ERR_CONFIG: return "ERR_CONFIG";
    case OCHSM_ERR_NOT_FOUND: return "ERR_NOT_FOUND";
    default: return "ERR_GENERAL";
    }
}

uint64_t ochsm_status_ckr(int status) {
    switch (status) {
    case OCHSM_OK: return 0x0;
    case OCHSM_ERR_PROTOCOL:
    case OCHSM_ERR_LIMIT:
    case OCHSM_ERR_ARGUMENTS_BAD: return 0x7;            /* CKR_ARGUMENTS_BAD */
    case OCHSM_ERR_FUNCTION_NOT_SUPPORTED: return 0x54;  /* CKR_FUNCTION_NOT_SUPPORTED */
    case OCHSM_ERR_NO_MEMORY: return 0x2;                /* CKR_HOST_MEMORY */
    case OCHSM_ERR_DEVICE:
    case OCHSM_ERR_TIMEOUT: return 0x30;                 /* CKR_DEVICE_ERROR */
    default: return 0x5;                                 /* CKR_GENERAL_ERROR */
    }
}

static int verror(ochsm_error *err, int code, const char *fmt, va_list ap) {
    if (err != NULL) {
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return code;
}

int ochsm_error_set(ochsm_error *err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(err, code, fmt, ap);
    va_end(ap);
    return code;
}

#define FAIL(err, code, ...) ochsm_error_set((err), (code), __VA_ARGS__)

const char *ochsm_type_name(int type) {
    static const char *const names[] = {"?", "u64", "bytes", "string", "bool", "attrs", "u64list", "record", "records", "strings"};
    return (type >= 1 && type <= 9) ? names[type] : "?";
}

/* ───────────────────────────── UTF-8 ───────────────────────────── */

int ochsm_utf8_valid(const uint8_t *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF; /* bounds of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2, lo = 0xA0;
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            need = 2;
        } else if (c == 0xED) {
            need = 2, hi = 0x9F; /* no surrogates */
        } else if (c == 0xF0) {
            need = 3, lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3, hi = 0x8F; /* at most U+10FFFF */
        } else {
            return 0; /* 0x80-0xC1 (continuation or overlong lead), 0xF5-0xFF */
        }
        if (len - i - 1 < need) return 0;
        if (p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (size_t k = 2; k <= need; k++) {
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return 0;
        }
        i += need + 1;
    }
    return 1;
}

/* ───────────────────────────── frame header ───────────────────────────── */

static const char *kind_rule(uint8_t kind, uint32_t request_id) {
    if (kind != OCHSM_KIND_REQUEST && kind != OCHSM_KIND_RESPONSE && kind != OCHSM_KIND_NOTICE) return "unknown frame kind";
    if (kind == OCHSM_KIND_NOTICE && request_id != 0) return "a notice must have request id 0";
    if (kind != OCHSM_KIND_NOTICE && request_id == 0) return "request id 0 is reserved for notices";
    return NULL;
}

int ochsm_header_encode(const ochsm_header *h, uint8_t out[OCHSM_HEADER_BYTES], const ochsm_limits *limits,
                        ochsm_error *err) {
    if (h == NULL || out == NULL) return FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_header_encode: NULL argument");
    ochsm_limits l = ochsm_limits_resolve(limits);
    const char *problem = kind_rule(h->kind, h->request_id);
    if (problem != NULL) return FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "%s (kind %u, request id %u)", problem, h->kind, h->request_id);
    if (h->flags != 0) return FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "flags must be 0 in version 1");
    if (h->body_len > l.max_body_bytes) {
        return FAIL(err, OCHSM_ERR_LIMIT, "frame body of %u bytes exceeds maxBodyBytes (%u)", h->body_len, l.max_body_bytes);
    }
    out[0] = OCHSM_MAGIC0;
    out[1] = OCHSM_MAGIC1;
    out[2] = OCHSM_PROTOCOL_VERSION;
    out[3] = h->kind;
    ochsm_be32_put(out + 4, h->request_id);
    ochsm_be16_put(out + 8, h->opcode);
    ochsm_be16_put(out + 10, 0);
    ochsm_be32_put(out + 12, h->body_len);
    return OCHSM_OK;
}

int ochsm_header_check_prefix(const uint8_t *b, size_t n, ochsm_error *err) {
    if (n > 0 && b == NULL) return FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_header_check_prefix: NULL buffer");
    if (n >= 1 && b[0] != OCHSM_MAGIC0) return FAIL(err, OCHSM_ERR_PROTOCOL, "bad magic: byte 0 is 0x%02x, expected 0x4f", b[0]);
    if (n >= 2 && b[1] != OCHSM_MAGIC1) return FAIL(err, OCHSM_ERR_PROTOCOL, "bad magic: byte 1 is 0x%02x, expected 0x48", b[1]);
    if (n >= 3 && b[2] != OCHSM_PROTOCOL_VERSION) {
        return FAIL(err, OCHSM_ERR_PROTOCOL, "unsupported protocol version %u (this codec speaks version 1)", b[2]);
    }
    if (n >= 4 && b[3] != OCHSM_KIND_REQUEST && b[3] != OCHSM_KIND_RESPONSE && b[3] != OCHSM_KIND_NOTICE) {
        return FAIL(err, OCHSM_ERR_PROTOCOL, "unknown frame kind %u", b[3]);
    }
    return OCHSM_OK;
}

int ochsm_header_decode(const uint8_t *b, size_t n, const ochsm_limits *limits, ochsm_header *h, ochsm_error *err) {
    if (h == NULL) return FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_header_decode: NULL header");
    int rc = ochsm_header_check_prefix(b, n < 4 ? n : 4, err);
    if (rc != OCHSM_OK) return rc;
    if (n < OCHSM_HEADER_BYTES) return FAIL(err, OCHSM_ERR_PROTOCOL, "truncated frame header: %zu of 16 bytes", n);
    ochsm_limits l = ochsm_limits_resolve(limits);
    ochsm_header x;
    x.kind = b[3];
    x.request_id = ochsm_be32_get(b + 4);
    x.opcode = ochsm_be16_get(b + 8);
    x.flags = ochsm_be16_get(b + 10);
    x.body_len = ochsm_be32_get(b + 12);
    if (x.flags != 0) return FAIL(err, OCHSM_ERR_PROTOCOL, "flags must be 0 in version 1, got 0x%04x", x.flags);
    const char *problem = kind_rule(x.kind, x.request_id);
    if (problem != NULL) return FAIL(err, OCHSM_ERR_PROTOCOL, "%s (request id %u)", problem, x.request_id);
    *h = x;
    if (x.body_len > l.max_body_bytes) {
        return FAIL(err, OCHSM_ERR_LIMIT, "declared body length %u exceeds maxBodyBytes (%u)", x.body_len, l.max_body_bytes);
    }
    return OCHSM_OK;
}

int ochsm_frame_decode(const uint8_t *buf, size_t len, const ochsm_limits *limits, ochsm_header *h,
                       const uint8_t **body, ochsm_error *err) {
    if ((buf == NULL && len > 0) || h == NULL || body == NULL) {
        return FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_frame_decode: NULL argument");
    }
    int rc = ochsm_header_decode(buf, len, limits, h, err);
    if (rc != OCHSM_OK) return rc;
    size_t present = len - OCHSM_HEADER_BYTES;
    if (present < h->body_len) return FAIL(err, OCHSM_ERR_PROTOCOL, "truncated frame body: %zu of %u bytes", present, h->body_len);
    if (present > h->body_len) return FAIL(err, OCHSM_ERR_PROTOCOL, "%zu trailing bytes after the frame", present - h->body_len);
    *body = buf + OCHSM_HEADER_BYTES;
    return OCHSM_OK;
}

/* ───────────────────────────── frame reader ───────────────────────────── */

void ochsm_frame_reader_init(ochsm_frame_reader *r, const ochsm_limits *limits) {
    memset(r, 0, sizeof *r);
    r->limits = ochsm_limits_resolve(limits);
}

void ochsm_frame_reader_free(ochsm_frame_reader *r) {
    if (r == NULL) return;
    free(r->body);
    r->body = NULL;
    r->hdr_len = 0;
    r->body_got = 0;
    r->ready = 0;
}

static int reader_fail(ochsm_frame_reader *r, int code) {
    r->failed = code;
    free(r->body);
    r->body = NULL;
    r->ready = 0;
    return -1;
}

int ochsm_frame_reader_push(ochsm_frame_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                            ochsm_error *err) {
    size_t used = 0;
    if (consumed != NULL) *consumed = 0;
    if (r->failed) {
        FAIL(err, r->failed, "the frame reader failed earlier; the connection must be closed");
        return -1;
    }
    if (r->ready) return 1; /* take the waiting frame first */
    if (data == NULL && len > 0) {
        FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_frame_reader_push: NULL data");
        return -1;
    }
    if (r->hdr_len < OCHSM_HEADER_BYTES) {
        size_t k = OCHSM_HEADER_BYTES - r->hdr_len;
        if (k > len) k = len;
        if (k > 0) memcpy(r->hdr + r->hdr_len, data, k);
        r->hdr_len += k;
        used += k;
        if (r->hdr_len < OCHSM_HEADER_BYTES) {
            int rc = ochsm_header_check_prefix(r->hdr, r->hdr_len, err);
            if (rc != OCHSM_OK) return reader_fail(r, rc);
            if (consumed != NULL) *consumed = used;
            return 0;
        }
        int rc = ochsm_header_decode(r->hdr, OCHSM_HEADER_BYTES, &r->limits, &r->h, err);
        if (rc != OCHSM_OK) return reader_fail(r, rc);
        /* The length is checked against the limit: only now is the body allocated. */
        r->body = malloc(r->h.body_len > 0 ? (size_t)r->h.body_len : 1u);
        if (r->body == NULL) {
            FAIL(err, OCHSM_ERR_NO_MEMORY, "no memory for a frame body of %u bytes", r->h.body_len);
            return reader_fail(r, OCHSM_ERR_NO_MEMORY);
        }
        r->body_got = 0;
    }
    size_t want = (size_t)r->h.body_len - r->body_got;
    size_t k = len - used;
    if (k > want) k = want;
    if (k > 0) memcpy(r->body + r->body_got, data + used, k);
    r->body_got += k;
    used += k;
    if (consumed != NULL) *consumed = used;
    if (r->body_got == r->h.body_len) {
        r->ready = 1;
        return 1;
    }
    return 0;
}

void ochsm_frame_reader_take(ochsm_frame_reader *r, ochsm_header *h, uint8_t **body, size_t *body_len) {
    if (!r->ready) {
        if (body != NULL) *body = NULL;
        if (body_len != NULL) *body_len = 0;
        return;
    }
    if (h != NULL) *h = r->h;
    if (body_len != NULL) *body_len = r->h.body_len;
    if (body != NULL) {
        *body = r->body;
    } else {
        free(r->body);
    }
    r->body = NULL;
    r->body_got = 0;
    r->hdr_len = 0;
    r->ready = 0;
}

int ochsm_frame_reader_end(ochsm_frame_reader *r, ochsm_error *err) {
    if (r->failed) return FAIL(err, r->failed, "the frame reader failed earlier");
    if (r->hdr_len > 0 && !r->ready) {
        size_t n = r->hdr_len + (r->hdr_len == OCHSM_HEADER_BYTES ? r->body_got : 0);
        reader_fail(r, OCHSM_ERR_PROTOCOL);
        return FAIL(err, OCHSM_ERR_PROTOCOL, "truncated frame: the stream ended after %zu bytes of a frame", n);
    }
    return OCHSM_OK;
}

/* ───────────────────────────── builder ───────────────────────────── */

enum { B_ROOT = 1, B_RECORD = 2, B_ITEM = 3, B_LIST = 4 };

static int bfail(ochsm_builder *b, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int bfail(ochsm_builder *b, int code, const char *fmt, ...) {
    if (b->status == OCHSM_OK) {
        va_list ap;
        va_start(ap, fmt);
        b->status = verror(&b->err, code, fmt, ap);
        va_end(ap);
    }
    return b->status;
}

void ochsm_builder_init(ochsm_builder *b, const ochsm_limits *limits) {
    memset(b, 0, sizeof *b);
    b->limits = ochsm_limits_resolve(limits);
    b->stack[0].kind = B_ROOT;
    b->top = 1;
}

void ochsm_builder_free(ochsm_builder *b) {
    if (b == NULL) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void ochsm_builder_reset(ochsm_builder *b) {
    uint8_t *data = b->data;
    size_t cap = b->cap;
    ochsm_limits l = b->limits;
    memset(b, 0, sizeof *b);
    b->data = data;
    b->cap = cap;
    b->limits = l;
    b->stack[0].kind = B_ROOT;
    b->top = 1;
}

/* Room for n more bytes; the body never grows past max_body_bytes, so every
 * length inside it fits in a u32. */
static int ensure(ochsm_builder *b, size_t n) {
    if (b->status) return b->status;
    if (n > (size_t)b->limits.max_body_bytes - b->len) {
        return bfail(b, OCHSM_ERR_LIMIT, "body would exceed maxBodyBytes (%u)", b->limits.max_body_bytes);
    }
    size_t need = b->len + n;
    if (need <= b->cap) return OCHSM_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL) return bfail(b, OCHSM_ERR_NO_MEMORY, "no memory for a body of %zu bytes", need);
    b->data = p;
    b->cap = cap;
    return OCHSM_OK;
}

static void patch32(ochsm_builder *b, size_t at, size_t v) {
    ochsm_be32_put(b->data + at, (uint32_t)v);
}

static uint32_t body_depth(const ochsm_builder *b) {
    uint32_t d = 0;
    for (unsigned i = 1; i < b->top; i++) {
        if (b->stack[i].kind == B_RECORD || b->stack[i].kind == B_ITEM) d++;
    }
    return d;
}

/* Write a field header with a length placeholder; *len_at is where the length goes. */
static int begin_field(ochsm_builder *b, uint16_t id, uint8_t type, size_t *len_at) {
    if (b->status) return b->status;
    unsigned t = b->top - 1;
    if (b->stack[t].kind == B_LIST) {
        return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: a record list holds records (ochsm_begin_record_item), not fields", id);
    }
    if (id == 0) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field id must be 1..65535, got 0");
    if (id == b->stack[t].prev_id) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u is repeated", id);
    if (id < b->stack[t].prev_id) {
        return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u is out of order (after field %u)", id, b->stack[t].prev_id);
    }
    if (b->stack[t].nfields >= b->limits.max_fields) {
        return bfail(b, OCHSM_ERR_LIMIT, "field %u: more than maxFields (%u) fields in one body", id, b->limits.max_fields);
    }
    if (ensure(b, OCHSM_FIELD_HEADER_BYTES)) return b->status;
    uint8_t *p = b->data + b->len;
    ochsm_be16_put(p, id);
    p[2] = type;
    ochsm_be32_put(p + 3, 0);
    *len_at = b->len + 3;
    b->len += OCHSM_FIELD_HEADER_BYTES;
    b->stack[t].prev_id = id;
    b->stack[t].nfields++;
    return OCHSM_OK;
}

static int end_field(ochsm_builder *b, size_t len_at) {
    if (b->status) return b->status;
    patch32(b, len_at, b->len - (len_at + 4));
    return OCHSM_OK;
}

static void append(ochsm_builder *b, const void *p, size_t n) {
    if (n > 0) memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void append32(ochsm_builder *b, uint32_t v) {
    ochsm_be32_put(b->data + b->len, v);
    b->len += 4;
}

static void append64(ochsm_builder *b, uint64_t v) {
    ochsm_be64_put(b->data + b->len, v);
    b->len += 8;
}

int ochsm_put_u64(ochsm_builder *b, uint16_t id, uint64_t v) {
    size_t at;
    if (begin_field(b, id, OCHSM_T_U64, &at) || ensure(b, 8)) return b->status;
    append64(b, v);
    return end_field(b, at);
}

int ochsm_put_bytes(ochsm_builder *b, uint16_t id, const void *p, size_t len) {
    size_t at;
    if (b->status) return b->status;
    if (p == NULL && len > 0) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: NULL bytes with length %zu", id, len);
    if (begin_field(b, id, OCHSM_T_BYTES, &at) || ensure(b, len)) return b->status;
    append(b, p, len);
    return end_field(b, at);
}

static int check_string(ochsm_builder *b, uint16_t id, const char *s, size_t len) {
    if (s == NULL && len > 0) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: NULL string", id);
    if (len > b->limits.max_string_bytes) {
        return bfail(b, OCHSM_ERR_LIMIT, "field %u: string of %zu bytes exceeds maxStringBytes (%u)", id, len, b->limits.max_string_bytes);
    }
    if (!ochsm_utf8_valid((const uint8_t *)s, len)) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: string is not valid UTF-8", id);
    return OCHSM_OK;
}

int ochsm_put_string_n(ochsm_builder *b, uint16_t id, const char *s, size_t len) {
    size_t at;
    if (b->status) return b->status;
    if (check_string(b, id, s, len)) return b->status;
    if (begin_field(b, id, OCHSM_T_STRING, &at) || ensure(b, len)) return b->status;
    append(b, s, len);
    return end_field(b, at);
}

int ochsm_put_string(ochsm_builder *b, uint16_t id, const char *s) {
    if (b->status) return b->status;
    if (s == NULL) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: NULL string", id);
    return ochsm_put_string_n(b, id, s, strlen(s));
}

int ochsm_put_bool(ochsm_builder *b, uint16_t id, int v) {
    size_t at;
    if (begin_field(b, id, OCHSM_T_BOOL, &at) || ensure(b, 1)) return b->status;
    uint8_t one = v ? 1 : 0;
    append(b, &one, 1);
    return end_field(b, at);
}

int ochsm_put_attrs(ochsm_builder *b, uint16_t id, const ochsm_attr *attrs, size_t count) {
    size_t at;
    if (b->status) return b->status;
    if (count > b->limits.max_attributes) {
        return bfail(b, OCHSM_ERR_LIMIT, "field %u: %zu attributes exceed %u", id, count, b->limits.max_attributes);
    }
    if (attrs == NULL && count > 0) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: NULL attribute array", id);
    for (size_t i = 0; i < count; i++) {
        if (attrs[i].value == NULL && attrs[i].len > 0) {
            return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: attribute %zu has a NULL value of length %u", id, i, attrs[i].len);
        }
        if (attrs[i].len > b->limits.max_attribute_bytes) {
            return bfail(b, OCHSM_ERR_LIMIT, "field %u: attribute value of %u bytes exceeds maxAttributeBytes (%u)", id, attrs[i].len,
                         b->limits.max_attribute_bytes);
        }
    }
    if (begin_field(b, id, OCHSM_T_ATTRS, &at) || ensure(b, 4)) return b->status;
    append32(b, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        if (ensure(b, 8 + (size_t)attrs[i].len)) return b->status;
        append32(b, attrs[i].type);
        append32(b, attrs[i].len);
        append(b, attrs[i].value, attrs[i].len);
    }
    return end_field(b, at);
}

int ochsm_put_u64_list(ochsm_builder *b, uint16_t id, const uint64_t *v, size_t count) {
    size_t at;
    if (b->status) return b->status;
    if (count > b->limits.max_list_length) {
        return bfail(b, OCHSM_ERR_LIMIT, "field %u: %zu list elements exceed %u", id, count, b->limits.max_list_length);
    }
    if (v == NULL && count > 0) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: NULL list", id);
    if (begin_field(b, id, OCHSM_T_U64LIST, &at) || ensure(b, 4 + 8 * count)) return b->status;
    append32(b, (uint32_t)count);
    for (size_t i = 0; i < count; i++) append64(b, v[i]);
    return end_field(b, at);
}

int ochsm_put_string_list_n(ochsm_builder *b, uint16_t id, const char *const *s, const size_t *lens, size_t count) {
    size_t at;
    if (b->status) return b->status;
    if (count > b->limits.max_list_length) {
        return bfail(b, OCHSM_ERR_LIMIT, "field %u: %zu list elements exceed %u", id, count, b->limits.max_list_length);
    }
    if (s == NULL && count > 0) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: NULL string list", id);
    for (size_t i = 0; i < count; i++) {
        size_t n = lens != NULL ? lens[i] : (s[i] != NULL ? strlen(s[i]) : 0);
        if (s[i] == NULL) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "field %u: string %zu is NULL", id, i);
        if (check_string(b, id, s[i], n)) return b->status;
    }
    if (begin_field(b, id, OCHSM_T_STRINGS, &at) || ensure(b, 4)) return b->status;
    append32(b, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        size_t n = lens != NULL ? lens[i] : strlen(s[i]);
        if (ensure(b, 4 + n)) return b->status;
        append32(b, (uint32_t)n);
        append(b, s[i], n);
    }
    return end_field(b, at);
}

int ochsm_put_string_list(ochsm_builder *b, uint16_t id, const char *const *s, size_t count) {
    return ochsm_put_string_list_n(b, id, s, NULL, count);
}

static int push(ochsm_builder *b, uint8_t kind, size_t len_at, size_t start, size_t count_at) {
    if (b->top >= OCHSM_BUILDER_STACK) return bfail(b, OCHSM_ERR_LIMIT, "records nested too deep");
    memset(&b->stack[b->top], 0, sizeof b->stack[b->top]);
    b->stack[b->top].kind = kind;
    b->stack[b->top].len_at = len_at;
    b->stack[b->top].start = start;
    b->stack[b->top].count_at = count_at;
    b->top++;
    return OCHSM_OK;
}

int ochsm_begin_record(ochsm_builder *b, uint16_t id) {
    size_t at;
    if (b->status) return b->status;
    if (body_depth(b) + 1 > b->limits.max_depth) {
        return bfail(b, OCHSM_ERR_LIMIT, "field %u: nesting deeper than maxDepth (%u)", id, b->limits.max_depth);
    }
    if (begin_field(b, id, OCHSM_T_RECORD, &at)) return b->status;
    return push(b, B_RECORD, at, b->len, 0);
}

int ochsm_end_record(ochsm_builder *b) {
    if (b->status) return b->status;
    if (b->stack[b->top - 1].kind != B_RECORD) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_end_record: no record is open");
    b->top--;
    patch32(b, b->stack[b->top].len_at, b->len - b->stack[b->top].start);
    return OCHSM_OK;
}

int ochsm_begin_record_list(ochsm_builder *b, uint16_t id) {
    size_t at;
    if (b->status) return b->status;
    if (body_depth(b) + 1 > b->limits.max_depth) {
        return bfail(b, OCHSM_ERR_LIMIT, "field %u: nesting deeper than maxDepth (%u)", id, b->limits.max_depth);
    }
    if (begin_field(b, id, OCHSM_T_RECORDS, &at) || ensure(b, 4)) return b->status;
    size_t count_at = b->len;
    append32(b, 0);
    return push(b, B_LIST, at, at + 4, count_at);
}

int ochsm_begin_record_item(ochsm_builder *b) {
    if (b->status) return b->status;
    unsigned t = b->top - 1;
    if (b->stack[t].kind != B_LIST) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_begin_record_item: no record list is open");
    if (b->stack[t].count >= b->limits.max_list_length) {
        return bfail(b, OCHSM_ERR_LIMIT, "more than %u records in one list", b->limits.max_list_length);
    }
    if (ensure(b, 4)) return b->status;
    size_t at = b->len;
    append32(b, 0);
    return push(b, B_ITEM, at, b->len, 0);
}

int ochsm_end_record_item(ochsm_builder *b) {
    if (b->status) return b->status;
    if (b->stack[b->top - 1].kind != B_ITEM) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_end_record_item: no record item is open");
    b->top--;
    patch32(b, b->stack[b->top].len_at, b->len - b->stack[b->top].start);
    b->stack[b->top - 1].count++;
    return OCHSM_OK;
}

int ochsm_end_record_list(ochsm_builder *b) {
    if (b->status) return b->status;
    if (b->stack[b->top - 1].kind != B_LIST) return bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_end_record_list: no record list is open");
    b->top--;
    patch32(b, b->stack[b->top].count_at, b->stack[b->top].count);
    patch32(b, b->stack[b->top].len_at, b->len - b->stack[b->top].start);
    return OCHSM_OK;
}

int ochsm_builder_finish(ochsm_builder *b, const uint8_t **body, size_t *len, ochsm_error *err) {
    static const uint8_t empty[1] = {0};
    if (b->status == OCHSM_OK && b->top != 1) {
        bfail(b, OCHSM_ERR_ARGUMENTS_BAD, "a record or record list is still open");
    }
    if (b->status != OCHSM_OK) {
        if (err != NULL) *err = b->err;
        return b->status;
    }
    if (body != NULL) *body = b->data != NULL ? b->data : empty;
    if (len != NULL) *len = b->len;
    return OCHSM_OK;
}

/* ───────────────────────────── parser ───────────────────────────── */

static void sub_reader(ochsm_reader *r, const uint8_t *p, size_t len, uint32_t depth, const ochsm_limits *l) {
    memset(r, 0, sizeof *r);
    r->body = p;
    r->len = len;
    r->depth = depth;
    r->limits = *l;
}

int ochsm_reader_init(ochsm_reader *r, const void *body, size_t len, const ochsm_limits *limits, ochsm_error *err) {
    if (r == NULL) return FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_reader_init: NULL reader");
    ochsm_limits l = ochsm_limits_resolve(limits);
    sub_reader(r, body, len, 0, &l);
    if (body == NULL && len > 0) return r->status = FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_reader_init: NULL body");
    if (len > l.max_body_bytes) {
        return r->status = FAIL(err, OCHSM_ERR_LIMIT, "body of %zu bytes exceeds maxBodyBytes (%u)", len, l.max_body_bytes);
    }
    return OCHSM_OK;
}

static int validate_body(const uint8_t *p, size_t n, uint32_t depth, const ochsm_limits *l, ochsm_error *err);

/* A list's count: room for the count, the count limit, then the count against the bytes present. */
static int read_count(uint16_t id, const uint8_t *v, uint32_t n, uint32_t max, const char *what, uint32_t min_each,
                      uint32_t *count, ochsm_error *err) {
    if (n < 4) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: %u bytes cannot hold a count", id, n);
    uint32_t c = ochsm_be32_get(v);
    if (c > max) return FAIL(err, OCHSM_ERR_LIMIT, "field %u: %u %s exceed %u", id, c, what, max);
    if ((uint64_t)c * min_each > (uint64_t)n - 4) {
        return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: %u %s cannot fit in %u bytes (truncated)", id, c, what, n - 4);
    }
    *count = c;
    return OCHSM_OK;
}

/* The type's own rules (§3 table), in the order of docs/protocol.md §3 step 6. */
static int validate_value(uint16_t id, uint8_t type, const uint8_t *v, uint32_t n, uint32_t depth, const ochsm_limits *l,
                          uint32_t *count, ochsm_error *err) {
    int rc;
    uint32_t c = 0;
    size_t p;
    *count = 0;
    switch (type) {
    case OCHSM_T_U64:
        if (n != 8) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: u64 must be 8 bytes, got %u", id, n);
        return OCHSM_OK;
    case OCHSM_T_BYTES:
        return OCHSM_OK;
    case OCHSM_T_STRING:
        if (n > l->max_string_bytes) {
            return FAIL(err, OCHSM_ERR_LIMIT, "field %u: string of %u bytes exceeds maxStringBytes (%u)", id, n, l->max_string_bytes);
        }
        if (!ochsm_utf8_valid(v, n)) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: string is not valid UTF-8", id);
        return OCHSM_OK;
    case OCHSM_T_BOOL:
        if (n != 1) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: bool must be 1 byte, got %u", id, n);
        if (v[0] > 1) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: bool must be 0 or 1, got %u", id, v[0]);
        return OCHSM_OK;
    case OCHSM_T_ATTRS:
        if ((rc = read_count(id, v, n, l->max_attributes, "attributes", 8, &c, err))) return rc;
        p = 4;
        for (uint32_t i = 0; i < c; i++) {
            if (n - p < 8) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: attribute %u is truncated", id, i);
            uint32_t alen = ochsm_be32_get(v + p + 4);
            p += 8;
            if (alen > l->max_attribute_bytes) {
                return FAIL(err, OCHSM_ERR_LIMIT, "field %u: attribute value of %u bytes exceeds maxAttributeBytes (%u)", id, alen,
                            l->max_attribute_bytes);
            }
            if (alen > n - p) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: attribute %u value of %u bytes is truncated", id, i, alen);
            p += alen;
        }
        if (p != n) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: %zu bytes after the last attribute", id, n - p);
        *count = c;
        return OCHSM_OK;
    case OCHSM_T_U64LIST:
        if ((rc = read_count(id, v, n, l->max_list_length, "list elements", 0, &c, err))) return rc;
        if ((uint64_t)n != 4 + 8 * (uint64_t)c) {
            return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: a list of %u u64 must be %llu bytes, got %u", id, c,
                        (unsigned long long)(4 + 8 * (uint64_t)c), n);
        }
        *count = c;
        return OCHSM_OK;
    case OCHSM_T_RECORD:
        if (depth + 1 > l->max_depth) return FAIL(err, OCHSM_ERR_LIMIT, "field %u: nesting deeper than maxDepth (%u)", id, l->max_depth);
        return validate_body(v, n, depth + 1, l, err);
    case OCHSM_T_RECORDS:
        if (depth + 1 > l->max_depth) return FAIL(err, OCHSM_ERR_LIMIT, "field %u: nesting deeper than maxDepth (%u)", id, l->max_depth);
        if ((rc = read_count(id, v, n, l->max_list_length, "list elements", 4, &c, err))) return rc;
        p = 4;
        for (uint32_t i = 0; i < c; i++) {
            if (n - p < 4) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: record %u is truncated", id, i);
            uint32_t rlen = ochsm_be32_get(v + p);
            p += 4;
            if (rlen > n - p) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: record %u of %u bytes is truncated", id, i, rlen);
            if ((rc = validate_body(v + p, rlen, depth + 1, l, err))) return rc;
            p += rlen;
        }
        if (p != n) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: %zu bytes after the last record", id, n - p);
        *count = c;
        return OCHSM_OK;
    case OCHSM_T_STRINGS:
        if ((rc = read_count(id, v, n, l->max_list_length, "list elements", 4, &c, err))) return rc;
        p = 4;
        for (uint32_t i = 0; i < c; i++) {
            if (n - p < 4) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: string %u is truncated", id, i);
            uint32_t slen = ochsm_be32_get(v + p);
            p += 4;
            if (slen > l->max_string_bytes) {
                return FAIL(err, OCHSM_ERR_LIMIT, "field %u: string of %u bytes exceeds maxStringBytes (%u)", id, slen, l->max_string_bytes);
            }
            if (slen > n - p) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: string %u of %u bytes is truncated", id, i, slen);
            if (!ochsm_utf8_valid(v + p, slen)) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: string is not valid UTF-8", id);
            p += slen;
        }
        if (p != n) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: %zu bytes after the last string", id, n - p);
        *count = c;
        return OCHSM_OK;
    default:
        return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: unknown field type %u", id, type);
    }
}

/* One field at r->off, with the checks of §3 in order. */
static int read_field(ochsm_reader *r, ochsm_field *f, ochsm_error *err) {
    const uint8_t *buf = r->body;
    size_t o = r->off;
    if (r->nfields >= r->limits.max_fields) {
        return FAIL(err, OCHSM_ERR_LIMIT, "more than maxFields (%u) fields in one body", r->limits.max_fields);
    }
    if (r->len - o < OCHSM_FIELD_HEADER_BYTES) return FAIL(err, OCHSM_ERR_PROTOCOL, "truncated field header at body offset %zu", o);
    uint16_t id = ochsm_be16_get(buf + o);
    uint8_t type = buf[o + 2];
    uint32_t n = ochsm_be32_get(buf + o + 3);
    if (id == 0) return FAIL(err, OCHSM_ERR_PROTOCOL, "field id 0 is reserved");
    if (id == r->prev_id) return FAIL(err, OCHSM_ERR_PROTOCOL, "duplicate field %u", id);
    if (id < r->prev_id) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u out of order (after field %u)", id, r->prev_id);
    if (type < OCHSM_T_U64 || type > OCHSM_T_STRINGS) return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: unknown field type %u", id, type);
    size_t start = o + OCHSM_FIELD_HEADER_BYTES;
    if (n > r->len - start) {
        return FAIL(err, OCHSM_ERR_PROTOCOL, "field %u: value of %u bytes is truncated (%zu present)", id, n, r->len - start);
    }
    uint32_t count;
    int rc = validate_value(id, type, buf + start, n, r->depth, &r->limits, &count, err);
    if (rc != OCHSM_OK) return rc;
    f->id = id;
    f->type = type;
    f->len = n;
    f->value = buf + start;
    f->count = count;
    f->depth = r->depth;
    f->limits = r->limits;
    r->off = start + n;
    r->prev_id = id;
    r->nfields++;
    return OCHSM_OK;
}

int ochsm_reader_next(ochsm_reader *r, ochsm_field *f, ochsm_error *err) {
    if (r == NULL || f == NULL) {
        FAIL(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_reader_next: NULL argument");
        return -1;
    }
    if (r->status != OCHSM_OK) {
        FAIL(err, r->status, "the body was refused earlier");
        return -1;
    }
    if (r->off >= r->len) return 0;
    int rc = read_field(r, f, err);
    if (rc != OCHSM_OK) {
        r->status = rc;
        return -1;
    }
    return 1;
}

static int validate_body(const uint8_t *p, size_t n, uint32_t depth, const ochsm_limits *l, ochsm_error *err) {
    ochsm_reader r;
    ochsm_field f;
    sub_reader(&r, p, n, depth, l);
    for (;;) {
        int rc = ochsm_reader_next(&r, &f, err);
        if (rc < 0) return r.status;
        if (rc == 0) return OCHSM_OK;
    }
}

int ochsm_body_validate(const void *body, size_t len, const ochsm_limits *limits, ochsm_error *err) {
    ochsm_reader r;
    int rc = ochsm_reader_init(&r, body, len, limits, err);
    if (rc != OCHSM_OK) return rc;
    return validate_body(r.body, r.len, 0, &r.limits, err);
}

int ochsm_body_find(const void *body, size_t len, const ochsm_limits *limits, uint16_t id, ochsm_field *f,
                    ochsm_error *err) {
    ochsm_reader r;
    ochsm_field x;
    if (ochsm_reader_init(&r, body, len, limits, err) != OCHSM_OK) return -1;
    for (;;) {
        int rc = ochsm_reader_next(&r, &x, err);
        if (rc <= 0) return rc;
        if (x.id == id) {
            if (f != NULL) *f = x;
            return 1;
        }
        if (x.id > id) return 0;
    }
}

/* ───────────────────────────── accessors ───────────────────────────── */

int ochsm_field_u64(const ochsm_field *f, uint64_t *out) {
    if (f->type != OCHSM_T_U64) return OCHSM_ERR_ARGUMENTS_BAD;
    *out = ochsm_be64_get(f->value);
    return OCHSM_OK;
}

int ochsm_field_bool(const ochsm_field *f, int *out) {
    if (f->type != OCHSM_T_BOOL) return OCHSM_ERR_ARGUMENTS_BAD;
    *out = f->value[0] == 1;
    return OCHSM_OK;
}

int ochsm_field_bytes(const ochsm_field *f, const uint8_t **p, size_t *len) {
    if (f->type != OCHSM_T_BYTES) return OCHSM_ERR_ARGUMENTS_BAD;
    *p = f->value;
    *len = f->len;
    return OCHSM_OK;
}

int ochsm_field_string(const ochsm_field *f, const char **p, size_t *len) {
    if (f->type != OCHSM_T_STRING) return OCHSM_ERR_ARGUMENTS_BAD;
    *p = (const char *)f->value;
    *len = f->len;
    return OCHSM_OK;
}

int ochsm_field_string_copy(const ochsm_field *f, char *buf, size_t bufsize) {
    if (f->type != OCHSM_T_STRING) return OCHSM_ERR_ARGUMENTS_BAD;
    if (buf == NULL || bufsize == 0 || (size_t)f->len > bufsize - 1) return OCHSM_ERR_LIMIT;
    if (f->len > 0 && memchr(f->value, 0, f->len) != NULL) return OCHSM_ERR_ARGUMENTS_BAD;
    if (f->len > 0) memcpy(buf, f->value, f->len);
    buf[f->len] = '\0';
    return OCHSM_OK;
}

int ochsm_field_record(const ochsm_field *f, ochsm_reader *sub) {
    if (f->type != OCHSM_T_RECORD) return OCHSM_ERR_ARGUMENTS_BAD;
    sub_reader(sub, f->value, f->len, f->depth + 1, &f->limits);
    return OCHSM_OK;
}

int ochsm_field_iter(const ochsm_field *f, ochsm_iter *it) {
    if (f->type != OCHSM_T_ATTRS && f->type != OCHSM_T_U64LIST && f->type != OCHSM_T_RECORDS && f->type != OCHSM_T_STRINGS) {
        return OCHSM_ERR_ARGUMENTS_BAD;
    }
    memset(it, 0, sizeof *it);
    it->p = f->value + 4; /* a checked list field holds at least its count */
    it->len = (size_t)f->len - 4;
    it->left = f->count;
    it->type = f->type;
    it->depth = f->depth + 1;
    it->limits = f->limits;
    return OCHSM_OK;
}

/* The iterators walk a field that read_field has already checked, so every
 * length they meet fits in what remains. */
int ochsm_iter_attr(ochsm_iter *it, ochsm_attr *out) {
    if (it->type != OCHSM_T_ATTRS) return -1;
    if (it->left == 0) return 0;
    out->type = ochsm_be32_get(it->p + it->off);
    out->len = ochsm_be32_get(it->p + it->off + 4);
    out->value = it->p + it->off + 8;
    it->off += 8 + (size_t)out->len;
    it->left--;
    return 1;
}

int ochsm_iter_u64(ochsm_iter *it, uint64_t *out) {
    if (it->type != OCHSM_T_U64LIST) return -1;
    if (it->left == 0) return 0;
    *out = ochsm_be64_get(it->p + it->off);
    it->off += 8;
    it->left--;
    return 1;
}

int ochsm_iter_string(ochsm_iter *it, const char **s, size_t *len) {
    if (it->type != OCHSM_T_STRINGS) return -1;
    if (it->left == 0) return 0;
    *len = ochsm_be32_get(it->p + it->off);
    *s = (const char *)(it->p + it->off + 4);
    it->off += 4 + *len;
    it->left--;
    return 1;
}

int ochsm_iter_record(ochsm_iter *it, ochsm_reader *sub) {
    if (it->type != OCHSM_T_RECORDS) return -1;
    if (it->left == 0) return 0;
    uint32_t n = ochsm_be32_get(it->p + it->off);
    sub_reader(sub, it->p + it->off + 4, n, it->depth, &it->limits);
    it->off += 4 + (size_t)n;
    it->left--;
    return 1;
}
