/**
 * @module Loads the node's libcrypto addon (native/crypto-addon → lib64/ochsm_crypto.node)
 * and installs it into the core's raw-ECDSA port (hsm-core/src/crypto/raw_ecdsa.ts).
 *
 * Raw CKM_ECDSA then signs with EVP_PKEY_sign (on the event loop for P-256,
 * ~18 µs; on the libuv thread pool for the slower curves) instead of pure
 * JavaScript on the event loop (~1 ms). Without the addon (not built, or a
 * Node.js whose N-API it cannot load) the core keeps its @noble/curves path,
 * which gives the same, verifiable signatures only slower; the reason is
 * returned so the node can say which one it runs.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { installRawEcdsa, type RawEcdsaSigner } from '../../hsm-core/src/crypto/raw_ecdsa.js';

/** lib64/ beside the compiled packages (dist/lib64, or the installed lib/lib64 link). */
export const ADDON_PATH = fileURLToPath(new URL('../../../lib64/ochsm_crypto.node', import.meta.url));

export interface NativeCryptoStatus {
  rawEcdsa: 'libcrypto' | 'noble';
  /** Why the JavaScript fallback is in use, if it is. */
  reason?: string;
}

function isSigner(x: unknown): x is RawEcdsaSigner {
  return typeof x === 'object' && x !== null && typeof (x as RawEcdsaSigner).loadKey === 'function' && typeof (x as RawEcdsaSigner).sign === 'function';
}

/** Loads the addon from `path` and installs it; never throws. */
export function installNativeCrypto(path: string = ADDON_PATH): NativeCryptoStatus {
  if (!existsSync(path)) return { rawEcdsa: 'noble', reason: `${path} is not there (make build makes it)` };
  try {
    const addon: unknown = createRequire(import.meta.url)(path);
    if (!isSigner(addon)) return { rawEcdsa: 'noble', reason: `${path} does not export loadKey and sign` };
    installRawEcdsa(addon);
    return { rawEcdsa: 'libcrypto' };
  } catch (e) {
    return { rawEcdsa: 'noble', reason: `${path} did not load: ${e instanceof Error ? e.message : String(e)}` };
  }
}
