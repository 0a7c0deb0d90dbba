/* SPDX-License-Identifier: MIT */
/*
 * Bundles: reading and checking Name.dext, Name.kext, Name.systemextension
 * and App.app directories and bare Info.plist files (see bundle.h and
 * docs/bundles.md).
 *
 * Layout (macOS's deep bundle layout; the flat iOS layout is refused):
 *
 *   Name.kext/Contents/Info.plist
 *   Name.kext/Contents/MacOS/<CFBundleExecutable>      absent when codeless
 *   Name.kext/Contents/PlugIns/<name>.kext              kext children
 *   App.app/Contents/Library/SystemExtensions/<name>.dext  app children
 *   App.app/Contents/Library/SystemExtensions/<name>.systemextension
 *
 * What stays true here:
 *   - Every file is opened relative to the bundle's directory descriptor,
 *     and what was opened is checked, through /proc/self/fd, to lie inside
 *     the bundle's real directory: a symlink that leaves the bundle is
 *     refused without a window between the check and the use.  A child
 *     bundle must lie inside its parent the same way.
 *   - Every problem goes to the caller's diag naming the bundle (its
 *     identifier once it is known to be valid, its path before), the
 *     personality and the key.  The checks go on after an error so that lint
 *     shows them all; the result is -EBADMSG when any error was added.
 *   - Nesting is bounded (RK_BUNDLE_MAX_NESTING) and so is the number of
 *     children per bundle (RK_BUNDLE_MAX_CHILDREN).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalogue/bundle.h"
#include "match/personality.h"
#include "shared/macro.h"
#include "value/plist.h"

#define RK_BUNDLE_MAX_NESTING 3   /* app → extension, kext → plug-in, one spare */
#define RK_BUNDLE_MAX_CHILDREN 64
#define RK_KEXT_MAX_ID_LEN 63     /* xnu's KMOD_MAX_NAME - 1 */

static const struct {
        const char *suffix, *package_type, *name;
} kinds[_RK_BUNDLE_KIND_MAX] = {
        [RK_BUNDLE_DEXT] = { ".dext", "DEXT", "dext" },
        [RK_BUNDLE_KEXT] = { ".kext", "KEXT", "kext" },
        [RK_BUNDLE_SYSEXT] = { ".systemextension", "SYSX", "systemextension" },
        [RK_BUNDLE_APP] = { ".app", "APPL", "app" },
        [RK_BUNDLE_PLIST] = { NULL, NULL, "plist" },
};

/* What one load needs besides the bundle itself. */
typedef struct loader {
        rk_diag *diag;
        rk_bundle *b;
        int dirfd;         /* the bundle directory, -EBADF for a bare plist */
        char *root;        /* its real path */
        rk_bundle_kind rules; /* kind whose rules apply (a bare plist: from CFBundlePackageType) */
        unsigned nesting;
} loader;

const char *rk_bundle_kind_name(rk_bundle_kind k) {
        return k >= 0 && k < _RK_BUNDLE_KIND_MAX ? kinds[k].name : "unknown";
}

const char *rk_bundle_name(const rk_bundle *b) {
        if (!b)
                return NULL;
        return b->identifier ? b->identifier : b->path;
}

rk_bundle *rk_bundle_ref(rk_bundle *b) {
        if (b)
                b->refs++;
        return b;
}

rk_bundle *rk_bundle_unref(rk_bundle *b) {
        if (!b || --b->refs > 0)
                return NULL;
        for (size_t i = 0; i < b->n_children; i++)
                rk_bundle_unref(b->children[i]);
        free(b->children);
        free(b->path);
        free(b->info_path);
        free(b->executable_path);
        rk_value_unref(b->info);
        free(b);
        return NULL;
}

/* ---- diagnostics ------------------------------------------------------ */

_printf_(5, 6) static void report(loader *l, rk_diag_level level, const char *personality, const char *key,
                                  const char *fmt, ...) {
        rk_where w = { .file = l->b->info_path ? l->b->info_path : l->b->path,
                       .bundle = rk_bundle_name(l->b),
                       .personality = personality,
                       .key = key };
        _cleanup_(freep) char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        rk_diag_add(l->diag, level, &w, "%s", msg ? msg : "(out of memory)");
}

