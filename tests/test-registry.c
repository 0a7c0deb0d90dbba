/* SPDX-License-Identifier: MIT */
/*
 * Tests for the registry (src/registry/registry.c): publishing, IDs, the
 * termination order, states, references past termination, lookups by ID
 * and path, properties and the match view (checked end to end through
 * rk_match_personality with IOParentMatch and IOResourceMatch), the text
 * and JSON printers and the value round trip ringctl uses, and wide trees.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "match/match.h"
#include "registry/registry.h"
#include "shared/macro.h"
#include "test.h"
#include "value/plist.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static const char *const nub_classes[] = { "IOPCIDevice", "IOService" };
static const char *const usb_dev_classes[] = { "IOUSBHostDevice", "IOUSBNub", "IOService" };
static const char *const usb_if_classes[] = { "IOUSBHostInterface", "IOUSBNub", "IOService" };
static const char *const drv_classes[] = { "MyDriver", "IOService" };

static rk_service *pub(rk_registry *reg, rk_service *prov, const char *const *classes, size_t n, const char *name) {
        rk_service *s = NULL;
        int r = rk_registry_publish(reg, prov, classes, n, name, NULL, &s);
        if (r < 0) {
                fprintf(stderr, "publish %s: %s\n", name ? name : classes[0], strerror(-r));
                abort();
        }
        return s;
}
#define PUB(reg, prov, classes, name) pub(reg, prov, classes, ELEMENTSOF(classes), name)

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

static rk_value *str(const char *s) {
        rk_value *v = NULL;
        if (rk_value_new_string(s, &v) < 0)
                abort();
        return v;
}

static rk_value *num(uint64_t u) {
        rk_value *v = NULL;
        if (rk_value_new_integer(u, false, &v) < 0)
                abort();
        return v;
}

/* Run a printer into a string. */
static char *print_str(rk_registry *reg, rk_service *from, unsigned flags, int *ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                abort();
        *ret = rk_registry_print(reg, from, flags, f);
        fclose(f);
        return buf;
}

static char *print_value_str(const rk_value *tree, unsigned flags, int *ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                abort();
        *ret = rk_registry_print_value(tree, flags, f);
        fclose(f);
        return buf;
}

/* ---- the registry itself ---- */

TEST(new_has_root_and_resources) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *root, *res;
        size_t n;

        ASSERT(rk_registry_new(&reg) == 0);
        root = rk_registry_root(reg);
        res = rk_registry_resources(reg);
        ASSERT(root && res);
        CHECK(rk_service_get_id(root) == RK_REGISTRY_ROOT_ID);
        CHECK_STREQ(rk_service_get_name(root), "Root");
        CHECK_STREQ(rk_service_get_class(root), "IORegistryEntry");
        CHECK(rk_service_get_provider(root) == NULL);
        CHECK(rk_service_get_id(res) == RK_REGISTRY_ROOT_ID + 1);
        CHECK_STREQ(rk_service_get_name(res), "IOResources");
        CHECK_STREQ(rk_service_get_classes(res, &n)[1], "IOService");
        CHECK_INTEQ(n, 2);
        CHECK(rk_service_has_class(res, "IOResources"));
        CHECK(!rk_service_has_class(res, "IORegistryEntry"));
        CHECK(rk_service_get_provider(res) == root);
        CHECK(rk_service_first_client(root) == res);
        CHECK_INTEQ(rk_service_get_n_clients(root), 1);
        CHECK_STREQ(rk_string(rk_service_get_property(res, "IOKit")), "IOService");
        CHECK_INTEQ(rk_registry_size(reg), 2);
        CHECK(rk_service_get_state(root) == RK_SERVICE_REGISTERED);
        CHECK(rk_service_terminate(root, NULL, NULL) == -EPERM);
        CHECK(rk_service_terminate(res, NULL, NULL) == -EPERM);
        CHECK(rk_registry_new(NULL) == -EINVAL);
        CHECK(rk_registry_free(NULL) == NULL);
        CHECK_STREQ(rk_service_state_to_string(RK_SERVICE_STARTED), "started");
        CHECK(rk_service_state_to_string((rk_service_state) 42) == NULL);
}

TEST(publish_checks_arguments) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL, *other = NULL;
        _cleanup_(rk_value_unrefp) rk_value *s = str("not a dict");
        const char *const empty[] = { "" };
        const char *const nulls[] = { "A", NULL };
        const char *many[RK_REGISTRY_MAX_CLASSES + 1];
        rk_service *root, *svc = NULL, *last;

        ASSERT(rk_registry_new(&reg) == 0);
        ASSERT(rk_registry_new(&other) == 0);
        root = rk_registry_root(reg);
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = "C";
        CHECK(rk_registry_publish(NULL, root, nub_classes, 2, NULL, NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, NULL, nub_classes, 2, NULL, NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, rk_registry_root(other), nub_classes, 2, NULL, NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, root, NULL, 2, NULL, NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, root, nub_classes, 0, NULL, NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, root, empty, 1, NULL, NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, root, nulls, 2, NULL, NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, root, many, ELEMENTSOF(many), NULL, NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, root, many, RK_REGISTRY_MAX_CLASSES, NULL, NULL, NULL) == 0);
        CHECK(rk_registry_publish(reg, root, nub_classes, 2, "", NULL, &svc) == -EINVAL);
        CHECK(rk_registry_publish(reg, root, nub_classes, 2, NULL, s, &svc) == -EINVAL);
        CHECK(svc == NULL);

        /* a NULL name is the most derived class */
        svc = PUB(reg, root, nub_classes, NULL);
        CHECK_STREQ(rk_service_get_name(svc), "IOPCIDevice");
        CHECK_INTEQ(rk_dict_size(rk_service_get_properties(svc)), 0);

        /* depth: RK_REGISTRY_MAX_DEPTH levels below the root, then -ELOOP */
        last = svc;
        for (int i = 2; i <= RK_REGISTRY_MAX_DEPTH; i++)
                last = PUB(reg, last, drv_classes, "Deep");
        CHECK(rk_registry_publish(reg, last, drv_classes, 2, NULL, NULL, &svc) == -ELOOP);
        CHECK_INTEQ(rk_registry_size(reg), 3 + RK_REGISTRY_MAX_DEPTH);
}

