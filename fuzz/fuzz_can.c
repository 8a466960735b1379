/* fuzz/fuzz_can.c - the CAN text formats of hil_connectors.h: candump's
 * compact frames (hil_can_parse_frame / hil_can_format_frame), candump -l
 * logs read with hil_can_log_next, and the socketcan channel's option
 * parsers for filters and error classes.
 *
 * Input: [cap][the text: lines]
 *   cap: the data buffer handed to hil_can_parse_frame (cap % 72 bytes,
 *   on the heap, exactly that size, so a write past it is caught).
 * Properties:
 * - a frame that parses formats again (non-zero length, within
 *   HIL_CAN_FRAME_TEXT_MAX) and parses back to the same id, flags and data;
 * - hil_can_error_str stays inside its buffer;
 * - the whole text, as a log file, is read to its end: every line either
 *   gives a frame or an error naming file and line, and line numbers rise. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"

#include "fuzz_common.h"

#include <unistd.h>

static char log_path[64];

static void one_line(const char* line, size_t cap) {
    unsigned char* buf = (unsigned char*)malloc(cap ? cap : 1);
    unsigned char back_buf[64];
    char text[HIL_CAN_FRAME_TEXT_MAX], small[24], why[128];
    hil_msg m, back;
    hil__can_filter* filters = NULL;
    size_t count = 0, n;
    uint32_t mask;
    hil_can_trace_format fmt;
    if (!buf) abort();
    hil_msg_init(&m, buf, cap);
    if (hil_can_parse_frame(line, &m) == HIL_OK) {
        FUZZ_CHECK(m.len <= cap || (m.flags & HIL_MSG_RTR), "parsed %zu bytes into a %zu-byte buffer", m.len, cap);
        n = hil_can_format_frame(&m, text, sizeof text);
        FUZZ_CHECK(n > 0 && n < sizeof text && strlen(text) == n, "'%s' parsed but does not format", line);
        hil_msg_init(&back, back_buf, sizeof back_buf);
        FUZZ_CHECK(hil_can_parse_frame(text, &back) == HIL_OK, "'%s' formatted as '%s', which does not parse: %s", line,
                   text, hil_last_error());
        FUZZ_CHECK(back.remote_id == m.remote_id && back.flags == m.flags && back.len == m.len &&
                       ((m.flags & HIL_MSG_RTR) || !m.len || memcmp(back_buf, buf, m.len) == 0),
                   "'%s' -> '%s' -> a different frame", line, text);
        hil_can_error_str(&m, small, sizeof small);
        FUZZ_CHECK(strlen(small) < sizeof small, "error text overran");
    }
    if (hil__can_parse_filters(line, &filters, &count, why, sizeof why) == HIL_OK) HIL_FREE(filters);
    (void)hil__can_parse_error_mask(line, &mask, why, sizeof why);
    (void)hil_can_trace_format_parse(line, line, &fmt);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in = {data, size};
    size_t cap = fuzz_u8(&in) % 72u, len;
    char* text = fuzz_rest_str(&in, &len);
    char* line = text;
    hil_can_log* lg;
    hil_can_log_entry e;
    unsigned last = 0, lines = 0;
    FILE* f;
    if (!log_path[0]) snprintf(log_path, sizeof log_path, "/tmp/hil-fuzz-can-%ld.log", (long)getpid());
    fuzz_clock_start();
    for (;;) {
        char* nl = strchr(line, '\n');
        if (nl) *nl = 0;
        one_line(line, cap);
        if (!nl) break;
        *nl = '\n';
        line = nl + 1;
    }
    for (line = text; line < text + len; line++) lines += *line == '\n';
    lines++; /* getline reads past a NUL byte: count the lines of all of it */
    f = fopen(log_path, "wb");
    if (!f) abort();
    if (len && fwrite(text, 1, len, f) != len) abort();
    fclose(f);
    if (hil_can_log_open(log_path, &lg) != HIL_OK) abort();
    for (;;) {
        hil_result r = hil_can_log_next(lg, &e);
        if (r == HIL_ERR_CLOSED) break;
        if (r == HIL_OK) {
            FUZZ_CHECK(e.line > last, "line %u after line %u", e.line, last);
            last = e.line;
            FUZZ_CHECK(e.ifname[0] && strlen(e.ifname) < sizeof e.ifname, "interface name");
            FUZZ_CHECK(e.msg.len <= 64, "%zu data bytes", e.msg.len);
        } else {
            FUZZ_CHECK(r == HIL_ERR_PROTOCOL && strstr(hil_last_error(), log_path), "error %d without the file: %s", (int)r,
                       hil_last_error());
        }
        FUZZ_CHECK(lines-- > 0, "more entries than lines");
    }
    hil_can_log_close(lg);
    fuzz_clock_check(size, "CAN text");
    free(text);
    return 0;
}
