/**
 * @module Attribute templates for the keys azcloudhsm_util creates.
 *
 * This HSM's usage attributes default to FALSE (docs/decisions.md), so the
 * tool sets the ones the real tool sets on the keys it makes: AES and DES3
 * keys encrypt, decrypt, wrap and unwrap; generic secrets sign and verify
 * (HMAC); RSA public keys encrypt, verify and wrap, RSA private keys decrypt,
 * sign and unwrap; EC public keys verify, EC private keys sign and derive
 * (ECDH); Ed25519 keys sign and verify. Keys are token keys unless `-sess`.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { attr, type Attribute } from '../../../protocol/src/attributes.js';
import { flag, hexBytes, str, zeroOne, type Opts } from './args.js';

export type { Attribute };

/** The key options most creating commands share: -l, -id, -sess, -nex, -wrap_with_trusted. */
export interface KeyOptions {
  readonly label: string | undefined;
  readonly id: Buffer | undefined;
  readonly session: boolean;
  readonly extractable: boolean;
  readonly wrapWithTrusted: boolean;
}

export const KEY_OPTION_SPEC = { '-l': 'value', '-id': 'value', '-sess': 'flag', '-nex': 'flag', '-wrap_with_trusted': 'value' } as const;

export function keyOptions(o: Opts): KeyOptions {
  const id = str(o, '-id');
  const wwt = str(o, '-wrap_with_trusted');
  return {
    label: str(o, '-l'),
    /* -id: as hex bytes when it looks like hex with 0x, else the text itself (the family takes a string). */
    id: id === undefined ? undefined : /^0[xX][0-9a-fA-F]+$/.test(id) ? hexBytes(id, 'key id') : Buffer.from(id, 'utf8'),
    session: flag(o, '-sess'),
    extractable: !flag(o, '-nex'),
    wrapWithTrusted: wwt === undefined ? false : zeroOne(wwt, '-wrap_with_trusted value'),
  };
}

/** CKA_TOKEN, CKA_LABEL, CKA_ID. */
export function commonAttrs(k: Pick<KeyOptions, 'label' | 'id' | 'session'>): Attribute[] {
  return [
    attr.bool(P.CKA_TOKEN, !k.session),
    ...(k.label !== undefined ? [attr.utf8(P.CKA_LABEL, k.label)] : []),
    ...(k.id !== undefined ? [attr.bytes(P.CKA_ID, k.id)] : []),
  ];
}

/** CKA_EXTRACTABLE and, when asked, CKA_WRAP_WITH_TRUSTED (secret and private keys only). */
export function secrecyAttrs(k: Pick<KeyOptions, 'extractable' | 'wrapWithTrusted'>): Attribute[] {
  return [attr.bool(P.CKA_EXTRACTABLE, k.extractable), ...(k.wrapWithTrusted ? [attr.bool(P.CKA_WRAP_WITH_TRUSTED, true)] : [])];
}

const on = (...types: number[]): Attribute[] => types.map((t) => attr.bool(t, true));

/** The usage attributes the tool sets, per class and key type. */
export function usageAttrs(cls: number, keyType: number): Attribute[] {
  if (cls === P.CKO_SECRET_KEY) {
    if (keyType === P.CKK_GENERIC_SECRET) return on(P.CKA_SIGN, P.CKA_VERIFY);
    return on(P.CKA_ENCRYPT, P.CKA_DECRYPT, P.CKA_WRAP, P.CKA_UNWRAP);
  }
  if (cls === P.CKO_PUBLIC_KEY) {
    if (keyType === P.CKK_RSA) return on(P.CKA_ENCRYPT, P.CKA_VERIFY, P.CKA_WRAP);
    if (keyType === P.CKK_EC_MONTGOMERY) return [];
    return on(P.CKA_VERIFY);
  }
  if (cls === P.CKO_PRIVATE_KEY) {
    if (keyType === P.CKK_RSA) return on(P.CKA_DECRYPT, P.CKA_SIGN, P.CKA_UNWRAP);
    if (keyType === P.CKK_EC) return on(P.CKA_SIGN, P.CKA_DERIVE);
    if (keyType === P.CKK_EC_MONTGOMERY) return on(P.CKA_DERIVE);
    return on(P.CKA_SIGN);
  }
  return [];
}

/** A template for a key of this class and type, as the tool creates it. */
export function keyTemplate(cls: number, keyType: number, k: KeyOptions): Attribute[] {
  return [
    attr.ulong(P.CKA_CLASS, cls),
    attr.ulong(P.CKA_KEY_TYPE, keyType),
    ...commonAttrs(k),
    ...usageAttrs(cls, keyType),
    ...(cls === P.CKO_PUBLIC_KEY ? [] : secrecyAttrs(k)),
  ];
}

/** Big-endian bytes of a positive integer (CKA_PUBLIC_EXPONENT). */
export function bigEndian(n: number): Buffer {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  return Buffer.from(out.length ? out : [0]);
}
