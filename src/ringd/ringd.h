/* SPDX-License-Identifier: MIT */
/*
 * ringd's one context (struct ringd) and the records it attaches to
 * registry services.  Everything ringd owns hangs off struct ringd; there is
 * no other global state.
 *
 *   ringd.c      main, options, directories, signals, shutdown
 *   log.c        logging (foreground: readable lines on stderr)
 *   control.c    the control socket: ringctl's requests
 *   catalogue.c  extension directories: bundles, personalities, rescans
 *   nub.c        provider nubs: publishing, matching, categories, teardown
 *   dext.c       dext instances: spawn, lifecycle, supervision
 *   virtual.c    the virtual provider and its device models
 *   linux.c      glue to the Linux provider (udev enumeration, uevents)
 *   activation.c activation requests, the extension store, approval
 *   family.c     family requests of dexts: TAP interfaces (network), sysfs config and BARs (PCI)
 *   userclient.c the user-client broker: apps find, wait for and open driver services
 *   sysext.c     supervised system extensions: launch, restart, stop
 *   nf.c         the network filter: NFQUEUE, firewall rules, filter extensions
 *   outlog.c     what launched processes print: ringd's log, the last lines per bundle
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "catalogue/bundle.h"
#include "catalogue/extdb.h"
#include "ipc/msg.h"
#include "match/index.h"
#include "registry/registry.h"
#include "shared/loop.h"

typedef struct ringd ringd;
typedef struct nub nub;
typedef struct instance instance;
typedef struct attempt attempt;
typedef struct vdev vdev;
typedef struct ctl_client ctl_client;
typedef struct activation activation;

/* ---- logging ---- */
_printf_(3, 4) void rd_log(ringd *d, int level, const char *fmt, ...);
#define log_error(d, ...) rd_log(d, 3, __VA_ARGS__)
#define log_warning(d, ...) rd_log(d, 4, __VA_ARGS__)
#define log_notice(d, ...) rd_log(d, 5, __VA_ARGS__)
#define log_info(d, ...) rd_log(d, 6, __VA_ARGS__)
#define log_debug(d, ...) rd_log(d, 7, __VA_ARGS__)

/* ---- nubs: providers drivers attach to ---- */
typedef enum nub_kind {
        NUB_ROOT,      /* Root, IOResources */
        NUB_VIRTUAL,   /* ringctl virt add */
        NUB_LINUX,     /* a real device */
        NUB_PUBLISHED, /* published by a dext */
        NUB_DRIVER,    /* a driver instance's own service */
} nub_kind;

/* One match category on one provider: who won it, or who is being tried. */
typedef struct category {
        char *name;
        instance *winner;       /* the running driver, NULL while trying or after failure */
        attempt *attempt;       /* candidates being tried */
        uint64_t crashes[16];   /* crash times (usec), ring */
        unsigned n_crashes;
        unsigned restarts;
        char *failed;           /* crash loop: why we gave up */
        rk_source *retry;       /* back-off timer before rematching */
        void *retry_ctx;
} category;

struct nub {
        ringd *d;
        rk_service *svc;        /* a reference */
        nub_kind kind;
        int handle;             /* fd handed to drivers of this nub, -EBADF */
        instance *owner;        /* NUB_PUBLISHED: the instance that published it; NUB_DRIVER: the instance */
        category *cats;
        size_t n_cats;
        vdev *vdev;             /* NUB_VIRTUAL */
        char *syspath;          /* NUB_LINUX */
        nub *next_all;          /* every live nub */
        nub *prev_all;
};

struct attempt {
        nub *nub;
        char *category;
        rk_match_candidate *cands;
        size_t n, next;
};

/* ---- instances ---- */
typedef enum inst_state {
        I_SPAWNED,   /* waiting for HELLO */
        I_INIT,      /* INIT sent */
        I_PROBE,     /* PROBE sent */
        I_START,     /* START sent */
        I_RUNNING,
        I_STOP,      /* STOP sent */
        I_FREE,      /* FREE sent, waiting for exit */
        I_DEAD,
} inst_state;

