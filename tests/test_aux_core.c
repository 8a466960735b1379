/* Auxiliaries: one behavioural suite, run against the thread, process and
 * simple backends (suites aux_thread, aux_process, aux_simple). Peers are
 * real: the loopback channel, or a thread on the other end of a kernel
 * SOCK_SEQPACKET socketpair. */
#include "selftest.h"
#include "aux_testlib.h"
#include <pthread.h>
#include <time.h>

HIL_SUITE(aux_thread, "tags=aux")
HIL_SUITE(aux_process, "tags=aux")
HIL_SUITE(aux_simple, "tags=aux")
HIL_SUITE(aux_core, "tags=aux")

/* The same body for each backend. */
#define BACKENDS(name) \
    static void name(hil_aux_backend b); \
    HIL_TEST(aux_thread, name) { name(HIL_AUX_THREAD); } \
    HIL_TEST(aux_process, name) { name(HIL_AUX_PROCESS); } \
    HIL_TEST(aux_simple, name) { name(HIL_AUX_SIMPLE); } \
    static void name(hil_aux_backend b)

/* ---- a test implementation ------------------------------------------------ */

enum { T_ECHO = 1, T_WAIT, T_LOG, T_CRASH, T_ABORTS, T_FAIL, T_PID, T_SEND };

typedef struct t_state { int aborts; int fail_create; long long create_wait_ms; } t_state;

static const hil_aux_opt t_opts[] = {
    {"fail_create", HIL_OPT_BOOL, "false", "tests: create_instance fails", NULL},
    {"create_wait_ms", HIL_OPT_INT, "0", "tests: create_instance waits this long (-1: until stopped)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result t_configure(hil_aux* a) {
    t_state* s = (t_state*)hil_aux_priv(a);
    hil_result r = hil_aux_opt_bool(a, "fail_create", 0, &s->fail_create);
    if (r == HIL_OK) r = hil_aux_opt_int(a, "create_wait_ms", 0, &s->create_wait_ms);
    return r;
}

static hil_result t_create(hil_aux* a) {
    t_state* s = (t_state*)hil_aux_priv(a);
    if (s->fail_create) return hil_aux_fail(a, HIL_ERR_IO, "the bench supply is off (test)");
    if (s->create_wait_ms) {
        hil_result r = hil_aux_wait(a, NULL, (int)s->create_wait_ms);
        if (r != HIL_ERR_TIMEOUT) return r;
    }
    return hil_aux_com(a) ? hil_channel_open(hil_aux_com(a)) : HIL_OK;
}

static void t_delete(hil_aux* a) {
    if (hil_aux_com(a)) hil_channel_close(hil_aux_com(a));
}

static hil_result t_run(hil_aux* a, const hil_aux_cmd* cmd, hil_aux_report* rep) {
    t_state* s = (t_state*)hil_aux_priv(a);
    switch (cmd->code) {
    case T_ECHO:
        memcpy(rep->data, cmd->data, cmd->len);
        rep->len = cmd->len;
        rep->status = (int)cmd->len;
        return HIL_OK;
    case T_WAIT: {
        int ms;
        hil_result r;
        memcpy(&ms, cmd->data, sizeof ms);
        r = hil_aux_wait(a, NULL, ms);
        return r == HIL_ERR_TIMEOUT ? HIL_OK : r;
    }
    case T_LOG:
        HIL_INFO(hil_aux_logger(a), "%.*s", (int)cmd->len, (const char*)cmd->data);
        return HIL_OK;
    case T_CRASH: {
        int sig = SIGSEGV;
        if (cmd->len == sizeof sig) memcpy(&sig, cmd->data, sizeof sig);
        raise(sig);
        return HIL_OK;
    }
    case T_ABORTS:
        rep->status = s->aborts;
        return HIL_OK;
    case T_FAIL:
        return hil_aux_fail(a, HIL_ERR_PROTOCOL, "failing on purpose");
    case T_PID:
        rep->status = (int)getpid();
        return HIL_OK;
    case T_SEND: {
        hil_msg m;
        hil_msg_init(&m, (void*)cmd->data, cmd->len);
        m.len = cmd->len;
        return hil_aux_send(a, hil_aux_com(a), &m, 1000);
    }
    }
    return hil_aux_fail(a, HIL_ERR_INVALID_ARG, "unknown command %d", cmd->code);
}

static hil_result t_abort(hil_aux* a) {
    ((t_state*)hil_aux_priv(a))->aborts++;
    return HIL_OK;
}

static hil_result t_receive(hil_aux* a, size_t index) {
    unsigned char buf[2048];
    hil_msg m;
    hil_result r;
    hil_msg_init(&m, buf, sizeof buf);
    r = hil_channel_recv(hil_aux_channel(a, index), &m, 0);
    if (r == HIL_OK) return hil_aux_deliver(a, &m);
    return r == HIL_ERR_AGAIN ? HIL_OK : r;
}

static const hil_aux_impl t_impl = {
    "selftest", "An auxiliary for the self-tests", sizeof(t_state), t_opts, t_configure, t_create, t_delete, t_run,
    t_abort, t_receive, NULL
};
HIL_AUX_TYPE(t_impl)

/* ---- helpers ---------------------------------------------------------------- */

static hil_channel* loopback(const char* name) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "loopback";
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    return ch;
}

