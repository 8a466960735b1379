/* The DUT auxiliary and the testApp protocol: byte for byte against frames
 * written out by hand here (with a CRC computed independently, by
 * polynomial long division), then against the device simulator
 * (build/meta/dut_sim, a separate process built on hil_target.h): verdicts,
 * logs, chunked input, silence, a target killed in the middle of a step. */
#include "selftest.h"
#include "aux_testlib.h"
#include "hil_target.h"
#include <pthread.h>

HIL_SUITE(aux_dut, "tags=aux,dut")

void st_capture_logs(int on);
int st_logs_have(const char* s);

/* CRC-16/XMODEM as the remainder of (message * x^16) / 0x11021: long division
 * one bit at a time, a different method from the code under test. */
static uint16_t ref_crc(const uint8_t* p, size_t n) {
    uint32_t reg = 0;
    size_t i;
    int b;
    for (i = 0; i < n + 2; i++) {
        uint8_t byte = i < n ? p[i] : 0; /* then 16 zero bits */
        for (b = 7; b >= 0; b--) {
            uint32_t top = (reg >> 15) & 1u;
            reg = ((reg << 1) | ((uint32_t)(byte >> b) & 1u)) & 0xFFFFu;
            if (top) reg ^= 0x1021u;
        }
    }
    return (uint16_t)reg;
}

/* A frame from its bytes before the CRC: appends the CRC (little-endian). */
static size_t frame(uint8_t* out, const uint8_t* body, size_t n) {
    uint16_t crc = ref_crc(body, n);
    memcpy(out, body, n);
    out[n] = (uint8_t)(crc & 0xFF);
    out[n + 1] = (uint8_t)(crc >> 8);
    return n + 2;
}

HIL_TEST(aux_dut, crc16_xmodem_check_value) {
    const char* nine = "123456789";
    uint8_t msg[10];
    HIL_ASSERT_EQ(ref_crc((const uint8_t*)nine, 9), 0x31C3, "the reference itself");
    HIL_EXPECT_EQ(hil_tapp_crc16(nine, 9), 0x31C3);
    HIL_EXPECT_EQ(hil_target_crc16((const uint8_t*)nine, 9), 0x31C3);
    /* a PING with token 7, written out: 40 07 00 00 00 00 00 00 + CRC */
    {
        const uint8_t body[8] = {0x40, 0x07, 0, 0, 0, 0, 0, 0};
        hil_tapp_msg m;
        uint8_t enc[HIL_TAPP_MAX_MSG];
        size_t n = frame(msg, body, 8), used;
        memset(&m, 0, sizeof m);
        m.type = HIL_TAPP_COMMAND;
        m.token = 7;
        m.sub_type = HIL_TAPP_PING;
        HIL_ASSERT_EQ(hil_tapp_encode(&m, enc), n);
        HIL_ASSERT_MEMEQ(enc, msg, n);
        HIL_ASSERT_OK(hil_tapp_decode(msg, n, &m, &used));
        HIL_EXPECT_EQ(used, n);
        HIL_EXPECT_EQ(hil_tapp_decode(msg, n - 1, &m, &used), HIL_ERR_AGAIN);
        msg[3] ^= 1;
        HIL_EXPECT_EQ(hil_tapp_decode(msg, n, &m, &used), HIL_ERR_CHECKSUM);
        HIL_EXPECT_EQ(hil_tapp_decode((const uint8_t*)"\xff", 1, &m, &used), HIL_ERR_PROTOCOL);
    }
}

HIL_TEST(aux_dut, tlv_payloads) {
    hil_tapp_msg m;
    char text[300], big[260];
    memset(&m, 0, sizeof m);
    HIL_ASSERT_OK(hil_tapp_add_tlv(&m, HIL_TAPP_TLV_FAILURE_REASON, "bad value", 9));
    HIL_EXPECT_EQ(m.payload_len, 11);
    HIL_EXPECT_EQ(m.payload[0], 112);
    HIL_EXPECT_EQ(m.payload[1], 9);
    HIL_EXPECT(hil_tapp_tlv_text(&m, HIL_TAPP_TLV_FAILURE_REASON, text, sizeof text));
    HIL_EXPECT_STREQ(text, "bad value");
    HIL_EXPECT(!hil_tapp_tlv_text(&m, HIL_TAPP_TLV_TEST_REPORT, text, sizeof text));
    memset(big, 'x', sizeof big);
    HIL_EXPECT_EQ(hil_tapp_add_tlv(&m, 110, big, 250), HIL_ERR_OVERFLOW);
    HIL_EXPECT_STREQ(hil_tapp_command_str(HIL_TAPP_CASE_TEARDOWN), "CASE_TEARDOWN");
}

