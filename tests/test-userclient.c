/* SPDX-License-Identifier: MIT */
/*
 * test-userclient-app: the app side of tests/test-userclient.sh, a real app
 * process that links only libringkit and talks to uc-sample-dext run by a
 * real ringd.  Prints "ok NAME" or "FAIL NAME: why" per check; exits 1 if
 * any failed.
 *
 *   test-userclient-app ROOT checks      argument checking, both call paths, structures,
 *                                        memory descriptors, async completion, queues, find/wait
 *   test-userclient-app ROOT add         one call (prints the sum)
 *   test-userclient-app ROOT sleep MS    a call that blocks MS in the driver (the test kills us)
 *   test-userclient-app ROOT crash       the driver dies mid-call: sync (call page) and async
 *   test-userclient-app ROOT denied      the open must be refused with -EPERM
 *   test-userclient-app ROOT cycle N     N opens and closes, each with memory and a queue
 *   test-userclient-app ROOT abandon     closes with an async call still pending in the driver
 *   test-userclient-app ROOT stats       prints "open N closed M" as the driver counts
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringkit/client.h>

static int failed;

#define CHECK(name, cond, ...)                                                  \
        do {                                                                    \
                if (cond)                                                       \
                        printf("ok   %s\n", name);                              \
                else {                                                          \
                        printf("FAIL %s: ", name);                              \
                        printf(__VA_ARGS__);                                    \
                        printf("\n");                                           \
                        failed++;                                               \
                }                                                               \
                fflush(stdout);                                                 \
        } while (0)

static rk_client *client(const char *root) {
        rk_client *c;
        int r = rk_client_new(root, &c);
        if (r < 0) {
                printf("FAIL connect: %s\n", strerror(-r));
                exit(1);
        }
        return c;
}

static uint64_t find_driver(rk_client *c) {
        rk_matching *m;
        uint64_t id = 0;
        int r;

        rk_matching_new(&m);
        rk_matching_set_class(m, "UCSampleDriver");
        r = rk_client_wait(c, m, 10000, &id);
        rk_matching_free(m);
        if (r < 0) {
                printf("FAIL find-driver: %s\n", strerror(-r));
                exit(1);
        }
        return id;
}

static rk_connection *open_driver(rk_client *c, uint64_t id) {
        rk_connection *conn;
        int r = rk_client_open(c, id, 0, &conn);
        if (r < 0) {
                printf("FAIL open: %s (%s)\n", strerror(-r), rk_client_last_error(c));
                exit(1);
        }
        return conn;
}

static int add(rk_connection *conn, uint64_t a, uint64_t b, uint64_t *sum) {
        uint64_t in[2] = { a, b };
        uint32_t n = 1;
        return rk_connection_call_scalars(conn, 0, in, 2, sum, &n);
}

/* ---- checks ---- */

static void check_arguments(rk_connection *conn, const char *path) {
        uint64_t in[3] = { 1, 2, 3 }, out[4] = { 0 }, pair[2] = { 7, 8 }, sum = 0;
        char name[96];
        uint32_t n;
        int r;

#define NAME(s) (snprintf(name, sizeof(name), "%s-%s", s, path), name)
        r = add(conn, 40, 2, &sum);
        CHECK(NAME("add"), r == 0 && sum == 42, "r=%d sum=%llu", r, (unsigned long long) sum);
        n = 1;
        r = rk_connection_call_scalars(conn, 0, in, 1, out, &n);
        CHECK(NAME("too-few-scalars-einval"), r == -EINVAL, "r=%d", r);
        n = 1;
        r = rk_connection_call_scalars(conn, 0, in, 3, out, &n);
        CHECK(NAME("too-many-scalars-einval"), r == -EINVAL, "r=%d", r);
        n = 0;
        r = rk_connection_call_scalars(conn, 0, in, 2, out, &n);
        CHECK(NAME("no-room-for-output-einval"), r == -EINVAL, "r=%d", r);
        n = 4;
        r = rk_connection_call_scalars(conn, 0, in, 2, out, &n);
        CHECK(NAME("more-room-is-fine"), r == 0 && n == 1 && out[0] == 3, "r=%d n=%u", r, n);
        r = rk_connection_call_scalars(conn, 99, NULL, 0, NULL, NULL);
        CHECK(NAME("unknown-selector-eopnotsupp"), r == -EOPNOTSUPP, "r=%d", r);
        {
                rk_call call = { .struct_in = pair, .struct_in_size = 16, .struct_out = &sum, .struct_out_size = 8 };
                r = rk_connection_call(conn, 8, &call);
                CHECK(NAME("struct-fixed"), r == 0 && sum == 15 && call.struct_out_size == 8, "r=%d", r);
                call.struct_in_size = 15;
                call.struct_out_size = 8;
                r = rk_connection_call(conn, 8, &call);
                CHECK(NAME("struct-in-wrong-size-einval"), r == -EINVAL, "r=%d", r);
                call.struct_in_size = 16;
                call.struct_out_size = 4;
                r = rk_connection_call(conn, 8, &call);
                CHECK(NAME("struct-out-too-small-einval"), r == -EINVAL, "r=%d", r);
        }
        {
                uint64_t mode = 1;
                rk_call call = { .scalar_in = &mode, .scalar_in_count = 1, .scalar_out = out, .scalar_out_count = 1 };
                r = rk_connection_call(conn, 2, &call);
                CHECK(NAME("memory-method-without-descriptor-efault"), r == -EFAULT, "r=%d", r);
        }
        {
                uint64_t ms = 1;
                rk_call call = { .scalar_in = &ms, .scalar_in_count = 1, .scalar_out = out, .scalar_out_count = 1 };
                r = rk_connection_call(conn, 3, &call);
                CHECK(NAME("async-method-called-sync-einval"), r == -EINVAL, "r=%d", r);
        }
        {
                uint64_t e = EIO;
                r = rk_connection_call_scalars(conn, 7, &e, 1, NULL, NULL);
                CHECK(NAME("method-error-returned"), r == -EIO, "r=%d", r);
        }
#undef NAME
}

