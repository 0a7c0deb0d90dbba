/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include "ringctl.h"
int cmd_bundle(int argc, char **argv) {
        (void) argc;
        (void) argv;
        fprintf(stderr, "not implemented yet\n");
        return RK_EXIT_FAIL;
}
