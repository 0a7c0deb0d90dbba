/* SPDX-License-Identifier: MIT */
/*
 * libringkit: an app's side of user clients (include/ringkit/client.h).
 * Requests to ringd go over its control socket (ipc/proto.h, the uc-*
 * commands of src/ringd/userclient.c); a connection, once open, speaks
 * lib/ringkit/uc-wire.h with the driver's process directly.
 *
 * A connection is used by one thread at a time.  Messages that arrive
 * while a call waits for its own reply (async completions, queues) are
 * handled on the way: completions are kept and run from
 * rk_connection_dispatch(), never from inside another call.
 *
 * The library does not print; the reason ringd gave for a refusal is kept
 * for rk_client_last_error().
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/ctl-client.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "ringkit/client.h"
#include "shared/macro.h"
#include "uc-check.h"
#include "uc-wire.h"
#include "value/value.h"

#define SOCK_STRUCT_MAX (RK_MSG_PAYLOAD_MAX - sizeof(struct uc_call) - UC_SCALAR_MAX * 8)
#define OPEN_TIMEOUT_MS 5000
#define REPLY_TIMEOUT_MS 10000

typedef struct client_watch {
        uint32_t id;
        rk_service_fn fn;
        void *ud;
        struct client_watch *next;
} client_watch;

typedef struct client_event {
        uint32_t watch;
        uint64_t id;
        bool appeared;
        struct client_event *next;
} client_event;

struct rk_client {
        rk_channel *ch;
        uint32_t next_peer;
        char *last_error;
        client_watch *watches;
        client_event *events, **events_tail; /* pushed by ringd, not yet dispatched */
        bool gone;                           /* ringd closed the socket */
};

struct rk_matching {
        rk_value *dict;
};

typedef struct async_op {
        uint64_t ref;
        rk_async_fn done;
        void *ud;
        bool completed;
        int status;
        uint64_t scalars[UC_SCALAR_MAX];
        uint32_t n_scalars;
        void *data;
        size_t len;
        struct async_op *next;
} async_op;

struct rk_memory {
        rk_connection *conn;
        uint32_t id;
        int fd;
        void *p;
        size_t size;
        rk_memory *next;
};

struct rk_queue {
        rk_connection *conn;
        uint32_t id;
        struct uc_queue_hdr *hdr;
        uint8_t *ring;
        size_t map_size;
        uint32_t size;
        int efd;
        rk_queue *next;
};

struct rk_connection {
        rk_channel *ch;
        int bell;
        struct uc_shm *shm;
        uint32_t seq;
        uint32_t spin_usec;  /* how long a call waits awake for its answer */
        bool fast, dead;
        uint32_t next_call, next_mem;
        uint64_t next_ref;
        async_op *ops;       /* sent, or completed and waiting for dispatch */
        rk_memory *mems;
        rk_queue *queues;
        uint8_t *buf;
};

/* ---- ringd ---- */

RK_EXPORT int rk_client_new(const char *root, rk_client **ret) {
        _cleanup_(freep) char *path = NULL;
        rk_client *c;
        int fd, r;

        if (!ret)
                return -EINVAL;
        path = rk_ctl_socket_path(root);
        if (!path)
                return -ENOMEM;
        fd = rk_ctl_connect(path);
        if (fd < 0)
                return fd;
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        r = rk_channel_new(fd, RK_CHANNEL_FDS, &c->ch);
        if (r < 0) {
                close(fd);
                free(c);
                return r;
        }
        c->events_tail = &c->events;
        *ret = c;
        return 0;
}

RK_EXPORT rk_client *rk_client_free(rk_client *c) {
        if (c) {
                while (c->watches) {
                        client_watch *w = c->watches;
                        c->watches = w->next;
                        free(w);
                }
                while (c->events) {
                        client_event *e = c->events;
                        c->events = e->next;
                        free(e);
                }
                rk_channel_free(c->ch);
                free(c->last_error);
                free(c);
        }
        return NULL;
}

RK_EXPORT const char *rk_client_last_error(rk_client *c) {
        return c && c->last_error ? c->last_error : "";
}

static void queue_event(rk_client *c, uint32_t watch, uint64_t id, bool appeared) {
        client_event *e = calloc(1, sizeof(*e));

        if (!e)
                return;
        *e = (client_event){ .watch = watch, .id = id, .appeared = appeared };
        *c->events_tail = e;
        c->events_tail = &e->next;
}

/* An RK_CTL_EVENT from ringd (uc-watch): queued for rk_client_dispatch(). */
static void on_event(rk_client *c, rk_msg *m) {
        _cleanup_(rk_value_unrefp) rk_value *ev = NULL;
        uint64_t watch = 0, id = 0;
        const char *what;

        if (rk_msg_read_plist(m, &ev) < 0 || !rk_dict_get_u64(ev, "watch", &watch) ||
            !rk_dict_get_u64(ev, "id", &id) || !(what = rk_dict_get_string(ev, "event")) || watch > UINT32_MAX)
                return;
        queue_event(c, (uint32_t) watch, id, streq(what, "appeared"));
}