TEST(ids_unique_increasing_never_reused) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *svcs[200];
        uint64_t last, ids[200];

        ASSERT(rk_registry_new(&reg) == 0);
        last = rk_service_get_id(rk_registry_resources(reg));
        for (size_t i = 0; i < 100; i++) {
                svcs[i] = PUB(reg, rk_registry_root(reg), nub_classes, "N");
                ids[i] = rk_service_get_id(svcs[i]);
                CHECK(ids[i] > last);
                last = ids[i];
        }
        /* terminate every other one; new IDs still grow past all of them */
        for (size_t i = 0; i < 100; i += 2)
                CHECK(rk_service_terminate(svcs[i], NULL, NULL) == 1);
        for (size_t i = 100; i < 200; i++) {
                svcs[i] = PUB(reg, rk_registry_root(reg), nub_classes, "N");
                ids[i] = rk_service_get_id(svcs[i]);
                CHECK(ids[i] > last);
                last = ids[i];
        }
        for (size_t i = 0; i < 200; i++) {
                bool alive = i >= 100 || i % 2 == 1;
                CHECK(rk_registry_find(reg, ids[i]) == (alive ? svcs[i] : NULL));
        }
        CHECK(rk_registry_find(reg, RK_REGISTRY_ROOT_ID) == rk_registry_root(reg));
        CHECK(rk_registry_find(reg, 0) == NULL);
        CHECK(rk_registry_find(reg, last + 1) == NULL);
        CHECK(rk_registry_find(NULL, RK_REGISTRY_ROOT_ID) == NULL);
        CHECK_INTEQ(rk_registry_size(reg), 2 + 150);
}

/* ---- termination ---- */

typedef struct order_log {
        rk_registry *reg;
        char names[32][16];
        rk_service_state states[32];
        size_t n;
        int publish_r, terminate_r, set_state_r;
        bool found_during_cb, provider_ok;
} order_log;

static void record(rk_service *svc, void *ud) {
        order_log *log = ud;
        rk_service *p = rk_service_get_provider(svc);

        snprintf(log->names[log->n], sizeof(log->names[0]), "%s", rk_service_get_name(svc));
        log->states[log->n++] = rk_service_get_state(svc);
        /* the subtree refuses changes and is gone from lookups */
        log->publish_r = rk_registry_publish(log->reg, svc, drv_classes, 2, NULL, NULL, NULL);
        log->terminate_r = rk_service_terminate(svc, NULL, NULL);
        log->set_state_r = rk_service_set_state(svc, RK_SERVICE_STARTED);
        if (rk_registry_find(log->reg, rk_service_get_id(svc)))
                log->found_during_cb = true;
        /* links are intact while stopping: a client's provider still lists it */
        if (!p || (rk_service_get_n_clients(svc) == 0 && log->n == 1) || rk_service_first_client(svc))
                log->provider_ok = true;
}

TEST(terminate_order_clients_first) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *a, *b, *c, *g, *refd;
        order_log log = { 0 };
        const char *want = "D E B F H C A";
        char got[128] = "";

        ASSERT(rk_registry_new(&reg) == 0);
        log.reg = reg;
        /*   A ── B ── D, E          G (A's sibling, untouched)
         *     └─ C ── F, H                                        */
        a = PUB(reg, rk_registry_root(reg), nub_classes, "A");
        g = PUB(reg, rk_registry_root(reg), nub_classes, "G");
        b = PUB(reg, a, usb_dev_classes, "B");
        c = PUB(reg, a, usb_dev_classes, "C");
        PUB(reg, b, usb_if_classes, "D");
        refd = PUB(reg, b, usb_if_classes, "E");
        PUB(reg, c, usb_if_classes, "F");
        PUB(reg, c, drv_classes, "H");
        CHECK(rk_service_set_state(a, RK_SERVICE_MATCHED) == 0);
        CHECK(rk_service_set_state(refd, RK_SERVICE_STARTED) == 0);
        rk_service_ref(refd);
        rk_service_ref(c);

        CHECK_INTEQ(rk_service_terminate(a, record, &log), 7);
        ASSERT(log.n == 7);
        for (size_t i = 0; i < log.n; i++) {
                strcat(got, log.names[i]);
                if (i + 1 < log.n)
                        strcat(got, " ");
        }
        CHECK_STREQ(got, want);
        /* the callback sees the state from before: E was started, A matched */
        CHECK(log.states[1] == RK_SERVICE_STARTED);
        CHECK(log.states[6] == RK_SERVICE_MATCHED);
        CHECK(log.states[0] == RK_SERVICE_REGISTERED);
        CHECK_INTEQ(log.publish_r, -EINVAL);
        CHECK_INTEQ(log.terminate_r, -EINVAL);
        CHECK_INTEQ(log.set_state_r, -EINVAL);
        CHECK(!log.found_during_cb);

        /* the rest of the tree is untouched */
        CHECK(rk_service_get_state(g) == RK_SERVICE_REGISTERED);
        CHECK(rk_service_first_client(rk_registry_root(reg)) == rk_registry_resources(reg));
        CHECK(rk_service_next_sibling(rk_registry_resources(reg)) == g);
        CHECK(rk_service_next_sibling(g) == NULL);
        CHECK_INTEQ(rk_registry_size(reg), 3);

        /* referenced ones stay readable, terminated and unlinked */
        CHECK(rk_service_get_state(refd) == RK_SERVICE_TERMINATED);
        CHECK_STREQ(rk_service_get_name(refd), "E");
        CHECK(rk_service_get_provider(refd) == NULL);
        CHECK(rk_service_get_provider(c) == NULL);
        CHECK_INTEQ(rk_service_get_n_clients(c), 0);
        CHECK(rk_service_first_client(c) == NULL);
        CHECK(rk_service_get_registry(c) == NULL);
        CHECK(rk_service_match_provider(refd)->parent == NULL);
        CHECK(rk_service_terminate(refd, NULL, NULL) == -EINVAL);
        rk_service_unref(refd);
        rk_service_unref(c);
}

TEST(terminate_leaf_and_middle) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *a, *b, *c, *d;
        order_log log = { 0 };

        ASSERT(rk_registry_new(&reg) == 0);
        log.reg = reg;
        a = PUB(reg, rk_registry_root(reg), nub_classes, "A");
        b = PUB(reg, a, usb_dev_classes, "B");
        c = PUB(reg, a, usb_dev_classes, "C");
        d = PUB(reg, a, usb_dev_classes, "D");
        CHECK_INTEQ(rk_service_terminate(c, record, &log), 1);
        CHECK_STREQ(log.names[0], "C");
        CHECK_INTEQ(rk_service_get_n_clients(a), 2);
        CHECK(rk_service_first_client(a) == b);
        CHECK(rk_service_next_sibling(b) == d);
        CHECK(rk_service_terminate(d, NULL, NULL) == 1);
        CHECK(rk_service_terminate(b, NULL, NULL) == 1);
        CHECK(rk_service_first_client(a) == NULL);
        CHECK_INTEQ(rk_service_get_n_clients(a), 0);
        CHECK(rk_service_terminate(NULL, NULL, NULL) == -EINVAL);
}

