/* SPDX-License-Identifier: MIT */
/*
 * Kexts in ringd: which kexts load, and running their classes in-process.
 * The mechanics (ELF rules, loading the verified bytes, signed pointers,
 * sealing, the panic path) are src/rings/kext-load.c; docs/kexts.md is the
 * user's view.
 *
 * Each kext bundle in the catalogue has a record (struct kext) in one of
 * these states:
 *
 *     (new) --kext_load_all() / first match--> LOADED (module start ran, sealed)
 *     (new) --safe-mode flag present--> SAFE_MODE
 *     (new) --a dext or system extension provides the same function--> REPLACED
 *     (new) --signature, ELF rules, loading or module start failed--> REFUSED
 *     SAFE_MODE --`ringctl safe-mode clear`--> (new): loaded again
 *
 * Refusals are logged once with the reason and kept for `ringctl kexts`.
 * A kext's personalities stay in the catalogue; one that wins a provider
 * while its kext is not LOADED fails as a candidate, and the next one
 * (often the dext that replaced it) is tried.
 *
 * A kext instance is an ordinary `instance` (dext.c) with pid 0 and
 * i->kext set: probe and start run here, synchronously, through signed
 * pointers; it is RUNNING when start returns.  Its stop runs when
 * instance_kill() ends it.  A fault inside kext code is a panic: ringd
 * stops, and the flag in the state directory puts the next start in safe
 * mode (rk_kext_panic_setup()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringd/ringd.h"
#include "rings/kext-load.h"
#include "rings/sandbox.h"
#include "shared/macro.h"
#include "trust/codedir.h"
#include "trust/sign.h"

#define REPLACES_KEY "RKReplacesKexts"

typedef enum kext_status {
        K_NEW,
        K_LOADED,
        K_REFUSED,
        K_REPLACED,
        K_SAFE_MODE,
} kext_state_t;

static const char *const status_names[] = {
        [K_NEW] = "not loaded", [K_LOADED] = "loaded", [K_REFUSED] = "refused",
        [K_REPLACED] = "replaced", [K_SAFE_MODE] = "safe-mode",
};

struct rk_kext_service {
        ringd *d;
        uint64_t id;            /* registry id */
        struct kinst *ki;       /* the instance it belongs to, for logs and timers */
};

typedef struct kext {
        ringd *d;
        char *id, *path;
        kext_state_t status;
        char *reason;           /* refusal, or what replaced it */
        char *replaced_by;
        char *relaxed;          /* developer-mode relaxations applied */
        rk_kext_image *img;
        unsigned instances;
        struct kext *next;
} kext;

typedef struct ktimer {
        struct kinst *ki;
        const rk_kext_fn *slot; /* in the kext's memory: authenticated when it fires */
        void *ctx;
        rk_source *src;
        struct ktimer *next;
} ktimer;

typedef struct kinst {
        kext *k;
        instance *i;
        const rk_kext_class_rec *cls;
        void *state;
        char what[RK_KEXT_NAME_MAX + 16];
        struct rk_kext_service self, provider;
        ktimer *timers;
        uint64_t *pending;      /* nubs published during start, matched after it */
        size_t n_pending;
        bool starting, started;
} kinst;

struct kext_state {
        kext *kexts;
        bool safe_mode;
        char *safe_reason;
        char *flag_path, *panic_path;
        bool host_ready;
};

static rk_kext_host host_table;

static bool developer_mode(ringd *d) {
        return d->extdb && rk_extdb_get_developer_mode(d->extdb) > 0;
}

static kext *kext_find(ringd *d, const char *id) {
        for (kext *k = d->kext ? d->kext->kexts : NULL; k; k = k->next)
                if (streq(k->id, id))
                        return k;
        return NULL;
}

static kext *kext_get(ringd *d, rk_bundle *b) {
        kext *k = kext_find(d, rk_bundle_name(b));

        if (k)
                return k;
        k = calloc(1, sizeof(*k));
        if (!k || !(k->id = strdup(rk_bundle_name(b))) || !(k->path = strdup(b->path))) {
                if (k)
                        free(k->id);
                free(k);
                return NULL;
        }
        k->d = d;
        k->next = d->kext->kexts;
        d->kext->kexts = k;
        return k;
}

