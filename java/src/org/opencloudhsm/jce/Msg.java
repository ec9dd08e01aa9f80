package org.opencloudhsm.jce;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A message as name → value, the Java form of a messages.ts object: Long for
 * u64, byte[] for bytes, String, Boolean, List&lt;Wire.Attr&gt; for attrs, long[]
 * for u64 lists, Msg for records, List&lt;Msg&gt; for record lists, List&lt;String&gt;.
 */
public final class Msg {
    private final Map<String, Object> m = new LinkedHashMap<>();

    public static Msg of(Object... kv) {
        Msg x = new Msg();
        for (int i = 0; i < kv.length; i += 2) if (kv[i + 1] != null) x.put((String) kv[i], kv[i + 1]);
        return x;
    }

    public Msg put(String k, Object v) {
        if (v instanceof Integer) v = ((Integer) v).longValue();
        if (v != null) m.put(k, v);
        return this;
    }

    public Object get(String k) {
        return m.get(k);
    }

    public boolean has(String k) {
        return m.containsKey(k);
    }

    public Set<String> keys() {
        return m.keySet();
    }

    public long num(String k) {
        return (Long) m.get(k);
    }

    public byte[] bytes(String k) {
        return (byte[]) m.get(k);
    }

    public String str(String k) {
        return (String) m.get(k);
    }

    public boolean bool(String k) {
        Object v = m.get(k);
        return v != null && (Boolean) v;
    }

    public long[] nums(String k) {
        return (long[]) m.get(k);
    }

    @SuppressWarnings("unchecked")
    public List<Wire.Attr> attrs(String k) {
        return (List<Wire.Attr>) m.get(k);
    }

    @SuppressWarnings("unchecked")
    public List<String> strs(String k) {
        Object v = m.get(k);
        return v == null ? new ArrayList<>() : (List<String>) v;
    }
}
