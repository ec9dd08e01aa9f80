/*
 * ec.c: ECDSA through the HSM, as the EC_KEY_METHOD of every EC key (the
 * engine's default EC method). OpenSSL 3's ECDSA, in the default provider and
 * in the legacy code alike, hands the digest to the key's method (ECDSA_sign_ex
 * → meth->sign), so this one hook serves `dgst -sign`, `req`, `x509`, CMS and
 * TLS.
 *
 * For a key reference (the marker block in the private scalar, docs/cli.md)
 * and ECDSA_Sign=1 in azcloudhsm_openssl_dynamic.conf, the digest goes to the
 * HSM as CKM_ECDSA; the HSM answers r ‖ s, which becomes a DER ECDSA-Sig-Value.
 * With ECDSA_Sign=0 the guide's engine leaves EC keys alone and OpenSSL signs
 * with the marker as a scalar, giving a signature that never verifies
 * ("signature did not match"); this engine refuses instead, saying why.
 * Ordinary EC keys, and every verification, use OpenSSL's own code.
 */
#include "osh_ck.h"
#include "eng.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#define EC_SCALAR_MAX 66 /* P-521 */

static EC_KEY_METHOD *g_ec_meth;
static int (*sw_sign)(int, const unsigned char *, int, unsigned char *, unsigned int *, const BIGNUM *, const BIGNUM *,
                      EC_KEY *);
static int (*sw_sign_setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **);
static ECDSA_SIG *(*sw_sign_sig)(const unsigned char *, int, const BIGNUM *, const BIGNUM *, EC_KEY *);

/* The private-key length of a curve: the byte length of its order. */
static size_t scalar_length(const EC_KEY *ec) {
    const EC_GROUP *g = EC_KEY_get0_group(ec);
    return g == NULL ? 0 : (size_t)(EC_GROUP_order_bits(g) + 7) / 8;
}

static int ec_reference(const EC_KEY *ec, uint64_t *handle) {
    const BIGNUM *priv = EC_KEY_get0_private_key(ec);
    uint8_t buf[EC_SCALAR_MAX];
    size_t len = scalar_length(ec);
    if (priv == NULL || len < OSH_MARKER_MIN || len > sizeof buf || (size_t)BN_num_bytes(priv) > len) return 0;
    if (BN_bn2binpad(priv, buf, (int)len) != (int)len) return 0;
    return osh_marker_read(buf, len, handle);
}

static ECDSA_SIG *hsm_sign(const unsigned char *dgst, int dlen, EC_KEY *ec, uint64_t h) {
    osh_mech m = {CKM_ECDSA, 0, 0, 0, 0, 0, NULL, 0};
    unsigned char *der = NULL;
    uint8_t *rs = NULL;
    size_t rs_len = 0, half;
    int der_len, enabled, ok;
    ECDSA_SIG *sig;
    BIGNUM *r, *s;

    enabled = osh_ecdsa_sign_enabled();
    if (enabled < 0) return NULL;
    if (!enabled) {
        OSH_ERR(OSH_R_CONFIG,
                "the EC key reference for key handle %llu is signed in the HSM only with ECDSA_Sign=1 in "
                "azcloudhsm_openssl_dynamic.conf (it is 0): OpenSSL cannot sign with a key reference itself",
                (unsigned long long)h);
        return NULL;
    }
    der_len = i2d_EC_PUBKEY(ec, &der);
    if (der_len <= 0) {
        OSH_ERR(OSH_R_KEYREF, "the key reference for key handle %llu has no public key", (unsigned long long)h);
        return NULL;
    }
    ok = osh_keyref_check_public(h, der, (size_t)der_len);
    OPENSSL_free(der);
    if (!ok || dlen <= 0 || !osh_sign(h, &m, dgst, (size_t)dlen, &rs, &rs_len)) return NULL;
    half = rs_len / 2;
    if (rs_len == 0 || rs_len % 2 != 0 || half > EC_SCALAR_MAX) {
        OSH_ERR(OSH_R_INTERNAL, "the HSM's ECDSA signature has %zu bytes", rs_len);
        OPENSSL_free(rs);
        return NULL;
    }
    sig = ECDSA_SIG_new();
    r = BN_bin2bn(rs, (int)half, NULL);
    s = BN_bin2bn(rs + half, (int)half, NULL);
    OPENSSL_free(rs);
    if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
        ECDSA_SIG_free(sig);
        BN_free(r);
        BN_free(s);
        OSH_ERR(OSH_R_INTERNAL, "out of memory");
        return NULL;
    }
    return sig;
}

static ECDSA_SIG *em_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *rp, EC_KEY *ec) {
    uint64_t h;
    if (!ec_reference(ec, &h)) return sw_sign_sig(dgst, dlen, kinv, rp, ec);
    return hsm_sign(dgst, dlen, ec, h);
}

static int em_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig, unsigned int *siglen,
                   const BIGNUM *kinv, const BIGNUM *rp, EC_KEY *ec) {
    uint64_t h;
    ECDSA_SIG *s;
    int n;
    if (!ec_reference(ec, &h)) return sw_sign(type, dgst, dlen, sig, siglen, kinv, rp, ec);
    s = hsm_sign(dgst, dlen, ec, h);
    if (s == NULL) return 0;
    n = i2d_ECDSA_SIG(s, &sig); /* sig has ECDSA_size(ec) bytes, the longest encoding */
    ECDSA_SIG_free(s);
    if (n <= 0) {
        OSH_ERR(OSH_R_INTERNAL, "cannot encode the ECDSA signature");
        return 0;
    }
    *siglen = (unsigned int)n;
    return 1;
}

static int em_sign_setup(EC_KEY *ec, BN_CTX *ctx, BIGNUM **kinv, BIGNUM **r) {
    uint64_t h;
    if (!ec_reference(ec, &h)) return sw_sign_setup(ec, ctx, kinv, r);
    OSH_ERR(OSH_R_UNSUPPORTED, "key handle %llu: ECDSA nonces are chosen inside the HSM", (unsigned long long)h);
    return 0;
}

int eng_ec_setup(ENGINE *e) {
    if (g_ec_meth == NULL) {
        const EC_KEY_METHOD *sw = EC_KEY_OpenSSL();
        g_ec_meth = EC_KEY_METHOD_new(sw);
        if (g_ec_meth == NULL) return 0;
        EC_KEY_METHOD_get_sign(sw, &sw_sign, &sw_sign_setup, &sw_sign_sig);
        EC_KEY_METHOD_set_sign(g_ec_meth, em_sign, em_sign_setup, em_sign_sig);
    }
    return ENGINE_set_EC(e, g_ec_meth);
}

void eng_ec_teardown(void) {
    /* g_ec_meth stays: EC keys made with it may outlive the ENGINE. */
}
