/* The proxy auxiliary (one channel shared through proxy channels), the
 * record auxiliary, and auxiliaries created from configuration (a proxy is
 * inserted when two name the same connector). The shared channel's far end
 * is a thread on a kernel socketpair. */
#include "selftest.h"
#include "aux_testlib.h"

HIL_SUITE(aux_proxy, "tags=aux")

static hil_aux* px_make(int fd, const char* const* opts) {
    hil_aux_config c;
    hil_aux* a = hil_aux_get("px");
    if (a) hil_aux_destroy(a);
    a = NULL;
    hil_aux_config_init(&c);
    c.name = "px";
    c.type = "proxy";
    c.com = st_fdchan_make("bus", fd);
    c.options = opts;
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    return a;
}

static hil_aux* user_make(hil_aux* px, const char* name, const char* type, hil_aux_backend b, const char* const* opts) {
    hil_aux_config c;
    hil_aux* a = hil_aux_get(name);
    char cname[64];
    if (a) hil_aux_destroy(a);
    a = NULL;
    snprintf(cname, sizeof cname, "bus@%s", name);
    hil_aux_config_init(&c);
    c.name = name;
    c.type = type;
    c.backend = (int)b;
    c.options = opts;
    HIL_ASSERT_OK(hil_proxy_channel_create(px, cname, &c.com));
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    return a;
}

static void expect_msg(hil_aux* a, const char* text, uint32_t flags) {
    char buf[64];
    hil_msg m;
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 3000), "%s waits for '%s'", hil_aux_name(a), text);
    HIL_ASSERT_EQ(m.len, strlen(text), "%s", hil_aux_name(a));
    HIL_ASSERT_MEMEQ(buf, text, m.len);
    HIL_EXPECT_EQ(m.flags, flags, "%s: flags of '%s'", hil_aux_name(a), text);
}

static void expect_none(hil_aux* a) {
    char buf[64];
    hil_msg m;
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_aux_receive_message(a, &m, 50), HIL_ERR_TIMEOUT, "%s got '%.*s'", hil_aux_name(a), (int)m.len, buf);
}

static void peer_says(int fd, const char* text) {
    HIL_ASSERT(send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text));
}

static void peer_hears(int fd, const char* text) {
    char buf[64];
    ssize_t n;
    HIL_ASSERT_OK(hil_wait_readable(fd, 3000), "the peer waits for '%s'", text);
    n = recv(fd, buf, sizeof buf, 0);
    HIL_ASSERT_EQ(n, (ssize_t)strlen(text));
    HIL_ASSERT_MEMEQ(buf, text, (size_t)n);
}

HIL_TEST(aux_proxy, one_channel_shared_with_echo_suspend_and_delete) {
    int ours = -1, peer = -1;
    const char* opts[] = {"echo=true", NULL};
    char trace_opt[600];
    const char* px_opts[3];
    hil_aux *px, *a1, *a2;
    char* trace;
    HIL_ASSERT_EQ(st_seqpair(&ours, &peer), 0);
    snprintf(trace_opt, sizeof trace_opt, "trace=%s", st_path("bus.trace"));
    px_opts[0] = opts[0];
    px_opts[1] = trace_opt;
    px_opts[2] = NULL;
    px = px_make(ours, px_opts);
    a1 = user_make(px, "a1", "communication", HIL_AUX_THREAD, NULL);
    a2 = user_make(px, "a2", "communication", HIL_AUX_SIMPLE, NULL);
    /* what the device says reaches both */
    peer_says(peer, "r1");
    expect_msg(a1, "r1", 0);
    expect_msg(a2, "r1", 0);
    /* what one sends reaches the device, and the other as an echo */
    HIL_ASSERT_OK(hil_aux_send_bytes(a1, "t1", 2, 1000));
    peer_hears(peer, "t1");
    expect_msg(a2, "t1", HIL_MSG_ECHO);
    expect_none(a1);
    /* suspending one leaves the channel open for the other */
    HIL_ASSERT_OK(hil_aux_suspend(a1, 5000));
    peer_says(peer, "r2");
    expect_msg(a2, "r2", 0);
    HIL_ASSERT_OK(hil_aux_send_bytes(a2, "t2", 2, 1000));
    peer_hears(peer, "t2");
    HIL_ASSERT_OK(hil_aux_resume(a1, 5000));
    peer_says(peer, "r3");
    expect_msg(a1, "r3", 0);
    expect_msg(a2, "r3", 0);
    /* deleting one too */
    hil_aux_destroy(a1);
    peer_says(peer, "r4");
    expect_msg(a2, "r4", 0);
    HIL_ASSERT_OK(hil_aux_send_bytes(a2, "t3", 2, 1000));
    peer_hears(peer, "t3");
    hil_aux_destroy(a2);
    hil_aux_destroy(px);
    trace = st_read(st_path("bus.trace"));
    HIL_EXPECT(strstr(trace, " RX bus id=0x0 flags=0x0 len=2: 72 31\n"), "%s", trace);
    HIL_EXPECT(strstr(trace, " TX bus@a1 id=0x0 flags=0x0 len=2: 74 31\n"), "%s", trace);
    HIL_EXPECT(strstr(trace, " TX bus@a2 id=0x0 flags=0x0 len=2: 74 33\n"), "%s", trace);
    HIL_EXPECT(strstr(trace, "Z RX"), "each line starts with its time: %s", trace);
    free(trace);
    close(peer);
}

