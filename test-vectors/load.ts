/**
 * @module Loading published test vectors from files under test-vectors/.
 *
 * Vectors are data, never pasted into test code: every test reads them here,
 * so hsm-core, SDK and C-shim tests share one copy. Sources and licences are in
 * test-vectors/README.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (works from the source tree and from dist/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'test-vectors'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('test-vectors: repository root not found');
    dir = up;
  }
}

export function vectorPath(...parts: string[]): string {
  return join(repoRoot(), 'test-vectors', ...parts);
}

export function readVectorText(...parts: string[]): string {
  return readFileSync(vectorPath(...parts), 'utf8');
}

export function readVectorJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(readVectorText(...parts)) as T;
}

/** One record of a NIST CAVP .rsp file: its fields, plus the [section] headers in force. */
export interface RspRecord {
  readonly section: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * Parse a NIST CAVP response file. `[NAME = value]` and `[NAME]` lines set the
 * section; `KEY = value` lines fill a record; a blank line ends it. Comments (#)
 * are skipped. Keys are kept as written (COUNT, KEY, IV, PLAINTEXT, ...).
 */
export function parseRsp(text: string): RspRecord[] {
  const out: RspRecord[] = [];
  let section: Record<string, string> = {};
  let fields: Record<string, string> = {};
  let sectionOpen = false;
  const flush = () => {
    if (Object.keys(fields).length > 0) out.push({ section: { ...section }, fields });
    fields = {};
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line === '') { flush(); sectionOpen = false; continue; }
    const header = /^\[(.*)\]$/.exec(line);
    if (header) {
      flush();
      if (!sectionOpen) section = {};
      sectionOpen = true;
      const [k, v] = header[1]!.split('=').map((s) => s.trim());
      section[k!] = v ?? '';
      continue;
    }
    sectionOpen = false;
    const eq = line.indexOf('=');
    if (eq < 0) { fields[line] = ''; continue; }
    fields[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  flush();
  return out;
}

export function readRsp(...parts: string[]): RspRecord[] {
  return parseRsp(readVectorText(...parts));
}

export const hex = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'hex');
