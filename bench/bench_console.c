/* bench_console: what expect costs over the channel under it.
 *
 *   BENCH expect_match_p50 <v> us        on one loopback channel (what is sent
 *                                        is received): hil_send() of a
 *                                        19-byte prompt, then hil_expect() of
 *                                        a regex for it ("root@[a-z]+:[^#]*# $"):
 *                                        one round trip through the console
 *   BENCH expect_channel_rtt_p50 <v> us  the same channel's plain round trip
 *                                        in the same run: hil_channel_send_bytes
 *                                        of the same bytes, hil_channel_recv
 *
 * Both run in one thread, so the difference is the console's own work
 * (the transcript's log record, the regex, the buffer), not scheduling.
 * The transcript is on, at a level that is not printed: the check whether
 * to log is in the figure, the formatting is not. Median of 5 runs of
 * 20000 round trips each. The load average is printed next to the figures.
 */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_console.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 5
#define N 20000

static void die(const char* what) {
    fprintf(stderr, "bench_console: %s: %s\n", what, hil_last_error());
    exit(1);
}

static int cmp_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static uint64_t t[N];

static double p50(void) {
    qsort(t, N, sizeof t[0], cmp_u64);
    return (double)t[N / 2] / 1000.0;
}

int main(void) {
    static const char prompt[] = "root@board:~/work# ";
    double em[RUNS], rt[RUNS];
    hil_channel_config c;
    hil_channel* ch;
    hil_console* con;
    hil_console_config cc;
    const char* opts[] = {"capacity=64", NULL};
    int r, i;
    char buf[256];
    double load[3] = {0, 0, 0};
    hil_log_set_level("hil.chan", HIL_LOG_WARN);
    hil_log_set_level("hil.console", HIL_LOG_WARN); /* the transcript is checked for, not printed */
    hil_channel_config_init(&c);
    c.name = "lb";
    c.type = "loopback";
    c.options = opts;
    if (hil_channel_create(&c, &ch) != HIL_OK || hil_channel_open(ch) != HIL_OK) die("loopback");
    hil_console_config_init(&cc);
    cc.line_ending = "\\n";
    if (hil_console_create(ch, &cc, &con) != HIL_OK) die("console");
    for (r = 0; r < RUNS; r++) {
        for (i = 0; i < N; i++) {
            uint64_t t0 = hil_now_ns();
            if (hil_send(con, prompt, sizeof prompt - 1, -1) != HIL_OK) die("send");
            if (hil_expect(con, "root@[a-z]+:[^#]*# $", 1000, NULL) != HIL_OK) die("expect");
            t[i] = hil_now_ns() - t0;
        }
        em[r] = p50();
        for (i = 0; i < N; i++) {
            hil_msg m;
            uint64_t t0 = hil_now_ns();
            if (hil_channel_send_bytes(ch, prompt, sizeof prompt - 1, -1) != HIL_OK) die("channel send");
            hil_msg_init(&m, buf, sizeof buf);
            if (hil_channel_recv(ch, &m, 1000) != HIL_OK) die("channel recv");
            t[i] = hil_now_ns() - t0;
        }
        rt[r] = p50();
    }
    hil_console_destroy(con);
    hil_channel_destroy(ch);
    qsort(em, RUNS, sizeof em[0], cmp_double);
    qsort(rt, RUNS, sizeof rt[0], cmp_double);
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("BENCH expect_match_p50 %.2f us\n", em[RUNS / 2]);
    printf("BENCH expect_channel_rtt_p50 %.2f us\n", rt[RUNS / 2]);
    printf("# bench_console: load average %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    return 0;
}
