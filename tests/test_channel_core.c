/* The channel core: creation from config and options, errors, loopback,
 * waiting on several channels and a waker, close waking a reader. */
#include "selftest.h"
#include <pthread.h>

HIL_SUITE(channel_core, "tags=connectors")

static hil_channel* make_loopback(const char* name, const char* const* opts) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "loopback";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    return ch;
}

HIL_TEST(channel_core, loopback_round_trip_keeps_order_and_metadata) {
    hil_channel* ch = make_loopback("lb", NULL);
    char buf[16];
    hil_msg m;
    int i;
    for (i = 0; i < 10; i++) {
        hil_msg out;
        char b = (char)('a' + i);
        hil_msg_init(&out, &b, 1);
        out.len = 1;
        out.remote_id = 0x100u + (uint32_t)i;
        out.flags = HIL_MSG_EXTENDED;
        HIL_ASSERT_OK(hil_channel_send(ch, &out, 100));
    }
    for (i = 0; i < 10; i++) {
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
        HIL_ASSERT_EQ(m.len, 1);
        HIL_ASSERT_EQ(buf[0], 'a' + i);
        HIL_ASSERT_EQ(m.remote_id, 0x100 + i);
        HIL_ASSERT_EQ(m.flags, HIL_MSG_EXTENDED);
        HIL_ASSERT(m.timestamp_ns > 0);
    }
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_EQ(hil_channel_recv(ch, &m, 0), HIL_ERR_AGAIN);
    HIL_ASSERT_EQ(hil_channel_recv(ch, &m, 20), HIL_ERR_TIMEOUT);
    {
        hil_channel_stats st;
        hil_channel_get_stats(ch, &st);
        HIL_EXPECT_EQ(st.tx_msgs, 10);
        HIL_EXPECT_EQ(st.rx_msgs, 10);
        HIL_EXPECT_EQ(st.rx_bytes, 10);
    }
    hil_channel_destroy(ch);
}

HIL_TEST(channel_core, a_full_queue_times_out_with_overflow_and_truncation_is_flagged) {
    const char* opts[] = {"capacity=2", NULL};
    hil_channel* ch = make_loopback("small", opts);
    char buf[2];
    hil_msg m;
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "abc", 3, 0));
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "d", 1, 0));
    HIL_ASSERT_EQ(hil_channel_send_bytes(ch, "e", 1, 10), HIL_ERR_OVERFLOW);
    HIL_EXPECT(strstr(hil_last_error(), "loopback 'small': queue full"), "%s", hil_last_error());
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 0));
    HIL_EXPECT_EQ(m.len, 2);
    HIL_EXPECT(m.flags & HIL_MSG_TRUNCATED);
    hil_channel_destroy(ch);
}

static void* close_later(void* arg) {
    hil_channel* ch = (hil_channel*)arg;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL); /* let the reader block first */
    hil_channel_close(ch);
    return NULL;
}

HIL_TEST(channel_core, close_wakes_a_blocked_reader) {
    hil_channel* ch = make_loopback("blocked", NULL);
    pthread_t t;
    char buf[4];
    hil_msg m;
    uint64_t t0 = hil_now_ns();
    hil_result r;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, close_later, ch), 0);
    hil_msg_init(&m, buf, sizeof buf);
    r = hil_channel_recv(ch, &m, 5000);
    pthread_join(t, NULL);
    HIL_EXPECT(r == HIL_ERR_CLOSED || r == HIL_ERR_TIMEOUT || r == HIL_OK, "%s", hil_result_str(r));
    HIL_EXPECT_EQ(r, HIL_ERR_CLOSED);
    HIL_EXPECT_LT(hil_now_ns() - t0, 2000000000ull, "woken long before the 5 s timeout");
    hil_channel_destroy(ch);
}

HIL_TEST(channel_core, wait_on_channels_and_a_waker) {
    hil_channel* a = make_loopback("a", NULL);
    hil_channel* b = make_loopback("b", NULL);
    hil_channel* both[2];
    hil_waker w;
    size_t idx = 99;
    both[0] = a;
    both[1] = b;
    HIL_ASSERT_OK(hil_waker_init(&w));
    HIL_ASSERT_EQ(hil_channel_wait(both, 2, &w, 10, &idx), HIL_ERR_TIMEOUT);
    HIL_ASSERT_OK(hil_channel_send_bytes(b, "x", 1, 0));
    HIL_ASSERT_OK(hil_channel_wait(both, 2, &w, 1000, &idx));
    HIL_EXPECT_EQ(idx, 1);
    {
        char buf[4];
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_channel_recv(b, &m, 0));
    }
    hil_waker_wake(&w);
    HIL_ASSERT_OK(hil_channel_wait(both, 2, &w, 1000, &idx));
    HIL_EXPECT_EQ(idx, 2, "the waker is index n");
    hil_waker_destroy(&w);
    hil_channel_destroy(a);
    hil_channel_destroy(b);
}

