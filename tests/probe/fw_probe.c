/* fw_probe.c - the firmware the probe tests (tests/test_probe*.c) debug in
 * QEMU's mps2-an385 through its GDB stub: a counter the main loop
 * increments through a function (a breakpoint target), a variant number
 * in .data (copied at reset: it shows which image booted), and an RTT
 * echo: every chunk received on down-buffer 0 comes back on up-buffer 0
 * as "echo:<chunk>". Built by the Makefile (FW_VARIANT=1, 2; FW_BLOB adds
 * a 256 KiB block for the flashing benchmark). */
#include <stdint.h>
#include "rtt.h"

#ifndef FW_VARIANT
#define FW_VARIANT 1
#endif

volatile uint32_t g_counter;
volatile uint32_t g_error_count;
volatile uint32_t g_variant = FW_VARIANT;
volatile uint32_t g_echoed;

void probe_tick(void) __attribute__((noinline));
void probe_tick(void) { g_counter++; }

int main(void) {
    char buf[64];
    static const char boot[] = "boot variant=";
    char v = (char)('0' + g_variant % 10);
    rtt_init();
    rtt_write(boot, sizeof boot - 1);
    rtt_write(&v, 1);
    rtt_write("\n", 1);
    for (;;) {
        size_t n;
        probe_tick();
        n = rtt_read(buf, sizeof buf);
        if (n) {
            rtt_write("echo:", 5);
            rtt_write(buf, n);
            g_echoed += (uint32_t)n;
        }
    }
}

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

void Reset_Handler(void) __attribute__((noreturn));
void Reset_Handler(void) {
    volatile uint32_t* d = &_sdata;
    const volatile uint32_t* s = &_sidata;
    while (d < &_edata) *d++ = *s++;
    for (d = &_sbss; d < &_ebss;) *d++ = 0;
    (void)main();
    for (;;) {}
}

static void Default_Handler(void) {
    g_error_count++;
    for (;;) {}
}

typedef void (*vector)(void);
__attribute__((section(".vectors"), used)) const vector fw_vectors[16] = {
    (vector)(uintptr_t)&_estack, Reset_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, Default_Handler,
};
