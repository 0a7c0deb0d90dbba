/* SPDX-License-Identifier: MIT */
/*
 * Endpoint security in ringd: the owner of fanotify and of the process
 * connector, fanning events out to ES clients (libringkit-es,
 * include/ringkit/es.h) over RUN/es.sock (wire: ipc/es-proto.h).  User view:
 * docs/endpoint-security.md.
 *
 * Kernel side.  Two fanotify groups, because fanotify of 6.x does not give
 * permission events and directory-entry events in one group on every
 * kernel we target:
 *   perm   FAN_CLASS_CONTENT: FAN_OPEN_EXEC_PERM (AUTH_EXEC), FAN_OPEN_PERM
 *          (AUTH_OPEN); events carry an fd of the file;
 *   notif  FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME: FAN_OPEN_EXEC, FAN_OPEN,
 *          FAN_CLOSE_WRITE, FAN_CREATE, FAN_RENAME, FAN_DELETE; events carry
 *          the parent directory's file handle and the name.
 * Marks are FAN_MARK_FILESYSTEM on every --es-scope path (default /), and
 * only the bits some client subscribed to are marked: with no client, or
 * none subscribed to AUTH, no permission check slows anything down.
 * fork/exit come from the process connector (NETLINK_CONNECTOR,
 * CN_IDX_PROC), listened to only while someone subscribes to them.
 *
 * Why a thread.  A permission event blocks the process that caused it until
 * we answer.  ringd itself opens files (bundles it verifies, /proc) and
 * spawns processes with posix_spawn, whose vfork-style clone suspends ringd
 * until the child's execve passed its permission check.  If ringd's one
 * loop had to answer those, it would wait for itself.  So one thread,
 * perm_thread(), reads the perm group: events of ringd itself (its pid) and
 * of its direct children (extension processes ringd launched, which run
 * verified bytes) are allowed there at once; every other event is passed to
 * the loop through a non-blocking pipe (when the pipe is full, the event is
 * allowed and counted: ringd never waits).  Everything else runs in the
 * loop; the thread touches no other state.  The loop reads the group too,
 * and both wait for it exclusively, the loop first (EPOLLEXCLUSIVE): the
 * kernel wakes the thread only when the loop is not waiting, so an event
 * costs one wake-up, not two.
 *
 * An AUTH event (struct pending), and who moves it:
 *
 *     (read) ──auth_begin──► cached?  ── yes ──► answered from the cache
 *                               │ no
 *                               ▼
 *                 sent to every subscribed, unmuted client (one wait bit each)
 *                               │
 *     client_respond: DENY ─────┼──────────────► resolve(DENY)   (a deny wins)
 *     client_respond: ALLOW ────┤  bit cleared
 *     on_deadline: missed ──────┤  bit cleared, miss counted, default (allow)
 *     client_free: gone ────────┤  bit cleared, default
 *                               ▼ no bit left
 *                         resolve(ALLOW)
 *
 * resolve() writes FAN_ALLOW/FAN_DENY to the kernel, closes the event fd,
 * and caches the result when every subscribed client was asked and answered
 * with cache=true (a deny: when the denier said cache).  The cache key is
 * (event kind, the target's dev/ino/size/mtime/ctime, the process
 * executable's dev/ino); every change in the set of clients, their
 * subscriptions or mutes, and rk_es_clear_cache() start a new generation,
 * which invalidates every entry; a changed file changes its key.
 *
 * Admission (admit()): the peer's pid comes from SO_PEERPIDFD (checked still
 * alive after we looked, so a recycled pid cannot pass), its executable is
 * /proc/PID/exe; it must be the very file (same device and inode) that is
 * the executable of an activated-enabled system extension in ringd's store,
 * and that bundle must verify against the trust store with
 * com.apple.developer.endpoint-security.client in its signed entitlements.
 * In developer mode an unsigned or untrusted bundle is admitted and the
 * relaxation recorded (activation_relax).
 *
 * Supervised system extensions (sysext.c) do not connect: ringd launches
 * them from a memfd (so /proc/PID/exe is not the bundle's file) and hands
 * each entitled one a socket it already admitted (es_adopt()), having
 * checked the entitlement on the bundle's verified launch record.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/es-proto.h"
#include "ipc/es-wire.h"
#include "ringd/ringd.h"
#include "ringkit/es.h"
#include "shared/macro.h"
#include "trust/entitlements.h"
#include "trust/sign.h"

#define MAX_CLIENTS 32          /* one wait bit per client in a pending AUTH */
#define MAX_PENDING 8192        /* beyond: allowed at once, counted as overflow */
#define MAX_MUTES 256
#define MAX_BAD_LOGGED 8        /* messages that break the wire logged per client */
#define CACHE_SLOTS 1024
#define SIG_SLOTS 256
#define DEFAULT_DEADLINE_MS 1000
#define THREAD_GRACE_USEC 1000     /* see perm_thread() */
#define DEFAULT_SPIN_USEC 50       /* see spin_for_answers() */
#define PROC_SLOTS 1024            /* process information cache, see proc_get() */
#define EXEC_OPEN_SLOTS 64         /* allowed execs whose own open is still to come, see exec_allowed() */
#define EXEC_OPEN_WINDOW_USEC 200000

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define M(t) (UINT64_C(1) << (t))
#define AUTH_MASK (M(RK_ES_EVENT_TYPE_AUTH_EXEC) | M(RK_ES_EVENT_TYPE_AUTH_OPEN))
#define PROC_MASK (M(RK_ES_EVENT_TYPE_NOTIFY_FORK) | M(RK_ES_EVENT_TYPE_NOTIFY_EXIT))

typedef struct es_client es_client;
typedef struct pending pending;
typedef struct evbuf evbuf;

typedef struct mute {
        uint32_t kind;
        pid_t pid;
        char *path;
        size_t len;
} mute;

struct es_client {
        struct es_state *es;
        unsigned slot;
        uint32_t id;
        rk_channel *ch;
        rk_source *src;
        pid_t pid;
        char *bundle, *team, *exe;
        uint64_t subs;
        uint64_t deadline_usec;
        mute mutes[MAX_MUTES];
        size_t n_mutes;
        uint64_t n_events, n_auth, n_allowed, n_denied, n_missed, n_dropped, n_late;
        unsigned n_bad; /* messages that broke the wire (client_bad) */
};

struct pending {
        uint64_t id;
        pid_t pid;              /* the process that caused the event */
        int fd;                 /* the event's fd, answered and closed by resolve() */
        uint32_t kind;          /* RK_ES_EVENT_TYPE_AUTH_EXEC or _OPEN (cache key part) */
        uint32_t waiting;       /* one bit per client slot */
        bool cacheable;         /* every subscribed client asked, all said cache so far */
        uint64_t deadline[MAX_CLIENTS];
        uint64_t key[7];
        pending *prev, *next;
};

typedef struct cache_entry {
        uint64_t key[7];
        uint64_t gen;
        bool deny;
} cache_entry;

typedef struct sig_entry {
        uint64_t dev, ino, size;
        int64_t mtime_ns, ctime_ns;
        bool used, is_signed;
        char *team, *ident;
} sig_entry;

typedef struct proc_entry {     /* what /proc said of a process, valid until the connector says otherwise */
        pid_t pid;              /* 0: empty */
        pid_t ppid;
        uid_t uid;
        gid_t gid;
        bool have_ids;
        bool placeholder;       /* only pid and ppid known: a fork of a parent not read yet, see proc_forked() */
        struct stat exe_st;     /* zero when unknown */
        char *exe;
} proc_entry;

typedef struct exec_open {     /* an allowed exec of (dev, ino) by pid, at */
        pid_t pid;
        uint64_t dev, ino, at;
} exec_open;

typedef struct scope {
        char *path;
        int fd;                 /* the directory: mount fd for open_by_handle_at */
        fsid_t fsid;
} scope;

typedef struct fwd {            /* perm_thread -> loop */
        int32_t fd;
        int32_t pid;
        int32_t ppid;
        uint32_t mask;
} fwd;

typedef struct es_state {
        ringd *d;
        pid_t self;
        char *sock_path;
        int listen_fd;
        rk_source *listen_src;
        es_client *slots[MAX_CLIENTS];
        unsigned n_clients;
        uint32_t next_client_id;
        uint64_t deadline_usec;         /* default per client */
        uint64_t spin_usec;             /* --es-spin: wait this long for an answer before sleeping */
        bool spin_set;
        scope *scopes;
        size_t n_scopes;
        char **scope_args;
        size_t n_scope_args;
        bool disabled;                  /* fanotify unavailable */
        /* fanotify */
        int perm_fd, notif_fd;
        uint64_t perm_marked, notif_marked; /* fanotify bits currently marked */
        rk_source *notif_src;
        /* the perm thread */
        pthread_t thread;
        bool thread_running;
        int pipe_fd[2];
        int stop_fd;
        int thread_epoll;               /* the thread's: perm_fd (exclusive, after the loop's) and stop_fd */
        rk_source *pipe_src;
        rk_source *perm_src;            /* the loop reads the perm group too (below) */
        _Atomic uint64_t n_self_allowed, n_pipe_overflow;
        /* process connector */
        int cn_fd;
        rk_source *cn_src;
        bool cn_fanout;                 /* a client subscribed to fork/exit */
        proc_entry procs[PROC_SLOTS];   /* used while the connector runs */
        struct {
                pid_t pid, ppid;
        } proc_keys[PROC_SLOTS];        /* procs[k].pid and .ppid, packed: what the scans for children read */
        uint64_t n_proc_hits, n_proc_misses;
        /* AUTH */
        pending *head, *tail;
        size_t n_pending;
        uint64_t next_id;
        rk_source *timer;
        uint64_t timer_at;              /* UINT64_MAX when not armed */
        evbuf *ev;                      /* auth_begin()'s message, made once */
        exec_open exec_opens[EXEC_OPEN_SLOTS];
        uint64_t n_exec_opens;
        cache_entry cache[CACHE_SLOTS];
        uint64_t cache_gen;
        sig_entry sigs[SIG_SLOTS];
        /* counters */
        uint64_t n_auth, n_auth_denied, n_auth_defaulted, n_cache_hits, n_no_client, n_overflow, n_notify;
        uint64_t n_refused, n_admitted;
} es_state;

static void client_free(es_client *c);
static void marks_update(es_state *es);

/* ---- small helpers ---- */

static int read_link(const char *path, char *buf, size_t n) {
        ssize_t k = readlink(path, buf, n - 1);
        if (k < 0) {
                buf[0] = 0;
                return -errno;
        }
        buf[k] = 0;
        return 0;
}

