/* SPDX-License-Identifier: MIT */
/*
 * Tests for the Linux provider (src/providers/linux): enumeration of this
 * machine's real devices (parents before children), hot-plug of real
 * devices the test creates and destroys (TAP interfaces through
 * /dev/net/tun, loop devices through /dev/loop-control), a real PCI
 * device's description, descriptions of a fake sysfs tree for the buses
 * this VM lacks (USB, HID, input, serial, partitions), and that every
 * description is directly usable by the matching engine.
 *
 * The hot-plug cases need root (CAP_NET_ADMIN, CAP_SYS_ADMIN); without it,
 * or without /dev/net/tun or /dev/loop-control, they say "skip:" and why.
 * Everything they create is removed on every exit path.
 *
 * RK_LINUX_DUMP=1 prints every description of the enumeration as JSON
 * (a quick way to see what ringd would publish on a machine).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/loop.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "match/match.h"
#include "match/personality.h"
#include "providers/linux/linux.h"
#include "shared/json.h"
#include "shared/macro.h"
#include "test.h"
#include "value/plist.h"

#define WAIT_MS 5000
#define ATTR_BUF 8192

/* ---- recording callbacks ---- */

typedef struct event {
        rk_linux_action action;
        char *syspath;
        rk_value *desc; /* a reference, NULL on REMOVE */
} event;

typedef struct recorder {
        event *ev;
        size_t n, cap;
        bool try_reentry;     /* call process/enumerate from inside the callback */
        int reentry_process, reentry_enumerate;
        unsigned warnings;    /* log messages at LOG_WARNING or above */
} recorder;

static void record_cb(rk_linux_provider *p, rk_linux_action action, const char *syspath, const rk_value *desc,
                      void *userdata) {
        recorder *rec = userdata;

        if (rec->n == rec->cap) {
                rec->cap = rec->cap ? rec->cap * 2 : 64;
                rec->ev = realloc(rec->ev, rec->cap * sizeof(*rec->ev));
                if (!rec->ev)
                        abort();
        }
        rec->ev[rec->n++] = (event){ action, strdup(syspath), desc ? rk_value_ref((rk_value *) desc) : NULL };
        if (rec->try_reentry) {
                rec->try_reentry = false;
                rec->reentry_process = rk_linux_provider_process(p);
                rec->reentry_enumerate = rk_linux_provider_enumerate(p);
        }
}

