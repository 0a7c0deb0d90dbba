/* SPDX-License-Identifier: MIT */
/*
 * The registry: IOKit's IORegistry service plane as a tree of services that
 * ringd keeps.  Each service has a 64-bit registry ID (never reused in a
 * registry's life), a class chain (most derived first), a name, a property
 * table (an rk_value dictionary), one provider and an ordered list of
 * clients, and a state.  The root ("Root", class IORegistryEntry) and
 * IOResources (its first client; its properties are the published
 * resources) exist from rk_registry_new() to rk_registry_free().
 *
 * States (drawn, with the function behind each transition, in registry.c):
 *
 *     registered ──► matched ──► started            any ──► terminated
 *          └────────────────────────┘
 *
 * A nub goes registered → matched when matching has run on it; a driver
 * service goes registered → started when its start returned.  Termination
 * takes a whole subtree, clients before providers.
 *
 * Ownership: services are reference counted.  Being attached to the tree
 * holds one reference, so a pointer from rk_registry_find() or an iterator
 * is borrowed and valid until the service is terminated; take a reference
 * (rk_service_ref) to keep it past that.  A terminated service stays
 * readable (ID, name, classes, properties, userdata, failed reason) with no
 * provider and no clients until its last reference goes; it outlives the
 * registry if need be.
 *
 * Paths: "[IOService:]/Root/Comp/Comp...", each component "Name" or
 * "Name@<hex id>" (the @id form tells same-named siblings apart; a bare name
 * that two siblings share is -ENOTUNIQ).  '%', '/' and '@' inside a name are
 * written %25, %2F and %40.  "/" alone is the root.
 *
 * Calls returning int give 0 (or a count) or a negative errno, listed per
 * call; each returns -EINVAL for a NULL object or a bad argument.  Getters
 * given NULL return NULL, 0 or false.  Nothing here logs; only the printers
 * write, to the FILE they are given.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "match/match.h"
#include "value/value.h"

typedef struct rk_registry rk_registry;
typedef struct rk_service rk_service;

typedef enum rk_service_state {
        RK_SERVICE_REGISTERED,
        RK_SERVICE_MATCHED,
        RK_SERVICE_STARTED,
        RK_SERVICE_TERMINATED,
        _RK_SERVICE_STATE_MAX,
} rk_service_state;

#define RK_REGISTRY_ROOT_ID UINT64_C(0x100000100) /* IDs count up from here */
#define RK_REGISTRY_MAX_DEPTH 64                  /* services below the root */
#define RK_REGISTRY_MAX_CLASSES 64                /* length of a class chain */

/* "registered", "matched", "started", "terminated"; NULL when out of range. */
const char *rk_service_state_to_string(rk_service_state s);

/* ---- the registry ---- */

/*
 * A registry holding Root (ID RK_REGISTRY_ROOT_ID) and IOResources under it,
 * both registered; IOResources starts with "IOKit" = "IOService", the
 * resource IOKit itself publishes.  Errors: -EINVAL, -ENOMEM.
 */
int rk_registry_new(rk_registry **ret);

/*
 * Detach every service (no callbacks: terminate what needs stopping first)
 * and free the registry.  Services still referenced survive, terminated.
 * Returns NULL.
 */
rk_registry *rk_registry_free(rk_registry *reg);
/*
 * Called after every change a matcher could see: a service published or
 * terminated, a state or property set or removed.  One handler; NULL
 * removes it.  It must not change the registry itself.
 */
void rk_registry_set_change_handler(rk_registry *reg, void (*fn)(rk_registry *reg, void *ud), void *ud);
static inline void rk_registry_freep(rk_registry **reg) {
        if (*reg)
                rk_registry_free(*reg);
}

rk_service *rk_registry_root(rk_registry *reg);      /* borrowed; NULL for NULL */
rk_service *rk_registry_resources(rk_registry *reg); /* borrowed; NULL for NULL */
size_t rk_registry_size(rk_registry *reg);           /* services attached, Root included */

/*
 * Publish a service as a client of `provider`, after its existing clients,
 * in state registered, with the next ID.  `classes` is the class chain,
 * most derived first, copied.  `name` is copied; NULL means the most derived
 * class.  `properties` is a dictionary whose reference the service takes
 * (the caller keeps its own); the caller must not change it afterwards, and
 * the service copies it before its first change, so one dictionary may be
 * shared by many services.  NULL means an empty table.  *ret (may be NULL)
 * is borrowed, like any attached service.
 * Errors: -EINVAL (provider terminated or being terminated, no classes, an
 * empty class or name, more than RK_REGISTRY_MAX_CLASSES classes,
 * properties not a dictionary), -ELOOP (the new service would be more than
 * RK_REGISTRY_MAX_DEPTH levels below the root), -ENOMEM.
 */
int rk_registry_publish(rk_registry *reg, rk_service *provider, const char *const *classes, size_t n_classes,
                        const char *name, rk_value *properties, rk_service **ret);

/* The attached service with this ID, borrowed, or NULL.  O(1). */
rk_service *rk_registry_find(rk_registry *reg, uint64_t id);

/*
 * Resolve a path (syntax above) to a borrowed service.
 * Errors: -EINVAL (syntax), -ENOENT (no such service), -ENOTUNIQ (a bare
 * name shared by siblings: use Name@id), -ENOMEM.
 */
int rk_registry_find_path(rk_registry *reg, const char *path, rk_service **ret);

/* ---- services ---- */

rk_service *rk_service_ref(rk_service *svc);
rk_service *rk_service_unref(rk_service *svc); /* returns NULL */
static inline void rk_service_unrefp(rk_service **svc) {
        if (*svc)
                rk_service_unref(*svc);
}

