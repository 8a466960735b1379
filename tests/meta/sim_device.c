/* sim_device: a small device simulator for the connector tests. It speaks
 * lines ("\n") on stdin/stdout, or on a serial device with --tty PATH (the
 * slave side of a pty), like firmware on a UART would. Plain POSIX, no hil:
 * it stands for a program the test does not control.
 *
 * Commands (one per line), answers on the same line discipline:
 *   ping            -> pong
 *   echo TEXT       -> TEXT
 *   baud?           -> baud N      (the tty's termios speed; --tty only)
 *   err TEXT        -> TEXT on stderr, nothing on the line
 *   exit N          -> exits with status N
 *   crash           -> dies of SIGSEGV
 *   spawn           -> child PID   (a child that sleeps until killed)
 *   close-stdout    -> closes stdout, keeps running until stdin ends
 *   hold            -> stops reading (the test fills the pipe)
 * End of input: exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static int in_fd = 0, out_fd = 1;

static void say(const char* s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(out_fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static int baud_of(speed_t sp) {
    static const struct { speed_t sp; int baud; } t[] = {
        {B1200, 1200}, {B2400, 2400}, {B4800, 4800}, {B9600, 9600}, {B19200, 19200},
        {B38400, 38400}, {B57600, 57600}, {B115200, 115200}, {B230400, 230400},
    };
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].sp == sp) return t[i].baud;
    return -1;
}

static void command(char* line) {
    char buf[512];
    if (strcmp(line, "ping") == 0) {
        say("pong\n");
    } else if (strncmp(line, "echo ", 5) == 0) {
        snprintf(buf, sizeof buf, "%.500s\n", line + 5);
        say(buf);
    } else if (strcmp(line, "baud?") == 0) {
        struct termios t;
        if (tcgetattr(in_fd, &t) == 0) snprintf(buf, sizeof buf, "baud %d\n", baud_of(cfgetospeed(&t)));
        else snprintf(buf, sizeof buf, "baud error %s\n", strerror(errno));
        say(buf);
    } else if (strncmp(line, "err ", 4) == 0) {
        fprintf(stderr, "%s\n", line + 4);
        fflush(stderr);
    } else if (strncmp(line, "exit ", 5) == 0) {
        exit(atoi(line + 5));
    } else if (strcmp(line, "crash") == 0) {
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    } else if (strcmp(line, "spawn") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            close(in_fd);
            for (;;) pause();
        }
        snprintf(buf, sizeof buf, "child %d\n", (int)pid);
        say(buf);
    } else if (strcmp(line, "close-stdout") == 0) {
        close(out_fd);
        out_fd = -1;
    } else if (strcmp(line, "hold") == 0) {
        for (;;) pause();
    } else {
        snprintf(buf, sizeof buf, "unknown %.400s\n", line);
        say(buf);
    }
}

int main(int argc, char** argv) {
    char line[4096];
    size_t have = 0;
    if (argc == 3 && strcmp(argv[1], "--tty") == 0) {
        struct termios t;
        in_fd = open(argv[2], O_RDWR | O_NOCTTY);
        if (in_fd < 0) {
            fprintf(stderr, "sim_device: open %s: %s\n", argv[2], strerror(errno));
            return 2;
        }
        /* raw, keep the speed the other side set */
        if (tcgetattr(in_fd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(in_fd, TCSANOW, &t);
        }
        out_fd = in_fd;
    }
    for (;;) {
        char* nl;
        ssize_t n = read(in_fd, line + have, sizeof line - 1 - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        have += (size_t)n;
        while ((nl = memchr(line, '\n', have)) != NULL) {
            size_t len = (size_t)(nl - line);
            char cmd[4096];
            memcpy(cmd, line, len);
            cmd[len] = 0;
            if (len && cmd[len - 1] == '\r') cmd[len - 1] = 0;
            memmove(line, nl + 1, have - len - 1);
            have -= len + 1;
            command(cmd);
        }
        if (have == sizeof line - 1) have = 0; /* a line too long: drop it */
    }
}
