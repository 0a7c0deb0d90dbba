/* SPDX-License-Identifier: MIT */
/*
 * The user-client broker: apps find driver services, wait for them, and
 * open connections to them through ringd's control socket; ringd checks the
 * app's right to, then hands one end of a fresh socketpair to the dext
 * instance (RK_DEXT_UC_OPEN) and the other to the app.  Calls then go app
 * <-> dext directly (lib/ringkit/uc-wire.h): ringd keeps nothing of a
 * connection, so nothing here can leak when either side dies.
 *
 *   uc-find {match}                         -> {services: [{id, class, name, bundle?}]}
 *   uc-wait {match | gone: id, timeout_ms}  -> the same, once one matches (or the service is gone);
 *                                              -ETIMEDOUT after timeout_ms (default: forever)
 *   uc-open {service: id, type: int}        -> {admitted_by} + the connection's socket
 *   uc-watch {match}                        -> {watch: n, services: [...]} now, then RK_CTL_EVENT
 *                                              {watch, id, event: appeared|gone} as services come and go
 *   uc-unwatch {watch: n}                   -> {}
 *
 * A matching dictionary: IOProviderClass (a class in the service's chain),
 * IONameMatch (a name or an array of names), IOPropertyMatch (every key
 * equal), IORegistryEntryID.  Terminated services never match.
 *
 * Who may open (the rule; docs/user-clients.md):
 *   1. The app: ringd reads the peer's pid from SO_PEERCRED and its
 *      executable from /proc/PID/exe.  When that file lies in an app bundle
 *      (X.app/Contents/MacOS/...) whose signature verifies against ringd's
 *      trust store, and the running file's SHA-256 is the code directory's
 *      entry for it, the app holds the bundle's entitlements; it is admitted
 *      when com.apple.developer.driverkit.userclient-access is true or lists
 *      the dext's bundle identifier, and -- when both are signed by
 *      different teams -- the dext allows third-party user clients.
 *   2. The dext: a validly signed dext with allow-any-userclient-access
 *      admits any app.
 *   3. Developer mode admits the rest; the relaxation is recorded once per
 *      (dext, executable) in the log and `ringctl status`.
 *   Otherwise -EPERM, with the reason in the reply and the log.
 *
 * Waiting is event-driven: the registry calls back on every change a
 * matcher could see (a service published or terminated, a state or a
 * property set), and so does dext.c when a driver starts running; that
 * arms one deferred re-check, which answers the waiters whose condition
 * now holds and pushes appeared/gone events to the watchers.  A timer runs
 * only for the nearest wait deadline.  Nothing runs while nobody waits.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/proto.h"
#include "ringd/ringd.h"
#include "shared/macro.h"
#include "trust/entitlements.h"
#include "trust/sign.h"

#define MAX_WAITERS 256
#define MAX_WATCHES 256
#define MAX_WATCHES_PER_CLIENT 16
#define MAX_RELAXED 64

typedef struct uc_waiter {
        ctl_client *c;
        uint32_t peer;
        rk_value *match;     /* or NULL when waiting for `gone` */
        uint64_t gone;
        uint64_t deadline;   /* 0: none */
        struct uc_waiter *next;
} uc_waiter;

typedef struct uc_watch {
        ctl_client *c;
        uint32_t id;
        rk_value *match;
        uint64_t *known;     /* IDs matching at the last check, sorted */
        size_t n_known;
        struct uc_watch *next;
} uc_watch;

struct uc_broker {
        uc_waiter *waiters;
        unsigned n_waiters;
        uc_watch *watches;
        unsigned n_watches;
        uint32_t next_watch;
        rk_source *timer;    /* the nearest deadline */
        rk_source *recheck;  /* deferred, armed by a change */
        char *relaxed[MAX_RELAXED]; /* "bundle\texe" already recorded */
        unsigned n_relaxed;
};

static void on_registry_changed(rk_registry *reg, void *ud) {
        userclient_changed(ud);
}

static struct uc_broker *broker(ringd *d) {
        if (!d->uc && (d->uc = calloc(1, sizeof(*d->uc))))
                rk_registry_set_change_handler(d->reg, on_registry_changed, d);
        return d->uc;
}

/* ---- matching ---- */

