/* The pty channel with real peers on the slave side: the simulator
 * (build/meta/sim_device --tty) and the test itself; termios settings seen
 * by the peer, binary data passed unchanged, the symlink. */
#include "selftest.h"
#include <fcntl.h>
#include <termios.h>

HIL_SUITE(pty_channel, "tags=connectors")

static hil_channel* open_pty(const char* name, const char* const* opts) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "pty";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    return ch;
}

static void ask(hil_channel* ch, const char* cmd, const char* want) {
    char buf[256];
    hil_msg m;
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, cmd, strlen(cmd), 2000), "sending '%s'", cmd);
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 5000), "answer to '%s'", cmd);
    buf[m.len] = 0;
    HIL_ASSERT_STREQ(buf, want, "answer to '%s'", cmd);
}

static speed_t slave_speed(const char* path) {
    struct termios t;
    int fd = open(path, O_RDWR | O_NOCTTY);
    speed_t sp;
    HIL_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
    HIL_ASSERT_EQ(tcgetattr(fd, &t), 0);
    sp = cfgetospeed(&t);
    close(fd);
    return sp;
}

HIL_TEST(pty_channel, a_simulator_on_the_slave_side) {
    const char* opts[] = {"framing=line", "baudrate=57600", NULL};
    hil_channel* ch = open_pty("uart", opts);
    const char* path = hil_pty_path(ch);
    const char* argv[4];
    hil_proc_config pc;
    hil_proc sim;
    hil_serial_settings st;
    HIL_ASSERT(path != NULL && strncmp(path, "/dev/pts/", 9) == 0, "%s", path ? path : "(null)");
    HIL_EXPECT_EQ(slave_speed(path), B57600, "the peer sees the configured speed");
    argv[0] = st_meta("sim_device");
    argv[1] = "--tty";
    argv[2] = path;
    argv[3] = NULL;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.new_process_group = 1;
    pc.die_with_parent = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&sim, &pc));
    ask(ch, "ping", "pong");
    ask(ch, "baud?", "baud 57600");
    HIL_ASSERT_OK(hil_serial_set_baudrate(ch, 9600));
    ask(ch, "baud?", "baud 9600");
    HIL_ASSERT_OK(hil_serial_get_settings(ch, &st));
    HIL_EXPECT_EQ(st.baudrate, 9600);
    HIL_EXPECT_EQ(st.data_bits, 8);
    HIL_EXPECT_EQ(st.parity, HIL_PARITY_NONE);
    HIL_EXPECT_EQ(st.stop_bits, 1);
    st.stop_bits = 2;
    st.flow_control = HIL_FLOW_RTSCTS;
    HIL_ASSERT_OK(hil_serial_apply(ch, &st));
    HIL_ASSERT_OK(hil_serial_get_settings(ch, &st));
    HIL_EXPECT_EQ(st.stop_bits, 2);
    HIL_EXPECT_EQ(st.flow_control, HIL_FLOW_RTSCTS);
    st.parity = HIL_PARITY_EVEN;
    HIL_EXPECT_EQ(hil_serial_apply(ch, &st), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "a pty always has 8 data bits and no parity"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_serial_set_rts(ch, 1), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "pty 'uart': a pty has no RTS line"), "%s", hil_last_error());
    hil_proc_terminate(&sim, 500);
    hil_proc_close(&sim);
    hil_channel_destroy(ch);
}

HIL_TEST(pty_channel, binary_data_passes_unchanged_both_ways) {
    const char* opts[] = {"max_frame=4096", NULL};
    hil_channel* ch = open_pty("bin", opts);
    int fd = open(hil_pty_path(ch), O_RDWR | O_NOCTTY);
    unsigned char all[256], got[512];
    size_t have = 0;
    int i;
    hil_msg m;
    HIL_ASSERT(fd >= 0);
    for (i = 0; i < 256; i++) all[i] = (unsigned char)i;
    /* peer -> channel: the raw stream arrives in pieces */
    HIL_ASSERT_OK(hil_write_all(fd, all, sizeof all));
    while (have < sizeof all) {
        hil_msg_init(&m, got + have, sizeof got - have);
        HIL_ASSERT_OK(hil_channel_recv(ch, &m, 2000), "after %zu bytes", have);
        have += m.len;
    }
    HIL_ASSERT_EQ(have, 256);
    HIL_EXPECT_MEMEQ(got, all, 256, "no CR/LF translation, no echo");
    /* channel -> peer */
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, all, sizeof all, 2000));
    have = 0;
    while (have < sizeof all) {
        ssize_t n;
        HIL_ASSERT_OK(hil_wait_readable(fd, 2000));
        n = read(fd, got + have, sizeof got - have);
        HIL_ASSERT(n > 0);
        have += (size_t)n;
    }
    HIL_EXPECT_MEMEQ(got, all, 256);
    {
        /* nothing echoed back to the channel */
        hil_msg_init(&m, got, sizeof got);
        HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 50), HIL_ERR_TIMEOUT);
    }
    close(fd);
    hil_channel_destroy(ch);
}

