package org.opencloudhsm.jce;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.opencloudhsm.jce.Wire.Field;
import org.opencloudhsm.jce.Wire.WireException;

/**
 * The opcode table of docs/protocol.md §6.2. It is not written again here: the
 * build dumps OPS and NOTICES of packages/protocol/src/messages.ts (the one
 * home of the table) into the resource ops.txt inside the jar, in the format of
 * native/common/test/gen_vectors.mjs, and this class reads it. The schema checks
 * are those of fieldsToObj/objToFields in messages.ts.
 */
public final class Schema {
    public static final class FieldSpec {
        public final int id;
        public final String name;
        public final int type;
        public final boolean optional;
        public final int max; /* 0: none */
        public final String record;
        public final Schema fields;

        FieldSpec(int id, String name, int type, boolean optional, int max, String record, Schema fields) {
            this.id = id;
            this.name = name;
            this.type = type;
            this.optional = optional;
            this.max = max;
            this.record = record;
            this.fields = fields;
        }
    }

    public static final class Op {
        public final String name;
        public final int opcode;
        public final boolean mutating;
        public final Schema request, response;

        Op(String name, int opcode, boolean mutating, Schema request, Schema response) {
            this.name = name;
            this.opcode = opcode;
            this.mutating = mutating;
            this.request = request;
            this.response = response;
        }
    }

    public final List<FieldSpec> entries;
    private final Map<Integer, FieldSpec> byId = new HashMap<>();
    private final Map<String, FieldSpec> byName = new HashMap<>();

    Schema(List<FieldSpec> entries) {
        this.entries = Collections.unmodifiableList(entries);
        for (FieldSpec f : entries) {
            byId.put(f.id, f);
            byName.put(f.name, f);
        }
    }

    public FieldSpec byName(String n) {
        return byName.get(n);
    }

    /* ───────────── the table ───────────── */

    private static final Map<String, Op> OPS = new LinkedHashMap<>();
    private static final Map<Integer, Op> BY_OPCODE = new HashMap<>();
    private static final Map<String, Op> NOTICES = new LinkedHashMap<>();
    private static final Map<Integer, Op> NOTICE_BY_OPCODE = new HashMap<>();

    static {
        try (InputStream in = Schema.class.getResourceAsStream("ops.txt")) {
            if (in == null) throw new IllegalStateException("ops.txt is missing from the provider jar (built from messages.ts)");
            load(in);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read ops.txt: " + e.getMessage(), e);
        }
    }

    /** Load a table in the ops.txt format (used by the static initialiser and by tests). */
    static void load(InputStream in) throws IOException {
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        String line;
        while ((line = r.readLine()) != null) {
            if (line.isEmpty()) continue;
            String[] x = line.split("\t", -1);
            if (x[0].equals("op")) {
                Op op = new Op(x[1], Integer.parseInt(x[2]), x[3].equals("1"), parse(x[4]), parse(x[5]));
                OPS.put(op.name, op);
                BY_OPCODE.put(op.opcode, op);
            } else if (x[0].equals("notice")) {
                Op n = new Op(x[1], Integer.parseInt(x[2]), false, parse(x[3]), parse(""));
                NOTICES.put(n.name, n);
                NOTICE_BY_OPCODE.put(n.opcode, n);
            }
        }
    }

    public static Op op(String name) {
        Op op = OPS.get(name);
        if (op == null) throw new IllegalArgumentException("unknown operation " + name);
        return op;
    }

    public static Op opByOpcode(int opcode) {
        return BY_OPCODE.get(opcode);
    }

    public static Op noticeByOpcode(int opcode) {
        return NOTICE_BY_OPCODE.get(opcode);
    }

    public static Map<String, Op> ops() {
        return Collections.unmodifiableMap(OPS);
    }

    /* "1:session:u64?,2:mechanism:record(Mechanism{...}),3:types:u64list<=64" */
    static Schema parse(String s) {
        int[] pos = {0};
        Schema sc = parseList(s, pos);
        if (pos[0] != s.length()) throw new IllegalArgumentException("schema text: unexpected '" + s.charAt(pos[0]) + "' at " + pos[0]);
        return sc;
    }

    private static Schema parseList(String s, int[] pos) {
        List<FieldSpec> list = new ArrayList<>();
        while (pos[0] < s.length() && s.charAt(pos[0]) != '}') {
            list.add(parseEntry(s, pos));
            if (pos[0] < s.length() && s.charAt(pos[0]) == ',') pos[0]++;
        }
        return new Schema(list);
    }

    private static String until(String s, int[] pos, String stops) {
        int st = pos[0];
        while (pos[0] < s.length() && stops.indexOf(s.charAt(pos[0])) < 0) pos[0]++;
        return s.substring(st, pos[0]);
    }

