/**
 * @module Management Crypto: sign, verify (the Azure Cloud HSM onboarding guide:
 * `sign -f hash.bin -k 262159 -m 1 -out sign.bin`, `verify -f hash.bin -s
 * sign.bin -k 262158 -m 1`), aesWrapUnwrap (NIST AES key wrap of a buffer).
 */
import { readFileSync } from 'node:fs';
import { UnsafeFileError, writeNewPrivateFile, writePublicFile } from '../../../protocol/src/file_safety.js';
import * as P from '../../../protocol/src/pkcs11.js';
import type { RequestOf } from '../../../protocol/src/messages.js';
import { handle, hexBytes, integer, need, str, zeroOne } from './args.js';
import { SIGN_MECHS, signMechById, type SignMech } from './ids.js';
import { LocalError, UsageError, type UtilCommand } from './types.js';

/** Single-part data limit of the HSM (docs/decisions.md: 1 MiB). */
const MAX_DATA = 1024 * 1024;

export function readInput(file: string, what = 'file'): Buffer {
  let b: Buffer;
  try {
    b = readFileSync(file);
  } catch (e) {
    throw new LocalError(`cannot read ${what} ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return b;
}

/** Write an output file: secrets (mode 0600) into a new file only, never through a symbolic link. */
export function writeOutput(file: string, data: Uint8Array | string, mode = 0o644): void {
  try {
    if ((mode & 0o077) === 0) writeNewPrivateFile(file, data);
    else writePublicFile(file, data, mode);
  } catch (e) {
    if (e instanceof UnsafeFileError) throw new LocalError(`cannot write ${file}: ${e.message}`);
    throw new LocalError(`cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function mechanismOf(m: SignMech): RequestOf<'sign'>['mechanism'] {
  return m.pss ? { mechanism: m.ckm, hashAlg: m.pss.hashAlg, mgf: m.pss.mgf, saltLen: m.pss.saltLen } : { mechanism: m.ckm };
}

function signMech(v: string): SignMech {
  const m = signMechById(integer(v, 'mechanism'));
  if (!m) throw new UsageError(`Invalid mechanism '${v}': expected ${SIGN_MECHS.map((x) => x.id).join(', ')}`);
  return m;
}

function dataFile(file: string): Buffer {
  const data = readInput(file);
  if (data.length > MAX_DATA) throw new LocalError(`${file} is ${data.length} bytes; the HSM signs at most ${MAX_DATA} bytes in one operation`);
  return data;
}

const MECH_DETAILS = [
  `-m  signing mechanism: ${SIGN_MECHS.map((m) => `${m.id} = ${m.name}${m.addition ? ' (OpenCloudHSM addition)' : ''}`).join(', ')}`,
  '    the data is hashed by the mechanism (SHA256_RSA_PKCS signs SHA-256 of the file)',
];

const sign: UtilCommand = {
  name: 'sign',
  category: 'Management Crypto',
  help: 'Generates a signature with a private key',
  syntax: 'sign -f <file to sign> -k <private key handle> -m <signing mechanism> -out <signed file>',
  details: MECH_DETAILS,
  opts: { '-f': 'value', '-k': 'value', '-m': 'value', '-out': 'value' },
  required: ['-f', '-k', '-m', '-out'],
  async run(s, o) {
    const m = signMech(need(o, '-m'));
    const h = handle(need(o, '-k'));
    const data = dataFile(need(o, '-f'));
    const r = await s.req('Cfm3Sign', 'sign', { ...s.sessionField, mechanism: mechanismOf(m), handle: h, data });
    const out = need(o, '-out');
    writeOutput(out, r.signature);
    s.ok('Cfm3Sign');
    s.para(`signature is written to file ${out} (${r.signature.length} bytes, ${m.name})`);
    await s.clusterStatus();
    return true;
  },
};

const verify: UtilCommand = {
  name: 'verify',
  category: 'Management Crypto',
  help: 'Verifies a signature with a public key',
  syntax: 'verify -f <file to verify> -s <signature file> -k <public key handle> -m <signing mechanism>',
  details: MECH_DETAILS,
  opts: { '-f': 'value', '-s': 'value', '-k': 'value', '-m': 'value' },
  required: ['-f', '-s', '-k', '-m'],
  async run(s, o) {
    const m = signMech(need(o, '-m'));
    const h = handle(need(o, '-k'));
    const data = dataFile(need(o, '-f'));
    const signature = readInput(need(o, '-s'), 'signature file');
    await s.req('Cfm3Verify', 'verify', { ...s.sessionField, mechanism: mechanismOf(m), handle: h, data, signature });
    s.ok('Cfm3Verify');
    s.para('Signature verification successful');
    await s.clusterStatus();
    return true;
  },
};

const aesWrapUnwrap: UtilCommand = {
  name: 'aesWrapUnwrap',
  category: 'Management Crypto',
  help: 'Wraps or unwraps a buffer with an AES key (NIST SP 800-38F key wrap, RFC 3394)',
  syntax: 'aesWrapUnwrap -m <wrap/unwrap mode> -f <file to wrap/unwrap> -w <wrapping key handle> [-i <wrapping IV>] [-out <output file>]',
  details: [
    '-m  1 = wrap, 0 = unwrap',
    '-f  the data: a multiple of 8 bytes, at least 16 (wrap), or a wrapped buffer (unwrap)',
    '-i  the 8-byte initial value in hex (default A6A6A6A6A6A6A6A6)',
    '-out write the result to this file (default: print it in hex)',
  ],
  opts: { '-m': 'value', '-f': 'value', '-w': 'value', '-i': 'value', '-out': 'value' },
  required: ['-m', '-f', '-w'],
  async run(s, o) {
    const wrap = zeroOne(need(o, '-m'), 'mode');
    const h = handle(need(o, '-w'), 'wrapping key handle');
    const iv = str(o, '-i');
    const data = readInput(need(o, '-f'));
    const mechanism = { mechanism: P.CKM_AES_KEY_WRAP, ...(iv !== undefined ? { iv: hexBytes(iv, 'wrapping IV', 8) } : {}) };
    const api = wrap ? 'Cfm3WrapHostKey' : 'Cfm3UnWrapHostKey';
    const r = await s.req(api, wrap ? 'encrypt' : 'decrypt', { ...s.sessionField, mechanism, handle: h, data });
    const out = str(o, '-out');
    if (out !== undefined) writeOutput(out, r.data, 0o600);
    s.ok(api);
    s.para(out !== undefined ? `result written to file ${out}` : `result data: ${Buffer.from(r.data).toString('hex')}`);
    return true;
  },
};

export const CRYPTO_COMMANDS: readonly UtilCommand[] = [sign, verify, aesWrapUnwrap];
