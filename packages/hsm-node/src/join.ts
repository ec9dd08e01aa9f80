/**
 * @module The joining side of a new or replaced node's join (docs/deployment.md §5).
 *
 * A node started with a "join" setting and no sealing.key in its dir:
 *   1. makes an X25519 key pair in memory and writes its join request
 *      (public key, host, port, fingerprint) to the store under
 *      sys/join/request/<id>, on a lease that lapses after `expirySeconds`;
 *   2. prints the fingerprint, and answers every request but hello with a
 *      clear error on its port while it waits;
 *   3. once a CO has approved the fingerprint (approveNode), asks a running
 *      node (from the store's list cluster/nodes/) over TLS 1.3 for the
 *      masking key wrapped for its key (joinKey), opens it, checks it against
 *      the store's key check value (it must open this cluster's barrier);
 *   4. writes sealing.key (0600, O_EXCL|O_NOFOLLOW), revokes its lease (the
 *      request and the approval go with it) and returns; the node then
 *      starts as every node does.
 * The wrapped key travels on the TLS connection only, never through the store.
 *
 * Why the joining node asks (rather than being sent the key): the answer is
 * useful only to the holder of the approved private key, so who opens the
 * connection adds nothing; asking needs no listener that accepts key
 * material and retries by itself. With "poCert" (PO.crt) the joining node
 * also checks that the node it asks presents the cluster's certificate chain.
 */