static pid_t read_ppid(pid_t pid) {
        char p[64], buf[512], *s;
        ssize_t n;
        int fd;

        snprintf(p, sizeof(p), "/proc/%d/stat", (int) pid);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        s = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
        if (!s || strlen(s) < 4)
                return 0;
        return (pid_t) strtol(s + 4, NULL, 10); /* ") S PPID" */
}

static uint64_t hash64(const uint64_t *k, size_t n) {
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= k[i];
                h *= 1099511628211ULL;
                h ^= h >> 29;
        }
        return h;
}

/* ---- signing information, cached per file identity ---- */

/* The bundle directory of an executable at .../X.{app,dext,systemextension,kext}/Contents/MacOS/NAME. */
static bool bundle_of(const char *exe, char *out, size_t n) {
        const char *m = strstr(exe, "/Contents/MacOS/");
        size_t len;

        if (!m || strchr(m + 16, '/'))
                return false;
        len = (size_t) (m - exe);
        if (len >= n)
                return false;
        memcpy(out, exe, len);
        out[len] = 0;
        const char *dot = strrchr(out, '.');
        return dot && (streq(dot, ".app") || streq(dot, ".dext") || streq(dot, ".systemextension") ||
                       streq(dot, ".kext"));
}

static const sig_entry *sig_lookup(es_state *es, const char *path, const struct stat *st) {
        uint64_t k[2] = { st->st_dev, st->st_ino };
        sig_entry *e = &es->sigs[hash64(k, 2) % SIG_SLOTS];
        char bdir[PATH_MAX];

        if (e->used && e->dev == st->st_dev && e->ino == st->st_ino && e->size == (uint64_t) st->st_size &&
            e->mtime_ns == st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec &&
            e->ctime_ns == st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec)
                return e;
        free(e->team);
        free(e->ident);
        *e = (sig_entry){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size, .used = true,
                          .mtime_ns = st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
                          .ctime_ns = st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec };
        if (path && es->d->trust_dir && bundle_of(path, bdir, sizeof(bdir))) {
                rk_signing_info *info = NULL;
                rk_diag dg;
                rk_diag_init(&dg);
                if (rk_verify_bundle(bdir, es->d->trust_dir, NULL, 0, &info, &dg) == 0 && info && info->team) {
                        e->is_signed = true;
                        e->team = strdup(info->team);
                        e->ident = info->identifier ? strdup(info->identifier) : NULL;
                }
                rk_diag_done(&dg);
                rk_signing_info_free(info);
        }
        return e;
}

/* ---- messages ---- */

struct evbuf {
        rk_es_wire_event w;
        uint8_t data[RK_MSG_PAYLOAD_MAX];
        size_t len;
};

static void ev_init(evbuf *b, uint32_t type, pid_t pid) {
        memset(&b->w, 0, sizeof(b->w));
        b->w.type = type;
        b->w.pid = pid;
        b->w.time_usec = rk_now();
        b->len = sizeof(b->w);
}

static void ev_str(evbuf *b, int idx, const char *s) {
        size_t n;

        if (!s)
                return;
        n = strlen(s) + 1;
        if (n > UINT16_MAX || b->len + n > sizeof(b->data))
                return;
        /* strings must be appended in index order */
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->w.str_len[idx] = (uint16_t) n;
}

/*
 * The process information cache.  Reading /proc for an event's process
 * (stat for the parent, the directory for uid/gid, exe and its stat) costs
 * some 15-25 us, more than an AUTH round trip is allowed to add.  What /proc
 * said stays true until the process execs, changes its ids or exits -- and
 * the process connector reports exactly those.  So while the connector runs
 * (it does whenever someone subscribes to AUTH or fork/exit), an entry is
 * kept per pid and forgotten on PROC_EVENT_EXEC, _UID, _GID, _SID and _EXIT
 * (and, on an exit, the entries of its children, whose parent changes).
 * The connector's message for an exec is queued before the new image can
 * cause a fanotify event, so draining the connector right after reading
 * fanotify (cn_drain) is enough to never use a stale entry.  An overrun
 * connector socket (ENOBUFS) forgets everything.
 */
static void proc_forget(es_state *es, pid_t pid) {
        unsigned k = (unsigned) pid % PROC_SLOTS;
        proc_entry *e = &es->procs[k];
        if (e->pid == pid) {
                free(e->exe);
                *e = (proc_entry){};
                es->proc_keys[k].pid = es->proc_keys[k].ppid = 0;
        }
}

static void proc_forget_all(es_state *es) {
        for (unsigned k = 0; k < PROC_SLOTS; k++) {
                free(es->procs[k].exe);
                es->procs[k] = (proc_entry){};
        }
        memset(es->proc_keys, 0, sizeof(es->proc_keys));
}

/*
 * The scans below run for every exec and exit the connector reports, so
 * they read the packed keys (8 KiB), not the entries (over 170 KiB with
 * their struct stat): on a virtual machine whose caches went cold between
 * two spawns, the difference is tens of microseconds of ringd's time.
 */
static void proc_exited(es_state *es, pid_t pid) {
        proc_forget(es, pid);
        for (unsigned k = 0; k < PROC_SLOTS; k++)
                if (es->proc_keys[k].pid && es->proc_keys[k].ppid == pid)
                        proc_forget(es, es->proc_keys[k].pid);
}

/* pid exec'd or changed ids: its entry is wrong now, and so are the placeholders of its children (copies to be) */
static void proc_changed(es_state *es, pid_t pid) {
        proc_forget(es, pid);
        for (unsigned k = 0; k < PROC_SLOTS; k++)
                if (es->proc_keys[k].pid && es->proc_keys[k].ppid == pid && es->procs[k].placeholder)
                        proc_forget(es, es->proc_keys[k].pid);
}

static void proc_store(es_state *es, proc_entry *slot, proc_entry *e) {
        size_t k = (size_t) (slot - es->procs);
        free(slot->exe);
        *slot = *e;
        e->exe = NULL;
        es->proc_keys[k].pid = slot->pid;
        es->proc_keys[k].ppid = slot->ppid;
}

/*
 * A new process is its parent's copy until it execs or changes ids (both
 * reported, and forgotten above): same executable, same uid and gid.  So
 * the fork of a known parent makes the child known at once, and the fork of
 * a parent not known yet leaves a placeholder (pid, ppid) that the child's first
 * event fills from the parent, read from /proc once and kept.  The
 * AUTH_EXEC of a freshly spawned child -- the common case: fork or
 * posix_spawn, then exec -- then reads nothing from /proc once its parent
 * is known: /proc of a pid never seen costs tens of microseconds on a
 * virtual machine, as much as the rest of ringd's share of the round trip.
 */
static void proc_forked(es_state *es, pid_t parent, pid_t child) {
        const proc_entry *p = &es->procs[(unsigned) parent % PROC_SLOTS];
        proc_entry *e = &es->procs[(unsigned) child % PROC_SLOTS], n;

        if (parent <= 0 || child <= 0 || p == e)
                return;
        if (p->pid == parent && !p->placeholder) {
                n = *p;
                n.exe = p->exe ? strdup(p->exe) : NULL;
                if (p->exe && !n.exe)
                        return;
        } else
                n = (proc_entry){ .placeholder = true };
        n.pid = child;
        n.ppid = parent;
        proc_store(es, e, &n);
}

/*
 * What /proc says of pid; false when it is gone or was half-read.  The
 * parent and the effective uid and gid come from /proc/PID/status: the owner
 * of /proc/PID is root for a process that changed its ids (it is no longer
 * dumpable), whatever uid it runs as.
 */
static bool proc_read(pid_t pid, proc_entry *out) {
        char p[64], exe[PATH_MAX], buf[4096];
        ssize_t n;
        int fd;

        *out = (proc_entry){ .pid = pid };
        snprintf(p, sizeof(p), "/proc/%d/status", (int) pid);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (n > 0) {
                        buf[n] = 0;
                        const char *pp = strstr(buf, "\nPPid:"), *u = strstr(buf, "\nUid:"), *g = strstr(buf, "\nGid:");
                        unsigned ru, eu, rg, eg;
                        if (pp)
                                out->ppid = (pid_t) strtol(pp + 6, NULL, 10);
                        out->have_ids = u && g && sscanf(u + 5, "%u %u", &ru, &eu) == 2 && sscanf(g + 5, "%u %u", &rg, &eg) == 2;
                        if (out->have_ids) {
                                out->uid = eu;
                                out->gid = eg;
                        }
                }
        }
        snprintf(p, sizeof(p), "/proc/%d/exe", (int) pid);
        if (read_link(p, exe, sizeof(exe)) == 0 && exe[0])
                out->exe = strdup(exe);
        if (stat(p, &out->exe_st) < 0)
                memset(&out->exe_st, 0, sizeof(out->exe_st));
        return out->ppid && out->have_ids && out->exe;
}

static int on_cn(rk_source *s, int fd, uint32_t revents, void *ud);

static void cn_drain(es_state *es) {
        if (es->cn_fd >= 0)
                (void) on_cn(NULL, es->cn_fd, EPOLLIN, es);
}

/* Fill a placeholder from its parent (read and kept when not known); false: read the child itself. */
static bool proc_from_parent(es_state *es, proc_entry *e) {
        pid_t parent = e->ppid, child = e->pid;
        proc_entry *p = &es->procs[(unsigned) parent % PROC_SLOTS], n;

        if (p == e)
                return false;
        if (p->pid != parent || p->placeholder) {
                if (!proc_read(parent, &n)) {
                        free(n.exe);
                        return false;
                }
                es->n_proc_misses++;
                proc_store(es, p, &n);
                /* the parent may have exec'd or changed ids while we read: proc_changed() then drops it and this placeholder */
                cn_drain(es);
                if (p->pid != parent || e->pid != child || !e->placeholder)
                        return false;
        }
        n = *p;
        n.exe = p->exe ? strdup(p->exe) : NULL;
        if (p->exe && !n.exe)
                return false;
        n.pid = child;
        n.ppid = parent;
        proc_store(es, e, &n);
        return true;
}

/* Process info: pid, ppid, uid/gid, executable (from the cache, else /proc). */
static void ev_process(es_state *es, evbuf *b, pid_t pid, char *exe, size_t exe_len, struct stat *exe_st) {
        proc_entry *e = es->cn_fd >= 0 && pid > 0 ? &es->procs[(unsigned) pid % PROC_SLOTS] : NULL, n;
        const proc_entry *src;

        b->w.pid = pid;
        if (e && e->pid == pid && e->placeholder && !proc_from_parent(es, e) && e->pid == pid)
                proc_forget(es, pid);
        if (e && e->pid == pid) {
                es->n_proc_hits++;
                src = e;
        } else {
                bool whole = proc_read(pid, &n);
                if (e && whole) {
                        es->n_proc_misses++;
                        proc_store(es, e, &n);
                        src = e;
                } else
                        src = &n;
        }
        b->w.ppid = src->ppid;
        if (src->have_ids) {
                b->w.uid = src->uid;
                b->w.gid = src->gid;
        }
        snprintf(exe, exe_len, "%s", src->exe ? src->exe : "");
        if (exe_st)
                *exe_st = src->exe_st;
        if (src == &n)
                free(n.exe);
}

