/* SPDX-License-Identifier: MIT */
/* Placeholder: ringkit's own binary plist codec lands here. */
#include "value/bplist.h"
