/**
 * @module Helper commands: Error2String, getCaviumPrivKey, IsValidKeyHandlefile,
 * listECCCurveIds (the Azure Cloud HSM onboarding guide; the Azure Cloud HSM OpenSSL guide).
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { CKR_OF, HsmError } from '../../../protocol/src/errors.js';
import { ckrName } from '../../../protocol/src/names.js';
import { decOrHex, handle, need } from './args.js';
import { readInput, writeOutput } from './cmd_crypto.js';
import { requireAttributes, ulongOf } from './cmd_keys.js';
import { TAB, returnedLine, rvHex } from './format.js';
import { CURVE_IDS, curveByOid } from './ids.js';
import { KeyFileError, ecKeyReference, parseSpki, readPrivateKeyFile, referencedHandle, rsaKeyReference, samePublicKey, type PublicKeyInfo } from '../../../protocol/src/keyref.js';
import type { UtilSession } from './session.js';
import { ApiFailure, LocalError, UsageError, type UtilCommand } from './types.js';

/** What each return code means here, in one line. */
export const CKR_DESCRIPTIONS: ReadonlyMap<number, string> = new Map([
  [P.CKR_OK, 'success'],
  [P.CKR_GENERAL_ERROR, 'an internal error in the HSM or the client'],
  [P.CKR_FUNCTION_FAILED, 'the operation failed'],
  [P.CKR_ARGUMENTS_BAD, 'a bad argument (malformed request, unknown user, limit exceeded)'],
  [P.CKR_ATTRIBUTE_READ_ONLY, 'the attribute cannot be set or changed (by this user)'],
  [P.CKR_ATTRIBUTE_SENSITIVE, 'the attribute is sensitive and cannot be read'],
  [P.CKR_ATTRIBUTE_TYPE_INVALID, 'the attribute does not apply to this object'],
  [P.CKR_ATTRIBUTE_VALUE_INVALID, 'an attribute value is invalid (e.g. the user KEK is not extractable and trusted)'],
  [P.CKR_ACTION_PROHIBITED, 'the object forbids this action'],
  [P.CKR_DATA_INVALID, 'the input data is invalid'],
  [P.CKR_DATA_LEN_RANGE, 'the input data has the wrong length'],
  [P.CKR_DEVICE_ERROR, 'the client daemon or the HSM nodes cannot be reached (is azcloudhsm_client running?)'],
  [P.CKR_ENCRYPTED_DATA_INVALID, 'the encrypted data is not authentic or is malformed'],
  [P.CKR_ENCRYPTED_DATA_LEN_RANGE, 'the encrypted data has the wrong length'],
  [P.CKR_FUNCTION_NOT_SUPPORTED, 'the function is not supported (or the partition is not in the right state)'],
  [P.CKR_KEY_HANDLE_INVALID, 'no such key, or not visible to this user (Key/Token not found)'],
  [P.CKR_KEY_SIZE_RANGE, 'the key size is out of range'],
  [P.CKR_KEY_TYPE_INCONSISTENT, 'the key type does not fit the mechanism'],
  [P.CKR_KEY_FUNCTION_NOT_PERMITTED, "the key's attributes do not permit this use (e.g. an untrusted KEK)"],
  [P.CKR_KEY_NOT_WRAPPABLE, 'the key cannot be wrapped (by this wrapping key)'],
  [P.CKR_KEY_UNEXTRACTABLE, 'the key is not extractable'],
  [P.CKR_MECHANISM_INVALID, 'the mechanism is not supported for this operation'],
  [P.CKR_MECHANISM_PARAM_INVALID, 'the mechanism parameters are invalid'],
  [P.CKR_OBJECT_HANDLE_INVALID, 'no such object'],
  [P.CKR_PIN_INCORRECT, 'the password is incorrect'],
  [P.CKR_PIN_INVALID, 'the password has invalid characters'],
  [P.CKR_PIN_LEN_RANGE, 'the password length is out of range'],
  [P.CKR_PIN_EXPIRED, 'login failed: wrong user name, password or PIN format (RET_USER_LOGIN_FAILURE)'],
  [P.CKR_PIN_LOCKED, 'the account is locked after too many failed logins; a CO unlocks it'],
  [P.CKR_SIGNATURE_INVALID, 'the signature does not verify'],
  [P.CKR_SIGNATURE_LEN_RANGE, 'the signature has the wrong length'],
  [P.CKR_TEMPLATE_INCOMPLETE, 'the template lacks a required attribute'],
  [P.CKR_TEMPLATE_INCONSISTENT, 'the template is inconsistent'],
  [P.CKR_UNWRAPPING_KEY_HANDLE_INVALID, 'no such unwrapping key'],
  [P.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, 'the unwrapping key type does not fit the mechanism'],
  [P.CKR_USER_ALREADY_LOGGED_IN, 'this application is already logged in'],
  [P.CKR_USER_NOT_LOGGED_IN, 'not logged in: run loginHSM first'],
  [P.CKR_USER_TYPE_INVALID, 'this user type may not do this (e.g. a CO using a key)'],
  [P.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, 'another user is logged in on this host; that application must log out first'],
  [P.CKR_WRAPPED_KEY_INVALID, 'the wrapped key is invalid (or the wrong unwrapping key)'],
  [P.CKR_WRAPPED_KEY_LEN_RANGE, 'the wrapped key has the wrong length'],
  [P.CKR_WRAPPING_KEY_HANDLE_INVALID, 'no such wrapping key (Invalid key-handle/token)'],
  [P.CKR_WRAPPING_KEY_TYPE_INCONSISTENT, 'the wrapping key type does not fit the mechanism'],
  [P.CKR_CURVE_NOT_SUPPORTED, 'the curve is not supported'],
  [P.CKR_BUFFER_TOO_SMALL, 'the output buffer is too small'],
]);

