/*
 * client.c: a pipelined connection to the client daemon (docs/protocol.md §1).
 *
 * Design (see ochsm_client.h and README "Threading model"):
 *  - c->mu guards the connection state, the table of waiting calls, the
 *    request id counter and the send queue; it is never held across a read
 *    or a write.
 *  - writes are combined: a caller queues its frame; the first caller that
 *    finds nobody writing writes every queued frame, many per sendmsg, while
 *    the others sleep until their answers (see "sending" below).
 *  - one reader thread per connection owns the read side: it decodes frames
 *    with ochsm_frame_reader and hands each response to its waiter.
 *  - a waiter comes from the connection's pool (c->spare, under mu) and goes
 *    back there, never to free() while the connection lives: the reader
 *    signals a waiter's condition variable after it has released mu (so the
 *    woken caller does not wake only to block on mu), by which time the
 *    caller may have taken its answer and left; a signal to a recycled
 *    waiter is a spurious wake-up its loop ignores. When a caller gives up
 *    (timeout), its waiter stays in the table as a tombstone so that its
 *    request id is not reused while the daemon may still answer it (§1: ids
 *    must not be reused in flight); the reader recycles it when the late
 *    answer arrives, conn_fail when the connection ends. conn_free frees the
 *    pool.
 *  - conn_fail runs once: it records why, wakes every waiter with
 *    OCHSM_ERR_DEVICE and shuts the socket down, which also wakes the reader
 *    and any writer. The descriptor itself is closed only by ochsm_conn_close,
 *    so it cannot be reused under a thread that is still in a system call.
 */
#include "ochsm_client.h"
#include "ochsm_trust.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NBUCKETS 256
#define DEFAULT_CONNECT_TIMEOUT_MS 10000u

enum { ST_OPEN = 1, ST_BROKEN = 2 };
/* A frame's send state (see "sending"). */
enum { W_QUEUED = 1, W_WRITING, W_SENT, W_UNSENT, W_EXPIRED };

struct waiter {
    uint32_t id;
    uint16_t opcode;      /* of the request */
    int done;             /* answered, or failed by conn_fail */
    int abandoned;        /* the caller timed out and left; free on answer */
    int status;           /* OCHSM_OK when answered */
    uint16_t resp_opcode;
    uint8_t *body;
    size_t body_len;
    int sleeping;         /* in pthread_cond_wait (no_threads: may be asked to read) */
    pthread_cond_t cv;
    struct waiter *next;
    /* Its frame, for whichever thread writes it (see "sending"; mu). */
    int sstate;
    uint8_t hdr[OCHSM_HEADER_BYTES];
    const uint8_t *sbody;
    size_t stotal;        /* header and body bytes */
    size_t soff;          /* of them written (by the writer, while W_WRITING) */
    int has_deadline;
    struct timespec deadline;
    uint32_t timeout_ms;
    struct waiter *qnext; /* on the send queue */
};

struct ochsm_conn {
    int fd;
    pid_t pid;            /* the process that opened it */
    unsigned gen;         /* fork generation at open */
    int atfork;           /* the atfork handler was installed at open */
    pthread_mutex_t mu;
    pthread_cond_t idle_cv;
    pthread_condattr_t cattr; /* CLOCK_MONOTONIC, for every waiter */
    pthread_t reader;
    int reader_started;
    int state;
    unsigned active;      /* calls inside ochsm_call */
    uint32_t next_id;
    struct waiter *buckets[NBUCKETS];
    struct waiter *spare; /* the pool of waiters not in use (mu) */
    struct waiter *q_head, *q_tail; /* frames waiting to be written (mu) */
    int writing;          /* a caller is writing queued frames (mu) */
    ochsm_conn_stats st;  /* writes (mu; the writer adds a batch's counts when it settles it) */
    char broken[OCHSM_ERROR_MESSAGE_MAX];
    char goodbye[512];
    ochsm_limits limits;
    uint32_t send_max;
    uint64_t max_data; /* hello's maxData: data bytes of one operation (0: not said) */
    uint64_t max_user, min_password, max_password; /* hello's account rules (0: not said) */
    uint64_t wrong_pin_rv; /* hello's wrongPinRv: the partition profile's CK_RV of a wrong PIN (0: not said) */
    int set_pin;           /* hello's setPin: the partition profile has C_SetPIN (0: no, or not said) */
    uint32_t call_timeout_ms;
    ochsm_notice_fn on_notice;
    void *notice_ctx;
    char server[256];
    char endpoint[160];
    /* The read side's buffers live here, not on a stack, so that the child
     * of a fork (where the reader thread does not exist) can free them, and
     * so that in no_threads mode a partial frame stays for the next reader. */
    uint8_t *rbuf;
    ochsm_frame_reader fr;
    /* no_threads mode: no reader thread; `reading` (under mu) says that one
     * calling thread holds the read side (rbuf, fr) right now. */
    int no_threads;
    int reading;
};

#define RBUF_BYTES 65536

static atomic_uint fork_generation;

