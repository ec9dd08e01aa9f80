/*
 * test_wire.c: the C codec against docs/protocol.md and its shared vectors.
 *
 *   test_wire <dir with frames.txt, malformed.txt, ops.txt>   (gen_vectors.mjs)
 *
 *  - every valid frame: header fields, every field decoded exactly as the
 *    vector's JSON object says, re-encoded field by field to the exact hex,
 *    accepted by the schema checks and by the stream reader (whole and byte
 *    by byte); every truncation refused;
 *  - every malformed frame refused, whole and streamed, with its code;
 *  - the C opcode table equal to OPS and NOTICES of messages.ts;
 *  - builder rules (order, limits, UTF-8, nesting) and accessors;
 *  - 100k random and mutated inputs (fixed seed) without a crash, and every
 *    body that is accepted re-encodes to the same bytes (canonical form).
 * Built with -fsanitize=address,undefined by `make native-test`.
 */
#include "ochsm_mech.h"
#include "ochsm_schema.h"
#include "ochsm_wire.h"
#include "test_util.h"

#define MAX_VECTORS 256

typedef struct {
    char *name;
    uint8_t *bytes;
    size_t len;
    int kind;
    uint32_t request_id;
    long opcode; /* -1: none in the vector */
    char *fields;
    char *code;
} vector;

static vector frames[MAX_VECTORS], bad[MAX_VECTORS];
static int n_frames, n_bad;

/* ───────────────────────────── helpers ───────────────────────────── */

