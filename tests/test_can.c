/* CAN on the host: the socketcan channel's errors where the kernel has no
 * AF_CAN (these machines), option checking, interface control errors, the
 * frame text form, error-frame text, and CAN traces checked with the real
 * readers: can-utils (log2asc, asc2log, log2long) and tshark. The channel
 * against real kernel drivers runs in the VM: make test-vm
 * (tests/vm/vm_socketcan.c). */
#include "selftest.h"

#include <pthread.h>
#include <sys/socket.h>

HIL_SUITE(socketcan_host, "tags=can,connectors")
HIL_SUITE(can_trace, "tags=can")

/* Whether this kernel offers AF_CAN raw sockets (29 = PF_CAN, 1 = CAN_RAW). */
static int have_af_can(void) {
    int fd = socket(29, SOCK_RAW, 1);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

static hil_result make_can(const char* name, const char* const* opts, hil_channel** out) {
    hil_channel_config c;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "socketcan";
    c.options = opts;
    return hil_channel_create(&c, out);
}

HIL_TEST(socketcan_host, open_says_what_is_missing) {
    const char* opts[] = {"interface=hilcan9", NULL};
    hil_channel* ch = NULL;
    hil_result r;
    HIL_ASSERT(hil_channel_type_find("socketcan") != NULL, "the socketcan type is built in");
    HIL_ASSERT_OK(make_can("bus", opts, &ch));
    r = hil_channel_open(ch);
    if (!have_af_can()) {
        HIL_EXPECT_EQ(r, HIL_ERR_UNSUPPORTED);
        HIL_EXPECT(strstr(hil_last_error(), "socketcan 'bus': the kernel has no SocketCAN (AF_CAN)"), "%s", hil_last_error());
        HIL_EXPECT(strstr(hil_last_error(), "modprobe can can-raw") && strstr(hil_last_error(), "make test-vm"), "%s",
                   hil_last_error());
    } else {
        HIL_EXPECT_EQ(r, HIL_ERR_NOT_FOUND);
        HIL_EXPECT(strstr(hil_last_error(), "no network interface 'hilcan9'"), "%s", hil_last_error());
    }
    HIL_EXPECT(!hil_channel_is_open(ch));
    HIL_EXPECT_EQ(hil_channel_poll_fd(ch), -1);
    hil_channel_destroy(ch);
}

static void expect_config_error(const char* opt, const char* text) {
    const char* opts[] = {"interface=can0", opt, NULL};
    hil_channel* ch = NULL;
    HIL_EXPECT_EQ(make_can("bus", opts, &ch), HIL_ERR_CONFIG, "option %s", opt);
    HIL_EXPECT(strstr(hil_last_error(), text), "option %s: %s", opt, hil_last_error());
    HIL_EXPECT(ch == NULL);
    if (ch) hil_channel_destroy(ch);
}

HIL_TEST(socketcan_host, options_are_checked_when_the_channel_is_created) {
    const char* none[] = {NULL};
    const char* ok[] = {"interface=vcan0", "filters=123:7FF, 18DAF100:1FFFFF00,7E0~7F0", "error_mask=busoff|ack,crtl",
                        "filter_join=true", "receive_own=true", "rcvbuf=65536", NULL};
    hil_channel* ch = NULL;
    HIL_EXPECT_EQ(make_can("bus", none, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "set connectors.bus.interface"), "%s", hil_last_error());
    expect_config_error("filters=12G:7FF", "option filters '12G:7FF'");
    expect_config_error("filters=123", "expected <hex id>:<hex mask>");
    expect_config_error("filters=123:", "filter 1: bad mask");
    expect_config_error("filters=123:7FF,123456789:1", "filter 2");
    expect_config_error("filters=3FFFFFFF:1", "at most 29 bits");
    expect_config_error("error_mask=busof", "unknown error class 'busof'");
    expect_config_error("sample_point=87.5", "not between 0 and 1");
    expect_config_error("bitrate=-5", "not a bit rate");
    expect_config_error("bitrate=fast", "expected an integer");
    expect_config_error("sample_point=0.8", "a sample point needs its bit rate");
    expect_config_error("state=down", "option state: 'down' is not allowed; expected one of keep|up");
    expect_config_error("baudrate=9600", "not an option of type 'socketcan'");
    {
        const char* longname[] = {"interface=averyveryverylongname", NULL};
        HIL_EXPECT_EQ(make_can("bus", longname, &ch), HIL_ERR_CONFIG);
        HIL_EXPECT(strstr(hil_last_error(), "longer than 15 characters"), "%s", hil_last_error());
    }
    HIL_ASSERT_OK(make_can("bus", ok, &ch), "valid options");
    hil_channel_destroy(ch);
}

HIL_TEST(socketcan_host, interface_control_says_what_is_missing) {
    hil_can_state st = HIL_CAN_STATE_ERROR_ACTIVE;
    hil_result r = hil_can_set_bitrate("hilcan9", 500000, 0);
#ifdef HIL_HAVE_LIBSOCKETCAN
    HIL_EXPECT_EQ(r, HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "no network interface 'hilcan9'"), "%s", hil_last_error());
    r = hil_can_set_data_bitrate("hilcan9", 500000, 0, 2000000, 0);
    /* 0.0.12 (Debian 12) has no can_set_canfd_bittiming; a newer library gets as far as the interface */
    HIL_EXPECT(r == HIL_ERR_UNSUPPORTED || r == HIL_ERR_NOT_FOUND, "%s", hil_last_error());
    if (r == HIL_ERR_UNSUPPORTED)
        HIL_EXPECT(strstr(hil_last_error(), "can_set_canfd_bittiming") && strstr(hil_last_error(), "dbitrate 2000000"),
                   "%s", hil_last_error());
#else
    HIL_EXPECT_EQ(r, HIL_ERR_MISSING_LIBRARY);
    HIL_EXPECT(strstr(hil_last_error(), "libsocketcan-dev"), "%s", hil_last_error());
#endif
    HIL_EXPECT_NE(hil_can_get_state("hilcan9", &st), HIL_OK);
    HIL_EXPECT_EQ(st, HIL_CAN_STATE_UNKNOWN);
    HIL_EXPECT_NE(hil_can_get_state("", &st), HIL_OK);
    HIL_EXPECT_STREQ(hil_can_state_str(HIL_CAN_STATE_BUS_OFF), "BUS_OFF");
    HIL_EXPECT_STREQ(hil_can_state_str((hil_can_state)42), "UNKNOWN");
}

