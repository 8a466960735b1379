/* hil_console.h: expect on real channels (programs behind a process
 * channel, a shell on a real pseudo-terminal through script(1)), and the
 * shell auxiliary against /bin/sh and busybox sh: output, exit statuses,
 * echo, login, autoboot, and the faults (no prompt, binary garbage, a
 * line longer than the buffer, the channel closing mid-command). */
#include "selftest.h"

HIL_SUITE(console, "tags=console")
HIL_SUITE(shell, "tags=console")

/* A process channel running argv-like `command` (split like a shell would). */
static hil_channel* proc(const char* name, const char* command) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char cmd[1200];
    const char* opts[4];
    snprintf(cmd, sizeof cmd, "command=%s", command);
    opts[0] = cmd;
    opts[1] = "stderr=stdout"; /* an interactive sh prints its prompt on stderr */
    opts[2] = "env=PS1='hil$ ' LC_ALL=C";
    opts[3] = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "process";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    return ch;
}

static hil_console* console_on(hil_channel* ch, size_t max_buffer) {
    hil_console_config cc;
    hil_console* con = NULL;
    hil_console_config_init(&cc);
    cc.own_channel = 1;
    if (max_buffer) cc.max_buffer = max_buffer;
    HIL_ASSERT_OK(hil_console_create(ch, &cc, &con));
    return con;
}

/* ---- expect ------------------------------------------------------------------------ */

HIL_TEST(console, matches_a_prompt_split_across_chunks_and_without_newline) {
    /* two writes 100 ms apart: "uart:" and "~$ " arrive as separate chunks */
    hil_console* con =
        console_on(proc("split", "/bin/sh -c \"printf 'boot ok\\nuart:'; sleep 0.1; printf '~$ '; sleep 5\""), 0);
    hil_expect_match m;
    uint64_t rx = 0;
    HIL_ASSERT_OK(hil_expect(con, "uart:~\\$ $", 3000, &m));
    HIL_EXPECT_STREQ(m.text, "uart:~$ ");
    HIL_EXPECT_STREQ(m.before, "boot ok\n");
    HIL_EXPECT_EQ(m.index, 0);
    hil_console_counts(con, &rx, NULL);
    HIL_EXPECT_EQ(rx, 16);
    hil_console_destroy(con);
}

HIL_TEST(console, capture_groups_and_several_patterns) {
    hil_console* con = console_on(
        proc("uboot", "/bin/sh -c \"printf 'U-Boot 2024.01 (Jan 08 2024)\\nDRAM: 512 MiB\\n=> '; sleep 5\""), 0);
    hil_expect_match m;
    char ver[32], month[8];
    const char* pats[] = {"login: $", "DRAM: +([0-9]+) (MiB|GiB)", "=> $"};
    HIL_ASSERT_OK(hil_expect(con, "U-Boot ([0-9]+)\\.([0-9]+) \\(([A-Z][a-z]+)", 3000, &m));
    HIL_EXPECT_EQ(m.n_groups, 4);
    HIL_EXPECT_EQ(hil_expect_group(&m, 1, ver, sizeof ver), 4);
    HIL_EXPECT_STREQ(ver, "2024");
    HIL_EXPECT_EQ(hil_expect_group(&m, 3, month, sizeof month), 3);
    HIL_EXPECT_STREQ(month, "Jan");
    HIL_EXPECT_EQ(hil_expect_group(&m, 4, month, sizeof month), -1);
    /* the earliest match wins, whatever the order of the patterns */
    HIL_ASSERT_OK(hil_expect_any(con, pats, 3, 3000, &m));
    HIL_EXPECT_EQ(m.index, 1);
    HIL_EXPECT_EQ(hil_expect_group(&m, 1, ver, sizeof ver), 3);
    HIL_EXPECT_STREQ(ver, "512");
    HIL_ASSERT_OK(hil_expect_any(con, pats, 3, 3000, &m));
    HIL_EXPECT_EQ(m.index, 2);
    HIL_EXPECT_STREQ(m.before, "\n");
    hil_console_destroy(con);
}

