/**
 * @module HsmSubtleCrypto: the WebCrypto SubtleCrypto interface, every operation in the HSM.
 *
 * W3C Web Cryptography API §14 (SubtleCrypto) on the HSM's PKCS#11
 * mechanisms (README, "Mechanisms"). The algorithm facts (which mechanism,
 * which usages, which parameters) are the tables of algorithms.ts; this file
 * applies WebCrypto's checks in its order — normalize the algorithm (TypeError,
 * NotSupportedError), check the key's algorithm and usages
 * (InvalidAccessError), then run the operation (OperationError) — and maps
 * the HSM's refusals with webcrypto/errors.ts.
 *
 * HSM extensions, read from the algorithm argument of generateKey, importKey,
 * unwrapKey (the unwrapped key's algorithm) and deriveKey (the derived key's
 * algorithm), and ignored by other WebCrypto implementations:
 * `label` (CKA_LABEL; default a random UUID), `persistent` (CKA_TOKEN: a
 * token key that outlives the session; default false, a session key) and
 * `id` (CKA_ID; a generated pair gets a random one, shared by both halves).
 *
 * Decisions where WebCrypto and the HSM differ (docs/sdk.md):
 * - exportKey of an extractable secret or private key goes through C_WrapKey
 *   under a transport key (context.ts); a non-extractable key is refused.
 * - deriveBits derives an extractable generic secret in the HSM (ECDH1 with
 *   CKD_NULL: the x-coordinate, as WebCrypto's ECDH), reads it the same way,
 *   and destroys it. deriveKey never lets the secret out.
 * - wrapKey/unwrapKey run C_WrapKey/C_UnwrapKey, so the wrapped key never
 *   exists outside the HSM: formats `raw` for secret keys and `pkcs8` for
 *   private keys; `jwk` and `spki` are NotSupportedError, as is AES-CTR
 *   (CKM_AES_CTR does not wrap).
 * - AES-CBC is CKM_AES_CBC_PAD (WebCrypto pads with PKCS#7); AES-CTR whose
 *   counter wraps inside `length` bits is split into two HSM calls, as
 *   WebCrypto specifies the counter to wrap.
 * - One operation takes at most 1 MiB of data (the HSM's limit): OperationError.
 */
import type { webcrypto, JsonWebKey as NodeJsonWebKey } from 'node:crypto';

type JsonWebKey = webcrypto.JsonWebKey;
import { types as utilTypes } from 'node:util';
import * as P from '../../../protocol/src/pkcs11.js';
import { attr, type Attribute } from '../../../protocol/src/attributes.js';
import { isHsmError } from '../../../protocol/src/errors.js';
import {
  ALL_USAGES, CURVES, HASHES, bytesOf, cipherMechanism, integerMember, jwkAlg, lookupAlgorithm, members, normalizeHash, signatureMechanism, USAGE_ATTRIBUTE,
  type AlgorithmFacts, type HashName, type KeyFormat, type KeyUsage, type Mechanism, type NamedCurve,
} from './algorithms.js';
import type { ProviderContext } from './context.js';
import { dataError, invalidAccess, notSupported, operationError, syntaxError, toDomError } from './errors.js';
import { internalsOf, makeKey, type HsmCryptoKey, type HsmCryptoKeyPair, type KeyInternals } from './key.js';
import {
  ecParamsOf, parseJwkAsymmetric, parsePkcs8, parseRawPublic, parseSpki, privateMaterial, publicJwk, publicMaterial, rawPublicFromSpki,
  type AsymmetricMaterial, type CurveOf,
} from './key_codec.js';
import { keyFromHandle } from './key_store.js';

type AlgorithmIdentifier = webcrypto.AlgorithmIdentifier | Record<string, unknown>;
type BufferSource = webcrypto.BufferSource;

/**
 * The HSM's extension members of the algorithm argument of generateKey,
 * importKey, unwrapKey (unwrappedKeyAlgorithm) and deriveKey (derivedKeyAlgorithm).
 */
export interface HsmKeyParams {
  /** CKA_LABEL (default: a random UUID). */
  readonly label?: string;
  /** CKA_TOKEN: a token key that outlives the session (default false: a session key). */
  readonly persistent?: boolean;
  /** CKA_ID (default: empty; a generated pair gets 16 random bytes, shared by both halves). */
  readonly id?: webcrypto.BufferSource;
}

/** The HSM extension members, resolved. */
interface KeyAttributes {
  readonly label: string;
  readonly persistent: boolean;
  readonly id: Uint8Array | undefined;
}

const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 4096;
/** CKK_GENERIC_SECRET keys the HMAC mechanisms take: 1 to 800 bytes (hsm-core generic.ts). */
const HMAC_MAX_BITS = 6400;
const FORMATS: readonly KeyFormat[] = ['raw', 'spki', 'pkcs8', 'jwk'];

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out.buffer;
}

function keyAttributes(alg: unknown, what: string): KeyAttributes {
  const m = members(alg);
  if (m.label !== undefined && typeof m.label !== 'string') throw new TypeError(`${what}: "label" must be a string`);
  if (m.persistent !== undefined && typeof m.persistent !== 'boolean') throw new TypeError(`${what}: "persistent" must be a boolean`);
  const label = (m.label as string | undefined) ?? globalThis.crypto.randomUUID();
  if (Buffer.byteLength(label) > 256) throw operationError(`${what}: the HSM takes labels of at most 256 bytes`);
  return { label, persistent: (m.persistent as boolean | undefined) ?? false, id: m.id === undefined ? undefined : bytesOf(m.id, `${what}: id`) };
}

function usageList(usages: unknown, what: string): KeyUsage[] {
  if (!Array.isArray(usages) && !(usages !== null && typeof usages === 'object' && Symbol.iterator in usages)) throw new TypeError(`${what}: keyUsages must be a sequence of usages`);
  const out: KeyUsage[] = [];
  for (const u of usages as Iterable<unknown>) {
    if (typeof u !== 'string' || !(ALL_USAGES as readonly string[]).includes(u)) throw new TypeError(`${what}: ${JSON.stringify(u)} is not a KeyUsage`);
    if (!out.includes(u as KeyUsage)) out.push(u as KeyUsage);
  }
  return out;
}

