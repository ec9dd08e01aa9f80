/*
 * test_util.h: the few helpers the plain-C tests share. No framework: each
 * CHECK counts as one passed or failed check, failures are printed with their
 * line, and every test program ends with the line "N passed, N failed" and a
 * non-zero exit status when anything failed.
 */
#ifndef OCHSM_TEST_UTIL_H
#define OCHSM_TEST_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define TU_UNUSED __attribute__((unused))
#else
#define TU_UNUSED
#endif

static unsigned t_passed, t_failed;

#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (cond) {                                               \
            t_passed++;                                           \
        } else {                                                  \
            t_failed++;                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);  \
            fprintf(stderr, __VA_ARGS__);                         \
            fputc('\n', stderr);                                  \
        }                                                         \
    } while (0)

static TU_UNUSED int t_summary(void) {
    printf("%u passed, %u failed\n", t_passed, t_failed);
    fflush(stdout);
    return t_failed == 0 ? 0 : 1;
}

/* A growable string. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static TU_UNUSED void sb_add(sbuf *s, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        size_t room = s->cap - s->len;
        va_start(ap, fmt);
        int n = vsnprintf(s->p != NULL ? s->p + s->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) abort();
        if ((size_t)n < room) {
            s->len += (size_t)n;
            return;
        }
        size_t cap = s->cap ? s->cap * 2 : 256;
        while (cap - s->len <= (size_t)n) cap *= 2;
        char *p = realloc(s->p, cap);
        if (p == NULL) abort();
        s->p = p;
        s->cap = cap;
    }
}

static TU_UNUSED void sb_hex(sbuf *s, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) sb_add(s, "%02x", p[i]);
    if (n == 0) sb_add(s, "%s", "");
}

static TU_UNUSED const char *sb_str(sbuf *s) {
    if (s->p == NULL) sb_add(s, "%s", "");
    return s->p;
}

static TU_UNUSED void sb_free(sbuf *s) {
    free(s->p);
    s->p = NULL;
    s->len = s->cap = 0;
}

/* Hex to bytes (malloc'd, at least 1 byte); -1 on bad hex. */
static TU_UNUSED int hex_decode(const char *hex, uint8_t **out, size_t *len) {
    size_t n = strlen(hex);
    if (n % 2 != 0) return -1;
    uint8_t *b = malloc(n / 2 + 1);
    if (b == NULL) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            unsigned d;
            if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
            else {
                free(b);
                return -1;
            }
            v = v * 16 + d;
        }
        b[i] = (uint8_t)v;
    }
    *out = b;
    *len = n / 2;
    return 0;
}

/* Split a line at tabs in place; returns the number of fields (at most max). */
static TU_UNUSED int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    char *p = line;
    size_t l = strlen(p);
    while (l > 0 && (p[l - 1] == '\n' || p[l - 1] == '\r')) p[--l] = '\0';
    while (n < max) {
        fields[n++] = p;
        char *t = strchr(p, '\t');
        if (t == NULL) break;
        *t = '\0';
        p = t + 1;
    }
    return n;
}

/* xorshift64*: a fixed-seed generator for the fuzz loops. */
static TU_UNUSED uint64_t t_rng_state = 0x9E3779B97F4A7C15ULL;
static TU_UNUSED uint64_t t_rand(void) {
    uint64_t x = t_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t_rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static TU_UNUSED uint32_t t_below(uint32_t n) {
    return n == 0 ? 0 : (uint32_t)(t_rand() % n);
}

#endif /* OCHSM_TEST_UTIL_H */
