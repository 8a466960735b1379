/* fuzz/fuzz_rtt.c - an RTT control block as target memory holds it,
 * whatever the firmware (or a stray pointer) left there: the header and
 * every descriptor are parsed with 4- and 8-byte pointers; a descriptor
 * that parses has its offsets inside its buffer, of a bounded size. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_probe.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    uint32_t up = 0, down = 0, i;
    int ptr;
    fuzz_clock_start();
    if (hil_rtt_parse_header(data, size, &up, &down) == HIL_OK) {
        FUZZ_CHECK(up >= 1 && up <= HIL_RTT_MAX_BUFFERS && down <= HIL_RTT_MAX_BUFFERS, "%u up, %u down", up, down);
        for (ptr = 4; ptr <= 8; ptr += 4) {
            size_t ds = hil_rtt_desc_size(ptr);
            for (i = 0; i < up + down && 24 + (i + 1) * ds <= size; i++) {
                hil_rtt_desc d;
                if (hil_rtt_parse_desc(data + 24 + i * ds, ds, ptr, &d) == HIL_OK && d.size) {
                    FUZZ_CHECK(d.size <= HIL_RTT_MAX_BUFFER_SIZE, "size %u", d.size);
                    FUZZ_CHECK(d.wr_off < d.size && d.rd_off < d.size, "offsets %u %u of %u", d.wr_off, d.rd_off, d.size);
                }
            }
        }
    }
    for (ptr = 4; ptr <= 8; ptr += 4) {
        hil_rtt_desc d;
        if (hil_rtt_parse_desc(data, size, ptr, &d) == HIL_OK && d.size)
            FUZZ_CHECK(d.wr_off < d.size && d.rd_off < d.size, "offsets");
    }
    fuzz_clock_check(size, "hil_rtt_parse");
    return 0;
}
