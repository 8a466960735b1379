/* bench_sched.c - makespan quality and decision cost of the hil scheduler
 * (hil_runner.h PART 2), on a simulated clock: the workload of issue 8.
 *
 * 20 seeded workloads of 60 work items: durations log-uniform from 2 s to
 * 10 min, 3 board types with 2-4 boards each (two firmware variants per
 * type), 10 % of the runs also need one shared reference board, six
 * firmware builds of 20-60 s on one build lane as release times. The
 * scheduler sees durations only through estimates off by up to +-25 %; the
 * simulation and the lower bound use the true ones. Policies: ours (the
 * documented key), TestBartender's rule (priority, then board versatility,
 * flashed, name: no durations), and static collection (each work item
 * pinned round-robin to a board of its type up front, in order). Each
 * prints mean makespan / lower bound. sched_decision: wall time of a whole
 * simulated run with 10,000 work items on 100 resources, per started run,
 * median of three.
 *
 * Prints exactly four BENCH lines on stdout. Workloads are seeded, so every
 * run prints the same ratios. Diagnostics (stderr): -v per workload (and the
 * ratio against the release-aware bound), -vv -dN a workload's schedules,
 * -x exact estimates, -p fixed random build priorities, -sN other seeds. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_NS ((int64_t)1000000000)
#define N_WORKLOADS 20
#define N_ITEMS 60
#define N_TYPES 3
#define VARS_PER_TYPE 2
#define N_REF_ITEMS 6 /* 10 % of the runs also need the shared reference board */

static int g_verbose;
static int g_fixed_build_order;
static int g_dump_seed = -1;
static int g_seed_offset; /* -sN: hold-out workloads N.. (diagnostic) */
static int g_exact;       /* -x: the scheduler sees the true durations (diagnostic) */

/* ---- deterministic random numbers ------------------------------------------ */

static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *x)
{
    return (double)(rng_next(x) >> 11) / 9007199254740992.0;
}

/* log-uniform between lo and hi seconds, in whole milliseconds */
static int64_t rng_loguni_ns(uint64_t *x, double lo, double hi)
{
    double v = exp(log(lo) + rng_unit(x) * (log(hi) - log(lo)));
    return (int64_t)(v * 1000.0) * 1000000;
}

static int64_t rng_uni_ns(uint64_t *x, double lo, double hi)
{
    return (int64_t)((lo + rng_unit(x) * (hi - lo)) * 1000.0) * 1000000;
}

static void die(const char *what, hil_result rc)
{
    fprintf(stderr, "bench_sched: %s failed (%d)\n", what, (int)rc);
    exit(1);
}

/* ---- workload description (policy independent) ------------------------------------ */

typedef struct workload {
    int n_boards[N_TYPES];
    int flashed[N_TYPES][4];
    int64_t build_ns[N_TYPES * VARS_PER_TYPE];
    int build_prio[N_TYPES * VARS_PER_TYPE];
    int type[N_ITEMS], var[N_ITEMS], ref[N_ITEMS];
    int64_t true_ns[N_ITEMS], est_ns[N_ITEMS];
} workload;

static void gen_builds(workload *w, uint64_t *x)
{
    int i, n = N_TYPES * VARS_PER_TYPE;
    for (i = 0; i < n; i++) {
        w->build_ns[i] = rng_uni_ns(x, 20, 60);
        w->build_prio[i] = i;
    }
    /* The workload gives builds no priorities: each policy orders them by its
     * own tie-break.  With -p they get random distinct priorities instead,
     * which fixes one build order for every policy. */
    for (i = n - 1; i > 0; i--) { /* random distinct priorities: a fixed build order */
        int j = (int)(rng_next(x) % (uint64_t)(i + 1)), t = w->build_prio[i];
        w->build_prio[i] = w->build_prio[j];
        w->build_prio[j] = t;
    }
}

