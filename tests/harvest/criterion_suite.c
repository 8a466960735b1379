/* A small Criterion suite harvested by tests/test_harvest.c through a
 * process channel (criterion --tap): passing, failing, skipped, disabled and
 * crashing cases. */
#include <criterion/criterion.h>
#include <signal.h>

Test(board, adds_up) { cr_assert_eq(2 + 2, 4); }
Test(board, off_by_one) { cr_assert_eq(3, 4, "three is not four"); }
Test(board, not_on_this_board) { cr_skip_test("no CAN transceiver on this board"); }
Test(board, null_deref) { raise(SIGSEGV); }
Test(board, disabled_case, .disabled = true) { cr_assert(0); }
