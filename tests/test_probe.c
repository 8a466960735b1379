/* hil_probe.h without a real GDB server: the RSP codec (checksums,
 * escapes, run-length), stop replies, memory maps, Intel HEX, the ELF
 * reader (on the cross-compiled firmware and a host program, checked
 * against nm), the RTT parsers, and the client against small scripted
 * servers in a thread: acks and a resent packet, run-length replies, an
 * error reply, and every way a server can fail (none there, silent or
 * busy, garbage, closing). The tests against QEMU's stub and gdbserver
 * are in test_probe_mcu.c (make test-mcu). */
#include "selftest.h"
#include <pthread.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>

HIL_SUITE(probe, "tags=probe")

/* ---- the codec ---- */

HIL_TEST(probe, encode_escapes_and_checksums) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_rsp_encode("?", 1, &sb);
    HIL_EXPECT_STREQ(hil_sb_cstr(&sb), "$?#3f");
    hil_sb_clear(&sb);
    hil_rsp_encode("X0,4:#$}*", 9, &sb);
    /* each special byte becomes '}' and the byte xor 0x20; the checksum covers the escaped bytes */
    HIL_EXPECT_STREQ(hil_sb_cstr(&sb), "$X0,4:}\x03}\x04}]}\x0a#84");
    hil_sb_free(&sb);
}

HIL_TEST(probe, decode_checks_the_checksum_and_expands_run_lengths) {
    hil_strbuf out = {0, 0, 0, 0};
    size_t used = 0;
    const char* rle = "$0* #" ; /* '0', then ' ' (32 - 29 = 3) more: "0000" */
    char pkt[64];
    unsigned sum = '0' + '*' + ' ';
    snprintf(pkt, sizeof pkt, "%s%02x+", rle, sum & 0xffu);
    HIL_ASSERT_OK(hil_rsp_decode(pkt, strlen(pkt), 1024, &out, &used));
    HIL_EXPECT_STREQ(hil_sb_cstr(&out), "0000");
    HIL_EXPECT_EQ(used, strlen(pkt) - 1);
    HIL_EXPECT_EQ(hil_rsp_decode("$OK#9a", 6, 1024, &out, &used), HIL_OK);
    HIL_EXPECT_STREQ(hil_sb_cstr(&out), "OK");
    HIL_EXPECT_EQ(hil_rsp_decode("$OK#9b", 6, 1024, &out, &used), HIL_ERR_CHECKSUM);
    HIL_EXPECT_EQ(used, 6);
    HIL_EXPECT_EQ(hil_rsp_decode("$OK#9", 5, 1024, &out, &used), HIL_ERR_AGAIN);
    HIL_EXPECT_EQ(hil_rsp_decode("$O", 2, 1024, &out, &used), HIL_ERR_AGAIN);
    HIL_EXPECT_EQ(hil_rsp_decode("$OK#zz", 6, 1024, &out, &used), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_rsp_decode("$*!#4b", 6, 1024, &out, &used), HIL_ERR_PROTOCOL); /* nothing to repeat */
    /* a run that would pass the bound is refused, not allocated */
    HIL_EXPECT_EQ(hil_rsp_decode("$0*~#d8", 7, 16, &out, &used), HIL_ERR_OVERFLOW);
    hil_sb_free(&out);
}

HIL_TEST(probe, escaped_binary_round_trips) {
    unsigned char data[256];
    hil_strbuf wire = {0, 0, 0, 0}, out = {0, 0, 0, 0};
    size_t used, i, n;
    for (i = 0; i < 256; i++) data[i] = (unsigned char)i;
    hil_rsp_encode(data, sizeof data, &wire);
    HIL_ASSERT_OK(hil_rsp_decode(wire.data, wire.len, 4096, &out, &used));
    n = hil_rsp_unescape(out.data, out.len);
    HIL_ASSERT_EQ(n, 256);
    HIL_EXPECT_MEMEQ(out.data, data, 256);
    hil_sb_free(&wire);
    hil_sb_free(&out);
}

HIL_TEST(probe, crc32_is_gdbs) {
    /* CRC-32/MPEG-2, what gdb's qCRC and gdbserver compute */
    HIL_EXPECT_EQ(hil_rsp_crc32(0xFFFFFFFFu, "123456789", 9), 0x0376E6E7u);
}

