# OpenCloudHSM — the two quick-start commands are `make run` and `make test`.
# Every target installs what it needs, so each works by itself on a fresh machine.

SHELL := /bin/bash
NODE ?= node
NPM ?= npm

.PHONY: all build deps run stop test clean native native-test bench pkcs11 bench-pkcs11

all: build

# npm packages, pinned by package-lock.json. better-sqlite3 compiles a native
# addon (node-gyp, python3, g++ — present on this machine kind).
node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

# Executables under dist/bin, the counterpart of /opt/azurecloudhsm/bin.
BINS := azcloudhsm_client:packages/daemon/src/main.js \
        azcloudhsm_mgmt_util:packages/cli/src/azcloudhsm_mgmt_util.js \
        azcloudhsm_util:packages/cli/src/azcloudhsm_util.js \
        hsm-node:packages/hsm-node/src/main.js \
        ochsm:packages/cli/src/ochsm.js

build: deps native pkcs11 crypto-addon
	$(NODE) node_modules/typescript/bin/tsc -p tsconfig.json
	@mkdir -p dist/bin
	@for b in $(BINS); do name=$${b%%:*}; target=$${b#*:}; \
	  printf '#!/bin/sh\nexec node "$$(dirname "$$0")/../%s" "$$@"\n' "$$target" > dist/bin/$$name; chmod 755 dist/bin/$$name; done

run: build
	$(NODE) dist/packages/cli/src/ochsm.js up

# ─── etcd: the multi-host topology on one machine ───
# Three etcd members (TLS, auth) on loopback, the three nodes on them, the daemon.
# `make stop` stops them too.
.PHONY: run-etcd bench-etcd
run-etcd: build
	$(NODE) dist/packages/cli/src/ochsm.js up --store etcd

# Key generations/s and sign/s on SQLite and on a three-member etcd, in one run (tools/bench_etcd.ts).
bench-etcd: build
	$(NODE) dist/tools/bench_etcd.js

stop:
	@if [ -f dist/packages/cli/src/ochsm.js ]; then $(NODE) dist/packages/cli/src/ochsm.js down; else echo "nothing built, nothing running"; fi

# Only *.test.js files are tests: node's directory discovery would also run
# every helper and child-process fixture that lives under a test/ folder.
# The node tests, then the C tests; both always run, and either failing fails `make test`.
test: build
	@rc=0; $(NODE) --test --test-concurrency=2 $$(find dist -name '*.test.js' | sort) || rc=1; \
	$(MAKE) --no-print-directory native-test || rc=1; exit $$rc

# ─── native: the shared C client (native/common), libc and pthreads only ───
# dist/native/libochsm_common.a is linked into the PKCS#11 module and the OpenSSL engine.
NATIVE_CFLAGS := -O2 -g -fPIC -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -pthread
# The opcode table and field ids in C are generated from the OPS table of
# packages/protocol/src/messages.ts (compiled on its own) into dist/native/gen.
NATIVE_GEN := dist/native/gen
NATIVE_GEN_HDRS := $(NATIVE_GEN)/ochsm_schema_gen.h $(NATIVE_GEN)/ochsm_schema_tables.inc
# The version (package.json) and the module's reconnect policy (packages/protocol/src/retry.ts), likewise.
NATIVE_SHARED_HDRS := $(NATIVE_GEN)/ochsm_shared_gen.h $(NATIVE_GEN)/ochsm_reconnect.inc
NATIVE_INC := -Inative/common/include -I$(NATIVE_GEN)
NATIVE_SRCS := $(wildcard native/common/src/*.c)
NATIVE_HDRS := $(wildcard native/common/include/*.h) $(NATIVE_GEN_HDRS) $(NATIVE_SHARED_HDRS)
NATIVE_OBJS := $(patsubst native/common/src/%.c,dist/native/obj/common/%.o,$(NATIVE_SRCS))

native: dist/native/libochsm_common.a

$(NATIVE_GEN)/protocol/messages.js: $(wildcard packages/protocol/src/*.ts) | node_modules/.installed
	$(NODE) node_modules/typescript/bin/tsc --target ES2022 --module NodeNext --moduleResolution NodeNext --lib ES2022 \
	  --types node --strict --skipLibCheck --rootDir packages/protocol/src --outDir $(NATIVE_GEN)/protocol \
	  packages/protocol/src/messages.ts packages/protocol/src/retry.ts

$(NATIVE_GEN_HDRS) &: native/common/gen/gen_schema.mjs $(NATIVE_GEN)/protocol/messages.js
	$(NODE) native/common/gen/gen_schema.mjs $(NATIVE_GEN)/protocol/messages.js $(NATIVE_GEN)
	@touch $(NATIVE_GEN_HDRS)

$(NATIVE_SHARED_HDRS) $(NATIVE_GEN)/version.txt &: native/common/gen/gen_shared.mjs package.json $(NATIVE_GEN)/protocol/messages.js
	$(NODE) native/common/gen/gen_shared.mjs package.json $(NATIVE_GEN)/protocol/retry.js $(NATIVE_GEN)
	@touch $(NATIVE_SHARED_HDRS) $(NATIVE_GEN)/version.txt

dist/native/obj/common/%.o: native/common/src/%.c $(NATIVE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(NATIVE_CFLAGS) $(NATIVE_INC) -c $< -o $@

dist/native/libochsm_common.a: $(NATIVE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# ─── the node's libcrypto addon (native/crypto-addon): raw CKM_ECDSA in libcrypto (P-256 inline, the slower curves on the thread pool) ───
# Plain N-API in C (ABI-stable, so no node-gyp download of headers): compiled against the
# node_api.h that Node.js installs and libcrypto (libssl-dev). Without the header the node
# keeps its JavaScript fallback (packages/hsm-node/src/native_crypto.ts says so in its log).
.PHONY: crypto-addon
CRYPTO_ADDON := dist/lib64/ochsm_crypto.node
NODE_INCLUDE ?= $(firstword $(wildcard /usr/include/node /usr/local/include/node))
crypto-addon: $(CRYPTO_ADDON)
$(CRYPTO_ADDON): native/crypto-addon/src/ecdsa_raw.c
	@mkdir -p $(dir $@)
	@if [ -n "$(NODE_INCLUDE)" ] && [ -f "$(NODE_INCLUDE)/node_api.h" ]; then \
	  echo "cc $@"; $(CC) -O2 -g -fPIC -shared -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -DNAPI_VERSION=8 \
	    -DNODE_GYP_MODULE_NAME=ochsm_crypto -I$(NODE_INCLUDE) -o $@ $< -lcrypto; \
	else echo "crypto-addon: node_api.h not found; raw ECDSA stays in JavaScript"; fi

# ─── native: the PKCS#11 module (native/pkcs11), counterpart of /opt/azurecloudhsm/lib64 ───
# dist/lib64/libazcloudhsm_pkcs11.so links libochsm_common.a and exports only C_*;
# dist/pkcs11_headers/include/ holds the project's own cryptoki.h, pkcs11t.h, pkcs11f.h;
# dist/share/p11-kit/modules/azcloudhsm.module registers the module with p11-kit.
# -z nodelete: the module registers fork handlers and native/common runs a reader thread, so a
# dlclose() without C_Finalize must not unmap the code under them.
P11_SRCS := $(wildcard native/pkcs11/src/*.c)
P11_HDRS := $(wildcard native/pkcs11/src/*.h) $(wildcard native/pkcs11/include/*.h)
P11_OBJS := $(patsubst native/pkcs11/src/%.c,dist/native/obj/pkcs11/%.o,$(P11_SRCS))
P11_LIB := dist/lib64/libazcloudhsm_pkcs11.so
P11_PUBLIC_HDRS := $(addprefix dist/pkcs11_headers/include/,cryptoki.h pkcs11t.h pkcs11f.h)
P11_MODULE := dist/share/p11-kit/modules/azcloudhsm.module

pkcs11: $(P11_LIB) $(P11_PUBLIC_HDRS) $(P11_MODULE)

dist/native/obj/pkcs11/%.o: native/pkcs11/src/%.c $(P11_HDRS) $(NATIVE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(NATIVE_CFLAGS) -fvisibility=hidden -Inative/pkcs11/include $(NATIVE_INC) -c $< -o $@

$(P11_LIB): $(P11_OBJS) dist/native/libochsm_common.a native/pkcs11/exports.map
	@mkdir -p $(@D)
	$(CC) -shared -pthread -Wl,-soname,libazcloudhsm_pkcs11.so -Wl,--version-script=native/pkcs11/exports.map \
	  -Wl,-z,defs -Wl,-z,now -Wl,-z,nodelete -o $@ $(P11_OBJS) dist/native/libochsm_common.a

dist/pkcs11_headers/include/%.h: native/pkcs11/include/%.h
	@mkdir -p $(@D)
	cp $< $@

$(P11_MODULE): Makefile
	@mkdir -p $(@D)
	printf '# p11-kit module file for the OpenCloudHSM PKCS#11 module (docs/pkcs11.md)\nmodule: %s\ncritical: no\n' \
	  "$(abspath $(P11_LIB))" > $@

# C unit tests, built with the library sources under AddressSanitizer and
# UndefinedBehaviorSanitizer (any report aborts the test). gen_vectors.mjs turns
# the JSON vectors and the OPS table of messages.ts (compiled on its own, so that
# the rest of the TypeScript tree need not build) into line files for them.
NATIVE_TEST_DIR := dist/native-test
NATIVE_TEST_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
                      -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -pthread
NATIVE_TESTS := test_wire test_appcfg test_client

$(NATIVE_TEST_DIR)/protocol/messages.js: $(wildcard packages/protocol/src/*.ts) | node_modules/.installed
	$(NODE) node_modules/typescript/bin/tsc --target ES2022 --module NodeNext --moduleResolution NodeNext --lib ES2022 \
	  --types node --strict --skipLibCheck --rootDir packages/protocol/src --outDir $(NATIVE_TEST_DIR)/protocol \
	  packages/protocol/src/messages.ts

$(NATIVE_TEST_DIR)/frames.txt: native/common/test/gen_vectors.mjs test-vectors/protocol/frames.json \
                               test-vectors/protocol/malformed.json test-vectors/cfg/application.json \
                               test-vectors/cfg/lookup.json \
                               $(NATIVE_TEST_DIR)/protocol/messages.js
	$(NODE) native/common/test/gen_vectors.mjs . $(NATIVE_TEST_DIR) $(NATIVE_TEST_DIR)/protocol/messages.js

$(NATIVE_TEST_DIR)/test_%: native/common/test/test_%.c native/common/test/test_util.h $(NATIVE_SRCS) $(NATIVE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(NATIVE_TEST_CFLAGS) $(NATIVE_INC) $< $(NATIVE_SRCS) -o $@

native-test: native $(NATIVE_TEST_DIR)/frames.txt $(addprefix $(NATIVE_TEST_DIR)/,$(NATIVE_TESTS))
	@rc=0; for t in $(NATIVE_TESTS); do \
	  $(NATIVE_TEST_DIR)/$$t $(NATIVE_TEST_DIR) || { echo "$$t FAILED"; rc=1; }; \
	done; exit $$rc

# ─── OpenSC p11test, a generic PKCS#11 conformance suite, run against the module ───
# Built once into dist/tools/p11test from Debian's opensc source package (`apt-get source opensc`
# needs a deb-src line for the same suite, which .ci/run adds) and libcmocka-dev.
# native/pkcs11/test/p11test.test.ts runs it; docs/pkcs11.md lists what it reports and why.
P11TEST := dist/tools/p11test
.PHONY: p11test
p11test: $(P11TEST)
$(P11TEST):
	@rm -rf dist/native/opensc-src && mkdir -p dist/native/opensc-src/include $(@D)
	cd dist/native/opensc-src && apt-get source -qq opensc >/dev/null
	@: > dist/native/opensc-src/include/config.h
	src=$$(echo dist/native/opensc-src/opensc-*/src); \
	  $(CC) -O1 -w -Idist/native/opensc-src/include -I$$src $$src/tests/p11test/*.c -lcmocka -lcrypto -ldl -o $@
test: p11test

# Sign throughput through the daemon with 1, 4 and 16 clients (not a test).
bench: build
	$(NODE) dist/tools/bench.js

# Ops/s through libazcloudhsm_pkcs11.so beside openssl speed and SoftHSM2 (docs/performance.md; not a test).
bench-pkcs11: build
	$(NODE) bench/pkcs11_speed.mjs
	$(NODE) --expose-gc bench/replica_load.mjs

# 16 threads signing through libazcloudhsm_pkcs11.so for SOAK_SECONDS (default 600), RSS of every process each minute (not a test).
.PHONY: soak
soak: build
	$(NODE) bench/soak.mjs

clean:
	rm -rf dist

# ─── native: what the OpenSSL engine and provider share (native/openssl-common) ───
# dist/native/libochsm_ossl.a: the sign-in settings, the daemon connection and its requests, the
# key-reference codec (osh.h), built once with the provider's flags (no API deprecated in 3.0) and
# linked into both modules; each module supplies the hooks osh_error and osh_client_name.
OSH_SRCS := $(wildcard native/openssl-common/src/*.c)
OSH_HDRS := $(wildcard native/openssl-common/include/*.h)
OSH_OBJS := $(patsubst native/openssl-common/src/%.c,dist/native/obj/openssl-common/%.o,$(OSH_SRCS))
OSH_LIB := dist/native/libochsm_ossl.a
OSH_INC := -Inative/openssl-common/include
OSH_CFLAGS := $(NATIVE_CFLAGS) -fvisibility=hidden -DOPENSSL_API_COMPAT=0x30000000L -DOPENSSL_NO_DEPRECATED

dist/native/obj/openssl-common/%.o: native/openssl-common/src/%.c $(OSH_HDRS) $(NATIVE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(OSH_CFLAGS) $(OSH_INC) $(NATIVE_INC) -c $< -o $@

$(OSH_LIB): $(OSH_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# ─── native: the OpenSSL engine azcloudhsm_openssl (native/openssl-engine), docs/openssl.md ───
# dist/lib64/libazcloudhsm_openssl.so links libochsm_common.a and libcrypto and exports only the
# dynamic-engine entry points; dist/lib64/engines-3/azcloudhsm_openssl.so (a symlink) is what
# ENGINE_by_id finds with OPENSSL_ENGINES=dist/lib64/engines-3; dist/bin/azcloudhsm_openssl_dynamic.conf
# is the sample configuration. -z nodelete: the engine registers fork handlers and runs the
# connection's reader thread, so it must never be unloaded while the process lives.
ENG_SRCS := $(wildcard native/openssl-engine/src/*.c)
ENG_HDRS := $(wildcard native/openssl-engine/src/*.h)
ENG_OBJS := $(patsubst native/openssl-engine/src/%.c,dist/native/obj/openssl-engine/%.o,$(ENG_SRCS))
ENG_LIB := dist/lib64/libazcloudhsm_openssl.so
ENG_LINK := dist/lib64/engines-3/azcloudhsm_openssl.so
ENG_CONF := dist/bin/azcloudhsm_openssl_dynamic.conf
ENG_CFLAGS := $(NATIVE_CFLAGS) -fvisibility=hidden -DOPENSSL_API_COMPAT=0x10100000L

.PHONY: openssl-engine
openssl-engine: $(ENG_LIB) $(ENG_LINK) $(ENG_CONF)
build: openssl-engine

dist/native/obj/openssl-engine/%.o: native/openssl-engine/src/%.c $(ENG_HDRS) $(OSH_HDRS) $(NATIVE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ENG_CFLAGS) $(OSH_INC) $(NATIVE_INC) -c $< -o $@

$(ENG_LIB): $(ENG_OBJS) $(OSH_LIB) dist/native/libochsm_common.a native/openssl-engine/exports.map
	@mkdir -p $(@D)
	$(CC) -shared -pthread -Wl,-soname,libazcloudhsm_openssl.so -Wl,--version-script=native/openssl-engine/exports.map \
	  -Wl,-z,defs -Wl,-z,now -Wl,-z,nodelete -o $@ $(ENG_OBJS) $(OSH_LIB) dist/native/libochsm_common.a -lcrypto

$(ENG_LINK): $(ENG_LIB)
	@mkdir -p $(@D)
	ln -sfn ../libazcloudhsm_openssl.so $@

$(ENG_CONF): native/openssl-engine/azcloudhsm_openssl_dynamic.conf
	@mkdir -p $(@D)
	cp $< $@

# ─── native: the OpenSSL 3 provider azcloudhsm (native/openssl-provider), docs/openssl.md ───
# dist/lib64/libazcloudhsm_provider.so links libochsm_common.a and libcrypto and exports only
# OSSL_provider_init; dist/lib64/ossl-modules/azcloudhsm.so (a symlink) is what
# `-provider azcloudhsm` finds with -provider-path or OPENSSL_MODULES=dist/lib64/ossl-modules.
# -z nodelete: as the engine, it registers fork handlers and runs the connection's reader thread.
PROV_SRCS := $(wildcard native/openssl-provider/src/*.c)
PROV_HDRS := $(wildcard native/openssl-provider/src/*.h)
PROV_OBJS := $(patsubst native/openssl-provider/src/%.c,dist/native/obj/openssl-provider/%.o,$(PROV_SRCS))
PROV_LIB := dist/lib64/libazcloudhsm_provider.so
PROV_LINK := dist/lib64/ossl-modules/azcloudhsm.so
PROV_CFLAGS := $(NATIVE_CFLAGS) -fvisibility=hidden -DOPENSSL_API_COMPAT=0x30000000L -DOPENSSL_NO_DEPRECATED

.PHONY: openssl-provider
openssl-provider: $(PROV_LIB) $(PROV_LINK)
build: openssl-provider

dist/native/obj/openssl-provider/%.o: native/openssl-provider/src/%.c $(PROV_HDRS) $(OSH_HDRS) $(NATIVE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PROV_CFLAGS) $(OSH_INC) $(NATIVE_INC) -c $< -o $@

$(PROV_LIB): $(PROV_OBJS) $(OSH_LIB) dist/native/libochsm_common.a native/openssl-provider/exports.map
	@mkdir -p $(@D)
	$(CC) -shared -pthread -Wl,-soname,libazcloudhsm_provider.so -Wl,--version-script=native/openssl-provider/exports.map \
	  -Wl,-z,defs -Wl,-z,now -Wl,-z,nodelete -o $@ $(PROV_OBJS) $(OSH_LIB) dist/native/libochsm_common.a -lcrypto

$(PROV_LINK): $(PROV_LIB)
	@mkdir -p $(@D)
	ln -sfn ../libazcloudhsm_provider.so $@

# ─── java: the JCE provider com.cavium.provider.CaviumProvider (java/), docs/jce.md ───
# Built with the JDK's own javac and jar (no Maven or Gradle). The opcode table is not written
# again in Java: ops.txt, dumped from messages.ts by gen_vectors.mjs, goes into the jar; so does
# version.txt, the version of package.json written by gen_shared.mjs (the client name the
# provider gives in hello).
# dist/jce/java.security is the snippet for static registration. Tests: java/test/jce.test.ts.
JAVAC ?= javac
JAR ?= jar
JCE_DIR := dist/jce
JCE_JAR := $(JCE_DIR)/azure-cloud-hsm-jca-17-jar-with-dependencies.jar
JCE_SRCS := $(shell find java/src -name '*.java' 2>/dev/null)

.PHONY: jce jce-skipped
jce: $(JCE_JAR) $(JCE_DIR)/java.security
# Without a JDK the build goes on without the provider (and java/test/jce.test.ts skips).
ifneq ($(shell command -v $(JAVAC) 2>/dev/null),)
build: jce
else
build: jce-skipped
jce-skipped:
	@echo "javac not found: the JCE provider is not built (Debian package openjdk-17-jdk-headless)"
endif

$(JCE_JAR): $(JCE_SRCS) $(NATIVE_TEST_DIR)/frames.txt $(NATIVE_GEN)/version.txt
	@rm -rf $(JCE_DIR)/classes && mkdir -p $(JCE_DIR)/classes/org/opencloudhsm/jce
	$(JAVAC) --release 17 -Xlint:all -Xlint:-serial -Werror -d $(JCE_DIR)/classes $(JCE_SRCS)
	cp $(NATIVE_TEST_DIR)/ops.txt $(JCE_DIR)/classes/org/opencloudhsm/jce/ops.txt
	cp $(NATIVE_GEN)/version.txt $(JCE_DIR)/classes/org/opencloudhsm/jce/version.txt
	$(JAR) --create --file $@ -C $(JCE_DIR)/classes .
	ln -sfn $(notdir $@) $(JCE_DIR)/azcloudhsm_jca-17-jar-with-dependencies.jar

$(JCE_DIR)/java.security: java/java.security
	@mkdir -p $(@D)
	cp $< $@

# ─── the installed layout and the Debian package (packaging/, docs/operations.md) ───
# make install: PREFIX (default /opt/azurecloudhsm) and DESTDIR as usual; systemd units go to
# $(DESTDIR)/usr/lib/systemd/system, the p11-kit module file to $(DESTDIR)/usr/share/p11-kit/modules.
# make deb: dist/opencloudhsm_<version>_<arch>.deb from the same tree, with dpkg-deb.
PREFIX ?= /opt/azurecloudhsm
DESTDIR ?=
.PHONY: install deb
install: build
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" bash packaging/install.sh

deb: build
	bash packaging/deb/build-deb.sh
