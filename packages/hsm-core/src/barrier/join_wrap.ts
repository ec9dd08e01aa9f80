/**
 * @module The masking key wrapped for one joining node (docs/deployment.md §5).
 *
 * A node that joins a cluster has no sealing key. It makes an X25519 key pair
 * in memory and publishes the public key with a fingerprint that a crypto
 * officer compares on the new host's console and approves. A running node
 * then wraps the masking key for that public key:
 *
 *   e = a fresh X25519 key pair (one per wrap)
 *   k = HKDF-SHA256(ikm = X25519(e, joiner), salt = e.pub ‖ joiner.pub, info = "ochsm join v1", 32 bytes)
 *   wrapped = 0x01 ‖ e.pub (32) ‖ iv (12) ‖ AES-256-GCM_k(masking key; AAD = joinAad(node, fingerprint)) ‖ tag (16)
 *
 * Only the holder of the joiner's private key opens it, and only for the node
 * id and fingerprint the officer approved. Pure: crypto through ../crypto/node.js.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { createCipheriv, createDecipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from '../crypto/node.js';

const VERSION = 1;
const INFO = 'ochsm join v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Length of a wrapped masking key. */
export const WRAPPED_BYTES = 1 + KEY_BYTES + IV_BYTES + KEY_BYTES + TAG_BYTES;
/** Hex digits of a fingerprint (96 bits), shown in groups of four. */
const FINGERPRINT_HEX = 24;

/** The raw 32-byte X25519 public key of a KeyObject. */
export function rawX25519(key: KeyObject): Buffer {
  const x = key.export({ format: 'jwk' }).x;
  if (key.asymmetricKeyType !== 'x25519' || typeof x !== 'string') throw new TypeError('not an X25519 key');
  return Buffer.from(x, 'base64url');
}

function publicKeyFrom(raw: Uint8Array): KeyObject {
  if (raw.length !== KEY_BYTES) throw new HsmError('ERR_ARGUMENTS_BAD', `an X25519 public key has ${KEY_BYTES} bytes, not ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** A joining node's key pair (kept in memory only). */
export function joinKeyPair(): { privateKey: KeyObject; publicKey: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawX25519(publicKey) };
}

/** The fingerprint of node `node`'s join key: SHA-256 over a label, the node id and the key, 96 bits as xxxx-xxxx-xxxx-xxxx-xxxx-xxxx. */
export function joinFingerprint(node: number, publicKey: Uint8Array): string {
  const h = createHash('sha256').update(`ochsm join fingerprint v1\0${node}\0`, 'utf8').update(publicKey).digest('hex').slice(0, FINGERPRINT_HEX);
  return h.match(/.{4}/g)!.join('-');
}

/** A fingerprint as an officer may type it (any case, with or without dashes or colons), in its canonical form; throws when it is not one. */
export function normaliseFingerprint(s: string): string {
  const hex = String(s).toLowerCase().replace(/[-:\s]/g, '');
  if (!new RegExp(`^[0-9a-f]{${FINGERPRINT_HEX}}$`).test(hex)) {
    throw new HsmError('ERR_ARGUMENTS_BAD', `a join fingerprint is ${FINGERPRINT_HEX} hexadecimal digits (as the joining node prints it, e.g. 3f9a-0c1d-77e2-b840-19aa-5c3e)`);
  }
  return hex.match(/.{4}/g)!.join('-');
}

/** The associated data of a wrap: the node id and the approved fingerprint. */
export function joinAad(node: number, fingerprint: string): Buffer {
  return Buffer.from(`${INFO}\0node ${node}\0fingerprint ${fingerprint}`, 'utf8');
}

function kek(shared: Buffer, senderPub: Buffer, joinerPub: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([senderPub, joinerPub]), INFO, KEY_BYTES));
}

/** Wrap `maskingKey` for the joiner's raw X25519 public key (the Barrier calls this; the key never leaves it otherwise). */
export function wrapForJoiner(maskingKey: Uint8Array, joinerPublicKey: Uint8Array, aad: Uint8Array): Buffer {
  const joiner = publicKeyFrom(joinerPublicKey);
  const e = generateKeyPairSync('x25519');
  const ePub = rawX25519(e.publicKey);
  const shared = diffieHellman({ privateKey: e.privateKey, publicKey: joiner });
  const key = kek(shared, ePub, Buffer.from(joinerPublicKey));
  try {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    c.setAAD(aad);
    const body = Buffer.concat([c.update(maskingKey), c.final()]);
    return Buffer.concat([Buffer.from([VERSION]), ePub, iv, body, c.getAuthTag()]);
  } finally {
    shared.fill(0);
    key.fill(0);
  }
}

/** Open a wrapped masking key with the joiner's private key; ERR_WRAPPED_KEY_INVALID when it is not for this key, node and fingerprint. */
export function unwrapFromPeer(privateKey: KeyObject, wrapped: Uint8Array, aad: Uint8Array): Buffer {
  const w = Buffer.from(wrapped);
  if (w.length !== WRAPPED_BYTES || w[0] !== VERSION) throw new HsmError('ERR_WRAPPED_KEY_INVALID', `a wrapped masking key is ${WRAPPED_BYTES} bytes of format ${VERSION}; got ${w.length} bytes`);
  const ePub = w.subarray(1, 1 + KEY_BYTES);
  const iv = w.subarray(1 + KEY_BYTES, 1 + KEY_BYTES + IV_BYTES);
  const body = w.subarray(1 + KEY_BYTES + IV_BYTES, w.length - TAG_BYTES);
  const tag = w.subarray(w.length - TAG_BYTES);
  const mine = rawX25519(createPublicKey(privateKey));
  const shared = diffieHellman({ privateKey, publicKey: publicKeyFrom(ePub) });
  const key = kek(shared, Buffer.from(ePub), mine);
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    d.setAAD(aad);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]);
  } catch (cause) {
    throw new HsmError('ERR_WRAPPED_KEY_INVALID', 'the wrapped masking key does not open with this node\'s join key (it was wrapped for another key, node or fingerprint, or changed on the way)', { cause });
  } finally {
    shared.fill(0);
    key.fill(0);
  }
}