/* One request, one reply; an fd in the reply goes to *ret_fd (may be NULL: closed). */
static int request(rk_client *c, rk_value *req, int timeout_ms, rk_value **ret, int *ret_fd) {
        _cleanup_(rk_value_unrefp) rk_value *reply = NULL;
        uint32_t peer = ++c->next_peer;
        int64_t e = 0;
        int r;

        c->last_error = mfree(c->last_error);
        r = rk_channel_send_plist(c->ch, RK_CTL_REQUEST, peer, -EBADF, req);
        if (r >= 0)
                r = rk_ctl_flush_wait(c->ch);
        if (r < 0)
                return r == -EPIPE ? -ECONNRESET : r;
        for (;;) {
                rk_msg m = RK_MSG_INIT;
                r = rk_channel_recv_wait(c->ch, &m, timeout_ms);
                if (r < 0)
                        return r;
                if (m.type == RK_CTL_EVENT) {
                        on_event(c, &m);
                        rk_msg_done(&m);
                        continue;
                }
                if (m.type != RK_CTL_REPLY || m.peer != peer) {
                        rk_msg_done(&m);
                        continue; /* the answer to a request that timed out earlier */
                }
                r = rk_msg_read_plist(&m, &reply);
                if (r >= 0 && ret_fd)
                        *ret_fd = rk_msg_take_fd(&m);
                rk_msg_done(&m);
                if (r < 0)
                        return r;
                break;
        }
        if (!rk_bool(rk_dict_get(reply, "ok"))) {
                const char *s = rk_dict_get_string(reply, "error");
                c->last_error = s ? strdup(s) : NULL;
                (void) rk_integer_s64(rk_dict_get(reply, "errno"), &e);
                if (ret_fd && *ret_fd >= 0) {
                        close(*ret_fd);
                        *ret_fd = -EBADF;
                }
                return e > 0 ? (int) -e : -EIO;
        }
        if (ret)
                *ret = TAKE_PTR(reply);
        return 0;
}

RK_EXPORT int rk_matching_new(rk_matching **ret) {
        rk_matching *m;
        int r;

        if (!ret)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = rk_value_new_dict(&m->dict);
        if (r < 0) {
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

RK_EXPORT rk_matching *rk_matching_free(rk_matching *m) {
        if (m) {
                rk_value_unref(m->dict);
                free(m);
        }
        return NULL;
}

RK_EXPORT int rk_matching_set_class(rk_matching *m, const char *cls) {
        return m && cls ? rk_dict_set_string(m->dict, "IOProviderClass", cls) : -EINVAL;
}

RK_EXPORT int rk_matching_set_name(rk_matching *m, const char *name) {
        return m && name ? rk_dict_set_string(m->dict, "IONameMatch", name) : -EINVAL;
}

RK_EXPORT int rk_matching_set_registry_id(rk_matching *m, uint64_t id) {
        return m ? rk_dict_set_integer(m->dict, "IORegistryEntryID", id, false) : -EINVAL;
}

static int property_match(rk_matching *m, const char *key, rk_value *v) {
        rk_value *pm;
        int r;

        if (!m || !key || !v)
                return -EINVAL;
        pm = rk_dict_get(m->dict, "IOPropertyMatch");
        if (!pm) {
                _cleanup_(rk_value_unrefp) rk_value *n = NULL;
                if ((r = rk_value_new_dict(&n)) < 0 || (r = rk_dict_set(m->dict, "IOPropertyMatch", n)) < 0)
                        return r;
                pm = n;
        }
        return rk_dict_set(pm, key, v);
}

RK_EXPORT int rk_matching_set_property_string(rk_matching *m, const char *key, const char *value) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r = value ? rk_value_new_string(value, &v) : -EINVAL;
        return r < 0 ? r : property_match(m, key, v);
}

RK_EXPORT int rk_matching_set_property_integer(rk_matching *m, const char *key, int64_t value) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r = rk_value_new_integer((uint64_t) value, value < 0, &v);
        return r < 0 ? r : property_match(m, key, v);
}

RK_EXPORT int rk_matching_set_property_bool(rk_matching *m, const char *key, bool value) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r = rk_value_new_bool(value, &v);
        return r < 0 ? r : property_match(m, key, v);
}

static int services_reply(rk_value *reply, uint64_t *ids, size_t max) {
        const rk_value *list = rk_dict_get(reply, "services");
        size_t n = rk_array_size(list);

        for (size_t k = 0; k < n && k < max; k++)
                if (!rk_dict_get_u64(rk_array_get(list, k), "id", &ids[k]))
                        return -EBADMSG;
        return (int) (n > INT32_MAX ? INT32_MAX : n);
}

static int new_request(const char *command, rk_value **ret) {
        int r = rk_value_new_dict(ret);
        return r < 0 ? r : rk_dict_set_string(*ret, "command", command);
}

RK_EXPORT int rk_client_find(rk_client *c, const rk_matching *m, uint64_t *ids, size_t max) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *reply = NULL;
        int r;

        if (!c || !m || (!ids && max))
                return -EINVAL;
        if ((r = new_request("uc-find", &req)) < 0 || (r = rk_dict_set(req, "match", m->dict)) < 0 ||
            (r = request(c, req, REPLY_TIMEOUT_MS, &reply, NULL)) < 0)
                return r;
        return services_reply(reply, ids, max);
}

static int wait_request(rk_client *c, rk_value *req, int timeout_ms, rk_value **reply) {
        int r;

        if (timeout_ms >= 0 && (r = rk_dict_set_integer(req, "timeout_ms", (uint64_t) timeout_ms + 1, false)) < 0)
                return r;
        /* ringd answers at its deadline; ours is a little later, for a ringd that is gone */
        return request(c, req, timeout_ms < 0 ? -1 : timeout_ms + 2000, reply, NULL);
}

