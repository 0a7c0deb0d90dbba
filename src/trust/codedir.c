/* SPDX-License-Identifier: MIT */
/*
 * Code directories (format and rules in codedir.h).
 *
 * The walk opens every directory with O_NOFOLLOW relative to its parent's
 * descriptor, so a symlink is never entered and a path never re-resolved;
 * each regular file is opened O_NOFOLLOW|O_NONBLOCK and checked with fstat
 * before it is read (a FIFO cannot block us).  Entries are collected
 * unsorted and sorted once at the end, so the serialized order does not
 * depend on readdir order.  Invariant: entries[] is sorted by strcmp and
 * has no duplicate paths (the walk visits each name once).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "shared/macro.h"
#include "trust/codedir.h"

typedef struct walk {
        rk_codedir *cd;
        size_t cap;
        rk_diag *diag;
        const char *bundle;
} walk;

int rk_codedir_hash_file(int dirfd, const char *path, uint8_t out[32]) {
        if (!path || !out)
                return -EINVAL;
        _cleanup_(closep) int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return errno == ELOOP ? -EBADMSG : -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        int r = 0;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
                r = -EIO;
                goto out;
        }
        for (;;) {
                char buf[65536];
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                if (EVP_DigestUpdate(ctx, buf, (size_t) n) != 1) {
                        r = -EIO;
                        goto out;
                }
        }
        if (EVP_DigestFinal_ex(ctx, out, NULL) != 1)
                r = -EIO;
out:
        EVP_MD_CTX_free(ctx);
        return r;
}

static rk_codedir_entry *add_entry(walk *w, const char *path) {
        rk_codedir *cd = w->cd;
        if (cd->n_entries >= RK_CODEDIR_MAX_FILES)
                return NULL;
        if (cd->n_entries == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 64;
                rk_codedir_entry *e = realloc(cd->entries, cap * sizeof *e);
                if (!e)
                        return NULL;
                cd->entries = e;
                w->cap = cap;
        }
        rk_codedir_entry *e = &cd->entries[cd->n_entries];
        *e = (rk_codedir_entry){ .path = strdup(path) };
        if (!e->path)
                return NULL;
        cd->n_entries++;
        return e;
}

static int add_fail(walk *w) {
        return w->cd->n_entries >= RK_CODEDIR_MAX_FILES ? -E2BIG : -ENOMEM;
}

/* Is `rel` (a directory) a nested bundle that seals itself? */
static bool is_nested(const char *parent, const char *name) {
        const char *dot = strrchr(name, '.');
        if (!dot)
                return false;
        if (streq(parent, "Contents/Library/SystemExtensions"))
                return streq(dot, ".dext") || streq(dot, ".systemextension");
        if (streq(parent, "Contents/PlugIns"))
                return streq(dot, ".kext");
        return false;
}