static void check_structs(rk_connection *conn) {
        static uint8_t big[30000], back[30000];
        uint8_t small[4096], sback[4096];
        int r;

        for (size_t k = 0; k < sizeof(big); k++)
                big[k] = (uint8_t) (k * 7);
        memcpy(small, big, sizeof(small));
        {
                rk_call call = { .struct_in = small, .struct_in_size = sizeof(small), .struct_out = sback,
                                 .struct_out_size = sizeof(sback) };
                r = rk_connection_call(conn, 1, &call);
                CHECK("echo-4096-call-page", r == 0 && call.struct_out_size == sizeof(small) &&
                                                     memcmp(small, sback, sizeof(small)) == 0, "r=%d len=%zu", r,
                      call.struct_out_size);
        }
        {
                rk_call call = { .struct_in = big, .struct_in_size = sizeof(big), .struct_out = back,
                                 .struct_out_size = sizeof(back) };
                r = rk_connection_call(conn, 1, &call);
                CHECK("echo-30000-socket", r == 0 && call.struct_out_size == sizeof(big) &&
                                                   memcmp(big, back, sizeof(big)) == 0, "r=%d len=%zu", r,
                      call.struct_out_size);
        }
        {
                static uint8_t huge[70000];
                rk_call call = { .struct_in = huge, .struct_in_size = sizeof(huge) };
                r = rk_connection_call(conn, 1, &call);
                CHECK("struct-too-large-emsgsize", r == -EMSGSIZE, "r=%d", r);
        }
}

static void check_memory(rk_connection *conn) {
        rk_memory *mem;
        uint64_t out[1], args[2], want = 0;
        uint8_t *p;
        int r = rk_memory_new(conn, 1 << 20, &mem);

        CHECK("memory-new", r == 0, "r=%d", r);
        if (r < 0)
                return;
        p = rk_memory_get_address(mem);
        args[0] = 2;
        args[1] = 0xa5;
        {
                rk_call call = { .scalar_in = args, .scalar_in_count = 2, .scalar_out = out, .scalar_out_count = 1,
                                 .memory = mem, .memory_offset = 4096, .memory_length = 8192 };
                r = rk_connection_call(conn, 2, &call);
                CHECK("memory-driver-writes-app-sees", r == 0 && p[4096] == 0xa5 && p[4096 + 8191] == 0xa5 &&
                                                               p[4095] == 0 && p[4096 + 8192] == 0,
                      "r=%d", r);
        }
        for (size_t k = 0; k < (1 << 20) / 8; k++) {
                uint64_t w = k * 3 + 1;
                memcpy(p + k * 8, &w, 8);
                want += w;
        }
        args[0] = 1;
        {
                rk_call call = { .scalar_in = args, .scalar_in_count = 1, .scalar_out = out, .scalar_out_count = 1,
                                 .memory = mem, .memory_length = 1 << 20 };
                r = rk_connection_call(conn, 2, &call);
                CHECK("memory-app-writes-driver-sees", r == 0 && out[0] == want, "r=%d sum=%llu want=%llu", r,
                      (unsigned long long) out[0], (unsigned long long) want);
                call.memory_offset = 1;
                r = rk_connection_call(conn, 2, &call);
                CHECK("memory-range-past-end-efault", r == -EFAULT, "r=%d", r);
        }
        rk_memory_free(mem);
}

