/*
 * stream.c: multi-part operations through the node (docs/pkcs11.md
 * "Multi-part operations"; docs/protocol.md "Multi-part operations").
 *
 * The first C_*Update of an operation asks the node for a context
 * (streamInit). Each part then goes out at once, cut into requests of at most
 * hello's maxData bytes (streamUpdate), and C_EncryptUpdate / C_DecryptUpdate
 * return the whole blocks the node released; *Final sends streamFinal. The
 * node answers streamInit with CKR_FUNCTION_NOT_SUPPORTED for a mechanism
 * that has no multi-part form (AES-GCM, RSA without hashing, ...): the
 * operation then buffers its parts in the module as before (crypt.c, at most
 * maxData) and sends one single-part request at *Final. Which mechanisms
 * stream is the node's answer, not a table here; the module decides nothing
 * but lengths.
 *
 * Output lengths (PKCS #11 §5.2): an Update's output is at most its input
 * length rounded up to whole 16-byte blocks (the node holds less than one
 * block between calls, or one block on CBC-PAD decrypt). A NULL buffer is
 * told that bound without sending anything. A buffer shorter than the bound
 * is still tried: the output often fits (CTR returns exactly the input
 * length), and when it does not the module keeps it with the input and the
 * retried call with the same input gets it (CKR_BUFFER_TOO_SMALL in between).
 * Any other error ends the operation; the module then cancels the node's
 * context (the daemon has already dropped it if the node reported the error).
 *
 * Digest, sign and verify return nothing before *Final, so their small parts
 * are gathered here (up to 256 KiB or maxData) and sent together, the last
 * ones with streamFinal: an error of the node (a lost node, say) then comes at
 * a later Update or at Final.
 */
#include <stdlib.h>
#include <string.h>

#include "p11.h"

/* The protocol's `kind` for each P11_OP_* (docs/protocol.md). */
static const char *const KIND[P11_OP_COUNT] = {
    [P11_OP_ENCRYPT] = "encrypt", [P11_OP_DECRYPT] = "decrypt", [P11_OP_SIGN] = "sign",
    [P11_OP_VERIFY] = "verify",   [P11_OP_DIGEST] = "digest",
};

/* The largest block of any mechanism that streams: the bound of an Update's output. */
#define STREAM_BLOCK 16u

/* Parts of a digest, sign or verify are gathered up to this (or maxData) before a request:
 * OpenSC pkcs11-tool --hash, for one, calls C_DigestUpdate with 64 bytes at a time. */
#define STREAM_GATHER (256u * 1024u)

static size_t gather_cap(void) {
    size_t m = p11_max_data();
    return m < STREAM_GATHER ? m : STREAM_GATHER;
}

static const uint8_t EMPTY[1];

typedef struct sargs {
    p11_op *op;
    int kind;
    const uint8_t *in, *sig;
    size_t in_len, sig_len;
    int with_sig;
    uint8_t *dst; /* where an update's output goes */
    size_t cap, got;
    uint64_t stream;
} sargs;

static CK_RV send_on(p11_session *s, sargs *a, uint16_t opcode, p11_build_fn build, p11_parse_fn parse) {
    p11_req q;
    memset(&q, 0, sizeof q);
    q.s = s;
    q.ctx = a;
    return p11_send(&q, opcode, build, parse);
}

static CK_RV init_build(p11_req *q) {
    sargs *a = q->ctx;
    ochsm_put_u64(&q->b, OCHSM_Q_STREAM_INIT_SESSION, q->s->remote);
    ochsm_put_string(&q->b, OCHSM_Q_STREAM_INIT_KIND, KIND[a->kind]);
    p11_mech_put(&q->b, OCHSM_Q_STREAM_INIT_MECHANISM, &a->op->mech);
    if (a->kind != P11_OP_DIGEST) ochsm_put_u64(&q->b, OCHSM_Q_STREAM_INIT_HANDLE, a->op->key);
    return CKR_OK;
}

static CK_RV init_parse(p11_req *q) {
    sargs *a = q->ctx;
    return p11_result_u64(&q->r, OCHSM_R_STREAM_INIT_STREAM, &a->stream) ? CKR_OK : CKR_DEVICE_ERROR;
}

static CK_RV update_build(p11_req *q) {
    sargs *a = q->ctx;
    ochsm_put_u64(&q->b, OCHSM_Q_STREAM_UPDATE_STREAM, a->stream);
    ochsm_put_bytes(&q->b, OCHSM_Q_STREAM_UPDATE_DATA, a->in_len ? a->in : EMPTY, a->in_len);
    return CKR_OK;
}

/* An update's output, appended at dst; more than the bound is the node breaking the protocol. */
static CK_RV update_parse(p11_req *q) {
    sargs *a = q->ctx;
    const uint8_t *p;
    size_t n;
    if (!p11_result_bytes(&q->r, OCHSM_R_STREAM_UPDATE_DATA, &p, &n)) return CKR_DEVICE_ERROR;
    if (n > a->cap - a->got) return CKR_DEVICE_ERROR;
    if (n) memcpy(a->dst + a->got, p, n);
    a->got += n;
    return CKR_OK;
}

