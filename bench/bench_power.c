/* Power auxiliary benchmarks (hil_aux.h, section power). Prints only
 * "BENCH <name> <value> <unit>".
 *
 *   power_scpi_measure_p50   one MEAS:VOLT? round trip through
 *                            hil_power_measure(psu, &v, NULL, ...): the
 *                            auxiliary's command hand-off, the query, the
 *                            reply line, the parse; against the SIMULATED
 *                            supply (build/meta/scpi_sim) over TCP on
 *                            127.0.0.1, the only supply this machine has
 *   power_scpi_measure_p99   the same, 99th percentile
 *   power_scpi_tcp_floor_p50 the same query and reply on a plain blocking
 *                            socket: what the auxiliary adds is the difference
 *
 * A real supply answers in milliseconds (its own measurement time); this
 * measures hil's overhead, not an instrument. */
#define _GNU_SOURCE
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static int cmp_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

static void die(const char* what) {
    fprintf(stderr, "bench_power: %s: %s\n", what, hil_last_error());
    exit(1);
}

int main(void) {
    const char* build = getenv("BUILD");
    char sim_path[512], buf[256], port_opt[32];
    const char* argv[2];
    const char* copts[] = {"host=127.0.0.1", port_opt, NULL};
    const char* aopts[] = {"power_type=scpi", NULL};
    hil_proc_config pc;
    hil_proc sim;
    hil_channel_config cc;
    hil_channel* ch = NULL;
    hil_aux_config ac;
    hil_aux* psu = NULL;
    size_t have = 0;
    int port = 0, i, n = 2000;
    uint64_t* lat = (uint64_t*)malloc(sizeof(uint64_t) * (size_t)n);
    double v;
    snprintf(sim_path, sizeof sim_path, "%s/meta/scpi_sim", build && *build ? build : "build");
    argv[0] = sim_path;
    argv[1] = NULL;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.pipe_stdin = 1;
    pc.pipe_stdout = 1;
    pc.die_with_parent = 1;
    if (!lat || hil_proc_spawn(&sim, &pc) != HIL_OK) die(sim_path);
    while (!memchr(buf, '\n', have)) {
        struct pollfd pf;
        ssize_t got;
        pf.fd = sim.stdout_fd;
        pf.events = POLLIN;
        if (poll(&pf, 1, 5000) != 1) die("scpi_sim printed no port");
        got = read(sim.stdout_fd, buf + have, sizeof buf - 1 - have);
        if (got <= 0) die("scpi_sim ended");
        have += (size_t)got;
        buf[have] = 0;
    }
    if (sscanf(buf, "scpi_sim: port %d", &port) != 1) die("scpi_sim's first line");
    snprintf(port_opt, sizeof port_opt, "port=%d", port);
    (void)hil_log_set_level("", HIL_LOG_WARN);
    hil_channel_config_init(&cc);
    cc.name = "psu_lan";
    cc.type = "tcp";
    cc.options = copts;
    if (hil_channel_create(&cc, &ch) != HIL_OK) die("tcp channel");
    hil_aux_config_init(&ac);
    ac.name = "psu";
    ac.type = "power";
    ac.com = ch;
    ac.options = aopts;
    if (hil_aux_create(&ac, &psu) != HIL_OK) die("power auxiliary");
    for (i = 0; i < 100; i++)
        if (hil_power_measure(psu, &v, NULL, 2000) != HIL_OK) die("warm-up");
    for (i = 0; i < n; i++) {
        uint64_t t0 = hil_now_ns();
        if (hil_power_measure(psu, &v, NULL, 2000) != HIL_OK) die("hil_power_measure");
        lat[i] = hil_now_ns() - t0;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
    printf("BENCH power_scpi_measure_p50 %.1f us\n", lat[n / 2] / 1e3);
    printf("BENCH power_scpi_measure_p99 %.1f us\n", lat[n * 99 / 100] / 1e3);
    hil_aux_destroy(psu);
    {
        /* the floor: the same exchange on a bare socket */
        struct sockaddr_in sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((unsigned short)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || connect(fd, (struct sockaddr*)&sa, sizeof sa) != 0) die("connect");
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (i = 0; i < n + 100; i++) {
            uint64_t t0 = hil_now_ns();
            size_t got = 0;
            if (write(fd, "MEAS:VOLT?\n", 11) != 11) die("write");
            while (!got || buf[got - 1] != '\n') {
                ssize_t k = read(fd, buf + got, sizeof buf - got);
                if (k <= 0) die("read");
                got += (size_t)k;
            }
            if (i >= 100) lat[i - 100] = hil_now_ns() - t0;
        }
        close(fd);
        qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
        printf("BENCH power_scpi_tcp_floor_p50 %.1f us\n", lat[n / 2] / 1e3);
    }
    close(sim.stdin_fd);
    sim.stdin_fd = -1;
    hil_proc_wait(&sim, 5000);
    hil_proc_close(&sim);
    free(lat);
    return 0;
}
