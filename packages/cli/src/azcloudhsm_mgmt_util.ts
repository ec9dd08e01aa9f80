#!/usr/bin/env node
/**
 * @module `azcloudhsm_mgmt_util <azcloudhsm_resource.cfg>`: the admin CLI
 * that talks to the HSM nodes directly (the Azure Cloud HSM guides; docs/cli.md).
 *
 * It connects to the bootstrap node of the resource configuration, discovers
 * the cluster with getClusterInfo, connects to every node, then reads
 * commands at the `cloudmgmt>` prompt (every server in turn) or, after
 * `server N`, at `serverN>` (that server only). On a TTY it offers line
 * editing and history; otherwise it reads the commands from stdin.
 *
 * Exit status: 0, or 1 when the last command before `quit` / end of input
 * failed; 1 when no server could be connected; 2 for a usage or
 * configuration error.
 */
import { ConfigError, loadConfig } from './mgmt_util/config.js';
import { maskLine, runLine } from './mgmt_util/commands.js';
import { stdinLines } from './mgmt_util/io.js';
import { Session } from './mgmt_util/session.js';
import { answerStandardFlags } from '../../ops/src/cli_flags.js';

const USAGE = 'usage: azcloudhsm_mgmt_util <azcloudhsm_resource.cfg>';

async function main(argv: string[]): Promise<number> {
  if (answerStandardFlags({ name: 'azcloudhsm_mgmt_util', usage: USAGE, description: 'The Azure Cloud HSM management utility (OpenCloudHSM): talks to the HSM nodes directly, at the cloudmgmt> and serverN> prompts. See docs/cli.md.' }, argv)) return 0;
  if (argv.length !== 1 || argv[0] === '-h' || argv[0] === '--help') {
    (argv[0] === '-h' || argv[0] === '--help' ? process.stdout : process.stderr).write(USAGE + '\n');
    return argv.length === 1 ? 0 : 2;
  }
  let cfg;
  try {
    cfg = loadConfig(argv[0]!);
  } catch (e) {
    process.stderr.write(`azcloudhsm_mgmt_util: ${e instanceof ConfigError ? e.message : String(e)}\n`);
    return 2;
  }
  const io = stdinLines();
  const s = new Session(cfg, io);
  try {
    if (!(await s.connectAll())) {
      s.out();
      s.out(`No server could be connected: check ${cfg.resourceCfg} and the cert directory ${cfg.certDir}`);
      return 1;
    }
    for (;;) {
      const line = await io.next(s.prompt, { echo: maskLine });
      if (line === undefined) break;
      const r = await runLine(s, line);
      if (r === 'quit') break;
      s.lastFailed = r === 'failed';
    }
    return s.lastFailed ? 1 : 0;
  } finally {
    io.close();
    await s.closeAll();
  }
}

process.exitCode = await main(process.argv.slice(2));
