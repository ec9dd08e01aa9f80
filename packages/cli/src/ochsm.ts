#!/usr/bin/env node
/**
 * @module `ochsm`: the umbrella command behind `make run` and `make stop`.
 *
 *   ochsm up      bring up the local cluster under .ochsm/ (OCHSM_HOME): three
 *                 node processes on 127.0.0.1:2225-2227 over one SQLite store,
 *                 claimed through the onboarding flow on first start, then the
 *                 client daemon; write the configuration files into dist/bin/
 *                 (the counterpart of /opt/azurecloudhsm/bin); show it working.
 *                 Running it again restarts whatever is not running.
 *   ochsm up --store etcd
 *                 the same on a local three-member etcd (TLS, authentication on); the choice is remembered.
 *   ochsm up --profile standard
 *                 a new partition with PKCS#11 v2.40 token semantics (docs/pkcs11.md "Profiles").
 *   ochsm down    stop the daemon and the nodes (SIGTERM, then SIGKILL after 10 s).
 *   ochsm status  what runs, with pids, and where it looked.
 *   ochsm status --web [--port N]
 *                 the read-only status page on 127.0.0.1 (packages/ops/src/status).
 *   ochsm verify [<dir>]
 *                 check a store and the key-use audit logs offline (packages/hsm-node/src/verify.ts);
 *                 exits 1 when anything is wrong.
 *   ochsm --help | --version
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { ProtocolClient } from '../../protocol/src/connection.js';
import { attr } from '../../protocol/src/attributes.js';
import { curveByName } from '../../protocol/src/curves.js';
import { PROFILE_NAMES, isProfileName, type ProfileName } from '../../protocol/src/profiles.js';
import { startCluster, EXAMPLE_CO, EXAMPLE_CU } from '../../testkit/src/cluster.js';
import { EtcdCluster, formatMemberStatus, type MemberSpec } from '../../testkit/src/etcd.js';
import type { StoreConfig } from '../../hsm-node/src/store_config.js';
import { answerStandardFlags } from '../../ops/src/cli_flags.js';
import { backupRewrap } from '../../hsm-node/src/backup_rewrap.js';
import { StatusCollector, auditTailReader, combinedAuditTail, pidOf, type AuditView } from '../../ops/src/status/collector.js';
import { startStatusServer } from '../../ops/src/status/server.js';
import { nodeAuditLogPath, openLocalPartition } from '../../hsm-node/src/local_partition.js';
import { verifyInstallation } from '../../hsm-node/src/verify.js';

const PROGRAM = {
  name: 'ochsm',
  usage: 'usage: ochsm up [--store sqlite|etcd] [--profile azure|standard] | down | status [--web [--port N]] | init [--profile azure|standard] <dir> | verify [<dir>] | backup-rewrap --from <old key> --to <new key> <backup> <output>',
  description: [
    'The OpenCloudHSM umbrella command: a local three-node cluster and its client daemon under',
    '$OCHSM_HOME (default ./.ochsm), on the ports in $OCHSM_PORTS (default 2225,2226,2227).',
    '  up      start (and on first start initialise and claim) the cluster and the daemon;',
    '          --profile standard on first start: a partition of the standard profile (docs/pkcs11.md "Profiles")',
    '  down    stop them',
    '  status  what runs, and where ochsm looked; with --web, serve the read-only status page on 127.0.0.1',
    '  init    create the sealing key and an empty store in <dir> for node services (docs/operations.md);',
    '          --profile standard gives the partition PKCS#11 v2.40 token semantics instead of the Azure ones (docs/pkcs11.md "Profiles")',
    '  backup-rewrap  re-encrypt a partition backup from one sealing key file to another, for restorePartition',
    '          into a cluster sealed under the new key (docs/operations.md)',
    '  verify  check the store and key-use audit logs in <dir> (default $OCHSM_HOME) offline; exit 1 on problems',
  ].join('\n'),
};

/** A step of a long command, on stderr so that stdout stays the result. */
function progress(msg: string): void {
  process.stderr.write(`ochsm: ${msg}\n`);
}

