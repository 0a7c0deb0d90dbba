/* SPDX-License-Identifier: MIT */
/*
 * What an instance runs and how: trust, verified exec, the sandbox.
 *
 * Every launch of a dext (and every warm spare) goes through
 * launch_prepare():
 *
 *   1. Trust.  The bundle's signature is verified against ringd's trust
 *      store (rk_verify_bundle) the first time the bundle launches, and
 *      again whenever its signature files change.  A bundle that is not
 *      validly signed is refused -- unless developer mode is on, which
 *      allows unsigned and locally signed bundles and records each such
 *      relaxation (log and `ringctl status`).
 *   2. Verified exec.  The executable is copied into a sealed memfd and its
 *      SHA-256 compared with the code directory's entry for it (a warm
 *      cache skips the hash while the file's identity is unchanged).  What
 *      runs is that memfd, so a binary changed on disk after verification
 *      is refused at its next launch.  Unsigned bundles in developer mode
 *      are pinned to the hash of their first launch.  Codeless bundles run
 *      ringkit's built-in driver host, pinned to its hash at ringd's start.
 *   3. Sandbox.  ringd spawns ringkit-sandbox-exec with the memfd and the
 *      channel; it confines itself (fds, rlimits, no_new_privs, landlock:
 *      the bundle read-only, a private data directory, nothing else; its
 *      own uid per bundle; seccomp allow-list; no network) and fexecve()s
 *      the memfd.  `ringd --no-sandbox` skips this step (logged).
 *
 * Entitlements: launch_allows_provider() answers whether a bundle may be
 * matched to a provider (rk_entitlements_allow_provider on the signed
 * entitlements); nub.c asks before it tries a candidate.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rings/sandbox.h"
#include "ipc/proto.h"
#include "ringd/ringd.h"
#include "shared/macro.h"
#include "shared/sha256.h"
#include "trust/codedir.h"
#include "trust/entitlements.h"
#include "trust/sign.h"

#define UID_BASE 810000u /* per-bundle uids: UID_BASE + n, recorded in STATE/uids */
#define UID_MAX_BUNDLES 60000u

typedef struct file_id {
        uint64_t dev, ino, size;
        int64_t mtime_ns, ctime_ns;
} file_id;

typedef struct trust {
        char *bundle_path;
        file_id sig, cd, info;   /* the signature files and Info.plist when verified */
        int r;                   /* rk_verify_bundle()'s result */
        char *why;               /* its first error, for refusals */
        rk_signing_info *info_sig;
        bool relaxed;            /* the developer-mode relaxation was recorded */
        bool pinned;             /* unsigned in developer mode: sha is the first launch's */
        uint8_t sha[RK_SHA256_LEN];
        char *exe_rel;           /* app bundles (launch_bundle_signing): the last executable checked, */
        file_id exe_id;          /* its identity then, */
        bool exe_ok;             /* and whether its SHA-256 was the code directory's */
        struct trust *next;
} trust;

typedef struct uid_entry {
        char *bundle;
        uid_t uid;
} uid_entry;

struct launch_state {
        rk_vexec_cache *cache;
        trust *trusts;
        uid_entry *uids;
        size_t n_uids;
        char *uids_path, *data_root;
        int seccomp_fd;         /* the dexts' filter, built once (rk_sandbox_seccomp_export) */
        bool builtin_pinned;
        uint8_t builtin_sha[RK_SHA256_LEN];
};

static void file_identify(const char *path, file_id *id) {
        struct stat st;

        *id = (file_id){};
        if (stat(path, &st) < 0)
                return;
        *id = (file_id){ .dev = st.st_dev, .ino = st.st_ino, .size = (uint64_t) st.st_size,
                         .mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                         .ctime_ns = (int64_t) st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec };
}

static void bundle_file_id(const char *bundle, const char *rel, file_id *id) {
        _cleanup_(freep) char *p = NULL;

        *id = (file_id){};
        if (asprintf(&p, "%s/%s", bundle, rel) >= 0)
                file_identify(p, id);
}

