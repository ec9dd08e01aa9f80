/*
 * random.c: PKCS #11 v2.40 §5.15 random number generation — C_SeedRandom,
 * C_GenerateRandom.
 *
 * Random bytes come from the HSM (generateRandom), at most 1 MiB per request
 * (the node's limit for one operation), so a larger C_GenerateRandom is split.
 * The HSM's generator takes no seed from applications: C_SeedRandom answers
 * CKR_RANDOM_SEED_NOT_SUPPORTED, the code §5.15 gives for that.
 */
#include <string.h>

#include "p11.h"

P11_EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    rv = p11_buf_ok(pSeed, ulSeedLen) ? CKR_RANDOM_SEED_NOT_SUPPORTED : CKR_ARGUMENTS_BAD;
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (!p11_buf_ok(RandomData, ulRandomLen)) {
        p11_session_release(s);
        return CKR_ARGUMENTS_BAD;
    }
    CK_ULONG done = 0;
    while (done < ulRandomLen && rv == CKR_OK) {
        CK_ULONG want = ulRandomLen - done > p11_max_data() ? p11_max_data() : ulRandomLen - done;
        ochsm_builder b;
        ochsm_response r;
        ochsm_builder_init(&b, NULL);
        ochsm_put_u64(&b, 1, s->remote);
        ochsm_put_u64(&b, 2, want);
        if ((rv = p11_call(OCHSM_OP_GENERATE_RANDOM, &b, &r)) == CKR_OK) {
            const uint8_t *p;
            size_t n;
            if (p11_result_bytes(&r, 4, &p, &n) && n == want) {
                memcpy(RandomData + done, p, n);
                done += n;
            } else {
                rv = CKR_DEVICE_ERROR;
            }
        }
        ochsm_response_free(&r);
        ochsm_builder_free(&b);
    }
    p11_session_release(s);
    return rv;
}