#define error(l, key, ...) report(l, RK_DIAG_ERROR, NULL, key, __VA_ARGS__)
#define warning(l, key, ...) report(l, RK_DIAG_WARNING, NULL, key, __VA_ARGS__)

/* "a string", "an integer": for "must be X, not Y" messages. */
static const char *a_type(rk_type t) {
        switch (t) {
        case RK_TYPE_DICT:
                return "a dictionary";
        case RK_TYPE_ARRAY:
                return "an array";
        case RK_TYPE_STRING:
                return "a string";
        case RK_TYPE_INTEGER:
                return "an integer";
        case RK_TYPE_BOOL:
                return "a boolean";
        case RK_TYPE_DATA:
                return "data";
        case RK_TYPE_DATE:
                return "a date";
        case RK_TYPE_REAL:
                return "a real";
        default:
                return "an unknown type";
        }
}

/* ---- files inside the bundle ------------------------------------------ */

/* The real path of what fd refers to. */
static int fd_realpath(int fd, const char *fallback, char **ret) {
        char proc[64], buf[PATH_MAX];
        ssize_t n;

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        n = readlink(proc, buf, sizeof(buf) - 1);
        if (n > 0 && buf[0] == '/') {
                buf[n] = 0;
                *ret = strdup(buf);
                return *ret ? 0 : -ENOMEM;
        }
        /* no /proc: resolve the name instead (racy, but still refuses plain escapes) */
        *ret = fallback ? realpath(fallback, NULL) : NULL;
        return *ret ? 0 : -errno;
}

static bool path_inside(const char *root, const char *p) {
        size_t n = strlen(root);
        if (n == 1 && root[0] == '/')
                return true;
        return strncmp(root, p, n) == 0 && (p[n] == '/' || p[n] == 0);
}

static char *join(const char *a, const char *b) {
        char *s = NULL;
        size_t n = strlen(a);
        while (n > 1 && a[n - 1] == '/')
                n--;
        return asprintf(&s, "%.*s/%s", (int) n, a, b) < 0 ? NULL : s;
}

/*
 * Open `rel` under the bundle and make sure it stays inside.  Returns the fd,
 * -ENOENT and the like from openat(2), or -EXDEV when it leads outside (the
 * target then in *outside, malloc'd).
 */
static int open_inside(loader *l, const char *rel, int flags, char **outside) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *real = NULL, *full = NULL;
        int r;

        fd = openat(l->dirfd, rel, flags | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        full = join(l->root, rel);
        if (!full)
                return -ENOMEM;
        r = fd_realpath(fd, full, &real);
        if (r < 0)
                return r;
        if (!path_inside(l->root, real)) {
                *outside = TAKE_PTR(real);
                return -EXDEV;
        }
        return TAKE_FD(fd);
}

static int read_fd(int fd, char **ret, size_t *ret_len) {
        struct stat st;
        char *buf;
        size_t n = 0;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if ((uint64_t) st.st_size > RK_PLIST_MAX_SIZE)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;
                        free(buf);
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = buf;
        *ret_len = n;
        return 0;
}

/* ---- reading Info.plist ----------------------------------------------- */

static int parse_info_fd(loader *l, int fd) {
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        int r;

        r = read_fd(fd, &buf, &len);
        if (r == -EISDIR) {
                error(l, NULL, "Info.plist is not a regular file");
                return -EBADMSG;
        }
        if (r == -EFBIG) {
                error(l, NULL, "Info.plist is too large (limit %u bytes)", RK_PLIST_MAX_SIZE);
                return -EBADMSG;
        }
        if (r < 0) {
                if (r != -ENOMEM)
                        error(l, NULL, "cannot read Info.plist: %s", strerror(-r));
                return r == -ENOMEM ? r : -EBADMSG;
        }
        /* rk_plist_parse reports its own problems, with positions */
        r = rk_plist_parse(buf, len, l->b->info_path, &l->b->info, l->diag);
        return r == -ENOMEM ? r : (r < 0 ? -EBADMSG : 0);
}

