/* The socketcan channel, interface control and traces against real kernel
 * CAN drivers, inside the QEMU VM bench: can0 and can1 are two emulated
 * SJA1000 controllers (kvaser_pci) on one virtual bus, vcan0 is a virtual
 * CAN FD interface. What the emulation cannot do (no FD on can0/can1, no
 * bus errors, no bus-off, RTR frames must have DLC 0) is in
 * tests/vm/README.md; FD and error frames are tested on vcan0. */
#include "vm_tests.h"

#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

HIL_SUITE(socketcan_vm, "tags=can,vm; timeout=60")

static const unsigned char D8[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};

/* can0 and can1 at 500 kbit/s, started (init leaves them down, without a
 * bit rate, like fresh hardware). */
static void bus_up(void) {
    hil_can_if_config c;
    hil_can_if_config_init(&c);
    c.bitrate = 500000;
    c.ctrl_mask = HIL_CAN_CTRL_LISTEN_ONLY | HIL_CAN_CTRL_BERR_REPORTING;
    c.start = 1;
    HIL_ASSERT_OK(hil_can_configure("can0", &c, NULL));
    HIL_ASSERT_OK(hil_can_configure("can1", &c, NULL));
}

static hil_channel* can_ch(const char* name, const char* ifname, const char* opt1, const char* opt2,
                           const char* opt3) {
    char iface[64];
    const char* opts[5];
    size_t n = 0;
    snprintf(iface, sizeof iface, "interface=%s", ifname);
    opts[n++] = iface;
    if (opt1) opts[n++] = opt1;
    if (opt2) opts[n++] = opt2;
    if (opt3) opts[n++] = opt3;
    opts[n] = NULL;
    return vm_channel(name, "socketcan", opts);
}

static void send_frame(hil_channel* ch, uint32_t id, uint32_t flags, const void* data, size_t len) {
    hil_msg m;
    hil_msg_init(&m, (void*)data, len);
    m.len = len;
    m.remote_id = id;
    m.flags = flags;
    HIL_ASSERT_OK(hil_channel_send(ch, &m, 1000), "sending id 0x%x", (unsigned)id);
}

/* Receive one frame into buf (64 bytes); HIL_ERR_TIMEOUT is returned, not failed. */
static hil_result recv_frame(hil_channel* ch, hil_msg* m, unsigned char* buf, int timeout_ms) {
    hil_msg_init(m, buf, 64);
    return hil_channel_recv(ch, m, timeout_ms);
}

static void expect_frame(hil_channel* ch, uint32_t id, uint32_t flags, const void* data, size_t len, const char* what) {
    unsigned char buf[64];
    hil_msg m;
    hil_result r = recv_frame(ch, &m, buf, 1000);
    HIL_ASSERT_OK(r, "%s: waiting for id 0x%x", what, (unsigned)id);
    HIL_ASSERT_EQ(m.remote_id, id, "%s: id", what);
    HIL_ASSERT_EQ(m.flags & ~(uint32_t)HIL_MSG_ECHO, flags, "%s: flags of id 0x%x", what, (unsigned)id);
    HIL_ASSERT_EQ(m.len, len, "%s: length of id 0x%x", what, (unsigned)id);
    if (data && len && !(flags & HIL_MSG_RTR)) HIL_ASSERT_MEMEQ(buf, data, len, "%s: data of id 0x%x", what, (unsigned)id);
    HIL_ASSERT(m.timestamp_ns > 0);
}

static void expect_nothing(hil_channel* ch, int timeout_ms, const char* what) {
    unsigned char buf[64];
    hil_msg m;
    hil_result r = recv_frame(ch, &m, buf, timeout_ms);
    HIL_ASSERT_EQ(r, HIL_ERR_TIMEOUT, "%s: got id 0x%x flags 0x%x instead", what, (unsigned)m.remote_id,
                  (unsigned)m.flags);
}

HIL_TEST(socketcan_vm, bitrate_set_and_read_back) {
    hil_can_bittiming bt;
    VM_REQUIRE();
    HIL_ASSERT_OK(hil_can_set_bitrate("can0", 250000, 0));
    HIL_ASSERT_OK(hil_can_get_bittiming("can0", &bt));
    HIL_EXPECT_EQ(bt.bitrate, 250000);
    HIL_EXPECT_GT(bt.clock_hz, 0);
    HIL_EXPECT_GT(bt.tq, 0);
    HIL_ASSERT_OK(hil_can_set_bitrate("can0", 125000, 750));
    HIL_ASSERT_OK(hil_can_get_bittiming("can0", &bt));
    HIL_EXPECT_EQ(bt.bitrate, 125000);
    /* the kernel picks the nearest sample point the controller's clock allows */
    HIL_EXPECT(bt.sample_point >= 725 && bt.sample_point <= 775, "sample point %u", bt.sample_point);
    HIL_EXPECT_EQ(hil_can_set_bitrate("can0", 3, 0), HIL_ERR_INVALID_ARG, "a bit rate of 3 bit/s");
    HIL_EXPECT(strstr(hil_last_error(), "can0"), "%s", hil_last_error());
    bus_up();
    HIL_ASSERT_OK(hil_can_get_bittiming("can0", &bt));
    HIL_EXPECT_EQ(bt.bitrate, 500000);
}