/* ---- a peer speaking the protocol from hand-written bytes ------------------------------ */

typedef struct hand_peer {
    int fd;
    char err[2048];
    int ok_steps;
} hand_peer;

static void peer_fail(hand_peer* p, const char* what) {
    size_t n = strlen(p->err);
    if (n < sizeof p->err - 2) snprintf(p->err + n, sizeof p->err - n, "%s; ", what);
}

static int peer_recv(hand_peer* p, uint8_t* buf, size_t cap) {
    ssize_t n;
    if (hil_wait_readable(p->fd, 5000) != HIL_OK) { peer_fail(p, "nothing from the host within 5 s"); return -1; }
    n = recv(p->fd, buf, cap, 0);
    if (n <= 0) { peer_fail(p, "the host closed the link early"); return -1; }
    return (int)n;
}

static void peer_send(hand_peer* p, const uint8_t* body, size_t n) {
    uint8_t out[300];
    size_t len = frame(out, body, n);
    if (send(p->fd, out, len, MSG_NOSIGNAL) < 0) peer_fail(p, "send failed");
}

/* Receive one frame and compare it with body + CRC; token -1: take the
 * host's token (it chooses it) and return it. */
static int peer_expect(hand_peer* p, const uint8_t* body, size_t n, int token_at_1, const char* what) {
    uint8_t got[300], want[300], b[300];
    int len = peer_recv(p, got, sizeof got);
    size_t wl;
    if (len < 0) return -1;
    memcpy(b, body, n);
    if (token_at_1 < 0 && len > 1) b[1] = got[1];
    wl = frame(want, b, n);
    if ((size_t)len != wl || memcmp(got, want, wl) != 0) {
        char msg[700];
        int k, o = snprintf(msg, sizeof msg, "%s: got", what);
        for (k = 0; k < len && o < 600; k++) o += snprintf(msg + o, sizeof msg - (size_t)o, " %02x", got[k]);
        o += snprintf(msg + o, sizeof msg - (size_t)o, ", want");
        for (k = 0; k < (int)wl && o < 690; k++) o += snprintf(msg + o, sizeof msg - (size_t)o, " %02x", want[k]);
        peer_fail(p, msg);
        return -1;
    }
    p->ok_steps++;
    return got[1];
}

