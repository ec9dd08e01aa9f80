/**
 * @module HsmKeyStore: find the HSM's keys by label or handle, pair, persist and delete them.
 *
 * The JCE's key store in WebCrypto terms (azure-jce-the Azure Cloud HSM guides): a key's
 * label is its name (CKA_LABEL; labels need not be unique, and `getKey`
 * returns the first match, as the CAVIUM key store does); a key made
 * elsewhere (azcloudhsm_util, PKCS#11) is found by its handle. A found key is
 * an HsmCryptoKey like any other.
 *
 * PKCS#11 keys carry no WebCrypto algorithm, so one is chosen: the caller's
 * `algorithm` (as for importKey: `{ name: 'RSA-PSS', hash: 'SHA-384' }`), or,
 * without one, the key's own attributes decide — RSA with CKA_SIGN/VERIFY →
 * RSASSA-PKCS1-v1_5 with SHA-256, otherwise RSA-OAEP with SHA-256; EC with
 * CKA_DERIVE → ECDH, otherwise ECDSA; Ed25519 → Ed25519; X25519 → X25519;
 * AES with wrap/unwrap only → AES-KW, otherwise AES-GCM; a generic secret →
 * HMAC with SHA-256. The key's usages are the usage attributes that are TRUE,
 * limited to those the algorithm allows. Keys WebCrypto cannot describe
 * (DES3, secp256k1, P-192/P-224) are NotSupportedError from `fromHandle` and
 * left out of searches.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { attr, type Attribute } from '../../../protocol/src/attributes.js';
import {
  ALGORITHMS, CURVES, curveByOid, lookupAlgorithm, members, normalizeHash, USAGE_ATTRIBUTE,
  type AlgorithmFacts, type HashName, type KeyType, type NamedCurve,
} from './algorithms.js';
import { boolOf, TRANSPORT_LABEL, ulongOf, type CallOpts, type ProviderContext } from './context.js';
import { dataError, invalidAccess, notSupported } from './errors.js';
import { internalsOf, makeKey, type HsmCryptoKey, type HsmCryptoKeyPair } from './key.js';

/** The attributes a key is described by. */
const DESCRIBE: readonly number[] = [
  P.CKA_CLASS, P.CKA_KEY_TYPE, P.CKA_LABEL, P.CKA_TOKEN, P.CKA_EXTRACTABLE, P.CKA_ID,
  P.CKA_ENCRYPT, P.CKA_DECRYPT, P.CKA_SIGN, P.CKA_VERIFY, P.CKA_WRAP, P.CKA_UNWRAP, P.CKA_DERIVE,
  P.CKA_MODULUS_BITS, P.CKA_PUBLIC_EXPONENT, P.CKA_EC_PARAMS, P.CKA_VALUE_LEN, P.CKA_PUBLIC_KEY_INFO,
];

const TYPE_OF_CLASS: ReadonlyMap<number, KeyType> = new Map([[P.CKO_PUBLIC_KEY, 'public'], [P.CKO_PRIVATE_KEY, 'private'], [P.CKO_SECRET_KEY, 'secret']]);
const CLASS_OF_TYPE: Readonly<Record<KeyType, number>> = { public: P.CKO_PUBLIC_KEY, private: P.CKO_PRIVATE_KEY, secret: P.CKO_SECRET_KEY };

function inferAlgorithm(keyType: number, flags: (t: number) => boolean): AlgorithmFacts | undefined {
  switch (keyType) {
    case P.CKK_RSA:
      return flags(P.CKA_SIGN) || flags(P.CKA_VERIFY) || !(flags(P.CKA_ENCRYPT) || flags(P.CKA_DECRYPT) || flags(P.CKA_WRAP) || flags(P.CKA_UNWRAP))
        ? ALGORITHMS['RSASSA-PKCS1-v1_5'] : ALGORITHMS['RSA-OAEP'];
    case P.CKK_EC:
      return flags(P.CKA_DERIVE) ? ALGORITHMS.ECDH : ALGORITHMS.ECDSA;
    case P.CKK_EC_EDWARDS:
      return ALGORITHMS.Ed25519;
    case P.CKK_EC_MONTGOMERY:
      return ALGORITHMS.X25519;
    case P.CKK_AES:
      return (flags(P.CKA_WRAP) || flags(P.CKA_UNWRAP)) && !(flags(P.CKA_ENCRYPT) || flags(P.CKA_DECRYPT)) ? ALGORITHMS['AES-KW'] : ALGORITHMS['AES-GCM'];
    case P.CKK_GENERIC_SECRET:
      return ALGORITHMS.HMAC;
    default:
      return undefined;
  }
}

/**
 * Build the HsmCryptoKey for an HSM object. `epoch` is the connection epoch
 * the object was seen through (session objects belong to it).
 */
