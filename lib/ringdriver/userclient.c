/* SPDX-License-Identifier: MIT */
/*
 * User clients, the dext's side: connections ringd hands the driver, the
 * method table checks, the call page, memory descriptors and data queues.
 * The wire is lib/ringkit/uc-wire.h; the public API include/ringkit/userclient.h.
 *
 * One instance per process (libringdriver's rule), so the connections hang
 * off one static record tied to that instance's rk_driver.  Everything runs
 * on the instance's dispatch queue: the socket and the doorbell eventfd of
 * each connection are fd watches on it.
 *
 *     (ringd's UC_OPEN) --new_user_client()==0--> open: ACCEPT sent
 *     open --SHM--> fast (call page mapped, doorbell watched)
 *     open|fast --socket closed / bad message / rk_uc_close / driver stops--> closed (closed handler, freed)
 *
 * A connection being dispatched is not freed under its own feet: closing
 * marks it and the free happens when the outermost callback returns.
 * Invariant: every descriptor and mapping a connection holds is released
 * in conn_free(), which every path to "closed" ends in.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/msg.h"
#include "ipc/proto.h"
#include "userclient-private.h"
#include "ringkit/driver.h"
#include "ringkit/userclient.h"
#include "shared/macro.h"
#include "../ringkit/uc-check.h"
#include "../ringkit/uc-wire.h"
#include "uc-method.h"

#define SOCK_STRUCT_MAX (RK_MSG_PAYLOAD_MAX - sizeof(struct uc_call) - UC_SCALAR_MAX * 8)
#define MAX_PENDING 4096
#define MAX_MEMS 256 /* memory descriptors per connection: an app cannot map the driver's address space full */

typedef struct uc_mem {
        uint32_t id;
        void *p;
        size_t size;
        struct uc_mem *next;
} uc_mem;

struct rk_uc_queue {
        rk_uc *uc;
        uint32_t id;
        struct uc_queue_hdr *hdr;
        uint8_t *ring;
        size_t map_size;
        uint32_t size;
        int efd;
        rk_uc_queue *next;
};

struct rk_uc {
        rk_driver *d;
        uint32_t type;
        rk_channel *ch;
        rk_driver_watch *sock_w, *out_w, *bell_w;
        int out_fd;       /* a dup of the socket, watched for EPOLLOUT while replies wait */
        int bell;         /* eventfd the app rings */
        struct uc_shm *shm;
        uint32_t seen;    /* last request sequence answered */
        const rk_uc_method *methods;
        size_t n_methods;
        void *ud;
        void (*closed)(rk_uc *uc, void *ud);
        uc_mem *mems;
        unsigned n_mems;
        rk_uc_queue *queues;
        uint32_t next_qid;
        uint64_t *pending;  /* async refs not yet completed */
        size_t n_pending;
        uint8_t *buf;       /* socket replies are assembled here */
        unsigned busy;      /* callbacks of this connection on the stack */
        bool closing;
        bool zombie;        /* closed, kept only for the async calls still pending */
        uint32_t spin_usec; /* how long to wait awake for the next request (on_bell) */
        rk_uc *next;
};

static struct {
        rk_driver *d;
        rk_uc_new_fn fn;
        rk_uc *conns;
} G;

static void conn_close(rk_uc *uc);

/* ---- lifetime ---- */

static void conn_free(rk_uc *uc) {
        for (rk_uc **p = &G.conns; *p; p = &(*p)->next)
                if (*p == uc) {
                        *p = uc->next;
                        break;
                }
        if (uc->closed)
                uc->closed(uc, uc->ud);
        rk_driver_watch_cancel(uc->sock_w);
        rk_driver_watch_cancel(uc->out_w);
        rk_driver_watch_cancel(uc->bell_w);
        if (uc->out_fd >= 0)
                close(uc->out_fd);
        if (uc->bell >= 0)
                close(uc->bell);
        if (uc->shm) {
                atomic_store(&uc->shm->dead, 1);
                atomic_store(&uc->shm->resp_seq, atomic_load(&uc->shm->resp_seq) + 0x80000000u);
                uc_futex_wake(&uc->shm->resp_seq);
                munmap(uc->shm, sizeof(struct uc_shm));
        }
        while (uc->mems) {
                uc_mem *m = uc->mems;
                uc->mems = m->next;
                munmap(m->p, m->size);
                free(m);
        }
        while (uc->queues) {
                rk_uc_queue *q = uc->queues;
                uc->queues = q->next;
                munmap(q->hdr, q->map_size);
                close(q->efd);
                free(q);
        }
        rk_channel_free(uc->ch);
        free(uc->buf);
        if (uc->n_pending > 0) {
                /*
                 * Async calls the driver accepted are still out: keep the
                 * record (nothing else of it) so that its later
                 * rk_uc_async_complete() is an -EPIPE, not a use after free.
                 * The last one frees it.
                 */
                uc->ch = NULL;
                uc->buf = NULL;
                uc->zombie = true;
                uc->closing = true;
                return;
        }
        free(uc->pending);
        free(uc);
}

