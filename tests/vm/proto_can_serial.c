/* proto_can_serial: proves the hil VM bench (tests/vm/run.sh) from inside
 * the guest. Plain C99 + POSIX, no test framework; statically linked with
 * libsocketcan and libserialport (see tests/vm/selftest.sh).
 *
 * Checks, each printed as one PASS/FAIL/SKIP line (INFO lines record what
 * the emulation does where there is nothing to pass or fail):
 *   CAN (can0/can1: two emulated SJA1000s on one QEMU can-bus)
 *     bitrate set/read back and ERROR_ACTIVE via libsocketcan; 11-bit,
 *     29-bit and RTR frames can0 -> can1 through a receive filter;
 *     SO_TIMESTAMPNS and SO_TIMESTAMP increase; SO_RXQ_OVFL counts drops;
 *     own-message echo (MSG_CONFIRM); frames/s can0 -> can1;
 *     error frames with no receiver and with a listen-only receiver;
 *     device statistics and error counters; with --rtr-dlc-probe, the
 *     emulation's RTR-with-DLC receive bug (recorded; it breaks can1 for the
 *     rest of the VM's life, so it runs last and only when asked).
 *   CAN FD on vcan0 (CAN_RAW_FD_FRAMES), creating vcan1 via rtnetlink
 *     (vm_helpers.h), and that FD frames are refused on the classic can0.
 *   Serial: /dev/ttyS1 via libserialport at 115200 8N1, config read back,
 *     64 KiB echoed by the host peer (uart_peer) with nothing lost, and how
 *     a write-everything-then-read transfer fares.
 *
 * Results: /results/proto_can_serial.txt (key = value) and
 * /results/proto_can_serial.xml (JUnit); last line "N passed, N failed,
 * N skipped". Exit 0 only when nothing failed.
 *
 * Options: --serial-bytes N (default 65536), --bulk-bytes N (default 131072),
 *          --frames N (default 5000), --uart DEV (default $HILVM_UART_PEER
 *          or /dev/ttyS1), --baud N (default 115200), --results DIR
 *          (default $HILVM_RESULTS_DIR or .), --rtr-dlc-probe
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/can.h>
#include <linux/can/error.h>
#include <linux/can/netlink.h>
#include <linux/can/raw.h>
#include <linux/if_link.h>
#include <linux/sockios.h>

#include <libserialport.h>
#include <libsocketcan.h>

#include "vm_helpers.h"

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

/* ---- reporting --------------------------------------------------------- */

#define MAX_CASES 128
static struct { char name[64]; char status; char msg[256]; double secs; } cases[MAX_CASES];
static int n_cases, n_pass, n_fail, n_skip;
static FILE *kv; /* key = value results */
static double case_t0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(char status, const char *name, const char *fmt, va_list ap)
{
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    const char *word = status == 'P' ? "PASS" : status == 'F' ? "FAIL" : status == 'S' ? "SKIP" : "INFO";
    printf("%s %s: %s\n", word, name, msg);
    fflush(stdout);
    if (kv) fprintf(kv, "%s.%s = %s\n", name, status == 'I' ? "info" : "result", status == 'I' ? msg : word);
    if (status == 'I') return;
    if (status == 'P') n_pass++; else if (status == 'F') n_fail++; else n_skip++;
    if (n_cases < MAX_CASES) {
        snprintf(cases[n_cases].name, sizeof cases[n_cases].name, "%s", name);
        snprintf(cases[n_cases].msg, sizeof cases[n_cases].msg, "%s", msg);
        cases[n_cases].status = status;
        cases[n_cases].secs = now_s() - case_t0;
        n_cases++;
    }
    case_t0 = now_s();
}

static int check(int ok, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(ok ? 'P' : 'F', name, fmt, ap);
    va_end(ap);
    return ok;
}

static void skip(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record('S', name, fmt, ap);
    va_end(ap);
}

static void info(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record('I', name, fmt, ap);
    va_end(ap);
}

static void xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void write_junit(const char *path, double total_s)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("FAIL results: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<testsuite name=\"proto_can_serial\" tests=\"%d\" failures=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
            n_cases, n_fail, n_skip, total_s);
    for (int i = 0; i < n_cases; i++) {
        fprintf(f, "  <testcase classname=\"vm\" name=\"%s\" time=\"%.3f\"", cases[i].name, cases[i].secs);
        if (cases[i].status == 'P') {
            fputs("/>\n", f);
            continue;
        }
        fputs(">\n    ", f);
        fputs(cases[i].status == 'F' ? "<failure message=\"" : "<skipped message=\"", f);
        xml_escape(f, cases[i].msg);
        fputs("\"/>\n  </testcase>\n", f);
    }
    fputs("</testsuite>\n", f);
    fclose(f);
}

/* ---- CAN helpers --------------------------------------------------------- */

static int can_socket(const char *ifname)
{
    int fd = socket(PF_CAN, SOCK_RAW | SOCK_CLOEXEC, CAN_RAW);
    if (fd < 0) return -1;
    struct sockaddr_can addr;
    memset(&addr, 0, sizeof addr);
    addr.can_family = AF_CAN;
    addr.can_ifindex = (int)if_nametoindex(ifname);
    if (!addr.can_ifindex || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int e = errno;
        close(fd);
        errno = e ? e : ENODEV;
        return -1;
    }
    return fd;
}

static int setopt_int(int fd, int level, int opt, int val)
{
    return setsockopt(fd, level, opt, &val, sizeof val);
}