/* An auxiliary on ch (may be NULL) with options. */
static hil_aux* make_aux(const char* type, hil_aux_backend b, hil_channel* ch, const char* const* opts) {
    hil_aux_config c;
    hil_aux* a = hil_aux_get("tested");
    if (a) hil_aux_destroy(a); /* left by a test that failed half-way */
    a = NULL;
    hil_aux_config_init(&c);
    c.name = "tested";
    c.type = type;
    c.backend = (int)b;
    c.com = ch;
    c.options = opts;
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    return a;
}

static hil_result cmd(hil_aux* a, int code, const void* data, size_t len, int blocking, int timeout_ms,
                      hil_aux_report* rep) {
    hil_aux_cmd c;
    c.code = code;
    c.data = data;
    c.len = len;
    return hil_aux_run_command(a, &c, blocking, timeout_ms, rep);
}

static void msleep(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Test-only: wait (bounded) until the worker queued n messages. The
 * simple backend reads only when asked, so there is nothing to wait for. */
static void wait_received(hil_aux* a, uint64_t n, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_aux_stats st;
    if (hil_aux_get_backend(a) == HIL_AUX_SIMPLE) return;
    for (;;) {
        hil_aux_get_stats(a, &st);
        if (st.received + st.dropped >= n || hil_now_ns() > deadline) break;
        msleep(1);
    }
}

/* Log records seen while a test runs (the message, its pid). The callback
 * is installed once, before any thread exists (the log configuration is
 * not for changing while other threads log); a flag turns capture on. */
static hil_mutex logs_mu = {PTHREAD_MUTEX_INITIALIZER};
static char logs_text[8192];
static int logs_pid, logs_on;

static void capture_log(const hil_log_record* rec, void* user) {
    (void)user;
    hil_mutex_lock(&logs_mu);
    if (logs_on && strlen(logs_text) + strlen(rec->message) + 2 < sizeof logs_text) {
        strcat(logs_text, rec->message);
        strcat(logs_text, "\n");
    }
    if (logs_on && strstr(rec->message, "hello from")) logs_pid = rec->pid;
    hil_mutex_unlock(&logs_mu);
    hil_log_default_callback(rec, NULL);
}

HIL__CONSTRUCTOR(install_capture_log) { hil_log_set_callback(capture_log, NULL); }

void st_capture_logs(int on);
int st_logs_have(const char* s);
int st_logs_pid(void);

static void capture_logs(int on) {
    hil_mutex_lock(&logs_mu);
    if (on) {
        logs_text[0] = 0;
        logs_pid = 0;
    }
    logs_on = on;
    hil_mutex_unlock(&logs_mu);
}

static int logs_get_pid(void) {
    int pid;
    hil_mutex_lock(&logs_mu);
    pid = logs_pid;
    hil_mutex_unlock(&logs_mu);
    return pid;
}

static int logs_have(const char* s) {
    int yes;
    hil_mutex_lock(&logs_mu);
    yes = strstr(logs_text, s) != NULL;
    hil_mutex_unlock(&logs_mu);
    return yes;
}

/* ---- messages ---------------------------------------------------------------- */

BACKENDS(messages_round_trip_in_order_with_metadata) {
    hil_aux* a = make_aux("communication", b, loopback("lb"), NULL);
    hil_aux_stats st;
    char buf[64];
    int i;
    for (i = 0; i < 50; i++) {
        hil_msg out;
        char text[16];
        snprintf(text, sizeof text, "msg-%02d", i);
        hil_msg_init(&out, text, strlen(text));
        out.len = strlen(text);
        out.remote_id = 0x700u + (uint32_t)i;
        out.flags = HIL_MSG_EXTENDED;
        HIL_ASSERT_OK(hil_aux_send_message(a, &out, 1000));
    }
    for (i = 0; i < 50; i++) {
        hil_msg m;
        char want[16];
        snprintf(want, sizeof want, "msg-%02d", i);
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 2000));
        HIL_ASSERT_EQ(m.len, strlen(want));
        HIL_ASSERT_MEMEQ(buf, want, m.len);
        HIL_ASSERT_EQ(m.remote_id, 0x700 + i);
        HIL_ASSERT_EQ(m.flags, HIL_MSG_EXTENDED);
        HIL_ASSERT(m.timestamp_ns > 1600000000ull * 1000000000ull, "a wall-clock receive time");
    }
    hil_aux_get_stats(a, &st);
    HIL_EXPECT_EQ(st.received, 50);
    HIL_EXPECT_EQ(st.dropped, 0);
    HIL_EXPECT_EQ(st.queued, 0);
    hil_aux_destroy(a);
}

