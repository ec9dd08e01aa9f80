/**
 * @module The client daemon's three configuration files (docs/daemon.md
 * "Configuration"; the Azure Cloud HSM onboarding guide):
 *
 *  - `azcloudhsm_resource.cfg` (JSON): the bootstrap node(s), the file named on
 *    the command line;
 *  - `azcloudhsm_application.cfg` (KEY=VALUE lines) beside it: how applications
 *    reach the daemon, and the host's sign-in mode;
 *  - `azcloudhsm_client.cfg` (JSON, optional) beside it: certificates, timeouts,
 *    retries.
 *
 * The application and client cfg are parsed by packages/protocol (appcfg.ts,
 * clientcfg.ts: one parser each, with shared test vectors); this module reads
 * the files and turns their errors into ConfigError.
 *
 * Every problem is a ConfigError whose message starts with the file (and, for
 * KEY=VALUE files, the line) and says what is wrong and what is allowed.
 * Unknown keys are warnings, not errors, so that a file written for a newer
 * version still loads.
 */
import { existsSync } from 'node:fs';
import { readTrustedFile, UnsafeFileError } from '../../protocol/src/file_safety.js';
import { dirname, join, resolve } from 'node:path';
import { CfgFileError } from '../../protocol/src/cfg_file_error.js';
import { ClientConfigError, defaultClientConfig as defaultClientSettings, parseClientConfigText, type ParsedClientConfig } from '../../protocol/src/clientcfg.js';
import { APPLICATION_CFG, ApplicationConfigError, defaultSocketPath, parseApplicationConfigText, type ParsedApplicationConfig } from '../../protocol/src/appcfg.js';

export const RESOURCE_CFG = 'azcloudhsm_resource.cfg';
export { APPLICATION_CFG, SOCKET_FILE, MAX_SOCKET_PATH_BYTES } from '../../protocol/src/appcfg.js';
import { CLIENT_CFG } from '../../protocol/src/clientcfg.js';
export { CLIENT_CFG };
/** The node port the service uses (the Azure Cloud HSM onboarding guide; mgmt_util screenshots). */
export const DEFAULT_NODE_PORT = 2225;

/** A daemon configuration file that cannot be used (packages/protocol/src/cfg_file_error.ts). */
export class ConfigError extends CfgFileError {}

/* ─────────────────────────────── azcloudhsm_resource.cfg ─────────────────────────────── */

export interface ServerEntry {
  readonly hostname: string;
  readonly port: number;
}

