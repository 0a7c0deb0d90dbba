/* SPDX-License-Identifier: MIT */
/*
 * Nubs: the providers drivers attach to, and what happens on them --
 * matching, trying candidates per match category, supervision of the
 * winners, and teardown of whole stacks.
 *
 * Per provider and match category (struct category):
 *
 *     (none) --nub_match()--> trying: attempt holds the ranked candidates
 *     trying --candidate started--> won (winner = the instance)
 *     trying --candidate failed--> trying the next; none left --> (none)
 *     won --winner crashed--> back-off timer (0 for a lone crash) --> nub_match() again
 *     won --crashed crash_limit times within crash_window--> failed
 *
 * Teardown (device removed, bundle removed, shutdown, a crashed driver's
 * own stack): every instance in the subtree is stopped in turn, deepest
 * first (a client before its provider), each STOP answered before the next
 * starts; then the registry subtree is terminated and the records freed.
 * A nub being torn down is `dying`: nothing new is matched or started on it.
 */
#include <stdlib.h>
#include <string.h>

#include "ringd/ringd.h"
#include "shared/macro.h"

nub *nub_from_service(rk_service *s) {
        return s ? rk_service_get_userdata(s) : NULL;
}

nub *nub_find(ringd *d, uint64_t id) {
        return nub_from_service(rk_registry_find(d->reg, id));
}

int nub_publish(ringd *d, nub *provider, nub_kind kind, const char *const *classes, size_t n_classes,
                const char *name, rk_value *props, int handle, nub **ret) {
        rk_service *svc = NULL;
        nub *n;
        int r;

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        r = rk_registry_publish(d->reg, provider ? provider->svc : rk_registry_root(d->reg), classes, n_classes, name,
                                props, &svc);
        if (r < 0) {
                free(n);
                return r;
        }
        n->d = d;
        n->svc = rk_service_ref(svc);
        n->kind = kind;
        n->handle = handle;
        rk_service_set_userdata(svc, n);
        n->next_all = d->nubs;
        if (n->next_all)
                n->next_all->prev_all = n;
        d->nubs = n;
        *ret = n;
        return 0;
}

category *nub_category(nub *n, const char *name, bool create) {
        category *c;

        for (size_t k = 0; k < n->n_cats; k++)
                if (streq(n->cats[k].name, name))
                        return &n->cats[k];
        if (!create)
                return NULL;
        c = realloc(n->cats, (n->n_cats + 1) * sizeof(*c));
        if (!c)
                return NULL;
        n->cats = c;
        c = &n->cats[n->n_cats];
        *c = (category){ .name = strdup(name) };
        if (!c->name)
                return NULL;
        n->n_cats++;
        return c;
}

static void attempt_free(attempt *a) {
        if (!a)
                return;
        for (size_t k = a->next; k < a->n; k++)
                rk_personality_unref(a->cands[k].personality);
        free(a->cands);
        free(a->category);
        free(a);
}

static void free_next_ctx(void *ud);

static void cancel_retry(category *c) {
        c->retry = rk_source_unref(c->retry);
        if (c->retry_ctx)
                free_next_ctx(c->retry_ctx);
        c->retry_ctx = NULL;
}

static void category_done(category *c) {
        attempt_free(c->attempt);
        c->attempt = NULL;
        cancel_retry(c);
        free(c->failed);
        free(c->name);
}

static bool nub_dying(nub *n) {
        return !n || rk_service_get_state(n->svc) == RK_SERVICE_TERMINATED || n->d->shutting_down || !n->svc ||
               !rk_service_get_registry(n->svc);
}

