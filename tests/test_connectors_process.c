/* The process channel against a real simulator (build/meta/sim_device):
 * talking over stdin/stdout, its exit and crash reported with the status,
 * stderr into the log, the process group killed at close. */
#include "selftest.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

HIL_SUITE(process_channel, "tags=connectors")

/* Under the sanitizer builds the simulator must die of its signal itself. */
#define SIM_ENV "env=ASAN_OPTIONS=handle_segv=0:detect_leaks=0 TSAN_OPTIONS=handle_segv=0"

static hil_channel* open_sim(const char* name, const char* extra) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char cmd[600];
    const char* opts[5];
    int n = 0;
    snprintf(cmd, sizeof cmd, "command=%s", st_meta("sim_device"));
    opts[n++] = cmd;
    opts[n++] = "framing=line";
    opts[n++] = SIM_ENV;
    if (extra) opts[n++] = extra;
    opts[n] = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "process";
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

HIL_TEST(process_channel, talks_to_a_simulator_over_stdin_and_stdout) {
    hil_channel* ch = open_sim("sim", NULL);
    int pid = hil_process_pid(ch);
    HIL_EXPECT_GT(pid, 0);
    ask(ch, "ping", "pong");
    ask(ch, "echo hello world", "hello world");
    {
        hil_channel_stats st;
        hil_channel_get_stats(ch, &st);
        HIL_EXPECT_EQ(st.tx_msgs, 2);
        HIL_EXPECT_EQ(st.rx_msgs, 2);
    }
    hil_channel_destroy(ch);
    HIL_EXPECT(kill(pid, 0) != 0, "the simulator (pid %d) is gone after destroy", pid);
}

HIL_TEST(process_channel, an_exit_is_reported_with_its_status) {
    hil_channel* ch = open_sim("sim", NULL);
    char buf[64];
    hil_msg m;
    ask(ch, "echo before", "before");
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "exit 3", 6, 1000));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_EQ(hil_channel_recv(ch, &m, 5000), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "process 'sim': '") && strstr(hil_last_error(), "sim_device' exited with status 3"),
               "%s", hil_last_error());
    /* and stays reported, for receive and send */
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 100), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "exited with status 3"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_channel_send_bytes(ch, "ping", 4, 100), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "cannot send: '") && strstr(hil_last_error(), "exited with status 3"), "%s",
               hil_last_error());
    HIL_EXPECT_EQ(hil_process_pid(ch), -1);
    hil_channel_destroy(ch);
}

HIL_TEST(process_channel, a_crash_is_reported_with_the_signal) {
    hil_channel* ch = open_sim("crashy", NULL);
    char buf[64];
    hil_msg m;
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "crash", 5, 1000));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_EQ(hil_channel_recv(ch, &m, 5000), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "killed by SIGSEGV"), "%s", hil_last_error());
    hil_channel_destroy(ch);
}

HIL_TEST(process_channel, wait_gives_the_exit_status) {
    hil_channel* ch = open_sim("sim", NULL);
    int status = -1;
    char how[128];
    HIL_EXPECT_EQ(hil_process_wait(ch, 0, &status), HIL_ERR_TIMEOUT, "still running");
    HIL_EXPECT(strstr(hil_last_error(), "still runs"), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "exit 0", 6, 1000));
    HIL_ASSERT_OK(hil_process_wait(ch, 5000, &status));
    hil_proc_status_str(status, how, sizeof how);
    HIL_EXPECT_STREQ(how, "exited with status 0");
    hil_channel_destroy(ch);
}

/* Log records of one logger, collected from any thread. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_cv = PTHREAD_COND_INITIALIZER;
static hil_strbuf log_text;
static void collect_log(const hil_log_record* rec, void* user) {
    (void)user;
    if (strcmp(rec->logger, "hil.chan.chatty") != 0) return;
    pthread_mutex_lock(&log_mu);
    hil_sb_printf(&log_text, "%s\n", rec->message);
    pthread_cond_broadcast(&log_cv);
    pthread_mutex_unlock(&log_mu);
}

/* Wait (on the condition variable, up to 5 s) until the log holds text. */
static int log_has(const char* text) {
    struct timespec until;
    int found;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&log_mu);
    while (!(found = strstr(hil_sb_cstr(&log_text), text) != NULL))
        if (pthread_cond_timedwait(&log_cv, &log_mu, &until) != 0) break;
    found = strstr(hil_sb_cstr(&log_text), text) != NULL;
    pthread_mutex_unlock(&log_mu);
    return found;
}

