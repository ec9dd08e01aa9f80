/**
 * Fuzzing after a real sign-in (issue: fuzz both sockets after sign-in as
 * well as before it). On one connection that said hello and signed in as cu1
 * (to a node over TLS, and to the daemon's socket), every opcode of the
 * protocol is sent with: bodies shaped by its schema but filled with random
 * values (with the real session and key handle now and then, so requests get
 * past the first checks), random bytes, and a valid encoding with one byte
 * changed. Each frame must get a well-formed response (a result or an error
 * with a code) or a clean close (then the test reconnects and signs in again).
 * Afterwards the process is alive and answers a signature. RSS before and
 * after is printed (not asserted: it depends on what the random requests
 * created).
 *
 * Left out of the schema-shaped bodies (they still get random and mutated
 * ones): changePassword, login and logout, which would change the sign-in the
 * test is about.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as P from '../../protocol/src/pkcs11.js';
import { FrameReader, KIND_NOTICE, KIND_RESPONSE, encodeFrame, type Frame } from '../../protocol/src/codec.js';
import { OPS, encodeRequest, decodeResponseMessage, type FieldSpec, type OpName, type Schema } from '../../protocol/src/messages.js';
import { startCluster, startDaemon, EXAMPLE_CU, type DaemonHandle, type LocalCluster } from '../../testkit/src/cluster.js';
import { exampleCuSigningPair } from '../../testkit/src/keys.js';

let dir: string;
let cluster: LocalCluster;
let daemon: DaemonHandle;
let keyHandle = 0;
const RUNS_PER_OP = Number(process.env.OCHSM_FUZZ_RUNS ?? 12);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ochsm-fuzz-in-'));
  cluster = await startCluster(dir, { nodes: 1 });
  daemon = await startDaemon(cluster);
  keyHandle = (await exampleCuSigningPair(cluster)).privateHandle;
});

after(async () => {
  await daemon?.stop();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A raw connection that reads frames and matches responses to request ids. */
