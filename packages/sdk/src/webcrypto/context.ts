/**
 * @module What HsmSubtleCrypto and HsmKeyStore share: the daemon connection,
 * the sign-in, session-key bookkeeping, and reading keys out when WebCrypto
 * says they may leave.
 *
 * - Every key operation first makes sure of a sign-in (`LoginManager`,
 *   implicit credentials included); a refusal for want of one becomes
 *   `NotLoggedInError` with the hint of how to sign in.
 * - A request that touches session keys carries their connection epoch, so
 *   a key from before a reconnection fails with `SessionKeyLostError`
 *   instead of reaching a handle that no longer means it.
 * - **Extraction**: the HSM never reveals CKA_VALUE (every key is sensitive,
 *   docs/decisions.md), but it wraps extractable keys (C_WrapKey). To export
 *   an extractable key — what WebCrypto's `extractable` promises — the
 *   provider wraps it with a transport key of its own and unwraps the result
 *   locally, as the Cloud HSM's `exSymKey` does: a random AES-256 key created
 *   for this session (CKA_WRAP only, not extractable), RFC 5649 key wrap with
 *   padding (CKM_AES_KEY_WRAP_PAD). A non-extractable key is refused by the
 *   HSM itself (CKR_KEY_UNEXTRACTABLE), whatever the SDK does.
 */
import { createDecipheriv, randomBytes } from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { attr, readUlong, type Attribute } from '../../../protocol/src/attributes.js';
import { isHsmError } from '../../../protocol/src/errors.js';
import type { OpName, RequestOf, ResponseOf } from '../../../protocol/src/messages.js';
import type { HsmClient } from '../client.js';
import { SessionKeyLostError } from '../errors.js';
import type { LoginManager } from '../login_manager.js';
import { invalidAccess } from './errors.js';
import { internalsOf, type HsmCryptoKey } from './key.js';

/** CKA_LABEL of the provider's own transport key. */
export const TRANSPORT_LABEL = 'opencloudhsm-sdk-transport';
/** RFC 5649 §3 alternative initial value. */
const KWP_AIV = Buffer.from('a65959a6', 'hex');

export interface CallOpts {
  /** The keys the request uses (their session epochs are checked). */
  readonly keys?: readonly HsmCryptoKey[];
  /** The request also belongs to this epoch (a session object being made). */
  readonly epoch?: number;
  readonly signal?: AbortSignal;
  /** Make sure of a sign-in first (default true). */
  readonly login?: boolean;
}

interface Transport {
  readonly epoch: number;
  readonly handle: number;
  readonly value: Buffer;
}

export class ProviderContext {
  readonly lm: LoginManager;
  private transport: Transport | undefined;
  private transportInFlight: Promise<Transport> | undefined;

  constructor(lm: LoginManager) {
    this.lm = lm;
  }

  get client(): HsmClient {
    return this.lm.client;
  }

  /** Sign in if needed and return the current connection epoch (for making session objects). */
  async sessionEpoch(signal?: AbortSignal): Promise<number> {
    await this.lm.ensureLoggedIn(signal ? { signal } : {});
    return (await this.client.connection(signal ? { signal } : {})).epoch;
  }