struct rx {
    struct canfd_frame f;
    int bytes;              /* CAN_MTU or CANFD_MTU */
    int flags;              /* msg_flags (MSG_CONFIRM, MSG_DONTROUTE) */
    int has_tsns, has_tsus, has_ovfl;
    struct timespec tsns;
    struct timeval tsus;
    uint32_t ovfl;
};

/* Waits up to timeout_ms for one frame. 1 = got one, 0 = timeout, -1 = error. */
static int can_recv(int fd, int timeout_ms, struct rx *r)
{
    struct pollfd p = { fd, POLLIN, 0 };
    int n;
    do n = poll(&p, 1, timeout_ms); while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
    char ctrl[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(struct timeval)) + CMSG_SPACE(sizeof(uint32_t)) + 64];
    struct iovec iov = { &r->f, sizeof r->f };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    memset(r, 0, sizeof *r);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctrl;
    m.msg_controllen = sizeof ctrl;
    ssize_t got = recvmsg(fd, &m, 0);
    if (got < 0) return -1;
    r->bytes = (int)got;
    r->flags = m.msg_flags;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) { memcpy(&r->tsns, CMSG_DATA(c), sizeof r->tsns); r->has_tsns = 1; }
        else if (c->cmsg_type == SCM_TIMESTAMP) { memcpy(&r->tsus, CMSG_DATA(c), sizeof r->tsus); r->has_tsus = 1; }
        else if (c->cmsg_type == SO_RXQ_OVFL) { memcpy(&r->ovfl, CMSG_DATA(c), sizeof r->ovfl); r->has_ovfl = 1; }
    }
    return 1;
}

static int can_send(int fd, canid_t id, int len, const void *data)
{
    struct can_frame f;
    memset(&f, 0, sizeof f);
    f.can_id = id;
    f.can_dlc = (unsigned char)len;
    if (data && !(id & CAN_RTR_FLAG)) memcpy(f.data, data, (size_t)len);
    return write(fd, &f, sizeof f) == (ssize_t)sizeof f ? 0 : -1;
}

static int drain(int fd)
{
    struct rx r;
    int n = 0;
    while (can_recv(fd, 0, &r) == 1) n++;
    return n;
}

static const char *state_name(int s)
{
    static const char *names[] = { "ERROR_ACTIVE", "ERROR_WARNING", "ERROR_PASSIVE", "BUS_OFF", "STOPPED", "SLEEPING" };
    return s >= 0 && s < (int)(sizeof names / sizeof names[0]) ? names[s] : "?";
}

static void can_report_counters(const char *ifname, const char *tag)
{
    struct can_berr_counter bc;
    struct can_device_stats ds;
    int st = -1;
    char name[64];
    snprintf(name, sizeof name, "%s.%s", tag, ifname);
    int a = can_get_state(ifname, &st);
    int b = can_get_berr_counter(ifname, &bc);
    int c = can_get_device_stats(ifname, &ds);
    info(name, "state %s, berr tx %s%u rx %u, stats bus_error %u warning %u passive %u bus_off %u arb_lost %u restarts %u",
         a == 0 ? state_name(st) : "(can_get_state failed)",
         b == 0 ? "" : "(n/a) ", b == 0 ? bc.txerr : 0, b == 0 ? bc.rxerr : 0,
         c == 0 ? ds.bus_error : 0, c == 0 ? ds.error_warning : 0, c == 0 ? ds.error_passive : 0,
         c == 0 ? ds.bus_off : 0, c == 0 ? ds.arbitration_lost : 0, c == 0 ? ds.restarts : 0);
}

static int can_bring_up(const char *ifname, unsigned bitrate)
{
    can_do_stop(ifname); /* may already be down */
    if (can_set_bitrate(ifname, bitrate) != 0) return -1;
    return can_do_start(ifname);
}

/* ---- CAN checks ------------------------------------------------------------ */

static void test_can_setup(void)
{
    const char *ifs[2] = { "can0", "can1" };
    for (int i = 0; i < 2; i++) {
        char n[48];
        if (!if_nametoindex(ifs[i])) {
            snprintf(n, sizeof n, "can.present.%s", ifs[i]);
            check(0, n, "%s missing: QEMU needs two -device kvaser_pci,canbus=... and the kvaser_pci module", ifs[i]);
            continue;
        }
        struct can_clock clk;
        if (can_get_clock(ifs[i], &clk) == 0) {
            snprintf(n, sizeof n, "can.clock.%s", ifs[i]);
            info(n, "%u Hz", clk.freq);
        }
        snprintf(n, sizeof n, "can.set_bitrate.%s", ifs[i]);
        int up = can_bring_up(ifs[i], 500000) == 0;
        check(up, n, "can_set_bitrate(500000) + can_do_start: %s", up ? "ok" : "failed");
        struct can_bittiming bt;
        memset(&bt, 0, sizeof bt);
        snprintf(n, sizeof n, "can.get_bitrate.%s", ifs[i]);
        int rc = can_get_bittiming(ifs[i], &bt);
        check(rc == 0 && bt.bitrate == 500000, n, "bitrate %u, sample point %u.%u%%, tq %u ns",
              bt.bitrate, bt.sample_point / 10, bt.sample_point % 10, bt.tq);
        int st = -1;
        snprintf(n, sizeof n, "can.state.%s", ifs[i]);
        rc = can_get_state(ifs[i], &st);
        check(rc == 0 && st == CAN_STATE_ERROR_ACTIVE, n, "%s", rc == 0 ? state_name(st) : "can_get_state failed");
    }
}

