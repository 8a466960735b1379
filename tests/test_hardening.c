/* Regression tests for defects a coverage-guided fuzzer and a review found
 * (issue 14): a torn duration history, YAML nesting, ${...} expansion that
 * grows without bound, a TLV copied into a buffer of size 0, !include of a
 * device or FIFO. Each test failed before its fix (the history one under
 * ASan as a heap-buffer-overflow read, and without ASan by losing the lines
 * after the torn one). */
#include "selftest.h"

#include <fcntl.h>
#include <pthread.h>

HIL_SUITE(hardening, "tags=core")

/* ---- 1. the duration history ------------------------------------------------------- */

HIL_TEST(hardening, a_torn_history_loads_its_whole_lines_and_names_the_first_bad_one) {
    /* "abcdefg" and its NUL fill the string pool's first 8 bytes exactly;
     * "abcdefg" and 16 NULs hashes to its slot: the lookup compared them with
     * strncmp, then read byte 23 of the 8-byte pool. A crash or power loss
     * leaves a run of NULs at the end of the file. */
    static const char torn[] = "# hil-sched-history 1\n"
                               "100 1 abcdefg\n"
                               "200 2 abcdefg\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\n"
                               "300 3 whole\n"
                               "\0\0\0\0\0\0\0\0";
    hil_sched_history* h = NULL;
    size_t bad = 0;
    int64_t ema = 0;
    uint32_t count = 0;
    HIL_ASSERT_OK(hil_sched_history_create(0, &h));
    HIL_EXPECT_EQ(hil_sched_history_parse(h, torn, sizeof torn - 1, &bad), HIL_ERR_INVALID_ARG);
    HIL_EXPECT_EQ(bad, 3, "the first line that is not whole");
    HIL_EXPECT(strstr(hil_last_error(), "line 3") && strstr(hil_last_error(), "skipped"), "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "2 lines"), "the count of skipped lines: %s", hil_last_error());
    HIL_EXPECT_EQ(hil_sched_history_lookup(h, "abcdefg", &ema, &count), HIL_OK);
    HIL_EXPECT(ema == 100 && count == 1, "the whole line before it stays: %lld %u", (long long)ema, count);
    HIL_EXPECT_EQ(hil_sched_history_lookup(h, "whole", &ema, &count), HIL_OK, "the whole line after it is loaded");
    HIL_EXPECT(ema == 300 && count == 3, "%lld %u", (long long)ema, count);
    HIL_EXPECT_EQ(hil_sched_history_count(h), 2);
    hil_sched_history_destroy(h);
}

HIL_TEST(hardening, a_history_without_its_header_loads_nothing) {
    static const char text[] = "100 1 abc\n200 2 def\n";
    hil_sched_history* h = NULL;
    size_t bad = 0;
    HIL_ASSERT_OK(hil_sched_history_create(0, &h));
    HIL_EXPECT_EQ(hil_sched_history_parse(h, text, sizeof text - 1, &bad), HIL_ERR_INVALID_ARG);
    HIL_EXPECT_EQ(bad, 1);
    HIL_EXPECT_EQ(hil_sched_history_count(h), 0, "not a history file: nothing of it is taken");
    hil_sched_history_destroy(h);
}

/* ---- 2. YAML nesting ----------------------------------------------------------------- */

#ifdef HIL_HAVE_LIBYAML
/* "k: [[[...]]]": levels open collections, the top mapping included. */
static char* nested_yaml(int levels) {
    size_t n = (size_t)levels - 1, i;
    char* s = (char*)malloc(2 * n + 8);
    char* p = s;
    memcpy(p, "k: ", 3);
    p += 3;
    for (i = 0; i < n; i++) *p++ = '[';
    for (i = 0; i < n; i++) *p++ = ']';
    *p++ = '\n';
    *p = 0;
    return s;
}

typedef struct yaml_job { const char* text; hil_result r; char err[512]; } yaml_job;

static void* load_yaml_job(void* arg) {
    yaml_job* j = (yaml_job*)arg;
    hil_config* c = NULL;
    if (hil_config_create(&c) != HIL_OK) { j->r = HIL_ERR_NO_MEMORY; return NULL; }
    j->r = hil_config_load_yaml(c, j->text, "deep.yaml", 10);
    snprintf(j->err, sizeof j->err, "%s", hil_last_error());
    hil_config_destroy(c);
    return NULL;
}
#endif

HIL_TEST(hardening, yaml_nesting_has_a_limit_with_a_clear_error) {
#ifndef HIL_HAVE_LIBYAML
    HIL_SKIP("built without libyaml (apt-get install libyaml-dev, then rebuild)");
#else
    hil_config* c = NULL;
    char* ok = nested_yaml(HIL_CONFIG_MAX_NESTING);
    char* over = nested_yaml(HIL_CONFIG_MAX_NESTING + 1);
    char* deep = nested_yaml(100000); /* a 200 KB file: it overflowed an 8 MB stack at ~660 */
    char want[64];
    HIL_ASSERT_OK(hil_config_create(&c));
    HIL_EXPECT_OK(hil_config_load_yaml(c, ok, "deep.yaml", 10), "at the limit");
    HIL_EXPECT_EQ(hil_config_load_yaml(c, over, "deep.yaml", 10), HIL_ERR_CONFIG);
    snprintf(want, sizeof want, "deep.yaml:1:%d: ", 3 + HIL_CONFIG_MAX_NESTING); /* the bracket past it */
    HIL_EXPECT(strstr(hil_last_error(), want), "no '%s' in: %s", want, hil_last_error());
    snprintf(want, sizeof want, "nested deeper than %d levels", HIL_CONFIG_MAX_NESTING);
    HIL_EXPECT(strstr(hil_last_error(), want), "no '%s' in: %s", want, hil_last_error());
    HIL_EXPECT_EQ(hil_config_load_yaml(c, deep, "deep.yaml", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), want), "%s", hil_last_error());
    hil_config_destroy(c);
    free(ok);
    free(over);
    free(deep);
#endif
}