uint64_t rk_service_get_id(const rk_service *svc);          /* 0 for NULL */
const char *rk_service_get_name(const rk_service *svc);     /* NULL for NULL */
const char *rk_service_get_class(const rk_service *svc);    /* most derived; NULL for NULL */
const char *const *rk_service_get_classes(const rk_service *svc, size_t *n); /* n may be NULL */
bool rk_service_has_class(const rk_service *svc, const char *cls);
rk_service_state rk_service_get_state(const rk_service *svc); /* TERMINATED for NULL */
rk_service *rk_service_get_provider(const rk_service *svc);  /* borrowed; NULL at the root or terminated */
rk_registry *rk_service_get_registry(const rk_service *svc); /* NULL once terminated */

/*
 * Clients in attach order: first, then next (the following client of the
 * same provider).  Borrowed; do not publish or terminate while iterating
 * unless you hold a reference and restart.
 */
size_t rk_service_get_n_clients(const rk_service *svc);
rk_service *rk_service_first_client(const rk_service *svc);
rk_service *rk_service_next_sibling(const rk_service *svc);
#define RK_SERVICE_FOREACH_CLIENT(c, svc) \
        for (rk_service *c = rk_service_first_client(svc); c; c = rk_service_next_sibling(c))

/*
 * State transitions: registered → matched, registered → started,
 * matched → started.  Termination is rk_service_terminate() only.
 * Errors: -EINVAL (any other transition, including to the current state,
 * or a service being terminated).
 */
int rk_service_set_state(rk_service *svc, rk_service_state state);

/*
 * Terminate `svc` and every service below it.  At once the subtree leaves
 * the tree (rk_registry_find, paths and printing no longer see it) and
 * refuses publish, set_state and terminate.  Then `cb` (may be NULL) is
 * called once per service in the order drivers must be stopped: every
 * client before its provider, siblings in attach order, `svc` last.  While
 * cb runs the service still has its state from before (so cb knows whether
 * a driver was started) and its provider and clients; after cb returns it is
 * terminated.  Last the services are detached and each attach reference
 * dropped.  Returns the number of services terminated.
 * Errors: -EINVAL (already terminated or being terminated), -EPERM (Root or
 * IOResources, which only rk_registry_free() removes).
 */
int rk_service_terminate(rk_service *svc, void (*cb)(rk_service *svc, void *userdata), void *userdata);

/*
 * A failure the supervisor wants shown (a crash loop, a start that keeps
 * failing); the state does not change.  NULL clears it.
 * Errors: -EINVAL, -ENOMEM.
 */
int rk_service_set_failed(rk_service *svc, const char *reason);
const char *rk_service_get_failed(const rk_service *svc); /* NULL when not failed */

/*
 * Properties.  get_properties returns the table (borrowed, a dictionary),
 * valid until the next property change; get_property one value, borrowed,
 * or NULL.  set_property references `value`.  Both change calls keep the
 * match view current.
 * Errors: set: -EINVAL, -ENOMEM; remove: -EINVAL, -ENOENT, -ENOMEM.
 */
const rk_value *rk_service_get_properties(const rk_service *svc);
rk_value *rk_service_get_property(const rk_service *svc, const char *key);
int rk_service_set_property(rk_service *svc, const char *key, rk_value *value);
int rk_service_remove_property(rk_service *svc, const char *key);

/* ringd's per-service record; the registry never looks at it. */
void *rk_service_get_userdata(const rk_service *svc);
void rk_service_set_userdata(rk_service *svc, void *userdata);

/*
 * The path of an attached service (syntax above), malloc'd, with "@id"
 * on every component whose name a sibling shares.
 * Errors: -EINVAL (terminated or being terminated), -ENOMEM.
 */
int rk_service_get_path(const rk_service *svc, char **ret);

/*
 * The matching engine's view of the service, kept inside it: properties,
 * classes, name (the IOName property, else the service name), compatible
 * (IOCompatibleNames when an array), modalias (RKModalias when a string),
 * registry_id, and parent (the provider's view; NULL at the root or once
 * terminated).  Valid until the service changes or is freed.  NULL for NULL.
 */
const rk_match_provider *rk_service_match_provider(rk_service *svc);

/* ---- printing ---- */

#define RK_REGISTRY_PRINT_PROPERTIES (1u << 0) /* ioreg -l */
#define RK_REGISTRY_PRINT_JSON (1u << 1)

/*
 * The tree from `from` (NULL = Root) as a value, the form ringd sends to
 * ringctl: per service a dictionary with "id" (integer), "name", "class",
 * "classes" (array), "state", "failed" (only when failed), "path",
 * "properties" (only with RK_REGISTRY_PRINT_PROPERTIES; a snapshot) and
 * "children" (array, attach order).
 * Errors: -EINVAL (from not in this registry, or terminated), -ENOMEM.
 */
int rk_registry_to_value(rk_registry *reg, rk_service *from, unsigned flags, rk_value **ret);

/*
 * Print a tree in rk_registry_to_value() form: ioreg-style text, or with
 * RK_REGISTRY_PRINT_JSON one JSON object per service, nested through
 * "children" ("failed" is null when not failed).  Properties are shown when
 * the flag asks for them and the tree has them.
 * Errors: -EINVAL, -EBADMSG (not a tree of that form, or deeper than
 * RK_REGISTRY_MAX_DEPTH), -E2BIG (JSON only: services and property values
 * nest deeper than the JSON writer's RK_JSON_MAX_DEPTH; nothing is
 * written), -EIO (writing failed).
 */
int rk_registry_print_value(const rk_value *tree, unsigned flags, FILE *f);

/* rk_registry_to_value() then rk_registry_print_value(); their errors. */
int rk_registry_print(rk_registry *reg, rk_service *from, unsigned flags, FILE *f);
