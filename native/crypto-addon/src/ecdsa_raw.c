/*
 * ochsm_crypto.node — raw ECDSA (CKM_ECDSA: sign a caller-supplied hash) for
 * the node process, through libcrypto's EVP_PKEY_sign with no digest set.
 *
 * node:crypto has no way to ECDSA-sign a prehashed value, and the pure-JS
 * fallback (@noble/curves) costs about 1 ms of event-loop time per signature.
 * This addon is a thin adapter only: no policy, no key storage. It is loaded
 * by the node (packages/hsm-node/src/native_crypto.ts) and installed into the
 * core's crypto port (packages/hsm-core/src/crypto/raw_ecdsa.ts).
 *
 * Exports (plain N-API, C):
 *   loadKey(pkcs8Der: Buffer) -> External     an EVP_PKEY for an EC private key
 *   sign(key: External, hash: Buffer, n: number) -> Promise<Buffer>
 *        signs on the libuv thread pool; resolves to r || s, each n bytes
 *        (the byte length of the group order). The hash is taken by libcrypto
 *        as the integer of its leftmost order-length bits (FIPS 186-4 §6.4).
 *   signSync(key, hash, n) -> Buffer
 *        the same signature on the calling thread (the event loop).
 */
#include <node_api.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HASH 512
#define MAX_COORD 66 /* P-521 */

#define CHECK(env, call)                                                   \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error((env), "ERR_GENERAL", "N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static void key_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  EVP_PKEY_free((EVP_PKEY *)data);
}

static napi_value load_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_buf = false;
  if (argc < 1 || napi_is_buffer(env, argv[0], &is_buf) != napi_ok || !is_buf) {
    napi_throw_type_error(env, "ERR_ARGUMENTS_BAD", "loadKey takes a PKCS#8 DER buffer");
    return NULL;
  }
  void *der = NULL;
  size_t len = 0;
  CHECK(env, napi_get_buffer_info(env, argv[0], &der, &len));
  const unsigned char *p = der;
  PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
  EVP_PKEY *pkey = p8 ? EVP_PKCS82PKEY(p8) : NULL;
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
    EVP_PKEY_free(pkey);
    napi_throw_error(env, "ERR_KEY_TYPE_INCONSISTENT", "not an EC private key");
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, pkey, key_finalize, NULL, &ext) != napi_ok) {
    EVP_PKEY_free(pkey);
    napi_throw_error(env, "ERR_GENERAL", "N-API call failed: napi_create_external");
    return NULL;
  }
  return ext;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  EVP_PKEY *pkey; /* own reference (EVP_PKEY_up_ref) for the job's lifetime */
  unsigned char hash[MAX_HASH];
  size_t hash_len;
  size_t n;
  unsigned char out[2 * MAX_COORD];
  int ok;
} sign_job;

/* r || s (each n bytes) into out; 1 on success. No N-API calls: runs on the thread pool too. */
static int sign_raw(EVP_PKEY *pkey, const unsigned char *hash, size_t hash_len, size_t n, unsigned char *out) {
  int ok = 0;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
  unsigned char der[2 * MAX_COORD + 16];
  size_t der_len = sizeof der;
  if (ctx && EVP_PKEY_sign_init(ctx) == 1 && EVP_PKEY_sign(ctx, der, &der_len, hash, hash_len) == 1) {
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (sig) {
      const BIGNUM *r = NULL, *s = NULL;
      ECDSA_SIG_get0(sig, &r, &s);
      if (BN_bn2binpad(r, out, (int)n) == (int)n && BN_bn2binpad(s, out + n, (int)n) == (int)n) ok = 1;
      ECDSA_SIG_free(sig);
    }
  }
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

/* Thread pool: no N-API calls here. */
static void sign_execute(napi_env env, void *data) {
  (void)env;
  sign_job *job = data;
  job->ok = sign_raw(job->pkey, job->hash, job->hash_len, job->n, job->out);
  OPENSSL_cleanse(job->hash, sizeof job->hash);
}

static void sign_complete(napi_env env, napi_status status, void *data) {
  sign_job *job = data;
  napi_value result;
  if (status == napi_ok && job->ok && napi_create_buffer_copy(env, 2 * job->n, job->out, NULL, &result) == napi_ok) {
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_value msg, code, err;
    napi_create_string_utf8(env, "ECDSA signing failed in libcrypto", NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, "ERR_GENERAL", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_async_work(env, job->work);
  EVP_PKEY_free(job->pkey);
  OPENSSL_cleanse(job->out, sizeof job->out);
  free(job);
}

/* The arguments of sign and signSync: (key, hash buffer, order length). */
typedef struct {
  EVP_PKEY *pkey; /* borrowed from the JavaScript external */
  void *hash;     /* the caller's buffer, valid for this call only */
  size_t hash_len;
  uint32_t n;
} sign_in;

/* Reads sign_in from the call; 0 with an exception pending if the arguments are wrong. */
static int sign_args(napi_env env, napi_callback_info info, sign_in *in) {
  size_t argc = 3;
  napi_value argv[3];
  void *key = NULL;
  bool is_buf = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || napi_get_value_external(env, argv[0], &key) != napi_ok || !key ||
      napi_is_buffer(env, argv[1], &is_buf) != napi_ok || !is_buf || napi_get_value_uint32(env, argv[2], &in->n) != napi_ok || in->n == 0 || in->n > MAX_COORD ||
      napi_get_buffer_info(env, argv[1], &in->hash, &in->hash_len) != napi_ok) {
    napi_throw_type_error(env, "ERR_ARGUMENTS_BAD", "sign takes (key, hash buffer, order length)");
    return 0;
  }
  if (in->hash_len == 0 || in->hash_len > MAX_HASH) {
    napi_throw_range_error(env, "ERR_DATA_LEN_RANGE", "CKM_ECDSA signs a hash of 1 to 512 bytes");
    return 0;
  }
  in->pkey = key;
  return 1;
}

/* signSync: on the calling (event-loop) thread, for curves whose signature costs less than the hop to the pool would. */
static napi_value sign_sync(napi_env env, napi_callback_info info) {
  sign_in in;
  if (!sign_args(env, info, &in)) return NULL;
  unsigned char out[2 * MAX_COORD];
  napi_value result;
  int ok = sign_raw(in.pkey, in.hash, in.hash_len, in.n, out);
  if (ok && napi_create_buffer_copy(env, 2 * in.n, out, NULL, &result) == napi_ok) {
    OPENSSL_cleanse(out, sizeof out);
    return result;
  }
  OPENSSL_cleanse(out, sizeof out);
  napi_throw_error(env, "ERR_GENERAL", "ECDSA signing failed in libcrypto");
  return NULL;
}

static napi_value sign(napi_env env, napi_callback_info info) {
  sign_in in;
  if (!sign_args(env, info, &in)) return NULL;
  sign_job *job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, "ERR_HOST_MEMORY", "out of memory");
    return NULL;
  }
  memcpy(job->hash, in.hash, in.hash_len);
  job->hash_len = in.hash_len;
  job->n = in.n;
  job->pkey = in.pkey;
  EVP_PKEY_up_ref(job->pkey);
  napi_value promise, name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ochsm_ecdsa_sign", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, sign_execute, sign_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    EVP_PKEY_free(job->pkey);
    free(job);
    napi_throw_error(env, "ERR_GENERAL", "N-API call failed: queueing the signature");
    return NULL;
  }
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"loadKey", NULL, load_key, NULL, NULL, NULL, napi_default, NULL},
      {"sign", NULL, sign, NULL, NULL, NULL, napi_default, NULL},
      {"signSync", NULL, sign_sync, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