static void recorder_done(recorder *rec) {
        for (size_t i = 0; i < rec->n; i++) {
                free(rec->ev[i].syspath);
                rk_value_unref(rec->ev[i].desc);
        }
        free(rec->ev);
        memset(rec, 0, sizeof(*rec));
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef bool (*event_pred)(const event *e, const void *arg);

/* Poll the provider's fd and process until an event from index `from` on
 * satisfies pred; returns its index or -1 after WAIT_MS. */
static ssize_t wait_for(rk_linux_provider *p, recorder *rec, size_t from, event_pred pred, const void *arg) {
        long long deadline = now_ms() + WAIT_MS;
        struct pollfd pfd = { .fd = rk_linux_provider_get_fd(p), .events = POLLIN };

        for (;;) {
                for (size_t i = from; i < rec->n; i++)
                        if (pred(&rec->ev[i], arg))
                                return (ssize_t) i;
                from = rec->n;
                long long left = deadline - now_ms();
                if (left <= 0)
                        return -1;
                if (poll(&pfd, 1, (int) left) < 0 && errno != EINTR)
                        return -1;
                int r = rk_linux_provider_process(p);
                if (r < 0) {
                        fprintf(stderr, "process: %s\n", strerror(-r));
                        return -1;
                }
        }
}

typedef struct want_event {
        rk_linux_action action;
        const char *syspath;
} want_event;

static bool is_event(const event *e, const void *arg) {
        const want_event *w = arg;
        return e->action == w->action && streq(e->syspath, w->syspath);
}

/* ---- description helpers ---- */

static const char *S(const rk_value *d, const char *key) {
        return rk_dict_get_string(d, key);
}

static long long U(const rk_value *d, const char *key) {
        uint64_t v;
        return rk_dict_get_u64(d, key, &v) ? (long long) v : -1;
}

/* 4-byte little-endian data as a number, -1 if it is not that. */
static long long LE32(const rk_value *d, const char *key) {
        size_t n;
        const uint8_t *p = rk_data(rk_dict_get(d, key), &n);
        if (!p || n != 4)
                return -1;
        return (long long) ((uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
}

static bool chain_is(const rk_value *d, const char *const *want) {
        const rk_value *c = rk_dict_get(d, "IOClassChain");
        size_t n = 0;
        while (want[n])
                n++;
        if (rk_array_size(c) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq_ptr(rk_string(rk_array_get(c, i)), want[i]))
                        return false;
        return true;
}

static bool has_string(const rk_value *array, const char *s) {
        for (size_t i = 0; i < rk_array_size(array); i++)
                if (streq_ptr(rk_string(rk_array_get(array, i)), s))
                        return true;
        return false;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

static rk_value *P(const char *xml) {
        char *doc = NULL;
        rk_value *v = NULL;
        rk_diag d;
        rk_diag_init(&d);
        if (asprintf(&doc, "<?xml version=\"1.0\"?><plist version=\"1.0\">%s</plist>", xml) < 0)
                abort();
        if (rk_plist_parse(doc, strlen(doc), "test", &v, &d) < 0) {
                rk_diag_print(&d, stderr);
                abort();
        }
        rk_diag_done(&d);
        free(doc);
        return v;
}

/* Match a personality (plist dict XML, printf-style) against a description;
 * returns the score or -1, with the rejecting key in why. */
_printf_(3, 4) static long long match_desc(const rk_value *desc, char *why, const char *fmt, ...) {
        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *o = NULL;
        _cleanup_(rk_personality_unrefp) rk_personality *p = NULL;
        _cleanup_(rk_value_unrefp) rk_value *pd = NULL;
        _cleanup_(freep) char *xml = NULL;
        int64_t score = 0;
        va_list ap;
        rk_diag diag;

        va_start(ap, fmt);
        if (vasprintf(&xml, fmt, ap) < 0)
                abort();
        va_end(ap);
        pd = P(xml);
        rk_diag_init(&diag);
        if (rk_personality_new(pd, "com.test", "P", "test", &p, &diag) < 0 ||
            rk_match_provider_new_from_dict(desc, "desc", &o, &diag) < 0) {
                rk_diag_print(&diag, stderr);
                rk_diag_done(&diag);
                return -2;
        }
        rk_diag_done(&diag);
        if (why)
                why[0] = 0;
        if (!rk_match_personality(p, rk_match_provider_get(o), NULL, &score, why, why ? RK_MATCH_WHY_MAX : 0))
                return -1;
        return score;
}

static void dump(const char *what, const event *e) {
        rk_json j;
        printf("%s %s %s ", what, rk_linux_action_name(e->action), e->syspath);
        rk_json_init(&j, stdout);
        if (e->desc)
                rk_json_value(&j, e->desc);
        printf("\n");
}

/* Every description: the invariants of docs/linux-provider.md. */
static void check_desc(const event *e) {
        const rk_value *c = rk_dict_get(e->desc, "IOClassChain");
        size_t n = rk_array_size(c);
        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *o = NULL;

        CHECK(n >= 2 && streq_ptr(rk_string(rk_array_get(c, n - 1)), "IOService"));
        CHECK(n >= 2 && streq_ptr(rk_string(rk_array_get(c, n - 2)), "RKLinuxDevice"));
        CHECK_STREQ(S(e->desc, "RKSysPath"), e->syspath);
        CHECK(S(e->desc, "IOName") && *S(e->desc, "IOName"));
        CHECK(S(e->desc, "RKSubsystem") != NULL);
        CHECK(rk_value_is(rk_dict_get(e->desc, "RKVirtual"), RK_TYPE_BOOL));
        CHECK(rk_match_provider_new_from_dict(e->desc, "desc", &o, NULL) == 0);
}

static bool is_ancestor(const char *a, const char *b) {
        size_t n = strlen(a);
        return strncmp(a, b, n) == 0 && b[n] == '/';
}

/* ---- (a) enumeration ---- */

/* Parents before children, and RKParentSysPath is the nearest reported
 * ancestor, reported earlier. */
static void check_order(const recorder *rec) {
        for (size_t j = 0; j < rec->n; j++) {
                const char *parent = S(rec->ev[j].desc, "RKParentSysPath"), *nearest = NULL;
                for (size_t i = 0; i < rec->n; i++) {
                        if (!is_ancestor(rec->ev[i].syspath, rec->ev[j].syspath))
                                continue;
                        if (i > j) {
                                fprintf(stderr, "%s reported after its child %s\n", rec->ev[i].syspath,
                                        rec->ev[j].syspath);
                                CHECK(i < j);
                        }
                        if (!nearest || strlen(rec->ev[i].syspath) > strlen(nearest))
                                nearest = rec->ev[i].syspath;
                }
                if (!streq_ptr(parent, nearest)) {
                        fprintf(stderr, "%s: RKParentSysPath %s, nearest reported ancestor %s\n",
                                rec->ev[j].syspath, parent ? parent : "(none)", nearest ? nearest : "(none)");
                        CHECK(streq_ptr(parent, nearest));
                }
        }
}

static const event *find_suffix(const recorder *rec, const char *suffix) {
        for (size_t i = 0; i < rec->n; i++)
                if (ends_with(rec->ev[i].syspath, suffix))
                        return &rec->ev[i];
        return NULL;
}

static void check_lo(const event *lo) {
        static const char *const chain[] = { "IONetworkInterface", "RKLinuxDevice", "IOService", NULL };

        CHECK(chain_is(lo->desc, chain));
        CHECK_STREQ(S(lo->desc, "IOName"), "lo");
        CHECK_STREQ(S(lo->desc, "BSD Name"), "lo");
        CHECK_STREQ(S(lo->desc, "RKSubsystem"), "net");
        CHECK_INTEQ(U(lo->desc, "RKIfIndex"), if_nametoindex("lo"));
        CHECK_INTEQ(U(lo->desc, "RKNetType"), 772); /* ARPHRD_LOOPBACK */
        CHECK(U(lo->desc, "mtu") > 0);
        CHECK(rk_bool(rk_dict_get(lo->desc, "RKVirtual")));
        CHECK(!rk_dict_get(lo->desc, "RKParentSysPath"));
        CHECK(!rk_dict_get(lo->desc, "IOMACAddress"));
        CHECK(!rk_dict_get(lo->desc, "RKTunFlags"));
}

TEST(enumerate_default_set) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        recorder rec = { .try_reentry = true };
        size_t first;
        const event *lo;
        int r;

        ASSERT(rk_linux_provider_new(NULL, record_cb, &rec, &p) == 0);
        CHECK(rk_linux_provider_get_fd(p) >= 0);
        r = rk_linux_provider_enumerate(p);
        CHECK(r > 0);
        CHECK_INTEQ(r, rec.n);
        CHECK_INTEQ(rec.reentry_process, -EBUSY);
        CHECK_INTEQ(rec.reentry_enumerate, -EBUSY);
        printf("# %zu devices enumerated (monitor: %s)\n", rec.n,
               rk_linux_provider_get_monitor(p) == RK_LINUX_MONITOR_UDEV ? "udev" : "kernel");
        for (size_t i = 0; i < rec.n; i++) {
                CHECK(rec.ev[i].action == RK_LINUX_ADD);
                check_desc(&rec.ev[i]);
                if (getenv("RK_LINUX_DUMP"))
                        dump("device", &rec.ev[i]);
        }
        check_order(&rec);
        lo = find_suffix(&rec, "/net/lo");
        ASSERT(lo);
        check_lo(lo);
        CHECK(match_desc(lo->desc, NULL,
                         "<dict><key>IOProviderClass</key><string>IONetworkInterface</string>"
                         "<key>IOClass</key><string>AnyTap</string>"
                         "<key>IOPropertyExistsMatch</key><string>%s</string></dict>",
                         "RKTunFlags") == -1);

        /* a second enumeration resynchronises: CHANGE for what is still there */
        first = rec.n;
        r = rk_linux_provider_enumerate(p);
        CHECK(r > 0);
        for (size_t i = first; i < rec.n; i++)
                if (ends_with(rec.ev[i].syspath, "/net/lo"))
                        CHECK(rec.ev[i].action == RK_LINUX_CHANGE);
        recorder_done(&rec);
}

TEST(arguments_and_monitor_choice) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        const char *const empty[] = { NULL }, *const blank[] = { "net", "", NULL }, *const net[] = { "net", NULL };
        rk_linux_provider_options o = { .subsystems = net };
        recorder rec = { 0 };
        rk_value *v = NULL;

        CHECK(rk_linux_provider_new(NULL, NULL, NULL, &p) == -EINVAL);
        CHECK(rk_linux_provider_new(NULL, record_cb, NULL, NULL) == -EINVAL);
        CHECK(rk_linux_provider_new(empty, record_cb, NULL, &p) == -EINVAL);
        CHECK(rk_linux_provider_new(blank, record_cb, NULL, &p) == -EINVAL);
        CHECK(rk_linux_provider_enumerate(NULL) == -EINVAL);
        CHECK(rk_linux_provider_process(NULL) == -EINVAL);
        CHECK(rk_linux_provider_get_fd(NULL) == -EINVAL);
        CHECK(rk_linux_provider_free(NULL) == NULL);
        CHECK(rk_linux_describe(NULL, NULL, &v) == -EINVAL);
        CHECK(rk_linux_describe("/nonexistent/device", NULL, &v) == -ENODEV);
        CHECK(rk_linux_describe("/sys/devices", NULL, &v) == -ENODEV);
        /* class links are followed to the canonical syspath */
        ASSERT(rk_linux_describe("/sys/class/net/lo", NULL, &v) == 0);
        CHECK_STREQ(S(v, "RKSysPath"), "/sys/devices/virtual/net/lo");
        v = rk_value_unref(v);
        CHECK_STREQ(rk_linux_action_name(RK_LINUX_REMOVE), "remove");

        setenv("RK_LINUX_MONITOR", "bogus", 1);
        CHECK(rk_linux_provider_new(net, record_cb, &rec, &p) == -EINVAL);
        setenv("RK_LINUX_MONITOR", "kernel", 1);
        ASSERT(rk_linux_provider_new(net, record_cb, &rec, &p) == 0);
        CHECK(rk_linux_provider_get_monitor(p) == RK_LINUX_MONITOR_KERNEL);
        p = rk_linux_provider_free(p);
        /* an explicit choice wins over the environment */
        o.monitor = RK_LINUX_MONITOR_UDEV;
        ASSERT(rk_linux_provider_new_with_options(&o, record_cb, &rec, &p) == 0);
        CHECK(rk_linux_provider_get_monitor(p) == RK_LINUX_MONITOR_UDEV);
        CHECK(rk_linux_provider_process(p) == 0); /* nothing pending, does not block */
        p = rk_linux_provider_free(p);
        unsetenv("RK_LINUX_MONITOR");
        ASSERT(rk_linux_provider_new(net, record_cb, &rec, &p) == 0);
        CHECK(rk_linux_provider_get_monitor(p) ==
              (access("/run/udev/control", F_OK) == 0 ? RK_LINUX_MONITOR_UDEV : RK_LINUX_MONITOR_KERNEL));
        recorder_done(&rec);
}

/* ---- TAP interfaces ---- */

/* Create a TAP interface; it lives as long as the returned fd. */
static int tap_create(const char *name) {
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static bool tap_skip(int r) {
        if (r >= 0)
                return false;
        printf("skip: cannot create a TAP interface: %s (needs root and /dev/net/tun)\n", strerror(-r));
        return true;
}

static int hwaddr(const char *ifname, uint8_t mac[6]) {
        struct ifreq ifr = { 0 };
        _cleanup_(closep) int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
                return -errno;
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
        return 0;
}

static void check_tap_desc(const rk_value *desc, const char *name) {
        static const char *const chain[] = { "IOEthernetInterface", "IONetworkInterface", "RKLinuxDevice",
                                             "IOService", NULL };
        uint8_t mac[6];
        size_t n;
        const uint8_t *d = rk_data(rk_dict_get(desc, "IOMACAddress"), &n);

        CHECK(chain_is(desc, chain));
        CHECK_STREQ(S(desc, "IOName"), name);
        CHECK_STREQ(S(desc, "BSD Name"), name);
        CHECK_STREQ(S(desc, "RKSubsystem"), "net");
        CHECK_INTEQ(U(desc, "RKNetType"), 1);
        CHECK_INTEQ(U(desc, "RKIfIndex"), if_nametoindex(name));
        CHECK_INTEQ(U(desc, "mtu"), 1500);
        CHECK(rk_bool(rk_dict_get(desc, "RKVirtual")));
        CHECK(!rk_dict_get(desc, "RKParentSysPath"));
        CHECK(!rk_dict_get(desc, "RKModalias"));
        CHECK_INTEQ(U(desc, "RKTunFlags"), IFF_TAP | IFF_NO_PI);
        ASSERT(d && n == 6);
        ASSERT(hwaddr(name, mac) == 0);
        CHECK(memcmp(d, mac, 6) == 0);
}

/* (e): the description goes straight into the matching engine. */
static void check_tap_matching(const rk_value *desc, const char *name) {
        char why[RK_MATCH_WHY_MAX];

        CHECK(match_desc(desc, why,
                         "<dict><key>IOProviderClass</key><string>IOEthernetInterface</string>"
                         "<key>IOClass</key><string>TapDriver</string>"
                         "<key>IOPropertyMatch</key><dict><key>BSD Name</key><string>%s</string></dict></dict>",
                         name) == 0);
        CHECK(match_desc(desc, why,
                         "<dict><key>IOProviderClass</key><string>IOEthernetInterface</string>"
                         "<key>IOClass</key><string>TapDriver</string>"
                         "<key>IOPropertyMatch</key><dict><key>BSD Name</key><string>%s-not</string></dict></dict>",
                         name) == -1);
        CHECK_STREQ(why, "IOPropertyMatch");
        CHECK(match_desc(desc, why,
                         "<dict><key>IOProviderClass</key><string>RKLinuxDevice</string>"
                         "<key>IOClass</key><string>Any</string>"
                         "<key>IONameMatch</key><string>%s</string></dict>",
                         name) == 0);
        CHECK(match_desc(desc, why,
                         "<dict><key>IOProviderClass</key><string>IONetworkInterface</string>"
                         "<key>IOClass</key><string>AnyTap</string>"
                         "<key>IOPropertyExistsMatch</key><string>%s</string></dict>",
                         "RKTunFlags") == 0);
        CHECK(match_desc(desc, why,
                         "<dict><key>IOProviderClass</key><string>IOPCIDevice</string>"
                         "<key>IOClass</key><string>%s</string></dict>",
                         "X") == -1);
        CHECK_STREQ(why, "IOProviderClass");
}

static int count_actions(const recorder *rec, const char *syspath, rk_linux_action a) {
        int n = 0;
        for (size_t i = 0; i < rec->n; i++)
                n += streq(rec->ev[i].syspath, syspath) && rec->ev[i].action == a;
        return n;
}

TEST(tap_hotplug) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        _cleanup_(closep) int tap = -EBADF;
        const char *const net[] = { "net", NULL };
        char name[IFNAMSIZ], syspath[128];
        recorder rec = { 0 };
        ssize_t i;

        snprintf(name, sizeof(name), "rkt%d", (int) getpid());
        snprintf(syspath, sizeof(syspath), "/sys/devices/virtual/net/%s", name);
        ASSERT(rk_linux_provider_new(net, record_cb, &rec, &p) == 0);
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        tap = tap_create(name);
        if (tap_skip(tap))
                goto out;
        i = wait_for(p, &rec, 0, is_event, &(want_event){ RK_LINUX_ADD, syspath });
        if (i < 0)
                fprintf(stderr, "no ADD for %s within %d ms\n", syspath, WAIT_MS);
        ASSERT(i >= 0);
        check_tap_desc(rec.ev[i].desc, name);
        check_tap_matching(rec.ev[i].desc, name);

        close(TAKE_FD(tap)); /* not persistent: the interface goes with the fd */
        i = wait_for(p, &rec, (size_t) i, is_event, &(want_event){ RK_LINUX_REMOVE, syspath });
        ASSERT(i >= 0);
        CHECK(rec.ev[i].desc == NULL);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_ADD), 1);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_REMOVE), 1);
        for (size_t k = 0; k < rec.n; k++)
                if (streq(rec.ev[k].syspath, syspath))
                        printf("# tap: %s\n", rk_linux_action_name(rec.ev[k].action));
