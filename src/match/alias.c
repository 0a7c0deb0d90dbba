/* SPDX-License-Identifier: MIT */
/*
 * modules.alias index: which aliases match a modalias, exactly as libkmod
 * answers it from modules.alias.bin, some 40 times faster (bench-alias).
 *
 * What libkmod does (libkmod-index.c, index_mm_searchwild), and so what this
 * file must reproduce:
 *   - depmod stores each pattern normalised ('-' becomes '_' outside
 *     brackets, see rk_alias_normalize) in a byte trie whose nodes sit where
 *     patterns branch or end; kmod_module_new_from_lookup() normalises the
 *     modalias the same way.
 *   - The lookup walks the trie along the modalias.  At every node, each
 *     child edge that is '*', '?' or '[' leads to a subtree whose patterns
 *     are all compared with fnmatch(pattern from that byte on, modalias from
 *     the same offset on).  A wildcard byte met inside a node's own bytes
 *     does the same for the node's subtree and ends the walk.  A modalias
 *     that ends on a node gets that node's patterns (exact match).
 * For a modalias without '*', '?' and '[' this comes down to a rule that
 * does not depend on the shape of the trie.  Split each pattern P at its
 * first '*', '?' or '[' into a literal prefix L and a tail T:
 *     P matches M  <=>  M starts with L (byte for byte, backslashes too)
 *                       and fnmatch(T, M after L) == 0,
 * and a pattern without wildcards matches only the equal string.  Note it
 * differs from fnmatch(P, M) when L holds a backslash.
 *
 * Fast path (the modalias has no wildcard byte), what the index holds:
 *   - a compressed trie over the distinct literal prefixes L; a node whose
 *     path is some L keeps the "group" of patterns with that prefix, and the
 *     pattern equal to the path if there is one;
 *   - per group of FILTER_MIN or more patterns, a gram filter: each tail
 *     contributes its rarest (within the group) run of 4 or 8 literal bytes
 *     that any matching string must contain (8 help where 4 are all common:
 *     binary mdio ids have only 16 different 4-grams); the tails with
 *     neither are "always" tried.  A hash table maps (group,
 *     gram) to its patterns; an 8-gram is folded to 32 bits, so two may
 *     share a bucket: that costs a glob, never a wrong answer.
 * The lookup walks the trie along the modalias once; at each node with a
 * group it slides over the rest of the modalias, looks up the grams at each
 * offset, and runs rk_glob_match() on the candidate tails only.  Each
 * pattern is in one group and one bucket, and a bucket is visited only at
 * the first place its gram occurs, so each alias is reported at most once:
 * exactly libkmod's list, multiplicity included.
 *
 * Slow path (the modalias contains '*', '?' or '['): libkmod can then also
 * descend through wildcard edges byte for byte, which depends on the shape
 * of the trie.  lookup_slow() walks libkmod's trie without building it:
 * the distinct patterns are sorted, a node is a range of them sharing a
 * prefix, its depth is the longest common prefix of its first and last
 * pattern.  Matches go to a bitmap so that each is reported once (libkmod
 * lists an alias again each time a different wildcard edge reaches it).
 *
 * Invariants: pats[] is sorted by strcmp and holds distinct patterns; the
 * modules of pats[i] are mods[pats[i].mod .. + n_mod], sorted, one per line
 * (depmod keeps a repeated line twice in modules.alias.bin, and libkmod
 * then lists the module twice: so do we); every pattern with a wildcard is
 * in exactly one group, and in one bucket or its group's "always" list when
 * the group is filtered; all strings point into pool, which the index owns.
 * A built index is never modified.
 */
#include "match/alias.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "match/glob.h"

#define GRAM4 4       /* bytes per short filter gram */
#define GRAM8 8       /* bytes per long filter gram */
#define TAG_LONG (1ULL << 32) /* in a gram tag: an 8-gram */
#define FILTER_MIN 8  /* smaller groups are simply tried one by one */
#define NO_ID UINT32_MAX
#define EMPTY_KEY UINT64_MAX

typedef unsigned char uchar;

struct pattern {
        const char *str; /* normalised pattern */
        uint32_t len;
        uint32_t lit;   /* length of the literal prefix (before '*', '?', '[') */
        uint32_t mod;   /* first module in rk_alias_index.mods */
        uint32_t n_mod;
};

struct node {
        const char *prefix;  /* the node's own bytes, after its edge byte */
        uint32_t prefix_len;
        uint32_t edge;       /* first child in edge_bytes[] / edge_nodes[] */
        uint32_t n_edge;
        uint32_t group;      /* NO_ID, or the group whose prefix is this path */
        uint32_t exact;      /* NO_ID, or the wildcard-free pattern equal to this path */
};

