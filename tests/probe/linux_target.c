/* linux_target.c - a Linux program for the probe tests against gdbserver:
 * a counter incremented through a function (a breakpoint target), a
 * table in memory to read and write, and the same RTT block as the
 * firmware (8-byte pointers here). It runs until killed. */
#include <stdint.h>
#include <unistd.h>
#include "rtt.h"

volatile uint32_t g_counter;
volatile uint32_t g_error_count = 7;
unsigned char g_table[256];

void probe_tick(void) __attribute__((noinline));
void probe_tick(void) { g_counter++; }

int main(void) {
    char buf[64];
    int i;
    for (i = 0; i < 256; i++) g_table[i] = (unsigned char)i;
    rtt_init();
    rtt_write("boot linux\n", 11);
    for (;;) {
        size_t n;
        probe_tick();
        n = rtt_read(buf, sizeof buf);
        if (n) {
            rtt_write("echo:", 5);
            rtt_write(buf, n);
        }
        usleep(1000); /* a target program, not hil: it just must not burn a core */
    }
}
