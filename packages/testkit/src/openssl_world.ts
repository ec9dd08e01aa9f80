/**
 * @module The installation the OpenSSL engine's and provider's tests run in: a claimed
 * three-node cluster with the CUs cu1 and cu2, the daemon, a working directory holding
 * azcloudhsm_application.cfg (the Azure Cloud HSM guides: `cp …/azcloudhsm_application.cfg ~/`),
 * and a signed-in CO on every node to follow the audit records (tool_run.ts AuditFollower).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import { EXAMPLE_CO, connectNode, startCluster, startDaemon, type DaemonHandle, type LocalCluster } from './cluster.js';

export interface OpensslWorld {
  readonly root: string;
  readonly cluster: LocalCluster;
  readonly daemon: DaemonHandle;
  /** The working directory of every openssl command. */
  readonly work: string;
  /** A CO connection to each node, node 1 first. */
  readonly nodeCos: ProtocolClient[];
}

export const OPENSSL_USERS = [
  { user: 'cu1', password: 'user1234', role: 'CU' as const },
  { user: 'cu2', password: 'user5678', role: 'CU' as const },
];

export async function startOpensslWorld(prefix: string): Promise<OpensslWorld> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const cluster = await startCluster(root, { users: OPENSSL_USERS });
  const daemon = await startDaemon(cluster);
  const work = join(root, 'home');
  mkdirSync(work, { mode: 0o700 });
  copyFileSync(join(daemon.binDir, 'azcloudhsm_application.cfg'), join(work, 'azcloudhsm_application.cfg'));
  const nodeCos: ProtocolClient[] = [];
  for (const id of [1, 2, 3]) {
    const c = await connectNode(cluster.node(id).port, cluster.poCrt);
    await c.request('login', { user: EXAMPLE_CO.user, password: EXAMPLE_CO.password, role: 'CO' });
    nodeCos.push(c);
  }
  return { root, cluster, daemon, work, nodeCos };
}

/** Close what startOpensslWorld opened (whatever of it exists); `daemon` is the one running now. */
export async function stopOpensslWorld(w: { root?: string; cluster?: LocalCluster; daemon?: DaemonHandle; nodeCos?: readonly ProtocolClient[] }): Promise<void> {
  for (const c of w.nodeCos ?? []) c.close();
  await w.daemon?.stop();
  await w.cluster?.stop();
  if (w.root) rmSync(w.root, { recursive: true, force: true });
}
