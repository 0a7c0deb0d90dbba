/* SPDX-License-Identifier: MIT */
/*
 * Verified exec and the extension sandbox (docs/sandbox.md).
 *
 * Verified exec: the executable is copied into a memfd, the memfd is sealed,
 * and the SHA-256 of the sealed bytes is compared with the code directory's.
 * The caller then runs the memfd itself (fexecve), so what runs is exactly
 * what was checked; a file changed on disk after activation is refused.
 *
 * Sandbox: rk_sandbox_apply() confines the calling process, in this order:
 *   1. close every fd above 2 that is not kept   (nothing leaks in)
 *   2. setrlimit NOFILE / NPROC                  (while raising is still
 *                                                 possible; soft = hard)
 *   3. PR_SET_NO_NEW_PRIVS                       (landlock needs it without
 *                                                 CAP_SYS_ADMIN; free to set)
 *   4. landlock: bundle ro+exec, data rw, system libraries ro+exec,
 *      /dev/null and granted devices rw, no TCP, scoped signals and
 *      abstract sockets                          (needs no privilege)
 *   5. setgroups(0), setresgid, setresuid; check they cannot be regained
 *   6. seccomp: a TIOCSTI filter, then the allow-list (last but one: it
 *      forbids the calls of 1-5)
 *   7. setrlimit AS                              (last: it could starve the
 *                                                 allocations of 1-6)
 * The helper tools/ringkit-sandbox-exec then execs the memfd.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "shared/diag.h"

#define RK_SHA256_LEN 32

/*
 * Warm-path cache: (dev, ino, size, mtime, ctime) -> SHA-256 of the bytes.
 * An entry is only made when the file's ctime was at least
 * RK_VEXEC_RACY_NS older than the moment the copy started, so a write in the
 * same timestamp tick as the hashing can never leave a matching entry (see
 * sandbox.c).  Single owner; not thread-safe.
 */
typedef struct rk_vexec_cache rk_vexec_cache;

/* Returns 0 or -ENOMEM. */
int rk_vexec_cache_new(rk_vexec_cache **ret);
rk_vexec_cache *rk_vexec_cache_free(rk_vexec_cache *c);
/*
 * The SHA-256 the cache's misses use.  The default is ringkit's own
 * (shared/sha256.h), so that ringkit-sandbox-exec need not load libcrypto;
 * ringd, which has it loaded, passes OpenSSL's, several times faster here.
 */
typedef void (*rk_sha256_fn)(const void *data, size_t len, uint8_t out[RK_SHA256_LEN]);
void rk_vexec_cache_set_hash(rk_vexec_cache *c, rk_sha256_fn fn);
/* Hits and misses since creation, for benchmarks and tests. */
void rk_vexec_cache_stats(const rk_vexec_cache *c, unsigned *ret_hits, unsigned *ret_misses);

/*
 * Copies `path` into a sealed memfd (write, grow, shrink and seal seals) and
 * checks its SHA-256 against `expected`.  On success *ret_memfd is an
 * O_CLOEXEC memfd ready for fexecve().  `cache` may be NULL (always hash).
 * Returns 0, -EINVAL (bad arguments), -EBADMSG (hash mismatch: "changed on
 * disk after activation"), -ELOOP (a symlink), -EACCES/-ENOENT/... from
 * open, -ENOEXEC (not a regular file), or another negative errno.
 */
int rk_verified_exec_prepare(const char *path, const uint8_t expected_sha256[RK_SHA256_LEN],
                             int *ret_memfd, rk_diag *d);
int rk_verified_exec_prepare_cached(rk_vexec_cache *cache, const char *path,
                                    const uint8_t expected_sha256[RK_SHA256_LEN], int *ret_memfd,
                                    rk_diag *d);

/* Checks that `fd` carries the write, grow and shrink seals: 0 or -EPERM/-EBADF. */
int rk_memfd_check_sealed(int fd);
/*
 * Copies `path` into a sealed memfd as rk_verified_exec_prepare() does, with
 * no hash to check: for tests and benches that load an image they built
 * themselves.  Returns the O_CLOEXEC memfd, or a negative errno (open's,
 * memfd_create's, -EAGAIN when the file shrank while being copied).
 */
int rk_memfd_seal_file(const char *path);

/* SHA-256 hex (64 chars) <-> bytes.  Returns 0 or -EINVAL. */
int rk_sha256_from_hex(const char *hex, uint8_t ret[RK_SHA256_LEN]);

/* Nanoseconds each step of rk_sandbox_apply() took (for the cost figures in docs/sandbox.md). */
typedef struct rk_sandbox_timing {
        uint64_t close_fds, rlimits, landlock, drop, seccomp;
} rk_sandbox_timing;

typedef struct rk_sandbox_config {
        uid_t uid;                  /* (uid_t) -1: keep (only allowed when not root) */
        gid_t gid;
        const char *bundle;         /* read-only + exec; may be NULL */
        const char *data;           /* private read-write; may be NULL */
        const char *const *ro;      /* extra read-only paths */
        size_t n_ro;
        const char *const *rw;      /* extra read-write paths, like data (tests' record files) */
        size_t n_rw;
        const char *const *dev;     /* device nodes allowed read-write (+ioctl) */
        size_t n_dev;
        const int *keep_fds;        /* kept besides 0, 1, 2 and exec_fd */
        size_t n_keep_fds;
        int exec_fd;                /* the memfd to exec, or -EBADF */
        int seccomp_fd;             /* a prebuilt filter (rk_sandbox_seccomp_export), or -EBADF: build it */
        bool no_network;
        rlim_t rlimit_as, rlimit_nofile, rlimit_nproc; /* 0: unchanged */
        rk_sandbox_timing *timing;  /* filled in when not NULL */
} rk_sandbox_config;

#define RK_SANDBOX_CONFIG_INIT                                            \
        ((rk_sandbox_config){ .uid = (uid_t) -1, .gid = (gid_t) -1, .exec_fd = -EBADF, .seccomp_fd = -EBADF })

/* Highest landlock ABI the kernel offers, or a negative errno (-EOPNOTSUPP, -ENOSYS). */
int rk_sandbox_landlock_abi(void);

/*
 * Confines the calling process (steps above).  Meant for a single-threaded
 * process that is about to exec: a forked child or ringkit-sandbox-exec.
 * On error the process is left partly confined; the caller must exit.  The
 * diagnostic names the failing step.  Returns 0, -EINVAL, -EOPNOTSUPP (no
 * landlock), -EPERM (privileges could be regained, or a drop failed), -E2BIG
 * (more than 63 fds to keep) or the errno of the failing step.
 */
int rk_sandbox_apply(const rk_sandbox_config *c, rk_diag *d);

/*
 * Build the seccomp filters of step 6 once, as classic BPF in a sealed
 * memfd (each program preceded by its length), so that each launch loads
 * them instead of compiling them again (about 2 ms a launch here).
 * rk_sandbox_apply() with seccomp_fd set loads them (reading with pread:
 * one fd may serve any number of launches) and closes its copy.
 * Only c->no_network shapes the filter.  Returns 0, -EINVAL, or an errno.
 */
int rk_sandbox_seccomp_export(const rk_sandbox_config *c, int *ret_fd);