HIL_TEST(probe, stop_replies) {
    hil_rsp_stop st;
    const char* t = "T05swbreak:;thread:p1a.1b;0f:78563412;core:0;";
    HIL_ASSERT_OK(hil_rsp_parse_stop(t, strlen(t), &st));
    HIL_EXPECT_EQ(st.kind, 'T');
    HIL_EXPECT_EQ(st.signal, 5);
    HIL_EXPECT_STREQ(st.reason, "swbreak");
    HIL_EXPECT_EQ(st.thread, 0x1b);
    HIL_ASSERT_EQ(st.n_regs, 1);
    HIL_EXPECT_EQ(st.regs[0].num, 15);
    HIL_EXPECT_EQ(st.regs[0].value, 0x12345678u);
    t = "T05watch:20000010;";
    HIL_ASSERT_OK(hil_rsp_parse_stop(t, strlen(t), &st));
    HIL_EXPECT_STREQ(st.reason, "watch");
    HIL_EXPECT_EQ(st.watch_addr, 0x20000010u);
    HIL_ASSERT_OK(hil_rsp_parse_stop("S02", 3, &st));
    HIL_EXPECT_EQ(st.signal, 2);
    HIL_ASSERT_OK(hil_rsp_parse_stop("W03", 3, &st));
    HIL_EXPECT_EQ(st.exit_status, 3);
    HIL_ASSERT_OK(hil_rsp_parse_stop("X09;process:1f", 14, &st));
    HIL_EXPECT_EQ(st.signal, 9);
    HIL_EXPECT_EQ(hil_rsp_parse_stop("OK", 2, &st), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_rsp_parse_stop("Tzz", 3, &st), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_rsp_parse_stop("T05thread", 9, &st), HIL_ERR_PROTOCOL);
}

HIL_TEST(probe, memory_maps) {
    static const char xml[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE memory-map PUBLIC \"+//IDN gnu.org//DTD GDB Memory Map V1.0//EN\" "
        "\"http://sourceware.org/gdb/gdb-memory-map.dtd\">\n<memory-map>\n"
        "<memory type=\"flash\" start=\"0x8000000\" length=\"0x100000\">\n"
        "  <property name=\"blocksize\">0x4000</property>\n</memory>\n"
        "<memory type=\"ram\" start=\"0x20000000\" length=\"0x20000\"/>\n</memory-map>\n";
    hil_mem_region r[4];
    size_t n = 0;
    HIL_ASSERT_OK(hil_rsp_parse_memory_map(xml, sizeof xml - 1, r, 4, &n));
    HIL_ASSERT_EQ(n, 2);
    HIL_EXPECT_EQ(r[0].type, 2);
    HIL_EXPECT_EQ(r[0].start, 0x8000000u);
    HIL_EXPECT_EQ(r[0].length, 0x100000u);
    HIL_EXPECT_EQ(r[0].blocksize, 0x4000u);
    HIL_EXPECT_EQ(r[1].type, 0);
    HIL_EXPECT_EQ(hil_rsp_parse_memory_map(xml, sizeof xml - 1, r, 1, &n), HIL_ERR_OVERFLOW);
    HIL_EXPECT_EQ(hil_rsp_parse_memory_map("<memory type=\"flash\" start=\"0\" length=\"16\"/>", 44, r, 4, &n),
                  HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "without a blocksize") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_rsp_parse_memory_map("<memory type=\"ram\" start=\"x\" length=\"16\"/>", 42, r, 4, &n),
                  HIL_ERR_PROTOCOL);
}

/* ---- images ---- */

HIL_TEST(probe, intel_hex) {
    /* extended linear address 0x0800, 4 bytes at 0x08000000 and 2 more right after, start 0x08000101 */
    static const char hex[] =
        ":020000040800F2\n:0400000001020304F2\n:02000400AABB95\n:0400000508000101ED\n:00000001FF\n";
    hil_image img;
    HIL_ASSERT_OK(hil_ihex_parse(hex, sizeof hex - 1, "t.hex", &img));
    HIL_ASSERT_EQ(img.n_blocks, 1);
    HIL_EXPECT_EQ(img.blocks[0].addr, 0x08000000u);
    HIL_ASSERT_EQ(img.blocks[0].len, 6);
    HIL_EXPECT_MEMEQ(img.blocks[0].data, "\x01\x02\x03\x04\xaa\xbb", 6);
    HIL_EXPECT(img.has_entry, "start address record");
    HIL_EXPECT_EQ(img.entry, 0x08000101u);
    hil_image_free(&img);
    HIL_EXPECT_EQ(hil_ihex_parse(":0400000001020304F3\n:00000001FF\n", 32, "bad.hex", &img), HIL_ERR_CHECKSUM);
    HIL_EXPECT(strstr(hil_last_error(), "bad.hex:1") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_ihex_parse(":0400000001020304F2\n", 20, "cut.hex", &img), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "no end-of-file record") != NULL, "%s", hil_last_error());
}

