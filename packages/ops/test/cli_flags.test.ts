/**
 * Every executable under dist/bin (found by listing it, so a new one cannot be
 * forgotten) answers --help and --version the same way, with the version of
 * package.json; the OpenSSL provider and engine name themselves and the
 * provider reports that version; `ochsm status` says where it looked.
 * (The installed tree's bin/ is checked the same way by install.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '..', '..', '..', '..');
const BIN = join(ROOT, 'dist', 'bin');
const PKG_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/* Every executable file of dist/bin, not a list written here. */
const EXECUTABLES = readdirSync(BIN).filter((f) => (statSync(join(BIN, f)).mode & 0o111) !== 0).sort();

test('dist/bin holds the five executables of the product (and the list below is read from it)', () => {
  for (const exe of ['azcloudhsm_client', 'azcloudhsm_util', 'azcloudhsm_mgmt_util', 'hsm-node', 'ochsm']) assert.ok(EXECUTABLES.includes(exe), `${exe} in ${BIN}`);
  console.log(`checked: ${EXECUTABLES.length} executables in dist/bin: ${EXECUTABLES.join(', ')}`);
});

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(join(BIN, cmd), args, { encoding: 'utf8', timeout: 20_000, cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

for (const exe of EXECUTABLES) {
  test(`${exe} --version prints "${exe} (OpenCloudHSM) <package.json version>" and exits 0`, () => {
    const r = run(exe, ['--version']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${exe} (OpenCloudHSM) ${PKG_VERSION}\n`);
    console.log(`checked: ${exe} --version → ${r.out.trim()}`);
  });
  test(`${exe} --help and -h print its usage on stdout and exit 0`, () => {
    for (const flag of ['--help', '-h']) {
      const r = run(exe, [flag]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`^usage: ${exe}`));
      assert.match(r.out, /--version/);
      assert.equal(r.err, '');
    }
  });
}

test('the OpenSSL provider and engine name themselves; the provider reports the package version', () => {
  const env = { ...process.env, OPENSSL_CONF: '/dev/null' };
  const prov = spawnSync('openssl', ['list', '-providers', '-verbose', '-provider-path', join(ROOT, 'dist/lib64/ossl-modules'), '-provider', 'azcloudhsm'], { encoding: 'utf8', env, timeout: 20_000 });
  assert.equal(prov.status, 0, prov.stderr);
  assert.match(prov.stdout, /^ {4}name: Azure Cloud HSM compatible provider \(OpenCloudHSM\)$/m);
  assert.match(prov.stdout, new RegExp(`^ {4}version: ${PKG_VERSION.replaceAll('.', '\\.')}$`, 'm'));
  assert.match(prov.stdout, new RegExp(`^ {4}build info: OpenCloudHSM ${PKG_VERSION.replaceAll('.', '\\.')}$`, 'm'));
  const eng = spawnSync('openssl', ['engine', 'azcloudhsm_openssl'], { encoding: 'utf8', env: { ...env, OPENSSL_ENGINES: join(ROOT, 'dist/lib64/engines-3') }, timeout: 20_000 });
  assert.equal(eng.status, 0, eng.stderr);
  assert.match(eng.stdout, /^\(azcloudhsm_openssl\) Azure Cloud HSM compatible engine \(OpenCloudHSM\)$/m);
  console.log(`checked: openssl list -providers -provider azcloudhsm → version ${PKG_VERSION}, active; openssl engine azcloudhsm_openssl → its name`);
});

test('ochsm status from a directory without a cluster names the directory it looked in, and exits 4', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-status-'));
  try {
    const env = { ...process.env };
    delete env.OCHSM_HOME;
    const r = run('ochsm', ['status'], { cwd: dir, env });
    assert.equal(r.code, 4);
    assert.ok(r.out.includes(join(dir, '.ochsm')), r.out);
    assert.match(r.out, /OCHSM_HOME/);
    assert.doesNotMatch(r.out, /^hsm1 +stopped/m);
    const r2 = run('ochsm', ['status'], { cwd: dir, env: { ...env, OCHSM_HOME: join(dir, 'elsewhere') } });
    assert.equal(r2.code, 4);
    assert.ok(r2.out.includes(`OCHSM_HOME=${join(dir, 'elsewhere')}`), r2.out);
    console.log(`checked: ochsm status from ${dir} → ${r.out.split('\n')[0]}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ochsm with an unknown command says so on stderr and exits 2', () => {
  const r = run('ochsm', ['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command 'frobnicate'/);
});