static void conn_close(rk_uc *uc) {
        if (uc->closing)
                return;
        uc->closing = true;
        if (uc->busy == 0)
                conn_free(uc);
}

static void leave(rk_uc *uc) {
        if (--uc->busy == 0 && uc->closing)
                conn_free(uc);
}

/* ---- sending ---- */

static void on_out(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud);

static void update_out(rk_uc *uc) {
        if (rk_channel_has_pending(uc->ch) && !uc->out_w) {
                if (uc->out_fd < 0)
                        uc->out_fd = fcntl(rk_channel_get_fd(uc->ch), F_DUPFD_CLOEXEC, 3);
                if (uc->out_fd < 0 || rk_driver_watch_fd(uc->d, uc->out_fd, EPOLLOUT, on_out, uc, &uc->out_w) < 0)
                        conn_close(uc);
        } else if (!rk_channel_has_pending(uc->ch) && uc->out_w) {
                rk_driver_watch_cancel(uc->out_w);
                uc->out_w = NULL;
        }
}

static void on_out(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        rk_uc *uc = ud;

        uc->busy++;
        if (rk_channel_flush(uc->ch) < 0)
                conn_close(uc);
        else
                update_out(uc);
        leave(uc);
}

static int conn_send(rk_uc *uc, uint32_t type, uint32_t peer, int fd, const void *p, size_t n) {
        int r;

        if (uc->closing)
                return -EPIPE;
        r = rk_channel_send(uc->ch, type, peer, fd, p, n);
        if (r == -EPIPE || r == -ENOBUFS) {
                conn_close(uc);
                return -EPIPE;
        }
        if (r >= 0)
                update_out(uc);
        return r;
}

/* ---- the method table ---- */

static uc_mem *mem_find(rk_uc *uc, uint32_t id) {
        for (uc_mem *m = uc->mems; m; m = m->next)
                if (m->id == id)
                        return m;
        return NULL;
}

typedef struct call_out {
        uint64_t *scalars;
        uint32_t n_scalars;
        void *data;
        uint32_t len;
} call_out;

/*
 * Check the call against its method's declaration, then run the handler.
 * `c` is a private copy (the call page may change under us).  Fills *out
 * (counts zero unless the status is 0); returns the status, or RK_UC_PENDING.
 */