function checkUsages(usages: readonly KeyUsage[], allowed: readonly KeyUsage[], what: string, kind: string): void {
  const bad = usages.filter((u) => !allowed.includes(u));
  if (bad.length) throw syntaxError(`${what}: ${kind} keys cannot have the usage${bad.length > 1 ? 's' : ''} ${bad.join(', ')} (allowed: ${allowed.join(', ') || 'none'})`);
}

/** CKA_CLASS, CKA_KEY_TYPE, CKA_TOKEN, CKA_LABEL, CKA_ID, the usage attributes, CKA_EXTRACTABLE. */
function baseTemplate(cls: number, keyType: number, ka: KeyAttributes, usages: readonly KeyUsage[], extractable: boolean | undefined, id?: Uint8Array): Attribute[] {
  const t: Attribute[] = [attr.ulong(P.CKA_CLASS, cls), attr.ulong(P.CKA_KEY_TYPE, keyType), attr.bool(P.CKA_TOKEN, ka.persistent), attr.utf8(P.CKA_LABEL, ka.label)];
  const idv = id ?? ka.id;
  if (idv && idv.length) t.push(attr.bytes(P.CKA_ID, idv));
  for (const a of new Set(usages.map((u) => USAGE_ATTRIBUTE[u]))) t.push(attr.bool(a, true));
  if (extractable !== undefined) t.push(attr.bool(P.CKA_EXTRACTABLE, extractable));
  return t;
}

/** Public exponent checks: the HSM takes an odd integer from 3 to 2^32 - 1. */
function publicExponent(e: Uint8Array, what: string): Uint8Array {
  let i = 0;
  while (i < e.length && e[i] === 0) i++;
  const v = e.subarray(i);
  let n = 0;
  for (const b of v) n = n * 256 + b;
  if (v.length === 0 || v.length > 4 || n < 3 || n % 2 === 0) throw operationError(`${what}: publicExponent must be an odd integer from 3 to 2^32-1 (65537 is [1, 0, 1])`);
  return Uint8Array.from(v);
}

function namedCurve(m: Record<string, unknown>, what: string): NamedCurve {
  if (typeof m.namedCurve !== 'string') throw new TypeError(`${what}: the "namedCurve" member is required`);
  if (!(m.namedCurve in CURVES)) throw notSupported(`${what}: curve ${m.namedCurve} is not offered (P-256, P-384, P-521)`);
  return m.namedCurve as NamedCurve;
}

/** HMAC key length in bits from the parameters, or the hash's block size. */
function hmacLength(m: Record<string, unknown>, hash: HashName, what: string): number {
  const bits = m.length === undefined ? HASHES[hash].blockBits : integerMember(m, 'length', what);
  if (bits === 0) throw operationError(`${what}: an HMAC key of 0 bits`);
  if (bits % 8 !== 0) throw notSupported(`${what}: the HSM makes HMAC keys of whole bytes (length ${bits} is not a multiple of 8)`);
  if (bits > HMAC_MAX_BITS) throw notSupported(`${what}: the HSM's HMAC keys are at most ${HMAC_MAX_BITS} bits`);
  return bits;
}

function aesLength(m: Record<string, unknown>, what: string): number {
  const bits = integerMember(m, 'length', what, 0xffff);
  if (bits !== 128 && bits !== 192 && bits !== 256) throw operationError(`${what}: AES keys are 128, 192 or 256 bits (got ${bits})`);
  return bits;
}

/** Where the result of each HSM refusal lands, for `run`. */
type TemplateErrorName = 'DataError' | 'OperationError';

export class HsmSubtleCrypto implements webcrypto.SubtleCrypto {
  private readonly ctx: ProviderContext;

  /** @internal Made by HsmCrypto. */
  constructor(ctx: ProviderContext) {
    this.ctx = ctx;
  }

  /* ───────────────────────────── key generation ───────────────────────────── */

