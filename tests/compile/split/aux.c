/* One module's implementation in a file of its own: see core.c. */
#define HIL_IMPLEMENTATION_AUX
#include "hil.h"
#include "hil_aux.h"
