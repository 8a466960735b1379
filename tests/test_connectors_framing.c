/* Framing: known encodings, seeded fuzzing with random splits and corrupt
 * input for every framer, and the glue in hil_channel_send/recv over a
 * real pipe (a stream channel type defined here, as user code would). */
#include "selftest.h"
#include <fcntl.h>

HIL_SUITE(framing, "tags=connectors")

/* A string literal and its length (literals here hold NUL bytes). */
#define W(lit) lit, sizeof(lit) - 1

/* A small deterministic generator (xorshift64*), so failures replay. */
static uint64_t fz_state;
static void fz_seed(uint64_t s) { fz_state = s ? s : 0x9E3779B97F4A7C15ull; }
static uint32_t fz_next(void) {
    fz_state ^= fz_state >> 12;
    fz_state ^= fz_state << 25;
    fz_state ^= fz_state >> 27;
    return (uint32_t)((fz_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static uint32_t fz_below(uint32_t n) { return n ? fz_next() % n : 0; }

static void encode_ok(const hil_framing* f, const void* data, size_t len, hil_strbuf* out) {
    HIL_ASSERT_OK(hil_frame_encode(f, data, len, out));
}

HIL_TEST(framing, cobs_encodes_the_reference_vectors) {
    static const struct { const char* in; size_t n; const char* out; size_t on; } v[] = {
        {"", 0, "\x01\x00", 2},
        {"\x00", 1, "\x01\x01\x00", 3},
        {"\x00\x00", 2, "\x01\x01\x01\x00", 4},
        {"\x11\x22\x00\x33", 4, "\x03\x11\x22\x02\x33\x00", 6},
        {"\x11\x22\x33\x44", 4, "\x05\x11\x22\x33\x44\x00", 6},
        {"\x11\x00\x00\x00", 4, "\x02\x11\x01\x01\x01\x00", 6},
    };
    hil_framing f;
    size_t i;
    hil_framing_init(&f, HIL_FRAMING_COBS);
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        hil_strbuf sb = {0, 0, 0, 0};
        encode_ok(&f, v[i].in, v[i].n, &sb);
        HIL_EXPECT_EQ(sb.len, v[i].on, "vector %zu", i);
        if (sb.len == v[i].on) HIL_EXPECT_MEMEQ(sb.data, v[i].out, v[i].on, "vector %zu", i);
        hil_sb_free(&sb);
    }
    {
        /* 254 non-zero bytes fill one block exactly: FF, the bytes, 00 */
        unsigned char in[254];
        hil_strbuf sb = {0, 0, 0, 0};
        for (i = 0; i < sizeof in; i++) in[i] = (unsigned char)(i + 1 > 255 ? 1 : i + 1);
        encode_ok(&f, in, sizeof in, &sb);
        HIL_ASSERT_EQ(sb.len, 256);
        HIL_EXPECT_EQ((unsigned char)sb.data[0], 0xFF);
        HIL_EXPECT_EQ((unsigned char)sb.data[255], 0x00);
        hil_sb_free(&sb);
    }
}

HIL_TEST(framing, slip_length_and_line_encodings) {
    hil_framing f;
    hil_strbuf sb = {0, 0, 0, 0};
    hil_framing_init(&f, HIL_FRAMING_SLIP);
    encode_ok(&f, "\xC0\x01\xDB", 3, &sb);
    HIL_EXPECT_EQ(sb.len, 7);
    HIL_EXPECT_MEMEQ(sb.data, "\xC0\xDB\xDC\x01\xDB\xDD\xC0", 7, "leading END, escapes, END");
    hil_sb_clear(&sb);
    f.leading_delimiter = 0;
    encode_ok(&f, "A", 1, &sb);
    HIL_EXPECT_MEMEQ(sb.data, "A\xC0", 2);
    hil_sb_clear(&sb);

    hil_framing_init(&f, HIL_FRAMING_LENGTH);
    encode_ok(&f, "abc", 3, &sb);
    HIL_EXPECT_MEMEQ(sb.data, "\x00\x03" "abc", 5, "2 bytes big endian by default");
    hil_sb_clear(&sb);
    f.length_bytes = 4;
    f.length_big_endian = 0;
    encode_ok(&f, "abc", 3, &sb);
    HIL_EXPECT_MEMEQ(sb.data, "\x03\x00\x00\x00" "abc", 7);
    hil_sb_clear(&sb);
    f.length_bytes = 1;
    {
        char big[256];
        memset(big, 'x', sizeof big);
        HIL_EXPECT_EQ(hil_frame_encode(&f, big, sizeof big, &sb), HIL_ERR_INVALID_ARG);
        HIL_EXPECT(strstr(hil_last_error(), "256 bytes do not fit a 1-byte length prefix"), "%s", hil_last_error());
    }
    hil_sb_clear(&sb);

    hil_framing_init(&f, HIL_FRAMING_LINE);
    HIL_ASSERT_OK(hil_framing_set_terminator(&f, "\\r\\n"));
    HIL_EXPECT_EQ(f.terminator_len, 2);
    encode_ok(&f, "AT", 2, &sb);
    HIL_EXPECT_MEMEQ(sb.data, "AT\r\n", 4);
    HIL_EXPECT_EQ(hil_frame_encode(&f, "A\r\nT", 4, &sb), HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "contains the line terminator"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_framing_set_terminator(&f, "\\q"), HIL_ERR_INVALID_ARG);
    HIL_EXPECT_EQ(hil_framing_set_terminator(&f, ""), HIL_ERR_INVALID_ARG);
    HIL_ASSERT_OK(hil_framing_set_terminator(&f, "\\x03"));
    HIL_EXPECT_EQ(f.terminator[0], 3);
    hil_sb_free(&sb);
    {
        hil_framing_kind k;
        HIL_ASSERT_OK(hil_framing_parse("slip", &k));
        HIL_EXPECT_EQ(k, HIL_FRAMING_SLIP);
        HIL_EXPECT_EQ(hil_framing_parse("hdlc", &k), HIL_ERR_INVALID_ARG);
        HIL_EXPECT(strstr(hil_last_error(), "raw|line|cobs|slip|length"), "%s", hil_last_error());
        HIL_EXPECT_STREQ(hil_framing_name(HIL_FRAMING_LENGTH), "length");
    }
}

/* The framings the fuzz tests go through. */
static void fuzz_framings(hil_framing* fs, size_t* n) {
    size_t k = 0;
    hil_framing_init(&fs[k++], HIL_FRAMING_LINE);
    hil_framing_init(&fs[k], HIL_FRAMING_LINE);
    hil_framing_set_terminator(&fs[k++], "\\r\\n");
    hil_framing_init(&fs[k], HIL_FRAMING_LINE);
    hil_framing_set_terminator(&fs[k++], "END");
    hil_framing_init(&fs[k++], HIL_FRAMING_COBS);
    hil_framing_init(&fs[k], HIL_FRAMING_COBS);
    fs[k++].leading_delimiter = 1;
    hil_framing_init(&fs[k++], HIL_FRAMING_SLIP);
    hil_framing_init(&fs[k], HIL_FRAMING_SLIP);
    fs[k++].leading_delimiter = 0;
    hil_framing_init(&fs[k], HIL_FRAMING_LENGTH);
    fs[k].length_bytes = 1;
    fs[k++].max_frame = 255;
    hil_framing_init(&fs[k++], HIL_FRAMING_LENGTH);
    hil_framing_init(&fs[k], HIL_FRAMING_LENGTH);
    fs[k].length_bytes = 4;
    fs[k++].length_big_endian = 0;
    *n = k;
}

/* A random message the framing can carry: bytes the framers treat
 * specially show up often. */
static size_t fuzz_message(const hil_framing* f, unsigned char* buf, size_t cap) {
    static const unsigned char special[] = {0x00, 0xC0, 0xDB, 0xDC, 0xDD, 0xFF, '\r', '\n', 'E', 'N', 'D'};
    size_t len = fz_below(8) == 0 ? fz_below((uint32_t)cap + 1) : fz_below(40), i;
    if (len > cap) len = cap;
    if (f->kind == HIL_FRAMING_SLIP && len == 0) len = 1; /* SLIP cannot carry an empty frame */
    for (i = 0; i < len; i++) {
        buf[i] = fz_below(4) == 0 ? special[fz_below(sizeof special)] : (unsigned char)fz_below(256);
        /* a line cannot hold its terminator: without its last byte it cannot */
        if (f->kind == HIL_FRAMING_LINE && buf[i] == f->terminator[f->terminator_len - 1]) buf[i] = 'x';
    }
    return len;
}

/* Push `wire` into d in random pieces; collect every frame into out
 * (each as 4-byte length + bytes). */
static void push_in_pieces(hil_deframer* d, const unsigned char* wire, size_t n, hil_strbuf* out, size_t* frames) {
    size_t pos = 0;
    while (pos < n) {
        size_t piece = 1 + fz_below(fz_below(4) == 0 ? 600 : 17);
        const void* fr;
        size_t fl;
        uint32_t l32;
        if (piece > n - pos) piece = n - pos;
        HIL_ASSERT_OK(hil_deframer_push(d, wire + pos, piece));
        pos += piece;
        while (hil_deframer_next(d, &fr, &fl)) {
            l32 = (uint32_t)fl;
            hil_sb_append(out, &l32, 4);
            hil_sb_append(out, fr, fl);
            (*frames)++;
        }
        /* after next() said no, only a partial frame may stay: bounded */
        HIL_ASSERT_LE(hil_deframer_buffered(d), d->f.max_frame + 8 + 4);
    }
}

HIL_TEST(framing, every_framer_survives_random_splits) {
    hil_framing fs[16];
    size_t nf, k;
    fuzz_framings(fs, &nf);
    for (k = 0; k < nf; k++) {
        int round;
        for (round = 0; round < 20; round++) {
            hil_strbuf wire = {0, 0, 0, 0}, want = {0, 0, 0, 0}, got = {0, 0, 0, 0};
            hil_deframer d;
            size_t i, nmsg = 1 + fz_below(60), frames = 0;
            fz_seed(1000u * (k + 1) + (uint64_t)round);
            for (i = 0; i < nmsg; i++) {
                unsigned char msg[600];
                size_t len = fuzz_message(&fs[k], msg, fs[k].max_frame < sizeof msg ? fs[k].max_frame : sizeof msg);
                uint32_t l32 = (uint32_t)len;
                encode_ok(&fs[k], msg, len, &wire);
                hil_sb_append(&want, &l32, 4);
                hil_sb_append(&want, msg, len);
            }
            HIL_ASSERT_OK(hil_deframer_init(&d, &fs[k]));
            push_in_pieces(&d, (const unsigned char*)wire.data, wire.len, &got, &frames);
            HIL_EXPECT_EQ(frames, nmsg, "%s framing, round %d", hil_framing_name(fs[k].kind), round);
            HIL_EXPECT_EQ(got.len, want.len, "%s framing, round %d", hil_framing_name(fs[k].kind), round);
            if (got.len == want.len)
                HIL_EXPECT_MEMEQ(got.data, want.data, want.len, "%s framing (framer %zu), round %d",
                                 hil_framing_name(fs[k].kind), k, round);
            HIL_EXPECT_EQ(d.frame_errors, 0);
            HIL_EXPECT_EQ(d.oversize, 0);
            HIL_EXPECT_EQ(hil_deframer_buffered(&d), 0, "nothing left over");
            hil_deframer_free(&d);
            hil_sb_free(&wire);
            hil_sb_free(&want);
            hil_sb_free(&got);
        }
    }
}

/* Whether the frames in `want` (length-prefixed records) appear in `got`
 * in order, others in between allowed. */
static int is_subsequence(const hil_strbuf* want, const hil_strbuf* got, size_t* found) {
    size_t w = 0, g = 0;
    *found = 0;
    while (w < want->len) {
        uint32_t wl;
        int hit = 0;
        memcpy(&wl, want->data + w, 4);
        while (g < got->len) {
            uint32_t gl;
            memcpy(&gl, got->data + g, 4);
            g += 4 + gl;
            if (gl == wl && memcmp(got->data + g - gl, want->data + w + 4, wl) == 0) { hit = 1; break; }
        }
        if (!hit) return 0;
        (*found)++;
        w += 4 + wl;
    }
    return 1;
}

HIL_TEST(framing, garbage_between_frames_is_skipped_and_counted) {
    /* With a delimiter before each frame (COBS, SLIP) and for lines, noise
     * on the line can only cost the noise itself: every real frame gets
     * through, in order, and the decoder stays bounded. */
    hil_framing fs[4];
    size_t k;
    hil_framing_init(&fs[0], HIL_FRAMING_COBS);
    fs[0].leading_delimiter = 1;
    fs[0].max_frame = 300;
    hil_framing_init(&fs[1], HIL_FRAMING_SLIP);
    fs[1].max_frame = 300;
    hil_framing_init(&fs[2], HIL_FRAMING_LINE);
    fs[2].max_frame = 300;
    hil_framing_init(&fs[3], HIL_FRAMING_LINE);
    hil_framing_set_terminator(&fs[3], "\\r\\n");
    fs[3].max_frame = 300;
    for (k = 0; k < 4; k++) {
        int round;
        uint64_t errors = 0, oversize = 0;
        for (round = 0; round < 30; round++) {
            hil_strbuf wire = {0, 0, 0, 0}, want = {0, 0, 0, 0}, got = {0, 0, 0, 0};
            hil_deframer d;
            size_t i, nmsg = 1 + fz_below(40), frames = 0, found = 0;
            fz_seed(77u * (k + 1) + (uint64_t)round);
            for (i = 0; i < nmsg; i++) {
                unsigned char msg[300];
                size_t len = fuzz_message(&fs[k], msg, sizeof msg);
                uint32_t l32 = (uint32_t)len;
                if (fz_below(3) == 0) {
                    /* noise: random bytes, sometimes long enough to be oversize */
                    size_t g = fz_below(4) == 0 ? 400 + fz_below(200) : 1 + fz_below(30), j;
                    for (j = 0; j < g; j++) hil_sb_putc(&wire, (char)fz_below(256));
                    if (fs[k].kind == HIL_FRAMING_LINE) /* a line ends the noise; other framers have their delimiter */
                        hil_sb_append(&wire, fs[k].terminator, fs[k].terminator_len);
                }
                if (fs[k].kind == HIL_FRAMING_SLIP && len == 0) continue;
                encode_ok(&fs[k], msg, len, &wire);
                hil_sb_append(&want, &l32, 4);
                hil_sb_append(&want, msg, len);
            }
            HIL_ASSERT_OK(hil_deframer_init(&d, &fs[k]));
            push_in_pieces(&d, (const unsigned char*)wire.data, wire.len, &got, &frames);
            HIL_EXPECT(is_subsequence(&want, &got, &found), "%s framing (framer %zu), round %d: %zu real frames found",
                       hil_framing_name(fs[k].kind), k, round, found);
            errors += d.frame_errors;
            oversize += d.oversize;
            hil_deframer_free(&d);
            hil_sb_free(&wire);
            hil_sb_free(&want);
            hil_sb_free(&got);
        }
        HIL_EXPECT_GT(oversize, 0, "%s: long noise counted as oversize", hil_framing_name(fs[k].kind));
        if (fs[k].kind != HIL_FRAMING_LINE)
            HIL_EXPECT_GT(errors, 0, "%s: corrupt frames counted", hil_framing_name(fs[k].kind));
    }
}

/* Feed bytes, expect the frames listed (NULL-terminated, strings). */
static void expect_frames(const hil_framing* f, const void* wire, size_t n, const char* const* want, uint64_t errors,
                          uint64_t oversize) {
    hil_deframer d;
    const void* fr;
    size_t fl, i = 0;
    HIL_ASSERT_OK(hil_deframer_init(&d, f));
    HIL_ASSERT_OK(hil_deframer_push(&d, wire, n));
    while (hil_deframer_next(&d, &fr, &fl)) {
        HIL_EXPECT(want[i] != NULL, "an extra frame of %zu bytes", fl);
        if (!want[i]) break;
        HIL_EXPECT_EQ(fl, strlen(want[i]), "frame %zu", i);
        if (fl == strlen(want[i])) HIL_EXPECT_MEMEQ(fr, want[i], fl, "frame %zu", i);
        i++;
    }
    HIL_EXPECT(want[i] == NULL, "frame %zu ('%s') missing", i, want[i] ? want[i] : "");
    HIL_EXPECT_EQ(d.frame_errors, errors, "%s frame errors", hil_framing_name(f->kind));
    HIL_EXPECT_EQ(d.oversize, oversize, "%s oversize", hil_framing_name(f->kind));
    hil_deframer_free(&d);
}

HIL_TEST(framing, corrupt_and_oversize_frames_resynchronise) {
    hil_framing f;
    {
        const char* want[] = {"ok", NULL};
        hil_framing_init(&f, HIL_FRAMING_COBS);
        /* a block says 4 more bytes, the frame ends after 2: corrupt */
        expect_frames(&f, W("\x05" "ab" "\x00" "\x03ok\x00"), want, 1, 0);
    }
    {
        const char* want[] = {"ok", NULL};
        hil_framing_init(&f, HIL_FRAMING_SLIP);
        expect_frames(&f, W("\xDB" "A" "xx\xC0" "ok\xC0"), want, 1, 0);  /* bad escape */
        expect_frames(&f, W("\xDB\xC0" "ok\xC0"), want, 1, 0);           /* ESC END */
    }
    {
        const char* want[] = {"short", "fits", NULL};
        const char* want_len[] = {"short", "", "fits", NULL};
        hil_framing_init(&f, HIL_FRAMING_COBS);
        f.max_frame = 8;
        expect_frames(&f, W("\x06short\x00\x0e" "0123456789abc\x00\x05" "fits\x00"), want, 0, 1);
        hil_framing_init(&f, HIL_FRAMING_SLIP);
        f.max_frame = 8;
        expect_frames(&f, W("short\xC0" "0123456789\xC0" "fits\xC0"), want, 0, 1);
        hil_framing_init(&f, HIL_FRAMING_LINE);
        f.max_frame = 8;
        expect_frames(&f, W("short\n0123456789\nfits\n"), want, 0, 1);
        hil_framing_set_terminator(&f, "\\r\\n");
        expect_frames(&f, W("short\r\n0123456789\r\nfits\r\n"), want, 0, 1);
        /* a line of exactly max_frame bytes is fine */
        {
            const char* exact[] = {"01234567", NULL};
            expect_frames(&f, W("01234567\r\n"), exact, 0, 0);
        }
        hil_framing_init(&f, HIL_FRAMING_LENGTH);
        f.max_frame = 8;
        /* the oversize frame is skipped as declared; empty frames are frames */
        expect_frames(&f, W("\x00\x05short\x00\x0a" "0123456789\x00\x00\x00\x04" "fits"), want_len, 0, 1);
    }
    {
        /* CR alone inside a CRLF line is data */
        const char* want[] = {"a\rb", "c", NULL};
        hil_framing_init(&f, HIL_FRAMING_LINE);
        hil_framing_set_terminator(&f, "\\r\\n");
        expect_frames(&f, W("a\rb\r\nc\r\n"), want, 0, 0);
    }
}

HIL_TEST(framing, an_oversize_line_ending_across_pushes_is_found) {
    hil_framing f;
    hil_deframer d;
    const void* fr;
    size_t fl;
    hil_framing_init(&f, HIL_FRAMING_LINE);
    HIL_ASSERT_OK(hil_framing_set_terminator(&f, "<END>"));
    f.max_frame = 4;
    HIL_ASSERT_OK(hil_deframer_init(&d, &f));
    HIL_ASSERT_OK(hil_deframer_push(&d, "this is far too long<E", 22));
    HIL_EXPECT_EQ(hil_deframer_next(&d, &fr, &fl), 0);
    HIL_ASSERT_OK(hil_deframer_push(&d, "N", 1));
    HIL_EXPECT_EQ(hil_deframer_next(&d, &fr, &fl), 0);
    HIL_ASSERT_OK(hil_deframer_push(&d, "D>ok<END>", 9));
    HIL_ASSERT_EQ(hil_deframer_next(&d, &fr, &fl), 1);
    HIL_EXPECT_EQ(fl, 2);
    HIL_EXPECT_MEMEQ(fr, "ok", 2);
    HIL_EXPECT_EQ(d.oversize, 1);
    hil_deframer_free(&d);
}

/* ---- the glue in hil_channel_send/recv, over a pipe -------------------------------- */

/* A stream type over a pipe: what is sent comes back. The test also
 * writes raw bytes into the pipe, as a device would. */
typedef struct pipe_state { int fd[2]; } pipe_state;
static hil_result pipe_open(hil_channel* ch) {
    pipe_state* s = (pipe_state*)hil_channel_state(ch);
    if (pipe(s->fd) != 0) return hil_channel_error(ch, HIL_ERR_IO, "pipe: %s", strerror(errno));
    fcntl(s->fd[0], F_SETFL, O_NONBLOCK);
    return HIL_OK;
}
static void pipe_close(hil_channel* ch) {
    pipe_state* s = (pipe_state*)hil_channel_state(ch);
    close(s->fd[0]);
    close(s->fd[1]);
}
static hil_result pipe_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    pipe_state* s = (pipe_state*)hil_channel_state(ch);
    (void)timeout_ms;
    return hil_write_all(s->fd[1], m->data, m->len);
}
static hil_result pipe_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    pipe_state* s = (pipe_state*)hil_channel_state(ch);
    ssize_t n;
    if (hil_wait_readable(s->fd[0], timeout_ms) != HIL_OK) return timeout_ms == 0 ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
    n = read(s->fd[0], m->data, m->cap);
    if (n < 0) return errno == EAGAIN ? HIL_ERR_AGAIN : HIL_ERR_IO;
    if (n == 0) return HIL_ERR_CLOSED;
    m->len = (size_t)n;
    return HIL_OK;
}
static int pipe_poll_fd(hil_channel* ch) { return ((pipe_state*)hil_channel_state(ch))->fd[0]; }
static const hil_channel_type pipe_type = {
    "test_pipe", "a pipe back to itself (stream)", 1, sizeof(pipe_state), NULL, NULL,
    pipe_open, pipe_close, pipe_send, pipe_recv, pipe_poll_fd, NULL};
