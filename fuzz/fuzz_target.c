/* fuzz/fuzz_target.c - hil_target_input (hil_target.h), the firmware side of
 * testApp, fed what a host (or line noise) may send.
 *
 * Input: [mode][n][n bytes for re-entry][the byte stream].
 *   mode & 3: how the stream is cut: 0 whole, 1 byte by byte, 2 and 3
 *             pseudo-random chunks (sizes from an LCG seeded by mode).
 *   mode & 4: the harness appends the right CRC after each message
 *             (8-byte header + payload_len bytes) of the stream and of the
 *             re-entry bytes, so mutations reach the command handling
 *             instead of dying at the CRC check.
 *   The re-entry bytes are fed by the test function of case (1, 4) from
 *   inside hil_target_input, as a firmware whose UART interrupt delivers
 *   input while a test runs does (at most 3 times per input).
 * Properties: every message the target sends has a valid header, a length
 * that matches its payload, fits HIL_TARGET_MSG_MAX, carries a correct
 * CRC-16/XMODEM and is never a COMMAND; a TLV payload is one whole TLV;
 * an ACK that is a NACK carries an error code; rx_len never exceeds rx. */
#define HIL_IMPLEMENTATION
#include "hil_target.h"

#include "fuzz_common.h"

static hil_target target;
static const uint8_t* reentry;
static size_t reentry_len;
static int depth, feeds; /* feeds: a queued CASE_RUN (1, 4) would feed again, forever */

/* An independent bitwise CRC: the property must not trust the code under test. */
static uint16_t crc_xmodem(const uint8_t* p, size_t n) {
    uint32_t crc = 0;
    size_t i;
    int b;
    for (i = 0; i < n; i++)
        for (b = 7; b >= 0; b--) {
            uint32_t bit = ((p[i] >> b) & 1u) ^ ((crc >> 15) & 1u);
            crc = ((crc << 1) & 0xFFFFu) ^ (bit ? 0x1021u : 0);
        }
    return (uint16_t)crc;
}

static void check_sent(void* user, const uint8_t* m, size_t len) {
    size_t body;
    uint16_t crc;
    (void)user;
    FUZZ_CHECK(len >= 10 && len <= HIL_TARGET_MSG_MAX, "sent %zu bytes", len);
    FUZZ_CHECK((m[0] & 0xCFu) == 0x40u, "first byte 0x%02x is not a message start", m[0]);
    FUZZ_CHECK(((m[0] >> 4) & 3u) != HIL_TARGET_T_COMMAND, "the target sent a COMMAND");
    body = 8u + m[7];
    FUZZ_CHECK(body + 2 == len, "payload_len %u but %zu bytes sent", m[7], len);
    crc = crc_xmodem(m, body);
    FUZZ_CHECK(m[body] == (crc & 0xFFu) && m[body + 1] == (crc >> 8), "bad CRC on a sent message");
    if (m[7]) FUZZ_CHECK(m[7] >= 2 && (size_t)m[9] + 2 == m[7], "TLV length %u in a payload of %u", m[9], m[7]);
    if (((m[0] >> 4) & 3u) == HIL_TARGET_T_ACK && m[2] == 1) FUZZ_CHECK(m[3] != 0, "a NACK without an error code");
    FUZZ_CHECK(target.rx_len <= sizeof target.rx, "rx_len %zu", target.rx_len);
}

static int pass(hil_target* t) { (void)t; return HIL_TARGET_PASS; }
static int fail(hil_target* t) { return hil_target_fail(t, "expected failure"); }
static int chatty(hil_target* t) {
    static const char line[] = /* longer than one message may carry: cut to 253 */
        "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789";
    hil_target_log(t, "");
    hil_target_log(t, line);
    return hil_target_fail(t, line);
}
static int reenter(hil_target* t) {
    if (depth < 3 && feeds < 3 && reentry_len) {
        depth++;
        feeds++;
        hil_target_input(t, reentry, reentry_len);
        depth--;
    }
    return hil_target_aborted(t) ? HIL_TARGET_FAILED : HIL_TARGET_PASS;
}
static int odd_verdict(hil_target* t) { (void)t; return 7; }
static int local_reason(hil_target* t) {
    char why[32]; /* a reason formatted into a local buffer, as firmware does */
    size_t i;
    for (i = 0; i + 1 < sizeof why; i++) why[i] = (char)('a' + i % 26);
    why[sizeof why - 1] = 0;
    return hil_target_fail(t, why);
}

static const hil_target_case cases[] = {
    {1, 0, pass, NULL, pass},
    {1, 1, NULL, pass, NULL},
    {1, 2, pass, fail, NULL},
    {1, 3, NULL, chatty, chatty},
    {1, 4, NULL, reenter, NULL},
    {1, 5, odd_verdict, odd_verdict, odd_verdict},
    {1, 6, NULL, local_reason, NULL},
    {2, 1, NULL, NULL, NULL},
};

/* Copy src into a new buffer with a correct CRC after each message. */
static uint8_t* with_crcs(const uint8_t* src, size_t n, size_t* out_len) {
    uint8_t* out = (uint8_t*)malloc(n + 2 * (n / 8 + 1));
    size_t i = 0, o = 0;
    if (!out) abort();
    while (i < n) {
        size_t len = n - i >= 8 ? 8u + src[i + 7] : n - i;
        uint16_t crc;
        if (len > n - i) len = n - i;
        memcpy(out + o, src + i, len);
        crc = crc_xmodem(out + o, len);
        o += len;
        i += len;
        out[o++] = (uint8_t)(crc & 0xFFu);
        out[o++] = (uint8_t)(crc >> 8);
    }
    *out_len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    size_t rn, n;
    const uint8_t* stream;
    uint32_t lcg = mode * 2654435761u + 1;
    uint8_t *fixed_reentry = NULL, *fixed_stream = NULL;
    fuzz_clock_start();
    reentry = fuzz_bytes(&in, fuzz_u8(&in), &rn);
    reentry_len = rn;
    stream = fuzz_bytes(&in, in.n, &n);
    if (mode & 4) {
        fixed_reentry = with_crcs(reentry, rn, &reentry_len);
        reentry = fixed_reentry;
        stream = fixed_stream = with_crcs(stream, n, &n);
    }
    feeds = 0;
    hil_target_init(&target, cases, sizeof cases / sizeof cases[0], check_sent, NULL);
    while (n) {
        size_t take = n;
        if ((mode & 3) == 1) take = 1;
        else if ((mode & 3) >= 2) {
            lcg = lcg * 1103515245u + 12345u;
            take = 1 + (lcg >> 16) % ((mode & 3) == 2 ? 16u : 600u);
            if (take > n) take = n;
        }
        hil_target_input(&target, stream, take);
        FUZZ_CHECK(target.rx_len <= sizeof target.rx, "rx_len %zu after input", target.rx_len);
        stream += take;
        n -= take;
    }
    fuzz_clock_check(size, "hil_target_input");
    free(fixed_reentry);
    free(fixed_stream);
    return 0;
}
