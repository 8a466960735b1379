/* tcp and udp channels on 127.0.0.1: client and server against each other
 * and against plain sockets, peers coming and going, big frames, errors
 * with their hints. */
#include "selftest.h"
#include <pthread.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

HIL_SUITE(net_channel, "tags=connectors")

static hil_channel* make(const char* name, const char* type, const char* const* opts, int open) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = type;
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    if (open) HIL_ASSERT_OK(hil_channel_open(ch));
    return ch;
}

/* A port nobody listens on (bound, then released). */
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

static int plain_connect(int port) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    HIL_ASSERT_EQ(connect(fd, (struct sockaddr*)&a, sizeof a), 0, "connect: %s", strerror(errno));
    return fd;
}

static void recv_str(hil_channel* ch, const char* want) {
    char buf[256];
    hil_msg m;
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 5000), "waiting for '%s'", want);
    buf[m.len] = 0;
    HIL_ASSERT_STREQ(buf, want);
}

HIL_TEST(net_channel, tcp_client_and_server_talk_in_frames) {
    const char* sopts[] = {"mode=server", "port=0", "framing=cobs", NULL};
    hil_channel* srv = make("srv", "tcp", sopts, 1);
    hil_channel* cli;
    char popt[32];
    const char* copts[4];
    int port = hil_channel_local_port(srv);
    HIL_ASSERT_GT(port, 0, "an ephemeral port was picked");
    HIL_EXPECT_EQ(hil_tcp_connected(srv), 0);
    snprintf(popt, sizeof popt, "port=%d", port);
    copts[0] = "host=127.0.0.1";
    copts[1] = popt;
    copts[2] = "framing=cobs";
    copts[3] = NULL;
    cli = make("cli", "tcp", copts, 1);
    HIL_EXPECT(hil_tcp_connected(cli));
    {
        /* the server's poll_fd tells that a peer knocks */
        hil_channel* one[1];
        size_t idx = 9;
        one[0] = srv;
        HIL_ASSERT_OK(hil_channel_wait(one, 1, NULL, 2000, &idx));
    }
    HIL_ASSERT_OK(hil_channel_send_bytes(cli, "hello\0server", 12, 1000));
    {
        char buf[32];
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_channel_recv(srv, &m, 2000));
        HIL_ASSERT_EQ(m.len, 12);
        HIL_EXPECT_MEMEQ(buf, "hello\0server", 12);
    }
    HIL_EXPECT(hil_tcp_connected(srv));
    HIL_ASSERT_OK(hil_channel_send_bytes(srv, "hi client", 9, 1000));
    recv_str(cli, "hi client");
    HIL_EXPECT_GT(hil_channel_local_port(cli), 0);
    hil_channel_destroy(cli);
    hil_channel_destroy(srv);
}

HIL_TEST(net_channel, tcp_server_takes_a_new_peer_after_a_disconnect) {
    const char* sopts[] = {"mode=server", "framing=line", NULL};
    hil_channel* srv = make("srv", "tcp", sopts, 1);
    int port = hil_channel_local_port(srv);
    int fd = plain_connect(port);
    char buf[64];
    hil_msg m;
    HIL_ASSERT_OK(hil_write_all(fd, "one\ntw", 6));
    recv_str(srv, "one");
    close(fd); /* half a line, then gone */
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_channel_recv(srv, &m, 2000), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "closed the connection (the next receive waits for a new peer)"), "%s",
               hil_last_error());
    HIL_EXPECT_EQ(hil_channel_recv(srv, &m, 30), HIL_ERR_TIMEOUT, "no peer yet");
    HIL_EXPECT(strstr(hil_last_error(), "no peer connected to 127.0.0.1:"), "%s", hil_last_error());
    fd = plain_connect(port);
    HIL_ASSERT_OK(hil_write_all(fd, "three\n", 6));
    recv_str(srv, "three"); /* the old half line is gone */
    HIL_ASSERT_OK(hil_channel_send_bytes(srv, "ack", 3, 1000));
    {
        char rb[8];
        ssize_t n;
        HIL_ASSERT_OK(hil_wait_readable(fd, 2000));
        n = read(fd, rb, sizeof rb);
        HIL_EXPECT_EQ(n, 4);
        HIL_EXPECT_MEMEQ(rb, "ack\n", 4);
    }
    close(fd);
    hil_channel_destroy(srv);
}

