/* The scheduling core (PART 2 of hil_runner.h) on small labs: golden
 * schedules (who runs where and when, to the nanosecond, on a simulated
 * clock), each component of the choice key, builds, retries, quarantine,
 * timeouts, sharding, history, reports. Every simulated schedule also goes
 * through the invariant checker (hil_sched_check). */
#include "selftest.h"

HIL_SUITE(sched_core, "tags=sched")

#define S_NS ((int64_t)1000000000)

/* ---- helpers ---------------------------------------------------------------- */

static hil_sched* mk(hil_sched_policy policy, uint32_t jobs, int bottleneck) {
    hil_sched_config cfg;
    hil_sched* s = NULL;
    hil_sched_config_init(&cfg);
    cfg.policy = policy;
    cfg.jobs = jobs;
    cfg.bottleneck_aware = bottleneck;
    HIL_ASSERT(hil_sched_create(&cfg, &s) == HIL_OK);
    return s;
}

static void res(hil_sched* s, const char* name, const char* type, const char* tags, const char* vars,
                const char* flashed) {
    hil_sched_resource_spec r;
    memset(&r, 0, sizeof(r));
    r.name = name;
    r.type = type;
    r.tags = tags;
    r.variants = vars;
    r.flashed = flashed;
    HIL_ASSERT(hil_sched_add_resource(s, &r, NULL) == HIL_OK);
}

static hil_sched_role role(const char* name, const char* type, const char* tags, int fixed) {
    hil_sched_role r;
    memset(&r, 0, sizeof(r));
    r.name = name;
    r.type = type;
    r.tags = tags;
    r.fixed_firmware = fixed;
    return r;
}

/* Item with one role of 'type' plus, when ref is set, a fixed-firmware
 * reference role of type "REF". */
static uint32_t item(hil_sched* s, const char* name, const char* type, const char* variant, int ref, double secs) {
    hil_sched_role roles[2];
    hil_sched_item_spec it;
    uint32_t id = HIL_SCHED_NONE;
    roles[0] = role("dut", type, NULL, 0);
    roles[1] = role("ref", "REF", NULL, 1);
    memset(&it, 0, sizeof(it));
    it.name = name;
    it.variant = variant;
    it.roles = roles;
    it.n_roles = ref ? 2 : 1;
    it.expected_ns = (int64_t)(secs * 1e9);
    HIL_ASSERT(hil_sched_add_item(s, &it, &id) == HIL_OK);
    return id;
}

static void check_ok(const hil_sched* s) {
    hil_strbuf msg = {0, 0, 0, 0};
    hil_result rc;
    rc = hil_sched_check(s, &msg);
    if (rc != HIL_OK) fprintf(stderr, "%s", hil_sb_cstr(&msg));
    HIL_ASSERT(rc == HIL_OK);
    hil_sb_free(&msg);
}

/* Simulates from 'from' s and checks the invariants; returns makespan s. */
static double sim_from(hil_sched* s, const hil_sched_sim_ops* ops, double from) {
    int64_t end = 0;
    hil_sched_stats st;
    HIL_ASSERT(hil_sched_simulate(s, ops, (int64_t)(from * 1e9), &end) == HIL_OK);
    check_ok(s);
    HIL_ASSERT(hil_sched_stats_get(s, &st) == HIL_OK);
    return (double)st.makespan_ns / 1e9;
}

static double sim(hil_sched* s, const hil_sched_sim_ops* ops) { return sim_from(s, ops, 0); }

/* The final (or only) run of an item. */
static hil_sched_run_info run_of(const hil_sched* s, const char* name) {
    uint32_t id;
    hil_sched_item_info ii;
    hil_sched_run_info ri;
    HIL_ASSERT(hil_sched_find_item(s, name, &id) == HIL_OK);
    HIL_ASSERT(hil_sched_item_info_get(s, id, &ii) == HIL_OK);
    HIL_ASSERT(ii.last_run != HIL_SCHED_NONE);
    HIL_ASSERT(hil_sched_run_info_get(s, ii.last_run, &ri) == HIL_OK);
    return ri;
}

/* Golden check: item ran on resources "a" (or "a,b") from start to end. */
static void expect_run(const hil_sched* s, const char* name, const char* resources, double start, double end) {
    hil_sched_run_info ri = run_of(s, name);
    char buf[128] = "";
    uint32_t k;
    hil_sched_resource_info rinfo;
    for (k = 0; k < ri.n_resources; k++) {
        HIL_ASSERT(hil_sched_resource_info_get(s, ri.resources[k], &rinfo) == HIL_OK);
        if (k) strcat(buf, ",");
        strcat(buf, rinfo.name);
    }
    if (strcmp(buf, resources) != 0 || ri.start_ns != (int64_t)(start * 1e9) || ri.end_ns != (int64_t)(end * 1e9)) {
        fprintf(stderr, "%s: got %s %.3f-%.3f, want %s %.3f-%.3f\n", name, buf, (double)ri.start_ns / 1e9,
                (double)ri.end_ns / 1e9, resources, start, end);
        HIL_ASSERT(0);
    }
}

