/*
 * test_client.c: client.c against a tiny server that the test runs in its
 * own threads, on a temporary Unix socket (and once on 127.0.0.1), speaking
 * the framing of docs/protocol.md. Until the real daemon exists, this proves:
 *
 *  - pipelining: 8 threads x 500 calls on one connection; the server answers
 *    each batch of 8 requests in REVERSE order of arrival, and every caller
 *    still gets its own answer; no request id is reused while in flight;
 *  - the server closing mid-flight makes every waiter return the device error
 *    (rv 0x30) promptly, later calls fail fast, a new connection works;
 *  - ochsm_conn_close wakes every waiter; per-call timeouts; a malformed frame
 *    from the server; hello refused; no daemon; notices and goodbye; a 1 MiB
 *    answer; requests refused before sending; error responses passed through;
 *    fork(): the child's inherited connection fails fast, the parent's is intact;
 *  - combined writes: frames queued behind a writer leave in one batch; a
 *    frame larger than the socket takes several partial writes and resumes
 *    where it stopped; 16 threads of mixed sizes and deadlines each get their
 *    own answer, checked byte for byte; a caller queued behind a stuck writer
 *    still times out on time; the daemon closing in the middle of a write
 *    fails every caller, and tells those of which nothing was sent.
 */
#include "ochsm_client.h"
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ───────────────────────────── the test server ───────────────────────────── */

enum mode { M_ECHO, M_HOLD, M_DELAY, M_BAD_FRAME, M_HELLO_ERROR, M_NOTICE };

#define MAX_CONNS 16
#define BATCH_MAX 8

typedef struct server {
    int listen_fd;
    int tcp;
    uint16_t port;
    char dir[64];
    char path[108];
    enum mode mode;
    int batch;                /* M_ECHO: answer every `batch` requests in reverse order */
    atomic_int stop;
    pthread_t acceptor;
    pthread_mutex_t mu;       /* guards conns and writes */
    int conns[MAX_CONNS];
    pthread_t threads[MAX_CONNS];
    int n_conns;
    atomic_int held;          /* requests received and not answered (M_HOLD) */
    atomic_int reversed_batches;
    atomic_int id_reused;
    atomic_int answered;
    atomic_int stall;         /* 1: the connections stop reading (after hello) */
    atomic_int drop;          /* with stall: cut the connections without reading on */
    atomic_int frames_left;   /* with stall: frames still to read before stopping (0: stop now) */
} server;

typedef struct pending {
    ochsm_header h;
    uint8_t *body;
    size_t len;
    long long due_ms;
} pending;

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

#define FNV_OFFSET 0xcbf29ce484222325ull
static uint64_t fnv_step(uint64_t x, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) x = (x ^ p[i]) * 0x100000001b3ull;
    return x;
}

