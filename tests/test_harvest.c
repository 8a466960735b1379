/* Harvesting on-target test suites (hil_harvest.h): the line parsers of
 * each format, the harvester's checks (crashes, reboots, silence, summaries
 * that disagree, plans not run, overlong lines, binary garbage, any
 * chunking), a process channel, and real producers (cmocka's GoogleTest-
 * style and TAP output, Criterion's TAP) harvested in a real run whose
 * console, JUnit (xmllint against tests/junit.xsd), TAP and JSON reports
 * carry every case with its message. */
#include "selftest.h"

HIL_SUITE(harvest, "tags=harvest")

/* ---- the parsers -------------------------------------------------------------- */

static hil_harvest_event parse(hil_harvest_format f, const char* line) {
    hil_harvest_event ev;
    hil_harvest_parse_line(f, line, strlen(line), &ev);
    return ev;
}

static int str_is(hil_harvest_str s, const char* want) { return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0; }

#define EXPECT_STR(s, want) HIL_EXPECT(str_is(s, want), "'%.*s' is not '%s'", (int)(s).n, (s).p ? (s).p : "", want)

HIL_TEST(harvest, unity_lines) {
    hil_harvest_event ev = parse(HIL_HARVEST_UNITY, "src/test_adc.c:42:test_reads_vref:FAIL: Expected 1200 Was 1187");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_CASE_END);
    HIL_EXPECT_EQ(ev.outcome, HIL_FAILED);
    EXPECT_STR(ev.name, "test_reads_vref");
    EXPECT_STR(ev.file, "src/test_adc.c");
    HIL_EXPECT_EQ(ev.line, 42);
    EXPECT_STR(ev.message, "Expected 1200 Was 1187");
    ev = parse(HIL_HARVEST_UNITY, "src/t.c:7:test_a:PASS");
    HIL_EXPECT_EQ(ev.outcome, HIL_PASSED);
    HIL_EXPECT(ev.duration_s < 0);
    ev = parse(HIL_HARVEST_UNITY, "src/t.c:7:test_a:PASS (12 ms)");
    HIL_EXPECT_EQ(ev.outcome, HIL_PASSED);
    HIL_EXPECT_NEAR(ev.duration_s, 0.012, 1e-9);
    ev = parse(HIL_HARVEST_UNITY, "src/t.c:9:test_b:IGNORE: not on rev A\r");
    HIL_EXPECT_EQ(ev.outcome, HIL_SKIPPED);
    EXPECT_STR(ev.message, "not on rev A");
    ev = parse(HIL_HARVEST_UNITY, "12 Tests 1 Failures 2 Ignored");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_SUMMARY);
    HIL_EXPECT_EQ(ev.total, 12);
    HIL_EXPECT_EQ(ev.failed, 1);
    HIL_EXPECT_EQ(ev.skipped, 2);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_UNITY, "OK").kind, HIL_HV_DONE);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_UNITY, "FAIL").outcome, HIL_FAILED);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_UNITY, "src/t.c:7:test_a:MAYBE").kind, HIL_HV_NONE);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_UNITY, "booting at 12:30:00").kind, HIL_HV_NONE);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_UNITY, "").kind, HIL_HV_NONE);
}

HIL_TEST(harvest, ztest_lines) {
    hil_harvest_event ev = parse(HIL_HARVEST_ZTEST, "Running TESTSUITE framework_tests");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_SUITE_START);
    EXPECT_STR(ev.suite, "framework_tests");
    ev = parse(HIL_HARVEST_ZTEST, "Running test suite old_style");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_SUITE_START);
    EXPECT_STR(ev.suite, "old_style");
    ev = parse(HIL_HARVEST_ZTEST, "START - test_assert");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_CASE_START);
    EXPECT_STR(ev.name, "test_assert");
    ev = parse(HIL_HARVEST_ZTEST, " PASS - test_assert in 0.012 seconds");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_CASE_END);
    HIL_EXPECT_EQ(ev.outcome, HIL_PASSED);
    HIL_EXPECT_NEAR(ev.duration_s, 0.012, 1e-9);
    ev = parse(HIL_HARVEST_ZTEST, "[00:00:01.000,000] <inf> main:  FAIL - test_x in 1,5 seconds");
    HIL_EXPECT_EQ(ev.outcome, HIL_FAILED);
    HIL_EXPECT_NEAR(ev.duration_s, 1.5, 1e-9);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_ZTEST, " SKIP - test_y in 0.000 seconds").outcome, HIL_SKIPPED);
    ev = parse(HIL_HARVEST_ZTEST, "    Assertion failed at src/main.c:42: test_x: (1 not equal to 2)");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_ASSERT);
    EXPECT_STR(ev.file, "src/main.c");
    HIL_EXPECT_EQ(ev.line, 42);
    EXPECT_STR(ev.message, "test_x: (1 not equal to 2)");
    ev = parse(HIL_HARVEST_ZTEST, "TESTSUITE framework_tests failed.");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_SUITE_END);
    HIL_EXPECT_EQ(ev.outcome, HIL_FAILED);
    ev = parse(HIL_HARVEST_ZTEST, "Test suite old_style succeeded");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_SUITE_END);
    HIL_EXPECT_EQ(ev.outcome, HIL_PASSED);
    ev = parse(HIL_HARVEST_ZTEST,
               "SUITE FAIL -  66.67% [framework_tests]: pass = 2, fail = 1, skip = 0, total = 3 duration = 0.017 seconds");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_SUMMARY);
    EXPECT_STR(ev.suite, "framework_tests");
    HIL_EXPECT_EQ(ev.passed, 2);
    HIL_EXPECT_EQ(ev.failed, 1);
    HIL_EXPECT_EQ(ev.skipped, 0);
    HIL_EXPECT_EQ(ev.total, 3);
    ev = parse(HIL_HARVEST_ZTEST, " - FAIL - [framework_tests.test_x] duration = 0.004 seconds");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_LISTED);
    EXPECT_STR(ev.suite, "framework_tests");
    EXPECT_STR(ev.name, "test_x");
    HIL_EXPECT_EQ(ev.outcome, HIL_FAILED);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_ZTEST, "PROJECT EXECUTION SUCCESSFUL").outcome, HIL_PASSED);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_ZTEST, "PROJECT EXECUTION FAILED").outcome, HIL_FAILED);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_ZTEST, "===================================================================").kind, HIL_HV_NONE);
}

HIL_TEST(harvest, tap_lines) {
    hil_harvest_event ev = parse(HIL_HARVEST_TAP, "not ok 2 - reads vref # TODO calibrate first");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_CASE_END);
    HIL_EXPECT_EQ(ev.outcome, HIL_SKIPPED, "a failing TODO is an expected failure");
    HIL_EXPECT(ev.todo);
    EXPECT_STR(ev.name, "reads vref");
    EXPECT_STR(ev.message, "calibrate first");
    HIL_EXPECT_EQ(ev.total, 2, "the test number");
    ev = parse(HIL_HARVEST_TAP, "ok 3 # skip no CAN");
    HIL_EXPECT_EQ(ev.outcome, HIL_SKIPPED);
    EXPECT_STR(ev.message, "no CAN");
    ev = parse(HIL_HARVEST_TAP, "ok - board::adds_up  (0.25s)");
    HIL_EXPECT_EQ(ev.outcome, HIL_PASSED);
    EXPECT_STR(ev.name, "board::adds_up");
    HIL_EXPECT_NEAR(ev.duration_s, 0.25, 1e-9);
    ev = parse(HIL_HARVEST_TAP, "ok 4 - the \\# sign stays");
    EXPECT_STR(ev.name, "the \\# sign stays");
    ev = parse(HIL_HARVEST_TAP, "1..7");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_PLAN);
    HIL_EXPECT_EQ(ev.total, 7);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_TAP, "1..0 # SKIP no board").kind, HIL_HV_PLAN);
    ev = parse(HIL_HARVEST_TAP, "Bail out! the board is on fire");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_BAIL);
    EXPECT_STR(ev.message, "the board is on fire");
    ev = parse(HIL_HARVEST_TAP, "  message: 'expected 3, got 4'");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_DIAG);
    EXPECT_STR(ev.message, "expected 3, got 4");
    ev = parse(HIL_HARVEST_TAP, "# src/t.c:24: error: Failure!");
    EXPECT_STR(ev.file, "src/t.c");
    HIL_EXPECT_EQ(ev.line, 24);
    ev = parse(HIL_HARVEST_TAP, "  - cr.c:4: |+");
    HIL_EXPECT(ev.block, "a YAML block scalar follows");
    HIL_EXPECT_EQ(parse(HIL_HARVEST_TAP, "TAP version 14").kind, HIL_HV_HELLO);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_TAP, "okay then").kind, HIL_HV_NONE);
}

