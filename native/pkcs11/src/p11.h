/*
 * p11.h: what the files of libazcloudhsm_pkcs11.so share.
 *
 * The module is a thin PKCS #11 v2.40 edge over the client daemon
 * (docs/pkcs11.md): each C_* function checks its pointers and buffer lengths,
 * marshals the call into one request of docs/protocol.md through native/common
 * (ochsm_wire.h, ochsm_client.h) and returns the daemon's CK_RV. What an
 * attribute, a mechanism or a user may do is decided in TypeScript
 * (packages/hsm-core); nothing here knows it.
 *
 * Module state (one per process):
 *   - g_p11: initialised flag, the connection to the daemon, the session table,
 *     the lock that guards the table (pthread mutex, or the application's mutex
 *     callbacks when it gives only those), the sign-in state as the daemon last
 *     reported it, and the token identity read once from the cluster.
 *   - the application's one cluster session (openSession, a store lease),
 *     named in the requests of all its PKCS #11 sessions, and the list of the
 *     session objects each PKCS #11 session created (session.c);
 *   - each session: a busy flag (a second concurrent call on one session gets
 *     CKR_OPERATION_ACTIVE) and the state of its active operations (mechanism,
 *     key, buffered input of multi-part calls, the cached result of a length
 *     query).
 *
 * The lock is held only to look sessions up and flip their flags, never across
 * a call to the daemon, so calls on different sessions run in parallel on the
 * one pipelined connection.
 */
#ifndef OCHSM_P11_H
#define OCHSM_P11_H

#include <stddef.h>
#include <stdint.h>

#include "cryptoki.h"
#include "ochsm_client.h"
#include "ochsm_mech.h"
#include "ochsm_schema.h"
#include "ochsm_shared_gen.h"
#include "ochsm_wire.h"

#define P11_EXPORT __attribute__((visibility("default")))

/* The one slot (the Azure guide's CAVIUM_SLOT). */
#define P11_SLOT_ID 1UL

/* Multi-part input is buffered here and sent at *Final; the node takes at most
 * p11_max_data() bytes per operation, so more is refused early. The limit is
 * the daemon's hello (maxData, from the nodes); this value is used only when
 * the daemon does not say (docs/decisions.md "Limits"). */
#define P11_MAX_DATA_DEFAULT (1u << 20)
/* Data bytes of one operation: hello's maxData of the current connection, else the default. */
size_t p11_max_data(void);
/* The CK_RV of a wrong PIN in the partition's profile (daemon hello wrongPinRv; CKR_PIN_EXPIRED until said). */
CK_RV p11_wrong_pin_rv(void);
/* The partition's profile has C_SetPIN (daemon hello setPin; no until said). */
int p11_set_pin_supported(void);

/* The PIN ("<user>:<password>") lengths for CK_TOKEN_INFO, from the nodes' account rules in the
 * daemon's hello (maxUserName, minPassword, maxPassword); before the daemon has heard from a node,
 * the rules of this version (user 1-32, password 7-32 characters; docs/pkcs11.md "Token"). */
#define P11_PIN_MIN_DEFAULT 9UL
#define P11_PIN_MAX_DEFAULT 65UL
void p11_pin_lengths(CK_ULONG *min, CK_ULONG *max);

/* A mechanism parameter byte string larger than this is refused
 * (CKR_MECHANISM_PARAM_INVALID) before anything is read from it. */
#define P11_MAX_PARAM_BYTES 65536u

/* Largest number the protocol carries (docs/protocol.md §3, 2^53 - 1). */
#define P11_MAX_NUMBER OCHSM_MAX_SAFE_INTEGER

/* The software version is package.json's (the generated ochsm_shared_gen.h). */
#define P11_VERSION_MAJOR OCHSM_VERSION_MAJOR
#define P11_VERSION_MINOR OCHSM_VERSION_MINOR
#define P11_CLIENT_NAME "libazcloudhsm_pkcs11/" OCHSM_VERSION

/* ───────────────────────────── mechanisms (mech.c) ───────────────────────────── */

/* The protocol's Mechanism record (docs/protocol.md §6.1) is native/common's
 * ochsm_mechanism, encoded by ochsm_put_mechanism. */
typedef ochsm_bytes p11_bytes;

