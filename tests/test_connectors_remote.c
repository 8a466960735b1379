/* Remote serial against a real ser2net (Debian package ser2net 4.x)
 * serving a pty: RFC 2217 (settings reach the pty's termios, 0xFF escaped
 * both ways, control lines) and raw TCP. ser2net runs in the foreground
 * from a generated YAML file on a free port, and is stopped at the end. */
#include "selftest.h"
#include <fcntl.h>
#include <termios.h>
#include <sys/inotify.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

HIL_SUITE(remote_serial, "tags=connectors")

typedef struct ser2net { hil_proc proc; int port, raw_port, busy_port; char out[4096]; } ser2net;

static int free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    HIL_ASSERT_EQ(bind(fd, (struct sockaddr*)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr*)&a, &len);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* What ser2net printed so far (for failure messages). */
static const char* s2n_output(ser2net* s) {
    size_t have = strlen(s->out);
    for (;;) {
        ssize_t n;
        if (s->proc.stdout_fd < 0 || have + 1 >= sizeof s->out) break;
        n = read(s->proc.stdout_fd, s->out + have, sizeof s->out - 1 - have);
        if (n <= 0) break;
        have += (size_t)n;
    }
    s->out[have] = 0;
    return s->out;
}

/* ser2net with an RFC 2217 port and a raw port on one serial device. It
 * writes its pid file once its ports listen: an inotify watch on the
 * directory tells us, no polling. */
static void s2n_start(ser2net* s, const char* device) {
    char yaml[2048], pidfile[600], cfgfile[600];
    const char* argv[10];
    hil_proc_config pc;
    int ifd, wd;
    uint64_t deadline = hil_deadline_ms(10000);
    const char* prog = NULL;
    memset(s, 0, sizeof *s);
    /* sbin is not on every user's PATH */
    if (st_have("ser2net")) prog = "ser2net";
    else if (access("/usr/sbin/ser2net", X_OK) == 0) prog = "/usr/sbin/ser2net";
    else if (access("/usr/local/sbin/ser2net", X_OK) == 0) prog = "/usr/local/sbin/ser2net";
    if (!prog) HIL_SKIP("ser2net not installed (apt-get install ser2net)");
    s->port = free_port();
    s->raw_port = free_port();
    s->busy_port = free_port();
    snprintf(yaml, sizeof yaml,
             "connection: &hil_rfc2217\n"
             "  accepter: telnet(rfc2217),tcp,127.0.0.1,%d\n"
             "  connector: serialdev,%s,9600n81,local\n"
             "  options:\n"
             "    max-connections: 2\n" /* a connection just closed may still be closing there */
             "connection: &hil_raw\n"
             "  accepter: tcp,127.0.0.1,%d\n"
             "  connector: serialdev,%s,115200n81,local\n"
             "connection: &hil_one\n"
             "  accepter: telnet(rfc2217),tcp,127.0.0.1,%d\n"
             "  connector: serialdev,%s,9600n81,local\n",
             s->port, device, s->raw_port, device, s->busy_port, device);
    snprintf(cfgfile, sizeof cfgfile, "%s", st_path("ser2net.yaml"));
    snprintf(pidfile, sizeof pidfile, "%s", st_path("ser2net.pid"));
    unlink(pidfile);
    HIL_ASSERT_OK(hil_write_file_atomic(cfgfile, yaml, strlen(yaml)));
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    HIL_ASSERT(ifd >= 0, "inotify_init1: %s", strerror(errno));
    wd = inotify_add_watch(ifd, st_tmpdir(), IN_CLOSE_WRITE | IN_MOVED_TO);
    HIL_ASSERT(wd >= 0, "inotify_add_watch: %s", strerror(errno));
    /* -n: foreground, -d: debug to stdout, -u: no UUCP lock files, -P: the pid file */
    argv[0] = prog;
    argv[1] = "-n";
    argv[2] = "-d";
    argv[3] = "-u";
    argv[4] = "-P";
    argv[5] = pidfile;
    argv[6] = "-c";
    argv[7] = cfgfile;
    argv[8] = NULL;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    pc.new_process_group = 1;
    pc.die_with_parent = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&s->proc, &pc));
    hil_set_nonblocking(s->proc.stdout_fd, 1);
    for (;;) {
        char ev[4096];
        ssize_t n;
        int ready = 0;
        struct pollfd pf[2];
        pf[0].fd = ifd;
        pf[0].events = POLLIN;
        pf[1].fd = s->proc.pidfd;
        pf[1].events = POLLIN;
        if (poll(pf, s->proc.pidfd >= 0 ? 2 : 1, hil_deadline_left_ms(deadline)) <= 0) {
            close(ifd);
            HIL_FAIL("ser2net did not start within 10 s: %s", s2n_output(s));
        }
        if (s->proc.pidfd >= 0 && pf[1].revents) {
            close(ifd);
            HIL_FAIL("ser2net exited at start: %s", s2n_output(s));
        }
        while ((n = read(ifd, ev, sizeof ev)) > 0) {
            char* p = ev;
            while (p < ev + n) {
                struct inotify_event* e = (struct inotify_event*)(void*)p;
                if (e->len && strcmp(e->name, "ser2net.pid") == 0) ready = 1;
                p += sizeof *e + e->len;
            }
        }
        if (ready) break;
    }
    close(ifd);
}