typedef struct peer_args { int fd; int count; int close_after; } peer_args;

static void* peer_sender(void* arg) {
    peer_args* p = (peer_args*)arg;
    int i;
    for (i = 1; i <= p->count; i++) {
        char text[16];
        int n = snprintf(text, sizeof text, "m%d", i);
        if (send(p->fd, text, (size_t)n, MSG_NOSIGNAL) < 0) break;
    }
    /* shutdown, not only close: a process backend's child holds a copy of
     * this descriptor (fork copies them all), and the end of file must not
     * wait for that copy */
    if (p->close_after) {
        shutdown(p->fd, SHUT_RDWR);
        close(p->fd);
    }
    return NULL;
}

BACKENDS(replies_are_kept_while_nobody_is_receiving) {
    int ours = -1, theirs = -1, i;
    hil_aux* a;
    char buf[32];
    peer_args pa;
    pthread_t t;
    HIL_ASSERT_EQ(st_seqpair(&ours, &theirs), 0);
    a = make_aux("communication", b, st_fdchan_make("peer", ours), NULL);
    pa.fd = theirs;
    pa.count = 20;
    pa.close_after = 0;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, peer_sender, &pa), 0);
    pthread_join(t, NULL);
    wait_received(a, 20, 5000);
    /* pykiso drops what arrives while no receive call waits: not here */
    for (i = 1; i <= 20; i++) {
        hil_msg m;
        char want[16];
        snprintf(want, sizeof want, "m%d", i);
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 2000));
        HIL_ASSERT_EQ(m.len, strlen(want));
        HIL_ASSERT_MEMEQ(buf, want, m.len);
    }
    hil_aux_destroy(a);
    close(theirs);
}

BACKENDS(receive_timeout_and_clear_buffer) {
    hil_aux* a = make_aux("communication", b, loopback("lb"), NULL);
    char buf[16];
    hil_msg m;
    int i;
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_EQ(hil_aux_receive_message(a, &m, 30), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "auxiliary 'tested': nothing received within 30 ms"), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_aux_send_bytes(a, "z", 1, 1000));
    wait_received(a, 1, 5000);
    HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 0), "timeout 0 takes what is there");
    HIL_EXPECT_EQ(buf[0], 'z');
    for (i = 0; i < 5; i++) HIL_ASSERT_OK(hil_aux_send_bytes(a, "x", 1, 1000));
    wait_received(a, 6, 5000);
    HIL_EXPECT_EQ(hil_aux_clear_buffer(a), 5);
    HIL_EXPECT_EQ(hil_aux_receive_message(a, &m, 0), HIL_ERR_TIMEOUT);
    HIL_ASSERT_OK(hil_aux_send_bytes(a, "y", 1, 1000));
    HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 2000));
    HIL_EXPECT_EQ(buf[0], 'y');
    hil_aux_destroy(a);
}

