/*
 * store.c: HSM keys by URI, for `-key`/`-inkey` and anything that opens an
 * OSSL_STORE (openssl's commands do for every key argument):
 *
 *   azcloudhsm:handle=262150        the private key with that handle
 *   azcloudhsm:label=web%20server   every private key with that CKA_LABEL
 *   azcloudhsm:262150               the same as handle=262150
 *   pkcs11:object=web%20server;type=private      RFC 7512: object is CKA_LABEL
 *   pkcs11:x-handle=262150                       a vendor attribute (RFC 7512 §2.3) for the handle
 *
 * Percent-encoding is decoded. The sign-in is the provider's (azcloudhsm_password
 * and the dynamic conf); a pin-value or pin-source in the query is ignored, and
 * attributes other than object, type, id-less token/manufacturer/model/serial
 * and x-handle are refused, so that a URI never silently names more than it says.
 * The key's type and public key come from the HSM (CKA_PUBLIC_KEY_INFO).
 */
#include "prov.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/store.h>

#define FOUND_MAX 64
#define LABEL_MAX 256

typedef struct store_ctx {
    uint64_t handles[FOUND_MAX];
    size_t count, next;
    int searched, failed;
    int by_handle;
    int expect;      /* OSSL_STORE_INFO_* the caller asked for, 0: any */
    char label[LABEL_MAX];
    char uri[512];
} store_ctx;

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (size cap). */
static int pct_decode(const char *s, size_t n, char *out, size_t cap) {
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n) return 0;
            h = hexval(s[i + 1]);
            l = hexval(s[i + 2]);
            if (h < 0 || l < 0) return 0;
            c = h * 16 + l;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap) return 0;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 1;
}

static int parse_handle(const char *s, uint64_t *h) {
    char *end;
    unsigned long long v;
    if (*s < '0' || *s > '9') return 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || v == 0 || v > 9007199254740991ULL) return 0;
    *h = v;
    return 1;
}

static int bad_uri(const char *uri, const char *why) {
    OSH_ERR(OSH_R_URI, "%.200s: %s", uri, why);
    return 0;
}

/* One attribute name=value (already split); 1 ok, 0 with an error queued. */
static int attribute(store_ctx *c, const char *uri, const char *name, size_t nlen, const char *value, size_t vlen,
                     int pkcs11) {
    char v[LABEL_MAX];
    if (!pct_decode(value, vlen, v, sizeof v)) return bad_uri(uri, "bad percent-encoding or a value too long");
#define IS(x) (nlen == sizeof(x) - 1 && strncmp(name, x, nlen) == 0)
    if ((!pkcs11 && IS("handle")) || (pkcs11 && IS("x-handle"))) {
        if (!parse_handle(v, &c->handles[0])) return bad_uri(uri, "the handle must be a whole number");
        c->by_handle = 1;
        c->count = 1;
        return 1;
    }
    if ((!pkcs11 && IS("label")) || (pkcs11 && IS("object"))) {
        memcpy(c->label, v, strlen(v) + 1);
        return 1;
    }
    if (IS("type")) {
        if (strcmp(v, "private") != 0) return bad_uri(uri, "only private keys are in this store (type=private)");
        return 1;
    }
    if (pkcs11 && (IS("token") || IS("manufacturer") || IS("model") || IS("serial") || IS("library-description") ||
                   IS("library-manufacturer") || IS("library-version") || IS("slot-description") ||
                   IS("slot-manufacturer") || IS("slot-id")))
        return 1; /* one partition: these narrow nothing */
#undef IS
    OSH_ERR(OSH_R_URI, "%.200s: unknown attribute %.*s (%s)", uri, (int)nlen, name,
             pkcs11 ? "object, type, x-handle" : "handle, label, type");
    return 0;
}