static int dump_body(ochsm_reader *r, sbuf *out) {
    ochsm_field f;
    int first = 1, rc;
    while ((rc = ochsm_reader_next(r, &f, NULL)) == 1) {
        ochsm_iter it;
        ochsm_reader sub;
        uint64_t v;
        int bv;
        const uint8_t *p;
        const char *s;
        size_t n;
        ochsm_attr a;
        sb_add(out, "%s%u=%s:", first ? "" : ";", f.id, ochsm_type_name(f.type));
        first = 0;
        switch (f.type) {
        case OCHSM_T_U64:
            ochsm_field_u64(&f, &v);
            sb_add(out, "%llu", (unsigned long long)v);
            break;
        case OCHSM_T_BYTES:
            ochsm_field_bytes(&f, &p, &n);
            sb_hex(out, p, n);
            break;
        case OCHSM_T_STRING:
            ochsm_field_string(&f, &s, &n);
            sb_hex(out, (const uint8_t *)s, n);
            break;
        case OCHSM_T_BOOL:
            ochsm_field_bool(&f, &bv);
            sb_add(out, "%d", bv);
            break;
        case OCHSM_T_ATTRS:
            ochsm_field_iter(&f, &it);
            sb_add(out, "[");
            for (int i = 0; ochsm_iter_attr(&it, &a) == 1; i++) {
                sb_add(out, "%s%u/", i ? "," : "", a.type);
                sb_hex(out, a.value, a.len);
            }
            sb_add(out, "]");
            break;
        case OCHSM_T_U64LIST:
            ochsm_field_iter(&f, &it);
            sb_add(out, "[");
            for (int i = 0; ochsm_iter_u64(&it, &v) == 1; i++) sb_add(out, "%s%llu", i ? "," : "", (unsigned long long)v);
            sb_add(out, "]");
            break;
        case OCHSM_T_STRINGS:
            ochsm_field_iter(&f, &it);
            sb_add(out, "[");
            for (int i = 0; ochsm_iter_string(&it, &s, &n) == 1; i++) {
                sb_add(out, "%s", i ? "," : "");
                sb_hex(out, (const uint8_t *)s, n);
            }
            sb_add(out, "]");
            break;
        case OCHSM_T_RECORD:
            ochsm_field_record(&f, &sub);
            sb_add(out, "{");
            if (dump_body(&sub, out) != 0) return -1;
            sb_add(out, "}");
            break;
        case OCHSM_T_RECORDS:
            ochsm_field_iter(&f, &it);
            sb_add(out, "[");
            for (int i = 0; ochsm_iter_record(&it, &sub) == 1; i++) {
                sb_add(out, "%s{", i ? "," : "");
                if (dump_body(&sub, out) != 0) return -1;
                sb_add(out, "}");
            }
            sb_add(out, "]");
            break;
        default:
            return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* Re-encode the fields of r with the builder, one typed call per field. */
static int rebuild_body(ochsm_reader *r, ochsm_builder *b) {
    ochsm_field f;
    int rc;
    while ((rc = ochsm_reader_next(r, &f, NULL)) == 1) {
        ochsm_iter it;
        ochsm_reader sub;
        uint64_t v;
        int bv;
        const uint8_t *p;
        const char *s;
        size_t n;
        switch (f.type) {
        case OCHSM_T_U64:
            ochsm_field_u64(&f, &v);
            ochsm_put_u64(b, f.id, v);
            break;
        case OCHSM_T_BYTES:
            ochsm_field_bytes(&f, &p, &n);
            ochsm_put_bytes(b, f.id, p, n);
            break;
        case OCHSM_T_STRING:
            ochsm_field_string(&f, &s, &n);
            ochsm_put_string_n(b, f.id, s, n);
            break;
        case OCHSM_T_BOOL:
            ochsm_field_bool(&f, &bv);
            ochsm_put_bool(b, f.id, bv);
            break;
        case OCHSM_T_ATTRS: {
            ochsm_attr attrs[64];
            size_t k = 0;
            ochsm_field_iter(&f, &it);
            while (k < 64 && ochsm_iter_attr(&it, &attrs[k]) == 1) k++;
            ochsm_put_attrs(b, f.id, attrs, k);
            break;
        }
        case OCHSM_T_U64LIST: {
            uint64_t *list = malloc(sizeof *list * (f.count + 1u));
            size_t k = 0;
            if (list == NULL) return -1;
            ochsm_field_iter(&f, &it);
            while (ochsm_iter_u64(&it, &list[k]) == 1) k++;
            ochsm_put_u64_list(b, f.id, list, k);
            free(list);
            break;
        }
        case OCHSM_T_STRINGS: {
            const char **ss = malloc(sizeof *ss * (f.count + 1u));
            size_t *ls = malloc(sizeof *ls * (f.count + 1u));
            size_t k = 0;
            if (ss == NULL || ls == NULL) {
                free(ss);
                free(ls);
                return -1;
            }
            ochsm_field_iter(&f, &it);
            while (ochsm_iter_string(&it, &ss[k], &ls[k]) == 1) k++;
            ochsm_put_string_list_n(b, f.id, ss, ls, k);
            free(ss);
            free(ls);
            break;
        }
        case OCHSM_T_RECORD:
            ochsm_begin_record(b, f.id);
            ochsm_field_record(&f, &sub);
            if (rebuild_body(&sub, b) != 0) return -1;
            ochsm_end_record(b);
            break;
        case OCHSM_T_RECORDS:
            ochsm_begin_record_list(b, f.id);
            ochsm_field_iter(&f, &it);
            while (ochsm_iter_record(&it, &sub) == 1) {
                ochsm_begin_record_item(b);
                if (rebuild_body(&sub, b) != 0) return -1;
                ochsm_end_record_item(b);
            }
            ochsm_end_record_list(b);
            break;
        default:
            return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* A body that the parser accepts re-encodes to exactly the same bytes. 1 yes, 0 no. */
static int reencodes(const uint8_t *body, size_t len, const ochsm_limits *l) {
    ochsm_reader r;
    ochsm_builder b;
    const uint8_t *out;
    size_t out_len;
    if (ochsm_reader_init(&r, body, len, l, NULL) != OCHSM_OK) return 0;
    ochsm_builder_init(&b, l);
    int ok = rebuild_body(&r, &b) == 0 && ochsm_builder_finish(&b, &out, &out_len, NULL) == OCHSM_OK && out_len == len &&
             (len == 0 || memcmp(out, body, len) == 0);
    ochsm_builder_free(&b);
    return ok;
}

/* §8 decoding order: whole frame; request: opcode, TLV, schema; response/notice: TLV. */
static int decode_like_section8(const uint8_t *buf, size_t len, ochsm_error *e) {
    ochsm_header h;
    const uint8_t *body;
    int rc = ochsm_frame_decode(buf, len, NULL, &h, &body, e);
    if (rc != OCHSM_OK) return rc;
    if (h.kind == OCHSM_KIND_REQUEST) return ochsm_check_request(h.opcode, body, h.body_len, NULL, e);
    return ochsm_body_validate(body, h.body_len, NULL, e);
}

/* The same through the stream reader: fed whole or one byte at a time, then end of stream. */
static int decode_streamed(const uint8_t *buf, size_t len, int bytewise, ochsm_error *e, int *frames_out) {
    ochsm_frame_reader fr;
    int rc = OCHSM_OK, nframes = 0;
    size_t off = 0;
    ochsm_frame_reader_init(&fr, NULL);
    while (off < len && rc == OCHSM_OK) {
        size_t chunk = bytewise ? 1 : len - off, used = 0;
        int p = ochsm_frame_reader_push(&fr, buf + off, chunk, &used, e);
        off += used;
        if (p < 0) {
            rc = e->code;
            break;
        }
        if (p == 1) {
            ochsm_header h;
            uint8_t *body;
            size_t blen;
            ochsm_frame_reader_take(&fr, &h, &body, &blen);
            nframes++;
            if (h.kind == OCHSM_KIND_REQUEST) rc = ochsm_check_request(h.opcode, body, blen, NULL, e);
            else rc = ochsm_body_validate(body, blen, NULL, e);
            free(body);
        }
    }
    if (rc == OCHSM_OK) rc = ochsm_frame_reader_end(&fr, e);
    ochsm_frame_reader_free(&fr);
    if (frames_out != NULL) *frames_out = nframes;
    return rc;
}

static int code_of(const char *name) {
    if (strcmp(name, "ERR_PROTOCOL") == 0) return OCHSM_ERR_PROTOCOL;
    if (strcmp(name, "ERR_LIMIT") == 0) return OCHSM_ERR_LIMIT;
    if (strcmp(name, "ERR_ARGUMENTS_BAD") == 0) return OCHSM_ERR_ARGUMENTS_BAD;
    if (strcmp(name, "ERR_FUNCTION_NOT_SUPPORTED") == 0) return OCHSM_ERR_FUNCTION_NOT_SUPPORTED;
    return -1;
}

/* ───────────────────────────── vector files ───────────────────────────── */

static int load(const char *dir) {
    char path[4096];
    char *line = NULL;
    size_t cap = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/frames.txt", dir);
    if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "cannot open %s (run gen_vectors.mjs first)\n", path);
        return -1;
    }
    while (getline(&line, &cap, f) > 0 && n_frames < MAX_VECTORS) {
        char *x[6];
        if (split_tabs(line, x, 6) != 6) continue;
        vector *v = &frames[n_frames];
        v->name = strdup(x[0]);
        if (hex_decode(x[1], &v->bytes, &v->len) != 0) continue;
        v->kind = atoi(x[2]);
        v->request_id = (uint32_t)strtoul(x[3], NULL, 10);
        v->opcode = strcmp(x[4], "-") == 0 ? -1 : strtol(x[4], NULL, 10);
        v->fields = strdup(x[5]);
        n_frames++;
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/malformed.txt", dir);
    if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        free(line);
        return -1;
    }
    while (getline(&line, &cap, f) > 0 && n_bad < MAX_VECTORS) {
        char *x[3];
        if (split_tabs(line, x, 3) != 3) continue;
        vector *v = &bad[n_bad];
        v->name = strdup(x[0]);
        if (hex_decode(x[1], &v->bytes, &v->len) != 0) continue;
        v->code = strdup(x[2]);
        n_bad++;
    }
    fclose(f);
    free(line);
    return 0;
}

/* ───────────────────────────── tests ───────────────────────────── */

static void test_valid_frames(void) {
    CHECK(n_frames >= 30, "frames.txt holds %d vectors, expected the 34 of frames.json", n_frames);
    for (int i = 0; i < n_frames; i++) {
        vector *v = &frames[i];
        ochsm_header h;
        const uint8_t *body;
        ochsm_error e;
        int rc = ochsm_frame_decode(v->bytes, v->len, NULL, &h, &body, &e);
        CHECK(rc == OCHSM_OK, "[%s] decode: %s", v->name, e.message);
        if (rc != OCHSM_OK) continue;
        CHECK(h.kind == v->kind && h.request_id == v->request_id && h.flags == 0 && h.body_len == v->len - 16,
              "[%s] header: kind %u id %u", v->name, h.kind, h.request_id);
        if (v->opcode >= 0) CHECK(h.opcode == v->opcode, "[%s] opcode 0x%04x, expected 0x%04lx", v->name, h.opcode, v->opcode);

        /* Decoded fields equal the vector's object. */
        ochsm_reader r;
        sbuf d = {0};
        ochsm_reader_init(&r, body, h.body_len, NULL, NULL);
        CHECK(dump_body(&r, &d) == 0 && strcmp(sb_str(&d), v->fields) == 0, "[%s] fields\n  got      %s\n  expected %s", v->name,
              sb_str(&d), v->fields);
        sb_free(&d);

        /* Re-encoded field by field, with a freshly encoded header: the exact bytes. */
        ochsm_builder b;
        const uint8_t *out;
        size_t out_len;
        uint8_t hdr[16];
        ochsm_builder_init(&b, NULL);
        ochsm_reader_init(&r, body, h.body_len, NULL, NULL);
        int ok = rebuild_body(&r, &b) == 0 && ochsm_builder_finish(&b, &out, &out_len, &e) == OCHSM_OK;
        ochsm_header hh = {h.kind, h.request_id, h.opcode, 0, (uint32_t)out_len};
        ok = ok && ochsm_header_encode(&hh, hdr, NULL, &e) == OCHSM_OK;
        ok = ok && out_len + 16 == v->len && memcmp(hdr, v->bytes, 16) == 0 && memcmp(out, v->bytes + 16, out_len) == 0;
        CHECK(ok, "[%s] re-encoding differs from the vector's hex", v->name);
        ochsm_builder_free(&b);

        /* The opcode's schema accepts it. */
        if (h.kind == OCHSM_KIND_REQUEST) {
            rc = ochsm_check_request(h.opcode, body, h.body_len, NULL, &e);
        } else if (h.kind == OCHSM_KIND_RESPONSE) {
            uint64_t rv = 99;
            rc = ochsm_check_response(h.opcode, body, h.body_len, NULL, &rv, &e);
        } else {
            rc = ochsm_check_notice(h.opcode, body, h.body_len, NULL, &e);
            CHECK(ochsm_notice_by_opcode(h.opcode) != NULL, "[%s] notice opcode known", v->name);
        }
        CHECK(rc == OCHSM_OK, "[%s] schema check: %s", v->name, e.message);

        /* The stream reader yields exactly this frame, whole and byte by byte. */
        for (int bytewise = 0; bytewise <= 1; bytewise++) {
            int nf = 0;
            rc = decode_streamed(v->bytes, v->len, bytewise, &e, &nf);
            CHECK(rc == OCHSM_OK && nf == 1, "[%s] streamed (%s): %s", v->name, bytewise ? "byte by byte" : "whole", e.message);
        }

        /* Every truncation is refused, whole and streamed, without a crash. */
        int refused = 1;
        for (size_t k = 0; k < v->len; k++) {
            const uint8_t *bb;
            if (ochsm_frame_decode(v->bytes, k, NULL, &h, &bb, NULL) != OCHSM_ERR_PROTOCOL) refused = 0;
            /* (An empty stream holds no frame at all, so streaming starts at 1 byte.) */
            if (k > 0 && decode_streamed(v->bytes, k, 0, &e, NULL) != OCHSM_ERR_PROTOCOL) refused = 0;
            /* The body cut short is parsed without a crash (it may be valid at a field boundary). */
            if (k > 16) (void)ochsm_body_validate(v->bytes + 16, k - 16, NULL, NULL);
        }
        CHECK(refused, "[%s] a truncation was not refused with ERR_PROTOCOL", v->name);
    }
}

static void test_malformed(void) {
    CHECK(n_bad >= 40, "malformed.txt holds %d vectors, expected the 40 of malformed.json", n_bad);
    for (int i = 0; i < n_bad; i++) {
        vector *v = &bad[i];
        ochsm_error e;
        int want = code_of(v->code);
        int rc = decode_like_section8(v->bytes, v->len, &e);
        CHECK(rc != OCHSM_OK, "[%s] accepted, must be refused", v->name);
        CHECK(rc == want, "[%s] refused with %s (%s), vector says %s", v->name, ochsm_status_name(rc), e.message, v->code);
        for (int bytewise = 0; bytewise <= 1; bytewise++) {
            rc = decode_streamed(v->bytes, v->len, bytewise, &e, NULL);
            CHECK(rc == want, "[%s] streamed (%s): %s (%s), vector says %s", v->name, bytewise ? "byte by byte" : "whole",
                  ochsm_status_name(rc), e.message, v->code);
        }
    }
}

static void dump_schema(const ochsm_schema *s, sbuf *out) {
    for (size_t i = 0; i < s->count; i++) {
        const ochsm_field_spec *f = &s->fields[i];
        sb_add(out, "%s%u:%s:%s%s", i ? "," : "", f->id, f->name, ochsm_type_name(f->type), f->optional ? "?" : "");
        if (f->max) sb_add(out, "<=%u", f->max);
        if (f->fields != NULL) {
            sb_add(out, "(%s{", f->record);
            dump_schema(f->fields, out);
            sb_add(out, "})");
        }
        if (i > 0) CHECK(s->fields[i - 1].id < f->id, "schema ids ascending at %s", f->name);
    }
}

static void test_ops_table(const char *dir) {
    char path[4096];
    char *line = NULL;
    size_t cap = 0;
    int n_ops = 0, n_notices = 0;
    size_t c_ops, c_notices;
    ochsm_ops(&c_ops);
    ochsm_notices(&c_notices);
    snprintf(path, sizeof path, "%s/ops.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (f == NULL) return;
    while (getline(&line, &cap, f) > 0) {
        char *x[6];
        int n = split_tabs(line, x, 6);
        sbuf a = {0}, b = {0};
        if (strcmp(x[0], "op") == 0 && n == 6) {
            n_ops++;
            const ochsm_op *op = ochsm_op_by_name(x[1]);
            CHECK(op != NULL, "messages.ts op %s is missing from schema.c", x[1]);
            if (op != NULL) {
                dump_schema(op->request, &a);
                dump_schema(op->response, &b);
                CHECK(op->opcode == strtol(x[2], NULL, 10) && op->mutating == atoi(x[3]), "op %s: opcode or mutating differs", x[1]);
                CHECK(strcmp(sb_str(&a), x[4]) == 0, "op %s request schema\n  C   %s\n  TS  %s", x[1], sb_str(&a), x[4]);
                CHECK(strcmp(sb_str(&b), x[5]) == 0, "op %s response schema\n  C   %s\n  TS  %s", x[1], sb_str(&b), x[5]);
                CHECK(ochsm_op_by_opcode(op->opcode) == op, "op %s found by opcode", x[1]);
            }
        } else if (strcmp(x[0], "notice") == 0 && n >= 3) {
            n_notices++;
            const ochsm_notice_op *no = ochsm_notice_by_opcode((uint16_t)strtol(x[2], NULL, 10));
            CHECK(no != NULL && strcmp(no->name, x[1]) == 0, "notice %s is missing from schema.c", x[1]);
            if (no != NULL) {
                dump_schema(no->fields, &a);
                CHECK(strcmp(sb_str(&a), n > 3 ? x[3] : "") == 0, "notice %s schema\n  C   %s\n  TS  %s", x[1], sb_str(&a), n > 3 ? x[3] : "");
            }
        }
        sb_free(&a);
        sb_free(&b);
    }
    free(line);
    fclose(f);
    CHECK((size_t)n_ops == c_ops && (size_t)n_notices == c_notices, "table sizes: C %zu ops %zu notices, TS %d ops %d notices", c_ops,
          c_notices, n_ops, n_notices);
}

static void test_builder(void) {
    ochsm_builder b;
    const uint8_t *out;
    size_t len;
    ochsm_error e;

    /* The worked example of docs/protocol.md §7: login cu1 / user1234. */
    static const uint8_t login_body[] = {0x00, 0x01, 0x03, 0, 0, 0, 3, 'c', 'u', '1', 0x00, 0x02, 0x03, 0, 0, 0, 8,
                                         'u', 's', 'e', 'r', '1', '2', '3', '4'};
    ochsm_builder_init(&b, NULL);
    ochsm_put_string(&b, 1, "cu1");
    ochsm_put_string(&b, 2, "user1234");
    CHECK(ochsm_builder_finish(&b, &out, &len, &e) == OCHSM_OK && len == sizeof login_body && memcmp(out, login_body, len) == 0,
          "builder: the §7 login body");
    CHECK(ochsm_check_request(OCHSM_OP_LOGIN, out, len, NULL, &e) == OCHSM_OK, "schema accepts the login body: %s", e.message);

    /* Empty body. */
    ochsm_builder_reset(&b);
    CHECK(ochsm_builder_finish(&b, &out, &len, &e) == OCHSM_OK && len == 0 && out != NULL, "builder: empty body");

    /* Field ids: ascending only. */
    ochsm_builder_reset(&b);
    ochsm_put_u64(&b, 2, 1);
    CHECK(ochsm_put_u64(&b, 1, 1) == OCHSM_ERR_ARGUMENTS_BAD, "builder refuses an out-of-order id");
    CHECK(ochsm_put_u64(&b, 3, 1) == OCHSM_ERR_ARGUMENTS_BAD, "builder errors are sticky");
    CHECK(ochsm_builder_finish(&b, &out, &len, &e) == OCHSM_ERR_ARGUMENTS_BAD && strstr(e.message, "out of order") != NULL,
          "finish reports the first error: %s", e.message);
    ochsm_builder_reset(&b);
    ochsm_put_u64(&b, 2, 1);
    CHECK(ochsm_put_bool(&b, 2, 1) == OCHSM_ERR_ARGUMENTS_BAD, "builder refuses a repeated id");
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_u64(&b, 0, 1) == OCHSM_ERR_ARGUMENTS_BAD, "builder refuses id 0");

    /* Strings: UTF-8 and the length limit. */
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_string_n(&b, 1, "\xc0\xaf", 2) == OCHSM_ERR_ARGUMENTS_BAD, "builder refuses an overlong UTF-8 form");
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_string(&b, 1, "\xed\xa0\x80") == OCHSM_ERR_ARGUMENTS_BAD, "builder refuses a surrogate");
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_string(&b, 1, "gr\xc3\xbc\xc3\x9f \xf0\x9f\x94\x91") == OCHSM_OK, "builder takes valid UTF-8");
    char *big = malloc(5000);
    memset(big, 'a', 5000);
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_string_n(&b, 1, big, 4097) == OCHSM_ERR_LIMIT, "builder refuses a string over 4 KiB");
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_string_n(&b, 1, big, 4096) == OCHSM_OK, "builder takes a string of exactly 4 KiB");
    ochsm_builder_reset(&b);
    const char *list[2] = {"ok", "\xff"};
    CHECK(ochsm_put_string_list(&b, 1, list, 2) == OCHSM_ERR_ARGUMENTS_BAD, "builder refuses bad UTF-8 in a string list");

    /* Attributes: count and value limits, NULL values. */
    ochsm_attr attrs[65];
    uint8_t one = 1;
    for (int i = 0; i < 65; i++) attrs[i] = (ochsm_attr){(uint32_t)i, 1, &one};
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_attrs(&b, 2, attrs, 65) == OCHSM_ERR_LIMIT, "builder refuses 65 attributes");
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_attrs(&b, 2, attrs, 64) == OCHSM_OK, "builder takes 64 attributes");
    uint8_t *huge = calloc(1, 65537);
    ochsm_attr big_attr = {0x11, 65537, huge};
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_attrs(&b, 2, &big_attr, 1) == OCHSM_ERR_LIMIT, "builder refuses an attribute value over 64 KiB");
    ochsm_attr null_attr = {0x11, 4, NULL};
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_attrs(&b, 2, &null_attr, 1) == OCHSM_ERR_ARGUMENTS_BAD, "builder refuses a NULL value with a length");
    ochsm_attr empty_attr = {0x11, 0, NULL};
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_attrs(&b, 2, &empty_attr, 1) == OCHSM_OK, "builder takes an empty attribute value");
    free(huge);

    /* Lists. */
    uint64_t *many = calloc(65537, sizeof *many);
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_u64_list(&b, 1, many, 65537) == OCHSM_ERR_LIMIT, "builder refuses a list of 65537");
    ochsm_builder_reset(&b);
    CHECK(ochsm_put_u64_list(&b, 1, many, 65536) == OCHSM_OK, "builder takes a list of 65536");
    free(many);

    /* Records: nesting limit, record lists, balance. */
    ochsm_builder_reset(&b);
    int rc = OCHSM_OK;
    for (int d = 0; d < 4; d++) rc |= ochsm_begin_record(&b, 1);
    CHECK(rc == OCHSM_OK, "builder nests 4 records");
    CHECK(ochsm_begin_record(&b, 1) == OCHSM_ERR_LIMIT, "builder refuses a 5th level");
    ochsm_builder_reset(&b);
    for (int d = 0; d < 4; d++) ochsm_begin_record(&b, 1);
    CHECK(ochsm_begin_record_list(&b, 2) == OCHSM_ERR_LIMIT, "builder refuses an empty record list at depth 4");
    ochsm_builder_reset(&b);
    ochsm_begin_record(&b, 1);
    CHECK(ochsm_builder_finish(&b, &out, &len, &e) == OCHSM_ERR_ARGUMENTS_BAD, "finish refuses an open record");
    ochsm_builder_reset(&b);
    CHECK(ochsm_end_record(&b) == OCHSM_ERR_ARGUMENTS_BAD, "end_record without begin");
    ochsm_builder_reset(&b);
    ochsm_begin_record_list(&b, 4);
    CHECK(ochsm_put_u64(&b, 1, 1) == OCHSM_ERR_ARGUMENTS_BAD, "a record list takes records, not fields");

    /* A listUsers response built by hand equals what the parser reads. */
    ochsm_builder_reset(&b);
    ochsm_put_u64(&b, 1, 0);
    ochsm_begin_record_list(&b, 4);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "cu%u", (unsigned)i & 7u);
        ochsm_begin_record_item(&b);
        ochsm_put_u64(&b, 1, (uint64_t)i);
        ochsm_put_string(&b, 2, name);
        ochsm_put_string(&b, 3, "CU");
        ochsm_put_bool(&b, 4, i == 1);
        ochsm_put_u64(&b, 5, 0);
        ochsm_end_record_item(&b);
    }
    ochsm_end_record_list(&b);
    rc = ochsm_builder_finish(&b, &out, &len, &e);
    CHECK(rc == OCHSM_OK, "listUsers body: %s", e.message);
    uint64_t rv = 1;
    CHECK(ochsm_check_response(OCHSM_OP_LIST_USERS, out, len, NULL, &rv, &e) == OCHSM_OK && rv == 0, "listUsers response checks: %s",
          e.message);
    ochsm_field f;
    CHECK(ochsm_body_find(out, len, NULL, 4, &f, NULL) == 1 && f.type == OCHSM_T_RECORDS && f.count == 3, "body_find the record list");
    ochsm_iter it;
    ochsm_reader sub;
    ochsm_field_iter(&f, &it);
    int users = 0, locked_ok = 1;
    while (ochsm_iter_record(&it, &sub) == 1) {
        ochsm_field g;
        char name[16];
        while (ochsm_reader_next(&sub, &g, NULL) == 1) {
            int bv;
            if (g.id == 2) locked_ok &= ochsm_field_string_copy(&g, name, sizeof name) == OCHSM_OK;
            if (g.id == 4) locked_ok &= ochsm_field_bool(&g, &bv) == OCHSM_OK && bv == (users == 1);
        }
        users++;
    }
    CHECK(users == 3 && locked_ok, "iterate the records and their fields");
    CHECK(ochsm_iter_u64(&it, &rv) == -1, "an iterator refuses the wrong element type");
    CHECK(ochsm_body_find(out, len, NULL, 3, &f, NULL) == 0, "body_find: absent field");
    CHECK(ochsm_check_response(OCHSM_OP_GET_CLUSTER_INFO, out, len, NULL, NULL, &e) == OCHSM_ERR_ARGUMENTS_BAD,
          "a listUsers body is not a getClusterInfo response: %s", e.message);

    /* A limit lowered below the default. */
    ochsm_limits small = ochsm_default_limits;
    small.max_body_bytes = 10;
    ochsm_builder_free(&b);
    ochsm_builder_init(&b, &small);
    CHECK(ochsm_put_bytes(&b, 1, big, 4) == OCHSM_ERR_LIMIT, "11 bytes exceed a body limit of 10");
    ochsm_builder_free(&b);
    free(big);
}

