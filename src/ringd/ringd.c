/* SPDX-License-Identifier: MIT */
/*
 * ringd: the daemon that plays the kernel.  Options, directories, the event
 * loop, signals, start-up and the orderly shutdown.
 *
 *   ringd [--root DIR] [--extensions DIR]... [--builtin PATH] [--no-linux]
 *         [--crash-limit N] [--crash-window SEC] [--step-timeout MS] [--spares N] [-v]
 *
 * With --root every path lives under DIR: DIR/run/ringd.sock (control
 * socket), DIR/var/lib/ringkit (state), DIR/extensions (bundles).  Without
 * it: /run/ringkit, /var/lib/ringkit, /usr/lib/ringkit/extensions.
 *
 * Shutdown (SIGTERM, SIGINT, `ringctl shutdown`): every top-level nub is
 * torn down (its stack stopped top-down), then the loop ends.
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/es-proto.h"
#include "ringd/ringd.h"
#include "shared/macro.h"

void ringd_shutdown(ringd *d);

int mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];
        size_t n = strlen(path);

        if (n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static void usage(FILE *f) {
        fprintf(f,
                "usage: ringd [options]\n"
                "  --root DIR           keep sockets, state and extensions under DIR\n"
                "  --extensions DIR     an extension directory to scan (repeatable;\n"
                "                       default ROOT/extensions)\n"
                "  --builtin PATH       the built-in driver host for codeless bundles\n"
                "  --no-linux           do not publish real Linux devices\n"
                "  --crash-limit N      crashes within the window that fail a driver (default 5)\n"
                "  --crash-window SEC   the crash-loop window (default 10)\n"
                "  --step-timeout MS    deadline for each lifecycle step of a dext (default 5000)\n"
                "  --max-tasks N        processes and threads a dext may have (default 64)\n"
                "  --spares N           warm spare processes kept per bundle once it has started\n"
                "                       (default 1; 0: spawn every instance cold)\n"
                "  --trust-store DIR    CA certificates and CRLs extension signatures must chain to\n"
                "                       (default ROOT/etc/ringkit/trust)\n"
                "  --applications DIR   an application directory apps may activate extensions from\n"
                "                       (repeatable; default ROOT/Applications)\n"
                "  --sandbox-exec PATH  the sandbox launcher (default: ringkit-sandbox-exec beside ringd)\n"
                "  --sandbox-rw PATH    let every dext also write under PATH (repeatable; for tests)\n"
                "  --dext-memory MIB    address-space limit of a dext (default 0: none)\n"
                "  --no-sandbox         run dexts unconfined, as ringd's user (verified exec still applies)\n"
                "  --es-scope PATH      endpoint security: mark the filesystem holding PATH (repeatable;\n"
                "                       default /); only what clients subscribe to is marked\n"
                "  --es-deadline MS     endpoint security: default AUTH deadline per client (default 1000)\n"
                "  --nf-queue N         network filter: the NFQUEUE number ringd binds (default 6230)\n"
                "  --es-spin US         endpoint security: poll for a client's answer this long before\n"
                "                       sleeping (default 50; 0: off)\n"
                "  --nf-spin US         network filter: poll for a filter's verdict this long before\n"
                "                       sleeping (default 50; 0: off)\n"
                "  -v, --verbose        debug logging\n");
}

static char *path_join(const char *a, const char *b) {
        char *p = NULL;
        if (asprintf(&p, "%s%s", a, b) < 0)
                return NULL;
        return p;
}

/* A program installed beside ringd (same directory), or NULL. */
static char *beside_self(const char *name) {
        char self[PATH_MAX], *slash, *p = NULL;
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        if (n <= 0)
                return NULL;
        self[n] = 0;
        slash = strrchr(self, '/');
        if (!slash)
                return NULL;
        *slash = 0;
        if (asprintf(&p, "%s/%s", self, name) < 0)
                return NULL;
        if (access(p, X_OK) < 0)
                p = mfree(p);
        return p;
}

