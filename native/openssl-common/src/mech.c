/*
 * mech.c: OpenSSL's names for what the HSM calls mechanisms, written once for
 * the engine and the provider: a digest as CKM_SHA* with its CKG_MGF1_*, and
 * the DigestInfo that CKM_RSA_PKCS signs.
 */
#include "osh.h"
#include "osh_ck.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

int osh_hash_mechanism(int nid, uint64_t *hash, uint64_t *mgf) {
    switch (nid) {
    case NID_sha1: *hash = CKM_SHA_1; *mgf = CKG_MGF1_SHA1; return 1;
    case NID_sha224: *hash = CKM_SHA224; *mgf = CKG_MGF1_SHA224; return 1;
    case NID_sha256: *hash = CKM_SHA256; *mgf = CKG_MGF1_SHA256; return 1;
    case NID_sha384: *hash = CKM_SHA384; *mgf = CKG_MGF1_SHA384; return 1;
    case NID_sha512: *hash = CKM_SHA512; *mgf = CKG_MGF1_SHA512; return 1;
    default: return 0;
    }
}

int osh_digest_info(const EVP_MD *md, const unsigned char *dgst, size_t len, unsigned char **der, int *der_len) {
    X509_SIG *sig = X509_SIG_new();
    X509_ALGOR *alg = NULL;
    ASN1_OCTET_STRING *os = NULL;
    int ok = 0;
    *der = NULL;
    if (sig != NULL) {
        X509_SIG_getm(sig, &alg, &os);
        ok = X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL) &&
             ASN1_OCTET_STRING_set(os, dgst, (int)len) && (*der_len = i2d_X509_SIG(sig, der)) > 0;
    }
    X509_SIG_free(sig);
    if (!ok) OSH_ERR(OSH_R_INTERNAL, "cannot encode the DigestInfo for %s", md == NULL ? "none" : EVP_MD_get0_name(md));
    return ok;
}

int osh_copy_answer(uint8_t *out, size_t n, unsigned char *to, size_t cap, size_t *to_len) {
    if (n > cap) {
        OSH_ERR(OSH_R_INTERNAL, "the HSM answered %zu bytes where %zu fit", n, cap);
        OPENSSL_clear_free(out, n);
        return 0;
    }
    memcpy(to, out, n);
    OPENSSL_clear_free(out, n);
    *to_len = n;
    return 1;
}
