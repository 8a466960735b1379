/* fuzz/fuzz_isotp.c - the isotp channel's configuration parsers in
 * hil_connectors.h: CAN ids (hil_isotp_parse_id, the tx_id/rx_id syntax),
 * the numbers of its options (decimal or 0x hex, bounded), STmin in
 * microseconds to the flow-control byte, and a whole channel configured
 * from "key=value" lines (hil_channel_create with type isotp; no socket is
 * opened).
 *
 * Input: text, one item a line.
 * Properties:
 * - an id that parses is <= 1FFFFFFF, 29-bit when above 7FF, and written
 *   back (%03X, or %08X when 29-bit) parses to the same id and width;
 * - a number that parses is <= its maximum and written back in decimal
 *   parses to the same value;
 * - an STmin that converts gives a byte of ISO 15765-2's ranges (0..7F,
 *   F1..F9) that means the same time;
 * - every line list either creates a channel or fails with HIL_ERR_CONFIG
 *   and a message that names the channel. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"

#include "fuzz_common.h"

static void one_line(const char* line) {
    char why[200], back[32];
    uint32_t id, id2;
    int ext, ext2;
    unsigned long n, n2;
    unsigned char b;
    if (hil_isotp_parse_id(line, &id, &ext) == HIL_OK) {
        FUZZ_CHECK(id <= 0x1FFFFFFFu, "'%s' gave id %X", line, (unsigned)id);
        FUZZ_CHECK(ext || id <= 0x7FFu, "'%s' gave an 11-bit id %X", line, (unsigned)id);
        snprintf(back, sizeof back, ext ? "%08X" : "%03X", (unsigned)id);
        FUZZ_CHECK(hil_isotp_parse_id(back, &id2, &ext2) == HIL_OK && id2 == id && ext2 == ext,
                   "'%s' -> '%s' does not parse back to %X (%d)", line, back, (unsigned)id, ext);
    } else {
        FUZZ_CHECK(hil_last_error()[0] != 0, "an error without a message for '%s'", line);
    }
    if (hil__isotp_parse_num(line, 127000, &n, why, sizeof why) == HIL_OK) {
        FUZZ_CHECK(n <= 127000, "'%s' gave %lu", line, n);
        snprintf(back, sizeof back, "%lu", n);
        FUZZ_CHECK(hil__isotp_parse_num(back, 127000, &n2, why, sizeof why) == HIL_OK && n2 == n, "'%s' -> %lu", line, n);
        if (hil__isotp_stmin_byte(n, &b, why, sizeof why) == HIL_OK) {
            FUZZ_CHECK(b <= 0x7F || (b >= 0xF1 && b <= 0xF9), "%lu us -> STmin byte %02X", n, b);
            FUZZ_CHECK((b <= 0x7F ? (unsigned long)b * 1000u : (unsigned long)(b - 0xF0u) * 100u) == n,
                       "%lu us -> STmin byte %02X means another time", n, b);
        }
    } else {
        FUZZ_CHECK(why[0] != 0, "a number error without a reason for '%s'", line);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in = {data, size};
    size_t len, count = 0;
    char* text = fuzz_rest_str(&in, &len);
    const char* opts[33];
    char* line = text;
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_result r;
    fuzz_clock_start();
    for (;;) {
        char* nl = strchr(line, '\n');
        if (nl) *nl = 0;
        one_line(line);
        if (count < 32 && strchr(line, '=')) opts[count++] = line;
        if (!nl) break;
        line = nl + 1;
    }
    opts[count] = NULL;
    hil_channel_config_init(&c);
    c.name = "fz";
    c.type = "isotp";
    c.options = opts;
    r = hil_channel_create(&c, &ch);
    if (r == HIL_OK) {
        FUZZ_CHECK(ch != NULL, "created without a channel");
        hil_channel_destroy(ch);
    } else {
        FUZZ_CHECK(r == HIL_ERR_CONFIG, "create failed with %d, not HIL_ERR_CONFIG: %s", (int)r, hil_last_error());
        FUZZ_CHECK(strstr(hil_last_error(), "fz") != NULL, "the message does not name the channel: %s", hil_last_error());
    }
    fuzz_clock_check(size, "the isotp configuration");
    free(text);
    return 0;
}
