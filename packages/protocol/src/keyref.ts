/**
 * @module Key-reference ("fake PEM") files: a PEM private key that holds an HSM
 * private-key handle instead of private key material (the Azure Cloud HSM OpenSSL guide).
 * `getCaviumPrivKey` writes them; `IsValidKeyHandlefile` and the OpenSSL
 * engine recognise them by the marker.
 *
 * The marker block for handle H and a field of L bytes: (L mod 4) zero bytes,
 * then `ea fc fc ee`, then H as a 64-bit little-endian integer, then
 * `ea fc fc ee` repeated to the end. For L = 32 this is exactly the OpenSSL guide's
 * worked example (P-256, handle 262169):
 * `eafcfcee 1900040000000000 eafcfcee eafcfcee eafcfcee eafcfcee eafcfcee`.
 * The zero prefix keeps P-521's 66-byte scalar below the group order.
 *
 * Layouts (docs/cli.md "Key-reference PEM files"):
 *  - EC: SEC1 `EC PRIVATE KEY`: version 1, privateKey = the marker block of the
 *    curve's private-key length, [0] the curve OID, [1] the key's genuine
 *    public point (from the HSM). `openssl ec -text` shows the curve and the
 *    real `pub:`.
 *  - RSA (our choice; the guides do not show one): PKCS#1 `RSA PRIVATE KEY`
 *    with the key's real modulus n and public exponent e, so `openssl rsa
 *    -pubout`, CSRs and certificates carry the right public key; the private
 *    exponent d and the five CRT values (p, q, dP, dQ, qInv) each hold the
 *    32-byte marker block as an unsigned INTEGER. Recognition reads d. The file
 *    is useless as a software key: d is not the private exponent of n.
 */
import { curveByName } from './curves.js';
import { derRead, derTlv } from './der.js';

export const MARKER = Buffer.from('eafcfcee', 'hex');
/** Length of the marker block in an RSA key reference (and for P-256 / secp256k1). */
export const RSA_MARKER_LENGTH = 32;

export const OID_RSA_ENCRYPTION = '06092a864886f70d010101';
export const OID_EC_PUBLIC_KEY = '06072a8648ce3d0201';
/* The RFC 8410 curves' OIDs are the curve table's. */
export const OID_ED25519 = curveByName('Ed25519')!.oidDer;
export const OID_X25519 = curveByName('X25519')!.oidDer;

/** The marker block for `handle` in a field of `length` bytes (at least 16). */
export function markerBlock(handle: number, length: number): Buffer {
  if (!Number.isSafeInteger(handle) || handle < 0) throw new RangeError(`handle ${handle} is not a key handle`);
  if (length < 16) throw new RangeError(`a marker block needs at least 16 bytes, not ${length}`);
  const out = Buffer.alloc(length);
  let off = length % 4;
  MARKER.copy(out, off);
  out.writeBigUInt64LE(BigInt(handle), off + 4);
  for (off += 12; off < length; off += 4) MARKER.copy(out, off);
  return out;
}

/** The handle a marker block holds, or undefined when `bytes` is not one. */
export function readMarker(bytes: Uint8Array): number | undefined {
  const b = Buffer.from(bytes);
  const pad = b.length % 4;
  if (b.length < 16) return undefined;
  for (let i = 0; i < pad; i++) if (b[i] !== 0) return undefined;
  if (!b.subarray(pad, pad + 4).equals(MARKER)) return undefined;
  const h = b.readBigUInt64LE(pad + 4);
  for (let off = pad + 12; off < b.length; off += 4) if (!b.subarray(off, off + 4).equals(MARKER)) return undefined;
  if (h > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(h);
}

/* ───────────────────────────── DER and PEM ───────────────────────────── */

const seq = (...parts: Buffer[]) => derTlv(0x30, Buffer.concat(parts));

/** DER INTEGER of an unsigned big-endian magnitude. */
export function derUint(magnitude: Uint8Array): Buffer {
  let b = Buffer.from(magnitude);
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b.length === 0) b = Buffer.of(0);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.of(0), b]);
  return derTlv(0x02, b);
}

/** The magnitude of a DER INTEGER body (leading zero bytes removed). */
function uintOf(body: Buffer): Buffer {
  let i = 0;
  while (i < body.length - 1 && body[i] === 0) i++;
  return body.subarray(i);
}

