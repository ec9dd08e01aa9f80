/**
 * @module The barrier: every value the core stores is masked here (docs/storage-format.md §3–4).
 *
 * Trust boundary: this is the line between the trusted core and the untrusted
 * store. Above it: plaintext values and the masking key. Below it (the
 * `KeyValueStore`): storage paths, versions and the masked bytes
 * `version ‖ term ‖ iv ‖ AES-256-GCM(ciphertext) ‖ tag`, authenticated
 * together with the storage path, so that the store can neither read, alter
 * nor move a value without the read failing with ERR_BARRIER.
 *
 * Keys: the masking key never encrypts a value itself. Each term t has a key
 * HKDF-SHA-256(masking key, barrier salt, "ochsm barrier term t"); rotation
 * moves writes to the next term, old terms keep decrypting (as Vault's
 * keyring). Term keys are derived once and cached as KeyObjects, so a read or
 * write costs one AES-GCM and no HKDF.
 *
 * Pure: no files, no sockets, no timers; crypto only through ../crypto/node.js,
 * the store only through its port (`import type`).
 */
import { HsmError } from '../../../protocol/src/errors.js';
import type { Compare, Entry, KeyValueStore, Op, StoreNoQuorumError } from '../../../store/src/types.js';
import {
  createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual,
  type KeyObject,
} from '../crypto/node.js';
import { wrapForJoiner } from './join_wrap.js';

/** The masked value format this code writes (docs/storage-format.md §3, §8). */
export const FORMAT_VERSION = 1;
const HEADER_BYTES = 5;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Smallest valid masked value: header, IV and tag around an empty plaintext. */
export const SEAL_OVERHEAD = HEADER_BYTES + IV_BYTES + TAG_BYTES;
const KEY_BYTES = 32;
const SALT_BYTES = 32;
const MAX_TERM = 0xffffffff;

import { BARRIER_PREFIX, HEARTBEAT_PREFIX, JOIN_REQUEST_PREFIX, PEERS_PREFIX, isReserved } from './reserved.js';

export { BARRIER_PREFIX, HEARTBEAT_PREFIX, JOIN_REQUEST_PREFIX, PEERS_PREFIX };
export const SALT_PATH = 'sys/barrier/salt';
export const TERM_PATH = 'sys/barrier/term';
export const CHECK_PATH = 'sys/barrier/check';

const TERM_INFO = 'ochsm barrier term ';
const CHECK_INFO = 'ochsm barrier check';
const CHECK_MESSAGE = 'ochsm barrier check v1';
/** Bound on compare-and-swap retries in rotate(): many concurrent rotations, not an endless loop. */
const ROTATE_ATTEMPTS = 100;

export interface BarrierEntry {
  key: string;
  value: Buffer;
  version: number;
  lease: number;
}

export type BarrierOp =
  | { op: 'put'; key: string; value: Uint8Array; lease?: number }
  | { op: 'delete'; key: string }
  | { op: 'get'; key: string };

type CipherKey = Buffer | KeyObject;

/* ---------------------------------------------------------------------------
 * The pure format: seal and unseal one value.
 * ------------------------------------------------------------------------- */

function integrityError(path: string): HsmError {
  /* One message for every way a value can be wrong, so the error is no oracle. */
  return new HsmError('ERR_BARRIER', `stored value at ${path} failed integrity check`);
}

function checkTerm(term: number): void {
  if (!Number.isInteger(term) || term < 1 || term > MAX_TERM) throw new TypeError(`barrier term must be an integer from 1 to ${MAX_TERM}, got ${String(term)}`);
}

function header(term: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = FORMAT_VERSION;
  h.writeUInt32BE(term, 1);
  return h;
}

/** AAD = the 5-byte header ‖ UTF-8 path: binds the value to its path, version and term. */
function aad(head: Buffer, path: string): Buffer {
  return Buffer.concat([head, Buffer.from(path, 'utf8')]);
}

function sealWith(key: CipherKey, term: number, path: string, plaintext: Uint8Array): Buffer {
  checkTerm(term);
  if (typeof path !== 'string') throw new TypeError('barrier path must be a string');
  if (!(plaintext instanceof Uint8Array)) throw new TypeError('barrier plaintext must be a Uint8Array');
  const head = header(term);
  /* A fresh random 96-bit IV per write; terms bound the count per key (SP 800-38D §8.3). */
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(head, path));
  const body = cipher.update(plaintext);
  const last = cipher.final();
  return Buffer.concat([head, iv, body, last, cipher.getAuthTag()]);
}

/**
 * The term a masked value claims, or undefined when it is not a version-1
 * value at all. Not authenticated until unseal succeeds.
 */
function claimedTerm(sealed: Uint8Array): number | undefined {
  if (sealed.length < SEAL_OVERHEAD || sealed[0] !== FORMAT_VERSION) return undefined;
  return Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength).readUInt32BE(1);
}