BACKENDS(channel_end_of_file_is_reported_after_the_queued_messages) {
    int ours = -1, theirs = -1;
    hil_aux* a;
    char buf[32], why[400];
    hil_msg m;
    peer_args pa;
    pthread_t t;
    HIL_ASSERT_EQ(st_seqpair(&ours, &theirs), 0);
    a = make_aux("communication", b, st_fdchan_make("board", ours), NULL);
    pa.fd = theirs;
    pa.count = 2;
    pa.close_after = 1;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, peer_sender, &pa), 0);
    pthread_join(t, NULL);
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 2000));
    HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 2000));
    HIL_ASSERT_EQ(hil_aux_receive_message(a, &m, 5000), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "connector 'board' closed"), "%s", hil_last_error());
    hil_aux_why(a, why, sizeof why);
    HIL_EXPECT(strstr(why, "closed"), "%s", why);
    HIL_EXPECT_EQ(hil_aux_get_state(a), HIL_AUX_RUNNING);
    hil_aux_destroy(a);
}

BACKENDS(drop_oldest_counts_every_drop_and_warns) {
    int ours = -1, theirs = -1, got = 0, last = 0;
    hil_aux* a;
    const char* opts[] = {"queue_size=4", "overflow=drop-oldest", NULL};
    char buf[32];
    hil_aux_stats st;
    peer_args pa;
    pthread_t t;
    HIL_ASSERT_EQ(st_seqpair(&ours, &theirs), 0);
    capture_logs(1);
    a = make_aux("communication", b, st_fdchan_make("bus", ours), opts);
    pa.fd = theirs;
    pa.count = 30;
    pa.close_after = 1;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, peer_sender, &pa), 0);
    pthread_join(t, NULL);
    if (b == HIL_AUX_THREAD) wait_received(a, 30, 5000);
    for (;;) {
        hil_msg m;
        hil_result r;
        int n;
        hil_msg_init(&m, buf, sizeof buf - 1);
        r = hil_aux_receive_message(a, &m, 5000);
        if (r == HIL_ERR_CLOSED) break;
        HIL_ASSERT_OK(r);
        buf[m.len] = 0;
        n = atoi(buf + 1);
        HIL_ASSERT_GT(n, last, "in order, oldest dropped first");
        last = n;
        got++;
    }
    hil_aux_get_stats(a, &st);
    capture_logs(0);
    HIL_EXPECT_EQ(last, 30, "the newest message is kept");
    HIL_EXPECT_EQ((uint64_t)got + st.dropped, 30, "every message is received or counted as dropped");
    HIL_EXPECT_GT(st.dropped, 0);
    HIL_EXPECT(logs_have("received messages dropped"), "a warning names the drops");
    hil_aux_destroy(a);
}

BACKENDS(block_policy_loses_nothing) {
    int ours = -1, theirs = -1, i;
    hil_aux* a;
    const char* opts[] = {"queue_size=4", "overflow=block", NULL};
    char buf[32];
    hil_aux_stats st;
    peer_args pa;
    pthread_t t;
    HIL_ASSERT_EQ(st_seqpair(&ours, &theirs), 0);
    a = make_aux("communication", b, st_fdchan_make("bus", ours), opts);
    pa.fd = theirs;
    pa.count = 100;
    pa.close_after = 0;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, peer_sender, &pa), 0);
    for (i = 1; i <= 100; i++) {
        hil_msg m;
        char want[16];
        snprintf(want, sizeof want, "m%d", i);
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 5000));
        HIL_ASSERT_EQ(m.len, strlen(want));
        HIL_ASSERT_MEMEQ(buf, want, m.len);
    }
    pthread_join(t, NULL);
    hil_aux_get_stats(a, &st);
    HIL_EXPECT_EQ(st.dropped, 0);
    hil_aux_destroy(a);
    close(theirs);
}

/* ---- commands ------------------------------------------------------------------ */

