/**
 * Tests of src/config.ts: the SDK reads azcloudhsm_application.cfg as the
 * daemon and the C libraries do (docs/daemon.md), and says where it looked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseApplicationConfig as daemonParse } from '../../daemon/src/config.js';
import { findApplicationConfig, parseApplicationConfig } from '../src/config.js';
import { ConfigError, ConfigNotFoundError } from '../src/errors.js';

test('defaults: a Unix socket at <dir>/../run/azcloudhsm_client.sock, HOST mode', () => {
  const c = parseApplicationConfig('', '/opt/azurecloudhsm/bin/azcloudhsm_application.cfg');
  assert.deepEqual(c.endpoint, { kind: 'unix', path: '/opt/azurecloudhsm/run/azcloudhsm_client.sock' });
  assert.equal(c.sessionMode, 'HOST');
});

test('the guide example: comments, white space, CRLF, BOM, case-insensitive values, TCP', () => {
  const text = '\uFEFF# client\r\nDAEMON_ID = 1\r\nSOCKET_TYPE=tcpsocket\r\nPORT=1111\r\nUSER_KEK_HANDLE=262150\r\nSESSION_MODE=application\r\nUNKNOWN=1\r\n';
  const c = parseApplicationConfig(text, '/x/azcloudhsm_application.cfg');
  assert.deepEqual(c.endpoint, { kind: 'tcp', host: '127.0.0.1', port: 1111 });
  assert.equal(c.userKekHandle, 262150);
  assert.equal(c.sessionMode, 'APPLICATION');
});

test('SOCKET_PATH is relative to the file; the SDK and the daemon agree on every valid file', () => {
  const texts = ['SOCKET_PATH=../run/s.sock', 'SOCKET_PATH=/abs/s.sock\nSESSION_MODE=HOST', 'SOCKET_TYPE=UNIXSOCKET', 'SOCKET_TYPE=TCPSOCKET\nPORT=4000'];
  for (const t of texts) {
    const path = '/opt/a/bin/azcloudhsm_application.cfg';
    const ours = parseApplicationConfig(t, path);
    const theirs = daemonParse(t, path);
    const expected = theirs.socketType === 'TCPSOCKET' ? { kind: 'tcp', host: '127.0.0.1', port: theirs.port } : { kind: 'unix', path: theirs.socketPath };
    assert.deepEqual(ours.endpoint, expected, t);
    assert.equal(ours.sessionMode, theirs.sessionMode);
  }
  assert.deepEqual(parseApplicationConfig('SOCKET_PATH=s.sock', '/a/b/azcloudhsm_application.cfg').endpoint, { kind: 'unix', path: '/a/b/s.sock' });
});

test('errors name the file and the line, as the daemon does', () => {
  const path = '/etc/azcloudhsm_application.cfg';
  const cases: [string, RegExp][] = [
    ['PORT=70000', /azcloudhsm_application\.cfg:1: PORT must be a TCP port from 1 to 65535 \(got "70000"\)/],
    ['\nSOCKET_TYPE=PIPE', /:2: SOCKET_TYPE must be UNIXSOCKET or TCPSOCKET/],
    ['PORT=1\nPORT=2', /:2: PORT is already set on line 1/],
    ['SESSION_MODE=', /:1: SESSION_MODE has no value/],
    ['just words', /:1: expected KEY=VALUE/],
    [`SOCKET_PATH=/${'x'.repeat(120)}`, /longer than 107 bytes/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseApplicationConfig(text, path), (e: unknown) => e instanceof ConfigError && e.code === 'ERR_SDK_CONFIG' && re.test(e.message), text);
  }
});

test("lookup: the working directory, the executable's folder, then AZCLOUDHSM_APPLICATION_CFG (a file or a folder); none gives the one message", () => {
  const root = mkdtempSync(join(tmpdir(), 'sdk-cfg-'));
  try {
    const cwd = join(root, 'app');
    const other = join(root, 'other');
    const exe = join(root, 'exe');
    mkdirSync(cwd);
    mkdirSync(other);
    mkdirSync(exe);
    assert.throws(() => findApplicationConfig(cwd, {}, exe), (e: unknown) => {
      assert.ok(e instanceof ConfigNotFoundError);
      assert.equal(e.code, 'ERR_SDK_CONFIG_NOT_FOUND');
      assert.equal(
        e.message,
        `azcloudhsm_application.cfg is not present (Cannot find file). Tried: ${join(cwd, 'azcloudhsm_application.cfg')} (working directory); ${join(exe, 'azcloudhsm_application.cfg')} (executable's folder); $AZCLOUDHSM_APPLICATION_CFG not set; /opt/azurecloudhsm/bin/azcloudhsm_application.cfg (the product's folder). Put it in /opt/azurecloudhsm/bin or next to the application, or set AZCLOUDHSM_APPLICATION_CFG to its path`,
      );
      assert.equal(e.tried.length, 4);
      return true;
    });
    writeFileSync(join(exe, 'azcloudhsm_application.cfg'), 'SOCKET_PATH=/tmp/from-exe.sock\n');
    assert.deepEqual(findApplicationConfig(cwd, { AZCLOUDHSM_APPLICATION_CFG: other }, exe).endpoint, { kind: 'unix', path: '/tmp/from-exe.sock' });
    writeFileSync(join(other, 'azcloudhsm_application.cfg'), 'SOCKET_PATH=/tmp/from-env.sock\n');
    assert.deepEqual(findApplicationConfig(cwd, { AZCLOUDHSM_APPLICATION_CFG: other }).endpoint, { kind: 'unix', path: '/tmp/from-env.sock' });
    assert.deepEqual(findApplicationConfig(cwd, { AZCLOUDHSM_APPLICATION_CFG: join(other, 'azcloudhsm_application.cfg') }).endpoint, { kind: 'unix', path: '/tmp/from-env.sock' });
    writeFileSync(join(cwd, 'azcloudhsm_application.cfg'), 'SOCKET_PATH=/tmp/from-cwd.sock\n');
    assert.deepEqual(findApplicationConfig(cwd, { AZCLOUDHSM_APPLICATION_CFG: other }).endpoint, { kind: 'unix', path: '/tmp/from-cwd.sock' });
    /* An invalid file is an error, with no fall-through to the next candidate. */
    writeFileSync(join(cwd, 'azcloudhsm_application.cfg'), 'PORT=0\n');
    assert.throws(() => findApplicationConfig(cwd, { AZCLOUDHSM_APPLICATION_CFG: other }), /PORT must be a TCP port/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
