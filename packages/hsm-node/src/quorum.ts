/**
 * @module A node's hold on the store quorum, and its entry in the store's
 * list of nodes (docs/deployment.md "Losing the quorum", "Peers").
 *
 * A node on etcd serves key use from memory. A node cut off from the etcd
 * quorum would go on serving from a replica that no longer follows the
 * cluster (an isolated etcd member still answers its local watchers), so it
 * could use a key that was deleted elsewhere. To bound that, the node holds
 * an etcd lease and renews it every `intervalMs`. A renewal is answered only
 * by the etcd leader, so an answer proves the quorum was reachable when the
 * renewal was sent. The node serves only while its last proven contact is
 * at most `boundMs` old; past that every request that reads or changes the
 * partition answers ERR_NODE_BEHIND (retryable: the daemon sends it to
 * another node), and it serves again as soon as a renewal gets through.
 *
 * Why this is enough: a removal of access (delete, unshare, lockout …) is
 * acknowledged only after waiting `boundMs` (see handler.ts), so a node cut
 * off before the removal has stopped by the time anyone learns of it, and a
 * node that had contact after it has the removal in its replica.
 *
 * The same lease holds this node's entry `cluster/nodes/<id>` = {id,
 * hostname, port}. Entries of nodes that stop renewing vanish with their
 * lease, so `getClusterInfo` (and through it the daemon) lists the nodes that
 * are alive now. The entry is not secret (the addresses are on the wire
 * anyway) and not trusted for identity: the daemon checks every node's
 * certificate against the partition owner's.
 */
import { HsmError } from '../../protocol/src/errors.js';
import type { KeyValueStore } from '../../store/src/types.js';
import { PEERS_PREFIX } from '../../hsm-core/src/barrier/reserved.js';
import type { NodeInfo } from './handler.js';

/** Renew this often (ms). */
export const QUORUM_INTERVAL_MS = 300;
/**
 * Serve only while the last proven contact with the quorum is at most this old (ms).
 * It must outlast an etcd leader election (election timeout 1 s, a new leader
 * within about 2 s): with 1 s, killing the leader's host made every node
 * refuse for a moment and applications saw failures (netns_hostkill_pkcs11).
 * The price: a removal of access is acknowledged after this long on etcd.
 */
export const QUORUM_BOUND_MS = 3000;
/** The lease's time to live (ms): an entry outlives a dead node by at most this (etcd's minimum is about 2 s). */
export const PEER_LEASE_TTL_MS = 3000;
/** The store prefix of the nodes' entries (plain; reserved in the barrier, so partition listings and backups skip them). */
export { PEERS_PREFIX };
/** Renewals in flight at once (each waits for its own answer). */
const MAX_IN_FLIGHT = 8;
/** Re-read the list of nodes after this many renewals. */
const PEERS_EVERY = 5;

export interface QuorumOptions {
  readonly self: NodeInfo;
  readonly monotonic: () => number;
  readonly intervalMs?: number;
  readonly boundMs?: number;
  readonly ttlMs?: number;
  /** Told when the node loses or regains the quorum (no secrets). */
  readonly onChange?: (serving: boolean, detail: string) => void;
}

export class QuorumGuard {
  readonly boundMs: number;
  readonly #store: KeyValueStore;
  readonly #opts: QuorumOptions;
  readonly #intervalMs: number;
  readonly #ttlMs: number;
  #lease = 0;
  #confirmedAt = -Infinity;
  #inFlight = 0;
  #regranting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #serving = false;
  #peers: NodeInfo[] = [];
  #stopped = false;
  #renewals = 0;