_printf_(3, 4) static void refuse(kext *k, kext_state_t st, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        free(k->reason);
        k->reason = s;
        k->status = st;
        log_error(k->d, "kext %s: not loaded: %s", k->id, s ? s : "?");
}

/* ---- precedence ---- */

/* The keys that decide which providers a personality matches (matching.md, matching-families.md). */
static const char *const match_keys[] = {
        "IONameMatch", "IOPropertyMatch", "IOPropertyExistsMatch", "IOPathMatch", "IOLocationMatch",
        "IORegistryEntryID", "IOParentMatch", "IOResourceMatch", "RKModaliasMatch",
        "idVendor", "idProduct", "idProductArray", "bcdDevice", "bcdDeviceLow", "bcdDeviceHigh",
        "bDeviceClass", "bDeviceSubClass", "bDeviceProtocol", "bInterfaceClass", "bInterfaceSubClass",
        "bInterfaceProtocol", "bInterfaceNumber", "bConfigurationValue",
        "IOPCIMatch", "IOPCIPrimaryMatch", "IOPCISecondaryMatch", "IOPCIClassMatch",
        "PrimaryUsagePage", "PrimaryUsage", "DeviceUsagePairs", "Transport", "VendorID", "ProductID",
};

static const char *category_of(const rk_value *p) {
        const char *c = rk_dict_get_string(p, "IOMatchCategory");
        return c ? c : "IODefaultMatchCategory";
}

static bool same_function(const rk_value *a, const rk_value *b) {
        const char *pa = rk_dict_get_string(a, "IOProviderClass"), *pb = rk_dict_get_string(b, "IOProviderClass");

        if (!pa || !pb || !streq(pa, pb) || !streq(category_of(a), category_of(b)))
                return false;
        for (size_t k = 0; k < ELEMENTSOF(match_keys); k++) {
                const rk_value *va = rk_dict_get(a, match_keys[k]), *vb = rk_dict_get(b, match_keys[k]);
                if (!va != !vb || (va && !rk_value_equal(va, vb)))
                        return false;
        }
        return true;
}

/* Which installed dext or system extension provides this kext's function: 1 with *by and *how, or 0. */
static int replaced(ringd *d, rk_bundle *kb, const char **by, char **how) {
        for (size_t n = 0; n < d->n_bundles; n++) {
                rk_bundle *b = d->bundles[n];
                const rk_value *rep;

                if (b->kind != RK_BUNDLE_DEXT && b->kind != RK_BUNDLE_SYSEXT)
                        continue;
                rep = rk_dict_get(b->info, REPLACES_KEY);
                for (size_t j = 0; j < rk_array_size(rep); j++)
                        if (rk_string(rk_array_get(rep, j)) && streq(rk_string(rk_array_get(rep, j)), rk_bundle_name(kb))) {
                                *by = rk_bundle_name(b);
                                return asprintf(how, "replaced by %s %s, which declares it in %s", rk_bundle_kind_name(b->kind),
                                                *by, REPLACES_KEY) < 0 ? -ENOMEM : 1;
                        }
                for (size_t i = 0; i < rk_dict_size(kb->personalities); i++) {
                        const rk_value *kp = rk_dict_value_at(kb->personalities, i);
                        for (size_t j = 0; j < rk_dict_size(b->personalities); j++) {
                                const rk_value *bp = rk_dict_value_at(b->personalities, j);
                                if (!same_function(kp, bp))
                                        continue;
                                *by = rk_bundle_name(b);
                                return asprintf(how, "replaced by %s %s: its personality %s matches the same providers "
                                                "as %s (IOProviderClass %s, IOMatchCategory %s)",
                                                rk_bundle_kind_name(b->kind), *by, rk_dict_key_at(b->personalities, j),
                                                rk_dict_key_at(kb->personalities, i),
                                                rk_dict_get_string(kp, "IOProviderClass"), category_of(kp)) < 0
                                               ? -ENOMEM
                                               : 1;
                        }
                }
        }
        return 0;
}

/* ---- loading ---- */