HIL_CHANNEL_TYPE(pipe_type)

static hil_channel* make_pipe(const char* const* opts) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = "p";
    c.type = "test_pipe";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    return ch;
}

HIL_TEST(framing, channel_recv_returns_whole_frames_and_again_for_partial_ones) {
    const char* opts[] = {"framing=cobs", "max_frame=16", NULL};
    hil_channel* ch = make_pipe(opts);
    pipe_state* s = (pipe_state*)hil_channel_state(ch);
    char buf[64];
    hil_msg m;
    hil_channel_stats st;
    HIL_ASSERT(hil_channel_framing(ch) && hil_channel_framing(ch)->kind == HIL_FRAMING_COBS);
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "a\0b", 3, 100));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    HIL_ASSERT_EQ(m.len, 3);
    HIL_EXPECT_MEMEQ(buf, "a\0b", 3);
    HIL_EXPECT(m.timestamp_ns > 0);

    /* half a frame: AGAIN at timeout 0, TIMEOUT with a timeout */
    HIL_ASSERT_OK(hil_write_all(s->fd[1], "\x03hi", 3));
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 0), HIL_ERR_AGAIN);
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 20), HIL_ERR_TIMEOUT);
    /* the rest, then garbage, an oversize frame and two good frames in one write */
    HIL_ASSERT_OK(hil_write_all(s->fd[1], W("\x00" "\x05xx\x00" "\x14" "0123456789012345678\x00" "\x02" "1\x00\x02" "2\x00")));
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    HIL_EXPECT_EQ(m.len, 2);
    HIL_EXPECT_MEMEQ(buf, "hi", 2);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    HIL_EXPECT_MEMEQ(buf, "1", m.len);
    {
        /* the second frame is buffered: the descriptor says nothing, wait() still sees it */
        hil_channel* one[1];
        size_t idx = 9;
        one[0] = ch;
        HIL_ASSERT_OK(hil_channel_wait(one, 1, NULL, 0, &idx));
        HIL_EXPECT_EQ(idx, 0);
    }
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 0));
    HIL_EXPECT_MEMEQ(buf, "2", m.len);
    hil_channel_get_stats(ch, &st);
    HIL_EXPECT_EQ(st.frame_errors, 1);
    HIL_EXPECT_EQ(st.oversize, 1);
    HIL_EXPECT_EQ(st.rx_msgs, 4);
    HIL_EXPECT_EQ(st.tx_msgs, 1);

    /* a frame bigger than the receive buffer is cut and flagged */
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "0123456789", 10, 100));
    hil_msg_init(&m, buf, 4);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    HIL_EXPECT_EQ(m.len, 4);
    HIL_EXPECT(m.flags & HIL_MSG_TRUNCATED);

    /* flush_input drops a partial frame */
    HIL_ASSERT_OK(hil_write_all(s->fd[1], "\x05" "abc", 4));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 0), HIL_ERR_AGAIN);
    hil_channel_flush_input(ch);
    HIL_ASSERT_OK(hil_write_all(s->fd[1], "\x03ok\x00", 4));
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    HIL_EXPECT_EQ(m.len, 2);
    HIL_EXPECT_MEMEQ(buf, "ok", 2);
    hil_channel_destroy(ch);
}

