#!/usr/bin/env node
/**
 * @module `azcloudhsm_util`: the key-management CLI, which talks only to the
 * local client daemon (the Azure Cloud HSM onboarding guide; docs/cli.md).
 *
 *   azcloudhsm_util                      interactive: prompt `Command: `
 *   azcloudhsm_util singlecmd loginHSM -u CU -s cu1 -p user1234 <command ...>
 *
 * Interactive mode offers line editing and history on a terminal and reads
 * commands from standard input otherwise, echoing each as `Command:  <line>`
 * with passwords masked. `singlecmd` signs in, runs the one command, signs
 * out, and exits non-zero when any step failed (the Azure Cloud HSM authentication guide).
 *
 * Exit status: interactive, 0, or 1 when the last command before `exit` / end
 * of input failed; singlecmd, 0 or 1; 2 for a bad command line.
 */
import { tokenize } from './util/args.js';
import { COMMANDS, maskLine, runCommand } from './util/commands.js';
import { UtilSession } from './util/session.js';
import { stdinLines } from './common/io.js';
import { answerStandardFlags } from '../../ops/src/cli_flags.js';

const USAGE = [
  'usage: azcloudhsm_util',
  '       azcloudhsm_util singlecmd loginHSM -u CU -s <user name> -p <password> [<command> [<options>]]',
  '       azcloudhsm_util singlecmd <command> [<options>]',
].join('\n');

/** The options loginHSM takes, each with a value (singlecmd reads them up to the command that follows). */
const LOGIN_OPTIONS = ['-u', '-s', '-p'];

/** The echo of a piped line: the line itself, unless it holds a password. */
function echo(line: string): string {
  const words = line.trim().split(/\s+/);
  const c = COMMANDS.get(words[0] ?? '');
  if (!c?.secret || !words.some((w) => c.secret!.includes(w))) return line;
  return maskLine(words);
}

async function interactive(): Promise<number> {
  const io = stdinLines();
  const s = new UtilSession();
  /* On a terminal the prompt is `Command: `; piped lines are echoed as `Command:  <line>` (the Azure Cloud HSM guides). */
  const prompt = io.tty ? 'Command: ' : 'Command:  ';
  let lastFailed = false;
  try {
    for (;;) {
      const line = await io.next(prompt, { echo });
      if (line === undefined) break;
      let words: string[];
      try {
        words = tokenize(line);
      } catch (e) {
        s.out();
        s.out(`${e instanceof Error ? e.message : String(e)}`);
        s.out();
        lastFailed = true;
        continue;
      }
      if (words.length === 0) continue;
      const r = await runCommand(s, words);
      if (r === 'exit') break;
      lastFailed = r === 'failed';
    }
  } finally {
    io.close();
    s.close();
  }
  return lastFailed ? 1 : 0;
}

async function singlecmd(args: readonly string[]): Promise<number> {
  if (args.length === 0) {
    process.stderr.write(`azcloudhsm_util: singlecmd needs a command\n${USAGE}\n`);
    return 2;
  }
  const s = new UtilSession();
  let ok = true;
  try {
    let rest = args;
    let signedIn = false;
    if (args[0] === 'loginHSM' && args[1] !== '-h') {
      const login = ['loginHSM'];
      let i = 1;
      while (i < args.length && LOGIN_OPTIONS.includes(args[i]!)) {
        login.push(args[i]!);
        if (i + 1 < args.length) login.push(args[i + 1]!);
        i += 2;
      }
      if ((await runCommand(s, login)) !== 'ok') return 1;
      signedIn = true;
      rest = args.slice(i);
    }
    if (rest.length > 0 && (await runCommand(s, rest)) === 'failed') ok = false;
    if (signedIn && (await runCommand(s, ['logoutHSM'])) !== 'ok') ok = false;
  } finally {
    s.close();
  }
  return ok ? 0 : 1;
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0) return interactive();
  if (answerStandardFlags({ name: 'azcloudhsm_util', usage: USAGE, description: "The Azure Cloud HSM key-management utility (OpenCloudHSM): talks to the local client daemon. Type 'help' at the prompt; see docs/cli.md." }, argv)) return 0;
  if (argv[0] === 'singlecmd') return singlecmd(argv.slice(1));
  process.stderr.write(`azcloudhsm_util: unknown argument '${argv[0]}'\n${USAGE}\n`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
