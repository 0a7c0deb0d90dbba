/* SPDX-License-Identifier: MIT */
/*
 * Activation requests: an app asks for an extension it carries, ringd
 * validates it, copies it into its own store and records it in the
 * extension database (src/catalogue/extdb.c); an administrator approves,
 * denies, deactivates; enabled extensions join the catalogue from the store.
 * User view: docs/activation.md.
 *
 * States of one version (one database row), and who moves it:
 *
 *               do_activate                     do_activate (a later version over
 *                    │                          an enabled one, accepted or forced)
 *                    ▼                                 │
 *      activated waiting for user ──do_approve──► activated enabled
 *        │ do_deny   │ do_deactivate   do_deactivate │        │ a later version
 *        │           ▼                               │        │ accepted or forced
 *        │      terminating for uninstall ◄──────────┘        ▼ (from waiting too)
 *        │           │ settle_finish                       replaced
 *        ▼           ▼                                        │ settle_finish
 *      uninstalled ◄─┴────────────────────────────────────────┘
 *
 *   do_activate     (new) → waiting | (new) → enabled, old → replaced
 *   do_approve      waiting → enabled                    (catalogue rescanned)
 *   do_deny         waiting → uninstalled                (store copy released)
 *   do_deactivate   waiting|enabled → terminating        (drivers stopped, then settle_finish)
 *   settle_finish   terminating|replaced → uninstalled   (once their drivers are gone)
 *   do_reset        every row deleted (developer mode)   (drivers stopped, store emptied)
 *   reconcile       at start: completes or rolls back what a crash interrupted
 *
 * The store, ROOT/var/lib/ringkit/store (or STATE/store):
 *
 *     store/<team>/<identifier>/<version>-<cdhash:16 hex>/<Name>.dext
 *     store/.tmp/                copies in progress, and trees being removed
 *
 * Ordering, so that a kill -9 anywhere leaves something reconcile() can
 * finish deterministically:
 *
 *   1. a copy is written under store/.tmp, every file and directory fsynced,
 *      verified there, then renamed into place in one rename(2) and the
 *      parent fsynced: a version directory is complete or absent;
 *   2. only then is the database told (one transaction each);
 *   3. a store copy is removed only once no row that is not uninstalled and
 *      no pending request names it, and by renaming it into store/.tmp
 *      first, so a half-removed tree is never at a store path.
 *
 * Invariants reconcile() restores at every start, in this order:
 *   R1. no pending replacement (its requester is gone): refused, as the
 *       requester would have been told had it waited;
 *   R2. no row terminating or replaced (their processes died with ringd):
 *       finished to uninstalled;
 *   R3. every active row's store copy exists and loads; one that does not
 *       (damage from outside ringd) is deactivated and finished, logged;
 *   R4. the store holds exactly the copies of active rows: the rest, and
 *       everything in store/.tmp, is removed.
 * So after a restart `ringctl list` (the database) and the store agree.
 *
 * Copies run synchronously in the event loop: a bundle of a few MB takes
 * milliseconds; a much larger one would stall ringd for as long as it takes
 * to copy and hash it (a worker process would fix that).
 *
 * RINGD_ACTIVATION_CRASH_AT=N (debugging and tests): ringd kills itself
 * with SIGKILL at the Nth crash point it passes (each step above has one).
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ringd/ringd.h"
#include "shared/macro.h"
#include "trust/codedir.h"
#include "trust/entitlements.h"
#include "trust/sign.h"

#define MAX_RELAXATIONS 32
#define MAX_COPY_FILES 65536
#define MAX_COPY_DEPTH 32
#define SETTLE_POLL_USEC 20000
#define SETTLE_MAX_USEC (30 * 1000000ULL)
#define UNSIGNED_TEAM "-"

typedef struct settle settle;

struct activation {
        char *store_dir, *tmp_dir;
        char *relaxations[MAX_RELAXATIONS]; /* ring, newest at (next - 1) */
        unsigned n_relaxations, next_relaxation;
        settle *settles;
        unsigned crash_at, crash_count;
        unsigned tmp_seq;
};

/* Extensions whose drivers are stopping; finished once the drivers are gone. */
struct settle {
        ringd *d;
        uint64_t *insts;
        size_t n_insts;
        char **idents;
        size_t n_idents;
        rk_source *timer;
        uint64_t deadline;
        settle *next;
};

/* What a request led to: an error code and message, or success. */
typedef struct outcome {
        int r;                /* 0 or a negative errno */
        rk_extdb_error code;
        char message[1024];
} outcome;

_printf_(4, 5) static int fail(outcome *o, int r, rk_extdb_error code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(o->message, sizeof(o->message), fmt, ap);
        va_end(ap);
        o->r = r < 0 ? r : -EINVAL;
        o->code = code;
        return o->r;
}

/* o->message is already written (diag_message): set the rest. */
static int fail_as(outcome *o, int r, rk_extdb_error code) {
        o->r = r < 0 ? r : -EINVAL;
        o->code = code;
        return o->r;
}

static int fail_db(outcome *o, int r, const rk_extdb_result *res) {
        o->r = r < 0 ? r : -ECANCELED;
        o->code = res->error ? res->error : RK_EXTDB_ERR_UNKNOWN;
        snprintf(o->message, sizeof(o->message), "%s", res->message[0] ? res->message : strerror(-o->r));
        return o->r;
}

static void crash_point(ringd *d, const char *where) {
        activation *a = d->act;

        if (!a || !a->crash_at || ++a->crash_count != a->crash_at)
                return;
        log_warning(d, "activation: crash point %u (%s): RINGD_ACTIVATION_CRASH_AT, killing ringd", a->crash_count,
                    where);
        (void) kill(getpid(), SIGKILL);
}

/* ---- files ---- */