static void terminate_sibling(rk_service *svc, void *ud) {
        rk_service **other = ud;

        /* a callback may terminate services elsewhere in the tree */
        if (*other) {
                CHECK(rk_service_terminate(*other, NULL, NULL) == 1);
                *other = NULL;
        }
}

TEST(terminate_from_callback_elsewhere) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *a, *b, *other;

        ASSERT(rk_registry_new(&reg) == 0);
        a = PUB(reg, rk_registry_root(reg), nub_classes, "A");
        b = PUB(reg, rk_registry_root(reg), nub_classes, "B");
        PUB(reg, a, drv_classes, "A1");
        other = b;
        CHECK_INTEQ(rk_service_terminate(a, terminate_sibling, &other), 2);
        CHECK(other == NULL);
        CHECK_INTEQ(rk_registry_size(reg), 2);
}

static void terminate_ancestor(rk_service *svc, void *ud) {
        rk_service **anc = ud;

        /* the provider of the subtree being terminated goes too, from inside */
        if (*anc) {
                CHECK(rk_service_terminate(*anc, NULL, NULL) == 1);
                *anc = NULL;
        }
}

TEST(terminate_ancestor_from_callback) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *a, *b, *anc;

        ASSERT(rk_registry_new(&reg) == 0);
        a = PUB(reg, rk_registry_root(reg), nub_classes, "A");
        b = PUB(reg, a, usb_dev_classes, "B");
        PUB(reg, b, usb_if_classes, "C");
        anc = a;
        /* B's subtree left A at once, so A's own termination sees only A */
        CHECK_INTEQ(rk_service_terminate(b, terminate_ancestor, &anc), 2);
        CHECK(anc == NULL);
        CHECK_INTEQ(rk_registry_size(reg), 2);
}

TEST(clients_in_attach_order) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        const char *names[] = { "one", "two", "three", "four" };
        rk_service *hub;
        size_t i = 0;

        ASSERT(rk_registry_new(&reg) == 0);
        hub = PUB(reg, rk_registry_root(reg), usb_dev_classes, "hub");
        for (size_t k = 0; k < ELEMENTSOF(names); k++)
                PUB(reg, hub, usb_if_classes, names[k]);
        CHECK_INTEQ(rk_service_get_n_clients(hub), 4);
        RK_SERVICE_FOREACH_CLIENT(c, hub) {
                ASSERT(i < ELEMENTSOF(names));
                CHECK_STREQ(rk_service_get_name(c), names[i]);
                CHECK(rk_service_get_provider(c) == hub);
                i++;
        }
        CHECK_INTEQ(i, 4);
        CHECK(rk_service_first_client(NULL) == NULL);
        CHECK(rk_service_next_sibling(NULL) == NULL);
        CHECK_INTEQ(rk_service_get_n_clients(NULL), 0);
}

TEST(references_outlive_registry) {
        rk_registry *reg = NULL;
        rk_service *a, *b;
        _cleanup_(rk_value_unrefp) rk_value *v = num(7);

        ASSERT(rk_registry_new(&reg) == 0);
        a = PUB(reg, rk_registry_root(reg), nub_classes, "A");
        b = PUB(reg, a, usb_dev_classes, "B");
        CHECK(rk_service_set_property(b, "k", v) == 0);
        CHECK(rk_service_set_failed(b, "crash loop") == 0);
        rk_service_ref(b);
        rk_service_ref(rk_registry_root(reg));
        a = rk_registry_root(reg);
        rk_registry_free(reg);
        CHECK(rk_service_get_state(b) == RK_SERVICE_TERMINATED);
        CHECK(rk_service_get_registry(b) == NULL);
        CHECK_STREQ(rk_service_get_failed(b), "crash loop");
        CHECK(rk_value_equal(rk_service_get_property(b, "k"), v));
        CHECK_INTEQ(rk_service_get_n_clients(a), 0);
        CHECK(rk_service_get_state(a) == RK_SERVICE_TERMINATED);
        rk_service_unref(b);
        rk_service_unref(a);
}

/* ---- states ---- */

TEST(state_transitions) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *nub, *drv, *other;

        ASSERT(rk_registry_new(&reg) == 0);
        nub = PUB(reg, rk_registry_root(reg), nub_classes, "nub");
        drv = PUB(reg, nub, drv_classes, "drv");
        other = PUB(reg, nub, drv_classes, "other");

        /* nub: registered -> matched -> started */
        CHECK(rk_service_get_state(nub) == RK_SERVICE_REGISTERED);
        CHECK(rk_service_set_state(nub, RK_SERVICE_REGISTERED) == -EINVAL);
        CHECK(rk_service_set_state(nub, RK_SERVICE_MATCHED) == 0);
        CHECK(rk_service_set_state(nub, RK_SERVICE_MATCHED) == -EINVAL);
        CHECK(rk_service_set_state(nub, RK_SERVICE_REGISTERED) == -EINVAL);
        CHECK(rk_service_set_state(nub, RK_SERVICE_STARTED) == 0);
        CHECK(rk_service_set_state(nub, RK_SERVICE_MATCHED) == -EINVAL);
        CHECK(rk_service_set_state(nub, RK_SERVICE_STARTED) == -EINVAL);
        CHECK(rk_service_get_state(nub) == RK_SERVICE_STARTED);

        /* driver: registered -> started directly */
        CHECK(rk_service_set_state(drv, RK_SERVICE_STARTED) == 0);
        CHECK(rk_service_set_state(drv, RK_SERVICE_MATCHED) == -EINVAL);

        /* terminated only through rk_service_terminate */
        CHECK(rk_service_set_state(other, RK_SERVICE_TERMINATED) == -EINVAL);
        CHECK(rk_service_set_state(other, (rk_service_state) 99) == -EINVAL);
        CHECK(rk_service_set_state(NULL, RK_SERVICE_MATCHED) == -EINVAL);
        CHECK(rk_service_get_state(NULL) == RK_SERVICE_TERMINATED);
        rk_service_ref(other);
        CHECK(rk_service_terminate(nub, NULL, NULL) == 3);
        CHECK(rk_service_get_state(other) == RK_SERVICE_TERMINATED);
        CHECK(rk_service_set_state(other, RK_SERVICE_MATCHED) == -EINVAL);
        CHECK(rk_service_set_state(other, RK_SERVICE_STARTED) == -EINVAL);
        rk_service_unref(other);
}

