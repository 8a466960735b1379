/* fuzz/fuzz_telnet.c - RFC 2217 / telnet input of the rfc2217 and ser2net
 * channels (hil_connectors.h): hil__rs_telnet_in takes telnet commands
 * (option negotiation, COM-PORT subnegotiations) out of what the server
 * sends, and hil__rs_negotiate queues our replies.
 *
 * Input: [mode][chunk][ops...]
 *   mode & 1: the ops are raw bytes from the server;
 *   otherwise each op is [kind][...]: data bytes (sent with IAC doubled,
 *   as the server does), WILL/WONT/DO/DONT + option, a subnegotiation
 *   (IAC SB ... IAC SE, IACs doubled), or a bare IAC + command (NOP, GA).
 * Properties (structured mode): the data that comes out is exactly the
 * data that went in, however the bytes are cut; always: every reply queued
 * is IAC + WILL/WONT/DO/DONT + option; we never agree to an option we do
 * not implement; there are never more replies than negotiations received
 * (no negotiation loops); no more data out than bytes in. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"

#include "fuzz_common.h"

static void build(fuzz_in* in, hil_strbuf* wire, hil_strbuf* want, size_t* negotiations) {
    while (in->n) {
        uint8_t kind = fuzz_u8(in);
        size_t n, i;
        const uint8_t* p;
        unsigned char b[3];
        switch (kind % 4) {
        case 0: /* data */
            p = fuzz_bytes(in, kind / 4u, &n);
            for (i = 0; i < n; i++) {
                hil_sb_putc(wire, (char)p[i]);
                if (p[i] == HIL__TN_IAC) hil_sb_putc(wire, (char)p[i]);
            }
            hil_sb_append(want, p, n);
            break;
        case 1: /* negotiation */
            b[0] = HIL__TN_IAC;
            b[1] = (unsigned char)(HIL__TN_WILL + (kind / 4u) % 4u);
            b[2] = fuzz_u8(in);
            hil_sb_append(wire, b, 3);
            (*negotiations)++;
            break;
        case 2: /* subnegotiation: COM-PORT answers mostly */
            b[0] = HIL__TN_IAC;
            b[1] = HIL__TN_SB;
            hil_sb_append(wire, b, 2);
            if (kind & 4) hil_sb_putc(wire, (char)HIL__TN_COMPORT);
            p = fuzz_bytes(in, kind / 8u, &n);
            for (i = 0; i < n; i++) {
                hil_sb_putc(wire, (char)p[i]);
                if (p[i] == HIL__TN_IAC) hil_sb_putc(wire, (char)p[i]);
            }
            b[0] = HIL__TN_IAC;
            b[1] = HIL__TN_SE;
            hil_sb_append(wire, b, 2);
            break;
        default: /* a command without an option: NOP (241) .. GA (249) */
            b[0] = HIL__TN_IAC;
            b[1] = (unsigned char)(241u + (kind / 4u) % 9u);
            hil_sb_append(wire, b, 2);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static hil__rs s;
    fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    size_t chunk = 1u + fuzz_u8(&in), negotiations = 0, off, i;
    hil_strbuf wire = {0, 0, 0, 0}, want = {0, 0, 0, 0}, got = {0, 0, 0, 0};
    memset(&s, 0, sizeof s);
    hil_mutex_init(&s.io.mu);
    hil_cond_init(&s.io.cv);
    s.telnet = 1;
    if (mode & 1) {
        hil_sb_append(&wire, in.p, in.n);
        for (i = 0; i + 1 < in.n; i++)
            if (in.p[i] == HIL__TN_IAC && in.p[i + 1] >= HIL__TN_WILL && in.p[i + 1] <= HIL__TN_DONT) negotiations++;
    } else {
        build(&in, &wire, &want, &negotiations);
    }
    fuzz_clock_start();
    for (off = 0; off < wire.len;) {
        size_t n = wire.len - off < chunk ? wire.len - off : chunk, k;
        unsigned char* buf = (unsigned char*)malloc(n);
        if (!buf) abort();
        memcpy(buf, wire.data + off, n);
        k = hil__rs_telnet_in(&s, buf, n);
        FUZZ_CHECK(k <= n, "%zu data bytes out of %zu", k, n);
        hil_sb_append(&got, buf, k);
        free(buf);
        off += n;
    }
    if (!(mode & 1))
        FUZZ_CHECK(got.len == want.len && (!got.len || memcmp(got.data, want.data, got.len) == 0),
                   "data: %zu bytes sent, %zu came out (or different bytes)", want.len, got.len);
    FUZZ_CHECK(s.ctl.len % 3 == 0, "replies of %zu bytes", s.ctl.len);
    FUZZ_CHECK(s.ctl.len / 3 <= negotiations, "%zu replies to %zu negotiations", s.ctl.len / 3, negotiations);
    for (i = 0; i < s.ctl.len; i += 3) {
        const unsigned char* r = (const unsigned char*)s.ctl.data + i;
        FUZZ_CHECK(r[0] == HIL__TN_IAC && r[1] >= HIL__TN_WILL && r[1] <= HIL__TN_DONT, "a malformed reply");
    }
    for (i = 0; i < 256; i++) {
        FUZZ_CHECK(!s.us[i] || i == HIL__TN_BINARY || i == HIL__TN_SGA || i == HIL__TN_COMPORT, "we do option %zu", i);
        FUZZ_CHECK(!s.him[i] || i == HIL__TN_BINARY || i == HIL__TN_SGA || i == HIL__TN_ECHO, "the server does %zu", i);
    }
    FUZZ_CHECK(s.sb_len <= sizeof s.sb, "subnegotiation of %zu bytes", s.sb_len);
    hil_sb_free(&s.ctl);
    hil_cond_destroy(&s.io.cv);
    hil_mutex_destroy(&s.io.mu);
    hil_sb_free(&wire);
    hil_sb_free(&want);
    hil_sb_free(&got);
    fuzz_clock_check(size, "telnet input");
    return 0;
}