static int run_method(rk_uc *uc, const struct uc_call *c, const uint64_t *sin, const void *stin, size_t stout_room,
                      call_out *out) {
        const rk_uc_method *m;
        rk_uc_args a = { .selector = c->selector };
        bool async = c->flags & UC_CALL_ASYNC;
        int r;

        out->n_scalars = 0;
        out->len = 0;
        m = c->selector < uc->n_methods ? &uc->methods[c->selector] : NULL;
        if ((r = uc_method_check(c, m, stout_room, &a.scalar_out_count, &a.struct_out_size)) < 0)
                return r;
        if (c->flags & UC_CALL_MEMORY) {
                uc_mem *mm = mem_find(uc, c->mem_id);
                if (!mm || c->mem_offset > mm->size || c->mem_len > mm->size - c->mem_offset)
                        return -EFAULT;
                a.memory = (uint8_t *) mm->p + c->mem_offset;
                a.memory_size = c->mem_len;
        }
        a.scalar_in = sin;
        a.scalar_in_count = c->n_scalar_in;
        a.struct_in = c->struct_in_len ? stin : NULL;
        a.struct_in_size = c->struct_in_len;
        a.scalar_out = out->scalars;
        memset(out->scalars, 0, UC_SCALAR_MAX * sizeof(uint64_t));
        a.struct_out = a.struct_out_size ? out->data : NULL;
        if (a.struct_out_size)
                memset(out->data, 0, a.struct_out_size);
        a.async_ref = async ? c->async_ref : 0;

        r = m->fn(uc, uc->ud, &a);
        if (r == RK_UC_PENDING) {
                uint64_t *x;
                if (!async)
                        return -EPROTO;
                if (uc->n_pending >= MAX_PENDING || !(x = realloc(uc->pending, (uc->n_pending + 1) * sizeof(*x))))
                        return -ENOMEM;
                uc->pending = x;
                x[uc->n_pending++] = c->async_ref;
                return RK_UC_PENDING;
        }
        if (r > 0)
                r = -EPROTO;
        if (r == 0) {
                out->n_scalars = a.scalar_out_count <= UC_SCALAR_MAX ? a.scalar_out_count : UC_SCALAR_MAX;
                out->len = (uint32_t) (a.struct_out_size <= stout_room ? a.struct_out_size : stout_room);
        }
        return r;
}

/* REPLY or ASYNC_DONE on the socket. */
static int send_reply(rk_uc *uc, uint32_t type, uint32_t peer, uint64_t ref, int status, const uint64_t *scalars,
                      uint32_t n, const void *data, size_t len) {
        struct uc_reply h = { .status = status, .n_scalar_out = n, .struct_out_len = (uint32_t) len, .async_ref = ref };
        size_t off = 0;

        if (n > UC_SCALAR_MAX || len > SOCK_STRUCT_MAX)
                return -EMSGSIZE;
        memcpy(uc->buf, &h, sizeof(h));
        off += sizeof(h);
        if (n)
                memcpy(uc->buf + off, scalars, n * 8u);
        off += n * 8u;
        if (len && data != uc->buf + off)
                memmove(uc->buf + off, data, len);
        return conn_send(uc, type, peer, -EBADF, uc->buf, off + len);
}

static int on_sock_call(rk_uc *uc, rk_msg *msg) {
        struct uc_call c;
        uint64_t sin[UC_SCALAR_MAX], sout[UC_SCALAR_MAX];
        call_out out = { .scalars = sout };
        const uint8_t *psin, *pstin;
        int r;

        if (uc_call_parse(msg->data, msg->len, SOCK_STRUCT_MAX, &c, &psin, &pstin) < 0)
                return -EBADMSG;
        if (c.n_scalar_in)
                memcpy(sin, psin, c.n_scalar_in * 8u);
        /* the output structure is written where the reply will carry it */
        out.data = uc->buf + sizeof(struct uc_reply) + UC_SCALAR_MAX * 8u;
        r = run_method(uc, &c, sin, pstin, SOCK_STRUCT_MAX, &out);
        if (r == RK_UC_PENDING || uc->closing)
                return 0;
        /* move the output next to the scalars actually returned */
        if (out.len) {
                uint8_t *dst = uc->buf + sizeof(struct uc_reply) + out.n_scalars * 8u;
                memmove(dst, out.data, out.len);
                out.data = dst;
        }
        if (c.flags & UC_CALL_ASYNC)
                r = send_reply(uc, UC_ASYNC_DONE, msg->peer, c.async_ref, r, sout, out.n_scalars, out.data, out.len);
        else
                r = send_reply(uc, UC_REPLY, msg->peer, 0, r, sout, out.n_scalars, out.data, out.len);
        return r == -EPIPE ? 0 : r;
}

/* ---- the call page ---- */

