/**
 * The one retry policy (src/retry.ts): the backoff doubles and stays in [d/2, d], the limits refuse
 * what the daemon's cfg and the SDK's options must refuse, and both defaults are within them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAEMON_RETRY, MODULE_RECONNECT, RETRY_LIMITS, SDK_RETRY, retryDelay, retryPolicyProblem } from '../src/retry.js';

test('retryDelay doubles per retry and is drawn from [d/2, d]', () => {
  const p = { attempts: 5, backoffMs: 200, deadlineMs: 15_000 };
  for (let n = 1; n <= 4; n++) {
    const d = 200 * 2 ** (n - 1);
    assert.equal(retryDelay(p, n, () => 0), d / 2);
    assert.equal(retryDelay(p, n, () => 1), d);
    const r = retryDelay(p, n);
    assert.ok(r >= d / 2 && r <= d, `retry ${n}: ${r}`);
  }
  assert.ok(Number.isFinite(retryDelay(p, 1000, () => 1)), 'a huge retry count does not overflow');
});

test('maxBackoffMs stops the doubling, and the jitter stays below it', () => {
  const p = { attempts: 10, backoffMs: 20, deadlineMs: 10_000, maxBackoffMs: 250 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 9].map((n) => retryDelay(p, n, () => 1)), [20, 40, 80, 160, 250, 250, 250]);
  assert.deepEqual([1, 5, 9].map((n) => retryDelay(p, n, () => 0)), [10, 125, 125]);
});

test('every default is inside the limits', () => {
  assert.equal(retryPolicyProblem(DAEMON_RETRY), undefined);
  assert.equal(retryPolicyProblem(SDK_RETRY), undefined);
  assert.equal(retryPolicyProblem(MODULE_RECONNECT), undefined);
  assert.equal(retryPolicyProblem({ ...MODULE_RECONNECT, maxBackoffMs: 0 }), 'retry.maxBackoffMs must be a whole number from 1 to 60000 (got 0)');
});

test('each field out of its limits is named', () => {
  const ok = { attempts: 3, backoffMs: 50, deadlineMs: 1000 };
  assert.equal(retryPolicyProblem({ ...ok, attempts: 0 }), 'retry.attempts must be a whole number from 1 to 100 (got 0)');
  assert.equal(retryPolicyProblem({ ...ok, attempts: 101 }), 'retry.attempts must be a whole number from 1 to 100 (got 101)');
  assert.equal(retryPolicyProblem({ ...ok, backoffMs: -1 }), 'retry.backoffMs must be a whole number from 0 to 60000 (got -1)');
  assert.equal(retryPolicyProblem({ ...ok, backoffMs: 1.5 }), 'retry.backoffMs must be a whole number from 0 to 60000 (got 1.5)');
  assert.equal(retryPolicyProblem({ ...ok, deadlineMs: 0 }), `retry.deadlineMs must be a whole number from ${RETRY_LIMITS.deadlineMs.min} to 3600000 (got 0)`);
  assert.equal(retryPolicyProblem({ ...ok, deadlineMs: Number.NaN }), 'retry.deadlineMs must be a whole number from 1 to 3600000 (got NaN)');
});
