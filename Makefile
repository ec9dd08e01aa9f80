# OpenCloudHSM — the two quick-start commands are `make run` and `make test`.
# Every target installs what it needs, so each works by itself on a fresh machine.

SHELL := /bin/bash
NODE ?= node
NPM ?= npm

.PHONY: all build deps run stop test clean bench

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

build: deps
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
test: build
	$(NODE) --test --test-concurrency=2 $$(find dist -name '*.test.js' | sort)

# Sign throughput through the daemon with 1, 4 and 16 clients (not a test).
bench: build
	$(NODE) dist/tools/bench.js

clean:
	rm -rf dist