HIL_TEST(probe, raw_binary_at_an_address) {
    hil_image img;
    const char* path = st_path("fw.bin");
    HIL_ASSERT_OK(hil_write_file_atomic(path, "\x10\x20\x30", 3));
    HIL_ASSERT_OK(hil_image_load(path, 0x08004000u, &img));
    HIL_ASSERT_EQ(img.n_blocks, 1);
    HIL_EXPECT_EQ(img.blocks[0].addr, 0x08004000u);
    HIL_EXPECT_EQ(img.total, 3);
    HIL_EXPECT(!img.has_entry, "a raw image has no entry point");
    hil_image_free(&img);
    HIL_EXPECT_EQ(hil_image_load(st_path("missing.elf"), 0, &img), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "missing.elf") != NULL, "%s", hil_last_error());
}

/* nm's view of a symbol: its address, or -1. */
static long long nm_address(const char* nm, const char* elf, const char* sym) {
    const char* argv[] = {nm, elf, NULL};
    st_result r;
    char* line;
    long long addr = -1;
    st_run(argv, NULL, 30000, &r);
    HIL_ASSERT_EQ(r.code, 0, "%s %s: %s", nm, elf, r.out);
    for (line = r.out; line && *line;) {
        char name[128];
        unsigned long long a;
        char type;
        if (sscanf(line, "%llx %c %127s", &a, &type, name) == 3 && strcmp(name, sym) == 0) addr = (long long)a;
        line = strchr(line, '\n');
        if (line) line++;
    }
    st_result_free(&r);
    return addr;
}

HIL_TEST(probe, elf_of_the_cross_compiled_firmware) {
    char path[600];
    hil_elf* e;
    hil_image img;
    const hil_elf_symbol* s;
    static const char* const syms[] = {"g_counter", "g_variant", "_SEGGER_RTT", "main", "Reset_Handler"};
    size_t i;
    snprintf(path, sizeof path, "%s/probe/fw-probe-1.elf", st_build_dir());
    ST_SKIP_UNLESS_PROG("arm-none-eabi-gcc", "gcc-arm-none-eabi");
    if (access(path, R_OK) != 0) HIL_SKIP("%s is not built: run make (it builds the probe firmware)", path);
    HIL_ASSERT_OK(hil_elf_load(path, &e));
    HIL_EXPECT_EQ(e->is64, 0);
    HIL_EXPECT_EQ(e->machine, 40);
    HIL_EXPECT_STREQ(hil_elf_machine_str(e->machine), "ARM");
    for (i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        long long want = nm_address("arm-none-eabi-nm", path, syms[i]);
        s = hil_elf_symbol_find(e, syms[i]);
        HIL_ASSERT(s != NULL, "%s not found", syms[i]);
        /* nm shows a Thumb function without its bit 0; the file (and hil) keep it */
        HIL_EXPECT_EQ((long long)(s->type == 2 ? s->value & ~1ull : s->value), want, "%s", syms[i]);
    }
    s = hil_elf_symbol_find(e, "g_counter");
    HIL_EXPECT_EQ(s->size, 4);
    HIL_EXPECT_EQ(s->type, 1); /* STT_OBJECT */
    HIL_EXPECT_EQ(hil_elf_symbol_find(e, "main")->type, 2);
    HIL_EXPECT(hil_elf_symbol_find(e, "main")->value & 1, "a Thumb function has bit 0 set");
    HIL_EXPECT(hil_elf_symbol_find(e, "no_such_symbol") == NULL, "absent");
    HIL_EXPECT_EQ((long long)(e->entry & ~1ull), nm_address("arm-none-eabi-nm", path, "Reset_Handler"));
    /* .text at 0 and .data's initial values after it (its load address), no .bss */
    HIL_ASSERT_OK(hil_image_from_elf(e, &img));
    HIL_EXPECT_EQ(img.blocks[0].addr, 0);
    HIL_EXPECT(img.total > 256 && img.total < 4096, "%zu bytes", img.total);
    for (i = 0; i < img.n_blocks; i++) HIL_EXPECT(img.blocks[i].addr < 0x20000000u, "block at 0x%llx", (unsigned long long)img.blocks[i].addr);
    hil_image_free(&img);
    hil_elf_free(e);
}