static void srv_write(server *s, int fd, uint8_t kind, uint32_t id, uint16_t opcode, const uint8_t *body, size_t len) {
    uint8_t hdr[16];
    ochsm_header h = {kind, id, opcode, 0, (uint32_t)len};
    ochsm_header_encode(&h, hdr, NULL, NULL);
    pthread_mutex_lock(&s->mu);
    if (send(fd, hdr, 16, MSG_NOSIGNAL) == 16) {
        size_t off = 0;
        while (off < len) {
            ssize_t n = send(fd, body + off, len - off, MSG_NOSIGNAL);
            if (n <= 0) break;
            off += (size_t)n;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static void srv_error(server *s, int fd, const ochsm_header *h, uint64_t rv, const char *code, const char *msg) {
    ochsm_builder b;
    const uint8_t *out;
    size_t len;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 1, rv);
    ochsm_put_string(&b, 2, code);
    ochsm_put_string(&b, 3, msg);
    ochsm_builder_finish(&b, &out, &len, NULL);
    srv_write(s, fd, OCHSM_KIND_RESPONSE, h->request_id, h->opcode, out, len);
    ochsm_builder_free(&b);
}

/* The echo: openSession{flags: v} -> {session: v}; generateRandom{length: n} -> n pattern bytes. */
static void srv_answer(server *s, int fd, const ochsm_header *h, const uint8_t *body, size_t len) {
    ochsm_builder b;
    const uint8_t *out;
    size_t olen;
    ochsm_field f;
    uint64_t v = 0;
    atomic_fetch_add(&s->answered, 1); /* before the answer leaves, so that the client sees the count */
    ochsm_builder_init(&b, NULL);
    if (h->opcode == OCHSM_OP_HELLO) {
        if (s->mode == M_HELLO_ERROR) {
            srv_error(s, fd, h, 0x7, "ERR_PROTOCOL", "no common protocol version (test)");
        } else {
            ochsm_put_u64(&b, 1, 0);
            ochsm_put_u64(&b, 4, 1);
            ochsm_put_string(&b, 5, "OpenCloudHSM/test echo");
            ochsm_put_u64(&b, 6, 16u * 1024u * 1024u);
            ochsm_builder_finish(&b, &out, &olen, NULL);
            srv_write(s, fd, OCHSM_KIND_RESPONSE, h->request_id, h->opcode, out, olen);
        }
    } else if (h->opcode == OCHSM_OP_OPEN_SESSION) {
        if (ochsm_body_find(body, len, NULL, 1, &f, NULL) == 1) ochsm_field_u64(&f, &v);
        if (v == 666) {
            srv_error(s, fd, h, 0xA3, "ERR_LOGIN_FAILED", "login failed: wrong user name, password or PIN format");
        } else {
            ochsm_put_u64(&b, 1, 0);
            ochsm_put_u64(&b, 4, v);
            ochsm_builder_finish(&b, &out, &olen, NULL);
            srv_write(s, fd, OCHSM_KIND_RESPONSE, h->request_id, h->opcode, out, olen);
        }
    } else if (h->opcode == OCHSM_OP_DIGEST) {
        /* digest{session: v, data} -> an FNV-1a of v and the data, so that the client checks every byte arrived. */
        const uint8_t *data = NULL;
        size_t dlen = 0;
        if (ochsm_body_find(body, len, NULL, 1, &f, NULL) == 1) ochsm_field_u64(&f, &v);
        if (ochsm_body_find(body, len, NULL, 3, &f, NULL) == 1) ochsm_field_bytes(&f, &data, &dlen);
        uint8_t d[8];
        uint64_t x = fnv_step(fnv_step(FNV_OFFSET, (const uint8_t *)&v, sizeof v), data, dlen);
        memcpy(d, &x, 8);
        ochsm_put_u64(&b, 1, 0);
        ochsm_put_bytes(&b, 4, d, 8);
        ochsm_builder_finish(&b, &out, &olen, NULL);
        srv_write(s, fd, OCHSM_KIND_RESPONSE, h->request_id, h->opcode, out, olen);
    } else if (h->opcode == OCHSM_OP_GENERATE_RANDOM) {
        if (ochsm_body_find(body, len, NULL, 2, &f, NULL) == 1) ochsm_field_u64(&f, &v);
        uint8_t *data = malloc(v + 1);
        for (uint64_t i = 0; i < v; i++) data[i] = (uint8_t)(i * 7);
        ochsm_put_u64(&b, 1, 0);
        ochsm_put_bytes(&b, 4, data, (size_t)v);
        ochsm_builder_finish(&b, &out, &olen, NULL);
        srv_write(s, fd, OCHSM_KIND_RESPONSE, h->request_id, h->opcode, out, olen);
        free(data);
    } else {
        srv_error(s, fd, h, 0x54, "ERR_FUNCTION_NOT_SUPPORTED", "not in the test server");
    }
    ochsm_builder_free(&b);
}

typedef struct conn_arg {
    server *s;
    int fd;
} conn_arg;

static void flush_reversed(server *s, int fd, pending *p, int *n) {
    if (*n > 1) atomic_fetch_add(&s->reversed_batches, 1);
    for (int i = *n - 1; i >= 0; i--) {
        srv_answer(s, fd, &p[i].h, p[i].body, p[i].len);
        free(p[i].body);
    }
    *n = 0;
}

static void *conn_main(void *arg) {
    conn_arg *ca = arg;
    server *s = ca->s;
    int fd = ca->fd;
    free(ca);
    ochsm_frame_reader fr;
    pending p[64];
    int np = 0;
    long long last = now_ms();
    uint8_t *buf = malloc(65536);
    ochsm_frame_reader_init(&fr, NULL);
    while (!atomic_load(&s->stop)) {
        if (atomic_load(&s->stall) && atomic_load(&s->frames_left) <= 0) {
            /* Read nothing: the client's writes back up. */
            if (atomic_load(&s->drop)) {
                shutdown(fd, SHUT_RDWR);
                break;
            }
            sleep_ms(2);
            continue;
        }
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, 20);
        long long t = now_ms();
        /* Batches that will not fill up (the last calls) go out after 200 ms. */
        if (s->mode == M_ECHO && np > 0 && t - last > 200) flush_reversed(s, fd, p, &np);
        if (s->mode == M_DELAY) {
            for (int i = 0; i < np; i++) {
                if (p[i].due_ms <= t) {
                    srv_answer(s, fd, &p[i].h, p[i].body, p[i].len);
                    free(p[i].body);
                    p[i--] = p[--np];
                }
            }
        }
        if (r <= 0) continue;
        ssize_t n = recv(fd, buf, 65536, 0);
        if (n <= 0) break;
        size_t off = 0;
        while (off < (size_t)n) {
            size_t used;
            int rc = ochsm_frame_reader_push(&fr, buf + off, (size_t)n - off, &used, NULL);
            off += used;
            if (rc < 0) goto out;
            if (rc == 0) continue;
            pending q;
            ochsm_frame_reader_take(&fr, &q.h, &q.body, &q.len);
            if (atomic_load(&s->frames_left) > 0) atomic_fetch_sub(&s->frames_left, 1);
            q.due_ms = 0;
            last = t;
            if (q.h.opcode == OCHSM_OP_HELLO) {
                srv_answer(s, fd, &q.h, q.body, q.len);
                free(q.body);
                continue;
            }
            for (int i = 0; i < np; i++) {
                if (p[i].h.request_id == q.h.request_id) atomic_fetch_add(&s->id_reused, 1);
            }
            switch (s->mode) {
            case M_ECHO:
                p[np++] = q;
                if (np >= s->batch) flush_reversed(s, fd, p, &np);
                break;
            case M_NOTICE: {
                ochsm_builder b;
                const uint8_t *out;
                size_t len;
                ochsm_builder_init(&b, NULL);
                ochsm_put_bool(&b, 1, 1);
                ochsm_put_string(&b, 2, "cu1");
                ochsm_put_string(&b, 3, "CU");
                ochsm_builder_finish(&b, &out, &len, NULL);
                srv_write(s, fd, OCHSM_KIND_NOTICE, 0, OCHSM_NOTICE_LOGIN_CHANGED, out, len);
                /* An unknown notice and a malformed one are ignored by the client. */
                srv_write(s, fd, OCHSM_KIND_NOTICE, 0, 0x0099, out, len);
                srv_write(s, fd, OCHSM_KIND_NOTICE, 0, OCHSM_NOTICE_GOODBYE, out, len);
                ochsm_builder_free(&b);
                srv_answer(s, fd, &q.h, q.body, q.len);
                free(q.body);
                break;
            }
            case M_HOLD:
                if (np < 64) p[np++] = q;
                else free(q.body);
                atomic_fetch_add(&s->held, 1);
                break;
            case M_DELAY: {
                ochsm_field f;
                uint64_t v = 0;
                if (ochsm_body_find(q.body, q.len, NULL, 1, &f, NULL) == 1) ochsm_field_u64(&f, &v);
                if (v >= 1000000) {
                    q.due_ms = t + 300;
                    p[np++] = q;
                } else {
                    srv_answer(s, fd, &q.h, q.body, q.len);
                    free(q.body);
                }
                break;
            }
            case M_BAD_FRAME: {
                static const uint8_t junk[16] = "HTTP/1.1 200 OK";
                pthread_mutex_lock(&s->mu);
                (void)!send(fd, junk, sizeof junk, MSG_NOSIGNAL);
                pthread_mutex_unlock(&s->mu);
                free(q.body);
                break;
            }
            default:
                free(q.body);
            }
        }
    }
out:
    for (int i = 0; i < np; i++) free(p[i].body);
    ochsm_frame_reader_free(&fr);
    free(buf);
    return NULL;
}

static void *acceptor_main(void *arg) {
    server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd pf = {s->listen_fd, POLLIN, 0};
        if (poll(&pf, 1, 20) <= 0) continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&s->mu);
        if (s->n_conns >= MAX_CONNS) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        conn_arg *ca = malloc(sizeof *ca);
        ca->s = s;
        ca->fd = fd;
        s->conns[s->n_conns] = fd;
        pthread_create(&s->threads[s->n_conns], NULL, conn_main, ca);
        s->n_conns++;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static int server_start(server *s, enum mode mode, int tcp) {
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->batch = 8;
    s->tcp = tcp;
    pthread_mutex_init(&s->mu, NULL);
    if (tcp) {
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
        getsockname(s->listen_fd, (struct sockaddr *)&a, &al);
        s->port = ntohs(a.sin_port);
    } else {
        struct sockaddr_un a;
        snprintf(s->dir, sizeof s->dir, "/tmp/ochsm-client-XXXXXX");
        if (mkdtemp(s->dir) == NULL) return -1;
        snprintf(s->path, sizeof s->path, "%s/daemon.sock", s->dir);
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        memcpy(a.sun_path, s->path, strlen(s->path) + 1);
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    }
    if (listen(s->listen_fd, 64) != 0) return -1;
    pthread_create(&s->acceptor, NULL, acceptor_main, s);
    return 0;
}

/* Cut every connection (after a goodbye notice, if reason is given); keep listening. */
static void server_kill_conns(server *s, const char *reason) {
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_conns; i++) {
        if (s->conns[i] < 0) continue;
        if (reason != NULL) {
            ochsm_builder b;
            const uint8_t *out;
            size_t len;
            uint8_t hdr[16];
            ochsm_builder_init(&b, NULL);
            ochsm_put_string(&b, 1, reason);
            ochsm_builder_finish(&b, &out, &len, NULL);
            ochsm_header h = {OCHSM_KIND_NOTICE, 0, OCHSM_NOTICE_GOODBYE, 0, (uint32_t)len};
            ochsm_header_encode(&h, hdr, NULL, NULL);
            (void)!send(s->conns[i], hdr, 16, MSG_NOSIGNAL);
            (void)!send(s->conns[i], out, len, MSG_NOSIGNAL);
            ochsm_builder_free(&b);
        }
        shutdown(s->conns[i], SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->mu);
}

static void server_stop(server *s) {
    atomic_store(&s->stop, 1);
    pthread_join(s->acceptor, NULL);
    for (int i = 0; i < s->n_conns; i++) {
        shutdown(s->conns[i], SHUT_RDWR);
        pthread_join(s->threads[i], NULL);
        close(s->conns[i]);
    }
    close(s->listen_fd);
    if (!s->tcp) {
        unlink(s->path);
        rmdir(s->dir);
    }
    pthread_mutex_destroy(&s->mu);
}

/* ───────────────────────────── client helpers ───────────────────────────── */

static atomic_int notices_seen;
static void on_notice(void *ctx, uint16_t opcode, const uint8_t *body, size_t len) {
    (void)ctx;
    ochsm_field f;
    int b = 0;
    if (opcode == OCHSM_NOTICE_LOGIN_CHANGED && ochsm_body_find(body, len, NULL, 1, &f, NULL) == 1 && ochsm_field_bool(&f, &b) == 0 && b) {
        atomic_fetch_add(&notices_seen, 1);
    }
}

/* 1: every connection of the run is opened with no_threads (the callers read). */
static int g_no_threads;

/* Threads of this process now (/proc/self/task). */
static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (d == NULL) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static ochsm_conn *connect_to(server *s, ochsm_error *e) {
    ochsm_conn_opts o;
    ochsm_conn *c = NULL;
    ochsm_conn_opts_init(&o);
    if (s->tcp) {
        o.socket_type = OCHSM_SOCKET_TCP;
        o.port = s->port;
    } else {
        o.socket_path = s->path;
    }
    o.client_name = "test_client/1";
    o.connect_timeout_ms = 5000;
    o.on_notice = on_notice;
    o.no_threads = g_no_threads;
    if (ochsm_conn_open(&o, &c, e) != OCHSM_OK) return NULL;
    return c;
}

/* openSession{flags: v}: the echo server answers {session: v}. */
static int echo_call(ochsm_conn *c, uint64_t v, uint32_t timeout_ms, ochsm_response *r, uint64_t *got) {
    ochsm_builder b;
    const uint8_t *body;
    size_t len;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 1, v);
    ochsm_builder_finish(&b, &body, &len, NULL);
    int rc = ochsm_call_timeout(c, OCHSM_OP_OPEN_SESSION, body, len, timeout_ms, r);
    ochsm_builder_free(&b);
    *got = (uint64_t)-1;
    if (rc == OCHSM_OK && r->rv == 0) {
        ochsm_field f;
        if (ochsm_reader_next(&r->result, &f, NULL) == 1 && f.id == 4) ochsm_field_u64(&f, got);
    }
    return rc;
}

