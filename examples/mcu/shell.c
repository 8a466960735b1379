/* shell.c - two consoles a firmware team meets on real boards, so that
 * hil's shell auxiliary (hil_console.h) is tested against firmware that
 * behaves like them, on the emulated boards:
 *
 *   "#shell zephyr"  a Zephyr-style shell: the prompt "uart:~$ " in colour
 *                    (ESC[1;32m ... ESC[m, as Zephyr's shell prints it),
 *                    every typed byte echoed, "\r\n" line ends, commands
 *                    `kernel version`, `led on|off`, `led`, `errors`,
 *                    `help`, `exit`, and "<cmd>: command not found".
 *   "#shell uboot"   a U-Boot-style console: a banner, "Hit any key to stop
 *                    autoboot:  3", then the "=> " prompt once a key came;
 *                    commands `version`, `echo ...`, `printenv board`,
 *                    `reset`, `exit`, and "Unknown command 'x' - try 'help'".
 *                    The board has no timer running, so the countdown does
 *                    not count: it waits for the key (real U-Boot boots
 *                    its kernel after the delay instead).
 *
 * Entered through main.c's text service; `exit` returns to it (testApp
 * frames and '#' requests again), `reset` (U-Boot) resets the board. */
#include "board.h"
#include "text.h"
#include "shell.h"

#define SH_LINE 96

static int mode;           /* SHELL_OFF, SHELL_ZEPHYR, SHELL_UBOOT */
static int autoboot;       /* U-Boot: waiting for the key that stops autoboot */
static int after_cr;       /* the last byte was '\r': a '\n' after it ends nothing */
static char line[SH_LINE + 1];
static unsigned line_len;
static int led;
static uint32_t commands, unknown;

static void puts_(const char* s) {
    while (*s) board_putc((uint8_t)*s++);
}

static void prompt(void) {
    if (mode == SHELL_ZEPHYR) puts_("\x1b[1;32muart:~$ \x1b[m");
    else puts_("=> ");
}

int shell_active(void) { return mode != SHELL_OFF; }

void shell_start(int which, const char* identity) {
    mode = which;
    line_len = 0;
    after_cr = 0;
    if (mode == SHELL_UBOOT) {
        puts_("\r\n\r\nU-Boot 2024.01-hil (");
        puts_(identity);
        puts_(")\r\n\r\nDRAM:  4 MiB\r\nHit any key to stop autoboot:  3");
        autoboot = 1;
        return;
    }
    puts_("\r\n\r\n");
    prompt();
}

static int starts(const char* s, const char* word) { /* "word" or "word ...": the rest, else 0 */
    while (*word && *s == *word) s++, word++;
    if (*word) return 0;
    return *s == ' ' || *s == 0;
}

static void zephyr_command(const char* cmd, const char* identity) {
    char buf[96];
    text t;
    text_init(&t, buf, sizeof buf);
    if (text_eq(cmd, "kernel version")) {
        text_str(&t, "Zephyr version 3.6.0 (emulated by ");
        text_str(&t, identity);
        text_char(&t, ')');
    } else if (text_eq(cmd, "led on") || text_eq(cmd, "led off")) {
        led = cmd[5] == 'n';
        text_str(&t, led ? "led0: on" : "led0: off");
    } else if (text_eq(cmd, "led")) {
        text_str(&t, led ? "led0: on" : "led0: off");
    } else if (text_eq(cmd, "errors")) {
        text_str(&t, "errors: ");
        text_u32(&t, unknown);
        text_str(&t, " unknown commands of ");
        text_u32(&t, commands);
    } else if (text_eq(cmd, "help")) {
        puts_("Available commands:\r\n  errors  :Count of unknown commands\r\n  exit    :Leave the shell\r\n"
              "  help    :Prints the help message.\r\n  kernel  :Kernel commands\r\n  led     :LED control\r\n");
        return;
    } else if (text_eq(cmd, "exit")) {
        mode = SHELL_OFF;
        return;
    } else {
        unknown++;
        text_str(&t, cmd);
        text_str(&t, ": command not found");
    }
    puts_(buf);
    puts_("\r\n");
}

static void uboot_command(const char* cmd, const char* identity) {
    if (text_eq(cmd, "version")) {
        puts_("U-Boot 2024.01-hil (");
        puts_(identity);
        puts_(")\r\n");
    } else if (starts(cmd, "echo")) {
        puts_(cmd[4] ? cmd + 5 : "");
        puts_("\r\n");
    } else if (text_eq(cmd, "printenv board")) {
        puts_("board=");
        puts_(board_name);
        puts_("\r\n");
    } else if (text_eq(cmd, "reset")) {
        puts_("resetting ...\r\n");
        cortexm_system_reset();
    } else if (text_eq(cmd, "exit")) {
        mode = SHELL_OFF;
    } else if (cmd[0]) {
        unknown++;
        puts_("Unknown command '");
        puts_(cmd);
        puts_("' - try 'help'\r\n");
    }
}

void shell_input(uint8_t c, const char* identity) {
    if (autoboot) { /* any key stops it */
        autoboot = 0;
        puts_("\x08\x08\x08 0 \r\n");
        prompt();
        return;
    }
    if (c == '\n' && after_cr) { /* "\r\n": the line ended at the '\r' */
        after_cr = 0;
        return;
    }
    after_cr = c == '\r';
    if (c == '\r' || c == '\n') {
        line[line_len] = 0;
        line_len = 0;
        puts_("\r\n");
        if (line[0]) commands++;
        if (mode == SHELL_ZEPHYR && line[0]) zephyr_command(line, identity);
        else if (mode == SHELL_UBOOT) uboot_command(line, identity);
        if (mode != SHELL_OFF) prompt();
        return;
    }
    if (c == 0x08 || c == 0x7f) { /* backspace: as a terminal shows it */
        if (line_len) {
            line_len--;
            puts_("\x08 \x08");
        }
        return;
    }
    if (c < 0x20 || c > 0x7e || line_len >= SH_LINE) return; /* not kept, not echoed: as both do */
    line[line_len++] = (char)c;
    board_putc(c);
}
