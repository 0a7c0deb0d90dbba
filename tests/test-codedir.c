/* SPDX-License-Identifier: MIT */
#include "test.h"
TEST(placeholder) {}
