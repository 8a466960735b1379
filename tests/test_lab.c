/* The demo lab's board tests against sim-firmware: the whole chain (process
 * channel with COBS framing, the automatic proxy between two auxiliaries,
 * the DUT auxiliary talking testApp to hil_target.h, the communication
 * auxiliary) and what faults of the board look like in the results. */
#include "selftest.h"

HIL_SUITE(lab_board, "tags=demo")

static void run_board(st_result* r, const char* misbehave, const char* extra) {
    char bin[512], sim[600], cmd[900];
    const char* argv[12];
    int n = 0;
    snprintf(bin, sizeof bin, "%s/demo/board_tests", st_build_dir());
    snprintf(sim, sizeof sim, "%s/demo/sim-firmware", st_build_dir());
    if (access(bin, X_OK) != 0 || access(sim, X_OK) != 0) HIL_FAIL("%s or %s is missing: run make", bin, sim);
    snprintf(cmd, sizeof cmd, "--set=connectors.dut.command=%s --name node-9 --type sensor-node --variant rev-b%s%s", sim,
             misbehave ? " --misbehave " : "", misbehave ? misbehave : "");
    argv[n++] = bin;
    argv[n++] = "-c";
    argv[n++] = "examples/lab/board.conf";
    argv[n++] = cmd;
    argv[n++] = "--color=never";
    argv[n++] = "--timeout=20";
    if (extra) argv[n++] = extra;
    argv[n] = NULL;
    st_run(argv, NULL, 60000, r);
}

HIL_TEST(lab_board, a_healthy_board_passes) {
    st_result r;
    run_board(&r, NULL, NULL);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   service.sensor_reads_are_plausible"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   target.adc_reference"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Skipped  radio.link_up") && st_has(&r, "not implemented on the target"),
               "a sensor node has no radio\n%s", r.out);
    HIL_EXPECT(st_has(&r, "7 passed, 0 failed, 1 skipped"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(lab_board, a_board_that_crashes_errors_the_running_test_and_blocks_the_rest) {
    st_result r;
    run_board(&r, "crash-after=3", NULL);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Errored") && st_has(&r, "SIGABRT"), "the test that was talking to it\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Blocked"), "tests needing the dead board cannot run\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST_META(lab_board, a_silent_board_times_out_with_the_reason, "timeout=60") {
    st_result r;
    run_board(&r, "silent", "--filter=target.ram_check");
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "ACK") || st_has(&r, "ack"), "names the missing acknowledgement\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(lab_board, corrupt_frames_are_detected) {
    st_result r;
    run_board(&r, "corrupt", "--filter=target.*");
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "bad CRC"), "the CRC catches the flipped bits\n%s", r.out);
    st_result_free(&r);
}

/* ---- the whole lab, scheduled (what `make demo` runs) -------------------- */
/* no-tsan: each run is a task forked from the job's monitor thread that
   forks its test workers in turn; ThreadSanitizer's runtime does not
   survive a fork in a child of a threaded process (the second fork hangs
   inside its interceptor), as with the jobs suites. */
HIL_SUITE(lab_schedule, "tags=demo,no-tsan")

/* Runs the lab's schedule into st_tmpdir()/runs and leaves the run directory
   (runs/latest) for the checks; extra: up to two more arguments, or NULL. */
static void run_lab(st_result* r, const char* extra1, const char* extra2) {
    char bin[512], bindir[512], labdir[600], envb[600], envl[700], runs[600];
    const char* argv[10];
    int n = 7;
    const char* env[3];
    snprintf(bin, sizeof bin, "%s/demo/board_tests", st_build_dir());
    snprintf(bindir, sizeof bindir, "%s/demo", st_build_dir());
    if (access(bin, X_OK) != 0) HIL_FAIL("%s is missing: run make", bin);
    snprintf(labdir, sizeof labdir, "%s", st_path("lab"));
    snprintf(runs, sizeof runs, "%s", st_path("runs"));
    snprintf(envb, sizeof envb, "HIL_DEMO_BIN=%s", bindir);
    snprintf(envl, sizeof envl, "HIL_DEMO_LAB=%s", labdir);
    env[0] = envb;
    env[1] = envl;
    env[2] = NULL;
    argv[0] = bin;
    argv[1] = "schedule";
    argv[2] = "-c";
    argv[3] = "examples/lab/lab.conf";
    argv[4] = "--runs";
    argv[5] = runs;
    argv[6] = "--color=never";
    if (extra1) argv[n++] = extra1;
    if (extra2) argv[n++] = extra2;
    argv[n] = NULL;
    st_run(argv, env, 120000, r);
}

