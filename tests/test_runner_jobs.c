/* Jobs and tasks through the command line: tests/meta/meta_jobs runs as
 * `meta_jobs job NAME`, in its own session so that afterwards no process of
 * it may be left (tasks, their workers, commands and their children).
 * Parallelism and interruption synchronise on pipes the tests write to. */
#include "selftest.h"
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

HIL_SUITE(jobs, "tags=meta,jobs")

/* Tagged no-tsan: ThreadSanitizer never runs a signal handler in a child
 * forked from a threaded process, so there a stopped task only ends at the
 * SIGKILL after the grace period, without its graceful report. */

typedef struct jopts {
    int sync;            /* bytes to wait for on params.started_fd first (0: none) */
    int sigints;         /* then this many SIGINTs (the second once the first was taken) */
    int release;         /* then let the gate tests go (params.release_fd) */
    int pty;             /* the job's stdout and stderr on a pseudo-terminal */
    const char* until;   /* with pty: wait for this output before going on */
} jopts;

static const char* runs_dir(void) { return st_path("runs"); }

static const char* run_file(const char* name) {
    static char buf[4][1200];
    static int next;
    char* p = buf[next++ % 4];
    snprintf(p, 1200, "%s/latest/%s", runs_dir(), name);
    return p;
}

static int read_some(int fd, hil_strbuf* sb, uint64_t deadline) {
    char buf[4096];
    ssize_t n;
    if (hil_wait_readable(fd, hil_deadline_left_ms(deadline)) != HIL_OK) return -1;
    n = read(fd, buf, sizeof buf);
    if (n > 0) { hil_sb_append(sb, buf, (size_t)n); return 1; }
    if (n < 0 && errno == EINTR) return 1;
    return 0; /* end of output (EIO on a pty) */
}

/* Wait until no process of session sid is left (they may be exiting). */
static void expect_session_empty(int sid) {
    DIR* d = opendir("/proc");
    struct dirent* e;
    int pids[64], n = 0, i;
    HIL_ASSERT(d != NULL, "/proc is not mounted");
    while ((e = readdir(d)) != NULL && n < 64) {
        char path[300], stat[512], *close_paren;
        FILE* f;
        char state;
        int ppid, pgrp, session;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(stat, sizeof stat, f)) stat[0] = 0;
        fclose(f);
        close_paren = strrchr(stat, ')');
        if (!close_paren || sscanf(close_paren + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4) continue;
        if (session == sid && state != 'Z' && state != 'X') pids[n++] = atoi(e->d_name);
    }
    closedir(d);
    for (i = 0; i < n; i++) {
        int alive = 1;
#if defined(__linux__) && defined(SYS_pidfd_open)
        int fd = (int)syscall(SYS_pidfd_open, pids[i], 0);
        if (fd < 0) alive = 0; /* gone already */
        else {
            alive = hil_wait_readable(fd, 5000) != HIL_OK;
            close(fd);
        }
#endif
        if (alive) {
            char comm[64] = "?", path[100];
            FILE* f;
            snprintf(path, sizeof path, "/proc/%d/comm", pids[i]);
            f = fopen(path, "r");
            if (f) { if (!fgets(comm, sizeof comm, f)) comm[0] = 0; fclose(f); }
            HIL_EXPECT(0, "process %d (%s) of the job's session outlived the job", pids[i], comm);
            kill(pids[i], SIGKILL);
        }
    }
}

