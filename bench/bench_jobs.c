/* Jobs and tasks: what a task costs and how soon a job's first task runs.
 *
 *   job_task_overhead_seq   a job of 100 trivial test tasks, one after the
 *                           other (hil_run): ms per task (fork of the task,
 *                           which runs its one test itself, result stream,
 *                           TaskLog)
 *   job_log_create_floor    what the file system takes of that: creating,
 *                           writing a line to and closing a new file in a
 *                           fresh directory beside the job's runs, as a task
 *                           makes its TaskLog (us per file)
 *   job_task_overhead_par8  the same 100 tasks, 8 at a time: ms per task
 *   job_task_overhead_cmd   100 command tasks (`true`), one after the other
 *   limit_fork_wait         a bare fork, _exit and waitpid: the floor
 *   job_first_task_start    from hil_job_exec() to the first test running
 *
 * Medians of several runs; the run directories go to a temporary
 * directory that is removed at the end. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define N_TASKS 100

HIL_TEST(bench, noop) {}

/* The first test to run records when it started (the monotonic clock is
 * the same in every process). */
HIL_TEST(bench, mark) {
    hil_shared* s = hil_job_shared();
    long long t;
    if (!s) return;
    hil_shared_lock(s);
    if (hil_shared_get_int(s, "first", &t) == HIL_ERR_NOT_FOUND) hil_shared_set_int(s, "first", (long long)hil_now_ns());
    hil_shared_unlock(s);
}

static double g_result_ms;        /* what the last job measured */
static long long g_first_ns;

static const char* const noop[] = {"bench.noop", NULL};
static const char* const mark[] = {"bench.mark", NULL};

HIL_JOB(bench_seq) {
    hil_task_options o;
    uint64_t t0 = hil_now_ns();
    int i;
    hil_task_options_init(&o);
    o.filters = noop;
    for (i = 0; i < N_TASKS; i++)
        if (hil_run(rt, &o) != HIL_PASSED) hil_job_error(rt, "task %d did not pass", i);
    g_result_ms = (double)(hil_now_ns() - t0) / 1e6 / N_TASKS;
}

HIL_JOB(bench_par8) {
    hil_task_options o;
    hil_task* running[8];
    size_t n = 0, idx;
    uint64_t t0 = hil_now_ns();
    int started = 0;
    hil_task_options_init(&o);
    o.filters = noop;
    while (started < N_TASKS || n > 0) {
        while (n < 8 && started < N_TASKS) {
            hil_task* t;
            if (hil_task_create(rt, &o, &t) != HIL_OK || hil_task_start(t) != HIL_OK) {
                hil_job_error(rt, "%s", hil_last_error());
                return;
            }
            running[n++] = t;
            started++;
        }
        if (hil_task_wait_any(running, n, 60000, &idx) != HIL_OK) {
            hil_job_error(rt, "%s", hil_last_error());
            return;
        }
        if (hil_task_result(running[idx]) != HIL_PASSED) hil_job_error(rt, "a task did not pass");
        running[idx] = running[--n];
    }
    g_result_ms = (double)(hil_now_ns() - t0) / 1e6 / N_TASKS;
}

HIL_JOB(bench_cmd) {
    static const char* const argv[] = {"true", NULL};
    hil_task_options o;
    uint64_t t0 = hil_now_ns();
    int i;
    hil_task_options_init(&o);
    o.argv = argv;
    for (i = 0; i < N_TASKS; i++)
        if (hil_run(rt, &o) != HIL_PASSED) hil_job_error(rt, "command task %d did not pass", i);
    g_result_ms = (double)(hil_now_ns() - t0) / 1e6 / N_TASKS;
}

HIL_JOB(bench_first) {
    hil_task_options o;
    hil_task_options_init(&o);
    o.filters = mark;
    hil_run(rt, &o);
    g_first_ns = 0;
    hil_shared_get_int(rt->shared, "first", &g_first_ns);
}

static char g_runs[256];

static void rm_rf(const char* path) {
    DIR* d = opendir(path);
    struct dirent* e;
    if (!d) { unlink(path); return; }
    while ((e = readdir(d)) != NULL) {
        char p[1024];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        rm_rf(p);
    }
    closedir(d);
    rmdir(path);
}

