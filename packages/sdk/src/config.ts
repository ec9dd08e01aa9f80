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
 * The parser is the protocol's (packages/protocol/src/appcfg.ts), shared with the
 * daemon and the CLIs; the rules are in docs/config-format.md.
 */
import { existsSync, statSync } from 'node:fs';
import { readTrustedFile, UnsafeFileError } from '../../protocol/src/file_safety.js';
import { join, resolve } from 'node:path';
import { ConfigError, ConfigNotFoundError } from './errors.js';
import { APPLICATION_CFG, ApplicationConfigError, ENV_APPLICATION_CFG, parseApplicationConfigText } from '../../protocol/src/appcfg.js';

export { APPLICATION_CFG, ENV_APPLICATION_CFG } from '../../protocol/src/appcfg.js';

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

/** Parse the text of an application cfg with the one parser (packages/protocol/src/appcfg.ts). */
export function parseApplicationConfig(text: string, path: string): ApplicationConfig {
  let c;
  try {
    c = parseApplicationConfigText(text, path);
  } catch (e) {
    if (e instanceof ApplicationConfigError) throw new ConfigError(e.message);
    throw e;
  }
  const endpoint: Endpoint = c.socketType === 'TCPSOCKET' ? { kind: 'tcp', host: '127.0.0.1', port: c.port } : { kind: 'unix', path: c.socketPath };
  return { path, endpoint, sessionMode: c.sessionMode, userKekHandle: c.userKekHandle };
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