static int kext_verified_fd(kext *k, rk_bundle *b, int *ret_fd) {
        ringd *d = k->d;
        _cleanup_(rk_signing_info_freep) rk_signing_info *si = NULL;
        uint8_t sha[RK_SHA256_LEN];
        const uint8_t *expected = NULL;
        rk_diag dg;
        int r;

        rk_diag_init(&dg);
        r = rk_verify_bundle(b->path, d->trust_dir, NULL, 0, &si, &dg);
        if (r < 0) {
                _cleanup_(freep) char *first = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&first, &len);
                if (f) {
                        rk_diag_print(&dg, f);
                        fclose(f);
                        if (first && strchr(first, '\n'))
                                *strchr(first, '\n') = 0;
                }
                rk_diag_done(&dg);
                if (!developer_mode(d)) {
                        refuse(k, K_REFUSED, "%s", r == -ENOENT ? "the bundle is not signed (sign it, or turn developer mode on)"
                                                                : first ? first : "its signature does not verify");
                        return -ENOKEY;
                }
                {
                        char *what = NULL;
                        if (asprintf(&what, "loaded kext %s", r == -ENOENT ? "unsigned" : "whose signature does not verify") >= 0) {
                                activation_relax(d, k->id, what);
                                free(k->relaxed);
                                k->relaxed = what;
                        }
                }
        } else {
                const char *rel = b->executable_path + strlen(b->path);
                const rk_codedir_entry *e;
                rk_diag_done(&dg);
                while (*rel == '/')
                        rel++;
                e = si && si->codedir ? rk_codedir_find(si->codedir, rel) : NULL;
                if (!e) {
                        refuse(k, K_REFUSED, "%s is not in the bundle's code directory", rel);
                        return -EBADMSG;
                }
                expected = e->hash;
        }
        if (!expected) {
                r = rk_codedir_hash_file(AT_FDCWD, b->executable_path, sha);
                if (r < 0) {
                        refuse(k, K_REFUSED, "%s: %s", b->executable_path, strerror(-r));
                        return r;
                }
                expected = sha;
        }
        rk_diag_init(&dg);
        r = rk_verified_exec_prepare(b->executable_path, expected, ret_fd, &dg);
        if (r < 0)
                refuse(k, K_REFUSED, "%s: %s", b->executable_path,
                       r == -EBADMSG ? "changed on disk after it was signed" : strerror(-r));
        rk_diag_done(&dg);
        return r;
}

static int host_register_class(rk_kext *rk, const rk_kext_class *cls) {
        kext *k = (kext *) rk;
        return k && k->img ? rk_kext_image_add_class(k->img, cls) : -EINVAL;
}

