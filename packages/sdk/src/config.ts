/**
 * @module Where the SDK finds the client daemon: `azcloudhsm_application.cfg`.
 *
 * The same file and the same rules as the daemon (docs/daemon.md,
 * "azcloudhsm_application.cfg") and the C libraries (native/common): KEY=VALUE
 * lines, `#` comments, blank lines, white space around keys and values
 * ignored, a BOM and CRLF accepted, unknown keys ignored; a repeated key or a
 * bad value is an error naming `<file>:<line>`. `SOCKET_PATH` is relative to
 * the file's folder and defaults to `<folder>/../run/azcloudhsm_client.sock`;
 * `SOCKET_TYPE=TCPSOCKET` means 127.0.0.1:`PORT`.
 *
 * Lookup (the JCE guide: "azcloudhsm_application.cfg must be present in the
 * working directory"): the working directory first, then the path in
 * `AZCLOUDHSM_APPLICATION_CFG` (a file, or a folder holding it). The first
 * file that exists is read; an invalid one is an error, with no fall-through;
 * when none exists the error lists every path tried.
 *
 * The SDK may not import the daemon (packages/sdk/README.md), so this parser is
 * the SDK's own; test/config.test.ts pins it to the daemon's behaviour.
 */
import { existsSync, statSync } from 'node:fs';
import { readTrustedFile, UnsafeFileError } from '../../protocol/src/file_safety.js';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError, ConfigNotFoundError } from './errors.js';

export const APPLICATION_CFG = 'azcloudhsm_application.cfg';
export const ENV_APPLICATION_CFG = 'AZCLOUDHSM_APPLICATION_CFG';
const SOCKET_FILE = 'azcloudhsm_client.sock';
/** sun_path is 108 bytes on Linux, one of them the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** How to reach the daemon. */
export type Endpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: '127.0.0.1'; readonly port: number };

export interface ApplicationConfig {
  /** The file read (absolute). */
  readonly path: string;
  readonly endpoint: Endpoint;
  readonly sessionMode: 'HOST' | 'APPLICATION';
  readonly userKekHandle: number | undefined;
}

const KEYS = ['DAEMON_ID', 'SOCKET_TYPE', 'PORT', 'SOCKET_PATH', 'USER_KEK_HANDLE', 'SESSION_MODE'] as const;
type Key = (typeof KEYS)[number];

const show = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);

function wholeNumber(v: string, min: number, max: number): number | undefined {
  if (!/^[0-9]{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** Parse the text of an application cfg; `path` names it in errors and anchors relative paths. */
export function parseApplicationConfig(text: string, path: string): ApplicationConfig {
  const dir = dirname(path);
  const seen = new Map<Key, number>();
  let socketType = 'UNIXSOCKET' as 'UNIXSOCKET' | 'TCPSOCKET';
  let port = 1111;
  let socketPath = resolve(dir, '..', 'run', SOCKET_FILE);
  let sessionMode = 'HOST' as 'HOST' | 'APPLICATION';
  let userKekHandle: number | undefined;
  text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `${path}:${i + 1}`;
    const eq = line.indexOf('=');
    if (eq < 0) throw new ConfigError(`${at}: expected KEY=VALUE, got ${show(line)}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!(KEYS as readonly string[]).includes(key)) return; /* unknown keys are the daemon's to warn about */
    const k = key as Key;
    const prev = seen.get(k);
    if (prev !== undefined) throw new ConfigError(`${at}: ${k} is already set on line ${prev}`);
    seen.set(k, i + 1);
    if (value === '') throw new ConfigError(`${at}: ${k} has no value`);
    switch (k) {
      case 'DAEMON_ID':
        if (wholeNumber(value, 0, 0x7fffffff) === undefined) throw new ConfigError(`${at}: DAEMON_ID must be a whole number from 0 to 2147483647 (got ${show(value)})`);
        break;
      case 'SOCKET_TYPE': {
        const v = value.toUpperCase();
        if (v !== 'UNIXSOCKET' && v !== 'TCPSOCKET') throw new ConfigError(`${at}: SOCKET_TYPE must be UNIXSOCKET or TCPSOCKET (got ${show(value)})`);
        socketType = v;
        break;
      }
      case 'PORT': {
        const v = wholeNumber(value, 1, 65535);
        if (v === undefined) throw new ConfigError(`${at}: PORT must be a TCP port from 1 to 65535 (got ${show(value)})`);
        port = v;
        break;
      }
      case 'SOCKET_PATH': {
        const p = isAbsolute(value) ? value : resolve(dir, value);
        if (p.includes('\u0000')) throw new ConfigError(`${at}: SOCKET_PATH contains a NUL character`);
        if (Buffer.byteLength(p) > MAX_SOCKET_PATH_BYTES) throw new ConfigError(`${at}: SOCKET_PATH ${show(p)} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit for a Unix socket path`);
        socketPath = p;
        break;
      }
      case 'USER_KEK_HANDLE': {
        const v = wholeNumber(value, 1, Number.MAX_SAFE_INTEGER);
        if (v === undefined) throw new ConfigError(`${at}: USER_KEK_HANDLE must be a key handle, a whole number such as 262150 (got ${show(value)})`);
        userKekHandle = v;
        break;
      }
      case 'SESSION_MODE': {
        const v = value.toUpperCase();
        if (v !== 'HOST' && v !== 'APPLICATION') throw new ConfigError(`${at}: SESSION_MODE must be HOST or APPLICATION (got ${show(value)})`);
        sessionMode = v;
        break;
      }
    }
  });
  const endpoint: Endpoint = socketType === 'TCPSOCKET' ? { kind: 'tcp', host: '127.0.0.1', port } : { kind: 'unix', path: socketPath };
  return { path, endpoint, sessionMode, userKekHandle };
}

export interface Candidate {
  readonly path: string;
  /** Why this path is tried, for the message when none exists. */
  readonly why: string;
}

/** The paths tried, in order. */
export function configCandidates(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): Candidate[] {
  const out: Candidate[] = [{ path: join(resolve(cwd), APPLICATION_CFG), why: 'working directory' }];
  const e = env[ENV_APPLICATION_CFG];
  if (e !== undefined && e !== '') {
    const p = resolve(cwd, e);
    const isDir = existsSync(p) && statSync(p).isDirectory();
    out.push({ path: isDir ? join(p, APPLICATION_CFG) : p, why: ENV_APPLICATION_CFG });
  }
  return out;
}

/** Find and parse the first existing candidate; ConfigNotFoundError lists what was tried. */
export function findApplicationConfig(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): ApplicationConfig {
  const tried = configCandidates(cwd, env);
  for (const c of tried) {
    if (existsSync(c.path) && statSync(c.path).isFile()) return loadApplicationConfig(c.path);
  }
  throw new ConfigNotFoundError(tried, Boolean(env[ENV_APPLICATION_CFG]));
}

export function loadApplicationConfig(path: string): ApplicationConfig {
  const abs = resolve(path);
  let text: string;
  try {
    text = readTrustedFile(abs);
  } catch (e) {
    if (e instanceof UnsafeFileError) throw new ConfigError(e.message);
    throw new ConfigError(`${abs}: cannot be read (${e instanceof Error ? e.message : String(e)})`);
  }
  return parseApplicationConfig(text, abs);
}

export function describeEndpoint(e: Endpoint): string {
  return e.kind === 'unix' ? e.path : `${e.host}:${e.port}`;
}
