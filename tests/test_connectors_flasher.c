/* Flashers: the command flasher with real programs as the flashing tool
 * (cp, and small shell scripts standing for openocd & co.): {image}
 * substitution without a shell, output into the log, exit status, signal,
 * timeout and patterns mapped to results; a flasher type from user code. */
#include "selftest.h"
#include <pthread.h>
#include <time.h>

HIL_SUITE(flasher, "tags=connectors")

static hil_flasher* make_flasher(const char* name, const char* const* opts) {
    hil_flasher_config c;
    hil_flasher* f = NULL;
    hil_flasher_config_init(&c);
    c.name = name;
    c.type = "command";
    c.options = opts;
    HIL_ASSERT_OK(hil_flasher_create(&c, &f));
    return f;
}

/* An executable script in the test's directory. */
static const char* script(const char* name, const char* body) {
    const char* path = st_path(name);
    char text[2048];
    snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
    HIL_ASSERT_OK(hil_write_file_atomic(path, text, strlen(text)));
    HIL_ASSERT_EQ(chmod(path, 0755), 0);
    return path;
}

static const char* image(const char* name, const char* content) {
    const char* path = st_path(name);
    HIL_ASSERT_OK(hil_write_file_atomic(path, content, strlen(content)));
    return path;
}

HIL_TEST(flasher, cp_as_the_flasher_copies_the_image) {
    char cmd[1200];
    const char* opts[2];
    const char* fw = image("fw.bin", "firmware v1");
    hil_flasher* f;
    char* got;
    snprintf(cmd, sizeof cmd, "command=cp {image} '%s'", st_path("flashed.bin"));
    opts[0] = cmd;
    opts[1] = NULL;
    f = make_flasher("board", opts);
    HIL_EXPECT_STREQ(hil_flasher_name(f), "board");
    HIL_ASSERT_OK(hil_flasher_flash(f, fw, -1));
    got = st_read(st_path("flashed.bin"));
    HIL_EXPECT_STREQ(got, "firmware v1");
    free(got);
    hil_flasher_destroy(f);
}

HIL_TEST(flasher, the_image_is_one_argument_whatever_its_name) {
    /* no shell: spaces, quotes and $ in the path stay inside one argument */
    const char* tool = script("args.sh", "echo \"argc=$#\"; for a in \"$@\"; do echo \"arg=[$a]\"; done");
    const char* fw = image("my fw $HOME 'x'.bin", "x");
    char cmd[1200], want[1200];
    const char* opts[2];
    hil_flasher* f;
    snprintf(cmd, sizeof cmd, "command=%s --name={name} \"program {image} verify\"", tool);
    opts[0] = cmd;
    opts[1] = NULL;
    f = make_flasher("jlink", opts);
    HIL_ASSERT_OK(hil_flasher_flash(f, fw, 5000));
    HIL_EXPECT(strstr(hil_flasher_output(f), "argc=2\n"), "%s", hil_flasher_output(f));
    HIL_EXPECT(strstr(hil_flasher_output(f), "arg=[--name=jlink]\n"), "%s", hil_flasher_output(f));
    snprintf(want, sizeof want, "arg=[program %s verify]\n", fw);
    HIL_EXPECT(strstr(hil_flasher_output(f), want), "want %s in %s", want, hil_flasher_output(f));
    hil_flasher_destroy(f);
}