/* Load, start and seal one kext; 0 when LOADED. */
static int kext_load(ringd *d, rk_bundle *b) {
        kext *k = kext_get(d, b);
        _cleanup_(closep) int fd = -EBADF;
        char why[512] = "";
        const char *by = NULL;
        _cleanup_(freep) char *how = NULL;
        bool relaxed = false;
        rk_kext_frame f;
        int (*start)(rk_kext *, const rk_kext_host *);
        int r;

        if (!k)
                return -ENOMEM;
        if (k->status == K_LOADED)
                return 0;
        if (k->status != K_NEW)
                return -EPERM;
        if (!b->executable_path) {
                refuse(k, K_REFUSED, "a codeless kext has nothing to load (its personalities need a kext with code)");
                return -ENOEXEC;
        }
        if (d->kext->safe_mode) {
                refuse(k, K_SAFE_MODE, "safe mode (%s); clear with `ringctl safe-mode clear`",
                       d->kext->safe_reason ? d->kext->safe_reason : "a kext panicked");
                return -EPERM;
        }
        r = replaced(d, b, &by, &how);
        if (r < 0)
                return r;
        if (r > 0) {
                free(k->replaced_by);
                k->replaced_by = strdup(by);
                refuse(k, K_REPLACED, "%s", how);
                return -EEXIST;
        }
        r = kext_verified_fd(k, b, &fd);
        if (r < 0)
                return r;
        r = rk_kext_image_load(fd, k->id, developer_mode(d), &k->img, why, sizeof(why), &relaxed);
        if (r < 0) {
                refuse(k, K_REFUSED, "%s: %s", b->executable_path, why);
                return r;
        }
        if (relaxed) {
                char *what = NULL;
                if (asprintf(&what, "loaded kext %s", why) >= 0) {
                        activation_relax(d, k->id, what);
                        free(k->relaxed);
                        k->relaxed = what;
                }
        }
        r = rk_kext_fault_handlers_install(); /* from the first kext on, a fault in kext code is a panic */
        if (r < 0) {
                rk_kext_image_free(k->img);
                k->img = NULL;
                refuse(k, K_REFUSED, "no fault handlers: %s", strerror(-r));
                return r;
        }
        start = (int (*)(rk_kext *, const rk_kext_host *)) rk_kpac_auth(&k->img->table->mod_start, k->id, "module start");
        rk_kext_enter(&f, k->id, "module start");
        r = start((rk_kext *) k, &host_table);
        rk_kext_leave(&f);
        if (r < 0) {
                rk_kext_image_free(k->img);
                k->img = NULL;
                refuse(k, K_REFUSED, "its module start failed: %s", strerror(-r));
                return r;
        }
        r = rk_kext_image_seal(k->img);
        if (r < 0)
                log_warning(d, "kext %s: sealing: %s", k->id, strerror(-r));
        k->status = K_LOADED;
        free(k->reason);
        k->reason = NULL;
        log_notice(d, "kext %s: loaded from %s (%u classes), %s", k->id, b->executable_path, k->img->table->n,
                   k->img->used_mseal ? "code, read-only data and class table sealed (mseal)"
                                      : "code, read-only data and class table read-only (no mseal: not sealed)");
        return 0;
}

void kext_load_all(ringd *d) {
        if (!d->kext)
                return;
        for (size_t n = 0; n < d->n_bundles; n++)
                if (d->bundles[n]->kind == RK_BUNDLE_KEXT)
                        (void) kext_load(d, d->bundles[n]);
}

bool kext_bundle(ringd *d, const char *bundle_id) {
        rk_bundle *b = catalogue_find_bundle(d, bundle_id);
        return b && b->kind == RK_BUNDLE_KEXT;
}

/* ---- the host table ---- */

static const char *svc_name(rk_kext_service *s) {
        rk_service *svc = s ? rk_registry_find(s->d->reg, s->id) : NULL;
        return svc ? rk_service_get_name(svc) : NULL;
}

static uint64_t svc_id(rk_kext_service *s) {
        return s ? s->id : 0;
}

static const char *svc_property(rk_kext_service *s, const char *key) {
        rk_service *svc = s && key ? rk_registry_find(s->d->reg, s->id) : NULL;
        return svc ? rk_dict_get_string(rk_service_get_properties(svc), key) : NULL;
}

static int svc_set_property(rk_kext_service *s, const char *key, const char *value) {
        rk_service *svc = s && key && value ? rk_registry_find(s->d->reg, s->id) : NULL;
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r;

        if (!svc)
                return -EINVAL;
        if ((r = rk_value_new_string(value, &v)) < 0)
                return r;
        return rk_service_set_property(svc, key, v);
}

static void host_log(rk_kext_service *s, int level, const char *msg) {
        if (s && s->ki)
                rd_log(s->d, level < 3 ? 3 : level > 7 ? 7 : level, "%s: %s", s->ki->i->tag, msg ? msg : "");
}

static void host_kext_log(rk_kext *rk, int level, const char *msg) {
        kext *k = (kext *) rk;
        if (k)
                rd_log(k->d, level < 3 ? 3 : level > 7 ? 7 : level, "kext %s: %s", k->id, msg ? msg : "");
}