static int add_nested(walk *w, int dfd, const char *rel, const char *name) {
        rk_codedir *cd = w->cd;
        char **n = realloc(cd->nested, (cd->n_nested + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        cd->nested = n;
        if (!(n[cd->n_nested] = strdup(rel)))
                return -ENOMEM;
        cd->n_nested++;

        char *sub = NULL, *full = NULL;
        if (asprintf(&sub, "%s/%s", name, RK_CODEDIR_FILE) < 0)
                return -ENOMEM;
        uint8_t h[32];
        int r = rk_codedir_hash_file(dfd, sub, h);
        free(sub);
        if (r == -ENOENT)
                return 0; /* unsigned: the parent's seal shows it as removed */
        if (r < 0) {
                rk_diag_add(w->diag, RK_DIAG_ERROR, &(rk_where){ .bundle = w->bundle },
                            "cannot read %s/%s: %s", rel, RK_CODEDIR_FILE, strerror(-r));
                return r;
        }
        if (asprintf(&full, "%s/%s", rel, RK_CODEDIR_FILE) < 0)
                return -ENOMEM;
        rk_codedir_entry *e = add_entry(w, full);
        free(full);
        if (!e)
                return add_fail(w);
        memcpy(e->hash, h, 32);
        return 0;
}

static int walk_dir(walk *w, int dfd, const char *rel, unsigned depth);

static int walk_one(walk *w, int dfd, const char *rel, const char *name, const char *path, unsigned depth) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode)) {
                if (streq(path, RK_SIGNATURE_DIR))
                        return 0;
                if (is_nested(rel, name))
                        return add_nested(w, dfd, path, name);
                int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return -errno;
                return walk_dir(w, sub, path, depth + 1); /* takes sub */
        }
        if (S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
                if (n < 0)
                        return -errno;
                target[n] = 0;
                rk_codedir_entry *e = add_entry(w, path);
                if (!e)
                        return add_fail(w);
                return (e->symlink = strdup(target)) ? 0 : -ENOMEM;
        }
        if (!S_ISREG(st.st_mode)) {
                rk_diag_add(w->diag, RK_DIAG_ERROR, &(rk_where){ .bundle = w->bundle },
                            "%s is no regular file, directory or symlink: cannot be sealed", path);
                return -EBADMSG;
        }
        uint8_t h[32];
        int r = rk_codedir_hash_file(dfd, name, h);
        if (r < 0)
                return r;
        rk_codedir_entry *e = add_entry(w, path);
        if (!e)
                return add_fail(w);
        memcpy(e->hash, h, 32);
        return 0;
}

/* Takes ownership of dfd. */
static int walk_dir(walk *w, int dfd, const char *rel, unsigned depth) {
        if (depth > RK_CODEDIR_MAX_DEPTH) {
                close(dfd);
                rk_diag_add(w->diag, RK_DIAG_ERROR, &(rk_where){ .bundle = w->bundle },
                            "%s: directories nested deeper than %d", rel, RK_CODEDIR_MAX_DEPTH);
                return -EBADMSG;
        }
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                char *path = NULL;
                if (asprintf(&path, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = walk_one(w, dirfd(d), rel, de->d_name, path, depth);
                free(path);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        return r;
}

static int cmp_entry(const void *a, const void *b) {
        return strcmp(((const rk_codedir_entry *) a)->path, ((const rk_codedir_entry *) b)->path);
}

int rk_codedir_new_from_bundle(const char *path, rk_codedir **ret, rk_diag *diag) {
        if (!path || !ret)
                return -EINVAL;
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                int r = -errno;
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = path }, "cannot open bundle: %s",
                            strerror(-r));
                return r;
        }
        rk_codedir *cd = calloc(1, sizeof *cd);
        if (!cd) {
                close(dfd);
                return -ENOMEM;
        }
        walk w = { .cd = cd, .diag = diag, .bundle = path };
        int r = walk_dir(&w, dfd, "", 0);
        if (r == -E2BIG)
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = path }, "more than %d files",
                            RK_CODEDIR_MAX_FILES);
        if (r < 0) {
                rk_codedir_free(cd);
                return r;
        }
        if (cd->n_entries > 1)
                qsort(cd->entries, cd->n_entries, sizeof *cd->entries, cmp_entry);
        *ret = cd;
        return 0;
}

rk_codedir *rk_codedir_free(rk_codedir *cd) {
        if (!cd)
                return NULL;
        for (size_t i = 0; i < cd->n_entries; i++) {
                free(cd->entries[i].path);
                free(cd->entries[i].symlink);
        }
        for (size_t i = 0; i < cd->n_nested; i++)
                free(cd->nested[i]);
        free(cd->nested);
        free(cd->entries);
        free(cd->identifier);
        free(cd->team);
        free(cd);
        return NULL;
}

int rk_codedir_set_identity(rk_codedir *cd, const char *identifier, const char *team) {
        if (!cd)
                return -EINVAL;
        char *i = identifier ? strdup(identifier) : NULL, *t = team ? strdup(team) : NULL;
        if ((identifier && !i) || (team && !t)) {
                free(i);
                free(t);
                return -ENOMEM;
        }
        free(cd->identifier);
        free(cd->team);
        cd->identifier = i;
        cd->team = t;
        return 0;
}

