/* SPDX-License-Identifier: MIT */
/*
 * The personality index (see index.h for what it promises).
 *
 * One open-addressing hash table maps binary keys to buckets of borrowed
 * personality pointers; `all` owns one reference per personality and keeps
 * insertion order.  Keys, with C the provider class:
 *
 *   "C" C            every personality of class C that has no finer
 *                    discriminator; the bucket's flags say which finer
 *                    buckets exist for C, so a lookup probes only those
 *   "U" C vendor     USB personalities of a USB nub class, by idVendor
 *   "P" C vendor     PCI personalities of IOPCIDevice, by the one vendor
 *                    every IOPCIMatch/IOPCIPrimaryMatch entry requires;
 *                    IOPCIMatch also matches the subsystem ids, so a
 *                    lookup visits the buckets of both vendor-id and
 *                    subsystem-vendor-id
 *   "N" C name       by each IONameMatch name
 *   "Q" C key hash   by the first key/value of each IOPropertyMatch dict
 *   "M" C prefix     by the literal prefix (at most MODALIAS_PREFIX_MAX
 *                    bytes) of each RKModaliasMatch pattern
 *
 * A personality sits in the buckets of ONE kind (the most selective it
 * has); alternatives of an OR (arrays) put it in several buckets of that
 * kind, and the lookup de-duplicates with a generation stamp.  Removal is
 * O(table size): it happens when a bundle goes, not per device.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match/family.h"
#include "match/glob.h"
#include "match/index.h"
#include "shared/macro.h"

#define MODALIAS_PREFIX_MAX 24
#define KEY_MAX 512

enum {
        F_USB = 1 << 0,
        F_PCI = 1 << 1,
        F_NAME = 1 << 2,
        F_PROP = 1 << 3,
        F_MODALIAS = 1 << 4,
};

typedef struct bucket {
        char *key; /* NULL: empty slot */
        size_t keylen;
        uint64_t hash;
        unsigned flags;       /* class buckets: which finer kinds exist */
        unsigned prefix_max;  /* class buckets: longest modalias prefix */
        rk_personality **items;
        size_t n, cap;
} bucket;

struct rk_match_index {
        bucket *table;
        size_t cap, used;
        rk_personality **all;
        size_t n_all, cap_all;
        uint32_t generation;
        uint64_t seq;
};

static uint64_t hash_bytes(const void *p, size_t n) {
        const uint8_t *b = p;
        uint64_t h = 14695981039346656037ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= 1099511628211ULL;
        }
        return h ^ (h >> 29);
}

int rk_match_index_new(rk_match_index **ret) {
        rk_match_index *idx;

        if (!ret)
                return -EINVAL;
        idx = calloc(1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        idx->cap = 64;
        idx->table = calloc(idx->cap, sizeof(bucket));
        if (!idx->table) {
                free(idx);
                return -ENOMEM;
        }
        *ret = idx;
        return 0;
}

rk_match_index *rk_match_index_free(rk_match_index *idx) {
        if (!idx)
                return NULL;
        for (size_t i = 0; i < idx->cap; i++) {
                free(idx->table[i].key);
                free(idx->table[i].items);
        }
        free(idx->table);
        for (size_t i = 0; i < idx->n_all; i++)
                rk_personality_unref(idx->all[i]);
        free(idx->all);
        free(idx);
        return NULL;
}

size_t rk_match_index_size(const rk_match_index *idx) {
        return idx ? idx->n_all : 0;
}

static bucket *find(const rk_match_index *idx, const char *key, size_t len, uint64_t h) {
        size_t mask = idx->cap - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
                bucket *b = &idx->table[i];
                if (!b->key)
                        return NULL;
                if (b->hash == h && b->keylen == len && memcmp(b->key, key, len) == 0)
                        return b;
        }
}

static int grow(rk_match_index *idx) {
        size_t cap = idx->cap * 2;
        bucket *t = calloc(cap, sizeof(bucket));

        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < idx->cap; i++) {
                bucket *b = &idx->table[i];
                if (!b->key)
                        continue;
                size_t j = b->hash & (cap - 1);
                while (t[j].key)
                        j = (j + 1) & (cap - 1);
                t[j] = *b;
        }
        free(idx->table);
        idx->table = t;
        idx->cap = cap;
        return 0;
}