struct instance {
        ringd *d;
        uint64_t id;
        char *tag;              /* "com.acme.kbd#3" for logs */
        char *bundle, *personality, *class_name, *category;
        rk_personality *pers;
        inst_state state;
        pid_t pid;
        rk_source *child;       /* pidfd */
        rk_channel *ch;
        rk_source *io;
        rk_source *deadline;
        int64_t score;
        nub *provider;          /* the nub it drives */
        nub *service;           /* its own driver service (NUB_DRIVER) */
        attempt *attempt;       /* while trying: the attempt it belongs to */
        bool debug;             /* started stopped for a debugger */
        bool spare;             /* a warm spare: spawned, not yet given a device (d->spares) */
        bool greeted;           /* its HELLO arrived */
        uint64_t t_spawn;       /* when instance_spawn() ran (usec), for the log */
        char *exe;              /* what it runs */
        struct exe_id {
                uint64_t dev, ino, size;
                int64_t mtime_ns, ctime_ns;
        } exe_id;               /* that file when it was spawned */
        struct waiter {
                void (*cb)(void *ud);
                void *ud;
        } *waiters;             /* called once it stopped, before it is freed */
        size_t n_waiters;
        instance *next_all, *prev_all;
        struct family_state *family; /* family.c: what its family requests created (TAP interfaces) */
        struct kinst *kext;     /* kext.c: an in-process kext driver (pid 0), NULL for a dext */
};

/* ---- the daemon ---- */
struct ringd {
        rk_loop *loop;
        rk_registry *reg;
        char *root;
        char *run_dir, *state_dir, *ext_dir, *sock_path;
        char **ext_dirs;        /* extension directories scanned */
        size_t n_ext_dirs;
        char *builtin_path;     /* the built-in driver host (codeless dexts) */
        bool foreground, verbose, linux_provider, json_logs;
        int log_level;

        /* catalogue */
        rk_match_index *index;
        rk_bundle **bundles;
        size_t n_bundles;
        int inotify_fd;
        rk_source *inotify_src, *rescan_timer;

        /* policy */
        unsigned crash_limit;
        unsigned max_tasks;     /* pids.max per instance */
        char *cgroup_root;      /* NULL without a pids controller */
        rk_extdb *extdb;        /* activation state; NULL when it could not be opened */
        char *extdb_path;
        char *trust_dir;        /* CA certificates and CRLs signatures must chain to */
        char **app_dirs;        /* application directories apps may activate from */
        size_t n_app_dirs;
        activation *act;        /* activation.c's state */
        uint64_t crash_window_usec, step_timeout_usec, backoff_min_usec, backoff_max_usec;
        char **debug_next;      /* bundle ids whose next instance starts stopped */
        size_t n_debug_next;

        /* launches (launch.c) */
        struct launch_state *launch;
        bool no_sandbox;
        char *sandbox_exec_path;
        char **sandbox_rw;      /* extra paths every dext may write (--sandbox-rw) */
        size_t n_sandbox_rw;
        unsigned dext_memory_mib; /* RLIMIT_AS of a dext, 0: none */

        nub *nubs;
        instance *instances;
        instance *spares;       /* warm spare processes, per bundle (dext.c) */
        unsigned spares_per_bundle;
        uint64_t next_instance;
        vdev *vdevs;
        ctl_client *clients;
        int listen_fd;
        rk_source *listen_src;
        void *linux_prov;       /* rk_linux_provider */
        rk_source *linux_src;
        bool shutting_down;
        unsigned pending_teardowns;
        uint64_t started_at;
        unsigned exit_code;
        struct uc_broker *uc;   /* userclient.c: waiters for services, relaxations recorded */
        struct es_state *es;    /* es.c: endpoint security (issue 7) */
        struct kext_state *kext; /* kext.c: loaded kexts, safe mode (issue 7) */
        struct sysext_state *sx; /* sysext.c: supervised system extensions (issue 7) */
        struct nf_state *nf;    /* nf.c: the network filter (issue 7) */
        struct outlog_state *outlog; /* outlog.c: launched processes' output, kept per bundle */
};