static void gen_items(workload *w, uint64_t *x)
{
    int i, placed = 0;
    for (i = 0; i < N_ITEMS; i++) {
        w->type[i] = (int)(rng_next(x) % N_TYPES);
        w->var[i] = (int)(rng_next(x) % VARS_PER_TYPE);
        w->ref[i] = 0;
        w->true_ns[i] = rng_loguni_ns(x, 2, 600);
        /* the scheduler only sees a history estimate, off by up to +-25 % */
        w->est_ns[i] = (int64_t)((double)w->true_ns[i] * (0.75 + 0.5 * rng_unit(x)));
        if (g_exact) w->est_ns[i] = w->true_ns[i];
    }
    while (placed < N_REF_ITEMS) {
        int k = (int)(rng_next(x) % N_ITEMS);
        if (!w->ref[k]) {
            w->ref[k] = 1;
            placed++;
        }
    }
}

static void gen_workload(workload *w, int seed)
{
    uint64_t x = 0x5eed0000u + (uint64_t)seed;
    int t, b;
    for (t = 0; t < N_TYPES; t++) {
        w->n_boards[t] = 2 + (int)(rng_next(&x) % 3);
        for (b = 0; b < w->n_boards[t]; b++) w->flashed[t][b] = (int)(rng_next(&x) % VARS_PER_TYPE);
    }
    gen_builds(w, &x);
    gen_items(w, &x);
}

/* ---- building a scheduler for one policy ------------------------------------------------- */

static void variant_name(char *buf, int type, int var)
{
    sprintf(buf, "T%d-v%d", type, var);
}

static void add_boards(hil_sched *s, const workload *w)
{
    hil_sched_resource_spec r;
    char name[32], vars[64], fl[32], type[16], v0[16], v1[16];
    int t, b;
    hil_result rc;
    for (t = 0; t < N_TYPES; t++) {
        for (b = 0; b < w->n_boards[t]; b++) {
            sprintf(name, "t%d-b%d", t, b);
            sprintf(type, "T%d", t);
            variant_name(v0, t, 0);
            variant_name(v1, t, 1);
            sprintf(vars, "%s,%s", v0, v1);
            variant_name(fl, t, w->flashed[t][b]);
            memset(&r, 0, sizeof(r));
            r.name = name;
            r.type = type;
            r.variants = vars;
            r.flashed = fl;
            if ((rc = hil_sched_add_resource(s, &r, NULL)) != HIL_OK) die("add_resource", rc);
        }
    }
    memset(&r, 0, sizeof(r));
    r.name = "ref";
    r.type = "REF";
    if ((rc = hil_sched_add_resource(s, &r, NULL)) != HIL_OK) die("add_resource", rc);
}

static void add_builds(hil_sched *s, const workload *w)
{
    hil_sched_build_spec b;
    char v[32];
    int i;
    hil_result rc;
    for (i = 0; i < N_TYPES * VARS_PER_TYPE; i++) {
        variant_name(v, i / VARS_PER_TYPE, i % VARS_PER_TYPE);
        memset(&b, 0, sizeof(b));
        b.variant = v;
        b.priority = g_fixed_build_order ? w->build_prio[i] : 0;
        b.expected_ns = w->build_ns[i];
        if ((rc = hil_sched_add_build(s, &b, NULL)) != HIL_OK) die("add_build", rc);
    }
}

/* static: pin each item round-robin to a board of its type, in item order */
static void add_items(hil_sched *s, const workload *w, int seed, int pinned)
{
    hil_sched_role roles[2];
    hil_sched_item_spec it;
    char name[32], type[16], var[32], pin[32];
    int i, next[N_TYPES] = {0};
    hil_result rc;
    for (i = 0; i < N_ITEMS; i++) {
        int t = w->type[i];
        sprintf(name, "w%02d-run%02d", seed, i);
        sprintf(type, "T%d", t);
        variant_name(var, t, w->var[i]);
        sprintf(pin, "t%d-b%d", t, next[t]++ % w->n_boards[t]);
        memset(roles, 0, sizeof(roles));
        roles[0].name = "dut";
        roles[0].type = type;
        roles[0].resource = pinned ? pin : NULL;
        roles[1].name = "ref";
        roles[1].type = "REF";
        roles[1].fixed_firmware = 1;
        memset(&it, 0, sizeof(it));
        it.name = name;
        it.variant = var;
        it.roles = roles;
        it.n_roles = w->ref[i] ? 2 : 1;
        it.timeout_ns = 3 * w->true_ns[i] + 60 * S_NS;
        it.expected_ns = w->est_ns[i];
        if ((rc = hil_sched_add_item(s, &it, NULL)) != HIL_OK) die("add_item", rc);
    }
}