static int host_publish(rk_kext_service *parent, const char *cls, const char *name, const char *const *props,
                        uint64_t *ret_id) {
        _cleanup_(rk_value_unrefp) rk_value *dict = NULL;
        const char *chain[2];
        nub *p, *n = NULL;
        kinst *ki;
        int r;

        if (!parent || !parent->ki || !cls || !*cls || !name)
                return -EINVAL;
        ki = parent->ki;
        p = nub_find(parent->d, parent->id);
        if (!p)
                return -EINVAL;
        if ((r = rk_value_new_dict(&dict)) < 0)
                return r;
        for (size_t k = 0; props && props[k]; k += 2) {
                if (!props[k + 1])
                        return -EINVAL;
                if ((r = rk_dict_set_string(dict, props[k], props[k + 1])) < 0)
                        return r;
        }
        chain[0] = cls;
        chain[1] = "IOService";
        r = nub_publish(parent->d, p, NUB_PUBLISHED, chain, streq(cls, "IOService") ? 1 : 2, name, dict, -EBADF, &n);
        if (r < 0)
                return r;
        n->owner = ki->i;
        if (ret_id)
                *ret_id = rk_service_get_id(n->svc);
        log_info(parent->d, "%s: published %s '%s' (0x%llx)", ki->i->tag, cls, name,
                 (unsigned long long) rk_service_get_id(n->svc));
        if (ki->starting) {
                uint64_t *x = realloc(ki->pending, (ki->n_pending + 1) * sizeof(*x));
                if (!x)
                        return -ENOMEM;
                ki->pending = x;
                ki->pending[ki->n_pending++] = rk_service_get_id(n->svc);
        } else
                nub_match(n);
        return 0;
}

static int host_sign(rk_kext *rk, rk_kext_fn *slot, void (*fn)(void *ctx)) {
        if (!rk || !slot || !fn)
                return -EINVAL;
        slot->fn = fn;
        slot->mac = rk_kpac_mac((uintptr_t) fn, slot);
        return 0;
}

static void timer_unlink(ktimer *t) {
        for (ktimer **pp = &t->ki->timers; *pp; pp = &(*pp)->next)
                if (*pp == t) {
                        *pp = t->next;
                        break;
                }
        rk_source_unref(t->src);
        free(t);
}

static int on_ktimer(rk_source *s, uint64_t usec, void *ud) {
        ktimer *t = ud;
        kinst *ki = t->ki;
        const rk_kext_fn *slot = t->slot;
        void *ctx = t->ctx;
        char what[RK_KEXT_NAME_MAX + 64];
        rk_kext_frame f;

        snprintf(what, sizeof(what), "timer callback slot %p of %s", (const void *) slot, ki->cls->name);
        timer_unlink(t);
        /* the slot is the kext's memory: authenticate the pointer against its key and address */
        if (rk_kpac_mac((uintptr_t) slot->fn, slot) != slot->mac)
                rk_kext_panic(ki->k->id, what,
                              "pointer authentication failed (a forged or moved function pointer)");
        rk_kext_enter(&f, ki->k->id, what);
        slot->fn(ctx);
        rk_kext_leave(&f);
        return 0;
}

static int host_timer(rk_kext_service *s, const rk_kext_fn *slot, void *ctx, uint64_t usec) {
        ktimer *t;
        int r;

        if (!s || !s->ki || !slot)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        *t = (ktimer){ .ki = s->ki, .slot = slot, .ctx = ctx };
        r = rk_loop_add_time(s->d->loop, &t->src, rk_now() + usec, on_ktimer, t);
        if (r < 0) {
                free(t);
                return r;
        }
        rk_source_set_enabled(t->src, RK_SOURCE_ONESHOT);
        t->next = s->ki->timers;
        s->ki->timers = t;
        return 0;
}

static rk_kext_host host_table = {
        .abi_version = RK_KEXT_ABI_VERSION,
        .size = sizeof(rk_kext_host),
        .register_class = host_register_class,
        .log = host_log,
        .kext_log = host_kext_log,
        .service_name = svc_name,
        .service_id = svc_id,
        .service_property = svc_property,
        .set_property = svc_set_property,
        .publish = host_publish,
        .sign = host_sign,
        .timer = host_timer,
};

/* ---- instances ---- */