  generateKey(algorithm: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams, extractable: boolean, keyUsages: readonly webcrypto.KeyUsage[]): Promise<HsmCryptoKeyPair>;
  generateKey(algorithm: (webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams) & HsmKeyParams, extractable: boolean, keyUsages: readonly webcrypto.KeyUsage[]): Promise<HsmCryptoKeyPair>;
  generateKey(algorithm: webcrypto.AesKeyGenParams | webcrypto.HmacKeyGenParams | webcrypto.Pbkdf2Params, extractable: boolean, keyUsages: readonly webcrypto.KeyUsage[]): Promise<HsmCryptoKey>;
  generateKey(algorithm: (webcrypto.AesKeyGenParams | webcrypto.HmacKeyGenParams | webcrypto.Pbkdf2Params) & HsmKeyParams, extractable: boolean, keyUsages: readonly webcrypto.KeyUsage[]): Promise<HsmCryptoKey>;
  generateKey(algorithm: AlgorithmIdentifier, extractable: boolean, keyUsages: webcrypto.KeyUsage[]): Promise<HsmCryptoKeyPair | HsmCryptoKey>;
  async generateKey(algorithm: unknown, extractable: boolean, keyUsages: Iterable<webcrypto.KeyUsage>): Promise<HsmCryptoKeyPair | HsmCryptoKey> {
    const what = 'generateKey';
    const facts = lookupAlgorithm(algorithm, what);
    const m = members(algorithm);
    const usages = usageList(keyUsages, what);
    const ka = keyAttributes(algorithm, what);
    const ext = Boolean(extractable);
    return this.run(what, 'OperationError', async () => {
      if (facts.family === 'aes' || facts.family === 'hmac') {
        let hash: HashName | undefined;
        let bits: number;
        if (facts.family === 'aes') bits = aesLength(m, what);
        else {
          hash = normalizeHash(m.hash, what).name;
          bits = hmacLength(m, hash, what);
        }
        checkUsages(usages, facts.secretUsages, what, facts.name);
        if (usages.length === 0) throw syntaxError(`${what}: a secret key needs at least one usage`);
        const epoch = ka.persistent ? undefined : await this.ctx.sessionEpoch();
        const template = [...baseTemplate(P.CKO_SECRET_KEY, facts.keyType, ka, usages, ext), attr.ulong(P.CKA_VALUE_LEN, bits / 8)];
        const mechanism = facts.family === 'aes' ? P.CKM_AES_KEY_GEN : P.CKM_GENERIC_SECRET_KEY_GEN;
        const { handle } = await this.ctx.call('generateKey', { mechanism: { mechanism }, template }, epoch === undefined ? {} : { epoch });
        return makeKey({ type: 'secret', extractable: ext, usages, handle, label: ka.label, persistent: ka.persistent, id: ka.id ?? new Uint8Array(0), facts, ...(hash ? { hash } : {}), lengthBits: bits, owner: this.ctx, epoch });
      }
      /* Key pairs. */
      let mechanism: number;
      let pubExtra: Attribute[];
      let hash: HashName | undefined;
      let curve: CurveOf | undefined;
      let modulusLength: number | undefined;
      let exponent: Uint8Array | undefined;
      if (facts.family === 'rsa') {
        modulusLength = integerMember(m, 'modulusLength', what);
        if (m.publicExponent === undefined) throw new TypeError(`${what}: the "publicExponent" member is required`);
        exponent = publicExponent(bytesOf(m.publicExponent, `${what}: publicExponent`), what);
        hash = normalizeHash(m.hash, what).name;
        if (modulusLength < RSA_MIN_BITS || modulusLength > RSA_MAX_BITS || modulusLength % 256 !== 0) {
          throw notSupported(`${what}: ${facts.name} with a ${modulusLength}-bit modulus: the HSM makes RSA keys of ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits in steps of 256`);
        }
        mechanism = P.CKM_RSA_PKCS_KEY_PAIR_GEN;
        pubExtra = [attr.ulong(P.CKA_MODULUS_BITS, modulusLength), attr.bytes(P.CKA_PUBLIC_EXPONENT, exponent)];
      } else {
        curve = facts.family === 'ec' ? namedCurve(m, what) : (facts.name as 'Ed25519' | 'X25519');
        mechanism = P.CKM_EC_KEY_PAIR_GEN;
        pubExtra = [attr.bytes(P.CKA_EC_PARAMS, ecParamsOf(curve))];
      }
      checkUsages(usages, [...facts.publicUsages, ...facts.privateUsages], what, facts.name);
      const pubUsages = usages.filter((u) => facts.publicUsages.includes(u));
      const privUsages = usages.filter((u) => facts.privateUsages.includes(u));
      if (privUsages.length === 0) throw syntaxError(`${what}: the private key needs at least one usage (${facts.privateUsages.join(', ')})`);
      const id = ka.id ?? globalThis.crypto.getRandomValues(new Uint8Array(16));
      const epoch = ka.persistent ? undefined : await this.ctx.sessionEpoch();
      const r = await this.ctx.call('generateKeyPair', {
        mechanism: { mechanism },
        publicTemplate: [...baseTemplate(P.CKO_PUBLIC_KEY, facts.keyType, ka, pubUsages, undefined, id), ...pubExtra],
        privateTemplate: baseTemplate(P.CKO_PRIVATE_KEY, facts.keyType, ka, privUsages, ext, id),
      }, epoch === undefined ? {} : { epoch });
      const common = {
        label: ka.label, persistent: ka.persistent, id, facts, owner: this.ctx, epoch,
        ...(hash ? { hash } : {}), ...(curve ? { curve } : {}),
        ...(modulusLength !== undefined ? { modulusLength, publicExponent: exponent! } : {}),
      };
      return {
        publicKey: makeKey({ ...common, type: 'public', extractable: true, usages: pubUsages, handle: r.publicHandle }),
        privateKey: makeKey({ ...common, type: 'private', extractable: ext, usages: privUsages, handle: r.privateHandle }),
      };
    });
  }

  /* ───────────────────────────── sign / verify ───────────────────────────── */

  async sign(algorithm: AlgorithmIdentifier | webcrypto.RsaPssParams | webcrypto.EcdsaParams, key: webcrypto.CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
    const what = 'sign';
    const facts = lookupAlgorithm(algorithm, what);
    const bytes = bytesOf(data, `${what}: data`);
    const { key: k, int } = this.own(key, what);
    this.checkKeyFor(k, int, facts, 'sign', what);
    const mechanism = signatureMechanism(facts, algorithm, int.hash, what);
    return this.run(what, 'OperationError', async () => {
      const r = await this.ctx.call('sign', { mechanism, handle: k.handle, data: bytes }, { keys: [k] });
      return toArrayBuffer(r.signature);
    });
  }

  async verify(algorithm: AlgorithmIdentifier | webcrypto.RsaPssParams | webcrypto.EcdsaParams, key: webcrypto.CryptoKey, signature: BufferSource, data: BufferSource): Promise<boolean> {
    const what = 'verify';
    const facts = lookupAlgorithm(algorithm, what);
    const sig = bytesOf(signature, `${what}: signature`);
    const bytes = bytesOf(data, `${what}: data`);
    const { key: k, int } = this.own(key, what);
    this.checkKeyFor(k, int, facts, 'verify', what);
    const mechanism = signatureMechanism(facts, algorithm, int.hash, what);
    return this.run(what, 'OperationError', async () => {
      try {
        await this.ctx.call('verify', { mechanism, handle: k.handle, data: bytes, signature: sig }, { keys: [k] });
        return true;
      } catch (e) {
        /* A wrong signature, or one of the wrong length, is a false answer, not an error (WebCrypto §14.3.4). */
        if (isHsmError(e, 'ERR_SIGNATURE_INVALID') || isHsmError(e, 'ERR_SIGNATURE_LEN_RANGE')) return false;
        throw e;
      }
    });
  }

  /* ───────────────────────────── encrypt / decrypt ───────────────────────────── */

