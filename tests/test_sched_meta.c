/* The scheduler for real: tests/meta/meta_sched runs `schedule -c LAB` on
 * labs written here (boards with loopback connectors, builds and flashes as
 * small shell commands): forked runs that pass, fail and hang past their
 * timeout, builds that fail, missing firmware, boards that fail and are
 * quarantined, retries elsewhere, two-board runs; the simulation, --list,
 * sharding and merge-results. The scheduler checks its invariants (no board
 * in two runs at once, every work item once unless retried) at the end of
 * every run and reports a violation as a job error, which these tests
 * would see. */
#include "selftest.h"

HIL_SUITE(sched_meta, "tags=meta,sched")

/* A directory of its own for one test (tests share the worker's tmpdir). */
static const char* test_dir(const char* name) {
    const char* d = st_path(name);
    HIL_ASSERT_OK(hil_mkdirs(d));
    return d;
}

static const char* in_dir(const char* dir, const char* name) {
    static char buf[8][1200];
    static int next;
    char* p = buf[next++ % 8];
    snprintf(p, 1200, "%s/%s", dir, name);
    return p;
}

static void write_lab(const char* path, const char* text) {
    HIL_ASSERT_OK(hil_write_file_atomic(path, text, strlen(text)), "writing %s", path);
}

/* meta_sched schedule -c dir/lab.conf --runs RUNS --color=never [extra...];
 * RUNS is dir/runs unless given. */
static void schedule_in(const char* dir, const char* runs, const char* const* extra, st_result* r) {
    const char* argv[40];
    int n = 0, k;
    argv[n++] = st_meta("meta_sched");
    argv[n++] = "schedule";
    argv[n++] = "-c";
    argv[n++] = in_dir(dir, "lab.conf");
    argv[n++] = "--runs";
    argv[n++] = runs ? runs : in_dir(dir, "runs");
    argv[n++] = "--color=never";
    argv[n++] = "--grace";
    argv[n++] = "1";
    for (k = 0; extra && extra[k] && n < 38; k++) argv[n++] = extra[k];
    argv[n] = NULL;
    st_run(argv, NULL, 60000, r);
}

static void schedule(const char* dir, const char* const* extra, st_result* r) { schedule_in(dir, NULL, extra, r); }

static char* run_file(const char* dir, const char* name) {
    char path[1400];
    snprintf(path, sizeof path, "%s/runs/latest/%s", dir, name);
    return st_read(path);
}

/* The result of task `id` in results.json (a malloc'd string or NULL). */
static char* task_field(const char* json, const char* id, const char* field) {
    int i;
    for (i = 0; i < 200; i++) {
        char path[64], *tid;
        snprintf(path, sizeof path, "tasks.%d.taskid", i);
        tid = st_json_get(json, path);
        if (!tid) return NULL;
        if (strcmp(tid, id) == 0) {
            free(tid);
            snprintf(path, sizeof path, "tasks.%d.%s", i, field);
            return st_json_get(json, path);
        }
        free(tid);
    }
    return NULL;
}

static void expect_task(const char* json, const char* id, const char* result, const char* reason_part) {
    char* res = task_field(json, id, "result");
    char* why = task_field(json, id, "reason");
    HIL_EXPECT(res && strcmp(res, result) == 0, "task %s: result %s, want %s", id, res ? res : "(missing)", result);
    if (reason_part)
        HIL_EXPECT(why && strstr(why, reason_part), "task %s: reason '%s' does not say '%s'", id, why ? why : "",
                   reason_part);
    free(res);
    free(why);
}

