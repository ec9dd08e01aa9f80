/**
 * @module What the network-namespace cluster tests share: three simulated
 * hosts (./netns.ts), each with an etcd member and an HSM node listening on
 * its own address, the daemon in the root namespace, and a teardown that
 * leaves no namespace, process or file behind however the test ends, and
 * waiting for the daemon to see a node in a state. (Their signing keys come
 * from ./keys.ts.)
 *
 * Run these tests one engineer at a time: `flock /tmp/ochsm-netns.lock …`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import { connectDaemon, startCluster, startDaemon, type ClusterOptions, type DaemonHandle, type LocalCluster } from './cluster.js';
import { EtcdCluster } from './etcd.js';
import { HostNetwork } from './netns.js';

export interface HostCluster {
  readonly net: HostNetwork;
  /** The test's own temporary directory (removed at teardown). */
  readonly dir: string;
  readonly etcd: EtcdCluster;
  readonly cluster: LocalCluster;
  readonly daemon: DaemonHandle;
  /** A client of the daemon, closed at teardown. */
  connect(name: string): Promise<ProtocolClient>;
  /** Run at teardown, before the clients close (probes, extra clients). */
  onTeardown(fn: () => void): void;
}

/**
 * Which etcd members each node talks to: `rotated`, all three starting with
 * its own host's (it fails over to the others); `own`, its own host's member
 * only (it is cut off with its host, as on a real host whose link fails).
 */
export type NodeEndpoints = 'rotated' | 'own';

/** True (and the test skipped with the reason) when namespaces cannot be made here. */
export function skipWithoutRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return false;
  t.skip('network-namespace tests need root (CAP_NET_ADMIN); not running as root');
  return true;
}

/**
 * Build the three hosts, their etcd members and nodes (claimed the way the
 * onboarding guide does) and the daemon; run `body`; tear everything down.
 * When `body` succeeds, also check that no namespace, veth or bridge is left.
 * `users` are the accounts made at claiming (default: the example CU).
 */
export async function withHostCluster(o: { prefix: string; endpoints: NodeEndpoints; users?: ClusterOptions['users'] }, body: (w: HostCluster) => Promise<void>): Promise<void> {
  const net = HostNetwork.create(3);
  const dir = mkdtempSync(join(tmpdir(), `ochsm-${o.prefix}-`));
  let etcd: EtcdCluster | undefined;
  let cluster: LocalCluster | undefined;
  let daemon: DaemonHandle | undefined;
  const clients: ProtocolClient[] = [];
  const teardown: (() => void)[] = [];
  try {
    etcd = await EtcdCluster.start({
      dir: join(dir, 'etcd'),
      members: net.hosts.map((h) => ({ name: `etcd${h.index}`, host: h.address, clientPort: 2379, peerPort: 2380 })),
      wrap: (m) => net.exec(Number(m.name.slice(4))),
    });
    const base = etcd.clientConfig();
    cluster = await startCluster(join(dir, 'hsm'), {
      ports: [2225, 2225, 2225],
      ...(o.users ? { users: o.users } : {}),
      host: (id) => net.host(id).address,
      wrap: (id) => net.exec(id),
      store: (id) => ({
        kind: 'etcd', ...base,
        endpoints: o.endpoints === 'own' ? [base.endpoints[id - 1]!] : [...base.endpoints.slice(id - 1), ...base.endpoints.slice(0, id - 1)],
      }),
    });
    /* spread: these tests fault one host (or its etcd member) under load, and assert what the
     * node there did; with pack routing that node might be serving nothing. */
    daemon = await startDaemon(cluster, { client: { routing: 'spread' } });
    const d = daemon;
    await body({
      net, dir, etcd, cluster, daemon,
      connect: async (name) => {
        const c = await connectDaemon(d.socketPath, name);
        clients.push(c);
        return c;
      },
      onTeardown: (fn) => void teardown.push(fn),
    });
  } finally {
    for (const fn of teardown) fn();
    for (const c of clients) c.close();
    await daemon?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(net.leftovers(), [], 'the namespaces, veths and bridge are gone');
}
