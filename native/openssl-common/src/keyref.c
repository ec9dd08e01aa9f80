/*
 * keyref.c: key-reference ("fake PEM") files, as azcloudhsm_util
 * getCaviumPrivKey writes them (docs/cli.md "Key-reference PEM files",
 * packages/protocol/src/keyref.ts).
 *
 * Marker block for handle H in a field of L bytes (L >= 16): (L mod 4) zero
 * bytes, then ea fc fc ee, then H as a 64-bit little-endian integer, then
 * ea fc fc ee repeated to the end. It sits in an EC key's private scalar and
 * in an RSA key's private exponent (and its CRT values), while the file's
 * public key is the HSM key's real one.
 *
 * The public-key check: before a reference is used, the public key in the
 * file is compared with the HSM key's CKA_PUBLIC_KEY_INFO, so that a file
 * whose marker names some other key fails with a clear message instead of
 * producing a signature that nothing verifies. The answer is remembered per
 * process for (handle, SHA-256 of the file's public key).
 */
#include "osh.h"

#include <pthread.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

static const uint8_t MARKER[4] = {0xea, 0xfc, 0xfc, 0xee};

/* Handles are JavaScript-safe integers on the wire (docs/protocol.md §3). */
#define MAX_HANDLE 9007199254740991ULL

int osh_marker_read(const uint8_t *b, size_t len, uint64_t *handle) {
    size_t pad = len % 4, off, i;
    uint64_t h = 0;
    if (len < OSH_MARKER_MIN) return 0;
    for (i = 0; i < pad; i++)
        if (b[i] != 0) return 0;
    if (memcmp(b + pad, MARKER, 4) != 0) return 0;
    for (i = 0; i < 8; i++) h |= (uint64_t)b[pad + 4 + i] << (8 * i);
    for (off = pad + 12; off < len; off += 4)
        if (memcmp(b + off, MARKER, 4) != 0) return 0;
    if (h > MAX_HANDLE) return 0;
    *handle = h;
    return 1;
}

void osh_marker_write(uint64_t handle, uint8_t *out, size_t len) {
    size_t off = len % 4, i;
    memset(out, 0, len);
    memcpy(out + off, MARKER, 4);
    for (i = 0; i < 8; i++) out[off + 4 + i] = (uint8_t)(handle >> (8 * i));
    for (off += 12; off + 4 <= len; off += 4) memcpy(out + off, MARKER, 4);
}

/* ───────────────────────────── the public-key check ───────────────────────────── */

#define CHECKED_MAX 64

static struct {
    uint64_t handle;
    uint8_t digest[SHA256_DIGEST_LENGTH];
} checked[CHECKED_MAX];
static unsigned checked_count, checked_next;
static pthread_mutex_t checked_mu = PTHREAD_MUTEX_INITIALIZER;

static int was_checked(uint64_t handle, const uint8_t *digest) {
    unsigned i;
    int found = 0;
    pthread_mutex_lock(&checked_mu);
    for (i = 0; i < checked_count && !found; i++)
        found = checked[i].handle == handle && memcmp(checked[i].digest, digest, SHA256_DIGEST_LENGTH) == 0;
    pthread_mutex_unlock(&checked_mu);
    return found;
}

static void remember(uint64_t handle, const uint8_t *digest) {
    pthread_mutex_lock(&checked_mu);
    checked[checked_next].handle = handle;
    memcpy(checked[checked_next].digest, digest, SHA256_DIGEST_LENGTH);
    checked_next = (checked_next + 1) % CHECKED_MAX;
    if (checked_count < CHECKED_MAX) checked_count++;
    pthread_mutex_unlock(&checked_mu);
}

int osh_keyref_check_public(uint64_t handle, const uint8_t *file_spki, size_t file_len) {
    uint8_t digest[SHA256_DIGEST_LENGTH];
    uint8_t *hsm_der = NULL;
    size_t hsm_len = 0;
    const unsigned char *p;
    EVP_PKEY *a = NULL, *b = NULL;
    int same;

    SHA256(file_spki, file_len, digest);
    if (was_checked(handle, digest)) return 1;
    if (!osh_public_key_info(handle, &hsm_der, &hsm_len)) {
        OSH_ERR(OSH_R_KEYREF, "the key reference names key handle %llu, which this user cannot use",
                (unsigned long long)handle);
        return 0;
    }
    ERR_set_mark();
    p = file_spki;
    a = d2i_PUBKEY(NULL, &p, (long)file_len);
    p = hsm_der;
    b = d2i_PUBKEY(NULL, &p, (long)hsm_len);
    same = a != NULL && b != NULL && EVP_PKEY_eq(a, b) == 1;
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    OPENSSL_free(hsm_der);
    ERR_pop_to_mark();
    if (!same) {
        OSH_ERR(OSH_R_KEYREF,
                "the key reference names key handle %llu, but the public key in the file is not that key's: the file "
                "was altered or names another key (check it with azcloudhsm_util IsValidKeyHandlefile)",
                (unsigned long long)handle);
        return 0;
    }
    remember(handle, digest);
    return 1;
}
