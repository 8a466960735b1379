/* Host-side tests of firmware code, next to the board tests. */
#include "hil.h"
#include "crc16.h"

HIL_SUITE(crc16, "id=1; tags=host")

HIL_TEST_META(crc16, check_value, "id=1") {
    HIL_ASSERT_EQ(crc16_xmodem("123456789", 9), 0x31C3);
}

HIL_TEST_META(crc16, empty_input_is_zero, "id=2") {
    HIL_ASSERT_EQ(crc16_xmodem("", 0), 0);
}