RK_EXPORT int rk_client_wait(rk_client *c, const rk_matching *m, int timeout_ms, uint64_t *ret_id) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *reply = NULL;
        uint64_t id = 0;
        int r;

        if (!c || !m)
                return -EINVAL;
        if ((r = new_request("uc-wait", &req)) < 0 || (r = rk_dict_set(req, "match", m->dict)) < 0 ||
            (r = wait_request(c, req, timeout_ms, &reply)) < 0)
                return r;
        r = services_reply(reply, &id, 1);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        if (ret_id)
                *ret_id = id;
        return 0;
}

RK_EXPORT int rk_client_wait_gone(rk_client *c, uint64_t id, int timeout_ms) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *reply = NULL;
        int r;

        if (!c)
                return -EINVAL;
        if ((r = new_request("uc-wait", &req)) < 0 || (r = rk_dict_set_integer(req, "gone", id, false)) < 0)
                return r;
        return wait_request(c, req, timeout_ms, &reply);
}

RK_EXPORT int rk_client_watch(rk_client *c, const rk_matching *m, rk_service_fn fn, void *ud, uint32_t *ret_watch) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *reply = NULL;
        const rk_value *list;
        client_watch *w;
        uint64_t id = 0;
        int r;

        if (!c || !m || !fn)
                return -EINVAL;
        if ((r = new_request("uc-watch", &req)) < 0 || (r = rk_dict_set(req, "match", m->dict)) < 0 ||
            (r = request(c, req, REPLY_TIMEOUT_MS, &reply, NULL)) < 0)
                return r;
        if (!rk_dict_get_u64(reply, "watch", &id) || id == 0 || id > UINT32_MAX)
                return -EBADMSG;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (client_watch){ .id = (uint32_t) id, .fn = fn, .ud = ud, .next = c->watches };
        c->watches = w;
        /* what matches now comes first, as appearances; later changes were sent after the reply */
        list = rk_dict_get(reply, "services");
        for (size_t k = 0; k < rk_array_size(list); k++) {
                uint64_t sid;
                if (rk_dict_get_u64(rk_array_get(list, k), "id", &sid))
                        queue_event(c, w->id, sid, true);
        }
        if (ret_watch)
                *ret_watch = w->id;
        return 0;
}

RK_EXPORT int rk_client_unwatch(rk_client *c, uint32_t watch) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL;
        int r;

        if (!c)
                return -EINVAL;
        for (client_watch **p = &c->watches; *p; p = &(*p)->next)
                if ((*p)->id == watch) {
                        client_watch *w = *p;
                        *p = w->next;
                        free(w);
                        if ((r = new_request("uc-unwatch", &req)) < 0 ||
                            (r = rk_dict_set_integer(req, "watch", watch, false)) < 0)
                                return r;
                        return request(c, req, REPLY_TIMEOUT_MS, NULL, NULL);
                }
        return -ENOENT;
}

RK_EXPORT int rk_client_get_fd(rk_client *c) {
        return c ? rk_channel_get_fd(c->ch) : -EINVAL;
}

static int client_drain(rk_client *c) {
        for (;;) {
                rk_msg m = RK_MSG_INIT;
                int r = rk_channel_recv(c->ch, &m);
                if (r == 0)
                        return 0;
                if (r < 0) {
                        c->gone = true;
                        return -ECONNRESET;
                }
                if (m.type == RK_CTL_EVENT)
                        on_event(c, &m);
                rk_msg_done(&m); /* a late reply to a request that gave up: dropped */
        }
}

static int run_events(rk_client *c) {
        int n = 0;

        while (c->events) {
                client_event *e = c->events;
                client_watch *w;
                c->events = e->next;
                if (!c->events)
                        c->events_tail = &c->events;
                for (w = c->watches; w && w->id != e->watch; w = w->next)
                        ;
                if (w) {
                        w->fn(c, e->id, e->appeared, w->ud);
                        n++;
                }
                free(e);
        }
        return n;
}

RK_EXPORT int rk_client_dispatch(rk_client *c, int timeout_ms) {
        int n, r = 0;

        if (!c)
                return -EINVAL;
        if (!c->gone)
                r = client_drain(c);
        n = run_events(c);
        if (n == 0 && !c->gone && timeout_ms != 0) {
                struct pollfd p = { .fd = rk_channel_get_fd(c->ch), .events = POLLIN };
                if (poll(&p, 1, timeout_ms) > 0)
                        r = client_drain(c);
                n = run_events(c);
        }
        if (n > 0)
                return n;
        return c->gone ? -ECONNRESET : r < 0 ? r : 0;
}

/* ---- connection plumbing ---- */

static int conn_send(rk_connection *conn, uint32_t type, uint32_t peer, int fd, const void *p, size_t n) {
        int r;

        if (conn->dead)
                return -EPIPE;
        r = rk_channel_send(conn->ch, type, peer, fd, p, n);
        if (r >= 0)
                r = rk_ctl_flush_wait(conn->ch);
        if (r == -EPIPE || r == -ECONNRESET)
                conn->dead = true;
        return r;
}

static async_op *op_find(rk_connection *conn, uint64_t ref) {
        for (async_op *o = conn->ops; o; o = o->next)
                if (o->ref == ref && !o->completed)
                        return o;
        return NULL;
}