const rk_codedir_entry *rk_codedir_find(const rk_codedir *cd, const char *path) {
        if (!cd || !path || cd->n_entries == 0)
                return NULL;
        rk_codedir_entry key = { .path = (char *) path };
        return bsearch(&key, cd->entries, cd->n_entries, sizeof key, cmp_entry);
}

static int entry_value(const rk_codedir_entry *e, rk_value **ret) {
        if (!e->symlink)
                return rk_value_new_data(e->hash, 32, ret);
        _cleanup_(rk_value_unrefp) rk_value *d = NULL;
        int r = rk_value_new_dict(&d);
        if (r < 0)
                return r;
        r = rk_dict_set_string(d, "symlink", e->symlink);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

int rk_codedir_to_value(const rk_codedir *cd, rk_value **ret) {
        if (!cd || !ret)
                return -EINVAL;
        _cleanup_(rk_value_unrefp) rk_value *d = NULL, *files = NULL;
        int r = rk_value_new_dict(&d);
        if (r >= 0)
                r = rk_value_new_dict(&files);
        if (r >= 0)
                r = rk_dict_set_integer(d, "RKCodeDirectoryVersion", RK_CODEDIR_VERSION, false);
        if (r >= 0 && cd->identifier)
                r = rk_dict_set_string(d, "CFBundleIdentifier", cd->identifier);
        if (r >= 0 && cd->team)
                r = rk_dict_set_string(d, "TeamIdentifier", cd->team);
        if (r >= 0 && cd->has_entitlements) {
                _cleanup_(rk_value_unrefp) rk_value *h = NULL;
                r = rk_value_new_data(cd->entitlements_hash, 32, &h);
                if (r >= 0)
                        r = rk_dict_set(d, "EntitlementsHash", h);
        }
        for (size_t i = 0; r >= 0 && i < cd->n_entries; i++) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                r = entry_value(&cd->entries[i], &e);
                if (r >= 0)
                        r = rk_dict_set(files, cd->entries[i].path, e);
        }
        if (r >= 0)
                r = rk_dict_set(d, "Files", files);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

static int bad(rk_diag *diag, const char *name, const char *key, const char *what) {
        rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = name, .key = key }, "code directory: %s", what);
        return -EBADMSG;
}

static int entries_from_value(rk_codedir *cd, const rk_value *files, const char *name, rk_diag *diag) {
        size_t n = rk_dict_size(files);
        if (n > RK_CODEDIR_MAX_FILES)
                return bad(diag, name, "Files", "too many files");
        cd->entries = calloc(n ? n : 1, sizeof *cd->entries);
        if (!cd->entries)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *k = rk_dict_key_at(files, i);
                const rk_value *v = rk_dict_value_at(files, i);
                rk_codedir_entry *e = &cd->entries[cd->n_entries];
                size_t len = 0;
                const uint8_t *h = rk_data(v, &len);
                const char *t = rk_dict_get_string(v, "symlink");
                if (h && len == 32)
                        memcpy(e->hash, h, 32);
                else if (!t)
                        return bad(diag, name, k, "entry is neither a 32-byte hash nor {symlink: target}");
                if (!(e->path = strdup(k)) || (t && !(e->symlink = strdup(t)))) {
                        free(e->path);
                        return -ENOMEM;
                }
                cd->n_entries++;
        }
        if (cd->n_entries > 1)
                qsort(cd->entries, cd->n_entries, sizeof *cd->entries, cmp_entry);
        return 0;
}

