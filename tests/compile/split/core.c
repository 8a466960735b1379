/* The implementation split over one file per module (hil.h, section 10):
 * make compile-matrix builds and links these six files in every
 * configuration; the compile-time benchmark builds them two at a time
 * (compile_all_split_O0_j2 in bench/bench_core.c). This one: hil.h. */
#define HIL_IMPLEMENTATION_CORE
#include "hil.h"