HIL_TEST(harvest, gtest_lines) {
    hil_harvest_event ev = parse(HIL_HARVEST_GTEST, "[==========] Running 5 test(s).");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_PLAN);
    HIL_EXPECT_EQ(ev.total, 5);
    ev = parse(HIL_HARVEST_GTEST, "[ RUN      ] adds_up");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_CASE_START);
    EXPECT_STR(ev.name, "adds_up");
    ev = parse(HIL_HARVEST_GTEST, "[       OK ] Suite.adds_up (12 ms)");
    HIL_EXPECT_EQ(ev.outcome, HIL_PASSED);
    EXPECT_STR(ev.name, "Suite.adds_up");
    HIL_EXPECT_NEAR(ev.duration_s, 0.012, 1e-9);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_GTEST, "[  FAILED  ] off_by_one").outcome, HIL_FAILED);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_GTEST, "[  SKIPPED ] later").outcome, HIL_SKIPPED);
    ev = parse(HIL_HARVEST_GTEST, "[  ERROR   ] --- 0x3 != 0x4");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_ASSERT);
    EXPECT_STR(ev.message, "0x3 != 0x4");
    ev = parse(HIL_HARVEST_GTEST, "[   LINE   ] --- src/t.c:24: error: Failure!");
    EXPECT_STR(ev.file, "src/t.c");
    HIL_EXPECT_EQ(ev.line, 24);
    ev = parse(HIL_HARVEST_GTEST, "[  PASSED  ] 2 test(s).");
    HIL_EXPECT_EQ(ev.kind, HIL_HV_SUMMARY);
    HIL_EXPECT_EQ(ev.passed, 2);
    ev = parse(HIL_HARVEST_GTEST, "[  FAILED  ] 1 test(s), listed below:");
    HIL_EXPECT_EQ(ev.failed, 1);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_GTEST, "[==========] 5 test(s) run.").kind, HIL_HV_DONE);
    HIL_EXPECT_EQ(parse(HIL_HARVEST_GTEST, "[not a tag that is far too long] x").kind, HIL_HV_NONE);
}

/* ---- the harvester, in process -------------------------------------------------- */

typedef struct got_case {
    char full[128];
    hil_outcome o;
    double dur_s;
    char reason[256];
    char where[128];
    size_t out_len;
    char out_tail[256];
} got_case;

typedef struct got { got_case c[64]; size_t n; } got;

static void collect(void* user, const hil_case_report* c) {
    got* g = (got*)user;
    got_case* k;
    if (g->n >= 64) return;
    k = &g->c[g->n++];
    snprintf(k->full, sizeof k->full, "%s.%s", c->suite, c->name);
    k->o = c->outcome;
    k->dur_s = (double)c->duration_ns / 1e9;
    snprintf(k->reason, sizeof k->reason, "%s", c->reason ? c->reason : "");
    if (c->file) snprintf(k->where, sizeof k->where, "%s:%d", c->file, c->line);
    else k->where[0] = 0;
    k->out_len = c->output ? strlen(c->output) : 0;
    snprintf(k->out_tail, sizeof k->out_tail, "%s", c->output && k->out_len > 255 ? c->output + k->out_len - 255 : c->output ? c->output : "");
}

static const got_case* find(const got* g, const char* full) {
    size_t i;
    for (i = 0; i < g->n; i++)
        if (strcmp(g->c[i].full, full) == 0) return &g->c[i];
    return NULL;
}

static void expect_case(const got* g, const char* full, hil_outcome o, const char* reason_part, const char* where) {
    const got_case* k = find(g, full);
    HIL_EXPECT(k != NULL, "case %s reported (%zu cases)", full, g->n);
    if (!k) return;
    HIL_EXPECT_STREQ(hil_outcome_str(k->o), hil_outcome_str(o), "%s (%s)", full, k->reason);
    if (reason_part) HIL_EXPECT(strstr(k->reason, reason_part) != NULL, "%s: reason '%s' has '%s'", full, k->reason, reason_part);
    if (where) HIL_EXPECT_STREQ(k->where, where, "%s: where", full);
}

/* Harvest text fed in chunks of `chunk` bytes (0: all at once). */
static hil_result harvest_text(hil_harvest_config* c, const char* text, size_t len, size_t chunk, got* g,
                               hil_harvest_summary* s, const char* why) {
    hil_harvester* h;
    hil_result r;
    size_t off = 0;
    memset(g, 0, sizeof *g);
    c->on_case = collect;
    c->user = g;
    HIL_ASSERT_OK(hil_harvester_create(c, &h));
    if (!chunk) chunk = len ? len : 1;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        hil_harvester_feed(h, text + off, n);
        off += n;
    }
    r = hil_harvester_finish(h, why, 0, s);
    hil_harvester_destroy(h);
    return r;
}

static const char unity_run[] =
    "boot: adc tests\r\n"
    "src/test_adc.c:10:test_reads_vref:PASS\r\n"
    "src/test_adc.c:20:test_gain:FAIL: Expected 1200 Was 1187\r\n"
    "src/test_adc.c:30:test_dma:IGNORE\r\n"
    "src/test_adc.c:40:test_offset:IGNORE: no reference on rev A\r\n"
    "src/test_adc.c:50:test_fast:PASS (3 ms)\r\n"
    "\r\n-----------------------\r\n"
    "5 Tests 1 Failures 2 Ignored \r\n"
    "FAIL\r\n";

HIL_TEST(harvest, unity_run_in_any_chunks) {
    size_t chunks[] = {0, 1, 7, 64};
    size_t i;
    for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        hil_harvest_config c;
        hil_harvest_summary s;
        got g;
        hil_harvest_config_init(&c);
        c.suite = "adc";
        HIL_EXPECT_OK(harvest_text(&c, unity_run, strlen(unity_run), chunks[i], &g, &s, NULL), "chunks of %zu", chunks[i]);
        HIL_EXPECT_EQ(s.format, HIL_HARVEST_UNITY, "detected");
        HIL_EXPECT_EQ(s.cases, 5);
        HIL_EXPECT(s.finished);
        expect_case(&g, "adc.test_reads_vref", HIL_PASSED, NULL, "");
        expect_case(&g, "adc.test_gain", HIL_FAILED, "Expected 1200 Was 1187", "src/test_adc.c:20");
        expect_case(&g, "adc.test_dma", HIL_SKIPPED, NULL, "");
        expect_case(&g, "adc.test_offset", HIL_SKIPPED, "no reference on rev A", NULL);
        {
            const got_case* k = find(&g, "adc.test_fast");
            HIL_EXPECT(k && k->dur_s > 0.0029 && k->dur_s < 0.0031, "the target's 3 ms");
        }
    }
}

/* A target can print any duration: a huge one is clamped to 1e9 s, not
 * converted past the range of uint64_t (found by fuzz_harvest). */
