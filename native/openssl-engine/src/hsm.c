/*
 * hsm.c: the engine's one connection to the client daemon (native/common)
 * and one function per HSM request (docs/protocol.md §6).
 *
 * Sign-in. The engine signs in when it first needs the HSM, in each process:
 * it reads the configuration (config.c), finds azcloudhsm_application.cfg
 * (working directory, the executable's folder, AZCLOUDHSM_APPLICATION_CFG:
 * ochsm_appcfg_find), connects and sends `login` as a CU. It never sends
 * `logout`: in the daemon's HOST mode a logout signs the whole host out, for
 * every application (docs/daemon.md); closing the connection is enough, the
 * daemon signs the host out when its last signer leaves.
 *
 * Processes. A connection belongs to the process that opened it (the fork
 * rule of native/common). nginx's master loads the engine and the keys, then
 * forks workers: the first private-key operation in each worker opens that
 * worker's own connection and signs in (in HOST mode it joins the host's
 * sign-in). The configuration a process has read is kept and used by its
 * children; a process that has read none reads its own environment.
 *
 * Recovery. When the connection drops (the daemon restarted) or the host was
 * signed out by someone else (CKR_USER_NOT_LOGGED_IN), a sign or decrypt is
 * sent once more on a fresh, signed-in connection. Key generation is never
 * repeated: the daemon's idempotency makes a retried request safe, but a new
 * connection would be a new request.
 *
 * Threads. Any number of threads may call these functions; the connection is
 * pipelined (native/common). g_mu guards g_link and g_cfg; a link is counted
 * while calls use it and closed by the last user once it is retired.
 */
#include "ochsm_mech.h"
#include "ck.h"
#include "config.h"
#include "eng.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "ochsm_appcfg.h"
#include "ochsm_client.h"
#include "ochsm_schema.h"
#include "ochsm_wire.h"

#define CONNECT_TIMEOUT_MS 10000
#define CALL_TIMEOUT_MS 60000
#define KEYGEN_TIMEOUT_MS 300000

typedef struct eng_link {
    ochsm_conn *conn;
    unsigned refs;
    int retired;
} eng_link;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static eng_link *g_link;
static pid_t g_pid;
static eng_config g_cfg;
static int g_cfg_loaded;

/* fork() while another thread holds g_mu would leave it locked in the child. */
static void atfork_prepare(void) { pthread_mutex_lock(&g_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&g_mu); }
static void atfork_child(void) { pthread_mutex_unlock(&g_mu); }

