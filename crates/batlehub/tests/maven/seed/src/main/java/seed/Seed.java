package seed;

public class Seed {
    public static String name() {
        return org.apache.commons.lang3.StringUtils.capitalize("seed");
    }
}
