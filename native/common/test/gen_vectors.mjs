// gen_vectors.mjs: turns the protocol test vectors (JSON) into line files
// that the C tests read without a JSON parser, and dumps the opcode table of
// packages/protocol/src/messages.ts so that test_wire.c can compare the C
// table (native/common/src/schema.c) with it.
//
//   node gen_vectors.mjs <repo root> <out dir> <compiled messages.js>
//
// Output, one record per line, fields separated by TAB:
//   frames.txt     name, hex, kind, requestId, opcode (decimal, or - if none), fields
//   malformed.txt  name, hex, code
//   ops.txt        op, name, opcode, mutating, request schema, response schema
//                  notice, name, opcode, fields schema
//   appcfg.txt     (test-vectors/cfg/application.json) first line: path, the cfg's path (utf-8 hex);
//                  then name, text (utf-8 hex), and either
//                  ok, daemonId, UNIXSOCKET|TCPSOCKET, port, socketPath (utf-8 hex), userKekHandle or -, HOST|APPLICATION
//                  or error, message (utf-8 hex)
//   lookup.txt     (test-vectors/cfg/lookup.json) name, cwd, exeDir, env (utf-8 hex, or - when absent),
//                  exist (path:file|dir entries, the path utf-8 hex, joined by ',', or -),
//                  found, path (utf-8 hex) or error, message (utf-8 hex)
//
// "fields" is the message as a flat field list built from the vector's JSON
// `object` and the schema (never from the hex), so the C decoder is checked
// against the object, as docs/protocol.md §8 asks:
//   id=u64:<decimal>  id=bytes:<hex>  id=string:<utf-8 hex>  id=bool:<0|1>
//   id=attrs:[type/hex,...]  id=u64list:[n,...]  id=record:{...}
//   id=records:[{...},...]  id=strings:[hex,...]      joined by ';'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, outDir, messagesJs] = process.argv.slice(2);
if (!root || !outDir || !messagesJs) {
  console.error('usage: node gen_vectors.mjs <repo root> <out dir> <compiled messages.js>');
  process.exit(2);
}
const { OPS, NOTICES } = await import(pathToFileURL(resolve(messagesJs)).href);

const utf8hex = (s) => Buffer.from(s, 'utf8').toString('hex');
const entries = (schema) => Object.entries(schema).sort((a, b) => a[1].id - b[1].id);
const clean = (s) => {
  if (/[\t\n\r]/.test(s)) throw new Error(`vector name or value with a tab or line break: ${JSON.stringify(s)}`);
  return s;
};

function dumpFields(schema, obj, where) {
  const out = [];
  for (const [name, spec] of entries(schema)) {
    const v = obj[name];
    if (v === undefined) {
      if (!spec.optional) throw new Error(`${where}: required field ${name} missing from the vector object`);
      continue;
    }
    const id = spec.id;
    switch (spec.type) {
      case 'u64':
        out.push(`${id}=u64:${BigInt(v)}`);
        break;
      case 'bytes':
        out.push(`${id}=bytes:${v.toLowerCase()}`);
        break;
      case 'string':
        out.push(`${id}=string:${utf8hex(v)}`);
        break;
      case 'bool':
        out.push(`${id}=bool:${v ? 1 : 0}`);
        break;
      case 'attrs':
        out.push(`${id}=attrs:[${v.map((a) => `${a.type}/${a.value.toLowerCase()}`).join(',')}]`);
        break;
      case 'u64list':
        out.push(`${id}=u64list:[${v.map((x) => BigInt(x)).join(',')}]`);
        break;
      case 'strings':
        out.push(`${id}=strings:[${v.map(utf8hex).join(',')}]`);
        break;
      case 'record':
        out.push(`${id}=record:{${dumpFields(spec.fields, v, `${where}.${name}`)}}`);
        break;
      case 'records':
        out.push(`${id}=records:[${v.map((r, i) => `{${dumpFields(spec.fields, r, `${where}.${name}[${i}]`)}}`).join(',')}]`);
        break;
      default:
        throw new Error(`${where}: unknown field type ${spec.type}`);
    }
  }
  for (const k of Object.keys(obj)) if (!(k in schema)) throw new Error(`${where}: unknown key ${k} in the vector object`);
  return out.join(';');
}

