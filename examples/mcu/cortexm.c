/* cortexm.c - what every ARMv7-M board shares: the reset handler, the core
 * exception vectors, the HardFault entry and its report, system reset, and
 * the main loop's wait. Nothing here knows the board (board.h). */
#include "board.h"
#include "text.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

#define SCB_VTOR (*(volatile uint32_t*)0xE000ED08u)
#define SCB_AIRCR (*(volatile uint32_t*)0xE000ED0Cu)
#define SCB_CFSR (*(volatile uint32_t*)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t*)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t*)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t*)0xE000ED38u)

extern const cortexm_vector cortexm_vectors[];

/* A board without anything to do before RAM is set up. */
__attribute__((weak)) void board_early_init(void) {}

void Reset_Handler(void) __attribute__((noreturn));
void Reset_Handler(void) {
    /* Word loops through volatile pointers: a plain loop here is what gcc
     * turns into memcpy/memset calls, which -nostdlib has nowhere to find. */
    volatile uint32_t* d = &_sdata;
    const volatile uint32_t* s = &_sidata;
    board_early_init(); /* first: it may only touch registers (no .data, no .bss yet) */
    while (d < &_edata) *d++ = *s++;
    for (d = &_sbss; d < &_ebss;) *d++ = 0;
    /* The table is linked at the start of flash; some boards (STM32) run
     * it through an alias at 0, so say where it really is. */
    SCB_VTOR = (uint32_t)(uintptr_t)cortexm_vectors;
    (void)main();
    cortexm_halt();
}

static void unexpected_exception(void) { fw_fault("unexpected exception"); }

void HardFault_Handler(void);

/* The core's 16 vectors; the board's IRQ vectors follow (.vectors_irq). */
__attribute__((section(".vectors"), used)) const cortexm_vector cortexm_vectors[16] = {
    (cortexm_vector)(uintptr_t)&_estack,
    (cortexm_vector)Reset_Handler,
    unexpected_exception, /* NMI */
    HardFault_Handler,
    unexpected_exception, /* MemManage, BusFault, UsageFault: disabled, they escalate to HardFault */
    unexpected_exception,
    unexpected_exception,
    0, 0, 0, 0,
    unexpected_exception, /* SVCall */
    unexpected_exception, /* DebugMonitor */
    0,
    unexpected_exception, /* PendSV */
    unexpected_exception, /* SysTick */
};

/* The frame the core stacked on entry: r0-r3, r12, lr, pc, xpsr. */
void cortexm_hardfault_report(const uint32_t* frame) __attribute__((noreturn, used));
void cortexm_hardfault_report(const uint32_t* frame) {
    static char buf[240]; /* static: the faulting stack may be nearly full */
    text t;
    text_init(&t, buf, sizeof buf);
    text_str(&t, "HardFault pc=");
    text_hex(&t, frame[6]);
    text_str(&t, " lr=");
    text_hex(&t, frame[5]);
    text_str(&t, " xpsr=");
    text_hex(&t, frame[7]);
    text_str(&t, " cfsr=");
    text_hex(&t, SCB_CFSR);
    text_str(&t, " hfsr=");
    text_hex(&t, SCB_HFSR);
    text_str(&t, " mmfar=");
    text_hex(&t, SCB_MMFAR);
    text_str(&t, " bfar=");
    text_hex(&t, SCB_BFAR);
    text_str(&t, " r0=");
    text_hex(&t, frame[0]);
    text_str(&t, " r1=");
    text_hex(&t, frame[1]);
    text_str(&t, " r2=");
    text_hex(&t, frame[2]);
    text_str(&t, " r3=");
    text_hex(&t, frame[3]);
    text_str(&t, " r12=");
    text_hex(&t, frame[4]);
    fw_fault(buf);
}

/* Naked: no prologue may touch the stack before we know which one the
 * core used. Bit 2 of EXC_RETURN (in lr) says: 0 main stack, 1 process. */
__attribute__((naked)) void HardFault_Handler(void) {
    __asm__ volatile("tst lr, #4\n"
                     "ite eq\n"
                     "mrseq r0, msp\n"
                     "mrsne r0, psp\n"
                     "b cortexm_hardfault_report\n");
}

void cortexm_system_reset(void) {
    __asm__ volatile("dsb" ::: "memory"); /* let pending writes (the UART's) land first */
    SCB_AIRCR = 0x05FA0004u;               /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;) __asm__ volatile("nop");      /* the reset takes a few cycles to arrive */
}

void cortexm_halt(void) {
    __asm__ volatile("cpsid i" ::: "memory");
    for (;;) __asm__ volatile("wfi"); /* sleeps: under QEMU it costs no host CPU */
}

/* With interrupts masked, a pending interrupt still ends WFI: so a byte that
 * arrives between the check and the WFI cannot be slept through. */
void cortexm_wait_for(int (*ready)(void)) {
    __asm__ volatile("cpsid i" ::: "memory");
    if (!ready()) __asm__ volatile("dsb\n wfi" ::: "memory");
    __asm__ volatile("cpsie i" ::: "memory");
}
