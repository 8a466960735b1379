/* hil_target.h - the target side of hil's DUT auxiliary, for firmware.
 *
 * It answers the pykiso testApp protocol (the "dut" auxiliary of hil_aux.h
 * speaks the host side): PING, suite and case setup/run/teardown, ABORT.
 * Each step is ACKed, the registered test function runs, and its verdict
 * goes back in a REPORT (PASS, FAILED with a failure reason, or
 * NOT_IMPLEMENTED); the test may send LOG lines meanwhile.
 *
 * Freestanding C99 (also C++): only <stddef.h> and <stdint.h>, no malloc,
 * no stdio, no libc calls; every buffer is in the hil_target struct, which
 * you allocate (static). All functions are static inline: include it where
 * you need it.
 *
 * ==========================================================================
 * EXAMPLE (firmware)
 * ==========================================================================
 *
 *     #include "hil_target.h"
 *
 *     static int adc_reads_vref(hil_target* t) {
 *         int mv = adc_read_mv(ADC_VREF);
 *         hil_target_log(t, "vref measured");
 *         if (mv < 1180 || mv > 1220) return hil_target_fail(t, "vref out of range");
 *         return HIL_TARGET_PASS;
 *     }
 *
 *     static const hil_target_case cases[] = {
 *         {1, 0, adc_suite_setup, NULL, adc_suite_teardown},  (case 0: the suite's own)
 *         {1, 3, NULL, adc_reads_vref, NULL},
 *     };
 *     static hil_target target;
 *
 *     static void uart_write(void* user, const uint8_t* data, size_t len) {
 *         (void)user;
 *         uart_send(data, len);
 *     }
 *
 *     void main_loop(void) {
 *         hil_target_init(&target, cases, sizeof cases / sizeof cases[0], uart_write, NULL);
 *         for (;;) {
 *             uint8_t buf[32];
 *             size_t n = uart_receive(buf, sizeof buf);   (any chunk size)
 *             hil_target_input(&target, buf, n);
 *         }
 *     }
 *
 * On the host:  HIL_REMOTE_TEST(adc, reads_vref, "dut", 1, 3);
 *
 * ==========================================================================
 * RULES
 * ==========================================================================
 *
 * - Test functions run inside hil_target_input(), on its caller's stack;
 *   they return HIL_TARGET_PASS, HIL_TARGET_FAILED (hil_target_fail() sets
 *   the reason) or HIL_TARGET_NOT_IMPLEMENTED. A NULL setup or teardown
 *   passes; a NULL run, or a suite/case not in the table, is NOT_IMPLEMENTED.
 * - hil_target_input() takes bytes in any chunks (a UART) or whole messages
 *   (a packet link); a message with a bad CRC is NACKed and skipped.
 * - hil_target_input() may be called again from inside a running test (a
 *   long test that polls its UART): those bytes are queued behind the
 *   running command (what does not fit in HIL_TARGET_RX_MAX is dropped and
 *   counted in rx_overruns) and handled when the test returns. A whole
 *   ABORT among them sets the flag a long test may poll
 *   (hil_target_aborted) at once; it is ACKed after the test returns and
 *   the flag is cleared when the next step starts.
 * - hil_target_input() is not safe against itself from an interrupt that
 *   can preempt it: an interrupt handler puts bytes in a ring buffer of
 *   yours, and the main loop (or a polling test) passes them on.
 * - Strings given to hil_target_log/hil_target_fail/hil_target_fault are
 *   copied at once (the reason into the hil_target struct, so a reason
 *   formatted into a local buffer is safe); at most HIL_TARGET_TEXT_MAX
 *   (253) bytes are kept and sent.
 * - A fault handler (HardFault, a watchdog's early warning) calls
 *   hil_target_fault(t, "HardFault pc=0x...") before it halts: the host
 *   ends the running step as Errored with that text. It builds its message
 *   in its own stack buffer, so it is safe even if the fault interrupted
 *   a message being sent.
 *
 * Licence: MIT.
 */
#ifndef HIL_TARGET_H_INCLUDED
#define HIL_TARGET_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HIL_TARGET_PASS 0
#define HIL_TARGET_FAILED 1
#define HIL_TARGET_NOT_IMPLEMENTED 2

