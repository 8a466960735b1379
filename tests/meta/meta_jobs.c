/* A test program with jobs, run by the self-tests (tests/test_runner_jobs.c)
 * through `meta_jobs job NAME ...`: tasks that pass, crash, hang, share
 * state, run external commands and get interrupted. What the jobs see is
 * printed as "job: ..." lines for the self-tests to check. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- tests the tasks select ------------------------------------------------------ */

HIL_TEST_META(ok, one, "tags=fast") { HIL_ASSERT_EQ(1 + 1, 2); }
HIL_TEST_META(ok, two, "tags=fast") {
    printf("output of ok.two\n");
    HIL_INFO("meta.jobs", "a log record from ok.two");
}
/* With params expect and value: they must be equal (task parameters). */
HIL_TEST_META(ok, param, "tags=param") {
    const char* expect = hil_param("expect", NULL);
    if (expect) HIL_ASSERT_STREQ(hil_param("value", "(none)"), expect);
    printf("task %s sees value=%s\n", hil_task_current_id() ? hil_task_current_id() : "-", hil_param("value", "-"));
}

HIL_TEST(crash, segv) {
    volatile uintptr_t addr = 8; /* not NULL: UBSan lets the fault happen */
    printf("about to crash\n");
    *(volatile int*)addr = 1;
}
HIL_TEST(crash, after) { HIL_ASSERT(1); }

/* With isolation NONE this takes the task process down with it. */
HIL_TEST(inproc, crash) { raise(SIGSEGV); }

HIL_TEST(hang, first) { HIL_ASSERT(1); }
HIL_TEST_META(hang, forever, "timeout=600") {
    printf("hanging now\n");
    fflush(stdout);
    for (;;) pause();
}
HIL_TEST(hang, never_reached) { HIL_ASSERT(1); }

HIL_TEST(shared, count) {
    hil_shared* s = hil_job_shared();
    long long n = hil_param_int("n", 100), i;
    char key[64], greeting[64];
    HIL_ASSERT(s != NULL, "no shared state in a task");
    HIL_ASSERT_OK(hil_shared_get_str(s, "greeting", greeting, sizeof greeting));
    HIL_ASSERT_STREQ(greeting, "hello tasks");
    for (i = 0; i < n; i++) HIL_ASSERT_OK(hil_shared_add_int(s, "counter", 1, NULL));
    snprintf(key, sizeof key, "from.%s", hil_task_current_id());
    HIL_ASSERT_OK(hil_shared_set_str(s, key, hil_task_current_id()));
}

/* Dies while holding the shared state's lock. */
HIL_TEST(shared, die_locked) {
    hil_shared* s = hil_job_shared();
    HIL_ASSERT(s != NULL);
    HIL_ASSERT_OK(hil_shared_lock(s));
    HIL_ASSERT_OK(hil_shared_set_int(s, "locked_by_dead", 1));
    raise(SIGKILL);
}

