/* SPDX-License-Identifier: MIT */
/*
 * `ringctl debug BUNDLE-ID`: ringd starts the process with
 * RINGKIT_WAIT_DEBUGGER=1 in its environment, and the SDK it links (the
 * driver library for a dext, the endpoint security or network filter
 * library for a system extension) stops it with SIGSTOP from a
 * constructor, before main() runs, so `gdb -p PID` can attach before its
 * first line.  The variable is taken out, so that what the process
 * starts does not stop too.  Each library defines its constructor with
 * RK_DEBUG_WAIT_CONSTRUCTOR(name).
 */
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static inline void rk_debug_wait(void) {
        const char *e = getenv("RINGKIT_WAIT_DEBUGGER");
        if (e && strcmp(e, "1") == 0) {
                unsetenv("RINGKIT_WAIT_DEBUGGER");
                raise(SIGSTOP);
        }
}

#define RK_DEBUG_WAIT_CONSTRUCTOR(name) \
        __attribute__((constructor)) static void name(void) { \
                rk_debug_wait(); \
        }