static hil_sched_item_info info_of(const hil_sched* s, const char* name) {
    uint32_t id;
    hil_sched_item_info ii;
    HIL_ASSERT(hil_sched_find_item(s, name, &id) == HIL_OK);
    HIL_ASSERT(hil_sched_item_info_get(s, id, &ii) == HIL_OK);
    return ii;
}

/* ---- golden schedules --------------------------------------------------------- */

HIL_TEST(sched_core, two_equal_boards) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    hil_sched_bound lb;
    res(s, "b0", "T", NULL, NULL, NULL);
    res(s, "b1", "T", NULL, NULL, NULL);
    item(s, "a40", "T", NULL, 0, 40);
    item(s, "b60", "T", NULL, 0, 60);
    item(s, "c80", "T", NULL, 0, 80);
    item(s, "d100", "T", NULL, 0, 100);
    HIL_ASSERT(hil_sched_lower_bound(s, NULL, NULL, NULL, &lb) == HIL_OK);
    HIL_ASSERT(lb.value_ns == 140 * S_NS && lb.group_ns == 140 * S_NS && lb.longest_ns == 100 * S_NS);
    HIL_ASSERT(sim(s, NULL) == 140.0); /* longest first: optimal here */
    expect_run(s, "d100", "b0", 0, 100);
    expect_run(s, "c80", "b1", 0, 80);
    expect_run(s, "b60", "b1", 80, 140);
    expect_run(s, "a40", "b0", 100, 140);
    hil_sched_destroy(s);

    /* TestBartender's rule ignores durations: name order, 160 s */
    s = mk(HIL_SCHED_POLICY_BARTENDER, 0, 0);
    res(s, "b0", "T", NULL, NULL, NULL);
    res(s, "b1", "T", NULL, NULL, NULL);
    item(s, "a40", "T", NULL, 0, 40);
    item(s, "b60", "T", NULL, 0, 60);
    item(s, "c80", "T", NULL, 0, 80);
    item(s, "d100", "T", NULL, 0, 100);
    HIL_ASSERT(sim(s, NULL) == 160.0);
    expect_run(s, "a40", "b0", 0, 40);
    expect_run(s, "b60", "b1", 0, 60);
    expect_run(s, "c80", "b0", 40, 120);
    expect_run(s, "d100", "b1", 60, 160);
    hil_sched_destroy(s);
}

/* Redundant boards shorten the critical path; planning by clone + simulate. */
HIL_TEST(sched_core, redundant_boards) {
    hil_sched *s = mk(HIL_SCHED_POLICY_KEY, 0, 1), *plan = NULL;
    int64_t eta = 0;
    res(s, "a0", "A", NULL, NULL, NULL);
    item(s, "x1", "A", NULL, 0, 100);
    item(s, "x2", "A", NULL, 0, 100);
    item(s, "x3", "A", NULL, 0, 100);
    HIL_ASSERT(hil_sched_eta(s, 0, &eta) == HIL_OK && eta == 300 * S_NS);
    HIL_ASSERT(hil_sched_clone(s, &plan) == HIL_OK);
    res(plan, "a1", "A", NULL, NULL, NULL); /* what if we add one board of type A */
    HIL_ASSERT(sim(plan, NULL) == 200.0);
    expect_run(plan, "x1", "a0", 0, 100);
    expect_run(plan, "x2", "a1", 0, 100);
    expect_run(plan, "x3", "a0", 100, 200);
    HIL_ASSERT(sim(s, NULL) == 300.0); /* the original is untouched by the plan */
    hil_sched_destroy(plan);
    hil_sched_destroy(s);
}

HIL_TEST(sched_core, two_roles_reference) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    hil_sched_bound lb;
    res(s, "a0", "A", NULL, NULL, NULL);
    res(s, "a1", "A", NULL, NULL, NULL);
    res(s, "ref", "REF", NULL, NULL, NULL);
    item(s, "X", "A", NULL, 1, 50);
    item(s, "Y", "A", NULL, 0, 100);
    item(s, "Z", "A", NULL, 1, 30);
    item(s, "W", "A", NULL, 0, 20);
    HIL_ASSERT(hil_sched_lower_bound(s, NULL, NULL, NULL, &lb) == HIL_OK);
    HIL_ASSERT(lb.group_ns == 100 * S_NS && lb.resource_ns == 80 * S_NS && lb.value_ns == 100 * S_NS);
    HIL_ASSERT(sim(s, NULL) == 100.0);
    expect_run(s, "Y", "a0", 0, 100);
    expect_run(s, "X", "a1,ref", 0, 50);
    /* at 50 s the reference board carries more waiting work per board (30 s)
     * than the A boards (25 s): Z, which needs it, goes first */
    expect_run(s, "Z", "a1,ref", 50, 80);
    expect_run(s, "W", "a1", 80, 100);
    hil_sched_destroy(s);
}