static void setup_once(void) {
    ochsm_client_install_atfork();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void eng_hsm_setup(void) { pthread_once(&g_once, setup_once); }

static void link_close(eng_link *l) {
    ochsm_conn_close(l->conn);
    free(l);
}

/* Under g_mu: a link inherited from the parent belongs to nobody here. */
static void drop_inherited_locked(void) {
    pid_t pid = getpid();
    if (g_pid == pid) return;
    if (g_link != NULL) link_close(g_link); /* in a child this closes our copy of the descriptor only */
    g_link = NULL;
    g_pid = pid;
}

static int load_config_locked(void) {
    char msg[ENG_CONFIG_MESSAGE_MAX];
    if (g_cfg_loaded) return 1;
    if (eng_config_load(&g_cfg, msg, sizeof msg) != 0) {
        ENG_ERR(ENG_R_CONFIG, "%s", msg);
        return 0;
    }
    g_cfg_loaded = 1;
    return 1;
}

static void put_string(ochsm_builder *b, uint16_t id, const char *s) { ochsm_put_string(b, id, s); }

/* Under g_mu: connect and sign in. */
static eng_link *open_link_locked(void) {
    ochsm_appcfg app;
    ochsm_conn_opts o;
    ochsm_error err;
    ochsm_conn *conn = NULL;
    ochsm_builder b;
    ochsm_response r;
    const uint8_t *body;
    size_t len;
    eng_link *l;

    if (!load_config_locked()) return NULL;
    if (ochsm_appcfg_find(&app, &err) != OCHSM_OK) {
        ENG_ERR(ENG_R_CONFIG, "%s", err.message);
        return NULL;
    }
    ochsm_conn_opts_init(&o);
    ochsm_appcfg_conn_opts(&app, &o);
    o.client_name = ENG_ID "/" ENG_VERSION;
    o.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    o.call_timeout_ms = CALL_TIMEOUT_MS;
    if (ochsm_conn_open(&o, &conn, &err) != OCHSM_OK) {
        ENG_ERR(ENG_R_DAEMON, "Failed to connect socket (LIQUIDSECURITY: Daemon socket connection error): %s (%s)",
                err.message, app.path);
        return NULL;
    }

    ochsm_builder_init(&b, NULL);
    put_string(&b, 1, g_cfg.user);
    put_string(&b, 2, g_cfg.password);
    put_string(&b, 3, "CU");
    if (ochsm_builder_finish(&b, &body, &len, &err) != OCHSM_OK) {
        ochsm_builder_free(&b);
        ochsm_conn_close(conn);
        ENG_ERR(ENG_R_LOGIN, "login as %s (from %s) cannot be sent: %s", g_cfg.user, g_cfg.credentials_from,
                err.message);
        return NULL;
    }
    ochsm_call(conn, OCHSM_OP_LOGIN, body, len, &r);
    OPENSSL_cleanse(b.data, b.len); /* the password */
    ochsm_builder_free(&b);
    if (r.rv != CKR_OK && r.rv != CKR_USER_ALREADY_LOGGED_IN) {
        ENG_ERR(ENG_R_LOGIN, "login as %s (from %s) failed: %s (%s, CK_RV 0x%llx)", g_cfg.user, g_cfg.credentials_from,
                ochsm_response_message(&r), ochsm_response_code(&r), (unsigned long long)r.rv);
        ochsm_response_free(&r);
        ochsm_conn_close(conn);
        return NULL;
    }
    ochsm_response_free(&r);

    l = calloc(1, sizeof *l);
    if (l == NULL) {
        ochsm_conn_close(conn);
        ENG_ERR(ENG_R_INTERNAL, "out of memory");
        return NULL;
    }
    l->conn = conn;
    return l;
}

/* A signed-in link for one call; give it back with release(). */
static eng_link *acquire(void) {
    eng_link *l;
    eng_hsm_setup();
    pthread_mutex_lock(&g_mu);
    drop_inherited_locked();
    if (g_link != NULL && !ochsm_conn_usable(g_link->conn)) {
        g_link->retired = 1;
        if (g_link->refs == 0) link_close(g_link);
        g_link = NULL;
    }
    if (g_link == NULL) g_link = open_link_locked();
    l = g_link;
    if (l != NULL) l->refs++;
    pthread_mutex_unlock(&g_mu);
    return l;
}

static void release(eng_link *l) {
    int close_it;
    pthread_mutex_lock(&g_mu);
    l->refs--;
    close_it = l->retired && l->refs == 0 && g_pid == getpid();
    pthread_mutex_unlock(&g_mu);
    if (close_it) link_close(l);
}

/* The link failed a call: the next acquire() opens a new one. */
static void retire(eng_link *l) {
    pthread_mutex_lock(&g_mu);
    if (g_link == l) g_link = NULL;
    l->retired = 1;
    pthread_mutex_unlock(&g_mu);
    ochsm_conn_shutdown(l->conn);
}

/*
 * One request. `repeatable`: may be sent again on a fresh link when the first
 * link dropped or lost its sign-in. On return r is filled (free it) when the
 * result is 1 or when the daemon answered with an error (r->status OK).
 */
static int call(uint16_t opcode, ochsm_builder *b, uint32_t timeout_ms, int repeatable, ochsm_response *r) {
    const uint8_t *body;
    size_t len;
    ochsm_error err;
    int attempt;

    memset(r, 0, sizeof *r);
    if (ochsm_builder_finish(b, &body, &len, &err) != OCHSM_OK) {
        ENG_ERR(ENG_R_INTERNAL, "request cannot be encoded: %s", err.message);
        return 0;
    }
    for (attempt = 0;; attempt++) {
        eng_link *l = acquire();
        int lost;
        if (l == NULL) return 0;
        ochsm_call_timeout(l->conn, opcode, body, len, timeout_ms, r);
        lost = r->status == OCHSM_ERR_DEVICE || (r->status == OCHSM_OK && r->rv == CKR_USER_NOT_LOGGED_IN);
        if (lost) retire(l);
        release(l);
        if (!lost || !repeatable || attempt > 0) break;
        ochsm_response_free(r);
        memset(r, 0, sizeof *r);
    }
    if (r->status != OCHSM_OK) {
        ENG_ERR(ENG_R_DAEMON, "%s (%s)", ochsm_response_message(r), ochsm_response_code(r));
        ochsm_response_free(r);
        return 0;
    }
    return 1;
}

static int result_field(const ochsm_response *r, uint16_t id, ochsm_field *f) {
    ochsm_reader rd = r->result;
    ochsm_field x;
    while (ochsm_reader_next(&rd, &x, NULL) == 1) {
        if (x.id == id) {
            *f = x;
            return 1;
        }
    }
    return 0;
}

static int result_bytes(const ochsm_response *r, uint16_t id, uint8_t **out, size_t *out_len) {
    ochsm_field f;
    const uint8_t *p;
    size_t n;
    if (!result_field(r, id, &f) || ochsm_field_bytes(&f, &p, &n) != OCHSM_OK) {
        ENG_ERR(ENG_R_INTERNAL, "the daemon's answer has no field %u", (unsigned)id);
        return 0;
    }
    *out = OPENSSL_malloc(n ? n : 1);
    if (*out == NULL) {
        ENG_ERR(ENG_R_INTERNAL, "out of memory");
        return 0;
    }
    if (n) memcpy(*out, p, n);
    *out_len = n;
    return 1;
}

static int result_u64(const ochsm_response *r, uint16_t id, uint64_t *out) {
    ochsm_field f;
    if (!result_field(r, id, &f) || ochsm_field_u64(&f, out) != OCHSM_OK) {
        ENG_ERR(ENG_R_INTERNAL, "the daemon's answer has no field %u", (unsigned)id);
        return 0;
    }
    return 1;
}

/* The engine's few mechanism parameters as the shared Mechanism record (native/common ochsm_mech.h). */
static void put_mechanism(ochsm_builder *b, uint16_t id, const eng_mech *m) {
    ochsm_mechanism r;
    memset(&r, 0, sizeof r);
    r.mechanism = m->mechanism;
    if (m->has_hash) {
        r.present |= OCHSM_M_HASH_ALG | OCHSM_M_MGF;
        r.hash_alg = m->hash_alg;
        r.mgf = m->mgf;
    }
    if (m->has_salt) {
        r.present |= OCHSM_M_SALT_LEN;
        r.salt_len = m->salt_len;
    }
    if (m->source != NULL && m->source_len > 0) {
        r.present |= OCHSM_M_SOURCE_DATA;
        r.source_data.p = m->source;
        r.source_data.len = m->source_len;
    }
    ochsm_put_mechanism(b, id, &r);
}

static int key_operation(uint16_t opcode, const char *what, uint64_t handle, const eng_mech *m, const uint8_t *data,
                         size_t len, uint8_t **out, size_t *out_len) {
    ochsm_builder b;
    ochsm_response r;
    int ok;
    ochsm_builder_init(&b, NULL);
    put_mechanism(&b, 2, m);
    ochsm_put_u64(&b, 3, handle);
    ochsm_put_bytes(&b, 4, data, len);
    ok = call(opcode, &b, CALL_TIMEOUT_MS, 1, &r);
    ochsm_builder_free(&b);
    if (!ok) return 0;
    if (r.rv != CKR_OK) {
        ENG_ERR(ENG_R_HSM, "%s with key handle %llu (mechanism 0x%llx) failed in the HSM: %s (%s, CK_RV 0x%llx)", what,
                (unsigned long long)handle, (unsigned long long)m->mechanism, ochsm_response_message(&r),
                ochsm_response_code(&r), (unsigned long long)r.rv);
        ochsm_response_free(&r);
        return 0;
    }
    ok = result_bytes(&r, 4, out, out_len);
    ochsm_response_free(&r);
    return ok;
}

int eng_hsm_sign(uint64_t handle, const eng_mech *m, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len) {
    return key_operation(OCHSM_OP_SIGN, "sign", handle, m, data, len, out, out_len);
}

int eng_hsm_decrypt(uint64_t handle, const eng_mech *m, const uint8_t *data, size_t len, uint8_t **out,
                    size_t *out_len) {
    return key_operation(OCHSM_OP_DECRYPT, "decrypt", handle, m, data, len, out, out_len);
}

/* getAttributeValue of one attribute; 1 and the value, 0 with an error queued. */
static int get_attribute(uint64_t handle, uint32_t type, const char *name, uint8_t **out, size_t *out_len) {
    ochsm_builder b;
    ochsm_response r;
    ochsm_field fa, fr;
    ochsm_iter ia, ir;
    ochsm_attr a;
    uint64_t types[1], arv = 0;
    int ok;

    types[0] = type;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 2, handle);
    ochsm_put_u64_list(&b, 3, types, 1);
    ok = call(OCHSM_OP_GET_ATTRIBUTE_VALUE, &b, CALL_TIMEOUT_MS, 1, &r);
    ochsm_builder_free(&b);
    if (!ok) return 0;
    if (r.rv != CKR_OK) {
        ENG_ERR(ENG_R_KEYREF, "key handle %llu cannot be used: %s (%s, CK_RV 0x%llx)", (unsigned long long)handle,
                ochsm_response_message(&r), ochsm_response_code(&r), (unsigned long long)r.rv);
        ochsm_response_free(&r);
        return 0;
    }
    if (!result_field(&r, 4, &fa) || !result_field(&r, 5, &fr) || ochsm_field_iter(&fa, &ia) != OCHSM_OK ||
        ochsm_field_iter(&fr, &ir) != OCHSM_OK || ochsm_iter_u64(&ir, &arv) != 1) {
        ENG_ERR(ENG_R_INTERNAL, "malformed getAttributeValue answer");
        ochsm_response_free(&r);
        return 0;
    }
    if (arv != CKR_OK || ochsm_iter_attr(&ia, &a) != 1 || a.type != type) {
        ENG_ERR(ENG_R_KEYREF, "key handle %llu has no %s (CK_RV 0x%llx): it is not an RSA or EC private key",
                (unsigned long long)handle, name, (unsigned long long)arv);
        ochsm_response_free(&r);
        return 0;
    }
    *out = OPENSSL_malloc(a.len ? a.len : 1);
    if (*out == NULL) {
        ENG_ERR(ENG_R_INTERNAL, "out of memory");
        ochsm_response_free(&r);
        return 0;
    }
    if (a.len) memcpy(*out, a.value, a.len);
    *out_len = a.len;
    ochsm_response_free(&r);
    return 1;
}

