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
 * Lookup: the one order of docs/config-format.md "Lookup"
 * (packages/protocol/src/appcfg_lookup.ts): the working directory, the
 * executable's folder (for a Node program, its main script's), then
 * `AZCLOUDHSM_APPLICATION_CFG` (a file, or a folder holding it), then
 * /opt/azurecloudhsm/bin. The first that exists is read; an invalid one is an
 * error, with no fall-through; when none exists the error lists every place.
 *
 * The parser is the protocol's (packages/protocol/src/appcfg.ts), shared with the
 * daemon and the CLIs; the rules are in docs/config-format.md.
 */
import { readTrustedFile, UnsafeFileError } from '../../protocol/src/file_safety.js';
import { dirname, resolve } from 'node:path';
import { fsPathKind, lookupApplicationConfig } from '../../protocol/src/appcfg_lookup.js';
import { ConfigError, ConfigNotFoundError } from './errors.js';
import { ApplicationConfigError, ENV_APPLICATION_CFG, parseApplicationConfigText } from '../../protocol/src/appcfg.js';

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

/** The folder of the program's main script (the "executable's folder" of a Node program), if any. */
function mainScriptDir(): string | undefined {
  const main = process.argv[1];
  return main !== undefined && main !== '' ? dirname(resolve(main)) : undefined;
}

/** Find and parse the cfg by the one lookup order; ConfigNotFoundError lists every place tried. */
export function findApplicationConfig(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env, exeDir: string | undefined = mainScriptDir()): ApplicationConfig {
  const r = lookupApplicationConfig({ cwd: resolve(cwd), exeDir, env: env[ENV_APPLICATION_CFG] }, fsPathKind);
  if (r.found === undefined) throw new ConfigNotFoundError(r.message, r.tried);
  return loadApplicationConfig(r.found);
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
