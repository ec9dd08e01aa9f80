import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.security.Signature;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumAESKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * One failure scenario per run, printing "<exception class>: <message> [status]" so the
 * test can check that each is a specific exception with a clear message (and that the
 * JVM ends: nothing hangs).
 *
 *   java BadInput login user password|hold|operate|hsm
 */
public class BadInput {
    static void report(Throwable e) {
        Throwable c = e;
        while (c != null && !(c instanceof CFM2Exception)) c = c.getCause();
        String status = c == null ? "" : String.format(" [status 0x%x, disconnect %b, auth %b]", ((CFM2Exception) c).getStatus(),
                CFM2Exception.isClientDisconnectError(c), CFM2Exception.isAuthenticationFailure(c));
        System.out.println(e.getClass().getName() + ": " + e.getMessage() + status);
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        switch (args[0]) {
            case "login": /* explicit login with the arguments given */
                try {
                    LoginManager.getInstance().login("PARTITION_1", args[1], args[2]);
                    System.out.println("logged in");
                    LoginManager.getInstance().logout();
                } catch (Exception e) {
                    report(e);
                }
                break;
            case "hold": /* log in, say READY, wait for a line on stdin, log out */
                LoginManager.getInstance().login("PARTITION_1", "cu1", "user1234");
                System.out.println("READY");
                new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
                LoginManager.getInstance().logout();
                System.out.println("logged out");
                break;
            case "operate": /* an operation without an explicit login */
                try {
                    KeyGenerator kg = KeyGenerator.getInstance("AES", "Cavium");
                    kg.init(new CaviumAESKeyGenParameterSpec(256, "badinput", true, false));
                    System.out.println("generated " + kg.generateKey());
                } catch (Exception e) {
                    report(e);
                }
                break;
            case "hsm": { /* refusals the HSM makes, as Java exceptions */
                LoginManager.getInstance().login("PARTITION_1", "cu1", "user1234");
                try {
                    KeyGenerator kg = KeyGenerator.getInstance("AES", "Cavium");
                    kg.init(new CaviumAESKeyGenParameterSpec(100, "odd", true, false));
                    kg.generateKey();
                } catch (Exception e) {
                    report(e);
                }
                KeyGenerator kg = KeyGenerator.getInstance("AES", "Cavium");
                kg.init(new CaviumAESKeyGenParameterSpec(256, "nex", false, false));
                SecretKey nex = kg.generateKey();
                System.out.println("getEncoded of a non-extractable key: " + nex.getEncoded());
                try {
                    Cipher c = Cipher.getInstance("AESWrap", "Cavium");
                    c.init(Cipher.WRAP_MODE, nex);
                    c.wrap(nex);
                } catch (Exception e) {
                    report(e);
                }
                KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "Cavium");
                kpg.initialize(256);
                KeyPair kp = kpg.generateKeyPair();
                try {
                    Signature s = Signature.getInstance("SHA256withRSA", "Cavium");
                    s.initSign(kp.getPrivate());
                } catch (Exception e) {
                    report(e);
                }
                try {
                    Cipher c = Cipher.getInstance("AES/CBC/NoPadding", "Cavium");
                    c.init(Cipher.ENCRYPT_MODE, nex);
                    c.doFinal(new byte[15]);
                } catch (Exception e) {
                    report(e);
                }
                try {
                    /* Ciphertext of 32 zero bytes, so the padded decryption always ends in a 0x00
                     * byte, never valid PKCS#7 padding. (Decrypting 32 arbitrary bytes instead
                     * would end in valid padding about once in 256 runs.) */
                    javax.crypto.spec.IvParameterSpec iv = new javax.crypto.spec.IvParameterSpec(new byte[16]);
                    Cipher e = Cipher.getInstance("AES/CBC/NoPadding", "Cavium");
                    e.init(Cipher.ENCRYPT_MODE, nex, iv);
                    byte[] zeros = e.doFinal(new byte[32]);
                    Cipher c = Cipher.getInstance("AES/CBC/PKCS5Padding", "Cavium");
                    c.init(Cipher.DECRYPT_MODE, nex, iv);
                    c.doFinal(zeros);
                    System.out.println("a padded decryption of bad padding succeeded");
                } catch (Exception e) {
                    report(e);
                }
                try {
                    com.cavium.cfm2.Util.getKey(999999999L);
                } catch (Exception e) {
                    report(e);
                }
                LoginManager.getInstance().logout();
                break;
            }
            default:
                throw new IllegalArgumentException(args[0]);
        }
    }
}