  async encrypt(algorithm: AlgorithmIdentifier | webcrypto.RsaOaepParams | webcrypto.AesCtrParams | webcrypto.AesCbcParams | webcrypto.AesGcmParams, key: webcrypto.CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
    return this.cipher('encrypt', algorithm, key, data);
  }

  async decrypt(algorithm: AlgorithmIdentifier | webcrypto.RsaOaepParams | webcrypto.AesCtrParams | webcrypto.AesCbcParams | webcrypto.AesGcmParams, key: webcrypto.CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
    return this.cipher('decrypt', algorithm, key, data);
  }

  private async cipher(op: 'encrypt' | 'decrypt', algorithm: unknown, key: webcrypto.CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
    const facts = lookupAlgorithm(algorithm, op);
    const bytes = bytesOf(data, `${op}: data`);
    const { key: k, int } = this.own(key, op);
    if (facts.name === 'AES-KW') throw notSupported(`${op}: AES-KW only wraps keys (WebCrypto offers no encrypt or decrypt with it)`);
    this.checkKeyFor(k, int, facts, op, op);
    const mechanism = cipherMechanism(facts, algorithm, int.hash, op);
    if (op === 'decrypt' && mechanism.tagBits !== undefined && bytes.length < mechanism.tagBits / 8) throw operationError(`decrypt: the data is shorter than the ${mechanism.tagBits}-bit tag`);
    return this.run(op, 'OperationError', async () => {
      if (mechanism.mechanism === P.CKM_AES_CTR) return toArrayBuffer(await this.ctr(op, k, mechanism, bytes));
      const r = await this.ctx.call(op, { mechanism, handle: k.handle, data: bytes }, { keys: [k] });
      return toArrayBuffer(r.data);
    });
  }

  /**
   * AES-CTR: WebCrypto wraps the counter within its low `length` bits; the
   * HSM refuses data that would carry out of them. Data that wraps is sent as
   * two calls, the second with the counter bits at zero; more blocks than
   * the counter has values is an OperationError (the keystream would repeat).
   */
  private async ctr(op: 'encrypt' | 'decrypt', k: HsmCryptoKey, mechanism: Mechanism, data: Uint8Array): Promise<Uint8Array> {
    const bits = BigInt(mechanism.counterBits!);
    const counter = mechanism.iv!;
    const mask = (1n << bits) - 1n;
    const value = BigInt('0x' + Buffer.from(counter).toString('hex'));
    const blocks = BigInt(Math.ceil(data.length / 16));
    if (blocks > 1n << bits) throw operationError(`${op}: ${data.length} bytes need more than the 2^${bits} counter values of a ${bits}-bit AES-CTR counter`);
    const before = (1n << bits) - (value & mask);
    const call = async (iv: Uint8Array, part: Uint8Array) => (await this.ctx.call(op, { mechanism: { ...mechanism, iv }, handle: k.handle, data: part }, { keys: [k] })).data;
    if (blocks <= before) return call(counter, data);
    const split = Number(before) * 16;
    const wrapped = Buffer.from((value & ~mask & ((1n << 128n) - 1n)).toString(16).padStart(32, '0'), 'hex');
    return Buffer.concat([await call(counter, data.subarray(0, split)), await call(wrapped, data.subarray(split))]);
  }

  /* ───────────────────────────── digest ───────────────────────────── */

  async digest(algorithm: webcrypto.AlgorithmIdentifier, data: BufferSource): Promise<ArrayBuffer> {
    const h = normalizeHash(algorithm, 'digest');
    const bytes = bytesOf(data, 'digest: data');
    return this.run('digest', 'OperationError', async () => {
      const r = await this.ctx.call('digest', { mechanism: { mechanism: h.digest }, data: bytes }, { login: false });
      return toArrayBuffer(r.digest);
    });
  }

  /* ───────────────────────────── import / export ───────────────────────────── */

  importKey(format: 'jwk', keyData: JsonWebKey, algorithm: AlgorithmIdentifier | ((webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.HmacImportParams | webcrypto.AesKeyAlgorithm) & HsmKeyParams), extractable: boolean, keyUsages: readonly webcrypto.KeyUsage[]): Promise<HsmCryptoKey>;
  importKey(format: Exclude<webcrypto.KeyFormat, 'jwk'>, keyData: BufferSource, algorithm: AlgorithmIdentifier | ((webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.HmacImportParams | webcrypto.AesKeyAlgorithm) & HsmKeyParams), extractable: boolean, keyUsages: readonly webcrypto.KeyUsage[]): Promise<HsmCryptoKey>;
  async importKey(format: webcrypto.KeyFormat, keyData: unknown, algorithm: unknown, extractable: boolean, keyUsages: Iterable<webcrypto.KeyUsage>): Promise<HsmCryptoKey> {
    const what = 'importKey';
    const fmt = this.format(format, what);
    const facts = lookupAlgorithm(algorithm, what);
    const usages = usageList(keyUsages, what);
    const ka = keyAttributes(algorithm, what);
    const m = members(algorithm);
    const ext = Boolean(extractable);
    if (fmt === 'jwk' && (typeof keyData !== 'object' || keyData === null || ArrayBuffer.isView(keyData) || keyData instanceof ArrayBuffer)) throw new TypeError(`${what}: a jwk must be a JsonWebKey object`);
    if (fmt !== 'jwk' && (typeof keyData !== 'object' || keyData === null || !(ArrayBuffer.isView(keyData) || keyData instanceof ArrayBuffer))) throw new TypeError(`${what}: the key data must be a BufferSource`);
    return this.run(what, 'DataError', async () => {
      if (facts.family === 'aes' || facts.family === 'hmac') return this.importSecret(fmt, keyData, facts, m, ka, ext, usages);
      return this.importAsymmetric(fmt, keyData, facts, m, ka, ext, usages);
    });
  }