static int read_bundle_info(loader *l) {
        _cleanup_(freep) char *outside = NULL;
        _cleanup_(closep) int fd = -EBADF;

        fd = open_inside(l, "Contents/Info.plist", O_RDONLY | O_NONBLOCK, &outside);
        if (fd == -ENOENT || fd == -ENOTDIR) {
                if (faccessat(l->dirfd, "Info.plist", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                        error(l, NULL, "Info.plist at the bundle root (the flat iOS layout) is not supported: "
                                       "move it to Contents/Info.plist");
                else
                        error(l, NULL, "missing Contents/Info.plist");
                return -EBADMSG;
        }
        if (fd == -EXDEV) {
                error(l, NULL, "Contents/Info.plist leads outside the bundle (to %s): refused", outside);
                return -EBADMSG;
        }
        if (fd == -ENOMEM)
                return fd;
        if (fd < 0) {
                error(l, NULL, "cannot open Contents/Info.plist: %s", strerror(-fd));
                return -EBADMSG;
        }
        l->b->info_path = join(l->b->path, "Contents/Info.plist");
        if (!l->b->info_path)
                return -ENOMEM;
        return parse_info_fd(l, fd);
}

static int read_plain_info(loader *l, int fd) {
        l->b->info_path = strdup(l->b->path);
        if (!l->b->info_path)
                return -ENOMEM;
        return parse_info_fd(l, fd);
}

/* ---- unexpanded build variables --------------------------------------- */

/*
 * Xcode's $(VAR) and ${VAR}, and the @VAR@ of configure and CMake: an
 * Info.plist that still holds them is a template that was never processed.
 * Returns the start of the first one and its length in *n.
 */
static const char *find_build_var(const char *s, size_t *n) {
        for (const char *p = s; *p; p++) {
                if (p[0] == '$' && (p[1] == '(' || p[1] == '{')) {
                        const char *e = strchr(p + 2, p[1] == '(' ? ')' : '}');
                        if (e && e > p + 2) {
                                *n = (size_t) (e - p) + 1;
                                return p;
                        }
                } else if (p[0] == '@') {
                        size_t k = 1;
                        while ((p[k] >= 'A' && p[k] <= 'Z') || p[k] == '_' || (k > 1 && p[k] >= '0' && p[k] <= '9'))
                                k++;
                        if (k > 2 && p[k] == '@') {
                                *n = k + 1;
                                return p;
                        }
                }
        }
        return NULL;
}

static bool has_build_var(const char *s) {
        size_t n;
        return s && find_build_var(s, &n);
}

static void scan_build_vars(loader *l, const rk_value *v, const char *personality, const char *path) {
        size_t n;
        const char *var;

        switch (rk_value_type(v)) {
        case RK_TYPE_STRING:
                var = find_build_var(rk_string(v), &n);
                if (var)
                        report(l, RK_DIAG_WARNING, personality, *path ? path : NULL,
                               "unexpanded build variable '%.*s': this Info.plist is a template that was not "
                               "processed",
                               (int) n, var);
                return;
        case RK_TYPE_DICT:
                for (size_t i = 0; i < rk_dict_size(v); i++) {
                        _cleanup_(freep) char *sub = NULL;
                        if (asprintf(&sub, "%s%s%s", path, *path ? "." : "", rk_dict_key_at(v, i)) < 0) {
                                sub = NULL; /* undefined after a failure */
                                return;
                        }
                        scan_build_vars(l, rk_dict_value_at(v, i), personality, sub);
                }
                return;
        case RK_TYPE_ARRAY:
                for (size_t i = 0; i < rk_array_size(v); i++) {
                        _cleanup_(freep) char *sub = NULL;
                        if (asprintf(&sub, "%s[%zu]", path, i) < 0) {
                                sub = NULL;
                                return;
                        }
                        scan_build_vars(l, rk_array_get(v, i), personality, sub);
                }
                return;
        default:
                return;
        }
}

static void check_build_vars(loader *l) {
        const rk_value *info = l->b->info;

        for (size_t i = 0; i < rk_dict_size(info); i++) {
                const char *key = rk_dict_key_at(info, i);
                const rk_value *v = rk_dict_value_at(info, i);
                if (streq(key, "IOKitPersonalities") && rk_value_is(v, RK_TYPE_DICT)) {
                        for (size_t j = 0; j < rk_dict_size(v); j++)
                                scan_build_vars(l, rk_dict_value_at(v, j), rk_dict_key_at(v, j), "");
                } else
                        scan_build_vars(l, v, NULL, key);
        }
}

/* ---- CFBundle keys ---------------------------------------------------- */

/* The key's value when it is a string; reports a missing key or another type. */
static const char *get_string(loader *l, const char *key, bool required, const char *why_required) {
        const rk_value *v = rk_dict_get(l->b->info, key);

        if (!v) {
                if (required)
                        error(l, key, "missing: %s", why_required);
                return NULL;
        }
        if (!rk_value_is(v, RK_TYPE_STRING)) {
                error(l, key, "must be a string, not %s", a_type(rk_value_type(v)));
                return NULL;
        }
        return rk_string(v);
}

static const char *identifier_problem(const char *s, size_t len) {
        if (len == 0)
                return "it is empty";
        if (strlen(s) != len)
                return "it contains a NUL character";
        if (s[0] == '.' || s[len - 1] == '.' || strstr(s, ".."))
                return "it has an empty component (a leading, trailing or doubled '.')";
        for (const char *p = s; *p; p++) {
                if (*p == ' ' || *p == '\t' || *p == '\n')
                        return "it contains white space";
                if (*p == '/')
                        return "it contains '/'";
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '-' || *p == '_'))
                        return "only letters, digits, '.', '-' and '_' are allowed";
        }
        return NULL;
}

