/* Lab operations (hil_runner.h part 3, docs/lab.md): boards shared by
 * concurrent `schedule` processes through kernel record locks in a lab
 * state directory, a holder killed with SIGKILL, `lab status` (text and
 * JSON) while a run holds a board, `lab release` refusing a live holder,
 * quarantine and the failure streak surviving a restart, the health check
 * bringing a board back, --no-wait, the reservation hooks. The schedules
 * are tests/meta/meta_sched processes on simulated boards whose runs are
 * small commands that log when they hold which board. */
#include "selftest.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>

HIL_SUITE(lab_ops, "tags=lab,sched")

extern char** environ;

static const char* dir_for(const char* name) {
    const char* d = st_path(name);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    HIL_ASSERT(system(cmd) == 0);
    HIL_ASSERT_OK(hil_mkdirs(d));
    return d;
}

static const char* in(const char* dir, const char* name) {
    static char buf[16][1200];
    static int next;
    char* p = buf[next++ % 16];
    snprintf(p, 1200, "%s/%s", dir, name);
    return p;
}

static void write_text(const char* path, const char* text) {
    HIL_ASSERT_OK(hil_write_file_atomic(path, text, strlen(text)), "writing %s", path);
}

/* A lab of n boards b0.. of type T and runs <prefix>1..<prefix>k, each a
 * command that logs "<board> <run> start|end <ns>" around a sleep. */
static void write_lab(const char* path, const char* dir, int boards, const char* prefix, int runs, double secs,
                      const char* extra) {
    char text[8192];
    size_t n = 0;
    int i;
    for (i = 0; i < boards; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "resources.b%d.type = T\n", i);
    for (i = 1; i <= runs; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "runs.%s%d.command = sh -c \"echo {dut} {item} start $(date +%%s%%N) >> %s/use.log; "
                              "sleep %g; echo {dut} {item} end $(date +%%s%%N) >> %s/use.log\"\n"
                              "runs.%s%d.roles.dut.type = T\nruns.%s%d.expected = %g\n",
                              prefix, i, dir, secs, dir, prefix, i, prefix, i, secs);
    if (extra) n += (size_t)snprintf(text + n, sizeof text - n, "%s", extra);
    write_text(path, text);
}

/* meta_sched with argv (NULL-terminated) started in the background, its
 * output into out_path. */
