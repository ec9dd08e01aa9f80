/**
 * @module The sealing-key file format (docs/storage-format.md §6): pure text ↔ key.
 *
 * Trust boundary: the text handled here IS the masking key, the root of every
 * masked value. Nothing in this file reads or writes files (that is
 * hsm-node/src/sealing_key_file.ts, which also checks file modes), and no
 * error message ever quotes the text it was given, since that text may be key
 * material in the wrong shape.
 *
 * Format:  "ochsm-sealing-key v1\n" ‖ 64 lowercase hex digits ‖ "\n"
 */
import { HsmError } from '../../../protocol/src/errors.js';

export const SEALING_KEY_HEADER = 'ochsm-sealing-key v1';
export const SEALING_KEY_BYTES = 32;

/** The file content for a 32-byte key. */
export function formatSealingKey(key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.length !== SEALING_KEY_BYTES) {
    throw new TypeError(`a sealing key is ${SEALING_KEY_BYTES} bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`);
  }
  return `${SEALING_KEY_HEADER}\n${Buffer.from(key).toString('hex')}\n`;
}

function bad(what: string): HsmError {
  return new HsmError('ERR_BARRIER', `sealing key: ${what}`);
}

/** The key in a sealing-key file's content; refuses anything not exactly in the v1 format. */
export function parseSealingKey(text: string): Buffer {
  if (typeof text !== 'string') throw new TypeError('sealing key text must be a string');
  /* Tolerate CRLF and trailing blanks (files edited on other systems); nothing else. */
  const lines = text.split('\n').map((l) => l.replace(/[ \t\r]+$/, ''));
  const first = lines[0] ?? '';
  if (first !== SEALING_KEY_HEADER) {
    if (first.startsWith('ochsm-sealing-key ')) throw bad(`unsupported format version (this program reads "${SEALING_KEY_HEADER}")`);
    throw bad(`not a sealing key file (the first line must be "${SEALING_KEY_HEADER}")`);
  }
  const hex = lines[1];
  if (hex === undefined || hex === '') throw bad('the key line is missing');
  if (hex.length !== SEALING_KEY_BYTES * 2) {
    throw bad(`the key line must be ${SEALING_KEY_BYTES * 2} hexadecimal characters (${SEALING_KEY_BYTES} bytes), found ${hex.length} characters`);
  }
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw bad('the key line contains characters that are not hexadecimal digits');
  if (lines.slice(2).some((l) => l !== '')) throw bad('unexpected content after the key line');
  const key = Buffer.from(hex, 'hex');
  if (key.every((x) => x === 0)) throw bad('the key is all zeros');
  return key;
}