export interface ResourceConfig {
  readonly path: string;
  readonly servers: readonly ServerEntry[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new ConfigError(path, `${path}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

function readText(path: string): string {
  try {
    return readTrustedFile(path);
  } catch (e) {
    if (e instanceof UnsafeFileError) throw new ConfigError(path, e.message);
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new ConfigError(path, `${path}: cannot read the configuration file: ${why}`);
  }
}

/** A host name or IP address: no white space, no URL syntax, at most 253 characters. */
function validHostname(h: unknown): h is string {
  return typeof h === 'string' && h.length > 0 && h.length <= 253 && !/[\s/@?#]/.test(h) && !/[\u0000-\u001f]/.test(h);
}

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
}

export function parseResourceConfig(text: string, path: string, warn: (w: string) => void = () => undefined): ResourceConfig {
  const j = parseJson(text, path);
  if (!isObject(j)) throw new ConfigError(path, `${path}: must be a JSON object such as {"servers":[{"hostname":"hsm1.example.net"}]}`);
  for (const k of Object.keys(j)) if (k !== 'servers') warn(`${path}: unknown key "${k}" (ignored)`);
  const servers = j.servers;
  if (servers === undefined) throw new ConfigError(path, `${path}: no "servers" list: give at least one server, e.g. {"servers":[{"hostname":"hsm1.example.net"}]}`);
  if (!Array.isArray(servers)) throw new ConfigError(path, `${path}: "servers" must be a list of {"hostname": ..., "port"?: ...} objects`);
  if (servers.length === 0) throw new ConfigError(path, `${path}: "servers" is empty: give at least one server`);
  const out: ServerEntry[] = [];
  servers.forEach((s: unknown, i: number) => {
    const where = `${path}: servers[${i}]`;
    if (!isObject(s)) throw new ConfigError(path, `${where} must be an object such as {"hostname":"hsm1.example.net"}`);
    for (const k of Object.keys(s)) if (k !== 'hostname' && k !== 'port') warn(`${where}: unknown key "${k}" (ignored)`);
    if (s.hostname === undefined) throw new ConfigError(path, `${where} has no "hostname"`);
    if (!validHostname(s.hostname)) throw new ConfigError(path, `${where}.hostname must be a host name or IP address (got ${show(s.hostname)})`);
    if (s.port !== undefined && !validPort(s.port)) throw new ConfigError(path, `${where}.port must be an integer from 1 to 65535 (got ${show(s.port)})`);
    out.push({ hostname: s.hostname, port: (s.port as number | undefined) ?? DEFAULT_NODE_PORT });
  });
  return { path, servers: out };
}

export function loadResourceConfig(path: string, warn?: (w: string) => void): ResourceConfig {
  const abs = resolve(path);
  return parseResourceConfig(readText(abs), abs, warn);
}

/* ─────────────────────────────── azcloudhsm_application.cfg ─────────────────────────────── */

export type { SocketType, SessionMode } from '../../protocol/src/appcfg.js';
export { APPLICATION_DEFAULTS, defaultSocketPath } from '../../protocol/src/appcfg.js';

export interface ApplicationConfig extends ParsedApplicationConfig {
  /** The file read, or undefined when it does not exist (defaults only). */
  readonly path: string | undefined;
}

/** The one parser (packages/protocol/src/appcfg.ts, docs/config-format.md), with the daemon's ConfigError. */
export function parseApplicationConfig(text: string, path: string, warn: (w: string) => void = () => undefined, cfgDir = dirname(path)): ApplicationConfig {
  try {
    return { path, ...parseApplicationConfigText(text, path, warn, cfgDir) };
  } catch (e) {
    if (e instanceof ApplicationConfigError) throw new ConfigError(e.file, e.message);
    throw e;
  }
}

/** Read the application cfg; when the file does not exist, the defaults (with a warning). */
export function loadApplicationConfig(path: string, warn: (w: string) => void = () => undefined): ApplicationConfig {
  const abs = resolve(path);
  if (!existsSync(abs)) {
    warn(`${abs}: not found; using the defaults (SOCKET_TYPE=UNIXSOCKET, SOCKET_PATH=${defaultSocketPath(dirname(abs))}, SESSION_MODE=HOST)`);
    return { ...parseApplicationConfig('', abs, warn), path: undefined };
  }
  return parseApplicationConfig(readText(abs), abs, warn);
}

/* ─────────────────────────────── azcloudhsm_client.cfg ─────────────────────────────── */

export type { RetryPolicy } from '../../protocol/src/retry.js';

export interface ClientConfig extends ParsedClientConfig {
  /** The file read, or undefined when it does not exist (defaults only). */
  readonly path: string | undefined;
}

/** The defaults, for a daemon without azcloudhsm_client.cfg. */
export function defaultClientConfig(resourceDir: string): ClientConfig {
  return { path: undefined, ...defaultClientSettings(resourceDir) };
}

/** The one parser (packages/protocol/src/clientcfg.ts, docs/config-format.md), with the daemon's ConfigError. */
export function parseClientConfig(text: string, path: string, resourceDir: string, warn: (w: string) => void = () => undefined): ClientConfig {
  try {
    return { path, ...parseClientConfigText(text, path, resourceDir, warn) };
  } catch (e) {
    if (e instanceof ClientConfigError) throw new ConfigError(e.file, e.message);
    throw e;
  }
}

/** Read the client cfg if it exists; the defaults otherwise. */
export function loadClientConfig(path: string, resourceDir: string, warn?: (w: string) => void): ClientConfig {
  const abs = resolve(path);
  if (!existsSync(abs)) return defaultClientConfig(resourceDir);
  return parseClientConfig(readText(abs), abs, resourceDir, warn);
}

/* ─────────────────────────────── all three ─────────────────────────────── */

export interface DaemonConfig {
  readonly resource: ResourceConfig;
  readonly application: ApplicationConfig;
  readonly client: ClientConfig;
  readonly warnings: readonly string[];
}

/** The three files: the resource cfg given, the other two beside it. */
export function loadDaemonConfig(resourcePath: string): DaemonConfig {
  const warnings: string[] = [];
  const warn = (w: string) => warnings.push(w);
  const resource = loadResourceConfig(resourcePath, warn);
  const dir = dirname(resource.path);
  const application = loadApplicationConfig(join(dir, APPLICATION_CFG), warn);
  const client = loadClientConfig(join(dir, CLIENT_CFG), dir, warn);
  return { resource, application, client, warnings };
}

/** The path of PO.crt under the configured cert directory. */
export function poCertPath(client: ClientConfig): string {
  return join(client.certDir, 'PO.crt');
}
