/**
 * @module Configuration & Admin and Certificate Setup commands: loginHSM,
 * logoutHSM, loginStatus, getHSMInfo, getPartitionInfo, listUsers, getCert.
 */
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { HsmError } from '../../../protocol/src/errors.js';
import { need, str } from './args.js';
import { passwordFromEnvironment } from '../common/password.js';
import type { UtilSession } from './session.js';
import { ApiFailure, LocalError, UsageError, type UtilCommand } from './types.js';

/** azcloudhsm_util works with partition crypto-user credentials (the Azure Cloud HSM onboarding guide). */
const LOGIN_TYPES = ['CU'] as const;

const loginHSM: UtilCommand = {
  name: 'loginHSM',
  category: 'Configuration & Admin',
  help: 'Login to the HSM (all nodes of the cluster) as a crypto user',
  syntax: 'loginHSM -u <user type> -s <user name> -p <password>',
  details: [
    '-u  user type: CU (azcloudhsm_util runs crypto-user operations only; a CO uses azcloudhsm_mgmt_util)',
    '-s  user name, e.g. cu1',
    '-p  password; when left out: $AZCLOUDHSM_PASSWORD, else the first line of the file',
    '    $AZCLOUDHSM_PASSWORD_FILE (owner-only), else a prompt on the terminal without echo',
    'The client daemon signs the whole host in: other applications on this host inherit the sign-in,',
    'and a different user cannot sign in until this one signs out (logoutHSM).',
  ],
  opts: { '-u': 'value', '-s': 'value', '-p': 'value' },
  required: ['-u', '-s'],
  secret: ['-p'],
  async run(s, o) {
    const type = need(o, '-u').toUpperCase();
    if (!(LOGIN_TYPES as readonly string[]).includes(type)) {
      throw new UsageError(`Invalid user type '${need(o, '-u')}': azcloudhsm_util signs in crypto users (CU) only; a CO signs in with azcloudhsm_mgmt_util`);
    }
    await s.req('Cfm3LoginHSM', 'login', { user: need(o, '-s'), password: str(o, '-p') ?? passwordFromEnvironment(), role: type });
    s.ok('Cfm3LoginHSM');
    await s.clusterStatus();
    return true;
  },
};

const logoutHSM: UtilCommand = {
  name: 'logoutHSM',
  category: 'Configuration & Admin',
  help: 'Logout from the HSM (all nodes; the host-wide sign-in ends)',
  syntax: 'logoutHSM',
  async run(s) {
    await s.req('Cfm3LogoutHSM', 'logout', {});
    s.ok('Cfm3LogoutHSM');
    await s.clusterStatus();
    return true;
  },
};

const loginStatus: UtilCommand = {
  name: 'loginStatus',
  category: 'Configuration & Admin',
  help: 'Show whether this host is signed in, and as whom',
  syntax: 'loginStatus',
  async run(s) {
    const r = await s.req('Cfm3LoginStatus', 'loginStatus', {});
    s.ok('Cfm3LoginStatus');
    s.para(r.loggedIn ? `Login Status: logged in as user ${r.user ?? '?'} (${r.role ?? '?'})` : 'Login Status: not logged in');
    return true;
  },
};

/** `HSM:<serial>:PARTN:<n>, for non-FIPS mode` from the partition certificate (slot 8, POAC). */
async function partitionIdentity(s: UtilSession): Promise<{ serial: string; partition: string } | undefined> {
  try {
    const { cert } = await s.req('Cfm3GetCert', 'getCert', { slot: 8 });
    const cn = /CN=([^\n]*)/.exec(new X509Certificate(Buffer.from(cert)).subject)?.[1] ?? '';
    const m = /HSM:([0-9A-Fa-f]+):PARTN:(\d+)/.exec(cn);
    return m ? { serial: m[1]!, partition: `PARTN:${m[2]}` } : undefined;
  } catch {
    return undefined;
  }
}

const getHSMInfo: UtilCommand = {
  name: 'getHSMInfo',
  category: 'Configuration & Admin',
  help: 'Gets the HSM information',
  syntax: 'getHSMInfo',
  async run(s) {
    const st = await s.req('Cfm3GetHSMInfo', 'status', {});
    const id = await partitionIdentity(s);
    const nodes = (st.nodes ?? []).filter((n) => n.id > 0).sort((a, b) => a.id - b.id);
    s.ok('Cfm3GetHSMInfo');
    s.para(
      `Label                : OpenCloudHSM`,
      `Model                : OpenCloudHSM software HSM (client daemon ${st.version})`,
      `Serial Number        : ${id?.serial ?? 'unknown'}`,
      `Firmware Version     : ${st.version}`,
      `Partition State      : ${st.partitionState ?? 'unknown'}`,
      `Nodes                : ${nodes.length} (${nodes.filter((n) => n.state === 'up').length} up)`,
      ...nodes.map((n) => `  Node id ${n.id}          : ${n.hostname}:${n.port} ${n.state}`),
      `Daemon Uptime        : ${st.uptime} seconds`,
      `FIPS State           : 0 [no algorithm restriction]`,
    );
    await s.clusterStatus();
    return true;
  },
};

