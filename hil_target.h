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
 * - ABORT is ACKed and sets a flag a long test may poll (hil_target_aborted)
 *   if your link delivers input while a test runs (an interrupt); it is
 *   cleared when the next step starts.
 * - Strings given to hil_target_log/hil_target_fail are copied into the
 *   message at once; at most 253 bytes are sent.
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
/* NACK error codes */
#define HIL_TARGET_E_CRC 1
#define HIL_TARGET_E_UNKNOWN_COMMAND 2

#define HIL_TARGET_MSG_MAX (8 + 255 + 2)
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
    const char* reason;         /* hil_target_fail() */
    volatile int aborted;
    uint32_t crc_errors;        /* messages dropped for a bad CRC */
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
    uint8_t* p = (uint8_t*)t;
    for (i = 0; i < sizeof *t; i++) p[i] = 0;
    t->cases = cases;
    t->n_cases = n_cases;
    t->write = write;
    t->user = user;
}

/* Build a message in t->tx and send it. */
static inline void hil__target_send(hil_target* t, uint8_t type, uint8_t token, uint8_t sub, uint8_t err, uint8_t suite,
                                    uint8_t test_case, uint8_t tag, const char* text) {
    size_t n = 8, len = 0;
    uint16_t crc;
    t->tx[0] = (uint8_t)(0x40u | ((type & 3u) << 4));
    t->tx[1] = token;
    t->tx[2] = sub;
    t->tx[3] = err;
    t->tx[4] = 0;
    t->tx[5] = suite;
    t->tx[6] = test_case;
    t->tx[7] = 0;
    if (text) {
        while (text[len] && len < 253) len++;
        t->tx[8] = tag;
        t->tx[9] = (uint8_t)len;
        for (n = 0; n < len; n++) t->tx[10 + n] = (uint8_t)text[n];
        t->tx[7] = (uint8_t)(len + 2);
        n = 10 + len;
    }
    crc = hil_target_crc16(t->tx, n);
    t->tx[n] = (uint8_t)(crc & 0xFFu); /* little-endian */
    t->tx[n + 1] = (uint8_t)(crc >> 8);
    t->write(t->user, t->tx, n + 2);
}

/* A LOG line from the running test (or from anywhere: suite/case 0). */
static inline void hil_target_log(hil_target* t, const char* text) {
    hil__target_send(t, HIL_TARGET_T_LOG, t->token++, 0, 0, t->suite, t->test_case, HIL_TARGET_TLV_TEST_REPORT, text);
}

/* Set the failure reason; returns HIL_TARGET_FAILED: return hil_target_fail(t, "why"); */
static inline int hil_target_fail(hil_target* t, const char* reason) {
    t->reason = reason;
    return HIL_TARGET_FAILED;
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
    t->reason = NULL;
    t->aborted = 0;
    t->steps++;
    if (fn) verdict = fn(t);
    else if (c && sub != HIL_TARGET_C_CASE_RUN) verdict = HIL_TARGET_PASS; /* nothing to set up or tear down */
    else verdict = HIL_TARGET_NOT_IMPLEMENTED;
    if (verdict != HIL_TARGET_PASS && verdict != HIL_TARGET_FAILED && verdict != HIL_TARGET_NOT_IMPLEMENTED)
        verdict = HIL_TARGET_FAILED;
    hil__target_send(t, HIL_TARGET_T_REPORT, t->token++, (uint8_t)verdict, 0, suite, test_case,
                     HIL_TARGET_TLV_FAILURE_REASON, verdict == HIL_TARGET_FAILED && t->reason ? t->reason : NULL);
    t->suite = t->test_case = 0;
}

/* Bytes from the host, in any chunks. Whole messages are handled at once. */
static inline void hil_target_input(hil_target* t, const uint8_t* data, size_t len) {
    while (len) {
        size_t take = sizeof t->rx - t->rx_len, i;
        if (take > len) take = len;
        for (i = 0; i < take; i++) t->rx[t->rx_len + i] = data[i];
        t->rx_len += take;
        data += take;
        len -= take;
        for (;;) {
            size_t total, drop = 0;
            uint16_t crc;
            if (!t->rx_len) break;
            if ((t->rx[0] & 0xCFu) != 0x40u) {
                drop = 1; /* not a message start: resynchronise */
            } else {
                if (t->rx_len < 8) break;
                total = 8u + t->rx[7] + 2u;
                if (t->rx_len < total) break;
                crc = hil_target_crc16(t->rx, total - 2);
                if (t->rx[total - 2] != (uint8_t)(crc & 0xFFu) || t->rx[total - 1] != (uint8_t)(crc >> 8)) {
                    t->crc_errors++;
                    if (((t->rx[0] >> 4) & 3u) == HIL_TARGET_T_COMMAND)
                        hil__target_send(t, HIL_TARGET_T_ACK, t->rx[1], 1, HIL_TARGET_E_CRC, t->rx[5], t->rx[6], 0, NULL);
                    drop = 1;
                } else {
                    if (((t->rx[0] >> 4) & 3u) == HIL_TARGET_T_COMMAND) hil__target_command(t, t->rx);
                    /* ACKs of our REPORTs and LOGs need nothing */
                    drop = total;
                }
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