HIL_TEST(socketcan_vm, state_after_start_and_stop) {
    hil_can_state st;
    hil_can_berr be;
    VM_REQUIRE();
    bus_up();
    HIL_ASSERT_OK(hil_can_get_state("can0", &st));
    HIL_EXPECT_STREQ(hil_can_state_str(st), "ERROR_ACTIVE");
    HIL_ASSERT_OK(hil_can_get_berr_counter("can0", &be));
    HIL_EXPECT_EQ(be.tx_errors, 0);
    HIL_EXPECT_EQ(be.rx_errors, 0);
    HIL_ASSERT_OK(hil_can_stop("can1"));
    HIL_ASSERT_OK(hil_can_get_state("can1", &st));
    HIL_EXPECT_STREQ(hil_can_state_str(st), "STOPPED");
    /* the kernel restarts only a controller in bus-off, which the emulation never reaches */
    HIL_EXPECT_EQ(hil_can_restart("can1"), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "not BUS_OFF"), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_can_start("can1"));
    HIL_ASSERT_OK(hil_can_get_state("can1", &st));
    HIL_EXPECT_STREQ(hil_can_state_str(st), "ERROR_ACTIVE");
    HIL_EXPECT_EQ(hil_can_get_state("vcan0", &st), HIL_ERR_IO, "vcan has no CAN controller state");
    HIL_EXPECT_EQ(hil_can_get_state("can7", &st), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "no network interface 'can7'"), "%s", hil_last_error());
}

HIL_TEST(socketcan_vm, channel_options_configure_the_interface) {
    const char* opts[] = {"interface=can1", "bitrate=500000", "sample_point=0.875", "restart_ms=100",
                          "berr_reporting=true", NULL};
    const char* back[] = {"interface=can1", "bitrate=500000", "restart_ms=0", "berr_reporting=false",
                          "listen_only=true", NULL};
    hil_can_bittiming bt;
    hil_can_if_config c;
    hil_can_state st;
    uint32_t flags = 0, rms = 0;
    int changed = -1;
    hil_channel* ch;
    VM_REQUIRE();
    bus_up();
    HIL_ASSERT_OK(hil_can_set_bitrate("can1", 250000, 0)); /* leaves can1 stopped, at another rate */
    ch = vm_channel("bus", "socketcan", opts);
    HIL_ASSERT_OK(hil_can_get_bittiming("can1", &bt));
    HIL_EXPECT_EQ(bt.bitrate, 500000);
    HIL_EXPECT_EQ(bt.sample_point, 875);
    HIL_ASSERT_OK(hil_can_get_restart_ms("can1", &rms));
    HIL_EXPECT_EQ(rms, 100);
    HIL_ASSERT_OK(hil_can_get_ctrlmode("can1", &flags));
    HIL_EXPECT(flags & HIL_CAN_CTRL_BERR_REPORTING, "ctrlmode 0x%x", flags);
    HIL_ASSERT_OK(hil_can_get_state("can1", &st));
    HIL_EXPECT_STREQ(hil_can_state_str(st), "ERROR_ACTIVE", "the channel started can1");
    hil_channel_destroy(ch);

    /* The same values again: nothing to change. */
    hil_can_if_config_init(&c);
    c.bitrate = 500000;
    c.restart_ms = 100;
    c.ctrl_mask = HIL_CAN_CTRL_BERR_REPORTING;
    c.ctrl_flags = HIL_CAN_CTRL_BERR_REPORTING;
    HIL_ASSERT_OK(hil_can_configure("can1", &c, &changed));
    HIL_EXPECT_EQ(changed, 0);

    ch = vm_channel("bus", "socketcan", back);
    HIL_ASSERT_OK(hil_can_get_ctrlmode("can1", &flags));
    HIL_EXPECT(!(flags & HIL_CAN_CTRL_BERR_REPORTING) && (flags & HIL_CAN_CTRL_LISTEN_ONLY), "ctrlmode 0x%x", flags);
    HIL_ASSERT_OK(hil_can_get_restart_ms("can1", &rms));
    HIL_EXPECT_EQ(rms, 0);
    hil_channel_destroy(ch);
    bus_up(); /* listen-only off again */
    HIL_ASSERT_OK(hil_can_get_ctrlmode("can1", &flags));
    HIL_EXPECT(!(flags & HIL_CAN_CTRL_LISTEN_ONLY), "ctrlmode 0x%x", flags);
}

HIL_TEST(socketcan_vm, a_down_interface_is_a_clear_error_and_state_up_starts_it) {
    const char* keep[] = {"interface=can1", NULL};
    const char* up[] = {"interface=can1", "state=up", NULL};
    hil_channel* ch = NULL;
    VM_REQUIRE();
    bus_up();
    HIL_ASSERT_OK(hil_can_stop("can1"));
    HIL_ASSERT_EQ(vm_channel_try("bus", "socketcan", keep, &ch), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "interface can1 is down"), "%s", hil_last_error());
    ch = vm_channel("bus", "socketcan", up);
    hil_channel_destroy(ch);
    {
        hil_can_state st;
        HIL_ASSERT_OK(hil_can_get_state("can1", &st));
        HIL_EXPECT_STREQ(hil_can_state_str(st), "ERROR_ACTIVE");
    }
}