/* ───────────────────────────── tests ───────────────────────────── */

typedef struct worker {
    ochsm_conn *c;
    int index;
    int calls;
    int ok;
    int wrong;
    int status;
    uint64_t rv;
    long long elapsed_ms;
    char message[OCHSM_ERROR_MESSAGE_MAX];
} worker;

static void *pipeline_worker(void *arg) {
    worker *w = arg;
    for (int i = 0; i < w->calls; i++) {
        ochsm_response r;
        uint64_t v = (uint64_t)w->index * 1000000u + (uint64_t)i, got;
        int rc = echo_call(w->c, v, 0, &r, &got);
        if (rc == OCHSM_OK && r.rv == 0 && got == v) w->ok++;
        else w->wrong++;
        ochsm_response_free(&r);
    }
    return NULL;
}

static void test_pipelining(void) {
    server s;
    ochsm_error e;
    CHECK(server_start(&s, M_ECHO, 0) == 0, "server start");
    /* A fresh server and no other connection: the only new threads are the
     * server's thread for this connection and, unless no_threads, our reader. */
    int threads_before = thread_count();
    ochsm_conn *c = connect_to(&s, &e);
    int threads_after = thread_count();
    CHECK(c != NULL, "connect: %s", e.message);
    if (c == NULL) {
        server_stop(&s);
        return;
    }
    if (g_no_threads)
        CHECK(threads_after == threads_before + 1, "no_threads: the client started no thread (%d -> %d, 1 is the server's)",
              threads_before, threads_after);
    else
        CHECK(threads_after == threads_before + 2, "one reader thread per connection (%d -> %d, 1 is the server's)", threads_before,
              threads_after);
    CHECK(strcmp(ochsm_conn_server(c), "OpenCloudHSM/test echo") == 0 && ochsm_conn_max_body(c) == 16u * 1024u * 1024u,
          "hello answer kept");
    pthread_t t[8];
    worker w[8];
    long long t0 = now_ms();
    for (int i = 0; i < 8; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].c = c;
        w[i].index = i + 1;
        w[i].calls = 500;
        pthread_create(&t[i], NULL, pipeline_worker, &w[i]);
    }
    int ok = 0, wrong = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
        wrong += w[i].wrong;
    }
    long long dt = now_ms() - t0;
    CHECK(ok == 4000 && wrong == 0, "8 threads x 500 calls: %d matched, %d wrong", ok, wrong);
    CHECK(atomic_load(&s.reversed_batches) > 100, "answers came out of order (%d batches reversed)", atomic_load(&s.reversed_batches));
    CHECK(atomic_load(&s.id_reused) == 0, "no request id reused while in flight");
    printf("pipelining: 4000 calls in %lld ms, %d batches answered in reverse order\n", dt, atomic_load(&s.reversed_batches));

    /* An error response is passed through: rv, code, message. */
    ochsm_response r;
    uint64_t got;
    int rc = echo_call(c, 666, 0, &r, &got);
    CHECK(rc == OCHSM_OK && r.rv == 0xA3 && strcmp(ochsm_response_code(&r), "ERR_LOGIN_FAILED") == 0 &&
              strstr(ochsm_response_message(&r), "login failed") != NULL,
          "error response: status %d rv 0x%llx %s", rc, (unsigned long long)r.rv, ochsm_response_code(&r));
    ochsm_response_free(&r);

    /* A 1 MiB answer through the reader. */
    ochsm_builder b;
    const uint8_t *body;
    size_t len;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 2, 1u << 20);
    ochsm_builder_finish(&b, &body, &len, NULL);
    rc = ochsm_call(c, OCHSM_OP_GENERATE_RANDOM, body, len, &r);
    ochsm_builder_free(&b);
    ochsm_field f;
    const uint8_t *data = NULL;
    size_t dlen = 0;
    int good = rc == OCHSM_OK && r.rv == 0 && ochsm_reader_next(&r.result, &f, NULL) == 1 && ochsm_field_bytes(&f, &data, &dlen) == 0 &&
               dlen == (1u << 20);
    for (size_t i = 0; good && i < dlen; i++) good = data[i] == (uint8_t)(i * 7);
    CHECK(good, "1 MiB answer: status %d len %zu", rc, dlen);
    ochsm_response_free(&r);

    /* Refused before sending: schema errors and unknown opcodes never reach the daemon. */
    int before = atomic_load(&s.answered);
    ochsm_builder_init(&b, NULL);
    ochsm_put_string(&b, 1, "cu1");
    ochsm_builder_finish(&b, &body, &len, NULL);
    rc = ochsm_call(c, OCHSM_OP_LOGIN, body, len, &r);
    CHECK(rc == OCHSM_ERR_ARGUMENTS_BAD && r.rv == 0x7 && strstr(ochsm_response_message(&r), "password") != NULL,
          "login without a password refused locally: %s", ochsm_response_message(&r));
    ochsm_response_free(&r);
    rc = ochsm_call(c, 0x07ff, body, len, &r);
    CHECK(rc == OCHSM_ERR_FUNCTION_NOT_SUPPORTED && r.rv == 0x54, "unknown opcode refused locally");
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    rc = ochsm_call(c, OCHSM_OP_MECHANISM_LIST, NULL, 0, &r);
    CHECK(rc == OCHSM_OK && r.rv == 0x54, "an opcode the server does not serve: its own error (rv 0x%llx)", (unsigned long long)r.rv);
    ochsm_response_free(&r);
    CHECK(atomic_load(&s.answered) == before + 1, "only the valid request reached the server");

    ochsm_conn_close(c);
    server_stop(&s);
}

