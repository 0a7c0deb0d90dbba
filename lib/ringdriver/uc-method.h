/* SPDX-License-Identifier: MIT */
/*
 * A call checked against its method's declaration (include/ringkit/userclient.h),
 * as a pure function: lib/ringdriver/userclient.c runs it on every call an
 * app makes (on the socket or in the call page) before the handler sees
 * it, and fuzz/fuzz-uc-wire.c drives it with hostile calls and tables.
 *
 * What stays true when it returns 0: the scalar counts are at most
 * UC_SCALAR_MAX, the input structure is what the method declared, the
 * output counts fit both the caller's room and the driver's buffer
 * (stout_room), and a method that needs a memory descriptor was given one.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "../ringkit/uc-wire.h"
#include "ringkit/userclient.h"

/*
 * 0 with the counts the handler may fill, or -EOPNOTSUPP (no such
 * selector: m is NULL or has no handler), -EINVAL (counts or sizes other
 * than declared, a synchronous call of an async method), -EFAULT (a memory
 * method called without a descriptor).
 */
static inline int uc_method_check(const struct uc_call *c, const rk_uc_method *m, size_t stout_room,
                                  uint32_t *ret_scalar_out, size_t *ret_struct_out) {
        bool async = c->flags & UC_CALL_ASYNC;

        if (!m || !m->fn)
                return -EOPNOTSUPP;
        if ((m->flags & RK_UC_METHOD_ASYNC) && !async)
                return -EINVAL;
        if ((m->scalar_in != RK_UC_VARIABLE && c->n_scalar_in != m->scalar_in) || c->n_scalar_in > UC_SCALAR_MAX)
                return -EINVAL;
        if (m->struct_in != RK_UC_VARIABLE && c->struct_in_len != m->struct_in)
                return -EINVAL;
        if (m->scalar_out == RK_UC_VARIABLE)
                *ret_scalar_out = c->n_scalar_out < UC_SCALAR_MAX ? c->n_scalar_out : UC_SCALAR_MAX;
        else if (m->scalar_out > UC_SCALAR_MAX || c->n_scalar_out < m->scalar_out)
                return -EINVAL;
        else
                *ret_scalar_out = m->scalar_out;
        if (m->struct_out == RK_UC_VARIABLE)
                *ret_struct_out = c->struct_out_cap < stout_room ? c->struct_out_cap : stout_room;
        else if (m->struct_out > stout_room || c->struct_out_cap < m->struct_out)
                return -EINVAL;
        else
                *ret_struct_out = m->struct_out;
        if (!(c->flags & UC_CALL_MEMORY) && (m->flags & RK_UC_METHOD_MEMORY))
                return -EFAULT;
        return 0;
}
