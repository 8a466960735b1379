/* The single-file header made by amalgamate.py behaves like the headers:
 * the whole self-test suite, built against it, passes. */
#include "selftest.h"

HIL_SUITE(amalgamation, "tags=build")

HIL_TEST_META(amalgamation, the_suite_passes_against_the_single_header, "timeout=600") {
    char bin[512], last[256];
    st_result r;
    const char* end;
    const char* line;
#ifdef HIL_TEST_SINGLE
    HIL_SKIP("this is the single-header build itself");
#endif
    snprintf(bin, sizeof bin, "%s/selftest-single", st_build_dir());
    if (access(bin, X_OK) != 0) {
        ST_SKIP_UNLESS_PROG("python3", "python3");
        HIL_FAIL("%s is missing although python3 is installed: run make", bin);
    }
    {
        char bd[600];
        const char* argv[] = {bin, "--color=never", "-q", "--exclude-tag", "slow", "--exclude-tag", "vm", "--exclude-tag", "hardware",
                              /* the firmware tests run in make test-mcu, where the firmware is built first */
                              "--exclude-tag", "mcu", NULL, NULL};
        snprintf(bd, sizeof bd, "--set=params.build_dir=%s", st_build_dir());
        argv[11] = bd;
        st_run(argv, NULL, 590000, &r);
    }
    end = r.out + r.len;
    while (end > r.out && end[-1] == '\n') end--;
    line = end;
    while (line > r.out && line[-1] != '\n') line--;
    snprintf(last, sizeof last, "%.*s", (int)(end - line), line);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(strstr(last, " passed, 0 failed, "), "closing line: %s", last);
    st_result_free(&r);
}