/* Run `meta_jobs job NAME --runs DIR [extra...]` in a new session. */
static void run_job(const char* job, const char* const* extra, const jopts* jo, st_result* r) {
    static const jopts none = {0, 0, 0, 0, NULL};
    int out[2] = {-1, -1}, stp[2] = {-1, -1}, rel[2] = {-1, -1}, pid, status = 0, n = 0, k, slave = -1;
    char fdarg[64], relarg[64];
    const char* argv[48];
    const char* envp[256];
    hil_strbuf sb = {0, 0, 0, 0};
    uint64_t deadline = hil_deadline_ms(60000);
    extern char** environ;
    int ne = 0;
    if (!jo) jo = &none;
    /* as st_run: under the sanitizers, crashes must still be signals */
    for (k = 0; environ[k] && ne < 250; k++)
        if (strncmp(environ[k], "ASAN_OPTIONS=", 13) && strncmp(environ[k], "TSAN_OPTIONS=", 13) &&
            strncmp(environ[k], "TERM=", 5))
            envp[ne++] = environ[k];
    envp[ne++] = "ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0:detect_leaks=0";
    envp[ne++] = "TSAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0";
    envp[ne++] = jo->pty ? "TERM=xterm" : "TERM=dumb";
    envp[ne] = NULL;
    memset(r, 0, sizeof *r);
    argv[n++] = st_meta("meta_jobs");
    argv[n++] = "job";
    argv[n++] = job;
    argv[n++] = "--color=never";
    argv[n++] = "--runs";
    argv[n++] = runs_dir();
    if (jo->sync) {
        HIL_ASSERT_EQ(pipe(stp), 0);
        snprintf(fdarg, sizeof fdarg, "params.started_fd=%d", stp[1]);
        argv[n++] = "--set";
        argv[n++] = fdarg;
    }
    if (jo->release) {
        HIL_ASSERT_EQ(pipe(rel), 0);
        snprintf(relarg, sizeof relarg, "params.release_fd=%d", rel[0]);
        argv[n++] = "--set";
        argv[n++] = relarg;
        hil_set_cloexec(rel[1]); /* the job must not hold the gate open itself */
    }
    for (k = 0; extra && extra[k] && n < 46; k++) argv[n++] = extra[k];
    argv[n] = NULL;
    if (jo->pty) {
        out[0] = posix_openpt(O_RDWR | O_NOCTTY);
        HIL_ASSERT(out[0] >= 0 && grantpt(out[0]) == 0 && unlockpt(out[0]) == 0, "no pseudo-terminal: %s",
                   strerror(errno));
        slave = open(ptsname(out[0]), O_RDWR | O_NOCTTY);
        HIL_ASSERT(slave >= 0);
        out[1] = slave;
    } else {
        HIL_ASSERT_EQ(pipe(out), 0);
    }
    hil_set_cloexec(out[0]);
    pid = fork();
    HIL_ASSERT(pid >= 0);
    if (pid == 0) {
        setsid();
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
#endif
        dup2(out[1], 1);
        dup2(out[1], 2);
        if (stp[0] >= 0) close(stp[0]);
        execve(argv[0], (char* const*)argv, (char* const*)envp);
        _exit(127);
    }
    close(out[1]);
    if (stp[1] >= 0) close(stp[1]);
    if (rel[0] >= 0) close(rel[0]);
    if (jo->sync) {
        int got = 0;
        char buf[16];
        while (got < jo->sync) {
            ssize_t m;
            HIL_ASSERT_OK(hil_wait_readable(stp[0], 20000), "only %d of %d tasks reported running", got, jo->sync);
            m = read(stp[0], buf, sizeof buf);
            if (m <= 0) read_some(out[0], &sb, deadline);
            HIL_ASSERT(m > 0, "the job ended before %d tasks ran:\n%s", jo->sync, hil_sb_cstr(&sb));
            got += (int)m;
        }
    }
    while (jo->until && !strstr(hil_sb_cstr(&sb), jo->until))
        HIL_ASSERT(read_some(out[0], &sb, deadline) > 0, "never printed '%s':\n%s", jo->until, hil_sb_cstr(&sb));
    for (k = 0; k < jo->sigints; k++) {
        kill(pid, SIGINT);
        /* the second once the first was taken */
        while (k + 1 < jo->sigints && !strstr(hil_sb_cstr(&sb), "Ctrl-C again"))
            HIL_ASSERT(read_some(out[0], &sb, deadline) > 0, "no note after the first Ctrl-C:\n%s", hil_sb_cstr(&sb));
    }
    if (rel[1] >= 0) close(rel[1]);
    while (read_some(out[0], &sb, deadline) > 0) {
    }
    HIL_EXPECT(hil_deadline_left_ms(deadline) > 0, "the job did not end within 60 s");
    if (hil_deadline_left_ms(deadline) == 0) kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    close(out[0]);
    if (stp[0] >= 0) close(stp[0]);
    r->status = status;
    r->code = hil_proc_exit_code(status);
    r->len = sb.len;
    r->out = hil_sb_take(&sb);
    expect_session_empty(pid);
}

static char* json_at(const char* text, const char* path) {
    char* v = st_json_get(text, path);
    return v ? v : hil_strdup("(missing)");
}

#define EXPECT_JSON(text, path, want) \
    do { char* v_ = json_at(text, path); HIL_EXPECT_STREQ(v_, want, "%s", path); free(v_); } while (0)

static char* read_results(void) {
    char err[200];
    char* json = st_read(run_file("results.json"));
    HIL_ASSERT(st_json_valid(json, err, sizeof err), "results.json: %s", err);
    return json;
}

static void expect_junit_valid(void) {
    st_result x;
    if (!st_have("xmllint")) return;
    {
        const char* a[] = {"xmllint", "--noout", "--schema", "tests/junit.xsd", run_file("junit.xml"), NULL};
        st_run(a, NULL, 10000, &x);
    }
    HIL_EXPECT_EQ(x.code, 0, "xmllint: %s", x.out);
    st_result_free(&x);
}

/* ---- the commands ------------------------------------------------------------------ */

