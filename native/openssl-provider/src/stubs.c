#include "prov.h"
const OSSL_DISPATCH prov_store[] = {{0, NULL}};
