/* SPDX-License-Identifier: MIT */
/*
 * Verified exec and the extension sandbox; see sandbox.h and docs/sandbox.md.
 *
 * Verified exec, in this order, so that no window opens between check and
 * exec: open O_NOFOLLOW -> copy into a memfd -> seal it (write, grow,
 * shrink, seal) -> hash the sealed bytes -> compare.  The hash is of the
 * memfd, not of the file, so what is hashed is what runs.
 *
 * Warm cache.  An entry (dev, ino, size, mtime, ctime) -> hash lets an
 * unchanged file skip the hash (the copy still happens).  Why this cannot let
 * a changed file through:
 *   - every write, truncate, chmod, rename-over or link changes ctime, and
 *     ctime cannot be set from user space (utimensat sets only a/mtime);
 *     replacing the file changes ino (or dev);
 *   - timestamps are coarse (a tick), so a write in the same tick as the hash
 *     could keep ctime equal ("racy git").  An entry is therefore made only
 *     when ctime is RK_VEXEC_RACY_NS older than the moment the copy began;
 *     any later write stamps a ctime at or after that moment, so it differs;
 *   - the file is fstat'ed again after the copy; the copied bytes are trusted
 *     only if identity and times matched the entry before and after.
 * Left open (documented): setting the system clock backwards, and a shared
 * writable mapping made before the entry whose page is already dirty
 * (page_mkwrite updates times only on a clean page).  Bundles are root-owned
 * and dexts cannot write them, so neither is reachable from a dext.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rings/sandbox.h"
#include "shared/sha256.h"
#include "shared/macro.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* <linux/memfd.h>, 6.3 */
#endif

#define RK_VEXEC_RACY_NS (2LL * 1000000000LL)

typedef struct vexec_entry {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        uint8_t sha[RK_SHA256_LEN];
} vexec_entry;

struct rk_vexec_cache {
        vexec_entry *e;
        size_t n, cap;
        unsigned hits, misses;
        rk_sha256_fn hash;      /* NULL: ringkit's own */
};

void rk_vexec_cache_set_hash(rk_vexec_cache *c, rk_sha256_fn fn) {
        if (c)
                c->hash = fn;
}

int rk_vexec_cache_new(rk_vexec_cache **ret) {
        if (!ret)
                return -EINVAL;
        *ret = calloc(1, sizeof(rk_vexec_cache));
        return *ret ? 0 : -ENOMEM;
}

rk_vexec_cache *rk_vexec_cache_free(rk_vexec_cache *c) {
        if (c)
                free(c->e);
        free(c);
        return NULL;
}

void rk_vexec_cache_stats(const rk_vexec_cache *c, unsigned *ret_hits, unsigned *ret_misses) {
        if (ret_hits)
                *ret_hits = c ? c->hits : 0;
        if (ret_misses)
                *ret_misses = c ? c->misses : 0;
}