HIL_TEST(jobs, jobs_are_listed_and_a_wrong_name_is_a_usage_error) {
    st_result r;
    const char* a1[] = {st_meta("meta_jobs"), "jobs", NULL};
    const char* a2[] = {st_meta("meta_jobs"), "job", "parallell", NULL};
    const char* a3[] = {st_meta("meta_jobs"), "job", NULL};
    const char* a4[] = {st_meta("meta_jobs"), "help", "job", NULL};
    const char* a5[] = {st_meta("meta_jobs"), "job", "--list", NULL};
    st_run(a1, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0);
    HIL_EXPECT(st_has(&r, "parallel ") && st_has(&r, "meta_jobs.c:"), "%s", r.out);
    st_result_free(&r);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 2, "%s", r.out);
    HIL_EXPECT(st_has(&r, "no job named 'parallell'; did you mean 'parallel'?"), "%s", r.out);
    st_result_free(&r);
    st_run(a3, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 2, "%s", r.out);
    HIL_EXPECT(st_has(&r, "name the job to run"), "%s", r.out);
    st_result_free(&r);
    st_run(a4, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "--archive") && st_has(&r, "--runs DIR") && st_has(&r, "--max-runtime S"), "%s", r.out);
    st_result_free(&r);
    st_run(a5, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "interrupt ") && st_has(&r, " jobs\n"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(jobs, a_passing_job_exits_zero_with_a_complete_run_directory) {
    st_result r;
    char *json, *text, link[600];
    ssize_t n;
    run_job("pass", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: first=Passed"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "success rate 100.0% (2 of 2 tests)"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "\n2 passed, 0 failed, 0 skipped\n"), "%s", r.out);
    json = read_results();
    EXPECT_JSON(json, "schema", "hil-job-1");
    EXPECT_JSON(json, "job", "pass");
    EXPECT_JSON(json, "result", "Passed");
    EXPECT_JSON(json, "exit_code", "0");
    EXPECT_JSON(json, "tasks.0.taskid", "Task-1");
    EXPECT_JSON(json, "tasks.0.result", "Passed");
    EXPECT_JSON(json, "tasks.0.suites.0.name", "ok");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.1.name", "two");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.1.result", "Passed");
    free(json);
    text = st_read(run_file("TaskLog.Task-1"));
    HIL_EXPECT(strstr(text, "Passed   ok.two") && strstr(text, "| output of ok.two") &&
               strstr(text, "a log record from ok.two"), "%s", text);
    free(text);
    text = st_read(run_file("JobLog"));
    HIL_EXPECT(strstr(text, "Task-1 started (pid ") && strstr(text, "Task-1 finished: Passed"), "%s", text);
    free(text);
    text = st_read(run_file("env.txt"));
    HIL_EXPECT(strstr(text, "host:") && strstr(text, "command:    ") && strstr(text, "job pass") &&
               strstr(text, "hil:        " HIL_VERSION) && strstr(text, "job.runs = "), "%s", text);
    HIL_EXPECT(!strstr(text, "user:       ?"), "the user is known (getpwuid without USER):\n%s", text);
    {
        /* the options are sorted by key, so two env.txt files diff line by line */
        const char* p = strstr(text, "\nconfiguration");
        char prev[256] = "";
        int lines = 0;
        for (p = p ? strchr(p + 1, '\n') : NULL; p && p[1] == ' '; p = strchr(p + 1, '\n')) {
            char key[256];
            HIL_ASSERT(sscanf(p + 1, " %255s", key) == 1);
            HIL_EXPECT(strcmp(prev, key) <= 0, "'%s' after '%s':\n%s", key, prev, text);
            snprintf(prev, sizeof prev, "%s", key);
            lines++;
        }
        HIL_EXPECT(lines >= 2, "no configuration in env.txt:\n%s", text);
    }
    free(text);
    text = st_read(run_file("summary.txt"));
    HIL_EXPECT(strstr(text, "Task-1    Passed") && strstr(text, "2 passed, 0 failed, 0 skipped"), "%s", text);
    free(text);
    expect_junit_valid();
    snprintf(link, sizeof link, "%s/latest", runs_dir());
    {
        char target[600];
        n = readlink(link, target, sizeof target - 1);
        HIL_ASSERT(n > 0, "no 'latest' link");
        target[n] = 0;
        HIL_EXPECT(strncmp(target, "pass.", 5) == 0 && !strchr(target, '/'), "latest -> %s", target);
    }
    st_result_free(&r);
}

HIL_TEST(jobs, sequential_tasks_return_their_result_and_parameters_reach_the_tests) {
    st_result r;
    char* text;
    run_job("seq", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: first=Passed second=Passed tasks=2 id=second_part"), "'/' becomes '_'\n%s", r.out);
    text = st_read(run_file("TaskLog.second_part"));
    HIL_EXPECT(strstr(text, "task second_part sees value=42"), "%s", text);
    free(text);
    st_result_free(&r);
}

HIL_TEST(jobs, parallel_tasks_run_at_the_same_time) {
    /* three tasks each block in a test until all three reported running */
    static const char* const extra[] = {"--tasks", "3", NULL};
    jopts jo = {3, 0, 1, 0, NULL};
    st_result r;
    char* json;
    run_job("gate", extra, &jo, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: Task-1=Passed") && st_has(&r, "job: Task-3=Passed"), "%s", r.out);
    json = read_results();
    EXPECT_JSON(json, "tasks.2.result", "Passed");
    free(json);
    st_result_free(&r);
}

HIL_TEST(jobs, wait_any_collects_parallel_tasks) {
    st_result r;
    run_job("parallel", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: started=4"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: Task-4=Passed alive=0"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "8 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(jobs, a_crash_in_a_task_keeps_its_other_results) {
    st_result r;
    char *json, *text;
    run_job("crash", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: worker_crash=Errored process_crash=Errored"), "%s", r.out);
    json = read_results();
    /* in the task's worker: the test is Errored, the next one still runs */
    EXPECT_JSON(json, "tasks.0.suites.0.tests.0.name", "segv");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.0.reason", "crashed: killed by SIGSEGV (Segmentation fault)");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.1.result", "Passed");
    /* the task process itself died: what it streamed before stays */
    EXPECT_JSON(json, "tasks.1.suites.0.tests.0.full_name", "ok.one");
    EXPECT_JSON(json, "tasks.1.suites.0.tests.0.result", "Passed");
    EXPECT_JSON(json, "tasks.1.suites.1.tests.0.full_name", "inproc.crash");
    EXPECT_JSON(json, "tasks.1.suites.1.tests.0.result", "Errored");
    EXPECT_JSON(json, "tasks.1.exit", "killed by SIGSEGV (Segmentation fault)");
    EXPECT_JSON(json, "success_rate", "50.00");
    free(json);
    text = st_read(run_file("TaskLog.worker_crash"));
    HIL_EXPECT(strstr(text, "| about to crash"), "output before the crash is kept\n%s", text);
    free(text);
    expect_junit_valid();
    st_result_free(&r);
}

HIL_TEST_META(jobs, a_hanging_task_is_stopped_at_max_runtime, "timeout=30; tags=no-tsan") {
    static const char* const extra[] = {"--max", "0.5", NULL};
    st_result r;
    char *json, *text;
    run_job("hang", extra, NULL, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: by_option=Errored"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: by_wait=Errored wait=timeout reason=max_runtime 0.5 s exceeded"), "%s", r.out);
    json = read_results();
    EXPECT_JSON(json, "tasks.0.result", "Errored");
    EXPECT_JSON(json, "tasks.0.reason", "max_runtime 0.5 s exceeded");
    EXPECT_JSON(json, "tasks.0.stopped", "max_runtime 0.5 s exceeded");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.0.name", "first");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.0.result", "Passed");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.1.name", "forever");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.1.result", "Errored");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.1.reason", "max_runtime 0.5 s exceeded");
    EXPECT_JSON(json, "tasks.0.summary.not_run", "1");
    EXPECT_JSON(json, "tasks.1.result", "Errored");
    free(json);
    text = st_read(run_file("TaskLog.by_option"));
    HIL_EXPECT(strstr(text, "max_runtime 0.5 s exceeded: SIGTERM to its process group") &&
               strstr(text, "| hanging now"), "%s", text);
    free(text);
    expect_junit_valid();
    st_result_free(&r);
}

HIL_TEST(jobs, command_tasks_report_exit_status_output_and_junit) {
    st_result r;
    char *json, *text;
    run_job("commands", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: sh_ok=Passed"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: sh_fail=Failed"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: missing=Errored"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: no_junit=Errored"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: hil_program=Errored"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: junit_writer=Errored"), "%s", r.out);
    text = st_read(run_file("TaskLog.sh_ok"));
    HIL_EXPECT(strstr(text, "hello from sh\n") && strstr(text, "task=sh_ok\n") && strstr(text, "dir=/"), "%s", text);
    free(text);
    json = read_results();
    EXPECT_JSON(json, "tasks.1.suites.0.tests.0.reason", "exited with status 3");
    EXPECT_JSON(json, "tasks.1.suites.0.tests.0.output", "failing\\n");
    /* the command's result is named after its task, not its program ("sh") */
    EXPECT_JSON(json, "tasks.1.suites.0.name", "command");
    EXPECT_JSON(json, "tasks.1.suites.0.tests.0.name", "sh_fail");
    EXPECT_JSON(json, "tasks.1.suites.0.tests.0.full_name", "command.sh_fail");
    HIL_EXPECT(strstr(json, "cannot run 'no-such-program-hil': No such file or directory"));
    EXPECT_JSON(json, "tasks.2.log", "TaskLog.missing");
    HIL_EXPECT(strstr(json, "did not write its JUnit file"));
    /* a hil program's own JUnit: 17 results, Blocked stays Blocked */
    EXPECT_JSON(json, "tasks.4.summary.total", "17");
    EXPECT_JSON(json, "tasks.4.summary.blocked", "2");
    EXPECT_JSON(json, "tasks.4.summary.passx", "1");
    /* another tool's JUnit: nested suites, classname, entities, CDATA */
    EXPECT_JSON(json, "tasks.5.suites.0.name", "flash");
    EXPECT_JSON(json, "tasks.5.suites.0.tests.0.result", "Passed");
    EXPECT_JSON(json, "tasks.5.suites.0.tests.0.duration_s", "0.250000");
    EXPECT_JSON(json, "tasks.5.suites.0.tests.1.name", "write & verify");
    EXPECT_JSON(json, "tasks.5.suites.0.tests.1.result", "Failed");
    EXPECT_JSON(json, "tasks.5.suites.0.tests.1.reason", "crc mismatch: 0x1234 <> 0x4321");
    EXPECT_JSON(json, "tasks.5.suites.0.tests.1.output", "checksum \\\"bad\\\"\\nat block 7\\n");
    EXPECT_JSON(json, "tasks.5.suites.1.name", "power.rails");
    EXPECT_JSON(json, "tasks.5.suites.1.tests.0.output", "3.31 V <ok>");
    EXPECT_JSON(json, "tasks.5.suites.1.tests.1.result", "Skipped");
    EXPECT_JSON(json, "tasks.5.suites.1.tests.1.reason", "no 5 V rail on this board");
    EXPECT_JSON(json, "tasks.5.suites.1.tests.2.result", "Errored");
    EXPECT_JSON(json, "tasks.5.suites.1.tests.2.reason", "probe not connected");
    free(json);
    expect_junit_valid();
    text = st_read(run_file("junit.xml"));
    HIL_EXPECT(strstr(text, "<testcase name=\"sh_ok\" classname=\"command\"") &&
                   strstr(text, "<testcase name=\"sh_fail\" classname=\"command\"") &&
                   !strstr(text, "<testcase name=\"sh\""),
               "%s", text);
    free(text);
    st_result_free(&r);
}

