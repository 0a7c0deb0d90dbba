/* SPDX-License-Identifier: MIT */
/*
 * The control socket (ROOT/run/ringd.sock, SOCK_SEQPACKET, mode 0666):
 * ringctl's requests, one dispatch switch, one case per command
 * (ipc/proto.h describes the framing).  Any local user may connect, but
 * only ringd's own user (and root) may run the administrative commands
 * below; other users reach the user-client commands (uc-find, uc-wait,
 * uc-watch, uc-unwatch, uc-open: apps talking to drivers, with their own access check
 * in userclient.c) and nothing else -- checked per command from the
 * peer's SO_PEERCRED, taken when it connected.  A client that sends a malformed
 * message is disconnected; nothing a client sends can stop ringd except the
 * `shutdown` command.
 *
 *   status                       counts and settings
 *   list                         dext instances, and categories that failed
 *   registry {id|path, properties}  the registry tree as a plist
 *   virt-add {class, properties} -> {id};  virt-remove {id};  virt-list
 *   debug {bundle}               the next instance of the bundle starts
 *                                stopped; the reply comes when it spawns
 *   rescan                       rescan the extension directories
 *   developer {on?}              developer mode (persisted), set or read
 *   activate {app, bundle, replace?, force?}, approve {bundle}, deny {bundle},
 *   deactivate {bundle, app?}, reset   extension activation (activation.c);
 *                                errors carry code/code_name as well
 *   log {bundle, lines?, before?}  the last lines a bundle's processes printed (outlog.c)
 *   log-follow {bundle}            then each new line, as an RK_CTL_EVENT (outlog.c)
 *   shutdown                     stop every driver top-down and exit
 */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/proto.h"
#include "ringd/ringd.h"
#include "shared/macro.h"

#define MAX_CLIENTS 64
#define MAX_USER_CLIENTS 48 /* clients that are not admin: root always finds room */

struct ctl_client {
        ringd *d;
        rk_channel *ch;
        rk_source *src;
        uint32_t debug_peer; /* a pending debug request, 0 when none */
        char *debug_bundle;
        uid_t uid;           /* the peer's, at connect time (SO_PEERCRED) */
        bool admin;          /* root or ringd's own user: may run every command */
        ctl_client *next;
};

static void client_free(ctl_client *c) {
        ringd *d = c->d;

        userclient_client_gone(d, c);
        outlog_client_gone(d, c);

        for (ctl_client **p = &d->clients; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        rk_source_unref(c->src);
        rk_channel_free(c->ch);
        free(c->debug_bundle);
        free(c);
}

static void client_update(ctl_client *c) {
        rk_source_set_io_events(c->src, EPOLLIN | (rk_channel_has_pending(c->ch) ? EPOLLOUT : 0));
}

static void reply(ctl_client *c, uint32_t peer, rk_value *body) {
        (void) rk_channel_send_plist(c->ch, RK_CTL_REPLY, peer, -EBADF, body);
        client_update(c);
}

/* For userclient.c: a reply that may carry an fd (the connection's socket). */
void control_reply_fd(ctl_client *c, uint32_t peer, rk_value *body, int fd) {
        (void) rk_channel_send_plist(c->ch, RK_CTL_REPLY, peer, fd, body);
        client_update(c);
}

int control_event(ctl_client *c, rk_value *body) {
        int r = rk_channel_send_plist(c->ch, RK_CTL_EVENT, 0, -EBADF, body);
        client_update(c);
        return r;
}

int control_client_cred(ctl_client *c, struct ucred *ret) {
        return rk_channel_get_peer_cred(c->ch, ret);
}

ringd *control_client_ringd(ctl_client *c) {
        return c->d;
}

void control_reply_error(ctl_client *c, uint32_t peer, int error, const char *msg) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;

        if (rk_value_new_dict(&m) < 0)
                return;
        (void) rk_dict_set_bool(m, "ok", false);
        (void) rk_dict_set_integer(m, "errno", (uint64_t) (int64_t) -error, true);
        (void) rk_dict_set_string(m, "error", msg ? msg : strerror(-error));
        reply(c, peer, m);
}

rk_value *control_ok_reply(void) {
        rk_value *m = NULL;
        if (rk_value_new_dict(&m) < 0)
                return NULL;
        if (rk_dict_set_bool(m, "ok", true) < 0)
                return rk_value_unref(m);
        return m;
}

/* ---- commands ---- */

