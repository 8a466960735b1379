/* fuzz/fuzz_uds.c - what hil_uds.h makes of outside input: DID specs
 * (configuration), DID data and UDS responses (from an ECU).
 *
 * Input: [spec length][spec][request length][request][the rest: DID data,
 * also the response to the request, also text to encode]
 * Properties:
 * - hil_uds_did_parse either fails or gives a type with a length that fits it;
 * - hil_uds_did_decode of data it accepts has the data's length, and its
 *   text is NUL-terminated; for bytes and unscaled integers the text
 *   encodes back to exactly the same bytes;
 * - hil_uds_did_encode of any text fails or writes at most cap bytes;
 * - hil_uds_check_response answers OK or HIL_ERR_PROTOCOL, sets an NRC
 *   only for a negative answer, and accepts only answers with SID + 0x40. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_probe.h"
#include "hil_uds.h"

#include "fuzz_common.h"

static void did_checks(const hil_uds_did* d, const uint8_t* data, size_t n) {
    hil_uds_value* v = (hil_uds_value*)malloc(sizeof *v);
    unsigned char out[HIL_UDS_DID_MAX + 8];
    size_t len = 0;
    hil_result r;
    if (!v) abort();
    FUZZ_CHECK(d->type == HIL_UDS_DID_BYTES || d->type == HIL_UDS_DID_ASCII || (d->bits >= 1 && d->bits <= 64 &&
               d->length == (d->bits + 7) / 8), "type %d bits %u length %zu", (int)d->type, d->bits, d->length);
    r = hil_uds_did_decode(d, data, n, v);
    FUZZ_CHECK(r == HIL_OK || r == HIL_ERR_PROTOCOL, "decode returned %d", (int)r);
    if (r == HIL_OK) {
        FUZZ_CHECK(v->len == n, "decoded %zu of %zu bytes", v->len, n);
        FUZZ_CHECK(memchr(v->text, 0, sizeof v->text) != NULL, "text not terminated");
        if (d->type == HIL_UDS_DID_BYTES || ((d->type == HIL_UDS_DID_UINT || d->type == HIL_UDS_DID_SINT) &&
                                             d->scale == 1.0 && d->offset == 0.0 && !d->unit[0])) {
            r = hil_uds_did_encode(d, v->text, out, sizeof out, &len);
            FUZZ_CHECK(r == HIL_OK && len == n && (!n || memcmp(out, data, n) == 0), "'%s' does not encode back (%d)",
                       v->text, (int)r);
        }
        if (d->type == HIL_UDS_DID_UINT || d->type == HIL_UDS_DID_SINT) {
            r = hil_uds_did_encode_phys(d, v->phys, out, sizeof out, &len);
            FUZZ_CHECK(r == HIL_OK || r == HIL_ERR_OVERFLOW || r == HIL_ERR_INVALID_ARG, "encode_phys returned %d", (int)r);
        }
    }
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in;
    size_t sl, ql, rl, len = 0;
    const uint8_t* sp;
    const uint8_t* q;
    const uint8_t* rest;
    char spec[300];
    char* text;
    hil_uds_did d;
    unsigned char out[64];
    int nrc = -1;
    hil_result r;
    in.p = data;
    in.n = size;
    fuzz_clock_start();
    sp = fuzz_bytes(&in, fuzz_u8(&in), &sl);
    memcpy(spec, sp, sl);
    spec[sl] = 0;
    q = fuzz_bytes(&in, fuzz_u8(&in), &ql);
    rest = in.p;
    rl = in.n;
    if (hil_uds_did_parse(spec, &d) == HIL_OK) {
        did_checks(&d, rest, rl);
        text = fuzz_rest_str(&in, NULL);
        r = hil_uds_did_encode(&d, text, out, sizeof out, &len);
        FUZZ_CHECK(r == HIL_OK ? len <= sizeof out : 1, "encode wrote %zu into %zu", len, sizeof out);
        free(text);
    }
    r = hil_uds_check_response(q, ql, rest, rl, &nrc);
    if (!ql) FUZZ_CHECK(r == HIL_ERR_INVALID_ARG, "an empty request: %d", (int)r);
    else FUZZ_CHECK(r == HIL_OK || r == HIL_ERR_PROTOCOL, "check_response returned %d", (int)r);
    if (r == HIL_OK) FUZZ_CHECK(nrc == 0 && rl && rest[0] == ((q[0] + 0x40) & 0xFF), "accepted a wrong SID");
    if (nrc) FUZZ_CHECK(r == HIL_ERR_PROTOCOL && rl == 3 && rest[0] == 0x7F, "an NRC from a non-negative answer");
    fuzz_clock_check(size, "hil_uds");
    return 0;
}
