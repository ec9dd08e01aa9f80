/**
 * @module Where azcloudhsm_util finds `azcloudhsm_application.cfg`, the file
 * that says how to reach the client daemon (SOCKET_TYPE, SOCKET_PATH, PORT)
 * and which key is the user KEK (USER_KEK_HANDLE, the Azure Cloud HSM onboarding guide).
 *
 * Order: the working directory (as the OpenSSL guide copies the file there),
 * then beside the executable (`dist/bin/`, the counterpart of
 * /opt/azurecloudhsm/bin: `<dir of azcloudhsm_util.js>/../../../bin`), then
 * the path in `AZCLOUDHSM_APPLICATION_CFG` (a file, or a directory holding
 * it). The file is parsed by the daemon's own parser, so both read it the same
 * way (the same default socket path, the same errors).
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APPLICATION_CFG, ConfigError as DaemonConfigError, loadApplicationConfig, type ApplicationConfig } from '../../../daemon/src/config.js';
import { ConfigError, ConfigNotFoundError } from '../common/errors.js';

export { ConfigError, ConfigNotFoundError, type ApplicationConfig };

export const ENV_APPLICATION_CFG = 'AZCLOUDHSM_APPLICATION_CFG';

/** `<dir of dist/packages/cli/src/util>/../../../../bin`: dist/bin, beside the wrapper script. */
const BIN_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'bin');

export interface Candidate {
  readonly path: string;
  /** Why this path is tried, for the message when none exists. */
  readonly why: string;
}

/** The paths tried, in order. */
export function candidates(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env, binDir: string = BIN_DIR): Candidate[] {
  const out: Candidate[] = [
    { path: join(resolve(cwd), APPLICATION_CFG), why: 'working directory' },
    { path: join(binDir, APPLICATION_CFG), why: 'beside the executable' },
  ];
  const e = env[ENV_APPLICATION_CFG];
  if (e !== undefined && e !== '') {
    const p = resolve(cwd, e);
    const isDir = existsSync(p) && statSync(p).isDirectory();
    out.push({ path: isDir ? join(p, APPLICATION_CFG) : p, why: ENV_APPLICATION_CFG });
  }
  return out;
}

/** No candidate exists: the message lists every path tried. */
function notFound(tried: readonly Candidate[], envSet: boolean): ConfigNotFoundError {
  return new ConfigNotFoundError(
    [
      `${APPLICATION_CFG} not found; tried:`,
      ...tried.map((c) => `  ${c.path} (${c.why})`),
      ...(envSet ? [] : [`  ${ENV_APPLICATION_CFG} is not set`]),
      `Copy ${APPLICATION_CFG} from the client's bin directory into the working directory, or set ${ENV_APPLICATION_CFG} to its path.`,
    ].join('\n'),
  );
}

/** Find and parse the first existing candidate. Throws ConfigNotFoundError or ConfigError. */
export function findApplicationConfig(cwd?: string, env: NodeJS.ProcessEnv = process.env, binDir?: string): ApplicationConfig {
  const list = candidates(cwd, env, binDir);
  for (const c of list) {
    if (existsSync(c.path) && statSync(c.path).isFile()) {
      try {
        return loadApplicationConfig(c.path);
      } catch (e) {
        if (e instanceof DaemonConfigError) throw new ConfigError(e.message, e.file, { cause: e });
        throw e;
      }
    }
  }
  throw notFound(list, Boolean(env[ENV_APPLICATION_CFG]));
}