HIL_TEST(probe, elf_of_a_64_bit_host_program) {
    char path[600];
    hil_elf* e;
    snprintf(path, sizeof path, "%s/probe/linux_target", st_build_dir());
    if (access(path, R_OK) != 0) HIL_SKIP("%s is not built: run make", path);
    ST_SKIP_UNLESS_PROG("nm", "binutils");
    HIL_ASSERT_OK(hil_elf_load(path, &e));
    HIL_EXPECT_EQ(e->is64, 1);
    HIL_EXPECT_EQ(e->machine, 62);
    HIL_ASSERT(hil_elf_symbol_find(e, "g_table") != NULL, "g_table");
    HIL_EXPECT_EQ((long long)hil_elf_symbol_find(e, "g_table")->value, nm_address("nm", path, "g_table"));
    HIL_EXPECT_EQ(hil_elf_symbol_find(e, "g_table")->size, 256);
    HIL_EXPECT(e->n_segments >= 2, "%zu PT_LOAD segments", e->n_segments);
    hil_elf_free(e);
}

HIL_TEST(probe, bad_elf_files_are_named) {
    unsigned char hdr[64];
    hil_elf* e;
    memset(hdr, 0, sizeof hdr);
    HIL_EXPECT_EQ(hil_elf_parse("hello world, not an elf at all, really not one. padding padding", 60, "fw.txt", &e),
                  HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "fw.txt: not an ELF file") != NULL, "%s", hil_last_error());
    memcpy(hdr, "\177ELF", 4);
    hdr[4] = 1;
    hdr[5] = 2;
    HIL_EXPECT_EQ(hil_elf_parse(hdr, sizeof hdr, "be.elf", &e), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "big-endian") != NULL, "%s", hil_last_error());
    hdr[5] = 1;
    hdr[28] = 0xff; /* e_phoff far outside the file */
    hdr[44] = 1;    /* one program header */
    hdr[42] = 32;
    HIL_EXPECT_EQ(hil_elf_parse(hdr, sizeof hdr, "cut.elf", &e), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "cut.elf: the program headers lie outside the file") != NULL, "%s", hil_last_error());
}

HIL_TEST(probe, rtt_parsers) {
    unsigned char cb[24], d[32];
    uint32_t up = 0, down = 0;
    hil_rtt_desc desc;
    memset(cb, 0, sizeof cb);
    memcpy(cb, "SEGGER RTT", 10);
    cb[16] = 2;
    cb[20] = 1;
    HIL_ASSERT_OK(hil_rtt_parse_header(cb, sizeof cb, &up, &down));
    HIL_EXPECT_EQ(up, 2);
    HIL_EXPECT_EQ(down, 1);
    cb[16] = 200;
    HIL_EXPECT_EQ(hil_rtt_parse_header(cb, sizeof cb, &up, &down), HIL_ERR_PROTOCOL);
    cb[0] = 's';
    HIL_EXPECT_EQ(hil_rtt_parse_header(cb, sizeof cb, &up, &down), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_rtt_desc_size(4), 24);
    HIL_EXPECT_EQ(hil_rtt_desc_size(8), 32);
    memset(d, 0, sizeof d);
    d[4] = 0x00; d[5] = 0x10; d[7] = 0x20;      /* pBuffer 0x20001000 */
    d[8] = 0x00; d[9] = 0x04;                  /* SizeOfBuffer 1024 */
    d[12] = 10;                                /* WrOff */
    d[16] = 3;                                 /* RdOff */
    HIL_ASSERT_OK(hil_rtt_parse_desc(d, 24, 4, &desc));
    HIL_EXPECT_EQ(desc.buffer, 0x20001000u);
    HIL_EXPECT_EQ(desc.size, 1024);
    HIL_EXPECT_EQ(desc.wr_off, 10);
    HIL_EXPECT_EQ(desc.rd_off, 3);
    d[13] = 0x08; /* WrOff 2058 >= size: corrupt */
    HIL_EXPECT_EQ(hil_rtt_parse_desc(d, 24, 4, &desc), HIL_ERR_PROTOCOL);
}

