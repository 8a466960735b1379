/* The bundled reporters (console, JUnit, TAP, JSON), each tested alone
 * through the extension harness: a private bus and config, fabricated run
 * events, and what the reporter wrote. */
#include "selftest.h"
#include <fcntl.h>

HIL_SUITE(reporters, "tags=core")

/* A small fabricated run: one passed, one failed with output, one skipped. */
typedef struct fake_run {
    hil_test_info info[3];
    hil_test_result res[3];
    hil_failure fail;
    hil_run_summary sum;
} fake_run;

static void fake_init(fake_run* f) {
    static const char* names[3] = {"alpha", "beta", "gamma"};
    static const char* full[3] = {"demo.alpha", "demo.beta", "demo.gamma"};
    static const hil_outcome outs[3] = {HIL_PASSED, HIL_FAILED, HIL_SKIPPED};
    int i;
    memset(f, 0, sizeof *f);
    for (i = 0; i < 3; i++) {
        f->info[i].suite = "demo";
        f->info[i].name = names[i];
        f->info[i].full_name = full[i];
        f->info[i].tags = i == 1 ? "uart,smoke" : "";
        f->info[i].file = "demo.c";
        f->info[i].line = 10 + i;
        f->info[i].suite_id = 4;
        f->info[i].case_id = i + 1;
        f->info[i].index = i;
        f->res[i].test = &f->info[i];
        f->res[i].outcome = outs[i];
        f->res[i].attempts = 1;
        f->res[i].iteration = 1;
        f->res[i].duration_ns = 1500000u * (unsigned)(i + 1);
        f->res[i].start_wall_ns = 1795000000000000000ull;
        f->sum.counts[outs[i]]++;
    }
    f->fail.file = (char*)"demo.c";
    f->fail.line = 11;
    f->fail.message = (char*)"expected a == b, got 1 vs 2";
    f->res[1].failures = &f->fail;
    f->res[1].n_failures = 1;
    f->res[1].reason = (char*)"demo.c:11: expected a == b, got 1 vs 2";
    f->res[1].output = (char*)"log: <tag> & \"quotes\"\x01\n";
    f->res[1].output_len = strlen(f->res[1].output);
    f->res[2].reason = (char*)"no radio";
    f->sum.name = "fake";
    f->sum.planned = 3;
    f->sum.outcome = HIL_FAILED;
    f->sum.results = f->res;
    f->sum.n_results = 3;
    f->sum.start_wall_ns = 1795000000000000000ull;
    f->sum.duration_ns = 9000000;
}

static void play(hil_bus* bus, fake_run* f) {
    int i;
    hil_bus_trigger(bus, &HIL_MSG_RUN_STARTED, &HIL_EP_RUN, NULL, &f->sum, 0);
    for (i = 0; i < 3; i++) {
        hil_bus_trigger(bus, &HIL_MSG_TEST_STARTED, &HIL_EP_RUN, NULL, &f->res[i], 0);
        hil_bus_trigger(bus, &HIL_MSG_TEST_FINISHED, &HIL_EP_RUN, NULL, &f->res[i], 0);
    }
    hil_bus_trigger(bus, &HIL_MSG_RUN_FINISHED, &HIL_EP_RUN, NULL, &f->sum, 0);
}

/* Run fn with stdout going into a pipe; returns what it printed. */
static char* capture_stdout(void (*fn)(void* arg), void* arg) {
    int fds[2], saved;
    hil_strbuf sb = {0, 0, 0, 0};
    char buf[4096];
    ssize_t n;
    fflush(stdout);
    HIL_ASSERT_EQ(pipe(fds), 0);
    saved = dup(1);
    dup2(fds[1], 1);
    close(fds[1]);
    fn(arg);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    while ((n = read(fds[0], buf, sizeof buf)) > 0) hil_sb_append(&sb, buf, (size_t)n);
    close(fds[0]);
    return hil_sb_take(&sb);
}

typedef struct play_arg { hil_bus* bus; fake_run* f; } play_arg;
static void play_cb(void* a) { play(((play_arg*)a)->bus, ((play_arg*)a)->f); }