const here = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(here, '..', '..', '..');
const BIN = join(DIST, 'bin');
const ROOT = resolve(process.env.OCHSM_HOME ?? '.ochsm');
const RUN = join(ROOT, 'run');
const DAEMON_MAIN = join(DIST, 'packages', 'daemon', 'src', 'main.js');
const PORTS = (process.env.OCHSM_PORTS ?? '2225,2226,2227').split(',').map(Number);
export const SOCKET = join(RUN, 'azcloudhsm_client.sock');
const ETCD_DIR = join(ROOT, 'etcd');
const ETCD_MEMBERS: MemberSpec[] = PORTS.map((p, i) => ({ name: `etcd${i + 1}`, host: '127.0.0.1', clientPort: p + 10_000, peerPort: p + 11_000 }));

/** The configuration files the CLIs, the daemon and the native libraries read. */
function writeConfigs(): void {
  mkdirSync(BIN, { recursive: true });
  writeFileSync(join(BIN, 'azcloudhsm_resource.cfg'), JSON.stringify({ servers: [{ hostname: '127.0.0.1', port: PORTS[0] }] }, null, 4) + '\n');
  writeFileSync(join(BIN, 'azcloudhsm_application.cfg'), ['DAEMON_ID=1', 'SOCKET_TYPE=UNIXSOCKET', 'PORT=1111', `SOCKET_PATH=${SOCKET}`, ''].join('\n'));
  const certDir = join(ROOT, 'cert');
  writeFileSync(join(BIN, 'azcloudhsm_client.cfg'), JSON.stringify({ cert_dir: certDir }, null, 4) + '\n');
  writeFileSync(join(BIN, 'azcloudhsm_mgmt_util.cfg'), JSON.stringify({ cert_dir: certDir }, null, 4) + '\n');
}

async function waitForSocket(path: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(path);
      s.once('connect', () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the client daemon did not open ${path}; see ${join(RUN, 'client.log')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The local cluster's processes serve Prometheus metrics on free loopback ports, each writing
 * its address to run/<name>.metrics for `ochsm status --web`. OCHSM_METRICS=off turns them off.
 */
function metricsEnv(name: string): Record<string, string> {
  if (process.env.OCHSM_METRICS === 'off') return { OCHSM_METRICS: '' };
  rmSync(join(RUN, `${name}.metrics`), { force: true });
  return { OCHSM_METRICS: '127.0.0.1:0', OCHSM_METRICS_ADDR_FILE: join(RUN, `${name}.metrics`) };
}

async function startDaemon(): Promise<boolean> {
  if (!existsSync(DAEMON_MAIN)) return false;
  if (pidOf(join(RUN, 'client.pid'))) return true;
  const out = openSync(join(RUN, 'client.log'), 'a');
  const child = spawn(process.execPath, [DAEMON_MAIN, join(BIN, 'azcloudhsm_resource.cfg'), '--pid-file', join(RUN, 'client.pid')], { detached: true, stdio: ['ignore', out, out], env: { ...process.env, ...metricsEnv('client') } });
  child.unref();
  closeSync(out);
  await waitForSocket(SOCKET, 20_000);
  return true;
}

async function demo(): Promise<string> {
  const socket = net.connect(SOCKET);
  await new Promise((r, j) => socket.once('connect', r).once('error', j));
  const c = new ProtocolClient(socket, { name: 'azcloudhsm_client' });
  try {
    await c.hello('ochsm');
    const st = await c.request('loginStatus', {});
    if (!st.loggedIn) await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const pair = await c.request('generateKeyPair', {
      mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from(curveByName('P-256')!.oidDer, 'hex')), attr.bool(P.CKA_VERIFY, true), attr.utf8(P.CKA_LABEL, 'make-run')],
      privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true), attr.utf8(P.CKA_LABEL, 'make-run')],
    });
    const { signature } = await c.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data: Buffer.from('make run') });
    await c.request('verify', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.publicHandle, data: Buffer.from('make run'), signature });
    const keys = await c.request('findObjects', { template: [] });
    const status = await c.request('status', {});
    if (!st.loggedIn) await c.request('logout', {});
    const nodes = (status.nodes ?? []).map((n) => `node ${n.id} ${n.state}`).join(', ');
    return `  through the daemon: EC P-256 key pair ${pair.publicHandle}/${pair.privateHandle}, ECDSA-SHA256 signature verified; ${EXAMPLE_CU.user} sees ${keys.handles.length} objects\n  daemon: ${nodes}`;
  } finally {
    c.close();
  }
}

