/**
 * @module Key Import/Export: exportPubKey, importPubKey, exportPrivateKey,
 * importPrivateKey, exSymKey, imSymKey, wrapKey, unWrapKey.
 *
 * Key material crosses the HSM boundary only wrapped under a key-encryption
 * key (KEK); the user KEK of the Azure Cloud HSM onboarding guide is the default (`-w`, else
 * USER_KEK_HANDLE of azcloudhsm_application.cfg):
 *
 *  - Import (importPrivateKey, imSymKey): the KEK must be extractable and
 *    trusted (`genSymKey … -wrap_with_trusted 1`, then a CO's `setAttribute
 *    <handle> 134 1`), otherwise `invalid attribute. attribute should be set
 *    for User KEK.` The key is wrapped under the KEK (Cfm3ImportWrapKey /
 *    Cfm3WrapHostKey, an HSM encrypt with NIST AES key wrap with padding) and
 *    unwrapped into the HSM (Cfm3ImportUnWrapKey / Cfm3UnWrapKey).
 *  - Plaintext export (exportPrivateKey, exSymKey): the HSM wraps the key
 *    under the KEK (it refuses a key with CKA_EXTRACTABLE FALSE, and a
 *    wrap-with-trusted key under an untrusted KEK); then the wrapped key is
 *    unwrapped for the caller, by the HSM with the KEK (which needs
 *    CKA_DECRYPT) or on the host with `-wk <key file>`. The policy: only the
 *    key's owner may export it, and only under a KEK that a CO marked trusted.
 *  - wrapKey / unWrapKey move wrapped keys only; the HSM's rules apply.
 */