static void* hand_peer_main(void* arg) {
    hand_peer* p = (hand_peer*)arg;
    int tok;
    uint8_t b[64];
    /* 1. PING: 40 tt 00 00 00 00 00 00 -> ACK 60 tt 00 00 00 00 00 00 */
    {
        const uint8_t ping[8] = {0x40, 0, 0x00, 0, 0, 0, 0, 0};
        tok = peer_expect(p, ping, 8, -1, "PING");
        if (tok < 0) return NULL;
        b[0] = 0x60; b[1] = (uint8_t)tok; b[2] = 0; b[3] = 0; b[4] = 0; b[5] = 0; b[6] = 0; b[7] = 0;
        peer_send(p, b, 8);
    }
    /* 2. CASE_RUN suite 1 case 2: 40 tt 0d 00 00 01 02 00 */
    {
        const uint8_t run[8] = {0x40, 0, 0x0d, 0, 0, 0x01, 0x02, 0};
        const uint8_t log[15] = {0x70, 0x10, 0x00, 0, 0, 0x01, 0x02, 7, 110, 5, 'h', 'e', 'l', 'l', 'o'};
        const uint8_t log_ack[8] = {0x60, 0x10, 0x00, 0, 0, 0x01, 0x02, 0};
        const uint8_t report[19] = {0x50, 0x11, 0x01, 0, 0, 0x01, 0x02, 11, 112, 9,
                                    'b', 'a', 'd', ' ', 'v', 'a', 'l', 'u', 'e'};
        const uint8_t report_ack[8] = {0x60, 0x11, 0x00, 0, 0, 0x01, 0x02, 0};
        tok = peer_expect(p, run, 8, -1, "CASE_RUN");
        if (tok < 0) return NULL;
        b[0] = 0x60; b[1] = (uint8_t)tok; b[2] = 0; b[3] = 0; b[4] = 0; b[5] = 1; b[6] = 2; b[7] = 0;
        peer_send(p, b, 8);
        peer_send(p, log, sizeof log);
        if (peer_expect(p, log_ack, 8, 0, "the host's ACK of the LOG") < 0) return NULL;
        peer_send(p, report, sizeof report);
        if (peer_expect(p, report_ack, 8, 0, "the host's ACK of the REPORT") < 0) return NULL;
    }
    /* 3. CASE_SETUP suite 1 case 3 refused: NACK 60 tt 01 05 00 01 03 00 */
    {
        const uint8_t setup[8] = {0x40, 0, 0x03, 0, 0, 0x01, 0x03, 0};
        tok = peer_expect(p, setup, 8, -1, "CASE_SETUP");
        if (tok < 0) return NULL;
        b[0] = 0x60; b[1] = (uint8_t)tok; b[2] = 0x01; b[3] = 0x05; b[4] = 0; b[5] = 1; b[6] = 3; b[7] = 0;
        peer_send(p, b, 8);
    }
    /* 4. CASE_TEARDOWN 1/3: garbage, then the ACK in two pieces, then REPORT PASS */
    {
        const uint8_t td[8] = {0x40, 0, 0x17, 0, 0, 0x01, 0x03, 0};
        const uint8_t pass[8] = {0x50, 0x12, 0x00, 0, 0, 0x01, 0x03, 0};
        const uint8_t pass_ack[8] = {0x60, 0x12, 0x00, 0, 0, 0x01, 0x03, 0};
        uint8_t ack[10];
        tok = peer_expect(p, td, 8, -1, "CASE_TEARDOWN");
        if (tok < 0) return NULL;
        b[0] = 0x60; b[1] = (uint8_t)tok; b[2] = 0; b[3] = 0; b[4] = 0; b[5] = 1; b[6] = 3; b[7] = 0;
        frame(ack, b, 8);
        if (send(p->fd, "\xff\x00", 2, MSG_NOSIGNAL) < 0 || send(p->fd, ack, 3, MSG_NOSIGNAL) < 0 ||
            send(p->fd, ack + 3, 7, MSG_NOSIGNAL) < 0)
            peer_fail(p, "send failed");
        peer_send(p, pass, 8);
        if (peer_expect(p, pass_ack, 8, 0, "the host's ACK of the PASS") < 0) return NULL;
    }
    return NULL;
}

