/*
 * engine.c: the azcloudhsm_openssl ENGINE (the Azure Cloud HSM OpenSSL guide): a dynamic
 * engine, loaded by `-engine azcloudhsm_openssl` (OPENSSL_ENGINES or
 * ENGINESDIR/azcloudhsm_openssl.so, or LD_LIBRARY_PATH/libazcloudhsm_openssl.so)
 * and by nginx's `ssl_engine azcloudhsm_openssl;`.
 *
 * It offers an RSA EVP_PKEY_METHOD and an RSA_METHOD (rsa.c), an
 * EC_KEY_METHOD (ec.c), and OpenSSL's own SHA digests (for -engine_impl). `-engine` and `ssl_engine` call
 * ENGINE_set_default(e, ENGINE_METHOD_ALL), which makes them the defaults, so
 * every RSA and EC key of the process passes through them; they send key
 * references to the HSM and leave ordinary keys to OpenSSL.
 *
 * init does nothing that can fail: were it to fail, the openssl commands
 * would go on without the engine (most ignore a failed -engine) and, for
 * genpkey, write a software key. The sign-in happens at the first operation
 * that needs the HSM (hsm.c), and that operation fails with the reason.
 */
#include "eng.h"

#include <pthread.h>
#include <string.h>

#include <openssl/engine.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>

static int eng_init(ENGINE *e) {
    (void)e;
    osh_setup();
    return 1;
}

static int eng_finish(ENGINE *e) {
    /* Called whenever the last functional reference goes; keys may come back. Keep the connection. */
    (void)e;
    return 1;
}

static int eng_destroy(ENGINE *e) {
    (void)e;
    osh_teardown();
    eng_rsa_teardown();
    eng_ec_teardown();
    eng_errors_unload();
    return 1;
}

/*
 * Digests. The guide's `dgst -engine azcloudhsm_openssl -engine_impl` asks the
 * engine for the digest too. Hashing needs no key, so the engine answers with
 * OpenSSL's own SHA-1 and SHA-2 code (the HSM would only add a round trip).
 * The list of digests it reports is empty, so that ENGINE_set_default(ALL)
 * does not make these the whole process's digests: they are used only when a
 * program asks this engine for one (ENGINE_get_digest, -engine_impl).
 * OpenSSL 3's EVP_sha256() & co. have no context of their own (ctx_size 0:
 * the provider does the work), hence EVP_MD_meth_new over the SHA functions.
 */
#define SHA_MD(name, CTX, INIT, UPDATE, FINAL)                                                        \
    static int name##_init(EVP_MD_CTX *c) { return INIT((CTX *)EVP_MD_CTX_md_data(c)); }             \
    static int name##_update(EVP_MD_CTX *c, const void *d, size_t n) {                                \
        return UPDATE((CTX *)EVP_MD_CTX_md_data(c), d, n);                                            \
    }                                                                                                 \
    static int name##_final(EVP_MD_CTX *c, unsigned char *md) { return FINAL(md, (CTX *)EVP_MD_CTX_md_data(c)); }

SHA_MD(sha1, SHA_CTX, SHA1_Init, SHA1_Update, SHA1_Final)
SHA_MD(sha224, SHA256_CTX, SHA224_Init, SHA224_Update, SHA224_Final)
SHA_MD(sha256, SHA256_CTX, SHA256_Init, SHA256_Update, SHA256_Final)
SHA_MD(sha384, SHA512_CTX, SHA384_Init, SHA384_Update, SHA384_Final)
SHA_MD(sha512, SHA512_CTX, SHA512_Init, SHA512_Update, SHA512_Final)

static const struct {
    int nid, pkey_nid, size, block, ctx_size;
    int (*init)(EVP_MD_CTX *);
    int (*update)(EVP_MD_CTX *, const void *, size_t);
    int (*final)(EVP_MD_CTX *, unsigned char *);
} sha_table[] = {
    {NID_sha1, NID_sha1WithRSAEncryption, SHA_DIGEST_LENGTH, SHA_CBLOCK, sizeof(SHA_CTX), sha1_init, sha1_update,
     sha1_final},
    {NID_sha224, NID_sha224WithRSAEncryption, SHA224_DIGEST_LENGTH, SHA256_CBLOCK, sizeof(SHA256_CTX), sha224_init,
     sha224_update, sha224_final},
    {NID_sha256, NID_sha256WithRSAEncryption, SHA256_DIGEST_LENGTH, SHA256_CBLOCK, sizeof(SHA256_CTX), sha256_init,
     sha256_update, sha256_final},
    {NID_sha384, NID_sha384WithRSAEncryption, SHA384_DIGEST_LENGTH, SHA512_CBLOCK, sizeof(SHA512_CTX), sha384_init,
     sha384_update, sha384_final},
    {NID_sha512, NID_sha512WithRSAEncryption, SHA512_DIGEST_LENGTH, SHA512_CBLOCK, sizeof(SHA512_CTX), sha512_init,
     sha512_update, sha512_final},
};
#define SHA_COUNT (sizeof sha_table / sizeof sha_table[0])
static EVP_MD *sha_md[SHA_COUNT];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha_setup(void) {
    size_t i;
    for (i = 0; i < SHA_COUNT; i++) {
        EVP_MD *md = EVP_MD_meth_new(sha_table[i].nid, sha_table[i].pkey_nid);
        if (md == NULL || !EVP_MD_meth_set_result_size(md, sha_table[i].size) ||
            !EVP_MD_meth_set_input_blocksize(md, sha_table[i].block) ||
            !EVP_MD_meth_set_app_datasize(md, sha_table[i].ctx_size) ||
            !EVP_MD_meth_set_flags(md, EVP_MD_FLAG_DIGALGID_ABSENT) || !EVP_MD_meth_set_init(md, sha_table[i].init) ||
            !EVP_MD_meth_set_update(md, sha_table[i].update) || !EVP_MD_meth_set_final(md, sha_table[i].final)) {
            EVP_MD_meth_free(md);
            md = NULL;
        }
        sha_md[i] = md;
    }
}

static int eng_digests(ENGINE *e, const EVP_MD **digest, const int **nids, int nid) {
    size_t i;
    (void)e;
    if (digest == NULL) {
        *nids = NULL;
        return 0; /* see above: offered on request, never as a default */
    }
    pthread_once(&sha_once, sha_setup);
    for (i = 0; i < SHA_COUNT; i++) {
        if (sha_table[i].nid == nid && sha_md[i] != NULL) {
            *digest = sha_md[i];
            return 1;
        }
    }
    *digest = NULL;
    return 0;
}

static int bind_helper(ENGINE *e, const char *id) {
    if (id != NULL && strcmp(id, ENG_ID) != 0) return 0;
    eng_errors_load();
    if (!ENGINE_set_id(e, ENG_ID) || !ENGINE_set_name(e, ENG_NAME) || !ENGINE_set_init_function(e, eng_init) ||
        !ENGINE_set_finish_function(e, eng_finish) || !ENGINE_set_destroy_function(e, eng_destroy) ||
        !ENGINE_set_digests(e, eng_digests) ||
        !eng_rsa_setup(e) || !eng_ec_setup(e)) {
        OSH_ERR(OSH_R_INTERNAL, "cannot set up the engine");
        return 0;
    }
    return 1;
}

/* The two entry points OpenSSL's dynamic loader looks up (everything else is hidden). */
#pragma GCC visibility push(default)
IMPLEMENT_DYNAMIC_BIND_FN(bind_helper)
IMPLEMENT_DYNAMIC_CHECK_FN()
#pragma GCC visibility pop
