#!/usr/bin/env node
/**
 * @module `ochsm`: the umbrella command behind `make run` and `make stop`.
 *
 * Until the cluster issue lands there is no long-running server yet: `up`
 * initialises the local partition under .ochsm/ (sealing key, SQLite store),
 * claims it the way the onboarding guide does (PRECO admin/tenantadmin →
 * CO admin/adminpassword, CU cu1/user1234), and shows it working.
 */
import { resolve } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { FACTORY_PRECO } from '../../hsm-core/src/partition.js';
import { openLocalPartition } from '../../hsm-node/src/local_partition.js';

const ROOT = resolve(process.env.OCHSM_HOME ?? '.ochsm');
export const EXAMPLE_CO = { name: 'admin', password: 'adminpassword' } as const;
export const EXAMPLE_CU = { name: 'cu1', password: 'user1234' } as const;

async function up(): Promise<void> {
  const { partition: p, store, paths } = await openLocalPartition(ROOT, { create: true });
  try {
    const users = await p.listUsers();
    if (users.some((u) => u.role === 'PRECO')) {
      const preco = await p.login(FACTORY_PRECO.name, FACTORY_PRECO.password, 'PRECO');
      await p.changePassword({ principal: preco }, 'PRECO', FACTORY_PRECO.name, EXAMPLE_CO.password);
      console.log(`claimed the partition: PRECO ${FACTORY_PRECO.name} is now CO ${EXAMPLE_CO.name}`);
    }
    if (!users.some((u) => u.name === EXAMPLE_CU.name)) {
      const co = await p.login(EXAMPLE_CO.name, EXAMPLE_CO.password, 'CO');
      await p.createUser({ principal: co }, 'CU', EXAMPLE_CU.name, EXAMPLE_CU.password);
      console.log(`created CU ${EXAMPLE_CU.name}`);
    }
    const cu = { principal: await p.login(EXAMPLE_CU.name, EXAMPLE_CU.password, 'CU') };
    const aes = await p.generateKey(cu, { mechanism: P.CKM_AES_KEY_GEN }, [
      attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true), attr.bool(P.CKA_DECRYPT, true), attr.utf8(P.CKA_LABEL, 'make-run-aes'),
    ]);
    const gcm = { mechanism: P.CKM_AES_GCM, params: { iv: await p.generateRandom(12), tagBits: 128 } };
    const ct = await p.encrypt(cu, gcm, aes, Buffer.from('hello from OpenCloudHSM'));
    const pt = await p.decrypt(cu, gcm, aes, ct);
    const ec = await p.generateKeyPair(cu, { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bool(P.CKA_VERIFY, true), attr.utf8(P.CKA_LABEL, 'make-run-ec')],
      [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true), attr.utf8(P.CKA_LABEL, 'make-run-ec')]);
    const sig = await p.sign(cu, { mechanism: P.CKM_ECDSA_SHA256 }, ec.privateHandle, Buffer.from('make run'));
    await p.verify(cu, { mechanism: P.CKM_ECDSA_SHA256 }, ec.publicHandle, Buffer.from('make run'), sig);
    const keys = await p.findObjects(cu, []);
    const audit = await p.auditVerify();
    console.log(`
OpenCloudHSM partition is initialised and working (store: ${paths.database})
  AES-256 key        handle ${aes}: AES-GCM round trip "${pt.toString()}"
  EC P-256 key pair  public ${ec.publicHandle}, private ${ec.privateHandle}: ECDSA-SHA256 signature verified
  ${EXAMPLE_CU.name} owns ${keys.length} objects; users: ${(await p.listUsers()).map((u) => `${u.name}(${u.role})`).join(', ')}
  audit chain: ${audit.ok ? `${audit.records} records, intact` : `BROKEN at record ${audit.brokenAt}`}

The example credentials (CO admin/adminpassword, CU cu1/user1234) are the guides' own:
change them for anything real. The sealing key is ${paths.sealingKey} (mode 0600): whoever
reads it and the store can read every key — a software HSM's boundary is its host.

Next: make test    (the full suite)
      make stop    (nothing stays running yet: the node servers and the client daemon
                    arrive with the cluster issue)`);
  } finally {
    await store.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? 'help';
  try {
    switch (cmd) {
      case 'up':
        await up();
        return 0;
      case 'down':
        console.log('nothing is running: this version starts no background processes');
        return 0;
      default:
        console.log('usage: ochsm up | down');
        return cmd === 'help' ? 0 : 2;
    }
  } catch (e) {
    console.error(`ochsm ${cmd}: ${e instanceof HsmError ? `${e.message} (${e.ckrName})` : e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