#define DUT_BACKENDS(name) \
    static void name(hil_aux_backend b); \
    HIL_TEST(aux_dut, name##_thread) { name(HIL_AUX_THREAD); } \
    HIL_TEST(aux_dut, name##_process) { name(HIL_AUX_PROCESS); } \
    HIL_TEST(aux_dut, name##_simple) { name(HIL_AUX_SIMPLE); } \
    static void name(hil_aux_backend b)

static hil_aux* make_dut(hil_aux_backend b, int fd, const char* const* opts) {
    hil_aux_config c;
    hil_aux* a = hil_aux_get("dut");
    if (a) hil_aux_destroy(a); /* left by a test that failed half-way */
    a = NULL;
    hil_aux_config_init(&c);
    c.name = "dut";
    c.type = "dut";
    c.backend = (int)b;
    c.com = st_fdchan_make("target", fd);
    c.options = opts;
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    return a;
}

DUT_BACKENDS(byte_for_byte_round_trip) {
    hand_peer p;
    pthread_t t;
    int ours = -1, theirs = -1;
    hil_aux* dut;
    hil_dut_result res;
    const char* opts[] = {"ping_tries=1", "ack_timeout_ms=3000", "report_timeout_ms=3000", NULL};
    memset(&p, 0, sizeof p);
    HIL_ASSERT_EQ(st_seqpair(&ours, &theirs), 0);
    p.fd = theirs;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, hand_peer_main, &p), 0);
    st_capture_logs(1);
    dut = make_dut(b, ours, opts);
    HIL_EXPECT_OK(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 1, 2, &res));
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_FAILED);
    HIL_EXPECT_STREQ(res.reason, "bad value");
    HIL_EXPECT(st_logs_have("target: hello"), "the target's LOG went into the log");
    HIL_EXPECT_EQ(hil_dut_step(dut, HIL_TAPP_CASE_SETUP, 1, 3, &res), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(res.reason, "refused CASE_SETUP for suite 1, case 3 (NACK, error code 5)"), "%s", res.reason);
    HIL_EXPECT_OK(hil_dut_step(dut, HIL_TAPP_CASE_TEARDOWN, 1, 3, &res), "garbage and split frames are resynchronised");
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_PASS);
    st_capture_logs(0);
    pthread_join(t, NULL);
    HIL_EXPECT_STREQ(p.err, "");
    HIL_EXPECT_EQ(p.ok_steps, 7, "every frame of the host matched byte for byte");
    hil_aux_destroy(dut);
    close(theirs);
}

/* ---- against the device simulator ------------------------------------------------------ */

static hil_aux* sim_dut(hil_aux_backend b, const char* mode, hil_proc* sim, const char* const* opts) {
    int fd = st_sim_start(st_meta("dut_sim"), mode, sim);
    HIL_ASSERT(fd >= 0, "starting %s", st_meta("dut_sim"));
    return make_dut(b, fd, opts);
}

static void sim_end(hil_aux* dut, hil_proc* sim) {
    hil_aux_destroy(dut);
    hil_proc_wait(sim, 5000); /* it ends at end of file */
    hil_proc_terminate(sim, 0);
    hil_proc_close(sim);
}

static void verdicts(hil_aux* dut) {
    hil_dut_result res;
    HIL_ASSERT_OK(hil_dut_step(dut, HIL_TAPP_SUITE_SETUP, 1, 0, &res));
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_PASS);
    HIL_ASSERT_OK(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 1, 1, &res));
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_PASS);
    HIL_ASSERT_OK(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 1, 2, &res));
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_FAILED);
    HIL_EXPECT_STREQ(res.reason, "expected 42, got 41");
    HIL_ASSERT_OK(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 1, 3, &res));
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_NOT_IMPLEMENTED);
    HIL_ASSERT_OK(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 2, 9, &res));
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_NOT_IMPLEMENTED, "a case the target does not have");
    HIL_ASSERT_OK(hil_dut_step(dut, HIL_TAPP_CASE_SETUP, 1, 5, &res));
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_FAILED);
    HIL_EXPECT_STREQ(res.reason, "no power on the rail");
    HIL_ASSERT_OK(hil_dut_ping(dut, 2000));
    HIL_ASSERT_OK(hil_dut_step(dut, HIL_TAPP_SUITE_TEARDOWN, 1, 0, &res));
}

DUT_BACKENDS(simulator_verdicts_and_logs) {
    hil_proc sim;
    hil_aux* dut;
    st_capture_logs(1);
    dut = sim_dut(b, "normal", &sim, NULL);
    verdicts(dut);
    HIL_EXPECT(st_logs_have("target: suite 1 is up"), "suite setup's LOG");
    HIL_EXPECT(st_logs_have("target: checking 1+1"), "the test's LOG");
    st_capture_logs(0);
    sim_end(dut, &sim);
}

DUT_BACKENDS(simulator_sending_pieces_of_messages) {
    hil_proc sim;
    hil_aux* dut = sim_dut(b, "chunks", &sim, NULL);
    verdicts(dut);
    sim_end(dut, &sim);
}