import { createDecipheriv, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import type { RequestOf } from '../../../protocol/src/messages.js';
import { attr } from '../../../protocol/src/attributes.js';
import { derOctetString } from '../../../protocol/src/der.js';
import { flag, handle, integer, need, str } from './args.js';
import { readInput, writeOutput } from './cmd_crypto.js';
import { sessionFor } from './cmd_keygen.js';
import { boolOf, requireAttributes, ulongOf } from './cmd_keys.js';
import { DEFAULT_OAEP_HASH, DEFAULT_WRAP_MECH, KEY_TYPE_NAMES, OAEP_HASHES, SYM_KEY_TYPES, UNSUPPORTED_WRAP_MECHS, WRAP_MECHS, symKeyTypeById, wrapMechById, type WrapMech } from './ids.js';
import { OID_ED25519, OID_X25519, pem, parseSpki, readPrivateKeyFile, referencedHandle } from '../../../protocol/src/keyref.js';
import type { UtilSession } from './session.js';
import { KEY_OPTION_SPEC, keyOptions, keyTemplate } from './templates.js';
import { ApiFailure, LocalError, UsageError, type UtilCommand } from './types.js';

/** The guide's message when the KEK is not extractable and trusted (the Azure Cloud HSM onboarding guide; the Azure Cloud HSM OpenSSL guide). */
export const USER_KEK_MESSAGE = 'invalid attribute. attribute should be set for User KEK.';

type Mechanism = RequestOf<'wrapKey'>['mechanism'];

/* ───────────────────────────── the KEK ───────────────────────────── */

/** `-w`, else USER_KEK_HANDLE, else a usage error that says how to set one. */
function kekHandle(s: UtilSession, o: ReadonlyMap<string, string | true>): number {
  const w = str(o, '-w');
  if (w !== undefined) return handle(w, 'wrapping key handle');
  const h = s.userKekHandle();
  if (h === undefined) {
    throw new UsageError('No wrapping key: give -w <KEK handle>, or set USER_KEK_HANDLE=<handle> in azcloudhsm_application.cfg (onboarding guide §5)');
  }
  return h;
}

interface KekState {
  readonly handle: number;
  readonly extractable: boolean;
  readonly trusted: boolean;
}

async function kekState(s: UtilSession, api: string, h: number): Promise<KekState> {
  const a = await requireAttributes(s, api, h, [P.CKA_CLASS, P.CKA_KEY_TYPE]);
  if (ulongOf(a.get(P.CKA_CLASS)) !== P.CKO_SECRET_KEY || ulongOf(a.get(P.CKA_KEY_TYPE)) !== P.CKK_AES) {
    throw new ApiFailure(api, new HsmError('ERR_WRAPPING_KEY_TYPE_INCONSISTENT', `key ${h} is not an AES key: the KEK must be an AES key (genSymKey -t 31 -s 32)`));
  }
  const b = await requireAttributes(s, api, h, [P.CKA_EXTRACTABLE, P.CKA_TRUSTED]);
  return { handle: h, extractable: boolOf(b.get(P.CKA_EXTRACTABLE)), trusted: boolOf(b.get(P.CKA_TRUSTED)) };
}

/** Import needs an extractable, trusted KEK (the Azure Cloud HSM onboarding guide, Option 1). */
async function importKek(s: UtilSession, api: string, h: number): Promise<void> {
  const k = await kekState(s, api, h);
  if (!k.extractable || !k.trusted) {
    throw new ApiFailure(api, new HsmError('ERR_ATTRIBUTE_VALUE_INVALID',
      `${USER_KEK_MESSAGE} Key ${h} has OBJ_ATTR_EXTRACTABLE ${k.extractable ? 1 : 0} and OBJ_ATTR_TRUSTED ${k.trusted ? 1 : 0}; ` +
      `create the KEK with genSymKey -t 31 -s 32 -wrap_with_trusted 1 and have a CO run setAttribute ${h} 134 1`));
  }
}

/** Plaintext export needs a trusted KEK, and the caller must own the key. */
async function exportChecks(s: UtilSession, api: string, kek: number, key: number): Promise<void> {
  const k = await kekState(s, api, kek);
  if (!k.trusted) {
    throw new ApiFailure(api, new HsmError('ERR_KEY_FUNCTION_NOT_PERMITTED',
      `wrapping key ${kek} is not trusted (OBJ_ATTR_TRUSTED 0): a key leaves the HSM only under a KEK that a CO marked trusted (setAttribute ${kek} 134 1 in azcloudhsm_mgmt_util)`));
  }
  const [info, me] = await Promise.all([s.req(api, 'keyInfo', { ...s.sessionField, handle: key }), s.req(api, 'loginStatus', {})]);
  if (!me.loggedIn || info.owner !== me.user) {
    throw new ApiFailure(api, new HsmError('ERR_NOT_PERMITTED', `only the owner of key ${key} (${info.owner}) can export it`));
  }
}

function aesWrapMech(o: ReadonlyMap<string, string | true>): WrapMech {
  const v = str(o, '-m');
  const id = v === undefined ? DEFAULT_WRAP_MECH : integer(v, 'wrapping mechanism');
  const m = wrapMechById(id);
  if (!m || m.rsa) throw new UsageError(`Invalid wrapping mechanism ${id}: with a KEK use 5 (NIST_AES_WRAP_NO_PAD) or 6 (NIST_AES_WRAP_PAD, the default)`);
  return m;
}

/** Unwrap on the host with a plaintext AES key from a file (`-wk`). */
function hostUnwrap(m: WrapMech, keyFile: string, wrapped: Uint8Array): Buffer {
  const key = readInput(keyFile, 'unwrapping key file');
  if (![16, 24, 32].includes(key.length)) throw new LocalError(`${keyFile} holds ${key.length} bytes: an AES key is 16, 24 or 32 bytes`);
  const pad = m.ckm === P.CKM_AES_KEY_WRAP_PAD;
  try {
    const d = createDecipheriv(`id-aes${key.length * 8}-wrap${pad ? '-pad' : ''}`, key, Buffer.from(pad ? 'A65959A6' : 'A6A6A6A6A6A6A6A6', 'hex'));
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch {
    throw new LocalError(`the key in ${keyFile} does not unwrap the exported key: it is not the wrapping key`);
  }
}

/** Wrap `key` under the KEK in the HSM, then unwrap it for the caller. */
async function exportPlain(s: UtilSession, o: ReadonlyMap<string, string | true>, key: number): Promise<{ plain: Buffer; kek: number; mech: WrapMech }> {
  const kek = kekHandle(s, o);
  const mech = aesWrapMech(o);
  await exportChecks(s, 'Cfm3ExportWrapKeyWithMech', kek, key);
  const { wrapped } = await s.req('Cfm3ExportWrapKeyWithMech', 'wrapKey', { ...s.sessionField, mechanism: { mechanism: mech.ckm }, wrappingHandle: kek, keyHandle: key });
  s.ok('Cfm3ExportWrapKeyWithMech');
  const wk = str(o, '-wk');
  let plain: Buffer;
  if (wk !== undefined) plain = hostUnwrap(mech, wk, wrapped);
  else plain = Buffer.from((await s.req('Cfm3ExportUnwrapKeyWithMech', 'decrypt', { ...s.sessionField, mechanism: { mechanism: mech.ckm }, handle: kek, data: wrapped })).data);
  s.ok('Cfm3ExportUnwrapKeyWithMech');
  return { plain, kek, mech };
}

/** Wrap `plain` under the KEK (HSM encrypt), then unwrap it into the HSM as a new key. */
async function importPlain(s: UtilSession, apis: readonly [string, string, string], kek: number, plain: Uint8Array, template: RequestOf<'unwrapKey'>['template'], session: { session?: number }): Promise<number> {
  const mechanism = { mechanism: P.CKM_AES_KEY_WRAP_PAD };
  await importKek(s, apis[0], kek);
  const { data: wrapped } = await s.req(apis[0], 'encrypt', { ...s.sessionField, mechanism, handle: kek, data: plain });
  s.ok(apis[0]);
  s.ok(apis[1]);
  const r = await s.req(apis[2], 'unwrapKey', { ...session, mechanism, unwrappingHandle: kek, wrapped, template });
  s.ok(apis[2]);
  return r.handle;
}

const KEK_DETAILS = [
  '-w  the KEK (an AES key); default: USER_KEK_HANDLE of azcloudhsm_application.cfg',
];

/** What the two key exports (exportPrivateKey, exSymKey) take: the key, the file, the KEK, the wrap mechanism, a host-side unwrap. */
const EXPORT_DETAILS = [
  ...KEK_DETAILS,
  '-m  5 = NIST_AES_WRAP_NO_PAD, 6 = NIST_AES_WRAP_PAD (default)',
  '-wk unwrap on this host with the AES key in this file (a copy of the KEK); default: the HSM unwraps with the KEK',
];
const EXPORT_OPTS: UtilCommand['opts'] = { '-k': 'value', '-out': 'value', '-w': 'value', '-m': 'value', '-wk': 'value' };

/** The key `-k` of an export, refused unless of class `cls` (the key `notIt` otherwise), wrapped out under the KEK and unwrapped: its bytes. */
async function exportOfClass(s: UtilSession, o: ReadonlyMap<string, string | true>, cls: number, notIt: string): Promise<Buffer> {
  const h = handle(need(o, '-k'));
  const a = await requireAttributes(s, 'Cfm3ExportWrapKeyWithMech', h, [P.CKA_CLASS]);
  if (ulongOf(a.get(P.CKA_CLASS)) !== cls) throw new ApiFailure('Cfm3ExportWrapKeyWithMech', new HsmError('ERR_KEY_TYPE_INCONSISTENT', `key ${h} ${notIt}`));
  return (await exportPlain(s, o, h)).plain;
}

/* ───────────────────────────── public keys ───────────────────────────── */

const exportPubKey: UtilCommand = {
  name: 'exportPubKey',
  category: 'Key Import/Export',
  help: 'Exports a public key (RSA, EC, Ed25519) in PEM format',
  syntax: 'exportPubKey -k <public or private key handle> -out <key file>',
  opts: { '-k': 'value', '-out': 'value' },
  required: ['-k', '-out'],
  async run(s, o) {
    const h = handle(need(o, '-k'));
    const a = await requireAttributes(s, 'Cfm3ExportPubKey', h, [P.CKA_PUBLIC_KEY_INFO]);
    const out = need(o, '-out');
    writeOutput(out, pem('PUBLIC KEY', a.get(P.CKA_PUBLIC_KEY_INFO)!));
    s.ok('Cfm3ExportPubKey');
    s.para(`PEM formatted public key is written to ${out}`);
    return true;
  },
};

/** The CKK type of a KeyObject. */
function keyTypeOf(k: KeyObject, file: string): number {
  switch (k.asymmetricKeyType) {
    case 'rsa':
      return P.CKK_RSA;
    case 'ec':
      return P.CKK_EC;
    case 'ed25519':
      return P.CKK_EC_EDWARDS;
    case 'x25519':
      return P.CKK_EC_MONTGOMERY;
    default:
      throw new LocalError(`${file} holds a ${k.asymmetricKeyType ?? 'unknown'} key; RSA, EC, Ed25519 and X25519 keys are supported`);
  }
}

const importPubKey: UtilCommand = {
  name: 'importPubKey',
  category: 'Key Import/Export',
  help: 'Imports a PEM public key (RSA, EC, Ed25519)',
  syntax: 'importPubKey -l <label> -f <key file> [-id <key id>] [-sess]',
  opts: { '-l': 'value', '-f': 'value', '-id': 'value', '-sess': 'flag' },
  required: ['-l', '-f'],
  async run(s, o) {
    const file = need(o, '-f');
    let key: KeyObject;
    try {
      key = createPublicKey(readInput(file, 'key file'));
    } catch (e) {
      if (e instanceof LocalError) throw e;
      throw new LocalError(`${file} is not a PEM public key: ${e instanceof Error ? e.message : String(e)}`);
    }
    const keyType = keyTypeOf(key, file);
    const spki = parseSpki(key.export({ format: 'der', type: 'spki' }));
    const material =
      spki.kind === 'rsa' ? [attr.bytes(P.CKA_MODULUS, spki.n), attr.bytes(P.CKA_PUBLIC_EXPONENT, spki.e)]
      : spki.kind === 'ec' ? [attr.bytes(P.CKA_EC_PARAMS, Buffer.from(spki.curveOid, 'hex')), attr.bytes(P.CKA_EC_POINT, derOctetString(spki.point))]
      : [attr.bytes(P.CKA_EC_PARAMS, Buffer.from(spki.kind === 'ed25519' ? OID_ED25519 : OID_X25519, 'hex')), attr.bytes(P.CKA_EC_POINT, derOctetString(spki.point))];
    const k = keyOptions(o);
    const r = await s.req('Cfm3CreatePublicKey', 'createObject', {
      ...(await sessionFor(s, k)),
      template: [...keyTemplate(P.CKO_PUBLIC_KEY, keyType, k), ...material],
    });
    s.ok('Cfm3CreatePublicKey');
    s.para(`Public Key Handle: ${r.handle}`);
    await s.clusterStatus();
    return true;
  },
};

/* ───────────────────────────── private keys ───────────────────────────── */

const exportPrivateKey: UtilCommand = {
  name: 'exportPrivateKey',
  category: 'Key Import/Export',
  help: 'Exports a private key in PEM format (PKCS#8), wrapped under a trusted KEK on the way',
  syntax: 'exportPrivateKey -k <private key handle> -out <key file> [-w <wrapping key handle>] [-m <wrapping mechanism>] [-wk <unwrapping key file>]',
  details: [...EXPORT_DETAILS, 'The key must be extractable, owned by you, and the KEK trusted (setAttribute <KEK> 134 1 by a CO).'],
  opts: EXPORT_OPTS,
  required: ['-k', '-out'],
  async run(s, o) {
    const plain = await exportOfClass(s, o, P.CKO_PRIVATE_KEY, 'is not a private key (use exSymKey for secret keys)');
    let der: Buffer;
    try {
      der = createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' }).export({ format: 'der', type: 'pkcs8' });
    } catch {
      throw new LocalError('the unwrapped key is not a PKCS#8 private key');
    }
    const out = need(o, '-out');
    writeOutput(out, pem('PRIVATE KEY', der), 0o600);
    s.para(`PEM formatted private key is written to ${out}`);
    return true;
  },
};

const importPrivateKey: UtilCommand = {
  name: 'importPrivateKey',
  category: 'Key Import/Export',
  help: 'Imports a PEM private key (RSA, EC, Ed25519), wrapped under the user KEK on the way',
  syntax: 'importPrivateKey -l <label> -f <key file> [-w <wrapping key handle>] [-id <key id>] [-sess] [-nex] [-wrap_with_trusted <0/1>]',
  details: [...KEK_DETAILS, 'The KEK must be extractable and trusted: genSymKey ... -wrap_with_trusted 1, then setAttribute <KEK> 134 1 by a CO.'],
  opts: { '-f': 'value', '-w': 'value', ...KEY_OPTION_SPEC },
  required: ['-l', '-f'],
  async run(s, o) {
    const file = need(o, '-f');
    const text = readInput(file, 'key file').toString('utf8');
    try {
      const ref = referencedHandle(readPrivateKeyFile(text));
      if (ref !== undefined) throw new LocalError(`${file} is a key reference (fake PEM) to HSM key ${ref}, not a private key: the key is in the HSM already`);
    } catch (e) {
      if (e instanceof LocalError) throw e;
      /* not a layout we read: node:crypto decides below */
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(text);
    } catch (e) {
      throw new LocalError(`${file} is not a PEM private key: ${e instanceof Error ? e.message : String(e)}`);
    }
    const keyType = keyTypeOf(key, file);
    const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
    const kek = kekHandle(s, o);
    s.para(`BER encoded key length is ${pkcs8.length}`);
    const k = keyOptions(o);
    const session = await sessionFor(s, k);
    const h = await importPlain(s, ['Cfm3ImportWrapKey', 'Cfm3CreateUnwrapTemplate2', 'Cfm3ImportUnWrapKey'], kek, pkcs8, keyTemplate(P.CKO_PRIVATE_KEY, keyType, k), session);
    s.para(`Private Key Imported. Key Handle: ${h}`);
    await s.clusterStatus();
    return true;
  },
};

/* ───────────────────────────── symmetric keys ───────────────────────────── */

const exSymKey: UtilCommand = {
  name: 'exSymKey',
  category: 'Key Import/Export',
  help: 'Exports a symmetric key to a file, wrapped under a trusted KEK on the way',
  syntax: 'exSymKey -k <key to export> -out <key file> [-w <wrapping key handle>] [-m <wrapping mechanism>] [-wk <unwrapping key file>]',
  details: [...EXPORT_DETAILS, 'The file receives the key bytes. The key must be extractable, owned by you, and the KEK trusted.'],
  opts: EXPORT_OPTS,
  required: ['-k', '-out'],
  async run(s, o) {
    const plain = await exportOfClass(s, o, P.CKO_SECRET_KEY, 'is not a symmetric key (use exportPrivateKey for private keys)');
    const out = need(o, '-out');
    writeOutput(out, plain, 0o600);
    s.para(`Exported Symmetric Key written to file "${out}"`);
    return true;
  },
};

const imSymKey: UtilCommand = {
  name: 'imSymKey',
  category: 'Key Import/Export',
  help: 'Imports a symmetric key from a file, wrapped under the user KEK on the way',
  syntax: 'imSymKey -f <key file> -t <key type> -l <label> [-w <wrapping key handle>] [-id <key id>] [-sess] [-nex] [-wrap_with_trusted <0/1>]',
  details: [
    '-f  the key bytes (e.g. 32 bytes for AES-256)',
    `-t  key type: ${SYM_KEY_TYPES.filter((t) => t.ckk !== undefined).map((t) => `${t.id} = ${t.name} (${t.sizes} bytes)`).join(', ')}`,
    ...KEK_DETAILS,
    'The KEK must be extractable and trusted.',
  ],
  opts: { '-f': 'value', '-t': 'value', '-w': 'value', ...KEY_OPTION_SPEC },
  required: ['-f', '-t', '-l'],
  async run(s, o) {
    const t = symKeyTypeById(integer(need(o, '-t'), 'key type'));
    if (!t || t.ckk === undefined) throw new UsageError(`Invalid key type '${need(o, '-t')}': expected 16, 21 or 31`);
    const file = need(o, '-f');
    const value = readInput(file, 'key file');
    if (!t.validSize(value.length)) throw new LocalError(`${file} holds ${value.length} bytes: a ${t.name} key is ${t.sizes} bytes`);
    const kek = kekHandle(s, o);
    const k = keyOptions(o);
    const session = await sessionFor(s, k);
    const h = await importPlain(s, ['Cfm3WrapHostKey', 'Cfm3CreateUnwrapTemplate2', 'Cfm3UnWrapKey'], kek, value, keyTemplate(P.CKO_SECRET_KEY, t.ckk, k), session);
    s.para(`Symmetric Key Unwrapped.  Key Handle: ${h}`);
    await s.clusterStatus();
    return true;
  },
};

/* ───────────────────────────── wrapped keys ───────────────────────────── */

/** Header of a wrapKey file: magic, key class, key type, wrap mechanism id, hash id (u32 big-endian each). */
export const WRAPPED_MAGIC = Buffer.from('OCHSMWK1', 'latin1');
const HEADER_LENGTH = WRAPPED_MAGIC.length + 16;

export function wrappedFile(cls: number, keyType: number, mech: number, hash: number, wrapped: Uint8Array): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(cls, 0);
  h.writeUInt32BE(keyType, 4);
  h.writeUInt32BE(mech, 8);
  h.writeUInt32BE(hash, 12);
  return Buffer.concat([WRAPPED_MAGIC, h, wrapped]);
}

export function readWrappedFile(b: Buffer): { cls: number; keyType: number; mech: number; hash: number; wrapped: Buffer } | undefined {
  if (b.length <= HEADER_LENGTH || !b.subarray(0, WRAPPED_MAGIC.length).equals(WRAPPED_MAGIC)) return undefined;
  const o = WRAPPED_MAGIC.length;
  return { cls: b.readUInt32BE(o), keyType: b.readUInt32BE(o + 4), mech: b.readUInt32BE(o + 8), hash: b.readUInt32BE(o + 12), wrapped: b.subarray(HEADER_LENGTH) };
}

function wrapMechanism(m: WrapMech, hashId: number): Mechanism {
  if (!m.rsa) return { mechanism: m.ckm };
  const h = OAEP_HASHES.get(hashId)!;
  return m.ckm === P.CKM_RSA_AES_KEY_WRAP ? { mechanism: m.ckm, aesKeyBits: 256, hashAlg: h.hashAlg, mgf: h.mgf } : { mechanism: m.ckm, hashAlg: h.hashAlg, mgf: h.mgf };
}

function wrapOptions(o: ReadonlyMap<string, string | true>): { m: WrapMech; hash: number } {
  const v = str(o, '-m');
  const id = v === undefined ? DEFAULT_WRAP_MECH : integer(v, 'wrapping mechanism');
  const m = wrapMechById(id);
  if (!m) {
    const un = UNSUPPORTED_WRAP_MECHS.get(id);
    throw new UsageError(un ? `Wrapping mechanism ${id} (${un}) is not supported by OpenCloudHSM` : `Invalid wrapping mechanism ${id}: expected ${WRAP_MECHS.map((x) => x.id).join(', ')}`);
  }
  const t = str(o, '-t');
  const hash = t === undefined ? DEFAULT_OAEP_HASH : integer(t, 'hash type');
  if (!OAEP_HASHES.has(hash)) throw new UsageError(`Invalid hash type ${hash}: expected ${[...OAEP_HASHES.keys()].join(', ')}`);
  return { m, hash };
}

const WRAP_DETAILS = [
  `-m  wrapping mechanism: ${WRAP_MECHS.map((m) => `${m.id} = ${m.name}`).join(', ')} (default ${DEFAULT_WRAP_MECH}); 5, 6 wrap with an AES key, 7, 8 with an RSA public key`,
  `-t  hash for 7 and 8: ${[...OAEP_HASHES].map(([k, v]) => `${k} = ${v.name}`).join(', ')} (default ${DEFAULT_OAEP_HASH})`,
];

const wrapKey: UtilCommand = {
  name: 'wrapKey',
  category: 'Key Import/Export',
  help: 'Wraps (encrypts) a secret or private key with a wrapping key and writes it to a file',
  syntax: 'wrapKey -k <key to wrap> -w <wrapping key handle> -out <file> [-m <wrapping mechanism>] [-t <hash type>] [-noheader]',
  details: [...WRAP_DETAILS, '-noheader write only the wrapped bytes (unWrapKey then needs -kc and -kt)'],
  opts: { '-k': 'value', '-w': 'value', '-out': 'value', '-m': 'value', '-t': 'value', '-noheader': 'flag' },
  required: ['-k', '-w', '-out'],
  async run(s, o) {
    const key = handle(need(o, '-k'));
    const w = handle(need(o, '-w'), 'wrapping key handle');
    const { m, hash } = wrapOptions(o);
    const a = await requireAttributes(s, 'Cfm3WrapKey', key, [P.CKA_CLASS, P.CKA_KEY_TYPE]);
    const { wrapped } = await s.req('Cfm3WrapKey', 'wrapKey', { ...s.sessionField, mechanism: wrapMechanism(m, hash), wrappingHandle: w, keyHandle: key });
    const out = need(o, '-out');
    const bytes = flag(o, '-noheader') ? Buffer.from(wrapped) : wrappedFile(ulongOf(a.get(P.CKA_CLASS))!, ulongOf(a.get(P.CKA_KEY_TYPE))!, m.id, hash, wrapped);
    writeOutput(out, bytes, 0o600);
    s.ok('Cfm3WrapKey');
    s.para('Key Wrapped.');
    s.para(`Wrapped Key written to file "${out}" length ${bytes.length}`);
    return true;
  },
};

const unWrapKey: UtilCommand = {
  name: 'unWrapKey',
  category: 'Key Import/Export',
  help: 'Unwraps a wrapped key from a file into the HSM',
  syntax: 'unWrapKey -f <wrapped key file> -w <unwrapping key handle> -l <label> [-m <wrapping mechanism>] [-t <hash type>] [-kc <key class> -kt <key type>] [-id <key id>] [-sess] [-nex] [-wrap_with_trusted <0/1>]',
  details: [
    ...WRAP_DETAILS,
    '-kc, -kt: class (3 private, 4 secret) and key type of a file written with -noheader; otherwise the file header says',
  ],
  opts: { '-f': 'value', '-w': 'value', '-m': 'value', '-t': 'value', '-kc': 'value', '-kt': 'value', ...KEY_OPTION_SPEC },
  required: ['-f', '-w', '-l'],
  async run(s, o) {
    const file = need(o, '-f');
    const b = readInput(file, 'wrapped key file');
    const w = handle(need(o, '-w'), 'unwrapping key handle');
    const hdr = readWrappedFile(b);
    let cls: number;
    let keyType: number;
    let mech: WrapMech;
    let hash: number;
    if (hdr) {
      const m = wrapMechById(hdr.mech);
      if (!m || !OAEP_HASHES.has(hdr.hash)) throw new LocalError(`${file}: the header names wrapping mechanism ${hdr.mech} / hash ${hdr.hash}, which this tool does not know`);
      cls = hdr.cls;
      keyType = hdr.keyType;
      mech = m;
      hash = hdr.hash;
    } else {
      const kc = str(o, '-kc');
      const kt = str(o, '-kt');
      if (kc === undefined || kt === undefined) throw new UsageError(`${file} has no OpenCloudHSM header (written with -noheader?): give -kc <key class> and -kt <key type>`);
      cls = integer(kc, 'key class');
      keyType = integer(kt, 'key type');
      ({ m: mech, hash } = wrapOptions(o));
    }
    if (cls !== P.CKO_PRIVATE_KEY && cls !== P.CKO_SECRET_KEY) throw new UsageError(`Invalid key class ${cls}: only private (3) and secret (4) keys are wrapped`);
    if (!KEY_TYPE_NAMES.has(keyType)) throw new UsageError(`Invalid key type ${keyType}`);
    const k = keyOptions(o);
    const r = await s.req('Cfm3UnWrapKey', 'unwrapKey', {
      ...(await sessionFor(s, k)),
      mechanism: wrapMechanism(mech, hash),
      unwrappingHandle: w,
      wrapped: hdr ? hdr.wrapped : b,
      template: keyTemplate(cls, keyType, k),
    });
    s.ok('Cfm3UnWrapKey');
    s.para(`Key Unwrapped.  Key Handle: ${r.handle}`);
    await s.clusterStatus();
    return true;
  },
};

export const TRANSFER_COMMANDS: readonly UtilCommand[] = [exportPubKey, importPubKey, exportPrivateKey, importPrivateKey, exSymKey, imSymKey, wrapKey, unWrapKey];
