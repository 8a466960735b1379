/* ecu-sim - a simulated ECU that answers UDS (ISO 14229-1) requests, for
 * the tests of hil_uds.h and as a demo. Only libc and POSIX; the transport
 * is a small shim:
 *
 *   --stdio                 requests on stdin, answers on stdout, each message
 *                           prefixed by its length (2 bytes, big endian): hil's
 *                           process channel with framing = length (the default)
 *   --functional-udp PORT   with --stdio: datagrams to 127.0.0.1:PORT are
 *                           functional requests (answers still go to stdout)
 *   --isotp IFACE           the kernel's ISO-TP (CAN_ISOTP) on IFACE (Linux)
 *     --rx ID --tx ID       physical ids (default 0x7E0 in, 0x7E8 out)
 *     --func-rx ID          functional id (default 0x7DF; 0: none)
 *
 * Behaviour options:
 *   --p2 MS --p2star MS     what DiagnosticSessionControl reports (50, 5000)
 *   --s3 MS                 a non-default session ends this long after the
 *                           last request or final answer (default 5000)
 *   --slow-ms MS            routine 0x0201 takes this long (default 600),
 *   --pending-ms MS         answering 0x78 every MS meanwhile (default 200)
 *   --mode normal|silent|pending|pending-once
 *                           silent: never answers; pending: answers every
 *                           request with 0x78 forever; pending-once: one 0x78,
 *                           then nothing (for the client's timeout tests)
 *   --seed N                the first security seed (default 0x1A2B3C4D)
 *
 * What it serves (docs/uds.md has the table):
 *   0x10 sessions 01 default, 02 programming, 03 extended (S3 timeout)
 *   0x11 resets 01, 02, 03, 04 (04 answers a power-down time of 1 s)
 *   0x27 level 01/02, non-default session: 4-byte seed S (big endian),
 *        key = rotl32(S, 5) ^ 0x48494C21 (big endian); 3 wrong keys lock it
 *        for 1 s (0x36, then 0x37); a seed of zeros when unlocked
 *   0x22/0x2E DIDs:
 *        F190 VIN, ascii 17 "HILSIM00000000001" (read only)
 *        F186 the active session, u8 (read only)
 *        0101 temperature, s16 big endian, scale 0.1 degC: -123 (-12.3 degC)
 *        0102 a config value, u16, writable in the extended session when unlocked
 *        0103 8 bytes, writable in any session (for codec tests)
 *        0200 TesterPresent requests received, u32
 *        0201 CRC-32 of the last download, u32; 0202 its bytes received, u32
 *   0x19 01, 02, 0A, 06 (record 01: occurrence counter; FF: all) on three DTCs
 *   0x14 FFFFFF or one of the DTCs
 *   0x31 FF00 erase (programming session, unlocked; parameters 44 addr size)
 *        FF01 check (optional 4-byte CRC-32; routine info 00 ok, 01 wrong)
 *        0201 slow: 0x78 every --pending-ms, then 71 01 02 01 00
 *   0x3E 00 (and 80: no answer), counted in DID 0200
 *   0x28 00..03 with type 01..03 (non-default session)
 *   0x85 01 on, 02 off (non-default session)
 *   0x34/0x36/0x37 memory 0x08000000..0x080FFFFF (programming session,
 *        unlocked, format 00, addressAndLengthFormatIdentifier 0x44);
 *        maxNumberOfBlockLength 0x0102 (256 data bytes); counters from 1,
 *        0xFF wraps to 0x00, a repeated counter is accepted and not stored
 *   and a negative response for every bad request (length, sub-function,
 *   range, session, sequence, security).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#ifdef __linux__
#include <net/if.h>
#include <linux/can.h>
#include <linux/can/isotp.h>
#endif

#define MSG_MAX 4095
#define MEM_BASE 0x08000000u
#define MEM_SIZE 0x100000u
#define BLOCK_LEN 0x102u

/* ---- transport shim -------------------------------------------------------- */

