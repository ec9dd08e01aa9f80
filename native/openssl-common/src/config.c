/*
 * config.c: azcloudhsm_password, azcloudhsm_openssl_conf (or the provider's
 * openssl.cnf stand-ins) and the azcloudhsm_openssl_dynamic.conf file, for the
 * engine and the provider alike (rules in osh.h). The messages for
 * missing variables are the guide's, word for word (the Azure Cloud HSM OpenSSL Integration Guide; docs/openssl.md "Errors").
 */
#include "osh.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONF_FILE_MAX (64 * 1024)

static void say(char *msg, size_t msglen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t msglen, const char *fmt, ...) {
    va_list ap;
    if (msg == NULL || msglen == 0) return;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

static int is_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Copy s[0..n) into buf (size cap), refusing values that do not fit or hold a NUL. */
static int copy_value(char *buf, size_t cap, const char *s, size_t n) {
    if (n >= cap || memchr(s, '\0', n) != NULL) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

static int parse_flag(const char *v, size_t n, int *out) {
    if (n == 1 && (v[0] == '0' || v[0] == '1')) {
        *out = v[0] - '0';
        return 0;
    }
    return -1;
}

int osh_config_parse(const char *text, size_t len, const char *path, osh_config *c, char *msg, size_t msglen) {
    enum { K_PARTITION, K_USER, K_PASSWORD, K_ECDSA_SIGN, K_ECDSA_VERIFY, K_COUNT };
    static const char *const names[K_COUNT] = {"Partition_Name", "Username", "Password", "ECDSA_Sign", "ECDSA_Verify"};
    int seen[K_COUNT] = {0};
    size_t off = 0;
    unsigned line = 0;

    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF) off = 3;
    while (off < len) {
        size_t end = off, ks, ke, vs, ve, eq;
        int k;
        line++;
        while (end < len && text[end] != '\n') end++;
        ks = off;
        ve = end;
        off = end + 1;
        while (ks < ve && is_space(text[ks])) ks++;
        while (ve > ks && is_space(text[ve - 1])) ve--;
        if (ks == ve || text[ks] == '#') continue;
        eq = ks;
        while (eq < ve && text[eq] != '=') eq++;
        if (eq == ve) {
            say(msg, msglen, "%s:%u: expected Key=Value", path, line);
            return -1;
        }
        ke = eq;
        while (ke > ks && is_space(text[ke - 1])) ke--;
        vs = eq + 1;
        while (vs < ve && is_space(text[vs])) vs++;
        for (k = 0; k < K_COUNT; k++) {
            if (strlen(names[k]) == ke - ks && strncasecmp(names[k], text + ks, ke - ks) == 0) break;
        }
        if (k == K_COUNT) continue; /* a directive the engine and provider do not use */
        if (seen[k]) {
            say(msg, msglen, "%s:%u: %s is given twice", path, line, names[k]);
            return -1;
        }
        seen[k] = 1;
        if (vs == ve && k != K_PASSWORD && k != K_USER) {
            say(msg, msglen, "%s:%u: %s has no value", path, line, names[k]);
            return -1;
        }
        switch (k) {
        case K_PARTITION:
            if (copy_value(c->partition, sizeof c->partition, text + vs, ve - vs) != 0) goto too_long;
            break;
        case K_USER:
            if (copy_value(c->file_user, sizeof c->file_user, text + vs, ve - vs) != 0) goto too_long;
            c->has_file_user = vs < ve;
            break;
        case K_PASSWORD:
            if (copy_value(c->file_password, sizeof c->file_password, text + vs, ve - vs) != 0) goto too_long;
            c->has_file_password = vs < ve;
            break;
        case K_ECDSA_SIGN:
        case K_ECDSA_VERIFY:
            if (parse_flag(text + vs, ve - vs, k == K_ECDSA_SIGN ? &c->ecdsa_sign : &c->ecdsa_verify) != 0) {
                say(msg, msglen, "%s:%u: %s must be 0 or 1 (got \"%.*s\")", path, line, names[k],
                    (int)(ve - vs > 40 ? 40 : ve - vs), text + vs);
                return -1;
            }
            break;
        }
        continue;
    too_long:
        say(msg, msglen, "%s:%u: the value of %s is too long", path, line, names[k]);
        return -1;
    }
    return 0;
}

static int read_file(const char *path, char **out, size_t *len, char *msg, size_t msglen) {
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    if (f == NULL) {
        say(msg, msglen, "cannot read %s (the file named by environment variable " OSH_ENV_CONF "): %s", path,
            strerror(errno));
        return -1;
    }
    buf = malloc(CONF_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        say(msg, msglen, "out of memory");
        return -1;
    }
    n = fread(buf, 1, CONF_FILE_MAX + 1, f);
    if (ferror(f)) {
        say(msg, msglen, "cannot read %s: %s", path, strerror(errno));
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    if (n > CONF_FILE_MAX) {
        say(msg, msglen, "%s is larger than %d bytes: is it the right file?", path, CONF_FILE_MAX);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int osh_config_load(osh_config *c, const char *cnf_conf, const char *cnf_password, char *msg, size_t msglen) {
    const char *conf = getenv(OSH_ENV_CONF);
    const char *pw = getenv(OSH_ENV_PASSWORD);
    const char *pw_from = OSH_ENV_PASSWORD;
    char *text = NULL;
    size_t len = 0;
    int rc;

    /* The provider's openssl.cnf section stands in for a variable that is not set. */
    if ((conf == NULL || conf[0] == '\0') && cnf_conf != NULL) conf = cnf_conf;
    if ((pw == NULL || pw[0] == '\0') && cnf_password != NULL) {
        pw = cnf_password;
        pw_from = "openssl.cnf " OSH_ENV_PASSWORD;
    }
    memset(c, 0, sizeof *c);
    if (conf == NULL || conf[0] == '\0') {
        say(msg, msglen, "environment variable " OSH_ENV_CONF " is not set");
        return -1;
    }
    if (copy_value(c->conf_path, sizeof c->conf_path, conf, strlen(conf)) != 0) {
        say(msg, msglen, "environment variable " OSH_ENV_CONF " is too long");
        return -1;
    }
    if (read_file(c->conf_path, &text, &len, msg, msglen) != 0) return -1;
    rc = osh_config_parse(text, len, c->conf_path, c, msg, msglen);
    memset(text, 0, len); /* it may hold a password */
    free(text);
    if (rc != 0) {
        osh_config_wipe(c);
        return -1;
    }

    if (pw != NULL && pw[0] != '\0') {
        const char *colon = strchr(pw, ':');
        if (colon == NULL || colon == pw) {
            say(msg, msglen, "environment variable " OSH_ENV_PASSWORD " must be <user>:<password> (for example cu1:user1234)");
            osh_config_wipe(c);
            return -1;
        }
        if (copy_value(c->user, sizeof c->user, pw, (size_t)(colon - pw)) != 0 ||
            copy_value(c->password, sizeof c->password, colon + 1, strlen(colon + 1)) != 0) {
            say(msg, msglen, "environment variable " OSH_ENV_PASSWORD " is too long");
            osh_config_wipe(c);
            return -1;
        }
        c->credentials_from = pw_from;
    } else if (c->has_file_user && c->has_file_password) {
        memcpy(c->user, c->file_user, sizeof c->user);
        memcpy(c->password, c->file_password, sizeof c->password);
        c->credentials_from = "azcloudhsm_openssl_dynamic.conf";
    } else {
        say(msg, msglen, "environment variable " OSH_ENV_PASSWORD " is not set");
        osh_config_wipe(c);
        return -1;
    }
    return 0;
}

void osh_config_wipe(osh_config *c) {
    volatile char *p = (volatile char *)c->password;
    volatile char *q = (volatile char *)c->file_password;
    size_t i;
    for (i = 0; i < sizeof c->password; i++) p[i] = 0;
    for (i = 0; i < sizeof c->file_password; i++) q[i] = 0;
}
