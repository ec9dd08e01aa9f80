/*
 * stream.c: multi-part operations streamed through libazcloudhsm_pkcs11.so,
 * the daemon and the nodes (docs/pkcs11.md "Multi-part operations").
 *
 *   stream <module.so> <user:password> big <digest MiB> <cbc MiB>
 *   stream <module.so> <user:password> kill
 *
 * big: a SHA-256 digest of <digest MiB> MiB through C_DigestUpdate (parts of
 * 1 MiB, odd sizes, and 3 MiB that the module cuts into requests of hello's
 * maxData), printed as "DIGEST <hex>"; then <cbc MiB> MiB of AES-256-CBC
 * through C_EncryptUpdate, each ciphertext part straight into
 * C_DecryptUpdate, the plaintext compared with the input as it comes back,
 * and the first 64 KiB of ciphertext compared with single-part C_Encrypt;
 * then HMAC-SHA256, ECDSA-SHA256 and AES-CTR in parts against their single-part results.
 * Memory stays flat: nothing is kept beyond one 3 MiB part. The data is
 * block k of 1 MiB = pattern(j) = (j * 131) ^ (j >> 9), with the first 8
 * bytes the little-endian k (the test recomputes the digest from that).
 * Prints "RSS <phase> <kB>" of this process along the way.
 *
 * kill: a digest stream the test breaks by killing nodes. Reads commands on
 * stdin: "u" = one 1 MiB C_DigestUpdate (prints "UPDATE 0x<rv>"), "n" = a
 * new C_DigestInit + 1 MiB + C_DigestFinal of block 0 (prints "NEW 0x<rv>
 * <hex>"), "q" = quit.
 *
 * The last line of big is "N passed, N failed"; the exit status is non-zero on any failure.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cryptoki.h"

#define MIB (1024u * 1024u)

static CK_FUNCTION_LIST_PTR f;
static int passed, failed;

static void check(const char *what, CK_RV rv, CK_RV want) {
    if (rv == want) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s: rv 0x%lx, expected 0x%lx\n", what, (unsigned long)rv, (unsigned long)want);
    fflush(stdout);
}

static void truth(const char *what, int ok) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s\n", what);
    fflush(stdout);
}

static long rss_kb(void) {
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    if (fp) fclose(fp);
    return kb;
}

static void rss(const char *phase) {
    printf("RSS %s %ld\n", phase, rss_kb());
    fflush(stdout);
}

/* The data at absolute offset off: 1 MiB blocks of the pattern, each starting with its number. */
static void gen(uint64_t off, size_t len, CK_BYTE *out) {
    for (size_t i = 0; i < len; i++) {
        uint64_t a = off + i;
        uint64_t k = a / MIB;
        uint32_t j = (uint32_t)(a % MIB);
        out[i] = j < 8 ? (CK_BYTE)(k >> (8 * j)) : (CK_BYTE)((j * 131u) ^ (j >> 9));
    }
}