/*
 * The parent of pid: from the cache when it knows.  On a miss with the cache
 * running, the whole entry is read and kept, so that the event's
 * ev_process() right after finds it instead of reading /proc again.
 */
static pid_t proc_ppid(es_state *es, pid_t pid) {
        proc_entry *e = &es->procs[(unsigned) pid % PROC_SLOTS], n;
        pid_t ppid;

        if (es->cn_fd < 0 || pid <= 0)
                return read_ppid(pid);
        if (e->pid == pid)
                return e->ppid;
        bool whole = proc_read(pid, &n);
        ppid = n.ppid;
        if (whole) {
                es->n_proc_misses++;
                proc_store(es, e, &n);
        }
        free(n.exe);
        return ppid;
}

static void ev_process_strings(es_state *es, evbuf *b, const char *exe, const struct stat *exe_st) {
        const sig_entry *s = exe_st && exe_st->st_ino ? sig_lookup(es, exe, exe_st) : NULL;

        ev_str(b, RK_ES_STR_EXE, exe);
        if (s && s->is_signed) {
                b->w.flags |= RK_ES_F_PROC_SIGNED;
                ev_str(b, RK_ES_STR_TEAM, s->team);
                ev_str(b, RK_ES_STR_SIGNING_ID, s->ident);
        }
}

static bool has_prefix(const char *s, const char *p, size_t n) {
        return s && strncmp(s, p, n) == 0 && (s[n] == 0 || s[n] == '/' || p[n - 1] == '/');
}

static bool muted(const es_client *c, pid_t pid, const char *exe, const char *t1, const char *t2) {
        if (pid == c->pid)
                return true; /* a client never sees, nor has to authorise, its own actions */
        for (size_t k = 0; k < c->n_mutes; k++) {
                const mute *m = &c->mutes[k];
                switch (m->kind) {
                case RK_ES_MUTE_PID:
                        if (m->pid == pid)
                                return true;
                        break;
                case RK_ES_MUTE_EXE_LITERAL:
                        if (exe && streq(exe, m->path))
                                return true;
                        break;
                case RK_ES_MUTE_EXE_PREFIX:
                        if (has_prefix(exe, m->path, m->len))
                                return true;
                        break;
                case RK_ES_MUTE_TARGET_PREFIX:
                        if (has_prefix(t1, m->path, m->len) || has_prefix(t2, m->path, m->len))
                                return true;
                        break;
                }
        }
        return false;
}

/* Send to one client; false when it could not take it (counted as dropped). */
static bool client_send(es_client *c, evbuf *b) {
        int r;

        memcpy(b->data, &b->w, sizeof(b->w));
        r = rk_channel_send(c->ch, RK_ES_MSG_EVENT, 0, -EBADF, b->data, b->len);
        if (r < 0) {
                c->n_dropped++;
                return false;
        }
        if (rk_channel_has_pending(c->ch))
                (void) rk_source_set_io_events(c->src, EPOLLIN | EPOLLOUT);
        c->n_events++;
        return true;
}

/* A NOTIFY event to every client subscribed to `type` and not muting it. */
static void notify_fanout(es_state *es, evbuf *b, uint32_t type, const char *exe, const char *t1, const char *t2) {
        b->w.type = type;
        b->w.flags &= ~RK_ES_F_AUTH;
        for (unsigned s = 0; s < MAX_CLIENTS; s++) {
                es_client *c = es->slots[s];
                if (c && (c->subs & M(type)) && !muted(c, b->w.pid, exe, t1, t2))
                        (void) client_send(c, b);
        }
        es->n_notify++;
}

/* ---- AUTH: pending events, deadlines, the cache ---- */

static void fan_answer(es_state *es, int fd, bool deny) {
        struct fanotify_response resp = { .fd = fd, .response = deny ? FAN_DENY : FAN_ALLOW };
        if (write(es->perm_fd, &resp, sizeof(resp)) < 0)
                log_warning(es->d, "endpoint security: answering the kernel: %m");
        close(fd);
}

static cache_entry *cache_slot(es_state *es, const uint64_t key[7]) {
        return &es->cache[hash64(key, 7) % CACHE_SLOTS];
}

static void cache_invalidate(es_state *es) {
        es->cache_gen++;
}

/*
 * An exec is one AUTH_EXEC, as on macOS, not an AUTH_EXEC and an
 * AUTH_OPEN (and for a client of AUTH_OPEN alone, no event at all:
 * FAN_OPEN_EXEC_PERM is marked for AUTH_OPEN too, and answered here when
 * nobody wants AUTH_EXEC).  The kernel checks an exec's open twice, FAN_OPEN_EXEC_PERM
 * then FAN_OPEN_PERM, one right after the other in the exec'ing task, and
 * the second only if the first was allowed.  So when an exec is allowed
 * while FAN_OPEN_PERM is marked, remember (pid, file); the next permission
 * event of that pid, if it is an open of that file within the window, is
 * the exec's own and is allowed here, without asking the clients again.
 * Any other event of the pid, its exec or exit (connector), a change of
 * marks, or the window's end forgets the record: a later open is asked for
 * as usual.  A denied exec leaves no record.  (Two threads of one process:
 * another thread's open of the very file in that window is taken for the
 * exec's.)
 */
static void exec_allowed(es_state *es, pid_t pid, uint64_t dev, uint64_t ino) {
        if (pid > 0 && (es->perm_marked & FAN_OPEN_PERM))
                es->exec_opens[(unsigned) pid % EXEC_OPEN_SLOTS] = (exec_open){ pid, dev, ino, rk_now() };
}

static void exec_forget(es_state *es, pid_t pid) {
        exec_open *x = &es->exec_opens[(unsigned) pid % EXEC_OPEN_SLOTS];
        if (x->pid == pid)
                *x = (exec_open){};
}

/* Is this event the open of an exec just allowed?  The record goes either way. */
static bool exec_own_open(es_state *es, pid_t pid, bool open, const struct stat *st) {
        exec_open *x = &es->exec_opens[(unsigned) pid % EXEC_OPEN_SLOTS];
        bool own;

        if (pid <= 0 || x->pid != pid)
                return false;
        own = open && x->dev == (uint64_t) st->st_dev && x->ino == (uint64_t) st->st_ino &&
              rk_now() - x->at < EXEC_OPEN_WINDOW_USEC;
        *x = (exec_open){};
        return own;
}

static void resolve(es_state *es, pending *p, bool deny, bool cache) {
        fan_answer(es, p->fd, deny);
        if (!deny && p->kind == RK_ES_EVENT_TYPE_AUTH_EXEC)
                exec_allowed(es, p->pid, p->key[1], p->key[2]);
        if (cache) {
                cache_entry *e = cache_slot(es, p->key);
                memcpy(e->key, p->key, sizeof(e->key));
                e->gen = es->cache_gen;
                e->deny = deny;
        }
        if (deny)
                es->n_auth_denied++;
        if (p->prev)
                p->prev->next = p->next;
        else
                es->head = p->next;
        if (p->next)
                p->next->prev = p->prev;
        else
                es->tail = p->prev;
        es->n_pending--;
        free(p);
}

/* Clear a client's wait bit; resolves (default allow) when nobody is left. */
static void pending_release(es_state *es, pending *p, unsigned slot) {
        p->waiting &= ~(1u << slot);
        p->cacheable = false;
        es->n_auth_defaulted++;
        if (!p->waiting)
                resolve(es, p, false, false);
}

static void timer_arm(es_state *es, uint64_t at) {
        if (at >= es->timer_at)
                return;
        es->timer_at = at;
        (void) rk_source_set_time(es->timer, at);
        (void) rk_source_set_enabled(es->timer, RK_SOURCE_ONESHOT);
}

static int on_deadline(rk_source *s, uint64_t usec, void *ud) {
        es_state *es = ud;
        uint64_t now = rk_now(), next = UINT64_MAX;

        es->timer_at = UINT64_MAX;
        for (pending *p = es->head, *n; p; p = n) {
                n = p->next;
                for (unsigned k = 0; k < MAX_CLIENTS && p; k++) {
                        if (!(p->waiting & (1u << k)))
                                continue;
                        if (p->deadline[k] <= now) {
                                es_client *c = es->slots[k];
                                if (c) {
                                        c->n_missed++;
                                        log_info(es->d, "endpoint security: client %u (%s, pid %d) missed the deadline of event %llu; default: allow",
                                                 c->id, c->bundle, (int) c->pid, (unsigned long long) p->id);
                                }
                                bool last = p->waiting == (1u << k);
                                pending_release(es, p, k);
                                if (last)
                                        p = NULL; /* freed */
                        } else if (p->deadline[k] < next)
                                next = p->deadline[k];
                }
        }
        if (next != UINT64_MAX)
                timer_arm(es, next);
        return 0;
}

static void client_message(es_client *c, rk_msg *m);

/*
 * A client answers an AUTH event in tens of microseconds, less than it
 * costs to put ringd's loop to sleep and wake it again (a wake-up from idle
 * is the larger part of an AUTH round trip on a virtual machine).  So once
 * a batch of events is sent, the loop polls the sockets of the clients it
 * waits for during a short, bounded spin (--es-spin, default 50 us; 0 turns
 * it off) and handles their answers at once; a silent client waits for the
 * loop as before.  Only the loop spins, never the thread; after a batch,
 * not per event, so a burst is still sent out whole before anyone waits.
 * Between looks it yields: the client (or the process just allowed) may
 * have been woken onto this very CPU, and must not wait for the spin's end
 * (with a busy-wait instead, the spin made exec latency worse, bench-es).
 */
/* One look at the sockets of the clients some AUTH event waits for; false when none is waited for any more. */
static bool answers_step(void *ud) {
        es_state *es = ud;
        uint32_t waiting = 0;

        for (pending *p = es->head; p; p = p->next)
                waiting |= p->waiting;
        for (unsigned s = 0; s < MAX_CLIENTS; s++) {
                es_client *c = es->slots[s];
                rk_msg m = RK_MSG_INIT;
                if (!(waiting & (1u << s)) || !c)
                        continue;
                if (rk_channel_recv(c->ch, &m) <= 0)
                        continue; /* nothing yet; an error is the loop's to handle (on_client) */
                client_message(c, &m);
                rk_msg_done(&m);
        }
        return es->head != NULL;
}