TEST(failed_and_userdata) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *s;
        int x;

        ASSERT(rk_registry_new(&reg) == 0);
        s = PUB(reg, rk_registry_root(reg), nub_classes, "s");
        CHECK(rk_service_get_failed(s) == NULL);
        CHECK(rk_service_set_failed(s, "start failed: -EIO") == 0);
        CHECK_STREQ(rk_service_get_failed(s), "start failed: -EIO");
        CHECK(rk_service_set_failed(s, "crash loop") == 0);
        CHECK_STREQ(rk_service_get_failed(s), "crash loop");
        CHECK(rk_service_get_state(s) == RK_SERVICE_REGISTERED);
        CHECK(rk_service_set_failed(s, NULL) == 0);
        CHECK(rk_service_get_failed(s) == NULL);
        CHECK(rk_service_set_failed(NULL, "x") == -EINVAL);
        CHECK(rk_service_get_userdata(s) == NULL);
        rk_service_set_userdata(s, &x);
        CHECK(rk_service_get_userdata(s) == &x);
}

/* ---- paths ---- */

TEST(paths_with_duplicate_names) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *pci, *hub, *if0, *if1, *odd, *found = NULL, *all[6];
        _cleanup_(freep) char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL;
        char buf[128];

        ASSERT(rk_registry_new(&reg) == 0);
        pci = PUB(reg, rk_registry_root(reg), nub_classes, "pci0");
        hub = PUB(reg, pci, usb_dev_classes, "USB Hub");
        if0 = PUB(reg, hub, usb_if_classes, "Interface");
        if1 = PUB(reg, hub, usb_if_classes, "Interface");
        odd = PUB(reg, hub, drv_classes, "a/b@c%d");

        ASSERT(rk_service_get_path(hub, &p1) == 0);
        CHECK_STREQ(p1, "/Root/pci0/USB Hub");
        ASSERT(rk_service_get_path(if1, &p2) == 0);
        snprintf(buf, sizeof(buf), "/Root/pci0/USB Hub/Interface@%" PRIx64, rk_service_get_id(if1));
        CHECK_STREQ(p2, buf);
        ASSERT(rk_service_get_path(odd, &p3) == 0);
        CHECK_STREQ(p3, "/Root/pci0/USB Hub/a%2Fb%40c%25d");
        ASSERT(rk_service_get_path(rk_registry_root(reg), &p4) == 0);
        CHECK_STREQ(p4, "/Root");

        /* every service resolves from its own path */
        all[0] = rk_registry_root(reg), all[1] = rk_registry_resources(reg), all[2] = pci;
        all[3] = hub, all[4] = if0, all[5] = if1;
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                _cleanup_(freep) char *p = NULL;
                ASSERT(rk_service_get_path(all[i], &p) == 0);
                CHECK(rk_registry_find_path(reg, p, &found) == 0 && found == all[i]);
        }
        CHECK(rk_registry_find_path(reg, p3, &found) == 0 && found == odd);

        CHECK(rk_registry_find_path(reg, "IOService:/Root/IOResources", &found) == 0);
        CHECK(found == rk_registry_resources(reg));
        CHECK(rk_registry_find_path(reg, "/", &found) == 0 && found == rk_registry_root(reg));
        CHECK(rk_registry_find_path(reg, "IOService:/", &found) == 0 && found == rk_registry_root(reg));
        CHECK(rk_registry_find_path(reg, "/Root/pci0/", &found) == 0 && found == pci);
        snprintf(buf, sizeof(buf), "/Root@%" PRIx64 "/pci0@0x%" PRIX64, RK_REGISTRY_ROOT_ID, rk_service_get_id(pci));
        CHECK(rk_registry_find_path(reg, buf, &found) == 0 && found == pci);

        CHECK(rk_registry_find_path(reg, "/Root/pci0/USB Hub/Interface", &found) == -ENOTUNIQ);
        CHECK(rk_registry_find_path(reg, "/Root/pci0/Nope", &found) == -ENOENT);
        CHECK(rk_registry_find_path(reg, "/Nope", &found) == -ENOENT);
        CHECK(rk_registry_find_path(reg, "", &found) == -EINVAL);
        CHECK(rk_registry_find_path(reg, "Root/pci0", &found) == -EINVAL);
        CHECK(rk_registry_find_path(reg, "/Root//pci0", &found) == -EINVAL);
        CHECK(rk_registry_find_path(reg, "/Root/pci0@", &found) == -EINVAL);
        CHECK(rk_registry_find_path(reg, "/Root/pci0@xyz", &found) == -EINVAL);
        CHECK(rk_registry_find_path(reg, "/Root/pci0@11112222333344445", &found) == -EINVAL);
        CHECK(rk_registry_find_path(reg, "/Root/a%2", &found) == -EINVAL);
        CHECK(rk_registry_find_path(reg, "/Root/a%00", &found) == -EINVAL);
        /* an ID that exists but under another provider, or with another name */
        snprintf(buf, sizeof(buf), "/Root/Interface@%" PRIx64, rk_service_get_id(if0));
        CHECK(rk_registry_find_path(reg, buf, &found) == -ENOENT);
        snprintf(buf, sizeof(buf), "/Root/pci0/USB Hub/Other@%" PRIx64, rk_service_get_id(if0));
        CHECK(rk_registry_find_path(reg, buf, &found) == -ENOENT);
        CHECK(rk_registry_find_path(NULL, "/", &found) == -EINVAL);

        /* once the sibling goes, the plain name is unique again */
        CHECK(rk_service_terminate(if1, NULL, NULL) == 1);
        CHECK(rk_registry_find_path(reg, "/Root/pci0/USB Hub/Interface", &found) == 0 && found == if0);
        CHECK(rk_service_terminate(hub, NULL, NULL) == 3);
        CHECK(rk_registry_find_path(reg, "/Root/pci0/USB Hub", &found) == -ENOENT);
}

/* ---- properties and the match view ---- */

