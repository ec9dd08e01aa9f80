import java.lang.reflect.InvocationTargetException;

/**
 * Runs the guide's sample programs (java/samples) one after another in this JVM, as a
 * program would call them, and prints "N passed, N failed". Each sample asserts its own
 * acceptance condition (it throws when it does not hold).
 *
 *   java -cp samples:jar RunSamples Sample1 Sample2 ...
 */
public class RunSamples {
    public static void main(String[] args) {
        int passed = 0, failed = 0;
        for (String name : args) {
            long t0 = System.nanoTime();
            try {
                Class.forName(name).getMethod("main", String[].class).invoke(null, (Object) new String[0]);
                passed++;
                System.out.printf("ok %s (%d ms)%n", name, (System.nanoTime() - t0) / 1_000_000);
            } catch (InvocationTargetException e) {
                failed++;
                System.out.println("FAIL " + name + ": " + e.getCause());
                e.getCause().printStackTrace(System.out);
            } catch (ReflectiveOperationException e) {
                failed++;
                System.out.println("FAIL " + name + ": " + e);
            }
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
