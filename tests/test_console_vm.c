/* The shell auxiliary (hil_console.h) against a real Linux console: the VM
 * bench's busybox getty, login and sh on the 8250 UART /dev/ttyS2, reached
 * through QEMU's socket chardev (tests/vm/shell-vm.sh runs this suite on
 * the host as the VM's --peer2; part of `make test-vm`). The guest side is
 * tests/vm/shell_guest.sh. Tag vm: not part of `make test`. */
#include "selftest.h"

HIL_SUITE(console_vm, "tags=vm,console")

static hil_aux* vm_shell(const char* name, const char* password) {
    const char* sock = getenv("HILVM_UART_SOCK");
    char cmd[600], pw[80];
    const char* copts[] = {cmd, "stderr=log", NULL};
    const char* sopts[] = {"prompt=[#$] $", "login_prompt=login: $", "password_prompt=[Pp]assword: $",
                           "username=root", pw, "login_timeout_ms=150000", "wake_ms=3000", NULL};
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_aux_config ac;
    hil_aux* sh = NULL;
    if (!sock) HIL_SKIP("not run as the VM's peer (tests/vm/shell-vm.sh, make test-vm)");
    ST_SKIP_UNLESS_PROG("socat", "socat");
    snprintf(cmd, sizeof cmd, "command=socat - UNIX-CONNECT:%s", sock);
    snprintf(pw, sizeof pw, "password=%s", password);
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "process";
    c.options = copts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    hil_aux_config_init(&ac);
    ac.name = name;
    ac.type = "shell";
    ac.com = ch;
    ac.options = sopts;
    HIL_ASSERT_OK(hil_aux_create(&ac, &sh));
    return sh;
}

static void run(hil_aux* sh, const char* cmd, const char* want, int want_status) {
    hil_strbuf out = {0, 0, 0, 0};
    int status = -2;
    HIL_ASSERT_OK(hil_shell_run(sh, cmd, &out, &status, 20000), "running '%s'", cmd);
    if (want) HIL_EXPECT_STREQ(hil_sb_cstr(&out), want, "output of '%s'", cmd);
    HIL_EXPECT_EQ(status, want_status, "status of '%s'", cmd);
    hil_sb_free(&out);
}

/* One test, in order: the guest's getty serves one session at a time. */
HIL_TEST_META(console_vm, login_commands_statuses_and_a_wrong_password, "timeout=400") {
    hil_aux* sh = vm_shell("linux", "s3cret");
    hil_strbuf out = {0, 0, 0, 0};
    int status = -1;
    run(sh, "uname -s", "Linux\n", 0);
    run(sh, "id -u", "0\n", 0);
    run(sh, "false", "", 1);
    run(sh, "(exit 42)", "", 42);
    run(sh, "ls /nonexistent-dir 2>&1", "ls: /nonexistent-dir: No such file or directory\n", 1);
    /* a command that prints a lot: 48894 bytes through the emulated UART */
    HIL_ASSERT_OK(hil_shell_run(sh, "seq 1 10000", &out, &status, 60000));
    HIL_EXPECT_EQ(status, 0);
    HIL_EXPECT_EQ(out.len, 48894);
    HIL_EXPECT(out.len > 11 && strcmp(out.data + out.len - 11, "9999\n10000\n") == 0, "the end of seq's output");
    hil_sb_free(&out);
    /* logging out: getty starts again and prints its login prompt, which a
     * command must take for a reboot of the board */
    HIL_ASSERT_EQ(hil_shell_run(sh, "exit", NULL, NULL, 20000), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "the target rebooted during command 'exit'") != NULL, "%s", hil_last_error());
    hil_aux_destroy(sh);

    sh = vm_shell("intruder", "wrong");
    HIL_ASSERT_EQ(hil_shell_run(sh, "id", NULL, NULL, 20000), HIL_ERR_PERMISSION);
    HIL_EXPECT(strstr(hil_last_error(), "login as 'root' was refused") != NULL, "%s", hil_last_error());
    hil_aux_destroy(sh);

    sh = vm_shell("again", "s3cret");
    run(sh, "echo second session", "second session\n", 0);
    /* the last session ends the guest's test command: the VM powers off and its UART's socket closes */
    run(sh, "touch /tmp/hil-done", "", 0);
    HIL_EXPECT_EQ(hil_shell_run(sh, "exit", NULL, NULL, 60000), HIL_ERR_CLOSED, "%s", hil_last_error());
    hil_aux_destroy(sh);
}
