/**
 * @module The few DER pieces the core needs (X.690): lengths, OCTET STRING,
 * SEC1 ECPrivateKey. Parsing is strict: a length that runs past the buffer, or
 * a non-minimal length, is refused.
 */
import { HsmError } from './errors.js';

export function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function derTlv(tag: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(tag), derLength(body.length), body]);
}

export const derOctetString = (body: Uint8Array): Buffer => derTlv(0x04, body);

/** Read one TLV at `off`; returns the tag, body and the offset after it. */
export function derRead(buf: Uint8Array, off = 0): { tag: number; body: Buffer; end: number } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (off + 2 > b.length) throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', 'DER value is truncated');
  const tag = b[off]!;
  let len = b[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > b.length) throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', 'DER length is malformed');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    if (len < 0x80 || b[p] === 0) throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', 'DER length is not minimal');
    p += n;
  }
  if (p + len > b.length) throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', 'DER value is truncated');
  return { tag, body: b.subarray(p, p + len), end: p + len };
}

/** If `v` is exactly one DER OCTET STRING, its body; otherwise undefined. */
export function unwrapOctetString(v: Uint8Array): Buffer | undefined {
  if (v.length < 2 || v[0] !== 0x04) return undefined;
  try {
    const t = derRead(v);
    return t.end === v.length ? t.body : undefined;
  } catch {
    return undefined;
  }
}

/** SEC1 (RFC 5915) ECPrivateKey without the optional public key: version 1, d, [0] curve OID. */
export function sec1PrivateKey(d: Uint8Array, curveOidDer: Uint8Array): Buffer {
  return derTlv(0x30, Buffer.concat([Buffer.of(0x02, 0x01, 0x01), derOctetString(d), derTlv(0xa0, curveOidDer)]));
}
