/**
 * Load and waits for fault tests that go through the daemon: signing loops on
 * many application connections that count what succeeded and keep every
 * failure, and bounded waits for the daemon to report a node in a state or
 * every node up.
 */
import assert from 'node:assert/strict';
import type { ProtocolClient } from '../../protocol/src/connection.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the daemon reports node `id` in `state` ('up', 'down' …); fails after `ms`. */
export async function waitNodeState(admin: ProtocolClient, id: number, state: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const st = await admin.request('status', {}, { timeoutMs: Math.max(1000, deadline - Date.now()) });
    if (st.nodes?.find((n) => n.id === id)?.state === state) return;
    if (Date.now() > deadline) assert.fail(`node ${id} not ${state} in the daemon within ${ms} ms: ${JSON.stringify(st.nodes)}`);
    await sleep(100);
  }
}

/** Wait until the daemon reports `count` nodes up (and, with `signedIn`, its sign-in done); fails after `ms`. */
export async function waitNodesUp(admin: ProtocolClient, count: number, ms: number, opts: { signedIn?: boolean } = {}): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const st = await admin.request('status', {}, { timeoutMs: Math.max(1000, deadline - Date.now()) });
    if ((st.nodes ?? []).filter((n) => n.state === 'up').length === count && (!opts.signedIn || st.loggedIn)) return;
    if (Date.now() > deadline) assert.fail(`${count} nodes not up${opts.signedIn ? ' and signed in' : ''} in the daemon within ${ms} ms: ${JSON.stringify(st.nodes)}`);
    await sleep(100);
  }
}

export interface Load {
  /** Operations that succeeded so far. */
  readonly ok: number;
  /** Every failure, as `<code> <message>`. */
  readonly failures: readonly string[];
  /** End the loops (each finishes its operation in flight). */
  stop(): Promise<void>;
}

/** One loop per client, each running `op` back to back until stopped. */
export function runLoad(clients: readonly ProtocolClient[], op: (c: ProtocolClient) => Promise<unknown>): Load {
  let ok = 0;
  let stopped = false;
  const failures: string[] = [];
  const loops = clients.map(async (c) => {
    while (!stopped) {
      try {
        await op(c);
        ok++;
      } catch (e) {
        failures.push(e instanceof Error ? `${(e as { code?: string }).code ?? ''} ${e.message}` : String(e));
      }
    }
  });
  return {
    get ok() {
      return ok;
    },
    failures,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
