/**
 * azcloudhsm_mgmt_util as a real process, commands piped on stdin, against
 * real node processes: the onboarding flow of the guide (the Azure Cloud HSM guides) on an
 * unclaimed cluster, a wrong PO.crt, error cases, and the KEK trust flow
 * (setAttribute 134 1 on a CU's key, the Azure Cloud HSM guides).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as P from '../../protocol/src/pkcs11.js';
import { startCluster, connectNode, type LocalCluster } from '../../testkit/src/cluster.js';
import { run, type Run } from '../../testkit/src/tool_run.js';
import { CAUTION_BANNER } from '../src/mgmt_util/session.js';

const here = dirname(fileURLToPath(import.meta.url));
const TOOL = resolve(here, '..', 'src', 'azcloudhsm_mgmt_util.js');
const HOST = '127.0.0.1';
/* The version lines show the version of the repository's package.json (read here, not through
 * packages/ops, so a hand-written version anywhere in between fails this test). */
const PACKAGE_VERSION = (JSON.parse(readFileSync(resolve(here, '..', '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
const VERSION_RE = PACKAGE_VERSION.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let unclaimed: LocalCluster;
let claimed: LocalCluster;
const dirs: string[] = [];

/** Run the tool with `lines` piped on stdin; bounded in time. */
function runTool(cfg: string, lines: readonly string[], cwd: string): Promise<Run> {
  return run(process.execPath, [TOOL, cfg], { cwd, env: process.env, input: lines.map((l) => l + '\n').join(''), encoding: 'utf8' });
}

/** Every expected line (string: exact line; RegExp: a matching line) appears, in this order. */
function assertLinesInOrder(out: string, expected: ReadonlyArray<string | RegExp>): void {
  const lines = out.split('\n');
  let at = 0;
  for (const e of expected) {
    const i = lines.findIndex((l, k) => k >= at && (typeof e === 'string' ? l === e : e.test(l)));
    assert.ok(i >= 0, `expected line ${String(e)} after line ${at} in:\n${out}`);
    at = i + 1;
  }
}

/** Lay out an installation like /opt/azurecloudhsm: bin/azcloudhsm_resource.cfg, cert/. */
function install(root: string, port: number): string {
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'cert'), { recursive: true });
  const cfg = join(root, 'bin', 'azcloudhsm_resource.cfg');
  writeFileSync(cfg, JSON.stringify({ servers: [{ hostname: HOST, port }] }, null, 2));
  return cfg;
}

const CAUTION = [...CAUTION_BANNER, '', 'Do you want to continue(y/n)?y'];

before(async () => {
  const a = mkdtempSync(join(tmpdir(), 'ochsm-mgmt-unclaimed-'));
  const b = mkdtempSync(join(tmpdir(), 'ochsm-mgmt-claimed-'));
  dirs.push(a, b);
  [unclaimed, claimed] = await Promise.all([startCluster(a, { claim: false }), startCluster(b)]);
});

after(async () => {
  await Promise.all([unclaimed?.stop(), claimed?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the onboarding flow of the guide: getCertReq, openssl, storeCert 4 and 8, PRECO → CO, createUser', { timeout: 180_000 }, async () => {
  const root = unclaimed.dir;
  const p0 = unclaimed.nodes[0]!.port;
  const cfg = install(root, p0);
  const bin = join(root, 'bin');
  const cert = join(root, 'cert');

  /* First run: no PO.crt yet → unencrypted mode; export the partition CSR. */
  const r1 = await runTool('./azcloudhsm_resource.cfg', ['getClusterInfo', 'server 0', 'getCertReq ../cert/P1.csr', 'exit', 'quit'], bin);
  assert.equal(r1.code, 0, r1.stdout + r1.stderr);
  assertLinesInOrder(r1.stdout, [
    new RegExp(`^Liquidsec MGMT Util Version {12}: {7}${VERSION_RE}$`),
    new RegExp(`^SDK API Version {24}: {7}${VERSION_RE}$`),
    new RegExp(`^SDK Package Version {20}: {7}${VERSION_RE}$`),
    '',
    'Connecting to the server(s), it may take time',
    'depending on the server(s) load, please wait...',
    '',
    `Connecting to 'server 0': hostname '${HOST}', port ${p0}...`,
    /^Received server version : \S+, SDK version: \S+, SDK Package Version: \S+$/,
    `Connected to 'server 0': hostname '${HOST}', port ${p0}...`,
    `${join(cert, 'PO.crt')},`,
    'partition owner certificate not exist at given path',
    '',
    `Server 0(${HOST}) is in unencrypted mode now...`,
    'running in limited commands mode',
    '',
    'Connecting to servers in the cluster.',
    '',
    `Connecting to 'server 1': hostname '${HOST}', port ${unclaimed.nodes[1]!.port}...`,
    `Server 1(${HOST}) is in unencrypted mode now...`,
    `Connecting to 'server 2': hostname '${HOST}', port ${unclaimed.nodes[2]!.port}...`,
    `Server 2(${HOST}) is in unencrypted mode now...`,
    'cloudmgmt>getClusterInfo',
    `Cluster info from server 0(${HOST}):`,
    /^Node Id {9}Hostname {41}Port$/,
    ...unclaimed.nodes.map((n) => new RegExp(`^${n.id} {15}127\\.0\\.0\\.1 +${n.port}$`)),
    'cloudmgmt>server 0',
    "Server is in 'Unencrypted' mode...",
    'server0>getCertReq ../cert/P1.csr',
    'getCertReq success',
    'server0>exit',
    'cloudmgmt>quit',
  ]);
  const csrPath = join(cert, 'P1.csr');
  assert.equal(statSync(csrPath).mode & 0o777, 0o644);
  assert.match(readFileSync(csrPath, 'utf8'), /^-----BEGIN CERTIFICATE REQUEST-----/);

  /* The guide's openssl commands, in the cert directory. */
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'PO.key', '-x509', '-days', '3650', '-out', 'PO.crt', '-subj', '/CN=Test Partition Owner'], { cwd: cert, stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-days', '3650', '-req', '-in', 'P1.csr', '-CA', 'PO.crt', '-CAkey', 'PO.key', '-set_serial', '01', '-out', 'POAC.crt'], { cwd: cert, stdio: 'ignore' });

  /* Restart the tool: claim, promote the PRECO, create the CU on every node. */
  const r2 = await runTool(cfg, [
    'server 0',
    'loginHSM PRECO admin tenantadmin',
    'storeCert ../cert/PO.crt 4',
    'storeCert ../cert/POAC.crt 8',
    'loginHSM PRECO admin tenantadmin',
    'changePswd PRECO admin adminpassword',
    'y',
    'logoutHSM',
    'exit',
    'loginHSM CO admin adminpassword',
    'createUser CU cu1 user1234',
    'y',
    'listUsers',
    'quit',
  ], bin);
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.doesNotMatch(r2.stdout, /partition owner certificate not exist/);
  assert.doesNotMatch(r2.stdout, /tenantadmin|adminpassword|user1234/, 'passwords are masked in the echo');
  assertLinesInOrder(r2.stdout, [
    `Server 0(${HOST}) is in unencrypted mode now...`,
    'cloudmgmt>server 0',
    "Server is in 'Unencrypted' mode...",
    'server0>loginHSM PRECO admin ********',
    'loginHSM success',
    'server0>storeCert ../cert/PO.crt 4',
    'storeCert success',
    'server0>storeCert ../cert/POAC.crt 8',
    'storeCert success',
    'logging out',
    `E2E enabled on server 0(${HOST})`,
    `E2E enabled on server 1(${HOST})`,
    `E2E enabled on server 2(${HOST})`,
    'server0>loginHSM PRECO admin ********',
    'loginHSM success',
    'server0>changePswd PRECO admin ********',
    ...CAUTION,
    'changePswd success',
    'server0>logoutHSM',
    'logoutHSM success',
    'server0>exit',
    'cloudmgmt>loginHSM CO admin ********',
    `loginHSM success on server 0(${HOST})`,
    `loginHSM success on server 1(${HOST})`,
    `loginHSM success on server 2(${HOST})`,
    'cloudmgmt>createUser CU cu1 ********',
    ...CAUTION,
    'Creating User cu1(CU) on 3 nodes',
    `createUser success on server 0(${HOST})`,
    `createUser success on server 1(${HOST})`,
    `createUser success on server 2(${HOST})`,
    'cloudmgmt>listUsers',
    `Users on server 0(${HOST}):`,
    'Number of users found:2',
    /^\s+1\s+CO\s+admin\s/,
    /^\s+2\s+CU\s+cu1\s/,
    `Users on server 2(${HOST}):`,
    'cloudmgmt>quit',
  ]);

  /* A third start is E2E on every node, verified against PO.crt. */
  const r3 = await runTool(cfg, ['quit'], bin);
  assert.equal(r3.code, 0);
  assertLinesInOrder(r3.stdout, [0, 1, 2].flatMap((i) => [`Connected to 'server ${i}': hostname '${HOST}', port ${unclaimed.nodes[i]!.port}...`, '', `E2E enabled on server ${i}(${HOST})`]));

  /* The CU really exists, behind the PO-verified chain. */
  const c = await connectNode(unclaimed.nodes[2]!.port, readFileSync(join(cert, 'PO.crt')));
  try {
    assert.deepEqual(await c.request('login', { user: 'cu1', password: 'user1234', role: 'CU' }), { user: 'cu1', role: 'CU' });
  } finally {
    c.close();
  }
});

test('a PO.crt that does not sign the node chain: Certificate ERROR, the server is not connected', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'ochsm-mgmt-wrongpo-'));
  dirs.push(root);
  const cfg = install(root, claimed.nodes[0]!.port);
  /* azcloudhsm_mgmt_util.cfg points the tool at another cert directory. */
  mkdirSync(join(root, 'othercert'));
  writeFileSync(join(root, 'bin', 'azcloudhsm_mgmt_util.cfg'), JSON.stringify({ cert_dir: '../othercert' }));
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'PO.key', '-x509', '-days', '30', '-out', 'PO.crt', '-subj', '/CN=Someone Else'], { cwd: join(root, 'othercert'), stdio: 'ignore' });
  const r = await runTool(cfg, ['quit'], root);
  assert.equal(r.code, 1);
  assertLinesInOrder(r.stdout, [
    `Connecting to 'server 0': hostname '${HOST}', port ${claimed.nodes[0]!.port}...`,
    'Certificate ERROR: [ certificate signature failure ]',
    '',
    `Server 0(${HOST}) is not connected`,
  ]);
  assert.doesNotMatch(r.stdout, /Connected to|cloudmgmt>/);
  assert.ok(!existsSync(join(root, 'cert', 'PO.crt')));
});