out:
        recorder_done(&rec);
}

/* The monitor is on before the enumeration: a device created in between
 * is reported once by the enumeration, and its queued "add" becomes CHANGE. */
TEST(tap_between_monitor_and_enumeration) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        _cleanup_(closep) int tap = -EBADF;
        const char *const net[] = { "net", NULL };
        char name[IFNAMSIZ], syspath[128];
        recorder rec = { 0 };
        ssize_t i;

        snprintf(name, sizeof(name), "rku%d", (int) getpid());
        snprintf(syspath, sizeof(syspath), "/sys/devices/virtual/net/%s", name);
        ASSERT(rk_linux_provider_new(net, record_cb, &rec, &p) == 0);
        tap = tap_create(name);
        if (tap_skip(tap))
                goto out;
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_ADD), 1);
        i = wait_for(p, &rec, 0, is_event, &(want_event){ RK_LINUX_CHANGE, syspath });
        CHECK(i >= 0);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_ADD), 1);
        close(TAKE_FD(tap));
        CHECK(wait_for(p, &rec, 0, is_event, &(want_event){ RK_LINUX_REMOVE, syspath }) >= 0);
out:
        recorder_done(&rec);
}

static int tap_rename(const char *from, const char *to) {
        struct ifreq ifr = { 0 };
        _cleanup_(closep) int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", from);
        snprintf(ifr.ifr_newname, sizeof(ifr.ifr_newname), "%s", to);
        return s < 0 || ioctl(s, SIOCSIFNAME, &ifr) < 0 ? -errno : 0;
}

/* A renamed interface: the kernel's "move" is REMOVE old + ADD new. */
TEST(tap_rename_is_remove_and_add) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        _cleanup_(closep) int tap = -EBADF;
        const char *const net[] = { "net", NULL };
        char a[IFNAMSIZ], b[IFNAMSIZ], pa[128], pb[128];
        recorder rec = { 0 };
        ssize_t i;

        snprintf(a, sizeof(a), "rkm%d", (int) getpid());
        snprintf(b, sizeof(b), "rkn%d", (int) getpid());
        snprintf(pa, sizeof(pa), "/sys/devices/virtual/net/%s", a);
        snprintf(pb, sizeof(pb), "/sys/devices/virtual/net/%s", b);
        ASSERT(rk_linux_provider_new(net, record_cb, &rec, &p) == 0);
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        tap = tap_create(a);
        if (tap_skip(tap))
                goto out;
        ASSERT(wait_for(p, &rec, 0, is_event, &(want_event){ RK_LINUX_ADD, pa }) >= 0);
        ASSERT(tap_rename(a, b) == 0);
        i = wait_for(p, &rec, 0, is_event, &(want_event){ RK_LINUX_ADD, pb });
        ASSERT(i >= 0);
        CHECK_INTEQ(count_actions(&rec, pa, RK_LINUX_REMOVE), 1);
        CHECK_STREQ(S(rec.ev[i].desc, "BSD Name"), b);
        close(TAKE_FD(tap));
        CHECK(wait_for(p, &rec, 0, is_event, &(want_event){ RK_LINUX_REMOVE, pb }) >= 0);
out:
        recorder_done(&rec);
}

/* enumerate() again after missing uevents: ADD for the new, REMOVE for the
 * gone; the stale uevents drained afterwards report nothing more. */
TEST(resync_by_enumeration) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        _cleanup_(closep) int tap = -EBADF;
        const char *const net[] = { "net", NULL };
        char name[IFNAMSIZ], syspath[128];
        recorder rec = { 0 };
        int r;

        snprintf(name, sizeof(name), "rkr%d", (int) getpid());
        snprintf(syspath, sizeof(syspath), "/sys/devices/virtual/net/%s", name);
        ASSERT(rk_linux_provider_new(net, record_cb, &rec, &p) == 0);
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        tap = tap_create(name);
        if (tap_skip(tap))
                goto out;
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_ADD), 1);
        close(TAKE_FD(tap));
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_REMOVE), 1);
        usleep(200 * 1000);
        do
                r = rk_linux_provider_process(p);
        while (r > 0);
        CHECK(r == 0);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_ADD), 1);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_CHANGE), 0);
        CHECK_INTEQ(count_actions(&rec, syspath, RK_LINUX_REMOVE), 1);
out:
        recorder_done(&rec);
}

static void count_warnings(rk_linux_provider *p, int level, const char *message, void *userdata) {
        recorder *rec = userdata;
        if (level <= LOG_WARNING)
                rec->warnings++;
}

/* A socket buffer too small for the uevents pending: the overflow
 * (ENOBUFS) triggers a resynchronisation, and every device still ends up
 * with ADD (CHANGE)* REMOVE. */
TEST(overflow_resyncs) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        const char *const net[] = { "net", NULL };
        rk_linux_provider_options o = { .subsystems = net, .receive_buffer = 1, .log = count_warnings };
        int fds[40], r, total = 0;
        char name[IFNAMSIZ], syspath[128];
        recorder rec = { 0 };

        ASSERT(rk_linux_provider_new_with_options(&o, record_cb, &rec, &p) == 0);
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        for (int i = 0; i < (int) ELEMENTSOF(fds); i++) {
                snprintf(name, sizeof(name), "rko%d.%d", i, (int) getpid() % 10000);
                fds[i] = tap_create(name);
                if (tap_skip(fds[i])) {
                        while (i-- > 0)
                                close(fds[i]);
                        goto out;
                }
        }
        for (int i = 0; i + 1 < (int) ELEMENTSOF(fds); i++) /* all but the last go again */
                close(fds[i]);
        usleep(100 * 1000);
        while ((r = rk_linux_provider_process(p)) > 0)
                total += r;
        CHECK(r == 0);
        printf("# overflow: %d callbacks, %u warnings\n", total, rec.warnings);
        CHECK(rec.warnings > 0);
        for (int i = 0; i < (int) ELEMENTSOF(fds); i++) {
                snprintf(syspath, sizeof(syspath), "/sys/devices/virtual/net/rko%d.%d", i, (int) getpid() % 10000);
                int adds = count_actions(&rec, syspath, RK_LINUX_ADD), removes = count_actions(&rec, syspath,
                                                                                                RK_LINUX_REMOVE);
                CHECK(adds - removes == (i + 1 == (int) ELEMENTSOF(fds) ? 1 : 0));
        }
        close(fds[ELEMENTSOF(fds) - 1]);
