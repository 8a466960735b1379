/* shell.h - the Zephyr-style and U-Boot-style consoles of shell.c. */
#ifndef SHELL_H_INCLUDED
#define SHELL_H_INCLUDED

#include <stdint.h>

#define SHELL_OFF 0
#define SHELL_ZEPHYR 1
#define SHELL_UBOOT 2

/* Take over the UART as that console (identity: the firmware's, for its texts). */
void shell_start(int which, const char* identity);
/* Whether a console has the UART (then every received byte goes to shell_input). */
int shell_active(void);
void shell_input(uint8_t c, const char* identity);

#endif