/* ---- scripted servers ---- */

typedef enum { FAKE_SCRIPT, FAKE_SILENT, FAKE_GARBAGE, FAKE_CLOSE } fake_mode;

typedef struct fake {
    int lfd, port;
    fake_mode mode;
    int fd;                      /* >= 0: serve this descriptor (a pty) instead of accepting */
    const char* const* script;   /* pairs: the request's prefix (NULL: wait for a '-'), the raw reply */
    int mismatches, naks;
    char last[600];
    pthread_t th;
} fake;

/* One packet's payload from the client, or -1 at EOF. Counts '-'. */
static int fake_read_packet(fake* f, int fd, char* out, size_t cap, int want_nak) {
    size_t n = 0;
    int state = 0, tail = 0;
    for (;;) {
        char c;
        if (read(fd, &c, 1) != 1) return -1;
        if (state == 0) {
            if (c == '-') {
                f->naks++;
                if (want_nak) return 0;
            }
            if (c == '$') state = 1;
            continue;
        }
        if (state == 1) {
            if (c == '#') { state = 2; continue; }
            if (n + 1 < cap) out[n++] = c;
            continue;
        }
        if (++tail == 2) break;
    }
    out[n] = 0;
    return (int)n;
}

static void* fake_main(void* arg) {
    fake* f = (fake*)arg;
    int fd = f->fd >= 0 ? f->fd : accept(f->lfd, NULL, NULL);
    char buf[512];
    size_t i;
    if (fd < 0) return NULL;
    if (f->mode == FAKE_GARBAGE) {
        static const char junk[] = "SSH-2.0-OpenSSH_9.2 this is not the GDB remote protocol\r\n";
        for (i = 0; i < 200; i++)
            if (write(fd, junk, sizeof junk - 1) < 0) break;
    } else if (f->mode == FAKE_CLOSE) {
        (void)read(fd, buf, sizeof buf);
        close(fd);
        return NULL;
    } else if (f->mode == FAKE_SCRIPT) {
        for (i = 0; f->script[i + 1]; i += 2) {
            if (fake_read_packet(f, fd, buf, sizeof buf, f->script[i] == NULL) < 0) break;
            if (f->script[i] && strncmp(buf, f->script[i], strlen(f->script[i])) != 0) {
                f->mismatches++;
                snprintf(f->last, sizeof f->last, "%s", buf);
            }
            if (write(fd, f->script[i + 1], strlen(f->script[i + 1])) < 0) break;
        }
    }
    while (read(fd, buf, sizeof buf) > 0) {} /* until the client closes */
    close(fd);
    return NULL;
}

static void fake_start_on(fake* f, fake_mode mode, const char* const* script, int fd) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->script = script;
    f->fd = fd;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    HIL_ASSERT(f->lfd >= 0, "socket");
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    HIL_ASSERT_EQ(bind(f->lfd, (struct sockaddr*)&a, sizeof a), 0);
    HIL_ASSERT_EQ(listen(f->lfd, 4), 0);
    getsockname(f->lfd, (struct sockaddr*)&a, &al);
    f->port = ntohs(a.sin_port);
    HIL_ASSERT_EQ(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_start(fake* f, fake_mode mode, const char* const* script) { fake_start_on(f, mode, script, -1); }

static void fake_stop(fake* f) {
    pthread_join(f->th, NULL);
    close(f->lfd);
}

static hil_result connect_to(fake* f, int timeout_ms, hil_probe** p) {
    hil_probe_config c;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f ? f->port : 1);
    hil_probe_config_init(&c);
    c.name = "fake";
    c.address = addr;
    c.timeout_ms = timeout_ms;
    c.connect_timeout_ms = timeout_ms;
    return hil_probe_create(&c, p);
}

/* A packet as a server sends it. */
static const char* pkt(const char* payload) {
    static char bufs[16][512];
    static int next;
    char* b = bufs[next++ % 16];
    unsigned sum = 0;
    const char* s;
    for (s = payload; *s; s++) sum += (unsigned char)*s;
    snprintf(b, 512, "$%s#%02x", payload, sum & 0xffu);
    return b;
}

