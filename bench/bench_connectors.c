/* bench_connectors: channel round trips and framing throughput.
 *
 *   BENCH chan_loopback_rtt_p50 <v> us   send on loopback A, an echo thread
 *   BENCH chan_loopback_rtt_p99 <v> us   receives it and sends it back on
 *                                        loopback B, we receive it: one round
 *                                        trip (64-byte messages)
 *   BENCH chan_tcp_rtt_p50 <v> us        the same over a tcp channel on
 *                                        127.0.0.1 (length framing) to an echo
 *                                        thread on a plain socket
 *   BENCH tcp_socket_rtt_p50 <v> us      the floor under it: the same echo
 *                                        with plain write()/read() on a socket
 *   BENCH cobs_decode <v> MB/s           hil_deframer over COBS frames of
 *                                        256 bytes pushed in 4 KiB pieces
 *                                        (payload bytes out per second)
 *
 * Each figure is the median of 5 runs; the whole program takes a few
 * seconds. Shared 2-core machines are noisy: compare runs, not targets.
 */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#define RUNS 5

static int cmp_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static void die(const char* what) {
    fprintf(stderr, "bench_connectors: %s: %s\n", what, hil_last_error());
    exit(1);
}

static hil_channel* make(const char* name, const char* type, const char* const* opts) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = type;
    c.options = opts;
    if (hil_channel_create(&c, &ch) != HIL_OK || hil_channel_open(ch) != HIL_OK) die(name);
    return ch;
}

/* ---- loopback ---- */

typedef struct echo_arg { hil_channel* in; hil_channel* out; } echo_arg;

static void* loopback_echo(void* p) {
    echo_arg* a = (echo_arg*)p;
    char buf[256];
    for (;;) {
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf);
        if (hil_channel_recv(a->in, &m, -1) != HIL_OK) break;
        if (hil_channel_send(a->out, &m, -1) != HIL_OK) break;
    }
    return NULL;
}

static void rtt_loopback(int n, double* p50, double* p99) {
    hil_channel* a = make("a", "loopback", NULL);
    hil_channel* b = make("b", "loopback", NULL);
    hil_thread t;
    echo_arg ea;
    uint64_t* lat = (uint64_t*)malloc(sizeof(uint64_t) * (size_t)n);
    char msg[64], buf[256];
    int i;
    memset(msg, 'x', sizeof msg);
    ea.in = a;
    ea.out = b;
    hil_thread_create(&t, loopback_echo, &ea, "echo");
    for (i = -n / 10; i < n; i++) { /* the first tenth warms up */
        hil_msg m;
        uint64_t t0 = hil_now_ns();
        if (hil_channel_send_bytes(a, msg, sizeof msg, -1) != HIL_OK) die("loopback send");
        hil_msg_init(&m, buf, sizeof buf);
        if (hil_channel_recv(b, &m, -1) != HIL_OK) die("loopback recv");
        if (i >= 0) lat[i] = hil_now_ns() - t0;
    }
    hil_channel_close(a); /* the echo thread returns */
    hil_thread_join(&t);
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
    *p50 = lat[n / 2] / 1000.0;
    *p99 = lat[(size_t)n * 99 / 100] / 1000.0;
    free(lat);
}

/* ---- tcp ---- */

typedef struct tcp_echo_arg { int lfd; } tcp_echo_arg;

static void* tcp_echo(void* p) {
    tcp_echo_arg* a = (tcp_echo_arg*)p;
    int fd = accept(a->lfd, NULL, NULL), one = 1;
    char buf[4096];
    if (fd < 0) return NULL;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        if (hil_write_all(fd, buf, (size_t)n) != HIL_OK) break;
    }
    close(fd);
    return NULL;
}