static void hex(const CK_BYTE *p, CK_ULONG n, char *out) {
    for (CK_ULONG i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static CK_BBOOL yes = CK_TRUE;

static CK_OBJECT_HANDLE gen_key(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, CK_ULONG len, int mac) {
    CK_MECHANISM m = {mech, NULL, 0};
    CK_ATTRIBUTE t[] = {
        {CKA_VALUE_LEN, &len, sizeof len},
        {mac ? CKA_SIGN : CKA_ENCRYPT, &yes, 1},
        {mac ? CKA_VERIFY : CKA_DECRYPT, &yes, 1},
    };
    CK_OBJECT_HANDLE h = 0;
    check("C_GenerateKey", f->C_GenerateKey(s, &m, t, 3, &h), CKR_OK);
    return h;
}

static void big_digest(CK_SESSION_HANDLE s, unsigned mib, CK_BYTE *buf) {
    CK_MECHANISM m = {CKM_SHA256, NULL, 0};
    check("C_DigestInit", f->C_DigestInit(s, &m), CKR_OK);
    unsigned k = 0;
    for (unsigned g = 0; k < mib; g++) {
        unsigned c = (g % 4 == 0 && k + 3 <= mib) ? 3 : 1;
        gen((uint64_t)k * MIB, (size_t)c * MIB, buf);
        CK_RV rv;
        if (c == 1 && g % 4 == 1) {
            /* Odd part sizes: 1 byte, 77777 bytes, the rest. */
            rv = f->C_DigestUpdate(s, buf, 1);
            if (rv == CKR_OK) rv = f->C_DigestUpdate(s, buf + 1, 77777);
            if (rv == CKR_OK) rv = f->C_DigestUpdate(s, buf + 77778, MIB - 77778);
        } else {
            rv = f->C_DigestUpdate(s, buf, (CK_ULONG)c * MIB);
        }
        if (rv != CKR_OK) {
            check("C_DigestUpdate", rv, CKR_OK);
            return;
        }
        k += c;
        if (k % 128 < c) rss("digest");
    }
    CK_BYTE d[32];
    CK_ULONG n = 0;
    check("C_DigestFinal length", f->C_DigestFinal(s, NULL, &n), CKR_OK);
    truth("SHA-256 length 32", n == 32);
    check("C_DigestFinal", f->C_DigestFinal(s, d, &n), CKR_OK);
    char h[65];
    hex(d, 32, h);
    printf("DIGEST %s\n", h);
    fflush(stdout);
}

static void big_cbc(CK_SESSION_HANDLE s, unsigned mib, CK_BYTE *buf) {
    CK_OBJECT_HANDLE k = gen_key(s, CKM_AES_KEY_GEN, 32, 0);
    CK_BYTE iv[16];
    for (int i = 0; i < 16; i++) iv[i] = (CK_BYTE)(0xa0 + i);
    CK_MECHANISM m = {CKM_AES_CBC, iv, sizeof iv};
    const uint64_t total = (uint64_t)mib * MIB;
    /* Part sizes that cross block boundaries: the ciphertext of each goes straight into the decryption. */
    static const size_t SIZES[] = {MIB, MIB - 5, MIB + 21, 4093, 2 * MIB + 7};
    CK_BYTE *ct = malloc(3 * MIB), *pt = malloc(3 * MIB), *want = malloc(3 * MIB), *prefix = malloc(65536);
    check("C_EncryptInit CBC", f->C_EncryptInit(s, &m, k), CKR_OK);
    check("C_DecryptInit CBC", f->C_DecryptInit(s, &m, k), CKR_OK);
    uint64_t in = 0, out_ct = 0, out_pt = 0;
    int mismatch = 0;
    for (unsigned i = 0; in < total; i++) {
        size_t n = SIZES[i % 5];
        if (n > total - in) n = (size_t)(total - in);
        gen(in, n, buf);
        CK_ULONG clen = 0;
        check("C_EncryptUpdate length query", f->C_EncryptUpdate(s, buf, (CK_ULONG)n, NULL, &clen), CKR_OK);
        if (clen < n || clen >= n + 16) truth("the length query is the part rounded up to whole blocks", 0);
        CK_RV rv = f->C_EncryptUpdate(s, buf, (CK_ULONG)n, ct, &clen);
        if (rv != CKR_OK) {
            check("C_EncryptUpdate", rv, CKR_OK);
            break;
        }
        if (clen % 16 != 0) truth("C_EncryptUpdate returns whole blocks", 0);
        if (out_ct < 65536) memcpy(prefix + out_ct, ct, clen < 65536 - out_ct ? clen : 65536 - out_ct);
        in += n;
        out_ct += clen;
        if (out_ct != in / 16 * 16) truth("C_EncryptUpdate returns every whole block so far", 0);
        CK_ULONG plen = 3 * MIB;
        rv = f->C_DecryptUpdate(s, ct, clen, pt, &plen);
        if (rv != CKR_OK) {
            check("C_DecryptUpdate", rv, CKR_OK);
            break;
        }
        gen(out_pt, plen, want);
        if (memcmp(pt, want, plen) != 0) mismatch++;
        out_pt += plen;
        if ((in / MIB) % 16 == 0 && n > 0) rss("cbc");
    }
    CK_ULONG last = 16;
    check("C_EncryptFinal", f->C_EncryptFinal(s, ct, &last), CKR_OK);
    truth("nothing left at C_EncryptFinal", last == 0);
    last = 16;
    check("C_DecryptFinal", f->C_DecryptFinal(s, pt, &last), CKR_OK);
    truth("nothing left at C_DecryptFinal", last == 0);
    truth("ciphertext length = plaintext length", out_ct == total);
    truth("the decrypted stream equals the input", mismatch == 0 && out_pt == total);
    /* The streamed ciphertext starts with the single-part one (CBC is a prefix code). */
    check("C_EncryptInit CBC", f->C_EncryptInit(s, &m, k), CKR_OK);
    gen(0, 65536, buf);
    CK_ULONG one = 65536;
    check("C_Encrypt 64 KiB", f->C_Encrypt(s, buf, 65536, ct, &one), CKR_OK);
    truth("streamed CBC = single-part CBC on the first 64 KiB", one == 65536 && memcmp(ct, prefix, 65536) == 0);
    printf("CBC %llu bytes encrypted and decrypted\n", (unsigned long long)out_ct);
    free(ct);
    free(pt);
    free(want);
    free(prefix);
}

static void hmac_and_ctr(CK_SESSION_HANDLE s, CK_BYTE *buf) {
    CK_OBJECT_HANDLE mk = gen_key(s, CKM_GENERIC_SECRET_KEY_GEN, 32, 1);
    CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
    gen(0, 3 * MIB + 100, buf);
    CK_BYTE one[32], multi[32];
    CK_ULONG n1 = sizeof one, n2 = sizeof multi;
    check("C_SignInit HMAC", f->C_SignInit(s, &hm, mk), CKR_OK);
    check("C_Sign HMAC 1000 bytes", f->C_Sign(s, buf, 1000, one, &n1), CKR_OK);
    check("C_SignInit HMAC", f->C_SignInit(s, &hm, mk), CKR_OK);
    check("C_SignUpdate", f->C_SignUpdate(s, buf, 7), CKR_OK);
    check("C_SignUpdate", f->C_SignUpdate(s, buf + 7, 993), CKR_OK);
    check("C_SignFinal", f->C_SignFinal(s, multi, &n2), CKR_OK);
    truth("HMAC in parts = single-part", n1 == 32 && n2 == 32 && memcmp(one, multi, 32) == 0);
    check("C_VerifyInit HMAC", f->C_VerifyInit(s, &hm, mk), CKR_OK);
    check("C_VerifyUpdate", f->C_VerifyUpdate(s, buf, 500), CKR_OK);
    check("C_VerifyUpdate", f->C_VerifyUpdate(s, buf + 500, 500), CKR_OK);
    check("C_VerifyFinal", f->C_VerifyFinal(s, one, 32), CKR_OK);
    one[0] ^= 1;
    check("C_VerifyInit HMAC", f->C_VerifyInit(s, &hm, mk), CKR_OK);
    check("C_VerifyUpdate", f->C_VerifyUpdate(s, buf, 1000), CKR_OK);
    check("C_VerifyFinal wrong MAC", f->C_VerifyFinal(s, one, 32), CKR_SIGNATURE_INVALID);
    /* 3 MiB + 100 bytes in one C_SignUpdate: more than one request's data. */
    check("C_SignInit HMAC", f->C_SignInit(s, &hm, mk), CKR_OK);
    check("C_SignUpdate 3 MiB", f->C_SignUpdate(s, buf, 3 * MIB + 100), CKR_OK);
    n2 = sizeof multi;
    check("C_SignFinal", f->C_SignFinal(s, multi, &n2), CKR_OK);
    check("C_VerifyInit HMAC", f->C_VerifyInit(s, &hm, mk), CKR_OK);
    for (CK_ULONG off = 0; off < 3 * MIB + 100; off += 999999) {
        CK_ULONG len = 3 * MIB + 100 - off < 999999 ? 3 * MIB + 100 - off : 999999;
        check("C_VerifyUpdate", f->C_VerifyUpdate(s, buf + off, len), CKR_OK);
    }
    check("C_VerifyFinal 3 MiB", f->C_VerifyFinal(s, multi, n2), CKR_OK);

    /* ECDSA with SHA-256 over 3 MiB + 100 bytes: hashed on the node as the parts come. */
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_MECHANISM kg = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof p256}, {CKA_VERIFY, &yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &yes, 1}};
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    check("C_GenerateKeyPair EC", f->C_GenerateKeyPair(s, &kg, pt, 2, kt, 1, &pub, &priv), CKR_OK);
    CK_MECHANISM em = {CKM_ECDSA_SHA256, NULL, 0};
    CK_BYTE esig[64], esig1[64];
    CK_ULONG en = sizeof esig, en1 = sizeof esig1;
    check("C_SignInit ECDSA", f->C_SignInit(s, &em, priv), CKR_OK);
    check("C_SignUpdate 1 byte", f->C_SignUpdate(s, buf, 1), CKR_OK);
    check("C_SignUpdate 3 MiB + 99", f->C_SignUpdate(s, buf + 1, 3 * MIB + 99), CKR_OK);
    check("C_SignFinal ECDSA", f->C_SignFinal(s, esig, &en), CKR_OK);
    truth("ECDSA P-256 signature 64 bytes", en == 64);
    check("C_VerifyInit ECDSA", f->C_VerifyInit(s, &em, pub), CKR_OK);
    check("C_VerifyUpdate 3 MiB + 100", f->C_VerifyUpdate(s, buf, 3 * MIB + 100), CKR_OK);
    check("C_VerifyFinal ECDSA", f->C_VerifyFinal(s, esig, en), CKR_OK);
    check("C_SignInit ECDSA", f->C_SignInit(s, &em, priv), CKR_OK);
    check("C_Sign ECDSA 1000 bytes", f->C_Sign(s, buf, 1000, esig1, &en1), CKR_OK);
    check("C_VerifyInit ECDSA", f->C_VerifyInit(s, &em, pub), CKR_OK);
    check("C_VerifyUpdate", f->C_VerifyUpdate(s, buf, 400), CKR_OK);
    check("C_VerifyUpdate", f->C_VerifyUpdate(s, buf + 400, 600), CKR_OK);
    check("C_VerifyFinal: a single-part signature verifies streamed", f->C_VerifyFinal(s, esig1, en1), CKR_OK);
    check("C_VerifyInit ECDSA", f->C_VerifyInit(s, &em, pub), CKR_OK);
    check("C_VerifyUpdate", f->C_VerifyUpdate(s, buf, 999), CKR_OK);
    check("C_VerifyFinal other data", f->C_VerifyFinal(s, esig1, en1), CKR_SIGNATURE_INVALID);

        /* CTR: a stream cipher, so a buffer of exactly the part's length is enough. */
    CK_OBJECT_HANDLE ak = gen_key(s, CKM_AES_KEY_GEN, 16, 0);
    CK_AES_CTR_PARAMS cp;
    memset(&cp, 0, sizeof cp);
    cp.ulCounterBits = 64;
    cp.cb[15] = 1;
    CK_MECHANISM cm = {CKM_AES_CTR, &cp, sizeof cp};
    CK_BYTE single[300], parts[300];
    CK_ULONG n = sizeof single;
    check("C_EncryptInit CTR", f->C_EncryptInit(s, &cm, ak), CKR_OK);
    check("C_Encrypt CTR", f->C_Encrypt(s, buf, 300, single, &n), CKR_OK);
    check("C_EncryptInit CTR", f->C_EncryptInit(s, &cm, ak), CKR_OK);
    CK_ULONG got = 0, len;
    static const CK_ULONG CTR_SIZES[] = {1, 99, 17, 183};
    for (int i = 0; i < 4; i++) {
        len = CTR_SIZES[i];
        check("C_EncryptUpdate CTR, buffer of the exact length", f->C_EncryptUpdate(s, buf + got, CTR_SIZES[i], parts + got, &len), CKR_OK);
        truth("CTR returns what it was given", len == CTR_SIZES[i]);
        got += len;
    }
    len = 0;
    check("C_EncryptFinal CTR", f->C_EncryptFinal(s, NULL, &len), CKR_OK);
    check("C_EncryptFinal CTR", f->C_EncryptFinal(s, parts + got, &len), CKR_OK);
    truth("CTR in parts = single-part", got + len == 300 && memcmp(single, parts, 300) == 0);
}