HIL_TEST(console, timeout_names_the_pattern_and_shows_the_last_lines_escaped) {
    /* binary garbage and an escape sequence: the message must print safely */
    hil_console* con = console_on(
        proc("garbage", "/bin/sh -c \"printf 'line one\\n\\001\\377\\033[0m junk\\n'; printf 'tail'; sleep 5\""), 0);
    hil_result r = hil_expect(con, "login: $", 300, NULL);
    const char* e = hil_last_error();
    HIL_ASSERT_EQ(r, HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(e, "console 'garbage'") != NULL, "%s", e);
    HIL_EXPECT(strstr(e, "/login: $/") != NULL, "%s", e);
    HIL_EXPECT(strstr(e, "within 300 ms") != NULL, "%s", e);
    HIL_EXPECT(strstr(e, "| line one") != NULL, "%s", e);
    HIL_EXPECT(strstr(e, "| \\x01\\xff\\x1b[0m junk") != NULL, "%s", e);
    HIL_EXPECT(strstr(e, "| tail") != NULL, "%s", e);
    {
        const char* p;
        for (p = e; *p; p++) HIL_ASSERT((*p >= 0x20 && *p < 0x7f) || *p == '\n', "unescaped byte 0x%02x", *p & 0xff);
    }
    /* the unmatched text stays for the next call */
    HIL_ASSERT_OK(hil_expect(con, "junk", 0, NULL));
    HIL_ASSERT_OK(hil_expect(con, "^tail", 0, NULL));
    hil_console_destroy(con);
}

HIL_TEST(console, a_line_longer_than_the_buffer_scrolls_into_before) {
    /* 100000 bytes without a newline, then the prompt: the buffer holds 256 */
    hil_console* con = console_on(
        proc("long", "/bin/sh -c \"head -c 100000 /dev/zero | tr '\\\\0' x; printf '\\n=> '; sleep 5\""), 256);
    hil_expect_match m;
    uint64_t rx = 0, scrolled = 0;
    size_t i, xs = 0;
    HIL_ASSERT_OK(hil_expect(con, "=> $", 5000, &m));
    for (i = 0; i < m.before_len; i++) xs += m.before[i] == 'x';
    HIL_EXPECT_EQ(xs, 100000);
    HIL_EXPECT_EQ(m.before_len, 100001);
    HIL_EXPECT_EQ(m.before_dropped, 0);
    hil_console_counts(con, &rx, &scrolled);
    HIL_EXPECT_EQ(rx, 100004);
    HIL_EXPECT_GT(scrolled, 99000);
    hil_console_destroy(con);
}

HIL_TEST(console, before_is_bounded_and_says_what_it_dropped) {
    hil_console_config cc;
    hil_console* con;
    hil_expect_match m;
    char junk[5000];
    hil_console_config_init(&cc);
    cc.max_buffer = 100;
    cc.max_before = 1000;
    HIL_ASSERT_OK(hil_console_create(NULL, &cc, &con));
    memset(junk, 'j', sizeof junk);
    hil_console_feed(con, junk, sizeof junk);
    hil_console_feed(con, "END", 3);
    HIL_ASSERT_OK(hil_expect(con, "END", 0, &m));
    HIL_EXPECT_EQ(m.before_len, 1000);
    HIL_EXPECT_EQ(m.before_dropped, 4000);
    hil_console_destroy(con);
}

HIL_TEST(console, nul_bytes_are_skipped_for_matching) {
    hil_console* con = NULL;
    hil_expect_match m;
    HIL_ASSERT_OK(hil_console_create(NULL, NULL, &con));
    hil_console_feed(con, "ab\0cd\n", 6);
    HIL_ASSERT_OK(hil_expect(con, "abcd", 0, &m));
    HIL_EXPECT_EQ(m.len, 4);
    hil_console_destroy(con);
}

HIL_TEST(console, a_bad_pattern_is_a_clear_error) {
    hil_console* con = NULL;
    HIL_ASSERT_OK(hil_console_create(NULL, NULL, &con));
    HIL_ASSERT_EQ(hil_expect(con, "([0-9]+", 0, NULL), HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "/([0-9]+/ is not a POSIX extended regex") != NULL, "%s", hil_last_error());
    hil_console_destroy(con);
}