static int count_failed(ringd *d) {
        int n = 0;
        for (nub *x = d->nubs; x; x = x->next_all)
                for (size_t k = 0; k < x->n_cats; k++)
                        n += x->cats[k].failed != NULL;
        return n;
}

static void cmd_status(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply();
        ringd *d = c->d;
        size_t n_inst = 0, n_vdev = 0;

        if (!m)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        for (instance *i = d->instances; i; i = i->next_all)
                n_inst++;
        n_vdev = virtual_count(d);
        (void) rk_dict_set_integer(m, "pid", (uint64_t) getpid(), false);
        (void) rk_dict_set_string(m, "root", d->root);
        (void) rk_dict_set_integer(m, "uptime_usec", rk_now() - d->started_at, false);
        (void) rk_dict_set_integer(m, "bundles", d->n_bundles, false);
        (void) rk_dict_set_integer(m, "personalities", rk_match_index_size(d->index), false);
        (void) rk_dict_set_integer(m, "services", rk_registry_size(d->reg), false);
        (void) rk_dict_set_integer(m, "instances", n_inst, false);
        (void) rk_dict_set_integer(m, "spares", spares_count(d), false);
        (void) rk_dict_set_integer(m, "spares_per_bundle", d->spares_per_bundle, false);
        (void) rk_dict_set_integer(m, "virtual_devices", n_vdev, false);
        (void) rk_dict_set_integer(m, "failed", (uint64_t) count_failed(d), false);
        (void) rk_dict_set_bool(m, "linux_provider", d->linux_provider);
        (void) rk_dict_set_integer(m, "crash_limit", d->crash_limit, false);
        (void) rk_dict_set_integer(m, "crash_window_usec", d->crash_window_usec, false);
        (void) rk_dict_set_bool(m, "developer_mode", d->extdb && rk_extdb_get_developer_mode(d->extdb) > 0);
        (void) rk_dict_set_string(m, "extension_db", d->extdb ? d->extdb_path : "unavailable");
        (void) activation_status(d, m);
        (void) es_status(d, m);
        (void) kext_status(d, m);
        (void) sysext_status(d, m);
        (void) nf_status(d, m);
        reply(c, peer, m);
}

static int instance_value(instance *i, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *e = NULL;
        int r;

        if ((r = rk_value_new_dict(&e)) < 0 || (r = rk_dict_set_string(e, "instance", i->tag)) < 0 ||
            (r = rk_dict_set_string(e, "bundle", i->bundle)) < 0 ||
            (r = rk_dict_set_string(e, "personality", i->personality)) < 0 ||
            (r = rk_dict_set_string(e, "class", i->class_name)) < 0 ||
            (r = rk_dict_set_string(e, "category", i->category)) < 0 ||
            (r = rk_dict_set_string(e, "state", inst_state_name(i->state))) < 0 ||
            (r = rk_dict_set_integer(e, "pid", (uint64_t) i->pid, false)) < 0 ||
            (r = rk_dict_set_integer(e, "score", (uint64_t) i->score, true)) < 0 ||
            (r = rk_dict_set_integer(e, "provider", rk_service_get_id(i->provider->svc), false)) < 0 ||
            (r = rk_dict_set_string(e, "provider_name", rk_service_get_name(i->provider->svc))) < 0 ||
            (i->service && (r = rk_dict_set_integer(e, "service", rk_service_get_id(i->service->svc), false)) < 0))
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

static void cmd_list(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply(), *insts = NULL, *failed = NULL;
        ringd *d = c->d;

        if (!m || rk_value_new_array(&insts) < 0 || rk_value_new_array(&failed) < 0)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        for (instance *i = d->instances; i; i = i->next_all) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                if (instance_value(i, &e) < 0 || rk_array_append(insts, e) < 0)
                        return control_reply_error(c, peer, -ENOMEM, NULL);
        }
        for (nub *x = d->nubs; x; x = x->next_all)
                for (size_t k = 0; k < x->n_cats; k++) {
                        _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                        category *cat = &x->cats[k];
                        if (!cat->failed && !cat->restarts)
                                continue;
                        if (rk_value_new_dict(&e) < 0 ||
                            rk_dict_set_integer(e, "provider", rk_service_get_id(x->svc), false) < 0 ||
                            rk_dict_set_string(e, "provider_name", rk_service_get_name(x->svc)) < 0 ||
                            rk_dict_set_string(e, "category", cat->name) < 0 ||
                            rk_dict_set_integer(e, "restarts", cat->restarts, false) < 0 ||
                            (cat->failed && rk_dict_set_string(e, "failed", cat->failed) < 0) ||
                            rk_array_append(failed, e) < 0)
                                return control_reply_error(c, peer, -ENOMEM, NULL);
                }
        (void) rk_dict_set(m, "instances", insts);
        (void) rk_dict_set(m, "categories", failed);
        {
                _cleanup_(rk_value_unrefp) rk_value *exts = NULL;
                if (activation_list(d, &exts) < 0)
                        return control_reply_error(c, peer, -EIO, "cannot read the activation database");
                (void) rk_dict_set(m, "extensions", exts);
        }
        {
                _cleanup_(rk_value_unrefp) rk_value *sx = NULL;
                if (sysext_list(d, &sx) == 0)
                        (void) rk_dict_set(m, "system_extensions", sx);
        }
        reply(c, peer, m);
}