typedef struct done_rec {
        int n;
        int status[3];
        uint64_t value[3];
} done_rec;

static void on_done(rk_connection *conn, int status, const uint64_t *sc, uint32_t n, const void *d, size_t len,
                    void *ud) {
        done_rec *rec = ud;
        if (rec->n < 3) {
                rec->status[rec->n] = status;
                rec->value[rec->n] = n ? sc[0] : 0;
        }
        rec->n++;
}

static void check_async(rk_connection *conn) {
        done_rec rec = { 0 };
        uint64_t ms[3] = { 300, 100, 200 };
        int r = 0;

        for (int k = 0; k < 3 && r == 0; k++) {
                rk_call call = { .scalar_in = &ms[k], .scalar_in_count = 1, .scalar_out_count = 1 };
                r = rk_connection_call_async(conn, 3, &call, on_done, &rec);
        }
        CHECK("async-sent", r == 0, "r=%d", r);
        /* sync calls in between still work and do not run the callbacks */
        {
                uint64_t sum = 0;
                r = add(conn, 1, 1, &sum);
                CHECK("sync-call-while-async-pending", r == 0 && sum == 2 && rec.n == 0, "r=%d n=%d", r, rec.n);
        }
        for (int k = 0; k < 100 && rec.n < 3; k++)
                if (rk_connection_dispatch(conn, 100) < 0)
                        break;
        CHECK("async-completed", rec.n == 3 && rec.status[0] == 0 && rec.status[1] == 0 && rec.status[2] == 0,
              "n=%d", rec.n);
        CHECK("async-completed-in-time-order", rec.value[0] == 200 && rec.value[1] == 400 && rec.value[2] == 600,
              "values %llu %llu %llu", (unsigned long long) rec.value[0], (unsigned long long) rec.value[1],
              (unsigned long long) rec.value[2]);
}

static void check_queue(rk_connection *conn) {
        uint64_t args[2] = { 200000, 24 }, out[1], rec[3];
        uint32_t n = 1;
        rk_queue *q;
        size_t len;
        uint64_t got = 0;
        bool order = true;
        int r = rk_connection_call_scalars(conn, 4, args, 2, out, &n);

        CHECK("queue-created", r == 0 && out[0] > 0, "r=%d", r);
        if (r < 0)
                return;
        r = rk_connection_get_queue(conn, (uint32_t) out[0], 2000, &q);
        CHECK("queue-received", r == 0, "r=%d", r);
        if (r < 0)
                return;
        while (got < args[0]) {
                r = rk_queue_dequeue(q, rec, sizeof(rec), &len);
                if (r == -EAGAIN) {
                        r = rk_queue_wait(q, 5000);
                        if (r < 0)
                                break;
                        continue;
                }
                if (r < 0 || len != 24)
                        break;
                if (rec[0] != got)
                        order = false;
                got++;
        }
        CHECK("queue-all-records-in-order", got == args[0] && order, "got %llu of %llu, r=%d",
              (unsigned long long) got, (unsigned long long) args[0], r);
        r = rk_queue_wait(q, 50);
        CHECK("queue-empty-wait-times-out", r == -ETIMEDOUT, "r=%d", r);
        r = rk_queue_dequeue(q, rec, sizeof(rec), &len);
        CHECK("queue-empty-eagain", r == -EAGAIN, "r=%d", r);
        printf("     (the driver found the ring full %llu times and retried)\n",
               (unsigned long long) rk_queue_get_dropped(q));
}

static void check_find(rk_client *c, uint64_t id) {
        rk_matching *m;
        uint64_t ids[4];
        int r;

        rk_matching_new(&m);
        rk_matching_set_class(m, "UCSampleDriver");
        r = rk_client_find(c, m, ids, 4);
        CHECK("find-by-class", r == 1 && ids[0] == id, "r=%d", r);
        rk_matching_set_property_string(m, "IOUserClass", "UCSampleDriver");
        r = rk_client_find(c, m, ids, 4);
        CHECK("find-by-property", r == 1 && ids[0] == id, "r=%d", r);
        rk_matching_set_property_string(m, "IOUserClass", "NoSuchDriver");
        r = rk_client_find(c, m, ids, 4);
        CHECK("find-property-mismatch", r == 0, "r=%d", r);
        rk_matching_free(m);
        rk_matching_new(&m);
        rk_matching_set_registry_id(m, id);
        r = rk_client_find(c, m, ids, 4);
        CHECK("find-by-registry-id", r == 1 && ids[0] == id, "r=%d", r);
        rk_matching_free(m);
        rk_matching_new(&m);
        rk_matching_set_class(m, "NoSuchDriverClass");
        r = rk_client_wait(c, m, 200, ids);
        CHECK("wait-times-out", r == -ETIMEDOUT, "r=%d", r);
        rk_matching_free(m);
}

