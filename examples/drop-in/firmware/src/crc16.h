/* Part of the example firmware: CRC-16/XMODEM, as a UART protocol uses it. */
#ifndef CRC16_H
#define CRC16_H
#include <stddef.h>
#include <stdint.h>
uint16_t crc16_xmodem(const void* data, size_t len);
#endif
