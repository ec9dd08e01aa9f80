/**
 * The etcd member lines of `ochsm status`: a real three-member etcd, asked
 * member by member. One leader, every member healthy with its revision;
 * a member killed shows as unreachable and the others stay healthy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdCluster, formatMemberStatus, loopbackMembers } from '../src/etcd.js';

test('member status: endpoint, leader, revision, health per member; a dead member is unreachable', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-etcd-status-'));
  const etcd = await EtcdCluster.start({ dir: join(dir, 'etcd'), members: await loopbackMembers(3) });
  try {
    /* What ochsm status does: attach to the directory, start nothing. */
    const attached = EtcdCluster.attach({ dir: join(dir, 'etcd'), members: etcd.members });
    const rows = await attached.memberStatus();
    assert.equal(rows.length, 3);
    assert.equal(rows.filter((r) => r.leader).length, 1, 'exactly one leader');
    for (const r of rows) {
      assert.equal(r.reachable, true);
      assert.equal(r.healthy, true, `${r.name} healthy: ${r.error ?? ''}`);
      assert.ok(r.revision > 0);
    }
    const lines = formatMemberStatus(rows);
    for (const [i, m] of etcd.members.entries()) {
      assert.match(lines[i]!, new RegExp(`^${m.name} +https://127\\.0\\.0\\.1:${m.clientPort} (leader|follower) revision \\d+ term \\d+ healthy$`));
    }
    const follower = rows.find((r) => !r.leader)!;
    await etcd.killMember(follower.name, 'SIGKILL');
    const after = await attached.memberStatus();
    const dead = after.find((r) => r.name === follower.name)!;
    assert.equal(dead.reachable, false);
    assert.match(formatMemberStatus([dead])[0]!, new RegExp(`^${dead.name} +${dead.endpoint.replace(/\./g, '\\.')} unreachable \\(`));
    for (const r of after.filter((x) => x.name !== follower.name)) assert.equal(r.healthy, true, `${r.name} stays healthy with two of three`);
  } finally {
    await etcd.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