#ifdef HIL_HAVE_LIBYAML
/* The stack a load of nested_yaml(levels) used: a thread on a stack of our
 * own, painted before and searched after for the deepest byte written. */
static size_t yaml_stack_use(int levels, yaml_job* j) {
    size_t size = 8u << 20, i;
    unsigned char* mem = (unsigned char*)malloc(size);
    char* text = nested_yaml(levels);
    pthread_attr_t a;
    pthread_t t;
    memset(mem, 0xA5, size);
    memset(j, 0, sizeof *j);
    j->text = text;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, mem, size);
    if (pthread_create(&t, &a, load_yaml_job, j) == 0) pthread_join(t, NULL);
    pthread_attr_destroy(&a);
    for (i = 0; i < size && mem[i] == 0xA5; i++) continue; /* the stack grows down */
    free(mem);
    free(text);
    return size - i;
}
#endif

HIL_TEST(hardening, yaml_nesting_costs_little_stack_per_level) {
#ifndef HIL_HAVE_LIBYAML
    HIL_SKIP("built without libyaml (apt-get install libyaml-dev, then rebuild)");
#else
    /* A level cost ~12.7 KB with clang -O2 (the !include and message buffers
     * were inlined into the recursive frames), ~1.3 KB with gcc -O2 (the key
     * buffers); now the frames hold no buffers (a few hundred bytes, more
     * under the sanitizers). */
    yaml_job j8, j64;
    size_t at8 = yaml_stack_use(8, &j8), at64 = yaml_stack_use(HIL_CONFIG_MAX_NESTING, &j64), per_level;
    HIL_ASSERT_OK(j8.r, "%s", j8.err);
    HIL_ASSERT_OK(j64.r, "%s", j64.err);
    per_level = at64 > at8 ? (at64 - at8) / (size_t)(HIL_CONFIG_MAX_NESTING - 8) : 0;
    HIL_INFO("hil.test", "YAML nesting: %zu bytes of stack at 8 levels, %zu at %d: %zu a level", at8, at64,
                 HIL_CONFIG_MAX_NESTING, per_level);
    HIL_EXPECT(per_level > 0 && per_level <= 1024, "%zu bytes of stack a level (8 levels: %zu, %d: %zu)", per_level,
               at8, HIL_CONFIG_MAX_NESTING, at64);
#endif
}

/* ---- 3. ${...} expansion ----------------------------------------------------------------- */