static void test_can_frames(void)
{
    int tx = can_socket("can0");  /* also gets its own frames back (MSG_CONFIRM) */
    int rxf = can_socket("can1"); /* filtered, SO_TIMESTAMPNS, SO_RXQ_OVFL */
    int rxa = can_socket("can1"); /* all frames, SO_TIMESTAMP */
    int other = can_socket("can0"); /* another socket on can0: local loopback */
    if (tx < 0 || rxf < 0 || rxa < 0 || other < 0) {
        check(0, "can.frames", "cannot open raw sockets on can0/can1: %s", strerror(errno));
        goto out;
    }
    struct can_filter flt[3] = {
        { 0x123, CAN_SFF_MASK | CAN_EFF_FLAG | CAN_RTR_FLAG },
        { 0x1ABCDE0 | CAN_EFF_FLAG, CAN_EFF_MASK | CAN_EFF_FLAG | CAN_RTR_FLAG },
        { 0x321 | CAN_RTR_FLAG, CAN_SFF_MASK | CAN_EFF_FLAG | CAN_RTR_FLAG },
    };
    int ok = setsockopt(rxf, SOL_CAN_RAW, CAN_RAW_FILTER, flt, sizeof flt) == 0
          && setopt_int(rxf, SOL_SOCKET, SO_TIMESTAMPNS, 1) == 0
          && setopt_int(rxf, SOL_SOCKET, SO_RXQ_OVFL, 1) == 0
          && setopt_int(rxa, SOL_SOCKET, SO_TIMESTAMP, 1) == 0
          && setopt_int(tx, SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, 1) == 0;
    check(ok, "can.sockopts", "CAN_RAW_FILTER, SO_TIMESTAMPNS, SO_TIMESTAMP, SO_RXQ_OVFL, CAN_RAW_RECV_OWN_MSGS: %s",
          ok ? "set" : strerror(errno));

    static const unsigned char d8[8] = { 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04 };
    static const unsigned char d3[3] = { 0x11, 0x22, 0x33 };
    static const unsigned char d1[1] = { 0x55 };
    int sent = can_send(tx, 0x123, 8, d8) == 0;
    sent &= can_send(tx, 0x555, 1, d1) == 0; /* must be filtered out on rxf */
    sent &= can_send(tx, 0x1ABCDE0 | CAN_EFF_FLAG, 3, d3) == 0;
    /* DLC 0: an RTR frame with DLC > 0 breaks QEMU's SJA1000, see
     * test_can_rtr_dlc_bug. */
    sent &= can_send(tx, 0x321 | CAN_RTR_FLAG, 0, NULL) == 0;
    check(sent, "can.send", "4 frames written on can0: %s", sent ? "ok" : strerror(errno));

    struct { canid_t id; int len; const unsigned char *d; const char *what; } want[3] = {
        { 0x123, 8, d8, "11-bit" }, { 0x1ABCDE0 | CAN_EFF_FLAG, 3, d3, "29-bit" }, { 0x321 | CAN_RTR_FLAG, 0, NULL, "RTR" },
    };
    struct rx r[3];
    for (int i = 0; i < 3; i++) {
        char n[48];
        snprintf(n, sizeof n, "can.recv.%s", want[i].what);
        int got = can_recv(rxf, 1000, &r[i]);
        int match = got == 1 && r[i].bytes == CAN_MTU && r[i].f.can_id == want[i].id && r[i].f.len == want[i].len
                 && (!want[i].d || !memcmp(r[i].f.data, want[i].d, (size_t)want[i].len));
        if (got == 1)
            check(match, n, "can1 got id 0x%" PRIx32 " len %d (want 0x%" PRIx32 " len %d)",
                  (uint32_t)r[i].f.can_id, r[i].f.len, (uint32_t)want[i].id, want[i].len);
        else
            check(0, n, "nothing within 1 s on can1 (want id 0x%" PRIx32 ")", (uint32_t)want[i].id);
        if (got != 1) r[i].has_tsns = 0;
    }
    struct rx extra;
    int e = can_recv(rxf, 200, &extra);
    check(e == 0, "can.filter", e == 0 ? "0x555 filtered out" : "unexpected frame 0x%" PRIx32 " passed the filter",
          (uint32_t)extra.f.can_id);

    int ts_ok = r[0].has_tsns && r[1].has_tsns && r[2].has_tsns;
    long long t[3] = { 0, 0, 0 };
    for (int i = 0; i < 3 && ts_ok; i++) t[i] = (long long)r[i].tsns.tv_sec * 1000000000LL + r[i].tsns.tv_nsec;
    check(ts_ok && t[0] > 0 && t[1] > t[0] && t[2] > t[1], "can.timestamp_ns",
          ts_ok ? "SO_TIMESTAMPNS steps %lld ns, %lld ns" : "SCM_TIMESTAMPNS missing", t[1] - t[0], t[2] - t[1]);
    /* The kernel attaches SO_RXQ_OVFL only once the socket has dropped
     * something; test_can_overflow checks the count itself. */
    check(!r[0].has_ovfl || r[0].ovfl == 0, "can.rxq_ovfl_none", "%s",
          r[0].has_ovfl ? "SO_RXQ_OVFL cmsg present with no drops" : "no drops, no SO_RXQ_OVFL cmsg (as the kernel does)");

    /* Unfiltered socket: all 4 frames, microsecond timestamps rising. */
    long long prev = 0;
    int n_all = 0, us_ok = 1;
    struct rx a;
    while (n_all < 4 && can_recv(rxa, 1000, &a) == 1) {
        long long us = (long long)a.tsus.tv_sec * 1000000LL + a.tsus.tv_usec;
        if (!a.has_tsus || us < prev) us_ok = 0;
        prev = us;
        n_all++;
    }
    check(n_all == 4 && us_ok, "can.timestamp_us", "unfiltered socket got %d/4 frames, SO_TIMESTAMP %s", n_all,
          us_ok ? "non-decreasing" : "missing or going back");

    static const canid_t order[4] = { 0x123, 0x555, 0x1ABCDE0 | CAN_EFF_FLAG, 0x321 | CAN_RTR_FLAG };
    int confirms = 0, ids_ok = 1, flags_ok = 1;
    struct rx o;
    while (confirms < 4 && can_recv(tx, 1000, &o) == 1) {
        if (!(o.flags & MSG_CONFIRM)) flags_ok = 0;
        if (o.f.can_id != order[confirms]) ids_ok = 0;
        confirms++;
    }
    check(confirms == 4 && ids_ok && flags_ok, "can.tx_echo", "%d/4 own frames came back to the sender%s%s", confirms,
          flags_ok ? " with MSG_CONFIRM (TX done)" : ", MSG_CONFIRM missing", ids_ok ? "" : ", out of order");
    int looped = 0, loop_ok = 1;
    while (looped < 4 && can_recv(other, 1000, &o) == 1) {
        if (o.flags & MSG_CONFIRM) loop_ok = 0;
        looped++;
    }
    check(looped == 4 && loop_ok, "can.local_loopback", "another socket on can0 got %d/4 frames sent on can0", looped);
out:
    if (tx >= 0) close(tx);
    if (rxf >= 0) close(rxf);
    if (rxa >= 0) close(rxa);
    if (other >= 0) close(other);
}