HIL_TEST(pty_channel, cobs_frames_in_random_pieces_from_the_peer) {
    const char* opts[] = {"framing=cobs", NULL};
    hil_channel* ch = open_pty("frames", opts);
    int fd = open(hil_pty_path(ch), O_RDWR | O_NOCTTY);
    hil_framing f;
    hil_strbuf wire = {0, 0, 0, 0};
    unsigned char msg[200];
    int i, k;
    unsigned seed = 7;
    HIL_ASSERT(fd >= 0);
    hil_framing_init(&f, HIL_FRAMING_COBS);
    for (k = 0; k < 20; k++) {
        size_t pos = 0;
        char buf[256];
        hil_msg m;
        hil_sb_clear(&wire);
        for (i = 0; i < (int)sizeof msg; i++) msg[i] = (unsigned char)(i * k);
        HIL_ASSERT_OK(hil_frame_encode(&f, msg, 10 + (size_t)k * 9, &wire));
        while (pos < wire.len) { /* pieces of 1..7 bytes, with recv(0) in between */
            size_t piece = 1 + (seed = seed * 1103515245u + 12345u) % 7;
            if (piece > wire.len - pos) piece = wire.len - pos;
            HIL_ASSERT_OK(hil_write_all(fd, wire.data + pos, piece));
            pos += piece;
            if (pos < wire.len) {
                hil_msg_init(&m, buf, sizeof buf);
                HIL_ASSERT_NE(hil_channel_recv(ch, &m, 0), HIL_OK, "no frame before its end");
            }
        }
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_channel_recv(ch, &m, 2000));
        HIL_ASSERT_EQ(m.len, 10 + (size_t)k * 9);
        HIL_EXPECT_MEMEQ(buf, msg, m.len);
    }
    hil_sb_free(&wire);
    close(fd);
    hil_channel_destroy(ch);
}

HIL_TEST(pty_channel, link_names_the_slave_and_goes_away_at_close) {
    char opt[600];
    const char* opts[2];
    char target[128];
    ssize_t n;
    hil_channel* ch;
    snprintf(opt, sizeof opt, "link=%s", st_path("ttyDUT"));
    opts[0] = opt;
    opts[1] = NULL;
    ch = open_pty("linked", opts);
    n = readlink(st_path("ttyDUT"), target, sizeof target - 1);
    HIL_ASSERT(n > 0, "readlink: %s", strerror(errno));
    target[n] = 0;
    HIL_EXPECT_STREQ(target, hil_pty_path(ch));
    hil_channel_close(ch);
    HIL_EXPECT(access(st_path("ttyDUT"), F_OK) != 0, "the link is removed");
    HIL_EXPECT(hil_pty_path(ch) == NULL);
    hil_channel_destroy(ch);
}

HIL_TEST(pty_channel, bad_settings_are_rejected_with_the_choices) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    const char* parity[] = {"parity=sometimes", NULL};
    const char* baud[] = {"baudrate=12345", NULL};
    const char* flow[] = {"flow_control=dtrdsr", NULL};
    const char* bits[] = {"data_bits=7", NULL};
    hil_channel_config_init(&c);
    c.name = "tty";
    c.type = "pty";
    c.options = parity;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "pty 'tty': option parity: 'sometimes' is not allowed; expected one of "
                                        "none|odd|even|mark|space"), "%s", hil_last_error());
    c.options = baud;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "12345 is not a standard rate"), "%s", hil_last_error());
    c.options = flow;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "dtrdsr is not possible on a pty"), "%s", hil_last_error());
    c.options = bits;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "a pty always has 8 data bits and no parity"), "%s", hil_last_error());
}
