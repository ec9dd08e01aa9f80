/**
 * Two generic PKCS#11 conformance runs against libazcloudhsm_pkcs11.so, once for each partition
 * profile (protocol/src/profiles.ts): a cluster of three real node processes initialised with the
 * profile, and a real azcloudhsm_client in HOST mode.
 *
 *  - OpenSC's p11test (built by `make p11test` from Debian's opensc source package into
 *    dist/tools/p11test). The HSM holds an RSA-2048 and an EC P-256 key pair and an AES-256 key,
 *    generated with pkcs11-tool as the Azure guide says (--sensitive --private); p11test runs every
 *    test group against them.
 *  - OpenSC's `pkcs11-tool --test --login --pin ...` on the same token.
 *
 * Each group or check a run reports as failed must be listed, with the reason, in the profile's
 * table of docs/pkcs11.md ("### p11test results (<profile>)", "### pkcs11-tool --test results
 * (<profile>)"; the test reads those tables: one home for the lists), and each one listed there
 * must still fail (a fixed one is taken off the list). What passes is printed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/testkit/src/cluster.js';
import { PROFILE_NAMES } from '../../../packages/protocol/src/profiles.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..', '..');
const MODULE = join(repo, 'dist', 'lib64', 'libazcloudhsm_pkcs11.so');
const P11TEST = join(repo, 'dist', 'tools', 'p11test');
const DOC = join(repo, 'docs', 'pkcs11.md');
const PIN = 'cu1:user1234';

interface Run { readonly stdout: string; readonly stderr: string; readonly code: number | null }

function run(cmd: string, args: readonly string[], cwd: string, timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-400_000)));
    p.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-400_000)));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      rej(new Error(`${cmd} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.once('error', (e) => (clearTimeout(timer), rej(e)));
    p.once('close', (code) => (clearTimeout(timer), res({ stdout, stderr, code })));
  });
}

/** The first-column names (in backquotes) of the table under `### <title>` in docs/pkcs11.md. */
export function documentedFailures(doc: string, title: string): Set<string> {
  const start = doc.indexOf(`### ${title}\n`);
  assert.ok(start >= 0, `docs/pkcs11.md has no "### ${title}" section`);
  const next = doc.slice(start + 4).search(/\n##+ /);
  const section = next === -1 ? doc.slice(start) : doc.slice(start, start + 4 + next);
  const names = new Set<string>();
  for (const m of section.matchAll(/^\| `([A-Za-z0-9_ .:-]+)` \|/gm)) names.add(m[1]!);
  return names;
}

/**
 * What `pkcs11-tool --test` reports, as named checks (OpenSC's p11_test: random, digests,
 * signatures, verification, unwrap, decryption): a line "<what> seem(s) to work" or "<what>: OK" /
 * "<what> OK" passes <what>; an "ERR: <what>..." passes nothing and fails <what> (the text up to
 * the first ':' or '('); the last line gives the tool's total ("No errors" or "N errors").
 */
export function parsePkcs11ToolTest(out: string): { passed: string[]; failed: string[]; errors: number | undefined } {
  const passed: string[] = [];
  const failed: string[] = [];
  /* A section starts at an unindented line ("Digests:", "Signatures (currently only for RSA)"); an indented "<mechanism>: ..." line names what a bare "OK" on the next line is about. */
  let section = '';
  let last = '';
  const name = (what: string) => `${section}: ${what.trim() || 'all'}`;
  for (const raw of out.split('\n')) {
    const line = raw.trim();
    if (!line || /^(No|\d+) errors?$/.test(line)) continue;
    const err = /ERR: ([^:(]+)/.exec(line);
    if (err) {
      failed.push(name(err[1]!));
      continue;
    }
    const works = /^(?:all )?(.*?)\s*seems? to (?:work|be OK)/.exec(line);
    const ok = /^(.*?)[\s:]*OK$/.exec(line);
    if (works) passed.push(name(works[1]!.replace(/^\d+ /, '')));
    else if (ok && !line.startsWith('==>')) passed.push(name(ok[1] || last));
    else if (!/^\s/.test(raw) && line !== 'OK') section = line.replace(/\s*\(.*\)\s*$/, '').replace(/:$/, '');
    else last = /^([A-Z0-9][A-Za-z0-9-]+):/.exec(line)?.[1] ?? last;
  }
  const total = /^(No|\d+) errors?$/m.exec(out);
  return { passed, failed, errors: total ? (total[1] === 'No' ? 0 : Number(total[1])) : undefined };
}

for (const profile of PROFILE_NAMES) {
  describe(`the ${profile} profile`, () => {
    let dir = '';
    let lc: LocalCluster | undefined;
    let daemon: DaemonHandle | undefined;

    before(async () => {
      assert.ok(existsSync(MODULE), `${MODULE} is missing: run make build`);
      assert.ok(existsSync(P11TEST), `${P11TEST} is missing: run make p11test`);
      dir = mkdtempSync(join(tmpdir(), `ochsm-p11test-${profile}-`));
      lc = await startCluster(join(dir, 'cluster'), { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }], profile });
      daemon = await startDaemon(lc, { sessionMode: 'HOST' });
      /* The keys both runs test, made as the Azure guide says. */
      const tool = (args: readonly string[]) => run('pkcs11-tool', ['--module', MODULE, '--login', '--pin', PIN, ...args], daemon!.binDir);
      for (const [what, args] of [
        ['RSA-2048 pair', ['--keypairgen', '--key-type', 'rsa:2048', '--sensitive', '--private', '--usage-sign', '--usage-decrypt', '--label', 'p11test-rsa', '--id', '01']],
        ['EC P-256 pair', ['--keypairgen', '--key-type', 'EC:prime256v1', '--sensitive', '--private', '--usage-sign', '--label', 'p11test-ec', '--id', '02']],
        ['AES-256 key', ['--keygen', '--key-type', 'AES:32', '--sensitive', '--private', '--label', 'p11test-aes', '--id', '03']],
      ] as const) {
        const r = await tool(args);
        assert.equal(r.code, 0, `pkcs11-tool ${what}: ${r.stdout}\n${r.stderr}`);
      }
    });

    after(async () => {
      await daemon?.stop().catch(() => undefined);
      await lc?.stop().catch(() => undefined);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test(`OpenSC p11test (${profile}): every failing group is listed in docs/pkcs11.md with its reason`, { timeout: 600_000 }, async () => {
      const cwd = daemon!.binDir; /* the module finds azcloudhsm_application.cfg in its working directory */
      const json = join(dir, 'p11test.json');
      /* cmocka prints its results as TAP when asked to. */
      const r = await run(P11TEST, ['-m', MODULE, '-s', '1', '-p', PIN, '-o', json], cwd, 540_000, { ...process.env, CMOCKA_MESSAGE_OUTPUT: 'TAP' });
      const out = r.stdout;
      const passed = [...out.matchAll(/^ok \d+ - ([a-z0-9_]+)/gm)].map((m) => m[1]!);
      const failed = [...out.matchAll(/^not ok \d+ - ([a-z0-9_]+)/gm)].map((m) => m[1]!);
      const skipped = [...out.matchAll(/^not ok \d+ # SKIP ([a-z0-9_]+)/gm)].map((m) => m[1]!);
      for (const line of out.split('\n')) if (/^(not )?ok |^1\.\.|^#/.test(line)) console.log(`# p11test ${profile}| ${line}`);
      console.log(`# p11test ${profile}: ${passed.length} passed (${passed.join(', ')}), ${failed.length} failed (${failed.join(', ')}), ${skipped.length} skipped (${skipped.join(', ')}), exit ${r.code}`);
      assert.ok(passed.length + failed.length > 0, `p11test ran no test group:\n${out.slice(-4000)}\n${r.stderr.slice(-2000)}`);
      assert.ok(existsSync(json), 'p11test wrote no JSON log');
      const title = `p11test results (${profile})`;
      const listed = documentedFailures(readFileSync(DOC, 'utf8'), title);
      const unlisted = failed.filter((f) => !listed.has(f));
      assert.deepEqual(unlisted, [], `p11test groups that fail and are not in docs/pkcs11.md "${title}":\n${out.slice(-6000)}`);
      const fixed = [...listed].filter((f) => passed.includes(f));
      assert.deepEqual(fixed, [], `groups listed as failing in docs/pkcs11.md "${title}" now pass: take them off the list`);
    });

    test(`pkcs11-tool --test --login (${profile}): every failing check is listed in docs/pkcs11.md with its reason`, { timeout: 180_000 }, async () => {
      const r = await run('pkcs11-tool', ['--module', MODULE, '--login', '--pin', PIN, '--test'], daemon!.binDir, 150_000);
      for (const line of r.stdout.split('\n')) if (line.trim()) console.log(`# pkcs11-tool --test ${profile}| ${line}`);
      const got = parsePkcs11ToolTest(r.stdout + '\n' + r.stderr);
      console.log(`# pkcs11-tool --test ${profile}: ${got.passed.length} checks work (${got.passed.join('; ')}), ${got.failed.length} failed (${got.failed.join('; ')}), errors reported: ${got.errors ?? 'none said'}, exit ${r.code}`);
      assert.ok(got.passed.length > 0 && got.errors !== undefined, `pkcs11-tool --test said nothing it measured:\n${r.stdout}\n${r.stderr}`);
      const title = `pkcs11-tool --test results (${profile})`;
      const listed = documentedFailures(readFileSync(DOC, 'utf8'), title);
      const unlisted = got.failed.filter((f) => !listed.has(f));
      assert.deepEqual(unlisted, [], `pkcs11-tool --test checks that fail and are not in docs/pkcs11.md "${title}":\n${r.stdout}\n${r.stderr}`);
      const fixed = [...listed].filter((f) => !got.failed.includes(f));
      assert.deepEqual(fixed, [], `checks listed as failing in docs/pkcs11.md "${title}" now pass: take them off the list`);
      /* No failure unlisted and none listed: then the tool's own total and exit status agree. */
      assert.equal(got.errors === 0, got.failed.length === 0, `the error total (${got.errors}) disagrees with the failures parsed (${got.failed.join('; ')}):\n${r.stdout}`);
      if (got.failed.length === 0) assert.equal(r.code, 0, r.stdout + r.stderr);
    });
  });
}
