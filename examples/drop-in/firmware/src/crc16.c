#include "crc16.h"

uint16_t crc16_xmodem(const void* data, size_t len) {
    const uint8_t* p = (const uint8_t*)data;
    uint16_t crc = 0;
    while (len--) {
        int i;
        crc ^= (uint16_t)(*p++ << 8);
        for (i = 0; i < 8; i++) crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}
