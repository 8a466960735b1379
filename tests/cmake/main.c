#define HIL_IMPLEMENTATION
#include "hil.h"
HIL_MAIN()
