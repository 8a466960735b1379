/* The isotp channel (hil_connectors.h, section isotp) against the kernel's
 * CAN_ISOTP sockets and can-utils inside the QEMU VM bench: can0 and can1
 * are two emulated SJA1000 controllers on one bus, vcan0 a virtual CAN FD
 * interface (tests/vm/README.md). test-vm.sh copies can-utils' isotpsend,
 * isotprecv, isotpdump and candump in, with the libraries they need.
 *
 * Frames are checked with a raw socketcan channel on the bus beside the
 * ISO-TP sockets: it sees the first, consecutive and flow-control frames
 * (PCI bytes, lengths, padding) as any other node would. */
#include "vm_tests.h"
#include "vm_helpers.h"

#include <dirent.h>
#include <pthread.h>

HIL_SUITE(isotp_vm, "tags=can,isotp,vm; timeout=60")

static void bus_up(void) {
    hil_can_if_config c;
    hil_can_if_config_init(&c);
    c.bitrate = 500000;
    c.ctrl_mask = HIL_CAN_CTRL_LISTEN_ONLY;
    c.start = 1;
    HIL_ASSERT_OK(hil_can_configure("can0", &c, NULL));
    HIL_ASSERT_OK(hil_can_configure("can1", &c, NULL));
}

/* An isotp channel on ifname with tx and rx ids and up to 6 more options. */
static hil_result tp_try(const char* name, const char* ifname, const char* tx, const char* rx, const char* const* more,
                         hil_channel** out) {
    char o_if[48], o_tx[48], o_rx[48];
    const char* opts[12];
    size_t n = 0;
    snprintf(o_if, sizeof o_if, "interface=%s", ifname);
    snprintf(o_tx, sizeof o_tx, "tx_id=%s", tx);
    snprintf(o_rx, sizeof o_rx, "rx_id=%s", rx);
    opts[n++] = o_if;
    opts[n++] = o_tx;
    opts[n++] = o_rx;
    while (more && *more && n < 11) opts[n++] = *more++;
    opts[n] = NULL;
    return vm_channel_try(name, "isotp", opts, out);
}

static hil_channel* tp(const char* name, const char* ifname, const char* tx, const char* rx, const char* const* more) {
    hil_channel* ch = NULL;
    HIL_ASSERT_OK(tp_try(name, ifname, tx, rx, more, &ch), "opening isotp channel '%s' on %s", name, ifname);
    return ch;
}

/* A raw CAN channel that records every frame on ifname. */
static hil_channel* observer(const char* ifname) {
    char o_if[48];
    const char* opts[] = {o_if, "rcvbuf=1048576", NULL};
    snprintf(o_if, sizeof o_if, "interface=%s", ifname);
    return vm_channel("observer", "socketcan", opts);
}

static void fill(unsigned char* b, size_t n, unsigned seed) {
    size_t i;
    for (i = 0; i < n; i++) b[i] = (unsigned char)(seed + i * 7u + (i >> 8));
}

static unsigned char big_a[66001], big_b[66001];

static void send_ok(hil_channel* ch, const void* d, size_t n, int timeout_ms) {
    hil_msg m;
    hil_msg_init(&m, (void*)d, n);
    m.len = n;
    HIL_ASSERT_OK(hil_channel_send(ch, &m, timeout_ms), "sending %zu bytes on '%s'", n, hil_channel_name(ch));
}

static void recv_expect(hil_channel* ch, const void* want, size_t n, int timeout_ms) {
    hil_msg m;
    hil_msg_init(&m, big_b, sizeof big_b);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, timeout_ms), "receiving %zu bytes on '%s'", n, hil_channel_name(ch));
    HIL_ASSERT_EQ(m.len, n, "message length on '%s'", hil_channel_name(ch));
    HIL_ASSERT_MEMEQ(big_b, want, n, "message data on '%s'", hil_channel_name(ch));
    HIL_ASSERT(!(m.flags & HIL_MSG_TRUNCATED));
    HIL_ASSERT(m.timestamp_ns > 0);
}

HIL_TEST(isotp_vm, can0_to_can1_4095_bytes_both_ways) {
    hil_channel *a, *b;
    static const size_t sizes[] = {1, 7, 8, 62, 4095};
    size_t i;
    VM_REQUIRE();
    bus_up();
    a = tp("tester", "can0", "7E0", "0x7E8", NULL);
    b = tp("ecu", "can1", "7E8", "7E0", NULL);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        fill(big_a, sizes[i], (unsigned)i);
        send_ok(a, big_a, sizes[i], 5000);
        recv_expect(b, big_a, sizes[i], 2000);
        fill(big_a, sizes[i], (unsigned)i + 100);
        send_ok(b, big_a, sizes[i], 5000);
        recv_expect(a, big_a, sizes[i], 2000);
    }
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

HIL_TEST(isotp_vm, no_flow_control_is_a_clear_timeout) {
    hil_channel* a;
    hil_msg m;
    hil_result r;
    uint64_t t0;
    VM_REQUIRE();
    bus_up();
    a = tp("tester", "can0", "7E0", "7E8", NULL);
    fill(big_a, 100, 1);
    hil_msg_init(&m, big_a, 100);
    m.len = 100;
    t0 = hil_now_ns();
    r = hil_channel_send(a, &m, 5000);
    HIL_ASSERT_EQ(r, HIL_ERR_TIMEOUT, "send without a receiver: %s", hil_last_error());
    HIL_ASSERT(strstr(hil_last_error(), "no flow control"), "%s", hil_last_error());
    HIL_ASSERT((hil_now_ns() - t0) / 1000000u >= 900, "the kernel's N_Bs is 1 s");
    /* the channel is usable afterwards: a single frame needs no flow control */
    send_ok(a, "\x3e\x00", 2, 1000);
    hil_channel_destroy(a);
}