/* Log records of the flasher's logger, from any thread. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static hil_strbuf log_text;
static void collect_log(const hil_log_record* rec, void* user) {
    (void)user;
    if (strcmp(rec->logger, "hil.flash.stm32") != 0) return;
    pthread_mutex_lock(&log_mu);
    hil_sb_printf(&log_text, "%s: %s\n", hil_log_level_str(rec->level), rec->message);
    pthread_mutex_unlock(&log_mu);
}

HIL_TEST(flasher, output_goes_to_the_log_and_exit_status_to_the_result) {
    const char* tool = script("fail.sh", "echo 'erasing sector 0'; echo 'writing 4096 bytes' >&2; "
                                         "echo 'Error: target voltage low'; exit 3");
    const char* fw = image("fw.hex", ":00000001FF");
    char cmd[1200];
    const char* opts[2];
    hil_flasher* f;
    hil_result r;
    snprintf(cmd, sizeof cmd, "command=%s {image}", tool);
    opts[0] = cmd;
    opts[1] = NULL;
    f = make_flasher("stm32", opts);
    hil_sb_clear(&log_text);
    hil_log_set_callback(collect_log, NULL);
    r = hil_flasher_flash(f, fw, 5000);
    hil_log_set_callback(NULL, NULL);
    HIL_EXPECT_EQ(r, HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "flasher 'stm32': '") && strstr(hil_last_error(), "fail.sh' exited with status 3 after") &&
               strstr(hil_last_error(), "last output: erasing sector 0|writing 4096 bytes|Error: target voltage low"),
               "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_sb_cstr(&log_text), "info: erasing sector 0\n") &&
               strstr(hil_sb_cstr(&log_text), "info: writing 4096 bytes\n"), "%s", hil_sb_cstr(&log_text));
    HIL_EXPECT(strstr(hil_sb_cstr(&log_text), "flashing ") != NULL, "%s", hil_sb_cstr(&log_text));
    hil_sb_free(&log_text);
    hil_flasher_destroy(f);
}

HIL_TEST(flasher, a_crash_a_timeout_and_a_missing_program) {
    const char* crash = script("crash.sh", "echo 'connecting'; kill -SEGV $$");
    const char* slow = script("slow.sh", "echo 'waiting for the probe'; exec sleep 30");
    const char* fw = image("fw.bin", "x");
    char cmd[1200];
    const char* opts[3];
    hil_flasher* f;
    uint64_t t0;
    opts[1] = NULL;
    snprintf(cmd, sizeof cmd, "command=%s", crash);
    opts[0] = cmd;
    f = make_flasher("probe", opts);
    HIL_EXPECT_EQ(hil_flasher_flash(f, fw, 5000), HIL_ERR_CRASHED);
    HIL_EXPECT(strstr(hil_last_error(), "was killed by SIGSEGV") && strstr(hil_last_error(), "last output: connecting"),
               "%s", hil_last_error());
    hil_flasher_destroy(f);

    snprintf(cmd, sizeof cmd, "command=%s {image}", slow);
    opts[0] = cmd;
    opts[1] = "timeout_ms=300";
    opts[2] = NULL;
    f = make_flasher("probe", opts);
    t0 = hil_now_ns();
    HIL_EXPECT_EQ(hil_flasher_flash(f, fw, -1), HIL_ERR_TIMEOUT, "the configured timeout applies");
    HIL_EXPECT(strstr(hil_last_error(), "did not finish within 300 ms and was killed; last output: waiting for the probe"),
               "%s", hil_last_error());
    HIL_EXPECT_LT(hil_now_ns() - t0, 5000000000ull, "killed, not waited for");
    hil_flasher_destroy(f);

    opts[0] = "command=no-such-flasher-tool --write {image}";
    opts[1] = NULL;
    f = make_flasher("probe", opts);
    HIL_EXPECT_EQ(hil_flasher_flash(f, fw, 5000), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "flasher 'probe': cannot run 'no-such-flasher-tool': No such file or directory "
                                        "(is it installed and on PATH?)"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_flasher_flash(f, st_path("missing.bin"), 5000), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "missing.bin: No such file or directory"), "%s", hil_last_error());
    hil_flasher_destroy(f);
}

HIL_TEST(flasher, patterns_catch_tools_that_exit_0_on_failure) {
    const char* liar = script("jlink.sh", "echo 'Connecting to target...'; echo 'ERROR: Could not connect'; exit 0");
    const char* fw = image("fw.bin", "x");
    char cmd[1200];
    const char* opts[3];
    hil_flasher* f;
    snprintf(cmd, sizeof cmd, "command=%s", liar);
    opts[0] = cmd;
    opts[1] = "fail_pattern=FAILED|ERROR";
    opts[2] = NULL;
    f = make_flasher("jlink", opts);
    HIL_EXPECT_EQ(hil_flasher_flash(f, fw, 5000), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "exited with status 0 but its output contains 'ERROR' (fail_pattern)"), "%s",
               hil_last_error());
    hil_flasher_destroy(f);
    opts[1] = "success_pattern=Verified OK";
    f = make_flasher("jlink", opts);
    HIL_EXPECT_EQ(hil_flasher_flash(f, fw, 5000), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "'Verified OK' (success_pattern) is not in its output"), "%s", hil_last_error());
    hil_flasher_destroy(f);
}

HIL_TEST(flasher, configuration_errors_name_the_key) {
    hil_config* cfg;
    hil_flasher_config c;
    hil_flasher* f = NULL;
    HIL_ASSERT_OK(hil_config_create(&cfg));
    hil_flasher_config_init(&c);
    c.name = "board";
    c.config = cfg;
    HIL_EXPECT_EQ(hil_flasher_create(&c, &f), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "set flashers.board.type"), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_config_set(cfg, "flashers.board.type", "teleport", 10, "lab.conf:1"));
    HIL_EXPECT_EQ(hil_flasher_create(&c, &f), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "unknown type 'teleport' (registered: command"), "%s", hil_last_error());
    hil_config_unset(cfg, "flashers.board.type");
    HIL_ASSERT_OK(hil_config_set(cfg, "flashers.board.type", "command", 10, "lab.conf:1"));
    HIL_EXPECT_EQ(hil_flasher_create(&c, &f), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "no command: set flashers.board.command"), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_config_set(cfg, "flashers.board.command", "st-flash write {image} 0x8000000", 10, "lab.conf:2"));
    HIL_ASSERT_OK(hil_config_set(cfg, "flashers.board.timeout_ms", "soon", 10, "lab.conf:3"));
    HIL_EXPECT_EQ(hil_flasher_create(&c, &f), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option timeout_ms: expected an integer, got 'soon' (lab.conf:3)"), "%s",
               hil_last_error());
    hil_config_unset(cfg, "flashers.board.timeout_ms");
    HIL_ASSERT_OK(hil_config_set(cfg, "flashers.board.speed", "4000", 10, "lab.conf:4"));
    HIL_EXPECT_EQ(hil_flasher_create(&c, &f), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "not an option of type 'command': flashers.board.speed (lab.conf:4); its options "
                                        "are: type, command, timeout_ms"), "%s", hil_last_error());
    hil_config_unset(cfg, "flashers.board.speed");
    HIL_ASSERT_OK(hil_flasher_create(&c, &f));
    hil_flasher_destroy(f);
    hil_config_destroy(cfg);
}

/* A flasher type from user code: no header edited. */
typedef struct fake_flash { int count; } fake_flash;
static hil_result fake_flash_run(hil_flasher* f, const char* img, int timeout_ms) {
    fake_flash* s = (fake_flash*)hil_flasher_state(f);
    (void)timeout_ms;
    s->count++;
    hil_flasher_add_output(f, "programmed\n", 11);
    if (strstr(img, "bad")) return hil_flasher_error(f, HIL_ERR_CHECKSUM, "verify failed at 0x08000400");
    return HIL_OK;
}
static const hil_channel_opt fake_flash_opts[] = {
    {"probe", HIL_OPT_STRING, NULL, "fake: the probe's serial", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}};
