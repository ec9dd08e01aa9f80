/**
 * @module The shape of one azcloudhsm_util command, as data (the dispatcher
 * reads the category, syntax, options and masking from here), and the errors
 * a command throws so that the dispatcher prints them in the tool's form.
 */
import type { HsmError } from '../../../protocol/src/errors.js';
import type { Opts, OptSpec } from './args.js';
import type { UtilSession } from './session.js';

/** The categories of the real tool's `help` (the Azure Cloud HSM onboarding guide), in its order. */
export const CATEGORIES = [
  'General',
  'Audit Log',
  'Certificate Setup',
  'Configuration & Admin',
  'Context-based user authorization',
  'Helper',
  'Key Derivation',
  'Key Generation: Asymmetric Keys',
  'Key Generation: Symmetric Keys',
  'Key Import/Export',
  'Key Management',
  'Key Transfer',
  'M of N',
  'Management Crypto',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface UtilCommand {
  readonly name: string;
  readonly category: Category;
  /** One-line description for `help` and `-h`. */
  readonly help: string;
  /** Usage, printed by `-h` and after wrong arguments. */
  readonly syntax?: string;
  /** Extra lines printed by `-h` after the syntax (option meanings, ids). */
  readonly details?: readonly string[];
  /** The dash options the command takes. */
  readonly opts?: OptSpec;
  /** Options that must be present. */
  readonly required?: readonly string[];
  /** Options whose value is a password: masked when the line is echoed. */
  readonly secret?: readonly string[];
  /** Run; resolve false when the command failed. Absent: in the real inventory but not supported. */
  readonly run?: (s: UtilSession, o: Opts) => Promise<boolean>;
}

/** Wrong arguments: the dispatcher prints the message, a blank line and the syntax (common/errors.ts). */
export { UsageError } from '../common/errors.js';

/** A failure outside the HSM (a file that cannot be read, a malformed PEM): printed as `<cmd>: <message>`. */
export class LocalError extends Error {
  override readonly name = 'LocalError';
}

/** An HSM call failed: printed as `\t<api> returned: 0xNN : HSM Error: <CKR name>` and a reason line. */
export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';
  readonly api: string;
  readonly error: HsmError;
  constructor(api: string, error: HsmError) {
    super(error.message);
    this.api = api;
    this.error = error;
  }
}