TEST(properties_copy_on_write) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        _cleanup_(rk_value_unrefp) rk_value *tmpl = P("<dict><key>idVendor</key><integer>1452</integer></dict>");
        _cleanup_(rk_value_unrefp) rk_value *v = num(2), *snap = NULL;
        rk_service *a = NULL, *b = NULL;
        const rk_value *before;

        ASSERT(rk_registry_new(&reg) == 0);
        /* one dictionary shared by two services */
        ASSERT(rk_registry_publish(reg, rk_registry_root(reg), nub_classes, 2, "a", tmpl, &a) == 0);
        ASSERT(rk_registry_publish(reg, rk_registry_root(reg), nub_classes, 2, "b", tmpl, &b) == 0);
        CHECK(rk_service_get_properties(a) == tmpl);
        CHECK(rk_service_set_property(a, "idProduct", v) == 0);
        CHECK(rk_service_get_properties(a) != tmpl);
        CHECK(rk_dict_get(tmpl, "idProduct") == NULL);
        CHECK(rk_service_get_property(b, "idProduct") == NULL);
        CHECK(rk_service_get_property(a, "idProduct") == v);
        CHECK(rk_value_equal(rk_service_get_property(a, "idVendor"), rk_dict_get(tmpl, "idVendor")));
        CHECK(rk_service_remove_property(b, "idVendor") == 0);
        CHECK(rk_dict_get(tmpl, "idVendor") != NULL);
        CHECK(rk_service_remove_property(b, "idVendor") == -ENOENT);
        CHECK(rk_service_set_property(a, NULL, v) == -EINVAL);
        CHECK(rk_service_set_property(a, "k", NULL) == -EINVAL);
        CHECK(rk_service_get_property(a, NULL) == NULL);

        /* a snapshot taken for printing does not see later changes */
        ASSERT(rk_registry_to_value(reg, a, RK_REGISTRY_PRINT_PROPERTIES, &snap) == 0);
        before = rk_service_get_properties(a);
        CHECK(rk_service_remove_property(a, "idProduct") == 0);
        CHECK(rk_dict_get(rk_dict_get(snap, "properties"), "idProduct") != NULL);
        CHECK(rk_service_get_properties(a) != before);
        CHECK(rk_service_get_property(a, "idProduct") == NULL);
}

TEST(match_view_follows_properties) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        _cleanup_(rk_value_unrefp) rk_value *props = P(
                "<dict><key>IOName</key><string>pci8086,a36d</string>"
                "<key>IOCompatibleNames</key><array><string>pciclass,0c0330</string></array>"
                "<key>RKModalias</key><string>pci:v00008086d0000A36Dsv*</string></dict>");
        _cleanup_(rk_value_unrefp) rk_value *nm = str("other"), *notarray = str("x");
        const rk_match_provider *m;
        rk_service *s = NULL;

        ASSERT(rk_registry_new(&reg) == 0);
        ASSERT(rk_registry_publish(reg, rk_registry_root(reg), nub_classes, 2, "XHC1", props, &s) == 0);
        m = rk_service_match_provider(s);
        ASSERT(m);
        CHECK_STREQ(m->name, "pci8086,a36d");
        CHECK_STREQ(m->modalias, "pci:v00008086d0000A36Dsv*");
        CHECK_INTEQ(rk_array_size(m->compatible), 1);
        CHECK(m->registry_id == rk_service_get_id(s));
        CHECK(m->properties == rk_service_get_properties(s));
        CHECK_INTEQ(m->n_classes, 2);
        CHECK_STREQ(m->classes[0], "IOPCIDevice");
        CHECK(m->parent == rk_service_match_provider(rk_registry_root(reg)));
        CHECK(m->parent->parent == NULL);

        CHECK(rk_service_set_property(s, "IOName", nm) == 0);
        CHECK(rk_service_match_provider(s) == m);
        CHECK_STREQ(m->name, "other");
        CHECK(m->properties == rk_service_get_properties(s));
        CHECK(rk_service_remove_property(s, "IOName") == 0);
        CHECK_STREQ(m->name, "XHC1"); /* falls back to the service name */
        CHECK(rk_service_remove_property(s, "RKModalias") == 0);
        CHECK(m->modalias == NULL);
        CHECK(rk_service_set_property(s, "IOCompatibleNames", notarray) == 0);
        CHECK(m->compatible == NULL);
        CHECK(rk_service_match_provider(NULL) == NULL);
}

static rk_personality *pers(const char *xml) {
        _cleanup_(rk_value_unrefp) rk_value *d = P(xml);
        rk_personality *p = NULL;
        rk_diag diag;
        rk_diag_init(&diag);
        if (rk_personality_new(d, "com.test", "P", "test", &p, &diag) < 0) {
                rk_diag_print(&diag, stderr);
                abort();
        }
        rk_diag_done(&diag);
        return p;
}

TEST(match_view_parent_chain_end_to_end) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        _cleanup_(rk_personality_unrefp) rk_personality *parent_match = pers(
                "<dict><key>IOClass</key><string>Drv</string>"
                "<key>IOProviderClass</key><string>IOUSBHostInterface</string>"
                "<key>IOParentMatch</key><dict><key>IOProviderClass</key><string>IOPCIDevice</string>"
                "<key>IONameMatch</key><string>pci8086,a36d</string></dict></dict>");
        _cleanup_(rk_personality_unrefp) rk_personality *wrong_parent = pers(
                "<dict><key>IOClass</key><string>Drv</string>"
                "<key>IOProviderClass</key><string>IOUSBHostInterface</string>"
                "<key>IOParentMatch</key><dict><key>IONameMatch</key><string>pci1022,0000</string></dict></dict>");
        _cleanup_(rk_personality_unrefp) rk_personality *resource = pers(
                "<dict><key>IOClass</key><string>Drv</string>"
                "<key>IOProviderClass</key><string>IOUSBHostInterface</string>"
                "<key>IOResourceMatch</key><array><string>IOKit</string><string>RKNetwork</string></array></dict>");
        _cleanup_(rk_value_unrefp) rk_value *pci_props = P("<dict><key>IOName</key><string>pci8086,a36d</string></dict>");
        _cleanup_(rk_value_unrefp) rk_value *yes = NULL;
        rk_service *pci = NULL, *dev, *intf, *t;
        const rk_match_provider *m, *a;
        const rk_value *resources;
        char why[RK_MATCH_WHY_MAX];
        int64_t score = 0;

        ASSERT(rk_registry_new(&reg) == 0);
        ASSERT(rk_registry_publish(reg, rk_registry_root(reg), nub_classes, 2, "XHC1", pci_props, &pci) == 0);
        dev = PUB(reg, pci, usb_dev_classes, "Keyboard");
        intf = PUB(reg, dev, usb_if_classes, "IOUSBHostInterface");
        m = rk_service_match_provider(intf);
        resources = rk_service_get_properties(rk_registry_resources(reg));

        /* the view's parent chain is the provider chain */
        t = intf;
        for (a = m; a; a = a->parent, t = rk_service_get_provider(t)) {
                ASSERT(t);
                CHECK(a == rk_service_match_provider(t));
                CHECK(a->registry_id == rk_service_get_id(t));
        }
        CHECK(t == NULL);

        CHECK(rk_match_personality(parent_match, m, resources, &score, why, sizeof(why)));
        CHECK(!rk_match_personality(wrong_parent, m, resources, &score, why, sizeof(why)));
        CHECK_STREQ(why, "IOParentMatch.IONameMatch");
        /* the IOName the parent matched on is a property: change it, matching follows */
        CHECK(rk_service_remove_property(pci, "IOName") == 0);
        CHECK(!rk_match_personality(parent_match, m, resources, &score, why, sizeof(why)));

        /* IOResourceMatch against IOResources' properties */
        CHECK(!rk_match_personality(resource, m, resources, &score, why, sizeof(why)));
        CHECK_STREQ(why, "IOResourceMatch");
        ASSERT(rk_value_new_bool(true, &yes) == 0);
        CHECK(rk_service_set_property(rk_registry_resources(reg), "RKNetwork", yes) == 0);
        resources = rk_service_get_properties(rk_registry_resources(reg));
        CHECK(rk_match_personality(resource, m, resources, &score, why, sizeof(why)));
}