void nub_category_start_next(nub *n, category *c) {
        attempt *a = c->attempt;
        ringd *d = n->d;

        while (a && a->next < a->n && !nub_dying(n)) {
                rk_match_candidate cand = a->cands[a->next++];
                instance *i = NULL;
                const char *why = NULL;
                int r;

                /* entitlements: a dext is only tried on providers it may drive */
                if (!kext_bundle(d, cand.personality->bundle) && /* a kext is no dext: its rules are kext.c's */
                    !launch_allows_provider(d, cand.personality->bundle, rk_service_match_provider(n->svc), &why)) {
                        log_notice(d, "%s: %s (personality %s) not tried: %s%s", rk_service_get_name(n->svc),
                                   cand.personality->bundle, cand.personality->name, why ? why : "not entitled",
                                   why && streq(why, "not signed")
                                           ? " (unsigned bundles run only in developer mode: ringctl developer on)"
                                           : "");
                        rk_personality_unref(cand.personality);
                        continue;
                }
                r = instance_spawn(d, n, cand.personality, cand.score, a, &i);
                rk_personality_unref(cand.personality);
                if (r >= 0)
                        return; /* continues in nub_instance_started/failed */
        }
        if (a)
                log_notice(d, "%s: no driver started in category %s", rk_service_get_name(n->svc), c->name);
        attempt_free(a);
        c->attempt = NULL;
}

void nub_match(nub *n) {
        ringd *d = n->d;
        rk_match_result res;
        int r;

        if (nub_dying(n) || n->kind == NUB_DRIVER)
                return;
        r = rk_match_index_run(d->index, rk_service_match_provider(n->svc),
                               rk_service_get_properties(rk_registry_resources(d->reg)), 0, &res);
        if (r < 0) {
                log_error(d, "%s: matching failed: %s", rk_service_get_name(n->svc), strerror(-r));
                return;
        }
        if (rk_service_get_state(n->svc) == RK_SERVICE_REGISTERED)
                (void) rk_service_set_state(n->svc, RK_SERVICE_MATCHED);
        for (size_t k = 0; k < res.n_categories; k++) {
                rk_match_category *mc = &res.categories[k];
                category *c = nub_category(n, mc->name, true);
                attempt *a;

                if (!c || c->winner || c->attempt || c->failed || c->retry)
                        continue;
                a = calloc(1, sizeof(*a));
                if (!a || !(a->category = strdup(mc->name))) {
                        free(a);
                        continue;
                }
                a->nub = n;
                a->cands = mc->candidates; /* take the candidates and their references */
                a->n = mc->n;
                mc->candidates = NULL;
                mc->n = 0;
                c->attempt = a;
                log_debug(d, "%s: %zu candidates in category %s", rk_service_get_name(n->svc), a->n, c->name);
                nub_category_start_next(n, c);
        }
        rk_match_result_done(&res);
}

void nub_rematch_all(ringd *d) {
        /* collect ids first: matching publishes nubs and changes the list */
        size_t cap = 0, cnt = 0;
        uint64_t *ids = NULL;

        spares_prune(d);
        for (nub *n = d->nubs; n; n = n->next_all) {
                if (n->kind == NUB_DRIVER || n->kind == NUB_ROOT)
                        continue;
                if (cnt == cap) {
                        uint64_t *x = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof(*x));
                        if (!x)
                                break;
                        ids = x;
                }
                ids[cnt++] = rk_service_get_id(n->svc);
        }
        for (size_t k = 0; k < cnt; k++) {
                nub *n = nub_find(d, ids[k]);
                if (n)
                        nub_match(n);
        }
        free(ids);
}

void nub_instance_started(instance *i) {
        nub *p = i->provider;
        category *c = nub_category(p, i->category, true);

        if (i->service)
                (void) rk_service_set_state(i->service->svc, RK_SERVICE_STARTED);
        if (!c)
                return;
        c->winner = i;
        if (c->attempt == i->attempt) {
                attempt_free(c->attempt);
                c->attempt = NULL;
        }
        i->attempt = NULL;
}

/* The driver service of a dead instance goes, with anything it published. */
static void drop_service_then(instance *i, void (*then)(void *ud), void *ud) {
        nub *s = i->service;

        i->service = NULL;
        if (s) {
                s->owner = NULL;
                nub_terminate(s, then, ud);
        } else if (then)
                then(ud);
}

