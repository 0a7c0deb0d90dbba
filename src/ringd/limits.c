/* SPDX-License-Identifier: MIT */
/*
 * Resource limits for dext instances and system extensions, and making
 * sure nothing one started outlives it.
 *
 * Every instance is spawned as the leader of its own process group.  Where
 * the pids controller is available (cgroup v2 with "pids" enabled, or the
 * v1 "pids" hierarchy), ringd makes a cgroup per instance under
 * .../ringkit-<ringd pid>/ (i<id> for an instance, sx<n> for a run of a
 * system extension), caps its task count at max_tasks (a fork bomb
 * gets EAGAIN from fork, not the machine), and moves the instance in right
 * after spawning it -- before it has run a line of the driver, since the
 * SDK only starts driver code after its handshake.
 *
 * Killing an instance kills its process group and every task left in its
 * cgroup (children that called setsid() included), then removes the
 * cgroup.  Without a pids controller only the process group is killed and
 * ringd says so once at start.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringd/ringd.h"
#include "shared/macro.h"

static int write_file(const char *path, const char *s) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, s, strlen(s));
        close(fd);
        return n == (ssize_t) strlen(s) ? 0 : -EIO;
}

static bool has_pids_v2(const char *base) {
        char path[512], buf[256] = "";
        int fd;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/cgroup.controllers", base);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = 0;
        return strstr(buf, "pids") != NULL;
}

static void kill_cgroup(const char *cg, pid_t leader);

/*
 * Cgroups that ringds which are gone left under base (ringkit-<pid>, the pid
 * no longer running; a killed ringd never removes its own): whatever still
 * runs in them is killed (it outlived its ringd), then they are removed.
 * A live pid's directory is left alone, whoever that pid is now.
 */
static void sweep(ringd *d, const char *base) {
        DIR *dir = opendir(base);
        unsigned n = 0;
        struct dirent *de;

        if (!dir)
                return;
        while ((de = readdir(dir))) {
                char *end, path[700];
                long pid;
                DIR *sub;

                if (strncmp(de->d_name, "ringkit-", 8) != 0)
                        continue;
                pid = strtol(de->d_name + 8, &end, 10);
                if (*end || pid <= 0 || pid == getpid() || kill((pid_t) pid, 0) == 0 || errno != ESRCH)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
                if ((sub = opendir(path))) {
                        struct dirent *se;
                        while ((se = readdir(sub))) {
                                char leaf[1000];
                                struct stat st;
                                if (se->d_name[0] == '.' || fstatat(dirfd(sub), se->d_name, &st, 0) < 0 ||
                                    !S_ISDIR(st.st_mode))
                                        continue;
                                snprintf(leaf, sizeof(leaf), "%s/%s", path, se->d_name);
                                kill_cgroup(leaf, 0);
                                (void) rmdir(leaf);
                        }
                        closedir(sub);
                }
                if (rmdir(path) == 0)
                        n++;
        }
        closedir(dir);
        if (n)
                log_info(d, "limits: removed %u cgroup%s left by ringds that are gone (%s)", n, n == 1 ? "" : "s", base);
}

void limits_init(ringd *d) {
        static const char *const bases[] = { "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
        char path[512];

        for (size_t k = 0; k < ELEMENTSOF(bases); k++) {
                struct stat st;
                snprintf(path, sizeof(path), "%s/pids.max", bases[k]);
                bool v1 = k == 0 && stat(bases[k], &st) == 0;
                if (!v1 && !has_pids_v2(bases[k]))
                        continue;
                sweep(d, bases[k]);
                snprintf(path, sizeof(path), "%s/ringkit-%d", bases[k], (int) getpid());
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        continue;
                if (!v1) {
                        /* v2: children of our group need the controller enabled here */
                        char ctl[600];
                        snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", path);
                        if (write_file(ctl, "+pids") < 0) {
                                rmdir(path);
                                continue;
                        }
                }
                d->cgroup_root = strdup(path);
                log_info(d, "limits: at most %u tasks per dext (cgroup %s)", d->max_tasks, path);
                return;
        }
        log_warning(d, "limits: no pids cgroup controller; a dext's children are killed with it, but not capped");
}

static char *leaf_cgroup(ringd *d, const char *leaf) {
        char *p = NULL;
        if (!d->cgroup_root || asprintf(&p, "%s/%s", d->cgroup_root, leaf) < 0)
                return NULL;
        return p;
}

static void instance_leaf(instance *i, char out[static 32]) {
        snprintf(out, 32, "i%llu", (unsigned long long) i->id);
}

int limits_prepare_leaf(ringd *d, const char *leaf, char **ret_procs) {
        _cleanup_(freep) char *cg = leaf_cgroup(d, leaf);
        char path[700], num[32];
        int r;

        *ret_procs = NULL;
        if (!cg)
                return 0;
        if (mkdir(cg, 0755) < 0 && errno != EEXIST)
                return -errno;
        snprintf(path, sizeof(path), "%s/pids.max", cg);
        snprintf(num, sizeof(num), "%u", d->max_tasks);
        if ((r = write_file(path, num)) < 0)
                return r;
        if (asprintf(ret_procs, "%s/cgroup.procs", cg) < 0) {
                *ret_procs = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* SIGKILL the process group of leader (when > 0) and whatever is left in the cgroup cg (a path; NULL: none) until it is empty. */
static void kill_cgroup(const char *cg, pid_t leader) {
        char path[700], buf[4096];

        if (leader > 0)
                (void) kill(-leader, SIGKILL);
        if (!cg)
                return;
        snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
        for (int round = 0; round < 50; round++) {
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                ssize_t n;
                bool any = false;

                if (fd < 0)
                        return;
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (n <= 0)
                        break;
                buf[n] = 0;
                for (char *p = buf, *e; *p; p = e) {
                        long pid = strtol(p, &e, 10);
                        if (e == p)
                                break;
                        if (pid > 0 && pid != leader) {
                                (void) kill((pid_t) pid, SIGKILL);
                                any = true;
                        }
                }
                if (!any)
                        break;
                usleep(1000);
        }
}

void limits_kill_pid(ringd *d, const char *leaf, pid_t leader) {
        _cleanup_(freep) char *cg = leaf_cgroup(d, leaf);
        kill_cgroup(cg, leader);
}

void limits_release_leaf(ringd *d, const char *leaf) {
        _cleanup_(freep) char *cg = leaf_cgroup(d, leaf);

        if (cg)
                (void) rmdir(cg); /* fails harmlessly while a killed task is still being reaped */
}

int limits_prepare(ringd *d, instance *i, char **ret_procs) {
        char leaf[32];
        instance_leaf(i, leaf);
        return limits_prepare_leaf(d, leaf, ret_procs);
}

void limits_kill_all(ringd *d, instance *i) {
        char leaf[32];
        instance_leaf(i, leaf);
        limits_kill_pid(d, leaf, i->pid);
}

void limits_release(ringd *d, instance *i) {
        char leaf[32];
        instance_leaf(i, leaf);
        limits_release_leaf(d, leaf);
}

void limits_done(ringd *d) {
        if (d->cgroup_root) {
                (void) rmdir(d->cgroup_root);
                d->cgroup_root = mfree(d->cgroup_root);
        }
}