/* plain: the same exchange on a bare socket (the floor under the channel). */
static double rtt_tcp(int n, int plain) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), i;
    tcp_echo_arg ea;
    hil_thread t;
    char portopt[32], msg[64], buf[256];
    const char* opts[4];
    hil_channel* ch;
    uint64_t* lat = (uint64_t*)malloc(sizeof(uint64_t) * (size_t)n);
    double p50;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 1) != 0) {
        perror("bench_connectors: listen");
        exit(1);
    }
    getsockname(lfd, (struct sockaddr*)&addr, &len);
    ea.lfd = lfd;
    hil_thread_create(&t, tcp_echo, &ea, "tcp-echo");
    snprintf(portopt, sizeof portopt, "port=%d", ntohs(addr.sin_port));
    opts[0] = "host=127.0.0.1";
    opts[1] = portopt;
    opts[2] = "framing=length";
    opts[3] = NULL;
    memset(msg, 'y', sizeof msg);
    if (plain) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
            perror("bench_connectors: connect");
            exit(1);
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (i = -n / 10; i < n; i++) {
            uint64_t t0 = hil_now_ns();
            size_t got = 0;
            if (write(fd, msg, sizeof msg) != (ssize_t)sizeof msg) die("socket write");
            while (got < sizeof msg) {
                ssize_t k = read(fd, buf, sizeof buf);
                if (k <= 0) die("socket read");
                got += (size_t)k;
            }
            if (i >= 0) lat[i] = hil_now_ns() - t0;
        }
        close(fd);
    } else {
        ch = make("tcp", "tcp", opts);
        for (i = -n / 10; i < n; i++) {
            hil_msg m;
            uint64_t t0 = hil_now_ns();
            if (hil_channel_send_bytes(ch, msg, sizeof msg, -1) != HIL_OK) die("tcp send");
            hil_msg_init(&m, buf, sizeof buf);
            if (hil_channel_recv(ch, &m, -1) != HIL_OK || m.len != sizeof msg) die("tcp recv");
            if (i >= 0) lat[i] = hil_now_ns() - t0;
        }
        hil_channel_destroy(ch); /* the echo thread sees end of file */
    }
    hil_thread_join(&t);
    close(lfd);
    qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
    p50 = lat[n / 2] / 1000.0;
    free(lat);
    return p50;
}

/* ---- COBS ---- */

static double cobs_decode_mbps(const hil_strbuf* wire, size_t payload) {
    hil_framing f;
    hil_deframer d;
    size_t pos = 0, out = 0;
    uint64_t t0;
    double secs;
    hil_framing_init(&f, HIL_FRAMING_COBS);
    if (hil_deframer_init(&d, &f) != HIL_OK) die("deframer");
    t0 = hil_now_ns();
    while (pos < wire->len) {
        size_t piece = wire->len - pos < 4096 ? wire->len - pos : 4096;
        const void* fr;
        size_t fl;
        hil_deframer_push(&d, wire->data + pos, piece);
        pos += piece;
        while (hil_deframer_next(&d, &fr, &fl)) out += fl;
    }
    secs = (hil_now_ns() - t0) / 1e9;
    if (out != payload || d.frame_errors) {
        fprintf(stderr, "bench_connectors: COBS decoded %zu of %zu bytes, %llu errors\n", out, payload,
                (unsigned long long)d.frame_errors);
        exit(1);
    }
    hil_deframer_free(&d);
    return payload / 1e6 / secs;
}

int main(void) {
    double lb50[RUNS], lb99[RUNS], tcp50[RUNS], sock50[RUNS], cobs[RUNS];
    hil_strbuf wire = {0, 0, 0, 0};
    hil_framing f;
    unsigned char frame[256];
    size_t payload = 0, i;
    uint32_t x = 12345;
    int r;
    hil_log_set_level("hil.chan", HIL_LOG_WARN); /* only BENCH lines */
    /* 32 MiB of payload in 256-byte frames, about one zero byte in 64 */
    hil_framing_init(&f, HIL_FRAMING_COBS);
    for (i = 0; i < 32u * 1024 * 1024 / sizeof frame; i++) {
        size_t k;
        for (k = 0; k < sizeof frame; k++) {
            x = x * 1103515245u + 12345u;
            frame[k] = (x >> 24) % 64 == 0 ? 0 : (unsigned char)(x >> 16);
        }
        hil_frame_encode(&f, frame, sizeof frame, &wire);
        payload += sizeof frame;
    }
    for (r = 0; r < RUNS; r++) {
        rtt_loopback(20000, &lb50[r], &lb99[r]);
        tcp50[r] = rtt_tcp(10000, 0);
        sock50[r] = rtt_tcp(10000, 1);
        cobs[r] = cobs_decode_mbps(&wire, payload);
    }
    hil_sb_free(&wire);
    qsort(lb50, RUNS, sizeof(double), cmp_double);
    qsort(lb99, RUNS, sizeof(double), cmp_double);
    qsort(tcp50, RUNS, sizeof(double), cmp_double);
    qsort(sock50, RUNS, sizeof(double), cmp_double);
    qsort(cobs, RUNS, sizeof(double), cmp_double);
    printf("BENCH chan_loopback_rtt_p50 %.1f us\n", lb50[RUNS / 2]);
    printf("BENCH chan_loopback_rtt_p99 %.1f us\n", lb99[RUNS / 2]);
    printf("BENCH chan_tcp_rtt_p50 %.1f us\n", tcp50[RUNS / 2]);
    printf("BENCH tcp_socket_rtt_p50 %.1f us\n", sock50[RUNS / 2]);
    printf("BENCH cobs_decode %.0f MB/s\n", cobs[RUNS / 2]);
    return 0;
}
