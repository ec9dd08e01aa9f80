#include "prov.h"
const OSSL_DISPATCH prov_rsa_cipher[] = {{0, NULL}};
const OSSL_DISPATCH prov_ecdh_exchange[] = {{0, NULL}};
const OSSL_DISPATCH prov_store[] = {{0, NULL}};
