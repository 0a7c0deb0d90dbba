/* SPDX-License-Identifier: MIT */
/*
 * The installed catalogue: bundles found in the extension directories,
 * their personalities compiled into one index.
 *
 * A scan builds a complete new index and bundle list and only then swaps
 * it in, so matching never sees half a catalogue.  Bundles that went away
 * or changed (identifier, version or Info.plist modification time) have
 * their running drivers torn down; then every provider is matched again, so
 * new personalities attach to existing devices and a provider whose driver
 * left gets the next candidate.
 *
 * Extension directories are watched with inotify (bundles copied, moved or
 * removed at the top level); events are debounced for RESCAN_DELAY_USEC.
 * Edits inside an installed bundle are picked up by `ringctl rescan`.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringd/ringd.h"
#include "shared/macro.h"

#define RESCAN_DELAY_USEC 100000

typedef struct scan {
        rk_match_index *index;
        rk_bundle **bundles;
        size_t n;
        unsigned personalities, errors;
} scan;

static bool have_bundle(scan *s, const char *id) {
        for (size_t k = 0; k < s->n; k++)
                if (streq(rk_bundle_name(s->bundles[k]), id))
                        return true;
        return false;
}

static int add_bundle(ringd *d, scan *s, rk_bundle *b, rk_diag *diag) {
        const char *id = rk_bundle_name(b);
        rk_bundle **nb;
        int r;

        if (b->identifier && have_bundle(s, id)) {
                log_warning(d, "%s: bundle %s is installed twice; ignoring this copy", b->path, id);
                return 0;
        }
        nb = realloc(s->bundles, (s->n + 1) * sizeof(*nb));
        if (!nb)
                return -ENOMEM;
        s->bundles = nb;
        s->bundles[s->n++] = rk_bundle_ref(b);
        r = rk_match_index_add_personalities(s->index, b->personalities, id, b->info_path, diag, &s->errors);
        if (r < 0)
                return r;
        s->personalities += (unsigned) r;
        for (size_t i = 0; i < b->n_children; i++) {
                r = add_bundle(d, s, b->children[i], diag);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Load each bundle path into the scan; consumes names. */
static int scan_list(ringd *d, scan *s, char **names, size_t n) {
        int r = 0;

        for (size_t k = 0; k < n; k++) {
                _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
                rk_diag diag;
                int q;

                rk_diag_init(&diag);
                q = r < 0 ? 0 : rk_bundle_load(names[k], &b, &diag);
                for (size_t j = 0; j < diag.n; j++) {
                        char *line = NULL;
                        size_t len = 0;
                        FILE *f = open_memstream(&line, &len);
                        if (f) {
                                rk_diag_item_print(&diag.items[j], f);
                                fclose(f);
                                if (len && line[len - 1] == '\n')
                                        line[len - 1] = 0;
                                rd_log(d, diag.items[j].level == RK_DIAG_ERROR ? 3 : 4, "%s", line);
                        }
                        free(line);
                }
                rk_diag_done(&diag);
                if (b && q == 0 && r == 0) {
                        rk_diag_init(&diag);
                        r = add_bundle(d, s, b, &diag);
                        for (size_t j = 0; j < diag.n; j++)
                                log_error(d, "%s: personality '%s': key %s: %s", diag.items[j].bundle,
                                          diag.items[j].personality ? diag.items[j].personality : "?",
                                          diag.items[j].key ? diag.items[j].key : "-", diag.items[j].message);
                        rk_diag_done(&diag);
                } else if (b && q < 0)
                        log_error(d, "%s: bundle has errors; not installed", names[k]);
                free(names[k]);
        }
        free(names);
        return r;
}

static int scan_dir(ringd *d, scan *s, const char *dir) {
        char **names = NULL;
        size_t n = 0;
        int r = rk_bundle_list_dir(dir, &names, &n);

        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (r != -ENOENT)
                        log_warning(d, "extension directory %s: %s", dir, strerror(-r));
                return 0;
        }
        return scan_list(d, s, names, n);
}

/* Activated and approved extensions, from ringd's store (activation.c). */
static int scan_store(ringd *d, scan *s) {
        char **names = NULL;
        size_t n = 0;
        int r = activation_enabled_paths(d, &names, &n);

        if (r < 0) {
                log_error(d, "catalogue: cannot read the enabled extensions: %s", strerror(-r));
                return r == -ENOMEM ? r : 0;
        }
        return scan_list(d, s, names, n);
}

rk_bundle *catalogue_find_bundle(ringd *d, const char *id) {
        for (size_t k = 0; id && k < d->n_bundles; k++)
                if (streq(rk_bundle_name(d->bundles[k]), id))
                        return d->bundles[k];
        return NULL;
}