/* ---- printing ---- */

/* Root / IOResources / pci0 / Device / Interface (driver below) + Interface */
static rk_registry *sample_tree(void) {
        rk_registry *reg = NULL;
        rk_value *props;
        rk_service *pci = NULL, *dev = NULL, *if0, *if1, *drv;

        if (rk_registry_new(&reg) < 0)
                abort();
        props = P("<dict><key>vendor-id</key><data>hoAAAA==</data>"
                  "<key>compatible</key><data>cGNpODA4NixhMzZkAHBjaWNsYXNzLDBjMDMzMAA=</data></dict>");
        if (rk_registry_publish(reg, rk_registry_root(reg), nub_classes, 2, "pci0", props, &pci) < 0)
                abort();
        rk_value_unref(props);
        props = P("<dict><key>idVendor</key><integer>1452</integer><key>USB Product Name</key>"
                  "<string>Magic \"Keyboard\"</string><key>Removable</key><true/>"
                  "<key>Config</key><dict><key>a</key><integer>-1</integer><key>b</key>"
                  "<array><string>x</string><real>1.5</real></array></dict></dict>");
        if (rk_registry_publish(reg, pci, usb_dev_classes, 3, "Device", props, &dev) < 0)
                abort();
        rk_value_unref(props);
        if0 = PUB(reg, dev, usb_if_classes, "Interface");
        drv = PUB(reg, if0, drv_classes, "MyDriver");
        if1 = PUB(reg, dev, usb_if_classes, "Interface");
        if (rk_service_set_state(pci, RK_SERVICE_MATCHED) < 0 || rk_service_set_state(dev, RK_SERVICE_MATCHED) < 0 ||
            rk_service_set_state(if0, RK_SERVICE_MATCHED) < 0 || rk_service_set_state(drv, RK_SERVICE_STARTED) < 0 ||
            rk_service_set_failed(drv, "crash loop") < 0)
                abort();
        (void) if1;
        return reg;
}

static const char *const sample_text =
        "+-o Root  <class IORegistryEntry, id 0x100000100, registered>\n"
        "  +-o IOResources  <class IOResources, id 0x100000101, registered>\n"
        "  +-o pci0  <class IOPCIDevice, id 0x100000102, matched>\n"
        "    +-o Device  <class IOUSBHostDevice, id 0x100000103, matched>\n"
        "      +-o Interface  <class IOUSBHostInterface, id 0x100000104, matched>\n"
        "      | +-o MyDriver  <class MyDriver, id 0x100000105, started, failed: crash loop>\n"
        "      +-o Interface  <class IOUSBHostInterface, id 0x100000106, registered>\n";

static const char *const sample_text_l =
        "+-o Root  <class IORegistryEntry, id 0x100000100, registered>\n"
        "  | {\n"
        "  | }\n"
        "  | \n"
        "  +-o IOResources  <class IOResources, id 0x100000101, registered>\n"
        "  |   {\n"
        "  |     \"IOKit\" = \"IOService\"\n"
        "  |   }\n"
        "  |   \n"
        "  +-o pci0  <class IOPCIDevice, id 0x100000102, matched>\n"
        "    | {\n"
        "    |   \"vendor-id\" = <86800000>\n"
        "    |   \"compatible\" = <\"pci8086,a36d\",\"pciclass,0c0330\">\n"
        "    | }\n"
        "    | \n"
        "    +-o Device  <class IOUSBHostDevice, id 0x100000103, matched>\n"
        "      | {\n"
        "      |   \"idVendor\" = 1452\n"
        "      |   \"USB Product Name\" = \"Magic \"Keyboard\"\"\n"
        "      |   \"Removable\" = Yes\n"
        "      |   \"Config\" = {\"a\"=-1,\"b\"=(\"x\",1.5)}\n"
        "      | }\n"
        "      | \n"
        "      +-o Interface  <class IOUSBHostInterface, id 0x100000104, matched>\n"
        "      | | {\n"
        "      | | }\n"
        "      | | \n"
        "      | +-o MyDriver  <class MyDriver, id 0x100000105, started, failed: crash loop>\n"
        "      |     {\n"
        "      |     }\n"
        "      |     \n"
        "      +-o Interface  <class IOUSBHostInterface, id 0x100000106, registered>\n"
        "          {\n"
        "          }\n"
        "          \n";

TEST(print_text_like_ioreg) {
        _cleanup_(rk_registry_freep) rk_registry *reg = sample_tree();
        _cleanup_(freep) char *plain = NULL, *longer = NULL, *sub = NULL;
        rk_service *dev = NULL;
        int r;

        plain = print_str(reg, NULL, 0, &r);
        CHECK_INTEQ(r, 0);
        CHECK_STREQ(plain, sample_text);
        longer = print_str(reg, NULL, RK_REGISTRY_PRINT_PROPERTIES, &r);
        CHECK_INTEQ(r, 0);
        CHECK_STREQ(longer, sample_text_l);
        if (!streq_ptr(longer, sample_text_l))
                fputs(longer, stderr);

        /* from a service: the subtree, drawn from column 0 */
        ASSERT(rk_registry_find_path(reg, "/Root/pci0/Device", &dev) == 0);
        sub = print_str(reg, dev, 0, &r);
        CHECK_INTEQ(r, 0);
        CHECK_STREQ(sub, "+-o Device  <class IOUSBHostDevice, id 0x100000103, matched>\n"
                         "  +-o Interface  <class IOUSBHostInterface, id 0x100000104, matched>\n"
                         "  | +-o MyDriver  <class MyDriver, id 0x100000105, started, failed: crash loop>\n"
                         "  +-o Interface  <class IOUSBHostInterface, id 0x100000106, registered>\n");
        CHECK(rk_registry_print(reg, NULL, 0, NULL) == -EINVAL);
}

