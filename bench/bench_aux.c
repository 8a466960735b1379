/* Auxiliary benchmarks: the floors of this machine (a blocking hand-off
 * between two threads, between two processes) and the auxiliaries measured
 * in the same run against them. Prints only "BENCH <name> <value> <unit>".
 *
 * The required figures are measured with the whole program on one CPU
 * (sched_setaffinity): on these VMs a wake-up on the other, idle CPU costs
 * 25-60 us against 1.6 us on the same CPU, and whether the scheduler puts
 * two threads on one CPU or two changes from run to run, so free placement
 * makes floors and auxiliaries incomparable. Pinned, each blocking hand-off
 * costs the same for both and the ratio measures the auxiliary's own work.
 * The unpinned and two-CPU figures follow, for the record.
 *
 *   limit_thread_pingpong_p50   two threads pass a token (eventfd, blocking), per round trip
 *   limit_process_pingpong_p50  two processes over a socketpair, per round trip
 *   aux_rtt_thread_p50/_p99     communication auxiliary on a loopback channel:
 *                               send_message + receive_message of the echo
 *   aux_rtt_process_p50         the same, process backend
 *   aux_throughput_thread       pipelined: one thread sends, one receives
 *   aux_create_delete_thread    create (started) + delete, median
 *   aux_create_delete_process   the same, process backend
 *   aux_proxy2_rtt_p50          two auxiliaries share the loopback through a proxy
 *   *_free_*                    the same, unpinned (the scheduler places the threads)
 *   limit_thread_pingpong_2cpu_p50  the two threads pinned to different CPUs
 *   aux_rtt_thread_spin_free_p50    unpinned with spin_us=50 (off by default)
 */
#define _GNU_SOURCE
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sched.h>

static int cmp_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

static double pct(uint64_t* v, size_t n, double p) {
    size_t i = (size_t)(p * (double)(n - 1));
    qsort(v, n, sizeof *v, cmp_u64);
    return (double)v[i] / 1000.0;
}

static void die(const char* what) {
    fprintf(stderr, "bench_aux: %s: %s\n", what, hil_last_error());
    exit(1);
}

/* ---- floors ------------------------------------------------------------------ */

static int ping_fd, pong_fd;
static int floor_rounds, pong_cpu = -1;

static void pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void* pong_thread(void* arg) {
    uint64_t v;
    int i;
    (void)arg;
    if (pong_cpu >= 0) pin_self(pong_cpu);
    for (i = 0; i < floor_rounds; i++) {
        if (read(ping_fd, &v, 8) != 8) break;
        v = 1;
        if (write(pong_fd, &v, 8) != 8) break;
    }
    return NULL;
}

static double floor_thread(int n, uint64_t* lat) {
    pthread_t t;
    int i;
    ping_fd = eventfd(0, 0);
    pong_fd = eventfd(0, 0);
    floor_rounds = n;
    pthread_create(&t, NULL, pong_thread, NULL);
    for (i = 0; i < n; i++) {
        uint64_t v = 1, t0 = hil_now_ns();
        if (write(ping_fd, &v, 8) != 8 || read(pong_fd, &v, 8) != 8) break;
        lat[i] = hil_now_ns() - t0;
    }
    pthread_join(t, NULL);
    close(ping_fd);
    close(pong_fd);
    return pct(lat, (size_t)n, 0.5);
}

static double floor_process(int n, uint64_t* lat) {
    int sv[2], pid, i;
    char b = 'x';
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        while (read(sv[1], &b, 1) == 1)
            if (write(sv[1], &b, 1) != 1) break;
        _exit(0);
    }
    close(sv[1]);
    for (i = 0; i < n; i++) {
        uint64_t t0 = hil_now_ns();
        if (write(sv[0], &b, 1) != 1 || read(sv[0], &b, 1) != 1) break;
        lat[i] = hil_now_ns() - t0;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    return pct(lat, (size_t)n, 0.5);
}

/* ---- auxiliaries --------------------------------------------------------------------- */

static hil_channel* loopback(const char* name) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "loopback";
    if (hil_channel_create(&c, &ch) != HIL_OK) die("loopback");
    return ch;
}

static hil_aux* com(const char* name, hil_aux_backend b, hil_channel* ch, const char* const* opts) {
    hil_aux_config c;
    hil_aux* a = NULL;
    hil_aux_config_init(&c);
    c.name = name;
    c.type = "communication";
    c.backend = (int)b;
    c.com = ch;
    c.options = opts;
    if (hil_aux_create(&c, &a) != HIL_OK) die("create");
    return a;
}

static void rtt(hil_aux* a, hil_aux* also, int n, uint64_t* lat) {
    char msg[16] = "0123456789abcdef", buf[64];
    int i;
    for (i = -200; i < n; i++) { /* 200 warm-up rounds */
        hil_msg m;
        uint64_t t0 = hil_now_ns();
        if (hil_aux_send_bytes(a, msg, sizeof msg, 1000) != HIL_OK) die("send");
        hil_msg_init(&m, buf, sizeof buf);
        if (hil_aux_receive_message(a, &m, 5000) != HIL_OK) die("receive");
        if (i >= 0) lat[i] = hil_now_ns() - t0;
        if (also) {
            hil_msg_init(&m, buf, sizeof buf);
            if (hil_aux_receive_message(also, &m, 5000) != HIL_OK) die("receive (second auxiliary)");
        }
    }
}

typedef struct sender { hil_aux* a; int n; } sender;