/* The bottleneck refinement.  Two A boards and one reference board; the three
 * 50 s runs need the reference board too.  Longest first alone starts both
 * 100 s runs and leaves the reference board idle for 100 s (250 s); with the
 * bottleneck key a reference run starts as soon as the reference board
 * carries more waiting work per board than the A boards (200 s, optimal:
 * the A work 350 s cannot split better than 200 + 150). */
HIL_TEST(sched_core, bottleneck_order) {
    int pass;
    for (pass = 0; pass < 2; pass++) {
        hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, pass);
        res(s, "a0", "A", NULL, NULL, NULL);
        res(s, "a1", "A", NULL, NULL, NULL);
        res(s, "ref", "REF", NULL, NULL, NULL);
        item(s, "L1", "A", NULL, 0, 100);
        item(s, "L2", "A", NULL, 0, 100);
        item(s, "R1", "A", NULL, 1, 50);
        item(s, "R2", "A", NULL, 1, 50);
        item(s, "R3", "A", NULL, 1, 50);
        if (!pass) {
            HIL_ASSERT(sim(s, NULL) == 250.0);
            expect_run(s, "L2", "a1", 0, 100);
            expect_run(s, "R3", "a0,ref", 200, 250);
        } else {
            HIL_ASSERT(sim(s, NULL) == 200.0);
            expect_run(s, "L1", "a0", 0, 100);    /* pressure A 175 = max(175, ref 150) */
            expect_run(s, "R1", "a1,ref", 0, 50); /* ref 150 > A 125 */
            expect_run(s, "L2", "a1", 50, 150);   /* tie at 100: longer first */
            expect_run(s, "R2", "a0,ref", 100, 150);
            expect_run(s, "R3", "a0,ref", 150, 200);
        }
        hil_sched_destroy(s);
    }
}

HIL_TEST(sched_core, missing_variant) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    hil_sched_decision d;
    hil_sched_item_info ii;
    res(s, "a0", "A", NULL, "v1", "v1");
    item(s, "M", "A", "v9", 0, 10);
    item(s, "N", "A", "v1", 0, 10);
    HIL_ASSERT(hil_sched_next(s, 0, &d) == HIL_OK);
    HIL_ASSERT(d.kind == HIL_SCHED_NEXT_BLOCKED && strcmp(d.name, "M") == 0);
    HIL_ASSERT(strstr(d.reason, "v9") != NULL && strstr(d.reason, "dut") != NULL);
    HIL_ASSERT(hil_sched_next(s, 0, &d) == HIL_OK);
    HIL_ASSERT(d.kind == HIL_SCHED_NEXT_START && strcmp(d.name, "N") == 0 && d.reflash_mask == 0);
    HIL_ASSERT(hil_sched_run_finished(s, d.run, HIL_SCHED_PASSED, 0, 10 * S_NS) == HIL_OK);
    HIL_ASSERT(hil_sched_run_finished(s, d.run, HIL_SCHED_PASSED, 0, 10 * S_NS) == HIL_ERR_STATE);
    HIL_ASSERT(hil_sched_next(s, 10 * S_NS, &d) == HIL_OK && d.kind == HIL_SCHED_NEXT_NONE);
    ii = info_of(s, "M");
    HIL_ASSERT(ii.state == HIL_SCHED_ITEM_BLOCKED && ii.outcome == HIL_SCHED_BLOCKED && ii.reason);
    HIL_ASSERT(hil_sched_unfinished(s) == 0);
    check_ok(s);
    hil_sched_destroy(s);
}

static void build_fail_v1(void* user, const hil_sched* s, uint32_t b, int64_t* dur, int* ok) {
    (void)user;
    *ok = strcmp(hil_sched_build_variant(s, b), "v1") != 0;
    *dur = *ok ? 20 * S_NS : 40 * S_NS;
}

HIL_TEST(sched_core, failed_build) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    hil_sched_build_spec b;
    hil_sched_sim_ops ops;
    hil_sched_item_info ii;
    res(s, "a0", "A", NULL, "v1,v2,v3", NULL);
    memset(&b, 0, sizeof(b));
    b.variant = "v1";
    b.expected_ns = 40 * S_NS;
    HIL_ASSERT(hil_sched_add_build(s, &b, NULL) == HIL_OK);
    HIL_ASSERT(hil_sched_add_build(s, &b, NULL) == HIL_ERR_INVALID_ARG); /* one per variant */
    b.variant = "v2";
    b.priority = 1;
    HIL_ASSERT(hil_sched_add_build(s, &b, NULL) == HIL_OK);
    b.variant = "v3"; /* nobody needs it: never built */
    b.priority = 5;
    HIL_ASSERT(hil_sched_add_build(s, &b, NULL) == HIL_OK);
    item(s, "P1", "A", "v1", 0, 10);
    item(s, "P2", "A", "v2", 0, 10);
    item(s, "P3", "A", "v1", 0, 10);
    memset(&ops, 0, sizeof(ops));
    ops.build = build_fail_v1;
    /* v2 is built first (priority) at 0-20 s, v1 fails at 20-60 s: the lab is
     * busy until then, though the last run ended at 30 s */
    HIL_ASSERT(sim(s, &ops) == 60.0);
    expect_run(s, "P2", "a0", 20, 30);
    ii = info_of(s, "P1");
    HIL_ASSERT(ii.state == HIL_SCHED_ITEM_BLOCKED && strstr(ii.reason, "v1") && strstr(ii.reason, "failed"));
    HIL_ASSERT(info_of(s, "P3").state == HIL_SCHED_ITEM_BLOCKED);
    HIL_ASSERT(info_of(s, "P2").outcome == HIL_SCHED_PASSED);
    HIL_ASSERT(run_of(s, "P2").reflash_mask == 1u);
    hil_sched_destroy(s);
}

