/**
 * @module Which `azcloudhsm_application.cfg` a client reads: the one lookup order
 * of docs/config-format.md "Lookup" and its "not found" message, shared by the
 * SDK and the CLIs (C: native/common/src/appcfg.c, Java: AppConfig.java follow
 * the same rule; test-vectors/cfg/lookup.json holds all of them to it).
 *
 * The rule is pure: what exists at a path is asked through `kind`, so it runs
 * the same over the file system (`fsPathKind`) and over a vector's table.
 */
import { statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { APPLICATION_CFG, ENV_APPLICATION_CFG } from './appcfg.js';

/** The product's own folder, tried last (services whose working directory is `/`). */
export const APPCFG_PRODUCT_DIR = '/opt/azurecloudhsm/bin';

/** The places, in order, as the "not found" message names them. */
export const APPCFG_PLACES = ['working directory', "executable's folder", `$${ENV_APPLICATION_CFG}`, "the product's folder"] as const;
export type AppcfgPlace = (typeof APPCFG_PLACES)[number];

/** What is at a path: a file, a folder, nothing, or an error other than "missing" (its text). */
export type PathKind = 'file' | 'dir' | 'missing' | { readonly error: string };

export interface AppcfgLookupInput {
  /** The working directory (absolute); undefined when unknown. */
  readonly cwd?: string | undefined;
  /** The executable's folder (C: /proc/self/exe; Java: the provider jar's; Node: the main script's). */
  readonly exeDir?: string | undefined;
  /** The value of AZCLOUDHSM_APPLICATION_CFG: a file, or a folder holding the file; relative to the working directory. */
  readonly env?: string | undefined;
  /** The product's folder (APPCFG_PRODUCT_DIR unless a test roots it elsewhere). */
  readonly productDir?: string;
}

export type AppcfgLookup =
  | { readonly found: string; readonly place: AppcfgPlace }
  | { readonly found?: undefined; readonly message: string; readonly tried: readonly string[] };

/**
 * The first of the four places where something exists is the answer (a file
 * there that is invalid or not trusted is the caller's error: no fall-through).
 * When none exists, the message lists each place: its path and name, "unknown"
 * or "not set" when the place has no path, "the same path" for a repeat.
 */
export function lookupApplicationConfig(input: AppcfgLookupInput, kind: (path: string) => PathKind): AppcfgLookup {
  const cwd = input.cwd !== undefined && input.cwd !== '' ? input.cwd : undefined;
  const base = cwd !== undefined && isAbsolute(cwd) ? cwd : '/';
  let envPath: string | undefined;
  if (input.env !== undefined && input.env !== '') {
    envPath = resolve(base, input.env);
    if (kind(envPath) === 'dir') envPath = join(envPath, APPLICATION_CFG);
  }
  const cand: (string | undefined)[] = [
    cwd !== undefined ? resolve(cwd, APPLICATION_CFG) : undefined,
    input.exeDir !== undefined && input.exeDir !== '' ? resolve(base, input.exeDir, APPLICATION_CFG) : undefined,
    envPath,
    join(input.productDir ?? APPCFG_PRODUCT_DIR, APPLICATION_CFG),
  ];
  const tried: string[] = [];
  for (let i = 0; i < APPCFG_PLACES.length; i++) {
    const what = APPCFG_PLACES[i]!;
    const p = cand[i];
    if (p === undefined) {
      tried.push(`${what} ${i === 2 ? 'not set' : 'unknown'}`);
      continue;
    }
    if (cand.slice(0, i).includes(p)) {
      tried.push(`${what}: the same path`);
      continue;
    }
    const k = kind(p);
    if (k === 'file' || k === 'dir') return { found: p, place: what };
    tried.push(k === 'missing' ? `${p} (${what})` : `${p} (${what}: ${k.error})`);
  }
  return { message: appcfgNotFoundMessage(tried), tried };
}

/** The one "not found" message (C, Java, the SDK and the CLIs give it word for word). */
export function appcfgNotFoundMessage(tried: readonly string[]): string {
  return `${APPLICATION_CFG} is not present (Cannot find file). Tried: ${tried.join('; ')}. Put it in ${APPCFG_PRODUCT_DIR} or next to the application, or set ${ENV_APPLICATION_CFG} to its path`;
}

/** What the file system has at `path` (stat follows links, as C's stat() and Java's Files.exists do). */
export function fsPathKind(path: string): PathKind {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'file';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    return { error: code === 'EACCES' ? 'Permission denied' : (e as Error).message };
  }
}
