/* bench_probe: loading firmware and reading memory through QEMU's GDB stub
 * (qemu-system-arm -M mps2-an385), hil against gdb-multiarch.
 *
 *   BENCH gdb_flash_kib_s <v> KiB/s      hil_probe_flash_image of
 *                                        build/probe/fw-probe-big.elf (257 KiB:
 *                                        256 KiB of random bytes and the
 *                                        firmware) with X packets, no verify:
 *                                        the load alone, what `gdb load` does
 *   BENCH gdb_flash_gdb_kib_s <v> KiB/s  gdb-multiarch -batch loading the same
 *                                        image into the same stub: the wall
 *                                        time of "target remote; load x10; disconnect"
 *                                        minus that of "target remote;
 *                                        disconnect" (QEMU as -gdb tcp::PORT
 *                                        makes it: TCP_NODELAY)
 *   BENCH gdb_flash_verify_kib_s <v> KiB/s  hil's load plus its verify (QEMU
 *                                        has no qCRC: the image is read back)
 *   BENCH gdb_mem_read_p50 <v> us        one 4-byte read ('m') of a halted
 *                                        target, median of 2000
 *
 * Each flash figure is the median of 5 rounds of 10 loads into a fresh
 * stub (gdb: one session with 10 loads, minus a session without, over 10). Needs qemu-system-arm,
 * gdb-multiarch and the probe firmware (make probe-firmware); without them
 * it says what is missing and prints no BENCH line. Run: make bench-probe
 * (part of make bench-mcu).
 */
#define _GNU_SOURCE
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_probe.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#define RUNS 5
#define LOADS 10

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int have(const char* prog) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* QEMU with its GDB stub on a socket we listen on (no port race). */
static int qemu_start(hil_proc* q, char* addr, size_t size) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    char chardev[96];
    hil_proc_config pc;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr*)&a, sizeof a) || listen(fd, 4)) return -1;
    getsockname(fd, (struct sockaddr*)&a, &al);
    snprintf(addr, size, "127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(chardev, sizeof chardev, "socket,id=gdb0,fd=%d,server=on,wait=off,nodelay=on", fd);
    {
        const char* argv[] = {"qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none", "-serial", "null",
                              "-S", "-chardev", chardev, "-gdb", "chardev:gdb0", NULL};
        hil_proc_config_init(&pc);
        pc.argv = argv;
        pc.null_stdin = 1;
        pc.new_process_group = 1;
        pc.die_with_parent = 1;
        if (hil_proc_spawn(q, &pc) != HIL_OK) return -1;
    }
    close(fd);
    return 0;
}

/* Wall time of gdb-multiarch connecting, loading `loads` times and
 * disconnecting (the target stays halted), in seconds. */
static double gdb_run(const char* addr, const char* elf, int loads) {
    char target[96];
    hil_proc p;
    hil_proc_config pc;
    uint64_t t0;
    const char* argv[64];
    int n = 0, i;
    snprintf(target, sizeof target, "target remote %s", addr);
    argv[n++] = "gdb-multiarch";
    argv[n++] = "-nx";
    argv[n++] = "-batch";
    argv[n++] = "-ex";
    argv[n++] = "set confirm off";
    argv[n++] = "-ex";
    argv[n++] = target;
    for (i = 0; i < loads; i++) {
        argv[n++] = "-ex";
        argv[n++] = "load";
    }
    argv[n++] = "-ex";
    argv[n++] = "disconnect";
    argv[n++] = elf;
    argv[n] = NULL;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.null_stdin = 1;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    t0 = hil_now_ns();
    if (hil_proc_spawn(&p, &pc) != HIL_OK) return -1;
    {
        char buf[4096];
        while (read(p.stdout_fd, buf, sizeof buf) > 0) {} /* until gdb ends */
    }
    hil_proc_wait(&p, 120000);
    hil_proc_close(&p);
    if (hil_proc_exit_code(p.status) != 0) return -1;
    return (double)(hil_now_ns() - t0) / 1e9;
}