HIL_TEST(probe, acks_a_resent_packet_run_lengths_and_error_replies) {
    char qsup[160], resent[160], mem[64], err[64], qm2[64];
    const char* script[16];
    fake f;
    hil_probe* p;
    unsigned char b[4];
    /* ack mode (no QStartNoAckMode offered); the first answer has a bad checksum */
    snprintf(qsup, sizeof qsup, "+$PacketSize=100;swbreak+#00");
    snprintf(resent, sizeof resent, "%s", pkt("PacketSize=100;swbreak+"));
    snprintf(mem, sizeof mem, "+%s", pkt("00*!")); /* "00" then 4 more '0' ('!' - 29): three zero bytes */
    snprintf(err, sizeof err, "+%s", pkt("E14"));
    snprintf(qm2, sizeof qm2, "+%s", pkt("2a2b"));
    script[0] = "qSupported"; script[1] = qsup;
    script[2] = NULL;         script[3] = resent;
    script[4] = "?";          script[5] = "+$S05#b8";
    script[6] = "m20000000,3"; script[7] = mem;
    script[8] = "m0,4";       script[9] = err;
    script[10] = "m20000000,2"; script[11] = qm2;
    script[12] = "D";         script[13] = "+$OK#9a";
    script[14] = NULL;        script[15] = NULL;
    fake_start(&f, FAKE_SCRIPT, script);
    HIL_ASSERT_OK(connect_to(&f, 2000, &p));
    HIL_EXPECT_EQ(f.naks, 1);
    HIL_EXPECT_EQ(hil_rsp_packet_size(hil_probe_rsp(p)), 0x100);
    HIL_EXPECT(!hil_rsp_is_no_ack(hil_probe_rsp(p)), "no-ack was not offered");
    HIL_EXPECT(hil_rsp_supports(hil_probe_rsp(p), "swbreak"), "swbreak+");
    HIL_EXPECT(!hil_probe_is_running(p), "S05: halted");
    memset(b, 0xff, sizeof b);
    HIL_ASSERT_OK(hil_probe_read_mem(p, 0x20000000u, b, 3));
    HIL_EXPECT_MEMEQ(b, "\0\0\0", 3);
    HIL_EXPECT_EQ(hil_probe_read_mem(p, 0, b, 4), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "reading 4 bytes at 0x0: the server answered 'E14'") != NULL, "%s", hil_last_error());
    /* an error reply leaves the connection usable */
    HIL_ASSERT_OK(hil_probe_read_mem(p, 0x20000000u, b, 2));
    HIL_EXPECT_MEMEQ(b, "\x2a\x2b", 2);
    hil_probe_destroy(p);
    fake_stop(&f);
    HIL_EXPECT_EQ(f.mismatches, 0, "last: %s", f.last);
}

HIL_TEST(probe, no_server_at_the_address) {
    fake f;
    hil_probe* p = NULL;
    int port;
    fake_start(&f, FAKE_CLOSE, NULL);
    port = f.port;
    /* connect once so the thread ends, then the port is closed */
    {
        hil_result r = connect_to(&f, 1000, &p);
        HIL_EXPECT_EQ(r, HIL_ERR_CLOSED);
        HIL_EXPECT(strstr(hil_last_error(), "closed the connection") != NULL, "%s", hil_last_error());
    }
    fake_stop(&f);
    f.port = port;
    HIL_EXPECT_EQ(connect_to(&f, 1000, &p), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "no GDB server at 127.0.0.1:") != NULL, "%s", hil_last_error());
    HIL_EXPECT(p == NULL, "nothing created");
}

HIL_TEST(probe, a_silent_or_busy_server_times_out) {
    fake f;
    hil_probe* p = NULL;
    uint64_t t0 = hil_now_ns();
    fake_start(&f, FAKE_SILENT, NULL);
    HIL_EXPECT_EQ(connect_to(&f, 300, &p), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "busy with another client") != NULL, "%s", hil_last_error());
    HIL_EXPECT(hil_now_ns() - t0 < 5000000000ull, "bounded by the timeout");
    fake_stop(&f);
}

HIL_TEST(probe, a_server_answering_garbage) {
    fake f;
    hil_probe* p = NULL;
    fake_start(&f, FAKE_GARBAGE, NULL);
    HIL_EXPECT_EQ(connect_to(&f, 2000, &p), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "not the GDB remote protocol") != NULL, "%s", hil_last_error());
    fake_stop(&f);
}