typedef struct next_ctx {
        ringd *d;
        uint64_t provider;
        char *category;
} next_ctx;

static void try_next(void *ud) {
        next_ctx *x = ud;
        nub *p = nub_find(x->d, x->provider);
        category *c = p ? nub_category(p, x->category, false) : NULL;

        if (c && !c->winner)
                nub_category_start_next(p, c);
        free(x->category);
        free(x);
}

void nub_instance_failed(instance *i, int error) {
        next_ctx *x = calloc(1, sizeof(*x));

        if (x) {
                x->d = i->d;
                x->provider = rk_service_get_id(i->provider->svc);
                x->category = strdup(i->category);
        }
        i->attempt = NULL;
        if (x && !x->category)
                x = mfree(x);
        /* try_next owns x from here, and may run before this returns */
        drop_service_then(i, x ? try_next : NULL, x);
        instance_free(i);
}

static int on_retry(rk_source *s, uint64_t usec, void *ud) {
        next_ctx *x = ud;
        nub *p = nub_find(x->d, x->provider);
        category *c = p ? nub_category(p, x->category, false) : NULL;

        if (c) {
                ringd *d = x->d;
                log_info(d, "%s: restarting category %s (restart %u)", rk_service_get_name(p->svc), c->name,
                         c->restarts);
                cancel_retry(c); /* frees x */
                nub_match(p);
        }
        return 0;
}

static unsigned crashes_in_window(category *c, uint64_t now, uint64_t window) {
        unsigned n = 0;
        size_t keep = c->n_crashes < ELEMENTSOF(c->crashes) ? c->n_crashes : ELEMENTSOF(c->crashes);

        for (size_t k = 0; k < keep; k++)
                if (now - c->crashes[k] <= window)
                        n++;
        return n;
}

static void free_next_ctx(void *ud) {
        next_ctx *x = ud;
        free(x->category);
        free(x);
}

void nub_instance_crashed(instance *i) {
        ringd *d = i->d;
        nub *p = i->provider;
        category *c = nub_category(p, i->category, true);
        uint64_t now = rk_now(), delay;
        unsigned recent;
        next_ctx *x;

        drop_service_then(i, NULL, NULL);
        if (!c || nub_dying(p)) {
                instance_free(i);
                return;
        }
        if (c->winner == i)
                c->winner = NULL;
        c->crashes[c->n_crashes++ % ELEMENTSOF(c->crashes)] = now;
        recent = crashes_in_window(c, now, d->crash_window_usec);
        if (recent >= d->crash_limit) {
                free(c->failed);
                if (asprintf(&c->failed, "%s crashed %u times in %.1f s; not restarted", i->tag, recent,
                             d->crash_window_usec / 1e6) < 0)
                        c->failed = NULL;
                log_error(d, "%s: category %s failed: %s", rk_service_get_name(p->svc), c->name,
                          c->failed ? c->failed : "crash loop");
                (void) rk_service_set_failed(p->svc, c->failed);
                spares_drop(d, i->bundle); /* a failed driver keeps nothing running */
                instance_free(i);
                return;
        }
        /* a lone crash restarts at once; repeated ones back off exponentially */
        delay = recent <= 1 ? 0 : d->backoff_min_usec << (recent - 2 < 16 ? recent - 2 : 16);
        if (delay > d->backoff_max_usec)
                delay = d->backoff_max_usec;
        c->restarts++;
        x = calloc(1, sizeof(*x));
        if (x && (x->category = strdup(c->name))) {
                x->d = d;
                x->provider = rk_service_get_id(p->svc);
                if (rk_loop_add_time(d->loop, &c->retry, now + delay, on_retry, x) >= 0) {
                        rk_source_set_enabled(c->retry, RK_SOURCE_ONESHOT);
                        c->retry_ctx = x; /* freed with the timer: cancel_retry() */
                        x = NULL;
                }
        }
        if (x)
                free_next_ctx(x);
        log_notice(d, "%s: will restart in %.1f ms", i->tag, delay / 1e3);
        instance_free(i);
}