static void s2n_stop(ser2net* s) {
    if (s->proc.pid <= 0) return;
    hil_proc_terminate(&s->proc, 2000);
    hil_proc_close(&s->proc);
    s->proc.pid = -1;
}

static hil_channel* make(const char* name, const char* type, const char* const* opts) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = type;
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    return ch;
}

/* The slave's termios speed, read the way a program on it would. */
static speed_t slave_speed(hil_channel* pty) {
    struct termios t;
    const char* path = hil_pty_path(pty);
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
    speed_t sp;
    HIL_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
    HIL_ASSERT_EQ(tcgetattr(fd, &t), 0);
    sp = cfgetospeed(&t);
    close(fd);
    return sp;
}

static void expect_frame(hil_channel* ch, const void* want, size_t n) {
    char buf[600];
    hil_msg m;
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 5000), "waiting on %s", hil_channel_name(ch));
    HIL_ASSERT_EQ(m.len, n, "on %s", hil_channel_name(ch));
    HIL_EXPECT_MEMEQ(buf, want, n, "on %s", hil_channel_name(ch));
}

HIL_TEST_META(remote_serial, rfc2217_sets_the_line_of_the_pty_behind_ser2net, "timeout=60") {
    const char* popts[] = {"framing=cobs", "baudrate=9600", NULL};
    hil_channel* pty = make("device", "pty", popts);
    hil_channel* rs;
    ser2net s2n;
    char portopt[32];
    const char* ropts[5];
    hil_serial_settings st;
    unsigned char all[256];
    int i;
    HIL_ASSERT_OK(hil_channel_open(pty));
    s2n_start(&s2n, hil_pty_path(pty));
    snprintf(portopt, sizeof portopt, "port=%d", s2n.port);
    ropts[0] = "host=127.0.0.1";
    ropts[1] = portopt;
    ropts[2] = "framing=cobs";
    ropts[3] = "baudrate=57600";
    ropts[4] = NULL;
    rs = make("remote", "rfc2217", ropts);
    if (hil_channel_open(rs) != HIL_OK) HIL_FAIL("%s; ser2net said: %s", hil_last_error(), s2n_output(&s2n));
    /* the baud rate asked for over the network is the pty's now */
    HIL_EXPECT_EQ(slave_speed(pty), B57600, "ser2net set 57600 baud on %s", hil_pty_path(pty));
    HIL_ASSERT_OK(hil_serial_get_settings(pty, &st));
    HIL_EXPECT_EQ(st.baudrate, 57600);
    HIL_ASSERT_OK(hil_serial_get_settings(rs, &st));
    HIL_EXPECT_EQ(st.baudrate, 57600, "as the server answered");
    HIL_EXPECT_EQ(st.data_bits, 8);
    HIL_EXPECT_EQ(st.parity, HIL_PARITY_NONE);
    HIL_EXPECT_EQ(st.stop_bits, 1);

    /* every byte value, 0xFF too (IAC, escaped on the wire), both ways */
    for (i = 0; i < 256; i++) all[i] = (unsigned char)(255 - i);
    HIL_ASSERT_OK(hil_channel_send_bytes(rs, all, sizeof all, 5000));
    expect_frame(pty, all, sizeof all);
    HIL_ASSERT_OK(hil_channel_send_bytes(pty, all, sizeof all, 5000));
    expect_frame(rs, all, sizeof all);
    HIL_ASSERT_OK(hil_channel_send_bytes(pty, "\xff\xff\xff", 3, 5000));
    expect_frame(rs, "\xff\xff\xff", 3);

    /* changes while open reach the pty before the call returns */
    HIL_ASSERT_OK(hil_serial_set_baudrate(rs, 115200));
    HIL_EXPECT_EQ(slave_speed(pty), B115200);
    HIL_ASSERT_OK(hil_serial_get_settings(rs, &st));
    st.baudrate = 19200;
    st.stop_bits = 2;
    HIL_ASSERT_OK(hil_serial_apply(rs, &st));
    HIL_EXPECT_EQ(slave_speed(pty), B19200);
    HIL_ASSERT_OK(hil_serial_get_settings(pty, &st));
    HIL_EXPECT_EQ(st.stop_bits, 2, "stop bits through RFC 2217");
    HIL_EXPECT_OK(hil_serial_flush(rs, HIL_FLUSH_INPUT | HIL_FLUSH_OUTPUT));
    HIL_EXPECT_OK(hil_serial_send_break(rs, 10));

    /* data that arrives while a setting waits for its answer (and nobody
     * receives) is kept, and poll_fd / hil_channel_wait say it is there */
    HIL_ASSERT_OK(hil_channel_send_bytes(pty, "early", 5, 5000));
    HIL_ASSERT_OK(hil_wait_readable(hil_channel_poll_fd(rs), 5000));
    HIL_ASSERT_OK(hil_serial_set_baudrate(rs, 57600));
    {
        hil_channel* one[1];
        size_t idx = 9;
        one[0] = rs;
        HIL_ASSERT_OK(hil_channel_wait(one, 1, NULL, 0, &idx), "the kept data shows");
        HIL_EXPECT_EQ(idx, 0);
    }
    expect_frame(rs, "early", 5);

    /* still talking after all that */
    HIL_ASSERT_OK(hil_channel_send_bytes(rs, "after", 5, 5000));
    expect_frame(pty, "after", 5);
    HIL_EXPECT_GT(hil_channel_local_port(rs), 0);
    {
        hil_channel_stats cs;
        hil_channel_get_stats(rs, &cs);
        HIL_EXPECT_EQ(cs.frame_errors, 0);
        HIL_EXPECT_EQ(cs.rx_msgs, 3);
    }
    hil_channel_destroy(rs);

    /* ser2net says nothing when it cannot set a line a pty does not have:
     * the call gives up after connect_timeout_ms, and the channel goes on */
    ropts[3] = "connect_timeout_ms=300";
    rs = make("remote", "rfc2217", ropts);
    HIL_ASSERT_OK(hil_channel_open(rs));
    HIL_EXPECT_EQ(hil_serial_set_rts(rs, 1), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "did not answer SET-CONTROL within 300 ms"), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_channel_send_bytes(rs, "still", 5, 5000));
    expect_frame(pty, "still", 5);
    hil_channel_destroy(rs);
    s2n_stop(&s2n);
    hil_channel_destroy(pty);
}

