/**
 * Direct TLS connections to a test cluster's nodes, as a real caller makes
 * them, each signed in when asked; closeAll() ends every one made.
 */
import type { ProtocolClient } from '../../../protocol/src/connection.js';
import { connectNode, type LocalCluster } from '../../../testkit/src/cluster.js';

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
