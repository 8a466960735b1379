/* hil_uds.h: the DID codec, the response checks, and the uds auxiliary and
 * flasher against the ECU simulator (examples/ecu-sim) over its stdin/stdout
 * (a process channel with length framing): every service, every NRC path,
 * P2/P2* timeouts, 0x78 forever, an ECU that never answers, an interrupted
 * download, TesterPresent seen by the simulator, functional addressing. */
#include "selftest.h"
#if __has_include("hil_uds.h") || defined(HIL_TEST_SINGLE)
#ifndef HIL_TEST_SINGLE
#include "hil_uds.h"
#endif
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>

HIL_SUITE(uds, "tags=uds")

static const char* sim_path(void) {
    static char p[512];
    snprintf(p, sizeof p, "%s/ecu-sim/ecu-sim", st_build_dir());
    return p;
}

/* The simulator's key: rotl32(seed, 5) ^ 0x48494C21, big endian (ecu_sim.c). */
static hil_result sim_key(int level, const unsigned char* seed, size_t n, unsigned char* key, size_t cap, size_t* len,
                          void* user) {
    uint32_t s, k;
    (void)level;
    (void)user;
    if (n != 4 || cap < 4) return hil_error(HIL_ERR_PROTOCOL, "a seed of %zu bytes (4 expected)", n);
    s = (uint32_t)seed[0] << 24 | (uint32_t)seed[1] << 16 | (uint32_t)seed[2] << 8 | seed[3];
    k = ((s << 5) | (s >> 27)) ^ 0x48494C21u;
    key[0] = (unsigned char)(k >> 24);
    key[1] = (unsigned char)(k >> 16);
    key[2] = (unsigned char)(k >> 8);
    key[3] = (unsigned char)k;
    *len = 4;
    return HIL_OK;
}

static hil_result wrong_key(int level, const unsigned char* seed, size_t n, unsigned char* key, size_t cap, size_t* len,
                            void* user) {
    hil_result r = sim_key(level, seed, n, key, cap, len, user);
    key[3] ^= 1;
    return r;
}

static void register_keys(void) {
    static int done;
    if (done) return;
    done = 1;
    HIL_ASSERT_OK(hil_uds_key_fn_register("ecu_sim_key", sim_key, NULL));
}

#define SIM_DIDS "dids=vin 0xF190 ascii 17; session 0xF186 u8; temp 0x0101 s16 scale=0.1 unit=degC; " \
                 "config 0x0102 u16; raw_be 0x0103 s64; raw_le 0x0103 s64 le; tp_count 0x0200 u32; " \
                 "dl_crc 0x0201 u32; dl_bytes 0x0202 u32"

/* A uds auxiliary named name over a fresh simulator started with sim_args;
 * extra: more auxiliary options (NULL-terminated, may be NULL). */
static hil_aux* start_uds(const char* name, const char* sim_args, const char* const* extra) {
    hil_channel_config cc;
    hil_channel* ch = NULL;
    hil_aux_config c;
    hil_aux* a = NULL;
    char cmd[700];
    const char* copts[4];
    const char* aopts[16];
    size_t n = 0, i;
    register_keys();
    snprintf(cmd, sizeof cmd, "command=%s --stdio %s", sim_path(), sim_args ? sim_args : "");
    copts[0] = cmd;
    copts[1] = "framing=length";
    copts[2] = "env=ASAN_OPTIONS=detect_leaks=0";
    copts[3] = NULL;
    hil_channel_config_init(&cc);
    cc.name = name;
    cc.type = "process";
    cc.options = copts;
    HIL_ASSERT_OK(hil_channel_create(&cc, &ch));
    /* the first value of a key counts: the test's own options come first */
    for (i = 0; extra && extra[i] && n < 12; i++) aopts[n++] = extra[i];
    aopts[n++] = SIM_DIDS;
    aopts[n++] = "security=1:ecu_sim_key";
    aopts[n++] = "margin_ms=1000"; /* a loaded 2-core host under the sanitizers; a suppressed request waits P2 + this for an NRC */
    aopts[n] = NULL;
    hil_aux_config_init(&c);
    c.name = name;
    c.type = "uds";
    c.com = ch;
    c.options = aopts;
    HIL_ASSERT_OK(hil_aux_create(&c, &a), "starting %s", sim_path());
    return a;
}

static void expect_nrc(hil_aux* a, const void* req, size_t len, int want) {
    unsigned char resp[64];
    size_t n = 0;
    hil_result r = hil_uds_request(a, req, len, 0, resp, sizeof resp, &n);
    char hex[64];
    size_t i, k = 0;
    for (i = 0; i < len && k + 4 < sizeof hex; i++) k += (size_t)snprintf(hex + k, sizeof hex - k, "%02x ", ((const unsigned char*)req)[i]);
    HIL_EXPECT_EQ(r, HIL_ERR_PROTOCOL, "request %s", hex);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), want, "request %s: %s", hex, hil_last_error());
}

/* ---- names and the codec (no simulator) ----------------------------------------------------- */