enum { T_STDIO, T_ISOTP };
static int transport = T_STDIO;
static int in_fd = 0, out_fd = 1, func_fd = -1;
static unsigned char inbuf[2 + MSG_MAX + 16];
static size_t inlen;

static void die(const char* what) {
    fprintf(stderr, "ecu-sim: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void send_msg(const unsigned char* p, size_t n) {
    unsigned char buf[2 + MSG_MAX];
    size_t off = 0, total;
    if (transport == T_ISOTP) {
        if (write(out_fd, p, n) < 0) fprintf(stderr, "ecu-sim: isotp write: %s\n", strerror(errno));
        return;
    }
    buf[0] = (unsigned char)(n >> 8);
    buf[1] = (unsigned char)n;
    memcpy(buf + 2, p, n);
    total = n + 2;
    while (off < total) {
        ssize_t w = write(out_fd, buf + off, total - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) exit(0); /* the tester went away */
        off += (size_t)w;
    }
}

/* ---- time ------------------------------------------------------------------ */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the ECU --------------------------------------------------------------- */

static int opt_p2 = 50, opt_p2star = 5000, opt_s3 = 5000, opt_slow = 600, opt_pending = 200;
static enum { M_NORMAL, M_SILENT, M_PENDING, M_PENDING_ONCE } mode = M_NORMAL;

static int session = 1;
static long long last_request_ms; /* S3 runs from the last request or final answer (ISO 14229-2) */
static int unlocked, seed_sent, bad_keys;
static long long locked_until;
static uint32_t seed_state = 0x1A2B3C4Du, seed_value;
static uint16_t config_value = 0x1234;
static unsigned char raw8[8];
static uint32_t tester_present_count;
static int dtc_setting_on = 1, comm_state = 0;

typedef struct dtc { uint32_t code; uint8_t status; uint8_t occurrences; int present; } dtc;
static dtc dtcs[3];

/* download state */
static int dl_active;
static uint32_t dl_addr, dl_size, dl_received, dl_crc;
static uint8_t dl_counter; /* the last accepted */
static unsigned char* memory;
static uint32_t last_crc, last_received;

/* a slow routine or "pending" mode in progress */
static int pend_active;
static long long pend_next_ms, pend_done_ms;
static unsigned char pend_sid;
static unsigned char pend_final[16];
static size_t pend_final_len;

static void reset_dtcs(void) {
    dtcs[0].code = 0x012345; dtcs[0].status = 0x09; dtcs[0].occurrences = 3; dtcs[0].present = 1; /* testFailed, confirmed */
    dtcs[1].code = 0x054321; dtcs[1].status = 0x24; dtcs[1].occurrences = 1; dtcs[1].present = 1; /* pending, testNotCompletedSinceLastClear */
    dtcs[2].code = 0xC12300; dtcs[2].status = 0x08; dtcs[2].occurrences = 7; dtcs[2].present = 1; /* confirmed */
}

static void reset_ecu(void) {
    session = 1;
    unlocked = seed_sent = 0;
    dl_active = 0;
    pend_active = 0;
    dtc_setting_on = 1;
    comm_state = 0;
}

static uint32_t crc32(uint32_t c, const unsigned char* p, size_t n) {
    size_t i;
    int k;
    c = ~c;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static uint32_t key_of(uint32_t seed) { return ((seed << 5) | (seed >> 27)) ^ 0x48494C21u; }

static uint32_t be32(const unsigned char* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put32(unsigned char* p, uint32_t v) { p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v; }

static int functional_req; /* the request being handled came functionally */

static void nrc(unsigned char sid, unsigned char code) {
    unsigned char r[3];
    /* ISO 14229-1: functional requests get no 0x11, 0x12, 0x31, 0x7E, 0x7F */
    if (functional_req && (code == 0x11 || code == 0x12 || code == 0x31 || code == 0x7E || code == 0x7F)) return;
    r[0] = 0x7F;
    r[1] = sid;
    r[2] = code;
    send_msg(r, 3);
}

static void positive(const unsigned char* r, size_t n, int suppress) {
    if (!suppress) send_msg(r, n);
}

static int read_did(uint16_t id, unsigned char* out, size_t* n) {
    switch (id) {
    case 0xF190: memcpy(out, "HILSIM00000000001", 17); *n = 17; return 1;
    case 0xF186: out[0] = (unsigned char)session; *n = 1; return 1;
    case 0x0101: out[0] = 0xFF; out[1] = 0x85; *n = 2; return 1; /* -123: -12.3 degC */
    case 0x0102: out[0] = (unsigned char)(config_value >> 8); out[1] = (unsigned char)config_value; *n = 2; return 1;
    case 0x0103: memcpy(out, raw8, 8); *n = 8; return 1;
    case 0x0200: put32(out, tester_present_count); *n = 4; return 1;
    case 0x0201: put32(out, last_crc); *n = 4; return 1;
    case 0x0202: put32(out, last_received); *n = 4; return 1;
    default: return 0;
    }
}

static void svc_session(const unsigned char* q, size_t n, int sup) {
    unsigned char r[6];
    int s = q[1] & 0x7F;
    if (n != 2) { nrc(0x10, 0x13); return; }
    if (s < 1 || s > 3) { nrc(0x10, 0x12); return; }
    if (s != session) { unlocked = 0; seed_sent = 0; } /* a new session locks again */
    if (s == 1) { dl_active = 0; dtc_setting_on = 1; comm_state = 0; }
    session = s;
    r[0] = 0x50; r[1] = (unsigned char)s;
    r[2] = (unsigned char)(opt_p2 >> 8); r[3] = (unsigned char)opt_p2;
    r[4] = (unsigned char)((opt_p2star / 10) >> 8); r[5] = (unsigned char)(opt_p2star / 10);
    positive(r, 6, sup);
}

static void svc_reset(const unsigned char* q, size_t n, int sup) {
    unsigned char r[3];
    int t = q[1] & 0x7F;
    if (n != 2) { nrc(0x11, 0x13); return; }
    if (t < 1 || t > 4) { nrc(0x11, 0x12); return; }
    r[0] = 0x51; r[1] = (unsigned char)t; r[2] = 1;
    positive(r, t == 4 ? 3 : 2, sup);
    if (t != 4) reset_ecu();
}

static void svc_security(const unsigned char* q, size_t n, int sup) {
    unsigned char r[6];
    int sub = q[1] & 0x7F;
    if (n < 2) { nrc(0x27, 0x13); return; }
    if (sub != 1 && sub != 2) { nrc(0x27, 0x12); return; }
    if (session == 1) { nrc(0x27, 0x7F); return; }
    if (sub == 1) {
        if (n != 2) { nrc(0x27, 0x13); return; }
        if (now_ms() < locked_until) { nrc(0x27, 0x37); return; }
        r[0] = 0x67; r[1] = 0x01;
        if (unlocked) memset(r + 2, 0, 4);
        else {
            seed_state = seed_state * 1103515245u + 12345u;
            seed_value = seed_state ? seed_state : 1;
            put32(r + 2, seed_value);
            seed_sent = 1;
        }
        positive(r, 6, sup);
        return;
    }
    if (n != 6) { nrc(0x27, 0x13); return; }
    if (!seed_sent) { nrc(0x27, 0x24); return; }
    seed_sent = 0;
    if (be32(q + 2) != key_of(seed_value)) {
        if (++bad_keys >= 3) {
            bad_keys = 0;
            locked_until = now_ms() + 1000;
            nrc(0x27, 0x36);
        } else nrc(0x27, 0x35);
        return;
    }
    bad_keys = 0;
    unlocked = 1;
    r[0] = 0x67; r[1] = 0x02;
    positive(r, 2, sup);
}

static void svc_rdbi(const unsigned char* q, size_t n) {
    unsigned char r[MSG_MAX];
    size_t k = 1, i;
    if (n < 3 || (n - 1) % 2) { nrc(0x22, 0x13); return; }
    r[0] = 0x62;
    for (i = 1; i < n; i += 2) {
        uint16_t id = (uint16_t)(q[i] << 8 | q[i + 1]);
        size_t len;
        if (k + 2 + 64 > sizeof r) { nrc(0x22, 0x14); return; }
        r[k] = q[i]; r[k + 1] = q[i + 1];
        if (!read_did(id, r + k + 2, &len)) { nrc(0x22, 0x31); return; }
        k += 2 + len;
    }
    send_msg(r, k);
}

static void svc_wdbi(const unsigned char* q, size_t n) {
    unsigned char r[3];
    uint16_t id;
    if (n < 4) { nrc(0x2E, 0x13); return; }
    id = (uint16_t)(q[1] << 8 | q[2]);
    if (id == 0x0102) {
        if (n != 5) { nrc(0x2E, 0x13); return; }
        if (session != 3) { nrc(0x2E, 0x22); return; }
        if (!unlocked) { nrc(0x2E, 0x33); return; }
        config_value = (uint16_t)(q[3] << 8 | q[4]);
    } else if (id == 0x0103) {
        if (n != 11) { nrc(0x2E, 0x13); return; }
        memcpy(raw8, q + 3, 8);
    } else {
        unsigned char tmp[64];
        size_t len;
        nrc(0x2E, read_did(id, tmp, &len) ? 0x31 : 0x31); /* read-only and unknown DIDs alike */
        return;
    }
    r[0] = 0x6E; r[1] = q[1]; r[2] = q[2];
    send_msg(r, 3);
}

static int dtc_matches(const dtc* d, uint8_t mask) { return d->present && (d->status & mask); }

static void svc_rdtc(const unsigned char* q, size_t n, int sup) {
    unsigned char r[64];
    size_t k = 0, i;
    int sub = q[1] & 0x7F;
    if (n < 2) { nrc(0x19, 0x13); return; }
    r[k++] = 0x59;
    r[k++] = (unsigned char)sub;
    switch (sub) {
    case 0x01: case 0x02: {
        unsigned count = 0;
        if (n != 3) { nrc(0x19, 0x13); return; }
        r[k++] = 0xFF; /* DTCStatusAvailabilityMask */
        if (sub == 0x01) {
            for (i = 0; i < 3; i++) count += dtc_matches(&dtcs[i], q[2]);
            r[k++] = 0x01; /* ISO 14229-1 DTC format */
            r[k++] = (unsigned char)(count >> 8);
            r[k++] = (unsigned char)count;
        } else {
            for (i = 0; i < 3; i++)
                if (dtc_matches(&dtcs[i], q[2])) {
                    r[k++] = (unsigned char)(dtcs[i].code >> 16); r[k++] = (unsigned char)(dtcs[i].code >> 8);
                    r[k++] = (unsigned char)dtcs[i].code; r[k++] = dtcs[i].status;
                }
        }
        break;
    }
    case 0x0A:
        if (n != 2) { nrc(0x19, 0x13); return; }
        r[k++] = 0xFF;
        for (i = 0; i < 3; i++) { /* every supported DTC, status 0 after a clear */
            r[k++] = (unsigned char)(dtcs[i].code >> 16); r[k++] = (unsigned char)(dtcs[i].code >> 8);
            r[k++] = (unsigned char)dtcs[i].code; r[k++] = dtcs[i].present ? dtcs[i].status : 0;
        }
        break;
    case 0x06: {
        uint32_t code;
        dtc* d = NULL;
        if (n != 6) { nrc(0x19, 0x13); return; }
        code = (uint32_t)q[2] << 16 | (uint32_t)q[3] << 8 | q[4];
        for (i = 0; i < 3; i++) if (dtcs[i].code == code) d = &dtcs[i];
        if (!d || (q[5] != 0x01 && q[5] != 0xFF)) { nrc(0x19, 0x31); return; }
        memcpy(r + k, q + 2, 3); k += 3;
        r[k++] = d->present ? d->status : 0;
        if (d->present) { r[k++] = 0x01; r[k++] = d->occurrences; }
        break;
    }
    default: nrc(0x19, 0x12); return;
    }
    positive(r, k, sup);
}

static void svc_clear(const unsigned char* q, size_t n) {
    unsigned char r[1] = {0x54};
    uint32_t g;
    size_t i;
    int hit = 0;
    if (n != 4) { nrc(0x14, 0x13); return; }
    g = (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
    for (i = 0; i < 3; i++)
        if (g == 0xFFFFFF || dtcs[i].code == g) { dtcs[i].present = 0; hit = 1; }
    if (!hit) { nrc(0x14, 0x31); return; }
    send_msg(r, 1);
}

static void start_pending(unsigned char sid, const unsigned char* final, size_t n, int total_ms) {
    pend_active = 1;
    pend_sid = sid;
    memcpy(pend_final, final, n);
    pend_final_len = n;
    pend_done_ms = total_ms < 0 ? -1 : now_ms() + total_ms;
    pend_next_ms = now_ms() + opt_pending;
    nrc(sid, 0x78);
}

static void svc_routine(const unsigned char* q, size_t n, int sup) {
    unsigned char r[8];
    int type = q[1] & 0x7F;
    uint16_t rid;
    if (n < 4) { nrc(0x31, 0x13); return; }
    if (type < 1 || type > 3) { nrc(0x31, 0x12); return; }
    rid = (uint16_t)(q[2] << 8 | q[3]);
    r[0] = 0x71; r[1] = (unsigned char)type; r[2] = q[2]; r[3] = q[3];
    if (rid == 0xFF00) {
        uint32_t a, s;
        if (type != 1) { nrc(0x31, 0x12); return; }
        if (session != 2) { nrc(0x31, 0x22); return; }
        if (!unlocked) { nrc(0x31, 0x33); return; }
        if (n != 13 || q[4] != 0x44) { nrc(0x31, 0x13); return; }
        a = be32(q + 5); s = be32(q + 9);
        if (a < MEM_BASE || s > MEM_SIZE || a - MEM_BASE > MEM_SIZE - s) { nrc(0x31, 0x31); return; }
        memset(memory + (a - MEM_BASE), 0xFF, s);
        r[4] = 0;
        positive(r, 5, sup);
    } else if (rid == 0xFF01) {
        if (type != 1) { nrc(0x31, 0x12); return; }
        if (session != 2) { nrc(0x31, 0x22); return; }
        if (n != 4 && n != 8) { nrc(0x31, 0x13); return; }
        /* 0: correct; 1: wrong CRC or an incomplete download */
        r[4] = (unsigned char)(last_received == 0 || dl_active || (n == 8 && be32(q + 4) != last_crc));
        positive(r, 5, sup);
    } else if (rid == 0x0201) {
        if (n != 4) { nrc(0x31, 0x13); return; }
        if (type == 2) { nrc(0x31, 0x24); return; }
        r[4] = 0x01; r[5] = 0x00; /* routineInfo, status: done */
        if (type == 3) { positive(r, 6, sup); return; }
        start_pending(0x31, r, 6, opt_slow);
    } else {
        nrc(0x31, 0x31);
    }
}

static void svc_tester_present(const unsigned char* q, size_t n, int sup) {
    unsigned char r[2] = {0x7E, 0x00};
    if (n != 2) { nrc(0x3E, 0x13); return; }
    if ((q[1] & 0x7F) != 0) { nrc(0x3E, 0x12); return; }
    tester_present_count++;
    positive(r, 2, sup);
}

static void svc_comm(const unsigned char* q, size_t n, int sup) {
    unsigned char r[2];
    int c = q[1] & 0x7F;
    if (n != 3) { nrc(0x28, 0x13); return; }
    if (c > 3) { nrc(0x28, 0x12); return; }
    if (session == 1) { nrc(0x28, 0x7F); return; }
    if (q[2] < 1 || q[2] > 3) { nrc(0x28, 0x31); return; }
    comm_state = c;
    r[0] = 0x68; r[1] = (unsigned char)c;
    positive(r, 2, sup);
}

static void svc_dtc_setting(const unsigned char* q, size_t n, int sup) {
    unsigned char r[2];
    int s = q[1] & 0x7F;
    if (n != 2) { nrc(0x85, 0x13); return; }
    if (s != 1 && s != 2) { nrc(0x85, 0x12); return; }
    if (session == 1) { nrc(0x85, 0x7F); return; }
    dtc_setting_on = s == 1;
    r[0] = 0xC5; r[1] = (unsigned char)s;
    positive(r, 2, sup);
}

static void svc_download(const unsigned char* q, size_t n) {
    unsigned char r[4] = {0x74, 0x20, BLOCK_LEN >> 8, BLOCK_LEN & 0xFF};
    uint32_t a, s;
    if (n != 11) { nrc(0x34, 0x13); return; }
    if (session != 2) { nrc(0x34, 0x7F); return; }
    if (!unlocked) { nrc(0x34, 0x33); return; }
    if (q[1] != 0x00 || q[2] != 0x44) { nrc(0x34, 0x31); return; }
    if (dl_active) { nrc(0x34, 0x22); return; }
    a = be32(q + 3); s = be32(q + 7);
    if (a < MEM_BASE || s == 0 || s > MEM_SIZE || a - MEM_BASE > MEM_SIZE - s) { nrc(0x34, 0x31); return; }
    dl_active = 1;
    dl_addr = a; dl_size = s; dl_received = 0; dl_crc = 0; dl_counter = 0;
    last_crc = 0; last_received = 0;
    send_msg(r, 4);
}

static void svc_transfer(const unsigned char* q, size_t n) {
    unsigned char r[2];
    uint8_t want;
    size_t len;
    if (n < 2) { nrc(0x36, 0x13); return; }
    if (!dl_active) { nrc(0x36, 0x24); return; }
    want = (uint8_t)(dl_counter + 1);
    r[0] = 0x76; r[1] = q[1];
    if (q[1] == dl_counter && dl_received) { send_msg(r, 2); return; } /* a repeated block: answered, not stored */
    if (q[1] != want) { nrc(0x36, 0x73); return; }
    len = n - 2;
    if (len == 0 || len > BLOCK_LEN - 2) { nrc(0x36, 0x13); return; }
    if (dl_received + len > dl_size) { nrc(0x36, 0x71); return; }
    memcpy(memory + (dl_addr - MEM_BASE) + dl_received, q + 2, len);
    dl_crc = crc32(dl_crc, q + 2, len);
    dl_received += (uint32_t)len;
    dl_counter = want;
    last_received = dl_received;
    send_msg(r, 2);
}

static void svc_exit(const unsigned char* q, size_t n) {
    unsigned char r[1] = {0x77};
    (void)q;
    if (n != 1) { nrc(0x37, 0x13); return; }
    if (!dl_active) { nrc(0x37, 0x24); return; }
    if (dl_received != dl_size) { nrc(0x37, 0x24); return; } /* the download is incomplete */
    dl_active = 0;
    last_crc = dl_crc;
    send_msg(r, 1);
}

static void handle(const unsigned char* q, size_t n, int functional) {
    int sup = n >= 2 && (q[1] & 0x80);
    long long t = now_ms();
    if (!n) return;
    functional_req = functional;
    if (session != 1 && t - last_request_ms > opt_s3) { /* S3 expired: back to the default session */
        fprintf(stderr, "ecu-sim: S3 timeout (%d ms): default session\n", opt_s3);
        session = 1;
        unlocked = seed_sent = 0;
        dl_active = 0;
    }
    last_request_ms = t;
    if (mode == M_SILENT) return;
    if (mode == M_PENDING || mode == M_PENDING_ONCE) {
        start_pending(q[0], q, 0, -1);
        if (mode == M_PENDING_ONCE) pend_active = 0;
        return;
    }
    if (pend_active) { nrc(q[0], 0x21); return; } /* busy with a slow routine */
    switch (q[0]) {
    case 0x10: if (n < 2) nrc(0x10, 0x13); else svc_session(q, n, sup); break;
    case 0x11: if (n < 2) nrc(0x11, 0x13); else svc_reset(q, n, sup); break;
    case 0x27: if (n < 2) nrc(0x27, 0x13); else svc_security(q, n, sup); break;
    case 0x22: svc_rdbi(q, n); break;
    case 0x2E: svc_wdbi(q, n); break;
    case 0x19: if (n < 2) nrc(0x19, 0x13); else svc_rdtc(q, n, sup); break;
    case 0x14: svc_clear(q, n); break;
    case 0x31: if (n < 2) nrc(0x31, 0x13); else svc_routine(q, n, sup); break;
    case 0x3E: if (n < 2) nrc(0x3E, 0x13); else svc_tester_present(q, n, sup); break;
    case 0x28: if (n < 2) nrc(0x28, 0x13); else svc_comm(q, n, sup); break;
    case 0x85: if (n < 2) nrc(0x85, 0x13); else svc_dtc_setting(q, n, sup); break;
    case 0x34: svc_download(q, n); break;
    case 0x36: svc_transfer(q, n); break;
    case 0x37: svc_exit(q, n); break;
    default: nrc(q[0], 0x11); break;
    }
}

/* The pending answer's next step is due: another 0x78, or the final answer. */
static void pending_tick(void) {
    long long t = now_ms();
    if (!pend_active || t < pend_next_ms) return;
    if (pend_done_ms >= 0 && t >= pend_done_ms) {
        pend_active = 0;
        send_msg(pend_final, pend_final_len);
        last_request_ms = t;
        return;
    }
    nrc(pend_sid, 0x78);
    pend_next_ms = t + opt_pending;
}

/* ---- main loop ------------------------------------------------------------- */

static void read_stdio(void) {
    ssize_t r = read(in_fd, inbuf + inlen, sizeof inbuf - inlen);
    if (r == 0) exit(0);
    if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) return;
        die("read stdin");
    }
    inlen += (size_t)r;
    for (;;) {
        size_t len;
        if (inlen < 2) return;
        len = (size_t)inbuf[0] << 8 | inbuf[1];
        if (len > MSG_MAX) {
            fprintf(stderr, "ecu-sim: a frame of %zu bytes (at most %d): out of sync, exiting\n", len, MSG_MAX);
            exit(3);
        }
        if (inlen < 2 + len) return;
        handle(inbuf + 2, len, 0);
        memmove(inbuf, inbuf + 2 + len, inlen - 2 - len);
        inlen -= 2 + len;
    }
}

static void read_packet(int fd, int functional) {
    unsigned char buf[MSG_MAX + 1];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) return;
        fprintf(stderr, "ecu-sim: receive: %s\n", strerror(errno));
        return;
    }
    handle(buf, (size_t)r, functional);
}

