/* fuzz/fuzz_framing.c - every framer and deframer of hil_connectors.h
 * (raw, line, COBS, SLIP, length-prefixed) with fuzzed options.
 *
 * Input: [kind][options][max_frame][chunk][the rest]
 *   The rest is used twice:
 *   1. as bytes off the wire: pushed to a deframer in chunks; every frame
 *      it returns fits max_frame;
 *   2. as payloads ([len][bytes]...): each is encoded, the encodings are
 *      concatenated and deframed in chunks, and the frames must be the
 *      payloads, in order: decode(encode(x)) == x.
 * Payloads the framing cannot carry are left out: ones encode refuses,
 * ones longer than max_frame, and empty ones for SLIP (an empty SLIP
 * frame is an idle line by design). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"

#include "fuzz_common.h"

static size_t drain(hil_deframer* d, const hil_framing* f, uint8_t** frames, size_t* lens, size_t max_frames, size_t got) {
    const void* frame;
    size_t len;
    while (hil_deframer_next(d, &frame, &len)) {
        FUZZ_CHECK(len <= f->max_frame, "%s: a %zu-byte frame with max_frame %zu", hil_framing_name(f->kind), len,
                   f->max_frame);
        if (frames && got < max_frames) {
            frames[got] = (uint8_t*)malloc(len ? len : 1);
            if (!frames[got]) abort();
            if (len) memcpy(frames[got], frame, len);
            lens[got] = len;
        }
        got++;
    }
    return got;
}

static size_t push_all(hil_deframer* d, const hil_framing* f, const uint8_t* p, size_t n, size_t chunk, uint8_t** frames,
                       size_t* lens, size_t max_frames) {
    size_t got = 0;
    while (n) {
        size_t take = n < chunk ? n : chunk;
        FUZZ_CHECK(hil_deframer_push(d, p, take) == HIL_OK, "push failed: %s", hil_last_error());
        p += take;
        n -= take;
        got = drain(d, f, frames, lens, max_frames, got);
    }
    return got;
}

#define MAX_PAYLOADS 64

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in = {data, size};
    hil_framing f;
    hil_deframer d;
    uint8_t kind = fuzz_u8(&in) % 5, opts = fuzz_u8(&in), tl;
    size_t chunk, i, np = 0, got;
    const uint8_t* payload[MAX_PAYLOADS];
    size_t plen[MAX_PAYLOADS];
    uint8_t* frames[MAX_PAYLOADS];
    size_t flens[MAX_PAYLOADS];
    hil_strbuf wire = {0, 0, 0, 0};
    fuzz_in rest;

    hil_framing_init(&f, (hil_framing_kind)kind);
    f.max_frame = (opts & 0x80) ? 1u + fuzz_u8(&in) : HIL_FRAME_MAX_DEFAULT;
    f.length_bytes = (opts & 3) == 0 ? 1 : (opts & 3) == 1 ? 2 : 4;
    f.length_big_endian = (opts >> 2) & 1;
    f.leading_delimiter = (opts >> 3) & 1;
    tl = (uint8_t)(1 + ((opts >> 4) & 3)); /* a terminator of 1 to 4 bytes */
    if (kind == HIL_FRAMING_LINE && (opts & 0x40)) {
        for (i = 0; i < tl; i++) f.terminator[i] = fuzz_u8(&in);
        f.terminator_len = tl;
    }
    chunk = 1u + fuzz_u8(&in);
    rest = in;
    fuzz_clock_start();

    /* 1. arbitrary bytes */
    FUZZ_CHECK(hil_deframer_init(&d, &f) == HIL_OK, "deframer_init: %s", hil_last_error());
    push_all(&d, &f, in.p, in.n, chunk, NULL, NULL, 0);
    (void)hil_deframer_buffered(&d);
    hil_deframer_reset(&d);
    FUZZ_CHECK(hil_deframer_buffered(&d) == 0, "bytes buffered after reset");
    hil_deframer_free(&d);
    FUZZ_CHECK(hil_deframer_init(&d, &f) == HIL_OK, "deframer_init: %s", hil_last_error());

    /* 2. round trip */
    while (rest.n && np < MAX_PAYLOADS) {
        size_t len;
        const uint8_t* p = fuzz_bytes(&rest, fuzz_u8(&rest), &len);
        size_t before = wire.len;
        if (len > f.max_frame || (kind == HIL_FRAMING_SLIP && len == 0)) continue;
        if (hil_frame_encode(&f, p, len, &wire) != HIL_OK) {
            FUZZ_CHECK(wire.len == before, "a refused frame left bytes in the output");
            continue;
        }
        payload[np] = p;
        plen[np] = len;
        np++;
    }
    if (kind == HIL_FRAMING_RAW) {
        /* raw has no frames: what comes out is what went in, cut anywhere */
        hil_strbuf all = {0, 0, 0, 0};
        size_t total = 0, k;
        got = push_all(&d, &f, (const uint8_t*)wire.data, wire.len, chunk, frames, flens, MAX_PAYLOADS);
        for (k = 0; k < got && k < MAX_PAYLOADS; k++) {
            hil_sb_append(&all, frames[k], flens[k]);
            free(frames[k]);
        }
        for (k = 0; k < np; k++) total += plen[k];
        if (got <= MAX_PAYLOADS) {
            size_t off = 0;
            FUZZ_CHECK(all.len == total, "raw: %zu bytes out, %zu in", all.len, total);
            for (k = 0; k < np; k++) {
                FUZZ_CHECK(!plen[k] || memcmp(all.data + off, payload[k], plen[k]) == 0, "raw: bytes differ");
                off += plen[k];
            }
        }
        hil_sb_free(&all);
    } else {
        got = push_all(&d, &f, (const uint8_t*)wire.data, wire.len, chunk, frames, flens, MAX_PAYLOADS);
        FUZZ_CHECK(got == np, "%s: %zu frames encoded, %zu decoded", hil_framing_name(f.kind), np, got);
        for (i = 0; i < got && i < MAX_PAYLOADS; i++) {
            FUZZ_CHECK(flens[i] == plen[i] && memcmp(frames[i], payload[i], plen[i]) == 0,
                       "%s: frame %zu decoded as %zu bytes, encoded %zu", hil_framing_name(f.kind), i, flens[i], plen[i]);
            free(frames[i]);
        }
        FUZZ_CHECK(hil_deframer_buffered(&d) == 0, "%s: %zu bytes left over", hil_framing_name(f.kind),
                   hil_deframer_buffered(&d));
    }
    FUZZ_CHECK(d.frame_errors == 0 && d.oversize == 0, "%s: errors while decoding valid frames",
               hil_framing_name(f.kind));
    hil_deframer_free(&d);
    hil_sb_free(&wire);
    fuzz_clock_check(size, "framing");
    return 0;
}