static bool ts_eq(struct timespec a, struct timespec b) {
        return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static long long ts_ns(struct timespec t) {
        return (long long) t.tv_sec * 1000000000LL + t.tv_nsec;
}

static bool st_same(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               ts_eq(a->st_mtim, b->st_mtim) && ts_eq(a->st_ctim, b->st_ctim);
}

static bool entry_matches(const vexec_entry *e, const struct stat *st) {
        return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
               ts_eq(e->mtime, st->st_mtim) && ts_eq(e->ctime, st->st_ctim);
}

static vexec_entry *cache_find(rk_vexec_cache *c, const struct stat *st) {
        for (size_t k = 0; c && k < c->n; k++)
                if (c->e[k].dev == st->st_dev && c->e[k].ino == st->st_ino)
                        return &c->e[k];
        return NULL;
}

static void cache_put(rk_vexec_cache *c, const struct stat *st, const uint8_t sha[RK_SHA256_LEN]) {
        vexec_entry *e = cache_find(c, st);

        if (!c)
                return;
        if (!e) {
                if (c->n == c->cap) {
                        size_t cap = c->cap ? c->cap * 2 : 16;
                        vexec_entry *n = realloc(c->e, cap * sizeof(*n));
                        if (!n)
                                return; /* a cache that cannot grow just misses */
                        c->e = n;
                        c->cap = cap;
                }
                e = &c->e[c->n++];
        }
        *e = (vexec_entry){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                            .mtime = st->st_mtim, .ctime = st->st_ctim };
        memcpy(e->sha, sha, RK_SHA256_LEN);
}

static void cache_drop(rk_vexec_cache *c, const struct stat *st) {
        vexec_entry *e = cache_find(c, st);

        if (e)
                *e = c->e[--c->n];
}

int rk_sha256_from_hex(const char *hex, uint8_t ret[RK_SHA256_LEN]) {
        if (!hex || !ret || strlen(hex) != 2 * RK_SHA256_LEN)
                return -EINVAL;
        for (size_t k = 0; k < RK_SHA256_LEN; k++) {
                unsigned v = 0;
                for (int h = 0; h < 2; h++) {
                        char ch = hex[2 * k + h];
                        int x = ch >= '0' && ch <= '9' ? ch - '0'
                                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
                        if (x < 0)
                                return -EINVAL;
                        v = v * 16 + (unsigned) x;
                }
                ret[k] = (uint8_t) v;
        }
        return 0;
}

static void sha_hex(const uint8_t sha[RK_SHA256_LEN], char out[2 * RK_SHA256_LEN + 1]) {
        for (size_t k = 0; k < RK_SHA256_LEN; k++)
                snprintf(out + 2 * k, 3, "%02x", sha[k]);
}

static int memfd_new(const char *path) {
        const char *base = strrchr(path, '/');
        int fd;

        base = base ? base + 1 : path;
        /* MFD_EXEC (6.3+) keeps the exec bit when vm.memfd_noexec asks for it. */
        fd = memfd_create(base, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
        if (fd < 0 && errno == EINVAL)
                fd = memfd_create(base, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        return fd < 0 ? -errno : fd;
}

static int copy_all(int in, int out, off_t size) {
        off_t done = 0;

        while (done < size) {
                ssize_t n = sendfile(out, in, NULL, (size_t) (size - done));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EAGAIN; /* shrank while copying: its ctime changed too */
                done += n;
        }
        return 0;
}

static int hash_fd(int fd, off_t size, uint8_t out[RK_SHA256_LEN], rk_sha256_fn fn) {
        void *p = NULL;
        int r = 0;

        if (size > 0) {
                p = mmap(NULL, (size_t) size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (p == MAP_FAILED)
                        return -errno;
        }
        (fn ? fn : rk_sha256)(p ? p : "", (size_t) size, out);
        if (p)
                munmap(p, (size_t) size);
        return r;
}

#define RK_SEALS (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

int rk_memfd_check_sealed(int fd) {
        int s = fcntl(fd, F_GET_SEALS);

        if (s < 0)
                return -errno;
        return (s & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK)) ==
                               (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK)
                       ? 0 : -EPERM;
}

int rk_memfd_seal_file(const char *path) {
        _cleanup_(closep) int in = open(path, O_RDONLY | O_CLOEXEC), fd = -EBADF;
        struct stat st;
        int r;

        if (in < 0 || fstat(in, &st) < 0)
                return -errno;
        fd = memfd_new(path);
        if (fd < 0)
                return fd;
        r = copy_all(in, fd, st.st_size);
        if (r < 0)
                return r;
        if (fcntl(fd, F_ADD_SEALS, RK_SEALS) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static int open_exec_file(const char *path, struct stat *st, rk_diag *d) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

        if (fd < 0) {
                int r = -errno;
                rk_diag_add(d, RK_DIAG_ERROR, &(rk_where){ .file = path }, "cannot open executable: %s%s",
                            strerror(-r), r == -ELOOP ? " (a symbolic link)" : "");
                return r;
        }
        if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
                close(fd);
                rk_diag_add(d, RK_DIAG_ERROR, &(rk_where){ .file = path }, "not a regular file");
                return -ENOEXEC;
        }
        return fd;
}

/* Copies and seals; *ret_stable says the file was unchanged across the copy. */
static int copy_sealed(int in, const char *path, const struct stat *before, int *ret_fd,
                       bool *ret_stable, rk_diag *d) {
        _cleanup_(closep) int mfd = memfd_new(path);
        struct stat after;
        int r;

        if (mfd < 0)
                return mfd;
        r = copy_all(in, mfd, before->st_size);
        if (r >= 0 && fstat(in, &after) < 0)
                r = -errno;
        if (r >= 0 && fcntl(mfd, F_ADD_SEALS, RK_SEALS) < 0)
                r = -errno;
        if (r < 0) {
                rk_diag_add(d, RK_DIAG_ERROR, &(rk_where){ .file = path }, "copying into a sealed memfd: %s",
                            strerror(-r));
                return r;
        }
        *ret_stable = st_same(before, &after);
        *ret_fd = TAKE_FD(mfd);
        return 0;
}

int rk_verified_exec_prepare_cached(rk_vexec_cache *cache, const char *path,
                                    const uint8_t expected[RK_SHA256_LEN], int *ret_memfd, rk_diag *d) {
        _cleanup_(closep) int in = -EBADF, mfd = -EBADF;
        uint8_t sha[RK_SHA256_LEN];
        struct timespec start;
        struct stat st;
        vexec_entry *e;
        bool stable = false;
        int r;

        if (!path || !expected || !ret_memfd)
                return -EINVAL;
        clock_gettime(CLOCK_REALTIME, &start);
        in = open_exec_file(path, &st, d);
        if (in < 0)
                return in;
        r = copy_sealed(in, path, &st, &mfd, &stable, d);
        if (r < 0)
                return r;
        e = cache_find(cache, &st);
        if (stable && e && entry_matches(e, &st) && memcmp(e->sha, expected, RK_SHA256_LEN) == 0) {
                cache->hits++;
                *ret_memfd = TAKE_FD(mfd);
                return 0;
        }
        if (cache)
                cache->misses++;
        r = hash_fd(mfd, st.st_size, sha, cache ? cache->hash : NULL);
        if (r < 0)
                return r;
        if (memcmp(sha, expected, RK_SHA256_LEN) != 0) {
                char got[2 * RK_SHA256_LEN + 1], want[2 * RK_SHA256_LEN + 1];
                sha_hex(sha, got);
                sha_hex(expected, want);
                cache_drop(cache, &st);
                rk_diag_add(d, RK_DIAG_ERROR, &(rk_where){ .file = path },
                            "executable changed on disk after activation: SHA-256 %s, code directory says %s; "
                            "refusing to launch it", got, want);
                return -EBADMSG;
        }
        if (stable && ts_ns(st.st_ctim) + RK_VEXEC_RACY_NS <= ts_ns(start))
                cache_put(cache, &st, sha);
        *ret_memfd = TAKE_FD(mfd);
        return 0;
}

int rk_verified_exec_prepare(const char *path, const uint8_t expected[RK_SHA256_LEN], int *ret_memfd,
                             rk_diag *d) {
        return rk_verified_exec_prepare_cached(NULL, path, expected, ret_memfd, d);
}

/* ---- sandbox ------------------------------------------------------------ */

/* Our own copies: the installed <linux/landlock.h> may predate ABI 4-6. */
struct rk_ll_ruleset_attr {
        uint64_t handled_access_fs, handled_access_net, scoped;
};
struct rk_ll_path_beneath {
        uint64_t allowed_access;
        int32_t parent_fd;
} __attribute__((packed));

#define LL_EXECUTE (1ULL << 0)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_READ_FILE (1ULL << 2)
#define LL_READ_DIR (1ULL << 3)
#define LL_REFER (1ULL << 13)
#define LL_TRUNCATE (1ULL << 14)
#define LL_IOCTL_DEV (1ULL << 15)
#define LL_FILE_ONLY (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_LOG_NEW_EXEC_ON (1U << 1)

typedef struct ll_ctx {
        int abi, ruleset;
        uint64_t fs; /* rights handled at this ABI */
        rk_diag *d;
} ll_ctx;

int rk_sandbox_landlock_abi(void) {
        long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

        if (v < 0)
                return errno == ENOSYS ? -ENOSYS : -EOPNOTSUPP;
        return (int) v;
}

static uint64_t ll_fs_rights(int abi) {
        uint64_t r = (1ULL << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */

        if (abi >= 2)
                r |= LL_REFER;
        if (abi >= 3)
                r |= LL_TRUNCATE;
        if (abi >= 5)
                r |= LL_IOCTL_DEV;
        return r;
}

/* `must`: a missing path is an error (caller-given) rather than skipped (defaults). */
static int ll_allow(ll_ctx *l, const char *path, uint64_t access, bool must) {
        struct rk_ll_path_beneath pb;
        struct stat st;
        int fd, r = 0;

        fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT && !must)
                        return 0;
                rk_diag_add(l->d, RK_DIAG_ERROR, &(rk_where){ .file = path }, "landlock rule: %s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
                access &= LL_FILE_ONLY;
        pb = (struct rk_ll_path_beneath){ .allowed_access = access & l->fs, .parent_fd = fd };
        if (syscall(SYS_landlock_add_rule, l->ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0) {
                r = -errno;
                rk_diag_add(l->d, RK_DIAG_ERROR, &(rk_where){ .file = path }, "landlock rule: %s", strerror(-r));
        }
        close(fd);
        return r;
}

#define LL_RO_EXEC (LL_EXECUTE | LL_READ_FILE | LL_READ_DIR)
#define LL_DEV_RW (LL_READ_FILE | LL_WRITE_FILE | LL_TRUNCATE | LL_IOCTL_DEV)

static int ll_rules(ll_ctx *l, const rk_sandbox_config *c) {
        /* The dynamic loader and libc need these; nothing under them is writable. */
        static const char *const sys[] = { "/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache" };
        int r = 0;

        for (size_t k = 0; k < ELEMENTSOF(sys) && r >= 0; k++)
                r = ll_allow(l, sys[k], LL_RO_EXEC, false);
        if (r >= 0)
                r = ll_allow(l, "/dev/null", LL_DEV_RW, true);
        if (r >= 0 && c->bundle)
                r = ll_allow(l, c->bundle, LL_RO_EXEC, true);
        /* Data: everything but execute (W^X) and device nodes. */
        if (r >= 0 && c->data)
                r = ll_allow(l, c->data, l->fs & ~(LL_EXECUTE | (1ULL << 6) | (1ULL << 11)), true);
        for (size_t k = 0; k < c->n_ro && r >= 0; k++)
                r = ll_allow(l, c->ro[k], LL_READ_FILE | LL_READ_DIR, true);
        for (size_t k = 0; k < c->n_rw && r >= 0; k++)
                r = ll_allow(l, c->rw[k], l->fs & ~(LL_EXECUTE | (1ULL << 6) | (1ULL << 11)), true);
        for (size_t k = 0; k < c->n_dev && r >= 0; k++)
                r = ll_allow(l, c->dev[k], LL_DEV_RW, true);
        return r;
}

static int step_landlock(const rk_sandbox_config *c, rk_diag *d) {
        ll_ctx l = { .d = d, .ruleset = -1 };
        struct rk_ll_ruleset_attr attr = { 0 };
        size_t attr_size = sizeof(uint64_t);
        int r;

        l.abi = rk_sandbox_landlock_abi();
        if (l.abi < 0) {
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "landlock: not available in this kernel");
                return -EOPNOTSUPP;
        }
        l.fs = ll_fs_rights(l.abi);
        attr.handled_access_fs = l.fs;
        if (l.abi >= 4) { /* no rule for TCP: all bind and connect denied */
                attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
                attr_size = 2 * sizeof(uint64_t);
        }
        if (l.abi >= 6) {
                attr.scoped = LL_SCOPE_SIGNAL | (c->no_network ? LL_SCOPE_ABSTRACT_UNIX : 0);
                attr_size = sizeof(attr);
        }
        l.ruleset = (int) syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
        if (l.ruleset < 0) {
                r = -errno;
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "landlock: create ruleset: %s", strerror(-r));
                return r;
        }
        r = ll_rules(&l, c);
        /* ABI 7: audit denials made after our exec too, not only in this image */
        if (r >= 0 && syscall(SYS_landlock_restrict_self, l.ruleset, l.abi >= 7 ? LL_LOG_NEW_EXEC_ON : 0) < 0) {
                r = -errno;
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "landlock: restrict self: %s", strerror(-r));
        }
        close(l.ruleset);
        return r;
}

static int step_close_fds(const rk_sandbox_config *c, rk_diag *d) {
        unsigned keep[64];
        size_t n = 0;
        unsigned from = 3;

        if (c->n_keep_fds >= ELEMENTSOF(keep) - 1) {
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "close fds: more than %zu fds to keep",
                            ELEMENTSOF(keep) - 1);
                return -E2BIG;
        }
        for (size_t k = 0; k < c->n_keep_fds; k++)
                if (c->keep_fds[k] > 2)
                        keep[n++] = (unsigned) c->keep_fds[k];
        if (c->exec_fd > 2)
                keep[n++] = (unsigned) c->exec_fd;
        if (c->seccomp_fd > 2)
                keep[n++] = (unsigned) c->seccomp_fd;
        /* insertion sort: n is small */
        for (size_t k = 1; k < n; k++)
                for (size_t j = k; j > 0 && keep[j - 1] > keep[j]; j--) {
                        unsigned t = keep[j];
                        keep[j] = keep[j - 1];
                        keep[j - 1] = t;
                }
        for (size_t k = 0; k <= n; k++) {
                unsigned to = k < n ? keep[k] : ~0U;
                if (to > from && syscall(SYS_close_range, from, to - 1, 0) < 0) {
                        int r = -errno;
                        rk_diag_add(d, RK_DIAG_ERROR, NULL, "close_range: %s", strerror(-r));
                        return r;
                }
                if (to != ~0U)
                        from = to + 1;
        }
        return 0;
}

static int set_one_rlimit(int res, rlim_t v, const char *name, rk_diag *d) {
        struct rlimit rl = { v, v };

        if (v == 0)
                return 0;
        if (setrlimit(res, &rl) < 0) {
                int r = -errno;
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "setrlimit %s: %s", name, strerror(-r));
                return r;
        }
        return 0;
}