int kext_instance_start(instance *i) {
        ringd *d = i->d;
        rk_bundle *b = catalogue_find_bundle(d, i->bundle);
        kext *k;
        kinst *ki;
        rk_kext_frame f;
        int64_t score = i->score;
        int r;

        if (!b)
                return -ENOENT;
        r = kext_load(d, b);
        k = kext_find(d, i->bundle);
        if (r < 0 || !k || k->status != K_LOADED) {
                log_notice(d, "%s: kext %s is not loaded (%s); next candidate", i->tag, i->bundle,
                           k && k->reason ? k->reason : strerror(-r));
                return r < 0 ? r : -ENOEXEC;
        }
        ki = calloc(1, sizeof(*ki));
        if (!ki)
                return -ENOMEM;
        ki->k = k;
        ki->i = i;
        ki->cls = rk_kext_image_class(k->img, i->class_name);
        if (!ki->cls) {
                log_error(d, "%s: kext %s registered no class %s (personality %s)", i->tag, k->id, i->class_name,
                          i->personality);
                free(ki);
                return -ENOENT;
        }
        ki->self = (struct rk_kext_service){ d, rk_service_get_id(i->service->svc), ki };
        ki->provider = (struct rk_kext_service){ d, rk_service_get_id(i->provider->svc), ki };
        i->kext = ki;
        i->state = I_PROBE;
        if (ki->cls->probe.ptr) {
                int (*probe)(rk_kext_service *, int64_t *) = (int (*)(rk_kext_service *, int64_t *)) rk_kpac_auth(
                        &ki->cls->probe, k->id, "probe");
                snprintf(ki->what, sizeof(ki->what), "%s probe", ki->cls->name);
                rk_kext_enter(&f, k->id, ki->what);
                r = probe(&ki->provider, &score);
                rk_kext_leave(&f);
                if (r < 0) {
                        if (r == -ENODEV || r == -ENXIO)
                                log_debug(d, "%s: declined in probe", i->tag);
                        else
                                log_warning(d, "%s: probe failed: %s", i->tag, strerror(-r));
                        kext_instance_stop(i);
                        return r;
                }
                i->score = score;
        }
        i->state = I_START;
        {
                int (*start)(rk_kext_service *, rk_kext_service *, void **) =
                        (int (*)(rk_kext_service *, rk_kext_service *, void **)) rk_kpac_auth(&ki->cls->start, k->id,
                                                                                              "start");
                snprintf(ki->what, sizeof(ki->what), "%s start", ki->cls->name);
                ki->starting = true;
                rk_kext_enter(&f, k->id, ki->what);
                r = start(&ki->provider, &ki->self, &ki->state);
                rk_kext_leave(&f);
                ki->starting = false;
        }
        if (r < 0) {
                log_warning(d, "%s: start failed: %s", i->tag, strerror(-r));
                kext_instance_stop(i);
                return r;
        }
        ki->started = true;
        k->instances++;
        i->state = I_RUNNING;
        log_info(d, "%s: started in-process on %s (kext %s, class %s, score %lld)", i->tag,
                 rk_service_get_name(i->provider->svc), k->id, ki->cls->name, (long long) i->score);
        nub_instance_started(i);
        for (size_t n = 0; n < ki->n_pending; n++) {
                nub *x = nub_find(d, ki->pending[n]);
                if (x)
                        nub_match(x);
        }
        free(ki->pending);
        ki->pending = NULL;
        ki->n_pending = 0;
        return 0;
}

void kext_instance_stop(instance *i) {
        kinst *ki = i->kext;
        rk_kext_frame f;

        if (!ki)
                return;
        i->kext = NULL;
        while (ki->timers)
                timer_unlink(ki->timers);
        if (ki->started && ki->cls->stop.ptr) {
                void (*stop)(rk_kext_service *, void *) =
                        (void (*)(rk_kext_service *, void *)) rk_kpac_auth(&ki->cls->stop, ki->k->id, "stop");
                snprintf(ki->what, sizeof(ki->what), "%s stop", ki->cls->name);
                rk_kext_enter(&f, ki->k->id, ki->what);
                stop(&ki->self, ki->state);
                rk_kext_leave(&f);
                log_info(i->d, "%s: stopped in-process", i->tag);
        }
        if (ki->started && ki->k->instances)
                ki->k->instances--;
        free(ki->pending);
        free(ki);
}