static void *hold_worker(void *arg) {
    worker *w = arg;
    ochsm_response r;
    uint64_t got;
    w->status = echo_call(w->c, (uint64_t)w->index, 0, &r, &got);
    w->elapsed_ms = now_ms();
    w->rv = r.rv;
    snprintf(w->message, sizeof w->message, "%s", ochsm_response_message(&r));
    ochsm_response_free(&r);
    return NULL;
}

/* Start a test server in `mode` and connect to it; NULL (the server stopped, the failure
 * counted) when either fails. */
static ochsm_conn *serve_and_connect(server *s, int mode) {
    ochsm_error e;
    CHECK(server_start(s, mode, 0) == 0, "server start");
    ochsm_conn *c = connect_to(s, &e);
    CHECK(c != NULL, "connect: %s", e.message);
    if (c == NULL) {
        server_stop(s);
        return NULL;
    }
    return c;
}

static int wait_held(server *s, int n) {
    for (int i = 0; i < 500 && atomic_load(&s->held) < n; i++) sleep_ms(10);
    return atomic_load(&s->held) >= n;
}

static void test_server_drops(void) {
    server s;
    ochsm_error e;
    ochsm_conn *c = serve_and_connect(&s, M_HOLD);
    if (c == NULL) return;
    pthread_t t[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].c = c;
        w[i].index = i + 1;
        pthread_create(&t[i], NULL, hold_worker, &w[i]);
    }
    CHECK(wait_held(&s, 8), "8 requests in flight at the server (%d)", atomic_load(&s.held));
    long long t_kill = now_ms();
    server_kill_conns(&s, NULL);
    int all_device = 1;
    long long worst = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (w[i].status != OCHSM_ERR_DEVICE || w[i].rv != 0x30 || strstr(w[i].message, "closed the connection") == NULL) {
            all_device = 0;
            fprintf(stderr, "  waiter %d: status %d rv 0x%llx %s\n", i, w[i].status, (unsigned long long)w[i].rv, w[i].message);
        }
        if (w[i].elapsed_ms - t_kill > worst) worst = w[i].elapsed_ms - t_kill;
    }
    CHECK(all_device, "every waiter got the device error (0x30) with a message");
    CHECK(worst < 2000, "promptly: the last waiter returned %lld ms after the close", worst);
    printf("server closed mid-flight: 8 waiters failed within %lld ms: \"%s\"\n", worst, w[0].message);

    /* Later calls fail fast until the caller reconnects. The call has no timeout and this server
     * never answers, so a call that went to the network (a write, a reconnect) would never return:
     * returning the device error at all shows it failed on the closed connection alone. The time
     * is bounded like the other waits here (2 s); a 100 ms bound failed on a loaded machine. */
    ochsm_response r;
    uint64_t got;
    long long t0 = now_ms();
    int rc = echo_call(c, 1, 0, &r, &got);
    long long failed_in = now_ms() - t0;
    CHECK(rc == OCHSM_ERR_DEVICE && r.rv == 0x30 && failed_in < 2000 && !ochsm_conn_usable(c), "a later call fails fast (%lld ms): %s",
          failed_in, ochsm_response_message(&r));
    ochsm_response_free(&r);
    ochsm_conn_close(c);
    c = connect_to(&s, &e);
    CHECK(c != NULL && ochsm_conn_usable(c), "reconnect works: %s", c ? "" : e.message);

    /* ochsm_conn_close wakes every waiter, then frees the connection. */
    atomic_store(&s.held, 0);
    if (c != NULL) {
        for (int i = 0; i < 4; i++) {
            memset(&w[i], 0, sizeof w[i]);
            w[i].c = c;
            w[i].index = i + 1;
            pthread_create(&t[i], NULL, hold_worker, &w[i]);
        }
        CHECK(wait_held(&s, 4), "4 requests in flight");
        t0 = now_ms();
        ochsm_conn_close(c);
        long long closed_in = now_ms() - t0;
        int ok = 1;
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            ok &= w[i].status == OCHSM_ERR_DEVICE && w[i].rv == 0x30 && strstr(w[i].message, "closed by this process") != NULL;
        }
        CHECK(ok && closed_in < 2000, "ochsm_conn_close woke all 4 waiters (%lld ms): %s", closed_in, w[0].message);
    }

    /* A goodbye notice before the close gives the reason. */
    atomic_store(&s.held, 0);
    c = connect_to(&s, &e);
    if (c != NULL) {
        memset(&w[0], 0, sizeof w[0]);
        w[0].c = c;
        pthread_create(&t[0], NULL, hold_worker, &w[0]);
        wait_held(&s, 1);
        server_kill_conns(&s, "node maintenance (test)");
        pthread_join(t[0], NULL);
        CHECK(w[0].status == OCHSM_ERR_DEVICE && strstr(w[0].message, "node maintenance (test)") != NULL, "goodbye reason: %s",
              w[0].message);
        ochsm_conn_close(c);
    }
    server_stop(&s);
}

