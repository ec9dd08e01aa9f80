/**
 * @module The port for raw ECDSA (CKM_ECDSA over a caller-supplied hash).
 *
 * node:crypto cannot ECDSA-sign a prehashed value, so the core's fallback is
 * pure JavaScript (@noble/curves), about 1 ms of event-loop time per P-256
 * signature. A process that can load native code (the node: see
 * packages/hsm-node/src/native_crypto.ts and native/crypto-addon) installs a
 * libcrypto signer here, which signs on the libuv thread pool or, for a curve
 * the caller names cheap enough (mechanisms/ec.ts), inline. The core does no
 * I/O: it never loads the addon itself, it only uses what was installed.
 */
import type { KeyObject } from './node.js';

/** What the native signer offers (native/crypto-addon/src/ecdsa_raw.c). */
export interface RawEcdsaSigner {
  /** An opaque handle for an EC private key given as PKCS#8 DER. */
  loadKey(pkcs8Der: Buffer): object;
  /** r ‖ s, each `orderBytes` long, over `hash` (leftmost order-length bits). */
  sign(key: object, hash: Buffer, orderBytes: number): Promise<Buffer>;
  /** The same on the calling thread (absent in an addon built before it was added). */
  signSync?(key: object, hash: Buffer, orderBytes: number): Buffer;
}

let installed: RawEcdsaSigner | undefined;
/* One native handle per resident KeyObject (the material cache keeps them). */
let handles = new WeakMap<KeyObject, object>();

/** Installs (or, with undefined, removes) the native signer. */
export function installRawEcdsa(signer: RawEcdsaSigner | undefined): void {
  installed = signer;
  handles = new WeakMap();
}

/** Which implementation signs raw ECDSA now. */
export const rawEcdsaImplementation = (): 'libcrypto' | 'noble' => (installed ? 'libcrypto' : 'noble');

/**
 * Signs with the native signer, or returns undefined when none is installed.
 * `inline`: sign on the calling thread, for a curve whose signature costs less
 * than the hand-off to the thread pool and back (the caller decides, by curve).
 */
export function nativeRawEcdsaSign(priv: KeyObject, hash: Buffer, orderBytes: number, inline = false): Promise<Buffer> | undefined {
  const signer = installed;
  if (!signer) return undefined;
  let handle = handles.get(priv);
  if (!handle) {
    const der = priv.export({ format: 'der', type: 'pkcs8' });
    try {
      handle = signer.loadKey(der);
    } finally {
      der.fill(0);
    }
    handles.set(priv, handle);
  }
  if (inline && signer.signSync) {
    try {
      return Promise.resolve(signer.signSync(handle, hash, orderBytes));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return signer.sign(handle, hash, orderBytes);
}