HIL_TEST(harvest, an_absurd_duration_is_clamped) {
    static const char text[] = "src/t.c:1:test_slow:PASS (6666666666666666 ms)\n"
                               "src/t.c:2:test_slower:PASS (99999999999999999999999.5 ms)\n"
                               "\n-----------------------\n2 Tests 0 Failures 0 Ignored \nOK\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    size_t i;
    hil_harvest_config_init(&c);
    c.suite = "t";
    HIL_EXPECT_OK(harvest_text(&c, text, strlen(text), 0, &g, &s, NULL));
    HIL_ASSERT_EQ(g.n, 2);
    for (i = 0; i < g.n; i++) HIL_EXPECT(g.c[i].dur_s == 1e9, "%s: %g s", g.c[i].full, g.c[i].dur_s);
}

HIL_TEST(harvest, a_summary_that_disagrees_is_an_error) {
    static const char text[] = "t.c:1:a:PASS\nt.c:2:b:PASS\n3 Tests 0 Failures 0 Ignored\nOK\n";
    static const char lies[] = "t.c:1:a:FAIL: no\n1 Tests 1 Failures 0 Ignored\nOK\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    HIL_EXPECT_EQ(harvest_text(&c, text, strlen(text), 0, &g, &s, NULL), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(s.error, "3 Tests 0 Failures 0 Ignored; seen: 2 cases") != NULL, "%s", s.error);
    HIL_EXPECT(strstr(hil_last_error(), "summary") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(harvest_text(&c, lies, strlen(lies), 0, &g, &s, NULL), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(s.error, "says the run passed, but 1 case failed") != NULL, "%s", s.error);
}

HIL_TEST(harvest, a_truncated_summary_is_not_a_pass) {
    static const char text[] = "t.c:1:a:PASS\nt.c:2:b:PASS\n\n-----------------------\n2 Tests 0 Fa";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    HIL_EXPECT_EQ(harvest_text(&c, text, strlen(text), 0, &g, &s, "the stream of 'fw' ended"), HIL_ERR_CLOSED);
    HIL_EXPECT(!s.finished);
    HIL_EXPECT(strstr(s.error, "did not finish: the stream of 'fw' ended before the summary") != NULL, "%s", s.error);
    HIL_EXPECT(strstr(s.error, "2 Tests 0 Fa") != NULL, "the last lines are shown: %s", s.error);
}

static const char ztest_run[] =
    "*** Booting Zephyr OS build v3.6.0 ***\n"
    "Running TESTSUITE framework_tests\n"
    "===================================================================\n"
    "START - test_assert_pass\n"
    " PASS - test_assert_pass in 0.001 seconds\n"
    "===================================================================\n"
    "START - test_assert_fail\n"
    "\n"
    "    Assertion failed at WEST_TOPDIR/zephyr/tests/main.c:42: framework_tests_test_assert_fail: (1 not equal to 2)\n"
    "values differ\n"
    " FAIL - test_assert_fail in 0.004 seconds\n"
    "===================================================================\n"
    "START - test_skip\n"
    " SKIP - test_skip in 0.000 seconds\n"
    "===================================================================\n"
    "TESTSUITE framework_tests failed.\n"
    "Running TESTSUITE other\n"
    "START - test_one\n"
    " PASS - test_one in 0.250 seconds\n"
    "TESTSUITE other succeeded\n"
    "\n------ TESTSUITE SUMMARY START ------\n\n"
    "SUITE FAIL -  33.33% [framework_tests]: pass = 1, fail = 1, skip = 1, total = 3 duration = 0.005 seconds\n"
    " - PASS - [framework_tests.test_assert_pass] duration = 0.001 seconds\n"
    " - FAIL - [framework_tests.test_assert_fail] duration = 0.004 seconds\n"
    " - SKIP - [framework_tests.test_skip] duration = 0.000 seconds\n"
    "SUITE PASS - 100.00% [other]: pass = 1, fail = 0, skip = 0, total = 1 duration = 0.250 seconds\n"
    " - PASS - [other.test_one] duration = 0.250 seconds\n"
    "\n------ TESTSUITE SUMMARY END ------\n\n"
    "===================================================================\n"
    "PROJECT EXECUTION FAILED\n";

HIL_TEST(harvest, ztest_run_with_suites_and_summary) {
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    c.banner = "*** Booting Zephyr OS";
    HIL_EXPECT_OK(harvest_text(&c, ztest_run, strlen(ztest_run), 5, &g, &s, NULL));
    HIL_EXPECT_EQ(s.format, HIL_HARVEST_ZTEST);
    HIL_EXPECT_EQ(s.cases, 4);
    expect_case(&g, "framework_tests.test_assert_pass", HIL_PASSED, NULL, "");
    expect_case(&g, "framework_tests.test_assert_fail", HIL_FAILED, "(1 not equal to 2)", "WEST_TOPDIR/zephyr/tests/main.c:42");
    expect_case(&g, "framework_tests.test_skip", HIL_SKIPPED, NULL, NULL);
    expect_case(&g, "other.test_one", HIL_PASSED, NULL, NULL);
    {
        const got_case* k = find(&g, "framework_tests.test_assert_fail");
        HIL_EXPECT(k && k->dur_s > 0.0039 && k->dur_s < 0.0041, "the target's 0.004 s");
        HIL_EXPECT(k && strstr(k->out_tail, "values differ"), "the case's lines are its output");
    }
}

HIL_TEST(harvest, ztest_summary_counts_are_checked) {
    char* text = hil_strdup(ztest_run);
    char* p = strstr(text, "pass = 1, fail = 1");
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    p[7] = '2'; /* the summary now claims two passed */
    hil_harvest_config_init(&c);
    HIL_EXPECT_EQ(harvest_text(&c, text, strlen(text), 0, &g, &s, NULL), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(s.error, "suite framework_tests: the summary says pass = 2") != NULL, "%s", s.error);
    /* a case in the summary block whose result line was lost */
    strcpy(text, ztest_run);
    p = strstr(text, " PASS - test_one in");
    memcpy(p, " XXXX", 5);
    HIL_EXPECT_EQ(harvest_text(&c, text, strlen(text), 0, &g, &s, NULL), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(s.error, "other.test_one is in the summary block") != NULL, "%s", s.error);
    HIL_FREE(text);
}

HIL_TEST(harvest, a_crash_mid_suite_errors_the_running_case) {
    static const char text[] =
        "Running TESTSUITE drivers\n"
        "START - test_ok\n PASS - test_ok in 0.001 seconds\n"
        "START - test_dma\n"
        "E: ***** MPU FAULT *****\n"
        "E: >>> ZEPHYR FATAL ERROR 0: CPU exception on CPU 0\n"
        "E: Current thread: 0x20000148 (test_dma)\n"
        "E: Halting system\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    HIL_EXPECT_EQ(harvest_text(&c, text, strlen(text), 3, &g, &s, NULL), HIL_ERR_CRASHED);
    HIL_EXPECT(s.crashed);
    expect_case(&g, "drivers.test_ok", HIL_PASSED, NULL, NULL);
    expect_case(&g, "drivers.test_dma", HIL_ERRORED, "the target crashed: E: >>> ZEPHYR FATAL ERROR 0", NULL);
    {
        const got_case* k = find(&g, "drivers.test_dma");
        HIL_EXPECT(k && strstr(k->out_tail, "Halting system"), "the lines after the fault are in its output: %s", k ? k->out_tail : "");
    }
    HIL_EXPECT(strstr(hil_last_error(), "ZEPHYR FATAL ERROR") != NULL, "%s", hil_last_error());
}

HIL_TEST(harvest, own_fatal_pattern_and_a_reboot) {
    static const char panic[] = "t.c:1:a:PASS\nPANIC: stack overflow in isr\n";
    static const char reboot[] = "BOOT v1\nt.c:1:a:PASS\nt.c:2:b:PASS\nBOOT v1\nt.c:1:a:PASS\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    c.fatal[0] = "PANIC:";
    HIL_EXPECT_EQ(harvest_text(&c, panic, strlen(panic), 0, &g, &s, NULL), HIL_ERR_CRASHED);
    expect_case(&g, "harvest.after_a", HIL_ERRORED, "the target crashed: PANIC: stack overflow", NULL);
    hil_harvest_config_init(&c);
    c.banner = "BOOT v1";
    HIL_EXPECT_EQ(harvest_text(&c, reboot, strlen(reboot), 0, &g, &s, NULL), HIL_ERR_CRASHED);
    HIL_EXPECT_EQ(s.counts[HIL_PASSED], 2, "the cases after the reboot are not counted twice");
    expect_case(&g, "harvest.after_b", HIL_ERRORED, "the target rebooted", NULL);
}

HIL_TEST(harvest, tap_plan_todo_yaml_and_not_run) {
    static const char text[] =
        "TAP version 13\n"
        "1..6\n"
        "ok 1 - boots\n"
        "not ok 2 - reads vref\n"
        "  ---\n"
        "  message: 'expected 1200, got 1187'\n"
        "  severity: fail\n"
        "  file: src/adc.c\n"
        "  line: 77\n"
        "  ...\n"
        "ok 3 # SKIP no CAN transceiver\n"
        "not ok 4 - calibrates # TODO not written yet\n"
        "Bail out! lost the board\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    c.suite = "fw";
    HIL_EXPECT_EQ(harvest_text(&c, text, strlen(text), 2, &g, &s, NULL), HIL_ERR_CRASHED);
    HIL_EXPECT_EQ(s.format, HIL_HARVEST_TAP);
    expect_case(&g, "fw.boots", HIL_PASSED, NULL, NULL);
    expect_case(&g, "fw.reads vref", HIL_FAILED, "expected 1200, got 1187", "src/adc.c:77");
    expect_case(&g, "fw.no CAN transceiver", HIL_SKIPPED, NULL, NULL);
    expect_case(&g, "fw.calibrates", HIL_SKIPPED, "not written yet", NULL);
    expect_case(&g, "fw.5", HIL_ERRORED, "Bail out! lost the board", NULL);
    expect_case(&g, "fw.6", HIL_BLOCKED, "not run: announced (6 cases)", NULL);
    HIL_EXPECT(strstr(s.error, "the run bailed out: Bail out! lost the board") != NULL, "%s", s.error);
}

/* A plan is one line: what it announces beyond HIL_HARVEST_MAX_NOT_RUN
 * unrun cases becomes one result naming the range, so "1..N" cannot make
 * N results (found by fuzz_harvest: 830 bytes made 10,000). */
typedef struct last_case { size_t n; char name[64], reason[256]; hil_outcome o; } last_case;

static void keep_last(void* user, const hil_case_report* c) {
    last_case* l = (last_case*)user;
    l->n++;
    l->o = c->outcome;
    snprintf(l->name, sizeof l->name, "%s", c->name);
    snprintf(l->reason, sizeof l->reason, "%s", c->reason ? c->reason : "");
}

HIL_TEST(harvest, a_huge_plan_gives_bounded_results) {
    static const char text[] = "1..4000000000\nok 1 - boots\nok 2 - reads\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    hil_harvester* h;
    last_case l;
    memset(&l, 0, sizeof l);
    hil_harvest_config_init(&c);
    c.suite = "fw";
    c.on_case = keep_last;
    c.user = &l;
    HIL_ASSERT_OK(hil_harvester_create(&c, &h));
    hil_harvester_feed(h, text, strlen(text));
    HIL_EXPECT_NE(hil_harvester_finish(h, "the board went silent", 0, &s), HIL_OK);
    hil_harvester_destroy(h);
    HIL_EXPECT_EQ(s.cases, 3 + HIL_HARVEST_MAX_NOT_RUN, "2 passed, the 3rd Errored (it was running), the rest Blocked");
    HIL_EXPECT_EQ(s.counts[HIL_BLOCKED], HIL_HARVEST_MAX_NOT_RUN);
    HIL_EXPECT_EQ(l.n, s.cases);
    HIL_EXPECT_EQ(l.o, HIL_BLOCKED);
    /* numbers saturate at 999999999 (no digit is dropped) */
    HIL_EXPECT_STREQ(l.name, "1003-999999999");
    HIL_EXPECT(strstr(l.reason, "not run: announced (999999999 cases), but the board went silent") != NULL, "%s", l.reason);
    HIL_EXPECT(strstr(l.reason, "(one result for the 999998997 cases 1003 to 999999999)") != NULL, "%s", l.reason);
}

HIL_TEST(harvest, overlong_lines_and_binary_garbage_are_bounded) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    size_t i;
    hil_sb_puts(&sb, "t.c:1:first:PASS\n");
    for (i = 0; i < 200000; i++) hil_sb_putc(&sb, (char)('a' + i % 26)); /* 200 KB without a newline */
    hil_sb_puts(&sb, "\nt.c:2:second:FAIL: after the long line\n");
    for (i = 0; i < 4096; i++) hil_sb_putc(&sb, (char)(i * 7 + 1)); /* every byte value, NULs too */
    hil_sb_puts(&sb, "\nt.c:3:th\x01ird:PASS\nt.c:4:fourth:PASS\n4 Tests 1 Failures 0 Ignored\nFAIL\n");
    hil_harvest_config_init(&c);
    c.max_line = 256;
    HIL_EXPECT_OK(harvest_text(&c, sb.data, sb.len, 1000, &g, &s, NULL));
    HIL_EXPECT_GE(s.truncated_lines, 1);
    HIL_EXPECT_GT(s.garbage_bytes, 100);
    expect_case(&g, "harvest.first", HIL_PASSED, NULL, NULL);
    expect_case(&g, "harvest.second", HIL_FAILED, "after the long line", "t.c:2");
    expect_case(&g, "harvest.th?ird", HIL_PASSED, NULL, NULL);
    expect_case(&g, "harvest.fourth", HIL_PASSED, NULL, NULL);
    {
        const got_case* k = find(&g, "harvest.second");
        HIL_EXPECT(k && k->out_len < 256 + 64, "the cut line is kept only up to max_line (%zu bytes)", k ? k->out_len : 0);
    }
    hil_sb_free(&sb);
}