HIL_TEST(framing, line_and_raw_channels) {
    const char* lines[] = {"framing=line", "line_terminator=\\r\\n", NULL};
    const char* raw[] = {"max_frame=4", NULL};
    hil_channel* ch = make_pipe(lines);
    char buf[64];
    hil_msg m;
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "AT+GMR", 6, 100));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    HIL_ASSERT_EQ(m.len, 6);
    HIL_EXPECT_MEMEQ(buf, "AT+GMR", 6);
    HIL_EXPECT_EQ(hil_channel_send_bytes(ch, "A\r\nB", 4, 100), HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "test_pipe 'p': line framing: the message contains the line terminator"),
               "%s", hil_last_error());
    hil_channel_destroy(ch);

    ch = make_pipe(raw);
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "abcdefg", 7, 100));
    hil_msg_init(&m, buf, sizeof buf);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    HIL_EXPECT_EQ(m.len, 4, "raw: at most max_frame per message");
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 100));
    HIL_EXPECT_EQ(m.len, 3);
    HIL_EXPECT_MEMEQ(buf, "efg", 3);
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 0), HIL_ERR_AGAIN);
    hil_channel_destroy(ch);
}

HIL_TEST(framing, bad_framing_options_are_rejected_at_create) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    const char* bad[] = {"framing=hdlc", "length_bytes=3", NULL};
    const char* term[] = {"framing=line", "line_terminator=", NULL};
    const char* maxf[] = {"max_frame=0", NULL};
    const char* on_packets[] = {"framing=cobs", NULL};
    hil_channel_config_init(&c);
    c.name = "p";
    c.type = "test_pipe";
    c.options = bad;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option framing: 'hdlc' is not allowed; expected one of raw|line|cobs|slip|length"),
               "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "option length_bytes: '3' is not allowed; expected one of 1|2|4"), "%s",
               hil_last_error());
    c.options = term;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option line_terminator"), "%s", hil_last_error());
    c.options = maxf;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option max_frame: must be 1.."), "%s", hil_last_error());
    c.type = "loopback";
    c.options = on_packets;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "framing options apply to byte-stream types only"), "%s", hil_last_error());
}