import * as tls from 'node:tls';
import { existsSync, readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { HsmError } from '../../protocol/src/errors.js';
import { ProtocolClient, serveConnection } from '../../protocol/src/connection.js';
import { EtcdStore } from '../../store/src/etcd.js';
import type { KeyValueStore } from '../../store/src/types.js';
import { Barrier } from '../../hsm-core/src/barrier/barrier.js';
import { joinAad, joinKeyPair, unwrapFromPeer } from '../../hsm-core/src/barrier/join_wrap.js';
import { JOIN_PATH, encodeJoinRequest, makeJoinRequest } from '../../hsm-core/src/cluster/joins.js';
import { etcdOptions, type StoreConfig } from './store_config.js';
import { writeSealingKeyFile } from './sealing_key_file.js';
import { PEERS_PREFIX } from './quorum.js';
import { derName, selfSignedCertPem } from './partition_cert.js';
import { tlsContextOptions, DEFAULT_NODE_LIMITS } from './server.js';
import { RateLimitedLog, type Logger } from './log.js';
import type { NodeInfo } from './handler.js';
import { VERSION } from '../../ops/src/version.js';

/** An unapproved join request lapses after this long (s) unless node.json says otherwise. */
export const DEFAULT_JOIN_EXPIRY_S = 3600;
/** How often the joining node looks for its approval (ms). */
const POLL_MS = 250;
/** One joinKey round trip to one running node, at most (ms). */
const ASK_TIMEOUT_MS = 10_000;

/** node.json "join": { "poCert"?: path of PO.crt, "expirySeconds"?: 2..86400 } (or true). */
export interface JoinSettings {
  readonly poCert?: string;
  readonly expirySeconds: number;
}

export function parseJoinSettings(v: unknown, where: string): JoinSettings | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { expirySeconds: DEFAULT_JOIN_EXPIRY_S };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: "join" must be true or an object { "poCert", "expirySeconds" }`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'poCert' && k !== 'expirySeconds') throw new Error(`${where}: unknown join setting "${k}" (known: poCert, expirySeconds)`);
  if (o.poCert !== undefined && (typeof o.poCert !== 'string' || o.poCert === '')) throw new Error(`${where}: "join.poCert" must name the PO.crt file`);
  const e = o.expirySeconds ?? DEFAULT_JOIN_EXPIRY_S;
  if (typeof e !== 'number' || !Number.isInteger(e) || e < 2 || e > 86_400) throw new Error(`${where}: "join.expirySeconds" must be an integer from 2 to 86400`);
  return { ...(o.poCert !== undefined ? { poCert: o.poCert as string } : {}), expirySeconds: e };
}

export interface JoinOptions {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly sealingKeyPath: string;
  readonly store: StoreConfig;
  readonly join: JoinSettings;
  readonly log: Logger;
  /** Where the fingerprint is printed for the operator (stdout). */
  readonly print: (line: string) => void;
  /** Aborted by SIGTERM/SIGINT: the request is withdrawn and joinCluster resolves 'stopped'. */
  readonly signal: AbortSignal;
}

/** The store's list of running nodes (plain entries, quorum.ts). */
async function runningNodes(store: KeyValueStore): Promise<NodeInfo[]> {
  const out: NodeInfo[] = [];
  for (const e of await store.list(PEERS_PREFIX)) {
    try {
      const j = JSON.parse(Buffer.from(e.value).toString('utf8')) as Partial<NodeInfo>;
      if (Number.isInteger(j.id) && typeof j.hostname === 'string' && Number.isInteger(j.port)) out.push({ id: j.id!, hostname: j.hostname, port: j.port! });
    } catch {
      /* not a node entry */
    }
  }
  return out;
}

/** While waiting: TLS 1.3 with a throwaway certificate; hello is answered, everything else refused with the reason. */
async function waitingListener(o: JoinOptions, fingerprint: string): Promise<{ close: () => Promise<void> }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = selfSignedCertPem(privateKey, derName([['CN', `OpenCloudHSM node ${o.id} (joining)`]]), new Date(), 2);
  const key = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const refusal = () => new HsmError('ERR_NODE_BEHIND', `node ${o.id} has not joined the cluster yet: it waits for a crypto officer to approve its join request (azcloudhsm_mgmt_util: approveNode ${o.id} ${fingerprint}); retry on another node`);
  const L = DEFAULT_NODE_LIMITS;
  const server = tls.createServer({ ...tlsContextOptions({ key, cert }), handshakeTimeout: L.handshakeTimeoutMs });
  const sockets = new Set<tls.TLSSocket>();
  server.on('secureConnection', (socket) => {
    if (sockets.size >= L.maxConnectionsPerSource) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setTimeout(L.idleTimeoutMs, () => socket.destroy());
    serveConnection(socket, {
      context: undefined,
      bounds: L,
      hello: () => ({ server: `OpenCloudHSM/${VERSION} node (joining)`, node: o.id }),
      handle: async () => {
        throw refusal();
      },
    });
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    /* Also drop the connections still open, so the node's own server can take the port at once. */
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}

/** Ask one running node for the wrapped masking key. */
async function ask(peer: NodeInfo, id: number, ca: Buffer | undefined): Promise<Uint8Array> {
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      host: peer.hostname, port: peer.port, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', timeout: ASK_TIMEOUT_MS,
      /* The nodes present [POAC, PO]; the name in it is the partition's, not a host name. */
      ...(ca ? { ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }),
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
    s.once('timeout', () => s.destroy(new Error(`no TLS handshake within ${ASK_TIMEOUT_MS} ms`)));
  });
  const c = new ProtocolClient(socket, { name: `node ${peer.id} at ${peer.hostname}:${peer.port}` });
  try {
    await c.hello(`OpenCloudHSM node ${id} (joining)`, { timeoutMs: ASK_TIMEOUT_MS });
    return (await c.request('joinKey', { node: id }, { timeoutMs: ASK_TIMEOUT_MS })).wrapped;
  } finally {
    c.close();
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Join: resolves 'joined' once sealing.key is written, 'stopped' when
 * signalled; rejects when the request lapses unapproved, the store cannot be
 * reached at the start, or sealing.key cannot be written.
 */
export async function joinCluster(o: JoinOptions): Promise<'joined' | 'stopped'> {
  if (o.store.kind !== 'etcd') throw new Error('a node joins a cluster on etcd ("store": { "kind": "etcd", ... }); nodes over one SQLite file share the sealing.key beside it');
  if (existsSync(o.sealingKeyPath)) throw new Error(`sealing-key file ${o.sealingKeyPath} exists; this node has joined already`);
  let ca: Buffer | undefined;
  try {
    ca = o.join.poCert ? readFileSync(o.join.poCert) : undefined;
  } catch (e) {
    throw new Error(`join.poCert ${o.join.poCert} is not readable: ${describe(e)}`);
  }
  const store = await EtcdStore.open(etcdOptions(o.store));
  const noisy = new RateLimitedLog(o.log);
  let lease = 0;
  let server: { close: () => Promise<void> } | undefined;
  try {
    if ((await store.get(`${PEERS_PREFIX}${o.id}`)) !== undefined) {
      throw new Error(`node ${o.id} is running and registered in this cluster; stop it first (a replaced node's entry lapses a few seconds after it stops), or give this node another id`);
    }
    /* A request left by an earlier run of this node has another key: withdraw it (and any approval of it). */
    const stale = await store.get(JOIN_PATH.request(o.id));
    if (stale?.lease) await store.revokeLease(stale.lease);
    else if (stale) await store.delete(JOIN_PATH.request(o.id));

    const { privateKey, publicKey } = joinKeyPair();
    const request = makeJoinRequest(o.id, o.host, o.port, publicKey, Date.now());
    lease = await store.grantLease(o.join.expirySeconds * 1000);
    await store.put(JOIN_PATH.request(o.id), encodeJoinRequest(request), { lease });
    server = await waitingListener(o, request.fingerprint);
    o.log.info('join request written; waiting for a crypto officer to approve it', { fingerprint: request.fingerprint, expiresInS: o.join.expirySeconds });
    o.print(`Node ${o.id} join request fingerprint: ${request.fingerprint}`);
    o.print(`Approve it as a crypto officer: azcloudhsm_mgmt_util, loginHSM CO <user> <password>, approveNode ${o.id} ${request.fingerprint}`);
    o.print(`The request expires in ${o.join.expirySeconds} s.`);

    const aad = joinAad(o.id, request.fingerprint);
    for (;;) {
      if (o.signal.aborted) return 'stopped';
      let mine, approved, peers: NodeInfo[] = [];
      try {
        mine = await store.get(JOIN_PATH.request(o.id));
        approved = mine && (await store.get(JOIN_PATH.approved(o.id)));
        if (approved) peers = (await runningNodes(store)).filter((n) => n.id !== o.id);
      } catch (e) {
        /* The store out of reach for a moment: the request waits on its lease meanwhile. */
        noisy.warn('join-store', 'the store cannot be read; retrying', { reason: describe(e) });
        await sleep(POLL_MS, undefined, { signal: o.signal }).catch(() => undefined);
        continue;
      }
      if (!mine || mine.lease !== lease) {
        lease = 0;
        throw new Error(`the join request of node ${o.id} expired after ${o.join.expirySeconds} s without approval (or was withdrawn); start the node again for a new request and fingerprint`);
      }
      for (const peer of peers.sort(() => Math.random() - 0.5)) {
        let key: Buffer | undefined;
        try {
          key = unwrapFromPeer(privateKey, await ask(peer, o.id, ca), aad);
          /* It must be this cluster's key: it opens the barrier (key check value) or it is refused. */
          await Barrier.open(store, key);
        } catch (e) {
          key?.fill(0);
          noisy.warn(`join-${peer.id}`, 'asking a running node for the masking key failed', { peer: peer.id, reason: describe(e) });
          continue;
        }
        try {
          /* A file that cannot be written is the operator's to fix: stop, rather than ask again. */
          writeSealingKeyFile(o.sealingKeyPath, key);
        } finally {
          key.fill(0);
        }
        o.log.info('joined: masking key received and sealing.key written', { from: peer.id, path: o.sealingKeyPath });
        return 'joined';
      }
      await sleep(POLL_MS, undefined, { signal: o.signal }).catch(() => undefined);
    }
  } finally {
    await server?.close();
    /* The request and its approval go with the lease: nothing of the join stays in the store. */
    if (lease) await store.revokeLease(lease).catch(() => undefined);
    await store.close();
  }
}