HIL_TEST(harvest, boot_noise_glued_to_the_first_line) {
    /* the example firmware's boot frame has no newline after it: printable
     * bytes or binary ones, the first case behind it is still read */
    static const char printable[] = "p;=n;boot board=x version=1.0.0 ok%examples/t.c:12:test_first:PASS\n"
                                    "1 Tests 0 Failures 0 Ignored\nOK\n";
    static const char binary[] = "p\x01\x02" "boot\x7f\xff\x03src/t.c:12:test_first:PASS\n1 Tests 0 Failures 0 Ignored\nOK\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    c.suite = "fw";
    HIL_EXPECT_OK(harvest_text(&c, printable, strlen(printable), 0, &g, &s, NULL));
    expect_case(&g, "fw.test_first", HIL_PASSED, NULL, NULL);
    c.format = HIL_HARVEST_UNITY;
    HIL_EXPECT_OK(harvest_text(&c, binary, strlen(binary), 3, &g, &s, NULL));
    expect_case(&g, "fw.test_first", HIL_PASSED, NULL, NULL);
    HIL_EXPECT_EQ(s.garbage_bytes, 4, "\\x01, \\x02, \\x7f and \\x03");
}

HIL_TEST(harvest, gtest_style_from_cmocka_text) {
    static const char text[] =
        "[==========] Running 4 test(s).\n"
        "[ RUN      ] adds_up\n[       OK ] adds_up\n"
        "[ RUN      ] off_by_one\n[  ERROR   ] --- 0x3 != 0x4\n"
        "[   LINE   ] --- tests/harvest/cmocka_suite.c:24: error: Failure!\n[  FAILED  ] off_by_one\n"
        "[ RUN      ] later\n[  SKIPPED ] later\n"
        "[ RUN      ] hangs\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    c.suite = "cm";
    HIL_EXPECT_EQ(harvest_text(&c, text, strlen(text), 0, &g, &s, "no output for 300 ms"), HIL_ERR_CLOSED);
    expect_case(&g, "cm.off_by_one", HIL_FAILED, "0x3 != 0x4", "tests/harvest/cmocka_suite.c:24");
    expect_case(&g, "cm.later", HIL_SKIPPED, NULL, NULL);
    expect_case(&g, "cm.hangs", HIL_ERRORED, "no result: no output for 300 ms", NULL);
    HIL_EXPECT_EQ(g.n, 4, "4 announced, 4 reported");
}

