/*
 * hsm.c: the one connection of the engine or the provider to the client
 * daemon (native/common) and one function per HSM request (docs/protocol.md §6).
 *
 * Sign-in. The module signs in when it first needs the HSM, in each process:
 * it reads the configuration (config.c), finds azcloudhsm_application.cfg
 * (working directory, the executable's folder, AZCLOUDHSM_APPLICATION_CFG:
 * ochsm_appcfg_find), connects and sends `login` as a CU. It never sends
 * `logout`: in the daemon's HOST mode a logout signs the whole host out, for
 * every application (docs/daemon.md); closing the connection is enough, the
 * daemon signs the host out when its last signer leaves.
 *
 * Processes. A connection belongs to the process that opened it (the fork
 * rule of native/common). nginx's master loads the module and the keys, then
 * forks workers: the first private-key operation in each worker opens that
 * worker's own connection and signs in (in HOST mode it joins the host's
 * sign-in). The configuration a process has read is kept and used by its
 * children; a process that has read none reads its own environment.
 *
 * Recovery. When the connection drops (the daemon restarted) or the host was
 * signed out by someone else (CKR_USER_NOT_LOGGED_IN), a repeatable request
 * (sign, decrypt, reads) is sent once more on a fresh, signed-in connection.
 * Key generation is never repeated: the daemon's idempotency makes a retried
 * request safe, but a new connection would be a new request.
 *
 * Threads. Any number of threads may call these functions; the connection is
 * pipelined (native/common). g_mu guards g_link and g_cfg; a link is counted
 * while calls use it and closed by the last user once it is retired.
 */
#include "osh.h"
#include "osh_ck.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "ochsm_appcfg.h"
#include "ochsm_mech.h"
#include "ochsm_schema.h"

#define CONNECT_TIMEOUT_MS 10000

typedef struct osh_link {
    ochsm_conn *conn;
    unsigned refs;
    int retired;
} osh_link;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static osh_link *g_link;
static pid_t g_pid;
static osh_config g_cfg;
static int g_cfg_loaded;
static char *g_cnf_conf, *g_cnf_password; /* the provider's openssl.cnf parameters, or NULL */

/* fork() while another thread holds g_mu would leave it locked in the child. */
static void atfork_prepare(void) { pthread_mutex_lock(&g_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&g_mu); }
static void atfork_child(void) { pthread_mutex_unlock(&g_mu); }