/* catalogue.c */
int catalogue_scan(ringd *d);
int catalogue_watch(ringd *d);
rk_bundle *catalogue_find_bundle(ringd *d, const char *id);
void catalogue_free(ringd *d);

/* nub.c */
int nub_publish(ringd *d, nub *provider, nub_kind kind, const char *const *classes, size_t n, const char *name,
                rk_value *props, int handle, nub **ret);
void nub_match(nub *n);                      /* run matching and start candidates */
void nub_rematch_all(ringd *d);              /* after a catalogue change */
void nub_terminate(nub *n, void (*done)(void *ud), void *ud);  /* stop its stack top-down, then remove */
nub *nub_from_service(rk_service *s);
nub *nub_find(ringd *d, uint64_t id);
category *nub_category(nub *n, const char *name, bool create);
void nub_category_start_next(nub *n, category *c);
void nub_instance_started(instance *i);
void nub_instance_failed(instance *i, int error); /* attempt failed: try the next candidate */
void nub_instance_crashed(instance *i);
void nub_free_all(ringd *d);

/* dext.c */
int instance_spawn(ringd *d, nub *provider, rk_personality *p, int64_t score, attempt *a, instance **ret);
/* Stop (STOP, FREE, exit); `stopped` (may be NULL) runs once it is gone, then the record is freed. */
void instance_stop(instance *i, void (*stopped)(void *ud), void *ud);
void instance_kill(instance *i, const char *why);
instance *instance_find(ringd *d, uint64_t id);
void instance_free(instance *i);
const char *inst_state_name(inst_state s);
bool debug_take(ringd *d, const char *bundle);
void spares_prune(ringd *d);   /* drop spares whose bundle or executable changed */
void spares_drop(ringd *d, const char *bundle);
void spares_free_all(ringd *d);
size_t spares_count(ringd *d);

/* virtual.c */
int virtual_add(ringd *d, const char *cls, rk_value *props, uint64_t *ret_id, char **error);
int virtual_remove(ringd *d, uint64_t id, char **error);
void virtual_free_all(ringd *d);
void virtual_nub_gone(vdev *v);
int virtual_list(ringd *d, rk_value **ret);
size_t virtual_count(ringd *d);

/* linux.c */
int linux_start(ringd *d);
void linux_stop(ringd *d);

/* limits.c */
void limits_init(ringd *d);
void limits_kill_all(ringd *d, instance *i);
void limits_release(ringd *d, instance *i);
void limits_done(ringd *d);
/* the same for any process ringd spawned, by the name of its cgroup under ringd's (sysext.c: "sx<n>") */
/*
 * The leaf cgroup made ready (created, capped) before its process starts:
 * *ret_procs its cgroup.procs file, for launch_spawn(), which puts the new
 * process in it before it can fork (NULL without a pids controller).
 */
int limits_prepare_leaf(ringd *d, const char *leaf, char **ret_procs);
int limits_prepare(ringd *d, instance *i, char **ret_procs);
void limits_kill_pid(ringd *d, const char *leaf, pid_t leader); /* leader 0: its group is gone already */
void limits_release_leaf(ringd *d, const char *leaf);

/* ringd.c: mkdir -p, each missing component made with `mode` */
int mkdir_p(const char *path, mode_t mode);

/* launch.c */
#define RK_DEXT_EXEC_FD 4    /* where ringkit-sandbox-exec finds the sealed memfd to run */
#define RK_DEXT_SECCOMP_FD 5 /* ... and the seccomp filter ringd built once */
typedef struct launch_plan {
        const char *path;       /* what posix_spawn runs: ringkit-sandbox-exec; NULL: exec_fd itself */
        char **argv;
        int exec_fd;            /* the sealed memfd of verified bytes */
        int seccomp_fd;         /* the prebuilt filter (borrowed), or -EBADF */
        char *data_dir;         /* the bundle's private data directory (RINGKIT_DATA_DIR), or NULL */
} launch_plan;
int launch_init(ringd *d);
void launch_done(ringd *d);
int launch_prepare(ringd *d, const char *bundle_id, const char *exe, const char *tag, launch_plan *ret);
void launch_plan_done(launch_plan *p);
/*
 * The environment of an extension process: ringd's own without its RINGKIT_*
 * variables (those are the launcher's to set), then kv: NULL-terminated
 * key, value pairs (a NULL value skips the pair).  Every string is the
 * array's own: free with launch_env_free().  0 or -ENOMEM.
 */