HIL_TEST(harvest, gtest_style_groups_one_after_another) {
    /* cmocka prints a block per cmocka_run_group_tests call */
    static const char text[] =
        "[==========] Running 2 test(s).\n[ RUN      ] a1\n[       OK ] a1\n[ RUN      ] a2\n[       OK ] a2\n"
        "[==========] 2 test(s) run.\n[  PASSED  ] 2 test(s).\n"
        "[==========] Running 1 test(s).\n[ RUN      ] b1\n[  FAILED  ] b1\n"
        "[==========] 1 test(s) run.\n[  PASSED  ] 0 test(s).\n[  FAILED  ] 1 test(s), listed below:\n[  FAILED  ] b1\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    c.suite = "cm";
    HIL_EXPECT_OK(harvest_text(&c, text, strlen(text), 9, &g, &s, NULL));
    HIL_EXPECT_EQ(s.cases, 3);
    expect_case(&g, "cm.b1", HIL_FAILED, "failed on the target", NULL);
    /* the second group cut short: its case Errored, the harvest not finished */
    HIL_EXPECT_EQ(harvest_text(&c, text, strstr(text, "[  FAILED  ] b1") - text, 0, &g, &s, NULL), HIL_ERR_CLOSED);
    expect_case(&g, "cm.b1", HIL_ERRORED, "no result", NULL);
}

HIL_TEST(harvest, nothing_recognised_says_so) {
    static const char text[] = "hello\nworld\n";
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    hil_harvest_config_init(&c);
    HIL_EXPECT_EQ(harvest_text(&c, text, strlen(text), 0, &g, &s, NULL), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(s.error, "no test output recognised in 2 lines") != NULL, "%s", s.error);
    HIL_EXPECT_EQ(g.n, 0);
}

HIL_TEST(harvest, options_are_checked) {
    hil_harvest_config c;
    char* keep = NULL;
    hil_harvest_config_init(&c);
    HIL_EXPECT_OK(hil_harvest_options("format=ztest; suite=fw; start=#ontarget ztest; timeout_ms=5000; reset=1; fatal=PANIC", &c, &keep));
    HIL_EXPECT_EQ(c.format, HIL_HARVEST_ZTEST);
    HIL_EXPECT_STREQ(c.suite, "fw");
    HIL_EXPECT_STREQ(c.start, "#ontarget ztest");
    HIL_EXPECT_EQ(c.timeout_ms, 5000);
    HIL_EXPECT_EQ(c.reset, 1);
    HIL_EXPECT_STREQ(c.fatal[0], "PANIC");
    HIL_FREE(keep);
    HIL_EXPECT_EQ(hil_harvest_options("format=junit", &c, &keep), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "format=junit: use auto, unity, ztest, tap or gtest") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_harvest_options("timeout_ms=soon", &c, &keep), HIL_ERR_CONFIG);
    HIL_EXPECT_EQ(hil_harvest_options("colour=blue", &c, &keep), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "unknown key 'colour'") != NULL, "%s", hil_last_error());
}

/* ---- through a channel ------------------------------------------------------------- */

static hil_channel* sh_channel(const char* script) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char cmd[2048];
    const char* opts[3];
    snprintf(cmd, sizeof cmd, "command=sh -c '%s'", script);
    opts[0] = cmd;
    opts[1] = "kill_grace_ms=100";
    opts[2] = NULL;
    hil_channel_config_init(&c);
    c.name = "target";
    c.type = "process";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    return ch;
}

HIL_TEST(harvest, silence_on_a_channel_errors_the_running_case) {
    hil_channel* ch = sh_channel("printf \"Running TESTSUITE s\\nSTART - t1\\n PASS - t1 in 0.001 seconds\\nSTART - t2\\n\"; exec sleep 30");
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    uint64_t t0 = hil_now_ns();
    memset(&g, 0, sizeof g);
    hil_harvest_config_init(&c);
    c.idle_timeout_ms = 300;
    c.on_case = collect;
    c.user = &g;
    HIL_EXPECT_EQ(hil_harvest_channel(ch, &c, &s), HIL_ERR_TIMEOUT);
    hil_channel_destroy(ch);
    HIL_EXPECT(s.timed_out);
    HIL_EXPECT_LT((hil_now_ns() - t0) / 1000000, 5000, "silence is noticed after idle_timeout_ms");
    expect_case(&g, "s.t1", HIL_PASSED, NULL, NULL);
    expect_case(&g, "s.t2", HIL_ERRORED, "no result: no output for 300 ms", NULL);
    HIL_EXPECT(strstr(hil_last_error(), "harvest: 'target': the ztest run did not finish: no output for 300 ms") != NULL,
               "%s", hil_last_error());
}

HIL_TEST(harvest, a_start_line_starts_the_suite) {
    /* the "target" waits for its start command, like the example firmware */
    hil_channel* ch = sh_channel("read cmd; [ \"$cmd\" = go ] || exit 3; printf \"t.c:1:a:PASS\\n1 Tests 0 Failures 0 Ignored\\nOK\\n\"; exec sleep 30");
    hil_harvest_config c;
    hil_harvest_summary s;
    got g;
    memset(&g, 0, sizeof g);
    hil_harvest_config_init(&c);
    c.start = "go";
    c.settle_ms = 50;
    c.on_case = collect;
    c.user = &g;
    HIL_EXPECT_OK(hil_harvest_channel(ch, &c, &s));
    hil_channel_destroy(ch);
    HIL_EXPECT_EQ(s.cases, 1);
    HIL_EXPECT(s.finished);
}

/* ---- real producers in a real run ----------------------------------------------------- */

static const char* producer(const char* name) {
    static char buf[4][512];
    static int next;
    char* p = buf[next++ % 4];
    snprintf(p, 512, "%s/harvest/%s", st_build_dir(), name);
    return p;
}

/* result, reason of full in results.json */
static int json_case(const char* json, const char* full, char* result, size_t rsize, char* reason, size_t size) {
    int s, t;
    result[0] = reason[0] = 0;
    for (s = 0; s < 50; s++) {
        char path[80];
        snprintf(path, sizeof path, "suites.%d.name", s);
        {
            char* sn = st_json_get(json, path);
            if (!sn) break;
            free(sn);
        }
        for (t = 0; t < 200; t++) {
            char* name;
            snprintf(path, sizeof path, "suites.%d.tests.%d.full_name", s, t);
            if (!(name = st_json_get(json, path))) break;
            if (strcmp(name, full) == 0) {
                char *res, *why;
                free(name);
                snprintf(path, sizeof path, "suites.%d.tests.%d.result", s, t);
                res = st_json_get(json, path);
                snprintf(path, sizeof path, "suites.%d.tests.%d.reason", s, t);
                why = st_json_get(json, path);
                snprintf(result, rsize, "%s", res ? res : "");
                snprintf(reason, size, "%s", why ? why : "");
                free(res);
                free(why);
                return 1;
            }
            free(name);
        }
    }
    return 0;
}

static void expect_reported(const char* json, const char* junit, const char* console, const char* full, const char* result,
                            const char* reason_part) {
    char res[64], why[1024];
    const char* dot = strchr(full, '.');
    char jname[200];
    HIL_EXPECT(json_case(json, full, res, sizeof res, why, sizeof why), "%s is in results.json", full);
    HIL_EXPECT_STREQ(res, result, "%s in results.json (%s)", full, why);
    if (reason_part) HIL_EXPECT(strstr(why, reason_part) != NULL, "%s: JSON reason '%s' has '%s'", full, why, reason_part);
    snprintf(jname, sizeof jname, "name=\"%s\"", dot ? dot + 1 : full);
    HIL_EXPECT(strstr(junit, jname) != NULL, "JUnit has %s", jname);
    if (reason_part) HIL_EXPECT(strstr(junit, reason_part) != NULL, "JUnit has '%s'", reason_part);
    HIL_EXPECT(strstr(console, full) != NULL, "the console names %s", full);
}