static const char* lab_a(const char* dir) {
    static char text[4096];
    snprintf(text, sizeof text,
             "# two boards of type T, a reference board, two builds (v2's fails)\n"
             "resources.b0.type = T\n"
             "resources.b0.variants = v1, v2\n"
             "resources.b0.connectors = b0_link\n"
             "connectors.b0_link.type = loopback\n"
             "connectors.b0_link.capacity = 17\n"
             "resources.b1.type = T\n"
             "resources.b1.variants = v1, v2\n"
             "resources.b1.connectors = b1_link\n"
             "connectors.b1_link.type = loopback\n"
             "connectors.b1_link.capacity = 23\n"
             "resources.r0.type = REF\n"
             "builds.v1.command = sh -c \"sleep 0.2; echo firmware > fw-v1.bin\"\n"
             "builds.v1.image = fw-v1.bin\n"
             "builds.v1.cwd = %s\n"
             "builds.v1.expected = 1\n"
             "builds.v2.command = sh -c \"echo the compiler exploded; exit 3\"\n"
             "builds.v2.cwd = %s\n"
             "builds.v2.expected = 1\n"
             "runs.ident.select = board.identify\n"
             "runs.ident.variants = v1\n"
             "runs.ident.roles.dut.type = T\n"
             "runs.quick.select = fast.*\n"
             "runs.quick.params = ms=300\n"
             "runs.quick.roles.dut.type = T\n"
             "runs.failing.select = bad.*\n"
             "runs.failing.roles.dut.type = T\n"
             "runs.hang.select = slow.hang\n"
             "runs.hang.timeout = 1\n"
             "runs.hang.roles.dut.type = T\n"
             "runs.pair.select = pair.*\n"
             "runs.pair.roles.dut.type = T\n"
             "runs.pair.roles.ref.type = REF\n"
             "runs.pair.roles.ref.fixed_firmware = true\n"
             "runs.cmd.command = sh -c \"echo command on {dut} with {variant}, capacity {dut.capacity}, flash "
             "\\$HIL_FLASH_DUT\"\n"
             "runs.cmd.variants = v1\n"
             "runs.cmd.roles.dut.type = T\n"
             "runs.nofw.select = fast.one\n"
             "runs.nofw.variants = v9\n"
             "runs.nofw.roles.dut.type = T\n"
             "runs.broken.select = fast.one\n"
             "runs.broken.variants = v2\n"
             "runs.broken.roles.dut.type = T\n",
             dir, dir);
    return text;
}

HIL_TEST_META(sched_meta, real_lab, "timeout=120") {
    const char* dir = test_dir("sched_real");
    st_result r;
    char *json, *txt, *html, *log, *hist, err[200];
    write_lab(in_dir(dir, "lab.conf"), lab_a(dir));
    schedule(dir, NULL, &r);
    HIL_EXPECT_EQ(r.code, 1, "failures make exit code 1:\n%s", r.out);
    HIL_EXPECT(st_has(&r, "makespan"), "no schedule report on the console:\n%s", r.out);
    HIL_EXPECT(!st_has(&r, "invariant"), "%s", r.out);
    /* a reason is printed once; a task that never started has no duration */
    HIL_EXPECT(st_has(&r, "broken[v2]               1 test, not run: build of variant 'v2' failed") &&
                   st_has(&r, "      Blocked  task.blocked: the same\n"),
               "%s", r.out);
    json = run_file(dir, "results.json");
    HIL_ASSERT(st_json_valid(json, err, sizeof err), "results.json: %s", err);
    expect_task(json, "build.v1", "Passed", NULL);
    expect_task(json, "build.v2", "Failed", "command.build.v2: exited with status 3");
    expect_task(json, "ident[v1]", "Passed", NULL);
    expect_task(json, "quick", "Passed", NULL);
    expect_task(json, "failing", "Failed", "bad.fails");
    expect_task(json, "hang", "Errored", "max_runtime 1 s exceeded");
    expect_task(json, "pair", "Passed", NULL);
    expect_task(json, "cmd[v1]", "Passed", NULL);
    expect_task(json, "nofw[v9]", "Blocked", "variant v9");
    expect_task(json, "broken[v2]", "Blocked", "build of variant 'v2' failed: command.build.v2: exited with status 3");
    /* builds and flashes are named after their task in JUnit, not after "sh" */
    txt = run_file(dir, "junit.xml");
    HIL_EXPECT(strstr(txt, "<testcase name=\"build.v1\" classname=\"command\"") &&
                   strstr(txt, "<testcase name=\"build.v2\" classname=\"command\"") && !strstr(txt, "name=\"sh\""),
               "%s", txt);
    free(txt);
    /* the run's tests saw the board's own connector (b0: 17, b1: 23) */
    log = run_file(dir, "TaskLog.ident[v1]");
    HIL_EXPECT(strstr(log, "resource=b0 capacity=17 variant=v1 image=fw-v1.bin") ||
                   strstr(log, "resource=b1 capacity=23 variant=v1 image=fw-v1.bin"),
               "%s", log);
    free(log);
    /* cmd[v1] is the first run with v1 (by name, ident's equal): its board
     * had no v1 yet and no flash command, so the run is told to flash it */
    log = run_file(dir, "TaskLog.cmd[v1]");
    HIL_EXPECT(strstr(log, "command on b0 with v1, capacity 17, flash 1") ||
                   strstr(log, "command on b1 with v1, capacity 23, flash 1"),
               "%s", log);
    free(log);
    log = run_file(dir, "TaskLog.pair");
    HIL_EXPECT(strstr(log, "ref=r0"), "%s", log);
    free(log);
    txt = run_file(dir, "schedule.txt");
    HIL_EXPECT(strstr(txt, "makespan / lower bound") && strstr(txt, "\nb0 ") && strstr(txt, "\nr0 ") &&
                   strstr(txt, "(builds)") && strstr(txt, "queue wait"),
               "%s", txt);
    html = run_file(dir, "report.html");
    HIL_EXPECT(strstr(html, "<svg id=\"gantt\"") && strstr(html, "<table id=\"results\">") &&
                   strstr(html, "slow.hang") && strstr(html, "max_runtime 1 s exceeded") && !strstr(html, "<script"),
               "report.html lacks the chart or the results");
    /* the verdict says what the exit code says; task names link to their logs */
    HIL_EXPECT(strstr(html, "<div class=\"verdict bad\" id=\"verdict\"><b>FAILED</b>") &&
                   strstr(html, "<title>hil: schedule.") && strstr(html, "<a href=\"TaskLog.ident%5Bv1%5D\">ident[v1]</a>") &&
                   strstr(html, "runs retried elsewhere") && strstr(html, "includes flashing"),
               "report.html: no verdict, title or links");
    hist = st_read(in_dir(dir, "runs/sched-history.txt"));
    HIL_EXPECT(strstr(hist, "# hil-sched-history 1") && strstr(hist, " ident[v1]\n") && strstr(hist, " quick\n") &&
                   strstr(hist, " build:v1\n"),
               "%s", hist);
    HIL_EXPECT(!strstr(hist, " hang\n"), "a timeout is no duration to learn:\n%s", hist);
    free(json);
    free(txt);
    free(html);
    free(hist);
    st_result_free(&r);

    /* the next schedule knows the durations */
    {
        const char* extra[] = {"--list", NULL};
        schedule(dir, extra, &r);
        HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
        char line[1400];
        HIL_EXPECT(st_has(&r, "history (1 runs)") && st_has(&r, "ident[v1]"), "%s", r.out);
        /* and says which history file it read */
        snprintf(line, sizeof line, "\nhistory: %s (", in_dir(dir, "runs/sched-history.txt"));
        HIL_EXPECT(st_has(&r, line), "no '%s' in:\n%s", line + 1, r.out);
        st_result_free(&r);
    }
}

