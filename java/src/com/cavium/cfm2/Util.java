package com.cavium.cfm2;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;

import com.cavium.key.CaviumKey;
import com.cavium.key.CaviumKeyAttributes;

import org.opencloudhsm.jce.Hsm;
import org.opencloudhsm.jce.KeyBase;
import org.opencloudhsm.jce.Msg;
import org.opencloudhsm.jce.P11;
import org.opencloudhsm.jce.Tpl;

/** Key management helpers of the guide (persistKey, deleteKey) and of its lineage (find keys, key objects from handles). */
public final class Util {
    private Util() {}

    /**
     * The guide's switch for the 1.4.x behaviour (AES-CBC wrap and unwrap).
     * This HSM offers no CBC key wrap, so the switch changes nothing (docs/jce.md).
     */
    public static boolean ENABLE_14_X_BEHAVIOUR = false;

    private static KeyBase base(CaviumKey key) throws CFM2Exception {
        if (!(key instanceof KeyBase)) throw new CFM2Exception(0x60, "ERR_KEY_HANDLE_INVALID", "not a key object of this provider");
        return (KeyBase) key;
    }

    /**
     * Make a session key a token key: the HSM copies it with CKA_TOKEN TRUE, the
     * session object is destroyed, and the key object takes the new handle.
     */
    public static void persistKey(CaviumKey key) throws CFM2Exception {
        KeyBase k = base(key);
        synchronized (k) {
            if (k.isPersistent()) return;
            Hsm h = Hsm.get();
            long copy = h.call("copyObject", Msg.of("handle", k.getHandle(), "template", new Tpl().bool(P11.CKA_TOKEN, true).list), k.epoch()).num("handle");
            h.call("destroyObject", Msg.of("handle", k.getHandle()), k.epoch());
            k.replace(copy);
        }
    }

    /** Delete the key from the HSM. */
    public static void deleteKey(CaviumKey key) throws CFM2Exception {
        KeyBase k = base(key);
        Hsm.get().call("destroyObject", Msg.of("handle", k.getHandle()), k.epoch());
    }

    /** The attributes of a key handle in the byte form of CaviumKeyAttributes. */
    public static byte[] getKeyAttributes(long handle) throws CFM2Exception {
        return KeyBase.fromHandle(handle).getAttributes().getEncoded();
    }

    /** A key object for a handle (token keys, or session keys of this JVM's session). */
    public static CaviumKey getKey(long handle) throws CFM2Exception {
        return KeyBase.fromHandle(handle);
    }

    /** The handles of the keys with this label (every key when label is null). */
    public static long[] findKeys(String label) throws CFM2Exception {
        Tpl t = new Tpl();
        if (label != null) t.label(label);
        return Hsm.get().call("findObjects", Msg.of("template", t.list)).nums("handles");
    }

    /** The first key with this label, or null (labels need not be unique). */
    public static CaviumKey findFirstKey(String label) throws CFM2Exception {
        for (long h : findKeys(label)) {
            CaviumKey k = keyOrNull(h);
            if (k != null) return k;
        }
        return null;
    }

    /** Every key with this label (every key when label is null), as key objects. */
    public static Enumeration<CaviumKey> findAllKeys(String label) throws CFM2Exception {
        List<CaviumKey> out = new ArrayList<>();
        for (long h : findKeys(label)) {
            CaviumKey k = keyOrNull(h);
            if (k != null) out.add(k);
        }
        return Collections.enumeration(out);
    }

    private static CaviumKey keyOrNull(long h) throws CFM2Exception {
        try {
            return KeyBase.fromHandle(h);
        } catch (CFM2Exception e) {
            if ("ERR_KEY_TYPE_INCONSISTENT".equals(e.getCode())) return null; /* a certificate or another non-key object */
            throw e;
        }
    }

    /** For tools: the attribute object of a key. */
    public static CaviumKeyAttributes attributesOf(CaviumKey key) {
        return key.getAttributes();
    }
}