static CK_RV final_build(p11_req *q) {
    sargs *a = q->ctx;
    ochsm_put_u64(&q->b, OCHSM_Q_STREAM_FINAL_STREAM, a->stream);
    if (a->in_len) ochsm_put_bytes(&q->b, OCHSM_Q_STREAM_FINAL_DATA, a->in, a->in_len);
    if (a->with_sig) ochsm_put_bytes(&q->b, OCHSM_Q_STREAM_FINAL_SIGNATURE, a->sig_len ? a->sig : EMPTY, a->sig_len);
    return CKR_OK;
}

/* The final output, into op->out (kept for the retried call). */
static CK_RV final_parse(p11_req *q) {
    sargs *a = q->ctx;
    const uint8_t *p;
    size_t n;
    if (!p11_result_bytes(&q->r, OCHSM_R_STREAM_FINAL_DATA, &p, &n)) return CKR_DEVICE_ERROR;
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) return CKR_HOST_MEMORY;
    if (n) memcpy(copy, p, n);
    free(a->op->out);
    a->op->out = copy;
    a->op->out_len = n;
    return CKR_OK;
}

static CK_RV cancel_build(p11_req *q) {
    sargs *a = q->ctx;
    ochsm_put_u64(&q->b, OCHSM_Q_STREAM_CANCEL_STREAM, a->stream);
    return CKR_OK;
}

/* End the operation; a streamed one is cancelled on the node too (harmless if it has ended there). */
static void stream_end(p11_session *s, p11_op *op) {
    if (op->mode == P11_MODE_STREAM) {
        sargs a = {.op = op, .stream = op->stream};
        (void)send_on(s, &a, OCHSM_OP_STREAM_CANCEL, cancel_build, NULL);
    }
    p11_op_reset(op);
}

/* At the first Update: a context on the node, or buffering when the node has no multi-part form. */
static CK_RV stream_begin(p11_session *s, p11_op *op, int kind) {
    if (op->mode != P11_MODE_NONE) return CKR_OK;
    sargs a = {.op = op, .kind = kind};
    CK_RV rv = send_on(s, &a, OCHSM_OP_STREAM_INIT, init_build, init_parse);
    if (rv == CKR_FUNCTION_NOT_SUPPORTED) {
        op->mode = P11_MODE_BUFFER;
        return CKR_OK;
    }
    if (rv != CKR_OK) return rv;
    op->mode = P11_MODE_STREAM;
    op->stream = a.stream;
    return CKR_OK;
}

/* Send in[0..len) in requests of at most maxData bytes; the output is appended at dst (capacity cap). */
static CK_RV stream_feed(p11_session *s, p11_op *op, const uint8_t *in, size_t len, uint8_t *dst, size_t cap, size_t *got) {
    size_t chunk = p11_max_data();
    size_t off = 0;
    *got = 0;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        sargs a = {.op = op, .in = in + off, .in_len = n, .dst = dst, .cap = cap, .got = *got, .stream = op->stream};
        CK_RV rv = send_on(s, &a, OCHSM_OP_STREAM_UPDATE, update_build, update_parse);
        if (rv != CKR_OK) return rv;
        *got = a.got;
        off += n;
    }
    return CKR_OK;
}

/* Digest, sign, verify: gather small parts in op->acc (at most gather_cap()); send when full. */
static CK_RV gather(p11_session *s, p11_op *op, const uint8_t *in, size_t in_len) {
    size_t cap = gather_cap(), got = 0;
    CK_RV rv;
    if (op->acc_len + in_len > cap && op->acc_len) {
        rv = stream_feed(s, op, op->acc, op->acc_len, NULL, 0, &got);
        if (rv != CKR_OK) return rv;
        op->acc_len = 0;
    }
    if (in_len >= cap) return stream_feed(s, op, in, in_len, NULL, 0, &got);
    if (op->acc_cap < cap) {
        uint8_t *p = realloc(op->acc, cap);
        if (!p) return CKR_HOST_MEMORY;
        op->acc = p;
        op->acc_cap = cap;
    }
    if (in_len) memcpy(op->acc + op->acc_len, in, in_len);
    op->acc_len += in_len;
    return CKR_OK;
}

