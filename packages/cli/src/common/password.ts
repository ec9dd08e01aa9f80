/**
 * @module A password without putting it on the command line (where every
 * user sees it in `ps`): `$AZCLOUDHSM_PASSWORD`, else the first line of the
 * file named by `$AZCLOUDHSM_PASSWORD_FILE` (owned by you or root, readable
 * by its owner only), else a prompt on the terminal with echo turned off.
 * docs/cli.md "Passwords".
 */
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { readTrustedFile } from '../../../protocol/src/file_safety.js';
import { LocalError } from '../util/types.js';

export const ENV_PASSWORD = 'AZCLOUDHSM_PASSWORD';
export const ENV_PASSWORD_FILE = 'AZCLOUDHSM_PASSWORD_FILE';

export function passwordFromEnvironment(env: NodeJS.ProcessEnv = process.env, prompt = 'Password: '): string {
  const direct = env[ENV_PASSWORD];
  if (direct !== undefined && direct !== '') return direct;
  const file = env[ENV_PASSWORD_FILE];
  if (file !== undefined && file !== '') {
    let text: string;
    try {
      if (statSync(file).mode & 0o077) throw new LocalError(`refusing the password file ${file}: others can read it (fix: chmod 600 ${file})`);
      text = readTrustedFile(file, 'password file', 4096);
    } catch (e) {
      if (e instanceof LocalError) throw e;
      throw new LocalError(`cannot read the password file ${file} (${ENV_PASSWORD_FILE}): ${e instanceof Error ? e.message : String(e)}`);
    }
    const line = text.split(/\r?\n/)[0] ?? '';
    if (line === '') throw new LocalError(`the password file ${file} (${ENV_PASSWORD_FILE}) is empty`);
    return line;
  }
  return promptNoEcho(prompt);
}

/** Read one line from the controlling terminal with echo off (synchronous: a CLI waits for it anyway). */
export function promptNoEcho(prompt: string): string {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    throw new LocalError(`no password given: pass -p <password>, set ${ENV_PASSWORD} or ${ENV_PASSWORD_FILE}, or run on a terminal to be prompted`);
  }
  const stty = (arg: string) => spawnSync('stty', [arg], { stdio: [fd, 'ignore', 'ignore'] });
  try {
    writeSync(fd, prompt);
    stty('-echo');
    const buf = Buffer.alloc(1);
    const bytes: number[] = [];
    for (;;) {
      const n = readSync(fd, buf, 0, 1, null);
      if (n === 0 || buf[0] === 0x0a || buf[0] === 0x0d) break;
      bytes.push(buf[0]!);
      if (bytes.length > 4096) break;
    }
    const pw = Buffer.from(bytes).toString('utf8');
    bytes.fill(0);
    return pw;
  } finally {
    stty('echo');
    writeSync(fd, '\n');
    closeSync(fd);
  }
}