typedef struct setter_arg { hil_channel* ch; hil_result r; } setter_arg;
static void* set_baud_thread(void* p) {
    setter_arg* a = (setter_arg*)p;
    a->r = hil_serial_set_baudrate(a->ch, 38400);
    return NULL;
}

HIL_TEST_META(remote_serial, a_setting_changes_while_another_thread_receives, "timeout=60") {
    const char* popts[] = {"framing=line", NULL};
    hil_channel* pty = make("device", "pty", popts);
    hil_channel* rs;
    ser2net s2n;
    char portopt[32];
    const char* ropts[4];
    pthread_t t;
    setter_arg a;
    char buf[64];
    hil_msg m;
    HIL_ASSERT_OK(hil_channel_open(pty));
    s2n_start(&s2n, hil_pty_path(pty));
    snprintf(portopt, sizeof portopt, "port=%d", s2n.port);
    ropts[0] = "host=localhost";
    ropts[1] = portopt;
    ropts[2] = "framing=line";
    ropts[3] = NULL;
    rs = make("remote", "ser2net", ropts); /* protocol rfc2217 by default */
    if (hil_channel_open(rs) != HIL_OK) HIL_FAIL("%s; ser2net said: %s", hil_last_error(), s2n_output(&s2n));
    {
        hil_serial_settings st;
        HIL_ASSERT_OK(hil_serial_get_settings(rs, &st));
        HIL_EXPECT_EQ(st.baudrate, 9600, "not set by us: what ser2net's config says");
    }
    /* this thread waits in receive (the auxiliary's reader); another one
     * changes the baud rate: the reader passes it the server's answer */
    a.ch = rs;
    a.r = HIL_ERROR;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, set_baud_thread, &a), 0);
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_EXPECT_EQ(hil_channel_recv(rs, &m, 300), HIL_ERR_TIMEOUT);
    pthread_join(t, NULL);
    HIL_EXPECT_OK(a.r);
    HIL_EXPECT_EQ(slave_speed(pty), B38400);
    HIL_ASSERT_OK(hil_channel_send_bytes(pty, "hello", 5, 2000));
    HIL_ASSERT_OK(hil_channel_recv(rs, &m, 5000));
    buf[m.len] = 0;
    HIL_EXPECT_STREQ(buf, "hello");
    hil_channel_destroy(rs);
    s2n_stop(&s2n);
    hil_channel_destroy(pty);
}