static void spin_for_answers(es_state *es) {
        if (es->head)
                rk_spin(es->spin_usec, answers_step, es);
}

static void auth_begin(es_state *es, const fwd *f) {
        char exe[PATH_MAX], target[PATH_MAX], p[64];
        struct stat st, exe_st;
        uint64_t want = 0, now;
        evbuf *b;
        pending *pe;
        bool exec = f->mask & FAN_OPEN_EXEC_PERM;

        es->n_auth++;
        for (unsigned s = 0; s < MAX_CLIENTS; s++)
                if (es->slots[s])
                        want |= es->slots[s]->subs & AUTH_MASK;
        if (!(want & ((exec ? M(RK_ES_EVENT_TYPE_AUTH_EXEC) : 0) |
                      ((f->mask & FAN_OPEN_PERM) ? M(RK_ES_EVENT_TYPE_AUTH_OPEN) : 0)))) {
                es->n_no_client++;
                /* an exec nobody asks for, marked for AUTH_OPEN's sake: its own open comes next, not to be asked */
                if (exec && fstat(f->fd, &st) == 0)
                        exec_allowed(es, f->pid, st.st_dev, st.st_ino);
                fan_answer(es, f->fd, false);
                return;
        }
        if (es->n_pending >= MAX_PENDING) {
                es->n_overflow++;
                fan_answer(es, f->fd, false);
                return;
        }
        pe = calloc(1, sizeof(*pe));
        b = es->ev;
        if (!pe || !b || fstat(f->fd, &st) < 0) {
                free(pe);
                es->n_overflow++;
                fan_answer(es, f->fd, false);
                return;
        }
        if (exec_own_open(es, f->pid, !exec && (f->mask & FAN_OPEN_PERM), &st)) {
                es->n_exec_opens++;
                fan_answer(es, f->fd, false);
                free(pe);
                return;
        }
        ev_init(b, 0, f->pid);
        ev_process(es, b, f->pid, exe, sizeof(exe), &exe_st);
        pe->kind = exec ? RK_ES_EVENT_TYPE_AUTH_EXEC : RK_ES_EVENT_TYPE_AUTH_OPEN;
        pe->pid = f->pid;
        pe->key[0] = pe->kind;
        pe->key[1] = st.st_dev;
        pe->key[2] = st.st_ino;
        pe->key[3] = st.st_size;
        pe->key[4] = st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec;
        pe->key[5] = st.st_ctim.tv_sec * 1000000000ULL + st.st_ctim.tv_nsec;
        pe->key[6] = exe_st.st_dev * 0x9e3779b97f4a7c15ULL ^ exe_st.st_ino;
        cache_entry *ce = cache_slot(es, pe->key);
        if (ce->gen == es->cache_gen && es->cache_gen && memcmp(ce->key, pe->key, sizeof(ce->key)) == 0) {
                es->n_cache_hits++;
                if (ce->deny)
                        es->n_auth_denied++;
                fan_answer(es, f->fd, ce->deny);
                if (exec && !ce->deny)
                        exec_allowed(es, f->pid, st.st_dev, st.st_ino);
                free(pe);
                return;
        }
        snprintf(p, sizeof(p), "/proc/self/fd/%d", f->fd);
        (void) read_link(p, target, sizeof(target));
        ev_process_strings(es, b, exe, &exe_st);
        ev_str(b, RK_ES_STR_TARGET, target);
        if (exec) {
                const sig_entry *s = sig_lookup(es, target, &st);
                if (s->is_signed) {
                        b->w.flags |= RK_ES_F_TARGET_SIGNED;
                        ev_str(b, RK_ES_STR_TARGET_TEAM, s->team);
                        ev_str(b, RK_ES_STR_TARGET_SIGNING_ID, s->ident);
                }
        }
        pe->id = ++es->next_id;
        pe->fd = f->fd;
        pe->cacheable = true;
        b->w.id = pe->id;
        b->w.flags |= RK_ES_F_AUTH;
        now = rk_now();
        for (unsigned s = 0; s < MAX_CLIENTS; s++) {
                es_client *c = es->slots[s];
                uint32_t type;
                if (!c)
                        continue;
                if (exec && (c->subs & M(RK_ES_EVENT_TYPE_AUTH_EXEC)))
                        type = RK_ES_EVENT_TYPE_AUTH_EXEC;
                else if ((f->mask & FAN_OPEN_PERM) && (c->subs & M(RK_ES_EVENT_TYPE_AUTH_OPEN)))
                        type = RK_ES_EVENT_TYPE_AUTH_OPEN;
                else
                        continue;
                if (muted(c, f->pid, exe, target, NULL)) {
                        pe->cacheable = false;
                        continue;
                }
                b->w.type = type;
                b->w.deadline_usec = now + c->deadline_usec;
                if (!client_send(c, b)) {
                        pe->cacheable = false;
                        continue;
                }
                c->n_auth++;
                pe->waiting |= 1u << s;
                pe->deadline[s] = b->w.deadline_usec;
        }
        if (!pe->waiting) {
                fan_answer(es, pe->fd, false);
                if (exec)
                        exec_allowed(es, f->pid, st.st_dev, st.st_ino);
                free(pe);
                return;
        }
        pe->prev = es->tail;
        if (es->tail)
                es->tail->next = pe;
        else
                es->head = pe;
        es->tail = pe;
        es->n_pending++;
        for (unsigned s = 0; s < MAX_CLIENTS; s++)
                if (pe->waiting & (1u << s))
                        timer_arm(es, pe->deadline[s]);
}

static void client_respond(es_client *c, const rk_es_wire_respond *w) {
        es_state *es = c->es;
        pending *p;

        /* answers come mostly in order: search from the oldest */
        for (p = es->head; p && p->id != w->id; p = p->next)
                ;
        if (!p || !(p->waiting & (1u << c->slot))) {
                c->n_late++; /* after its deadline, or never asked: the default was given */
                return;
        }
        if (w->result == RK_ES_AUTH_RESULT_DENY) {
                c->n_denied++;
                resolve(es, p, true, w->cache != 0);
                return;
        }
        c->n_allowed++;
        p->waiting &= ~(1u << c->slot);
        if (!w->cache)
                p->cacheable = false;
        if (!p->waiting)
                resolve(es, p, false, p->cacheable);
}

/* ---- the perm thread and its pipe ---- */

/* Hand events to the loop; when the pipe is full the loop is behind: allow them rather than wait. */
static void forward(es_state *es, const fwd *out, size_t n_out) {
        ssize_t w = write(es->pipe_fd[1], out, n_out * sizeof(fwd));
        size_t done = w > 0 ? (size_t) w / sizeof(fwd) : 0; /* pipe writes under PIPE_BUF are all or nothing */

        for (size_t k = done; k < n_out; k++) {
                struct fanotify_response r = { .fd = out[k].fd, .response = FAN_ALLOW };
                (void) !write(es->perm_fd, &r, sizeof(r));
                close(out[k].fd);
                atomic_fetch_add(&es->n_pipe_overflow, 1);
        }
}

static void *perm_thread(void *ud) {
        es_state *es = ud;
        char buf[16384] __attribute__((aligned(8)));
        fwd out[128];
        sigset_t all;
        int ep = es->thread_epoll;

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        for (;;) {
                struct epoll_event ev[2];
                ssize_t n;
                size_t n_out = 0;
                int k = epoll_wait(ep, ev, 2, -1);
                bool stop = false;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (int i = 0; i < k; i++)
                        stop |= ev[i].data.fd == es->stop_fd;
                if (stop)
                        break;
                /*
                 * Give the loop the first go: it reads the same group, and
                 * an event it takes costs no hop through the pipe.  Whatever
                 * is still there after this pause the loop is not taking
                 * (it is blocked, most likely on one of these events).
                 */
                usleep(THREAD_GRACE_USEC);
                n = read(es->perm_fd, buf, sizeof(buf));
                if (n <= 0) {
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        break;
                }
                for (struct fanotify_event_metadata *md = (void *) buf; FAN_EVENT_OK(md, n);
                     md = FAN_EVENT_NEXT(md, n)) {
                        pid_t ppid;
                        if (md->fd < 0)
                                continue; /* queue overflow: no permission event is ever dropped by the kernel */
                        ppid = read_ppid(md->pid);
                        if (md->pid == es->self || ppid == es->self) {
                                struct fanotify_response r = { .fd = md->fd, .response = FAN_ALLOW };
                                (void) !write(es->perm_fd, &r, sizeof(r));
                                close(md->fd);
                                atomic_fetch_add(&es->n_self_allowed, 1);
                                continue;
                        }
                        out[n_out++] = (fwd){ .fd = md->fd, .pid = md->pid, .ppid = ppid, .mask = (uint32_t) md->mask };
                        if (n_out == ELEMENTSOF(out)) {
                                forward(es, out, n_out);
                                n_out = 0;
                        }
                }
                if (n_out)
                        forward(es, out, n_out);
        }
        return NULL;
}

/*
 * The loop reads the perm group as well: whichever of the two readers gets
 * an event handles it, so while ringd's loop is free an event costs no hop
 * through the pipe; while the loop is blocked (ringd opening a file or
 * spawning) the thread is there.  Events of ringd and its children are
 * allowed at once here as there.
 */
static int on_perm(rk_source *s, int fd, uint32_t revents, void *ud) {
        es_state *es = ud;
        char buf[16384] __attribute__((aligned(8)));

        for (int round = 0; round < 16; round++) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                cn_drain(es); /* before any use of the process cache: see proc_forget() */
                for (struct fanotify_event_metadata *md = (void *) buf; FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
                        if (md->fd < 0)
                                continue;
                        fwd f = { .fd = md->fd, .pid = md->pid, .ppid = proc_ppid(es, md->pid), .mask = (uint32_t) md->mask };
                        if (f.pid == es->self || f.ppid == es->self) {
                                atomic_fetch_add(&es->n_self_allowed, 1);
                                fan_answer(es, f.fd, false);
                                continue;
                        }
                        auth_begin(es, &f);
                }
                if ((size_t) n < sizeof(buf) / 2)
                        break; /* the queue was emptied; what comes next wakes the loop again */
        }
        spin_for_answers(es);
        return 0;
}

static int on_pipe(rk_source *s, int fd, uint32_t revents, void *ud) {
        es_state *es = ud;
        fwd in[128];

        for (int round = 0; round < 16; round++) {
                ssize_t n = read(fd, in, sizeof(in));
                if (n <= 0)
                        break;
                cn_drain(es);
                for (size_t k = 0; k < (size_t) n / sizeof(fwd); k++)
                        auth_begin(es, &in[k]);
                if ((size_t) n < sizeof(in))
                        break;
        }
        spin_for_answers(es);
        return 0;
}

