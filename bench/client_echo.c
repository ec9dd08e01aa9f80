/*
 * client_echo.c: the C client (native/common/src/client.c) alone, against an
 * echo server in a child process that answers every request at once (all the
 * answers of one read in one write, as the daemon batches them). Not a test:
 * it measures what the calling process spends per call — CPU (all its
 * threads, the reader included) and context switches — without a daemon and
 * nodes competing for the cores. Build it against any commit's client.c:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -pthread -Inative/common/include -Idist/native/gen \
 *      -o client_echo bench/client_echo.c native/common/src/{client,wire,schema,trust,mech,appcfg}.c
 *   client_echo <threads> <seconds>
 * prints: calls_per_s=… cpu_us=… cs=… (cs: voluntary + involuntary context
 * switches of the calling process per call).
 */
#include "ochsm_client.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Weak: the same program also links the client of an older commit, which has no stats. */
#pragma weak ochsm_conn_stats_get

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Append one response frame to out. */
static void answer(uint8_t **out, size_t *len, size_t *cap, const ochsm_header *h, const uint8_t *body, size_t blen) {
    ochsm_builder b;
    const uint8_t *rb;
    size_t rlen;
    ochsm_field f;
    uint64_t v = 0;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 1, 0);
    if (h->opcode == OCHSM_OP_HELLO) {
        ochsm_put_u64(&b, 4, OCHSM_PROTOCOL_VERSION);
        ochsm_put_string(&b, 5, "client_echo");
        ochsm_put_u64(&b, 6, 16u * 1024u * 1024u);
    } else {
        if (ochsm_body_find(body, blen, NULL, 1, &f, NULL) == 1) ochsm_field_u64(&f, &v);
        ochsm_put_u64(&b, 4, v);
    }
    ochsm_builder_finish(&b, &rb, &rlen, NULL);
    if (*len + OCHSM_HEADER_BYTES + rlen > *cap) {
        *cap = (*len + OCHSM_HEADER_BYTES + rlen) * 2;
        *out = realloc(*out, *cap);
    }
    ochsm_header rh = {OCHSM_KIND_RESPONSE, h->request_id, h->opcode, 0, (uint32_t)rlen};
    ochsm_header_encode(&rh, *out + *len, NULL, NULL);
    memcpy(*out + *len + OCHSM_HEADER_BYTES, rb, rlen);
    *len += OCHSM_HEADER_BYTES + rlen;
    ochsm_builder_free(&b);
}

static void serve(int lfd) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) _exit(1);
    ochsm_frame_reader fr;
    ochsm_frame_reader_init(&fr, NULL);
    uint8_t *buf = malloc(262144), *out = NULL;
    size_t cap = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, 262144, 0);
        if (n <= 0) break;
        size_t off = 0, len = 0;
        while (off < (size_t)n) {
            size_t used = 0;
            int rc = ochsm_frame_reader_push(&fr, buf + off, (size_t)n - off, &used, NULL);
            off += used;
            if (rc < 0) _exit(2);
            if (rc == 1) {
                ochsm_header h;
                uint8_t *body;
                size_t blen;
                ochsm_frame_reader_take(&fr, &h, &body, &blen);
                answer(&out, &len, &cap, &h, body, blen);
                free(body);
            }
        }
        for (size_t w = 0; w < len;) {
            ssize_t k = send(fd, out + w, len - w, MSG_NOSIGNAL);
            if (k <= 0) _exit(0);
            w += (size_t)k;
        }
    }
    _exit(0);
}

static ochsm_conn *g_conn;
static atomic_int g_stop;
static atomic_ullong g_calls, g_errors;

static void *worker(void *arg) {
    uint64_t v = (uint64_t)(uintptr_t)arg * 1000000000ull;
    ochsm_builder b;
    ochsm_builder_init(&b, NULL);
    while (!atomic_load(&g_stop)) {
        const uint8_t *body;
        size_t len;
        ochsm_builder_reset(&b);
        ochsm_put_u64(&b, 1, ++v);
        ochsm_builder_finish(&b, &body, &len, NULL);
        ochsm_response r;
        /* The PKCS#11 module's backstop deadline, so that the same path runs. */
        int rc = ochsm_call_timeout(g_conn, OCHSM_OP_OPEN_SESSION, body, len, 300000, &r);
        if (rc != OCHSM_OK || r.rv != 0) atomic_fetch_add(&g_errors, 1);
        ochsm_response_free(&r);
        atomic_fetch_add(&g_calls, 1);
    }
    ochsm_builder_free(&b);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 16;
    double seconds = argc > 2 ? atof(argv[2]) : 3;
    char dir[] = "/tmp/ochsm-client-echo-XXXXXX";
    if (mkdtemp(dir) == NULL) return 1;
    char path[108];
    snprintf(path, sizeof path, "%s/s.sock", dir);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4) != 0) return 1;
    chmod(dir, 0700);
    pid_t pid = fork();
    if (pid == 0) serve(lfd);
    close(lfd);

    ochsm_client_install_atfork();
    ochsm_conn_opts o;
    ochsm_error e;
    ochsm_conn_opts_init(&o);
    o.socket_path = path;
    if (ochsm_conn_open(&o, &g_conn, &e) != OCHSM_OK) {
        fprintf(stderr, "connect: %s\n", e.message);
        kill(pid, SIGKILL);
        return 1;
    }
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    struct timespec warm = {0, 300 * 1000000L};
    nanosleep(&warm, NULL);
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    unsigned long long c0 = atomic_load(&g_calls);
    double t0 = now_s();
    struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    getrusage(RUSAGE_SELF, &r1);
    unsigned long long c1 = atomic_load(&g_calls);
    double t1 = now_s();
    atomic_store(&g_stop, 1);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    ochsm_conn_stats st;
    memset(&st, 0, sizeof st);
    if (ochsm_conn_stats_get != NULL) ochsm_conn_stats_get(g_conn, &st);
    ochsm_conn_close(g_conn);
    waitpid(pid, NULL, 0);
    unlink(path);
    rmdir(dir);
    double calls = (double)(c1 - c0);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    double cs = (double)(r1.ru_nvcsw - r0.ru_nvcsw + r1.ru_nivcsw - r0.ru_nivcsw);
    printf("calls_per_s=%.0f cpu_us=%.2f cs=%.2f errors=%llu frames_per_write=%.2f\n", calls / (t1 - t0), cpu / calls, cs / calls,
           (unsigned long long)atomic_load(&g_errors), st.writes ? (double)st.frames / (double)st.writes : 0.0);
    return 0;
}