/* Builds without libsocketcan and without the Linux CAN headers, as
 * separate programs (tests/meta/meta_can_*.c). */
HIL_TEST(socketcan_host, builds_without_libsocketcan_or_linux_can_headers_explain_themselves) {
    const char* names[] = {"meta_can_nolib", "meta_can_nolinux"};
    size_t i;
    for (i = 0; i < 2; i++) {
        const char* argv[] = {st_meta(names[i]), "--color", "never", NULL};
        st_result r;
        st_run(argv, NULL, 20000, &r);
        HIL_EXPECT_EQ(r.code, 0, "%s:\n%s", names[i], r.out);
        HIL_EXPECT(st_has(&r, "0 failed, 0 skipped"), "%s:\n%s", names[i], r.out);
        st_result_free(&r);
    }
}

/* ---- frames as text, error frames --------------------------------------------- */

HIL_TEST(can_trace, frames_format_and_parse_like_candump) {
    static const struct { const char* text; uint32_t id, flags; size_t len; } cases[] = {
        {"123#DEADBEEF", 0x123, 0, 4},
        {"7FF#", 0x7FF, 0, 0},
        {"000#0011223344556677", 0, 0, 8},
        {"1ABCDE00#11", 0x1ABCDE00, HIL_MSG_EXTENDED, 1},
        {"00000123#", 0x123, HIL_MSG_EXTENDED, 0},
        {"321#R", 0x321, HIL_MSG_RTR, 0},
        {"12345678#R5", 0x12345678, HIL_MSG_EXTENDED | HIL_MSG_RTR, 5},
        {"456##1AABB", 0x456, HIL_MSG_FD | HIL_MSG_BRS, 2},
        {"1F000001##3", 0x1F000001, HIL_MSG_FD | HIL_MSG_EXTENDED | HIL_MSG_BRS | HIL_MSG_ESI, 0},
        {"20000040#0000000000000000", 0x40, HIL_MSG_ERROR, 8},
        {"3FFFFFFF#", 0x1FFFFFFF, HIL_MSG_ERROR, 0},
    };
    static const char* bad[] = {"12#00", "1234#00", "800#00", "123", "123#0", "123#GG", "123#001122334455667788",
                                "123##", "123#R9", "7FFFFFFF#00", "123#00x",
                                /* an error frame is a classic frame: never CAN FD (found by fuzz_can) */
                                "20000004##100", "2ABCDF7F##1111111aF1111111111111111111111"};
    unsigned char buf[64];
    char text[HIL_CAN_FRAME_TEXT_MAX];
    hil_msg m;
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_can_parse_frame(cases[i].text, &m), "%s", cases[i].text);
        HIL_EXPECT_EQ(m.remote_id, cases[i].id, "%s", cases[i].text);
        HIL_EXPECT_EQ(m.flags, cases[i].flags, "%s", cases[i].text);
        HIL_EXPECT_EQ(m.len, cases[i].len, "%s", cases[i].text);
        HIL_EXPECT(hil_can_format_frame(&m, text, sizeof text) > 0, "%s", cases[i].text);
        HIL_EXPECT_STREQ(text, cases[i].text);
    }
    /* separators and lower case, as candump accepts them */
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_can_parse_frame("1a0#de.ad.be.ef", &m));
    HIL_EXPECT_EQ(m.len, 4);
    HIL_EXPECT_EQ(buf[3], 0xef);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hil_msg_init(&m, buf, sizeof buf);
        HIL_EXPECT_NE(hil_can_parse_frame(bad[i], &m), HIL_OK, "'%s' must not parse", bad[i]);
        HIL_EXPECT(strstr(hil_last_error(), bad[i]), "the error names the text: %s", hil_last_error());
    }
    /* frames that are not CAN frames are not formatted */
    hil_msg_init(&m, buf, sizeof buf);
    m.remote_id = 0x800;
    m.len = 1;
    HIL_EXPECT_EQ(hil_can_format_frame(&m, text, sizeof text), 0);
    m.remote_id = 0x100;
    HIL_EXPECT_EQ(hil_can_format_frame(&m, text, 5), 0, "too small for 100#00");
    HIL_EXPECT_EQ(hil_can_format_frame(&m, text, 7), 6);
}