  constructor(store: KeyValueStore, opts: QuorumOptions) {
    this.#store = store;
    this.#opts = opts;
    this.#intervalMs = opts.intervalMs ?? QUORUM_INTERVAL_MS;
    this.boundMs = opts.boundMs ?? QUORUM_BOUND_MS;
    this.#ttlMs = opts.ttlMs ?? PEER_LEASE_TTL_MS;
    if (this.#intervalMs * 2 > this.boundMs) throw new Error('the quorum bound must allow at least two renewals');
  }

  /** Register (lease + entry) and start renewing. Throws when the store cannot be reached now. */
  async start(): Promise<void> {
    await this.#register();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    const lease = this.#lease;
    this.#lease = 0;
    /* Leave the list at once rather than after the TTL. */
    return lease ? this.#store.revokeLease(lease).catch(() => undefined) : Promise.resolve();
  }

  /** How long ago the quorum last answered (ms). */
  get sinceContactMs(): number {
    return this.#opts.monotonic() - this.#confirmedAt;
  }

  get serving(): boolean {
    return this.sinceContactMs <= this.boundMs;
  }

  /** Throws ERR_NODE_BEHIND while this node cannot show contact with the quorum within the bound. */
  check(): void {
    const since = this.sinceContactMs;
    if (since <= this.boundMs) return;
    this.#note(false);
    const ago = Number.isFinite(since) ? `${Math.round(since)} ms ago` : 'never';
    throw new HsmError('ERR_NODE_BEHIND', `node ${this.#opts.self.id} cannot reach a quorum of the store (last contact ${ago}, bound ${this.boundMs} ms); retry on another node`);
  }

  /** The nodes registered in the store, as last read (this node included, sorted by id). */
  peers(): readonly NodeInfo[] {
    return this.#peers.length ? this.#peers : [this.#opts.self];
  }

  /** Whether node `id` has a live entry in the store now (read there, not from the periodically refreshed peer list). */
  async registered(id: number): Promise<boolean> {
    return (await this.#store.get(`${PEERS_PREFIX}${id}`)) !== undefined;
  }

  async #register(): Promise<void> {
    const at = this.#opts.monotonic();
    const lease = await this.#store.grantLease(this.#ttlMs);
    const { id, hostname, port } = this.#opts.self;
    await this.#store.put(`${PEERS_PREFIX}${id}`, Buffer.from(JSON.stringify({ id, hostname, port }), 'utf8'), { lease });
    if (this.#stopped) {
      await this.#store.revokeLease(lease).catch(() => undefined);
      return;
    }
    this.#lease = lease;
    this.#confirm(at);
    await this.#readPeers();
  }

  #tick(): void {
    if (this.#stopped || this.#inFlight >= MAX_IN_FLIGHT || this.#regranting) return;
    const at = this.#opts.monotonic();
    const lease = this.#lease;
    this.#inFlight++;
    this.#store.keepAlive(lease).then(
      (alive) => {
        if (alive) {
          this.#confirm(at);
          /* Refresh the peer list every PEERS_EVERY renewals (about once a second). */
          if (++this.#renewals % PEERS_EVERY === 0) void this.#readPeers().catch(() => undefined);
        } else if (lease === this.#lease) {
          /* The lease lapsed while this node was cut off: take a new one and register again. */
          this.#regranting ??= this.#register().catch(() => undefined).finally(() => {
            this.#regranting = undefined;
          });
        }
      },
      () => undefined,
    ).finally(() => {
      this.#inFlight--;
    });
    if (!this.serving) this.#note(false);
  }

  #confirm(at: number): void {
    if (at > this.#confirmedAt) this.#confirmedAt = at;
    if (this.serving) this.#note(true);
  }

  #note(serving: boolean): void {
    if (serving === this.#serving) return;
    this.#serving = serving;
    this.#opts.onChange?.(serving, serving ? 'the store quorum answers again' : `no answer from the store quorum for more than ${this.boundMs} ms`);
  }

  async #readPeers(): Promise<void> {
    const out: NodeInfo[] = [];
    for (const e of await this.#store.list(PEERS_PREFIX)) {
      try {
        const j = JSON.parse(Buffer.from(e.value).toString('utf8')) as Partial<NodeInfo>;
        if (Number.isInteger(j.id) && typeof j.hostname === 'string' && Number.isInteger(j.port)) out.push({ id: j.id!, hostname: j.hostname, port: j.port! });
      } catch {
        /* an entry that is not ours: skip it */
      }
    }
    out.sort((a, b) => a.id - b.id);
    this.#peers = out;
  }
}
