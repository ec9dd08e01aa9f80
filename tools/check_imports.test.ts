/**
 * The import check over every package: the real tree is clean, and a planted
 * tree with one violation of every rule (and allowed imports beside them) is
 * caught exactly where it was planted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkImports, NATIVE_RULES, PACKAGE_RULES } from './check-imports.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '..', '..');

test('every package of the tree imports only what its rule allows', () => {
  const v = checkImports(ROOT);
  assert.deepEqual(v, [], v.map((x) => `${x.file}:${x.line} ${x.spec} — ${x.rule}`).join('\n'));
  console.log(`checked: hsm-core, ${PACKAGE_RULES.length} package rules (${PACKAGE_RULES.map((r) => r.pkg).join(', ')}), nothing outside packages/cli importing it, ${NATIVE_RULES.length} C include rules (${NATIVE_RULES.map((r) => r.dir).join(', ')}), the JCE provider's imports over the tree: no violation`);
});

test('a planted violation of every rule is found, allowed imports are not', () => {
  const root = mkdtempSync(join(tmpdir(), 'ochsm-imports-'));
  const plant = (file: string, lines: string[]) => {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), lines.join('\n') + '\n');
  };
  try {
    writeFileSync(join(root, 'package.json'), JSON.stringify({ dependencies: { 'better-sqlite3': '1', 'prom-client': '1' } }));
    plant('packages/hsm-core/src/a.ts', ["import { readFileSync } from 'node:fs';", "import { x } from '../../protocol/src/errors.js';", "import { p256 } from '@noble/curves/nist.js';",
      "import { sha256 } from '@noble/hashes/sha2.js';"]);
    plant('packages/protocol/src/a.ts', ["import { Duplex } from 'node:stream';", "import { connect } from 'node:net';", "import type { Entry } from '../../store/src/types.js';"]);
    plant('packages/store/src/a.ts', ["import Database from 'better-sqlite3';", "import { Etcd3 } from 'etcd3';", "import { Barrier } from '../../hsm-core/src/barrier/barrier.js';", "import _ from 'lodash';",
      "import { HsmError } from '../../protocol/src/errors.js';", "import { encodeFrame } from '../../protocol/src/codec.js';"]);
    plant('packages/sdk/src/a.ts', ["import { codec } from '../../protocol/src/codec.js';", "import Database from 'better-sqlite3';", "import { Router } from '../../daemon/src/router.js';"]);
    /* An import whose names span several lines is seen where its statement starts. */
    plant('packages/sdk/src/b.ts', ['import {', '  HsmError,', "} from '../../protocol/src/errors.js';", 'import type {', '  Router,', "} from '../../daemon/src/router.js';"]);
    plant('packages/ops/src/a.ts', ["import { Counter } from 'prom-client';", "import { Partition } from '../../hsm-core/src/partition.js';"]);
    plant('packages/daemon/src/a.ts', ["import { nodeMetrics } from '../../ops/src/metrics/node.js';", "import { attr } from '../../hsm-core/src/objects/attributes.js';"]);
    plant('packages/hsm-node/src/a.ts', ["import { Partition } from '../../hsm-core/src/partition.js';", "import { startCluster } from '../../testkit/src/cluster.js';",
      'export const f = (p: Partition) => p.barrier.get(\'partition/key\');', '/* the barrier masks what p.barrier writes (a comment) */', "import { Barrier } from '../../hsm-core/src/barrier/barrier.js';"]);
    plant('packages/hsm-node/src/verify.ts', ["import { Barrier } from '../../hsm-core/src/barrier/barrier.js';"]);
    plant('packages/testkit/src/a.ts', ["import { SqliteStore } from '../../store/src/sqlite.js';", "import { main } from '../../cli/src/ochsm.js';"]);
    plant('packages/cli/src/ochsm.ts', ["import { attr } from '../../hsm-core/src/objects/attributes.js';", "import { Partition } from '../../hsm-core/src/partition.js';", "import { x } from '../../../elsewhere/x.js';",
      "import * as x509 from '@peculiar/x509';", "import { startCluster } from '../../testkit/src/cluster.js';"]);
    /* Nothing outside packages/cli imports it: tests, benchmarks and tools neither (the CLI's own tests may). */
    const CLI = 'cli';
    plant('packages/cli/test/a.test.ts', ["import { main } from '../src/ochsm.js';"]);
    plant('packages/hsm-node/test/a.test.ts', ["import { startCluster } from '../../testkit/src/cluster.js';", `import { startCluster as s } from '../../${CLI}/src/cluster.js';`]);
    plant('native/pkcs11/test/a.test.ts', ['import {', '  readPrivateKeyFile,', `} from '../../../packages/${CLI}/src/util/keyref.js';`]);
    plant('bench/a.mjs', ["const { startCluster } = await import(join(dist, 'packages', 'testkit', 'src', 'cluster.js'));", `const { main } = await import(join(dist, 'packages', '${CLI}', 'src', 'ochsm.js'));`]);
    plant('tools/a.ts', ["import { startCluster } from '../packages/testkit/src/cluster.js';", `// an old import('../packages/${CLI}/src/cluster.js') in a comment`]);
    /* The C components: libc and pthreads, the libraries their README names, their own headers and the include/ of the components they build on. */
    plant('native/common/include/ochsm_wire.h', ['#include <stdint.h>']);
    plant('native/common/src/a.c', ['#include <openssl/evp.h>', '#include "ochsm_wire.h"', '#include "ochsm_schema_gen.h"', '#include <sys/socket.h>']);
    plant('native/openssl-common/include/osh.h', ['#include <openssl/evp.h>', '#include "ochsm_wire.h"']);
    plant('native/openssl-provider/src/prov.h', ['#include <openssl/core.h>']);
    plant('native/pkcs11/include/cryptoki.h', ['#include "pkcs11t.h"']);
    plant('native/pkcs11/include/pkcs11t.h', ['#include <stddef.h>']);
    plant('native/pkcs11/src/a.c', ['#include <pthread.h>', '#include "ochsm_wire.h"', '#include "osh.h"', '#include <curl/curl.h>', '#include <zlib.h>', '#include "cryptoki.h"']);
    plant('native/pkcs11/test/sample.c', ['#include "pkcs11_headers/include/cryptoki.h"', '#include <dlfcn.h>']);
    plant('native/openssl-engine/src/a.c', ['#include <openssl/engine.h>', '#include "prov.h"', '#include "osh.h"', '#include "ochsm_shared_gen.h"']);
    plant('native/newthing/src/a.c', ['#include <stdio.h>']);
    /* The JCE provider: the JDK and itself only. */
    plant('java/src/org/opencloudhsm/jce/A.java', ['package org.opencloudhsm.jce;', 'import java.security.Key;', 'import static java.lang.Math.max;', 'import com.cavium.key.CaviumKey;',
      'import org.bouncycastle.jce.provider.BouncyCastleProvider;']);
    plant('java/samples/B.java', ['import javax.crypto.Cipher;', 'import com.google.gson.*;']);
    plant('packages/newpkg/src/a.ts', ["export const x = 1;"]);
    const got = checkImports(root).map((x) => `${x.file}:${x.line}`).sort();
    assert.deepEqual(got, [
      'packages/cli/src/ochsm.ts:1', // hsm-core
      'packages/cli/src/ochsm.ts:2', // hsm-core
      'packages/cli/src/ochsm.ts:3', // outside packages/
      'packages/cli/src/ochsm.ts:4', // an npm package (the CLIs take none)
      'packages/hsm-node/test/a.test.ts:2', // a test importing the CLI
      'native/pkcs11/test/a.test.ts:1', // the same, its names on several lines
      'bench/a.mjs:2', // a benchmark importing the CLI through a joined path
      'native/common/src/a.c:1', // OpenSSL in native/common
      'native/pkcs11/src/a.c:3', // a header of openssl-common
      'native/pkcs11/src/a.c:4', // a library that is not libc
      'native/pkcs11/src/a.c:5', // the same, without a folder
      'native/openssl-engine/src/a.c:2', // a header of the provider
      'native/newthing:0', // a C component without a rule
      'java/src/org/opencloudhsm/jce/A.java:5', // a library beyond the JDK
      'java/samples/B.java:2', // the same in a sample
      'packages/sdk/src/b.ts:4', // the daemon, in a multi-line type import
      'packages/store/src/a.ts:6', // protocol beyond its errors
      'packages/daemon/src/a.ts:2', // hsm-core
      'packages/hsm-core/src/a.ts:1', // I/O in the core
      'packages/hsm-core/src/a.ts:4', // an npm package other than @noble/curves
      'packages/hsm-node/src/a.ts:2', // a layer above
      'packages/hsm-node/src/a.ts:3', // Partition.barrier outside the core
      'packages/hsm-node/src/a.ts:5', // opens a Barrier, not the offline verifier
      'packages/newpkg:0', // no rule
      'packages/ops/src/a.ts:2', // hsm-core
      'packages/protocol/src/a.ts:2', // node:net
      'packages/protocol/src/a.ts:3', // another package
      'packages/sdk/src/a.ts:2', // an npm package
      'packages/sdk/src/a.ts:3', // the daemon
      'packages/store/src/a.ts:2', // allowed by the rule, missing from package.json
      'packages/store/src/a.ts:3', // the core
      'packages/store/src/a.ts:4', // an npm package the rule does not allow
      'packages/testkit/src/a.ts:2', // the cli: the test kit's rule
      'packages/testkit/src/a.ts:2', // the cli: and nothing outside packages/cli imports it
    ].sort());
    const why = checkImports(root).find((x) => x.file === 'packages/store/src/a.ts' && x.line === 2)!;
    assert.equal(why.rule, 'etcd3 is not a dependency in package.json');
    assert.match(checkImports(root).find((x) => x.file === 'packages/hsm-node/src/a.ts' && x.line === 3)!.rule, /Partition\.barrier/);
    assert.match(checkImports(root).find((x) => x.file === 'bench/a.mjs')!.rule, /no file outside packages\/cli imports packages\/cli/);
    console.log(`checked: ${got.length} planted violations found across ${PACKAGE_RULES.length + NATIVE_RULES.length + 5} rules (core, every package, nothing imports the CLIs, every C component, the JCE provider, a package and a component without a rule); allowed imports pass`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
