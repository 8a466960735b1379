/* The message bus: dispatch kinds, priorities, entities, requests and
 * futures, idleness, local message queues, definitions. */
#include "selftest.h"
#include <pthread.h>

HIL_SUITE(bus, "tags=core")

static const hil_endpoint EP_A = {"ep_a", "first endpoint"};
static const hil_endpoint EP_B = {"ep_b", "second endpoint"};
static const hil_message_def PING = {"ping", "a ping"};
static const hil_message_def PONG = {"pong", "a pong"};

typedef struct rec {
    hil_mutex mu;
    char log[512];
    int count;
    pthread_t threads[8];
    int n_threads;
} rec;

static void rec_init(rec* r) {
    memset(r, 0, sizeof *r);
    hil_mutex_init(&r->mu);
}

static void rec_add(rec* r, const char* what) {
    int i, seen = 0;
    hil_mutex_lock(&r->mu);
    strncat(r->log, what, sizeof r->log - strlen(r->log) - 1);
    r->count++;
    for (i = 0; i < r->n_threads; i++)
        if (pthread_equal(r->threads[i], pthread_self())) seen = 1;
    if (!seen && r->n_threads < 8) r->threads[r->n_threads++] = pthread_self();
    hil_mutex_unlock(&r->mu);
}

typedef struct tagged { rec* r; const char* tag; } tagged;

static void on_tagged(const hil_bus_msg* m, void* user) {
    tagged* t = (tagged*)user;
    char buf[64];
    snprintf(buf, sizeof buf, "%s:%s:%s ", t->tag, m->id->name, m->size ? (const char*)m->data : "-");
    rec_add(t->r, buf);
}

static hil_dispatcher* sub(hil_bus* b, hil_dispatch_kind k, int prio, tagged* t, const hil_message_def* msg,
                           const hil_endpoint* ep, const char* entity) {
    hil_dispatcher_config cfg;
    hil_dispatcher* d = NULL;
    hil_dispatcher_config_init(&cfg);
    cfg.kind = k;
    cfg.fn = on_tagged;
    cfg.user = t;
    cfg.priority = prio;
    cfg.workers = 3;
    HIL_ASSERT_OK(hil_dispatcher_create(b, &cfg, &d));
    HIL_ASSERT_OK(hil_dispatcher_subscribe(d, msg, ep, entity));
    return d;
}

HIL_TEST(bus, callbacks_run_in_the_senders_thread_by_priority) {
    hil_bus* b;
    rec r;
    tagged lo, hi, other;
    rec_init(&r);
    lo.r = hi.r = other.r = &r;
    lo.tag = "lo";
    hi.tag = "hi";
    other.tag = "other";
    HIL_ASSERT_OK(hil_bus_create(&b));
    sub(b, HIL_DISPATCH_CALLBACK, 1, &lo, &PING, &EP_A, NULL);
    sub(b, HIL_DISPATCH_CALLBACK, 9, &hi, &PING, NULL, NULL);
    sub(b, HIL_DISPATCH_CALLBACK, 5, &other, &PONG, &EP_A, NULL);
    HIL_ASSERT_OK(hil_bus_trigger(b, &PING, &EP_A, NULL, "x", 2));
    HIL_EXPECT_STREQ(r.log, "hi:ping:x lo:ping:x ");
    HIL_ASSERT_OK(hil_bus_trigger(b, &PING, &EP_B, NULL, "y", 2));
    HIL_EXPECT_STREQ(r.log, "hi:ping:x lo:ping:x hi:ping:y ", "lo listens on ep_a only");
    HIL_EXPECT_EQ(r.n_threads, 1);
    HIL_EXPECT(pthread_equal(r.threads[0], pthread_self()));
    hil_bus_destroy(b);
}

HIL_TEST(bus, entities_filter_deliveries) {
    hil_bus* b;
    rec r;
    tagged t;
    rec_init(&r);
    t.r = &r;
    t.tag = "dut1";
    HIL_ASSERT_OK(hil_bus_create(&b));
    sub(b, HIL_DISPATCH_CALLBACK, 0, &t, &PING, &EP_A, "dut1");
    hil_bus_trigger(b, &PING, &EP_A, "dut2", "a", 2);
    hil_bus_trigger(b, &PING, &EP_A, NULL, "b", 2);
    hil_bus_trigger(b, &PING, &EP_A, "dut1", "c", 2);
    HIL_EXPECT_STREQ(r.log, "dut1:ping:c ");
    hil_bus_destroy(b);
}