HIL_TEST(jobs, tasks_share_state_and_a_dead_lock_holder_does_not_wedge_it) {
    st_result r;
    run_job("shared", NULL, NULL, &r);
    HIL_EXPECT(st_has(&r, "job: counter=1000\n"), "4 tasks x 250 atomic increments\n%s", r.out);
    HIL_EXPECT(st_has(&r, "job: from.Task-1=Task-1") && st_has(&r, "job: from.Task-4=Task-4"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: dies_locked=Errored"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: after the dead holder: locked_by_dead=1 counter=1001"), "%s", r.out);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    st_result_free(&r);
}

HIL_TEST_META(jobs, ctrl_c_stops_the_tasks_and_the_reports_are_complete, "timeout=30; tags=no-tsan") {
    jopts jo = {2, 1, 0, 0, NULL};
    st_result r;
    char* json;
    run_job("interrupt", NULL, &jo, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "hil: interrupted: stopping the tasks and writing the reports"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: interrupted=1 late=Aborted"), "no new task after Ctrl-C\n%s", r.out);
    HIL_EXPECT(st_has(&r, "interrupted: the tasks were stopped"), "%s", r.out);
    json = read_results();
    EXPECT_JSON(json, "interrupted", "true");
    EXPECT_JSON(json, "result", "Aborted");
    EXPECT_JSON(json, "tasks.0.result", "Aborted");
    EXPECT_JSON(json, "tasks.0.suites.0.tests.0.result", "Aborted");
    EXPECT_JSON(json, "tasks.1.result", "Aborted");
    EXPECT_JSON(json, "tasks.2.taskid", "late");
    EXPECT_JSON(json, "tasks.2.reason", "not started: the job was interrupted");
    free(json);
    expect_junit_valid();
    {
        char* s = st_read(run_file("summary.txt"));
        HIL_EXPECT(strstr(s, "interrupted"), "%s", s);
        free(s);
    }
    st_result_free(&r);
}

HIL_TEST_META(jobs, a_second_ctrl_c_exits_at_once_and_leaves_nothing, "timeout=30") {
    /* the command ignores SIGTERM: only the second Ctrl-C ends it */
    jopts jo = {1, 2, 0, 0, NULL};
    st_result r;
    run_job("stubborn", NULL, &jo, &r);
    HIL_EXPECT_EQ(r.code, 130, "%s", r.out);
    HIL_EXPECT(st_has(&r, "interrupted twice: exiting now"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST_META(jobs, tasks_left_running_are_stopped_and_reported_as_errors, "tags=no-tsan") {
    st_result r;
    char* json;
    run_job("leftover", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    json = read_results();
    EXPECT_JSON(json, "tasks.0.taskid", "left_running");
    EXPECT_JSON(json, "tasks.0.result", "Errored");
    EXPECT_JSON(json, "tasks.0.reason", "still running when the job function returned");
    EXPECT_JSON(json, "tasks.1.taskid", "never_started");
    EXPECT_JSON(json, "tasks.1.reason", "created but never started (hil_task_start)");
    free(json);
    st_result_free(&r);
}

HIL_TEST_META(jobs, terminate_stops_a_task_at_once, "tags=no-tsan") {
    st_result r;
    run_job("terminate", NULL, NULL, &r);
    HIL_EXPECT(st_has(&r, "job: terminated=Errored reason=terminated by the job (hil_task_terminate)"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(jobs, unknown_options_reach_the_job_and_it_passes_them_on_as_parameters) {
    static const char* const extra[] = {"--count", "7", "--dry-run", "extra1", "--unknown=3", NULL};
    st_result r;
    run_job("args", extra, NULL, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: count=7 dry_run=1 rest=extra1,--unknown=3"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "job: param task=Passed"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(jobs, empty_selection_renamed_job_and_job_errors) {
    st_result r;
    char* json;
    run_job("empty", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "no test matches the task's selection (tests: filters no.such.test)"), "%s", r.out);
    st_result_free(&r);
    run_job("renamed", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    json = read_results();
    EXPECT_JSON(json, "job", "renamed");
    EXPECT_JSON(json, "name", "my-report-name");
    free(json);
    st_result_free(&r);
    run_job("job_error", NULL, NULL, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    json = read_results();
    EXPECT_JSON(json, "result", "Errored");
    EXPECT_JSON(json, "errors.0", "the lab is not reachable (ping failed)");
    free(json);
    st_result_free(&r);
}

HIL_TEST(jobs, archive_packs_the_run_directory) {
    static const char* const extra[] = {"--archive", NULL};
    st_result r, t;
    char tgz[1200], *line;
    ST_SKIP_UNLESS_PROG("tar", "tar");
    run_job("pass", extra, NULL, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    line = strstr(r.out, "archive: ");
    HIL_ASSERT(line != NULL, "%s", r.out);
    snprintf(tgz, sizeof tgz, "%.*s", (int)strcspn(line + 9, "\n"), line + 9);
    {
        const char* a[] = {"tar", "-tzf", tgz, NULL};
        st_run(a, NULL, 10000, &t);
    }
    HIL_EXPECT_EQ(t.code, 0, "%s", t.out);
    HIL_EXPECT(st_has(&t, "/results.json") && st_has(&t, "/TaskLog.Task-1") && st_has(&t, "/JobLog"), "%s", t.out);
    st_result_free(&t);
    st_result_free(&r);
}

HIL_TEST_META(jobs, a_terminal_shows_a_live_line_per_running_task, "timeout=30") {
    static const char* const extra[] = {"--tasks", "2", NULL};
    jopts jo = {2, 0, 1, 1, "running  Task-2"};
    st_result r;
    run_job("gate", extra, &jo, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "running  Task-1"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "\x1b[J"), "the live lines are redrawn in place\n%s", r.out);
    HIL_EXPECT(st_has(&r, "TASK      RESULT"), "the summary table\n%s", r.out);
    st_result_free(&r);
}

/* ---- one-test tasks: the test runs in the task process ------------------------------ */

/* Digits as '#', lines sorted: a worker's supervisor reads a test's log
 * records and its printed output from two pipes, in whichever order they
 * arrive, where a test run in the task process keeps the order it did
 * them in; durations and times differ from run to run. `sep` is "\n" or
 * the JSON escape "\\n"; with xml, a '>' ends a line too. */
static char* norm_lines(const char* s, const char* sep, int xml) {
    char** lines = NULL;
    size_t n = 0, cap = 0, i, sl = strlen(sep);
    hil_strbuf cur = {0, 0, 0, 0}, out = {0, 0, 0, 0};
    for (;;) {
        int end = !*s || strncmp(s, sep, sl) == 0;
        if (xml && *s == '>') { /* "<system-out>text": the text is a line of its own */
            hil_sb_putc(&cur, *s++);
            end = 1;
            sl = 0;
        }
        if (end) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                lines = (char**)realloc(lines, cap * sizeof *lines);
                HIL_ASSERT(lines != NULL);
            }
            lines[n++] = cur.data ? hil_sb_take(&cur) : hil_strdup("");
            if (!*s) break;
            s += sl;
            sl = strlen(sep);
            continue;
        }
        if (*s >= '0' && *s <= '9') {
            while ((*s >= '0' && *s <= '9') || *s == '.') s++;
            hil_sb_putc(&cur, '#');
            continue;
        }
        hil_sb_putc(&cur, *s++);
    }
    for (i = 1; i < n; i++) { /* a few lines: insertion sort */
        size_t k = i;
        while (k > 0 && strcmp(lines[k - 1], lines[k]) > 0) {
            char* x = lines[k];
            lines[k] = lines[k - 1];
            lines[k - 1] = x;
            k--;
        }
    }
    for (i = 0; i < n; i++) {
        hil_sb_printf(&out, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return hil_sb_take(&out);
}

/* What a task and its tests report, without times, pids and the task
 * process's own exit status. */
static void expect_same_tasks(const char* a, const char* b, int n_tasks) {
    static const char* const task_keys[] = {"taskid", "result", "reason", "summary", "success_rate", "stopped", NULL};
    static const char* const test_keys[] = {"full_name", "result", "reason", "attempts", "iteration", "file", "line",
                                            "failures", "warnings", NULL};
    int i, j, k;
    for (i = 0; i < n_tasks; i++) {
        char path[200];
        for (k = 0; task_keys[k]; k++) {
            char *x, *y;
            snprintf(path, sizeof path, "tasks.%d.%s", i, task_keys[k]);
            x = json_at(a, path);
            y = json_at(b, path);
            HIL_EXPECT_STREQ(x, y, "%s", path);
            free(x);
            free(y);
        }
        for (j = 0; j < 2; j++) {
            char *x, *y, *nx, *ny;
            snprintf(path, sizeof path, "tasks.%d.suites.0.tests.%d.full_name", i, j);
            x = st_json_get(a, path);
            y = st_json_get(b, path);
            HIL_EXPECT((x == NULL) == (y == NULL), "%s: %s against %s", path, x ? x : "none", y ? y : "none");
            free(x);
            free(y);
            for (k = 0; test_keys[k]; k++) {
                snprintf(path, sizeof path, "tasks.%d.suites.0.tests.%d.%s", i, j, test_keys[k]);
                x = json_at(a, path);
                y = json_at(b, path);
                HIL_EXPECT_STREQ(x, y, "%s", path);
                free(x);
                free(y);
            }
            snprintf(path, sizeof path, "tasks.%d.suites.0.tests.%d.output", i, j);
            x = json_at(a, path);
            y = json_at(b, path);
            nx = norm_lines(x, "\\n", 0);
            ny = norm_lines(y, "\\n", 0);
            HIL_EXPECT_STREQ(nx, ny, "%s", path);
            free(x);
            free(y);
            free(nx);
            free(ny);
        }
    }
}

/* Runs the job "solo" with its tests in the task processes, then with
 * job.fork_single_test (a worker per task, as before), and compares. */
static void solo_compare(const char* const* extra_solo, const char* const* extra_fork, int n_tasks, char** solo_out) {
    st_result r, f;
    char *a, *b, *ja, *jb, *na, *nb;
    run_job("solo", extra_solo, NULL, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    a = read_results();
    ja = st_read(run_file("junit.xml"));
    expect_junit_valid();
    run_job("solo", extra_fork, NULL, &f);
    HIL_EXPECT_EQ(f.code, 1, "%s", f.out);
    HIL_EXPECT(!st_has(&f, "in_task=1"), "job.fork_single_test: every test in a worker\n%s", f.out);
    b = read_results();
    jb = st_read(run_file("junit.xml"));
    expect_same_tasks(a, b, n_tasks);
    {
        char* total = json_at(b, "summary.total");
        EXPECT_JSON(a, "summary.total", total);
        free(total);
    }
    na = norm_lines(ja, "\n", 1);
    nb = norm_lines(jb, "\n", 1);
    HIL_EXPECT_STREQ(na, nb, "junit.xml (digits as #, lines sorted)");
    free(na);
    free(nb);
    free(ja);
    free(jb);
    free(a);
    free(b);
    *solo_out = r.out;
    r.out = NULL;
    st_result_free(&r);
    st_result_free(&f);
}

HIL_TEST_META(jobs, a_one_test_task_runs_it_in_the_task_process_with_the_results_a_worker_gives, "timeout=60") {
    static const char* const forked[] = {"--set", "job.fork_single_test=true", NULL};
    char *out, *text;
    int k;
    solo_compare(NULL, forked, 13, &out);
    /* one fork less where the test is one call of its function ... */
    HIL_EXPECT(strstr(out, "job: pass=Passed in_task=1") && strstr(out, "job: fail=Failed in_task=1") &&
               strstr(out, "job: skip=Skipped in_task=1") && strstr(out, "job: segv=Errored in_task=1") &&
               strstr(out, "job: abort=Errored in_task=1") && strstr(out, "job: exit=Errored in_task=1") &&
               strstr(out, "job: timeout=Errored in_task=1") && strstr(out, "job: chatty=Passed in_task=1") &&
               strstr(out, "job: chatty_crash=Errored in_task=1") && strstr(out, "job: fail_segv=Errored in_task=1") &&
               strstr(out, "job: fail_timeout=Errored in_task=1"), "%s", out);
    /* ... and the worker for a suite with fixtures and for two tests */
    HIL_EXPECT(strstr(out, "job: one=Passed in_task=0") && strstr(out, "job: two=Failed"), "%s", out);
    free(out);
    text = read_results();
    EXPECT_JSON(text, "tasks.3.suites.0.tests.0.reason", "crashed: killed by SIGSEGV (Segmentation fault)");
    EXPECT_JSON(text, "tasks.4.suites.0.tests.0.reason", "crashed: killed by SIGABRT (Aborted)");
    EXPECT_JSON(text, "tasks.5.suites.0.tests.0.reason", "the test ended the process: exited with status 3");
    EXPECT_JSON(text, "tasks.6.suites.0.tests.0.reason", "timeout after 0.3 s");
    EXPECT_JSON(text, "tasks.3.exit", "exited with status 0"); /* the last run: job.fork_single_test */
    /* a failed check before the crash or the timeout is kept (the solo run's
     * failures, warnings and output were compared with these above) */
    EXPECT_JSON(text, "tasks.10.suites.0.tests.0.reason", "crashed: killed by SIGSEGV (Segmentation fault)");
    EXPECT_JSON(text, "tasks.11.suites.0.tests.0.reason", "timeout after 0.3 s");
    {
        char* v = json_at(text, "tasks.10.suites.0.tests.0.failures");
        char* w = json_at(text, "tasks.10.suites.0.tests.0.warnings");
        char* o = json_at(text, "tasks.10.suites.0.tests.0.output");
        HIL_EXPECT(v && strstr(v, "arithmetic is still hard") && strstr(v, "a second one"), "%s", v ? v : "none");
        HIL_EXPECT(w && strstr(w, "and a warning"), "%s", w ? w : "none");
        HIL_EXPECT(o && strstr(o, "[hil: before that: ") && strstr(o, "arithmetic is still hard]"), "%s", o ? o : "none");
        free(v);
        free(w);
        free(o);
        v = json_at(text, "tasks.11.suites.0.tests.0.failures");
        HIL_EXPECT(v && strstr(v, "one is not more than two"), "%s", v ? v : "none");
        free(v);
    }
    free(text);
    /* and what the solo runs printed past run.max_output is dropped as a worker's supervisor drops it
     * (the outputs were compared above; here, that they are what a worker gives) */
    for (k = 8; k <= 9; k++) {
        char path[100], *v;
        snprintf(path, sizeof path, "tasks.%d.suites.0.tests.0.output", k);
        v = json_at(text = read_results(), path);
        HIL_EXPECT(strlen(v) < 1300 && strstr(v, "line 0000 of a test") &&
                   strstr(v, "[hil: output limit reached (run.max_output); the rest of this test's output is dropped]"),
                   "%s: %s", path, v);
        free(v);
        free(text);
    }
    /* the TaskLog of the first run (solo) has what the task process would have written */
    {
        DIR* d = opendir(runs_dir());
        struct dirent* e;
        char first[1200] = "", path[1400];
        HIL_ASSERT(d != NULL);
        while ((e = readdir(d)) != NULL)
            if (!strncmp(e->d_name, "solo.", 5) && (!first[0] || strcmp(e->d_name, first) < 0))
                snprintf(first, sizeof first, "%s", e->d_name);
        closedir(d);
        snprintf(path, sizeof path, "%s/%s/TaskLog.segv", runs_dir(), first);
        text = st_read(path);
        HIL_EXPECT(strstr(text, "Errored  solo.segv (") && strstr(text, "    crashed: killed by SIGSEGV") &&
                   strstr(text, "    | about to crash") && strstr(text, "info    meta.solo: a record before the crash") &&
                   strstr(text, "== segv: 0 passed, 1 failed, 0 skipped") &&
                   strstr(text, "== segv: Errored in "), "%s", text);
        free(text);
        snprintf(path, sizeof path, "%s/%s/TaskLog.pass", runs_dir(), first);
        text = st_read(path);
        HIL_EXPECT(strstr(text, "    | printed first\n    | ") && strstr(text, "meta.solo: logged second\n    | to stderr third\n    | printed fourth\n"),
                   "the output in the order the test wrote it\n%s", text);
        free(text);
    }
}

/* ThreadSanitizer never runs the task process's SIGTERM handler (see the
 * top): the worker's side of the comparison would end at SIGKILL. */
HIL_TEST_META(jobs, a_one_test_task_stopped_at_max_runtime_reports_as_a_worker_does, "timeout=60; tags=no-tsan") {
    static const char* const solo[] = {"--stop", NULL};
    static const char* const forked[] = {"--stop", "--set", "job.fork_single_test=true", NULL};
    char *out, *text;
    solo_compare(solo, forked, 14, &out);
    HIL_EXPECT(strstr(out, "job: hang=Errored in_task=1"), "%s", out);
    free(out);
    text = read_results();
    EXPECT_JSON(text, "tasks.8.suites.0.tests.0.reason", "max_runtime 0.3 s exceeded");
    {
        char* v = json_at(text, "tasks.8.suites.0.tests.0.failures");
        HIL_EXPECT(strstr(v, "a check fails before the stop"), "%s", v);
        free(v);
    }
    free(text);
}
