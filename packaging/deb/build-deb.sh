#!/usr/bin/env bash
# make deb: a Debian package built with dpkg-deb from the tree that make install lays out
# (docs/operations.md). Writes dist/opencloudhsm_<version>_<arch>.deb and prints its path.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=$(node -p 'require("./package.json").version')
ARCH=$(dpkg --print-architecture)
STAGE=dist/deb/opencloudhsm_${VERSION}_${ARCH}
OUT=dist/opencloudhsm_${VERSION}_${ARCH}.deb
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
rm -rf "$STAGE"
DESTDIR="$PWD/$STAGE" NODE_BIN=/usr/bin/node bash packaging/install.sh >/dev/null
install -d -m 0755 "$STAGE/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$STAGE/DEBIAN/$s"; done
# Configuration files an operator edits survive upgrades (dpkg asks before replacing a changed one).
(cd "$STAGE" && find opt/azurecloudhsm/bin -name '*.cfg' -o -name '*.conf' | sort; find etc -type f | sort) | sed 's|^|/|' > "$STAGE/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
# The native addon in lib/node_modules is built for this Node.js major version (its ABI), hence the bounds.
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: opencloudhsm
Version: ${VERSION}
Architecture: ${ARCH}
Maintainer: OpenCloudHSM developers <opencloudhsm@localhost>
Installed-Size: ${SIZE}
Depends: nodejs (>= ${NODE_MAJOR}), nodejs (<< $((NODE_MAJOR + 1))), libc6, libssl3, openssl, adduser
Recommends: p11-kit
Suggests: opensc
Section: admin
Priority: optional
Homepage: https://localhost/opencloudhsm
Description: software Cloud HSM with the Azure Cloud HSM client layout
 OpenCloudHSM: HSM nodes (ochsm-node@.service), the client daemon
 azcloudhsm_client (azure-cloud-hsm.service), azcloudhsm_util,
 azcloudhsm_mgmt_util, the PKCS#11 module libazcloudhsm_pkcs11.so and the
 OpenSSL engine, installed under /opt/azurecloudhsm. A software HSM's
 security boundary is its host.
CONTROL
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) > "$STAGE/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$OUT" >/dev/null
echo "$OUT"