static void test_timeouts(void) {
    server s;
    ochsm_conn *c = serve_and_connect(&s, M_DELAY);
    if (c == NULL) return;
    ochsm_response r;
    uint64_t got;
    long long t0 = now_ms();
    int rc = echo_call(c, 1000001, 100, &r, &got);
    long long dt = now_ms() - t0;
    CHECK(rc == OCHSM_ERR_TIMEOUT && r.rv == 0x30 && dt >= 90 && dt < 1000, "a slow answer times out after %lld ms: %s", dt,
          ochsm_response_message(&r));
    ochsm_response_free(&r);
    rc = echo_call(c, 5, 1000, &r, &got);
    CHECK(rc == OCHSM_OK && got == 5, "the connection still works after a timeout");
    ochsm_response_free(&r);
    sleep_ms(400); /* the late answer arrives and is dropped */
    int good = 1;
    for (uint64_t v = 10; v < 30; v++) {
        rc = echo_call(c, v, 1000, &r, &got);
        good &= rc == OCHSM_OK && got == v;
        ochsm_response_free(&r);
    }
    CHECK(good && ochsm_conn_usable(c), "the late answer matched nobody else");
    rc = echo_call(c, 1000002, 0, &r, &got);
    CHECK(rc == OCHSM_OK && got == 1000002, "without a timeout, a slow answer is awaited");
    ochsm_response_free(&r);
    ochsm_conn_close(c);
    server_stop(&s);
}

static void test_bad_peers(void) {
    server s;
    ochsm_error e;
    ochsm_response r;
    uint64_t got;

    CHECK(server_start(&s, M_BAD_FRAME, 0) == 0, "server start");
    ochsm_conn *c = connect_to(&s, &e);
    CHECK(c != NULL, "connect: %s", e.message);
    if (c != NULL) {
        int rc = echo_call(c, 1, 2000, &r, &got);
        CHECK(rc == OCHSM_ERR_DEVICE && r.rv == 0x30 && strstr(ochsm_response_message(&r), "malformed frame") != NULL &&
                  strstr(ochsm_response_message(&r), "bad magic") != NULL,
              "a malformed frame fails the call: %s", ochsm_response_message(&r));
        ochsm_response_free(&r);
        CHECK(!ochsm_conn_usable(c), "and the connection");
        ochsm_conn_close(c);
    }
    server_stop(&s);

    CHECK(server_start(&s, M_HELLO_ERROR, 0) == 0, "server start");
    c = connect_to(&s, &e);
    CHECK(c == NULL && e.code == OCHSM_ERR_PROTOCOL && strstr(e.message, "refused hello: ERR_PROTOCOL") != NULL, "hello refused: %s",
          e.message);
    if (c != NULL) ochsm_conn_close(c);
    server_stop(&s);

    ochsm_conn_opts o;
    ochsm_conn_opts_init(&o);
    o.socket_path = "/tmp/ochsm-no-such-dir/azcloudhsm_client.sock";
    c = NULL;
    int rc = ochsm_conn_open(&o, &c, &e);
    CHECK(rc == OCHSM_ERR_CONNECT && c == NULL && strstr(e.message, o.socket_path) != NULL &&
              strstr(e.message, "is azcloudhsm_client running?") != NULL,
          "no daemon: %s", e.message);
    char longp[200];
    memset(longp, 'a', sizeof longp);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    o.socket_path = longp;
    rc = ochsm_conn_open(&o, &c, &e);
    CHECK(rc == OCHSM_ERR_ARGUMENTS_BAD && strstr(e.message, "longer than 107") != NULL, "socket path too long: %s", e.message);
}

static void test_tcp_and_notices(void) {
    server s;
    ochsm_error e;
    ochsm_response r;
    uint64_t got;
    CHECK(server_start(&s, M_NOTICE, 1) == 0, "tcp server start");
    ochsm_conn *c = connect_to(&s, &e);
    CHECK(c != NULL, "connect to 127.0.0.1:%u: %s", s.port, e.message);
    if (c != NULL) {
        int good = 1;
        atomic_store(&notices_seen, 0);
        for (uint64_t v = 1; v <= 20; v++) {
            good &= echo_call(c, v, 2000, &r, &got) == OCHSM_OK && got == v;
            ochsm_response_free(&r);
        }
        CHECK(good, "20 calls over TCP");
        CHECK(atomic_load(&notices_seen) == 20, "20 loginChanged notices delivered, unknown and malformed ones ignored (%d)",
              atomic_load(&notices_seen));
        CHECK(ochsm_conn_usable(c), "notices do not disturb the connection");
        ochsm_conn_close(c);
    }
    server_stop(&s);
}

/* ───────────────────────────── combined writes ───────────────────────────── */

static uint8_t data_byte(uint64_t v, size_t i) {
    return (uint8_t)(i * 31u + v);
}

/* digest{session: v, data: n pattern bytes}: 1 when the answer is the test server's FNV-1a of exactly what was sent. */
static int digest_call(ochsm_conn *c, uint64_t v, size_t n, uint32_t timeout_ms, ochsm_response *r) {
    ochsm_builder b;
    const uint8_t *body;
    size_t len;
    uint8_t *data = malloc(n + 1);
    for (size_t i = 0; i < n; i++) data[i] = data_byte(v, i);
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 1, v);
    ochsm_begin_record(&b, 2);
    ochsm_put_u64(&b, 1, 0x250); /* CKM_SHA256: the schema wants a mechanism */
    ochsm_end_record(&b);
    ochsm_put_bytes(&b, 3, data, n);
    ochsm_builder_finish(&b, &body, &len, NULL);
    int rc = ochsm_call_timeout(c, OCHSM_OP_DIGEST, body, len, timeout_ms, r);
    ochsm_builder_free(&b);
    uint64_t want = fnv_step(fnv_step(FNV_OFFSET, (const uint8_t *)&v, sizeof v), data, n);
    free(data);
    ochsm_field f;
    const uint8_t *d = NULL;
    size_t dn = 0;
    if (rc != OCHSM_OK || r->rv != 0 || ochsm_reader_next(&r->result, &f, NULL) != 1 || f.id != 4 || ochsm_field_bytes(&f, &d, &dn) != 0 ||
        dn != 8)
        return 0;
    uint64_t got;
    memcpy(&got, d, 8);
    return got == want;
}

#define BIG_FRAME (2u * 1024u * 1024u + 3u) /* larger than any Unix socket buffer here: never one write */

typedef struct big_call {
    ochsm_conn *c;
    uint64_t v;
    uint32_t timeout_ms;
    int good;
    int status;
    int unsent;
    uint64_t rv;
    char message[OCHSM_ERROR_MESSAGE_MAX];
} big_call;