static int run_job(const char* name, uint64_t* t0) {
    hil_job_config jc;
    hil_job_summary js;
    hil_job_config_init(&jc);
    jc.job = name;
    jc.runs_dir = g_runs;
    jc.console = HIL_JOB_CONSOLE_SILENT;
    *t0 = hil_now_ns();
    if (hil_job_exec(&jc, &js) != HIL_OK || js.exit_code != 0) {
        fprintf(stderr, "bench_jobs: job %s: %s (exit %d, %s)\n", name, hil_last_error(), js.exit_code,
                hil_outcome_str(js.result));
        return 0;
    }
    return 1;
}

/* One round: 100 new files in a fresh directory under the runs, opened,
 * written and closed as hil__task_launch makes a TaskLog. us per file. */
static double log_create_round(int round) {
    char dir[400], path[600], line[200];
    uint64_t t0;
    int i;
    snprintf(dir, sizeof dir, "%s/logfloor-%d", g_runs, round);
    if (mkdir(dir, 0777) != 0) { perror(dir); return -1; }
    t0 = hil_now_ns();
    for (i = 0; i < N_TASKS; i++) {
        int fd, n;
        snprintf(path, sizeof path, "%s/TaskLog.Task-%d", dir, i + 1);
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
        if (fd < 0) { perror(path); return -1; }
        n = snprintf(line, sizeof line, "== Task-%d: tests: filters bench.noop (started 2026-12-05T06:00:00.000Z)\n", i + 1);
        if (write(fd, line, (size_t)n) != n) { perror(path); close(fd); return -1; }
        close(fd);
    }
    return (double)(hil_now_ns() - t0) / 1e3 / N_TASKS;
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* The median of `runs` runs of a job's own figure. */
static int job_figure(const char* job, int runs, double* out) {
    double v[16];
    int i;
    uint64_t t0;
    for (i = 0; i < runs; i++) {
        if (!run_job(job, &t0)) return 0;
        v[i] = g_result_ms;
    }
    *out = median(v, runs);
    return 1;
}

int main(void) {
    double v[32], seq, par, cmd, floor_us[5];
    int i, k;
    const char* tmp = getenv("TMPDIR");
    snprintf(g_runs, sizeof g_runs, "%s/hil-bench-jobs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_runs)) { perror("mkdtemp"); return 1; }

    /* the floor: fork, _exit, waitpid */
    for (k = 0; k < 5; k++) {
        uint64_t t0 = hil_now_ns();
        for (i = 0; i < 1000; i++) {
            int pid = fork(), st;
            if (pid == 0) _exit(0);
            if (pid < 0 || waitpid(pid, &st, 0) != pid) { perror("fork"); return 1; }
        }
        v[k] = (double)(hil_now_ns() - t0) / 1e6 / 1000;
    }
    printf("BENCH limit_fork_wait %.3f ms\n", median(v, 5));
    fflush(stdout);

    /* the file system's part, in rounds between the sequential jobs: the
     * same directory, the same state of its inode allocator */
    for (k = 0; k < 5; k++) {
        uint64_t t0;
        if (!run_job("bench_seq", &t0) || (floor_us[k] = log_create_round(k)) < 0) { rm_rf(g_runs); return 1; }
        v[k] = g_result_ms;
    }
    seq = median(v, 5);
    if (!job_figure("bench_par8", 5, &par) || !job_figure("bench_cmd", 3, &cmd)) {
        rm_rf(g_runs);
        return 1;
    }
    printf("BENCH job_task_overhead_seq %.3f ms\n", seq);
    printf("BENCH job_log_create_floor %.1f us\n", median(floor_us, 5));
    printf("BENCH job_task_overhead_par8 %.3f ms\n", par);
    printf("BENCH job_task_overhead_cmd %.3f ms\n", cmd);
    fflush(stdout);

    for (k = 0; k < 21; k++) {
        uint64_t t0;
        if (!run_job("bench_first", &t0) || g_first_ns <= 0) { rm_rf(g_runs); return 1; }
        v[k] = (double)((uint64_t)g_first_ns - t0) / 1e6;
    }
    printf("BENCH job_first_task_start %.3f ms\n", median(v, 21));
    rm_rf(g_runs);
    return 0;
}
