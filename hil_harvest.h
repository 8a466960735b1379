/* hil_harvest.h - on-target test suites harvested into hil results.
 *
 * Most firmware already has tests that run on the target and print their
 * results: Unity (ThrowTheSwitch), Zephyr's Ztest, a TAP printer, cmocka or
 * another GoogleTest-style runner. hil reads what the target prints on any
 * channel (a UART, the qemu channel, a program's stdout through the process
 * channel, RTT, TCP) and turns every target test case into a hil test of
 * its own, as the line that ends it arrives: its result (the seven-result
 * model of hil.h), its duration (the target's figure where it prints one),
 * its failure message and file:line, and the lines it printed, in the
 * console, TAP, JUnit, JSON and a job's report.
 *
 * CONTENTS
 *   1. Line parsers          hil_harvest_parse_line: one line -> one event;
 *                            pure functions, no allocation (fuzz/fuzz_harvest.c)
 *   2. The harvester         hil_harvester_*: a stream of bytes -> cases,
 *                            crashes, silence and summaries checked
 *   3. Harvesting a channel  hil_harvest_channel, hil_harvest_test and the
 *                            HIL_HARVEST_TEST(_META) test kind
 *
 * ==========================================================================
 * EXAMPLE
 * ==========================================================================
 *
 *     # lab.conf: the firmware's UART on an emulated board
 *     connectors.fw.type = qemu
 *     connectors.fw.machine = mps2-an385
 *     connectors.fw.image = build/mcu/fw-mps2-an385-default.elf
 *
 *     #define HIL_IMPLEMENTATION
 *     #include "hil.h"
 *     #include "hil_connectors.h"
 *     #include "hil_harvest.h"
 *
 *     // Starts the suites with the line "#ontarget unity", reads until
 *     // Unity's "OK" or "FAIL"; each target case becomes fw.<case name>.
 *     HIL_HARVEST_TEST(fw, unity_suites, "fw", "format=unity; start=#ontarget unity; timeout_ms=20000")
 *
 *     HIL_MAIN()
 *
 * The harvesting test itself (fw.unity_suites) ends Passed when the run was
 * complete and consistent and no target case failed; Failed when a case
 * failed (the message names them); Errored when the target crashed,
 * rebooted, fell silent, stopped before its end line or printed a summary
 * that disagrees with what was seen. A harvesting test with retries
 * (HIL_HARVEST_TEST_META(fw, unity_suites, "retries=1", "fw", "...")) reports
 * the cases of its last attempt only, each once: a case that failed and then
 * passed is Passx, as a retried test is. Without a configuration file, or to
 * look at the counts yourself:
 *
 *     hil_harvest_config c;
 *     hil_harvest_summary s;
 *     hil_harvest_config_init(&c);
 *     c.format = HIL_HARVEST_TAP;
 *     r = hil_harvest_channel(ch, &c, &s);   (ch: an open hil_channel)
 *     HIL_EXPECT_OK(r);                      (hil_last_error() says what was wrong)
 *     HIL_EXPECT_EQ(s.counts[HIL_FAILED], 0);
 *
 * ==========================================================================
 * FORMATS (docs/harvesting.md has a complete example of each)
 * ==========================================================================
 *
 *   unity  FILE:LINE:NAME:PASS | FAIL: message | IGNORE[: message], an optional
 *          " (N ms)" (UNITY_INCLUDE_EXEC_TIME), then "N Tests N Failures N
 *          Ignored" and "OK" or "FAIL". The summary's counts are checked.
 *   ztest  Running TESTSUITE s / START - t / PASS|FAIL|SKIP - t in S seconds /
 *          TESTSUITE s succeeded|failed, the summary block (SUITE PASS - ...
 *          [s]: pass = a, fail = b, skip = c, total = d ..., " - PASS - [s.t]
 *          duration = ..."), PROJECT EXECUTION SUCCESSFUL|FAILED, and the
 *          "Assertion failed at FILE:LINE: ..." line before a FAIL; the older
 *          "Running test suite s" and "Test suite s succeeded". Matched
 *          anywhere in a line (as Twister does), so a log prefix is fine.
 *          Cases are named <suite>.<test> after the Ztest suite.
 *   tap    TAP 13/14: the plan (first or last), ok / not ok [N] [-] name
 *          [# SKIP|TODO why], YAML diagnostics (message:, file:/line:, and
 *          Criterion's "- FILE:LINE: |"), "# FILE:LINE: ..." comments (cmocka),
 *          Bail out!. A case is reported when the next line that is not its
 *          diagnostic arrives. "not ok # TODO" is Skipped (an expected failure),
 *          "ok # TODO" Passed with a warning. Subtests (indented) are read as
 *          diagnostics of their parent.
 *   gtest  [==========] Running N tests / [ RUN      ] / [       OK ] /
 *          [  FAILED  ] / [  SKIPPED ] / [  ERROR   ] --- msg / [   LINE   ] ---
 *          FILE:LINE: ... / [==========] N tests run / [  PASSED  ] N tests, as
 *          cmocka prints them (and GoogleTest's own "(N ms)" durations).
 *   auto   the first line one of the parsers recognises decides (default).
 *
 * CRASHES AND SILENCE: a line with a fatal pattern (defaults: "ZEPHYR FATAL
 * ERROR", "HardFault", "HARD FAULT", "Kernel panic", "FATAL EXCEPTION"; your own in
 * config.fatal), the boot banner again (config.banner), the stream ending
 * (a program exited) or no byte for config.idle_timeout_ms: the case that
 * was running is Errored with the last lines, the cases a plan announced but
 * that never ran are Blocked ("not run"), and the harvest fails. A line
 * longer than config.max_line is cut there (counted, reported as a warning);
 * control bytes and other binary garbage become '?' (counted); memory stays
 * bounded (config.max_line, config.max_case_output, HIL_HARVEST_MAX_NAMES).
 *
 * OPTIONS of hil_harvest_test / HIL_HARVEST_TEST ("key=value; ..."):
 *   format=auto|unity|ztest|tap|gtest   suite=NAME (the cases' suite)
 *   timeout_ms=N (60000, the whole run)  idle_timeout_ms=N (10000, silence)
 *   settle_ms=N (300: reading on after the end line or a crash)
 *   reset=1 (hil_channel_reset before reading: from boot)
 *   start=TEXT (a line sent to start the suites; "\n" is added)
 *   banner=TEXT (the boot banner)  fatal=TEXT (one more fatal pattern)
 *   max_line=N (4096)
 *
 * THREADS: a harvester belongs to one thread. hil_report_case (hil.h) is
 * what carries a case into the reports; a test runs the harvest.
 *
 * Needs hil.h and hil_connectors.h first. The implementation is compiled
 * where HIL_IMPLEMENTATION is defined (or HIL_IMPLEMENTATION_HARVEST, in a
 * file of its own: README, "Build time"). Docs: docs/harvesting.md.
 */
#ifndef HIL_HARVEST_H_INCLUDED
#define HIL_HARVEST_H_INCLUDED

#include "hil.h"
#include "hil_connectors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * 1. Line parsers
 * ========================================================================== */

typedef enum hil_harvest_format {
    HIL_HARVEST_AUTO = 0,
    HIL_HARVEST_UNITY,
    HIL_HARVEST_ZTEST,
    HIL_HARVEST_TAP,
    HIL_HARVEST_GTEST,
    HIL_HARVEST_FORMAT_COUNT
} hil_harvest_format;

HIL_API const char* hil_harvest_format_name(hil_harvest_format f); /* "unity", ... */
/* "auto", "unity", "ztest", "tap", "gtest" -> format; HIL_ERR_INVALID_ARG naming the choices */
HIL_API hil_result hil_harvest_format_parse(const char* name, hil_harvest_format* out);

typedef enum hil_harvest_kind {
    HIL_HV_NONE = 0,     /* nothing this format knows */
    HIL_HV_HELLO,        /* the format announces itself ("TAP version 13") */
    HIL_HV_SUITE_START,  /* suite */
    HIL_HV_SUITE_END,    /* suite, outcome */
    HIL_HV_CASE_START,   /* name */
    HIL_HV_CASE_END,     /* name, outcome, duration_s, message, file:line */
    HIL_HV_ASSERT,       /* message and/or file:line of the running case's failure */
    HIL_HV_DIAG,         /* a diagnostic of the last case (TAP); message, file:line when found */
    HIL_HV_PLAN,         /* total: cases announced */
    HIL_HV_SUMMARY,      /* suite; total, passed, failed, skipped (-1: not given) */
    HIL_HV_LISTED,       /* a case in a summary block: suite, name, outcome */
    HIL_HV_DONE,         /* the end line; outcome Passed or Failed */
    HIL_HV_BAIL          /* the run gave up (TAP "Bail out!"); message */
} hil_harvest_kind;

/* A piece of the parsed line (not NUL-terminated). */
typedef struct hil_harvest_str { const char* p; size_t n; } hil_harvest_str;

typedef struct hil_harvest_event {
    hil_harvest_kind kind;
    hil_outcome outcome;
    hil_harvest_str suite, name, message, file;
    long line;              /* 0: none */
    double duration_s;      /* < 0: not given */
    long total, passed, failed, skipped; /* -1: not given */
    int todo;               /* TAP: a TODO directive */
    int block;              /* TAP: a YAML block scalar ("|") follows: its lines are the message */
} hil_harvest_event;

/* Parse one line (without its line ending) in format f (not AUTO). Returns
 * the event's kind (also in ev->kind); ev's strings point into line. Pure:
 * no allocation, no state, reads only line[0..len). */
HIL_API hil_harvest_kind hil_harvest_parse_line(hil_harvest_format f, const char* line, size_t len,
                                                hil_harvest_event* ev);

/* ==========================================================================
 * 2. The harvester
 * ========================================================================== */

#define HIL_HARVEST_MAX_NAMES 100000u  /* distinct case names remembered (summary checks) */
#ifndef HIL_HARVEST_MAX_NOT_RUN
#define HIL_HARVEST_MAX_NOT_RUN 1000u  /* announced cases never run, reported one by one; the rest as one */
#endif
#define HIL_HARVEST_MAX_FATAL 8u

typedef struct hil_harvest_config {
    hil_harvest_format format;      /* AUTO (default): detected from the first line a parser knows */
    const char* suite;              /* the cases' suite; NULL: Ztest's suite, else the running test's */
    size_t max_line;                /* longer lines are cut (4096) */
    size_t max_case_output;         /* lines kept per case (8192 bytes) */
    size_t context_lines;           /* last lines shown with a crash or silence (8) */
    const char* fatal[HIL_HARVEST_MAX_FATAL]; /* more fatal patterns (substrings), NULL-ended */
    int no_default_fatal;           /* 1: only config.fatal */
    const char* banner;             /* the boot banner: seen again = the target rebooted */
    int timeout_ms;                 /* hil_harvest_channel: the whole run (60000) */
    int idle_timeout_ms;            /* no byte this long: silence (10000) */
    int settle_ms;                  /* read on after the end line or a crash (300) */
    int reset;                      /* hil_harvest_channel: hil_channel_reset first */
    const char* start;              /* hil_harvest_channel: a line to send first ("\n" added) */
    /* Where cases go (default: hil_report_case). */
    void (*on_case)(void* user, const hil_case_report* c);
    void* user;
} hil_harvest_config;