DUT_BACKENDS(a_silent_target_fails_the_start_and_times_out_steps) {
    hil_proc sim;
    hil_aux_config c;
    hil_aux* dut = NULL;
    hil_dut_result res;
    const char* ping_opts[] = {"ping_timeout_ms=50", "ping_tries=2", NULL};
    const char* no_ping[] = {"ping_on_start=false", "ack_timeout_ms=100", NULL};
    int fd = st_sim_start(st_meta("dut_sim"), "silent", &sim);
    HIL_ASSERT(fd >= 0);
    hil_aux_config_init(&c);
    c.name = "dut";
    c.type = "dut";
    c.backend = (int)b;
    c.com = st_fdchan_make("target", fd);
    c.options = ping_opts;
    HIL_EXPECT_EQ(hil_aux_create(&c, &dut), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "the target did not answer PING on connector 'target' (2 tries of 50 ms)"),
               "%s", hil_last_error());
    hil_proc_terminate(&sim, 0);
    hil_proc_close(&sim);
    dut = sim_dut(b, "silent", &sim, no_ping);
    HIL_EXPECT_EQ(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 1, 1, &res), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(res.reason, "no ACK from the target within 100 ms for CASE_RUN (suite 1, case 1"), "%s", res.reason);
    sim_end(dut, &sim);
}

DUT_BACKENDS(a_target_that_never_reports_times_out) {
    hil_proc sim;
    const char* opts[] = {"report_timeout_ms=150", NULL};
    hil_aux* dut = sim_dut(b, "noreport", &sim, opts);
    hil_dut_result res;
    HIL_EXPECT_EQ(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 1, 1, &res), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(res.reason, "no REPORT from the target within 150 ms for CASE_RUN (suite 1, case 1)"), "%s",
               res.reason);
    sim_end(dut, &sim);
}

typedef struct step_args { hil_aux* dut; int suite, tc; hil_dut_result res; hil_result r; } step_args;

static void* step_in_thread(void* arg) {
    step_args* s = (step_args*)arg;
    s->r = hil_dut_step(s->dut, HIL_TAPP_CASE_RUN, s->suite, s->tc, &s->res);
    return NULL;
}

DUT_BACKENDS(the_simulator_killed_in_the_middle_of_a_step) {
    hil_proc sim;
    const char* opts[] = {"report_timeout_ms=60000", NULL};
    hil_aux* dut = sim_dut(b, "normal", &sim, opts);
    step_args s;
    pthread_t t;
    uint64_t t0;
    struct timespec ts = {0, 50000000};
    memset(&s, 0, sizeof s);
    s.dut = dut;
    s.suite = 1;
    s.tc = 4; /* hangs on the target */
    HIL_ASSERT_EQ(pthread_create(&t, NULL, step_in_thread, &s), 0);
    nanosleep(&ts, NULL);
    t0 = hil_now_ns();
    hil_proc_kill(&sim, SIGKILL);
    pthread_join(t, NULL);
    HIL_EXPECT_LT(hil_now_ns() - t0, 5000000000ull, "noticed at once, not at the 60 s report timeout");
    HIL_EXPECT_EQ(s.r, HIL_ERR_CLOSED, "%s", s.res.reason);
    HIL_EXPECT(strstr(s.res.reason, "'target'") && strstr(s.res.reason, "closed"), "%s", s.res.reason);
    sim_end(dut, &sim);
}