/* Runs on a0 always fail for infrastructure reasons after 1 s. */
static void fail_on_a0(void* user, const hil_sched* s, const hil_sched_decision* d, hil_sched_sim_result* out) {
    hil_sched_resource_info ri;
    (void)user;
    hil_sched_resource_info_get(s, d->resources[0], &ri);
    if (strcmp(ri.name, "a0") == 0) {
        out->duration_ns = 1 * S_NS;
        out->outcome = HIL_SCHED_ERROR;
        out->infra_mask = HIL_SCHED_INFRA_ALL;
    }
}

HIL_TEST(sched_core, quarantine) {
    hil_sched_config cfg;
    hil_sched* s;
    hil_sched_sim_ops ops;
    hil_sched_item_spec it;
    hil_sched_role r = role("dut", "A", NULL, 0);
    hil_sched_resource_info ri;
    const char* names[] = {"Q1", "Q2", "Q3", "Q4"};
    int i;
    hil_sched_config_init(&cfg);
    cfg.quarantine_after = 2;
    HIL_ASSERT(hil_sched_create(&cfg, &s) == HIL_OK);
    res(s, "a0", "A", NULL, NULL, NULL);
    res(s, "a1", "A", NULL, NULL, NULL);
    for (i = 0; i < 4; i++) {
        memset(&it, 0, sizeof(it));
        it.name = names[i];
        it.roles = &r;
        it.n_roles = 1;
        it.retries = 2;
        it.expected_ns = 10 * S_NS;
        HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_OK);
    }
    memset(&ops, 0, sizeof(ops));
    ops.run = fail_on_a0;
    HIL_ASSERT(sim(s, &ops) == 40.0);
    HIL_ASSERT(hil_sched_resource_info_get(s, 0, &ri) == HIL_OK && ri.quarantined && ri.infra_streak == 2);
    expect_run(s, "Q2", "a1", 0, 10);
    expect_run(s, "Q1", "a1", 10, 20); /* retried on the other board */
    expect_run(s, "Q3", "a1", 20, 30);
    expect_run(s, "Q4", "a1", 30, 40); /* never sent to the quarantined board */
    for (i = 0; i < 4; i++) HIL_ASSERT(info_of(s, names[i]).outcome == HIL_SCHED_PASSED);
    HIL_ASSERT(info_of(s, "Q1").attempts == 2 && info_of(s, "Q3").attempts == 2);
    HIL_ASSERT(info_of(s, "Q4").attempts == 1);
    hil_sched_destroy(s);
}

/* Out of retries on the only board: ERROR; then the board is quarantined and
 * the rest is blocked with a reason. */
HIL_TEST(sched_core, quarantine_blocks) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    hil_sched_sim_ops ops;
    res(s, "a0", "A", NULL, NULL, NULL);
    item(s, "E1", "A", NULL, 0, 10);
    item(s, "E2", "A", NULL, 0, 9);
    item(s, "E3", "A", NULL, 0, 8);
    item(s, "E4", "A", NULL, 0, 7);
    memset(&ops, 0, sizeof(ops));
    ops.run = fail_on_a0;
    sim(s, &ops);
    HIL_ASSERT(info_of(s, "E1").outcome == HIL_SCHED_ERROR);
    HIL_ASSERT(info_of(s, "E3").outcome == HIL_SCHED_ERROR); /* third failure quarantines */
    HIL_ASSERT(info_of(s, "E4").state == HIL_SCHED_ITEM_BLOCKED);
    HIL_ASSERT(strstr(info_of(s, "E4").reason, "no usable resource") != NULL);
    hil_sched_destroy(s);
}

HIL_TEST(sched_core, jobs_cap) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 2, 1);
    const char* names[] = {"j1", "j2", "j3", "j4", "j5", "j6"};
    int i;
    for (i = 0; i < 4; i++) {
        char n[16];
        sprintf(n, "b%d", i);
        res(s, n, "T", NULL, NULL, NULL);
    }
    for (i = 0; i < 6; i++) item(s, names[i], "T", NULL, 0, 10);
    HIL_ASSERT(sim(s, NULL) == 30.0);
    expect_run(s, "j1", "b0", 0, 10);
    expect_run(s, "j2", "b1", 0, 10);
    expect_run(s, "j3", "b0", 10, 20);
    expect_run(s, "j6", "b1", 20, 30);
    hil_sched_destroy(s);
}

/* ---- choice key components -------------------------------------------------------- */