enum { POL_OURS, POL_BARTENDER, POL_STATIC, POL_OURS_PLAIN, N_POL };

static hil_sched *make_sched(const workload *w, int seed, int pol)
{
    hil_sched_config cfg;
    hil_sched *s;
    hil_result rc;
    hil_sched_config_init(&cfg);
    cfg.policy = pol == POL_BARTENDER ? HIL_SCHED_POLICY_BARTENDER
                 : pol == POL_STATIC  ? HIL_SCHED_POLICY_FIFO
                                      : HIL_SCHED_POLICY_KEY;
    cfg.bottleneck_aware = pol == POL_OURS;
    if ((rc = hil_sched_create(&cfg, &s)) != HIL_OK) die("create", rc);
    add_boards(s, w);
    add_builds(s, w);
    add_items(s, w, seed, pol == POL_STATIC);
    return s;
}

/* ---- true durations for the simulation and the bound --------------------------------------- */

static void true_run(void *user, const hil_sched *s, const hil_sched_decision *d, hil_sched_sim_result *out)
{
    (void)s;
    out->duration_ns = ((const workload *)user)->true_ns[d->item];
}

static void true_build(void *user, const hil_sched *s, uint32_t b, int64_t *dur, int *ok)
{
    (void)s;
    *dur = ((const workload *)user)->build_ns[b];
    *ok = 1;
}

static int64_t true_item_ns(void *user, const hil_sched *s, uint32_t id)
{
    (void)s;
    return ((const workload *)user)->true_ns[id];
}

static int64_t true_build_ns(void *user, const hil_sched *s, uint32_t id)
{
    (void)s;
    return ((const workload *)user)->build_ns[id];
}

static void check_schedule(const hil_sched *s)
{
    hil_strbuf msg = {0, 0, 0, 0};
    if (hil_sched_check(s, &msg) != HIL_OK || hil_sched_unfinished(s) != 0) {
        fprintf(stderr, "bench_sched: invalid schedule: %s\n", msg.len ? msg.data : "unfinished items");
        exit(1);
    }
    hil_sb_free(&msg);
}

/* The bound belongs to the workload, so it is computed once on the unpinned
 * model (pinning, as the static policy does, would change the eligible sets). */
static void workload_bound(workload *w, int seed, hil_sched_bound *lb)
{
    hil_sched *s = make_sched(w, seed, POL_OURS);
    hil_result rc;
    if ((rc = hil_sched_lower_bound(s, true_item_ns, true_build_ns, w, lb)) != HIL_OK) die("lower_bound", rc);
    hil_sched_destroy(s);
}

/* makespan / lower bound of one policy on one workload */
static double run_policy(workload *w, int seed, int pol, const hil_sched_bound *lb)
{
    hil_sched *s = make_sched(w, seed, pol);
    hil_sched_sim_ops ops;
    hil_sched_stats st;
    hil_result rc;
    uint32_t i;
    memset(&ops, 0, sizeof(ops));
    ops.run = true_run;
    ops.build = true_build;
    ops.user = w;
    if ((rc = hil_sched_simulate(s, &ops, 0, NULL)) != HIL_OK) die("simulate", rc);
    check_schedule(s);
    hil_sched_stats_get(s, &st);
    if (g_verbose > 1 && seed == g_dump_seed) {
        hil_strbuf t = {0, 0, 0, 0};
        hil_sched_report_text(s, lb, 100, &t);
        fprintf(stderr, "policy %d:\n%s\n", pol, hil_sb_cstr(&t));
        for (i = 0; i < hil_sched_build_count(s); i++) {
            hil_sched_build_info bi;
            hil_sched_build_info_get(s, i, &bi);
            fprintf(stderr, "build %s %.1f-%.1f s\n", bi.variant, (double)bi.start_ns / 1e9, (double)bi.end_ns / 1e9);
        }
        hil_sb_free(&t);
    }
    hil_sched_destroy(s);
    return (double)st.makespan_ns / (double)lb->value_ns;
}

