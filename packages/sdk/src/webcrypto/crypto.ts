/**
 * @module HsmCrypto: a WebCrypto `Crypto` whose keys and random numbers come from the HSM.
 *
 * The JCE provider of the Node world (docs/decisions.md): hand an HsmCrypto to a
 * library that takes a WebCrypto provider (for example
 * `x509.cryptoProvider.set(new HsmCrypto())` with @peculiar/x509) and every
 * key it generates, imports or uses lives in the HSM.
 *
 * - `subtle`: HsmSubtleCrypto (subtle.ts).
 * - `getRandomValues`: bytes from the HSM's generator (random.ts), with
 *   WebCrypto's checks (an integer typed array: TypeMismatchError; more than
 *   65536 bytes: QuotaExceededError).
 * - `randomUUID`: an RFC 4122 version 4 UUID from those bytes.
 * - `keys`: HsmKeyStore, to find keys by label or handle and delete them.
 *
 * Sign-in goes through a LoginManager — `LoginManager.getInstance()` unless
 * one is given — so explicit and implicit sign-in work as in the JCE.
 *
 * Threads: as the Azure Cloud HSM authentication guide says of the JCE ("initialize the provider only once;
 * avoid sharing SPI objects across threads"), use one HsmCrypto per process,
 * or one per worker thread: each worker has its own LoginManager singleton
 * and its own connection. Keys cannot be sent between workers (a CryptoKey
 * is not transferable); a token key is found again in another worker by its
 * label or handle (`keys.getKey`, `keys.fromHandle`).
 */
import type { webcrypto } from 'node:crypto';
import { LoginManager } from '../login_manager.js';
import { ProviderContext } from './context.js';
import { domError } from './errors.js';
import { HsmKeyStore } from './key_store.js';
import { MAX_RANDOM_BYTES, SyncRandom } from './random.js';
import { HsmSubtleCrypto } from './subtle.js';

export interface HsmCryptoOptions {
  /** Sign in through this manager (default: LoginManager.getInstance()). */
  readonly loginManager?: LoginManager;
  /** How long getRandomValues may block waiting for the HSM (default 10 s). */
  readonly randomTimeoutMs?: number;
}

type IntegerTypedArray = Exclude<NodeJS.TypedArray, Float32Array | Float64Array>;

const INTEGER_ARRAYS: readonly string[] = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array'];

export class HsmCrypto implements webcrypto.Crypto {
  readonly subtle: HsmSubtleCrypto;
  readonly keys: HsmKeyStore;
  readonly loginManager: LoginManager;
  /** The CryptoKey constructor: HsmCryptoKey's prototype chain ends in it. */
  readonly CryptoKey: webcrypto.CryptoKeyConstructor = (globalThis.crypto as webcrypto.Crypto).CryptoKey;
  private readonly random: SyncRandom;
  private readonly ctx: ProviderContext;

  constructor(opts: HsmCryptoOptions = {}) {
    this.loginManager = opts.loginManager ?? LoginManager.getInstance();
    const ctx = new ProviderContext(this.loginManager);
    this.ctx = ctx;
    this.subtle = new HsmSubtleCrypto(ctx);
    this.keys = new HsmKeyStore(ctx);
    this.random = new SyncRandom(() => this.loginManager.client.endpoint, opts.randomTimeoutMs);
  }

  getRandomValues<T extends IntegerTypedArray>(array: T): T {
    if (!ArrayBuffer.isView(array) || !INTEGER_ARRAYS.includes(Object.getPrototypeOf(array)?.constructor?.name ?? '')) {
      throw domError('TypeMismatchError', 'getRandomValues: the argument must be an integer-typed array');
    }
    if (array.byteLength > MAX_RANDOM_BYTES) {
      throw domError('QuotaExceededError', `getRandomValues: ${array.byteLength} bytes asked; at most ${MAX_RANDOM_BYTES} per call`);
    }
    this.random.fill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    return array;
  }

  randomUUID(): `${string}-${string}-${string}-${string}-${string}` {
    const b = this.getRandomValues(new Uint8Array(16));
    b[6] = (b[6]! & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8]! & 0x3f) | 0x80; /* RFC 4122 variant */
    const h = Buffer.from(b).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /**
   * Stop the random worker, wipe its pool and the export transport key. The
   * sign-in and the connection belong to the LoginManager (`loginManager.close()`).
   */
  close(): void {
    this.random.close();
    this.ctx.close();
  }
}
