/* The libserialport "serial" channel type on a real UART, inside the QEMU VM
 * bench: /dev/ttyS1 is an emulated 16550A whose far end is tests/vm/uart_peer
 * on the host, echoing every byte back through a stream socket (end-to-end
 * back-pressure, so nothing may be lost). Only the public channel API is
 * used: type "serial", options port and baudrate. */
#include "vm_tests.h"

#include <fcntl.h>
#include <pthread.h>
#include <termios.h>
#include <sys/ioctl.h>

HIL_SUITE(serial_vm, "tags=serial,vm; timeout=60")

static const char* uart(void) {
    const char* u = getenv("HILVM_UART_PEER");
    return u && *u ? u : "/dev/ttyS1";
}

static hil_channel* open_serial(const char* baud) {
    char port[128], rate[64];
    const char* opts[] = {port, rate, NULL};
    VM_REQUIRE();
    if (!hil_channel_type_find("serial"))
        HIL_SKIP("no \"serial\" channel type in this build (the libserialport serial channel is not merged yet)");
    snprintf(port, sizeof port, "port=%s", uart());
    snprintf(rate, sizeof rate, "baudrate=%s", baud);
    return vm_channel("uart", "serial", opts);
}

typedef struct bulk_tx bulk_tx;
static bulk_tx* recv_sender; /* the sender's progress and error, for the failure message */
static const char* sender_state(void);

