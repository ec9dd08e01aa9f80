/*
 * ochsm_client.h: one pipelined connection to the local client daemon
 * (azcloudhsm_client) over its Unix socket, or over 127.0.0.1:PORT when the
 * application cfg says SOCKET_TYPE=TCPSOCKET. docs/protocol.md §1 and §6.3.
 *
 * What it does: connect, say hello (versions [1]), send requests, match the
 * answers to the callers by request id, in any order, and fail every caller
 * cleanly when the connection drops. What it does not do: decide anything
 * about an HSM operation. The caller builds the request body (ochsm_wire.h)
 * and reads the result; the daemon's CK_RV comes back untouched.
 *
 * Threading (README "Threading model"): many threads may call ochsm_call on
 * one connection at once. Each call gets a unique request id, writes its frame
 * under a write lock, and sleeps on its own condition variable. One reader
 * thread per connection, started by ochsm_conn_open with every signal
 * blocked, reads frames and hands each response to the caller waiting for its
 * request id. Because that thread always drains the socket, a caller blocked
 * in write() can never deadlock against a daemon blocked writing answers.
 *
 * Fork: a connection belongs to the process that opened it. In a child, every
 * call on an inherited connection fails at once with OCHSM_ERR_DEVICE; close
 * it (ochsm_conn_close only closes the child's descriptor there, touching no
 * lock and not disturbing the parent's socket) and open a new one. The check
 * is by process id, and ochsm_client_atfork_child() (install it with
 * ochsm_client_install_atfork or pthread_atfork) makes it explicit.
 *
 * Global state: one atomic fork generation counter and one pthread_once flag
 * for ochsm_client_install_atfork. Nothing else.
 */
#ifndef OCHSM_CLIENT_H
#define OCHSM_CLIENT_H

#include "ochsm_schema.h"
#include "ochsm_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCHSM_SOCKET_UNIX 1
#define OCHSM_SOCKET_TCP 2

/* CK_RV values this file uses for local failures. */
#define OCHSM_CKR_DEVICE_ERROR 0x30ULL

typedef struct ochsm_conn ochsm_conn;

/*
 * Called on the connection's reader thread for each well-formed notice whose
 * opcode this version knows (loginChanged, goodbye); body is valid only during
 * the call. It must return promptly and must not call ochsm_call or
 * ochsm_conn_close on the same connection (the reader is busy running it).
 */
typedef void (*ochsm_notice_fn)(void *ctx, uint16_t opcode, const uint8_t *body, size_t len);

typedef struct ochsm_conn_opts {
    int socket_type;             /* OCHSM_SOCKET_UNIX (also when 0) or OCHSM_SOCKET_TCP */
    const char *socket_path;     /* Unix: the daemon's socket, at most 107 bytes */
    uint16_t port;               /* TCP: 127.0.0.1:port */
    const char *client_name;     /* hello's `client` (e.g. "libazcloudhsm_pkcs11/" OCHSM_VERSION); NULL: "ochsm-c" */
    uint32_t connect_timeout_ms; /* connect plus hello; 0: 10000 */
    uint32_t call_timeout_ms;    /* default timeout of ochsm_call; 0: wait as long as the connection lives */
    const ochsm_limits *limits;  /* NULL: docs/protocol.md §4 defaults */
    ochsm_notice_fn on_notice;   /* optional */
    void *notice_ctx;
    /* 1: start no thread. The calling threads read the answers themselves
     * (the first waiter becomes the reader and hands the role on when its own
     * answer arrives; a writer that finds the socket full drains it first), for
     * applications that forbid a library to create threads (PKCS #11
     * CKF_LIBRARY_CANT_CREATE_OS_THREADS). Notices then run on whichever
     * calling thread reads them. */
    int no_threads;
} ochsm_conn_opts;

void ochsm_conn_opts_init(ochsm_conn_opts *o);

/*
 * Connect and say hello. On failure *out is NULL and err says why:
 * OCHSM_ERR_CONNECT (no daemon at that path or port: the message names it),
 * OCHSM_ERR_TIMEOUT, OCHSM_ERR_PROTOCOL (hello refused or malformed), ...
 */
int ochsm_conn_open(const ochsm_conn_opts *opts, ochsm_conn **out, ochsm_error *err);

/* Fail every waiting call (OCHSM_ERR_DEVICE, rv 0x30) and make later calls
 * fail at once. Safe to call from any thread, at any time, more than once. */
void ochsm_conn_shutdown(ochsm_conn *c);

/* ochsm_conn_shutdown, then wait until every call in progress has returned,
 * stop the reader thread and free the connection. No call may start on c
 * once ochsm_conn_close has begun (the PKCS#11 C_Finalize rule). */
