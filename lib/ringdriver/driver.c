/* SPDX-License-Identifier: MIT */
/*
 * libringdriver: the dext side of the ringd <-> dext protocol (ipc/proto.h)
 * and the instance's dispatch queue.  See include/ringkit/driver.h.
 *
 * One instance per process.  Everything runs on one rk_loop: the channel to
 * ringd, the driver's timers and fd watches.  The lifecycle is a strict
 * sequence driven by ringd; a message out of order is answered with
 * -EPROTO and otherwise ignored, so a confused ringd cannot make a driver
 * run start twice.
 *
 *     (connected) --INIT--> inited --PROBE--> probed --START--> started
 *        started --STOP--> stopped --FREE--> (exit 0)
 *     any state --FREE--> (exit 0); channel lost --> (exit 1)
 *
 * With RINGKIT_WAIT_DEBUGGER=1 in the environment the process stops itself
 * (SIGSTOP) from a constructor, before main() runs, so `gdb -p PID` can
 * attach before the driver's first line.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <syslog.h>
#include <unistd.h>

#include "ipc/msg.h"
#include "ipc/proto.h"
#include "driver-private.h"
#include "userclient-private.h"
#include "ringkit/driver.h"
#include "shared/debug-wait.h"
#include "shared/loop.h"
#include "shared/macro.h"
#include "value/value.h"

typedef enum dstate {
        D_CONNECTED,
        D_INITED,
        D_PROBED,
        D_DECLINED,  /* probe said no: start is refused, free still runs */
        D_STARTED,
        D_STOPPED,
} dstate;

struct rk_driver_nub {
        rk_driver *driver;
        rk_value *classes, *props;
        char *name;
        uint64_t cookie;
        void (*done)(rk_driver *d, int64_t id, void *ud);
        void *ud;
        rk_driver_nub *next; /* pending list */
};

struct rk_driver_timer {
        rk_driver *driver;
        rk_driver_timer *prev, *next; /* every live timer, freed at exit */
        rk_source *source;
        uint64_t repeat;
        void (*cb)(rk_driver *d, rk_driver_timer *t, void *ud);
        void *ud;
};

struct rk_driver_watch {
        rk_driver *driver;
        rk_driver_watch *prev, *next;
        rk_source *source;
        void (*cb)(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud);
        void *ud;
};

struct rk_driver {
        rk_loop *loop;
        rk_channel *ch;
        rk_source *ch_source;
        const rk_driver_class *const *classes;
        size_t n_classes;
        const rk_driver_class *cls;
        dstate state;
        int handle;
        uint64_t service_id, provider_id;
        rk_value *personality, *provider_props;
        char *provider_name, *instance;
        void *ivars;
        uint64_t next_cookie;
        rk_driver_nub *pending;
        rk_driver_timer *timers;
        rk_driver_watch *watches;
        bool log_stderr;
};

/* ---- debugger wait ---- */

RK_DEBUG_WAIT_CONSTRUCTOR(wait_for_debugger)

/* ---- sending ---- */

static void update_events(rk_driver *d) {
        if (d->ch_source)
                rk_source_set_io_events(d->ch_source, EPOLLIN | (rk_channel_has_pending(d->ch) ? EPOLLOUT : 0));
}

static int send_dict(rk_driver *d, uint32_t type, rk_value *dict, int fd) {
        int r;

        if (!d->ch)
                return -ENOTCONN;
        r = rk_channel_send_plist(d->ch, type, 0, fd, dict);
        update_events(d);
        return r;
}

/* For the families' requests (request.c): sent now, not left queued while the caller waits for the answer. */
int rk_driver_send_now(rk_driver *d, uint32_t type, rk_value *body, int fd, int timeout_ms) {
        int r;

        if (!d || !body)
                return -EINVAL;
        r = send_dict(d, type, body, fd);
        while (r >= 0 && rk_channel_has_pending(d->ch)) {
                struct pollfd p = { .fd = rk_channel_get_fd(d->ch), .events = POLLOUT };
                r = poll(&p, 1, timeout_ms);
                r = r == 0 ? -ETIMEDOUT : r < 0 ? -errno : rk_channel_flush(d->ch);
        }
        update_events(d);
        return r < 0 ? r : 0;
}

