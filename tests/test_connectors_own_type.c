/* The "write your own channel type" example of docs/connectors.md, compiled
 * and tested here so it cannot rot: the code between the markers is the
 * example, word for word (a test below compares it with the document),
 * and the tests after it run it against a real UNIX socket server. The
 * config examples of the document are loaded and created here too. */
#include "selftest.h"
#include <pthread.h>
#include <sys/un.h>

/* ---- docs/connectors.md example begin ---- */
/* "unixsock": a byte stream over a UNIX domain socket, such as the serial
 * port QEMU gives a guest with -serial unix:/tmp/uart.sock,server. */
#include "hil_connectors.h"
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct unixsock {
    char path[108];
    int fd;               /* the connection, or -1 */
    hil_waker closing;    /* close() wakes a blocked reader through it */
} unixsock;

static const hil_channel_opt unixsock_opts[] = {
    {"path", HIL_OPT_PATH, NULL, "unixsock: the socket to connect to", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result unixsock_configure(hil_channel* ch) {
    unixsock* s = (unixsock*)hil_channel_state(ch);
    const char* path = hil_channel_opt_str(ch, "path", NULL);
    s->fd = s->closing.rfd = s->closing.wfd = -1; /* destroy() may follow a failed configure() */
    if (!path || !*path || strlen(path) >= sizeof s->path)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "set connectors.%s.path (a socket path of at most %d bytes)",
                                 hil_channel_name(ch), (int)sizeof s->path - 1);
    memcpy(s->path, path, strlen(path) + 1);
    return hil_waker_init(&s->closing);
}

static void unixsock_destroy(hil_channel* ch) {
    unixsock* s = (unixsock*)hil_channel_state(ch);
    if (s->fd >= 0) close(s->fd);
    hil_waker_destroy(&s->closing);
}

static hil_result unixsock_open(hil_channel* ch) {
    unixsock* s = (unixsock*)hil_channel_state(ch);
    struct sockaddr_un a;
    if (s->fd >= 0) close(s->fd); /* kept by the last close() */
    hil_waker_drain(&s->closing);
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, s->path, strlen(s->path) + 1);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr*)&a, sizeof a) != 0) {
        int e = errno;
        if (s->fd >= 0) close(s->fd);
        s->fd = -1;
        return hil_channel_error(ch, HIL_ERR_IO, "connect to %s: %s%s", s->path, strerror(e),
                                 e == ENOENT || e == ECONNREFUSED ? ": is the program serving it running?" : "");
    }
    return HIL_OK;
}

/* May run while another thread is blocked in recv(): wake it, and keep the
 * descriptor until the next open() or destroy(), so nobody ever polls a
 * number that was closed and reused. */
static void unixsock_close(hil_channel* ch) {
    unixsock* s = (unixsock*)hil_channel_state(ch);
    shutdown(s->fd, SHUT_RDWR);
    hil_waker_wake(&s->closing);
}

/* Wait until the socket is ready for `events`, or close() was called. */
static hil_result unixsock_wait(unixsock* s, short events, uint64_t deadline, int timeout_ms) {
    for (;;) {
        struct pollfd p[2];
        int rc;
        p[0].fd = s->fd;
        p[0].events = events;
        p[1].fd = hil_waker_fd(&s->closing);
        p[1].events = POLLIN;
        p[0].revents = p[1].revents = 0;
        rc = poll(p, 2, hil_deadline_left_ms(deadline));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return hil_error(HIL_ERR_IO, "poll: %s", strerror(errno));
        if (p[1].revents) return HIL_ERR_CLOSED;
        if (rc == 0) return timeout_ms == 0 ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
        return HIL_OK;
    }
}