static int get_bucket(rk_match_index *idx, const char *key, size_t len, bucket **ret) {
        uint64_t h = hash_bytes(key, len);
        bucket *b = find(idx, key, len, h);
        int r;

        if (b) {
                *ret = b;
                return 0;
        }
        if ((idx->used + 1) * 4 > idx->cap * 3) {
                r = grow(idx);
                if (r < 0)
                        return r;
        }
        size_t i = h & (idx->cap - 1);
        while (idx->table[i].key)
                i = (i + 1) & (idx->cap - 1);
        b = &idx->table[i];
        b->key = malloc(len);
        if (!b->key)
                return -ENOMEM;
        memcpy(b->key, key, len);
        b->keylen = len;
        b->hash = h;
        idx->used++;
        *ret = b;
        return 0;
}

static int bucket_push(bucket *b, rk_personality *p) {
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 2;
                rk_personality **items = realloc(b->items, cap * sizeof(*items));
                if (!items)
                        return -ENOMEM;
                b->items = items;
                b->cap = cap;
        }
        b->items[b->n++] = p;
        return 0;
}

/* key = kind, class, 0, payload */
static size_t make_key(char *buf, char kind, const char *cls, const void *payload, size_t n) {
        size_t cl = strlen(cls);

        if (2 + cl + n > KEY_MAX)
                return 0;
        buf[0] = kind;
        memcpy(buf + 1, cls, cl);
        buf[1 + cl] = 0;
        if (n)
                memcpy(buf + 2 + cl, payload, n);
        return 2 + cl + n;
}

static size_t prop_key(char *buf, const char *cls, const char *key, const rk_value *v) {
        char payload[KEY_MAX];
        size_t kl = strlen(key);
        uint64_t h = rk_value_hash(v);

        if (kl + 1 + sizeof(h) > sizeof(payload))
                return 0;
        memcpy(payload, key, kl);
        payload[kl] = 0;
        memcpy(payload + kl + 1, &h, sizeof(h));
        return make_key(buf, 'Q', cls, payload, kl + 1 + sizeof(h));
}

static bool is_usb_nub_class(const char *c) {
        return streq(c, "IOUSBHostDevice") || streq(c, "IOUSBHostInterface") || streq(c, "IOUSBDevice") ||
               streq(c, "IOUSBInterface");
}

/* ---- insertion ---- */

static int push_key(rk_match_index *idx, const char *key, size_t len, rk_personality *p) {
        bucket *b;
        int r;

        if (len == 0)
                return -E2BIG;
        r = get_bucket(idx, key, len, &b);
        if (r < 0)
                return r;
        return bucket_push(b, p);
}

static int add_to(rk_match_index *idx, char kind, const char *cls, const void *payload, size_t n,
                  rk_personality *p) {
        char key[KEY_MAX];
        return push_key(idx, key, make_key(key, kind, cls, payload, n), p);
}

static int add_prop(rk_match_index *idx, const char *cls, const rk_value *m, rk_personality *p) {
        char key[KEY_MAX];
        return push_key(idx, key, prop_key(key, cls, rk_dict_key_at(m, 0), rk_dict_value_at(m, 0)), p);
}

/* Which kind of bucket p goes to; 0 for the class bucket. */
static char choose_kind(const rk_personality *p, const char *cls) {
        const rk_value *d = p->dict, *v;
        uint16_t vendor;

        if (is_usb_nub_class(cls) && rk_usb_index_vendor(d, &vendor))
                return 'U';
        if (streq(cls, "IOPCIDevice") && rk_pci_index_any_vendor(d, &vendor))
                return 'P';
        if (rk_dict_get(d, "IONameMatch"))
                return 'N';
        v = rk_dict_get(d, "IOPropertyMatch");
        if (rk_value_is(v, RK_TYPE_DICT) && rk_dict_size(v) > 0)
                return 'Q';
        if (rk_value_is(v, RK_TYPE_ARRAY)) {
                bool all = rk_array_size(v) > 0;
                for (size_t i = 0; i < rk_array_size(v); i++)
                        if (rk_dict_size(rk_array_get(v, i)) == 0)
                                all = false;
                if (all)
                        return 'Q';
        }
        if (p->modalias) {
                bool all = true;
                for (size_t i = 0; i < rk_array_size(p->modalias); i++)
                        if (rk_glob_literal_prefix(rk_string(rk_array_get(p->modalias, i))) == 0)
                                all = false;
                if (all)
                        return 'M';
        }
        return 0;
}

