/**
 * Durability: a child process creates keys in a loop and reports each
 * acknowledged handle; it is killed with SIGKILL at a random moment. After
 * reopening, every acknowledged key is present and usable, the SQLite file
 * passes its integrity check, and the audit chain verifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import * as P from '../../protocol/src/pkcs11.js';
import { openLocalPartition } from '../src/local_partition.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'keygen_child.js');

async function runAndKill(dir: string, killAfterMs: number): Promise<{ aes: number[]; ec: [number, number][] }> {
  const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = { aes: [] as number[], ec: [] as [number, number][] };
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  /* The kill is timed from the first acknowledgement, not from READY: on a loaded machine the
   * child may take longer than killAfterMs to acknowledge its first key, and a kill before it would
   * leave nothing to check. */
  const firstAck = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [ack, kind, a, b] = line.split(' ');
        if (ack !== 'ACK') continue;
        if (kind === 'aes') acked.aes.push(Number(a));
        else acked.ec.push([Number(a), Number(b)]);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${stderr}`)));
  });
  /* 'close', not 'exit': every acknowledgement written before the kill has been read. */
  const closed = new Promise((r) => child.on('close', r));
  await firstAck;
  await new Promise((r) => setTimeout(r, killAfterMs));
  child.kill('SIGKILL');
  await closed;
  return acked;
}

test('every acknowledged key survives SIGKILL of the writer', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-durability-'));
  try {
    {
      const { partition: p, store } = await openLocalPartition(dir, { create: true, config: FAST });
      const preco = await p.login('admin', 'tenantadmin');
      await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
      await p.createUser({ principal: await p.login('admin', 'adminpassword') }, 'CU', 'cu1', 'user1234');
      await store.close();
    }
    let total = 0;
    for (let round = 0; round < 3; round++) {
      const acked = await runAndKill(dir, 400 + Math.floor(Math.random() * 1200));
      assert.ok(acked.aes.length > 0, 'the child acknowledged some keys before it was killed');
      total += acked.aes.length + acked.ec.length;

      /* Read-write: after a SIGKILL mid-commit the rollback journal is hot, and opening rolls it back. */
      const db = new Database(join(dir, 'data', 'partition.db'));
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      db.close();

      const { partition: p, store } = await openLocalPartition(dir);
      try {
        const cu = { principal: await p.login('cu1', 'user1234', 'CU') };
        for (const h of acked.aes) {
          const ct = await p.encrypt(cu, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16));
          assert.equal(ct.length, 16, `AES key ${h} is usable`);
        }
        for (const [priv, pub] of acked.ec) {
          const sig = await p.sign(cu, { mechanism: P.CKM_ECDSA_SHA256 }, priv, Buffer.from('durable'));
          await p.verify(cu, { mechanism: P.CKM_ECDSA_SHA256 }, pub, Buffer.from('durable'), sig);
        }
        const verdict = await p.auditVerify();
        assert.ok(verdict.ok, `audit chain intact: ${verdict.reason ?? ''}`);
      } finally {
        await store.close();
      }
    }
    assert.ok(total > 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