/** Start the etcd members that are not running; the store configuration of each node (its own member first). */
async function upEtcd(): Promise<(id: number) => StoreConfig> {
  const running = ETCD_MEMBERS.filter((m) => pidOf(join(ETCD_DIR, `${m.name}.pid`))).map((m) => m.name);
  const etcd = await EtcdCluster.start({ dir: ETCD_DIR, members: ETCD_MEMBERS, detached: true, skip: running });
  if (running.length < ETCD_MEMBERS.length) console.log(`started etcd member(s) ${ETCD_MEMBERS.filter((m) => !running.includes(m.name)).map((m) => m.name).join(', ')} on 127.0.0.1:${ETCD_MEMBERS.map((m) => m.clientPort).join(', ')} (TLS, auth on; state in ${ETCD_DIR})`);
  const base = etcd.clientConfig();
  return (id) => ({ kind: 'etcd', ...base, endpoints: [...base.endpoints.slice(id - 1), ...base.endpoints.slice(0, id - 1)] });
}

async function up(argv: string[]): Promise<void> {
  const args = [...argv];
  const pi = args.indexOf('--profile');
  const profile = pi >= 0 ? args[pi + 1] : undefined;
  if (pi >= 0) {
    if (!isProfileName(profile)) throw new Error(`ochsm up: --profile is one of ${PROFILE_NAMES.join(', ')} (got ${profile === undefined ? 'nothing' : JSON.stringify(profile)}); docs/pkcs11.md "Profiles"`);
    args.splice(pi, 2);
  }
  const storeArg = args[0] === '--store' && args.length === 2 ? args[1] : args.length === 0 ? undefined : '?';
  if (storeArg !== undefined && storeArg !== 'etcd' && storeArg !== 'sqlite') throw new Error('usage: ochsm up [--store sqlite|etcd] [--profile azure|standard]');
  const existing = existsSync(join(ROOT, 'sealing.key')) ? (existsSync(ETCD_DIR) ? 'etcd' : 'sqlite') : undefined;
  if (existing && profile) throw new Error(`the partition in ${ROOT} is initialised already and its profile was chosen then (azcloudhsm_mgmt_util getPolicy shows it); set OCHSM_HOME to another directory for a new partition`);
  if (existing && storeArg && storeArg !== existing) throw new Error(`the installation in ${ROOT} uses the ${existing} store; set OCHSM_HOME to another directory for ${storeArg}`);
  const useEtcd = (storeArg ?? existing) === 'etcd';
  mkdirSync(RUN, { recursive: true, mode: 0o700 });
  const store = useEtcd ? await upEtcd() : undefined;
  const running = [1, 2, 3].filter((id) => pidOf(join(RUN, `hsm${id}.pid`)));
  if (running.length < 3) {
    const fresh = !existsSync(join(ROOT, 'sealing.key'));
    progress(fresh
      ? `initialising a new partition in ${ROOT}: starting 3 nodes, then claiming it (getCertReq, PO.crt, POAC.crt, storeCert 4 and 8, CO and CU)...`
      : `starting node(s) ${[1, 2, 3].filter((id) => !running.includes(id)).join(', ')}...`);
    const cluster = await startCluster(ROOT, { ports: PORTS, detached: true, claim: true, skip: running, env: (id) => metricsEnv(`hsm${id}`), ...(store ? { store } : {}), ...(isProfileName(profile) ? { profile } : {}) });
    console.log(fresh
      ? `initialised and claimed a new partition: PO.key/PO.crt in ${cluster.certDir}; CO ${EXAMPLE_CO.user}, CU ${EXAMPLE_CU.user}`
      : `started node(s) ${[1, 2, 3].filter((id) => !running.includes(id)).join(', ')}`);
  }
  writeConfigs();
  progress(`starting the client daemon on ${SOCKET}...`);
  const daemon = await startDaemon();
  if (daemon) progress('checking it works: EC key pair, sign, verify through the daemon...');
  console.log(`
OpenCloudHSM is running (state in ${ROOT}):
  nodes    hsm1..hsm3 on 127.0.0.1:${PORTS.join(', ')}  (TLS 1.3, pids in ${RUN})
  store    ${useEtcd ? `etcd, three members on 127.0.0.1:${ETCD_MEMBERS.map((m) => m.clientPort).join(', ')}` : `SQLite, ${join(ROOT, 'data', 'partition.db')}`}
  daemon   ${daemon ? `azcloudhsm_client on ${SOCKET}` : 'not built yet'}
  configs  ${BIN}/azcloudhsm_{resource,application,client,mgmt_util}.cfg`);
  if (daemon) console.log(await demo());
  console.log(`
The example credentials (CO ${EXAMPLE_CO.user}/${EXAMPLE_CO.password}, CU ${EXAMPLE_CU.user}/${EXAMPLE_CU.password}) are the guides' own:
change them for anything real. Whoever reads ${join(ROOT, 'sealing.key')} and the store can read
every key: a software HSM's security boundary is its host.

Try next:
  node dist/packages/cli/src/ochsm.js status
  make test
  make stop`);
}