static void check_identifier(loader *l) {
        const char *s = get_string(l, "CFBundleIdentifier", true,
                                   "every bundle needs an identifier (reverse DNS, like com.example.driver)");
        const char *why;

        if (!s || has_build_var(s))
                return; /* a template: scan_build_vars() warned */
        why = identifier_problem(s, rk_string_len(rk_dict_get(l->b->info, "CFBundleIdentifier")));
        if (why) {
                error(l, "CFBundleIdentifier", "'%s' is not a valid bundle identifier: %s", s, why);
                return;
        }
        if (l->b->kind == RK_BUNDLE_KEXT && strlen(s) > RK_KEXT_MAX_ID_LEN) {
                error(l, "CFBundleIdentifier", "a kext identifier may have at most %d characters, this has %zu",
                      RK_KEXT_MAX_ID_LEN, strlen(s));
                return;
        }
        l->b->identifier = s;
        if (!strchr(s, '.'))
                warning(l, "CFBundleIdentifier", "'%s' is not in reverse-DNS form (like com.example.driver)", s);
}

static void check_package_type(loader *l) {
        rk_bundle *b = l->b;
        bool dir = b->kind != RK_BUNDLE_PLIST;
        const char *s = get_string(l, "CFBundlePackageType", dir, "the bundle must declare its package type");

        b->package_type = s;
        l->rules = b->kind;
        if (!s || has_build_var(s))
                return;
        if (!dir) {
                for (rk_bundle_kind k = 0; k < RK_BUNDLE_PLIST; k++)
                        if (streq(s, kinds[k].package_type))
                                l->rules = k;
                if (l->rules == RK_BUNDLE_PLIST)
                        warning(l, "CFBundlePackageType",
                                "'%s' is not an extension or app package type (DEXT, KEXT, SYSX, APPL)", s);
                return;
        }
        if (!streq(s, kinds[b->kind].package_type))
                error(l, "CFBundlePackageType", "'%s' does not match the directory suffix %s (expected '%s')", s,
                      kinds[b->kind].suffix, kinds[b->kind].package_type);
}

/* Digits p[0..n) as a number, at most max_digits long. */
static bool number(const char *p, size_t n, size_t max_digits) {
        if (n == 0 || n > max_digits)
                return false;
        for (size_t i = 0; i < n; i++)
                if (p[i] < '0' || p[i] > '9')
                        return false;
        return true;
}

/*
 * Kext versions as OSKext parses them: MAJOR[.MINOR[.REVISION]] with up to
 * 4, 2 and 2 digits, optionally a stage (d, a, b, f or fc) and its number.
 * Other bundles: one to three numbers of up to 9 digits, no stage.
 */
static bool version_ok(const char *s, bool kext) {
        const char *p = s;
        unsigned parts = 0;

        for (;;) {
                size_t n = strspn(p, "0123456789");
                if (!number(p, n, kext ? (parts == 0 ? 4 : 2) : 9))
                        return false;
                p += n;
                parts++;
                if (*p != '.')
                        break;
                if (parts == 3)
                        return false;
                p++;
        }
        if (*p == 0)
                return true;
        if (!kext)
                return false;
        if (p[0] == 'f' && p[1] == 'c')
                p += 2;
        else if (strchr("dabf", *p))
                p++;
        else
                return false;
        return number(p, strlen(p), 3);
}

