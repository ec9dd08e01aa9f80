import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.InvalidKeyException;
import java.security.Security;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;

import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import com.cavium.cfm2.ImportKey;
import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.parameter.CaviumKeyGenAlgorithmParameterSpec;
import com.cavium.provider.CaviumProvider;

/** Software RSA (SunRsaSign), AES (SunJCE) and EC secp256r1 (SunEC) keys imported into the HSM; importing a CaviumKey fails. */
public class KeyImportHSM {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA", "SunRsaSign");
            rsa.initialize(2048);
            KeyPair rkp = rsa.generateKeyPair();
            CaviumKey r = ImportKey.importKey(rkp.getPrivate(), new CaviumKeyGenAlgorithmParameterSpec("rsaaeswraptestprivatekeyimported", true, false));
            KeyGenerator kg = KeyGenerator.getInstance("AES", "SunJCE");
            kg.init(256);
            SecretKey sk = kg.generateKey();
            CaviumKey a = ImportKey.importKey(sk, new CaviumKeyGenAlgorithmParameterSpec("myAesKey1", true, false));
            KeyPairGenerator ec = KeyPairGenerator.getInstance("EC", "SunEC");
            ec.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair ekp = ec.generateKeyPair();
            CaviumKey e = ImportKey.importKey(ekp.getPrivate(), new CaviumKeyGenAlgorithmParameterSpec("ECPrivate1", true, false));
            if (r.getHandle() == a.getHandle() || a.getHandle() == e.getHandle() || r.getHandle() == e.getHandle()) throw new AssertionError("three new handles");
            if (!Arrays.equals(a.getEncoded(), sk.getEncoded())) throw new AssertionError("the imported AES key has the same bytes");
            /* The imported EC key signs in the HSM; SunEC verifies with the original public key. */
            Signature s = Signature.getInstance("SHA256withECDSA", "Cavium");
            s.initSign((java.security.PrivateKey) e);
            s.update("imported".getBytes());
            byte[] sig = s.sign();
            Signature v = Signature.getInstance("SHA256withECDSA", "SunEC");
            v.initVerify(ekp.getPublic());
            v.update("imported".getBytes());
            if (!v.verify(sig)) throw new AssertionError("SunEC verifies the imported key's signature");
            try {
                ImportKey.importKey(a, new CaviumKeyGenAlgorithmParameterSpec("again", true, false));
                throw new AssertionError("importing a CaviumKey must fail");
            } catch (InvalidKeyException expected) {
                if (!expected.getMessage().equals("The key is an instance of CaviumKey and cannot be imported")) throw new AssertionError(expected.getMessage());
            }
            System.out.println("imported handles " + r.getHandle() + ", " + a.getHandle() + ", " + e.getHandle());
        } finally {
            lm.logout();
        }
    }
}
