/**
 * @module Information and scope commands: getClusterInfo, getHSMInfo,
 * getPartitionInfo, info, server, exit, quit, reconnect; and the
 * OpenCloudHSM audit-log additions getAuditLog and verifyAuditLog.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { ckmName } from '../../../protocol/src/names.js';
import type { Server } from './session.js';
import { UsageError, integer, type Command } from './types.js';

/** `HSM:<serial>:PARTN:<n>, for non-FIPS mode` → its parts. */
function partitionId(srv: Server): { serial: string; partition: string } {
  const m = /^HSM:([0-9A-Fa-f]+):PARTN:(\d+)/.exec(srv.subjectCN ?? '');
  return m ? { serial: m[1]!, partition: `PARTN:${m[2]}` } : { serial: 'unknown', partition: 'unknown' };
}

const modeName = (srv: Server) => (srv.mode === 'e2e' ? 'E2E' : 'Unencrypted (limited commands mode)');

const getClusterInfo: Command = {
  name: 'getClusterInfo',
  scope: 'both',
  help: 'Show the nodes of the cluster (Node Ids are 1-based, servers 0-based)',
  syntax: 'getClusterInfo',
  args: [0, 0],
  async run(s) {
    const from = s.targets().find((t) => t.client);
    if (!from) {
      for (const t of s.targets()) s.out(`Server ${t.index} is not connected`);
      return false;
    }
    try {
      const { nodes } = await s.req(from, 'getClusterInfo', {});
      s.out(`Cluster info from ${s.label(from)}:`);
      s.out(`${'Node Id'.padEnd(16)}${'Hostname'.padEnd(49)}Port`);
      for (const n of nodes) s.out(`${String(n.id).padEnd(16)}${(n.hostname + ' ').padEnd(49)}${n.port}`);
    } catch (e) {
      s.failure('getClusterInfo', from, e);
      return false;
    }
    if (s.inCloud) for (const t of s.servers) if (!t.client) s.out(`Server ${t.index} is not connected`);
    return true;
  },
};

const getHSMInfo: Command = {
  name: 'getHSMInfo',
  scope: 'both',
  help: 'Show information about the HSM node(s)',
  syntax: 'getHSMInfo',
  args: [0, 0],
  run: (s) => s.each('getHSMInfo', async (srv) => {
    const st = await s.req(srv, 'status', {});
    const id = partitionId(srv);
    s.out(`Getting HSM Info on ${s.label(srv)}:`);
    s.out();
    s.out(`\tLabel                : OpenCloudHSM`);
    s.out(`\tModel                : OpenCloudHSM software ${st.component}`);
    s.out(`\tSerial Number        : ${id.serial}`);
    s.out(`\tNode Id              : ${srv.nodeId ?? 'unknown'}`);
    s.out(`\tFirmware Version     : ${st.version}`);
    s.out(`\tUptime               : ${st.uptime} seconds`);
    s.out(`\tPartition State      : ${st.partitionState ?? 'unknown'}`);
    s.out(`\tMode                 : ${modeName(srv)}`);
    s.out(`\tFIPS State           : 0 [no algorithm restriction]`);
    s.out();
  }, { limited: true }),
};

const getPartitionInfo: Command = {
  name: 'getPartitionInfo',
  scope: 'server',
  help: 'Show information about this partition',
  syntax: 'getPartitionInfo',
  args: [0, 0],
  run: (s) => s.each('getPartitionInfo', async (srv) => {
    const st = await s.req(srv, 'status', {});
    const { users } = await s.req(srv, 'listUsers', {});
    const stored = async (slot: number) => {
      try {
        await s.req(srv, 'getCert', { slot });
        return 'stored';
      } catch (e) {
        if (e instanceof HsmError && e.code === 'ERR_ARGUMENTS_BAD') return 'not stored';
        throw e;
      }
    };
    const id = partitionId(srv);
    s.out(`Partition Info on ${s.label(srv)}:`);
    s.out(`\tName                 : ${id.partition}`);
    s.out(`\tHSM Serial Number    : ${id.serial}`);
    s.out(`\tState                : ${st.partitionState ?? 'unknown'}`);
    s.out(`\tMode                 : ${modeName(srv)}`);
    s.out(`\tUsers                : ${users.length}`);
    s.out(`\tPO.crt (4)           : ${await stored(4)}`);
    s.out(`\tPOAC.crt (8)         : ${await stored(8)}`);
    s.out(`\tFIPS State           : 0 [no algorithm restriction]`);
  }, { limited: true }),
};

const info: Command = {
  name: 'info',
  scope: 'cloudmgmt',
  help: 'Show the state of a server connection',
  syntax: 'info server <server id>',
  args: [2, 2],
  validate(a) {
    if (a[0] !== 'server') throw new UsageError(`Unknown info topic '${a[0]}'`);
    integer(a[1]!, 'server id');
  },
  async run(s, a) {
    const srv = s.servers[integer(a[1]!, 'server id')];
    if (!srv) throw new UsageError(`Invalid server id ${a[1]}: the servers are 0 to ${s.servers.length - 1}`);
    let login = 'Not logged in';
    if (srv.client) {
      try {
        const st = await s.req(srv, 'loginStatus', {});
        if (st.loggedIn) login = `Logged in as '${st.user}(${st.role})'`;
      } catch (e) {
        login = `unknown (${s.describe(e)})`;
      }
    }
    s.out(`Id\tName\tHostname\tPort\tState\tMode\tPartition\tLoginState`);
    s.out([srv.index, `server${srv.index}`, srv.hostname, srv.port, srv.client ? 'Connected' : 'Not connected',
      srv.client ? (srv.mode === 'e2e' ? 'E2E' : 'Unencrypted') : '-', partitionId(srv).partition, login].join('\t'));
    return true;
  },
};