struct group {
        uint32_t first, n;   /* group_pats[first ..]: all patterns, or the "always" ones */
        bool filtered;       /* the other patterns are reached through grams */
        bool short_grams, long_grams; /* which gram lengths have buckets */
};

/* A gram tag: 32 bits of gram (4 bytes as loaded, or 8 bytes folded),
 * TAG_LONG set for 8-grams.  The slot key is group << 33 | tag; an input
 * under 4 GiB has fewer than 2^29 lines, hence groups, so no key is
 * EMPTY_KEY. */
struct gram_slot {
        uint64_t key;        /* EMPTY_KEY when free */
        uint32_t first, n;   /* bucket_pats[first ..] */
};

struct rk_alias_index {
        char *pool;
        struct pattern *pats;
        size_t n_pats;
        const char **mods;
        size_t n_mods;
        struct node *nodes;
        size_t n_nodes;
        uchar *edge_bytes;
        uint32_t *edge_nodes;
        struct group *groups;
        size_t n_groups;
        uint32_t *group_pats;
        struct gram_slot *slots;
        size_t slot_mask;    /* slots holds slot_mask + 1 entries, or none */
        uint32_t *bucket_pats;
};

static bool is_wild(uchar c) {
        return c == '*' || c == '?' || c == '[';
}

/* ---- normalisation (libkmod's alias_normalize) ---------------------- */

/* in[0..n) stands for a NUL-terminated string of length n (no NUL inside) */
static int normalize_n(const char *in, size_t n, char *out, size_t *ret_len) {
        size_t m = n < RK_ALIAS_MAX ? n : RK_ALIAS_MAX, i;

        memcpy(out, in, m);
        out[m] = '\0';
        for (i = strcspn(out, "-[]"); i < m; i += strcspn(out + i, "-[]")) {
                const char *close;

                if (out[i] == '-') {
                        out[i++] = '_';
                        continue;
                }
                if (out[i] == ']')
                        return -EINVAL;
                /* a set is kept as is up to its ']'; libkmod overruns its
                 * buffer when that is past RK_ALIAS_MAX, we refuse */
                close = memchr(out + i, ']', m - i);
                if (!close)
                        return -EINVAL;
                i = (size_t) (close - out) + 1;
        }
        if (ret_len)
                *ret_len = m;
        return 0;
}

int rk_alias_normalize(const char *alias, char *buf, size_t *len) {
        if (!alias || !buf)
                return -EINVAL;
        return normalize_n(alias, strnlen(alias, RK_ALIAS_MAX + 1), buf, len);
}

/* ---- parsing --------------------------------------------------------- */

struct entry {
        const char *pat;
        const char *mod;
};

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits a line into at most 4 blank-separated fields; returns the count. */
static unsigned split_fields(const char *s, const char *end, const char *f[4], size_t flen[4]) {
        unsigned n = 0;

        for (;;) {
                while (s < end && is_blank(*s))
                        s++;
                if (s == end || n == 4)
                        return s == end ? n : n + 1;
                f[n] = s;
                while (s < end && !is_blank(*s))
                        s++;
                flen[n] = (size_t) (s - f[n]);
                n++;
        }
}

/* Parses the text into entries whose strings live in pool (which must hold
 * len + 1 bytes: a line "alias P M" needs at most |P| + |M| + 2 of them). */
static int parse(const char *data, size_t len, char *pool, struct entry *entries, size_t *n_entries,
                 unsigned *err_line) {
        const char *s = data, *end = data + len;
        size_t used = 0, n = 0;
        unsigned line = 0;

        while (s < end) {
                const char *eol = memchr(s, '\n', (size_t) (end - s)), *f[4];
                size_t flen[4], plen;
                unsigned nf;

                if (!eol)
                        eol = end;
                line++;
                nf = split_fields(s, eol, f, flen);
                if (nf > 0 && f[0][0] != '#') {
                        if (nf != 3 || flen[0] != 5 || memcmp(f[0], "alias", 5) != 0 ||
                            memchr(s, '\0', (size_t) (eol - s))) {
                                if (err_line)
                                        *err_line = line;
                                return -EBADMSG;
                        }
                        /* a pattern depmod refuses is not in modules.alias.bin */
                        if (normalize_n(f[1], flen[1], pool + used, &plen) == 0) {
                                entries[n].pat = pool + used;
                                used += plen + 1;
                                memcpy(pool + used, f[2], flen[2]);
                                pool[used + flen[2]] = '\0';
                                entries[n].mod = pool + used;
                                used += flen[2] + 1;
                                n++;
                        }
                }
                s = eol + 1;
        }
        *n_entries = n;
        return 0;
}

static int cmp_entry(const void *a, const void *b) {
        const struct entry *x = a, *y = b;
        int r = strcmp(x->pat, y->pat);

        return r ? r : strcmp(x->mod, y->mod);
}

/* ---- the trie of literal prefixes ---------------------------------- */