/* Fill a receiver with a tiny buffer past its limit: SO_RXQ_OVFL must count
 * the frames the socket dropped. */
static void test_can_overflow(void)
{
    int tx = can_socket("can0"), small = can_socket("can1"), all = can_socket("can1");
    if (tx < 0 || small < 0 || all < 0) {
        check(0, "can.rxq_ovfl_drops", "sockets: %s", strerror(errno));
        goto out;
    }
    setopt_int(small, SOL_SOCKET, SO_RCVBUF, 0); /* kernel rounds up to its minimum */
    setopt_int(small, SOL_SOCKET, SO_RXQ_OVFL, 1);
    setopt_int(tx, SOL_SOCKET, SO_SNDBUF, 0);    /* blocking write = flow control */
    const int burst = 64;
    for (int i = 0; i < burst; i++) {
        unsigned char d[2] = { (unsigned char)i, 0 };
        if (can_send(tx, 0x200, 2, d) != 0) {
            check(0, "can.rxq_ovfl_drops", "write %d: %s", i, strerror(errno));
            goto out;
        }
    }
    struct rx r;
    int seen = 0;
    while (seen < burst && can_recv(all, 1000, &r) == 1) seen++;
    int queued = drain(small);
    unsigned char d[2] = { 0xff, 0xff };
    can_send(tx, 0x201, 2, d); /* lands in the now empty queue, carrying the drop count */
    int got = can_recv(small, 1000, &r);
    int dropped = burst - queued;
    check(got == 1 && r.has_ovfl && dropped > 0 && r.ovfl == (uint32_t)dropped, "can.rxq_ovfl_drops",
          "burst %d, small socket kept %d, SO_RXQ_OVFL says %u dropped", burst, queued, got == 1 ? r.ovfl : 0);
out:
    if (tx >= 0) close(tx);
    if (small >= 0) close(small);
    if (all >= 0) close(all);
}

struct flood { int fd; int count; int enobufs; int err; double t_start, t_end; };

static void *flood_sender(void *arg)
{
    struct flood *fl = arg;
    struct can_frame f;
    memset(&f, 0, sizeof f);
    f.can_id = 0x100;
    f.can_dlc = 8;
    fl->t_start = now_s();
    for (int i = 0; i < fl->count; i++) {
        memcpy(f.data, &i, sizeof i);
        while (write(fl->fd, &f, sizeof f) != (ssize_t)sizeof f) {
            if (errno == ENOBUFS) { fl->enobufs++; sched_yield(); continue; }
            if (errno == EINTR) continue;
            fl->err = errno;
            return NULL;
        }
    }
    fl->t_end = now_s();
    return NULL;
}

static void test_can_throughput(int count)
{
    struct flood fl = { can_socket("can0"), count, 0, 0, 0, 0 };
    int rx = can_socket("can1");
    if (fl.fd < 0 || rx < 0) {
        check(0, "can.throughput", "sockets: %s", strerror(errno));
        goto out;
    }
    /* A small send buffer makes write() block while frames are in flight
     * instead of failing with ENOBUFS when the 10-frame tx queue is full. */
    setopt_int(fl.fd, SOL_SOCKET, SO_SNDBUF, 0);
    setopt_int(rx, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20);
    pthread_t th;
    pthread_create(&th, NULL, flood_sender, &fl);
    int got = 0, out_of_order = 0, expect = 0;
    char gaps[160] = "";
    size_t gl = 0;
    double t_first = 0, t_last = 0;
    struct rx r;
    while (got < count && can_recv(rx, 2000, &r) == 1) {
        int seq;
        memcpy(&seq, r.f.data, sizeof seq);
        if (seq != expect) {
            out_of_order++;
            if (gl < sizeof gaps - 24) gl += (size_t)snprintf(gaps + gl, sizeof gaps - gl, " %d->%d", expect, seq);
        }
        expect = seq + 1;
        if (!got) t_first = now_s();
        t_last = now_s();
        got++;
    }
    pthread_join(th, NULL);
    double span = t_last - fl.t_start;
    double fps = span > 0 ? got / span : 0;
    check(got == count && !out_of_order && !fl.err, "can.throughput",
          "%d/%d frames can0->can1 in %.3f s = %.0f frames/s (%d sequence breaks%s%s, %d ENOBUFS retries)",
          got, count, span, fps, out_of_order, out_of_order ? ":" : "", gaps, fl.enobufs);
    if (kv) fprintf(kv, "can.throughput.frames_per_s = %.0f\n", fps);
    (void)t_first;
out:
    if (fl.fd >= 0) close(fl.fd);
    if (rx >= 0) close(rx);
}