static void cmd_registry(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply(), *tree = NULL;
        rk_service *from = NULL;
        const char *path = rk_dict_get_string(req, "path");
        uint64_t id;
        int r;

        if (!m)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        if (rk_dict_get_u64(req, "id", &id)) {
                from = rk_registry_find(c->d->reg, id);
                if (!from)
                        return control_reply_error(c, peer, -ENOENT, "no service with that registry ID");
        } else if (path) {
                r = rk_registry_find_path(c->d->reg, path, &from);
                if (r < 0)
                        return control_reply_error(c, peer, r, r == -ENOTUNIQ ? "two services share that name: use Name@id"
                                                                      : "no service at that path");
        }
        r = rk_registry_to_value(c->d->reg, from,
                                 rk_bool(rk_dict_get(req, "properties")) ? RK_REGISTRY_PRINT_PROPERTIES : 0, &tree);
        if (r < 0)
                return control_reply_error(c, peer, r, NULL);
        (void) rk_dict_set(m, "tree", tree);
        reply(c, peer, m);
}

static void cmd_virt_add(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply();
        _cleanup_(freep) char *error = NULL;
        uint64_t id = 0;
        int r;

        if (!m)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        r = virtual_add(c->d, rk_dict_get_string(req, "class"), rk_dict_get(req, "properties"), &id, &error);
        if (r < 0)
                return control_reply_error(c, peer, r, error);
        (void) rk_dict_set_integer(m, "id", id, false);
        reply(c, peer, m);
}

static void cmd_virt_remove(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply();
        _cleanup_(freep) char *error = NULL;
        uint64_t id = 0;
        int r;

        if (!m)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        if (!rk_dict_get_u64(req, "id", &id))
                return control_reply_error(c, peer, -EINVAL, "virt-remove needs an id");
        r = virtual_remove(c->d, id, &error);
        if (r < 0)
                return control_reply_error(c, peer, r, error);
        reply(c, peer, m);
}

static void cmd_virt_list(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply(), *list = NULL;

        if (!m || virtual_list(c->d, &list) < 0)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        (void) rk_dict_set(m, "devices", list);
        reply(c, peer, m);
}

static void cmd_debug(ctl_client *c, uint32_t peer, rk_value *req) {
        const char *bundle = rk_dict_get_string(req, "bundle");
        _cleanup_(freep) char *why = NULL;
        ringd *d = c->d;
        char **x;
        int r;

        if (!bundle || !*bundle)
                return control_reply_error(c, peer, -EINVAL, "debug needs a bundle identifier");
        if (c->debug_peer)
                return control_reply_error(c, peer, -EBUSY, "this connection already waits for an instance");
        /* the reply goes out from control_debug_started(), or below on an error */
        if (!(c->debug_bundle = strdup(bundle)))
                return control_reply_error(c, peer, -ENOMEM, NULL);
        c->debug_peer = peer;
        /* a system extension ringd supervises: started again now, stopped for a debugger (sysext.c) */
        r = sysext_debug(d, bundle, &why);
        if (r == 0) { /* not a system extension: a dext, whose next instance starts stopped */
                x = realloc(d->debug_next, (d->n_debug_next + 1) * sizeof(*x));
                if (x)
                        d->debug_next = x;
                r = x && (x[d->n_debug_next] = strdup(bundle)) ? 0 : -ENOMEM;
        }
        if (r < 0) {
                if (c->debug_peer) { /* not answered meanwhile (a failed launch answers itself) */
                        c->debug_peer = 0;
                        c->debug_bundle = mfree(c->debug_bundle);
                        control_reply_error(c, peer, r, why);
                }
                return;
        }
        if (r > 0)
                return;
        d->n_debug_next++;
        log_notice(d, "the next instance of %s will start stopped, for a debugger", bundle);
}

