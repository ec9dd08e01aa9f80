# OpenCloudHSM — the two quick-start commands are `make run` and `make test`.
# Every target installs what it needs, so each works by itself on a fresh machine.

SHELL := /bin/bash
NODE ?= node
NPM ?= npm

.PHONY: all build deps run stop test clean native native-test bench

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

build: deps native
	$(NODE) node_modules/typescript/bin/tsc -p tsconfig.json
	@mkdir -p dist/bin
	@for b in $(BINS); do name=$${b%%:*}; target=$${b#*:}; \
	  printf '#!/bin/sh\nexec node "$$(dirname "$$0")/../%s" "$$@"\n' "$$target" > dist/bin/$$name; chmod 755 dist/bin/$$name; done

run: build
	$(NODE) dist/packages/cli/src/ochsm.js up

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
NATIVE_INC := -Inative/common/include
NATIVE_SRCS := $(wildcard native/common/src/*.c)
NATIVE_HDRS := $(wildcard native/common/include/*.h)
NATIVE_OBJS := $(patsubst native/common/src/%.c,dist/native/obj/common/%.o,$(NATIVE_SRCS))

native: dist/native/libochsm_common.a

dist/native/obj/common/%.o: native/common/src/%.c $(NATIVE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(NATIVE_CFLAGS) $(NATIVE_INC) -c $< -o $@

dist/native/libochsm_common.a: $(NATIVE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

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
                               test-vectors/protocol/malformed.json $(NATIVE_TEST_DIR)/protocol/messages.js
	$(NODE) native/common/test/gen_vectors.mjs . $(NATIVE_TEST_DIR) $(NATIVE_TEST_DIR)/protocol/messages.js

$(NATIVE_TEST_DIR)/test_%: native/common/test/test_%.c native/common/test/test_util.h $(NATIVE_SRCS) $(NATIVE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(NATIVE_TEST_CFLAGS) $(NATIVE_INC) $< $(NATIVE_SRCS) -o $@

native-test: native $(NATIVE_TEST_DIR)/frames.txt $(addprefix $(NATIVE_TEST_DIR)/,$(NATIVE_TESTS))
	@rc=0; for t in $(NATIVE_TESTS); do \
	  $(NATIVE_TEST_DIR)/$$t $(NATIVE_TEST_DIR) || { echo "$$t FAILED"; rc=1; }; \
	done; exit $$rc

# Sign throughput through the daemon with 1, 4 and 16 clients (not a test).
bench: build
	$(NODE) dist/tools/bench.js

clean:
	rm -rf dist