void ochsm_client_atfork_child(void) {
    atomic_fetch_add(&fork_generation, 1u);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_rc;
static atomic_int atfork_installed;

static void install_atfork(void) {
    atfork_rc = pthread_atfork(NULL, NULL, ochsm_client_atfork_child);
    if (atfork_rc == 0) atomic_store(&atfork_installed, 1);
}

int ochsm_client_install_atfork(void) {
    pthread_once(&atfork_once, install_atfork);
    return atfork_rc == 0 ? OCHSM_OK : OCHSM_ERR_NO_MEMORY;
}

/* Inherited across fork(): decided without touching any lock. With the
 * atfork handler installed before the connection opened, every fork since
 * has moved the generation, and the getpid() system call is not needed. */
static int stale(const ochsm_conn *c) {
    if (atomic_load(&fork_generation) != c->gen) return 1;
    return !c->atfork && getpid() != c->pid;
}

static const char FORK_MESSAGE[] =
    "this connection to the client daemon belongs to the parent process (fork); close it and connect again "
    "(PKCS#11: call C_Initialize in the child)";

/* ───────────────────────────── time ───────────────────────────── */

static struct timespec mono_after(uint32_t ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(ms / 1000u);
    t.tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Milliseconds left until a monotonic deadline (0 when past). */
static int ms_left(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
    if (ms <= 0) return 0;
    return ms > 0x7fffffffLL ? 0x7fffffff : (int)ms;
}

/* ───────────────────────────── waiter table (mu held) ───────────────────────────── */

static struct waiter **slot_of(ochsm_conn *c, uint32_t id) {
    struct waiter **p = &c->buckets[id % NBUCKETS];
    while (*p != NULL && (*p)->id != id) p = &(*p)->next;
    return p;
}

static void table_insert(ochsm_conn *c, struct waiter *w) {
    struct waiter **b = &c->buckets[w->id % NBUCKETS];
    w->next = *b;
    *b = w;
}

static struct waiter *table_remove(ochsm_conn *c, uint32_t id) {
    struct waiter **p = slot_of(c, id);
    struct waiter *w = *p;
    if (w != NULL) *p = w->next;
    return w;
}

/* Ids count up from 1, wrap from 2^32-1 to 1, and skip ids still in flight. */
static uint32_t next_request_id(ochsm_conn *c) {
    uint32_t id = c->next_id;
    while (*slot_of(c, id) != NULL) id = id == UINT32_MAX ? 1u : id + 1u;
    c->next_id = id == UINT32_MAX ? 1u : id + 1u;
    return id;
}

/* A waiter from the pool, or a new one; NULL without memory. mu held. */
static struct waiter *waiter_get(ochsm_conn *c) {
    struct waiter *w = c->spare;
    if (w != NULL) {
        c->spare = w->next;
    } else {
        w = calloc(1, sizeof *w);
        if (w == NULL) return NULL;
        if (pthread_cond_init(&w->cv, &c->cattr) != 0) {
            free(w);
            return NULL;
        }
    }
    w->id = 0;
    w->opcode = 0;
    w->done = 0;
    w->abandoned = 0;
    w->status = 0;
    w->resp_opcode = 0;
    w->body = NULL;
    w->body_len = 0;
    w->sleeping = 0;
    w->next = NULL;
    w->sstate = 0;
    w->soff = 0;
    w->qnext = NULL;
    return w;
}

/* Back to the pool, its answer (if any) dropped. mu held. */
static void waiter_put(ochsm_conn *c, struct waiter *w) {
    free(w->body);
    w->body = NULL;
    w->next = c->spare;
    c->spare = w;
}

/* The connection is over: say why once, wake everyone, stop the socket. mu held. */
static void conn_fail(ochsm_conn *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void conn_fail(ochsm_conn *c, const char *fmt, ...) {
    if (c->state != ST_OPEN) return;
    c->state = ST_BROKEN;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->broken, sizeof c->broken, fmt, ap);
    va_end(ap);
    /* Frames still queued will never be written: their callers learn it below. */
    for (struct waiter *q = c->q_head; q != NULL;) {
        struct waiter *next = q->qnext;
        q->qnext = NULL;
        q->sstate = q->soff > 0 ? W_SENT : W_UNSENT; /* in part: handed back by a writer */
        q = next;
    }
    c->q_head = c->q_tail = NULL;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct waiter *w = c->buckets[i];
        c->buckets[i] = NULL;
        while (w != NULL) {
            struct waiter *next = w->next;
            w->next = NULL;
            if (w->abandoned) {
                waiter_put(c, w);
            } else {
                w->done = 1;
                w->status = OCHSM_ERR_DEVICE;
                pthread_cond_signal(&w->cv);
            }
            w = next;
        }
    }
    shutdown(c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&c->idle_cv);
}

/* ───────────────────────────── reader thread ───────────────────────────── */

/* One frame from the daemon. 0 to go on; otherwise the connection must end (why filled). */
static int dispatch(ochsm_conn *c, const ochsm_header *h, uint8_t *body, size_t len, char *why, size_t why_size) {
    if (h->kind == OCHSM_KIND_NOTICE) {
        /* A malformed or unknown notice answers nothing: ignore it (as connection.ts does). */
        if (ochsm_check_notice(h->opcode, body, len, &c->limits, NULL) == OCHSM_OK && ochsm_notice_by_opcode(h->opcode) != NULL) {
            if (h->opcode == OCHSM_NOTICE_GOODBYE) {
                ochsm_field f;
                const char *s;
                size_t n;
                if (ochsm_body_find(body, len, &c->limits, 1, &f, NULL) == 1 && ochsm_field_string(&f, &s, &n) == OCHSM_OK) {
                    pthread_mutex_lock(&c->mu);
                    snprintf(c->goodbye, sizeof c->goodbye, "%.*s", (int)(n < 500 ? n : 500), s);
                    pthread_mutex_unlock(&c->mu);
                }
            }
            if (c->on_notice != NULL) c->on_notice(c->notice_ctx, h->opcode, body, len);
        }
        free(body);
        return 0;
    }
    if (h->kind != OCHSM_KIND_RESPONSE) {
        free(body);
        snprintf(why, why_size, "the client daemon sent a frame of kind %u to a client", h->kind);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    struct waiter *w = table_remove(c, h->request_id);
    if (w == NULL) {
        /* Not a request in flight: a buggy peer; connection.ts ignores it too. */
        pthread_mutex_unlock(&c->mu);
        free(body);
        return 0;
    }
    if (w->abandoned) {
        waiter_put(c, w);
        pthread_mutex_unlock(&c->mu);
        free(body);
        return 0;
    }
    w->body = body;
    w->body_len = len;
    w->resp_opcode = h->opcode;
    w->status = OCHSM_OK;
    w->done = 1;
    pthread_mutex_unlock(&c->mu);
    /* After the unlock: the caller wakes to a free mu. It may already have
     * seen done and left; w then is in the pool, and this is a spurious
     * wake-up of whoever uses it next (every wait loops on its predicate). */
    pthread_cond_signal(&w->cv);
    return 0;
}

/*
 * Read what the socket has and dispatch every whole frame. Only the thread
 * that holds the read side calls it (the reader thread, or in no_threads mode
 * the caller that set c->reading). ms < 0: block until data; otherwise wait
 * at most ms. Returns 1 when bytes were read, 0 when none came in time, -1
 * when the connection is over (why filled).
 */
static int read_some(ochsm_conn *c, int ms, char *why, size_t why_size) {
    ochsm_error e;
    if (ms >= 0) {
        struct pollfd p = {c->fd, POLLIN, 0};
        int pn = poll(&p, 1, ms);
        if (pn < 0 && errno == EINTR) return 0;
        if (pn < 0) {
            snprintf(why, why_size, "waiting for the client daemon at %s failed: %s", c->endpoint, strerror(errno));
            return -1;
        }
        if (pn == 0) return 0;
    }
    ssize_t n = recv(c->fd, c->rbuf, RBUF_BYTES, ms >= 0 ? MSG_DONTWAIT : 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0) {
        snprintf(why, why_size, "reading from the client daemon at %s failed: %s", c->endpoint, strerror(errno));
        return -1;
    }
    if (n == 0) {
        int partial = ochsm_frame_reader_end(&c->fr, &e) != OCHSM_OK;
        pthread_mutex_lock(&c->mu);
        if (c->goodbye[0] != '\0') {
            snprintf(why, why_size, "the client daemon at %s closed the connection: %s", c->endpoint, c->goodbye);
        } else {
            snprintf(why, why_size, "the client daemon at %s closed the connection%s", c->endpoint,
                     partial ? " in the middle of a frame" : "");
        }
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    size_t off = 0;
    while (off < (size_t)n) {
        size_t used = 0;
        int rc = ochsm_frame_reader_push(&c->fr, c->rbuf + off, (size_t)n - off, &used, &e);
        off += used;
        if (rc < 0) {
            snprintf(why, why_size, "the client daemon at %s sent a malformed frame (%s): %.600s", c->endpoint,
                     ochsm_status_name(e.code), e.message);
            return -1;
        }
        if (rc == 1) {
            ochsm_header h;
            uint8_t *body;
            size_t len;
            ochsm_frame_reader_take(&c->fr, &h, &body, &len);
            if (dispatch(c, &h, body, len, why, why_size) != 0) return -1;
        }
    }
    return 1;
}

static void *reader_main(void *arg) {
    ochsm_conn *c = arg;
    char why[OCHSM_ERROR_MESSAGE_MAX];
    why[0] = '\0';
    while (read_some(c, -1, why, sizeof why) >= 0) {
    }
    pthread_mutex_lock(&c->mu);
    conn_fail(c, "%s", why);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/*
 * no_threads mode, mu held, the read side just released: wake one caller that
 * sleeps waiting for its answer, so that it takes the read side over. (A
 * caller still sending checks c->reading itself before it sleeps.)
 */
static void hand_off_reading(ochsm_conn *c) {
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (struct waiter *w = c->buckets[i]; w != NULL; w = w->next) {
            if (w->sleeping && !w->done && !w->abandoned) {
                pthread_cond_signal(&w->cv);
                return;
            }
        }
    }
}

/* no_threads mode: take the read side if nobody holds it. mu not held. */
static int claim_reading(ochsm_conn *c) {
    pthread_mutex_lock(&c->mu);
    int got = c->state == ST_OPEN && !c->reading;
    if (got) c->reading = 1;
    pthread_mutex_unlock(&c->mu);
    return got;
}

/* no_threads mode: give the read side back after read_some answered rr. mu held. */
static void release_reading(ochsm_conn *c, int rr, const char *why) {
    c->reading = 0;
    if (rr < 0) conn_fail(c, "%s", why);
    hand_off_reading(c);
}

/* ───────────────────────────── responses ───────────────────────────── */

static int local_fail(ochsm_response *r, int status, uint64_t rv, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int local_fail(ochsm_response *r, int status, uint64_t rv, const char *fmt, ...) {
    va_list ap;
    r->status = status;
    r->rv = rv;
    va_start(ap, fmt);
    vsnprintf(r->local_message, sizeof r->local_message, fmt, ap);
    va_end(ap);
    return status;
}

const char *ochsm_response_code(const ochsm_response *r) {
    if (r == NULL) return "";
    if (r->remote_text != NULL) return r->remote_text;
    if (r->status != OCHSM_OK) return ochsm_status_name(r->status);
    return "";
}

const char *ochsm_response_message(const ochsm_response *r) {
    if (r == NULL) return "";
    if (r->remote_text != NULL) return r->remote_text + strlen(r->remote_text) + 1;
    if (r->status != OCHSM_OK) return r->local_message;
    return "";
}

void ochsm_response_free(ochsm_response *r) {
    if (r == NULL) return;
    free(r->body);
    free(r->remote_text);
    memset(r, 0, sizeof *r);
}

/* Copy code and message of an error response (already checked) as "code\0message\0". */
static void keep_error_text(ochsm_response *r) {
    ochsm_field code, msg;
    const char *cs = "", *ms = "";
    size_t cn = 0, mn = 0;
    if (ochsm_body_find(r->body, r->body_len, NULL, OCHSM_F_CODE, &code, NULL) == 1) ochsm_field_string(&code, &cs, &cn);
    if (ochsm_body_find(r->body, r->body_len, NULL, OCHSM_F_MESSAGE, &msg, NULL) == 1) ochsm_field_string(&msg, &ms, &mn);
    char *t = malloc(cn + mn + 2);
    if (t == NULL) return;
    if (cn > 0) memcpy(t, cs, cn);
    t[cn] = '\0';
    if (mn > 0) memcpy(t + cn + 1, ms, mn);
    t[cn + 1 + mn] = '\0';
    r->remote_text = t;
}

/* ───────────────────────────── sending ───────────────────────────── */

/*
 * Combined writes. A caller puts its frame on the connection's send queue
 * (mu held). If no thread is writing, it becomes the writer: it takes up to
 * BATCH_FRAMES queued frames, writes them with one sendmsg (an iovec of each
 * header and body), marks them, and goes on while frames are queued. A caller
 * that finds the writer busy only sleeps until its answer: no lock hand-off,
 * no system call, no wake-up of its own for the write.
 *
 * A frame's state (sstate, under mu):
 *   W_QUEUED   on the queue; its caller may still take it back (deadline);
 *   W_WRITING  in a writer's batch: the writer reads its header and body, so
 *              its caller does not return before the writer has marked it;
 *   W_SENT     written (or written in part, and the connection failed);
 *   W_UNSENT   no byte written and the connection failed (may be retried);
 *   W_EXPIRED  no byte written before its caller's deadline: a clean timeout.
 * Bounds: a writer waiting for the socket drops the frames of its batch whose
 * deadline has passed before any of their bytes left, and fails the
 * connection when a deadline passes in the middle of a frame, so no caller
 * with a deadline is held by another thread past it. With a reader thread, a
 * writer never waits for the socket for others only: once its own frame has
 * left and the socket is full, it hands the rest of its batch (the first
 * frame perhaps written in part, which its caller can then no longer take
 * back) to the caller of the next frame; and a writer whose own answer has
 * come (or whose own deadline has passed) hands the queue to the caller at
 * its head. In no_threads mode the next caller may be inside read_some and
 * would not see a hand-over, so there the writer writes until the queue is
 * empty, bounded by the frames' deadlines (the PKCS#11 module always sets
 * one) while the daemon reads nothing.
 */
#define BATCH_FRAMES 64

/* mu held */
static void queue_push(ochsm_conn *c, struct waiter *w) {
    w->qnext = NULL;
    if (c->q_tail != NULL) {
        c->q_tail->qnext = w;
    } else {
        c->q_head = w;
    }
    c->q_tail = w;
}

/* Take w (queued) off the queue. mu held. */
static void queue_unlink(ochsm_conn *c, struct waiter *w) {
    struct waiter *prev = NULL;
    for (struct waiter *q = c->q_head; q != NULL; prev = q, q = q->qnext) {
        if (q != w) continue;
        if (prev != NULL) {
            prev->qnext = q->qnext;
        } else {
            c->q_head = q->qnext;
        }
        if (c->q_tail == q) c->q_tail = prev;
        q->qnext = NULL;
        return;
    }
}

enum { WR_OK = 0, WR_ERROR = 1, WR_TIMEOUT_PARTIAL = 2, WR_HAND_ON = 3 };

/*
 * A frame of a batch is done with (mu held): mark it, and wake its caller
 * only when it must know now: its answer or the connection's end came
 * already, its deadline has passed, or it was not sent. Otherwise it sleeps
 * on until its answer, and no wake-up is spent. The writer does not touch
 * the frame afterwards: its caller may return as soon as mu is free.
 */
static void settle_one(ochsm_conn *c, const struct waiter *self, struct waiter *w) {
    if (w->sstate == W_WRITING) w->sstate = w->soff > 0 ? W_SENT : W_UNSENT;
    if (w->soff == w->stotal) c->st.frames++;
    if (w == self) return;
    if (w->done || w->sstate != W_SENT || (w->has_deadline && ms_left(&w->deadline) == 0)) pthread_cond_signal(&w->cv);
}

/*
 * While the socket takes no more (mu held): let go of the frames of the
 * batch written whole, drop (W_EXPIRED) those whose deadline has passed
 * before any of their bytes left, so that no caller waits on this writer for
 * frames that are not its own. Returns the frame whose deadline passed in the
 * middle of it (the connection must end), or NULL; *ms: how long to wait for
 * the socket (-1: no deadline left in the batch).
 */
static struct waiter *batch_prune(ochsm_conn *c, const struct waiter *self, struct waiter **batch, int *n, int *ms) {
    struct waiter *late = NULL;
    int kept = 0;
    *ms = -1;
    for (int i = 0; i < *n; i++) {
        struct waiter *w = batch[i];
        if (w->soff == w->stotal) {
            settle_one(c, self, w);
            continue;
        }
        if (w->has_deadline) {
            int wl = ms_left(&w->deadline);
            if (wl == 0 && w->soff == 0) {
                w->sstate = W_EXPIRED;
                if (w != self) pthread_cond_signal(&w->cv);
                continue;
            }
            if (wl == 0 && late == NULL) late = w;
            if (wl > 0 && (*ms < 0 || wl < *ms)) *ms = wl;
        }
        batch[kept++] = w;
    }
    *n = kept;
    return late;
}

/*
 * Write the frames of a batch (mu not held) in as few sendmsg calls as the
 * socket takes. The batch may shrink (batch_prune). WR_ERROR: *err_no says
 * why; WR_TIMEOUT_PARTIAL: the deadline of *late passed in the middle of its
 * frame; WR_HAND_ON: the socket is full and the writer's own frame has left,
 * so the rest of the batch (*n frames, the first perhaps written in part)
 * goes back to the head of the queue for the next frame's caller.
 */
static int batch_write(ochsm_conn *c, const struct waiter *self, struct waiter **batch, int *n, int *err_no, struct waiter **late,
                       uint64_t *writes, uint64_t *partial) {
    struct iovec iov[2 * BATCH_FRAMES];
    int first = 0; /* the frames before it are written */
    int any_deadline = 0;
    for (int i = 0; i < *n; i++) any_deadline |= batch[i]->has_deadline;
    int flags = MSG_NOSIGNAL | (any_deadline || c->no_threads ? MSG_DONTWAIT : 0);
    for (;;) {
        while (first < *n && batch[first]->soff == batch[first]->stotal) first++;
        if (first == *n) return WR_OK;
        size_t k = 0;
        for (int i = first; i < *n; i++) {
            struct waiter *w = batch[i];
            size_t blen = w->stotal - OCHSM_HEADER_BYTES;
            if (w->soff < OCHSM_HEADER_BYTES) {
                iov[k].iov_base = w->hdr + w->soff;
                iov[k].iov_len = OCHSM_HEADER_BYTES - w->soff;
                k++;
                if (blen > 0) {
                    iov[k].iov_base = (void *)w->sbody;
                    iov[k].iov_len = blen;
                    k++;
                }
            } else {
                iov[k].iov_base = (void *)(w->sbody + (w->soff - OCHSM_HEADER_BYTES));
                iov[k].iov_len = w->stotal - w->soff;
                k++;
            }
        }
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = iov;
        m.msg_iovlen = k;
        ssize_t sent = sendmsg(c->fd, &m, flags);
        if (sent > 0) {
            /* A partial write ends anywhere, also inside a header: count it frame by frame. */
            size_t offered = 0;
            for (size_t i = 0; i < k; i++) offered += iov[i].iov_len;
            *writes += 1;
            *partial += (size_t)sent < offered;
            size_t left = (size_t)sent;
            for (int i = first; i < *n && left > 0; i++) {
                struct waiter *w = batch[i];
                size_t room = w->stotal - w->soff;
                size_t take = left < room ? left : room;
                w->soff += take;
                left -= take;
            }
            continue;
        }
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* The daemon takes no more now: before waiting, let go of every
             * frame that need not wait with this writer. */
            int ms;
            pthread_mutex_lock(&c->mu);
            *late = batch_prune(c, self, batch, n, &ms);
            pthread_mutex_unlock(&c->mu);
            first = 0;
            if (*late != NULL) return WR_TIMEOUT_PARTIAL;
            if (*n == 0) return WR_OK;
            /* Our own frame has left: we wait for the socket no longer for
             * others' frames; the caller of the next one writes on. */
            if (!c->no_threads && self->sstate != W_WRITING) return WR_HAND_ON;
            if (c->no_threads) {
                /* No reader thread drains the socket: while the daemon cannot
                 * take more, read its answers (if no other caller is reading),
                 * so that a daemon blocked writing to us never deadlocks
                 * against this write. Without the read side, look again every
                 * 50 ms. */
                int reader = claim_reading(c);
                struct pollfd p = {c->fd, (short)(POLLOUT | (reader ? POLLIN : 0)), 0};
                int pn = poll(&p, 1, reader ? ms : (ms < 0 || ms > 50 ? 50 : ms));
                if (reader) {
                    char why[OCHSM_ERROR_MESSAGE_MAX];
                    int rr = 0;
                    why[0] = '\0';
                    if (pn > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) rr = read_some(c, 0, why, sizeof why);
                    pthread_mutex_lock(&c->mu);
                    release_reading(c, rr, why);
                    pthread_mutex_unlock(&c->mu);
                    if (rr < 0) {
                        *err_no = EPIPE;
                        return WR_ERROR;
                    }
                }
            } else {
                struct pollfd p = {c->fd, POLLOUT, 0};
                poll(&p, 1, ms);
            }
            continue;
        }
        *err_no = sent < 0 ? errno : EPIPE;
        return WR_ERROR;
    }
}

/* After a batch (mu held): settle every frame still in it. */
static void batch_settle(ochsm_conn *c, const struct waiter *self, struct waiter **batch, int n) {
    for (int i = 0; i < n; i++) settle_one(c, self, batch[i]);
}

/* Be the writer while frames are queued (mu held; released around each sendmsg). */
static void write_queue(ochsm_conn *c, struct waiter *self) {
    struct waiter *batch[BATCH_FRAMES];
    c->writing = 1;
    while (c->q_head != NULL && c->state == ST_OPEN) {
        if (!c->no_threads && self->sstate != W_QUEUED && self->sstate != W_WRITING &&
            (self->done || (self->has_deadline && ms_left(&self->deadline) == 0))) {
            /* Our own call is over: the caller at the head writes on. */
            pthread_cond_signal(&c->q_head->cv);
            break;
        }
        int n = 0;
        while (n < BATCH_FRAMES && c->q_head != NULL) {
            struct waiter *w = c->q_head;
            c->q_head = w->qnext;
            w->qnext = NULL;
            w->sstate = W_WRITING;
            batch[n++] = w;
        }
        if (c->q_head == NULL) c->q_tail = NULL;
        if ((uint32_t)n > c->st.max_batch) c->st.max_batch = (uint32_t)n;
        pthread_mutex_unlock(&c->mu);
        int err_no = 0;
        struct waiter *late = NULL;
        uint64_t writes = 0, partial = 0;
        int wr = batch_write(c, self, batch, &n, &err_no, &late, &writes, &partial);
        pthread_mutex_lock(&c->mu);
        c->st.writes += writes;
        c->st.partial += partial;
        if (wr == WR_HAND_ON) {
            /* Back to the head of the queue, in order; a frame written in part
             * (soff > 0) can no longer be taken back by its caller. */
            for (int i = n - 1; i >= 0; i--) {
                batch[i]->sstate = W_QUEUED;
                batch[i]->qnext = c->q_head;
                c->q_head = batch[i];
                if (c->q_tail == NULL) c->q_tail = batch[i];
            }
            pthread_cond_signal(&batch[0]->cv);
            break;
        }
        if (wr == WR_TIMEOUT_PARTIAL) {
            conn_fail(c, "timed out after %u ms in the middle of sending a request to the client daemon at %s", late->timeout_ms,
                      c->endpoint);
        } else if (wr == WR_ERROR) {
            conn_fail(c, "sending to the client daemon at %s failed: %s", c->endpoint, strerror(err_no));
        }
        batch_settle(c, self, batch, n);
    }
    c->writing = 0;
}

/*
 * The caller's deadline has passed without an answer (mu held). 1: the call
 * is over (timed out); 0: a writer holds the frame and settles it soon.
 */
static int give_up(ochsm_conn *c, struct waiter *w) {
    if (w->sstate == W_QUEUED && w->soff == 0) {
        /* Nothing of the frame went out: the id is free again. */
        queue_unlink(c, w);
        table_remove(c, w->id);
        w->sstate = W_EXPIRED;
        return 1;
    }
    if (w->sstate == W_SENT) {
        w->abandoned = 1; /* a tombstone: the reader or conn_fail recycles it */
        return 1;
    }
    return 0;
}

/* ───────────────────────────── calls ───────────────────────────── */

int ochsm_call(ochsm_conn *c, uint16_t opcode, const void *body, size_t body_len, ochsm_response *r) {
    return ochsm_call_timeout(c, opcode, body, body_len, c != NULL ? c->call_timeout_ms : 0, r);
}

int ochsm_call_timeout(ochsm_conn *c, uint16_t opcode, const void *body, size_t body_len, uint32_t timeout_ms,
                       ochsm_response *r) {
    ochsm_error e;
    if (r == NULL) return OCHSM_ERR_ARGUMENTS_BAD;
    memset(r, 0, sizeof *r);
    r->opcode = opcode;
    if (c == NULL) return local_fail(r, OCHSM_ERR_ARGUMENTS_BAD, 0x7, "ochsm_call: NULL connection");
    if (stale(c)) return local_fail(r, OCHSM_ERR_DEVICE, OCHSM_CKR_DEVICE_ERROR, "%s", FORK_MESSAGE);
    if (body == NULL && body_len > 0) return local_fail(r, OCHSM_ERR_ARGUMENTS_BAD, 0x7, "ochsm_call: NULL body");
    int rc = ochsm_check_request(opcode, body, body_len, &c->limits, &e);
    if (rc != OCHSM_OK) return local_fail(r, rc, ochsm_status_ckr(rc), "request refused before sending: %s", e.message);
    if (body_len > c->send_max) {
        return local_fail(r, OCHSM_ERR_LIMIT, 0x7, "request body of %zu bytes exceeds the daemon's limit of %u bytes", body_len,
                          c->send_max);
    }

    struct timespec deadline;
    const struct timespec *dl = NULL;
    if (timeout_ms > 0) {
        deadline = mono_after(timeout_ms);
        dl = &deadline;
    }
    pthread_mutex_lock(&c->mu);
    if (c->state != ST_OPEN) {
        local_fail(r, OCHSM_ERR_DEVICE, OCHSM_CKR_DEVICE_ERROR, "%s", c->broken);
        r->unsent = 1;
        pthread_mutex_unlock(&c->mu);
        return r->status;
    }
    struct waiter *w = waiter_get(c);
    if (w == NULL) {
        pthread_mutex_unlock(&c->mu);
        return local_fail(r, OCHSM_ERR_NO_MEMORY, 0x2, "no memory for a request");
    }
    w->opcode = opcode;
    c->active++;
    w->id = next_request_id(c);
    table_insert(c, w);
    ochsm_header h = {OCHSM_KIND_REQUEST, w->id, opcode, 0, (uint32_t)body_len};
    ochsm_header_encode(&h, w->hdr, &c->limits, NULL); /* cannot fail: checked above */
    w->sbody = body;
    w->stotal = OCHSM_HEADER_BYTES + body_len;
    w->has_deadline = dl != NULL;
    if (dl != NULL) w->deadline = *dl;
    w->timeout_ms = timeout_ms;
    w->sstate = W_QUEUED;
    queue_push(c, w);

    int timed_out = 0;
    for (;;) {
        if (w->sstate == W_QUEUED && !c->writing && c->state == ST_OPEN) {
            write_queue(c, w);
            continue;
        }
        if (w->sstate == W_EXPIRED && !w->done) {
            /* A writer dropped it unsent at the deadline: the id is free again. */
            table_remove(c, w->id);
            timed_out = 1;
            break;
        }
        if ((w->sstate == W_WRITING || (w->sstate == W_QUEUED && w->soff > 0)) && (w->done || (dl != NULL && ms_left(dl) == 0))) {
            /* Only the writer's verdict is missing, and the writer wakes us
             * with it, or hands the frame back to us (not `sleeping`: this
             * caller cannot take the read side). */
            pthread_cond_wait(&w->cv, &c->mu);
            continue;
        }
        if (w->done) break;
        if (c->no_threads && !c->reading && c->state == ST_OPEN) {
            /* No reader thread: the first caller waiting reads for everyone
             * until its own answer is in, then hands the read side on. */
            char why[OCHSM_ERROR_MESSAGE_MAX];
            int ms = dl != NULL ? ms_left(dl) : -1;
            int rr = 0;
            why[0] = '\0';
            c->reading = 1;
            pthread_mutex_unlock(&c->mu);
            if (ms != 0) rr = read_some(c, ms, why, sizeof why);
            pthread_mutex_lock(&c->mu);
            if (!w->done && rr >= 0 && dl != NULL && ms_left(dl) == 0 && give_up(c, w)) timed_out = 1;
            release_reading(c, rr, why);
            if (timed_out) break;
            continue;
        }
        w->sleeping = 1;
        if (dl != NULL) {
            int wr = pthread_cond_timedwait(&w->cv, &c->mu, dl);
            w->sleeping = 0;
            if (wr == ETIMEDOUT && !w->done && give_up(c, w)) {
                timed_out = 1;
                break;
            }
        } else {
            pthread_cond_wait(&w->cv, &c->mu);
            w->sleeping = 0;
        }
    }
    int abandoned = w->abandoned;
    if (timed_out) {
        local_fail(r, OCHSM_ERR_TIMEOUT, OCHSM_CKR_DEVICE_ERROR, "no answer from the client daemon at %s within %u ms (the request may still run)",
                   c->endpoint, timeout_ms);
    } else if (w->status != OCHSM_OK) {
        local_fail(r, w->status, OCHSM_CKR_DEVICE_ERROR, "%s", c->broken);
        r->unsent = w->sstate == W_UNSENT || w->sstate == W_EXPIRED;
    }
    uint8_t *rbody = NULL;
    size_t rlen = 0;
    uint16_t ropcode = 0;
    int status = timed_out ? r->status : w->status;
    if (!abandoned) {
        /* Left as a tombstone otherwise: the reader or conn_fail recycles it. */
        rbody = w->body;
        rlen = w->body_len;
        ropcode = w->resp_opcode;
        w->body = NULL;
        waiter_put(c, w);
    }
    c->active--;
    if (c->active == 0) pthread_cond_broadcast(&c->idle_cv);
    pthread_mutex_unlock(&c->mu);

    if (abandoned) return r->status;
    if (status != OCHSM_OK) {
        free(rbody);
        return r->status;
    }

    /* An answer arrived: check it. A malformed answer fails this call only. */
    r->body = rbody;
    r->body_len = rlen;
    if (ropcode != opcode) {
        return local_fail(r, OCHSM_ERR_PROTOCOL, OCHSM_CKR_DEVICE_ERROR,
                          "the client daemon answered request 0x%04x with opcode 0x%04x", opcode, ropcode);
    }
    uint64_t rv = 0;
    rc = ochsm_check_response(opcode, rbody, rlen, &c->limits, &rv, &e);
    if (rc != OCHSM_OK) {
        return local_fail(r, rc, OCHSM_CKR_DEVICE_ERROR, "malformed answer from the client daemon (%s): %s", ochsm_status_name(rc),
                          e.message);
    }
    r->status = OCHSM_OK;
    r->rv = rv;
    if (rv != 0) {
        keep_error_text(r);
    } else {
        ochsm_field f;
        ochsm_reader_init(&r->result, rbody, rlen, &c->limits, NULL);
        ochsm_reader_next(&r->result, &f, NULL); /* skip rv */
    }
    return OCHSM_OK;
}

/* ───────────────────────────── connecting ───────────────────────────── */

void ochsm_conn_opts_init(ochsm_conn_opts *o) {
    memset(o, 0, sizeof *o);
    o->socket_type = OCHSM_SOCKET_UNIX;
}

static int wait_connected(int fd, int ms, int *err_no) {
    struct pollfd p = {fd, POLLOUT, 0};
    for (;;) {
        int n = poll(&p, 1, ms);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) {
            *err_no = ETIMEDOUT;
            return -1;
        }
        if (n < 0) {
            *err_no = errno;
            return -1;
        }
        int so = 0;
        socklen_t sl = sizeof so;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0) so = errno;
        if (so != 0) {
            *err_no = so;
            return -1;
        }
        return 0;
    }
}

static int open_socket(const ochsm_conn_opts *o, ochsm_conn *c, uint32_t timeout_ms, ochsm_error *err) {
    int tcp = o->socket_type == OCHSM_SOCKET_TCP;
    struct sockaddr_un su;
    struct sockaddr_in si;
    struct sockaddr *sa;
    socklen_t sl;
    if (tcp) {
        if (o->port == 0) return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "SOCKET_TYPE=TCPSOCKET needs a PORT from 1 to 65535");
        snprintf(c->endpoint, sizeof c->endpoint, "127.0.0.1:%u", o->port);
        memset(&si, 0, sizeof si);
        si.sin_family = AF_INET;
        si.sin_port = htons(o->port);
        si.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa = (struct sockaddr *)&si;
        sl = sizeof si;
    } else {
        if (o->socket_path == NULL || o->socket_path[0] == '\0') {
            return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "no socket path for the client daemon");
        }
        size_t n = strlen(o->socket_path);
        if (n >= sizeof su.sun_path) {
            return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "socket path %.200s is longer than %zu bytes, the limit for a Unix socket",
                                   o->socket_path, sizeof su.sun_path - 1);
        }
        snprintf(c->endpoint, sizeof c->endpoint, "%.159s", o->socket_path);
        int trust = ochsm_trust_socket(o->socket_path, err);
        if (trust != OCHSM_OK) return trust;
        memset(&su, 0, sizeof su);
        su.sun_family = AF_UNIX;
        memcpy(su.sun_path, o->socket_path, n + 1);
        sa = (struct sockaddr *)&su;
        sl = (socklen_t)sizeof su;
    }
    int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return ochsm_error_set(err, OCHSM_ERR_CONNECT, "cannot create a socket: %s", strerror(errno));
    int err_no = 0, ok;
    struct timespec deadline = mono_after(timeout_ms);
    for (;;) {
        ok = connect(fd, sa, sl);
        if (ok == 0) break;
        err_no = errno;
        if (err_no == EINTR) continue;
        if (err_no == EINPROGRESS) {
            ok = wait_connected(fd, ms_left(&deadline), &err_no);
        } else if (err_no == EAGAIN && !tcp && ms_left(&deadline) > 0) {
            /* A Unix listener's backlog is full: wait a little and try again. */
            struct timespec pause = {0, 10 * 1000000L};
            nanosleep(&pause, NULL);
            continue;
        }
        break;
    }
    if (ok != 0) {
        close(fd);
        return ochsm_error_set(err, OCHSM_ERR_CONNECT, "cannot connect to the client daemon at %s: %s (is azcloudhsm_client running?)",
                               c->endpoint, strerror(err_no));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->fd = fd;
    return OCHSM_OK;
}

