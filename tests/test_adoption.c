/* Adoption: the README's drop-in section runs as printed
 * (tests/install/test-readme.sh), and --version tells what a program was
 * built with. The installed package and hil-init are checked by
 * `make test-install` (tests/install/test-install.sh). */
#include "selftest.h"

HIL_SUITE(adoption, "tags=docs")

static void self_path(char* buf, size_t size) {
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0) HIL_FAIL("readlink /proc/self/exe: %s", strerror(errno));
    buf[n] = 0;
}

HIL_TEST_META(adoption, version_prints_the_version_and_optional_libraries, "timeout=30") {
    char self[512], want[256];
    st_result r;
    const char* argv[] = {self, "--version", NULL};
    /* --version answers even when the configuration is broken */
    const char* broken[] = {self, "-c", "/nonexistent/hil.conf", "--set", "nokey", "--version", NULL};
    self_path(self, sizeof self);
    snprintf(want, sizeof want, "hil %s\noptional libraries:%s%s%s%s\n", HIL_VERSION,
#ifdef HIL_HAVE_LIBYAML
             " libyaml",
#else
             "",
#endif
#ifdef HIL_HAVE_LIBSERIALPORT
             " libserialport",
#else
             "",
#endif
#ifdef HIL_HAVE_LIBSOCKETCAN
             " libsocketcan",
#else
             "",
#endif
#if defined(HIL_HAVE_LIBYAML) || defined(HIL_HAVE_LIBSERIALPORT) || defined(HIL_HAVE_LIBSOCKETCAN)
             ""
#else
             " none"
#endif
    );
    st_run(argv, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT_STREQ(r.out, want);
    st_result_free(&r);
    st_run(broken, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT_STREQ(r.out, want);
    st_result_free(&r);
}

HIL_TEST_META(adoption, version_macros, "") {
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", HIL_VERSION_MAJOR, HIL_VERSION_MINOR, HIL_VERSION_PATCH);
    HIL_ASSERT_STREQ(v, HIL_VERSION);
    HIL_ASSERT_EQ(HIL_VERSION_NUMBER, HIL_VERSION_MAJOR * 10000 + HIL_VERSION_MINOR * 100 + HIL_VERSION_PATCH);
    HIL_ASSERT(HIL_VERSION_AT_LEAST(0, 0, 0));
    HIL_ASSERT(HIL_VERSION_AT_LEAST(HIL_VERSION_MAJOR, HIL_VERSION_MINOR, HIL_VERSION_PATCH));
    HIL_ASSERT(!HIL_VERSION_AT_LEAST(HIL_VERSION_MAJOR, HIL_VERSION_MINOR + 1, 0));
    HIL_ASSERT(!HIL_VERSION_AT_LEAST(HIL_VERSION_MAJOR + 1, 0, 0));
}

HIL_TEST_META(adoption, readme_drop_in_runs_as_printed, "timeout=300") {
    char env_build[600];
    st_result r;
    const char* argv[] = {"sh", "tests/install/test-readme.sh", NULL};
    const char* env[] = {env_build, NULL};
    if (access("tests/install/test-readme.sh", R_OK) != 0)
        HIL_SKIP("run from the hil source tree (make test does)");
    snprintf(env_build, sizeof env_build, "BUILD=%s", st_build_dir());
    st_run(argv, env, 290000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "test-readme: the drop-in section runs as printed"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "test-readme: every 'make TARGET'"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST_META(adoption, docs_version_check_example_runs, "timeout=30") {
    char bin[512];
    st_result r;
    const char* argv[] = {bin, "--color=never", NULL};
    snprintf(bin, sizeof bin, "%s/doc-examples/version_check", st_build_dir());
    if (access(bin, X_OK) != 0) HIL_FAIL("%s is missing: run make (it extracts docs/*.md examples)", bin);
    st_run(argv, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "1 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
}