out:
        recorder_done(&rec);
}

/* A device vanishing while it is read gives a complete description or
 * -ENODEV: a child creates and deletes the same TAP interface in a loop. */
TEST(vanishing_device) {
        char name[IFNAMSIZ], syspath[128];
        unsigned ok = 0, gone = 0, other = 0, incomplete = 0;
        int status;
        pid_t pid;

        snprintf(name, sizeof(name), "rkv%d", (int) getpid());
        snprintf(syspath, sizeof(syspath), "/sys/devices/virtual/net/%s", name);
        if (tap_skip(access("/dev/net/tun", R_OK | W_OK) < 0 ? -errno : 0))
                return;
        pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
                for (int k = 0; k < 300; k++) {
                        int fd = tap_create(name);
                        if (fd >= 0)
                                close(fd);
                }
                _exit(0);
        }
        while (waitpid(pid, &status, WNOHANG) == 0) {
                rk_value *v = NULL;
                int r = rk_linux_describe(syspath, NULL, &v);
                if (r == 0) {
                        ok++;
                        incomplete += !rk_dict_get(v, "IOMACAddress") || U(v, "RKIfIndex") < 0 ||
                                      U(v, "mtu") < 0 || !S(v, "BSD Name");
                } else if (r == -ENODEV)
                        gone++;
                else
                        other++;
                rk_value_unref(v);
        }
        printf("# vanishing: %u complete, %u gone, %u incomplete, %u other errors\n", ok, gone, incomplete,
               other);
        CHECK(incomplete == 0);
        CHECK(other == 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- loop devices ---- */

typedef struct loopdev {
        char backing[64];
        int ctl, fd;
        int index;
        bool attached;
} loopdev;

static void loopdev_done(loopdev *l) {
        if (l->attached && ioctl(l->fd, LOOP_CLR_FD) < 0)
                fprintf(stderr, "LOOP_CLR_FD: %m\n");
        if (l->fd >= 0)
                close(l->fd);
        if (l->ctl >= 0)
                close(l->ctl);
        if (l->backing[0])
                unlink(l->backing);
}

static int loop_attach_one(loopdev *l, int backing) {
        struct loop_config cfg = { .fd = (uint32_t) backing };
        char node[32];

        l->index = ioctl(l->ctl, LOOP_CTL_GET_FREE);
        if (l->index < 0)
                return -errno;
        snprintf(node, sizeof(node), "/dev/loop%d", l->index);
        l->fd = open(node, O_RDWR | O_CLOEXEC);
        if (l->fd < 0)
                return -errno;
        if (ioctl(l->fd, LOOP_CONFIGURE, &cfg) == 0 ||
            ((errno == EINVAL || errno == ENOTTY) && ioctl(l->fd, LOOP_SET_FD, backing) == 0)) {
                l->attached = true;
                return 0;
        }
        int r = -errno;
        close(TAKE_FD(l->fd));
        return r;
}

/* Attach a 1 MiB file to a free loop device (retrying when another user
 * takes it first). */
static int loop_attach(loopdev *l) {
        _cleanup_(closep) int backing = -EBADF;
        int r = -EBUSY;

        snprintf(l->backing, sizeof(l->backing), "/tmp/rk-loop-XXXXXX");
        backing = mkostemp(l->backing, O_CLOEXEC);
        if (backing < 0) {
                l->backing[0] = 0;
                return -errno;
        }
        if (ftruncate(backing, 1 << 20) < 0)
                return -errno;
        l->ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (l->ctl < 0)
                return -errno;
        for (int tries = 0; tries < 16 && r == -EBUSY; tries++)
                r = loop_attach_one(l, backing);
        return r;
}

typedef struct loop_want {
        const char *syspath;
        long long size;
        const char *backing; /* NULL: must be absent */
} loop_want;

static bool is_loop_state(const event *e, const void *arg) {
        const loop_want *w = arg;
        return e->desc && streq(e->syspath, w->syspath) && U(e->desc, "Size") == w->size &&
               streq_ptr(S(e->desc, "RKLoopBackingFile"), w->backing);
}

static void print_actions(const recorder *rec, size_t from, const char *syspath, const char *what) {
        printf("# loop %s:", what);
        for (size_t k = from; k < rec->n; k++)
                if (streq(rec->ev[k].syspath, syspath))
                        printf(" %s(Size=%lld)", rk_linux_action_name(rec->ev[k].action), U(rec->ev[k].desc, "Size"));
        printf("\n");
}

static void check_loop_desc(const rk_value *desc, int index) {
        static const char *const chain[] = { "IOMedia", "IOStorage", "RKLinuxDevice", "IOService", NULL };
        char name[32], node[32];

        snprintf(name, sizeof(name), "loop%d", index);
        snprintf(node, sizeof(node), "/dev/loop%d", index);
        CHECK(chain_is(desc, chain));
        CHECK_STREQ(S(desc, "IOName"), name);
        CHECK_STREQ(S(desc, "BSD Name"), name);
        CHECK_STREQ(S(desc, "RKDevNode"), node);
        CHECK_STREQ(S(desc, "RKDevType"), "disk");
        CHECK_INTEQ(U(desc, "BSD Major"), 7);
        CHECK(rk_bool(rk_dict_get(desc, "Whole")));
        CHECK(rk_bool(rk_dict_get(desc, "Writable")));
        CHECK(rk_value_is(rk_dict_get(desc, "Removable"), RK_TYPE_BOOL));
        CHECK_INTEQ(U(desc, "Preferred Block Size"), 512);
}

TEST(loop_hotplug) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        _cleanup_(loopdev_done) loopdev l = { .ctl = -EBADF, .fd = -EBADF };
        const char *const block[] = { "block", NULL };
        char syspath[128], backing[PATH_MAX];
        recorder rec = { 0 };
        ssize_t i;
        size_t mark;
        int r;

        ASSERT(rk_linux_provider_new(block, record_cb, &rec, &p) == 0);
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        mark = rec.n;
        r = loop_attach(&l);
        if (r < 0) {
                printf("skip: cannot attach a loop device: %s (needs root and /dev/loop-control)\n", strerror(-r));
                goto out;
        }
        snprintf(syspath, sizeof(syspath), "/sys/devices/virtual/block/loop%d", l.index);
        ASSERT(realpath(l.backing, backing));
        i = wait_for(p, &rec, mark, is_loop_state, &(loop_want){ syspath, 1 << 20, backing });
        print_actions(&rec, mark, syspath, "attach");
        ASSERT(i >= 0);
        check_loop_desc(rec.ev[i].desc, l.index);
        CHECK(match_desc(rec.ev[i].desc, NULL,
                         "<dict><key>IOProviderClass</key><string>IOMedia</string><key>IOClass</key><string>X</string>"
                         "<key>IOPropertyMatch</key><dict><key>RKLoopBackingFile</key><string>%s</string>"
                         "<key>Whole</key><true/></dict></dict>",
                         backing) == 0);

        mark = rec.n;
        CHECK(ioctl(l.fd, LOOP_CLR_FD) == 0);
        l.attached = false;
        close(TAKE_FD(l.fd));
        i = wait_for(p, &rec, mark, is_loop_state, &(loop_want){ syspath, 0, NULL });
        print_actions(&rec, mark, syspath, "detach");
        CHECK(i >= 0);
out:
        recorder_done(&rec);
}

/* ---- (d) a real PCI device ---- */

static long long sysfs_hex(const char *dir, const char *attr) {
        char path[PATH_MAX], buf[64];
        long long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, attr);
        f = fopen(path, "re");
        if (f && fgets(buf, sizeof(buf), f))
                v = strtoll(buf, NULL, 16);
        if (f)
                fclose(f);
        return v;
}