HIL_TEST(isotp_vm, missing_or_down_interface_is_named) {
    hil_channel* ch = NULL;
    hil_result r;
    VM_REQUIRE();
    r = tp_try("t", "nocan7", "7E0", "7E8", NULL, &ch);
    HIL_ASSERT_EQ(r, HIL_ERR_NOT_FOUND, "%s", hil_last_error());
    HIL_ASSERT(strstr(hil_last_error(), "nocan7") && strstr(hil_last_error(), "ip link add"), "%s", hil_last_error());
    hilvm_link_delete("vcan9");
    HIL_ASSERT_EQ(hilvm_link_add("vcan9", "vcan"), 0, "creating vcan9 (down)");
    r = tp_try("t", "vcan9", "7E0", "7E8", NULL, &ch);
    HIL_ASSERT_EQ(r, HIL_ERR_STATE, "%s", hil_last_error());
    HIL_ASSERT(strstr(hil_last_error(), "vcan9 is down") && strstr(hil_last_error(), "ip link set vcan9 up"), "%s",
               hil_last_error());
    HIL_ASSERT_EQ(hilvm_vcan_create("vcan9"), 0, "bringing vcan9 up");
    ch = tp("t", "vcan9", "7E0", "7E8", NULL);
    hil_channel_destroy(ch);
    HIL_ASSERT_EQ(hilvm_link_delete("vcan9"), 0);
}

/* Descriptors this process holds (/proc/self/fd), or -1. */
static int open_fds(void) {
    DIR* d = opendir("/proc/self/fd");
    struct dirent* e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own */
}

static hil_result raw_try(const char* ifname, hil_channel** out) {
    char o_if[48];
    const char* opts[] = {o_if, NULL};
    snprintf(o_if, sizeof o_if, "interface=%s", ifname);
    return vm_channel_try("raw", "socketcan", opts, out);
}

/* socketcan and isotp open, fail and close through one socket life cycle
 * (hil__cansock in hil_connectors.h): the same errors for the same causes,
 * and no descriptor left behind by a failed open or by open/close cycles. */
HIL_TEST(isotp_vm, both_channels_share_one_socket_life_cycle) {
    hil_channel* ch = NULL;
    hil_result r;
    int kind, i, before, held;
    VM_REQUIRE();
    hilvm_link_delete("vcan9");
    HIL_ASSERT_EQ(hilvm_link_add("vcan9", "vcan"), 0, "creating vcan9 (down)");
    before = open_fds();
    HIL_ASSERT(before > 0, "reading /proc/self/fd");
    for (kind = 0; kind < 2; kind++) {
        const char* type = kind ? "isotp" : "socketcan";
        /* lo is up but is no CAN interface: bind refuses it */
        r = kind ? tp_try("t", "lo", "7E0", "7E8", NULL, &ch) : raw_try("lo", &ch);
        HIL_EXPECT_EQ(r, HIL_ERR_CONFIG, "%s on lo: %s", type, hil_last_error());
        HIL_EXPECT(strstr(hil_last_error(), "bind to lo") && strstr(hil_last_error(), "not a CAN interface"), "%s: %s",
                   type, hil_last_error());
        r = kind ? tp_try("t", "vcan9", "7E0", "7E8", NULL, &ch) : raw_try("vcan9", &ch);
        HIL_EXPECT_EQ(r, HIL_ERR_STATE, "%s on vcan9: %s", type, hil_last_error());
        HIL_EXPECT(strstr(hil_last_error(), "interface vcan9 is down") &&
                   strstr(hil_last_error(), "sudo ip link set vcan9 up") && strstr(hil_last_error(), "hil_can_start"),
                   "%s: %s", type, hil_last_error());
        r = kind ? tp_try("t", "nocan7", "7E0", "7E8", NULL, &ch) : raw_try("nocan7", &ch);
        HIL_EXPECT_EQ(r, HIL_ERR_NOT_FOUND, "%s on nocan7: %s", type, hil_last_error());
        HIL_EXPECT(strstr(hil_last_error(), "no network interface 'nocan7'"), "%s: %s", type, hil_last_error());
        HIL_EXPECT_EQ(open_fds(), before, "%s: a failed open left a descriptor open", type);
        /* one channel opened and closed again and again: each close releases its socket */
        if (kind) ch = tp("t", "vcan0", "7E0", "7E8", NULL);
        else HIL_ASSERT_OK(raw_try("vcan0", &ch), "socketcan on vcan0");
        held = open_fds();
        for (i = 0; i < 50; i++) {
            hil_channel_close(ch);
            HIL_ASSERT_OK(hil_channel_open(ch), "%s: reopening (%d)", type, i);
        }
        HIL_EXPECT_EQ(open_fds(), held, "%s: 50 open/close cycles", type);
        HIL_EXPECT(hil_channel_poll_fd(ch) >= 0);
        hil_channel_close(ch);
        HIL_EXPECT_EQ(hil_channel_poll_fd(ch), -1);
        HIL_EXPECT_EQ(open_fds(), held - 1, "%s: close released the socket", type);
        hil_channel_destroy(ch);
        HIL_EXPECT_EQ(open_fds(), before, "%s: destroy released the rest", type);
    }
    HIL_ASSERT_EQ(hilvm_link_delete("vcan9"), 0);
}

HIL_TEST(isotp_vm, padding_seen_on_the_bus) {
    static const char* const pad_a[] = {"tx_padding=0xAA", NULL};
    static const char* const pad_b[] = {"tx_padding=0x55", "rx_padding=0xAA", "pad_check=all", NULL};
    hil_channel *a, *b, *obs;
    unsigned char fb[64];
    hil_msg m;
    int frames = 0, fcs = 0;
    VM_REQUIRE();
    bus_up();
    obs = observer("can1");
    a = tp("tester", "can0", "7E0", "7E8", pad_a);
    b = tp("ecu", "can1", "7E8", "7E0", pad_b);
    fill(big_a, 18, 3);
    send_ok(a, big_a, 18, 2000);
    recv_expect(b, big_a, 18, 2000);
    for (;;) {
        hil_msg_init(&m, fb, sizeof fb);
        if (hil_channel_recv(obs, &m, 300) != HIL_OK) break;
        frames++;
        HIL_EXPECT_EQ(m.len, 8, "frame %d (id %X) is padded to 8 bytes", frames, (unsigned)m.remote_id);
        if (m.remote_id == 0x7E8) {
            fcs++;
            HIL_EXPECT_EQ(fb[0], 0x30, "flow control PCI: clear to send");
            HIL_EXPECT_EQ(fb[3], 0x55, "flow control padded with b's 0x55");
        } else {
            HIL_EXPECT_EQ(m.remote_id, 0x7E0);
            if (frames == 1) HIL_EXPECT(fb[0] == 0x10 && fb[1] == 18, "first frame PCI 10 12, got %02X %02X", fb[0], fb[1]);
            if (frames == 4) HIL_EXPECT(fb[0] == 0x22 && fb[7] == 0xAA, "last CF: PCI 22, padding AA; got %02X .. %02X",
                                        fb[0], fb[7]);
        }
    }
    HIL_EXPECT_EQ(frames, 4, "18 bytes: FF (6 bytes), FC, CF (7), CF (5 + 2 padding)");
    HIL_EXPECT_EQ(fcs, 1);
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(obs);
}