HIL_TEST(process_channel, stderr_lines_go_to_the_log) {
    hil_channel* ch;
    hil_sb_clear(&log_text);
    hil_log_set_callback(collect_log, NULL);
    ch = open_sim("chatty", NULL);
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "err something odd happened", 26, 1000));
    ask(ch, "ping", "pong");
    HIL_EXPECT(log_has("stderr: something odd happened"), "log: %s", hil_sb_cstr(&log_text));
    HIL_EXPECT(log_has("started '"), "log: %s", hil_sb_cstr(&log_text));
    hil_channel_destroy(ch);
    hil_log_set_callback(NULL, NULL);
    hil_sb_free(&log_text);
}

HIL_TEST(process_channel, stderr_can_join_the_data) {
    hil_channel* ch = open_sim("mixed", "stderr=stdout");
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "err on the line", 15, 1000));
    {
        char buf[64];
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf - 1);
        HIL_ASSERT_OK(hil_channel_recv(ch, &m, 5000));
        buf[m.len] = 0;
        HIL_EXPECT_STREQ(buf, "on the line");
    }
    hil_channel_destroy(ch);
}

HIL_TEST(process_channel, closing_kills_the_process_group) {
    hil_channel* ch = open_sim("parent", NULL);
    char buf[64];
    hil_msg m;
    int child, pidfd;
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "spawn", 5, 1000));
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 5000));
    buf[m.len] = 0;
    HIL_ASSERT(sscanf(buf, "child %d", &child) == 1, "'%s'", buf);
    pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    if (pidfd < 0) HIL_SKIP("pidfd_open: %s (Linux 5.3 or later)", strerror(errno));
    HIL_EXPECT_EQ(hil_wait_readable(pidfd, 0), HIL_ERR_TIMEOUT, "the grandchild runs");
    hil_channel_close(ch);
    HIL_EXPECT_OK(hil_wait_readable(pidfd, 5000), "the grandchild %d was killed with its group", child);
    close(pidfd);
    hil_channel_destroy(ch);
}

HIL_TEST(process_channel, a_program_that_closes_its_stdout) {
    hil_channel* ch = open_sim("quiet", NULL);
    char buf[64];
    hil_msg m;
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "close-stdout", 12, 1000));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 300), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "closed its stdout (it still runs as pid"), "%s", hil_last_error());
    hil_channel_destroy(ch);
}

HIL_TEST(process_channel, a_program_that_does_not_read_times_the_send_out) {
    hil_channel* ch = open_sim("deaf", NULL);
    size_t n = 1 << 20;
    char* big = (char*)malloc(n);
    HIL_ASSERT(big != NULL);
    memset(big, 'x', n);
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "hold", 4, 1000));
    HIL_EXPECT_EQ(hil_channel_send_bytes(ch, big, n - 1, 200), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "did not read its stdin:") && strstr(hil_last_error(), "bytes written in 200 ms"),
               "%s", hil_last_error());
    free(big);
    hil_channel_destroy(ch);
}

typedef struct reader_arg { hil_channel* ch; hil_result r; } reader_arg;
static void* blocked_reader(void* p) {
    reader_arg* a = (reader_arg*)p;
    char buf[16];
    hil_msg m;
    hil_msg_init(&m, buf, sizeof buf);
    a->r = hil_channel_recv(a->ch, &m, 10000);
    return NULL;
}

HIL_TEST(process_channel, close_wakes_a_blocked_reader) {
    hil_channel* ch = open_sim("idle", NULL);
    pthread_t t;
    reader_arg a;
    uint64_t t0;
    a.ch = ch;
    a.r = HIL_OK;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, blocked_reader, &a), 0);
    {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL); /* let the reader block first (closing earlier gives the same result) */
    }
    t0 = hil_now_ns();
    hil_channel_close(ch);
    pthread_join(t, NULL);
    HIL_EXPECT_EQ(a.r, HIL_ERR_CLOSED);
    HIL_EXPECT_LT(hil_now_ns() - t0, 3000000000ull, "close did not wait for the 10 s receive");
    hil_channel_destroy(ch);
}

HIL_TEST(process_channel, errors_name_the_program_and_the_fix) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    const char* missing[] = {"command=/nonexistent/simulator --fast", NULL};
    const char* none[] = {"command=", NULL};
    const char* quote[] = {"command=./sim 'unterminated", NULL};
    const char* env[] = {"command=true", "env=NOEQUALS", NULL};
    hil_channel_config_init(&c);
    c.name = "dut";
    c.type = "process";
    c.options = missing;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "process 'dut': cannot run '/nonexistent/simulator': No such file or directory "
                                        "(is it installed and on PATH?)"), "%s", hil_last_error());
    hil_channel_destroy(ch);
    c.options = none;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "set connectors.dut.command"), "%s", hil_last_error());
    c.options = quote;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option command: unbalanced quote"), "%s", hil_last_error());
    c.options = env;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option env: 'NOEQUALS' is not KEY=VALUE"), "%s", hil_last_error());
}

