/**
 * @module CK_ATTRIBUTE values as bytes: the encoders every component shares.
 *
 * An attribute travels as `{ type, value }` exactly as CK_ATTRIBUTE carries it
 * (docs/protocol.md §3), so whoever builds a template — the HSM core, the
 * CLIs, the TypeScript SDK — encodes values the same way. Fixed decisions
 * (docs/decisions.md): CK_BBOOL is 1 byte, 0x00 or 0x01; CK_ULONG is 8 bytes
 * little-endian (LP64); CK_UTF8CHAR strings are UTF-8 without a terminator.
 *
 * Only the encoders and the two decoders a client needs live here; the
 * checking of values against their kinds is the HSM core's
 * (hsm-core/src/objects/attributes.ts), which re-exports these.
 */
import type { WireAttribute } from './codec.js';

export type Attribute = WireAttribute;

export const encodeBool = (b: boolean): Uint8Array => Uint8Array.of(b ? 1 : 0);

export function encodeUlong(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

const utf8 = new TextEncoder();

export const encodeUtf8 = (s: string): Uint8Array => utf8.encode(s);

export function decodeBool(v: Uint8Array): boolean {
  return v[0] === 1;
}

/** A CK_ULONG value as a number, or undefined when it is not 8 bytes or is above 2^53 - 1. */
export function readUlong(v: Uint8Array): number | undefined {
  if (v.length !== 8) return undefined;
  const n = new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(n);
}

/** Attribute helpers for building templates. */
export const attr = {
  bool: (type: number, v: boolean): Attribute => ({ type, value: encodeBool(v) }),
  ulong: (type: number, v: number | bigint): Attribute => ({ type, value: encodeUlong(v) }),
  bytes: (type: number, v: Uint8Array): Attribute => ({ type, value: v }),
  utf8: (type: number, v: string): Attribute => ({ type, value: encodeUtf8(v) }),
};