/* Frames the observer saw, until it has been quiet for quiet_ms. */
typedef struct seen { uint32_t id; uint32_t flags; size_t len; unsigned char d[64]; uint64_t ts; } seen;

static int collect(hil_channel* obs, seen* out, int max, int quiet_ms) {
    int n = 0;
    for (;;) {
        hil_msg m;
        seen tmp;
        seen* s = n < max ? &out[n] : &tmp;
        hil_msg_init(&m, s->d, sizeof s->d);
        if (hil_channel_recv(obs, &m, quiet_ms) != HIL_OK) break;
        s->id = m.remote_id;
        s->flags = m.flags;
        s->len = m.len;
        s->ts = m.timestamp_ns;
        n++;
    }
    return n;
}

HIL_TEST(isotp_vm, flow_control_block_size_and_stmin) {
    static const char* const rx_opts[] = {"block_size=4", "stmin_us=5000", NULL};
    static seen f[64];
    hil_channel *a, *b, *obs;
    int n, i, fcs = 0, cfs = 0, since_fc = 0;
    uint64_t t0, took_ms;
    VM_REQUIRE();
    bus_up();
    obs = observer("can1");
    a = tp("tester", "can0", "7E0", "7E8", NULL);
    b = tp("ecu", "can1", "7E8", "7E0", rx_opts);
    /* 100 bytes: a first frame of 6, then 14 consecutive frames (13 x 7 + 3) */
    fill(big_a, 100, 9);
    t0 = hil_now_ns();
    send_ok(a, big_a, 100, 5000);
    took_ms = (hil_now_ns() - t0) / 1000000u;
    recv_expect(b, big_a, 100, 2000);
    n = collect(obs, f, 64, 300);
    HIL_ASSERT(n >= 2, "frames seen: %d", n);
    HIL_EXPECT(f[0].id == 0x7E0 && f[0].d[0] == 0x10 && f[0].d[1] == 100, "FF: 10 64, got %X %02X %02X",
               (unsigned)f[0].id, f[0].d[0], f[0].d[1]);
    for (i = 1; i < n; i++) {
        if (f[i].id == 0x7E8) {
            fcs++;
            HIL_EXPECT(f[i].d[0] == 0x30 && f[i].d[1] == 4 && f[i].d[2] == 5, "FC %d: 30 04 05 (CTS, BS 4, STmin 5 ms), "
                       "got %02X %02X %02X", fcs, f[i].d[0], f[i].d[1], f[i].d[2]);
            HIL_EXPECT(fcs == 1 || since_fc == 4, "a flow control after each block of 4 CFs (this one after %d)", since_fc);
            since_fc = 0;
        } else {
            cfs++;
            since_fc++;
            HIL_EXPECT_EQ(f[i].d[0], (unsigned char)(0x20 | (cfs & 0xF)), "CF %d sequence number", cfs);
            HIL_EXPECT(since_fc <= 4, "more than block_size CFs without a flow control");
        }
    }
    HIL_EXPECT_EQ(cfs, 14);
    HIL_EXPECT_EQ(fcs, 4, "flow controls: after the FF and after CF 4, 8 and 12");
    /* STmin paces the sender: at least 5 ms between CFs inside a block,
     * 10 such gaps (14 CFs in 4 blocks). A lower bound, so not flaky. */
    HIL_EXPECT(took_ms >= 50, "100 bytes with STmin 5 ms took only %llu ms", (unsigned long long)took_ms);
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(obs);
}

HIL_TEST(isotp_vm, extended_29bit_ids) {
    static seen f[8];
    hil_channel *a, *b, *obs;
    int n;
    VM_REQUIRE();
    bus_up();
    obs = observer("can1");
    a = tp("tester", "can0", "18DA10F1", "0x18DAF110", NULL);
    b = tp("ecu", "can1", "18DAF110", "18DA10F1", NULL);
    fill(big_a, 300, 4);
    send_ok(a, big_a, 300, 5000);
    recv_expect(b, big_a, 300, 2000);
    send_ok(b, "\x62\xf1\x90", 3, 1000);
    {
        hil_msg m;
        hil_msg_init(&m, big_b, sizeof big_b);
        HIL_ASSERT_OK(hil_channel_recv(a, &m, 2000));
        HIL_EXPECT_EQ(m.remote_id, 0x18DAF110u);
        HIL_EXPECT(m.flags & HIL_MSG_EXTENDED, "a 29-bit rx id is flagged HIL_MSG_EXTENDED");
    }
    n = collect(obs, f, 8, 300);
    HIL_ASSERT(n > 3);
    HIL_EXPECT(f[0].id == 0x18DA10F1u && (f[0].flags & HIL_MSG_EXTENDED), "FF on 18DA10F1 (29-bit)");
    HIL_EXPECT(f[1].id == 0x18DAF110u && (f[1].flags & HIL_MSG_EXTENDED), "FC on 18DAF110 (29-bit)");
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(obs);
}