HIL_TEST(channel_core, configuration_errors_name_the_connector_and_the_fix) {
    hil_config* cfg;
    hil_channel_config c;
    hil_channel* ch = NULL;
    HIL_ASSERT_OK(hil_config_create(&cfg));
    hil_channel_config_init(&c);
    c.config = cfg;
    c.name = "dut";
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "set connectors.dut.type"), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_config_set(cfg, "connectors.dut.type", "telepathy", 10, "lab.conf:3"));
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "unknown type 'telepathy' (registered: ") && strstr(hil_last_error(), "loopback"), "%s", hil_last_error());
    hil_config_unset(cfg, "connectors.dut.type");
    HIL_ASSERT_OK(hil_config_set(cfg, "connectors.dut.type", "loopback", 10, "lab.conf:3"));
    HIL_ASSERT_OK(hil_config_set(cfg, "connectors.dut.baudrate", "115200", 10, "lab.conf:4"));
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "connectors.dut.baudrate (lab.conf:4)"), "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "its options are: type, capacity"), "%s", hil_last_error());
    hil_config_unset(cfg, "connectors.dut.baudrate");
    HIL_ASSERT_OK(hil_config_set(cfg, "connectors.dut.capacity", "lots", 10, "lab.conf:5"));
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option capacity: expected an integer, got 'lots'"), "%s", hil_last_error());
    hil_config_unset(cfg, "connectors.dut.capacity");
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_EXPECT_STREQ(hil_channel_name(ch), "dut");
    HIL_EXPECT_EQ(hil_channel_send_bytes(ch, "x", 1, 0), HIL_ERR_CLOSED, "send before open");
    hil_channel_destroy(ch);
    hil_config_destroy(cfg);
}

/* A channel type defined by user code, registered without editing headers. */
typedef struct counter_state { int opened; unsigned sent; hil_waker w; } counter_state;
static hil_result counter_open(hil_channel* ch) {
    counter_state* s = (counter_state*)hil_channel_state(ch);
    s->opened = 1;
    return hil_waker_init(&s->w);
}
static void counter_close(hil_channel* ch) { hil_waker_destroy(&((counter_state*)hil_channel_state(ch))->w); }
static hil_result counter_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    counter_state* s = (counter_state*)hil_channel_state(ch);
    (void)timeout_ms;
    s->sent += (unsigned)m->len;
    hil_waker_wake(&s->w);
    return HIL_OK;
}
static hil_result counter_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    counter_state* s = (counter_state*)hil_channel_state(ch);
    if (hil_wait_readable(hil_waker_fd(&s->w), timeout_ms) != HIL_OK) return timeout_ms ? HIL_ERR_TIMEOUT : HIL_ERR_AGAIN;
    hil_waker_drain(&s->w);
    m->len = (size_t)snprintf((char*)m->data, m->cap, "%u", s->sent);
    return HIL_OK;
}
static const hil_channel_type counter_type = {
    "test_counter", "counts bytes sent", 0, sizeof(counter_state), NULL, NULL,
    counter_open, counter_close, counter_send, counter_recv, NULL, NULL};
HIL_CHANNEL_TYPE(counter_type)

HIL_TEST(channel_core, user_code_registers_a_channel_type) {
    hil_channel_config c;
    hil_channel* ch;
    char buf[16];
    hil_msg m;
    hil_channel_config_init(&c);
    c.name = "cnt";
    c.type = "test_counter";
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "hello", 5, 0));
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    buf[m.len] = 0;
    HIL_EXPECT_STREQ(buf, "5");
    HIL_EXPECT_EQ(hil_channel_type_register(&counter_type), HIL_OK, "registering the same struct again is harmless");
    {
        hil_channel_type other = counter_type;
        HIL_EXPECT_EQ(hil_channel_type_register(&other), HIL_ERR_EXISTS);
    }
    hil_channel_destroy(ch);
}

HIL_TEST_META(channel_core, connector_keys_in_a_config_file_are_known_at_startup, "tags=build") {
    char bin[512];
    const char* conf = st_path("lab.conf");
    const char* text = "[connectors.dut]\ntype = loopback\ncapacity = 8\n";
    const char* bad = st_path("bad.conf");
    const char* badtext = "connectors.dut.capacty = 8\n";
    st_result r;
    snprintf(bin, sizeof bin, "%s/all_headers", st_build_dir());
    if (access(bin, X_OK) != 0) HIL_FAIL("%s is missing: run make", bin);
    HIL_ASSERT_OK(hil_write_file_atomic(conf, text, strlen(text)));
    HIL_ASSERT_OK(hil_write_file_atomic(bad, badtext, strlen(badtext)));
    {
        const char* a[] = {bin, "-c", conf, "config", NULL};
        st_run(a, NULL, 10000, &r);
    }
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "connectors.dut.capacity"), "%s", r.out);
    st_result_free(&r);
    {
        const char* a[] = {bin, "-c", bad, "config", NULL};
        st_run(a, NULL, 10000, &r);
    }
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "did you mean 'connectors.dut.capacity'?"), "%s", r.out);
    st_result_free(&r);
}
