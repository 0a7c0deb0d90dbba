/* SPDX-License-Identifier: MIT */
/*
 * Dext instances: one process per matched provider instance.
 *
 * ringd spawns the bundle's executable (or the built-in driver host for a
 * codeless bundle) with posix_spawn -- fork from a large parent costs
 * 20 times more here -- gives it one end of a SOCK_SEQPACKET pair as fd 3
 * and a pipe to ringd as fds 1 and 2 (what it prints: outlog.c), and drives
 * the lifecycle of ipc/proto.h one step at a time.  Every step
 * has a deadline (step_timeout_usec); the process is watched through a
 * pidfd.
 *
 *     I_SPAWNED --HELLO--> I_INIT --INIT_DONE(0)--> I_PROBE --PROBE_DONE(0)--> I_START
 *     (INIT, PROBE and START are sent together at HELLO: send_steps())
 *     I_START --START_DONE(0)--> I_RUNNING            instance_step(), on_message()
 *     I_RUNNING --instance_stop()--> I_STOP --STOP_DONE--> I_FREE --exit--> I_DEAD
 *     any --failure before RUNNING--> nub_instance_failed() (next candidate)
 *     any --exit / deadline / bad message while RUNNING--> nub_instance_crashed()
 *
 * Warm spares: once an instance of a bundle has started, ringd keeps one
 * more process of that bundle spawned and greeted (HELLO received) but not
 * yet given a device (d->spares, --spares N per bundle).  The next instance
 * of the bundle -- a new device, or the restart after a crash -- adopts it
 * and goes straight to INIT, so exec and dynamic linking are off the
 * critical path.  A spare is dropped when its bundle goes or its executable
 * changes on disk (checked by identity at adoption), and never serves an
 * instance started for a debugger.  A spare that dies or misbehaves is
 * dropped with a warning and not replaced until its bundle starts again.
 *
 * Invariants: an instance is in d->instances from spawn until
 * instance_free(); its process is killed (SIGKILL) and reaped before it is
 * freed; every fd it held (channel, pidfd, the handle copy sent over the
 * socket) is closed by then.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/proto.h"
#include "ringd/ringd.h"
#include "shared/macro.h"


static void on_failure(instance *i, int error, const char *why);
static void finish_stop(instance *i);
static void spares_refill(ringd *d, const char *bundle, const char *exe);

const char *inst_state_name(inst_state s) {
        static const char *const names[] = {
                [I_SPAWNED] = "spawned", [I_INIT] = "init",     [I_PROBE] = "probe", [I_START] = "start",
                [I_RUNNING] = "running", [I_STOP] = "stopping", [I_FREE] = "freeing", [I_DEAD] = "dead",
        };
        return (unsigned) s < ELEMENTSOF(names) ? names[s] : "?";
}

instance *instance_find(ringd *d, uint64_t id) {
        for (instance *i = d->instances; i; i = i->next_all)
                if (i->id == id)
                        return i;
        return NULL;
}

static bool alive(ringd *d, uint64_t id) {
        if (instance_find(d, id))
                return true;
        for (instance *i = d->spares; i; i = i->next_all)
                if (i->id == id)
                        return true;
        return false;
}

bool debug_take(ringd *d, const char *bundle) {
        for (size_t k = 0; k < d->n_debug_next; k++)
                if (streq(d->debug_next[k], bundle)) {
                        free(d->debug_next[k]);
                        d->debug_next[k] = d->debug_next[--d->n_debug_next];
                        return true;
                }
        return false;
}

/* ---- deadlines ---- */

static int on_deadline(rk_source *s, uint64_t usec, void *ud) {
        instance *i = ud;
        on_failure(i, -ETIMEDOUT, "missed its deadline");
        return 0;
}

static void arm_deadline(instance *i) {
        uint64_t t = rk_now() + i->d->step_timeout_usec;

        if (i->debug && i->state == I_SPAWNED)
                return; /* a debugger may keep it stopped as long as it likes */
        if (i->deadline) {
                rk_source_set_time(i->deadline, t);
                rk_source_set_enabled(i->deadline, RK_SOURCE_ONESHOT);
        } else if (rk_loop_add_time(i->d->loop, &i->deadline, t, on_deadline, i) >= 0)
                rk_source_set_enabled(i->deadline, RK_SOURCE_ONESHOT);
}

static void disarm_deadline(instance *i) {
        if (i->deadline)
                rk_source_set_enabled(i->deadline, RK_SOURCE_OFF);
}

/* ---- sending ---- */