HIL_TEST_META(lab_schedule, every_board_is_built_flashed_and_tested, "timeout=150") {
    st_result r;
    char* json;
    char* v;
    run_lab(&r, NULL, NULL);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "23 passed, 0 failed, 0 skipped"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "schedule: 6 of 6 work items done"), "live progress\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   flash.gw1.") || st_has(&r, "Passed   flash.gw2."), "gateways flashed\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   soak[rev-b]"), "%s", r.out);
    st_result_free(&r);

    json = st_read(st_path("runs/latest/results.json"));
    {
        char err[200];
        HIL_EXPECT(st_json_valid(json, err, sizeof err), "results.json: %s", err);
    }
    v = st_json_get(json, "summary.passed");
    HIL_EXPECT(v && strcmp(v, "23") == 0, "summary.passed is %s\n%.2000s", v ? v : "(none)", json);
    free(v);
    free(json);
    HIL_EXPECT(access(st_path("runs/latest/junit.xml"), R_OK) == 0, "junit.xml");
    HIL_EXPECT(access(st_path("runs/latest/report.html"), R_OK) == 0, "report.html");
    if (st_have("xmllint")) {
        const char* a[] = {"xmllint", "--noout", "--schema", "tests/junit.xsd", NULL, NULL};
        st_result x;
        a[4] = st_path("runs/latest/junit.xml");
        st_run(a, NULL, 30000, &x);
        HIL_EXPECT_EQ(x.code, 0, "the merged JUnit report is valid against tests/junit.xsd\n%s", x.out);
        st_result_free(&x);
    }
}

/* The report opened in a real browser: Chromium draws the Gantt chart and
   the result table, and tests/browser/render_check.py checks the DOM and the
   pixels of a screenshot. */
HIL_TEST_META(lab_schedule, the_report_renders_in_chromium, "tags=browser; timeout=200") {
    st_result r, c;
    const char* a[] = {"python3", "tests/browser/render_check.py", NULL, "--png", NULL,
                       "--expect-bars", "8", "--expect-rows", "23", NULL};
    ST_SKIP_UNLESS_PROG("python3", "python3");
    if (!st_have("chromium") && !st_have("chromium-browser"))
        HIL_SKIP("chromium not installed (apt-get install chromium)");
    run_lab(&r, NULL, NULL);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    st_result_free(&r);
    a[2] = st_path("runs/latest/report.html");
    a[4] = st_path("report.png");
    st_run(a, NULL, 150000, &c);
    HIL_EXPECT_EQ(c.code, 0, "%s", c.out);
    HIL_EXPECT(st_has(&c, "8 bars"), "%s", c.out);
    st_result_free(&c);
}

/* What `make demo-faults` shows: a board that dies on its first frame. Its
   run is retried on another board of the same type (the tests end Passx),
   the failed attempt stays in the reports, and the board is quarantined. */
HIL_TEST_META(lab_schedule, a_dead_board_is_retried_elsewhere_and_quarantined, "timeout=150") {
    st_result r;
    char sim[800];
    char* json;
    snprintf(sim, sizeof sim,
             "--set=connectors.node2.command=%s/demo/sim-firmware --name node2 --type sensor-node --misbehave crash",
             st_build_dir());
    run_lab(&r, sim, "--set=schedule.quarantine_after=1");
    HIL_EXPECT_EQ(r.code, 0, "the retry passed\n%s", r.out);
    HIL_EXPECT(st_has(&r, "QUARANTINED"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "retried runs 1"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "no answer to PING on connector"), "the reason\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Passx "), "the retried run's tests\n%s", r.out);
    st_result_free(&r);
    json = st_read(st_path("runs/latest/results.json"));
    HIL_EXPECT(strstr(json, "retried on another resource") != NULL, "the failed attempt is in results.json");
    {
        /* node2 was flashed fine before its firmware crashed: that flash
           keeps its Passed, with no reason of the run's */
        int i, flashes = 0;
        for (i = 0; i < 40; i++) {
            char path[64], *id, *res, *why;
            snprintf(path, sizeof path, "tasks.%d.taskid", i);
            if (!(id = st_json_get(json, path))) break;
            snprintf(path, sizeof path, "tasks.%d.result", i);
            res = st_json_get(json, path);
            snprintf(path, sizeof path, "tasks.%d.reason", i);
            why = st_json_get(json, path);
            if (strncmp(id, "flash.node2.", 12) == 0) {
                flashes++;
                HIL_EXPECT(res && strcmp(res, "Passed") == 0 && why && strcmp(why, "null") == 0, "%s: %s, reason %s",
                           id, res ? res : "?", why ? why : "?");
            }
            free(id);
            free(res);
            free(why);
        }
        HIL_EXPECT_EQ(flashes, 1, "node2 is flashed once, then quarantined");
    }
    free(json);
    /* the reason is whole, to its last words (it was cut at 255 characters) */
    json = st_read(st_path("runs/latest/summary.txt"));
    HIL_EXPECT(strstr(json, "killed by SIGABRT (Aborted)") != NULL, "%s", json);
    free(json);
}
