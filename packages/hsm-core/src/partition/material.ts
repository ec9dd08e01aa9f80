/**
 * @module Unmasked key material, resident as KeyObjects: a bounded cache keyed
 * by object handle and store version, so a changed object is never served
 * from its old material and an evicted one is parsed again on demand. Secret
 * keys are KeyObjects too (createSecretKey): the value is held by the
 * KeyObject, not by a Buffer on the JavaScript heap, and the ciphers take it
 * as it is.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { createPrivateKey, createPublicKey, createSecretKey } from '../crypto/node.js';
import type { KeyMaterial } from '../mechanisms/types.js';
import { keyTypeOfObj, type LoadedObject, type StoredObject } from './records.js';

/** Bound on the key-material cache; a miss costs a PKCS#8 parse. */
export const MATERIAL_CACHE_MAX = 4096;

export class MaterialCache {
  private readonly cache = new Map<number, { version: number; km: KeyMaterial }>();

  constructor(private readonly max = MATERIAL_CACHE_MAX) {}

  get size(): number {
    return this.cache.size;
  }

  drop(handle: number): void {
    this.cache.delete(handle);
  }

  /** Forget the material of `handle` if it belongs to a version before `version`. */
  dropIfOlder(handle: number, version: number): void {
    const hit = this.cache.get(handle);
    if (hit && hit.version < version) this.cache.delete(handle);
  }

  /** The cached material of this version of the object, if resident. */
  peek(lo: LoadedObject): KeyMaterial | undefined {
    const handle = lo.obj.handle;
    const hit = this.cache.get(handle);
    if (!hit || hit.version !== lo.version) return undefined;
    /* Re-insert: Map order is then least recently used first. */
    this.cache.delete(handle);
    this.cache.set(handle, hit);
    return hit.km;
  }

  /**
   * Key material as a mechanism sees it, for this version of the object;
   * on a miss `full` gives the object with its material (unmasked on demand).
   */
  async get(lo: LoadedObject, full: () => Promise<StoredObject>): Promise<KeyMaterial> {
    return this.peek(lo) ?? this.#parse(lo, await full());
  }

  #parse(lo: LoadedObject, obj: StoredObject): KeyMaterial {
    const handle = lo.obj.handle;
    const m = obj.material;
    const keyType = keyTypeOfObj(lo.obj)!;
    if (!m) throw new HsmError('ERR_KEY_HANDLE_INVALID', `object ${handle} is not a key`);
    let km: KeyMaterial;
    if (m.kind === 'secret') km = { kind: 'secret', keyType, key: createSecretKey(m.bytes) };
    else if (m.kind === 'pkcs8') {
      const key = createPrivateKey({ key: m.bytes, format: 'der', type: 'pkcs8' });
      km = { kind: 'private', keyType, key, publicKey: createPublicKey(key) };
    } else km = { kind: 'public', keyType, key: createPublicKey({ key: m.bytes, format: 'der', type: 'spki' }) };
    this.cache.delete(handle);
    if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(handle, { version: lo.version, km });
    return km;
  }
}