HIL_TEST(uds, nrc_names) {
    static const int listed[] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x21, 0x22, 0x24, 0x25, 0x26, 0x31, 0x33, 0x35, 0x36,
                                 0x37, 0x70, 0x71, 0x72, 0x73, 0x78, 0x7E, 0x7F, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8F, 0x90, 0x91, 0x92, 0x93};
    size_t i;
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0x31), "requestOutOfRange");
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0x22), "conditionsNotCorrect");
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0x33), "securityAccessDenied");
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0x35), "invalidKey");
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0x93), "voltageTooLow");
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0x40), "reservedByExtendedDataLinkSecurityDocument");
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0xA0), "reservedForSpecificConditionsNotCorrect");
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0xF3), "vehicleManufacturerSpecificConditionsNotCorrect");
    HIL_EXPECT_STREQ(hil_uds_nrc_name(0x8E), "ISOSAEReserved");
    for (i = 0; i < sizeof listed / sizeof listed[0]; i++)
        HIL_EXPECT_STRNE(hil_uds_nrc_name(listed[i]), "ISOSAEReserved", "NRC 0x%02X", listed[i]);
    HIL_EXPECT_STREQ(hil_uds_service_name(0x22), "ReadDataByIdentifier");
    HIL_EXPECT_STREQ(hil_uds_service_name(0x62), "ReadDataByIdentifier");
    HIL_EXPECT_STREQ(hil_uds_service_name(0xC5), "ControlDTCSetting");
}

HIL_TEST(uds, did_parse) {
    hil_uds_did d;
    HIL_ASSERT_OK(hil_uds_did_parse("vin 0xF190 ascii 17", &d));
    HIL_EXPECT_EQ(d.id, 0xF190);
    HIL_EXPECT_EQ(d.type, HIL_UDS_DID_ASCII);
    HIL_EXPECT_EQ(d.length, 17);
    HIL_ASSERT_OK(hil_uds_did_parse("t 0x0101 s12 le scale=0.5 offset=-40 unit=degC", &d));
    HIL_EXPECT_EQ(d.type, HIL_UDS_DID_SINT);
    HIL_EXPECT_EQ(d.bits, 12);
    HIL_EXPECT_EQ(d.length, 2);
    HIL_EXPECT(d.little_endian);
    HIL_EXPECT_NEAR(d.scale, 0.5, 1e-12);
    HIL_EXPECT_NEAR(d.offset, -40, 1e-12);
    HIL_EXPECT_STREQ(d.unit, "degC");
    HIL_ASSERT_OK(hil_uds_did_parse("b 1 bytes[4]", &d));
    HIL_EXPECT_EQ(d.length, 4);
    HIL_ASSERT_OK(hil_uds_did_parse("u 2 uint64", &d));
    HIL_EXPECT_EQ(d.bits, 64);
    HIL_EXPECT_EQ(hil_uds_did_parse("x 0x10000 u8", &d), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "0..0xFFFF") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_uds_did_parse("x 1 u65", &d), HIL_ERR_CONFIG);
    HIL_EXPECT_EQ(hil_uds_did_parse("x 1 u0", &d), HIL_ERR_CONFIG);
    HIL_EXPECT_EQ(hil_uds_did_parse("x 1 float", &d), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "unknown type 'float'") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_uds_did_parse("x 1 ascii scale=2", &d), HIL_ERR_CONFIG);
    HIL_EXPECT_EQ(hil_uds_did_parse("x 1 u8 scale=0", &d), HIL_ERR_CONFIG);
    HIL_EXPECT_EQ(hil_uds_did_parse("x", &d), HIL_ERR_CONFIG);
    HIL_EXPECT_EQ(hil_uds_did_parse("", &d), HIL_ERR_CONFIG);
}

static void roundtrip(const char* spec, const char* text, const char* wire_hex, const char* back) {
    hil_uds_did d;
    hil_uds_value v;
    unsigned char buf[64];
    char hex[200];
    size_t n, i, k = 0;
    HIL_ASSERT_OK(hil_uds_did_parse(spec, &d));
    HIL_ASSERT_OK(hil_uds_did_encode(&d, text, buf, sizeof buf, &n), "%s <- %s", spec, text);
    for (i = 0; i < n; i++) k += (size_t)snprintf(hex + k, sizeof hex - k, "%s%02x", i ? " " : "", buf[i]);
    hex[k] = 0;
    HIL_EXPECT_STREQ(hex, wire_hex, "%s <- %s", spec, text);
    HIL_ASSERT_OK(hil_uds_did_decode(&d, buf, n, &v));
    HIL_EXPECT_STREQ(v.text, back, "%s", spec);
}