export async function keyFromHandle(ctx: ProviderContext, handle: number, algorithm: unknown, epoch: number, opts: CallOpts = {}): Promise<HsmCryptoKey> {
  const what = `key ${handle}`;
  const a = await ctx.attributes(handle, DESCRIBE, { ...opts, epoch });
  const cls = ulongOf(a, P.CKA_CLASS);
  const type = cls === undefined ? undefined : TYPE_OF_CLASS.get(cls);
  if (!type) throw dataError(`${what} is not a key (CKA_CLASS 0x${(cls ?? 0).toString(16)})`);
  const kt = ulongOf(a, P.CKA_KEY_TYPE)!;
  const flag = (t: number) => boolOf(a, t);
  const facts = algorithm === undefined ? inferAlgorithm(kt, flag) : lookupAlgorithm(algorithm, 'HsmKeyStore');
  if (!facts) throw notSupported(`${what}: key type 0x${kt.toString(16)} has no WebCrypto algorithm (DES3 keys are for the PKCS#11 and CLI interfaces)`);
  if (facts.keyType !== kt) throw dataError(`${what} is a key of type 0x${kt.toString(16)}, not usable as ${facts.name}`);
  if ((type === 'secret') !== (facts.family === 'aes' || facts.family === 'hmac')) throw dataError(`${what} is a ${type} key; ${facts.name} keys are not`);
  const m = members(algorithm);

  let hash: HashName | undefined;
  let curve: NamedCurve | 'Ed25519' | 'X25519' | undefined;
  let lengthBits: number | undefined;
  if (facts.family === 'rsa' || facts.family === 'hmac') hash = m.hash === undefined ? 'SHA-256' : normalizeHash(m.hash, 'HsmKeyStore').name;
  if (facts.family === 'ec' || facts.family === 'okp') {
    const params = a.get(P.CKA_EC_PARAMS);
    const c = params ? curveByOid(Buffer.from(params).toString('hex')) : undefined;
    if (!c || (facts.family === 'ec') !== (c in CURVES)) throw notSupported(`${what} is on a curve WebCrypto does not offer for ${facts.name} (P-256, P-384, P-521, Ed25519, X25519)`);
    if (m.namedCurve !== undefined && m.namedCurve !== c) throw dataError(`${what} is on ${c}, not on ${String(m.namedCurve)}`);
    curve = c;
  }
  if (type === 'secret') {
    lengthBits = (ulongOf(a, P.CKA_VALUE_LEN) ?? 0) * 8;
    if (facts.family === 'aes' && ![128, 192, 256].includes(lengthBits)) throw dataError(`${what} is not a 128-, 192- or 256-bit AES key`);
  }
  const allowed = type === 'public' ? facts.publicUsages : type === 'private' ? facts.privateUsages : facts.secretUsages;
  const usages = allowed.filter((u) => flag(USAGE_ATTRIBUTE[u]));
  const token = flag(P.CKA_TOKEN);
  return makeKey({
    type,
    extractable: type === 'public' || flag(P.CKA_EXTRACTABLE),
    usages,
    handle,
    label: Buffer.from(a.get(P.CKA_LABEL) ?? []).toString('utf8'),
    persistent: token,
    id: a.get(P.CKA_ID) ?? new Uint8Array(0),
    facts,
    ...(hash ? { hash } : {}),
    ...(curve ? { curve } : {}),
    ...(facts.family === 'rsa' ? { modulusLength: ulongOf(a, P.CKA_MODULUS_BITS) ?? 0, publicExponent: a.get(P.CKA_PUBLIC_EXPONENT) ?? new Uint8Array([1, 0, 1]) } : {}),
    ...(lengthBits !== undefined ? { lengthBits } : {}),
    ...(a.get(P.CKA_PUBLIC_KEY_INFO) ? { spki: a.get(P.CKA_PUBLIC_KEY_INFO)! } : {}),
    owner: ctx,
    epoch: token ? undefined : epoch,
  });
}

export interface KeyQuery {
  readonly label?: string;
  readonly handle?: number;
  readonly type?: KeyType;
  /** CKA_ID in hex. */
  readonly id?: string;
}

export class HsmKeyStore {
  private readonly ctx: ProviderContext;

  /** @internal Made by HsmCrypto. */
  constructor(ctx: ProviderContext) {
    this.ctx = ctx;
  }

  /** The key with this handle, seen as `algorithm` (or as its attributes suggest). */
  async fromHandle(handle: number, algorithm?: unknown, opts: { signal?: AbortSignal } = {}): Promise<HsmCryptoKey> {
    if (!Number.isSafeInteger(handle) || handle < 0) throw new TypeError('fromHandle: the handle must be a non-negative integer');
    const epoch = await this.ctx.sessionEpoch(opts.signal);
    try {
      return await keyFromHandle(this.ctx, handle, algorithm, epoch, opts);
    } catch (e) {
      if (e instanceof Error && e.name === 'HsmError') throw invalidAccess(`fromHandle: ${e.message}`, e);
      throw e;
    }
  }