static void describe_err(const struct rx *r, char *buf, size_t n)
{
    snprintf(buf, n, "class 0x%03" PRIx32 " data %02x %02x %02x %02x %02x %02x %02x %02x",
             (uint32_t)(r->f.can_id & CAN_ERR_MASK), r->f.data[0], r->f.data[1], r->f.data[2], r->f.data[3],
             r->f.data[4], r->f.data[5], r->f.data[6], r->f.data[7]);
}

/* What does the emulation do when nobody can acknowledge a frame? Real
 * hardware raises ACK errors, climbs to error passive and retransmits. */
static void probe_errors(const char *tag, int listen_only_peer)
{
    char n[64];
    can_do_stop("can1");
    if (listen_only_peer) {
        struct can_ctrlmode cm = { CAN_CTRLMODE_LISTENONLY, CAN_CTRLMODE_LISTENONLY };
        int rc = can_set_ctrlmode("can1", &cm);
        snprintf(n, sizeof n, "%s.set_listenonly", tag);
        check(rc == 0 && can_do_start("can1") == 0, n, "can1 listen-only: %s", rc == 0 ? "set" : strerror(errno));
    }
    int err = can_socket("can0"), own = can_socket("can0"), lo = can_socket("can1");
    can_err_mask_t mask = CAN_ERR_MASK;
    setsockopt(err, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &mask, sizeof mask);
    struct can_filter none = { 0, 0 };  /* error frames only */
    none.can_mask = CAN_EFF_FLAG | CAN_RTR_FLAG | CAN_SFF_MASK;
    none.can_id = CAN_EFF_FLAG | CAN_RTR_FLAG | CAN_SFF_MASK;  /* matches no real frame id */
    setsockopt(err, SOL_CAN_RAW, CAN_RAW_FILTER, &none, sizeof none);
    setopt_int(own, SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, 1);

    unsigned char d[4] = { 1, 2, 3, 4 };
    int w = can_send(own, 0x7A0, 4, d);
    struct rx r;
    int confirmed = 0, errs = 0;
    char first_err[96] = "";
    const double wait_s = 0.5;
    double t0 = now_s();
    while (now_s() - t0 < wait_s) {
        struct pollfd p[2] = { { own, POLLIN, 0 }, { err, POLLIN, 0 } };
        int left = (int)((wait_s - (now_s() - t0)) * 1000) + 1;
        if (poll(p, 2, left) <= 0) break;
        if ((p[0].revents & POLLIN) && can_recv(own, 0, &r) == 1 && (r.flags & MSG_CONFIRM)) confirmed++;
        if ((p[1].revents & POLLIN) && can_recv(err, 0, &r) == 1) {
            if (!errs) describe_err(&r, first_err, sizeof first_err);
            errs++;
        }
        if (confirmed && errs >= 16) break;
    }
    int lo_got = listen_only_peer && lo >= 0 ? can_recv(lo, 200, &r) : 0;
    snprintf(n, sizeof n, "%s.tx_without_ack", tag);
    info(n, "write %s; tx %s within %.1f s; %d error frame(s)%s%s%s", w == 0 ? "ok" : strerror(errno),
         confirmed ? "completed" : "never completed", wait_s, errs, errs ? " (first: " : "", first_err, errs ? ")" : "");
    if (listen_only_peer) {
        snprintf(n, sizeof n, "%s.listen_only_rx", tag);
        info(n, "listen-only can1 %s the frame", lo_got == 1 ? "received" : "did not receive");
    }
    can_report_counters("can0", tag);
    if (kv) fprintf(kv, "%s.error_frames = %d\n%s.tx_completed = %d\n", tag, errs, tag, confirmed);

    if (err >= 0) close(err);
    if (own >= 0) close(own);
    if (lo >= 0) close(lo);
    /* Put can0/can1 back to normal. */
    can_do_stop("can1");
    struct can_ctrlmode cm = { CAN_CTRLMODE_LISTENONLY, 0 };
    can_set_ctrlmode("can1", &cm);
    can_do_start("can1");
    can_do_stop("can0");
    can_do_start("can0");
}

static void test_can_errors(void)
{
    probe_errors("can.err.peer_stopped", 0);
    probe_errors("can.err.peer_listen_only", 1);
    int rc = can_set_restart_ms("can0", 100);
    info("can.err.restart_ms", "can_set_restart_ms(can0, 100) on a running device: %s", rc == 0 ? "ok" : "refused");
    can_do_stop("can0");
    rc = can_set_restart_ms("can0", 100);
    info("can.err.restart_ms_stopped", "can_set_restart_ms(can0, 100) while stopped: %s", rc == 0 ? "ok" : "refused");
    can_do_start("can0");
    rc = can_do_restart("can0");
    info("can.err.restart", "can_do_restart(can0) while ERROR_ACTIVE: %s (the kernel only restarts a bus-off device)",
         rc == 0 ? "accepted" : "refused");
    struct rtnl_link_stats64 ls;
    if (can_get_link_stats("can0", &ls) == 0)
        info("can.link_stats.can0", "tx_packets %llu rx_packets %llu tx_errors %llu rx_errors %llu tx_dropped %llu",
             (unsigned long long)ls.tx_packets, (unsigned long long)ls.rx_packets,
             (unsigned long long)ls.tx_errors, (unsigned long long)ls.rx_errors, (unsigned long long)ls.tx_dropped);
    can_report_counters("can0", "can.final");
    can_report_counters("can1", "can.final");
    struct can_berr_counter bc;
    struct can_device_stats ds;
    check(can_get_berr_counter("can0", &bc) == 0 && can_get_device_stats("can0", &ds) == 0, "can.stats_api",
          "can_get_berr_counter and can_get_device_stats answer for can0");
}

