/* The shell auxiliary (hil_console.h) against the example firmware on an
 * emulated Cortex-M3 (QEMU mps2-an385, the qemu channel): its Zephyr-style
 * shell (coloured prompt, echo, \r\n) and its U-Boot-style console
 * (autoboot to interrupt, "=> "), examples/mcu/shell.c. Then a reset from
 * the U-Boot console: the firmware boots into its testApp service, which
 * prints a binary frame and never a prompt. `make test-mcu` (tag mcu). */
#include "selftest.h"
#include <limits.h>

HIL_SUITE(console_mcu, "tags=mcu,console")

#ifndef HIL_NO_QEMU

static const char* fw_image(void) {
    static char out[PATH_MAX];
    char rel[PATH_MAX];
    const char* why = NULL;
    snprintf(rel, sizeof rel, "%s/mcu/fw-mps2-an385-default.elf", st_build_dir());
    if (!realpath(rel, out)) snprintf(out, sizeof out, "%s", rel);
    if (!st_have("qemu-system-arm")) why = "qemu-system-arm not installed";
    else if (access(out, R_OK) != 0) why = "the firmware is not built (make test-mcu builds it)";
    if (why) {
        if (getenv("HIL_REQUIRE_MCU") && strcmp(getenv("HIL_REQUIRE_MCU"), "1") == 0)
            HIL_FAIL("%s; HIL_REQUIRE_MCU=1 needs it (apt-get install gcc-arm-none-eabi qemu-system-arm, then make "
                     "test-mcu)",
                     why);
        HIL_SKIP("%s (apt-get install gcc-arm-none-eabi qemu-system-arm, then make test-mcu)", why);
    }
    return out;
}

/* The board, booted, its console switched to `which` through the text service. */
static hil_aux* board_shell(const char* name, const char* which, const char* const* extra) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_aux_config ac;
    hil_aux* sh = NULL;
    char img[PATH_MAX + 8], req[64];
    const char* opts[] = {"machine=mps2-an385", img, "boot_timeout_ms=10000", NULL};
    snprintf(img, sizeof img, "image=%s", fw_image());
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "qemu";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    snprintf(req, sizeof req, "#shell %s\n", which);
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, req, strlen(req), 2000));
    hil_aux_config_init(&ac);
    ac.name = name;
    ac.type = "shell";
    ac.com = ch; /* open already: the auxiliary keeps it so */
    ac.options = extra;
    HIL_ASSERT_OK(hil_aux_create(&ac, &sh));
    return sh;
}

static void run(hil_aux* sh, const char* cmd, const char* want) {
    hil_strbuf out = {0, 0, 0, 0};
    int status = 0;
    HIL_ASSERT_OK(hil_shell_run(sh, cmd, &out, &status, 10000), "running '%s'", cmd);
    HIL_EXPECT_STREQ(hil_sb_cstr(&out), want, "output of '%s'", cmd);
    HIL_EXPECT_EQ(status, -1, "no exit status from a shell that is not posix");
    hil_sb_free(&out);
}

HIL_TEST(console_mcu, zephyr_style_shell_on_the_firmware) {
    const char* o[] = {"prompt=uart:~\\$ $", "posix=false", "line_ending=\\r", NULL};
    hil_aux* sh = board_shell("zephyr", "zephyr", o);
    run(sh, "kernel version",
        "Zephyr version 3.6.0 (emulated by board=mps2-an385 variant=default version=1.0.0)\n");
    run(sh, "led on", "led0: on\n");
    run(sh, "led", "led0: on\n");
    run(sh, "blink", "blink: command not found\n");
    run(sh, "errors", "errors: 1 unknown commands of 5\n");
    hil_aux_destroy(sh);
}

HIL_TEST(console_mcu, uboot_style_autoboot_prompt_then_a_reset_that_never_shows_it_again) {
    const char* o[] = {"prompt==> $", "posix=false", "interrupt_boot=Hit any key to stop autoboot", "wake_ms=300",
                       "login_timeout_ms=2000", NULL};
    hil_aux* sh = board_shell("uboot", "uboot", o);
    hil_result r;
    run(sh, "version", "U-Boot 2024.01-hil (board=mps2-an385 variant=default version=1.0.0)\n");
    run(sh, "printenv board", "board=mps2-an385\n");
    run(sh, "echo hello from the host", "hello from the host\n");
    run(sh, "bootm", "Unknown command 'bootm' - try 'help'\n");
    /* reset: the firmware boots into testApp (a binary LOG frame), never "=> " */
    r = hil_shell_run(sh, "reset", NULL, NULL, 1500);
    HIL_EXPECT_EQ(r, HIL_ERR_TIMEOUT, "%s", hil_last_error());
    HIL_ASSERT_OK(hil_shell_reset(sh));
    r = hil_shell_login(sh, 2000);
    HIL_ASSERT_EQ(r, HIL_ERR_TIMEOUT, "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "never showed the prompt /=> $/") != NULL, "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "boot board=mps2-an385") != NULL, "the boot LOG in the last lines: %s",
               hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "\\x") != NULL, "the frame's header bytes escaped: %s", hil_last_error());
    hil_aux_destroy(sh);
}

#endif
