/* The DUT auxiliary when the target misbehaves during a step (issue 13):
 * a FAULT LOG (hil_target_fault from a HardFault handler), a reboot (its
 * "boot " LOG), a REPORT with a bad CRC, a bad CRC on something else, a
 * false header in a message joined half-way, and hil_dut_reset through a
 * channel's board control. A scripted peer thread
 * plays the target over a SOCK_SEQPACKET socketpair; every backend. The
 * same faults from real firmware in QEMU: `make test-mcu` (tests/mcu). */
#include "selftest.h"
#include "aux_testlib.h"
#include <pthread.h>

HIL_SUITE(mcu_dut, "tags=aux,dut")

typedef struct script_peer {
    int fd;
    char err[1024];
    int resets; /* board resets seen (the fake channel's reset op) */
} script_peer;

static void sp_fail(script_peer* p, const char* what) {
    size_t n = strlen(p->err);
    if (n < sizeof p->err - 2) snprintf(p->err + n, sizeof p->err - n, "%s; ", what);
}

/* Wait for the host's next COMMAND; returns it (type COMMAND) or fails. */
static int sp_command(script_peer* p, hil_tapp_msg* cmd) {
    uint8_t buf[HIL_TAPP_MAX_MSG];
    size_t used;
    ssize_t n;
    for (;;) {
        if (hil_wait_readable(p->fd, 5000) != HIL_OK) { sp_fail(p, "no command within 5 s"); return 0; }
        n = recv(p->fd, buf, sizeof buf, 0);
        if (n <= 0) return 0;
        if (hil_tapp_decode(buf, (size_t)n, cmd, &used) != HIL_OK) { sp_fail(p, "a bad frame from the host"); return 0; }
        if (cmd->type == HIL_TAPP_COMMAND) return 1; /* ACKs of our LOGs and REPORTs are not commands */
    }
}

static void sp_send(script_peer* p, uint8_t type, uint8_t token, uint8_t sub, uint8_t suite, uint8_t tc, uint8_t tag,
                    const char* text, int corrupt) {
    hil_tapp_msg m;
    uint8_t out[HIL_TAPP_MAX_MSG];
    size_t n;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.token = token;
    m.sub_type = sub;
    m.suite = suite;
    m.test_case = tc;
    if (text) hil_tapp_add_tlv(&m, tag, text, strlen(text));
    n = hil_tapp_encode(&m, out);
    if (corrupt) out[n - 1] ^= 0xA5; /* the CRC's high byte, as examples/mcu does */
    if (send(p->fd, out, n, MSG_NOSIGNAL) < 0) sp_fail(p, "send failed");
}

static void sp_ack(script_peer* p, const hil_tapp_msg* c) {
    sp_send(p, HIL_TAPP_ACK, c->token, HIL_TAPP_ACK_OK, c->suite, c->test_case, 0, NULL, 0);
}

/* PING at start, then: a fault, a reboot, a corrupted REPORT, a corrupted
 * LOG before a good REPORT, then (after the reset op) a boot LOG. */
static void* script_main(void* arg) {
    script_peer* p = (script_peer*)arg;
    hil_tapp_msg c;
    if (!sp_command(p, &c) || c.sub_type != HIL_TAPP_PING) { sp_fail(p, "expected PING"); return NULL; }
    /* The host joined in the middle of the boot LOG: its tail comes first.
     * 'p' (0x70) in "mps2" looks like a LOG header whose length byte ('s')
     * promises 115 more bytes; the ACK after it must not be swallowed. */
    if (send(p->fd, "oot board=mps2-an385 variant=default", 36, MSG_NOSIGNAL) < 0) sp_fail(p, "send failed");
    sp_ack(p, &c);
    /* 1. CASE_RUN 2/1: ACK, then the HardFault report */
    if (!sp_command(p, &c)) return NULL;
    sp_ack(p, &c);
    sp_send(p, HIL_TAPP_LOG, 40, 0, 2, 1, HIL_TAPP_TLV_FAULT, "HardFault pc=0x00000abc lr=0xfffffff9 cfsr=0x00008200", 0);
    /* 2. CASE_RUN 2/3: ACK, then the firmware boots again */
    if (!sp_command(p, &c)) return NULL;
    sp_ack(p, &c);
    sp_send(p, HIL_TAPP_LOG, 0, 0, 0, 0, HIL_TAPP_TLV_TEST_REPORT, "boot board=fake variant=default version=1.0", 0);
    /* 3. CASE_RUN 2/4: ACK, then its REPORT with a bad CRC */
    if (!sp_command(p, &c)) return NULL;
    sp_ack(p, &c);
    sp_send(p, HIL_TAPP_REPORT, 41, HIL_TAPP_PASS, 2, 4, 0, NULL, 1);
    /* 4. CASE_RUN 1/1: ACK, a LOG with a bad CRC (skipped), then a good REPORT */
    if (!sp_command(p, &c)) return NULL;
    sp_ack(p, &c);
    sp_send(p, HIL_TAPP_LOG, 42, 0, 1, 1, HIL_TAPP_TLV_TEST_REPORT, "a line noise hit", 1);
    sp_send(p, HIL_TAPP_REPORT, 43, HIL_TAPP_PASS, 1, 1, 0, NULL, 0);
    return NULL;
}