DUT_BACKENDS(abort_of_a_step_on_a_stuck_target) {
    hil_proc sim;
    const char* opts[] = {"report_timeout_ms=60000", "ack_timeout_ms=200", NULL};
    hil_aux* dut;
    hil_aux_cmd c;
    hil_aux_report rep;
    uint8_t data[3] = {HIL_TAPP_CASE_RUN, 1, 4};
    step_args s;
    pthread_t t;
    dut = sim_dut(b, "normal", &sim, opts);
    c.code = HIL_DUT_CMD_STEP;
    c.data = data;
    c.len = 3;
    st_capture_logs(1);
    memset(&s, 0, sizeof s);
    s.dut = dut;
    s.suite = 1;
    s.tc = 4;
    if (b == HIL_AUX_SIMPLE) HIL_ASSERT_EQ(pthread_create(&t, NULL, step_in_thread, &s), 0); /* it runs there */
    else HIL_ASSERT_OK(hil_aux_run_command(dut, &c, 0, 0, NULL));
    {
        /* test-only bounded wait: the step runs on the target */
        uint64_t deadline = hil_deadline_ms(5000);
        struct timespec ts = {0, 1000000};
        while (!st_logs_have("target: hanging now") && hil_now_ns() < deadline) nanosleep(&ts, NULL);
    }
    st_capture_logs(0);
    /* the target ACKed CASE_RUN, then hangs: it will not ACK the ABORT */
    HIL_EXPECT_EQ(hil_aux_abort_command(dut, 5000), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "no ACK from the target within 200 ms for ABORT"), "%s", hil_last_error());
    if (b == HIL_AUX_SIMPLE) {
        pthread_join(t, NULL);
        HIL_EXPECT_EQ(s.r, HIL_ERR_ABORTED, "the step was interrupted: %s", s.res.reason);
    } else {
        HIL_ASSERT_OK(hil_aux_wait_and_get_report(dut, &rep, 5000));
        HIL_EXPECT_EQ(rep.result, HIL_ERR_ABORTED, "the step was interrupted: %s", rep.text);
    }
    hil_proc_kill(&sim, SIGKILL); /* it hangs for good: no end of file will reach it */
    sim_end(dut, &sim);
}

/* ---- hil_target.h is freestanding ----------------------------------------------------- */

HIL_TEST(aux_dut, hil_target_needs_no_library_at_all) {
    const char* cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
    const char* src = st_path("fw.c");
    const char* obj = st_path("fw.o");
    static const char text[] =
        "#include \"hil_target.h\"\n"
        "static int t1(hil_target* t) { hil_target_log(t, \"x\"); return hil_target_fail(t, \"y\"); }\n"
        "static int t2(hil_target* t) { hil_target_fault(t, \"HardFault\"); return HIL_TARGET_PASS; }\n"
        "static const hil_target_case cases[] = {{1, 1, 0, t1, 0}, {1, 2, 0, t2, 0}};\n"
        "static hil_target tg;\n"
        "static void w(void* u, const uint8_t* d, size_t n) { (void)u; (void)d; (void)n; }\n"
        "void fw_init(void) { hil_target_init(&tg, cases, 2, w, 0); }\n"
        "void fw_rx(const uint8_t* d, size_t n) { hil_target_input(&tg, d, n); }\n";
    char inc[600];
    st_result r;
    /* at -O2 and -O3 gcc turns plain copy and fill loops into calls to
     * memcpy and memset, which a -nostdlib firmware does not have */
    static const char* const opts[] = {"-Os", "-O2", "-O3"};
    size_t o;
    const char* argv_cc[] = {cc, "-std=c99", "-ffreestanding", "-Os", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                             inc, "-c", "-o", obj, src, NULL};
    const char* argv_nm[] = {"nm", "-u", obj, NULL};
    ST_SKIP_UNLESS_PROG("nm", "binutils");
    {
        char cwd[512];
        HIL_ASSERT(getcwd(cwd, sizeof cwd) != NULL);
        snprintf(inc, sizeof inc, "-I%s", cwd);
    }
    HIL_ASSERT_OK(hil_write_file_atomic(src, text, sizeof text - 1));
    for (o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        argv_cc[3] = opts[o];
        st_run(argv_cc, NULL, 60000, &r);
        HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
        st_result_free(&r);
        st_run(argv_nm, NULL, 10000, &r);
        HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
        HIL_EXPECT_EQ(r.len, 0, "%s: no undefined symbols (no malloc, no stdio, no libc, no memset): %s", opts[o], r.out);
        st_result_free(&r);
    }
    if (st_have("c++")) {
        const char* argv_cxx[] = {"c++", "-std=c++17", "-x", "c++", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                                  inc, "-c", "-o", obj, src, NULL};
        st_run(argv_cxx, NULL, 60000, &r);
        HIL_EXPECT_EQ(r.code, 0, "hil_target.h compiles as C++17: %s", r.out);
        st_result_free(&r);
    }
}