static void shm_serve_one(rk_uc *uc, uint32_t seq) {
        struct uc_shm *s = uc->shm;
        struct uc_call c = s->req; /* a private copy: the app may scribble on the page */
        uint64_t sin[UC_SCALAR_MAX];
        call_out out = { .scalars = s->scalar_out, .data = s->struct_out };
        int r;

        atomic_store_explicit(&s->serving, seq, memory_order_relaxed); /* the app may keep spinning */
        if (c.n_scalar_in > UC_SCALAR_MAX || c.struct_in_len > UC_SHM_STRUCT_MAX || (c.flags & UC_CALL_ASYNC))
                r = -EINVAL;
        else {
                memcpy(sin, s->scalar_in, c.n_scalar_in * 8u);
                r = run_method(uc, &c, sin, s->struct_in, UC_SHM_STRUCT_MAX, &out);
        }
        s->resp = (struct uc_reply){ .status = r, .n_scalar_out = out.n_scalars, .struct_out_len = out.len };
        uc->seen = seq;
        atomic_store(&s->resp_seq, seq);
        if (atomic_load(&s->app_waiting) && atomic_exchange(&s->app_waiting, 0))
                uc_futex_wake(&s->resp_seq);
}

/*
 * The doorbell rang: serve requests until none comes within the spin
 * budget, then say we sleep.  The budget adapts (uc->spin_usec): a spin
 * that caught the next request doubles it (up to UC_DEXT_SPIN_USEC), one
 * that ran out halves it (down to UC_SPIN_MIN_USEC).  A tight loop of calls
 * keeps the driver awake and system-call free; an app that calls now and
 * then, or a machine too busy for two spinners, costs little spinning.
 * Pure pause, never sched_yield(): a yielding spinner on a busy CPU loses
 * it for a whole time slice while the app's request waits unnoticed.
 */
static void on_bell(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        rk_uc *uc = ud;
        struct uc_shm *s = uc->shm;
        uint64_t v, spin_until = 0;

        (void) read(fd, &v, sizeof(v));
        uc->busy++;
        atomic_store(&s->dext_sleeping, 0);
        {
                uint32_t cpu = uc_cpu();
                if (atomic_load_explicit(&s->dext_cpu, memory_order_relaxed) != cpu)
                        atomic_store_explicit(&s->dext_cpu, cpu, memory_order_relaxed);
        }
        while (!uc->closing) {
                uint32_t seq = atomic_load_explicit(&s->req_seq, memory_order_acquire);
                if (seq != uc->seen) {
                        if (spin_until && uc->spin_usec < UC_DEXT_SPIN_USEC)
                                uc->spin_usec *= 2;
                        shm_serve_one(uc, seq);
                        spin_until = 0;
                        continue;
                }
                if (!spin_until) {
                        /* the app on our CPU cannot call again while we spin: sleep at once */
                        uint32_t cpu = atomic_load_explicit(&s->dext_cpu, memory_order_relaxed);
                        spin_until = uc_now_usec() +
                                     (cpu && cpu == atomic_load_explicit(&s->app_cpu, memory_order_relaxed) ? 0
                                                                                                            : uc->spin_usec);
                }
                if (uc_now_usec() < spin_until) {
                        for (int k = 0; k < 32; k++)
                                uc_cpu_relax();
                        continue;
                }
                atomic_store(&s->dext_sleeping, 1);
                if (atomic_load(&s->req_seq) == uc->seen) {
                        if (uc->spin_usec > UC_SPIN_MIN_USEC)
                                uc->spin_usec /= 2;
                        break;
                }
                atomic_store(&s->dext_sleeping, 0);
        }
        leave(uc);
}

/* Maps a memfd the peer sent, refusing one it could still shrink under us (SIGBUS). */
static int map_peer_memfd(int fd, uint64_t size, void **ret) {
        struct stat st;
        int seals;
        void *p = NULL;

        if (size == 0 || size > UC_MEMORY_MAX)
                return -EINVAL;
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK))
                return -EPERM;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size < size)
                return -EINVAL;
        /* page tables filled now (the app populated the pages): no faults during calls */
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | (size <= UC_POPULATE_MAX ? MAP_POPULATE : 0), fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret = p;
        return 0;
}