struct key {
        const char *s;   /* a literal prefix: s[0..len) */
        uint32_t len;
        uint32_t pat;
};

static int cmp_key(const void *a, const void *b) {
        const struct key *x = a, *y = b;
        int r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

        if (r)
                return r;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return x->pat < y->pat ? -1 : x->pat > y->pat;
}

struct bnode {
        const char *path;    /* path[0..depth) is the node's path */
        uint32_t depth;
        uint32_t first_child, last_child, next_sibling;
        uint32_t key;        /* NO_ID, or the key whose text is the path */
        uint32_t group, exact;
};

struct builder {
        struct bnode *nodes;
        size_t n, cap;
};

static uint32_t bnode_new(struct builder *b, const char *path, uint32_t depth) {
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 256;
                struct bnode *nn = realloc(b->nodes, cap * sizeof(*nn));
                if (!nn)
                        return NO_ID;
                b->nodes = nn;
                b->cap = cap;
        }
        b->nodes[b->n] = (struct bnode){ path, depth, NO_ID, NO_ID, NO_ID, NO_ID, NO_ID, NO_ID };
        return (uint32_t) b->n++;
}

static void bnode_add_child(struct builder *b, uint32_t parent, uint32_t child) {
        struct bnode *p = &b->nodes[parent];

        if (p->last_child == NO_ID)
                p->first_child = child;
        else
                b->nodes[p->last_child].next_sibling = child;
        p->last_child = child;
}

/*
 * Builds the compressed trie of the sorted distinct keys k[0..n): a node
 * where keys branch or end.  Keeps the rightmost path on a stack; a key
 * sharing lcp bytes with the previous one pops the deeper nodes and, when
 * no node sits at depth lcp, splits the last edge there.
 */
static int build_trie(struct builder *b, const struct key *k, size_t n, uint32_t *key_node) {
        uint32_t *stack = NULL, top;
        size_t depth = 0, cap = 0;
        int r = -ENOMEM;

        if (bnode_new(b, "", 0) == NO_ID)
                return -ENOMEM;
        cap = 64;
        stack = malloc(cap * sizeof(*stack));
        if (!stack)
                return -ENOMEM;
        stack[depth++] = 0;
        for (size_t i = 0; i < n; i++) {
                uint32_t lcp = 0, last = NO_ID;

                if (i > 0) {
                        uint32_t m = k[i - 1].len < k[i].len ? k[i - 1].len : k[i].len;
                        while (lcp < m && k[i - 1].s[lcp] == k[i].s[lcp])
                                lcp++;
                }
                while (b->nodes[stack[depth - 1]].depth > lcp)
                        last = stack[--depth];
                top = stack[depth - 1];
                if (b->nodes[top].depth < lcp) {
                        /* split: a node at depth lcp takes the place of
                         * `last` (top's last child) and adopts it */
                        uint32_t moved = bnode_new(b, b->nodes[last].path, 0);
                        if (moved == NO_ID)
                                goto out;
                        b->nodes[moved] = b->nodes[last];
                        b->nodes[moved].next_sibling = NO_ID;
                        b->nodes[last] = (struct bnode){ b->nodes[moved].path, lcp, moved, moved,
                                                         NO_ID, NO_ID, NO_ID, NO_ID };
                        top = last;
                        stack[depth++] = top;
                }
                if (k[i].len == lcp) {
                        b->nodes[top].key = (uint32_t) i;
                        continue;
                }
                uint32_t leaf = bnode_new(b, k[i].s, k[i].len);
                if (leaf == NO_ID)
                        goto out;
                b->nodes[leaf].key = (uint32_t) i;
                bnode_add_child(b, top, leaf);
                if (depth == cap) {
                        uint32_t *ns = realloc(stack, cap * 2 * sizeof(*ns));
                        if (!ns)
                                goto out;
                        stack = ns;
                        cap *= 2;
                }
                stack[depth++] = leaf;
        }
        /* nodes move when an edge is split: find the keys' nodes last */
        for (size_t u = 0; u < b->n; u++)
                if (b->nodes[u].key != NO_ID)
                        key_node[b->nodes[u].key] = (uint32_t) u;
        r = 0;
out:
        free(stack);
        return r;
}

