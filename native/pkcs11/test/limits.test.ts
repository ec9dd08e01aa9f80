/**
 * The module takes the data limit of one operation from the daemon's hello (maxData, which the
 * daemon takes from the nodes' hello), not from a constant compiled into it. Three real nodes run
 * with `maxDataBytes` 4096 (the default is 1 MiB). A digest streams through the node in parts of
 * at most that (docs/pkcs11.md "Multi-part operations"), so OpenSC `pkcs11-tool --hash` digests
 * 3000 bytes, 5000 bytes and 1 MiB (each checked against node:crypto): with the compiled-in 1 MiB
 * the module would send parts the nodes refuse (CKR_DATA_LEN_RANGE).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectDaemon, startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/cli/src/cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const MODULE = join(resolve(here, '..', '..', '..', '..'), 'dist', 'lib64', 'libazcloudhsm_pkcs11.so');
const LIMIT = 4096;

let dir = '';
let lc: LocalCluster | undefined;
let daemon: DaemonHandle | undefined;

before(async () => {
  assert.ok(existsSync(MODULE), `${MODULE} is missing: run make build`);
  dir = mkdtempSync(join(tmpdir(), 'ochsm-p11-limits-'));
  lc = await startCluster(join(dir, 'cluster'), { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }], maxDataBytes: LIMIT });
  daemon = await startDaemon(lc, { sessionMode: 'HOST' });
});

after(async () => {
  await daemon?.stop().catch(() => undefined);
  await lc?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const hash = (file: string, out: string) =>
  spawnSync('pkcs11-tool', ['--module', MODULE, '--hash', '-m', 'SHA256', '--input-file', file, '--output-file', out], { cwd: daemon!.binDir, encoding: 'utf8', timeout: 60_000 });

test(`the nodes' limit (${LIMIT} bytes) reaches the module through the daemon's hello`, { timeout: 120_000 }, async () => {
  /* The daemon says what the nodes said. */
  const c = await connectDaemon(daemon!.socketPath, 'limits-test');
  const hello = await c.hello('limits-test again');
  c.close();
  assert.equal(hello.maxData, LIMIT);

  for (const size of [3000, 5000, 1 << 20]) {
    const file = join(dir, `data-${size}.bin`);
    const data = randomBytes(size);
    writeFileSync(file, data);
    const r = hash(file, `${file}.sha256`);
    assert.equal(r.status, 0, `${size} bytes: ${r.stdout}\n${r.stderr}`);
    assert.equal(readFileSync(`${file}.sha256`).toString('hex'), createHash('sha256').update(data).digest('hex'), `${size} bytes`);
  }
  console.log(`# limits: hello maxData ${hello.maxData}; 3000, 5000 and 1048576 bytes digested in parts of at most that`);
});
