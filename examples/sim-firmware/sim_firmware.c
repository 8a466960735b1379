/* sim-firmware: a device simulator that behaves like small firmware, for
 * the demo lab and for fault demonstrations.
 *
 * It speaks over one byte stream (stdin/stdout, or a tty given with --tty),
 * COBS-framed (each message ends with a 0x00 byte), two protocols:
 *
 *  - the pykiso testApp protocol, answered by hil_target.h: on-target tests
 *    that the host runs through hil's DUT auxiliary;
 *  - a small service protocol, frames starting with 0x01 and then text:
 *        ECHO <text>    -> ECHO <text>
 *        SENSOR?        -> SENSOR <value> <unit>      (a random walk, seeded)
 *        INFO?          -> INFO <name> <type> <variant> <version>
 *        MODE <mode>    -> MODE <mode>                (change the behaviour, below)
 *
 * Behaviour (--misbehave MODE, or MODE at run time):
 *        ok                 answer normally
 *        delay=<ms>         wait this long before every answer
 *        silent             stop answering (still reads)
 *        corrupt            flip a bit in every other answer (CRC errors on the host)
 *        crash              abort() on the next frame
 *        crash-after=<n>    abort() on the n-th frame
 *
 * Like firmware, it uses fixed buffers and no dynamic memory. Options:
 *   --name NAME --type TYPE --variant VARIANT --version X.Y.Z --seed N
 *   --flash FILE  boot the firmware "flashed" into FILE (variant and version
 *                 come from it; without it the board does not boot)
 *   --tty PATH (talk over a tty instead of stdin/stdout) --misbehave MODE
 */
#define _GNU_SOURCE
#include "hil_target.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- the board ------------------------------------------------------------------- */

static struct {
    const char* name;
    const char* type;
    const char* variant;
    const char* version;
    unsigned seed;
    int in_fd, out_fd;
    /* behaviour */
    int delay_ms;
    int silent;
    int corrupt;
    long crash_after;   /* frames until abort(); 0: never */
    unsigned long frames;
    unsigned long answers;
    /* the simulated sensor */
    double temperature;
} board = {"board", "sensor-node", "rev-b", "1.4.2", 1, 0, 1, 0, 0, 0, 0, 0, 0, 21.0};

static int has_prefix(const char* s, const char* p) { return strncmp(s, p, strlen(p)) == 0; }

/* Returns 0 when mode is understood. */
static int set_mode(const char* mode) {
    if (strcmp(mode, "ok") == 0) {
        board.delay_ms = 0;
        board.silent = board.corrupt = 0;
        board.crash_after = 0;
    } else if (has_prefix(mode, "delay=")) {
        board.delay_ms = atoi(mode + 6);
    } else if (strcmp(mode, "silent") == 0) {
        board.silent = 1;
    } else if (strcmp(mode, "corrupt") == 0) {
        board.corrupt = 1;
    } else if (strcmp(mode, "crash") == 0) {
        board.crash_after = (long)board.frames + 1;
    } else if (has_prefix(mode, "crash-after=")) {
        board.crash_after = atol(mode + 12);
    } else {
        return -1;
    }
    return 0;
}

/* ---- COBS framing ------------------------------------------------------------------ */

/* Encode len bytes into out (room: len + len/254 + 2); returns the length,
 * the terminating 0x00 included. */
static size_t cobs_encode(const uint8_t* in, size_t len, uint8_t* out) {
    size_t code_at = 0, o = 1, i;
    uint8_t code = 1;
    for (i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xff) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out[o++] = 0;
    return o;
}

/* Decode one frame (without its 0x00) in place; returns its length or -1. */
static long cobs_decode(uint8_t* buf, size_t len) {
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = buf[i++];
        size_t k;
        if (code == 0 || i + code - 1 > len) return -1;
        for (k = 1; k < code; k++) buf[o++] = buf[i++];
        if (code != 0xff && i < len) buf[o++] = 0;
    }
    return (long)o;
}

static void write_all(const uint8_t* p, size_t n) {
    while (n > 0) {
        ssize_t w = write(board.out_fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) exit(0); /* the host went away */
        p += w;
        n -= (size_t)w;
    }
}

