/**
 * @module `--help` and `--version`, answered the same way by every executable
 * (`azcloudhsm_client`, `azcloudhsm_util`, `azcloudhsm_mgmt_util`, `hsm-node`,
 * `ochsm`): usage and a one-line description on stdout, exit 0; the version
 * as `<name> (OpenCloudHSM) <version>`, exit 0.
 */
import { VERSION } from './version.js';

export interface ProgramInfo {
  /** The executable's name, as the user types it. */
  readonly name: string;
  /** Usage lines, starting with `usage: `. */
  readonly usage: string;
  /** One paragraph: what the program is, where its documentation is. */
  readonly description: string;
}

export function versionLine(name: string): string {
  return `${name} (OpenCloudHSM) ${VERSION}`;
}

export function helpText(p: ProgramInfo): string {
  return `${p.usage}\n\n${p.description}\n\n  -h, --help     show this help and exit\n      --version  print the version and exit\n`;
}

/**
 * When `argv` is exactly one of `-h`/`--help`/`--version`, print the answer
 * and return true (the caller exits 0). Anything else is the program's own.
 */
export function answerStandardFlags(p: ProgramInfo, argv: readonly string[], out: (s: string) => void = (s) => void process.stdout.write(s)): boolean {
  if (argv.length !== 1) return false;
  const a = argv[0];
  if (a === '-h' || a === '--help') {
    out(helpText(p));
    return true;
  }
  if (a === '--version') {
    out(`${versionLine(p.name)}\n`);
    return true;
  }
  return false;
}
