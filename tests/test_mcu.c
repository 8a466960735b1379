/* make test-mcu: examples/mcu's firmware on both QEMU boards, through
 * tests/mcu/board_tests (remote tests, faults, the text service, reset,
 * power, flash), each result and reason checked here; a broken image; no
 * emulator left behind, also when the test program is killed outright.
 * Tag mcu: `make test` leaves these out, `make test-mcu` builds the
 * firmware and runs them. Without the cross compiler or QEMU they are
 * skipped with the packages to install; HIL_REQUIRE_MCU=1 (CI) makes
 * that a failure. */
#include "selftest.h"
#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <sys/syscall.h>

HIL_SUITE(mcu, "tags=mcu")

static const char* mcu_file(const char* name) {
    static char buf[4][PATH_MAX];
    static int next;
    char rel[PATH_MAX], *out = buf[next++ % 4];
    snprintf(rel, sizeof rel, "%s/mcu/%s", st_build_dir(), name);
    if (!realpath(rel, out)) snprintf(out, PATH_MAX, "%s", rel);
    return out;
}

/* Skip (or, with HIL_REQUIRE_MCU=1, fail) when the bench cannot run. */
static void need_mcu(void) {
    const char* why = NULL;
    char img[PATH_MAX];
    snprintf(img, sizeof img, "%s", mcu_file("fw-mps2-an385-default.elf"));
    if (!st_have("qemu-system-arm")) why = "qemu-system-arm not installed";
    else if (access(img, R_OK) != 0)
        why = st_have("arm-none-eabi-gcc") ? "the firmware is not built (make test-mcu builds it)"
                                           : "arm-none-eabi-gcc not installed, so the firmware cannot be built";
    else if (access(mcu_file("board_tests"), X_OK) != 0) why = "build/mcu/board_tests is not built (make test-mcu builds it)";
    if (!why) return;
    if (getenv("HIL_REQUIRE_MCU") && strcmp(getenv("HIL_REQUIRE_MCU"), "1") == 0)
        HIL_FAIL("%s; HIL_REQUIRE_MCU=1 needs it (apt-get install gcc-arm-none-eabi qemu-system-arm, then make test-mcu)",
                 why);
    HIL_SKIP("%s (apt-get install gcc-arm-none-eabi qemu-system-arm, then make test-mcu)", why);
}

static char* find_field(const char* json, const char* full, const char* field) {
    int s, t;
    for (s = 0; s < 20; s++) {
        for (t = 0; t < 50; t++) {
            char path[96];
            char* name;
            snprintf(path, sizeof path, "suites.%d.tests.%d.full_name", s, t);
            name = st_json_get(json, path);
            if (!name) break;
            if (strcmp(name, full) == 0) {
                free(name);
                snprintf(path, sizeof path, "suites.%d.tests.%d.%s", s, t, field);
                return st_json_get(json, path);
            }
            free(name);
        }
        if (t == 0) break;
    }
    return NULL;
}

static void expect(const char* json, const char* full, const char* result, const char* reason_part) {
    char* res = find_field(json, full, "result");
    char* why = find_field(json, full, "reason");
    HIL_EXPECT(res != NULL, "%s is in the report", full);
    if (res) HIL_EXPECT_STREQ(res, result, "%s (%s)", full, why ? why : "");
    if (reason_part)
        HIL_EXPECT(why && strstr(why, reason_part), "%s: reason '%s' has '%s'", full, why ? why : "", reason_part);
    free(res);
    free(why);
}

/* Emulators whose command line names path (a firmware of this build). */
static int emulators_running(const char* path) {
    DIR* d = opendir("/proc");
    struct dirent* e;
    int n = 0;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        char file[300], cmd[4096];
        FILE* f;
        size_t len, i;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(file, sizeof file, "/proc/%s/cmdline", e->d_name);
        if (!(f = fopen(file, "r"))) continue;
        len = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        for (i = 0; i < len; i++)
            if (!cmd[i]) cmd[i] = ' ';
        cmd[len] = 0;
        if (strstr(cmd, "qemu-system") && strstr(cmd, path)) n++;
    }
    closedir(d);
    return n;
}