/* ---- NOTIFY events from the notif group ---- */

static const scope *scope_of(es_state *es, const __kernel_fsid_t *fsid) {
        for (size_t k = 0; k < es->n_scopes; k++)
                if (memcmp(&es->scopes[k].fsid, fsid, sizeof(*fsid)) == 0)
                        return &es->scopes[k];
        return NULL;
}

/* "DIR/NAME" of a DFID_NAME record, into out. */
static bool fid_path(es_state *es, const struct fanotify_event_info_fid *fid, char *out, size_t n) {
        const struct file_handle *fh = (const void *) fid->handle;
        const char *name = (const char *) fh->f_handle + fh->handle_bytes;
        const scope *sc = scope_of(es, &fid->fsid);
        char p[64], dir[PATH_MAX];
        union {
                struct file_handle fh;
                char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
        } h;
        int fd;

        if (!sc || fh->handle_bytes > MAX_HANDLE_SZ) {
                log_debug(es->d, "endpoint security: event on an unknown filesystem (fsid %x:%x)", fid->fsid.val[0],
                          fid->fsid.val[1]);
                return false;
        }
        memcpy(&h, fh, sizeof(*fh) + fh->handle_bytes);
        fd = open_by_handle_at(sc->fd, &h.fh, O_PATH | O_CLOEXEC);
        if (fd < 0) {
                log_debug(es->d, "endpoint security: directory handle on %s: %m", sc->path);
                return false;
        }
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        int r = read_link(p, dir, sizeof(dir));
        close(fd);
        if (r < 0)
                return false;
        if (streq(name, "."))
                snprintf(out, n, "%s", dir);
        else
                snprintf(out, n, "%s%s%s", dir, streq(dir, "/") ? "" : "/", name);
        return true;
}

static void notif_one(es_state *es, const struct fanotify_event_metadata *md, evbuf *b) {
        static const struct {
                uint64_t bit;
                uint32_t type;
        } map[] = {
                { FAN_OPEN_EXEC, RK_ES_EVENT_TYPE_NOTIFY_EXEC }, { FAN_OPEN, RK_ES_EVENT_TYPE_NOTIFY_OPEN },
                { FAN_CLOSE_WRITE, RK_ES_EVENT_TYPE_NOTIFY_CLOSE }, { FAN_CREATE, RK_ES_EVENT_TYPE_NOTIFY_CREATE },
                { FAN_RENAME, RK_ES_EVENT_TYPE_NOTIFY_RENAME }, { FAN_DELETE, RK_ES_EVENT_TYPE_NOTIFY_UNLINK },
        };
        char exe[PATH_MAX], t1[PATH_MAX] = "", t2[PATH_MAX] = "";
        struct stat exe_st;
        bool have1 = false, have2 = false;

        if (md->pid == es->self)
                return; /* ringd's own reading of bundles and /proc */
        for (const char *q = (const char *) (md + 1); q < (const char *) md + md->event_len;) {
                const struct fanotify_event_info_header *h = (const void *) q;
                if (h->len < sizeof(*h) || q + h->len > (const char *) md + md->event_len)
                        break;
                const struct fanotify_event_info_fid *fid = (const void *) q;
                if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME || h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME)
                        have1 = fid_path(es, fid, t1, sizeof(t1));
                else if (h->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)
                        have2 = fid_path(es, fid, t2, sizeof(t2));
                q += h->len;
        }
        ev_init(b, 0, md->pid);
        ev_process(es, b, md->pid, exe, sizeof(exe), &exe_st);
        ev_process_strings(es, b, exe, &exe_st);
        ev_str(b, RK_ES_STR_TARGET, have1 ? t1 : NULL);
        ev_str(b, RK_ES_STR_TARGET2, have2 ? t2 : NULL);
        for (size_t k = 0; k < ELEMENTSOF(map); k++)
                if (md->mask & map[k].bit) {
                        /* an exec open is reported as NOTIFY_EXEC only */
                        if (map[k].bit == FAN_OPEN && (md->mask & FAN_OPEN_EXEC))
                                continue;
                        notify_fanout(es, b, map[k].type, exe, have1 ? t1 : NULL, have2 ? t2 : NULL);
                }
}

static int on_notif(rk_source *s, int fd, uint32_t revents, void *ud) {
        es_state *es = ud;
        char buf[16384] __attribute__((aligned(8)));
        char one[sizeof(buf)] __attribute__((aligned(8)));
        evbuf *b = malloc(sizeof(*b));

        if (!b)
                return 0;
        for (int round = 0; round < 8; round++) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                cn_drain(es);
                /*
                 * Events with file identifiers are padded to 4 bytes, not 8
                 * (FANOTIFY_EVENT_ALIGN): one that starts off an 8-byte
                 * boundary is copied before its u64 mask is read (found by
                 * test-hostile under UBSan).
                 */
                for (size_t off = 0; (size_t) n - off >= FAN_EVENT_METADATA_LEN;) {
                        struct fanotify_event_metadata *md = (void *) (buf + off);
                        uint32_t len;
                        memcpy(&len, buf + off + offsetof(struct fanotify_event_metadata, event_len), sizeof(len));
                        if (len < FAN_EVENT_METADATA_LEN || len > (size_t) n - off)
                                break;
                        if (off & 7)
                                md = memcpy(one, buf + off, len);
                        off += len;
                        if (md->fd >= 0)
                                close(md->fd);
                        if (md->mask & FAN_Q_OVERFLOW) {
                                log_warning(es->d, "endpoint security: notification queue overflowed; events lost");
                                continue;
                        }
                        notif_one(es, md, b);
                }
        }
        free(b);
        return 0;
}

/* ---- process connector: fork and exit ---- */

static int cn_send(int fd, enum proc_cn_mcast_op op) {
        /* nlmsghdr, cn_msg (whose data[] is flexible), then the operation */
        char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op))] __attribute__((aligned(8))) = {};
        struct nlmsghdr *nl = (void *) buf;
        struct cn_msg *cn = NLMSG_DATA(nl);

        nl->nlmsg_len = NLMSG_LENGTH(sizeof(*cn) + sizeof(op));
        nl->nlmsg_type = NLMSG_DONE;
        cn->id.idx = CN_IDX_PROC;
        cn->id.val = CN_VAL_PROC;
        cn->len = sizeof(op);
        memcpy(cn->data, &op, sizeof(op));
        return send(fd, buf, nl->nlmsg_len, 0) < 0 ? -errno : 0;
}

/* One datagram from the connector: the process cache first, then fork/exit to subscribers (*bp: their buffer, made on need). */
static void cn_message(es_state *es, const char *buf, size_t n, evbuf **bp) {
        char exe[PATH_MAX];
        struct stat exe_st;
        evbuf *b;

        for (struct nlmsghdr *nh = (void *) buf; NLMSG_OK(nh, (size_t) n); nh = NLMSG_NEXT(nh, n)) {
                struct cn_msg cn;
                struct proc_event pe = {}, *ev = &pe;
                /* cn_msg's data sits at a 4-byte offset: copy it out rather than read a u64 misaligned */
                memcpy(&cn, NLMSG_DATA(nh), sizeof(cn));
                if (cn.id.idx != CN_IDX_PROC || cn.len < offsetof(struct proc_event, event_data) ||
                    nh->nlmsg_len < NLMSG_LENGTH(sizeof(cn) + cn.len))
                        continue;
                memcpy(&pe, (const char *) NLMSG_DATA(nh) + sizeof(cn), cn.len < sizeof(pe) ? cn.len : sizeof(pe));
                switch (ev->what) {
                case PROC_EVENT_EXEC:
                        proc_changed(es, ev->event_data.exec.process_tgid);
                        exec_forget(es, ev->event_data.exec.process_tgid);
                        continue;
                case PROC_EVENT_UID:
                case PROC_EVENT_GID:
                        proc_changed(es, ev->event_data.id.process_tgid);
                        continue;
                case PROC_EVENT_EXIT:
                        if (ev->event_data.exit.process_pid == ev->event_data.exit.process_tgid) {
                                proc_exited(es, ev->event_data.exit.process_tgid);
                                exec_forget(es, ev->event_data.exit.process_tgid);
                        }
                        break;
                case PROC_EVENT_FORK:
                        if (ev->event_data.fork.child_pid == ev->event_data.fork.child_tgid)
                                proc_forked(es, ev->event_data.fork.parent_tgid, ev->event_data.fork.child_tgid);
                        break;
                default:
                        break;
                }
                if (!es->cn_fanout)
                        continue;
                if (!*bp && !(*bp = malloc(sizeof(evbuf))))
                        continue;
                b = *bp;
                if (ev->what == PROC_EVENT_FORK) {
                        if (ev->event_data.fork.child_pid != ev->event_data.fork.child_tgid ||
                            ev->event_data.fork.parent_tgid == es->self)
                                continue; /* a thread, or ringd's own spawn */
                        ev_init(b, 0, ev->event_data.fork.parent_tgid);
                        ev_process(es, b, ev->event_data.fork.parent_tgid, exe, sizeof(exe), &exe_st);
                        ev_process_strings(es, b, exe, &exe_st);
                        b->w.child_pid = ev->event_data.fork.child_tgid;
                        notify_fanout(es, b, RK_ES_EVENT_TYPE_NOTIFY_FORK, exe, NULL, NULL);
                } else if (ev->what == PROC_EVENT_EXIT) {
                        if (ev->event_data.exit.process_pid != ev->event_data.exit.process_tgid)
                                continue;
                        ev_init(b, 0, ev->event_data.exit.process_tgid);
                        b->w.ppid = (pid_t) ev->event_data.exit.parent_tgid;
                        b->w.exit_status = (int32_t) ev->event_data.exit.exit_code;
                        notify_fanout(es, b, RK_ES_EVENT_TYPE_NOTIFY_EXIT, NULL, NULL, NULL);
                }
        }
}

static int on_cn(rk_source *s, int fd, uint32_t revents, void *ud) {
        es_state *es = ud;
        enum { BATCH = 16, MSG_SIZE = 1024 };
        char bufs[BATCH][MSG_SIZE] __attribute__((aligned(8)));
        struct iovec iov[BATCH];
        struct mmsghdr mm[BATCH];
        evbuf *b = NULL;

        for (int round = 0; round < 64; round++) {
                /* one call for everything queued since the last drain (a spawn brings fork, exec and exit) */
                for (int k = 0; k < BATCH; k++) {
                        iov[k] = (struct iovec){ bufs[k], MSG_SIZE };
                        mm[k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[k], .msg_iovlen = 1 } };
                }
                int got = recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
                if (got < 0 && errno == ENOBUFS) {
                        proc_forget_all(es); /* messages were lost: nothing cached can be trusted */
                        continue;
                }
                if (got <= 0)
                        break;
                for (int k = 0; k < got; k++)
                        cn_message(es, bufs[k], mm[k].msg_len, &b);
                if (got < BATCH)
                        break;
        }
        free(b);
        return 0;
}

