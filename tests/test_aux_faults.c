/* Process backend faults: the child killed in the middle of a command, the
 * child crashing, a receive waiting when it dies; no zombie is left. (The
 * crash making the running test Errored is checked by tests/meta/aux_meta.c;
 * here crash_errors_test=false keeps these tests' own results.) */
#include "selftest.h"
#include "aux_testlib.h"
#include <pthread.h>
#include <sys/wait.h>

HIL_SUITE(aux_faults, "tags=aux")

/* The "selftest" implementation of test_aux_core.c: T_WAIT = 2, T_CRASH = 4, T_ECHO = 1. */
enum { F_ECHO = 1, F_WAIT = 2, F_CRASH = 4 };

static hil_aux* child_aux(void) {
    hil_aux_config c;
    hil_aux* a = hil_aux_get("victim");
    const char* opts[] = {"crash_errors_test=false", NULL};
    hil_channel_config cc;
    if (a) hil_aux_destroy(a);
    a = NULL;
    hil_channel_config_init(&cc);
    cc.name = "lb";
    cc.type = "loopback";
    hil_aux_config_init(&c);
    c.name = "victim";
    c.type = "selftest";
    c.backend = HIL_AUX_PROCESS;
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&cc, &c.com));
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    return a;
}

typedef struct fcall { hil_aux* a; int what; hil_result r; char err[600]; } fcall;

static void* fault_call(void* arg) {
    fcall* f = (fcall*)arg;
    if (f->what == 0) {
        hil_aux_cmd c;
        int forever = -1;
        c.code = F_WAIT;
        c.data = &forever;
        c.len = sizeof forever;
        f->r = hil_aux_run_command(f->a, &c, 1, -1, NULL);
    } else {
        char buf[8];
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf);
        f->r = hil_aux_receive_message(f->a, &m, -1);
    }
    snprintf(f->err, sizeof f->err, "%s", hil_last_error());
    return NULL;
}

static void no_zombie(int pid) {
    int st;
    errno = 0;
    HIL_EXPECT_EQ(waitpid(pid, &st, WNOHANG), -1, "pid %d was reaped", pid);
    HIL_EXPECT_EQ(errno, ECHILD);
    HIL_EXPECT_EQ(kill(pid, 0), -1, "pid %d is gone", pid);
}

HIL_TEST(aux_faults, child_killed_in_the_middle_of_a_command) {
    hil_aux* a = child_aux();
    int pid = hil_aux_child_pid(a);
    fcall f1, f2;
    pthread_t t1, t2;
    char why[600];
    uint64_t t0;
    hil_aux_report rep;
    hil_aux_cmd c;
    struct timespec ts = {0, 50000000};
    HIL_ASSERT_GT(pid, 0);
    memset(&f1, 0, sizeof f1);
    memset(&f2, 0, sizeof f2);
    f1.a = f2.a = a;
    f2.what = 1;
    HIL_ASSERT_EQ(pthread_create(&t1, NULL, fault_call, &f1), 0);
    HIL_ASSERT_EQ(pthread_create(&t2, NULL, fault_call, &f2), 0);
    nanosleep(&ts, NULL); /* both wait, forever without the crash */
    t0 = hil_now_ns();
    HIL_ASSERT_EQ(kill(pid, SIGKILL), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    HIL_EXPECT_LT(hil_now_ns() - t0, 3000000000ull, "noticed at once");
    HIL_EXPECT_EQ(f1.r, HIL_ERR_CRASHED, "%s", f1.err);
    HIL_EXPECT(strstr(f1.err, "killed by SIGKILL"), "the error names the signal: %s", f1.err);
    HIL_EXPECT_EQ(f2.r, HIL_ERR_CRASHED, "%s", f2.err);
    HIL_EXPECT_EQ(hil_aux_get_state(a), HIL_AUX_CRASHED);
    hil_aux_why(a, why, sizeof why);
    HIL_EXPECT(strstr(why, "auxiliary 'victim': its process (pid ") && strstr(why, "killed by SIGKILL"), "%s", why);
    /* later calls say so at once */
    c.code = F_ECHO;
    c.data = "x";
    c.len = 1;
    t0 = hil_now_ns();
    HIL_EXPECT_EQ(hil_aux_run_command(a, &c, 1, -1, &rep), HIL_ERR_CRASHED);
    HIL_EXPECT(strstr(hil_last_error(), "SIGKILL"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_aux_send_bytes(a, "x", 1, -1), HIL_ERR_CRASHED);
    HIL_EXPECT_LT(hil_now_ns() - t0, 1000000000ull);
    HIL_EXPECT_EQ(hil_aux_child_pid(a), 0);
    hil_aux_destroy(a);
    no_zombie(pid);
}

HIL_TEST(aux_faults, a_crash_inside_a_command_names_the_signal) {
    hil_aux* a = child_aux();
    int pid = hil_aux_child_pid(a);
    hil_aux_cmd c;
    /* SIGABRT: under AddressSanitizer a SIGSEGV becomes an exit status (the
     * SIGSEGV case runs in tests/meta/aux_meta.c, without that handler) */
    int sig = SIGABRT;
    c.code = F_CRASH;
    c.data = &sig;
    c.len = sizeof sig;
    HIL_EXPECT_EQ(hil_aux_run_command(a, &c, 1, 10000, NULL), HIL_ERR_CRASHED);
    HIL_EXPECT(strstr(hil_last_error(), "killed by SIGABRT"), "%s", hil_last_error());
    /* it can be started again (the dead child is reaped first) */
    HIL_ASSERT_OK(hil_aux_start(a, 5000));
    c.code = F_ECHO;
    c.data = "y";
    c.len = 1;
    HIL_EXPECT_OK(hil_aux_run_command(a, &c, 1, 5000, NULL));
    HIL_EXPECT_NE(hil_aux_child_pid(a), pid, "a new child");
    hil_aux_destroy(a);
    no_zombie(pid);
}

HIL_TEST(aux_faults, delete_reaps_the_child_at_once) {
    hil_aux* a = child_aux();
    int pid = hil_aux_child_pid(a);
    uint64_t t0 = hil_now_ns();
    hil_aux_destroy(a);
    HIL_EXPECT_LT(hil_now_ns() - t0, 2000000000ull);
    no_zombie(pid);
}

HIL_TEST(aux_faults, the_child_ends_when_its_parent_dies) {
    const char* argv[] = {st_meta("aux_meta"), "orphan", NULL};
    st_result r;
    int pid = 0;
    const char* p;
    uint64_t deadline;
    st_run(argv, NULL, 20000, &r);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    p = strstr(r.out, "child pid ");
    HIL_ASSERT(p != NULL, "%s", r.out);
    pid = atoi(p + 10);
    HIL_ASSERT_GT(pid, 0);
    st_result_free(&r);
    /* test-only bounded wait: the orphan sees its socket end and exits;
     * whoever adopted it reaps it */
    deadline = hil_deadline_ms(10000);
    while (kill(pid, 0) == 0 && hil_now_ns() < deadline) {
        struct timespec ts = {0, 5000000};
        char path[64], state = 0;
        FILE* f;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%*d %*s %c", &state) != 1) state = 0;
            fclose(f);
        }
        if (state == 'Z') break; /* exited; reaping is its adopter's business */
        nanosleep(&ts, NULL);
    }
    {
        char path[64], state = 0;
        FILE* f;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%*d %*s %c", &state) != 1) state = 0;
            fclose(f);
        }
        HIL_EXPECT(!f || state == 'Z', "the orphaned child (pid %d) is still running (state %c)", pid, state);
    }
}