static int send_status(rk_driver *d, uint32_t type, int status, const int64_t *score) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        int r = rk_value_new_dict(&m);

        if (r < 0)
                return r;
        if ((r = rk_dict_set_integer(m, "status", (uint64_t) (int64_t) status, true)) < 0)
                return r;
        if (score && (r = rk_dict_set_integer(m, "score", (uint64_t) *score, true)) < 0)
                return r;
        return send_dict(d, type, m, -EBADF);
}

__attribute__((format(printf, 3, 0))) void rk_driver_logv(rk_driver *d, int level, const char *fmt, va_list ap) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        char buf[2048];

        vsnprintf(buf, sizeof(buf), fmt, ap);
        if (!d || d->log_stderr || !d->ch)
                fprintf(stderr, "%s[%d]: %s\n", d && d->cls ? d->cls->name : "dext", (int) getpid(), buf);
        if (!d || !d->ch || rk_value_new_dict(&m) < 0)
                return;
        if (rk_dict_set_integer(m, "level", (uint64_t) level, true) < 0 || rk_dict_set_string(m, "message", buf) < 0)
                return;
        (void) send_dict(d, RK_DEXT_LOG, m, -EBADF);
}

void rk_driver_log(rk_driver *d, int level, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        rk_driver_logv(d, level, fmt, ap);
        va_end(ap);
}

/* ---- lifecycle ---- */

static const rk_driver_class *find_class(rk_driver *d, const char *name) {
        for (size_t i = 0; name && i < d->n_classes; i++)
                if (d->classes[i] && d->classes[i]->name && streq(d->classes[i]->name, name))
                        return d->classes[i];
        return NULL;
}

static int on_init(rk_driver *d, rk_msg *m, rk_value *body) {
        const char *cls = rk_dict_get_string(body, "class");
        uint64_t u;
        int r = 0;

        if (d->state != D_CONNECTED)
                return send_status(d, RK_DEXT_INIT_DONE, -EPROTO, NULL);
        d->cls = find_class(d, cls);
        if (!d->cls || !d->cls->start) {
                rk_driver_log(d, RK_LOG_ERR, "no driver class '%s' in this dext", cls ? cls : "(none)");
                return send_status(d, RK_DEXT_INIT_DONE, -ENOENT, NULL);
        }
        if (rk_dict_get_u64(body, "service", &u))
                d->service_id = u;
        if (rk_dict_get_u64(body, "provider", &u))
                d->provider_id = u;
        d->personality = rk_value_ref(rk_dict_get(body, "personality"));
        d->provider_props = rk_value_ref(rk_dict_get(body, "provider_properties"));
        if (!rk_value_is(d->personality, RK_TYPE_DICT) || !rk_value_is(d->provider_props, RK_TYPE_DICT))
                return send_status(d, RK_DEXT_INIT_DONE, -EBADMSG, NULL);
        d->provider_name = rk_dict_get_string(body, "provider_name") ? strdup(rk_dict_get_string(body, "provider_name")) : NULL;
        d->instance = rk_dict_get_string(body, "instance") ? strdup(rk_dict_get_string(body, "instance")) : NULL;
        d->handle = rk_msg_take_fd(m);
        if (d->cls->init)
                r = d->cls->init(d);
        if (r == 0)
                d->state = D_INITED;
        return send_status(d, RK_DEXT_INIT_DONE, r, NULL);
}

static int on_probe(rk_driver *d, rk_value *body) {
        int64_t score = 0;
        int r = 0;

        if (d->state != D_INITED)
                return send_status(d, RK_DEXT_PROBE_DONE, -EPROTO, NULL);
        (void) rk_integer_s64(rk_dict_get(body, "score"), &score);
        if (d->cls->probe)
                r = d->cls->probe(d, &score);
        /* ringd sends INIT, PROBE and START together: a declined probe must stop START here */
        d->state = r == 0 ? D_PROBED : D_DECLINED;
        return send_status(d, RK_DEXT_PROBE_DONE, r, &score);
}

static int on_start(rk_driver *d) {
        int r;

        if (d->state != D_PROBED && d->state != D_INITED)
                return send_status(d, RK_DEXT_START_DONE, -EPROTO, NULL);
        r = d->cls->start(d);
        d->state = r == 0 ? D_STARTED : D_STOPPED;
        return send_status(d, RK_DEXT_START_DONE, r, NULL);
}