HIL_TEST(aux_proxy, without_echo_nobody_hears_the_others) {
    int ours = -1, peer = -1;
    hil_aux *px, *a1, *a2;
    HIL_ASSERT_EQ(st_seqpair(&ours, &peer), 0);
    px = px_make(ours, NULL);
    a1 = user_make(px, "a1", "communication", HIL_AUX_THREAD, NULL);
    a2 = user_make(px, "a2", "communication", HIL_AUX_THREAD, NULL);
    HIL_ASSERT_OK(hil_aux_send_bytes(a1, "t1", 2, 1000));
    peer_hears(peer, "t1");
    expect_none(a2);
    hil_aux_destroy(a1);
    hil_aux_destroy(a2);
    hil_aux_destroy(px);
    close(peer);
}

HIL_TEST(aux_proxy, stopping_the_proxy_ends_its_channels_and_process_users_are_refused) {
    int ours = -1, peer = -1;
    hil_aux *px, *a1;
    hil_aux_config c;
    hil_aux* bad = NULL;
    char buf[8];
    hil_msg m;
    HIL_ASSERT_EQ(st_seqpair(&ours, &peer), 0);
    px = px_make(ours, NULL);
    a1 = user_make(px, "a1", "communication", HIL_AUX_THREAD, NULL);
    hil_aux_config_init(&c);
    c.name = "a9";
    c.type = "communication";
    c.backend = HIL_AUX_PROCESS;
    HIL_ASSERT_OK(hil_proxy_channel_create(px, "bus@a9", &c.com));
    HIL_EXPECT_EQ(hil_aux_create(&c, &bad), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "backend process cannot use proxy channel 'bus@a9'"), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_aux_stop(px, 5000));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_aux_receive_message(a1, &m, 3000), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "proxy auxiliary 'px' stopped"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_aux_send_bytes(a1, "x", 1, 100), HIL_ERR_CLOSED);
    hil_aux_destroy(a1);
    hil_aux_destroy(px);
    close(peer);
}

HIL_TEST(aux_proxy, record_writes_the_traffic_both_ways) {
    int ours = -1, peer = -1;
    char file_opt[600];
    const char* rec_opts[] = {file_opt, "forward=true", NULL};
    const char* px_opts[] = {"echo=true", NULL};
    hil_aux *px, *a1, *rec;
    hil_aux_cmd mark;
    char* text;
    HIL_ASSERT_EQ(st_seqpair(&ours, &peer), 0);
    snprintf(file_opt, sizeof file_opt, "file=%s", st_path("bus.rec"));
    px = px_make(ours, px_opts);
    rec = user_make(px, "rec", "record", HIL_AUX_THREAD, rec_opts);
    a1 = user_make(px, "a1", "communication", HIL_AUX_THREAD, NULL);
    peer_says(peer, "hi");
    expect_msg(rec, "hi", 0); /* forward=true: it is queued too */
    HIL_ASSERT_OK(hil_aux_send_bytes(a1, "\x01\x02\xff", 3, 1000));
    peer_hears(peer, "\x01\x02\xff");
    expect_msg(rec, "\x01\x02\xff", HIL_MSG_ECHO);
    mark.code = HIL_RECORD_CMD_MARK;
    mark.data = "checkpoint A";
    mark.len = 12;
    HIL_ASSERT_OK(hil_aux_run_command(rec, &mark, 1, 2000, NULL));
    hil_aux_destroy(a1);
    hil_aux_destroy(rec);
    hil_aux_destroy(px);
    text = st_read(st_path("bus.rec"));
    HIL_EXPECT(strstr(text, "# hil record of 'bus@rec'"), "%s", text);
    HIL_EXPECT(strstr(text, " RX bus@rec id=0x0 flags=0x0 len=2: 68 69\n"), "%s", text);
    HIL_EXPECT(strstr(text, " TX bus@rec id=0x0 flags=0x40 len=3: 01 02 ff\n"), "%s", text);
    HIL_EXPECT(strstr(text, " MARK checkpoint A\n"), "%s", text);
    free(text);
    close(peer);
}