typedef struct big_arg { hil_channel* ch; size_t n; hil_result r; size_t got; int ok; } big_arg;

static void* big_reader(void* p) {
    big_arg* a = (big_arg*)p;
    char* buf = (char*)malloc(a->n);
    hil_msg m;
    size_t i;
    hil_msg_init(&m, buf, a->n);
    a->r = hil_channel_recv(a->ch, &m, 10000);
    a->got = m.len;
    a->ok = 1;
    for (i = 0; i < m.len; i++)
        if (buf[i] != (char)(i * 7)) { a->ok = 0; break; }
    free(buf);
    return NULL;
}

HIL_TEST(net_channel, a_big_frame_crosses_in_many_writes_and_reads) {
    const char* sopts[] = {"mode=server", "framing=length", "length_bytes=4", "max_frame=4000000", NULL};
    hil_channel* srv = make("srv", "tcp", sopts, 1);
    hil_channel* cli;
    char popt[32];
    const char* copts[6];
    size_t n = 3000000, i;
    char* data = (char*)malloc(n);
    pthread_t t;
    big_arg a;
    snprintf(popt, sizeof popt, "port=%d", hil_channel_local_port(srv));
    copts[0] = "host=localhost";
    copts[1] = popt;
    copts[2] = "framing=length";
    copts[3] = "length_bytes=4";
    copts[4] = "max_frame=4000000";
    copts[5] = NULL;
    cli = make("cli", "tcp", copts, 1);
    for (i = 0; i < n; i++) data[i] = (char)(i * 7);
    a.ch = srv;
    a.n = n;
    a.r = HIL_ERROR;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, big_reader, &a), 0);
    HIL_EXPECT_OK(hil_channel_send_bytes(cli, data, n, 10000));
    pthread_join(t, NULL);
    HIL_EXPECT_OK(a.r);
    HIL_EXPECT_EQ(a.got, n);
    HIL_EXPECT(a.ok, "the bytes arrived unchanged");
    free(data);
    hil_channel_destroy(cli);
    hil_channel_destroy(srv);
}

HIL_TEST(net_channel, tcp_errors_name_the_host_and_the_fix) {
    char popt[32];
    const char* refused[] = {"host=127.0.0.1", popt, NULL};
    const char* nohost[] = {"host=no-such-host.invalid", "port=80", NULL};
    const char* noport[] = {"host=127.0.0.1", NULL};
    const char* mode[] = {"mode=both", NULL};
    hil_channel* ch;
    hil_channel_config c;
    snprintf(popt, sizeof popt, "port=%d", free_port());
    ch = make("dut", "tcp", refused, 0);
    HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "tcp 'dut': connect to 127.0.0.1:") &&
               strstr(hil_last_error(), "Connection refused: is the server running, and is the port right?"),
               "%s", hil_last_error());
    hil_channel_destroy(ch);
    ch = make("dut", "tcp", nohost, 0);
    HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "cannot resolve no-such-host.invalid port 80") &&
               strstr(hil_last_error(), "check the host name"), "%s", hil_last_error());
    hil_channel_destroy(ch);
    hil_channel_config_init(&c);
    c.name = "dut";
    c.type = "tcp";
    c.options = noport;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "no port: set connectors.dut.port"), "%s", hil_last_error());
    c.options = mode;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option mode: 'both' is not allowed; expected one of client|server"), "%s",
               hil_last_error());
    {
        /* a port in use */
        const char* sopts[] = {"mode=server", NULL};
        hil_channel* first = make("first", "tcp", sopts, 1);
        const char* again[3];
        snprintf(popt, sizeof popt, "port=%d", hil_channel_local_port(first));
        again[0] = "mode=server";
        again[1] = popt;
        again[2] = NULL;
        ch = make("second", "tcp", again, 0);
        HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_BUSY);
        HIL_EXPECT(strstr(hil_last_error(), "Address already in use: the port is in use; choose another, or 0 for a free "
                                            "one"), "%s", hil_last_error());
        hil_channel_destroy(ch);
        hil_channel_destroy(first);
    }
}