static int step_rlimits(const rk_sandbox_config *c, rk_diag *d) {
        int r = set_one_rlimit(RLIMIT_NOFILE, c->rlimit_nofile, "RLIMIT_NOFILE", d);

        if (r >= 0)
                r = set_one_rlimit(RLIMIT_NPROC, c->rlimit_nproc, "RLIMIT_NPROC", d);
        return r;
}

static int step_drop(const rk_sandbox_config *c, rk_diag *d) {
        uid_t ru, eu, su;
        gid_t rg, eg, sg;

        if (c->uid == (uid_t) -1) {
                if (geteuid() == 0) {
                        rk_diag_add(d, RK_DIAG_ERROR, NULL, "drop privileges: no user given, refusing to run as root");
                        return -EPERM;
                }
                return 0;
        }
        if (c->uid == 0 || c->gid == 0 || c->gid == (gid_t) -1) {
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "drop privileges: uid/gid 0 or missing gid");
                return -EINVAL;
        }
        if (setgroups(0, NULL) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
            setresuid(c->uid, c->uid, c->uid) < 0) {
                int r = -errno;
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "drop privileges to %u:%u: %s", (unsigned) c->uid,
                            (unsigned) c->gid, strerror(-r));
                return r;
        }
        /* Each of these must fail now; if one works, the drop was not real. */
        if (setresuid(0, 0, 0) == 0 || setresgid(0, 0, 0) == 0 || setgroups(0, NULL) == 0 ||
            getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != c->uid ||
            eu != c->uid || su != c->uid || rg != c->gid || eg != c->gid || sg != c->gid) {
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "drop privileges: root could be regained");
                return -EPERM;
        }
        return 0;
}