const Error2String: UtilCommand = {
  name: 'Error2String',
  category: 'Helper',
  help: 'Converts an error code to its name and meaning',
  syntax: 'Error2String -r <response code>',
  details: ['-r  the code as printed after "returned:", e.g. 0xA3, or in decimal (163), or a daemon code such as ERR_LOGIN_FAILED'],
  opts: { '-r': 'value' },
  required: ['-r'],
  async run(s, o) {
    const v = need(o, '-r');
    const code = /^ERR_[A-Z_]+$/.test(v)
      ? (CKR_OF as Readonly<Record<string, number>>)[v]
      : decOrHex(v, 'response code');
    if (code === undefined) throw new UsageError(`Unknown daemon error code ${v}`);
    const name = ckrName(code);
    const known = CKR_DESCRIPTIONS.get(code);
    if (name.includes('UNKNOWN') && known === undefined) {
      s.para(`Error Code ${rvHex(code)} is not a known response code`);
      return false;
    }
    s.para(`Error Code ${rvHex(code)} maps to HSM ${code === 0 ? 'Return' : 'Error'}: ${name}`, ...(known ? [`Meaning: ${known}`] : []));
    return true;
  },
};

const listECCCurveIds: UtilCommand = {
  name: 'listECCCurveIds',
  category: 'Helper',
  help: 'Lists the ECC curve ids genECCKeyPair takes',
  syntax: 'listECCCurveIds',
  async run(s) {
    s.out();
    s.out('Following are the supported ECC curve ids:');
    s.out();
    for (const c of CURVE_IDS) {
      const note = !c.curve ? 'not supported by OpenCloudHSM' : !c.curve.canSign ? 'no ECDSA signing: key agreement (ECDH) only' : '';
      s.out(`      ${c.name.padEnd(16)}= ${note ? `${String(c.id).padEnd(4)}(${note})` : c.id}`);
    }
    return true;
  },
};

/** The public key of an HSM key, from CKA_PUBLIC_KEY_INFO. */
async function hsmPublicKey(s: UtilSession, api: string, h: number): Promise<{ cls: number | undefined; pub: PublicKeyInfo }> {
  const a = await requireAttributes(s, api, h, [P.CKA_CLASS, P.CKA_PUBLIC_KEY_INFO]);
  return { cls: ulongOf(a.get(P.CKA_CLASS)), pub: parseSpki(a.get(P.CKA_PUBLIC_KEY_INFO)!) };
}