void control_debug_started(ringd *d, const char *bundle, pid_t pid, const char *tag, int error, const char *why) {
        for (ctl_client *c = d->clients; c; c = c->next) {
                _cleanup_(rk_value_unrefp) rk_value *m = NULL;
                uint32_t peer = c->debug_peer;
                if (!peer || !streq(c->debug_bundle, bundle))
                        continue;
                c->debug_peer = 0;
                c->debug_bundle = mfree(c->debug_bundle);
                if (error < 0)
                        return control_reply_error(c, peer, error, why);
                m = control_ok_reply();
                if (m) {
                        (void) rk_dict_set_integer(m, "pid", (uint64_t) pid, false);
                        (void) rk_dict_set_string(m, "instance", tag);
                        reply(c, peer, m);
                }
                return;
        }
}

void control_instance_spawned(ringd *d, instance *i) {
        if (i->debug)
                control_debug_started(d, i->bundle, i->pid, i->tag, 0, NULL);
}

static void cmd_rescan(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply();
        int r = catalogue_scan(c->d);

        if (r < 0)
                return control_reply_error(c, peer, r, NULL);
        if (m)
                reply(c, peer, m);
}

static void cmd_developer(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply();
        const rk_value *on = rk_dict_get(req, "on");
        int r;

        if (!m)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        if (!c->d->extdb)
                return control_reply_error(c, peer, -EIO, "the activation database is unavailable (see ringd's log)");
        if (on) {
                if (!rk_value_is(on, RK_TYPE_BOOL))
                        return control_reply_error(c, peer, -EINVAL, "developer: 'on' must be a boolean");
                r = rk_extdb_set_developer_mode(c->d->extdb, rk_bool(on));
                if (r < 0)
                        return control_reply_error(c, peer, r, NULL);
                log_notice(c->d, "developer mode %s", rk_bool(on) ? "on: checks are relaxed, and each relaxation is logged"
                                                                  : "off");
                if (rk_bool(on))
                        nub_rematch_all(c->d); /* devices whose unsigned drivers were not tried */
        }
        (void) rk_dict_set_bool(m, "developer_mode", rk_extdb_get_developer_mode(c->d->extdb) > 0);
        reply(c, peer, m);
}

static void cmd_activation(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = activation_handle(c->d, rk_dict_get_string(req, "command"), req);

        if (!m)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        reply(c, peer, m);
}

void ringd_shutdown(ringd *d);

static void cmd_shutdown(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply();

        if (m)
                reply(c, peer, m);
        (void) rk_channel_flush(c->ch);
        ringd_shutdown(c->d);
}

static const struct {
        const char *name;
        void (*fn)(ctl_client *c, uint32_t peer, rk_value *req);
} commands[] = {
        { "status", cmd_status },         { "list", cmd_list },
        { "registry", cmd_registry },     { "virt-add", cmd_virt_add },
        { "virt-remove", cmd_virt_remove }, { "virt-list", cmd_virt_list },
        { "debug", cmd_debug },           { "rescan", cmd_rescan },
        { "shutdown", cmd_shutdown },     { "developer", cmd_developer },
        { "activate", cmd_activation },   { "approve", cmd_activation },
        { "deny", cmd_activation },       { "deactivate", cmd_activation },
        { "reset", cmd_activation },
        /* user clients (issue 8): src/ringd/userclient.c */
        { "uc-find", userclient_cmd_find }, { "uc-wait", userclient_cmd_wait },
        { "uc-open", userclient_cmd_open },   { "uc-watch", userclient_cmd_watch },
        { "uc-unwatch", userclient_cmd_watch },
        /* kexts (issue 7): src/ringd/kext.c */
        { "kexts", kext_cmd_list },       { "safe-mode", kext_cmd_safe_mode },
        { "kext-call", kext_cmd_call },
        /* system extensions (issue 7): src/ringd/sysext.c */
        { "restart", sysext_cmd_restart },
        /* what launched processes printed: src/ringd/outlog.c */
        { "log", outlog_cmd_log },         { "log-follow", outlog_cmd_follow },
};

/* What any local user may run; everything else is for root (and ringd's own user). */
static const char *const user_commands[] = { "uc-find", "uc-wait", "uc-watch", "uc-unwatch", "uc-open" };

