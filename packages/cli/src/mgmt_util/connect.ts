/**
 * @module One TLS 1.3 connection from azcloudhsm_mgmt_util to a node, and
 * the mode it ends up in (the Azure Cloud HSM guides, FAQ §7.1 item 3):
 *
 * - PO.crt present and the node's chain [POAC, PO] verifies against it →
 *   **E2E**: the node is authenticated, every command may be sent.
 * - PO.crt present, the node presents one self-signed certificate → the node
 *   is unclaimed → **unencrypted mode** (nothing to verify yet).
 * - PO.crt present, the node presents a chain that does not verify →
 *   `Certificate ERROR: [ certificate signature failure ]`, not connected.
 * - PO.crt missing → connected unverified, **unencrypted mode**.
 *
 * An unencrypted-mode connection is unauthenticated, so the session sends over
 * it only what an unclaimed node accepts anyway (docs/cli.md, "Security").
 */
import * as tls from 'node:tls';
import { existsSync, readFileSync } from 'node:fs';
import type { X509Certificate } from 'node:crypto';
import { ProtocolClient } from '../../../protocol/src/connection.js';

export type Mode = 'e2e' | 'unencrypted';

export type ConnectResult =
  | {
    readonly kind: 'connected';
    readonly client: ProtocolClient;
    readonly mode: Mode;
    readonly serverVersion: string;
    readonly nodeId: number | undefined;
    /** CN of the certificate the node presented (`HSM:<serial>:PARTN:<n>, for non-FIPS mode`). */
    readonly subjectCN: string | undefined;
    /** PO.crt was not found, so the connection is unverified. */
    readonly poMissing: boolean;
  }
  | { readonly kind: 'cert-error'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

export const CLIENT_NAME = 'azcloudhsm_mgmt_util';

function selfSigned(c: X509Certificate): boolean {
  try {
    return c.checkIssued(c) && c.verify(c.publicKey);
  } catch {
    return false;
  }
}

function commonName(c: X509Certificate | undefined): string | undefined {
  const m = c ? /^CN=(.*)$/m.exec(c.subject) : null;
  return m ? m[1] : undefined;
}

/** Connect, classify, say hello. Never throws. */
export async function openServer(host: string, port: number, poCrtPath: string, timeoutMs = 5000): Promise<ConnectResult> {
  let ca: Buffer | undefined;
  if (existsSync(poCrtPath)) {
    try {
      ca = readFileSync(poCrtPath);
    } catch (e) {
      return { kind: 'failed', reason: `cannot read ${poCrtPath}: ${(e as Error).message}` };
    }
  }
  let socket: tls.TLSSocket;
  try {
    socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({
        host, port, minVersion: 'TLSv1.3',
        /* Verification is decided below, so that an unclaimed node can be told from a wrong chain. */
        rejectUnauthorized: false,
        ...(ca ? { ca, checkServerIdentity: () => undefined } : {}),
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no TLS handshake within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } catch (e) {
    return { kind: 'failed', reason: (e as Error).message };
  }
  const leaf = socket.getPeerX509Certificate();
  let mode: Mode;
  if (!ca) mode = 'unencrypted';
  else if (socket.authorized) mode = 'e2e';
  else if (leaf && selfSigned(leaf)) mode = 'unencrypted';
  else {
    const reason = String(socket.authorizationError ?? 'the chain does not verify against PO.crt');
    socket.destroy();
    return { kind: 'cert-error', reason };
  }
  const client = new ProtocolClient(socket, { name: `server ${host}:${port}` });
  try {
    const hello = await client.hello(CLIENT_NAME, { timeoutMs });
    const version = /\/(\S+)/.exec(hello.server)?.[1] ?? hello.server;
    return { kind: 'connected', client, mode, serverVersion: version, nodeId: hello.node, subjectCN: commonName(leaf), poMissing: !ca };
  } catch (e) {
    client.close();
    return { kind: 'failed', reason: (e as Error).message };
  }
}
