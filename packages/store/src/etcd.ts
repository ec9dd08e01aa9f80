/**
 * @module EtcdStore: the KeyValueStore on an etcd v3 cluster, for nodes on several hosts.
 *
 * Trust boundary: untrusted, like every backend (see ./types.ts). etcd sees
 * only what the barrier gives it: paths, revisions, lease ids and masked
 * values. The connection is still authenticated both ways (TLS with the
 * cluster CA, a client certificate, and an etcd user), because whoever can
 * write to etcd can delete keys and users even if they cannot read them.
 *
 * The port is etcd-shaped, so the mapping is direct:
 * - a key's `version` is its etcd `mod_revision`; a transaction is one etcd
 *   `Txn` (version-eq → compare MOD, exists/absent → compare CREATE with 0);
 * - every key lives under `namespace`, so one etcd can hold several clusters;
 * - leases are etcd leases, granted with an id chosen here below 2^53 so it
 *   survives JavaScript numbers (etcd would pick any int64); TTLs are whole
 *   seconds, rounded up, and etcd raises them to its minimum (about 2 s);
 * - `watch` is one etcd watch stream per watcher, resumed after a broken
 *   connection from the revision after the last one it delivered, so a
 *   reconnect neither loses nor repeats an event; a watch from a compacted
 *   revision ends with StoreCompactedError. Progress comes from etcd's
 *   periodic progress notifications (`progress_notify`), which etcd sends
 *   in order with the events and only to a watcher that has been sent every
 *   event up to the revision it names; their period is the server flag
 *   --experimental-watch-progress-notify-interval (10 min by default: the
 *   nodes' members run with 100ms). etcd 3.4's on-demand progress request
 *   is not used: before 3.4.25 its answer can overtake queued events.
 *
 * Reads are linearizable (etcd's default), so a node never reads older state
 * than a write that was acknowledged anywhere in the cluster. A node cut off
 * from the quorum gets errors (after `requestTimeoutMs`), never stale data.
 *
 * Each member is guarded by `MemberBreaker` instead of the client library's
 * default circuit breaker, which could make calls wait forever after a member
 * restart (see there).
 *
 * Every call asks the member to have a leader (gRPC metadata `hasleader`,
 * etcd's `WithRequireLeader`). A member that has fallen out of the cluster
 * (its peers unreachable, no leader) then refuses a call at once with "no
 * leader" instead of holding it until the deadline, and etcd cancels the
 * streams it holds after three election timeouts without a leader: a watch
 * resumes on another member instead of staying open on one that only sends
 * progress notifications for a revision the cluster has left behind
 * (docs/deployment.md §6, the lagging member). A "no leader" refusal is
 * definite (nothing was proposed), so a call is sent again, to any member,
 * until its deadline.
 */
import { randomInt } from 'node:crypto';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import {
  StoreCompactedError, StoreError, StoreNoQuorumError,
  type Bytes, type Compare, type Entry, type KeyValueStore, type ListOptions, type Op,
  type TxnResult, type WatchEvent, type WatchOptions,
} from './types.js';
import { checkKey, checkListOptions, checkTtl, checkTxnWrites } from './util.js';

export interface EtcdStoreOptions {
  /** Client URLs of the members, e.g. `https://10.0.0.1:2379`. */
  readonly endpoints: readonly string[];
  /** Prefix of every key this store writes; default `/ochsm/`. */
  readonly namespace?: string;
  /** PEM: the CA that issued the members' certificates, and this client's certificate and key. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** etcd user and password (etcd authentication). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline of each request (ms); default 5000. */
  readonly requestTimeoutMs?: number;
}

/** Keys per page when `list` reads a large prefix (all pages at one revision). */
const LIST_PAGE = 1000;
/** Reconnect delays of a broken watch stream (ms). */
const WATCH_BACKOFF_MIN_MS = 100;
const WATCH_BACKOFF_MAX_MS = 2000;
/** Delays before sending again a call a member refused for having no leader (ms); the last one repeats until the deadline. */
const NO_LEADER_BACKOFF_MS = [20, 50, 100, 200, 400] as const;
/** etcd's refusal of a call that asked for a leader, by a member that has none (rpctypes.ErrGRPCNoLeader). */
const NO_LEADER = /etcdserver: no leader/i;
/** MemberSkippedError's text, when the client hands the refusal on in another error. */
const SKIPPED = /^etcd member \S+ skipped after \d+ failures in a row/;

