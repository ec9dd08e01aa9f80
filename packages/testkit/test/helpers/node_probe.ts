/**
 * @module A client that talks to one node from inside a simulated host
 * (run with `ip netns exec <host> node node_probe.js <address> <port> <po.crt>`),
 * for tests that cut that host off: the root namespace cannot reach it then.
 *
 * It reads one JSON request per line on stdin, `{"op": ..., "obj": {...}}`,
 * sends it on one node connection (so a sign-in persists), and writes one JSON
 * line per answer: `{"ok": true, "result": ...}` or `{"ok": false, "code", "message"}`.
 * Buffers travel as `{"$hex": "..."}`. It ends when stdin ends.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { connectNode } from '../../src/cluster.js';

const toWire = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(toWire);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$hex === 'string' && Object.keys(o).length === 1) return Buffer.from(o.$hex, 'hex');
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, toWire(x)]));
  }
  return v;
};
const fromWire = (v: unknown): unknown => {
  if (v instanceof Uint8Array) return { $hex: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(fromWire);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, fromWire(x)]));
  return v;
};

async function main(): Promise<void> {
  const [host, port, caPath] = process.argv.slice(2);
  if (!host || !port || !caPath) throw new Error('usage: node_probe <address> <port> <po.crt>');
  const client = await connectNode(Number(port), readFileSync(caPath), host);
  process.stdout.write(`${JSON.stringify({ ok: true, result: 'connected' })}\n`);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const { op, obj } = JSON.parse(line) as { op: string; obj: unknown };
    try {
      const result = await (client.request as (op: string, obj: unknown, o?: { timeoutMs: number }) => Promise<unknown>).call(client, op, toWire(obj ?? {}), { timeoutMs: 8000 });
      process.stdout.write(`${JSON.stringify({ ok: true, result: fromWire(result) })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ ok: false, code: (e as { code?: string }).code ?? 'none', message: (e as Error).message })}\n`);
    }
  }
  client.close();
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ ok: false, code: 'probe', message: (e as Error).message })}\n`);
  process.exitCode = 1;
});