HIL_TEST_META(sched_meta, quarantine_and_retry, "timeout=120") {
    const char* dir = test_dir("sched_quarantine");
    st_result r;
    char *json, err[200], *res;
    int i, flaky_runs = 0;
    write_lab(in_dir(dir, "lab.conf"),
              "resources.good.type = T\n"
              "resources.good.variants = v1\n"
              "resources.good.flash = true\n"
              "resources.flaky.type = T\n"
              "resources.flaky.variants = v1\n"
              "resources.flaky.flash = sh -c \"echo no device at {board}; exit 1\"\n"
              "builds.v1.image = fw.bin\n"
              "schedule.quarantine_after = 2\n"
              "runs.a.select = fast.one\nruns.a.variants = v1\nruns.a.retries = 2\nruns.a.roles.dut.type = T\n"
              "runs.b.select = fast.one\nruns.b.variants = v1\nruns.b.retries = 2\nruns.b.roles.dut.type = T\n"
              "runs.c.select = fast.one\nruns.c.variants = v1\nruns.c.retries = 2\nruns.c.roles.dut.type = T\n"
              "runs.d.select = fast.one\nruns.d.variants = v1\nruns.d.retries = 2\nruns.d.roles.dut.type = T\n");
    schedule(dir, NULL, &r);
    /* flaky fails every flash: twice, then it is quarantined; each item it
     * failed is retried on good and passes (Passx); nothing counts as failed */
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "quarantined flaky after 2 infrastructure failures"), "%s", r.out);
    json = run_file(dir, "results.json");
    HIL_ASSERT(st_json_valid(json, err, sizeof err), "results.json: %s", err);
    for (i = 0; i < 40; i++) {
        char path[64], *id;
        snprintf(path, sizeof path, "tasks.%d.taskid", i);
        if (!(id = st_json_get(json, path))) break;
        if (strncmp(id, "flash.flaky.", 12) == 0) {
            flaky_runs++;
            snprintf(path, sizeof path, "tasks.%d.reason", i);
            res = st_json_get(json, path);
            HIL_EXPECT(res && strstr(res, "retried on another resource"), "%s: %s", id, res ? res : "");
            free(res);
        }
        free(id);
    }
    HIL_EXPECT_EQ(flaky_runs, 2, "flaky was used after its quarantine, or not twice");
    /* resources in name order: a (first by name) goes to flaky; which item
     * flaky gets second depends on which of the first two ends first */
    /* a failed flash keeps its own reason (not the run's words about it) */
    expect_task(json, "flash.flaky.a[v1]", "Skipped", "command.flash.flaky.a[v1]: exited with status 1");
    expect_task(json, "a[v1]", "Passx", NULL);
    {
        const char* items[] = {"b[v1]", "c[v1]", "d[v1]"};
        int passx = 0, passed = 0;
        for (i = 0; i < 3; i++) {
            char* r = task_field(json, items[i], "result");
            passx += r && strcmp(r, "Passx") == 0;
            passed += r && strcmp(r, "Passed") == 0;
            free(r);
        }
        HIL_EXPECT(passx == 1 && passed == 2, "b, c, d: %d Passx and %d Passed, want 1 and 2", passx, passed);
    }
    free(json);
    json = run_file(dir, "schedule.txt");
    HIL_EXPECT(strstr(json, "QUARANTINED") && strstr(json, "retried runs 2"), "%s", json);
    free(json);
    st_result_free(&r);
}