static void* send_all(void* arg) {
    sender* s = (sender*)arg;
    int i;
    for (i = 0; i < s->n; i++)
        if (hil_aux_send_bytes(s->a, "0123456789abcdef", 16, 5000) != HIL_OK) die("send");
    return NULL;
}

static double throughput(int n) {
    const char* opts[] = {"queue_size=4096", NULL};
    hil_aux* a = com("tput", HIL_AUX_THREAD, loopback("lb"), opts);
    sender s;
    pthread_t t;
    char buf[64];
    int i;
    uint64_t t0;
    s.a = a;
    s.n = n;
    t0 = hil_now_ns();
    pthread_create(&t, NULL, send_all, &s);
    for (i = 0; i < n; i++) {
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf);
        if (hil_aux_receive_message(a, &m, 5000) != HIL_OK) die("receive");
    }
    pthread_join(t, NULL);
    t0 = hil_now_ns() - t0;
    hil_aux_destroy(a);
    return (double)n / ((double)t0 / 1e9);
}

static double create_delete(hil_aux_backend b, int n, uint64_t* lat) {
    int i;
    for (i = 0; i < n; i++) {
        uint64_t t0 = hil_now_ns();
        hil_aux* a = com("cd", b, loopback("lb"), NULL);
        hil_aux_destroy(a);
        lat[i] = hil_now_ns() - t0;
    }
    return pct(lat, (size_t)n, 0.5);
}

static double proxy2(int n, uint64_t* lat) {
    hil_aux_config c;
    hil_aux *px = NULL, *a1, *a2;
    hil_channel *p1, *p2;
    double v;
    hil_aux_config_init(&c);
    c.name = "px";
    c.type = "proxy";
    c.com = loopback("lb");
    if (hil_aux_create(&c, &px) != HIL_OK) die("proxy");
    if (hil_proxy_channel_create(px, "lb@a1", &p1) != HIL_OK || hil_proxy_channel_create(px, "lb@a2", &p2) != HIL_OK)
        die("proxy channel");
    a1 = com("a1", HIL_AUX_THREAD, p1, NULL);
    a2 = com("a2", HIL_AUX_THREAD, p2, NULL);
    rtt(a1, a2, n, lat);
    v = pct(lat, (size_t)n, 0.5);
    hil_aux_destroy(a1);
    hil_aux_destroy(a2);
    hil_aux_destroy(px);
    return v;
}

static double rtt_p(hil_aux_backend b, const char* const* opts, int n, uint64_t* lat, double* p99) {
    hil_aux* a = com("rtt", b, loopback("lb"), opts);
    double v;
    rtt(a, NULL, n, lat);
    v = pct(lat, (size_t)n, 0.5);
    if (p99) *p99 = pct(lat, (size_t)n, 0.99);
    hil_aux_destroy(a);
    return v;
}

int main(void) {
    enum { N = 20000 };
    static uint64_t lat[N];
    const char* spin[] = {"spin_us=50", NULL};
    double v, p99;
    cpu_set_t all;
    int cpu = sched_getcpu();
    hil_log_set_level(NULL, HIL_LOG_WARN);
    sched_getaffinity(0, sizeof all, &all);

    pin_self(cpu < 0 ? 0 : cpu);
    printf("BENCH limit_thread_pingpong_p50 %.2f us\n", floor_thread(N, lat));
    printf("BENCH limit_process_pingpong_p50 %.2f us\n", floor_process(N, lat));
    v = rtt_p(HIL_AUX_THREAD, NULL, N, lat, &p99);
    printf("BENCH aux_rtt_thread_p50 %.2f us\n", v);
    printf("BENCH aux_rtt_thread_p99 %.2f us\n", p99);
    printf("BENCH aux_rtt_process_p50 %.2f us\n", rtt_p(HIL_AUX_PROCESS, NULL, N, lat, NULL));
    printf("BENCH aux_throughput_thread %.0f msg/s\n", throughput(500000));
    printf("BENCH aux_create_delete_thread %.1f us\n", create_delete(HIL_AUX_THREAD, 300, lat));
    printf("BENCH aux_create_delete_process %.1f us\n", create_delete(HIL_AUX_PROCESS, 200, lat));
    printf("BENCH aux_proxy2_rtt_p50 %.2f us\n", proxy2(N, lat));

    /* for the record: where the scheduler puts things, and two CPUs */
    sched_setaffinity(0, sizeof all, &all);
    printf("BENCH limit_thread_pingpong_free_p50 %.2f us\n", floor_thread(N, lat));
    printf("BENCH limit_process_pingpong_free_p50 %.2f us\n", floor_process(N, lat));
    printf("BENCH aux_rtt_thread_free_p50 %.2f us\n", rtt_p(HIL_AUX_THREAD, NULL, N, lat, NULL));
    printf("BENCH aux_rtt_thread_spin_free_p50 %.2f us\n", rtt_p(HIL_AUX_THREAD, spin, N, lat, NULL));
    printf("BENCH aux_rtt_process_free_p50 %.2f us\n", rtt_p(HIL_AUX_PROCESS, NULL, N, lat, NULL));
    if (CPU_COUNT(&all) > 1) {
        int other = 0;
        cpu = sched_getcpu();
        while (other < CPU_SETSIZE && (other == cpu || !CPU_ISSET(other, &all))) other++;
        pin_self(cpu);
        pong_cpu = other;
        printf("BENCH limit_thread_pingpong_2cpu_p50 %.2f us\n", floor_thread(N, lat));
        pong_cpu = -1;
    }
    return 0;
}