static void quality(double *mean)
{
    static const char *names[N_POL] = {"ours", "bartender", "static", "ours-no-bottleneck"};
    int seed, p;
    double sum[N_POL] = {0}, strong = 0;
    for (seed = 0; seed < N_WORKLOADS; seed++) {
        workload w;
        hil_sched_bound lb;
        double r[N_POL];
        gen_workload(&w, seed + g_seed_offset);
        workload_bound(&w, seed, &lb);
        for (p = 0; p < N_POL; p++) {
            r[p] = run_policy(&w, seed, p, &lb);
            sum[p] += r[p];
        }
        strong += r[POL_OURS] * (double)lb.value_ns / (double)lb.release_group_ns;
        if (g_verbose)
            fprintf(stderr, "w%02d LB %.1f s (group %.1f ref %.1f release %.1f longest %.1f) ours %.3f bartender %.3f "
                            "static %.3f plain %.3f strong-bound %.1f ours/strong %.3f\n",
                    seed, (double)lb.value_ns / 1e9, (double)lb.group_ns / 1e9, (double)lb.resource_ns / 1e9,
                    (double)lb.release_ns / 1e9, (double)lb.longest_ns / 1e9, r[0], r[1], r[2], r[3],
                    (double)lb.release_group_ns / 1e9, r[0] * (double)lb.value_ns / (double)lb.release_group_ns);
    }
    for (p = 0; p < N_POL; p++) mean[p] = sum[p] / N_WORKLOADS;
    if (g_verbose) {
        for (p = 0; p < N_POL; p++) fprintf(stderr, "mean %-20s %.4f\n", names[p], mean[p]);
        fprintf(stderr, "mean ours vs release-aware bound %.4f\n", strong / N_WORKLOADS);
    }
}

/* ---- decision cost: 10,000 work items on 100 resources ------------------------------------------ */

#define D_TYPES 8
#define D_BOARDS 12
#define D_REFS 4
#define D_VARS 3
#define D_ITEMS 10000

typedef struct big {
    int64_t true_ns[D_ITEMS];
    int64_t build_ns[D_TYPES * D_VARS];
} big;

static void big_resources(hil_sched *s)
{
    hil_sched_resource_spec r;
    char name[32], type[16], vars[64];
    int t, b;
    hil_result rc;
    for (t = 0; t < D_TYPES; t++) {
        for (b = 0; b < D_BOARDS; b++) {
            sprintf(name, "t%d-b%d", t, b);
            sprintf(type, "T%d", t);
            sprintf(vars, "T%d-v0,T%d-v1,T%d-v2", t, t, t);
            memset(&r, 0, sizeof(r));
            r.name = name;
            r.type = type;
            r.variants = vars;
            if ((rc = hil_sched_add_resource(s, &r, NULL)) != HIL_OK) die("add_resource", rc);
        }
    }
    for (b = 0; b < D_REFS; b++) {
        sprintf(name, "ref%d", b);
        memset(&r, 0, sizeof(r));
        r.name = name;
        r.type = "REF";
        if ((rc = hil_sched_add_resource(s, &r, NULL)) != HIL_OK) die("add_resource", rc);
    }
}

static void big_work(hil_sched *s, big *g, uint64_t *x)
{
    hil_sched_role roles[2];
    hil_sched_item_spec it;
    hil_sched_build_spec bs;
    char name[32], type[16], var[32];
    int i;
    hil_result rc;
    for (i = 0; i < D_TYPES * D_VARS; i++) {
        sprintf(var, "T%d-v%d", i / D_VARS, i % D_VARS);
        memset(&bs, 0, sizeof(bs));
        bs.variant = var;
        bs.expected_ns = g->build_ns[i] = rng_uni_ns(x, 20, 60);
        if ((rc = hil_sched_add_build(s, &bs, NULL)) != HIL_OK) die("add_build", rc);
    }
    for (i = 0; i < D_ITEMS; i++) {
        int t = (int)(rng_next(x) % D_TYPES);
        sprintf(name, "big-run%05d", i);
        sprintf(type, "T%d", t);
        sprintf(var, "T%d-v%d", t, (int)(rng_next(x) % D_VARS));
        memset(roles, 0, sizeof(roles));
        roles[0].name = "dut";
        roles[0].type = type;
        roles[1].name = "ref";
        roles[1].type = "REF";
        roles[1].fixed_firmware = 1;
        memset(&it, 0, sizeof(it));
        it.name = name;
        it.variant = var;
        it.roles = roles;
        it.n_roles = rng_next(x) % 10 == 0 ? 2 : 1;
        g->true_ns[i] = rng_loguni_ns(x, 2, 600);
        it.expected_ns = (int64_t)((double)g->true_ns[i] * (0.75 + 0.5 * rng_unit(x)));
        if ((rc = hil_sched_add_item(s, &it, NULL)) != HIL_OK) die("add_item", rc);
    }
}