    private static FieldSpec parseEntry(String s, int[] pos) {
        int id = Integer.parseInt(until(s, pos, ":"));
        pos[0]++;
        String name = until(s, pos, ":");
        pos[0]++;
        String type = until(s, pos, "?<(,}");
        boolean optional = false;
        int max = 0;
        String record = null;
        Schema fields = null;
        if (pos[0] < s.length() && s.charAt(pos[0]) == '?') {
            optional = true;
            pos[0]++;
        }
        if (s.startsWith("<=", pos[0])) {
            pos[0] += 2;
            max = Integer.parseInt(until(s, pos, "(,}"));
        }
        if (pos[0] < s.length() && s.charAt(pos[0]) == '(') {
            pos[0]++;
            record = until(s, pos, "{");
            pos[0]++;
            fields = parseList(s, pos);
            pos[0] += 2; /* "})" */
        }
        int t = Wire.typeOf(type);
        if (t < 0) throw new IllegalArgumentException("schema text: unknown type " + type);
        return new FieldSpec(id, name, t, optional, max, record, fields);
    }

    /** The schema in the dump format again (for the table test). */
    public String dump() {
        StringBuilder b = new StringBuilder();
        for (FieldSpec f : entries) {
            if (b.length() > 0) b.append(',');
            b.append(f.id).append(':').append(f.name).append(':').append(Wire.TYPE_NAMES[f.type]);
            if (f.optional) b.append('?');
            if (f.max != 0) b.append("<=").append(f.max);
            if (f.fields != null) b.append('(').append(f.record).append('{').append(f.fields.dump()).append("})");
        }
        return b.toString();
    }

    /* ───────────── messages ↔ fields ───────────── */

    static WireException bad(String m) {
        return new WireException("ERR_ARGUMENTS_BAD", m);
    }

    private static final long SAFE_MAX = (1L << 53) - 1;

    private static long number(long v, String what) throws WireException {
        if (v < 0 || v > SAFE_MAX) throw bad(what + " is " + Long.toUnsignedString(v) + ", above 2^53-1");
        return v;
    }

    private static void checkMax(int n, FieldSpec spec, String what) throws WireException {
        if (spec.max != 0 && n > spec.max) throw new WireException("ERR_LIMIT", what + " has " + n + " elements, more than " + spec.max);
    }

    private static String label(String where, FieldSpec s) {
        return where + ": field " + s.name + " (" + s.id + ")";
    }

    /** fieldsToObj of messages.ts: the schema's checks, in its order. */
    @SuppressWarnings("unchecked")
    public Msg toMsg(List<Field> fields, String where) throws WireException {
        Msg m = new Msg();
        for (Field f : fields) {
            FieldSpec spec = byId.get(f.id);
            if (spec == null) throw bad(where + ": unknown field " + f.id);
            String what = label(where, spec);
            if (f.type != spec.type) throw bad(what + " must be of type " + Wire.TYPE_NAMES[spec.type] + ", got " + Wire.TYPE_NAMES[f.type]);
            switch (f.type) {
                case Wire.T_U64:
                    m.put(spec.name, number((Long) f.value, what));
                    break;
                case Wire.T_U64LIST: {
                    long[] v = (long[]) f.value;
                    checkMax(v.length, spec, what);
                    for (long x : v) number(x, what + " element");
                    m.put(spec.name, v);
                    break;
                }
                case Wire.T_ATTRS:
                case Wire.T_STRINGS:
                    checkMax(((List<?>) f.value).size(), spec, what);
                    m.put(spec.name, f.value);
                    break;
                case Wire.T_RECORD:
                    m.put(spec.name, spec.fields.toMsg((List<Field>) f.value, where + "." + spec.name));
                    break;
                case Wire.T_RECORDS: {
                    List<List<Field>> recs = (List<List<Field>>) f.value;
                    checkMax(recs.size(), spec, what);
                    List<Msg> out = new ArrayList<>();
                    for (int i = 0; i < recs.size(); i++) out.add(spec.fields.toMsg(recs.get(i), where + "." + spec.name + "[" + i + "]"));
                    m.put(spec.name, out);
                    break;
                }
                default:
                    m.put(spec.name, f.value);
            }
        }
        for (FieldSpec s : entries) {
            if (!s.optional && !m.has(s.name)) throw bad(where + ": missing required field " + s.name + " (" + s.id + ")");
        }
        return m;
    }