function unsealWith(keyFor: (term: number) => CipherKey | undefined, path: string, sealed: Uint8Array): Buffer {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length === 0) throw integrityError(path);
  /* The version byte is checked first so that a value from a newer release gets a clear message. */
  if (buf[0] !== FORMAT_VERSION) throw new HsmError('ERR_BARRIER', `stored value at ${path} has unknown barrier format version ${buf[0]}`);
  if (buf.length < SEAL_OVERHEAD) throw integrityError(path);
  const term = buf.readUInt32BE(1);
  const key = term >= 1 ? keyFor(term) : undefined;
  if (key === undefined) throw integrityError(path);
  const head = buf.subarray(0, HEADER_BYTES);
  const iv = buf.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const body = buf.subarray(HEADER_BYTES + IV_BYTES, buf.length - TAG_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(head, path));
    decipher.setAuthTag(tag);
    const out = decipher.update(body);
    /* final() verifies the tag; nothing decrypted is returned unless it passes. */
    const last = decipher.final();
    return last.length === 0 ? out : Buffer.concat([out, last]);
  } catch (e) {
    throw new HsmError('ERR_BARRIER', `stored value at ${path} failed integrity check`, { cause: e });
  }
}

/** Mask `plaintext` for storage at `path` under the term key `key` (32 bytes). */
export function seal(key: Buffer, term: number, path: string, plaintext: Uint8Array): Buffer {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new TypeError(`barrier term key must be a ${KEY_BYTES}-byte Buffer`);
  return sealWith(key, term, path, plaintext);
}

/** Verify and unmask a value read from `path`; `keyFor` maps a term to its key (undefined: unknown term). */
export function unseal(keyFor: (term: number) => Buffer | undefined, path: string, sealed: Uint8Array): Buffer {
  return unsealWith(keyFor, path, sealed);
}

/* ---------------------------------------------------------------------------
 * The keyring: derived term keys and the barrier metadata.
 * ------------------------------------------------------------------------- */

function deriveKey(master: KeyObject, salt: Buffer, info: string): KeyObject {
  const raw = Buffer.from(hkdfSync('sha256', master, salt, info, KEY_BYTES));
  const key = createSecretKey(raw);
  /* createSecretKey copies; do not leave a second copy on the JS heap. */
  raw.fill(0);
  return key;
}

/** Key check value: reveals nothing about the masking key, but tells a wrong key from a damaged store. */
function checkValue(master: KeyObject, salt: Buffer): Buffer {
  return createHmac('sha256', deriveKey(master, salt, CHECK_INFO)).update(CHECK_MESSAGE, 'utf8').digest();
}

function damaged(path: string, what: string): HsmError {
  return new HsmError('ERR_BARRIER', `barrier metadata at ${path} is ${what}; the store is damaged or was not initialised by this software`);
}

function parseTerm(v: Uint8Array | undefined): number {
  if (v === undefined) throw damaged(TERM_PATH, 'missing');
  const s = Buffer.from(v).toString('latin1');
  /* Plain decimal, no sign, no leading zero (docs/storage-format.md §4). */
  if (!/^[1-9][0-9]{0,9}$/.test(s) || Number(s) > MAX_TERM) throw damaged(TERM_PATH, 'not a valid term number');
  return Number(s);
}


function checkPath(path: string, access: 'read' | 'write'): void {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('barrier path must be a non-empty string');
  if (isReserved(path)) {
    throw new HsmError('ERR_BARRIER', `cannot ${access} ${path}: paths under ${BARRIER_PREFIX} (barrier metadata), ${HEARTBEAT_PREFIX} (node heartbeats), ${JOIN_REQUEST_PREFIX} (join requests) and ${PEERS_PREFIX} (the running nodes) are reserved`);
  }
}

/** A StoreNoQuorumError (known by its name: the core imports the store's types only as types). */
function isNoQuorum(e: unknown): e is StoreNoQuorumError {
  return e instanceof Error && e.name === 'StoreNoQuorumError';
}

/**
 * Run a store call, turning a backend failure into HsmError('ERR_STORE'); HsmErrors pass through.
 * A store that refused for want of a quorum on this side (nothing written) is ERR_NODE_BEHIND:
 * another node may reach the quorum, and the daemon retries there.
 */
async function storeCall<T>(store: KeyValueStore, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof HsmError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    if (isNoQuorum(e)) throw new HsmError('ERR_NODE_BEHIND', `this node cannot reach a quorum of the store (${store.kind}: ${msg}); nothing was written; retry on another node`, { cause: e });
    throw new HsmError('ERR_STORE', `store (${store.kind}) failed: ${msg}`, { cause: e });
  }
}

export class Barrier {
  readonly store: KeyValueStore;