/* A stream type gets the encoded frame and writes all of it. */
static hil_result unixsock_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    unixsock* s = (unixsock*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    size_t done = 0;
    while (done < m->len) {
        ssize_t n = send(s->fd, (const char*)m->data + done, m->len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        hil_result r;
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return hil_channel_error(ch, errno == EPIPE ? HIL_ERR_CLOSED : HIL_ERR_IO, "send to %s: %s", s->path,
                                     strerror(errno));
        r = unixsock_wait(s, POLLOUT, deadline, timeout_ms);
        if (r == HIL_ERR_TIMEOUT)
            return hil_channel_error(ch, r, "%s does not read: %zu of %zu bytes sent", s->path, done, m->len);
        if (r != HIL_OK) return r;
    }
    return HIL_OK;
}

/* A stream type returns whatever bytes are there; the framing makes
 * messages of them. */
static hil_result unixsock_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    unixsock* s = (unixsock*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        ssize_t n;
        hil_result r = unixsock_wait(s, POLLIN, deadline, timeout_ms);
        if (r != HIL_OK) return r;
        n = recv(s->fd, m->data, m->cap, MSG_DONTWAIT);
        if (n > 0) {
            m->len = (size_t)n;
            return HIL_OK;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        return hil_channel_error(ch, HIL_ERR_CLOSED, "%s: %s", s->path,
                                 n == 0 ? "the other side closed the connection" : strerror(errno));
    }
}

static int unixsock_poll_fd(hil_channel* ch) { return ((unixsock*)hil_channel_state(ch))->fd; }

static const hil_channel_type unixsock_type = {
    "unixsock", "A byte stream over a UNIX domain socket (QEMU -serial unix:...)",
    1, /* a byte stream: the framing options apply */
    sizeof(unixsock), unixsock_opts, unixsock_configure, unixsock_open, unixsock_close,
    unixsock_send, unixsock_recv, unixsock_poll_fd, unixsock_destroy
};
HIL_CHANNEL_TYPE(unixsock_type) /* registered before main() */
/* ---- docs/connectors.md example end ---- */

HIL_SUITE(own_type, "tags=connectors")

/* The text between two lines of a file (exclusive), or NULL. */
static char* between(const char* text, const char* from, const char* to) {
    const char* a = strstr(text, from);
    const char* b;
    if (!a) return NULL;
    a = strchr(a, '\n');
    if (!a) return NULL;
    a++;
    b = strstr(a, to);
    if (!b) return NULL;
    while (b > a && b[-1] != '\n') b--;
    return hil_strndup(a, (size_t)(b - a));
}

static void read_or_skip(const char* path, char** text) {
    size_t len;
    *text = NULL;
    if (hil_read_file(path, text, &len) != HIL_OK) HIL_SKIP("%s not found: run from the repository root", path);
}

HIL_TEST(own_type, the_document_shows_this_code) {
    char* doc;
    char* src;
    const char* mark;
    char* in_doc;
    char* in_src;
    read_or_skip("docs/connectors.md", &doc);
    read_or_skip(__FILE__, &src);
    mark = strstr(doc, "<!-- example: tests/test_connectors_own_type.c -->");
    in_doc = mark ? between(mark, "```c", "```") : NULL;
    in_src = between(src, "/* ---- docs/connectors.md example begin ---- */", "/* ---- docs/connectors.md example end ---- */");
    HIL_ASSERT(in_doc != NULL, "docs/connectors.md has no ```c block after the example marker");
    HIL_ASSERT(in_src != NULL);
    if (strcmp(in_doc, in_src) != 0) {
        size_t i = 0;
        while (in_doc[i] && in_doc[i] == in_src[i]) i++;
        HIL_FAIL("the example in docs/connectors.md differs from %s at byte %zu: doc '%.40s' vs code '%.40s'", __FILE__,
                 i, in_doc + i, in_src + i);
    }
    free(in_doc);
    free(in_src);
    free(doc);
    free(src);
}

typedef struct server { int lfd, fd; } server;

static void serve(server* sv, const char* path) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    unlink(path);
    sv->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    HIL_ASSERT_EQ(bind(sv->lfd, (struct sockaddr*)&a, sizeof a), 0, "bind %s: %s", path, strerror(errno));
    HIL_ASSERT_EQ(listen(sv->lfd, 1), 0);
    sv->fd = -1;
}

HIL_TEST(own_type, the_example_type_talks_in_frames) {
    const char* path = st_path("uart.sock");
    char opt[300];
    const char* opts[3];
    hil_channel_config c;
    hil_channel* ch;
    server sv;
    char buf[64];
    hil_msg m;
    serve(&sv, path);
    snprintf(opt, sizeof opt, "path=%s", path);
    opts[0] = opt;
    opts[1] = "framing=slip";
    opts[2] = NULL;
    hil_channel_config_init(&c);
    c.name = "guest";
    c.type = "unixsock";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    sv.fd = accept(sv.lfd, NULL, NULL);
    HIL_ASSERT(sv.fd >= 0);
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "\xc0hello", 6, 1000));
    {
        char raw[16];
        ssize_t n;
        HIL_ASSERT_OK(hil_wait_readable(sv.fd, 2000));
        n = read(sv.fd, raw, sizeof raw);
        HIL_ASSERT_EQ(n, 9);
        HIL_EXPECT_MEMEQ(raw, "\xc0\xdb\xdchello\xc0", 9, "SLIP on the wire");
    }
    HIL_ASSERT_OK(hil_write_all(sv.fd, "\xc0wor", 4));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 0), HIL_ERR_AGAIN, "half a frame");
    HIL_ASSERT_OK(hil_write_all(sv.fd, "ld\xc0", 3));
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 2000));
    HIL_ASSERT_EQ(m.len, 5);
    HIL_EXPECT_MEMEQ(buf, "world", 5);
    close(sv.fd);
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 2000), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "unixsock 'guest': ") && strstr(hil_last_error(), "the other side closed"), "%s",
               hil_last_error());
    hil_channel_destroy(ch);
    close(sv.lfd);
}