static void test_parser_details(void) {
    ochsm_error e;
    ochsm_header h;
    uint8_t hdr[16];

    /* Big-endian helpers, on unaligned addresses. */
    uint8_t buf[17];
    ochsm_be64_put(buf + 1, 0x0102030405060708ULL);
    CHECK(buf[1] == 1 && buf[8] == 8 && ochsm_be64_get(buf + 1) == 0x0102030405060708ULL, "be64 round trip");
    ochsm_be32_put(buf + 3, 0xA1B2C3D4u);
    CHECK(ochsm_be32_get(buf + 3) == 0xA1B2C3D4u && buf[3] == 0xA1, "be32 round trip");
    ochsm_be16_put(buf + 5, 0xBEEF);
    CHECK(ochsm_be16_get(buf + 5) == 0xBEEF, "be16 round trip");

    /* Header encoder rules. */
    ochsm_header n0 = {OCHSM_KIND_NOTICE, 5, 0x40, 0, 0};
    CHECK(ochsm_header_encode(&n0, hdr, NULL, &e) == OCHSM_ERR_ARGUMENTS_BAD, "encode refuses a notice with a request id");
    ochsm_header r0 = {OCHSM_KIND_REQUEST, 0, 0x10, 0, 0};
    CHECK(ochsm_header_encode(&r0, hdr, NULL, &e) == OCHSM_ERR_ARGUMENTS_BAD, "encode refuses request id 0");
    ochsm_header big = {OCHSM_KIND_REQUEST, 1, 0x10, 0, 16u * 1024u * 1024u + 1u};
    CHECK(ochsm_header_encode(&big, hdr, NULL, &e) == OCHSM_ERR_LIMIT, "encode refuses a body over 16 MiB");
    ochsm_header k4 = {4, 1, 0x10, 0, 0};
    CHECK(ochsm_header_encode(&k4, hdr, NULL, &e) == OCHSM_ERR_ARGUMENTS_BAD, "encode refuses kind 4");

    /* A declared body over the limit: the header is still reported (a server answers that id). */
    ochsm_header ok = {OCHSM_KIND_REQUEST, 77, 0x0202, 0, 100};
    ochsm_header_encode(&ok, hdr, NULL, &e);
    ochsm_limits small = ochsm_default_limits;
    small.max_body_bytes = 99;
    memset(&h, 0, sizeof h);
    CHECK(ochsm_header_decode(hdr, 16, &small, &h, &e) == OCHSM_ERR_LIMIT && h.request_id == 77 && h.opcode == 0x0202,
          "a header over a lowered limit is refused with its id and opcode known");

    /* The frame reader refuses the body length from the header alone, before any body byte. */
    ochsm_frame_reader fr;
    size_t used;
    ochsm_frame_reader_init(&fr, &small);
    CHECK(ochsm_frame_reader_push(&fr, hdr, 16, &used, &e) == -1 && e.code == OCHSM_ERR_LIMIT && fr.body == NULL,
          "stream reader: limit refused before allocation");
    CHECK(ochsm_frame_reader_push(&fr, hdr, 1, &used, &e) == -1, "stream reader stays failed");
    ochsm_frame_reader_free(&fr);

    /* Two frames in one push come out one at a time. */
    uint8_t two[32];
    ochsm_header a = {OCHSM_KIND_RESPONSE, 1, 0x11, 0, 0}, b2 = {OCHSM_KIND_RESPONSE, 2, 0x11, 0, 0};
    ochsm_header_encode(&a, two, NULL, NULL);
    ochsm_header_encode(&b2, two + 16, NULL, NULL);
    ochsm_frame_reader_init(&fr, NULL);
    int got = 0;
    size_t off = 0;
    while (off < sizeof two) {
        int p = ochsm_frame_reader_push(&fr, two + off, sizeof two - off, &used, &e);
        off += used;
        if (p == 1) {
            uint8_t *body;
            size_t bl;
            ochsm_frame_reader_take(&fr, &h, &body, &bl);
            got += (int)h.request_id;
            free(body);
        }
        if (p < 0) break;
    }
    CHECK(got == 3 && ochsm_frame_reader_end(&fr, &e) == OCHSM_OK, "stream reader: two frames in one chunk");
    ochsm_frame_reader_free(&fr);

    /* Nesting: depth 4 is fine, depth 5 is not, and an empty record list at depth 4 is refused. */
    ochsm_builder bb;
    const uint8_t *out;
    size_t len;
    ochsm_builder_init(&bb, NULL);
    for (int d = 0; d < 4; d++) ochsm_begin_record(&bb, 1);
    for (int d = 0; d < 4; d++) ochsm_end_record(&bb);
    CHECK(ochsm_builder_finish(&bb, &out, &len, &e) == OCHSM_OK && ochsm_body_validate(out, len, NULL, &e) == OCHSM_OK,
          "records 4 deep are accepted");
    small = ochsm_default_limits;
    small.max_depth = 3;
    CHECK(ochsm_body_validate(out, len, &small, &e) == OCHSM_ERR_LIMIT, "records 4 deep refused under maxDepth 3");
    ochsm_builder_free(&bb);

    /* Strict UTF-8. */
    CHECK(ochsm_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4), "U+10FFFF is valid");
    CHECK(!ochsm_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4), "above U+10FFFF is not");
    CHECK(!ochsm_utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3), "overlong 3-byte form is not");
    CHECK(!ochsm_utf8_valid((const uint8_t *)"\xf0\x9f\x94", 3), "truncated 4-byte form is not");
    CHECK(ochsm_utf8_valid((const uint8_t *)"\xef\xbb\xbf", 3), "a BOM is valid text");
    CHECK(ochsm_utf8_valid((const uint8_t *)"a\0b", 3), "U+0000 is valid UTF-8");

    /* string_copy: buffer size and embedded NUL. */
    static const uint8_t sbody[] = {0, 1, 3, 0, 0, 0, 3, 'a', 0, 'b'};
    ochsm_field f;
    char small_buf[3];
    CHECK(ochsm_body_find(sbody, sizeof sbody, NULL, 1, &f, &e) == 1, "find string field");
    CHECK(ochsm_field_string_copy(&f, small_buf, sizeof small_buf) == OCHSM_ERR_LIMIT, "string_copy: buffer too small");
    char big_buf[8];
    CHECK(ochsm_field_string_copy(&f, big_buf, sizeof big_buf) == OCHSM_ERR_ARGUMENTS_BAD, "string_copy refuses an embedded NUL");
    uint64_t v;
    CHECK(ochsm_field_u64(&f, &v) == OCHSM_ERR_ARGUMENTS_BAD, "typed accessor refuses another type");

    /* Schema: an error response must be exactly rv, code, message; rv first. */
    ochsm_builder_init(&bb, NULL);
    ochsm_put_u64(&bb, 1, 0x60);
    ochsm_put_string(&bb, 2, "ERR_KEY_HANDLE_INVALID");
    ochsm_builder_finish(&bb, &out, &len, NULL);
    CHECK(ochsm_check_response(OCHSM_OP_SIGN, out, len, NULL, NULL, &e) == OCHSM_ERR_ARGUMENTS_BAD, "error response without message");
    ochsm_builder_reset(&bb);
    ochsm_put_string(&bb, 2, "x");
    ochsm_builder_finish(&bb, &out, &len, NULL);
    CHECK(ochsm_check_response(OCHSM_OP_SIGN, out, len, NULL, NULL, &e) == OCHSM_ERR_ARGUMENTS_BAD, "response without rv");
    ochsm_builder_reset(&bb);
    ochsm_put_u64(&bb, 1, 0);
    ochsm_builder_finish(&bb, &out, &len, NULL);
    CHECK(ochsm_check_response(OCHSM_OP_SIGN, out, len, NULL, NULL, &e) == OCHSM_ERR_ARGUMENTS_BAD &&
              strstr(e.message, "missing required field signature (4)") != NULL,
          "success response without its result: %s", e.message);
    CHECK(ochsm_check_response(0x07ff, out, len, NULL, NULL, &e) == OCHSM_ERR_PROTOCOL, "success response to an unknown opcode");
    ochsm_builder_reset(&bb);
    ochsm_put_u64(&bb, 1, 5);
    ochsm_put_bytes(&bb, 2, "x", 1);
    ochsm_builder_finish(&bb, &out, &len, NULL);
    CHECK(ochsm_check_request(OCHSM_OP_GENERATE_RANDOM, out, len, NULL, &e) == OCHSM_ERR_ARGUMENTS_BAD &&
              strstr(e.message, "must be of type u64") != NULL,
          "request field of the wrong type: %s", e.message);
    CHECK(ochsm_check_notice(0x0099, out, len, NULL, &e) == OCHSM_OK, "an unknown notice passes after the TLV check");
    ochsm_builder_free(&bb);
}

