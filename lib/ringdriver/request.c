/* SPDX-License-Identifier: MIT */
/*
 * Family requests: one round trip to ringd on a private answer socket.
 *
 * The request goes on the instance's channel with one end of a fresh
 * SOCK_SEQPACKET pair; ringd answers exactly once on the other end and
 * closes it (ipc/proto.h).  Waiting on that socket rather than on the
 * channel means the lifecycle messages on the channel are never read here,
 * so a driver may call a family request from start().
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "driver-private.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "shared/macro.h"

int rk_driver_request(rk_driver *d, uint32_t type, rk_value *body, rk_value **ret_reply, int *ret_fd) {
        _cleanup_(rk_channel_freep) rk_channel *ch = NULL;
        _cleanup_(rk_value_unrefp) rk_value *reply = NULL;
        rk_msg m = RK_MSG_INIT;
        int64_t status = -EBADMSG;
        int sv[2], r;

        if (!d || !body)
                return -EINVAL;
        r = rk_socketpair(sv);
        if (r < 0)
                return r;
        r = rk_channel_new(sv[0], RK_CHANNEL_FDS, &ch);
        if (r < 0) {
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        r = rk_driver_send_now(d, type, body, sv[1], RK_DRIVER_REQUEST_TIMEOUT_MS);
        close(sv[1]); /* ringd has its copy now; ours would keep the answer socket from ever closing */
        if (r < 0)
                return r;
        r = rk_channel_recv_wait(ch, &m, RK_DRIVER_REQUEST_TIMEOUT_MS);
        if (r == -ECONNRESET)
                return -EPIPE;
        if (r < 0)
                return r;
        if (m.type != RK_DEXT_FAMILY_REPLY || rk_msg_read_plist(&m, &reply) < 0 ||
            !rk_integer_s64(rk_dict_get(reply, "status"), &status) || status > 0 || status < -4095) {
                rk_msg_done(&m);
                return -EBADMSG;
        }
        if (status < 0) {
                const char *why = rk_dict_get_string(reply, "error");
                rk_driver_log(d, RK_LOG_DEBUG, "ringd refused request %u: %s", (unsigned) type,
                              why ? why : strerror((int) -status));
                rk_msg_done(&m);
                return (int) status;
        }
        if (ret_fd)
                *ret_fd = rk_msg_take_fd(&m);
        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        rk_msg_done(&m);
        return 0;
}
