/* Labs from configuration (hil_sched_from_config): golden schedules in the
 * spirit of testbed_micropython's test_collection (two equal boards,
 * redundant boards, a two-role run with a reference board, a missing
 * firmware, a failed build, a quarantined board), each checked by the
 * invariant checker; the checker catching corrupted schedules
 * (tests/meta/meta_sched_check); the lab and the C example of
 * docs/scheduler.md; the task option `config` the scheduler relies on. */
#include "selftest.h"

HIL_SUITE(sched_lab, "tags=sched")

#define S_NS ((int64_t)1000000000)

/* A scheduler from a lab in key = value text. */
static hil_sched* lab(const char* text) {
    hil_config* cfg = NULL;
    hil_sched* s = NULL;
    HIL_ASSERT_OK(hil_config_create(&cfg));
    HIL_ASSERT_OK(hil_config_load_kv(cfg, text, "lab", HIL_PRIO_FILE));
    HIL_ASSERT_OK(hil_config_validate(cfg));
    HIL_ASSERT_OK(hil_sched_from_config(cfg, NULL, &s));
    hil_config_destroy(cfg);
    return s;
}

static void simulate(hil_sched* s, double makespan_s) {
    hil_strbuf msg = {0, 0, 0, 0};
    hil_sched_stats st;
    HIL_ASSERT_OK(hil_sched_simulate(s, NULL, 0, NULL));
    HIL_ASSERT(hil_sched_check(s, &msg) == HIL_OK, "%s", hil_sb_cstr(&msg));
    hil_sb_free(&msg);
    HIL_ASSERT_OK(hil_sched_stats_get(s, &st));
    HIL_ASSERT(st.makespan_ns == (int64_t)(makespan_s * 1e9), "makespan %.3f s, want %.3f s",
               (double)st.makespan_ns / 1e9, makespan_s);
}

/* item ran on resources (comma list) from start to end (seconds). */
static void ran(const hil_sched* s, const char* item, const char* resources, double start, double end) {
    uint32_t id, k;
    hil_sched_item_info ii;
    hil_sched_run_info ri;
    char got[256] = "";
    HIL_ASSERT_OK(hil_sched_find_item(s, item, &id), "no work item %s", item);
    HIL_ASSERT_OK(hil_sched_item_info_get(s, id, &ii));
    HIL_ASSERT(ii.last_run != HIL_SCHED_NONE, "%s never ran (%s)", item, ii.reason ? ii.reason : "");
    HIL_ASSERT_OK(hil_sched_run_info_get(s, ii.last_run, &ri));
    for (k = 0; k < ri.n_resources; k++) {
        hil_sched_resource_info rinfo;
        HIL_ASSERT_OK(hil_sched_resource_info_get(s, ri.resources[k], &rinfo));
        if (k) strcat(got, ",");
        strcat(got, rinfo.name);
    }
    HIL_EXPECT(strcmp(got, resources) == 0 && ri.start_ns == (int64_t)(start * 1e9) &&
                   ri.end_ns == (int64_t)(end * 1e9),
               "%s ran on %s %.3f-%.3f s, want %s %.3f-%.3f s", item, got, (double)ri.start_ns / 1e9,
               (double)ri.end_ns / 1e9, resources, start, end);
}

static hil_sched_item_info item_info(const hil_sched* s, const char* item) {
    uint32_t id;
    hil_sched_item_info ii;
    HIL_ASSERT_OK(hil_sched_find_item(s, item, &id), "no work item %s", item);
    HIL_ASSERT_OK(hil_sched_item_info_get(s, id, &ii));
    return ii;
}

HIL_TEST(sched_lab, two_equal_boards) {
    /* longest first on two boards: 100+40 and 80+60, optimal */
    hil_sched* s = lab("resources.b0.type = T\nresources.b1.type = T\n"
                       "runs.a40.select = x\nruns.a40.expected = 40\nruns.a40.roles.dut.type = T\n"
                       "runs.b60.select = x\nruns.b60.expected = 60\nruns.b60.roles.dut.type = T\n"
                       "runs.c80.select = x\nruns.c80.expected = 80\nruns.c80.roles.dut.type = T\n"
                       "runs.d100.select = x\nruns.d100.expected = 100\nruns.d100.roles.dut.type = T\n");
    simulate(s, 140);
    ran(s, "d100", "b0", 0, 100);
    ran(s, "c80", "b1", 0, 80);
    ran(s, "b60", "b1", 80, 140);
    ran(s, "a40", "b0", 100, 140);
    hil_sched_destroy(s);
}