HIL_TEST_META(sched_meta, blocked_setup_is_the_boards_failure, "timeout=120") {
    const char* dir = test_dir("sched_blocked");
    st_result r;
    char *json, *log;
    write_lab(in_dir(dir, "lab.conf"),
              "resources.p0.type = T\nresources.p0.variants = v1\nresources.p0.flash = true\n"
              "resources.p1.type = T\nresources.p1.variants = v1\nresources.p1.flash = true\n"
              "builds.v1.image = fw.bin\n"
              "runs.x.select = needs_board.*\nruns.x.params = missing_board=p1\nruns.x.retries = 1\n"
              "runs.x.variants = v1\nruns.x.roles.dut.type = T\n"
              "runs.y.select = needs_board.*\nruns.y.params = missing_board=p1\nruns.y.retries = 1\n"
              "runs.y.variants = v1\nruns.y.roles.dut.type = T\n");
    schedule(dir, NULL, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    json = run_file(dir, "results.json");
    /* x goes to p0 (first by id), y to p1, whose setup fails: Blocked, so
     * the board's fault: y runs again on p0 */
    expect_task(json, "x[v1]", "Passed", NULL);
    expect_task(json, "y[v1]", "Skipped", "retried on another resource");
    expect_task(json, "y[v1]-2", "Passx", NULL);
    /* p1's flash worked: it is no part of the failed attempt */
    expect_task(json, "flash.p1.y[v1]", "Passed", NULL);
    {
        char* why = task_field(json, "flash.p1.y[v1]", "reason");
        HIL_EXPECT(why && strcmp(why, "null") == 0, "a flash that passed got a reason: %s", why ? why : "?");
        free(why);
    }
    log = run_file(dir, "TaskLog.y[v1]-2");
    HIL_EXPECT(strstr(log, "needs_board on p0"), "%s", log);
    free(log);
    free(json);
    st_result_free(&r);
}

/* A reason of about a thousand characters reaches every report whole
 * (it used to be cut at 900 when the attempt was retried elsewhere). */
HIL_TEST_META(sched_meta, long_reasons_reach_every_report, "timeout=120") {
    const char* dir = test_dir("sched_long_reason");
    static const char* const files[] = {"results.json", "summary.txt", "junit.xml", "report.html", "TaskLog.y", NULL};
    st_result r;
    char* text;
    int i;
    write_lab(in_dir(dir, "lab.conf"),
              "resources.p0.type = T\nresources.p1.type = T\nschedule.quarantine_after = 1\n"
              "runs.x.select = long_reason.*\nruns.x.params = missing_board=p1\nruns.x.retries = 1\n"
              "runs.x.roles.dut.type = T\n"
              "runs.y.select = long_reason.*\nruns.y.params = missing_board=p1\nruns.y.retries = 1\n"
              "runs.y.roles.dut.type = T\n");
    schedule(dir, NULL, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    /* y went to p1 (see blocked_setup_is_the_boards_failure), which failed once: quarantined */
    HIL_EXPECT(st_has(&r, "quarantined p1 after 1 infrastructure failure in a row: ") &&
                   st_has(&r, "END-OF-THE-REASON\n"),
               "%s", r.out);
    text = run_file(dir, "results.json");
    {
        char* why = task_field(text, "y", "reason");
        const char* head = "retried on another resource: long_reason.works: suite setup failed: ";
        HIL_EXPECT(why && strncmp(why, head, strlen(head)) == 0 &&
                       strlen(why) > 1000 && strstr(why, "END-OF-THE-REASON") == why + strlen(why) - 17,
                   "y's reason, %zu characters: %s", why ? strlen(why) : 0, why ? why : "(none)");
        free(why);
    }
    free(text);
    for (i = 0; files[i]; i++) {
        text = run_file(dir, files[i]);
        HIL_EXPECT(strstr(text, "END-OF-THE-REASON"), "%s lost the end of the reason", files[i]);
        free(text);
    }
    st_result_free(&r);
}

/* The makespan from a report's first lines, in seconds. */
static double makespan_of(const char* out) {
    const char* p = strstr(out, "makespan ");
    return p ? strtod(p + 9, NULL) : -1;
}

HIL_TEST(sched_meta, simulate) {
    const char* dir = test_dir("sched_sim");
    const char* sim[] = {"--simulate", "--report", NULL, NULL};
    const char* more[] = {"--simulate", "--add-board", "T:1", NULL};
    st_result r, r2;
    char* html;
    double m1, m2;
    sim[2] = in_dir(dir, "sim.html");
    write_lab(in_dir(dir, "lab.conf"), lab_a(dir));
    schedule(dir, sim, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "simulation (no processes") && st_has(&r, "lower bound") && st_has(&r, "\nb0 ") &&
                   st_has(&r, "\nb1 ") && st_has(&r, "\nr0 ") && st_has(&r, "(builds)"),
               "%s", r.out);
    HIL_EXPECT(st_has(&r, "nofw[v9]: no usable resource for role 'dut'"), "%s", r.out);
    {
        /* no schedule ran there yet: the plan says it has no history, and where it looked */
        char line[1400];
        snprintf(line, sizeof line, "\nhistory: %s not found", in_dir(dir, "runs/sched-history.txt"));
        HIL_EXPECT(st_has(&r, line), "no '%s' in:\n%s", line + 1, r.out);
    }
    /* nothing ran: no build output, no run directory */
    HIL_EXPECT(access(in_dir(dir, "fw-v1.bin"), F_OK) != 0, "the simulation ran a build");
    HIL_EXPECT(access(in_dir(dir, "runs/latest"), F_OK) != 0, "the simulation made a run directory");
    html = st_read(sim[2]);
    HIL_EXPECT(strstr(html, "<svg id=\"gantt\"") && strstr(html, "<table id=\"results\">") &&
                   strstr(html, "ident[v1]"),
               "the simulation's report lacks the chart or the results");
    free(html);
    /* what if there were one more board of type T? */
    schedule(dir, more, &r2);
    HIL_EXPECT_EQ(r2.code, 0, "%s", r2.out);
    HIL_EXPECT(st_has(&r2, "\nT+1 "), "%s", r2.out);
    m1 = makespan_of(r.out);
    m2 = makespan_of(r2.out);
    HIL_EXPECT(m1 > 0 && m2 > 0 && m2 < m1, "one more board: makespan %.1f s, before %.1f s", m2, m1);
    st_result_free(&r);
    st_result_free(&r2);
}

HIL_TEST_META(sched_meta, shards_and_merge, "timeout=120") {
    const char* dir = test_dir("sched_shards");
    const char* lab = "resources.b0.type = T\nresources.b1.type = T\n"
                      "runs.s1.select = fast.one\nruns.s1.expected = 50\nruns.s1.roles.dut.type = T\n"
                      "runs.s2.select = fast.one\nruns.s2.expected = 40\nruns.s2.roles.dut.type = T\n"
                      "runs.s3.select = fast.one\nruns.s3.expected = 30\nruns.s3.roles.dut.type = T\n"
                      "runs.s4.select = fast.*\nruns.s4.expected = 20\nruns.s4.roles.dut.type = T\n"
                      "runs.s5.select = fast.one\nruns.s5.expected = 10\nruns.s5.roles.dut.type = T\n"
                      "runs.s6.select = bad.*\nruns.s6.expected = 5\nruns.s6.roles.dut.type = T\n";
    char hist[1300], runs1[1300], runs2[1300], *json, *j1, *j2, err[200], path[1400];
    const char* list[] = {"--list", "--shard", "1/2", "--set", NULL, NULL};
    const char* s1[] = {"--shard", "1/2", "--set", NULL, NULL};
    const char* s2[] = {"--shard", "2/2", "--set", NULL, NULL};
    st_result r;
    int i, n1 = 0, n2 = 0, n = 0;
    snprintf(hist, sizeof hist, "schedule.history=%s", in_dir(dir, "shared-history.txt"));
    snprintf(runs1, sizeof runs1, "%s", in_dir(dir, "shard1"));
    snprintf(runs2, sizeof runs2, "%s", in_dir(dir, "shard2"));
    list[4] = s1[3] = s2[3] = hist;
    write_lab(in_dir(dir, "lab.conf"), lab);
    /* the plan: longest first into the emptier shard, names break ties */
    schedule(dir, list, &r);
    HIL_EXPECT(st_has(&r, "shard 1/2: 1m20s") && st_has(&r, "shard 2/2: 1m15s"), "%s", r.out);
    st_result_free(&r);
    schedule_in(dir, runs1, s1, &r);
    HIL_EXPECT_EQ(r.code, 0, "shard 1 has s1, s4, s5 (all pass):\n%s", r.out);
    st_result_free(&r);
    schedule_in(dir, runs2, s2, &r);
    HIL_EXPECT_EQ(r.code, 1, "shard 2 has s2, s3, s6 (s6 fails):\n%s", r.out);
    st_result_free(&r);
    {
        char out[1300], in1[1400], in2[1400];
        const char* a[] = {st_meta("meta_sched"), "merge-results", "--output", out, in1, in2, NULL};
        snprintf(out, sizeof out, "%s", in_dir(dir, "merged"));
        snprintf(in1, sizeof in1, "%s/latest", runs1);
        snprintf(in2, sizeof in2, "%s/latest/results.json", runs2);
        st_run(a, NULL, 30000, &r);
        HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
        HIL_EXPECT(st_has(&r, "merged 2 shards") && st_has(&r, "6 passed, 1 failed, 0 skipped"), "%s", r.out);
        st_result_free(&r);
    }
    snprintf(path, sizeof path, "%s/latest/results.json", runs1);
    j1 = st_read(path);
    snprintf(path, sizeof path, "%s/latest/results.json", runs2);
    j2 = st_read(path);
    json = st_read(in_dir(dir, "merged/results.json"));
    HIL_ASSERT(st_json_valid(json, err, sizeof err), "merged results.json: %s", err);
    for (i = 0; i < 20; i++) {
        char p[64], *x;
        snprintf(p, sizeof p, "tasks.%d.taskid", i);
        if ((x = st_json_get(j1, p))) n1++;
        free(x);
        if ((x = st_json_get(j2, p))) n2++;
        free(x);
        if ((x = st_json_get(json, p))) n++;
        free(x);
    }
    HIL_EXPECT(n1 == 3 && n2 == 3 && n == 6, "tasks: shard 1 %d, shard 2 %d, merged %d", n1, n2, n);
    expect_task(j1, "s1", "Passed", NULL);
    expect_task(j1, "s4", "Passed", NULL);
    expect_task(j1, "s5", "Passed", NULL);
    expect_task(j2, "s2", "Passed", NULL);
    expect_task(j2, "s6", "Failed", NULL);
    expect_task(json, "s6", "Failed", NULL);
    {
        char* v = st_json_get(json, "summary.total");
        HIL_EXPECT(v && strcmp(v, "7") == 0, "merged total %s", v ? v : "?");
        free(v);
        v = st_json_get(json, "result");
        HIL_EXPECT(v && strcmp(v, "Failed") == 0, "merged result %s", v ? v : "?");
        free(v);
    }
    if (st_have("xmllint")) {
        const char* a[] = {"xmllint", "--noout", "--schema", "tests/junit.xsd", NULL, NULL};
        a[4] = in_dir(dir, "merged/junit.xml");
        st_run(a, NULL, 30000, &r);
        HIL_EXPECT_EQ(r.code, 0, "merged junit.xml:\n%s", r.out);
        st_result_free(&r);
    }
    {
        char* x = st_read(in_dir(dir, "merged/junit.xml"));
        HIL_EXPECT(strstr(x, "tests=\"7\" failures=\"1\""), "%s", x);
        free(x);
    }
    free(j1);
    free(j2);
    free(json);
}

/* Ctrl-C in the middle: the running run is stopped (Aborted), the rest is
 * not started (Aborted, with the reason), the reports are written. */
HIL_TEST_META(sched_meta, interrupted, "timeout=60") {
    const char* dir = test_dir("sched_interrupted");
    char lab[1024], *json;
    int p[2];
    hil_proc_config pc;
    hil_proc proc;
    hil_strbuf out = {0, 0, 0, 0};
    char buf[4096];
    const char* argv[] = {st_meta("meta_sched"), "schedule", "-c", NULL, "--runs", NULL, "--color=never",
                          "--grace", "1", NULL};
    HIL_ASSERT_EQ(pipe(p), 0);
    snprintf(lab, sizeof lab,
             "resources.b0.type = T\n"
             "runs.hang.select = slow.hang\nruns.hang.timeout = 60\nruns.hang.params = started_fd=%d\n"
             "runs.hang.roles.dut.type = T\n"
             "runs.q1.select = fast.one\nruns.q1.expected = 1\nruns.q1.roles.dut.type = T\n"
             "runs.q2.select = fast.one\nruns.q2.expected = 1\nruns.q2.roles.dut.type = T\n",
             p[1]);
    write_lab(in_dir(dir, "lab.conf"), lab);
    argv[3] = in_dir(dir, "lab.conf");
    argv[5] = in_dir(dir, "runs");
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    pc.die_with_parent = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&proc, &pc));
    close(p[1]);
    /* hang (the longest) runs first: once it says so, Ctrl-C */
    HIL_EXPECT_OK(hil_wait_readable(p[0], 20000), "the hanging test never started");
    kill(proc.pid, SIGINT);
    for (;;) {
        ssize_t n;
        if (hil_wait_readable(proc.stdout_fd, 20000) != HIL_OK) break;
        n = read(proc.stdout_fd, buf, sizeof buf);
        if (n > 0) { hil_sb_append(&out, buf, (size_t)n); continue; }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    hil_proc_wait(&proc, 20000);
    close(p[0]);
    HIL_EXPECT_EQ(hil_proc_exit_code(proc.status), 1, "%s", hil_sb_cstr(&out));
    HIL_EXPECT(strstr(hil_sb_cstr(&out), "interrupted") && strstr(hil_sb_cstr(&out), "makespan"), "%s",
               hil_sb_cstr(&out));
    hil_proc_close(&proc);
    json = run_file(dir, "results.json");
    expect_task(json, "hang", "Aborted", "interrupted");
    expect_task(json, "q1", "Aborted", "not started: the schedule was interrupted");
    expect_task(json, "q2", "Aborted", "not started: the schedule was interrupted");
    free(json);
    json = run_file(dir, "report.html");
    HIL_EXPECT(strstr(json, "id=\"gantt\""), "no report after Ctrl-C");
    free(json);
    hil_sb_free(&out);
}

