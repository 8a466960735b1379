/* main.c - the board-independent firmware: the testApp service through
 * hil_target.h, the on-target test cases, a small text service on the same
 * UART, and the demultiplexer that tells the two apart.
 *
 * Build-time settings (examples/mcu/Makefile): FW_BOARD, FW_VARIANT,
 * FW_VERSION (strings), FW_DEBUG (VARIANT=debug: a LOG line at every step),
 * FW_TESTAPP (0 leaves the testApp service out: only for measuring its size).
 *
 * The UART carries two streams (docs/mcu.md, "One UART, two streams"):
 *   - testApp frames, whose first byte b has (b & 0xCF) == 0x40;
 *   - text lines: a request is '#' ... '\n' and starts only between frames;
 *     a reply is '#' ... '\n'. Neither ever holds '@', 'P', '`' or 'p': the
 *     command names avoid them and any other text carries them as \xHH, so a
 *     host's testApp deframer, which skips bytes until it sees a header, can
 *     never take a text line (or a piece of one) for a frame.
 */
#include "board.h"
#include "text.h"
#include "rtt.h"
#include "shell.h"

#ifndef FW_TESTAPP
#define FW_TESTAPP 1
#endif
#ifndef FW_DEBUG
#define FW_DEBUG 0
#endif

#if FW_TESTAPP
#include "hil_target.h"
#endif

static const char identity[] = "board=" FW_BOARD " variant=" FW_VARIANT " version=" FW_VERSION;

/* ---- receiving: the UART interrupt fills a ring, the main loop empties it ---- */

#define RX_RING 512u /* a power of two; a whole testApp frame (265 bytes) fits */
static uint8_t rx_ring[RX_RING];
static volatile uint32_t rx_head, rx_tail; /* head: written by the interrupt only; tail: by the main loop only */
static volatile uint32_t rx_overruns;

void fw_rx_byte(uint8_t c) {
    uint32_t h = rx_head;
    if (h - rx_tail == RX_RING) { /* full: the byte is lost, and counted */
        rx_overruns++;
        return;
    }
    rx_ring[h % RX_RING] = c;
    __asm__ volatile("" ::: "memory"); /* the byte is stored before the head says so */
    rx_head = h + 1;
}

void fw_rx_overrun(void) { rx_overruns++; }

static int rx_ready(void) { return rx_head != rx_tail; }

/* ---- sending ------------------------------------------------------------------- */

#if FW_TESTAPP
static hil_target target;
static volatile int corrupt_next_report; /* suite 2 case 4: the next REPORT gets a bad CRC */

static void uart_send(const uint8_t* p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) board_putc(p[i]);
}

/* hil_target.h hands over each message whole, so a REPORT can be spoilt
 * here, on its way out, without the library knowing. */
static void uart_write(void* user, const uint8_t* data, size_t len) {
    (void)user;
    if (corrupt_next_report && len >= 10 && ((data[0] >> 4) & 3u) == HIL_TARGET_T_REPORT) {
        corrupt_next_report = 0;
        uart_send(data, len - 1);
        board_putc((uint8_t)(data[len - 1] ^ 0xA5u)); /* the CRC's high byte */
        return;
    }
    uart_send(data, len);
}
#endif

/* A text reply: '#', the text with the four header bytes (and '\', control
 * and non-ASCII bytes) escaped as \xHH, then '\n'. */
static void text_reply(const char* s) {
    board_putc('#');
    for (; *s; s++) {
        uint8_t c = (uint8_t)*s;
        if ((c & 0xCFu) == 0x40u || c == '\\' || c == '\n' || c == '\r' || c < 0x20u || c > 0x7Eu) {
            board_putc('\\');
            board_putc('x');
            board_putc((uint8_t) "0123456789abcdef"[c >> 4]);
            board_putc((uint8_t) "0123456789abcdef"[c & 15u]);
        } else {
            board_putc(c);
        }
    }
    board_putc('\n');
}

/* ---- the faults, requested by a test case or by the text service ------------- */

static void fault_bus(void) { /* a read from an address nothing answers: a precise BusFault, escalated */
    volatile uint32_t v = *(volatile uint32_t*)(uintptr_t)board_unmapped_address;
    (void)v;
}

static void fault_udf(void) { __asm__ volatile("udf #0"); } /* an undefined instruction: UsageFault, escalated */

static void fault_hang(void) {
    __asm__ volatile("cpsid i" ::: "memory");
    for (;;) __asm__ volatile(""); /* spins: only a reset ends it */
}

/* ---- the test cases (host: HIL_REMOTE_TEST(suite, name, "dut", S, C)) -------- */