HIL_TEST_META(harvest, real_producers_land_in_every_report, "timeout=120") {
    char conf[4096];
    const char* cfg = st_path("lab.conf");
    const char* json = st_path("results.json");
    const char* junit = st_path("junit.xml");
    const char* argv[] = {st_meta("meta_harvest"), "run", "-c", cfg, "--json", json, "--junit", junit, NULL};
    const char* tap_argv[] = {st_meta("meta_harvest"), "run", "-c", cfg, "--tap", "--filter", "producers.cmocka_tap", NULL};
    st_result r;
    char *jtext, *xtext;
    if (access(producer("cmocka_suite"), X_OK) != 0)
        HIL_SKIP("%s was not built: libcmocka-dev is missing (apt-get install libcmocka-dev)", producer("cmocka_suite"));
    if (access(producer("criterion_suite"), X_OK) != 0)
        HIL_SKIP("%s was not built: libcriterion-dev is missing (apt-get install libcriterion-dev)", producer("criterion_suite"));
    snprintf(conf, sizeof conf,
             "connectors.cm_gtest.type = process\n"
             "connectors.cm_gtest.command = %s\n"
             "connectors.cm_gtest.stderr = stdout\n"
             "connectors.cm_tap.type = process\n"
             "connectors.cm_tap.command = %s\n"
             "connectors.cm_tap.env = CMOCKA_MESSAGE_OUTPUT=TAP\n"
             "connectors.cm_tap.stderr = stdout\n"
             "connectors.cm_dies.type = process\n"
             "connectors.cm_dies.command = %s\n"
             "connectors.cm_dies.env = HARVEST_DIE=1\n"
             "connectors.cm_dies.stderr = stdout\n"
             "connectors.cr_tap.type = process\n"
             "connectors.cr_tap.command = %s --tap -j1\n"
             "connectors.cr_tap.stderr = null\n",
             producer("cmocka_suite"), producer("cmocka_suite"), producer("cmocka_suite"), producer("criterion_suite"));
    HIL_ASSERT_OK(hil_write_file_atomic(cfg, conf, strlen(conf)));
    st_run(argv, NULL, 60000, &r);
    HIL_EXPECT_EQ(r.code, 1, "target cases fail on purpose: %s", r.out);
    jtext = st_read(json);
    xtext = st_read(junit);
    /* cmocka, GoogleTest-style */
    expect_reported(jtext, xtext, r.out, "cm_gtest.adds_up", "Passed", NULL);
    expect_reported(jtext, xtext, r.out, "cm_gtest.off_by_one", "Failed", "0x3 != 0x4");
    expect_reported(jtext, xtext, r.out, "cm_gtest.not_on_this_board", "Skipped", NULL);
    expect_reported(jtext, xtext, r.out, "cm_gtest.null_deref", "Failed", "Segmentation fault");
    expect_reported(jtext, xtext, r.out, "cm_gtest.still_runs", "Passed", NULL);
    /* cmocka, TAP */
    expect_reported(jtext, xtext, r.out, "cm_tap.off_by_one", "Failed", "cmocka_suite.c:");
    expect_reported(jtext, xtext, r.out, "cm_tap.not_on_this_board", "Skipped", NULL);
    expect_reported(jtext, xtext, r.out, "cm_tap.still_runs", "Passed", NULL);
    /* cmocka killed in the middle of a case */
    expect_reported(jtext, xtext, r.out, "cm_dies.null_deref", "Errored", "no result: the stream of ");
    expect_reported(jtext, xtext, r.out, "cm_dies.not_run_5", "Blocked", "not run: announced (5 cases)");
    /* Criterion, TAP */
    expect_reported(jtext, xtext, r.out, "cr_tap.board::adds_up", "Passed", NULL);
    expect_reported(jtext, xtext, r.out, "cr_tap.board::off_by_one", "Failed", "three is not four");
    expect_reported(jtext, xtext, r.out, "cr_tap.board::not_on_this_board", "Skipped", "no CAN transceiver on this board");
    expect_reported(jtext, xtext, r.out, "cr_tap.board::disabled_case", "Skipped", NULL);
    expect_reported(jtext, xtext, r.out, "cr_tap.board::null_deref unexpected signal after tests/harvest/criterion_suite.c:10",
                    "Failed", "unexpected signal");
    /* the harvesting tests themselves */
    expect_reported(jtext, xtext, r.out, "producers.cmocka_gtest", "Failed", "2 of 5 target cases failed: off_by_one, null_deref");
    expect_reported(jtext, xtext, r.out, "producers.cmocka_dies", "Errored", "the gtest run did not finish");
    {
        char res[64], why[1024];
        HIL_EXPECT(json_case(jtext, "cm_gtest.off_by_one", res, sizeof res, why, sizeof why));
        HIL_EXPECT(strstr(why, "tests/harvest/cmocka_suite.c:") != NULL, "file:line in the reason: %s", why);
    }
    if (st_have("xmllint")) {
        const char* a[] = {"xmllint", "--noout", "--schema", "tests/junit.xsd", junit, NULL};
        st_result x;
        st_run(a, NULL, 20000, &x);
        HIL_EXPECT_EQ(x.code, 0, "JUnit validates against tests/junit.xsd: %s", x.out);
        st_result_free(&x);
    } else {
        HIL_SKIP("xmllint not installed (apt-get install libxml2-utils)");
    }
    {
        st_result t;
        st_run(tap_argv, NULL, 30000, &t);
        HIL_EXPECT(st_has(&t, "not ok 2 - cm_tap.off_by_one"), "the TAP report has the harvested cases:\n%s", t.out);
        HIL_EXPECT(st_has(&t, "ok 3 - cm_tap.not_on_this_board # SKIP"), "skipped in TAP:\n%s", t.out);
        st_result_free(&t);
    }
    free(jtext);
    free(xtext);
    st_result_free(&r);
    {
        /* a job's task that harvests: the cases are in the job's report */
        const char* runs = st_path("runs");
        const char* jargv[] = {st_meta("meta_harvest"), "job", "harvest", "-c", cfg, "--runs", runs, NULL};
        char path[96], rj[1200];
        int t, found = 0;
        st_run(jargv, NULL, 60000, &r);
        HIL_EXPECT(st_has(&r, "job: task=Failed"), "%s", r.out);
        snprintf(rj, sizeof rj, "%s/latest/results.json", runs);
        jtext = st_read(rj);
        for (t = 0; t < 20; t++) {
            char *name, *res;
            int s;
            for (s = 0; s < 5; s++) {
                snprintf(path, sizeof path, "tasks.0.suites.%d.tests.%d.full_name", s, t);
                if (!(name = st_json_get(jtext, path))) continue;
                snprintf(path, sizeof path, "tasks.0.suites.%d.tests.%d.result", s, t);
                res = st_json_get(jtext, path);
                if (strcmp(name, "cm_gtest.off_by_one") == 0 && res && strcmp(res, "Failed") == 0) found |= 1;
                if (strcmp(name, "cm_gtest.adds_up") == 0 && res && strcmp(res, "Passed") == 0) found |= 2;
                if (strcmp(name, "producers.cmocka_gtest") == 0 && res && strcmp(res, "Failed") == 0) found |= 4;
                free(name);
                free(res);
            }
        }
        HIL_EXPECT_EQ(found, 7, "the job's results.json has the harvested cases and their test:\n%s", jtext);
        HIL_EXPECT(!strstr(jtext, "\"stream\""), "the task's event stream stayed whole:\n%s", jtext);
        free(jtext);
        st_result_free(&r);
    }
}