    /** objToFields of messages.ts. */
    @SuppressWarnings("unchecked")
    public List<Field> toFields(Msg m, String where) throws WireException {
        for (String k : m.keys()) if (byName.get(k) == null) throw bad(where + ": unknown field " + k);
        List<Field> out = new ArrayList<>();
        for (FieldSpec spec : entries) {
            Object v = m.get(spec.name);
            String what = label(where, spec);
            if (v == null) {
                if (!spec.optional) throw bad(where + ": missing required field " + spec.name + " (" + spec.id + ")");
                continue;
            }
            try {
                switch (spec.type) {
                    case Wire.T_U64:
                        out.add(new Field(spec.id, Wire.T_U64, number(((Number) v).longValue(), what)));
                        break;
                    case Wire.T_BYTES:
                        out.add(new Field(spec.id, Wire.T_BYTES, (byte[]) v));
                        break;
                    case Wire.T_STRING:
                        out.add(new Field(spec.id, Wire.T_STRING, (String) v));
                        break;
                    case Wire.T_BOOL:
                        out.add(new Field(spec.id, Wire.T_BOOL, (Boolean) v));
                        break;
                    case Wire.T_ATTRS:
                        checkMax(((List<?>) v).size(), spec, what);
                        out.add(new Field(spec.id, Wire.T_ATTRS, (List<Wire.Attr>) v));
                        break;
                    case Wire.T_U64LIST: {
                        long[] a = (long[]) v;
                        checkMax(a.length, spec, what);
                        for (long x : a) number(x, what + " element");
                        out.add(new Field(spec.id, Wire.T_U64LIST, a));
                        break;
                    }
                    case Wire.T_STRINGS:
                        checkMax(((List<?>) v).size(), spec, what);
                        out.add(new Field(spec.id, Wire.T_STRINGS, (List<String>) v));
                        break;
                    case Wire.T_RECORD:
                        out.add(new Field(spec.id, Wire.T_RECORD, spec.fields.toFields((Msg) v, where + "." + spec.name)));
                        break;
                    case Wire.T_RECORDS: {
                        List<Msg> recs = (List<Msg>) v;
                        checkMax(recs.size(), spec, what);
                        List<List<Field>> l = new ArrayList<>();
                        for (int i = 0; i < recs.size(); i++) l.add(spec.fields.toFields(recs.get(i), where + "." + spec.name + "[" + i + "]"));
                        out.add(new Field(spec.id, Wire.T_RECORDS, l));
                        break;
                    }
                    default:
                        throw bad(what + ": unknown type");
                }
            } catch (ClassCastException e) {
                throw bad(what + " must be of type " + Wire.TYPE_NAMES[spec.type]);
            }
        }
        return out;
    }

    /* ───────────── whole messages ───────────── */

    /** The frame bytes of a request. */
    public static byte[] encodeRequest(String op, long requestId, Msg m) throws WireException {
        Op o = op(op);
        return Wire.encodeFrame(Wire.KIND_REQUEST, requestId, o.opcode, Wire.encodeBody(o.request.toFields(m, op + " request")));
    }

    /** A request frame checked as a server would (docs/protocol.md §8 order): opcode, TLV, schema. */
    public static Msg decodeRequest(Wire.Frame f) throws WireException {
        Op o = BY_OPCODE.get(f.opcode);
        if (o == null) throw new WireException("ERR_FUNCTION_NOT_SUPPORTED", String.format("opcode 0x%04x is not supported", f.opcode));
        return o.request.toMsg(Wire.decodeBody(f.body), o.name + " request");
    }

    /** A decoded response: ok with its result, or the peer's error. */
    public static final class Response {
        public final boolean ok;
        public final Msg result;
        public final long rv;
        public final String code, message;

        Response(Msg result) {
            this.ok = true;
            this.result = result;
            this.rv = 0;
            this.code = null;
            this.message = null;
        }

        Response(long rv, String code, String message) {
            this.ok = false;
            this.result = null;
            this.rv = rv;
            this.code = code;
            this.message = message;
        }
    }

    /** decodeResponseMessage of messages.ts. */
    public static Response decodeResponse(Wire.Frame f) throws WireException {
        List<Field> fields = Wire.decodeBody(f.body);
        Field first = fields.isEmpty() ? null : fields.get(0);
        if (first == null || first.id != 1 || first.type != Wire.T_U64) throw bad("response: field rv (1) must come first, as a u64");
        long rv = (Long) first.value;
        if (rv != 0) {
            Field code = fields.size() > 1 ? fields.get(1) : null, msg = fields.size() > 2 ? fields.get(2) : null;
            if (code == null || code.id != 2 || code.type != Wire.T_STRING) throw bad("error response: field code (2) must be a string");
            if (msg == null || msg.id != 3 || msg.type != Wire.T_STRING) throw bad("error response: field message (3) must be a string");
            if (fields.size() > 3) throw bad("error response: unknown field " + fields.get(3).id);
            return new Response(number(rv, "response: field rv (1)"), (String) code.value, (String) msg.value);
        }
        Op o = BY_OPCODE.get(f.opcode);
        if (o == null) throw new WireException("ERR_PROTOCOL", String.format("success response to unknown opcode 0x%04x", f.opcode));
        return new Response(o.response.toMsg(fields.subList(1, fields.size()), o.name + " response"));
    }

    /** A notice's fields, or null for a notice this codec does not know (ignored, as §1 says). */
    public static Msg decodeNotice(Wire.Frame f) throws WireException {
        List<Field> fields = Wire.decodeBody(f.body);
        Op n = NOTICE_BY_OPCODE.get(f.opcode);
        if (n == null) return null;
        return n.request.toMsg(fields, n.name + " notice");
    }
}