static void *big_worker(void *arg) {
    big_call *b = arg;
    ochsm_response r;
    b->good = digest_call(b->c, b->v, BIG_FRAME, b->timeout_ms, &r);
    b->status = r.status;
    b->unsent = r.unsent;
    b->rv = r.rv;
    snprintf(b->message, sizeof b->message, "%s", ochsm_response_message(&r));
    ochsm_response_free(&r);
    return NULL;
}

static void *small_worker(void *arg) {
    big_call *b = arg;
    ochsm_response r;
    uint64_t got;
    int rc = echo_call(b->c, b->v, b->timeout_ms, &r, &got);
    b->good = rc == OCHSM_OK && got == b->v;
    b->status = r.status;
    b->unsent = r.unsent;
    b->rv = r.rv;
    snprintf(b->message, sizeof b->message, "%s", ochsm_response_message(&r));
    ochsm_response_free(&r);
    return NULL;
}

/* Wait (at most 5 s) until the connection's write stats satisfy a condition. */
#define WAIT_STATS(c, st, cond)                                   \
    do {                                                          \
        for (int i_ = 0; i_ < 2500; i_++) {                       \
            ochsm_conn_stats_get((c), &(st));                     \
            if (cond) break;                                      \
            sleep_ms(2);                                          \
        }                                                         \
    } while (0)

/* An echo server answering one frame per read, connected, then stalled (it reads nothing
 * until s->stall is cleared): the set-up of the combined-write tests. NULL (and the server
 * stopped) when it could not connect. */
static ochsm_conn *stalled_echo(server *s) {
    ochsm_error e;
    CHECK(server_start(s, M_ECHO, 0) == 0, "server start");
    s->batch = 1; /* before connecting: hello is answered one frame per read too */
    ochsm_conn *c = connect_to(s, &e);
    CHECK(c != NULL, "connect: %s", e.message);
    if (c == NULL) {
        server_stop(s);
        return NULL;
    }
    atomic_store(&s->stall, 1);
    return c;
}

/* A writer stuck on a big frame (the server reads nothing), 12 callers queued behind it. */
static void test_combined_writes(void) {
    server s;
    ochsm_conn_stats st;
    ochsm_conn *c = stalled_echo(&s);
    if (c == NULL) return;
    /* With a deadline the write does not block in the kernel: a frame larger
     * than the socket buffer is written in parts, and resumed. */
    big_call a = {c, 77, 30000, 0, 0, 0, 0, ""};
    pthread_t ta, t[12];
    big_call w[12];
    pthread_create(&ta, NULL, big_worker, &a);
    WAIT_STATS(c, st, st.writing);
    CHECK(st.writing, "a caller is writing the big frame");
    for (int i = 0; i < 12; i++) {
        w[i] = (big_call){c, 100u + (uint64_t)i, (uint32_t)(i % 2 ? 30000 : 0), 0, 0, 0, 0, ""};
        pthread_create(&t[i], NULL, small_worker, &w[i]);
    }
    WAIT_STATS(c, st, st.queued == 12);
    CHECK(st.queued == 12, "12 frames wait behind the writer (%u)", st.queued);
    atomic_store(&s.stall, 0);
    pthread_join(ta, NULL);
    int good = 1;
    for (int i = 0; i < 12; i++) {
        pthread_join(t[i], NULL);
        good &= w[i].good;
    }
    CHECK(a.good, "the big frame arrived whole after its partial writes: %s", a.message);
    CHECK(good, "each queued caller got its own answer");
    ochsm_conn_stats_get(c, &st);
    CHECK(st.max_batch >= 12 && st.queued == 0 && !st.writing, "the 12 queued frames left in one batch (largest batch %u)", st.max_batch);
    CHECK(st.partial >= 1, "the big frame took partial writes (%llu)", (unsigned long long)st.partial);
    printf("combined writes: %llu frames in %llu writes (%llu partial), largest batch %u\n", (unsigned long long)st.frames,
           (unsigned long long)st.writes, (unsigned long long)st.partial, st.max_batch);
    ochsm_conn_close(c);
    server_stop(&s);
}

typedef struct mixed {
    ochsm_conn *c;
    int index;
    int ok;
    int wrong;
} mixed;

/* Sizes from nothing to a few frames per socket buffer, now and then a big one; half with a deadline. */
static void *mixed_worker(void *arg) {
    mixed *m = arg;
    for (int i = 0; i < 150; i++) {
        ochsm_response r;
        uint64_t v = (uint64_t)m->index * 1000u + (uint64_t)i;
        uint32_t timeout = (i + m->index) % 2 ? 60000u : 0u;
        int good;
        if (i % 3 == 0) {
            uint64_t got;
            good = echo_call(m->c, v, timeout, &r, &got) == OCHSM_OK && got == v;
        } else {
            size_t n = i % 37 == 5 ? 300000u + (size_t)m->index : ((size_t)i * 7919u + (size_t)m->index * 131u) % 20000u;
            good = digest_call(m->c, v, n, timeout, &r);
        }
        if (good) m->ok++;
        else m->wrong++;
        ochsm_response_free(&r);
    }
    return NULL;
}

static void test_many_writers(void) {
    server s;
    ochsm_conn *c = serve_and_connect(&s, M_ECHO);
    if (c == NULL) return;
    pthread_t t[16];
    mixed m[16];
    for (int i = 0; i < 16; i++) {
        m[i] = (mixed){c, i + 1, 0, 0};
        pthread_create(&t[i], NULL, mixed_worker, &m[i]);
    }
    int ok = 0, wrong = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(t[i], NULL);
        ok += m[i].ok;
        wrong += m[i].wrong;
    }
    ochsm_conn_stats st;
    ochsm_conn_stats_get(c, &st);
    CHECK(ok == 2400 && wrong == 0, "16 threads x 150 calls of mixed sizes and deadlines: %d answered right, %d wrong", ok, wrong);
    CHECK(atomic_load(&s.id_reused) == 0, "no request id reused while in flight");
    CHECK(st.frames == 2401 && st.queued == 0 && !st.writing, "every frame written once (%llu, with hello)", (unsigned long long)st.frames);
    printf("16 writers: %llu frames in %llu writes (%llu partial), largest batch %u\n", (unsigned long long)st.frames,
           (unsigned long long)st.writes, (unsigned long long)st.partial, st.max_batch);
    ochsm_conn_close(c);
    server_stop(&s);
}

static atomic_int sigusr1_seen;
static void on_sigusr1(int sig) {
    (void)sig;
    atomic_fetch_add(&sigusr1_seen, 1);
}

