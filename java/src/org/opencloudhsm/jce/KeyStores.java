package org.opencloudhsm.jce;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.Key;
import java.security.KeyStoreException;
import java.security.KeyStoreSpi;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.UnrecoverableKeyException;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.crypto.Mac;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.cfm2.Util;
import com.cavium.key.CaviumKey;

/**
 * The two key stores of the guide.
 *
 * LSKS: read-write; the entries added with setKeyEntry / setCertificateEntry
 * are written by store() to the caller's stream (keytool's -keystore file):
 * per entry the alias, the key's handle in the HSM (a token key: a session key
 * given to setKeyEntry is made persistent, and its label becomes the alias) and
 * the certificate chain, or a trusted certificate. The file never holds key
 * material; its integrity is an HMAC-SHA256 under a key derived from the store
 * password (PBKDF2). aliases() and size() cover the stored entries; single
 * lookups of an alias the file does not hold fall back to the HSM (the first
 * key whose label is the alias).
 *
 * CAVIUM: read-only; every call asks the HSM. Aliases are the labels of the
 * HSM's keys; a private key shows a self-signed certificate made by the HSM.
 */
public final class KeyStores {
    private KeyStores() {}

    static KeyStoreException ksError(String m, Exception cause) {
        return new KeyStoreException(m, cause);
    }

    /* ───────────── LSKS ───────────── */

    public static final class Lsks extends KeyStoreSpi {
        static final byte[] MAGIC = {'L', 'S', 'K', 'S'};
        static final int VERSION = 1;

        static final class Entry {
            long handle; /* 0 for a trusted certificate */
            Certificate[] chain;
            Date date;
        }

        private final Map<String, Entry> entries = Collections.synchronizedMap(new LinkedHashMap<>());

        private static String norm(String alias) {
            return alias;
        }

        @Override
        public Key engineGetKey(String alias, char[] password) throws NoSuchAlgorithmException, UnrecoverableKeyException {
            Entry e = entries.get(norm(alias));
            try {
                if (e != null) return e.handle == 0 ? null : KeyBase.fromHandle(e.handle);
                return Util.findFirstKey(alias);
            } catch (CFM2Exception x) {
                UnrecoverableKeyException u = new UnrecoverableKeyException("HSM Error: " + x.getMessage());
                u.initCause(x);
                throw u;
            }
        }

        @Override
        public Certificate[] engineGetCertificateChain(String alias) {
            Entry e = entries.get(norm(alias));
            return e == null || e.handle == 0 || e.chain == null ? null : e.chain.clone();
        }

        @Override
        public Certificate engineGetCertificate(String alias) {
            Entry e = entries.get(norm(alias));
            return e == null || e.chain == null || e.chain.length == 0 ? null : e.chain[0];
        }

        @Override
        public Date engineGetCreationDate(String alias) {
            Entry e = entries.get(norm(alias));
            return e == null ? null : new Date(e.date.getTime());
        }

        @Override
        public void engineSetKeyEntry(String alias, Key key, char[] password, Certificate[] chain) throws KeyStoreException {
            if (!(key instanceof CaviumKey)) {
                throw new KeyStoreException("LSKS holds keys of the HSM only (CaviumKey), not a " + (key == null ? "null key" : key.getClass().getName())
                        + "; generate the key with the Cavium provider or import it with ImportKey.importKey");
            }
            if (key instanceof PrivateKey && (chain == null || chain.length == 0)) throw new KeyStoreException("a private key entry needs its certificate chain");
            CaviumKey k = (CaviumKey) key;
            try {
                /* The entry outlives this process: the key becomes a token key, labelled with the alias. */
                Util.persistKey(k);
                if (!alias.equals(k.getLabel())) {
                    Hsm.get().call("setAttributeValue", Msg.of("handle", k.getHandle(), "template", new Tpl().label(alias).list));
                    ((KeyBase) k).refresh();
                }
            } catch (CFM2Exception e) {
                throw ksError("HSM Error: " + e.getMessage(), e);
            }
            Entry e = new Entry();
            e.handle = k.getHandle();
            e.chain = chain == null ? null : chain.clone();
            e.date = new Date();
            entries.put(norm(alias), e);
        }