static int step_no_new_privs(rk_diag *d) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                int r = -errno;
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "PR_SET_NO_NEW_PRIVS: %s", strerror(-r));
                return r;
        }
        return 0;
}

/*
 * Seccomp.  Default: EPERM, and the filter carries SECCOMP_FILTER_FLAG_LOG
 * so the kernel audits each denial (dmesg/journal where audit is built in).
 * The calls in `kill` end the process with SIGSYS; ringd sees "killed by
 * SIGSYS" and logs it.  Everything a libringdriver dext (and the loader,
 * libc and a Python probe) needs is in `allow`; paths are landlock's job.
 * execve/execveat stay allowed: the filter is installed before our own exec,
 * and afterwards landlock only lets the bundle and system binaries run.
 */
static const char *const sc_allow[] = {
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
        "pwritev2", "close", "close_range", "open", "openat", "openat2", "creat", "stat", "fstat",
        "lstat", "newfstatat", "statx", "fstatfs", "statfs", "lseek", "access", "faccessat",
        "faccessat2", "readlink", "readlinkat", "getcwd", "chdir", "fchdir", "getdents", "getdents64",
        "mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "rmdir",
        "ftruncate", "truncate", "fsync", "fdatasync", "fallocate", "fchmod", "fadvise64", "umask",
        "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl", "flock", "mmap", "munmap", "mprotect",
        "mremap", "madvise", "brk", "msync", "mincore", "futex", "futex_waitv", "set_robust_list",
        "get_robust_list", "set_tid_address", "rseq", "arch_prctl", "prctl", "membarrier", "exit",
        "exit_group", "wait4", "waitid", "kill", "tgkill", "tkill", "rt_sigaction",
        "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend",
        "sigaltstack", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
        "getgroups", "getresuid", "getresgid", "getpgrp", "getpgid", "getsid", "setsid", "setpgid",
        "uname", "sysinfo", "getrlimit", "prlimit64", "getrusage", "times", "clock_gettime",
        "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time", "epoll_create",
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
        "select", "pselect6", "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd",
        "signalfd4", "eventfd", "eventfd2", "socketpair", "connect", "bind", "listen", "accept",
        "accept4", "sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg", "shutdown",
        "getsockopt", "setsockopt", "getsockname", "getpeername", "memfd_create", "sched_yield",
        "sched_getaffinity", "getrandom", "execve", "execveat", "fork", "vfork", "capget",
        "getpriority", "ioprio_get", "sched_getparam", "sched_getscheduler", "pidfd_open",
        "pidfd_send_signal",
};