HIL_TEST(sched_core, key_order) {
    hil_sched* s;
    hil_sched_item_spec it;
    hil_sched_role r = role("dut", "A", NULL, 0);
    hil_sched_role rx = role("dut", "A", "x", 0);
    hil_sched_decision d;
    int pass;

    /* explicit priority beats duration */
    s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    res(s, "a0", "A", NULL, NULL, NULL);
    item(s, "long", "A", NULL, 0, 100);
    memset(&it, 0, sizeof(it));
    it.name = "urgent";
    it.roles = &r;
    it.n_roles = 1;
    it.priority = 1;
    it.expected_ns = 10 * S_NS;
    HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_OK);
    sim(s, NULL);
    expect_run(s, "urgent", "a0", 0, 10);
    hil_sched_destroy(s);

    /* most constrained first (with or without the bottleneck refinement) */
    for (pass = 0; pass < 2; pass++) {
        s = mk(HIL_SCHED_POLICY_KEY, 0, pass);
        res(s, "a0", "A", "x", NULL, NULL);
        res(s, "a1", "A", NULL, NULL, NULL);
        item(s, "flexible", "A", NULL, 0, 50);
        memset(&it, 0, sizeof(it));
        it.name = "picky";
        it.roles = &rx;
        it.n_roles = 1;
        it.expected_ns = 50 * S_NS;
        HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_OK);
        HIL_ASSERT(sim(s, NULL) == 50.0);
        expect_run(s, "picky", "a0", 0, 50);
        expect_run(s, "flexible", "a1", 0, 50);
        hil_sched_destroy(s);
    }

    /* no reflash first, then name */
    s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    res(s, "a0", "A", NULL, "v1,v2", "v1");
    item(s, "r1", "A", "v2", 0, 10);
    item(s, "r2", "A", "v1", 0, 10);
    item(s, "r0", "A", "v1", 0, 10);
    HIL_ASSERT(hil_sched_next(s, 0, &d) == HIL_OK && strcmp(d.name, "r0") == 0 && d.reflash_mask == 0);
    HIL_ASSERT(hil_sched_run_finished(s, d.run, HIL_SCHED_PASSED, 0, 10 * S_NS) == HIL_OK);
    HIL_ASSERT(hil_sched_next(s, 10 * S_NS, &d) == HIL_OK && strcmp(d.name, "r2") == 0);
    HIL_ASSERT(hil_sched_run_finished(s, d.run, HIL_SCHED_PASSED, 0, 20 * S_NS) == HIL_OK);
    HIL_ASSERT(hil_sched_next(s, 20 * S_NS, &d) == HIL_OK && strcmp(d.name, "r1") == 0 && d.reflash_mask == 1);
    HIL_ASSERT(strcmp(d.variant, "v2") == 0);
    HIL_ASSERT(hil_sched_run_finished(s, d.run, HIL_SCHED_FAILED, 0, 30 * S_NS) == HIL_OK);
    check_ok(s);
    hil_sched_destroy(s);
}

/* ---- spec expansion, distinct roles, timeouts ------------------------------------------- */

HIL_TEST(sched_core, specs) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    hil_sched_role sta_ap[2], ap_sta[2], same[2], one;
    hil_sched_role_set sets[2];
    hil_sched_spec sp;
    uint32_t first, n;
    hil_sched_decision d;
    res(s, "p0", "PICO", "wlan", "v1,v2", NULL);
    res(s, "e0", "ESP", "wlan", "v1,v2", NULL);
    sta_ap[0] = role("sta", "PICO", "wlan", 0);
    sta_ap[1] = role("ap", "ESP", "wlan", 0);
    ap_sta[0] = role("sta", "ESP", "wlan", 0);
    ap_sta[1] = role("ap", "PICO", "wlan", 0);
    sets[0].label = "pico-sta";
    sets[0].roles = sta_ap;
    sets[0].n_roles = 2;
    sets[1].label = "esp-sta";
    sets[1].roles = ap_sta;
    sets[1].n_roles = 2;
    memset(&sp, 0, sizeof(sp));
    sp.name = "multinet";
    sp.variants = "v1, v2";
    sp.role_sets = sets;
    sp.n_role_sets = 2;
    sp.timeout_ns = 100 * S_NS;
    HIL_ASSERT(hil_sched_add_spec(s, &sp, &first, &n) == HIL_OK && n == 4);
    HIL_ASSERT(hil_sched_find_item(s, "multinet[v2/esp-sta]", &first) == HIL_OK);
    HIL_ASSERT(info_of(s, "multinet[v1/pico-sta]").expected_ns == 50 * S_NS); /* timeout guess */
    /* one role set, no variants: plain name; two roles pinned to one board */
    same[0] = role("a", NULL, NULL, 1);
    same[1] = role("b", NULL, NULL, 1);
    same[0].resource = "p0";
    same[1].resource = "p0";
    sets[0].roles = same;
    sp.name = "impossible";
    sp.variants = NULL;
    sp.n_role_sets = 1;
    HIL_ASSERT(hil_sched_add_spec(s, &sp, &first, &n) == HIL_OK && n == 1);
    HIL_ASSERT(hil_sched_find_item(s, "impossible", &first) == HIL_OK);
    one = role("dut", "PICO", NULL, 0);
    sets[0].roles = &one;
    sets[0].n_roles = 1;
    sp.name = "single";
    sp.variants = "v1";
    HIL_ASSERT(hil_sched_add_spec(s, &sp, &first, &n) == HIL_OK && n == 1);
    HIL_ASSERT(hil_sched_find_item(s, "single[v1]", &first) == HIL_OK);
    HIL_ASSERT(hil_sched_next(s, 0, &d) == HIL_OK && d.kind == HIL_SCHED_NEXT_BLOCKED);
    HIL_ASSERT(strstr(d.reason, "distinct") != NULL);
    sim(s, NULL);
    HIL_ASSERT(info_of(s, "multinet[v1/esp-sta]").outcome == HIL_SCHED_PASSED);
    hil_sched_destroy(s);
}