static void check_version(loader *l) {
        const char *s = get_string(l, "CFBundleVersion", true, "the bundle must have a version");
        bool kext = l->rules == RK_BUNDLE_KEXT;

        l->b->version = s;
        if (!s || has_build_var(s))
                return;
        if (!version_ok(s, kext))
                error(l, "CFBundleVersion", "'%s' is not a valid %s version: %s", s, kext ? "kext" : "bundle",
                      kext ? "1 to 3 dot-separated numbers (at most 9999.99.99), optionally followed by "
                             "d, a, b or fc and a number, like 1.2.3 or 2.0b4"
                           : "1 to 3 dot-separated numbers, like 1.2.3");
}

/* ---- executable, personalities, libraries ----------------------------- */

static bool is_extension(rk_bundle_kind k) {
        return k == RK_BUNDLE_DEXT || k == RK_BUNDLE_KEXT || k == RK_BUNDLE_SYSEXT;
}

static size_t n_personalities(const rk_bundle *b) {
        const rk_value *p = rk_dict_get(b->info, "IOKitPersonalities");
        return rk_value_is(p, RK_TYPE_DICT) ? rk_dict_size(p) : 0;
}

static int check_executable_file(loader *l, const char *name) {
        _cleanup_(freep) char *rel = NULL, *outside = NULL;
        _cleanup_(closep) int fd = -EBADF;
        struct stat st;

        if (asprintf(&rel, "Contents/MacOS/%s", name) < 0) {
                rel = NULL;
                return -ENOMEM;
        }
        fd = open_inside(l, rel, O_PATH, &outside);
        if (fd == -ENOENT || fd == -ENOTDIR) {
                error(l, "CFBundleExecutable", "%s does not exist", rel);
                return 0;
        }
        if (fd == -EXDEV) {
                error(l, "CFBundleExecutable", "%s leads outside the bundle (to %s): refused", rel, outside);
                return 0;
        }
        if (fd == -ENOMEM)
                return fd;
        if (fd < 0 || fstat(fd, &st) < 0) {
                error(l, "CFBundleExecutable", "cannot open %s: %s", rel, strerror(fd < 0 ? -fd : errno));
                return 0;
        }
        if (!S_ISREG(st.st_mode)) {
                error(l, "CFBundleExecutable", "%s is not a regular file", rel);
                return 0;
        }
        /* a kext is a shared object ringd loads; the others are programs */
        if (l->rules != RK_BUNDLE_KEXT && !(st.st_mode & 0111))
                warning(l, "CFBundleExecutable", "%s is not executable (mode %03o)", rel,
                        (unsigned) (st.st_mode & 0777));
        l->b->executable_path = join(l->b->path, rel);
        return l->b->executable_path ? 0 : -ENOMEM;
}

static int check_executable(loader *l) {
        rk_bundle *b = l->b;
        const rk_value *v = rk_dict_get(b->info, "CFBundleExecutable");
        const char *s;

        if (!v) {
                b->codeless = true;
                if (l->rules == RK_BUNDLE_APP)
                        error(l, "CFBundleExecutable", "missing: an app bundle needs an executable");
                else if (is_extension(l->rules) && n_personalities(b) == 0)
                        error(l, "CFBundleExecutable",
                              "missing, and the bundle has no IOKitPersonalities: a codeless %s must carry "
                              "personalities",
                              kinds[l->rules].name);
                return 0;
        }
        s = get_string(l, "CFBundleExecutable", true, "");
        if (!s || has_build_var(s))
                return 0;
        if (rk_string_len(v) == 0 || strlen(s) != rk_string_len(v) || strchr(s, '/') || streq(s, ".") ||
            streq(s, "..")) {
                error(l, "CFBundleExecutable", "'%s' is not a file name (empty, '.', '..' or containing '/')", s);
                return 0;
        }
        b->executable = s;
        if (b->kind == RK_BUNDLE_PLIST)
                return 0; /* no bundle directory to look in */
        return check_executable_file(l, s);
}

