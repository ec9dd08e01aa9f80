/**
 * @module The CLIs' error taxonomy, one class per kind, shared by azcloudhsm_util,
 * azcloudhsm_mgmt_util and ochsm (each prints them its own way: the dispatcher of each tool).
 *
 *   UsageError           wrong arguments: the message, then the command's syntax
 *   ConfigError          a configuration file that cannot be read or is invalid: the message
 *                        (which names the file, and the line where it has one)
 *   ConfigNotFoundError  no configuration file where one was looked for: the message lists the paths
 *
 * Errors of other layers (the daemon's and the protocol's ConfigError, ApplicationConfigError) are
 * turned into these at the CLI's edge (util/config.ts, mgmt_util/config.ts).
 */

export class UsageError extends Error {
  override readonly name: string = 'UsageError';
}

export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  /** The file the message is about, when there is one. */
  readonly file: string | undefined;
  constructor(message: string, file?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.file = file;
  }
}

export class ConfigNotFoundError extends ConfigError {
  override readonly name: string = 'ConfigNotFoundError';
}