static int on_stop(rk_driver *d) {
        rk_uc_driver_stopped(d); /* user clients close before the driver stops */
        if (d->state == D_STARTED && d->cls->stop)
                d->cls->stop(d);
        d->state = D_STOPPED;
        return send_status(d, RK_DEXT_STOP_DONE, 0, NULL);
}

static void on_free(rk_driver *d) {
        rk_uc_driver_stopped(d);
        if (d->state == D_STARTED && d->cls && d->cls->stop)
                d->cls->stop(d);
        if (d->cls && d->cls->free && d->state != D_CONNECTED)
                d->cls->free(d);
        d->state = D_STOPPED;
        (void) rk_channel_flush(d->ch);
        rk_loop_exit(d->loop, 0);
}

static void on_published(rk_driver *d, rk_value *body) {
        uint64_t cookie = 0, id = 0;
        int64_t status = 0;

        (void) rk_dict_get_u64(body, "cookie", &cookie);
        (void) rk_dict_get_u64(body, "id", &id);
        (void) rk_integer_s64(rk_dict_get(body, "status"), &status);
        for (rk_driver_nub **p = &d->pending; *p; p = &(*p)->next) {
                rk_driver_nub *n = *p;
                if (n->cookie != cookie)
                        continue;
                *p = n->next;
                if (n->done)
                        n->done(d, status < 0 ? status : (int64_t) id, n->ud);
                rk_value_unref(n->classes);
                rk_value_unref(n->props);
                free(n->name);
                free(n);
                return;
        }
}

static int dispatch(rk_driver *d, rk_msg *m) {
        _cleanup_(rk_value_unrefp) rk_value *body = NULL;
        int r = rk_msg_read_plist(m, &body);

        if (r < 0)
                return r;
        switch (m->type) {
        case RK_DEXT_INIT:
                return on_init(d, m, body);
        case RK_DEXT_PROBE:
                return on_probe(d, body);
        case RK_DEXT_START:
                return on_start(d);
        case RK_DEXT_STOP:
                return on_stop(d);
        case RK_DEXT_FREE:
                on_free(d);
                return 0;
        case RK_DEXT_PUBLISHED:
                on_published(d, body);
                return 0;
        case RK_DEXT_UC_OPEN:
                return rk_uc_driver_open(d, m, body, d->state == D_STARTED); /* userclient.c */
        default:
                rk_driver_log(d, RK_LOG_WARNING, "ignoring message type %u from ringd", m->type);
                return 0;
        }
}

static int on_channel(rk_source *s, int fd, uint32_t revents, void *ud) {
        rk_driver *d = ud;
        int r;

        if (revents & EPOLLOUT) {
                r = rk_channel_flush(d->ch);
                if (r < 0)
                        goto lost;
        }
        for (;;) {
                rk_msg m = { .fd = -EBADF };
                r = rk_channel_recv(d->ch, &m);
                if (r == 0)
                        break;
                if (r < 0)
                        goto lost;
                r = dispatch(d, &m);
                rk_msg_done(&m);
                if (r < 0 && r != -ENOMEM)
                        goto lost;
        }
        update_events(d);
        return 0;
lost:
        /* ringd is gone or spoke nonsense: nothing sensible is left to do */
        rk_uc_driver_stopped(d);
        if (d->state == D_STARTED && d->cls && d->cls->stop)
                d->cls->stop(d);
        d->state = D_STOPPED;
        rk_loop_exit(d->loop, 1);
        return 0;
}

static int send_hello(rk_driver *d) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL, *classes = NULL;
        int r;

        if ((r = rk_value_new_dict(&m)) < 0 || (r = rk_value_new_array(&classes)) < 0)
                return r;
        for (size_t i = 0; i < d->n_classes; i++) {
                _cleanup_(rk_value_unrefp) rk_value *s = NULL;
                if (!d->classes[i] || !d->classes[i]->name)
                        continue;
                if ((r = rk_value_new_string(d->classes[i]->name, &s)) < 0 || (r = rk_array_append(classes, s)) < 0)
                        return r;
        }
        if ((r = rk_dict_set_integer(m, "pid", (uint64_t) getpid(), false)) < 0 ||
            (r = rk_dict_set_integer(m, "sdk", RK_DEXT_SDK_VERSION, false)) < 0 ||
            (r = rk_dict_set(m, "classes", classes)) < 0)
                return r;
        return send_dict(d, RK_DEXT_HELLO, m, -EBADF);
}