HIL_TEST(reporters, junit_through_the_harness) {
    const char* path = st_path("harness.xml");
    char setting[600];
    const char* settings[2];
    hil_harness* h;
    fake_run f;
    char* xml;
    snprintf(setting, sizeof setting, "report.junit=%s", path);
    settings[0] = setting;
    settings[1] = NULL;
    fake_init(&f);
    HIL_ASSERT_OK(hil_harness_create("junit", settings, &h));
    HIL_ASSERT(hil_harness_ctx(h)->active, "active when report.junit is set");
    play(hil_harness_bus(h), &f);
    hil_harness_destroy(h);
    xml = st_read(path);
    HIL_EXPECT(strstr(xml, "<testsuites name=\"fake\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""), "%s", xml);
    HIL_EXPECT(strstr(xml, "<failure message=\"demo.c:11: expected a == b, got 1 vs 2\" type=\"Failed\">"), "%s", xml);
    HIL_EXPECT(strstr(xml, "log: &lt;tag&gt; &amp; &quot;quotes&quot;\xEF\xBF\xBD"), "escaped, control char replaced: %s", xml);
    HIL_EXPECT(strstr(xml, "<skipped message=\"no radio\"/>"), "%s", xml);
    HIL_EXPECT(strstr(xml, "<property name=\"tags\" value=\"uart,smoke\"/>"), "%s", xml);
    if (st_have("xmllint")) {
        st_result r;
        const char* a[] = {"xmllint", "--noout", "--schema", "tests/junit.xsd", path, NULL};
        st_run(a, NULL, 10000, &r);
        HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
        st_result_free(&r);
    }
    free(xml);
}

HIL_TEST(reporters, junit_is_inactive_without_a_file) {
    hil_harness* h;
    HIL_ASSERT_OK(hil_harness_create("junit", NULL, &h));
    HIL_EXPECT(!hil_harness_ctx(h)->active);
    hil_harness_destroy(h);
}

HIL_TEST(reporters, json_through_the_harness) {
    const char* path = st_path("harness.json");
    char setting[600], err[128];
    const char* settings[2];
    hil_harness* h;
    fake_run f;
    char *json, *v;
    snprintf(setting, sizeof setting, "report.json=%s", path);
    settings[0] = setting;
    settings[1] = NULL;
    fake_init(&f);
    HIL_ASSERT_OK(hil_harness_create("json", settings, &h));
    play(hil_harness_bus(h), &f);
    hil_harness_destroy(h);
    json = st_read(path);
    HIL_ASSERT(st_json_valid(json, err, sizeof err), "%s\n%s", err, json);
    v = st_json_get(json, "suites.0.tests.1.failures.0.message");
    HIL_EXPECT_STREQ(v, "expected a == b, got 1 vs 2");
    free(v);
    v = st_json_get(json, "suites.0.tests.1.tags.1");
    HIL_EXPECT_STREQ(v, "smoke");
    free(v);
    v = st_json_get(json, "success_rate");
    HIL_EXPECT_STREQ(v, "66.67");
    free(v);
    free(json);
}

HIL_TEST(reporters, tap_through_the_harness) {
    const char* settings[] = {"report.tap=true", NULL};
    hil_harness* h;
    fake_run f;
    play_arg pa;
    char* out;
    fake_init(&f);
    HIL_ASSERT_OK(hil_harness_create("tap", settings, &h));
    pa.bus = hil_harness_bus(h);
    pa.f = &f;
    out = capture_stdout(play_cb, &pa);
    hil_harness_destroy(h);
    HIL_EXPECT(strstr(out, "TAP version 13\nok 1 - demo.alpha\nnot ok 2 - demo.beta\n  ---\n"), "%s", out);
    HIL_EXPECT(strstr(out, "  message: \"demo.c:11: expected a == b, got 1 vs 2\"\n"), "%s", out);
    HIL_EXPECT(strstr(out, "ok 3 - demo.gamma # SKIP no radio\n1..3\n"), "%s", out);
    HIL_EXPECT(strstr(out, "# 1 passed, 1 failed, 1 skipped\n"), "%s", out);
    free(out);
}

HIL_TEST(reporters, console_through_the_harness) {
    const char* settings[] = {"console.color=never", NULL};
    hil_harness* h;
    fake_run f;
    play_arg pa;
    char* out;
    fake_init(&f);
    HIL_ASSERT_OK(hil_harness_create("console", settings, &h));
    pa.bus = hil_harness_bus(h);
    pa.f = &f;
    out = capture_stdout(play_cb, &pa);
    hil_harness_destroy(h);
    HIL_EXPECT(strstr(out, "running 3 tests\n"), "%s", out);
    HIL_EXPECT(strstr(out, "  Passed   demo.alpha (1.5 ms)\n"), "%s", out);
    HIL_EXPECT(strstr(out, "  Failed   demo.beta (3.0 ms)\n      demo.c:11: expected a == b, got 1 vs 2\n"), "%s", out);
    HIL_EXPECT(strstr(out, "      | log: <tag>"), "captured output of a failed test\n%s", out);
    HIL_EXPECT(strstr(out, "  Skipped  demo.gamma (4.5 ms): no radio\n"), "%s", out);
    HIL_EXPECT(strstr(out, "\n1 passed, 1 failed, 1 skipped\n"), "%s", out);
    HIL_EXPECT(!strstr(out, "\x1b["), "no colour when never");
    free(out);
}

HIL_TEST(reporters, console_is_inactive_with_tap) {
    const char* settings[] = {"report.tap=true", NULL};
    hil_harness* h;
    HIL_ASSERT_OK(hil_harness_create("console", settings, &h));
    HIL_EXPECT(!hil_harness_ctx(h)->active, "deactivate_on report.tap");
    hil_harness_destroy(h);
}