/* ───────────────────────────── fuzz ───────────────────────────── */

/* Everything a peer's bytes can reach. Returns 1 if the frame and body were accepted. */
static int exercise(const uint8_t *buf, size_t len, int *canonical) {
    ochsm_header h;
    const uint8_t *body;
    ochsm_error e;
    int accepted = 0;
    (void)decode_streamed(buf, len, 0, &e, NULL);
    if (ochsm_frame_decode(buf, len, NULL, &h, &body, &e) == OCHSM_OK) {
        if (ochsm_body_validate(body, h.body_len, NULL, &e) == OCHSM_OK) {
            accepted = 1;
            if (!reencodes(body, h.body_len, NULL)) *canonical = 0;
            sbuf d = {0};
            ochsm_reader r;
            ochsm_reader_init(&r, body, h.body_len, NULL, NULL);
            (void)dump_body(&r, &d);
            sb_free(&d);
        }
        (void)ochsm_check_request(h.opcode, body, h.body_len, NULL, &e);
        (void)ochsm_check_response(h.opcode, body, h.body_len, NULL, NULL, &e);
        (void)ochsm_check_notice(h.opcode, body, h.body_len, NULL, &e);
    }
    return accepted;
}

/* A random body that is TLV-shaped often enough to reach the deeper checks. */
static size_t random_body(uint8_t *out, size_t cap, int depth) {
    size_t o = 0;
    uint16_t id = 0;
    int nf = (int)t_below(6);
    for (int i = 0; i < nf && o + 7 + 64 < cap; i++) {
        id = (uint16_t)(id + 1 + t_below(t_below(8) == 0 ? 3 : 300));
        if (t_below(20) == 0) id = (uint16_t)t_below(3);
        uint8_t type = (uint8_t)(1 + t_below(t_below(10) == 0 ? 12 : 9));
        size_t at = o;
        ochsm_be16_put(out + o, id);
        out[o + 2] = type;
        o += 7;
        size_t start = o;
        switch (type) {
        case OCHSM_T_U64: o += t_below(10) == 0 ? t_below(10) : 8; break;
        case OCHSM_T_BOOL: out[o++] = (uint8_t)t_below(t_below(10) == 0 ? 256 : 2); break;
        case OCHSM_T_RECORD:
            if (depth < 6 && cap - o > 80) o += random_body(out + o, (cap - o) / 2, depth + 1);
            break;
        case OCHSM_T_U64LIST:
        case OCHSM_T_ATTRS:
        case OCHSM_T_RECORDS:
        case OCHSM_T_STRINGS: {
            uint32_t count = t_below(4);
            ochsm_be32_put(out + o, t_below(30) == 0 ? (uint32_t)t_rand() : count);
            o += 4;
            for (uint32_t k = 0; k < count && o + 24 < cap; k++) {
                if (type == OCHSM_T_U64LIST) {
                    ochsm_be64_put(out + o, t_rand());
                    o += 8;
                } else if (type == OCHSM_T_ATTRS) {
                    uint32_t n = t_below(6);
                    ochsm_be32_put(out + o, (uint32_t)t_rand());
                    ochsm_be32_put(out + o + 4, t_below(20) == 0 ? (uint32_t)t_rand() : n);
                    o += 8;
                    for (uint32_t j = 0; j < n; j++) out[o++] = (uint8_t)t_rand();
                } else if (type == OCHSM_T_STRINGS) {
                    uint32_t n = t_below(6);
                    ochsm_be32_put(out + o, n);
                    o += 4;
                    for (uint32_t j = 0; j < n; j++) out[o++] = (uint8_t)(t_below(8) == 0 ? t_rand() : 'a' + t_below(26));
                } else {
                    size_t rl_at = o;
                    o += 4;
                    size_t n = depth < 6 && cap - o > 80 ? random_body(out + o, (cap - o) / 2, depth + 1) : 0;
                    ochsm_be32_put(out + rl_at, (uint32_t)n);
                    o += n;
                }
            }
            break;
        }
        default: {
            uint32_t n = t_below(12);
            for (uint32_t j = 0; j < n; j++) out[o++] = (uint8_t)(type == OCHSM_T_STRING && t_below(6) ? 'a' + t_below(26) : t_rand());
        }
        }
        uint32_t vlen = (uint32_t)(o - start);
        if (t_below(25) == 0) vlen = (uint32_t)t_rand();
        ochsm_be32_put(out + at + 3, vlen);
    }
    return o;
}

