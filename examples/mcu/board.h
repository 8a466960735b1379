/* board.h - what main.c needs from a board: the whole porting surface.
 *
 * A new board is one file, board_<name>.c, plus its memory map,
 * board_<name>.ld (MEMORY and then INCLUDE cortexm.ld). The file provides:
 *
 *   - board_init(): clocks, the UART (8N1, 115200 on real hardware), its
 *     receive interrupt enabled in the UART and in the NVIC;
 *   - board_putc(): send one byte, waiting while the transmitter is full
 *     (polling: output happens from the main loop and from the fault
 *     handler, where no interrupt can be relied on);
 *   - the UART's receive interrupt handler, which hands every byte to
 *     fw_rx_byte() (and reports a lost byte with fw_rx_overrun()), placed in
 *     the board's IRQ vector table (section .vectors_irq);
 *   - board_name and board_unmapped_address (a read there must bus-fault:
 *     it is how suite 2 case 1 provokes a HardFault);
 *   - optionally board_early_init(): the reset handler's first call, before
 *     .data and .bss exist (registers only). netduinoplus2 uses it to make
 *     QEMU's USART model hold input until board_init can take it.
 *
 * Everything else (startup, the core exception vectors, the HardFault entry,
 * reset through SCB AIRCR) is Cortex-M architecture: cortexm.c.
 */
#ifndef BOARD_H_INCLUDED
#define BOARD_H_INCLUDED

#include <stdint.h>

extern const char board_name[];
extern const uint32_t board_unmapped_address;
void board_early_init(void); /* cortexm.c has an empty default (weak) */
void board_init(void);
void board_putc(uint8_t c);

/* main.c: called by the board's UART receive interrupt. */
void fw_rx_byte(uint8_t c);
void fw_rx_overrun(void);

/* cortexm.c */
void cortexm_system_reset(void) __attribute__((noreturn));
void cortexm_halt(void) __attribute__((noreturn));
/* The interrupt-safe wait of the main loop: sleeps (WFI) until an interrupt
 * is pending unless ready() already says there is work. */
void cortexm_wait_for(int (*ready)(void));

/* main.c: the HardFault handler's text goes here (testApp FAULT LOG). */
void fw_fault(const char* text) __attribute__((noreturn));

typedef void (*cortexm_vector)(void);

#endif