HIL_TEST(probe, configuration_errors_name_the_key) {
    hil_probe_config c;
    hil_probe* p = NULL;
    hil_probe_config_init(&c);
    c.name = "board";
    HIL_EXPECT_EQ(hil_probe_create(&c, &p), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "probes.board.address") != NULL, "%s", hil_last_error());
    c.address = "127.0.0.1:1";
    c.flavor = "openocdd";
    HIL_EXPECT_EQ(hil_probe_create(&c, &p), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "flavor 'openocdd' is not one of generic|openocd") != NULL, "%s", hil_last_error());
    c.flavor = NULL;
    c.address = "localhost";
    HIL_EXPECT_EQ(hil_probe_create(&c, &p), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "is not host:port") != NULL, "%s", hil_last_error());
    c.address = NULL;
    c.port = "/dev/nonexistent-probe";
    HIL_EXPECT_EQ(hil_probe_create(&c, &p), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "/dev/nonexistent-probe") != NULL, "%s", hil_last_error());
}

HIL_TEST(probe, flash_regions_go_through_vflash_and_qcrc_verifies) {
    static const char map[] =
        "l<memory-map><memory type=\"flash\" start=\"0x8000000\" length=\"0x10000\">"
        "<property name=\"blocksize\">0x4000</property></memory>"
        "<memory type=\"ram\" start=\"0x20000000\" length=\"0x1000\"/></memory-map>";
    static const unsigned char data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    char crc_ok[32], crc_bad[32], *own[8];
    const char* script[40];
    int n_own = 0;
    int n = 0;
    fake f;
    hil_probe* p;
    hil_image img;
    hil_image_block blk;
    hil_flash_options o;
    hil_flash_stats st;
    snprintf(crc_ok, sizeof crc_ok, "C%08x", (unsigned)hil_rsp_crc32(0xFFFFFFFFu, data, 8));
    snprintf(crc_bad, sizeof crc_bad, "C%08x", (unsigned)hil_rsp_crc32(0xFFFFFFFFu, data, 7));
#define OWN(x) (own[n_own++] = hil_strdup(x))
    {   /* the first answers in ack mode: '+' first */
        char sup[128];
        snprintf(sup, sizeof sup, "+%s", pkt("PacketSize=400;qXfer:memory-map:read+;QStartNoAckMode+"));
        script[n++] = "qSupported"; script[n++] = OWN(sup);
    }
    script[n++] = "QStartNoAckMode"; script[n++] = "+$OK#9a";
    script[n++] = "?"; script[n++] = "$S05#b8";                       /* no acks from here on */
    script[n++] = "qXfer:memory-map:read::0,"; script[n++] = OWN(pkt(map));
    script[n++] = "vFlashErase:8000000,4000"; script[n++] = "$OK#9a"; /* whole erase blocks */
    script[n++] = "vFlashWrite:8000000:"; script[n++] = "$OK#9a";
    script[n++] = "vFlashDone"; script[n++] = "$OK#9a";
    script[n++] = "qCRC:8000000,8"; script[n++] = OWN(pkt(crc_ok));
    /* the second flash: the CRC differs, the read-back finds where */
    script[n++] = "qXfer:memory-map:read::0,"; script[n++] = OWN(pkt(map));
    script[n++] = "vFlashErase:8000000,4000"; script[n++] = "$OK#9a";
    script[n++] = "vFlashWrite:8000000:"; script[n++] = "$OK#9a";
    script[n++] = "vFlashDone"; script[n++] = "$OK#9a";
    script[n++] = "qCRC:8000000,8"; script[n++] = OWN(pkt(crc_bad));
    script[n++] = "m8000000,8"; script[n++] = OWN(pkt("01020304ff060708"));
    script[n++] = "D"; script[n++] = "$OK#9a";
    script[n++] = NULL; script[n++] = NULL;
    fake_start(&f, FAKE_SCRIPT, script);
    HIL_ASSERT_OK(connect_to(&f, 2000, &p));
    HIL_EXPECT(hil_rsp_is_no_ack(hil_probe_rsp(p)), "no-ack mode");
    blk.addr = 0x08000000u;
    blk.data = (unsigned char*)data;
    blk.len = 8;
    memset(&img, 0, sizeof img);
    img.blocks = &blk;
    img.n_blocks = 1;
    img.total = 8;
    hil_flash_options_init(&o);
    o.start = HIL_PROBE_START_NONE;
    HIL_ASSERT_OK(hil_probe_flash_image(p, &img, &o, &st));
    HIL_EXPECT(st.used_vflash, "vFlash for a flash region");
    HIL_EXPECT_EQ(st.verified, 1); /* by qCRC */
    HIL_EXPECT_EQ(hil_probe_flash_image(p, &img, &o, &st), HIL_ERR_CHECKSUM);
    HIL_EXPECT(strstr(hil_last_error(), "differs from the image at 0x8000004 (wrote 0x05, read back 0xff)") != NULL, "%s",
               hil_last_error());
    hil_probe_destroy(p);
    fake_stop(&f);
    HIL_EXPECT_EQ(f.mismatches, 0, "last: %s", f.last);
    while (n_own) free(own[--n_own]);
#undef OWN
}