HIL_TEST(uds, did_codec_edges) {
    hil_uds_did d;
    hil_uds_value v;
    unsigned char buf[16];
    size_t n;
    roundtrip("a 1 s64", "-9223372036854775808", "80 00 00 00 00 00 00 00", "-9223372036854775808");
    roundtrip("a 1 s64 le", "-9223372036854775808", "00 00 00 00 00 00 00 80", "-9223372036854775808");
    roundtrip("a 1 s64", "9223372036854775807", "7f ff ff ff ff ff ff ff", "9223372036854775807");
    roundtrip("a 1 s64 le", "-2", "fe ff ff ff ff ff ff ff", "-2");
    roundtrip("a 1 u64", "18446744073709551615", "ff ff ff ff ff ff ff ff", "18446744073709551615");
    roundtrip("a 1 u64 le", "0x0102030405060708", "08 07 06 05 04 03 02 01", "72623859790382856");
    roundtrip("a 1 u1", "1", "01", "1");
    roundtrip("a 1 s1", "-1", "01", "-1");
    roundtrip("a 1 s12 le", "-2048", "00 08", "-2048");
    roundtrip("a 1 u24", "0x123456", "12 34 56", "1193046");
    roundtrip("a 1 u24 le", "0x123456", "56 34 12", "1193046");
    roundtrip("t 1 s16 scale=0.1 unit=degC", "-12.3", "ff 85", "-12.3 degC");
    roundtrip("t 1 u8 scale=0.5 offset=-40 unit=degC", "-40", "00", "-40 degC");
    roundtrip("t 1 u8 scale=0.5 offset=-40 unit=degC", "87.5", "ff", "87.5 degC");
    roundtrip("v 1 ascii 3", "ABC", "41 42 43", "ABC");
    roundtrip("b 1 bytes", "01:02:0a", "01 02 0a", "01 02 0a");
    HIL_ASSERT_OK(hil_uds_did_parse("a 1 s64", &d));
    HIL_EXPECT_EQ(hil_uds_did_encode(&d, "9223372036854775808", buf, sizeof buf, &n), HIL_ERR_OVERFLOW);
    HIL_EXPECT_EQ(hil_uds_did_encode(&d, "12x", buf, sizeof buf, &n), HIL_ERR_INVALID_ARG);
    HIL_ASSERT_OK(hil_uds_did_parse("a 1 s12", &d));
    HIL_EXPECT_EQ(hil_uds_did_encode(&d, "2048", buf, sizeof buf, &n), HIL_ERR_OVERFLOW);
    HIL_EXPECT(strstr(hil_last_error(), "-2048..2047") != NULL, "%s", hil_last_error());
    buf[0] = 0xF8; buf[1] = 0x00; /* bit 15 set: not a 12-bit value */
    HIL_EXPECT_EQ(hil_uds_did_decode(&d, buf, 2, &v), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_did_decode(&d, buf, 3, &v), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "3 bytes") != NULL, "%s", hil_last_error());
    HIL_ASSERT_OK(hil_uds_did_parse("a 1 u8", &d));
    HIL_EXPECT_EQ(hil_uds_did_encode(&d, "-1", buf, sizeof buf, &n), HIL_ERR_OVERFLOW);
    HIL_EXPECT_EQ(hil_uds_did_encode(&d, "256", buf, sizeof buf, &n), HIL_ERR_OVERFLOW);
    HIL_ASSERT_OK(hil_uds_did_parse("t 1 u8 scale=0.5", &d));
    HIL_EXPECT_EQ(hil_uds_did_encode_phys(&d, 128.0, buf, sizeof buf, &n), HIL_ERR_OVERFLOW);
    HIL_EXPECT_EQ(hil_uds_did_encode_phys(&d, -0.5, buf, sizeof buf, &n), HIL_ERR_OVERFLOW);
    HIL_ASSERT_OK(hil_uds_did_parse("v 1 ascii 3", &d));
    HIL_EXPECT_EQ(hil_uds_did_encode(&d, "ABCD", buf, sizeof buf, &n), HIL_ERR_OVERFLOW);
    HIL_ASSERT_OK(hil_uds_did_parse("b 1 bytes", &d));
    HIL_EXPECT_EQ(hil_uds_did_encode(&d, "0g", buf, sizeof buf, &n), HIL_ERR_INVALID_ARG);
}

/* fuzz/corpus/uds/crash-bytes-text-overflow (found by fuzz_uds): the text of
 * a long bytes DID overran hil_uds_value.text (2 characters a byte were
 * reserved, 3 are written). Every byte of the longest one is in the text. */
HIL_TEST(uds, long_bytes_did_text_fits) {
    hil_uds_did d;
    static unsigned char data[HIL_UDS_DID_MAX];
    static hil_uds_value v;
    unsigned char back[HIL_UDS_DID_MAX];
    size_t n;
    memset(data, 0xb6, sizeof data);
    HIL_ASSERT_OK(hil_uds_did_parse("d 6 bytes", &d));
    HIL_ASSERT_OK(hil_uds_did_decode(&d, data, sizeof data, &v));
    HIL_EXPECT_EQ(strlen(v.text), 3 * sizeof data - 1);
    HIL_ASSERT_OK(hil_uds_did_encode(&d, v.text, back, sizeof back, &n));
    HIL_EXPECT_EQ(n, sizeof data);
    HIL_EXPECT_MEMEQ(back, data, sizeof data);
    HIL_EXPECT_EQ(hil_uds_did_decode(&d, data, 0, &v), HIL_OK);
    HIL_EXPECT_STREQ(v.text, "");
}

HIL_TEST(uds, response_checks) {
    static const unsigned char rdbi[] = {0x22, 0xF1, 0x90};
    static const unsigned char ok[] = {0x62, 0xF1, 0x90, 0x41};
    static const unsigned char wrong_did[] = {0x62, 0xF1, 0x91, 0x41};
    static const unsigned char wrong_sid[] = {0x63, 0xF1, 0x90};
    static const unsigned char neg[] = {0x7F, 0x22, 0x31};
    static const unsigned char neg_short[] = {0x7F, 0x22};
    static const unsigned char dl[] = {0x34, 0x00, 0x44, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char dl_bad[] = {0x74, 0x20, 0x01};
    static const unsigned char sess[] = {0x10, 0x03};
    static const unsigned char sess_bad[] = {0x50, 0x02, 0x00, 0x32, 0x01, 0xF4};
    int nrc = -1;
    HIL_EXPECT_OK(hil_uds_check_response(rdbi, 3, ok, sizeof ok, &nrc));
    HIL_EXPECT_EQ(nrc, 0);
    HIL_EXPECT_EQ(hil_uds_check_response(rdbi, 3, wrong_did, sizeof wrong_did, &nrc), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "ReadDataByIdentifier (0x22): malformed answer 62 f1 91 41") != NULL, "%s",
               hil_last_error());
    HIL_EXPECT_EQ(hil_uds_check_response(rdbi, 3, wrong_sid, sizeof wrong_sid, &nrc), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_check_response(rdbi, 3, neg, sizeof neg, &nrc), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(nrc, 0x31);
    HIL_EXPECT(strstr(hil_last_error(), "NRC 0x31 requestOutOfRange") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_uds_check_response(rdbi, 3, neg_short, sizeof neg_short, &nrc), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(nrc, 0);
    HIL_EXPECT_EQ(hil_uds_check_response(dl, sizeof dl, dl_bad, sizeof dl_bad, &nrc), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "lengthFormatIdentifier") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_uds_check_response(sess, 2, sess_bad, sizeof sess_bad, &nrc), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "sub-function") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_uds_check_response(rdbi, 3, ok, 0, &nrc), HIL_ERR_PROTOCOL);
}