HIL_TEST(can_trace, error_frames_are_described) {
    unsigned char d[8] = {0};
    char text[300];
    hil_msg m;
    hil_msg_init(&m, d, sizeof d);
    m.len = 8;
    HIL_EXPECT_STREQ(hil_can_error_str(&m, text, sizeof text), "not an error frame");
    m.flags = HIL_MSG_ERROR;
    m.remote_id = HIL_CAN_ERR_BUSOFF;
    HIL_EXPECT_STREQ(hil_can_error_str(&m, text, sizeof text), "bus-off");
    m.remote_id = HIL_CAN_ERR_CRTL | HIL_CAN_ERR_CNT;
    d[1] = 0x08 | 0x20;
    d[6] = 130;
    d[7] = 7;
    HIL_EXPECT_STREQ(hil_can_error_str(&m, text, sizeof text),
                     "controller: tx warning, tx error-passive; error counters tx 130 rx 7");
    memset(d, 0, sizeof d);
    m.remote_id = HIL_CAN_ERR_PROT | HIL_CAN_ERR_BUSERROR;
    d[2] = 0x04 | 0x80;
    d[3] = 0x08;
    HIL_EXPECT_STREQ(hil_can_error_str(&m, text, sizeof text),
                     "protocol violation: bit stuffing error, error on transmission at CRC sequence; bus error");
    m.remote_id = HIL_CAN_ERR_LOSTARB | HIL_CAN_ERR_TRX | HIL_CAN_ERR_ACK | HIL_CAN_ERR_RESTARTED;
    memset(d, 0, sizeof d);
    d[0] = 11;
    d[4] = 0x70;
    HIL_EXPECT_STREQ(hil_can_error_str(&m, text, sizeof text),
                     "controller restarted; no ACK on transmission; arbitration lost in bit 11; "
                     "transceiver: CANL short to ground");
    m.remote_id = 0x4000;
    HIL_EXPECT_STREQ(hil_can_error_str(&m, text, sizeof text), "unknown error class bits 0x4000");
    m.remote_id = HIL_CAN_ERR_BUSOFF | HIL_CAN_ERR_CRTL;
    d[1] = 0x20;
    HIL_EXPECT_STREQ(hil_can_error_str(&m, text, 12), "bus-off; co", "truncated, still terminated");
}