/* A CK_MECHANISM translated into the Mechanism record, with its own copies of
 * every byte string (an operation keeps it from *Init to *Final). */
typedef struct p11_mech {
    ochsm_mechanism r; /* byte strings point into owned */
    uint8_t *owned;
} p11_mech;

/* Check pMechanism and its parameter structure and copy it. CKR_ARGUMENTS_BAD
 * for a NULL pMechanism, CKR_MECHANISM_INVALID for a type the protocol cannot
 * carry, CKR_MECHANISM_PARAM_INVALID for a parameter of the wrong size or with
 * NULL pointers, CKR_HOST_MEMORY. Nothing is sent. */
CK_RV p11_mech_from(const CK_MECHANISM *m, p11_mech *out);
void p11_mech_free(p11_mech *m);
/* CKR_OK when the HSM offers mechanism type for the function whose CKF_* flag
 * is needed (asked once per type, then remembered); else CKR_MECHANISM_INVALID
 * or the error of the question. */
CK_RV p11_mech_check(CK_MECHANISM_TYPE type, CK_FLAGS needed);
void p11_mech_cache_reset(void);
/* Append the Mechanism record as field id. */
void p11_mech_put(ochsm_builder *b, uint16_t id, const p11_mech *m);

/* ───────────────────────────── locking (general.c) ───────────────────────────── */

CK_RV p11_lock(void);
void p11_unlock(void);

/* ───────────────────────────── sessions (session.c) ───────────────────────────── */

enum { P11_OP_ENCRYPT, P11_OP_DECRYPT, P11_OP_SIGN, P11_OP_VERIFY, P11_OP_DIGEST, P11_OP_COUNT };

/* One active cryptographic operation of a session. */
typedef struct p11_op {
    int active;
    p11_mech mech;
    CK_OBJECT_HANDLE key;
    uint8_t *acc; /* multi-part input, sent at *Final */
    size_t acc_len, acc_cap;
    int multi;    /* an *Update was called */
    /* The output of a length query or of a call that found the caller's
     * buffer too small, with the input it was made from: the retried call
     * gets it without a second request to the HSM (PKCS #11 §5.2). */
    int cached;
    uint8_t *out;
    size_t out_len;
    uint8_t *in;
    size_t in_len;
    /* Multi-part (stream.c): decided at the first *Update. P11_MODE_STREAM: the
     * parts go to the node's context `stream` as they come; P11_MODE_BUFFER:
     * the node has no multi-part form of the mechanism, so the parts are
     * buffered in acc and sent at *Final. `pending`: an *Update's output that
     * did not fit the caller's buffer, in out, with its input in in. */
    int mode;
    uint64_t stream;
    int pending;
} p11_op;

enum { P11_MODE_NONE = 0, P11_MODE_STREAM = 1, P11_MODE_BUFFER = 2 };

typedef struct p11_session {
    CK_SESSION_HANDLE handle;
    uint64_t remote; /* the application's cluster session (openSession), shared by all its sessions */
    uint64_t lease_gen; /* which of the application's cluster sessions (they are numbered as opened) */
    CK_FLAGS flags;
    int busy;        /* a call is running on this session (under the lock) */
    int refs;        /* the table's reference + running calls (under the lock) */
    int closed;      /* removed from the table; freed by the last reference */
    int created;     /* a request that creates objects was sent with this session's creator tag */
    p11_op ops[P11_OP_COUNT];
    int find_active;
    CK_OBJECT_HANDLE *found;
    size_t nfound, found_pos;
} p11_session;

/* Find hSession and mark it busy: CKR_CRYPTOKI_NOT_INITIALIZED,
 * CKR_SESSION_HANDLE_INVALID, CKR_OPERATION_ACTIVE (another thread is in a
 * call on it), CKR_CANT_LOCK. Release with p11_session_release. */
CK_RV p11_session_acquire(CK_SESSION_HANDLE h, p11_session **out);
void p11_session_release(p11_session *s);
void p11_op_reset(p11_op *op);
void p11_session_free_all_unlocked(void);
/* Forget the application's cluster session (C_Finalize; C_Initialize in a
 * child after fork). */
void p11_lease_reset_unlocked(void);
/* The current cluster session and its number (1 when there is one); readable
 * without the lock, for the reconnect. */
