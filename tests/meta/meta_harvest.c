/* Harvested suites in a real run (tests/test_harvest.c writes the
 * configuration): cmocka's GoogleTest-style and TAP output, cmocka killed in
 * the middle of a case, and Criterion's TAP, each through a process channel;
 * every target case becomes a result of its own in every report. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_harvest.h"

HIL_HARVEST_TEST(producers, cmocka_gtest, "cm_gtest", "format=gtest; suite=cm_gtest")
HIL_HARVEST_TEST(producers, cmocka_tap, "cm_tap", "suite=cm_tap")
HIL_HARVEST_TEST(producers, cmocka_dies, "cm_dies", "suite=cm_dies")
HIL_HARVEST_TEST(producers, criterion_tap, "cr_tap", "format=tap; suite=cr_tap")

HIL_MAIN()