/* The UART's state, for a stalled transfer's failure message. */
static const char* uart_state(void) {
    static char buf[256];
    struct termios t;
    int fd = open(uart(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC), outq = -1, inq = -1, lines = 0;
    if (fd < 0 || tcgetattr(fd, &t) != 0) return "(cannot read the UART's state)";
    ioctl(fd, TIOCOUTQ, &outq);
    ioctl(fd, TIOCINQ, &inq);
    ioctl(fd, TIOCMGET, &lines);
    close(fd);
    snprintf(buf, sizeof buf, "IXON=%d IXOFF=%d CRTSCTS=%d ECHO=%d ICANON=%d outq=%d inq=%d CTS=%d RTS=%d DSR=%d DTR=%d",
             !!(t.c_iflag & IXON), !!(t.c_iflag & IXOFF), !!(t.c_cflag & CRTSCTS), !!(t.c_lflag & ECHO),
             !!(t.c_lflag & ICANON), outq, inq, !!(lines & TIOCM_CTS), !!(lines & TIOCM_RTS), !!(lines & TIOCM_DSR),
             !!(lines & TIOCM_DTR));
    return buf;
}

/* Receive exactly n bytes (whatever the framing hands out), or fail. */
static void recv_exactly(hil_channel* ch, unsigned char* out, size_t n, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    size_t got = 0;
    while (got < n) {
        unsigned char buf[4096];
        hil_msg m;
        size_t k;
        hil_result r;
        hil_msg_init(&m, buf, sizeof buf);
        r = hil_channel_recv(ch, &m, hil_deadline_left_ms(deadline));
        HIL_ASSERT_OK(r, "after %zu of %zu bytes (%s; UART: %s)", got, n, sender_state(), uart_state());
        HIL_ASSERT(!(m.flags & HIL_MSG_TRUNCATED), "a %zu-byte receive buffer was too small", sizeof buf);
        k = m.len < n - got ? m.len : n - got;
        HIL_ASSERT_EQ(k, m.len, "%zu bytes more than sent arrived", m.len - k);
        memcpy(out + got, buf, k);
        got += k;
    }
}

HIL_TEST(serial_vm, config_read_back_from_the_uart) {
    hil_channel* ch = open_serial("57600");
    struct termios t;
    int fd = open(uart(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    HIL_ASSERT(fd >= 0, "open %s: %s", uart(), strerror(errno));
    HIL_ASSERT(tcgetattr(fd, &t) == 0, "tcgetattr: %s", strerror(errno));
    close(fd);
    /* init left the UART at 115200: 57600 shows the channel set it */
    HIL_EXPECT_EQ(cfgetospeed(&t), B57600);
    HIL_EXPECT_EQ(cfgetispeed(&t), B57600);
    HIL_EXPECT_EQ(t.c_cflag & CSIZE, CS8);
    HIL_EXPECT(!(t.c_cflag & PARENB), "no parity");
    HIL_EXPECT(!(t.c_cflag & CSTOPB), "one stop bit");
    HIL_EXPECT(!(t.c_lflag & (ICANON | ECHO)), "raw mode");
    HIL_EXPECT(hil_channel_get_type(ch)->stream, "serial is a byte stream");
    hil_channel_destroy(ch);
}

HIL_TEST(serial_vm, data_both_ways) {
    hil_channel* ch = open_serial("115200");
    static const char msg[] = "hello from the guest\x00\x01\xff\r\n";
    unsigned char back[sizeof msg];
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, msg, sizeof msg, 2000));
    recv_exactly(ch, back, sizeof msg, 5000);
    HIL_EXPECT_MEMEQ(back, msg, sizeof msg, "the host peer's echo");
    hil_channel_destroy(ch);
}

struct bulk_tx {
    hil_channel* ch;
    const unsigned char* data;
    size_t len;
    size_t sent;   /* progress, read by the receiver when it gives up */
    hil_result r;
    char why[512];
};

static const char* sender_state(void) {
    static char buf[700];
    if (!recv_sender) return "no sender";
    snprintf(buf, sizeof buf, "the sender had written %zu%s%s", __atomic_load_n(&recv_sender->sent, __ATOMIC_RELAXED),
             recv_sender->why[0] ? " and failed " : "", recv_sender->why);
    return buf;
}

static void* bulk_sender(void* arg) {
    bulk_tx* t = (bulk_tx*)arg;
    size_t off = 0;
    while (off < t->len) {
        size_t n = t->len - off < 1024 ? t->len - off : 1024;
        t->r = hil_channel_send_bytes(t->ch, t->data + off, n, 10000);
        if (t->r != HIL_OK) {
            snprintf(t->why, sizeof t->why, "at byte %zu: %.400s", off, hil_last_error());
            return NULL;
        }
        off += n;
        __atomic_store_n(&t->sent, off, __ATOMIC_RELAXED);
    }
    return NULL;
}

HIL_TEST(serial_vm, transfer_of_64_kib_loses_nothing) {
    const size_t n = 65536;
    hil_channel* ch = open_serial("115200");
    unsigned char* out = (unsigned char*)malloc(n);
    unsigned char* in = (unsigned char*)malloc(n);
    uint32_t x = 0x12345678u;
    pthread_t th;
    bulk_tx t;
    size_t i;
    uint64_t t0;
    HIL_ASSERT(out && in);
    for (i = 0; i < n; i++) { /* xorshift: no repeating pattern to hide a lost block */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (unsigned char)x;
    }
    memset(&t, 0, sizeof t);
    t.ch = ch;
    t.data = out;
    t.len = n;
    t0 = hil_now_ns();
    /* full duplex: the peer echoes while we still send, so read meanwhile */
    HIL_ASSERT(pthread_create(&th, NULL, bulk_sender, &t) == 0);
    recv_sender = &t;
    recv_exactly(ch, in, n, 30000);
    recv_sender = NULL;
    pthread_join(th, NULL);
    HIL_ASSERT_OK(t.r, "sending: %s", t.why);
    for (i = 0; i < n && in[i] == out[i]; i++) {}
    HIL_EXPECT_EQ(i, n, "first difference at byte %zu", i);
    HIL_INFO("vm.serial", "64 KiB echoed in %.2f s", (double)(hil_now_ns() - t0) / 1e9);
    free(out);
    free(in);
    hil_channel_destroy(ch);
}
