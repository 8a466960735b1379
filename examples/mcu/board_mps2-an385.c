/* board_mps2-an385.c - ARM MPS2 with the AN385 image (Cortex-M3), as QEMU's
 * `-M mps2-an385` models it: UART0 is a CMSDK APB UART at 0x40004000 on a
 * 25 MHz clock, its receive interrupt is IRQ 0, and UART0 is QEMU's first
 * -serial. No clock tree to set up: the peripherals run from SYSCLK.
 *
 * BOARD_CFLAGS: -mcpu=cortex-m3
 */
#include "board.h"

#define SYSCLK_HZ 25000000u
#define BAUD 115200u

#define UART0 0x40004000u
#define UART_DATA (*(volatile uint32_t*)(UART0 + 0x00u))
#define UART_STATE (*(volatile uint32_t*)(UART0 + 0x04u))
#define UART_CTRL (*(volatile uint32_t*)(UART0 + 0x08u))
#define UART_INTCLEAR (*(volatile uint32_t*)(UART0 + 0x0Cu))
#define UART_BAUDDIV (*(volatile uint32_t*)(UART0 + 0x10u))
#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define STATE_RX_OVERRUN 0x8u
#define CTRL_TX_EN 0x1u
#define CTRL_RX_EN 0x2u
#define CTRL_RX_INT_EN 0x8u
#define INT_RX 0x2u

#define NVIC_ISER0 (*(volatile uint32_t*)0xE000E100u)
#define UART0_RX_IRQ 0

const char board_name[] = "mps2-an385";
/* Nothing is decoded at 0xF0000000 (above the system region's ROM table):
 * a read there ends in a bus error. */
const uint32_t board_unmapped_address = 0xF0000000u;

void board_init(void) {
    UART_BAUDDIV = SYSCLK_HZ / BAUD; /* 217; the CMSDK manual asks for at least 16 (QEMU does not check) */
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN;
    NVIC_ISER0 = 1u << UART0_RX_IRQ;
    /* A read of DATA (harmless while nothing was received) is what tells
     * QEMU's CMSDK UART model to take input again: enabling RX alone does
     * not, and bytes the host sent before would wait for QEMU's next idle
     * wake-up, about a second (measured: the first PING answered after
     * 1000 ms instead of under 1 ms). */
    (void)UART_DATA;
}

void board_putc(uint8_t c) {
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = c;
}

/* The receive holding register is one byte deep: take it at once. */
static void uart0_rx_irq(void) {
    UART_INTCLEAR = INT_RX;
    if (UART_STATE & STATE_RX_OVERRUN) {
        UART_STATE = STATE_RX_OVERRUN; /* write 1 to clear */
        fw_rx_overrun();
    }
    while (UART_STATE & STATE_RX_FULL) fw_rx_byte((uint8_t)UART_DATA);
}

__attribute__((section(".vectors_irq"), used)) const cortexm_vector board_irq_vectors[] = {
    uart0_rx_irq, /* IRQ 0: UART0 receive */
};
