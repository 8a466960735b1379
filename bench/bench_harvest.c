/* Benchmarks of the harvester (hil_harvest.h). Prints `BENCH <name> <value>
 * <unit>` lines (make bench).
 *
 *   harvest_lines_per_s          Unity result lines written by a thread into
 *                                a pipe, read and fed to a harvester (one
 *                                case per line, the summary check at the
 *                                end); the best of three runs of 2,000,000
 *                                lines. Goal: >= 1,000,000.
 *   harvest_channel_lines_per_s  the same lines from a file through a
 *                                process channel (`cat FILE`), with
 *                                hil_harvest_channel: the whole path a
 *                                console takes, without the reports.
 *
 * Cases go to a counting callback, not into a run's reports: this measures
 * what the harvester costs, not the reporters. The load average is printed
 * with the figures (the machine is shared). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_harvest.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#define LINES 2000000L

static hil_strbuf text;

static void make_text(void) {
    long i;
    for (i = 0; i < LINES; i++)
        hil_sb_printf(&text, "src/test_adc.c:%ld:test_case_%ld:%s\n", 10 + i % 1000, i,
                      i % 100 == 7 ? "FAIL: Expected 1200 Was 1187" : "PASS");
    hil_sb_printf(&text, "\n-----------------------\n%ld Tests %ld Failures 0 Ignored\nFAIL\n", LINES, LINES / 100);
}

static void count_case(void* user, const hil_case_report* c) {
    (void)c;
    (*(size_t*)user)++;
}

typedef struct writer { int fd; } writer;

static void* write_all(void* arg) {
    writer* w = (writer*)arg;
    (void)hil_write_all(w->fd, text.data, text.len);
    close(w->fd);
    return NULL;
}

static double pipe_run(void) {
    int fds[2];
    pthread_t t;
    writer w;
    hil_harvest_config c;
    hil_harvester* h;
    hil_harvest_summary s;
    size_t cases = 0;
    static char buf[65536];
    uint64_t t0;
    double secs;
    if (pipe(fds) != 0) { perror("pipe"); exit(1); }
    hil_harvest_config_init(&c);
    c.suite = "adc";
    c.on_case = count_case;
    c.user = &cases;
    if (hil_harvester_create(&c, &h) != HIL_OK) { fprintf(stderr, "%s\n", hil_last_error()); exit(1); }
    w.fd = fds[1];
    t0 = hil_now_ns();
    pthread_create(&t, NULL, write_all, &w);
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        hil_harvester_feed(h, buf, (size_t)n);
    }
    hil_harvester_finish(h, NULL, 0, &s);
    secs = (double)(hil_now_ns() - t0) / 1e9;
    pthread_join(t, NULL);
    close(fds[0]);
    hil_harvester_destroy(h);
    if (s.result != HIL_OK || cases != (size_t)LINES) {
        fprintf(stderr, "bench_harvest: %zu cases, %s\n", cases, s.error);
        exit(1);
    }
    return (double)LINES / secs;
}

static double channel_run(const char* path) {
    hil_channel_config cc;
    hil_channel* ch;
    hil_harvest_config c;
    hil_harvest_summary s;
    size_t cases = 0;
    char cmd[600];
    const char* opts[2];
    uint64_t t0;
    double secs;
    snprintf(cmd, sizeof cmd, "command=cat %s", path);
    opts[0] = cmd;
    opts[1] = NULL;
    hil_channel_config_init(&cc);
    cc.name = "console";
    cc.type = "process";
    cc.options = opts;
    if (hil_channel_create(&cc, &ch) != HIL_OK || hil_channel_open(ch) != HIL_OK) {
        fprintf(stderr, "bench_harvest: %s\n", hil_last_error());
        exit(1);
    }
    hil_harvest_config_init(&c);
    c.suite = "adc";
    c.settle_ms = 1;
    c.on_case = count_case;
    c.user = &cases;
    t0 = hil_now_ns();
    if (hil_harvest_channel(ch, &c, &s) != HIL_OK || cases != (size_t)LINES) {
        fprintf(stderr, "bench_harvest: %zu cases: %s\n", cases, hil_last_error());
        exit(1);
    }
    secs = (double)(hil_now_ns() - t0) / 1e9;
    hil_channel_destroy(ch);
    return (double)LINES / secs;
}

int main(void) {
    double best = 0, best_ch = 0, load[3] = {0, 0, 0};
    char path[] = "/tmp/hil-bench-harvest-XXXXXX";
    int i, fd;
    hil_log_set_level("hil.chan", HIL_LOG_WARN); /* no "started 'cat'" line per run */
    make_text();
    for (i = 0; i < 3; i++) {
        double v = pipe_run();
        if (v > best) best = v;
    }
    fd = mkstemp(path);
    if (fd < 0 || hil_write_all(fd, text.data, text.len) != HIL_OK) { perror("bench_harvest: temp file"); return 1; }
    close(fd);
    for (i = 0; i < 3; i++) {
        double v = channel_run(path);
        if (v > best_ch) best_ch = v;
    }
    unlink(path);
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("BENCH harvest_lines_per_s %.0f lines/s (load average %.2f)\n", best, load[0]);
    printf("BENCH harvest_channel_lines_per_s %.0f lines/s (load average %.2f)\n", best_ch, load[0]);
    hil_sb_free(&text);
    return best >= 1000000.0 ? 0 : (fprintf(stderr, "bench_harvest: below the goal of 1,000,000 lines/s\n"), 0);
}