static void update_io(instance *i) {
        if (i->io && i->ch)
                rk_source_set_io_events(i->io, EPOLLIN | (rk_channel_has_pending(i->ch) ? EPOLLOUT : 0));
}

static int send_msg(instance *i, uint32_t type, rk_value *body, int fd) {
        _cleanup_(rk_value_unrefp) rk_value *empty = NULL;
        int r;

        if (!i->ch)
                return -ENOTCONN;
        if (!body) {
                r = rk_value_new_dict(&empty);
                if (r < 0)
                        return r;
                body = empty;
        }
        r = rk_channel_send_plist(i->ch, type, (uint32_t) i->id, fd, body);
        update_io(i);
        return r;
}

/* ---- the lifecycle ---- */

/*
 * The handle a driver of a real Linux device gets: its device node, opened
 * by ringd (the dext is sandboxed and could not open it itself), only for a
 * dext matching allowed (launch_allows_provider).  A USB interface has no
 * node of its own: its driver gets its device's usbfs node.
 */
static int linux_handle(instance *i) {
        nub *p = i->provider;
        const rk_service *s = p->svc;
        const char *node;
        int fd;

        if (p->kind != NUB_LINUX)
                return -EBADF;
        if (rk_service_has_class(s, "IOPCIDevice"))
                return family_pci_handle(i); /* PCI family: its sysfs config file */
        node = rk_dict_get_string(rk_service_get_properties(s), "RKDevNode");
        if (!node && rk_service_has_class(s, "IOUSBHostInterface") && rk_service_get_provider(s))
                node = rk_dict_get_string(rk_service_get_properties(rk_service_get_provider(s)), "RKDevNode");
        if (!node || strncmp(node, "/dev/", 5) != 0)
                return -EBADF;
        fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM))
                fd = open(node, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                log_warning(i->d, "%s: cannot open %s for its driver: %m", i->tag, node);
                return -EBADF;
        }
        log_debug(i->d, "%s: hands %s to its driver", i->tag, node);
        return fd;
}

static int send_init(instance *i) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        nub *p = i->provider;
        int r;

        if ((r = rk_value_new_dict(&m)) < 0)
                return r;
        if ((r = rk_dict_set_integer(m, "service", rk_service_get_id(i->service->svc), false)) < 0 ||
            (r = rk_dict_set_integer(m, "provider", rk_service_get_id(p->svc), false)) < 0 ||
            (r = rk_dict_set_string(m, "class", i->class_name)) < 0 ||
            (r = rk_dict_set(m, "personality", i->pers->dict)) < 0 ||
            (r = rk_dict_set(m, "provider_properties", (rk_value *) rk_service_get_properties(p->svc))) < 0 ||
            (r = rk_dict_set_string(m, "provider_name", rk_service_get_name(p->svc))) < 0 ||
            (r = rk_dict_set_string(m, "instance", i->tag)) < 0)
                return r;
        if (p->kind == NUB_LINUX) {
                _cleanup_(closep) int fd = linux_handle(i);
                return send_msg(i, RK_DEXT_INIT, m, fd);
        }
        return send_msg(i, RK_DEXT_INIT, m, p->handle);
}

static int send_probe(instance *i) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        int r;

        if ((r = rk_value_new_dict(&m)) < 0 || (r = rk_dict_set_integer(m, "score", (uint64_t) i->score, true)) < 0)
                return r;
        return send_msg(i, RK_DEXT_PROBE, m, -EBADF);
}

/*
 * INIT, PROBE and START go out together, one round trip instead of three:
 * the SDK runs each step only when the one before succeeded (a failed init
 * or a declined probe makes the later steps answer -EPROTO), and ringd acts
 * on the answers in order, so the first failure is the one reported.
 */
static int send_steps(instance *i) {
        int r;

        i->state = I_INIT;
        if ((r = send_init(i)) < 0 || (r = send_probe(i)) < 0)
                return r;
        return send_msg(i, RK_DEXT_START, NULL, -EBADF);
}

static void advance(instance *i, inst_state next, int (*send)(instance *)) {
        uint32_t type = next == I_START ? RK_DEXT_START : next == I_STOP ? RK_DEXT_STOP : RK_DEXT_FREE;
        int r;

        i->state = next;
        r = send ? send(i) : send_msg(i, type, NULL, -EBADF);
        if (r < 0) {
                on_failure(i, r, "could not be sent its next step");
                return;
        }
        arm_deadline(i);
}

static int get_status(rk_value *body) {
        int64_t s = -EBADMSG;
        if (!rk_integer_s64(rk_dict_get(body, "status"), &s) || s > 0 || s < -4095)
                return -EBADMSG;
        return (int) s;
}