int rk_driver_main(int argc, char **argv, const rk_driver_class *const *classes, size_t n_classes) {
        rk_driver d = { .classes = classes, .n_classes = n_classes, .handle = -EBADF };
        const char *e = getenv("RINGKIT_FD");
        int fd = e ? atoi(e) : RK_DEXT_FD, r;

        (void) argc;
        (void) argv;
        d.log_stderr = getenv("RINGKIT_LOG_STDERR") != NULL;
        if (!classes || n_classes == 0) {
                fprintf(stderr, "rk_driver_main: no driver classes\n");
                return 2;
        }
        r = rk_loop_new(&d.loop);
        if (r < 0)
                goto fail;
        r = rk_channel_new(fd, RK_CHANNEL_FDS, &d.ch);
        if (r < 0) {
                fprintf(stderr, "rk_driver_main: no ringd channel on fd %d (%s): is this process started by ringd?\n",
                        fd, strerror(-r));
                goto fail;
        }
        r = rk_loop_add_io(d.loop, &d.ch_source, rk_channel_get_fd(d.ch), EPOLLIN, on_channel, &d);
        if (r < 0)
                goto fail;
        r = send_hello(&d);
        if (r < 0)
                goto fail;
        update_events(&d);
        r = rk_loop_loop(d.loop);
        goto done;
fail:
        fprintf(stderr, "rk_driver_main: %s\n", strerror(-r));
        r = 1;
done:
        rk_uc_driver_stopped(&d);
        while (d.timers)
                rk_driver_timer_cancel(d.timers);
        while (d.watches)
                rk_driver_watch_cancel(d.watches);
        while (d.pending) {
                rk_driver_nub *n = d.pending;
                d.pending = n->next;
                rk_value_unref(n->classes);
                rk_value_unref(n->props);
                free(n->name);
                free(n);
        }
        d.ch_source = rk_source_unref(d.ch_source);
        rk_channel_free(d.ch);
        rk_loop_unref(d.loop);
        if (d.handle >= 0)
                close(d.handle);
        rk_value_unref(d.personality);
        rk_value_unref(d.provider_props);
        free(d.provider_name);
        free(d.instance);
        return r;
}

/* ---- accessors ---- */

void rk_driver_set_ivars(rk_driver *d, void *ivars) {
        if (d)
                d->ivars = ivars;
}

void *rk_driver_get_ivars(rk_driver *d) {
        return d ? d->ivars : NULL;
}

int rk_driver_get_provider_handle(rk_driver *d) {
        return d ? d->handle : -EINVAL;
}

uint64_t rk_driver_get_provider_id(rk_driver *d) {
        return d ? d->provider_id : 0;
}

uint64_t rk_driver_get_service_id(rk_driver *d) {
        return d ? d->service_id : 0;
}

const char *rk_driver_get_provider_name(rk_driver *d) {
        return d && d->provider_name ? d->provider_name : "";
}

const char *rk_driver_get_class_name(rk_driver *d) {
        return d && d->cls ? d->cls->name : NULL;
}

static const rk_value *lookup(rk_driver *d, const char *key) {
        const rk_value *v;

        if (!d || !key)
                return NULL;
        v = rk_dict_get(d->personality, key);
        return v ? v : rk_dict_get(d->provider_props, key);
}

int rk_driver_get_string(rk_driver *d, const char *key, const char **ret) {
        const rk_value *v = lookup(d, key);
        if (!ret)
                return -EINVAL;
        if (!v)
                return -ENOENT;
        if (!rk_value_is(v, RK_TYPE_STRING))
                return -EMEDIUMTYPE;
        *ret = rk_string(v);
        return 0;
}

int rk_driver_get_integer(rk_driver *d, const char *key, int64_t *ret) {
        const rk_value *v = lookup(d, key);
        if (!ret)
                return -EINVAL;
        if (!v)
                return -ENOENT;
        return rk_integer_s64(v, ret) ? 0 : -EMEDIUMTYPE;
}

int rk_driver_get_bool(rk_driver *d, const char *key, bool *ret) {
        const rk_value *v = lookup(d, key);
        if (!ret)
                return -EINVAL;
        if (!v)
                return -ENOENT;
        if (!rk_value_is(v, RK_TYPE_BOOL))
                return -EMEDIUMTYPE;
        *ret = rk_bool(v);
        return 0;
}