  /** One request, with the sign-in, the session-key epoch check and the not-signed-in hint. */
  async call<K extends OpName>(op: K, obj: RequestOf<K>, opts: CallOpts = {}): Promise<ResponseOf<K>> {
    let epoch = opts.epoch;
    for (const k of opts.keys ?? []) {
      const int = internalsOf(k);
      if (!int || int.epoch === undefined) continue;
      if (int.owner !== this) throw invalidAccess(`${op}: session key ${k.handle} belongs to another HsmCrypto provider (session keys live in the session of the connection that made them)`);
      if (epoch !== undefined && epoch !== int.epoch) throw new SessionKeyLostError(`${op}: session key ${k.handle} belongs to an earlier connection to the daemon; session keys end with their session`);
      epoch = int.epoch;
    }
    if (opts.login !== false) await this.lm.ensureLoggedIn(opts.signal ? { signal: opts.signal } : {});
    try {
      return await this.client.request(op, obj, { ...(epoch !== undefined ? { epoch } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
      if (isHsmError(e, 'ERR_USER_NOT_LOGGED_IN') && e.name === 'HsmError') throw this.lm.notLoggedIn(e);
      throw e;
    }
  }

  /** Read attributes of an object: a map of the ones it has (sensitive or absent ones are left out). */
  async attributes(handle: number, types: readonly number[], opts: CallOpts = {}): Promise<Map<number, Uint8Array>> {
    const r = await this.call('getAttributeValue', { handle, types: [...types] }, opts);
    return new Map(r.attributes.map((a) => [a.type, a.value]));
  }

  async destroy(handle: number, opts: CallOpts = {}): Promise<void> {
    await this.call('destroyObject', { handle }, opts);
  }

  /**
   * The plaintext of an extractable secret key (its value) or private key (its
   * PKCS#8 DER), through the transport key (see the module comment).
   */
  async extract(key: HsmCryptoKey, signal?: AbortSignal): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const t = await this.transportKey(signal);
      try {
        const r = await this.call('wrapKey', { mechanism: { mechanism: P.CKM_AES_KEY_WRAP_PAD }, wrappingHandle: t.handle, keyHandle: key.handle }, { keys: [key], epoch: t.epoch, ...(signal ? { signal } : {}) });
        const d = createDecipheriv('id-aes256-wrap-pad', t.value, KWP_AIV);
        return Buffer.concat([d.update(r.wrapped), d.final()]);
      } catch (e) {
        /* The transport key is a session object: after a reconnection make a new one, once. */
        const keyIsCurrent = internalsOf(key)?.epoch === undefined || internalsOf(key)?.epoch === this.client.epoch;
        if (e instanceof SessionKeyLostError && attempt === 0 && keyIsCurrent) {
          this.transport = undefined;
          continue;
        }
        throw e;
      }
    }
  }

  /** Forget the transport key (its value is wiped; the HSM object ends with the session). */
  close(): void {
    this.transport?.value.fill(0);
    this.transport = undefined;
  }

  private transportKey(signal?: AbortSignal): Promise<Transport> {
    const t = this.transport;
    if (t && t.epoch === this.client.epoch && this.client.connected) return Promise.resolve(t);
    this.transportInFlight ??= this.makeTransport(signal).finally(() => {
      this.transportInFlight = undefined;
    });
    return this.transportInFlight;
  }

  private async makeTransport(signal?: AbortSignal): Promise<Transport> {
    const epoch = await this.sessionEpoch(signal);
    const value = randomBytes(32);
    const template: Attribute[] = [
      attr.ulong(P.CKA_CLASS, P.CKO_SECRET_KEY), attr.ulong(P.CKA_KEY_TYPE, P.CKK_AES), attr.bytes(P.CKA_VALUE, value),
      attr.bool(P.CKA_TOKEN, false), attr.bool(P.CKA_WRAP, true), attr.bool(P.CKA_EXTRACTABLE, false), attr.utf8(P.CKA_LABEL, TRANSPORT_LABEL),
    ];
    const { handle } = await this.call('createObject', { template }, { epoch, ...(signal ? { signal } : {}) });
    this.transport = { epoch, handle, value };
    return this.transport;
  }
}

/** A CK_ULONG attribute of a map from `attributes()`. */
export function ulongOf(m: ReadonlyMap<number, Uint8Array>, type: number): number | undefined {
  const v = m.get(type);
  return v === undefined ? undefined : readUlong(v);
}

export function boolOf(m: ReadonlyMap<number, Uint8Array>, type: number): boolean {
  return m.get(type)?.[0] === 1;
}