typedef struct hil_harvest_summary {
    hil_harvest_format format;      /* the one used */
    size_t cases;                   /* reported */
    size_t counts[HIL_OUTCOME_COUNT];
    size_t lines, truncated_lines, garbage_bytes;
    long planned;                   /* announced by a plan, -1: none */
    int finished;                   /* the end line was seen */
    int crashed;                    /* a fatal pattern or a reboot */
    int timed_out;                  /* silence or the whole-run timeout */
    hil_result result;              /* HIL_OK: complete and consistent */
    char error[768];                /* why not: for people */
    char failed_names[256];         /* the first failed cases, for messages */
} hil_harvest_summary;

typedef struct hil_harvester hil_harvester;

HIL_API void hil_harvest_config_init(hil_harvest_config* c);
HIL_API hil_result hil_harvester_create(const hil_harvest_config* c, hil_harvester** out);
/* Bytes as they arrive, any chunking. */
HIL_API void hil_harvester_feed(hil_harvester* h, const void* data, size_t len);
/* 1 once the end line was seen, a crash happened or the run bailed out:
 * the caller reads on for settle_ms, then finishes. */
HIL_API int hil_harvester_ending(const hil_harvester* h);
/* End of input: why (NULL when the end line was seen) says what ended it
 * ("the stream closed", "no output for 10000 ms"); timed_out marks silence.
 * Reports what is still open, checks the counts and fills *out. */
HIL_API hil_result hil_harvester_finish(hil_harvester* h, const char* why, int timed_out, hil_harvest_summary* out);
HIL_API void hil_harvester_destroy(hil_harvester* h);

/* ==========================================================================
 * 3. Harvesting a channel
 * ========================================================================== */

/* Read an open channel (from a reset or a start line, when configured) until
 * the end line and settle_ms after it, a crash, silence, the timeout or the
 * end of the stream. The channel should use raw framing (line framing works
 * too: each message is a line). Returns summary->result, with
 * hil_last_error() = summary->error. */
HIL_API hil_result hil_harvest_channel(hil_channel* ch, const hil_harvest_config* c, hil_harvest_summary* summary);

/* Parse "key=value; ..." (the OPTIONS above) into c. Strings point into a
 * copy kept in *keep (free it with HIL_FREE after use). */
HIL_API hil_result hil_harvest_options(const char* options, hil_harvest_config* c, char** keep);

/* The body of HIL_HARVEST_TEST: the connector from configuration, opened,
 * harvested, closed; the running test ends Failed or Errored as described
 * at the top. */
HIL_API void hil_harvest_test(const char* connector, const char* options);
/* The same, with the place failures are reported at (the macro's line). */
HIL_API void hil_harvest_test_at(const char* connector, const char* options, const char* file, int line);

#define HIL_HARVEST_TEST(suite, name, connector, options) HIL_HARVEST_TEST_META(suite, name, "", connector, options)
/* With the test's metadata (HIL_TEST_META), e.g. "retries=1; timeout=120":
 * a retried harvest reports the last attempt's cases (docs/harvesting.md). */
#define HIL_HARVEST_TEST_META(suite, name, meta, connector, options) \
    HIL_TEST_META(suite, name, meta) { hil_harvest_test_at(connector, options, __FILE__, __LINE__); }

#ifdef __cplusplus
}
#endif

#endif /* HIL_HARVEST_H_INCLUDED */

/* ==========================================================================
 * IMPLEMENTATION
 * ========================================================================== */
#if (defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_HARVEST)) && !defined(HIL_HARVEST__IMPLEMENTED)
#define HIL_HARVEST__IMPLEMENTED
#ifndef HIL__PRELUDE_DONE
#error "hil_harvest.h: define HIL_IMPLEMENTATION_HARVEST before the first hil header of the file"
#endif

#include <string.h>
#include <stdlib.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 1. line parsers ------------------------------------------------------ */

static const char* const hil__hv_format_names[HIL_HARVEST_FORMAT_COUNT] = {"auto", "unity", "ztest", "tap", "gtest"};

HIL_API const char* hil_harvest_format_name(hil_harvest_format f) {
    return (unsigned)f < HIL_HARVEST_FORMAT_COUNT ? hil__hv_format_names[f] : "?";
}

HIL_API hil_result hil_harvest_format_parse(const char* name, hil_harvest_format* out) {
    int i;
    for (i = 0; i < (int)HIL_HARVEST_FORMAT_COUNT; i++)
        if (name && strcmp(name, hil__hv_format_names[i]) == 0) { *out = (hil_harvest_format)i; return HIL_OK; }
    return hil_error(HIL_ERR_INVALID_ARG, "harvest: unknown format '%s': use auto, unity, ztest, tap or gtest",
                     name ? name : "(null)");
}

/* A cursor over the line: every helper stays inside [p, e). */
typedef struct hil__hv_cur { const char* p; const char* e; } hil__hv_cur;

static hil_harvest_str hil__hv_s(const char* p, const char* e) {
    hil_harvest_str s;
    s.p = p;
    s.n = e > p ? (size_t)(e - p) : 0;
    return s;
}

static int hil__hv_isspace(char c) { return c == ' ' || c == '\t' || c == '\r'; }
static int hil__hv_isdigit(char c) { return c >= '0' && c <= '9'; }

static hil_harvest_str hil__hv_trim(hil_harvest_str s) {
    while (s.n && hil__hv_isspace(s.p[0])) { s.p++; s.n--; }
    while (s.n && hil__hv_isspace(s.p[s.n - 1])) s.n--;
    return s;
}

/* the first occurrence of lit in [p, e), or NULL */
static const char* hil__hv_find(const char* p, const char* e, const char* lit) {
    size_t n = strlen(lit);
    if (!n) return p;
    while ((size_t)(e - p) >= n) {
        const char* q = (const char*)memchr(p, lit[0], (size_t)(e - p) - n + 1);
        if (!q) return NULL;
        if (memcmp(q, lit, n) == 0) return q;
        p = q + 1;
    }
    return NULL;
}

static int hil__hv_starts(const char* p, const char* e, const char* lit) {
    size_t n = strlen(lit);
    return (size_t)(e - p) >= n && memcmp(p, lit, n) == 0;
}

/* a decimal number at *p (bounded, no overflow); -1 if none */
static long hil__hv_num(const char** p, const char* e) {
    long v = 0;
    const char* q = *p;
    if (q >= e || !hil__hv_isdigit(*q)) return -1;
    /* Saturates at 999999999: a count, line or plan that long is nonsense,
     * and the callers add counts to it (dropping the extra digits, as this
     * did once, read "1..4000000000" as 400000000) */
    while (q < e && hil__hv_isdigit(*q)) {
        v = v < 100000000L ? v * 10 + (*q - '0') : 999999999L;
        q++;
    }
    *p = q;
    return v;
}

/* "12.345" or "12,345" or "12" -> seconds; -1 if none */
static double hil__hv_decimal(const char** p, const char* e) {
    const char* q = *p;
    double v = 0, scale = 1;
    int any = 0;
    while (q < e && hil__hv_isdigit(*q)) {
        if (v < 1e12) v = v * 10 + (*q - '0');
        q++;
        any = 1;
    }
    if (q < e && (*q == '.' || *q == ',')) {
        q++;
        while (q < e && hil__hv_isdigit(*q)) {
            scale /= 10;
            if (scale > 1e-12) v += (*q - '0') * scale;
            q++;
            any = 1;
        }
    }
    if (!any) return -1;
    *p = q;
    return v;
}

static void hil__hv_clear(hil_harvest_event* ev) {
    memset(ev, 0, sizeof *ev);
    ev->duration_s = -1;
    ev->total = ev->passed = ev->failed = ev->skipped = -1;
}

/* "FILE:LINE:" at the start of [p, e): file without spaces, line digits.
 * On success *rest is after the colon that ends LINE. */
static int hil__hv_where(const char* p, const char* e, hil_harvest_str* file, long* line, const char** rest) {
    const char* q = p;
    while (q < e) {
        if (*q == ' ' || *q == '\t') return 0;
        if (*q == ':' && q > p && q + 1 < e && hil__hv_isdigit(q[1])) {
            const char* d = q + 1;
            long n = hil__hv_num(&d, e);
            if (n >= 0 && (d == e || *d == ':' || *d == ' ' || *d == ')')) {
                *file = hil__hv_s(p, q);
                *line = n;
                *rest = d < e && *d == ':' ? d + 1 : d;
                return 1;
            }
        }
        q++;
    }
    return 0;
}

/* Unity: FILE:LINE:NAME:RESULT[: message] and the summary lines */
static hil_harvest_kind hil__hv_unity(const char* p, const char* e, hil_harvest_event* ev) {
    hil_harvest_str file;
    long line;
    const char* rest;
    hil_harvest_str t = hil__hv_trim(hil__hv_s(p, e));
    p = t.p;
    e = t.p + t.n;
    if (!t.n) return HIL_HV_NONE;
    if (t.n == 2 && memcmp(t.p, "OK", 2) == 0) { ev->outcome = HIL_PASSED; return ev->kind = HIL_HV_DONE; }
    if (t.n == 4 && memcmp(t.p, "FAIL", 4) == 0) { ev->outcome = HIL_FAILED; return ev->kind = HIL_HV_DONE; }
    if (hil__hv_isdigit(*p)) {
        /* "N Tests N Failures N Ignored" */
        const char* q = p;
        long a = hil__hv_num(&q, e), b, c;
        if (!hil__hv_starts(q, e, " Tests ")) return HIL_HV_NONE;
        q += 7;
        if ((b = hil__hv_num(&q, e)) < 0 || !hil__hv_starts(q, e, " Failures ")) return HIL_HV_NONE;
        q += 10;
        if ((c = hil__hv_num(&q, e)) < 0 || !hil__hv_starts(q, e, " Ignored")) return HIL_HV_NONE;
        ev->total = a;
        ev->failed = b;
        ev->skipped = c;
        ev->passed = a - b - c >= 0 ? a - b - c : -1;
        return ev->kind = HIL_HV_SUMMARY;
    }
    if (!hil__hv_where(p, e, &file, &line, &rest)) return HIL_HV_NONE;
    {
        const char* name = rest;
        const char* c = (const char*)memchr(name, ':', (size_t)(e - name));
        const char* r;
        const char* re;
        if (!c || c == name) return HIL_HV_NONE;
        r = c + 1;
        re = (const char*)memchr(r, ':', (size_t)(e - r));
        if (!re) re = e;
        ev->name = hil__hv_s(name, c);
        ev->file = file;
        ev->line = line;
        {
            hil_harvest_str word = hil__hv_trim(hil__hv_s(r, re));
            /* UNITY_INCLUDE_EXEC_TIME: "PASS (12 ms)" */
            const char* paren = (const char*)memchr(word.p, '(', word.n);
            if (paren) {
                const char* d = paren + 1;
                double ms = hil__hv_decimal(&d, word.p + word.n);
                if (ms >= 0) ev->duration_s = ms / 1000.0;
                word = hil__hv_trim(hil__hv_s(word.p, paren));
            }
            if (word.n == 4 && memcmp(word.p, "PASS", 4) == 0) ev->outcome = HIL_PASSED;
            else if (word.n == 4 && memcmp(word.p, "FAIL", 4) == 0) ev->outcome = HIL_FAILED;
            else if (word.n == 6 && memcmp(word.p, "IGNORE", 6) == 0) ev->outcome = HIL_SKIPPED;
            else return HIL_HV_NONE;
        }
        if (re < e) ev->message = hil__hv_trim(hil__hv_s(re + 1, e));
        return ev->kind = HIL_HV_CASE_END;
    }
}

