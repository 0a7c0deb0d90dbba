/* SPDX-License-Identifier: MIT */
/*
 * uc-sample-dext: a driver with a user client, the one the user-client
 * tests, the benchmark and the sample app talk to.  Its method table shows
 * each kind of argument; the app's side is uc-sample-app.c.
 *
 *   0 add         2 scalars in, 1 out: their sum
 *   1 echo        a structure in (any size), the same bytes out
 *   2 memory      memory descriptor; scalar in: 0 copy it into the driver's own buffer
 *                 (a transfer), 1 sum its 64-bit words, 2 fill it with the byte in scalar 1,
 *                 3 the transfer of 0, returning how long the copy took (ns)
 *   3 later       async: completes after scalar 0 milliseconds with 2 * scalar 0
 *   4 stream      2 scalars (count, record size): a data queue of that many records,
 *                 each starting with its 64-bit sequence number; returns the queue's id
 *   5 crash       the driver dies in the middle of the call
 *   6 sleep       blocks scalar 0 milliseconds, then returns scalar 0
 *   7 fail        returns -scalar 0
 *   8 pair        a 16-byte structure in (two u64), an 8-byte structure out (their sum)
 *   9 stats       2 scalars out: connections open now, connections closed so far
 *
 * User-client types 0 and 1 are accepted; any other is refused with -EACCES.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ringkit/driver.h>
#include <ringkit/userclient.h>

static unsigned n_open, n_closed;
static uint8_t *scratch;
static size_t scratch_size;

typedef struct later {
        rk_uc *uc;
        uint64_t ref, ms;
} later;

typedef struct stream {
        rk_uc *uc;
        rk_uc_queue *q;
        uint64_t left, seq, size;
        rk_driver_timer *t;
        struct stream *next;
} stream;

static stream *streams;

static int m_add(rk_uc *uc, void *ud, rk_uc_args *a) {
        a->scalar_out[0] = a->scalar_in[0] + a->scalar_in[1];
        return 0;
}

static int m_echo(rk_uc *uc, void *ud, rk_uc_args *a) {
        size_t n = a->struct_in_size < a->struct_out_size ? a->struct_in_size : a->struct_out_size;
        if (n)
                memcpy(a->struct_out, a->struct_in, n);
        a->struct_out_size = n;
        return 0;
}

static int m_memory(rk_uc *uc, void *ud, rk_uc_args *a) {
        uint64_t mode = a->scalar_in_count > 0 ? a->scalar_in[0] : 0;

        switch (mode) {
        case 0:
        case 3: {
                struct timespec t0, t1;
                if (scratch_size < a->memory_size) {
                        uint8_t *p = realloc(scratch, a->memory_size);
                        if (!p)
                                return -ENOMEM;
                        scratch = p;
                        scratch_size = a->memory_size;
                }
                clock_gettime(CLOCK_MONOTONIC, &t0);
                memcpy(scratch, a->memory, a->memory_size);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                a->scalar_out[0] = mode == 0 ? a->memory_size
                                             : (uint64_t) ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec));
                return 0;
        }
        case 1: {
                uint64_t sum = 0, w;
                for (size_t k = 0; k + 8 <= a->memory_size; k += 8) {
                        memcpy(&w, (uint8_t *) a->memory + k, 8);
                        sum += w;
                }
                a->scalar_out[0] = sum;
                return 0;
        }
        case 2:
                if (a->scalar_in_count < 2)
                        return -EINVAL;
                memset(a->memory, (int) (a->scalar_in[1] & 0xff), a->memory_size);
                a->scalar_out[0] = a->memory_size;
                return 0;
        default:
                return -EINVAL;
        }
}

static void later_fire(rk_driver *d, rk_driver_timer *t, void *ud) {
        later *l = ud;
        uint64_t v = l->ms * 2;

        (void) rk_uc_async_complete(l->uc, l->ref, 0, &v, 1, NULL, 0);
        rk_driver_timer_cancel(t);
        free(l);
}

static int m_later(rk_uc *uc, void *ud, rk_uc_args *a) {
        rk_driver_timer *t;
        later *l = calloc(1, sizeof(*l));

        if (!l)
                return -ENOMEM;
        *l = (later){ .uc = uc, .ref = a->async_ref, .ms = a->scalar_in[0] };
        if (rk_driver_timer_new(rk_uc_get_driver(uc), a->scalar_in[0] * 1000, 0, later_fire, l, &t) < 0) {
                free(l);
                return -ENOMEM;
        }
        return RK_UC_PENDING;
}

static void stream_free(stream *s) {
        for (stream **p = &streams; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        rk_driver_timer_cancel(s->t);
        free(s);
}

static void stream_pump(rk_driver *d, rk_driver_timer *t, void *ud) {
        stream *s = ud;
        uint8_t rec[4096] = { 0 };

        if (t) {
                rk_driver_timer_cancel(t);
                s->t = NULL;
        }
        while (s->left > 0) {
                int r;
                memcpy(rec, &s->seq, 8);
                r = rk_uc_queue_enqueue(s->q, rec, s->size);
                if (r == -ENOBUFS)
                        break;
                if (r < 0) {
                        stream_free(s);
                        return;
                }
                s->seq++;
                s->left--;
        }
        if (s->left == 0) {
                stream_free(s);
                return;
        }
        /* full: the app is behind; look again shortly */
        if (rk_driver_timer_new(d, 20, 0, stream_pump, s, &s->t) < 0)
                stream_free(s);
}