/* ---- against the simulator --------------------------------------------------------------- */

HIL_TEST(uds, session_security_and_dids) {
    hil_aux* a = start_uds("uds_basic", NULL, NULL);
    hil_uds_timing t;
    hil_uds_value v;
    static const char* const wrong[] = {"security=1:ecu_sim_key", NULL};
    (void)wrong;
    HIL_ASSERT_OK(hil_uds_read(a, "vin", &v));
    HIL_EXPECT_STREQ(v.text, "HILSIM00000000001");
    HIL_ASSERT_OK(hil_uds_read(a, "temp", &v));
    HIL_EXPECT_EQ(v.i, -123);
    HIL_EXPECT_NEAR(v.phys, -12.3, 1e-9);
    HIL_EXPECT_STREQ(v.text, "-12.3 degC");
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 1);
    /* writing config: the default session is the wrong one, then it is locked */
    HIL_EXPECT_EQ(hil_uds_write(a, "config", "0x4242"), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x22);
    HIL_ASSERT_OK(hil_uds_session_ex(a, HIL_UDS_SESSION_EXTENDED, 0, &t));
    HIL_EXPECT_EQ(t.p2_ms, 50);      /* the simulator's P2 and P2* (5000 ms in units of 10 ms) */
    HIL_EXPECT_EQ(t.p2_star_ms, 5000);
    HIL_EXPECT_EQ(hil_uds_write(a, "config", "0x4242"), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x33);
    HIL_EXPECT(strstr(hil_last_error(), "securityAccessDenied") != NULL, "%s", hil_last_error());
    HIL_ASSERT_OK(hil_uds_security_access(a, 1));
    HIL_ASSERT_OK(hil_uds_security_access(a, 1)); /* unlocked: a zero seed, no key sent */
    HIL_ASSERT_OK(hil_uds_write(a, "config", "0x4242"));
    HIL_ASSERT_OK(hil_uds_read(a, "config", &v));
    HIL_EXPECT_EQ(v.u, 0x4242);
    HIL_EXPECT_EQ(hil_uds_write(a, "config", "70000"), HIL_ERR_OVERFLOW); /* u16: not sent */
    /* 64-bit signed both ways through the ECU: the same 8 bytes seen big and little endian */
    HIL_ASSERT_OK(hil_uds_write(a, "raw_le", "-2"));
    HIL_ASSERT_OK(hil_uds_read(a, "raw_le", &v));
    HIL_EXPECT_EQ(v.i, -2);
    HIL_ASSERT_OK(hil_uds_read(a, "raw_be", &v));
    HIL_EXPECT_EQ(v.u, 0xFEFFFFFFFFFFFFFFull);
    HIL_ASSERT_OK(hil_uds_write(a, "raw_be", "-9223372036854775808"));
    HIL_ASSERT_OK(hil_uds_read(a, "raw_le", &v));
    HIL_EXPECT_EQ(v.i, 128);
    HIL_EXPECT_EQ(hil_uds_read(a, "nope", &v), HIL_ERR_NOT_FOUND);
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_DEFAULT));
    hil_aux_destroy(a);
}

HIL_TEST(uds, security_wrong_keys_lock_out) {
    hil_aux* a = start_uds("uds_keys", NULL, NULL);
    HIL_ASSERT_OK(hil_uds_set_key_fn(a, 1, wrong_key, NULL));
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_EXTENDED));
    HIL_EXPECT_EQ(hil_uds_security_access(a, 1), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x35);
    HIL_EXPECT(strstr(hil_last_error(), "invalidKey") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_uds_security_access(a, 1), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x35);
    HIL_EXPECT_EQ(hil_uds_security_access(a, 1), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x36);
    HIL_ASSERT_OK(hil_uds_set_key_fn(a, 1, sim_key, NULL));
    HIL_EXPECT_EQ(hil_uds_security_access(a, 1), HIL_ERR_PROTOCOL); /* locked for 1 s */
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x37);
    HIL_EXPECT_EQ(hil_uds_security_access(a, 3), HIL_ERR_CONFIG);  /* no key function for level 3 */
    hil_aux_destroy(a);
}