HIL_FRAMEWORK_EXTENSION(hardening_test_options) {
    static char keys[2][16][24];
    int i, j;
    ext->description = "Options for the hardening self-tests";
    ext->load_order = 900;
    for (i = 0; i < 2; i++)
        for (j = 0; j < 16; j++) {
            snprintf(keys[i][j], sizeof keys[i][j], "hard.%c%d", i ? 'e' : 'l', j);
            hil_ext_option(ext, keys[i][j], HIL_OPT_STRING, NULL, "for reference expansion");
        }
}

/* "${hard.<x><n-1>}" fan times, between prefix and suffix */
static void set_refs(hil_config* c, char x, int n, int fan, const char* prefix, const char* suffix) {
    char key[32], val[1024];
    int k;
    size_t len = (size_t)snprintf(val, sizeof val, "%s", prefix);
    for (k = 0; k < fan; k++) len += (size_t)snprintf(val + len, sizeof val - len, "${hard.%c%d}", x, n - 1);
    snprintf(val + len, sizeof val - len, "%s", suffix);
    snprintf(key, sizeof key, "hard.%c%d", x, n);
    HIL_ASSERT_OK(hil_config_set(c, key, val, 10, "refs.conf:1"));
}

HIL_TEST(hardening, an_expansion_past_the_size_limit_is_an_error_naming_the_key) {
    hil_config* c = NULL;
    char x[1025];
    const char* v;
    char want[128];
    int i;
    memset(x, 'x', 1024);
    x[1024] = 0;
    HIL_ASSERT_OK(hil_config_create(&c));
    HIL_ASSERT_OK(hil_config_set(c, "hard.l0", x, 10, "refs.conf:1"));
    /* 1 KiB, 16 KiB, 256 KiB, 4 MiB: the last is over the limit */
    for (i = 1; i <= 3; i++) set_refs(c, 'l', i, 16, "", "");
    v = hil_config_get(c, "hard.l2", NULL);
    HIL_EXPECT(v && strlen(v) == 256 * 1024, "256 KiB is under the limit: %zu", v ? strlen(v) : 0);
    v = hil_config_get(c, "hard.l3", NULL);
    HIL_EXPECT(v && strncmp(v, "${hard.l2}", 10) == 0, "over the limit: the raw value, not %zu bytes",
               v ? strlen(v) : 0);
    snprintf(want, sizeof want, "'hard.l3' expands to more than %d bytes", HIL_CONFIG_MAX_EXPANDED);
    HIL_EXPECT(strstr(hil_last_error(), want), "no \"%s\" in: %s", want, hil_last_error());
    /* the start-up check reports it with where the value was set */
    HIL_EXPECT_EQ(hil_config_validate(c), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "refs.conf:1: hard.l3: ") && strstr(hil_last_error(), want), "%s",
               hil_last_error());
    hil_config_destroy(c);
}

HIL_TEST_META(hardening, each_reference_is_expanded_once_per_lookup, "timeout=20") {
    /* Empty values, fan-out 8 over 15 levels: 8^15 expansions without a
     * memo (the lookup never returned), 15 with one. */
    hil_config* c = NULL;
    int i;
    HIL_ASSERT_OK(hil_config_create(&c));
    HIL_ASSERT_OK(hil_config_set(c, "hard.e0", "", 10, "refs.conf:1"));
    for (i = 1; i < 15; i++) set_refs(c, 'e', i, 8, "", "");
    set_refs(c, 'e', 15, 8, "[", "]");
    HIL_EXPECT_STREQ(hil_config_get(c, "hard.e15", NULL), "[]");
    HIL_EXPECT_OK(hil_config_validate(c));
    /* a cycle behind a memoized reference is still found */
    HIL_ASSERT_OK(hil_config_set(c, "hard.l0", "${hard.l1}${hard.l1}", 10, "refs.conf:2"));
    HIL_ASSERT_OK(hil_config_set(c, "hard.l1", "${hard.l2}", 10, "refs.conf:3"));
    HIL_ASSERT_OK(hil_config_set(c, "hard.l2", "${hard.l1}", 10, "refs.conf:4"));
    HIL_EXPECT_STREQ(hil_config_get(c, "hard.l0", NULL), "${hard.l1}${hard.l1}");
    HIL_EXPECT(strstr(hil_last_error(), "reference cycle ${hard.l1} -> ${hard.l2} -> ${hard.l1}"), "%s",
               hil_last_error());
    hil_config_destroy(c);
}

