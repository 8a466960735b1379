/* fuzz/fuzz_rsp.c - what a GDB server sends, as hil_probe.h parses it:
 * RSP packets, stop replies, qXfer memory maps, and Intel HEX files.
 *
 * Input: [what][max][chunk][the rest]
 *   what % 5: 0 packets off the wire (cut into chunks, skipped to the next
 *   '$' after an error, as the client does): every payload fits max and
 *   unescaping never grows it; 1 encode(rest) then decode: the same bytes
 *   back; 2 a stop reply; 3 a memory map (regions within the bound, flash
 *   ones with a block size); 4 Intel HEX (blocks sorted, not overlapping,
 *   their sizes adding up). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_probe.h"

#include "fuzz_common.h"

static void packets(const uint8_t* p, size_t n, size_t max, size_t chunk) {
    uint8_t* buf = (uint8_t*)malloc(n + 1);
    size_t have = 0, fed = 0;
    hil_strbuf out = {0, 0, 0, 0};
    if (!buf) abort();
    while (fed < n || have) {
        size_t take = n - fed < chunk ? n - fed : chunk, used = 0, i = 0;
        hil_result r;
        memcpy(buf + have, p + fed, take);
        have += take;
        fed += take;
        while (i < have && buf[i] != '$' && buf[i] != '%') i++;
        memmove(buf, buf + i, have - i);
        have -= i;
        if (!have) continue;
        r = hil_rsp_decode(buf, have, max, &out, &used);
        if (r == HIL_ERR_AGAIN) {
            if (fed == n) break;
            continue;
        }
        FUZZ_CHECK(used >= 1 && used <= have, "used %zu of %zu", used, have);
        if (r == HIL_OK) {
            FUZZ_CHECK(out.len <= max, "a %zu-byte payload with max %zu", out.len, max);
            FUZZ_CHECK(hil_rsp_unescape(out.data, out.len) <= out.len, "unescape grew");
        }
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    hil_sb_free(&out);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in = {data, size};
    int what = fuzz_u8(&in) % 5;
    size_t max = 16 + fuzz_u16(&in) % 8192;
    size_t chunk = 1 + fuzz_u8(&in);
    fuzz_clock_start();
    switch (what) {
    case 0: packets(in.p, in.n, max, chunk); break;
    case 1: {
        hil_strbuf wire = {0, 0, 0, 0}, out = {0, 0, 0, 0};
        size_t used = 0, n;
        hil_rsp_encode(in.p, in.n, &wire);
        FUZZ_CHECK(hil_rsp_decode(wire.data, wire.len, 2 * in.n + 16, &out, &used) == HIL_OK, "%s", hil_last_error());
        FUZZ_CHECK(used == wire.len, "used %zu of %zu", used, wire.len);
        n = hil_rsp_unescape(out.data, out.len);
        FUZZ_CHECK(n == in.n && (n == 0 || memcmp(out.data, in.p, n) == 0), "round trip: %zu bytes back, %zu sent", n, in.n);
        hil_sb_free(&wire);
        hil_sb_free(&out);
        break;
    }
    case 2: {
        hil_rsp_stop st;
        if (hil_rsp_parse_stop((const char*)in.p, in.n, &st) == HIL_OK) {
            FUZZ_CHECK(st.n_regs >= 0 && st.n_regs <= HIL_RSP_MAX_STOP_REGS, "%d registers", st.n_regs);
            FUZZ_CHECK(strlen(st.reason) < sizeof st.reason, "reason");
        }
        break;
    }
    case 3: {
        hil_mem_region r[8];
        size_t n = 0, i;
        if (hil_rsp_parse_memory_map((const char*)in.p, in.n, r, 8, &n) == HIL_OK) {
            FUZZ_CHECK(n <= 8, "%zu regions", n);
            for (i = 0; i < n; i++) FUZZ_CHECK(r[i].type != 2 || r[i].blocksize, "flash without a block size");
        }
        break;
    }
    default: {
        hil_image img;
        if (hil_ihex_parse((const char*)in.p, in.n, "fuzz.hex", &img) == HIL_OK) {
            size_t i, total = 0;
            for (i = 0; i < img.n_blocks; i++) {
                total += img.blocks[i].len;
                if (i) FUZZ_CHECK(img.blocks[i - 1].addr + img.blocks[i - 1].len <= img.blocks[i].addr, "overlap");
            }
            FUZZ_CHECK(total == img.total, "sizes %zu != %zu", total, img.total);
            hil_image_free(&img);
        }
        break;
    }
    }
    fuzz_clock_check(size, "hil_rsp");
    return 0;
}