static void check_open(rk_client *c, uint64_t id) {
        rk_connection *conn = NULL;
        int r = rk_client_open(c, id, 5, &conn);

        CHECK("open-refused-by-driver", r == -EACCES && !conn, "r=%d", r);
        r = rk_client_open(c, 0x7fffffff, 0, &conn);
        CHECK("open-no-such-service-enoent", r == -ENOENT, "r=%d (%s)", r, rk_client_last_error(c));
        r = rk_client_open(c, id, 1, &conn);
        CHECK("open-type-1", r == 0, "r=%d", r);
        rk_connection_close(conn);
}

static int cmd_checks(const char *root) {
        rk_client *c = client(root);
        uint64_t id = find_driver(c);
        rk_connection *conn = open_driver(c, id);

        check_find(c, id);
        check_open(c, id);
        check_arguments(conn, "call-page");
        rk_connection_set_fast_path(conn, false);
        check_arguments(conn, "socket");
        rk_connection_set_fast_path(conn, true);
        check_structs(conn);
        check_memory(conn);
        check_async(conn);
        check_queue(conn);
        {
                uint64_t sum = 0;
                int r = 0;
                for (uint64_t k = 0; k < 100000 && r == 0; k++)
                        if ((r = add(conn, k, k, &sum)) == 0 && sum != 2 * k)
                                r = -EBADMSG;
                CHECK("100000-calls-call-page", r == 0, "r=%d", r);
        }
        rk_connection_close(conn);
        rk_client_free(c);
        return failed ? 1 : 0;
}

static int cmd_crash(const char *root) {
        rk_client *c = client(root);
        uint64_t id = find_driver(c), ms = 5000;
        rk_connection *a = open_driver(c, id), *b = open_driver(c, id);
        done_rec rec = { 0 };
        rk_call call = { .scalar_in = &ms, .scalar_in_count = 1, .scalar_out_count = 1 };
        uint64_t sum;
        int r;

        r = rk_connection_call_async(a, 3, &call, on_done, &rec);
        CHECK("crash-async-pending", r == 0, "r=%d", r);
        r = rk_connection_call_scalars(b, 5, NULL, 0, NULL, NULL);
        CHECK("crash-mid-call-econnreset", r == -ECONNRESET || r == -EPIPE, "r=%d", r);
        r = add(b, 1, 2, &sum);
        CHECK("crash-later-calls-fail", r == -ECONNRESET || r == -EPIPE, "r=%d", r);
        for (int k = 0; k < 50 && rec.n == 0; k++)
                (void) rk_connection_dispatch(a, 100);
        CHECK("crash-async-completes-econnreset", rec.n == 1 && rec.status[0] == -ECONNRESET, "n=%d status=%d", rec.n,
              rec.status[0]);
        rk_connection_close(a);
        rk_connection_close(b);
        r = rk_client_wait_gone(c, id, 5000);
        CHECK("crash-service-gone", r == 0, "r=%d", r);
        /* restarted by ringd: a new service, a new open, calls work */
        {
                uint64_t id2 = find_driver(c);
                rk_connection *d = open_driver(c, id2);
                r = add(d, 20, 22, &sum);
                CHECK("crash-restarted-driver-answers", r == 0 && sum == 42 && id2 != id, "r=%d", r);
                rk_connection_close(d);
        }
        rk_client_free(c);
        return failed ? 1 : 0;
}

static int cmd_cycle(const char *root, unsigned n) {
        rk_client *c = client(root);
        uint64_t id = find_driver(c);
        int r = 0;

        for (unsigned k = 0; k < n && r == 0; k++) {
                rk_connection *conn = open_driver(c, id);
                rk_memory *mem;
                rk_queue *q;
                uint64_t args[2] = { 10, 16 }, out[1];
                uint32_t no = 1;
                if ((r = rk_memory_new(conn, 65536, &mem)) == 0 &&
                    (r = rk_connection_call_scalars(conn, 4, args, 2, out, &no)) == 0)
                        r = rk_connection_get_queue(conn, (uint32_t) out[0], 2000, &q);
                if (k % 2 == 0)
                        rk_memory_free(mem); /* the other half goes with the connection */
                rk_connection_close(conn);
        }
        CHECK("cycle", r == 0, "r=%d", r);
        rk_client_free(c);
        return failed ? 1 : 0;
}