static int index_personality(rk_match_index *idx, rk_personality *p) {
        const char *cls = p->provider_class;
        char key[KEY_MAX];
        bucket *cb;
        size_t len;
        uint16_t vendor;
        char kind;
        int r;

        len = make_key(key, 'C', cls, NULL, 0);
        if (len == 0)
                return -E2BIG;
        r = get_bucket(idx, key, len, &cb);
        if (r < 0)
                return r;
        kind = choose_kind(p, cls);
        switch (kind) {
        case 'U':
                rk_usb_index_vendor(p->dict, &vendor);
                cb->flags |= F_USB;
                return add_to(idx, 'U', cls, &vendor, sizeof(vendor), p);
        case 'P':
                rk_pci_index_any_vendor(p->dict, &vendor);
                cb->flags |= F_PCI;
                return add_to(idx, 'P', cls, &vendor, sizeof(vendor), p);
        case 'N': {
                const rk_value *v = rk_dict_get(p->dict, "IONameMatch");
                cb->flags |= F_NAME;
                if (rk_value_is(v, RK_TYPE_STRING))
                        return add_to(idx, 'N', cls, rk_string(v), rk_string_len(v), p);
                for (size_t i = 0; i < rk_array_size(v); i++) {
                        const rk_value *e = rk_array_get(v, i);
                        r = add_to(idx, 'N', cls, rk_string(e), rk_string_len(e), p);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        case 'Q': {
                const rk_value *v = rk_dict_get(p->dict, "IOPropertyMatch");
                cb->flags |= F_PROP;
                if (rk_value_is(v, RK_TYPE_DICT))
                        return add_prop(idx, cls, v, p);
                for (size_t i = 0; i < rk_array_size(v); i++) {
                        r = add_prop(idx, cls, rk_array_get(v, i), p);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        case 'M':
                cb->flags |= F_MODALIAS;
                for (size_t i = 0; i < rk_array_size(p->modalias); i++) {
                        const char *pat = rk_string(rk_array_get(p->modalias, i));
                        size_t n = rk_glob_literal_prefix(pat);
                        if (n > MODALIAS_PREFIX_MAX)
                                n = MODALIAS_PREFIX_MAX;
                        if (n > cb->prefix_max)
                                cb->prefix_max = (unsigned) n;
                        r = add_to(idx, 'M', cls, pat, n, p);
                        if (r < 0)
                                return r;
                }
                return 0;
        default:
                return bucket_push(cb, p);
        }
}

int rk_match_index_add(rk_match_index *idx, rk_personality *p) {
        int r;

        if (!idx || !p || !p->provider_class)
                return -EINVAL;
        if (idx->n_all == idx->cap_all) {
                size_t cap = idx->cap_all ? idx->cap_all * 2 : 16;
                rk_personality **all = realloc(idx->all, cap * sizeof(*all));
                if (!all)
                        return -ENOMEM;
                idx->all = all;
                idx->cap_all = cap;
        }
        r = index_personality(idx, p);
        if (r < 0) {
                /* drop whatever part of it made it into buckets */
                for (size_t i = 0; i < idx->cap; i++) {
                        bucket *b = &idx->table[i];
                        size_t k = 0;
                        for (size_t j = 0; j < b->n; j++)
                                if (b->items[j] != p)
                                        b->items[k++] = b->items[j];
                        b->n = k;
                }
                return r;
        }
        p->seq = idx->seq++;
        idx->all[idx->n_all++] = rk_personality_ref(p);
        return 0;
}

int rk_match_index_add_personalities(rk_match_index *idx, const rk_value *personalities, const char *bundle,
                                     const char *file, rk_diag *diag, unsigned *refused) {
        int added = 0;

        if (!idx || !bundle)
                return -EINVAL;
        for (size_t i = 0; i < rk_dict_size(personalities); i++) {
                _cleanup_(rk_personality_unrefp) rk_personality *p = NULL;
                int r = rk_personality_new(rk_dict_value_at(personalities, i), bundle,
                                           rk_dict_key_at(personalities, i), file, &p, diag);
                if (r == -EBADMSG) {
                        if (refused)
                                (*refused)++;
                        continue;
                }
                if (r < 0 || (r = rk_match_index_add(idx, p)) < 0)
                        return r;
                added++;
        }
        return added;
}

size_t rk_match_index_remove_bundle(rk_match_index *idx, const char *bundle) {
        size_t removed = 0, k = 0;

        if (!idx || !bundle)
                return 0;
        for (size_t i = 0; i < idx->cap; i++) {
                bucket *b = &idx->table[i];
                size_t m = 0;
                for (size_t j = 0; j < b->n; j++)
                        if (!streq(b->items[j]->bundle, bundle))
                                b->items[m++] = b->items[j];
                b->n = m;
        }
        for (size_t i = 0; i < idx->n_all; i++) {
                if (streq(idx->all[i]->bundle, bundle)) {
                        rk_personality_unref(idx->all[i]);
                        removed++;
                } else
                        idx->all[k++] = idx->all[i];
        }
        idx->n_all = k;
        return removed;
}

void rk_match_index_foreach(const rk_match_index *idx, rk_match_index_cb cb, void *userdata) {
        for (size_t i = 0; idx && i < idx->n_all; i++)
                cb(idx->all[i], userdata);
}

/* ---- lookup ---- */

typedef struct visit {
        rk_match_index *idx;
        rk_match_index_cb cb;
        void *userdata;
        size_t count;
} visit;

static void visit_bucket(visit *v, const bucket *b) {
        if (!b)
                return;
        for (size_t i = 0; i < b->n; i++) {
                rk_personality *p = b->items[i];
                if (p->seen == v->idx->generation)
                        continue;
                p->seen = v->idx->generation;
                v->count++;
                v->cb(p, v->userdata);
        }
}

static const bucket *lookup(const rk_match_index *idx, char kind, const char *cls, const void *payload, size_t n) {
        char key[KEY_MAX];
        size_t len = make_key(key, kind, cls, payload, n);
        return len ? find(idx, key, len, hash_bytes(key, len)) : NULL;
}

static void visit_class(visit *v, const rk_match_provider *prov, const char *cls) {
        const rk_match_index *idx = v->idx;
        const bucket *cb = lookup(idx, 'C', cls, NULL, 0);
        uint64_t u;

        if (!cb)
                return; /* no personality names this class */
        visit_bucket(v, cb);
        if ((cb->flags & F_USB) && rk_value_as_u64(rk_dict_get(prov->properties, "idVendor"), &u) && u <= 0xffff) {
                uint16_t vendor = (uint16_t) u;
                visit_bucket(v, lookup(idx, 'U', cls, &vendor, sizeof(vendor)));
        }
        if (cb->flags & F_PCI) {
                if (rk_value_as_u64(rk_dict_get(prov->properties, "vendor-id"), &u)) {
                        uint16_t vendor = (uint16_t) (u & 0xffff);
                        visit_bucket(v, lookup(idx, 'P', cls, &vendor, sizeof(vendor)));
                }
                if (rk_value_as_u64(rk_dict_get(prov->properties, "subsystem-vendor-id"), &u)) {
                        uint16_t vendor = (uint16_t) (u & 0xffff);
                        visit_bucket(v, lookup(idx, 'P', cls, &vendor, sizeof(vendor)));
                }
        }
        if (cb->flags & F_NAME) {
                if (prov->name)
                        visit_bucket(v, lookup(idx, 'N', cls, prov->name, strlen(prov->name)));
                for (size_t i = 0; i < rk_array_size(prov->compatible); i++) {
                        const char *c = rk_string(rk_array_get(prov->compatible, i));
                        if (c)
                                visit_bucket(v, lookup(idx, 'N', cls, c, strlen(c)));
                }
        }
        if (cb->flags & F_PROP) {
                for (size_t i = 0; i < rk_dict_size(prov->properties); i++) {
                        char key[KEY_MAX];
                        size_t len = prop_key(key, cls, rk_dict_key_at(prov->properties, i),
                                              rk_dict_value_at(prov->properties, i));
                        if (len)
                                visit_bucket(v, find(idx, key, len, hash_bytes(key, len)));
                }
        }
        if ((cb->flags & F_MODALIAS) && prov->modalias) {
                size_t n = strlen(prov->modalias);
                if (n > cb->prefix_max)
                        n = cb->prefix_max;
                for (size_t l = 1; l <= n; l++)
                        visit_bucket(v, lookup(idx, 'M', cls, prov->modalias, l));
        }
}

size_t rk_match_index_candidates(rk_match_index *idx, const rk_match_provider *prov, rk_match_index_cb cb,
                                 void *userdata) {
        visit v = { .idx = idx, .cb = cb, .userdata = userdata };

        if (!idx || !prov || !cb)
                return 0;
        if (++idx->generation == 0) {
                /* wrapped: clear the stamps so none looks seen */
                for (size_t i = 0; i < idx->n_all; i++)
                        idx->all[i]->seen = 0;
                idx->generation = 1;
        }
        for (size_t i = 0; i < prov->n_classes; i++)
                visit_class(&v, prov, prov->classes[i]);
        return v.count;
}

/* ---- running a match ---- */

typedef struct run {
        const rk_match_provider *prov;
        const rk_value *resources;
        rk_match_result *res;
        unsigned flags;
        int error;
} run;

static int add_candidate(rk_match_result *res, rk_personality *p, int64_t score) {
        rk_match_category *cat = NULL;

        for (size_t i = 0; i < res->n_categories; i++)
                if (streq(res->categories[i].name, p->category)) {
                        cat = &res->categories[i];
                        break;
                }
        if (!cat) {
                rk_match_category *cats = realloc(res->categories, (res->n_categories + 1) * sizeof(*cats));
                if (!cats)
                        return -ENOMEM;
                res->categories = cats;
                cat = &cats[res->n_categories++];
                *cat = (rk_match_category){ .name = p->category };
        }
        if (cat->n == cat->cap) {
                size_t cap = cat->cap ? cat->cap * 2 : 4;
                rk_match_candidate *c = realloc(cat->candidates, cap * sizeof(*c));
                if (!c)
                        return -ENOMEM;
                cat->candidates = c;
                cat->cap = cap;
        }
        cat->candidates[cat->n++] = (rk_match_candidate){ rk_personality_ref(p), score };
        return 0;
}

static int add_rejection(rk_match_result *res, rk_personality *p, const char *why) {
        rk_match_rejection *rej = realloc(res->rejected, (res->n_rejected + 1) * sizeof(*rej));
        char *k;

        if (!rej)
                return -ENOMEM;
        res->rejected = rej;
        k = strdup(why);
        if (!k)
                return -ENOMEM;
        rej[res->n_rejected++] = (rk_match_rejection){ rk_personality_ref(p), k };
        return 0;
}

static void evaluate(rk_personality *p, void *userdata) {
        run *r = userdata;
        char why[RK_MATCH_WHY_MAX];
        int64_t score = 0;
        int e;

        if (r->error)
                return;
        r->res->n_evaluated++;
        if (rk_match_personality(p, r->prov, r->resources, &score, why, sizeof(why)))
                e = add_candidate(r->res, p, score);
        else if (r->flags & RK_MATCH_EXPLAIN)
                e = add_rejection(r->res, p, why);
        else
                e = 0;
        if (e < 0)
                r->error = e;
}

static int compare_candidates(const void *a, const void *b) {
        return rk_match_candidate_compare(a, b);
}

static int compare_categories(const void *a, const void *b) {
        const rk_match_category *x = a, *y = b;
        int c = rk_match_candidate_compare(&x->candidates[0], &y->candidates[0]);
        return c ? c : strcmp(x->name, y->name);
}

static int compare_rejections(const void *a, const void *b) {
        const rk_match_rejection *x = a, *y = b;
        int c = strcmp(x->personality->bundle, y->personality->bundle);
        return c ? c : strcmp(x->personality->name, y->personality->name);
}

int rk_match_index_run(rk_match_index *idx, const rk_match_provider *prov, const rk_value *resources,
                       unsigned flags, rk_match_result *ret) {
        run r = { .prov = prov, .resources = resources, .res = ret, .flags = flags };

        if (!idx || !prov || !ret)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        if (flags & RK_MATCH_EXPLAIN)
                /* every personality, so each rejection is explained */
                rk_match_index_foreach(idx, evaluate, &r);
        else
                rk_match_index_candidates(idx, prov, evaluate, &r);
        if (r.error < 0)
                return r.error;
        for (size_t i = 0; i < ret->n_categories; i++)
                qsort(ret->categories[i].candidates, ret->categories[i].n, sizeof(rk_match_candidate),
                      compare_candidates);
        if (ret->n_categories > 1)
                qsort(ret->categories, ret->n_categories, sizeof(rk_match_category), compare_categories);
        if (ret->n_rejected > 1)
                qsort(ret->rejected, ret->n_rejected, sizeof(rk_match_rejection), compare_rejections);
        return 0;
}