/* ---- a harvesting test that is retried ---------------------------------------------- */

static size_t count_of(const char* text, const char* needle) {
    size_t n = 0;
    const char* p = text;
    while ((p = strstr(p, needle)) != NULL) { n++; p += strlen(needle); }
    return n;
}

/* A producer that fails its first run and passes its second (a mark file
 * tells them apart): steady passes both times, flaky fails then passes,
 * only_first is run by the first attempt alone. */
static const char flaky_script[] =
    "#!/bin/sh\n"
    "if [ -e \"$1\" ]; then\n"
    "    printf 'TAP version 13\\n1..3\\nok 1 - steady\\nok 2 - flaky\\nok 3 - also_steady\\n'\n"
    "else\n"
    "    : >\"$1\"\n"
    "    printf \"TAP version 13\\n1..4\\nok 1 - steady\\nnot ok 2 - flaky\\n  ---\\n  message: 'first run fails'\\n"
    "  ...\\nnot ok 3 - only_first\\nok 4 - also_steady\\n\"\n"
    "fi\n";

static const char* retry_conf(void) {
    static char conf[2048];
    const char* cfg = st_path("retry.conf");
    const char* script = st_path("flaky.sh");
    const char* mark = st_path("flaky.mark");
    const char* wd_mark = st_path("flaky_wd.mark");
    const char* die_mark = st_path("worker.mark");
    HIL_ASSERT_OK(hil_write_file_atomic(script, flaky_script, strlen(flaky_script)));
    snprintf(conf, sizeof conf,
             "connectors.flaky.type = process\n"
             "connectors.flaky.command = sh %s %s\n"
             "connectors.flaky.stderr = stdout\n"
             "connectors.cm.type = process\n"
             "connectors.cm.command = %s\n"
             "connectors.cm.stderr = stdout\n"
             "connectors.flaky_wd.type = process\n"
             "connectors.flaky_wd.command = sh %s %s\n"
             "connectors.flaky_wd.stderr = stdout\n"
             "params.die_mark = %s\n",
             script, mark, producer("cmocka_suite"), script, wd_mark, die_mark);
    HIL_ASSERT_OK(hil_write_file_atomic(cfg, conf, strlen(conf)));
    /* every run starts with the failing attempts; flaky_wd passes both
     * times (its test's worker is what fails) */
    unlink(mark);
    unlink(die_mark);
    HIL_ASSERT_OK(hil_write_file_atomic(wd_mark, "", 0));
    return cfg;
}

/* the "result" and "attempts" of full in results.json, once */
static void expect_json_once(const char* json, const char* full, const char* result, int attempts) {
    char key[200], res[64], why[1024];
    const char* at;
    snprintf(key, sizeof key, "\"full_name\":\"%s\"", full);
    HIL_EXPECT_EQ(count_of(json, key), 1, "%s once in results.json:\n%s", full, json);
    HIL_EXPECT(json_case(json, full, res, sizeof res, why, sizeof why), "%s is in results.json", full);
    HIL_EXPECT_STREQ(res, result, "%s in results.json (%s)", full, why);
    at = strstr(json, key);
    if (at && (at = strstr(at, "\"attempts\":")) != NULL)
        HIL_EXPECT_EQ(atoi(at + strlen("\"attempts\":")), attempts, "%s: attempts in results.json", full);
}

