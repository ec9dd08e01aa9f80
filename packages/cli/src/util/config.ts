/**
 * @module Where azcloudhsm_util finds `azcloudhsm_application.cfg`, the file
 * that says how to reach the client daemon (SOCKET_TYPE, SOCKET_PATH, PORT)
 * and which key is the user KEK (USER_KEK_HANDLE, the Azure Cloud HSM onboarding guide).
 *
 * Order: the one of docs/config-format.md "Lookup"
 * (packages/protocol/src/appcfg_lookup.ts): the working directory, beside the
 * executable (`dist/bin/`, the counterpart of /opt/azurecloudhsm/bin:
 * `<dir of azcloudhsm_util.js>/../../../bin`), `AZCLOUDHSM_APPLICATION_CFG` (a
 * file, or a directory holding it), then /opt/azurecloudhsm/bin. The file is
 * parsed by the daemon's own parser, so both read it the same way (the same
 * default socket path, the same errors).
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APPLICATION_CFG, ConfigError as DaemonConfigError, loadApplicationConfig, type ApplicationConfig } from '../../../daemon/src/config.js';
import { ConfigError, ConfigNotFoundError } from '../common/errors.js';
import { ENV_APPLICATION_CFG } from '../../../protocol/src/appcfg.js';
import { fsPathKind, lookupApplicationConfig } from '../../../protocol/src/appcfg_lookup.js';

export { ConfigError, ConfigNotFoundError, ENV_APPLICATION_CFG, APPLICATION_CFG, type ApplicationConfig };

/** `<dir of dist/packages/cli/src/util>/../../../../bin`: dist/bin, beside the wrapper script. */
const BIN_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'bin');

/** Find and parse the cfg by the one lookup order. Throws ConfigNotFoundError (every place tried) or ConfigError. */
export function findApplicationConfig(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env, binDir: string = BIN_DIR): ApplicationConfig {
  const r = lookupApplicationConfig({ cwd: resolve(cwd), exeDir: binDir, env: env[ENV_APPLICATION_CFG] }, fsPathKind);
  if (r.found === undefined) throw new ConfigNotFoundError(r.message);
  try {
    return loadApplicationConfig(r.found);
  } catch (e) {
    if (e instanceof DaemonConfigError) throw new ConfigError(e.message, e.file, { cause: e });
    throw e;
  }
}
