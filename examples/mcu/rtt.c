/* rtt.c - the minimal SEGGER RTT control block of rtt.h. */
#include "rtt.h"

rtt_control_block _SEGGER_RTT;
volatile uint32_t rtt_dropped;
static char rtt_up_buf[RTT_UP_SIZE];
static char rtt_down_buf[RTT_DOWN_SIZE];

/* The host reads the offsets while the target runs (or is halted at any
 * instruction): data is stored before the offset that publishes it. */
#define RTT_BARRIER() __asm__ volatile("" ::: "memory")

void rtt_init(void) {
    /* The id is written last and built from scrambled bytes, so the
     * image holds no copy of it that a host's RAM search could take for
     * the block, and a host never sees the id on a half-made block. */
    static const unsigned char scrambled[10] = {'S' ^ 0x5a, 'E' ^ 0x5a, 'G' ^ 0x5a, 'G' ^ 0x5a, 'E' ^ 0x5a,
                                                'R' ^ 0x5a, ' ' ^ 0x5a, 'R' ^ 0x5a, 'T' ^ 0x5a, 'T' ^ 0x5a};
    volatile char* id = _SEGGER_RTT.id;
    int i;
    _SEGGER_RTT.max_up = 1;
    _SEGGER_RTT.max_down = 1;
    _SEGGER_RTT.up[0].name = "Terminal";
    _SEGGER_RTT.up[0].buffer = rtt_up_buf;
    _SEGGER_RTT.up[0].size = RTT_UP_SIZE;
    _SEGGER_RTT.up[0].wr_off = 0;
    _SEGGER_RTT.up[0].rd_off = 0;
    _SEGGER_RTT.up[0].flags = 0;
    _SEGGER_RTT.down[0].name = "Terminal";
    _SEGGER_RTT.down[0].buffer = rtt_down_buf;
    _SEGGER_RTT.down[0].size = RTT_DOWN_SIZE;
    _SEGGER_RTT.down[0].wr_off = 0;
    _SEGGER_RTT.down[0].rd_off = 0;
    _SEGGER_RTT.down[0].flags = 0;
    for (i = 10; i < 16; i++) id[i] = 0;
    RTT_BARRIER();
    for (i = 9; i >= 0; i--) id[i] = (char)(scrambled[i] ^ 0x5a);
    RTT_BARRIER();
}

size_t rtt_write(const void* data, size_t len) {
    rtt_buffer* b = &_SEGGER_RTT.up[0];
    const char* d = (const char*)data;
    uint32_t wr = b->wr_off, rd = b->rd_off;
    size_t n = 0;
    while (n < len) {
        uint32_t next = wr + 1 == b->size ? 0 : wr + 1;
        if (next == rd) { /* full: one slot always stays empty */
            rtt_dropped += (uint32_t)(len - n);
            break;
        }
        b->buffer[wr] = d[n++];
        wr = next;
    }
    RTT_BARRIER();
    b->wr_off = wr;
    return n;
}

size_t rtt_read(void* out, size_t cap) {
    rtt_buffer* b = &_SEGGER_RTT.down[0];
    char* o = (char*)out;
    uint32_t rd = b->rd_off, wr = b->wr_off;
    size_t n = 0;
    RTT_BARRIER();
    while (n < cap && rd != wr) {
        o[n++] = b->buffer[rd];
        rd = rd + 1 == b->size ? 0 : rd + 1;
    }
    RTT_BARRIER();
    b->rd_off = rd;
    return n;
}