/* The pool's memory. destroy: also each condition variable (not in the child of a fork, where it may look in use). */
static void spare_free(ochsm_conn *c, int destroy) {
    while (c->spare != NULL) {
        struct waiter *w = c->spare;
        c->spare = w->next;
        free(w->body);
        if (destroy) pthread_cond_destroy(&w->cv);
        free(w);
    }
}

static void conn_free(ochsm_conn *c) {
    spare_free(c, 1);
    free(c->rbuf);
    ochsm_frame_reader_free(&c->fr);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->idle_cv);
    pthread_condattr_destroy(&c->cattr);
    if (c->fd >= 0) close(c->fd);
    free(c);
}

static int hello(ochsm_conn *c, const char *client_name, uint32_t timeout_ms, ochsm_error *err) {
    ochsm_builder b;
    const uint8_t *body;
    size_t len;
    const uint64_t versions[1] = {OCHSM_PROTOCOL_VERSION};
    ochsm_builder_init(&b, &c->limits);
    ochsm_put_u64_list(&b, 1, versions, 1);
    ochsm_put_string(&b, 2, client_name);
    int rc = ochsm_builder_finish(&b, &body, &len, err);
    if (rc != OCHSM_OK) {
        ochsm_builder_free(&b);
        return rc;
    }
    ochsm_response r;
    rc = ochsm_call_timeout(c, OCHSM_OP_HELLO, body, len, timeout_ms, &r);
    ochsm_builder_free(&b);
    if (rc != OCHSM_OK) {
        ochsm_error_set(err, rc, "hello to the client daemon failed: %s", ochsm_response_message(&r));
        ochsm_response_free(&r);
        return rc;
    }
    if (r.rv != 0) {
        ochsm_error_set(err, OCHSM_ERR_PROTOCOL, "the client daemon refused hello: %s: %s", ochsm_response_code(&r), ochsm_response_message(&r));
        ochsm_response_free(&r);
        return OCHSM_ERR_PROTOCOL;
    }
    ochsm_field f;
    uint64_t version = 0, max_body = 0;
    while (ochsm_reader_next(&r.result, &f, NULL) == 1) {
        const char *s;
        size_t n;
        if (f.id == 4) ochsm_field_u64(&f, &version);
        if (f.id == 5 && ochsm_field_string(&f, &s, &n) == OCHSM_OK) {
            snprintf(c->server, sizeof c->server, "%.*s", (int)(n < 255 ? n : 255), s);
        }
        if (f.id == 6) ochsm_field_u64(&f, &max_body);
        if (f.id == OCHSM_R_HELLO_MAX_DATA) ochsm_field_u64(&f, &c->max_data);
        if (f.id == OCHSM_R_HELLO_MAX_USER_NAME) ochsm_field_u64(&f, &c->max_user);
        if (f.id == OCHSM_R_HELLO_MIN_PASSWORD) ochsm_field_u64(&f, &c->min_password);
        if (f.id == OCHSM_R_HELLO_MAX_PASSWORD) ochsm_field_u64(&f, &c->max_password);
        if (f.id == OCHSM_R_HELLO_WRONG_PIN_RV) ochsm_field_u64(&f, &c->wrong_pin_rv);
        if (f.id == OCHSM_R_HELLO_SET_PIN) ochsm_field_bool(&f, &c->set_pin);
    }
    ochsm_response_free(&r);
    if (version != OCHSM_PROTOCOL_VERSION) {
        return ochsm_error_set(err, OCHSM_ERR_PROTOCOL, "the client daemon chose protocol version %llu, which this client does not speak",
                               (unsigned long long)version);
    }
    if (max_body < c->send_max) c->send_max = (uint32_t)max_body;
    return OCHSM_OK;
}