/* Message types and command sub-types of the protocol. */
#define HIL_TARGET_T_COMMAND 0
#define HIL_TARGET_T_REPORT 1
#define HIL_TARGET_T_ACK 2
#define HIL_TARGET_T_LOG 3
#define HIL_TARGET_C_PING 0
#define HIL_TARGET_C_SECTION_SETUP 1
#define HIL_TARGET_C_SUITE_SETUP 2
#define HIL_TARGET_C_CASE_SETUP 3
#define HIL_TARGET_C_SECTION_RUN 11
#define HIL_TARGET_C_SUITE_RUN 12
#define HIL_TARGET_C_CASE_RUN 13
#define HIL_TARGET_C_SECTION_TEARDOWN 21
#define HIL_TARGET_C_SUITE_TEARDOWN 22
#define HIL_TARGET_C_CASE_TEARDOWN 23
#define HIL_TARGET_C_ABORT 99
#define HIL_TARGET_TLV_TEST_REPORT 110
#define HIL_TARGET_TLV_FAILURE_REASON 112
/* A hil extension of the protocol: a LOG carrying this tag is a fault (a
 * HardFault's registers); the host's DUT auxiliary ends the step Errored. */
#define HIL_TARGET_TLV_FAULT 120
/* NACK error codes */
#define HIL_TARGET_E_CRC 1
#define HIL_TARGET_E_UNKNOWN_COMMAND 2

#define HIL_TARGET_MSG_MAX (8 + 255 + 2)
#define HIL_TARGET_TEXT_MAX 253 /* a TLV of 255 bytes: tag, length, text */
#ifndef HIL_TARGET_RX_MAX
#define HIL_TARGET_RX_MAX (2 * HIL_TARGET_MSG_MAX)
#endif

typedef struct hil_target hil_target;
typedef int (*hil_target_fn)(hil_target* t);
typedef void (*hil_target_write_fn)(void* user, const uint8_t* data, size_t len);

typedef struct hil_target_case {
    uint8_t suite;
    uint8_t test_case;          /* 0: the suite's own setup and teardown */
    hil_target_fn setup, run, teardown;
} hil_target_case;

struct hil_target {
    const hil_target_case* cases;
    size_t n_cases;
    hil_target_write_fn write;
    void* user;
    uint8_t rx[HIL_TARGET_RX_MAX];
    size_t rx_len;
    uint8_t tx[HIL_TARGET_MSG_MAX];
    uint8_t token;              /* of the messages we start (REPORT, LOG) */
    uint8_t suite, test_case;   /* the step running now */
    char reason[HIL_TARGET_TEXT_MAX + 1]; /* hil_target_fail(), copied */
    uint8_t has_reason;
    uint8_t busy;               /* a command's test function is running */
    size_t cmd_len;             /* its length at the start of rx while busy */
    volatile int aborted;
    uint32_t crc_errors;        /* messages dropped for a bad CRC */
    uint32_t rx_overruns;       /* bytes dropped: input queued while busy did not fit */
    uint32_t steps;             /* steps run */
};

/* CRC-16/XMODEM: polynomial 0x1021, initial value 0 ("123456789" -> 0x31C3). */
static inline uint16_t hil_target_crc16(const uint8_t* p, size_t n) {
    uint16_t crc = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        int b;
        crc = (uint16_t)(crc ^ ((uint16_t)p[i] << 8));
        for (b = 0; b < 8; b++) {
            unsigned x = (unsigned)crc << 1;
            crc = (uint16_t)((crc & 0x8000u) ? x ^ 0x1021u : x);
        }
    }
    return crc;
}

static inline void hil_target_init(hil_target* t, const hil_target_case* cases, size_t n_cases,
                                   hil_target_write_fn write, void* user) {
    size_t i;
    /* volatile: the compiler must not turn this loop into a call to memset,
     * which a -nostdlib firmware does not have */
    volatile uint8_t* p = (volatile uint8_t*)t;
    for (i = 0; i < sizeof *t; i++) p[i] = 0;
    t->cases = cases;
    t->n_cases = n_cases;
    t->write = write;
    t->user = user;
}

/* Build a message in buf (HIL_TARGET_MSG_MAX bytes); returns its length. */
static inline size_t hil__target_build(uint8_t* buf, uint8_t type, uint8_t token, uint8_t sub, uint8_t err,
                                       uint8_t suite, uint8_t test_case, uint8_t tag, const char* text) {
    size_t n = 8, len = 0;
    uint16_t crc;
    buf[0] = (uint8_t)(0x40u | ((type & 3u) << 4));
    buf[1] = token;
    buf[2] = sub;
    buf[3] = err;
    buf[4] = 0;
    buf[5] = suite;
    buf[6] = test_case;
    buf[7] = 0;
    if (text) {
        while (text[len] && len < HIL_TARGET_TEXT_MAX) len++;
        buf[8] = tag;
        buf[9] = (uint8_t)len;
        for (n = 0; n < len; n++) buf[10 + n] = (uint8_t)text[n];
        buf[7] = (uint8_t)(len + 2);
        n = 10 + len;
    }
    crc = hil_target_crc16(buf, n);
    buf[n] = (uint8_t)(crc & 0xFFu); /* little-endian */
    buf[n + 1] = (uint8_t)(crc >> 8);
    return n + 2;
}