HIL_TEST(console, the_channel_closing_while_waiting_is_an_error_with_the_last_lines) {
    hil_console* con = console_on(proc("dies", "/bin/sh -c \"printf 'Kernel panic - not syncing'\""), 0);
    hil_result r = hil_expect(con, "login: $", 5000, NULL);
    HIL_ASSERT_EQ(r, HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "the channel closed while expecting /login: $/") != NULL, "%s",
               hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "| Kernel panic - not syncing") != NULL, "%s", hil_last_error());
    hil_console_destroy(con);
}

HIL_TEST(console, send_line_uses_the_configured_line_ending) {
    hil_console_config cc;
    hil_console* con = NULL;
    hil_expect_match m;
    hil_console_config_init(&cc);
    cc.own_channel = 1;
    cc.line_ending = "\\r\\n";
    /* head takes exactly the 4 bytes of "hi\r\n", od shows them */
    HIL_ASSERT_OK(hil_console_create(proc("od", "/bin/sh -c \"head -c 4 | od -An -c\""), &cc, &con));
    HIL_ASSERT_OK(hil_send_line(con, "hi", 1000));
    HIL_ASSERT_OK(hil_expect(con, "h +i +\\\\r +\\\\n", 3000, &m));
    hil_console_destroy(con);
}

/* The transcript: every line received and sent, as log records with their time. */
typedef struct tr_log { char lines[64][200]; uint64_t t[64]; int n; } tr_log;
static void tr_capture(const hil_log_record* rec, void* user) {
    tr_log* l = (tr_log*)user;
    if (strncmp(rec->logger, "hil.console.tr", 14) != 0 || l->n >= 64) return;
    snprintf(l->lines[l->n], sizeof l->lines[0], "%s", rec->message);
    l->t[l->n++] = rec->wall_ns;
}

HIL_TEST(console, every_byte_goes_to_the_transcript_with_a_time) {
    static tr_log l;
    hil_console* con = console_on(proc("tr", "/bin/sh -c \"printf 'a\\001b\\nprompt> '; read x; echo got $x; sleep 5\""), 0);
    memset(&l, 0, sizeof l);
    hil_log_set_callback(tr_capture, &l);
    HIL_EXPECT_OK(hil_expect(con, "prompt> $", 3000, NULL));
    HIL_EXPECT_OK(hil_send_line(con, "secret-free", 1000));
    HIL_EXPECT_OK(hil_expect(con, "got secret-free", 3000, NULL));
    hil_log_set_callback(NULL, NULL);
    HIL_ASSERT_EQ(l.n, 4);
    HIL_EXPECT_STREQ(l.lines[0], "< a\\x01b");
    HIL_EXPECT_STREQ(l.lines[1], "< prompt>   (no newline yet)");
    HIL_EXPECT_STREQ(l.lines[2], "> secret-free\\n");
    HIL_EXPECT_STREQ(l.lines[3], "< got secret-free");
    HIL_EXPECT_GT(l.t[0], 0);
    HIL_EXPECT_GE(l.t[3], l.t[0]);
    hil_console_destroy(con);
}

/* ---- the shell auxiliary ------------------------------------------------------------------ */

static hil_aux* shell_aux(hil_channel* ch, const char* const* extra) {
    static int seq;
    char name[16];
    hil_aux_config c;
    hil_aux* a = NULL;
    const char* opts[16];
    int n = 0;
    snprintf(name, sizeof name, "sh%d", ++seq); /* a test that fails leaves its auxiliary behind */
    while (extra && extra[n] && n < 15) {
        opts[n] = extra[n];
        n++;
    }
    opts[n] = NULL;
    hil_aux_config_init(&c);
    c.name = name;
    c.type = "shell";
    c.com = ch;
    c.options = opts;
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    return a;
}

static void run_ok(hil_aux* sh, const char* cmd, const char* want, int want_status) {
    hil_strbuf out = {0, 0, 0, 0};
    int status = -2;
    HIL_ASSERT_OK(hil_shell_run(sh, cmd, &out, &status, 10000), "running '%s'", cmd);
    HIL_EXPECT_STREQ(hil_sb_cstr(&out), want, "output of '%s'", cmd);
    HIL_EXPECT_EQ(status, want_status, "status of '%s'", cmd);
    hil_sb_free(&out);
}