HIL_TEST(sched_meta, only_selects_work_items) {
    const char* dir = test_dir("sched_only");
    /* a run's name (every variant), an item as NAME[VARIANT], a glob; a
     * variant given twice (file and command line) is one work item */
    const char* pick[] = {"--list", "--only", "ident", "--only", "cmd[v1],fail*", "--set", "runs.cmd.variants=v1",
                          NULL};
    const char* none[] = {"--list", "--only", "ident,nothing", NULL};
    const char* empty[] = {"--list", "--only", " , ", NULL};
    const char* globs[] = {"--list", "--only", "*[v1]", NULL};
    const char* run[] = {"--only", "ident", NULL};
    st_result r;
    char* json;
    write_lab(in_dir(dir, "lab.conf"), lab_a(dir));
    schedule(dir, pick, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "\nident[v1] ") && st_has(&r, "\ncmd[v1] ") && st_has(&r, "\nfailing ") &&
                   !st_has(&r, "\nquick ") && !st_has(&r, "\nhang ") && st_has(&r, "3 work items"),
               "%s", r.out);
    st_result_free(&r);
    schedule(dir, none, &r);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "--only 'nothing' selects no work item"), "%s", r.out);
    st_result_free(&r);
    /* an empty --only (a CI variable that was not set) is no licence to run everything */
    schedule(dir, empty, &r);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "--only names no work item"), "%s", r.out);
    st_result_free(&r);
    /* a glob on each side of NAME[VARIANT]: every work item of variant v1 */
    schedule(dir, globs, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "\nident[v1] ") && st_has(&r, "\ncmd[v1] ") && !st_has(&r, "\nbroken[v2] ") &&
                   !st_has(&r, "\nquick "),
               "%s", r.out);
    st_result_free(&r);
    /* a real schedule of one item: only its firmware is built */
    schedule(dir, run, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    json = run_file(dir, "results.json");
    HIL_EXPECT(strstr(json, "\"ident[v1]\"") && strstr(json, "\"build.v1\"") && !strstr(json, "\"quick\"") &&
                   !strstr(json, "\"build.v2\""),
               "%s", json);
    free(json);
    st_result_free(&r);
}