/* The fake board's reset: the "firmware" boots again and says so. */
static script_peer* reset_peer;
static hil_result fake_reset(hil_channel* ch, int timeout_ms) {
    (void)timeout_ms;
    if (!reset_peer) return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "no fake board here");
    reset_peer->resets++;
    sp_send(reset_peer, HIL_TAPP_LOG, 0, 0, 0, 0, HIL_TAPP_TLV_TEST_REPORT, "boot board=fake after the reset", 0);
    return HIL_OK;
}
static const hil_board_ops fake_ops = {fake_reset, NULL, NULL};

static hil_aux* make(hil_aux_backend b, int fd) {
    hil_aux_config c;
    hil_aux* a = NULL;
    const char* opts[] = {"ping_tries=1", "ack_timeout_ms=3000", "report_timeout_ms=3000", "boot_timeout_ms=3000", NULL};
    hil_aux_config_init(&c);
    c.name = "mcu_dut";
    c.type = "dut";
    c.backend = (int)b;
    c.com = st_fdchan_make("target", fd);
    c.options = opts;
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    return a;
}

static void misbehaving_target(hil_aux_backend b) {
    script_peer p;
    pthread_t t;
    int ours = -1, theirs = -1;
    hil_aux* dut;
    hil_dut_result res;
    memset(&p, 0, sizeof p);
    HIL_ASSERT_EQ(st_seqpair(&ours, &theirs), 0);
    p.fd = theirs;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, script_main, &p), 0);
    dut = make(b, ours);
    HIL_EXPECT_EQ(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 2, 1, &res), HIL_ERR_CRASHED);
    HIL_EXPECT(strstr(res.reason, "the target faulted during CASE_RUN of suite 2, case 1: HardFault pc=0x00000abc "
                                  "lr=0xfffffff9 cfsr=0x00008200"), "%s", res.reason);
    HIL_EXPECT_EQ(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 2, 3, &res), HIL_ERR_STATE);
    HIL_EXPECT(strstr(res.reason, "the target reset during CASE_RUN of suite 2, case 3: it booted again (boot board=fake"),
               "%s", res.reason);
    HIL_EXPECT_EQ(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 2, 4, &res), HIL_ERR_CHECKSUM);
    HIL_EXPECT(strstr(res.reason, "the REPORT of CASE_RUN (suite 2, case 4) arrived with a bad CRC") &&
                   strstr(res.reason, "verdict is unknown"), "%s", res.reason);
    HIL_EXPECT_OK(hil_dut_step(dut, HIL_TAPP_CASE_RUN, 1, 1, &res), "a bad CRC on a LOG is skipped: %s", res.reason);
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_PASS);
    pthread_join(t, NULL);
    HIL_EXPECT_STREQ(p.err, "");
    /* an fdpacket channel has no board control: the reset says so */
    HIL_EXPECT_EQ(hil_dut_reset(dut, -1), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "fdpacket channel has no board control"), "%s", hil_last_error());
    hil_aux_destroy(dut);
    close(theirs);
}

HIL_TEST(mcu_dut, misbehaving_target_thread) { misbehaving_target(HIL_AUX_THREAD); }
HIL_TEST(mcu_dut, misbehaving_target_process) { misbehaving_target(HIL_AUX_PROCESS); }
HIL_TEST(mcu_dut, misbehaving_target_simple) { misbehaving_target(HIL_AUX_SIMPLE); }

static void* ping_only(void* arg) {
    script_peer* p = (script_peer*)arg;
    hil_tapp_msg c;
    if (!sp_command(p, &c) || c.sub_type != HIL_TAPP_PING) { sp_fail(p, "expected PING"); return NULL; }
    sp_ack(p, &c);
    return NULL;
}

/* hil_dut_reset: the channel's reset, then the boot LOG. Thread and simple
 * backends: the fake reset runs in this process. */
static void reset_waits_for_boot(hil_aux_backend b) {
    script_peer p;
    pthread_t t;
    int ours = -1, theirs = -1;
    hil_aux* dut;
    const hil_channel_type* fd_type;
    memset(&p, 0, sizeof p);
    HIL_ASSERT_EQ(st_seqpair(&ours, &theirs), 0);
    p.fd = theirs;
    reset_peer = &p;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, ping_only, &p), 0);
    dut = make(b, ours);
    pthread_join(t, NULL);
    fd_type = hil_channel_type_find("fdpacket");
    HIL_ASSERT_OK(hil_board_ops_register(fd_type, &fake_ops));
    HIL_EXPECT_OK(hil_dut_reset(dut, -1));
    HIL_EXPECT_EQ(p.resets, 1);
    {
        static const hil_board_ops none = {NULL, NULL, NULL};
        hil_board_ops_register(fd_type, &none); /* other tests' fdpacket channels have no board */
    }
    reset_peer = NULL;
    HIL_EXPECT_STREQ(p.err, "");
    hil_aux_destroy(dut);
    close(theirs);
}

HIL_TEST(mcu_dut, reset_waits_for_the_boot_log_thread) { reset_waits_for_boot(HIL_AUX_THREAD); }
HIL_TEST(mcu_dut, reset_waits_for_the_boot_log_simple) { reset_waits_for_boot(HIL_AUX_SIMPLE); }
