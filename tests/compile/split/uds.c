/* One module's implementation in a file of its own: see core.c. */
#define HIL_IMPLEMENTATION_UDS
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_probe.h"
#include "hil_uds.h"
