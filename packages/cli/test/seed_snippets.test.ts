/**
 * The two CLI forms of the Azure Cloud HSM authentication guide (docs/cli.md), verbatim, run from dist/bin after
 * `make run` (here: `ochsm up` on private ports and a private OCHSM_HOME):
 * the interactive `loginHSM -u CU -s cu1 -p user1234` through a real
 * pseudo-terminal (util-linux `script`), and the `singlecmd ... findKey` line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../testkit/src/cluster.js';

const run = promisify(execFile);
const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(DIST, 'bin');
const OCHSM = join(DIST, 'packages', 'cli', 'src', 'ochsm.js');

test("the guide's azcloudhsm_util snippets work verbatim from dist/bin after make run", { timeout: 120_000 }, async (t) => {
  if (!existsSync(join(BIN, 'azcloudhsm_util'))) {
    t.skip('dist/bin wrappers are written by `make build`');
    return;
  }
  const home = mkdtempSync(join(tmpdir(), 'ochsm-home-'));
  const backup = mkdtempSync(join(tmpdir(), 'ochsm-bin-'));
  /* `ochsm up` writes the .cfg files into dist/bin: keep whatever a developer's `make run` put there. */
  const cfgs = readdirSync(BIN).filter((f) => f.endsWith('.cfg'));
  for (const f of cfgs) copyFileSync(join(BIN, f), join(backup, f));
  const env = { ...process.env, OCHSM_HOME: home, OCHSM_PORTS: [await freePort(), await freePort(), await freePort()].join(',') };
  try {
    const up = await run(process.execPath, [OCHSM, 'up'], { env, timeout: 60_000 });
    assert.match(up.stdout, /OpenCloudHSM is running/);

    /* Interactive mode, through a pseudo-terminal: ./azcloudhsm_util, then loginHSM -u CU -s cu1 -p user1234 */
    const tty = spawn('script', ['-q', '-e', '-c', './azcloudhsm_util', '/dev/null'], { cwd: BIN, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    tty.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    const waitFor = async (re: RegExp, ms = 20_000) => {
      const deadline = Date.now() + ms;
      while (!re.test(screen)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; screen so far:\n${screen}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitFor(/Command: /);
    tty.stdin.write('loginHSM -u CU -s cu1 -p user1234\r');
    await waitFor(/Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS/);
    await waitFor(/Cluster Status:[\s\S]*Node id 1 status: 0x00000000 : HSM Return: SUCCESS/);
    tty.stdin.write('findKey\r');
    await waitFor(/Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS/);
    tty.stdin.write('exit\r');
    const code = await new Promise<number | null>((r) => tty.once('exit', r));
    assert.equal(code, 0, screen);

    /* Single-command mode: sudo ./azcloudhsm_util singlecmd loginHSM -u CU -s cu1 -p user1234 findKey (without sudo) */
    const single = await run('./azcloudhsm_util', ['singlecmd', 'loginHSM', '-u', 'CU', '-s', 'cu1', '-p', 'user1234', 'findKey'], { cwd: BIN, env, timeout: 30_000 });
    assert.match(single.stdout, /Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS/);
    assert.match(single.stdout, /Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS/);
    /* make run made an EC key pair as cu1: findKey lists its handles. */
    assert.match(single.stdout, /262144/);
    /* A wrong password: non-zero exit, the 0xA3 line. */
    await assert.rejects(run('./azcloudhsm_util', ['singlecmd', 'loginHSM', '-u', 'CU', '-s', 'cu1', '-p', 'wrongpass', 'findKey'], { cwd: BIN, env, timeout: 30_000 }),
      (e: { code?: number; stdout?: string }) => e.code !== 0 && /0xa3|0xA3/.test(e.stdout ?? ''));
  } finally {
    await run(process.execPath, [OCHSM, 'down'], { env, timeout: 60_000 }).catch(() => undefined);
    for (const f of cfgs) copyFileSync(join(backup, f), join(BIN, f));
    rmSync(home, { recursive: true, force: true });
    rmSync(backup, { recursive: true, force: true });
  }
});
