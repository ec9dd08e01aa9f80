package org.opencloudhsm.jce;

import java.util.Arrays;

import javax.crypto.BadPaddingException;

/**
 * PKCS#5/PKCS#7 padding for AES/ECB/PKCS5Padding and DESede/ECB/PKCS5Padding.
 * PKCS#11 (and so the HSM) has no ECB mechanism with padding: CKM_AES_ECB and
 * CKM_DES3_ECB take whole blocks. The padding is a data format, not a key or a
 * policy, so the provider adds it before encryption and checks it after
 * decryption, as SunPKCS11 does over the same mechanisms (docs/jce.md). The
 * check looks at every pad byte position whatever the data, without an early
 * exit, and answers every malformed padding with one message.
 */
final class Padding {
    private Padding() {}

    static byte[] pad(byte[] data, int block) {
        int n = block - data.length % block;
        byte[] out = Arrays.copyOf(data, data.length + n);
        Arrays.fill(out, data.length, out.length, (byte) n);
        return out;
    }

    static byte[] unpad(byte[] buf, int block) throws BadPaddingException {
        if (buf.length == 0 || buf.length % block != 0) throw new BadPaddingException("the padding is malformed");
        int n = buf[buf.length - 1] & 0xff;
        /* bad != 0 when n == 0 or n > block */
        int bad = ((n - 1) >>> 31) | ((block - n) >>> 31);
        for (int i = 1; i <= block; i++) {
            int inPad = (i - n - 1) >>> 31; /* 1 when i <= n */
            int diff = (buf[buf.length - i] & 0xff) ^ n;
            bad |= inPad & (((diff + 0xff) >>> 8) & 1);
        }
        if (bad != 0) {
            Arrays.fill(buf, (byte) 0);
            throw new BadPaddingException("the padding is malformed");
        }
        byte[] out = Arrays.copyOf(buf, buf.length - n);
        Arrays.fill(buf, (byte) 0);
        return out;
    }
}