/* A caller queued behind a writer that cannot write still returns at its deadline, and nothing of its frame goes out. */
static void test_queued_timeout(void) {
    server s;
    ochsm_conn_stats st;
    ochsm_conn *c = stalled_echo(&s);
    if (c == NULL) return;
    big_call a = {c, 5, 0, 0, 0, 0, 0, ""}; /* no deadline: the writer waits as long as it takes */
    pthread_t ta;
    pthread_create(&ta, NULL, big_worker, &a);
    WAIT_STATS(c, st, st.writing);
    CHECK(st.writing, "a writer is stuck on the big frame");
    ochsm_response r;
    uint64_t got;
    long long t0 = now_ms();
    int rc = echo_call(c, 6, 150, &r, &got);
    long long dt = now_ms() - t0;
    CHECK(rc == OCHSM_ERR_TIMEOUT && r.rv == 0x30 && dt >= 140 && dt < 2000 && strstr(ochsm_response_message(&r), "within 150 ms") != NULL,
          "queued behind a stuck writer, a call times out on time (%lld ms): %s", dt, ochsm_response_message(&r));
    ochsm_response_free(&r);
    ochsm_conn_stats_get(c, &st);
    CHECK(st.queued == 0 && ochsm_conn_usable(c), "it took its frame back; the connection is intact");
    /* Signals without SA_RESTART interrupt the blocked write (EINTR, or a short count): it goes on. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    for (int i = 0; i < 3; i++) {
        pthread_kill(ta, SIGUSR1);
        sleep_ms(5);
    }
    int answered = atomic_load(&s.answered);
    atomic_store(&s.stall, 0);
    pthread_join(ta, NULL);
    sigaction(SIGUSR1, &old, NULL);
    CHECK(atomic_load(&sigusr1_seen) == 3, "the writer was interrupted 3 times (%d)", atomic_load(&sigusr1_seen));
    atomic_store(&sigusr1_seen, 0);
    CHECK(a.good, "the stuck writer's frame arrived whole after the interruptions: %s", a.message);
    rc = echo_call(c, 8, 2000, &r, &got);
    CHECK(rc == OCHSM_OK && got == 8, "the connection works on");
    ochsm_response_free(&r);
    CHECK(atomic_load(&s.answered) == answered + 2, "the server never saw the frame that timed out (%d answered after the stall, 2 expected)",
          atomic_load(&s.answered) - answered);
    ochsm_conn_close(c);
    server_stop(&s);
}

/* A frame whose deadline passes while it waits, unsent, in a writer's batch behind a frame the server does not take. */
static void test_expire_in_batch(void) {
    server s;
    ochsm_conn_stats st;
    ochsm_conn *c = stalled_echo(&s);
    if (c == NULL) return;
    int answered = atomic_load(&s.answered);
    big_call x = {c, 31, 0, 0, 0, 0, 0, ""};
    big_call a = {c, 32, 30000, 0, 0, 0, 0, ""};
    pthread_t tx, ta;
    pthread_create(&tx, NULL, big_worker, &x);
    WAIT_STATS(c, st, st.writing);
    pthread_create(&ta, NULL, big_worker, &a);
    WAIT_STATS(c, st, st.queued == 1);
    /* B queues behind A; then the server takes X only: a writer takes A and B in one batch and sticks on A,
     * B's deadline passes there (the server reads X in milliseconds; B waits 1.5 s). */
    big_call b = {c, 33, 1500, 0, 0, 0, 0, ""};
    pthread_t tb;
    long long t0 = now_ms();
    pthread_create(&tb, NULL, small_worker, &b);
    WAIT_STATS(c, st, st.queued == 2);
    CHECK(st.queued == 2, "A and B wait behind X (%u)", st.queued);
    atomic_store(&s.frames_left, 1);
    pthread_join(tb, NULL);
    long long dt = now_ms() - t0;
    CHECK(b.status == OCHSM_ERR_TIMEOUT && dt >= 1490 && dt < 5000 && strstr(b.message, "within 1500 ms") != NULL,
          "a frame dropped from a stuck batch times out on time (%lld ms): %s", dt, b.message);
    ochsm_response r;
    uint64_t got;
    int rc;
    if (!g_no_threads) {
        /* X's caller is free once X has left: it handed A (half written) on rather than wait for the socket. */
        pthread_join(tx, NULL);
        CHECK(x.good, "the first big frame was answered while A is stuck: %s", x.message);
    }
    ochsm_conn_stats_get(c, &st);
    CHECK(st.max_batch >= 2 && ochsm_conn_usable(c), "the dropped frame had been in a batch with the next one (largest batch %u)", st.max_batch);
    atomic_store(&s.stall, 0);
    if (g_no_threads) {
        pthread_join(tx, NULL);
        CHECK(x.good, "the first big frame was answered: %s", x.message);
    }
    pthread_join(ta, NULL);
    CHECK(a.good, "the frame written after the drop arrived whole: %s", a.message);
    rc = echo_call(c, 34, 2000, &r, &got);
    CHECK(rc == OCHSM_OK && got == 34, "the connection works on");
    ochsm_response_free(&r);
    CHECK(atomic_load(&s.answered) == answered + 3, "the server never saw the dropped frame (%d answered, 3 expected)", atomic_load(&s.answered) - answered);
    ochsm_conn_close(c);
    server_stop(&s);
}

/* The daemon closes while a big frame is half written and 8 more wait behind it. */
static void test_close_mid_write(void) {
    server s;
    ochsm_conn_stats st;
    ochsm_conn *c = stalled_echo(&s);
    if (c == NULL) return;
    big_call a = {c, 9, 0, 0, 0, 0, 0, ""};
    pthread_t ta, t[8];
    big_call w[8];
    pthread_create(&ta, NULL, big_worker, &a);
    WAIT_STATS(c, st, st.writing);
    for (int i = 0; i < 8; i++) {
        w[i] = (big_call){c, 200u + (uint64_t)i, (uint32_t)(i % 2 ? 30000 : 0), 0, 0, 0, 0, ""};
        pthread_create(&t[i], NULL, small_worker, &w[i]);
    }
    WAIT_STATS(c, st, st.queued == 8);
    CHECK(st.queued == 8, "8 frames wait behind the half-written one (%u)", st.queued);
    long long t0 = now_ms();
    atomic_store(&s.drop, 1);
    pthread_join(ta, NULL);
    int all = 1;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (w[i].status != OCHSM_ERR_DEVICE || w[i].rv != 0x30 || !w[i].unsent ||
            (strstr(w[i].message, "closed the connection") == NULL && strstr(w[i].message, "sending to the client daemon") == NULL)) {
            all = 0;
            fprintf(stderr, "  queued caller %d: status %d rv 0x%llx unsent %d: %s\n", i, w[i].status, (unsigned long long)w[i].rv, w[i].unsent,
                    w[i].message);
        }
    }
    long long dt = now_ms() - t0;
    CHECK(a.status == OCHSM_ERR_DEVICE && a.rv == 0x30 && !a.unsent &&
              (strstr(a.message, "closed the connection") != NULL || strstr(a.message, "sending to the client daemon") != NULL),
          "the half-written frame's caller gets the device error, not marked unsent (status %d, unsent %d): %s", a.status, a.unsent, a.message);
    CHECK(all, "every queued caller gets the device error and learns its frame was not sent (it may be retried)");
    CHECK(dt < 2000, "promptly (%lld ms)", dt);
    printf("closed mid-write: \"%s\"\n", a.message);
    ochsm_response r;
    uint64_t got;
    int rc = echo_call(c, 1, 0, &r, &got);
    CHECK(rc == OCHSM_ERR_DEVICE && r.unsent && !ochsm_conn_usable(c), "a later call fails fast, unsent");
    ochsm_response_free(&r);
    ochsm_conn_close(c);
    server_stop(&s);
}