function dumpSchema(schema) {
  return entries(schema)
    .map(([name, s]) => {
      let d = `${s.id}:${name}:${s.type}${s.optional ? '?' : ''}`;
      if (s.max !== undefined) d += `<=${s.max}`;
      if (s.fields) d += `(${s.record}{${dumpSchema(s.fields)}})`;
      return d;
    })
    .join(',');
}

const frames = JSON.parse(readFileSync(join(root, 'test-vectors/protocol/frames.json'), 'utf8')).vectors;
const malformed = JSON.parse(readFileSync(join(root, 'test-vectors/protocol/malformed.json'), 'utf8')).vectors;

const frameLines = frames.map((v) => {
  let opcode = '-';
  let fields;
  if (v.kind === 3) {
    const n = NOTICES[v.op];
    if (!n) throw new Error(`${v.name}: unknown notice ${v.op}`);
    opcode = String(n.opcode);
    fields = dumpFields(n.fields, v.object, v.name);
  } else {
    const op = v.op == null ? undefined : OPS[v.op];
    if (v.op != null && !op) throw new Error(`${v.name}: unknown op ${v.op}`);
    if (op) opcode = String(op.opcode);
    if (v.kind === 1) {
      fields = dumpFields(op.request, v.object, v.name);
    } else if (v.object.error) {
      const e = v.object.error;
      fields = [`1=u64:${BigInt(e.rv)}`, `2=string:${utf8hex(e.code)}`, `3=string:${utf8hex(e.message)}`].join(';');
    } else {
      const rest = dumpFields(op.response, v.object, v.name);
      fields = rest === '' ? '1=u64:0' : `1=u64:0;${rest}`;
    }
  }
  return [clean(v.name), v.hex.toLowerCase(), v.kind, v.requestId, opcode, fields].join('\t');
});

const malformedLines = malformed.map((v) => [clean(v.name), v.hex.toLowerCase(), v.code].join('\t'));

const opLines = [
  ...Object.entries(OPS).map(([name, op]) => ['op', name, op.opcode, op.mutating ? 1 : 0, dumpSchema(op.request), dumpSchema(op.response)].join('\t')),
  ...Object.entries(NOTICES).map(([name, n]) => ['notice', name, n.opcode, dumpSchema(n.fields)].join('\t')),
];

const appcfg = JSON.parse(readFileSync(join(root, 'test-vectors', 'cfg', 'application.json'), 'utf8'));
const appcfgLines = [
  ['path', utf8hex(appcfg.path)].join('\t'),
  ...appcfg.vectors.map((v) => {
    const head = [clean(v.name), utf8hex(v.text)];
    if (v.error !== undefined) return [...head, 'error', utf8hex(v.error)].join('\t');
    const x = v.expect;
    return [...head, 'ok', x.daemonId, x.socketType, x.port, utf8hex(x.socketPath), x.userKekHandle ?? '-', x.sessionMode].join('\t');
  }),
];

const lookup = JSON.parse(readFileSync(join(root, 'test-vectors', 'cfg', 'lookup.json'), 'utf8'));
const opt = (x) => (x === undefined ? '-' : utf8hex(x));
const lookupLines = lookup.vectors.map((v) => {
  const exist = Object.entries(v.exist).map(([p, k]) => `${utf8hex(p)}:${k}`).join(',');
  const tail = v.error !== undefined ? ['error', utf8hex(v.error)] : ['found', utf8hex(v.found)];
  return [clean(v.name), opt(v.cwd), opt(v.exeDir), opt(v.env), exist === '' ? '-' : exist, ...tail].join('\t');
});

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'appcfg.txt'), appcfgLines.join('\n') + '\n');
writeFileSync(join(outDir, 'lookup.txt'), lookupLines.join('\n') + '\n');
writeFileSync(join(outDir, 'frames.txt'), frameLines.join('\n') + '\n');
writeFileSync(join(outDir, 'malformed.txt'), malformedLines.join('\n') + '\n');
writeFileSync(join(outDir, 'ops.txt'), opLines.join('\n') + '\n');
console.log(`gen_vectors: ${frameLines.length} frames, ${malformedLines.length} malformed, ${opLines.length} opcodes and notices, ${appcfgLines.length - 1} cfg vectors -> ${outDir}`);