HIL_TEST_META(harvest, a_retried_harvest_reports_the_last_attempts_cases_once, "timeout=120") {
    const char* json = st_path("retry.json");
    const char* junit = st_path("retry.xml");
    const char* cfg;
    st_result r;
    char *jtext, *xtext;
    if (access(producer("cmocka_suite"), X_OK) != 0)
        HIL_SKIP("%s was not built: libcmocka-dev is missing (apt-get install libcmocka-dev)", producer("cmocka_suite"));
    cfg = retry_conf();
    {
        const char* argv[] = {st_meta("meta_harvest_retry"), "run", "-c", cfg, "--json", json, "--junit", junit,
                              "--color=never", NULL};
        st_run(argv, NULL, 60000, &r);
    }
    HIL_EXPECT_EQ(r.code, 1, "cmocka's cases fail in both attempts: %s", r.out);
    /* console: each case once; the closing line counts the last attempt */
    HIL_EXPECT_EQ(count_of(r.out, " fl.steady ("), 1, "%s", r.out);
    HIL_EXPECT_EQ(count_of(r.out, " cm.off_by_one ("), 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Passx    fl.flaky (") && st_has(&r, "Passx    retried.flaky_suite ("),
               "failed, then passed: flaky, as the test\n%s", r.out);
    HIL_EXPECT(!st_has(&r, "fl.only_first ("), "a case the last attempt did not run is no result\n%s", r.out);
    HIL_EXPECT(st_has(&r, "[hil: attempt 1 Failed: 0x3 != 0x4]"), "the earlier attempt is in the case's output\n%s", r.out);
    /* the worker that died: one result for the test, its cases once */
    HIL_EXPECT(st_has(&r, "Passx    retried.worker_dies_once ("), "%s", r.out);
    HIL_EXPECT_EQ(count_of(r.out, " wd.flaky ("), 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   wd.flaky ("), "%s", r.out);
    HIL_EXPECT(st_has(&r, "10 passed, 3 failed, 1 skipped"), "%s", r.out);
    /* JSON */
    jtext = st_read(json);
    expect_json_once(jtext, "fl.steady", "Passed", 2);
    expect_json_once(jtext, "fl.flaky", "Passx", 2);
    expect_json_once(jtext, "fl.also_steady", "Passed", 2);
    expect_json_once(jtext, "retried.flaky_suite", "Passx", 2);
    expect_json_once(jtext, "cm.off_by_one", "Failed", 2);
    expect_json_once(jtext, "cm.still_runs", "Passed", 2);
    expect_json_once(jtext, "retried.cmocka_twice", "Failed", 2);
    expect_json_once(jtext, "retried.worker_dies_once", "Passx", 2);
    expect_json_once(jtext, "wd.flaky", "Passed", 2);
    HIL_EXPECT(!strstr(jtext, "NotRun"), "no result is left over from the attempt that crashed:\n%s", jtext);
    HIL_EXPECT(strstr(jtext, "[hil: attempt 1: crashed: killed by SIGABRT"), "%s", jtext);
    HIL_EXPECT(!strstr(jtext, "\"full_name\":\"fl.only_first\""), "%s", jtext);
    HIL_EXPECT(strstr(jtext, "[hil: case fl.only_first of attempt 1 (Failed) was not run by attempt 2: not a result]"),
               "the harvesting test says what was dropped:\n%s", jtext);
    HIL_EXPECT(strstr(jtext, "[hil: attempt 1 Failed: first run fails]"), "%s", jtext);
    free(jtext);
    /* JUnit */
    xtext = st_read(junit);
    HIL_EXPECT_EQ(count_of(xtext, "<testcase name=\"flaky\" classname=\"fl\""), 1, "%s", xtext);
    HIL_EXPECT_EQ(count_of(xtext, "<testcase name=\"off_by_one\" classname=\"cm\""), 1, "%s", xtext);
    HIL_EXPECT_EQ(count_of(xtext, "<testcase "), 14, "fourteen results: %s", xtext);
    HIL_EXPECT(!strstr(xtext, "name=\"only_first\""), "%s", xtext);
    free(xtext);
    if (st_have("xmllint")) {
        const char* a[] = {"xmllint", "--noout", "--schema", "tests/junit.xsd", junit, NULL};
        st_result x;
        st_run(a, NULL, 20000, &x);
        HIL_EXPECT_EQ(x.code, 0, "JUnit validates against tests/junit.xsd: %s", x.out);
        st_result_free(&x);
    } else {
        HIL_SKIP("xmllint not installed (apt-get install libxml2-utils)");
    }
    st_result_free(&r);
    /* TAP: a plan of fourteen, each case once */
    cfg = retry_conf();
    {
        const char* argv[] = {st_meta("meta_harvest_retry"), "run", "-c", cfg, "--tap", NULL};
        st_run(argv, NULL, 60000, &r);
    }
    HIL_EXPECT(st_has(&r, "1..14\n"), "%s", r.out);
    HIL_EXPECT_EQ(count_of(r.out, " - fl.flaky"), 1, "%s", r.out);
    HIL_EXPECT_EQ(count_of(r.out, " - cm.off_by_one"), 1, "%s", r.out);
    HIL_EXPECT(!st_has(&r, "only_first"), "%s", r.out);
    st_result_free(&r);
    /* in-process (--no-fork): the same */
    cfg = retry_conf();
    {
        const char* argv[] = {st_meta("meta_harvest_retry"), "run", "-c", cfg, "--no-fork", "--color=never",
                              "--filter", "retried.flaky_suite", NULL};
        st_run(argv, NULL, 60000, &r);
    }
    HIL_EXPECT_EQ(count_of(r.out, " fl.flaky ("), 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "4 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
    /* a job's results.json */
    cfg = retry_conf();
    {
        const char* runs = st_path("retry-runs");
        const char* argv[] = {st_meta("meta_harvest_retry"), "job", "retried", "-c", cfg, "--runs", runs, NULL};
        char rj[1200];
        st_run(argv, NULL, 60000, &r);
        HIL_EXPECT(st_has(&r, "job: task=Failed"), "%s", r.out);
        snprintf(rj, sizeof rj, "%s/latest/results.json", runs);
        jtext = st_read(rj);
        HIL_EXPECT_EQ(count_of(jtext, "\"full_name\":\"fl.flaky\""), 1, "%s", jtext);
        HIL_EXPECT_EQ(count_of(jtext, "\"full_name\":\"cm.off_by_one\""), 1, "%s", jtext);
        HIL_EXPECT(!strstr(jtext, "\"full_name\":\"fl.only_first\""), "%s", jtext);
        {
            const char* at = strstr(jtext, "\"full_name\":\"fl.flaky\"");
            const char* res = at ? strstr(at, "\"result\":") : NULL;
            HIL_EXPECT(res && strncmp(res, "\"result\":\"Passx\"", 16) == 0, "fl.flaky is Passx in the job:\n%s", jtext);
        }
        free(jtext);
        st_result_free(&r);
    }
}

/* ---- the example firmware on an emulated board (make test-mcu) -------------------- */

/* "examples/mcu/ontarget.c:N" of the line that holds needle */
static void ontarget_line(const char* needle, char* out, size_t size) {
    char* src = st_read("examples/mcu/ontarget.c");
    const char* p = strstr(src, needle);
    const char* q;
    int line = 1;
    HIL_ASSERT(p != NULL, "no '%s' in examples/mcu/ontarget.c", needle);
    for (q = src; q < p; q++) line += *q == '\n';
    snprintf(out, size, "examples/mcu/ontarget.c:%d", line);
    free(src);
}

HIL_TEST_META(harvest, firmware_suites_on_an_emulated_board, "tags=mcu; timeout=120") {
    char conf[1024], img[600], at[128], want[256];
    const char* cfg = st_path("fw.conf");
    const char* json = st_path("fw-results.json");
    const char* junit = st_path("fw-junit.xml");
    const char* argv[] = {st_meta("meta_harvest"), "run", "-c", cfg, "--filter", "firmware.*", "--json", json, "--junit", junit, NULL};
    st_result r;
    char *jtext, *xtext;
    snprintf(img, sizeof img, "%s/mcu/fw-mps2-an385-default.elf", st_build_dir());
    if (!st_have("qemu-system-arm") || access(img, R_OK) != 0) {
        const char* why = !st_have("qemu-system-arm") ? "qemu-system-arm not installed" : "the firmware is not built (make test-mcu builds it)";
        if (getenv("HIL_REQUIRE_MCU") && strcmp(getenv("HIL_REQUIRE_MCU"), "1") == 0)
            HIL_FAIL("%s; HIL_REQUIRE_MCU=1 needs it (apt-get install gcc-arm-none-eabi qemu-system-arm, then make test-mcu)", why);
        HIL_SKIP("%s (apt-get install gcc-arm-none-eabi qemu-system-arm, then make test-mcu)", why);
    }
    snprintf(conf, sizeof conf, "connectors.fw.type = qemu\nconnectors.fw.machine = mps2-an385\nconnectors.fw.image = %s\n", img);
    HIL_ASSERT_OK(hil_write_file_atomic(cfg, conf, strlen(conf)));
    st_run(argv, NULL, 90000, &r);
    HIL_EXPECT_EQ(r.code, 1, "target cases fail on purpose: %s", r.out);
    jtext = st_read(json);
    xtext = st_read(junit);
    ontarget_line("CHECK_EQ(c, 2 + 2, 5);", at, sizeof at);
    /* Unity-style, running through */
    expect_reported(jtext, xtext, r.out, "fw_unity.test_crc16_check_value", "Passed", NULL);
    expect_reported(jtext, xtext, r.out, "fw_unity.test_u32_formats_the_largest", "Passed", NULL);
    snprintf(want, sizeof want, "%s: Expected 5 Was 4", at);
    expect_reported(jtext, xtext, r.out, "fw_unity.test_known_failure", "Failed", want);
    expect_reported(jtext, xtext, r.out, "fw_unity.test_second_uart", "Skipped", "needs a second UART");
    expect_reported(jtext, xtext, r.out, "fw_unity.test_text_stays_terminated", "Passed", NULL);
    expect_reported(jtext, xtext, r.out, "firmware.unity", "Failed", "1 of 6 target cases failed: test_known_failure");
    /* Ztest-style: the suite's own name */
    snprintf(want, sizeof want, "%s: test_known_failure: (4 not equal to 5)", at);
    expect_reported(jtext, xtext, r.out, "ontarget_text.test_known_failure", "Failed", want);
    expect_reported(jtext, xtext, r.out, "ontarget_text.test_second_uart", "Skipped", NULL);
    expect_reported(jtext, xtext, r.out, "ontarget_text.test_text_stays_terminated", "Passed", NULL);
    expect_reported(jtext, xtext, r.out, "firmware.ztest", "Failed", "1 of 6 target cases failed");
    /* a HardFault in the middle: the running case Errored, the harvest too */
    expect_reported(jtext, xtext, r.out, "fw_unity_fault.after_test_second_uart", "Errored", "the target crashed: *** HardFault pc=");
    expect_reported(jtext, xtext, r.out, "fw_ztest_fault.test_reads_unmapped", "Errored", "the target crashed: *** HardFault pc=");
    expect_reported(jtext, xtext, r.out, "firmware.unity_fault", "Errored", "the target crashed");
    expect_reported(jtext, xtext, r.out, "firmware.ztest_fault", "Errored", "the target crashed");
    HIL_EXPECT(!strstr(jtext, "fw_ztest_fault.test_text_stays_terminated"), "nothing after the fault is reported as run");
    if (st_have("xmllint")) {
        const char* a[] = {"xmllint", "--noout", "--schema", "tests/junit.xsd", junit, NULL};
        st_result x;
        st_run(a, NULL, 20000, &x);
        HIL_EXPECT_EQ(x.code, 0, "JUnit validates against tests/junit.xsd: %s", x.out);
        st_result_free(&x);
    }
    free(jtext);
    free(xtext);
    st_result_free(&r);
}

HIL_TEST(harvest, doc_example_runs) {
    char path[512];
    st_result r;
    const char* a[] = {path, NULL};
    snprintf(path, sizeof path, "%s/doc-examples/harvest_feed", st_build_dir());
    if (access(path, X_OK) != 0) HIL_FAIL("%s is missing: run make (it extracts the docs/*.md examples)", path);
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "demo.test_a Passed\n"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "demo.test_b Failed: Expected 2 Was 3"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "2 cases, 1 failed, format unity"), "%s", r.out);
    st_result_free(&r);
}
