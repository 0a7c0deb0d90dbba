/* SPDX-License-Identifier: MIT */
/* Placeholder: activation requests (issue 5) land here. */
#include "ringd/ringd.h"
