/* SPDX-License-Identifier: MIT */
/*
 * The client end of ringd's control socket (ipc/proto.h), shared by ringctl
 * (tools/ringctl/client.c) and libringkit (lib/ringkit/client.c): where the
 * socket is, connecting to it, and pushing a channel's queued messages out.
 */
#pragma once

#include "ipc/msg.h"

/* ROOT/run/ringd.sock; with ROOT NULL, $RINGKIT_ROOT/run/ringd.sock, else /run/ringkit/ringd.sock.
 * The caller frees it; NULL when out of memory. */
char *rk_ctl_socket_path(const char *root);
/* A connected SOCK_SEQPACKET descriptor (O_CLOEXEC) to the socket at PATH, or -ENAMETOOLONG, or connect's -errno. */
int rk_ctl_connect(const char *path);
/* Send everything the channel has queued, waiting for the socket to take it: 0, or a negative errno. */
int rk_ctl_flush_wait(rk_channel *ch);