/** Consecutive recoverable failures after which a member is skipped, and for how long (ms). */
export const MEMBER_FAILURES = 3;
export const MEMBER_SKIP_MS = 5000;

type MemberPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;

/** A member skipped by its breaker: the client goes on to the next member. */
class MemberSkippedError extends Error {}

/**
 * The per-member fault policy given to the etcd client. The library's default
 * (a cockatiel circuit breaker) lets one trial call through once a broken
 * member's pause is over and makes every other call to that member wait for
 * the trial. The library retries a call that a member refused with "invalid
 * auth token" from inside that trial, and a member restarted after a kill
 * refuses the tokens it knew before (simple tokens live in its memory): when
 * the retry is sent to the same member it waits for the trial, which is
 * itself, and so does every later call to that member, forever. No deadline
 * helps, since the wait comes before the gRPC call. A node in that state
 * stopped following the store, stopped renewing its quorum lease, and did not
 * exit on SIGTERM (its shutdown waited for a store write): the host-kill test
 * through PKCS#11 (netns_hostkill_pkcs11) hung one run in three or so.
 *
 * This breaker never makes a call wait. After MEMBER_FAILURES consecutive
 * recoverable failures (unavailable, deadline, ...) it refuses calls to the
 * member for MEMBER_SKIP_MS without sending them (the client then tries the
 * next member); after that every call goes through again, the first success
 * closes it and the next failure skips the member again.
 */
export class MemberBreaker {
  #failures = 0;
  #skipUntil = 0;
  /** The last recoverable failure, named in the refusal of a skipped call (etcd's messages name keys at most, never values). */
  #last = '';

  constructor(readonly member: string, private readonly now: () => number = Date.now) {}

  async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal: AbortSignal = new AbortController().signal): Promise<T> {
    if (this.now() < this.#skipUntil) throw new MemberSkippedError(`etcd member ${this.member} skipped after ${MEMBER_FAILURES} failures in a row (the last: ${this.#last})`);
    try {
      const r = await fn({ signal });
      this.#failures = 0;
      return r;
    } catch (e) {
      if (typeof e === 'object' && e !== null && isRecoverableError(e as Error)) {
        this.#failures = Math.min(this.#failures + 1, MEMBER_FAILURES);
        this.#last = ((e as Error).message ?? '').slice(0, 200);
        if (this.#failures >= MEMBER_FAILURES) this.#skipUntil = this.now() + MEMBER_SKIP_MS;
      } else {
        this.#failures = 0;
      }
      throw e;
    }
  }
}

interface RawKv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
  create_revision: string;
  lease: string;
}

export class EtcdStore implements KeyValueStore {
  readonly kind = 'etcd';
  /** A progress report comes from one member, which may lag the cluster (see KeyValueStore). */
  readonly progressIsCurrent = false;
  readonly namespace: string;

  readonly #client: Etcd3;
  readonly #ns: Buffer;
  readonly #timeoutMs: number;
  readonly #watches = new Set<EtcdWatch>();
  /** The newest revision any response has shown this client. */
  #seen = 0;
  #closed = false;

  private constructor(client: Etcd3, namespace: string, timeoutMs: number) {
    this.#client = client;
    this.namespace = namespace;
    this.#ns = Buffer.from(namespace, 'utf8');
    this.#timeoutMs = timeoutMs;
  }

