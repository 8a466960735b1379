/* `hil_vm_tests bench [FRAMES]` (make bench-vm): classic 8-byte frames
 * through the socketcan channel from can0 to can1 inside the VM, a sender
 * thread against a receiving thread, every frame checked for order.
 * Informative only: QEMU moves frames as fast as the emulation runs, with no
 * bit timing (tests/vm/README.md), so this measures the channel and the
 * kernel, not a CAN bus. */
#include "vm_tests.h"

#include <pthread.h>

typedef struct bench_tx { hil_channel* ch; long count; hil_result r; } bench_tx;

static void* bench_sender(void* arg) {
    bench_tx* t = (bench_tx*)arg;
    unsigned char d[8] = {0};
    hil_msg m;
    long i;
    hil_msg_init(&m, d, sizeof d);
    m.len = 8;
    m.remote_id = 0x100;
    for (i = 0; i < t->count; i++) {
        memcpy(d, &i, sizeof i < 8 ? sizeof i : 8);
        t->r = hil_channel_send(t->ch, &m, 2000);
        if (t->r != HIL_OK) {
            fprintf(stderr, "bench: send %ld: %s\n", i, hil_last_error());
            break;
        }
    }
    return NULL;
}

static hil_channel* bench_open(const char* name, const char* ifname) {
    char iface[32];
    const char* opts[] = {iface, "bitrate=500000", "rcvbuf=4194304", NULL};
    hil_channel* ch = NULL;
    snprintf(iface, sizeof iface, "interface=%s", ifname);
    if (vm_channel_try(name, "socketcan", opts, &ch) != HIL_OK) {
        fprintf(stderr, "bench: %s\n", hil_last_error());
        return NULL;
    }
    return ch;
}

int vm_bench_can(int argc, char** argv) {
    long count = argc > 1 ? atol(argv[1]) : 20000, got = 0, breaks = 0;
    hil_channel *tx, *rx;
    bench_tx t;
    pthread_t th;
    unsigned char buf[64];
    uint64_t t0, t1;
    hil_msg m;
    if (count <= 0) count = 20000;
    tx = bench_open("bench_tx", "can0");
    rx = bench_open("bench_rx", "can1");
    if (!tx || !rx) return 1;
    t.ch = tx;
    t.count = count;
    t.r = HIL_OK;
    t0 = hil_now_ns();
    if (pthread_create(&th, NULL, bench_sender, &t) != 0) return 1;
    while (got < count) {
        long seq = 0;
        hil_msg_init(&m, buf, sizeof buf);
        if (hil_channel_recv(rx, &m, 2000) != HIL_OK) break;
        memcpy(&seq, buf, sizeof seq < 8 ? sizeof seq : 8);
        if (seq != got) breaks++;
        got++;
    }
    t1 = hil_now_ns();
    pthread_join(th, NULL);
    hil_channel_destroy(tx);
    hil_channel_destroy(rx);
    if (got != count || breaks || t.r != HIL_OK) {
        fprintf(stderr, "bench: %ld of %ld frames received, %ld out of order\n", got, count, breaks);
        return 1;
    }
    printf("BENCH can_vm_frames %.0f frames/s\n", (double)count / ((double)(t1 - t0) / 1e9));
    return 0;
}
