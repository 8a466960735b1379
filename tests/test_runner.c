/* Meta-tests of the runner: run tests/meta programs and check their
 * console output, exit code and reports (results, crash safety, JUnit with
 * xmllint, TAP with prove, JSON, interruption). */
#include "selftest.h"
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <poll.h>

HIL_SUITE(runner, "tags=meta")

static void run_basic(st_result* r, const char* extra1, const char* extra2) {
    const char* argv[10];
    int n = 0;
    argv[n++] = st_meta("meta_basic");
    argv[n++] = "--color=never";
    if (extra1) argv[n++] = extra1;
    if (extra2) argv[n++] = extra2;
    argv[n] = NULL;
    st_run(argv, NULL, 30000, r);
}

/* The last line of the output. */
static const char* last_line(const st_result* r, char* buf, size_t size) {
    const char* end = r->out + r->len;
    const char* s;
    while (end > r->out && end[-1] == '\n') end--;
    s = end;
    while (s > r->out && s[-1] != '\n') s--;
    snprintf(buf, size, "%.*s", (int)(end - s), s);
    return buf;
}

HIL_TEST(runner, every_outcome_and_the_closing_line) {
    st_result r;
    char line[256];
    run_basic(&r, NULL, NULL);
    HIL_EXPECT_EQ(r.code, 1, "exit code with failures\n%s", r.out);
    HIL_EXPECT_STREQ(last_line(&r, line, sizeof line), "6 passed, 9 failed, 2 skipped", "\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed 5, Passx 1, Failed 3, Errored 4, Blocked 2, Aborted 0, Skipped 2"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Failed   basic.fails"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "expected n == 4, got 3 vs 4 - reply to ping"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "output of a failing test"), "captured output of a failing test is shown\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Passx    basic.flaky"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Blocked  blocked.one"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "suite setup failed"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "the board did not power up"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Failed   torn.teardown"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Skipped  basic.skips"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "needs board rev B"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "not wired in this lab"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, crash_abort_exit_and_hang_are_errored_and_the_run_goes_on) {
    st_result r;
    run_basic(&r, NULL, NULL);
    HIL_EXPECT(st_has(&r, "Errored  basic.segfaults"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "killed by SIGSEGV"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "about to crash"), "output before the crash is kept\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Errored  basic.aborts"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "killed by SIGABRT"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Errored  basic.exits"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "exited with status 3"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Errored  basic.hangs"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "timeout after 0.3 s"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   basic.last"), "tests after the crash still run\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   torn.runs"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, isolate_gives_the_same_results) {
    st_result r;
    char line[256];
    run_basic(&r, "--isolate", NULL);
    HIL_EXPECT_EQ(r.code, 1);
    HIL_EXPECT_STREQ(last_line(&r, line, sizeof line), "6 passed, 9 failed, 2 skipped", "\n%s", r.out);
    HIL_EXPECT(st_has(&r, "killed by SIGSEGV"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, suite_setup_crash_blocks_its_tests) {
    st_result r;
    run_basic(&r, "--set=params.crash_setup=1", "--filter=crashy.*");
    HIL_EXPECT_EQ(r.code, 1);
    HIL_EXPECT(st_has(&r, "Blocked  crashy.one"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "suite setup crashed: killed by SIGSEGV"), "%s", r.out);
    st_result_free(&r);
}

/* A test retried after a crash, whose fresh worker then dies (or fails) in
 * the suite's setup: one result per test, the retried one Blocked with its
 * first attempt's crash in its output; no NotRun left behind. */
HIL_TEST(runner, a_crash_retry_that_dies_in_setup_leaves_one_result) {
    static const char* const how[] = {"crash", "fail"};
    size_t k;
    for (k = 0; k < 2; k++) {
        char marker[512], json[520], set_marker[640], set_how[64], jarg[640];
        const char* argv[8];
        st_result r;
        char *text, *v;
        snprintf(marker, sizeof marker, "%s", st_path(how[k]));
        snprintf(json, sizeof json, "%s.json", marker);
        snprintf(set_marker, sizeof set_marker, "--set=params.marker=%s", marker);
        snprintf(set_how, sizeof set_how, "--set=params.how=%s", how[k]);
        snprintf(jarg, sizeof jarg, "--json=%s", json);
        argv[0] = st_meta("meta_retry_setup");
        argv[1] = "--color=never";
        argv[2] = set_marker;
        argv[3] = set_how;
        argv[4] = jarg;
        argv[5] = NULL;
        st_run(argv, NULL, 30000, &r);
        HIL_EXPECT_EQ(r.code, 1, "%s: %s", how[k], r.out);
        HIL_EXPECT(st_has(&r, "0 passed, 2 failed, 0 skipped"), "%s: %s", how[k], r.out);
        st_result_free(&r);
        text = st_read(json);
        v = st_json_get(text, "summary.total");
        HIL_EXPECT(v && strcmp(v, "2") == 0, "%s: two results, not %s", how[k], v ? v : "?");
        free(v);
        v = st_json_get(text, "summary.not_run");
        HIL_EXPECT(v && strcmp(v, "0") == 0, "%s: no NotRun, not %s", how[k], v ? v : "?");
        free(v);
        v = st_json_get(text, "suites.0.tests.0.result");
        HIL_EXPECT(v && strcmp(v, "Blocked") == 0, "%s: %s", how[k], v ? v : "?");
        free(v);
        v = st_json_get(text, "suites.0.tests.0.output");
        HIL_EXPECT(v && strstr(v, "[hil: attempt 1: crashed: killed by SIGSEGV"), "%s: %s", how[k], v ? v : "?");
        free(v);
        v = st_json_get(text, "suites.0.tests.1.name");
        HIL_EXPECT(v && strcmp(v, "after") == 0, "%s: %s", how[k], v ? v : "?");
        free(v);
        free(text);
    }
}

HIL_TEST(runner, all_passing_exits_zero) {
    const char* argv[] = {st_meta("meta_pass"), "--color=never", NULL};
    st_result r;
    char line[256];
    st_run(argv, NULL, 30000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT_STREQ(last_line(&r, line, sizeof line), "4 passed, 0 failed, 1 skipped", "\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, no_fork_runs_in_process) {
    const char* argv[] = {st_meta("meta_pass"), "--no-fork", "-q", NULL};
    st_result r;
    st_run(argv, NULL, 30000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "4 passed, 0 failed, 1 skipped"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, selection_by_filter_tag_and_positional) {
    st_result r;
    const char* a1[] = {st_meta("meta_pass"), "list", "--tag", "a", NULL};
    const char* a2[] = {st_meta("meta_pass"), "list", "--exclude-tag", "a", "ok.*", NULL};
    const char* a3[] = {st_meta("meta_pass"), "list", "--filter", "other.*", NULL};
    const char* a4[] = {st_meta("meta_pass"), "run", "-q", "other", NULL};
    st_run(a1, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "ok.one\n1 test\n"), "%s", r.out);
    st_result_free(&r);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "ok.two\nok.skipped\n2 tests\n"), "%s", r.out);
    st_result_free(&r);
    st_run(a3, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "other.three\nother.slow\n2 tests\n"), "%s", r.out);
    st_result_free(&r);
    st_run(a4, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "2 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, repeat_and_fail_fast) {
    st_result r;
    const char* a1[] = {st_meta("meta_pass"), "-q", "--repeat", "3", NULL};
    const char* a2[] = {st_meta("meta_basic"), "-q", "--fail-fast", "basic.*", NULL};
    st_run(a1, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "12 passed, 0 failed, 3 skipped"), "%s", r.out);
    st_result_free(&r);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 1);
    HIL_EXPECT(st_has(&r, "1 passed, 1 failed, 0 skipped"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "stopped early (--fail-fast): 10 tests not run"), "%s", r.out);
    st_result_free(&r);
}

/* The order of "Passed ..." lines in the output. */
static void result_order(const st_result* r, char* out, size_t size) {
    const char* p = r->out;
    out[0] = 0;
    while ((p = strstr(p, "  Passed   ")) != NULL) {
        const char* e;
        p += 11;
        e = strchr(p, ' ');
        if (!e) break;
        strncat(out, p, (size_t)(e - p) < size - strlen(out) - 2 ? (size_t)(e - p) : 0);
        strncat(out, ";", size - strlen(out) - 1);
    }
}

HIL_TEST(runner, shuffle_with_a_seed_repeats_the_order) {
    const char* a[] = {st_meta("meta_pass"), "--color=never", "--shuffle=42", "--repeat=4", NULL};
    const char* b[] = {st_meta("meta_pass"), "--color=never", NULL};
    st_result r1, r2, r3;
    char o1[2048], o2[2048], o3[2048];
    st_run(a, NULL, 10000, &r1);
    st_run(a, NULL, 10000, &r2);
    st_run(b, NULL, 10000, &r3);
    result_order(&r1, o1, sizeof o1);
    result_order(&r2, o2, sizeof o2);
    result_order(&r3, o3, sizeof o3);
    HIL_EXPECT_STREQ(o1, o2);
    HIL_EXPECT(st_has(&r1, "seed 42"), "%s", r1.out);
    HIL_EXPECT(strlen(o1) > strlen(o3), "repeat 4 gives more results");
    st_result_free(&r1);
    st_result_free(&r2);
    st_result_free(&r3);
}

HIL_TEST(runner, wrong_test_metadata_is_a_configuration_error_naming_the_test) {
    const char* a[] = {NULL, NULL};
    st_result r;
    a[0] = st_meta("meta_bad_meta");
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 3, "exit code 3: a configuration error\n%s", r.out);
    HIL_EXPECT(st_has(&r, "meta.missing_separator"), "names the test\n%s", r.out);
    HIL_EXPECT(st_has(&r, "separate metadata items with ';'"), "says what to do\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, usage_errors_exit_2_with_a_hint) {
    const char* a1[] = {st_meta("meta_pass"), "--fial-fast", NULL};
    const char* a2[] = {st_meta("meta_pass"), "--timeout", "soon", NULL};
    const char* a3[] = {st_meta("meta_pass"), "--color=sometimes", NULL};
    const char* a4[] = {st_meta("meta_pass"), "list", "--fail-fast", NULL};
    st_result r;
    st_run(a1, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 2);
    HIL_EXPECT(st_has(&r, "unknown option '--fial-fast'; did you mean '--fail-fast'?"), "%s", r.out);
    st_result_free(&r);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 2);
    HIL_EXPECT(st_has(&r, "expected a number, got 'soon'"), "%s", r.out);
    st_result_free(&r);
    st_run(a3, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 2);
    HIL_EXPECT(st_has(&r, "expected one of auto|always|never"), "%s", r.out);
    st_result_free(&r);
    st_run(a4, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 2);
    HIL_EXPECT(st_has(&r, "does not apply to the 'list' command"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, help_lists_commands_and_options) {
    const char* a1[] = {st_meta("meta_pass"), "--help", NULL};
    const char* a2[] = {st_meta("meta_pass"), "help", "list", NULL};
    st_result r;
    st_run(a1, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0);
    HIL_EXPECT(st_has(&r, "--junit FILE"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "extensions"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "exit codes: 0"), "%s", r.out);
    st_result_free(&r);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0);
    HIL_EXPECT(st_has(&r, "usage: "), "%s", r.out);
    HIL_EXPECT(!st_has(&r, "--fail-fast"), "run-only options are not shown for list\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, junit_report_is_valid_and_complete) {
    const char* junit = st_path("basic.xml");
    char flag[600];
    st_result r, x;
    char* xml;
    snprintf(flag, sizeof flag, "--junit=%s", junit);
    run_basic(&r, flag, NULL);
    xml = st_read(junit);
    HIL_EXPECT(strstr(xml, "<testsuites name=\"meta_basic\" tests=\"17\" failures=\"3\" errors=\"6\" skipped=\"2\""),
               "%.400s", xml);
    HIL_EXPECT(strstr(xml, "<error message=\"crashed: killed by SIGSEGV (Segmentation fault)\" type=\"Errored\""));
    HIL_EXPECT(strstr(xml, "<error message=\"suite setup failed:"), "Blocked is an error, not a skip");
    HIL_EXPECT(strstr(xml, "type=\"Blocked\""));
    HIL_EXPECT(strstr(xml, "<skipped message=\"needs board rev B\"/>"));
    HIL_EXPECT(strstr(xml, "<property name=\"case_id\" value=\"2\"/>"));
    HIL_EXPECT(strstr(xml, "<property name=\"tags\" value=\"meta,fast\"/>"));
    HIL_EXPECT(strstr(xml, "<property name=\"result\" value=\"Passx\"/>"));
    HIL_EXPECT(strstr(xml, "an info record from the test"), "log records are in system-out");
    HIL_EXPECT(strstr(xml, "to stderr"), "stderr is captured");
    HIL_EXPECT(strstr(xml, "<system-err>warning: queue overflowed 3 times"));
    if (st_have("xmllint")) {
        const char* a[] = {"xmllint", "--noout", "--schema", "tests/junit.xsd", junit, NULL};
        st_run(a, NULL, 10000, &x);
        HIL_EXPECT_EQ(x.code, 0, "xmllint: %s", x.out);
        st_result_free(&x);
    }
    free(xml);
    st_result_free(&r);
    ST_SKIP_UNLESS_PROG("xmllint", "libxml2-utils");
}

HIL_TEST(runner, json_results_are_valid) {
    const char* path = st_path("basic.json");
    char flag[600], err[200];
    st_result r;
    char *json, *v;
    snprintf(flag, sizeof flag, "--json=%s", path);
    run_basic(&r, flag, NULL);
    json = st_read(path);
    HIL_ASSERT(st_json_valid(json, err, sizeof err), "%s", err);
    v = st_json_get(json, "summary.errored");
    HIL_EXPECT_STREQ(v, "4");
    free(v);
    v = st_json_get(json, "result");
    HIL_EXPECT_STREQ(v, "Errored");
    free(v);
    v = st_json_get(json, "suites.0.tests.3.result");
    HIL_EXPECT_STREQ(v, "Errored");
    free(v);
    v = st_json_get(json, "suites.0.tests.3.reason");
    HIL_EXPECT(v && strstr(v, "SIGSEGV"), "%s", v ? v : "(null)");
    free(v);
    v = st_json_get(json, "schema");
    HIL_EXPECT_STREQ(v, "hil-results-1");
    free(v);
    {
        /* every key docs/results.schema.json requires is there */
        static const char* const levels[][2] = {{"required", ""},
                                                 {"$defs.suite.required", "suites.0."},
                                                 {"$defs.test.required", "suites.0.tests.0."},
                                                 {"properties.summary.required", "summary."}};
        char* schema = st_read("docs/results.schema.json");
        size_t l;
        HIL_ASSERT(st_json_valid(schema, err, sizeof err), "the schema: %s", err);
        for (l = 0; l < sizeof levels / sizeof levels[0]; l++) {
            int i;
            for (i = 0;; i++) {
                char path[128], *key, *got;
                snprintf(path, sizeof path, "%s.%d", levels[l][0], i);
                key = st_json_get(schema, path);
                if (!key) break;
                snprintf(path, sizeof path, "%s%s", levels[l][1], key);
                got = st_json_get(json, path);
                HIL_EXPECT(got != NULL, "results.json lacks %s", path);
                free(got);
                free(key);
            }
            HIL_EXPECT(i > 3, "schema list %s read", levels[l][0]);
        }
        free(schema);
    }
    free(json);
    st_result_free(&r);
}

HIL_TEST(runner, tap_output_passes_prove) {
    const char* script = st_path("meta_pass.t");
    char text[1024];
    st_result r;
    ST_SKIP_UNLESS_PROG("prove", "perl");
    snprintf(text, sizeof text, "#!/bin/sh\nexec %s --tap\n", st_meta("meta_pass"));
    HIL_ASSERT_OK(hil_write_file_atomic(script, text, strlen(text)));
    HIL_ASSERT_EQ(chmod(script, 0755), 0);
    {
        const char* a[] = {"prove", "--exec", "", script, NULL};
        st_run(a, NULL, 30000, &r);
    }
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Result: PASS"), "%s", r.out);
    st_result_free(&r);
    {
        /* and prove sees failures */
        snprintf(text, sizeof text, "#!/bin/sh\nexec %s --tap\n", st_meta("meta_basic"));
        HIL_ASSERT_OK(hil_write_file_atomic(script, text, strlen(text)));
        HIL_ASSERT_EQ(chmod(script, 0755), 0);
        {
            const char* a[] = {"prove", "--exec", "", script, NULL};
            st_run(a, NULL, 30000, &r);
        }
        HIL_EXPECT_NE(r.code, 0, "%s", r.out);
        HIL_EXPECT(st_has(&r, "Failed 9/17 subtests"), "%s", r.out);
        st_result_free(&r);
    }
}

/* Start meta_pass with a slow test; wait until that test signals (through an
 * inherited pipe) that it is running; interrupt it. */
static void interrupt_run(st_result* r, const char* junit) {
    int fds[2];
    char fdarg[64], jarg[600];
    hil_proc_config cfg;
    hil_proc p;
    hil_strbuf sb = {0, 0, 0, 0};
    char c;
    HIL_ASSERT_EQ(pipe(fds), 0);
    snprintf(fdarg, sizeof fdarg, "--set=params.started_fd=%d", fds[1]);
    snprintf(jarg, sizeof jarg, "--junit=%s", junit);
    {
        const char* argv[] = {st_meta("meta_pass"), "--color=never", "--set=params.slow_ms=20000", fdarg, jarg, NULL};
        hil_proc_config_init(&cfg);
        cfg.argv = argv;
        cfg.pipe_stdout = 1;
        cfg.stderr_to_stdout = 1;
        cfg.new_process_group = 1;
        cfg.die_with_parent = 1;
        HIL_ASSERT_OK(hil_proc_spawn(&p, &cfg));
    }
    close(fds[1]);
    HIL_ASSERT_OK(hil_wait_readable(fds[0], 10000), "the slow test did not start");
    HIL_ASSERT_EQ(read(fds[0], &c, 1), 1);
    kill(p.pid, SIGINT);
    for (;;) {
        char buf[4096];
        ssize_t n;
        HIL_ASSERT_OK(hil_wait_readable(p.stdout_fd, 10000), "no exit after the interrupt");
        n = read(p.stdout_fd, buf, sizeof buf);
        if (n > 0) {
            hil_sb_append(&sb, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    HIL_ASSERT_OK(hil_proc_wait(&p, 10000));
    r->status = p.status;
    r->code = hil_proc_exit_code(p.status);
    /* nothing of the run may be left: its process group is empty */
    HIL_EXPECT(kill(-p.pid, 0) != 0 && errno == ESRCH, "processes left in the run's group");
    hil_proc_close(&p);
    close(fds[0]);
    r->len = sb.len;
    r->out = hil_sb_take(&sb);
}

HIL_TEST_META(runner, interrupt_aborts_the_running_test_and_writes_reports, "timeout=30") {
    st_result r;
    const char* junit = st_path("interrupted.xml");
    char* xml;
    interrupt_run(&r, junit);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Aborted  other.slow"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "interrupted"), "%s", r.out);
    xml = st_read(junit);
    HIL_EXPECT(strstr(xml, "type=\"Aborted\""), "%s", xml);
    HIL_EXPECT(strstr(xml, "name=\"one\""), "earlier results are kept");
    free(xml);
    st_result_free(&r);
}

/* The second Ctrl-C is for a run that is slow to stop after the first. The
 * run is made slow on purpose, and without a clock: its stdout is a pipe
 * this test has filled, so after the first interrupt it blocks on its first
 * console write (as it would on a terminal that does not keep up) and can
 * only end through the second. Without that, a run that stops quickly may
 * have exited before the second signal arrives (it did under load: 7 of 50
 * runs exited 1, the second signal too late). Its stderr, where the notes
 * go, is a pipe of its own that is read throughout. */
static void interrupt_twice_run(st_result* r) {
    int err[2], out[2], started[2], pid, st, filled = 0, open_fds;
    char fdarg[64], c;
    hil_strbuf sb = {0, 0, 0, 0};
    struct pollfd pf[2];
    HIL_ASSERT_EQ(pipe(err), 0);
    HIL_ASSERT_EQ(pipe(out), 0);
    HIL_ASSERT_EQ(pipe(started), 0);
    snprintf(fdarg, sizeof fdarg, "--set=params.started_fd=%d", started[1]);
    pid = fork();
    HIL_ASSERT(pid >= 0);
    if (pid == 0) {
        const char* argv[] = {st_meta("meta_pass"), "other.slow", "--color=never", "--set=params.slow_ms=20000",
                              fdarg, NULL};
        setpgid(0, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]); close(out[1]); close(err[0]); close(err[1]); close(started[0]);
        execv(argv[0], (char* const*)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    close(err[1]);
    close(started[1]);
    HIL_ASSERT_OK(hil_wait_readable(started[0], 10000), "the slow test did not start");
    HIL_ASSERT_EQ(read(started[0], &c, 1), 1);
    /* fill its stdout to the last byte: one-byte writes until EAGAIN. Through
     * a descriptor of our own: O_NONBLOCK on out[1] would be on the run's
     * stdout too (one open file), and its writes would fail, not wait. */
    {
        char chunk[4096], self[64];
        int w;
        snprintf(self, sizeof self, "/proc/self/fd/%d", out[1]);
        w = open(self, O_WRONLY | O_NONBLOCK);
        HIL_ASSERT(w >= 0, "%s: %s", self, strerror(errno));
        memset(chunk, 'z', sizeof chunk);
        while (write(w, chunk, sizeof chunk) == (ssize_t)sizeof chunk) filled += (int)sizeof chunk;
        while (write(w, chunk, 1) == 1) filled++;
        HIL_ASSERT(errno == EAGAIN, "filling the run's stdout: %s", strerror(errno));
        close(w);
    }
    kill(pid, SIGINT);
    while (!strstr(hil_sb_cstr(&sb), "Ctrl-C again")) {
        char buf[4096];
        ssize_t n;
        HIL_ASSERT_OK(hil_wait_readable(err[0], 10000), "no note after the first interrupt:\n%s", hil_sb_cstr(&sb));
        n = read(err[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        HIL_ASSERT(n > 0, "the run ended after one interrupt:\n%s", hil_sb_cstr(&sb));
        hil_sb_append(&sb, buf, (size_t)n);
    }
    kill(pid, SIGINT);
    close(out[1]);
    /* to the end of both pipes; the filler is not part of its output */
    pf[0].fd = err[0];
    pf[1].fd = out[0];
    for (open_fds = 2; open_fds > 0;) {
        char buf[4096];
        int i;
        pf[0].events = pf[1].events = POLLIN;
        HIL_ASSERT(poll(pf, 2, 10000) > 0, "no exit after the second interrupt:\n%s", hil_sb_cstr(&sb));
        for (i = 0; i < 2; i++) {
            ssize_t n, skip;
            if (pf[i].fd < 0 || !pf[i].revents) continue;
            n = read(pf[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { close(pf[i].fd); pf[i].fd = -1; open_fds--; continue; }
            skip = i == 1 ? (n < filled ? n : filled) : 0;
            if (i == 1) filled -= (int)skip;
            hil_sb_append(&sb, buf + skip, (size_t)(n - skip));
        }
    }
    HIL_ASSERT_EQ(waitpid(pid, &st, 0), pid);
    r->status = st;
    r->code = hil_proc_exit_code(st);
    /* the second interrupt also ended the worker: the run's group is empty */
    HIL_EXPECT(kill(-pid, 0) != 0 && errno == ESRCH, "processes left in the run's group");
    close(started[0]);
    r->len = sb.len;
    r->out = hil_sb_take(&sb);
}

HIL_TEST_META(runner, second_interrupt_exits_at_once, "timeout=30") {
    st_result r;
    interrupt_twice_run(&r);
    HIL_EXPECT_EQ(r.code, 130, "%s", r.out);
    HIL_EXPECT(st_has(&r, "interrupted twice: exiting now"), "%s", r.out);
    HIL_EXPECT(!st_has(&r, "passed,"), "no closing line: the run did not finish\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, the_table_api_works_without_constructors) {
    const char* a1[] = {st_meta("meta_table"), "-v", "--color=never", NULL};
    const char* a2[] = {st_meta("meta_table"), "answer", NULL};
    st_result r;
    st_run(a1, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "2 passed, 0 failed, 0 skipped"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "setup ran"), "%s", r.out);
    st_result_free(&r);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "answer: 42"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, log_level_and_log_file) {
    const char* log = st_path("run.log");
    const char* a1[] = {st_meta("meta_basic"), "basic.logs_and_warns", "--log-level", "debug", "--log-file", log, NULL};
    const char* a2[] = {st_meta("meta_basic"), "basic.logs_and_warns", "--log-level", "meta.basic=error", "-v", NULL};
    const char* a3[] = {st_meta("meta_basic"), "--log-level", "chatty", NULL};
    st_result r;
    char* text;
    st_run(a1, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "warning meta.basic: a warning record from the test"), "warnings are shown live\n%s", r.out);
    st_result_free(&r);
    text = st_read(log);
    HIL_EXPECT(strstr(text, "info    meta.basic: an info record from the test"), "%s", text);
    HIL_EXPECT(strstr(text, "warning meta.basic: a warning record from the test"), "%s", text);
    free(text);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT(!st_has(&r, "a warning record"), "meta.basic=error hides warnings\n%s", r.out);
    st_result_free(&r);
    st_run(a3, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 2, "%s", r.out);
    HIL_EXPECT(st_has(&r, "unknown log level 'chatty' (use trace, debug, info, warning, error or off)"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, verbose_shows_output_and_color_always_colours) {
    const char* a[] = {st_meta("meta_pass"), "-v", "--color=always", NULL};
    st_result r;
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "\x1b[32mPassed  \x1b[0m ok.one"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "info    meta.ok: setup"), "-v prints log records live\n%s", r.out);
    st_result_free(&r);
}

/* Run argv with stdout and stderr on a pseudo-terminal, as in a shell. */
static void run_on_pty(const char* const* argv, st_result* r) {
    int master = posix_openpt(O_RDWR | O_NOCTTY), pid, st;
    hil_strbuf sb = {0, 0, 0, 0};
    HIL_ASSERT(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "pty: %s", strerror(errno));
    pid = fork();
    HIL_ASSERT(pid >= 0);
    if (pid == 0) {
        int slave;
        setsid();
        slave = open(ptsname(master), O_RDWR);
        if (slave < 0) _exit(126);
        dup2(slave, 1);
        dup2(slave, 2);
        close(master);
        setenv("TERM", "xterm", 1);
        execv(argv[0], (char* const*)argv);
        _exit(127);
    }
    for (;;) {
        char buf[4096];
        ssize_t n;
        if (hil_wait_readable(master, 20000) != HIL_OK) break;
        n = read(master, buf, sizeof buf);
        if (n <= 0) break; /* EIO once the child side is closed */
        hil_sb_append(&sb, buf, (size_t)n);
    }
    waitpid(pid, &st, 0);
    close(master);
    r->status = st;
    r->code = hil_proc_exit_code(st);
    r->len = sb.len;
    r->out = hil_sb_take(&sb);
}

HIL_TEST(runner, a_live_progress_line_on_a_terminal) {
    const char* a[] = {st_meta("meta_pass"), "--set=params.slow_ms=1300", NULL};
    st_result r;
    run_on_pty(a, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "\r\x1b[K[4/5] 3 passed, 0 failed, 1 skipped ETA"), "%s", r.out);
    HIL_EXPECT(st_has(&r, " | other.slow "), "the running test and its time\n%s", r.out);
    HIL_EXPECT(st_has(&r, "\x1b[32m"), "colour on a terminal by default");
    HIL_EXPECT(st_has(&r, "4 passed, 0 failed, 1 skipped"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(runner, more_failed_checks_than_listed_are_counted_not_lost) {
    const char* json = st_path("many.json");
    const char* a[] = {st_meta("meta_many"), "--color=never", "--json", json, NULL};
    st_result r;
    char *text, *v;
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "... 90 more failed checks"), "%s", r.out);
    text = st_read(json);
    v = st_json_get(text, "suites.0.tests.0.failures.63.line");
    HIL_EXPECT(v != NULL, "64 failures are listed");
    free(v);
    v = st_json_get(text, "suites.0.tests.0.failures.64.line");
    HIL_EXPECT(v == NULL, "not 65");
    free(v);
    free(text);
    st_result_free(&r);
}