HIL_TEST(shell, runs_commands_on_sh_over_pipes) {
    const char* o[] = {"prompt=hil\\$ $", NULL};
    hil_aux* sh = shell_aux(proc("dash", "/bin/sh -i"), o);
    run_ok(sh, "echo hello", "hello\n", 0);
    run_ok(sh, "false", "", 1);
    run_ok(sh, "(exit 7)", "", 7);
    run_ok(sh, "printf 'no newline'", "no newline", 0);
    run_ok(sh, "printf 'a\\nb\\n'; echo err >&2", "a\nb\nerr\n", 0);
    /* the marker text in a command's own output does not end it early */
    run_ok(sh, "echo __HIL_RC_1_9__; echo __HIL_BEGIN_1__", "__HIL_RC_1_9__\n__HIL_BEGIN_1__\n", 0);
    hil_aux_destroy(sh);
}

HIL_TEST(shell, runs_commands_on_busybox_sh_on_a_real_tty_with_echo) {
    const char* o[] = {"prompt=[#$] $", NULL};
    hil_aux* sh;
    hil_strbuf out = {0, 0, 0, 0};
    int status = -1;
    ST_SKIP_UNLESS_PROG("busybox", "busybox-static");
    ST_SKIP_UNLESS_PROG("script", "bsdutils");
    /* script(1) gives the shell a pseudo-terminal: it echoes, edits lines and ends them with \r\n */
    sh = shell_aux(proc("bb", "script -qfc \"busybox sh\" /dev/null"), o);
    run_ok(sh, "echo hello", "hello\n", 0);
    run_ok(sh, "ls /nonexistent-hil-dir 2>/dev/null", "", 1);
    run_ok(sh, "echo __HIL_RC_3_0__", "__HIL_RC_3_0__\n", 0);
    /* a command that prints a lot: more than the match buffer (16 KiB) */
    HIL_ASSERT_OK(hil_shell_run(sh, "seq 1 5000", &out, &status, 20000));
    HIL_EXPECT_EQ(status, 0);
    HIL_EXPECT_EQ(out.len, 23893);
    HIL_EXPECT(strncmp(hil_sb_cstr(&out), "1\n2\n3\n", 6) == 0, "%.20s", hil_sb_cstr(&out));
    HIL_EXPECT(out.len > 10 && strcmp(out.data + out.len - 10, "4999\n5000\n") == 0, "%s",
               out.len > 10 ? out.data + out.len - 10 : "");
    hil_sb_free(&out);
    /* a long command line: the terminal wraps its echo */
    run_ok(sh,
           "echo 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
           "0123456789",
           "01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
           "123456789\n",
           0);
    hil_aux_destroy(sh);
}