  private async importSecret(fmt: KeyFormat, keyData: unknown, facts: AlgorithmFacts, m: Record<string, unknown>, ka: KeyAttributes, ext: boolean, usages: KeyUsage[]): Promise<HsmCryptoKey> {
    const what = 'importKey';
    if (fmt !== 'raw' && fmt !== 'jwk') throw notSupported(`${what}: ${facts.name} keys are imported as raw or jwk, not ${fmt}`);
    let value: Uint8Array;
    const hash = facts.family === 'hmac' ? normalizeHash(m.hash, what).name : undefined;
    if (fmt === 'jwk') {
      const jwk = keyData as JsonWebKey;
      if (jwk.kty !== 'oct') throw dataError(`${what}: a secret-key JWK has kty "oct"`);
      value = Buffer.from(String(jwk.k ?? ''), 'base64url');
      this.checkJwk(jwk, facts, hash, value.length * 8, ext, usages, what);
    } else value = bytesOf(keyData, `${what}: key data`);
    let bits = value.length * 8;
    if (facts.family === 'aes') {
      if (![128, 192, 256].includes(bits)) throw dataError(`${what}: AES keys are 16, 24 or 32 bytes (got ${value.length})`);
    } else {
      if (value.length === 0) throw dataError(`${what}: an empty HMAC key`);
      if (m.length !== undefined) {
        const len = integerMember(m, 'length', what);
        if (len > bits || len <= bits - 8) throw dataError(`${what}: length ${len} does not match ${value.length} bytes of key data`);
        bits = len;
      }
      if (bits % 8 !== 0) throw notSupported(`${what}: the HSM's HMAC keys are whole bytes`);
      if (bits > HMAC_MAX_BITS) throw notSupported(`${what}: the HSM's HMAC keys are at most ${HMAC_MAX_BITS} bits`);
    }
    checkUsages(usages, facts.secretUsages, what, facts.name);
    if (usages.length === 0) throw syntaxError(`${what}: a secret key needs at least one usage`);
    const epoch = ka.persistent ? undefined : await this.ctx.sessionEpoch();
    const template = [...baseTemplate(P.CKO_SECRET_KEY, facts.keyType, ka, usages, ext), attr.bytes(P.CKA_VALUE, value)];
    const { handle } = await this.ctx.call('createObject', { template }, epoch === undefined ? {} : { epoch });
    return makeKey({ type: 'secret', extractable: ext, usages, handle, label: ka.label, persistent: ka.persistent, id: ka.id ?? new Uint8Array(0), facts, ...(hash ? { hash } : {}), lengthBits: bits, owner: this.ctx, epoch });
  }

  private async importAsymmetric(fmt: KeyFormat, keyData: unknown, facts: AlgorithmFacts, m: Record<string, unknown>, ka: KeyAttributes, ext: boolean, usages: KeyUsage[]): Promise<HsmCryptoKey> {
    const what = 'importKey';
    const hash = facts.family === 'rsa' ? normalizeHash(m.hash, what).name : undefined;
    const curve: CurveOf | undefined = facts.family === 'ec' ? namedCurve(m, what) : facts.family === 'okp' ? (facts.name as 'Ed25519' | 'X25519') : undefined;
    let type: 'public' | 'private';
    let material: AsymmetricMaterial;
    switch (fmt) {
      case 'spki':
        type = 'public';
        material = publicMaterial(parseSpki(bytesOf(keyData, `${what}: key data`), what), facts, curve, what);
        break;
      case 'pkcs8':
        type = 'private';
        material = privateMaterial(parsePkcs8(bytesOf(keyData, `${what}: key data`), what), facts, curve, what);
        break;
      case 'raw':
        if (facts.family === 'rsa') throw notSupported(`${what}: ${facts.name} keys are not imported raw (use spki, pkcs8 or jwk)`);
        type = 'public';
        material = publicMaterial(parseRawPublic(bytesOf(keyData, `${what}: key data`), facts, curve!, what), facts, curve, what);
        break;
      case 'jwk': {
        const jwk = keyData as JsonWebKey;
        const parsed = parseJwkAsymmetric(jwk as NodeJsonWebKey, facts, what);
        type = parsed.isPrivate ? 'private' : 'public';
        if (facts.family === 'ec' && jwk.crv !== curve) throw dataError(`${what}: the JWK's crv ${String(jwk.crv)} is not the namedCurve ${curve}`);
        material = type === 'private' ? privateMaterial(parsed.key, facts, curve, what) : publicMaterial(parsed.key, facts, curve, what);
        this.checkJwk(jwk, facts, hash, undefined, ext, usages, what);
        break;
      }
    }
    const allowed = type === 'public' ? facts.publicUsages : facts.privateUsages;
    checkUsages(usages, allowed, what, `${facts.name} ${type}`);
    if (type === 'private' && usages.length === 0) throw syntaxError(`${what}: a private key needs at least one usage (${facts.privateUsages.join(', ')})`);
    const epoch = ka.persistent ? undefined : await this.ctx.sessionEpoch();
    const cls = type === 'public' ? P.CKO_PUBLIC_KEY : P.CKO_PRIVATE_KEY;
    const template = [...baseTemplate(cls, facts.keyType, ka, usages, type === 'private' ? ext : undefined), ...material.template];
    const { handle } = await this.ctx.call('createObject', { template }, epoch === undefined ? {} : { epoch });
    return makeKey({
      type, extractable: type === 'public' ? true : ext, usages, handle, label: ka.label, persistent: ka.persistent, id: ka.id ?? new Uint8Array(0), facts,
      ...(hash ? { hash } : {}), ...(material.curve ? { curve: material.curve } : {}),
      ...(material.modulusLength !== undefined ? { modulusLength: material.modulusLength, publicExponent: material.publicExponent! } : {}),
      spki: material.spki, owner: this.ctx, epoch,
    });
  }