static void check_personalities(loader *l) {
        rk_bundle *b = l->b;
        const rk_value *v = rk_dict_get(b->info, "IOKitPersonalities");

        if (!v)
                return;
        if (!rk_value_is(v, RK_TYPE_DICT)) {
                error(l, "IOKitPersonalities", "must be a dictionary of personalities, not %s",
                      a_type(rk_value_type(v)));
                return;
        }
        b->personalities = (rk_value *) v;
        for (size_t i = 0; i < rk_dict_size(v); i++) {
                const char *name = rk_dict_key_at(v, i);
                const rk_value *p = rk_dict_value_at(v, i);
                rk_where w = { .file = b->info_path, .bundle = rk_bundle_name(b), .personality = name };

                if (!rk_value_is(p, RK_TYPE_DICT)) {
                        report(l, RK_DIAG_ERROR, name, NULL, "a personality must be a dictionary, not %s",
                               a_type(rk_value_type(p)));
                        continue;
                }
                /* the personality compiler owns the matching keys */
                rk_personality_validate(p, &w, l->diag);
        }
}

static void check_libraries(loader *l) {
        const rk_value *v = rk_dict_get(l->b->info, "OSBundleLibraries");

        if (l->rules != RK_BUNDLE_KEXT)
                return;
        if (!v) {
                if (!l->b->codeless)
                        warning(l, "OSBundleLibraries",
                                "missing: a kext with code should declare the libraries it links against");
                return;
        }
        if (!rk_value_is(v, RK_TYPE_DICT)) {
                error(l, "OSBundleLibraries", "must be a dictionary of identifier → version, not %s",
                      a_type(rk_value_type(v)));
                return;
        }
        for (size_t i = 0; i < rk_dict_size(v); i++) {
                const rk_value *ver = rk_dict_value_at(v, i);
                _cleanup_(freep) char *key = NULL;
                if (asprintf(&key, "OSBundleLibraries.%s", rk_dict_key_at(v, i)) < 0) {
                        key = NULL;
                        return;
                }
                if (!rk_value_is(ver, RK_TYPE_STRING))
                        error(l, key, "must be a version string, not %s", a_type(rk_value_type(ver)));
                else if (!has_build_var(rk_string(ver)) && !version_ok(rk_string(ver), true))
                        error(l, key, "'%s' is not a valid kext version", rk_string(ver));
        }
}

static int check_info(loader *l) {
        rk_bundle *b = l->b;

        if (!rk_value_is(b->info, RK_TYPE_DICT)) {
                error(l, NULL, "the Info.plist root must be a dictionary, not %s", a_type(rk_value_type(b->info)));
                return 0;
        }
        check_identifier(l); /* first: later messages name the bundle by it */
        check_build_vars(l);
        check_package_type(l);
        check_version(l);
        int r = check_executable(l);
        if (r < 0)
                return r;
        check_personalities(l);
        check_libraries(l);
        return 0;
}

/* ---- children --------------------------------------------------------- */

static int load_at(const char *path, const char *within, unsigned nesting, rk_bundle **ret, rk_diag *diag);