/* Every answer goes through here: behaviour applies. */
static void send_frame(const uint8_t* data, size_t len) {
    static uint8_t enc[2 * HIL_TARGET_MSG_MAX + 600];
    uint8_t copy[HIL_TARGET_MSG_MAX + 300];
    size_t n;
    if (board.silent || len > sizeof copy) return;
    memcpy(copy, data, len);
    if (board.delay_ms > 0) {
        /* simulated processing time of a slow board */
        struct timespec ts;
        ts.tv_sec = board.delay_ms / 1000;
        ts.tv_nsec = (long)(board.delay_ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
    if (board.corrupt && (board.answers & 1) && len > 0) copy[len / 2] ^= 0x10;
    board.answers++;
    n = cobs_encode(copy, len, enc);
    write_all(enc, n);
}

static void target_write(void* user, const uint8_t* data, size_t len) {
    (void)user;
    send_frame(data, len);
}

/* ---- on-target tests (answered through hil_target.h) -------------------------------- */

static hil_target target;

/* What the real test would spend on the hardware (a RAM walk, a flash read,
 * an ADC settling), so that a lab session has realistic shapes. */
static void busy_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static int suite_setup(hil_target* t) {
    hil_target_log(t, "selftest: powering the peripherals");
    return HIL_TARGET_PASS;
}

static int ram_check(hil_target* t) {
    static volatile uint8_t ram[4096];
    size_t i;
    for (i = 0; i < sizeof ram; i++) ram[i] = (uint8_t)(i * 7);
    for (i = 0; i < sizeof ram; i++)
        if (ram[i] != (uint8_t)(i * 7)) return hil_target_fail(t, "RAM pattern mismatch");
    busy_ms(400);
    hil_target_log(t, "4096 bytes of RAM verified");
    return HIL_TARGET_PASS;
}

static int flash_crc(hil_target* t) {
    /* the "image" is the version string; its CRC must be stable */
    const char* v = board.version;
    uint16_t crc = 0;
    while (*v) {
        int i;
        crc ^= (uint16_t)((uint8_t)*v++ << 8);
        for (i = 0; i < 8; i++) crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    if (crc == 0) return hil_target_fail(t, "flash CRC is zero: erased image?");
    busy_ms(300);
    hil_target_log(t, "flash image CRC verified");
    return HIL_TARGET_PASS;
}

static int adc_reference(hil_target* t) {
    double vref = 1.2 + (double)(board.seed % 7) / 1000.0;
    busy_ms(250);
    if (vref < 1.18 || vref > 1.22) return hil_target_fail(t, "VREF out of range");
    hil_target_log(t, "VREF within 1.18..1.22 V");
    return HIL_TARGET_PASS;
}

static int radio_link(hil_target* t) {
    if (strcmp(board.type, "gateway") != 0) return HIL_TARGET_NOT_IMPLEMENTED;
    busy_ms(900);
    hil_target_log(t, "radio link up, RSSI -61 dBm");
    return HIL_TARGET_PASS;
}

static const hil_target_case cases[] = {
    {1, 0, suite_setup, NULL, NULL},
    {1, 1, NULL, ram_check, NULL},
    {1, 2, NULL, flash_crc, NULL},
    {1, 3, NULL, adc_reference, NULL},
    {2, 1, NULL, radio_link, NULL},
};

/* ---- the service protocol -------------------------------------------------------------- */

static double next_temperature(void) {
    /* a bounded random walk: reproducible for a seed */
    board.seed = board.seed * 1103515245u + 12345u;
    board.temperature += ((double)((board.seed >> 16) % 201) - 100.0) / 1000.0;
    if (board.temperature < 18.0) board.temperature = 18.0;
    if (board.temperature > 26.0) board.temperature = 26.0;
    return board.temperature;
}

static void service(const char* cmd) {
    char out[300];
    int n;
    if (has_prefix(cmd, "ECHO ")) n = snprintf(out, sizeof out, "\x01%s", cmd);
    else if (strcmp(cmd, "SENSOR?") == 0) {
        busy_ms(20); /* the sensor's conversion time */
        n = snprintf(out, sizeof out, "\x01SENSOR %.2f C", next_temperature());
    }
    else if (strcmp(cmd, "INFO?") == 0)
        n = snprintf(out, sizeof out, "\x01INFO %s %s %s %s", board.name, board.type, board.variant, board.version);
    else if (has_prefix(cmd, "MODE ")) {
        int bad = set_mode(cmd + 5);
        n = snprintf(out, sizeof out, "\x01%s %s", bad ? "ERR mode" : "MODE", cmd + 5);
    } else {
        n = snprintf(out, sizeof out, "\x01" "ERR unknown command");
    }
    if (n > 0) send_frame((const uint8_t*)out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
}

static void frame(uint8_t* data, size_t len) {
    board.frames++;
    if (board.crash_after && (long)board.frames >= board.crash_after) {
        fprintf(stderr, "sim-firmware %s: crashing as told (frame %lu)\n", board.name, board.frames);
        abort();
    }
    if (len > 0 && data[0] == 0x01) {
        char text[300];
        size_t n = len - 1 < sizeof text - 1 ? len - 1 : sizeof text - 1;
        memcpy(text, data + 1, n);
        text[n] = 0;
        service(text);
    } else {
        hil_target_input(&target, data, len);
    }
}

/* ---- main --------------------------------------------------------------------------------- */

/* Boot what the flasher wrote: "HILFW variant=V version=X". */
static void boot_from_flash(const char* path) {
    static char variant[64], version[64];
    char line[256];
    FILE* f = fopen(path, "r");
    if (!f || !fgets(line, sizeof line, f) || sscanf(line, "HILFW variant=%63s version=%63s", variant, version) != 2) {
        fprintf(stderr, "sim-firmware %s: no bootable firmware in %s (flash it first)\n", board.name, path);
        exit(3);
    }
    fclose(f);
    board.variant = variant;
    board.version = version;
}

static void usage(void) {
    fprintf(stderr, "usage: sim-firmware [--name NAME] [--type TYPE] [--variant V] [--version X.Y.Z] [--seed N]\n"
                    "                    [--flash FILE] [--tty PATH] [--misbehave ok|delay=MS|silent|corrupt|crash|crash-after=N]\n");
    exit(2);
}

static int open_tty(const char* path) {
    struct termios t;
    int fd = open(path, O_RDWR | O_NOCTTY);
    if (fd < 0) {
        fprintf(stderr, "sim-firmware: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
}

int main(int argc, char** argv) {
    static uint8_t rx[4096];
    size_t rx_len = 0;
    const char* flash_file = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--name") == 0) board.name = v;
        else if (strcmp(a, "--type") == 0) board.type = v;
        else if (strcmp(a, "--variant") == 0) board.variant = v;
        else if (strcmp(a, "--version") == 0) board.version = v;
        else if (strcmp(a, "--seed") == 0) board.seed = (unsigned)strtoul(v, NULL, 0);
        else if (strcmp(a, "--tty") == 0) board.in_fd = board.out_fd = open_tty(v);
        else if (strcmp(a, "--flash") == 0) flash_file = v;
        else if (strcmp(a, "--misbehave") == 0) {
            if (set_mode(v) != 0) usage();
        } else usage();
        i++;
    }
    if (flash_file) boot_from_flash(flash_file);
    signal(SIGPIPE, SIG_IGN);
    hil_target_init(&target, cases, sizeof cases / sizeof cases[0], target_write, NULL);
    fprintf(stderr, "sim-firmware %s (%s, %s %s) ready\n", board.name, board.type, board.variant, board.version);
    for (;;) {
        ssize_t n = read(board.in_fd, rx + rx_len, sizeof rx - rx_len);
        size_t start = 0, k;
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0; /* the host closed the line: power off */
        rx_len += (size_t)n;
        for (k = 0; k < rx_len; k++) {
            if (rx[k] != 0) continue;
            if (k > start) {
                long len = cobs_decode(rx + start, k - start);
                if (len >= 0) frame(rx + start, (size_t)len);
                else fprintf(stderr, "sim-firmware %s: a corrupt frame (%zu bytes) skipped\n", board.name, k - start);
            }
            start = k + 1;
        }
        if (start > 0) {
            memmove(rx, rx + start, rx_len - start);
            rx_len -= start;
        } else if (rx_len == sizeof rx) {
            fprintf(stderr, "sim-firmware %s: a frame longer than %zu bytes dropped\n", board.name, sizeof rx);
            rx_len = 0;
        }
    }
}
