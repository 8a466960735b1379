/* A test program whose metadata is wrong: a missing ';' between two items.
   Running it must stop with a clear error instead of quietly tagging the
   test "slow timeout=5" and using the default timeout. */
#define HIL_IMPLEMENTATION
#include "hil.h"

HIL_TEST_META(meta, missing_separator, "tags=slow timeout=5") { HIL_ASSERT_EQ(1, 1); }
HIL_MAIN()