/* QEMU's SJA1000 model (hw/net/can/can_sja1000.c, seen in 7.2) stores an
 * RTR frame in its receive FIFO with DLC data bytes but skips only the
 * header when the driver releases it, so every RTR frame with DLC > 0 shifts
 * the FIFO read position: later frames come out garbled or late, and
 * stopping/starting the interface does not repair it (only a reboot does).
 * Run last on can0/can1; the result is recorded, not judged. */
static void test_can_rtr_dlc_bug(void)
{
    int tx = can_socket("can0"), rx = can_socket("can1");
    if (tx < 0 || rx < 0) {
        info("can.rtr_dlc_bug", "sockets: %s", strerror(errno));
        goto out;
    }
    static const unsigned char d[8] = { 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80 };
    can_send(tx, 0x322 | CAN_RTR_FLAG, 4, NULL);
    for (int i = 0; i < 3; i++) can_send(tx, 0x1F0 + (canid_t)i, 8, d);
    struct rx r;
    int got = 0, intact = 0;
    char seen[160] = "";
    size_t sl = 0;
    while (can_recv(rx, 300, &r) == 1) {
        got++;
        if (r.f.can_id >= 0x1F0 && r.f.can_id <= 0x1F2 && r.f.len == 8 && !memcmp(r.f.data, d, 8)) intact++;
        if (sl < sizeof seen - 24) sl += (size_t)snprintf(seen + sl, sizeof seen - sl, " %" PRIx32 "/%d", (uint32_t)r.f.can_id, r.f.len);
    }
    int bug = intact != 3;
    info("can.rtr_dlc_bug", "after an RTR frame with DLC 4, %d of 3 data frames arrived intact (frames read:%s): %s", intact,
         seen, bug ? "emulation bug present, keep RTR DLC at 0 in VM tests" : "not reproduced");
    if (kv) fprintf(kv, "can.rtr_dlc_bug = %d\n", bug);
out:
    if (tx >= 0) close(tx);
    if (rx >= 0) close(rx);
}

static int if_mtu(const char *ifname)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), mtu = -1;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (fd >= 0 && ioctl(fd, SIOCGIFMTU, &ifr) == 0) mtu = ifr.ifr_mtu;
    if (fd >= 0) close(fd);
    return mtu;
}

static void test_canfd(void)
{
    int rc;
    if (!if_nametoindex("vcan0")) {
        rc = hilvm_vcan_create("vcan0");
        check(rc == 0, "canfd.vcan0_create", "vcan0 via rtnetlink: %s", rc ? strerror(-rc) : "created");
    }
    rc = hilvm_vcan_create("vcan1");
    int mtu = if_mtu("vcan1");
    check(rc == 0 && mtu == CANFD_MTU, "canfd.rtnetlink_vcan", "hilvm_vcan_create(vcan1): %s, mtu %d",
          rc ? strerror(-rc) : "ok", mtu);
    rc = hilvm_link_delete("vcan1");
    check(rc == 0 && !if_nametoindex("vcan1"), "canfd.rtnetlink_delete", "hilvm_link_delete(vcan1): %s",
          rc ? strerror(-rc) : "ok");

    int a = can_socket("vcan0"), b = can_socket("vcan0"), classic = can_socket("vcan0");
    if (a < 0 || b < 0 || classic < 0) {
        check(0, "canfd.vcan0", "sockets on vcan0: %s", strerror(errno));
        goto out;
    }
    int ok = setopt_int(a, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1) == 0 && setopt_int(b, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1) == 0;
    struct canfd_frame f;
    memset(&f, 0, sizeof f);
    f.can_id = 0x456;
    f.len = 64;
    f.flags = CANFD_BRS;
    for (int i = 0; i < 64; i++) f.data[i] = (unsigned char)(i * 3 + 1);
    ssize_t w = write(a, &f, CANFD_MTU);
    struct rx r;
    int got = can_recv(b, 1000, &r);
    check(ok && w == CANFD_MTU && got == 1 && r.bytes == CANFD_MTU && r.f.len == 64 && (r.f.flags & CANFD_BRS)
              && !memcmp(r.f.data, f.data, 64),
          "canfd.vcan0", "64-byte FD frame with BRS over vcan0: write %zd, read %d bytes, len %d, flags 0x%x",
          w, got == 1 ? r.bytes : 0, got == 1 ? r.f.len : 0, got == 1 ? r.f.flags : 0);
    got = can_recv(classic, 200, &r);
    check(got == 0, "canfd.classic_socket", "a socket without CAN_RAW_FD_FRAMES %s the FD frame",
          got == 0 ? "does not get" : "wrongly got");

    /* The emulated SJA1000 never reports bus errors, but error-frame
     * handling can still be tested: vcan passes error frames written to it
     * on to sockets that asked for them with CAN_RAW_ERR_FILTER. */
    can_err_mask_t emask = CAN_ERR_MASK;
    setsockopt(b, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &emask, sizeof emask);
    struct can_frame ef;
    memset(&ef, 0, sizeof ef);
    ef.can_id = CAN_ERR_FLAG | CAN_ERR_BUSOFF | CAN_ERR_CRTL;
    ef.can_dlc = CAN_ERR_DLC;
    ef.data[1] = CAN_ERR_CRTL_TX_PASSIVE;
    w = write(a, &ef, sizeof ef);
    int e = errno;
    got = can_recv(b, 1000, &r);
    check(w == (ssize_t)sizeof ef && got == 1 && r.f.can_id == ef.can_id && r.f.data[1] == CAN_ERR_CRTL_TX_PASSIVE,
          "canfd.vcan_error_injection", "error frame written on vcan0: %s; received: %s",
          w == (ssize_t)sizeof ef ? "ok" : strerror(e), got == 1 ? "yes" : "no");
out:
    if (a >= 0) close(a);
    if (b >= 0) close(b);
    if (classic >= 0) close(classic);

    int c0 = can_socket("can0");
    if (c0 >= 0) {
        setopt_int(c0, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1);
        f.len = 12;
        w = write(c0, &f, CANFD_MTU);
        int e = errno;
        check(w < 0 && e == EINVAL, "canfd.refused_on_can0", "FD frame on the emulated SJA1000 (mtu %d): %s",
              if_mtu("can0"), w < 0 ? strerror(e) : "accepted?!");
        close(c0);
    }
}