/* ---- traces checked with can-utils and tshark -------------------------------------- */

typedef struct sample { uint32_t id, flags; size_t len; } sample;
static const sample SAMPLES[] = {
    {0x123, 0, 8}, {0x1ABCDE0, HIL_MSG_EXTENDED, 3}, {0x321, HIL_MSG_RTR, 0}, {0x322, HIL_MSG_RTR, 4},
    {0x456, HIL_MSG_FD | HIL_MSG_BRS, 64}, {0x12345, HIL_MSG_FD | HIL_MSG_EXTENDED | HIL_MSG_ESI, 12},
    {0x7FF, 0, 0}, {0x44, HIL_MSG_ERROR, 8}, {0x1FFFFFFF, HIL_MSG_EXTENDED, 8}, {0x0, HIL_MSG_FD, 0},
};
#define N_SAMPLES (sizeof SAMPLES / sizeof SAMPLES[0])
static const uint64_t T0 = 1700000000123456000ull;

static void sample_msg(size_t i, hil_msg* m, unsigned char* d) {
    size_t k;
    for (k = 0; k < 64; k++) d[k] = (unsigned char)(i * 16 + k * 3 + 1);
    hil_msg_init(m, d, 64);
    m->remote_id = SAMPLES[i].id;
    m->flags = SAMPLES[i].flags;
    m->len = SAMPLES[i].len;
    m->timestamp_ns = T0 + (uint64_t)i * 1500000u;
}

static void write_samples(const char* path, hil_can_trace_format fmt) {
    hil_can_trace* tr;
    unsigned char d[64];
    hil_msg m;
    size_t i;
    HIL_ASSERT_OK(hil_can_trace_open(path, fmt, &tr));
    for (i = 0; i < N_SAMPLES; i++) {
        sample_msg(i, &m, d);
        HIL_ASSERT_OK(hil_can_trace_write(tr, i % 2 ? "can1" : "vcan0", &m), "sample %zu", i);
    }
    HIL_EXPECT_EQ(hil_can_trace_count(tr), N_SAMPLES);
    HIL_ASSERT_OK(hil_can_trace_close(tr));
}

/* The frames of a candump log compared with the samples; details_of_errors
 * 0 when a converter keeps only "this was an error frame". */
static void expect_samples_in_log(const char* path, int check_time, int details_of_errors) {
    hil_can_log* lg;
    hil_can_log_entry e;
    unsigned char d[64];
    hil_msg m;
    size_t i = 0;
    hil_result r;
    HIL_ASSERT_OK(hil_can_log_open(path, &lg));
    while ((r = hil_can_log_next(lg, &e)) == HIL_OK) {
        HIL_ASSERT(i < N_SAMPLES, "more frames than written in %s", path);
        sample_msg(i, &m, d);
        HIL_EXPECT_EQ(e.msg.flags, m.flags, "frame %zu flags", i);
        if (!(m.flags & HIL_MSG_ERROR) || details_of_errors) {
            HIL_EXPECT_EQ(e.msg.remote_id, m.remote_id, "frame %zu id", i);
            HIL_EXPECT_EQ(e.msg.len, m.len, "frame %zu length", i);
            if (!(m.flags & HIL_MSG_RTR)) HIL_EXPECT_MEMEQ(e.msg.data, d, m.len, "frame %zu data", i);
        }
        if (check_time) {
            HIL_EXPECT_EQ(e.timestamp_ns, m.timestamp_ns / 1000 * 1000, "frame %zu time (microseconds)", i);
            HIL_EXPECT_STREQ(e.ifname, i % 2 ? "can1" : "vcan0");
        }
        i++;
    }
    HIL_ASSERT_EQ(r, HIL_ERR_CLOSED, "%s", hil_last_error());
    HIL_EXPECT_EQ(i, N_SAMPLES, "frames read back from %s", path);
    hil_can_log_close(lg);
}