static void check_pci_desc(const event *e) {
        static const char *const chain[] = { "IOPCIDevice", "RKLinuxDevice", "IOService", NULL };
        long long ven = sysfs_hex(e->syspath, "vendor"), dev = sysfs_hex(e->syspath, "device");
        long long cls = sysfs_hex(e->syspath, "class"), rev = sysfs_hex(e->syspath, "revision");
        char name[32], cname[32];
        long long score;

        CHECK(chain_is(e->desc, chain));
        CHECK_INTEQ(LE32(e->desc, "vendor-id"), ven);
        CHECK_INTEQ(LE32(e->desc, "device-id"), dev);
        CHECK_INTEQ(LE32(e->desc, "subsystem-vendor-id"), sysfs_hex(e->syspath, "subsystem_vendor"));
        CHECK_INTEQ(LE32(e->desc, "subsystem-id"), sysfs_hex(e->syspath, "subsystem_device"));
        CHECK_INTEQ(LE32(e->desc, "class-code"), cls);
        CHECK_INTEQ(LE32(e->desc, "revision-id"), rev);
        snprintf(name, sizeof(name), "pci%llx,%llx", ven, dev);
        snprintf(cname, sizeof(cname), "pciclass,%06llx", cls);
        CHECK_STREQ(S(e->desc, "IOName"), name);
        CHECK(has_string(rk_dict_get(e->desc, "IOCompatibleNames"), name));
        CHECK(has_string(rk_dict_get(e->desc, "IOCompatibleNames"), cname));
        for (size_t i = 0, n = rk_array_size(rk_dict_get(e->desc, "IOCompatibleNames")); i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        CHECK(!streq(rk_string(rk_array_get(rk_dict_get(e->desc, "IOCompatibleNames"), i)),
                                     rk_string(rk_array_get(rk_dict_get(e->desc, "IOCompatibleNames"), j))));
        CHECK(S(e->desc, "RKModalias") && strncmp(S(e->desc, "RKModalias"), "pci:v", 5) == 0);
        CHECK(S(e->desc, "IOLocation") != NULL);
        /* the PCI family reads them as IOPCIFamily's registers */
        score = match_desc(e->desc, NULL,
                           "<dict><key>IOProviderClass</key><string>IOPCIDevice</string><key>IOClass</key>"
                           "<string>X</string><key>IOPCIMatch</key><string>0x%04llx%04llx</string>"
                           "<key>IOPCIClassMatch</key><string>0x%06llx00&amp;0xffffff00</string></dict>",
                           dev, ven, cls);
        CHECK_INTEQ(score, 1000);
        score = match_desc(e->desc, NULL,
                           "<dict><key>IOProviderClass</key><string>IOPCIDevice</string><key>IOClass</key>"
                           "<string>X</string><key>RKModaliasMatch</key><string>pci:v%08llXd%08llX*</string></dict>",
                           ven, dev);
        CHECK_INTEQ(score, 0);
}

TEST(pci_real_device) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        const char *const pci[] = { "pci", NULL };
        recorder rec = { 0 };

        ASSERT(rk_linux_provider_new(pci, record_cb, &rec, &p) == 0);
        ASSERT(rk_linux_provider_enumerate(p) >= 0);
        if (rec.n == 0) {
                printf("skip: no PCI device on this machine (/sys/bus/pci/devices is empty)\n");
                goto out;
        }
        for (size_t i = 0; i < rec.n; i++) {
                check_desc(&rec.ev[i]);
                check_pci_desc(&rec.ev[i]);
        }
        printf("# %zu PCI devices checked, e.g. %s = %s\n", rec.n, rec.ev[0].syspath, S(rec.ev[0].desc, "IOName"));
out:
        recorder_done(&rec);
}

/* ---- a fake sysfs tree for the buses this machine lacks ---- */

typedef struct fake {
        char root[64];
} fake;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void fake_done(fake *f) {
        if (f->root[0])
                nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void mkdir_p(const char *path) {
        char buf[PATH_MAX];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *s = buf + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        (void) mkdir(buf, 0755);
                        *s = '/';
                }
        (void) mkdir(buf, 0755);
}

/* Write root/rel (creating directories); content is written as given. */
static void fput_n(const fake *f, const char *rel, const void *content, size_t n) {
        char path[PATH_MAX], dir[PATH_MAX];
        FILE *fp;

        snprintf(path, sizeof(path), "%s/%s", f->root, rel);
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = 0;
        mkdir_p(dir);
        fp = fopen(path, "we");
        if (!fp || fwrite(content, 1, n, fp) != n)
                abort();
        fclose(fp);
}

static void fput(const fake *f, const char *rel, const char *content) {
        fput_n(f, rel, content, strlen(content));
}

/* A device directory: uevent, subsystem link, optional driver link, and
 * "dev" when the uevent has MAJOR and MINOR. */
static void fdev(const fake *f, const char *rel, const char *subsystem, const char *driver, const char *uevent) {
        char path[PATH_MAX], target[PATH_MAX];
        const char *major = strstr(uevent, "MAJOR="), *minor = strstr(uevent, "MINOR=");

        snprintf(path, sizeof(path), "%s/uevent", rel);
        fput(f, path, uevent);
        if (major && minor) {
                snprintf(path, sizeof(path), "%s/dev", rel);
                snprintf(target, sizeof(target), "%d:%d\n", atoi(major + 6), atoi(minor + 6));
                fput(f, path, target);
        }
        snprintf(target, sizeof(target), "%s/%s", f->root, subsystem);
        mkdir_p(target);
        snprintf(path, sizeof(path), "%s/%s/subsystem", f->root, rel);
        if (symlink(target, path) < 0)
                abort();
        if (driver) {
                snprintf(target, sizeof(target), "%s/%s/drivers/%s", f->root, subsystem, driver);
                mkdir_p(target);
                snprintf(path, sizeof(path), "%s/%s/driver", f->root, rel);
                if (symlink(target, path) < 0)
                        abort();
        }
}

static int unlink_rel(const fake *f, const char *rel) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", f->root, rel);
        return unlink(path);
}

/* Attributes: pairs of name, content (a newline is added), then NULL. */
static void fattrs(const fake *f, const char *rel, ...) {
        char path[PATH_MAX], content[ATTR_BUF];
        va_list ap;

        va_start(ap, rel);
        for (const char *name; (name = va_arg(ap, const char *));) {
                snprintf(path, sizeof(path), "%s/%s", rel, name);
                snprintf(content, sizeof(content), "%s\n", va_arg(ap, const char *));
                fput(f, path, content);
        }
        va_end(ap);
}

#define PCI "devices/pci0000:00/0000:00:14.0"
#define ROOTHUB PCI "/usb1"
#define USBDEV ROOTHUB "/1-4.2"
#define USBIF USBDEV "/1-4.2:1.0"
#define HIDDEV USBIF "/0003:046D:C52B.0001"
#define INPUT HIDDEV "/input/input5"

/* Boot keyboard, consumer control, and a usage with its own page (4-byte
 * Usage item): three top-level application collections. */
static const uint8_t report_descriptor[] = {
        0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25, 0x01,
        0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0xc0,
        0x05, 0x0c, 0x09, 0x01, 0xa1, 0x01, 0x85, 0x03, 0x75, 0x10, 0x95, 0x01, 0x15, 0x01, 0x26, 0xff,
        0x02, 0x19, 0x01, 0x2a, 0xff, 0x02, 0x81, 0x00, 0xc0,
        0x0b, 0x01, 0x00, 0x0d, 0x00, 0xa1, 0x01, 0x09, 0x20, 0xa1, 0x00, 0xc0, 0xc0,
};

static void fake_usb(const fake *f) {
        fdev(f, PCI, "bus/pci", "xhci_hcd",
             "DRIVER=xhci_hcd\nPCI_CLASS=C0330\nPCI_ID=8086:A36D\nPCI_SUBSYS_ID=8086:7270\n"
             "PCI_SLOT_NAME=0000:00:14.0\nMODALIAS=pci:v00008086d0000A36Dsv00008086sd00007270bc0Csc03i30\n");
        fattrs(f, PCI, "vendor", "0x8086", "device", "0xa36d", "subsystem_vendor", "0x8086", "subsystem_device",
               "0x7270", "class", "0x0c0330", "revision", "0x10", NULL);
        fdev(f, ROOTHUB, "bus/usb", "usb", "MAJOR=189\nMINOR=0\nDEVNAME=bus/usb/001/001\nDEVTYPE=usb_device\n");
        fattrs(f, ROOTHUB, "idVendor", "1d6b", "idProduct", "0002", "bcdDevice", "0606", "bDeviceClass", "09",
               "bDeviceSubClass", "00", "bDeviceProtocol", "01", "bNumConfigurations", "1", "busnum", "1",
               "devnum", "1", "devpath", "0", "speed", "480", NULL);
        fdev(f, USBDEV, "bus/usb", "usb",
             "MAJOR=189\nMINOR=5\nDEVNAME=bus/usb/001/006\nDEVTYPE=usb_device\nDRIVER=usb\n"
             "PRODUCT=46d/c52b/1211\nTYPE=0/0/0\nBUSNUM=001\nDEVNUM=006\n");
        fattrs(f, USBDEV, "idVendor", "046d", "idProduct", "c52b", "bcdDevice", "1211", "bDeviceClass", "00",
               "bDeviceSubClass", "00", "bDeviceProtocol", "00", "bNumConfigurations", "1",
               "bConfigurationValue", "1", "manufacturer", "Logitech", "product", "USB Receiver", "serial",
               "ABC123", "busnum", "1", "devnum", "6", "devpath", "4.2", "speed", "12", NULL);
        /* device descriptor, then the start of a configuration descriptor */
        fput_n(f, USBDEV "/descriptors",
               "\x12\x01\x00\x02\x00\x00\x00\x08\x6d\x04\x2b\xc5\x11\x12\x01\x02\x03\x01"
               "\x09\x02\x22\x00\x01\x01\x00\xa0\x32", 27);
        fdev(f, USBIF, "bus/usb", "usbhid",
             "DEVTYPE=usb_interface\nDRIVER=usbhid\nPRODUCT=46d/c52b/1211\nTYPE=0/0/0\nINTERFACE=3/1/1\n"
             "MODALIAS=usb:v046DpC52Bd1211dc00dsc00dp00ic03isc01ip01in00\n");
        fattrs(f, USBIF, "bInterfaceNumber", "00", "bAlternateSetting", " 0", "bInterfaceClass", "03",
               "bInterfaceSubClass", "01", "bInterfaceProtocol", "01", "bNumEndpoints", "01", NULL);
        fdev(f, HIDDEV, "bus/hid", "hid-generic",
             "DRIVER=hid-generic\nHID_ID=0003:0000046D:0000C52B\nHID_NAME=Logitech USB Receiver\n"
             "HID_PHYS=usb-0000:00:14.0-4.2/input0\nHID_UNIQ=\nMODALIAS=hid:b0003g0001v0000046Dp0000C52B\n");
        fput_n(f, HIDDEV "/report_descriptor", report_descriptor, sizeof(report_descriptor));
        fattrs(f, HIDDEV, "country", "21", NULL);
        fdev(f, HIDDEV "/hidraw/hidraw0", "class/hidraw", NULL, "MAJOR=243\nMINOR=0\nDEVNAME=hidraw0\n");
        fdev(f, INPUT, "class/input", NULL,
             "PRODUCT=3/46d/c52b/111\nNAME=\"Logitech USB Receiver\"\nPHYS=\"usb-0000:00:14.0-4.2/input0\"\n"
             "EV=120013\nMODALIAS=input:b0003v046DpC52Be0111-e0,1,4,11,14,k71,r,am4,lsfw\n");
        fattrs(f, INPUT, "name", "Logitech USB Receiver", "phys", "usb-0000:00:14.0-4.2/input0", "uniq", "",
               "id/bustype", "0003", "id/vendor", "046d", "id/product", "c52b", "id/version", "0111",
               "capabilities/ev", "120013", NULL);
        fdev(f, INPUT "/event3", "class/input", NULL, "MAJOR=13\nMINOR=67\nDEVNAME=input/event3\n");
}

