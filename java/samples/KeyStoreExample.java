import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.security.Key;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.UUID;

import com.cavium.cfm2.LoginManager;
import com.cavium.cfm2.Util;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumECGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * The two key stores: CAVIUM finds an HSM key by its label and shows a self-signed
 * certificate the HSM signs; LSKS keeps an entry through store() and load(), checks
 * its password, and falls back to the HSM for an alias it does not hold.
 */
public class KeyStoreExample {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            String label = "ks-" + UUID.randomUUID();
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "Cavium");
            kpg.initialize(new CaviumECGenParameterSpec("secp256r1", label + "-pub", label, false, true));
            KeyPair kp = kpg.generateKeyPair();

            KeyStore cav = KeyStore.getInstance("CAVIUM", "Cavium");
            cav.load(null, null);
            Key k = cav.getKey(label, null);
            if (!(k instanceof CaviumKey) || ((CaviumKey) k).getHandle() != ((CaviumKey) kp.getPrivate()).getHandle()) throw new AssertionError("CAVIUM finds the key by label");
            X509Certificate cert = (X509Certificate) cav.getCertificate(label);
            cert.verify(cert.getPublicKey());
            if (!cert.getSubjectX500Principal().getName().equals("CN=" + label)) throw new AssertionError("a self-signed certificate named after the label");
            if (!java.util.Arrays.equals(cert.getPublicKey().getEncoded(), kp.getPublic().getEncoded())) throw new AssertionError("the certificate holds the key's public key");
            if (!Collections.list(cav.aliases()).contains(label) || cav.size() < 2) throw new AssertionError("aliases and size");
            try {
                cav.setCertificateEntry("x", cert);
                throw new AssertionError("CAVIUM is read-only");
            } catch (KeyStoreException expected) {
                /* read-only */
            }

            KeyStore ls = KeyStore.getInstance("LSKS");
            if (!ls.getProvider().getName().equals("Cavium")) throw new AssertionError("LSKS comes from Cavium");
            ls.load(null, null);
            String alias = "lsks-" + UUID.randomUUID();
            ls.setKeyEntry(alias, kp.getPrivate(), "cavium".toCharArray(), new Certificate[] {cert});
            ls.setCertificateEntry("trusted", cert);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ls.store(out, "cavium".toCharArray());
            KeyStore again = KeyStore.getInstance("LSKS", "Cavium");
            again.load(new ByteArrayInputStream(out.toByteArray()), "cavium".toCharArray());
            if (again.size() != 2 || !again.isKeyEntry(alias) || !again.isCertificateEntry("trusted")) throw new AssertionError("two entries after store and load");
            PrivateKey back = (PrivateKey) again.getKey(alias, "cavium".toCharArray());
            if (((CaviumKey) back).getHandle() != ((CaviumKey) kp.getPrivate()).getHandle() || !((CaviumKey) back).getLabel().equals(alias)) {
                throw new AssertionError("the entry is the HSM key, labelled with the alias");
            }
            if (!again.getCertificate(alias).equals(cert)) throw new AssertionError("the chain is kept");
            if (again.getKey(label + "-pub", null) == null || Collections.list(again.aliases()).contains(label + "-pub")) {
                throw new AssertionError("a single lookup falls back to the HSM; aliases() lists the stored entries only");
            }
            try {
                KeyStore.getInstance("LSKS", "Cavium").load(new ByteArrayInputStream(out.toByteArray()), "wrong".toCharArray());
                throw new AssertionError("a wrong password must be refused");
            } catch (IOException expected) {
                /* the integrity check */
            }
            byte[] bytes = out.toByteArray();
            bytes[20] ^= 1;
            try {
                KeyStore.getInstance("LSKS", "Cavium").load(new ByteArrayInputStream(bytes), "cavium".toCharArray());
                throw new AssertionError("a changed file must be refused");
            } catch (IOException expected) {
                /* the integrity check */
            }
            Util.deleteKey((CaviumKey) kp.getPrivate());
            Util.deleteKey((CaviumKey) kp.getPublic());
            System.out.println("CAVIUM and LSKS key stores behave");
        } finally {
            lm.logout();
        }
    }
}