static void test_fork(void) {
    server s;
    ochsm_error e;
    ochsm_response r;
    uint64_t got;
    CHECK(ochsm_client_install_atfork() == OCHSM_OK, "install the atfork handler");
    CHECK(server_start(&s, M_ECHO, 0) == 0, "server start");
    s.batch = 1;
    ochsm_conn *c = connect_to(&s, &e);
    CHECK(c != NULL, "connect: %s", e.message);
    if (c == NULL) {
        server_stop(&s);
        return;
    }
    CHECK(echo_call(c, 1, 2000, &r, &got) == OCHSM_OK && got == 1, "parent call before fork");
    ochsm_response_free(&r);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        long long t0 = now_ms();
        if (echo_call(c, 2, 0, &r, &got) != OCHSM_ERR_DEVICE || r.rv != 0x30 || strstr(ochsm_response_message(&r), "fork") == NULL) bad |= 1;
        ochsm_response_free(&r);
        /* No timeout: a call that wrote on the shared socket would wait for an answer the child
         * never gets; the "fork" message shows it failed on the fork alone. 2 s bounds a hang
         * (a 100 ms bound could fail on a loaded machine). */
        if (now_ms() - t0 > 2000) bad |= 2;
        if (ochsm_conn_usable(c)) bad |= 4;
        ochsm_conn_close(c); /* the child's descriptor only */
        ochsm_conn *c2 = connect_to(&s, &e);
        if (c2 == NULL) bad |= 8;
        else {
            if (echo_call(c2, 3, 2000, &r, &got) != OCHSM_OK || got != 3) bad |= 16;
            ochsm_response_free(&r);
            ochsm_conn_close(c2);
        }
        _exit(bad);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: inherited connection fails fast, a new one works (exit %d)",
          WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    int rc = echo_call(c, 4, 2000, &r, &got);
    CHECK(rc == OCHSM_OK && got == 4 && ochsm_conn_usable(c), "the parent's connection survives the child's close: %s",
          ochsm_response_message(&r));
    ochsm_response_free(&r);
    ochsm_conn_close(c);
    server_stop(&s);
}

/* The daemon socket's owner, mode and directory (ochsm_trust.h). */
static void test_socket_trust(void) {
    server s;
    ochsm_error e;
    ochsm_response r;
    uint64_t got;
    CHECK(server_start(&s, M_ECHO, 0) == 0, "server start");
    s.batch = 1;
    ochsm_conn *c;

    chmod(s.path, 0666);
    c = connect_to(&s, &e);
    CHECK(c == NULL && e.code == OCHSM_ERR_CONFIG && strstr(e.message, s.path) != NULL && strstr(e.message, "writable by others (mode 0666)") != NULL,
          "a world-writable socket is refused: %s", c ? "(connected)" : e.message);
    if (c) ochsm_conn_close(c);
    chmod(s.path, 0660);

    chmod(s.dir, 0777);
    c = connect_to(&s, &e);
    CHECK(c == NULL && e.code == OCHSM_ERR_CONFIG && strstr(e.message, "its directory") != NULL && strstr(e.message, "mode 0777") != NULL,
          "a socket in a world-writable directory is refused: %s", c ? "(connected)" : e.message);
    if (c) ochsm_conn_close(c);
    chmod(s.dir, 01777);
    c = connect_to(&s, &e);
    CHECK(c != NULL, "a sticky directory is fine: %s", c ? "" : e.message);
    if (c) ochsm_conn_close(c);
    chmod(s.dir, 0700);

    /* A symbolic link or a file where the socket should be. */
    char other[400];
    snprintf(other, sizeof other, "%s/link.sock", s.dir);
    CHECK(symlink(s.path, other) == 0, "symlink");
    ochsm_conn_opts o;
    ochsm_conn_opts_init(&o);
    o.socket_path = other;
    o.no_threads = g_no_threads;
    c = NULL;
    int rc = ochsm_conn_open(&o, &c, &e);
    CHECK(rc == OCHSM_ERR_CONFIG && strstr(e.message, "not a socket but a symbolic link") != NULL, "a symlinked socket is refused: %s", e.message);
    if (c) ochsm_conn_close(c);
    unlink(other);

    if (geteuid() == 0) {
        /* Another user's socket: refused unless it is shared with a group of ours (0660, the daemon's way). */
        CHECK(chown(s.path, 65534, 65534) == 0, "chown the socket");
        c = connect_to(&s, &e);
        CHECK(c == NULL && e.code == OCHSM_ERR_CONFIG && strstr(e.message, "belongs to uid 65534") != NULL &&
                  strstr(e.message, "add this user to the daemon's group") != NULL,
              "another user's socket is refused: %s", c ? "(connected)" : e.message);
        if (c) ochsm_conn_close(c);
        CHECK(chown(s.path, 65534, getegid()) == 0, "chgrp the socket to our group");
        c = connect_to(&s, &e);
        CHECK(c != NULL, "another user's socket shared with our group (0660) is accepted: %s", c ? "" : e.message);
        if (c) {
            CHECK(echo_call(c, 5, 2000, &r, &got) == OCHSM_OK && got == 5, "and works");
            ochsm_response_free(&r);
            ochsm_conn_close(c);
        }
        chmod(s.path, 0640);
        c = connect_to(&s, &e);
        CHECK(c == NULL && e.code == OCHSM_ERR_CONFIG, "without group write it is refused: %s", c ? "(connected)" : e.message);
        if (c) ochsm_conn_close(c);
        chown(s.path, 0, 0);
        chmod(s.path, 0660);
    }
    c = connect_to(&s, &e);
    CHECK(c != NULL, "our own 0660 socket: %s", c ? "" : e.message);
    if (c) ochsm_conn_close(c);
    server_stop(&s);
}

int main(void) {
    printf("test_client: client.c against an in-process test server\n");
    for (g_no_threads = 0; g_no_threads <= 1; g_no_threads++) {
        printf("-- %s\n", g_no_threads ? "no_threads: the calling threads read their own answers" : "with a reader thread");
        unsigned failed_before = t_failed;
        long long t0 = now_ms();
        test_pipelining();
        test_server_drops();
        test_timeouts();
        test_combined_writes();
        test_many_writers();
        test_queued_timeout();
        test_expire_in_batch();
        test_close_mid_write();
        test_bad_peers();
        test_tcp_and_notices();
        test_fork();
        test_socket_trust();
        printf("   %s in %lld ms\n", t_failed == failed_before ? "all checks passed" : "FAILURES", now_ms() - t0);
    }
    return t_summary();
}