HIL_TEST(uds, every_nrc_path) {
    hil_aux* a = start_uds("uds_nrc", NULL, NULL);
    size_t maxb = 0;
    static const unsigned char r_sns[] = {0xBA};
    static const unsigned char r_sess_len[] = {0x10, 0x03, 0x00};
    static const unsigned char r_sess_sub[] = {0x10, 0x09};
    static const unsigned char r_reset_sub[] = {0x11, 0x09};
    static const unsigned char r_reset_len[] = {0x11};
    static const unsigned char r_sa_def[] = {0x27, 0x01};
    static const unsigned char r_rdbi_len[] = {0x22, 0xF1};
    static const unsigned char r_rdbi_range[] = {0x22, 0x12, 0x34};
    static const unsigned char r_wdbi_ro[] = {0x2E, 0xF1, 0x90, 0x41};
    static const unsigned char r_wdbi_len[] = {0x2E, 0x01, 0x03, 0x01};
    static const unsigned char r_rdtc_sub[] = {0x19, 0x42};
    static const unsigned char r_rdtc_len[] = {0x19, 0x02};
    static const unsigned char r_rdtc_dtc[] = {0x19, 0x06, 0x99, 0x99, 0x99, 0x01};
    static const unsigned char r_clear_len[] = {0x14, 0xFF};
    static const unsigned char r_clear_range[] = {0x14, 0x00, 0x00, 0x01};
    static const unsigned char r_rc_range[] = {0x31, 0x01, 0x12, 0x34};
    static const unsigned char r_rc_sub[] = {0x31, 0x05, 0x02, 0x01};
    static const unsigned char r_rc_erase_sess[] = {0x31, 0x01, 0xFF, 0x00};
    static const unsigned char r_rc_stop[] = {0x31, 0x02, 0x02, 0x01};
    static const unsigned char r_tp_sub[] = {0x3E, 0x01};
    static const unsigned char r_cc_sess[] = {0x28, 0x00, 0x01};
    static const unsigned char r_dtcs_sess[] = {0x85, 0x02};
    static const unsigned char r_dl_sess[] = {0x34, 0x00, 0x44, 0x08, 0, 0, 0, 0, 0, 1, 0};
    static const unsigned char r_td_seq[] = {0x36, 0x01, 0xAA};
    static const unsigned char r_exit_seq[] = {0x37};
    static const unsigned char r_sa_seq[] = {0x27, 0x02, 0, 0, 0, 0};
    static const unsigned char r_cc_type[] = {0x28, 0x00, 0x07};
    static const unsigned char r_dtcs_sub[] = {0x85, 0x05};
    static const unsigned char r_sa_sub[] = {0x27, 0x05};
    expect_nrc(a, r_sns, sizeof r_sns, 0x11);
    expect_nrc(a, r_sess_len, sizeof r_sess_len, 0x13);
    expect_nrc(a, r_sess_sub, sizeof r_sess_sub, 0x12);
    expect_nrc(a, r_reset_sub, sizeof r_reset_sub, 0x12);
    expect_nrc(a, r_reset_len, sizeof r_reset_len, 0x13);
    expect_nrc(a, r_sa_def, sizeof r_sa_def, 0x7F);
    expect_nrc(a, r_rdbi_len, sizeof r_rdbi_len, 0x13);
    expect_nrc(a, r_rdbi_range, sizeof r_rdbi_range, 0x31);
    expect_nrc(a, r_wdbi_ro, sizeof r_wdbi_ro, 0x31);
    expect_nrc(a, r_wdbi_len, sizeof r_wdbi_len, 0x13);
    expect_nrc(a, r_rdtc_sub, sizeof r_rdtc_sub, 0x12);
    expect_nrc(a, r_rdtc_len, sizeof r_rdtc_len, 0x13);
    expect_nrc(a, r_rdtc_dtc, sizeof r_rdtc_dtc, 0x31);
    expect_nrc(a, r_clear_len, sizeof r_clear_len, 0x13);
    expect_nrc(a, r_clear_range, sizeof r_clear_range, 0x31);
    expect_nrc(a, r_rc_range, sizeof r_rc_range, 0x31);
    expect_nrc(a, r_rc_sub, sizeof r_rc_sub, 0x12);
    expect_nrc(a, r_rc_erase_sess, sizeof r_rc_erase_sess, 0x22);
    expect_nrc(a, r_rc_stop, sizeof r_rc_stop, 0x24);
    expect_nrc(a, r_tp_sub, sizeof r_tp_sub, 0x12);
    expect_nrc(a, r_cc_sess, sizeof r_cc_sess, 0x7F);
    expect_nrc(a, r_dtcs_sess, sizeof r_dtcs_sess, 0x7F);
    expect_nrc(a, r_dl_sess, sizeof r_dl_sess, 0x7F);
    expect_nrc(a, r_td_seq, sizeof r_td_seq, 0x24);
    expect_nrc(a, r_exit_seq, sizeof r_exit_seq, 0x24);
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_EXTENDED));
    expect_nrc(a, r_sa_seq, sizeof r_sa_seq, 0x24);
    expect_nrc(a, r_sa_sub, sizeof r_sa_sub, 0x12);
    expect_nrc(a, r_cc_type, sizeof r_cc_type, 0x31);
    expect_nrc(a, r_dtcs_sub, sizeof r_dtcs_sub, 0x12);
    HIL_EXPECT_EQ(hil_uds_request_download(a, 0, 0x08000000, 16, 4, 4, &maxb), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x7F); /* extended, not programming */
    hil_aux_destroy(a);
}