HIL_TEST(sched_lab, redundant_boards) {
    /* one item per variant; the redundant board of type A halves the A work */
    hil_sched* s = lab("resources.a0.type = A\nresources.a0.variants = v1, v2\n"
                       "resources.a1.type = A\nresources.a1.variants = v1, v2\n"
                       "resources.b0.type = B\nresources.b0.variants = v1\n"
                       "runs.std.select = x\nruns.std.variants = v1, v2\nruns.std.expected = 50\n"
                       "runs.std.roles.dut.type = A\n"
                       "runs.other.select = x\nruns.other.variants = v1\nruns.other.expected = 30\n"
                       "runs.other.roles.dut.type = B\n");
    simulate(s, 50);
    ran(s, "std[v1]", "a0", 0, 50);
    ran(s, "std[v2]", "a1", 0, 50);
    ran(s, "other[v1]", "b0", 0, 30);
    hil_sched_destroy(s);
}

HIL_TEST(sched_lab, two_roles_with_a_reference_board) {
    /* when X ends at 50 s, the reference board has more waiting work per
     * board (Z: 30 s) than the A boards ((30 + 20) / 2 = 25 s): the shorter
     * Z goes before W, so the reference board is not the tail */
    hil_sched* s = lab("resources.a0.type = A\nresources.a1.type = A\nresources.ref.type = REF\n"
                       "runs.X.select = x\nruns.X.expected = 50\nruns.X.roles.dut.type = A\n"
                       "runs.X.roles.ref.type = REF\nruns.X.roles.ref.fixed_firmware = true\n"
                       "runs.Y.select = x\nruns.Y.expected = 100\nruns.Y.roles.dut.type = A\n"
                       "runs.Z.select = x\nruns.Z.expected = 30\nruns.Z.roles.dut.type = A\n"
                       "runs.Z.roles.ref.type = REF\nruns.Z.roles.ref.fixed_firmware = true\n"
                       "runs.W.select = x\nruns.W.expected = 20\nruns.W.roles.dut.type = A\n");
    simulate(s, 100);
    ran(s, "Y", "a0", 0, 100);
    ran(s, "X", "a1,ref", 0, 50);
    ran(s, "Z", "a1,ref", 50, 80);
    ran(s, "W", "a1", 80, 100);
    hil_sched_destroy(s);
}

HIL_TEST(sched_lab, missing_firmware_and_failed_build) {
    hil_sched* s = lab("resources.a0.type = A\nresources.a0.variants = v1, v2\n"
                       "builds.v2.command = make v2\nbuilds.v2.expected = 20\n"
                       "runs.r.select = x\nruns.r.variants = v1, v2, v9\nruns.r.expected = 10\n"
                       "runs.r.roles.dut.type = A\n");
    hil_sched_decision d;
    hil_sched_item_info ii;
    uint32_t b = HIL_SCHED_NONE;
    /* v9: no board runs it, Blocked at once with the reason */
    HIL_ASSERT_OK(hil_sched_next(s, 0, &d));
    HIL_ASSERT(d.kind == HIL_SCHED_NEXT_BLOCKED && strcmp(d.name, "r[v9]") == 0, "%s", d.name ? d.name : "-");
    HIL_EXPECT(strstr(d.reason, "no usable resource for role 'dut'") && strstr(d.reason, "variant v9"), "%s",
               d.reason);
    /* v1 needs no build: it runs; v2 waits for its build, which fails */
    HIL_ASSERT_OK(hil_sched_next_build(s, 0, &b));
    HIL_ASSERT(b != HIL_SCHED_NONE && strcmp(hil_sched_build_variant(s, b), "v2") == 0);
    HIL_ASSERT_OK(hil_sched_next(s, 0, &d));
    HIL_ASSERT(d.kind == HIL_SCHED_NEXT_START && strcmp(d.name, "r[v1]") == 0);
    HIL_ASSERT_OK(hil_sched_run_finished(s, d.run, HIL_SCHED_PASSED, 0, 10 * S_NS));
    HIL_ASSERT_OK(hil_sched_build_finished(s, "v2", 0, "make: *** [v2] Error 2", 20 * S_NS));
    HIL_ASSERT_OK(hil_sched_next(s, 20 * S_NS, &d));
    HIL_ASSERT(d.kind == HIL_SCHED_NEXT_BLOCKED && strcmp(d.name, "r[v2]") == 0);
    HIL_EXPECT(strstr(d.reason, "build of variant 'v2' failed: make: *** [v2] Error 2"), "%s", d.reason);
    ii = item_info(s, "r[v1]");
    HIL_EXPECT(ii.outcome == HIL_SCHED_PASSED, "the failed build blocked r[v1] too");
    HIL_ASSERT_OK(hil_sched_check(s, NULL));
    hil_sched_destroy(s);
}

HIL_TEST(sched_lab, quarantined_board) {
    hil_sched* s = lab("resources.a0.type = A\nresources.a1.type = A\nresources.a1.quarantined = true\n"
                       "runs.p.select = x\nruns.p.expected = 10\nruns.p.roles.dut.type = A\n"
                       "runs.q.select = x\nruns.q.expected = 10\nruns.q.roles.dut.type = A\n"
                       "runs.pinned.select = x\nruns.pinned.roles.dut.resource = a1\n");
    hil_sched_item_info ii;
    simulate(s, 20);
    ran(s, "p", "a0", 0, 10); /* both on a0: a1 is out */
    ran(s, "q", "a0", 10, 20);
    ii = item_info(s, "pinned");
    HIL_EXPECT(ii.state == HIL_SCHED_ITEM_BLOCKED && ii.reason && strstr(ii.reason, "quarantined: a1"), "%s",
               ii.reason ? ii.reason : "not blocked");
    hil_sched_destroy(s);
}

