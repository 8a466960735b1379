/* fuzz/fuzz_harvest.c - the harvester of on-target test output
 * (hil_harvest.h): every line parser over the input's lines, and the
 * harvester over the whole stream, once in the input's chunks and once
 * byte by byte.
 *
 * Input: [format][max_line][chunk][fatal?][stream...]
 * Properties:
 * - a parser's strings lie inside the line it was given;
 * - the harvester's verdict (result, counts, cases, finished, crashed) does
 *   not depend on how the stream is cut;
 * - every case has a name and an outcome Skipped..Aborted; its output stays
 *   bounded (max_case_output plus the context lines and the notes);
 * - the counts add up to the cases reported. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_harvest.h"

#include "fuzz_common.h"

static void in_line(hil_harvest_str s, const char* line, size_t len, const char* what) {
    if (!s.n) return;
    FUZZ_CHECK(s.p >= line && s.p + s.n <= line + len, "%s: a string outside the line", what);
}

static void parse_lines(const char* data, size_t len) {
    const char* p = data;
    const char* e = data + len;
    while (p < e) {
        const char* nl = (const char*)memchr(p, '\n', (size_t)(e - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(e - p);
        int f;
        for (f = HIL_HARVEST_UNITY; f < HIL_HARVEST_FORMAT_COUNT; f++) {
            hil_harvest_event ev;
            hil_harvest_kind k = hil_harvest_parse_line((hil_harvest_format)f, p, n, &ev);
            FUZZ_CHECK(k == ev.kind, "the kind returned is the event's");
            in_line(ev.name, p, n, "name");
            in_line(ev.suite, p, n, "suite");
            in_line(ev.message, p, n, "message");
            in_line(ev.file, p, n, "file");
            FUZZ_CHECK(ev.outcome >= HIL_NOT_RUN && ev.outcome < HIL_OUTCOME_COUNT, "an outcome");
        }
        p += n + 1;
    }
}

typedef struct seen { size_t cases, bound; } seen;

static void on_case(void* user, const hil_case_report* c) {
    seen* s = (seen*)user;
    FUZZ_CHECK(c->name && *c->name, "a case without a name");
    FUZZ_CHECK(c->suite && *c->suite, "a case without a suite");
    FUZZ_CHECK(c->outcome > HIL_NOT_RUN && c->outcome < HIL_OUTCOME_COUNT, "outcome %d", (int)c->outcome);
    FUZZ_CHECK(!c->output || strlen(c->output) <= s->bound, "case output %zu bytes > %zu", strlen(c->output), s->bound);
    s->cases++;
}

static hil_harvest_summary harvest(const hil_harvest_config* base, const uint8_t* data, size_t len, size_t chunk) {
    hil_harvest_config c = *base;
    hil_harvester* h;
    hil_harvest_summary s;
    seen sn;
    size_t off = 0, i, total = 0;
    memset(&sn, 0, sizeof sn);
    sn.bound = c.max_case_output + 256 + (c.context_lines + 1) * 242 + 400;
    c.on_case = on_case;
    c.user = &sn;
    FUZZ_CHECK(hil_harvester_create(&c, &h) == HIL_OK, "create: %s", hil_last_error());
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        hil_harvester_feed(h, data + off, n);
        off += n;
    }
    hil_harvester_finish(h, "the input ended", 0, &s);
    hil_harvester_destroy(h);
    FUZZ_CHECK(sn.cases == s.cases, "%zu cases seen, %zu counted", sn.cases, s.cases);
    for (i = 0; i < HIL_OUTCOME_COUNT; i++) total += s.counts[i];
    FUZZ_CHECK(total == s.cases, "counts add up to %zu, %zu cases", total, s.cases);
    FUZZ_CHECK(strlen(s.error) < sizeof s.error, "error text bounded");
    FUZZ_CHECK((s.result == HIL_OK) == (s.error[0] == 0), "an error has its text");
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in;
    hil_harvest_config c;
    hil_harvest_summary a, b;
    size_t len, chunk;
    const uint8_t* stream;
    in.p = data;
    in.n = size;
    hil_harvest_config_init(&c);
    c.format = (hil_harvest_format)(fuzz_u8(&in) % HIL_HARVEST_FORMAT_COUNT);
    c.max_line = 16 + (size_t)fuzz_u8(&in) * 4;
    c.max_case_output = 512;
    chunk = 1 + fuzz_u8(&in);
    if (fuzz_u8(&in) & 1) c.fatal[0] = "PANIC";
    c.banner = "BOOT";
    stream = fuzz_bytes(&in, in.n, &len);
    fuzz_clock_start();
    parse_lines((const char*)stream, len);
    a = harvest(&c, stream, len, chunk);
    b = harvest(&c, stream, len, 1);
    fuzz_clock_check(size, "parsing and harvesting");
    FUZZ_CHECK(a.result == b.result && a.cases == b.cases && a.finished == b.finished && a.crashed == b.crashed &&
                   a.lines == b.lines && a.truncated_lines == b.truncated_lines && a.garbage_bytes == b.garbage_bytes &&
                   memcmp(a.counts, b.counts, sizeof a.counts) == 0 && a.format == b.format,
               "the verdict depends on the chunking: %d/%d cases %zu/%zu", (int)a.result, (int)b.result, a.cases, b.cases);
    return 0;
}
