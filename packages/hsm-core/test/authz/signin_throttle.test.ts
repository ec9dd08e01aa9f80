/** The per-source sign-in delay as data, with a clock the test moves. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsmError } from '../../../protocol/src/errors.js';
import { SIGN_IN_DELAY, SignInThrottle, delayAfter } from '../../src/authz/signin_throttle.js';

test('the step doubles from baseMs and stops at maxMs', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 40].map((n) => delayAfter(n)), [0, 100, 200, 400, 800, 1600, 3200, 6400, 8000, 8000]);
});

test('a burst from one source: four slots, then ERR_LIMIT without a check; another source is not delayed', () => {
  let now = 1000;
  const t = new SignInThrottle(() => now);
  const waits: number[] = [];
  let refused = 0;
  for (let i = 0; i < 20; i++) {
    try {
      waits.push(t.begin('10.0.0.1').waitMs);
    } catch (e) {
      assert.ok(e instanceof HsmError && e.code === 'ERR_LIMIT' && /not checked/.test(e.message));
      refused++;
    }
  }
  assert.deepEqual(waits, [0, 100, 300, 700]);
  assert.equal(refused, 16);
  assert.equal(t.begin('10.0.0.2').waitMs, 0, 'another source waits nothing');
});

test('in turn: each failure makes the next wait longer; a success clears it; a quiet source is forgotten', () => {
  let now = 0;
  const t = new SignInThrottle(() => now);
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    const s = t.begin('a');
    seen.push(s.waitMs);
    now += s.waitMs + 50;
    s.done(false);
  }
  assert.deepEqual(seen, [0, 50, 150, 350]);
  const s = t.begin('a');
  assert.equal(s.waitMs, 750);
  now += s.waitMs;
  s.done(true);
  assert.equal(t.begin('a').waitMs, 0, 'a success clears the count');
  const u = new SignInThrottle(() => now);
  for (let i = 0; i < 3; i++) { const x = u.begin('b'); now += x.waitMs; x.done(false); }
  now += SIGN_IN_DELAY.forgetMs + 1;
  assert.equal(u.begin('b').waitMs, 0);
});

test('memory is bounded: past maxSources the least recently seen source is forgotten', () => {
  const t = new SignInThrottle(() => 0, { ...SIGN_IN_DELAY, maxSources: 100 });
  for (let i = 0; i < 1000; i++) t.begin(`s${i}`).done(false);
  assert.equal(t.size, 100);
});
