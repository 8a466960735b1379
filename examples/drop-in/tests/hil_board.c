/* Tests against a real board: they run when the lab's configuration names
 * the board's port (-c lab.conf, or --set params.board_port=/dev/ttyUSB0),
 * and are skipped with that hint otherwise. */
#include "hil.h"

HIL_SUITE(board, "id=2; tags=hardware")

HIL_TEST_META(board, answers_ping, "id=1; timeout=10") {
    const char* port = hil_param("board_port", NULL);
    if (!port) HIL_SKIP("no board configured: run with --set params.board_port=/dev/ttyUSB0");
    HIL_INFO("board", "would talk to %s here (see hil_connectors.h)", port);
}