static void test_fuzz(void) {
    enum { ITERATIONS = 100000 };
    uint8_t *buf = malloc(65536);
    int canonical = 1;
    unsigned accepted = 0, kinds[3] = {0, 0, 0};
    for (int it = 0; it < ITERATIONS; it++) {
        size_t len = 0;
        int mode = (int)t_below(3);
        kinds[mode]++;
        if (mode == 0) {
            /* Random bytes, half of them behind a plausible header prefix. */
            len = t_below(96);
            for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)t_rand();
            if (len >= 4 && t_below(2)) {
                buf[0] = 0x4f, buf[1] = 0x48, buf[2] = 1, buf[3] = (uint8_t)(1 + t_below(3));
                if (len >= 16 && t_below(2)) ochsm_be32_put(buf + 12, (uint32_t)(len - 16));
                if (len >= 16 && t_below(2)) buf[10] = buf[11] = 0;
            }
        } else if (mode == 1) {
            /* A TLV-shaped random body in a valid header. */
            size_t n = random_body(buf + 16, 4096, 0);
            ochsm_header h = {(uint8_t)(1 + t_below(3)), 0, 0, 0, (uint32_t)n};
            h.request_id = h.kind == OCHSM_KIND_NOTICE ? 0 : 1 + t_below(1000);
            size_t nops;
            const ochsm_op *ops = ochsm_ops(&nops);
            h.opcode = t_below(8) == 0 ? (uint16_t)t_rand() : ops[t_below((uint32_t)nops)].opcode;
            ochsm_header_encode(&h, buf, NULL, NULL);
            len = 16 + n;
        } else {
            /* A valid vector, mutated: flipped bytes, cut, or grown. */
            const vector *v = &frames[t_below((uint32_t)n_frames)];
            len = v->len;
            memcpy(buf, v->bytes, len);
            int muts = 1 + (int)t_below(4);
            for (int m = 0; m < muts; m++) {
                int what = (int)t_below(4);
                if (what == 0 && len > 0) buf[t_below((uint32_t)len)] ^= (uint8_t)(1u << t_below(8));
                else if (what == 1 && len > 0) buf[t_below((uint32_t)len)] = (uint8_t)t_rand();
                else if (what == 2 && len > 0) len = t_below((uint32_t)len);
                else if (len < 60000) buf[len++] = (uint8_t)t_rand();
            }
            if (len >= 16 && t_below(2)) ochsm_be32_put(buf + 12, (uint32_t)(len - 16));
        }
        accepted += (unsigned)exercise(buf, len, &canonical);
    }
    free(buf);
    CHECK(1, "fuzz ran");
    CHECK(canonical, "every accepted random body re-encodes to the same bytes");
    printf("fuzz: %d inputs (%u random, %u TLV-shaped, %u mutated vectors), %u accepted, no crash\n", ITERATIONS, kinds[0], kinds[1],
           kinds[2], accepted);
}

