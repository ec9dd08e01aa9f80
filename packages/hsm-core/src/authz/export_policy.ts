/**
 * @module The export and wrap policy, as one table: which keys may leave the
 * HSM wrapped, by whom, under which wrapping keys. Every interface (PKCS#11
 * C_WrapKey, azcloudhsm_util wrapKey/exSymKey/exportPrivateKey, the SDK, the
 * OpenSSL engine and provider) reaches the core's wrapKey, which asks
 * `checkWrap` — no interface decides this itself.
 *
 * The rows follow the Azure Cloud HSM guides: only the owner exports or
 * wraps a key (a user it is shared with may use it, not take it out); a key
 * must be CKA_EXTRACTABLE; a key with CKA_WRAP_WITH_TRUSTED (or any key when
 * the partition's policy DEFAULT_WRAP_WITH_TRUSTED is 1, authz/partition_policy.ts)
 * is wrapped only by a key a crypto officer marked CKA_TRUSTED; the wrapping
 * key itself must allow CKA_WRAP and belong to, or be shared with, the caller
 * (checked where the wrapping key is looked up). Rows are checked in order;
 * the first that fails gives its error.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError, type HsmErrorCode } from '../../../protocol/src/errors.js';
import { decodeBool, decodeUlong } from '../objects/attributes.js';

/** What a rule sees of a key. */
export interface KeyFacts {
  readonly handle: number;
  readonly owner: string;
  readonly attrs: ReadonlyMap<number, Uint8Array>;
}

export interface WrapRequest {
  readonly caller: string;
  readonly key: KeyFacts;
  readonly wrappingKey: KeyFacts;
  /** The partition's DEFAULT_WRAP_WITH_TRUSTED (authz/partition_policy.ts). */
  readonly defaultWrapWithTrusted: boolean;
}

export interface ExportRule {
  readonly id: string;
  /** The rule in words (docs and tests use it). */
  readonly says: string;
  readonly holds: (r: WrapRequest) => boolean;
  readonly code: HsmErrorCode;
  readonly message: (r: WrapRequest) => string;
}

const bool = (k: KeyFacts, t: number) => {
  const v = k.attrs.get(t);
  return v !== undefined && decodeBool(v);
};
const cls = (k: KeyFacts) => {
  const v = k.attrs.get(P.CKA_CLASS);
  return v === undefined ? -1 : decodeUlong(P.CKA_CLASS, v);
};

export const EXPORT_RULES: readonly ExportRule[] = [
  {
    id: 'class',
    says: 'only secret keys and private keys are wrapped (public keys and data are read as they are)',
    holds: (r) => cls(r.key) === P.CKO_SECRET_KEY || cls(r.key) === P.CKO_PRIVATE_KEY,
    code: 'ERR_KEY_NOT_WRAPPABLE',
    message: () => 'only secret and private keys can be wrapped',
  },
  {
    id: 'owner',
    says: 'only the key\'s owner exports or wraps it; users it is shared with may only use it',
    holds: (r) => r.key.owner === r.caller,
    code: 'ERR_KEY_NOT_WRAPPABLE',
    message: (r) => `key ${r.key.handle} is shared with ${r.caller}; only its owner (${r.key.owner}) may wrap or export it`,
  },
  {
    id: 'extractable',
    says: 'the key has CKA_EXTRACTABLE TRUE',
    holds: (r) => bool(r.key, P.CKA_EXTRACTABLE),
    code: 'ERR_KEY_UNEXTRACTABLE',
    message: (r) => `key ${r.key.handle} has CKA_EXTRACTABLE FALSE`,
  },
  {
    id: 'wrap-with-trusted',
    says: 'a key with CKA_WRAP_WITH_TRUSTED TRUE is wrapped only by a wrapping key with CKA_TRUSTED TRUE',
    holds: (r) => !bool(r.key, P.CKA_WRAP_WITH_TRUSTED) || bool(r.wrappingKey, P.CKA_TRUSTED),
    code: 'ERR_KEY_NOT_WRAPPABLE',
    message: (r) => `key ${r.key.handle} can be wrapped only by a trusted key (CKA_WRAP_WITH_TRUSTED); key ${r.wrappingKey.handle} is not CKA_TRUSTED (a crypto officer sets it: setAttribute ${r.wrappingKey.handle} 134 1)`,
  },
  {
    id: 'default-wrap-with-trusted',
    says: 'when the partition sets DEFAULT_WRAP_WITH_TRUSTED, every key is wrapped only by a CKA_TRUSTED wrapping key',
    holds: (r) => !r.defaultWrapWithTrusted || bool(r.wrappingKey, P.CKA_TRUSTED),
    code: 'ERR_KEY_NOT_WRAPPABLE',
    message: (r) => `this partition wraps keys only with trusted keys (DEFAULT_WRAP_WITH_TRUSTED); key ${r.wrappingKey.handle} is not CKA_TRUSTED`,
  },
];

/** Throw the first failing rule's error. */
export function checkWrap(r: WrapRequest): void {
  for (const rule of EXPORT_RULES) if (!rule.holds(r)) throw new HsmError(rule.code, rule.message(r));
}