static int on_shm(rk_uc *uc, rk_msg *msg) {
        struct uc_size sz;
        struct uc_status st = { 0 };
        _cleanup_(closep) int fd = rk_msg_take_fd(msg);
        void *p = NULL;

        if (msg->len != sizeof(sz) || fd < 0)
                return -EBADMSG;
        memcpy(&sz, msg->data, sizeof(sz));
        if (uc->shm)
                st.status = -EEXIST;
        else if (sz.size != sizeof(struct uc_shm))
                st.status = -EINVAL;
        else
                st.status = map_peer_memfd(fd, sz.size, &p);
        if (st.status == 0) {
                uc->shm = p;
                uc->spin_usec = UC_DEXT_SPIN_USEC;
                uc->seen = atomic_load(&uc->shm->req_seq);
                atomic_store(&uc->shm->dext_sleeping, 1);
                if (rk_driver_watch_fd(uc->d, uc->bell, EPOLLIN, on_bell, uc, &uc->bell_w) < 0)
                        st.status = -ENOMEM;
        }
        return conn_send(uc, UC_SHM_OK, msg->peer, -EBADF, &st, sizeof(st));
}

/* ---- memory descriptors ---- */

static int on_memory(rk_uc *uc, rk_msg *msg) {
        struct uc_size sz;
        struct uc_status st = { 0 };
        _cleanup_(closep) int fd = rk_msg_take_fd(msg);
        uc_mem *m = NULL;
        void *p = NULL;

        if (msg->len != sizeof(sz) || fd < 0)
                return -EBADMSG;
        memcpy(&sz, msg->data, sizeof(sz));
        st.id = sz.id;
        if (mem_find(uc, sz.id))
                st.status = -EEXIST;
        else if (uc->n_mems >= MAX_MEMS)
                st.status = -ENOSPC;
        else if ((st.status = map_peer_memfd(fd, sz.size, &p)) == 0) {
                m = calloc(1, sizeof(*m));
                if (!m) {
                        munmap(p, sz.size);
                        st.status = -ENOMEM;
                } else {
                        *m = (uc_mem){ .id = sz.id, .p = p, .size = sz.size, .next = uc->mems };
                        uc->mems = m;
                        uc->n_mems++;
                }
        }
        return conn_send(uc, UC_MEMORY_OK, msg->peer, -EBADF, &st, sizeof(st));
}

static int on_memory_free(rk_uc *uc, rk_msg *msg) {
        struct uc_status st;

        if (msg->len != sizeof(st))
                return -EBADMSG;
        memcpy(&st, msg->data, sizeof(st));
        for (uc_mem **p = &uc->mems; *p; p = &(*p)->next)
                if ((*p)->id == st.id) {
                        uc_mem *m = *p;
                        *p = m->next;
                        munmap(m->p, m->size);
                        free(m);
                        uc->n_mems--;
                        break;
                }
        return 0;
}

/* ---- the socket ---- */

static int dispatch(rk_uc *uc, rk_msg *msg) {
        switch (msg->type) {
        case UC_CALL:
                return on_sock_call(uc, msg);
        case UC_SHM:
                return on_shm(uc, msg);
        case UC_MEMORY:
                return on_memory(uc, msg);
        case UC_MEMORY_FREE:
                return on_memory_free(uc, msg);
        default:
                return -EBADMSG;
        }
}

static void on_sock(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        rk_uc *uc = ud;

        uc->busy++;
        for (unsigned k = 0; k < 64 && !uc->closing; k++) {
                rk_msg m = RK_MSG_INIT;
                int r = rk_channel_recv(uc->ch, &m);
                if (r == 0)
                        break;
                if (r > 0) {
                        r = dispatch(uc, &m);
                        rk_msg_done(&m);
                }
                if (r < 0) {
                        if (r != -ECONNRESET)
                                rk_driver_log(d, RK_LOG_WARNING, "user client (type %u): closing: %s", uc->type,
                                              r == -EBADMSG ? "malformed message" : strerror(-r));
                        conn_close(uc);
                }
        }
        leave(uc);
}

/* ---- opening ---- */

int rk_driver_set_user_client_handler(rk_driver *d, rk_uc_new_fn fn) {
        if (!d)
                return -EINVAL;
        G.d = d;
        G.fn = fn;
        return 0;
}

static void refuse(int fd, int status) {
        rk_channel *ch = NULL;
        struct uc_accept a = { .status = status, .version = UC_VERSION };

        if (rk_channel_new(fd, 0, &ch) < 0) {
                close(fd);
                return;
        }
        (void) rk_channel_send(ch, UC_ACCEPT, 0, -EBADF, &a, sizeof(a));
        rk_channel_free(ch);
}