int launch_env(const char *const *kv, char ***ret);
void launch_env_free(char **env);
/*
 * Spawn a launch plan: the sandbox helper (plan->path) with the verified
 * memfd exec_fd and the seccomp filter on their fixed numbers, or, without
 * the sandbox, exec_fd itself; dups: n_dups {fd, target number} pairs for
 * the process; stdin /dev/null, signals default and unblocked, its own
 * process group.  cgroup_procs (NULL: none): a cgroup.procs file the
 * process joins first, before anything it runs can fork (the sandbox
 * helper's --cgroup-procs, or the forked child itself without it).  0 with
 * *ret the pid, or a negative errno.
 */
int launch_spawn(const launch_plan *plan, int exec_fd, const int (*dups)[2], size_t n_dups, char **argv,
                 char **env, const char *cgroup_procs, pid_t *ret);
static inline void launch_env_freep(char ***env) {
        launch_env_free(*env);
}
bool launch_allows_provider(ringd *d, const char *bundle_id, const rk_match_provider *prov, const char **why);
/*
 * The bundle's signed entitlements from the launch trust record (verified
 * at its first use, again whenever its signature files change): 1 with
 * *ret set (may be NULL: signed without any), 0 when the bundle is not
 * validly signed (*why says why), -ENOENT, -ENOMEM.
 */
int launch_entitlements(ringd *d, const char *bundle_id, const rk_value **ret, const char **why);
/*
 * Any bundle by path (an app's, for user clients): its signing info from
 * the same trust records, and -- when exe_rel is set -- whether the file
 * at exe_path (a /proc/PID/exe) is the code directory's exe_rel, hashed
 * again only when that file's identity changes.  1 and *ret; 0 and *why
 * (not signed, does not verify, not the signed executable); -ENOMEM.
 */
typedef struct rk_signing_info rk_signing_info; /* trust/sign.h */
int launch_bundle_signing(ringd *d, const char *bundle_path, const char *exe_rel, const char *exe_path,
                          const rk_signing_info **ret, const char **why);

/* devopen.c: RK_DEXT_DEVICE_OPEN (uinput, uhid) for entitled instances */
int devopen_request(instance *i, rk_msg *m, rk_value *body);

/* activation.c */
/* Record a developer-mode relaxation (log, and `ringctl status`). */
void activation_relax(ringd *d, const char *id, const char *what);
/* Paths, reconciliation of what a crash left (after the database opened, before the first scan). */
int activation_init(ringd *d);
void activation_done(ringd *d);
/* activate, approve, deny, deactivate, reset: the reply (ok, or code/code_name/error/errno). */
rk_value *activation_handle(ringd *d, const char *command, rk_value *req);
/* Store paths of enabled extensions, for the catalogue.  Free each and the array. */
int activation_enabled_paths(ringd *d, char ***ret, size_t *ret_n);
int activation_list(ringd *d, rk_value **ret);   /* the database rows, as `ringctl list` shows them */
int activation_status(ringd *d, rk_value *m);    /* adds trust store, directories, relaxations */

/* control.c */
int control_listen(ringd *d);
void control_close(ringd *d);
void control_instance_spawned(ringd *d, instance *i); /* answers pending `debug` requests */
/* Answer the `debug` request waiting for `bundle`, if any: its pid and tag, or the error (error < 0) and why. */
void control_debug_started(ringd *d, const char *bundle, pid_t pid, const char *tag, int error, const char *why);

