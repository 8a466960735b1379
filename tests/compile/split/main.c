/* Tests and main, without any implementation: they link against the
 * implementation files of this directory. Calls into every module, so a
 * module whose implementation is missing fails to link. */
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_runner.h"
#include "hil_probe.h"
#include "hil_uds.h"
#include "hil_console.h"

HIL_TEST(split, every_module_links) {
    hil_channel_config cc;
    hil_aux_config ac;
    hil_job_config jc;
    hil_rsp_config rc;
    hil_channel_config_init(&cc);
    hil_aux_config_init(&ac);
    hil_job_config_init(&jc);
    hil_rsp_config_init(&rc);
    /* the built-in channel types registered themselves from connectors.c */
    HIL_ASSERT(hil_channel_type_find("tcp") != NULL);
    HIL_ASSERT(hil_uds_nrc_name(0x78) != NULL);
    {
        hil_console_config kc;
        hil_console_config_init(&kc);
    }
}

HIL_MAIN()