HIL_TEST(sched_lab, configuration_is_checked) {
    const char* bad[][2] = {
        {"resources.a0.type = A\nruns.x.select = t\n", "runs.x has no role"},
        {"resources.a0.type = A\nruns.x.roles.dut.type = A\n", "what does it run?"},
        {"resources.a0.type = A\nruns.x.select = t\nruns.x.command = true\nruns.x.roles.dut.type = A\n", "not both"},
        {"resources.a0.type = A\nruns.x.select = t\nruns.x.roles.dut.resource = a9\n", "there is no resources.a9"},
        {"resources.a0.type = A\nbuilds.v1.priority = 2\nruns.x.select = t\nruns.x.roles.dut.type = A\n",
         "builds.v1: set command"},
        {"resources.a0.type = A\nruns.x.select = t\nruns.x.params = oops\nruns.x.roles.dut.type = A\n",
         "'oops' is not NAME=VALUE"},
        {"runs.x.select = t\nruns.x.roles.dut.type = A\n", "the lab has no resources"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hil_config* cfg = NULL;
        hil_sched* s = NULL;
        hil_result r;
        HIL_ASSERT_OK(hil_config_create(&cfg));
        HIL_ASSERT_OK(hil_config_load_kv(cfg, bad[i][0], "lab", HIL_PRIO_FILE));
        r = hil_sched_from_config(cfg, NULL, &s);
        HIL_EXPECT(r == HIL_ERR_CONFIG && strstr(hil_last_error(), bad[i][1]), "case %zu: %s: %s", i,
                   hil_result_str(r), hil_last_error());
        hil_sched_destroy(s);
        hil_config_destroy(cfg);
    }
}

HIL_TEST(sched_lab, the_checker_catches_broken_schedules) {
    const char* a[] = {st_meta("meta_sched_check"), NULL};
    st_result r;
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "a board in two runs at once: caught") && st_has(&r, "an item run twice: caught") &&
                   st_has(&r, "checker: 0 missed"),
               "%s", r.out);
    st_result_free(&r);
}

/* The ```conf block of docs/scheduler.md that starts with "# lab.conf". */
static char* doc_lab(void) {
    char* doc = st_read("docs/scheduler.md");
    char *p = strstr(doc, "```conf\n# lab.conf"), *e, *out;
    HIL_ASSERT(p != NULL, "docs/scheduler.md has no ```conf block starting with '# lab.conf'");
    p += 8;
    e = strstr(p, "```");
    HIL_ASSERT(e != NULL);
    out = hil_strndup(p, (size_t)(e - p));
    free(doc);
    return out;
}

HIL_TEST(sched_lab, the_documented_lab) {
    char* text = doc_lab();
    const char* dir = st_path("doc_lab");
    char path[1200], runs[1200];
    const char* a[] = {st_meta("meta_sched"), "schedule", "-c", path, "--simulate", "--runs", runs, NULL};
    const char* items[] = {"standard[PICO_W]", "standard[PICO_W_THREAD]", "standard[ESP32_GENERIC]", "wifi[PICO_W]",
                           "can[ESP32_GENERIC]", "perf[PICO_W]"};
    st_result r;
    size_t i;
    HIL_ASSERT_OK(hil_mkdirs(dir));
    snprintf(path, sizeof path, "%s/lab.conf", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    HIL_ASSERT_OK(hil_write_file_atomic(path, text, strlen(text)));
    st_run(a, NULL, 20000, &r);
    HIL_EXPECT_EQ(r.code, 0, "the documented lab does not load:\n%s", r.out);
    for (i = 0; i < sizeof items / sizeof items[0]; i++)
        HIL_EXPECT(st_has(&r, items[i]), "%s is not scheduled:\n%s", items[i], r.out);
    HIL_EXPECT(st_has(&r, "6 runs of 6 work items on 4 resources, 3 builds") && !st_has(&r, "blocked:"), "%s",
               r.out);
    st_result_free(&r);
    free(text);
}

HIL_TEST(sched_lab, the_documented_c_example) {
    char bin[512];
    const char* a[] = {bin, NULL};
    st_result r;
    snprintf(bin, sizeof bin, "%s/doc-examples/sched_plan", st_build_dir());
    if (access(bin, X_OK) != 0) HIL_FAIL("%s is missing: run make (it extracts docs/*.md examples)", bin);
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    /* wlan and uart start when the firmware is built (30 s), longest first */
    HIL_EXPECT(st_has(&r, "makespan 530.0 s, lower bound 500.0 s, makespan / lower bound 1.060"), "%s", r.out);
    st_result_free(&r);
}