HIL_TEST(socketcan_vm, frames_both_ways) {
    static const unsigned char d3[3] = {0x11, 0x22, 0x33}, d5[5] = {5, 4, 3, 2, 1};
    hil_channel *a, *b;
    VM_REQUIRE();
    bus_up();
    a = can_ch("a", "can0", NULL, NULL, NULL);
    b = can_ch("b", "can1", NULL, NULL, NULL);
    send_frame(a, 0x123, 0, D8, 8);
    send_frame(a, 0x1ABCDE0, HIL_MSG_EXTENDED, d3, 3);
    send_frame(a, 0x321, HIL_MSG_RTR, NULL, 0); /* DLC 0: the emulated SJA1000 breaks on RTR with DLC > 0 */
    send_frame(a, 0x7FF, 0, NULL, 0);
    send_frame(a, 0x1FFFFFFF, HIL_MSG_EXTENDED, D8, 8);
    expect_frame(b, 0x123, 0, D8, 8, "can0->can1 11-bit");
    expect_frame(b, 0x1ABCDE0, HIL_MSG_EXTENDED, d3, 3, "can0->can1 29-bit");
    expect_frame(b, 0x321, HIL_MSG_RTR, NULL, 0, "can0->can1 RTR");
    expect_frame(b, 0x7FF, 0, NULL, 0, "can0->can1 empty");
    expect_frame(b, 0x1FFFFFFF, HIL_MSG_EXTENDED, D8, 8, "can0->can1 largest 29-bit id");
    send_frame(b, 0x0, 0, d5, 5);
    send_frame(b, 0x12345, HIL_MSG_EXTENDED | HIL_MSG_RTR, NULL, 0);
    expect_frame(a, 0x0, 0, d5, 5, "can1->can0 11-bit id 0");
    expect_frame(a, 0x12345, HIL_MSG_EXTENDED | HIL_MSG_RTR, NULL, 0, "can1->can0 29-bit RTR");
    expect_nothing(b, 100, "can1 does not get its own frames back by default");
    {
        hil_msg m;
        hil_msg_init(&m, (void*)D8, 8);
        m.len = 8;
        m.remote_id = 0x800;
        HIL_EXPECT_EQ(hil_channel_send(a, &m, 100), HIL_ERR_INVALID_ARG);
        HIL_EXPECT(strstr(hil_last_error(), "does not fit 11 bits"), "%s", hil_last_error());
        m.remote_id = 0x100;
        m.len = 9;
        HIL_EXPECT_EQ(hil_channel_send(a, &m, 100), HIL_ERR_INVALID_ARG);
        HIL_EXPECT(strstr(hil_last_error(), "at most 8 bytes"), "%s", hil_last_error());
    }
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

HIL_TEST(socketcan_vm, receive_filters_pass_only_matching_frames) {
    hil_channel *a, *b, *inv;
    VM_REQUIRE();
    bus_up();
    a = can_ch("a", "can0", NULL, NULL, NULL);
    b = can_ch("b", "can1", "filters=123:7FF,1ABCDE00:1FFFFF00", NULL, NULL);
    inv = can_ch("inv", "can1", "filters=123~7FF,124~7FF", "filter_join=true", NULL);
    send_frame(a, 0x123, 0, D8, 2);
    send_frame(a, 0x124, 0, D8, 2);
    send_frame(a, 0x123, HIL_MSG_EXTENDED, D8, 2);   /* a 29-bit 0x123 is not the 11-bit 0x123 */
    send_frame(a, 0x1ABCDE42, HIL_MSG_EXTENDED, D8, 2);
    send_frame(a, 0x1ABCDF00, HIL_MSG_EXTENDED, D8, 2);
    send_frame(a, 0x125, 0, D8, 2);
    expect_frame(b, 0x123, 0, D8, 2, "filter 123:7FF");
    expect_frame(b, 0x1ABCDE42, HIL_MSG_EXTENDED, D8, 2, "filter 1ABCDE00:1FFFFF00");
    expect_nothing(b, 200, "only the two matching frames pass");
    /* inverted and joined: everything but the 11-bit 0x123 and 0x124 */
    expect_frame(inv, 0x123, HIL_MSG_EXTENDED, D8, 2, "inverted filters");
    expect_frame(inv, 0x1ABCDE42, HIL_MSG_EXTENDED, D8, 2, "inverted filters");
    expect_frame(inv, 0x1ABCDF00, HIL_MSG_EXTENDED, D8, 2, "inverted filters");
    expect_frame(inv, 0x125, 0, D8, 2, "inverted filters");
    expect_nothing(inv, 200, "0x123 and 0x124 are filtered out");
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(inv);
}

HIL_TEST(socketcan_vm, fd_frames_on_vcan) {
    unsigned char d64[64];
    hil_channel *a, *b, *classic, *c0;
    hil_msg m;
    int i;
    VM_REQUIRE();
    for (i = 0; i < 64; i++) d64[i] = (unsigned char)(i * 7 + 3);
    a = can_ch("a", "vcan0", NULL, NULL, NULL);
    b = can_ch("b", "vcan0", NULL, NULL, NULL);
    classic = can_ch("classic", "vcan0", "fd_frames=false", NULL, NULL);
    send_frame(a, 0x456, HIL_MSG_FD | HIL_MSG_BRS, d64, 64);
    send_frame(a, 0x1F00001, HIL_MSG_FD | HIL_MSG_EXTENDED | HIL_MSG_ESI, d64, 12);
    send_frame(a, 0x457, HIL_MSG_FD, d64, 0);
    send_frame(a, 0x458, 0, d64, 8);
    send_frame(a, 0x459, HIL_MSG_RTR, NULL, 4); /* vcan has no RTR-DLC problem */
    expect_frame(b, 0x456, HIL_MSG_FD | HIL_MSG_BRS, d64, 64, "FD 64 bytes with BRS");
    expect_frame(b, 0x1F00001, HIL_MSG_FD | HIL_MSG_EXTENDED | HIL_MSG_ESI, d64, 12, "FD 29-bit with ESI");
    expect_frame(b, 0x457, HIL_MSG_FD, NULL, 0, "FD empty");
    expect_frame(b, 0x458, 0, d64, 8, "classic frame on vcan0");
    expect_frame(b, 0x459, HIL_MSG_RTR, NULL, 4, "remote request with DLC 4 on vcan0");
    expect_frame(classic, 0x458, 0, d64, 8, "fd_frames=false still gets classic frames");
    expect_frame(classic, 0x459, HIL_MSG_RTR, NULL, 4, "fd_frames=false still gets classic frames");
    expect_nothing(classic, 100, "fd_frames=false gets no FD frames");
    /* the emulated SJA1000 is classic CAN: a clear error, before the kernel's EINVAL */
    c0 = can_ch("c0", "can0", "state=up", NULL, NULL);
    hil_msg_init(&m, d64, 12);
    m.len = 12;
    m.remote_id = 0x100;
    m.flags = HIL_MSG_FD;
    HIL_EXPECT_EQ(hil_channel_send(c0, &m, 100), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "MTU is 16"), "%s", hil_last_error());
    m.flags = HIL_MSG_FD | HIL_MSG_RTR;
    HIL_EXPECT_EQ(hil_channel_send(a, &m, 100), HIL_ERR_INVALID_ARG, "CAN FD has no RTR");
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(classic);
    hil_channel_destroy(c0);
}