class Raw {
  private readonly reader = new FrameReader();
  private readonly waiting = new Map<number, (f: Frame | undefined) => void>();
  closed = false;
  private nextId = 1;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk);
      } catch (e) {
        this.fail(new Error(`the server sent bytes that are not a frame: ${(e as Error).message}`));
        return;
      }
      for (const f of frames) {
        if (f.kind === KIND_NOTICE) continue;
        if (f.kind !== KIND_RESPONSE) return this.fail(new Error(`the server sent a frame of kind ${f.kind}`));
        const w = this.waiting.get(f.requestId);
        this.waiting.delete(f.requestId);
        w?.(f);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.values()) w(undefined);
      this.waiting.clear();
    });
  }

  failure: Error | undefined;
  private fail(e: Error): void {
    this.failure ??= e;
    this.socket.destroy();
  }

  id(): number {
    return this.nextId++;
  }

  /** Send bytes whose request id is `id`; resolve with its response, or undefined when the connection closed. */
  send(id: number, bytes: Uint8Array, timeoutMs = 15_000): Promise<Frame | undefined> {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve(undefined);
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer and no close within ${timeoutMs} ms for request ${id} (${Buffer.from(bytes.subarray(0, 24)).toString('hex')}...)`));
      }, timeoutMs);
      this.waiting.set(id, (f) => {
        clearTimeout(t);
        resolve(f);
      });
      this.socket.write(bytes);
    });
  }

  async request<K extends OpName>(op: K, obj: Parameters<typeof encodeRequest<K>>[2]): Promise<ReturnType<typeof decodeResponseMessage>> {
    const id = this.id();
    const f = await this.send(id, encodeRequest(op, id, obj));
    assert.ok(f, `${op}: the connection closed`);
    return decodeResponseMessage(f);
  }

  close(): void {
    this.socket.destroy();
  }
}

type Target = { name: string; pid: () => number; connect: () => Promise<net.Socket> };

async function signedIn(t: Target): Promise<{ raw: Raw; session: number }> {
  const raw = new Raw(await t.connect());
  const h = await raw.request('hello', { versions: [1], client: 'fuzz-after-sign-in' });
  assert.ok(h.ok, 'hello');
  const l = await raw.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
  /* Through the daemon in HOST mode the host may already be signed in by this test's earlier connection. */
  assert.ok(l.ok || l.code === 'ERR_USER_ALREADY_LOGGED_IN', `login: ${l.ok ? '' : `${l.code} ${l.message}`}`);
  const s = await raw.request('openSession', {});
  assert.ok(s.ok, `openSession: ${s.ok ? '' : s.message}`);
  return { raw, session: Number((s.obj as { session: number }).session) };
}

/* ---- values shaped by a schema ---- */

const u64 = (session: number) => fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 4096 }) },
  { weight: 2, arbitrary: fc.constantFrom(session, keyHandle, keyHandle - 1, 262144, 0, 1, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) },
);
const str = fc.oneof(fc.string({ maxLength: 24 }), fc.constantFrom('cu1', 'admin', 'CU', 'CO', 'node', 'store', ''));
const bytes = fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.constant(Uint8Array.of(1)), fc.constant(Buffer.from('06082a8648ce3d030107', 'hex')));
const attrs = (session: number) => fc.array(fc.record({ type: fc.oneof(fc.constantFrom(P.CKA_CLASS, P.CKA_TOKEN, P.CKA_LABEL, P.CKA_KEY_TYPE, P.CKA_VALUE_LEN, P.CKA_SIGN, P.CKA_EXTRACTABLE, P.CKA_VALUE, P.CKA_EC_PARAMS), u64(session)), value: bytes }), { maxLength: 6 });

function valueOf(spec: FieldSpec, session: number): fc.Arbitrary<unknown> {
  switch (spec.type) {
    case 'u64': return u64(session);
    case 'bytes': return bytes;
    case 'string': return str;
    case 'bool': return fc.boolean();
    case 'attrs': return attrs(session);
    case 'u64list': return fc.array(u64(session), { maxLength: Math.min(spec.max ?? 8, 8) });
    case 'strings': return fc.array(str, { maxLength: 4 });
    case 'record': return objectOf(spec.fields!, session);
    case 'records': return fc.array(objectOf(spec.fields!, session), { maxLength: 3 });
    default: return fc.constant(undefined);
  }
}

function objectOf(schema: Schema, session: number): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, spec] of Object.entries(schema)) {
    if (spec.id >= 254) continue; /* the request id and consistency fields are the transport's */
    parts[name] = spec.optional ? fc.option(valueOf(spec, session), { nil: undefined }) : valueOf(spec, session);
  }
  return fc.record(parts).map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
}

const KEEP_SIGN_IN: readonly string[] = ['changePassword', 'login', 'logout'];

async function fuzzTarget(t: Target): Promise<void> {
  const pid = t.pid();
  const rssBefore = rssMiB(pid);
  let { raw, session } = await signedIn(t);
  let answered = 0;
  let errors = 0;
  let closes = 0;
  const seen = new Set<string>();
  const ops = Object.keys(OPS) as OpName[];
  for (const op of ops) {
    const spec = OPS[op];
    const frames: ((id: number) => Uint8Array)[] = [];
    if (!KEEP_SIGN_IN.includes(op)) {
      for (const obj of fc.sample(objectOf(spec.request, session), RUNS_PER_OP)) {
        frames.push((id) => {
          try {
            return encodeRequest(op, id, obj as never);
          } catch {
            /* A value the encoder refuses (e.g. a per-field bound): send its fields as raw bytes instead. */
            return encodeFrame({ kind: 1, requestId: id, opcode: spec.opcode, body: Buffer.from(JSON.stringify(obj)) });
          }
        });
      }
    }
    for (const body of fc.sample(fc.uint8Array({ maxLength: 120 }), Math.ceil(RUNS_PER_OP / 2))) {
      frames.push((id) => encodeFrame({ kind: 1, requestId: id, opcode: spec.opcode, body }));
    }
    const valid = (id: number) => encodeRequest('sign', id, { session, mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: keyHandle, data: Uint8Array.of(1, 2, 3) });
    for (const [pos, byte] of fc.sample(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), Math.ceil(RUNS_PER_OP / 2))) {
      frames.push((id) => {
        const f = Buffer.from(valid(id));
        f.writeUInt16BE(spec.opcode, 8);
        /* Keep the 16-byte header (request id, length) intact, so the reply can be matched; change a body byte. */
        const at = 16 + (pos % Math.max(1, f.length - 16));
        if (at < f.length) f[at] = byte;
        return f;
      });
    }
    for (const make of frames) {
      if (raw.closed) {
        closes++;
        ({ raw, session } = await signedIn(t));
      }
      const id = raw.id();
      const f = await raw.send(id, make(id));
      assert.equal(raw.failure, undefined, raw.failure?.message);
      if (!f) continue; /* a clean close: reconnect at the next frame */
      const m = decodeResponseMessage(f); /* throws on a malformed response */
      assert.equal(f.opcode, spec.opcode, `the response names the request's opcode (${op})`);
      answered++;
      if (!m.ok) {
        errors++;
        assert.match(m.code, /^ERR_[A-Z_]+$/, `${op}: an error with a code`);
        assert.ok(m.message.length > 0, `${op}: an error with a message`);
        seen.add(m.code);
      }
    }
  }
  raw.close();
  /* Alive and serving: a new connection signs in, makes a key (the fuzz may have destroyed the first) and signs. */
  const check = await signedIn(t);
  const g = await check.raw.request('generateKeyPair', {
    session: check.session,
    mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [{ type: P.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') }, { type: P.CKA_VERIFY, value: Uint8Array.of(1) }],
    privateTemplate: [{ type: P.CKA_SIGN, value: Uint8Array.of(1) }],
  });
  assert.ok(g.ok, `a key after the fuzz: ${g.ok ? '' : `${g.code} ${g.message}`}`);
  const handle = Number((g.obj as { privateHandle: number }).privateHandle);
  const r = await check.raw.request('sign', { session: check.session, mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle, data: Uint8Array.of(9) });
  assert.ok(r.ok, `a signature after the fuzz: ${r.ok ? '' : `${r.code} ${r.message}`}`);
  check.raw.close();
  const rssAfter = rssMiB(pid);
  process.stdout.write(`fuzz after sign-in, ${t.name}: ${answered} answered (${errors} errors: ${[...seen].sort().join(', ')}), ${closes} closes; RSS ${rssBefore.toFixed(1)} -> ${rssAfter.toFixed(1)} MiB\n`);
  assert.ok(answered > ops.length * RUNS_PER_OP, 'most frames were answered');
}

test('a node after sign-in: every opcode with schema-shaped, random and mutated bodies; each answered or closed cleanly; the node stays up', { timeout: 300_000 }, async () => {
  const n = cluster.node(1);
  await fuzzTarget({
    name: 'node',
    pid: () => n.proc!.pid!,
    connect: () => new Promise((resolve, reject) => {
      const s = tls.connect({ host: n.host, port: n.port, ca: cluster.poCrt, checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    }),
  });
  assert.equal(n.proc!.exitCode, null);
  assert.equal(n.proc!.signalCode, null);
});

test('the daemon socket after sign-in: the same; the daemon stays up', { timeout: 300_000 }, async () => {
  await fuzzTarget({
    name: 'daemon',
    pid: () => daemon.proc.pid!,
    connect: () => new Promise((resolve, reject) => {
      const s = net.connect(daemon.socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    }),
  });
  assert.equal(daemon.proc.exitCode, null);
  assert.equal(daemon.proc.signalCode, null);
});
