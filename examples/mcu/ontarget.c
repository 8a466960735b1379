/* ontarget.c - on-target test suites that print their results the way
 * Unity and Zephyr's Ztest do, for hil_harvest.h (docs/harvesting.md).
 *
 * The text service starts them: "#ontarget unity", "#ontarget ztest", and
 * "#ontarget unity-fault" / "#ontarget ztest-fault", where one case reads an
 * address nothing answers: a HardFault in the middle of the suite (the
 * fault handler's line, then the testApp FAULT frame: binary bytes on the
 * console, then silence). While a suite runs, the UART carries plain text
 * lines (no testApp frame is expected then).
 *
 * The cases are real checks of this firmware's own code: CRC-16/XMODEM,
 * the number formatting of text.h, and one that fails on purpose. Durations
 * (Ztest) come from SysTick at the CPU clock (board_cpu_hz below). */
#include "board.h"
#include "text.h"

/* SysTick (Cortex-M architecture): a 24-bit down counter at the CPU clock */
#define SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t*)0xE000E018u)

static volatile int ontarget_running;

static void put(const char* s) {
    while (*s) board_putc((uint8_t)*s++);
}

static void put_u32(uint32_t v) {
    char b[12];
    text t;
    text_init(&t, b, sizeof b);
    text_u32(&t, v);
    put(b);
}

/* ---- what a case reports ---- */

typedef struct check {
    int line;            /* of the failed check, 0: passed */
    uint32_t expected, was;
    const char* ignore;  /* non-NULL: ignored, with this reason */
} check;

/* field by field: a struct initialiser may become a memset call (no libc here) */
static void check_init(check* c) {
    c->line = 0;
    c->expected = c->was = 0;
    c->ignore = 0;
}

#define CHECK_EQ(c, was_, expected_)                                    \
    do {                                                                \
        uint32_t w_ = (uint32_t)(was_), e_ = (uint32_t)(expected_);     \
        if (w_ != e_) {                                                 \
            (c)->line = __LINE__;                                       \
            (c)->expected = e_;                                         \
            (c)->was = w_;                                              \
            return;                                                     \
        }                                                               \
    } while (0)

static int text_is(const char* a, const char* b) { return text_eq(a, b); }

/* ---- the cases ---- */

static uint16_t crc16_xmodem(const uint8_t* d, uint32_t n) {
    uint16_t crc = 0;
    uint32_t i;
    int b;
    for (i = 0; i < n; i++) {
        crc ^= (uint16_t)(d[i] << 8);
        for (b = 0; b < 8; b++) crc = (uint16_t)((crc & 0x8000u) ? ((uint32_t)crc << 1) ^ 0x1021u : (uint32_t)crc << 1);
    }
    return crc;
}