/* Build a message in t->tx and send it. */
static inline void hil__target_send(hil_target* t, uint8_t type, uint8_t token, uint8_t sub, uint8_t err, uint8_t suite,
                                    uint8_t test_case, uint8_t tag, const char* text) {
    size_t n = hil__target_build(t->tx, type, token, sub, err, suite, test_case, tag, text);
    t->write(t->user, t->tx, n);
}

/* A LOG line from the running test (or from anywhere: suite/case 0). */
static inline void hil_target_log(hil_target* t, const char* text) {
    hil__target_send(t, HIL_TARGET_T_LOG, t->token++, 0, 0, t->suite, t->test_case, HIL_TARGET_TLV_TEST_REPORT, text);
}

/* Set the failure reason (copied, at most HIL_TARGET_TEXT_MAX bytes);
 * returns HIL_TARGET_FAILED: return hil_target_fail(t, "why"); */
static inline int hil_target_fail(hil_target* t, const char* reason) {
    size_t n = 0;
    if (reason)
        for (; reason[n] && n < HIL_TARGET_TEXT_MAX; n++) t->reason[n] = reason[n];
    t->reason[n] = 0;
    t->has_reason = reason != NULL;
    return HIL_TARGET_FAILED;
}

/* Report a fault (call it from a fault handler, then halt): a LOG with the
 * FAULT tag for the step running now. Its own buffer: t->tx may be half
 * sent when the fault hit. */
static inline void hil_target_fault(hil_target* t, const char* text) {
    uint8_t buf[HIL_TARGET_MSG_MAX];
    size_t n = hil__target_build(buf, HIL_TARGET_T_LOG, t->token++, 0, 0, t->suite, t->test_case,
                                 HIL_TARGET_TLV_FAULT, text ? text : "fault");
    t->write(t->user, buf, n);
}

static inline int hil_target_aborted(const hil_target* t) { return t->aborted; }

static inline const hil_target_case* hil__target_find(const hil_target* t, uint8_t suite, uint8_t test_case) {
    size_t i;
    for (i = 0; i < t->n_cases; i++)
        if (t->cases[i].suite == suite && t->cases[i].test_case == test_case) return &t->cases[i];
    return NULL;
}

/* One command from the host. */
static inline void hil__target_command(hil_target* t, const uint8_t* m) {
    uint8_t token = m[1], sub = m[2], suite = m[5], test_case = m[6];
    const hil_target_case* c;
    hil_target_fn fn = NULL;
    int verdict, known = 1;
    switch (sub) {
    case HIL_TARGET_C_PING:
        hil__target_send(t, HIL_TARGET_T_ACK, token, 0, 0, suite, test_case, 0, NULL);
        return;
    case HIL_TARGET_C_ABORT:
        t->aborted = 1;
        hil__target_send(t, HIL_TARGET_T_ACK, token, 0, 0, suite, test_case, 0, NULL);
        return;
    case HIL_TARGET_C_SUITE_SETUP: c = hil__target_find(t, suite, 0); fn = c ? c->setup : NULL; break;
    case HIL_TARGET_C_SUITE_TEARDOWN: c = hil__target_find(t, suite, 0); fn = c ? c->teardown : NULL; break;
    case HIL_TARGET_C_CASE_SETUP: c = hil__target_find(t, suite, test_case); fn = c ? c->setup : NULL; break;
    case HIL_TARGET_C_CASE_RUN: c = hil__target_find(t, suite, test_case); fn = c ? c->run : NULL; break;
    case HIL_TARGET_C_CASE_TEARDOWN: c = hil__target_find(t, suite, test_case); fn = c ? c->teardown : NULL; break;
    case HIL_TARGET_C_SECTION_SETUP:
    case HIL_TARGET_C_SECTION_RUN:
    case HIL_TARGET_C_SECTION_TEARDOWN:
    case HIL_TARGET_C_SUITE_RUN:
        c = NULL; /* sections and whole-suite runs are not test functions here */
        break;
    default:
        known = 0;
        c = NULL;
        break;
    }
    if (!known) {
        hil__target_send(t, HIL_TARGET_T_ACK, token, 1, HIL_TARGET_E_UNKNOWN_COMMAND, suite, test_case, 0, NULL);
        return;
    }
    hil__target_send(t, HIL_TARGET_T_ACK, token, 0, 0, suite, test_case, 0, NULL);
    t->suite = suite;
    t->test_case = test_case;
    t->reason[0] = 0;
    t->has_reason = 0;
    t->aborted = 0;
    t->steps++;
    if (fn) {
        t->busy = 1;
        verdict = fn(t);
        t->busy = 0;
    }
    else if (c && sub != HIL_TARGET_C_CASE_RUN) verdict = HIL_TARGET_PASS; /* nothing to set up or tear down */
    else verdict = HIL_TARGET_NOT_IMPLEMENTED;
    if (verdict != HIL_TARGET_PASS && verdict != HIL_TARGET_FAILED && verdict != HIL_TARGET_NOT_IMPLEMENTED)
        verdict = HIL_TARGET_FAILED;
    hil__target_send(t, HIL_TARGET_T_REPORT, t->token++, (uint8_t)verdict, 0, suite, test_case,
                     HIL_TARGET_TLV_FAILURE_REASON, verdict == HIL_TARGET_FAILED && t->has_reason ? t->reason : NULL);
    t->suite = t->test_case = 0;
}