int kext_instance_call(instance *i, uint64_t selector, uint64_t arg, uint64_t *result) {
        kinst *ki = i ? i->kext : NULL;
        int (*call)(void *, uint64_t, uint64_t, uint64_t *);
        rk_kext_frame f;
        int r;

        if (!ki || !ki->started)
                return -ENODEV;
        if (!ki->cls->call.ptr)
                return -EOPNOTSUPP;
        call = (int (*)(void *, uint64_t, uint64_t, uint64_t *)) rk_kpac_auth(&ki->cls->call, ki->k->id, "call");
        snprintf(ki->what, sizeof(ki->what), "%s call", ki->cls->name);
        rk_kext_enter(&f, ki->k->id, ki->what);
        r = call(ki->state, selector, arg, result);
        rk_kext_leave(&f);
        return r;
}

/* ---- life ---- */

static char *read_flag(const char *path) {
        char buf[1024];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                n = 0;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        return strdup(n ? buf : "a kext panicked");
}

int kext_init(ringd *d) {
        struct kext_state *ks = calloc(1, sizeof(*ks));
        int r;

        if (!ks)
                return -ENOMEM;
        d->kext = ks;
        if (asprintf(&ks->flag_path, "%s/kext-safe-mode", d->state_dir) < 0 ||
            asprintf(&ks->panic_path, "%s/kext-panic.log", d->state_dir) < 0) {
                ks->flag_path = ks->panic_path = NULL;
                return -ENOMEM;
        }
        if ((r = rk_kpac_init()) < 0)
                return r;
        if ((r = rk_kext_panic_setup(ks->panic_path, ks->flag_path)) < 0)
                return r;
        ks->safe_reason = read_flag(ks->flag_path);
        if (ks->safe_reason) {
                ks->safe_mode = true;
                log_warning(d, "safe mode: the last run ended in a kext panic (%s); third-party kexts are not "
                               "loaded until an administrator runs `ringctl safe-mode clear`",
                            ks->safe_reason);
        }
        return 0;
}

void kext_done(ringd *d) {
        struct kext_state *ks = d->kext;

        if (!ks)
                return;
        while (ks->kexts) {
                kext *k = ks->kexts;
                ks->kexts = k->next;
                if (k->img && k->status == K_LOADED && k->img->table->mod_stop.ptr) {
                        void (*stop)(rk_kext *) = (void (*)(rk_kext *)) rk_kpac_auth(&k->img->table->mod_stop, k->id,
                                                                                    "module stop");
                        rk_kext_frame f;
                        rk_kext_enter(&f, k->id, "module stop");
                        stop((rk_kext *) k);
                        rk_kext_leave(&f);
                }
                rk_kext_image_free(k->img); /* a sealed image stays mapped */
                free(k->id);
                free(k->path);
                free(k->reason);
                free(k->replaced_by);
                free(k->relaxed);
                free(k);
        }
        free(ks->flag_path);
        free(ks->panic_path);
        free(ks->safe_reason);
        free(ks);
        d->kext = NULL;
}

/* ---- ringctl ---- */

static int kext_value(kext *k, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *e = NULL;
        int r;

        if ((r = rk_value_new_dict(&e)) < 0 || (r = rk_dict_set_string(e, "bundle", k->id)) < 0 ||
            (r = rk_dict_set_string(e, "path", k->path)) < 0 ||
            (r = rk_dict_set_string(e, "status", status_names[k->status])) < 0 ||
            (k->reason && (r = rk_dict_set_string(e, "reason", k->reason)) < 0) ||
            (k->replaced_by && (r = rk_dict_set_string(e, "replaced_by", k->replaced_by)) < 0) ||
            (k->relaxed && (r = rk_dict_set_string(e, "relaxed", k->relaxed)) < 0) ||
            (r = rk_dict_set_integer(e, "instances", k->instances, false)) < 0)
                return r;
        if (k->img && k->status == K_LOADED) {
                _cleanup_(rk_value_unrefp) rk_value *cls = NULL;
                if ((r = rk_value_new_array(&cls)) < 0)
                        return r;
                for (uint32_t n = 0; n < k->img->table->n; n++) {
                        _cleanup_(rk_value_unrefp) rk_value *s = NULL;
                        if ((r = rk_value_new_string(k->img->table->classes[n].name, &s)) < 0 ||
                            (r = rk_array_append(cls, s)) < 0)
                                return r;
                }
                if ((r = rk_dict_set(e, "classes", cls)) < 0 ||
                    (r = rk_dict_set_string(e, "sealed", k->img->used_mseal ? "mseal" : "mprotect")) < 0)
                        return r;
        }
        *ret = TAKE_PTR(e);
        return 0;
}