static void big_run(void *user, const hil_sched *s, const hil_sched_decision *d, hil_sched_sim_result *out)
{
    (void)s;
    out->duration_ns = ((const big *)user)->true_ns[d->item];
}

static void big_build(void *user, const hil_sched *s, uint32_t b, int64_t *dur, int *ok)
{
    (void)s;
    *dur = ((const big *)user)->build_ns[b];
    *ok = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time of the whole simulated run (decisions, bookkeeping, event queue)
 * divided by the runs started. */
static double decision_us_once(big *g)
{
    hil_sched_config cfg;
    hil_sched *s;
    hil_sched_sim_ops ops;
    uint64_t x = 0xdec1de;
    double t0, t1, us;
    hil_result rc;
    hil_sched_config_init(&cfg);
    if ((rc = hil_sched_create(&cfg, &s)) != HIL_OK) die("create", rc);
    big_resources(s);
    big_work(s, g, &x);
    memset(&ops, 0, sizeof(ops));
    ops.run = big_run;
    ops.build = big_build;
    ops.user = g;
    t0 = now_s();
    if ((rc = hil_sched_simulate(s, &ops, 0, NULL)) != HIL_OK) die("simulate", rc);
    t1 = now_s();
    us = (t1 - t0) * 1e6 / (double)hil_sched_run_count(s);
    if (hil_sched_run_count(s) != D_ITEMS) die("decision bench: not all runs started", HIL_ERR_STATE);
    if (g_verbose) {
        hil_sched_stats st;
        check_schedule(s);
        hil_sched_stats_get(s, &st);
        fprintf(stderr, "decision bench: %u runs, simulated makespan %.0f s, %.2f us per run\n",
                hil_sched_run_count(s), (double)st.makespan_ns / 1e9, us);
    }
    hil_sched_destroy(s);
    return us;
}

static double decision_us(void)
{
    big *g = (big *)malloc(sizeof(big));
    double v[3], t;
    int i, j;
    if (!g) die("malloc", HIL_ERR_NO_MEMORY);
    for (i = 0; i < 3; i++) v[i] = decision_us_once(g);
    for (i = 0; i < 3; i++) /* median of three */
        for (j = i + 1; j < 3; j++)
            if (v[j] < v[i]) {
                t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
    free(g);
    return v[1];
}

int main(int argc, char **argv)
{
    double mean[N_POL];
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) g_verbose++;
        if (strcmp(argv[i], "-vv") == 0) g_verbose += 2;
        if (strcmp(argv[i], "-p") == 0) g_fixed_build_order = 1;
        if (strncmp(argv[i], "-d", 2) == 0) g_dump_seed = atoi(argv[i] + 2); /* -dN: dump workload N */
        if (strncmp(argv[i], "-s", 2) == 0) g_seed_offset = atoi(argv[i] + 2);
        if (strcmp(argv[i], "-x") == 0) g_exact = 1;
    }
    quality(mean);
    printf("BENCH sched_ratio_ours %.3f x\n", mean[POL_OURS]);
    printf("BENCH sched_ratio_bartender %.3f x\n", mean[POL_BARTENDER]);
    printf("BENCH sched_ratio_static %.3f x\n", mean[POL_STATIC]);
    printf("BENCH sched_decision %.2f us\n", decision_us());
    return 0;
}