/* family.c: the network and PCI families (issue 6; ipc/proto.h RK_DEXT_NET_*, RK_DEXT_PCI_*) */
/* A family request from a dext (answered on the answer socket it carries).  0, or -EBADMSG: not a family request. */
int family_request(instance *i, uint32_t type, rk_msg *m, rk_value *body);
/* The handle of an IOPCIDevice's driver: its sysfs config file (read-only while a kernel driver is bound); -EBADF. */
int family_pci_handle(instance *i);
/* Release what the instance's family requests created (interfaces deleted).  Idempotent. */
void family_instance_release(instance *i);
/* Does the bundle hold the boolean entitlement `key`?  Not validly signed: only in developer mode.  *why when not. */
bool family_entitled(ringd *d, const char *bundle_id, const char *key, const char **why);
/* Answer a family request once on its answer socket (taken): {status, error?, ...res} + fd when status is 0. */
void family_answer(instance *i, int sock, int status, const char *error, rk_value *res, int fd);

/* userclient.c: the user-client broker (issue 8): find, wait for and open driver services for apps */
void userclient_cmd_find(ctl_client *c, uint32_t peer, rk_value *req);  /* uc-find {match} */
void userclient_cmd_wait(ctl_client *c, uint32_t peer, rk_value *req);  /* uc-wait {match | gone, timeout_ms} */
void userclient_cmd_open(ctl_client *c, uint32_t peer, rk_value *req);  /* uc-open {service, type} + fd */
void userclient_cmd_watch(ctl_client *c, uint32_t peer, rk_value *req); /* uc-watch {match} / uc-unwatch {watch} */
void userclient_client_gone(ringd *d, ctl_client *c);  /* a control client went: drop its waits */
void userclient_changed(ringd *d);                     /* services may match differently: answer waiters */
void userclient_done(ringd *d);
/* control.c, for userclient.c: reply (with an fd, or -EBADF), the client's SO_PEERCRED, its ringd */
void control_reply_fd(ctl_client *c, uint32_t peer, rk_value *body, int fd);
/* {ok: false, errno: -error, error: msg or strerror} to a control request */
void control_reply_error(ctl_client *c, uint32_t peer, int error, const char *msg);
/* a new {ok: true} dictionary to add to and send, or NULL */
rk_value *control_ok_reply(void);
int control_event(ctl_client *c, rk_value *body); /* RK_CTL_EVENT: a message the client did not ask for; <0: not queued */
int control_client_cred(ctl_client *c, struct ucred *ret);
ringd *control_client_ringd(ctl_client *c);
/* dext.c: send a message to a running instance (userclient.c hands it a connection) */
int instance_send(instance *i, uint32_t type, rk_value *body, int fd);

/* es.c: endpoint security (issue 7): fanotify and the process connector, fanned out to ES clients */
/* --es-scope PATH (repeatable), --es-deadline MS; before es_init().  0, -EINVAL, -ENOMEM. */
int es_configure(ringd *d, const char *option, const char *value);
int es_init(ringd *d);                 /* RUN/es.sock, the fanotify groups, the permission thread */
void es_done(ringd *d);                /* every pending AUTH answered (allow), clients closed */
int es_status(ringd *d, rk_value *m);  /* adds "endpoint_security" to `ringctl status` */

/* kext.c: kexts loaded into ringd (issue 7; docs/kexts.md) */
int kext_init(ringd *d);                 /* the key, the panic handlers, the safe-mode flag */
void kext_load_all(ringd *d);            /* every kext of the catalogue: rules, precedence, start, seal */
void kext_done(ringd *d);
bool kext_bundle(ringd *d, const char *bundle_id);   /* is it a .kext? */
int kext_instance_start(instance *i);    /* probe and start in-process; 0 when RUNNING (nub_instance_started ran) */
void kext_instance_stop(instance *i);    /* the class's stop; idempotent */
int kext_instance_call(instance *i, uint64_t selector, uint64_t arg, uint64_t *result);
int kext_status(ringd *d, rk_value *m);  /* adds kexts and safe mode to `ringctl status` */
void kext_cmd_list(ctl_client *c, uint32_t peer, rk_value *req);      /* kexts */
void kext_cmd_safe_mode(ctl_client *c, uint32_t peer, rk_value *req); /* safe-mode {action: show|clear} */
void kext_cmd_call(ctl_client *c, uint32_t peer, rk_value *req);      /* kext-call {service, selector, arg} */