HIL_TEST(uds, dtcs_routines_and_controls) {
    hil_aux* a = start_uds("uds_dtc", NULL, NULL);
    hil_uds_dtc d[8];
    size_t n;
    uint16_t count = 0;
    uint8_t avail = 0, status = 0, ext[16], st[8];
    hil_uds_stats s;
    int pd = 0;
    HIL_ASSERT_OK(hil_uds_dtc_count(a, 0x08, &count, &avail));
    HIL_EXPECT_EQ(count, 2);
    HIL_EXPECT_EQ(avail, 0xFF);
    HIL_ASSERT_OK(hil_uds_dtc_list(a, 0x02, 0x04, d, 8, &n, NULL));
    HIL_ASSERT_EQ(n, 1);
    HIL_EXPECT_EQ(d[0].dtc, 0x054321);
    HIL_EXPECT_EQ(d[0].status, 0x24);
    HIL_ASSERT_OK(hil_uds_dtc_list(a, 0x0A, 0, d, 8, &n, NULL));
    HIL_EXPECT_EQ(n, 3);
    HIL_EXPECT_EQ(hil_uds_dtc_list(a, 0x0A, 0, d, 2, &n, NULL), HIL_ERR_OVERFLOW);
    HIL_ASSERT_OK(hil_uds_dtc_ext_data(a, 0xC12300, 0x01, &status, ext, sizeof ext, &n));
    HIL_EXPECT_EQ(status, 0x08);
    HIL_ASSERT_EQ(n, 2);
    HIL_EXPECT_EQ(ext[0], 0x01);
    HIL_EXPECT_EQ(ext[1], 7);
    HIL_ASSERT_OK(hil_uds_clear_dtc(a, 0x012345));
    HIL_ASSERT_OK(hil_uds_dtc_count(a, 0xFF, &count, NULL));
    HIL_EXPECT_EQ(count, 2);
    HIL_ASSERT_OK(hil_uds_clear_dtc(a, 0xFFFFFF));
    HIL_ASSERT_OK(hil_uds_dtc_count(a, 0xFF, &count, NULL));
    HIL_EXPECT_EQ(count, 0);
    /* the slow routine: 0x78 answers, then the result */
    HIL_ASSERT_OK(hil_uds_routine(a, HIL_UDS_ROUTINE_START, 0x0201, NULL, 0, st, sizeof st, &n));
    HIL_ASSERT_EQ(n, 2);
    HIL_EXPECT_EQ(st[0], 0x01);
    hil_uds_get_stats(a, &s);
    HIL_EXPECT_GE(s.pending, 1);
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_EXTENDED));
    HIL_ASSERT_OK(hil_uds_communication_control(a, 3, 1, 0));
    HIL_ASSERT_OK(hil_uds_communication_control(a, 0, 1, HIL_UDS_SUPPRESS));
    HIL_ASSERT_OK(hil_uds_control_dtc_setting(a, 2, 0));
    HIL_ASSERT_OK(hil_uds_control_dtc_setting(a, 1, HIL_UDS_SUPPRESS));
    HIL_ASSERT_OK(hil_uds_tester_present(a, 0));
    HIL_ASSERT_OK(hil_uds_ecu_reset(a, 0x04, &pd));
    HIL_EXPECT_EQ(pd, 1);
    HIL_ASSERT_OK(hil_uds_ecu_reset(a, HIL_UDS_RESET_HARD, NULL));
    {
        hil_uds_value v;
        HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
        HIL_EXPECT_EQ(v.u, 1); /* the reset ended the extended session */
    }
    hil_aux_destroy(a);
}

HIL_TEST(uds, suppress_positive_response) {
    hil_aux* a = start_uds("uds_spr", NULL, NULL);
    static const unsigned char tp[] = {0x3E, 0x80};
    unsigned char resp[16];
    size_t n = 99;
    hil_uds_value v;
    HIL_ASSERT_OK(hil_uds_request(a, tp, 2, 0, resp, sizeof resp, &n));
    HIL_EXPECT_EQ(n, 0);
    HIL_ASSERT_OK(hil_uds_session_ex(a, HIL_UDS_SESSION_EXTENDED, HIL_UDS_SUPPRESS, NULL));
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 3);
    /* a negative answer still comes with the bit set */
    HIL_EXPECT_EQ(hil_uds_control_dtc_setting(a, 5, HIL_UDS_SUPPRESS), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x12);
    HIL_ASSERT_OK(hil_uds_read(a, "tp_count", &v));
    HIL_EXPECT_EQ(v.u, 1);
    hil_aux_destroy(a);
}

/* Waits by receiving on the auxiliary with a timeout: with TesterPresent
 * suppressed nothing arrives, so this is a wait of ms. */
static void quiet_wait(hil_aux* a, int ms) {
    unsigned char b[64];
    hil_msg m;
    hil_msg_init(&m, b, sizeof b);
    HIL_EXPECT_EQ(hil_aux_receive_message(a, &m, ms), HIL_ERR_TIMEOUT);
}

HIL_TEST(uds, tester_present_keeps_the_session) {
    static const char* const tp_on[] = {"tester_present_ms=100", NULL};
    static const char* const tp_off[] = {"tester_present_ms=0", NULL};
    /* S3 is 10 periods: only a stall of a second on a loaded host could end the session */
    hil_aux* a = start_uds("uds_tp", "--s3 1000", tp_on);
    hil_uds_value v;
    hil_uds_stats s;
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_EXTENDED));
    quiet_wait(a, 2500);
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 3, "TesterPresent every 100 ms should hold the session over S3 = 1000 ms");
    HIL_ASSERT_OK(hil_uds_read(a, "tp_count", &v));
    HIL_EXPECT_GE(v.u, 5); /* 2500 ms at 100 ms: about 24; a loaded host sends fewer */
    hil_uds_get_stats(a, &s);
    HIL_EXPECT_EQ(s.tester_present, v.u);
    /* the default session stops it */
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_DEFAULT));
    hil_uds_get_stats(a, &s);
    quiet_wait(a, 300);
    {
        hil_uds_stats s2;
        hil_uds_get_stats(a, &s2);
        HIL_EXPECT_EQ(s2.tester_present, s.tester_present);
    }
    hil_aux_destroy(a);
    /* without it the ECU falls back to the default session after S3 */
    a = start_uds("uds_notp", "--s3 300", tp_off);
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_EXTENDED));
    quiet_wait(a, 700);
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 1);
    hil_aux_destroy(a);
}

static int free_udp_port(void) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int s = socket(AF_INET, SOCK_DGRAM, 0), port;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    HIL_ASSERT(bind(s, (struct sockaddr*)&sa, sizeof sa) == 0);
    HIL_ASSERT(getsockname(s, (struct sockaddr*)&sa, &len) == 0);
    port = ntohs(sa.sin_port);
    close(s);
    return port;
}

