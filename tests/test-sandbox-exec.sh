#!/bin/bash
# SPDX-License-Identifier: MIT
# placeholder until the feature lands
echo "0 passed, 0 failed"