BACKENDS(commands_blocking_and_queued_reports) {
    hil_aux* a = make_aux("selftest", b, NULL, NULL);
    hil_aux_report rep;
    int i;
    HIL_ASSERT_OK(cmd(a, T_ECHO, "abc", 3, 1, 2000, &rep));
    HIL_EXPECT_EQ(rep.result, HIL_OK);
    HIL_EXPECT_EQ(rep.code, T_ECHO);
    HIL_EXPECT_EQ(rep.len, 3);
    HIL_EXPECT_MEMEQ(rep.data, "abc", 3);
    for (i = 0; i < 3; i++) {
        char d = (char)('1' + i);
        HIL_ASSERT_OK(cmd(a, T_ECHO, &d, 1, 0, 0, NULL));
    }
    for (i = 0; i < 3; i++) {
        HIL_ASSERT_OK(hil_aux_wait_and_get_report(a, &rep, 2000));
        HIL_EXPECT_EQ(rep.result, HIL_OK);
        HIL_EXPECT_EQ(rep.data[0], '1' + i, "reports in command order");
    }
    HIL_EXPECT_EQ(hil_aux_wait_and_get_report(a, &rep, 20), HIL_ERR_TIMEOUT);
    HIL_EXPECT_EQ(cmd(a, T_FAIL, NULL, 0, 1, 2000, &rep), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "auxiliary 'tested': failing on purpose"), "%s", hil_last_error());
    HIL_EXPECT(strstr(rep.text, "failing on purpose"), "%s", rep.text);
    HIL_ASSERT_OK(cmd(a, T_PID, NULL, 0, 1, 2000, &rep));
    if (b == HIL_AUX_PROCESS) {
        HIL_EXPECT_NE(rep.status, (int)getpid(), "the implementation runs in the child");
        HIL_EXPECT_EQ(rep.status, hil_aux_child_pid(a));
    } else {
        HIL_EXPECT_EQ(rep.status, (int)getpid());
    }
    hil_aux_destroy(a);
}

BACKENDS(abort_interrupts_a_waiting_command) {
    hil_aux* a = make_aux("selftest", b, NULL, NULL);
    hil_aux_report rep;
    int forever = -1;
    if (b == HIL_AUX_SIMPLE) {
        /* simple runs the command in the caller: nothing to abort from here */
        HIL_ASSERT_OK(hil_aux_abort_command(a, 1000));
        HIL_ASSERT_OK(cmd(a, T_ABORTS, NULL, 0, 1, 1000, &rep));
        HIL_EXPECT_EQ(rep.status, 1);
        hil_aux_destroy(a);
        return;
    }
    HIL_ASSERT_OK(cmd(a, T_WAIT, &forever, sizeof forever, 0, 0, NULL));
    HIL_ASSERT_OK(hil_aux_abort_command(a, 2000));
    HIL_ASSERT_OK(hil_aux_wait_and_get_report(a, &rep, 2000));
    HIL_EXPECT_EQ(rep.result, HIL_ERR_ABORTED);
    HIL_EXPECT(strstr(rep.text, "abort"), "%s", rep.text);
    HIL_ASSERT_OK(cmd(a, T_ABORTS, NULL, 0, 1, 1000, &rep));
    HIL_EXPECT_EQ(rep.status, 1, "the implementation's abort_command ran once");
    hil_aux_destroy(a);
}

typedef struct call_args { hil_aux* a; hil_result r; int code; char err[600]; } call_args;

static void* blocking_wait_call(void* arg) {
    call_args* c = (call_args*)arg;
    int forever = -1;
    c->r = cmd(c->a, T_WAIT, &forever, sizeof forever, 1, -1, NULL);
    snprintf(c->err, sizeof c->err, "%s", hil_last_error());
    return NULL;
}

BACKENDS(a_command_that_never_completes_times_out_and_is_aborted) {
    hil_aux* a = make_aux("selftest", b, NULL, NULL);
    hil_aux_report rep;
    int forever = -1;
    uint64_t t0;
    if (b == HIL_AUX_SIMPLE) {
        /* simple: the command runs in this thread; another thread aborts it */
        call_args c;
        pthread_t t;
        memset(&c, 0, sizeof c);
        c.a = a;
        HIL_ASSERT_EQ(pthread_create(&t, NULL, blocking_wait_call, &c), 0);
        msleep(30);
        HIL_ASSERT_OK(hil_aux_abort_command(a, 5000));
        pthread_join(t, NULL);
        HIL_EXPECT_EQ(c.r, HIL_ERR_ABORTED, "%s", c.err);
        hil_aux_destroy(a);
        return;
    }
    t0 = hil_now_ns();
    HIL_ASSERT_EQ(cmd(a, T_WAIT, &forever, sizeof forever, 1, 100, &rep), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "no report within 100 ms (aborted)"), "%s", hil_last_error());
    HIL_EXPECT_LT(hil_now_ns() - t0, 3000000000ull, "returned at its timeout, not later");
    HIL_ASSERT_OK(cmd(a, T_ECHO, "z", 1, 1, 2000, &rep), "the auxiliary works after the timeout");
    HIL_ASSERT_OK(cmd(a, T_ABORTS, NULL, 0, 1, 1000, &rep));
    HIL_EXPECT_EQ(rep.status, 1, "the timed-out command was aborted");
    hil_aux_destroy(a);
}

