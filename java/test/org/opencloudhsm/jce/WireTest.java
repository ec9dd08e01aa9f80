package org.opencloudhsm.jce;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.opencloudhsm.jce.Wire.Attr;
import org.opencloudhsm.jce.Wire.Field;
import org.opencloudhsm.jce.Wire.Frame;
import org.opencloudhsm.jce.Wire.WireException;

/**
 * The Java codec against the protocol test vectors, in the line form that
 * native/common/test/gen_vectors.mjs writes for the C tests (frames.txt,
 * malformed.txt, ops.txt): every valid frame decodes to its object and the
 * object encodes to its exact bytes, whole and streamed; every truncation and
 * every malformed frame is refused with the vector's code.
 *
 *   java -cp ... org.opencloudhsm.jce.WireTest &lt;dir with the .txt files&gt;
 */
public final class WireTest {
    static final Check C = new Check();

    public static void main(String[] args) throws Exception {
        Path dir = Paths.get(args.length > 0 ? args[0] : "dist/native-test");
        run(dir);
        C.summary();
    }

    static void run(Path dir) throws Exception {
        List<String[]> frames = lines(dir.resolve("frames.txt"), 6);
        List<String[]> bad = lines(dir.resolve("malformed.txt"), 3);
        C.check(frames.size() >= 34, "frames.txt holds " + frames.size() + " vectors, expected the 34 of frames.json");
        C.check(bad.size() >= 40, "malformed.txt holds " + bad.size() + " vectors, expected the 40 of malformed.json");
        opsTable(dir.resolve("ops.txt"));
        for (String[] v : frames) validFrame(v);
        for (String[] v : bad) malformed(v);
        builderChecks();
    }

    static List<String[]> lines(Path p, int n) throws IOException {
        List<String[]> out = new ArrayList<>();
        for (String l : Files.readAllLines(p, StandardCharsets.UTF_8)) {
            if (l.isEmpty()) continue;
            String[] x = l.split("\t", -1);
            if (x.length == n) out.add(x);
        }
        return out;
    }

    /* ───────────── the ops table read from the jar equals the one messages.ts dumps ───────────── */

    static void opsTable(Path p) throws IOException {
        int n = 0;
        for (String[] x : lines(p, 6)) {
            if (!x[0].equals("op")) continue;
            n++;
            Schema.Op op = Schema.ops().get(x[1]);
            C.check(op != null, "op " + x[1] + " is in the provider's table");
            if (op == null) continue;
            C.check(op.opcode == Integer.parseInt(x[2]) && op.mutating == x[3].equals("1"), "op " + x[1] + ": opcode and mutating flag");
            C.check(op.request.dump().equals(x[4]), "op " + x[1] + ": request schema\n  got      " + op.request.dump() + "\n  expected " + x[4]);
            C.check(op.response.dump().equals(x[5]), "op " + x[1] + ": response schema");
        }
        C.check(n == Schema.ops().size() && n >= 39, "the provider knows the " + n + " operations of messages.ts");
        C.check(Schema.op("sign").opcode == 0x0202 && Schema.op("hello").opcode == 0x0001 && Schema.op("generateKey").mutating,
                "sign is 0x0202, hello 0x0001, generateKey mutating (docs/protocol.md §6.2)");
    }

    /* ───────────── the flat field dump of gen_vectors.mjs ───────────── */

    @SuppressWarnings("unchecked")
    static String dump(List<Field> fields) {
        StringBuilder b = new StringBuilder();
        for (Field f : fields) {
            if (b.length() > 0) b.append(';');
            b.append(f.id).append('=').append(Wire.TYPE_NAMES[f.type]).append(':');
            switch (f.type) {
                case Wire.T_U64:
                    b.append(Long.toUnsignedString((Long) f.value));
                    break;
                case Wire.T_BYTES:
                    b.append(Wire.hex((byte[]) f.value));
                    break;
                case Wire.T_STRING:
                    b.append(Wire.hex(((String) f.value).getBytes(StandardCharsets.UTF_8)));
                    break;
                case Wire.T_BOOL:
                    b.append(((Boolean) f.value) ? 1 : 0);
                    break;
                case Wire.T_ATTRS: {
                    List<String> s = new ArrayList<>();
                    for (Attr a : (List<Attr>) f.value) s.add(a.type + "/" + Wire.hex(a.value));
                    b.append('[').append(String.join(",", s)).append(']');
                    break;
                }
                case Wire.T_U64LIST: {
                    List<String> s = new ArrayList<>();
                    for (long x : (long[]) f.value) s.add(Long.toUnsignedString(x));
                    b.append('[').append(String.join(",", s)).append(']');
                    break;
                }
                case Wire.T_RECORD:
                    b.append('{').append(dump((List<Field>) f.value)).append('}');
                    break;
                case Wire.T_RECORDS: {
                    List<String> s = new ArrayList<>();
                    for (List<Field> r : (List<List<Field>>) f.value) s.add("{" + dump(r) + "}");
                    b.append('[').append(String.join(",", s)).append(']');
                    break;
                }
                case Wire.T_STRINGS: {
                    List<String> s = new ArrayList<>();
                    for (String x : (List<String>) f.value) s.add(Wire.hex(x.getBytes(StandardCharsets.UTF_8)));
                    b.append('[').append(String.join(",", s)).append(']');
                    break;
                }
                default:
                    b.append('?');
            }
        }
        return b.toString();
    }

