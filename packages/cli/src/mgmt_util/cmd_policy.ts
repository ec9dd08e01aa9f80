/**
 * @module Partition policy commands: getPolicy and setPolicy (names from the
 * real tool's inventory, the Azure Cloud HSM guides; the guides do not show
 * their syntax, so OpenCloudHSM's is `setPolicy <name> <0|1>`). The one
 * policy is DEFAULT_WRAP_WITH_TRUSTED (protocol/src/policies.ts).
 * The policy lives in the partition record of the shared store: setPolicy
 * sends one request id to every server, so the first makes the change and
 * the others confirm it.
 */
import { randomUUID } from 'node:crypto';
import { POLICY_ROWS } from '../../../protocol/src/policies.js';
import { UsageError, type Command } from './types.js';

const NAMES = POLICY_ROWS.map((r) => r.name);

function policyName(arg: string): string {
  const n = arg.toUpperCase();
  if (!NAMES.includes(n)) throw new UsageError(`Invalid policy '${arg}': expected ${NAMES.join(', ')}`);
  return n;
}

function zeroOne(arg: string): number {
  if (arg !== '0' && arg !== '1') throw new UsageError(`Invalid policy value '${arg}': expected 0 or 1`);
  return Number(arg);
}

const getPolicy: Command = {
  name: 'getPolicy',
  scope: 'both',
  help: 'Show the partition policies and their values',
  syntax: 'getPolicy',
  details: POLICY_ROWS.map((r) => `${r.name} (default ${r.default}): ${r.says}`),
  args: [0, 0],
  run: (s) => s.each('getPolicy', async (srv) => {
    const { policies, profile } = await s.req(srv, 'getPolicy', {});
    s.out(`Partition policies on ${s.label(srv)}:`);
    for (const p of policies) s.out(`\t${p.name.padEnd(28)}${p.value}`);
    /* The profile is chosen at initialisation and never set here (docs/pkcs11.md "Profiles"). */
    if (profile !== undefined) s.out(`\t${'PROFILE'.padEnd(28)}${profile}`);
  }),
};

const setPolicy: Command = {
  name: 'setPolicy',
  scope: 'both',
  help: 'Set a partition policy (CO only), e.g. DEFAULT_WRAP_WITH_TRUSTED 1',
  syntax: 'setPolicy <policy name> <0|1>',
  details: POLICY_ROWS.map((r) => `${r.name} (default ${r.default}): ${r.says}`),
  args: [2, 2],
  caution: true,
  validate: (a) => { policyName(a[0]!); zeroOne(a[1]!); },
  async run(s, a) {
    const name = policyName(a[0]!);
    const value = zeroOne(a[1]!);
    const requestId = `mgmt-setPolicy-${randomUUID()}`;
    return s.each('setPolicy', async (srv) => {
      await s.req(srv, 'setPolicy', { name, value, requestId });
    });
  },
};

export const POLICY_COMMANDS: readonly Command[] = [getPolicy, setPolicy];
