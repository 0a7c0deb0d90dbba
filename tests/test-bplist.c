/* SPDX-License-Identifier: MIT */
/* Placeholder for the binary plist codec's tests. */
#include "test.h"