  /** WebCrypto's JWK checks: `ext`, `key_ops`, `use`, `alg` against the import. */
  private checkJwk(jwk: JsonWebKey, facts: AlgorithmFacts, hash: HashName | undefined, lengthBits: number | undefined, ext: boolean, usages: readonly KeyUsage[], what: string): void {
    if (jwk.ext === false && ext) throw dataError(`${what}: the JWK has ext false, so the key cannot be extractable`);
    const ops: unknown = jwk.key_ops;
    if (ops !== undefined) {
      if (!Array.isArray(ops)) throw dataError(`${what}: the JWK's key_ops is not a list`);
      const missing = usages.filter((u) => !ops.includes(u));
      if (missing.length) throw dataError(`${what}: the JWK's key_ops do not include ${missing.join(', ')}`);
    }
    if (jwk.use !== undefined && usages.length) {
      const wanted = usages.some((u) => u === 'sign' || u === 'verify') ? 'sig' : 'enc';
      if (jwk.use !== wanted) throw dataError(`${what}: the JWK's use is "${jwk.use}", not "${wanted}"`);
    }
    const expected = jwkAlg(facts.name, hash, lengthBits);
    if (jwk.alg !== undefined && expected !== undefined && jwk.alg !== expected && !(facts.name === 'Ed25519' && jwk.alg === 'EdDSA')) throw dataError(`${what}: the JWK's alg "${jwk.alg}" does not match ${facts.name}${hash ? ` with ${hash}` : ''} (${expected})`);
  }

  exportKey(format: 'jwk', key: webcrypto.CryptoKey): Promise<JsonWebKey>;
  exportKey(format: Exclude<webcrypto.KeyFormat, 'jwk'>, key: webcrypto.CryptoKey): Promise<ArrayBuffer>;
  async exportKey(format: webcrypto.KeyFormat, key: webcrypto.CryptoKey): Promise<ArrayBuffer | JsonWebKey> {
    const what = 'exportKey';
    const fmt = this.format(format, what);
    const { key: k, int } = this.own(key, what);
    if (!k.extractable) throw invalidAccess(`${what}: key ${k.handle} is not extractable (CKA_EXTRACTABLE FALSE): its material never leaves the HSM`);
    return this.run(what, 'OperationError', async () => {
      const jwkCommon = () => {
        const alg = jwkAlg(int.facts.name, int.hash, int.lengthBits);
        return { ...(alg ? { alg } : {}), ext: k.extractable, key_ops: [...k.usages] };
      };
      if (k.type === 'public') {
        if (fmt === 'pkcs8') throw invalidAccess(`${what}: a public key has no pkcs8 form`);
        const spki = await this.spkiOf(k, int);
        if (fmt === 'spki') return toArrayBuffer(spki);
        if (fmt === 'raw') {
          if (int.facts.family === 'rsa') throw notSupported(`${what}: RSA public keys are exported as spki or jwk, not raw`);
          return toArrayBuffer(rawPublicFromSpki(spki, int.curve!));
        }
        return { ...publicJwk(spki), ...jwkCommon() };
      }
      if (k.type === 'private') {
        if (fmt === 'spki' || fmt === 'raw') throw invalidAccess(`${what}: a private key is exported as pkcs8 or jwk, not ${fmt}`);
        const pkcs8 = await this.ctx.extract(k);
        try {
          if (fmt === 'pkcs8') return toArrayBuffer(pkcs8);
          return { ...parsePkcs8(pkcs8, what).export({ format: 'jwk' }), ...jwkCommon() };
        } finally {
          pkcs8.fill(0);
        }
      }
      if (fmt === 'spki' || fmt === 'pkcs8') throw notSupported(`${what}: a secret key is exported as raw or jwk, not ${fmt}`);
      const value = await this.ctx.extract(k);
      try {
        if (fmt === 'raw') return toArrayBuffer(value);
        return { kty: 'oct', k: value.toString('base64url'), ...jwkCommon() };
      } finally {
        value.fill(0);
      }
    });
  }

  /* ───────────────────────────── wrap / unwrap ───────────────────────────── */

  async wrapKey(format: webcrypto.KeyFormat, key: webcrypto.CryptoKey, wrappingKey: webcrypto.CryptoKey, wrapAlgorithm: AlgorithmIdentifier | webcrypto.RsaOaepParams | webcrypto.AesCtrParams | webcrypto.AesCbcParams | webcrypto.AesGcmParams): Promise<ArrayBuffer> {
    const what = 'wrapKey';
    const fmt = this.format(format, what);
    const facts = lookupAlgorithm(wrapAlgorithm, what);
    const { key: wk, int: wint } = this.own(wrappingKey, what);
    const { key: k } = this.own(key, what);
    this.checkKeyFor(wk, wint, facts, 'wrapKey', what);
    if (!k.extractable) throw invalidAccess(`${what}: key ${k.handle} is not extractable`);
    if (!facts.wraps) throw notSupported(`${what}: ${facts.name} does not wrap in the HSM (use AES-KW, AES-GCM, AES-CBC or RSA-OAEP)`);
    if (!((fmt === 'raw' && k.type === 'secret') || (fmt === 'pkcs8' && k.type === 'private'))) {
      throw notSupported(`${what}: the HSM wraps secret keys as raw and private keys as pkcs8 (not a ${k.type} key as ${fmt}), so that the key never leaves it unwrapped`);
    }
    const mechanism = cipherMechanism(facts, wrapAlgorithm, wint.hash, what);
    return this.run(what, 'OperationError', async () => {
      const r = await this.ctx.call('wrapKey', { mechanism, wrappingHandle: wk.handle, keyHandle: k.handle }, { keys: [wk, k] });
      return toArrayBuffer(r.wrapped);
    });
  }

