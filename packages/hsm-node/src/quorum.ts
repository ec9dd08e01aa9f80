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
 * Contact is not enough when the node's replica follows another member than
 * the one that answered: a node whose own etcd member has fallen out of the
 * etcd cluster still reaches the other members, so its renewals get through,
 * while its watch on its own member delivers no change (and that member
 * still sends progress notifications). So a renewal counts only once the
 * replica has applied the revision of the store the renewal's answer named
 * (`renew`, `applied`): the node serves only while a renewal sent at most
 * `boundMs` ago was answered and its replica holds everything that answer's
 * member held then.
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
  /**
   * Renew the lease: alive or not, and the store revision the answering member
   * had then (etcd's response header). Default: the store's keepAlive, with no
   * revision (0: contact alone counts).
   */
  readonly renew?: (lease: number) => Promise<{ alive: boolean; revision: number }>;
  /** Every change up to this store revision is in this node's replica. Default: contact alone counts. */
  readonly applied?: () => number;
  /**
   * Called (at most once a bound) while renewals get through but the replica
   * stays behind them: its watch no longer follows the cluster; read afresh
   * and watch again.
   */
  readonly onBehind?: (detail: string) => void;
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
  /* Answered renewals of the last bound: when each was sent, and the revision its answer named. */
  #confirmed: { at: number; revision: number }[] = [];
  #inFlight = 0;
  #regranting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #serving = false;
  #peers: NodeInfo[] = [];
  #stopped = false;
  #renewals = 0;
  #behindToldAt = -Infinity;

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

  /** When the last renewal was sent that was answered and whose revision the replica has applied (monotonic ms). */
  /** When renewals got through within the bound but none counts: why (and the replica is told to resync, once a bound). */
  #behind(): string | undefined {
    const now = this.#opts.monotonic();
    const answered = this.#confirmed.filter((c) => now - c.at <= this.boundMs);
    if (answered.length === 0 || this.sinceContactMs <= this.boundMs) return undefined;
    const r = Math.min(...answered.map((c) => c.revision));
    const why = `is behind the store quorum (its copy is at revision ${this.#opts.applied?.() ?? 0}, the quorum was at ${r} within the last ${this.boundMs} ms: its etcd watch is not following the cluster)`;
    if (now - this.#behindToldAt > this.boundMs) {
      this.#behindToldAt = now;
      this.#opts.onBehind?.(why);
    }
    return why;
  }

  #confirmedAt(): number {
    const applied = this.#opts.applied?.() ?? Infinity;
    let best = -Infinity;
    for (const c of this.#confirmed) if (c.revision <= applied && c.at > best) best = c.at;
    return best;
  }

  /** How long ago the quorum last answered with state this node's replica holds (ms). */
  get sinceContactMs(): number {
    return this.#opts.monotonic() - this.#confirmedAt();
  }

  get serving(): boolean {
    return this.sinceContactMs <= this.boundMs;
  }

  /** Throws ERR_NODE_BEHIND while this node cannot show contact with the quorum within the bound. */
  check(): void {
    const since = this.sinceContactMs;
    if (since <= this.boundMs) {
      /* Serving again can come from the replica catching up, between renewals. */
      this.#note(true);
      return;
    }
    this.#note(false);
    const behind = this.#behind();
    if (behind) throw new HsmError('ERR_NODE_BEHIND', `node ${this.#opts.self.id} ${behind}; retry on another node`);
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
    const revision = await this.#store.put(`${PEERS_PREFIX}${id}`, Buffer.from(JSON.stringify({ id, hostname, port }), 'utf8'), { lease });
    if (this.#stopped) {
      await this.#store.revokeLease(lease).catch(() => undefined);
      return;
    }
    this.#lease = lease;
    /*
     * The registration is contact with the quorum at its own revision, which is after every change
     * made while this node was cut off: it counts, as a renewal does, only once the replica holds
     * it. (Counted as contact alone, a node coming back after its lease lapsed served at once,
     * before its watch had delivered a share revoked or a key deleted meanwhile.)
     */
    this.#confirm(at, revision);
    await this.#readPeers();
  }

  #tick(): void {
    if (this.#stopped || this.#inFlight >= MAX_IN_FLIGHT || this.#regranting) return;
    const at = this.#opts.monotonic();
    const lease = this.#lease;
    this.#inFlight++;
    (this.#opts.renew ?? ((l: number) => this.#store.keepAlive(l).then((alive) => ({ alive, revision: 0 }))))(lease).then(
      ({ alive, revision }) => {
        if (alive) {
          this.#confirm(at, revision);
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
    this.#note(this.serving);
    if (!this.serving) this.#behind();
  }

  #confirm(at: number, revision: number): void {
    const now = this.#opts.monotonic();
    /* Keep the answers of the last bound (older ones cannot count), and always the newest. */
    this.#confirmed = [...this.#confirmed.filter((c) => now - c.at <= this.boundMs), { at, revision }];
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
