/* SPDX-License-Identifier: MIT */
/*
 * The registry's service tree (see registry.h for the calls).
 *
 * Map of this file: the ID map; services (allocation, references, the match
 * view); the registry and publishing; termination; state, failure,
 * properties and getters; paths; the tree as a value; printing it as
 * ioreg-style text or JSON.
 *
 * Service states and who moves them:
 *
 *                rk_registry_publish()
 *                         │
 *                         ▼
 *                  ┌─────────────┐  set_state(MATCHED)   ┌─────────┐
 *                  │ registered  │──────────────────────►│ matched │
 *                  └─────────────┘                       └─────────┘
 *                         │ set_state(STARTED)                │ set_state(STARTED)
 *                         ▼                                   │
 *                  ┌─────────────┐◄───────────────────────────┘
 *                  │   started   │
 *                  └─────────────┘
 *     registered, matched, started ──rk_service_terminate()──► terminated
 *     (also rk_registry_free(), for whatever is still attached)
 *
 *   registered → matched    rk_service_set_state(): matching ran on a nub
 *   registered → started    rk_service_set_state(): a driver's start returned
 *   matched → started       rk_service_set_state(): a nub its provider started
 *   any → terminated        rk_service_terminate() (terminate_subtree()),
 *                           in three steps: inactive (leaves the ID map and
 *                           its provider's client list), cb and then state
 *                           TERMINATED (clients before providers), detached
 *
 * Invariants:
 *   1. A service is in the ID map iff it is attached (registry != NULL) and
 *      not inactive; reg->n counts them.
 *   2. Being attached holds one reference, so refs > 0 while attached;
 *      service_free() asserts registry == NULL and no clients.
 *   3. An active service's provider is active; its depth is its
 *      provider's + 1 and never more than RK_REGISTRY_MAX_DEPTH.
 *   4. view.parent == &provider->view while a provider link exists.
 *   5. props_shared says someone else may hold the property dictionary
 *      (the publisher, a to_value snapshot): changes copy it first.
 *   6. IDs come from reg->next_id, which only grows.
 *
 * Memory: one allocation per service holds the struct, the class pointers
 * and the class and name strings (about 200 bytes plus the strings on
 * x86-64); the map costs 16-64 bytes per service; the property table is the
 * caller's and may be shared between services until one changes.
 */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/registry.h"
#include "shared/json.h"
#include "shared/macro.h"

struct rk_service {
        rk_registry *registry;          /* NULL once detached */
        rk_service *provider;
        rk_service *first_client, *last_client;
        rk_service *prev, *next;        /* among the provider's clients */
        rk_value *properties;           /* a dictionary, never NULL */
        char *failed;
        void *userdata;
        const char *name;               /* in the tail */
        rk_match_provider view;         /* view.registry_id is the ID */
        unsigned refs;
        uint32_t n_clients;
        uint16_t depth;                 /* 0 at the root */
        uint8_t state;                  /* rk_service_state */
        bool inactive;                  /* termination under way or done */
        bool props_shared;              /* copy the properties before changing them */
        const char *classes[];          /* view.n_classes pointers, then the strings */
};

struct rk_registry {
        uint64_t next_id;
        rk_service *root, *resources;
        rk_service **map;               /* open addressing on the ID, linear probing */
        size_t map_cap;                 /* a power of two, or 0 */
        size_t n;                       /* services in the map */
        void (*changed)(rk_registry *reg, void *ud); /* rk_registry_set_change_handler */
        void *changed_ud;
};

static void changed(rk_registry *reg) {
        if (reg && reg->changed)
                reg->changed(reg, reg->changed_ud);
}

void rk_registry_set_change_handler(rk_registry *reg, void (*fn)(rk_registry *reg, void *ud), void *ud) {
        if (reg) {
                reg->changed = fn;
                reg->changed_ud = ud;
        }
}

static const char *const state_names[_RK_SERVICE_STATE_MAX] = {
        [RK_SERVICE_REGISTERED] = "registered",
        [RK_SERVICE_MATCHED] = "matched",
        [RK_SERVICE_STARTED] = "started",
        [RK_SERVICE_TERMINATED] = "terminated",
};

const char *rk_service_state_to_string(rk_service_state s) {
        return (unsigned) s < _RK_SERVICE_STATE_MAX ? state_names[s] : NULL;
}

/* ---- the ID map ---- */

/*
 * IDs are sequential, so a multiplicative hash spreads them evenly.  The
 * table stays at most half full and shrinks below an eighth, so that a
 * burst of devices does not pin memory after they are gone.
 */
