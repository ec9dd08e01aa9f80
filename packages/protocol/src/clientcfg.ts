/**
 * @module `azcloudhsm_client.cfg`, the client daemon's own settings: the one parser
 * (docs/config-format.md "azcloudhsm_client.cfg"), checked against the shared vectors
 * (test-vectors/cfg/client.json) that any other reader of the file must pass too.
 * Pure: text in, values or a ClientConfigError out. Whether the file exists, and reading it,
 * are the caller's (an absent file means every default: defaultClientConfig).
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { CfgFileError } from './cfg_file_error.js';
import { DAEMON_RETRY, RETRY_LIMITS, type RetryPolicy } from './retry.js';

export const CLIENT_CFG = 'azcloudhsm_client.cfg';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * How the daemon chooses a node for each request (docs/daemon.md "Routing, retries and
 * idempotency"): `spread` rotates over the ready nodes once per turn of the event loop;
 * `pack` sends to this daemon's preferred ready node until it has `pack_in_flight` requests
 * in flight from this daemon, then to the next in its preference order.
 */
export const ROUTING_POLICIES = ['pack', 'spread'] as const;
export type RoutingPolicy = (typeof ROUTING_POLICIES)[number];
export const DEFAULT_ROUTING: RoutingPolicy = 'pack';

export interface ParsedClientConfig {
  /** Directory holding PO.crt. */
  readonly certDir: string;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly healthIntervalMs: number;
  readonly healthTimeoutMs: number;
  /** Retrying a request on another node (./retry.ts). */
  readonly retry: RetryPolicy;
  readonly logLevel: LogLevel;
  /** How requests are spread over the nodes (ROUTING_POLICIES). */
  readonly routing: RoutingPolicy;
  /** `pack`: requests in flight from this daemon to one node before the next node is used. */
  readonly packInFlight: number;
}

/** A file that is not a valid client cfg; the message starts with the file. */
export class ClientConfigError extends CfgFileError {}

interface NumberKey {
  readonly key: string;
  readonly min: number;
  readonly max: number;
  readonly dflt: number;
}

/** The numeric keys: name in the file, limits and default (docs/config-format.md lists the same). */
export const CLIENT_NUMBERS = {
  connectTimeoutMs: { key: 'connect_timeout_ms', min: 1, max: 600_000, dflt: 5000 },
  requestTimeoutMs: { key: 'request_timeout_ms', min: 1, max: 3_600_000, dflt: 30_000 },
  healthIntervalMs: { key: 'health_interval_ms', min: 10, max: 3_600_000, dflt: 1000 },
  healthTimeoutMs: { key: 'health_timeout_ms', min: 1, max: 600_000, dflt: 2000 },
  packInFlight: { key: 'pack_in_flight', min: 1, max: 100_000, dflt: 32 },
} as const satisfies Record<string, NumberKey>;

/* The limits and defaults are the retry policy's (./retry.ts); these are the cfg's key names. */
const RETRY_NUMBERS = {
  attempts: { key: 'attempts', ...RETRY_LIMITS.attempts, dflt: DAEMON_RETRY.attempts },
  backoffMs: { key: 'backoff_ms', ...RETRY_LIMITS.backoffMs, dflt: DAEMON_RETRY.backoffMs },
  deadlineMs: { key: 'deadline_ms', ...RETRY_LIMITS.deadlineMs, dflt: DAEMON_RETRY.deadlineMs },
} as const satisfies Record<string, NumberKey>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function numberFrom(o: Record<string, unknown>, spec: NumberKey, file: string, where: string): number {
  const v = o[spec.key];
  if (v === undefined) return spec.dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > spec.max) {
    throw new ClientConfigError(file, `${file}: ${where}${spec.key} must be a whole number from ${spec.min} to ${spec.max} (got ${show(v)})`);
  }
  return v;
}

/**
 * The settings a parsed JSON object gives. `path` is the file (relative cert_dir is taken from its
 * folder); without a file, `resourceDir` (the folder of azcloudhsm_resource.cfg) stands in.
 */
export function clientConfigFromObject(j: Record<string, unknown>, path: string | undefined, resourceDir: string, warn: (w: string) => void = () => undefined): ParsedClientConfig {
  const file = path ?? CLIENT_CFG;
  const known = new Set(['cert_dir', 'retry', 'log_level', 'routing', ...Object.values(CLIENT_NUMBERS).map((s) => s.key)]);
  for (const k of Object.keys(j)) if (!known.has(k)) warn(`${file}: unknown key "${k}" (ignored)`);
  let certDir = resolve(resourceDir, '..', 'cert');
  if (j.cert_dir !== undefined) {
    if (typeof j.cert_dir !== 'string' || j.cert_dir === '') throw new ClientConfigError(file, `${file}: cert_dir must be a directory path (got ${show(j.cert_dir)})`);
    certDir = isAbsolute(j.cert_dir) ? j.cert_dir : resolve(path ? dirname(path) : resourceDir, j.cert_dir);
  }
  const nums = {} as Record<keyof typeof CLIENT_NUMBERS, number>;
  for (const [name, spec] of Object.entries(CLIENT_NUMBERS)) nums[name as keyof typeof CLIENT_NUMBERS] = numberFrom(j, spec, file, '');
  let retryObj: Record<string, unknown> = {};
  if (j.retry !== undefined) {
    if (!isObject(j.retry)) throw new ClientConfigError(file, `${file}: retry must be an object such as {"attempts": 3, "backoff_ms": 50, "deadline_ms": 10000}`);
    retryObj = j.retry;
    const knownRetry = new Set<string>(Object.values(RETRY_NUMBERS).map((s) => s.key));
    for (const k of Object.keys(retryObj)) if (!knownRetry.has(k)) warn(`${file}: unknown key "retry.${k}" (ignored)`);
  }
  const retry = {} as Record<keyof typeof RETRY_NUMBERS, number>;
  for (const [name, spec] of Object.entries(RETRY_NUMBERS)) retry[name as keyof typeof RETRY_NUMBERS] = numberFrom(retryObj, spec, file, 'retry.');
  let logLevel: LogLevel = 'info';
  if (j.log_level !== undefined) {
    if (typeof j.log_level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(j.log_level)) {
      throw new ClientConfigError(file, `${file}: log_level must be one of ${LOG_LEVELS.join(', ')} (got ${show(j.log_level)})`);
    }
    logLevel = j.log_level as LogLevel;
  }
  let routing: RoutingPolicy = DEFAULT_ROUTING;
  if (j.routing !== undefined) {
    if (typeof j.routing !== 'string' || !(ROUTING_POLICIES as readonly string[]).includes(j.routing)) {
      throw new ClientConfigError(file, `${file}: routing must be one of ${ROUTING_POLICIES.join(', ')} (got ${show(j.routing)})`);
    }
    routing = j.routing as RoutingPolicy;
  }
  return { certDir, ...nums, retry, logLevel, routing };
}

/** Parse the file's text (JSON, an optional UTF-8 BOM). */
export function parseClientConfigText(text: string, path: string, resourceDir: string, warn: (w: string) => void = () => undefined): ParsedClientConfig {
  let j: unknown;
  try {
    j = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new ClientConfigError(path, `${path}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(j)) throw new ClientConfigError(path, `${path}: must be a JSON object such as {"cert_dir": "/opt/azurecloudhsm/cert"}`);
  return clientConfigFromObject(j, path, resourceDir, warn);
}

/** The settings without a file: every default, PO.crt in `<resourceDir>/../cert`. */
export function defaultClientConfig(resourceDir: string): ParsedClientConfig {
  return clientConfigFromObject({}, undefined, resourceDir);
}