  readonly #master: KeyObject;
  readonly #salt: Buffer;
  /** Term keys derived so far. Terms are few (one per rotation), so the cache is never evicted. */
  readonly #keys = new Map<number, KeyObject>();
  #active: number;
  /** One reload of the term record at a time, shared by every reader that needs it. */
  #reloading: Promise<void> | undefined;

  private constructor(store: KeyValueStore, master: KeyObject, salt: Buffer, term: number) {
    this.store = store;
    this.#master = master;
    this.#salt = salt;
    this.#active = term;
  }

  /**
   * Open the barrier over `store` with the 32-byte masking key. On an empty
   * store this writes the salt, the first term and the key check value in one
   * transaction that only the first of several racing processes wins; the
   * others read the winner's metadata. A masking key that does not match the
   * store is refused here, before any value is touched.
   */
  static async open(store: KeyValueStore, maskingKey: Uint8Array): Promise<Barrier> {
    if (!(maskingKey instanceof Uint8Array) || maskingKey.length !== KEY_BYTES) {
      const got = maskingKey instanceof Uint8Array ? `${maskingKey.length} bytes` : typeof maskingKey;
      throw new HsmError('ERR_BARRIER', `masking key must be ${KEY_BYTES} bytes, got ${got}`);
    }
    const master = createSecretKey(Buffer.from(maskingKey));
    const salt = randomBytes(SALT_BYTES);
    const r = await storeCall(store, () =>
      store.txn(
        [{ key: SALT_PATH, op: 'absent' }],
        [
          { op: 'put', key: SALT_PATH, value: salt },
          { op: 'put', key: TERM_PATH, value: Buffer.from('1', 'latin1') },
          { op: 'put', key: CHECK_PATH, value: checkValue(master, salt) },
        ],
        [{ op: 'get', key: SALT_PATH }, { op: 'get', key: TERM_PATH }, { op: 'get', key: CHECK_PATH }],
      ),
    );
    if (r.succeeded) return new Barrier(store, master, salt, 1);

    const [saltEntry, termEntry, checkEntry] = r.results;
    if (!saltEntry || saltEntry.value.length !== SALT_BYTES) throw damaged(SALT_PATH, 'not a 32-byte salt');
    const storedSalt = Buffer.from(saltEntry.value);
    const term = parseTerm(termEntry?.value);
    if (!checkEntry) throw damaged(CHECK_PATH, 'missing');
    const expected = checkValue(master, storedSalt);
    const stored = Buffer.from(checkEntry.value);
    if (stored.length !== expected.length || !timingSafeEqual(stored, expected)) {
      throw new HsmError('ERR_BARRIER', 'masking key does not match this store (key check value mismatch): wrong sealing key file?');
    }
    return new Barrier(store, master, storedSalt, term);
  }

  /**
   * A 32-byte key for another purpose (partition backups), derived from the
   * masking key with HKDF-SHA256 under `salt` and `info`. The masking key
   * itself never leaves the barrier.
   */
  deriveKey(salt: Uint8Array, info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#master, salt, info, KEY_BYTES));
  }

  /**
   * The masking key wrapped for a joining node's X25519 public key, bound to
   * `aad` (./join_wrap.ts). The key leaves the barrier only in this form.
   */
  wrapMaskingKeyFor(joinerPublicKey: Uint8Array, aad: Uint8Array): Buffer {
    const raw = this.#master.export();
    try {
      return wrapForJoiner(raw, joinerPublicKey, aad);
    } finally {
      raw.fill(0);
    }
  }

  /** The term new writes use (for status output). */
  activeTerm(): number {
    return this.#active;
  }

  async get(path: string): Promise<BarrierEntry | undefined> {
    checkPath(path, 'read');
    const e = await storeCall(this.store, () => this.store.get(path));
    return e ? this.#unmask(e) : undefined;
  }

  async put(path: string, plaintext: Uint8Array, opts?: { lease?: number }): Promise<number> {
    checkPath(path, 'write');
    const sealed = this.#seal(path, plaintext);
    const o = opts?.lease !== undefined ? { lease: opts.lease } : undefined;
    return storeCall(this.store, () => this.store.put(path, sealed, o));
  }

  async delete(path: string): Promise<boolean> {
    checkPath(path, 'write');
    return storeCall(this.store, () => this.store.delete(path));
  }