static bool same_bundle(rk_bundle *a, rk_bundle *b) {
        struct stat sa, sb;

        if (!streq_ptr(a->version, b->version) || !streq_ptr(a->executable_path, b->executable_path))
                return false;
        if (stat(a->info_path, &sa) < 0 || stat(b->info_path, &sb) < 0)
                return false;
        return sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec &&
               sa.st_ino == sb.st_ino;
}

typedef struct rematch_ctx {
        ringd *d;
        uint64_t provider;
} rematch_ctx;

static void rematch_provider(void *ud) {
        rematch_ctx *x = ud;
        nub *n = nub_find(x->d, x->provider);

        if (n)
                nub_match(n);
        free(x);
}

/* Stop the drivers of bundles that left or changed; their providers are matched again after. */
static void retire(ringd *d, rk_bundle **olds, size_t n_old) {
        for (instance *i = d->instances; i;) {
                rk_bundle *now = catalogue_find_bundle(d, i->bundle);
                rk_bundle *old = NULL;
                for (size_t k = 0; k < n_old; k++)
                        if (streq(rk_bundle_name(olds[k]), i->bundle))
                                old = olds[k];
                if (i->service && i->state != I_STOP && i->state != I_FREE && (!now || (old && !same_bundle(old, now)))) {
                        nub *svc = i->service;
                        rematch_ctx *x = calloc(1, sizeof(*x));
                        log_info(d, "%s: bundle %s %s; stopping its driver", i->tag, i->bundle,
                                 now ? "changed" : "was removed");
                        if (x) {
                                x->d = d;
                                x->provider = rk_service_get_id(i->provider->svc);
                        }
                        nub_terminate(svc, x ? rematch_provider : NULL, x);
                        i = d->instances; /* the list changed */
                        continue;
                }
                i = i->next_all;
        }
}

int catalogue_scan(ringd *d) {
        scan s = {};
        int r;

        r = rk_match_index_new(&s.index);
        if (r < 0)
                return r;
        for (size_t k = 0; k < d->n_ext_dirs && r >= 0; k++)
                r = scan_dir(d, &s, d->ext_dirs[k]);
        if (r >= 0)
                r = scan_store(d, &s);
        if (r < 0) {
                rk_match_index_free(s.index);
                for (size_t k = 0; k < s.n; k++)
                        rk_bundle_unref(s.bundles[k]);
                free(s.bundles);
                return r;
        }
        {
                rk_bundle **olds = d->bundles;
                size_t n_old = d->n_bundles;

                d->index = rk_match_index_free(d->index);
                d->index = s.index;
                d->bundles = s.bundles;
                d->n_bundles = s.n;
                retire(d, olds, n_old);
                for (size_t k = 0; k < n_old; k++)
                        rk_bundle_unref(olds[k]);
                free(olds);
        }
        log_info(d, "catalogue: %zu bundles, %u personalities%s", s.n, s.personalities,
                 s.errors ? " (some personalities had errors and were left out)" : "");
        nub_rematch_all(d);
        sysext_reconcile(d); /* system extensions enabled, replaced or gone */
        return 0;
}

void catalogue_free(ringd *d) {
        d->index = rk_match_index_free(d->index);
        for (size_t k = 0; k < d->n_bundles; k++)
                rk_bundle_unref(d->bundles[k]);
        free(d->bundles);
        d->bundles = NULL;
        d->n_bundles = 0;
}

static int on_rescan(rk_source *s, uint64_t usec, void *ud) {
        ringd *d = ud;
        int r = catalogue_scan(d);
        if (r < 0)
                log_error(d, "catalogue rescan failed: %s", strerror(-r));
        return 0;
}

static int on_inotify(rk_source *s, int fd, uint32_t revents, void *ud) {
        ringd *d = ud;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        if (!d->rescan_timer) {
                if (rk_loop_add_time(d->loop, &d->rescan_timer, rk_now() + RESCAN_DELAY_USEC, on_rescan, d) < 0)
                        return 0;
        } else
                rk_source_set_time(d->rescan_timer, rk_now() + RESCAN_DELAY_USEC);
        rk_source_set_enabled(d->rescan_timer, RK_SOURCE_ONESHOT);
        return 0;
}

int catalogue_watch(ringd *d) {
        int r;

        d->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (d->inotify_fd < 0)
                return -errno;
        for (size_t k = 0; k < d->n_ext_dirs; k++)
                if (inotify_add_watch(d->inotify_fd, d->ext_dirs[k],
                                      IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE |
                                              IN_ONLYDIR) < 0)
                        log_warning(d, "cannot watch %s: %m", d->ext_dirs[k]);
        r = rk_loop_add_io(d->loop, &d->inotify_src, d->inotify_fd, EPOLLIN, on_inotify, d);
        return r;
}