/* Turns the builder's nodes into the lookup layout. */
static int flatten_trie(struct rk_alias_index *idx, const struct builder *b) {
        size_t e = 0;

        idx->n_nodes = b->n;
        idx->nodes = calloc(b->n, sizeof(*idx->nodes));
        idx->edge_bytes = malloc(b->n);
        idx->edge_nodes = malloc(b->n * sizeof(*idx->edge_nodes));
        if (!idx->nodes || !idx->edge_bytes || !idx->edge_nodes)
                return -ENOMEM;
        for (size_t u = 0; u < b->n; u++) {
                const struct bnode *bu = &b->nodes[u];
                struct node *nu = &idx->nodes[u];

                nu->group = bu->group;
                nu->exact = bu->exact;
                nu->edge = (uint32_t) e;
                for (uint32_t v = bu->first_child; v != NO_ID; v = b->nodes[v].next_sibling) {
                        const struct bnode *bv = &b->nodes[v];

                        idx->edge_bytes[e] = (uchar) bv->path[bu->depth];
                        idx->edge_nodes[e++] = v;
                        idx->nodes[v].prefix = bv->path + bu->depth + 1;
                        idx->nodes[v].prefix_len = bv->depth - bu->depth - 1;
                }
                nu->n_edge = (uint32_t) e - nu->edge;
        }
        return 0;
}

/* ---- gram filters ---------------------------------------------------- */