#if FW_TESTAPP
#if FW_DEBUG
/* VARIANT=debug: every step (setup, run, teardown) says so first. */
static int step_log(hil_target* t, const char* what) {
    char buf[48];
    text m;
    text_init(&m, buf, sizeof buf);
    text_str(&m, "debug: ");
    text_str(&m, what);
    text_str(&m, " suite ");
    text_u32(&m, t->suite);
    text_str(&m, " case ");
    text_u32(&m, t->test_case);
    hil_target_log(t, buf);
    return HIL_TARGET_PASS;
}
static int debug_setup(hil_target* t) { return step_log(t, "setup"); }
static int debug_teardown(hil_target* t) { return step_log(t, "teardown"); }
#define STEP_SETUP debug_setup
#define STEP_TEARDOWN debug_teardown
#define STEP_RUN(t) (void)step_log(t, "run")
#else
#define STEP_SETUP NULL
#define STEP_TEARDOWN NULL
#define STEP_RUN(t) (void)(t)
#endif

static uint32_t passes;

static int case_pass(hil_target* t) {
    STEP_RUN(t);
    passes++;
    return HIL_TARGET_PASS;
}

/* The reason is formatted into a local buffer, gone when the case returns:
 * hil_target_fail must have copied it. */
static int case_fail(hil_target* t) {
    static const uint8_t nine[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    char reason[80];
    text m;
    STEP_RUN(t);
    text_init(&m, reason, sizeof reason);
    text_str(&m, "crc16(123456789) is ");
    text_hex(&m, hil_target_crc16(nine, sizeof nine));
    text_str(&m, ", the test expected 0x000031c4 (step ");
    text_u32(&m, t->steps);
    text_char(&m, ')');
    return hil_target_fail(t, reason);
}

static int case_logs(hil_target* t) {
    char line[48];
    text m;
    uint32_t i;
    STEP_RUN(t);
    for (i = 1; i <= 3; i++) {
        text_init(&m, line, sizeof line);
        text_str(&m, "log line ");
        text_u32(&m, i);
        text_str(&m, " of 3");
        hil_target_log(t, line);
    }
    return HIL_TARGET_PASS;
}

static int case_identity(hil_target* t) { /* the build's identity, as a LOG: which image is running */
    STEP_RUN(t);
    hil_target_log(t, identity);
    return HIL_TARGET_PASS;
}

static int case_hardfault(hil_target* t) {
    STEP_RUN(t);
    fault_bus();
    return hil_target_fail(t, "the read from an unmapped address did not fault");
}

static int case_hang(hil_target* t) {
    STEP_RUN(t);
    fault_hang();
    return HIL_TARGET_FAILED;
}

static int case_reset(hil_target* t) {
    STEP_RUN(t);
    cortexm_system_reset();
}

static int case_corrupt(hil_target* t) {
    STEP_RUN(t);
    corrupt_next_report = 1;
    return HIL_TARGET_PASS;
}

static int case_udf(hil_target* t) {
    STEP_RUN(t);
    fault_udf();
    return hil_target_fail(t, "the undefined instruction did not fault");
}

static const hil_target_case cases[] = {
    /* suite 1: ordinary cases (case 0: the suite's own setup and teardown) */
    {1, 0, STEP_SETUP, NULL, STEP_TEARDOWN},
    {1, 1, STEP_SETUP, case_pass, STEP_TEARDOWN},
    {1, 2, STEP_SETUP, case_fail, STEP_TEARDOWN},
    {1, 3, STEP_SETUP, NULL, STEP_TEARDOWN}, /* no run function: NOT_IMPLEMENTED */
    {1, 4, STEP_SETUP, case_logs, STEP_TEARDOWN},
    {1, 5, STEP_SETUP, case_identity, STEP_TEARDOWN},
    /* suite 2: faults on request */
    {2, 0, STEP_SETUP, NULL, STEP_TEARDOWN},
    {2, 1, STEP_SETUP, case_hardfault, STEP_TEARDOWN},
    {2, 2, STEP_SETUP, case_hang, STEP_TEARDOWN},
    {2, 3, STEP_SETUP, case_reset, STEP_TEARDOWN},
    {2, 4, STEP_SETUP, case_corrupt, STEP_TEARDOWN},
    {2, 5, STEP_SETUP, case_udf, STEP_TEARDOWN},
};
#endif /* FW_TESTAPP */

/* The HardFault handler's text (cortexm.c): a FAULT LOG for the step that
 * runs now, then nothing more until a reset. */
void fw_fault(const char* text) {
#if FW_TESTAPP
    hil_target_fault(&target, text);
#else
    text_reply(text);
#endif
    cortexm_halt();
}

/* ---- the text service ---------------------------------------------------------- */

#define LINE_MAX 96
static char line[LINE_MAX + 1];
#define LINE_NONE (-1) /* not in a text line */
#define LINE_SKIP (-2) /* in one too long to keep */
static int line_len = LINE_NONE;
static uint32_t counter;

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static const char* word_after(const char* s, const char* cmd) { /* "cmd" or "cmd args": the args, else NULL */
    while (*cmd && *s == *cmd) s++, cmd++;
    if (*cmd) return 0;
    if (*s == ' ') return s + 1;
    return *s ? 0 : s;
}

/* Requests may carry any byte as \xHH (and must for the four header bytes
 * when the host's proxy echoes them to its testApp reader): decoded in place. */
static void unescape(char* s) {
    char* o = s;
    for (; *s; s++) {
        int hi, lo;
        if (s[0] == '\\' && s[1] == 'x' && (hi = hex_digit(s[2])) >= 0 && (lo = hex_digit(s[3])) >= 0) {
            *o++ = (char)(hi << 4 | lo);
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

static void text_command(char* cmd) {
    char buf[128];
    text r;
    const char* arg;
    unescape(cmd);
    text_init(&r, buf, sizeof buf);
    if (text_eq(cmd, "version")) {
        text_str(&r, "ok ");
        text_str(&r, identity);
    } else if (text_eq(cmd, "count")) {
        text_str(&r, "ok count=");
        text_u32(&r, ++counter);
    } else if ((arg = word_after(cmd, "echo")) != 0) {
        text_str(&r, "ok ");
        text_str(&r, arg);
    } else if (text_eq(cmd, "stats")) {
        text_str(&r, "ok rx_overruns=");
        text_u32(&r, rx_overruns);
#if FW_TESTAPP
        text_str(&r, " steps=");
        text_u32(&r, target.steps);
        text_str(&r, " crc_errors=");
        text_u32(&r, target.crc_errors);
#endif
    } else if (text_eq(cmd, "shell zephyr") || text_eq(cmd, "shell uboot")) { /* shell.c has the UART until exit */
        shell_start(cmd[6] == 'z' ? SHELL_ZEPHYR : SHELL_UBOOT, identity);
        return;
    } else if (text_eq(cmd, "list")) {
        text_str(&r, "ok version count echo stats list shell=zephyr|uboot fault=bus|udf|hang|reset|badcrc");
    } else if ((arg = word_after(cmd, "fault")) != 0) {
        if (!text_eq(arg, "bus") && !text_eq(arg, "udf") && !text_eq(arg, "hang") && !text_eq(arg, "reset") &&
            !text_eq(arg, "badcrc")) {
            text_str(&r, "error unknown fault '");
            text_str(&r, arg);
            text_str(&r, "': use bus, udf, hang, reset or badcrc");
            text_reply(buf);
            return;
        }
        text_str(&r, "ok fault ");
        text_str(&r, arg);
        text_reply(buf); /* the answer first: after the fault nothing answers */
        if (text_eq(arg, "bus")) fault_bus();
        if (text_eq(arg, "udf")) fault_udf();
        if (text_eq(arg, "hang")) fault_hang();
        if (text_eq(arg, "reset")) cortexm_system_reset();
#if FW_TESTAPP
        if (text_eq(arg, "badcrc")) { /* a REPORT nobody asked for, with a bad CRC */
            uint8_t m[10] = {0x40u | (HIL_TARGET_T_REPORT << 4), 0, HIL_TARGET_PASS, 0, 0, 2, 4, 0, 0, 0};
            uint16_t crc = hil_target_crc16(m, 8);
            m[8] = (uint8_t)(crc & 0xFFu);
            m[9] = (uint8_t)(crc >> 8);
            corrupt_next_report = 1;
            uart_write(0, m, sizeof m);
        }
#endif
        return;
    } else {
        text_str(&r, "error unknown command '");
        text_str(&r, cmd);
        text_str(&r, "': try list");
    }
    text_reply(buf);
}

/* One received byte: a text line ('#' between frames, up to '\n') or testApp. */
static void demux(uint8_t c) {
    if (shell_active()) {
        shell_input(c, identity);
        return;
    }
    if (line_len == LINE_SKIP) { /* the rest of a line too long to keep */
        if (c == '\n') {
            line_len = LINE_NONE;
            text_reply("error line too long (at most 96 bytes before the newline)");
        }
        return;
    }
    if (line_len >= 0) {
        if (c == '\n') {
            line[line_len] = 0;
            line_len = LINE_NONE;
            text_command(line);
        } else if (c != '\r') {
            if (line_len < LINE_MAX) line[line_len++] = (char)c;
            else line_len = LINE_SKIP; /* not to testApp: the rest is still text */
        }
        return;
    }
#if FW_TESTAPP
    if (c == '#' && target.rx_len == 0) {
        line_len = 0;
        return;
    }
    hil_target_input(&target, &c, 1);
#else
    if (c == '#') line_len = 0;
#endif
}

int main(void) {
    board_init();
    rtt_init(); /* a debug probe reads the boot line over RTT too (docs/probes.md) */
    rtt_write("boot ", 5);
    rtt_write(identity, sizeof identity - 1);
    rtt_write("\n", 1);
#if FW_TESTAPP
    hil_target_init(&target, cases, sizeof cases / sizeof cases[0], uart_write, NULL);
    {
        char boot[96];
        text m;
        text_init(&m, boot, sizeof boot);
        text_str(&m, "boot ");
        text_str(&m, identity);
        hil_target_log(&target, boot);
    }
#else
    text_reply("boot");
#endif
    for (;;) {
        cortexm_wait_for(rx_ready);
        while (rx_ready()) {
            uint8_t c = rx_ring[rx_tail % RX_RING];
            __asm__ volatile("" ::: "memory"); /* read the byte before giving its slot back */
            rx_tail = rx_tail + 1;
            demux(c);
        }
    }
}
