/* Compiles every hil header with its implementation: used by
 * `make compile-matrix` (gcc/clang, C99/C11/C++17, -Werror) and by the
 * compile-time benchmark. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#if __has_include("hil_connectors.h")
#include "hil_connectors.h"
#endif
#if __has_include("hil_aux.h")
#include "hil_aux.h"
#endif
#if __has_include("hil_runner.h")
#include "hil_runner.h"
#endif
#if __has_include("hil_probe.h")
#include "hil_probe.h"
#endif
#if __has_include("hil_uds.h")
#include "hil_uds.h"
#endif
#if __has_include("hil_console.h")
#include "hil_console.h"
#endif

HIL_TEST(matrix, compiles) { HIL_ASSERT_EQ(1, 1); }

HIL_MAIN()
