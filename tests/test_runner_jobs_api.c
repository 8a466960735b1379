/* Jobs and tasks from C, in this process: the shared state (with forked
 * writers that die at any point), the JUnit reader, hil_job_exec with
 * command tasks and test tasks of this program, the task API, bus events
 * and the errors for wrong use. */
#include "selftest.h"
#include <sys/wait.h>

HIL_SUITE(jobs_api, "tags=jobs")

/* ---- shared state -------------------------------------------------------------- */

HIL_TEST(jobs_api, shared_state_types_limits_and_errors) {
    hil_shared* s;
    long long v = 0;
    char buf[64], big[5000];
    size_t len = 0;
    unsigned char blob[3] = {1, 0, 2}, got[8];
    int i;
    HIL_ASSERT_OK(hil_shared_create(4096, &s));
    HIL_EXPECT_EQ(hil_shared_capacity(s), 4096);
    HIL_ASSERT_OK(hil_shared_set_int(s, "n", -5));
    HIL_ASSERT_OK(hil_shared_add_int(s, "n", 7, &v));
    HIL_EXPECT_EQ(v, 2);
    HIL_ASSERT_OK(hil_shared_add_int(s, "fresh", 3, &v));
    HIL_EXPECT_EQ(v, 3, "a missing key counts as 0");
    HIL_ASSERT_OK(hil_shared_set_str(s, "board", "rev_b"));
    HIL_ASSERT_OK(hil_shared_get_str(s, "board", buf, sizeof buf));
    HIL_EXPECT_STREQ(buf, "rev_b");
    HIL_ASSERT_OK(hil_shared_set_blob(s, "raw", blob, sizeof blob));
    HIL_ASSERT_OK(hil_shared_get_blob(s, "raw", NULL, 0, &len));
    HIL_EXPECT_EQ(len, 3);
    HIL_ASSERT_OK(hil_shared_get_blob(s, "raw", got, sizeof got, &len));
    HIL_EXPECT_MEMEQ(got, blob, 3);
    /* errors say what is wrong */
    HIL_EXPECT_EQ(hil_shared_get_int(s, "board", &v), HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "key 'board' holds a string, not an integer"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_shared_get_str(s, "nope", buf, sizeof buf), HIL_ERR_NOT_FOUND);
    HIL_EXPECT_EQ(hil_shared_get_str(s, "board", buf, 3), HIL_ERR_OVERFLOW);
    HIL_EXPECT(strstr(hil_last_error(), "room for 3"), "%s", hil_last_error());
    memset(big, 'k', 300);
    big[300] = 0;
    HIL_EXPECT_EQ(hil_shared_set_int(s, big, 1), HIL_ERR_INVALID_ARG, "keys are at most 255 bytes");
    memset(big, 'x', sizeof big);
    HIL_EXPECT_EQ(hil_shared_set_blob(s, "huge", big, sizeof big), HIL_ERR_OVERFLOW);
    HIL_EXPECT(strstr(hil_last_error(), "more than the whole store (4096 bytes): raise job.shared_size"), "%s",
               hil_last_error());
    /* many updates of the same keys fit: old values are dropped */
    for (i = 0; i < 2000; i++) HIL_ASSERT_OK(hil_shared_set_blob(s, "raw", big, 100 + (size_t)(i % 50)), "update %d", i);
    HIL_EXPECT(hil_shared_used(s) < 1024, "used %zu", hil_shared_used(s));
    HIL_ASSERT_OK(hil_shared_get_int(s, "n", &v));
    HIL_EXPECT_EQ(v, 2, "other keys survive compaction");
    /* live data beyond the capacity is refused, and the store stays usable */
    for (i = 0; i < 100; i++) {
        char key[32];
        hil_result r;
        snprintf(key, sizeof key, "fill%d", i);
        r = hil_shared_set_blob(s, key, big, 200);
        if (r != HIL_OK) {
            HIL_EXPECT_EQ(r, HIL_ERR_OVERFLOW);
            HIL_EXPECT(strstr(hil_last_error(), "no room for key 'fill"), "%s", hil_last_error());
            break;
        }
    }
    HIL_EXPECT(i < 100, "4096 bytes cannot hold 100 x 200");
    HIL_ASSERT_OK(hil_shared_delete(s, "fill0"));
    HIL_EXPECT_EQ(hil_shared_delete(s, "fill0"), HIL_ERR_NOT_FOUND);
    HIL_ASSERT_OK(hil_shared_set_blob(s, "after", big, 100), "room again after a delete");
    HIL_ASSERT_OK(hil_shared_get_str(s, "board", buf, sizeof buf));
    HIL_EXPECT_STREQ(buf, "rev_b");
    hil_shared_destroy(s);
}