HIL_TEST(can_trace, candump_log_reads_back_and_passes_through_log2asc_and_asc2log) {
    const char* log = st_path("t.log");
    const char* asc = st_path("t.asc");
    const char* back = st_path("back.log");
    char* text;
    st_result r;
    write_samples(log, HIL_CAN_TRACE_CANDUMP);
    text = st_read(log);
    HIL_EXPECT(strstr(text, "(1700000000.123456) vcan0 123#0104070A0D101316\n"), "%s", text);
    HIL_EXPECT(strstr(text, "(1700000000.124956) can1 01ABCDE0#11141"), "%s", text);
    HIL_EXPECT(strstr(text, " vcan0 321#R\n") && strstr(text, " can1 322#R4\n"), "%s", text);
    HIL_EXPECT(strstr(text, " vcan0 456##1") && strstr(text, " can1 00012345##2"), "%s", text);
    HIL_EXPECT(strstr(text, " can1 20000044#"), "%s", text);
    free(text);
    expect_samples_in_log(log, 1, 1);

    ST_SKIP_UNLESS_PROG("log2asc", "can-utils");
    {
        const char* argv[] = {"log2asc", "-I", log, "-O", asc, "vcan0", "can1", NULL};
        st_run(argv, NULL, 10000, &r);
        HIL_ASSERT_EQ(r.code, 0, "log2asc: %s", r.out);
        st_result_free(&r);
    }
    text = st_read(asc);
    HIL_EXPECT(strstr(text, "   0.000000 1  123             Rx   d 8 01 04 07 0A 0D 10 13 16"), "%s", text);
    HIL_EXPECT(strstr(text, "   0.001500 2  1ABCDE0x        Rx   d 3 11 14 17"), "%s", text);
    HIL_EXPECT(strstr(text, "1  321             Rx   r") && strstr(text, "2  322             Rx   r 4"), "%s", text);
    HIL_EXPECT(strstr(text, "CANFD   1 Rx        456") && strstr(text, "CANFD   2 Rx      12345x"), "%s", text);
    HIL_EXPECT(strstr(text, "2  ErrorFrame"), "%s", text);
    free(text);
    ST_SKIP_UNLESS_PROG("asc2log", "can-utils");
    {
        const char* argv[] = {"asc2log", "-I", asc, "-O", back, NULL};
        st_run(argv, NULL, 10000, &r);
        HIL_ASSERT_EQ(r.code, 0, "asc2log: %s", r.out);
        st_result_free(&r);
    }
    /* asc2log restarts the clock and keeps only "an error frame" of errors */
    expect_samples_in_log(back, 0, 0);
}

HIL_TEST(can_trace, candump_log_is_read_by_log2long) {
    const char* log = st_path("t.log");
    st_result r;
    write_samples(log, HIL_CAN_TRACE_CANDUMP);
    ST_SKIP_UNLESS_PROG("log2long", "can-utils");
    {
        char cmd[600];
        const char* argv[] = {"sh", "-c", cmd, NULL};
        snprintf(cmd, sizeof cmd, "log2long < '%s'", log);
        st_run(argv, NULL, 10000, &r);
    }
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "vcan0       123   [8]  01 04 07 0A 0D 10 13 16"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "can1       322   [4]  remote request"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "can1  20000044   [8]") && st_has(&r, "ERRORFRAME"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "vcan0       456  [64]  41 44 47"), "%s", r.out);
    st_result_free(&r);
}