const getPartitionInfo: UtilCommand = {
  name: 'getPartitionInfo',
  category: 'Configuration & Admin',
  help: 'Gets the partition information',
  syntax: 'getPartitionInfo',
  async run(s) {
    const st = await s.req('Cfm3GetPartitionInfo', 'status', {});
    const id = await partitionIdentity(s);
    const stored = async (slot: number) => {
      try {
        await s.req('Cfm3GetPartitionInfo', 'getCert', { slot });
        return 'stored';
      } catch {
        return 'not stored';
      }
    };
    let users = 'unknown (sign in to count them)';
    try {
      users = String((await s.req('Cfm3GetPartitionInfo', 'listUsers', {})).users.length);
    } catch {
      /* listing users needs a sign-in */
    }
    s.ok('Cfm3GetPartitionInfo');
    s.para(
      `Partition Name       : ${id?.partition ?? 'unknown'}`,
      `HSM Serial Number    : ${id?.serial ?? 'unknown'}`,
      `Partition State      : ${st.partitionState ?? 'unknown'}`,
      `Number of Users      : ${users}`,
      `PO.crt (4)           : ${await stored(4)}`,
      `POAC.crt (8)         : ${await stored(8)}`,
      `FIPS State           : 0 [no algorithm restriction]`,
    );
    await s.clusterStatus();
    return true;
  },
};

const listUsers: UtilCommand = {
  name: 'listUsers',
  category: 'Configuration & Admin',
  help: 'Lists all users of the partition',
  syntax: 'listUsers',
  async run(s) {
    const { users } = await s.req('Cfm3ListUsers', 'listUsers', {});
    s.ok('Cfm3ListUsers');
    s.para(`Number Of Users found ${users.length}`);
    s.out();
    s.out(`    ${'Index'.padEnd(12)}${'User ID'.padEnd(12)}${'User Type'.padEnd(16)}${'User Name'.padEnd(36)}${'MofnPubKey'.padEnd(14)}${'LoginFailureCnt'.padEnd(18)}${'2FA'.padEnd(6)}Locked`);
    users.forEach((u, i) => {
      const type = u.role === 'CO' ? 'PCO' : u.role === 'CU' ? 'CU' : u.role;
      s.out(`    ${String(i + 1).padEnd(12)}${String(u.id).padEnd(12)}${type.padEnd(16)}${u.user.padEnd(36)}${'NO'.padEnd(14)}${String(u.failures).padEnd(18)}${'NO'.padEnd(6)}${u.locked ? 'YES' : 'NO'}`);
    });
    await s.clusterStatus();
    return true;
  },
};

const CERT_TYPES: ReadonlyMap<number, string> = new Map([
  [1, 'MARC (manufacturer authentication root certificate)'],
  [2, 'MAC / HSM certificate'],
  [4, 'PO.crt (partition owner certificate)'],
  [8, 'POAC.crt (partition certificate issued by PO)'],
  [16, 'PAC (partition certificate issued by HSM)'],
]);

const getCert: UtilCommand = {
  name: 'getCert',
  category: 'Certificate Setup',
  help: 'Gets a partition certificate stored on the HSM',
  syntax: 'getCert -f <file name> -t <certificate type>',
  details: [
    '-f  file to write the certificate to',
    '-t  certificate type: 4 = PO.crt (PARTITION_OWNER_CERT), 8 = POAC.crt (PARTITION_CERT_ISSUED_BY_PO);',
    '    1 (MARC), 2 (MAC), 16 (PAC) are not stored by OpenCloudHSM',
  ],
  opts: { '-f': 'value', '-t': 'value' },
  required: ['-f', '-t'],
  async run(s, o) {
    const t = need(o, '-t');
    const slot = Number(t);
    if (!/^\d+$/.test(t) || !CERT_TYPES.has(slot)) throw new UsageError(`Invalid certificate type '${t}': expected 1, 2, 4, 8 or 16`);
    if (slot !== 4 && slot !== 8) {
      throw new ApiFailure('Cfm3GetCert', new HsmError('ERR_FUNCTION_NOT_SUPPORTED', `certificate type ${slot} (${CERT_TYPES.get(slot)}) is not stored by OpenCloudHSM; types 4 and 8 are`));
    }
    const { cert } = await s.req('Cfm3GetCert', 'getCert', { slot });
    const file = need(o, '-f');
    try {
      writeFileSync(file, cert, { mode: 0o644 });
    } catch (e) {
      throw new LocalError(`cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    s.ok('Cfm3GetCert');
    s.para(`Certificate of type ${slot} (${CERT_TYPES.get(slot)}) written to file ${file}`);
    return true;
  },
};

export const ADMIN_COMMANDS: readonly UtilCommand[] = [loginHSM, logoutHSM, loginStatus, getHSMInfo, getPartitionInfo, listUsers, getCert];