static bool user_command(const char *cmd) {
        for (size_t k = 0; k < ELEMENTSOF(user_commands); k++)
                if (streq(cmd, user_commands[k]))
                        return true;
        return false;
}

static int dispatch(ctl_client *c, rk_msg *m) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL;
        const char *cmd;
        int r;

        if (m->type != RK_CTL_REQUEST)
                return -EBADMSG;
        r = rk_msg_read_plist(m, &req);
        if (r < 0)
                return r;
        cmd = rk_dict_get_string(req, "command");
        for (size_t k = 0; cmd && k < ELEMENTSOF(commands); k++)
                if (streq(cmd, commands[k].name)) {
                        if (!c->admin && !user_command(cmd)) {
                                log_notice(c->d, "control: uid %u may not run '%s' (administrative; root only)",
                                           (unsigned) c->uid, cmd);
                                control_reply_error(c, m->peer, -EPERM, "administrative command: root only");
                                return 0;
                        }
                        commands[k].fn(c, m->peer, req);
                        return 0;
                }
        control_reply_error(c, m->peer, -EOPNOTSUPP, "unknown command");
        return 0;
}

static int on_client(rk_source *s, int fd, uint32_t revents, void *ud) {
        ctl_client *c = ud;
        int r;

        if ((revents & EPOLLOUT) && rk_channel_flush(c->ch) < 0)
                goto drop;
        for (unsigned k = 0; k < 16; k++) {
                rk_msg m = { .fd = -EBADF };
                r = rk_channel_recv(c->ch, &m);
                if (r == 0)
                        break;
                if (r < 0) {
                        if (r != -ECONNRESET)
                                log_warning(c->d, "control: dropping a client (uid %u): %s", (unsigned) c->uid,
                                            r == -EBADMSG ? "a malformed datagram (header, length or fds)" : strerror(-r));
                        goto drop;
                }
                bool request = m.type == RK_CTL_REQUEST;
                r = dispatch(c, &m);
                rk_msg_done(&m);
                if (r < 0) {
                        log_warning(c->d, "control: dropping a client (uid %u) that sent a malformed request: %s",
                                    (unsigned) c->uid, request ? strerror(-r) : "not a request");
                        goto drop;
                }
                if (c->d->shutting_down)
                        break;
        }
        client_update(c);
        return 0;
drop:
        client_free(c);
        return 0;
}

static int on_accept(rk_source *s, int fd, uint32_t revents, void *ud) {
        ringd *d = ud;
        unsigned n = 0;

        unsigned n_user = 0;

        for (ctl_client *c = d->clients; c; c = c->next) {
                n++;
                n_user += !c->admin;
        }
        for (;;) {
                ctl_client *c;
                struct ucred cred = { .uid = (uid_t) -1 };
                socklen_t len = sizeof(cred);
                bool admin;
                int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (cfd < 0)
                        return 0;
                if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                        cred.uid = (uid_t) -1;
                admin = cred.uid == 0 || cred.uid == geteuid();
                if (n >= MAX_CLIENTS || (!admin && n_user >= MAX_USER_CLIENTS)) {
                        close(cfd);
                        continue;
                }
                c = calloc(1, sizeof(*c));
                if (!c) {
                        close(cfd);
                        continue;
                }
                c->d = d;
                c->uid = cred.uid;
                c->admin = admin;
                /* fds: uc-open replies carry the connection's socket */
                if (rk_channel_new(cfd, RK_CHANNEL_FDS, &c->ch) < 0) {
                        close(cfd); /* still ours when the channel was not made */
                        free(c);
                        continue;
                }
                if (rk_loop_add_io(d->loop, &c->src, rk_channel_get_fd(c->ch), EPOLLIN, on_client, c) < 0) {
                        rk_channel_free(c->ch);
                        free(c);
                        continue;
                }
                c->next = d->clients;
                d->clients = c;
                n++;
                n_user += !admin;
        }
}

int control_listen(ringd *d) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(d->sock_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, d->sock_path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(d->sock_path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || chmod(d->sock_path, 0666) < 0 || listen(fd, 16) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        d->listen_fd = fd;
        return rk_loop_add_io(d->loop, &d->listen_src, fd, EPOLLIN, on_accept, d);
}

void control_close(ringd *d) {
        while (d->clients)
                client_free(d->clients);
        userclient_done(d);
        d->listen_src = rk_source_unref(d->listen_src);
        if (d->listen_fd >= 0) {
                close(d->listen_fd);
                d->listen_fd = -1;
                (void) unlink(d->sock_path);
        }
}
