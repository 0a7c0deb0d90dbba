/* SPDX-License-Identifier: MIT */
/*
 * ringctl's connection to ringd's control socket: one request, one reply
 * (ipc/proto.h).  The socket is ROOT/run/ringd.sock with --root DIR or
 * $RINGKIT_ROOT, else /run/ringkit/ringd.sock (ipc/ctl-client.c, which
 * libringkit shares).  Also the option parsing,
 * request building and JSON printing the commands share.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "ipc/ctl-client.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "shared/json.h"
#include "shared/macro.h"

int ringctl_call(const char *root, rk_value *request, int timeout_ms, rk_value **ret) {
        rk_channel *ch = NULL;
        int r = ringctl_call_open(root, request, timeout_ms, &ch, ret);

        rk_channel_free(ch);
        return r;
}

int ringctl_call_open(const char *root, rk_value *request, int timeout_ms, rk_channel **ret_ch, rk_value **ret) {
        _cleanup_(freep) char *path = rk_ctl_socket_path(root);
        rk_channel *ch = NULL;
        rk_msg m = { .fd = -EBADF };
        int fd, r;

        *ret_ch = NULL;
        if (!path)
                return -ENOMEM;
        fd = rk_ctl_connect(path);
        if (fd < 0) {
                fprintf(stderr, "ringctl: cannot reach ringd at %s: %s\n", path, strerror(-fd));
                return fd;
        }
        r = rk_channel_new(fd, 0, &ch);
        if (r < 0) {
                close(fd);
                return r;
        }
        r = rk_channel_send_plist(ch, RK_CTL_REQUEST, 1, -EBADF, request);
        if (r >= 0)
                r = rk_ctl_flush_wait(ch);
        if (r >= 0)
                r = rk_channel_recv_wait(ch, &m, timeout_ms);
        if (r >= 0 && m.type != RK_CTL_REPLY)
                r = -EBADMSG;
        if (r >= 0)
                r = rk_msg_read_plist(&m, ret);
        rk_msg_done(&m);
        if (r >= 0)
                *ret_ch = ch;
        else
                rk_channel_free(ch);
        if (r == -ETIMEDOUT)
                fprintf(stderr, "ringctl: ringd did not answer in time\n");
        else if (r == -ECONNRESET)
                fprintf(stderr, "ringctl: ringd closed the connection\n");
        return r;
}

int ringctl_check_reply(const char *what, rk_value *reply) {
        const char *err;
        int64_t e = 0;

        if (rk_bool(rk_dict_get(reply, "ok")))
                return 0;
        err = rk_dict_get_string(reply, "error");
        (void) rk_integer_s64(rk_dict_get(reply, "errno"), &e);
        fprintf(stderr, "ringctl %s: %s\n", what, err ? err : "failed");
        return e > 0 ? (int) -e : -EIO;
}

int ringctl_parse_opts(int argc, char **argv, ringctl_opts *o, const char *usage) {
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' }, { "json", no_argument, NULL, 'j' },
                { "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' }, {},
        };
        int ch;

        optind = 0;
        o->timeout_ms = 10000;
        while ((ch = getopt_long(argc, argv, "+lr:jh", opts, NULL)) >= 0) {
                switch (ch) {
                case 'r':
                        o->root = optarg;
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 'l':
                        o->long_ = true;
                        break;
                case 't':
                        o->timeout_ms = (int) (strtod(optarg, NULL) * 1000);
                        break;
                case 'h':
                        printf("usage: %s\n", usage);
                        exit(0);
                default:
                        fprintf(stderr, "usage: %s\n", usage);
                        return -1;
                }
        }
        return optind;
}

rk_value *ringctl_request(const char *command) {
        rk_value *m = NULL;
        if (rk_value_new_dict(&m) < 0 || rk_dict_set_string(m, "command", command) < 0)
                return rk_value_unref(m);
        return m;
}

int ringctl_roundtrip(const ringctl_opts *o, const char *what, rk_value *req, rk_value **reply) {
        int r = ringctl_call(o->root, req, o->timeout_ms, reply);
        if (r < 0)
                return r;
        return ringctl_check_reply(what, *reply);
}

void ringctl_print_json(const rk_value *v) {
        rk_json j;
        rk_json_init(&j, stdout);
        rk_json_value(&j, v); /* ends with a newline */
        fflush(stdout);
}
