/* fuzz/fuzz_tapp.c - the host side of testApp (hil_aux.h): hil_tapp_decode
 * over a byte stream reassembled the way the DUT auxiliary does it
 * (hil__dut_take, then decode / resynchronise one byte further), the text
 * of TLVs, and encode/decode round trips.
 *
 * Input: [text size][tag][chunk][stream...]
 * Properties:
 * - a message decode accepts re-encodes to exactly the bytes it came from;
 * - a message built from the input (fields, TLVs) decodes to itself;
 * - hil_tapp_tlv_text and the log text stay inside the buffer they are
 *   given, NUL-terminated, printable only. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"

#include "fuzz_common.h"

static void check_text(const char* out, size_t size, const char* what) {
    size_t n;
    if (!size) return;
    n = strnlen(out, size);
    FUZZ_CHECK(n < size, "%s: not NUL-terminated in %zu bytes", what, size);
    while (n--) FUZZ_CHECK(out[n] >= 0x20 && out[n] < 0x7f, "%s: unprintable byte 0x%02x", what, (unsigned char)out[n]);
}

static void texts(const hil_tapp_msg* m, size_t size, uint8_t tag) {
    /* exactly size bytes on the heap, so ASan sees one byte too far */
    char* out = (char*)malloc(size ? size : 1);
    char all[600];
    if (!out) abort();
    hil_tapp_tlv_text(m, tag, out, size);
    check_text(out, size, "hil_tapp_tlv_text");
    hil__tapp_all_text(m, all, sizeof all);
    check_text(all, sizeof all, "the log text of a message");
    free(out);
}

static void round_trip_built(fuzz_in* in) {
    hil_tapp_msg m, back;
    uint8_t wire[HIL_TAPP_MAX_MSG];
    size_t n, used = 0;
    memset(&m, 0, sizeof m);
    m.type = fuzz_u8(in) & 3u;
    m.token = fuzz_u8(in);
    m.sub_type = fuzz_u8(in);
    m.error_code = fuzz_u8(in);
    m.reserved = fuzz_u8(in);
    m.suite = fuzz_u8(in);
    m.test_case = fuzz_u8(in);
    while (in->n) {
        size_t len;
        uint8_t tag = fuzz_u8(in);
        const uint8_t* v = fuzz_bytes(in, fuzz_u8(in), &len);
        size_t before = m.payload_len;
        hil_result r = hil_tapp_add_tlv(&m, tag, v, len);
        if (r != HIL_OK) {
            FUZZ_CHECK(before + 2 + len > HIL_TAPP_MAX_PAYLOAD, "add_tlv refused a TLV that fits (%zu + %zu)", before, len);
            FUZZ_CHECK(m.payload_len == before, "a refused TLV changed the payload");
            break;
        }
    }
    n = hil_tapp_encode(&m, wire);
    FUZZ_CHECK(n == HIL_TAPP_HEADER + m.payload_len + 2u, "encode gave %zu bytes", n);
    FUZZ_CHECK(hil_tapp_decode(wire, n, &back, &used) == HIL_OK && used == n, "decode(encode(m)) failed");
    FUZZ_CHECK(memcmp(&m, &back, sizeof m) == 0, "decode(encode(m)) != m");
    FUZZ_CHECK(hil_tapp_decode(wire, n - 1, &back, &used) == HIL_ERR_AGAIN, "a message one byte short decoded");
    wire[n - 1] ^= 0x01;
    FUZZ_CHECK(hil_tapp_decode(wire, n, &back, &used) == HIL_ERR_CHECKSUM, "a corrupt CRC decoded");
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static hil__dut d;
    fuzz_in in = {data, size}, built;
    size_t text_size = fuzz_u8(&in) * 2u; /* 0 .. 510, 0 included */
    uint8_t tag = fuzz_u8(&in);
    size_t chunk = 1u + fuzz_u8(&in) * 4u;
    fuzz_clock_start();
    built = in;
    round_trip_built(&built);
    memset(&d, 0, sizeof d);
    while (in.n) {
        size_t n;
        const uint8_t* p = fuzz_bytes(&in, chunk, &n);
        hil__dut_take(&d, p, n);
        FUZZ_CHECK(d.len <= sizeof d.buf, "reassembly buffer holds %zu", d.len);
        while (d.len) {
            hil_tapp_msg m;
            uint8_t again[HIL_TAPP_MAX_MSG];
            size_t used = 0;
            hil_result r = hil_tapp_decode(d.buf, d.len, &m, &used);
            if (r == HIL_ERR_AGAIN) break;
            if (r == HIL_OK) {
                FUZZ_CHECK(used <= d.len && used == HIL_TAPP_HEADER + m.payload_len + 2u, "used %zu", used);
                FUZZ_CHECK(hil_tapp_encode(&m, again) == used && memcmp(again, d.buf, used) == 0,
                           "encode(decode(bytes)) != bytes");
                texts(&m, text_size, tag);
                memmove(d.buf, d.buf + used, d.len - used);
                d.len -= used;
                continue;
            }
            FUZZ_CHECK(r == HIL_ERR_PROTOCOL || r == HIL_ERR_CHECKSUM, "decode returned %d", (int)r);
            memmove(d.buf, d.buf + 1, d.len - 1);
            d.len--;
        }
    }
    fuzz_clock_check(size, "hil_tapp_decode");
    return 0;
}