static void test_crc16_check_value(check* c) {
    static const uint8_t s[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    CHECK_EQ(c, crc16_xmodem(s, sizeof s), 0x31C3u);
}

static void test_crc16_empty(check* c) { CHECK_EQ(c, crc16_xmodem(0, 0), 0); }

static void test_u32_formats_the_largest(check* c) {
    char b[12];
    text t;
    text_init(&t, b, sizeof b);
    text_u32(&t, 4294967295u);
    CHECK_EQ(c, t.len, 10);
    CHECK_EQ(c, text_is(b, "4294967295"), 1);
}

static void test_text_stays_terminated(check* c) {
    char b[4];
    text t;
    text_init(&t, b, sizeof b);
    text_str(&t, "overflowing");
    CHECK_EQ(c, t.len, 3);
    CHECK_EQ(c, b[3], 0);
}

static void test_known_failure(check* c) {
    /* fails on purpose: the harvest must report it with its line */
    CHECK_EQ(c, 2 + 2, 5);
}

static void test_second_uart(check* c) { c->ignore = "needs a second UART"; }

static void test_reads_unmapped(check* c) {
    volatile uint32_t v = *(volatile uint32_t*)(uintptr_t)board_unmapped_address; /* HardFault */
    CHECK_EQ(c, v, 0);
}

typedef struct ontarget_case {
    const char* name;
    void (*fn)(check*);
    int line;
    int faulting;
} ontarget_case;

static const ontarget_case cases[] = {
    {"test_crc16_check_value", test_crc16_check_value, __LINE__, 0},
    {"test_crc16_empty", test_crc16_empty, __LINE__, 0},
    {"test_u32_formats_the_largest", test_u32_formats_the_largest, __LINE__, 0},
    {"test_known_failure", test_known_failure, __LINE__, 0},
    {"test_second_uart", test_second_uart, __LINE__, 0},
    {"test_reads_unmapped", test_reads_unmapped, __LINE__, 1},
    {"test_text_stays_terminated", test_text_stays_terminated, __LINE__, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* ---- durations ---- */

static uint32_t cpu_hz(void) { return text_eq(board_name, "mps2-an385") ? 25000000u : 168000000u; }

static void ticks_start(void) {
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 0x5u; /* enabled, CPU clock, no interrupt */
}

static uint32_t ticks_now(void) { return SYST_CVR; }

/* "0.001" seconds with three decimals; a 24-bit counter: cases are short */
static void put_seconds(uint32_t t0, uint32_t t1) {
    uint32_t ticks = (t0 - t1) & 0x00FFFFFFu;
    uint32_t ms = ticks / (cpu_hz() / 1000u); /* 32-bit: no libgcc division helper */
    put_u32(ms / 1000u);
    put(".");
    board_putc((uint8_t)('0' + (ms / 100u) % 10u));
    board_putc((uint8_t)('0' + (ms / 10u) % 10u));
    board_putc((uint8_t)('0' + ms % 10u));
}

/* ---- the printers ---- */

#define SRC "examples/mcu/ontarget.c"

static void run_unity(int with_fault) {
    uint32_t i, tests = 0, failures = 0, ignored = 0;
    for (i = 0; i < N_CASES; i++) {
        check c;
        check_init(&c);
        if (cases[i].faulting && !with_fault) continue;
        cases[i].fn(&c);
        tests++;
        put(SRC ":");
        put_u32((uint32_t)(c.line ? c.line : cases[i].line));
        put(":");
        put(cases[i].name);
        if (c.ignore) {
            put(":IGNORE: ");
            put(c.ignore);
            ignored++;
        } else if (c.line) {
            put(":FAIL: Expected ");
            put_u32(c.expected);
            put(" Was ");
            put_u32(c.was);
            failures++;
        } else {
            put(":PASS");
        }
        put("\n");
    }
    put("\n-----------------------\n");
    put_u32(tests);
    put(" Tests ");
    put_u32(failures);
    put(" Failures ");
    put_u32(ignored);
    put(" Ignored \n");
    put(failures ? "FAIL\n" : "OK\n");
}

static void run_ztest(int with_fault) {
    static const char suite[] = "ontarget_text";
    static const char sep[] = "===================================================================\n";
    static uint8_t result[N_CASES]; /* 0 pass, 1 fail, 2 skip, 3 not run */
    static uint32_t ms_ticks[N_CASES];
    uint32_t i, pass = 0, fail = 0, skip = 0, total_ticks = 0;
    ticks_start();
    put("Running TESTSUITE ");
    put(suite);
    put("\n");
    put(sep);
    for (i = 0; i < N_CASES; i++) {
        check c;
        uint32_t t0, t1;
        check_init(&c);
        result[i] = 3;
        if (cases[i].faulting && !with_fault) continue;
        put("START - ");
        put(cases[i].name);
        put("\n");
        t0 = ticks_now();
        cases[i].fn(&c);
        t1 = ticks_now();
        ms_ticks[i] = (t0 - t1) & 0x00FFFFFFu;
        total_ticks += ms_ticks[i];
        if (c.ignore) {
            result[i] = 2;
            skip++;
            put(" SKIP - ");
        } else if (c.line) {
            result[i] = 1;
            fail++;
            put("\n    Assertion failed at " SRC ":");
            put_u32((uint32_t)c.line);
            put(": ");
            put(cases[i].name);
            put(": (");
            put_u32(c.was);
            put(" not equal to ");
            put_u32(c.expected);
            put(")\n FAIL - ");
        } else {
            result[i] = 0;
            pass++;
            put(" PASS - ");
        }
        put(cases[i].name);
        put(" in ");
        put_seconds(ms_ticks[i], 0);
        put(" seconds\n");
        put(sep);
    }
    put("TESTSUITE ");
    put(suite);
    put(fail ? " failed.\n" : " succeeded\n");
    put("\n------ TESTSUITE SUMMARY START ------\n\n");
    put(fail ? "SUITE FAIL - " : "SUITE PASS - ");
    put_u32((pass * 100u) / (pass + fail + skip));
    put(".00% [");
    put(suite);
    put("]: pass = ");
    put_u32(pass);
    put(", fail = ");
    put_u32(fail);
    put(", skip = ");
    put_u32(skip);
    put(", total = ");
    put_u32(pass + fail + skip);
    put(" duration = ");
    put_seconds(total_ticks, 0);
    put(" seconds\n");
    for (i = 0; i < N_CASES; i++) {
        static const char* const words[3] = {" - PASS - [", " - FAIL - [", " - SKIP - ["};
        if (result[i] > 2) continue;
        put(words[result[i]]);
        put(suite);
        put(".");
        put(cases[i].name);
        put("] duration = ");
        put_seconds(ms_ticks[i], 0);
        put(" seconds\n");
    }
    put("\n------ TESTSUITE SUMMARY END ------\n\n");
    put(sep);
    put(fail ? "PROJECT EXECUTION FAILED\n" : "PROJECT EXECUTION SUCCESSFUL\n");
}

/* main.c's text service: "ontarget <what>". Returns 0 for an unknown what. */
int ontarget_run(const char* what) {
    int fault = 0;
    if (text_eq(what, "unity-fault") || text_eq(what, "ztest-fault")) fault = 1;
    ontarget_running = 1;
    if (text_eq(what, "unity") || text_eq(what, "unity-fault")) run_unity(fault);
    else if (text_eq(what, "ztest") || text_eq(what, "ztest-fault")) run_ztest(fault);
    else {
        ontarget_running = 0;
        return 0;
    }
    ontarget_running = 0;
    return 1;
}

/* main.c's fw_fault: during a suite the fault is also a plain text line,
 * as an on-target framework's fault handler prints it. */
void ontarget_fault(const char* text) {
    if (!ontarget_running) return;
    put("\n*** ");
    put(text);
    put(" ***\n");
}