int p11_lease_current(uint64_t *lease, uint64_t *gen);
/* After a daemon restart the cluster no longer holds cluster session number
 * gen: its PKCS #11 sessions answer CKR_SESSION_HANDLE_INVALID from now on, and
 * the next C_OpenSession opens a new one. Takes no lock. */
void p11_lease_lost(uint64_t gen);
/* Put s's creator tag (its handle) as field id of an object-creating request:
 * the HSM keeps it on the session objects the request makes and destroys them
 * when s closes (closeSession with the tag). Marks s as having created. */
void p11_put_creator(p11_session *s, ochsm_builder *b, uint16_t id);
/* Put readOnly (field id) on a request that changes objects when s was opened
 * without CKF_RW_SESSION. The module only tells: the node decides by the
 * partition profile (READ_ONLY_SESSIONS) what a read-only session may do. */
void p11_put_read_only(const p11_session *s, ochsm_builder *b, uint16_t id);
void p11_session_counts(CK_ULONG *all, CK_ULONG *rw);

/* ───────────────────────────── module state (general.c) ───────────────────────────── */

enum { P11_LOGIN_NONE = 0, P11_LOGIN_USER = 1, P11_LOGIN_SO = 2 };

/* 1 when C_Initialize has run in this process (and not in a parent before fork). */
int p11_ready(void);
/* CKR_OK, or CKR_CRYPTOKI_NOT_INITIALIZED. */
CK_RV p11_check_ready(void);
ochsm_conn *p11_conn(void);
int p11_login_state(void);
void p11_set_login_state(int state);
/* Sign-in state from a role string of the protocol ("CU", "CO", ...). */
int p11_login_state_of(const char *role, size_t len);

/*
 * Finish the builder and send the request; the answer is in *r (always free
 * it). Returns the CK_RV a C_* function reports: the daemon's, or a local one
 * (CKR_ARGUMENTS_BAD for a request the codec refuses, CKR_DEVICE_ERROR when
 * the daemon is gone).
 */
CK_RV p11_call(uint16_t opcode, ochsm_builder *b, ochsm_response *r);

/*
 * The one request shape of the session-bound C_* functions: find and mark the
 * session busy, translate pMechanism (when not NULL; its CK_RV first, as
 * before any argument check), let build append the fields (it returns the
 * CK_RV of its own argument checks), send, let parse read a successful answer,
 * then free everything and release the session. Returns the first failure.
 */
typedef struct p11_req {
    p11_session *s;
    p11_mech m;          /* the translated pMechanism */
    ochsm_builder b;
    ochsm_response r;
    void *ctx;           /* the caller's arguments */
} p11_req;
typedef CK_RV (*p11_build_fn)(p11_req *q);
typedef CK_RV (*p11_parse_fn)(p11_req *q);
CK_RV p11_request(CK_SESSION_HANDLE h, uint16_t opcode, const CK_MECHANISM *pMechanism, p11_build_fn build, p11_parse_fn parse,
                  void *ctx);
/* The send half of p11_request, for a caller that already holds q->s (the
 * operations of crypt.c, sign.c, digest.c, whose mechanism was translated at
 * *Init): build, send, parse a successful answer, free the builder and the
 * answer. q->r must be zeroed (or freed) before. */
CK_RV p11_send(p11_req *q, uint16_t opcode, p11_build_fn build, p11_parse_fn parse);

/* Read result field id of a successful response. */
int p11_result_u64(ochsm_response *r, uint16_t id, uint64_t *out);
int p11_result_bytes(ochsm_response *r, uint16_t id, const uint8_t **p, size_t *len);
int p11_result_field(ochsm_response *r, uint16_t id, ochsm_field *f);

/* PKCS #11 §5.2 output convention: NULL out gives the length; a short buffer
 * gives CKR_BUFFER_TOO_SMALL and the length; else copy. */
CK_RV p11_output(const uint8_t *data, size_t len, CK_BYTE_PTR out, CK_ULONG_PTR pulLen);

/* Blank-padded copy into a fixed-size PKCS #11 text field. */
void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *src);

/* Handles and numbers the protocol can carry (<= 2^53 - 1). */
static inline int p11_number_ok(CK_ULONG v) { return (uint64_t)v <= P11_MAX_NUMBER; }

/* ───────────────────────────── templates (object.c) ───────────────────────────── */