/* hil_proc_config.extra_fds: descriptors handed to a child under numbers it
 * chooses (the qemu channel gives QEMU its UART, QMP and GDB sockets so). */
HIL_SUITE(proc_extra_fds, "tags=core")

static void read_line_from(int fd, char* buf, size_t size) {
    size_t have = 0;
    while (have + 1 < size) {
        ssize_t n;
        HIL_ASSERT_OK(hil_wait_readable(fd, 5000), "the child wrote nothing to its extra descriptor");
        n = read(fd, buf + have, size - 1 - have);
        if (n <= 0) break;
        have += (size_t)n;
        if (memchr(buf, '\n', have)) break;
    }
    buf[have] = 0;
}

HIL_TEST(proc_extra_fds, a_child_writes_to_its_fd_3) {
    int p[2];
    char buf[64];
    hil_proc proc;
    hil_proc_config pc;
    hil_proc_fd fds[1];
    const char* argv[] = {"sh", "-c", "echo on-three >&3", NULL};
    HIL_ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    fds[0].child_fd = 3;
    fds[0].parent_fd = p[1];
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.extra_fds = fds;
    pc.n_extra_fds = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&proc, &pc));
    close(p[1]); /* the child's copy is now the only writer: its exit ends the stream */
    read_line_from(p[0], buf, sizeof buf);
    HIL_EXPECT_STREQ(buf, "on-three\n");
    HIL_EXPECT_OK(hil_proc_wait(&proc, 5000));
    HIL_EXPECT_EQ(hil_proc_exit_code(proc.status), 0);
    HIL_EXPECT_EQ(read(p[0], buf, sizeof buf), 0, "end of file once the child exited: no other copy leaked");
    hil_proc_close(&proc);
    close(p[0]);
}

/* Two descriptors whose numbers cross (parent 40 -> child 41, parent 41 ->
 * child 40): a naive dup2 in order would overwrite the second source. */
HIL_TEST(proc_extra_fds, crossed_numbers_reach_the_right_place) {
    int a[2], b[2];
    char buf[64];
    hil_proc proc;
    hil_proc_config pc;
    hil_proc_fd fds[2];
    /* dash takes only single-digit numbers in >&N */
    const char* argv[] = {"sh", "-c", "echo to-a >/proc/self/fd/41; echo to-b >/proc/self/fd/40", NULL};
    HIL_ASSERT_EQ(pipe2(a, O_CLOEXEC), 0);
    HIL_ASSERT_EQ(pipe2(b, O_CLOEXEC), 0);
    HIL_ASSERT(fcntl(40, F_GETFD) < 0 && fcntl(41, F_GETFD) < 0, "descriptors 40 and 41 are in use here");
    HIL_ASSERT_EQ(dup3(a[1], 40, O_CLOEXEC), 40);
    HIL_ASSERT_EQ(dup3(b[1], 41, O_CLOEXEC), 41);
    close(a[1]);
    close(b[1]);
    fds[0].child_fd = 41;
    fds[0].parent_fd = 40; /* a */
    fds[1].child_fd = 40;
    fds[1].parent_fd = 41; /* b */
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.extra_fds = fds;
    pc.n_extra_fds = 2;
    HIL_ASSERT_OK(hil_proc_spawn(&proc, &pc));
    close(40);
    close(41);
    read_line_from(a[0], buf, sizeof buf);
    HIL_EXPECT_STREQ(buf, "to-a\n");
    read_line_from(b[0], buf, sizeof buf);
    HIL_EXPECT_STREQ(buf, "to-b\n");
    HIL_EXPECT_OK(hil_proc_wait(&proc, 5000));
    hil_proc_close(&proc);
    close(a[0]);
    close(b[0]);
}

HIL_TEST(proc_extra_fds, bad_entries_are_refused_before_any_fork) {
    hil_proc proc;
    hil_proc_config pc;
    hil_proc_fd fds[2];
    const char* argv[] = {"true", NULL};
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.extra_fds = fds;
    pc.n_extra_fds = 1;
    fds[0].child_fd = 1; /* stdout: the pipe_* options' business */
    fds[0].parent_fd = 2;
    HIL_EXPECT_EQ(hil_proc_spawn(&proc, &pc), HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "3 or above") != NULL, "%s", hil_last_error());
    fds[0].child_fd = 5;
    fds[0].parent_fd = 987; /* not open */
    HIL_EXPECT_EQ(hil_proc_spawn(&proc, &pc), HIL_ERR_INVALID_ARG);
    fds[0].parent_fd = 2;
    fds[1] = fds[0];
    pc.n_extra_fds = 2;
    HIL_EXPECT_EQ(hil_proc_spawn(&proc, &pc), HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "twice") != NULL, "%s", hil_last_error());
}