static bool write_temp(const char *text, char *path) {
        int fd = mkstemp(path);
        bool ok;

        if (fd < 0)
                return false;
        ok = write(fd, text, strlen(text)) == (ssize_t) strlen(text);
        close(fd);
        return ok;
}

/* Check JSON with Python's parser: one interpreter for both outputs. */
static const char *const json_check =
        "import json,sys\n"
        "t = json.load(open(sys.argv[1]))\n"
        "assert t[\"name\"] == \"Root\" and t[\"id\"] == 0x100000100, t\n"
        "pci = t[\"children\"][1]\n"
        "assert pci[\"path\"] == \"/Root/pci0\" and pci[\"state\"] == \"matched\"\n"
        "ifs = pci[\"children\"][0][\"children\"]\n"
        "assert [i[\"path\"] for i in ifs] == [\"/Root/pci0/Device/Interface@100000104\","
        " \"/Root/pci0/Device/Interface@100000106\"], ifs\n"
        "d = ifs[0][\"children\"][0]\n"
        "assert d[\"failed\"] == \"crash loop\" and d[\"classes\"] == [\"MyDriver\", \"IOService\"]\n"
        "assert \"properties\" not in d and ifs[1][\"failed\"] is None\n"
        "t = json.load(open(sys.argv[2]))\n"
        "dev = t[\"children\"][1][\"children\"][0]\n"
        "p = dev[\"properties\"]\n"
        "assert p[\"idVendor\"] == 1452 and p[\"Removable\"] is True, p\n"
        "assert p[\"USB Product Name\"] == \"Magic \\\"Keyboard\\\"\"\n"
        "assert p[\"Config\"] == {\"a\": -1, \"b\": [\"x\", 1.5]}, p\n"
        "assert t[\"children\"][0][\"properties\"] == {\"IOKit\": \"IOService\"}\n";

TEST(print_json_parses) {
        _cleanup_(rk_registry_freep) rk_registry *reg = sample_tree();
        _cleanup_(freep) char *plain = NULL, *longer = NULL;
        char p1[] = "/tmp/test-registry-XXXXXX", p2[] = "/tmp/test-registry-XXXXXX", cmd[4096];
        int r;

        plain = print_str(reg, NULL, RK_REGISTRY_PRINT_JSON, &r);
        CHECK_INTEQ(r, 0);
        longer = print_str(reg, NULL, RK_REGISTRY_PRINT_JSON | RK_REGISTRY_PRINT_PROPERTIES, &r);
        CHECK_INTEQ(r, 0);
        ASSERT(plain && longer);
        CHECK(strstr(plain, "\"properties\"") == NULL);
        CHECK(strstr(plain, "\"id\":4294967552,\"name\":\"Root\",\"class\":\"IORegistryEntry\","
                            "\"classes\":[\"IORegistryEntry\"],\"state\":\"registered\",\"failed\":null,"
                            "\"path\":\"/Root\",\"children\":[") != NULL);
        ASSERT(write_temp(plain, p1));
        ASSERT(write_temp(longer, p2));
        snprintf(cmd, sizeof(cmd), "python3 -c '%s' %s %s", json_check, p1, p2);
        r = system(cmd);
        if (WIFEXITED(r) && WEXITSTATUS(r) == 127)
                fprintf(stderr, "python3 not found: JSON not parsed\n");
        else
                CHECK(r == 0);
        unlink(p1);
        unlink(p2);
}

/* What ringctl does: receive the tree as a plist, print it. */
TEST(to_value_plist_round_trip) {
        _cleanup_(rk_registry_freep) rk_registry *reg = sample_tree();
        const unsigned modes[] = { 0, RK_REGISTRY_PRINT_PROPERTIES, RK_REGISTRY_PRINT_JSON,
                                   RK_REGISTRY_PRINT_JSON | RK_REGISTRY_PRINT_PROPERTIES };

        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                _cleanup_(rk_value_unrefp) rk_value *tree = NULL, *back = NULL, *back_xml = NULL;
                _cleanup_(freep) char *direct = NULL, *via = NULL, *via_xml = NULL, *bin = NULL, *xml = NULL;
                size_t n = 0, nx = 0;
                int r;

                ASSERT(rk_registry_to_value(reg, NULL, modes[i], &tree) == 0);
                CHECK(rk_value_is(rk_dict_get(tree, "children"), RK_TYPE_ARRAY));
                CHECK((rk_dict_get(tree, "properties") != NULL) == !!(modes[i] & RK_REGISTRY_PRINT_PROPERTIES));
                ASSERT(rk_plist_to_binary(tree, &bin, &n) == 0);
                ASSERT(rk_plist_parse(bin, n, "tree", &back, NULL) == 0);
                ASSERT(rk_plist_to_xml(tree, &xml, &nx) == 0);
                ASSERT(rk_plist_parse(xml, nx, "tree", &back_xml, NULL) == 0);
                CHECK(rk_value_equal(tree, back));
                direct = print_str(reg, NULL, modes[i], &r);
                CHECK_INTEQ(r, 0);
                via = print_value_str(back, modes[i], &r);
                CHECK_INTEQ(r, 0);
                via_xml = print_value_str(back_xml, modes[i], &r);
                CHECK_INTEQ(r, 0);
                CHECK_STREQ(via, direct);
                CHECK_STREQ(via_xml, direct);
        }
}

TEST(print_value_rejects_bad_trees) {
        _cleanup_(rk_value_unrefp) rk_value *notdict = str("x"), *noname = P("<dict><key>id</key><integer>1</integer>"
                "<key>class</key><string>C</string><key>state</key><string>registered</string></dict>");
        _cleanup_(rk_value_unrefp) rk_value *badkids = P("<dict><key>id</key><integer>1</integer>"
                "<key>name</key><string>N</string><key>class</key><string>C</string>"
                "<key>state</key><string>registered</string><key>children</key><array><string>x</string></array></dict>");
        _cleanup_(rk_value_unrefp) rk_value *deep = NULL, *cur = NULL;
        _cleanup_(freep) char *out = NULL, *out2 = NULL;
        int r;

        CHECK(rk_registry_print_value(notdict, 0, stdout) == -EBADMSG);
        CHECK(rk_registry_print_value(noname, 0, stdout) == -EBADMSG);
        CHECK(rk_registry_print_value(badkids, 0, stdout) == -EBADMSG);
        CHECK(rk_registry_print_value(NULL, 0, stdout) == -EINVAL);
        CHECK(rk_registry_print_value(notdict, 0, NULL) == -EINVAL);

        /* 40 levels of services: fine as text, too deep for the JSON writer */
        for (int i = 0; i < 40; i++) {
                rk_value *node = P("<dict><key>id</key><integer>1</integer><key>name</key><string>N</string>"
                                   "<key>class</key><string>C</string><key>state</key><string>registered</string>"
                                   "<key>children</key><array/></dict>");
                if (cur && rk_array_append(rk_dict_get(node, "children"), cur) < 0)
                        abort();
                rk_value_unref(cur);
                cur = node;
        }
        deep = TAKE_PTR(cur);
        out = print_value_str(deep, 0, &r);
        CHECK_INTEQ(r, 0);
        out2 = print_value_str(deep, RK_REGISTRY_PRINT_JSON, &r);
        CHECK_INTEQ(r, -E2BIG);
        CHECK(out2 && out2[0] == '\0'); /* nothing written */
}