int ochsm_conn_open(const ochsm_conn_opts *opts, ochsm_conn **out, ochsm_error *err) {
    if (out == NULL || opts == NULL) return ochsm_error_set(err, OCHSM_ERR_ARGUMENTS_BAD, "ochsm_conn_open: NULL argument");
    *out = NULL;
    ochsm_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return ochsm_error_set(err, OCHSM_ERR_NO_MEMORY, "no memory for a connection");
    c->fd = -1;
    c->pid = getpid();
    c->gen = atomic_load(&fork_generation);
    c->atfork = atomic_load(&atfork_installed);
    c->state = ST_OPEN;
    c->next_id = 1;
    c->limits = ochsm_limits_resolve(opts->limits);
    c->send_max = c->limits.max_body_bytes;
    c->call_timeout_ms = opts->call_timeout_ms;
    c->on_notice = opts->on_notice;
    c->notice_ctx = opts->notice_ctx;
    c->no_threads = opts->no_threads != 0;
    ochsm_frame_reader_init(&c->fr, &c->limits);
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&c->cattr);
    pthread_condattr_setclock(&c->cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->idle_cv, &c->cattr);
    uint32_t timeout = opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;

    c->rbuf = malloc(RBUF_BYTES);
    if (c->rbuf == NULL) {
        conn_free(c);
        return ochsm_error_set(err, OCHSM_ERR_NO_MEMORY, "no memory for the connection's read buffer");
    }
    int rc = open_socket(opts, c, timeout, err);
    if (rc != OCHSM_OK) {
        conn_free(c);
        return rc;
    }
    if (c->no_threads) {
        rc = hello(c, opts->client_name != NULL ? opts->client_name : "ochsm-c", timeout, err);
        if (rc != OCHSM_OK) {
            ochsm_conn_close(c);
            return rc;
        }
        *out = c;
        return OCHSM_OK;
    }
    /* The reader runs with every signal blocked: the application's handlers
     * stay on the application's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int tr = pthread_create(&c->reader, NULL, reader_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (tr != 0) {
        conn_free(c);
        return ochsm_error_set(err, OCHSM_ERR_NO_MEMORY, "cannot start the connection's reader thread: %s", strerror(tr));
    }
    c->reader_started = 1;
    rc = hello(c, opts->client_name != NULL ? opts->client_name : "ochsm-c", timeout, err);
    if (rc != OCHSM_OK) {
        ochsm_conn_close(c);
        return rc;
    }
    *out = c;
    return OCHSM_OK;
}

/* ───────────────────────────── closing ───────────────────────────── */