/* ---- teardown ---- */

typedef struct teardown {
        ringd *d;
        uint64_t root;
        uint64_t *ids; /* instance ids, deepest first */
        size_t n, next;
        void (*done)(void *ud);
        void *ud;
} teardown;

static void collect(teardown *t, rk_service *s) {
        nub *n = nub_from_service(s);

        RK_SERVICE_FOREACH_CLIENT(c, s)
                collect(t, c);
        if (n && n->kind == NUB_DRIVER && n->owner) {
                uint64_t *x = realloc(t->ids, (t->n + 1) * sizeof(*x));
                if (!x)
                        return;
                t->ids = x;
                t->ids[t->n++] = n->owner->id;
        }
}

static void free_record(rk_service *s, void *ud) {
        nub *n = nub_from_service(s);
        ringd *d = ud;

        if (!n)
                return;
        rk_service_set_userdata(s, NULL);
        for (size_t k = 0; k < n->n_cats; k++)
                category_done(&n->cats[k]);
        free(n->cats);
        if (n->owner && n->kind == NUB_DRIVER && n->owner->service == n)
                n->owner->service = NULL;
        /* instances still driving this nub are gone by now; never leave one pointing here */
        for (instance *i = d->instances; i;) {
                if (i->provider == n) {
                        instance_free(i);
                        i = d->instances;
                } else
                        i = i->next_all;
        }
        if (n->vdev)
                virtual_nub_gone(n->vdev);
        if (n->handle >= 0)
                close(n->handle);
        if (n->prev_all)
                n->prev_all->next_all = n->next_all;
        else
                d->nubs = n->next_all;
        if (n->next_all)
                n->next_all->prev_all = n->prev_all;
        free(n->syspath);
        rk_service_unref(n->svc);
        free(n);
}

static void teardown_step(teardown *t);

static void teardown_stopped(void *ud) {
        teardown_step(ud);
}

static void teardown_step(teardown *t) {
        ringd *d = t->d;
        rk_service *root;

        while (t->next < t->n) {
                instance *i = instance_find(d, t->ids[t->next++]);
                if (!i)
                        continue;
                if (i->state == I_DEAD) {
                        instance_free(i);
                        continue;
                }
                log_debug(d, "%s: stopping", i->tag);
                instance_stop(i, teardown_stopped, t);
                return;
        }
        root = rk_registry_find(d->reg, t->root);
        if (root) {
                /* instances that died while we waited leave dead records behind: free them too */
                (void) rk_service_terminate(root, free_record, d);
        }
        if (t->done)
                t->done(t->ud);
        free(t->ids);
        free(t);
}

void nub_terminate(nub *n, void (*done)(void *ud), void *ud) {
        ringd *d = n->d;
        teardown *t = calloc(1, sizeof(*t));

        if (!t) {
                /* no memory for an orderly stop: kill what runs, drop the records */
                (void) rk_service_terminate(n->svc, free_record, d);
                if (done)
                        done(ud);
                return;
        }
        t->d = d;
        t->root = rk_service_get_id(n->svc);
        t->done = done;
        t->ud = ud;
        collect(t, n->svc);
        /* nothing new may start here while we stop what runs */
        for (size_t k = 0; k < n->n_cats; k++) {
                attempt_free(n->cats[k].attempt);
                n->cats[k].attempt = NULL;
                cancel_retry(&n->cats[k]);
        }
        teardown_step(t);
}

void nub_free_all(ringd *d) {
        while (d->nubs) {
                nub *n = d->nubs;
                if (rk_service_terminate(n->svc, free_record, d) < 0)
                        free_record(n->svc, d); /* Root/IOResources records */
        }
}
