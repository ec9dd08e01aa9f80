/**
 * The node's configuration file (node.json) follows the file rules of the
 * client configuration files (protocol/src/file_safety.ts): a real hsm-node
 * process refuses one that another user owns or that its group or everybody
 * may write, with a message naming the file and the fix, before it reads a
 * single setting; the same file fixed as the message says is read.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MAIN } from '../../testkit/src/cluster.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ochsm-nodecfg-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Run hsm-node on a config file; it must exit by itself (bounded). */
function runNode(cfg: string): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [NODE_MAIN, cfg], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, String(r.error));
  return { code: r.status, stderr: r.stderr };
}

/* "id": 0 is refused by the settings check, so a file that passes the file check stops right after it. */
const CONTENT = JSON.stringify({ id: 0, dir: join(tmpdir(), 'ochsm-nodecfg-unused') });

test('node.json writable by others, or by its group, is refused naming the file and chmod go-w; fixed, it is read', () => {
  const cfg = join(dir, 'node-w.json');
  writeFileSync(cfg, CONTENT);
  for (const [mode, who] of [[0o666, 'every user'], [0o620, 'its group']] as const) {
    chmodSync(cfg, mode);
    const r = runNode(cfg);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`refusing node configuration file ${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: it is writable by ${who} \\(mode 0${mode.toString(8)}\\) \\(fix: chmod go-w ${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`), r.stderr);
  }
  chmodSync(cfg, 0o600);
  const ok = runNode(cfg);
  assert.equal(ok.code, 1);
  assert.doesNotMatch(ok.stderr, /refusing/);
  assert.match(ok.stderr, /"id" must be a positive integer/, 'the file check passed and the settings were read');
});

test('node.json owned by another user (not root, not the node\'s user) is refused naming the owner and chown', { skip: process.getuid?.() !== 0 ? 'needs root to give the file away' : false }, () => {
  const cfg = join(dir, 'node-owner.json');
  writeFileSync(cfg, CONTENT, { mode: 0o644 });
  chownSync(cfg, 54321, 54321);
  const r = runNode(cfg);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /refusing node configuration file .*node-owner\.json: it is owned by uid 54321, not by you \(uid 0\) or root; .*\(fix: chown 0 /, r.stderr);
});
