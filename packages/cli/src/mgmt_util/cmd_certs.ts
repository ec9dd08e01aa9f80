/**
 * @module Claiming commands of the server scope (the Azure Cloud HSM guides):
 * getCertReq (the partition CSR to a file), storeCert (PO.crt to slot 4,
 * POAC.crt to slot 8 — then the node logs the session out and E2E is
 * enabled), getCert (a stored certificate back to a file).
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { UsageError, integer, type Command } from './types.js';

/** Write a public file (CSR, certificate), mode 0644 even when it existed. */
function writePublic(path: string, data: Uint8Array): void {
  writeFileSync(path, data, { mode: 0o644 });
  chmodSync(path, 0o644);
}

function fileError(what: string, path: string, e: unknown): Error {
  return new Error(`cannot ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
}

const getCertReq: Command = {
  name: 'getCertReq',
  scope: 'server',
  help: 'Get the partition certificate signing request (CSR) into a file',
  syntax: 'getCertReq <file name>',
  details: ['e.g. getCertReq ../cert/P1.csr; no login is needed'],
  args: [1, 1],
  run: (s, a) => s.each('getCertReq', async (srv) => {
    const { csr } = await s.req(srv, 'getCertReq', {});
    try {
      writePublic(a[0]!, csr);
    } catch (e) {
      throw fileError('write', a[0]!, e);
    }
  }, { limited: true }),
};

const SLOTS: Record<number, string> = { 4: 'PO.crt (PARTITION_OWNER_CERT)', 8: 'POAC.crt (PARTITION_CERT_ISSUED_BY_PO)' };

const storeCert: Command = {
  name: 'storeCert',
  scope: 'server',
  help: 'Store the partition owner certificate (4) or the partition certificate signed by it (8)',
  syntax: 'storeCert <file name> <cert type>',
  details: ['cert type: 4 = PO.crt (PARTITION_OWNER_CERT), 8 = POAC.crt (PARTITION_CERT_ISSUED_BY_PO)', 'Needs the PRECO to be logged in. PO.crt cannot be changed once stored.'],
  args: [2, 2],
  validate(a) {
    const slot = integer(a[1]!, 'cert type');
    if (!(slot in SLOTS)) throw new UsageError(`Invalid cert type ${slot}: 4 (PO.crt) or 8 (POAC.crt)`);
  },
  async run(s, a) {
    const slot = integer(a[1]!, 'cert type');
    if (!(slot in SLOTS)) throw new UsageError(`Invalid cert type ${slot}: 4 (PO.crt) or 8 (POAC.crt)`);
    return s.each('storeCert', async (srv) => {
      let cert: Buffer;
      try {
        cert = readFileSync(a[0]!);
      } catch (e) {
        throw fileError('read', a[0]!, e);
      }
      await s.req(srv, 'storeCert', { slot, cert });
    }, {
      limited: true,
      afterSuccess: async (srv) => {
        if (slot !== 8) return;
        /* The node has logged this session out and now presents [POAC, PO]. */
        s.out('logging out');
        await s.upgradeToE2E(srv);
      },
    });
  },
};

const getCert: Command = {
  name: 'getCert',
  scope: 'server',
  help: 'Get a certificate stored on the partition into a file',
  syntax: 'getCert <file name> <cert type>',
  details: ['cert type: 4 = PO.crt, 8 = POAC.crt'],
  args: [2, 2],
  validate: (a) => void integer(a[1]!, 'cert type'),
  run: (s, a) => s.each('getCert', async (srv) => {
    const { cert } = await s.req(srv, 'getCert', { slot: integer(a[1]!, 'cert type') });
    try {
      writePublic(a[0]!, cert);
    } catch (e) {
      throw fileError('write', a[0]!, e);
    }
  }, { limited: true }),
};

export const CERT_COMMANDS: readonly Command[] = [getCertReq, storeCert, getCert];