HIL_TEST(probe, a_serial_port_like_a_black_magic_probe) {
    const char* script[14];
    char mem[64], sup[64], scan[96], att[64];
    fake f;
    hil_probe_config c;
    hil_probe* p;
    unsigned char b[4];
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    HIL_ASSERT(master >= 0, "posix_openpt: %s", strerror(errno));
    HIL_ASSERT_EQ(grantpt(master), 0);
    HIL_ASSERT_EQ(unlockpt(master), 0);
    snprintf(sup, sizeof sup, "+%s", pkt("PacketSize=100"));
    snprintf(mem, sizeof mem, "+%s", pkt("01020304"));
    /* a Black Magic Probe scans ("monitor swdp_scan", its output in O packets) and attaches */
    snprintf(scan, sizeof scan, "+%s%s", pkt("O54617267657420766f6c746167653a20332e33560a"), pkt("OK"));
    snprintf(att, sizeof att, "+%s", pkt("T05thread:1;"));
    script[0] = "qSupported"; script[1] = sup;
    script[2] = "?"; script[3] = "+$W00#b7";           /* nothing attached yet */
    script[4] = "qRcmd,737764705f7363616e"; script[5] = scan;
    script[6] = "vAttach;1"; script[7] = att;
    script[8] = "m0,4"; script[9] = mem;
    script[10] = "D"; script[11] = "+$OK#9a";
    script[12] = NULL; script[13] = NULL;
    fake_start_on(&f, FAKE_SCRIPT, script, master); /* the thread serves the pty's master side */
    hil_probe_config_init(&c);
    c.name = "bmp";
    c.port = ptsname(master);
    c.flavor = "bmp";
    HIL_ASSERT_OK(hil_probe_create(&c, &p));
    HIL_EXPECT_STREQ(hil_rsp_where(hil_probe_rsp(p)), ptsname(master));
    HIL_ASSERT_OK(hil_probe_read_mem(p, 0, b, 4));
    HIL_EXPECT_MEMEQ(b, "\1\2\3\4", 4);
    hil_probe_destroy(p); /* closing the slave side ends the thread's reads (EIO) */
    fake_stop(&f);
    HIL_EXPECT_EQ(f.mismatches, 0, "last: %s", f.last);
}

/* Found by fuzz_elf (fuzz/corpus/elf/crash-overlapping-segments): a segment
 * that continues the last block was merged into it without checking the
 * other blocks, so the load image could hold one address twice. */
static void put32(unsigned char* p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24); }

HIL_TEST(probe, overlapping_segments_are_refused) {
    unsigned char f[52 + 3 * 32 + 32];
    static const uint32_t addr[3] = {0x10, 0x0, 0x8}, len[3] = {8, 8, 16};
    hil_elf* e;
    hil_image img;
    int i;
    memset(f, 0, sizeof f);
    memcpy(f, "\177ELF\1\1\1", 7);
    f[16] = 2;               /* ET_EXEC */
    f[18] = 40;              /* ARM */
    put32(f + 28, 52);       /* e_phoff */
    f[42] = 32;              /* e_phentsize */
    f[44] = 3;               /* e_phnum */
    for (i = 0; i < 3; i++) {
        unsigned char* ph = f + 52 + 32 * i;
        put32(ph, 1);                      /* PT_LOAD */
        put32(ph + 4, 52 + 3 * 32);        /* p_offset */
        put32(ph + 8, addr[i]);
        put32(ph + 12, addr[i]);           /* p_paddr */
        put32(ph + 16, len[i]);
        put32(ph + 20, len[i]);
    }
    HIL_ASSERT_OK(hil_elf_parse(f, sizeof f, "overlap.elf", &e));
    HIL_EXPECT_EQ(hil_image_from_elf(e, &img), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "overlaps the block at 0x10") != NULL, "%s", hil_last_error());
    hil_elf_free(e);
}