HIL_TEST(jobs_api, forked_processes_share_the_store) {
    hil_shared* s;
    int pids[4], i, st;
    long long v = 0;
    HIL_ASSERT_OK(hil_shared_create(65536, &s));
    for (i = 0; i < 4; i++) {
        pids[i] = fork();
        HIL_ASSERT(pids[i] >= 0);
        if (pids[i] == 0) {
            int k;
            for (k = 0; k < 500; k++)
                if (hil_shared_add_int(s, "count", 1, NULL) != HIL_OK) _exit(1);
            _exit(0);
        }
    }
    for (i = 0; i < 4; i++) {
        HIL_ASSERT_EQ(waitpid(pids[i], &st, 0), pids[i]);
        HIL_EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    HIL_ASSERT_OK(hil_shared_get_int(s, "count", &v));
    HIL_EXPECT_EQ(v, 2000);
    hil_shared_destroy(s);
}

HIL_TEST(jobs_api, a_process_dying_with_the_lock_does_not_wedge_the_store) {
    hil_shared* s;
    int pid, st, p[2];
    long long v = 0;
    char c;
    HIL_ASSERT_OK(hil_shared_create(4096, &s));
    HIL_ASSERT_EQ(pipe(p), 0);
    pid = fork();
    HIL_ASSERT(pid >= 0);
    if (pid == 0) {
        if (hil_shared_lock(s) != HIL_OK) _exit(1);
        hil_shared_set_int(s, "by_child", 1);
        (void)!write(p[1], "x", 1);
        raise(SIGKILL); /* dies holding the lock */
        _exit(2);
    }
    close(p[1]);
    HIL_ASSERT_EQ(read(p[0], &c, 1), 1);
    close(p[0]);
    HIL_ASSERT_EQ(waitpid(pid, &st, 0), pid);
    HIL_EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    HIL_ASSERT_OK(hil_shared_add_int(s, "by_parent", 1, &v), "the robust lock is recovered");
    HIL_ASSERT_OK(hil_shared_get_int(s, "by_child", &v));
    HIL_EXPECT_EQ(v, 1, "what the dead holder committed is kept");
    hil_shared_destroy(s);
}

/* A blob that says whether it is whole: its length in the first 4 bytes,
 * then that length's low byte everywhere else. */
static int blob_whole(const unsigned char* b, size_t len) {
    uint32_t n;
    size_t i;
    if (len < 8) return 0;
    memcpy(&n, b, 4);
    if (n != len) return 0;
    for (i = 4; i < len; i++)
        if (b[i] != (unsigned char)(len & 0xff)) return 0;
    return 1;
}

HIL_TEST(jobs_api, values_are_never_torn_when_a_writer_is_killed_at_any_point) {
    /* a writer replaces values of many sizes in a small store (so it also
     * compacts) and is killed while it writes; every value read afterwards
     * must be a whole one */
    int round;
    for (round = 0; round < 12; round++) {
        hil_shared* s;
        int pid, p[2], k;
        char c[64];
        HIL_ASSERT_OK(hil_shared_create(8192, &s));
        HIL_ASSERT_EQ(pipe(p), 0);
        pid = fork();
        HIL_ASSERT(pid >= 0);
        if (pid == 0) {
            unsigned char b[1500];
            unsigned long it;
            close(p[0]);
            for (it = 0;; it++) {
                char key[32];
                uint32_t len = (uint32_t)(8 + (it * 97) % 1400);
                memset(b, (int)(len & 0xff), len);
                memcpy(b, &len, 4);
                snprintf(key, sizeof key, "k%lu", it % 5);
                hil_shared_set_blob(s, key, b, len);
                if (it % 64 == 0) (void)!write(p[1], "x", 1); /* progress */
            }
        }
        close(p[1]);
        /* let it get going (it has written some values), then kill it mid-stream */
        HIL_ASSERT(read(p[0], c, sizeof c) > 0);
        HIL_ASSERT(read(p[0], c, sizeof c) > 0);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(p[0]);
        for (k = 0; k < 5; k++) {
            unsigned char b[1500];
            char key[16];
            size_t len = 0;
            hil_result r;
            snprintf(key, sizeof key, "k%d", k);
            r = hil_shared_get_blob(s, key, b, sizeof b, &len);
            if (r == HIL_ERR_NOT_FOUND) continue;
            HIL_ASSERT_OK(r, "round %d key %s", round, key);
            HIL_EXPECT(blob_whole(b, len), "round %d: key %s holds a torn value (%zu bytes)", round, key, len);
        }
        HIL_ASSERT_OK(hil_shared_set_int(s, "still", 1), "usable after the kill");
        hil_shared_destroy(s);
    }
}

/* ---- JUnit import ------------------------------------------------------------- */

HIL_TEST(jobs_api, junit_files_are_read_back) {
    const char* path = st_path("in.xml");
    const char* text =
        "<?xml version=\"1.0\"?>\n<testsuite name=\"ctest\" tests=\"4\">\n"
        "  <testcase name=\"a &amp; b\" classname=\"unit\" time=\"0.5\"/>\n"
        "  <testcase name=\"fails\" classname=\"unit\"><failure>first line&#10;second &#x263A;</failure></testcase>\n"
        "  <testcase name=\"skip\"><skipped/></testcase>\n"
        "  <testcase name=\"tagged\" classname=\"unit\"><properties><property name=\"result\" value=\"Blocked\"/>"
        "</properties><error message=\"setup failed\"/></testcase>\n"
        "  <testcase name=\"cut";
    hil_run_summary* s = NULL;
    HIL_ASSERT_OK(hil_write_file_atomic(path, text, strlen(text)));
    HIL_ASSERT_OK(hil_junit_read(path, "imported", &s));
    HIL_ASSERT_EQ(s->n_results, 4, "the cut-off case is dropped, the rest kept");
    HIL_EXPECT_STREQ(s->name, "imported");
    HIL_EXPECT_STREQ(s->results[0].test->full_name, "unit.a & b");
    HIL_EXPECT_EQ(s->results[0].outcome, HIL_PASSED);
    HIL_EXPECT_EQ(s->results[0].duration_ns, 500000000u);
    HIL_EXPECT_EQ(s->results[1].outcome, HIL_FAILED);
    HIL_EXPECT_STREQ(s->results[1].reason, "first line");
    HIL_EXPECT(s->results[1].output && strstr(s->results[1].output, "second \xe2\x98\xba"), "%s",
               s->results[1].output ? s->results[1].output : "(none)");
    HIL_EXPECT_STREQ(s->results[2].test->suite, "ctest", "no classname: the suite's name");
    HIL_EXPECT_EQ(s->results[2].outcome, HIL_SKIPPED);
    HIL_EXPECT_EQ(s->results[3].outcome, HIL_BLOCKED, "hil's own result property wins");
    HIL_EXPECT_STREQ(s->results[3].reason, "setup failed");
    HIL_EXPECT_EQ(s->outcome, HIL_FAILED, "Failed is above Blocked");
    HIL_EXPECT_EQ(s->counts[HIL_PASSED], 1);
    hil_run_summary_free(s);
    HIL_ASSERT_OK(hil_write_file_atomic(path, "hello\n", 6));
    HIL_EXPECT_EQ(hil_junit_read(path, "x", &s), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "is not a JUnit XML file"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_junit_read(st_path("missing.xml"), "x", &s), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "missing.xml"), "%s", hil_last_error());
}