/* tshark's fields for one frame, as the tests compare them. */
static void tshark_row(size_t i, char* out, size_t size) {
    unsigned char d[64];
    char data[200] = "";
    hil_msg m;
    size_t k, n = 0;
    sample_msg(i, &m, d);
    if (!(m.flags & HIL_MSG_RTR) || (m.flags & HIL_MSG_FD))
        for (k = 0; k < m.len; k++) n += (size_t)snprintf(data + n, sizeof data - n, "%02x", d[k]);
    if (m.flags & HIL_MSG_ERROR) { /* tshark decodes the data bytes into can.err.* fields */
        snprintf(out, size, "\t\t\t1\t8\t\t\t");
        return;
    }
    if (m.flags & HIL_MSG_FD)
        snprintf(out, size, "%u\t%d\t\t\t%zu\t%d\t%d\t%s", (unsigned)m.remote_id, (m.flags & HIL_MSG_EXTENDED) ? 1 : 0,
                 m.len, (m.flags & HIL_MSG_BRS) ? 1 : 0, (m.flags & HIL_MSG_ESI) ? 1 : 0, data);
    else
        snprintf(out, size, "%u\t%d\t%d\t0\t%zu\t\t\t%s", (unsigned)m.remote_id, (m.flags & HIL_MSG_EXTENDED) ? 1 : 0,
                 (m.flags & HIL_MSG_RTR) ? 1 : 0, m.len, (m.flags & HIL_MSG_RTR) ? (m.len ? "00000000" : "") : data);
}

HIL_TEST(can_trace, pcap_is_read_by_tshark) {
    const char* pcap = st_path("t.pcap");
    unsigned char* raw;
    char* text;
    size_t len, i;
    st_result r;
    write_samples(pcap, HIL_CAN_TRACE_PCAP);
    HIL_ASSERT_OK(hil_read_file(pcap, &text, &len));
    raw = (unsigned char*)text;
    HIL_ASSERT(len > 24 + 16 + 16);
    {
        uint32_t magic, link;
        memcpy(&magic, raw, 4);
        memcpy(&link, raw + 20, 4);
        HIL_EXPECT_EQ(magic, 0xa1b23c4du, "nanosecond pcap");
        HIL_EXPECT_EQ(link, 227, "LINKTYPE_CAN_SOCKETCAN");
    }
    /* the second record: 29-bit id 0x1ABCDE0 | EFF flag, big-endian */
    HIL_EXPECT(raw[24 + 16 + 16 + 16] == 0x81 && raw[24 + 48 + 1] == 0xAB && raw[24 + 48 + 3] == 0xE0,
               "id bytes %02x %02x %02x %02x", raw[72], raw[73], raw[74], raw[75]);
    free(text);
    ST_SKIP_UNLESS_PROG("tshark", "tshark");
    {
        const char* argv[] = {"tshark", "-r", pcap, "-T", "fields", "-e", "can.id", "-e", "can.flags.xtd",
                              "-e", "can.flags.rtr", "-e", "can.flags.err", "-e", "can.len", "-e", "canfd.flags.brs",
                              "-e", "canfd.flags.esi", "-e", "data.data", NULL};
        st_run(argv, NULL, 60000, &r);
    }
    HIL_ASSERT_EQ(r.code, 0, "tshark: %s", r.out);
    for (i = 0; i < N_SAMPLES; i++) {
        char row[400], line[420];
        tshark_row(i, row, sizeof row);
        snprintf(line, sizeof line, "%s\n", row);
        HIL_EXPECT(st_has(&r, line), "frame %zu: no line \"%s\" in:\n%s", i, row, r.out);
    }
    st_result_free(&r);
    {   /* the error frame decoded by tshark, too */
        const char* argv[] = {"tshark", "-r", pcap, "-Y", "can.flags.err == 1", "-T", "fields", "-e", "can.err.busoff",
                              "-e", "can.err.ctrl", NULL};
        st_run(argv, NULL, 60000, &r);
        HIL_EXPECT(st_has(&r, "1\t1\n") || st_has(&r, "True\tTrue\n"), "%s", r.out);
        st_result_free(&r);
    }
}