static const char *const sc_kill[] = {
        "process_vm_readv", "process_vm_writev", "bpf", "mount", "umount2", "fsopen", "fsmount",
        "fsconfig", "move_mount", "open_tree", "pivot_root", "kexec_load", "kexec_file_load",
        "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
        "open_by_handle_at", "iopl", "ioperm", "perf_event_open", "acct", "settimeofday",
        "clock_settime", "clock_adjtime", "adjtimex",
};

#define NS_FLAGS                                                                          \
        (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |       \
         CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)

static int sc_add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n_arg,
                  const struct scmp_arg_cmp *arg) {
        int nr = seccomp_syscall_resolve_name(name);

        if (nr == __NR_SCMP_ERROR)
                return 0; /* not on this architecture */
        return seccomp_rule_add_array(ctx, action, nr, n_arg, arg);
}

static int sc_rules(scmp_filter_ctx ctx, const rk_sandbox_config *c) {
        struct scmp_arg_cmp a;
        int r = 0;

        for (size_t k = 0; k < ELEMENTSOF(sc_allow) && r >= 0; k++)
                r = sc_add(ctx, SCMP_ACT_ALLOW, sc_allow[k], 0, NULL);
        for (size_t k = 0; k < ELEMENTSOF(sc_kill) && r >= 0; k++)
                r = sc_add(ctx, SCMP_ACT_KILL_PROCESS, sc_kill[k], 0, NULL);
        /* fork and threads yes, new namespaces no; clone3 hides its flags: ENOSYS makes libc use clone */
        a = SCMP_A0_64(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0);
        if (r >= 0)
                r = sc_add(ctx, SCMP_ACT_ALLOW, "clone", 1, &a);
        if (r >= 0)
                r = sc_add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
        /* ioctl: devices are limited by landlock (IOCTL_DEV); TIOCSTI would type into a tty */
        if (r >= 0) /* TIOCSTI is refused by the filter below */
                r = sc_add(ctx, SCMP_ACT_ALLOW, "ioctl", 0, NULL);
        if (c->no_network)
                a = SCMP_A0_32(SCMP_CMP_EQ, AF_UNIX, 0);
        if (r >= 0)
                r = sc_add(ctx, SCMP_ACT_ALLOW, "socket", c->no_network ? 1 : 0, &a);
        return r;
}