/* Run board_tests against one board; returns results.json (free it). */
static char* run_board(const char* machine, const char* image, const char* board, const char* filter, const char* extra,
                       st_result* r) {
    char set_m[300], set_i[PATH_MAX + 64], set_b[128], set_v2[PATH_MAX + 64], json[PATH_MAX], v2[128];
    const char* argv[24];
    int n = 0;
    snprintf(json, sizeof json, "%s", st_path("results.json"));
    snprintf(set_m, sizeof set_m, "connectors.board.machine=%s", machine);
    snprintf(set_i, sizeof set_i, "connectors.board.image=%s", image);
    snprintf(set_b, sizeof set_b, "params.board=%s", board);
    snprintf(v2, sizeof v2, "fw-%s-v2.elf", board);
    snprintf(set_v2, sizeof set_v2, "params.image_v2=%s", mcu_file(v2));
    unlink(json);
    argv[n++] = mcu_file("board_tests");
    argv[n++] = "-c";
    argv[n++] = "tests/mcu/board.conf";
    argv[n++] = "--set"; argv[n++] = set_m;
    argv[n++] = "--set"; argv[n++] = set_i;
    argv[n++] = "--set"; argv[n++] = set_b;
    argv[n++] = "--set"; argv[n++] = set_v2;
    if (extra) { argv[n++] = "--set"; argv[n++] = extra; }
    if (filter) { argv[n++] = "--filter"; argv[n++] = filter; }
    argv[n++] = "--json";
    argv[n++] = json;
    argv[n] = NULL;
    st_run(argv, NULL, 180000, r);
    return access(json, R_OK) == 0 ? st_read(json) : NULL;
}

static void one_board(const char* machine, const char* board) {
    char name[128], image[PATH_MAX];
    char* json;
    st_result r;
    need_mcu();
    snprintf(name, sizeof name, "fw-%s-default.elf", board);
    snprintf(image, sizeof image, "%s", mcu_file(name));
    json = run_board(machine, image, board, NULL, NULL, &r);
    HIL_ASSERT(json != NULL, "board_tests wrote no results.json:\n%s", r.out);
    /* suite 1: ordinary cases */
    expect(json, "target.passes", "Passed", NULL);
    expect(json, "target.fails_with_a_reason", "Failed", "crc16(123456789) is 0x000031c3, the test expected 0x000031c4");
    expect(json, "target.not_implemented", "Skipped", "not implemented on the target (suite 1, case 3)");
    expect(json, "target.logs", "Passed", NULL);
    expect(json, "target.identity", "Passed", NULL);
    /* suite 2: each fault is Errored with what happened, and the next test passes */
    expect(json, "faults.hardfault", "Errored", "the target faulted during CASE_RUN of suite 2, case 1: HardFault pc=0x");
    expect(json, "faults.hardfault", "Errored", "cfsr=0x00008200"); /* a precise bus error, BFAR valid */
    expect(json, "faults.hardfault", "Errored", "(the board was reset)");
    expect(json, "faults.after_hardfault", "Passed", NULL);
    expect(json, "faults.hang", "Errored", "no REPORT from the target within 3000 ms for CASE_RUN (suite 2, case 2) "
                                           "(the board was reset)");
    expect(json, "faults.after_hang", "Passed", NULL);
    expect(json, "faults.reset_by_itself", "Errored", "the target reset during CASE_RUN of suite 2, case 3: it booted again");
    expect(json, "faults.after_reset_by_itself", "Passed", NULL);
    expect(json, "faults.corrupted_report", "Errored", "arrived with a bad CRC (CRC-16/XMODEM)");
    expect(json, "faults.after_corrupted_report", "Passed", NULL);
    expect(json, "faults.undefined_instruction", "Errored", "HardFault pc=0x");
    expect(json, "faults.after_undefined_instruction", "Passed", NULL);
    /* the text service beside the DUT auxiliary; board control */
    expect(json, "service.version", "Passed", NULL);
    expect(json, "service.counter_counts", "Passed", NULL);
    expect(json, "service.echo_with_header_bytes_escaped", "Passed", NULL);
    expect(json, "service.shares_the_uart_with_the_dut", "Passed", NULL);
    expect(json, "board.reset_starts_the_firmware_again", "Passed", NULL);
    expect(json, "board.power_cycle", "Passed", NULL);
    expect(json, "board.flash_a_new_image", "Passed", NULL);
    HIL_EXPECT_EQ(r.code, 1, "the run has failures (on purpose): exit code 1");
    HIL_EXPECT_EQ(emulators_running(image), 0, "no emulator left running %s", image);
    free(json);
    st_result_free(&r);
}

HIL_TEST_META(mcu, mps2_an385, "timeout=240") { one_board("mps2-an385", "mps2-an385"); }
HIL_TEST_META(mcu, netduinoplus2, "timeout=240") { one_board("netduinoplus2", "netduinoplus2"); }