/* The length of the whole, valid message at m (n bytes available), or 0
 * when there is none yet; *bad is set when m cannot start a valid one. */
static inline size_t hil__target_frame(const uint8_t* m, size_t n, int* bad) {
    size_t total;
    uint16_t crc;
    *bad = 0;
    if ((m[0] & 0xCFu) != 0x40u) {
        *bad = 1;
        return 0;
    }
    if (n < 8) return 0;
    total = 8u + m[7] + 2u;
    if (n < total) return 0;
    crc = hil_target_crc16(m, total - 2);
    if (m[total - 2] != (uint8_t)(crc & 0xFFu) || m[total - 1] != (uint8_t)(crc >> 8)) {
        *bad = 1;
        return 0;
    }
    return total;
}

/* Input while a test runs (called from inside it): queue it behind the
 * running command, and raise the abort flag if a whole ABORT is queued.
 * Nothing is answered here: t->tx may be in use by the interrupted code. */
static inline void hil__target_queue(hil_target* t, const uint8_t* data, size_t len) {
    size_t room = sizeof t->rx - t->rx_len, i, pos;
    if (len > room) {
        t->rx_overruns += (uint32_t)(len - room);
        len = room;
    }
    for (i = 0; i < len; i++) t->rx[t->rx_len + i] = data[i];
    t->rx_len += len;
    for (pos = t->cmd_len; pos < t->rx_len;) {
        int bad;
        size_t total = hil__target_frame(t->rx + pos, t->rx_len - pos, &bad);
        if (bad) {
            pos++;
            continue;
        }
        if (!total) break;
        if (((t->rx[pos] >> 4) & 3u) == HIL_TARGET_T_COMMAND && t->rx[pos + 2] == HIL_TARGET_C_ABORT) t->aborted = 1;
        pos += total;
    }
}

/* Bytes from the host, in any chunks. Whole messages are handled at once. */
static inline void hil_target_input(hil_target* t, const uint8_t* data, size_t len) {
    if (t->busy) {
        hil__target_queue(t, data, len);
        return;
    }
    while (len) {
        size_t take = sizeof t->rx - t->rx_len, i;
        if (take > len) take = len;
        for (i = 0; i < take; i++) t->rx[t->rx_len + i] = data[i];
        t->rx_len += take;
        data += take;
        len -= take;
        for (;;) {
            size_t total, drop = 0;
            int bad;
            if (!t->rx_len) break;
            total = hil__target_frame(t->rx, t->rx_len, &bad);
            if (bad) {
                if ((t->rx[0] & 0xCFu) == 0x40u) { /* a header whose CRC is wrong */
                    t->crc_errors++;
                    if (((t->rx[0] >> 4) & 3u) == HIL_TARGET_T_COMMAND)
                        hil__target_send(t, HIL_TARGET_T_ACK, t->rx[1], 1, HIL_TARGET_E_CRC, t->rx[5], t->rx[6], 0, NULL);
                }
                drop = 1; /* resynchronise */
            } else if (!total) {
                break; /* wait for the rest */
            } else {
                if (((t->rx[0] >> 4) & 3u) == HIL_TARGET_T_COMMAND) {
                    t->cmd_len = total; /* input queued meanwhile lands behind it */
                    hil__target_command(t, t->rx);
                    t->cmd_len = 0;
                }
                /* ACKs of our REPORTs and LOGs need nothing */
                drop = total;
            }
            for (i = drop; i < t->rx_len; i++) t->rx[i - drop] = t->rx[i];
            t->rx_len -= drop;
        }
    }
}

#ifdef __cplusplus
}
#endif

#endif /* HIL_TARGET_H_INCLUDED */