static void setup_once(void) {
    ochsm_client_install_atfork();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void osh_setup(void) { pthread_once(&g_once, setup_once); }

static void link_close(osh_link *l) {
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
    char msg[OSH_CONFIG_MESSAGE_MAX];
    if (g_cfg_loaded) return 1;
    if (osh_config_load(&g_cfg, g_cnf_conf, g_cnf_password, msg, sizeof msg) != 0) {
        OSH_ERR(OSH_R_CONFIG, "%s", msg);
        return 0;
    }
    g_cfg_loaded = 1;
    return 1;
}

/* Under g_mu: connect and sign in. */
static osh_link *open_link_locked(void) {
    ochsm_appcfg app;
    ochsm_conn_opts o;
    ochsm_error err;
    ochsm_conn *conn = NULL;
    ochsm_builder b;
    ochsm_response r;
    const uint8_t *body;
    size_t len;
    osh_link *l;

    if (!load_config_locked()) return NULL;
    if (ochsm_appcfg_find(&app, &err) != OCHSM_OK) {
        OSH_ERR(OSH_R_CONFIG, "%s", err.message);
        return NULL;
    }
    ochsm_conn_opts_init(&o);
    ochsm_appcfg_conn_opts(&app, &o);
    o.client_name = osh_client_name;
    o.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    o.call_timeout_ms = OSH_CALL_TIMEOUT_MS;
    if (ochsm_conn_open(&o, &conn, &err) != OCHSM_OK) {
        OSH_ERR(OSH_R_DAEMON, "Failed to connect socket (LIQUIDSECURITY: Daemon socket connection error): %s (%s)",
                err.message, app.path);
        return NULL;
    }

    ochsm_builder_init(&b, NULL);
    ochsm_put_string(&b, OCHSM_Q_LOGIN_USER, g_cfg.user);
    ochsm_put_string(&b, OCHSM_Q_LOGIN_PASSWORD, g_cfg.password);
    ochsm_put_string(&b, OCHSM_Q_LOGIN_ROLE, "CU");
    if (ochsm_builder_finish(&b, &body, &len, &err) != OCHSM_OK) {
        ochsm_builder_free(&b);
        ochsm_conn_close(conn);
        OSH_ERR(OSH_R_LOGIN, "login as %s (from %s) cannot be sent: %s", g_cfg.user, g_cfg.credentials_from,
                err.message);
        return NULL;
    }
    ochsm_call(conn, OCHSM_OP_LOGIN, body, len, &r);
    OPENSSL_cleanse(b.data, b.len); /* the password */
    ochsm_builder_free(&b);
    if (r.rv != CKR_OK && r.rv != CKR_USER_ALREADY_LOGGED_IN) {
        OSH_ERR(OSH_R_LOGIN, "login as %s (from %s) failed: %s (%s, CK_RV 0x%llx)", g_cfg.user, g_cfg.credentials_from,
                ochsm_response_message(&r), ochsm_response_code(&r), (unsigned long long)r.rv);
        ochsm_response_free(&r);
        ochsm_conn_close(conn);
        return NULL;
    }
    ochsm_response_free(&r);

    l = calloc(1, sizeof *l);
    if (l == NULL) {
        ochsm_conn_close(conn);
        OSH_ERR(OSH_R_INTERNAL, "out of memory");
        return NULL;
    }
    l->conn = conn;
    return l;
}

/* A signed-in link for one call; give it back with release(). */
static osh_link *acquire(void) {
    osh_link *l;
    osh_setup();
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

static void release(osh_link *l) {
    int close_it;
    pthread_mutex_lock(&g_mu);
    l->refs--;
    close_it = l->retired && l->refs == 0 && g_pid == getpid();
    pthread_mutex_unlock(&g_mu);
    if (close_it) link_close(l);
}

/* The link failed a call: the next acquire() opens a new one. */
static void retire(osh_link *l) {
    pthread_mutex_lock(&g_mu);
    if (g_link == l) g_link = NULL;
    l->retired = 1;
    pthread_mutex_unlock(&g_mu);
    ochsm_conn_shutdown(l->conn);
}

/*
 * One request, whatever the HSM answers. On return r is filled (free it) when
 * the result is 1, that is when the daemon answered (r->rv may be an error).
 */
static int call(uint16_t opcode, ochsm_builder *b, uint32_t timeout_ms, int repeatable, ochsm_response *r) {
    const uint8_t *body;
    size_t len;
    ochsm_error err;
    int attempt;

    memset(r, 0, sizeof *r);
    if (ochsm_builder_finish(b, &body, &len, &err) != OCHSM_OK) {
        OSH_ERR(OSH_R_INTERNAL, "request cannot be encoded: %s", err.message);
        return 0;
    }
    for (attempt = 0;; attempt++) {
        osh_link *l = acquire();
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
        OSH_ERR(OSH_R_DAEMON, "%s (%s)", ochsm_response_message(r), ochsm_response_code(r));
        ochsm_response_free(r);
        return 0;
    }
    return 1;
}

int osh_request(uint16_t opcode, ochsm_builder *b, const char *what, int repeatable, uint32_t timeout_ms,
                ochsm_response *r) {
    int ok = call(opcode, b, timeout_ms, repeatable, r);
    ochsm_builder_free(b);
    if (!ok) return 0;
    if (r->rv != CKR_OK) {
        OSH_ERR(OSH_R_HSM, "%s failed in the HSM: %s (%s, CK_RV 0x%llx)", what, ochsm_response_message(r),
                ochsm_response_code(r), (unsigned long long)r->rv);
        ochsm_response_free(r);
        return 0;
    }
    return 1;
}

void osh_request_quiet(uint16_t opcode, ochsm_builder *b) {
    ochsm_response r;
    ERR_set_mark();
    if (call(opcode, b, OSH_CALL_TIMEOUT_MS, 0, &r)) ochsm_response_free(&r);
    ochsm_builder_free(b);
    ERR_pop_to_mark();
}

int osh_result_field(const ochsm_response *r, uint16_t id, ochsm_field *f) {
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

int osh_result_bytes(const ochsm_response *r, uint16_t id, uint8_t **out, size_t *out_len) {
    ochsm_field f;
    const uint8_t *p;
    size_t n;
    if (!osh_result_field(r, id, &f) || ochsm_field_bytes(&f, &p, &n) != OCHSM_OK) {
        OSH_ERR(OSH_R_INTERNAL, "the daemon's answer has no field %u", (unsigned)id);
        return 0;
    }
    *out = OPENSSL_malloc(n ? n : 1);
    if (*out == NULL) {
        OSH_ERR(OSH_R_INTERNAL, "out of memory");
        return 0;
    }
    if (n) memcpy(*out, p, n);
    *out_len = n;
    return 1;
}

int osh_result_u64(const ochsm_response *r, uint16_t id, uint64_t *out) {
    ochsm_field f;
    if (!osh_result_field(r, id, &f) || ochsm_field_u64(&f, out) != OCHSM_OK) {
        OSH_ERR(OSH_R_INTERNAL, "the daemon's answer has no field %u", (unsigned)id);
        return 0;
    }
    return 1;
}

void osh_ulong_le(uint64_t v, uint8_t out[8]) {
    int i;
    for (i = 0; i < 8; i++) out[i] = (uint8_t)(v >> (8 * i)); /* CK_ULONG, little-endian */
}

/* The modules' few mechanism parameters as the shared Mechanism record (native/common ochsm_mech.h). */
void osh_put_mechanism(ochsm_builder *b, uint16_t id, const osh_mech *m) {
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

static int key_operation(uint16_t opcode, const char *op, uint64_t handle, const osh_mech *m, const uint8_t *data,
                         size_t len, uint8_t **out, size_t *out_len) {
    ochsm_builder b;
    ochsm_response r;
    char what[128];
    int ok;
    ochsm_builder_init(&b, NULL);
    osh_put_mechanism(&b, 2, m);
    ochsm_put_u64(&b, 3, handle);
    ochsm_put_bytes(&b, 4, data, len);
    snprintf(what, sizeof what, "%s with key handle %llu (mechanism 0x%llx)", op, (unsigned long long)handle,
             (unsigned long long)m->mechanism);
    if (!osh_request(opcode, &b, what, 1, OSH_CALL_TIMEOUT_MS, &r)) return 0;
    ok = osh_result_bytes(&r, 4, out, out_len);
    ochsm_response_free(&r);
    return ok;
}

int osh_sign(uint64_t handle, const osh_mech *m, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len) {
    return key_operation(OCHSM_OP_SIGN, "sign", handle, m, data, len, out, out_len);
}

int osh_decrypt(uint64_t handle, const osh_mech *m, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len) {
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
    ok = call(OCHSM_OP_GET_ATTRIBUTE_VALUE, &b, OSH_CALL_TIMEOUT_MS, 1, &r);
    ochsm_builder_free(&b);
    if (!ok) return 0;
    if (r.rv != CKR_OK) {
        OSH_ERR(OSH_R_KEYREF, "key handle %llu cannot be used: %s (%s, CK_RV 0x%llx)", (unsigned long long)handle,
                ochsm_response_message(&r), ochsm_response_code(&r), (unsigned long long)r.rv);
        ochsm_response_free(&r);
        return 0;
    }
    if (!osh_result_field(&r, 4, &fa) || !osh_result_field(&r, 5, &fr) || ochsm_field_iter(&fa, &ia) != OCHSM_OK ||
        ochsm_field_iter(&fr, &ir) != OCHSM_OK || ochsm_iter_u64(&ir, &arv) != 1) {
        OSH_ERR(OSH_R_INTERNAL, "malformed getAttributeValue answer");
        ochsm_response_free(&r);
        return 0;
    }
    if (arv != CKR_OK || ochsm_iter_attr(&ia, &a) != 1 || a.type != type) {
        OSH_ERR(OSH_R_KEYREF, "key handle %llu has no %s (CK_RV 0x%llx): it is not an RSA or EC private key",
                (unsigned long long)handle, name, (unsigned long long)arv);
        ochsm_response_free(&r);
        return 0;
    }
    *out = OPENSSL_malloc(a.len ? a.len : 1);
    if (*out == NULL) {
        OSH_ERR(OSH_R_INTERNAL, "out of memory");
        ochsm_response_free(&r);
        return 0;
    }
    if (a.len) memcpy(*out, a.value, a.len);
    *out_len = a.len;
    ochsm_response_free(&r);
    return 1;
}

int osh_public_key_info(uint64_t handle, uint8_t **der, size_t *len) {
    return get_attribute(handle, (uint32_t)CKA_PUBLIC_KEY_INFO, "CKA_PUBLIC_KEY_INFO", der, len);
}

/* Nothing to report when it fails: at worst the public half stays in the HSM. */
static void destroy_object(uint64_t handle) {
    ochsm_builder b;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, 2, handle);
    osh_request_quiet(OCHSM_OP_DESTROY_OBJECT, &b);
}

/* generateKeyPair with the two templates; *pub and *priv the new handles. */
static int generate_pair(uint64_t mechanism, const ochsm_attr *pub_t, size_t pub_n, const ochsm_attr *priv_t,
                         size_t priv_n, const char *what, uint64_t *pub, uint64_t *priv) {
    const osh_mech m = {mechanism, 0, 0, 0, 0, 0, NULL, 0};
    ochsm_builder b;
    ochsm_response r;
    char msg[128];
    int ok;
    ochsm_builder_init(&b, NULL);
    osh_put_mechanism(&b, 2, &m);
    ochsm_put_attrs(&b, 3, pub_t, pub_n);
    ochsm_put_attrs(&b, 4, priv_t, priv_n);
    snprintf(msg, sizeof msg, "%s key generation", what);
    if (!osh_request(OCHSM_OP_GENERATE_KEY_PAIR, &b, msg, 0, OSH_KEYGEN_TIMEOUT_MS, &r)) return 0;
    ok = osh_result_u64(&r, 4, pub) && osh_result_u64(&r, 5, priv);
    ochsm_response_free(&r);
    return ok;
}

int osh_generate_rsa(unsigned long bits, const uint8_t *exp, size_t exp_len, const char *label, uint64_t *priv,
                     uint8_t **n, size_t *n_len, uint8_t **e, size_t *e_len) {
    static const uint8_t yes = 1;
    uint8_t bits_le[8];
    uint64_t pub = 0;
    char what[32];
    osh_ulong_le(bits, bits_le);
    {
        const ochsm_attr pub_t[] = {
            {(uint32_t)CKA_TOKEN, 1, &yes},
            {(uint32_t)CKA_LABEL, (uint32_t)strlen(label), label},
            {(uint32_t)CKA_ENCRYPT, 1, &yes},
            {(uint32_t)CKA_VERIFY, 1, &yes},
            {(uint32_t)CKA_MODULUS_BITS, 8, bits_le},
            {(uint32_t)CKA_PUBLIC_EXPONENT, (uint32_t)exp_len, exp},
        };
        const ochsm_attr priv_t[] = {
            {(uint32_t)CKA_TOKEN, 1, &yes},
            {(uint32_t)CKA_LABEL, (uint32_t)strlen(label), label},
            {(uint32_t)CKA_DECRYPT, 1, &yes},
            {(uint32_t)CKA_SIGN, 1, &yes},
        };
        snprintf(what, sizeof what, "RSA-%lu", bits);
        if (!generate_pair(CKM_RSA_PKCS_KEY_PAIR_GEN, pub_t, sizeof pub_t / sizeof pub_t[0], priv_t,
                           sizeof priv_t / sizeof priv_t[0], what, &pub, priv))
            return 0;
    }
    if (!get_attribute(*priv, (uint32_t)CKA_MODULUS, "CKA_MODULUS", n, n_len)) return 0;
    if (!get_attribute(*priv, (uint32_t)CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT", e, e_len)) {
        OPENSSL_free(*n);
        return 0;
    }
    destroy_object(pub);
    return 1;
}

int osh_generate_ec(uint64_t mechanism, const uint8_t *ec_params, size_t params_len, int derive, const char *label,
                    const char *what, uint64_t *priv, uint8_t **spki, size_t *spki_len) {
    static const uint8_t yes = 1;
    uint64_t pub = 0;
    {
        const ochsm_attr pub_t[] = {
            {(uint32_t)CKA_TOKEN, 1, &yes},
            {(uint32_t)CKA_LABEL, (uint32_t)strlen(label), label},
            {(uint32_t)CKA_VERIFY, 1, &yes},
            {(uint32_t)CKA_EC_PARAMS, (uint32_t)params_len, ec_params},
        };
        const ochsm_attr priv_t[] = {
            {(uint32_t)CKA_TOKEN, 1, &yes},
            {(uint32_t)CKA_LABEL, (uint32_t)strlen(label), label},
            {(uint32_t)CKA_SIGN, 1, &yes},
            {(uint32_t)CKA_DERIVE, 1, &yes},
        };
        if (!generate_pair(mechanism, pub_t, sizeof pub_t / sizeof pub_t[0], priv_t,
                           sizeof priv_t / sizeof priv_t[0] - (derive ? 0 : 1), what, &pub, priv))
            return 0;
    }
    if (!get_attribute(*priv, (uint32_t)CKA_PUBLIC_KEY_INFO, "CKA_PUBLIC_KEY_INFO", spki, spki_len)) return 0;
    destroy_object(pub);
    return 1;
}

int osh_ecdsa_sign_enabled(void) {
    int on;
    pthread_mutex_lock(&g_mu);
    on = load_config_locked() ? g_cfg.ecdsa_sign : -1;
    pthread_mutex_unlock(&g_mu);
    return on;
}

void osh_set_cnf(const char *conf, const char *password) {
    pthread_mutex_lock(&g_mu);
    free(g_cnf_conf);
    if (g_cnf_password != NULL) OPENSSL_cleanse(g_cnf_password, strlen(g_cnf_password));
    free(g_cnf_password);
    g_cnf_conf = conf != NULL ? strdup(conf) : NULL;
    g_cnf_password = password != NULL ? strdup(password) : NULL;
    pthread_mutex_unlock(&g_mu);
}

void osh_teardown(void) {
    osh_link *l;
    pthread_mutex_lock(&g_mu);
    drop_inherited_locked();
    l = g_link;
    g_link = NULL;
    if (l != NULL) {
        l->retired = 1;
        if (l->refs != 0) l = NULL; /* the last call in flight closes it */
    }
    osh_config_wipe(&g_cfg);
    g_cfg_loaded = 0;
    pthread_mutex_unlock(&g_mu);
    if (l != NULL) link_close(l);
}
