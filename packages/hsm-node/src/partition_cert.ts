/**
 * @module The partition's own certificate material: its CSR (what
 * `getCertReq` returns, for the owner to sign with PO.key) and the self-signed
 * certificate a node presents before it is claimed ("unencrypted mode").
 *
 * Only the few DER structures needed are built here (RFC 2986 PKCS#10,
 * RFC 5280 TBSCertificate), signed with sha256WithRSAEncryption. The subject
 * copies the real partition CSR's layout (the Azure Cloud HSM onboarding guide).
 */
import { createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { derTlv } from '../../hsm-core/src/objects/der.js';

const SEQ = 0x30;
const SET = 0x31;
const OID_SHA256_RSA = Buffer.from('06092a864886f70d01010b', 'hex');
const ALG_SHA256_RSA = derTlv(SEQ, Buffer.concat([OID_SHA256_RSA, Buffer.from('0500', 'hex')]));

/* X.520 attribute type OIDs, DER-encoded. */
const ATTR_OID: Record<string, string> = {
  C: '0603550406', ST: '0603550408', L: '0603550407', O: '060355040a', OU: '060355040b', CN: '0603550403',
};

/** A Name: one RDN per attribute, PrintableString for C, UTF8String otherwise. */
export function derName(rdns: ReadonlyArray<readonly [keyof typeof ATTR_OID, string]>): Buffer {
  return derTlv(SEQ, Buffer.concat(rdns.map(([k, v]) => {
    const value = derTlv(k === 'C' ? 0x13 : 0x0c, Buffer.from(v, 'utf8'));
    return derTlv(SET, derTlv(SEQ, Buffer.concat([Buffer.from(ATTR_OID[k]!, 'hex'), value])));
  })));
}

/** The subject the real service puts in its partition CSR. */
export function partitionSubject(serial: string, partition: number): Buffer {
  return derName([['C', 'US'], ['ST', 'CA'], ['O', 'Cavium'], ['OU', 'N3FIPS'], ['L', 'SanJose'], ['CN', `HSM:${serial}:PARTN:${partition}, for non-FIPS mode`]]);
}

function signed(tbs: Buffer, key: KeyObject): Buffer {
  const sig = sign('sha256', tbs, key);
  return derTlv(SEQ, Buffer.concat([tbs, ALG_SHA256_RSA, derTlv(0x03, Buffer.concat([Buffer.of(0), sig]))]));
}

function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** PKCS#10 certification request for the partition key (RFC 2986 §4). */
export function partitionCsrPem(key: KeyObject, subject: Buffer): string {
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const info = derTlv(SEQ, Buffer.concat([Buffer.from('020100', 'hex'), subject, spki, Buffer.from('a000', 'hex')]));
  return pem('CERTIFICATE REQUEST', signed(info, key));
}

function utcTime(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return derTlv(0x17, Buffer.from(s, 'ascii'));
}

/** A self-signed v3 certificate (no extensions) for the unclaimed partition's TLS. */
export function selfSignedCertPem(key: KeyObject, subject: Buffer, now: Date, days: number): string {
  /* A positive INTEGER in minimal DER: top bit clear (not negative) and first byte
     non-zero (a leading 0x00 before a byte < 0x80 is "illegal padding" to OpenSSL). */
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const validity = derTlv(SEQ, Buffer.concat([utcTime(now), utcTime(new Date(now.getTime() + days * 86_400_000))]));
  const tbs = derTlv(SEQ, Buffer.concat([
    Buffer.from('a003020102', 'hex'), /* [0] version v3 */
    derTlv(0x02, serial), ALG_SHA256_RSA, subject, validity, subject, spki,
  ]));
  return pem('CERTIFICATE', signed(tbs, key));
}
