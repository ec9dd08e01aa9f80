/**
 * @module Named curves: PKCS#11 CKA_EC_PARAMS encodings ↔ node:crypto names.
 *
 * CKA_EC_PARAMS holds the DER encoding of an ANSI X9.62 Parameters value; this
 * project accepts the namedCurve (OBJECT IDENTIFIER) choice only, and for
 * Edwards and Montgomery curves also the PKCS#11 v3.0 PrintableString form
 * ("edwards25519", "curve25519"). Everything the rest of the code needs to know
 * about one curve is in its row.
 */
import * as P from './pkcs11.js';

export interface Curve {
  /** Our canonical name, as used in docs and the CLI. */
  readonly name: string;
  /** Name understood by node:crypto (generateKeyPair 'ec' namedCurve, or key type). */
  readonly nodeName: string;
  /** 'ec' for Weierstrass curves, 'ed25519' / 'x25519' for RFC 8410 keys. */
  readonly nodeType: 'ec' | 'ed25519' | 'x25519';
  readonly keyType: number;
  readonly bits: number;
  /** DER of the OBJECT IDENTIFIER, as stored in CKA_EC_PARAMS. */
  readonly oidDer: string;
  /** v3.0 PrintableString alternative (DER), for Edwards/Montgomery only. */
  readonly printableDer?: string;
  /** Signing with ECDSA/EdDSA is offered on this curve. */
  readonly canSign: boolean;
  /** ECDH derivation is offered on this curve. */
  readonly canDerive: boolean;
}

function printable(s: string): string {
  return '13' + s.length.toString(16).padStart(2, '0') + Buffer.from(s, 'ascii').toString('hex');
}

export const CURVES: readonly Curve[] = [
  { name: 'P-192', nodeName: 'prime192v1', nodeType: 'ec', keyType: P.CKK_EC, bits: 192, oidDer: '06082a8648ce3d030101', canSign: false, canDerive: true },
  { name: 'P-224', nodeName: 'secp224r1', nodeType: 'ec', keyType: P.CKK_EC, bits: 224, oidDer: '06052b81040021', canSign: false, canDerive: true },
  { name: 'P-256', nodeName: 'prime256v1', nodeType: 'ec', keyType: P.CKK_EC, bits: 256, oidDer: '06082a8648ce3d030107', canSign: true, canDerive: true },
  { name: 'P-384', nodeName: 'secp384r1', nodeType: 'ec', keyType: P.CKK_EC, bits: 384, oidDer: '06052b81040022', canSign: true, canDerive: true },
  { name: 'P-521', nodeName: 'secp521r1', nodeType: 'ec', keyType: P.CKK_EC, bits: 521, oidDer: '06052b81040023', canSign: true, canDerive: true },
  { name: 'secp256k1', nodeName: 'secp256k1', nodeType: 'ec', keyType: P.CKK_EC, bits: 256, oidDer: '06052b8104000a', canSign: true, canDerive: true },
  { name: 'Ed25519', nodeName: 'ed25519', nodeType: 'ed25519', keyType: P.CKK_EC_EDWARDS, bits: 255, oidDer: '06032b6570', printableDer: printable('edwards25519'), canSign: true, canDerive: false },
  { name: 'X25519', nodeName: 'x25519', nodeType: 'x25519', keyType: P.CKK_EC_MONTGOMERY, bits: 255, oidDer: '06032b656e', printableDer: printable('curve25519'), canSign: false, canDerive: true },
];

/** The curve whose CKA_EC_PARAMS encoding is `der`, or undefined. */
export function curveByParams(der: Uint8Array): Curve | undefined {
  const hex = Buffer.from(der).toString('hex');
  return CURVES.find((c) => c.oidDer === hex || c.printableDer === hex);
}

export function curveByName(name: string): Curve | undefined {
  return CURVES.find((c) => c.name === name || c.nodeName === name);
}
