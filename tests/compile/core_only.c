/* hil.h alone with its implementation: the compile-time benchmark's
 * figure for the core (compile_core_O0 in bench/bench_core.c). */
#define HIL_IMPLEMENTATION
#include "hil.h"

HIL_TEST(core, compiles) { HIL_ASSERT_EQ(1, 1); }

HIL_MAIN()
