/* SPDX-License-Identifier: MIT */
/*
 * uc-sample-app: an app talking to uc-sample-dext through libringkit.
 * Waits for the driver's service, opens a user client, and shows each kind
 * of call: scalars, a structure, a memory descriptor, an async call and a
 * data queue.
 *
 *     uc-sample-app [--root DIR]       (or RINGKIT_ROOT)
 *
 * Build against an installed SDK:  cc app.c $(pkg-config --cflags --libs ringkit)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringkit/client.h>

static int fail(const char *what, int r, rk_client *c) {
        fprintf(stderr, "uc-sample-app: %s: %s%s%s\n", what, strerror(-r), c && *rk_client_last_error(c) ? ": " : "",
                c ? rk_client_last_error(c) : "");
        return 1;
}

static void on_later(rk_connection *conn, int status, const uint64_t *scalars, uint32_t n, const void *data,
                     size_t len, void *ud) {
        printf("async call completed: status %d, result %llu\n", status, n ? (unsigned long long) scalars[0] : 0ULL);
        *(int *) ud = 1;
}

int main(int argc, char **argv) {
        const char *root = argc > 2 && strcmp(argv[1], "--root") == 0 ? argv[2] : NULL;
        rk_client *c = NULL;
        rk_matching *m = NULL;
        rk_connection *conn = NULL;
        rk_memory *mem = NULL;
        rk_queue *q = NULL;
        uint64_t id, in[2] = { 40, 2 }, out[2];
        uint32_t n = 1;
        int r, done = 0;

        if ((r = rk_client_new(root, &c)) < 0)
                return fail("cannot reach ringd", r, NULL);
        rk_matching_new(&m);
        rk_matching_set_class(m, "UCSampleDriver");
        if ((r = rk_client_wait(c, m, 5000, &id)) < 0)
                return fail("waiting for UCSampleDriver", r, c);
        printf("found UCSampleDriver: registry ID 0x%llx\n", (unsigned long long) id);
        if ((r = rk_client_open(c, id, 0, &conn)) < 0)
                return fail("open", r, c);

        /* scalars */
        if ((r = rk_connection_call_scalars(conn, 0, in, 2, out, &n)) < 0)
                return fail("add", r, NULL);
        printf("add(40, 2) = %llu\n", (unsigned long long) out[0]);

        /* a structure */
        {
                char reply[64];
                rk_call call = { .struct_in = "hello, driver", .struct_in_size = 14, .struct_out = reply,
                                 .struct_out_size = sizeof(reply) };
                if ((r = rk_connection_call(conn, 1, &call)) < 0)
                        return fail("echo", r, NULL);
                printf("echo: \"%s\" (%zu bytes)\n", reply, call.struct_out_size);
        }

        /* a memory descriptor: 1 MiB the driver maps too */
        if ((r = rk_memory_new(conn, 1 << 20, &mem)) < 0)
                return fail("memory", r, NULL);
        {
                uint64_t args[2] = { 2, 0x5a };
                rk_call call = { .scalar_in = args, .scalar_in_count = 2, .scalar_out = out, .scalar_out_count = 1,
                                 .memory = mem, .memory_length = rk_memory_get_size(mem) };
                if ((r = rk_connection_call(conn, 2, &call)) < 0)
                        return fail("memory fill", r, NULL);
                printf("the driver filled %llu bytes of shared memory with 0x%02x\n", (unsigned long long) out[0],
                       ((unsigned char *) rk_memory_get_address(mem))[12345]);
        }

        /* async */
        {
                uint64_t ms = 50;
                rk_call call = { .scalar_in = &ms, .scalar_in_count = 1, .scalar_out_count = 1 };
                if ((r = rk_connection_call_async(conn, 3, &call, on_later, &done)) < 0)
                        return fail("async", r, NULL);
                while (!done)
                        if ((r = rk_connection_dispatch(conn, 1000)) < 0)
                                return fail("dispatch", r, NULL);
        }

        /* a data queue of 5 records */
        {
                uint64_t args[2] = { 5, 16 }, rec[2];
                size_t len;
                n = 1;
                if ((r = rk_connection_call_scalars(conn, 4, args, 2, out, &n)) < 0)
                        return fail("stream", r, NULL);
                if ((r = rk_connection_get_queue(conn, (uint32_t) out[0], 2000, &q)) < 0)
                        return fail("queue", r, NULL);
                for (int k = 0; k < 5; k++) {
                        while ((r = rk_queue_dequeue(q, rec, sizeof(rec), &len)) == -EAGAIN)
                                if ((r = rk_queue_wait(q, 2000)) < 0)
                                        return fail("queue wait", r, NULL);
                        if (r < 0)
                                return fail("dequeue", r, NULL);
                        printf("event %llu (%zu bytes)\n", (unsigned long long) rec[0], len);
                }
        }
        rk_memory_free(mem);
        rk_connection_close(conn);
        rk_matching_free(m);
        rk_client_free(c);
        printf("done\n");
        return 0;
}
