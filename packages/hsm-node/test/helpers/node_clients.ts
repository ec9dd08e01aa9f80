/**
 * Direct TLS connections to a test cluster's nodes, as a real caller makes
 * them, each signed in when asked; closeAll() ends every one made.
 */
import { before, after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProtocolClient } from '../../../protocol/src/connection.js';
import { connectNode, startCluster, EXAMPLE_CO, type LocalCluster } from '../../../testkit/src/cluster.js';

export function nodeClients(cluster: () => LocalCluster) {
  const made: ProtocolClient[] = [];
  return {
    async client(node: number, login?: { user: string; password: string }): Promise<ProtocolClient> {
      const c = await connectNode(cluster().node(node).port, cluster().poCrt);
      made.push(c);
      if (login) await c.request('login', login);
      return c;
    },
    closeAll(): void {
      for (const c of made.splice(0)) c.close();
    },
  };
}

/**
 * A file's cluster of real nodes (`nodes`, 3 by default) with a second CU, cu2 (password
 * user5678), made by the example CO, and its direct clients: registers the before/after hooks;
 * every client is closed and the cluster stopped and removed at the end.
 */
export function clusterWithClients(name: string, opts: { nodes?: number } = {}) {
  let dir = '';
  let cluster: LocalCluster | undefined;
  const clients = nodeClients(() => {
    if (!cluster) throw new Error('clusterWithClients: the cluster is not up (used outside a test?)');
    return cluster;
  });
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `ochsm-${name}-`));
    cluster = await startCluster(dir, opts.nodes === undefined ? {} : { nodes: opts.nodes });
    const co = await clients.client(1, EXAMPLE_CO);
    await co.request('createUser', { role: 'CU', user: 'cu2', password: 'user5678' });
  });
  after(async () => {
    clients.closeAll();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return { client: clients.client };
}