typedef struct wake_arg { hil_channel* ch; hil_result r; } wake_arg;
static void* wait_recv(void* p) {
    wake_arg* a = (wake_arg*)p;
    char buf[8];
    hil_msg m;
    hil_msg_init(&m, buf, sizeof buf);
    a->r = hil_channel_recv(a->ch, &m, 10000);
    return NULL;
}

HIL_TEST(net_channel, close_wakes_a_server_waiting_for_a_peer_and_a_udp_reader) {
    const char* sopts[] = {"mode=server", NULL};
    const char* uopts[] = {"local_port=0", NULL};
    hil_channel* chs[2];
    int i;
    chs[0] = make("srv", "tcp", sopts, 1);
    chs[1] = make("u", "udp", uopts, 1);
    for (i = 0; i < 2; i++) {
        pthread_t t;
        wake_arg a;
        struct timespec ts = {0, 30000000};
        uint64_t t0;
        a.ch = chs[i];
        a.r = HIL_OK;
        HIL_ASSERT_EQ(pthread_create(&t, NULL, wait_recv, &a), 0);
        nanosleep(&ts, NULL); /* let it block first (closing earlier gives the same result) */
        t0 = hil_now_ns();
        hil_channel_close(chs[i]);
        pthread_join(t, NULL);
        HIL_EXPECT_EQ(a.r, HIL_ERR_CLOSED, "%s", hil_channel_name(chs[i]));
        HIL_EXPECT_LT(hil_now_ns() - t0, 3000000000ull);
        hil_channel_destroy(chs[i]);
    }
}

HIL_TEST(net_channel, udp_datagrams_both_ways) {
    const char* aopts[] = {NULL};
    hil_channel* a = make("a", "udp", aopts, 1);
    hil_channel* b;
    char popt[32];
    const char* bopts[3];
    char buf[64];
    hil_msg m;
    int aport = hil_channel_local_port(a);
    HIL_ASSERT_GT(aport, 0);
    HIL_EXPECT_EQ(hil_channel_send_bytes(a, "x", 1, 100), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "nowhere to send: set host and port, or receive a datagram first"), "%s",
               hil_last_error());
    snprintf(popt, sizeof popt, "port=%d", aport);
    bopts[0] = "host=127.0.0.1";
    bopts[1] = popt;
    bopts[2] = NULL;
    b = make("b", "udp", bopts, 1);
    HIL_ASSERT_OK(hil_channel_send_bytes(b, "datagram one", 12, 1000));
    HIL_ASSERT_OK(hil_channel_send_bytes(b, "", 0, 1000));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_channel_recv(a, &m, 2000));
    HIL_EXPECT_EQ(m.len, 12);
    HIL_EXPECT_MEMEQ(buf, "datagram one", 12);
    HIL_EXPECT_EQ(m.remote_id, (uint32_t)hil_channel_local_port(b), "remote_id is the sender's port");
    HIL_ASSERT_OK(hil_channel_recv(a, &m, 2000));
    HIL_EXPECT_EQ(m.len, 0, "an empty datagram is a message");
    HIL_ASSERT_OK(hil_channel_send_bytes(a, "answer", 6, 1000)); /* to the last sender */
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_channel_recv(b, &m, 2000));
    HIL_EXPECT_MEMEQ(buf, "answer", 6);
    HIL_EXPECT_EQ(m.remote_id, (uint32_t)aport);
    /* too long for the buffer: cut and flagged */
    HIL_ASSERT_OK(hil_channel_send_bytes(b, "0123456789", 10, 1000));
    hil_msg_init(&m, buf, 4);
    HIL_ASSERT_OK(hil_channel_recv(a, &m, 2000));
    HIL_EXPECT_EQ(m.len, 4);
    HIL_EXPECT(m.flags & HIL_MSG_TRUNCATED);
    HIL_EXPECT_EQ(hil_channel_recv(a, &m, 0), HIL_ERR_AGAIN);
    hil_channel_destroy(b);
    hil_channel_destroy(a);
}

HIL_TEST(net_channel, udp_rejects_framing_and_half_a_remote) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    const char* framing[] = {"framing=cobs", NULL};
    const char* half[] = {"host=127.0.0.1", NULL};
    hil_channel_config_init(&c);
    c.name = "u";
    c.type = "udp";
    c.options = framing;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "framing options apply to byte-stream types only"), "%s", hil_last_error());
    c.options = half;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "set both host and port"), "%s", hil_last_error());
}