/*
 * TIOCSTI (typing into a terminal the dext inherited) gets a filter of its
 * own: libseccomp cannot hold an unconditional allow and a conditional deny
 * for the same call, and the kernel applies the stricter of two filters.
 * The kernel reads cmd as 32 bits, so the compare is masked: high garbage
 * bits cannot slip past.  Loaded first, while seccomp() is still allowed.
 */
static int sc_build_tiocsti(scmp_filter_ctx *ret) {
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        struct scmp_arg_cmp a = SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI);
        int r;

        if (!ctx)
                return -ENOMEM;
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r >= 0)
                r = sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &a);
        if (r < 0) {
                seccomp_release(ctx);
                return r;
        }
        *ret = ctx;
        return 0;
}

/* The allow-list; denials are EPERM, and logged by the kernel where it can. */
static int sc_build_main(const rk_sandbox_config *c, scmp_filter_ctx *ret) {
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
        int r;

        if (!ctx)
                return -ENOMEM;
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* already set, by us */
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
        if (r == -EOPNOTSUPP) /* old kernel: deny without logging */
                r = 0;
        if (r >= 0)
                r = sc_rules(ctx, c);
        if (r < 0) {
                seccomp_release(ctx);
                return r;
        }
        *ret = ctx;
        return 0;
}