static int fsync_path(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

static int fsync_parent(const char *path) {
        _cleanup_(freep) char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        slash = strrchr(p, '/');
        if (!slash || slash == p)
                return fsync_path("/");
        *slash = 0;
        return fsync_path(p);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) ftw;
        if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int rm_rf(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct copy_ctx {
        ringd *d;
        const char *bundle;   /* for messages */
        const char *src_root; /* for messages */
        unsigned files;
        outcome *o;
} copy_ctx;

static int copy_file(copy_ctx *x, int sdir, int ddir, const char *name, const struct stat *st, const char *rel) {
        _cleanup_(closep) int in = -EBADF, out = -EBADF;
        char buf[65536];
        ssize_t n;

        in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0)
                return fail(x->o, -errno, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: cannot read %s: %m", x->bundle, rel);
        out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 0755);
        if (out < 0)
                return fail(x->o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot copy %s into the store: %m", x->bundle, rel);
        while ((n = read(in, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail(x->o, -errno, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: cannot read %s: %m", x->bundle,
                                    rel);
                }
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(out, buf + off, (size_t) (n - off));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return fail(x->o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot copy %s into the store: %m",
                                            x->bundle, rel);
                        off += w;
                }
        }
        if (fsync(out) < 0)
                return fail(x->o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot sync %s in the store: %m", x->bundle, rel);
        return 0;
}

/* Copy directory sdir's entries into ddir: directories, regular files and symlinks (kept as links). */
static int copy_tree(copy_ctx *x, int sdir, int ddir, const char *rel, unsigned depth) {
        _cleanup_(closep) int sfd = -EBADF;
        DIR *dir;
        struct dirent *de;
        int r = 0;

        if (depth > MAX_COPY_DEPTH)
                return fail(x->o, -ELOOP, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: %s: directories nest too deeply",
                            x->bundle, rel);
        sfd = dup(sdir);
        if (sfd < 0 || !(dir = fdopendir(sfd)))
                return fail(x->o, -errno, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: cannot read %s: %m", x->bundle, rel);
        sfd = -EBADF; /* the DIR owns it */
        while (r >= 0 && (de = readdir(dir))) {
                char sub[PATH_MAX];
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
                if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = fail(x->o, -errno, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: cannot read %s: %m", x->bundle, sub);
                        break;
                }
                if (++x->files > MAX_COPY_FILES) {
                        r = fail(x->o, -E2BIG, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: more than %d files", x->bundle,
                                 MAX_COPY_FILES);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_(closep) int s2 = -EBADF, d2 = -EBADF;
                        if (mkdirat(ddir, de->d_name, 0755) < 0 ||
                            (d2 = openat(ddir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
                                r = fail(x->o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot copy %s into the store: %m",
                                         x->bundle, sub);
                                break;
                        }
                        s2 = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (s2 < 0) {
                                r = fail(x->o, -errno, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: cannot read %s: %m",
                                         x->bundle, sub);
                                break;
                        }
                        r = copy_tree(x, s2, d2, sub, depth + 1);
                        if (r >= 0 && fsync(d2) < 0)
                                r = fail(x->o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot sync %s: %m", x->bundle, sub);
                } else if (S_ISREG(st.st_mode)) {
                        r = copy_file(x, dirfd(dir), ddir, de->d_name, &st, sub);
                        if (r >= 0)
                                crash_point(x->d, "copy-file");
                } else if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t n = readlinkat(dirfd(dir), de->d_name, target, sizeof(target) - 1);
                        if (n < 0 || (target[n] = 0, symlinkat(target, ddir, de->d_name) < 0))
                                r = fail(x->o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot copy symlink %s: %m", x->bundle,
                                         sub);
                } else
                        r = fail(x->o, -EBADMSG, RK_EXTDB_ERR_VALIDATION_FAILED,
                                 "%s: %s is a special file (FIFO, socket or device); a bundle holds files, "
                                 "directories and symlinks only",
                                 x->bundle, sub);
        }
        closedir(dir);
        return r;
}

/* ---- the store ---- */

static const char *base_name(const char *p) {
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

/* A fresh directory under store/.tmp; returns its path. */
static int tmp_new(ringd *d, char **ret) {
        activation *a = d->act;
        char *p = NULL;
        int r = mkdir_p(a->tmp_dir, 0700);

        if (r < 0)
                return r;
        for (unsigned k = 0; k < 1000; k++) {
                free(p);
                if (asprintf(&p, "%s/%d.%u", a->tmp_dir, (int) getpid(), ++a->tmp_seq) < 0)
                        return -ENOMEM;
                if (mkdir(p, 0700) == 0) {
                        *ret = p;
                        return 0;
                }
                if (errno != EEXIST) {
                        r = -errno;
                        free(p);
                        return r;
                }
        }
        free(p);
        return -EEXIST;
}

/* Remove a tree atomically from the store's point of view: rename it into .tmp, then delete it. */
static int store_remove(ringd *d, const char *path) {
        _cleanup_(freep) char *t = NULL;
        int r = tmp_new(d, &t);

        if (r < 0)
                return r;
        if (rename(path, t) < 0) {
                r = errno == ENOENT ? 0 : -errno;
                (void) rmdir(t);
                return r;
        }
        (void) fsync_parent(path);
        crash_point(d, "store-remove");
        return rm_rf(t);
}

/* Store paths that must stay: rows not uninstalled, and pending requests. */
static int referenced_paths(ringd *d, char ***ret, size_t *ret_n) {
        _cleanup_(rk_value_unrefp) rk_value *rows = NULL;
        char **v = NULL;
        size_t n = 0;
        int r;

        *ret = NULL;
        *ret_n = 0;
        if (!d->extdb)
                return 0;
        r = rk_extdb_list(d->extdb, &rows);
        if (r < 0)
                return r;
        v = calloc(2 * rk_array_size(rows) + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t k = 0; k < rk_array_size(rows); k++) {
                const rk_value *e = rk_array_get(rows, k);
                const rk_value *p = rk_dict_get(e, "pending");
                const char *sid = rk_dict_get_string(e, "state_id");
                const char *sp = rk_dict_get_string(e, "store_path");
                if (sp && sid && !streq(sid, rk_extdb_state_id(RK_EXTDB_UNINSTALLED)))
                        v[n++] = strdup(sp);
                if (p && (sp = rk_dict_get_string(p, "store_path")))
                        v[n++] = strdup(sp);
        }
        for (size_t k = 0; k < n; k++)
                if (!v[k]) {
                        for (size_t j = 0; j < n; j++)
                                free(v[j]);
                        free(v);
                        return -ENOMEM;
                }
        *ret = v;
        *ret_n = n;
        return 0;
}

static void strv_free(char **v, size_t n) {
        for (size_t k = 0; k < n; k++)
                free(v[k]);
        free(v);
}

/* Is some referenced store path inside the version directory vdir? */
static const char *referenced_in(char **refs, size_t n, const char *vdir) {
        size_t l = strlen(vdir);
        for (size_t k = 0; k < n; k++)
                if (strncmp(refs[k], vdir, l) == 0 && refs[k][l] == '/')
                        return refs[k];
        return NULL;
}

/*
 * Remove every store copy no row references, everything under .tmp, and
 * empty team and identifier directories (R4).  Runs only between requests,
 * so nothing in .tmp is in use.
 */
static int store_gc(ringd *d) {
        activation *a = d->act;
        char **refs = NULL;
        size_t n_refs = 0;
        DIR *teams;
        struct dirent *t;
        int r = referenced_paths(d, &refs, &n_refs);

        if (r < 0) {
                log_error(d, "activation: cannot read the database to clean the store: %s", strerror(-r));
                return r;
        }
        teams = opendir(a->store_dir);
        while (teams && (t = readdir(teams))) {
                _cleanup_(freep) char *tdir = NULL;
                DIR *ids;
                struct dirent *i;

                if (t->d_name[0] == '.' && (!t->d_name[1] || streq(t->d_name, "..") || streq(t->d_name, ".tmp")))
                        continue;
                if (asprintf(&tdir, "%s/%s", a->store_dir, t->d_name) < 0)
                        break;
                ids = opendir(tdir);
                while (ids && (i = readdir(ids))) {
                        _cleanup_(freep) char *idir = NULL;
                        DIR *vers;
                        struct dirent *v;

                        if (streq(i->d_name, ".") || streq(i->d_name, ".."))
                                continue;
                        if (asprintf(&idir, "%s/%s", tdir, i->d_name) < 0)
                                break;
                        vers = opendir(idir);
                        while (vers && (v = readdir(vers))) {
                                _cleanup_(freep) char *vdir = NULL;
                                if (streq(v->d_name, ".") || streq(v->d_name, ".."))
                                        continue;
                                if (asprintf(&vdir, "%s/%s", idir, v->d_name) < 0)
                                        break;
                                if (referenced_in(refs, n_refs, vdir))
                                        continue;
                                log_info(d, "activation: removing %s from the store (no longer activated)", vdir);
                                r = store_remove(d, vdir);
                                if (r < 0)
                                        log_error(d, "activation: cannot remove %s: %s", vdir, strerror(-r));
                        }
                        if (vers)
                                closedir(vers);
                        (void) rmdir(idir); /* only when empty */
                }
                if (ids)
                        closedir(ids);
                (void) rmdir(tdir);
        }
        if (teams)
                closedir(teams);
        strv_free(refs, n_refs);
        r = rm_rf(a->tmp_dir);
        if (r < 0)
                log_error(d, "activation: cannot clean %s: %s", a->tmp_dir, strerror(-r));
        return 0;
}

/* ---- developer-mode relaxations ---- */

_printf_(3, 4) static void relax(ringd *d, const char *id, const char *fmt, ...) {
        activation *a = d->act;
        _cleanup_(freep) char *what = NULL;
        char *line = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                what = NULL;
        va_end(ap);
        if (!what || asprintf(&line, "%s: %s (allowed in developer mode)", id, what) < 0)
                return;
        log_warning(d, "developer mode: relaxed check: %s", line);
        free(a->relaxations[a->next_relaxation]);
        a->relaxations[a->next_relaxation] = line;
        a->next_relaxation = (a->next_relaxation + 1) % MAX_RELAXATIONS;
        if (a->n_relaxations < MAX_RELAXATIONS)
                a->n_relaxations++;
}

/* ---- validation ---- */

static bool safe_component(const char *s) {
        if (!s || !*s || streq(s, ".") || streq(s, "..") || strlen(s) > 200)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
                      *s == '-' || *s == '_'))
                        return false;
        return true;
}

/* "ID: problem; problem" from the errors in diag (each names its file, certificate or nested bundle). */
static void diag_message(outcome *o, const char *id, const char *prefix, const rk_diag *diag, const char *fallback) {
        size_t len = (size_t) snprintf(o->message, sizeof(o->message), "%s: %s", id, prefix ? prefix : "");
        bool first = true;

        for (size_t k = 0; k < diag->n && len < sizeof(o->message); k++) {
                const rk_diag_item *it = &diag->items[k];
                if (it->level != RK_DIAG_ERROR)
                        continue;
                len += (size_t) snprintf(o->message + len, sizeof(o->message) - len, "%s%s%s%s", first ? "" : "; ",
                                         it->bundle && !streq(it->bundle, id) && !strchr(it->bundle, '/') ? it->bundle
                                                                                                            : "",
                                         it->bundle && !streq(it->bundle, id) && !strchr(it->bundle, '/') ? ": " : "",
                                         it->message);
                first = false;
        }
        if (first && len < sizeof(o->message))
                snprintf(o->message + len, sizeof(o->message) - len, "%s", fallback);
}

static bool only_untrusted(const rk_diag *diag) {
        size_t n = 0;
        for (size_t k = 0; k < diag->n; k++) {
                if (diag->items[k].level != RK_DIAG_ERROR)
                        continue;
                if (strncmp(diag->items[k].message, "certificate untrusted: ", 23) != 0)
                        return false;
                n++;
        }
        return n > 0;
}

/* The signed code directory's hash; for an unsigned bundle, a hash over its files. */
static int bundle_cdhash(const char *path, bool signed_, uint8_t out[32]) {
        _cleanup_(rk_codedir_freep) rk_codedir *cd = NULL;
        EVP_MD_CTX *m;
        unsigned len = 32;
        int r;

        if (signed_) {
                _cleanup_(closep) int fd = -EBADF;
                r = 0;
                fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                return rk_codedir_hash_file(fd, RK_CODEDIR_FILE, out);
        }
        r = rk_codedir_new_from_bundle(path, &cd, NULL);
        if (r < 0)
                return r;
        m = EVP_MD_CTX_new();
        if (!m)
                return -ENOMEM;
        r = EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
        for (size_t k = 0; r == 0 && k < cd->n_entries; k++) {
                const rk_codedir_entry *e = &cd->entries[k];
                if (EVP_DigestUpdate(m, e->path, strlen(e->path) + 1) != 1 ||
                    (e->symlink ? EVP_DigestUpdate(m, e->symlink, strlen(e->symlink) + 1)
                                : EVP_DigestUpdate(m, e->hash, sizeof(e->hash))) != 1)
                        r = -EIO;
        }
        if (r == 0 && EVP_DigestFinal_ex(m, out, &len) != 1)
                r = -EIO;
        EVP_MD_CTX_free(m);
        return r;
}

static bool in_app_dirs(ringd *d, const char *app) {
        for (size_t k = 0; k < d->n_app_dirs; k++) {
                size_t l = strlen(d->app_dirs[k]);
                if (strncmp(app, d->app_dirs[k], l) == 0 && app[l] == '/')
                        return true;
        }
        return false;
}

static rk_bundle *find_child(rk_bundle *app, const char *id) {
        for (size_t k = 0; k < app->n_children; k++)
                if (streq_ptr(app->children[k]->identifier, id))
                        return app->children[k];
        return NULL;
}

/* Load the app and find the extension in it. */
static int load_app(ringd *d, const char *id, const char *app_arg, char **ret_app, rk_bundle **ret_app_b,
                    rk_bundle **ret_child, outcome *o) {
        _cleanup_(freep) char *app = NULL;
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
        rk_bundle *child;
        rk_diag diag;
        int r;

        app = realpath(app_arg, NULL);
        if (!app)
                return fail(o, -errno, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "%s: app %s: %m", id, app_arg);
        rk_diag_init(&diag);
        r = rk_bundle_load(app, &b, &diag);
        if (r < 0 && !b) {
                diag_message(o, id, "app: ", &diag, strerror(-r));
                rk_diag_done(&diag);
                return fail_as(o, r, RK_EXTDB_ERR_UNSUPPORTED_PARENT_BUNDLE_LOCATION);
        }
        if (b->kind != RK_BUNDLE_APP) {
                rk_diag_done(&diag);
                return fail(o, -EINVAL, RK_EXTDB_ERR_UNSUPPORTED_PARENT_BUNDLE_LOCATION,
                            "%s: %s is not an app bundle (Name.app with CFBundlePackageType APPL)", id, app);
        }
        child = find_child(b, id);
        if (!child) {
                rk_diag_done(&diag);
                return fail(o, -ENOENT, RK_EXTDB_ERR_EXTENSION_NOT_FOUND,
                            "%s: not found in %s/Contents/Library/SystemExtensions", id, app);
        }
        if (r < 0) {
                diag_message(o, id, "", &diag, "bundle has errors");
                rk_diag_done(&diag);
                return fail_as(o, r, RK_EXTDB_ERR_VALIDATION_FAILED);
        }
        rk_diag_done(&diag);
        if (child->kind != RK_BUNDLE_DEXT && child->kind != RK_BUNDLE_SYSEXT)
                return fail(o, -EINVAL, RK_EXTDB_ERR_UNKNOWN_EXTENSION_CATEGORY,
                            "%s: %s is a %s, not a dext or system extension", id, child->path,
                            rk_bundle_kind_name(child->kind));
        *ret_child = rk_bundle_ref(child);
        *ret_app_b = TAKE_PTR(b);
        *ret_app = TAKE_PTR(app);
        return 0;
}

/* Verify the extension's store copy; sets *team (owned) and whether it is signed. */
static int check_extension(ringd *d, const char *id, const char *copy, bool dev, char **team, bool *signed_,
                           outcome *o) {
        _cleanup_(rk_signing_info_freep) rk_signing_info *info = NULL;
        rk_diag diag;
        int r;

        rk_diag_init(&diag);
        r = rk_verify_bundle(copy, d->trust_dir, NULL, 0, &info, &diag);
        if (r == 0) {
                *signed_ = true;
                *team = strdup(info->team);
        } else if (dev && r == -ENOENT) {
                relax(d, id, "unsigned extension accepted");
                *signed_ = false;
                *team = strdup(UNSIGNED_TEAM);
        } else if (dev && r == -EKEYREJECTED && info && info->team && only_untrusted(&diag)) {
                relax(d, id, "locally signed extension accepted: signer %s does not chain to the trust store %s",
                      info->signer ? info->signer : "?", d->trust_dir);
                *signed_ = true;
                *team = strdup(info->team);
        } else {
                diag_message(o, id, "", &diag, strerror(-r));
                rk_diag_done(&diag);
                return fail_as(o, r, r == -EPERM ? RK_EXTDB_ERR_MISSING_ENTITLEMENT : RK_EXTDB_ERR_CODE_SIGNATURE_INVALID);
        }
        rk_diag_done(&diag);
        return *team ? 0 : fail(o, -ENOMEM, RK_EXTDB_ERR_UNKNOWN, "%s: out of memory", id);
}

/* The app: signed by the extension's team, entitled to install system extensions. */
static int check_app(ringd *d, const char *id, const char *app, const char *team, bool dev, outcome *o) {
        _cleanup_(rk_signing_info_freep) rk_signing_info *info = NULL;
        rk_diag diag;
        char prefix[PATH_MAX + 16];
        int r;

        rk_diag_init(&diag);
        r = rk_verify_bundle(app, d->trust_dir, NULL, 0, &info, &diag);
        snprintf(prefix, sizeof(prefix), "app %s: ", app);
        if (r < 0 && dev && (r == -ENOENT || (r == -EKEYREJECTED && only_untrusted(&diag)))) {
                relax(d, id, "app %s is %s", app, r == -ENOENT ? "unsigned" : "locally signed");
                rk_diag_done(&diag);
                if (r == -ENOENT || streq(team, UNSIGNED_TEAM) || !info || streq_ptr(info->team, team))
                        return 0;
                return fail(o, -EKEYREJECTED, RK_EXTDB_ERR_CODE_SIGNATURE_INVALID,
                            "%s: extension is signed by team %s, but app %s by team %s", id, team, app, info->team);
        }
        if (r < 0) {
                diag_message(o, id, prefix, &diag, strerror(-r));
                rk_diag_done(&diag);
                return fail_as(o, r, RK_EXTDB_ERR_CODE_SIGNATURE_INVALID);
        }
        rk_diag_done(&diag);
        if (streq(team, UNSIGNED_TEAM)) {
                relax(d, id, "unsigned extension in app %s of team %s", app, info->team);
        } else if (!streq_ptr(info->team, team))
                return fail(o, -EKEYREJECTED, RK_EXTDB_ERR_CODE_SIGNATURE_INVALID,
                            "%s: extension is signed by team %s, but app %s by team %s", id, team, app, info->team);
        if (!rk_bool(rk_dict_get(info->entitlements, RK_ENT_SYSEXT_INSTALL))) {
                if (!dev)
                        return fail(o, -EPERM, RK_EXTDB_ERR_MISSING_ENTITLEMENT,
                                    "%s: app %s lacks the entitlement " RK_ENT_SYSEXT_INSTALL, id, app);
                relax(d, id, "app %s lacks " RK_ENT_SYSEXT_INSTALL, app);
        }
        return 0;
}

/* Copy the extension into store/.tmp and check the copy: what is verified is what will run. */
typedef struct staged {
        char *tmp;       /* store/.tmp/N */
        char *copy;      /* tmp/<Name>.dext */
        char *team;
        rk_bundle *b;    /* the copy, loaded */
        uint8_t cdhash[32];
        bool signed_;
} staged;

static void staged_done(staged *s) {
        if (s->tmp)
                (void) rm_rf(s->tmp);
        free(s->tmp);
        free(s->copy);
        free(s->team);
        rk_bundle_unref(s->b);
        *s = (staged){};
}

static int stage(ringd *d, const char *id, rk_bundle *child, bool dev, staged *s, outcome *o) {
        _cleanup_(closep) int sfd = -EBADF, dfd = -EBADF;
        rk_diag diag;
        int r;

        r = tmp_new(d, &s->tmp);
        if (r < 0)
                return fail(o, r, RK_EXTDB_ERR_UNKNOWN, "%s: cannot create a directory in %s: %s", id, d->act->tmp_dir,
                            strerror(-r));
        if (asprintf(&s->copy, "%s/%s", s->tmp, base_name(child->path)) < 0)
                return fail(o, -ENOMEM, RK_EXTDB_ERR_UNKNOWN, "%s: out of memory", id);
        sfd = open(child->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0)
                return fail(o, -errno, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "%s: %s: %m", id, child->path);
        if (mkdir(s->copy, 0755) < 0 || (dfd = open(s->copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return fail(o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot create %s: %m", id, s->copy);
        copy_ctx x = { .d = d, .bundle = id, .src_root = child->path, .o = o };
        r = copy_tree(&x, sfd, dfd, "", 0);
        if (r < 0)
                return r;
        if (fsync(dfd) < 0 || fsync_path(s->tmp) < 0)
                return fail(o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot sync %s: %m", id, s->copy);
        crash_point(d, "copied");
        r = check_extension(d, id, s->copy, dev, &s->team, &s->signed_, o);
        if (r < 0)
                return r;
        rk_diag_init(&diag);
        r = rk_bundle_load(s->copy, &s->b, &diag);
        if (r < 0) {
                diag_message(o, id, "", &diag, strerror(-r));
                rk_diag_done(&diag);
                return fail_as(o, r, RK_EXTDB_ERR_VALIDATION_FAILED);
        }
        rk_diag_done(&diag);
        if (!streq_ptr(s->b->identifier, id))
                return fail(o, -EBADMSG, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: the copy's Info.plist names %s", id,
                            s->b->identifier ? s->b->identifier : "no identifier");
        if (!s->b->version || !safe_component(s->b->version))
                return fail(o, -EINVAL, RK_EXTDB_ERR_VALIDATION_FAILED,
                            "%s: Contents/Info.plist: CFBundleVersion %s%s%s is not a version", id,
                            s->b->version ? "'" : "", s->b->version ? s->b->version : "missing",
                            s->b->version ? "'" : "");
        r = bundle_cdhash(s->copy, s->signed_, s->cdhash);
        if (r < 0)
                return fail(o, r, RK_EXTDB_ERR_CODE_SIGNATURE_INVALID, "%s: cannot hash its code directory: %s", id,
                            strerror(-r));
        return 0;
}

/* Rename the staged copy into store/<team>/<id>/<version>-<hash>; *ret is the bundle's store path. */
static int commit_copy(ringd *d, const char *id, staged *s, char **ret, outcome *o) {
        _cleanup_(freep) char *idir = NULL, *vdir = NULL, *final = NULL;
        char hex[17];
        char **refs = NULL;
        size_t n_refs = 0;
        const char *ref;
        struct stat st;
        int r;

        for (int k = 0; k < 8; k++)
                snprintf(hex + 2 * k, 3, "%02x", s->cdhash[k]);
        if (asprintf(&idir, "%s/%s/%s", d->act->store_dir, s->team, id) < 0 ||
            asprintf(&vdir, "%s/%s-%s", idir, s->b->version, hex) < 0 ||
            asprintf(&final, "%s/%s", vdir, base_name(s->copy)) < 0)
                return fail(o, -ENOMEM, RK_EXTDB_ERR_UNKNOWN, "%s: out of memory", id);
        if ((r = mkdir_p(idir, 0755)) < 0)
                return fail(o, r, RK_EXTDB_ERR_UNKNOWN, "%s: cannot create %s: %s", id, idir, strerror(-r));
        if (lstat(vdir, &st) == 0) {
                /* the same version and code is in the store already */
                r = referenced_paths(d, &refs, &n_refs);
                if (r < 0)
                        return fail(o, r, RK_EXTDB_ERR_UNKNOWN, "%s: database: %s", id, strerror(-r));
                ref = referenced_in(refs, n_refs, vdir);
                if (ref) {
                        *ret = strdup(ref);
                        strv_free(refs, n_refs);
                        return *ret ? 0 : fail(o, -ENOMEM, RK_EXTDB_ERR_UNKNOWN, "%s: out of memory", id);
                }
                strv_free(refs, n_refs);
                r = store_remove(d, vdir); /* an orphan */
                if (r < 0)
                        return fail(o, r, RK_EXTDB_ERR_UNKNOWN, "%s: cannot remove %s: %s", id, vdir, strerror(-r));
        }
        if (rename(s->tmp, vdir) < 0)
                return fail(o, -errno, RK_EXTDB_ERR_UNKNOWN, "%s: cannot move the copy to %s: %m", id, vdir);
        s->tmp = mfree(s->tmp);
        (void) fsync_path(idir);
        (void) fsync_parent(idir);
        crash_point(d, "stored");
        *ret = TAKE_PTR(final);
        return 0;
}

/* ---- settling: wait for drivers to stop, then finish uninstalls ---- */

static settle *settle_free(settle *s) {
        activation *a = s->d->act;

        for (settle **p = &a->settles; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        rk_source_unref(s->timer);
        strv_free(s->idents, s->n_idents);
        free(s->insts);
        free(s);
        return NULL;
}

static void settle_finish(settle *s) {
        ringd *d = s->d;

        for (size_t k = 0; k < s->n_idents && d->extdb; k++) {
                rk_extdb_result res;
                int r = rk_extdb_finish_uninstall(d->extdb, s->idents[k], &res);
                if (r > 0)
                        log_notice(d, "%s: uninstalled (%d version%s)", s->idents[k], r, r == 1 ? "" : "s");
                else if (r < 0 && r != -ENOENT)
                        log_error(d, "activation: %s", res.message);
                crash_point(d, "finished");
        }
        (void) store_gc(d);
}

static bool settle_done(settle *s) {
        for (size_t k = 0; k < s->n_insts; k++)
                if (instance_find(s->d, s->insts[k]))
                        return false;
        for (size_t k = 0; k < s->n_idents; k++)
                if (sysext_busy(s->d, s->idents[k])) /* a system extension's old process still stopping */
                        return false;
        return true;
}

static int on_settle(rk_source *src, uint64_t usec, void *ud) {
        settle *s = ud;

        if (!settle_done(s) && rk_now() < s->deadline) {
                rk_source_set_time(src, rk_now() + SETTLE_POLL_USEC);
                rk_source_set_enabled(src, RK_SOURCE_ONESHOT);
                return 0;
        }
        if (!settle_done(s))
                log_warning(s->d, "activation: drivers of %s did not stop in time; uninstalling anyway", s->idents[0]);
        settle_finish(s);
        settle_free(s);
        return 0;
}

static bool ident_in(char **v, size_t n, const char *id) {
        for (size_t k = 0; k < n; k++)
                if (streq(v[k], id))
                        return true;
        return false;
}

/*
 * The extensions named (their old versions) are going: note their running
 * instances, rescan the catalogue (which stops them), and once they are
 * gone finish the uninstalls and clean the store.  Takes idents.
 */
static void settle_start(ringd *d, char **idents, size_t n) {
        settle *s = calloc(1, sizeof(*s));
        size_t cap = 0;
        int r;

        if (!s) {
                strv_free(idents, n);
                return;
        }
        s->d = d;
        s->idents = idents;
        s->n_idents = n;
        for (instance *i = d->instances; i; i = i->next_all)
                if (ident_in(idents, n, i->bundle)) {
                        if (s->n_insts == cap) {
                                uint64_t *x = realloc(s->insts, (cap = cap ? 2 * cap : 8) * sizeof(*x));
                                if (!x)
                                        break;
                                s->insts = x;
                        }
                        s->insts[s->n_insts++] = i->id;
                }
        s->next = d->act->settles;
        d->act->settles = s;
        r = catalogue_scan(d);
        if (r < 0)
                log_error(d, "activation: catalogue rescan failed: %s", strerror(-r));
        crash_point(d, "rescanned");
        if (settle_done(s)) {
                settle_finish(s);
                settle_free(s);
                return;
        }
        s->deadline = rk_now() + SETTLE_MAX_USEC;
        if (rk_loop_add_time(d->loop, &s->timer, rk_now() + SETTLE_POLL_USEC, on_settle, s) < 0) {
                settle_finish(s);
                settle_free(s);
        }
}

static void settle_one(ringd *d, const char *id) {
        char **v = calloc(1, sizeof(char *));

        if (!v || !(v[0] = strdup(id))) {
                free(v);
                return;
        }
        settle_start(d, v, 1);
}

/* ---- replies ---- */

static rk_value *reply_new(void) {
        rk_value *m = NULL;
        if (rk_value_new_dict(&m) < 0 || rk_dict_set_bool(m, "ok", true) < 0)
                return rk_value_unref(m);
        return m;
}

static rk_value *reply_fail(const outcome *o) {
        rk_value *m = NULL;
        if (rk_value_new_dict(&m) < 0)
                return NULL;
        (void) rk_dict_set_bool(m, "ok", false);
        (void) rk_dict_set_integer(m, "errno", (uint64_t) (int64_t) -o->r, true);
        (void) rk_dict_set_integer(m, "code", (uint64_t) o->code, false);
        (void) rk_dict_set_string(m, "code_name", rk_extdb_error_name(o->code) ?: "unknown");
        (void) rk_dict_set_string(m, "error", o->message);
        return m;
}

static void reply_row(rk_value *m, ringd *d, const char *id) {
        _cleanup_(rk_value_unrefp) rk_value *row = NULL;
        const char *keys[] = { "team", "version", "short_version", "state", "state_id", "store_path", "app_path" };

        (void) rk_dict_set_string(m, "identifier", id);
        if (!d->extdb || rk_extdb_get(d->extdb, id, &row) < 0)
                return;
        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                const rk_value *v = rk_dict_get(row, keys[k]);
                if (v && !rk_dict_get(m, keys[k]))
                        (void) rk_dict_set(m, keys[k], (rk_value *) v);
        }
}

/* ---- requests ---- */

static int get_string(rk_value *req, const char *key, bool required, const char **ret, outcome *o, rk_extdb_error code,
                      const char *what) {
        const rk_value *v = rk_dict_get(req, key);

        *ret = NULL;
        if (!v) {
                if (required)
                        return fail(o, -EINVAL, code, "request has no '%s' (%s)", key, what);
                return 0;
        }
        if (!rk_value_is(v, RK_TYPE_STRING) || !*rk_string(v))
                return fail(o, -EINVAL, code, "request key '%s' must be a non-empty string (%s), not a %s", key, what,
                            rk_value_is(v, RK_TYPE_STRING) ? "empty string" : rk_type_name(rk_value_type(v)));
        *ret = rk_string(v);
        return 0;
}

static int get_bool(rk_value *req, const char *key, bool *ret, outcome *o) {
        const rk_value *v = rk_dict_get(req, key);

        *ret = false;
        if (!v)
                return 0;
        if (!rk_value_is(v, RK_TYPE_BOOL))
                return fail(o, -EINVAL, RK_EXTDB_ERR_UNKNOWN, "request key '%s' must be a boolean, not a %s", key,
                            rk_type_name(rk_value_type(v)));
        *ret = rk_bool(v);
        return 0;
}

static int need_db(ringd *d, outcome *o) {
        if (!d->extdb)
                return fail(o, -EIO, RK_EXTDB_ERR_UNKNOWN,
                            "the activation database %s is unavailable (see ringd's log)", d->extdb_path ?: "");
        return 0;
}

static int get_ident(rk_value *req, const char **id, outcome *o) {
        int r = get_string(req, "bundle", true, id, o, RK_EXTDB_ERR_EXTENSION_MISSING_IDENTIFIER,
                           "the extension's bundle identifier");
        if (r < 0)
                return r;
        if (!safe_component(*id))
                return fail(o, -EINVAL, RK_EXTDB_ERR_EXTENSION_MISSING_IDENTIFIER,
                            "'%s' is not a bundle identifier (letters, digits, '.', '-', '_')", *id);
        return 0;
}

/* Active version of id, or NULL. */
static char *active_version(ringd *d, const char *id) {
        _cleanup_(rk_value_unrefp) rk_value *row = NULL;
        const char *sid;

        if (rk_extdb_get(d->extdb, id, &row) < 0)
                return NULL;
        sid = rk_dict_get_string(row, "state_id");
        if (!sid || (!streq(sid, rk_extdb_state_id(RK_EXTDB_ENABLED)) &&
                     !streq(sid, rk_extdb_state_id(RK_EXTDB_WAITING_FOR_USER))))
                return NULL;
        return strdup(rk_dict_get_string(row, "version") ?: "");
}

static rk_value *do_activate(ringd *d, rk_value *req, outcome *o) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        _cleanup_(rk_bundle_unrefp) rk_bundle *app_b = NULL, *child = NULL;
        _cleanup_(freep) char *app = NULL, *store = NULL, *old_version = NULL;
        _cleanup_(staged_done) staged s = {};
        const char *id, *app_arg, *replace;
        bool force, dev, accept = true;
        rk_extdb_result res;
        int r;

        if (need_db(d, o) < 0 || get_ident(req, &id, o) < 0 ||
            get_string(req, "app", true, &app_arg, o, RK_EXTDB_ERR_UNSUPPORTED_PARENT_BUNDLE_LOCATION,
                       "the path of the app that carries the extension") < 0 ||
            get_string(req, "replace", false, &replace, o, RK_EXTDB_ERR_UNKNOWN, "accept or refuse") < 0 ||
            get_bool(req, "force", &force, o) < 0)
                return NULL;
        if (replace && !streq(replace, "accept") && !streq(replace, "refuse")) {
                fail(o, -EINVAL, RK_EXTDB_ERR_UNKNOWN, "%s: 'replace' must be accept or refuse, not '%s'", id, replace);
                return NULL;
        }
        accept = !replace || streq(replace, "accept");
        if (app_arg[0] != '/') {
                fail(o, -EINVAL, RK_EXTDB_ERR_UNSUPPORTED_PARENT_BUNDLE_LOCATION,
                     "%s: the app path must be absolute, not '%s'", id, app_arg);
                return NULL;
        }
        dev = rk_extdb_get_developer_mode(d->extdb) > 0;
        if (load_app(d, id, app_arg, &app, &app_b, &child, o) < 0)
                return NULL;
        if (!in_app_dirs(d, app)) {
                if (!dev) {
                        fail(o, -EPERM, RK_EXTDB_ERR_UNSUPPORTED_PARENT_BUNDLE_LOCATION,
                             "%s: app %s is not in an application directory (%s%s); move it there, or turn developer "
                             "mode on",
                             id, app, d->n_app_dirs ? d->app_dirs[0] : "none", d->n_app_dirs > 1 ? ", ..." : "");
                        return NULL;
                }
                relax(d, id, "app %s is outside the application directories", app);
        }
        if (stage(d, id, child, dev, &s, o) < 0 || check_app(d, id, app, s.team, dev, o) < 0 ||
            commit_copy(d, id, &s, &store, o) < 0)
                goto release;
        old_version = active_version(d, id);
        rk_extdb_request q = {
                .team = s.team, .identifier = id, .version = s.b->version,
                .short_version = rk_dict_get_string(s.b->info, "CFBundleShortVersionString"),
                .app_path = app, .app_identifier = app_b->identifier, .store_path = store,
                .cdhash = s.cdhash, .cdhash_len = sizeof(s.cdhash), .force = force,
        };
        r = rk_extdb_request_activation(d->extdb, &q, &res);
        crash_point(d, "requested");
        if (r < 0) {
                fail_db(o, r, &res);
                goto release;
        }
        m = reply_new();
        if (!m) {
                fail(o, -ENOMEM, RK_EXTDB_ERR_UNKNOWN, "out of memory");
                return NULL;
        }
        (void) rk_dict_set_string(m, "requested_version", s.b->version);
        if (old_version && res.outcome != RK_EXTDB_OUTCOME_ALREADY_ACTIVE && res.outcome != RK_EXTDB_OUTCOME_WAITING_FOR_USER)
                (void) rk_dict_set_string(m, "replaced_version", old_version);
        switch (res.outcome) {
        case RK_EXTDB_OUTCOME_WAITING_FOR_USER:
                if (!old_version) {
                        log_notice(d, "%s: version %s activated by %s; waiting for approval", id, s.b->version, app);
                        (void) rk_dict_set_string(m, "outcome", "waiting_for_user");
                        break;
                }
                /* forced over a waiting version: the old one is replaced */
                __attribute__((fallthrough));
        case RK_EXTDB_OUTCOME_ENABLED:
                log_notice(d, "%s: version %s replaces %s%s", id, s.b->version, old_version ? old_version : "?",
                           force ? " (forced)" : "");
                (void) rk_dict_set_string(m, "outcome", "replaced");
                (void) rk_dict_set_string(m, "replaced_version", old_version ? old_version : "");
                settle_one(d, id);
                break;
        case RK_EXTDB_OUTCOME_ALREADY_ACTIVE:
                log_info(d, "%s: version %s is already activated", id, s.b->version);
                (void) rk_dict_set_string(m, "outcome", "already_active");
                break;
        case RK_EXTDB_OUTCOME_REPLACEMENT_NEEDED:
                (void) rk_dict_set_string(m, "replaced_version", old_version ? old_version : "");
                if (!accept) {
                        r = rk_extdb_refuse_replacement(d->extdb, s.team, id, s.b->version, &res);
                        fail_db(o, r, &res);
                        o->code = res.error ? res.error : RK_EXTDB_ERR_REQUEST_CANCELED;
                        log_notice(d, "%s: the requester refused to replace version %s with %s", id,
                                   old_version ? old_version : "?", s.b->version);
                        m = rk_value_unref(m);
                        goto release;
                }
                r = rk_extdb_accept_replacement(d->extdb, s.team, id, s.b->version, &res);
                crash_point(d, "accepted");
                if (r < 0) {
                        fail_db(o, r, &res);
                        m = rk_value_unref(m);
                        goto release;
                }
                log_notice(d, "%s: version %s replaces %s (accepted by the requester)", id, s.b->version,
                           old_version ? old_version : "?");
                (void) rk_dict_set_string(m, "outcome", "replaced");
                settle_one(d, id);
                break;
        default:
                break;
        }
        reply_row(m, d, id);
        return TAKE_PTR(m);
release:
        if (store)
                (void) store_gc(d);
        return NULL;
}

static rk_value *do_approve(ringd *d, rk_value *req, outcome *o) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        rk_extdb_result res;
        const char *id;
        int r;

        if (need_db(d, o) < 0 || get_ident(req, &id, o) < 0)
                return NULL;
        r = rk_extdb_approve(d->extdb, id, &res);
        if (r < 0) {
                fail_db(o, r, &res);
                return NULL;
        }
        crash_point(d, "approved");
        log_notice(d, "%s: approved; activated enabled", id);
        r = catalogue_scan(d);
        if (r < 0)
                log_error(d, "activation: catalogue rescan failed: %s", strerror(-r));
        m = reply_new();
        if (m)
                reply_row(m, d, id);
        return TAKE_PTR(m);
}

static rk_value *do_deny(ringd *d, rk_value *req, outcome *o) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        rk_extdb_result res;
        const char *id;
        int r;

        if (need_db(d, o) < 0 || get_ident(req, &id, o) < 0)
                return NULL;
        r = rk_extdb_deny(d->extdb, id, &res);
        if (r < 0) {
                fail_db(o, r, &res);
                return NULL;
        }
        crash_point(d, "denied");
        log_notice(d, "%s: denied; uninstalled", id);
        (void) store_gc(d);
        m = reply_new();
        if (m)
                reply_row(m, d, id);
        return TAKE_PTR(m);
}

static rk_value *do_deactivate(ringd *d, rk_value *req, outcome *o) {
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        _cleanup_(rk_bundle_unrefp) rk_bundle *app_b = NULL, *child = NULL;
        _cleanup_(freep) char *app = NULL;
        const char *id, *app_arg;
        rk_extdb_result res;
        int r;

        if (need_db(d, o) < 0 || get_ident(req, &id, o) < 0 ||
            get_string(req, "app", false, &app_arg, o, RK_EXTDB_ERR_UNSUPPORTED_PARENT_BUNDLE_LOCATION,
                       "the path of the app that carries the extension") < 0)
                return NULL;
        /* From an app, as macOS does it: the app must carry the extension.  Without one: the administrator. */
        if (app_arg && load_app(d, id, app_arg, &app, &app_b, &child, o) < 0)
                return NULL;
        r = rk_extdb_deactivate(d->extdb, id, &res);
        if (r < 0) {
                fail_db(o, r, &res);
                return NULL;
        }
        crash_point(d, "deactivated");
        log_notice(d, "%s: deactivated%s%s; terminating for uninstall", id, app ? " by " : "", app ? app : "");
        m = reply_new();
        if (m)
                reply_row(m, d, id); /* "terminating for uninstall" */
        settle_one(d, id);
        return TAKE_PTR(m);
}

static rk_value *do_reset(ringd *d, rk_value *req, outcome *o) {
        _cleanup_(rk_value_unrefp) rk_value *rows = NULL, *m = NULL;
        char **ids = NULL;
        size_t n = 0;
        rk_extdb_result res;
        int r;

        if (need_db(d, o) < 0)
                return NULL;
        r = rk_extdb_list(d->extdb, &rows);
        if (r < 0) {
                fail(o, r, RK_EXTDB_ERR_UNKNOWN, "reset: cannot read the database: %s", strerror(-r));
                return NULL;
        }
        r = rk_extdb_reset(d->extdb, &res);
        if (r < 0) {
                fail_db(o, r, &res);
                if (r == -EPERM)
                        snprintf(o->message, sizeof(o->message),
                                 "reset refused: developer mode is off (ringctl developer on)");
                return NULL;
        }
        crash_point(d, "reset");
        ids = calloc(rk_array_size(rows) + 1, sizeof(*ids));
        for (size_t k = 0; ids && k < rk_array_size(rows); k++) {
                const char *id = rk_dict_get_string(rk_array_get(rows, k), "identifier");
                if (id && !ident_in(ids, n, id) && (ids[n] = strdup(id)))
                        n++;
        }
        log_notice(d, "activation: reset: %zu extension%s deactivated and removed (developer mode)", n,
                   n == 1 ? "" : "s");
        m = reply_new();
        if (m)
                (void) rk_dict_set_integer(m, "removed", n, false);
        if (ids)
                settle_start(d, ids, n);
        return TAKE_PTR(m);
}

rk_value *activation_handle(ringd *d, const char *command, rk_value *req) {
        static const struct {
                const char *name;
                rk_value *(*fn)(ringd *d, rk_value *req, outcome *o);
        } ops[] = {
                { "activate", do_activate }, { "approve", do_approve }, { "deny", do_deny },
                { "deactivate", do_deactivate }, { "reset", do_reset },
        };
        outcome o = { .code = RK_EXTDB_ERR_UNKNOWN };

        for (size_t k = 0; k < ELEMENTSOF(ops); k++)
                if (streq(command, ops[k].name)) {
                        rk_value *m = ops[k].fn(d, req, &o);
                        if (m)
                                return m;
                        if (o.r == 0)
                                fail(&o, -ENOMEM, RK_EXTDB_ERR_UNKNOWN, "%s: out of memory", command);
                        log_info(d, "activation: %s refused: error %d (%s): %s", command, (int) o.code,
                                 rk_extdb_error_name(o.code) ?: "?", o.message);
                        return reply_fail(&o);
                }
        fail(&o, -EOPNOTSUPP, RK_EXTDB_ERR_UNKNOWN, "unknown activation command %s", command);
        return reply_fail(&o);
}

/* ---- catalogue, listing, status ---- */

int activation_enabled_paths(ringd *d, char ***ret, size_t *ret_n) {
        _cleanup_(rk_value_unrefp) rk_value *rows = NULL;
        char **v;
        size_t n = 0;
        int r;

        *ret = NULL;
        *ret_n = 0;
        if (!d->extdb)
                return 0;
        r = rk_extdb_list(d->extdb, &rows);
        if (r < 0)
                return r;
        v = calloc(rk_array_size(rows) + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t k = 0; k < rk_array_size(rows); k++) {
                const rk_value *e = rk_array_get(rows, k);
                const char *sp = rk_dict_get_string(e, "store_path");
                if (!sp || !streq_ptr(rk_dict_get_string(e, "state_id"), rk_extdb_state_id(RK_EXTDB_ENABLED)))
                        continue;
                if (!(v[n] = strdup(sp))) {
                        strv_free(v, n);
                        return -ENOMEM;
                }
                n++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int activation_list(ringd *d, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *rows = NULL;
        int r;

        if (!d->extdb)
                return rk_value_new_array(ret);
        r = rk_extdb_list(d->extdb, &rows);
        if (r < 0)
                return r;
        for (size_t k = 0; k < rk_array_size(rows); k++) {
                rk_value *e = rk_array_get(rows, k);
                const char *sid = rk_dict_get_string(e, "state_id");
                bool enabled = streq_ptr(sid, rk_extdb_state_id(RK_EXTDB_ENABLED));
                size_t len = 0;
                const uint8_t *h = rk_data(rk_dict_get(e, "cdhash"), &len);
                char hex[65] = "";
                for (size_t j = 0; h && j < len && j < 32; j++)
                        snprintf(hex + 2 * j, 3, "%02x", h[j]);
                if (rk_dict_set_bool(e, "enabled", enabled) < 0 ||
                    rk_dict_set_bool(e, "active",
                                     enabled || streq_ptr(sid, rk_extdb_state_id(RK_EXTDB_WAITING_FOR_USER))) < 0 ||
                    rk_dict_set_string(e, "cdhash", hex) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(rows);
        return 0;
}

int activation_status(ringd *d, rk_value *m) {
        activation *a = d->act;
        _cleanup_(rk_value_unrefp) rk_value *rel = NULL, *apps = NULL;
        int r;

        if ((r = rk_value_new_array(&rel)) < 0 || (r = rk_value_new_array(&apps)) < 0)
                return r;
        for (size_t k = 0; k < d->n_app_dirs; k++) {
                _cleanup_(rk_value_unrefp) rk_value *s = NULL;
                if ((r = rk_value_new_string(d->app_dirs[k], &s)) < 0 || (r = rk_array_append(apps, s)) < 0)
                        return r;
        }
        for (unsigned k = 0; a && k < a->n_relaxations; k++) {
                _cleanup_(rk_value_unrefp) rk_value *s = NULL;
                unsigned at = (a->next_relaxation + MAX_RELAXATIONS - a->n_relaxations + k) % MAX_RELAXATIONS;
                if ((r = rk_value_new_string(a->relaxations[at], &s)) < 0 || (r = rk_array_append(rel, s)) < 0)
                        return r;
        }
        if ((r = rk_dict_set_string(m, "trust_store", d->trust_dir ?: "")) < 0 ||
            (r = rk_dict_set(m, "application_dirs", apps)) < 0 ||
            (r = rk_dict_set_string(m, "extension_store", a ? a->store_dir : "")) < 0 ||
            (r = rk_dict_set(m, "relaxations", rel)) < 0)
                return r;
        return 0;
}

/* ---- start and stop ---- */

/* R1-R3 (the header); R4 is store_gc(). */
static void reconcile(ringd *d) {
        _cleanup_(rk_value_unrefp) rk_value *rows = NULL;
        char **finish = NULL;
        size_t n_finish = 0;
        rk_extdb_result res;
        int r = rk_extdb_list(d->extdb, &rows);

        if (r < 0) {
                log_error(d, "activation: cannot read %s: %s", d->extdb_path, strerror(-r));
                return;
        }
        finish = calloc(rk_array_size(rows) + 1, sizeof(*finish));
        if (!finish)
                return;
        for (size_t k = 0; k < rk_array_size(rows); k++) {
                const rk_value *e = rk_array_get(rows, k), *p = rk_dict_get(e, "pending");
                const char *id = rk_dict_get_string(e, "identifier"), *sid = rk_dict_get_string(e, "state_id");
                const char *sp = rk_dict_get_string(e, "store_path");
                rk_extdb_state st = rk_extdb_state_from_id(sid);
                struct stat sb;

                if (!id)
                        continue;
                if (p) { /* R1 */
                        r = rk_extdb_refuse_replacement(d->extdb, rk_dict_get_string(p, "team"), id,
                                                        rk_dict_get_string(p, "version"), &res);
                        log_notice(d, "%s: dropped the pending replacement by version %s: its requester is gone "
                                      "(ringd restarted)%s%s",
                                   id, rk_dict_get_string(p, "version") ?: "?", r < 0 ? ": " : "", r < 0 ? res.message : "");
                }
                if ((st == RK_EXTDB_ENABLED || st == RK_EXTDB_WAITING_FOR_USER) && sp &&
                    (stat(sp, &sb) < 0 || !S_ISDIR(sb.st_mode))) { /* R3 */
                        log_error(d, "%s: version %s: store copy %s is missing; deactivating it", id,
                                  rk_dict_get_string(e, "version") ?: "?", sp);
                        if (rk_extdb_deactivate(d->extdb, id, &res) < 0)
                                log_error(d, "activation: %s", res.message);
                        st = RK_EXTDB_TERMINATING;
                }
                if ((st == RK_EXTDB_TERMINATING || st == RK_EXTDB_REPLACED) && !ident_in(finish, n_finish, id) &&
                    (finish[n_finish] = strdup(id))) /* R2 */
                        n_finish++;
        }
        for (size_t k = 0; k < n_finish; k++) {
                r = rk_extdb_finish_uninstall(d->extdb, finish[k], &res);
                if (r > 0)
                        log_notice(d, "%s: uninstall completed after a restart", finish[k]);
                else if (r < 0 && r != -ENOENT)
                        log_error(d, "activation: %s", res.message);
        }
        strv_free(finish, n_finish);
}

int activation_init(ringd *d) {
        activation *a = calloc(1, sizeof(*a));
        const char *crash = getenv("RINGD_ACTIVATION_CRASH_AT");
        const char *root = d->root ? d->root : "";
        int r;

        if (!a)
                return -ENOMEM;
        d->act = a;
        if (asprintf(&a->store_dir, "%s/store", d->state_dir) < 0 || asprintf(&a->tmp_dir, "%s/.tmp", a->store_dir) < 0)
                return -ENOMEM;
        if (!d->trust_dir && asprintf(&d->trust_dir, "%s/etc/ringkit/trust", root) < 0)
                return -ENOMEM;
        if (d->n_app_dirs == 0) {
                d->app_dirs = calloc(1, sizeof(char *));
                if (!d->app_dirs || asprintf(&d->app_dirs[0], "%s/Applications", root) < 0)
                        return -ENOMEM;
                d->n_app_dirs = 1;
        }
        if (crash && *crash)
                a->crash_at = (unsigned) strtoul(crash, NULL, 10);
        r = mkdir_p(a->store_dir, 0711); /* dexts' uids read their bundles' copies */
        if (r >= 0)
                (void) chmod(a->store_dir, 0711);
        if (r < 0) {
                log_error(d, "activation: cannot create the store %s: %s", a->store_dir, strerror(-r));
                return 0;
        }
        if (!d->extdb)
                return 0;
        reconcile(d);
        (void) store_gc(d);
        return 0;
}

void activation_done(ringd *d) {
        activation *a = d->act;

        if (!a)
                return;
        while (a->settles)
                settle_free(a->settles); /* unfinished: the next start completes them */
        for (unsigned k = 0; k < MAX_RELAXATIONS; k++)
                free(a->relaxations[k]);
        free(a->store_dir);
        free(a->tmp_dir);
        free(a);
        d->act = NULL;
        for (size_t k = 0; k < d->n_app_dirs; k++)
                free(d->app_dirs[k]);
        free(d->app_dirs);
        d->app_dirs = NULL;
        d->n_app_dirs = 0;
        d->trust_dir = mfree(d->trust_dir);
}

/* For the rest of ringd (launch.c): record a relaxation like the ones above. */
void activation_relax(ringd *d, const char *id, const char *what) {
        if (d->act)
                relax(d, id, "%s", what);
        else
                log_warning(d, "developer mode: relaxed check: %s: %s", id, what);
}