static const hil_flasher_type fake_flash_type = {
    "test_fake", "counts its flashes", sizeof(fake_flash), fake_flash_opts, NULL, fake_flash_run, NULL};

HIL_TEST(flasher, user_code_registers_a_flasher_type) {
    hil_flasher_config c;
    hil_flasher* f;
    const char* opts[] = {"probe=000123", NULL};
    HIL_ASSERT_OK(hil_flasher_type_register(&fake_flash_type));
    HIL_EXPECT(hil_flasher_type_find("test_fake") == &fake_flash_type);
    hil_flasher_config_init(&c);
    c.name = "fake";
    c.type = "test_fake";
    c.options = opts;
    HIL_ASSERT_OK(hil_flasher_create(&c, &f));
    HIL_EXPECT_STREQ(hil_flasher_opt_str(f, "probe", NULL), "000123");
    HIL_ASSERT_OK(hil_flasher_flash(f, "good.bin", 1000));
    HIL_EXPECT_STREQ(hil_flasher_output(f), "programmed\n");
    HIL_EXPECT_EQ(hil_flasher_flash(f, "bad.bin", 1000), HIL_ERR_CHECKSUM);
    HIL_EXPECT(strstr(hil_last_error(), "flasher 'fake': verify failed at 0x08000400"), "%s", hil_last_error());
    HIL_EXPECT_EQ(((fake_flash*)hil_flasher_state(f))->count, 2);
    hil_flasher_destroy(f);
}