HIL_TEST(sched_meta, a_torn_history_file_gives_its_whole_lines_and_names_the_bad_one) {
    /* a crash or power loss while the file was written: a run of NULs */
    static const char torn[] = "# hil-sched-history 1\n"
                               "# ema_ns count name\n"
                               "7000000000 4 quick\n"
                               "3000000000 2 ident[v1]\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\n"
                               "\0\0\0\0\0\0\0\0\0\0";
    const char* dir = test_dir("sched_torn");
    const char* list[] = {"--list", NULL};
    char want[1400];
    st_result r;
    write_lab(in_dir(dir, "lab.conf"), lab_a(dir));
    HIL_ASSERT_OK(hil_mkdirs(in_dir(dir, "runs")));
    HIL_ASSERT_OK(hil_write_file_atomic(in_dir(dir, "runs/sched-history.txt"), torn, sizeof torn - 1));
    schedule(dir, list, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    snprintf(want, sizeof want, "warning: duration history %s: line 4: not '<ema_ns> <count> <name>': skipped",
             in_dir(dir, "runs/sched-history.txt"));
    HIL_EXPECT(st_has(&r, want), "no '%s' in:\n%s", want, r.out);
    HIL_EXPECT(st_has(&r, "2 lines skipped in all"), "%s", r.out);
    snprintf(want, sizeof want, "\nhistory: %s (1 work items and builds)", in_dir(dir, "runs/sched-history.txt"));
    HIL_EXPECT(st_has(&r, want), "the whole line is used: no '%s' in:\n%s", want + 1, r.out);
    st_result_free(&r);
}

HIL_TEST(sched_meta, configuration_errors) {
    const char* dir = test_dir("sched_errors");
    st_result r;
    write_lab(in_dir(dir, "lab.conf"), "resources.b0.type = T\nruns.x.select = fast.one\nruns.x.rolez.dut.type = T\n");
    schedule(dir, NULL, &r);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "runs.x.rolez.dut.type"), "%s", r.out);
    st_result_free(&r);
    write_lab(in_dir(dir, "lab.conf"), "resources.b0.type = T\nruns.x.select = fast.one\n");
    schedule(dir, NULL, &r);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "runs.x has no role"), "%s", r.out);
    st_result_free(&r);
    write_lab(in_dir(dir, "lab.conf"),
              "resources.b0.type = T\nresources.b0.connectors = nowhere\nruns.x.select = fast.one\n"
              "runs.x.roles.dut.type = T\n");
    schedule(dir, NULL, &r);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "connectors.nowhere.type is not set"), "%s", r.out);
    st_result_free(&r);
    {
        const char* extra[] = {"--shard", "3/2", NULL};
        write_lab(in_dir(dir, "lab.conf"), "resources.b0.type = T\nruns.x.select = fast.one\nruns.x.roles.dut.type = T\n");
        schedule(dir, extra, &r);
        HIL_EXPECT_EQ(r.code, 2, "%s", r.out);
        HIL_EXPECT(st_has(&r, "K must be 1 to N"), "%s", r.out);
        st_result_free(&r);
    }
}