        @Override
        public void engineSetKeyEntry(String alias, byte[] key, Certificate[] chain) throws KeyStoreException {
            throw new KeyStoreException("LSKS does not take protected key bytes: key material never leaves the HSM in a key store");
        }

        @Override
        public void engineSetCertificateEntry(String alias, Certificate cert) throws KeyStoreException {
            Entry old = entries.get(norm(alias));
            if (old != null && old.handle != 0) throw new KeyStoreException("alias " + alias + " is a key entry");
            Entry e = new Entry();
            e.chain = new Certificate[] {cert};
            e.date = new Date();
            entries.put(norm(alias), e);
        }

        @Override
        public void engineDeleteEntry(String alias) {
            /* Removes the entry from the store; the key stays in the HSM (delete it with Util.deleteKey). */
            entries.remove(norm(alias));
        }

        @Override
        public Enumeration<String> engineAliases() {
            synchronized (entries) {
                return Collections.enumeration(new ArrayList<>(entries.keySet()));
            }
        }

        @Override
        public boolean engineContainsAlias(String alias) {
            if (entries.containsKey(norm(alias))) return true;
            try {
                return Util.findKeys(alias).length > 0;
            } catch (CFM2Exception e) {
                return false;
            }
        }

        @Override
        public int engineSize() {
            return entries.size();
        }

        @Override
        public boolean engineIsKeyEntry(String alias) {
            Entry e = entries.get(norm(alias));
            if (e != null) return e.handle != 0;
            return engineContainsAlias(alias);
        }

        @Override
        public boolean engineIsCertificateEntry(String alias) {
            Entry e = entries.get(norm(alias));
            return e != null && e.handle == 0;
        }

        @Override
        public String engineGetCertificateAlias(Certificate cert) {
            synchronized (entries) {
                for (Map.Entry<String, Entry> e : entries.entrySet()) {
                    Certificate[] c = e.getValue().chain;
                    if (c != null && c.length > 0 && c[0].equals(cert)) return e.getKey();
                }
            }
            return null;
        }

        static byte[] mac(char[] password, byte[] salt, byte[] content) throws IOException {
            try {
                byte[] k = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256", "SunJCE").generateSecret(new PBEKeySpec(password, salt, 10000, 256)).getEncoded();
                Mac m = Mac.getInstance("HmacSHA256", "SunJCE");
                m.init(new SecretKeySpec(k, "HmacSHA256"));
                java.util.Arrays.fill(k, (byte) 0);
                return m.doFinal(content);
            } catch (Exception e) {
                throw new IOException("cannot compute the LSKS integrity check: " + e.getMessage(), e);
            }
        }

        @Override
        public void engineStore(OutputStream stream, char[] password) throws IOException, NoSuchAlgorithmException, CertificateException {
            if (password == null || password.length == 0) throw new IOException("LSKS: a store password is needed to protect the file's integrity");
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            DataOutputStream o = new DataOutputStream(body);
            byte[] salt = new byte[16];
            new java.security.SecureRandom().nextBytes(salt);
            o.write(MAGIC);
            o.writeInt(VERSION);
            o.write(salt);
            synchronized (entries) {
                o.writeInt(entries.size());
                for (Map.Entry<String, Entry> me : entries.entrySet()) {
                    Entry e = me.getValue();
                    o.writeByte(e.handle != 0 ? 1 : 2);
                    o.writeUTF(me.getKey());
                    o.writeLong(e.date.getTime());
                    o.writeLong(e.handle);
                    Certificate[] c = e.chain == null ? new Certificate[0] : e.chain;
                    o.writeInt(c.length);
                    for (Certificate x : c) {
                        byte[] der = x.getEncoded();
                        o.writeInt(der.length);
                        o.write(der);
                    }
                }
            }
            o.flush();
            byte[] content = body.toByteArray();
            stream.write(content);
            stream.write(mac(password, salt, content));
            stream.flush();
        }