static bool name_matches(const rk_value *want, const char *name) {
        if (!name)
                return false;
        if (rk_value_is(want, RK_TYPE_STRING))
                return streq(rk_string(want), name);
        for (size_t k = 0; k < rk_array_size(want); k++)
                if (rk_value_is(rk_array_get(want, k), RK_TYPE_STRING) && streq(rk_string(rk_array_get(want, k)), name))
                        return true;
        return false;
}

static bool service_matches(rk_service *s, const rk_value *match) {
        const rk_value *v;
        uint64_t id;

        if (rk_service_get_state(s) == RK_SERVICE_TERMINATED)
                return false;
        if ((v = rk_dict_get(match, "IOProviderClass")) &&
            (!rk_value_is(v, RK_TYPE_STRING) || !rk_service_has_class(s, rk_string(v))))
                return false;
        if ((v = rk_dict_get(match, "IONameMatch")) && !name_matches(v, rk_service_get_name(s)))
                return false;
        if (rk_dict_get_u64(match, "IORegistryEntryID", &id) && id != rk_service_get_id(s))
                return false;
        if ((v = rk_dict_get(match, "IOPropertyMatch"))) {
                if (!rk_value_is(v, RK_TYPE_DICT))
                        return false;
                for (size_t k = 0; k < rk_dict_size(v); k++) {
                        const char *key = rk_dict_key_at(v, k);
                        rk_value *have = rk_service_get_property(s, key);
                        if (!have || !rk_value_equal(have, rk_dict_value_at(v, k)))
                                return false;
                }
        }
        return true;
}

/* The running instance behind a service: its own driver service, or the winner of a provider's category. */
static instance *service_instance(ringd *d, uint64_t id) {
        nub *n = nub_find(d, id);

        if (!n)
                return NULL;
        if (n->kind == NUB_DRIVER)
                return n->owner;
        for (size_t k = 0; k < n->n_cats; k++)
                if (n->cats[k].winner)
                        return n->cats[k].winner;
        return NULL;
}