int main(void) {
    const char* build = getenv("BUILD") ? getenv("BUILD") : "build";
    char elf[600], addr[64];
    hil_proc q;
    hil_probe_config c;
    hil_probe* p;
    hil_image img;
    hil_flash_options o;
    hil_flash_stats st;
    double hil_s[RUNS], ver_s[RUNS], gdb_s[RUNS], base_s[RUNS], reads[2000];
    uint64_t g_counter;
    int i;
    snprintf(elf, sizeof elf, "%s/probe/fw-probe-big.elf", build);
    if (!have("qemu-system-arm") || !have("gdb-multiarch") || access(elf, R_OK) != 0) {
        printf("bench_probe: needs qemu-system-arm, gdb-multiarch (apt-get install qemu-system-arm gdb-multiarch) and "
               "%s (make probe-firmware; apt-get install gcc-arm-none-eabi): skipped\n", elf);
        return 0;
    }
    if (hil_image_load(elf, 0, &img) != HIL_OK) {
        fprintf(stderr, "bench_probe: %s\n", hil_last_error());
        return 1;
    }
    hil_probe_config_init(&c);
    c.name = "bench";
    c.address = addr;
    c.flavor = "qemu";
    c.elf = elf;
    c.timeout_ms = 10000;
    /* every load goes into a fresh stub, halted at reset, as a board
     * fresh from power-on: no state of the previous client */
    for (i = 0; i < RUNS; i++) {
        int k;
        if (qemu_start(&q, addr, sizeof addr)) {
            fprintf(stderr, "bench_probe: cannot start qemu-system-arm\n");
            return 1;
        }
        if (hil_probe_create(&c, &p) != HIL_OK) {
            fprintf(stderr, "bench_probe: %s\n", hil_last_error());
            return 1;
        }
        hil_s[i] = 0;
        for (k = 0; k < LOADS; k++) {
            hil_flash_options_init(&o);
            o.verify = HIL_PROBE_VERIFY_NONE;
            o.start = HIL_PROBE_START_NONE;
            if (hil_probe_flash_image(p, &img, &o, &st) != HIL_OK) {
                fprintf(stderr, "bench_probe: %s\n", hil_last_error());
                return 1;
            }
            hil_s[i] += st.write_s / LOADS;
        }
        o.verify = HIL_PROBE_VERIFY_AUTO;
        o.resume = 0; /* reset, halted: a valid target to detach from */
        o.start = HIL_PROBE_START_RESET;
        if (hil_probe_flash_image(p, &img, &o, &st) != HIL_OK) {
            fprintf(stderr, "bench_probe: %s\n", hil_last_error());
            return 1;
        }
        ver_s[i] = st.write_s + st.verify_s;
        if (i == RUNS - 1) {
            if (hil_probe_symbol(p, "g_counter", &g_counter, NULL) != HIL_OK) return 1;
            for (k = 0; k < 2000; k++) {
                uint32_t v;
                uint64_t t0 = hil_now_ns();
                if (hil_probe_read_u32(p, g_counter, &v) != HIL_OK) return 1;
                reads[k] = (double)(hil_now_ns() - t0) / 1e3;
            }
        }
        hil_probe_destroy(p);
        hil_proc_terminate(&q, 2000);
        /* gdb: LOADS loads in one session, minus a session without */
        if (qemu_start(&q, addr, sizeof addr)) return 1;
        gdb_s[i] = gdb_run(addr, elf, LOADS);
        hil_proc_terminate(&q, 2000);
        if (qemu_start(&q, addr, sizeof addr)) return 1;
        base_s[i] = gdb_run(addr, elf, 0);
        hil_proc_terminate(&q, 2000);
        if (gdb_s[i] < 0 || base_s[i] < 0) {
            fprintf(stderr, "bench_probe: gdb-multiarch failed\n");
            return 1;
        }
        gdb_s[i] = (gdb_s[i] - base_s[i]) / LOADS;
    }
    {
        double kib = (double)img.total / 1024.0;
        double h = median(hil_s, RUNS), v = median(ver_s, RUNS), g = median(gdb_s, RUNS);
        printf("BENCH gdb_flash_kib_s %.0f KiB/s\n", kib / h);
        printf("BENCH gdb_flash_gdb_kib_s %.0f KiB/s\n", g > 0 ? kib / g : 0.0);
        printf("BENCH gdb_flash_verify_kib_s %.0f KiB/s\n", kib / v);
        printf("BENCH gdb_mem_read_p50 %.1f us\n", median(reads, 2000));
        fprintf(stderr, "bench_probe: %.1f KiB image; one load: hil %.4f s (%.4f s with verify), gdb %.4f s "
                        "(a gdb session without load: %.3f s)\n", kib, h, v, g, median(base_s, RUNS));
    }
    hil_image_free(&img);
    return 0;
}
