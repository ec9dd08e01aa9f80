/**
 * @module The two configuration files azcloudhsm_mgmt_util reads (docs/cli.md):
 *
 * - `azcloudhsm_resource.cfg`, the positional argument (the Azure Cloud HSM guides):
 *   `{"servers":[{"hostname": "...", "port": 2225}]}`; `port` is an
 *   OpenCloudHSM addition and defaults to 2225. The first server is the
 *   bootstrap node; the rest of the cluster comes from its getClusterInfo.
 * - `azcloudhsm_mgmt_util.cfg` beside it, optional: `{"cert_dir": "..."}`
 *   (relative to the file's own directory). Without it the cert directory is
 *   `<dir of the resource cfg>/../cert`, the layout of /opt/azurecloudhsm.
 */
import { existsSync } from 'node:fs';
import { readTrustedFile, UnsafeFileError } from '../../../protocol/src/file_safety.js';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../common/errors.js';

export const DEFAULT_PORT = 2225;

export interface ServerEntry {
  readonly hostname: string;
  readonly port: number;
}

export interface MgmtConfig {
  readonly resourceCfg: string;
  readonly servers: readonly ServerEntry[];
  readonly certDir: string;
  /** Where PO.crt is expected. */
  readonly poCrt: string;
}

export { ConfigError };

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readTrustedFile(path, what);
  } catch (e) {
    if (e instanceof UnsafeFileError) throw new ConfigError(e.message);
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function loadConfig(resourceCfgPath: string): MgmtConfig {
  const resourceCfg = resolve(resourceCfgPath);
  const raw = readJson(resourceCfg, 'resource configuration');
  if (!isRecord(raw) || !Array.isArray(raw.servers) || raw.servers.length === 0) {
    throw new ConfigError(`${resourceCfg}: expected {"servers": [{"hostname": "...", "port": 2225}]} with at least one server`);
  }
  const servers = raw.servers.map((s: unknown, i: number): ServerEntry => {
    if (!isRecord(s) || typeof s.hostname !== 'string' || s.hostname.trim() === '') throw new ConfigError(`${resourceCfg}: servers[${i}] needs a "hostname" string`);
    const port = s.port === undefined ? DEFAULT_PORT : s.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`${resourceCfg}: servers[${i}].port must be an integer from 1 to 65535`);
    return { hostname: s.hostname.trim(), port };
  });
  const cfgDir = dirname(resourceCfg);
  let certDir = resolve(cfgDir, '..', 'cert');
  const mgmtCfg = join(cfgDir, 'azcloudhsm_mgmt_util.cfg');
  if (existsSync(mgmtCfg)) {
    const m = readJson(mgmtCfg, 'mgmt_util configuration');
    if (!isRecord(m)) throw new ConfigError(`${mgmtCfg}: expected a JSON object such as {"cert_dir": "../cert"}`);
    if (m.cert_dir !== undefined) {
      if (typeof m.cert_dir !== 'string' || m.cert_dir === '') throw new ConfigError(`${mgmtCfg}: "cert_dir" must be a non-empty string`);
      certDir = resolve(cfgDir, m.cert_dir);
    }
  }
  return { resourceCfg, servers, certDir, poCrt: join(certDir, 'PO.crt') };
}