HIL_TEST(socketcan_vm, error_frames_injected_on_vcan_are_decoded) {
    unsigned char e[8] = {0, 0x20, 0, 0, 0, 0, 128, 5}, buf[64];
    char text[256];
    hil_channel *tx, *all, *busoff_only, *plain;
    hil_msg m;
    VM_REQUIRE();
    /* The emulated SJA1000 raises no bus errors; vcan passes error frames
     * written to it on to sockets that ask for them. */
    tx = can_ch("tx", "vcan0", NULL, NULL, NULL);
    all = can_ch("all", "vcan0", "error_mask=all", NULL, NULL);
    busoff_only = can_ch("busoff", "vcan0", "error_mask=busoff", NULL, NULL);
    plain = can_ch("plain", "vcan0", NULL, NULL, NULL);
    send_frame(tx, HIL_CAN_ERR_BUSOFF | HIL_CAN_ERR_CRTL | HIL_CAN_ERR_CNT, HIL_MSG_ERROR, e, 8);
    send_frame(tx, HIL_CAN_ERR_ACK, HIL_MSG_ERROR, e, 8);
    HIL_ASSERT_OK(recv_frame(all, &m, buf, 1000));
    HIL_ASSERT(m.flags & HIL_MSG_ERROR, "flags 0x%x", (unsigned)m.flags);
    HIL_EXPECT_EQ(m.remote_id, HIL_CAN_ERR_BUSOFF | HIL_CAN_ERR_CRTL | HIL_CAN_ERR_CNT);
    HIL_EXPECT_EQ(m.len, 8);
    hil_can_error_str(&m, text, sizeof text);
    HIL_EXPECT(strstr(text, "bus-off") && strstr(text, "controller: tx error-passive") &&
               strstr(text, "error counters tx 128 rx 5"), "%s", text);
    HIL_ASSERT_OK(recv_frame(all, &m, buf, 1000));
    HIL_EXPECT_EQ(m.remote_id, HIL_CAN_ERR_ACK);
    HIL_EXPECT_STREQ(hil_can_error_str(&m, text, sizeof text), "no ACK on transmission");
    HIL_ASSERT_OK(recv_frame(busoff_only, &m, buf, 1000));
    HIL_EXPECT(m.remote_id & HIL_CAN_ERR_BUSOFF);
    expect_nothing(busoff_only, 150, "error_mask=busoff does not get the ACK error");
    expect_nothing(plain, 150, "no error_mask: no error frames");
    hil_channel_destroy(tx);
    hil_channel_destroy(all);
    hil_channel_destroy(busoff_only);
    hil_channel_destroy(plain);
}

HIL_TEST(socketcan_vm, own_frames_come_back_flagged_echo) {
    hil_channel *a, *b, *quiet, *other;
    unsigned char buf[64];
    hil_msg m;
    VM_REQUIRE();
    bus_up();
    a = can_ch("a", "can0", "receive_own=true", NULL, NULL);
    b = can_ch("b", "can1", NULL, NULL, NULL);
    other = can_ch("other", "can0", NULL, NULL, NULL);
    send_frame(a, 0x2A0, 0, D8, 4);
    HIL_ASSERT_OK(recv_frame(a, &m, buf, 1000));
    HIL_EXPECT_EQ(m.remote_id, 0x2A0);
    HIL_EXPECT(m.flags & HIL_MSG_ECHO, "own frame flags 0x%x", (unsigned)m.flags);
    HIL_ASSERT_OK(recv_frame(b, &m, buf, 1000));
    HIL_EXPECT(!(m.flags & HIL_MSG_ECHO), "the other controller's copy is no echo");
    HIL_ASSERT_OK(recv_frame(other, &m, buf, 1000));
    HIL_EXPECT(!(m.flags & HIL_MSG_ECHO), "another socket on can0 sees it as a frame, not an echo");
    /* local_loopback=false: other sockets on this host do not see our frames */
    quiet = can_ch("quiet", "can0", "local_loopback=false", NULL, NULL);
    send_frame(quiet, 0x2A1, 0, D8, 1);
    expect_frame(b, 0x2A1, 0, D8, 1, "the bus still gets it");
    expect_nothing(other, 150, "local_loopback=false");
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(quiet);
    hil_channel_destroy(other);
}

