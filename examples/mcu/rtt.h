/* rtt.h - a minimal SEGGER RTT control block for firmware (freestanding C99).
 *
 * The host finds the block in RAM (the "SEGGER RTT" id, or the symbol
 * _SEGGER_RTT in the ELF) and moves bytes through the debug probe's memory
 * access: it reads up-buffers (target to host) and advances their RdOff,
 * and writes down-buffers (host to target) and advances their WrOff. The
 * firmware owns the other offset of each. One up- and one down-buffer;
 * the layout is SEGGER's, so J-Link's and OpenOCD's RTT readers and hil's
 * "rtt" channel (hil_probe.h) all understand it.
 *
 *     rtt_init();
 *     rtt_write("hello\n", 6);        (never blocks: what does not fit is dropped and counted)
 *     n = rtt_read(buf, sizeof buf);  (0 when the host sent nothing)
 */
#ifndef FW_RTT_H
#define FW_RTT_H

#include <stddef.h>
#include <stdint.h>

#ifndef RTT_UP_SIZE
#define RTT_UP_SIZE 1024
#endif
#ifndef RTT_DOWN_SIZE
#define RTT_DOWN_SIZE 256
#endif

typedef struct rtt_buffer {
    const char* name;
    char* buffer;
    uint32_t size;
    volatile uint32_t wr_off;   /* up: the target's; down: the host's */
    volatile uint32_t rd_off;   /* up: the host's; down: the target's */
    uint32_t flags;             /* 0: skip what does not fit (never block) */
} rtt_buffer;

typedef struct rtt_control_block {
    char id[16];                /* "SEGGER RTT", written last by rtt_init */
    int32_t max_up;
    int32_t max_down;
    rtt_buffer up[1];
    rtt_buffer down[1];
} rtt_control_block;

extern rtt_control_block _SEGGER_RTT;
extern volatile uint32_t rtt_dropped;   /* bytes rtt_write could not place */

void rtt_init(void);
size_t rtt_write(const void* data, size_t len);
size_t rtt_read(void* out, size_t cap);

#endif