void ochsm_conn_close(ochsm_conn *c);

/* 1 while the connection can carry calls; 0 once it failed, was shut down,
 * or belongs to the parent of a fork. */
int ochsm_conn_usable(ochsm_conn *c);

/* How the connection's writes went (client.c "sending": the frames of
 * callers that send at the same time leave together). For tests and
 * benchmarks. */
typedef struct ochsm_conn_stats {
    uint64_t writes;        /* sendmsg calls that wrote something */
    uint64_t partial;       /* of them, calls that wrote less than was offered */
    uint64_t frames;        /* frames written whole */
    uint32_t max_batch;     /* the most frames one writer took off the queue at once */
    uint32_t queued;        /* frames waiting for a writer now */
    int writing;            /* 1 while a caller is writing */
} ochsm_conn_stats;
void ochsm_conn_stats_get(ochsm_conn *c, ochsm_conn_stats *out);

/* From the hello answer: the daemon's `server` string and the body limit for requests. */
const char *ochsm_conn_server(const ochsm_conn *c);
uint32_t ochsm_conn_max_body(const ochsm_conn *c);
/* hello's maxData: the data bytes of one operation the cluster takes; 0 when the daemon did not say. */
uint64_t ochsm_conn_max_data(const ochsm_conn *c);
/* hello's account rules (maxUserName, minPassword, maxPassword); all 0 when the daemon did not say. */
void ochsm_conn_account_rules(const ochsm_conn *c, uint64_t *max_user, uint64_t *min_password, uint64_t *max_password);
/* hello's wrongPinRv: the CK_RV the partition's profile gives a wrong PIN; 0 when the daemon did not say. */
uint64_t ochsm_conn_wrong_pin_rv(const ochsm_conn *c);
/* hello's setPin: 1 when the partition's profile lets C_SetPIN change the signed-in user's password. */
int ochsm_conn_set_pin(const ochsm_conn *c);

/*
 * The outcome of one call. status OCHSM_OK means an answer arrived and is well
 * formed; then rv is the daemon's CK_RV: 0 with the result fields in `result`,
 * or an error with code and message. Any other status means no usable answer:
 * rv is then what a PKCS#11 edge returns (0x30 CKR_DEVICE_ERROR when the
 * connection failed or timed out or the daemon sent something malformed; 0x7
 * CKR_ARGUMENTS_BAD when the request itself was refused before sending).
 * Either way `return r.rv;` is correct for a C_* function.
 */
typedef struct ochsm_response {
    int status;          /* ochsm_status */
    uint64_t rv;         /* CK_RV */
    uint16_t opcode;
    uint8_t *body;       /* the whole response body (rv included), or NULL */
    size_t body_len;
    ochsm_reader result; /* rv 0: the result fields (ids >= 4), already checked against the schema */
    /* 1 when no byte of the request reached the daemon (the connection was
     * already broken, or failed before anything was written): the request may
     * be sent again on a new connection without running twice. */
    int unsent;
    /* private */
    char *remote_text;   /* "code\0message\0" of an error response */
    char local_message[OCHSM_ERROR_MESSAGE_MAX];
} ochsm_response;

/* "" on success; the daemon's HsmError code (e.g. "ERR_LOGIN_FAILED"); or
 * ochsm_status_name(status) for a local failure. Never NULL. */
const char *ochsm_response_code(const ochsm_response *r);
/* "" on success; the daemon's or the local message. Never NULL. */
const char *ochsm_response_message(const ochsm_response *r);
void ochsm_response_free(ochsm_response *r);

/*
 * Send one request and wait for its answer, with the connection's default
 * timeout. body is the TLV request body (ochsm_builder), checked against the
 * opcode's schema before anything is sent. Returns r->status. Always call
 * ochsm_response_free(r) afterwards.
 */
int ochsm_call(ochsm_conn *c, uint16_t opcode, const void *body, size_t body_len, ochsm_response *r);

/* The same with a timeout for this call (0: none). A call that times out
 * fails with OCHSM_ERR_TIMEOUT (rv 0x30); the request may still run, its late
 * answer is dropped, and its request id is not reused until that answer comes. */
int ochsm_call_timeout(ochsm_conn *c, uint16_t opcode, const void *body, size_t body_len, uint32_t timeout_ms,
                       ochsm_response *r);

/* pthread_atfork child handler: marks every connection of this process as
 * belonging to the parent. Async-signal-safe; takes no lock. */
void ochsm_client_atfork_child(void);
/* Register ochsm_client_atfork_child once per process (pthread_once). */
int ochsm_client_install_atfork(void);

#ifdef __cplusplus
}
#endif

#endif /* OCHSM_CLIENT_H */