/* ---- serial ------------------------------------------------------------------ */

static uint32_t xs_state;
static unsigned char next_byte(void)
{
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 17;
    xs_state ^= xs_state << 5;
    return (unsigned char)xs_state;
}

static void fill_pattern(unsigned char *buf, size_t n, uint32_t seed)
{
    xs_state = seed;
    for (size_t i = 0; i < n; i++) buf[i] = next_byte();
}

static const char *sp_err(enum sp_return r)
{
    static char buf[160];
    if (r == SP_ERR_FAIL) {
        char *m = sp_last_error_message();
        snprintf(buf, sizeof buf, "%s", m ? m : "failed");
        sp_free_error_message(m);
        return buf;
    }
    return r == SP_ERR_ARG ? "invalid argument" : r == SP_ERR_MEM ? "out of memory" : r == SP_ERR_SUPP ? "not supported" : "ok";
}

static int uart_baud = 115200;

static struct sp_port *open_uart(const char *dev, const char *tag)
{
    char n[64];
    struct sp_port *port = NULL;
    enum sp_return r = sp_get_port_by_name(dev, &port);
    if (r == SP_OK) r = sp_open(port, SP_MODE_READ_WRITE);
    snprintf(n, sizeof n, "%s.open", tag);
    if (!check(r == SP_OK, n, "sp_open(%s): %s", dev, sp_err(r))) {
        if (port) sp_free_port(port);
        return NULL;
    }
    struct sp_port_config *cfg = NULL, *back = NULL;
    sp_new_config(&cfg);
    sp_new_config(&back);
    sp_set_config_baudrate(cfg, uart_baud);
    sp_set_config_bits(cfg, 8);
    sp_set_config_parity(cfg, SP_PARITY_NONE);
    sp_set_config_stopbits(cfg, 1);
    sp_set_config_flowcontrol(cfg, SP_FLOWCONTROL_NONE);
    r = sp_set_config(port, cfg);
    snprintf(n, sizeof n, "%s.set_config", tag);
    check(r == SP_OK, n, "%d 8N1, no flow control: %s", uart_baud, sp_err(r));
    int baud = 0, bits = 0, stop = 0;
    enum sp_parity par = SP_PARITY_INVALID;
    r = sp_get_config(port, back);
    sp_get_config_baudrate(back, &baud);
    sp_get_config_bits(back, &bits);
    sp_get_config_parity(back, &par);
    sp_get_config_stopbits(back, &stop);
    snprintf(n, sizeof n, "%s.get_config", tag);
    check(r == SP_OK && baud == uart_baud && bits == 8 && par == SP_PARITY_NONE && stop == 1, n,
          "read back %d %d%c%d", baud, bits, par == SP_PARITY_NONE ? 'N' : '?', stop);
    sp_free_config(cfg);
    sp_free_config(back);
    return port;
}

/* Full duplex: keep reading while writing. Returns bytes received intact. */
static size_t echo_duplex(struct sp_port *port, const unsigned char *out, unsigned char *in, size_t total,
                          double limit_s, double *secs)
{
    struct sp_event_set *rx_only = NULL, *rx_tx = NULL;
    sp_new_event_set(&rx_only);
    sp_new_event_set(&rx_tx);
    sp_add_port_events(rx_only, port, SP_EVENT_RX_READY);
    sp_add_port_events(rx_tx, port, SP_EVENT_RX_READY | SP_EVENT_TX_READY);
    size_t sent = 0, got = 0;
    double t0 = now_s();
    while (got < total) {
        double left = limit_s - (now_s() - t0);
        if (left <= 0) break;
        sp_wait(sent < total ? rx_tx : rx_only, (unsigned)(left * 1000) + 1);
        if (sent < total) {
            size_t chunk = total - sent < 4096 ? total - sent : 4096;
            int w = sp_nonblocking_write(port, out + sent, chunk);
            if (w > 0) sent += (size_t)w;
        }
        int rd = sp_nonblocking_read(port, in + got, total - got);
        if (rd > 0) got += (size_t)rd;
    }
    *secs = now_s() - t0;
    sp_free_event_set(rx_only);
    sp_free_event_set(rx_tx);
    return got;
}