/* ---- size and speed ---- */

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void count_cb(rk_service *svc, void *ud) {
        size_t *n = ud;
        (*n)++;
}

/* No timing assertions: a quadratic step would show up as minutes, not a failure here. */
TEST(wide_subtree_10k) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *hub, *found = NULL;
        size_t n_cb = 0;
        double t0, t1, t2, t3;
        FILE *devnull;
        int r;

        ASSERT(rk_registry_new(&reg) == 0);
        hub = PUB(reg, rk_registry_root(reg), usb_dev_classes, "Hub");
        t0 = now();
        for (int i = 0; i < 10000; i++)
                PUB(reg, hub, usb_if_classes, i % 2 ? "Interface" : NULL);
        t1 = now();
        devnull = fopen("/dev/null", "we");
        ASSERT(devnull);
        r = rk_registry_print(reg, NULL, RK_REGISTRY_PRINT_JSON, devnull);
        CHECK_INTEQ(r, 0);
        fclose(devnull);
        CHECK(rk_registry_find_path(reg, "/Root/Hub/Interface", &found) == -ENOTUNIQ);
        t2 = now();
        CHECK_INTEQ(rk_service_terminate(hub, count_cb, &n_cb), 10001);
        t3 = now();
        CHECK_INTEQ(n_cb, 10001);
        CHECK_INTEQ(rk_registry_size(reg), 2);
        printf("10k: publish %.1f ms, print json %.1f ms, terminate %.1f ms\n", (t1 - t0) * 1e3,
               (t2 - t1) * 1e3, (t3 - t2) * 1e3);
}

/* Random publish/terminate churn keeps the ID map consistent with the tree. */
TEST(churn_keeps_map_consistent) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        rk_service *live[512];
        uint64_t ids[512];
        size_t n = 0;
        unsigned seed = 12345;

        ASSERT(rk_registry_new(&reg) == 0);
        for (int step = 0; step < 20000; step++) {
                seed = seed * 1103515245u + 12345u;
                if (n < ELEMENTSOF(live) && (n == 0 || (seed >> 16) % 3 != 0)) {
                        live[n] = PUB(reg, rk_registry_root(reg), drv_classes, "x");
                        ids[n] = rk_service_get_id(live[n]);
                        n++;
                } else {
                        size_t i = (seed >> 8) % n;
                        CHECK(rk_service_terminate(live[i], NULL, NULL) == 1);
                        CHECK(rk_registry_find(reg, ids[i]) == NULL);
                        live[i] = live[--n];
                        ids[i] = ids[n];
                }
        }
        CHECK_INTEQ(rk_registry_size(reg), n + 2);
        for (size_t i = 0; i < n; i++)
                CHECK(rk_registry_find(reg, ids[i]) == live[i]);
}

/* A virtual USB device as ringd would publish it: device nub plus properties. */
static rk_value *usb_props(unsigned i) {
        rk_value *d = NULL;
        char serial[32];

        snprintf(serial, sizeof(serial), "VIRT%08u", i);
        if (rk_value_new_dict(&d) < 0 || rk_dict_set_integer(d, "idVendor", 0x05ac, false) < 0 ||
            rk_dict_set_integer(d, "idProduct", 0x0250 + i % 16, false) < 0 ||
            rk_dict_set_integer(d, "bcdDevice", 0x0100, false) < 0 ||
            rk_dict_set_integer(d, "bDeviceClass", 0, false) < 0 ||
            rk_dict_set_integer(d, "bDeviceSubClass", 0, false) < 0 ||
            rk_dict_set_integer(d, "bDeviceProtocol", 0, false) < 0 ||
            rk_dict_set_integer(d, "locationID", 0x14100000u + i, false) < 0 ||
            rk_dict_set_string(d, "USB Product Name", "Virtual Keyboard") < 0 ||
            rk_dict_set_string(d, "USB Vendor Name", "ringkit") < 0 ||
            rk_dict_set_string(d, "USB Serial Number", serial) < 0 ||
            rk_dict_set_string(d, "RKModalias", "usb:v05ACp0250d0100dc00dsc00dp00ic03isc01ip01in00") < 0)
                abort();
        return d;
}

TEST(memory_per_service) {
        _cleanup_(rk_registry_freep) rk_registry *reg = NULL;
        struct mallinfo2 before, mid, after;
        rk_service *hub;

        ASSERT(rk_registry_new(&reg) == 0);
        hub = PUB(reg, rk_registry_root(reg), nub_classes, "xhci");
        before = mallinfo2();
        for (unsigned i = 0; i < 1000; i++)
                PUB(reg, hub, usb_dev_classes, "Virtual Keyboard");
        mid = mallinfo2();
        for (unsigned i = 0; i < 1000; i++) {
                _cleanup_(rk_value_unrefp) rk_value *p = usb_props(i);
                ASSERT(rk_registry_publish(reg, hub, usb_dev_classes, 3, "Virtual Keyboard", p, NULL) == 0);
        }
        after = mallinfo2();
#ifdef SANITIZED
        (void) before, (void) mid, (void) after;
        printf("per service: not measured under ASan (mallinfo2 sees its own heap only)\n");
#else
        printf("per service: %zu bytes bare, %zu bytes with 11 USB properties\n",
               (mid.uordblks - before.uordblks) / 1000, (after.uordblks - mid.uordblks) / 1000);
        /* 1,000 devices in well under 16 MiB: leave most of it to the rest of ringd */
        CHECK((mid.uordblks - before.uordblks) / 1000 < 512);
        CHECK((after.uordblks - mid.uordblks) / 1000 < 2048);
#endif
}
