/* fuzz/fuzz_scpi.c - what a SCPI power supply answers (hil_aux.h, section
 * power): the reply buffer the scpi driver gathers lines in
 * (hil__scpi_push / hil__scpi_take, chunked as the input says, raw or
 * framed) and every line through the three reply parsers.
 *
 * Input: [chunk][flags][out size][stream...]
 * Properties:
 * - the buffer never holds more than its capacity and a line taken out
 *   stays inside the buffer it is given, NUL-terminated;
 * - hil_scpi_parse_number gives a finite number inside SCPI's range or an
 *   error; hil_scpi_parse_error's text is NUL-terminated, printable, inside
 *   its buffer; hil_scpi_parse_bool gives 0 or 1;
 * - no parser reads past the length it is given (ASan: the line is copied
 *   to an allocation of exactly its length). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"

#include <math.h>

#include "fuzz_common.h"

static void parse_line(const char* line, size_t len, size_t text_size) {
    char* exact = (char*)malloc(len ? len : 1);
    char* text = (char*)malloc(text_size ? text_size : 1);
    double d = 12345.0;
    int code = 0, b = -1;
    size_t n;
    if (!exact || !text) abort();
    if (len) memcpy(exact, line, len);
    if (hil_scpi_parse_number(exact, len, &d) == HIL_OK)
        FUZZ_CHECK(isfinite(d) && d < 9.9e37 && d > -9.9e37, "a number out of SCPI's range: %g", d);
    if (hil_scpi_parse_error(exact, len, &code, text, text_size) == HIL_OK && text_size) {
        n = strnlen(text, text_size);
        FUZZ_CHECK(n < text_size, "error text not NUL-terminated in %zu bytes", text_size);
        while (n--) FUZZ_CHECK(text[n] >= 0x20 && text[n] < 0x7f, "unprintable byte in the error text");
        FUZZ_CHECK(code > -1000000 && code < 1000000, "error code %d has more than 6 digits", code);
    }
    if (hil_scpi_parse_bool(exact, len, &b) == HIL_OK) FUZZ_CHECK(b == 0 || b == 1, "a boolean of %d", b);
    free(exact);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in = {data, size};
    char rx[256];
    size_t rx_len = 0;
    size_t chunk = (size_t)(fuzz_u8(&in) % 64u) + 1u;
    unsigned flags = fuzz_u8(&in);
    size_t out_size = (size_t)(fuzz_u8(&in) % 80u) + 1u;
    int framed = (int)(flags & 1u);
    fuzz_clock_start();
    while (in.n) {
        size_t len;
        const uint8_t* p = fuzz_bytes(&in, chunk, &len);
        char* out = (char*)malloc(out_size ? out_size : 1);
        if (!out) abort();
        if (hil__scpi_push(rx, &rx_len, sizeof rx, p, len, framed) != 0)
            FUZZ_CHECK(rx_len == 0, "an overflow leaves %zu bytes in the buffer", rx_len);
        FUZZ_CHECK(rx_len < sizeof rx, "the buffer holds %zu bytes of %zu", rx_len, sizeof rx);
        while (hil__scpi_take(rx, &rx_len, out, out_size)) {
            FUZZ_CHECK(strnlen(out, out_size) < out_size, "a line not NUL-terminated in %zu bytes", out_size);
            parse_line(out, strlen(out), (size_t)(flags >> 1) % 64u);
        }
        free(out);
    }
    /* the parsers on the raw input too, not only on whole lines */
    parse_line((const char*)data, size < 512 ? size : 512, 32);
    fuzz_clock_check(size, "the SCPI reply buffer and parsers");
    return 0;
}