/*
 * The connector is open while someone subscribes to fork/exit or to AUTH
 * (for the process cache), but the loop watches it only for fork/exit
 * subscribers: for the cache alone its messages wait in the socket until the
 * next permission event drains them (cn_drain), so the fork, exec and exit of
 * every process cost ringd no wake-up (each one measured about 0.2 ms of an
 * exec's AUTH latency on a 2-CPU virtual machine).  An overrun buffer
 * (ENOBUFS) only empties the cache.
 */
static void cn_update(es_state *es, bool want, bool watch) {
        if (want && es->cn_fd < 0) {
                struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0 };
                int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
                int rcvbuf = 4 << 20;
                if (fd >= 0)
                        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
                if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || cn_send(fd, PROC_CN_MCAST_LISTEN) < 0) {
                        log_warning(es->d, "endpoint security: process connector unavailable: %m; no fork/exit events");
                        if (fd >= 0)
                                close(fd);
                        return;
                }
                es->cn_fd = fd;
        } else if (!want && es->cn_fd >= 0) {
                (void) cn_send(es->cn_fd, PROC_CN_MCAST_IGNORE);
                es->cn_src = rk_source_unref(es->cn_src);
                close(es->cn_fd);
                es->cn_fd = -EBADF;
                proc_forget_all(es);
                return;
        }
        if (es->cn_fd < 0)
                return;
        if (watch && !es->cn_src) {
                if (rk_loop_add_io(es->d->loop, &es->cn_src, es->cn_fd, EPOLLIN, on_cn, es) < 0)
                        log_warning(es->d, "endpoint security: cannot watch the process connector: %m; no fork/exit events");
        } else if (!watch && es->cn_src)
                es->cn_src = rk_source_unref(es->cn_src);
}

/* ---- marks: exactly what the clients subscribe to ---- */

static uint64_t fan_bits(uint64_t subs, bool perm) {
        uint64_t m = 0;
        if (perm) {
                if (subs & M(RK_ES_EVENT_TYPE_AUTH_EXEC))
                        m |= FAN_OPEN_EXEC_PERM;
                if (subs & M(RK_ES_EVENT_TYPE_AUTH_OPEN))
                        m |= FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM; /* exec too: to know an exec's own open, see exec_allowed() */
                return m;
        }
        if (subs & M(RK_ES_EVENT_TYPE_NOTIFY_EXEC))
                m |= FAN_OPEN_EXEC;
        if (subs & M(RK_ES_EVENT_TYPE_NOTIFY_OPEN))
                m |= FAN_OPEN;
        if (subs & M(RK_ES_EVENT_TYPE_NOTIFY_CLOSE))
                m |= FAN_CLOSE_WRITE;
        if (subs & M(RK_ES_EVENT_TYPE_NOTIFY_CREATE))
                m |= FAN_CREATE;
        if (subs & M(RK_ES_EVENT_TYPE_NOTIFY_RENAME))
                m |= FAN_RENAME;
        if (subs & M(RK_ES_EVENT_TYPE_NOTIFY_UNLINK))
                m |= FAN_DELETE;
        return m;
}

static void mark_group(es_state *es, int fd, uint64_t *marked, uint64_t want, const char *what) {
        uint64_t add = want & ~*marked, del = *marked & ~want;

        if (fd < 0 || (!add && !del))
                return;
        for (size_t k = 0; k < es->n_scopes; k++) {
                if (del && fanotify_mark(fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, del, AT_FDCWD, es->scopes[k].path) < 0 &&
                    errno != ENOENT)
                        log_warning(es->d, "endpoint security: unmarking %s (%s): %m", es->scopes[k].path, what);
                if (add && fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, add, AT_FDCWD, es->scopes[k].path) < 0)
                        log_warning(es->d, "endpoint security: marking %s (%s, 0x%llx): %m", es->scopes[k].path, what,
                                    (unsigned long long) add);
        }
        *marked = want;
        log_debug(es->d, "endpoint security: %s marks now 0x%llx", what, (unsigned long long) want);
}

static void marks_update(es_state *es) {
        uint64_t subs = 0;

        for (unsigned s = 0; s < MAX_CLIENTS; s++)
                if (es->slots[s])
                        subs |= es->slots[s]->subs;
        uint64_t perm_before = es->perm_marked;
        mark_group(es, es->perm_fd, &es->perm_marked, fan_bits(subs, true), "permission");
        if (es->perm_marked != perm_before)
                memset(es->exec_opens, 0, sizeof(es->exec_opens)); /* see exec_allowed() */
        mark_group(es, es->notif_fd, &es->notif_marked, fan_bits(subs, false), "notification");
        /* the connector also keeps the process cache true while AUTH events need it */
        es->cn_fanout = subs & PROC_MASK;
        cn_update(es, subs & (PROC_MASK | AUTH_MASK), subs & PROC_MASK);
}

/* ---- clients ---- */

static void ack(es_client *c, uint32_t seq, int32_t result) {
        (void) rk_channel_send(c->ch, RK_ES_MSG_ACK, seq, -EBADF, &result, sizeof(result));
}

/* A client that breaks the wire: logged (the first few), answered with the error, kept. */
static void client_bad(es_client *c, const rk_msg *m, int r) {
        char what[64] = "a malformed datagram"; /* m == NULL: the framing (ipc/msg.h) dropped it */

        if (++c->n_bad > MAX_BAD_LOGGED)
                return;
        if (m)
                (void) snprintf(what, sizeof(what), "message type 0x%x of %zu bytes", (unsigned) m->type, m->len);
        log_info(c->es->d, "endpoint security: client %u (%s, pid %d): refused %s: %s%s", c->id, c->bundle,
                 (int) c->pid, what, strerror(-r), c->n_bad == MAX_BAD_LOGGED ? " (further ones not logged)" : "");
}

static int client_mute(es_client *c, bool on, const rk_es_request *q) {
        const char *path = q->mute_path;

        if (q->mute_kind == RK_ES_MUTE_ALL) {
                for (size_t k = 0; k < c->n_mutes; k++)
                        free(c->mutes[k].path);
                c->n_mutes = 0;
                return 0;
        }
        for (size_t k = 0; k < c->n_mutes; k++) {
                mute *m = &c->mutes[k];
                if (m->kind == q->mute_kind && (path ? streq(m->path, path) : m->pid == q->mute_pid)) {
                        if (!on) {
                                free(m->path);
                                *m = c->mutes[--c->n_mutes];
                        }
                        return 0;
                }
        }
        if (!on)
                return -ENOENT;
        if (c->n_mutes >= MAX_MUTES)
                return -ENOSPC;
        mute *m = &c->mutes[c->n_mutes];
        *m = (mute){ .kind = q->mute_kind, .pid = q->mute_pid, .len = q->mute_path_len };
        if (path && !(m->path = strdup(path)))
                return -ENOMEM;
        c->n_mutes++;
        return 0;
}

static void client_message(es_client *c, rk_msg *m) {
        es_state *es = c->es;
        rk_es_request q;
        int r = rk_es_wire_request_decode(m->type, m->data, m->len, &q);

        if (r < 0) {
                client_bad(c, m, r);
                if (m->type != RK_ES_MSG_RESPOND) /* a RESPOND has no ACK: its deadline gives the default */
                        ack(c, m->peer, r);
                return;
        }
        switch (m->type) {
        case RK_ES_MSG_RESPOND:
                client_respond(c, &q.respond);
                return;
        case RK_ES_MSG_SUBSCRIBE:
        case RK_ES_MSG_UNSUBSCRIBE:
                if (m->type == RK_ES_MSG_SUBSCRIBE) {
                        if ((q.mask & ~PROC_MASK) && es->disabled) {
                                r = -EOPNOTSUPP;
                                break;
                        }
                        c->subs |= q.mask;
                } else
                        c->subs &= ~q.mask;
                cache_invalidate(es);
                marks_update(es);
                log_info(es->d, "endpoint security: client %u (%s) subscriptions 0x%llx", c->id, c->bundle,
                         (unsigned long long) c->subs);
                break;
        case RK_ES_MSG_MUTE:
        case RK_ES_MSG_UNMUTE:
                r = client_mute(c, m->type == RK_ES_MSG_MUTE, &q);
                cache_invalidate(es);
                break;
        case RK_ES_MSG_CLEAR_CACHE:
                cache_invalidate(es);
                break;
        case RK_ES_MSG_SET_DEADLINE:
                c->deadline_usec = (uint64_t) q.deadline_ms * 1000;
                break;
        }
        ack(c, m->peer, r);
}

static int on_client(rk_source *s, int fd, uint32_t revents, void *ud) {
        es_client *c = ud;

        if (revents & EPOLLOUT) {
                int r = rk_channel_flush(c->ch);
                if (r == -EPIPE) {
                        log_info(c->es->d, "endpoint security: client %u (%s, pid %d) gone: disconnected with messages unsent",
                                 c->id, c->bundle, (int) c->pid);
                        client_free(c);
                        return 0;
                }
                if (!rk_channel_has_pending(c->ch))
                        (void) rk_source_set_io_events(c->src, EPOLLIN);
        }
        for (int n = 0; n < 256; n++) {
                rk_msg m = RK_MSG_INIT;
                int r = rk_channel_recv(c->ch, &m);
                if (r == 0)
                        break;
                if (r < 0) {
                        if (r == -EBADMSG) {
                                client_bad(c, NULL, r);
                                continue;
                        }
                        log_info(c->es->d, "endpoint security: client %u (%s, pid %d) gone: %s", c->id, c->bundle,
                                 (int) c->pid, r == -ECONNRESET ? "disconnected" : strerror(-r));
                        client_free(c);
                        return 0;
                }
                client_message(c, &m);
                rk_msg_done(&m);
        }
        if (rk_channel_has_pending(c->ch))
                (void) rk_source_set_io_events(c->src, EPOLLIN | EPOLLOUT);
        return 0;
}

static void client_free(es_client *c) {
        es_state *es = c->es;

        es->slots[c->slot] = NULL;
        es->n_clients--;
        /* its pending AUTHs resolve by default; the others go on */
        for (pending *p = es->head, *n; p; p = n) {
                n = p->next;
                if (p->waiting & (1u << c->slot))
                        pending_release(es, p, c->slot);
        }
        cache_invalidate(es);
        marks_update(es);
        rk_source_unref(c->src);
        rk_channel_free(c->ch);
        for (size_t k = 0; k < c->n_mutes; k++)
                free(c->mutes[k].path);
        free(c->bundle);
        free(c->team);
        free(c->exe);
        free(c);
}