static rk_value *describe_fake(const fake *f, const char *rel) {
        char path[PATH_MAX];
        rk_value *v = NULL;
        int r;

        snprintf(path, sizeof(path), "%s/%s", f->root, rel);
        r = rk_linux_describe(path, NULL, &v);
        if (r < 0)
                fprintf(stderr, "describe %s: %s\n", path, strerror(-r));
        return v;
}

/* RKParentSysPath relative to the fake root */
static const char *parent_rel(const fake *f, const rk_value *d) {
        const char *s = S(d, "RKParentSysPath");
        size_t n = strlen(f->root);
        return s && strncmp(s, f->root, n) == 0 && s[n] == '/' ? s + n + 1 : s;
}

static void check_fake_pci(const fake *f) {
        static const char *const compat[] = { "pci8086,7270", "pci8086,a36d", "pciclass,0c0330", NULL };
        _cleanup_(rk_value_unrefp) rk_value *d = describe_fake(f, PCI);
        const rk_value *c;

        ASSERT(d);
        c = rk_dict_get(d, "IOCompatibleNames");
        ASSERT(rk_array_size(c) == 3);
        for (size_t i = 0; i < 3; i++)
                CHECK_STREQ(rk_string(rk_array_get(c, i)), compat[i]);
        CHECK_STREQ(S(d, "IOName"), "pci8086,a36d");
        CHECK_STREQ(S(d, "IOLocation"), "14");
        CHECK_STREQ(S(d, "RKPCIAddress"), "0000:00:14.0");
        CHECK_STREQ(S(d, "RKDriver"), "xhci_hcd");
        CHECK_INTEQ(LE32(d, "class-code"), 0x0c0330);
        CHECK_INTEQ(LE32(d, "revision-id"), 0x10);
        CHECK(!rk_dict_get(d, "RKParentSysPath"));
        CHECK_INTEQ(match_desc(d, NULL,
                               "<dict><key>IOProviderClass</key><string>IOPCIDevice</string><key>IOClass</key>"
                               "<string>X</string><key>IOPCIClassMatch</key><string>0x0c033000&amp;0xffffff00</string>"
                               "</dict>"),
                    0);
        CHECK_INTEQ(match_desc(d, NULL,
                               "<dict><key>IOProviderClass</key><string>IOPCIDevice</string><key>IOClass</key>"
                               "<string>X</string><key>IOPCIMatch</key><string>0x72708086</string></dict>"),
                    0); /* a subsystem match scores no family bonus */
}

static void check_fake_usb_device(const fake *f) {
        static const char *const chain[] = { "IOUSBHostDevice", "IOUSBDevice", "RKLinuxDevice", "IOService", NULL };
        _cleanup_(rk_value_unrefp) rk_value *d = describe_fake(f, USBDEV);
        _cleanup_(rk_value_unrefp) rk_value *hub = describe_fake(f, ROOTHUB);
        double speed = 0;

        ASSERT(d && hub);
        CHECK(chain_is(d, chain));
        CHECK_STREQ(S(d, "IOName"), "USB Receiver");
        CHECK_INTEQ(U(d, "idVendor"), 0x046d);
        CHECK_INTEQ(U(d, "idProduct"), 0xc52b);
        CHECK_INTEQ(U(d, "bcdDevice"), 0x1211);
        CHECK_INTEQ(U(d, "bDeviceClass"), 0);
        CHECK_INTEQ(U(d, "bNumConfigurations"), 1);
        CHECK_INTEQ(U(d, "bConfigurationValue"), 1);
        CHECK_STREQ(S(d, "USB Vendor Name"), "Logitech");
        CHECK_STREQ(S(d, "USB Product Name"), "USB Receiver");
        CHECK_STREQ(S(d, "USB Serial Number"), "ABC123");
        CHECK_INTEQ(U(d, "busnum"), 1);
        CHECK_INTEQ(U(d, "devnum"), 6);
        CHECK_INTEQ(U(d, "locationID"), 0x01420000);
        CHECK_INTEQ(U(d, "PortNum"), 2);
        CHECK_INTEQ(U(d, "bcdUSB"), 0x0200);
        CHECK_INTEQ(U(d, "bMaxPacketSize0"), 8);
        CHECK_INTEQ(U(d, "iManufacturer"), 1);
        CHECK_INTEQ(U(d, "iProduct"), 2);
        CHECK_INTEQ(U(d, "iSerialNumber"), 3);
        CHECK(rk_real(rk_dict_get(d, "speed"), &speed) && speed == 12);
        CHECK_INTEQ(U(d, "USBSpeed"), 1);
        CHECK_STREQ(S(d, "RKDevNode"), "/dev/bus/usb/001/006");
        CHECK_STREQ(S(d, "RKDriver"), "usb");
        CHECK_STREQ(S(d, "RKDevType"), "usb_device");
        CHECK_STREQ(parent_rel(f, d), ROOTHUB);
        CHECK(!rk_bool(rk_dict_get(d, "RKVirtual")));
        CHECK_INTEQ(match_desc(d, NULL,
                               "<dict><key>IOProviderClass</key><string>IOUSBHostDevice</string><key>IOClass</key>"
                               "<string>X</string><key>idVendor</key><integer>1133</integer><key>idProduct</key>"
                               "<integer>50475</integer><key>bcdDevice</key><integer>4625</integer></dict>"),
                    100000);
        /* root hub: no product string -> usb-<bus>-<devpath>; its parent is the PCI controller */
        CHECK_STREQ(S(hub, "IOName"), "usb-1-0");
        CHECK_INTEQ(U(hub, "locationID"), 0x01000000);
        CHECK_INTEQ(U(hub, "USBSpeed"), 2);
        /* no port on a hub above it; no descriptors file here: those keys are left out */
        CHECK(!rk_dict_get(hub, "PortNum"));
        CHECK(!rk_dict_get(hub, "bcdUSB"));
        CHECK_STREQ(parent_rel(f, hub), PCI);
}

static void check_fake_usb_interface(const fake *f) {
        static const char *const chain[] = { "IOUSBHostInterface", "IOUSBInterface", "RKLinuxDevice", "IOService",
                                             NULL };
        _cleanup_(rk_value_unrefp) rk_value *d = describe_fake(f, USBIF);
        char why[RK_MATCH_WHY_MAX];

        ASSERT(d);
        CHECK(chain_is(d, chain));
        CHECK_STREQ(S(d, "IOName"), "HID");
        CHECK_INTEQ(U(d, "idVendor"), 0x046d);
        CHECK_INTEQ(U(d, "idProduct"), 0xc52b);
        CHECK_INTEQ(U(d, "bcdDevice"), 0x1211);
        CHECK_INTEQ(U(d, "bConfigurationValue"), 1);
        CHECK_INTEQ(U(d, "bInterfaceNumber"), 0);
        CHECK_INTEQ(U(d, "bAlternateSetting"), 0);
        CHECK_INTEQ(U(d, "bInterfaceClass"), 3);
        CHECK_INTEQ(U(d, "bInterfaceSubClass"), 1);
        CHECK_INTEQ(U(d, "bInterfaceProtocol"), 1);
        CHECK_INTEQ(U(d, "bNumEndpoints"), 1);
        CHECK_INTEQ(U(d, "locationID"), 0x01420000);
        CHECK_STREQ(S(d, "RKModalias"), "usb:v046DpC52Bd1211dc00dsc00dp00ic03isc01ip01in00");
        CHECK_STREQ(S(d, "RKDriver"), "usbhid");
        CHECK_STREQ(parent_rel(f, d), USBDEV);
        CHECK_INTEQ(match_desc(d, why,
                               "<dict><key>IOProviderClass</key><string>IOUSBHostInterface</string><key>IOClass</key>"
                               "<string>X</string><key>idVendor</key><integer>1133</integer><key>idProduct</key>"
                               "<integer>50475</integer><key>bConfigurationValue</key><integer>1</integer>"
                               "<key>bInterfaceNumber</key><integer>0</integer></dict>"),
                    90000);
        CHECK_INTEQ(match_desc(d, why,
                               "<dict><key>IOProviderClass</key><string>IOUSBHostInterface</string><key>IOClass</key>"
                               "<string>X</string><key>bInterfaceClass</key><integer>3</integer>"
                               "<key>bInterfaceSubClass</key><integer>1</integer>"
                               "<key>bInterfaceProtocol</key><integer>1</integer></dict>"),
                    60000);
        CHECK_INTEQ(match_desc(d, why,
                               "<dict><key>IOProviderClass</key><string>IOUSBHostInterface</string><key>IOClass</key>"
                               "<string>X</string><key>RKModaliasMatch</key><string>usb:v046DpC52B*ic03*</string></dict>"),
                    0);
}

