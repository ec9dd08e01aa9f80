/**
 * @module The shape of one azcloudhsm_mgmt_util command (data first: the
 * dispatcher reads arity, scope, masking and the CAUTION flag from here) and
 * small argument helpers shared by the command groups.
 */
import type { Session } from './session.js';

export type CommandScope = 'cloudmgmt' | 'server' | 'both';

export interface Command {
  readonly name: string;
  /** Which prompt accepts it (the Azure Cloud HSM guides). */
  readonly scope: CommandScope;
  /** One-line description for `help`. */
  readonly help: string;
  /** Usage, printed by `-h` and on wrong arguments. Absent for commands OpenCloudHSM does not support. */
  readonly syntax?: string;
  /** Extra lines printed by `-h` after the syntax. */
  readonly details?: readonly string[];
  /** Inclusive bounds on the number of arguments. */
  readonly args?: readonly [number, number];
  /** Argument positions holding a password: masked when the line is echoed, kept out of history. */
  readonly secret?: readonly number[];
  /** State-changing: show the CAUTION banner and ask `Do you want to continue(y/n)?`. */
  readonly caution?: boolean;
  /** Not in the real tool: an OpenCloudHSM addition (docs/cli.md). */
  readonly addition?: boolean;
  /** Check the arguments before the CAUTION banner; throw UsageError. */
  readonly validate?: (args: readonly string[]) => void;
  /** Run; resolve false when the command failed (on any server). Absent: not supported. */
  readonly run?: (s: Session, args: readonly string[]) => Promise<boolean>;
}

/** Wrong arguments: the dispatcher prints the message and the syntax (common/errors.ts). */
export { UsageError } from '../common/errors.js';
import { UsageError } from '../common/errors.js';

export const USER_TYPES = ['PRECO', 'CO', 'CU', 'AU'] as const;
export type UserType = (typeof USER_TYPES)[number];
/** The users a CO creates, deletes and unlocks (never the PRECO, which claiming turns into the first CO). */
export const MANAGED_USER_TYPES: readonly UserType[] = ['CO', 'CU', 'AU'];
/** The details line of a command that takes one of them. */
export const MANAGED_USER_TYPES_LINE = `user type: ${MANAGED_USER_TYPES.join(', ')}`;

export function userType(arg: string, allowed: readonly UserType[] = USER_TYPES): UserType {
  const t = arg.toUpperCase();
  if (!(allowed as readonly string[]).includes(t)) throw new UsageError(`Invalid user type '${arg}': expected ${allowed.join(', ')}`);
  return t as UserType;
}

/** A non-negative decimal integer argument. */
export function integer(arg: string, what: string): number {
  if (!/^\d{1,15}$/.test(arg)) throw new UsageError(`Invalid ${what} '${arg}': expected a decimal number`);
  return Number(arg);
}