/*
 * Is the peer an entitled, approved system extension?  0 with its bundle id
 * and team, or -EPERM with the reason.
 */
static int admit(es_state *es, int fd, pid_t *ret_pid, char **ret_bundle, char **ret_team, char **ret_exe, char *why,
                 size_t why_len) {
        ringd *d = es->d;
        struct ucred cr;
        socklen_t sl = sizeof(cr);
        int pidfd = -EBADF, r = -EPERM;
        char p[64], exe[PATH_MAX];
        struct stat st;
        char **paths = NULL;
        size_t n_paths = 0;
        bool found = false;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) < 0) {
                snprintf(why, why_len, "no peer credentials: %m");
                return -EPERM;
        }
        sl = sizeof(pidfd);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &sl) < 0)
                pidfd = -EBADF; /* older kernel: the pid alone */
        *ret_pid = cr.pid;
        snprintf(p, sizeof(p), "/proc/%d/exe", (int) cr.pid);
        if (read_link(p, exe, sizeof(exe)) < 0 || stat(p, &st) < 0) {
                snprintf(why, why_len, "cannot read the executable of pid %d", (int) cr.pid);
                goto out;
        }
        if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0) {
                snprintf(why, why_len, "pid %d exited while being checked", (int) cr.pid);
                goto out;
        }
        *ret_exe = strdup(exe);
        if (activation_enabled_paths(d, &paths, &n_paths) < 0 || n_paths == 0) {
                snprintf(why, why_len, "%s is not an activated, enabled system extension (none is enabled)", exe);
                goto out;
        }
        for (size_t k = 0; k < n_paths && !found; k++) {
                rk_bundle *b = NULL;
                struct stat bst;
                if (rk_bundle_load(paths[k], &b, NULL) < 0 || !b)
                        continue;
                if (b->kind == RK_BUNDLE_SYSEXT && b->executable_path && stat(b->executable_path, &bst) == 0 &&
                    bst.st_dev == st.st_dev && bst.st_ino == st.st_ino) {
                        found = true;
                        rk_signing_info *info = NULL;
                        rk_diag dg;
                        rk_diag_init(&dg);
                        int v = rk_verify_bundle(b->path, d->trust_dir, NULL, 0, &info, &dg);
                        rk_diag_done(&dg);
                        bool dev = d->extdb && rk_extdb_get_developer_mode(d->extdb) > 0;
                        *ret_bundle = strdup(b->identifier ? b->identifier : b->path);
                        if (v == 0 && info) {
                                if (!rk_bool(rk_dict_get(info->entitlements, RK_ENT_ENDPOINT_SECURITY)))
                                        snprintf(why, why_len, "%s lacks the entitlement " RK_ENT_ENDPOINT_SECURITY,
                                                 b->identifier);
                                else {
                                        *ret_team = strdup(info->team ? info->team : "-");
                                        r = 0;
                                }
                        } else if (dev) {
                                activation_relax(d, b->identifier, "unsigned endpoint security client admitted");
                                *ret_team = strdup("-");
                                r = 0;
                        } else
                                snprintf(why, why_len, "%s is not validly signed (%s), and developer mode is off",
                                         b->identifier, strerror(-v));
                        rk_signing_info_free(info);
                }
                rk_bundle_unref(b);
        }
        if (!found)
                snprintf(why, why_len, "%s is not the executable of an activated, enabled system extension", exe);
out:
        for (size_t k = 0; k < n_paths; k++)
                free(paths[k]);
        free(paths);
        if (pidfd >= 0)
                close(pidfd);
        return r;
}

static void refuse(int fd, int err, const char *why) {
        uint8_t buf[sizeof(int32_t) + 1024];
        int32_t e = err;
        size_t n = strnlen(why, 1023);

        memcpy(buf, &e, sizeof(e));
        memcpy(buf + sizeof(e), why, n);
        buf[sizeof(e) + n] = 0;
        rk_channel *ch = NULL;
        if (rk_channel_new(fd, 0, &ch) == 0) {
                (void) rk_channel_send(ch, RK_ES_MSG_REFUSED, 0, -EBADF, buf, sizeof(e) + n + 1);
                rk_channel_free(ch);
        } else
                close(fd);
}

/* An admitted client on cfd (taken): its record, WELCOME sent.  0, -EBUSY (refused), -ENOMEM. */
static int client_add(es_state *es, int cfd, pid_t pid, char **bundle, char **team, char **exe) {
        es_client *c = NULL;
        unsigned slot;

        for (slot = 0; slot < MAX_CLIENTS && es->slots[slot]; slot++)
                ;
        if (slot == MAX_CLIENTS) {
                refuse(cfd, -EBUSY, "too many endpoint security clients");
                return -EBUSY;
        }
        c = calloc(1, sizeof(*c));
        if (!c || rk_channel_new(cfd, 0, &c->ch) < 0) {
                close(cfd);
                free(c);
                return -ENOMEM;
        }
        c->es = es;
        c->slot = slot;
        c->id = ++es->next_client_id;
        c->pid = pid;
        c->bundle = TAKE_PTR(*bundle);
        c->team = TAKE_PTR(*team);
        c->exe = TAKE_PTR(*exe);
        c->deadline_usec = es->deadline_usec;
        if (rk_loop_add_io(es->d->loop, &c->src, rk_channel_get_fd(c->ch), EPOLLIN, on_client, c) < 0) {
                rk_channel_free(c->ch);
                free(c->bundle);
                free(c->team);
                free(c->exe);
                free(c);
                return -ENOMEM;
        }
        es->slots[slot] = c;
        es->n_clients++;
        es->n_admitted++;
        cache_invalidate(es);
        rk_es_wire_welcome w = { .version = RK_ES_PROTO_VERSION, .client_id = c->id,
                                 .deadline_ms = (uint32_t) (c->deadline_usec / 1000) };
        (void) rk_channel_send(c->ch, RK_ES_MSG_WELCOME, 0, -EBADF, &w, sizeof(w));
        log_notice(es->d, "endpoint security: client %u admitted: %s (team %s), pid %d, %s", c->id, c->bundle, c->team,
                   (int) c->pid, c->exe);
        return 0;
}

static void accept_one(es_state *es, int cfd) {
        char why[1024] = "";
        pid_t pid = 0;
        char *bundle = NULL, *team = NULL, *exe = NULL;
        int r;

        r = admit(es, cfd, &pid, &bundle, &team, &exe, why, sizeof(why));
        if (r < 0) {
                es->n_refused++;
                log_notice(es->d, "endpoint security: client pid %d refused: %s", (int) pid, why);
                refuse(cfd, r, why);
        } else
                (void) client_add(es, cfd, pid, &bundle, &team, &exe);
        free(bundle);
        free(team);
        free(exe);
}

int es_adopt(ringd *d, int fd, pid_t pid, const char *bundle, const char *team, const char *exe) {
        es_state *es = d->es;
        char *b = NULL, *t = NULL, *e = NULL;
        int r;

        if (!es || !es->d) {
                close(fd);
                return -ENOTCONN;
        }
        b = strdup(bundle);
        t = strdup(team ? team : "-");
        e = strdup(exe);
        if (!b || !t || !e) {
                close(fd);
                r = -ENOMEM;
        } else
                r = client_add(es, fd, pid, &b, &t, &e);
        free(b);
        free(t);
        free(e);
        return r;
}

static int on_listen(rk_source *s, int fd, uint32_t revents, void *ud) {
        for (int n = 0; n < 16; n++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (cfd < 0)
                        break;
                accept_one(ud, cfd);
        }
        return 0;
}

/* ---- set-up, status, teardown ---- */