typedef struct reader { hil_channel* ch; hil_result r; } reader;
static void* read_blocked(void* p) {
    reader* a = (reader*)p;
    char buf[8];
    hil_msg m;
    hil_msg_init(&m, buf, sizeof buf);
    a->r = hil_channel_recv(a->ch, &m, 10000);
    return NULL;
}

HIL_TEST(own_type, the_example_type_wakes_a_reader_at_close_and_reopens) {
    const char* path = st_path("uart2.sock");
    char opt[300];
    const char* opts[2];
    const char* none[] = {NULL};
    hil_channel_config c;
    hil_channel* ch;
    server sv;
    pthread_t t;
    reader a;
    struct timespec ts = {0, 30000000};
    serve(&sv, path);
    snprintf(opt, sizeof opt, "path=%s", path);
    opts[0] = opt;
    opts[1] = NULL;
    hil_channel_config_init(&c);
    c.name = "guest";
    c.type = "unixsock";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    a.ch = ch;
    a.r = HIL_OK;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, read_blocked, &a), 0);
    nanosleep(&ts, NULL); /* let it block (closing earlier gives the same result) */
    hil_channel_close(ch);
    pthread_join(t, NULL);
    HIL_EXPECT_EQ(a.r, HIL_ERR_CLOSED);
    HIL_ASSERT_OK(hil_channel_open(ch), "open again after close");
    hil_channel_destroy(ch);
    close(sv.lfd);
    c.options = none;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "set connectors.guest.path"), "%s", hil_last_error());
}

/* Every ```ini and ```yaml block of docs/connectors.md is a configuration
 * that loads, validates, and creates its connectors and flashers. */
HIL_TEST(own_type, the_configuration_examples_of_the_document_are_valid) {
    char* doc;
    const char* p;
    int blocks = 0, yaml_blocks = 0, created = 0;
    read_or_skip("docs/connectors.md", &doc);
    p = doc;
    for (;;) {
        const char* ini = strstr(p, "```ini\n");
        const char* yml = strstr(p, "```yaml\n");
        const char* start;
        const char* end;
        int is_yaml;
        char* text;
        hil_config* cfg;
        const char* names[32];
        size_t n, i;
        char where[64];
        if (!ini && !yml) break;
        is_yaml = !ini || (yml && yml < ini);
        start = is_yaml ? yml + 8 : ini + 7;
        end = strstr(start, "```");
        HIL_ASSERT(end != NULL, "an unterminated code block");
        text = hil_strndup(start, (size_t)(end - start));
        p = end + 3;
        blocks++;
        snprintf(where, sizeof where, "docs/connectors.md block %d", blocks);
#ifndef HIL_HAVE_LIBYAML
        if (is_yaml) { free(text); continue; }
#endif
        yaml_blocks += is_yaml;
        HIL_ASSERT_OK(hil_config_create(&cfg));
        HIL_ASSERT_OK(is_yaml ? hil_config_load_yaml(cfg, text, where, 10) : hil_config_load_kv(cfg, text, where, 10),
                      "%s:\n%s", where, text);
        HIL_EXPECT_OK(hil_config_validate(cfg), "%s:\n%s", where, text);
        n = hil_config_entities(cfg, "connectors", names, 32);
        for (i = 0; i < n && i < 32; i++) {
            hil_channel_config c;
            hil_channel* ch = NULL;
            hil_channel_config_init(&c);
            c.name = names[i];
            c.config = cfg;
            HIL_EXPECT_OK(hil_channel_create(&c, &ch), "%s: connector %s", where, names[i]);
            hil_channel_destroy(ch);
            created++;
        }
        n = hil_config_entities(cfg, "flashers", names, 32);
        for (i = 0; i < n && i < 32; i++) {
            hil_flasher_config c;
            hil_flasher* f = NULL;
            hil_flasher_config_init(&c);
            c.name = names[i];
            c.config = cfg;
            HIL_EXPECT_OK(hil_flasher_create(&c, &f), "%s: flasher %s", where, names[i]);
            hil_flasher_destroy(f);
            created++;
        }
        hil_config_destroy(cfg);
        free(text);
    }
    HIL_EXPECT_GE(blocks, 10, "the document has its examples");
    HIL_EXPECT_GE(created, 10);
    free(doc);
    (void)yaml_blocks;
}
