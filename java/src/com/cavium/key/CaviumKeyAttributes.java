package com.cavium.key;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A key's attributes as the HSM reports them: class, key type, label,
 * extractable, persistent (CKA_TOKEN) and size. The byte form (from
 * Util.getKeyAttributes) is a PKCS#11 attribute list in the wire layout of
 * docs/protocol.md (count, then type, length, value per attribute).
 */
public final class CaviumKeyAttributes {
    public static final int KEY_TYPE_RSA = 0x0;
    public static final int KEY_TYPE_EC = 0x3;
    public static final int KEY_TYPE_GENERIC_SECRET = 0x10;
    public static final int KEY_TYPE_DES3 = 0x15;
    public static final int KEY_TYPE_AES = 0x1f;
    public static final int KEY_TYPE_EC_MONTGOMERY = 0x41;
    public static final int CLASS_PUBLIC_KEY = 0x2;
    public static final int CLASS_PRIVATE_KEY = 0x3;
    public static final int CLASS_SECRET_KEY = 0x4;

    private final Map<Long, byte[]> attrs;

    public CaviumKeyAttributes(Map<Long, byte[]> attrs) {
        this.attrs = Collections.unmodifiableMap(new LinkedHashMap<>(attrs));
    }

    /** From the byte form of Util.getKeyAttributes. */
    public CaviumKeyAttributes(byte[] encoded) {
        Map<Long, byte[]> m = new LinkedHashMap<>();
        int p = 0;
        long count = u32(encoded, p);
        p += 4;
        for (long i = 0; i < count; i++) {
            long t = u32(encoded, p);
            int len = (int) u32(encoded, p + 4);
            p += 8;
            if (len < 0 || p + len > encoded.length) throw new IllegalArgumentException("truncated attribute list");
            byte[] v = new byte[len];
            System.arraycopy(encoded, p, v, 0, len);
            p += len;
            m.put(t, v);
        }
        if (p != encoded.length) throw new IllegalArgumentException("bytes after the attribute list");
        this.attrs = Collections.unmodifiableMap(m);
    }

    private static long u32(byte[] b, int o) {
        if (o + 4 > b.length) throw new IllegalArgumentException("truncated attribute list");
        return ((long) (b[o] & 0xff) << 24) | ((b[o + 1] & 0xff) << 16) | ((b[o + 2] & 0xff) << 8) | (b[o + 3] & 0xff);
    }

    public byte[] getEncoded() {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        put32(o, attrs.size());
        for (Map.Entry<Long, byte[]> e : attrs.entrySet()) {
            put32(o, e.getKey());
            put32(o, e.getValue().length);
            o.write(e.getValue(), 0, e.getValue().length);
        }
        return o.toByteArray();
    }

    private static void put32(ByteArrayOutputStream o, long v) {
        o.write((int) (v >>> 24));
        o.write((int) (v >>> 16));
        o.write((int) (v >>> 8));
        o.write((int) v);
    }

    public byte[] get(long type) {
        byte[] v = attrs.get(type);
        return v == null ? null : v.clone();
    }

    private long ulong(long type, long dflt) {
        byte[] v = attrs.get(type);
        if (v == null) return dflt;
        long r = 0;
        for (int i = 0; i < v.length && i < 8; i++) r |= (long) (v[i] & 0xff) << (8 * i);
        return r;
    }

    private boolean bool(long type, boolean dflt) {
        byte[] v = attrs.get(type);
        return v == null || v.length != 1 ? dflt : v[0] != 0;
    }

    public int getKeyClass() {
        return (int) ulong(0x0, -1);
    }

    public int getKeyType() {
        return (int) ulong(0x100, -1);
    }

    public String getLabel() {
        byte[] v = attrs.get(0x3L);
        return v == null ? "" : new String(v, StandardCharsets.UTF_8);
    }

    public boolean isExtractable() {
        return getKeyClass() == CLASS_PUBLIC_KEY || bool(0x162, false);
    }

    public boolean isPersistent() {
        return bool(0x1, false);
    }

    /** Bits: CKA_VALUE_LEN × 8 for secret keys, CKA_MODULUS_BITS for RSA, the curve size for EC. */
    public int getSize() {
        if (attrs.containsKey(0x161L)) return (int) ulong(0x161, 0) * 8;
        if (attrs.containsKey(0x121L)) return (int) ulong(0x121, 0);
        byte[] mod = attrs.get(0x120L);
        if (mod != null) {
            int n = mod.length;
            int i = 0;
            while (i < n && mod[i] == 0) i++;
            return (n - i) * 8;
        }
        return -1;
    }
}