static unsigned long num(const char* s) { return strtoul(s, NULL, 0); }

#ifdef __linux__
static int isotp_open(const char* ifname, unsigned rx, unsigned tx) {
    struct sockaddr_can addr;
    int s = socket(PF_CAN, SOCK_DGRAM, CAN_ISOTP);
    if (s < 0) {
        fprintf(stderr, "ecu-sim: socket(CAN_ISOTP): %s (modprobe can-isotp)\n", strerror(errno));
        exit(2);
    }
    memset(&addr, 0, sizeof addr);
    addr.can_family = AF_CAN;
    addr.can_ifindex = (int)if_nametoindex(ifname);
    if (!addr.can_ifindex) {
        fprintf(stderr, "ecu-sim: no CAN interface '%s'\n", ifname);
        exit(2);
    }
    addr.can_addr.tp.rx_id = rx;
    addr.can_addr.tp.tx_id = tx;
    if (bind(s, (struct sockaddr*)&addr, sizeof addr) < 0) die("bind isotp");
    return s;
}
#endif

int main(int argc, char** argv) {
    const char* iface = NULL;
    unsigned rx = 0x7E0, tx = 0x7E8, func_rx = 0x7DF;
    int func_port = 0, i;
    for (i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--stdio") == 0) { transport = T_STDIO; continue; }
        if (!v) { fprintf(stderr, "ecu-sim: unknown option or missing value: %s (see the comment at the top of ecu_sim.c)\n", a); return 2; }
        if (strcmp(a, "--isotp") == 0) { transport = T_ISOTP; iface = v; }
        else if (strcmp(a, "--rx") == 0) rx = (unsigned)num(v);
        else if (strcmp(a, "--tx") == 0) tx = (unsigned)num(v);
        else if (strcmp(a, "--func-rx") == 0) func_rx = (unsigned)num(v);
        else if (strcmp(a, "--functional-udp") == 0) func_port = (int)num(v);
        else if (strcmp(a, "--p2") == 0) opt_p2 = (int)num(v);
        else if (strcmp(a, "--p2star") == 0) opt_p2star = (int)num(v);
        else if (strcmp(a, "--s3") == 0) opt_s3 = (int)num(v);
        else if (strcmp(a, "--slow-ms") == 0) opt_slow = (int)num(v);
        else if (strcmp(a, "--pending-ms") == 0) opt_pending = (int)num(v);
        else if (strcmp(a, "--seed") == 0) seed_state = (uint32_t)num(v);
        else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "normal") == 0) mode = M_NORMAL;
            else if (strcmp(v, "silent") == 0) mode = M_SILENT;
            else if (strcmp(v, "pending") == 0) mode = M_PENDING;
            else if (strcmp(v, "pending-once") == 0) mode = M_PENDING_ONCE;
            else { fprintf(stderr, "ecu-sim: --mode %s: normal, silent, pending or pending-once\n", v); return 2; }
        } else { fprintf(stderr, "ecu-sim: unknown option %s\n", a); return 2; }
        i++;
    }
    if (!(memory = (unsigned char*)malloc(MEM_SIZE))) die("malloc");
    memset(memory, 0xFF, MEM_SIZE);
    reset_dtcs();
    if (transport == T_ISOTP) {
#ifdef __linux__
        in_fd = out_fd = isotp_open(iface, rx, tx);
        if (func_rx) func_fd = isotp_open(iface, func_rx, tx);
#else
        fprintf(stderr, "ecu-sim: --isotp needs Linux\n");
        return 2;
#endif
    } else if (func_port) {
        struct sockaddr_in sa;
        func_fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (func_fd < 0) die("socket");
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)func_port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(func_fd, (struct sockaddr*)&sa, sizeof sa) < 0) die("bind the functional UDP port");
    }
    fprintf(stderr, "ecu-sim: ready (%s)\n", transport == T_ISOTP ? "isotp" : "stdio");
    for (;;) {
        struct pollfd p[2];
        int np = 0, timeout = -1, rc;
        p[np].fd = in_fd; p[np].events = POLLIN; np++;
        if (func_fd >= 0) { p[np].fd = func_fd; p[np].events = POLLIN; np++; }
        if (pend_active) {
            long long left = pend_next_ms - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        rc = poll(p, (nfds_t)np, timeout);
        if (rc < 0 && errno != EINTR) die("poll");
        if (rc > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (transport == T_STDIO) read_stdio();
            else read_packet(in_fd, 0);
        }
        if (rc > 0 && np > 1 && (p[1].revents & POLLIN)) read_packet(func_fd, 1);
        pending_tick();
    }
}
