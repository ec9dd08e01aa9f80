package org.opencloudhsm.jce;

/** The tiny test runner: counts checks, prints failures, ends with "N passed, N failed". */
public final class Check {
    public int passed, failed;

    public interface Body {
        void run() throws Exception;
    }

    public void check(boolean ok, String what) {
        if (ok) {
            passed++;
        } else {
            failed++;
            System.out.println("FAIL " + what);
        }
    }

    /** body must throw a Wire.WireException with this code. */
    public void throwsCode(String code, Body body, String what) {
        try {
            body.run();
            check(false, what + ": accepted, expected " + code);
        } catch (Wire.WireException e) {
            check(e.code.equals(code), what + ": " + e.code + " (" + e.getMessage() + "), expected " + code);
        } catch (Exception e) {
            check(false, what + ": " + e);
        }
    }

    /** body must throw an exception of this class (or a subclass). */
    public void throwsType(Class<? extends Throwable> type, Body body, String what) {
        try {
            body.run();
            check(false, what + ": accepted, expected " + type.getSimpleName());
        } catch (Throwable e) {
            check(type.isInstance(e), what + ": got " + e + ", expected " + type.getSimpleName());
        }
    }

    public void summary() {
        System.out.println(passed + " passed, " + failed + " failed");
        if (failed > 0) System.exit(1);
    }
}