static void slow_run(void* user, const hil_sched* s, const hil_sched_decision* d, hil_sched_sim_result* out) {
    (void)user;
    (void)s;
    (void)d;
    out->duration_ns = 20 * S_NS;
}

HIL_TEST(sched_core, timeout) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    hil_sched_item_spec it;
    hil_sched_role r = role("dut", "A", NULL, 0);
    hil_sched_decision d;
    hil_sched_sim_ops ops;
    int64_t dl = 0;
    uint32_t run = 0;
    res(s, "a0", "A", NULL, NULL, NULL);
    memset(&it, 0, sizeof(it));
    it.name = "hang";
    it.roles = &r;
    it.n_roles = 1;
    it.timeout_ns = 10 * S_NS;
    HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_OK);
    HIL_ASSERT(hil_sched_next_deadline(s, &dl, &run) == HIL_ERR_NOT_FOUND);
    HIL_ASSERT(hil_sched_next(s, 5 * S_NS, &d) == HIL_OK && d.kind == HIL_SCHED_NEXT_START);
    HIL_ASSERT(hil_sched_next_deadline(s, &dl, &run) == HIL_OK && dl == 15 * S_NS && run == d.run);
    hil_sched_destroy(s);

    s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    res(s, "a0", "A", NULL, NULL, NULL);
    HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_OK);
    memset(&ops, 0, sizeof(ops));
    ops.run = slow_run;
    HIL_ASSERT(sim(s, &ops) == 10.0);
    HIL_ASSERT(info_of(s, "hang").outcome == HIL_SCHED_TIMEOUT);
    hil_sched_destroy(s);
}

/* ---- sharding ------------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t* x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static hil_sched* shard_workload(int reversed) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    uint64_t seed = 42;
    int i;
    int64_t dur[100];
    hil_sched_build_spec b;
    res(s, "a0", "A", NULL, "v0,v1,v2,v3", NULL);
    memset(&b, 0, sizeof(b));
    for (i = 0; i < 4; i++) {
        char v[16];
        sprintf(v, "v%d", i);
        b.variant = v;
        b.expected_ns = 5 * S_NS;
        HIL_ASSERT(hil_sched_add_build(s, &b, NULL) == HIL_OK);
    }
    for (i = 0; i < 100; i++) dur[i] = (int64_t)(rng_next(&seed) % 600 + 2) * S_NS;
    for (i = 0; i < 100; i++) {
        int k = reversed ? 99 - i : i;
        char n[16], v[16];
        sprintf(n, "t%03d", k);
        sprintf(v, "v%d", k % 4 == 3 ? 2 : k % 4); /* v3 unused */
        item(s, n, "A", v, 0, (double)dur[k] / 1e9);
    }
    return s;
}