export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

/** The first PEM block of `text`: its label and DER. Encrypted PEM is refused with a clear message. */
export function unpem(text: string): { label: string; der: Buffer } {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) throw new KeyFileError('no PEM block (-----BEGIN ...-----) found');
  const label = m[1]!;
  const body = m[2]!;
  if (label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(body)) {
    throw new KeyFileError('the PEM file is encrypted with a pass phrase; decrypt it first (openssl pkey -in <file> -out <plain file>)');
  }
  const b64 = body.split(/\r?\n/).filter((l) => !/^[A-Za-z-]+:/.test(l)).join('');
  return { label, der: Buffer.from(b64, 'base64') };
}

interface Tlv {
  readonly tag: number;
  readonly body: Buffer;
}

/** The TLVs inside a constructed value (a SEQUENCE's elements). */
function children(body: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let off = 0; off < body.length; ) {
    const t = derRead(body, off);
    out.push({ tag: t.tag, body: t.body });
    off = t.end;
  }
  return out;
}

function one(der: Uint8Array, tag: number, what: string): Buffer {
  let t;
  try {
    t = derRead(der);
  } catch (e) {
    throw new KeyFileError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (t.tag !== tag || t.end !== der.length) throw new KeyFileError(`${what} is not well-formed DER`);
  return t.body;
}

function elements(der: Uint8Array, what: string): Tlv[] {
  try {
    return children(one(der, 0x30, what));
  } catch (e) {
    if (e instanceof KeyFileError) throw e;
    throw new KeyFileError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const tlvDer = (t: Tlv): Buffer => derTlv(t.tag, t.body);

/* ───────────────────────────── public keys ───────────────────────────── */

export type PublicKeyInfo =
  | { readonly kind: 'rsa'; readonly n: Buffer; readonly e: Buffer }
  | { readonly kind: 'ec'; readonly curveOid: string; readonly point: Buffer }
  | { readonly kind: 'ed25519' | 'x25519'; readonly point: Buffer };

/** Parse a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) as CKA_PUBLIC_KEY_INFO holds it. */
export function parseSpki(der: Uint8Array): PublicKeyInfo {
  const [alg, bits] = elements(der, 'SubjectPublicKeyInfo');
  if (!alg || alg.tag !== 0x30 || !bits || bits.tag !== 0x03 || bits.body[0] !== 0) throw new KeyFileError('SubjectPublicKeyInfo is malformed');
  const [oid, params] = children(alg.body);
  const oidHex = oid ? tlvDer(oid).toString('hex') : '';
  const key = bits.body.subarray(1);
  if (oidHex === OID_RSA_ENCRYPTION) {
    const [n, e] = elements(key, 'RSAPublicKey');
    if (!n || !e || n.tag !== 0x02 || e.tag !== 0x02) throw new KeyFileError('RSAPublicKey is malformed');
    return { kind: 'rsa', n: uintOf(n.body), e: uintOf(e.body) };
  }
  if (oidHex === OID_EC_PUBLIC_KEY && params && params.tag === 0x06) return { kind: 'ec', curveOid: tlvDer(params).toString('hex'), point: Buffer.from(key) };
  if (oidHex === OID_ED25519) return { kind: 'ed25519', point: Buffer.from(key) };
  if (oidHex === OID_X25519) return { kind: 'x25519', point: Buffer.from(key) };
  throw new KeyFileError(`public key algorithm ${oidHex || '(none)'} is not supported`);
}

export function samePublicKey(a: PublicKeyInfo, b: PublicKeyInfo): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'rsa' && b.kind === 'rsa') return a.n.equals(b.n) && a.e.equals(b.e);
  if (a.kind === 'ec' && b.kind === 'ec') return a.curveOid === b.curveOid && a.point.equals(b.point);
  return (a as { point: Buffer }).point.equals((b as { point: Buffer }).point);
}

/* ───────────────────────────── building references ───────────────────────────── */

/** SEC1 `EC PRIVATE KEY` PEM for an HSM EC private key (curve OID DER, uncompressed point). */
export function ecKeyReference(handle: number, curveOidDer: Uint8Array, point: Uint8Array, privLen: number): string {
  const der = seq(
    Buffer.from('020101', 'hex'),
    derTlv(0x04, markerBlock(handle, privLen)),
    derTlv(0xa0, Buffer.from(curveOidDer)),
    derTlv(0xa1, derTlv(0x03, Buffer.concat([Buffer.of(0), point]))),
  );
  return pem('EC PRIVATE KEY', der);
}

/** PKCS#1 `RSA PRIVATE KEY` PEM for an HSM RSA private key: real n and e, marker in d and the CRT values. */
export function rsaKeyReference(handle: number, n: Uint8Array, e: Uint8Array): string {
  const m = derUint(markerBlock(handle, RSA_MARKER_LENGTH));
  const der = seq(Buffer.from('020100', 'hex'), derUint(n), derUint(e), m, m, m, m, m, m);
  return pem('RSA PRIVATE KEY', der);
}

/* ───────────────────────────── reading private key files ───────────────────────────── */

export type PrivateKeyFile =
  | { readonly kind: 'rsa'; readonly pub: PublicKeyInfo; readonly d: Buffer }
  | { readonly kind: 'ec'; readonly pub: PublicKeyInfo | undefined; readonly curveOid: string | undefined; readonly priv: Buffer }
  | { readonly kind: 'other'; readonly algorithm: string };

function rsaPrivate(der: Uint8Array): PrivateKeyFile {
  const f = elements(der, 'RSAPrivateKey');
  if (f.length < 9 || f.slice(0, 9).some((x) => x.tag !== 0x02)) throw new KeyFileError('RSAPrivateKey is malformed');
  return { kind: 'rsa', pub: { kind: 'rsa', n: uintOf(f[1]!.body), e: uintOf(f[2]!.body) }, d: uintOf(f[3]!.body) };
}

function ecPrivate(der: Uint8Array, algParams: string | undefined): PrivateKeyFile {
  const f = elements(der, 'ECPrivateKey');
  const priv = f[1];
  if (!f[0] || f[0].tag !== 0x02 || !priv || priv.tag !== 0x04) throw new KeyFileError('ECPrivateKey is malformed');
  let curveOid = algParams;
  let point: Buffer | undefined;
  for (const x of f.slice(2)) {
    if (x.tag === 0xa0) curveOid = x.body.toString('hex');
    if (x.tag === 0xa1) {
      const bits = one(x.body, 0x03, 'ECPrivateKey publicKey');
      if (bits[0] !== 0) throw new KeyFileError('ECPrivateKey publicKey is malformed');
      point = Buffer.from(bits.subarray(1));
    }
  }
  return { kind: 'ec', priv: Buffer.from(priv.body), curveOid, pub: point && curveOid ? { kind: 'ec', curveOid, point } : undefined };
}

/** Read a PEM private key (PKCS#1, SEC1 or PKCS#8) far enough to tell a key reference from a real key. */
export function readPrivateKeyFile(text: string): PrivateKeyFile {
  const { label, der } = unpem(text);
  if (label === 'RSA PRIVATE KEY') return rsaPrivate(der);
  if (label === 'EC PRIVATE KEY') return ecPrivate(der, undefined);
  if (label !== 'PRIVATE KEY') throw new KeyFileError(`a PEM "${label}" block is not a private key`);
  const f = elements(der, 'PrivateKeyInfo');
  const alg = f[1];
  const inner = f[2];
  if (!alg || alg.tag !== 0x30 || !inner || inner.tag !== 0x04) throw new KeyFileError('PrivateKeyInfo is malformed');
  const [oid, params] = children(alg.body);
  const oidHex = oid ? tlvDer(oid).toString('hex') : '';
  if (oidHex === OID_RSA_ENCRYPTION) return rsaPrivate(inner.body);
  if (oidHex === OID_EC_PUBLIC_KEY) return ecPrivate(inner.body, params && params.tag === 0x06 ? tlvDer(params).toString('hex') : undefined);
  return { kind: 'other', algorithm: oidHex === OID_ED25519 ? 'Ed25519' : oidHex === OID_X25519 ? 'X25519' : oidHex };
}

/** The handle a key file refers to, or undefined for a real key. */
export function referencedHandle(f: PrivateKeyFile): number | undefined {
  if (f.kind === 'rsa') return readMarker(f.d);
  if (f.kind === 'ec') return readMarker(f.priv);
  return undefined;
}