int eng_hsm_public_key_info(uint64_t handle, uint8_t **der, size_t *len) {
    return get_attribute(handle, (uint32_t)CKA_PUBLIC_KEY_INFO, "CKA_PUBLIC_KEY_INFO", der, len);
}

static void destroy_object(uint64_t handle) {
    ochsm_builder b;
    ochsm_response r;
    ERR_set_mark();
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 2, handle);
    if (call(OCHSM_OP_DESTROY_OBJECT, &b, CALL_TIMEOUT_MS, 0, &r)) ochsm_response_free(&r);
    ochsm_builder_free(&b);
    ERR_pop_to_mark(); /* nothing to report: at worst the public half stays in the HSM */
}

int eng_hsm_generate_rsa(unsigned long bits, const uint8_t *exp, size_t exp_len, uint64_t *priv, uint8_t **n,
                         size_t *n_len, uint8_t **e, size_t *e_len) {
    static const uint8_t yes = 1;
    static const char label[] = ENG_ID;
    uint8_t bits_le[8];
    uint64_t pub = 0;
    ochsm_builder b;
    ochsm_response r;
    int ok, i;
    for (i = 0; i < 8; i++) bits_le[i] = (uint8_t)((uint64_t)bits >> (8 * i)); /* CK_ULONG, little-endian */
    {
        const ochsm_attr pub_t[] = {
            {(uint32_t)CKA_TOKEN, 1, &yes},
            {(uint32_t)CKA_LABEL, (uint32_t)(sizeof label - 1), label},
            {(uint32_t)CKA_ENCRYPT, 1, &yes},
            {(uint32_t)CKA_VERIFY, 1, &yes},
            {(uint32_t)CKA_MODULUS_BITS, 8, bits_le},
            {(uint32_t)CKA_PUBLIC_EXPONENT, (uint32_t)exp_len, exp},
        };
        const ochsm_attr priv_t[] = {
            {(uint32_t)CKA_TOKEN, 1, &yes},
            {(uint32_t)CKA_LABEL, (uint32_t)(sizeof label - 1), label},
            {(uint32_t)CKA_DECRYPT, 1, &yes},
            {(uint32_t)CKA_SIGN, 1, &yes},
        };
        const eng_mech m = {CKM_RSA_PKCS_KEY_PAIR_GEN, 0, 0, 0, 0, 0, NULL, 0};
        ochsm_builder_init(&b, NULL);
        put_mechanism(&b, 2, &m);
        ochsm_put_attrs(&b, 3, pub_t, sizeof pub_t / sizeof pub_t[0]);
        ochsm_put_attrs(&b, 4, priv_t, sizeof priv_t / sizeof priv_t[0]);
    }
    ok = call(OCHSM_OP_GENERATE_KEY_PAIR, &b, KEYGEN_TIMEOUT_MS, 0, &r);
    ochsm_builder_free(&b);
    if (!ok) return 0;
    if (r.rv != CKR_OK) {
        ENG_ERR(ENG_R_HSM, "RSA-%lu key generation failed in the HSM: %s (%s, CK_RV 0x%llx)", bits,
                ochsm_response_message(&r), ochsm_response_code(&r), (unsigned long long)r.rv);
        ochsm_response_free(&r);
        return 0;
    }
    ok = result_u64(&r, 4, &pub) && result_u64(&r, 5, priv);
    ochsm_response_free(&r);
    if (!ok) return 0;
    if (!get_attribute(*priv, (uint32_t)CKA_MODULUS, "CKA_MODULUS", n, n_len)) return 0;
    if (!get_attribute(*priv, (uint32_t)CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT", e, e_len)) {
        OPENSSL_free(*n);
        return 0;
    }
    destroy_object(pub);
    return 1;
}

int eng_hsm_ecdsa_sign_enabled(void) {
    int on;
    pthread_mutex_lock(&g_mu);
    on = load_config_locked() ? g_cfg.ecdsa_sign : -1;
    pthread_mutex_unlock(&g_mu);
    return on;
}

void eng_hsm_teardown(void) {
    eng_link *l;
    pthread_mutex_lock(&g_mu);
    drop_inherited_locked();
    l = g_link;
    g_link = NULL;
    if (l != NULL) {
        l->retired = 1;
        if (l->refs != 0) l = NULL; /* the last call in flight closes it */
    }
    eng_config_wipe(&g_cfg);
    g_cfg_loaded = 0;
    pthread_mutex_unlock(&g_mu);
    if (l != NULL) link_close(l);
}
