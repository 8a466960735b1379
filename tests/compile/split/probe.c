/* One module's implementation in a file of its own: see core.c. */
#define HIL_IMPLEMENTATION_PROBE
#include "hil.h"
#include "hil_probe.h"