/* Tells the self-test it runs (a byte on params.started_fd), then waits. */
HIL_TEST_META(slow, wait, "timeout=600") {
    int fd = (int)hil_param_int("started_fd", -1);
    long ms = (long)hil_param_int("slow_ms", 60000);
    struct timespec ts;
    if (fd >= 0) (void)!write(fd, "x", 1);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* A gate: says it runs (a byte on params.started_fd), then blocks until the
 * self-test releases it (params.release_fd reaches end of file): while the
 * self-test holds the gate, every task that reported is running. */
HIL_TEST_META(sync, gate, "timeout=600") {
    int fd = (int)hil_param_int("started_fd", -1);
    int rel = (int)hil_param_int("release_fd", -1);
    char c;
    HIL_ASSERT(fd >= 0 && rel >= 0, "run with params.started_fd and params.release_fd");
    (void)!write(fd, "x", 1);
    while (read(rel, &c, 1) > 0) {
    }
}

/* One-test tasks run their test in the task process (docs/jobs.md,
 * Performance): the job "solo" runs each of these as a task of its own, the
 * self-test once so and once with job.fork_single_test, and compares. */
static void solo_where(void) {
    hil_shared* s = hil_job_shared();
    char key[80];
    snprintf(key, sizeof key, "pid.%s", hil_task_current_id() ? hil_task_current_id() : "-");
    if (s) (void)hil_shared_set_int(s, key, (long long)getpid());
}
HIL_TEST(solo, pass) {
    solo_where();
    printf("printed first\n");
    HIL_INFO("meta.solo", "logged second");
    fprintf(stderr, "to stderr third\n");
    printf("printed fourth\n");
}
HIL_TEST(solo, fail) {
    solo_where();
    printf("before the failure\n");
    HIL_EXPECT(1 + 1 == 3, "arithmetic is %s", "hard");
    HIL_FAIL("and a second failure");
}
HIL_TEST(solo, skip) {
    solo_where();
    HIL_SKIP("no board today");
}
HIL_TEST(solo, segv) {
    volatile uintptr_t addr = 8;
    solo_where();
    printf("about to crash\n");
    HIL_INFO("meta.solo", "a record before the crash");
    *(volatile int*)addr = 1;
}
HIL_TEST(solo, abort) {
    solo_where();
    printf("about to abort\n");
    abort();
}
HIL_TEST(solo, exit) {
    solo_where();
    printf("about to exit\n");
    exit(3);
}
HIL_TEST_META(solo, timeout, "timeout=0.3") {
    solo_where();
    printf("waiting for the timeout\n");
    for (;;) pause();
}
HIL_TEST_META(solo, hang, "timeout=600") {
    solo_where();
    printf("hanging until max_runtime\n");
    HIL_EXPECT(0, "a check fails before the stop");
    for (;;) pause();
}
/* more than the task's run.max_output (1000 bytes), then a crash */
HIL_TEST(solo, chatty) {
    int i;
    solo_where();
    for (i = 0; i < 2000; i++) printf("line %04d of a test that prints far too much ..............................\n", i);
    if (hil_param("crash", NULL)) abort();
}
/* a failed check, then the process dies: the check stays in the result */
HIL_TEST(solo, fail_segv) {
    volatile uintptr_t addr = 8;
    solo_where();
    printf("a check fails, then a crash\n");
    HIL_EXPECT(2 + 2 == 5, "arithmetic is %s", "still hard");
    HIL_EXPECT(0, "a second one");
    hil_test_warn("and a warning");
    *(volatile int*)addr = 1;
}
HIL_TEST_META(solo, fail_timeout, "timeout=0.3") {
    solo_where();
    printf("a check fails, then the timeout\n");
    HIL_EXPECT(1 > 2, "one is not more than two");
    for (;;) pause();
}
/* a suite with fixtures keeps the worker (a crash in setup Blocks the suite) */
HIL_SUITE_SETUP(solofix) { printf("setup ran\n"); }
HIL_SUITE_TEARDOWN(solofix) { printf("teardown ran\n"); }
HIL_TEST(solofix, one) {
    solo_where();
    printf("the fixture's test\n");
}

/* ---- helpers --------------------------------------------------------------------- */

static const char* const fast[] = {"ok.one", "ok.two", NULL};

static void opts_tests(hil_task_options* o, const char* const* filters) {
    hil_task_options_init(o);
    o->filters = filters;
}

/* Assertions are for tests; a job reports its own errors. */
#define CHECK(x) \
    do { hil_result r_ = (x); if (r_ != HIL_OK) hil_job_error(rt, "%s: %s", #x, hil_last_error()); } while (0)
#define CHECK_TRUE(x) \
    do { if (!(x)) hil_job_error(rt, "%s is false", #x); } while (0)

/* build/meta, where this program and its siblings are */
static const char* meta_dir(void) {
    static char dir[4096];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    char* slash;
    if (n <= 0) return ".";
    dir[n] = 0;
    slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    return dir;
}

/* ---- jobs ----------------------------------------------------------------------- */

HIL_JOB(pass) {
    hil_task_options o;
    opts_tests(&o, fast);
    printf("job: first=%s\n", hil_outcome_str(hil_run(rt, &o)));
}

/* Sequential: the second task runs only when the first passed. */
HIL_JOB(seq) {
    static const char* const params[] = {"value=42", "expect=42", NULL};
    static const char* const ptest[] = {"ok.param", NULL};
    hil_task_options o;
    hil_outcome first, second = HIL_NOT_RUN;
    opts_tests(&o, fast);
    o.taskid = "first";
    first = hil_run(rt, &o);
    if (first == HIL_PASSED) {
        opts_tests(&o, ptest);
        o.params = params;
        o.taskid = "second/part";
        second = hil_run(rt, &o);
    }
    printf("job: first=%s second=%s tasks=%zu id=%s\n", hil_outcome_str(first), hil_outcome_str(second),
           hil_job_task_count(rt), hil_task_id(hil_job_task(rt, 1)));
}

/* Four tasks at once, collected as they finish. */
HIL_JOB(parallel) {
    hil_task_options o;
    hil_task* t[4];
    hil_task* left[4];
    size_t n = 4, i, idx, alive = 0;
    for (i = 0; i < 4; i++) {
        opts_tests(&o, fast);
        CHECK(hil_task_create(rt, &o, &t[i]));
        left[i] = t[i];
    }
    for (i = 0; i < 4; i++) CHECK(hil_task_start(t[i]));
    for (i = 0; i < 4; i++) alive += hil_task_pid(t[i]) > 0;
    while (n > 0) {
        CHECK(hil_task_wait_any(left, n, 30000, &idx));
        left[idx] = left[--n];
    }
    for (i = 0; i < 4; i++)
        printf("job: %s=%s alive=%d\n", hil_task_id(t[i]), hil_outcome_str(hil_task_result(t[i])),
               hil_task_is_alive(t[i]));
    printf("job: started=%zu\n", alive);
}

/* A test that crashes in the task's worker, and one that takes the whole
 * task process down (isolation none). */
HIL_JOB(crash) {
    static const char* const c1[] = {"crash", NULL};
    static const char* const c2[] = {"ok.one", "inproc.crash", NULL};
    hil_task_options o;
    hil_outcome a, b;
    opts_tests(&o, c1);
    o.taskid = "worker_crash";
    a = hil_run(rt, &o);
    opts_tests(&o, c2);
    o.taskid = "process_crash";
    o.isolation = HIL_ISOLATE_NONE;
    b = hil_run(rt, &o);
    printf("job: worker_crash=%s process_crash=%s\n", hil_outcome_str(a), hil_outcome_str(b));
}

/* max_runtime from the options, and from hil_task_wait. */
HIL_JOB(hang) {
    static const char* const h[] = {"hang", NULL};
    hil_task_options o;
    hil_task* t;
    hil_result r;
    double max = atof(hil_job_arg(rt, "--max", "0.5"));
    opts_tests(&o, h);
    o.taskid = "by_option";
    o.max_runtime_s = max;
    printf("job: by_option=%s\n", hil_outcome_str(hil_run(rt, &o)));
    opts_tests(&o, h);
    o.taskid = "by_wait";
    CHECK(hil_task_create(rt, &o, &t));
    CHECK(hil_task_start(t));
    CHECK_TRUE(hil_task_join(t, 50) == HIL_ERR_TIMEOUT);
    CHECK_TRUE(hil_task_is_alive(t));
    r = hil_task_wait(t, max);
    printf("job: by_wait=%s wait=%s reason=%s\n", hil_outcome_str(hil_task_result(t)), hil_result_str(r),
           hil_task_reason(t));
}

/* External commands: exit status, output, JUnit files. */
HIL_JOB(commands) {
    char basic[4200], writer[4200], jbasic[4200], jflag[4300], jwriter[4200];
    hil_task_options o;
    const char* ok_argv[] = {"sh", "-c", "echo hello from sh; echo \"dir=$HIL_RUN_DIR task=$HIL_TASK_ID\"", NULL};
    const char* fail_argv[] = {"sh", "-c", "echo failing; exit 3", NULL};
    const char* missing_argv[] = {"no-such-program-hil", NULL};
    const char* nojunit_argv[] = {"true", NULL};
    const char* basic_argv[4];
    const char* writer_argv[4];
    snprintf(basic, sizeof basic, "%s/meta_basic", meta_dir());
    snprintf(writer, sizeof writer, "%s/meta_junit_writer", meta_dir());
    snprintf(jbasic, sizeof jbasic, "%s/basic.xml", rt->directory);
    snprintf(jflag, sizeof jflag, "--junit=%s", jbasic);
    snprintf(jwriter, sizeof jwriter, "%s/writer.xml", rt->directory);
    hil_task_options_init(&o);
    o.argv = ok_argv;
    o.taskid = "sh_ok";
    printf("job: sh_ok=%s\n", hil_outcome_str(hil_run(rt, &o)));
    hil_task_options_init(&o);
    o.argv = fail_argv;
    o.taskid = "sh_fail";
    printf("job: sh_fail=%s\n", hil_outcome_str(hil_run(rt, &o)));
    hil_task_options_init(&o);
    o.argv = missing_argv;
    o.taskid = "missing";
    printf("job: missing=%s\n", hil_outcome_str(hil_run(rt, &o)));
    hil_task_options_init(&o);
    o.argv = nojunit_argv;
    o.junit = "never-written.xml";
    o.cwd = rt->directory;
    o.taskid = "no_junit";
    printf("job: no_junit=%s\n", hil_outcome_str(hil_run(rt, &o)));
    basic_argv[0] = basic;
    basic_argv[1] = "--color=never";
    basic_argv[2] = jflag;
    basic_argv[3] = NULL;
    hil_task_options_init(&o);
    o.argv = basic_argv;
    o.junit = jbasic;
    o.taskid = "hil_program";
    printf("job: hil_program=%s\n", hil_outcome_str(hil_run(rt, &o)));
    writer_argv[0] = writer;
    writer_argv[1] = "writer.xml";
    writer_argv[2] = "1";
    writer_argv[3] = NULL;
    hil_task_options_init(&o);
    o.argv = writer_argv;
    o.cwd = rt->directory;
    o.junit = "writer.xml";
    o.taskid = "junit_writer";
    printf("job: junit_writer=%s\n", hil_outcome_str(hil_run(rt, &o)));
    (void)jwriter;
}

/* Four tasks count in the shared state; then one dies holding its lock. */
HIL_JOB(shared) {
    static const char* const sc[] = {"shared.count", NULL};
    static const char* const dl[] = {"shared.die_locked", NULL};
    static const char* const params[] = {"n=250", NULL};
    hil_task_options o;
    hil_task* t[4];
    long long counter = -1, locked = -1;
    char from[64];
    size_t i;
    CHECK(hil_shared_set_str(rt->shared, "greeting", "hello tasks"));
    for (i = 0; i < 4; i++) {
        opts_tests(&o, sc);
        o.params = params;
        CHECK(hil_task_create(rt, &o, &t[i]));
    }
    for (i = 0; i < 4; i++) CHECK(hil_task_start(t[i]));
    for (i = 0; i < 4; i++) CHECK(hil_task_wait(t[i], 60));
    hil_shared_get_int(rt->shared, "counter", &counter);
    printf("job: counter=%lld\n", counter);
    for (i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "from.%s", hil_task_id(t[i]));
        if (hil_shared_get_str(rt->shared, key, from, sizeof from) == HIL_OK) printf("job: %s=%s\n", key, from);
    }
    opts_tests(&o, dl);
    o.taskid = "dies_locked";
    printf("job: dies_locked=%s\n", hil_outcome_str(hil_run(rt, &o)));
    /* the lock of the dead holder is recovered, and what it committed is kept */
    if (hil_shared_get_int(rt->shared, "locked_by_dead", &locked) == HIL_OK &&
        hil_shared_add_int(rt->shared, "counter", 1, &counter) == HIL_OK)
        printf("job: after the dead holder: locked_by_dead=%lld counter=%lld\n", locked, counter);
}

/* Two slow tasks in parallel (the self-test interrupts the job). */
HIL_JOB(interrupt) {
    static const char* const sw[] = {"slow.wait", NULL};
    hil_task_options o;
    hil_task* t[2];
    size_t i;
    hil_outcome late;
    for (i = 0; i < 2; i++) {
        opts_tests(&o, sw);
        CHECK(hil_task_create(rt, &o, &t[i]));
        CHECK(hil_task_start(t[i]));
    }
    for (i = 0; i < 2; i++) hil_task_wait(t[i], 0);
    /* after Ctrl-C, new tasks are refused */
    opts_tests(&o, fast);
    o.taskid = "late";
    late = hil_run(rt, &o);
    printf("job: interrupted=%d late=%s\n", hil_job_interrupted(rt), hil_outcome_str(late));
}

/* Returns while a task still runs: the task is stopped and Errored. */
HIL_JOB(leftover) {
    static const char* const sw[] = {"slow.wait", NULL};
    hil_task_options o;
    hil_task* t;
    hil_task* never;
    opts_tests(&o, sw);
    o.taskid = "left_running";
    CHECK(hil_task_create(rt, &o, &t));
    CHECK(hil_task_start(t));
    opts_tests(&o, fast);
    o.taskid = "never_started";
    CHECK(hil_task_create(rt, &o, &never));
    printf("job: returning with %s running\n", hil_task_id(t));
}

/* Arguments the runner does not know reach the job. */
HIL_JOB(args) {
    static const char* const ptest[] = {"ok.param", NULL};
    const char* count = hil_job_arg(rt, "--count", "1");
    int dry = hil_job_flag(rt, "--dry-run");
    char value[64], expect[64];
    const char* params[3];
    hil_task_options o;
    int i;
    printf("job: count=%s dry_run=%d rest=", count, dry);
    for (i = 0; i < rt->argc; i++) printf("%s%s", i ? "," : "", rt->argv[i]);
    printf("\n");
    snprintf(value, sizeof value, "value=%s", count);
    snprintf(expect, sizeof expect, "expect=%s", count);
    params[0] = value;
    params[1] = expect;
    params[2] = NULL;
    opts_tests(&o, ptest);
    o.params = params;
    printf("job: param task=%s\n", hil_outcome_str(hil_run(rt, &o)));
}

HIL_JOB(empty) {
    static const char* const none[] = {"no.such.test", NULL};
    hil_task_options o;
    opts_tests(&o, none);
    printf("job: empty=%s\n", hil_outcome_str(hil_run(rt, &o)));
}

HIL_JOB(renamed) {
    hil_task_options o;
    hil_job_set_name(rt, "my-report-name");
    opts_tests(&o, fast);
    hil_run(rt, &o);
    printf("job: name=%s\n", rt->name);
}

HIL_JOB(job_error) {
    hil_job_error(rt, "the lab is not reachable (%s)", "ping failed");
}

HIL_JOB(terminate) {
    static const char* const sw[] = {"slow.wait", NULL};
    hil_task_options o;
    hil_task* t;
    opts_tests(&o, sw);
    CHECK(hil_task_create(rt, &o, &t));
    CHECK(hil_task_start(t));
    CHECK(hil_task_terminate(t));
    CHECK(hil_task_join(t, 30000));
    printf("job: terminated=%s reason=%s\n", hil_outcome_str(hil_task_result(t)), hil_task_reason(t));
}

/* N tasks that must all run at the same time to get through the gate. */
HIL_JOB(gate) {
    static const char* const g[] = {"sync.gate", NULL};
    int n = atoi(hil_job_arg(rt, "--tasks", "3")), i;
    hil_task_options o;
    hil_task* t[16];
    if (n < 1 || n > 16) n = 3;
    for (i = 0; i < n; i++) {
        opts_tests(&o, g);
        CHECK(hil_task_create(rt, &o, &t[i]));
        CHECK(hil_task_start(t[i]));
    }
    for (i = 0; i < n; i++) CHECK(hil_task_wait(t[i], 60));
    for (i = 0; i < n; i++) printf("job: %s=%s\n", hil_task_id(t[i]), hil_outcome_str(hil_task_result(t[i])));
}

/* A command that ignores SIGTERM (only a second Ctrl-C or SIGKILL ends it). */
HIL_JOB(stubborn) {
    char script[256];
    const char* argv[4];
    hil_task_options o;
    snprintf(script, sizeof script, "trap '' TERM; echo x >/dev/fd/%d; exec sleep 120", (int)hil_param_int("started_fd", 2));
    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = script;
    argv[3] = NULL;
    hil_task_options_init(&o);
    o.argv = argv;
    printf("job: stubborn=%s\n", hil_outcome_str(hil_run(rt, &o)));
}

/* Each solo test as a task of its own, then two tests in one task; with
 * --stop also a task stopped at max_runtime. "in_task" says whether the
 * test ran in the task process itself. */
HIL_JOB(solo) {
    static const char* const names[] = {"solo.pass", "solo.fail", "solo.skip", "solo.segv", "solo.abort",
                                        "solo.exit", "solo.timeout", "solofix.one", "solo.hang", "solo.chatty",
                                        "solo.chatty", "solo.fail_segv", "solo.fail_timeout", NULL};
    static const char* const small_output[] = {"run.max_output=1000", NULL};
    static const char* const crash[] = {"crash=1", NULL};
    static const char* const two[] = {"solo.pass", "solo.fail", NULL};
    int stop = hil_job_flag(rt, "--stop"), i;
    for (i = 0; names[i]; i++) {
        const char* filters[2];
        hil_task_options o;
        hil_task* t;
        char key[80];
        long long pid = 0;
        if (!strcmp(names[i], "solo.hang") && !stop) continue;
        filters[0] = names[i];
        filters[1] = NULL;
        hil_task_options_init(&o);
        o.filters = filters;
        o.taskid = strchr(names[i], '.') + 1;
        if (!strcmp(names[i], "solo.hang")) o.max_runtime_s = 0.3;
        if (!strcmp(names[i], "solo.chatty")) {
            o.config = small_output;
            if (!strcmp(names[i - 1], "solo.chatty")) { /* the second one crashes at the end */
                o.params = crash;
                o.taskid = "chatty_crash";
            }
        }
        if (hil_task_create(rt, &o, &t) != HIL_OK || hil_task_start(t) != HIL_OK) {
            hil_job_error(rt, "%s", hil_last_error());
            return;
        }
        hil_task_join(t, -1);
        snprintf(key, sizeof key, "pid.%s", o.taskid);
        (void)hil_shared_get_int(rt->shared, key, &pid);
        printf("job: %s=%s in_task=%d\n", o.taskid, hil_outcome_str(hil_task_result(t)),
               pid == (long long)hil_task_pid(t));
    }
    {
        hil_task_options o;
        hil_task_options_init(&o);
        o.filters = two;
        o.taskid = "two";
        printf("job: two=%s\n", hil_outcome_str(hil_run(rt, &o)));
    }
}

HIL_MAIN()