HIL_TEST(uds, functional_addressing) {
    int port = free_udp_port();
    char args[64], key[64];
    hil_config* cfg;
    const char* extra[3];
    hil_aux* a;
    hil_uds_value v;
    static const unsigned char unknown[] = {0xBA, 0x01};
    snprintf(args, sizeof args, "--functional-udp %d", port);
    /* the functional connector comes from the program's configuration */
    cfg = hil_cfg();
    snprintf(key, sizeof key, "%d", port);
    HIL_ASSERT_OK(hil_config_set(cfg, "connectors.uds_func.type", "udp", HIL_PRIO_CLI, "test"));
    HIL_ASSERT_OK(hil_config_set(cfg, "connectors.uds_func.host", "127.0.0.1", HIL_PRIO_CLI, "test"));
    HIL_ASSERT_OK(hil_config_set(cfg, "connectors.uds_func.port", key, HIL_PRIO_CLI, "test"));
    extra[0] = "connectors.functional=uds_func";
    extra[1] = "tester_present_functional=true";
    extra[2] = NULL;
    a = start_uds("uds_func", args, extra);
    /* an answer on stdout means the simulator is past binding its UDP port */
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_ASSERT_OK(hil_uds_session_ex(a, HIL_UDS_SESSION_EXTENDED, HIL_UDS_FUNCTIONAL, NULL));
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 3);
    HIL_ASSERT_OK(hil_uds_tester_present(a, HIL_UDS_FUNCTIONAL | HIL_UDS_SUPPRESS));
    HIL_ASSERT_OK(hil_uds_read(a, "tp_count", &v));
    HIL_EXPECT_EQ(v.u, 1);
    /* ISO 14229-1: serviceNotSupported is not sent to a functional request: no answer, a timeout */
    HIL_EXPECT_EQ(hil_uds_request(a, unknown, 2, HIL_UDS_FUNCTIONAL | HIL_UDS_NO_SUBFUNCTION, NULL, 0, NULL), HIL_ERR_TIMEOUT);
    hil_aux_destroy(a);
    hil_config_unset(cfg, "connectors.uds_func.type");
    hil_config_unset(cfg, "connectors.uds_func.host");
    hil_config_unset(cfg, "connectors.uds_func.port");
}

HIL_TEST(uds, download_with_counter_wrap) {
    hil_aux* a = start_uds("uds_dl", NULL, NULL);
    size_t len = 300 * 256 + 17, i, maxb = 0; /* 301 blocks: the counter wraps 0xFF -> 0x00 */
    unsigned char* img = (unsigned char*)malloc(len);
    unsigned char st[8];
    size_t n;
    hil_uds_value v;
    uint32_t crc = 0xFFFFFFFFu;
    int k;
    HIL_ASSERT(img != NULL);
    for (i = 0; i < len; i++) img[i] = (unsigned char)(i * 7 + (i >> 8));
    for (i = 0; i < len; i++) {
        crc ^= img[i];
        for (k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    crc ^= 0xFFFFFFFFu;
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_PROGRAMMING));
    HIL_EXPECT_EQ(hil_uds_download(a, 0, 0x08000000, img, len, 4, 4), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x33); /* locked */
    HIL_ASSERT_OK(hil_uds_security_access(a, 1));
    HIL_EXPECT_EQ(hil_uds_request_download(a, 0, 0x07000000, 16, 4, 4, &maxb), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x31);
    HIL_ASSERT_OK(hil_uds_download(a, 0, 0x08000000, img, len, 4, 4));
    HIL_ASSERT_OK(hil_uds_read(a, "dl_crc", &v));
    HIL_EXPECT_EQ(v.u, crc);
    HIL_ASSERT_OK(hil_uds_read(a, "dl_bytes", &v));
    HIL_EXPECT_EQ(v.u, len);
    {
        unsigned char p[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16), (unsigned char)(crc >> 8), (unsigned char)crc};
        HIL_ASSERT_OK(hil_uds_routine(a, HIL_UDS_ROUTINE_START, 0xFF01, p, 4, st, sizeof st, &n));
        HIL_EXPECT_EQ(st[0], 0);
    }
    /* interrupted half way: the exit is refused and the check fails */
    HIL_ASSERT_OK(hil_uds_request_download(a, 0, 0x08000000, len, 4, 4, &maxb));
    HIL_EXPECT_EQ(maxb, 0x102);
    HIL_ASSERT_OK(hil_uds_transfer_data(a, 1, img, 256));
    HIL_ASSERT_OK(hil_uds_transfer_data(a, 1, img, 256)); /* a repeated block is accepted */
    HIL_EXPECT_EQ(hil_uds_transfer_data(a, 3, img, 256), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x73);
    HIL_EXPECT_EQ(hil_uds_transfer_data(a, 2, img, 300), HIL_ERR_PROTOCOL); /* longer than maxNumberOfBlockLength */
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x13);
    HIL_ASSERT_OK(hil_uds_transfer_data(a, 2, img, 256));
    HIL_EXPECT_EQ(hil_uds_transfer_exit(a), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x24);
    HIL_ASSERT_OK(hil_uds_routine(a, HIL_UDS_ROUTINE_START, 0xFF01, NULL, 0, st, sizeof st, &n));
    HIL_EXPECT_EQ(st[0], 1);
    HIL_EXPECT_EQ(hil_uds_request_download(a, 0, 0x08000000, 16, 4, 4, &maxb), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x22); /* one still open */
    free(img);
    hil_aux_destroy(a);
}