  async unwrapKey(
    format: webcrypto.KeyFormat,
    wrappedKey: BufferSource,
    unwrappingKey: webcrypto.CryptoKey,
    unwrapAlgorithm: AlgorithmIdentifier | webcrypto.RsaOaepParams | webcrypto.AesCtrParams | webcrypto.AesCbcParams | webcrypto.AesGcmParams,
    unwrappedKeyAlgorithm: AlgorithmIdentifier | ((webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.HmacImportParams | webcrypto.AesKeyAlgorithm) & HsmKeyParams),
    extractable: boolean,
    keyUsages: readonly webcrypto.KeyUsage[],
  ): Promise<HsmCryptoKey> {
    const what = 'unwrapKey';
    const fmt = this.format(format, what);
    const facts = lookupAlgorithm(unwrapAlgorithm, what);
    const target = lookupAlgorithm(unwrappedKeyAlgorithm, what);
    const wrapped = bytesOf(wrappedKey, `${what}: wrappedKey`);
    const usages = usageList(keyUsages, what);
    const ka = keyAttributes(unwrappedKeyAlgorithm, what);
    const tm = members(unwrappedKeyAlgorithm);
    const { key: uk, int: uint } = this.own(unwrappingKey, what);
    this.checkKeyFor(uk, uint, facts, 'unwrapKey', what);
    if (!facts.wraps) throw notSupported(`${what}: ${facts.name} does not unwrap in the HSM (use AES-KW, AES-GCM, AES-CBC or RSA-OAEP)`);
    const secret = target.family === 'aes' || target.family === 'hmac';
    if (!((fmt === 'raw' && secret) || (fmt === 'pkcs8' && !secret))) {
      throw notSupported(`${what}: the HSM unwraps secret keys from raw and private keys from pkcs8 (not ${target.name} from ${fmt})`);
    }
    const mechanism = cipherMechanism(facts, unwrapAlgorithm, uint.hash, what);
    const ext = Boolean(extractable);
    return this.run(what, 'OperationError', async () => {
      let extra: Attribute[] = [];
      if (target.family === 'hmac') normalizeHash(tm.hash, what);
      if (target.family === 'rsa') normalizeHash(tm.hash, what);
      if (target.family === 'ec') extra = [attr.bytes(P.CKA_EC_PARAMS, ecParamsOf(namedCurve(tm, what)))];
      const allowed = secret ? target.secretUsages : target.privateUsages;
      checkUsages(usages, allowed, what, `${target.name} ${secret ? 'secret' : 'private'}`);
      if (usages.length === 0) throw syntaxError(`${what}: the unwrapped key needs at least one usage`);
      const epoch = ka.persistent ? undefined : await this.ctx.sessionEpoch();
      const template = [...baseTemplate(secret ? P.CKO_SECRET_KEY : P.CKO_PRIVATE_KEY, target.keyType, ka, usages, ext), ...extra];
      const { handle } = await this.ctx.call('unwrapKey', { mechanism, unwrappingHandle: uk.handle, wrapped, template }, { keys: [uk], ...(epoch === undefined ? {} : { epoch }) });
      try {
        const k = await keyFromHandle(this.ctx, handle, unwrappedKeyAlgorithm, epoch ?? this.ctx.client.epoch);
        if (target.family === 'hmac' && tm.length !== undefined && tm.length !== internalsOf(k)!.lengthBits) throw dataError(`${what}: the unwrapped HMAC key is ${internalsOf(k)!.lengthBits} bits, not ${String(tm.length)}`);
        return k;
      } catch (e) {
        await this.ctx.destroy(handle, epoch === undefined ? {} : { epoch }).catch(() => undefined);
        throw e;
      }
    });
  }

  /* ───────────────────────────── derive ───────────────────────────── */