int es_configure(ringd *d, const char *option, const char *value) {
        es_state *es = d->es;

        if (!es) {
                es = calloc(1, sizeof(*es));
                if (!es)
                        return -ENOMEM;
                es->deadline_usec = DEFAULT_DEADLINE_MS * 1000ULL;
                d->es = es;
        }
        if (streq(option, "spin")) {
                char *e;
                unsigned long us = strtoul(value, &e, 10);
                if (!*value || *e || us > 1000)
                        return -EINVAL;
                es->spin_usec = us;
                es->spin_set = true;
                return 0;
        }
        if (streq(option, "scope")) {
                char **v = realloc(es->scope_args, (es->n_scope_args + 1) * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                es->scope_args = v;
                if (!(v[es->n_scope_args] = strdup(value)))
                        return -ENOMEM;
                es->n_scope_args++;
                return 0;
        }
        if (streq(option, "deadline")) {
                char *e;
                unsigned long ms = strtoul(value, &e, 10);
                if (*e || ms < RK_ES_DEADLINE_MIN_MS || ms > RK_ES_DEADLINE_MAX_MS)
                        return -EINVAL;
                es->deadline_usec = ms * 1000ULL;
                return 0;
        }
        return -EINVAL;
}

static int open_scopes(es_state *es) {
        const char *def = "/";
        char **args = es->scope_args;
        size_t n = es->n_scope_args;

        if (!n) {
                args = (char **) &def;
                n = 1;
        }
        es->scopes = calloc(n, sizeof(*es->scopes));
        if (!es->scopes)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                scope *sc = &es->scopes[es->n_scopes];
                struct statfs sf;
                sc->fd = open(args[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* open_by_handle_at refuses O_PATH */
                if (sc->fd < 0 || fstatfs(sc->fd, &sf) < 0) {
                        log_warning(es->d, "endpoint security: scope %s: %m; left out", args[k]);
                        if (sc->fd >= 0)
                                close(sc->fd);
                        continue;
                }
                memcpy(&sc->fsid, &sf.f_fsid, sizeof(sc->fsid));
                log_debug(es->d, "endpoint security: scope %s fsid %x:%x", args[k], sf.f_fsid.__val[0], sf.f_fsid.__val[1]);
                sc->path = strdup(args[k]);
                es->n_scopes++;
        }
        return 0;
}

int es_init(ringd *d) {
        es_state *es;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        if (!d->es && (r = es_configure(d, "", "")) < 0 && r == -ENOMEM)
                return r;
        es = d->es;
        es->d = d;
        es->self = getpid();
        es->listen_fd = es->perm_fd = es->notif_fd = es->cn_fd = es->stop_fd = es->thread_epoll = -EBADF;
        es->pipe_fd[0] = es->pipe_fd[1] = -EBADF;
        es->timer_at = UINT64_MAX;
        es->cache_gen = 1;
        if (!(es->ev = malloc(sizeof(*es->ev))))
                return -ENOMEM;
        if (!es->spin_set)
                es->spin_usec = DEFAULT_SPIN_USEC;
        if ((r = open_scopes(es)) < 0)
                return r;
        if ((r = rk_loop_add_time(d->loop, &es->timer, UINT64_MAX, on_deadline, es)) < 0)
                return r;
        (void) rk_source_set_enabled(es->timer, RK_SOURCE_OFF);

        es->perm_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE |
                                            FAN_UNLIMITED_MARKS,
                                    O_RDONLY | O_CLOEXEC | O_LARGEFILE);
        es->notif_fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC | FAN_NONBLOCK |
                                             FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS,
                                     O_RDONLY | O_CLOEXEC | O_LARGEFILE);
        if (es->perm_fd < 0 || es->notif_fd < 0 || pipe2(es->pipe_fd, O_CLOEXEC | O_NONBLOCK) < 0 ||
            (es->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
                log_warning(d, "endpoint security: fanotify unavailable (%m); clients get fork/exit events only");
                es->disabled = true;
        } else if ((r = rk_loop_add_io(d->loop, &es->pipe_src, es->pipe_fd[0], EPOLLIN, on_pipe, es)) < 0 ||
                   (r = rk_loop_add_io(d->loop, &es->notif_src, es->notif_fd, EPOLLIN, on_notif, es)) < 0)
                return r;
        else {
                (void) rk_source_set_priority(es->pipe_src, -10); /* AUTH before anything else */
                /*
                 * The loop and the thread both wait for the perm group,
                 * exclusively and the loop first: the kernel wakes the
                 * loop when it is waiting, and the thread only when the
                 * loop is not (see perm_thread()), so an event costs one
                 * wake-up, not two.
                 */
                if ((r = rk_loop_add_io(d->loop, &es->perm_src, es->perm_fd, EPOLLIN | EPOLLEXCLUSIVE, on_perm, es)) < 0)
                        return r;
                (void) rk_source_set_priority(es->perm_src, -10);
                struct epoll_event pe = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = es->perm_fd };
                struct epoll_event se = { .events = EPOLLIN, .data.fd = es->stop_fd };
                if ((es->thread_epoll = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
                    epoll_ctl(es->thread_epoll, EPOLL_CTL_ADD, es->perm_fd, &pe) < 0 ||
                    epoll_ctl(es->thread_epoll, EPOLL_CTL_ADD, es->stop_fd, &se) < 0)
                        return -errno;
                if ((r = -pthread_create(&es->thread, NULL, perm_thread, es)) < 0)
                        return r;
                es->thread_running = true;
        }

        if (asprintf(&es->sock_path, "%s/es.sock", d->run_dir) < 0)
                return -ENOMEM;
        if (strlen(es->sock_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, es->sock_path);
        (void) unlink(es->sock_path);
        es->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (es->listen_fd < 0)
                return -errno;
        if (bind(es->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || chmod(es->sock_path, 0600) < 0 ||
            listen(es->listen_fd, 16) < 0)
                return -errno;
        if ((r = rk_loop_add_io(d->loop, &es->listen_src, es->listen_fd, EPOLLIN, on_listen, es)) < 0)
                return r;
        log_info(d, "endpoint security: socket %s, %zu scope(s) starting with %s, deadline %llu ms%s", es->sock_path,
                 es->n_scopes, es->n_scopes ? es->scopes[0].path : "-", (unsigned long long) es->deadline_usec / 1000,
                 es->disabled ? ", fanotify unavailable" : "");
        return 0;
}

static const char *const type_names[RK_ES_EVENT_TYPE_LAST] = {
        "AUTH_EXEC", "AUTH_OPEN", "NOTIFY_EXEC", "NOTIFY_OPEN", "NOTIFY_CLOSE",
        "NOTIFY_CREATE", "NOTIFY_RENAME", "NOTIFY_UNLINK", "NOTIFY_FORK", "NOTIFY_EXIT",
};

static rk_value *subs_names(uint64_t subs) {
        rk_value *a = NULL;
        if (rk_value_new_array(&a) < 0)
                return NULL;
        for (int t = 0; t < RK_ES_EVENT_TYPE_LAST; t++)
                if (subs & M(t)) {
                        rk_value *s = NULL;
                        if (rk_value_new_string(type_names[t], &s) == 0) {
                                (void) rk_array_append(a, s);
                                rk_value_unref(s);
                        }
                }
        return a;
}

int es_status(ringd *d, rk_value *m) {
        es_state *es = d->es;
        _cleanup_(rk_value_unrefp) rk_value *e = NULL, *cl = NULL;

        if (!es || !es->d)
                return 0;
        if (rk_value_new_dict(&e) < 0 || rk_value_new_array(&cl) < 0)
                return -ENOMEM;
        (void) rk_dict_set_string(e, "socket", es->sock_path ? es->sock_path : "");
        (void) rk_dict_set_bool(e, "fanotify", !es->disabled);
        (void) rk_dict_set_integer(e, "deadline_ms", es->deadline_usec / 1000, false);
        (void) rk_dict_set_integer(e, "spin_us", es->spin_usec, false);
        (void) rk_dict_set_integer(e, "exec_own_opens", es->n_exec_opens, false);
        (void) rk_dict_set_integer(e, "auth_events", es->n_auth, false);
        (void) rk_dict_set_integer(e, "auth_denied", es->n_auth_denied, false);
        (void) rk_dict_set_integer(e, "auth_defaulted", es->n_auth_defaulted, false);
        (void) rk_dict_set_integer(e, "auth_no_client", es->n_no_client, false);
        (void) rk_dict_set_integer(e, "auth_overflow", es->n_overflow + atomic_load(&es->n_pipe_overflow), false);
        (void) rk_dict_set_integer(e, "auth_ringd_own", atomic_load(&es->n_self_allowed), false);
        (void) rk_dict_set_integer(e, "cache_hits", es->n_cache_hits, false);
        (void) rk_dict_set_integer(e, "process_cache_hits", es->n_proc_hits, false);
        (void) rk_dict_set_integer(e, "process_cache_misses", es->n_proc_misses, false);
        (void) rk_dict_set_integer(e, "pending", es->n_pending, false);
        (void) rk_dict_set_integer(e, "notify_events", es->n_notify, false);
        (void) rk_dict_set_integer(e, "clients_admitted", es->n_admitted, false);
        (void) rk_dict_set_integer(e, "clients_refused", es->n_refused, false);
        {
                _cleanup_(rk_value_unrefp) rk_value *sc = NULL;
                if (rk_value_new_array(&sc) == 0) {
                        for (size_t k = 0; k < es->n_scopes; k++) {
                                rk_value *s = NULL;
                                if (rk_value_new_string(es->scopes[k].path, &s) == 0) {
                                        (void) rk_array_append(sc, s);
                                        rk_value_unref(s);
                                }
                        }
                        (void) rk_dict_set(e, "scopes", sc);
                }
        }
        for (unsigned s = 0; s < MAX_CLIENTS; s++) {
                es_client *c = es->slots[s];
                _cleanup_(rk_value_unrefp) rk_value *x = NULL, *names = NULL;
                if (!c || rk_value_new_dict(&x) < 0)
                        continue;
                (void) rk_dict_set_integer(x, "id", c->id, false);
                (void) rk_dict_set_integer(x, "pid", (uint64_t) c->pid, false);
                (void) rk_dict_set_string(x, "bundle", c->bundle);
                (void) rk_dict_set_string(x, "team", c->team);
                (void) rk_dict_set_string(x, "executable", c->exe);
                if ((names = subs_names(c->subs)))
                        (void) rk_dict_set(x, "subscriptions", names);
                (void) rk_dict_set_integer(x, "deadline_ms", c->deadline_usec / 1000, false);
                (void) rk_dict_set_integer(x, "mutes", c->n_mutes, false);
                (void) rk_dict_set_integer(x, "events", c->n_events, false);
                (void) rk_dict_set_integer(x, "auth", c->n_auth, false);
                (void) rk_dict_set_integer(x, "allowed", c->n_allowed, false);
                (void) rk_dict_set_integer(x, "denied", c->n_denied, false);
                (void) rk_dict_set_integer(x, "missed_deadlines", c->n_missed, false);
                (void) rk_dict_set_integer(x, "late_answers", c->n_late, false);
                (void) rk_dict_set_integer(x, "refused_messages", c->n_bad, false);
                (void) rk_dict_set_integer(x, "dropped", c->n_dropped, false);
                (void) rk_array_append(cl, x);
        }
        (void) rk_dict_set(e, "clients", cl);
        return rk_dict_set(m, "endpoint_security", e);
}

void es_done(ringd *d) {
        es_state *es = d->es;

        if (!es)
                return;
        if (es->d) {
                for (unsigned s = 0; s < MAX_CLIENTS; s++)
                        if (es->slots[s])
                                client_free(es->slots[s]);
                while (es->head)
                        resolve(es, es->head, false, false);
                if (es->thread_running) {
                        uint64_t one = 1;
                        (void) !write(es->stop_fd, &one, sizeof(one));
                        pthread_join(es->thread, NULL);
                }
                /* events still in the pipe: allowed, so nobody stays blocked */
                fwd in[128];
                ssize_t n;
                while (es->pipe_fd[0] >= 0 && (n = read(es->pipe_fd[0], in, sizeof(in))) > 0)
                        for (size_t k = 0; k < (size_t) n / sizeof(fwd); k++)
                                fan_answer(es, in[k].fd, false);
                cn_update(es, false, false);
                rk_source_unref(es->pipe_src);
                rk_source_unref(es->perm_src);
                rk_source_unref(es->notif_src);
                rk_source_unref(es->listen_src);
                rk_source_unref(es->timer);
                if (es->listen_fd >= 0) {
                        close(es->listen_fd);
                        (void) unlink(es->sock_path);
                }
                /* closing the perm group lets the kernel allow whatever is still queued */
                int *fds[] = { &es->perm_fd, &es->notif_fd, &es->pipe_fd[0], &es->pipe_fd[1], &es->stop_fd, &es->thread_epoll };
                for (size_t k = 0; k < ELEMENTSOF(fds); k++)
                        if (*fds[k] >= 0)
                                close(*fds[k]);
                for (size_t k = 0; k < es->n_scopes; k++) {
                        close(es->scopes[k].fd);
                        free(es->scopes[k].path);
                }
                for (size_t k = 0; k < SIG_SLOTS; k++) {
                        free(es->sigs[k].team);
                        free(es->sigs[k].ident);
                }
        }
        free(es->scopes);
        for (size_t k = 0; k < es->n_scope_args; k++)
                free(es->scope_args[k]);
        free(es->scope_args);
        free(es->sock_path);
        free(es->ev);
        free(es);
        d->es = NULL;
}
