/**
 * @module The command table of azcloudhsm_util and the dispatcher.
 *
 * The inventory is the real tool's 57 commands by category (onboarding digest
 * §4.2). Those OpenCloudHSM implements come from the command-group files; the
 * others are listed too, so that `help` shows the whole inventory and typing
 * one says clearly that it is not supported (and fails).
 */
import { parseOpts, maskWords } from './args.js';
import { ADMIN_COMMANDS } from './cmd_admin.js';
import { CRYPTO_COMMANDS } from './cmd_crypto.js';
import { HELPER_COMMANDS } from './cmd_helpers.js';
import { KEYGEN_COMMANDS } from './cmd_keygen.js';
import { KEY_COMMANDS } from './cmd_keys.js';
import { TRANSFER_COMMANDS } from './cmd_transfer.js';
import type { UtilSession } from './session.js';
import { ApiFailure, CATEGORIES, LocalError, UsageError, type Category, type UtilCommand } from './types.js';

export const EXIT = 'exit';

/** The real tool's inventory (the Azure Cloud HSM guides): name → category. */
export const INVENTORY: ReadonlyArray<readonly [string, Category]> = [
  ['exit', 'General'], ['help', 'General'],
  ['getAuditUDD', 'Audit Log'], ['setAuditUDD', 'Audit Log'],
  ['getCert', 'Certificate Setup'],
  ['getHSMInfo', 'Configuration & Admin'], ['getPartitionInfo', 'Configuration & Admin'], ['listUsers', 'Configuration & Admin'],
  ['loginHSM', 'Configuration & Admin'], ['loginStatus', 'Configuration & Admin'], ['logoutHSM', 'Configuration & Admin'],
  ['allocContext', 'Context-based user authorization'], ['authUser', 'Context-based user authorization'], ['freeContext', 'Context-based user authorization'],
  ['Error2String', 'Helper'], ['getCaviumPrivKey', 'Helper'], ['IsValidKeyHandlefile', 'Helper'], ['listAttributes', 'Helper'], ['listECCCurveIds', 'Helper'],
  ['deriveSymKey', 'Key Derivation'],
  ['genDSAKeyPair', 'Key Generation: Asymmetric Keys'], ['genECCKeyPair', 'Key Generation: Asymmetric Keys'], ['genRSAKeyPair', 'Key Generation: Asymmetric Keys'],
  ['genParkingKey', 'Key Generation: Symmetric Keys'], ['genPBEKey', 'Key Generation: Symmetric Keys'], ['genSymKey', 'Key Generation: Symmetric Keys'], ['splitKey', 'Key Generation: Symmetric Keys'],
  ['atomicGenAndWrapASymKey', 'Key Import/Export'], ['atomicGenAndWrapSymKey', 'Key Import/Export'], ['createPublicKey', 'Key Import/Export'],
  ['exportPrivateKey', 'Key Import/Export'], ['exportPubKey', 'Key Import/Export'], ['exSymKey', 'Key Import/Export'],
  ['importPrivateKey', 'Key Import/Export'], ['importPubKey', 'Key Import/Export'], ['imSymKey', 'Key Import/Export'],
  ['unWrapKey', 'Key Import/Export'], ['unWrapKeyWithSize', 'Key Import/Export'], ['wrapKey', 'Key Import/Export'],
  ['deleteKey', 'Key Management'], ['findKey', 'Key Management'], ['findSingleKey', 'Key Management'],
  ['getAttribute', 'Key Management'], ['getKeyInfo', 'Key Management'], ['setAttribute', 'Key Management'],
  ['extractMaskedObject', 'Key Transfer'], ['insertMaskedObject', 'Key Transfer'], ['parkObject', 'Key Transfer'], ['unparkObject', 'Key Transfer'],
  ['approveToken', 'M of N'], ['delToken', 'M of N'], ['getToken', 'M of N'], ['listTokens', 'M of N'],
  ['aesUnwrapPkcs5Buffer', 'Management Crypto'], ['aesWrapUnwrap', 'Management Crypto'], ['sign', 'Management Crypto'], ['verify', 'Management Crypto'],
];

/** Why an unsupported command is not there, where there is more to say than "not supported". */
const UNSUPPORTED_WHY: Readonly<Record<string, string>> = {
  approveToken: 'there is no M of N (quorum) authentication',
  delToken: 'there is no M of N (quorum) authentication',
  getToken: 'there is no M of N (quorum) authentication',
  listTokens: 'there is no M of N (quorum) authentication',
  genDSAKeyPair: 'DSA keys are not offered',
  genPBEKey: 'PBE keys are not offered',
  getAuditUDD: 'the audit log is read with azcloudhsm_mgmt_util getAuditLog',
  setAuditUDD: 'the audit log is read with azcloudhsm_mgmt_util getAuditLog',
};

