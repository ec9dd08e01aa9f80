/**
 * @module HsmCryptoKey: a WebCrypto CryptoKey whose key material stays in the HSM.
 *
 * It has the four CryptoKey members (`type`, `extractable`, `algorithm`,
 * `usages`, W3C Web Cryptography API §13) and the HSM's view of the key: its
 * object `handle` (a cluster-wide decimal number from 262144 up), its
 * `label` (CKA_LABEL: the JCE's key name, shown by `findKey`), `persistent`
 * (CKA_TOKEN: a token key outlives the session; a session key ends with it)
 * and `id` (CKA_ID, hex; the two halves of a generated pair share it).
 *
 * Node's `CryptoKey` cannot be constructed or subclassed with `super()`
 * (ERR_ILLEGAL_CONSTRUCTOR), so the class satisfies the interface and its
 * prototype is chained to `globalThis.CryptoKey.prototype`: `key instanceof
 * CryptoKey` is true, while Node's own `crypto.subtle` still refuses it (it is
 * not one of Node's keys). Keys are made by HsmSubtleCrypto and HsmKeyStore
 * only; the constructor is closed to callers.
 */
import { inspect } from 'node:util';
import type { webcrypto } from 'node:crypto';
import { ALL_USAGES, type AlgorithmFacts, type HashName, type KeyType, type KeyUsage, type NamedCurve } from './algorithms.js';

/** The `algorithm` member of an HsmCryptoKey (the WebCrypto KeyAlgorithm dictionaries). */
export type HsmKeyAlgorithm =
  | { readonly name: string; readonly modulusLength: number; readonly publicExponent: Uint8Array; readonly hash: { readonly name: HashName } }
  | { readonly name: string; readonly namedCurve: NamedCurve }
  | { readonly name: string; readonly length: number }
  | { readonly name: string; readonly hash: { readonly name: HashName }; readonly length: number }
  | { readonly name: string };

/** What the provider knows about a key besides its public members. */
export interface KeyInternals {
  readonly facts: AlgorithmFacts;
  readonly hash: HashName | undefined;
  readonly curve: NamedCurve | 'Ed25519' | 'X25519' | undefined;
  readonly lengthBits: number | undefined;
  /** The provider context that made it (session keys are bound to its connection). */
  readonly owner: object;
  /** Session keys: the connection epoch they belong to; token keys: undefined. */
  readonly epoch: number | undefined;
  /** The SubjectPublicKeyInfo, once read (asymmetric keys). */
  spki: Uint8Array | undefined;
}

export interface KeyDescription {
  readonly type: KeyType;
  readonly extractable: boolean;
  readonly usages: readonly KeyUsage[];
  readonly handle: number;
  readonly label: string;
  readonly persistent: boolean;
  readonly id: Uint8Array;
  readonly facts: AlgorithmFacts;
  readonly hash?: HashName;
  readonly curve?: NamedCurve | 'Ed25519' | 'X25519';
  readonly modulusLength?: number;
  readonly publicExponent?: Uint8Array;
  readonly lengthBits?: number;
  readonly owner: object;
  readonly epoch: number | undefined;
  readonly spki?: Uint8Array;
}

const INTERNALS = new WeakMap<object, KeyInternals>();
const CONSTRUCT = Symbol('HsmCryptoKey.construct');

/** The provider's view of a key made by this SDK, or undefined for anything else. */
export function internalsOf(key: unknown): KeyInternals | undefined {
  return typeof key === 'object' && key !== null ? INTERNALS.get(key) : undefined;
}

function algorithmOf(d: KeyDescription): HsmKeyAlgorithm {
  const name = d.facts.name;
  switch (d.facts.family) {
    case 'rsa':
      return { name, modulusLength: d.modulusLength!, publicExponent: Uint8Array.from(d.publicExponent!), hash: { name: d.hash! } };
    case 'ec':
      return { name, namedCurve: d.curve as NamedCurve };
    case 'aes':
      return { name, length: d.lengthBits! };
    case 'hmac':
      return { name, hash: { name: d.hash! }, length: d.lengthBits! };
    default:
      return { name };
  }
}

export class HsmCryptoKey implements webcrypto.CryptoKey {
  readonly type: KeyType;
  readonly extractable: boolean;
  readonly algorithm: HsmKeyAlgorithm & webcrypto.KeyAlgorithm;
  readonly usages: KeyUsage[];
  /** The HSM object handle (decimal, cluster-wide). */
  readonly handle: number;
  /** CKA_LABEL. */
  readonly label: string;
  /** CKA_TOKEN: true for a token (persistent) key, false for a session key. */
  readonly persistent: boolean;
  /** CKA_ID in hex ('' when empty); shared by the two halves of a generated key pair. */
  readonly id: string;

  /** @internal Made by HsmSubtleCrypto and HsmKeyStore only. */
  constructor(token: symbol, d: KeyDescription) {
    if (token !== CONSTRUCT) throw new TypeError('Illegal constructor: HsmCryptoKey objects come from HsmSubtleCrypto or HsmKeyStore');
    this.type = d.type;
    /* WebCrypto: a public key is always extractable. */
    this.extractable = d.type === 'public' ? true : d.extractable;
    this.algorithm = Object.freeze(algorithmOf(d)) as HsmKeyAlgorithm & webcrypto.KeyAlgorithm;
    /* In WebCrypto's canonical order, whatever order they were asked in. */
    this.usages = Object.freeze(ALL_USAGES.filter((u) => d.usages.includes(u))) as KeyUsage[];
    this.handle = d.handle;
    this.label = d.label;
    this.persistent = d.persistent;
    this.id = Buffer.from(d.id).toString('hex');
    INTERNALS.set(this, {
      facts: d.facts,
      hash: d.hash,
      curve: d.curve,
      lengthBits: d.lengthBits,
      owner: d.owner,
      epoch: d.persistent ? undefined : d.epoch,
      spki: d.spki,
    });
    Object.freeze(this);
  }

  get [Symbol.toStringTag](): string {
    return 'CryptoKey';
  }

  [inspect.custom](): string {
    return `HsmCryptoKey { type: '${this.type}', algorithm: ${inspect(this.algorithm)}, extractable: ${this.extractable}, usages: ${inspect(this.usages)}, handle: ${this.handle}, label: ${inspect(this.label)}, persistent: ${this.persistent} }`;
  }
}

/* instanceof CryptoKey, without Node's slot-checking getters (our own members shadow them). */
const NodeCryptoKey = (globalThis as { CryptoKey?: { prototype: object } }).CryptoKey;
if (NodeCryptoKey) Object.setPrototypeOf(HsmCryptoKey.prototype, NodeCryptoKey.prototype);

/** Make a key (for the provider's modules). */
export function makeKey(d: KeyDescription): HsmCryptoKey {
  return new HsmCryptoKey(CONSTRUCT, d);
}

/** A CryptoKeyPair of HSM keys. */
export interface HsmCryptoKeyPair {
  publicKey: HsmCryptoKey;
  privateKey: HsmCryptoKey;
}