static void on_step_done(instance *i, uint32_t type, rk_value *body) {
        int status = get_status(body);
        int64_t score;

        /* asked to stop while a step was in flight: its late answer is no news */
        if ((i->state == I_STOP && type != RK_DEXT_STOP_DONE) || i->state == I_FREE)
                return;
        if (status == -EBADMSG && type != RK_DEXT_STOP_DONE) {
                on_failure(i, -EBADMSG, "answered without a valid status");
                return;
        }
        switch (type) {
        case RK_DEXT_INIT_DONE:
                if (i->state != I_INIT)
                        break;
                if (status < 0)
                        return on_failure(i, status, "init failed");
                i->state = I_PROBE; /* PROBE is already on its way: send_steps() */
                arm_deadline(i);
                return;
        case RK_DEXT_PROBE_DONE:
                if (i->state != I_PROBE)
                        break;
                if (status < 0)
                        return on_failure(i, status, status == -ENODEV || status == -ENXIO ? "declined in probe"
                                                                                           : "probe failed");
                if (rk_integer_s64(rk_dict_get(body, "score"), &score))
                        i->score = score;
                i->state = I_START;
                arm_deadline(i);
                return;
        case RK_DEXT_START_DONE:
                if (i->state != I_START)
                        break;
                if (status < 0)
                        return on_failure(i, status, "start failed");
                disarm_deadline(i);
                i->state = I_RUNNING;
                log_info(i->d, "%s: started on %s (pid %d, score %lld, %.2f ms after matching)", i->tag,
                         rk_service_get_name(i->provider->svc), (int) i->pid, (long long) i->score,
                         (double) (rk_now() - i->t_spawn) / 1000.0);
                nub_instance_started(i);
                spares_refill(i->d, i->bundle, i->exe);
                userclient_changed(i->d); /* its service is now listed (uc-wait, uc-watch) */
                return;
        case RK_DEXT_STOP_DONE:
                if (i->state != I_STOP)
                        break;
                return advance(i, I_FREE, NULL);
        }
        on_failure(i, -EPROTO, "answered a step it was not asked");
}

/* userclient.c hands a running instance a connection through this. */
int instance_send(instance *i, uint32_t type, rk_value *body, int fd) {
        return send_msg(i, type, body, fd);
}

static void on_hello(instance *i, rk_value *body) {
        uint64_t sdk = 0;

        if (i->greeted || i->state != I_SPAWNED)
                return on_failure(i, -EPROTO, "said hello twice");
        if (!rk_dict_get_u64(body, "sdk", &sdk) || sdk != RK_DEXT_SDK_VERSION)
                return on_failure(i, -EPROTONOSUPPORT, "speaks another protocol version");
        i->greeted = true;
        if (i->spare) {
                disarm_deadline(i);
                log_debug(i->d, "%s: spare ready (pid %d)", i->tag, (int) i->pid);
                return;
        }
        if (send_steps(i) < 0)
                return on_failure(i, -EPIPE, "could not be sent its first steps");
        arm_deadline(i);
}

static void on_log(instance *i, rk_value *body) {
        const char *msg = rk_dict_get_string(body, "message");
        int64_t level = 6;

        (void) rk_integer_s64(rk_dict_get(body, "level"), &level);
        if (level < 0 || level > 7)
                level = 6;
        if (msg) {
                rd_log(i->d, (int) level, "%s: %s", i->tag, msg);
                outlog_keep_message(i->d, i->bundle, i->tag, msg);
        }
}

static void on_set_property(instance *i, rk_value *body) {
        const char *key = rk_dict_get_string(body, "key");
        rk_value *v = rk_dict_get(body, "value");

        if (!key || !*key || !i->service)
                return;
        if (v)
                (void) rk_service_set_property(i->service->svc, key, v);
        else
                (void) rk_service_remove_property(i->service->svc, key);
}

static void reply_published(instance *i, uint64_t cookie, uint64_t id, int status) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;

        if (rk_value_new_dict(&m) < 0 || rk_dict_set_integer(m, "cookie", cookie, false) < 0 ||
            rk_dict_set_integer(m, "id", id, false) < 0 ||
            rk_dict_set_integer(m, "status", (uint64_t) (int64_t) status, true) < 0)
                return;
        (void) send_msg(i, RK_DEXT_PUBLISHED, m, -EBADF);
}

#define MAX_CLASSES 16