HIL_TEST(isotp_vm, extended_addressing) {
    static const char* const ea[] = {"ext_address=0xF1", "rx_ext_address=0x10", NULL};
    static const char* const eb[] = {"ext_address=0x10", "rx_ext_address=0xF1", NULL};
    static const char* const wrong[] = {"ext_address=0x10", "rx_ext_address=0x22", NULL};
    static seen f[16];
    hil_channel *a, *b, *c, *obs;
    hil_msg m;
    int n, i;
    VM_REQUIRE();
    bus_up();
    obs = observer("can1");
    a = tp("tester", "can0", "6F1", "610", ea);
    b = tp("ecu", "can1", "610", "6F1", eb);
    c = tp("other", "can1", "610", "6F1", wrong); /* same ids, another address: must not get it */
    fill(big_a, 40, 5);
    send_ok(a, big_a, 40, 5000);
    recv_expect(b, big_a, 40, 2000);
    hil_msg_init(&m, big_b, sizeof big_b);
    HIL_EXPECT_EQ(hil_channel_recv(c, &m, 200), HIL_ERR_TIMEOUT, "a node with another address got the message");
    n = collect(obs, f, 16, 300);
    HIL_ASSERT(n >= 3);
    for (i = 0; i < n && i < 16; i++) {
        if (f[i].id == 0x6F1) HIL_EXPECT_EQ(f[i].d[0], 0xF1, "frame %d from the tester carries address F1", i);
        else HIL_EXPECT_EQ(f[i].d[0], 0x10, "frame %d (flow control) carries address 10", i);
    }
    HIL_EXPECT(f[0].d[1] == 0x10 && f[0].d[2] == 40, "FF PCI after the address byte: 10 28");
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(c);
    hil_channel_destroy(obs);
}

HIL_TEST(isotp_vm, canfd_frames_on_vcan0) {
    static const char* const fd[] = {"fd=true", "tx_dl=64", "brs=true", NULL};
    static const char* const fd_dflt[] = {"fd=true", NULL};
    static seen f[80];
    hil_channel *a, *b, *obs, *bad = NULL;
    int n, i;
    VM_REQUIRE();
    obs = observer("vcan0");
    a = tp("tester", "vcan0", "7E0", "7E8", fd);
    b = tp("ecu", "vcan0", "7E8", "7E0", fd_dflt);
    fill(big_a, 4095, 6);
    send_ok(a, big_a, 4095, 5000);
    recv_expect(b, big_a, 4095, 2000);
    n = collect(obs, f, 80, 300);
    /* FF carries 62 bytes, each CF 63: 1 + ceil(4033 / 63) = 66 frames, plus one FC */
    HIL_EXPECT_EQ(n, 67, "frames of a 4095-byte message in 64-byte CAN FD frames");
    for (i = 0; i < n && i < 80; i++) {
        if (f[i].id != 0x7E0) continue;
        HIL_EXPECT(f[i].flags & HIL_MSG_FD, "frame %d is CAN FD", i);
        HIL_EXPECT(f[i].flags & HIL_MSG_BRS, "frame %d has the bit rate switch", i);
        if (i < n - 1) HIL_EXPECT_EQ(f[i].len, 64, "frame %d length", i);
    }
    HIL_EXPECT(f[0].d[0] == 0x1F && f[0].d[1] == 0xFF, "FF PCI 1F FF (4095)");
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    hil_channel_destroy(obs);
    bus_up();
    HIL_ASSERT_EQ(tp_try("fd_on_classic", "can0", "7E0", "7E8", fd, &bad), HIL_ERR_UNSUPPORTED);
    HIL_ASSERT(strstr(hil_last_error(), "MTU 16") && strstr(hil_last_error(), "fd=false"), "%s", hil_last_error());
}