HIL_TEST(bus, a_sequential_dispatcher_keeps_fifo_order_on_its_own_thread) {
    hil_bus* b;
    rec r;
    tagged t;
    char expect[512] = "";
    int i;
    rec_init(&r);
    t.r = &r;
    t.tag = "s";
    HIL_ASSERT_OK(hil_bus_create(&b));
    sub(b, HIL_DISPATCH_SEQUENTIAL, 0, &t, &PING, NULL, NULL);
    for (i = 0; i < 20; i++) {
        char data[16], one[32];
        snprintf(data, sizeof data, "%d", i);
        HIL_ASSERT_OK(hil_bus_trigger(b, &PING, &EP_A, NULL, data, strlen(data) + 1));
        snprintf(one, sizeof one, "s:ping:%d ", i);
        strcat(expect, one);
    }
    HIL_ASSERT_OK(hil_bus_wait_idle(b, 5000));
    HIL_EXPECT_STREQ(r.log, expect);
    HIL_EXPECT_EQ(r.n_threads, 1);
    HIL_EXPECT(!pthread_equal(r.threads[0], pthread_self()), "runs on the dispatcher's thread");
    hil_bus_destroy(b);
}

typedef struct slow { hil_mutex mu; hil_cond cv; int inside, max_inside, done; } slow;

static void on_slow(const hil_bus_msg* m, void* user) {
    slow* s = (slow*)user;
    uint64_t until;
    (void)m;
    hil_mutex_lock(&s->mu);
    s->inside++;
    if (s->inside > s->max_inside) s->max_inside = s->inside;
    /* hold long enough that the pool's other workers get work too */
    until = hil_now_ns() + 20000000u;
    while (hil_now_ns() < until && s->inside < 3) hil_cond_wait_until(&s->cv, &s->mu, until);
    hil_cond_broadcast(&s->cv);
    s->inside--;
    s->done++;
    hil_mutex_unlock(&s->mu);
}

HIL_TEST(bus, a_pooled_dispatcher_runs_work_in_parallel) {
    hil_bus* b;
    hil_dispatcher_config cfg;
    hil_dispatcher* d;
    slow s;
    int i;
    memset(&s, 0, sizeof s);
    hil_mutex_init(&s.mu);
    hil_cond_init(&s.cv);
    HIL_ASSERT_OK(hil_bus_create(&b));
    hil_dispatcher_config_init(&cfg);
    cfg.kind = HIL_DISPATCH_POOLED;
    cfg.workers = 3;
    cfg.fn = on_slow;
    cfg.user = &s;
    HIL_ASSERT_OK(hil_dispatcher_create(b, &cfg, &d));
    HIL_ASSERT_OK(hil_dispatcher_subscribe(d, &PING, NULL, NULL));
    for (i = 0; i < 6; i++) hil_bus_trigger(b, &PING, &EP_A, NULL, NULL, 0);
    HIL_ASSERT_OK(hil_bus_wait_idle(b, 5000));
    HIL_EXPECT_EQ(s.done, 6);
    HIL_EXPECT_EQ(s.max_inside, 3, "three workers held work at the same time");
    hil_bus_destroy(b);
}

static void on_answer(const hil_bus_msg* m, void* user) {
    int v = *(const int*)m->data * (int)(intptr_t)user;
    hil_bus_respond(m, v < 0 ? HIL_ERR_PROTOCOL : HIL_OK, &v, sizeof v);
}

static void on_late(const hil_bus_msg* m, void* user) {
    hil_waker* gate = (hil_waker*)user;
    int v = 7;
    hil_wait_readable(hil_waker_fd(gate), 5000); /* answers only when let go */
    hil_bus_respond(m, HIL_OK, &v, sizeof v);
}

