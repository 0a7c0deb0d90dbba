/* SPDX-License-Identifier: MIT */
/*
 * The virtual provider: emulated devices a user adds and removes at will
 * (`ringctl virt add/remove`), the embedded default for development and
 * tests.
 *
 * Each device is a nub under Root with the class chain
 * [CLASS, RKVirtualDevice, IOService] and the given properties.  Its handle
 * is one end of a stream socketpair; ringd keeps the other end and runs the
 * device model on it, chosen by the RKVirtualModel property:
 *
 *     echo   (default) every byte written comes back
 *     upper  bytes come back with ASCII letters upper-cased
 *     sink   bytes are counted and dropped
 *
 * The model's counters are published as the nub's RKBytesIn/RKBytesOut
 * properties when asked (ringctl registry -l).  A model never blocks: what
 * the driver does not read is buffered up to VDEV_BUF and then reading
 * pauses (back-pressure), so a stuck driver cannot make ringd grow.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringd/ringd.h"
#include "shared/macro.h"

#define VDEV_BUF 65536 /* allocated while data is in flight, freed when drained */

typedef enum model {
        MODEL_ECHO,
        MODEL_UPPER,
        MODEL_SINK,
} model;

struct vdev {
        ringd *d;
        uint64_t id; /* the nub's registry id */
        nub *nub;
        int fd;
        rk_source *src;
        model model;
        uint8_t *buf;
        size_t len;
        uint64_t in, out;
        vdev *next;
};

static void vdev_update(vdev *v) {
        uint32_t ev = 0;

        if (v->len < VDEV_BUF)
                ev |= EPOLLIN;
        if (v->len > 0)
                ev |= EPOLLOUT;
        rk_source_set_io_events(v->src, ev);
}

static int on_model(rk_source *s, int fd, uint32_t revents, void *ud) {
        vdev *v = ud;
        ssize_t k;

        if ((revents & EPOLLIN) && !v->buf) {
                v->buf = malloc(VDEV_BUF);
                if (!v->buf)
                        return 0; /* try again on the next wake-up */
        }
        if (revents & EPOLLIN) {
                k = read(fd, v->buf + v->len, VDEV_BUF - v->len);
                if (k > 0) {
                        v->in += (uint64_t) k;
                        if (v->model == MODEL_UPPER)
                                for (ssize_t j = 0; j < k; j++)
                                        v->buf[v->len + j] = (uint8_t) toupper(v->buf[v->len + j]);
                        if (v->model != MODEL_SINK)
                                v->len += (size_t) k;
                } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                        /* every driver closed its copy: idle until one opens again */
                        rk_source_set_enabled(s, RK_SOURCE_OFF);
                        return 0;
                }
        }
        if (v->len > 0) {
                k = write(fd, v->buf, v->len);
                if (k > 0) {
                        v->out += (uint64_t) k;
                        memmove(v->buf, v->buf + k, v->len - (size_t) k);
                        v->len -= (size_t) k;
                }
        }
        if (v->len == 0)
                v->buf = mfree(v->buf);
        vdev_update(v);
        return 0;
}

static int parse_model(const char *s, model *ret) {
        if (!s || streq(s, "echo"))
                *ret = MODEL_ECHO;
        else if (streq(s, "upper"))
                *ret = MODEL_UPPER;
        else if (streq(s, "sink"))
                *ret = MODEL_SINK;
        else
                return -EINVAL;
        return 0;
}

