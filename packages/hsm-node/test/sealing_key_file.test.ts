/**
 * The sealing-key file: created owner-only, loaded only while owner-only,
 * and only in the exact v1 format (docs/storage-format.md §6). Also the pure
 * format/parse pair it is built on.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmError } from '../../protocol/src/errors.js';
import { formatSealingKey, parseSealingKey, SEALING_KEY_HEADER } from '../../hsm-core/src/barrier/sealing_key.js';
import { createSealingKeyFile, loadSealingKeyFile, writeSealingKeyFile } from '../src/sealing_key_file.js';
import { parseJoinSettings } from '../src/join.js';

const root = mkdtempSync(join(tmpdir(), 'ochsm-sealkey-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `key-${n++}`);

const barrierError = (...fragments: string[]) => (e: unknown) =>
  e instanceof HsmError && e.code === 'ERR_BARRIER' && fragments.every((f) => e.message.includes(f));

/** Write a file with exactly `mode`, whatever the umask. */
function writeWithMode(path: string, text: string, mode: number): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, mode);
}

test('createSealingKeyFile: mode 0600, v1 format, loads back the same key', () => {
  const p = fresh();
  const key = createSealingKeyFile(p);
  assert.equal(key.length, 32);
  assert.equal(statSync(p).mode & 0o777, 0o600);
  const text = readFileSync(p, 'utf8');
  assert.match(text, /^ochsm-sealing-key v1\n[0-9a-f]{64}\n$/);
  assert.ok(loadSealingKeyFile(p).equals(key));
});

test('createSealingKeyFile refuses to overwrite an existing file', () => {
  const p = fresh();
  const key = createSealingKeyFile(p);
  assert.throws(() => createSealingKeyFile(p), barrierError(p, 'already exists'));
  assert.ok(loadSealingKeyFile(p).equals(key), 'the original key is untouched');
});

test('loadSealingKeyFile refuses group- or world-accessible files, naming the path and mode', () => {
  const p = fresh();
  createSealingKeyFile(p);
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606, 0o610]) {
    chmodSync(p, mode);
    const m = '0' + mode.toString(8);
    assert.throws(() => loadSealingKeyFile(p), barrierError(p, `mode ${m}`, 'chmod 600'));
  }
  chmodSync(p, 0o400);
  assert.equal(loadSealingKeyFile(p).length, 32, 'owner read-only is fine');
});

test('loadSealingKeyFile refuses a wrong length, a wrong header and a missing file', () => {
  const short = fresh();
  writeWithMode(short, `${SEALING_KEY_HEADER}\n${'ab'.repeat(16)}\n`, 0o600);
  assert.throws(() => loadSealingKeyFile(short), barrierError(short, '64 hexadecimal characters', 'found 32'));

  const long = fresh();
  writeWithMode(long, `${SEALING_KEY_HEADER}\n${'ab'.repeat(33)}\n`, 0o600);
  assert.throws(() => loadSealingKeyFile(long), barrierError(long, 'found 66'));

  const raw = fresh();
  writeFileSync(raw, randomBytes(32), { mode: 0o600 });
  assert.throws(() => loadSealingKeyFile(raw), barrierError(raw, 'first line'));

  const missing = join(root, 'nope');
  assert.throws(() => loadSealingKeyFile(missing), barrierError(missing, 'does not exist'));

  const dir = join(root, 'a-dir');
  mkdirSync(dir, { mode: 0o700 });
  assert.throws(() => loadSealingKeyFile(dir), barrierError(dir, 'not a regular file'));

  const big = fresh();
  writeWithMode(big, `${SEALING_KEY_HEADER}\n${'ab'.repeat(32)}\n${'\n'.repeat(5000)}`, 0o600);
  assert.throws(() => loadSealingKeyFile(big), barrierError(big, 'larger than'));
});

test('loadSealingKeyFile refuses a symlink, even to a good key file; the real file still loads', () => {
  const target = fresh();
  const key = createSealingKeyFile(target);
  const link = join(root, 'link');
  symlinkSync(target, link);
  assert.throws(() => loadSealingKeyFile(link), barrierError(link, 'symbolic link'));
  assert.ok(loadSealingKeyFile(target).equals(key));
  chmodSync(target, 0o644);
  assert.throws(() => loadSealingKeyFile(target), barrierError(target, 'mode 0644'));
});