HIL_TEST(aux_proxy, record_needs_a_file_and_a_known_format) {
    hil_aux_config c;
    hil_aux* a = NULL;
    const char* no_file[] = {NULL};
    const char* bad_fmt[] = {"file=/tmp/x.rec", "format=pcapng-ish", NULL};
    const char* bad_dir[] = {"file=/nonexistent/dir/x.rec", NULL};
    hil_channel_config cc;
    hil_channel_config_init(&cc);
    cc.name = "lb";
    cc.type = "loopback";
    hil_aux_config_init(&c);
    c.name = "rec";
    c.type = "record";
    c.options = no_file;
    HIL_ASSERT_OK(hil_channel_create(&cc, &c.com));
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "no file to record to: set auxiliaries.rec.file"), "%s", hil_last_error());
    c.options = bad_fmt;
    HIL_ASSERT_OK(hil_channel_create(&cc, &c.com));
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "unknown record format 'pcapng-ish' (registered: hex"), "%s", hil_last_error());
    c.options = bad_dir;
    HIL_ASSERT_OK(hil_channel_create(&cc, &c.com));
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "record file /nonexistent/dir/x.rec: No such file or directory"), "%s",
               hil_last_error());
}

HIL_TEST(aux_proxy, configuration_inserts_a_proxy_for_a_shared_connector) {
    hil_config* cfg;
    hil_aux *c1, *c2, *px;
    char buf[8];
    hil_msg m;
    HIL_ASSERT_OK(hil_config_create(&cfg));
    HIL_ASSERT_OK(hil_config_load_kv(cfg,
                                     "connectors.lb.type = loopback\n"
                                     "auxiliaries.c1.type = communication\n"
                                     "auxiliaries.c1.connectors.com = lb\n"
                                     "auxiliaries.c2.type = communication\n"
                                     "auxiliaries.c2.connectors.com = lb\n"
                                     "auxiliaries.c2.backend = simple\n"
                                     "auxiliaries.off.type = communication\n"
                                     "auxiliaries.off.connectors.com = lb2\n"
                                     "auxiliaries.off.auto_start = false\n"
                                     "connectors.lb2.type = loopback\n",
                                     "lab.conf", HIL_PRIO_FILE));
    HIL_ASSERT_OK(hil_aux_create_all(cfg));
    c1 = hil_aux_get("c1");
    c2 = hil_aux_get("c2");
    px = hil_aux_get("proxy:lb");
    HIL_ASSERT(c1 && c2 && px, "c1, c2 and the proxy exist");
    HIL_EXPECT_STREQ(hil_aux_type(px), "proxy");
    HIL_EXPECT_EQ(hil_aux_get_backend(c2), HIL_AUX_SIMPLE);
    HIL_EXPECT_EQ(hil_aux_get_state(hil_aux_get("off")), HIL_AUX_NEW);
    /* the loopback sends back what c1 sent: both see it */
    HIL_ASSERT_OK(hil_aux_send_bytes(c1, "x", 1, 1000));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_aux_receive_message(c1, &m, 3000));
    HIL_ASSERT_OK(hil_aux_receive_message(c2, &m, 3000));
    HIL_EXPECT_EQ(buf[0], 'x');
    hil_aux_destroy_all();
    HIL_EXPECT(hil_aux_get("c1") == NULL && hil_aux_get("proxy:lb") == NULL, "all gone");
    hil_config_destroy(cfg);
}
