/* uart_peer: the host end of a guest UART in the hil VM bench.
 *
 * run.sh wires the guest's /dev/ttyS1 to a unix socket (a QEMU socket
 * chardev) and starts this program with HILVM_UART_SOCK set once QEMU
 * listens on it; the guest only boots after the connection is made, so no
 * byte is lost at start.
 *
 *   uart_peer [--socket PATH] [--expect BYTES] [--timeout SECS] [--quiet]
 *
 * It echoes every byte it receives back to the guest until QEMU closes the
 * socket (the VM powered off), then prints how many bytes it echoed and how
 * fast. With --expect it exits 1 when fewer bytes than that came through.
 *
 * Exit codes: 0 ok, 1 fewer bytes than --expect, 2 usage, 3 socket error,
 * 4 --timeout reached.
 *
 * Build: cc -O2 -Wall -Wextra -o uart_peer tests/vm/uart_peer.c
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: uart_peer [--socket PATH] [--expect BYTES] [--timeout SECS] [--quiet]\n"
                    "  PATH defaults to $HILVM_UART_SOCK (set by tests/vm/run.sh --peer)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *path = getenv("HILVM_UART_SOCK");
    unsigned long long expect = 0;
    double timeout_s = 300.0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--socket") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--expect") && i + 1 < argc) expect = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else usage();
    }
    if (!path || !*path) {
        fprintf(stderr, "uart_peer: no socket: pass --socket PATH or run it through tests/vm/run.sh --peer\n");
        return 2;
    }

    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "uart_peer: socket path too long (max %zu bytes): %s\n", sizeof sa.sun_path - 1, path);
        return 2;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "uart_peer: cannot connect to %s: %s (is QEMU listening on it? start it via run.sh --peer)\n",
                path, strerror(errno));
        return 3;
    }
    if (!quiet) fprintf(stderr, "uart_peer: connected to %s, echoing\n", path);

    /* Echo through a buffer: read only while there is room, so a slow guest
     * pushes back on QEMU instead of the peer dropping anything. */
    static unsigned char buf[1 << 16];
    size_t head = 0, len = 0; /* pending bytes are buf[head .. head+len) */
    unsigned long long total_in = 0, total_out = 0;
    double t_start = now_s(), t_first = 0, t_last = 0;
    int eof = 0, rc = 0;
    while (!eof || len > 0) {
        double left = timeout_s - (now_s() - t_start);
        if (left <= 0) {
            fprintf(stderr, "uart_peer: gave up after %.0f s (--timeout)\n", timeout_s);
            rc = 4;
            break;
        }
        struct pollfd p = { fd, 0, 0 };
        if (!eof && len < sizeof buf) p.events |= POLLIN;
        if (len > 0) p.events |= POLLOUT;
        int n = poll(&p, 1, (int)(left * 1000) + 1);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "uart_peer: poll: %s\n", strerror(errno));
            rc = 3;
            break;
        }
        if (n == 0) continue;
        if (p.revents & POLLIN) {
            if (head + len == sizeof buf) { /* compact, the buffer is linear */
                memmove(buf, buf + head, len);
                head = 0;
            }
            ssize_t r = read(fd, buf + head + len, sizeof buf - head - len);
            if (r > 0) {
                if (!total_in) t_first = now_s();
                total_in += (unsigned long long)r;
                len += (size_t)r;
                t_last = now_s();
            } else if (r == 0) {
                eof = 1;
            } else if (errno != EINTR && errno != EAGAIN) {
                eof = 1;
            }
        } else if (p.revents & (POLLHUP | POLLERR)) {
            eof = 1;
        }
        if (len > 0 && (p.revents & POLLOUT)) {
            ssize_t w = write(fd, buf + head, len);
            if (w > 0) {
                head += (size_t)w;
                len -= (size_t)w;
                total_out += (unsigned long long)w;
                if (len == 0) head = 0;
            } else if (w < 0 && errno != EINTR && errno != EAGAIN) {
                break; /* the guest side is gone: nothing left to echo to */
            }
        }
        if (eof && (p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLOUT)) break;
    }
    close(fd);
    double span = t_last > t_first ? t_last - t_first : 0;
    if (!quiet)
        fprintf(stderr, "uart_peer: received %llu bytes, echoed %llu, first to last byte %.3f s (%.0f bytes/s)\n",
                total_in, total_out, span, span > 0 ? (double)total_in / span : 0.0);
    if (rc == 0 && expect && total_out < expect) {
        fprintf(stderr, "uart_peer: FAIL: expected at least %llu bytes, echoed %llu\n", expect, total_out);
        rc = 1;
    }
    return rc;
}