static rk_bundle_kind kind_from_suffix(const char *path) {
        size_t n = strlen(path);

        while (n > 1 && path[n - 1] == '/')
                n--;
        for (rk_bundle_kind k = 0; k < RK_BUNDLE_PLIST; k++) {
                size_t m = strlen(kinds[k].suffix);
                if (n > m && strncmp(path + n - m, kinds[k].suffix, m) == 0)
                        return k;
        }
        return _RK_BUNDLE_KIND_MAX;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void free_names(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

/* The entries of a directory, sorted, at most `max` of them (*more set past that). */
static int list_dir(int dfd, size_t max, char ***ret, size_t *ret_n, bool *more) {
        DIR *d = fdopendir(dfd);
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;

        if (!d) {
                close(dfd);
                return -errno;
        }
        *more = false;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue; /* ".", ".." and hidden files such as .DS_Store */
                if (n == max) {
                        *more = true;
                        break;
                }
                char **nn = realloc(names, (n + 1) * sizeof(*nn));
                if (!nn || !(nn[n] = strdup(de->d_name))) {
                        free_names(nn ? nn : names, n);
                        closedir(d);
                        return -ENOMEM;
                }
                names = nn;
                n++;
        }
        closedir(d);
        if (n > 0)
                qsort(names, n, sizeof(*names), cmp_names);
        *ret = names;
        *ret_n = n;
        return 0;
}

static int add_child(loader *l, const char *dir_rel, int dfd, const char *name, const rk_bundle_kind allowed[2]) {
        rk_bundle *b = l->b, *child = NULL;
        rk_bundle_kind k = kind_from_suffix(name);
        _cleanup_(freep) char *rel = NULL, *path = NULL;
        struct stat st;
        int r;

        if (asprintf(&rel, "%s/%s", dir_rel, name) < 0) {
                rel = NULL;
                return -ENOMEM;
        }
        if (k != allowed[0] && k != allowed[1]) {
                warning(l, NULL, "%s is not a %s or %s bundle: ignored", rel, kinds[allowed[0]].suffix,
                        kinds[allowed[1]].suffix);
                return 0;
        }
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                error(l, NULL, "cannot read %s: %s", rel, strerror(errno));
                return 0;
        }
        if (!S_ISDIR(st.st_mode)) {
                error(l, NULL, "%s is %s: refused", rel,
                      S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory");
                return 0;
        }
        if (l->nesting + 1 >= RK_BUNDLE_MAX_NESTING) {
                error(l, NULL, "%s: bundles nested deeper than %d levels are not loaded", rel,
                      RK_BUNDLE_MAX_NESTING);
                return 0;
        }
        path = join(b->path, rel);
        if (!path)
                return -ENOMEM;
        r = load_at(path, l->root, l->nesting + 1, &child, l->diag);
        if (r == -ENOMEM)
                return r;
        if (!child)
                return 0;
        rk_bundle **c = realloc(b->children, (b->n_children + 1) * sizeof(*c));
        if (!c) {
                rk_bundle_unref(child);
                return -ENOMEM;
        }
        b->children = c;
        b->children[b->n_children++] = child;
        return 0;
}

static int load_children(loader *l, const char *dir_rel, rk_bundle_kind a, rk_bundle_kind b2) {
        const rk_bundle_kind allowed[2] = { a, b2 };
        _cleanup_(freep) char *outside = NULL;
        char **names = NULL;
        size_t n = 0;
        bool more = false;
        int dfd, r;

        dfd = open_inside(l, dir_rel, O_RDONLY | O_DIRECTORY, &outside);
        if (dfd == -ENOENT)
                return 0;
        if (dfd == -EXDEV) {
                error(l, NULL, "%s leads outside the bundle (to %s): refused", dir_rel, outside);
                return 0;
        }
        if (dfd < 0) {
                if (dfd != -ENOMEM)
                        error(l, NULL, "cannot open %s: %s", dir_rel, strerror(-dfd));
                return dfd == -ENOMEM ? dfd : 0;
        }
        int keep = fcntl(dfd, F_DUPFD_CLOEXEC, 3); /* list_dir's closedir() takes dfd; fstatat needs one */
        if (keep < 0) {
                close(dfd);
                return -errno;
        }
        r = list_dir(dfd, RK_BUNDLE_MAX_CHILDREN, &names, &n, &more);
        if (r < 0) {
                close(keep);
                if (r != -ENOMEM)
                        error(l, NULL, "cannot read %s: %s", dir_rel, strerror(-r));
                return r == -ENOMEM ? r : 0;
        }
        if (more)
                error(l, NULL, "%s holds more than %d entries: the rest are not loaded", dir_rel,
                      RK_BUNDLE_MAX_CHILDREN);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = add_child(l, dir_rel, keep, names[i], allowed);
        close(keep);
        free_names(names, n);
        return r;
}

/* ---- loading ---------------------------------------------------------- */

static int bundle_new(rk_bundle_kind kind, const char *path, rk_bundle **ret) {
        rk_bundle *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->refs = 1;
        b->kind = kind;
        b->path = strdup(path);
        if (!b->path) {
                free(b);
                return -ENOMEM;
        }
        *ret = b;
        return 0;
}

/* A bundle directory; fd is open on it.  *ret stays NULL when no Info.plist could be read. */
static int load_dir(loader *l, const char *within, rk_bundle **ret) {
        rk_bundle *b = l->b;
        int r;

        r = fd_realpath(l->dirfd, b->path, &l->root);
        if (r < 0) {
                error(l, NULL, "cannot resolve the bundle directory: %s", strerror(-r));
                return r == -ENOMEM ? r : 0;
        }
        if (within && !path_inside(within, l->root)) {
                error(l, NULL, "the bundle leads outside its parent (to %s): refused", l->root);
                return 0;
        }
        r = read_bundle_info(l);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        r = check_info(l);
        if (r >= 0 && b->kind == RK_BUNDLE_APP && rk_value_is(b->info, RK_TYPE_DICT))
                r = load_children(l, "Contents/Library/SystemExtensions", RK_BUNDLE_DEXT, RK_BUNDLE_SYSEXT);
        else if (r >= 0 && b->kind == RK_BUNDLE_KEXT && rk_value_is(b->info, RK_TYPE_DICT))
                r = load_children(l, "Contents/PlugIns", RK_BUNDLE_KEXT, RK_BUNDLE_KEXT);
        if (r < 0)
                return r;
        *ret = rk_bundle_ref(b);
        return 0;
}

static int load_file(loader *l, int fd, rk_bundle **ret) {
        int r = read_plain_info(l, fd);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        r = check_info(l);
        if (r < 0)
                return r;
        *ret = rk_bundle_ref(l->b);
        return 0;
}

/*
 * Load one bundle (and its children).  Returns 0 with *ret set, or NULL when
 * nothing could be read (the problem reported), -ENOMEM, or the errno of a
 * path that cannot be opened at all.
 */
static int load_at(const char *path, const char *within, unsigned nesting, rk_bundle **ret, rk_diag *diag) {
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
        _cleanup_(closep) int fd = -EBADF;
        loader l = { .diag = diag, .dirfd = -EBADF, .nesting = nesting };
        rk_where w = { .file = path, .bundle = path };
        rk_bundle_kind kind;
        struct stat st;
        int r;

        *ret = NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "cannot open: %s", strerror(-r));
                return r;
        }
        kind = S_ISDIR(st.st_mode) ? kind_from_suffix(path) : RK_BUNDLE_PLIST;
        if (kind == _RK_BUNDLE_KIND_MAX) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w,
                            "not a bundle: expected a .dext, .kext, .systemextension or .app directory, or an "
                            "Info.plist file");
                return 0;
        }
        r = bundle_new(kind, path, &b);
        if (r < 0)
                return r;
        l.b = b;
        if (kind == RK_BUNDLE_PLIST)
                r = load_file(&l, fd, ret);
        else {
                l.dirfd = fd;
                r = load_dir(&l, within, ret);
        }
        free(l.root);
        return r;
}

