/* board_netduinoplus2.c - Netduino Plus 2 (STM32F405RG, Cortex-M4), as QEMU's
 * `-M netduinoplus2` models it: USART1 at 0x40011000 is QEMU's first
 * -serial, its interrupt is IRQ 37.
 *
 * Clocks: the chip starts on the 16 MHz HSI, which is all a UART needs, so
 * nothing waits for an oscillator or a PLL to lock. That matters in QEMU:
 * its STM32F405 has no RCC model (reads give 0), so a firmware that polls
 * RCC_CR for HSERDY or PLLRDY hangs there. The RCC and GPIO writes below are
 * what real silicon needs (QEMU ignores them).
 *
 * BOARD_CFLAGS: -mcpu=cortex-m4 -mfloat-abi=soft
 */
#include "board.h"

#define PCLK2_HZ 16000000u /* HSI, no prescaler */
#define BAUD 115200u

#define RCC 0x40023800u
#define RCC_AHB1ENR (*(volatile uint32_t*)(RCC + 0x30u))
#define RCC_APB2ENR (*(volatile uint32_t*)(RCC + 0x44u))
#define GPIOA 0x40020000u
#define GPIOA_MODER (*(volatile uint32_t*)(GPIOA + 0x00u))
#define GPIOA_AFRH (*(volatile uint32_t*)(GPIOA + 0x24u))

#define USART1 0x40011000u
#define USART_SR (*(volatile uint32_t*)(USART1 + 0x00u))
#define USART_DR (*(volatile uint32_t*)(USART1 + 0x04u))
#define USART_BRR (*(volatile uint32_t*)(USART1 + 0x08u))
#define USART_CR1 (*(volatile uint32_t*)(USART1 + 0x0Cu))
#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_RXNEIE (1u << 5)
#define CR1_UE (1u << 13)

#define NVIC_ISER1 (*(volatile uint32_t*)0xE000E104u)
#define USART1_IRQ 37

const char board_name[] = "netduinoplus2";
/* 0xA0000000 is the FSMC's control registers, absent on the STM32F405RG
 * (no FSMC on 64-pin parts) and unmapped in QEMU: a read is a bus error. */
const uint32_t board_unmapped_address = 0xA0000000u;

/* QEMU's USART model takes a byte from the host whenever RXNE is clear and
 * throws it away unless UE and RE are set: a command the host sends while
 * the startup code runs (just after a reset, or after a probe resumed the
 * board) was lost, and its sender waited out a timeout. The model stops
 * taking input while RXNE is set, and a write to SR sets the bits written
 * there; so the first thing the firmware does is set RXNE, and input waits
 * in QEMU until board_init reads DR (which clears RXNE and tells QEMU to
 * offer input again). Measured (tests/test_mcu_early_rx.c): a PING sent
 * while the board stood at main was never answered before; now it is.
 * Bytes that reach QEMU before this first instruction still get dropped.
 * On silicon the write does nothing (and USART1's clock is not even on
 * yet): RXNE and TC are cleared by writing 0, a 1 leaves them as they are,
 * and TXE is read-only. It is the only register access here: each one is
 * a trip out of QEMU's translated code, and the window stays short. */
void board_early_init(void) { USART_SR = SR_TXE | SR_TC | SR_RXNE; }

void board_init(void) {
    RCC_AHB1ENR |= 1u << 0;                                            /* GPIOA */
    RCC_APB2ENR |= 1u << 4;                                            /* USART1 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);        /* PA9, PA10: alternate function */
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFFu << 4)) | (0x77u << 4);          /* AF7: USART1 TX, RX */
    USART_BRR = (PCLK2_HZ + BAUD / 2u) / BAUD;                         /* oversampling by 16 */
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE;
    /* Reading DR clears the RXNE board_early_init set (the value is not a
     * byte from the host) and lets QEMU offer what waited; the interrupt
     * is enabled after, so the handler sees only real bytes. */
    (void)USART_DR;
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE | CR1_RXNEIE;
    NVIC_ISER1 = 1u << (USART1_IRQ - 32);
}

void board_putc(uint8_t c) {
    while (!(USART_SR & SR_TXE)) {
    }
    USART_DR = c;
}

/* Reading SR then DR clears RXNE and ORE; an overrun has lost a byte. */
static void usart1_irq(void) {
    uint32_t sr = USART_SR;
    if (sr & SR_ORE) fw_rx_overrun();
    if (sr & (SR_RXNE | SR_ORE)) fw_rx_byte((uint8_t)USART_DR);
}

static void unexpected_irq(void) { fw_fault("unexpected interrupt"); }

/* Only USART1's interrupt is ever enabled; the others point somewhere
 * that says so rather than at address 0. */
#define U unexpected_irq
__attribute__((section(".vectors_irq"), used)) const cortexm_vector board_irq_vectors[USART1_IRQ + 1] = {
    U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, /* IRQ 0-19 */
    U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,          /* IRQ 20-36 */
    usart1_irq,                                                   /* IRQ 37: USART1 */
};