const server: Command = {
  name: 'server',
  scope: 'cloudmgmt',
  help: 'Enter the scope of one server: commands then go to that server only',
  syntax: 'server <server id>',
  args: [1, 1],
  validate: (a) => void integer(a[0]!, 'server id'),
  async run(s, a) {
    const id = integer(a[0]!, 'server id');
    const srv = s.servers[id];
    if (!srv) throw new UsageError(`Invalid server id ${id}: the servers are 0 to ${s.servers.length - 1}`);
    if (!srv.client) {
      s.out(`Server ${srv.index}(${srv.hostname}) is not connected`);
      return false;
    }
    s.out(srv.mode === 'e2e' ? "Server is in 'E2' mode..." : "Server is in 'Unencrypted' mode...");
    s.scope = { kind: 'server', index: id };
    return true;
  },
};

const exit: Command = {
  name: 'exit',
  scope: 'server',
  help: 'Leave this server scope (back to cloudmgmt)',
  syntax: 'exit',
  args: [0, 0],
  async run(s) {
    s.scope = { kind: 'cloudmgmt' };
    return true;
  },
};

/** quit is handled by the loop (it ends the session); this entry carries its help. */
export const QUIT = 'quit';
const quit: Command = {
  name: QUIT,
  scope: 'cloudmgmt',
  help: 'Quit azcloudhsm_mgmt_util',
  syntax: 'quit',
  args: [0, 0],
  run: async () => true,
};

const reconnect: Command = {
  name: 'reconnect',
  scope: 'server',
  help: 'Reconnect to this server (e.g. after PO.crt was placed in the cert directory)',
  syntax: 'reconnect',
  args: [0, 0],
  async run(s) {
    return s.reconnect(s.current!);
  },
};

const getAuditLog: Command = {
  name: 'getAuditLog',
  scope: 'both',
  addition: true,
  help: '(OpenCloudHSM) Show audit-log records, needs a CO',
  syntax: 'getAuditLog [<from seq> [<count>]]',
  details: [
    'Without arguments: the last 50 records of each chain. count: at most 5000.',
    'Two chains per server: the cluster\'s state changes (shared store) and the node\'s own key-use log.',
  ],
  args: [0, 2],
  validate(a) {
    if (a[0] !== undefined && integer(a[0], 'sequence number') < 1) throw new UsageError('Sequence numbers start at 1');
    if (a[1] !== undefined && integer(a[1], 'count') < 1) throw new UsageError('count must be at least 1');
  },
  async run(s, a) {
    const count = Math.min(a[1] !== undefined ? integer(a[1], 'count') : 50, 5000);
    return s.each('getAuditLog', async (srv) => {
      for (const chain of ['store', 'node'] as const) {
        let from = a[0] !== undefined ? integer(a[0], 'sequence number') : 0;
        let node: number | undefined;
        if (from === 0 || chain === 'node') {
          const v = await s.req(srv, 'auditVerify', { chain });
          node = v.node;
          if (from === 0) from = Math.max(1, v.records - count + 1);
        }
        const { records } = await s.req(srv, 'auditRecords', { fromSeq: from, limit: count, chain });
        s.out(chain === 'store'
          ? `Audit log on ${s.label(srv)}: ${records.length} record(s) from ${from}`
          : `Key-use log of node ${node ?? '?'} on ${s.label(srv)}: ${records.length} record(s) from ${from}`);
        for (const r of records) {
          const parts = [`#${r.seq}`, new Date(r.time).toISOString(), r.user ? `${r.user}(${r.role})` : '-', r.action, r.result];
          if (r.handles && r.handles.length > 0) parts.push(`handles=${r.handles.join(',')}`);
          if (r.mechanism !== undefined) parts.push(`mechanism=${ckmName(r.mechanism)}`);
          if (r.detail) parts.push(`detail=${JSON.stringify(r.detail)}`);
          s.out(parts.join(' '));
        }
      }
    });
  },
};

const verifyAuditLog: Command = {
  name: 'verifyAuditLog',
  scope: 'both',
  addition: true,
  help: '(OpenCloudHSM) Verify the hash chains of the audit log',
  syntax: 'verifyAuditLog',
  details: ['Verifies the cluster\'s chain of state changes and the node\'s key-use log; a break names the node and the first broken record.'],
  args: [0, 0],
  run: (s) => s.each('verifyAuditLog', async (srv) => {
    const broken: string[] = [];
    for (const chain of ['store', 'node'] as const) {
      const v = await s.req(srv, 'auditVerify', { chain });
      const what = chain === 'store' ? `Audit log on ${s.label(srv)}` : `Key-use log of node ${v.node ?? '?'} on ${s.label(srv)}`;
      if (v.ok) s.out(`${what}: intact, ${v.records} records`);
      else {
        s.out(`${what}: BROKEN at record ${v.brokenAt ?? '?'}${v.reason ? `: ${v.reason}` : ''}`);
        broken.push(chain === 'store' ? 'the store\'s chain' : `node ${v.node ?? '?'}'s key-use log`);
      }
    }
    if (broken.length > 0) throw new Error(`${broken.join(' and ')} do${broken.length === 1 ? 'es' : ''} not verify`);
  }),
};

export const INFO_COMMANDS: readonly Command[] = [getClusterInfo, getHSMInfo, getPartitionInfo, info, server, exit, quit, reconnect, getAuditLog, verifyAuditLog];