test('errors: wrong password, wrong arity, unknown or unsupported command, a CU creating a user — the tool keeps going', { timeout: 120_000 }, async () => {
  const cfg = install(claimed.dir, claimed.nodes[0]!.port);
  const r = await runTool(cfg, [
    'loginHSM CO admin wrongpassword',
    'loginHSM CO admin',
    'frobnicate now',
    'getCertReq ../cert/x.csr',
    'enable_e2e',
    'loginHSM XX admin adminpassword',
    'server 7',
    'loginHSM CU cu1 user1234',
    'createUser CU cu2 user5678',
    'y',
    'findAllKeys 0 0',
    'logoutHSM',
    'listUsers',
  ], claimed.dir);
  assert.equal(r.code, 0, 'the last command succeeded');
  assertLinesInOrder(r.stdout, [
    'cloudmgmt>loginHSM CO admin ********',
    /^loginHSM failed on server 0\(127\.0\.0\.1\): HSM Error: login failed\b.*\(CKR_/,
    /^loginHSM not sent to server 1\(127\.0\.0\.1\)/,
    /^loginHSM not sent to server 2\(127\.0\.0\.1\)/,
    'cloudmgmt>loginHSM CO admin',
    'loginHSM: Invalid number of arguments',
    'Syntax: loginHSM <user type> <user name> <password | -hpswd>',
    'cloudmgmt>frobnicate now',
    "Unknown command 'frobnicate'. Type 'help' to list the commands.",
    'cloudmgmt>getCertReq ../cert/x.csr',
    "getCertReq is a server scope command: enter a server first with 'server <server id>'",
    'cloudmgmt>enable_e2e',
    'enable_e2e is not supported by OpenCloudHSM',
    'cloudmgmt>loginHSM XX admin ********',
    "loginHSM: Invalid user type 'XX': expected PRECO, CO, CU, AU",
    'cloudmgmt>server 7',
    'server: Invalid server id 7: the servers are 0 to 2',
    'cloudmgmt>loginHSM CU cu1 ********',
    `loginHSM success on server 0(${HOST})`,
    `loginHSM success on server 2(${HOST})`,
    'cloudmgmt>createUser CU cu2 ********',
    ...CAUTION,
    'Creating User cu2(CU) on 3 nodes',
    /^createUser failed on server 0\(127\.0\.0\.1\): HSM Error: creating a user is not permitted for a CU; it needs a CO \(CKR_USER_TYPE_INVALID\)$/,
    /^createUser failed on server 1\(127\.0\.0\.1\): HSM Error: /,
    /^createUser failed on server 2\(127\.0\.0\.1\): HSM Error: /,
    'cloudmgmt>findAllKeys 0 0',
    `Keys on server 0(${HOST}):`,
    'cloudmgmt>logoutHSM',
    `logoutHSM success on server 2(${HOST})`,
    'cloudmgmt>listUsers',
    /^\s+1\s+CO\s+admin\s+NO\s+1\s/, /* one refused password counts once, not once per server */
    /^\s+2\s+CU\s+cu1\s/,
  ]);
  assert.doesNotMatch(r.stdout, /^\s+\d+\s+CU\s+cu2\s/m, 'the CU could not create cu2');
  /* Exit status: 1 when the last command failed. */
  const r2 = await runTool(cfg, ['listUsers', 'frobnicate'], claimed.dir);
  assert.equal(r2.code, 1);
  const r3 = await runTool(cfg, ['frobnicate', 'quit'], claimed.dir);
  assert.equal(r3.code, 1);
});

test('setAttribute <handle> 134 1 marks a CU key trusted; other attributes are refused; findAllKeys, getKeyInfo, shareKey, sync', { timeout: 120_000 }, async () => {
  const cfg = install(claimed.dir, claimed.nodes[0]!.port);
  const cu = await connectNode(claimed.nodes[1]!.port, claimed.poCrt);
  let handle: number;
  try {
    await cu.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
    const ulong = Buffer.alloc(8);
    ulong.writeBigUInt64LE(32n);
    ({ handle } = await cu.request('generateKey', {
      mechanism: { mechanism: P.CKM_AES_KEY_GEN },
      template: [
        { type: P.CKA_TOKEN, value: Uint8Array.of(1) }, { type: P.CKA_VALUE_LEN, value: ulong },
        { type: P.CKA_LABEL, value: Buffer.from('userkek') }, { type: P.CKA_EXTRACTABLE, value: Uint8Array.of(0) },
      ],
    }));
    const before = await cu.request('getAttributeValue', { handle, types: [P.CKA_TRUSTED] });
    assert.deepEqual([...before.attributes[0]!.value], [0]);

    const r = await runTool(cfg, [
      'loginHSM CO admin adminpassword',
      'createUser CU cu2 user5678',
      'y',
      `setAttribute ${handle} 134 1`,
      'y',
      `setAttribute ${handle} 2 1`,
      `setAttribute ${handle} 134 0`,
      `setAttribute ${handle} 134`,
      `getAttribute ${handle} 134`,
      'findAllKeys 0 0',
      'findAllKeys 2 0',
      `getKeyInfo ${handle}`,
      'server 0',
      'syncUser 2 1',
      `syncKey ${handle} 2`,
      `setAttribute ${handle} 134 1`,
      'n',
      'exit',
      'verifyAuditLog',
      'getAuditLog 1 1000',
      'quit',
    ], claimed.dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const refused = `setAttribute: Attribute 2 value 1 is not supported: only 134 (OBJ_ATTR_TRUSTED) with value 1 can be set`;
    assertLinesInOrder(r.stdout, [
      `loginHSM success on server 2(${HOST})`,
      'Creating User cu2(CU) on 3 nodes',
      `createUser success on server 2(${HOST})`,
      `cloudmgmt>setAttribute ${handle} 134 1`,
      ...CAUTION,
      `setAttribute success on server 0(${HOST})`,
      `setAttribute success on server 1(${HOST})`,
      `setAttribute success on server 2(${HOST})`,
      `cloudmgmt>setAttribute ${handle} 2 1`,
      refused,
      'Syntax: setAttribute <key handle> <attribute id> <attribute value>',
      `cloudmgmt>setAttribute ${handle} 134 0`,
      'setAttribute: Attribute 134 value 0 is not supported: only 134 (OBJ_ATTR_TRUSTED) with value 1 can be set',
      `cloudmgmt>setAttribute ${handle} 134`,
      'setAttribute: Invalid number of arguments',
      `cloudmgmt>getAttribute ${handle} 134`,
      `Attribute Value on server 0(${HOST}):`,
      'OBJ_ATTR_TRUSTED',
      '0x00000001',
      `getAttribute success on server 0(${HOST})`,
      'cloudmgmt>findAllKeys 0 0',
      `Keys on server 0(${HOST}):`,
      /^Number of keys found \d+$/,
      /^number of keys matched from start index 0::\d+$/,
      new RegExp(`(^|, )${handle}(, |$)`),
      `findAllKeys success on server 0(${HOST})`,
      'cloudmgmt>findAllKeys 2 0',
      `Keys on server 0(${HOST}):`,
      new RegExp(`(^|, )${handle}\\(o\\)(, |$)`),
      `cloudmgmt>getKeyInfo ${handle}`,
      `Key Info on server 0(${HOST}):`,
      '\tToken/Flash Key,',
      '\tOwned by user 2(cu1)',
      `getKeyInfo success on server 0(${HOST})`,
      'server0>syncUser 2 1',
      `User 2(cu1) is already present on server 1(${HOST}) as user 2: the store is replicated, nothing to copy`,
      'syncUser success',
      `server0>syncKey ${handle} 2`,
      `Key ${handle} is already present on server 2(${HOST}): the store is replicated, nothing to copy`,
      'syncKey success',
      `server0>setAttribute ${handle} 134 1`,
      'Do you want to continue(y/n)?n',
      'server0>exit',
      'cloudmgmt>verifyAuditLog',
      /^Audit log on server 0\(127\.0\.0\.1\): intact, \d+ records$/,
      `verifyAuditLog success on server 0(${HOST})`,
      'cloudmgmt>getAuditLog 1 1000',
      new RegExp(`^#\\d+ \\S+ admin\\(CO\\) setAttribute ok handles=${handle} detail="CKA_TRUSTED"$`),
    ]);
    assert.equal(r.stdout.split('\n').filter((l) => l === refused).length, 1);

    const after = await cu.request('getAttributeValue', { handle, types: [P.CKA_TRUSTED] });
    assert.deepEqual([...after.attributes[0]!.value], [1], 'the key is trusted now');
    const cu2 = (await cu.request('listUsers', {})).users.find((u) => u.user === 'cu2')!;

    /* The owner shares it with cu2 (a CU command in mgmt_util). */
    const r2 = await runTool(cfg, ['loginHSM CU cu1 user1234', `shareKey ${handle} ${cu2.id} 1`, 'y', `getKeyInfo ${handle}`, 'quit'], claimed.dir);
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    assertLinesInOrder(r2.stdout, [
      ...CAUTION,
      `shareKey success on server 0(${HOST})`,
      `shareKey success on server 2(${HOST})`,
      `Key Info on server 1(${HOST}):`,
      '\tOwned by user 2(cu1)',
      '\talso, shared to following 1 user(s):',
      `\t\t ${cu2.id}(cu2)`,
    ]);
  } finally {
    cu.close();
  }
});

test('getPolicy / setPolicy DEFAULT_WRAP_WITH_TRUSTED: a CO sets the partition policy once for every server, in the audit log; a CU may not; bad names and values are refused', { timeout: 120_000 }, async () => {
  const cfg = install(claimed.dir, claimed.nodes[0]!.port);
  const r = await runTool(cfg, [
    'loginHSM CO admin adminpassword',
    'getPolicy',
    'setPolicy DEFAULT_WRAP_WITH_TRUSTED 1',
    'y',
    'getPolicy',
    'setPolicy NO_SUCH_POLICY 1',
    'setPolicy DEFAULT_WRAP_WITH_TRUSTED 2',
    'getAuditLog 1 1000',
    'setPolicy default_wrap_with_trusted 0',
    'y',
    'quit',
  ], claimed.dir);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assertLinesInOrder(r.stdout, [
    'cloudmgmt>getPolicy',
    `Partition policies on server 0(${HOST}):`,
    /^\tDEFAULT_WRAP_WITH_TRUSTED\s+0$/,
    /^\tPROFILE\s+azure$/,
    `getPolicy success on server 2(${HOST})`,
    'cloudmgmt>setPolicy DEFAULT_WRAP_WITH_TRUSTED 1',
    ...CAUTION,
    `setPolicy success on server 0(${HOST})`,
    `setPolicy success on server 1(${HOST})`,
    `setPolicy success on server 2(${HOST})`,
    'cloudmgmt>getPolicy',
    `Partition policies on server 1(${HOST}):`,
    /^\tDEFAULT_WRAP_WITH_TRUSTED\s+1$/,
    'cloudmgmt>setPolicy NO_SUCH_POLICY 1',
    "setPolicy: Invalid policy 'NO_SUCH_POLICY': expected DEFAULT_WRAP_WITH_TRUSTED",
    'Syntax: setPolicy <policy name> <0|1>',
    'cloudmgmt>setPolicy DEFAULT_WRAP_WITH_TRUSTED 2',
    "setPolicy: Invalid policy value '2': expected 0 or 1",
    'cloudmgmt>getAuditLog 1 1000',
    /^#\d+ \S+ admin\(CO\) setPolicy ok detail="DEFAULT_WRAP_WITH_TRUSTED=1"$/,
    'cloudmgmt>setPolicy default_wrap_with_trusted 0',
    `setPolicy success on server 2(${HOST})`,
  ]);
  /* One request id for all servers: the change and its audit record exist once (each server lists the same record of the shared chain). */
  const records = r.stdout.split('\n').filter((l) => /setPolicy ok detail="DEFAULT_WRAP_WITH_TRUSTED=1"/.test(l));
  assert.equal(new Set(records).size, 1, records.join('\n'));
  const cu = await runTool(cfg, ['loginHSM CU cu1 user1234', 'getPolicy', 'setPolicy DEFAULT_WRAP_WITH_TRUSTED 1', 'y', 'quit'], claimed.dir);
  assertLinesInOrder(cu.stdout, [
    /^\tDEFAULT_WRAP_WITH_TRUSTED\s+0$/,
    ...CAUTION,
    new RegExp(`^setPolicy failed on server 0\\(${HOST.replace(/\./g, '\\.')}\\): .*setPolicy is for a CO, not a CU`),
  ]);
});

test('user lifecycle and information: createUser, getUserInfo, lockout and unlockUser, deleteUser, getHSMInfo, getPartitionInfo', { timeout: 120_000 }, async () => {
  const root = claimed.dir;
  install(root, claimed.nodes[0]!.port);
  const bin = join(root, 'bin');
  const create = await runTool('./azcloudhsm_resource.cfg', ['loginHSM CO admin adminpassword', 'createUser CU cu9 user9999', 'y', 'getUserInfo cu9', 'quit'], bin);
  assert.equal(create.code, 0, create.stdout);
  assertLinesInOrder(create.stdout, [
    'cloudmgmt>createUser CU cu9 ********',
    ...CAUTION,
    'Creating User cu9(CU) on 3 nodes',
    ...[0, 1, 2].map((n) => `createUser success on server ${n}(${HOST})`),
    'cloudmgmt>getUserInfo cu9',
    `User Info on server 0(${HOST}):`,
    '\tUser Type       : CU',
    '\tUser Name       : cu9',
    '\tLocked          : NO',
    `getUserInfo success on server 0(${HOST})`,
  ]);
  /* Five wrong passwords through a node lock the account cluster-wide. */
  const c = await connectNode(claimed.nodes[1]!.port, claimed.poCrt);
  for (let i = 0; i < 5; i++) await assert.rejects(c.request('login', { user: 'cu9', password: `wrong${i}xx` }));
  c.close();
  const r = await runTool('./azcloudhsm_resource.cfg', [
    'loginHSM CO admin adminpassword', 'getUserInfo cu9', 'unlockUser CU cu9', 'y', 'getUserInfo cu9', 'getHSMInfo',
    'server 0', 'getPartitionInfo', 'exit', 'deleteUser CU cu9', 'y', 'listUsers', 'getUserInfo cu9', 'quit',
  ], bin);
  assertLinesInOrder(r.stdout, [
    'cloudmgmt>getUserInfo cu9',
    '\tLoginFailureCnt : 5',
    '\tLocked          : YES',
    'cloudmgmt>unlockUser CU cu9',
    ...CAUTION,
    ...[0, 1, 2].map((n) => `unlockUser success on server ${n}(${HOST})`),
    'cloudmgmt>getUserInfo cu9',
    '\tLoginFailureCnt : 0',
    '\tLocked          : NO',
    'cloudmgmt>getHSMInfo',
    `Getting HSM Info on server 0(${HOST}):`,
    /^\tSerial Number +: [0-9A-F]{30}$/,
    '\tMode                 : E2E',
    `getHSMInfo success on server 0(${HOST})`,
    'server0>getPartitionInfo',
    /getPartitionInfo success/,
    'cloudmgmt>deleteUser CU cu9',
    ...CAUTION,
    ...[0, 1, 2].map((n) => `deleteUser success on server ${n}(${HOST})`),
    'cloudmgmt>listUsers',
    /^Number of users found:\d+$/,
    'cloudmgmt>getUserInfo cu9',
  ]);
  const listing = r.stdout.split('cloudmgmt>listUsers')[1]!.split('cloudmgmt>getUserInfo cu9')[0]!;
  assert.match(listing, /\bcu1\b/);
  assert.doesNotMatch(listing, /\bcu9\b/, 'the deleted user is gone from every node');
  assert.doesNotMatch(r.stdout.split('cloudmgmt>getUserInfo cu9').pop()!, /getUserInfo success/);
  assert.equal(r.code, 1, 'the last command (getUserInfo of a deleted user) failed');
});

test('unlockCO: a crypto officer locked out by strangers is recovered with the partition owner key (PO.key), without a login', { timeout: 120_000 }, async () => {
  const root = claimed.dir;
  install(root, claimed.nodes[0]!.port);
  const bin = join(root, 'bin');
  const made = await runTool('./azcloudhsm_resource.cfg', ['loginHSM CO admin adminpassword', 'createUser CO co7 officer77', 'y', 'quit'], bin);
  assert.equal(made.code, 0, made.stdout);
  /* A stranger (never signed in) burns the officer's attempts on one node. */
  const anon = await connectNode(claimed.nodes[2]!.port, claimed.poCrt);
  for (let i = 0; i < 5; i++) await assert.rejects(anon.request('login', { user: 'co7', password: `guess${i}xx` }));
  await assert.rejects(anon.request('login', { user: 'co7', password: 'officer77' }), (e: unknown) =>
    e instanceof Error && /locked/.test(e.message) && /unlockCO <user> <new password> <PO.key>/.test(e.message));
  anon.close();

  /* A key that is not the owner's is refused, and nothing changes. */
  const other = join(root, 'otherpo');
  mkdirSync(other, { recursive: true });
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(other, 'PO.key')], { stdio: 'ignore' });
  const wrong = await runTool('./azcloudhsm_resource.cfg', ['unlockCO co7 officer88 ' + join(other, 'PO.key'), 'y', 'quit'], bin);
  assert.match(wrong.stdout, /not signed by the partition owner key/);
  assert.doesNotMatch(wrong.stdout, /unlockCO success/);

  const poKey = join(root, 'cert', 'PO.key');
  assert.ok(existsSync(poKey), `the test cluster's owner key is at ${poKey}`);
  const r = await runTool('./azcloudhsm_resource.cfg', [`unlockCO co7 officer88 ${poKey}`, 'y', 'loginHSM CO co7 officer88', 'listUsers', 'quit'], bin);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assertLinesInOrder(r.stdout, [
    'cloudmgmt>unlockCO co7 ******** ' + poKey,
    ...CAUTION,
    ...[0, 1, 2].map((n) => `unlockCO success on server ${n}(${HOST})`),
    'cloudmgmt>loginHSM CO co7 ********',
    ...[0, 1, 2].map((n) => `loginHSM success on server ${n}(${HOST})`),
  ]);
  /* The old password is gone; a CU is not reset this way. */
  const c = await connectNode(claimed.nodes[0]!.port, claimed.poCrt);
  await assert.rejects(c.request('login', { user: 'co7', password: 'officer77' }), /login failed/);
  const cu = await runTool('./azcloudhsm_resource.cfg', [`unlockCO cu1 whatever1 ${poKey}`, 'y', 'quit'], bin);
  assert.match(cu.stdout, /no crypto officer \(CO\) named cu1/);
  c.close();
});