/* ---- per-bundle uids ---- */

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static int uids_load(struct launch_state *ls) {
        _cleanup_(fclosep) FILE *f = fopen(ls->uids_path, "re");
        char line[512];

        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof(line), f)) {
                char name[400];
                unsigned u;
                uid_entry *x;

                if (sscanf(line, "%399s %u", name, &u) != 2 || u < UID_BASE || u >= UID_BASE + UID_MAX_BUNDLES)
                        continue;
                x = realloc(ls->uids, (ls->n_uids + 1) * sizeof(*x));
                if (!x)
                        return -ENOMEM;
                ls->uids = x;
                if (!(x[ls->n_uids].bundle = strdup(name)))
                        return -ENOMEM;
                x[ls->n_uids++].uid = u;
        }
        return 0;
}

/* Written whole to a temporary file and renamed: a crash leaves the old map or the new one. */
static int uids_save(struct launch_state *ls) {
        _cleanup_(freep) char *tmp = NULL;
        FILE *f;
        int r = 0;

        if (asprintf(&tmp, "%s.tmp", ls->uids_path) < 0)
                return -ENOMEM;
        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        for (size_t k = 0; k < ls->n_uids; k++)
                fprintf(f, "%s %u\n", ls->uids[k].bundle, (unsigned) ls->uids[k].uid);
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
                r = -errno;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, ls->uids_path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static int bundle_uid(ringd *d, const char *bundle, uid_t *ret) {
        struct launch_state *ls = d->launch;
        uid_t next = UID_BASE;
        uid_entry *x;
        int r;

        for (size_t k = 0; k < ls->n_uids; k++) {
                if (streq(ls->uids[k].bundle, bundle)) {
                        *ret = ls->uids[k].uid;
                        return 0;
                }
                if (ls->uids[k].uid >= next)
                        next = ls->uids[k].uid + 1;
        }
        if (next >= UID_BASE + UID_MAX_BUNDLES || strchr(bundle, ' ') || strchr(bundle, '\n'))
                return -ERANGE;
        x = realloc(ls->uids, (ls->n_uids + 1) * sizeof(*x));
        if (!x)
                return -ENOMEM;
        ls->uids = x;
        if (!(x[ls->n_uids].bundle = strdup(bundle)))
                return -ENOMEM;
        x[ls->n_uids++].uid = next;
        r = uids_save(ls);
        if (r < 0) {
                free(x[--ls->n_uids].bundle);
                return r;
        }
        log_info(d, "%s: runs as uid %u", bundle, (unsigned) next);
        *ret = next;
        return 0;
}

/* STATE/data/BUNDLE, owned by the bundle's uid, private. */
static int data_dir(ringd *d, const char *bundle, uid_t uid, char **ret) {
        struct launch_state *ls = d->launch;
        _cleanup_(freep) char *p = NULL;
        struct stat st;

        if (!*bundle || bundle[0] == '.' || strchr(bundle, '/'))
                return -EINVAL;
        if (asprintf(&p, "%s/%s", ls->data_root, bundle) < 0)
                return -ENOMEM;
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (lstat(p, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (geteuid() == 0 && (st.st_uid != uid || st.st_gid != uid) && chown(p, uid, uid) < 0)
                return -errno;
        *ret = TAKE_PTR(p);
        return 0;
}

/* ---- trust ---- */

static trust *trust_free(trust *t) {
        if (!t)
                return NULL;
        free(t->bundle_path);
        free(t->why);
        free(t->exe_rel);
        rk_signing_info_free(t->info_sig);
        free(t);
        return NULL;
}

static bool trust_current(const trust *t) {
        file_id sig, cd, info;

        bundle_file_id(t->bundle_path, RK_SIGNATURE_FILE, &sig);
        bundle_file_id(t->bundle_path, RK_CODEDIR_FILE, &cd);
        bundle_file_id(t->bundle_path, "Contents/Info.plist", &info);
        return memcmp(&sig, &t->sig, sizeof(sig)) == 0 && memcmp(&cd, &t->cd, sizeof(cd)) == 0 &&
               memcmp(&info, &t->info, sizeof(info)) == 0;
}

static int diag_first(rk_diag *dg, char **ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return -ENOMEM;
        rk_diag_print(dg, f);
        fclose(f);
        if (buf) {
                char *nl = strchr(buf, '\n');
                if (nl)
                        *nl = 0;
        }
        *ret = buf;
        return 0;
}

/* The bundle's trust record, verified now if it is new or its signature changed. */
static trust *trust_get_path(ringd *d, const char *path, const char *name) {
        struct launch_state *ls = d->launch;
        trust **pp, *t;
        rk_diag dg;

        for (pp = &ls->trusts; (t = *pp); pp = &t->next)
                if (streq(t->bundle_path, path))
                        break;
        if (t && trust_current(t))
                return t;
        if (t) {
                *pp = t->next;
                trust_free(t);
        }
        t = calloc(1, sizeof(*t));
        if (!t || !(t->bundle_path = strdup(path))) {
                free(t);
                return NULL;
        }
        bundle_file_id(path, RK_SIGNATURE_FILE, &t->sig);
        bundle_file_id(path, RK_CODEDIR_FILE, &t->cd);
        bundle_file_id(path, "Contents/Info.plist", &t->info);
        rk_diag_init(&dg);
        t->r = rk_verify_bundle(path, d->trust_dir, NULL, 0, &t->info_sig, &dg);
        if (t->r < 0 && diag_first(&dg, &t->why) < 0)
                t->why = NULL;
        rk_diag_done(&dg);
        if (t->r >= 0)
                log_info(d, "%s: signature valid (team %s)", name,
                         t->info_sig && t->info_sig->team ? t->info_sig->team : "?");
        t->next = ls->trusts;
        ls->trusts = t;
        return t;
}

static trust *trust_get(ringd *d, const rk_bundle *b) {
        return trust_get_path(d, b->path, rk_bundle_name((rk_bundle *) b));
}

static bool developer_mode(ringd *d) {
        return d->extdb && rk_extdb_get_developer_mode(d->extdb) > 0;
}

/* ---- public ---- */

/* OpenSSL's SHA-256 for the verified-exec cache: libcrypto is loaded here anyway (signatures). */
static void openssl_sha256(const void *data, size_t len, uint8_t out[RK_SHA256_LEN]) {
        if (!EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL))
                rk_sha256(data, len, out);
}

int launch_init(ringd *d) {
        struct launch_state *ls = calloc(1, sizeof(*ls));
        int r;

        if (!ls)
                return -ENOMEM;
        ls->seccomp_fd = -EBADF;
        d->launch = ls;
        if ((r = rk_vexec_cache_new(&ls->cache)) < 0)
                return r;
        rk_vexec_cache_set_hash(ls->cache, openssl_sha256);
        if (asprintf(&ls->uids_path, "%s/uids", d->state_dir) < 0 ||
            asprintf(&ls->data_root, "%s/data", d->state_dir) < 0)
                return -ENOMEM;
        if (mkdir(ls->data_root, 0711) < 0 && errno != EEXIST)
                return -errno;
        /* the bundles' uids must reach their data directories (and their store copies) through here */
        (void) chmod(d->state_dir, 0711);
        (void) chmod(ls->data_root, 0711);
        if (d->extdb_path)
                (void) chmod(d->extdb_path, 0600);
        if ((r = uids_load(ls)) < 0) {
                log_error(d, "launch: cannot read %s: %s", ls->uids_path, strerror(-r));
                return r;
        }
        if (d->no_sandbox)
                log_warning(d, "launch: --no-sandbox: dexts run unconfined, as ringd's user");
        else if (!d->sandbox_exec_path)
                log_warning(d, "launch: no ringkit-sandbox-exec found (--sandbox-exec PATH); dexts cannot start");
        else if (geteuid() != 0)
                log_warning(d, "launch: not root: dexts are sandboxed but keep ringd's uid");
        for (size_t k = 0; k < d->n_sandbox_rw; k++)
                log_warning(d, "launch: every dext may also write under %s (--sandbox-rw)", d->sandbox_rw[k]);
        if (!d->no_sandbox) {
                rk_sandbox_config c = RK_SANDBOX_CONFIG_INIT;
                c.no_network = true;
                r = rk_sandbox_seccomp_export(&c, &ls->seccomp_fd);
                if (r >= 0 && ls->seccomp_fd < 10) {
                        /* off the numbers the spawn's file actions write to */
                        int high = fcntl(ls->seccomp_fd, F_DUPFD_CLOEXEC, 10);
                        close(ls->seccomp_fd);
                        ls->seccomp_fd = high;
                        r = high < 0 ? -errno : 0;
                }
                if (r < 0)
                        log_warning(d, "launch: cannot prebuild the seccomp filter (%s); each launch builds it",
                                    strerror(-r));
        }
        return 0;
}

void launch_done(ringd *d) {
        struct launch_state *ls = d->launch;

        if (!ls)
                return;
        while (ls->trusts) {
                trust *t = ls->trusts;
                ls->trusts = t->next;
                trust_free(t);
        }
        for (size_t k = 0; k < ls->n_uids; k++)
                free(ls->uids[k].bundle);
        free(ls->uids);
        free(ls->uids_path);
        free(ls->data_root);
        rk_vexec_cache_free(ls->cache);
        if (ls->seccomp_fd >= 0)
                close(ls->seccomp_fd);
        free(ls);
        d->launch = NULL;
}

/*
 * --no-sandbox: the verified memfd runs unconfined, but still dies with
 * ringd, as ringkit-sandbox-exec --die-with-parent makes a sandboxed one
 * do.  posix_spawn() cannot set a parent-death signal, so this forks; the
 * child makes only async-signal-safe calls (ringd has threads) and mirrors
 * launch_spawn()'s file actions and attributes.  A parent already gone
 * when the signal is set means ringd died meanwhile: exit 127.
 */
/* Write the calling process's pid into a cgroup.procs file, with async-signal-safe calls only (a forked child of ringd). */
static bool join_cgroup_self(const char *procs) {
        char num[24], *p = num + sizeof(num);
        long v = (long) getpid();
        int fd;
        bool ok;

        do
                *--p = (char) ('0' + v % 10);
        while ((v /= 10) > 0);
        fd = open(procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ok = write(fd, p, (size_t) (num + sizeof(num) - p)) == num + sizeof(num) - p;
        return close(fd) == 0 && ok;
}

static int spawn_unconfined(int exec_fd, const int (*dups)[2], size_t n_dups, char **argv, char **env,
                            const char *cgroup_procs, pid_t *ret) {
        pid_t parent = getpid(), pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                struct sigaction dfl = { .sa_handler = SIG_DFL };
                sigset_t none;
                int null;

                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                if (cgroup_procs && !join_cgroup_self(cgroup_procs))
                        _exit(127);
                for (int sig = 1; sig < NSIG; sig++)
                        if (sig != SIGKILL && sig != SIGSTOP)
                                (void) sigaction(sig, &dfl, NULL);
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                (void) setpgid(0, 0);
                for (size_t k = 0; k < n_dups; k++) {
                        if (dups[k][0] == dups[k][1] ? fcntl(dups[k][1], F_SETFD, 0) < 0
                                                     : dup2(dups[k][0], dups[k][1]) < 0)
                                _exit(127);
                }
                null = open("/dev/null", O_RDONLY);
                if (null < 0 || (null != 0 && (dup2(null, 0) < 0 || close(null) < 0)))
                        _exit(127);
                execveat(exec_fd, "", argv, env, AT_EMPTY_PATH);
                _exit(127);
        }
        *ret = pid;
        return 0;
}

int launch_spawn(const launch_plan *plan, int exec_fd, const int (*dups)[2], size_t n_dups, char **argv,
                 char **env, const char *cgroup_procs, pid_t *ret) {
        _cleanup_(freep) char **with_cg = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, def;
        int r;

        if (!plan->path)
                return spawn_unconfined(exec_fd, dups, n_dups, argv, env, cgroup_procs, ret);
        if (cgroup_procs) {
                /* the helper joins it before anything else: argv[0] --cgroup-procs PATH argv[1]... */
                size_t n = 0;
                while (argv[n])
                        n++;
                with_cg = calloc(n + 3, sizeof(char *));
                if (!with_cg)
                        return -ENOMEM;
                with_cg[0] = argv[0];
                with_cg[1] = (char *) "--cgroup-procs";
                with_cg[2] = (char *) cgroup_procs;
                for (size_t k = 1; k < n; k++)
                        with_cg[k + 2] = argv[k];
                argv = with_cg;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&def);
        for (size_t k = 0; k < n_dups; k++)
                posix_spawn_file_actions_adddup2(&fa, dups[k][0], dups[k][1]);
        posix_spawn_file_actions_adddup2(&fa, exec_fd, RK_DEXT_EXEC_FD);
        if (plan->seccomp_fd >= 0) /* kept at 10 or above: see launch_prepare() */
                posix_spawn_file_actions_adddup2(&fa, plan->seccomp_fd, RK_DEXT_SECCOMP_FD);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &def);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
        r = -posix_spawn(ret, plan->path, &fa, &attr, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return r;
}

extern char **environ;

void launch_env_free(char **env) {
        if (env)
                for (char **p = env; *p; p++)
                        free(*p);
        free(env);
}

int launch_env(const char *const *kv, char ***ret) {
        size_t n = 0, x = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        while (kv && kv[2 * x])
                x++;
        env = calloc(n + x + 1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        for (size_t j = 0; j < n; j++)
                if (strncmp(environ[j], "RINGKIT_", 8) != 0 && !(env[k++] = strdup(environ[j])))
                        goto oom;
        for (size_t j = 0; j < x; j++)
                if (kv[2 * j + 1] && asprintf(&env[k++], "%s=%s", kv[2 * j], kv[2 * j + 1]) < 0) {
                        env[k - 1] = NULL; /* asprintf leaves it undefined */
                        goto oom;
                }
        *ret = env;
        return 0;
oom:
        launch_env_free(env);
        return -ENOMEM;
}

void launch_plan_done(launch_plan *p) {
        if (p->argv)
                for (char **a = p->argv; *a; a++)
                        free(*a);
        p->argv = mfree(p->argv);
        p->data_dir = mfree(p->data_dir);
        if (p->exec_fd >= 0)
                close(p->exec_fd);
        p->exec_fd = -EBADF;
}

static int argv_push(char ***argv, size_t *n, const char *fmt, ...) _printf_(3, 4);
static int argv_push(char ***argv, size_t *n, const char *fmt, ...) {
        char **x = realloc(*argv, (*n + 2) * sizeof(char *));
        va_list ap;
        int r;

        if (!x)
                return -ENOMEM;
        *argv = x;
        va_start(ap, fmt);
        r = vasprintf(&x[*n], fmt, ap);
        va_end(ap);
        if (r < 0) {
                x[*n] = NULL;
                return -ENOMEM;
        }
        x[++*n] = NULL;
        return 0;
}

/* The executable's bytes in a sealed memfd, checked against what was verified. */
static int verified_memfd(ringd *d, const rk_bundle *b, trust *t, const char *exe, const char *tag, int *ret_fd,
                          char **why) {
        struct launch_state *ls = d->launch;
        const uint8_t *expected = NULL;
        uint8_t sha[RK_SHA256_LEN];
        rk_diag dg;
        int r;

        if (!b->codeless && b->executable_path && t && t->r >= 0 && t->info_sig && t->info_sig->codedir) {
                const char *rel = exe + strlen(b->path);
                const rk_codedir_entry *e;
                while (*rel == '/')
                        rel++;
                e = rk_codedir_find(t->info_sig->codedir, rel);
                if (!e) {
                        (void) asprintf(why, "%s is not in the bundle's code directory", rel);
                        return -EBADMSG;
                }
                expected = e->hash;
        } else if (b->codeless || !b->executable_path) {
                expected = ls->builtin_pinned ? ls->builtin_sha : NULL;
        } else if (t && t->pinned)
                expected = t->sha;

        rk_diag_init(&dg);
        if (expected)
                r = rk_verified_exec_prepare_cached(ls->cache, exe, expected, ret_fd, &dg);
        else {
                /* pin: hash what runs now; later launches must run the same bytes */
                r = rk_codedir_hash_file(AT_FDCWD, exe, sha);
                if (r >= 0)
                        r = rk_verified_exec_prepare_cached(ls->cache, exe, sha, ret_fd, &dg);
                if (r >= 0) {
                        if (b->codeless || !b->executable_path) {
                                memcpy(ls->builtin_sha, sha, sizeof(sha));
                                ls->builtin_pinned = true;
                        } else if (t) {
                                memcpy(t->sha, sha, sizeof(sha));
                                t->pinned = true;
                        }
                }
        }
        if (r < 0 && diag_first(&dg, why) < 0)
                *why = NULL;
        rk_diag_done(&dg);
        (void) tag;
        return r;
}

int launch_prepare(ringd *d, const char *bundle_id, const char *exe, const char *tag, launch_plan *ret) {
        rk_bundle *b = catalogue_find_bundle(d, bundle_id);
        _cleanup_(freep) char *why = NULL, *data = NULL;
        _cleanup_(closep) int memfd = -EBADF;
        launch_plan p = { .exec_fd = -EBADF, .seccomp_fd = -EBADF };
        trust *t = NULL;
        uid_t uid = (uid_t) -1;
        size_t n = 0;
        int r;

        if (!b) {
                log_error(d, "%s: bundle %s is gone; not launched", tag, bundle_id);
                return -ENOENT;
        }
        /* 1. trust */
        t = trust_get(d, b);
        if (!t)
                return -ENOMEM;
        if (t->r < 0) {
                if (!developer_mode(d)) {
                        log_error(d, "%s: not launched: %s %s", tag, t->r == -ENOENT ? "the bundle is not signed;" : "its signature does not verify:",
                                  t->r == -ENOENT ? "sign it, or turn developer mode on (ringctl developer on)" : t->why ? t->why : strerror(-t->r));
                        return t->r == -ENOENT ? -ENOKEY : t->r;
                }
                if (!t->relaxed) {
                        _cleanup_(freep) char *what = NULL;
                        if (asprintf(&what, "launched %s", t->r == -ENOENT ? "unsigned" : t->why ? t->why : "with a signature that does not verify") >= 0)
                                activation_relax(d, bundle_id, what);
                        t->relaxed = true;
                }
        }
        /* 2. verified exec */
        r = verified_memfd(d, b, t, exe, tag, &memfd, &why);
        if (r < 0) {
                log_error(d, "%s: not launched: %s", tag, why ? why : strerror(-r));
                return r;
        }
        if (d->no_sandbox) {
                /* unconfined: the memfd itself is what runs */
                if ((r = argv_push(&p.argv, &n, "%s", exe)) < 0)
                        goto fail;
                p.path = NULL;
                p.exec_fd = TAKE_FD(memfd);
                *ret = p;
                return 0;
        }
        if (!d->sandbox_exec_path) {
                log_error(d, "%s: not launched: no ringkit-sandbox-exec to confine it", tag);
                return -ENOEXEC;
        }
        /* 3. the sandbox */
        if (geteuid() == 0) {
                r = bundle_uid(d, bundle_id, &uid);
                if (r < 0) {
                        log_error(d, "%s: not launched: no uid for %s: %s", tag, bundle_id, strerror(-r));
                        return r;
                }
        }
        r = data_dir(d, bundle_id, uid, &data);
        if (r < 0) {
                log_error(d, "%s: not launched: data directory: %s", tag, strerror(-r));
                return r;
        }
        if ((r = argv_push(&p.argv, &n, "%s", d->sandbox_exec_path)) < 0 ||
            (r = argv_push(&p.argv, &n, "--exec-fd=%d", RK_DEXT_EXEC_FD)) < 0 ||
            (r = argv_push(&p.argv, &n, "--keep-fd=%d", RK_DEXT_FD)) < 0 ||
            (r = argv_push(&p.argv, &n, "--data=%s", data)) < 0 ||
            (r = argv_push(&p.argv, &n, "--no-network")) < 0 ||
            (r = argv_push(&p.argv, &n, "--die-with-parent")) < 0 ||
            (r = argv_push(&p.argv, &n, "--rlimit-nofile=%u", 1024u)) < 0)
                goto fail;
        if (d->launch->seccomp_fd >= 0) {
                if ((r = argv_push(&p.argv, &n, "--seccomp-fd=%d", RK_DEXT_SECCOMP_FD)) < 0)
                        goto fail;
                p.seccomp_fd = d->launch->seccomp_fd;
        }
        if (!b->codeless && b->executable_path && (r = argv_push(&p.argv, &n, "--bundle=%s", b->path)) < 0)
                goto fail;
        if (uid != (uid_t) -1 && ((r = argv_push(&p.argv, &n, "--uid=%u", (unsigned) uid)) < 0 ||
                                  (r = argv_push(&p.argv, &n, "--gid=%u", (unsigned) uid)) < 0))
                goto fail;
        if (d->dext_memory_mib && (r = argv_push(&p.argv, &n, "--rlimit-as=%llu",
                                                 (unsigned long long) d->dext_memory_mib << 20)) < 0)
                goto fail;
        for (size_t k = 0; k < d->n_sandbox_rw; k++)
                if ((r = argv_push(&p.argv, &n, "--rw=%s", d->sandbox_rw[k])) < 0)
                        goto fail;
        if (b->codeless || !b->executable_path) {
                /* the built-in drivers: pseudo-terminals (serial); uinput and uhid come from ringd (devopen.c) */
                static const char *const devs[] = { "/dev/ptmx", "/dev/pts" };
                for (size_t k = 0; k < ELEMENTSOF(devs); k++)
                        if (access(devs[k], F_OK) == 0 && (r = argv_push(&p.argv, &n, "--dev=%s", devs[k])) < 0)
                                goto fail;
        }
        if ((r = argv_push(&p.argv, &n, "--")) < 0 || (r = argv_push(&p.argv, &n, "%s", exe)) < 0)
                goto fail;
        p.path = d->sandbox_exec_path;
        p.exec_fd = TAKE_FD(memfd);
        p.data_dir = TAKE_PTR(data);
        *ret = p;
        return 0;
fail:
        launch_plan_done(&p);
        return r;
}

bool launch_allows_provider(ringd *d, const char *bundle_id, const rk_match_provider *prov, const char **why) {
        rk_bundle *b = catalogue_find_bundle(d, bundle_id);
        trust *t;
        unsigned flags = developer_mode(d) ? RK_ENT_DEVELOPER_MODE : 0;

        if (!b) {
                *why = "bundle gone";
                return false;
        }
        t = trust_get(d, b);
        if (!t) {
                *why = "out of memory";
                return false;
        }
        if (t->r < 0 || !t->info_sig) {
                /* not validly signed: only launched in developer mode, which is then the only check */
                if (developer_mode(d))
                        return true;
                *why = t->r == -ENOENT || !t->why ? "not signed" : t->why;
                return false;
        }
        return rk_entitlements_allow_provider(t->info_sig->entitlements, prov, flags, why);
}

int launch_entitlements(ringd *d, const char *bundle_id, const rk_value **ret, const char **why) {
        rk_bundle *b = catalogue_find_bundle(d, bundle_id);
        trust *t;

        if (!b) {
                *why = "bundle gone";
                return -ENOENT;
        }
        t = trust_get(d, b);
        if (!t)
                return -ENOMEM;
        if (t->r < 0 || !t->info_sig) {
                *why = t->r == -ENOENT || !t->why ? "not signed" : t->why;
                return 0;
        }
        *ret = t->info_sig->entitlements;
        return 1;
}

/* SHA-256 of a file (a /proc/PID/exe: the very file the process runs, even if renamed or replaced since). */
static int file_sha256(const char *path, uint8_t out[RK_SHA256_LEN]) {
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        EVP_MD_CTX *ctx;
        uint8_t buf[65536];
        ssize_t n;
        int r = 0;

        if (fd < 0)
                return -errno;
        ctx = EVP_MD_CTX_new();
        if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
                EVP_MD_CTX_free(ctx);
                return -ENOMEM;
        }
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (!EVP_DigestUpdate(ctx, buf, (size_t) n))
                        r = -EIO;
        if (n < 0)
                r = -errno;
        if (r == 0 && !EVP_DigestFinal_ex(ctx, out, NULL))
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        return r;
}

int launch_bundle_signing(ringd *d, const char *bundle_path, const char *exe_rel, const char *exe_path,
                          const rk_signing_info **ret, const char **why) {
        trust *t = trust_get_path(d, bundle_path, bundle_path);
        const rk_codedir_entry *e;
        uint8_t sha[RK_SHA256_LEN];
        file_id id;

        if (!t)
                return -ENOMEM;
        if (t->r < 0 || !t->info_sig || (exe_rel && !t->info_sig->codedir)) {
                *why = t->r == -ENOENT ? "not signed" : t->why ? t->why : "the signature does not verify";
                return 0;
        }
        if (exe_rel) {
                file_identify(exe_path, &id);
                if (!t->exe_rel || !streq(t->exe_rel, exe_rel) || memcmp(&id, &t->exe_id, sizeof(id)) != 0 ||
                    id.ino == 0) {
                        free(t->exe_rel);
                        if (!(t->exe_rel = strdup(exe_rel)))
                                return -ENOMEM;
                        t->exe_id = id;
                        e = rk_codedir_find(t->info_sig->codedir, exe_rel);
                        t->exe_ok = e && file_sha256(exe_path, sha) == 0 && memcmp(sha, e->hash, sizeof(sha)) == 0;
                        log_info(d, "%s: executable %s hashed: %s", bundle_path, exe_rel,
                                 t->exe_ok ? "the signed one" : "NOT the signed one");
                }
                if (!t->exe_ok) {
                        *why = "the running executable is not the one the bundle's signature covers";
                        return 0;
                }
        }
        *ret = t->info_sig;
        return 1;
}