int rk_driver_get_data(rk_driver *d, const char *key, const void **ret, size_t *ret_len) {
        const rk_value *v = lookup(d, key);
        if (!ret || !ret_len)
                return -EINVAL;
        if (!v)
                return -ENOENT;
        if (!rk_value_is(v, RK_TYPE_DATA))
                return -EMEDIUMTYPE;
        *ret = rk_data(v, ret_len);
        return 0;
}

static int set_property(rk_driver *d, const char *key, rk_value *v) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        int r;

        if (!d || !key || !*key)
                return -EINVAL;
        if ((r = rk_value_new_dict(&m)) < 0 || (r = rk_dict_set_string(m, "key", key)) < 0 ||
            (r = rk_dict_set(m, "value", v)) < 0)
                return r;
        return send_dict(d, RK_DEXT_SET_PROPERTY, m, -EBADF);
}

#define DEFINE_SETTER(fn, type, ctor)                                   \
        int fn(rk_driver *d, const char *key, type value) {             \
                _cleanup_(rk_value_unrefp) rk_value *v = NULL;          \
                int r = ctor;                                           \
                return r < 0 ? r : set_property(d, key, v);             \
        }

DEFINE_SETTER(rk_driver_set_string, const char *, value ? rk_value_new_string(value, &v) : -EINVAL)
DEFINE_SETTER(rk_driver_set_integer, int64_t, rk_value_new_integer((uint64_t) value, true, &v))
DEFINE_SETTER(rk_driver_set_bool, bool, rk_value_new_bool(value, &v))

int rk_driver_set_data(rk_driver *d, const char *key, const void *p, size_t n) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r = rk_value_new_data(p, n, &v);
        return r < 0 ? r : set_property(d, key, v);
}

int rk_driver_register_service(rk_driver *d) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        int r;

        if (!d)
                return -EINVAL;
        if ((r = rk_value_new_dict(&m)) < 0)
                return r;
        return send_dict(d, RK_DEXT_REGISTER, m, -EBADF);
}

void rk_driver_terminate(rk_driver *d, int reason) {
        if (!d)
                return;
        rk_driver_log(d, RK_LOG_NOTICE, "driver asked to terminate (%s)", strerror(reason < 0 ? -reason : reason));
        rk_uc_driver_stopped(d);
        if (d->state == D_STARTED && d->cls->stop)
                d->cls->stop(d);
        d->state = D_STOPPED;
        (void) rk_channel_flush(d->ch);
        rk_loop_exit(d->loop, 3);
}

/* ---- nubs ---- */

int rk_driver_nub_new(rk_driver *d, const char *const *classes, size_t n_classes, const char *name,
                      rk_driver_nub **ret) {
        rk_driver_nub *n;
        bool has_service = false;

        if (!d || !classes || n_classes == 0 || !name || !ret)
                return -EINVAL;
        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->driver = d;
        if (rk_value_new_array(&n->classes) < 0 || rk_value_new_dict(&n->props) < 0 || !(n->name = strdup(name)))
                goto oom;
        for (size_t i = 0; i <= n_classes; i++) {
                _cleanup_(rk_value_unrefp) rk_value *s = NULL;
                const char *c = i < n_classes ? classes[i] : "IOService";
                if (!c || (i == n_classes && has_service))
                        continue;
                if (streq(c, "IOService"))
                        has_service = true;
                if (rk_value_new_string(c, &s) < 0 || rk_array_append(n->classes, s) < 0)
                        goto oom;
        }
        *ret = n;
        return 0;
oom:
        rk_value_unref(n->classes);
        rk_value_unref(n->props);
        free(n->name);
        free(n);
        return -ENOMEM;
}

int rk_driver_nub_set_string(rk_driver_nub *n, const char *key, const char *value) {
        return n && key && value ? rk_dict_set_string(n->props, key, value) : -EINVAL;
}

int rk_driver_nub_set_integer(rk_driver_nub *n, const char *key, int64_t value) {
        return n && key ? rk_dict_set_integer(n->props, key, (uint64_t) value, true) : -EINVAL;
}

int rk_driver_nub_set_data(rk_driver_nub *n, const char *key, const void *p, size_t len) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r;
        if (!n || !key)
                return -EINVAL;
        r = rk_value_new_data(p, len, &v);
        return r < 0 ? r : rk_dict_set(n->props, key, v);
}