static size_t slot_hash(uint64_t key, size_t mask) {
        return (size_t) ((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

struct gram_pair {
        uint64_t tag;
        uint32_t pat, freq;
};

static uint64_t tag_short(const char *s) {
        uint32_t g;

        memcpy(&g, s, GRAM4);
        return g;
}

static uint64_t tag_long(const char *s) {
        uint64_t g;

        memcpy(&g, s, GRAM8);
        return TAG_LONG | (uint32_t) ((g * 0x9E3779B97F4A7C15ULL) >> 32);
}

static int cmp_pair_gram(const void *a, const void *b) {
        const struct gram_pair *x = a, *y = b;

        if (x->tag != y->tag)
                return x->tag < y->tag ? -1 : 1;
        return x->pat < y->pat ? -1 : x->pat > y->pat;
}

/* by pattern, then the rarest first, an 8-gram before a 4-gram as rare
 * (it is rarer in modaliases) */
static int cmp_pair_pat(const void *a, const void *b) {
        const struct gram_pair *x = a, *y = b;

        if (x->pat != y->pat)
                return x->pat < y->pat ? -1 : 1;
        if (x->freq != y->freq)
                return x->freq < y->freq ? -1 : 1;
        if ((x->tag & TAG_LONG) != (y->tag & TAG_LONG))
                return x->tag & TAG_LONG ? -1 : 1;
        return x->tag < y->tag ? -1 : x->tag > y->tag;
}

/*
 * Appends the 4- and 8-grams of the literal runs in a tail: bytes that any
 * match must contain consecutively.  Stops at the first '[' (what follows
 * depends on how the set parses) and skips escaped bytes.  At most two
 * grams per byte of the tail.
 */
static size_t tail_grams(const struct pattern *p, uint32_t id, struct gram_pair *out) {
        size_t n = 0, run = 0;

        for (size_t i = p->lit; i < p->len;) {
                uchar c = (uchar) p->str[i];

                if (c == '[')
                        break;
                if (c == '*' || c == '?' || c == '\\') {
                        run = 0;
                        i += c == '\\' ? 2 : 1;
                        continue;
                }
                run++;
                if (run >= GRAM4)
                        out[n++] = (struct gram_pair){ tag_short(p->str + i + 1 - GRAM4), id, 0 };
                if (run >= GRAM8)
                        out[n++] = (struct gram_pair){ tag_long(p->str + i + 1 - GRAM8), id, 0 };
                i++;
        }
        return n;
}

struct filter_build {
        struct gram_slot *slots; /* (key, first, n) before hashing */
        size_t n_slots, cap_slots;
        uint32_t *bucket_pats;
        size_t n_bucket;
};

/* Sets pairs[].freq to the number of pairs with the same tag. */
struct gram_count {
        uint64_t tag;
        uint32_t count;
};

static int count_grams(struct gram_pair *pairs, size_t np) {
        struct gram_count *t;
        size_t size = 16, mask;

        while (size < np * 2)
                size *= 2;
        mask = size - 1;
        t = malloc(size * sizeof(*t));
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < size; i++)
                t[i].tag = EMPTY_KEY; /* tags are under 2^33 */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < np; i++) {
                        size_t h = slot_hash(pairs[i].tag, mask);
                        while (t[h].tag != EMPTY_KEY && t[h].tag != pairs[i].tag)
                                h = (h + 1) & mask;
                        if (pass == 0 && t[h].tag == EMPTY_KEY)
                                t[h] = (struct gram_count){ pairs[i].tag, 0 };
                        if (pass == 0)
                                t[h].count++;
                        else
                                pairs[i].freq = t[h].count;
                }
        free(t);
        return 0;
}

/* Chooses each pattern's rarest gram and records the buckets; pats[] are the group's patterns, in increasing
 * order.  The "always" ones are written to always[]. */
static int build_filter(const struct rk_alias_index *idx, uint32_t group, const uint32_t *pats, size_t n,
                        struct filter_build *fb, uint32_t *always, size_t *n_always, struct group *g) {
        struct gram_pair *pairs;
        size_t np = 0, total = 0, w, na = 0;
        int r = -ENOMEM;

        for (size_t i = 0; i < n; i++)
                total += idx->pats[pats[i]].len;
        pairs = malloc((2 * total + 1) * sizeof(*pairs));
        if (!pairs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                np += tail_grams(&idx->pats[pats[i]], pats[i], pairs + np);

        /* how many patterns share each gram (a gram twice in one tail
         * counts twice: this only steers the choice), then the pattern's
         * rarest gram; a pattern's grams are contiguous in pairs[] */
        r = count_grams(pairs, np);
        if (r < 0)
                goto out;
        r = -ENOMEM;
        w = 0;
        for (size_t i = 0; i < np;) {
                size_t j = i, best = i;
                for (; j < np && pairs[j].pat == pairs[i].pat; j++)
                        if (cmp_pair_pat(&pairs[j], &pairs[best]) < 0)
                                best = j;
                pairs[w++] = pairs[best];
                i = j;
        }
        np = w;

        for (size_t i = 0, j = 0; i < n; i++) {
                while (j < np && pairs[j].pat < pats[i])
                        j++;
                if (j == np || pairs[j].pat != pats[i])
                        always[na++] = pats[i];
        }

        /* buckets */
        qsort(pairs, np, sizeof(*pairs), cmp_pair_gram);
        for (size_t i = 0; i < np;) {
                size_t j = i;
                while (j < np && pairs[j].tag == pairs[i].tag)
                        j++;
                if (pairs[i].tag & TAG_LONG)
                        g->long_grams = true;
                else
                        g->short_grams = true;
                if (fb->n_slots == fb->cap_slots) {
                        size_t cap = fb->cap_slots ? fb->cap_slots * 2 : 1024;
                        struct gram_slot *ns = realloc(fb->slots, cap * sizeof(*ns));
                        if (!ns)
                                goto out;
                        fb->slots = ns;
                        fb->cap_slots = cap;
                }
                fb->slots[fb->n_slots++] = (struct gram_slot){ (uint64_t) group << 33 | pairs[i].tag,
                                                               (uint32_t) fb->n_bucket, (uint32_t) (j - i) };
                for (size_t k = i; k < j; k++)
                        fb->bucket_pats[fb->n_bucket++] = pairs[k].pat;
                i = j;
        }
        *n_always = na;
        r = 0;
out:
        free(pairs);
        return r;
}

static int build_slot_table(struct rk_alias_index *idx, const struct filter_build *fb) {
        size_t size = 16;

        if (fb->n_slots == 0)
                return 0;
        while (size < fb->n_slots * 2)
                size *= 2;
        idx->slots = malloc(size * sizeof(*idx->slots));
        if (!idx->slots)
                return -ENOMEM;
        idx->slot_mask = size - 1;
        for (size_t i = 0; i < size; i++)
                idx->slots[i].key = EMPTY_KEY;
        for (size_t i = 0; i < fb->n_slots; i++) {
                size_t h = slot_hash(fb->slots[i].key, idx->slot_mask);
                while (idx->slots[h].key != EMPTY_KEY)
                        h = (h + 1) & idx->slot_mask;
                idx->slots[h] = fb->slots[i];
        }
        return 0;
}

/* ---- building the index --------------------------------------------- */

/* Distinct patterns and their modules from the sorted entries. */
static int build_patterns(struct rk_alias_index *idx, struct entry *e, size_t n) {
        idx->pats = malloc((n ? n : 1) * sizeof(*idx->pats));
        idx->mods = malloc((n ? n : 1) * sizeof(*idx->mods));
        if (!idx->pats || !idx->mods)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct pattern *p;

                /* a line given twice stays twice, as in modules.alias.bin */
                if (i > 0 && strcmp(e[i].pat, e[i - 1].pat) == 0) {
                        p = &idx->pats[idx->n_pats - 1];
                } else {
                        p = &idx->pats[idx->n_pats++];
                        p->str = e[i].pat;
                        p->len = (uint32_t) strlen(e[i].pat);
                        p->lit = (uint32_t) strcspn(e[i].pat, "*?[");
                        p->mod = (uint32_t) idx->n_mods;
                        p->n_mod = 0;
                }
                idx->mods[idx->n_mods++] = e[i].mod;
                p->n_mod++;
        }
        return 0;
}

/* The patterns keys[from..to), which share one literal prefix, at trie
 * node bn: the wildcard-free one (if any) becomes the node's exact match,
 * the others its group, filtered when large. */
static int add_group(struct rk_alias_index *idx, struct bnode *bn, const struct key *keys, size_t from, size_t to,
                     size_t *gp, struct filter_build *fb) {
        uint32_t *list = idx->group_pats + *gp, g = (uint32_t) idx->n_groups;
        size_t n = 0, n_always = 0;
        uint32_t *members;
        int r;

        for (size_t i = from; i < to; i++) {
                const struct pattern *p = &idx->pats[keys[i].pat];
                if (p->lit == p->len)
                        bn->exact = keys[i].pat;
                else
                        list[n++] = keys[i].pat;
        }
        if (n == 0)
                return 0;
        bn->group = g;
        idx->groups[g] = (struct group){ (uint32_t) *gp, (uint32_t) n, false, false, false };
        idx->n_groups++;
        if (n < FILTER_MIN) {
                *gp += n;
                return 0;
        }
        /* the group's list becomes its "always" list */
        members = malloc(n * sizeof(*members));
        if (!members)
                return -ENOMEM;
        memcpy(members, list, n * sizeof(*members));
        r = build_filter(idx, g, members, n, fb, list, &n_always, &idx->groups[g]);
        free(members);
        idx->groups[g].filtered = true;
        idx->groups[g].n = (uint32_t) n_always;
        *gp += n_always;
        return r;
}

/* Trie of literal prefixes, groups and their filters. */
static int build_lookup(struct rk_alias_index *idx) {
        size_t nk = idx->n_pats, alloc = nk ? nk : 1, nd = 0, gp = 0;
        struct key *keys = malloc(alloc * sizeof(*keys)), *distinct = malloc(alloc * sizeof(*distinct));
        size_t *run_start = malloc((nk + 1) * sizeof(*run_start));
        uint32_t *key_node = malloc(alloc * sizeof(*key_node));
        struct builder b = { 0 };
        struct filter_build fb = { 0 };
        int r = -ENOMEM;

        idx->groups = malloc(alloc * sizeof(*idx->groups));
        idx->group_pats = malloc(alloc * sizeof(*idx->group_pats));
        fb.bucket_pats = malloc(alloc * sizeof(*fb.bucket_pats));
        if (!keys || !distinct || !run_start || !key_node || !idx->groups || !idx->group_pats || !fb.bucket_pats)
                goto out;
        for (size_t i = 0; i < nk; i++)
                keys[i] = (struct key){ idx->pats[i].str, idx->pats[i].lit, (uint32_t) i };
        qsort(keys, nk, sizeof(*keys), cmp_key);

        /* one trie key per distinct literal prefix, and where its run of
         * patterns starts in keys[] */
        for (size_t i = 0; i < nk; i++)
                if (i == 0 || keys[i].len != keys[i - 1].len || memcmp(keys[i].s, keys[i - 1].s, keys[i].len) != 0) {
                        run_start[nd] = i;
                        distinct[nd++] = keys[i];
                }
        run_start[nd] = nk;
        r = build_trie(&b, distinct, nd, key_node);
        for (size_t d = 0; d < nd && r == 0; d++)
                r = add_group(idx, &b.nodes[key_node[d]], keys, run_start[d], run_start[d + 1], &gp, &fb);
        if (r == 0)
                r = flatten_trie(idx, &b);
        if (r == 0)
                r = build_slot_table(idx, &fb);
        if (r == 0) {
                idx->bucket_pats = fb.bucket_pats;
                fb.bucket_pats = NULL;
        }
out:
        free(keys);
        free(distinct);
        free(run_start);
        free(key_node);
        free(b.nodes);
        free(fb.slots);
        free(fb.bucket_pats);
        return r;
}

int rk_alias_index_new_from_buffer(const char *data, size_t len, rk_alias_index **ret, unsigned *err_line) {
        struct rk_alias_index *idx = NULL;
        struct entry *entries = NULL;
        size_t n_lines = 1, n = 0;
        int r;

        if (err_line)
                *err_line = 0;
        if ((!data && len) || !ret)
                return -EINVAL;
        if (len >= UINT32_MAX)
                return -EFBIG;
        for (const char *s = data; s && (s = memchr(s, '\n', len - (size_t) (s - data))); s++)
                n_lines++;

        idx = calloc(1, sizeof(*idx));
        entries = malloc(n_lines * sizeof(*entries));
        if (!idx || !entries || !(idx->pool = malloc(len + 1))) {
                r = -ENOMEM;
                goto fail;
        }
        r = parse(data, len, idx->pool, entries, &n, err_line);
        if (r < 0)
                goto fail;
        qsort(entries, n, sizeof(*entries), cmp_entry);
        r = build_patterns(idx, entries, n);
        if (r < 0)
                goto fail;
        r = build_lookup(idx);
        if (r < 0)
                goto fail;
        free(entries);
        *ret = idx;
        return 0;

fail:
        free(entries);
        rk_alias_index_free(idx);
        return r;
}

static int read_all(const char *path, char **ret, size_t *ret_len) {
        struct stat st;
        size_t len = 0, cap;
        char *buf;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto fail_fd;
        }
        if (S_ISDIR(st.st_mode)) {
                r = -EISDIR;
                goto fail_fd;
        }
        cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t) st.st_size + 1 : 65536;
        buf = malloc(cap);
        if (!buf) {
                r = -ENOMEM;
                goto fail_fd;
        }
        for (;;) {
                ssize_t k;

                if (len == cap) {
                        char *nb = cap >= UINT32_MAX ? NULL : realloc(buf, cap * 2);
                        if (!nb) {
                                r = cap >= UINT32_MAX ? -EFBIG : -ENOMEM;
                                goto fail_buf;
                        }
                        buf = nb;
                        cap *= 2;
                }
                k = read(fd, buf + len, cap - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = -errno;
                        goto fail_buf;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        close(fd);
        *ret = buf;
        *ret_len = len;
        return 0;

fail_buf:
        free(buf);
fail_fd:
        close(fd);
        return r;
}

int rk_alias_index_new_from_file(const char *path, rk_alias_index **ret, unsigned *err_line) {
        char *data = NULL;
        size_t len = 0;
        int r;

        if (err_line)
                *err_line = 0;
        if (!path || !ret)
                return -EINVAL;
        r = read_all(path, &data, &len);
        if (r < 0)
                return r;
        r = rk_alias_index_new_from_buffer(data, len, ret, err_line);
        free(data);
        return r;
}

rk_alias_index *rk_alias_index_free(rk_alias_index *idx) {
        if (!idx)
                return NULL;
        free(idx->pool);
        free(idx->pats);
        free(idx->mods);
        free(idx->nodes);
        free(idx->edge_bytes);
        free(idx->edge_nodes);
        free(idx->groups);
        free(idx->group_pats);
        free(idx->slots);
        free(idx->bucket_pats);
        free(idx);
        return NULL;
}

size_t rk_alias_index_size(const rk_alias_index *idx) {
        return idx ? idx->n_mods : 0;
}

/* ---- lookup ---------------------------------------------------------- */

struct lookup {
        rk_alias_cb cb;
        void *userdata;
        int count;
};

static void report(const struct rk_alias_index *idx, uint32_t id, struct lookup *l) {
        const struct pattern *p = &idx->pats[id];

        for (uint32_t i = 0; i < p->n_mod; i++) {
                if (l->cb)
                        l->cb(idx->mods[p->mod + i], p->str, l->userdata);
                l->count++;
        }
}

static void try_tail(const struct rk_alias_index *idx, uint32_t id, const char *rest, struct lookup *l) {
        const struct pattern *p = &idx->pats[id];

        if (rk_glob_match(p->str + p->lit, rest))
                report(idx, id, l);
}

static const struct gram_slot *find_slot(const struct rk_alias_index *idx, uint32_t group, uint64_t tag) {
        uint64_t key = (uint64_t) group << 33 | tag;
        size_t h = slot_hash(key, idx->slot_mask);

        for (;; h = (h + 1) & idx->slot_mask) {
                if (idx->slots[h].key == key)
                        return &idx->slots[h];
                if (idx->slots[h].key == EMPTY_KEY)
                        return NULL;
        }
}

/* The buckets of the grams of one length in rest, each tried once: where
 * its tag first occurs. */
static void try_grams(const struct rk_alias_index *idx, uint32_t g, const char *rest, size_t len, size_t q,
                      uint64_t (*tag_of)(const char *), struct lookup *l) {
        uint64_t tried[32];
        size_t n_tried = 0;

        for (size_t i = 0; i + q <= len; i++) {
                uint64_t tag = tag_of(rest + i);
                const struct gram_slot *slot = find_slot(idx, g, tag);
                bool seen = false;

                if (!slot)
                        continue;
                if (n_tried < sizeof(tried) / sizeof(tried[0])) {
                        for (size_t j = 0; j < n_tried && !seen; j++)
                                seen = tried[j] == tag;
                        if (!seen)
                                tried[n_tried++] = tag;
                } else {
                        /* many buckets: look back over the modalias */
                        for (size_t j = 0; j < i && !seen; j++)
                                seen = tag_of(rest + j) == tag;
                }
                if (seen)
                        continue;
                for (uint32_t k = 0; k < slot->n; k++)
                        try_tail(idx, idx->bucket_pats[slot->first + k], rest, l);
        }
}

/* The patterns of group g against rest (the modalias after their prefix). */
static void try_group(const struct rk_alias_index *idx, uint32_t g, const char *rest, size_t len, struct lookup *l) {
        const struct group *gr = &idx->groups[g];

        for (uint32_t i = 0; i < gr->n; i++)
                try_tail(idx, idx->group_pats[gr->first + i], rest, l);
        if (!gr->filtered || len < GRAM4)
                return;
        if (gr->short_grams)
                try_grams(idx, g, rest, len, GRAM4, tag_short, l);
        if (gr->long_grams && len >= GRAM8)
                try_grams(idx, g, rest, len, GRAM8, tag_long, l);
}

static const uchar *find_edge(const uchar *bytes, uint32_t n, uchar c) {
        if (n > 16)
                return memchr(bytes, c, n);
        for (uint32_t i = 0; i < n; i++)
                if (bytes[i] == c)
                        return bytes + i;
        return NULL;
}

static void lookup_fast(const struct rk_alias_index *idx, const char *key, size_t len, struct lookup *l) {
        const struct node *nd = &idx->nodes[0];
        size_t d = 0;

        for (;;) {
                const uchar *hit;
                const struct node *child;

                if (nd->group != NO_ID)
                        try_group(idx, nd->group, key + d, len - d, l);
                if (d == len) {
                        if (nd->exact != NO_ID)
                                report(idx, nd->exact, l);
                        return;
                }
                hit = find_edge(idx->edge_bytes + nd->edge, nd->n_edge, (uchar) key[d]);
                if (!hit)
                        return;
                child = &idx->nodes[idx->edge_nodes[hit - idx->edge_bytes]];
                if (len - d - 1 < child->prefix_len || memcmp(key + d + 1, child->prefix, child->prefix_len) != 0)
                        return;
                d += 1 + child->prefix_len;
                nd = child;
        }
}

/* first index in [lo, hi) whose byte at depth d is >= c (c may be 256) */
static size_t lower_bound_at(const struct rk_alias_index *idx, size_t lo, size_t hi, size_t d, unsigned c) {
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if ((uchar) idx->pats[mid].str[d] < c)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static void try_range(const struct rk_alias_index *idx, size_t a, size_t b, size_t d, const char *key,
                      uint64_t *hit) {
        for (size_t i = a; i < b; i++)
                if (rk_glob_match(idx->pats[i].str + d, key + d))
                        hit[i / 64] |= 1ULL << (i % 64);
}

/* libkmod's walk for a modalias holding wildcard bytes; see the top of file */
static int lookup_slow(const struct rk_alias_index *idx, const char *key, struct lookup *l) {
        uint64_t *hit = calloc(idx->n_pats / 64 + 1, sizeof(*hit));
        size_t lo = 0, hi = idx->n_pats, d = 0;

        if (!hit)
                return -ENOMEM;
        while (lo < hi) {
                /* a node at depth d: pats[lo..hi) all start with key[0..d) */
                size_t a, b, e;
                bool stop = false;

                for (const char *w = "*?["; *w; w++) {
                        a = lower_bound_at(idx, lo, hi, d, (uchar) *w);
                        b = lower_bound_at(idx, a, hi, d, (uchar) *w + 1u);
                        try_range(idx, a, b, d, key, hit);
                }
                if (key[d] == '\0') {
                        if (idx->pats[lo].len == d)
                                hit[lo / 64] |= 1ULL << (lo % 64);
                        break;
                }
                a = lower_bound_at(idx, lo, hi, d, (uchar) key[d]);
                b = lower_bound_at(idx, a, hi, d, (uchar) key[d] + 1u);
                if (a == b)
                        break;
                /* the child's depth: where its patterns branch or one ends */
                if (b - a == 1) {
                        e = idx->pats[a].len;
                } else {
                        const char *x = idx->pats[a].str, *y = idx->pats[b - 1].str;
                        for (e = d + 1; x[e] && x[e] == y[e]; e++)
                                ;
                }
                for (size_t j = d + 1; j < e && !stop; j++) {
                        uchar c = (uchar) idx->pats[a].str[j];
                        if (is_wild(c)) {
                                try_range(idx, a, b, j, key, hit);
                                stop = true;
                        } else if (c != (uchar) key[j]) {
                                stop = true;
                        }
                }
                if (stop)
                        break;
                lo = a;
                hi = b;
                d = e;
        }
        for (size_t i = 0; i < idx->n_pats; i++)
                if (hit[i / 64] & (1ULL << (i % 64)))
                        report(idx, (uint32_t) i, l);
        free(hit);
        return 0;
}

int rk_alias_index_lookup(const rk_alias_index *idx, const char *modalias, rk_alias_cb cb, void *userdata) {
        char key[RK_ALIAS_MAX + 1];
        struct lookup l = { cb, userdata, 0 };
        size_t len;
        int r;

        if (!idx || !modalias)
                return -EINVAL;
        if (rk_alias_normalize(modalias, key, &len) < 0 || idx->n_pats == 0)
                return 0;
        if (key[strcspn(key, "*?[")] != '\0') {
                r = lookup_slow(idx, key, &l);
                if (r < 0)
                        return r;
        } else {
                lookup_fast(idx, key, len, &l);
        }
        return l.count;
}
