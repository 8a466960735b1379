/* UDS client benchmark on the host: ReadDataByIdentifier round trips of the
 * uds auxiliary (hil_uds.h) against the ECU simulator (examples/ecu-sim)
 * over its stdin/stdout (a process channel, framing = length). What the
 * client, the auxiliary's worker and two pipes cost; the figure over the
 * kernel's ISO-TP on an emulated CAN bus is make bench-vm's
 * uds_rdbi_rtt_p50. Prints "BENCH <name> <value> <unit>" and the load.
 *
 *   uds_rdbi_rtt_host_p50   22 F1 90 -> 62 F1 90 + 17 bytes, median of 2000
 *   uds_rdbi_rtt_host_p99   the same, 99th percentile
 */
#define _GNU_SOURCE
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_probe.h"
#include "hil_uds.h"
#include <stdlib.h>

static int cmp_d(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    const char* build = getenv("BUILD");
    char cmd[600];
    const char* copts[] = {cmd, "framing=length", NULL};
    const char* aopts[] = {"margin_ms=2000", NULL};
    hil_channel_config cc;
    hil_channel* ch = NULL;
    hil_aux_config c;
    hil_aux* a = NULL;
    enum { N = 2000 };
    static double ms[N];
    unsigned char buf[64];
    size_t n;
    double load[3] = {0, 0, 0};
    int i;
    snprintf(cmd, sizeof cmd, "command=%s/ecu-sim/ecu-sim --stdio", build && *build ? build : "build");
    hil_channel_config_init(&cc);
    cc.name = "bench_ecu";
    cc.type = "process";
    cc.options = copts;
    hil_aux_config_init(&c);
    c.name = "bench_uds";
    c.type = "uds";
    c.options = aopts;
    if (hil_channel_create(&cc, &ch) != HIL_OK) {
        fprintf(stderr, "bench_uds: %s\n", hil_last_error());
        return 1;
    }
    c.com = ch;
    if (hil_aux_create(&c, &a) != HIL_OK) {
        fprintf(stderr, "bench_uds: %s (make build/ecu-sim/ecu-sim)\n", hil_last_error());
        return 1;
    }
    for (i = 0; i < 100; i++) /* warm up: the simulator's first pages, the worker */
        if (hil_uds_read_did(a, 0xF190, buf, sizeof buf, &n) != HIL_OK) break;
    for (i = 0; i < N; i++) {
        uint64_t t0 = hil_now_ns();
        if (hil_uds_read_did(a, 0xF190, buf, sizeof buf, &n) != HIL_OK || n != 17) {
            fprintf(stderr, "bench_uds: request %d: %s\n", i, hil_last_error());
            hil_aux_destroy(a);
            return 1;
        }
        ms[i] = (double)(hil_now_ns() - t0) / 1e6;
    }
    hil_aux_destroy(a);
    qsort(ms, N, sizeof ms[0], cmp_d);
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("BENCH uds_rdbi_rtt_host_p50 %.1f us\n", ms[N / 2] * 1000);
    printf("BENCH uds_rdbi_rtt_host_p99 %.1f us\n", ms[N * 99 / 100] * 1000);
    printf("bench: uds_rdbi_rtt_host: %d ReadDataByIdentifier over pipes to build/ecu-sim, load average %.2f\n", N, load[0]);
    return 0;
}