HIL_TEST(can_trace, log_reader_errors_name_file_and_line) {
    const char* path = st_path("bad.log");
    static const char text[] = "(1.000001) can0 123#00\n\n(2.5) can0 456#R\n(x) can0 1#\n";
    hil_can_log* lg;
    hil_can_log_entry e;
    HIL_ASSERT_OK(hil_write_file_atomic(path, text, sizeof text - 1));
    HIL_ASSERT_OK(hil_can_log_open(path, &lg));
    HIL_ASSERT_OK(hil_can_log_next(lg, &e));
    HIL_EXPECT_EQ(e.timestamp_ns, 1000001000u);
    HIL_ASSERT_OK(hil_can_log_next(lg, &e));
    HIL_EXPECT_EQ(e.timestamp_ns, 2500000000u);
    HIL_EXPECT_EQ(e.line, 3);
    HIL_EXPECT_EQ(hil_can_log_next(lg, &e), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "bad.log:4: bad timestamp"), "%s", hil_last_error());
    hil_can_log_close(lg);
    HIL_ASSERT_OK(hil_write_file_atomic(path, "(1.0) can0 12#00\n", 17));
    HIL_ASSERT_OK(hil_can_log_open(path, &lg));
    HIL_EXPECT_EQ(hil_can_log_next(lg, &e), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "bad.log:1: CAN frame '12#00'"), "%s", hil_last_error());
    hil_can_log_close(lg);
    HIL_EXPECT_EQ(hil_can_log_open(st_path("missing.log"), &lg), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "missing.log"), "%s", hil_last_error());
    {
        hil_can_trace* tr = NULL;
        HIL_EXPECT_EQ(hil_can_trace_open(st_path("no/such/dir/t.log"), HIL_CAN_TRACE_CANDUMP, &tr), HIL_ERR_IO);
        HIL_EXPECT(tr == NULL && strstr(hil_last_error(), "cannot create"), "%s", hil_last_error());
    }
}

HIL_TEST(can_trace, trace_formats_by_name_or_extension) {
    hil_can_trace_format f;
    HIL_ASSERT_OK(hil_can_trace_format_parse("auto", "x/run.pcap", &f));
    HIL_EXPECT_EQ(f, HIL_CAN_TRACE_PCAP);
    HIL_ASSERT_OK(hil_can_trace_format_parse(NULL, "x/run.log", &f));
    HIL_EXPECT_EQ(f, HIL_CAN_TRACE_CANDUMP);
    HIL_ASSERT_OK(hil_can_trace_format_parse("pcap", "x.log", &f));
    HIL_EXPECT_EQ(f, HIL_CAN_TRACE_PCAP);
    HIL_ASSERT_OK(hil_can_trace_format_parse("candump", NULL, &f));
    HIL_EXPECT_EQ(f, HIL_CAN_TRACE_CANDUMP);
    HIL_EXPECT_EQ(hil_can_trace_format_parse("blf", NULL, &f), HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "'blf'"), "%s", hil_last_error());
}

typedef struct writer_arg { hil_can_trace* tr; int id; } writer_arg;

static void* trace_writer(void* p) {
    writer_arg* a = (writer_arg*)p;
    unsigned char d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    hil_msg m;
    int i;
    hil_msg_init(&m, d, sizeof d);
    m.len = 8;
    for (i = 0; i < 500; i++) {
        m.remote_id = (uint32_t)(a->id * 0x100 + i % 0x100);
        if (hil_can_trace_write(a->tr, "can0", &m) != HIL_OK) break;
    }
    return NULL;
}

