/**
 * @module Which store a node uses, from the "store" member of node.json.
 *
 *   absent, or { "kind": "sqlite" }   the embedded SQLite file under <dir>/data/
 *   { "kind": "etcd",
 *     "endpoints": ["https://10.0.0.1:2379", ...],
 *     "ca": "/etc/ochsm/etcd/ca.crt",            the cluster CA (PEM)
 *     "cert": "/etc/ochsm/etcd/client.crt",      this node's client certificate
 *     "key": "/etc/ochsm/etcd/client.key",       its key (mode 0600)
 *     "user": "ochsm-node",                       etcd user (optional)
 *     "passwordFile": "/etc/ochsm/etcd/node.password",  its password (mode 0600)
 *     "namespace": "/ochsm/" }                    key prefix (optional)
 *
 * Trust boundary: a configuration file is input; every field is checked and
 * a bad one is named in the error. Secrets are named by path, never inline,
 * and files holding them must be owner-only.
 */
import { readFileSync, statSync } from 'node:fs';
import type { EtcdStoreOptions } from '../../store/src/etcd.js';

export type StoreConfig =
  | { readonly kind: 'sqlite' }
  | {
    readonly kind: 'etcd';
    readonly endpoints: readonly string[];
    readonly ca: string;
    readonly cert: string;
    readonly key: string;
    readonly user?: string;
    readonly passwordFile?: string;
    readonly namespace?: string;
  };

export function parseStoreConfig(v: unknown, where: string): StoreConfig {
  if (v === undefined) return { kind: 'sqlite' };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: "store" must be an object`);
  const o = v as Record<string, unknown>;
  if (o.kind === 'sqlite') return { kind: 'sqlite' };
  if (o.kind !== 'etcd') throw new Error(`${where}: "store.kind" must be "sqlite" or "etcd"`);
  const str = (k: string, optional = false): string | undefined => {
    const x = o[k];
    if (x === undefined && optional) return undefined;
    if (typeof x !== 'string' || x.length === 0) throw new Error(`${where}: "store.${k}" must be a non-empty string`);
    return x;
  };
  if (!Array.isArray(o.endpoints) || o.endpoints.length === 0 || !o.endpoints.every((e) => typeof e === 'string' && /^https:\/\/[^/\s]+$/.test(e))) {
    throw new Error(`${where}: "store.endpoints" must list the etcd members as https://host:port`);
  }
  const user = str('user', true);
  const passwordFile = str('passwordFile', true);
  if ((user === undefined) !== (passwordFile === undefined)) throw new Error(`${where}: "store.user" and "store.passwordFile" go together`);
  const namespace = str('namespace', true);
  return {
    kind: 'etcd', endpoints: o.endpoints as string[], ca: str('ca')!, cert: str('cert')!, key: str('key')!,
    ...(user ? { user, passwordFile: passwordFile! } : {}), ...(namespace ? { namespace } : {}),
  };
}

function readSecretFile(path: string, what: string): Buffer {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    throw new Error(`${what} ${path} is not readable: ${(e as Error).message}`);
  }
  if (mode & 0o077) throw new Error(`${what} ${path} has mode 0${(mode & 0o777).toString(8)}; it must be accessible by its owner only (chmod 600 ${path})`);
  return readFileSync(path);
}

/** The EtcdStore options a configuration names (files read and checked here). */
export function etcdOptions(c: Extract<StoreConfig, { kind: 'etcd' }>): EtcdStoreOptions {
  const read = (p: string, what: string) => {
    try {
      return readFileSync(p);
    } catch (e) {
      throw new Error(`${what} ${p} is not readable: ${(e as Error).message}`);
    }
  };
  return {
    endpoints: c.endpoints,
    ...(c.namespace ? { namespace: c.namespace } : {}),
    tls: { ca: read(c.ca, 'etcd CA'), cert: read(c.cert, 'etcd client certificate'), key: readSecretFile(c.key, 'etcd client key') },
    ...(c.user ? { auth: { username: c.user, password: readSecretFile(c.passwordFile!, 'etcd password file').toString('utf8').trim() } } : {}),
  };
}