HIL_TEST(shell, output_longer_than_max_output_is_cut_and_said_so) {
    const char* o[] = {"prompt=hil\\$ $", "max_output=1000", NULL};
    hil_aux* sh = shell_aux(proc("dash", "/bin/sh -i"), o);
    hil_strbuf out = {0, 0, 0, 0};
    int status = -1;
    HIL_ASSERT_EQ(hil_shell_run(sh, "seq 1 2000", &out, &status, 10000), HIL_ERR_OVERFLOW);
    HIL_EXPECT(strstr(hil_last_error(), "longer than max_output (1000)") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(out.len, 1000);
    HIL_EXPECT_EQ(status, 0);
    hil_sb_free(&out);
    run_ok(sh, "echo next", "next\n", 0); /* and the shell is usable afterwards */
    hil_aux_destroy(sh);
}

HIL_TEST(shell, non_posix_mode_strips_the_echo_and_ends_at_the_prompt) {
    const char* o[] = {"prompt=[#$] $", "posix=false", NULL};
    hil_aux* sh;
    ST_SKIP_UNLESS_PROG("busybox", "busybox-static");
    ST_SKIP_UNLESS_PROG("script", "bsdutils");
    sh = shell_aux(proc("bb", "script -qfc \"busybox sh\" /dev/null"), o);
    run_ok(sh, "echo one; echo two", "one\ntwo\n", -1);
    hil_aux_destroy(sh);
}

/* A login in front of the shell, as getty + login do it. */
#define LOGIN_SCRIPT                                                                                       \
    "/bin/sh -c \"while :; do printf 'bench login: '; read u; printf 'Password: '; read p; "              \
    "if [ \\\"$u\\\" = root ] && [ \\\"$p\\\" = s3cret ]; then exec /bin/sh -i; fi; echo; echo 'Login incorrect'; done\""

HIL_TEST(shell, logs_in_with_username_and_password) {
    const char* o[] = {"prompt=hil\\$ $", "login_prompt=login: $", "password_prompt=Password: $", "username=root",
                       "password=s3cret", NULL};
    hil_aux* sh = shell_aux(proc("login", LOGIN_SCRIPT), o);
    run_ok(sh, "echo logged in", "logged in\n", 0);
    hil_aux_destroy(sh);
}

HIL_TEST(shell, a_wrong_password_is_a_permission_error) {
    const char* o[] = {"prompt=hil\\$ $", "login_prompt=login: $", "password_prompt=Password: $", "username=root",
                       "password=wrong", NULL};
    hil_aux* sh = shell_aux(proc("login", LOGIN_SCRIPT), o);
    hil_strbuf out = {0, 0, 0, 0};
    HIL_ASSERT_EQ(hil_shell_run(sh, "echo no", &out, NULL, 10000), HIL_ERR_PERMISSION);
    HIL_EXPECT(strstr(hil_last_error(), "login as 'root' was refused") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(out.len, 0);
    hil_aux_destroy(sh);
}

HIL_TEST(shell, interrupts_autoboot_then_uses_the_prompt) {
    /* U-Boot's countdown: any key stops it; without one it would "boot" and never show "=> " */
    const char* o[] = {"prompt==> $", "interrupt_boot=Hit any key to stop autoboot", "posix=false", NULL};
    hil_aux* sh = shell_aux(
        proc("uboot", "/bin/sh -c \"printf 'U-Boot 2024.01\\nHit any key to stop autoboot:  3'; "
                      "k=$(dd bs=1 count=1 2>/dev/null); printf '\\n=> '; "
                      "while read -r c; do echo \\\"$c\\\"; echo \\\"ran $c\\\"; printf '=> '; done\""),
        o);
    hil_strbuf out = {0, 0, 0, 0};
    HIL_ASSERT_OK(hil_shell_login(sh, 5000));
    HIL_ASSERT_OK(hil_shell_run(sh, "version", &out, NULL, 5000));
    HIL_EXPECT_STREQ(hil_sb_cstr(&out), "ran version\n");
    hil_sb_free(&out);
    hil_aux_destroy(sh);
}

HIL_TEST(shell, a_console_that_never_prints_the_prompt_is_a_timeout_with_the_last_lines) {
    const char* o[] = {"prompt=# $", "login_timeout_ms=1200", "wake_ms=300", NULL};
    hil_aux* sh = shell_aux(proc("mute", "/bin/sh -c \"echo 'Starting kernel ...'; exec sleep 30\""), o);
    hil_strbuf out = {0, 0, 0, 0};
    uint64_t t0 = hil_now_ns();
    HIL_ASSERT_EQ(hil_shell_run(sh, "true", &out, NULL, 5000), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "never showed the prompt /# $/ within 1200 ms") != NULL, "%s",
               hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "| Starting kernel ...") != NULL, "%s", hil_last_error());
    HIL_EXPECT_LT(hil_now_ns() - t0, 4000000000ull);
    hil_aux_destroy(sh);
}

HIL_TEST(shell, the_channel_closing_mid_command_is_an_error) {
    const char* o[] = {"prompt=hil\\$ $", NULL};
    hil_aux* sh = shell_aux(proc("dash", "/bin/sh -i"), o);
    hil_strbuf out = {0, 0, 0, 0};
    run_ok(sh, "echo up", "up\n", 0);
    HIL_ASSERT_EQ(hil_shell_run(sh, "echo bye; exit 0", &out, NULL, 5000), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "command 'echo bye; exit 0'") != NULL, "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "the channel closed") != NULL, "%s", hil_last_error());
    hil_sb_free(&out);
    hil_aux_destroy(sh);
}