test('parseSealingKey: exact format, clear errors, never quoting the content', () => {
  const key = randomBytes(32);
  const text = formatSealingKey(key);
  assert.equal(text, `ochsm-sealing-key v1\n${key.toString('hex')}\n`);
  assert.ok(parseSealingKey(text).equals(key));
  assert.ok(parseSealingKey(text.replace(/\n/g, '\r\n')).equals(key), 'CRLF');
  assert.ok(parseSealingKey(text.trimEnd()).equals(key), 'no final newline');
  assert.ok(parseSealingKey(`${SEALING_KEY_HEADER}\n${key.toString('hex').toUpperCase()}\n`).equals(key), 'upper case');

  const hex = key.toString('hex');
  const cases: [string, string][] = [
    ['', 'first line'],
    [hex, 'first line'],
    [`ochsm-sealing-key v2\n${hex}\n`, 'unsupported format version'],
    [`${SEALING_KEY_HEADER}\n`, 'key line is missing'],
    [`${SEALING_KEY_HEADER}\n${hex.slice(2)}\n`, 'found 62 characters'],
    [`${SEALING_KEY_HEADER}\n${hex.slice(2)}zz\n`, 'not hexadecimal'],
    [`${SEALING_KEY_HEADER}\n${hex}\nextra\n`, 'unexpected content'],
    [`${SEALING_KEY_HEADER}\n${'0'.repeat(64)}\n`, 'all zeros'],
  ];
  for (const [t, fragment] of cases) {
    assert.throws(() => parseSealingKey(t), (e: unknown) => {
      assert.ok(barrierError(fragment)(e), `${JSON.stringify(fragment)}: got ${(e as Error).message}`);
      assert.ok(!(e as Error).message.includes(hex.slice(4, 20)), 'no key material in the message');
      return true;
    });
  }
  assert.throws(() => formatSealingKey(randomBytes(16)), TypeError);
});

test('writeSealingKeyFile (a joined node\'s key): mode 0600, loads back; never through a symbolic link or over a file', () => {
  const key = randomBytes(32);
  const p = fresh();
  writeSealingKeyFile(p, key);
  assert.equal(statSync(p).mode & 0o777, 0o600);
  assert.ok(loadSealingKeyFile(p).equals(key));
  assert.throws(() => writeSealingKeyFile(p, randomBytes(32)), barrierError(p, 'already exists'));
  assert.ok(loadSealingKeyFile(p).equals(key), 'the existing key is unchanged');
  /* A link planted where the key goes, pointing at a file that does not exist yet: nothing is created through it. */
  const target = fresh();
  const link = fresh();
  symlinkSync(target, link);
  assert.throws(() => writeSealingKeyFile(link, key), barrierError(link));
  assert.throws(() => statSync(target), /ENOENT/, 'nothing written where the link points');
});

test('node.json "join": true, or poCert and expirySeconds; anything else named in the error', () => {
  assert.equal(parseJoinSettings(undefined, 'n.json'), undefined);
  assert.deepEqual(parseJoinSettings(true, 'n.json'), { expirySeconds: 3600 });
  assert.deepEqual(parseJoinSettings({ poCert: '/etc/ochsm/PO.crt', expirySeconds: 600 }, 'n.json'), { poCert: '/etc/ochsm/PO.crt', expirySeconds: 600 });
  assert.throws(() => parseJoinSettings({ expirySeconds: 1 }, 'n.json'), /n\.json: "join.expirySeconds" must be an integer from 2 to 86400/);
  assert.throws(() => parseJoinSettings({ poCert: '' }, 'n.json'), /"join.poCert" must name the PO.crt file/);
  assert.throws(() => parseJoinSettings({ ttl: 5 }, 'n.json'), /unknown join setting "ttl"/);
  assert.throws(() => parseJoinSettings('yes', 'n.json'), /"join" must be true or an object/);
});
