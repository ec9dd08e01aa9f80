/**
 * @module The command table of azcloudhsm_mgmt_util and the dispatcher.
 *
 * The inventory is the real tool's (the Azure Cloud HSM guides): 61 commands at the
 * `cloudmgmt>` prompt, 72 at `serverN>`. Those OpenCloudHSM implements come
 * from the command-group files; every other name is listed too, so `help`
 * shows the whole inventory and typing one answers clearly that it is not
 * supported. getAuditLog, verifyAuditLog and approveNode are OpenCloudHSM additions.
 */
import { BACKUP_COMMANDS } from './cmd_backup.js';
import { CERT_COMMANDS } from './cmd_certs.js';
import { INFO_COMMANDS, QUIT } from './cmd_info.js';
import { KEY_COMMANDS } from './cmd_keys.js';
import { JOIN_COMMANDS } from './cmd_join.js';
import { POLICY_COMMANDS } from './cmd_policy.js';
import { USER_COMMANDS } from './cmd_users.js';
import type { Session } from './session.js';
import { UsageError, type Command, type CommandScope } from './types.js';

/** The cloudmgmt-scope inventory (the Azure Cloud HSM guides); all but info, quit and server exist in the server scope too. */
export const CLOUDMGMT_INVENTORY = [
  'approveToken', 'changePswd', 'createUser', 'deleteUser', 'delToken', 'deregisterUserAuthPubKey', 'disableUserAccess',
  'enable_e2e', 'findAllKeys', 'getAttribute', 'getAuditUDD', 'getChallenge', 'getClusterInfo', 'getConfigPreGenCacheSize',
  'getHSMInfo', 'getKeyDiffMap', 'getKeyInfo', 'getMValue', 'getPolicy', 'getPreGenCacheSize', 'getSingleUserHash',
  'getToken', 'getTokenTimeout', 'getUserHash', 'getUserInfo', 'help', 'info', 'listAttributes', 'listKBKSlots',
  'listTokens', 'listUserAuthPubKeys', 'listUsers', 'loginHSM', 'logoutHSM', 'modifyKeyOwner', 'quit',
  'registerMofnPubKey', 'registerQuorumPubKey', 'registerUserAuthPubKey', 'renamePCO', 'resetUserAuthPubKey', 'server',
  'setAttribute', 'setAuditUDD', 'setConfigPreGenCacheSize', 'setHSMConfig', 'setKBKPrimary', 'setMValue', 'setPolicy',
  'setTokenTimeout', 'setUserAttributes', 'setUserAuthPubKey', 'shareKey', 'smAppCtrl', 'smAppDelete', 'smAppDiagInfo',
  'smAppUpdate', 'storeFixedKey', 'unlockCO', 'unlockUser', 'updateUserAuthPubKey',
] as const;

const CLOUDMGMT_ONLY = new Set(['info', 'quit', 'server']);

/** Added in the server scope (the Azure Cloud HSM guides). */
export const SERVER_ONLY_INVENTORY = [
  'SAFE_STATE', 'backupPartition', 'clone', 'exit', 'generateKEK', 'getCert', 'getCertReq', 'getPartitionInfo',
  'getUserDiffMap', 'reconnect', 'restorePartition', 'storeCert', 'syncKey', 'syncUser',
] as const;

const help: Command = {
  name: 'help',
  scope: 'both',
  help: 'Show the commands of this scope',
  syntax: 'help',
  args: [0, 0],
  async run(s) {
    const scope = s.inCloud ? 'cloudmgmt' : 'server';
    s.out('Help Commands Available:');
    s.out();
    s.out('Syntax: <command> -h');
    s.out();
    s.out(`   ${'Command'.padEnd(28)}Description`);
    s.out(`   ${'======='.padEnd(28)}===========`);
    s.out();
    for (const c of commandsIn(scope)) s.out(`   ${c.name.padEnd(28)}${c.run ? c.help : 'Not supported by OpenCloudHSM'}`);
    return true;
  },
};

function buildTable(): Map<string, Command> {
  const table = new Map<string, Command>();
  for (const c of [...USER_COMMANDS, ...CERT_COMMANDS, ...BACKUP_COMMANDS, ...KEY_COMMANDS, ...POLICY_COMMANDS, ...INFO_COMMANDS, ...JOIN_COMMANDS, help]) {
    if (table.has(c.name)) throw new Error(`command ${c.name} is defined twice`);
    table.set(c.name, c);
  }
  const unsupported = (name: string, scope: CommandScope): Command => ({ name, scope, help: 'Not supported by OpenCloudHSM' });
  for (const n of CLOUDMGMT_INVENTORY) if (!table.has(n)) table.set(n, unsupported(n, CLOUDMGMT_ONLY.has(n) ? 'cloudmgmt' : 'both'));
  for (const n of SERVER_ONLY_INVENTORY) if (!table.has(n)) table.set(n, unsupported(n, 'server'));
  return table;
}

export const COMMANDS: ReadonlyMap<string, Command> = buildTable();

export function commandsIn(scope: 'cloudmgmt' | 'server'): Command[] {
  return [...COMMANDS.values()].filter((c) => c.scope === 'both' || c.scope === scope).sort((a, b) => a.name.localeCompare(b.name, 'en', { sensitivity: 'base' }));
}

/** The line as echoed in piped mode: password arguments masked. */
export function maskLine(line: string): string {
  const words = line.trim().split(/\s+/);
  const c = COMMANDS.get(words[0] ?? '');
  if (!c?.secret) return line;
  let changed = false;
  for (const i of c.secret) {
    const w = words[i + 1];
    if (w !== undefined && w !== '-hpswd') {
      words[i + 1] = '*'.repeat(8);
      changed = true;
    }
  }
  return changed ? words.join(' ') : line;
}

function printUsage(s: Session, c: Command): void {
  s.out(`Description: ${c.help}`);
  s.out();
  s.out(`Syntax: ${c.syntax}`);
  for (const d of c.details ?? []) s.out(`        ${d}`);
}

export type LineResult = 'ok' | 'failed' | 'quit';

/** Run one input line in the current scope. */
export async function runLine(s: Session, line: string): Promise<LineResult> {
  const words = line.trim().split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return 'ok';
  const [name, ...args] = words as [string, ...string[]];
  const c = COMMANDS.get(name);
  if (!c) {
    s.out(`Unknown command '${name}'. Type 'help' to list the commands.`);
    return 'failed';
  }
  const scope = s.inCloud ? 'cloudmgmt' : 'server';
  if (c.scope !== 'both' && c.scope !== scope) {
    s.out(c.scope === 'server'
      ? `${name} is a server scope command: enter a server first with 'server <server id>'`
      : `${name} is a cloudmgmt scope command: leave the server scope first with 'exit'`);
    return 'failed';
  }
  if (!c.run) {
    s.out(`${name} is not supported by OpenCloudHSM`);
    return 'failed';
  }
  if (args[0] === '-h') {
    printUsage(s, c);
    return 'ok';
  }
  try {
    const [min, max] = c.args ?? [0, Infinity];
    if (args.length < min || args.length > max) throw new UsageError('Invalid number of arguments');
    c.validate?.(args);
    if (name === QUIT) return 'quit';
    if (c.caution && !(await s.confirm())) return 'ok';
    return (await c.run(s, args)) ? 'ok' : 'failed';
  } catch (e) {
    if (e instanceof UsageError) {
      s.out(`${name}: ${e.message}`);
      s.out();
      printUsage(s, c);
      return 'failed';
    }
    s.out(`${name} failed: ${s.describe(e)}`);
    return 'failed';
  }
}
