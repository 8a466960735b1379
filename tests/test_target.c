/* hil_target.h on its own, in this process: what a firmware sees. The
 * target writes into a capture buffer and every message it sends is decoded
 * with the host's decoder (hil_tapp_decode), so a bad length or CRC fails.
 * Regressions: a failure reason formatted into a buffer the test reuses, and
 * input fed in again from inside a running test (a test polling its UART). */
#include "selftest.h"
#include "hil_target.h"

HIL_SUITE(target, "tags=aux,dut")

typedef struct capture {
    uint8_t buf[8192];
    size_t len;
} capture;

static void cap_write(void* user, const uint8_t* data, size_t len) {
    capture* c = (capture*)user;
    if (len > sizeof c->buf - c->len) len = sizeof c->buf - c->len;
    memcpy(c->buf + c->len, data, len);
    c->len += len;
}

/* Decode every message the target sent; returns how many, or -1 (with the
 * reason in a failed expectation) when the stream is not whole messages. */
static int cap_decode(const capture* c, hil_tapp_msg* out, int max) {
    size_t off = 0;
    int n = 0;
    while (off < c->len) {
        size_t used = 0;
        hil_tapp_msg m;
        hil_result r = hil_tapp_decode(c->buf + off, c->len - off, &m, &used);
        HIL_EXPECT_OK(r, "message %d at byte %zu of %zu", n, off, c->len);
        if (r != HIL_OK) return -1;
        if (n < max) out[n] = m;
        n++;
        off += used;
    }
    return n;
}

/* A command from the host, framed by the host's encoder. */
static size_t host_cmd(uint8_t* out, uint8_t token, uint8_t sub, uint8_t suite, uint8_t test_case) {
    hil_tapp_msg m;
    memset(&m, 0, sizeof m);
    m.type = HIL_TAPP_COMMAND;
    m.token = token;
    m.sub_type = sub;
    m.suite = suite;
    m.test_case = test_case;
    return hil_tapp_encode(&m, out);
}

/* ---- the failure reason is copied when it is set ---------------------------------------- */

static char g_why[64];

static int fails_with_reused_buffer(hil_target* t) {
    int r;
    snprintf(g_why, sizeof g_why, "value %d out of range", 42);
    r = hil_target_fail(t, g_why);
    strcpy(g_why, "CLOBBERED"); /* the buffer is reused before the REPORT is built */
    return r;
}

static int fails_with_long_reason(hil_target* t) {
    char why[400]; /* a local buffer, gone when the REPORT is built */
    memset(why, 'r', sizeof why - 1);
    why[sizeof why - 1] = 0;
    return hil_target_fail(t, why);
}

HIL_TEST(target, fail_reason_is_copied_at_once) {
    static const hil_target_case cases[] = {{1, 1, NULL, fails_with_reused_buffer, NULL},
                                            {1, 2, NULL, fails_with_long_reason, NULL}};
    static hil_target t;
    static capture c;
    hil_tapp_msg m[4];
    uint8_t cmd[32];
    char text[300];
    size_t n;
    memset(&c, 0, sizeof c);
    hil_target_init(&t, cases, 2, cap_write, &c);
    n = host_cmd(cmd, 1, HIL_TAPP_CASE_RUN, 1, 1);
    hil_target_input(&t, cmd, n);
    HIL_ASSERT_EQ(cap_decode(&c, m, 4), 2, "an ACK and a REPORT");
    HIL_EXPECT_EQ(m[1].type, HIL_TAPP_REPORT);
    HIL_EXPECT_EQ(m[1].sub_type, HIL_TAPP_FAILED);
    HIL_ASSERT(hil_tapp_tlv_text(&m[1], HIL_TAPP_TLV_FAILURE_REASON, text, sizeof text));
    HIL_EXPECT_STREQ(text, "value 42 out of range");

    c.len = 0;
    n = host_cmd(cmd, 2, HIL_TAPP_CASE_RUN, 1, 2);
    hil_target_input(&t, cmd, n);
    HIL_ASSERT_EQ(cap_decode(&c, m, 4), 2);
    HIL_ASSERT(hil_tapp_tlv_text(&m[1], HIL_TAPP_TLV_FAILURE_REASON, text, sizeof text));
    HIL_EXPECT_EQ(strlen(text), HIL_TARGET_TEXT_MAX, "cut to the longest TLV");
    HIL_EXPECT_EQ(strspn(text, "r"), HIL_TARGET_TEXT_MAX);
}

/* ---- input fed again from inside a running test ------------------------------------------ */

static uint8_t g_nested[2048];
static size_t g_nested_len;
static int g_saw_abort;

