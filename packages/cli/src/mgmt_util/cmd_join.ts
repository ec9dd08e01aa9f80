/**
 * @module approveNode (an OpenCloudHSM addition): a crypto officer approves a
 * new or replaced node's join request by the fingerprint the joining node
 * printed on its console; a running node then sends it the masking key
 * wrapped for its key (docs/deployment.md §5). The servers share one store,
 * so the first server that approves it approves it for all; the others
 * confirm it (approving again changes nothing).
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { UsageError, integer, type Command } from './types.js';

const FINGERPRINT = /^[0-9a-fA-F]{4}(?:[-:]?[0-9a-fA-F]{4}){5}$/;

const approveNode: Command = {
  name: 'approveNode',
  scope: 'both',
  addition: true,
  help: '(OpenCloudHSM) Approve a new node\'s join request by its fingerprint, needs a CO',
  syntax: 'approveNode <node id> <fingerprint>',
  details: [
    'The joining node (hsm-node --join, no sealing.key) prints its node id and fingerprint on its console;',
    'compare them there. A fingerprint that does not match the request is refused and approves nothing.',
    'Once approved, a running node sends the joining node the masking key wrapped for its key, over TLS.',
  ],
  args: [2, 2],
  caution: true,
  validate(a) {
    if (integer(a[0]!, 'node id') < 1) throw new UsageError('Node ids start at 1');
    if (!FINGERPRINT.test(a[1]!)) throw new UsageError(`Invalid fingerprint '${a[1]}': expected 24 hexadecimal digits as the joining node prints them (xxxx-xxxx-xxxx-xxxx-xxxx-xxxx)`);
  },
  run: (s, a) => s.each('approveNode', async (srv) => {
    const r = await s.req(srv, 'approveNode', { node: integer(a[0]!, 'node id'), fingerprint: a[1]! });
    s.out(`Node ${a[0]} at ${r.host}:${r.port} approved on ${s.label(srv)}, fingerprint ${r.fingerprint}`);
  }, {
    /* A refused fingerprint or a missing request is the same answer on every server of one store. */
    stopOn: (e) => e instanceof HsmError && (e.code === 'ERR_ARGUMENTS_BAD' || e.code === 'ERR_NOT_PERMITTED' || e.code === 'ERR_USER_NOT_LOGGED_IN'),
  }),
};

export const JOIN_COMMANDS: readonly Command[] = [approveNode];