HIL_TEST_META(remote_serial, raw_tcp_through_ser2net, "timeout=60") {
    const char* popts[] = {"framing=line", NULL};
    hil_channel* pty = make("device", "pty", popts);
    hil_channel* rs;
    ser2net s2n;
    char portopt[32];
    const char* ropts[5];
    char buf[64];
    hil_msg m;
    HIL_ASSERT_OK(hil_channel_open(pty));
    s2n_start(&s2n, hil_pty_path(pty));
    snprintf(portopt, sizeof portopt, "port=%d", s2n.raw_port);
    ropts[0] = "host=127.0.0.1";
    ropts[1] = portopt;
    ropts[2] = "protocol=raw";
    ropts[3] = "framing=line";
    ropts[4] = NULL;
    rs = make("remote", "ser2net", ropts);
    if (hil_channel_open(rs) != HIL_OK) HIL_FAIL("%s; ser2net said: %s", hil_last_error(), s2n_output(&s2n));
    HIL_ASSERT_OK(hil_channel_send_bytes(rs, "ping", 4, 2000));
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_ASSERT_OK(hil_channel_recv(pty, &m, 5000));
    buf[m.len] = 0;
    HIL_EXPECT_STREQ(buf, "ping");
    HIL_ASSERT_OK(hil_channel_send_bytes(pty, "pong \xff", 6, 2000));
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_ASSERT_OK(hil_channel_recv(rs, &m, 5000));
    HIL_EXPECT_EQ(m.len, 6);
    HIL_EXPECT_MEMEQ(buf, "pong \xff", 6, "raw TCP: 0xFF is just a byte");
    HIL_EXPECT_EQ(slave_speed(pty), B115200, "the line as ser2net's config sets it");
    HIL_EXPECT_EQ(hil_serial_set_baudrate(rs, 9600), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "raw TCP carries no serial settings: set the line in ser2net's config, or use "
                                        "protocol=rfc2217"), "%s", hil_last_error());
    hil_channel_destroy(rs);

    /* RFC 2217 asked of the raw port: no negotiation comes back */
    ropts[2] = "connect_timeout_ms=300";
    rs = make("confused", "rfc2217", ropts);
    HIL_EXPECT_EQ(hil_channel_open(rs), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "did not answer the RFC 2217 negotiation within 300 ms") &&
               strstr(hil_last_error(), "is it an RFC 2217 server (ser2net: accepter: telnet(rfc2217),tcp,") &&
               strstr(hil_last_error(), "use type ser2net with protocol=raw"), "%s", hil_last_error());
    hil_channel_destroy(rs);
    s2n_stop(&s2n);
    hil_channel_destroy(pty);
}

HIL_TEST_META(remote_serial, a_port_in_use_says_so, "timeout=60") {
    hil_channel* pty = make("device", "pty", NULL);
    hil_channel* first;
    hil_channel* second;
    ser2net s2n;
    char portopt[32];
    const char* ropts[3];
    HIL_ASSERT_OK(hil_channel_open(pty));
    s2n_start(&s2n, hil_pty_path(pty));
    snprintf(portopt, sizeof portopt, "port=%d", s2n.busy_port);
    ropts[0] = "host=127.0.0.1";
    ropts[1] = portopt;
    ropts[2] = NULL;
    first = make("first", "rfc2217", ropts);
    second = make("second", "rfc2217", ropts);
    if (hil_channel_open(first) != HIL_OK) HIL_FAIL("%s; ser2net said: %s", hil_last_error(), s2n_output(&s2n));
    HIL_EXPECT_NE(hil_channel_open(second), HIL_OK);
    HIL_EXPECT(strstr(hil_last_error(), "rfc2217 'second': ") &&
               strstr(hil_last_error(), "the server said: 'Port already in use' (another client is connected, or the "
                                        "last one is still closing)"), "%s", hil_last_error());
    hil_channel_destroy(second);
    hil_channel_destroy(first);
    s2n_stop(&s2n);
    hil_channel_destroy(pty);
}

HIL_TEST(remote_serial, configuration_and_connection_errors) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char portopt[32];
    const char* raw_with_baud[] = {"host=127.0.0.1", "port=2000", "protocol=raw", "baudrate=9600", NULL};
    const char* nohost[] = {"port=2000", NULL};
    const char* refused[] = {"host=127.0.0.1", portopt, NULL};
    hil_channel_config_init(&c);
    c.name = "lab";
    c.type = "ser2net";
    c.options = raw_with_baud;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "ser2net 'lab': protocol=raw carries no serial settings"), "%s", hil_last_error());
    c.type = "rfc2217";
    c.options = nohost;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "set connectors.lab.host and port"), "%s", hil_last_error());
    snprintf(portopt, sizeof portopt, "port=%d", free_port());
    c.options = refused;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "rfc2217 'lab': connect to 127.0.0.1:") &&
               strstr(hil_last_error(), "is the server running, and is the port right?"), "%s", hil_last_error());
    hil_channel_destroy(ch);
}
