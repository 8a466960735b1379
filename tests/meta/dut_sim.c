/* A device simulator: firmware-side test functions answered through
 * hil_target.h (nothing else of hil), on a socket given as a descriptor.
 *
 *   dut_sim FD [normal|chunks|silent|noreport]
 *
 * chunks: every message is written in pieces (and pieces of two messages
 * together), as a byte stream would deliver them; silent: never answers;
 * noreport: ACKs but never REPORTs a case run. Ends at end of file. */
#define _POSIX_C_SOURCE 200809L
#include "hil_target.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/socket.h>

static int sock = -1;
static int mode_chunks, mode_noreport;
static unsigned char pend[1024];
static size_t npend;

static void flush_pending(void) {
    size_t off = 0;
    /* uneven pieces: 3, 7, 1, 5, ... bytes per packet */
    static const size_t sizes[] = {3, 7, 1, 5, 11, 2};
    size_t k = 0;
    while (off < npend) {
        size_t n = sizes[k++ % 6];
        if (n > npend - off) n = npend - off;
        if (send(sock, pend + off, n, MSG_NOSIGNAL) < 0) exit(0);
        off += n;
    }
    npend = 0;
}

static void sim_write(void* user, const uint8_t* data, size_t len) {
    (void)user;
    if (mode_noreport && ((data[0] >> 4) & 3u) == HIL_TARGET_T_REPORT) return;
    if (!mode_chunks) {
        if (send(sock, data, len, MSG_NOSIGNAL) < 0) exit(0);
        return;
    }
    if (npend + len > sizeof pend) flush_pending();
    memcpy(pend + npend, data, len);
    npend += len;
}

static int suite1_setup(hil_target* t) { hil_target_log(t, "suite 1 is up"); return HIL_TARGET_PASS; }
static int suite1_teardown(hil_target* t) { hil_target_log(t, "suite 1 is down"); return HIL_TARGET_PASS; }
static int suite3_setup(hil_target* t) { return hil_target_fail(t, "suite 3 has no hardware"); }
static int adds(hil_target* t) { hil_target_log(t, "checking 1+1"); return 1 + 1 == 2 ? HIL_TARGET_PASS : HIL_TARGET_FAILED; }
static int off_by_one(hil_target* t) { return hil_target_fail(t, "expected 42, got 41"); }
static int hangs(hil_target* t) {
    hil_target_log(t, "hanging now");
    for (;;) pause(); /* a target stuck in a test */
    return HIL_TARGET_PASS;
}
static int no_power(hil_target* t) { return hil_target_fail(t, "no power on the rail"); }
static int slow(hil_target* t) {
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL); /* a device taking its time */
    hil_target_log(t, "slow step done");
    return HIL_TARGET_PASS;
}
static int bad_cleanup(hil_target* t) { return hil_target_fail(t, "cleanup failed"); }
static int pass(hil_target* t) { (void)t; return HIL_TARGET_PASS; }

static const hil_target_case cases[] = {
    {1, 0, suite1_setup, NULL, suite1_teardown},
    {1, 1, NULL, adds, NULL},
    {1, 2, NULL, off_by_one, NULL},
    {1, 3, NULL, NULL, NULL},
    {1, 4, NULL, hangs, NULL},
    {1, 5, no_power, pass, NULL},
    {1, 6, NULL, slow, NULL},
    {1, 7, NULL, pass, bad_cleanup},
    {3, 0, suite3_setup, NULL, NULL},
};

static hil_target target;

int main(int argc, char** argv) {
    unsigned char buf[512];
    const char* mode = argc > 2 ? argv[2] : "normal";
    if (argc < 2) {
        fprintf(stderr, "usage: dut_sim FD [normal|chunks|silent|noreport]\n");
        return 2;
    }
    sock = atoi(argv[1]);
    mode_chunks = strcmp(mode, "chunks") == 0;
    mode_noreport = strcmp(mode, "noreport") == 0;
    hil_target_init(&target, cases, sizeof cases / sizeof cases[0], sim_write, NULL);
    for (;;) {
        ssize_t n = recv(sock, buf, sizeof buf, 0);
        if (n <= 0) return 0;
        if (strcmp(mode, "silent") == 0) continue;
        hil_target_input(&target, buf, (size_t)n);
        if (mode_chunks) flush_pending();
    }
}