/* "PASS|FAIL|SKIP" at p -> outcome, or NOT_RUN */
static hil_outcome hil__hv_ztest_word(const char* p, const char* e) {
    if (hil__hv_starts(p, e, "PASS")) return HIL_PASSED;
    if (hil__hv_starts(p, e, "FAIL")) return HIL_FAILED;
    if (hil__hv_starts(p, e, "SKIP")) return HIL_SKIPPED;
    return HIL_NOT_RUN;
}

static hil_harvest_str hil__hv_word(const char* p, const char* e) {
    const char* q = p;
    while (q < e && !hil__hv_isspace(*q)) q++;
    return hil__hv_s(p, q);
}

/* "key = N" after p; -1 if absent */
static long hil__hv_keynum(const char* p, const char* e, const char* key) {
    const char* q = hil__hv_find(p, e, key);
    if (!q) return -1;
    q += strlen(key);
    while (q < e && (*q == ' ' || *q == '=')) q++;
    return hil__hv_num(&q, e);
}

/* Ztest, matched anywhere in the line as Twister's harness.py does */
static hil_harvest_kind hil__hv_ztest(const char* p, const char* e, hil_harvest_event* ev) {
    const char* q;
    if ((q = hil__hv_find(p, e, "Running TESTSUITE ")) != NULL) {
        ev->suite = hil__hv_word(q + 18, e);
        return ev->kind = ev->suite.n ? HIL_HV_SUITE_START : HIL_HV_NONE;
    }
    if ((q = hil__hv_find(p, e, "Running test suite ")) != NULL) {
        ev->suite = hil__hv_word(q + 19, e);
        return ev->kind = ev->suite.n ? HIL_HV_SUITE_START : HIL_HV_NONE;
    }
    if ((q = hil__hv_find(p, e, "PROJECT EXECUTION ")) != NULL) {
        q += 18;
        if (hil__hv_starts(q, e, "SUCCESSFUL")) ev->outcome = HIL_PASSED;
        else if (hil__hv_starts(q, e, "FAILED")) ev->outcome = HIL_FAILED;
        else return HIL_HV_NONE;
        return ev->kind = HIL_HV_DONE;
    }
    if ((q = hil__hv_find(p, e, "Assertion failed at ")) != NULL) {
        const char* rest;
        q += 20;
        if (hil__hv_where(q, e, &ev->file, &ev->line, &rest)) ev->message = hil__hv_trim(hil__hv_s(rest, e));
        else ev->message = hil__hv_trim(hil__hv_s(q, e));
        return ev->kind = HIL_HV_ASSERT;
    }
    if ((q = hil__hv_find(p, e, "SUITE ")) != NULL && (q == p || q[-1] != 'T') &&
        hil__hv_ztest_word(q + 6, e) != HIL_NOT_RUN) {
        /* SUITE PASS - 100.00% [name]: pass = 1, fail = 0, skip = 0, total = 1 duration = ... */
        const char* lb = hil__hv_find(q, e, "[");
        const char* rb = lb ? hil__hv_find(lb, e, "]") : NULL;
        if (!rb) return HIL_HV_NONE;
        ev->suite = hil__hv_s(lb + 1, rb);
        ev->passed = hil__hv_keynum(rb, e, "pass");
        ev->failed = hil__hv_keynum(rb, e, "fail");
        ev->skipped = hil__hv_keynum(rb, e, "skip");
        ev->total = hil__hv_keynum(rb, e, "total");
        {
            const char* d = hil__hv_find(rb, e, "duration = ");
            if (d) {
                d += 11;
                ev->duration_s = hil__hv_decimal(&d, e);
            }
        }
        ev->outcome = hil__hv_ztest_word(q + 6, e);
        return ev->kind = HIL_HV_SUMMARY;
    }
    if ((q = hil__hv_find(p, e, "TESTSUITE ")) != NULL || (q = hil__hv_find(p, e, "Test suite ")) != NULL) {
        const char* s = q + (*q == 'T' && q[1] == 'E' ? 10 : 11);
        hil_harvest_str name = hil__hv_word(s, e);
        const char* st = name.p + name.n;
        while (st < e && hil__hv_isspace(*st)) st++;
        if (!name.n) return HIL_HV_NONE;
        if (hil__hv_starts(st, e, "succeeded")) ev->outcome = HIL_PASSED;
        else if (hil__hv_starts(st, e, "failed")) ev->outcome = HIL_FAILED;
        else if (hil__hv_starts(st, e, "skipped")) ev->outcome = HIL_SKIPPED;
        else return HIL_HV_NONE;
        ev->suite = name;
        return ev->kind = HIL_HV_SUITE_END;
    }
    if ((q = hil__hv_find(p, e, "START - ")) != NULL) {
        ev->name = hil__hv_word(q + 8, e);
        return ev->kind = ev->name.n ? HIL_HV_CASE_START : HIL_HV_NONE;
    }
    /* " - PASS - [suite.test] duration = 0.001 seconds" (the summary block) */
    if ((q = hil__hv_find(p, e, " - [")) != NULL && q >= p + 4 && hil__hv_ztest_word(q - 4, e) != HIL_NOT_RUN) {
        const char* rb = hil__hv_find(q + 4, e, "]");
        const char* dot;
        if (!rb) return HIL_HV_NONE;
        ev->outcome = hil__hv_ztest_word(q - 4, e);
        dot = (const char*)memchr(q + 4, '.', (size_t)(rb - (q + 4)));
        if (dot) {
            ev->suite = hil__hv_s(q + 4, dot);
            ev->name = hil__hv_s(dot + 1, rb);
        } else {
            ev->name = hil__hv_s(q + 4, rb);
        }
        {
            const char* d = hil__hv_find(rb, e, "duration = ");
            if (d) {
                d += 11;
                ev->duration_s = hil__hv_decimal(&d, e);
            }
        }
        return ev->kind = ev->name.n ? HIL_HV_LISTED : HIL_HV_NONE;
    }
    /* " PASS - name in 0.001 seconds" */
    {
        const char* words[3] = {"PASS - ", "FAIL - ", "SKIP - "};
        int i;
        for (i = 0; i < 3; i++) {
            if ((q = hil__hv_find(p, e, words[i])) != NULL) {
                const char* in;
                ev->name = hil__hv_word(q + 7, e);
                in = ev->name.p + ev->name.n;
                if (!ev->name.n || !hil__hv_starts(in, e, " in ")) return HIL_HV_NONE;
                in += 4;
                ev->duration_s = hil__hv_decimal(&in, e);
                ev->outcome = hil__hv_ztest_word(q, e);
                return ev->kind = HIL_HV_CASE_END;
            }
        }
    }
    return HIL_HV_NONE;
}

/* A TAP diagnostic (YAML line or "# comment"): message and file:line where
 * they can be told apart. */
static void hil__hv_diag(const char* p, const char* e, hil_harvest_event* ev) {
    hil_harvest_str t = hil__hv_trim(hil__hv_s(p, e));
    const char* q = t.p;
    const char* qe = t.p + t.n;
    const char* rest;
    while (q < qe && (*q == '#' || *q == '-' || *q == ' ')) q++;
    if (hil__hv_starts(q, qe, "message:")) {
        hil_harvest_str m = hil__hv_trim(hil__hv_s(q + 8, qe));
        if (m.n >= 2 && (m.p[0] == '\'' || m.p[0] == '"') && m.p[m.n - 1] == m.p[0]) { m.p++; m.n -= 2; }
        ev->message = m;
    } else if (hil__hv_starts(q, qe, "file:")) {
        ev->file = hil__hv_trim(hil__hv_s(q + 5, qe));
    } else if (hil__hv_starts(q, qe, "line:")) {
        const char* d = q + 5;
        while (d < qe && *d == ' ') d++;
        ev->line = hil__hv_num(&d, qe);
        if (ev->line < 0) ev->line = 0;
    } else if (hil__hv_where(q, qe, &ev->file, &ev->line, &rest)) {
        hil_harvest_str m = hil__hv_trim(hil__hv_s(rest, qe));
        /* "|+" starts a YAML block (Criterion): the message is on the next lines */
        if (m.n <= 2 && m.n && m.p[0] == '|') ev->block = 1;
        else ev->message = m;
    } else if (q < qe && t.n && t.p[0] != '#' && !hil__hv_starts(q, qe, "...") && !hil__hv_starts(q, qe, "--") &&
               (const char*)memchr(q, ':', (size_t)(qe - q)) == NULL) {
        /* a bare YAML block line: the text of a block scalar */
        ev->message = hil__hv_s(q, qe);
    } else if (t.n && t.p[0] == '#' && q < qe) {
        ev->message = hil__hv_s(q, qe);
    }
}

