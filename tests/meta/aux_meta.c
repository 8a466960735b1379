/* A test program using configured auxiliaries, run by tests/test_aux_meta.c:
 *
 *   aux_meta run -c lab.conf --json results.json    the tests below
 *   aux_meta orphan                                 creates a process auxiliary,
 *                                                   prints its child's pid, exits
 *                                                   without deleting it
 *
 * The "target" connector (type simproc) starts build/meta/dut_sim (a device
 * simulator built on hil_target.h) on a socketpair. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include "../aux_testlib.h"

/* ---- simproc: the simulator as a channel ------------------------------------ */

typedef struct simproc { const char* path; const char* mode; hil_proc proc; int fd; int running; } simproc;

static const hil_channel_opt simproc_opts[] = {
    {"path", HIL_OPT_PATH, NULL, "simproc: the simulator program", NULL},
    {"mode", HIL_OPT_STRING, "normal", "simproc: the simulator's mode", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result simproc_configure(hil_channel* ch) {
    simproc* s = (simproc*)hil_channel_state(ch);
    s->path = hil_channel_opt_str(ch, "path", NULL);
    s->mode = hil_channel_opt_str(ch, "mode", "normal");
    s->fd = -1;
    if (!s->path) return hil_channel_error(ch, HIL_ERR_CONFIG, "option path: required");
    s->path = hil_strdup(s->path);
    s->mode = hil_strdup(s->mode);
    return HIL_OK;
}

static hil_result simproc_open(hil_channel* ch) {
    simproc* s = (simproc*)hil_channel_state(ch);
    s->fd = st_sim_start(s->path, s->mode, &s->proc);
    if (s->fd < 0) return hil_channel_error(ch, HIL_ERR_IO, "cannot start %s", s->path);
    s->running = 1;
    return HIL_OK;
}

static void simproc_close(hil_channel* ch) {
    simproc* s = (simproc*)hil_channel_state(ch);
    if (s->fd >= 0) { shutdown(s->fd, SHUT_RDWR); close(s->fd); s->fd = -1; }
    if (s->running) {
        hil_proc_wait(&s->proc, 2000); /* it ends at end of file */
        hil_proc_terminate(&s->proc, 0);
        hil_proc_close(&s->proc);
        s->running = 0;
    }
}

static hil_result simproc_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    simproc* s = (simproc*)hil_channel_state(ch);
    (void)timeout_ms;
    if (send(s->fd, m->data, m->len, MSG_NOSIGNAL) < 0)
        return hil_channel_error(ch, HIL_ERR_CLOSED, "send: %s", strerror(errno));
    return HIL_OK;
}

static hil_result simproc_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    simproc* s = (simproc*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        ssize_t n = recv(s->fd, m->data, m->cap, MSG_DONTWAIT);
        if (n > 0) { m->len = (size_t)n; return HIL_OK; }
        if (n == 0 || errno == ECONNRESET) return hil_channel_error(ch, HIL_ERR_CLOSED, "the simulator is gone");
        if (errno != EAGAIN && errno != EINTR) return hil_channel_error(ch, HIL_ERR_IO, "recv: %s", strerror(errno));
        if (timeout_ms == 0) return HIL_ERR_AGAIN;
        if (hil_wait_readable(s->fd, hil_deadline_left_ms(deadline)) == HIL_ERR_TIMEOUT) return HIL_ERR_TIMEOUT;
    }
}

static int simproc_poll_fd(hil_channel* ch) { return ((simproc*)hil_channel_state(ch))->fd; }

static void simproc_destroy(hil_channel* ch) {
    simproc* s = (simproc*)hil_channel_state(ch);
    free((void*)s->path);
    free((void*)s->mode);
}

static const hil_channel_type simproc_type = {
    "simproc", "Tests: the device simulator on a socketpair", 0, sizeof(simproc), simproc_opts, simproc_configure,
    simproc_open, simproc_close, simproc_send, simproc_recv, simproc_poll_fd, simproc_destroy
};
HIL_CHANNEL_TYPE(simproc_type)

/* ---- probe: an auxiliary that logs and crashes on command --------------------- */

static hil_result probe_create(hil_aux* a) { (void)a; return HIL_OK; }
static void probe_delete(hil_aux* a) { (void)a; }
static hil_result probe_run(hil_aux* a, const hil_aux_cmd* cmd, hil_aux_report* rep) {
    (void)rep;
    if (cmd->code == 1) HIL_INFO(hil_aux_logger(a), "%.*s (pid %d)", (int)cmd->len, (const char*)cmd->data, (int)getpid());
    if (cmd->code == 2) raise(SIGSEGV);
    return HIL_OK;
}
static const hil_aux_impl probe_impl = {
    "probe", "Tests: logs and crashes on command", 0, NULL, NULL, probe_create, probe_delete, probe_run, NULL, NULL, NULL
};
HIL_AUX_TYPE(probe_impl)