  /**
   * Every key matching the query (label, CKA_ID, type), session keys of this
   * provider's session and token keys; keys `algorithm` cannot describe, and
   * the provider's own transport key, are left out.
   */
  async find(query: KeyQuery = {}, algorithm?: unknown, opts: { signal?: AbortSignal } = {}): Promise<HsmCryptoKey[]> {
    if (query.handle !== undefined) return [await this.fromHandle(query.handle, algorithm, opts)];
    const template: Attribute[] = [];
    if (query.label !== undefined) template.push(attr.utf8(P.CKA_LABEL, query.label));
    if (query.id !== undefined) template.push(attr.bytes(P.CKA_ID, Buffer.from(query.id, 'hex')));
    const classes = query.type ? [CLASS_OF_TYPE[query.type]] : [P.CKO_PRIVATE_KEY, P.CKO_PUBLIC_KEY, P.CKO_SECRET_KEY];
    const epoch = await this.ctx.sessionEpoch(opts.signal);
    const found: HsmCryptoKey[] = [];
    for (const cls of classes) {
      const { handles } = await this.ctx.call('findObjects', { template: [attr.ulong(P.CKA_CLASS, cls), ...template] }, { epoch, ...opts });
      for (const h of handles) {
        try {
          const k = await keyFromHandle(this.ctx, h, algorithm, epoch, opts);
          if (k.label !== TRANSPORT_LABEL || query.label === TRANSPORT_LABEL) found.push(k);
        } catch (e) {
          if (e instanceof DOMException && (e.name === 'NotSupportedError' || e.name === 'DataError')) continue;
          throw e;
        }
      }
    }
    return found.sort((x, y) => x.handle - y.handle);
  }

  findByLabel(label: string, algorithm?: unknown, opts: { signal?: AbortSignal } = {}): Promise<HsmCryptoKey[]> {
    if (typeof label !== 'string') throw new TypeError('findByLabel: the label must be a string');
    return this.find({ label }, algorithm, opts);
  }

  /** The first key with this label (lowest handle; private before public before secret), as the JCE key store answers. */
  async getKey(label: string, algorithm?: unknown, opts: { signal?: AbortSignal; type?: KeyType } = {}): Promise<HsmCryptoKey | undefined> {
    const all = await this.find({ label, ...(opts.type ? { type: opts.type } : {}) }, algorithm, opts);
    const rank = (k: HsmCryptoKey) => (k.type === 'private' ? 0 : k.type === 'public' ? 1 : 2);
    return all.sort((a, b) => rank(a) - rank(b) || a.handle - b.handle)[0];
  }

  /** A private key with this label and the public key that goes with it (same SubjectPublicKeyInfo). */
  async getKeyPair(label: string, algorithm?: unknown, opts: { signal?: AbortSignal } = {}): Promise<HsmCryptoKeyPair | undefined> {
    const all = await this.find({ label }, algorithm, opts);
    for (const priv of all.filter((k) => k.type === 'private')) {
      const spki = internalsOf(priv)?.spki;
      const pub = all.find((k) => k.type === 'public' && spki !== undefined && Buffer.from(internalsOf(k)?.spki ?? []).equals(Buffer.from(spki)));
      if (pub) return { publicKey: pub, privateKey: priv };
    }
    return undefined;
  }

  /** Every key this user can see (token keys, and this session's). */
  list(opts: { signal?: AbortSignal; type?: KeyType } = {}): Promise<HsmCryptoKey[]> {
    return this.find(opts.type ? { type: opts.type } : {}, undefined, opts);
  }

  /**
   * Make a session key persistent (the JCE's `Util.persistKey`): a token copy
   * (C_CopyObject with CKA_TOKEN TRUE) replaces it; the copy has a new handle.
   */
  async persist(key: HsmCryptoKey, opts: { signal?: AbortSignal } = {}): Promise<HsmCryptoKey> {
    const int = internalsOf(key);
    if (!int) throw new TypeError('persist: not an HSM key');
    if (key.persistent) return key;
    const { handle } = await this.ctx.call('copyObject', { handle: key.handle, template: [attr.bool(P.CKA_TOKEN, true)] }, { keys: [key], ...opts });
    const epoch = int.epoch!;
    const copy = await keyFromHandle(this.ctx, handle, { ...key.algorithm, name: int.facts.name }, epoch, opts);
    await this.ctx.destroy(key.handle, { keys: [key], ...opts });
    return copy;
  }

  /** Delete a key, a key pair, or an object by handle (the JCE's `Util.deleteKey`). Only the owner deletes. */
  async delete(target: HsmCryptoKey | HsmCryptoKeyPair | number, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (typeof target === 'number') {
      await this.ctx.call('destroyObject', { handle: target }, opts);
      return;
    }
    const keys = 'privateKey' in target && 'publicKey' in target ? [target.privateKey, target.publicKey] : [target as HsmCryptoKey];
    for (const k of keys) {
      if (!internalsOf(k)) throw new TypeError('delete: not an HSM key');
      await this.ctx.call('destroyObject', { handle: k.handle }, { keys: [k], ...opts });
    }
  }
}