/* Check a CK_ATTRIBUTE array and append it as an attrs field:
 * CKR_ARGUMENTS_BAD (NULL template with a count, NULL value with a length, a
 * length above 4 GiB), CKR_ATTRIBUTE_TYPE_INVALID (a type above 32 bits),
 * CKR_HOST_MEMORY. The values travel as they are (docs/protocol.md §3). */
CK_RV p11_put_template(ochsm_builder *b, uint16_t id, const CK_ATTRIBUTE *t, CK_ULONG n);

/* ───────────────────────────── shared crypto plumbing (crypt.c) ───────────────────────────── */

/* One request of active operation op on s: encrypt, decrypt, sign, digest
 * (the result bytes are copied to *out, malloc'd) or verify (sig is the
 * signature; out may be NULL). Built and sent with p11_send. */
CK_RV p11_op_send(p11_session *s, p11_op *op, uint16_t opcode, const uint8_t *in, size_t in_len, const uint8_t *sig,
                  size_t sig_len, uint8_t **out, size_t *out_len);
/* Start operation kind on s (CKR_OPERATION_ACTIVE if one is running). */
CK_RV p11_op_init(p11_session *s, int kind, const CK_MECHANISM *m, CK_OBJECT_HANDLE key, int needs_key);
/* Append part to a multi-part operation (CKR_DATA_LEN_RANGE past 1 MiB; the
 * operation then ends, as any error but CKR_BUFFER_TOO_SMALL ends it). */
CK_RV p11_op_update(p11_op *op, const CK_BYTE *part, CK_ULONG len);
/*
 * Run an operation that produces output (encrypt, decrypt, sign, digest) on
 * in[0..in_len) and deliver the result by the output convention. A length
 * query or CKR_BUFFER_TOO_SMALL keeps the operation and its result; anything
 * else ends it.
 */
CK_RV p11_op_run_output(p11_session *s, p11_op *op, uint16_t opcode, const uint8_t *in, size_t in_len,
                        CK_BYTE_PTR out, CK_ULONG_PTR pulOut);

/* The C_* shapes of operations (session acquired and released inside):
 * *Init; single-part with output; *Final with output; *Update without output. */
CK_RV p11_op_start(CK_SESSION_HANDLE h, int kind, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key, int needs_key);
CK_RV p11_op_single(CK_SESSION_HANDLE h, int kind, uint16_t opcode, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                    CK_ULONG_PTR pulOut);
CK_RV p11_op_final(CK_SESSION_HANDLE h, int kind, uint16_t opcode, CK_BYTE_PTR out, CK_ULONG_PTR pulOut);
CK_RV p11_op_feed(CK_SESSION_HANDLE h, int kind, CK_BYTE_PTR in, CK_ULONG in_len);

/* ───────────────────────────── multi-part through the node (stream.c) ───────────────────────────── */

/* C_*Update: stream in[0..in_len) to the node in parts of at most hello's maxData. With output
 * (encrypt, decrypt), out / pulOut follow §5.2; the output is at most in_len rounded up to whole
 * 16-byte blocks, which a NULL out is told without sending. Without output, out and pulOut are
 * unused. Falls back to buffering (p11_op_update) when the node has no multi-part form. */
CK_RV p11_stream_update(CK_SESSION_HANDLE h, int kind, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE_PTR out,
                        CK_ULONG_PTR pulOut, int with_output);
/* C_*Final of a streamed operation (op->mode == P11_MODE_STREAM), s held: the output by §5.2,
 * kept for the retried call; or, for verify, the node's answer on sig. */
CK_RV p11_stream_final(p11_session *s, p11_op *op, CK_BYTE_PTR out, CK_ULONG_PTR pulOut);
CK_RV p11_stream_verify_final(p11_session *s, p11_op *op, const CK_BYTE *sig, CK_ULONG sig_len);
/* C_CloseSession: cancel the session's streams on the node (the cluster session, shared by all
 * the application's sessions, stays open). Outside the lock; s is no longer in the table. */
void p11_stream_cancel_session(p11_session *s);

/* Checks of the (pointer, length) pairs of the C_* functions. */
static inline int p11_buf_ok(const void *p, CK_ULONG len) { return p != NULL || len == 0; }

#endif /* OCHSM_P11_H */