int rk_driver_nub_publish(rk_driver_nub *n, int handle, void (*done)(rk_driver *d, int64_t id_or_errno, void *ud),
                          void *ud) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        rk_driver *d;
        int r;

        if (!n)
                return -EINVAL;
        d = n->driver;
        n->cookie = ++d->next_cookie;
        n->done = done;
        n->ud = ud;
        if ((r = rk_value_new_dict(&m)) < 0 || (r = rk_dict_set_integer(m, "cookie", n->cookie, false)) < 0 ||
            (r = rk_dict_set(m, "classes", n->classes)) < 0 || (r = rk_dict_set_string(m, "name", n->name)) < 0 ||
            (r = rk_dict_set(m, "properties", n->props)) < 0)
                goto fail;
        r = send_dict(d, RK_DEXT_PUBLISH, m, handle);
        if (r < 0)
                goto fail;
        n->next = d->pending;
        d->pending = n;
        return 0;
fail:
        rk_value_unref(n->classes);
        rk_value_unref(n->props);
        free(n->name);
        free(n);
        return r;
}

int rk_driver_unpublish(rk_driver *d, uint64_t id) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        int r;

        if (!d)
                return -EINVAL;
        if ((r = rk_value_new_dict(&m)) < 0 || (r = rk_dict_set_integer(m, "id", id, false)) < 0)
                return r;
        return send_dict(d, RK_DEXT_UNPUBLISH, m, -EBADF);
}

/* ---- dispatch queue ---- */

static int on_timer(rk_source *s, uint64_t usec, void *ud) {
        rk_driver_timer *t = ud;

        if (t->repeat) {
                rk_source_set_time(s, usec + t->repeat);
                rk_source_set_enabled(s, RK_SOURCE_ON);
        }
        t->cb(t->driver, t, t->ud);
        return 0;
}

int rk_driver_timer_new(rk_driver *d, uint64_t usec_from_now, uint64_t repeat_usec,
                        void (*cb)(rk_driver *d, rk_driver_timer *t, void *ud), void *ud, rk_driver_timer **ret) {
        rk_driver_timer *t;
        int r;

        if (!d || !cb || !ret)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        *t = (rk_driver_timer){ .driver = d, .repeat = repeat_usec, .cb = cb, .ud = ud };
        r = rk_loop_add_time(d->loop, &t->source, rk_now() + usec_from_now, on_timer, t);
        if (r < 0) {
                free(t);
                return r;
        }
        rk_source_set_enabled(t->source, repeat_usec ? RK_SOURCE_ON : RK_SOURCE_ONESHOT);
        t->next = d->timers;
        if (t->next)
                t->next->prev = t;
        d->timers = t;
        *ret = t;
        return 0;
}

/* Cancels a pending timer or frees a fired one-shot; timers left at exit are freed then. */
void rk_driver_timer_cancel(rk_driver_timer *t) {
        if (!t)
                return;
        if (t->prev)
                t->prev->next = t->next;
        else
                t->driver->timers = t->next;
        if (t->next)
                t->next->prev = t->prev;
        rk_source_unref(t->source);
        free(t);
}

static int on_watch(rk_source *s, int fd, uint32_t revents, void *ud) {
        rk_driver_watch *w = ud;
        w->cb(w->driver, w, fd, revents, w->ud);
        return 0;
}

int rk_driver_watch_fd(rk_driver *d, int fd, uint32_t events,
                       void (*cb)(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud), void *ud,
                       rk_driver_watch **ret) {
        rk_driver_watch *w;
        int r;

        if (!d || fd < 0 || !cb || !ret)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (rk_driver_watch){ .driver = d, .cb = cb, .ud = ud };
        r = rk_loop_add_io(d->loop, &w->source, fd, events, on_watch, w);
        if (r < 0) {
                free(w);
                return r;
        }
        w->next = d->watches;
        if (w->next)
                w->next->prev = w;
        d->watches = w;
        *ret = w;
        return 0;
}

void rk_driver_watch_cancel(rk_driver_watch *w) {
        if (!w)
                return;
        if (w->prev)
                w->prev->next = w->next;
        else
                w->driver->watches = w->next;
        if (w->next)
                w->next->prev = w->prev;
        rk_source_unref(w->source);
        free(w);
}

int rk_driver_get_queue_fd(rk_driver *d) {
        return d ? rk_loop_get_fd(d->loop) : -EINVAL;
}