static int parse_args(ringd *d, int argc, char **argv) {
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },     { "extensions", required_argument, NULL, 'e' },
                { "builtin", required_argument, NULL, 'b' },  { "no-linux", no_argument, NULL, 'L' },
                { "crash-limit", required_argument, NULL, 'c' }, { "crash-window", required_argument, NULL, 'w' },
                { "step-timeout", required_argument, NULL, 't' }, { "verbose", no_argument, NULL, 'v' },
                { "max-tasks", required_argument, NULL, 'm' }, { "spares", required_argument, NULL, 'S' },
                { "trust-store", required_argument, NULL, 'T' },
                { "applications", required_argument, NULL, 'A' },
                { "sandbox-exec", required_argument, NULL, 'X' }, { "sandbox-rw", required_argument, NULL, 'W' },
                { "dext-memory", required_argument, NULL, 'M' },  { "no-sandbox", no_argument, NULL, 'N' },
                { "es-scope", required_argument, NULL, 0x4501 }, { "es-deadline", required_argument, NULL, 0x4502 },
                { "nf-queue", required_argument, NULL, 0x4e01 }, { "es-spin", required_argument, NULL, 0x4503 }, { "nf-spin", required_argument, NULL, 0x4e02 },
                { "help", no_argument, NULL, 'h' },           {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "r:e:b:vh", opts, NULL)) >= 0) {
                switch (c) {
                case 'r':
                        free(d->root);
                        d->root = realpath(optarg, NULL);
                        if (!d->root) {
                                fprintf(stderr, "ringd: --root %s: %m\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'e': {
                        char **x = realloc(d->ext_dirs, (d->n_ext_dirs + 1) * sizeof(*x));
                        if (!x)
                                return -ENOMEM;
                        d->ext_dirs = x;
                        x[d->n_ext_dirs] = realpath(optarg, NULL);
                        if (!x[d->n_ext_dirs]) {
                                fprintf(stderr, "ringd: --extensions %s: %m\n", optarg);
                                return -EINVAL;
                        }
                        d->n_ext_dirs++;
                        break;
                }
                case 'b':
                        free(d->builtin_path);
                        d->builtin_path = realpath(optarg, NULL);
                        if (!d->builtin_path) {
                                fprintf(stderr, "ringd: --builtin %s: %m\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'L':
                        d->linux_provider = false;
                        break;
                case 'c':
                        d->crash_limit = (unsigned) strtoul(optarg, NULL, 10);
                        if (d->crash_limit == 0 || d->crash_limit > 16) {
                                fprintf(stderr, "ringd: --crash-limit must be 1..16\n");
                                return -EINVAL;
                        }
                        break;
                case 'w':
                        d->crash_window_usec = (uint64_t) (strtod(optarg, NULL) * 1e6);
                        break;
                case 't':
                        d->step_timeout_usec = strtoull(optarg, NULL, 10) * 1000;
                        if (d->step_timeout_usec == 0) {
                                fprintf(stderr, "ringd: --step-timeout must be positive\n");
                                return -EINVAL;
                        }
                        break;
                case 'm':
                        d->max_tasks = (unsigned) strtoul(optarg, NULL, 10);
                        if (d->max_tasks < 2) {
                                fprintf(stderr, "ringd: --max-tasks must be at least 2\n");
                                return -EINVAL;
                        }
                        break;
                case 'S': {
                        char *e;
                        unsigned long v = strtoul(optarg, &e, 10);
                        if (!*optarg || *e || v > 8) {
                                fprintf(stderr, "ringd: --spares must be 0..8\n");
                                return -EINVAL;
                        }
                        d->spares_per_bundle = (unsigned) v;
                        break;
                }
                case 'T':
                        free(d->trust_dir);
                        d->trust_dir = realpath(optarg, NULL);
                        if (!d->trust_dir) {
                                fprintf(stderr, "ringd: --trust-store %s: %m\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'X':
                        free(d->sandbox_exec_path);
                        d->sandbox_exec_path = realpath(optarg, NULL);
                        if (!d->sandbox_exec_path) {
                                fprintf(stderr, "ringd: --sandbox-exec %s: %m\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'W': {
                        char **x = realloc(d->sandbox_rw, (d->n_sandbox_rw + 1) * sizeof(*x));
                        if (!x)
                                return -ENOMEM;
                        d->sandbox_rw = x;
                        x[d->n_sandbox_rw] = realpath(optarg, NULL);
                        if (!x[d->n_sandbox_rw]) {
                                fprintf(stderr, "ringd: --sandbox-rw %s: %m\n", optarg);
                                return -EINVAL;
                        }
                        d->n_sandbox_rw++;
                        break;
                }
                case 'M': {
                        char *e;
                        unsigned long v = strtoul(optarg, &e, 10);
                        if (!*optarg || *e || v > 1u << 20) {
                                fprintf(stderr, "ringd: --dext-memory must be a number of MiB\n");
                                return -EINVAL;
                        }
                        d->dext_memory_mib = (unsigned) v;
                        break;
                }
                case 'N':
                        d->no_sandbox = true;
                        break;
                case 'A': {
                        char **x = realloc(d->app_dirs, (d->n_app_dirs + 1) * sizeof(*x));
                        if (!x)
                                return -ENOMEM;
                        d->app_dirs = x;
                        x[d->n_app_dirs] = realpath(optarg, NULL);
                        if (!x[d->n_app_dirs]) {
                                fprintf(stderr, "ringd: --applications %s: %m\n", optarg);
                                return -EINVAL;
                        }
                        d->n_app_dirs++;
                        break;
                }
                case 'v':
                        d->log_level = 7;
                        break;
                case 0x4501: /* endpoint security (issue 7) */
                case 0x4502:
                case 0x4503: {
                        static const char *const opt[] = { "scope", "deadline", "spin" };
                        char range[48] = "";
                        if (c == 0x4502)
                                snprintf(range, sizeof(range), " (%u..%u ms)", RK_ES_DEADLINE_MIN_MS, RK_ES_DEADLINE_MAX_MS);
                        else if (c == 0x4503)
                                snprintf(range, sizeof(range), " (0..1000 us)");
                        if (es_configure(d, opt[c - 0x4501], optarg) < 0) {
                                fprintf(stderr, "ringd: bad --es-%s '%s'%s\n", opt[c - 0x4501], optarg, range);
                                return -EINVAL;
                        }
                        break;
                }
                case 0x4e01: /* network filter (issue 7) */
                        if (nf_configure(d, "queue", optarg) < 0) {
                                fprintf(stderr, "ringd: bad --nf-queue '%s' (0..65535)\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 0x4e02:
                        if (nf_configure(d, "spin", optarg) < 0) {
                                fprintf(stderr, "ringd: bad --nf-spin '%s' (0..1000 us)\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "ringd: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

static int setup_paths(ringd *d) {
        const char *root = d->root ? d->root : "";
        int r;

        d->run_dir = path_join(root, d->root ? "/run" : "/run/ringkit");
        d->state_dir = path_join(root, "/var/lib/ringkit");
        d->ext_dir = path_join(root, d->root ? "/extensions" : "/usr/lib/ringkit/extensions");
        if (!d->run_dir || !d->state_dir || !d->ext_dir || asprintf(&d->sock_path, "%s/ringd.sock", d->run_dir) < 0)
                return -ENOMEM;
        if ((r = mkdir_p(d->run_dir, 0755)) < 0 || (r = mkdir_p(d->state_dir, 0711)) < 0 ||
            (r = mkdir_p(d->ext_dir, 0755)) < 0)
                return r;
        if (d->n_ext_dirs == 0) {
                d->ext_dirs = calloc(1, sizeof(char *));
                if (!d->ext_dirs || !(d->ext_dirs[0] = strdup(d->ext_dir)))
                        return -ENOMEM;
                d->n_ext_dirs = 1;
        }
        if (!d->builtin_path) {
                /* next to ringd, as installed and in the build tree */
                char self[PATH_MAX], *slash;
                ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n > 0) {
                        self[n] = 0;
                        slash = strrchr(self, '/');
                        if (slash) {
                                *slash = 0;
                                if (asprintf(&d->builtin_path, "%s/ringkit-builtin", self) < 0)
                                        return -ENOMEM;
                                if (access(d->builtin_path, X_OK) < 0)
                                        d->builtin_path = mfree(d->builtin_path);
                        }
                }
        }
        return 0;
}

/*
 * The activation database: opened and checked at every start, so a crash
 * of ringd at any point is noticed before anything relies on it.  ringd
 * runs without it (and says so) rather than not at all.
 */
static void open_extdb(ringd *d) {
        rk_diag diag;
        int r;

        if (asprintf(&d->extdb_path, "%s/extensions.db", d->state_dir) < 0) {
                d->extdb_path = NULL;
                return;
        }
        rk_diag_init(&diag);
        r = rk_extdb_open(d->extdb_path, &d->extdb, &diag);
        if (r >= 0)
                r = rk_extdb_check(d->extdb, &diag);
        for (size_t k = 0; k < diag.n; k++)
                log_error(d, "%s: %s", d->extdb_path, diag.items[k].message);
        rk_diag_done(&diag);
        if (r < 0 && !d->extdb)
                log_error(d, "activation database unavailable: %s", strerror(-r));
        else if (rk_extdb_get_developer_mode(d->extdb) > 0)
                log_warning(d, "developer mode is on: signature and location checks are relaxed, and each relaxation is logged");
}

static int on_signal(rk_source *s, const struct signalfd_siginfo *si, void *ud) {
        ringd *d = ud;
        log_notice(d, "received %s, shutting down", sigabbrev_np((int) si->ssi_signo) ?: "a signal");
        ringd_shutdown(d);
        return 0;
}

static void top_level_gone(void *ud) {
        ringd *d = ud;
        if (--d->pending_teardowns == 0)
                rk_loop_exit(d->loop, 0);
}

void ringd_shutdown(ringd *d) {
        nub *tops[4096];
        size_t n = 0;
        rk_service *root;

        if (d->shutting_down)
                return;
        d->shutting_down = true;
        spares_free_all(d);
        linux_stop(d);
        root = rk_registry_root(d->reg);
        RK_SERVICE_FOREACH_CLIENT(c, root) {
                nub *x = nub_from_service(c);
                if (x && x->kind != NUB_ROOT && n < ELEMENTSOF(tops))
                        tops[n++] = x;
        }
        d->pending_teardowns = (unsigned) n + 1;
        d->pending_teardowns += sysext_stop_all(d, top_level_gone, d);
        for (size_t k = 0; k < n; k++)
                nub_terminate(tops[k], top_level_gone, d);
        top_level_gone(d);
}

int main(int argc, char **argv) {
        ringd d = {
                .log_level = 6,
                .linux_provider = true,
                .crash_limit = 5,
                .max_tasks = 64,
                .spares_per_bundle = 1,
                .crash_window_usec = 10 * 1000000ULL,
                .step_timeout_usec = 5 * 1000000ULL,
                .backoff_min_usec = 10000,
                .backoff_max_usec = 5 * 1000000ULL,
                .listen_fd = -1,
                .inotify_fd = -1,
        };
        nub *root_nub = NULL, *res_nub = NULL;
        int r, status = -1; /* -1: from r (below) */

        setvbuf(stderr, NULL, _IOLBF, 0);
        if (parse_args(&d, argc, argv) < 0) {
                /* what the options made so far is freed on the common way out */
                status = 2;
                r = 0;
                goto fail;
        }
        r = setup_paths(&d);
        if (r < 0) {
                fprintf(stderr, "ringd: cannot set up %s: %s\n", d.root ? d.root : "/", strerror(-r));
                status = 1;
                r = 0;
                goto fail;
        }
        signal(SIGPIPE, SIG_IGN);
        d.started_at = rk_now();
        if ((r = rk_loop_new(&d.loop)) < 0 || (r = rk_registry_new(&d.reg)) < 0 ||
            (r = rk_match_index_new(&d.index)) < 0)
                goto fail;
        /* records for Root and IOResources, so every service has one */
        root_nub = calloc(1, sizeof(*root_nub));
        res_nub = calloc(1, sizeof(*res_nub));
        if (!root_nub || !res_nub) {
                r = -ENOMEM;
                goto fail;
        }
        *root_nub = (nub){ .d = &d, .svc = rk_service_ref(rk_registry_root(d.reg)), .kind = NUB_ROOT, .handle = -EBADF };
        *res_nub = (nub){ .d = &d, .svc = rk_service_ref(rk_registry_resources(d.reg)), .kind = NUB_ROOT,
                          .handle = -EBADF, .next_all = root_nub };
        root_nub->prev_all = res_nub;
        d.nubs = res_nub;
        rk_service_set_userdata(root_nub->svc, root_nub);
        rk_service_set_userdata(res_nub->svc, res_nub);
        root_nub = res_nub = NULL;

        limits_init(&d);
        open_extdb(&d);
        if ((r = activation_init(&d)) < 0)
                goto fail;
        if (!d.sandbox_exec_path && !d.no_sandbox)
                d.sandbox_exec_path = beside_self("ringkit-sandbox-exec");
        if ((r = launch_init(&d)) < 0 || (r = outlog_init(&d)) < 0)
                goto fail;
        if ((r = rk_loop_add_signal(d.loop, NULL, SIGTERM, on_signal, &d)) < 0 ||
            (r = rk_loop_add_signal(d.loop, NULL, SIGINT, on_signal, &d)) < 0)
                goto fail;
        if ((r = control_listen(&d)) < 0) {
                log_error(&d, "control socket %s: %s", d.sock_path, strerror(-r));
                goto fail;
        }
        if ((r = es_init(&d)) < 0) /* endpoint security (issue 7) */
                log_warning(&d, "endpoint security unavailable: %s", strerror(-r));
        if ((r = nf_init(&d)) < 0) /* network filter (issue 7) */
                log_warning(&d, "network filter unavailable: %s", strerror(-r));
        log_notice(&d, "ringd %d starting: root %s, control %s, extensions %s%s", (int) getpid(),
                   d.root ? d.root : "/", d.sock_path, d.ext_dirs[0], d.n_ext_dirs > 1 ? " ..." : "");
        if (!d.builtin_path)
                log_warning(&d, "no built-in driver host (ringkit-builtin): codeless bundles cannot start");
        if ((r = kext_init(&d)) < 0) {
                log_error(&d, "kexts: %s", strerror(-r));
                goto fail;
        }
        if ((r = catalogue_scan(&d)) < 0 || (r = catalogue_watch(&d)) < 0)
                goto fail;
        kext_load_all(&d); /* before any device is matched */
        if (d.linux_provider && (r = linux_start(&d)) < 0) {
                log_warning(&d, "Linux devices unavailable: %s; continuing with virtual devices only", strerror(-r));
                d.linux_provider = false;
        }
        log_notice(&d, "ready");
        r = rk_loop_loop(d.loop);
        log_notice(&d, "stopped");
fail:
        if (r < 0)
                log_error(&d, "ringd: %s", strerror(-r));
        free(root_nub);
        free(res_nub);
        linux_stop(&d);
        control_close(&d);
        sysext_done(&d);
        es_done(&d);
        nf_done(&d);
        d.rescan_timer = rk_source_unref(d.rescan_timer);
        d.inotify_src = rk_source_unref(d.inotify_src);
        if (d.inotify_fd >= 0)
                close(d.inotify_fd);
        spares_free_all(&d);
        while (d.instances)
                instance_free(d.instances);
        kext_done(&d);
        outlog_done(&d); /* every process it reads from is gone now */
        nub_free_all(&d);
        virtual_free_all(&d);
        limits_done(&d);
        activation_done(&d);
        launch_done(&d);
        for (size_t k = 0; k < d.n_sandbox_rw; k++)
                free(d.sandbox_rw[k]);
        free(d.sandbox_rw);
        free(d.sandbox_exec_path);
        rk_extdb_close(d.extdb);
        free(d.extdb_path);
        catalogue_free(&d);
        rk_registry_free(d.reg);
        rk_loop_unref(d.loop);
        for (size_t k = 0; k < d.n_ext_dirs; k++)
                free(d.ext_dirs[k]);
        free(d.ext_dirs);
        for (size_t k = 0; k < d.n_debug_next; k++)
                free(d.debug_next[k]);
        free(d.debug_next);
        free(d.root);
        free(d.run_dir);
        free(d.state_dir);
        free(d.ext_dir);
        free(d.sock_path);
        free(d.builtin_path);
        return status >= 0 ? status : r < 0 ? 1 : 0;
}