  /** Connect and check that the cluster answers (and that the credentials work) within the deadline. */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) throw new StoreError('etcd store needs at least one endpoint');
    for (const e of opts.endpoints) {
      if (typeof e !== 'string' || !/^https?:\/\/[^/\s]+$/.test(e)) throw new StoreError(`etcd endpoint must look like https://host:port, got ${JSON.stringify(e)}`);
      if (opts.tls && e.startsWith('http:')) throw new StoreError(`etcd endpoint ${e} is plain http, but TLS is configured`);
    }
    const namespace = opts.namespace ?? '/ochsm/';
    if (typeof namespace !== 'string' || namespace.length === 0) throw new StoreError('etcd namespace must be a non-empty string');
    const timeoutMs = opts.requestTimeoutMs ?? 5000;
    const options: IOptions = {
      hosts: [...opts.endpoints],
      dialTimeout: timeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      faultHandling: { host: (member) => new MemberBreaker(member) as unknown as MemberPolicy },
      grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 8 * 1024 * 1024 },
    };
    if (opts.tls) {
      options.credentials = {
        rootCertificate: opts.tls.ca,
        ...(opts.tls.key ? { privateKey: opts.tls.key } : {}),
        ...(opts.tls.cert ? { certChain: opts.tls.cert } : {}),
      };
    }
    if (opts.auth) options.auth = { username: opts.auth.username, password: opts.auth.password };
    const client = new Etcd3(options);
    requireLeader(client);
    const store = new EtcdStore(client, namespace, timeoutMs);
    try {
      await store.#call(() => store.#client.kv.range({ key: store.#ns, limit: '1' }));
    } catch (e) {
      store.#client.close();
      throw e;
    }
    return store;
  }

  async get(key: string): Promise<Entry | undefined> {
    this.#open();
    checkKey(key);
    const res = await this.#call(() => this.#client.kv.range({ key: this.#key(key) }));
    const kv = res.kvs[0] as RawKv | undefined;
    return kv ? this.#entry(kv) : undefined;
  }

  async put(key: string, value: Bytes, opts?: { lease?: number }): Promise<number> {
    this.#open();
    checkKey(key);
    const res = await this.#call(() => this.#client.kv.put({ key: this.#key(key), value: toBuffer(value), lease: String(opts?.lease ?? 0) }));
    return Number(res.header.revision);
  }

  async delete(key: string): Promise<boolean> {
    this.#open();
    checkKey(key);
    const res = await this.#call(() => this.#client.kv.deleteRange({ key: this.#key(key) }));
    return Number(res.deleted) > 0;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<Entry[]> {
    this.#open();
    checkListOptions(opts);
    const start = this.#key(prefix);
    const end = bytesPrefixEnd(start);
    let from = start;
    if (opts.after !== undefined) {
      const after = Buffer.concat([this.#key(opts.after), Buffer.from([0])]);
      if (Buffer.compare(after, from) > 0) from = after;
    }
    const out: Entry[] = [];
    const want = opts.limit ?? 0;
    let revision = '0';
    /* Page through large prefixes, every page at the first page's revision: one consistent snapshot. */
    for (;;) {
      const limit = want === 0 ? LIST_PAGE : Math.min(LIST_PAGE, want - out.length);
      const res = await this.#call(() => this.#client.kv.range({ key: from, range_end: end, limit: String(limit), revision }));
      revision = res.header.revision;
      const kvs = res.kvs as RawKv[];
      for (const kv of kvs) out.push(this.#entry(kv));
      if (!res.more || kvs.length === 0 || (want !== 0 && out.length >= want)) break;
      from = Buffer.concat([kvs[kvs.length - 1]!.key, Buffer.from([0])]);
    }
    return out;
  }

  async txn(compare: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): Promise<TxnResult> {
    this.#open();
    for (const c of compare) checkKey(c.key);
    for (const o of [...success, ...failure]) checkKey(o.key);
    checkTxnWrites(success);
    checkTxnWrites(failure);
    const req = {
      compare: compare.map((c) => {
        const key = this.#key(c.key);
        switch (c.op) {
          case 'version-eq': return { key, target: 'Mod', result: 'Equal', mod_revision: String(c.version) };
          case 'exists': return { key, target: 'Create', result: 'NotEqual', create_revision: '0' };
          case 'absent': return { key, target: 'Create', result: 'Equal', create_revision: '0' };
        }
      }),
      success: success.map((o) => this.#requestOp(o)),
      failure: failure.map((o) => this.#requestOp(o)),
    };
    const res = await this.#call(() => this.#client.kv.txn(req as never));
    const ops = res.succeeded ? success : failure;
    const results = ops.map((o, i) => {
      if (o.op !== 'get') return undefined;
      const kv = res.responses[i]?.response_range?.kvs[0] as RawKv | undefined;
      return kv ? this.#entry(kv) : undefined;
    });
    return { succeeded: res.succeeded, revision: Number(res.header.revision), results };
  }

  async grantLease(ttlMs: number): Promise<number> {
    this.#open();
    checkTtl(ttlMs);
    const ttl = String(Math.ceil(ttlMs / 1000));
    /* Choose the id, so it fits a JavaScript number; retry on the (unlikely) collision. */
    for (let attempt = 0; ; attempt++) {
      const id = randomInt(1, 2 ** 48);
      try {
        const res = await this.#call(() => this.#client.leaseClient.leaseGrant({ TTL: ttl, ID: String(id) }));
        if (res.error) throw new StoreError(`etcd refused a lease: ${res.error}`);
        return Number(res.ID);
      } catch (e) {
        if (attempt < 3 && /lease already exists/i.test((e as Error).message)) continue;
        throw e;
      }
    }
  }

  async keepAlive(lease: number): Promise<boolean> {
    return (await this.renew(lease)).alive;
  }

  /**
   * keepAlive, and the revision of the member that answered (its response
   * header): the answer comes through the leader, so that member was part of
   * the quorum when it sent it, and held every change up to that revision.
   */
  async renew(lease: number): Promise<{ alive: boolean; revision: number }> {
    this.#open();
    if (!Number.isSafeInteger(lease) || lease <= 0) return { alive: false, revision: 0 };
    const stream = await this.#call(() => this.#client.leaseClient.leaseKeepAlive());
    try {
      return await new Promise<{ alive: boolean; revision: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new StoreError(`etcd: lease keep-alive got no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
        stream.on('data', (r: { TTL: string; header: { revision: string } }) => {
          clearTimeout(timer);
          this.#saw(r.header?.revision);
          resolve({ alive: Number(r.TTL) > 0, revision: Number(r.header?.revision ?? 0) });
        });
        stream.on('error', (e: Error) => {
          clearTimeout(timer);
          reject(wrap(e));
        });
        stream.write({ ID: String(lease) });
      });
    } finally {
      closeStream(stream);
    }
  }

  async revokeLease(lease: number): Promise<void> {
    this.#open();
    if (!Number.isSafeInteger(lease) || lease <= 0) return;
    try {
      await this.#call(() => this.#client.leaseClient.leaseRevoke({ ID: String(lease) }));
    } catch (e) {
      /* Revoking an unknown or expired lease is not an error: the keys are gone either way. */
      if (/lease not found/i.test((e as Error).message)) return;
      throw e;
    }
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void, opts: WatchOptions = {}): () => void {
    this.#open();
    /* "From now": the newest revision this client has seen (etcd's own current revision is a round trip away). */
    const after = opts.fromRevision ?? this.#seen;
    const w = new EtcdWatch(this.#client, this.#ns, this.#key(prefix), after, onEvent, opts.onProgress, (err) => {
      this.#watches.delete(w);
      if (opts.onError) opts.onError(err);
      else process.emitWarning(`etcd store watch of "${prefix}": ${err.message}`);
    });
    this.#watches.add(w);
    w.start();
    return () => {
      this.#watches.delete(w);
      w.stop();
    };
  }

  /**
   * Discard the change history up to `revision` (default: the current one),
   * as etcd's compaction does. An operator's job (etcd's
   * --auto-compaction-retention); nodes never compact.
   */
  async compact(revision?: number): Promise<void> {
    this.#open();
    if (revision === undefined) revision = Number((await this.#call(() => this.#client.kv.range({ key: this.#ns, limit: '1' }))).header.revision);
    if (!Number.isSafeInteger(revision) || revision < 0) throw new StoreError(`cannot compact to revision ${String(revision)}`);
    try {
      await this.#call(() => this.#client.kv.compact({ revision: String(revision), physical: true }));
    } catch (e) {
      /* Already compacted past it: nothing to do. */
      if (/required revision has been compacted/i.test((e as Error).message)) return;
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watches) w.stop();
    this.#watches.clear();
    this.#client.close();
  }

  /* ---- internals ---- */

  #open(): void {
    if (this.#closed) throw new StoreError('etcd store is closed');
  }

  #key(key: string): Buffer {
    return Buffer.concat([this.#ns, Buffer.from(key, 'utf8')]);
  }

  #entry(kv: RawKv): Entry {
    return {
      key: kv.key.subarray(this.#ns.length).toString('utf8'),
      value: Buffer.from(kv.value),
      version: Number(kv.mod_revision),
      lease: Number(kv.lease),
    };
  }

  #requestOp(o: Op): object {
    const key = this.#key(o.key);
    switch (o.op) {
      case 'get': return { request_range: { key } };
      case 'put': return { request_put: { key, value: toBuffer(o.value), lease: String(o.lease ?? 0) } };
      case 'delete': return { request_delete_range: { key } };
    }
  }

  #saw(revision: string | undefined): void {
    const r = Number(revision ?? 0);
    if (r > this.#seen) this.#seen = r;
  }

  /**
   * Run one etcd call: StoreError on failure (messages name no value), and note the revision it saw.
   * A member without a leader refuses before doing anything: send the call again (the client picks
   * a member at random; the breaker skips one that keeps refusing) until the deadline, and then
   * fail with StoreNoQuorumError (nothing was written).
   */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    let res: T;
    const deadline = Date.now() + this.#timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fn();
        break;
      } catch (e) {
        /*
         * Also a member skipped after refusing so (its breaker names the last failure), and any
         * call a breaker refused to send (a member skipped after timeouts: cut off with this host).
         * Neither was sent, so nothing was written: the node answers that it cannot reach a quorum
         * (retryable) rather than a store failure.
         */
        const message = (e as Error)?.message ?? '';
        if (!NO_LEADER.test(message) && !(e instanceof MemberSkippedError) && !SKIPPED.test(message)) throw wrap(e);
        const delay = NO_LEADER_BACKOFF_MS[Math.min(attempt, NO_LEADER_BACKOFF_MS.length - 1)]!;
        if (this.#closed || Date.now() + delay >= deadline) throw new StoreNoQuorumError(wrap(e).message, { cause: e });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    const revision = (res as { header?: { revision?: string } } | undefined)?.header?.revision;
    this.#saw(revision);
    return res;
  }
}

/**
 * One watcher on its own etcd watch stream. It delivers events in revision
 * order and remembers the last revision delivered; when the stream breaks
 * (a member restarting, a lost connection) it reconnects with backoff and
 * resumes from the next revision, so no event is lost or repeated.
 */
class EtcdWatch {
  #stream: Closable | undefined;
  #stopped = false;
  #backoff = WATCH_BACKOFF_MIN_MS;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly ns: Buffer,
    private readonly start_: Buffer,
    /** Every change up to this revision has been delivered (or was before the watch). */
    private after: number,
    private readonly onEvent: (e: WatchEvent) => void,
    private readonly onProgress: ((revision: number) => void) | undefined,
    private readonly onFail: (err: StoreError) => void,
  ) {}

  start(): void {
    if (this.#stopped) return;
    this.client.watchClient.watch().then(
      (stream) => {
        if (this.#stopped) {
          closeStream(stream);
          return;
        }
        this.#stream = stream as never;
        let ended = false;
        const broken = (): void => {
          if (ended) return;
          ended = true;
          this.#stream = undefined;
          closeStream(stream);
          this.#retry();
        };
        stream.on('data', (res: { header: { revision: string }; created: boolean; canceled: boolean; compact_revision: string; cancel_reason: string; events: { type: string; kv: RawKv }[] }) => {
          if (this.#stopped || ended) return;
          const compacted = Number(res.compact_revision);
          if (compacted > 0) {
            ended = true;
            closeStream(stream);
            this.#fail(new StoreCompactedError(`etcd store: changes after revision ${this.after} are no longer kept (compacted up to revision ${compacted}); read afresh and watch again`, compacted));
            return;
          }
          if (res.canceled) {
            ended = true;
            closeStream(stream);
            this.#fail(new StoreError(`etcd canceled the watch: ${res.cancel_reason || 'no reason given'}`));
            return;
          }
          if (res.created) {
            this.#backoff = WATCH_BACKOFF_MIN_MS;
            return;
          }
          if (res.events.length === 0) {
            /* A progress notification: every event up to this revision has been sent (etcd sends it only to a synced watcher). */
            const r = Number(res.header.revision);
            if (r > this.after) {
              this.after = r;
              this.#report(r);
            }
            return;
          }
          for (const ev of res.events) {
            const revision = Number(ev.kv.mod_revision);
            const e: WatchEvent = { type: ev.type === 'Delete' ? 'delete' : 'put', key: ev.kv.key.subarray(this.ns.length).toString('utf8'), revision };
            try {
              this.onEvent(e);
            } catch (err) {
              process.emitWarning(`store watch listener threw: ${(err as Error)?.message ?? String(err)}`);
            }
          }
          /* etcd never splits one revision's events across responses, so the last one is complete. */
          const last = res.events[res.events.length - 1];
          if (last && Number(last.kv.mod_revision) > this.after) {
            this.after = Number(last.kv.mod_revision);
            this.#report(this.after);
          }
        });
        stream.on('error', broken);
        stream.on('end', broken);
        stream.write({
          create_request: {
            key: this.start_,
            range_end: bytesPrefixEnd(this.start_),
            start_revision: String(this.after + 1),
            progress_notify: this.onProgress !== undefined,
          },
        });
      },
      () => this.#retry(),
    );
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#stream) closeStream(this.#stream);
    this.#stream = undefined;
  }

  #retry(): void {
    if (this.#stopped) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(WATCH_BACKOFF_MAX_MS, this.#backoff * 2);
    this.#timer = setTimeout(() => this.start(), delay);
    this.#timer.unref();
  }

  #report(revision: number): void {
    if (!this.onProgress) return;
    try {
      this.onProgress(revision);
    } catch (err) {
      process.emitWarning(`store watch progress listener threw: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  #fail(err: StoreError): void {
    if (this.#stopped) return;
    this.stop();
    this.onFail(err);
  }
}

/**
 * Make every call of `client` ask for a member with a leader (etcd's
 * `WithRequireLeader`: the metadata `hasleader: true`), see the module note.
 * The client library has no option for it; every call and stream takes its
 * metadata (the auth token) from the pool's authenticator, so the flag is
 * added there.
 */
function requireLeader(client: Etcd3): void {
  const auth = (client as unknown as { pool?: { authenticator?: { getMetadata?: () => Promise<{ set(k: string, v: string): void }> } } }).pool?.authenticator;
  const get = auth?.getMetadata?.bind(auth);
  if (!auth || !get) throw new StoreError('etcd client: cannot ask members for a leader (the etcd3 library changed; see requireLeader)');
  auth.getMetadata = async () => {
    const meta = await get();
    meta.set('hasleader', 'true');
    return meta;
  };
}

/**
 * End a stream we no longer want. Half-close first: the etcd3 client treats
 * an error on a still-writable stream (our own cancel's CANCELLED included)
 * as a failed host and closes every channel to it, failing unrelated calls.
 */
interface Closable {
  end(): void;
  cancel(): void;
  on(ev: 'error', fn: (e: Error) => void): unknown;
}

function closeStream(stream: Closable): void {
  stream.on('error', () => undefined);
  try {
    stream.end();
  } catch {
    /* already ended */
  }
  stream.cancel();
}

function toBuffer(v: Bytes): Buffer {
  if (!(v instanceof Uint8Array)) throw new StoreError('store value must be a Uint8Array');
  return Buffer.from(v);
}

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix); "\0" = to the end. */
function bytesPrefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** etcd/gRPC errors as StoreError, keeping etcd's message (which names keys at most, never values). */
function wrap(e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const msg = (e as Error)?.message ?? String(e);
  return new StoreError(`etcd: ${msg}`, { cause: e });
}