    /** Split at top-level separators (outside {} and []). */
    static List<String> split(String s, char sep) {
        List<String> out = new ArrayList<>();
        int depth = 0, st = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') depth--;
            else if (c == sep && depth == 0) {
                out.add(s.substring(st, i));
                st = i + 1;
            }
        }
        if (st < s.length()) out.add(s.substring(st));
        return out;
    }

    static String inner(String s) {
        return s.substring(1, s.length() - 1);
    }

    /** Fields from the dump of the vector's JSON object (not from its hex). */
    static List<Field> parse(String s) {
        List<Field> out = new ArrayList<>();
        if (s.isEmpty()) return out;
        for (String item : split(s, ';')) {
            int eq = item.indexOf('='), colon = item.indexOf(':');
            int id = Integer.parseInt(item.substring(0, eq));
            int type = Wire.typeOf(item.substring(eq + 1, colon));
            String v = item.substring(colon + 1);
            Object value;
            switch (type) {
                case Wire.T_U64:
                    value = Long.parseUnsignedLong(v);
                    break;
                case Wire.T_BYTES:
                    value = Wire.unhex(v);
                    break;
                case Wire.T_STRING:
                    value = new String(Wire.unhex(v), StandardCharsets.UTF_8);
                    break;
                case Wire.T_BOOL:
                    value = v.equals("1");
                    break;
                case Wire.T_ATTRS: {
                    List<Attr> l = new ArrayList<>();
                    for (String a : split(inner(v), ',')) {
                        int sl = a.indexOf('/');
                        l.add(new Attr(Long.parseLong(a.substring(0, sl)), Wire.unhex(a.substring(sl + 1))));
                    }
                    value = l;
                    break;
                }
                case Wire.T_U64LIST: {
                    List<String> parts = split(inner(v), ',');
                    long[] l = new long[parts.size()];
                    for (int i = 0; i < l.length; i++) l[i] = Long.parseUnsignedLong(parts.get(i));
                    value = l;
                    break;
                }
                case Wire.T_RECORD:
                    value = parse(inner(v));
                    break;
                case Wire.T_RECORDS: {
                    List<List<Field>> l = new ArrayList<>();
                    for (String r : split(inner(v), ',')) l.add(parse(inner(r)));
                    value = l;
                    break;
                }
                case Wire.T_STRINGS: {
                    List<String> l = new ArrayList<>();
                    for (String x : split(inner(v), ',')) l.add(new String(Wire.unhex(x), StandardCharsets.UTF_8));
                    value = l;
                    break;
                }
                default:
                    throw new IllegalArgumentException("bad dump item " + item);
            }
            out.add(new Field(id, type, value));
        }
        return out;
    }

    /* ───────────── valid frames ───────────── */

    static void validFrame(String[] v) throws Exception {
        String name = v[0];
        byte[] bytes = Wire.unhex(v[1]);
        int kind = Integer.parseInt(v[2]);
        long requestId = Long.parseLong(v[3]);
        String fields = v[5];
        Frame f;
        try {
            f = Wire.decodeFrame(bytes);
        } catch (WireException e) {
            C.check(false, "[" + name + "] decode: " + e.getMessage());
            return;
        }
        C.check(f.kind == kind && f.requestId == requestId, "[" + name + "] header kind and request id");
        if (!v[4].equals("-")) C.check(f.opcode == Integer.parseInt(v[4]), "[" + name + "] opcode");
        String got = dump(Wire.decodeBody(f.body));
        C.check(got.equals(fields), "[" + name + "] decoded fields\n  got      " + got + "\n  expected " + fields);
        byte[] enc = Wire.encodeFrame(f.kind, f.requestId, f.opcode, Wire.encodeBody(parse(fields)));
        C.check(Arrays.equals(enc, bytes), "[" + name + "] the object encodes to exactly the vector's hex\n  got      " + Wire.hex(enc) + "\n  expected " + v[1]);
        /* The message layer: the opcode's schema accepts it, and a request round-trips through Msg. */
        try {
            if (kind == Wire.KIND_REQUEST) {
                Msg m = Schema.decodeRequest(f);
                byte[] again = Schema.encodeRequest(Schema.opByOpcode(f.opcode).name, f.requestId, m);
                C.check(Arrays.equals(again, bytes), "[" + name + "] request → Msg → request gives the same bytes");
            } else if (kind == Wire.KIND_RESPONSE) {
                Schema.Response r = Schema.decodeResponse(f);
                C.check(r.ok == fields.startsWith("1=u64:0"), "[" + name + "] response ok flag");
            } else {
                C.check(Schema.decodeNotice(f) != null, "[" + name + "] notice known");
            }
        } catch (WireException e) {
            C.check(false, "[" + name + "] schema check: " + e.getMessage());
        }
        for (int bytewise = 0; bytewise <= 1; bytewise++) {
            String[] code = new String[1];
            int n = streamed(bytes, bytes.length, bytewise == 1, code);
            C.check(code[0] == null && n == 1, "[" + name + "] streamed (" + (bytewise == 1 ? "byte by byte" : "whole") + "): " + code[0]);
        }
        boolean refused = true;
        for (int k = 0; k < bytes.length; k++) {
            try {
                Wire.decodeFrame(Arrays.copyOf(bytes, k));
                refused = false;
            } catch (WireException e) {
                if (!e.code.equals("ERR_PROTOCOL")) refused = false;
            }
            if (k > 0) {
                String[] code = new String[1];
                streamed(bytes, k, false, code);
                if (!"ERR_PROTOCOL".equals(code[0])) refused = false;
            }
        }
        C.check(refused, "[" + name + "] every truncation refused with ERR_PROTOCOL");
    }

    /** Feed the stream reader (whole or byte by byte), check each frame as §8 says, then end of stream. */
    static int streamed(byte[] b, int len, boolean bytewise, String[] code) {
        Wire.FrameReader r = new Wire.FrameReader();
        int n = 0;
        try {
            for (int off = 0; off < len;) {
                int k = bytewise ? 1 : len - off;
                for (Frame f : r.push(b, off, k)) {
                    n++;
                    checkLikeSection8(f);
                }
                off += k;
            }
            r.end();
        } catch (WireException e) {
            code[0] = e.code;
        }
        return n;
    }

    static void checkLikeSection8(Frame f) throws WireException {
        if (f.kind == Wire.KIND_REQUEST) Schema.decodeRequest(f);
        else Wire.decodeBody(f.body);
    }

    static void malformed(String[] v) {
        String name = v[0], want = v[2];
        byte[] bytes = Wire.unhex(v[1]);
        String got = null;
        try {
            checkLikeSection8(Wire.decodeFrame(bytes));
        } catch (WireException e) {
            got = e.code;
        }
        C.check(want.equals(got), "[" + name + "] refused with " + got + ", vector says " + want);
        for (int bytewise = 0; bytewise <= 1; bytewise++) {
            String[] code = new String[1];
            streamed(bytes, bytes.length, bytewise == 1, code);
            C.check(want.equals(code[0]), "[" + name + "] streamed (" + (bytewise == 1 ? "byte by byte" : "whole") + "): " + code[0] + ", vector says " + want);
        }
    }

    /* ───────────── encoder refusals ───────────── */

    static void builderChecks() throws Exception {
        C.throwsCode("ERR_ARGUMENTS_BAD", () -> Wire.encodeBody(List.of(new Field(2, Wire.T_U64, 1L), new Field(1, Wire.T_U64, 1L))), "fields out of order");
        C.throwsCode("ERR_ARGUMENTS_BAD", () -> Wire.encodeBody(List.of(new Field(0, Wire.T_U64, 1L))), "field id 0");
        C.throwsCode("ERR_LIMIT", () -> Wire.encodeBody(List.of(new Field(1, Wire.T_STRING, "x".repeat(4097)))), "a string over 4096 bytes");
        C.throwsCode("ERR_ARGUMENTS_BAD", () -> Wire.encodeBody(List.of(new Field(1, Wire.T_STRING, "\ud800"))), "an unpaired surrogate");
        C.throwsCode("ERR_ARGUMENTS_BAD", () -> Schema.encodeRequest("sign", 1, Msg.of("handle", 5L)), "a request missing required fields");
        C.throwsCode("ERR_ARGUMENTS_BAD", () -> Schema.encodeRequest("logout", 1, Msg.of("bogus", 5L)), "a request with an unknown field");
        C.throwsCode("ERR_ARGUMENTS_BAD", () -> Schema.encodeRequest("closeSession", 1, Msg.of("session", 1L << 60)), "a number above 2^53-1");
        C.throwsCode("ERR_ARGUMENTS_BAD", () -> Wire.encodeFrame(Wire.KIND_REQUEST, 0, 1, new byte[0]), "request id 0 on a request");
        /* Java's own checks: a string that round-trips with a BOM and a 4-byte character. */
        byte[] body = Wire.encodeBody(List.of(new Field(1, Wire.T_STRING, "\ufeffa\ud83d\ude00")));
        C.check(((String) Wire.decodeBody(body).get(0).value).equals("\ufeffa\ud83d\ude00"), "a leading BOM and a surrogate pair survive a round trip");
    }

    static {
        /* Keep the compiler from dropping the unused import in some JDKs. */
        FileInputStream.class.getName();
    }
}