int rk_uc_driver_open(rk_driver *d, rk_msg *m, rk_value *body, bool running) {
        int fd = rk_msg_take_fd(m);
        uint64_t type = 0, pid = 0, uid = 0;
        rk_uc_peer who;
        struct uc_accept acc = { .version = UC_VERSION };
        rk_uc *uc;
        int r;

        if (fd < 0)
                return 0;
        (void) rk_dict_get_u64(body, "type", &type);
        (void) rk_dict_get_u64(body, "pid", &pid);
        (void) rk_dict_get_u64(body, "uid", &uid);
        who = (rk_uc_peer){ .pid = (pid_t) pid, .uid = (uid_t) uid,
                            .executable = rk_dict_get_string(body, "executable") ?: "",
                            .app_bundle = rk_dict_get_string(body, "app_bundle") ?: "",
                            .admitted_by = rk_dict_get_string(body, "admitted_by") ?: "" };
        if (!running || (G.d && G.d != d)) {
                refuse(fd, -EAGAIN);
                return 0;
        }
        if (!G.fn) {
                refuse(fd, -EOPNOTSUPP);
                return 0;
        }
        uc = calloc(1, sizeof(*uc));
        if (!uc || !(uc->buf = malloc(RK_MSG_PAYLOAD_MAX))) {
                free(uc);
                refuse(fd, -ENOMEM);
                return 0;
        }
        uc->d = d;
        uc->type = (uint32_t) type;
        uc->out_fd = -EBADF;
        uc->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        r = uc->bell < 0 ? -errno : rk_channel_new(fd, RK_CHANNEL_FDS, &uc->ch);
        if (r < 0) {
                if (uc->bell >= 0)
                        close(uc->bell);
                free(uc->buf);
                free(uc);
                if (r == -ENOMEM || r == -EMFILE)
                        refuse(fd, r);
                else
                        close(fd);
                return 0;
        }
        uc->next = G.conns;
        G.conns = uc;
        uc->busy++;
        r = G.fn(d, uc->type, &who, uc);
        if (r == 0 && !uc->methods)
                r = -EOPNOTSUPP;
        if (r > 0)
                r = -EPROTO;
        acc.status = r;
        acc.n_methods = (uint32_t) uc->n_methods;
        if (r < 0) {
                uc->closed = NULL; /* never opened: nothing to tell the driver */
                (void) rk_channel_send(uc->ch, UC_ACCEPT, 0, -EBADF, &acc, sizeof(acc));
                (void) rk_channel_flush(uc->ch);
                rk_driver_log(d, RK_LOG_INFO, "user client type %u for pid %d refused by the driver: %s", uc->type,
                              (int) who.pid, strerror(-r));
                conn_close(uc);
                leave(uc);
                return 0;
        }
        r = rk_driver_watch_fd(d, rk_channel_get_fd(uc->ch), EPOLLIN, on_sock, uc, &uc->sock_w);
        if (r >= 0)
                r = conn_send(uc, UC_ACCEPT, 0, uc->bell, &acc, sizeof(acc));
        if (r < 0)
                conn_close(uc);
        leave(uc);
        return 0;
}

void rk_uc_driver_stopped(rk_driver *d) {
        while (G.conns) {
                rk_uc *uc = G.conns;
                uc->busy = 0;
                uc->closing = false;
                conn_close(uc);
        }
        G.fn = NULL;
}

/* ---- the rest of the public API ---- */

int rk_uc_set_methods(rk_uc *uc, const rk_uc_method *methods, size_t n, void *ud) {
        if (!uc || (!methods && n))
                return -EINVAL;
        uc->methods = methods;
        uc->n_methods = n;
        uc->ud = ud;
        return 0;
}

void rk_uc_set_closed_handler(rk_uc *uc, void (*closed)(rk_uc *uc, void *ud)) {
        if (uc)
                uc->closed = closed;
}

void *rk_uc_get_userdata(rk_uc *uc) {
        return uc ? uc->ud : NULL;
}

rk_driver *rk_uc_get_driver(rk_uc *uc) {
        return uc ? uc->d : NULL;
}

uint32_t rk_uc_get_type(rk_uc *uc) {
        return uc ? uc->type : 0;
}

void rk_uc_close(rk_uc *uc) {
        if (uc)
                conn_close(uc);
}