static void check_fake_hid(const fake *f) {
        static const char *const chain[] = { "IOHIDDevice", "RKLinuxDevice", "IOService", NULL };
        static const char *const raw[] = { "RKHIDRawDevice", "RKLinuxDevice", "IOService", NULL };
        _cleanup_(rk_value_unrefp) rk_value *d = describe_fake(f, HIDDEV);
        _cleanup_(rk_value_unrefp) rk_value *r = describe_fake(f, HIDDEV "/hidraw/hidraw0");
        const rk_value *pairs;
        size_t n;

        ASSERT(d && r);
        CHECK(chain_is(d, chain));
        CHECK_STREQ(S(d, "IOName"), "Logitech USB Receiver");
        CHECK_STREQ(S(d, "Product"), "Logitech USB Receiver");
        CHECK_STREQ(S(d, "Transport"), "USB");
        CHECK_INTEQ(U(d, "VendorID"), 0x046d);
        CHECK_INTEQ(U(d, "ProductID"), 0xc52b);
        CHECK_INTEQ(U(d, "RKHIDBus"), 3);
        CHECK_INTEQ(U(d, "CountryCode"), 0x21);
        CHECK(!rk_dict_get(d, "SerialNumber")); /* HID_UNIQ is empty */
        CHECK(rk_data(rk_dict_get(d, "ReportDescriptor"), &n) && n == sizeof(report_descriptor));
        CHECK_INTEQ(U(d, "PrimaryUsagePage"), 1);
        CHECK_INTEQ(U(d, "PrimaryUsage"), 6);
        pairs = rk_dict_get(d, "DeviceUsagePairs");
        ASSERT(rk_array_size(pairs) == 3);
        CHECK_INTEQ(U(rk_array_get(pairs, 1), "DeviceUsagePage"), 0x0c);
        CHECK_INTEQ(U(rk_array_get(pairs, 1), "DeviceUsage"), 1);
        CHECK_INTEQ(U(rk_array_get(pairs, 2), "DeviceUsagePage"), 0x0d);
        CHECK_INTEQ(U(rk_array_get(pairs, 2), "DeviceUsage"), 1);
        CHECK_STREQ(parent_rel(f, d), USBIF);
        CHECK(chain_is(r, raw));
        CHECK_STREQ(S(r, "RKDevNode"), "/dev/hidraw0");
        CHECK_STREQ(parent_rel(f, r), HIDDEV);
}

static void check_fake_input(const fake *f) {
        static const char *const dev[] = { "RKInputDevice", "RKLinuxDevice", "IOService", NULL };
        static const char *const handler[] = { "RKInputHandler", "RKLinuxDevice", "IOService", NULL };
        _cleanup_(rk_value_unrefp) rk_value *d = describe_fake(f, INPUT);
        _cleanup_(rk_value_unrefp) rk_value *e = describe_fake(f, INPUT "/event3");

        ASSERT(d && e);
        CHECK(chain_is(d, dev));
        CHECK_STREQ(S(d, "IOName"), "Logitech USB Receiver");
        CHECK_STREQ(S(d, "RKInputName"), "Logitech USB Receiver");
        CHECK_STREQ(S(d, "RKInputPhys"), "usb-0000:00:14.0-4.2/input0");
        CHECK(!rk_dict_get(d, "RKInputUniq"));
        CHECK_INTEQ(U(d, "RKInputBusType"), 3);
        CHECK_INTEQ(U(d, "VendorID"), 0x046d);
        CHECK_INTEQ(U(d, "ProductID"), 0xc52b);
        CHECK_INTEQ(U(d, "VersionNumber"), 0x0111);
        CHECK_INTEQ(U(d, "RKInputEventTypes"), 0x120013);
        CHECK(S(d, "RKModalias") && strncmp(S(d, "RKModalias"), "input:b0003", 11) == 0);
        CHECK_STREQ(parent_rel(f, d), HIDDEV);
        CHECK(chain_is(e, handler));
        CHECK_STREQ(S(e, "IOName"), "event3");
        CHECK_STREQ(S(e, "RKDevNode"), "/dev/input/event3");
        CHECK_STREQ(parent_rel(f, e), INPUT);
}

TEST(fake_usb_hid_input) {
        _cleanup_(fake_done) fake f = { "/tmp/rk-fakesys-XXXXXX" };

        ASSERT(mkdtemp(f.root));
        fake_usb(&f);
        check_fake_pci(&f);
        check_fake_usb_device(&f);
        check_fake_usb_interface(&f);
        check_fake_hid(&f);
        check_fake_input(&f);
}

#define VDA "devices/pci0000:00/0000:00:02.0/virtio1/block/vda"

TEST(fake_tty_and_partitions) {
        static const char *const tty[] = { "IOSerialBSDClient", "RKLinuxDevice", "IOService", NULL };
        _cleanup_(fake_done) fake f = { "/tmp/rk-fakesys-XXXXXX" };
        _cleanup_(rk_value_unrefp) rk_value *t = NULL, *disk = NULL, *part = NULL;

        ASSERT(mkdtemp(f.root));
        fdev(&f, "devices/platform/serial8250/tty/ttyS0", "class/tty", NULL, "MAJOR=4\nMINOR=64\nDEVNAME=ttyS0\n");
        fdev(&f, VDA, "class/block", NULL, "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\nDISKSEQ=9\n");
        fattrs(&f, VDA, "size", "2097152", "removable", "0", "ro", "0", "queue/logical_block_size", "4096", NULL);
        fdev(&f, VDA "/vda1", "class/block", NULL, "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\n");
        fattrs(&f, VDA "/vda1", "size", "2048", "ro", "1", "partition", "1", NULL);
        t = describe_fake(&f, "devices/platform/serial8250/tty/ttyS0");
        disk = describe_fake(&f, VDA);
        part = describe_fake(&f, VDA "/vda1");
        ASSERT(t && disk && part);
        CHECK(chain_is(t, tty));
        CHECK_STREQ(S(t, "IOTTYDevice"), "ttyS0");
        CHECK_STREQ(S(t, "IOTTYBaseName"), "ttyS");
        CHECK_STREQ(S(t, "IOTTYSuffix"), "0");
        CHECK_STREQ(S(t, "IOCalloutDevice"), "/dev/ttyS0");
        CHECK_STREQ(S(t, "IODialinDevice"), "/dev/ttyS0");
        CHECK(!rk_dict_get(t, "RKParentSysPath"));

        CHECK_INTEQ(U(disk, "Size"), 2097152LL * 512);
        CHECK(rk_bool(rk_dict_get(disk, "Whole")));
        CHECK(rk_bool(rk_dict_get(disk, "Writable")));
        CHECK(!rk_bool(rk_dict_get(disk, "Removable")));
        CHECK_INTEQ(U(disk, "Preferred Block Size"), 4096);
        CHECK_INTEQ(U(disk, "BSD Major"), 254);
        CHECK(!rk_dict_get(disk, "RKLoopBackingFile"));
        CHECK_STREQ(S(part, "BSD Name"), "vda1");
        CHECK_INTEQ(U(part, "Size"), 2048 * 512);
        CHECK(!rk_bool(rk_dict_get(part, "Whole")));
        CHECK(!rk_bool(rk_dict_get(part, "Writable")));
        CHECK(rk_value_is(rk_dict_get(part, "Removable"), RK_TYPE_BOOL)); /* the disk's */
        CHECK_INTEQ(U(part, "Preferred Block Size"), 4096);
        CHECK_INTEQ(U(part, "Partition ID"), 1);
        CHECK_STREQ(parent_rel(&f, part), VDA);
}

/* Bad or missing attributes leave their property out; they never fail the
 * description, and strings stay valid UTF-8. */