static hil_harvest_kind hil__hv_tap(const char* p, const char* e, hil_harvest_event* ev) {
    const char* q = p;
    int ok;
    if (p < e && (*p == ' ' || *p == '\t' || *p == '#')) {
        hil__hv_diag(p, e, ev);
        return ev->kind = HIL_HV_DIAG;
    }
    if (hil__hv_starts(p, e, "TAP version ")) return ev->kind = HIL_HV_HELLO;
    if (hil__hv_starts(p, e, "Bail out!")) {
        ev->message = hil__hv_trim(hil__hv_s(p + 9, e));
        return ev->kind = HIL_HV_BAIL;
    }
    if (hil__hv_starts(p, e, "1..")) {
        const char* d = p + 3;
        long n = hil__hv_num(&d, e);
        if (n < 0) return HIL_HV_NONE;
        ev->total = n;
        while (d < e && *d == ' ') d++;
        if (d < e && *d != '#') return HIL_HV_NONE;
        if (d < e) ev->message = hil__hv_trim(hil__hv_s(d + 1, e));
        return ev->kind = HIL_HV_PLAN;
    }
    if (hil__hv_starts(p, e, "ok")) { ok = 1; q = p + 2; }
    else if (hil__hv_starts(p, e, "not ok")) { ok = 0; q = p + 6; }
    else return HIL_HV_NONE;
    if (q < e && *q != ' ') return HIL_HV_NONE;
    while (q < e && *q == ' ') q++;
    {
        const char* d = q;
        long n = hil__hv_num(&d, e);
        if (n >= 0) {
            ev->line = 0;
            ev->total = n; /* the test number */
            q = d;
        }
    }
    while (q < e && *q == ' ') q++;
    if (hil__hv_starts(q, e, "- ")) q += 2;
    else if (q + 1 == e && *q == '-') q++;
    {
        const char* hash = q;
        const char* desc_end = e;
        /* the directive: the first " # " ('\#' is an escaped '#') */
        while ((hash = (const char*)memchr(hash, '#', (size_t)(e - hash))) != NULL) {
            if (hash > q && hash[-1] == '\\') { hash++; continue; }
            desc_end = hash;
            break;
        }
        ev->name = hil__hv_trim(hil__hv_s(q, desc_end));
        ev->outcome = ok ? HIL_PASSED : HIL_FAILED;
        if (hash) {
            hil_harvest_str d = hil__hv_trim(hil__hv_s(hash + 1, e));
            if (d.n >= 4 && (strncmp(d.p, "SKIP", 4) == 0 || strncmp(d.p, "skip", 4) == 0)) {
                const char* r = d.p + 4;
                while (r < d.p + d.n && ((*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z'))) r++;
                ev->outcome = HIL_SKIPPED;
                ev->message = hil__hv_trim(hil__hv_s(r, d.p + d.n));
            } else if (d.n >= 4 && (strncmp(d.p, "TODO", 4) == 0 || strncmp(d.p, "todo", 4) == 0)) {
                ev->todo = 1;
                ev->message = hil__hv_trim(hil__hv_s(d.p + 4, d.p + d.n));
                if (!ok) ev->outcome = HIL_SKIPPED;
            }
        }
        /* Criterion: "name  (0.01s)" */
        if (ev->name.n > 4 && ev->name.p[ev->name.n - 1] == ')' && ev->name.p[ev->name.n - 2] == 's') {
            const char* lp = ev->name.p + ev->name.n - 2;
            while (lp > ev->name.p && *lp != '(') lp--;
            if (*lp == '(') {
                const char* d = lp + 1;
                double s = hil__hv_decimal(&d, ev->name.p + ev->name.n);
                if (s >= 0 && *d == 's') {
                    ev->duration_s = s;
                    ev->name = hil__hv_trim(hil__hv_s(ev->name.p, lp));
                }
            }
        }
    }
    return ev->kind = HIL_HV_CASE_END;
}

/* "[ TAG ] rest": the tag without spaces, rest trimmed; 0 if not so */
static int hil__hv_gtag(const char* p, const char* e, hil_harvest_str* tag, hil_harvest_str* rest) {
    const char* rb;
    if (p >= e || *p != '[') return 0;
    rb = (const char*)memchr(p, ']', (size_t)(e - p));
    if (!rb || rb - p > 16) return 0;
    *tag = hil__hv_trim(hil__hv_s(p + 1, rb));
    *rest = hil__hv_trim(hil__hv_s(rb + 1, e));
    return 1;
}

static int hil__hv_streq(hil_harvest_str s, const char* lit) { return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0; }

/* "(12 ms)" at the end of name: into duration */
static void hil__hv_gtest_ms(hil_harvest_event* ev) {
    hil_harvest_str n = ev->name;
    if (n.n > 5 && n.p[n.n - 1] == ')' && hil__hv_find(n.p, n.p + n.n, " ms)")) {
        const char* lp = n.p + n.n - 1;
        while (lp > n.p && *lp != '(') lp--;
        if (*lp == '(') {
            const char* d = lp + 1;
            double ms = hil__hv_decimal(&d, n.p + n.n);
            if (ms >= 0) {
                ev->duration_s = ms / 1000.0;
                ev->name = hil__hv_trim(hil__hv_s(n.p, lp));
            }
        }
    }
}

static hil_harvest_kind hil__hv_gtest(const char* p, const char* e, hil_harvest_event* ev) {
    hil_harvest_str tag, rest;
    const char* q;
    if (!hil__hv_gtag(p, e, &tag, &rest)) return HIL_HV_NONE;
    q = rest.p;
    if (hil__hv_streq(tag, "==========")) {
        if (hil__hv_starts(q, rest.p + rest.n, "Running ")) {
            q += 8;
            ev->total = hil__hv_num(&q, rest.p + rest.n);
            return ev->kind = ev->total >= 0 ? HIL_HV_PLAN : HIL_HV_NONE;
        }
        if (rest.n && hil__hv_isdigit(*q) && (hil__hv_find(q, rest.p + rest.n, " run") || hil__hv_find(q, rest.p + rest.n, " ran"))) {
            ev->total = hil__hv_num(&q, rest.p + rest.n);
            return ev->kind = HIL_HV_DONE;
        }
        return HIL_HV_NONE;
    }
    if (hil__hv_streq(tag, "RUN")) {
        ev->name = rest;
        return ev->kind = rest.n ? HIL_HV_CASE_START : HIL_HV_NONE;
    }
    if (hil__hv_streq(tag, "ERROR")) {
        if (hil__hv_starts(q, rest.p + rest.n, "---")) q += 3;
        ev->message = hil__hv_trim(hil__hv_s(q, rest.p + rest.n));
        return ev->kind = HIL_HV_ASSERT;
    }
    if (hil__hv_streq(tag, "LINE")) {
        const char* r;
        if (hil__hv_starts(q, rest.p + rest.n, "---")) q += 3;
        while (q < rest.p + rest.n && *q == ' ') q++;
        if (!hil__hv_where(q, rest.p + rest.n, &ev->file, &ev->line, &r)) return HIL_HV_NONE;
        return ev->kind = HIL_HV_ASSERT;
    }
    {
        hil_outcome o = HIL_NOT_RUN;
        if (hil__hv_streq(tag, "OK")) o = HIL_PASSED;
        else if (hil__hv_streq(tag, "FAILED")) o = HIL_FAILED;
        else if (hil__hv_streq(tag, "SKIPPED")) o = HIL_SKIPPED;
        else if (hil__hv_streq(tag, "PASSED")) o = HIL_PASSX; /* marker: the summary line */
        if (o == HIL_NOT_RUN || !rest.n) return HIL_HV_NONE;
        if (hil__hv_isdigit(*q) && (hil__hv_find(q, rest.p + rest.n, " test") != NULL)) {
            /* "[  PASSED  ] 2 test(s)." / "[  FAILED  ] 1 test(s), listed below:" */
            long n = hil__hv_num(&q, rest.p + rest.n);
            if (o == HIL_PASSX) ev->passed = n;
            else if (o == HIL_FAILED) ev->failed = n;
            else if (o == HIL_SKIPPED) ev->skipped = n;
            else return HIL_HV_NONE;
            return ev->kind = HIL_HV_SUMMARY;
        }
        if (o == HIL_PASSX) return HIL_HV_NONE;
        ev->outcome = o;
        ev->name = rest;
        hil__hv_gtest_ms(ev);
        return ev->kind = HIL_HV_CASE_END;
    }
}

HIL_API hil_harvest_kind hil_harvest_parse_line(hil_harvest_format f, const char* line, size_t len,
                                                hil_harvest_event* ev) {
    const char* e = line + len;
    hil__hv_clear(ev);
    if (!line) return HIL_HV_NONE;
    while (e > line && (e[-1] == '\r' || e[-1] == '\n')) e--;
    switch (f) {
    case HIL_HARVEST_UNITY: return hil__hv_unity(line, e, ev);
    case HIL_HARVEST_ZTEST: return hil__hv_ztest(line, e, ev);
    case HIL_HARVEST_TAP: return hil__hv_tap(line, e, ev);
    case HIL_HARVEST_GTEST: return hil__hv_gtest(line, e, ev);
    default: return HIL_HV_NONE;
    }
}

/* ---- 2. the harvester ------------------------------------------------------- */

static const char* const hil__hv_default_fatal[] = {"ZEPHYR FATAL ERROR", "HardFault", "HARD FAULT", "Kernel panic", "FATAL EXCEPTION"};

typedef struct hil__hv_suite_count {
    char* name;
    long seen[HIL_OUTCOME_COUNT];
} hil__hv_suite_count;

struct hil_harvester {
    hil_harvest_config c;
    hil_harvest_format fmt;           /* AUTO until detected */
    hil_strbuf line;                  /* the line being assembled (bounded) */
    int line_cut;                     /* bytes of this line were dropped */
    size_t line_text_at;              /* where the text after the line's last binary byte starts */
    hil_strbuf ring;                  /* the last lines, '\n'-separated, for context */
    hil_strbuf out;                   /* lines of the case in progress (bounded) */
    int out_cut;
    /* the case in progress */
    char* running;                    /* started (CASE_START), not ended */
    uint64_t running_t0, last_t;
    char* suite;                      /* Ztest's current suite */
    /* an assertion before its case's end (Ztest, cmocka) */
    char* a_msg;
    char* a_file;
    long a_line;
    /* TAP: the case waits for its diagnostics */
    int pend;
    hil_case_report pc;
    char *pc_name, *pc_msg, *pc_file;
    int pc_todo_pass;
    long tap_next;                    /* TAP: the next test number expected */
    /* counts */
    hil_harvest_summary sum;
    long seen[HIL_OUTCOME_COUNT];
    long group_base[HIL_OUTCOME_COUNT]; /* gtest: seen[] when the current group began */
    long group_planned;                 /* gtest: the current group's "Running N" */
    hil__hv_suite_count* suites;
    size_t n_suites;
    char** names;                     /* reported full names, for the summary block */
    size_t n_names, cap_names;
    long unity_total, unity_failed, unity_skipped; /* from the summary line, -1: not seen */
    int unity_summary;
    long sum_passed, sum_failed, sum_skipped;       /* gtest summary lines */
    int ending;                       /* end line, crash or bail: read on for settle_ms */
    int bailed;
    int banner_seen;
    int tap_block;                    /* the last diagnostic opened a YAML block scalar */
    const char* cur_line;             /* the line being handled */
    size_t cur_n;
    char* crash;                      /* what the crash looked like */
    hil_strbuf errors;                /* consistency problems found, "; "-separated */
};

HIL_API void hil_harvest_config_init(hil_harvest_config* c) {
    memset(c, 0, sizeof *c);
    c->max_line = 4096;
    c->max_case_output = 8192;
    c->context_lines = 8;
    c->timeout_ms = 60000;
    c->idle_timeout_ms = 10000;
    c->settle_ms = 300;
}

HIL_API hil_result hil_harvester_create(const hil_harvest_config* c, hil_harvester** out) {
    hil_harvester* h;
    int i;
    *out = NULL;
    if (!c) return hil_error(HIL_ERR_INVALID_ARG, "harvest: no configuration (hil_harvest_config_init first)");
    if ((unsigned)c->format >= HIL_HARVEST_FORMAT_COUNT)
        return hil_error(HIL_ERR_INVALID_ARG, "harvest: format %d is not a hil_harvest_format", (int)c->format);
    h = (hil_harvester*)HIL_MALLOC(sizeof *h);
    if (h) memset(h, 0, sizeof *h);
    if (!h) return hil_error(HIL_ERR_NO_MEMORY, "harvest: out of memory");
    h->c = *c;
    if (h->c.max_line < 64) h->c.max_line = 64;
    if (!h->c.context_lines) h->c.context_lines = 1;
    h->fmt = c->format;
    h->sum.planned = -1;
    h->group_planned = -1;
    h->unity_total = h->unity_failed = h->unity_skipped = -1;
    h->sum_passed = h->sum_failed = h->sum_skipped = -1;
    h->running_t0 = h->last_t = hil_now_ns();
    for (i = 0; i < (int)HIL_HARVEST_MAX_FATAL && c->fatal[i]; i++) {
        if (!*c->fatal[i]) { HIL_FREE(h); return hil_error(HIL_ERR_INVALID_ARG, "harvest: fatal pattern %d is empty", i); }
    }
    *out = h;
    return HIL_OK;
}

static char* hil__hv_dup(hil_harvest_str s) { return hil_strndup(s.p ? s.p : "", s.p ? s.n : 0); }

static void hil__hv_set(char** dst, hil_harvest_str s) {
    HIL_FREE(*dst);
    *dst = hil__hv_dup(s);
}

static void hil__hv_error(hil_harvester* h, const char* fmt, ...) HIL__PRINTF(2, 3);
static void hil__hv_error(hil_harvester* h, const char* fmt, ...) {
    va_list ap;
    if (h->errors.len > 4096) return;
    if (h->errors.len) hil_sb_puts(&h->errors, "; ");
    va_start(ap, fmt);
    hil_sb_vprintf(&h->errors, fmt, ap);
    va_end(ap);
}

static void hil__hv_default_report(void* user, const hil_case_report* c) {
    (void)user;
    (void)hil_report_case(c);
}

/* the last context_lines lines, oldest first */
static void hil__hv_context(hil_harvester* h, hil_strbuf* sb) {
    hil_sb_append(sb, h->ring.data ? h->ring.data : "", h->ring.len);
}

static void hil__hv_ring_push(hil_harvester* h, const char* line, size_t n) {
    size_t count = 0, i;
    if (n > 240) n = 240; /* context, not the record: the case output keeps the whole line */
    hil_sb_append(&h->ring, line, n);
    hil_sb_putc(&h->ring, '\n');
    for (i = 0; i < h->ring.len; i++) count += h->ring.data[i] == '\n';
    while (count > h->c.context_lines) {
        char* nl = (char*)memchr(h->ring.data, '\n', h->ring.len);
        size_t drop = (size_t)(nl - h->ring.data) + 1;
        memmove(h->ring.data, h->ring.data + drop, h->ring.len - drop);
        h->ring.len -= drop;
        h->ring.data[h->ring.len] = 0;
        count--;
    }
}

static void hil__hv_count_suite(hil_harvester* h, const char* suite, hil_outcome o) {
    size_t i;
    if (!suite) return;
    for (i = 0; i < h->n_suites; i++)
        if (strcmp(h->suites[i].name, suite) == 0) { h->suites[i].seen[o]++; return; }
    if (h->n_suites >= 256) return;
    {
        hil__hv_suite_count* p = (hil__hv_suite_count*)HIL_REALLOC(h->suites, (h->n_suites + 1) * sizeof *p);
        if (!p) return;
        h->suites = p;
        memset(&p[h->n_suites], 0, sizeof *p);
        p[h->n_suites].name = hil_strdup(suite);
        if (!p[h->n_suites].name) return;
        p[h->n_suites].seen[o]++;
        h->n_suites++;
    }
}

static int hil__hv_seen_name(hil_harvester* h, const char* full) {
    size_t i;
    for (i = h->n_names; i-- > 0;)
        if (strcmp(h->names[i], full) == 0) return 1;
    return 0;
}

static const char* hil__hv_suite_of(hil_harvester* h) {
    if (h->c.suite && *h->c.suite) return h->c.suite;
    if (h->fmt == HIL_HARVEST_ZTEST && h->suite) return h->suite;
    {
        const hil_test_info* t = hil_current_test();
        return t ? t->suite : "harvest";
    }
}

/* A duration a target printed, in ns. A target can print any number: above
 * 1e9 s (31 years) the value is nonsense, and converting it unclamped
 * overflows (found by fuzz_harvest); 1e18 ns also leaves room for sums. */
static uint64_t hil__hv_ns(double s) {
    return s >= 1e9 ? (uint64_t)1e18 : (uint64_t)(s * 1e9);
}

/* Report one case: counts, names, the callback. */
static void hil__hv_report(hil_harvester* h, const char* name, hil_outcome o, double dur_s, const char* msg,
                           const char* file, long line, const char* extra_output) {
    hil_case_report c;
    hil_strbuf full = {0, 0, 0, 0};
    hil_strbuf output = {0, 0, 0, 0};
    const char* suite = hil__hv_suite_of(h);
    memset(&c, 0, sizeof c);
    c.suite = suite;
    c.name = name && *name ? name : "unnamed";
    c.outcome = o;
    if (dur_s >= 0) c.duration_ns = hil__hv_ns(dur_s);
    else c.duration_ns = hil_now_ns() - (h->running ? h->running_t0 : h->last_t);
    c.reason = msg && *msg ? msg : NULL;
    c.file = file && *file ? file : NULL;
    c.line = (int)line;
    hil_sb_append(&output, h->out.data ? h->out.data : "", h->out.len);
    if (extra_output) hil_sb_puts(&output, extra_output);
    c.output = hil_sb_cstr(&output);
    if (h->c.on_case) h->c.on_case(h->c.user, &c);
    else hil__hv_default_report(NULL, &c);
    h->sum.cases++;
    h->sum.counts[o]++;
    h->seen[o]++;
    if (hil_outcome_is_failure(o)) {
        size_t used = strlen(h->sum.failed_names);
        if (used + strlen(c.name) + 3 < sizeof h->sum.failed_names)
            snprintf(h->sum.failed_names + used, sizeof h->sum.failed_names - used, "%s%s", used ? ", " : "", c.name);
        else if (used + 5 < sizeof h->sum.failed_names && !strstr(h->sum.failed_names, "..."))
            snprintf(h->sum.failed_names + used, sizeof h->sum.failed_names - used, ", ...");
    }
    hil__hv_count_suite(h, h->fmt == HIL_HARVEST_ZTEST ? h->suite : suite, o);
    hil_sb_printf(&full, "%s.%s", suite, c.name);
    if (h->n_names < HIL_HARVEST_MAX_NAMES && !full.failed) {
        if (h->n_names == h->cap_names) {
            size_t cap = h->cap_names ? h->cap_names * 2 : 64;
            char** p = (char**)HIL_REALLOC(h->names, cap * sizeof *p);
            if (p) { h->names = p; h->cap_names = cap; }
        }
        if (h->n_names < h->cap_names) h->names[h->n_names++] = hil_sb_take(&full);
    }
    hil_sb_free(&full);
    hil_sb_free(&output);
    hil_sb_clear(&h->out);
    h->out_cut = 0;
    HIL_FREE(h->running);
    h->running = NULL;
    HIL_FREE(h->a_msg);
    HIL_FREE(h->a_file);
    h->a_msg = h->a_file = NULL;
    h->a_line = 0;
    h->last_t = hil_now_ns();
}

static void hil__hv_flush_pending(hil_harvester* h) {
    char *n, *m, *f;
    if (!h->pend) return;
    h->pend = 0;
    n = h->pc_name;
    m = h->pc_msg;
    f = h->pc_file;
    h->pc_name = h->pc_msg = h->pc_file = NULL;
    if (h->pc_todo_pass) hil_sb_puts(&h->out, "[harvest: passed although marked TODO]\n");
    h->tap_block = 0;
    if (hil_outcome_is_failure(h->pc.outcome) && !m) {
        /* no diagnostic said why: the test line itself (Criterion: "name unexpected signal after f.c:6") */
        hil_strbuf sb = {0, 0, 0, 0};
        hil_sb_printf(&sb, "not ok - %s", n ? n : "");
        m = hil_sb_take(&sb);
    }
    hil__hv_report(h, n, h->pc.outcome, h->pc.duration_ns == (uint64_t)-1 ? -1.0 : (double)h->pc.duration_ns / 1e9,
                   m, f, h->pc.line, NULL);
    HIL_FREE(n);
    HIL_FREE(m);
    HIL_FREE(f);
}

static hil_harvest_kind hil__hv_detect(hil_harvester* h, const char* line, size_t n, hil_harvest_event* ev) {
    static const hil_harvest_format order[] = {HIL_HARVEST_GTEST, HIL_HARVEST_ZTEST, HIL_HARVEST_UNITY, HIL_HARVEST_TAP};
    size_t i;
    for (i = 0; i < sizeof order / sizeof order[0]; i++) {
        hil_harvest_kind k = hil_harvest_parse_line(order[i], line, n, ev);
        /* A lone "OK", a TAP comment or a bare summary line does not decide */
        if (k == HIL_HV_NONE || k == HIL_HV_DIAG || k == HIL_HV_DONE || k == HIL_HV_ASSERT) continue;
        if (order[i] == HIL_HARVEST_UNITY && k == HIL_HV_SUMMARY) continue;
        h->fmt = order[i];
        return k;
    }
    hil__hv_clear(ev);
    return HIL_HV_NONE;
}

static void hil__hv_crash(hil_harvester* h, const char* what, const char* line, size_t n) {
    hil_strbuf sb = {0, 0, 0, 0};
    if (h->crash) return;
    hil_sb_printf(&sb, "%s: ", what);
    hil_sb_append(&sb, line, n > 200 ? 200 : n);
    h->crash = hil_sb_take(&sb);
    h->sum.crashed = 1;
    h->ending = 1;
}

static void hil__hv_on_event(hil_harvester* h, hil_harvest_event* ev) {
    char* tmp;
    if (h->pend && ev->kind != HIL_HV_DIAG && ev->kind != HIL_HV_NONE) hil__hv_flush_pending(h);
    switch (ev->kind) {
    case HIL_HV_SUITE_START:
        hil__hv_set(&h->suite, ev->suite);
        break;
    case HIL_HV_CASE_START:
        if (h->running) {
            tmp = h->running;
            h->running = NULL;
            hil__hv_report(h, tmp, HIL_ERRORED, -1, "started, but no result before the next case started", NULL, 0, NULL);
            HIL_FREE(tmp);
        }
        h->running = hil__hv_dup(ev->name);
        h->running_t0 = hil_now_ns();
        break;
    case HIL_HV_ASSERT:
        if (ev->message.n && !h->a_msg) h->a_msg = hil__hv_dup(ev->message);
        if (ev->file.n && !h->a_file) {
            h->a_file = hil__hv_dup(ev->file);
            h->a_line = ev->line;
        }
        break;
    case HIL_HV_CASE_END: {
        char* name = hil__hv_dup(ev->name);
        char* msg = ev->message.n ? hil__hv_dup(ev->message) : NULL;
        char* file = ev->file.n ? hil__hv_dup(ev->file) : NULL;
        long line = ev->line;
        if (!name) break;
        if (h->fmt == HIL_HARVEST_GTEST && h->sum.finished) { /* the list after the summary line repeats names */
            HIL_FREE(name);
            HIL_FREE(msg);
            HIL_FREE(file);
            break;
        }
        if (hil_outcome_is_failure(ev->outcome) || ev->outcome == HIL_SKIPPED) {
            if (!msg && h->a_msg) msg = hil_strdup(h->a_msg);
            if (!file && h->a_file) { file = hil_strdup(h->a_file); line = h->a_line; }
        }
        if (h->fmt == HIL_HARVEST_TAP) {
            /* TAP names may be empty: the number; cmocka puts a skipped case's name in the reason */
            if (!*name) {
                HIL_FREE(name);
                if (ev->outcome == HIL_SKIPPED && msg && *msg) name = hil_strdup(msg);
                else {
                    hil_strbuf sb = {0, 0, 0, 0};
                    hil_sb_printf(&sb, "%ld", ev->total >= 0 ? ev->total : h->tap_next);
                    name = hil_sb_take(&sb);
                }
            }
            h->tap_next = (ev->total >= 0 ? ev->total : h->tap_next) + 1;
            h->pend = 1;
            h->pc.outcome = ev->outcome;
            h->pc.duration_ns = ev->duration_s >= 0 ? hil__hv_ns(ev->duration_s) : (uint64_t)-1;
            h->pc.line = (int)line;
            h->pc_name = name;
            h->pc_msg = msg;
            h->pc_file = file;
            h->pc_todo_pass = ev->todo && ev->outcome == HIL_PASSED;
            if (ev->todo && ev->outcome == HIL_SKIPPED && !h->pc_msg) h->pc_msg = hil_strdup("TODO (expected to fail)");
            break;
        }
        /* Unity prints file:line for every case; it is the failure's place only when it failed */
        if (h->fmt == HIL_HARVEST_UNITY && !hil_outcome_is_failure(ev->outcome)) { HIL_FREE(file); file = NULL; line = 0; }
        if (hil_outcome_is_failure(ev->outcome) && !msg) msg = hil_strdup("failed on the target");
        hil__hv_report(h, name, ev->outcome, ev->duration_s, msg, file, line, NULL);
        HIL_FREE(name);
        HIL_FREE(msg);
        HIL_FREE(file);
        break;
    }
    case HIL_HV_DIAG:
        if (h->pend) {
            /* a passed case's diagnostics are output, not its reason */
            int bad = hil_outcome_is_failure(h->pc.outcome);
            if (bad && h->tap_block && !h->pc_msg) {
                hil_harvest_str t = hil__hv_trim(hil__hv_s(h->cur_line, h->cur_line + h->cur_n));
                if (t.n) h->pc_msg = hil__hv_dup(t);
            }
            h->tap_block = ev->block;
            if (bad && ev->message.n && !h->pc_msg) h->pc_msg = hil__hv_dup(ev->message);
            if (ev->file.n && !h->pc_file) h->pc_file = hil__hv_dup(ev->file);
            if (ev->line > 0 && !h->pc.line) h->pc.line = (int)ev->line;
        }
        break;
    case HIL_HV_PLAN:
        if (h->fmt == HIL_HARVEST_TAP && ev->total == 0 && ev->message.n) {
            /* "1..0 # SKIP why": the whole run is skipped */
            h->sum.finished = 1;
            h->ending = 1;
        }
        if (h->fmt == HIL_HARVEST_GTEST) {
            /* cmocka prints one block per group: a new plan after an end
             * line starts the next group; its summary counts only its cases */
            size_t k;
            for (k = 0; k < HIL_OUTCOME_COUNT; k++) h->group_base[k] = h->seen[k];
            if (h->sum.finished) {
                h->sum.finished = 0;
                h->ending = 0;
            }
            h->sum_passed = h->sum_failed = h->sum_skipped = -1;
            h->sum.planned = (long)h->sum.cases + ev->total;
            h->group_planned = ev->total;
            break;
        }
        h->sum.planned = ev->total;
        if (h->fmt == HIL_HARVEST_TAP && h->sum.cases + (size_t)h->pend > 0) {
            /* a plan at the end closes the stream */
            h->sum.finished = 1;
            h->ending = 1;
        }
        break;
    case HIL_HV_SUMMARY:
        if (h->fmt == HIL_HARVEST_UNITY) {
            h->unity_summary = 1;
            h->unity_total = ev->total;
            h->unity_failed = ev->failed;
            h->unity_skipped = ev->skipped;
        } else if (h->fmt == HIL_HARVEST_GTEST) {
            if (ev->passed >= 0) h->sum_passed = ev->passed;
            if (ev->failed >= 0) h->sum_failed = ev->failed;
            if (ev->skipped >= 0) h->sum_skipped = ev->skipped;
        } else if (h->fmt == HIL_HARVEST_ZTEST) {
            size_t i;
            long pass = 0, fail = 0, skip = 0;
            char* s = hil__hv_dup(ev->suite);
            const char* want = h->c.suite && *h->c.suite ? NULL : s;
            for (i = 0; i < h->n_suites; i++)
                if (!want || strcmp(h->suites[i].name, want) == 0) {
                    pass += h->suites[i].seen[HIL_PASSED];
                    fail += h->suites[i].seen[HIL_FAILED] + h->suites[i].seen[HIL_ERRORED];
                    skip += h->suites[i].seen[HIL_SKIPPED];
                }
            if (want && ((ev->passed >= 0 && ev->passed != pass) || (ev->failed >= 0 && ev->failed != fail) ||
                         (ev->skipped >= 0 && ev->skipped != skip)))
                hil__hv_error(h, "suite %s: the summary says pass = %ld, fail = %ld, skip = %ld; seen: %ld passed, %ld failed, %ld skipped",
                              s ? s : "?", ev->passed, ev->failed, ev->skipped, pass, fail, skip);
            HIL_FREE(s);
        }
        break;
    case HIL_HV_LISTED: {
        hil_strbuf full = {0, 0, 0, 0};
        const char* suite = h->c.suite && *h->c.suite ? h->c.suite : NULL;
        if (suite) hil_sb_printf(&full, "%s.", suite);
        else { hil_sb_append(&full, ev->suite.p, ev->suite.n); hil_sb_putc(&full, '.'); }
        hil_sb_append(&full, ev->name.p, ev->name.n);
        if (!hil__hv_seen_name(h, hil_sb_cstr(&full)) && h->n_names < HIL_HARVEST_MAX_NAMES)
            hil__hv_error(h, "%s is in the summary block (%s) but its result line was never seen", hil_sb_cstr(&full),
                          hil_outcome_str(ev->outcome));
        hil_sb_free(&full);
        break;
    }
    case HIL_HV_DONE:
        if (h->fmt == HIL_HARVEST_UNITY && !h->unity_summary) break; /* a lone "OK" is no end line */
        h->sum.finished = 1;
        h->ending = 1;
        if (h->fmt == HIL_HARVEST_GTEST && ev->total >= 0 && h->group_planned >= 0 && ev->total != h->group_planned)
            hil__hv_error(h, "the run says %ld tests ran, %ld were announced", ev->total, h->group_planned);
        if (h->fmt != HIL_HARVEST_GTEST) {
            long bad = h->seen[HIL_FAILED] + h->seen[HIL_ERRORED];
            if (ev->outcome == HIL_PASSED && bad)
                hil__hv_error(h, "the target says the run passed, but %ld case%s failed", bad, bad == 1 ? "" : "s");
            if (ev->outcome == HIL_FAILED && !bad && !h->running)
                hil__hv_error(h, "the target says the run failed, but no case failed");
        }
        break;
    case HIL_HV_BAIL: {
        hil_strbuf sb = {0, 0, 0, 0};
        hil_sb_puts(&sb, "Bail out!");
        if (ev->message.n) { hil_sb_putc(&sb, ' '); hil_sb_append(&sb, ev->message.p, ev->message.n); }
        hil__hv_crash(h, "the run bailed out", sb.data ? sb.data : "", sb.len);
        h->bailed = 1;
        hil_sb_free(&sb);
        break;
    }
    default: break;
    }
}

static int hil__hv_is_fatal(hil_harvester* h, const char* line, size_t n) {
    size_t i;
    const char* e = line + n;
    if (!h->c.no_default_fatal)
        for (i = 0; i < sizeof hil__hv_default_fatal / sizeof hil__hv_default_fatal[0]; i++)
            if (hil__hv_find(line, e, hil__hv_default_fatal[i])) return 1;
    for (i = 0; i < HIL_HARVEST_MAX_FATAL && h->c.fatal[i]; i++)
        if (hil__hv_find(line, e, h->c.fatal[i])) return 1;
    return 0;
}

/* the case's output (bounded) */
static void hil__hv_out(hil_harvester* h, const char* line, size_t n) {
    if (h->out.len + n + 1 <= h->c.max_case_output) {
        hil_sb_append(&h->out, line, n);
        hil_sb_putc(&h->out, '\n');
    } else if (!h->out_cut) {
        h->out_cut = 1;
        hil_sb_puts(&h->out, "[harvest: output limit reached; later lines of this case are dropped]\n");
    }
}

/* Where a Unity line ("FILE:LINE:NAME:RESULT") would start inside line:
 * the path characters before its first ":digits:"; 0 if none later than 0. */
static size_t hil__hv_unity_start(const char* line, size_t n) {
    size_t i;
    for (i = 1; i + 2 < n; i++) {
        size_t j = i + 1, k;
        if (line[i] != ':' || !hil__hv_isdigit(line[j])) continue;
        while (j < n && hil__hv_isdigit(line[j])) j++;
        if (j >= n || line[j] != ':') continue;
        k = i;
        while (k > 0) {
            char c = line[k - 1];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || hil__hv_isdigit(c) || c == '/' || c == '.' ||
                  c == '_' || c == '-' || c == '\\'))
                break;
            k--;
        }
        return k < i ? k : 0;
    }
    return 0;
}

static int hil__hv_parse(hil_harvester* h, const char* line, size_t n, hil_harvest_event* ev) {
    if (h->fmt == HIL_HARVEST_AUTO) return hil__hv_detect(h, line, n, ev) != HIL_HV_NONE;
    return hil_harvest_parse_line(h->fmt, line, n, ev) != HIL_HV_NONE;
}

static void hil__hv_line(hil_harvester* h, const char* line, size_t n) {
    hil_harvest_event ev;
    h->sum.lines++;
    hil__hv_ring_push(h, line, n);
    if (h->pend) {
        /* a TAP case waits for its diagnostics: a line that is not one of
         * them ends it before the line counts as the next case's output */
        hil_harvest_kind k = hil_harvest_parse_line(HIL_HARVEST_TAP, line, n, &ev);
        if (k != HIL_HV_DIAG && k != HIL_HV_NONE) hil__hv_flush_pending(h);
    }
    hil__hv_out(h, line, n);
    if (h->crash) return; /* after a crash: context only */
    if (h->c.banner && *h->c.banner && hil__hv_find(line, line + n, h->c.banner)) {
        /* the first banner is the boot we wait for; after it, or after a case, it is a reboot */
        if (h->banner_seen || h->sum.cases || h->running || h->pend) {
            hil__hv_crash(h, "the target rebooted (its boot banner again)", line, n);
            return;
        }
        h->banner_seen = 1;
    }
    if (hil__hv_is_fatal(h, line, n)) {
        hil__hv_crash(h, "the target crashed", line, n);
        return;
    }
    if (!hil__hv_parse(h, line, n, &ev)) {
        /* boot noise (a binary frame, a reset's garbage) glued to the front
         * of a line: the text after the last binary byte may still be one,
         * and so may a Unity line starting at the path before ":LINE:" */
        size_t at = h->line_text_at;
        if (!(at && at < n && hil__hv_parse(h, line + at, n - at, &ev))) {
            at = h->fmt == HIL_HARVEST_UNITY || h->fmt == HIL_HARVEST_AUTO ? hil__hv_unity_start(line, n) : 0;
            if (!at || !hil__hv_parse(h, line + at, n - at, &ev)) return;
        }
    }
    h->cur_line = line;
    h->cur_n = n;
    hil__hv_on_event(h, &ev);
}

HIL_API void hil_harvester_feed(hil_harvester* h, const void* data, size_t len) {
    const unsigned char* p = (const unsigned char*)data;
    const unsigned char* e = p + len;
    if (!h) return;
    while (p < e) {
        /* a run of ordinary bytes at once: the common case costs one append */
        const unsigned char* q = p;
        while (q < e && *q >= 0x20 && *q != 0x7f) q++;
        if (q > p) {
            size_t room = h->c.max_line > h->line.len ? h->c.max_line - h->line.len : 0;
            size_t take = (size_t)(q - p) < room ? (size_t)(q - p) : room;
            if (take) hil_sb_append(&h->line, p, take);
            if (take < (size_t)(q - p)) h->line_cut = 1;
            p = q;
            continue;
        }
        if (*p == '\n') {
            if (h->line_cut) {
                h->sum.truncated_lines++;
                h->line_cut = 0;
            }
            hil__hv_line(h, h->line.data ? h->line.data : "", h->line.len);
            hil_sb_clear(&h->line);
            h->line_text_at = 0;
        } else if (*p == '\r' || *p == '\t') {
            if (*p == '\t' && h->line.len < h->c.max_line) hil_sb_putc(&h->line, ' ');
        } else {
            /* binary garbage: counted, shown as '?' so a line stays text */
            h->sum.garbage_bytes++;
            if (h->line.len < h->c.max_line) hil_sb_putc(&h->line, '?');
            else h->line_cut = 1;
            h->line_text_at = h->line.len;
        }
        p++;
    }
}

HIL_API int hil_harvester_ending(const hil_harvester* h) { return h ? h->ending : 1; }

HIL_API hil_result hil_harvester_finish(hil_harvester* h, const char* why, int timed_out, hil_harvest_summary* out) {
    hil_strbuf err = {0, 0, 0, 0};
    hil_result r = HIL_OK;
    const char* end_line;
    if (h->line.len) { /* a last line without its newline (Criterion's TAP) */
        if (h->line_cut) h->sum.truncated_lines++;
        hil__hv_line(h, h->line.data, h->line.len);
        hil_sb_clear(&h->line);
    }
    hil__hv_flush_pending(h);
    /* TAP with its plan first is complete once every planned case is in */
    if (h->fmt == HIL_HARVEST_TAP && h->sum.planned >= 0 && !h->crash && (long)h->sum.cases == h->sum.planned)
        h->sum.finished = 1;
    h->sum.timed_out = timed_out && !h->sum.finished && !h->crash;
    if (!why) why = h->sum.finished ? "the run ended" : "the stream ended";
    /* the case that was running when it stopped */
    if (h->running || ((h->crash || !h->sum.finished) && h->sum.lines)) {
        hil_strbuf reason = {0, 0, 0, 0};
        hil_strbuf ctx = {0, 0, 0, 0};
        char* name = h->running ? hil_strdup(h->running) : NULL;
        if (h->crash) hil_sb_puts(&reason, h->crash);
        else hil_sb_printf(&reason, "no result: %s", why);
        hil_sb_puts(&ctx, "[harvest: the last lines received]\n");
        hil__hv_context(h, &ctx);
        if (!name && (h->fmt == HIL_HARVEST_UNITY || h->fmt == HIL_HARVEST_TAP)) {
            /* Unity and TAP print nothing before a case ends: the one that
             * was running has no name yet; TAP has its number */
            hil_strbuf nm = {0, 0, 0, 0};
            if (h->fmt == HIL_HARVEST_TAP) hil_sb_printf(&nm, "%ld", h->tap_next ? h->tap_next : 1);
            else hil_sb_printf(&nm, "after_%s", h->n_names ? strrchr(h->names[h->n_names - 1], '.') + 1 : "start");
            name = hil_sb_take(&nm);
            hil_sb_puts(&reason, " (the case after the last one that ended)");
        }
        if (name) {
            HIL_FREE(h->running);
            h->running = NULL;
            hil__hv_report(h, name, HIL_ERRORED, -1, hil_sb_cstr(&reason), NULL, 0, hil_sb_cstr(&ctx));
        }
        HIL_FREE(name);
        hil_sb_free(&reason);
        hil_sb_free(&ctx);
    }
    /* announced but never run: each its own case, up to
     * HIL_HARVEST_MAX_NOT_RUN; the rest in one case that names the range (a
     * plan is one line of text: "1..4000000000" must not become four
     * billion results, nor a report nobody reads) */
    if (h->sum.planned >= 0 && (long)h->sum.cases < h->sum.planned && !h->sum.finished) {
        long k, missing = h->sum.planned - (long)h->sum.cases;
        for (k = 0; k < missing && k < (long)HIL_HARVEST_MAX_NOT_RUN; k++) {
            hil_strbuf nm = {0, 0, 0, 0};
            hil_strbuf rs = {0, 0, 0, 0};
            long first = (long)h->sum.cases + 1, last = k + 1 == (long)HIL_HARVEST_MAX_NOT_RUN ? h->sum.planned : first;
            const char* pre = h->fmt == HIL_HARVEST_TAP ? "" : "not_run_";
            if (last > first) hil_sb_printf(&nm, "%s%ld-%ld", pre, first, last);
            else hil_sb_printf(&nm, "%s%ld", pre, first);
            hil_sb_printf(&rs, "not run: announced (%ld cases), but %s", h->sum.planned, h->crash ? h->crash : why);
            if (last > first) hil_sb_printf(&rs, " (one result for the %ld cases %ld to %ld)", last - first + 1, first, last);
            hil__hv_report(h, hil_sb_cstr(&nm), HIL_BLOCKED, 0, hil_sb_cstr(&rs), NULL, 0, NULL);
            hil_sb_free(&nm);
            hil_sb_free(&rs);
        }
    }
    /* the counts against the summaries */
    if (h->unity_summary) {
        long t = (long)(h->seen[HIL_PASSED] + h->seen[HIL_FAILED] + h->seen[HIL_SKIPPED]);
        if (h->unity_total != t || h->unity_failed != (long)h->seen[HIL_FAILED] || h->unity_skipped != (long)h->seen[HIL_SKIPPED])
            hil__hv_error(h, "Unity's summary says %ld Tests %ld Failures %ld Ignored; seen: %ld cases, %ld failed, %ld ignored",
                          h->unity_total, h->unity_failed, h->unity_skipped, t, (long)h->seen[HIL_FAILED],
                          (long)h->seen[HIL_SKIPPED]);
    }
    if (h->fmt == HIL_HARVEST_GTEST) {
        long pass = h->seen[HIL_PASSED] - h->group_base[HIL_PASSED],
             fail = h->seen[HIL_FAILED] + h->seen[HIL_ERRORED] - h->group_base[HIL_FAILED] - h->group_base[HIL_ERRORED],
             skip = h->seen[HIL_SKIPPED] - h->group_base[HIL_SKIPPED];
        if ((h->sum_passed >= 0 && h->sum_passed != pass) || (h->sum_failed >= 0 && h->sum_failed != fail) ||
            (h->sum_skipped >= 0 && h->sum_skipped != skip))
            hil__hv_error(h, "the summary says %ld passed, %ld failed, %ld skipped; seen: %ld, %ld, %ld",
                          h->sum_passed, h->sum_failed < 0 ? 0 : h->sum_failed, h->sum_skipped < 0 ? 0 : h->sum_skipped,
                          pass, fail, skip);
    }
    if (h->fmt == HIL_HARVEST_TAP && h->sum.planned >= 0 && (long)h->sum.cases > h->sum.planned)
        hil__hv_error(h, "the plan announced %ld cases, %ld ran", h->sum.planned, (long)h->sum.cases);
    end_line = h->fmt == HIL_HARVEST_UNITY   ? "the summary (N Tests N Failures N Ignored) and OK or FAIL"
               : h->fmt == HIL_HARVEST_ZTEST ? "PROJECT EXECUTION SUCCESSFUL or FAILED"
               : h->fmt == HIL_HARVEST_TAP   ? "the plan (1..N)"
               : h->fmt == HIL_HARVEST_GTEST ? "[==========] N tests run"
                                             : "a line of a known format";
    /* the verdict, most serious first */
    if (h->crash) {
        r = HIL_ERR_CRASHED;
        hil_sb_printf(&err, "%s", h->crash);
    } else if (h->fmt == HIL_HARVEST_AUTO && h->sum.cases == 0) {
        r = timed_out ? HIL_ERR_TIMEOUT : HIL_ERR_PROTOCOL;
        hil_sb_printf(&err, "no test output recognised in %zu line%s (%s); set the format (unity, ztest, tap, gtest) or check the console",
                      h->sum.lines, h->sum.lines == 1 ? "" : "s", why ? why : "the stream ended");
    } else if (!h->sum.finished) {
        r = timed_out ? HIL_ERR_TIMEOUT : HIL_ERR_CLOSED;
        hil_sb_printf(&err, "the %s run did not finish: %s before %s", hil_harvest_format_name(h->fmt),
                      why ? why : "the stream ended", end_line);
    }
    if (h->errors.len) {
        if (r == HIL_OK) r = HIL_ERR_PROTOCOL;
        if (err.len) hil_sb_puts(&err, "; ");
        hil_sb_puts(&err, h->errors.data);
    }
    if (r != HIL_OK && h->sum.lines) {
        hil_sb_puts(&err, "; last lines:\n");
        hil__hv_context(h, &err);
    }
    h->sum.format = h->fmt;
    h->sum.result = r;
    snprintf(h->sum.error, sizeof h->sum.error, "%s", hil_sb_cstr(&err));
    hil_sb_free(&err);
    if (out) *out = h->sum;
    if (r != HIL_OK) return hil_error(r, "harvest: %s", h->sum.error);
    return HIL_OK;
}

HIL_API void hil_harvester_destroy(hil_harvester* h) {
    size_t i;
    if (!h) return;
    hil_sb_free(&h->line);
    hil_sb_free(&h->ring);
    hil_sb_free(&h->out);
    hil_sb_free(&h->errors);
    HIL_FREE(h->running);
    HIL_FREE(h->suite);
    HIL_FREE(h->a_msg);
    HIL_FREE(h->a_file);
    HIL_FREE(h->pc_name);
    HIL_FREE(h->pc_msg);
    HIL_FREE(h->pc_file);
    HIL_FREE(h->crash);
    for (i = 0; i < h->n_suites; i++) HIL_FREE(h->suites[i].name);
    HIL_FREE(h->suites);
    for (i = 0; i < h->n_names; i++) HIL_FREE(h->names[i]);
    HIL_FREE(h->names);
    HIL_FREE(h);
}

/* ---- 3. harvesting a channel -------------------------------------------------- */

HIL_API hil_result hil_harvest_channel(hil_channel* ch, const hil_harvest_config* c, hil_harvest_summary* summary) {
    hil_harvester* h;
    hil_result r;
    char buf[4096];
    const char* why = NULL;
    char whybuf[160];
    int timed_out = 0, line_framed;
    uint64_t deadline, settle = 0;
    hil_harvest_summary local;
    if (!summary) summary = &local;
    memset(summary, 0, sizeof *summary);
    if (!ch) return hil_error(HIL_ERR_INVALID_ARG, "harvest: no channel");
    r = hil_harvester_create(c, &h);
    if (r != HIL_OK) return r;
    line_framed = hil_channel_framing(ch) && hil_channel_framing(ch)->kind == HIL_FRAMING_LINE;
    if (c->reset) {
        r = hil_channel_reset(ch, c->timeout_ms > 0 ? c->timeout_ms : 10000);
        if (r != HIL_OK) {
            hil_harvester_destroy(h);
            return hil_error(r, "harvest: resetting the board behind '%s' failed: %s", hil_channel_name(ch), hil_last_error());
        }
    }
    if (c->start && *c->start) {
        hil_strbuf sb = {0, 0, 0, 0};
        hil_sb_printf(&sb, "%s%s", c->start, line_framed ? "" : "\n");
        r = hil_channel_send_bytes(ch, sb.data, sb.len, 5000);
        hil_sb_free(&sb);
        if (r != HIL_OK) {
            hil_harvester_destroy(h);
            return hil_error(r, "harvest: sending the start line '%s' on '%s' failed: %s", c->start, hil_channel_name(ch),
                             hil_last_error());
        }
    }
    deadline = hil_deadline_ms(c->timeout_ms > 0 ? c->timeout_ms : 60000);
    for (;;) {
        hil_msg m;
        int wait = c->idle_timeout_ms > 0 ? c->idle_timeout_ms : 10000;
        int left = hil_deadline_left_ms(deadline);
        if (hil_harvester_ending(h)) {
            if (!settle) settle = hil_deadline_ms(c->settle_ms > 0 ? c->settle_ms : 0);
            left = hil_deadline_left_ms(settle);
            if (left <= 0) break;
        } else {
            settle = 0; /* not ending (again): a next group began after an end line */
        }
        if (!hil_harvester_ending(h) && left <= 0) {
            snprintf(whybuf, sizeof whybuf, "the whole-run timeout (%d ms) passed", c->timeout_ms);
            why = whybuf;
            timed_out = 1;
            break;
        }
        if (left < wait) wait = left;
        hil_msg_init(&m, buf, sizeof buf);
        r = hil_channel_recv(ch, &m, wait);
        if (r == HIL_OK) {
            hil_harvester_feed(h, m.data, m.len);
            if (line_framed) hil_harvester_feed(h, "\n", 1);
            continue;
        }
        if (r == HIL_ERR_AGAIN) continue;
        if (r == HIL_ERR_TIMEOUT) {
            if (hil_harvester_ending(h)) {
                if (hil_deadline_left_ms(settle) <= 0) break;
                continue;
            }
            if (hil_deadline_left_ms(deadline) <= 0) continue; /* the whole-run timeout, above */
            snprintf(whybuf, sizeof whybuf, "no output for %d ms", c->idle_timeout_ms > 0 ? c->idle_timeout_ms : 10000);
            why = whybuf;
            timed_out = 1;
            break;
        }
        if (r == HIL_ERR_CLOSED) {
            snprintf(whybuf, sizeof whybuf, "the stream of '%s' ended", hil_channel_name(ch));
            why = hil_harvester_ending(h) ? NULL : whybuf;
            break;
        }
        snprintf(whybuf, sizeof whybuf, "reading '%s' failed: %.100s", hil_channel_name(ch), hil_last_error());
        why = whybuf;
        break;
    }
    r = hil_harvester_finish(h, why, timed_out, summary);
    if (summary->truncated_lines)
        HIL_WARN("hil.harvest", "'%s': %zu line%s longer than max_line (%zu bytes) cut there", hil_channel_name(ch),
                 summary->truncated_lines, summary->truncated_lines == 1 ? "" : "s", c->max_line ? c->max_line : (size_t)4096);
    if (summary->garbage_bytes)
        HIL_INFO("hil.harvest", "'%s': %zu binary byte%s (not text) shown as '?'", hil_channel_name(ch),
                 summary->garbage_bytes, summary->garbage_bytes == 1 ? "" : "s");
    hil_harvester_destroy(h);
    if (r != HIL_OK) return hil_error(r, "harvest: '%s': %s", hil_channel_name(ch), summary->error);
    return HIL_OK;
}

HIL_API hil_result hil_harvest_options(const char* options, hil_harvest_config* c, char** keep) {
    char* s;
    char* p;
    int nfatal = 0;
    *keep = NULL;
    while (nfatal < (int)HIL_HARVEST_MAX_FATAL && c->fatal[nfatal]) nfatal++;
    if (!options) return HIL_OK;
    s = hil_strdup(options);
    if (!s) return hil_error(HIL_ERR_NO_MEMORY, "harvest: out of memory");
    p = s;
    while (*p) {
        char* end = strchr(p, ';');
        char *k, *v, *eq;
        if (end) *end = 0;
        while (*p == ' ') p++;
        k = p;
        if (*k) {
            size_t kl;
            eq = strchr(k, '=');
            if (!eq) {
                hil_result e = hil_error(HIL_ERR_CONFIG, "harvest options: '%s' is not key=value", k);
                HIL_FREE(s);
                return e;
            }
            *eq = 0;
            v = eq + 1;
            kl = strlen(k);
            while (kl && k[kl - 1] == ' ') k[--kl] = 0;
            while (*v == ' ') v++;
            {
                size_t vl = strlen(v);
                while (vl && v[vl - 1] == ' ') v[--vl] = 0;
            }
            if (strcmp(k, "format") == 0) {
                if (hil_harvest_format_parse(v, &c->format) != HIL_OK) {
                    hil_result e = hil_error(HIL_ERR_CONFIG, "harvest options: format=%s: use auto, unity, ztest, tap or gtest", v);
                    HIL_FREE(s);
                    return e;
                }
            } else if (strcmp(k, "suite") == 0) c->suite = v;
            else if (strcmp(k, "start") == 0) c->start = v;
            else if (strcmp(k, "banner") == 0) c->banner = v;
            else if (strcmp(k, "fatal") == 0) {
                if (nfatal >= (int)HIL_HARVEST_MAX_FATAL - 1) {
                    hil_result e = hil_error(HIL_ERR_CONFIG, "harvest options: more than %d fatal patterns", (int)HIL_HARVEST_MAX_FATAL - 1);
                    HIL_FREE(s);
                    return e;
                }
                c->fatal[nfatal++] = v;
            } else {
                static const char* const keys[] = {"timeout_ms", "idle_timeout_ms", "settle_ms", "reset", "max_line"};
                char* num_end;
                long n;
                int which = -1, i;
                for (i = 0; i < 5; i++)
                    if (strcmp(k, keys[i]) == 0) which = i;
                if (which < 0) {
                    hil_result e = hil_error(HIL_ERR_CONFIG,
                                             "harvest options: unknown key '%s' (format, suite, start, banner, fatal, "
                                             "timeout_ms, idle_timeout_ms, settle_ms, reset, max_line)", k);
                    HIL_FREE(s);
                    return e;
                }
                errno = 0;
                n = strtol(v, &num_end, 10);
                if (!*v || *num_end || errno || n < 0 || n > 100000000L) {
                    hil_result e = hil_error(HIL_ERR_CONFIG, "harvest options: %s=%s: want a number (0..100000000)", k, v);
                    HIL_FREE(s);
                    return e;
                }
                if (which == 0) c->timeout_ms = (int)n;
                else if (which == 1) c->idle_timeout_ms = (int)n;
                else if (which == 2) c->settle_ms = (int)n;
                else if (which == 3) c->reset = (int)n;
                else c->max_line = (size_t)n;
            }
        }
        if (!end) break;
        p = end + 1;
    }
    *keep = s;
    return HIL_OK;
}

HIL_API void hil_harvest_test(const char* connector, const char* options) {
    hil_harvest_test_at(connector, options, NULL, 0);
}

HIL_API void hil_harvest_test_at(const char* connector, const char* options, const char* file, int line) {
    hil_harvest_config c;
    hil_harvest_summary s;
    hil_channel* ch = NULL;
    char* keep = NULL;
    hil_result r;
    hil_harvest_config_init(&c);
    r = hil_harvest_options(options, &c, &keep);
    if (r != HIL_OK) {
        hil_test_error("%s", hil_last_error());
        return;
    }
    r = hil_channel_from_config(connector, &ch);
    if (r == HIL_OK) r = hil_channel_open(ch);
    if (r != HIL_OK) {
        hil_strbuf msg = {0, 0, 0, 0};
        hil_sb_printf(&msg, "harvest: connector '%s': %s", connector ? connector : "(null)", hil_last_error());
        if (ch) hil_channel_destroy(ch);
        HIL_FREE(keep);
        hil_test_error("%s", hil_sb_cstr(&msg));
        hil_sb_free(&msg);
        return;
    }
    r = hil_harvest_channel(ch, &c, &s);
    hil_channel_destroy(ch);
    HIL_FREE(keep);
    HIL_INFO("hil.harvest", "'%s' (%s): %zu cases: %zu passed, %zu failed, %zu errored, %zu skipped, %zu not run",
             connector, hil_harvest_format_name(s.format), s.cases, s.counts[HIL_PASSED], s.counts[HIL_FAILED],
             s.counts[HIL_ERRORED], s.counts[HIL_SKIPPED], s.counts[HIL_BLOCKED]);
    if (r != HIL_OK) {
        hil_test_error("harvest '%s': %s", connector, s.error);
        return;
    }
    if (s.counts[HIL_FAILED] + s.counts[HIL_ERRORED] + s.counts[HIL_BLOCKED]) {
        size_t bad = s.counts[HIL_FAILED] + s.counts[HIL_ERRORED] + s.counts[HIL_BLOCKED];
        hil__check_fail(1, file ? file : __FILE__, file ? line : __LINE__, "HIL_HARVEST_TEST",
                        hil__fmt("%zu of %zu target cases failed: %s", bad, s.cases, s.failed_names));
    }
}

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