static hil_result probe_cmd(const char* name, int code, const char* text) {
    hil_aux_cmd c;
    c.code = code;
    c.data = text;
    c.len = text ? strlen(text) : 0;
    return hil_aux_run_command(hil_aux_get(name), &c, 1, 10000, NULL);
}

/* ---- remote tests: they run on the simulator ----------------------------------- */

HIL_SUITE(fw, "id=1")
HIL_REMOTE_SUITE_SETUP(fw, "dut", 1);
HIL_REMOTE_SUITE_TEARDOWN(fw, "dut", 1);
HIL_REMOTE_TEST(fw, adds, "dut", 1, 1);
HIL_REMOTE_TEST(fw, off_by_one, "dut", 1, 2);
HIL_REMOTE_TEST(fw, not_there, "dut", 1, 3);
HIL_REMOTE_TEST(fw, no_power, "dut", 1, 5);
HIL_REMOTE_TEST_META(fw, bad_cleanup, "dut", 1, 7, "tags=cleanup");

HIL_SUITE(nohw, "id=3")
HIL_REMOTE_SUITE_SETUP(nohw, "dut", 3);
HIL_REMOTE_TEST(nohw, blocked_by_suite, "dut", 3, 1);

/* ---- configured auxiliaries ---------------------------------------------------------- */

HIL_TEST_META(meta, missing_aux, "requires=nothere") { HIL_FAIL("a test whose auxiliary is missing must not run"); }

HIL_TEST_META(meta, child_logs, "requires=probe2") {
    HIL_ASSERT_OK(probe_cmd("probe2", 1, "hello from the child process"));
}

HIL_TEST_META(meta, crash, "requires=probe") {
    hil_result r = probe_cmd("probe", 2, NULL);
    HIL_EXPECT_EQ(r, HIL_ERR_CRASHED, "%s", hil_last_error());
}

HIL_TEST_META(meta, after_crash, "requires=probe") { HIL_FAIL("a crashed auxiliary blocks the tests that need it"); }

HIL_TEST_META(meta, drops, "requires=dropper") {
    hil_aux* d = hil_aux_get("dropper");
    char buf[8];
    hil_msg m;
    int i, got = 0;
    hil_aux_stats st;
    for (i = 0; i < 10; i++) HIL_ASSERT_OK(hil_aux_send_bytes(d, "x", 1, 1000));
    /* wait for the last one to come back: bounded, test-only */
    for (i = 0; i < 1000; i++) {
        struct timespec ts = {0, 1000000};
        hil_aux_get_stats(d, &st);
        if (st.received + st.dropped >= 10) break;
        nanosleep(&ts, NULL);
    }
    hil_msg_init(&m, buf, sizeof buf);
    while (hil_aux_receive_message(d, &m, 100) == HIL_OK) got++;
    hil_aux_get_stats(d, &st);
    HIL_EXPECT_EQ((uint64_t)got + st.dropped, 10);
}

HIL_TEST_META(meta, shared_connector, "requires=c1,c2") {
    char buf[8];
    hil_msg m;
    HIL_ASSERT(hil_aux_get("proxy:lb") != NULL, "a proxy was inserted for connector lb");
    HIL_ASSERT_OK(hil_aux_send_bytes(hil_aux_get("c1"), "s", 1, 1000));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_aux_receive_message(hil_aux_get("c1"), &m, 3000));
    HIL_ASSERT_OK(hil_aux_receive_message(hil_aux_get("c2"), &m, 3000));
}

HIL_TEST(meta, worker_crash) { raise(SIGSEGV); }

HIL_TEST_META(meta, after_worker_crash, "requires=c1") {
    char buf[8];
    hil_msg m;
    HIL_ASSERT_OK(hil_aux_send_bytes(hil_aux_get("c1"), "k", 1, 1000));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_aux_receive_message(hil_aux_get("c1"), &m, 3000));
    HIL_ASSERT_EQ(buf[0], 'k');
}

static int orphan(void) {
    hil_aux_config c;
    hil_aux* a = NULL;
    hil_aux_config_init(&c);
    c.name = "orphan";
    c.type = "probe";
    c.backend = HIL_AUX_PROCESS;
    if (hil_aux_create(&c, &a) != HIL_OK) {
        printf("create: %s\n", hil_last_error());
        return 1;
    }
    printf("child pid %d\n", hil_aux_child_pid(a));
    fflush(stdout);
    _exit(0); /* no delete: the child must notice and end by itself */
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "orphan") == 0) return orphan();
    return hil_main(argc, argv);
}