HIL_TEST(bus, requests_return_futures_as_completed_with_timeouts) {
    hil_bus* b;
    hil_dispatcher_config cfg;
    hil_dispatcher *d1, *d2, *d3;
    hil_futures* f;
    hil_waker gate;
    int arg = 6;
    size_t idx, got = 0;
    int sum = 0;
    HIL_ASSERT_OK(hil_bus_create(&b));
    HIL_ASSERT_OK(hil_waker_init(&gate));
    hil_dispatcher_config_init(&cfg);
    cfg.fn = on_answer;
    cfg.user = (void*)(intptr_t)2;
    HIL_ASSERT_OK(hil_dispatcher_create(b, &cfg, &d1));
    hil_dispatcher_subscribe(d1, &PING, &EP_A, NULL);
    cfg.kind = HIL_DISPATCH_SEQUENTIAL;
    cfg.user = (void*)(intptr_t)-1;
    HIL_ASSERT_OK(hil_dispatcher_create(b, &cfg, &d2));
    hil_dispatcher_subscribe(d2, &PING, &EP_A, NULL);
    cfg.fn = on_late;
    cfg.user = &gate;
    HIL_ASSERT_OK(hil_dispatcher_create(b, &cfg, &d3));
    hil_dispatcher_subscribe(d3, &PING, &EP_A, NULL);
    HIL_ASSERT_OK(hil_bus_request(b, &PING, &EP_A, NULL, &arg, sizeof arg, &f));
    HIL_ASSERT_EQ(hil_futures_count(f), 3);
    HIL_EXPECT_EQ(hil_futures_wait(f, 50), HIL_ERR_TIMEOUT, "the late one holds it up");
    while (got < 2 && hil_futures_next(f, 2000, &idx) == HIL_OK) {
        hil_result r;
        const void* data;
        size_t size;
        HIL_ASSERT_OK(hil_futures_get(f, idx, &r, &data, &size));
        HIL_ASSERT_EQ(size, sizeof(int));
        sum += *(const int*)data;
        if (*(const int*)data < 0) HIL_EXPECT_EQ(r, HIL_ERR_PROTOCOL);
        got++;
    }
    HIL_EXPECT_EQ(got, 2);
    HIL_EXPECT_EQ(sum, 12 - 6);
    HIL_EXPECT_EQ(hil_futures_next(f, 20, &idx), HIL_ERR_TIMEOUT);
    hil_waker_wake(&gate);
    HIL_ASSERT_OK(hil_futures_next(f, 5000, &idx));
    HIL_ASSERT_OK(hil_futures_wait(f, 5000));
    HIL_EXPECT_EQ(hil_futures_next(f, 0, &idx), HIL_ERR_NOT_FOUND, "each future is handed out once");
    hil_futures_destroy(f);
    hil_waker_destroy(&gate);
    hil_bus_destroy(b);
}

HIL_TEST(bus, a_local_message_queue_collects_matching_messages) {
    hil_bus* b;
    hil_msg_queue* q;
    hil_queued_msg m;
    HIL_ASSERT_OK(hil_bus_create(&b));
    HIL_ASSERT_OK(hil_msg_queue_create(b, &PONG, NULL, NULL, NULL, NULL, &q));
    hil_bus_trigger(b, &PING, &EP_A, NULL, "no", 3);
    hil_bus_trigger(b, &PONG, &EP_B, "dut", "yes", 4);
    HIL_ASSERT_OK(hil_msg_queue_get(q, 1000, &m));
    HIL_EXPECT(m.id == &PONG);
    HIL_EXPECT(m.endpoint == &EP_B);
    HIL_EXPECT_STREQ(m.entity, "dut");
    HIL_EXPECT_STREQ((const char*)m.data, "yes");
    hil_queued_msg_free(&m);
    HIL_EXPECT_EQ(hil_msg_queue_get(q, 20, &m), HIL_ERR_TIMEOUT);
    hil_msg_queue_destroy(q);
    hil_bus_destroy(b);
}

HIL_TEST(bus, definitions_reject_duplicates) {
    hil_bus* b;
    static const hil_endpoint EP_A2 = {"ep_a", "same name, other id"};
    const hil_message_def* msgs[] = {&PING, &PONG};
    HIL_ASSERT_OK(hil_bus_create(&b));
    HIL_ASSERT_OK(hil_bus_define(b, &EP_A, msgs, 2, "first"));
    HIL_EXPECT_EQ(hil_bus_define(b, &EP_A, msgs, 1, "second"), HIL_ERR_EXISTS);
    HIL_EXPECT(strstr(hil_last_error(), "message 'ping' on endpoint 'ep_a' is defined twice (by first and second)"),
               "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_bus_define(b, &EP_A2, NULL, 0, "third"), HIL_ERR_EXISTS);
    hil_bus_destroy(b);
}

static void on_count(const hil_bus_msg* m, void* user) {
    (void)m;
    __atomic_fetch_add((int*)user, 1, __ATOMIC_RELAXED);
}

HIL_TEST(bus, destroying_a_dispatcher_finishes_its_queue) {
    hil_bus* b;
    hil_dispatcher_config cfg;
    hil_dispatcher* d;
    int n = 0, i;
    HIL_ASSERT_OK(hil_bus_create(&b));
    hil_dispatcher_config_init(&cfg);
    cfg.kind = HIL_DISPATCH_SEQUENTIAL;
    cfg.fn = on_count;
    cfg.user = &n;
    HIL_ASSERT_OK(hil_dispatcher_create(b, &cfg, &d));
    hil_dispatcher_subscribe(d, NULL, NULL, NULL);
    for (i = 0; i < 1000; i++) hil_bus_trigger(b, &PING, &EP_A, NULL, NULL, 0);
    hil_dispatcher_destroy(d);
    HIL_EXPECT_EQ(n, 1000, "nothing queued is lost");
    hil_bus_trigger(b, &PING, &EP_A, NULL, NULL, 0);
    HIL_EXPECT_EQ(n, 1000, "no delivery after destroy");
    HIL_ASSERT_OK(hil_bus_wait_idle(b, 1000));
    hil_bus_destroy(b);
}