static void on_publish(instance *i, rk_msg *msg, rk_value *body) {
        const rk_value *classes = rk_dict_get(body, "classes");
        const char *name = rk_dict_get_string(body, "name");
        rk_value *props = rk_dict_get(body, "properties");
        const char *chain[MAX_CLASSES];
        uint64_t cookie = 0;
        size_t n = rk_array_size(classes);
        nub *created = NULL;
        int fd, r;

        (void) rk_dict_get_u64(body, "cookie", &cookie);
        if (i->state != I_RUNNING && i->state != I_START)
                return reply_published(i, cookie, 0, -EPROTO);
        if (!name || n == 0 || n > MAX_CLASSES || (props && !rk_value_is(props, RK_TYPE_DICT)))
                return reply_published(i, cookie, 0, -EINVAL);
        for (size_t k = 0; k < n; k++) {
                chain[k] = rk_string(rk_array_get(classes, k));
                if (!chain[k] || !*chain[k])
                        return reply_published(i, cookie, 0, -EINVAL);
        }
        fd = rk_msg_take_fd(msg);
        r = nub_publish(i->d, i->service, NUB_PUBLISHED, chain, n, name, props, fd, &created);
        if (r < 0) {
                if (fd >= 0)
                        close(fd);
                return reply_published(i, cookie, 0, r);
        }
        created->owner = i;
        reply_published(i, cookie, rk_service_get_id(created->svc), 0);
        log_debug(i->d, "%s: published %s '%s' (id 0x%llx)", i->tag, chain[0], name,
                  (unsigned long long) rk_service_get_id(created->svc));
        nub_match(created);
}

static void on_unpublish(instance *i, rk_value *body) {
        uint64_t id = 0;
        nub *n;

        if (!rk_dict_get_u64(body, "id", &id))
                return;
        n = nub_find(i->d, id);
        if (n && n->kind == NUB_PUBLISHED && n->owner == i)
                nub_terminate(n, NULL, NULL);
}

static int on_message(instance *i, rk_msg *m) {
        _cleanup_(rk_value_unrefp) rk_value *body = NULL;
        int r = rk_msg_read_plist(m, &body);

        if (r < 0)
                return r;
        if (i->spare && m->type != RK_DEXT_HELLO && m->type != RK_DEXT_LOG) {
                on_failure(i, -EPROTO, "spoke out of turn before it was given a device");
                return 0;
        }
        switch (m->type) {
        case RK_DEXT_HELLO:
                on_hello(i, body);
                break;
        case RK_DEXT_INIT_DONE:
        case RK_DEXT_PROBE_DONE:
        case RK_DEXT_START_DONE:
        case RK_DEXT_STOP_DONE:
                on_step_done(i, m->type, body);
                break;
        case RK_DEXT_LOG:
                on_log(i, body);
                break;
        case RK_DEXT_SET_PROPERTY:
                on_set_property(i, body);
                break;
        case RK_DEXT_REGISTER:
                break; /* the driver service is visible from the start here */
        case RK_DEXT_PUBLISH:
                on_publish(i, m, body);
                break;
        case RK_DEXT_UNPUBLISH:
                on_unpublish(i, body);
                break;
        case RK_DEXT_NET_CREATE:
        case RK_DEXT_NET_DESTROY:
        case RK_DEXT_PCI_MAP_BAR:
                return family_request(i, m->type, m, body); /* family.c */
        case RK_DEXT_DEVICE_OPEN:
                return devopen_request(i, m, body); /* devopen.c */
        default:
                return -EBADMSG;
        }
        return 0;
}

static int on_io(rk_source *s, int fd, uint32_t revents, void *ud) {
        instance *i = ud;
        ringd *d = i->d;
        uint64_t id = i->id;
        int r;

        if (revents & EPOLLOUT) {
                r = rk_channel_flush(i->ch);
                if (r < 0)
                        goto lost;
        }
        /* bounded: a chatty dext cannot starve the loop */
        for (unsigned k = 0; k < 64; k++) {
                rk_msg m = { .fd = -EBADF };
                r = rk_channel_recv(i->ch, &m);
                if (r == 0)
                        break;
                if (r < 0)
                        goto lost;
                r = on_message(i, &m);
                rk_msg_done(&m);
                if (r < 0)
                        goto lost;
                /* a message may have ended the instance */
                if (!alive(d, id) || !i->ch)
                        return 0;
        }
        update_io(i);
        return 0;
lost:
        if (r == -EBADMSG)
                on_failure(i, r, "sent a malformed message");
        else if (i->state == I_FREE) {
                /* expected: it is exiting */
                i->io = rk_source_unref(i->io);
                i->ch = rk_channel_free(i->ch);
        } else
                on_failure(i, r, "closed its channel");
        return 0;
}