HIL_TEST_META(mcu, a_board_that_does_not_boot_blocks_its_tests, "timeout=120") {
    char* json;
    st_result r;
    char wrong[PATH_MAX];
    need_mcu();
    /* the other board's firmware: QEMU stops it at once ("Lockup"), and says so */
    snprintf(wrong, sizeof wrong, "%s", mcu_file("fw-netduinoplus2-default.elf"));
    json = run_board("mps2-an385", wrong, "mps2-an385", "target.passes", "connectors.board.boot_timeout_ms=3000", &r);
    HIL_ASSERT(json != NULL, "no results.json:\n%s", r.out);
    expect(json, "target.passes", "Blocked", "the board did not boot (machine mps2-an385, image ");
    expect(json, "target.passes", "Blocked", "fw-netduinoplus2-default.elf");
    expect(json, "target.passes", "Blocked", "QEMU said: qemu: fatal: Lockup");
    HIL_EXPECT_NE(r.code, 0);
    HIL_EXPECT_EQ(emulators_running(wrong), 0, "no emulator left after a failed boot");
    free(json);
    st_result_free(&r);
    /* an image that is not there: QEMU's own words */
    json = run_board("mps2-an385", st_path("no-such-fw.elf"), "mps2-an385", "target.passes", NULL, &r);
    HIL_ASSERT(json != NULL, "no results.json:\n%s", r.out);
    expect(json, "target.passes", "Blocked", "Could not load kernel");
    free(json);
    st_result_free(&r);
}

/* The test program is killed outright while its board runs a hanging
 * case: the emulator dies with it (PR_SET_PDEATHSIG), nothing to reap. */
HIL_TEST_META(mcu, no_emulator_outlives_a_killed_test_program, "timeout=60") {
    hil_proc_config pc;
    hil_proc p;
    char line[8192];
    size_t have = 0;
    int qpid = -1, pfd;
    char set_i[PATH_MAX + 64], image[PATH_MAX];
    const char* at;
    const char* argv[12];
    uint64_t deadline = hil_deadline_ms(20000);
    need_mcu();
    snprintf(image, sizeof image, "%s", mcu_file("fw-mps2-an385-default.elf"));
    snprintf(set_i, sizeof set_i, "connectors.board.image=%s", image);
    argv[0] = mcu_file("board_tests");
    argv[1] = "-c"; argv[2] = "tests/mcu/board.conf";
    argv[3] = "--set"; argv[4] = set_i;
    argv[5] = "--filter"; argv[6] = "faults.hang";
    argv[7] = "-v";
    argv[8] = NULL;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&p, &pc));
    /* the program logs "started qemu-system-arm ... (pid N)"; then the case hangs for 3 s */
    while (!(at = strstr(line, "started qemu-system-arm")) || !strstr(at, ")")) {
        ssize_t n;
        line[have] = 0;
        if (have + 1 >= sizeof line || hil_wait_readable(p.stdout_fd, hil_deadline_left_ms(deadline)) != HIL_OK) break;
        n = read(p.stdout_fd, line + have, sizeof line - 1 - have);
        if (n <= 0) break;
        have += (size_t)n;
        line[have] = 0;
    }
    at = strstr(line, "started qemu-system-arm");
    if (at && (at = strstr(at, "(pid ")) != NULL) qpid = atoi(at + 5);
    HIL_ASSERT(qpid > 0, "the emulator's pid in the program's log:\n%s", line);
    pfd = (int)syscall(SYS_pidfd_open, qpid, 0);
    HIL_ASSERT(pfd >= 0, "pidfd_open(%d): %s", qpid, strerror(errno));
    hil_proc_kill(&p, SIGKILL);
    hil_proc_wait(&p, 5000);
    hil_proc_close(&p);
    HIL_EXPECT_OK(hil_wait_readable(pfd, 5000), "the emulator (pid %d) ended with the program that started it", qpid);
    close(pfd);
    HIL_EXPECT_EQ(emulators_running(image), 0);
}

/* docs/qemu.md's example, against the firmware: it must pass as written. */
HIL_TEST_META(mcu, the_documented_example_runs, "timeout=60") {
    char prog[PATH_MAX], set_i[PATH_MAX + 64];
    st_result r;
    const char* argv[8];
    need_mcu();
    snprintf(prog, sizeof prog, "%s/doc-examples/qemu_board", st_build_dir());
    if (access(prog, X_OK) != 0) HIL_FAIL("%s is missing: run make doc-examples", prog);
    snprintf(set_i, sizeof set_i, "connectors.board.image=%s", mcu_file("fw-mps2-an385-default.elf"));
    argv[0] = prog;
    argv[1] = "-c";
    argv[2] = "tests/mcu/board.conf";
    argv[3] = "--set";
    argv[4] = set_i;
    argv[5] = NULL;
    st_run(argv, NULL, 60000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "1 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
}