/* ---- jobs in this process --------------------------------------------------------- */

/* Passes outside jobs; inside a task it checks its parameter and leaves a
 * mark in the job's shared state. */
HIL_TEST(job_target, reads_its_parameter) {
    char key[64];
    if (!hil_task_current_id()) return;
    HIL_ASSERT_STREQ(hil_param("job_value", NULL), "from-the-job");
    snprintf(key, sizeof key, "ran.%s", hil_task_current_id());
    HIL_ASSERT_OK(hil_shared_set_int(hil_job_shared(), key, 1));
}

static struct {
    hil_outcome tests_task, ok_cmd, fail_cmd, killed, waited;
    hil_result join_early, wait_r, start_twice, wait_unstarted, terminate_r, bad_opts[3];
    int alive_before, pid_nonzero, marks, any_index;
    char bad_msg[3][300];
} api;

HIL_JOB(api_job) {
    static const char* const target[] = {"job_target.reads_its_parameter", NULL};
    static const char* const params[] = {"job_value=from-the-job", NULL};
    static const char* const ok_argv[] = {"sh", "-c", "exit 0", NULL};
    static const char* const fail_argv[] = {"sh", "-c", "exit 1", NULL};
    static const char* const sleep_argv[] = {"sleep", "30", NULL};
    hil_task_options o;
    hil_task *a, *b, *c, *d;
    hil_task* pool[2];
    size_t idx;
    long long mark = 0;
    /* a test task of this program */
    hil_task_options_init(&o);
    o.filters = target;
    o.params = params;
    o.taskid = "tests";
    api.tests_task = hil_run(rt, &o);
    if (hil_shared_get_int(rt->shared, "ran.tests", &mark) == HIL_OK) api.marks = (int)mark;
    /* commands in parallel, collected as they end */
    hil_task_options_init(&o);
    o.argv = ok_argv;
    hil_task_create(rt, &o, &a);
    o.argv = fail_argv;
    hil_task_create(rt, &o, &b);
    api.wait_unstarted = hil_task_wait(a, 0);
    hil_task_start(a);
    hil_task_start(b);
    api.start_twice = hil_task_start(a);
    pool[0] = a;
    pool[1] = b;
    hil_task_wait_any(pool, 2, 30000, &idx);
    api.any_index = (int)idx;
    hil_task_join(a, 30000);
    hil_task_join(b, 30000);
    api.ok_cmd = hil_task_result(a);
    api.fail_cmd = hil_task_result(b);
    /* a long command: terminated, and one stopped by wait(max_runtime) */
    hil_task_options_init(&o);
    o.argv = sleep_argv;
    hil_task_create(rt, &o, &c);
    hil_task_start(c);
    api.alive_before = hil_task_is_alive(c);
    api.pid_nonzero = hil_task_pid(c) > 0;
    api.join_early = hil_task_join(c, 20);
    api.terminate_r = hil_task_terminate(c);
    hil_task_join(c, 30000);
    api.killed = hil_task_result(c);
    hil_task_create(rt, &o, &d);
    hil_task_start(d);
    api.wait_r = hil_task_wait(d, 0.2);
    api.waited = hil_task_result(d);
    /* wrong use */
    hil_task_options_init(&o);
    o.argv = ok_argv;
    o.filters = target;
    api.bad_opts[0] = hil_task_create(rt, &o, &a);
    snprintf(api.bad_msg[0], sizeof api.bad_msg[0], "%s", hil_last_error());
    hil_task_options_init(&o);
    o.junit = "x.xml";
    api.bad_opts[1] = hil_task_create(rt, &o, &a);
    snprintf(api.bad_msg[1], sizeof api.bad_msg[1], "%s", hil_last_error());
    hil_task_options_init(&o);
    {
        static const char* const bad_params[] = {"novalue", NULL};
        o.params = bad_params;
    }
    api.bad_opts[2] = hil_task_create(rt, &o, &a);
    snprintf(api.bad_msg[2], sizeof api.bad_msg[2], "%s", hil_last_error());
}

