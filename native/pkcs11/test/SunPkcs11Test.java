/*
 * SunPkcs11Test.java: Java 17's SunPKCS11 provider configured with
 * libazcloudhsm_pkcs11.so, as a Java application would use it.
 *
 *   java SunPkcs11Test <sunpkcs11.cfg> <user:password>
 *
 * The KeyStore "PKCS11" loads with the PIN; EC P-256 and RSA-2048 key pairs are
 * generated in the HSM through KeyPairGenerator; SHA256withECDSA and
 * SHA256withRSA signatures are made in the HSM and verified in software (the
 * default providers, with the public key exported from the HSM); a tampered
 * message does not verify. The last line is "N passed, N failed".
 */
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.Provider;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Collections;

public class SunPkcs11Test {
    static int passed, failed;

    static void check(String what, boolean ok) {
        if (ok) {
            passed++;
            System.out.println("ok   " + what);
        } else {
            failed++;
            System.out.println("FAIL " + what);
        }
    }

    /* Sign in the HSM, verify with the default (software) provider. */
    static void signAndVerify(Provider p11, KeyPair kp, String alg, String keyAlg) throws Exception {
        byte[] data = ("signed inside the HSM with " + alg).getBytes(StandardCharsets.UTF_8);
        Signature s = Signature.getInstance(alg, p11);
        s.initSign(kp.getPrivate());
        s.update(data, 0, 10);
        s.update(data, 10, data.length - 10);
        byte[] sig = s.sign();
        check(alg + " signature made by " + s.getProvider().getName(), s.getProvider() == p11 && sig.length > 0);

        PublicKey soft = KeyFactory.getInstance(keyAlg).generatePublic(new X509EncodedKeySpec(kp.getPublic().getEncoded()));
        Signature v = Signature.getInstance(alg);
        v.initVerify(soft);
        v.update(data);
        check(alg + " verifies in software (" + v.getProvider().getName() + ")", v.verify(sig));
        v.initVerify(soft);
        data[0] ^= 1;
        v.update(data);
        check(alg + " does not verify a changed message", !v.verify(sig));
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: java SunPkcs11Test <sunpkcs11.cfg> <user:password>");
            System.exit(2);
        }
        try {
            Provider p11 = Security.getProvider("SunPKCS11").configure(args[0]);
            Security.addProvider(p11);
            check("SunPKCS11 configured: " + p11.getName(), p11.getName().startsWith("SunPKCS11-"));

            KeyStore ks = KeyStore.getInstance("PKCS11", p11);
            ks.load(null, args[1].toCharArray());
            check("KeyStore PKCS11 loads with the PIN (" + Collections.list(ks.aliases()).size() + " entries)", true);

            KeyPairGenerator ec = KeyPairGenerator.getInstance("EC", p11);
            ec.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair eck = ec.generateKeyPair();
            check("EC P-256 key pair generated in the HSM", eck.getPrivate().getClass().getName().contains("P11"));
            signAndVerify(p11, eck, "SHA256withECDSA", "EC");

            KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA", p11);
            rsa.initialize(2048);
            KeyPair rsak = rsa.generateKeyPair();
            check("RSA-2048 key pair generated in the HSM", rsak.getPrivate().getClass().getName().contains("P11"));
            signAndVerify(p11, rsak, "SHA256withRSA", "RSA");
        } catch (Exception e) {
            failed++;
            System.out.println("FAIL " + e);
            e.printStackTrace(System.out);
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
