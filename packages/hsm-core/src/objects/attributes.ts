/**
 * @module Attribute values: the wire form of CK_ATTRIBUTE and its typed reading.
 *
 * An attribute travels as `{ type, value: bytes }` exactly as CK_ATTRIBUTE
 * carries it, so the C shim needs no per-attribute knowledge. The core decodes
 * values by the kind recorded here. Fixed decisions (docs/protocol.md):
 *  - CK_BBOOL: 1 byte, 0x00 or 0x01 (anything else is CKR_ATTRIBUTE_VALUE_INVALID);
 *  - CK_ULONG: 8 bytes little-endian (LP64 CK_ULONG on x86-64 and aarch64);
 *  - CK_DATE: 8 ASCII digits YYYYMMDD, or empty;
 *  - CK_UTF8CHAR strings: UTF-8 bytes, validated as UTF-8;
 *  - byte arrays: as given, bounded by MAX_ATTRIBUTE_BYTES.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { ckaName } from '../../../protocol/src/names.js';
import { ATTRIBUTE_KINDS, decodeBool, type AttrKind, type Attribute } from '../../../protocol/src/attributes.js';
/* The kinds of the attributes this HSM knows are the protocol's table (the CLIs display with it). */
export { ATTRIBUTE_KINDS, type AttrKind } from '../../../protocol/src/attributes.js';

/* The encoders are shared with every client (the CLIs, the SDK): protocol/src/attributes.ts. */
export { attr, decodeBool, encodeBool, encodeUlong, encodeUtf8, type Attribute } from '../../../protocol/src/attributes.js';


/** Upper bound for one attribute value (a 4096-bit key's components and large certificates fit). */
export const MAX_ATTRIBUTE_BYTES = 64 * 1024;
/** Upper bound for the number of attributes in one template. */
export const MAX_TEMPLATE_ATTRIBUTES = 64;
/** Upper bound for CKA_LABEL, in bytes. */
export const MAX_LABEL_BYTES = 256;


/** CK_UNAVAILABLE_INFORMATION for 64-bit CK_ULONG, used by the codec for "no value". */
export const CK_UNAVAILABLE_INFORMATION = 0xffffffffffffffffn;

function invalid(type: number, why: string): HsmError {
  return new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', `${ckaName(type)}: ${why}`);
}

/**
 * Check one attribute's value against its kind; returns the kind.
 * Unknown types are CKR_ATTRIBUTE_TYPE_INVALID; malformed values CKR_ATTRIBUTE_VALUE_INVALID.
 */
export function checkAttribute(a: Attribute): AttrKind {
  if (!Number.isInteger(a.type) || a.type < 0 || a.type > 0xffffffff) {
    throw new HsmError('ERR_ATTRIBUTE_TYPE_INVALID', `attribute type ${String(a.type)} is not a CK_ATTRIBUTE_TYPE`);
  }
  const kind = ATTRIBUTE_KINDS.get(a.type);
  if (kind === undefined) throw new HsmError('ERR_ATTRIBUTE_TYPE_INVALID', `${ckaName(a.type)} is not supported by this HSM`);
  const v = a.value;
  if (!(v instanceof Uint8Array)) throw invalid(a.type, 'value is not a byte string');
  if (v.length > MAX_ATTRIBUTE_BYTES) throw invalid(a.type, `value is ${v.length} bytes; the limit is ${MAX_ATTRIBUTE_BYTES}`);
  switch (kind) {
    case 'bool':
      if (v.length !== 1) throw invalid(a.type, `CK_BBOOL must be 1 byte, got ${v.length}`);
      if (v[0] !== 0 && v[0] !== 1) throw invalid(a.type, 'CK_BBOOL must be CK_TRUE (1) or CK_FALSE (0)');
      break;
    case 'ulong':
      if (v.length !== 8) throw invalid(a.type, `CK_ULONG must be 8 bytes (little-endian), got ${v.length}`);
      break;
    case 'date':
      if (v.length !== 0 && (v.length !== 8 || !/^[0-9]{8}$/.test(Buffer.from(v).toString('latin1')))) {
        throw invalid(a.type, 'CK_DATE must be 8 ASCII digits YYYYMMDD or empty');
      }
      break;
    case 'utf8': {
      if (a.type === P.CKA_LABEL && v.length > MAX_LABEL_BYTES) throw invalid(a.type, `label longer than ${MAX_LABEL_BYTES} bytes`);
      const s = Buffer.from(v).toString('utf8');
      if (!Buffer.from(s, 'utf8').equals(Buffer.from(v))) throw invalid(a.type, 'not valid UTF-8');
      break;
    }
    case 'bytes':
      break;
  }
  return kind;
}

/** Decode a CK_ULONG; values above 2^53 are refused (no attribute needs them). */
export function decodeUlong(type: number, v: Uint8Array): number {
  const n = Buffer.from(v.buffer, v.byteOffset, v.byteLength).readBigUInt64LE(0);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(type, 'value out of range');
  return Number(n);
}

/**
 * A validated template: one value per type (a repeated type is
 * CKR_TEMPLATE_INCONSISTENT), typed accessors.
 */
export class Template {
  readonly map: ReadonlyMap<number, Uint8Array>;

  private constructor(map: Map<number, Uint8Array>) {
    this.map = map;
  }

  static parse(attrs: readonly Attribute[] | undefined): Template {
    const list = attrs ?? [];
    if (!Array.isArray(list)) throw new HsmError('ERR_ARGUMENTS_BAD', 'template is not a list of attributes');
    if (list.length > MAX_TEMPLATE_ATTRIBUTES) {
      throw new HsmError('ERR_LIMIT', `template has ${list.length} attributes; the limit is ${MAX_TEMPLATE_ATTRIBUTES}`);
    }
    const map = new Map<number, Uint8Array>();
    for (const a of list) {
      checkAttribute(a);
      if (map.has(a.type)) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', `${ckaName(a.type)} appears twice in the template`);
      map.set(a.type, Uint8Array.from(a.value));
    }
    return new Template(map);
  }

  has(type: number): boolean {
    return this.map.has(type);
  }

  bool(type: number): boolean | undefined {
    const v = this.map.get(type);
    return v === undefined ? undefined : decodeBool(v);
  }

  ulong(type: number): number | undefined {
    const v = this.map.get(type);
    return v === undefined ? undefined : decodeUlong(type, v);
  }

  bytes(type: number): Uint8Array | undefined {
    return this.map.get(type);
  }
}
