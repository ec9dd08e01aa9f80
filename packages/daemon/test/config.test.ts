/** The three configuration files (src/config.ts): good files, defaults, and every bad case with its message. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ConfigError, defaultClientConfig, loadDaemonConfig, loadResourceConfig, parseApplicationConfig, parseClientConfig, parseResourceConfig,
} from '../src/config.js';

const R = '/opt/azurecloudhsm/bin/azcloudhsm_resource.cfg';
const A = '/opt/azurecloudhsm/bin/azcloudhsm_application.cfg';
const C = '/opt/azurecloudhsm/bin/azcloudhsm_client.cfg';

function fails(run: () => unknown, message: string | RegExp): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe('azcloudhsm_resource.cfg', () => {
  test('the guide\'s file: one hostname, port 2225 by default', () => {
    const text = '{\n    "servers": [\n    {\n        "hostname" : "hsm1.chsm-x-abc.privatelink.cloudhsm.azure.net"\n    }]\n}\n';
    assert.deepEqual(parseResourceConfig(text, R), { path: R, servers: [{ hostname: 'hsm1.chsm-x-abc.privatelink.cloudhsm.azure.net', port: 2225 }] });
  });

  test('several servers, explicit ports, a BOM', () => {
    const r = parseResourceConfig('\uFEFF{"servers":[{"hostname":"10.0.2.4","port":2225},{"hostname":"::1","port":12345}]}', R);
    assert.deepEqual(r.servers, [{ hostname: '10.0.2.4', port: 2225 }, { hostname: '::1', port: 12345 }]);
  });

  test('unknown keys are warnings', () => {
    const w: string[] = [];
    parseResourceConfig('{"servers":[{"hostname":"h","weight":2}],"extra":1}', R, (x) => w.push(x));
    assert.deepEqual(w, [`${R}: unknown key "extra" (ignored)`, `${R}: servers[0]: unknown key "weight" (ignored)`]);
  });

  const bad: [string, string, string | RegExp][] = [
    ['bad JSON', '{"servers": [', new RegExp(`^${R}: not valid JSON \\(`)],
    ['not an object', '[1,2]', `${R}: must be a JSON object such as {"servers":[{"hostname":"hsm1.example.net"}]}`],
    ['no servers key', '{}', `${R}: no "servers" list: give at least one server, e.g. {"servers":[{"hostname":"hsm1.example.net"}]}`],
    ['servers not a list', '{"servers":{"hostname":"h"}}', `${R}: "servers" must be a list of {"hostname": ..., "port"?: ...} objects`],
    ['no servers', '{"servers":[]}', `${R}: "servers" is empty: give at least one server`],
    ['server not an object', '{"servers":["hsm1"]}', `${R}: servers[0] must be an object such as {"hostname":"hsm1.example.net"}`],
    ['no hostname', '{"servers":[{"port":2225}]}', `${R}: servers[0] has no "hostname"`],
    ['empty hostname', '{"servers":[{"hostname":""}]}', `${R}: servers[0].hostname must be a host name or IP address (got "")`],
    ['hostname with a space', '{"servers":[{"hostname":"a b"}]}', `${R}: servers[0].hostname must be a host name or IP address (got "a b")`],
    ['URL as hostname', '{"servers":[{"hostname":"https://hsm1"}]}', `${R}: servers[0].hostname must be a host name or IP address (got "https://hsm1")`],
    ['port 0', '{"servers":[{"hostname":"h","port":0}]}', `${R}: servers[0].port must be an integer from 1 to 65535 (got 0)`],
    ['port too big', '{"servers":[{"hostname":"h"},{"hostname":"h","port":65536}]}', `${R}: servers[1].port must be an integer from 1 to 65535 (got 65536)`],
    ['port as text', '{"servers":[{"hostname":"h","port":"2225"}]}', `${R}: servers[0].port must be an integer from 1 to 65535 (got "2225")`],
    ['fractional port', '{"servers":[{"hostname":"h","port":22.5}]}', `${R}: servers[0].port must be an integer from 1 to 65535 (got 22.5)`],
  ];
  for (const [name, text, message] of bad) test(`refused: ${name}`, () => fails(() => parseResourceConfig(text, R), message));

  test('a missing file names the file', () => {
    fails(() => loadResourceConfig('/nonexistent/dir/azcloudhsm_resource.cfg'), '/nonexistent/dir/azcloudhsm_resource.cfg: cannot read the configuration file: file not found');
  });
});

describe('azcloudhsm_application.cfg', () => {
  test('the guide\'s file, with the defaults for our additions', () => {
    const a = parseApplicationConfig('DAEMON_ID=1\nSOCKET_TYPE=UNIXSOCKET\nPORT=1111\nUSER_KEK_HANDLE=262150\n', A);
    assert.deepEqual(a, {
      path: A, daemonId: 1, socketType: 'UNIXSOCKET', port: 1111, socketPath: '/opt/azurecloudhsm/run/azcloudhsm_client.sock',
      userKekHandle: 262150, sessionMode: 'HOST',
    });
  });

  test('our keys; comments, blank lines, CRLF and spaces around "="', () => {
    const a = parseApplicationConfig('# comment\r\n\r\nSOCKET_TYPE = tcpsocket\r\nPORT= 2000\r\nSOCKET_PATH=../sock/d.sock\r\nSESSION_MODE=application\r\n', A);
    assert.equal(a.socketType, 'TCPSOCKET');
    assert.equal(a.port, 2000);
    assert.equal(a.socketPath, resolve('/opt/azurecloudhsm/sock/d.sock'));
    assert.equal(a.sessionMode, 'APPLICATION');
    assert.equal(a.userKekHandle, undefined);
  });

  test('unknown keys warn, naming the line', () => {
    const w: string[] = [];
    parseApplicationConfig('DAEMON_ID=1\nFOO=bar\n', A, (x) => w.push(x));
    assert.deepEqual(w, [`${A}:2: unknown key "FOO" (ignored); known keys: DAEMON_ID, SOCKET_TYPE, PORT, SOCKET_PATH, USER_KEK_HANDLE, SESSION_MODE`]);
  });

  const bad: [string, string, string][] = [
    ['no "="', 'DAEMON_ID=1\nSOCKET_TYPE\n', `${A}:2: expected KEY=VALUE, got "SOCKET_TYPE"`],
    ['empty value', 'PORT=\n', `${A}:1: PORT has no value`],
    ['twice', 'PORT=1\n\nPORT=2\n', `${A}:3: PORT is already set on line 1`],
    ['DAEMON_ID not a number', 'DAEMON_ID=one\n', `${A}:1: DAEMON_ID must be a whole number from 0 to 2147483647 (got "one")`],
    ['SOCKET_TYPE unknown', 'SOCKET_TYPE=PIPE\n', `${A}:1: SOCKET_TYPE must be UNIXSOCKET or TCPSOCKET (got "PIPE")`],
    ['PORT 0', 'PORT=0\n', `${A}:1: PORT must be a TCP port from 1 to 65535 (got "0")`],
    ['PORT too big', 'PORT=70000\n', `${A}:1: PORT must be a TCP port from 1 to 65535 (got "70000")`],
    ['PORT negative', 'PORT=-5\n', `${A}:1: PORT must be a TCP port from 1 to 65535 (got "-5")`],
    ['USER_KEK_HANDLE not a handle', 'USER_KEK_HANDLE=0x40006\n', `${A}:1: USER_KEK_HANDLE must be a key handle, a whole number such as 262150 (got "0x40006")`],
    ['SESSION_MODE unknown', 'SESSION_MODE=USER\n', `${A}:1: SESSION_MODE must be HOST or APPLICATION (got "USER")`],
    ['SOCKET_PATH too long', `SOCKET_PATH=/${'x'.repeat(120)}\n`, `${A}:1: SOCKET_PATH "/${'x'.repeat(56)}..." is longer than 107 bytes, the limit for a Unix socket path`],
  ];
  for (const [name, text, message] of bad) test(`refused: ${name}`, () => fails(() => parseApplicationConfig(text, A), message));
});

describe('azcloudhsm_client.cfg', () => {
  test('defaults: cert dir beside bin, 3 attempts, 50 ms backoff, 10 s deadline, 1 s health checks', () => {
    assert.deepEqual(defaultClientConfig('/opt/azurecloudhsm/bin'), {
      path: undefined, certDir: '/opt/azurecloudhsm/cert', connectTimeoutMs: 5000, requestTimeoutMs: 30_000, healthIntervalMs: 1000, healthTimeoutMs: 2000,
      retry: { attempts: 3, backoffMs: 50, deadlineMs: 10_000 }, logLevel: 'info', routing: 'pack', packInFlight: 32,
    });
  });

  test('every key', () => {
    const c = parseClientConfig(JSON.stringify({
      cert_dir: '../certs', connect_timeout_ms: 100, request_timeout_ms: 200, health_interval_ms: 300, health_timeout_ms: 400,
      retry: { attempts: 5, backoff_ms: 0, deadline_ms: 600 }, log_level: 'debug', routing: 'spread', pack_in_flight: 8,
    }), C, '/opt/azurecloudhsm/bin');
    assert.deepEqual(c, {
      path: C, certDir: '/opt/azurecloudhsm/certs', connectTimeoutMs: 100, requestTimeoutMs: 200, healthIntervalMs: 300, healthTimeoutMs: 400,
      retry: { attempts: 5, backoffMs: 0, deadlineMs: 600 }, logLevel: 'debug', routing: 'spread', packInFlight: 8,
    });
  });

  test('unknown keys warn', () => {
    const w: string[] = [];
    parseClientConfig('{"ssl_cert":"x","retry":{"jitter":true}}', C, '/b', (x) => w.push(x));
    assert.deepEqual(w, [`${C}: unknown key "ssl_cert" (ignored)`, `${C}: unknown key "retry.jitter" (ignored)`]);
  });

  const bad: [string, string, string | RegExp][] = [
    ['bad JSON', '{cert_dir: 1}', new RegExp(`^${C}: not valid JSON`)],
    ['not an object', '"x"', `${C}: must be a JSON object such as {"cert_dir": "/opt/azurecloudhsm/cert"}`],
    ['cert_dir not a string', '{"cert_dir": 5}', `${C}: cert_dir must be a directory path (got 5)`],
    ['timeout zero', '{"connect_timeout_ms": 0}', `${C}: connect_timeout_ms must be a whole number from 1 to 600000 (got 0)`],
    ['timeout as text', '{"request_timeout_ms": "5s"}', `${C}: request_timeout_ms must be a whole number from 1 to 3600000 (got "5s")`],
    ['retry not an object', '{"retry": 3}', `${C}: retry must be an object such as {"attempts": 3, "backoff_ms": 50, "deadline_ms": 10000}`],
    ['retry.attempts zero', '{"retry": {"attempts": 0}}', `${C}: retry.attempts must be a whole number from 1 to 100 (got 0)`],
    ['retry.deadline_ms negative', '{"retry": {"deadline_ms": -1}}', `${C}: retry.deadline_ms must be a whole number from 1 to 3600000 (got -1)`],
    ['log level', '{"log_level": "trace"}', `${C}: log_level must be one of debug, info, warn, error (got "trace")`],
    ['routing', '{"routing": "round-robin"}', `${C}: routing must be one of pack, spread (got "round-robin")`],
    ['pack_in_flight zero', '{"pack_in_flight": 0}', `${C}: pack_in_flight must be a whole number from 1 to 100000 (got 0)`],
  ];
  for (const [name, text, message] of bad) test(`refused: ${name}`, () => fails(() => parseClientConfig(text, C, '/b'), message));
});

describe('the three files together', () => {
  test('application and client cfg are read beside the resource cfg; both may be absent', () => {
    const root = mkdtempSync(join(tmpdir(), 'ochsm-cfg-'));
    try {
      const bin = join(root, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'azcloudhsm_resource.cfg'), '{"servers":[{"hostname":"hsm1"}]}');
      let d = loadDaemonConfig(join(bin, 'azcloudhsm_resource.cfg'));
      assert.equal(d.application.path, undefined);
      assert.equal(d.application.socketPath, join(root, 'run', 'azcloudhsm_client.sock'));
      assert.equal(d.client.certDir, join(root, 'cert'));
      assert.match(d.warnings[0]!, /azcloudhsm_application.cfg: not found; using the defaults/);
      writeFileSync(join(bin, 'azcloudhsm_application.cfg'), 'SESSION_MODE=APPLICATION\n');
      writeFileSync(join(bin, 'azcloudhsm_client.cfg'), '{"cert_dir":"/etc/hsm/cert"}');
      d = loadDaemonConfig(join(bin, 'azcloudhsm_resource.cfg'));
      assert.equal(d.application.sessionMode, 'APPLICATION');
      assert.equal(d.client.certDir, '/etc/hsm/cert');
      assert.deepEqual(d.warnings, []);
      writeFileSync(join(bin, 'azcloudhsm_client.cfg'), '{"retry":{"attempts":"3"}}');
      fails(() => loadDaemonConfig(join(bin, 'azcloudhsm_resource.cfg')), `${join(bin, 'azcloudhsm_client.cfg')}: retry.attempts must be a whole number from 1 to 100 (got "3")`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