static int kill_mode(CK_SESSION_HANDLE s, CK_BYTE *buf) {
    CK_MECHANISM m = {CKM_SHA256, NULL, 0};
    gen(0, MIB, buf);
    CK_RV rv = f->C_DigestInit(s, &m);
    printf("INIT 0x%lx\n", (unsigned long)rv);
    fflush(stdout);
    char line[16];
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'u') {
            rv = f->C_DigestUpdate(s, buf, MIB);
            printf("UPDATE 0x%lx\n", (unsigned long)rv);
        } else if (line[0] == 'n') {
            CK_BYTE d[32];
            CK_ULONG n = sizeof d;
            char h[65] = "";
            rv = f->C_DigestInit(s, &m);
            if (rv == CKR_OK) rv = f->C_DigestUpdate(s, buf, MIB);
            if (rv == CKR_OK) rv = f->C_DigestFinal(s, d, &n);
            if (rv == CKR_OK) hex(d, n, h);
            printf("NEW 0x%lx %s\n", (unsigned long)rv, h);
        } else {
            break;
        }
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: stream <module.so> <user:password> big <digest MiB> <cbc MiB> | kill\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    if (!gfl || gfl(&f) != CKR_OK) return 2;
    CK_SESSION_HANDLE s = 0;
    check("C_Initialize", f->C_Initialize(NULL), CKR_OK);
    check("C_OpenSession", f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    check("C_Login", f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], (CK_ULONG)strlen(argv[2])), CKR_OK);
    CK_BYTE *buf = malloc(3 * MIB + 4096);
    rss("ready");
    printf("READY\n");
    fflush(stdout);
    if (strcmp(argv[3], "kill") == 0) {
        kill_mode(s, buf);
    } else if (strcmp(argv[3], "big") == 0 && argc >= 6) {
        big_digest(s, (unsigned)atoi(argv[4]), buf);
        rss("after-digest");
        big_cbc(s, (unsigned)atoi(argv[5]), buf);
        rss("after-cbc");
        hmac_and_ctr(s, buf);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[3]);
        return 2;
    }
    check("C_CloseSession", f->C_CloseSession(s), CKR_OK);
    check("C_Finalize", f->C_Finalize(NULL), CKR_OK);
    free(buf);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