static void *st_open(void *provctx, const char *uri) {
    store_ctx *c = OPENSSL_zalloc(sizeof *c);
    const char *p, *end;
    int pkcs11;
    (void)provctx;
    if (c == NULL) return NULL;
    strncpy(c->uri, uri, sizeof c->uri - 1);
    pkcs11 = strncasecmp(uri, "pkcs11:", 7) == 0;
    if (!pkcs11 && strncasecmp(uri, "azcloudhsm:", 11) != 0) goto fail;
    p = uri + (pkcs11 ? 7 : 11);
    end = p + strcspn(p, "?"); /* the query (pin-value, module-path...) is not this store's business */
    if (!pkcs11 && parse_handle(p, &c->handles[0]) && *end == '\0') {
        c->by_handle = 1;
        c->count = 1;
        return c;
    }
    while (p < end) {
        const char *stop = p, *eq;
        while (stop < end && *stop != ';' && (pkcs11 || *stop != '&')) stop++;
        eq = memchr(p, '=', (size_t)(stop - p));
        if (eq == NULL) {
            bad_uri(uri, "expected name=value");
            goto fail;
        }
        if (!attribute(c, uri, p, (size_t)(eq - p), eq + 1, (size_t)(stop - eq - 1), pkcs11)) goto fail;
        p = stop < end ? stop + 1 : end;
    }
    if (!c->by_handle && c->label[0] == '\0') {
        bad_uri(uri, pkcs11 ? "name a key with object=<label> or x-handle=<handle>"
                            : "name a key with handle=<handle> or label=<label>");
        goto fail;
    }
    return c;
fail:
    OPENSSL_free(c);
    return NULL;
}

static int st_load(void *vc, OSSL_CALLBACK *object_cb, void *object_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                   void *pw_cbarg) {
    store_ctx *c = vc;
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    uint64_t h;
    prov_key *k;
    int ok;
    (void)pw_cb;
    (void)pw_cbarg;
    if (!c->by_handle && !c->searched) {
        c->searched = 1;
        if (!prov_hsm_find_private(c->label, c->handles, FOUND_MAX, &c->count)) {
            c->failed = 1;
            return 0;
        }
        if (c->count > FOUND_MAX) c->count = FOUND_MAX;
        if (c->count == 0) {
            c->failed = 1;
            OSH_ERR(OSH_R_URI, "%.200s: no private key with label \"%s\" that this user can use", c->uri, c->label);
            return 0;
        }
    }
    if (c->next >= c->count) return 0;
    h = c->handles[c->next++];
    if (!osh_public_key_info(h, &spki, &spki_len)) {
        c->failed = 1;
        return 0;
    }
    k = prov_key_from_spki(spki, spki_len, 1, h);
    OPENSSL_free(spki);
    if (k == NULL) {
        c->failed = 1;
        return 0;
    }
    k->checked = 1; /* the public key is the HSM's own */
    if (c->expect == OSSL_STORE_INFO_PUBKEY) k->has_handle = 0; /* -pubin: the public half only */
    {
        int object_type = OSSL_OBJECT_PKEY;
        OSSL_PARAM params[4];
        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, (char *)prov_key_type_name(k->type), 0);
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof k);
        params[3] = OSSL_PARAM_construct_end();
        ok = object_cb(params, object_cbarg);
    }
    prov_key_free(k);
    return ok;
}

static int st_eof(void *vc) {
    store_ctx *c = vc;
    if (c->failed) return 1;
    if (!c->by_handle && !c->searched) return 0;
    return c->next >= c->count;
}

static int st_close(void *vc) {
    OPENSSL_free(vc);
    return 1;
}

static int st_set_ctx_params(void *vc, const OSSL_PARAM params[]) {
    store_ctx *c = vc;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL && !OSSL_PARAM_get_int(p, &c->expect)) return 0;
    return 1;
}

static const OSSL_PARAM *st_settable(void *provctx) {
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return p;
}

const OSSL_DISPATCH prov_store[] = {
    {OSSL_FUNC_STORE_OPEN, (void (*)(void))st_open},
    {OSSL_FUNC_STORE_LOAD, (void (*)(void))st_load},
    {OSSL_FUNC_STORE_EOF, (void (*)(void))st_eof},
    {OSSL_FUNC_STORE_CLOSE, (void (*)(void))st_close},
    {OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))st_set_ctx_params},
    {OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))st_settable},
    {0, NULL},
};
