#!/usr/bin/env bash
# make install: lay out the installed tree from a built checkout (docs/operations.md).
#
#   $DESTDIR$PREFIX/bin/             executables (shell wrappers) and the azcloudhsm_*.cfg files
#   $DESTDIR$PREFIX/lib/             the compiled TypeScript, package.json and the production node_modules
#   $DESTDIR$PREFIX/lib64/           libazcloudhsm_pkcs11.so, libazcloudhsm_openssl.so (+ engines-3/),
#                                    libazcloudhsm_provider.so (+ ossl-modules/azcloudhsm.so) when built
#   $DESTDIR$PREFIX/pkcs11_headers/include/   cryptoki.h, pkcs11t.h, pkcs11f.h
#   $DESTDIR$PREFIX/jce/jce-17/      the JCE provider's jar (+ the guide's second name, a symlink), when built
#   $DESTDIR$PREFIX/cert/            PO.crt and friends (empty at install)
#   $DESTDIR$P11KIT_DIR/azcloudhsm.module, $DESTDIR$UNIT_DIR/{azure-cloud-hsm,ochsm-node@}.service,
#   $DESTDIR$ETC_DIR/node{1,2,3}.json
#
# Files that exist in the build are installed; optional parts (provider, jce) are skipped when absent.
# Ownership is left to the caller (root for make install; the Debian postinst sets groups).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/opt/azurecloudhsm}
DESTDIR=${DESTDIR:-}
UNIT_DIR=${UNIT_DIR:-/usr/lib/systemd/system}
P11KIT_DIR=${P11KIT_DIR:-/usr/share/p11-kit/modules}
ETC_DIR=${ETC_DIR:-/etc/opencloudhsm}
STATE_DIR=${STATE_DIR:-/var/lib/opencloudhsm}
RUN_DIR=${RUN_DIR:-/run/azure-cloud-hsm}
NODE_BIN=${NODE_BIN:-node}
R="$DESTDIR$PREFIX"

[ -f dist/packages/daemon/src/main.js ] || { echo "install: nothing built; run make build first" >&2; exit 1; }
[ -f dist/lib64/libazcloudhsm_pkcs11.so ] || { echo "install: dist/lib64/libazcloudhsm_pkcs11.so is missing; run make build" >&2; exit 1; }

install -d -m 0755 "$R" "$R/bin" "$R/lib" "$R/lib64" "$R/pkcs11_headers/include" "$R/cert"

# ── bin/: one wrapper per executable, each running the installed JavaScript ──
BINS=(azcloudhsm_client:packages/daemon/src/main.js
      azcloudhsm_mgmt_util:packages/cli/src/azcloudhsm_mgmt_util.js
      azcloudhsm_util:packages/cli/src/azcloudhsm_util.js
      hsm-node:packages/hsm-node/src/main.js
      ochsm:packages/cli/src/ochsm.js)