/* ---- 4. testApp TLV text ------------------------------------------------------------------- */

HIL_TEST(hardening, a_tlv_copied_into_a_buffer_of_size_0_writes_nothing) {
    hil_tapp_msg m;
    char area[32], want[32];
    memset(&m, 0, sizeof m);
    HIL_ASSERT_OK(hil_tapp_add_tlv(&m, HIL_TAPP_TLV_FAILURE_REASON, "failure", 7));
    memset(area, 'G', sizeof area);
    memset(want, 'G', sizeof want);
    HIL_EXPECT_EQ(hil_tapp_tlv_text(&m, HIL_TAPP_TLV_FAILURE_REASON, area, 0), 1, "the TLV is there");
    HIL_EXPECT(memcmp(area, want, sizeof area) == 0, "size 0: not a byte written (got '%.8s')", area);
    HIL_EXPECT_EQ(hil_tapp_tlv_text(&m, HIL_TAPP_TLV_TEST_REPORT, area, 0), 0, "no such TLV");
    HIL_EXPECT(memcmp(area, want, sizeof area) == 0, "size 0 and no TLV: not a byte written");
    HIL_EXPECT_EQ(hil_tapp_tlv_text(&m, HIL_TAPP_TLV_FAILURE_REASON, area, 4), 1);
    HIL_EXPECT_STREQ(area, "fai", "cut to the size, NUL included");
}

/* ---- 5. !include of something that is not a regular file --------------------------------- */

HIL_TEST_META(hardening, an_include_of_a_fifo_or_device_is_an_error, "timeout=20") {
#ifndef HIL_HAVE_LIBYAML
    HIL_SKIP("built without libyaml (apt-get install libyaml-dev, then rebuild)");
#else
    hil_config* c = NULL;
    const char* fifo = st_path("pipe.yaml");
    char yaml[1400];
    HIL_ASSERT_OK(hil_config_create(&c));
    /* a FIFO nobody writes: open() alone blocked forever */
    HIL_ASSERT_EQ(mkfifo(fifo, 0600), 0, "mkfifo %s: %s", fifo, strerror(errno));
    snprintf(yaml, sizeof yaml, "t:\n  x: !include %s\n", fifo);
    HIL_EXPECT_EQ(hil_config_load_yaml(c, yaml, "lab.yaml", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "lab.yaml:2:") && strstr(hil_last_error(), fifo) &&
                   strstr(hil_last_error(), "not a regular file"),
               "%s", hil_last_error());
    /* a device that never ends: reading it filled memory */
    HIL_EXPECT_EQ(hil_config_load_yaml(c, "t:\n  x: !include /dev/zero\n", "lab.yaml", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "/dev/zero") && strstr(hil_last_error(), "not a regular file"), "%s",
               hil_last_error());
    hil_config_destroy(c);
#endif
}

HIL_TEST(hardening, an_include_or_config_file_past_the_size_limit_is_an_error) {
    hil_config* c = NULL;
    const char* big = st_path("big.yaml");
    char yaml[1400], want[64];
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    HIL_ASSERT(fd >= 0, "%s: %s", big, strerror(errno));
    HIL_ASSERT_EQ(ftruncate(fd, (off_t)HIL_CONFIG_MAX_FILE + 1), 0); /* sparse: no disk used */
    close(fd);
    HIL_ASSERT_OK(hil_config_create(&c));
    snprintf(want, sizeof want, "larger than %d MiB", HIL_CONFIG_MAX_FILE >> 20);
    /* a device as the configuration file itself (-c /dev/zero) */
    HIL_EXPECT_EQ(hil_config_load_file(c, "/dev/zero", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "/dev/zero") && strstr(hil_last_error(), want), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_config_load_file(c, big, 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), big) && strstr(hil_last_error(), want), "%s", hil_last_error());
#ifdef HIL_HAVE_LIBYAML
    snprintf(yaml, sizeof yaml, "t:\n  x: !include %s\n", big);
    HIL_EXPECT_EQ(hil_config_load_yaml(c, yaml, "lab.yaml", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "lab.yaml:2:") && strstr(hil_last_error(), big) &&
                   strstr(hil_last_error(), want),
               "%s", hil_last_error());
#else
    (void)yaml;
#endif
    hil_config_destroy(c);
    unlink(big);
}