void ochsm_conn_shutdown(ochsm_conn *c) {
    if (c == NULL || stale(c)) return;
    pthread_mutex_lock(&c->mu);
    conn_fail(c, "the connection to the client daemon at %s was closed by this process", c->endpoint);
    pthread_mutex_unlock(&c->mu);
}

void ochsm_conn_close(ochsm_conn *c) {
    if (c == NULL) return;
    if (stale(c)) {
        /* The child of a fork: the reader thread does not exist here and a
         * lock may be held by a thread that does not exist either. Close this
         * process's descriptor only (no shutdown(), which would cut the
         * parent's connection too) and free the memory. */
        if (c->fd >= 0) close(c->fd);
        free(c->rbuf);
        ochsm_frame_reader_free(&c->fr);
        spare_free(c, 0);
        free(c);
        return;
    }
    pthread_mutex_lock(&c->mu);
    conn_fail(c, "the connection to the client daemon at %s was closed by this process", c->endpoint);
    while (c->active > 0) pthread_cond_wait(&c->idle_cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (c->reader_started) {
        if (pthread_equal(pthread_self(), c->reader)) return; /* misuse from a notice callback: leak rather than crash */
        pthread_join(c->reader, NULL);
    }
    conn_free(c);
}

int ochsm_conn_usable(ochsm_conn *c) {
    if (c == NULL || stale(c)) return 0;
    pthread_mutex_lock(&c->mu);
    int ok = c->state == ST_OPEN;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void ochsm_conn_stats_get(ochsm_conn *c, ochsm_conn_stats *out) {
    memset(out, 0, sizeof *out);
    if (c == NULL || stale(c)) return;
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->queued = 0;
    out->writing = c->writing;
    for (const struct waiter *q = c->q_head; q != NULL; q = q->qnext) out->queued++;
    pthread_mutex_unlock(&c->mu);
}

const char *ochsm_conn_server(const ochsm_conn *c) {
    return c != NULL ? c->server : "";
}

uint32_t ochsm_conn_max_body(const ochsm_conn *c) {
    return c != NULL ? c->send_max : 0;
}

uint64_t ochsm_conn_max_data(const ochsm_conn *c) {
    return c != NULL ? c->max_data : 0;
}

uint64_t ochsm_conn_wrong_pin_rv(const ochsm_conn *c) {
    return c != NULL ? c->wrong_pin_rv : 0;
}

int ochsm_conn_set_pin(const ochsm_conn *c) {
    return c != NULL && c->set_pin;
}

void ochsm_conn_account_rules(const ochsm_conn *c, uint64_t *max_user, uint64_t *min_password, uint64_t *max_password) {
    *max_user = c != NULL ? c->max_user : 0;
    *min_password = c != NULL ? c->min_password : 0;
    *max_password = c != NULL ? c->max_password : 0;
}