for b in "${BINS[@]}"; do
  name=${b%%:*}; target=${b#*:}
  printf '#!/bin/sh\n# OpenCloudHSM %s (installed by make install; docs/operations.md)\nhere=$(dirname "$(readlink -f "$0")")\nexec %s "$here/../lib/%s" "$@"\n' "$name" "$NODE_BIN" "$target" > "$R/bin/$name"
  chmod 0755 "$R/bin/$name"
done

# The configuration files of the onboarding guide, with this layout's paths.
printf '{\n    "servers": [\n        { "hostname": "127.0.0.1", "port": 2225 }\n    ]\n}\n' > "$R/bin/azcloudhsm_resource.cfg"
printf 'DAEMON_ID=1\nSOCKET_TYPE=UNIXSOCKET\nPORT=1111\n# The daemon (azure-cloud-hsm.service) serves applications here; members of the group azcloudhsm may connect.\nSOCKET_PATH=%s/azcloudhsm_client.sock\n' "$RUN_DIR" > "$R/bin/azcloudhsm_application.cfg"
printf '{\n    "cert_dir": "%s/cert"\n}\n' "$PREFIX" > "$R/bin/azcloudhsm_client.cfg"
printf '{\n    "cert_dir": "%s/cert"\n}\n' "$PREFIX" > "$R/bin/azcloudhsm_mgmt_util.cfg"
install -m 0644 native/openssl-engine/azcloudhsm_openssl_dynamic.conf "$R/bin/azcloudhsm_openssl_dynamic.conf"
chmod 0644 "$R"/bin/*.cfg

# ── lib/: the compiled JavaScript without tests, package.json, production node_modules ──
rm -rf "$R/lib/packages" "$R/lib/node_modules"
(cd dist && find packages -path '*/test' -prune -o -type f \( -name '*.js' -o -name '*.js.map' \) -print) |
  while read -r f; do install -D -m 0644 "dist/$f" "$R/lib/$f"; done
install -m 0644 package.json "$R/lib/package.json"
# node_modules: exactly the production dependency closure npm reports, without build leftovers.
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | while read -r abs; do
  rel=${abs#"$PWD/"}
  install -d "$R/lib/$rel"
  (cd "$rel" && find . -path ./node_modules -prune -o \( -path ./build/Release/obj -o -path ./build/Release/obj.target -o -path ./build/deps -o -path ./deps -o -name '*.a' -o -name test_extension.node \) -prune -o -type f -print) |
    while read -r f; do install -D -m 0644 "$rel/$f" "$R/lib/$rel/$f"; done
done
find "$R/lib/node_modules" -name '*.node' -exec chmod 0755 {} +
# The code finds its bin/ (configuration files) beside itself, as in the build tree.
ln -sfn ../bin "$R/lib/bin"
ln -sfn ../lib64 "$R/lib/lib64"

# ── lib64/ and headers ──
install -m 0755 dist/lib64/libazcloudhsm_pkcs11.so "$R/lib64/"
if [ -f dist/lib64/libazcloudhsm_openssl.so ]; then
  install -m 0755 dist/lib64/libazcloudhsm_openssl.so "$R/lib64/"
  install -d "$R/lib64/engines-3"; ln -sfn ../libazcloudhsm_openssl.so "$R/lib64/engines-3/azcloudhsm_openssl.so"
fi
if [ -f dist/lib64/libazcloudhsm_provider.so ]; then
  install -m 0755 dist/lib64/libazcloudhsm_provider.so "$R/lib64/"
  # `-provider azcloudhsm` (and an openssl.cnf section) loads <MODULESDIR>/azcloudhsm.so.
  install -d "$R/lib64/ossl-modules"; rm -f "$R/lib64/ossl-modules/azcloudhsm_provider.so"
  ln -sfn ../libazcloudhsm_provider.so "$R/lib64/ossl-modules/azcloudhsm.so"
fi
# the node's libcrypto addon for raw ECDSA (the node falls back to JavaScript without it)
if [ -f dist/lib64/ochsm_crypto.node ]; then install -m 0755 dist/lib64/ochsm_crypto.node "$R/lib64/"; fi
for h in dist/pkcs11_headers/include/*.h; do install -m 0644 "$h" "$R/pkcs11_headers/include/"; done
# ── jce/jce-17/: the JCE provider jar, as the JCE guide lays it out (jce/jce-<java>/, the jar under
#    its usual name azure-cloud-hsm-jca-17-jar-with-dependencies.jar and, as a symlink, the
#    jarsigner example's azcloudhsm_jca-17-jar-with-dependencies.jar), and java.security ──
JCE_JAR=dist/jce/azure-cloud-hsm-jca-17-jar-with-dependencies.jar
if [ -f "$JCE_JAR" ]; then
  install -d -m 0755 "$R/jce" "$R/jce/jce-17"
  install -m 0644 "$JCE_JAR" "$R/jce/jce-17/"
  ln -sfn azure-cloud-hsm-jca-17-jar-with-dependencies.jar "$R/jce/jce-17/azcloudhsm_jca-17-jar-with-dependencies.jar"
  [ -f dist/jce/java.security ] && install -m 0644 dist/jce/java.security "$R/jce/jce-17/java.security"
fi
# ── cert/: created empty; the postinst gives it to the group azcloudhsm ──
chmod 0755 "$R/cert"

# ── outside the prefix: p11-kit, systemd, node configurations ──
install -d "$DESTDIR$P11KIT_DIR" "$DESTDIR$UNIT_DIR" "$DESTDIR$ETC_DIR"
printf '# p11-kit module file for the OpenCloudHSM PKCS#11 module (docs/pkcs11.md)\nmodule: %s/lib64/libazcloudhsm_pkcs11.so\ncritical: no\n' "$PREFIX" > "$DESTDIR$P11KIT_DIR/azcloudhsm.module"
chmod 0644 "$DESTDIR$P11KIT_DIR/azcloudhsm.module"
for u in azure-cloud-hsm.service ochsm-node@.service; do
  sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@ETC_DIR@|$ETC_DIR|g" -e "s|@STATE_DIR@|$STATE_DIR|g" packaging/systemd/$u > "$DESTDIR$UNIT_DIR/$u"
  chmod 0644 "$DESTDIR$UNIT_DIR/$u"
done
for id in 1 2 3; do
  port=$((2224 + id))
  cluster='[{ "id": 1, "hostname": "127.0.0.1", "port": 2225 }, { "id": 2, "hostname": "127.0.0.1", "port": 2226 }, { "id": 3, "hostname": "127.0.0.1", "port": 2227 }]'
  printf '{\n  "id": %d,\n  "host": "127.0.0.1",\n  "port": %d,\n  "dir": "%s",\n  "cluster": %s\n}\n' "$id" "$port" "$STATE_DIR" "$cluster" > "$DESTDIR$ETC_DIR/node$id.json"
  chmod 0644 "$DESTDIR$ETC_DIR/node$id.json"
done
# ── doc/: the operator's guide and the rest of docs/ ──
install -d -m 0755 "$R/doc"
for d in README.md docs/*.md docs/*.png; do [ -f "$d" ] && install -m 0644 "$d" "$R/doc/"; done
echo "installed OpenCloudHSM $(node -p 'require("./package.json").version') into ${DESTDIR}${PREFIX}"