static int polls_its_uart(hil_target* t) {
    hil_target_input(t, g_nested, g_nested_len); /* what arrived while it ran */
    g_saw_abort = hil_target_aborted(t);
    hil_target_log(t, "still running");
    return HIL_TARGET_PASS;
}

HIL_TEST(target, input_from_a_running_test_is_queued) {
    static const hil_target_case cases[] = {{1, 1, NULL, polls_its_uart, NULL}};
    static hil_target t;
    static capture c;
    hil_tapp_msg m[8];
    uint8_t cmd[32];
    size_t n;
    memset(&c, 0, sizeof c);
    hil_target_init(&t, cases, 1, cap_write, &c);
    /* while case 1.1 runs: a PING, garbage, and an ABORT */
    g_nested_len = host_cmd(g_nested, 7, HIL_TAPP_PING, 0, 0);
    memcpy(g_nested + g_nested_len, "\x01\x02", 2);
    g_nested_len += 2;
    g_nested_len += host_cmd(g_nested + g_nested_len, 8, HIL_TAPP_ABORT, 1, 1);
    n = host_cmd(cmd, 1, HIL_TAPP_CASE_RUN, 1, 1);
    hil_target_input(&t, cmd, n);
    HIL_EXPECT(g_saw_abort, "a whole ABORT queued behind the running command raises the flag at once");
    HIL_ASSERT_EQ(cap_decode(&c, m, 8), 5, "ACK, LOG, REPORT, then the queued PING's and ABORT's ACKs");
    HIL_EXPECT_EQ(m[0].type, HIL_TAPP_ACK);
    HIL_EXPECT_EQ(m[0].token, 1);
    HIL_EXPECT_EQ(m[1].type, HIL_TAPP_LOG);
    HIL_EXPECT_EQ(m[2].type, HIL_TAPP_REPORT);
    HIL_EXPECT_EQ(m[2].sub_type, HIL_TAPP_PASS);
    HIL_EXPECT_EQ(m[3].type, HIL_TAPP_ACK);
    HIL_EXPECT_EQ(m[3].token, 7);
    HIL_EXPECT_EQ(m[4].type, HIL_TAPP_ACK);
    HIL_EXPECT_EQ(m[4].token, 8);
    HIL_EXPECT_EQ(t.rx_len, 0);
    HIL_EXPECT_EQ(t.rx_overruns, 0);

    /* more than fits while it runs: dropped and counted, never written past rx */
    c.len = 0;
    memset(g_nested, 0x55, sizeof g_nested);
    g_nested_len = sizeof g_nested;
    g_saw_abort = 0;
    hil_target_input(&t, cmd, n);
    HIL_EXPECT(!g_saw_abort);
    HIL_EXPECT_EQ(t.rx_overruns, sizeof g_nested - (sizeof t.rx - n));
    HIL_EXPECT_EQ(t.rx_len, 0, "the garbage is skipped after the test");
    HIL_EXPECT(cap_decode(&c, m, 8) >= 3);
    /* and the target still answers */
    c.len = 0;
    n = host_cmd(cmd, 9, HIL_TAPP_PING, 0, 0);
    hil_target_input(&t, cmd, n);
    HIL_ASSERT_EQ(cap_decode(&c, m, 8), 1);
    HIL_EXPECT_EQ(m[0].token, 9);
}

/* ---- a fault handler's message ------------------------------------------------------------ */

static hil_target* g_faulting;

static int faults(hil_target* t) {
    g_faulting = t;
    hil_target_fault(t, "HardFault pc=0x00000412 cfsr=0x00008200");
    return HIL_TARGET_PASS; /* a real handler halts; here the step goes on */
}

HIL_TEST(target, fault_is_a_log_with_the_fault_tag) {
    static const hil_target_case cases[] = {{3, 4, NULL, faults, NULL}};
    static hil_target t;
    static capture c;
    hil_tapp_msg m[4];
    uint8_t cmd[32];
    char text[300];
    size_t n;
    memset(&c, 0, sizeof c);
    hil_target_init(&t, cases, 1, cap_write, &c);
    n = host_cmd(cmd, 1, HIL_TAPP_CASE_RUN, 3, 4);
    hil_target_input(&t, cmd, n);
    HIL_ASSERT_EQ(cap_decode(&c, m, 4), 3);
    HIL_EXPECT_EQ(m[1].type, HIL_TAPP_LOG);
    HIL_EXPECT_EQ(m[1].suite, 3);
    HIL_EXPECT_EQ(m[1].test_case, 4);
    HIL_ASSERT(hil_tapp_tlv_text(&m[1], HIL_TARGET_TLV_FAULT, text, sizeof text));
    HIL_EXPECT_STREQ(text, "HardFault pc=0x00000412 cfsr=0x00008200");
}