static void on_service(rk_client *c, uint64_t id, bool appeared, void *ud) {
        printf("%s %llu\n", appeared ? "appeared" : "gone", (unsigned long long) id);
        fflush(stdout);
        (*(unsigned *) ud)++;
}

/*
 * watch N: print the driver services as ringd pushes them (appeared ID /
 * gone ID) until N events came; a second watch is removed at once and must
 * deliver nothing.  The shell adds and removes devices meanwhile.
 */
static int cmd_watch(const char *root, unsigned want) {
        rk_client *c = client(root);
        rk_matching *m;
        unsigned n = 0, other = 0;
        uint32_t w, w2;
        int r;

        rk_matching_new(&m);
        rk_matching_set_class(m, "UCSampleDriver");
        r = rk_client_watch(c, m, on_service, &n, &w);
        if (r == 0)
                r = rk_client_watch(c, m, on_service, &other, &w2);
        if (r == 0)
                r = rk_client_unwatch(c, w2);
        rk_matching_free(m);
        if (r < 0) {
                printf("FAIL watch: %s\n", strerror(-r));
                return 1;
        }
        printf("watching\n");
        fflush(stdout);
        while (n < want) {
                r = rk_client_dispatch(c, 20000);
                if (r < 0) {
                        printf("FAIL dispatch: %s\n", strerror(-r));
                        return 1;
                }
                if (r == 0) {
                        printf("FAIL timed-out: %u of %u events\n", n, want);
                        return 1;
                }
        }
        r = rk_client_unwatch(c, w2);
        printf("unwatched-twice %d other %u\n", r, other);
        rk_client_free(c);
        return r == -ENOENT && other == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
        const char *root, *cmd;

        if (argc < 3) {
                fprintf(stderr, "usage: test-userclient-app ROOT checks|add|sleep MS|crash|denied|cycle N|stats\n");
                return 2;
        }
        root = argv[1];
        cmd = argv[2];
        if (strcmp(cmd, "checks") == 0)
                return cmd_checks(root);
        if (strcmp(cmd, "crash") == 0)
                return cmd_crash(root);
        if (strcmp(cmd, "watch") == 0)
                return cmd_watch(root, argc > 3 ? (unsigned) atoi(argv[3]) : 1);
        if (strcmp(cmd, "cycle") == 0)
                return cmd_cycle(root, argc > 3 ? (unsigned) atoi(argv[3]) : 10);
        {
                rk_client *c = client(root);
                uint64_t id = find_driver(c), sum = 0, v[2];
                rk_connection *conn = NULL;
                uint32_t n = 2;
                int r, rc = 2;

                if (strcmp(cmd, "denied") == 0) {
                        r = rk_client_open(c, id, 0, &conn);
                        printf("%s: %s\n", strerror(-r), rk_client_last_error(c));
                        rc = r == -EPERM ? 0 : 1;
                        conn = rk_connection_close(conn);
                        rk_client_free(c);
                        return rc;
                }
                conn = open_driver(c, id);
                if (strcmp(cmd, "add") == 0) {
                        r = add(conn, 40, 2, &sum);
                        printf("%llu\n", (unsigned long long) sum);
                        rc = r == 0 && sum == 42 ? 0 : 1;
                } else if (strcmp(cmd, "sleep") == 0) {
                        uint64_t ms = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000;
                        printf("calling\n");
                        fflush(stdout);
                        rc = rk_connection_call_scalars(conn, 6, &ms, 1, v, &n) == 0 ? 0 : 1;
                } else if (strcmp(cmd, "abandon") == 0) {
                        /* an async call the driver accepted, then the app goes before it completes */
                        uint64_t ms = 300;
                        rk_call call = { .scalar_in = &ms, .scalar_in_count = 1, .scalar_out_count = 1 };
                        done_rec rec = { 0 };
                        r = rk_connection_call_async(conn, 3, &call, on_done, &rec);
                        rc = r == 0 ? 0 : 1;
                } else if (strcmp(cmd, "stats") == 0) {
                        r = rk_connection_call_scalars(conn, 9, NULL, 0, v, &n);
                        /* this connection is one of the open ones */
                        printf("open %llu closed %llu\n", (unsigned long long) v[0] - 1, (unsigned long long) v[1]);
                        rc = r == 0 ? 0 : 1;
                } else
                        fprintf(stderr, "test-userclient-app: unknown command %s\n", cmd);
                rk_connection_close(conn);
                rk_client_free(c);
                return rc;
        }
}