static int on_child(rk_source *s, const siginfo_t *si, void *ud) {
        instance *i = ud;
        bool expected = i->state == I_FREE || i->state == I_DEAD;
        char why[96];

        if (si->si_code == CLD_EXITED)
                snprintf(why, sizeof(why), "exited with status %d", si->si_status);
        else
                snprintf(why, sizeof(why), "killed by signal %s", sigabbrev_np(si->si_status) ?: "?");
        i->pid = 0;
        i->child = rk_source_unref(i->child);
        if (expected) {
                log_debug(i->d, "%s: %s", i->tag, why);
                instance_kill(i, NULL);
                finish_stop(i);
                return 0;
        }
        on_failure(i, -ECHILD, why);
        return 0;
}

/*
 * Anything that ends an instance before it was asked to: before RUNNING it
 * is a failed attempt (next candidate); while RUNNING it is a crash
 * (supervision); while stopping it only finishes the teardown.
 */
static void on_failure(instance *i, int error, const char *why) {
        inst_state was = i->state;

        if (was == I_DEAD)
                return;
        if (i->spare) {
                log_warning(i->d, "%s: spare dropped: %s", i->tag, why);
                instance_free(i);
                return;
        }
        if (was == I_STOP || was == I_FREE) {
                if (error != -ECHILD || was == I_STOP)
                        log_warning(i->d, "%s: %s while stopping", i->tag, why);
                instance_kill(i, NULL);
                finish_stop(i);
                return;
        }
        if (was == I_RUNNING)
                log_error(i->d, "%s: crashed: %s", i->tag, why);
        else if (error == -ENODEV || error == -ENXIO)
                log_debug(i->d, "%s: %s", i->tag, why);
        else
                log_warning(i->d, "%s: %s (%s) during %s", i->tag, why, strerror(-error), inst_state_name(was));
        instance_kill(i, NULL);
        if (was == I_RUNNING)
                nub_instance_crashed(i);
        else
                nub_instance_failed(i, error);
}

