/* bench/bench_lab.c - lab operations (hil_runner.h part 3, docs/lab.md).
 *
 *   BENCH lab_lock_acquire_p50      take and give back a free board
 *                                   (hil_lab_try_lock + hil_lab_unlock), µs
 *   BENCH lab_two_schedules_ratio   two `schedule` processes sharing a lab
 *                                   of three simulated boards, each with half
 *                                   the work, from the first start to the
 *                                   last end, over one process running both
 *                                   halves (goal <= 1.10)
 *
 * The boards are simulated: each run is `sleep D` (0.2 to 0.6 s), so the
 * makespans are the scheduling and the waiting for each other, not test
 * code. Every figure is the median of a few repetitions; the machine's load
 * average is printed beside them, since other builds share its cores.
 *
 *   build/bench/bench_lab [-n REPS]
 */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void load_average(void) {
    char buf[128] = "";
    FILE* f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("# load average: %s (2 cores shared with other builds)\n", buf);
}

static double lock_p50(const char* dir) {
    enum { N = 2000 };
    static double v[N];
    hil_lab* lab;
    int i;
    if (hil_lab_open(dir, &lab) != HIL_OK) {
        fprintf(stderr, "bench_lab: %s\n", hil_last_error());
        exit(1);
    }
    for (i = 0; i < N; i++) {
        uint64_t t0 = hil_now_ns();
        if (hil_lab_try_lock(lab, "board1", "bench", 0, NULL) != HIL_OK || hil_lab_unlock(lab, "board1") != HIL_OK) {
            fprintf(stderr, "bench_lab: %s\n", hil_last_error());
            exit(1);
        }
        v[i] = (double)(hil_now_ns() - t0) / 1e3;
    }
    hil_lab_close(lab);
    return median(v, N);
}

/* The lab: three boards of one type; runs <p>0..<p>(n-1) with durations
 * cycling through 0.6 0.5 0.4 0.3 0.2 s. */
static void lab_text(char* out, size_t size, const char* const* prefixes, int n_prefix, int runs) {
    static const double d[] = {0.6, 0.5, 0.4, 0.3, 0.2};
    size_t n = 0;
    int p, i;
    n += (size_t)snprintf(out + n, size - n, "resources.b0.type = T\nresources.b1.type = T\nresources.b2.type = T\n");
    for (p = 0; p < n_prefix; p++)
        for (i = 0; i < runs; i++)
            n += (size_t)snprintf(out + n, size - n,
                                  "runs.%s%d.command = sleep %.1f\nruns.%s%d.roles.dut.type = T\n"
                                  "runs.%s%d.expected = %.1f\n",
                                  prefixes[p], i, d[i % 5], prefixes[p], i, prefixes[p], i, d[i % 5]);
}

/* A schedule in a child process (fork: the bench is single-threaded here). */
static pid_t schedule_child(const char* text, const char* runs_dir, const char* state) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        hil_config* cfg = NULL;
        hil_schedule_config c;
        hil_schedule_summary sum;
        if (hil_config_create(&cfg) != HIL_OK || hil_config_load_kv(cfg, text, "lab", HIL_PRIO_FILE) != HIL_OK) _exit(3);
        hil_schedule_config_init(&c);
        c.config = cfg;
        c.runs_dir = runs_dir;
        c.lab_state = state;
        c.history = "";
        c.console = HIL_JOB_CONSOLE_SILENT;
        if (hil_schedule_exec(&c, &sum) != HIL_OK) {
            fprintf(stderr, "bench_lab: schedule: %s\n", hil_last_error());
            _exit(4);
        }
        _exit(sum.exit_code);
    }
    return pid;
}

static void reap(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_lab: a schedule failed (status %d)\n", st);
        exit(1);
    }
}

int main(int argc, char** argv) {
    char dir[] = "/tmp/hil-bench-lab-XXXXXX", state[600], runs[600], cmd[700];
    static char one[16384], half_a[8192], half_b[8192];
    static const char* const both[] = {"a", "b"};
    static const char* const pa[] = {"a"};
    static const char* const pb[] = {"b"};
    double ones[9], twos[9], ratio[9];
    int reps = 3, r;
    if (argc == 3 && strcmp(argv[1], "-n") == 0) reps = atoi(argv[2]);
    if (reps < 1 || reps > 9) reps = 3;
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(state, sizeof state, "%s/lab", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    load_average();
    printf("BENCH lab_lock_acquire_p50 %.2f us\n", lock_p50(state));
    fflush(stdout);
    lab_text(one, sizeof one, both, 2, 6);
    lab_text(half_a, sizeof half_a, pa, 1, 6);
    lab_text(half_b, sizeof half_b, pb, 1, 6);
    for (r = 0; r < reps; r++) {
        uint64_t t0 = hil_now_ns();
        pid_t a, b;
        reap(schedule_child(one, runs, state));
        ones[r] = (double)(hil_now_ns() - t0) / 1e9;
        t0 = hil_now_ns();
        a = schedule_child(half_a, runs, state);
        b = schedule_child(half_b, runs, state);
        reap(a);
        reap(b);
        twos[r] = (double)(hil_now_ns() - t0) / 1e9;
        ratio[r] = twos[r] / ones[r];
    }
    printf("# one process, 12 runs (4.8 s of work) on 3 boards: %.3f s; two processes, 6 runs each: %.3f s "
           "(medians of %d)\n",
           median(ones, reps), median(twos, reps), reps);
    printf("BENCH lab_two_schedules_ratio %.3f x\n", median(ratio, reps));
    load_average();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_lab: could not remove %s\n", dir);
    return 0;
}
