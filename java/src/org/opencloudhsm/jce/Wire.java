package org.opencloudhsm.jce;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The wire codec of docs/protocol.md: the 16-byte frame header, a stream reader,
 * and TLV bodies. Pure: no I/O. The same checks, in the same order, as the
 * TypeScript codec (packages/protocol/src/codec.ts) and the C codec
 * (native/common/src/wire.c); all three pass test-vectors/protocol/.
 */
public final class Wire {
    private Wire() {}

    public static final int MAGIC0 = 0x4F, MAGIC1 = 0x48, VERSION = 1, HEADER_BYTES = 16, FIELD_HEADER_BYTES = 7;
    public static final int KIND_REQUEST = 1, KIND_RESPONSE = 2, KIND_NOTICE = 3;

    public static final int T_U64 = 1, T_BYTES = 2, T_STRING = 3, T_BOOL = 4, T_ATTRS = 5, T_U64LIST = 6, T_RECORD = 7,
            T_RECORDS = 8, T_STRINGS = 9;
    static final String[] TYPE_NAMES = {null, "u64", "bytes", "string", "bool", "attrs", "u64list", "record", "records", "strings"};

    /* Limits (docs/protocol.md §4). */
    public static final int MAX_BODY = 16 * 1024 * 1024, MAX_FIELDS = 256, MAX_ATTRIBUTES = 64, MAX_ATTRIBUTE_BYTES = 65536,
            MAX_STRING = 4096, MAX_DEPTH = 4, MAX_LIST = 65536;

    public static int typeOf(String name) {
        for (int i = 1; i < TYPE_NAMES.length; i++) if (TYPE_NAMES[i].equals(name)) return i;
        return -1;
    }

    /** A codec failure: code is ERR_PROTOCOL, ERR_LIMIT, ERR_ARGUMENTS_BAD or ERR_FUNCTION_NOT_SUPPORTED. */
    public static final class WireException extends Exception {
        private static final long serialVersionUID = 1L;
        public final String code;
        /** Set when only the declared body length was refused (the header itself was valid). */
        public final Header header;

        public WireException(String code, String message) {
            this(code, message, null);
        }

        public WireException(String code, String message, Header header) {
            super(message);
            this.code = code;
            this.header = header;
        }
    }

    static WireException protocol(String m) {
        return new WireException("ERR_PROTOCOL", m);
    }

    static WireException limit(String m) {
        return new WireException("ERR_LIMIT", m);
    }

    static WireException badArg(String m) {
        return new WireException("ERR_ARGUMENTS_BAD", m);
    }

    /** CK_ATTRIBUTE on the wire. */
    public static final class Attr {
        public final long type;
        public final byte[] value;

        public Attr(long type, byte[] value) {
            this.type = type;
            this.value = value;
        }
    }

    /**
     * One TLV field. value: Long (u64, unsigned in the 64 bits), byte[], String, Boolean,
     * List&lt;Attr&gt;, long[] (u64list), List&lt;Field&gt; (record), List&lt;List&lt;Field&gt;&gt; (records),
     * List&lt;String&gt; (strings).
     */
    public static final class Field {
        public final int id;
        public final int type;
        public final Object value;

        public Field(int id, int type, Object value) {
            this.id = id;
            this.type = type;
            this.value = value;
        }
    }

    public static final class Header {
        public final int kind;
        public final long requestId;
        public final int opcode;
        public final long bodyLength;

        Header(int kind, long requestId, int opcode, long bodyLength) {
            this.kind = kind;
            this.requestId = requestId;
            this.opcode = opcode;
            this.bodyLength = bodyLength;
        }
    }

    public static final class Frame {
        public final int kind;
        public final long requestId;
        public final int opcode;
        public final byte[] body;

        public Frame(int kind, long requestId, int opcode, byte[] body) {
            this.kind = kind;
            this.requestId = requestId;
            this.opcode = opcode;
            this.body = body;
        }
    }

    /* ───────────── byte helpers ───────────── */

    static int u16(byte[] b, int o) {
        return ((b[o] & 0xff) << 8) | (b[o + 1] & 0xff);
    }

