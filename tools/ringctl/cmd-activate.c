/* SPDX-License-Identifier: MIT */
/* Placeholder: ringctl activate/approve/deny/deactivate/reset land here. */
#include "ringctl.h"