const help: UtilCommand = {
  name: 'help',
  category: 'General',
  help: 'Displays this information',
  syntax: 'help',
  async run(s) {
    printHelp(s);
    return true;
  },
};

const exit: UtilCommand = {
  name: EXIT,
  category: 'General',
  help: 'Exits this application',
  syntax: 'exit',
  async run() {
    return true;
  },
};

function buildTable(): Map<string, UtilCommand> {
  const impl = new Map<string, UtilCommand>();
  for (const c of [...ADMIN_COMMANDS, ...KEYGEN_COMMANDS, ...KEY_COMMANDS, ...CRYPTO_COMMANDS, ...TRANSFER_COMMANDS, ...HELPER_COMMANDS, help, exit]) {
    if (impl.has(c.name)) throw new Error(`command ${c.name} is defined twice`);
    impl.set(c.name, c);
  }
  const table = new Map<string, UtilCommand>();
  for (const [name, category] of INVENTORY) {
    const c = impl.get(name);
    if (c && c.category !== category) throw new Error(`command ${name} is in category ${c.category}, the inventory says ${category}`);
    table.set(name, c ?? { name, category, help: `Not supported by OpenCloudHSM${UNSUPPORTED_WHY[name] ? ` (${UNSUPPORTED_WHY[name]})` : ''}` });
  }
  for (const name of impl.keys()) if (!table.has(name)) throw new Error(`command ${name} is not in the inventory`);
  return table;
}

export const COMMANDS: ReadonlyMap<string, UtilCommand> = buildTable();

export function printHelp(s: UtilSession): void {
  s.out();
  s.out('Help Commands Available:');
  s.out();
  s.out('Syntax: <command> -h');
  s.out();
  s.out(`   ${'Command'.padEnd(26)}Description`);
  s.out(`   ${'======='.padEnd(26)}===========`);
  for (const cat of CATEGORIES) {
    const list = [...COMMANDS.values()].filter((c) => c.category === cat);
    if (list.length === 0) continue;
    s.out();
    if (cat !== 'General') s.out(`        ${cat.replace(/^Key Generation: /, 'Key Generation Commands: ')}${cat.startsWith('Key Generation') ? '' : ' Commands'}`);
    for (const c of list) s.out(`   ${c.name.padEnd(26)}${c.help}`);
  }
  s.out();
}

export function printUsage(s: UtilSession, c: UtilCommand): void {
  s.out();
  s.out('Description');
  s.out('===========');
  s.out(c.help);
  s.out();
  s.out(`Syntax: ${c.syntax ?? c.name}`);
  if (c.details?.length) {
    s.out();
    for (const d of c.details) s.out(`    ${d}`);
  }
  s.out();
}

/** The line as echoed in piped mode: password values masked. */
export function maskLine(words: readonly string[]): string {
  const c = COMMANDS.get(words[0] ?? '');
  return (c?.secret ? maskWords(words, c.secret) : words).join(' ');
}

export type RunResult = 'ok' | 'failed' | 'exit';

/** Run one command (its words already split). Never throws. */
export async function runCommand(s: UtilSession, words: readonly string[]): Promise<RunResult> {
  if (words.length === 0) return 'ok';
  const [name, ...args] = words as [string, ...string[]];
  const c = COMMANDS.get(name);
  if (!c) {
    const near = [...COMMANDS.keys()].find((k) => k.toLowerCase() === name.toLowerCase());
    s.out();
    s.out(`Unknown command '${name}'.${near ? ` Did you mean '${near}'?` : ''} Type 'help' to list the commands.`);
    s.out();
    return 'failed';
  }
  if (!c.run) {
    s.out();
    s.out(`${name} is not supported by OpenCloudHSM${UNSUPPORTED_WHY[name] ? `: ${UNSUPPORTED_WHY[name]}` : ''}.`);
    s.out();
    return 'failed';
  }
  if (args[0] === '-h' || args[0] === '-help' || args[0] === '--help') {
    printUsage(s, c);
    return 'ok';
  }
  try {
    const o = parseOpts(args, c.opts ?? {}, c.required ?? []);
    if (name === EXIT) return 'exit';
    const ok = await c.run(s, o);
    if (!ok) s.out();
    else if (!s.endsWithBlank) s.out();
    return ok ? 'ok' : 'failed';
  } catch (e) {
    if (e instanceof UsageError) {
      s.out();
      s.out(`${name}: ${e.message}`);
      printUsage(s, c);
    } else if (e instanceof ApiFailure) {
      s.failed(e.api, e.error);
      s.out();
    } else if (e instanceof LocalError) {
      s.out();
      e.message.split('\n').forEach((l, i) => s.out(i === 0 ? `\t${name}: ${l}` : `\t${l}`));
      s.out();
    } else {
      s.out();
      s.out(`\t${name}: unexpected error: ${e instanceof Error ? e.message : String(e)}`);
      s.out();
    }
    return 'failed';
  }
}