    static long u32(byte[] b, int o) {
        return ((long) (b[o] & 0xff) << 24) | ((b[o + 1] & 0xff) << 16) | ((b[o + 2] & 0xff) << 8) | (b[o + 3] & 0xff);
    }

    static long u64(byte[] b, int o) {
        return (u32(b, o) << 32) | u32(b, o + 4);
    }

    public static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(b.length * 2);
        for (byte x : b) s.append(Character.forDigit((x >> 4) & 15, 16)).append(Character.forDigit(x & 15, 16));
        return s.toString();
    }

    public static byte[] unhex(String s) {
        if (s.length() % 2 != 0) throw new IllegalArgumentException("odd hex length");
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            int h = Character.digit(s.charAt(2 * i), 16), l = Character.digit(s.charAt(2 * i + 1), 16);
            if (h < 0 || l < 0) throw new IllegalArgumentException("not hex");
            out[i] = (byte) ((h << 4) | l);
        }
        return out;
    }

    /** A growable big-endian writer. */
    static final class Writer {
        byte[] buf = new byte[256];
        int len;

        void ensure(int n) {
            if (len + n <= buf.length) return;
            int size = buf.length * 2;
            while (size < len + n) size *= 2;
            byte[] next = new byte[size];
            System.arraycopy(buf, 0, next, 0, len);
            buf = next;
        }

        void u8(int v) {
            ensure(1);
            buf[len++] = (byte) v;
        }

        void u16(int v) {
            ensure(2);
            buf[len++] = (byte) (v >>> 8);
            buf[len++] = (byte) v;
        }

        void u32(long v) {
            ensure(4);
            buf[len++] = (byte) (v >>> 24);
            buf[len++] = (byte) (v >>> 16);
            buf[len++] = (byte) (v >>> 8);
            buf[len++] = (byte) v;
        }

        void u64(long v) {
            u32(v >>> 32);
            u32(v & 0xffffffffL);
        }

        void bytes(byte[] b) {
            ensure(b.length);
            System.arraycopy(b, 0, buf, len, b.length);
            len += b.length;
        }

        int placeholder() {
            int at = len;
            u32(0);
            return at;
        }

        void patch(int at, long v) {
            buf[at] = (byte) (v >>> 24);
            buf[at + 1] = (byte) (v >>> 16);
            buf[at + 2] = (byte) (v >>> 8);
            buf[at + 3] = (byte) v;
        }

        byte[] result() {
            byte[] out = new byte[len];
            System.arraycopy(buf, 0, out, 0, len);
            return out;
        }
    }

    /* ───────────── frames ───────────── */

    static String kindProblem(int kind, long requestId) {
        if (kind != KIND_REQUEST && kind != KIND_RESPONSE && kind != KIND_NOTICE) return "unknown frame kind " + kind;
        if (kind == KIND_NOTICE ? requestId != 0 : requestId == 0) {
            return kind == KIND_NOTICE ? "a notice must have request id 0, got " + requestId : "request id 0 is reserved for notices";
        }
        return null;
    }

    public static byte[] encodeFrame(int kind, long requestId, int opcode, byte[] body) throws WireException {
        if (requestId < 0 || requestId > 0xffffffffL) throw badArg("request id must be a u32, got " + requestId);
        if (opcode < 0 || opcode > 0xffff) throw badArg("opcode must be a u16, got " + opcode);
        String p = kindProblem(kind, requestId);
        if (p != null) throw badArg(p);
        if (body.length > MAX_BODY) throw limit("frame body of " + body.length + " bytes exceeds maxBodyBytes (" + MAX_BODY + ")");
        byte[] out = new byte[HEADER_BYTES + body.length];
        out[0] = (byte) MAGIC0;
        out[1] = (byte) MAGIC1;
        out[2] = (byte) VERSION;
        out[3] = (byte) kind;
        out[4] = (byte) (requestId >>> 24);
        out[5] = (byte) (requestId >>> 16);
        out[6] = (byte) (requestId >>> 8);
        out[7] = (byte) requestId;
        out[8] = (byte) (opcode >>> 8);
        out[9] = (byte) opcode;
        out[12] = (byte) (body.length >>> 24);
        out[13] = (byte) (body.length >>> 16);
        out[14] = (byte) (body.length >>> 8);
        out[15] = (byte) body.length;
        System.arraycopy(body, 0, out, HEADER_BYTES, body.length);
        return out;
    }

    /** Check the first n (&lt; 16) header bytes as each arrives: magic, version, kind. */
    static void checkHeaderPrefix(byte[] b, int n) throws WireException {
        if (n >= 1 && (b[0] & 0xff) != MAGIC0) throw protocol(String.format("bad magic: byte 0 is 0x%02x, expected 0x4f", b[0] & 0xff));
        if (n >= 2 && (b[1] & 0xff) != MAGIC1) throw protocol(String.format("bad magic: byte 1 is 0x%02x, expected 0x48", b[1] & 0xff));
        if (n >= 3 && (b[2] & 0xff) != VERSION) throw protocol("unsupported protocol version " + (b[2] & 0xff) + " (this codec speaks version 1)");
        if (n >= 4 && b[3] != KIND_REQUEST && b[3] != KIND_RESPONSE && b[3] != KIND_NOTICE) throw protocol("unknown frame kind " + (b[3] & 0xff));
    }

    public static Header parseHeader(byte[] b) throws WireException {
        if (b.length < HEADER_BYTES) throw protocol("truncated frame header: " + b.length + " of 16 bytes");
        checkHeaderPrefix(b, 4);
        int kind = b[3];
        long requestId = u32(b, 4);
        int opcode = u16(b, 8);
        int flags = u16(b, 10);
        long bodyLength = u32(b, 12);
        if (flags != 0) throw protocol(String.format("flags must be 0 in version 1, got 0x%04x", flags));
        String p = kindProblem(kind, requestId);
        if (p != null) throw protocol(p);
        if (bodyLength > MAX_BODY) {
            throw new WireException("ERR_LIMIT", "declared body length " + bodyLength + " exceeds maxBodyBytes (" + MAX_BODY + ")",
                    new Header(kind, requestId, opcode, bodyLength));
        }
        return new Header(kind, requestId, opcode, bodyLength);
    }

    /** Exactly one whole frame. */
    public static Frame decodeFrame(byte[] buf) throws WireException {
        if (buf.length < HEADER_BYTES) {
            checkHeaderPrefix(buf, buf.length);
            throw protocol("truncated frame header: " + buf.length + " of 16 bytes");
        }
        byte[] hb = new byte[HEADER_BYTES];
        System.arraycopy(buf, 0, hb, 0, HEADER_BYTES);
        Header h = parseHeader(hb);
        long present = buf.length - HEADER_BYTES;
        if (present < h.bodyLength) throw protocol("truncated frame body: " + present + " of " + h.bodyLength + " bytes");
        if (present > h.bodyLength) throw protocol((present - h.bodyLength) + " trailing bytes after the frame");
        byte[] body = new byte[(int) h.bodyLength];
        System.arraycopy(buf, HEADER_BYTES, body, 0, body.length);
        return new Frame(h.kind, h.requestId, h.opcode, body);
    }

    /**
     * Splits a byte stream into frames. The header is checked as its bytes
     * arrive; a body length over the limit is refused before the body is
     * awaited or allocated. After an error the reader stays failed.
     */
    public static final class FrameReader {
        private final byte[] head = new byte[HEADER_BYTES];
        private int headLen;
        private Header header;
        private byte[] body;
        private int bodyLen;
        private WireException failed;

        public List<Frame> push(byte[] b, int off, int len) throws WireException {
            if (failed != null) throw failed;
            List<Frame> out = new ArrayList<>();
            try {
                int i = off, end = off + len;
                for (;;) {
                    if (header == null) {
                        if (i >= end) break;
                        int k = Math.min(HEADER_BYTES - headLen, end - i);
                        System.arraycopy(b, i, head, headLen, k);
                        headLen += k;
                        i += k;
                        if (headLen < HEADER_BYTES) {
                            checkHeaderPrefix(head, headLen);
                            break;
                        }
                        header = parseHeader(head);
                        body = new byte[(int) header.bodyLength];
                        bodyLen = 0;
                    }
                    int k = Math.min(body.length - bodyLen, end - i);
                    System.arraycopy(b, i, body, bodyLen, k);
                    bodyLen += k;
                    i += k;
                    if (bodyLen < body.length) break;
                    out.add(new Frame(header.kind, header.requestId, header.opcode, body));
                    header = null;
                    body = null;
                    headLen = 0;
                }
                return out;
            } catch (WireException e) {
                failed = e;
                body = null;
                throw e;
            }
        }

        /** The stream ended: a partial frame is an error. */
        public void end() throws WireException {
            if (failed != null) throw failed;
            int size = headLen + (header != null ? bodyLen : 0);
            if (size > 0) {
                failed = protocol("truncated frame: the stream ended after " + size + " bytes of a frame");
                throw failed;
            }
        }
    }

    /* ───────────── bodies ───────────── */

    static byte[] encodeString(String s, String where) throws WireException {
        CharsetEncoder enc = StandardCharsets.UTF_8.newEncoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer bb;
        try {
            bb = enc.encode(CharBuffer.wrap(s));
        } catch (CharacterCodingException e) {
            throw badArg(where + ": string contains an unpaired surrogate");
        }
        byte[] b = new byte[bb.remaining()];
        bb.get(b);
        if (b.length > MAX_STRING) throw limit(where + ": string of " + b.length + " bytes exceeds maxStringBytes (" + MAX_STRING + ")");
        return b;
    }

    static String decodeString(byte[] b, int off, int len, String where) throws WireException {
        if (len > MAX_STRING) throw limit(where + ": string of " + len + " bytes exceeds maxStringBytes (" + MAX_STRING + ")");
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            return dec.decode(ByteBuffer.wrap(b, off, len)).toString();
        } catch (CharacterCodingException e) {
            throw protocol(where + ": string is not valid UTF-8");
        }
    }

    static void checkCount(int n, int max, String what, String where) throws WireException {
        if (n > max) throw limit(where + ": " + n + " " + what + " exceed " + max);
    }

    @SuppressWarnings("unchecked")
    static void writeBody(Writer w, List<Field> fields, int depth) throws WireException {
        checkCount(fields.size(), MAX_FIELDS, "fields", "body");
        int prev = 0;
        for (Field f : fields) {
            int id = f.id;
            if (id < 1 || id > 0xffff) throw badArg("field id must be 1..65535, got " + id);
            if (id <= prev) throw badArg("field " + id + (id == prev ? " is repeated" : " is out of order (after field " + prev + ")"));
            prev = id;
            String where = "field " + id;
            if (f.type < 1 || f.type > 9) throw badArg(where + ": unknown field type " + f.type);
            w.u16(id);
            w.u8(f.type);
            int lenAt = w.placeholder();
            int start = w.len;
            switch (f.type) {
                case T_U64:
                    w.u64((Long) f.value);
                    break;
                case T_BYTES:
                    w.bytes((byte[]) f.value);
                    break;
                case T_STRING:
                    w.bytes(encodeString((String) f.value, where));
                    break;
                case T_BOOL:
                    w.u8(((Boolean) f.value) ? 1 : 0);
                    break;
                case T_ATTRS: {
                    List<Attr> attrs = (List<Attr>) f.value;
                    checkCount(attrs.size(), MAX_ATTRIBUTES, "attributes", where);
                    w.u32(attrs.size());
                    for (Attr a : attrs) {
                        if (a.type < 0 || a.type > 0xffffffffL) throw badArg(where + ": attribute type must be a u32");
                        if (a.value.length > MAX_ATTRIBUTE_BYTES) {
                            throw limit(where + ": attribute value of " + a.value.length + " bytes exceeds maxAttributeBytes (" + MAX_ATTRIBUTE_BYTES + ")");
                        }
                        w.u32(a.type);
                        w.u32(a.value.length);
                        w.bytes(a.value);
                    }
                    break;
                }
                case T_U64LIST: {
                    long[] v = (long[]) f.value;
                    checkCount(v.length, MAX_LIST, "list elements", where);
                    w.u32(v.length);
                    for (long x : v) w.u64(x);
                    break;
                }
                case T_RECORD:
                    if (depth + 1 > MAX_DEPTH) throw limit(where + ": nesting deeper than maxDepth (" + MAX_DEPTH + ")");
                    writeBody(w, (List<Field>) f.value, depth + 1);
                    break;
                case T_RECORDS: {
                    List<List<Field>> recs = (List<List<Field>>) f.value;
                    checkCount(recs.size(), MAX_LIST, "list elements", where);
                    if (depth + 1 > MAX_DEPTH) throw limit(where + ": nesting deeper than maxDepth (" + MAX_DEPTH + ")");
                    w.u32(recs.size());
                    for (List<Field> r : recs) {
                        int at = w.placeholder();
                        int s = w.len;
                        writeBody(w, r, depth + 1);
                        w.patch(at, w.len - s);
                    }
                    break;
                }
                case T_STRINGS: {
                    List<String> v = (List<String>) f.value;
                    checkCount(v.size(), MAX_LIST, "list elements", where);
                    w.u32(v.size());
                    for (String s : v) {
                        byte[] b = encodeString(s, where);
                        w.u32(b.length);
                        w.bytes(b);
                    }
                    break;
                }
                default:
                    throw badArg(where + ": unknown field type " + f.type);
            }
            int len = w.len - start;
            if (len > MAX_BODY) throw limit(where + ": value of " + len + " bytes exceeds maxBodyBytes (" + MAX_BODY + ")");
            w.patch(lenAt, len);
        }
    }

    public static byte[] encodeBody(List<Field> fields) throws WireException {
        Writer w = new Writer();
        writeBody(w, fields, 0);
        if (w.len > MAX_BODY) throw limit("body of " + w.len + " bytes exceeds maxBodyBytes (" + MAX_BODY + ")");
        return w.result();
    }

    static long readCount(byte[] b, int off, int len, String where, int max, String what, int minEach) throws WireException {
        if (len < 4) throw protocol(where + ": " + len + " bytes cannot hold a count");
        long count = u32(b, off);
        if (count > max) throw limit(where + ": " + count + " " + what + " exceed " + max);
        if (count * minEach > len - 4) throw protocol(where + ": " + count + " " + what + " cannot fit in " + (len - 4) + " bytes (truncated)");
        return count;
    }

    static List<Field> readBody(byte[] buf, int base, int blen, int depth) throws WireException {
        List<Field> out = new ArrayList<>();
        int off = 0;
        int prev = 0;
        while (off < blen) {
            if (out.size() >= MAX_FIELDS) throw limit("more than maxFields (" + MAX_FIELDS + ") fields in one body");
            if (blen - off < FIELD_HEADER_BYTES) throw protocol("truncated field header at body offset " + off);
            int id = u16(buf, base + off);
            int typeNo = buf[base + off + 2] & 0xff;
            long len = u32(buf, base + off + 3);
            if (id == 0) throw protocol("field id 0 is reserved");
            if (id == prev) throw protocol("duplicate field " + id);
            if (id < prev) throw protocol("field " + id + " out of order (after field " + prev + ")");
            String where = "field " + id;
            if (typeNo < 1 || typeNo > 9) throw protocol(where + ": unknown field type " + typeNo);
            int start = off + FIELD_HEADER_BYTES;
            if (len > blen - start) throw protocol(where + ": value of " + len + " bytes is truncated (" + (blen - start) + " present)");
            int vl = (int) len;
            int v = base + start; /* absolute offset of the value */
            switch (typeNo) {
                case T_U64:
                    if (vl != 8) throw protocol(where + ": u64 must be 8 bytes, got " + vl);
                    out.add(new Field(id, T_U64, u64(buf, v)));
                    break;
                case T_BYTES: {
                    byte[] x = new byte[vl];
                    System.arraycopy(buf, v, x, 0, vl);
                    out.add(new Field(id, T_BYTES, x));
                    break;
                }
                case T_STRING:
                    out.add(new Field(id, T_STRING, decodeString(buf, v, vl, where)));
                    break;
                case T_BOOL:
                    if (vl != 1) throw protocol(where + ": bool must be 1 byte, got " + vl);
                    if ((buf[v] & 0xff) > 1) throw protocol(where + ": bool must be 0 or 1, got " + (buf[v] & 0xff));
                    out.add(new Field(id, T_BOOL, buf[v] == 1));
                    break;
                case T_ATTRS: {
                    long count = readCount(buf, v, vl, where, MAX_ATTRIBUTES, "attributes", 8);
                    List<Attr> attrs = new ArrayList<>();
                    int p = 4;
                    for (int i = 0; i < count; i++) {
                        if (vl - p < 8) throw protocol(where + ": attribute " + i + " is truncated");
                        long at = u32(buf, v + p);
                        long alen = u32(buf, v + p + 4);
                        p += 8;
                        if (alen > MAX_ATTRIBUTE_BYTES) throw limit(where + ": attribute value of " + alen + " bytes exceeds maxAttributeBytes (" + MAX_ATTRIBUTE_BYTES + ")");
                        if (alen > vl - p) throw protocol(where + ": attribute " + i + " value of " + alen + " bytes is truncated");
                        byte[] x = new byte[(int) alen];
                        System.arraycopy(buf, v + p, x, 0, x.length);
                        attrs.add(new Attr(at, x));
                        p += (int) alen;
                    }
                    if (p != vl) throw protocol(where + ": " + (vl - p) + " bytes after the last attribute");
                    out.add(new Field(id, T_ATTRS, Collections.unmodifiableList(attrs)));
                    break;
                }
                case T_U64LIST: {
                    long count = readCount(buf, v, vl, where, MAX_LIST, "list elements", 0);
                    if (vl != 4 + 8 * count) throw protocol(where + ": a list of " + count + " u64 must be " + (4 + 8 * count) + " bytes, got " + vl);
                    long[] list = new long[(int) count];
                    for (int i = 0; i < count; i++) list[i] = u64(buf, v + 4 + 8 * i);
                    out.add(new Field(id, T_U64LIST, list));
                    break;
                }
                case T_RECORD:
                    if (depth + 1 > MAX_DEPTH) throw limit(where + ": nesting deeper than maxDepth (" + MAX_DEPTH + ")");
                    out.add(new Field(id, T_RECORD, readBody(buf, v, vl, depth + 1)));
                    break;
                case T_RECORDS: {
                    if (depth + 1 > MAX_DEPTH) throw limit(where + ": nesting deeper than maxDepth (" + MAX_DEPTH + ")");
                    long count = readCount(buf, v, vl, where, MAX_LIST, "list elements", 4);
                    List<List<Field>> list = new ArrayList<>();
                    int p = 4;
                    for (int i = 0; i < count; i++) {
                        if (vl - p < 4) throw protocol(where + ": record " + i + " is truncated");
                        long rlen = u32(buf, v + p);
                        p += 4;
                        if (rlen > vl - p) throw protocol(where + ": record " + i + " of " + rlen + " bytes is truncated");
                        list.add(readBody(buf, v + p, (int) rlen, depth + 1));
                        p += (int) rlen;
                    }
                    if (p != vl) throw protocol(where + ": " + (vl - p) + " bytes after the last record");
                    out.add(new Field(id, T_RECORDS, list));
                    break;
                }
                case T_STRINGS: {
                    long count = readCount(buf, v, vl, where, MAX_LIST, "list elements", 4);
                    List<String> list = new ArrayList<>();
                    int p = 4;
                    for (int i = 0; i < count; i++) {
                        if (vl - p < 4) throw protocol(where + ": string " + i + " is truncated");
                        long slen = u32(buf, v + p);
                        p += 4;
                        if (slen > MAX_STRING) throw limit(where + ": string of " + slen + " bytes exceeds maxStringBytes (" + MAX_STRING + ")");
                        if (slen > vl - p) throw protocol(where + ": string " + i + " of " + slen + " bytes is truncated");
                        list.add(decodeString(buf, v + p, (int) slen, where));
                        p += (int) slen;
                    }
                    if (p != vl) throw protocol(where + ": " + (vl - p) + " bytes after the last string");
                    out.add(new Field(id, T_STRINGS, list));
                    break;
                }
                default:
                    throw protocol(where + ": unknown field type " + typeNo);
            }
            off = start + vl;
            prev = id;
        }
        return out;
    }

    public static List<Field> decodeBody(byte[] body) throws WireException {
        if (body.length > MAX_BODY) throw limit("body of " + body.length + " bytes exceeds maxBodyBytes (" + MAX_BODY + ")");
        return readBody(body, 0, body.length, 0);
    }
}