  /** Entries under `prefix` in key order, unmasked; the barrier's own metadata is never listed. */
  async list(prefix: string, opts: { limit?: number; after?: string } = {}): Promise<BarrierEntry[]> {
    const limit = opts.limit ?? 0;
    let after = opts.after;
    const raw: Entry[] = [];
    /* Skipping reserved entries can leave a page short: fetch on until it is full or the range ends. */
    for (;;) {
      const want = limit ? limit - raw.length : 0;
      const page = await storeCall(this.store, () => this.store.list(prefix, after === undefined ? { limit: want } : { limit: want, after }));
      for (const e of page) if (!isReserved(e.key)) raw.push(e);
      if (!limit || page.length < want || raw.length >= limit) break;
      after = page[page.length - 1]!.key;
    }
    const out: BarrierEntry[] = [];
    for (const e of raw) out.push(await this.#unmask(e));
    return out;
  }

  /**
   * A store transaction through the barrier: compares are passed through
   * (versions are not secret), put values are masked, get results unmasked.
   * Both branches are masked up front because the store picks the branch.
   */
  async txn(
    compare: readonly Compare[],
    success: readonly BarrierOp[],
    failure: readonly BarrierOp[] = [],
  ): Promise<{ succeeded: boolean; revision: number; results: (BarrierEntry | undefined)[] }> {
    const s = success.map((o) => this.#maskOp(o));
    const f = failure.map((o) => this.#maskOp(o));
    const r = await storeCall(this.store, () => this.store.txn(compare, s, f));
    const results: (BarrierEntry | undefined)[] = [];
    for (const e of r.results) results.push(e ? await this.#unmask(e) : undefined);
    return { succeeded: r.succeeded, revision: r.revision, results };
  }

  /**
   * Move writes to a new term: compare-and-swap the term record to one more
   * than the highest term known here or in the store, retrying if another
   * process rotated at the same moment (each call then still adds one term).
   */
  async rotate(): Promise<number> {
    for (let attempt = 0; attempt < ROTATE_ATTEMPTS; attempt++) {
      const e = await storeCall(this.store, () => this.store.get(TERM_PATH));
      if (!e) throw damaged(TERM_PATH, 'missing');
      const current = Math.max(parseTerm(e.value), this.#active);
      if (current >= MAX_TERM) throw new HsmError('ERR_BARRIER', 'barrier term space exhausted; the store needs re-keying');
      const next = current + 1;
      const r = await storeCall(this.store, () =>
        this.store.txn([{ key: TERM_PATH, op: 'version-eq', version: e.version }], [{ op: 'put', key: TERM_PATH, value: Buffer.from(String(next), 'latin1') }]),
      );
      if (r.succeeded) {
        this.#active = Math.max(this.#active, next);
        return this.#active;
      }
    }
    throw new HsmError('ERR_BARRIER', `could not rotate the barrier term: ${ROTATE_ATTEMPTS} concurrent updates in a row`);
  }

  /* ---- internals ---- */

  #termKey(term: number): KeyObject | undefined {
    /* No legitimate writer uses a term before publishing it, so later terms are refused. */
    if (term < 1 || term > this.#active) return undefined;
    let k = this.#keys.get(term);
    if (!k) {
      k = deriveKey(this.#master, this.#salt, TERM_INFO + String(term));
      this.#keys.set(term, k);
    }
    return k;
  }

  #seal(path: string, plaintext: Uint8Array): Buffer {
    return sealWith(this.#termKey(this.#active)!, this.#active, path, plaintext);
  }

  #maskOp(o: BarrierOp): Op {
    switch (o.op) {
      case 'get':
        checkPath(o.key, 'read');
        return { op: 'get', key: o.key };
      case 'delete':
        checkPath(o.key, 'write');
        return { op: 'delete', key: o.key };
      case 'put': {
        checkPath(o.key, 'write');
        const value = this.#seal(o.key, o.value);
        return o.lease !== undefined ? { op: 'put', key: o.key, value, lease: o.lease } : { op: 'put', key: o.key, value };
      }
      default:
        throw new TypeError(`unknown barrier op ${String((o as { op?: unknown }).op)}`);
    }
  }

  /** Unmask an entry read from the store directly (an in-memory replica keeps entries masked). */
  unmask(e: Entry): Promise<BarrierEntry> {
    checkPath(e.key, 'read');
    return this.#unmask(e);
  }

  async #unmask(e: Entry): Promise<BarrierEntry> {
    const term = claimedTerm(e.value);
    /* Another process rotated: learn the new active term (once), then decrypt. */
    if (term !== undefined && term > this.#active) await this.#reloadTerm();
    const value = unsealWith((t) => this.#termKey(t), e.key, e.value);
    return { key: e.key, value, version: e.version, lease: e.lease };
  }

  async #reloadTerm(): Promise<void> {
    if (!this.#reloading) {
      this.#reloading = (async () => {
        try {
          const e = await storeCall(this.store, () => this.store.get(TERM_PATH));
          /* Only ever forward: a lowered term record does not make this process go back. */
          this.#active = Math.max(this.#active, parseTerm(e?.value));
        } finally {
          this.#reloading = undefined;
        }
      })();
    }
    return this.#reloading;
  }
}