  async deriveBits(algorithm: AlgorithmIdentifier | webcrypto.EcdhKeyDeriveParams, baseKey: webcrypto.CryptoKey, length?: number | null): Promise<ArrayBuffer> {
    const what = 'deriveBits';
    const { k, point, fullBytes } = await this.ecdhInputs(algorithm, baseKey, 'deriveBits', what);
    let bits: number;
    if (length === null || length === undefined) bits = fullBytes * 8;
    else {
      if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) throw new TypeError(`${what}: length must be a non-negative integer or null`);
      bits = length;
    }
    if (bits > fullBytes * 8) throw operationError(`${what}: ${bits} bits asked, the shared secret has ${fullBytes * 8}`);
    if (bits % 8 !== 0) throw notSupported(`${what}: the HSM derives whole bytes (length ${bits} is not a multiple of 8)`);
    if (bits === 0) return new ArrayBuffer(0);
    return this.run(what, 'OperationError', async () => {
      /* An extractable session generic secret holds the bits just long enough to be read out, then goes. */
      const epoch = await this.ctx.sessionEpoch();
      const template = [
        attr.ulong(P.CKA_CLASS, P.CKO_SECRET_KEY), attr.ulong(P.CKA_KEY_TYPE, P.CKK_GENERIC_SECRET), attr.ulong(P.CKA_VALUE_LEN, bits / 8),
        attr.bool(P.CKA_TOKEN, false), attr.bool(P.CKA_EXTRACTABLE, true), attr.utf8(P.CKA_LABEL, 'opencloudhsm-sdk-derived-bits'),
      ];
      const { handle } = await this.ctx.call('deriveKey', { mechanism: { mechanism: P.CKM_ECDH1_DERIVE, kdf: P.CKD_NULL, publicData: point }, baseHandle: k.handle, template }, { keys: [k], epoch });
      try {
        const secret = makeKey({
          type: 'secret', extractable: true, usages: [], handle, label: '', persistent: false, id: new Uint8Array(0),
          facts: { name: 'HMAC', family: 'hmac', keyType: P.CKK_GENERIC_SECRET, publicUsages: [], privateUsages: [], secretUsages: [], wraps: false },
          hash: 'SHA-256', lengthBits: bits, owner: this.ctx, epoch,
        });
        const value = await this.ctx.extract(secret);
        try {
          return toArrayBuffer(value);
        } finally {
          value.fill(0);
        }
      } finally {
        await this.ctx.destroy(handle, { epoch }).catch(() => undefined);
      }
    });
  }

  async deriveKey(
    algorithm: AlgorithmIdentifier | webcrypto.EcdhKeyDeriveParams,
    baseKey: webcrypto.CryptoKey,
    derivedKeyAlgorithm: AlgorithmIdentifier | ((webcrypto.AesDerivedKeyParams | webcrypto.HmacImportParams) & HsmKeyParams),
    extractable: boolean,
    keyUsages: readonly webcrypto.KeyUsage[],
  ): Promise<HsmCryptoKey> {
    const what = 'deriveKey';
    const target = lookupAlgorithm(derivedKeyAlgorithm, what);
    const usages = usageList(keyUsages, what);
    const ka = keyAttributes(derivedKeyAlgorithm, what);
    const tm = members(derivedKeyAlgorithm);
    if (target.family !== 'aes' && target.family !== 'hmac') throw notSupported(`${what}: ${target.name} keys cannot be derived (AES-* and HMAC can)`);
    const hash = target.family === 'hmac' ? normalizeHash(tm.hash, what).name : undefined;
    const bits = target.family === 'aes' ? aesLength(tm, what) : hmacLength(tm, hash!, what);
    const { k, point, fullBytes } = await this.ecdhInputs(algorithm, baseKey, 'deriveKey', what);
    checkUsages(usages, target.secretUsages, what, target.name);
    if (usages.length === 0) throw syntaxError(`${what}: a secret key needs at least one usage`);
    if (bits > fullBytes * 8) throw operationError(`${what}: a ${bits}-bit key asks more than the ${fullBytes * 8} bits of the shared secret`);
    const ext = Boolean(extractable);
    return this.run(what, 'OperationError', async () => {
      const epoch = ka.persistent ? undefined : await this.ctx.sessionEpoch();
      const template = [...baseTemplate(P.CKO_SECRET_KEY, target.keyType, ka, usages, ext), attr.ulong(P.CKA_VALUE_LEN, bits / 8)];
      const { handle } = await this.ctx.call('deriveKey', { mechanism: { mechanism: P.CKM_ECDH1_DERIVE, kdf: P.CKD_NULL, publicData: point }, baseHandle: k.handle, template }, { keys: [k], ...(epoch === undefined ? {} : { epoch }) });
      return makeKey({ type: 'secret', extractable: ext, usages, handle, label: ka.label, persistent: ka.persistent, id: ka.id ?? new Uint8Array(0), facts: target, ...(hash ? { hash } : {}), lengthBits: bits, owner: this.ctx, epoch });
    });
  }

  /** ECDH / X25519: the base key, the peer's raw point, the secret's full length. */
  private async ecdhInputs(algorithm: unknown, baseKey: webcrypto.CryptoKey, usage: 'deriveBits' | 'deriveKey', what: string): Promise<{ k: HsmCryptoKey; point: Uint8Array; fullBytes: number }> {
    const facts = lookupAlgorithm(algorithm, what);
    if (facts.name !== 'ECDH' && facts.name !== 'X25519') throw notSupported(`${what}: ${facts.name} does not derive (ECDH and X25519 do)`);
    const pub = members(algorithm).public;
    if (typeof pub !== 'object' || pub === null) throw new TypeError(`${what}: the "public" member (the peer's public CryptoKey) is required`);
    const { key: k, int } = this.own(baseKey, what);
    this.checkKeyFor(k, int, facts, usage, what);
    const peer = pub as webcrypto.CryptoKey;
    if (peer.type !== 'public') throw invalidAccess(`${what}: "public" must be a public key`);
    if (peer.algorithm?.name !== facts.name) throw invalidAccess(`${what}: "public" is for ${String(peer.algorithm?.name)}, not ${facts.name}`);
    const curve = int.curve!;
    const peerCurve = facts.name === 'X25519' ? 'X25519' : (peer.algorithm as { namedCurve?: string }).namedCurve;
    if (peerCurve !== curve) throw invalidAccess(`${what}: "public" is on ${String(peerCurve)}, the base key on ${curve}`);
    let point: Uint8Array;
    const pint = internalsOf(peer);
    if (pint) point = rawPublicFromSpki(await this.spkiOf(peer as HsmCryptoKey, pint), curve);
    else if (utilTypes.isCryptoKey(peer)) point = new Uint8Array(await globalThis.crypto.subtle.exportKey('raw', peer));
    else throw new TypeError(`${what}: "public" must be a CryptoKey`);
    return { k, point, fullBytes: curve === 'X25519' ? 32 : CURVES[curve as NamedCurve].bytes };
  }

  /* ───────────────────────────── helpers ───────────────────────────── */

  private format(format: unknown, what: string): KeyFormat {
    if (typeof format !== 'string' || !(FORMATS as readonly string[]).includes(format)) throw new TypeError(`${what}: the format must be raw, spki, pkcs8 or jwk`);
    return format as KeyFormat;
  }

  /** The key as one of ours; TypeError for a non-key, InvalidAccessError for another provider's key. */
  private own(key: unknown, what: string): { key: HsmCryptoKey; int: KeyInternals } {
    const int = internalsOf(key);
    if (int) return { key: key as HsmCryptoKey, int };
    if (utilTypes.isCryptoKey(key)) throw invalidAccess(`${what}: the key belongs to another WebCrypto provider, not to the HSM (import it first)`);
    throw new TypeError(`${what}: the key must be a CryptoKey`);
  }

  /** WebCrypto's key checks: the key's algorithm is the operation's, and it has the usage. */
  private checkKeyFor(k: HsmCryptoKey, int: KeyInternals, facts: AlgorithmFacts, usage: KeyUsage, what: string): void {
    if (int.facts.name !== facts.name) throw invalidAccess(`${what}: key ${k.handle} is for ${int.facts.name}, not ${facts.name}`);
    if (!k.usages.includes(usage)) throw invalidAccess(`${what}: key ${k.handle} does not have the usage "${usage}" (its usages: ${k.usages.join(', ') || 'none'})`);
  }

  private async spkiOf(k: HsmCryptoKey, int: KeyInternals): Promise<Uint8Array> {
    if (!int.spki) {
      const a = await this.ctx.attributes(k.handle, [P.CKA_PUBLIC_KEY_INFO], { keys: [k] });
      const v = a.get(P.CKA_PUBLIC_KEY_INFO);
      if (!v) throw operationError(`key ${k.handle} has no CKA_PUBLIC_KEY_INFO`);
      int.spki = v;
    }
    return int.spki;
  }

  /** Run the HSM part of an operation, mapping the HSM's refusals to WebCrypto names. */
  private async run<T>(what: string, templateName: TemplateErrorName, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw toDomError(e, what, templateName);
    }
  }
}