static CK_RV update_held(p11_session *s, p11_op *op, int kind, const uint8_t *in, size_t in_len, CK_BYTE_PTR out,
                         CK_ULONG_PTR pulOut, int with_output) {
    if (op->pending) {
        /* The retry of a call whose output did not fit: the same input gets the kept output. */
        if (in_len != op->in_len || (in_len && memcmp(op->in, in, in_len) != 0)) {
            stream_end(s, op);
            return CKR_ARGUMENTS_BAD;
        }
        CK_RV rv = p11_output(op->out, op->out_len, out, pulOut);
        if (out != NULL && rv == CKR_OK) {
            free(op->out);
            free(op->in);
            op->out = op->in = NULL;
            op->out_len = op->in_len = 0;
            op->pending = 0;
        }
        return rv;
    }
    if (in_len > SIZE_MAX - STREAM_BLOCK) {
        stream_end(s, op);
        return CKR_DATA_LEN_RANGE;
    }
    size_t bound = with_output ? (in_len + STREAM_BLOCK - 1) / STREAM_BLOCK * STREAM_BLOCK : 0;
    if (with_output && out == NULL) {
        /* The length query: the bound, without sending (the operation goes on). */
        *pulOut = (CK_ULONG)bound;
        return CKR_OK;
    }
    CK_RV rv = stream_begin(s, op, kind);
    if (rv != CKR_OK) {
        p11_op_reset(op);
        return rv;
    }
    if (op->mode == P11_MODE_BUFFER) {
        rv = p11_op_update(op, in, in_len);
        if (rv == CKR_OK && with_output) *pulOut = 0;
        return rv;
    }
    op->multi = 1;
    uint8_t *tmp = NULL;
    uint8_t *dst = out;
    if (with_output && *pulOut < bound) {
        tmp = malloc(bound ? bound : 1);
        if (!tmp) {
            stream_end(s, op);
            return CKR_HOST_MEMORY;
        }
        dst = tmp;
    }
    if (!with_output) {
        rv = gather(s, op, in, in_len);
        if (rv != CKR_OK) stream_end(s, op);
        return rv;
    }
    size_t got = 0;
    rv = stream_feed(s, op, in, in_len, dst, bound, &got);
    if (rv != CKR_OK) {
        free(tmp);
        stream_end(s, op);
        return rv;
    }
    if (tmp == NULL || got <= *pulOut) {
        if (tmp && got) memcpy(out, tmp, got);
        free(tmp);
        *pulOut = (CK_ULONG)got;
        return CKR_OK;
    }
    /* It did not fit: keep it for the retried call. */
    uint8_t *copy = malloc(in_len ? in_len : 1);
    if (!copy) {
        free(tmp);
        stream_end(s, op);
        return CKR_HOST_MEMORY;
    }
    if (in_len) memcpy(copy, in, in_len);
    free(op->out);
    free(op->in);
    op->out = tmp;
    op->out_len = got;
    op->in = copy;
    op->in_len = in_len;
    op->pending = 1;
    *pulOut = (CK_ULONG)got;
    return CKR_BUFFER_TOO_SMALL;
}

CK_RV p11_stream_update(CK_SESSION_HANDLE h, int kind, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE_PTR out,
                        CK_ULONG_PTR pulOut, int with_output) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(h, &s);
    if (rv != CKR_OK) return rv;
    p11_op *op = &s->ops[kind];
    if (!op->active) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else if (!p11_buf_ok(in, in_len) || (with_output && pulOut == NULL)) {
        stream_end(s, op);
        rv = CKR_ARGUMENTS_BAD;
    } else {
        rv = update_held(s, op, kind, in, in_len, out, pulOut, with_output);
    }
    p11_session_release(s);
    return rv;
}

CK_RV p11_stream_final(p11_session *s, p11_op *op, CK_BYTE_PTR out, CK_ULONG_PTR pulOut) {
    if (pulOut == NULL || op->pending) {
        /* No length pointer, or an Update's output was never collected: the operation cannot go on. */
        stream_end(s, op);
        return CKR_ARGUMENTS_BAD;
    }
    if (!op->cached) {
        sargs a = {.op = op, .stream = op->stream, .in = op->acc, .in_len = op->acc_len};
        CK_RV rv = send_on(s, &a, OCHSM_OP_STREAM_FINAL, final_build, final_parse);
        if (rv != CKR_OK) {
            p11_op_reset(op); /* the node's context ended with its answer */
            return rv;
        }
        op->cached = 1;
        op->in_len = 0;
    }
    CK_RV rv = p11_output(op->out, op->out_len, out, pulOut);
    if (out != NULL && rv == CKR_OK) p11_op_reset(op);
    return rv;
}

CK_RV p11_stream_verify_final(p11_session *s, p11_op *op, const CK_BYTE *sig, CK_ULONG sig_len) {
    CK_RV rv;
    if (!p11_buf_ok(sig, sig_len)) {
        stream_end(s, op);
        return CKR_ARGUMENTS_BAD;
    }
    if (sig_len > p11_max_data()) {
        stream_end(s, op);
        return CKR_SIGNATURE_LEN_RANGE;
    }
    sargs a = {.op = op, .stream = op->stream, .in = op->acc, .in_len = op->acc_len, .sig = sig, .sig_len = sig_len, .with_sig = 1};
    rv = send_on(s, &a, OCHSM_OP_STREAM_FINAL, final_build, NULL);
    p11_op_reset(op);
    return rv;
}

void p11_stream_cancel_session(p11_session *s) {
    for (int k = 0; k < P11_OP_COUNT; k++)
        if (s->ops[k].mode == P11_MODE_STREAM) stream_end(s, &s->ops[k]);
}
