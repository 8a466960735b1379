/* A program built against the installed hil package (make test-install). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
HIL_MAIN()