typedef struct ev_count { int job_started, task_started, task_finished, job_finished; } ev_count;

static void count_events(const hil_bus_msg* m, void* user) {
    ev_count* c = (ev_count*)user;
    if (m->id == &HIL_MSG_JOB_STARTED) c->job_started++;
    else if (m->id == &HIL_MSG_TASK_STARTED) c->task_started++;
    else if (m->id == &HIL_MSG_TASK_FINISHED) {
        c->task_finished++;
        if (hil_task_result((hil_task*)m->data) == HIL_NOT_RUN) c->task_finished += 1000; /* must be set */
    } else if (m->id == &HIL_MSG_JOB_FINISHED) c->job_finished++;
}

HIL_TEST_META(jobs_api, a_job_from_c_with_test_tasks_commands_and_the_task_api, "timeout=60") {
    hil_job_config jc;
    hil_job_summary js;
    hil_bus* bus;
    hil_dispatcher* d;
    hil_dispatcher_config dc;
    ev_count ev;
    memset(&ev, 0, sizeof ev);
    HIL_ASSERT_OK(hil_bus_create(&bus));
    hil_dispatcher_config_init(&dc);
    dc.fn = count_events;
    dc.user = &ev;
    HIL_ASSERT_OK(hil_dispatcher_create(bus, &dc, &d));
    HIL_ASSERT_OK(hil_dispatcher_subscribe(d, NULL, &HIL_EP_JOB, NULL));
    hil_job_config_init(&jc);
    jc.job = "api_job";
    jc.runs_dir = st_path("runs");
    jc.console = HIL_JOB_CONSOLE_SILENT;
    jc.grace_s = 1;
    jc.bus = bus;
    HIL_ASSERT_OK(hil_job_exec(&jc, &js));
    HIL_EXPECT_EQ(api.tests_task, HIL_PASSED, "a test task of this program, with its parameter");
    HIL_EXPECT_EQ(api.marks, 1, "the test wrote into the job's shared state");
    HIL_EXPECT_EQ(api.wait_unstarted, HIL_ERR_STATE);
    HIL_EXPECT_EQ(api.start_twice, HIL_ERR_STATE);
    HIL_EXPECT(api.any_index == 0 || api.any_index == 1);
    HIL_EXPECT_EQ(api.ok_cmd, HIL_PASSED);
    HIL_EXPECT_EQ(api.fail_cmd, HIL_FAILED);
    HIL_EXPECT(api.alive_before && api.pid_nonzero);
    HIL_EXPECT_EQ(api.join_early, HIL_ERR_TIMEOUT);
    HIL_EXPECT_EQ(api.terminate_r, HIL_OK);
    HIL_EXPECT_EQ(api.killed, HIL_ERRORED);
    HIL_EXPECT_EQ(api.wait_r, HIL_ERR_TIMEOUT);
    HIL_EXPECT_EQ(api.waited, HIL_ERRORED);
    HIL_EXPECT_EQ(api.bad_opts[0], HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(api.bad_msg[0], "not both"), "%s", api.bad_msg[0]);
    HIL_EXPECT_EQ(api.bad_opts[1], HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(api.bad_msg[1], "junit, env and cwd are for commands"), "%s", api.bad_msg[1]);
    HIL_EXPECT_EQ(api.bad_opts[2], HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(api.bad_msg[2], "'novalue' is not NAME=VALUE"), "%s", api.bad_msg[2]);
    HIL_EXPECT_EQ(js.n_tasks, 5);
    HIL_EXPECT_EQ(js.result, HIL_ERRORED);
    HIL_EXPECT_EQ(js.exit_code, 1);
    HIL_EXPECT_EQ(js.tests, 5);
    HIL_EXPECT_NEAR(js.success_rate, 40.0, 0.01);
    HIL_EXPECT(js.directory[0] == '/', "%s", js.directory);
    HIL_EXPECT_EQ(ev.job_started, 1);
    HIL_EXPECT_EQ(ev.task_started, 5);
    HIL_EXPECT_EQ(ev.task_finished, 5, "each once, with its result set");
    HIL_EXPECT_EQ(ev.job_finished, 1);
    hil_bus_destroy(bus);
}

HIL_TEST(jobs_api, hil_job_exec_errors_name_the_problem) {
    hil_job_config jc;
    hil_job_summary js;
    hil_job_config_init(&jc);
    jc.console = HIL_JOB_CONSOLE_SILENT;
    jc.job = "api_jbo";
    HIL_EXPECT_EQ(hil_job_exec(&jc, &js), HIL_ERR_NOT_FOUND);
    HIL_EXPECT_EQ(js.exit_code, 2);
    HIL_EXPECT(strstr(hil_last_error(), "did you mean 'api_job'?"), "%s", hil_last_error());
    jc.job = "api_job";
    jc.runs_dir = "/proc/self/no-runs-here";
    HIL_EXPECT_NE(hil_job_exec(&jc, &js), HIL_OK);
    HIL_EXPECT_EQ(js.exit_code, 3);
    HIL_EXPECT(strstr(hil_last_error(), "set job.runs (--runs DIR)"), "%s", hil_last_error());
}