static int find_all(ringd *d, const rk_value *match, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *list = NULL;
        int r = rk_value_new_array(&list);

        if (r < 0)
                return r;
        for (nub *n = d->nubs; n; n = n->next_all) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                instance *i;
                if (!n->svc || !service_matches(n->svc, match))
                        continue;
                /* a driver's own service shows once the driver runs (registerService) */
                if (n->kind == NUB_DRIVER && (!n->owner || n->owner->state != I_RUNNING))
                        continue;
                if ((r = rk_value_new_dict(&e)) < 0 ||
                    (r = rk_dict_set_integer(e, "id", rk_service_get_id(n->svc), false)) < 0 ||
                    (r = rk_dict_set_string(e, "class", rk_service_get_class(n->svc))) < 0 ||
                    (r = rk_dict_set_string(e, "name", rk_service_get_name(n->svc) ?: "")) < 0)
                        return r;
                i = service_instance(d, rk_service_get_id(n->svc));
                if (i && i->state == I_RUNNING && (r = rk_dict_set_string(e, "bundle", i->bundle)) < 0)
                        return r;
                if ((r = rk_array_append(list, e)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(list);
        return 0;
}

static const rk_value *request_match(rk_value *req) {
        const rk_value *m = rk_dict_get(req, "match");
        return rk_value_is(m, RK_TYPE_DICT) ? m : NULL;
}

void userclient_cmd_find(ctl_client *c, uint32_t peer, rk_value *req) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply(), *list = NULL;
        const rk_value *match = request_match(req);
        int r;

        if (!match)
                return control_reply_error(c, peer, -EINVAL, "uc-find needs a matching dictionary (match)");
        if (!m || (r = find_all(control_client_ringd(c), match, &list)) < 0)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        (void) rk_dict_set(m, "services", list);
        control_reply_fd(c, peer, m, -EBADF);
}

/* ---- waiting ---- */

static void waiter_free(struct uc_broker *b, uc_waiter *w) {
        for (uc_waiter **p = &b->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        b->n_waiters--;
        rk_value_unref(w->match);
        free(w);
}

/* Answer a waiter if its condition holds (or its time is up).  true when it was answered. */
static bool waiter_check(ringd *d, uc_waiter *w, uint64_t now) {
        _cleanup_(rk_value_unrefp) rk_value *list = NULL, *m = NULL;

        if (w->match) {
                if (find_all(d, w->match, &list) < 0 || rk_array_size(list) == 0)
                        list = rk_value_unref(list);
        } else if (!nub_find(d, w->gone) && rk_value_new_array(&list) < 0)
                list = NULL;
        if (list) {
                if (!(m = control_ok_reply()))
                        return false;
                (void) rk_dict_set(m, "services", list);
                control_reply_fd(w->c, w->peer, m, -EBADF);
                return true;
        }
        if (w->deadline && now >= w->deadline) {
                control_reply_error(w->c, w->peer, -ETIMEDOUT, w->match ? "no matching service appeared in time"
                                                                : "the service is still there");
                return true;
        }
        return false;
}

static void arm_deadline(ringd *d) {
        struct uc_broker *b = d->uc;
        uint64_t first = 0;

        for (uc_waiter *w = b->waiters; w; w = w->next)
                if (w->deadline && (!first || w->deadline < first))
                        first = w->deadline;
        if (!b->timer)
                return;
        if (first) {
                rk_source_set_time(b->timer, first);
                rk_source_set_enabled(b->timer, RK_SOURCE_ONESHOT);
        } else
                rk_source_set_enabled(b->timer, RK_SOURCE_OFF);
}

static int u64_cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* The IDs matching `match` now, sorted. */
static int match_ids(ringd *d, const rk_value *match, uint64_t **ret, size_t *n) {
        _cleanup_(rk_value_unrefp) rk_value *list = NULL;
        uint64_t *ids;
        size_t k, m;
        int r = find_all(d, match, &list);

        if (r < 0)
                return r;
        m = rk_array_size(list);
        ids = calloc(m ? m : 1, sizeof(*ids));
        if (!ids)
                return -ENOMEM;
        for (k = 0; k < m; k++)
                (void) rk_dict_get_u64(rk_array_get(list, k), "id", &ids[k]);
        qsort(ids, m, sizeof(*ids), u64_cmp);
        *ret = ids;
        *n = m;
        return 0;
}

static void push_event(uc_watch *w, uint64_t id, const char *event) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;

        if (rk_value_new_dict(&m) < 0 || rk_dict_set_integer(m, "watch", w->id, false) < 0 ||
            rk_dict_set_integer(m, "id", id, false) < 0 || rk_dict_set_string(m, "event", event) < 0)
                return;
        control_event(w->c, m);
}

/* Compare what a watch matches now with what it matched: push the differences. */
static void watch_check(ringd *d, uc_watch *w) {
        uint64_t *now = NULL;
        size_t n = 0, i = 0, j = 0;

        if (match_ids(d, w->match, &now, &n) < 0)
                return;
        while (i < w->n_known || j < n) {
                if (j == n || (i < w->n_known && w->known[i] < now[j]))
                        push_event(w, w->known[i++], "gone");
                else if (i == w->n_known || now[j] < w->known[i])
                        push_event(w, now[j++], "appeared");
                else
                        i++, j++;
        }
        free(w->known);
        w->known = now;
        w->n_known = n;
}

static int on_recheck(rk_source *s, void *ud) {
        ringd *d = ud;
        struct uc_broker *b = d->uc;
        uint64_t now = rk_now();

        rk_source_set_enabled(s, RK_SOURCE_OFF);
        for (uc_waiter *w = b->waiters, *next; w; w = next) {
                next = w->next;
                if (waiter_check(d, w, now))
                        waiter_free(b, w);
        }
        for (uc_watch *w = b->watches; w; w = w->next)
                watch_check(d, w);
        arm_deadline(d);
        return 0;
}

void userclient_changed(ringd *d) {
        struct uc_broker *b = d->uc;

        if (!b || (!b->waiters && !b->watches) || d->shutting_down)
                return;
        if (!b->recheck && rk_loop_add_defer(d->loop, &b->recheck, on_recheck, d) < 0) {
                log_warning(d, "user clients: cannot schedule a re-check of the waiting apps");
                return;
        }
        rk_source_set_enabled(b->recheck, RK_SOURCE_ONESHOT);
}

static int on_deadline(rk_source *s, uint64_t usec, void *ud) {
        ringd *d = ud;
        struct uc_broker *b = d->uc;
        uint64_t now = rk_now();

        for (uc_waiter *w = b->waiters, *next; w; w = next) {
                next = w->next;
                if (w->deadline && now >= w->deadline && waiter_check(d, w, now))
                        waiter_free(b, w);
        }
        arm_deadline(d);
        return 0;
}

void userclient_cmd_wait(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        struct uc_broker *b = broker(d);
        const rk_value *match = request_match(req);
        uint64_t gone = 0, timeout = 0;
        uc_waiter *w;

        if (!b)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        if (!match && !rk_dict_get_u64(req, "gone", &gone))
                return control_reply_error(c, peer, -EINVAL, "uc-wait needs a matching dictionary (match) or gone: id");
        if (b->n_waiters >= MAX_WAITERS)
                return control_reply_error(c, peer, -EBUSY, "too many waiting clients");
        (void) rk_dict_get_u64(req, "timeout_ms", &timeout);
        if (timeout > UINT32_MAX)
                timeout = UINT32_MAX;
        w = calloc(1, sizeof(*w));
        if (!w)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        *w = (uc_waiter){ .c = c, .peer = peer, .match = match ? rk_value_ref((rk_value *) match) : NULL,
                          .gone = gone, .deadline = timeout ? rk_now() + timeout * 1000 : 0 };
        if (waiter_check(d, w, rk_now())) {
                rk_value_unref(w->match);
                free(w);
                return;
        }
        if (!b->timer && rk_loop_add_time(d->loop, &b->timer, 0, on_deadline, d) < 0) {
                rk_value_unref(w->match);
                free(w);
                return control_reply_error(c, peer, -ENOMEM, NULL);
        }
        w->next = b->waiters;
        b->waiters = w;
        b->n_waiters++;
        arm_deadline(d);
}

static void watch_free(struct uc_broker *b, uc_watch *w) {
        for (uc_watch **p = &b->watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        b->n_watches--;
        rk_value_unref(w->match);
        free(w->known);
        free(w);
}

void userclient_cmd_watch(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        struct uc_broker *b = broker(d);
        _cleanup_(rk_value_unrefp) rk_value *m = NULL, *list = NULL;
        const rk_value *match = request_match(req);
        unsigned mine = 0;
        uint64_t id;
        uc_watch *w;
        int r;

        if (!b)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        if (streq(rk_dict_get_string(req, "command") ?: "", "uc-unwatch")) {
                if (!rk_dict_get_u64(req, "watch", &id))
                        return control_reply_error(c, peer, -EINVAL, "uc-unwatch needs a watch");
                for (w = b->watches; w; w = w->next)
                        if (w->c == c && w->id == id)
                                break;
                if (!w)
                        return control_reply_error(c, peer, -ENOENT, "no such watch");
                watch_free(b, w);
                if (!(m = control_ok_reply()))
                        return control_reply_error(c, peer, -ENOMEM, NULL);
                return control_reply_fd(c, peer, m, -EBADF);
        }
        if (!match)
                return control_reply_error(c, peer, -EINVAL, "uc-watch needs a matching dictionary (match)");
        for (w = b->watches; w; w = w->next)
                mine += w->c == c;
        if (b->n_watches >= MAX_WATCHES || mine >= MAX_WATCHES_PER_CLIENT)
                return control_reply_error(c, peer, -EBUSY, "too many watches");
        w = calloc(1, sizeof(*w));
        if (!w || !(m = control_ok_reply()) || (r = find_all(d, match, &list)) < 0 ||
            match_ids(d, match, &w->known, &w->n_known) < 0) {
                if (w)
                        free(w->known);
                free(w);
                return control_reply_error(c, peer, -ENOMEM, NULL);
        }
        w->c = c;
        w->id = ++b->next_watch ?: ++b->next_watch;
        w->match = rk_value_ref((rk_value *) match);
        w->next = b->watches;
        b->watches = w;
        b->n_watches++;
        (void) rk_dict_set_integer(m, "watch", w->id, false);
        (void) rk_dict_set(m, "services", list);
        control_reply_fd(c, peer, m, -EBADF);
}

void userclient_client_gone(ringd *d, ctl_client *c) {
        struct uc_broker *b = d->uc;

        if (!b)
                return;
        for (uc_waiter *w = b->waiters, *next; w; w = next) {
                next = w->next;
                if (w->c == c)
                        waiter_free(b, w);
        }
        for (uc_watch *w = b->watches, *next; w; w = next) {
                next = w->next;
                if (w->c == c)
                        watch_free(b, w);
        }
}

void userclient_done(ringd *d) {
        struct uc_broker *b = d->uc;

        if (!b)
                return;
        rk_registry_set_change_handler(d->reg, NULL, NULL);
        while (b->waiters)
                waiter_free(b, b->waiters);
        while (b->watches)
                watch_free(b, b->watches);
        rk_source_unref(b->timer);
        rk_source_unref(b->recheck);
        for (unsigned k = 0; k < b->n_relaxed; k++)
                free(b->relaxed[k]);
        free(b);
        d->uc = NULL;
}

/* ---- access ---- */

typedef struct app_id {
        char exe[PATH_MAX];
        char *bundle_path;            /* the app bundle holding exe, when there is one */
        const rk_signing_info *info;  /* when that bundle's signature verifies and exe is what it signed
                                       * (launch.c's trust record: verified once, again when it changes) */
} app_id;

static void app_id_done(app_id *a) {
        free(a->bundle_path);
}

/* Who is the peer: its executable, and the signed app bundle it runs from (if any). */
static void identify_app(ringd *d, pid_t pid, app_id *a, const char **why) {
        char link[64], *p;
        const char *vwhy = NULL;
        ssize_t n;
        int r;

        snprintf(link, sizeof(link), "/proc/%d/exe", (int) pid);
        n = readlink(link, a->exe, sizeof(a->exe) - 1);
        if (n <= 0) {
                a->exe[0] = 0;
                *why = "cannot read the app's executable";
                return;
        }
        a->exe[n] = 0;
        p = strstr(a->exe, ".app/Contents/MacOS/");
        if (!p) {
                *why = "the app is not a bundle (X.app/Contents/MacOS/...)";
                return;
        }
        a->bundle_path = strndup(a->exe, (size_t) (p - a->exe) + 4);
        if (!a->bundle_path)
                return;
        /* /proc/PID/exe is the very file the process runs, even if renamed or replaced since */
        r = launch_bundle_signing(d, a->bundle_path, p + 5, link, &a->info, &vwhy);
        if (r <= 0) {
                a->info = NULL;
                *why = r < 0                           ? "out of memory"
                       : vwhy && strstr(vwhy, "running") ? "the running executable is not the one the app bundle's signature covers"
                       : vwhy && streq(vwhy, "not signed") ? "the app bundle is not signed"
                                                           : "the app bundle's signature does not verify";
        }
}

static bool ent_true(const rk_signing_info *s, const char *key) {
        const rk_value *v = s ? rk_dict_get(s->entitlements, key) : NULL;
        return v && rk_value_is(v, RK_TYPE_BOOL) && rk_bool(v);
}

static void relax_once(ringd *d, const char *bundle, const char *exe) {
        struct uc_broker *b = broker(d);
        _cleanup_(freep) char *key = NULL, *what = NULL;

        if (!b || asprintf(&key, "%s\t%s", bundle, exe) < 0)
                return;
        for (unsigned k = 0; k < b->n_relaxed; k++)
                if (streq(b->relaxed[k], key))
                        return;
        if (asprintf(&what, "user client opened by %s, which holds no userclient-access entitlement for it",
                     *exe ? exe : "an unidentified app") >= 0)
                activation_relax(d, bundle, what);
        if (b->n_relaxed < MAX_RELAXED)
                b->relaxed[b->n_relaxed++] = TAKE_PTR(key);
}

/* The rule at the top of this file.  0 and *admitted_by, or -EPERM and *why. */
static int check_access(ringd *d, instance *i, app_id *app, const char **admitted_by, const char **why) {
        rk_bundle *b = catalogue_find_bundle(d, i->bundle);
        const rk_signing_info *dext = NULL;
        const char *app_why = NULL, *dwhy = NULL;

        /* launch.c's trust record of the driver: verified at its launch, again only when it changed */
        if (b && launch_bundle_signing(d, b->path, NULL, NULL, &dext, &dwhy) <= 0)
                dext = NULL;
        if (app->info) {
                if (!rk_entitlements_allow_userclient(app->info->entitlements, i->bundle))
                        app_why = "the app's userclient-access entitlement does not name this driver";
                else if (dext && dext->team && app->info->team && !streq(dext->team, app->info->team) &&
                         !ent_true(dext, RK_ENT_THIRD_PARTY_USERCLIENTS) && !ent_true(dext, RK_ENT_ANY_USERCLIENT))
                        app_why = "the app is of another team and the driver does not allow third-party user clients";
                else {
                        *admitted_by = "entitlement";
                        return 0;
                }
        }
        if (ent_true(dext, RK_ENT_ANY_USERCLIENT)) {
                *admitted_by = "allow-any-userclient-access";
                return 0;
        }
        if (d->extdb && rk_extdb_get_developer_mode(d->extdb) > 0) {
                relax_once(d, i->bundle, app->exe);
                *admitted_by = "developer-mode";
                return 0;
        }
        *why = app_why ? app_why : *why ? *why : "the app holds no userclient-access entitlement for this driver";
        return -EPERM;
}

void userclient_cmd_open(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        _cleanup_(rk_value_unrefp) rk_value *m = NULL, *body = NULL;
        _cleanup_(closep) int app_end = -EBADF, dext_end = -EBADF;
        const char *admitted_by = NULL, *why = NULL;
        app_id app = { 0 };
        struct ucred cred = { 0 };
        uint64_t id = 0, type = 0;
        instance *i;
        char msg[512];
        int sv[2], r;

        if (!rk_dict_get_u64(req, "service", &id))
                return control_reply_error(c, peer, -EINVAL, "uc-open needs a service (registry ID)");
        (void) rk_dict_get_u64(req, "type", &type);
        if (type > UINT32_MAX)
                return control_reply_error(c, peer, -EINVAL, "uc-open: type out of range");
        i = service_instance(d, id);
        if (!nub_find(d, id))
                return control_reply_error(c, peer, -ENOENT, "no service with that registry ID");
        if (!i)
                return control_reply_error(c, peer, -ENODEV, "no driver runs that service");
        if (i->state != I_RUNNING || !i->ch)
                return control_reply_error(c, peer, -EAGAIN, "the driver is not running (yet)");
        if (control_client_cred(c, &cred) < 0)
                return control_reply_error(c, peer, -EIO, "cannot read the app's credentials");
        identify_app(d, cred.pid, &app, &why);
        r = check_access(d, i, &app, &admitted_by, &why);
        if (r < 0) {
                snprintf(msg, sizeof(msg), "user client of %s refused: %s", i->bundle, why);
                log_notice(d, "%s: pid %d (%s): %s", i->tag, (int) cred.pid, app.exe[0] ? app.exe : "?", msg);
                app_id_done(&app);
                return control_reply_error(c, peer, r, msg);
        }
        if (rk_socketpair(sv) < 0) {
                app_id_done(&app);
                return control_reply_error(c, peer, -EMFILE, NULL);
        }
        app_end = sv[0];
        dext_end = sv[1];
        if ((r = rk_value_new_dict(&body)) < 0 || (r = rk_dict_set_integer(body, "type", type, false)) < 0 ||
            (r = rk_dict_set_integer(body, "pid", (uint64_t) cred.pid, false)) < 0 ||
            (r = rk_dict_set_integer(body, "uid", (uint64_t) cred.uid, false)) < 0 ||
            (r = rk_dict_set_string(body, "executable", app.exe)) < 0 ||
            (r = rk_dict_set_string(body, "app_bundle", app.info && app.info->identifier ? app.info->identifier : "")) < 0 ||
            (r = rk_dict_set_string(body, "admitted_by", admitted_by)) < 0) {
                app_id_done(&app);
                return control_reply_error(c, peer, r, NULL);
        }
        app_id_done(&app);
        r = instance_send(i, RK_DEXT_UC_OPEN, body, dext_end);
        if (r < 0)
                return control_reply_error(c, peer, r, "could not reach the driver");
        if (!(m = control_ok_reply()))
                return control_reply_error(c, peer, -ENOMEM, NULL);
        (void) rk_dict_set_string(m, "admitted_by", admitted_by);
        (void) rk_dict_set_string(m, "bundle", i->bundle);
        log_info(d, "%s: user client type %llu opened for pid %d (%s)", i->tag, (unsigned long long) type,
                 (int) cred.pid, admitted_by);
        control_reply_fd(c, peer, m, app_end);
        /* our copies close here: the connection now belongs to the app and the dext */
}