/* Parse a reply body; 0 or -EBADMSG. */
static int parse_reply(const rk_msg *m, struct uc_reply *h, const uint8_t **scalars, const uint8_t **data) {
        return uc_reply_parse(m->data, m->len, SOCK_STRUCT_MAX, h, scalars, data);
}

static int map_memfd(int fd, size_t size, void **ret) {
        struct stat st;
        int seals = fcntl(fd, F_GET_SEALS);
        void *p = NULL;

        if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0 || (uint64_t) st.st_size < size)
                return -EBADMSG;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret = p;
        return 0;
}

static rk_queue *queue_find(rk_connection *conn, uint32_t id) {
        for (rk_queue *q = conn->queues; q; q = q->next)
                if (q->id == id)
                        return q;
        return NULL;
}

/* Messages that are not the reply someone waits for. */
static int handle_other(rk_connection *conn, rk_msg *m) {
        switch (m->type) {
        case UC_ASYNC_DONE: {
                struct uc_reply h;
                const uint8_t *sc, *data;
                async_op *o;
                if (parse_reply(m, &h, &sc, &data) < 0)
                        return -EBADMSG;
                o = op_find(conn, h.async_ref);
                if (!o)
                        return 0;
                o->completed = true;
                o->status = h.status;
                o->n_scalars = h.n_scalar_out;
                memcpy(o->scalars, sc, h.n_scalar_out * 8u);
                if (h.struct_out_len && (o->data = malloc(h.struct_out_len)))
                        memcpy(o->data, data, o->len = h.struct_out_len);
                return 0;
        }
        case UC_QUEUE: {
                struct uc_size sz;
                _cleanup_(closep) int fd = rk_msg_take_fd(m);
                rk_queue *q;
                void *p = NULL;
                if (m->len != sizeof(sz) || fd < 0)
                        return -EBADMSG;
                memcpy(&sz, m->data, sizeof(sz));
                if (sz.size < UC_QUEUE_MIN || sz.size > UC_QUEUE_MAX || (sz.size & (sz.size - 1)) ||
                    queue_find(conn, sz.id))
                        return -EBADMSG;
                if (map_memfd(fd, UC_QUEUE_DATA_OFFSET + sz.size, &p) < 0)
                        return -EBADMSG;
                q = calloc(1, sizeof(*q));
                if (!q) {
                        munmap(p, UC_QUEUE_DATA_OFFSET + sz.size);
                        return -ENOMEM;
                }
                *q = (rk_queue){ .conn = conn, .id = sz.id, .hdr = p, .ring = (uint8_t *) p + UC_QUEUE_DATA_OFFSET,
                                 .map_size = UC_QUEUE_DATA_OFFSET + sz.size, .size = (uint32_t) sz.size,
                                 .efd = -EBADF, .next = conn->queues };
                conn->queues = q;
                return 0;
        }
        case UC_QUEUE_EVENT: {
                struct uc_size sz;
                rk_queue *q;
                if (m->len != sizeof(sz) || m->fd < 0)
                        return -EBADMSG;
                memcpy(&sz, m->data, sizeof(sz));
                q = queue_find(conn, sz.id);
                if (!q || q->efd >= 0)
                        return -EBADMSG;
                q->efd = rk_msg_take_fd(m);
                return 0;
        }
        default:
                return 0; /* a late reply to a call that gave up; nothing else is expected */
        }
}

/* Receive until a message of `type` (and `peer`, unless 0) arrives. */
static int wait_for(rk_connection *conn, uint32_t type, uint32_t peer, int timeout_ms, rk_msg *ret) {
        uint64_t deadline = timeout_ms >= 0 ? uc_now_usec() + (uint64_t) timeout_ms * 1000 : 0;

        for (;;) {
                rk_msg m = RK_MSG_INIT;
                int left = -1, r;
                if (deadline) {
                        uint64_t now = uc_now_usec();
                        left = now >= deadline ? 0 : (int) ((deadline - now + 999) / 1000);
                }
                r = rk_channel_recv_wait(conn->ch, &m, left);
                if (r < 0) {
                        if (r == -ECONNRESET || r == -EPIPE)
                                conn->dead = true;
                        return r == -EPIPE ? -ECONNRESET : r;
                }
                if (m.type == type && (!peer || m.peer == peer)) {
                        *ret = m;
                        return 0;
                }
                r = handle_other(conn, &m);
                rk_msg_done(&m);
                if (r == -EBADMSG) {
                        conn->dead = true;
                        return -EBADMSG;
                }
        }
}

static void conn_free(rk_connection *conn) {
        conn->dead = true; /* nothing more is sent: the driver frees what it mapped when the socket closes */
        while (conn->mems)
                rk_memory_free(conn->mems);
        while (conn->queues) {
                rk_queue *q = conn->queues;
                conn->queues = q->next;
                munmap(q->hdr, q->map_size);
                if (q->efd >= 0)
                        close(q->efd);
                free(q);
        }
        while (conn->ops) {
                async_op *o = conn->ops;
                conn->ops = o->next;
                free(o->data);
                free(o);
        }
        if (conn->shm)
                munmap(conn->shm, sizeof(struct uc_shm));
        if (conn->bell >= 0)
                close(conn->bell);
        rk_channel_free(conn->ch);
        free(conn->buf);
        free(conn);
}