/* The shared Mechanism encoder: present fields only, in id order, and the sign request it builds passes the schema. */
static void test_mechanism_encoder(void) {
    ochsm_mechanism m;
    memset(&m, 0, sizeof m);
    m.mechanism = 0x43; /* CKM_SHA256_RSA_PKCS_PSS */
    m.present = OCHSM_M_HASH_ALG | OCHSM_M_MGF | OCHSM_M_SALT_LEN | OCHSM_M_IV;
    m.hash_alg = 0x250;
    m.mgf = 2;
    m.salt_len = 32;
    m.iv.p = NULL;
    m.iv.len = 0; /* present and empty: sent as an empty field */
    m.tag_bits = 128; /* not present: not sent */
    ochsm_builder b;
    const uint8_t *body;
    size_t len;
    ochsm_error e;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, OCHSM_Q_SIGN_SESSION, 7);
    ochsm_put_mechanism(&b, OCHSM_Q_SIGN_MECHANISM, &m);
    ochsm_put_u64(&b, OCHSM_Q_SIGN_HANDLE, 9);
    ochsm_put_bytes(&b, OCHSM_Q_SIGN_DATA, (const uint8_t *)"abc", 3);
    int rc = ochsm_builder_finish(&b, &body, &len, &e);
    CHECK(rc == OCHSM_OK, "mechanism encoder: the request builds: %s", e.message);
    if (rc == OCHSM_OK) {
        CHECK(ochsm_check_request(OCHSM_OP_SIGN, body, len, NULL, &e) == OCHSM_OK, "the sign request passes the schema: %s", e.message);
        ochsm_field f, x;
        ochsm_reader sub;
        uint16_t ids[8];
        uint64_t vals[8];
        int n = 0;
        if (ochsm_body_find(body, len, NULL, OCHSM_Q_SIGN_MECHANISM, &f, NULL) == 1 && ochsm_field_record(&f, &sub) == OCHSM_OK) {
            while (n < 8 && ochsm_reader_next(&sub, &x, NULL) == 1) {
                ids[n] = x.id;
                vals[n] = 0;
                if (x.id != OCHSM_REC_MECHANISM_IV) ochsm_field_u64(&x, &vals[n]);
                n++;
            }
        }
        CHECK(n == 5 && ids[0] == 1 && vals[0] == 0x43 && ids[1] == OCHSM_REC_MECHANISM_IV && ids[2] == 6 && vals[2] == 0x250 &&
                  ids[3] == 7 && vals[3] == 2 && ids[4] == 8 && vals[4] == 32,
              "the record holds mechanism, the empty iv, hashAlg, mgf, saltLen and nothing else (%d fields)", n);
    }
    ochsm_builder_free(&b);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "dist/native-test";
    printf("test_wire: the C codec against %s\n", dir);
    if (load(dir) != 0) {
        CHECK(0, "vector files in %s", dir);
        return t_summary();
    }
    test_valid_frames();
    test_malformed();
    test_ops_table(dir);
    test_builder();
    test_mechanism_encoder();
    test_parser_details();
    test_fuzz();
    for (int i = 0; i < n_frames; i++) {
        free(frames[i].name);
        free(frames[i].bytes);
        free(frames[i].fields);
    }
    for (int i = 0; i < n_bad; i++) {
        free(bad[i].name);
        free(bad[i].bytes);
        free(bad[i].code);
    }
    return t_summary();
}
