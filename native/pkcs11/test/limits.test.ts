/**
 * The module takes the data limit of one operation from the daemon's hello (maxData, which the
 * daemon takes from the nodes' hello), not from a constant compiled into it. Three real nodes run
 * with `maxDataBytes` 4096 (the default is 1 MiB). A digest streams through the node in parts of
 * at most that (docs/pkcs11.md "Multi-part operations"), so OpenSC `pkcs11-tool --hash` digests
 * 3000 bytes, 5000 bytes and 1 MiB (each checked against node:crypto): with the compiled-in 1 MiB
 * the module would send parts the nodes refuse (CKR_DATA_LEN_RANGE).
 *
 * The PIN lengths of C_GetTokenInfo come the same way, from the nodes' account rules in hello
 * (maxUserName, minPassword, maxPassword; the core's rules, its one home), not from numbers
 * copied into the module.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pkcs11js from 'pkcs11js';
import { NAME_MAX, PASSWORD_MAX, PASSWORD_MIN } from '../../../packages/hsm-core/src/users/users.js';
import { connectDaemon, startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/testkit/src/cluster.js';

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
  /* The daemon's socket accepts before its first node has answered; the limits come with that answer. */
  const deadline = Date.now() + 20_000;
  for (;;) {
    const c = await connectDaemon(daemon.socketPath, 'limits-wait');
    const st = await c.request('status', {});
    c.close();
    if (st.nodes?.some((n) => n.state === 'up')) break;
    if (Date.now() > deadline) throw new Error(`no node link up in the daemon: ${JSON.stringify(st.nodes)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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

test('C_GetTokenInfo: the PIN lengths ("<user>:<password>") are the nodes\' account rules, from the daemon\'s hello', async () => {
  const c = await connectDaemon(daemon!.socketPath, 'limits-rules');
  const hello = await c.hello('limits-rules again');
  c.close();
  assert.deepEqual([hello.maxUserName, hello.minPassword, hello.maxPassword], [NAME_MAX, PASSWORD_MIN, PASSWORD_MAX], 'the daemon passes on what the nodes said');
  const saved = process.env.AZCLOUDHSM_APPLICATION_CFG;
  process.env.AZCLOUDHSM_APPLICATION_CFG = join(daemon!.binDir, 'azcloudhsm_application.cfg');
  const m = new pkcs11js.PKCS11();
  m.load(MODULE);
  m.C_Initialize();
  try {
    const token = m.C_GetTokenInfo(m.C_GetSlotList(true)[0]!);
    assert.equal(token.minPinLen, 1 + 1 + PASSWORD_MIN, 'one character of name, the colon, the shortest password');
    assert.equal(token.maxPinLen, NAME_MAX + 1 + PASSWORD_MAX);
    console.log(`# limits: token PIN lengths ${token.minPinLen}-${token.maxPinLen}`);
  } finally {
    m.C_Finalize();
    if (saved === undefined) delete process.env.AZCLOUDHSM_APPLICATION_CFG;
    else process.env.AZCLOUDHSM_APPLICATION_CFG = saved;
  }
});