int rk_bundle_load(const char *path, rk_bundle **ret, rk_diag *diag) {
        rk_diag local;
        rk_bundle *b = NULL;
        size_t before;
        int r;

        if (!path || !ret)
                return -EINVAL;
        rk_diag_init(&local);
        if (!diag)
                diag = &local;
        before = rk_diag_count(diag, RK_DIAG_ERROR);
        r = load_at(path, NULL, 0, &b, diag);
        if (r >= 0 && (!b || rk_diag_count(diag, RK_DIAG_ERROR) > before))
                r = -EBADMSG;
        if (r < 0 && r != -EBADMSG)
                b = rk_bundle_unref(b);
        rk_diag_done(&local);
        *ret = b;
        return r;
}

bool rk_bundle_is_bundle_name(const char *name) {
        static const char *const sfx[] = { ".dext", ".kext", ".systemextension", ".app", ".plist" };
        size_t len = name ? strlen(name) : 0;

        for (size_t i = 0; i < ELEMENTSOF(sfx); i++) {
                size_t n = strlen(sfx[i]);
                if (len > n && streq(name + len - n, sfx[i]))
                        return true;
        }
        return false;
}

static int compare_paths(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int rk_bundle_list_dir(const char *dir, char ***ret, size_t *ret_n) {
        DIR *dh;
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        if (!dir || !ret || !ret_n)
                return -EINVAL;
        dh = opendir(dir);
        if (!dh)
                return -errno;
        while ((de = readdir(dh))) {
                char **x;
                if (de->d_name[0] == '.' || !rk_bundle_is_bundle_name(de->d_name))
                        continue;
                x = realloc(names, (n + 1) * sizeof(*x));
                if (!x) {
                        r = -ENOMEM;
                        break;
                }
                names = x;
                if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(dh);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                return r;
        }
        if (n > 1)
                qsort(names, n, sizeof(*names), compare_paths);
        *ret = names;
        *ret_n = n;
        return 0;
}