int virtual_add(ringd *d, const char *cls, rk_value *props, uint64_t *ret_id, char **error) {
        _cleanup_(rk_value_unrefp) rk_value *p = NULL;
        const char *chain[3];
        size_t n = 0;
        int sv[2], r;
        vdev *v;

        if (!cls || !*cls) {
                *error = strdup("a virtual device needs a class (--class)");
                return -EINVAL;
        }
        if (props && !rk_value_is(props, RK_TYPE_DICT)) {
                *error = strdup("properties must be a dictionary");
                return -EINVAL;
        }
        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        if (parse_model(rk_dict_get_string(props, "RKVirtualModel"), &v->model) < 0) {
                if (asprintf(error, "unknown RKVirtualModel '%s' (echo, upper, sink)",
                             rk_dict_get_string(props, "RKVirtualModel")) < 0)
                        *error = NULL;
                free(v);
                return -EINVAL;
        }
        r = props ? rk_value_copy(props, &p) : rk_value_new_dict(&p);
        if (r < 0) {
                free(v);
                return r;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
                free(v);
                return -errno;
        }
        chain[n++] = cls;
        if (!streq(cls, "RKVirtualDevice") && !streq(cls, "IOService"))
                chain[n++] = "RKVirtualDevice";
        if (!streq(cls, "IOService"))
                chain[n++] = "IOService";
        r = nub_publish(d, NULL, NUB_VIRTUAL, chain, n, rk_dict_get_string(p, "IOName"), p, sv[1], &v->nub);
        if (r < 0) {
                close(sv[0]);
                close(sv[1]);
                free(v);
                if (asprintf(error, "cannot publish the device: %s", strerror(-r)) < 0)
                        *error = NULL;
                return r;
        }
        v->d = d;
        v->fd = sv[0];
        v->id = rk_service_get_id(v->nub->svc);
        v->nub->vdev = v;
        r = rk_loop_add_io(d->loop, &v->src, v->fd, EPOLLIN, on_model, v);
        if (r < 0) {
                nub_terminate(v->nub, NULL, NULL);
                close(v->fd);
                free(v);
                return r;
        }
        v->next = d->vdevs;
        d->vdevs = v;
        *ret_id = v->id;
        log_info(d, "virtual device 0x%llx added: %s", (unsigned long long) v->id, cls);
        nub_match(v->nub);
        return 0;
}

static void vdev_free(vdev *v) {
        free(v->buf);
        rk_source_unref(v->src);
        if (v->fd >= 0)
                close(v->fd);
        free(v);
}

static void removed(void *ud) {
        vdev *v = ud;
        log_info(v->d, "virtual device 0x%llx removed", (unsigned long long) v->id);
        vdev_free(v);
}

int virtual_remove(ringd *d, uint64_t id, char **error) {
        for (vdev **p = &d->vdevs; *p; p = &(*p)->next) {
                vdev *v = *p;
                if (v->id != id)
                        continue;
                *p = v->next;
                if (!v->nub) {
                        removed(v);
                        return 0;
                }
                v->nub->vdev = NULL;
                nub_terminate(v->nub, removed, v);
                return 0;
        }
        if (asprintf(error, "no virtual device with id 0x%llx", (unsigned long long) id) < 0)
                *error = NULL;
        return -ENOENT;
}

void virtual_free_all(ringd *d) {
        while (d->vdevs) {
                vdev *v = d->vdevs;
                d->vdevs = v->next;
                vdev_free(v);
        }
}

void virtual_nub_gone(vdev *v) {
        v->nub = NULL;
}

size_t virtual_count(ringd *d) {
        size_t n = 0;
        for (vdev *v = d->vdevs; v; v = v->next)
                n += v->nub != NULL;
        return n;
}

/* Counters for `ringctl virt list`. */
int virtual_list(ringd *d, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *a = NULL;
        int r = rk_value_new_array(&a);

        if (r < 0)
                return r;
        for (vdev *v = d->vdevs; v; v = v->next) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                if (!v->nub)
                        continue;
                static const char *const names[] = { "echo", "upper", "sink" };
                if ((r = rk_value_new_dict(&e)) < 0 || (r = rk_dict_set_integer(e, "id", v->id, false)) < 0 ||
                    (r = rk_dict_set_string(e, "class", rk_service_get_class(v->nub->svc))) < 0 ||
                    (r = rk_dict_set_string(e, "name", rk_service_get_name(v->nub->svc))) < 0 ||
                    (r = rk_dict_set_string(e, "model", names[v->model])) < 0 ||
                    (r = rk_dict_set_integer(e, "bytes_in", v->in, false)) < 0 ||
                    (r = rk_dict_set_integer(e, "bytes_out", v->out, false)) < 0 || (r = rk_array_append(a, e)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(a);
        return 0;
}