const getCaviumPrivKey: UtilCommand = {
  name: 'getCaviumPrivKey',
  category: 'Helper',
  help: 'Saves a private key handle in fake PEM format (a key reference for the OpenSSL engine; the key stays in the HSM)',
  syntax: 'getCaviumPrivKey -k <private key handle> -out <fake PEM file>',
  details: [
    'EC keys: an EC PRIVATE KEY whose private value is the marker eafcfcee, the handle (64-bit little-endian), eafcfcee...,',
    '         with the genuine public point. RSA keys: an RSA PRIVATE KEY with the genuine modulus and exponent;',
    '         the private exponent and CRT values hold the marker block. See docs/cli.md.',
  ],
  opts: { '-k': 'value', '-out': 'value' },
  required: ['-k', '-out'],
  async run(s, o) {
    const h = handle(need(o, '-k'), 'private key handle');
    const api = 'getCaviumPrivKey';
    const { cls, pub } = await hsmPublicKey(s, api, h);
    if (cls !== P.CKO_PRIVATE_KEY) throw new ApiFailure(api, new HsmError('ERR_KEY_TYPE_INCONSISTENT', `key ${h} is not a private key: give the private key handle of the pair`));
    let text: string;
    if (pub.kind === 'rsa') text = rsaKeyReference(h, pub.n, pub.e);
    else if (pub.kind === 'ec') {
      const c = curveByOid(pub.curveOid);
      if (!c) throw new ApiFailure(api, new HsmError('ERR_CURVE_NOT_SUPPORTED', `key ${h} is on a curve this tool does not know`));
      text = ecKeyReference(h, Buffer.from(pub.curveOid, 'hex'), pub.point, c.privLen);
    } else {
      throw new ApiFailure(api, new HsmError('ERR_KEY_TYPE_INCONSISTENT', `key ${h} is an ${pub.kind === 'ed25519' ? 'Ed25519' : 'X25519'} key: key references exist for RSA and EC (ECDSA) keys only`));
    }
    const out = need(o, '-out');
    writeOutput(out, text, 0o600);
    s.out();
    s.out(`Private Key Handle is written to ${out} in fake PEM format`);
    s.out();
    s.out(TAB + returnedLine(api, 0));
    return true;
  },
};

const IsValidKeyHandlefile: UtilCommand = {
  name: 'IsValidKeyHandlefile',
  category: 'Helper',
  help: 'Tells whether a private key file holds an HSM key handle (fake PEM) or a real key',
  syntax: 'IsValidKeyHandlefile -f <private key file>',
  details: [
    'A key reference is valid when its marker names a private key you can see in the HSM',
    'and its public part equals that key\'s. Exit status 0 only for a valid key reference.',
  ],
  opts: { '-f': 'value' },
  required: ['-f'],
  async run(s, o) {
    const file = need(o, '-f');
    const api = 'IsValidKeyHandlefile';
    let parsed;
    try {
      parsed = readPrivateKeyFile(readInput(file, 'key file').toString('utf8'));
    } catch (e) {
      if (e instanceof KeyFileError) throw new LocalError(`${file}: ${e.message}`);
      throw e;
    }
    const h = referencedHandle(parsed);
    if (h === undefined) {
      s.para(`Input key file has real private key`, `${file} holds key material, not an HSM key handle`);
      return false;
    }
    const invalid = (why: string): boolean => {
      s.para(`Input key file has invalid key handle: ${h}`, `Reason: ${why}`);
      return false;
    };
    let hsm: { cls: number | undefined; pub: PublicKeyInfo };
    try {
      hsm = await hsmPublicKey(s, api, h);
    } catch (e) {
      if (e instanceof ApiFailure && ['ERR_KEY_HANDLE_INVALID', 'ERR_OBJECT_HANDLE_INVALID'].includes(e.error.code)) {
        return invalid(`the HSM has no key ${h} that you can see (${e.error.ckrName})`);
      }
      throw e;
    }
    if (hsm.cls !== P.CKO_PRIVATE_KEY) return invalid(`HSM object ${h} is not a private key`);
    const filePub: PublicKeyInfo | undefined = parsed.kind === 'rsa' ? parsed.pub : parsed.kind === 'ec' ? parsed.pub : undefined;
    if (!filePub) return invalid('the file has no public key to compare with the HSM key');
    if (!samePublicKey(filePub, hsm.pub)) return invalid(`the public key in the file is not the public key of HSM key ${h}`);
    s.para(`Input key file has valid key handle: ${h}`);
    s.para(returnedLine(api, 0));
    return true;
  },
};

export const HELPER_COMMANDS: readonly UtilCommand[] = [Error2String, listECCCurveIds, getCaviumPrivKey, IsValidKeyHandlefile];