/* Hand a supervised system extension's pre-admitted socket (fd, taken) to a new client.  0, -EBUSY, -ENOMEM, -ENOTCONN. */
int es_adopt(ringd *d, int fd, pid_t pid, const char *bundle, const char *team, const char *exe);

/* sysext.c: supervised system extensions (issue 7) */
void sysext_reconcile(ringd *d);       /* after a catalogue scan: start the enabled, stop the rest */
bool sysext_busy(ringd *d, const char *bundle); /* a retired process of it is still stopping */
/* Stop them all (ringd stops); `stopped` runs once per process that was running, when it is gone.  The count. */
unsigned sysext_stop_all(ringd *d, void (*stopped)(void *ud), void *ud);
int sysext_list(ringd *d, rk_value **ret);
int sysext_status(ringd *d, rk_value *m); /* adds "system_extensions" */
void sysext_cmd_restart(ctl_client *c, uint32_t peer, rk_value *req); /* restart {bundle}: a stopped one again */
/*
 * `ringctl debug` for a system extension: run it again now, stopped before
 * main() for a debugger (the running process, if any, is stopped first).
 * 0: not a system extension ringd runs; 1: under way, answered through
 * control_debug_started(); or a negative errno with *why (free it).
 */
int sysext_debug(ringd *d, const char *bundle, char **why);
void sysext_done(ringd *d);            /* kill and reap what is left */

/* nf.c: the network filter (issue 7) */
typedef struct nf_filter nf_filter;
int nf_configure(ringd *d, const char *option, const char *value); /* "queue" N; before nf_init() */
int nf_init(ringd *d);                 /* stale rules removed, NFQUEUE bound (a failure only disables it) */
void nf_done(ringd *d);                /* pending flows accepted, rules removed, queue unbound */
int nf_status(ringd *d, rk_value *m);  /* adds "network_filter" */
/* A filter extension's record (rules installed with the first): -EBUSY (too many), -ENOTCONN, -ENOMEM. */
int nf_filter_add(ringd *d, const char *bundle, bool fail_closed, unsigned deadline_ms, nf_filter **ret);
int nf_filter_connect(nf_filter *f, int fd, pid_t pid); /* its process's connection (fd taken); WELCOME sent */
void nf_filter_remove(nf_filter *f);   /* NULL-safe; rules removed with the last */

/* outlog.c: the standard output and error of the processes ringd launches (dexts, spares, system extensions) */
int outlog_init(ringd *d);             /* 0, -ENOMEM */
void outlog_done(ringd *d);            /* after every process is gone: drains the pipes, frees the kept lines */
/*
 * A pipe for one launch's fd 1 and fd 2, read by ringd's loop: each line into
 * ringd's log as "TAG: line" (rate-limited per bundle) and into the bundle's
 * last lines.  *ret_child: the write end (O_CLOEXEC, >= 10) to dup onto 1 and
 * 2 in launch_spawn(); the caller closes it right after the spawn, whether
 * that worked or not.  0, -EINVAL, -ENOMEM, -EMFILE/-ENFILE.
 */
int outlog_pipe(ringd *d, const char *bundle, const char *tag, int *ret_child);
void outlog_cmd_log(ctl_client *c, uint32_t peer, rk_value *req); /* log {bundle, lines?, before?} */
void outlog_cmd_follow(ctl_client *c, uint32_t peer, rk_value *req); /* log-follow {bundle}: new lines as events */
void outlog_client_gone(ringd *d, ctl_client *c);                   /* a control client went: it follows no more */
/* A log message a dext sent through its channel (rk_driver_log): kept with the bundle's lines too, sanitized and cut as
 * printed lines are, so that `ringctl log` shows both (ringd's log has it already, at its level). */
void outlog_keep_message(ringd *d, const char *bundle, const char *tag, const char *msg);
