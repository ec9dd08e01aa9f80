/*
 * threads.c: one process, one HSM key, many threads signing at once through
 * the provider, then a fork whose child signs on its own connection. Every
 * signature is checked with OpenSSL's default provider alone (a library
 * context without the HSM provider). Used by openssl_provider.test.ts.
 *
 *   threads <key-reference.pem> <threads> <signatures per thread>
 *
 * Prints "threads ok <n>" and "fork ok" and exits 0, or says what failed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

static EVP_PKEY *key, *pub;
static int per_thread;

static int sign_and_verify(int tag) {
    unsigned char msg[64], sig[1024];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
    int ok;
    snprintf((char *)msg, sizeof msg, "message %d from a thread", tag);
    ok = s != NULL && v != NULL && EVP_DigestSignInit_ex(s, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
         EVP_DigestSign(s, sig, &siglen, msg, strlen((char *)msg)) == 1 &&
         EVP_DigestVerifyInit_ex(v, NULL, "SHA256", NULL, NULL, pub, NULL) == 1 &&
         EVP_DigestVerify(v, sig, siglen, msg, strlen((char *)msg)) == 1;
    EVP_MD_CTX_free(s);
    EVP_MD_CTX_free(v);
    if (!ok) ERR_print_errors_fp(stderr);
    return ok;
}

static void *worker(void *arg) {
    int id = (int)(long)arg, i, good = 0;
    for (i = 0; i < per_thread; i++) good += sign_and_verify(id * 1000 + i);
    return (void *)(long)good;
}

int main(int argc, char **argv) {
    OSSL_LIB_CTX *plain = OSSL_LIB_CTX_new();
    FILE *f;
    unsigned char *der = NULL;
    const unsigned char *p;
    int n, threads, i, total = 0, status = 0;
    pthread_t tid[64];
    pid_t child;
    if (argc != 4 || (threads = atoi(argv[2])) <= 0 || threads > 64 || (per_thread = atoi(argv[3])) <= 0) {
        fprintf(stderr, "usage: threads <key.pem> <threads 1..64> <signatures>\n");
        return 2;
    }
    if (OSSL_PROVIDER_load(NULL, "azcloudhsm") == NULL || OSSL_PROVIDER_load(NULL, "default") == NULL ||
        OSSL_PROVIDER_load(plain, "default") == NULL) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if ((f = fopen(argv[1], "r")) == NULL || (key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    fclose(f);
    n = i2d_PUBKEY(key, &der);
    p = der;
    if (n <= 0 || (pub = d2i_PUBKEY_ex(NULL, &p, n, plain, NULL)) == NULL) {
        fprintf(stderr, "no public key\n");
        return 1;
    }
    OPENSSL_free(der);
    for (i = 0; i < threads; i++) pthread_create(&tid[i], NULL, worker, (void *)(long)i);
    for (i = 0; i < threads; i++) {
        void *r;
        pthread_join(tid[i], &r);
        total += (int)(long)r;
    }
    if (total != threads * per_thread) {
        fprintf(stderr, "threads: %d of %d signatures verified\n", total, threads * per_thread);
        return 1;
    }
    printf("threads ok %d\n", total);
    fflush(stdout);
    child = fork();
    if (child == 0) _exit(sign_and_verify(-1) && sign_and_verify(-2) ? 0 : 1);
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fork: the child could not sign\n");
        return 1;
    }
    if (!sign_and_verify(-3)) return 1; /* and the parent still can */
    printf("fork ok\n");
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);
    OSSL_LIB_CTX_free(plain);
    return 0;
}