HIL_TEST(can_trace, several_threads_write_one_trace) {
    const char* path = st_path("mt.log");
    pthread_t th[4];
    writer_arg args[4];
    hil_can_trace* tr;
    hil_can_log* lg;
    hil_can_log_entry e;
    size_t n = 0;
    int i;
    HIL_ASSERT_OK(hil_can_trace_open(path, HIL_CAN_TRACE_CANDUMP, &tr));
    for (i = 0; i < 4; i++) {
        args[i].tr = tr;
        args[i].id = i + 1;
        HIL_ASSERT(pthread_create(&th[i], NULL, trace_writer, &args[i]) == 0);
    }
    for (i = 0; i < 4; i++) pthread_join(th[i], NULL);
    HIL_EXPECT_EQ(hil_can_trace_count(tr), 2000);
    HIL_ASSERT_OK(hil_can_trace_close(tr));
    HIL_ASSERT_OK(hil_can_log_open(path, &lg));
    while (hil_can_log_next(lg, &e) == HIL_OK) n++;
    hil_can_log_close(lg);
    HIL_EXPECT_EQ(n, 2000, "every line whole");
}

/* Replay into the in-process loopback channel: order, interface filter,
 * original timing (never early), as fast as possible, and stopping. */
HIL_TEST(can_trace, replay_into_a_channel) {
    const char* path = st_path("replay.log");
    const char* opts[] = {"capacity=64", NULL};
    hil_channel_config c;
    hil_can_replay_config rc;
    hil_channel* lb;
    hil_can_trace* tr;
    hil_waker stop;
    unsigned char d[64];
    hil_msg m;
    uint64_t t0;
    size_t sent = 0;
    int i;
    HIL_ASSERT_OK(hil_can_trace_open(path, HIL_CAN_TRACE_CANDUMP, &tr));
    for (i = 0; i < 8; i++) {
        hil_msg_init(&m, d, sizeof d);
        memset(d, i, 8);
        m.len = 8;
        m.remote_id = 0x100u + (uint32_t)i;
        m.timestamp_ns = T0 + (uint64_t)i * 10000000u;
        HIL_ASSERT_OK(hil_can_trace_write(tr, i == 3 ? "can1" : "can0", &m));
    }
    HIL_ASSERT_OK(hil_can_trace_close(tr));
    hil_channel_config_init(&c);
    c.name = "replay";
    c.type = "loopback";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &lb));
    HIL_ASSERT_OK(hil_channel_open(lb));
    hil_can_replay_config_init(&rc);
    rc.path = path;
    rc.channel = lb;
    rc.interface = "can0";
    t0 = hil_now_ns();
    HIL_ASSERT_OK(hil_can_replay(&rc, &sent));
    HIL_EXPECT_EQ(sent, 7);
    HIL_EXPECT_GE(hil_now_ns() - t0, 70000000u, "deadlines never fire early: the log spans 70 ms");
    for (i = 0; i < 8; i++) {
        if (i == 3) continue;
        hil_msg_init(&m, d, sizeof d);
        HIL_ASSERT_OK(hil_channel_recv(lb, &m, 0));
        HIL_EXPECT_EQ(m.remote_id, 0x100 + i);
        HIL_EXPECT_EQ(d[7], i);
    }
    rc.interface = NULL;
    rc.realtime = 0;
    HIL_ASSERT_OK(hil_can_replay(&rc, &sent));
    HIL_EXPECT_EQ(sent, 8);
    for (i = 0; i < 8; i++) {
        hil_msg_init(&m, d, sizeof d);
        HIL_ASSERT_OK(hil_channel_recv(lb, &m, 0));
        HIL_EXPECT_EQ(m.remote_id, 0x100 + i);
    }
    HIL_ASSERT_OK(hil_waker_init(&stop));
    hil_waker_wake(&stop);
    rc.stop = &stop;
    rc.realtime = 1;
    HIL_EXPECT_EQ(hil_can_replay(&rc, &sent), HIL_ERR_ABORTED);
    HIL_EXPECT_EQ(sent, 1, "the first frame goes at once, then the stop is seen");
    HIL_EXPECT(strstr(hil_last_error(), "stopped after 1 frames"), "%s", hil_last_error());
    hil_waker_destroy(&stop);
    rc.stop = NULL;
    rc.path = st_path("missing.log");
    HIL_EXPECT_EQ(hil_can_replay(&rc, &sent), HIL_ERR_NOT_FOUND);
    hil_channel_destroy(lb);
}