RK_EXPORT rk_connection *rk_connection_close(rk_connection *conn) {
        if (conn) {
                if (conn->shm)
                        atomic_store(&conn->shm->dead, 1);
                conn_free(conn);
        }
        return NULL;
}

/* The call page: a sealed memfd both sides map. */
static int setup_shm(rk_connection *conn) {
        _cleanup_(closep) int fd = memfd_create("ringkit-uc-call", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        struct uc_size sz = { .size = sizeof(struct uc_shm) };
        struct uc_status st;
        rk_msg m = RK_MSG_INIT;
        void *p = NULL;
        int r;

        if (fd < 0 || ftruncate(fd, sizeof(struct uc_shm)) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                return -errno;
        p = mmap(NULL, sizeof(struct uc_shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        conn->shm = p;
        atomic_store(&conn->shm->dext_sleeping, 1);
        if ((r = conn_send(conn, UC_SHM, 0, fd, &sz, sizeof(sz))) < 0 ||
            (r = wait_for(conn, UC_SHM_OK, 0, OPEN_TIMEOUT_MS, &m)) < 0)
                return r;
        r = m.len == sizeof(st) ? 0 : -EBADMSG;
        if (r == 0) {
                memcpy(&st, m.data, sizeof(st));
                r = st.status;
        }
        rk_msg_done(&m);
        return r;
}

RK_EXPORT int rk_client_open(rk_client *c, uint64_t id, uint32_t type, rk_connection **ret) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *reply = NULL;
        struct uc_accept acc;
        rk_connection *conn;
        rk_msg m = RK_MSG_INIT;
        int fd = -EBADF, r;

        if (!c || !ret)
                return -EINVAL;
        if ((r = new_request("uc-open", &req)) < 0 || (r = rk_dict_set_integer(req, "service", id, false)) < 0 ||
            (r = rk_dict_set_integer(req, "type", type, false)) < 0 ||
            (r = request(c, req, REPLY_TIMEOUT_MS, &reply, &fd)) < 0)
                return r;
        if (fd < 0)
                return -EBADMSG;
        conn = calloc(1, sizeof(*conn));
        if (!conn || !(conn->buf = malloc(RK_MSG_PAYLOAD_MAX))) {
                free(conn);
                close(fd);
                return -ENOMEM;
        }
        conn->bell = -EBADF;
        conn->fast = true;
        conn->spin_usec = UC_APP_SPIN_USEC;
        r = rk_channel_new(fd, RK_CHANNEL_FDS, &conn->ch);
        if (r < 0) {
                close(fd);
                free(conn->buf);
                free(conn);
                return r;
        }
        r = wait_for(conn, UC_ACCEPT, 0, OPEN_TIMEOUT_MS, &m);
        if (r == 0) {
                if (m.len != sizeof(acc))
                        r = -EBADMSG;
                else {
                        memcpy(&acc, m.data, sizeof(acc));
                        r = acc.status < 0 ? acc.status : acc.version != UC_VERSION ? -EPROTO : 0;
                }
                conn->bell = rk_msg_take_fd(&m);
                rk_msg_done(&m);
                if (r == 0 && conn->bell < 0)
                        r = -EBADMSG;
        }
        if (r == 0)
                r = setup_shm(conn);
        if (r < 0) {
                conn_free(conn);
                return r;
        }
        *ret = conn;
        return 0;
}

RK_EXPORT int rk_connection_get_fd(rk_connection *conn) {
        return conn ? rk_channel_get_fd(conn->ch) : -EINVAL;
}

RK_EXPORT int rk_connection_set_fast_path(rk_connection *conn, bool on) {
        if (!conn)
                return -EINVAL;
        conn->fast = on;
        return 0;
}

/* ---- calls ---- */

/* An async call's outputs arrive in its callback: only their sizes count. */
static int check_call(const rk_call *call, bool async) {
        if (call->scalar_in_count > UC_SCALAR_MAX || (call->scalar_in_count && !call->scalar_in) ||
            (call->struct_in_size && !call->struct_in) || (!async && call->scalar_out_count && !call->scalar_out) ||
            (!async && call->struct_out_size && !call->struct_out))
                return -EINVAL;
        if (call->struct_in_size > SOCK_STRUCT_MAX || call->struct_out_size > UINT32_MAX)
                return -EMSGSIZE;
        if (call->memory && (call->memory_offset > call->memory->size ||
                             call->memory_length > call->memory->size - call->memory_offset))
                return -EFAULT;
        return 0;
}

static struct uc_call call_header(uint32_t selector, const rk_call *call) {
        struct uc_call h = {
                .selector = selector,
                .n_scalar_in = call->scalar_in_count,
                .n_scalar_out = call->scalar_out_count > UC_SCALAR_MAX ? UC_SCALAR_MAX : call->scalar_out_count,
                .struct_in_len = (uint32_t) call->struct_in_size,
                .struct_out_cap = call->struct_out_size > SOCK_STRUCT_MAX ? (uint32_t) SOCK_STRUCT_MAX
                                                                          : (uint32_t) call->struct_out_size,
        };
        if (call->memory) {
                h.flags |= UC_CALL_MEMORY;
                h.mem_id = call->memory->id;
                h.mem_offset = call->memory_offset;
                h.mem_len = call->memory_length;
        }
        return h;
}

static size_t build_call(rk_connection *conn, const struct uc_call *h, const rk_call *call) {
        size_t off = sizeof(*h);

        memcpy(conn->buf, h, sizeof(*h));
        if (call->scalar_in_count)
                memcpy(conn->buf + off, call->scalar_in, call->scalar_in_count * 8u);
        off += call->scalar_in_count * 8u;
        if (call->struct_in_size)
                memcpy(conn->buf + off, call->struct_in, call->struct_in_size);
        return off + call->struct_in_size;
}

static int finish(rk_call *call, int status, const void *scalars, uint32_t n, const void *data, uint32_t len) {
        if (status == 0 && (n > call->scalar_out_count || len > call->struct_out_size))
                return -EBADMSG; /* more than we had room for: the driver broke the protocol */
        if (status != 0)
                n = len = 0;
        if (n)
                memcpy(call->scalar_out, scalars, n * 8u);
        if (len)
                memcpy(call->struct_out, data, len);
        call->scalar_out_count = n;
        call->struct_out_size = len;
        return status;
}

static int call_socket(rk_connection *conn, uint32_t selector, rk_call *call) {
        struct uc_call h = call_header(selector, call);
        uint32_t peer = ++conn->next_call ?: ++conn->next_call;
        struct uc_reply rh;
        const uint8_t *sc, *data;
        rk_msg m = RK_MSG_INIT;
        int r;

        r = conn_send(conn, UC_CALL, peer, -EBADF, conn->buf, build_call(conn, &h, call));
        if (r < 0)
                return r == -EPIPE ? -ECONNRESET : r;
        r = wait_for(conn, UC_REPLY, peer, -1, &m);
        if (r < 0)
                return r;
        r = parse_reply(&m, &rh, &sc, &data);
        if (r == 0)
                r = finish(call, rh.status, sc, rh.n_scalar_out, data, rh.struct_out_len);
        rk_msg_done(&m);
        return r;
}

/* Is the driver's end closed?  (A hang-up shows even with messages unread.) */
static bool peer_gone(rk_connection *conn) {
        struct pollfd p = { .fd = rk_channel_get_fd(conn->ch), .events = 0 };
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

static int call_shm(rk_connection *conn, uint32_t selector, rk_call *call) {
        struct uc_shm *s = conn->shm;
        uint32_t seq = ++conn->seq, got, cpu;
        uint64_t start, until;
        bool busy = false, same_cpu;
        struct uc_reply rh;

        s->req = call_header(selector, call);
        if (call->scalar_in_count)
                memcpy(s->scalar_in, call->scalar_in, call->scalar_in_count * 8u);
        if (call->struct_in_size)
                memcpy(s->struct_in, call->struct_in, call->struct_in_size);
        atomic_store(&s->req_seq, seq);
        if (atomic_load(&s->dext_sleeping) && atomic_exchange(&s->dext_sleeping, 0)) {
                uint64_t one = 1;
                if (write(conn->bell, &one, sizeof(one)) < 0 && errno != EAGAIN)
                        return -errno;
        }
        /*
         * Spin: an awake driver on another CPU answers within a microsecond
         * or two.  The budget adapts as the driver's does (on_bell in
         * lib/ringdriver/userclient.c): doubled when the answer came while
         * spinning, halved when it did not.  Pure pause, no sched_yield().
         */
        start = uc_now_usec();
        /* both on one CPU: the driver cannot answer while we spin */
        cpu = uc_cpu();
        if (atomic_load_explicit(&s->app_cpu, memory_order_relaxed) != cpu)
                atomic_store_explicit(&s->app_cpu, cpu, memory_order_relaxed);
        same_cpu = cpu && cpu == atomic_load_explicit(&s->dext_cpu, memory_order_relaxed);
        until = same_cpu ? start : start + conn->spin_usec;
        for (;;) {
                uint64_t now;
                for (int k = 0; k < 32; k++) {
                        if (atomic_load_explicit(&s->resp_seq, memory_order_acquire) == seq) {
                                if (!busy && conn->spin_usec < UC_APP_SPIN_USEC)
                                        conn->spin_usec *= 2;
                                goto answered;
                        }
                        uc_cpu_relax();
                }
                now = uc_now_usec();
                if (now < until)
                        continue;
                /* the driver runs this very request: it answers without a wake-up */
                busy = !same_cpu && atomic_load_explicit(&s->serving, memory_order_relaxed) == seq;
                if (!busy || now - start >= UC_APP_BUSY_SPIN_USEC)
                        break;
        }
        if (!busy && !same_cpu && conn->spin_usec > UC_SPIN_MIN_USEC)
                conn->spin_usec /= 2;
        /* sleep, checking now and then that the driver is still there */
        for (;;) {
                atomic_store(&s->app_waiting, 1);
                got = atomic_load(&s->resp_seq);
                if (got == seq)
                        break;
                if (atomic_load(&s->dead) || peer_gone(conn)) {
                        conn->dead = true;
                        return -ECONNRESET;
                }
                (void) uc_futex_wait(&s->resp_seq, got, UC_APP_POLL_MS);
        }
answered:
        atomic_store_explicit(&s->app_waiting, 0, memory_order_relaxed);
        rh = s->resp;
        if (rh.n_scalar_out > UC_SCALAR_MAX || rh.struct_out_len > UC_SHM_STRUCT_MAX)
                return -EBADMSG;
        return finish(call, rh.status, s->scalar_out, rh.n_scalar_out, s->struct_out, rh.struct_out_len);
}

RK_EXPORT int rk_connection_call(rk_connection *conn, uint32_t selector, rk_call *call) {
        rk_call none = { 0 };
        int r;

        if (!conn)
                return -EINVAL;
        if (!call)
                call = &none;
        if ((r = check_call(call, false)) < 0)
                return r;
        if (call->memory && call->memory->conn != conn)
                return -EINVAL;
        if (conn->dead)
                return -ECONNRESET;
        if (conn->fast && conn->shm && call->struct_in_size <= UC_SHM_STRUCT_MAX &&
            call->struct_out_size <= UC_SHM_STRUCT_MAX)
                return call_shm(conn, selector, call);
        return call_socket(conn, selector, call);
}

RK_EXPORT int rk_connection_call_scalars(rk_connection *conn, uint32_t selector, const uint64_t *in, uint32_t n_in,
                                         uint64_t *out, uint32_t *n_out) {
        rk_call call = { .scalar_in = in, .scalar_in_count = n_in, .scalar_out = out,
                         .scalar_out_count = n_out ? *n_out : 0 };
        int r = rk_connection_call(conn, selector, &call);
        if (n_out)
                *n_out = r == 0 ? call.scalar_out_count : 0;
        return r;
}

RK_EXPORT int rk_connection_call_async(rk_connection *conn, uint32_t selector, const rk_call *call, rk_async_fn done,
                                       void *ud) {
        rk_call none = { 0 };
        struct uc_call h;
        async_op *o;
        int r;

        if (!conn || !done)
                return -EINVAL;
        if (!call)
                call = &none;
        if ((r = check_call(call, true)) < 0)
                return r;
        if (conn->dead)
                return -EPIPE;
        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        h = call_header(selector, call);
        h.flags |= UC_CALL_ASYNC;
        h.async_ref = ++conn->next_ref;
        *o = (async_op){ .ref = h.async_ref, .done = done, .ud = ud };
        r = conn_send(conn, UC_CALL, 0, -EBADF, conn->buf, build_call(conn, &h, call));
        if (r < 0) {
                free(o);
                return r;
        }
        /* appended: completions run in the order they arrived, oldest call first among equals */
        {
                async_op **p = &conn->ops;
                while (*p)
                        p = &(*p)->next;
                *p = o;
        }
        return 0;
}

static int run_completions(rk_connection *conn, bool all_failed) {
        int n = 0;

        for (async_op **p = &conn->ops; *p;) {
                async_op *o = *p;
                if (!o->completed && !all_failed) {
                        p = &o->next;
                        continue;
                }
                *p = o->next;
                if (o->completed)
                        o->done(conn, o->status, o->scalars, o->n_scalars, o->data, o->len, o->ud);
                else
                        o->done(conn, -ECONNRESET, NULL, 0, NULL, 0, o->ud);
                free(o->data);
                free(o);
                n++;
        }
        return n;
}

/* Read whatever is there.  0, or -ECONNRESET when the driver's end is closed. */
static int drain(rk_connection *conn) {
        for (;;) {
                rk_msg m = RK_MSG_INIT;
                int r = rk_channel_recv(conn->ch, &m);
                if (r == 0)
                        return 0;
                if (r < 0) {
                        if (r == -ECONNRESET || r == -EPIPE || r == -EBADMSG)
                                conn->dead = true;
                        return conn->dead ? -ECONNRESET : r;
                }
                r = handle_other(conn, &m);
                rk_msg_done(&m);
                if (r == -EBADMSG) {
                        conn->dead = true;
                        return -ECONNRESET;
                }
        }
}

RK_EXPORT int rk_connection_dispatch(rk_connection *conn, int timeout_ms) {
        int n, r = 0;

        if (!conn)
                return -EINVAL;
        if (!conn->dead)
                r = drain(conn);
        n = run_completions(conn, conn->dead);
        if (n == 0 && !conn->dead && timeout_ms != 0) {
                struct pollfd p = { .fd = rk_channel_get_fd(conn->ch), .events = POLLIN };
                if (poll(&p, 1, timeout_ms) > 0)
                        r = drain(conn);
                n = run_completions(conn, conn->dead);
        }
        if (n == 0 && conn->dead)
                return -ECONNRESET;
        return n > 0 ? n : r < 0 ? r : 0;
}

/* ---- memory descriptors ---- */

RK_EXPORT int rk_memory_new(rk_connection *conn, size_t size, rk_memory **ret) {
        _cleanup_(closep) int fd = -EBADF;
        struct uc_size sz;
        struct uc_status st;
        rk_memory *mem;
        rk_msg m = RK_MSG_INIT;
        void *p = NULL;
        int r;

        if (!conn || !ret || size == 0 || size > UC_MEMORY_MAX)
                return -EINVAL;
        if (conn->dead)
                return -EPIPE;
        fd = memfd_create("ringkit-uc-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, (off_t) size) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                return -errno;
        /* faulted in now, not during the first calls (the driver maps it populated too) */
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | (size <= UC_POPULATE_MAX ? MAP_POPULATE : 0), fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        mem = calloc(1, sizeof(*mem));
        if (!mem) {
                munmap(p, size);
                return -ENOMEM;
        }
        *mem = (rk_memory){ .conn = conn, .id = ++conn->next_mem, .fd = -EBADF, .p = p, .size = size };
        sz = (struct uc_size){ .id = mem->id, .size = size };
        r = conn_send(conn, UC_MEMORY, mem->id, fd, &sz, sizeof(sz));
        if (r >= 0)
                r = wait_for(conn, UC_MEMORY_OK, mem->id, REPLY_TIMEOUT_MS, &m);
        if (r >= 0) {
                r = m.len == sizeof(st) ? 0 : -EBADMSG;
                if (r == 0) {
                        memcpy(&st, m.data, sizeof(st));
                        r = st.status;
                }
                rk_msg_done(&m);
        }
        if (r < 0) {
                munmap(p, size);
                free(mem);
                return r;
        }
        mem->next = conn->mems;
        conn->mems = mem;
        *ret = mem;
        return 0;
}

RK_EXPORT void *rk_memory_get_address(rk_memory *mem) {
        return mem ? mem->p : NULL;
}

RK_EXPORT size_t rk_memory_get_size(rk_memory *mem) {
        return mem ? mem->size : 0;
}

RK_EXPORT rk_memory *rk_memory_free(rk_memory *mem) {
        rk_connection *conn;
        struct uc_status st;

        if (!mem)
                return NULL;
        conn = mem->conn;
        for (rk_memory **p = &conn->mems; *p; p = &(*p)->next)
                if (*p == mem) {
                        *p = mem->next;
                        break;
                }
        st = (struct uc_status){ .id = mem->id };
        if (!conn->dead)
                (void) conn_send(conn, UC_MEMORY_FREE, 0, -EBADF, &st, sizeof(st));
        munmap(mem->p, mem->size);
        free(mem);
        return NULL;
}

/* ---- data queues ---- */

RK_EXPORT int rk_connection_get_queue(rk_connection *conn, uint32_t id, int timeout_ms, rk_queue **ret) {
        uint64_t deadline;
        rk_queue *q;
        int r;

        if (!conn || !ret)
                return -EINVAL;
        deadline = uc_now_usec() + (uint64_t) (timeout_ms < 0 ? 0 : timeout_ms) * 1000;
        for (;;) {
                q = queue_find(conn, id);
                if (q && q->efd >= 0) {
                        *ret = q;
                        return 0;
                }
                if (conn->dead)
                        return -ECONNRESET;
                r = drain(conn);
                if (r < 0)
                        return r;
                q = queue_find(conn, id);
                if (q && q->efd >= 0)
                        continue;
                if (timeout_ms >= 0 && uc_now_usec() >= deadline)
                        return -ETIMEDOUT;
                {
                        struct pollfd p = { .fd = rk_channel_get_fd(conn->ch), .events = POLLIN };
                        (void) poll(&p, 1, 10);
                }
        }
}

RK_EXPORT int rk_queue_dequeue(rk_queue *q, void *buf, size_t room, size_t *len) {
        struct uc_queue_hdr *h;
        uint64_t head, tail;
        uint32_t pos, n;
        int r;

        if (!q || !len || (!buf && room))
                return -EINVAL;
        h = q->hdr;
        head = atomic_load_explicit(&h->head, memory_order_relaxed);
        tail = atomic_load_explicit(&h->tail, memory_order_acquire);
        r = uc_queue_next(q->ring, q->size, head, tail, &head, &n); /* both indexes: the driver can write them */
        if (r < 0)
                return r;
        pos = (uint32_t) (head & (q->size - 1));
        *len = n;
        if (n > room) {
                atomic_store_explicit(&h->head, head, memory_order_release); /* a wrap taken stays taken */
                return -EMSGSIZE;
        }
        memcpy(buf, q->ring + pos + 4, n);
        atomic_store_explicit(&h->head, head + uc_align8(n + 4), memory_order_release);
        return 0;
}

RK_EXPORT int rk_queue_wait(rk_queue *q, int timeout_ms) {
        struct uc_queue_hdr *h;
        uint64_t deadline;

        if (!q)
                return -EINVAL;
        h = q->hdr;
        deadline = uc_now_usec() + (uint64_t) (timeout_ms < 0 ? 0 : timeout_ms) * 1000;
        for (;;) {
                struct pollfd p[2] = { { .fd = q->efd, .events = POLLIN },
                                       { .fd = rk_channel_get_fd(q->conn->ch), .events = 0 } };
                uint64_t v;
                int left = -1;

                if (atomic_load(&h->tail) != atomic_load_explicit(&h->head, memory_order_relaxed))
                        return 0;
                atomic_store(&h->waiting, 1);
                if (atomic_load(&h->tail) != atomic_load_explicit(&h->head, memory_order_relaxed)) {
                        atomic_store(&h->waiting, 0);
                        return 0;
                }
                if (q->conn->dead)
                        return -ECONNRESET;
                if (timeout_ms >= 0) {
                        uint64_t now = uc_now_usec();
                        if (now >= deadline)
                                return -ETIMEDOUT;
                        left = (int) ((deadline - now + 999) / 1000);
                }
                if (poll(p, 2, left) < 0 && errno != EINTR)
                        return -errno;
                if (p[0].revents & POLLIN)
                        (void) read(q->efd, &v, sizeof(v));
                if ((p[1].revents & (POLLHUP | POLLERR)) &&
                    atomic_load(&h->tail) == atomic_load_explicit(&h->head, memory_order_relaxed)) {
                        q->conn->dead = true;
                        return -ECONNRESET;
                }
        }
}

RK_EXPORT uint64_t rk_queue_get_dropped(rk_queue *q) {
        return q ? atomic_load(&q->hdr->dropped) : 0;
}