int rk_codedir_from_value(const rk_value *v, const char *name, rk_codedir **ret, rk_diag *diag) {
        if (!v || !ret)
                return -EINVAL;
        uint64_t ver = 0;
        if (!rk_value_is(v, RK_TYPE_DICT))
                return bad(diag, name, NULL, "not a dictionary");
        if (!rk_dict_get_u64(v, "RKCodeDirectoryVersion", &ver) || ver != RK_CODEDIR_VERSION)
                return bad(diag, name, "RKCodeDirectoryVersion", "missing or unsupported version");
        const rk_value *files = rk_dict_get(v, "Files");
        if (!rk_value_is(files, RK_TYPE_DICT))
                return bad(diag, name, "Files", "missing or not a dictionary");
        _cleanup_(rk_codedir_freep) rk_codedir *cd = calloc(1, sizeof *cd);
        if (!cd)
                return -ENOMEM;
        int r = rk_codedir_set_identity(cd, rk_dict_get_string(v, "CFBundleIdentifier"),
                                        rk_dict_get_string(v, "TeamIdentifier"));
        if (r < 0)
                return r;
        const rk_value *eh = rk_dict_get(v, "EntitlementsHash");
        if (eh) {
                size_t len = 0;
                const uint8_t *h = rk_data(eh, &len);
                if (!h || len != 32)
                        return bad(diag, name, "EntitlementsHash", "not a 32-byte hash");
                memcpy(cd->entitlements_hash, h, 32);
                cd->has_entitlements = true;
        }
        r = entries_from_value(cd, files, name, diag);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(cd);
        return 0;
}

static void diff_entry(const rk_codedir_entry *x, const rk_codedir_entry *y, const rk_where *w, rk_diag *diag) {
        if (x->symlink && y->symlink)
                rk_diag_add(diag, RK_DIAG_ERROR, w, "symlink changed: %s (now -> %s, signed -> %s)", x->path,
                            y->symlink, x->symlink);
        else if (x->symlink)
                rk_diag_add(diag, RK_DIAG_ERROR, w, "file changed: %s (was a symlink, now a file)", x->path);
        else if (y->symlink)
                rk_diag_add(diag, RK_DIAG_ERROR, w, "file changed: %s (was a file, now a symlink to %s)",
                            x->path, y->symlink);
        else
                rk_diag_add(diag, RK_DIAG_ERROR, w, "file changed: %s", x->path);
}

static bool entry_equal(const rk_codedir_entry *x, const rk_codedir_entry *y) {
        if (!!x->symlink != !!y->symlink)
                return false;
        if (x->symlink)
                return streq(x->symlink, y->symlink);
        return memcmp(x->hash, y->hash, 32) == 0;
}

int rk_codedir_compare(const rk_codedir *expected, const rk_codedir *actual, const char *bundle, rk_diag *diag) {
        if (!expected || !actual)
                return -EINVAL;
        const rk_where w = { .bundle = bundle };
        unsigned bad_count = 0;
        size_t i = 0, j = 0;
        while (i < expected->n_entries || j < actual->n_entries) {
                const rk_codedir_entry *x = i < expected->n_entries ? &expected->entries[i] : NULL;
                const rk_codedir_entry *y = j < actual->n_entries ? &actual->entries[j] : NULL;
                int c = !x ? 1 : !y ? -1 : strcmp(x->path, y->path);
                if (c < 0) {
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "file removed: %s", x->path);
                        i++, bad_count++;
                } else if (c > 0) {
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "file added: %s", y->path);
                        j++, bad_count++;
                } else {
                        if (!entry_equal(x, y)) {
                                diff_entry(x, y, &w, diag);
                                bad_count++;
                        }
                        i++, j++;
                }
        }
        if (!streq_ptr(expected->identifier, actual->identifier)) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "identifier changed: signed for %s, bundle is %s",
                            expected->identifier ?: "(none)", actual->identifier ?: "(none)");
                bad_count++;
        }
        if (expected->has_entitlements != actual->has_entitlements ||
            (expected->has_entitlements && memcmp(expected->entitlements_hash, actual->entitlements_hash, 32))) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "entitlements %s: %s",
                            !actual->has_entitlements    ? "removed"
                            : !expected->has_entitlements ? "added"
                                                          : "changed",
                            RK_ENTITLEMENTS_FILE);
                bad_count++;
        }
        return bad_count ? -EBADMSG : 0;
}