TEST(fake_bad_attributes) {
        _cleanup_(fake_done) fake f = { "/tmp/rk-fakesys-XXXXXX" };
        _cleanup_(rk_value_unrefp) rk_value *d = NULL, *n = NULL;
        _cleanup_(freep) char *big = malloc(ATTR_BUF);
        const char *dev = "devices/usb9/9-1", *net = "devices/virtual/net/bad0";

        ASSERT(mkdtemp(f.root) && big);
        fdev(&f, dev, "bus/usb", NULL, "DEVTYPE=usb_device\nno equals sign\n=\nPRODUCT=\n");
        memset(big, 'x', ATTR_BUF - 2);
        big[ATTR_BUF - 2] = 0;
        fattrs(&f, dev, "idVendor", "zzzz", "idProduct", "12345", "bcdDevice", "", "bDeviceClass", "-1",
               "bDeviceSubClass", "1 2", "bDeviceProtocol", "\x01", "bNumConfigurations", "0x", "busnum",
               "99999999999999999999999", "devnum", "", "devpath", "1.x", "speed", "fast", "manufacturer",
               "\xff\xfe" "abc\xc3", "serial", big, NULL);
        fput_n(&f, "devices/usb9/9-1/product", "A\0B", 3);
        d = describe_fake(&f, dev);
        ASSERT(d);
        CHECK(rk_dict_get(d, "IOClassChain") != NULL);
        CHECK(!rk_dict_get(d, "idVendor"));
        CHECK(!rk_dict_get(d, "idProduct"));
        CHECK(!rk_dict_get(d, "bcdDevice"));
        CHECK(!rk_dict_get(d, "bDeviceClass"));
        CHECK(!rk_dict_get(d, "bNumConfigurations"));
        CHECK(!rk_dict_get(d, "busnum"));
        CHECK(!rk_dict_get(d, "locationID"));
        CHECK(!rk_dict_get(d, "speed"));
        CHECK(!rk_dict_get(d, "USB Serial Number")); /* longer than a page */
        CHECK_STREQ(S(d, "USB Vendor Name"), "\xef\xbf\xbd\xef\xbf\xbd" "abc\xef\xbf\xbd");
        CHECK_STREQ(S(d, "USB Product Name"), "A");
        CHECK_STREQ(S(d, "IOName"), "A");

        fdev(&f, net, "class/net", NULL, "INTERFACE=bad0\nIFINDEX=x\n");
        fattrs(&f, net, "type", "1", "addr_len", "6", "address", "52:54:00:12:34", "mtu", "-5", "ifindex", "x",
               NULL);
        n = describe_fake(&f, net);
        ASSERT(n);
        CHECK(!rk_dict_get(n, "IOMACAddress"));
        CHECK(!rk_dict_get(n, "mtu"));
        CHECK(!rk_dict_get(n, "RKIfIndex"));
        CHECK_STREQ(S(n, "BSD Name"), "bad0");

}

/* Half-built or half-removed devices are skipped; a subsystem without a
 * family gets the generic chain; directories that are no devices fail. */
TEST(fake_incomplete_and_generic_devices) {
        static const char *const generic[] = { "RKLinuxDevice", "IOService", NULL };
        _cleanup_(fake_done) fake f = { "/tmp/rk-fakesys-XXXXXX" };
        rk_value *v = NULL;

        ASSERT(mkdtemp(f.root));
        /* a required attribute or "dev" is missing */
        fdev(&f, "devices/virtual/net/half0", "class/net", NULL, "INTERFACE=half0\n");
        fattrs(&f, "devices/virtual/net/half0", "type", "1", "ifindex", "9", NULL);
        CHECK(describe_fake(&f, "devices/virtual/net/half0") == NULL);
        fdev(&f, "devices/virtual/tty/ttyQ0", "class/tty", NULL, "MAJOR=4\nMINOR=1\nDEVNAME=ttyQ0\n");
        fput(&f, "devices/virtual/tty/ttyQ0/uevent", "MAJOR=4\nMINOR=1\nDEVNAME=ttyQ0\nEXTRA=1\n");
        v = describe_fake(&f, "devices/virtual/tty/ttyQ0");
        CHECK(v != NULL);
        v = rk_value_unref(v);
        CHECK(unlink_rel(&f, "devices/virtual/tty/ttyQ0/dev") == 0);
        CHECK(describe_fake(&f, "devices/virtual/tty/ttyQ0") == NULL);

        /* a subsystem without a family: the generic chain */
        fdev(&f, "devices/virtual/misc/fuse", "class/misc", NULL, "MAJOR=10\nMINOR=229\nDEVNAME=fuse\n");
        v = describe_fake(&f, "devices/virtual/misc/fuse/");
        ASSERT(v);
        CHECK(chain_is(v, generic));
        CHECK_STREQ(S(v, "IOName"), "fuse");
        CHECK_STREQ(S(v, "RKDevNode"), "/dev/fuse");
        CHECK_STREQ(S(v, "RKSubsystem"), "misc");
        v = rk_value_unref(v);

        /* not devices */
        fput(&f, "devices/nouevent/subsystem-less", "");
        fput(&f, "devices/nosubsystem/uevent", "DEVTYPE=x\n");
        CHECK(describe_fake(&f, "devices/nouevent") == NULL);
        CHECK(describe_fake(&f, "devices/nosubsystem") == NULL);
        CHECK(rk_linux_describe(f.root, NULL, &v) == -ENODEV);
}

/* Random report descriptors: the parser stays inside the buffer (ASan)
 * and the description is built. */
TEST(fake_random_report_descriptors) {
        _cleanup_(fake_done) fake f = { "/tmp/rk-fakesys-XXXXXX" };
        uint8_t buf[512];
        unsigned seed = 12345;

        ASSERT(mkdtemp(f.root));
        fdev(&f, "devices/virtual/misc/uhid/0003:0001:0002.0001", "bus/hid", NULL,
             "HID_ID=0003:00000001:00000002\nHID_NAME=fuzz\n");
        for (int i = 0; i < 300; i++) {
                size_t n = (size_t) (rand_r(&seed) % (int) sizeof(buf));
                for (size_t k = 0; k < n; k++)
                        buf[k] = (uint8_t) rand_r(&seed);
                fput_n(&f, "devices/virtual/misc/uhid/0003:0001:0002.0001/report_descriptor", buf, n);
                rk_value *d = describe_fake(&f, "devices/virtual/misc/uhid/0003:0001:0002.0001");
                CHECK(d != NULL);
                rk_value_unref(d);
        }
}

/* A loop device created and deleted (LOOP_CTL_ADD / LOOP_CTL_REMOVE): a
 * real ADD and REMOVE of a block device, unlike attach and detach. */
typedef struct loopctl {
        int ctl, index;
} loopctl;

/* udev's probes may hold the new device open for a moment: retry EBUSY */
static int loop_remove(int ctl, int index) {
        for (int tries = 0;; tries++) {
                if (ioctl(ctl, LOOP_CTL_REMOVE, index) >= 0)
                        return 0;
                if (errno != EBUSY || tries == 100)
                        return -errno;
                usleep(20 * 1000);
        }
}

static void loopctl_done(loopctl *l) {
        if (l->index >= 0 && loop_remove(l->ctl, l->index) < 0)
                fprintf(stderr, "LOOP_CTL_REMOVE %d: %m\n", l->index);
        if (l->ctl >= 0)
                close(l->ctl);
}

TEST(loop_add_remove) {
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        _cleanup_(loopctl_done) loopctl l = { .ctl = -EBADF, .index = -1 };
        const char *const block[] = { "block", NULL };
        char syspath[128], name[32];
        recorder rec = { 0 };
        ssize_t i;

        ASSERT(rk_linux_provider_new(block, record_cb, &rec, &p) == 0);
        ASSERT(rk_linux_provider_enumerate(p) > 0);
        l.ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        for (int k = 0, want = 400 + (int) getpid() % 500; l.ctl >= 0 && l.index < 0 && k < 50; k++)
                l.index = ioctl(l.ctl, LOOP_CTL_ADD, want + k);
        if (l.index < 0) {
                printf("skip: cannot add a loop device: %s\n", strerror(errno));
                goto out;
        }
        snprintf(syspath, sizeof(syspath), "/sys/devices/virtual/block/loop%d", l.index);
        snprintf(name, sizeof(name), "loop%d", l.index);
        i = wait_for(p, &rec, 0, is_event, &(want_event){ RK_LINUX_ADD, syspath });
        ASSERT(i >= 0);
        check_loop_desc(rec.ev[i].desc, l.index);
        CHECK_INTEQ(U(rec.ev[i].desc, "Size"), 0);
        CHECK(match_desc(rec.ev[i].desc, NULL,
                         "<dict><key>IOProviderClass</key><string>IOMedia</string><key>IOClass</key><string>X</string>"
                         "<key>IONameMatch</key><string>%s</string>"
                         "<key>IOPropertyMatch</key><dict><key>Whole</key><true/></dict></dict>",
                         name) == 0);
        ASSERT(loop_remove(l.ctl, l.index) == 0);
        l.index = -1;
        CHECK(wait_for(p, &rec, (size_t) i, is_event, &(want_event){ RK_LINUX_REMOVE, syspath }) >= 0);
out:
        recorder_done(&rec);
}