HIL_TEST(sched_core, sharding) {
    hil_sched *a = shard_workload(0), *b = shard_workload(1);
    uint32_t pa[100], pb[100], k, n, i, id;
    int64_t load[4] = {0, 0, 0, 0}, lo, hi, maxp = 0;
    HIL_ASSERT(hil_sched_parse_shard("2/4", &k, &n) == HIL_OK && k == 2 && n == 4);
    HIL_ASSERT(hil_sched_parse_shard("0/4", &k, &n) == HIL_ERR_INVALID_ARG);
    HIL_ASSERT(hil_sched_parse_shard("5/4", &k, &n) == HIL_ERR_INVALID_ARG);
    HIL_ASSERT(hil_sched_parse_shard("a/b", &k, &n) == HIL_ERR_INVALID_ARG);
    HIL_ASSERT(hil_sched_parse_shard("3", &k, &n) == HIL_ERR_INVALID_ARG);
    HIL_ASSERT(hil_sched_shard_plan(a, 4, pa) == HIL_OK);
    HIL_ASSERT(hil_sched_shard_plan(b, 4, pb) == HIL_OK);
    for (i = 0; i < 100; i++) {
        hil_sched_item_info ii;
        hil_sched_item_info_get(a, i, &ii);
        HIL_ASSERT(pa[i] < 4);
        HIL_ASSERT(hil_sched_find_item(b, ii.name, &id) == HIL_OK && pb[id] == pa[i]); /* order independent */
        load[pa[i]] += ii.expected_ns;
        if (ii.expected_ns > maxp) maxp = ii.expected_ns;
    }
    lo = hi = load[0];
    for (i = 1; i < 4; i++) {
        if (load[i] < lo) lo = load[i];
        if (load[i] > hi) hi = load[i];
    }
    HIL_ASSERT(hi - lo <= maxp);    /* greedy longest-first guarantee */
    HIL_ASSERT(hi - lo <= hi / 20); /* and balanced in practice: within 5 % */
    HIL_ASSERT(hil_sched_shard(a, 2, 4) == HIL_OK);
    sim(a, NULL);
    for (i = 0; i < 100; i++) {
        hil_sched_item_info ii;
        hil_sched_item_info_get(a, i, &ii);
        HIL_ASSERT((pa[i] == 1) == (ii.outcome == HIL_SCHED_PASSED));
        HIL_ASSERT((pa[i] == 1) != (ii.state == HIL_SCHED_ITEM_SKIPPED));
    }
    HIL_ASSERT(hil_sched_shard(a, 1, 4) == HIL_ERR_STATE); /* too late: runs exist */
    for (i = 0; i < hil_sched_build_count(a); i++) HIL_ASSERT(strcmp(hil_sched_build_variant(a, i), "") != 0);
    hil_sched_destroy(a);
    hil_sched_destroy(b);
}

/* ---- history ------------------------------------------------------------------------------- */

HIL_TEST(sched_core, history) {
    hil_sched_history *h = NULL, *g = NULL;
    hil_strbuf buf = {0, 0, 0, 0}, buf2 = {0, 0, 0, 0};
    int64_t ema = 0;
    uint32_t count = 0;
    size_t bad = 0;
    hil_sched* s;
    hil_sched_item_spec it;
    hil_sched_role r = role("dut", "A", NULL, 0);
    hil_sched_decision d;
    const char* bad1 = "# hil-sched-history 1\n100 1 ok\nxx 1 broken\n";
    const char* bad2 = "100 1 no header\n";

    HIL_ASSERT(hil_sched_history_create(500, &h) == HIL_OK);
    HIL_ASSERT(hil_sched_history_update(h, "spec[v1]", 100) == HIL_OK);
    HIL_ASSERT(hil_sched_history_update(h, "spec[v1]", 200) == HIL_OK);
    HIL_ASSERT(hil_sched_history_lookup(h, "spec[v1]", &ema, &count) == HIL_OK && ema == 150 && count == 2);
    HIL_ASSERT(hil_sched_history_update(h, "name with spaces", 7 * S_NS) == HIL_OK);
    HIL_ASSERT(hil_sched_history_update(h, "bad\nname", 1) == HIL_ERR_INVALID_ARG);
    HIL_ASSERT(hil_sched_history_lookup(h, "missing", &ema, NULL) == HIL_ERR_NOT_FOUND);
    HIL_ASSERT(hil_sched_history_write(h, &buf) == HIL_OK);
    HIL_ASSERT(hil_sched_history_create(0, &g) == HIL_OK);
    HIL_ASSERT(hil_sched_history_parse(g, buf.data, buf.len, &bad) == HIL_OK);
    HIL_ASSERT(hil_sched_history_write(g, &buf2) == HIL_OK);
    HIL_ASSERT(buf.len == buf2.len && memcmp(buf.data, buf2.data, buf.len) == 0); /* round trip */
    HIL_ASSERT(hil_sched_history_lookup(g, "name with spaces", &ema, &count) == HIL_OK && ema == 7 * S_NS);
    HIL_ASSERT(hil_sched_history_parse(g, bad1, strlen(bad1), &bad) == HIL_ERR_INVALID_ARG && bad == 3);
    HIL_ASSERT(hil_sched_history_parse(g, bad2, strlen(bad2), &bad) == HIL_ERR_INVALID_ARG && bad == 1);

    /* estimates: history, else timeout guess, else default; runs feed it */
    s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    res(s, "a0", "A", NULL, NULL, NULL);
    memset(&it, 0, sizeof(it));
    it.roles = &r;
    it.n_roles = 1;
    it.name = "spec[v1]";
    HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_OK);
    it.name = "guess";
    it.timeout_ns = 100 * S_NS;
    HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_OK);
    HIL_ASSERT(info_of(s, "spec[v1]").expected_ns == 60 * S_NS);
    HIL_ASSERT(info_of(s, "guess").expected_ns == 50 * S_NS);
    HIL_ASSERT(hil_sched_use_history(s, h) == HIL_OK);
    HIL_ASSERT(info_of(s, "spec[v1]").expected_ns == 150);
    HIL_ASSERT(hil_sched_next(s, 0, &d) == HIL_OK && strcmp(d.name, "guess") == 0); /* longest first */
    HIL_ASSERT(hil_sched_run_finished(s, d.run, HIL_SCHED_PASSED, 0, 30 * S_NS) == HIL_OK);
    HIL_ASSERT(hil_sched_history_lookup(h, "guess", &ema, &count) == HIL_OK && ema == 30 * S_NS && count == 1);
    hil_sched_destroy(s);
    hil_sb_free(&buf);
    hil_sb_free(&buf2);
    hil_sched_history_destroy(h);
    hil_sched_history_destroy(g);
}