        @Override
        public void engineLoad(InputStream stream, char[] password) throws IOException, NoSuchAlgorithmException, CertificateException {
            entries.clear();
            if (stream == null) return;
            byte[] all = stream.readAllBytes();
            if (all.length < 4 + 4 + 16 + 4 + 32 || !java.util.Arrays.equals(java.util.Arrays.copyOf(all, 4), MAGIC)) {
                throw new IOException("not an LSKS key store (bad magic or truncated)");
            }
            byte[] content = java.util.Arrays.copyOf(all, all.length - 32);
            byte[] tag = java.util.Arrays.copyOfRange(all, all.length - 32, all.length);
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(content));
            in.skipBytes(4);
            int v = in.readInt();
            if (v != VERSION) throw new IOException("LSKS version " + v + " is not supported (this provider reads version " + VERSION + ")");
            byte[] salt = new byte[16];
            in.readFully(salt);
            /* As with JKS, load(stream, null) reads the entries without checking the file's integrity. */
            if (password != null && !MessageDigest.isEqual(mac(password, salt, content), tag)) {
                throw new IOException("Keystore was tampered with, or password was incorrect", new UnrecoverableKeyException("Password verification failed"));
            }
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            int n = in.readInt();
            if (n < 0 || n > 100_000) throw new IOException("LSKS: implausible entry count " + n);
            for (int i = 0; i < n; i++) {
                int type = in.readByte();
                String alias = in.readUTF();
                Entry e = new Entry();
                e.date = new Date(in.readLong());
                e.handle = in.readLong();
                int c = in.readInt();
                if (c < 0 || c > 64) throw new IOException("LSKS: implausible chain length " + c);
                e.chain = new Certificate[c];
                for (int j = 0; j < c; j++) {
                    int len = in.readInt();
                    if (len < 0 || len > content.length) throw new IOException("LSKS: truncated certificate");
                    byte[] der = new byte[len];
                    in.readFully(der);
                    e.chain[j] = cf.generateCertificate(new ByteArrayInputStream(der));
                }
                if ((type == 1) != (e.handle != 0)) throw new IOException("LSKS: entry " + alias + " is inconsistent");
                entries.put(alias, e);
            }
            if (in.available() != 0) throw new IOException("LSKS: bytes after the last entry");
        }
    }

    /* ───────────── CAVIUM ───────────── */

    public static final class Cavium extends KeyStoreSpi {
        private static List<CaviumKey> keys(String label) throws CFM2Exception {
            List<CaviumKey> out = new ArrayList<>();
            Enumeration<CaviumKey> e = Util.findAllKeys(label);
            while (e.hasMoreElements()) out.add(e.nextElement());
            return out;
        }

        private static KeyStoreException err(CFM2Exception e) {
            return ksError("HSM Error: " + e.getMessage(), e);
        }

        private static RuntimeException rt(CFM2Exception e) {
            return new java.security.ProviderException("HSM Error: " + e.getMessage(), e);
        }

        private static CaviumKey first(String alias, boolean privateOrSecretOnly) {
            try {
                for (CaviumKey k : keys(alias)) if (!privateOrSecretOnly || !(k instanceof java.security.PublicKey)) return k;
                return null;
            } catch (CFM2Exception e) {
                throw rt(e);
            }
        }

        @Override
        public Key engineGetKey(String alias, char[] password) throws UnrecoverableKeyException {
            try {
                return first(alias, true);
            } catch (RuntimeException e) {
                UnrecoverableKeyException u = new UnrecoverableKeyException(e.getMessage());
                u.initCause(e);
                throw u;
            }
        }

        @Override
        public Certificate[] engineGetCertificateChain(String alias) {
            Certificate c = engineGetCertificate(alias);
            return c == null ? null : new Certificate[] {c};
        }

        @Override
        public Certificate engineGetCertificate(String alias) {
            CaviumKey k = first(alias, true);
            if (!(k instanceof PrivateKey)) return null;
            return SelfSigned.make((KeyBase) k);
        }

        @Override
        public Date engineGetCreationDate(String alias) {
            return engineContainsAlias(alias) ? new Date() : null;
        }

        @Override
        public void engineSetKeyEntry(String alias, Key key, char[] password, Certificate[] chain) throws KeyStoreException {
            throw new KeyStoreException("the CAVIUM key store is read-only: use LSKS to add entries");
        }

        @Override
        public void engineSetKeyEntry(String alias, byte[] key, Certificate[] chain) throws KeyStoreException {
            throw new KeyStoreException("the CAVIUM key store is read-only: use LSKS to add entries");
        }

        @Override
        public void engineSetCertificateEntry(String alias, Certificate cert) throws KeyStoreException {
            throw new KeyStoreException("the CAVIUM key store is read-only: use LSKS to add entries");
        }

        @Override
        public void engineDeleteEntry(String alias) throws KeyStoreException {
            throw new KeyStoreException("the CAVIUM key store is read-only: delete keys with Util.deleteKey");
        }

        @Override
        public Enumeration<String> engineAliases() {
            try {
                List<String> out = new ArrayList<>();
                for (CaviumKey k : keys(null)) if (!(k instanceof java.security.PublicKey) && !out.contains(k.getLabel())) out.add(k.getLabel());
                return Collections.enumeration(out);
            } catch (CFM2Exception e) {
                throw rt(e);
            }
        }

        @Override
        public boolean engineContainsAlias(String alias) {
            return first(alias, true) != null;
        }

        /** The guide's quirk: the number of all key objects in the HSM. */
        @Override
        public int engineSize() {
            try {
                return Util.findKeys(null).length;
            } catch (CFM2Exception e) {
                throw rt(e);
            }
        }

        @Override
        public boolean engineIsKeyEntry(String alias) {
            return engineContainsAlias(alias);
        }

        @Override
        public boolean engineIsCertificateEntry(String alias) {
            return false;
        }

        @Override
        public String engineGetCertificateAlias(Certificate cert) {
            return null;
        }

        @Override
        public void engineStore(OutputStream stream, char[] password) throws IOException {
            throw new IOException("the CAVIUM key store is read-only and has no file: it is the HSM");
        }

        @Override
        public void engineLoad(InputStream stream, char[] password) throws IOException {
            if (stream != null) throw new IOException("the CAVIUM key store is the HSM itself: load it with load(null, null)");
        }
    }

    /* ───────────── a self-signed certificate made by the HSM ───────────── */

    static final class SelfSigned {
        static byte[] tlv(int tag, byte[]... parts) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (byte[] p : parts) b.write(p, 0, p.length);
            byte[] v = b.toByteArray();
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            o.write(tag);
            Sigs.derLen(o, v.length);
            o.write(v, 0, v.length);
            return o.toByteArray();
        }

        static byte[] name(String cn) {
            byte[] oid = {0x06, 0x03, 0x55, 0x04, 0x03};
            return tlv(0x30, tlv(0x31, tlv(0x30, oid, tlv(0x0c, cn.getBytes(StandardCharsets.UTF_8)))));
        }

        static byte[] time(Date d) {
            java.text.SimpleDateFormat f = new java.text.SimpleDateFormat("yyyyMMddHHmmss'Z'");
            f.setTimeZone(java.util.TimeZone.getTimeZone("UTC"));
            return tlv(0x18, f.format(d).getBytes(StandardCharsets.US_ASCII));
        }

        static X509Certificate make(KeyBase priv) {
            byte[] spki = priv.getAttributes().get(P11.CKA_PUBLIC_KEY_INFO);
            if (spki == null) return null;
            boolean rsa = priv.getAlgorithm().equals("RSA");
            byte[] algId = rsa ? Wire.unhex("300d06092a864886f70d01010b0500") /* sha256WithRSAEncryption */
                    : Wire.unhex("300a06082a8648ce3d040302"); /* ecdsa-with-SHA256 */
            Date now = new Date();
            String cn = priv.getLabel().isEmpty() ? "handle " + priv.getHandle() : priv.getLabel();
            byte[] tbs = tlv(0x30, Wire.unhex("a003020102"), tlv(0x02, BigInteger.valueOf(priv.getHandle()).add(BigInteger.ONE).toByteArray()), algId, name(cn),
                    tlv(0x30, time(new Date(now.getTime() - 60_000)), time(new Date(now.getTime() + 3650L * 86_400_000))), name(cn), spki);
            try {
                Signature s = Signature.getInstance(rsa ? "SHA256withRSA" : "SHA256withECDSA", "Cavium");
                s.initSign((PrivateKey) priv);
                s.update(tbs);
                byte[] sig = s.sign();
                byte[] bitString = new byte[sig.length + 1];
                System.arraycopy(sig, 0, bitString, 1, sig.length);
                byte[] der = tlv(0x30, tbs, algId, tlv(0x03, bitString));
                return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der));
            } catch (Exception e) {
                return null;
            }
        }
    }
}
