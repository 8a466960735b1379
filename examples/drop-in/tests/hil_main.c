/* The one file of the test program that compiles hil's implementation. */
#define HIL_IMPLEMENTATION
#include "hil.h"
HIL_MAIN()