/* One program into fd at its current offset, preceded by its length (u32, bytes). */
static int sc_export_one(scmp_filter_ctx ctx, int fd) {
        uint32_t len = 0;
        off_t at = lseek(fd, 0, SEEK_CUR), end;
        int r;

        if (at < 0 || write(fd, &len, sizeof(len)) != sizeof(len))
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        end = lseek(fd, 0, SEEK_CUR);
        if (end < 0)
                return -errno;
        len = (uint32_t) (end - at - (off_t) sizeof(len));
        if (pwrite(fd, &len, sizeof(len), at) != sizeof(len))
                return -errno;
        return 0;
}

int rk_sandbox_seccomp_export(const rk_sandbox_config *c, int *ret_fd) {
        _cleanup_(closep) int fd = memfd_create("ringkit-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        scmp_filter_ctx a = NULL, b = NULL;
        int r;

        if (!c || !ret_fd)
                return -EINVAL;
        if (fd < 0)
                return -errno;
        r = sc_build_tiocsti(&a);
        if (r >= 0)
                r = sc_build_main(c, &b);
        if (r >= 0)
                r = sc_export_one(a, fd);
        if (r >= 0)
                r = sc_export_one(b, fd);
        if (a)
                seccomp_release(a);
        if (b)
                seccomp_release(b);
        if (r >= 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
                r = -errno;
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int sc_load_raw(const struct sock_filter *prog, size_t n, bool log) {
        struct sock_fprog fp = { .len = (unsigned short) n, .filter = (struct sock_filter *) prog };

        if (n == 0 || n > BPF_MAXINSNS)
                return -EINVAL;
        if (log && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &fp) == 0)
                return 0;
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0)
                return -errno;
        return 0;
}

/* The two programs of rk_sandbox_seccomp_export(), read with pread (the fd's offset is shared). */
static int sc_load_fd(int fd, rk_diag *d) {
        off_t at = 0;

        for (int k = 0; k < 2; k++) {
                _cleanup_(freep) struct sock_filter *prog = NULL;
                uint32_t len;
                int r;

                if (pread(fd, &len, sizeof(len), at) != sizeof(len) || len == 0 || len % sizeof(struct sock_filter) ||
                    len > BPF_MAXINSNS * sizeof(struct sock_filter)) {
                        rk_diag_add(d, RK_DIAG_ERROR, NULL, "seccomp: the prebuilt filter fd holds no valid program");
                        return -EBADMSG;
                }
                prog = malloc(len);
                if (!prog)
                        return -ENOMEM;
                if (pread(fd, prog, len, at + (off_t) sizeof(len)) != (ssize_t) len) {
                        rk_diag_add(d, RK_DIAG_ERROR, NULL, "seccomp: the prebuilt filter is truncated");
                        return -EBADMSG;
                }
                r = sc_load_raw(prog, len / sizeof(struct sock_filter), k == 1);
                if (r < 0) {
                        rk_diag_add(d, RK_DIAG_ERROR, NULL, "seccomp (prebuilt filter %d): %s", k, strerror(-r));
                        return r;
                }
                at += (off_t) sizeof(len) + len;
        }
        return 0;
}

static int step_seccomp(const rk_sandbox_config *c, rk_diag *d) {
        scmp_filter_ctx ctx = NULL;
        int r;

        if (c->seccomp_fd >= 0) {
                r = sc_load_fd(c->seccomp_fd, d);
                close(c->seccomp_fd); /* read once; not for the program */
                return r;
        }
        r = sc_build_tiocsti(&ctx);
        if (r >= 0) {
                r = seccomp_load(ctx);
                seccomp_release(ctx);
        }
        if (r < 0) {
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "seccomp (TIOCSTI filter): %s", strerror(-r));
                return r;
        }
        r = sc_build_main(c, &ctx);
        if (r >= 0) {
                r = seccomp_load(ctx);
                seccomp_release(ctx);
        }
        if (r < 0)
                rk_diag_add(d, RK_DIAG_ERROR, NULL, "seccomp: %s", strerror(-r));
        return r;
}