HIL_TEST(isotp_vm, pad_check_refuses_other_padding) {
    static const char* const pad_bb[] = {"tx_padding=0xBB", NULL};
    static const char* const strict[] = {"rx_padding=0xAA", "pad_check=data", NULL};
    hil_channel *a, *b;
    hil_msg m;
    hil_result r;
    VM_REQUIRE();
    bus_up();
    a = tp("tester", "can0", "7E0", "7E8", pad_bb);
    b = tp("ecu", "can1", "7E8", "7E0", strict);
    send_ok(a, "\x10\x03", 2, 1000);
    hil_msg_init(&m, big_b, sizeof big_b);
    r = hil_channel_recv(b, &m, 1000);
    HIL_ASSERT_EQ(r, HIL_ERR_PROTOCOL, "a single frame padded with BB where AA is expected: %s", hil_last_error());
    HIL_ASSERT(strstr(hil_last_error(), "padding"), "%s", hil_last_error());
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

/* Frames written by hand on a raw channel: what a broken peer sends. */
static void raw_send(hil_channel* raw, uint32_t id, const char* hex8) {
    unsigned char d[8];
    hil_msg m;
    int i;
    for (i = 0; i < 8; i++) {
        unsigned v;
        sscanf(hex8 + 3 * i, "%2x", &v);
        d[i] = (unsigned char)v;
    }
    hil_msg_init(&m, d, 8);
    m.len = 8;
    m.remote_id = id;
    HIL_ASSERT_OK(hil_channel_send(raw, &m, 1000));
}

HIL_TEST(isotp_vm, broken_peer_timeouts_and_sequence) {
    hil_channel *raw, *b;
    hil_msg m;
    hil_result r;
    uint64_t t0;
    VM_REQUIRE();
    bus_up();
    raw = vm_channel("raw", "socketcan", (const char* const[]){"interface=can0", NULL});
    b = tp("ecu", "can1", "7E8", "7E0", NULL);
    /* nothing at all: the caller's timeout */
    hil_msg_init(&m, big_b, sizeof big_b);
    t0 = hil_now_ns();
    HIL_ASSERT_EQ(hil_channel_recv(b, &m, 200), HIL_ERR_TIMEOUT);
    HIL_EXPECT((hil_now_ns() - t0) / 1000000u >= 190, "recv returned before its timeout");
    /* a first frame and then nothing: the kernel's N_Cr (1 s) */
    raw_send(raw, 0x7E0, "10 20 01 02 03 04 05 06");
    t0 = hil_now_ns();
    r = hil_channel_recv(b, &m, 3000);
    HIL_ASSERT_EQ(r, HIL_ERR_TIMEOUT, "%s", hil_last_error());
    HIL_ASSERT(strstr(hil_last_error(), "stopped half way"), "%s", hil_last_error());
    HIL_EXPECT((hil_now_ns() - t0) / 1000000u >= 900, "N_Cr is 1 s");
    /* a wrong sequence number */
    raw_send(raw, 0x7E0, "10 20 01 02 03 04 05 06");
    raw_send(raw, 0x7E0, "22 07 08 09 0A 0B 0C 0D");
    r = hil_channel_recv(b, &m, 2000);
    HIL_ASSERT_EQ(r, HIL_ERR_PROTOCOL, "%s", hil_last_error());
    HIL_ASSERT(strstr(hil_last_error(), "sequence number"), "%s", hil_last_error());
    /* and a good message after all that */
    raw_send(raw, 0x7E0, "03 22 F1 90 00 00 00 00");
    recv_expect(b, "\x22\xf1\x90", 3, 1000);
    hil_channel_destroy(raw);
    hil_channel_destroy(b);
}

HIL_TEST(isotp_vm, longest_message_and_too_long) {
    hil_channel *a, *b;
    hil_msg m;
    hil_result r;
    VM_REQUIRE();
    bus_up();
    a = tp("tester", "can0", "7E0", "7E8", NULL);
    b = tp("ecu", "can1", "7E8", "7E0", NULL);
    /* Linux 5.10 .. 6.1 (the VM's kernel): 32-bit first-frame lengths, up
     * to a fixed 66000 bytes */
    fill(big_a, sizeof big_a, 8);
    send_ok(a, big_a, 66000, 20000);
    recv_expect(b, big_a, 66000, 5000);
    hil_msg_init(&m, big_a, sizeof big_a);
    m.len = 66001;
    r = hil_channel_send(a, &m, 2000);
    HIL_ASSERT_EQ(r, HIL_ERR_INVALID_ARG, "%s", hil_last_error());
    HIL_ASSERT(strstr(hil_last_error(), "66001 bytes is more than"), "%s", hil_last_error());
    /* a receive buffer too small: the message is cut and flagged */
    fill(big_a, 100, 2);
    send_ok(a, big_a, 100, 2000);
    hil_msg_init(&m, big_b, 10);
    HIL_ASSERT_OK(hil_channel_recv(b, &m, 2000));
    HIL_EXPECT_EQ(m.len, 10);
    HIL_EXPECT(m.flags & HIL_MSG_TRUNCATED, "HIL_MSG_TRUNCATED");
    HIL_EXPECT_MEMEQ(big_b, big_a, 10);
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

HIL_TEST(isotp_vm, listen_only_and_functional_addressing) {
    static const char* const listen[] = {"listen_only=true", NULL};
    static const char* const func[] = {"sf_broadcast=true", NULL};
    static seen f[32];
    hil_channel *a, *b, *spy, *fa, *e1, *e2, *obs;
    hil_msg m;
    int n, i, fcs = 0;
    VM_REQUIRE();
    bus_up();
    obs = observer("can1");
    a = tp("tester", "can0", "7E0", "7E8", NULL);
    b = tp("ecu", "can1", "7E8", "7E0", NULL);
    fill(big_a, 50, 7);
    spy = tp("spy", "can1", "7E8", "7E0", listen);
    send_ok(a, big_a, 50, 2000);
    recv_expect(b, big_a, 50, 2000);
    recv_expect(spy, big_a, 50, 2000);
    n = collect(obs, f, 32, 300);
    for (i = 0; i < n && i < 32; i++) fcs += f[i].id == 0x7E8;
    HIL_EXPECT_EQ(fcs, 1, "only the ECU answers with flow control, not the listener");
    hil_msg_init(&m, big_a, 3);
    m.len = 3;
    HIL_ASSERT_EQ(hil_channel_send(spy, &m, 100), HIL_ERR_STATE);
    hil_channel_destroy(spy);
    hil_channel_destroy(b);
    hil_channel_destroy(a);
    /* functional: one single frame on 7DF reaches every ECU listening there */
    fa = tp("functional", "can0", "7DF", "7E8", func);
    e1 = tp("ecu1", "can1", "7E8", "7DF", NULL);
    e2 = tp("ecu2", "can1", "7E9", "7DF", NULL);
    send_ok(fa, "\x3e\x80", 2, 1000);
    recv_expect(e1, "\x3e\x80", 2, 1000);
    recv_expect(e2, "\x3e\x80", 2, 1000);
    hil_msg_init(&m, big_a, 10);
    m.len = 10;
    HIL_ASSERT_EQ(hil_channel_send(fa, &m, 100), HIL_ERR_INVALID_ARG);
    HIL_ASSERT(strstr(hil_last_error(), "at most 7 bytes"), "%s", hil_last_error());
    hil_channel_destroy(fa);
    hil_channel_destroy(e1);
    hil_channel_destroy(e2);
    hil_channel_destroy(obs);
}

HIL_TEST(isotp_vm, send_with_timeout_0_and_a_busy_transmitter) {
    static const char* const slow[] = {"stmin_us=1000", NULL};
    hil_channel *a, *b;
    hil_msg m;
    uint64_t t0;
    VM_REQUIRE();
    bus_up();
    a = tp("tester", "can0", "7E0", "7E8", NULL);
    b = tp("ecu", "can1", "7E8", "7E0", slow);
    /* 1000 bytes at STmin 1 ms: 142 consecutive frames, at least 141 ms */
    fill(big_a, 1000, 11);
    hil_msg_init(&m, big_a, 1000);
    m.len = 1000;
    t0 = hil_now_ns();
    HIL_ASSERT_OK(hil_channel_send(a, &m, 0), "timeout 0: the kernel takes the message");
    HIL_EXPECT((hil_now_ns() - t0) / 1000000u < 100, "timeout 0 waited for the transfer");
    HIL_ASSERT_EQ(hil_channel_send(a, &m, 0), HIL_ERR_AGAIN, "the transmitter is busy: %s", hil_last_error());
    /* a blocking send waits for the first message, then sends its own */
    HIL_ASSERT_OK(hil_channel_send(a, &m, 5000));
    HIL_EXPECT((hil_now_ns() - t0) / 1000000u >= 280, "two messages at STmin 1 ms took less than 2 x 141 ms");
    recv_expect(b, big_a, 1000, 2000);
    recv_expect(b, big_a, 1000, 2000);
    /* the caller's timeout shorter than the transfer: a clear timeout */
    HIL_ASSERT_EQ(hil_channel_send(a, &m, 50), HIL_ERR_TIMEOUT);
    HIL_ASSERT(strstr(hil_last_error(), "not sent completely within 50 ms"), "%s", hil_last_error());
    recv_expect(b, big_a, 1000, 2000); /* the kernel finished it */
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

typedef struct closer { hil_channel* ch; hil_result r; } closer;

static void* blocked_recv(void* arg) {
    closer* c = (closer*)arg;
    unsigned char b[16];
    hil_msg m;
    hil_msg_init(&m, b, sizeof b);
    c->r = hil_channel_recv(c->ch, &m, 10000);
    return NULL;
}

HIL_TEST(isotp_vm, close_wakes_a_blocked_receive) {
    closer c;
    pthread_t th;
    hil_waker w;
    uint64_t t0;
    VM_REQUIRE();
    bus_up();
    c.ch = tp("ecu", "can1", "7E8", "7E0", NULL);
    c.r = HIL_OK;
    HIL_ASSERT_EQ(pthread_create(&th, NULL, blocked_recv, &c), 0);
    /* give the reader a moment to block (a timed wait, not a sleep loop) */
    HIL_ASSERT_OK(hil_waker_init(&w));
    (void)hil_wait_readable(hil_waker_fd(&w), 100);
    hil_waker_destroy(&w);
    t0 = hil_now_ns();
    hil_channel_close(c.ch);
    pthread_join(th, NULL);
    HIL_EXPECT_EQ(c.r, HIL_ERR_CLOSED);
    HIL_EXPECT((hil_now_ns() - t0) / 1000000u < 2000, "close took too long to wake the reader");
    hil_channel_destroy(c.ch);
}

/* ---- can-utils: isotpsend, isotprecv, isotpdump ---------------------------- */

#define CANUTILS_SKIP(prog) \
    do { if (!vm_have(prog)) HIL_SKIP(prog " is not in the VM: install can-utils on the host (apt-get install can-utils)"); } while (0)

static hil_strbuf hexline(const unsigned char* d, size_t n) {
    hil_strbuf sb = {0, 0, 0, 0};
    size_t i;
    for (i = 0; i < n; i++) {
        char t[4];
        snprintf(t, sizeof t, "%s%02X", i ? " " : "", d[i]);
        hil_sb_append(&sb, t, strlen(t));
    }
    hil_sb_append(&sb, "\n", 1);
    return sb;
}

/* Parse can-utils' "11 22 33 ..." (hex bytes, any case) into out. */
static size_t parse_hex(const char* s, unsigned char* out, size_t cap) {
    size_t n = 0;
    unsigned v;
    int used;
    while (n < cap && sscanf(s, " %2x%n", &v, &used) == 1) {
        out[n++] = (unsigned char)v;
        s += used;
    }
    return n;
}

/* Read the child's stdout until it holds a '\n' or the deadline. */
static int read_line(hil_proc* p, hil_strbuf* out, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    while (!strchr(hil_sb_cstr(out), '\n')) {
        char b[8192];
        ssize_t r;
        if (hil_wait_readable(p->stdout_fd, hil_deadline_left_ms(deadline)) != HIL_OK) return 0;
        r = read(p->stdout_fd, b, sizeof b);
        if (r <= 0) return 0;
        hil_sb_append(out, b, (size_t)r);
    }
    return 1;
}

static void spawn(hil_proc* p, const char* const* argv, int pipe_in, int pipe_out) {
    hil_proc_config pc;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.pipe_stdin = pipe_in;
    pc.null_stdin = !pipe_in;
    pc.pipe_stdout = pipe_out;
    HIL_ASSERT_OK(hil_proc_spawn(p, &pc), "starting %s", argv[0]);
}

/* isotpsend -> our channel: its message arrives whole. */
static void from_isotpsend(const char* ifname, const char* const* our_opts, const char* const* extra_args, size_t n) {
    hil_channel* b;
    hil_proc p;
    hil_strbuf hex;
    const char* argv[16];
    size_t k = 0;
    b = tp("ecu", ifname, "7E8", "7E0", our_opts);
    argv[k++] = "isotpsend";
    argv[k++] = "-s";
    argv[k++] = "7E0";
    argv[k++] = "-d";
    argv[k++] = "7E8";
    while (extra_args && *extra_args && k < 14) argv[k++] = *extra_args++;
    argv[k++] = ifname;
    argv[k] = NULL;
    fill(big_a, n, (unsigned)n);
    hex = hexline(big_a, n);
    spawn(&p, argv, 1, 0);
    HIL_ASSERT_OK(hil_write_all(p.stdin_fd, hex.data, hex.len));
    close(p.stdin_fd);
    p.stdin_fd = -1;
    recv_expect(b, big_a, n, 5000);
    HIL_ASSERT_OK(hil_proc_wait(&p, 5000));
    HIL_EXPECT_EQ(hil_proc_exit_code(p.status), 0, "isotpsend's exit status");
    hil_proc_close(&p);
    hil_sb_free(&hex);
    hil_channel_destroy(b);
}

/* our channel -> isotprecv, which prints the message and exits (its
 * stdout is a pipe, so it prints only at exit). It says nothing when it is
 * listening: a message sent before then finds no receiver and fails with
 * the kernel's flow-control timeout, and is sent again. */
static void to_isotprecv(const char* ifname, const char* const* our_opts, const char* const* extra_args, size_t n) {
    hil_channel* a;
    hil_proc p;
    hil_strbuf out = {0, 0, 0, 0};
    const char* argv[20];
    size_t k = 0, got;
    hil_msg m;
    hil_result r = HIL_ERR_TIMEOUT;
    int attempt;
    a = tp("tester", ifname, "7E0", "7E8", our_opts);
    argv[k++] = "isotprecv";
    argv[k++] = "-s";
    argv[k++] = "7E8";
    argv[k++] = "-d";
    argv[k++] = "7E0";
    while (extra_args && *extra_args && k < 18) argv[k++] = *extra_args++;
    argv[k++] = ifname;
    argv[k] = NULL;
    spawn(&p, argv, 0, 1);
    fill(big_a, n, (unsigned)n + 1);
    for (attempt = 0; attempt < 5 && r == HIL_ERR_TIMEOUT; attempt++) {
        hil_msg_init(&m, big_a, n);
        m.len = n;
        r = hil_channel_send(a, &m, 10000);
        if (r == HIL_ERR_TIMEOUT) HIL_ASSERT(strstr(hil_last_error(), "no flow control"), "%s", hil_last_error());
    }
    HIL_ASSERT_OK(r, "sending %zu bytes to isotprecv", n);
    HIL_ASSERT(read_line(&p, &out, 5000), "isotprecv printed no message (so far: %.60s)", hil_sb_cstr(&out));
    got = parse_hex(hil_sb_cstr(&out), big_b, sizeof big_b);
    HIL_ASSERT_EQ(got, n, "bytes isotprecv printed");
    HIL_ASSERT_MEMEQ(big_b, big_a, n, "isotprecv's view of the message");
    HIL_ASSERT_OK(hil_proc_wait(&p, 5000));
    HIL_EXPECT_EQ(hil_proc_exit_code(p.status), 0, "isotprecv's exit status");
    hil_proc_close(&p);
    hil_sb_free(&out);
    hil_channel_destroy(a);
}

HIL_TEST(isotp_vm, isotpsend_to_us_4095_bytes) {
    VM_REQUIRE();
    CANUTILS_SKIP("isotpsend");
    bus_up();
    from_isotpsend("can0", NULL, NULL, 4095);     /* isotpsend on can0, we on can0: local loopback */
    from_isotpsend("vcan0", NULL, NULL, 4095);
    from_isotpsend("vcan0", (const char* const[]){"fd=true", NULL}, (const char* const[]){"-L", "72:64:0", NULL}, 4095);
}

HIL_TEST(isotp_vm, us_to_isotprecv_with_block_size_stmin_and_padding) {
    static seen f[700];
    hil_channel* obs;
    int n, i, fcs = 0, padded = 1;
    VM_REQUIRE();
    CANUTILS_SKIP("isotprecv");
    bus_up();
    obs = observer("can1");
    to_isotprecv("can0", (const char* const[]){"tx_padding=0xCC", NULL},
                 (const char* const[]){"-b", "8", "-m", "1", "-p", "AA:CC", "-P", "a", NULL}, 4095);
    n = collect(obs, f, 700, 300);
    for (i = 0; i < n && i < 700; i++) {
        if (f[i].len != 8) padded = 0;
        if (f[i].id == 0x7E8 && f[i].d[0] == 0x30) {
            fcs++;
            HIL_EXPECT(f[i].d[1] == 8 && f[i].d[2] == 1 && f[i].d[3] == 0xAA,
                       "isotprecv's flow control 30 08 01 AA.., got %02X %02X %02X %02X", f[i].d[0], f[i].d[1],
                       f[i].d[2], f[i].d[3]);
        }
        if (f[i].id == 0x7E0 && f[i].d[0] == 0x1F) HIL_EXPECT_EQ(f[i].d[1], 0xFF, "FF length 4095: 1F FF");
    }
    HIL_EXPECT(padded, "every frame padded to 8 bytes");
    /* 4095 bytes: FF + 585 CFs; block size 8: a flow control after the FF
     * and after every 8 CFs but the last block */
    HIL_EXPECT_EQ(fcs, 1 + 585 / 8, "flow controls from isotprecv");
    hil_channel_destroy(obs);
}

HIL_TEST(isotp_vm, can_utils_extended_addressing_and_can_fd) {
    VM_REQUIRE();
    CANUTILS_SKIP("isotpsend");
    CANUTILS_SKIP("isotprecv");
    bus_up();
    from_isotpsend("can1", (const char* const[]){"ext_address=0x10", "rx_ext_address=0xF1", NULL},
                   (const char* const[]){"-x", "F1:10", NULL}, 300);
    to_isotprecv("can1", (const char* const[]){"ext_address=0xF1", "rx_ext_address=0x10", NULL},
                 (const char* const[]){"-x", "10:F1", NULL}, 300);
    to_isotprecv("vcan0", (const char* const[]){"fd=true", "tx_dl=64", NULL},
                 (const char* const[]){"-L", "72:64:0", NULL}, 4095);
}

HIL_TEST(isotp_vm, isotpdump_explains_our_frames) {
    hil_channel *a, *b;
    hil_proc p;
    hil_strbuf out = {0, 0, 0, 0};
    const char* argv[] = {"isotpdump", "-s", "7E0", "-d", "7E8", "can1", NULL};
    const char* s;
    uint64_t deadline;
    int ready = 0;
    VM_REQUIRE();
    CANUTILS_SKIP("isotpdump");
    bus_up();
    a = tp("tester", "can0", "7E0", "7E8", (const char* const[]){"tx_padding=0xCC", NULL});
    b = tp("ecu", "can1", "7E8", "7E0", (const char* const[]){"block_size=2", "stmin_us=3000", NULL});
    spawn(&p, argv, 0, 1);
    deadline = hil_deadline_ms(5000);
    while (!ready && hil_deadline_left_ms(deadline) > 0) {
        send_ok(a, "\x3e\x00", 2, 1000);
        recv_expect(b, "\x3e\x00", 2, 1000);
        ready = read_line(&p, &out, 50);
    }
    HIL_ASSERT(ready, "isotpdump printed nothing within 5 s");
    fill(big_a, 30, 1);
    send_ok(a, big_a, 30, 5000);
    recv_expect(b, big_a, 30, 2000);
    send_ok(b, "\x7f\x22\x31", 3, 1000);
    recv_expect(a, "\x7f\x22\x31", 3, 1000);
    /* until isotpdump has printed the last single frame (7F 22 31) */
    deadline = hil_deadline_ms(3000);
    while (!strstr(hil_sb_cstr(&out), "7F 22 31") && hil_wait_readable(p.stdout_fd, hil_deadline_left_ms(deadline)) == HIL_OK) {
        char buf[4096];
        ssize_t r = read(p.stdout_fd, buf, sizeof buf);
        if (r <= 0) break;
        hil_sb_append(&out, buf, (size_t)r);
    }
    hil_proc_terminate(&p, 1000);
    hil_proc_close(&p);
    s = hil_sb_cstr(&out);
    HIL_ASSERT_OK(hil_write_file_atomic(vm_result_path("isotpdump.txt"), s, strlen(s)));
    HIL_EXPECT(strstr(s, "[FF]"), "isotpdump names the first frame:\n%s", s);
    HIL_EXPECT(strstr(s, "[CF]"), "isotpdump names consecutive frames:\n%s", s);
    HIL_EXPECT(strstr(s, "[FC]"), "isotpdump names flow controls:\n%s", s);
    HIL_EXPECT(strstr(s, "[SF]"), "isotpdump names single frames:\n%s", s);
    HIL_EXPECT(strstr(s, "[FF] ln: 30 "), "the first frame's length 30:\n%s", s);
    HIL_EXPECT(strstr(s, "[FC] FC: 0 = CTS # BS: 2 # STmin: 0x03 = 3 ms"), "the ECU's flow control:\n%s", s);
    HIL_EXPECT(strstr(s, "[CF] sn: 4 "), "four consecutive frames:\n%s", s);
    HIL_EXPECT(strstr(s, "CC CC"), "the tester's padding CC:\n%s", s);
    hil_sb_free(&out);
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

static int run_cmd(const char* const* argv) {
    hil_proc p;
    int code;
    spawn(&p, argv, 0, 0);
    HIL_ASSERT_OK(hil_proc_wait(&p, 5000), "%s", argv[0]);
    code = hil_proc_exit_code(p.status);
    hil_proc_close(&p);
    return code;
}

/* Last in the suite: it unloads can-isotp (no ISO-TP socket may be open)
 * and loads it again. The kernel cannot load it on demand in the VM (no
 * modules.dep for modprobe), as on a system without the module. */
HIL_TEST(isotp_vm, missing_module_says_modprobe) {
    static const char* const rm[] = {"rmmod", "can_isotp", NULL};
    static const char* const ins[] = {"insmod", "/lib/modules/hilvm/can_isotp.ko", NULL};
    hil_channel* ch = NULL;
    hil_result r;
    VM_REQUIRE();
    HIL_ASSERT_EQ(run_cmd(rm), 0, "rmmod can_isotp (is an ISO-TP socket still open?)");
    r = tp_try("t", "vcan0", "7E0", "7E8", NULL, &ch);
    HIL_EXPECT_EQ(r, HIL_ERR_UNSUPPORTED, "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "modprobe can-isotp"), "%s", hil_last_error());
    HIL_ASSERT_EQ(run_cmd(ins), 0, "insmod can_isotp again");
    ch = tp("t", "vcan0", "7E0", "7E8", NULL);
    hil_channel_destroy(ch);
}

/* ---- make bench-vm ----------------------------------------------------------- */

static int bench_cmp(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

/* The median of `reps` transfers of one 4095-byte message from can0 to can1
 * (block size 0, STmin 0): from the send call to the receiver having the
 * whole message. */
static int bench_transfer(const char* label, const char* txtime_opt, int reps) {
    const char* oa[] = {"interface=can0", "tx_id=7E0", "rx_id=7E8", txtime_opt, NULL};
    const char* ob[] = {"interface=can1", "tx_id=7E8", "rx_id=7E0", "block_size=0", "stmin_us=0", NULL};
    hil_channel *a = NULL, *b = NULL;
    double ms[64];
    int i;
    if (reps > 64) reps = 64;
    if (vm_channel_try("bench_tester", "isotp", oa, &a) != HIL_OK || vm_channel_try("bench_ecu", "isotp", ob, &b) != HIL_OK) {
        fprintf(stderr, "bench: %s\n", hil_last_error());
        hil_channel_destroy(a);
        return 1;
    }
    fill(big_a, 4095, 1);
    for (i = 0; i < reps; i++) {
        hil_msg m;
        uint64_t t0 = hil_now_ns();
        hil_msg_init(&m, big_a, 4095);
        m.len = 4095;
        if (hil_channel_send(a, &m, 10000) != HIL_OK) break;
        hil_msg_init(&m, big_b, sizeof big_b);
        if (hil_channel_recv(b, &m, 10000) != HIL_OK || m.len != 4095 || memcmp(big_a, big_b, 4095) != 0) break;
        ms[i] = (double)(hil_now_ns() - t0) / 1e6;
    }
    hil_channel_destroy(a);
    hil_channel_destroy(b);
    if (i < reps) {
        fprintf(stderr, "bench: transfer %d of %d failed: %s\n", i + 1, reps, hil_last_error());
        return 1;
    }
    qsort(ms, (size_t)reps, sizeof ms[0], bench_cmp);
    printf("BENCH %s %.1f ms\n", label, ms[reps / 2]);
    printf("bench: %s: median of %d transfers, min %.1f ms, max %.1f ms (586 frames each)\n", label, reps, ms[0],
           ms[reps - 1]);
    return 0;
}

int vm_bench_isotp(void);
int vm_bench_isotp(void) {
    hil_can_if_config c;
    hil_can_if_config_init(&c);
    c.bitrate = 500000;
    c.start = 1;
    if (hil_can_configure("can0", &c, NULL) != HIL_OK || hil_can_configure("can1", &c, NULL) != HIL_OK) {
        fprintf(stderr, "bench: %s\n", hil_last_error());
        return 1;
    }
    /* the kernel's default gap after each frame (N_As, 50 us), as users get it */
    if (bench_transfer("isotp_transfer_4095_ms", NULL, 21) != 0) return 1;
    /* and without it: what the protocol and the emulated bus cost alone */
    return bench_transfer("isotp_transfer_4095_txtime0_ms", "frame_txtime_us=0", 21);
}