async function down(): Promise<void> {
  const files = [...['client.pid', 'hsm1.pid', 'hsm2.pid', 'hsm3.pid'].map((f) => join(RUN, f)), ...ETCD_MEMBERS.map((m) => join(ETCD_DIR, `${m.name}.pid`))];
  let stopped = 0;
  for (const f of files) {
    const pid = pidOf(f);
    if (!pid) {
      rmSync(f, { force: true });
      continue;
    }
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (pidOf(f) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (pidOf(f)) process.kill(pid, 'SIGKILL');
    rmSync(f, { force: true });
    stopped++;
  }
  console.log(stopped ? `stopped ${stopped} process(es)` : 'nothing was running');
}

/** Exit status 0 when everything runs, 3 when something is stopped (as LSB init scripts), 4 when there is no cluster state at all. */
async function status(): Promise<number> {
  const where = process.env.OCHSM_HOME ? `OCHSM_HOME=${process.env.OCHSM_HOME}` : `.ochsm in the working directory ${process.cwd()}`;
  if (!existsSync(ROOT)) {
    console.log(`no local cluster here: looked in ${ROOT} (${where}).`);
    console.log('Run ochsm status from the directory where you ran make run / ochsm up, or set OCHSM_HOME to its .ochsm directory.');
    return 4;
  }
  console.log(`local cluster state in ${ROOT} (${where}); pid files in ${RUN}`);
  let stopped = 0;
  for (const name of ['hsm1', 'hsm2', 'hsm3', 'client']) {
    const file = join(RUN, `${name}.pid`);
    const pid = pidOf(file);
    if (!pid) stopped++;
    console.log(`${name.padEnd(7)} ${pid ? `running (pid ${pid})` : existsSync(file) ? `stopped (stale ${file})` : 'stopped'}`);
  }
  /* On etcd: one line per member (endpoint, leader, revision, health), each asked on its own. */
  if (existsSync(join(ETCD_DIR, 'pki'))) {
    const rows = await EtcdCluster.attach({ dir: ETCD_DIR, members: ETCD_MEMBERS }).memberStatus();
    for (const line of formatMemberStatus(rows)) console.log(line);
    if (rows.some((r) => !r.healthy)) stopped++;
  }
  return stopped ? 3 : 0;
}

/** The latest audit records, read from the local partition (the operator who runs ochsm owns it). */
function localAuditTail(): (count: number) => Promise<readonly AuditView[]> {
  let opened: ReturnType<typeof openLocalPartition> | undefined;
  const chain = auditTailReader(async () => (await (opened ??= openLocalPartition(ROOT))).partition);
  return combinedAuditTail(chain, [1, 2, 3].map((id) => nodeAuditLogPath(ROOT, id)));
}

/** `ochsm init <dir>`: what the node services need before their first start (they never create a key themselves). */
async function init(argv: string[]): Promise<number> {
  const args = [...argv];
  let profile: ProfileName | undefined;
  const pi = args.indexOf('--profile');
  if (pi >= 0) {
    const name = args[pi + 1];
    if (!isProfileName(name)) {
      console.error(`ochsm init: --profile is one of ${PROFILE_NAMES.join(', ')} (got ${name === undefined ? 'nothing' : JSON.stringify(name)}); docs/pkcs11.md "Profiles"`);
      return 2;
    }
    profile = name;
    args.splice(pi, 2);
  }
  if (args.length !== 1) {
    console.error(`ochsm init: give the state directory, e.g. ochsm init /var/lib/opencloudhsm\n${PROGRAM.usage}`);
    return 2;
  }
  const dir = resolve(args[0]!);
  if (existsSync(join(dir, 'sealing.key'))) {
    console.log(`${join(dir, 'sealing.key')} exists: nothing to do`);
    return 0;
  }
  const { partition, store, paths } = await openLocalPartition(dir, { create: true, ...(profile ? { partition: { profile } } : {}) });
  const chosen = await partition.profile();
  partition.close();
  await store.close();
  console.log(`created the sealing key ${paths.sealingKey} (mode 0600) and the store ${paths.database} (an unclaimed partition, profile ${chosen}).`);
  console.log('Keep a copy of the sealing key apart from the host and from the backups: without it no backup can be restored.');
  return 0;
}

async function verify(args: string[]): Promise<number> {
  if (args.length > 1) {
    console.error(`ochsm verify: give at most one installation directory\n${PROGRAM.usage}`);
    return 2;
  }
  const dir = resolve(args[0] ?? ROOT);
  console.log(`ochsm verify: ${dir}`);
  const r = await verifyInstallation(dir);
  for (const l of r.summary) console.log(`  ok       ${l}`);
  for (const l of r.notes) console.log(`  note     ${l}`);
  for (const l of r.problems) console.log(`  PROBLEM  ${l}`);
  console.log(r.problems.length === 0 ? 'verify: no problems found' : `verify: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} found`);
  return r.problems.length === 0 ? 0 : 1;
}

async function statusWeb(args: string[]): Promise<number> {
  const i = args.indexOf('--port');
  const port = i >= 0 ? Number(args[i + 1]) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`ochsm status --web: --port needs a port number from 0 to 65535 (got ${args[i + 1] ?? 'nothing'})`);
    return 2;
  }
  if (!existsSync(ROOT)) return status();
  const collector = new StatusCollector({
    runDir: RUN, socketPath: SOCKET, nodeIds: [1, 2, 3],
    ...(existsSync(join(ROOT, 'sealing.key')) ? { auditTail: localAuditTail() } : {}),
  });
  const web = await startStatusServer(collector, { port });
  console.log(`status page for ${ROOT} on ${web.url} (read-only, loopback only; Ctrl-C stops it)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await web.close();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (answerStandardFlags(PROGRAM, argv)) return 0;
  const cmd = argv[0] ?? 'help';
  try {
    switch (cmd) {
      case 'up': await up(argv.slice(1)); return 0;
      case 'down': await down(); return 0;
      case 'status': return argv.includes('--web') ? await statusWeb(argv.slice(1)) : status();
      case 'init': return await init(argv.slice(1));
      case 'backup-rewrap': console.log(backupRewrap(argv.slice(1))); return 0;
      case 'verify': return await verify(argv.slice(1));
      case 'help': console.log(PROGRAM.usage); return 0;
      default:
        console.error(`ochsm: unknown command '${cmd}'\n${PROGRAM.usage}`);
        return 2;
    }
  } catch (e) {
    console.error(`ochsm ${cmd}: ${e instanceof HsmError ? `${e.message} (${e.ckrName})` : e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
