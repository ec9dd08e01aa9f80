/**
 * @module The real tool's output lines (the Azure Cloud HSM onboarding guide),
 * as pure functions:
 *
 * ```
 * 	Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS
 *
 * 	Cluster Status:
 * 	Node id 1 status: 0x00000000 : HSM Return: SUCCESS
 * ```
 *
 * Result lines are tab-indented; a return code prints as `0x` and at least two
 * upper-case hex digits, a node status as 8. A failure names the code and its
 * PKCS#11 name (`0xA3 : HSM Error: CKR_PIN_EXPIRED`), then a one-line reason.
 */
import { ckrName } from '../../../protocol/src/names.js';

export const TAB = '\t';

/** `0x00`, `0xA3`, `0x104`. */
export function rvHex(rv: number): string {
  return '0x' + rv.toString(16).toUpperCase().padStart(2, '0');
}

/** `0x00000000`, `0x00000030`. */
export function statusHex(rv: number): string {
  return '0x' + rv.toString(16).toUpperCase().padStart(8, '0');
}

/** `HSM Return: SUCCESS` for 0, `HSM Error: CKR_…` otherwise. */
export function verdict(rv: number): string {
  return rv === 0 ? 'HSM Return: SUCCESS' : `HSM Error: ${ckrName(rv)}`;
}

/** `Cfm3GenerateSymmetricKey returned: 0x00 : HSM Return: SUCCESS` (without the tab). */
export function returnedLine(api: string, rv: number): string {
  return `${api} returned: ${rvHex(rv)} : ${verdict(rv)}`;
}

/** One line of the message: newlines and tabs folded, so a reason is always one line. */
export function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim();
}

export interface NodeLine {
  readonly id: number;
  /** The node's CK_RV-style status: 0, or 0x30 (CKR_DEVICE_ERROR) when its link is not up. */
  readonly rv: number;
  /** Why the node is not OK (its link state), printed after the verdict. */
  readonly note?: string;
}

/** The `Cluster Status:` block, one line per node, 1-based ids in order (without tabs). */
export function clusterStatusLines(nodes: readonly NodeLine[]): string[] {
  const sorted = [...nodes].sort((a, b) => a.id - b.id);
  return ['Cluster Status:', ...sorted.map((n) => `Node id ${n.id} status: ${statusHex(n.rv)} : ${verdict(n.rv)}${n.note ? ` (${n.note})` : ''}`)];
}

/** Handles as the tool family lists them: `262144, 262145, 262150`. */
export function handleList(handles: readonly number[]): string {
  return handles.join(', ');
}
