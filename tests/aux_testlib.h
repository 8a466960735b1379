/* Helpers for the auxiliary tests (included by tests/test_aux_*.c and the
 * aux meta programs):
 *
 * - "fdpacket": a channel over one end of a SOCK_SEQPACKET socketpair
 *   (option fd=N). A real kernel socket: the peer is a thread or another
 *   process holding the other end; closing that end is a real end of file.
 * - st_sim_start(): the device simulator (build/meta/dut_sim, built on
 *   hil_target.h) as a child process on such a socketpair.
 */
#ifndef HIL_AUX_TESTLIB_H
#define HIL_AUX_TESTLIB_H

#include <poll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>

typedef struct st_fdchan { long long fd; } st_fdchan;

static const hil_channel_opt st_fdchan_opts[] = {
    {"fd", HIL_OPT_INT, "-1", "fdpacket: the socket descriptor", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

HIL__UNUSED static hil_result st_fdchan_configure(hil_channel* ch) {
    st_fdchan* s = (st_fdchan*)hil_channel_state(ch);
    hil_result r = hil_channel_opt_int(ch, "fd", -1, &s->fd);
    if (r == HIL_OK && s->fd < 0) return hil_channel_error(ch, HIL_ERR_CONFIG, "option fd: required");
    return r;
}

HIL__UNUSED static hil_result st_fdchan_open(hil_channel* ch) { (void)ch; return HIL_OK; }

HIL__UNUSED static void st_fdchan_close(hil_channel* ch) {
    st_fdchan* s = (st_fdchan*)hil_channel_state(ch);
    if (s->fd >= 0) {
        shutdown((int)s->fd, SHUT_RDWR); /* wakes a reader blocked in poll */
        close((int)s->fd);
        s->fd = -1;
    }
}

HIL__UNUSED static hil_result st_fdchan_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    st_fdchan* s = (st_fdchan*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        ssize_t n = send((int)s->fd, m->data, m->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        struct pollfd pf;
        if (n >= 0) return HIL_OK;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return hil_channel_error(ch, errno == EPIPE ? HIL_ERR_CLOSED : HIL_ERR_IO, "send: %s", strerror(errno));
        pf.fd = (int)s->fd;
        pf.events = POLLOUT;
        if (poll(&pf, 1, hil_deadline_left_ms(deadline)) == 0)
            return hil_channel_error(ch, HIL_ERR_TIMEOUT, "send: socket full for %d ms", timeout_ms);
    }
}

HIL__UNUSED static hil_result st_fdchan_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    st_fdchan* s = (st_fdchan*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        ssize_t n = recv((int)s->fd, m->data, m->cap, MSG_DONTWAIT);
        if (n > 0) { m->len = (size_t)n; return HIL_OK; }
        if (n == 0) return hil_channel_error(ch, HIL_ERR_CLOSED, "the peer closed the socket");
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) return hil_channel_error(ch, HIL_ERR_CLOSED, "the peer closed the socket (reset)");
        if (errno != EAGAIN && errno != EWOULDBLOCK) return hil_channel_error(ch, HIL_ERR_IO, "recv: %s", strerror(errno));
        if (timeout_ms == 0) return HIL_ERR_AGAIN;
        if (hil_wait_readable((int)s->fd, hil_deadline_left_ms(deadline)) == HIL_ERR_TIMEOUT) return HIL_ERR_TIMEOUT;
    }
}

HIL__UNUSED static int st_fdchan_poll_fd(hil_channel* ch) { return (int)((st_fdchan*)hil_channel_state(ch))->fd; }

/* The channel owns its descriptor even when it is never opened here (the
 * process backend opens it in the child): destroy closes this copy. */
HIL__UNUSED static void st_fdchan_destroy(hil_channel* ch) {
    st_fdchan* s = (st_fdchan*)hil_channel_state(ch);
    if (s->fd >= 0) close((int)s->fd);
    s->fd = -1;
}

static const hil_channel_type st_fdchan_type = {
    "fdpacket", "Tests: one end of a SOCK_SEQPACKET socketpair (option fd)", 0, sizeof(st_fdchan), st_fdchan_opts,
    st_fdchan_configure, st_fdchan_open, st_fdchan_close, st_fdchan_send, st_fdchan_recv, st_fdchan_poll_fd,
    st_fdchan_destroy
};

/* Several files include this: the first registration wins, the type is the same. */
HIL__UNUSED static void st_fdchan_register(void) {
    if (!hil_channel_type_find("fdpacket")) (void)hil_channel_type_register(&st_fdchan_type);
}

/* A channel on fd (owned by the channel from now on). */
HIL__UNUSED static hil_channel* st_fdchan_make(const char* name, int fd) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char opt[32];
    const char* opts[2];
    st_fdchan_register();
    snprintf(opt, sizeof opt, "fd=%d", fd);
    opts[0] = opt;
    opts[1] = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "fdpacket";
    c.options = opts;
    if (hil_channel_create(&c, &ch) != HIL_OK) return NULL;
    return ch;
}

/* A connected pair: *ours for the auxiliary, *peer for the test's peer. */
HIL__UNUSED static int st_seqpair(int* ours, int* peer) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    *ours = sv[0];
    *peer = sv[1];
    return 0;
}

/* The simulator on a socketpair: returns the auxiliary's end, fills *p. */
HIL__UNUSED static int st_sim_start(const char* sim_path, const char* mode, hil_proc* p) {
    int sv[2], flags;
    char fdarg[16];
    const char* argv[4];
    hil_proc_config pc;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    flags = fcntl(sv[1], F_GETFD);
    fcntl(sv[1], F_SETFD, flags & ~FD_CLOEXEC); /* the simulator inherits its end */
    snprintf(fdarg, sizeof fdarg, "%d", sv[1]);
    argv[0] = sim_path;
    argv[1] = fdarg;
    argv[2] = mode;
    argv[3] = NULL;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.null_stdin = 1;
    pc.die_with_parent = 1;
    if (hil_proc_spawn(p, &pc) != HIL_OK) { close(sv[0]); close(sv[1]); return -1; }
    close(sv[1]);
    return sv[0];
}

#endif
