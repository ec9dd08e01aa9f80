/**
 * @module `azcloudhsm_application.cfg`: the one TypeScript parser (docs/config-format.md).
 *
 * The daemon, the SDK and the CLIs read the file through this parser; the C parser
 * (native/common/src/appcfg.c) and the Java one (java/.../AppConfig.java) pass the same
 * vectors (test-vectors/cfg/application.json), so all of them read one file one way.
 * Pure: text in, values or an ApplicationConfigError out. Reading the file and the lookup
 * order are the caller's (docs/config-format.md "Lookup").
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { CfgFileError } from './cfg_file_error.js';

export const APPLICATION_CFG = 'azcloudhsm_application.cfg';
export const ENV_APPLICATION_CFG = 'AZCLOUDHSM_APPLICATION_CFG';
export const SOCKET_FILE = 'azcloudhsm_client.sock';
/** sun_path is 108 bytes on Linux, one of them the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

export type SocketType = 'UNIXSOCKET' | 'TCPSOCKET';
export type SessionMode = 'HOST' | 'APPLICATION';

/** The keys, in the order docs/config-format.md lists them. */
export const APPLICATION_KEYS = ['DAEMON_ID', 'SOCKET_TYPE', 'PORT', 'SOCKET_PATH', 'USER_KEK_HANDLE', 'SESSION_MODE'] as const;
export type ApplicationKey = (typeof APPLICATION_KEYS)[number];

export const APPLICATION_DEFAULTS = { daemonId: 1, socketType: 'UNIXSOCKET', port: 1111, sessionMode: 'HOST' } as const;

export interface ParsedApplicationConfig {
  readonly daemonId: number;
  readonly socketType: SocketType;
  /** TCP port on 127.0.0.1 when socketType is TCPSOCKET. */
  readonly port: number;
  /** Absolute path of the Unix socket. */
  readonly socketPath: string;
  readonly userKekHandle: number | undefined;
  readonly sessionMode: SessionMode;
}

/** A file that is not a valid application cfg; the message names `<file>:<line>`. */
export class ApplicationConfigError extends CfgFileError {}

/** The default socket: `<dir of the cfg>/../run/azcloudhsm_client.sock`. */
export function defaultSocketPath(cfgDir: string): string {
  return resolve(cfgDir, '..', 'run', SOCKET_FILE);
}

/** A value in a message (docs/config-format.md "Errors"): in double quotes, its first 57 characters
 * then `...`, control characters as `\xNN`, `"` and `\` escaped with `\` (the C and Java parsers do the same). */
function show(v: string): string {
  let out = '"';
  for (let i = 0; i < v.length; i++) {
    if (i >= 57) {
      out += '...';
      break;
    }
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (v[i] === '"' || v[i] === '\\') out += `\\${v[i]}`;
    else out += v[i];
  }
  return `${out}"`;
}

const byteLength = (s: string): number => new TextEncoder().encode(s).length;

function wholeNumber(v: string, min: number, max: number): number | undefined {
  if (!/^[0-9]{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/**
 * Parse the text of an application cfg. `path` names the file in messages; `cfgDir` (default: the
 * file's folder) anchors a relative SOCKET_PATH and the default socket path. An unknown key is
 * not an error: `warn` hears of it.
 */
export function parseApplicationConfigText(text: string, path: string, warn: (w: string) => void = () => undefined, cfgDir = dirname(path)): ParsedApplicationConfig {
  const fail = (message: string): never => {
    throw new ApplicationConfigError(path, message);
  };
  const seen = new Map<ApplicationKey, number>();
  let daemonId: number = APPLICATION_DEFAULTS.daemonId;
  let socketType: SocketType = APPLICATION_DEFAULTS.socketType;
  let port: number = APPLICATION_DEFAULTS.port;
  let socketPath = defaultSocketPath(cfgDir);
  let userKekHandle: number | undefined;
  let sessionMode: SessionMode = APPLICATION_DEFAULTS.sessionMode;
  text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `${path}:${n}`;
    const eq = line.indexOf('=');
    if (eq < 0) fail(`${at}: expected KEY=VALUE, got ${show(line)}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!(APPLICATION_KEYS as readonly string[]).includes(key)) {
      warn(`${at}: unknown key ${show(key)} (ignored); known keys: ${APPLICATION_KEYS.join(', ')}`);
      return;
    }
    const k = key as ApplicationKey;
    const prev = seen.get(k);
    if (prev !== undefined) fail(`${at}: ${k} is already set on line ${prev}`);
    seen.set(k, n);
    if (value === '') fail(`${at}: ${k} has no value`);
    switch (k) {
      case 'DAEMON_ID':
        daemonId = wholeNumber(value, 0, 0x7fffffff) ?? fail(`${at}: DAEMON_ID must be a whole number from 0 to 2147483647 (got ${show(value)})`);
        break;
      case 'SOCKET_TYPE': {
        const v = value.toUpperCase();
        if (v !== 'UNIXSOCKET' && v !== 'TCPSOCKET') fail(`${at}: SOCKET_TYPE must be UNIXSOCKET or TCPSOCKET (got ${show(value)})`);
        socketType = v as SocketType;
        break;
      }
      case 'PORT':
        port = wholeNumber(value, 1, 65535) ?? fail(`${at}: PORT must be a TCP port from 1 to 65535 (got ${show(value)})`);
        break;
      case 'SOCKET_PATH': {
        const p = isAbsolute(value) ? value : resolve(cfgDir, value);
        if (p.includes('\u0000')) fail(`${at}: SOCKET_PATH contains a NUL character`);
        if (byteLength(p) > MAX_SOCKET_PATH_BYTES) fail(`${at}: SOCKET_PATH ${show(p)} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit for a Unix socket path`);
        socketPath = p;
        break;
      }
      case 'USER_KEK_HANDLE':
        userKekHandle = wholeNumber(value, 1, Number.MAX_SAFE_INTEGER) ?? fail(`${at}: USER_KEK_HANDLE must be a key handle, a whole number such as 262150 (got ${show(value)})`);
        break;
      case 'SESSION_MODE': {
        const v = value.toUpperCase();
        if (v !== 'HOST' && v !== 'APPLICATION') fail(`${at}: SESSION_MODE must be HOST or APPLICATION (got ${show(value)})`);
        sessionMode = v as SessionMode;
        break;
      }
    }
  });
  if (socketType === 'UNIXSOCKET' && !seen.has('SOCKET_PATH') && byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    fail(`${path}: the default socket path ${show(socketPath)} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; set SOCKET_PATH to a shorter path`);
  }
  return { daemonId, socketType, port, socketPath, userKekHandle, sessionMode };
}