/* Kill and reap synchronously: the process may not outlive its record. */
void instance_kill(instance *i, const char *why) {
        if (why)
                log_notice(i->d, "%s: killing: %s", i->tag, why);
        disarm_deadline(i);
        i->io = rk_source_unref(i->io);
        i->ch = rk_channel_free(i->ch);
        if (i->pid > 0) {
                /* SIGKILL cannot be caught or held off for long: reap it now */
                limits_kill_all(i->d, i);
                while (waitpid(i->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                i->pid = 0;
        } else
                limits_kill_all(i->d, i); /* the leader exited: its children may not have */
        i->child = rk_source_unref(i->child);
        i->state = I_DEAD;
        kext_instance_stop(i); /* an in-process kext driver: its class's stop */
        limits_release(i->d, i);
        family_instance_release(i); /* after the process is gone: its interfaces are deleted */
}

void instance_free(instance *i) {
        if (!i)
                return;
        instance_kill(i, NULL);
        if (i->provider)
                for (size_t k = 0; k < i->provider->n_cats; k++)
                        if (i->provider->cats[k].winner == i)
                                i->provider->cats[k].winner = NULL;
        if (i->service && i->service->owner == i)
                i->service->owner = NULL;
        i->deadline = rk_source_unref(i->deadline);
        if (i->prev_all)
                i->prev_all->next_all = i->next_all;
        else if (i->spare)
                i->d->spares = i->next_all;
        else
                i->d->instances = i->next_all;
        if (i->next_all)
                i->next_all->prev_all = i->prev_all;
        rk_personality_unref(i->pers);
        free(i->waiters);
        free(i->exe);
        free(i->tag);
        free(i->bundle);
        free(i->personality);
        free(i->class_name);
        free(i->category);
        free(i);
}

/* Stop an instance: STOP (when running), FREE, wait for the exit; then the waiters, then free. */
void instance_stop(instance *i, void (*stopped)(void *ud), void *ud) {
        bool already = i->state == I_STOP || i->state == I_FREE;

        if (stopped) {
                struct waiter *w = realloc(i->waiters, (i->n_waiters + 1) * sizeof(*w));
                if (w) {
                        i->waiters = w;
                        w[i->n_waiters++] = (struct waiter){ stopped, ud };
                }
        }
        if (already)
                return;
        if (i->state == I_DEAD || !i->ch) {
                instance_kill(i, NULL);
                finish_stop(i);
                return;
        }
        advance(i, i->state == I_RUNNING ? I_STOP : I_FREE, NULL);
}

static void finish_stop(instance *i) {
        struct waiter *w = i->waiters;
        size_t n = i->n_waiters;

        i->waiters = NULL;
        i->n_waiters = 0;
        if (i->service) {
                i->service->owner = NULL;
                i->service = NULL;
        }
        instance_free(i);
        for (size_t k = 0; k < n; k++)
                w[k].cb(w[k].ud);
        free(w);
}

/* ---- spawning ---- */

static int spawn_process(instance *i, int child_fd) {
        _cleanup_(launch_env_freep) char **env = NULL;
        _cleanup_(closep) int exec_fd = -EBADF, out_fd = -EBADF;
        _cleanup_(freep) char *procs = NULL;
        launch_plan plan = { .exec_fd = -EBADF, .seccomp_fd = -EBADF };
        char fd_s[16];
        pid_t pid;
        int r;

        /* its pids cgroup, joined by the process before it runs a line (launch_spawn()) */
        if ((r = limits_prepare(i->d, i, &procs)) < 0)
                log_warning(i->d, "%s: cannot prepare its limits: %s", i->tag, strerror(-r));
        r = launch_prepare(i->d, i->bundle, i->exe, i->tag, &plan);
        if (r < 0)
                return r;
        /* off the low numbers, or a dup2 onto itself would keep CLOEXEC */
        exec_fd = fcntl(plan.exec_fd, F_DUPFD_CLOEXEC, 10);
        if (exec_fd < 0) {
                r = -errno;
                launch_plan_done(&plan);
                return r;
        }
        snprintf(fd_s, sizeof(fd_s), "%d", RK_DEXT_FD);
        r = launch_env((const char *const[]){ "RINGKIT_FD", fd_s, "RINGKIT_INSTANCE", i->tag,
                                              "RINGKIT_WAIT_DEBUGGER", i->debug ? "1" : NULL,
                                              "RINGKIT_DATA_DIR", plan.data_dir, NULL },
                       &env);
        if (r < 0) {
                launch_plan_done(&plan);
                return r;
        }
        /* its standard output and error: a pipe to ringd (outlog.c); without one, ringd's own */
        if ((r = outlog_pipe(i->d, i->bundle, i->tag, &out_fd)) < 0)
                log_warning(i->d, "%s: no output pipe (%s): it writes to ringd's standard error", i->tag, strerror(-r));
        r = launch_spawn(&plan, exec_fd,
                         (const int[][2]){ { child_fd, RK_DEXT_FD }, { out_fd, STDOUT_FILENO }, { out_fd, STDERR_FILENO } },
                         out_fd >= 0 ? 3 : 1, plan.argv, env, procs, &pid);
        if (out_fd >= 0)
                close(TAKE_FD(out_fd)); /* the child's now: ringd's copy would keep the pipe from reaching EOF */
        launch_plan_done(&plan);
        if (r < 0)
                return r;
        i->pid = pid;
        return 0;
}

static int attach_process(instance *i, int parent_fd) {
        int pidfd, r;

        pidfd = (int) syscall(SYS_pidfd_open, i->pid, 0);
        if (pidfd < 0)
                return -errno;
        r = rk_loop_add_child(i->d->loop, &i->child, i->pid, pidfd, on_child, i);
        if (r < 0) {
                close(pidfd);
                return r;
        }
        r = rk_channel_new(parent_fd, RK_CHANNEL_FDS, &i->ch);
        if (r < 0) {
                close(parent_fd); /* still ours when the channel was not made */
                return r;
        }
        return rk_loop_add_io(i->d->loop, &i->io, rk_channel_get_fd(i->ch), EPOLLIN, on_io, i);
}

/* The executable for a personality: its bundle's, or the built-in host for a codeless bundle. */
static int resolve_executable(ringd *d, rk_personality *p, const char **ret) {
        const char *owner = rk_dict_get_string(p->dict, "CFBundleIdentifier");
        rk_bundle *b = catalogue_find_bundle(d, owner ? owner : p->bundle);

        if (!b)
                b = catalogue_find_bundle(d, p->bundle);
        if (!b)
                return -ENOENT;
        if (b->codeless || !b->executable_path) {
                if (!d->builtin_path)
                        return -ENOEXEC;
                *ret = d->builtin_path;
                return 0;
        }
        *ret = b->executable_path;
        return 0;
}

static void exe_identify(const char *exe, struct exe_id *id) {
        struct stat st;

        *id = (struct exe_id){};
        if (stat(exe, &st) < 0)
                return;
        *id = (struct exe_id){
                .dev = st.st_dev,
                .ino = st.st_ino,
                .size = (uint64_t) st.st_size,
                .mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                .ctime_ns = (int64_t) st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec,
        };
}

/* The process for a (new or spare) instance: channel, spawn, limits, pidfd. */
static int start_process(instance *i) {
        int sv[2] = { -1, -1 }, child_fd, r;

        exe_identify(i->exe, &i->exe_id);
        r = rk_socketpair(sv);
        if (r < 0)
                return r;
        /* keep the child's end off fd 3, or dup2 would be a no-op that keeps CLOEXEC */
        child_fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        close(sv[1]);
        if (child_fd < 0) {
                r = -errno;
                close(sv[0]);
                return r;
        }
        r = spawn_process(i, child_fd);
        close(child_fd);
        if (r < 0) {
                limits_release(i->d, i); /* its cgroup, prepared for a process that did not start */
                close(sv[0]);
                log_error(i->d, "%s: cannot run %s: %s", i->tag, i->exe, strerror(-r));
                return r;
        }
        return attach_process(i, sv[0]);
}

static instance *instance_new(ringd *d, const char *bundle, const char *exe, bool spare) {
        instance *i = calloc(1, sizeof(*i));

        if (!i)
                return NULL;
        i->d = d;
        i->id = ++d->next_instance;
        i->state = I_SPAWNED;
        i->spare = spare;
        i->bundle = strdup(bundle);
        i->exe = strdup(exe);
        if (!i->bundle || !i->exe || asprintf(&i->tag, "%s#%llu", bundle, (unsigned long long) i->id) < 0) {
                i->tag = NULL;
                free(i->bundle);
                free(i->exe);
                free(i);
                return NULL;
        }
        instance **head = spare ? &d->spares : &d->instances;
        i->next_all = *head;
        if (i->next_all)
                i->next_all->prev_all = i;
        *head = i;
        return i;
}

static void unlink_spare(instance *i) {
        if (i->prev_all)
                i->prev_all->next_all = i->next_all;
        else
                i->d->spares = i->next_all;
        if (i->next_all)
                i->next_all->prev_all = i->prev_all;
        i->spare = false;
        i->next_all = i->d->instances;
        i->prev_all = NULL;
        if (i->next_all)
                i->next_all->prev_all = i;
        i->d->instances = i;
}

size_t spares_count(ringd *d) {
        size_t n = 0;
        for (instance *i = d->spares; i; i = i->next_all)
                n++;
        return n;
}

static void spares_refill(ringd *d, const char *bundle, const char *exe) {
        unsigned have = 0;

        if (d->shutting_down)
                return;
        for (instance *i = d->spares; i; i = i->next_all)
                if (streq(i->bundle, bundle) && streq(i->exe, exe))
                        have++;
        for (; have < d->spares_per_bundle; have++) {
                instance *i = instance_new(d, bundle, exe, true);
                if (!i)
                        return;
                if (start_process(i) < 0) {
                        instance_free(i);
                        return;
                }
                arm_deadline(i);
                log_debug(d, "%s: spare spawned (pid %d)", i->tag, (int) i->pid);
        }
}

/* A spare of this bundle running this very file, taken out of the spares; NULL when there is none. */
static instance *spare_take(ringd *d, const char *bundle, const char *exe) {
        for (instance *i = d->spares; i; i = i->next_all) {
                struct exe_id now;

                if (!streq(i->bundle, bundle) || !streq(i->exe, exe))
                        continue;
                exe_identify(exe, &now);
                if (memcmp(&now, &i->exe_id, sizeof(now)) != 0) {
                        log_info(d, "%s: spare dropped: %s changed since it was spawned", i->tag, exe);
                        instance_free(i);
                        return NULL;
                }
                unlink_spare(i);
                return i;
        }
        return NULL;
}

void spares_prune(ringd *d) {
        for (instance *i = d->spares, *next; i; i = next) {
                rk_bundle *b = catalogue_find_bundle(d, i->bundle);
                const char *exe = !b ? NULL : b->codeless || !b->executable_path ? d->builtin_path : b->executable_path;
                struct exe_id now;

                next = i->next_all;
                if (exe && streq(exe, i->exe)) {
                        exe_identify(exe, &now);
                        if (memcmp(&now, &i->exe_id, sizeof(now)) == 0)
                                continue;
                }
                log_info(d, "%s: spare dropped: its bundle or executable changed", i->tag);
                instance_free(i);
        }
}

void spares_drop(ringd *d, const char *bundle) {
        for (instance *i = d->spares, *next; i; i = next) {
                next = i->next_all;
                if (streq(i->bundle, bundle)) {
                        log_debug(d, "%s: spare dropped", i->tag);
                        instance_free(i);
                }
        }
}

void spares_free_all(ringd *d) {
        while (d->spares)
                instance_free(d->spares);
}

/*
 * Input drivers run ahead of ordinary processes, as macOS runs its HID event
 * system: a report's way through a user-space driver is two more wake-ups
 * than the kernel's, and whichever of the woken processes the scheduler
 * runs first decides most of its latency.  The built-in HID event driver,
 * and any personality that says RKInteractive, get nice RK_INTERACTIVE_NICE.
 */
#define RK_INTERACTIVE_NICE (-10)

static void apply_priority(instance *i, const rk_personality *p) {
        if (!rk_bool(rk_dict_get(p->dict, "RKInteractive")) && !streq(i->class_name, "RKHIDEventDriver"))
                return;
        if (setpriority(PRIO_PROCESS, (id_t) i->pid, RK_INTERACTIVE_NICE) < 0)
                log_warning(i->d, "%s: could not raise the priority of pid %d for %s: %m", i->tag, (int) i->pid,
                            p->name);
        else
                log_info(i->d, "%s: interactive driver: pid %d runs at nice %d", i->tag, (int) i->pid,
                         RK_INTERACTIVE_NICE);
}

int instance_spawn(ringd *d, nub *provider, rk_personality *p, int64_t score, attempt *a, instance **ret) {
        const char *exe = NULL, *cls;
        _cleanup_(rk_value_unrefp) rk_value *props = NULL;
        const char *chain[3];
        bool debug, warm = false, kext;
        instance *i;
        int r;

        r = resolve_executable(d, p, &exe);
        if (r < 0) {
                log_error(d, "%s: personality %s: no executable to run (%s)", p->bundle, p->name, strerror(-r));
                return r;
        }
        cls = rk_dict_get_string(p->dict, "IOUserClass");
        if (!cls)
                cls = p->io_class;
        kext = kext_bundle(d, p->bundle);
        debug = !kext && debug_take(d, p->bundle);
        i = debug || kext ? NULL : spare_take(d, p->bundle, exe);
        warm = i != NULL;
        if (!i)
                i = instance_new(d, p->bundle, exe, false);
        if (!i)
                return -ENOMEM;
        i->debug = debug;
        i->t_spawn = rk_now();
        i->pers = rk_personality_ref(p);
        i->score = score;
        i->provider = provider;
        i->attempt = a;
        i->personality = strdup(p->name);
        i->class_name = strdup(cls ? cls : "");
        i->category = strdup(p->category);
        if (!i->personality || !i->class_name || !i->category) {
                r = -ENOMEM;
                goto fail;
        }

        /* the driver's own service, attached to its provider; its properties are the personality's */
        r = rk_value_copy(p->dict, &props);
        if (r < 0)
                goto fail;
        chain[0] = i->class_name;
        chain[1] = "IOService";
        r = nub_publish(d, provider, NUB_DRIVER, chain, streq(i->class_name, "IOService") ? 1 : 2, i->class_name,
                        props, -EBADF, &i->service);
        if (r < 0)
                goto fail;
        i->service->owner = i;

        if (kext) {
                /* a kext's class runs in ringd: probe and start now, no process */
                r = kext_instance_start(i);
                if (r < 0)
                        goto fail;
                *ret = i;
                return 0;
        }
        if (!warm) {
                r = start_process(i);
                if (r < 0)
                        goto fail;
                log_info(d, "%s: spawned %s for %s '%s' (pid %d)%s", i->tag, exe, p->name,
                         rk_service_get_name(provider->svc), (int) i->pid,
                         i->debug ? ", stopped for a debugger" : "");
        } else
                log_info(d, "%s: warm spare (pid %d) takes %s '%s'", i->tag, (int) i->pid, p->name,
                         rk_service_get_name(provider->svc));
        if (i->debug)
                log_notice(d, "%s: waiting for a debugger: gdb -p %d", i->tag, (int) i->pid);
        apply_priority(i, p);
        control_instance_spawned(d, i);
        if (warm && i->greeted) {
                /* sent here rather than through on_failure(): a failure is this spawn's failure */
                r = send_steps(i);
                if (r < 0)
                        goto fail;
        }
        arm_deadline(i);
        *ret = i;
        return 0;
fail:
        if (i->service) {
                nub *s = i->service;
                i->service = NULL;
                s->owner = NULL; /* or its teardown would stop (and free) this instance too */
                nub_terminate(s, NULL, NULL);
        }
        instance_free(i);
        return r;
}