static int m_stream(rk_uc *uc, void *ud, rk_uc_args *a) {
        stream *s;
        int r;

        if (a->scalar_in[1] < 8 || a->scalar_in[1] > 4096)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (stream){ .uc = uc, .left = a->scalar_in[0], .size = a->scalar_in[1], .next = streams };
        r = rk_uc_queue_new(uc, 1 << 20, &s->q);
        if (r < 0) {
                free(s);
                return r;
        }
        streams = s;
        a->scalar_out[0] = rk_uc_queue_get_id(s->q);
        /* records start on the next turn of the queue, after the reply */
        if (rk_driver_timer_new(rk_uc_get_driver(uc), 0, 0, stream_pump, s, &s->t) < 0)
                stream_free(s);
        return 0;
}

static int m_crash(rk_uc *uc, void *ud, rk_uc_args *a) {
        rk_driver_log(rk_uc_get_driver(uc), RK_LOG_NOTICE, "crashing in the middle of a call, as asked");
        abort();
}

static int m_sleep(rk_uc *uc, void *ud, rk_uc_args *a) {
        usleep((useconds_t) (a->scalar_in[0] * 1000));
        a->scalar_out[0] = a->scalar_in[0];
        return 0;
}

static int m_fail(rk_uc *uc, void *ud, rk_uc_args *a) {
        return -(int) (a->scalar_in[0] & 0xfff);
}

static int m_pair(rk_uc *uc, void *ud, rk_uc_args *a) {
        uint64_t v[2], sum;
        memcpy(v, a->struct_in, 16);
        sum = v[0] + v[1];
        memcpy(a->struct_out, &sum, 8);
        return 0;
}

static int m_stats(rk_uc *uc, void *ud, rk_uc_args *a) {
        a->scalar_out[0] = n_open;
        a->scalar_out[1] = n_closed;
        return 0;
}

static const rk_uc_method methods[] = {
        [0] = { .fn = m_add, .scalar_in = 2, .scalar_out = 1 },
        [1] = { .fn = m_echo, .struct_in = RK_UC_VARIABLE, .struct_out = RK_UC_VARIABLE },
        [2] = { .fn = m_memory, .scalar_in = RK_UC_VARIABLE, .scalar_out = 1, .flags = RK_UC_METHOD_MEMORY },
        [3] = { .fn = m_later, .scalar_in = 1, .scalar_out = 1, .flags = RK_UC_METHOD_ASYNC },
        [4] = { .fn = m_stream, .scalar_in = 2, .scalar_out = 1 },
        [5] = { .fn = m_crash },
        [6] = { .fn = m_sleep, .scalar_in = 1, .scalar_out = 1 },
        [7] = { .fn = m_fail, .scalar_in = 1 },
        [8] = { .fn = m_pair, .struct_in = 16, .struct_out = 8 },
        [9] = { .fn = m_stats, .scalar_out = 2 },
};

static void uc_closed(rk_uc *uc, void *ud) {
        n_open--;
        n_closed++;
        for (stream *s = streams, *next; s; s = next) {
                next = s->next;
                if (s->uc == uc)
                        stream_free(s);
        }
        rk_driver_log(rk_uc_get_driver(uc), RK_LOG_INFO, "user client closed (%u open, %u closed)", n_open, n_closed);
}

static int new_user_client(rk_driver *d, uint32_t type, const rk_uc_peer *who, rk_uc *uc) {
        int r;

        if (type > 1)
                return -EACCES;
        r = rk_uc_set_methods(uc, methods, sizeof(methods) / sizeof(methods[0]), NULL);
        if (r < 0)
                return r;
        rk_uc_set_closed_handler(uc, uc_closed);
        n_open++;
        rk_driver_log(d, RK_LOG_INFO, "user client type %u opened by pid %d (%s, admitted by %s)", type,
                      (int) who->pid, who->executable, who->admitted_by);
        return 0;
}

static int sample_start(rk_driver *d) {
        int r = rk_driver_set_user_client_handler(d, new_user_client);
        if (r < 0)
                return r;
        return rk_driver_register_service(d);
}

static void sample_stop(rk_driver *d) {
        while (streams)
                stream_free(streams);
}

static const rk_driver_class sample_class = { .name = "UCSampleDriver", .start = sample_start, .stop = sample_stop };

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &sample_class };
        return rk_driver_main(argc, argv, classes, 1);
}
