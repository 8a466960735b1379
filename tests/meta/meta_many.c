/* A test with more failed checks than a result lists (64). */
#define HIL_IMPLEMENTATION
#include "hil.h"

HIL_TEST(many, failures) {
    int i;
    for (i = 0; i < 100; i++) HIL_EXPECT_EQ(i, -1);
}

HIL_MAIN()