HIL_TEST(socketcan_vm, kernel_timestamps_increase) {
    hil_channel *a, *b;
    uint64_t prev = 0, before, after;
    unsigned char buf[64];
    hil_msg m;
    int i;
    VM_REQUIRE();
    bus_up();
    a = can_ch("a", "can0", NULL, NULL, NULL);
    b = can_ch("b", "can1", NULL, NULL, NULL);
    before = hil_wall_ns();
    for (i = 0; i < 5; i++) send_frame(a, 0x300 + (uint32_t)i, 0, D8, 8);
    for (i = 0; i < 5; i++) {
        HIL_ASSERT_OK(recv_frame(b, &m, buf, 1000));
        HIL_EXPECT_EQ(m.remote_id, 0x300 + i);
        HIL_EXPECT_GT(m.timestamp_ns, prev, "frame %d", i);
        prev = m.timestamp_ns;
    }
    after = hil_wall_ns();
    HIL_EXPECT(prev >= before && prev <= after, "kernel time %llu outside [%llu, %llu]",
               (unsigned long long)prev, (unsigned long long)before, (unsigned long long)after);
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

static int warnings_seen;
static void count_warnings(const hil_log_record* rec, void* user) {
    (void)user;
    if (rec->level == HIL_LOG_WARN && !strcmp(rec->logger, "hil.can") && strstr(rec->message, "dropped"))
        __atomic_fetch_add(&warnings_seen, 1, __ATOMIC_RELAXED);
}

HIL_TEST(socketcan_vm, kernel_drops_are_counted_and_warned) {
    hil_channel *a, *small;
    hil_channel_stats st;
    unsigned char buf[64];
    hil_msg m;
    int i, kept = 0;
    const int burst = 64;
    VM_REQUIRE();
    bus_up();
    a = can_ch("a", "can0", NULL, NULL, NULL);
    small = can_ch("small", "can1", "rcvbuf=0", NULL, NULL); /* the kernel's minimum: a few frames */
    for (i = 0; i < burst; i++) {
        unsigned char d[2] = {(unsigned char)i, 0};
        send_frame(a, 0x200, 0, d, 2);
    }
    while (recv_frame(small, &m, buf, 300) == HIL_OK) kept++;
    HIL_ASSERT(kept > 0 && kept < burst, "kept %d of %d", kept, burst);
    warnings_seen = 0;
    hil_log_set_callback(count_warnings, NULL);
    send_frame(a, 0x201, 0, D8, 2); /* arrives in the empty queue with the drop count */
    i = recv_frame(small, &m, buf, 1000) == HIL_OK;
    hil_log_set_callback(NULL, NULL);
    HIL_ASSERT(i, "the frame after the burst did not arrive");
    hil_channel_get_stats(small, &st);
    HIL_EXPECT_EQ(st.rx_dropped, burst - kept);
    HIL_EXPECT_EQ(warnings_seen, 1);
    hil_channel_destroy(a);
    hil_channel_destroy(small);
}

HIL_TEST(socketcan_vm, statistics) {
    hil_can_stats before, after;
    hil_channel_stats st;
    hil_channel *a, *b;
    unsigned char buf[64];
    hil_msg m;
    int i;
    VM_REQUIRE();
    bus_up();
    a = can_ch("a", "can0", NULL, NULL, NULL);
    b = can_ch("b", "can1", NULL, NULL, NULL);
    HIL_ASSERT_OK(hil_can_get_stats("can0", &before));
    for (i = 0; i < 10; i++) send_frame(a, 0x400, 0, D8, 8);
    for (i = 0; i < 10; i++) HIL_ASSERT_OK(recv_frame(b, &m, buf, 1000));
    HIL_ASSERT_OK(hil_can_get_stats("can0", &after));
    HIL_EXPECT_EQ(after.tx_packets - before.tx_packets, 10);
    HIL_EXPECT_EQ(after.tx_bytes - before.tx_bytes, 80);
    HIL_EXPECT_EQ(after.bus_error, 0, "the emulation raises no bus errors");
    hil_channel_get_stats(a, &st);
    HIL_EXPECT_EQ(st.tx_msgs, 10);
    HIL_EXPECT_EQ(st.tx_bytes, 80);
    hil_channel_get_stats(b, &st);
    HIL_EXPECT_EQ(st.rx_msgs, 10);
    HIL_EXPECT_EQ(st.rx_dropped, 0);
    HIL_EXPECT_EQ(hil_can_get_stats("vcan0", &after), HIL_ERR_IO, "vcan has no CAN device statistics");
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

/* A child that gave up root: the library must say what is missing, and a
 * channel on an interface that already runs as asked must still work. */
HIL_TEST(socketcan_vm, without_privilege_errors_are_clear_and_a_configured_interface_works) {
    int p[2], status = 0;
    pid_t pid;
    char out[4096];
    size_t n = 0;
    VM_REQUIRE();
    bus_up();
    HIL_ASSERT(pipe(p) == 0);
    pid = fork();
    HIL_ASSERT(pid >= 0);
    if (pid == 0) {
        const char* same[] = {"interface=can0", "bitrate=500000", NULL};
        const char* other[] = {"interface=can0", "bitrate=250000", NULL};
        hil_channel* ch = NULL;
        hil_result r;
        FILE* f = fdopen(p[1], "w");
        close(p[0]);
        if (!f || setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        r = hil_can_set_bitrate("can0", 250000, 0);
        fprintf(f, "set_bitrate=%d|%s\n", (int)r, hil_last_error());
        r = vm_channel_try("same", "socketcan", same, &ch);
        fprintf(f, "same=%d|%s\n", (int)r, r == HIL_OK ? "" : hil_last_error());
        if (ch) {
            hil_msg m;
            hil_msg_init(&m, (void*)D8, 8);
            m.len = 8;
            m.remote_id = 0x5A5;
            r = hil_channel_send(ch, &m, 1000);
            fprintf(f, "send=%d|%s\n", (int)r, r == HIL_OK ? "" : hil_last_error());
            hil_channel_destroy(ch);
        }
        r = vm_channel_try("other", "socketcan", other, &ch);
        fprintf(f, "other=%d|%s\n", (int)r, hil_last_error());
        fclose(f);
        _exit(0);
    }
    close(p[1]);
    for (;;) {
        ssize_t k = read(p[0], out + n, sizeof out - 1 - n);
        if (k > 0) { n += (size_t)k; continue; }
        if (k < 0 && errno == EINTR) continue;
        break;
    }
    out[n] = 0;
    close(p[0]);
    HIL_ASSERT(waitpid(pid, &status, 0) == pid);
    HIL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d; output: %s", status, out);
    HIL_EXPECT(strstr(out, "set_bitrate=-11|") && strstr(out, "CAP_NET_ADMIN"), "%s", out);
    HIL_EXPECT(strstr(out, "same=0|"), "%s", out);
    HIL_EXPECT(strstr(out, "send=0|"), "%s", out);
    HIL_EXPECT(strstr(out, "other=-11|") && strstr(out, "socketcan 'other'") &&
               strstr(out, "ip link set can0 up type can bitrate"), "%s", out);
    {
        hil_can_bittiming bt;
        HIL_ASSERT_OK(hil_can_get_bittiming("can0", &bt));
        HIL_EXPECT_EQ(bt.bitrate, 500000, "the refused change left can0 as it was");
    }
}

/* Recorded here, checked on the host by tests/test_can_vm.c (log2asc,
 * asc2log, tshark -r) against can_trace_expected.txt. */
HIL_TEST(socketcan_vm, trace_recorded_in_vm) {
    unsigned char d64[64], e[8] = {0, 0x20, 0, 0, 0, 0, 128, 5}, buf[64];
    hil_can_trace *log_tr, *pcap_tr;
    hil_channel *a, *b, *fa, *fb;
    FILE* expected;
    hil_msg m;
    size_t frames = 0;
    int i;
    VM_REQUIRE();
    bus_up();
    for (i = 0; i < 64; i++) d64[i] = (unsigned char)(255 - i);
    a = can_ch("a", "can0", NULL, NULL, NULL);
    b = can_ch("b", "can1", NULL, NULL, NULL);
    fa = can_ch("fa", "vcan0", NULL, NULL, NULL);
    fb = can_ch("fb", "vcan0", "error_mask=all", NULL, NULL);
    HIL_ASSERT_OK(hil_can_trace_open(vm_result_path("can_trace.log"), HIL_CAN_TRACE_CANDUMP, &log_tr));
    HIL_ASSERT_OK(hil_can_trace_open(vm_result_path("can_trace.pcap"), HIL_CAN_TRACE_PCAP, &pcap_tr));
    expected = fopen(vm_result_path("can_trace_expected.txt"), "w");
    HIL_ASSERT(expected != NULL);
    send_frame(a, 0x123, 0, D8, 8);
    send_frame(a, 0x1ABCDE0, HIL_MSG_EXTENDED, D8, 3);
    send_frame(a, 0x321, HIL_MSG_RTR, NULL, 0);
    send_frame(a, 0x7FF, 0, NULL, 0);
    send_frame(fa, 0x456, HIL_MSG_FD | HIL_MSG_BRS, d64, 64);
    send_frame(fa, 0x12345, HIL_MSG_FD | HIL_MSG_EXTENDED | HIL_MSG_ESI, d64, 12);
    send_frame(fa, HIL_CAN_ERR_BUSOFF | HIL_CAN_ERR_CRTL, HIL_MSG_ERROR, e, 8);
    for (i = 0; i < 7; i++) {
        char text[HIL_CAN_FRAME_TEXT_MAX];
        hil_channel* rx = i < 4 ? b : fb;
        HIL_ASSERT_OK(recv_frame(rx, &m, buf, 1000), "frame %d", i);
        HIL_ASSERT_OK(hil_can_trace_write(log_tr, i < 4 ? "can1" : "vcan0", &m));
        HIL_ASSERT_OK(hil_can_trace_write(pcap_tr, NULL, &m));
        HIL_ASSERT(hil_can_format_frame(&m, text, sizeof text) > 0);
        fprintf(expected, "%s %s\n", i < 4 ? "can1" : "vcan0", text);
        frames++;
    }
    fclose(expected);
    HIL_EXPECT_EQ(hil_can_trace_count(log_tr), frames);
    HIL_ASSERT_OK(hil_can_trace_close(log_tr));
    HIL_ASSERT_OK(hil_can_trace_close(pcap_tr));
    {   /* and read back here */
        hil_can_log* lg;
        hil_can_log_entry en;
        size_t k = 0;
        HIL_ASSERT_OK(hil_can_log_open(vm_result_path("can_trace.log"), &lg));
        while (hil_can_log_next(lg, &en) == HIL_OK) k++;
        hil_can_log_close(lg);
        HIL_EXPECT_EQ(k, frames);
    }
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(fa);
    hil_channel_destroy(fb);
}

/* ---- can-utils in the VM (test-vm.sh copies canplayer and candump in) ---- */

static void write_sample_log(const char* path, const char* ifname, uint64_t t0, uint64_t step_ns, int count) {
    hil_can_trace* tr;
    unsigned char d[64];
    hil_msg m;
    int i, k;
    HIL_ASSERT_OK(hil_can_trace_open(path, HIL_CAN_TRACE_CANDUMP, &tr));
    for (i = 0; i < count; i++) {
        for (k = 0; k < 64; k++) d[k] = (unsigned char)(i + k);
        hil_msg_init(&m, d, sizeof d);
        m.timestamp_ns = t0 + (uint64_t)i * step_ns;
        switch (i % 5) {
        case 0: m.remote_id = 0x100u + (uint32_t)i; m.len = (size_t)(i % 9); break;
        case 1: m.remote_id = 0x18DA0000u + (uint32_t)i; m.flags = HIL_MSG_EXTENDED; m.len = 8; break;
        case 2: m.remote_id = 0x200u + (uint32_t)i; m.flags = HIL_MSG_RTR; m.len = 0; break;
        case 3: m.remote_id = 0x300u + (uint32_t)i; m.flags = HIL_MSG_FD | HIL_MSG_BRS; m.len = 48; break;
        default: m.remote_id = 0x1000u + (uint32_t)i; m.flags = HIL_MSG_FD | HIL_MSG_EXTENDED; m.len = 20; break;
        }
        HIL_ASSERT_OK(hil_can_trace_write(tr, ifname, &m));
    }
    HIL_ASSERT_OK(hil_can_trace_close(tr));
}

/* The frames of a log, in order, as text lines. */
static void log_frames(const char* path, char lines[][HIL_CAN_FRAME_TEXT_MAX], int max, int* count) {
    hil_can_log* lg;
    hil_can_log_entry en;
    hil_result r;
    *count = 0;
    HIL_ASSERT_OK(hil_can_log_open(path, &lg));
    while ((r = hil_can_log_next(lg, &en)) == HIL_OK && *count < max)
        hil_can_format_frame(&en.msg, lines[(*count)++], HIL_CAN_FRAME_TEXT_MAX);
    hil_can_log_close(lg);
    HIL_ASSERT(r == HIL_OK || r == HIL_ERR_CLOSED, "%s", hil_last_error());
}

HIL_TEST(socketcan_vm, canplayer_plays_our_log) {
    static char want[20][HIL_CAN_FRAME_TEXT_MAX];
    const char* path = vm_result_path("for_canplayer.log");
    hil_proc_config pc;
    hil_proc p;
    hil_channel* rx;
    unsigned char buf[64];
    hil_msg m;
    int n, i;
    VM_REQUIRE();
    if (!vm_have("canplayer")) HIL_SKIP("canplayer is not in the VM: install can-utils on the host (apt-get install can-utils)");
    write_sample_log(path, "vcan0", 1700000000000000000ull, 1000000u, 20);
    log_frames(path, want, 20, &n);
    HIL_ASSERT_EQ(n, 20);
    rx = can_ch("rx", "vcan0", NULL, NULL, NULL);
    {
        const char* argv[] = {"canplayer", "-I", path, "-t", NULL};
        hil_proc_config_init(&pc);
        pc.argv = argv;
        pc.null_stdin = 1;
        HIL_ASSERT_OK(hil_proc_spawn(&p, &pc));
    }
    for (i = 0; i < n; i++) {
        char got[HIL_CAN_FRAME_TEXT_MAX];
        HIL_ASSERT_OK(recv_frame(rx, &m, buf, 2000), "frame %d of %d from canplayer", i + 1, n);
        HIL_ASSERT(hil_can_format_frame(&m, got, sizeof got) > 0);
        HIL_EXPECT_STREQ(got, want[i], "frame %d", i + 1);
    }
    HIL_ASSERT_OK(hil_proc_wait(&p, 5000));
    HIL_EXPECT_EQ(hil_proc_exit_code(p.status), 0, "canplayer's exit status");
    hil_proc_close(&p);
    hil_channel_destroy(rx);
}

HIL_TEST(socketcan_vm, candump_log_is_read_back) {
    static char sent[20][HIL_CAN_FRAME_TEXT_MAX], got[40][HIL_CAN_FRAME_TEXT_MAX];
    const char* src = vm_result_path("for_candump.log");
    const char* dumped = vm_result_path("from_candump.log");
    hil_can_replay_config rc;
    hil_proc_config pc;
    hil_proc p;
    hil_channel* tx;
    hil_strbuf out = {0, 0, 0, 0};
    uint64_t deadline;
    int n, k, i, ready = 0, lines = 0;
    VM_REQUIRE();
    if (!vm_have("candump")) HIL_SKIP("candump is not in the VM: install can-utils on the host (apt-get install can-utils)");
    write_sample_log(src, "vcan0", 1700000000000000000ull, 1000000u, 20);
    log_frames(src, sent, 20, &n);
    tx = can_ch("tx", "vcan0", NULL, NULL, NULL);
    {
        const char* argv[] = {"candump", "-L", "vcan0", NULL};
        hil_proc_config_init(&pc);
        pc.argv = argv;
        pc.pipe_stdout = 1;
        pc.null_stdin = 1;
        HIL_ASSERT_OK(hil_proc_spawn(&p, &pc));
    }
    /* candump prints nothing until it has a frame: probe (every 20 ms, as
     * a timed wait on its output) until the first probe frame comes out. */
    deadline = hil_deadline_ms(5000);
    while (!ready && hil_deadline_left_ms(deadline) > 0) {
        send_frame(tx, 0x7AB, 0, "probe", 5);
        while (hil_wait_readable(p.stdout_fd, 20) == HIL_OK) {
            char b[4096];
            ssize_t r = read(p.stdout_fd, b, sizeof b);
            if (r <= 0) break;
            hil_sb_append(&out, b, (size_t)r);
            ready = 1;
        }
    }
    HIL_ASSERT(ready, "candump printed nothing within 5 s");
    hil_can_replay_config_init(&rc);
    rc.path = src;
    rc.channel = tx;
    rc.realtime = 0;
    HIL_ASSERT_OK(hil_can_replay(&rc, NULL));
    send_frame(tx, 0x7AC, 0, "end", 3);
    deadline = hil_deadline_ms(5000);
    while (!strstr(hil_sb_cstr(&out), "7AC#656E64") && hil_wait_readable(p.stdout_fd, hil_deadline_left_ms(deadline)) == HIL_OK) {
        char b[4096];
        ssize_t r = read(p.stdout_fd, b, sizeof b);
        if (r <= 0) break;
        hil_sb_append(&out, b, (size_t)r);
    }
    hil_proc_terminate(&p, 1000);
    hil_proc_close(&p);
    HIL_ASSERT_OK(hil_write_file_atomic(dumped, out.data, out.len));
    hil_sb_free(&out);
    log_frames(dumped, got, 40, &k);
    for (i = 0; i < k && strncmp(got[i], "7AB#", 4) == 0; i++) {} /* the probes */
    HIL_ASSERT_EQ(k - i, n + 1, "frames candump logged after the probes");
    for (lines = 0; lines < n; lines++) HIL_EXPECT_STREQ(got[i + lines], sent[lines], "frame %d", lines + 1);
    hil_channel_destroy(tx);
}

HIL_TEST(socketcan_vm, replay_keeps_the_log_timing) {
    const char* path = vm_result_path("for_replay.log");
    hil_can_replay_config rc;
    hil_channel *a, *b;
    unsigned char buf[64];
    hil_msg m;
    uint64_t first = 0, last = 0, t0;
    size_t sent = 0;
    int i;
    VM_REQUIRE();
    bus_up();
    {   /* 10 classic frames, 20 ms apart, on "can0"; and a vcan0 line that is skipped */
        hil_can_trace* tr;
        HIL_ASSERT_OK(hil_can_trace_open(path, HIL_CAN_TRACE_CANDUMP, &tr));
        for (i = 0; i < 10; i++) {
            hil_msg_init(&m, (void*)D8, 8);
            m.len = 8;
            m.remote_id = 0x500u + (uint32_t)i;
            m.timestamp_ns = 1700000000000000000ull + (uint64_t)i * 20000000u;
            HIL_ASSERT_OK(hil_can_trace_write(tr, "can0", &m));
            if (i == 4) HIL_ASSERT_OK(hil_can_trace_write(tr, "vcan0", &m));
        }
        HIL_ASSERT_OK(hil_can_trace_close(tr));
    }
    a = can_ch("a", "can0", NULL, NULL, NULL);
    b = can_ch("b", "can1", NULL, NULL, NULL);
    hil_can_replay_config_init(&rc);
    rc.path = path;
    rc.channel = a;
    rc.interface = "can0";
    t0 = hil_now_ns();
    HIL_ASSERT_OK(hil_can_replay(&rc, &sent));
    HIL_EXPECT_EQ(sent, 10);
    /* deadlines never fire early: the replay takes at least the log's span */
    HIL_EXPECT_GE(hil_now_ns() - t0, 180000000u);
    for (i = 0; i < 10; i++) {
        HIL_ASSERT_OK(recv_frame(b, &m, buf, 1000));
        HIL_EXPECT_EQ(m.remote_id, 0x500 + i);
        if (i == 0) first = m.timestamp_ns;
        last = m.timestamp_ns;
    }
    HIL_EXPECT_GE(last - first, 150000000u, "kernel receive times span the log's 180 ms");
    rc.realtime = 0;
    HIL_ASSERT_OK(hil_can_replay(&rc, &sent));
    for (i = 0; i < 10; i++) {
        HIL_ASSERT_OK(recv_frame(b, &m, buf, 1000));
        HIL_EXPECT_EQ(m.remote_id, 0x500 + i);
    }
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

static void* close_soon(void* arg) {
    hil_channel* ch = (hil_channel*)arg;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL); /* let the reader block first */
    hil_channel_close(ch);
    return NULL;
}

HIL_TEST(socketcan_vm, close_wakes_a_blocked_reader_and_wait_sees_frames) {
    hil_channel *a, *b;
    hil_channel* both[2];
    unsigned char buf[64];
    hil_msg m;
    pthread_t th;
    uint64_t t0;
    size_t idx = 99;
    VM_REQUIRE();
    bus_up();
    a = can_ch("a", "can0", NULL, NULL, NULL);
    b = can_ch("b", "can1", NULL, NULL, NULL);
    both[0] = a;
    both[1] = b;
    send_frame(a, 0x600, 0, D8, 1);
    HIL_ASSERT_OK(hil_channel_wait(both, 2, NULL, 1000, &idx));
    HIL_EXPECT_EQ(idx, 1, "can1 is readable");
    HIL_ASSERT_OK(recv_frame(b, &m, buf, 0));
    HIL_EXPECT_EQ(recv_frame(b, &m, buf, 0), HIL_ERR_AGAIN);
    HIL_ASSERT(pthread_create(&th, NULL, close_soon, b) == 0);
    t0 = hil_now_ns();
    HIL_EXPECT_EQ(recv_frame(b, &m, buf, 5000), HIL_ERR_CLOSED);
    HIL_EXPECT_LT(hil_now_ns() - t0, 2000000000u, "close woke the reader");
    pthread_join(th, NULL);
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}