int rk_uc_async_complete(rk_uc *uc, uint64_t ref, int status, const uint64_t *scalars, uint32_t n_scalars,
                         const void *data, size_t len) {
        size_t k;

        if (!uc || n_scalars > UC_SCALAR_MAX || (n_scalars && !scalars) || (len && !data) || status > 0)
                return -EINVAL;
        if (len > SOCK_STRUCT_MAX)
                return -EMSGSIZE;
        for (k = 0; k < uc->n_pending && uc->pending[k] != ref; k++)
                ;
        if (k == uc->n_pending)
                return -ENOENT;
        uc->pending[k] = uc->pending[--uc->n_pending];
        if (uc->zombie) {
                if (uc->n_pending == 0) {
                        free(uc->pending);
                        free(uc);
                }
                return -EPIPE;
        }
        if (uc->closing)
                return -EPIPE;
        return send_reply(uc, UC_ASYNC_DONE, 0, ref, status, scalars, n_scalars, data, len);
}

/* ---- data queues ---- */

int rk_uc_queue_new(rk_uc *uc, size_t capacity, rk_uc_queue **ret) {
        struct uc_size sz;
        _cleanup_(closep) int fd = -EBADF;
        rk_uc_queue *q;
        uint32_t size = UC_QUEUE_MIN;
        int r;

        if (!uc || !ret || capacity > UC_QUEUE_MAX)
                return -EINVAL;
        if (uc->closing)
                return -EPIPE;
        while (size < capacity)
                size <<= 1;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->efd = -EBADF;
        q->map_size = UC_QUEUE_DATA_OFFSET + size;
        fd = memfd_create("ringkit-uc-queue", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, (off_t) q->map_size) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
                r = -errno;
                goto fail;
        }
        q->hdr = mmap(NULL, q->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (q->hdr == MAP_FAILED) {
                q->hdr = NULL;
                r = -errno;
                goto fail;
        }
        q->ring = (uint8_t *) q->hdr + UC_QUEUE_DATA_OFFSET;
        q->hdr->size = size;
        q->size = size;
        q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->efd < 0) {
                r = -errno;
                goto fail;
        }
        q->uc = uc;
        q->id = ++uc->next_qid;
        sz = (struct uc_size){ .id = q->id, .size = size };
        if ((r = conn_send(uc, UC_QUEUE, 0, fd, &sz, sizeof(sz))) < 0 ||
            (r = conn_send(uc, UC_QUEUE_EVENT, 0, q->efd, &sz, sizeof(sz))) < 0)
                goto fail;
        q->next = uc->queues;
        uc->queues = q;
        *ret = q;
        return 0;
fail:
        if (q->hdr)
                munmap(q->hdr, q->map_size);
        if (q->efd >= 0)
                close(q->efd);
        free(q);
        return r;
}

uint32_t rk_uc_queue_get_id(rk_uc_queue *q) {
        return q ? q->id : 0;
}

int rk_uc_queue_enqueue(rk_uc_queue *q, const void *p, size_t n) {
        struct uc_queue_hdr *h;
        uint64_t head, tail, next;
        uint32_t pos;
        bool wrap;
        int r;

        if (!q || (!p && n))
                return -EINVAL;
        if (q->uc->closing)
                return -EPIPE;
        if (n == 0 || n > q->size / 4)
                return -EMSGSIZE;
        h = q->hdr;
        /* both indexes live in the page the app maps writable: checked, never trusted */
        tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
        head = atomic_load_explicit(&h->head, memory_order_acquire);
        r = uc_queue_place(q->size, head, tail, (uint32_t) n, &pos, &wrap, &next);
        if (r < 0) {
                atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
                return r;
        }
        if (wrap) {
                uint32_t marker = UC_QUEUE_WRAP;
                memcpy(q->ring + (tail & (q->size - 1)), &marker, 4);
        }
        {
                uint32_t len = (uint32_t) n;
                memcpy(q->ring + pos, &len, 4);
                memcpy(q->ring + pos + 4, p, n);
        }
        atomic_store(&h->tail, next);
        if (atomic_load(&h->waiting) && atomic_exchange(&h->waiting, 0)) {
                uint64_t one = 1;
                (void) write(q->efd, &one, sizeof(one));
        }
        return 0;
}