static pid_t spawn(const char* const* args, const char* out_path) {
    const char* argv[40];
    posix_spawn_file_actions_t fa;
    pid_t pid = 0;
    int n = 0, k;
    argv[n++] = st_meta("meta_sched");
    for (k = 0; args[k] && n < 38; k++) argv[n++] = args[k];
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    HIL_ASSERT(posix_spawn(&pid, argv[0], &fa, NULL, (char* const*)argv, environ) == 0, "cannot start %s", argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int reap(pid_t pid) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void run_meta(const char* const* args, st_result* r) {
    const char* argv[40];
    int n = 0, k;
    argv[n++] = st_meta("meta_sched");
    for (k = 0; args[k] && n < 38; k++) argv[n++] = args[k];
    argv[n] = NULL;
    st_run(argv, NULL, 60000, r);
}

/* Wait (on the lab directory's inotify, up to timeout_ms) until the board
 * is held (want 1) or free (want 0); the holder's pid, or -1 on timeout. */
static long wait_board(hil_lab* lab, const char* board, int want, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    int fd = hil_lab_wait_fd(lab);
    HIL_ASSERT(fd >= 0, "no inotify on the lab directory");
    for (;;) {
        hil_lab_holder h;
        struct pollfd pf;
        int left;
        HIL_ASSERT_OK(hil_lab_holder_get(lab, board, &h));
        if (h.held == want) return want ? h.pid : 0;
        left = hil_deadline_left_ms(deadline);
        if (left == 0) return -1;
        pf.fd = fd;
        pf.events = POLLIN;
        /* a lock taken (its record written) or given back wakes us */
        (void)poll(&pf, 1, left);
        hil_lab_wait_drain(lab);
    }
}

typedef struct use {
    char board[16], item[64];
    long long start, end;
} use;

/* use.log as intervals: every run that started also ended, and no two
 * intervals on one board overlap (the point of the locks). */
static int read_uses(const char* dir, use* u, int max) {
    char* text = st_read(in(dir, "use.log"));
    char *p, *save = NULL;
    int n = 0, i, j;
    HIL_ASSERT(text != NULL, "no %s: no run ran", in(dir, "use.log"));
    for (p = strtok_r(text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
        char b[16], it[64], what[8];
        long long t;
        if (sscanf(p, "%15s %63s %7s %lld", b, it, what, &t) != 4) continue;
        if (strcmp(what, "start") == 0 && n < max) {
            snprintf(u[n].board, sizeof u[n].board, "%s", b);
            snprintf(u[n].item, sizeof u[n].item, "%s", it);
            u[n].start = t;
            u[n].end = 0;
            n++;
        } else {
            for (i = n - 1; i >= 0; i--)
                if (!strcmp(u[i].board, b) && !strcmp(u[i].item, it) && !u[i].end) {
                    u[i].end = t;
                    break;
                }
        }
    }
    free(text);
    for (i = 0; i < n; i++) {
        HIL_EXPECT(u[i].end > 0, "%s on %s never ended", u[i].item, u[i].board);
        for (j = i + 1; j < n; j++)
            if (!strcmp(u[i].board, u[j].board))
                HIL_EXPECT(u[i].end <= u[j].start || u[j].end <= u[i].start,
                           "%s and %s used %s at the same time (%lld-%lld, %lld-%lld)", u[i].item, u[j].item,
                           u[i].board, u[i].start, u[i].end, u[j].start, u[j].end);
    }
    return n;
}

static void concurrent(int procs) {
    const char* dir = dir_for(procs == 2 ? "lab-two" : "lab-three");
    const char* state = in(dir, "state");
    pid_t pid[3];
    use u[64];
    int p, n, k;
    char conf[3][1200], runs[3][1200], outp[3][1200], prefix[3][4];
    for (p = 0; p < procs; p++) {
        const char* args[16];
        int a = 0;
        snprintf(prefix[p], sizeof prefix[p], "%c", 'a' + p);
        snprintf(conf[p], sizeof conf[p], "%s/lab-%d.conf", dir, p);
        snprintf(runs[p], sizeof runs[p], "%s/runs-%d", dir, p);
        snprintf(outp[p], sizeof outp[p], "%s/out-%d.txt", dir, p);
        write_lab(conf[p], dir, 3, prefix[p], 3, 0.3, NULL);
        args[a++] = "schedule";
        args[a++] = "-c";
        args[a++] = conf[p];
        args[a++] = "--runs";
        args[a++] = runs[p];
        args[a++] = "--lab-state";
        args[a++] = state;
        args[a++] = "--color=never";
        args[a] = NULL;
        pid[p] = spawn(args, outp[p]);
    }
    for (p = 0; p < procs; p++) {
        int code = reap(pid[p]);
        char* out = st_read(outp[p]);
        HIL_EXPECT(code == 0, "schedule %d exited %d:\n%s", p, code, out ? out : "");
        HIL_EXPECT(out && strstr(out, "3 passed, 0 failed"), "schedule %d:\n%s", p, out ? out : "");
        free(out);
    }
    n = read_uses(dir, u, 64);
    HIL_EXPECT(n == 3 * procs, "%d runs started, want %d", n, 3 * procs);
    /* nothing is left locked */
    {
        hil_lab* lab;
        hil_lab_holder h;
        HIL_ASSERT_OK(hil_lab_open(state, &lab));
        for (k = 0; k < 3; k++) {
            char b[16];
            snprintf(b, sizeof b, "b%d", k);
            HIL_ASSERT_OK(hil_lab_holder_get(lab, b, &h));
            HIL_EXPECT(!h.held, "%s still held by pid %ld after both schedules ended", b, h.pid);
        }
        hil_lab_close(lab);
    }
}

HIL_TEST_META(lab_ops, two_schedules_share_three_boards, "timeout=60") { concurrent(2); }

HIL_TEST_META(lab_ops, three_schedules_share_three_boards, "timeout=60") { concurrent(3); }

/* A holder killed with SIGKILL: the kernel drops its lock at once. */
HIL_TEST_META(lab_ops, a_killed_holder_frees_its_board, "timeout=60") {
    const char* dir = dir_for("lab-kill");
    const char* state = in(dir, "state");
    const char* args[] = {"schedule", "-c", in(dir, "lab.conf"), "--runs", in(dir, "runs"), "--lab-state", state,
                          "--color=never", NULL};
    hil_lab* lab;
    pid_t pid;
    long holder;
    write_lab(in(dir, "lab.conf"), dir, 1, "k", 1, 30, NULL);
    HIL_ASSERT_OK(hil_lab_open(state, &lab));
    pid = spawn(args, in(dir, "out.txt"));
    holder = wait_board(lab, "b0", 1, 20000);
    HIL_ASSERT(holder == (long)pid, "b0 is held by %ld, want the schedule %ld", holder, (long)pid);
    {
        /* lab status while it runs: the holder, the run, in text and JSON */
        st_result r;
        const char* st_args[] = {"lab", "status", "-c", in(dir, "lab.conf"), "--lab-state", state, NULL};
        const char* js_args[] = {"lab", "status", "--json", "-c", in(dir, "lab.conf"), "--lab-state", state, NULL};
        const char* rel_args[] = {"lab", "release", "b0", "--lab-state", state, NULL};
        char want[64], *v;
        run_meta(st_args, &r);
        snprintf(want, sizeof want, "held by pid %ld", (long)pid);
        HIL_EXPECT(r.code == 0 && st_has(&r, want) && st_has(&r, "k1"), "lab status:\n%s", r.out);
        st_result_free(&r);
        run_meta(js_args, &r);
        HIL_EXPECT(r.code == 0 && st_json_valid(r.out, NULL, 0), "lab status --json:\n%s", r.out);
        v = st_json_get(r.out, "boards.0.state");
        HIL_EXPECT(v && !strcmp(v, "held"), "boards.0.state %s", v ? v : "(none)");
        free(v);
        v = st_json_get(r.out, "boards.0.holder.pid");
        HIL_EXPECT(v && atol(v) == (long)pid, "boards.0.holder.pid %s, want %ld", v ? v : "(none)", (long)pid);
        free(v);
        v = st_json_get(r.out, "boards.0.holder.run");
        HIL_EXPECT(v && strstr(v, "k1"), "boards.0.holder.run %s", v ? v : "(none)");
        free(v);
        st_result_free(&r);
        /* an operator's release refuses a live holder */
        run_meta(rel_args, &r);
        HIL_EXPECT(r.code == 1 && st_has(&r, "alive") && st_has(&r, "--force"), "lab release:\n%s", r.out);
        st_result_free(&r);
    }
    HIL_ASSERT(kill(pid, SIGKILL) == 0);
    HIL_EXPECT(reap(pid) == 128 + SIGKILL);
    HIL_EXPECT(wait_board(lab, "b0", 0, 2000) == 0, "b0 still held 2 s after its holder was killed");
    hil_lab_close(lab);
}

/* Work waits for a board another process holds, wakes when it is given
 * back, and the report counts the wait; --no-wait refuses at once. */
HIL_TEST_META(lab_ops, waits_for_a_board_held_elsewhere_and_no_wait_refuses, "timeout=60") {
    const char* dir = dir_for("lab-wait");
    const char* state = in(dir, "state");
    const char* args[] = {"schedule", "-c", in(dir, "lab.conf"), "--runs", in(dir, "runs"), "--lab-state", state,
                          "--color=never", NULL};
    const char* nw_args[] = {"schedule", "-c",          in(dir, "lab.conf"), "--runs", in(dir, "runs-nw"),
                             "--lab-state", state, "--no-wait", "--color=never", NULL};
    hil_lab* lab;
    hil_lab_holder h;
    st_result r;
    pid_t pid;
    char want[80], *txt, *out;
    write_lab(in(dir, "lab.conf"), dir, 1, "w", 1, 0.1, NULL);
    HIL_ASSERT_OK(hil_lab_open(state, &lab));
    /* a child process holds b0 (POSIX locks are per process: not this one,
     * whose lab object the schedule's lock test would not see) */
    {
        int ready[2], go[2];
        pid_t holder;
        char c;
        HIL_ASSERT(pipe(ready) == 0 && pipe(go) == 0);
        holder = fork();
        HIL_ASSERT(holder >= 0);
        if (holder == 0) {
            hil_lab* l2;
            char buf;
            if (hil_lab_open(state, &l2) != HIL_OK || hil_lab_try_lock(l2, "b0", "the test's hold", 0, NULL) != HIL_OK)
                _exit(3);
            (void)!write(ready[1], "r", 1);
            (void)!read(go[0], &buf, 1);
            hil_lab_unlock(l2, "b0");
            _exit(0);
        }
        HIL_ASSERT(read(ready[0], &c, 1) == 1, "the holder could not lock b0");
        HIL_ASSERT_OK(hil_lab_holder_get(lab, "b0", &h));
        HIL_ASSERT(h.held && h.pid == (long)holder, "b0: held %d by %ld", h.held, h.pid);
        /* --no-wait: refused at once, naming the holder */
        run_meta(nw_args, &r);
        snprintf(want, sizeof want, "b0 by pid %ld", (long)holder);
        HIL_EXPECT(r.code != 0 && st_has(&r, "--no-wait") && st_has(&r, want) && st_has(&r, "the test's hold"),
                   "exit %d:\n%s", r.code, r.out);
        st_result_free(&r);
        /* a test program given the board stops before any test, naming the holder */
        {
            const char* a[] = {"run", "fast.one", "--board", "b0", "--lab-state", state, "--color=never", NULL};
            run_meta(a, &r);
            snprintf(want, sizeof want, "held by pid %ld", (long)holder);
            HIL_EXPECT(r.code == 3 && st_has(&r, "--board b0") && st_has(&r, want), "exit %d:\n%s", r.code, r.out);
            st_result_free(&r);
        }
        /* without it: the schedule waits, then runs when the holder lets go;
         * its look at b0 (an open of b0.lock) says it is waiting */
        {
            int ino = inotify_init1(IN_CLOEXEC);
            union {
                struct inotify_event ev;
                char buf[4096];
            } evu;
            char* evbuf = evu.buf;
            struct pollfd pf;
            HIL_ASSERT(ino >= 0 && inotify_add_watch(ino, state, IN_OPEN) >= 0);
            pid = spawn(args, in(dir, "out.txt"));
            int seen = 0;
            pf.fd = ino;
            pf.events = POLLIN;
            while (!seen) {
                ssize_t got, off = 0;
                HIL_ASSERT(poll(&pf, 1, 20000) == 1, "the schedule never looked at b0");
                got = read(ino, evu.buf, sizeof evu.buf);
                while (got > 0 && off < got) {
                    const struct inotify_event* ev = (const struct inotify_event*)(evbuf + off);
                    if (ev->len && strcmp(ev->name, "b0.lock") == 0) seen = 1;
                    off += (ssize_t)(sizeof *ev + ev->len);
                }
            }
            close(ino);
        }
        HIL_EXPECT(access(in(dir, "use.log"), F_OK) != 0, "w1 ran while b0 was held elsewhere");
        (void)!write(go[1], "g", 1);
        HIL_EXPECT(reap(holder) == 0);
        close(ready[0]);
        close(ready[1]);
        close(go[0]);
        close(go[1]);
    }
    HIL_EXPECT(reap(pid) == 0);
    {
        /* the board is free again: the test program takes it, and gives it back */
        const char* a[] = {"run", "fast.one", "--board", "b0", "--lab-state", state, "--color=never", NULL};
        run_meta(a, &r);
        HIL_EXPECT(r.code == 0 && st_has(&r, "1 passed, 0 failed"), "exit %d:\n%s", r.code, r.out);
        st_result_free(&r);
        HIL_ASSERT_OK(hil_lab_holder_get(lab, "b0", &h));
        HIL_EXPECT(!h.held, "b0 still held by pid %ld after the test program ended", h.pid);
    }
    out = st_read(in(dir, "out.txt"));
    HIL_EXPECT(out && strstr(out, "1 passed, 0 failed"), "%s", out ? out : "");
    free(out);
    txt = st_read(in(dir, "runs/latest/schedule.txt"));
    HIL_ASSERT(txt != NULL);
    {
        const char* p = strstr(txt, "work waited ");
        double w = p ? atof(p + 12) : -1;
        HIL_EXPECT(w > 0, "the wait for b0 is not counted (%.3f s):\n%s", w, txt);
    }
    free(txt);
    hil_lab_close(lab);
}

/* Quarantine and the failure streak survive the session; an operator or a
 * passing health check brings the board back. */
HIL_TEST_META(lab_ops, quarantine_persists_and_the_health_check_releases, "timeout=90") {
    const char* dir = dir_for("lab-health");
    const char* state = in(dir, "state");
    const char* conf = in(dir, "lab.conf");
    const char* sched[] = {"schedule", "-c", conf, "--runs", in(dir, "runs"), "--lab-state", state, "--color=never",
                           NULL};
    const char* status[] = {"lab", "status", "--json", "-c", conf, "--lab-state", state, NULL};
    st_result r;
    char *v, text[1024];
    hil_lab* lab;
    hil_lab_board_state bs;
    /* b0's runs fail for the lab (exit 7 = infra_exit): two in a row quarantine it */
    snprintf(text, sizeof text,
             "resources.b0.type = T\nschedule.quarantine_after = 2\n"
             "runs.x.command = sh -c \"test -e %s/fixed || exit 7\"\nruns.x.infra_exit = 7\nruns.x.roles.dut.type = T\n",
             dir);
    write_text(conf, text);
    run_meta(sched, &r);
    HIL_EXPECT(r.code != 0, "%s", r.out);
    st_result_free(&r);
    HIL_ASSERT_OK(hil_lab_open(state, &lab));
    HIL_ASSERT_OK(hil_lab_state_load(lab, "b0", &bs));
    HIL_EXPECT(bs.streak == 1 && !bs.quarantined, "after one session: streak %u, quarantined %d", bs.streak,
               bs.quarantined);
    run_meta(sched, &r); /* the second failure, in the next session: quarantined */
    st_result_free(&r);
    HIL_ASSERT_OK(hil_lab_state_load(lab, "b0", &bs));
    HIL_EXPECT(bs.streak == 2 && bs.quarantined && strstr(bs.reason, "2 infrastructure failures"),
               "streak %u, quarantined %d (%s)", bs.streak, bs.quarantined, bs.reason);
    /* a restart: the board stays out, the run is Blocked naming it */
    run_meta(sched, &r);
    HIL_EXPECT(r.code != 0 && st_has(&r, "quarantined"), "%s", r.out);
    st_result_free(&r);
    v = st_read(in(dir, "runs/latest/results.json"));
    HIL_EXPECT(v && strstr(v, "\"Blocked\"") && strstr(v, "b0"), "%s", v ? v : "(no results.json)");
    free(v);
    run_meta(status, &r);
    v = st_json_get(r.out, "boards.0.state");
    HIL_EXPECT(v && !strcmp(v, "quarantined"), "state %s\n%s", v ? v : "(none)", r.out);
    free(v);
    v = st_json_get(r.out, "boards.0.quarantine.reason");
    HIL_EXPECT(v && strstr(v, "infrastructure failures"), "reason %s", v ? v : "(none)");
    free(v);
    st_result_free(&r);
    /* a failing health check: still out */
    {
        char hc[1300];
        const char* args[] = {"schedule", "-c", conf, "--runs", in(dir, "runs"), "--lab-state", state,
                              "--color=never", "--set", hc, NULL};
        snprintf(hc, sizeof hc, "lab.health_check=test -e %s/fixed", dir);
        run_meta(args, &r);
        HIL_EXPECT(r.code != 0, "%s", r.out);
        st_result_free(&r);
        HIL_ASSERT_OK(hil_lab_state_load(lab, "b0", &bs));
        HIL_EXPECT(bs.quarantined && bs.n_events && !strcmp(bs.events[bs.n_events - 1].kind, "health-failed"),
                   "quarantined %d, last event %s", bs.quarantined, bs.n_events ? bs.events[bs.n_events - 1].kind : "-");
        /* the board is repaired: the health check passes and the run runs */
        write_text(in(dir, "fixed"), "yes\n");
        run_meta(args, &r);
        HIL_EXPECT(r.code == 0 && st_has(&r, "Passed   health.b0") && st_has(&r, "Passed   x") &&
                       st_has(&r, "2 passed, 0 failed"),
                   "exit %d:\n%s", r.code, r.out);
        st_result_free(&r);
    }
    HIL_ASSERT_OK(hil_lab_state_load(lab, "b0", &bs));
    HIL_EXPECT(!bs.quarantined && bs.streak == 0 && !strcmp(bs.last_result, "passed"),
               "quarantined %d streak %u last %s", bs.quarantined, bs.streak, bs.last_result);
    /* an operator's quarantine and unquarantine */
    {
        const char* q[] = {"lab", "quarantine", "b0", "--reason", "usb hub flaky", "--lab-state", state, NULL};
        const char* q2[] = {"lab", "quarantine", "b0", "--lab-state", state, NULL};
        const char* u[] = {"lab", "unquarantine", "b0", "--lab-state", state, NULL};
        run_meta(q2, &r);
        HIL_EXPECT(r.code == 2 && st_has(&r, "--reason"), "%s", r.out);
        st_result_free(&r);
        run_meta(q, &r);
        HIL_EXPECT(r.code == 0, "%s", r.out);
        st_result_free(&r);
        HIL_ASSERT_OK(hil_lab_state_load(lab, "b0", &bs));
        HIL_EXPECT(bs.quarantined && !strcmp(bs.reason, "usb hub flaky"), "%d %s", bs.quarantined, bs.reason);
        run_meta(u, &r);
        HIL_EXPECT(r.code == 0, "%s", r.out);
        st_result_free(&r);
        HIL_ASSERT_OK(hil_lab_state_load(lab, "b0", &bs));
        HIL_EXPECT(!bs.quarantined, "still quarantined");
    }
    hil_lab_close(lab);
}

/* acquire/release run around each use of a board; a failing acquire is the
 * lab's failure: retried on another board, never a failed test. */
HIL_TEST_META(lab_ops, reservation_hooks_and_a_failing_acquire, "timeout=60") {
    const char* dir = dir_for("lab-hooks");
    const char* conf = in(dir, "lab.conf");
    const char* sched[] = {"schedule", "-c", conf, "--runs", in(dir, "runs"), "--lab-state", in(dir, "state"),
                           "--color=never", NULL};
    char text[2048], *log, *json;
    st_result r;
    snprintf(text, sizeof text,
             "resources.b0.type = T\n"
             "resources.b0.acquire = sh -c \"echo acquire {board} {run} >> %s/hooks.log\"\n"
             "resources.b0.release = sh -c \"echo release {board} {run} >> %s/hooks.log\"\n"
             "resources.b1.type = T\n"
             "resources.b1.acquire = sh -c \"echo place b1 is reserved by someone else; exit 1\"\n"
             "runs.h.command = sh -c \"echo using {dut} >> %s/hooks.log\"\n"
             "runs.h.roles.dut.resource = b0\n"
             "runs.r.command = true\nruns.r.roles.dut.resource = b1\n",
             dir, dir, dir);
    write_text(conf, text);
    run_meta(sched, &r);
    log = st_read(in(dir, "hooks.log"));
    HIL_EXPECT(log && !strcmp(log, "acquire b0 h\nusing b0\nrelease b0 h\n"), "hooks.log:\n%s", log ? log : "");
    free(log);
    json = st_read(in(dir, "runs/latest/results.json"));
    HIL_ASSERT(json != NULL);
    /* r needs b1 only: Blocked as a failure of the lab (the acquire's
     * output in its log); nothing is Failed */
    HIL_EXPECT(strstr(json, "a failure of the lab, not of a test: resources.b1.acquire") != NULL, "%s", json);
    HIL_EXPECT(strstr(json, "\"Failed\"") == NULL, "a failing acquire counted as a test failure:\n%s", json);
    HIL_EXPECT(st_has(&r, "acquire.b1.r  Skipped") && st_has(&r, "r             Blocked"), "%s", r.out);
    log = st_read(in(dir, "runs/latest/TaskLog.acquire.b1.r"));
    HIL_EXPECT(log && strstr(log, "place b1 is reserved by someone else"), "the acquire's output is not in its log:\n%s",
               log ? log : "");
    free(log);
    free(json);
    st_result_free(&r);
}

/* The state file's parser: whole lines only, a torn end skipped. */
HIL_TEST(lab_ops, state_file_round_trip_and_torn_file) {
    hil_lab_board_state st, back;
    hil_strbuf sb = {0, 0, 0, 0};
    size_t bad = 0;
    hil_lab_board_state_init(&st);
    st.quarantined = 1;
    st.quarantined_ns = 1700000000000000000LL;
    snprintf(st.reason, sizeof st.reason, "usb\nhub flaky");
    st.streak = 3;
    snprintf(st.last_result, sizeof st.last_result, "error");
    snprintf(st.last_run, sizeof st.last_run, "standard[PICO_W]");
    st.last_ns = 1700000000000000001LL;
    st.n_events = 1;
    st.events[0].wall_ns = 5;
    snprintf(st.events[0].kind, sizeof st.events[0].kind, "infra");
    snprintf(st.events[0].text, sizeof st.events[0].text, "flash failed");
    HIL_ASSERT_OK(hil_lab_state_format(&st, &sb));
    HIL_ASSERT_OK(hil_lab_state_parse(sb.data, sb.len, &back, &bad), "%s", hil_sb_cstr(&sb));
    HIL_EXPECT(back.quarantined && !strcmp(back.reason, "usb hub flaky") && back.streak == 3 &&
                   !strcmp(back.last_run, "standard[PICO_W]") && back.n_events == 1 &&
                   !strcmp(back.events[0].text, "flash failed"),
               "%s", hil_sb_cstr(&sb));
    /* torn in its last line: what is whole is kept */
    HIL_EXPECT(hil_lab_state_parse(sb.data, sb.len - 4, &back, &bad) == HIL_ERR_INVALID_ARG);
    HIL_EXPECT(back.quarantined && back.streak == 3 && back.n_events == 0 && bad == 5, "bad line %zu", bad);
    /* not a state file at all: nothing */
    HIL_EXPECT(hil_lab_state_parse("streak 9\n", 9, &back, NULL) == HIL_ERR_INVALID_ARG && back.streak == 0);
    hil_sb_free(&sb);
}

/* Board names become file names: a path is refused with what to do. */
HIL_TEST(lab_ops, board_names_that_cannot_name_a_lock_are_refused) {
    hil_lab* lab;
    HIL_ASSERT_OK(hil_lab_open(st_path("lab-names"), &lab));
    HIL_EXPECT(hil_lab_try_lock(lab, "../etc/passwd", "x", 0, NULL) == HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "cannot name a lock file"), "%s", hil_last_error());
    HIL_EXPECT_OK(hil_lab_try_lock(lab, "pico_1+2", "x", 0, NULL));
    HIL_EXPECT(hil_lab_try_lock(lab, "pico_1+2", "y", 0, NULL) == HIL_ERR_BUSY);
    HIL_EXPECT_OK(hil_lab_unlock(lab, "pico_1+2"));
    hil_lab_close(lab);
}

/* The C example of docs/lab.md does what the document says. */
HIL_TEST(lab_ops, the_documented_example) {
    char path[512];
    st_result r;
    const char* dir = st_path("lab-doc");
    const char* a[] = {path, dir, NULL};
    snprintf(path, sizeof path, "%s/doc-examples/lab_lock", st_build_dir());
    if (access(path, X_OK) != 0) HIL_FAIL("%s is missing: run make (it extracts docs/*.md examples)", path);
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT(r.code == 0 && st_has(&r, "pico1: taken\npico1: last passed (bring-up by hand), streak 0\n"), "%s",
               r.out);
    st_result_free(&r);
}
