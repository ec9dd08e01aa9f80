/**
 * azcloudhsm_util: the parser and formatter as units (the key-reference layouts:
 * packages/protocol/test/keyref.test.ts);
 * then the compiled CLI as a real process against a real daemon and three
 * real node processes: the guide's two command forms, key generation, sign and
 * verify, the user KEK flow of the Azure Cloud HSM onboarding guide, key-reference PEM files
 * (the Azure Cloud HSM OpenSSL guide), Error2String, unsupported commands and bad arguments.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import { startCluster, startDaemon, connectDaemon, connectNode, type DaemonHandle, type LocalCluster } from '../../testkit/src/cluster.js';
import { run, show, type Run } from '../../testkit/src/tool_run.js';
import { maskWords, parseOpts, tokenize } from '../src/util/args.js';
import { COMMANDS, INVENTORY } from '../src/util/commands.js';
import { ConfigNotFoundError, findApplicationConfig } from '../src/util/config.js';
import { clusterStatusLines, returnedLine, rvHex } from '../src/util/format.js';
import { CURVE_IDS, curveById, signMechById } from '../src/util/ids.js';
import { ecKeyReference, markerBlock, parseSpki, readPrivateKeyFile } from '../../protocol/src/keyref.js';
import { USER_KEK_MESSAGE } from '../src/util/cmd_transfer.js';
import { UsageError } from '../src/util/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const TOOL = resolve(here, '..', 'src', 'azcloudhsm_util.js');
const SEED_LOGIN = ['loginHSM', '-u', 'CU', '-s', 'cu1', '-p', 'user1234'];
const SUCCESS = (api: string) => `\t${api} returned: 0x00 : HSM Return: SUCCESS`;

/** Run the compiled CLI; `input` lines are piped on stdin (interactive mode). Bounded in time. */
function runUtil(args: readonly string[], opts: { cwd: string; input?: readonly string[]; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return run(process.execPath, [TOOL, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, input: (opts.input ?? []).map((l) => l + '\n').join(''), encoding: 'utf8' });
}


function lines(out: string): string[] {
  return out.split('\n');
}

/** Every expected line (string: exact; RegExp: matching) appears, in this order. */
function assertLinesInOrder(out: string, expected: ReadonlyArray<string | RegExp>): void {
  const ls = lines(out);
  let at = 0;
  for (const e of expected) {
    const i = ls.findIndex((l, k) => k >= at && (typeof e === 'string' ? l === e : e.test(l)));
    assert.ok(i >= 0, `expected line ${JSON.stringify(String(e))} after line ${at} in:\n${out}`);
    at = i + 1;
  }
}

const CLUSTER_OK = ['\tCluster Status:', ...[1, 2, 3].map((n) => `\tNode id ${n} status: 0x00000000 : HSM Return: SUCCESS`)];

function symHandle(out: string): number {
  const m = /^\tSymmetric Key Created\. {2}Key Handle: (\d+)$/m.exec(out);
  assert.ok(m, `no "Symmetric Key Created.  Key Handle:" line in:\n${out}`);
  return Number(m[1]);
}

function pairHandles(out: string): { pub: number; priv: number } {
  const m = /^\tCfm3GenerateKeyPair: {4}public key handle: (\d+) {4}private key handle: (\d+)$/m.exec(out);
  assert.ok(m, `no key-pair handle line in:\n${out}`);
  return { pub: Number(m[1]), priv: Number(m[2]) };
}

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

/* ───────────────────────────── units ───────────────────────────── */

test('tokenize splits on white space and keeps quoted words together', () => {
  assert.deepEqual(tokenize('  genSymKey -t 31  -s 32 -l "my key" '), ['genSymKey', '-t', '31', '-s', '32', '-l', 'my key']);
  assert.deepEqual(tokenize("findKey -l 'a b'"), ['findKey', '-l', 'a b']);
  assert.deepEqual(tokenize(''), []);
  assert.throws(() => tokenize('findKey -l "open'), UsageError);
});

test('parseOpts takes values and flags, and refuses what the command does not take', () => {
  const spec = { '-k': 'value', '-nex': 'flag' } as const;
  const o = parseOpts(['-nex', '-k', '262150'], spec, ['-k']);
  assert.equal(o.get('-k'), '262150');
  assert.equal(o.get('-nex'), true);
  assert.throws(() => parseOpts(['-x', '1'], spec), /Invalid option -x/);
  assert.throws(() => parseOpts(['-k'], spec), /Option -k needs a value/);
  assert.throws(() => parseOpts(['-nex'], spec, ['-k']), /Missing required option -k/);
  assert.throws(() => parseOpts(['-k', '1', '-k', '2'], spec), /given twice/);
  assert.throws(() => parseOpts(['262150'], spec), /Unexpected argument/);
  assert.deepEqual(maskWords(SEED_LOGIN, ['-p']), ['loginHSM', '-u', 'CU', '-s', 'cu1', '-p', '********']);
});

test('result lines have the real tool\'s form', () => {
  assert.equal(returnedLine('Cfm3LoginHSM', 0), 'Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS');
  assert.equal(returnedLine('Cfm3LoginHSM', 0xa3), 'Cfm3LoginHSM returned: 0xA3 : HSM Error: CKR_PIN_EXPIRED');
  assert.equal(rvHex(0x104), '0x104');
  assert.deepEqual(clusterStatusLines([{ id: 2, rv: 0 }, { id: 1, rv: 0 }, { id: 3, rv: 0x30, note: 'node is down' }]), [
    'Cluster Status:',
    'Node id 1 status: 0x00000000 : HSM Return: SUCCESS',
    'Node id 2 status: 0x00000000 : HSM Return: SUCCESS',
    'Node id 3 status: 0x00000030 : HSM Error: CKR_DEVICE_ERROR (node is down)',
  ]);
});

test('the id tables: curve 2 is P-256, 28 is Ed25519, 14 is secp384r1; sign -m 1 is SHA256_RSA_PKCS', () => {
  assert.equal(curveById(2)?.curve?.name, 'P-256');
  assert.equal(curveById(28)?.curve?.name, 'Ed25519');
  assert.equal(curveById(14)?.name, 'secp384r1');
  assert.equal(curveById(12)?.name, 'sect571r1');
  assert.equal(curveById(12)?.curve, undefined);
  assert.equal(signMechById(1)?.name, 'SHA256_RSA_PKCS');
  assert.equal(signMechById(17)?.name, 'ECDSA_SHA256');
  for (const c of CURVE_IDS) if (c.curve) assert.ok(c.privLen >= 24);
});

test('the command table: the 57 commands of the inventory, each implemented one with a syntax', () => {
  assert.equal(INVENTORY.length, 57);
  assert.equal(COMMANDS.size, 57);
  const implemented = [...COMMANDS.values()].filter((c) => c.run);
  for (const c of implemented) assert.ok(c.syntax?.startsWith(c.name), `${c.name} has no syntax`);
  for (const n of ['loginHSM', 'logoutHSM', 'loginStatus', 'getHSMInfo', 'getPartitionInfo', 'listUsers', 'genRSAKeyPair', 'genECCKeyPair',
    'genSymKey', 'findKey', 'findSingleKey', 'deleteKey', 'getAttribute', 'setAttribute', 'getKeyInfo', 'listAttributes', 'listECCCurveIds',
    'sign', 'verify', 'exportPubKey', 'importPubKey', 'exportPrivateKey', 'exSymKey', 'importPrivateKey', 'imSymKey', 'wrapKey', 'unWrapKey',
    'aesWrapUnwrap', 'getCaviumPrivKey', 'IsValidKeyHandlefile', 'Error2String', 'getCert', 'help', 'exit']) {
    assert.ok(COMMANDS.get(n)?.run, `${n} is not implemented`);
  }
  assert.equal(COMMANDS.get('genDSAKeyPair')?.run, undefined);
});

test('azcloudhsm_application.cfg: working directory, then beside the executable, then the environment; the error is the one message naming every place', () => {
  const root = mkdtempSync(join(tmpdir(), 'ochsm-util-cfg-'));
  try {
    const cwd = join(root, 'cwd');
    const bin = join(root, 'bin');
    const envDir = join(root, 'env');
    for (const d of [cwd, bin, envDir]) mkdirSync(d);
    const env = { AZCLOUDHSM_APPLICATION_CFG: envDir };
    const [c, b, v] = [cwd, bin, envDir].map((d) => join(d, 'azcloudhsm_application.cfg'));
    assert.throws(() => findApplicationConfig(cwd, env, bin), (e: unknown) => {
      assert.ok(e instanceof ConfigNotFoundError);
      assert.equal(
        e.message,
        `azcloudhsm_application.cfg is not present (Cannot find file). Tried: ${c} (working directory); ${b} (executable's folder); ${v} ($AZCLOUDHSM_APPLICATION_CFG); /opt/azurecloudhsm/bin/azcloudhsm_application.cfg (the product's folder). Put it in /opt/azurecloudhsm/bin or next to the application, or set AZCLOUDHSM_APPLICATION_CFG to its path`,
      );
      return true;
    });
    assert.throws(() => findApplicationConfig(cwd, {}, bin), /\$AZCLOUDHSM_APPLICATION_CFG not set/);
    writeFileSync(join(envDir, 'azcloudhsm_application.cfg'), 'SOCKET_PATH=/run/x.sock\nUSER_KEK_HANDLE=262150\n');
    assert.equal(findApplicationConfig(cwd, env, bin).userKekHandle, 262150);
    writeFileSync(join(bin, 'azcloudhsm_application.cfg'), 'SOCKET_PATH=/run/y.sock\n');
    assert.equal(findApplicationConfig(cwd, env, bin).socketPath, '/run/y.sock');
    writeFileSync(join(cwd, 'azcloudhsm_application.cfg'), 'SOCKET_PATH=/run/z.sock\n');
    assert.equal(findApplicationConfig(cwd, env, bin).socketPath, '/run/z.sock');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/* ───────────────────────────── the CLI without a daemon ───────────────────────────── */

test('Error2String names a code and says what it means', async () => {
  const cwd = tmpdir();
  const r = await runUtil(['singlecmd', 'Error2String', '-r', '0xA3'], { cwd });
  assert.equal(r.code, 0, show(r));
  assertLinesInOrder(r.stdout, ['\tError Code 0xA3 maps to HSM Error: CKR_PIN_EXPIRED', /^\tMeaning: login failed/]);
  const d = await runUtil(['singlecmd', 'Error2String', '-r', '260'], { cwd });
  assert.equal(d.code, 0, show(d));
  assert.match(d.stdout, /Error Code 0x104 maps to HSM Error: CKR_USER_ANOTHER_ALREADY_LOGGED_IN/);
  const bad = await runUtil(['singlecmd', 'Error2String', '-r', '0x9999'], { cwd });
  assert.notEqual(bad.code, 0, show(bad));
});

test('a command of the real inventory that is not implemented fails with a clear message', async () => {
  const r = await runUtil(['singlecmd', 'genDSAKeyPair', '-m', '2048', '-l', 'x'], { cwd: tmpdir() });
  assert.equal(r.code, 1, show(r));
  assert.match(r.stdout, /genDSAKeyPair is not supported by OpenCloudHSM/);
  const i = await runUtil([], { cwd: tmpdir(), input: ['getToken'] });
  assert.equal(i.code, 1, show(i));
  assert.match(i.stdout, /getToken is not supported by OpenCloudHSM: there is no M of N/);
});

test('bad arguments print the reason and the syntax line; -h prints the syntax', async () => {
  const r = await runUtil(['singlecmd', 'genSymKey', '-t', '31', '-l', 'x'], { cwd: tmpdir() });
  assert.equal(r.code, 1, show(r));
  assertLinesInOrder(r.stdout, ['genSymKey: Missing required option -s', /^Syntax: genSymKey -t <key type> -s <key size> -l <label>/]);
  const s = await runUtil(['singlecmd', 'genSymKey', '-t', '31', '-s', '33', '-l', 'x'], { cwd: tmpdir() });
  assert.equal(s.code, 1, show(s));
  assert.match(s.stdout, /Invalid key size 33 for AES: expected 16, 24 or 32 \(bytes\)/);
  const h = await runUtil([], { cwd: tmpdir(), input: ['sign -h', 'help', 'exit'] });
  assert.equal(h.code, 0, show(h));
  assertLinesInOrder(h.stdout, ['Command:  sign -h', 'Syntax: sign -f <file to sign> -k <private key handle> -m <signing mechanism> -out <signed file>', 'Help Commands Available:', /Configuration & Admin Commands/, /^ {3}loginHSM {2,}/]);
  const u = await runUtil(['bogus'], { cwd: tmpdir() });
  assert.equal(u.code, 2, show(u));
});

/* ───────────────────────────── against a cluster ───────────────────────────── */

let root: string;
let cluster: LocalCluster;
let daemon: DaemonHandle;
let bin: string;

async function waitAllNodesUp(socketPath: string): Promise<void> {
  const c = await connectDaemon(socketPath, 'util-test');
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const st = await c.request('status', {});
      if ((st.nodes ?? []).filter((n) => n.state === 'up' && n.id > 0).length === 3) return;
      if (Date.now() > deadline) throw new Error(`the daemon does not see 3 nodes up: ${JSON.stringify(st.nodes)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    c.close();
  }
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ochsm-util-'));
  cluster = await startCluster(root, {
    users: [
      { user: 'cu1', password: 'user1234', role: 'CU' },
      { user: 'cu2', password: 'user5678', role: 'CU' },
    ],
  });
  daemon = await startDaemon(cluster);
  bin = daemon.binDir;
  await waitAllNodesUp(daemon.socketPath);
});

after(async () => {
  await daemon?.stop();
  await cluster?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** singlecmd with the guide's sign-in, from the client's bin directory. */
const single = (...cmd: string[]) => runUtil(['singlecmd', ...SEED_LOGIN, ...cmd], { cwd: bin });
const piped = (...input: string[]) => runUtil([], { cwd: bin, input });

test('interactive: the guide\'s loginHSM piped on stdin', async () => {
  const r = await piped(SEED_LOGIN.join(' '), 'loginStatus', 'exit');
  assert.equal(r.code, 0, show(r));
  assertLinesInOrder(r.stdout, [
    'Command:  loginHSM -u CU -s cu1 -p ********',
    '',
    SUCCESS('Cfm3LoginHSM'),
    '',
    ...CLUSTER_OK,
    'Command:  loginStatus',
    '\tLogin Status: logged in as user cu1 (CU)',
  ]);
  assert.ok(!r.stdout.includes('user1234'), 'the password is echoed');
});

test('singlecmd loginHSM -u CU -s cu1 -p user1234 findKey signs in, runs findKey, signs out and exits 0', async () => {
  const r = await single('findKey');
  assert.equal(r.code, 0, show(r));
  assertLinesInOrder(r.stdout, [SUCCESS('Cfm3LoginHSM'), ...CLUSTER_OK, SUCCESS('Cfm3FindKey'), /^\tTotal number of keys present: \d+$/, SUCCESS('Cfm3LogoutHSM')]);
  /* The host is signed out afterwards. */
  const c = await connectDaemon(daemon.socketPath, 'util-test');
  try {
    assert.equal((await c.request('loginStatus', {})).loggedIn, false);
  } finally {
    c.close();
  }
});

test('a wrong password exits non-zero with the 0xA3 line', async () => {
  const r = await runUtil(['singlecmd', 'loginHSM', '-u', 'CU', '-s', 'cu1', '-p', 'wrongpass', 'findKey'], { cwd: bin });
  assert.equal(r.code, 1, show(r));
  assertLinesInOrder(r.stdout, ['\tCfm3LoginHSM returned: 0xA3 : HSM Error: CKR_PIN_EXPIRED', /^\tReason: login failed/]);
  assert.ok(!r.stdout.includes('Cfm3FindKey'), 'findKey ran after a failed sign-in');
  const i = await piped('loginHSM -u CU -s cu1 -p wrongpass');
  assert.equal(i.code, 1, show(i));
  assert.match(i.stdout, /Cfm3LoginHSM returned: 0xA3/);
});

test('the daemon\'s host-wide sign-in: another user signed in elsewhere refuses this one (0x104)', async () => {
  const app: ProtocolClient = await connectDaemon(daemon.socketPath, 'other-app');
  try {
    await app.request('login', { user: 'cu2', password: 'user5678', role: 'CU' });
    const r = await single('findKey');
    assert.equal(r.code, 1, show(r));
    assert.match(r.stdout, /\tCfm3LoginHSM returned: 0x104 : HSM Error: CKR_USER_ANOTHER_ALREADY_LOGGED_IN/);
    await app.request('logout', {});
  } finally {
    app.close();
  }
});

/**
 * Several commands in one interactive run after the guide's sign-in (one sign-in
 * instead of one per command): the output block of each command, in order.
 */
async function batch(...cmds: string[]): Promise<string[]> {
  const r = await piped(SEED_LOGIN.join(' '), ...cmds, 'exit');
  const blocks = r.stdout.split(/^Command: {2}/m).slice(1);
  assert.ok(blocks[0]?.includes(SUCCESS('Cfm3LoginHSM')), show(r));
  const out = blocks.slice(1, 1 + cmds.length);
  assert.equal(out.length, cmds.length, show(r));
  out.forEach((b, i) => assert.ok(b.startsWith(cmds[i]!.trim()), `block ${i} is not "${cmds[i]}":\n${b}`));
  return out;
}

/** A block that succeeded: it has `<api> returned: 0x00` and no failure line. */
function ok(block: string, api: string): void {
  assert.ok(block.includes(SUCCESS(api)) && !/returned: 0x(?!00 )/.test(block), `expected ${api} to succeed:\n${block}`);
}

let aesHandle: number;

test('genSymKey prints "Symmetric Key Created.  Key Handle: N" and findKey shows N', async () => {
  const g = await single('genSymKey', '-t', '31', '-s', '32', '-l', 'aes256');
  assert.equal(g.code, 0, show(g));
  assertLinesInOrder(g.stdout, [SUCCESS('Cfm3GenerateSymmetricKey'), '', /^\tSymmetric Key Created\. {2}Key Handle: \d+$/, '', ...CLUSTER_OK]);
  aesHandle = symHandle(g.stdout);
  assert.ok(aesHandle >= 262144, `handle ${aesHandle}`);
  const [byLabel, all, attrs] = await batch('findKey -l aes256', 'findKey', `getAttribute -o ${aesHandle} -a 512`);
  assertLinesInOrder(byLabel!, [SUCCESS('Cfm3FindKey'), '\tnumber of keys matched from start index 0::1', `\t${aesHandle}`]);
  assert.ok(lines(all!).some((l) => l.startsWith('\t') && l.slice(1).split(', ').includes(String(aesHandle))), all);
  /* The usage attributes the real tool sets (this HSM's defaults are FALSE). */
  assertLinesInOrder(attrs!, ['\tOBJ_ATTR_TOKEN', '\t0x00000001', '\tOBJ_ATTR_LABEL', '\taes256', '\tOBJ_ATTR_ENCRYPT', '\t0x00000001', '\tOBJ_ATTR_DECRYPT', '\t0x00000001', '\tOBJ_ATTR_WRAP', '\t0x00000001', '\tOBJ_ATTR_UNWRAP', '\t0x00000001']);
});

let rsa: { pub: number; priv: number };
let ec: { pub: number; priv: number };
let ed: { pub: number; priv: number };

test('genRSAKeyPair and genECCKeyPair (-i 2 P-256, -i 28 Ed25519) print the key-pair handle lines', async () => {
  const r = await single('genRSAKeyPair', '-m', '2048', '-e', '65537', '-l', 'rsa-key-1');
  assert.equal(r.code, 0, show(r));
  assertLinesInOrder(r.stdout, [SUCCESS('Cfm3GenerateKeyPair'), /^\tCfm3GenerateKeyPair: {4}public key handle: \d+ {4}private key handle: \d+$/, ...CLUSTER_OK]);
  rsa = pairHandles(r.stdout);
  assert.equal(rsa.priv, rsa.pub + 1);
  const [e, d, bad] = await batch('genECCKeyPair -i 2 -l ecc2', 'genECCKeyPair -i 28 -l labelED25519Test', 'genECCKeyPair -i 12 -l x');
  ok(e!, 'Cfm3GenerateKeyPair');
  ec = pairHandles(e!);
  ok(d!, 'Cfm3GenerateKeyPair');
  ed = pairHandles(d!);
  assert.match(bad!, /Curve id 12 \(sect571r1\) is not supported/);
  const [t, pa] = await batch('findKey -t 64', `getAttribute -o ${rsa.priv} -a 512`);
  assertLinesInOrder(t!, [`\t${ed.pub}, ${ed.priv}`]);
  assertLinesInOrder(pa!, ['\tOBJ_ATTR_DECRYPT', '\t0x00000001', '\tOBJ_ATTR_UNWRAP', '\t0x00000001', '\tOBJ_ATTR_SIGN', '\t0x00000001']);
});

test('sign and verify round trip with files (RSA -m 1 and 6, ECDSA -m 17, Ed25519); a changed file fails 0xC0', async () => {
  const dir = mkdtempSync(join(root, 'sig-'));
  const data = join(dir, 'hash.bin');
  const other = join(dir, 'other.bin');
  writeFileSync(data, randomBytes(100));
  writeFileSync(other, randomBytes(100));
  const cases = [[rsa, '1'], [rsa, '6'], [ec, '17'], [ed, '20']] as const;
  const cmds = cases.flatMap(([k, m]) => [
    `sign -f ${data} -k ${k.priv} -m ${m} -out ${join(dir, `sign-${m}.bin`)}`,
    `verify -f ${data} -s ${join(dir, `sign-${m}.bin`)} -k ${k.pub} -m ${m}`,
  ]);
  const pubFile = join(dir, 'rsa_pub.pem');
  const out = await batch(...cmds, `exportPubKey -k ${rsa.pub} -out ${pubFile}`, `verify -f ${other} -s ${join(dir, 'sign-1.bin')} -k ${rsa.pub} -m 1`);
  for (let i = 0; i < cases.length; i++) {
    ok(out[2 * i]!, 'Cfm3Sign');
    ok(out[2 * i + 1]!, 'Cfm3Verify');
    assertLinesInOrder(out[2 * i + 1]!, [SUCCESS('Cfm3Verify'), '\tSignature verification successful']);
  }
  /* The RSA signature verifies with the exported public key in software, too. */
  ok(out[cmds.length]!, 'Cfm3ExportPubKey');
  assert.ok(verify('sha256', readFileSync(data), createPublicKey(readFileSync(pubFile)), readFileSync(join(dir, 'sign-1.bin'))));
  assert.match(out[cmds.length + 1]!, /\tCfm3Verify returned: 0xC0 : HSM Error: CKR_SIGNATURE_INVALID/);
  /* And in singlecmd form a failed verify is a non-zero exit. */
  const v = await single('verify', '-f', other, '-s', join(dir, 'sign-1.bin'), '-k', String(rsa.pub), '-m', '1');
  assert.equal(v.code, 1, show(v));
});

/** The CO marks a key trusted over its own node connection (as azcloudhsm_mgmt_util does: setAttribute <h> 134 1). */
async function coTrusts(handle: number): Promise<void> {
  const c = await connectNode(cluster.nodes[0]!.port, cluster.poCrt);
  try {
    await c.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
    await c.request('setAttributeValue', { handle, template: [{ type: 134, value: Uint8Array.of(1) }] });
  } finally {
    c.close();
  }
}

let kek: number;

test('the user KEK flow: genSymKey -nex / -wrap_with_trusted 1, trusted by a CO, USER_KEK_HANDLE honoured by import and export', async () => {
  const dir = mkdtempSync(join(root, 'kek-'));
  const swKey = join(dir, 'privateKey.pem');
  writeFileSync(swKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const aesFile = join(dir, 'aes.key');
  writeFileSync(aesFile, randomBytes(32));

  /* The guide's two KEK options, exactly as it types them. */
  const nexRun = await single('genSymKey', '-l', 'userkek', '-t', '31', '-s', '32', '-nex');
  const wwtRun = await single('genSymKey', '-l', 'userkek', '-t', '31', '-s', '32', '-wrap_with_trusted', '1');
  assert.equal(nexRun.code, 0, show(nexRun));
  assert.equal(wwtRun.code, 0, show(wwtRun));
  const nex = symHandle(nexRun.stdout);
  kek = symHandle(wwtRun.stdout);

  /* Not trusted yet: import is refused with the guide's message; without -w or USER_KEK_HANDLE the tool says how to name a KEK. */
  const [early, none] = await batch(`importPrivateKey -l importTestKey -f ${swKey} -w ${kek}`, `imSymKey -f ${aesFile} -t 31 -l x`);
  assert.ok(early!.includes(`Reason: ${USER_KEK_MESSAGE}`), early);
  assert.match(none!, /USER_KEK_HANDLE/);

  await coTrusts(nex);
  await coTrusts(kek);

  /* The non-extractable KEK is trusted but cannot serve for import (the guide's Option 2). */
  const [nexImport] = await batch(`imSymKey -f ${aesFile} -t 31 -l x -w ${nex}`);
  assert.ok(nexImport!.includes(`Reason: ${USER_KEK_MESSAGE}`), nexImport);

  appendFileSync(join(bin, 'azcloudhsm_application.cfg'), `USER_KEK_HANDLE=${kek}\n`);

  /* imSymKey and importPrivateKey under USER_KEK_HANDLE (no -w). */
  const [im, ip] = await batch(`imSymKey -f ${aesFile} -t 31 -l imported-aes`, `importPrivateKey -l importTestKey -f ${swKey}`);
  assertLinesInOrder(im!, [SUCCESS('Cfm3WrapHostKey'), SUCCESS('Cfm3CreateUnwrapTemplate2'), SUCCESS('Cfm3UnWrapKey'), /^\tSymmetric Key Unwrapped\. {2}Key Handle: \d+$/]);
  const imported = Number(/Key Handle: (\d+)/.exec(im!)![1]);
  assertLinesInOrder(ip!, [/^\tBER encoded key length is \d+$/, SUCCESS('Cfm3ImportWrapKey'), SUCCESS('Cfm3CreateUnwrapTemplate2'), SUCCESS('Cfm3ImportUnWrapKey'), /^\tPrivate Key Imported\. Key Handle: \d+$/, ...CLUSTER_OK]);
  const priv = Number(/Private Key Imported\. Key Handle: (\d+)/.exec(ip!)![1]);

  /* exSymKey and exportPrivateKey under the same KEK give back the same key; plaintext never leaves a
     non-extractable key, nor under an untrusted KEK; the imported private key signs. */
  const back = join(dir, 'aes.back');
  const backPem = join(dir, 'back.pem');
  const data = join(dir, 'data.bin');
  writeFileSync(data, 'Azure Cloud HSM Plain Text File\n');
  const sig = join(dir, 'sig.bin');
  const [ex, ep, noEx, plain, s] = await batch(
    `exSymKey -k ${imported} -out ${back}`,
    `exportPrivateKey -k ${priv} -out ${backPem}`,
    `exSymKey -k ${nex} -out ${join(dir, 'nex.bin')}`,
    'genSymKey -l plain -t 31 -s 32',
    `sign -f ${data} -k ${priv} -m 1 -out ${sig}`,
  );
  assertLinesInOrder(ex!, [SUCCESS('Cfm3ExportWrapKeyWithMech'), SUCCESS('Cfm3ExportUnwrapKeyWithMech'), `\tExported Symmetric Key written to file "${back}"`]);
  assert.deepEqual(readFileSync(back), readFileSync(aesFile));
  assert.ok(ep!.includes(`\tPEM formatted private key is written to ${backPem}`), ep);
  assert.deepEqual(
    createPrivateKey(readFileSync(backPem)).export({ format: 'der', type: 'pkcs8' }),
    createPrivateKey(readFileSync(swKey)).export({ format: 'der', type: 'pkcs8' }),
  );
  assert.match(noEx!, /0x6A : HSM Error: CKR_KEY_UNEXTRACTABLE/);
  ok(s!, 'Cfm3Sign');
  assert.ok(verify('sha256', readFileSync(data), createPublicKey(readFileSync(swKey)), readFileSync(sig)));
  const [untrusted] = await batch(`exSymKey -k ${imported} -out ${join(dir, 'x.bin')} -w ${symHandle(plain!)}`);
  assert.match(untrusted!, /is not trusted/);

  /* singlecmd form: exSymKey with USER_KEK_HANDLE exits 0. */
  const one = await single('exSymKey', '-k', String(imported), '-out', join(dir, 'again.bin'));
  assert.equal(one.code, 0, show(one));
  assert.deepEqual(readFileSync(join(dir, 'again.bin')), readFileSync(aesFile));
});

test('getCaviumPrivKey writes key-reference PEMs; IsValidKeyHandlefile accepts them and rejects a forged one', async () => {
  const dir = mkdtempSync(join(root, 'ref-'));
  const ecRef = join(dir, 'web_server_fake_PEM.key');
  const rsaRef = join(dir, 'rsa_fake_PEM.key');
  const ecPubFile = join(dir, 'ec_pub.pem');
  const rsaPubFile = join(dir, 'rsa_pub.pem');
  const g = await single('getCaviumPrivKey', '-k', String(ec.priv), '-out', ecRef);
  assert.equal(g.code, 0, show(g));
  assertLinesInOrder(g.stdout, [`Private Key Handle is written to ${ecRef} in fake PEM format`, '\tgetCaviumPrivKey returned: 0x00 : HSM Return: SUCCESS']);
  const [gr, ep, rp, pubRef] = await batch(
    `getCaviumPrivKey -k ${rsa.priv} -out ${rsaRef}`,
    `exportPubKey -k ${ec.pub} -out ${ecPubFile}`,
    `exportPubKey -k ${rsa.pub} -out ${rsaPubFile}`,
    `getCaviumPrivKey -k ${rsa.pub} -out ${join(dir, 'no.pem')}`,
  );
  ok(gr!, 'getCaviumPrivKey');
  ok(ep!, 'Cfm3ExportPubKey');
  ok(rp!, 'Cfm3ExportPubKey');
  assert.match(pubRef!, /is not a private key/);

  /* The EC layout of the openssl digest: SEC1, the marker block with the handle, the genuine public point. */
  const ecFile = readPrivateKeyFile(readFileSync(ecRef, 'utf8'));
  assert.ok(ecFile.kind === 'ec');
  const le = Buffer.alloc(8);
  le.writeBigUInt64LE(BigInt(ec.priv));
  assert.equal(ecFile.priv.toString('hex'), 'eafcfcee' + le.toString('hex') + 'eafcfcee'.repeat(5));
  assert.deepEqual(createPublicKey(readFileSync(ecRef)).export({ format: 'der', type: 'spki' }), createPublicKey(readFileSync(ecPubFile)).export({ format: 'der', type: 'spki' }));
  if (haveOpenssl) {
    const t = spawnSync('openssl', ['ec', '-in', ecRef, '-text', '-noout'], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /Private-Key: \(256 bit\)/);
    assert.match(t.stdout, /ea:fc:fc:ee/);
    assert.match(t.stdout, /NIST CURVE: P-256/);
  }

  /* The RSA layout: the real modulus and exponent, the marker block in the private exponent. */
  assert.deepEqual(createPublicKey(readFileSync(rsaRef)).export({ format: 'der', type: 'spki' }), createPublicKey(readFileSync(rsaPubFile)).export({ format: 'der', type: 'spki' }));
  const rsaFile = readPrivateKeyFile(readFileSync(rsaRef, 'utf8'));
  assert.ok(rsaFile.kind === 'rsa' && rsaFile.d.equals(markerBlock(rsa.priv, 32)));
  if (haveOpenssl) {
    const t = spawnSync('openssl', ['rsa', '-in', rsaRef, '-pubout'], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    assert.equal(t.stdout, readFileSync(rsaPubFile, 'utf8'));
  }

  /* Valid references, a forged one (the public point of one key with the handle of another), a missing handle, a real key. */
  const spki = parseSpki(createPublicKey(readFileSync(ecPubFile)).export({ format: 'der', type: 'spki' }));
  assert.ok(spki.kind === 'ec');
  const forged = join(dir, 'forged.pem');
  writeFileSync(forged, ecKeyReference(rsa.priv, Buffer.from(spki.curveOid, 'hex'), spki.point, 32));
  const missing = join(dir, 'missing.pem');
  writeFileSync(missing, ecKeyReference(9_999_999, Buffer.from(spki.curveOid, 'hex'), spki.point, 32));
  const real = join(dir, 'real.pem');
  writeFileSync(real, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'sec1' }));
  const [vEc, vRsa, vForged, vMissing, vReal] = await batch(...[ecRef, rsaRef, forged, missing, real].map((f) => `IsValidKeyHandlefile -f ${f}`));
  assert.ok(vEc!.includes(`\tInput key file has valid key handle: ${ec.priv}`), vEc);
  assert.ok(vRsa!.includes(`\tInput key file has valid key handle: ${rsa.priv}`), vRsa);
  assert.ok(vForged!.includes(`\tInput key file has invalid key handle: ${rsa.priv}`), vForged);
  assert.match(vMissing!, /invalid key handle: 9999999/);
  assert.match(vReal!, /Input key file has real private key/);
  /* Exit status: 0 for a valid reference only. */
  assert.equal((await single('IsValidKeyHandlefile', '-f', ecRef)).code, 0);
  const f = await single('IsValidKeyHandlefile', '-f', forged);
  assert.equal(f.code, 1, show(f));
});

test('key management: getKeyInfo, setAttribute, wrapKey/unWrapKey, deleteKey and findSingleKey', async () => {
  const dir = mkdtempSync(join(root, 'mgmt-'));
  const h = aesHandle;
  const wrapped = join(dir, 'w.bin');
  const [info, set, get, co, w, u, found, del, gone] = await batch(
    `getKeyInfo -k ${h}`,
    `setAttribute -o ${h} -a 3 -v renamed`,
    `getAttribute -o ${h} -a 3`,
    `setAttribute -o ${h} -a 134 -v 1`,
    `wrapKey -k ${h} -w ${kek} -out ${wrapped}`,
    `unWrapKey -f ${wrapped} -w ${kek} -l unwrapped`,
    `findSingleKey -k ${h}`,
    `deleteKey -k ${h}`,
    `findSingleKey -k ${h}`,
  );
  assertLinesInOrder(info!, [SUCCESS('Cfm3GetKeyInfo'), '\tToken/Flash Key,', /^\tOwned by user \d+\(cu1\)$/]);
  ok(set!, 'Cfm3SetAttributeValue');
  assertLinesInOrder(get!, ['\tOBJ_ATTR_LABEL', '\trenamed']);
  assert.match(co!, /0x10 : HSM Error: CKR_ATTRIBUTE_READ_ONLY/);
  assertLinesInOrder(w!, [SUCCESS('Cfm3WrapKey'), '\tKey Wrapped.', new RegExp(`^\\tWrapped Key written to file "${wrapped.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" length \\d+$`)]);
  assert.match(u!, /\tKey Unwrapped\. {2}Key Handle: \d+/);
  ok(found!, 'Cfm3FindSingleKey');
  ok(del!, 'Cfm3DeleteKey');
  assert.match(gone!, /Cfm3FindSingleKey returned: 0x82 : HSM Error: CKR_OBJECT_HANDLE_INVALID/);
});

test('session keys (-sess) live in the tool\'s session only', async () => {
  const [g, only, tokens] = await batch('genSymKey -t 31 -s 16 -l sesskey -sess', 'findKey -sess 1', 'findKey -sess 0 -l sesskey');
  const h = symHandle(g!);
  assertLinesInOrder(only!, ['\tnumber of keys matched from start index 0::1', `\t${h}`]);
  assertLinesInOrder(tokens!, ['\tnumber of keys matched from start index 0::0']);
  const [later] = await batch('findKey -l sesskey');
  assertLinesInOrder(later!, ['\tnumber of keys matched from start index 0::0']);
});

test('export policy in the core: a user a key is shared with cannot wrap it out with wrapKey, under its own KEK (the owner can)', async () => {
  const dir = mkdtempSync(join(root, 'shared-wrap-'));
  const co = await connectNode(cluster.nodes[0]!.port, cluster.poCrt);
  const owner = await connectNode(cluster.nodes[1]!.port, cluster.poCrt);
  try {
    await co.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
    await co.request('createUser', { role: 'CU', user: 'cub', password: 'userb123' });
    const [g, k] = await batch('genSymKey -t 31 -s 32 -l sharedkey', 'genSymKey -t 31 -s 32 -l ownerkek');
    const shared = symHandle(g!);
    const ownerKek = symHandle(k!);
    await owner.request('login', { user: 'cu1', password: 'user1234' });
    await owner.request('shareKey', { handle: shared, users: ['cub'], share: true });
    const asCub = (...cmds: string[]) => runUtil([], { cwd: bin, input: ['loginHSM -u CU -s cub -p userb123', ...cmds, 'exit'] });
    const made = await asCub('genSymKey -t 31 -s 32 -l cubkek');
    const cubKek = symHandle(made.stdout);
    const out = join(dir, 'stolen.bin');
    const r = await asCub(`wrapKey -k ${shared} -w ${cubKek} -m 6 -out ${out}`);
    assert.match(r.stdout, /Cfm3WrapKey returned: 0x\w+ : HSM Error: CKR_KEY_NOT_WRAPPABLE/, show(r));
    assert.match(r.stdout, /only its owner \(cu1\) may wrap or export it/, show(r));
    assert.equal(existsSync(out), false, 'nothing was written');
    const [w] = await batch(`wrapKey -k ${shared} -w ${ownerKek} -out ${join(dir, 'owner.bin')}`);
    ok(w!, 'Cfm3WrapKey');
  } finally {
    co.close();
    owner.close();
  }
});

/** A CO sets a partition policy over its own node connection (as azcloudhsm_mgmt_util setPolicy does). */
async function coSetsPolicy(name: string, value: number): Promise<void> {
  const c = await connectNode(cluster.nodes[2]!.port, cluster.poCrt);
  try {
    await c.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
    await c.request('setPolicy', { name, value });
  } finally {
    c.close();
  }
}

test('export table through azcloudhsm_util: wrapKey and exSymKey refused per row with their codes (extractable, CKA_WRAP_WITH_TRUSTED, DEFAULT_WRAP_WITH_TRUSTED, a shared user); allowed ones work', async () => {
  const dir = mkdtempSync(join(root, 'export-table-'));
  const file = (n: string) => join(dir, n);
  const [g1, g2, g3, g4, g5] = await batch(
    'genSymKey -t 31 -s 32 -l guarded -wrap_with_trusted 1',
    'genSymKey -t 31 -s 32 -l plainkek',
    'genSymKey -t 31 -s 32 -l trustedkek',
    'genSymKey -t 31 -s 32 -l fixed -nex',
    'genSymKey -t 31 -s 32 -l plain',
  );
  const [guarded, plainKek, trustedKek, fixed, plain] = [g1, g2, g3, g4, g5].map((b) => symHandle(b!));
  await coTrusts(trustedKek!);
  const refusedLine = (api: string, code: string) => new RegExp(`\\t${api} returned: 0x[0-9A-F]+ : HSM Error: ${code}`);

  /* wrap-with-trusted: the guarded key under an untrusted KEK is refused by the core; under the trusted one it wraps. */
  const [wwt, wwtOk, nex, nexEx, plainOk] = await batch(
    `wrapKey -k ${guarded} -w ${plainKek} -out ${file('guarded-untrusted.bin')}`,
    `wrapKey -k ${guarded} -w ${trustedKek} -out ${file('guarded-trusted.bin')}`,
    `wrapKey -k ${fixed} -w ${trustedKek} -out ${file('fixed.bin')}`,
    `exSymKey -k ${fixed} -w ${trustedKek} -out ${file('fixed.key')}`,
    `wrapKey -k ${plain} -w ${plainKek} -out ${file('plain-untrusted.bin')}`,
  );
  assert.match(wwt!, refusedLine('Cfm3WrapKey', 'CKR_KEY_NOT_WRAPPABLE'), wwt);
  assert.match(wwt!, new RegExp(`key ${guarded} can be wrapped only by a trusted key \\(CKA_WRAP_WITH_TRUSTED\\)`), wwt);
  assert.equal(existsSync(file('guarded-untrusted.bin')), false, 'nothing was written');
  ok(wwtOk!, 'Cfm3WrapKey');
  /* extractable: -nex keys are refused by wrapKey and by exSymKey. */
  assert.match(nex!, refusedLine('Cfm3WrapKey', 'CKR_KEY_UNEXTRACTABLE'), nex);
  assert.match(nexEx!, refusedLine('Cfm3ExportWrapKeyWithMech', 'CKR_KEY_UNEXTRACTABLE'), nexEx);
  assert.equal(existsSync(file('fixed.key')), false);
  ok(plainOk!, 'Cfm3WrapKey');

  /* default-wrap-with-trusted: with the partition policy on, the plain key (no CKA_WRAP_WITH_TRUSTED) wraps only under the trusted KEK. */
  await coSetsPolicy('DEFAULT_WRAP_WITH_TRUSTED', 1);
  try {
    const [dflt, dfltOk, exOk] = await batch(
      `wrapKey -k ${plain} -w ${plainKek} -out ${file('plain-default.bin')}`,
      `wrapKey -k ${plain} -w ${trustedKek} -out ${file('plain-trusted.bin')}`,
      `exSymKey -k ${plain} -w ${trustedKek} -out ${file('plain.key')}`,
    );
    assert.match(dflt!, refusedLine('Cfm3WrapKey', 'CKR_KEY_NOT_WRAPPABLE'), dflt);
    assert.match(dflt!, /this partition wraps keys only with trusted keys \(DEFAULT_WRAP_WITH_TRUSTED\); key \d+ is not CKA_TRUSTED/, dflt);
    assert.equal(existsSync(file('plain-default.bin')), false);
    ok(dfltOk!, 'Cfm3WrapKey');
    assert.match(exOk!, /Exported Symmetric Key written to file/, exOk);
    assert.equal(readFileSync(file('plain.key')).length, 32);
  } finally {
    await coSetsPolicy('DEFAULT_WRAP_WITH_TRUSTED', 0);
  }

  /* owner: a user the key is shared with, under a KEK of its own that a CO trusted, gets neither wrapKey nor exSymKey. */
  const co = await connectNode(cluster.nodes[0]!.port, cluster.poCrt);
  const owner = await connectNode(cluster.nodes[1]!.port, cluster.poCrt);
  try {
    await co.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
    await co.request('createUser', { role: 'CU', user: 'cuc', password: 'userc123' });
    await owner.request('login', { user: 'cu1', password: 'user1234' });
    await owner.request('shareKey', { handle: plain!, users: ['cuc'], share: true });
  } finally {
    co.close();
    owner.close();
  }
  const asCuc = (...cmds: string[]) => runUtil([], { cwd: bin, input: ['loginHSM -u CU -s cuc -p userc123', ...cmds, 'exit'] });
  const cucKek = symHandle((await asCuc('genSymKey -t 31 -s 32 -l cuckek')).stdout);
  await coTrusts(cucKek);
  const w = await asCuc(`wrapKey -k ${plain} -w ${cucKek} -out ${file('stolen.bin')}`);
  assert.match(w.stdout, refusedLine('Cfm3WrapKey', 'CKR_KEY_NOT_WRAPPABLE'), show(w));
  assert.match(w.stdout, /only its owner \(cu1\) may wrap or export it/, show(w));
  const x = await asCuc(`exSymKey -k ${plain} -w ${cucKek} -out ${file('stolen.key')}`);
  assert.match(x.stdout, /Cfm3ExportWrapKeyWithMech returned: 0x[0-9A-F]+ : HSM Error: CKR_\w+/, show(x));
  assert.match(x.stdout, new RegExp(`only the owner of key ${plain} \\(cu1\\) can export it`), show(x));
  assert.equal(existsSync(file('stolen.bin')) || existsSync(file('stolen.key')), false, 'nothing was written');
});