static uint64_t now_ns(void) {
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (uint64_t) ts_ns(t);
}

/* Runs one step and, when asked, records how long it took. */
#define STEP(field, call)                                         \
        do {                                                      \
                uint64_t _t0 = now_ns();                          \
                if (r >= 0)                                       \
                        r = (call);                               \
                if (c->timing)                                    \
                        c->timing->field = now_ns() - _t0;        \
        } while (0)

int rk_sandbox_apply(const rk_sandbox_config *c, rk_diag *d) {
        int r = 0;

        if (!c || (c->uid == (uid_t) -1) != (c->gid == (gid_t) -1))
                return -EINVAL;
        STEP(close_fds, step_close_fds(c, d));
        STEP(rlimits, step_rlimits(c, d));
        STEP(landlock, step_no_new_privs(d) < 0 ? -EPERM : step_landlock(c, d));
        STEP(drop, step_drop(c, d));
        STEP(seccomp, step_seccomp(c, d));
        /*
         * RLIMIT_AS last: earlier, it could starve the steps' own allocations
         * (libseccomp; a sanitizer build's shadow).  Soft = hard, and raising
         * the hard limit needs CAP_SYS_RESOURCE, gone with the drop.
         */
        if (r >= 0)
                r = set_one_rlimit(RLIMIT_AS, c->rlimit_as, "RLIMIT_AS", d);
        return r;
}