typedef struct lock_args { hil_aux* a; int timeout; hil_result r; } lock_args;

static void* locker(void* arg) {
    lock_args* l = (lock_args*)arg;
    l->r = hil_aux_lock_it(l->a, l->timeout);
    if (l->r == HIL_OK) hil_aux_unlock_it(l->a);
    return NULL;
}

BACKENDS(lock_contention) {
    hil_aux* a = make_aux("selftest", b, NULL, NULL);
    lock_args l;
    pthread_t t;
    HIL_ASSERT_OK(hil_aux_lock_it(a, 0));
    l.a = a;
    l.timeout = 50;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, locker, &l), 0);
    pthread_join(t, NULL);
    HIL_EXPECT_EQ(l.r, HIL_ERR_TIMEOUT);
    l.timeout = 10000;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, locker, &l), 0);
    msleep(20);
    hil_aux_unlock_it(a);
    pthread_join(t, NULL);
    HIL_EXPECT_EQ(l.r, HIL_OK, "the waiter gets the lock when it is released");
    /* a waiter is woken with a result when the auxiliary stops */
    HIL_ASSERT_OK(hil_aux_lock_it(a, 0));
    l.timeout = -1;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, locker, &l), 0);
    msleep(20);
    HIL_ASSERT_OK(hil_aux_stop(a, 5000));
    pthread_join(t, NULL);
    HIL_EXPECT_EQ(l.r, HIL_ERR_STOPPED);
    hil_aux_destroy(a);
}

/* ---- lifecycle --------------------------------------------------------------------- */

BACKENDS(suspend_refuses_calls_and_resume_brings_it_back) {
    hil_aux* a = make_aux("communication", b, loopback("lb"), NULL);
    char buf[8];
    hil_msg m;
    HIL_ASSERT_OK(hil_aux_suspend(a, 5000));
    HIL_EXPECT_EQ(hil_aux_get_state(a), HIL_AUX_SUSPENDED);
    HIL_EXPECT_EQ(hil_aux_send_bytes(a, "x", 1, 100), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "suspended"), "%s", hil_last_error());
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_aux_receive_message(a, &m, 1000), HIL_ERR_STATE);
    HIL_ASSERT_OK(hil_aux_resume(a, 5000));
    HIL_EXPECT_EQ(hil_aux_get_state(a), HIL_AUX_RUNNING);
    HIL_ASSERT_OK(hil_aux_send_bytes(a, "y", 1, 1000));
    HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 2000));
    HIL_EXPECT_EQ(buf[0], 'y');
    hil_aux_destroy(a);
}

BACKENDS(calls_on_a_stopped_auxiliary_return_at_once_and_it_starts_again) {
    hil_aux* a = make_aux("selftest", b, NULL, NULL);
    hil_aux_report rep;
    char buf[8];
    hil_msg m;
    uint64_t t0;
    HIL_ASSERT_OK(hil_aux_stop(a, 5000));
    HIL_EXPECT_EQ(hil_aux_get_state(a), HIL_AUX_STOPPED);
    t0 = hil_now_ns();
    HIL_EXPECT_EQ(cmd(a, T_ECHO, "x", 1, 1, -1, &rep), HIL_ERR_STOPPED);
    HIL_EXPECT(strstr(hil_last_error(), "auxiliary 'tested' is stopped"), "%s", hil_last_error());
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_aux_receive_message(a, &m, -1), HIL_ERR_STOPPED);
    HIL_EXPECT_EQ(hil_aux_lock_it(a, -1), HIL_ERR_STOPPED);
    HIL_EXPECT_EQ(hil_aux_wait_and_get_report(a, &rep, -1), HIL_ERR_STOPPED);
    HIL_EXPECT_LT(hil_now_ns() - t0, 2000000000ull, "no call waited");
    HIL_ASSERT_OK(hil_aux_start(a, 5000));
    HIL_ASSERT_OK(cmd(a, T_ECHO, "x", 1, 1, 2000, &rep));
    hil_aux_destroy(a);
}