HIL_TEST(uds, timeouts) {
    static const char* const fast[] = {"margin_ms=50", "p2_star_ms=300", "pending_max=5", NULL};
    static const char* const total[] = {"margin_ms=50", "pending_total_ms=250", NULL};
    hil_aux* a;
    hil_uds_value v;
    uint64_t t0;
    hil_uds_stats s;
    a = start_uds("uds_silent", "--mode silent", fast);
    t0 = hil_now_ns();
    HIL_EXPECT_EQ(hil_uds_read(a, "vin", &v), HIL_ERR_TIMEOUT);
    HIL_EXPECT_GE((hil_now_ns() - t0) / 1000000u, 100u); /* P2 50 + margin 50 */
    HIL_EXPECT(strstr(hil_last_error(), "no answer within P2 (50 ms + margin 50 ms)") != NULL, "%s", hil_last_error());
    hil_aux_destroy(a);
    a = start_uds("uds_pending", "--mode pending --pending-ms 20", fast);
    HIL_EXPECT_EQ(hil_uds_read(a, "vin", &v), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "pending_max = 5") != NULL, "%s", hil_last_error());
    hil_uds_get_stats(a, &s);
    HIL_EXPECT_EQ(s.pending, 6);
    hil_aux_destroy(a);
    a = start_uds("uds_pending_total", "--mode pending --pending-ms 20", total);
    HIL_EXPECT_EQ(hil_uds_read(a, "vin", &v), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "pending_total_ms") != NULL, "%s", hil_last_error());
    hil_aux_destroy(a);
    a = start_uds("uds_pending_once", "--mode pending-once", fast);
    HIL_EXPECT_EQ(hil_uds_read(a, "vin", &v), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "P2* (300 ms") != NULL, "%s", hil_last_error());
    hil_aux_destroy(a);
}

HIL_TEST(uds, bad_configuration) {
    hil_aux_config c;
    hil_aux* a = NULL;
    hil_channel* ch = NULL;
    hil_channel_config cc;
    static const char* const bad_did[] = {"dids=vin 0xF190 asci 17", NULL};
    static const char* const bad_sec[] = {"security=1:nobody", NULL};
    hil_channel_config_init(&cc);
    cc.name = "uds_badcfg";
    cc.type = "loopback";
    HIL_ASSERT_OK(hil_channel_create(&cc, &ch));
    hil_aux_config_init(&c);
    c.name = "uds_badcfg";
    c.type = "uds";
    c.com = ch;
    c.options = bad_did;
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "unknown type 'asci'") != NULL, "%s", hil_last_error());
    HIL_ASSERT_OK(hil_channel_create(&cc, &ch));
    c.com = ch;
    c.options = bad_sec;
    HIL_EXPECT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "no key function 'nobody'") != NULL, "%s", hil_last_error());
}

HIL_TEST(uds, flasher_programs_the_simulator) {
    hil_aux* a = start_uds("uds_flash", NULL, NULL);
    hil_flasher_config fc;
    hil_flasher* f;
    const char* opts[] = {"auxiliary=uds_flash", "bin_address=0x08010000", "sessions=0x03 0x02", "control_dtc_off=true", NULL};
    const char* path = st_path("app.bin");
    unsigned char img[5000];
    hil_uds_value v;
    FILE* fp;
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < sizeof img; i++) img[i] = (unsigned char)(i ^ (i >> 3));
    for (i = 0; i < sizeof img; i++) {
        crc ^= img[i];
        for (k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    crc ^= 0xFFFFFFFFu;
    fp = fopen(path, "wb");
    HIL_ASSERT(fp != NULL);
    HIL_ASSERT_EQ(fwrite(img, 1, sizeof img, fp), sizeof img);
    fclose(fp);
    hil_flasher_config_init(&fc);
    fc.name = "ecu";
    fc.type = "uds";
    fc.options = opts;
    HIL_ASSERT_OK(hil_flasher_create(&fc, &f));
    HIL_ASSERT_OK(hil_flasher_flash(f, path, -1));
    HIL_EXPECT(strstr(hil_flasher_output(f), "download 5000 bytes to 0x8010000: ok") != NULL, "%s", hil_flasher_output(f));
    HIL_EXPECT(strstr(hil_flasher_output(f), "ECU reset: ok") != NULL, "%s", hil_flasher_output(f));
    HIL_ASSERT_OK(hil_uds_read(a, "dl_crc", &v));
    HIL_EXPECT_EQ(v.u, crc);
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 1); /* reset at the end */
    /* an image outside the ECU's memory: the erase routine says requestOutOfRange */
    hil_flasher_destroy(f);
    opts[1] = "bin_address=0x20000000";
    HIL_ASSERT_OK(hil_flasher_create(&fc, &f));
    HIL_EXPECT_EQ(hil_flasher_flash(f, path, -1), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "erase 0x20000000") != NULL && strstr(hil_last_error(), "requestOutOfRange") != NULL,
               "%s", hil_last_error());
    hil_flasher_destroy(f);
    hil_aux_destroy(a);
}

/* docs/uds.md's example program (extracted by make doc-examples) against
 * the simulator, with the configuration the page shows. */
HIL_TEST(uds, doc_example_runs) {
    char ex[512], conf[1200];
    const char* path = st_path("ecu.conf");
    FILE* fp;
    st_result r;
    const char* argv[5];
    snprintf(ex, sizeof ex, "%s/doc-examples/uds_ecu_test", st_build_dir());
    if (access(ex, X_OK) != 0) HIL_FAIL("%s is missing: run make (it extracts docs/*.md examples)", ex);
    snprintf(conf, sizeof conf,
             "connectors.ecu.type = process\n"
             "connectors.ecu.command = %s --stdio\n"
             "connectors.ecu.framing = length\n"
             "auxiliaries.diag.type = uds\n"
             "auxiliaries.diag.connectors.com = ecu\n"
             "auxiliaries.diag.dids = vin 0xF190 ascii 17; temp 0x0101 s16 scale=0.1 unit=degC; config 0x0102 u16\n"
             "auxiliaries.diag.security = 1:sim_key\n"
             "auxiliaries.diag.margin_ms = 1000\n", sim_path());
    fp = fopen(path, "w");
    HIL_ASSERT(fp != NULL);
    fputs(conf, fp);
    fclose(fp);
    argv[0] = ex;
    argv[1] = "-c";
    argv[2] = path;
    argv[3] = NULL;
    st_run(argv, NULL, 30000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "2 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
}

#endif