HIL_TEST(shell, a_reboot_during_a_command_is_noticed_and_the_next_command_logs_in) {
    /* the "target" prints a login prompt in the middle of the command, as a board that rebooted does */
    const char* o[] = {"prompt=hil\\$ $", "login_prompt=login: $", "username=root", NULL};
    hil_aux* sh = shell_aux(proc("reboot", "/bin/sh -c \"printf 'login: '; read u; exec /bin/sh -i\""), o);
    hil_strbuf out = {0, 0, 0, 0};
    HIL_ASSERT_EQ(hil_shell_run(sh, "printf 'rebooting\\nlogin: '; read u", &out, NULL, 5000), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "the target rebooted during command") != NULL, "%s", hil_last_error());
    run_ok(sh, "echo back", "back\n", 0);
    hil_aux_destroy(sh);
}

HIL_TEST(shell, configuration_errors_name_the_option) {
    hil_aux_config c;
    hil_aux* a = NULL;
    const char* none[] = {NULL};
    const char* bad[] = {"prompt=([", NULL};
    hil_aux_config_init(&c);
    c.name = "sh";
    c.type = "shell";
    c.com = proc("x", "/bin/cat");
    c.options = none;
    HIL_ASSERT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "no prompt: set prompt") != NULL, "%s", hil_last_error());
    c.com = proc("x", "/bin/cat");
    c.options = bad;
    HIL_ASSERT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "prompt = \"([\" is not a POSIX extended regex") != NULL, "%s",
               hil_last_error());
    c.com = proc("x", "/bin/cat");
    c.options = none;
    c.backend = HIL_AUX_PROCESS;
    HIL_ASSERT_EQ(hil_aux_create(&c, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "backend thread or simple") != NULL, "%s", hil_last_error());
}

HIL_TEST(shell, works_with_the_simple_backend) {
    hil_aux_config c;
    hil_aux* a = NULL;
    const char* o[] = {"prompt=hil\\$ $", NULL};
    hil_aux_config_init(&c);
    c.name = "simple_sh";
    c.type = "shell";
    c.com = proc("dash", "/bin/sh -i");
    c.options = o;
    c.backend = HIL_AUX_SIMPLE;
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    run_ok(a, "echo simple", "simple\n", 0);
    hil_aux_destroy(a);
}

/* ---- output extraction ------------------------------------------------------------- */

HIL_TEST(shell, extract_drops_the_echo) {
    hil_strbuf out = {0, 0, 0, 0};
    const char* t = "led on\r\nLED is on\r\n";
    HIL_EXPECT_EQ(hil_shell_extract(t, strlen(t), "led on", NULL, 0, &out), 0);
    HIL_EXPECT_STREQ(hil_sb_cstr(&out), "LED is on\n");
    hil_sb_clear(&out);
    t = "echo __HIL_\"\"BEGIN_4__; ls; echo \"__HIL_RC_4_$?__\"\r\n__HIL_BEGIN_4__\r\na b\r\n";
    HIL_EXPECT_EQ(hil_shell_extract(t, strlen(t), "ls", "__HIL_BEGIN_4__", 2, &out), 2);
    HIL_EXPECT_STREQ(hil_sb_cstr(&out), "a ");
    hil_sb_free(&out);
}

/* ---- the examples of docs/consoles.md run as printed ------------------------------- */

static void run_doc_example(const char* name) {
    char path[600];
    st_result r;
    const char* argv[2];
    snprintf(path, sizeof path, "%s/doc-examples/%s", st_build_dir(), name);
    if (access(path, X_OK) != 0) HIL_FAIL("%s is missing: run make (it extracts docs/*.md examples)", path);
    argv[0] = path;
    argv[1] = NULL;
    st_run(argv, NULL, 30000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "1 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST_META(console, the_expect_example_of_the_docs_passes, "tags=docs") { run_doc_example("consoles_expect"); }
HIL_TEST_META(shell, the_host_shell_example_of_the_docs_passes, "tags=docs") {
    run_doc_example("consoles_host_shell");
}