static void* blocking_receive(void* arg) {
    call_args* c = (call_args*)arg;
    char buf[8];
    hil_msg m;
    hil_msg_init(&m, buf, sizeof buf);
    c->r = hil_aux_receive_message(c->a, &m, -1);
    snprintf(c->err, sizeof c->err, "%s", hil_last_error());
    return NULL;
}

BACKENDS(delete_during_blocking_calls_wakes_them_with_a_result) {
    hil_aux* a = make_aux("selftest", b, loopback("lb"), NULL);
    call_args c1, c2;
    pthread_t t1, t2;
    uint64_t t0;
    memset(&c1, 0, sizeof c1);
    memset(&c2, 0, sizeof c2);
    c1.a = c2.a = a;
    HIL_ASSERT_EQ(pthread_create(&t1, NULL, blocking_wait_call, &c1), 0);
    HIL_ASSERT_EQ(pthread_create(&t2, NULL, blocking_receive, &c2), 0);
    msleep(50); /* both are blocked now (forever, without the delete) */
    t0 = hil_now_ns();
    hil_aux_destroy(a);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    HIL_EXPECT_LT(hil_now_ns() - t0, 3000000000ull, "delete returned promptly");
    HIL_EXPECT_EQ(c1.r, HIL_ERR_STOPPED, "%s", c1.err);
    HIL_EXPECT_EQ(c2.r, HIL_ERR_STOPPED, "%s", c2.err);
}

BACKENDS(a_failed_start_is_reported_and_calls_say_why) {
    hil_aux_config c;
    hil_aux* a = NULL;
    const char* opts[] = {"fail_create=true", NULL};
    hil_aux_report rep;
    char why[600];
    hil_aux_config_init(&c);
    c.name = "tested";
    c.type = "selftest";
    c.backend = (int)b;
    c.options = opts;
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "auxiliary 'tested': the bench supply is off"), "%s", hil_last_error());
    HIL_EXPECT(a == NULL);
    HIL_EXPECT(hil_aux_get("tested") == NULL, "nothing left behind");
    c.auto_start = 0;
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    HIL_EXPECT_EQ(hil_aux_get_state(a), HIL_AUX_NEW);
    HIL_EXPECT_EQ(cmd(a, T_ECHO, "x", 1, 1, 100, &rep), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "not started"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_aux_start(a, 5000), HIL_ERR_IO);
    HIL_EXPECT_EQ(hil_aux_get_state(a), HIL_AUX_FAILED);
    hil_aux_why(a, why, sizeof why);
    HIL_EXPECT(strstr(why, "the bench supply is off"), "%s", why);
    HIL_EXPECT_EQ(cmd(a, T_ECHO, "x", 1, 1, 100, &rep), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "failed to start: "), "%s", hil_last_error());
    hil_aux_destroy(a);
}

BACKENDS(a_slow_start_times_out_and_stops_cleanly) {
    hil_aux_config c;
    hil_aux* a = NULL;
    const char* opts[] = {"create_wait_ms=-1", "start_timeout_ms=100", NULL};
    hil_aux_config_init(&c);
    c.name = "tested";
    c.type = "selftest";
    c.backend = (int)b;
    c.options = opts;
    if (b == HIL_AUX_SIMPLE) {
        /* create_instance runs in the caller here: no time limit can stop
         * it, so a slow start simply completes */
        const char* slow[] = {"create_wait_ms=150", "start_timeout_ms=100", NULL};
        uint64_t t0 = hil_now_ns();
        c.options = slow;
        HIL_ASSERT_OK(hil_aux_create(&c, &a));
        HIL_EXPECT_GE(hil_now_ns() - t0, 150000000ull, "the caller waited for create_instance");
        hil_aux_destroy(a);
        return;
    }
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "create_instance did not finish within 100 ms"), "%s", hil_last_error());
}

