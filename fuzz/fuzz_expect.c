/* fuzz/fuzz_expect.c - the console's buffer and matching (hil_console.h):
 * what a device prints, cut into chunks, fed to a console and matched
 * against prompt-like patterns; and the shell's output extraction.
 *
 * Input: [flags][max_buffer][pattern a][pattern b][chunk sizes and bytes...]
 *   flags & 1: keep ANSI sequences (else they are removed before matching)
 *   flags & 2: a small max_before (64 bytes)
 *   patterns: indices into a table of realistic prompt, marker and group
 *   patterns (fuzzing regcomp itself is glibc's business, not ours).
 * Properties: every match lies within what was fed (lengths agree with the
 * strings, groups inside the match, before within max_before); with ANSI
 * kept, no NULs in the input and a max_before large enough, the befores
 * and matches of all calls plus what is pending are exactly the bytes fed,
 * in order (nothing lost, nothing made up); the tail shown in error
 * messages is printable ASCII; hil_shell_extract never outputs "\r\n" nor
 * more than it was given. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_console.h"

#include "fuzz_common.h"

static const char* const patterns[] = {
    "\\$ $",
    "uart:~\\$ $",
    "=> $",
    "login: $",
    "[Pp]assword: $",
    "Hit any key to stop autoboot",
    "__HIL_RC_1_([0-9]+)__",
    "^([a-z]+)=([0-9]+)$",
    "(a|b)*c",
    "x{2,5}y?",
    "[#$] $",
    "\n",
};
#define N_PATTERNS (sizeof patterns / sizeof patterns[0])

static void check_match(const hil_expect_match* m, size_t max_before, size_t npat) {
    size_t g;
    FUZZ_CHECK(m->index >= 0 && (size_t)m->index < npat, "index %d", m->index);
    FUZZ_CHECK(strlen(m->text) == m->len, "text length %zu vs %zu", strlen(m->text), m->len);
    FUZZ_CHECK(m->before_len <= max_before, "before %zu > max_before %zu", m->before_len, max_before);
    FUZZ_CHECK(strlen(m->before) == m->before_len, "before length");
    FUZZ_CHECK(m->n_groups >= 1 && m->n_groups <= HIL_EXPECT_MAX_GROUPS, "n_groups %zu", m->n_groups);
    for (g = 0; g < m->n_groups; g++) {
        if (m->groups[g].start < 0) continue;
        FUZZ_CHECK((size_t)m->groups[g].start + m->groups[g].len <= m->len, "group %zu outside the match", g);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in = {data, size};
    uint8_t flags = fuzz_u8(&in);
    size_t max_buffer = 64u + fuzz_u8(&in) * 4u;
    const char* pats[2];
    hil_console_config cc;
    hil_console* con = NULL;
    hil_strbuf fed = {0, 0, 0, 0}, seen = {0, 0, 0, 0}, ex = {0, 0, 0, 0};
    int exact;
    char tail[2048];
    size_t i, dropped_total = 0;
    pats[0] = patterns[fuzz_u8(&in) % N_PATTERNS];
    pats[1] = patterns[fuzz_u8(&in) % N_PATTERNS];
    fuzz_clock_start();
    hil_console_config_init(&cc);
    cc.max_buffer = max_buffer;
    cc.max_before = (flags & 2) ? 64 : 1u << 20;
    cc.keep_ansi = flags & 1;
    cc.transcript_level = HIL_LOG_OFF; /* the harness would only measure logging */
    if (hil_console_create(NULL, &cc, &con) != HIL_OK) abort();
    while (in.n) {
        size_t n;
        const uint8_t* p = fuzz_bytes(&in, 1u + fuzz_u8(&in) % 200u, &n);
        hil_expect_match m;
        hil_console_feed(con, p, n);
        hil_sb_append(&fed, p, n);
        while (hil_expect_any(con, pats, 2, 0, &m) == HIL_OK) {
            check_match(&m, cc.max_before, 2);
            hil_sb_append(&seen, m.before, m.before_len);
            hil_sb_append(&seen, m.text, m.len);
            dropped_total += m.before_dropped;
            if (m.len == 0) break; /* an empty match consumes nothing: the next call would find it again */
        }
    }
    {
        size_t plen;
        const char* pend = hil_console_pending(con, &plen);
        FUZZ_CHECK(strlen(pend) == plen, "pending length");
        hil_sb_append(&seen, pend, plen);
    }
    exact = (flags & 1) && !(flags & 2) && memchr(fed.data ? fed.data : "", 0, fed.len) == NULL;
    if (exact)
        FUZZ_CHECK(seen.len == fed.len && memcmp(seen.data ? seen.data : "", fed.data ? fed.data : "", fed.len) == 0,
                   "the console lost or made up bytes: fed %zu, got back %zu", fed.len, seen.len);
    else
        FUZZ_CHECK(seen.len + dropped_total <= fed.len, "more text out (%zu + %zu dropped) than in (%zu)", seen.len,
                   dropped_total, fed.len);
    hil_console_tail(con, 8, tail, sizeof tail);
    for (i = 0; tail[i]; i++)
        FUZZ_CHECK((tail[i] >= 0x20 && tail[i] < 0x7f) || tail[i] == '\n', "unprintable 0x%02x in the tail",
                   tail[i] & 0xff);
    /* the shell's extraction over the same bytes */
    {
        size_t d = hil_shell_extract(fed.data ? fed.data : "", fed.len, "ls -l", "__HIL_BEGIN_1_1__",
                                     (flags & 4) ? 100 : 0, &ex);
        FUZZ_CHECK(ex.len + d <= fed.len, "extract gave %zu + %zu dropped from %zu", ex.len, d, fed.len);
        FUZZ_CHECK(!(flags & 4) || ex.len <= 100, "extract kept %zu > 100", ex.len);
        for (i = 0; i + 1 < ex.len; i++) FUZZ_CHECK(!(ex.data[i] == '\r' && ex.data[i + 1] == '\n'), "\\r\\n left");
    }
    hil_console_destroy(con);
    hil_sb_free(&fed);
    hil_sb_free(&seen);
    hil_sb_free(&ex);
    fuzz_clock_check(size, "feeding and matching");
    return 0;
}
