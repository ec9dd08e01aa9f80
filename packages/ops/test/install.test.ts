/**
 * The package install test: `make deb`'s script builds the package, it is
 * extracted into a scratch root (dpkg -x), the layout and the modes are checked,
 * `systemd-analyze verify` accepts both units (and refuses a broken one), and a
 * cluster started from the installed tree signs through the installed PKCS#11
 * module with OpenSC's pkcs11-tool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../testkit/src/cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '..', '..', '..', '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const PREFIX = '/opt/azurecloudhsm';

const mode = (p: string) => statSync(p).mode & 0o7777;
const octal = (m: number) => m.toString(8).padStart(4, '0');

test('make deb → dpkg -x: layout, modes, units, and a signature through the installed tree', { timeout: 300_000 }, async (t) => {
  const deb = execFileSync('bash', [join(ROOT, 'packaging/deb/build-deb.sh')], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 }).trim().split('\n').pop()!;
  const debPath = resolve(ROOT, deb);
  assert.ok(existsSync(debPath), debPath);
  const scratch = mkdtempSync(join(tmpdir(), 'ochsm-install-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const R = join(scratch, 'root');
  mkdirSync(R);

  await t.test('control: version from package.json, dependencies declared, configuration files are conffiles', () => {
    const field = (f: string) => execFileSync('dpkg-deb', ['-f', debPath, f], { encoding: 'utf8' }).trim();
    assert.equal(field('Package'), 'opencloudhsm');
    assert.equal(field('Version'), PKG.version);
    assert.match(field('Depends'), /nodejs \(>= 20\)/);
    assert.match(field('Depends'), /libssl3/);
    assert.match(field('Depends'), /adduser/);
    const ctl = join(scratch, 'control');
    execFileSync('dpkg-deb', ['-e', debPath, ctl]);
    const conffiles = readFileSync(join(ctl, 'conffiles'), 'utf8').trim().split('\n');
    for (const f of ['azcloudhsm_resource.cfg', 'azcloudhsm_application.cfg', 'azcloudhsm_client.cfg', 'azcloudhsm_mgmt_util.cfg', 'azcloudhsm_openssl_dynamic.conf']) {
      assert.ok(conffiles.includes(`${PREFIX}/bin/${f}`), `${f} is a conffile`);
    }
    assert.ok(conffiles.includes('/etc/opencloudhsm/node1.json'));
    for (const s of ['postinst', 'prerm', 'postrm']) {
      assert.equal(mode(join(ctl, s)) & 0o755, 0o755, `${s} is executable`);
      execFileSync('sh', ['-n', join(ctl, s)]);
    }
    const postinst = readFileSync(join(ctl, 'postinst'), 'utf8');
    assert.match(postinst, /adduser --system --ingroup azcloudhsm/);
    assert.match(postinst, /adduser --system --ingroup ochsm-node/);
    console.log(`checked: ${deb} control (Version ${PKG.version}, Depends ${field('Depends')}), ${conffiles.length} conffiles, maintainer scripts parse`);
  });

  execFileSync('dpkg', ['-x', debPath, R]);
  const P = join(R, PREFIX.slice(1));

  await t.test('layout and modes under /opt/azurecloudhsm, /usr/lib/systemd/system, /usr/share/p11-kit/modules', () => {
    const expect: Array<[string, number]> = [
      ...['azcloudhsm_client', 'azcloudhsm_util', 'azcloudhsm_mgmt_util', 'hsm-node', 'ochsm'].map((b) => [`bin/${b}`, 0o755] as [string, number]),
      ...['azcloudhsm_resource.cfg', 'azcloudhsm_application.cfg', 'azcloudhsm_client.cfg', 'azcloudhsm_mgmt_util.cfg', 'azcloudhsm_openssl_dynamic.conf'].map((f) => [`bin/${f}`, 0o644] as [string, number]),
      ['lib64/libazcloudhsm_pkcs11.so', 0o755],
      ['lib64/libazcloudhsm_openssl.so', 0o755],
      ['pkcs11_headers/include/cryptoki.h', 0o644],
      ['pkcs11_headers/include/pkcs11t.h', 0o644],
      ['lib/package.json', 0o644],
      ['lib/packages/daemon/src/main.js', 0o644],
      ['lib/node_modules/better-sqlite3/build/Release/better_sqlite3.node', 0o755],
      ['lib/node_modules/prom-client/package.json', 0o644],
      ['cert', 0o755],
    ];
    for (const [rel, m] of expect) {
      const p = join(P, rel);
      assert.ok(existsSync(p), `${PREFIX}/${rel} is installed`);
      assert.equal(octal(mode(p)), octal(m), `${PREFIX}/${rel} has mode ${octal(m)}`);
    }
    if (existsSync(join(ROOT, 'dist/lib64/libazcloudhsm_provider.so'))) assert.ok(existsSync(join(P, 'lib64/libazcloudhsm_provider.so')));
    assert.equal(readlinkSync(join(P, 'lib64/engines-3/azcloudhsm_openssl.so')), '../libazcloudhsm_openssl.so');
    assert.ok(lstatSync(join(P, 'lib/bin')).isSymbolicLink());
    /* No test code and no development dependency is installed. */
    assert.ok(!existsSync(join(P, 'lib/packages/daemon/test')));
    assert.ok(!existsSync(join(P, 'lib/node_modules/typescript')));
    assert.ok(!existsSync(join(P, 'lib/node_modules/fast-check')));
    const module = readFileSync(join(R, 'usr/share/p11-kit/modules/azcloudhsm.module'), 'utf8');
    assert.match(module, new RegExp(`^module: ${PREFIX}/lib64/libazcloudhsm_pkcs11.so$`, 'm'));
    for (const u of ['azure-cloud-hsm.service', 'ochsm-node@.service']) assert.equal(octal(mode(join(R, 'usr/lib/systemd/system', u))), '0644');
    const unit = readFileSync(join(R, 'usr/lib/systemd/system/azure-cloud-hsm.service'), 'utf8');
    assert.match(unit, new RegExp(`^ExecStart=${PREFIX}/bin/azcloudhsm_client ${PREFIX}/bin/azcloudhsm_resource.cfg$`, 'm'));
    assert.match(unit, /^SyslogIdentifier=azure-cloud-hsm$/m);
    assert.match(unit, /^User=azcloudhsm$/m);
    assert.match(readFileSync(join(P, 'bin/azcloudhsm_application.cfg'), 'utf8'), /^SOCKET_PATH=\/run\/azure-cloud-hsm\/azcloudhsm_client.sock$/m);
    /* The installed tree never points back into the build tree. */
    for (const dir of [join(P, 'bin'), join(R, 'usr/lib/systemd/system'), join(R, 'usr/share/p11-kit/modules'), join(R, 'etc/opencloudhsm')]) {
      for (const f of readdirSync(dir)) assert.ok(!readFileSync(join(dir, f), 'utf8').includes(ROOT), `${f} does not name ${ROOT}`);
    }
    console.log(`checked: ${expect.length} paths and modes, p11-kit module file, unit contents, no path into the build tree`);
  });

  await t.test('the OpenSSL provider, the engine and the JCE jar sit at the guides\' paths and load from there', () => {
    /* Required whenever the build made them (CI builds the provider always, the jar with a JDK). */
    const built = { provider: existsSync(join(ROOT, 'dist/lib64/libazcloudhsm_provider.so')), jar: existsSync(join(ROOT, 'dist/jce/azure-cloud-hsm-jca-17-jar-with-dependencies.jar')) };
    assert.ok(built.provider, 'the build has the OpenSSL provider (make build)');
    assert.equal(octal(mode(join(P, 'lib64/libazcloudhsm_provider.so'))), '0755');
    assert.equal(readlinkSync(join(P, 'lib64/ossl-modules/azcloudhsm.so')), '../libazcloudhsm_provider.so');
    const prov = execFileSync('openssl', ['list', '-providers', '-provider-path', join(P, 'lib64/ossl-modules'), '-provider', 'azcloudhsm'], { encoding: 'utf8', env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
    assert.match(prov, /^ {2}azcloudhsm\n {4}name: Azure Cloud HSM compatible provider \(OpenCloudHSM\)\n {4}version: (.+)\n {4}status: active$/m);
    assert.equal(/version: (.+)/.exec(prov)![1], PKG.version, 'the provider reports the package version');
    const eng = execFileSync('openssl', ['engine', 'azcloudhsm_openssl'], { encoding: 'utf8', env: { ...process.env, OPENSSL_ENGINES: join(P, 'lib64/engines-3'), OPENSSL_CONF: '/dev/null' } });
    assert.match(eng, /^\(azcloudhsm_openssl\) Azure Cloud HSM compatible engine \(OpenCloudHSM\)$/m);
    let jarLine = 'no JDK: the jar is not built';
    if (built.jar) {
      const jce = join(P, 'jce/jce-17');
      const jar = join(jce, 'azure-cloud-hsm-jca-17-jar-with-dependencies.jar');
      assert.equal(octal(mode(jar)), '0644');
      assert.ok(readFileSync(jar).equals(readFileSync(join(ROOT, 'dist/jce/azure-cloud-hsm-jca-17-jar-with-dependencies.jar'))), 'the installed jar is the built one');
      assert.equal(readlinkSync(join(jce, 'azcloudhsm_jca-17-jar-with-dependencies.jar')), 'azure-cloud-hsm-jca-17-jar-with-dependencies.jar');
      assert.match(readFileSync(join(jce, 'java.security'), 'utf8'), /com\.cavium\.provider\.CaviumProvider/);
      const list = execFileSync('jar', ['tf', jar], { encoding: 'utf8' });
      assert.match(list, /^com\/cavium\/provider\/CaviumProvider\.class$/m);
      jarLine = `${PREFIX}/jce/jce-17/azure-cloud-hsm-jca-17-jar-with-dependencies.jar (= the build's, holds com.cavium.provider.CaviumProvider) and its second name`;
    }
    console.log(`checked: ${PREFIX}/lib64/ossl-modules/azcloudhsm.so loads with -provider azcloudhsm (version ${PKG.version}, active); ${PREFIX}/lib64/engines-3/azcloudhsm_openssl.so loads by id; ${jarLine}`);
  });

  await t.test('every installed executable answers --help and --version', () => {
    const exes = readdirSync(join(P, 'bin')).filter((f) => (mode(join(P, 'bin', f)) & 0o111) !== 0).sort();
    assert.deepEqual(exes, ['azcloudhsm_client', 'azcloudhsm_mgmt_util', 'azcloudhsm_util', 'hsm-node', 'ochsm']);
    for (const exe of exes) {
      const v = spawnSync(join(P, 'bin', exe), ['--version'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(v.status, 0, v.stderr);
      assert.equal(v.stdout, `${exe} (OpenCloudHSM) ${PKG.version}\n`);
      const h = spawnSync(join(P, 'bin', exe), ['--help'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(h.status, 0, h.stderr);
      assert.match(h.stdout, new RegExp(`^usage: ${exe}`));
    }
    console.log(`checked: ${exes.length} installed executables (${exes.join(', ')}): --version and --help exit 0 with the right output`);
  });

  await t.test('systemd-analyze verify accepts both units and refuses a broken one', () => {
    const units = join(scratch, 'units');
    mkdirSync(units);
    /* The units name /opt/azurecloudhsm and /etc/opencloudhsm; point them at the scratch root so verify checks the installed executables. */
    const rewrite = (s: string) => s.replaceAll(PREFIX, P).replaceAll('/etc/opencloudhsm', join(R, 'etc/opencloudhsm'));
    writeFileSync(join(units, 'azure-cloud-hsm.service'), rewrite(readFileSync(join(R, 'usr/lib/systemd/system/azure-cloud-hsm.service'), 'utf8')));
    writeFileSync(join(units, 'ochsm-node@1.service'), rewrite(readFileSync(join(R, 'usr/lib/systemd/system/ochsm-node@.service'), 'utf8')));
    const ok = spawnSync('systemd-analyze', ['verify', join(units, 'azure-cloud-hsm.service'), join(units, 'ochsm-node@1.service')], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stderr.trim(), '', `no warnings: ${ok.stderr}`);
    writeFileSync(join(units, 'broken.service'), rewrite(readFileSync(join(R, 'usr/lib/systemd/system/azure-cloud-hsm.service'), 'utf8')).replace('bin/azcloudhsm_client ', 'bin/azcloudhsm_missing '));
    const bad = spawnSync('systemd-analyze', ['verify', join(units, 'broken.service')], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /azcloudhsm_missing/);
    console.log('checked: systemd-analyze verify azure-cloud-hsm.service ochsm-node@1.service → clean; a unit with a missing executable is refused');
  });

  await t.test('the installed tree runs: --version, a 3-node cluster and the daemon, pkcs11-tool keygen, sign, verify', async () => {
    const v = execFileSync(join(P, 'bin/hsm-node'), ['--version'], { encoding: 'utf8' });
    assert.equal(v, `hsm-node (OpenCloudHSM) ${PKG.version}\n`);
    /* The services' first start: ochsm init makes the state directory, then hsm-node runs on the packaged node1.json. */
    const state = join(R, 'var/lib/opencloudhsm');
    const init = spawnSync(join(P, 'bin/ochsm'), ['init', state], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(init.status, 0, init.stderr);
    assert.equal(octal(mode(join(state, 'sealing.key'))), '0600');
    assert.equal(octal(mode(state)), '0700');
    const nodePort = await freePort();
    const nodeCfg = JSON.parse(readFileSync(join(R, 'etc/opencloudhsm/node1.json'), 'utf8')) as { port: number; dir: string; cluster: Array<{ port: number }> };
    assert.equal(nodeCfg.dir, '/var/lib/opencloudhsm');
    writeFileSync(join(scratch, 'node1.json'), JSON.stringify({ ...nodeCfg, dir: state, port: nodePort, cluster: [{ id: 1, hostname: '127.0.0.1', port: nodePort }] }));
    const node = spawn(join(P, 'bin/hsm-node'), [join(scratch, 'node1.json')], { env: { ...process.env, OCHSM_METRICS: '127.0.0.1:0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let nodeLog = '';
    node.stderr.on('data', (d: Buffer) => (nodeLog += d.toString()));
    try {
      for (const end = Date.now() + 20_000; !/unencrypted mode, limited commands/.test(nodeLog) || !/"metrics"/.test(nodeLog); ) {
        assert.ok(Date.now() < end && node.exitCode === null, `the installed hsm-node starts on node1.json: ${nodeLog}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      const exited = new Promise((r) => node.once('exit', r));
      node.kill('SIGTERM');
      await exited;
    }
    assert.equal(node.exitCode, 0, 'SIGTERM stops it cleanly');
    const ports = [await freePort(), await freePort(), await freePort()];
    const env = { ...process.env, OCHSM_HOME: join(R, 'var/lib/ochsm-test'), OCHSM_PORTS: ports.join(',') };
    const ochsm = join(P, 'bin/ochsm');
    try {
      const up = spawnSync(ochsm, ['up'], { cwd: scratch, env, encoding: 'utf8', timeout: 120_000 });
      assert.equal(up.status, 0, up.stderr + up.stdout);
      assert.match(up.stdout, /ECDSA-SHA256 signature verified/);
      assert.match(up.stdout, /node 1 up, node 2 up, node 3 up/);
      /* pkcs11-tool finds azcloudhsm_application.cfg in its working directory, the installed bin/. */
      const lib = join(P, 'lib64/libazcloudhsm_pkcs11.so');
      const p11 = (...args: string[]) => execFileSync('pkcs11-tool', ['--module', lib, '--login', '--login-type', 'user', '--pin', 'cu1:user1234', ...args], { cwd: join(P, 'bin'), encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
      p11('--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'installed', '--id', '4242', '--sensitive', '--private', '--usage-sign');
      const msg = join(scratch, 'msg');
      writeFileSync(msg, 'signed through the installed tree');
      p11('--sign', '--mechanism', 'ECDSA-SHA256', '--id', '4242', '-i', msg, '-o', join(scratch, 'sig'));
      assert.equal(statSync(join(scratch, 'sig')).size, 64);
      const out = p11('--verify', '--mechanism', 'ECDSA-SHA256', '--id', '4242', '-i', msg, '--signature-file', join(scratch, 'sig'));
      assert.match(out, /Signature is valid/);
      console.log(`checked: ochsm init + hsm-node on the packaged node1.json (unclaimed, metrics on, SIGTERM → 0); ochsm up from ${PREFIX} in the scratch root (ports ${ports.join(', ')}), pkcs11-tool keygen + ECDSA-SHA256 sign + verify through ${PREFIX}/lib64/libazcloudhsm_pkcs11.so`);
    } finally {
      spawnSync(ochsm, ['down'], { cwd: scratch, env, encoding: 'utf8', timeout: 60_000 });
    }
  });
});