BACKENDS(logs_of_the_worker_reach_the_log) {
    hil_aux* a = make_aux("selftest", b, NULL, NULL);
    char text[64];
    int n = snprintf(text, sizeof text, "hello from %s", hil_aux_backend_str(b));
    int child = hil_aux_child_pid(a);
    capture_logs(1);
    HIL_ASSERT_OK(cmd(a, T_LOG, text, (size_t)n, 1, 2000, NULL));
    /* the record is logged before the command's report comes back */
    HIL_EXPECT(logs_have(text), "the worker's record was logged");
    HIL_EXPECT_EQ(logs_get_pid(), b == HIL_AUX_PROCESS ? child : (int)getpid(), "the record keeps the pid that logged it");
    capture_logs(0);
    hil_aux_destroy(a);
}

BACKENDS(the_worker_and_test_threads_send_together) {
    hil_aux* a = make_aux("selftest", b, loopback("lb"), NULL);
    char buf[8];
    int seen_w = 0, seen_t = 0, i;
    for (i = 0; i < 20; i++) {
        HIL_ASSERT_OK(cmd(a, T_SEND, "w", 1, 0, 0, NULL));
        HIL_ASSERT_OK(hil_aux_send_bytes(a, "t", 1, 1000));
    }
    for (i = 0; i < 40; i++) {
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_aux_receive_message(a, &m, 5000));
        if (buf[0] == 'w') seen_w++;
        else if (buf[0] == 't') seen_t++;
    }
    HIL_EXPECT_EQ(seen_w, 20);
    HIL_EXPECT_EQ(seen_t, 20);
    hil_aux_destroy(a);
}

/* ---- creation errors (whatever the backend) -------------------------------------------- */

HIL_TEST(aux_core, creation_errors_name_the_auxiliary_and_the_fix) {
    hil_aux_config c;
    hil_aux* a = NULL;
    const char* bad_key[] = {"baudrate=9600", NULL};
    const char* bad_backend[] = {"backend=fiber", NULL};
    const char* bad_queue[] = {"queue_size=0", NULL};
    hil_aux_config_init(&c);
    c.name = "com";
    c.type = "telepathy";
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "auxiliary 'com': unknown type 'telepathy' (registered: ") &&
               strstr(hil_last_error(), "communication") && strstr(hil_last_error(), "dut"), "%s", hil_last_error());
    c.type = "communication";
    c.options = bad_key;
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "not an option of type 'communication': auxiliaries.com.baudrate"),
               "%s", hil_last_error());
    c.options = bad_backend;
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "unknown auxiliary backend 'fiber'"), "%s", hil_last_error());
    c.options = bad_queue;
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "queue_size: must be 1..10000000"), "%s", hil_last_error());
    c.options = NULL;
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "no com channel: set auxiliaries.com.connectors.com"), "%s", hil_last_error());
    c.com = loopback("lb");
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    {
        hil_aux* b2 = NULL;
        hil_aux_config c2 = c;
        c2.com = loopback("lb2");
        HIL_EXPECT_EQ(hil_aux_create(&c2, &b2), HIL_ERR_EXISTS);
        HIL_EXPECT(strstr(hil_last_error(), "auxiliary 'com' exists already"), "%s", hil_last_error());
    }
    HIL_EXPECT(hil_aux_get("com") == a);
    HIL_EXPECT_STREQ(hil_aux_type(a), "communication");
    hil_aux_destroy(a);
    HIL_EXPECT(hil_aux_get("com") == NULL);
}

HIL_TEST(aux_core, names_of_states_and_backends) {
    hil_aux_backend b;
    HIL_EXPECT_STREQ(hil_aux_state_str(HIL_AUX_CRASHED), "crashed");
    HIL_EXPECT_STREQ(hil_aux_backend_str(HIL_AUX_PROCESS), "process");
    HIL_ASSERT_OK(hil_aux_backend_parse("simple", &b));
    HIL_EXPECT_EQ(b, HIL_AUX_SIMPLE);
    HIL_EXPECT_EQ(hil_aux_backend_parse("green", &b), HIL_ERR_CONFIG);
}

/* For the other aux test files (one log callback for the whole program). */
void st_capture_logs(int on) { capture_logs(on); }
int st_logs_have(const char* s) { return logs_have(s); }
int st_logs_pid(void) { return logs_get_pid(); }