static size_t first_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return i;
    return n;
}

static void test_serial(const char *dev, size_t nbytes, size_t bulk)
{
    struct sp_port *port = open_uart(dev, "uart");
    if (!port) {
        skip("uart.echo", "port did not open");
        return;
    }
    /* Is anybody echoing? */
    sp_flush(port, SP_BUF_BOTH);
    unsigned char ping[4] = { 'p', 'i', 'n', 'g' }, pong[4] = { 0 };
    sp_blocking_write(port, ping, sizeof ping, 1000);
    int pr = sp_blocking_read(port, pong, sizeof pong, 3000);
    if (pr != 4 || memcmp(ping, pong, 4) != 0) {
        skip("uart.echo", "no echo from the host peer on %s (got %d bytes): run with --peer 'uart_peer'", dev, pr);
        sp_close(port);
        sp_free_port(port);
        return;
    }

    size_t cap = nbytes > bulk ? nbytes : bulk;
    unsigned char *out = malloc(cap), *in = malloc(cap);
    if (!out || !in) {
        check(0, "uart.echo", "out of memory");
        goto done;
    }
    fill_pattern(out, nbytes, 0x1234567u);
    memset(in, 0, nbytes);
    double secs = 0;
    size_t got = echo_duplex(port, out, in, nbytes, 30.0, &secs);
    size_t diff = first_diff(out, in, got);
    check(got == nbytes && diff == got, "uart.echo", "%zu of %zu bytes echoed intact in %.2f s (%.0f bytes/s each way)%s",
          got, nbytes, secs, secs > 0 ? nbytes / secs : 0.0, diff < got ? ", corrupt data" : "");
    if (kv) fprintf(kv, "uart.echo.bytes = %zu\nuart.echo.seconds = %.3f\n", got, secs);

    /* Pacing experiment: write everything first, read afterwards. The tty
     * layer buffers about 64 KiB of input; without flow control the rest is
     * dropped in the guest (the emulated UART has no RTS/CTS effect on a
     * socket chardev). */
    if (bulk) {
        sp_flush(port, SP_BUF_BOTH);
        fill_pattern(out, bulk, 0xabcdefu);
        memset(in, 0, bulk);
        double t0 = now_s();
        int w = sp_blocking_write(port, out, bulk, 30000);
        sp_drain(port);
        int rd = sp_blocking_read(port, in, bulk, 2000);
        double t = now_s() - t0;
        size_t ok = rd > 0 ? first_diff(out, in, (size_t)rd) : 0;
        info("uart.bulk_no_reading", "wrote %d of %zu bytes before reading, then read %d back (%zu intact prefix) in %.2f s",
             w, bulk, rd, ok, t);
        if (kv) fprintf(kv, "uart.bulk.written = %d\nuart.bulk.read = %d\n", w, rd);
        /* Let any late echo go before closing. */
        unsigned char sink[4096];
        while (sp_blocking_read(port, sink, sizeof sink, 300) > 0) {}
    }
done:
    free(out);
    free(in);
    sp_close(port);
    sp_free_port(port);
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    size_t serial_bytes = 65536, bulk_bytes = 131072;
    int frames = 5000, rtr_probe = 0;
    const char *uart = getenv("HILVM_UART_PEER");
    const char *uart2 = getenv("HILVM_UART2");
    const char *results = getenv("HILVM_RESULTS_DIR");
    if (!uart) uart = "/dev/ttyS1";
    if (!uart2) uart2 = "/dev/ttyS2";
    if (!results) results = ".";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--serial-bytes") && i + 1 < argc) serial_bytes = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--bulk-bytes") && i + 1 < argc) bulk_bytes = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--frames") && i + 1 < argc) frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--uart") && i + 1 < argc) uart = argv[++i];
        else if (!strcmp(argv[i], "--baud") && i + 1 < argc) uart_baud = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rtr-dlc-probe")) rtr_probe = 1;
        else if (!strcmp(argv[i], "--results") && i + 1 < argc) results = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--serial-bytes N] [--bulk-bytes N] [--frames N] [--uart DEV] [--baud N] [--results DIR] [--rtr-dlc-probe]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char path[512];
    snprintf(path, sizeof path, "%s/proto_can_serial.txt", results);
    kv = fopen(path, "w");
    if (!kv) printf("FAIL results: cannot write %s: %s\n", path, strerror(errno));
    double t0 = now_s();
    case_t0 = t0;

    test_can_setup();
    test_can_frames();
    test_can_overflow();
    test_can_throughput(frames);
    test_can_errors();
    if (rtr_probe) test_can_rtr_dlc_bug(); /* leaves can1's receive FIFO broken: CAN last */
    else skip("can.rtr_dlc_bug", "not probed (--rtr-dlc-probe; it breaks can1 until the VM reboots)");
    test_canfd();
    test_serial(uart, serial_bytes, bulk_bytes);
    struct sp_port *p2 = open_uart(uart2, "uart2");
    if (p2) {
        sp_close(p2);
        sp_free_port(p2);
    }

    double total = now_s() - t0;
    if (kv) {
        fprintf(kv, "total.seconds = %.3f\npassed = %d\nfailed = %d\nskipped = %d\n", total, n_pass, n_fail, n_skip);
        fclose(kv);
    }
    snprintf(path, sizeof path, "%s/proto_can_serial.xml", results);
    write_junit(path, total);
    printf("proto_can_serial: %.2f s\n", total);
    printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}
