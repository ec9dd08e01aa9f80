package org.opencloudhsm.jce;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.cavium.cfm2.CFM2Exception;

/**
 * PKCS#11 attribute templates and values as the wire carries them
 * (docs/protocol.md: a CK_ULONG is 8 bytes little-endian, a CK_BBOOL one byte),
 * and the getAttributeValue / mechanism helpers. Translation only.
 */
public final class Tpl {
    public final List<Wire.Attr> list = new ArrayList<>();

    public Tpl ulong(long type, long v) {
        byte[] b = new byte[8];
        for (int i = 0; i < 8; i++) b[i] = (byte) (v >>> (8 * i));
        list.add(new Wire.Attr(type, b));
        return this;
    }

    public Tpl bool(long type, boolean v) {
        list.add(new Wire.Attr(type, new byte[] {(byte) (v ? 1 : 0)}));
        return this;
    }

    public Tpl bytes(long type, byte[] v) {
        list.add(new Wire.Attr(type, v));
        return this;
    }

    public Tpl big(long type, BigInteger v) {
        return bytes(type, unsigned(v));
    }

    public Tpl label(String label) {
        if (label != null) list.add(new Wire.Attr(P11.CKA_LABEL, label.getBytes(StandardCharsets.UTF_8)));
        return this;
    }

    public static byte[] unsigned(BigInteger v) {
        byte[] b = v.toByteArray();
        if (b.length > 1 && b[0] == 0) {
            byte[] c = new byte[b.length - 1];
            System.arraycopy(b, 1, c, 0, c.length);
            return c;
        }
        return b;
    }

    public static long ulongOf(byte[] b) {
        long v = 0;
        for (int i = 0; i < b.length && i < 8; i++) v |= (long) (b[i] & 0xff) << (8 * i);
        return v;
    }

    public static boolean boolOf(byte[] b) {
        return b != null && b.length == 1 && b[0] != 0;
    }

    /** getAttributeValue: the readable attributes of `types` (absent: sensitive or not applicable). */
    public static Map<Long, byte[]> get(long handle, long keyEpoch, long... types) throws CFM2Exception {
        Msg r = Hsm.get().call("getAttributeValue", Msg.of("handle", handle, "types", types), keyEpoch);
        Map<Long, byte[]> out = new HashMap<>();
        List<Wire.Attr> attrs = r.attrs("attributes");
        long[] rvs = r.nums("rvs");
        int k = 0;
        for (int i = 0; i < types.length; i++) {
            if (rvs[i] == 0 && k < attrs.size()) {
                Wire.Attr a = attrs.get(k++);
                out.put(a.type, a.value);
            }
        }
        return out;
    }

    /** A Mechanism record. */
    public static Msg mech(long m) {
        return Msg.of("mechanism", m);
    }
}