static size_t id_slot(uint64_t id, size_t cap) {
        return (size_t) ((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (cap - 1);
}

static int map_resize(rk_registry *reg, size_t cap) {
        rk_service **m = calloc(cap, sizeof(*m));

        if (!m)
                return -ENOMEM;
        for (size_t i = 0; i < reg->map_cap; i++) {
                rk_service *s = reg->map[i];
                size_t j;

                if (!s)
                        continue;
                for (j = id_slot(s->view.registry_id, cap); m[j]; j = (j + 1) & (cap - 1))
                        ;
                m[j] = s;
        }
        free(reg->map);
        reg->map = m;
        reg->map_cap = cap;
        return 0;
}

static int map_add(rk_registry *reg, rk_service *s) {
        size_t j;
        int r;

        if ((reg->n + 1) * 2 > reg->map_cap) {
                r = map_resize(reg, reg->map_cap ? reg->map_cap * 2 : 16);
                if (r < 0)
                        return r;
        }
        for (j = id_slot(s->view.registry_id, reg->map_cap); reg->map[j]; j = (j + 1) & (reg->map_cap - 1))
                ;
        reg->map[j] = s;
        reg->n++;
        return 0;
}

static rk_service **map_find(const rk_registry *reg, uint64_t id) {
        if (reg->map_cap == 0)
                return NULL;
        for (size_t j = id_slot(id, reg->map_cap); reg->map[j]; j = (j + 1) & (reg->map_cap - 1))
                if (reg->map[j]->view.registry_id == id)
                        return &reg->map[j];
        return NULL;
}

/* Backward-shift deletion: no tombstones, probe chains stay short. */
static void map_remove(rk_registry *reg, rk_service *s) {
        rk_service **slot = map_find(reg, s->view.registry_id);
        size_t mask = reg->map_cap - 1, i, j;

        assert(slot && *slot == s);
        i = j = (size_t) (slot - reg->map);
        for (;;) {
                size_t k;

                j = (j + 1) & mask;
                if (!reg->map[j])
                        break;
                k = id_slot(reg->map[j]->view.registry_id, reg->map_cap);
                /* move it into the hole unless its home lies cyclically in (i, j] */
                if (i < j ? (k <= i || k > j) : (k <= i && k > j)) {
                        reg->map[i] = reg->map[j];
                        i = j;
                }
        }
        reg->map[i] = NULL;
        reg->n--;
        if (reg->map_cap > 64 && reg->n * 8 < reg->map_cap)
                (void) map_resize(reg, reg->map_cap / 2); /* on failure the big table still works */
}

/* ---- services ---- */

static int service_alloc(const char *const *classes, size_t n_classes, const char *name, rk_service **ret) {
        size_t size = sizeof(rk_service) + n_classes * sizeof(char *) + strlen(name) + 1;
        rk_service *s;
        char *p;

        for (size_t i = 0; i < n_classes; i++)
                size += strlen(classes[i]) + 1;
        s = calloc(1, size);
        if (!s)
                return -ENOMEM;
        p = (char *) (s->classes + n_classes);
        for (size_t i = 0; i < n_classes; i++) {
                s->classes[i] = p;
                p = stpcpy(p, classes[i]) + 1;
        }
        s->name = p;
        strcpy(p, name);
        s->view.classes = s->classes;
        s->view.n_classes = n_classes;
        s->refs = 1;
        *ret = s;
        return 0;
}

static void service_free(rk_service *s) {
        assert(!s->registry && !s->first_client && !s->provider);
        rk_value_unref(s->properties);
        free(s->failed);
        free(s);
}

rk_service *rk_service_ref(rk_service *svc) {
        if (svc) {
                assert(svc->refs > 0);
                svc->refs++;
        }
        return svc;
}

rk_service *rk_service_unref(rk_service *svc) {
        if (!svc)
                return NULL;
        assert(svc->refs > 0);
        if (--svc->refs == 0)
                service_free(svc);
        return NULL;
}

/* Recompute the match view's borrowed pointers after a property change. */
static void view_refresh(rk_service *s) {
        const rk_value *v;
        const char *ioname = rk_dict_get_string(s->properties, "IOName");

        s->view.properties = s->properties;
        s->view.name = ioname ? ioname : s->name;
        v = rk_dict_get(s->properties, "IOCompatibleNames");
        s->view.compatible = rk_value_is(v, RK_TYPE_ARRAY) ? v : NULL;
        s->view.modalias = rk_dict_get_string(s->properties, "RKModalias");
        s->view.parent = s->provider ? &s->provider->view : NULL;
}

static void link_client(rk_service *p, rk_service *c) {
        c->provider = p;
        c->prev = p->last_client;
        c->next = NULL;
        if (p->last_client)
                p->last_client->next = c;
        else
                p->first_client = c;
        p->last_client = c;
        p->n_clients++;
        c->depth = p->depth + 1;
}

/* Take c out of its provider's client list; c->provider stays. */
static void unlink_client(rk_service *c) {
        rk_service *p = c->provider;

        if (c->prev)
                c->prev->next = c->next;
        else
                p->first_client = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                p->last_client = c->prev;
        p->n_clients--;
        c->prev = c->next = NULL;
}

/* ---- the registry and publishing ---- */

/* Create and attach a service; the public entry checked the arguments. */
static int service_create(rk_registry *reg, rk_service *provider, const char *const *classes, size_t n_classes,
                          const char *name, rk_value *properties, rk_service **ret) {
        rk_service *s;
        int r;

        r = service_alloc(classes, n_classes, name ? name : classes[0], &s);
        if (r < 0)
                return r;
        if (properties) {
                s->properties = rk_value_ref(properties);
                s->props_shared = true;
        } else {
                r = rk_value_new_dict(&s->properties);
                if (r < 0)
                        goto fail;
        }
        s->view.registry_id = reg->next_id;
        r = map_add(reg, s);
        if (r < 0)
                goto fail;
        reg->next_id++;
        s->registry = reg;
        s->state = RK_SERVICE_REGISTERED;
        if (provider)
                link_client(provider, s);
        view_refresh(s);
        *ret = s;
        return 0;
fail:
        service_free(s);
        return r;
}

static int registry_populate(rk_registry *reg) {
        static const char *const root_classes[] = { "IORegistryEntry" };
        static const char *const resources_classes[] = { "IOResources", "IOService" };
        _cleanup_(rk_value_unrefp) rk_value *props = NULL;
        int r;

        r = service_create(reg, NULL, root_classes, ELEMENTSOF(root_classes), "Root", NULL, &reg->root);
        if (r < 0)
                return r;
        r = rk_value_new_dict(&props);
        if (r < 0)
                return r;
        r = rk_dict_set_string(props, "IOKit", "IOService");
        if (r < 0)
                return r;
        r = service_create(reg, reg->root, resources_classes, ELEMENTSOF(resources_classes), "IOResources", props,
                           &reg->resources);
        if (r < 0)
                return r;
        reg->resources->props_shared = false; /* props is ours and dropped below */
        return 0;
}

int rk_registry_new(rk_registry **ret) {
        rk_registry *reg;
        int r;

        if (!ret)
                return -EINVAL;
        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        reg->next_id = RK_REGISTRY_ROOT_ID;
        r = registry_populate(reg);
        if (r < 0) {
                rk_registry_free(reg);
                return r;
        }
        *ret = reg;
        return 0;
}

rk_service *rk_registry_root(rk_registry *reg) {
        return reg ? reg->root : NULL;
}

rk_service *rk_registry_resources(rk_registry *reg) {
        return reg ? reg->resources : NULL;
}

size_t rk_registry_size(rk_registry *reg) {
        return reg ? reg->n : 0;
}

static bool classes_valid(const char *const *classes, size_t n_classes) {
        if (!classes || n_classes == 0 || n_classes > RK_REGISTRY_MAX_CLASSES)
                return false;
        for (size_t i = 0; i < n_classes; i++)
                if (!classes[i] || !classes[i][0])
                        return false;
        return true;
}

int rk_registry_publish(rk_registry *reg, rk_service *provider, const char *const *classes, size_t n_classes,
                        const char *name, rk_value *properties, rk_service **ret) {
        rk_service *s;
        int r;

        if (!reg || !provider || provider->registry != reg || provider->inactive)
                return -EINVAL;
        if (!classes_valid(classes, n_classes) || (name && !name[0]))
                return -EINVAL;
        if (properties && !rk_value_is(properties, RK_TYPE_DICT))
                return -EINVAL;
        if (provider->depth >= RK_REGISTRY_MAX_DEPTH)
                return -ELOOP;
        r = service_create(reg, provider, classes, n_classes, name, properties, &s);
        if (r < 0)
                return r;
        changed(reg);
        if (ret)
                *ret = s;
        return 0;
}

rk_service *rk_registry_find(rk_registry *reg, uint64_t id) {
        rk_service **slot;

        if (!reg)
                return NULL;
        slot = map_find(reg, id);
        return slot ? *slot : NULL;
}

/* ---- termination ---- */

/*
 * Post-order walks over a subtree need no stack: descend to the first
 * client's first client..., and after a service go to the leftmost leaf of
 * its next sibling, or else up to its provider.  Each edge is crossed once
 * each way, so a subtree of n services costs O(n) however wide or deep.
 */
static rk_service *leftmost_leaf(rk_service *s) {
        while (s->first_client)
                s = s->first_client;
        return s;
}

static rk_service *post_next(rk_service *s, rk_service *top) {
        if (s == top)
                return NULL;
        if (s->next)
                return leftmost_leaf(s->next);
        return s->provider;
}

/* Detach leaves first, dropping each attach reference (may free them). */
static void detach_subtree(rk_service *top) {
        rk_service *s = top;

        for (;;) {
                rk_service *p;

                s = leftmost_leaf(s);
                p = s == top ? NULL : s->provider;
                if (p)
                        unlink_client(s);
                s->provider = NULL;
                s->view.parent = NULL;
                s->registry = NULL;
                rk_service_unref(s);
                if (!p)
                        return;
                s = p;
        }
}

static int terminate_subtree(rk_registry *reg, rk_service *top, void (*cb)(rk_service *, void *), void *ud) {
        rk_service *provider = rk_service_ref(top->provider); /* kept for cb; top may be freed below */
        int n = 0;

        /* 1: out of the tree and the map; nothing new can attach below */
        if (top->provider)
                unlink_client(top);
        for (rk_service *s = leftmost_leaf(top); s; s = post_next(s, top)) {
                s->inactive = true;
                map_remove(reg, s);
        }
        /* 2: stop order, clients before providers */
        for (rk_service *s = leftmost_leaf(top), *next; s; s = next) {
                next = post_next(s, top);
                if (cb)
                        cb(s, ud);
                s->state = RK_SERVICE_TERMINATED;
                n++;
        }
        /* 3: detach */
        detach_subtree(top);
        rk_service_unref(provider);
        return n;
}

int rk_service_terminate(rk_service *svc, void (*cb)(rk_service *svc, void *userdata), void *userdata) {
        if (!svc || svc->inactive || !svc->registry)
                return -EINVAL;
        rk_registry *reg = svc->registry;
        int r;

        if (svc == reg->root || svc == reg->resources)
                return -EPERM;
        r = terminate_subtree(reg, svc, cb, userdata);
        changed(reg);
        return r;
}

rk_registry *rk_registry_free(rk_registry *reg) {
        if (!reg)
                return NULL;
        if (reg->root)
                (void) terminate_subtree(reg, reg->root, NULL, NULL);
        assert(reg->n == 0);
        free(reg->map);
        free(reg);
        return NULL;
}

/* ---- state, failure, userdata, getters ---- */

int rk_service_set_state(rk_service *svc, rk_service_state state) {
        bool ok;

        if (!svc || svc->inactive)
                return -EINVAL;
        switch (state) {
        case RK_SERVICE_MATCHED:
                ok = svc->state == RK_SERVICE_REGISTERED;
                break;
        case RK_SERVICE_STARTED:
                ok = svc->state == RK_SERVICE_REGISTERED || svc->state == RK_SERVICE_MATCHED;
                break;
        default:
                ok = false;
        }
        if (!ok)
                return -EINVAL;
        svc->state = state;
        changed(svc->registry);
        return 0;
}

int rk_service_set_failed(rk_service *svc, const char *reason) {
        char *copy = NULL;

        if (!svc)
                return -EINVAL;
        if (reason) {
                copy = strdup(reason);
                if (!copy)
                        return -ENOMEM;
        }
        free(svc->failed);
        svc->failed = copy;
        return 0;
}

const char *rk_service_get_failed(const rk_service *svc) {
        return svc ? svc->failed : NULL;
}

void *rk_service_get_userdata(const rk_service *svc) {
        return svc ? svc->userdata : NULL;
}

void rk_service_set_userdata(rk_service *svc, void *userdata) {
        if (svc)
                svc->userdata = userdata;
}

uint64_t rk_service_get_id(const rk_service *svc) {
        return svc ? svc->view.registry_id : 0;
}

const char *rk_service_get_name(const rk_service *svc) {
        return svc ? svc->name : NULL;
}

const char *rk_service_get_class(const rk_service *svc) {
        return svc ? svc->classes[0] : NULL;
}

const char *const *rk_service_get_classes(const rk_service *svc, size_t *n) {
        if (n)
                *n = svc ? svc->view.n_classes : 0;
        return svc ? svc->classes : NULL;
}

bool rk_service_has_class(const rk_service *svc, const char *cls) {
        return svc && cls && rk_match_provider_has_class(&svc->view, cls);
}

rk_service_state rk_service_get_state(const rk_service *svc) {
        return svc ? (rk_service_state) svc->state : RK_SERVICE_TERMINATED;
}

rk_service *rk_service_get_provider(const rk_service *svc) {
        return svc ? svc->provider : NULL;
}

rk_registry *rk_service_get_registry(const rk_service *svc) {
        return svc ? svc->registry : NULL;
}

size_t rk_service_get_n_clients(const rk_service *svc) {
        return svc ? svc->n_clients : 0;
}

rk_service *rk_service_first_client(const rk_service *svc) {
        return svc ? svc->first_client : NULL;
}

rk_service *rk_service_next_sibling(const rk_service *svc) {
        return svc ? svc->next : NULL;
}

const rk_match_provider *rk_service_match_provider(rk_service *svc) {
        return svc ? &svc->view : NULL;
}

/* ---- properties ---- */

static int dict_shallow_copy(const rk_value *d, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *copy = NULL;
        int r;

        r = rk_value_new_dict(&copy);
        if (r < 0)
                return r;
        for (size_t i = 0; i < rk_dict_size(d); i++) {
                r = rk_dict_set(copy, rk_dict_key_at(d, i), rk_dict_value_at(d, i));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(copy);
        return 0;
}

/* Copy-on-write: make the property table ours before changing it. */
static int props_own(rk_service *s) {
        rk_value *copy;
        int r;

        if (!s->props_shared)
                return 0;
        r = dict_shallow_copy(s->properties, &copy);
        if (r < 0)
                return r;
        rk_value_unref(s->properties);
        s->properties = copy;
        s->props_shared = false;
        return 0;
}

const rk_value *rk_service_get_properties(const rk_service *svc) {
        return svc ? svc->properties : NULL;
}

rk_value *rk_service_get_property(const rk_service *svc, const char *key) {
        return svc && key ? rk_dict_get(svc->properties, key) : NULL;
}

int rk_service_set_property(rk_service *svc, const char *key, rk_value *value) {
        int r;

        if (!svc || !key || !value)
                return -EINVAL;
        r = props_own(svc);
        if (r < 0)
                return r;
        r = rk_dict_set(svc->properties, key, value);
        view_refresh(svc);
        changed(svc->registry);
        return r;
}

int rk_service_remove_property(rk_service *svc, const char *key) {
        int r;

        if (!svc || !key)
                return -EINVAL;
        if (!rk_dict_get(svc->properties, key))
                return -ENOENT;
        r = props_own(svc);
        if (r < 0)
                return r;
        r = rk_dict_remove(svc->properties, key);
        view_refresh(svc);
        changed(svc->registry);
        return r;
}

/* ---- paths ---- */

static bool name_needs_escape(char c) {
        return c == '%' || c == '/' || c == '@';
}

static void put_component(FILE *f, const rk_service *s, bool with_id) {
        for (const char *p = s->name; *p; p++)
                if (name_needs_escape(*p))
                        fprintf(f, "%%%02X", (unsigned char) *p);
                else
                        fputc(*p, f);
        if (with_id)
                fprintf(f, "@%" PRIx64, s->view.registry_id);
}

static bool name_shared(const rk_service *s) {
        if (!s->provider)
                return false;
        for (const rk_service *c = s->provider->first_client; c; c = c->next)
                if (c != s && streq(c->name, s->name))
                        return true;
        return false;
}

int rk_service_get_path(const rk_service *svc, char **ret) {
        const rk_service *chain[RK_REGISTRY_MAX_DEPTH + 1];
        size_t n = 0, len = 0;
        char *buf = NULL;
        FILE *f;

        if (!svc || !ret || svc->inactive || !svc->registry)
                return -EINVAL;
        for (const rk_service *s = svc; s; s = s->provider) {
                assert(n < ELEMENTSOF(chain));
                chain[n++] = s;
        }
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        while (n > 0) {
                const rk_service *s = chain[--n];
                fputc('/', f);
                put_component(f, s, name_shared(s));
        }
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Split one component [p, end) into its decoded name (written to name, at
 * least end - p + 1 bytes) and optional ID.  Returns 0 or -EINVAL.
 */
static int parse_component(const char *p, const char *end, char *name, bool *has_id, uint64_t *id) {
        const char *at = memchr(p, '@', (size_t) (end - p));
        const char *name_end = at ? at : end;

        for (; p < name_end; p++) {
                if (*p != '%') {
                        *name++ = *p;
                        continue;
                }
                if (name_end - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
                        return -EINVAL;
                *name = (char) (hexval(p[1]) << 4 | hexval(p[2]));
                if (*name++ == '\0')
                        return -EINVAL;
                p += 2;
        }
        *name = '\0';
        *has_id = at != NULL;
        *id = 0;
        if (!at)
                return 0;
        p = at + 1;
        if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
                p += 2;
        if (p == end || end - p > 16)
                return -EINVAL;
        for (; p < end; p++) {
                if (hexval(*p) < 0)
                        return -EINVAL;
                *id = *id << 4 | (uint64_t) hexval(*p);
        }
        return 0;
}

/* The client of `cur` (or the root, when cur is NULL) a component names. */
static int lookup_component(rk_registry *reg, rk_service *cur, const char *name, bool has_id, uint64_t id,
                            rk_service **ret) {
        rk_service *found = NULL;

        if (has_id) {
                found = rk_registry_find(reg, id);
                if (!found || found->provider != cur || !streq(found->name, name))
                        return -ENOENT;
        } else if (!cur) {
                if (!streq(reg->root->name, name))
                        return -ENOENT;
                found = reg->root;
        } else {
                for (rk_service *c = cur->first_client; c; c = c->next)
                        if (streq(c->name, name)) {
                                if (found)
                                        return -ENOTUNIQ;
                                found = c;
                        }
                if (!found)
                        return -ENOENT;
        }
        *ret = found;
        return 0;
}

int rk_registry_find_path(rk_registry *reg, const char *path, rk_service **ret) {
        _cleanup_(freep) char *name = NULL;
        rk_service *cur = NULL;
        int r;

        if (!reg || !path || !ret)
                return -EINVAL;
        if (strncmp(path, "IOService:", 10) == 0)
                path += 10;
        if (*path++ != '/')
                return -EINVAL;
        if (!*path) {
                *ret = reg->root;
                return 0;
        }
        name = malloc(strlen(path) + 1);
        if (!name)
                return -ENOMEM;
        while (*path) {
                const char *end = strchrnul(path, '/');
                bool has_id;
                uint64_t id;

                if (end == path)
                        return -EINVAL; /* an empty component: "//" */
                r = parse_component(path, end, name, &has_id, &id);
                if (r < 0)
                        return r;
                r = lookup_component(reg, cur, name, has_id, id, &cur);
                if (r < 0)
                        return r;
                path = *end ? end + 1 : end; /* a trailing '/' is allowed */
        }
        *ret = cur;
        return 0;
}

/* ---- the tree as a value ---- */

typedef struct name_ref {
        const char *name;
        size_t index;
} name_ref;

static int name_ref_compare(const void *a, const void *b) {
        const name_ref *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c ? c : (x->index > y->index) - (x->index < y->index);
}

/*
 * For each client of p, whether a sibling shares its name (NULL when p has
 * fewer than two): sorted once per provider, so a 10,000-wide provider
 * costs n log n, not n².
 */
static int shared_names(const rk_service *p, bool **ret) {
        _cleanup_(freep) name_ref *refs = NULL;
        size_t n = p->n_clients, i = 0;
        bool *shared;

        *ret = NULL;
        if (n < 2)
                return 0;
        shared = calloc(n, sizeof(bool));
        refs = malloc(n * sizeof(*refs));
        if (!shared || !refs) {
                free(shared);
                return -ENOMEM;
        }
        for (const rk_service *c = p->first_client; c; c = c->next, i++)
                refs[i] = (name_ref){ c->name, i };
        qsort(refs, n, sizeof(*refs), name_ref_compare);
        for (i = 1; i < n; i++)
                if (streq(refs[i - 1].name, refs[i].name))
                        shared[refs[i - 1].index] = shared[refs[i].index] = true;
        *ret = shared;
        return 0;
}

/* parent + "/" + the component, in one allocation (this runs per service) */
static int child_path(const char *parent, const rk_service *c, bool with_id, char **ret) {
        size_t plen = strlen(parent), len = plen + 1 + 1 + 16 + 1;
        char *buf, *p;

        for (const char *q = c->name; *q; q++)
                len += name_needs_escape(*q) ? 3 : 1;
        buf = malloc(len);
        if (!buf)
                return -ENOMEM;
        p = mempcpy(buf, parent, plen);
        *p++ = '/';
        for (const char *q = c->name; *q; q++)
                if (name_needs_escape(*q))
                        p += sprintf(p, "%%%02X", (unsigned char) *q);
                else
                        *p++ = *q;
        if (with_id)
                sprintf(p, "@%" PRIx64, c->view.registry_id);
        else
                *p = '\0';
        *ret = buf;
        return 0;
}

static int node_fields(rk_service *s, unsigned flags, const char *path, rk_value *d) {
        _cleanup_(rk_value_unrefp) rk_value *classes = NULL;
        int r;

        r = rk_dict_set_integer(d, "id", s->view.registry_id, false);
        if (r >= 0)
                r = rk_dict_set_string(d, "name", s->name);
        if (r >= 0)
                r = rk_dict_set_string(d, "class", s->classes[0]);
        if (r >= 0)
                r = rk_value_new_array(&classes);
        for (size_t i = 0; r >= 0 && i < s->view.n_classes; i++) {
                _cleanup_(rk_value_unrefp) rk_value *c = NULL;
                r = rk_value_new_string(s->classes[i], &c);
                if (r >= 0)
                        r = rk_array_append(classes, c);
        }
        if (r >= 0)
                r = rk_dict_set(d, "classes", classes);
        if (r >= 0)
                r = rk_dict_set_string(d, "state", state_names[s->state]);
        if (r >= 0 && s->failed)
                r = rk_dict_set_string(d, "failed", s->failed);
        if (r >= 0)
                r = rk_dict_set_string(d, "path", path);
        if (r >= 0 && (flags & RK_REGISTRY_PRINT_PROPERTIES)) {
                r = rk_dict_set(d, "properties", s->properties);
                s->props_shared = true; /* the snapshot must not see later changes */
        }
        return r;
}

static int node_to_value(rk_service *s, unsigned flags, const char *path, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *d = NULL, *children = NULL;
        _cleanup_(freep) bool *shared = NULL;
        size_t i = 0;
        int r;

        r = rk_value_new_dict(&d);
        if (r < 0)
                return r;
        r = node_fields(s, flags, path, d);
        if (r < 0)
                return r;
        r = rk_value_new_array(&children);
        if (r < 0)
                return r;
        r = shared_names(s, &shared);
        if (r < 0)
                return r;
        for (rk_service *c = s->first_client; c; c = c->next, i++) {
                _cleanup_(rk_value_unrefp) rk_value *cv = NULL;
                _cleanup_(freep) char *cpath = NULL;

                r = child_path(path, c, shared && shared[i], &cpath);
                if (r < 0)
                        return r;
                r = node_to_value(c, flags, cpath, &cv); /* depth <= RK_REGISTRY_MAX_DEPTH */
                if (r < 0)
                        return r;
                r = rk_array_append(children, cv);
                if (r < 0)
                        return r;
        }
        r = rk_dict_set(d, "children", children);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

int rk_registry_to_value(rk_registry *reg, rk_service *from, unsigned flags, rk_value **ret) {
        _cleanup_(freep) char *path = NULL;
        int r;

        if (!reg || !ret)
                return -EINVAL;
        if (!from)
                from = reg->root;
        if (from->registry != reg || from->inactive)
                return -EINVAL;
        r = rk_service_get_path(from, &path);
        if (r < 0)
                return r;
        return node_to_value(from, flags, path, ret);
}

/* ---- printing: checking a received tree ---- */

#define VALUE_TEXT_MAX_DEPTH 32 /* deeper property values print as "..." */

/* Nesting of a value (containers count 1), at most limit + 1. */
static unsigned value_depth(const rk_value *v, unsigned limit) {
        unsigned max = 0;
        size_t n;

        if (rk_value_is(v, RK_TYPE_DICT))
                n = rk_dict_size(v);
        else if (rk_value_is(v, RK_TYPE_ARRAY))
                n = rk_array_size(v);
        else
                return 0;
        if (limit == 0)
                return 1;
        for (size_t i = 0; i < n; i++) {
                const rk_value *c = rk_value_is(v, RK_TYPE_DICT) ? rk_dict_value_at(v, i) : rk_array_get(v, i);
                unsigned d = value_depth(c, limit - 1);
                if (d > max)
                        max = d;
        }
        return max + 1;
}

static bool opt_is(const rk_value *d, const char *key, rk_type t) {
        const rk_value *v = rk_dict_get(d, key);
        return !v || rk_value_is(v, t);
}

/*
 * Check one node and its children: the fields the printers read have
 * their types.  *json_depth grows to the deepest JSON nesting the node
 * needs (its object sits at 2 * level + 1).
 */
static int check_node(const rk_value *n, unsigned level, unsigned flags, unsigned *json_depth) {
        const rk_value *children = rk_dict_get(n, "children"), *classes = rk_dict_get(n, "classes");
        unsigned base = 2 * level + 1, d;
        uint64_t u;

        if (level > RK_REGISTRY_MAX_DEPTH || !rk_value_is(n, RK_TYPE_DICT))
                return -EBADMSG;
        if (!rk_dict_get_string(n, "name") || !rk_dict_get_string(n, "class") ||
            !rk_dict_get_string(n, "state") || !rk_dict_get_u64(n, "id", &u))
                return -EBADMSG;
        if (!opt_is(n, "failed", RK_TYPE_STRING) || !opt_is(n, "path", RK_TYPE_STRING) ||
            !opt_is(n, "properties", RK_TYPE_DICT) || !opt_is(n, "children", RK_TYPE_ARRAY) ||
            !opt_is(n, "classes", RK_TYPE_ARRAY))
                return -EBADMSG;
        for (size_t i = 0; i < rk_array_size(classes); i++)
                if (!rk_string(rk_array_get(classes, i)))
                        return -EBADMSG;
        d = base + 1; /* "classes" and "children" arrays */
        if (flags & RK_REGISTRY_PRINT_PROPERTIES)
                d = base + value_depth(rk_dict_get(n, "properties"), RK_JSON_MAX_DEPTH);
        if (d < base + 1)
                d = base + 1;
        if (d > *json_depth)
                *json_depth = d;
        for (size_t i = 0; i < rk_array_size(children); i++) {
                int r = check_node(rk_array_get(children, i), level + 1, flags, json_depth);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- printing: ioreg-style text ---- */

/* Strings stay on one line: control characters, quotes and backslashes escaped. */
static void put_text(FILE *f, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '\t')
                        fputs("\\t", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
}

static void put_quoted(FILE *f, const char *s) {
        fputc('"', f);
        put_text(f, s);
        fputc('"', f);
}

/* ioreg shows data holding NUL-terminated printable strings as <"a","b">. */
static bool data_is_strings(const uint8_t *p, size_t n) {
        if (n < 2 || p[n - 1] != 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (p[i] == 0) {
                        if (i == 0 || p[i - 1] == 0)
                                return false;
                } else if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"') {
                        return false;
                }
        }
        return true;
}

static void put_data(FILE *f, const rk_value *v) {
        size_t n = 0;
        const uint8_t *p = rk_data(v, &n);

        fputc('<', f);
        if (data_is_strings(p, n)) {
                for (size_t i = 0; i < n - 1; i += strlen((const char *) p + i) + 1)
                        fprintf(f, "%s\"%s\"", i ? "," : "", (const char *) p + i);
        } else {
                for (size_t i = 0; i < n; i++)
                        fprintf(f, "%02x", p[i]);
        }
        fputc('>', f);
}

static void put_date(FILE *f, double secs) {
        time_t t = (time_t) secs + 978307200; /* 2001-01-01 in Unix time */
        struct tm tm;
        char buf[64];

        if (gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
                fputs(buf, f);
        else
                fprintf(f, "%g", secs);
}

static void put_value(FILE *f, const rk_value *v, unsigned depth);

static void put_container(FILE *f, const rk_value *v, unsigned depth) {
        bool dict = rk_value_is(v, RK_TYPE_DICT);
        size_t n = dict ? rk_dict_size(v) : rk_array_size(v);

        fputc(dict ? '{' : '(', f);
        if (depth >= VALUE_TEXT_MAX_DEPTH && n > 0) {
                fputs("...", f);
                n = 0;
        }
        for (size_t i = 0; i < n; i++) {
                if (i)
                        fputc(',', f);
                if (dict) {
                        put_quoted(f, rk_dict_key_at(v, i));
                        fputc('=', f);
                }
                put_value(f, dict ? rk_dict_value_at(v, i) : rk_array_get(v, i), depth + 1);
        }
        fputc(dict ? '}' : ')', f);
}

/* One value as ioreg -l shows it. */
static void put_value(FILE *f, const rk_value *v, unsigned depth) {
        double d = 0;
        int64_t s;
        uint64_t u = 0;

        switch (rk_value_type(v)) {
        case RK_TYPE_DICT:
        case RK_TYPE_ARRAY:
                put_container(f, v, depth);
                break;
        case RK_TYPE_STRING:
                put_quoted(f, rk_string(v));
                break;
        case RK_TYPE_INTEGER:
                if (rk_integer_is_signed(v) && rk_integer_s64(v, &s))
                        fprintf(f, "%" PRId64, s);
                else if (rk_integer_u64(v, &u))
                        fprintf(f, "%" PRIu64, u);
                break;
        case RK_TYPE_BOOL:
                fputs(rk_bool(v) ? "Yes" : "No", f);
                break;
        case RK_TYPE_DATA:
                put_data(f, v);
                break;
        case RK_TYPE_DATE:
                (void) rk_date(v, &d);
                put_date(f, d);
                break;
        case RK_TYPE_REAL:
                (void) rk_real(v, &d);
                fprintf(f, "%g", d);
                break;
        default:
                fputs("?", f);
        }
}

/*
 * The property block under a service: `prefix` is the service's own tree
 * prefix plus its column; `more` says whether clients follow (a '|' runs
 * down beside the block).
 */
static void text_properties(FILE *f, const rk_value *props, const char *prefix, size_t plen, bool more) {
        const char *bar = more ? "| " : "  ";

        fprintf(f, "%.*s%s{\n", (int) plen, prefix, bar);
        for (size_t i = 0; i < rk_dict_size(props); i++) {
                fprintf(f, "%.*s%s  ", (int) plen, prefix, bar);
                put_quoted(f, rk_dict_key_at(props, i));
                fputs(" = ", f);
                put_value(f, rk_dict_value_at(props, i), 0);
                fputc('\n', f);
        }
        fprintf(f, "%.*s%s}\n", (int) plen, prefix, bar);
        fprintf(f, "%.*s%s\n", (int) plen, prefix, bar);
}

/*
 * One service and its clients.  prefix[0..plen) is the drawing left of
 * "+-o"; its clients add "| " when this service has a later sibling (the
 * line to it runs past them), else "  ".
 */
static void text_node(FILE *f, const rk_value *n, unsigned flags, char *prefix, size_t plen, bool more_siblings) {
        const rk_value *children = rk_dict_get(n, "children"), *props = rk_dict_get(n, "properties");
        const char *failed = rk_dict_get_string(n, "failed");
        size_t nc = rk_array_size(children);
        uint64_t id = 0;

        (void) rk_dict_get_u64(n, "id", &id);
        fprintf(f, "%.*s+-o ", (int) plen, prefix);
        put_text(f, rk_dict_get_string(n, "name"));
        fputs("  <class ", f);
        put_text(f, rk_dict_get_string(n, "class"));
        fprintf(f, ", id 0x%" PRIx64 ", ", id);
        put_text(f, rk_dict_get_string(n, "state"));
        if (failed) {
                fputs(", failed: ", f);
                put_text(f, failed);
        }
        fputs(">\n", f);

        memcpy(prefix + plen, more_siblings ? "| " : "  ", 2);
        if (props && (flags & RK_REGISTRY_PRINT_PROPERTIES))
                text_properties(f, props, prefix, plen + 2, nc > 0);
        for (size_t i = 0; i < nc; i++)
                text_node(f, rk_array_get(children, i), flags, prefix, plen + 2, i + 1 < nc);
}

/* ---- printing: JSON ---- */

static void json_node(rk_json *j, const rk_value *n, unsigned flags) {
        const rk_value *children = rk_dict_get(n, "children"), *props = rk_dict_get(n, "properties");
        const rk_value *classes = rk_dict_get(n, "classes");
        uint64_t id = 0;

        (void) rk_dict_get_u64(n, "id", &id);
        rk_json_begin_object(j);
        rk_json_key(j, "id");
        rk_json_uint(j, id);
        rk_json_key(j, "name");
        rk_json_string(j, rk_dict_get_string(n, "name"));
        rk_json_key(j, "class");
        rk_json_string(j, rk_dict_get_string(n, "class"));
        rk_json_key(j, "classes");
        rk_json_begin_array(j);
        for (size_t i = 0; i < rk_array_size(classes); i++)
                rk_json_string(j, rk_string(rk_array_get(classes, i)));
        rk_json_end_array(j);
        rk_json_key(j, "state");
        rk_json_string(j, rk_dict_get_string(n, "state"));
        rk_json_key(j, "failed");
        rk_json_string(j, rk_dict_get_string(n, "failed")); /* null when absent */
        rk_json_key(j, "path");
        rk_json_string(j, rk_dict_get_string(n, "path"));
        if (props && (flags & RK_REGISTRY_PRINT_PROPERTIES)) {
                rk_json_key(j, "properties");
                rk_json_value(j, props);
        }
        rk_json_key(j, "children");
        rk_json_begin_array(j);
        for (size_t i = 0; i < rk_array_size(children); i++)
                json_node(j, rk_array_get(children, i), flags);
        rk_json_end_array(j);
        rk_json_end_object(j);
}

int rk_registry_print_value(const rk_value *tree, unsigned flags, FILE *f) {
        unsigned json_depth = 0;
        int r;

        if (!tree || !f)
                return -EINVAL;
        r = check_node(tree, 0, flags, &json_depth);
        if (r < 0)
                return r;
        if (flags & RK_REGISTRY_PRINT_JSON) {
                rk_json j;

                if (json_depth >= RK_JSON_MAX_DEPTH)
                        return -E2BIG;
                rk_json_init(&j, f);
                json_node(&j, tree, flags);
        } else {
                char prefix[2 * (RK_REGISTRY_MAX_DEPTH + 2)];
                text_node(f, tree, flags, prefix, 0, false);
        }
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}

int rk_registry_print(rk_registry *reg, rk_service *from, unsigned flags, FILE *f) {
        _cleanup_(rk_value_unrefp) rk_value *tree = NULL;
        int r;

        if (!reg || !f)
                return -EINVAL;
        r = rk_registry_to_value(reg, from, flags, &tree);
        if (r < 0)
                return r;
        return rk_registry_print_value(tree, flags, f);
}