static int safe_mode_values(ringd *d, rk_value *m) {
        int r = rk_dict_set_bool(m, "kext_safe_mode", d->kext && d->kext->safe_mode);
        if (r >= 0 && d->kext && d->kext->safe_mode)
                r = rk_dict_set_string(m, "kext_safe_mode_reason", d->kext->safe_reason ? d->kext->safe_reason : "?");
        return r;
}

void kext_cmd_list(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply(), *arr = NULL;

        if (!m || rk_value_new_array(&arr) < 0)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        /* every kext bundle of the catalogue, loaded or not */
        for (size_t n = 0; n < d->n_bundles; n++) {
                rk_bundle *b = d->bundles[n];
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                kext *k;
                if (b->kind != RK_BUNDLE_KEXT)
                        continue;
                k = kext_get(d, b);
                if (!k || kext_value(k, &e) < 0 || rk_array_append(arr, e) < 0)
                        return control_reply_error(c, peer, -ENOMEM, NULL);
        }
        if (rk_dict_set(m, "kexts", arr) < 0 || safe_mode_values(d, m) < 0)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        control_reply_fd(c, peer, m, -EBADF);
}

void kext_cmd_safe_mode(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        const char *action = rk_dict_get_string(req, "action");
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply();

        if (!m || !d->kext)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        if (action && streq(action, "clear")) {
                if (unlink(d->kext->flag_path) < 0 && errno != ENOENT)
                        return control_reply_error(c, peer, -errno, "cannot remove the safe-mode flag");
                if (d->kext->safe_mode) {
                        log_notice(d, "safe mode cleared by an administrator: loading kexts");
                        d->kext->safe_mode = false;
                        d->kext->safe_reason = mfree(d->kext->safe_reason);
                        for (kext *k = d->kext->kexts; k; k = k->next)
                                if (k->status == K_SAFE_MODE) {
                                        k->status = K_NEW;
                                        k->reason = mfree(k->reason);
                                }
                        kext_load_all(d);
                        nub_rematch_all(d);
                }
        } else if (action && !streq(action, "show"))
                return control_reply_error(c, peer, -EINVAL, "safe-mode: action must be 'clear' or 'show'");
        if (safe_mode_values(d, m) < 0)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        control_reply_fd(c, peer, m, -EBADF);
}

/* kext-call {service, selector, arg}: a method of the in-process driver of a service (tests, ringctl) */
void kext_cmd_call(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply();
        uint64_t svc = 0, sel = 0, arg = 0, res = 0;
        instance *target = NULL;
        int r;

        if (!m)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        if (!rk_dict_get_u64(req, "service", &svc))
                return control_reply_error(c, peer, -EINVAL, "kext-call: 'service' (a registry id) is required");
        (void) rk_dict_get_u64(req, "selector", &sel);
        (void) rk_dict_get_u64(req, "arg", &arg);
        for (instance *i = d->instances; i; i = i->next_all)
                if (i->kext && i->service && rk_service_get_id(i->service->svc) == svc)
                        target = i;
        if (!target)
                return control_reply_error(c, peer, -ENOENT, "no kext driver with that service id");
        r = kext_instance_call(target, sel, arg, &res);
        if (r < 0)
                return control_reply_error(c, peer, r, NULL);
        (void) rk_dict_set_integer(m, "result", res, false);
        control_reply_fd(c, peer, m, -EBADF);
}

int kext_status(ringd *d, rk_value *m) {
        unsigned loaded = 0, refused = 0;

        for (kext *k = d->kext ? d->kext->kexts : NULL; k; k = k->next) {
                loaded += k->status == K_LOADED;
                refused += k->status != K_LOADED && k->status != K_NEW;
        }
        (void) rk_dict_set_integer(m, "kexts_loaded", loaded, false);
        (void) rk_dict_set_integer(m, "kexts_not_loaded", refused, false);
        return safe_mode_values(d, m);
}