/* ---- checker, reports, ETA, errors ------------------------------------------------------------ */

HIL_TEST(sched_core, reports_and_eta) {
    hil_sched* s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    hil_sched_bound lb;
    hil_strbuf t = {0, 0, 0, 0}, h = {0, 0, 0, 0};
    hil_sched_decision d;
    int64_t eta = 0;
    hil_sched_resource_stats rs;
    res(s, "a0", "A", NULL, NULL, NULL);
    res(s, "ref<&>", "REF", NULL, NULL, NULL);
    item(s, "one", "A", NULL, 1, 30);
    item(s, "two", "A", NULL, 0, 10);
    item(s, "blocked", "B", NULL, 0, 10);
    HIL_ASSERT(hil_sched_lower_bound(s, NULL, NULL, NULL, &lb) == HIL_OK && lb.value_ns == 40 * S_NS);
    do HIL_ASSERT(hil_sched_next(s, 0, &d) == HIL_OK);
    while (d.kind == HIL_SCHED_NEXT_BLOCKED);
    HIL_ASSERT(strcmp(d.name, "one") == 0);
    HIL_ASSERT(hil_sched_eta(s, 10 * S_NS, &eta) == HIL_OK && eta == 40 * S_NS); /* 30 + 10 */
    HIL_ASSERT(hil_sched_eta(s, 35 * S_NS, &eta) == HIL_OK && eta == 45 * S_NS); /* overdue run */
    HIL_ASSERT(hil_sched_run_finished(s, d.run, HIL_SCHED_PASSED, 0, 30 * S_NS) == HIL_OK);
    HIL_ASSERT(hil_sched_simulate(s, NULL, 0, NULL) == HIL_ERR_INVALID_ARG); /* time went back */
    sim_from(s, NULL, 30);
    HIL_ASSERT(hil_sched_resource_stats_get(s, 1, &rs) == HIL_OK && rs.busy_ns == 30 * S_NS && rs.idle_ns == 10 * S_NS);
    HIL_ASSERT(hil_sched_report_text(s, &lb, 40, &t) == HIL_OK);
    HIL_ASSERT(strstr(t.data, "makespan 40.0 s") && strstr(t.data, "ratio") == NULL);
    HIL_ASSERT(strstr(t.data, "makespan / lower bound 1.000") && strstr(t.data, "blocked:"));
    HIL_ASSERT(strstr(t.data, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAABBBBBBBBBB") != NULL);
    HIL_ASSERT(hil_sched_report_html(s, &lb, "test", NULL, NULL, &h) == HIL_OK);
    HIL_ASSERT(strncmp(h.data, "<!DOCTYPE html>", 15) == 0 && strstr(h.data, "<svg") && !strstr(h.data, "<script"));
    HIL_ASSERT(strstr(h.data, "ref&lt;&amp;&gt;") && !strstr(h.data, "ref<&>"));
    if (getenv("TEST_SCHED_DUMP")) printf("%s\n", t.data);
    hil_sb_free(&t);
    hil_sb_free(&h);
    hil_sched_destroy(s);
}

HIL_TEST(sched_core, errors) {
    hil_sched_config cfg;
    hil_sched* s = NULL;
    hil_sched_item_spec it;
    hil_sched_role r = role("dut", "A", NULL, 0);
    hil_sched_resource_spec rs;
    hil_sched_config_init(&cfg);
    cfg.build_lanes = 0;
    HIL_ASSERT(hil_sched_create(&cfg, &s) == HIL_ERR_INVALID_ARG);
    s = mk(HIL_SCHED_POLICY_KEY, 0, 1);
    memset(&it, 0, sizeof(it));
    it.name = "x";
    it.roles = &r;
    HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_ERR_INVALID_ARG); /* no roles */
    it.n_roles = 1;
    HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_OK);
    HIL_ASSERT(hil_sched_add_item(s, &it, NULL) == HIL_ERR_INVALID_ARG); /* duplicate */
    memset(&rs, 0, sizeof(rs));
    rs.name = "a0";
    HIL_ASSERT(hil_sched_add_resource(s, &rs, NULL) == HIL_OK);
    HIL_ASSERT(hil_sched_add_resource(s, &rs, NULL) == HIL_ERR_INVALID_ARG);
    HIL_ASSERT(hil_sched_build_finished(s, "nope", 1, NULL, 0) == HIL_ERR_NOT_FOUND);
    HIL_ASSERT(hil_sched_run_finished(s, 0, HIL_SCHED_PASSED, 0, 0) == HIL_ERR_INVALID_ARG);
    HIL_ASSERT(hil_sched_set_quarantine(s, 7, 1) == HIL_ERR_INVALID_ARG);
    hil_sched_destroy(s);
}
