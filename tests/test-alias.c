/* SPDX-License-Identifier: MIT */
/*
 * The modules.alias index without libkmod: parsing and its errors, the
 * normalisation rules, and lookups compared with a reference written here
 * from libkmod's algorithm (a trie built like depmod's index_insert(),
 * searched like index_searchwild(), with glibc's fnmatch) on generated alias
 * sets and modaliases, wildcard bytes in the modalias included.
 * tests/test-alias-kmod.c compares with libkmod itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <unistd.h>

#include "match/alias.h"
#include "test.h"

__attribute__((constructor)) static void no_posixly_correct(void) {
        unsetenv("POSIXLY_CORRECT");
}

/* ---- collecting results ---------------------------------------------- */

struct result {
        char **items; /* "module\tpattern" */
        size_t n, cap;
};

static void result_add(struct result *r, const char *module, const char *pattern) {
        if (r->n == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 16;
                r->items = realloc(r->items, r->cap * sizeof(*r->items));
                if (!r->items)
                        abort();
        }
        if (asprintf(&r->items[r->n++], "%s\t%s", module, pattern) < 0)
                abort();
}

static void collect(const char *module, const char *pattern, void *userdata) {
        result_add(userdata, module, pattern);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void result_sort(struct result *r) {
        if (r->n)
                qsort(r->items, r->n, sizeof(*r->items), cmp_str);
}

static void result_clear(struct result *r) {
        for (size_t i = 0; i < r->n; i++)
                free(r->items[i]);
        free(r->items);
        *r = (struct result){ 0 };
}

/* modules matched, sorted, space-separated */
static char *modules_of(rk_alias_index *idx, const char *modalias) {
        struct result r = { 0 };
        size_t len = 1;
        char *out;
        int n = rk_alias_index_lookup(idx, modalias, collect, &r);

        if (n < 0 || (size_t) n != r.n)
                abort();
        result_sort(&r);
        for (size_t i = 0; i < r.n; i++)
                len += strlen(r.items[i]) + 1;
        out = calloc(1, len);
        for (size_t i = 0; i < r.n; i++) {
                if (i)
                        strcat(out, " ");
                strncat(out, r.items[i], strcspn(r.items[i], "\t"));
        }
        result_clear(&r);
        return out;
}

static rk_alias_index *index_of(const char *text) {
        rk_alias_index *idx = NULL;
        unsigned line = 99;
        int r = rk_alias_index_new_from_buffer(text, strlen(text), &idx, &line);

        if (r < 0) {
                fprintf(stderr, "index_of: %d at line %u\n", r, line);
                return NULL;
        }
        return idx;
}

#define CHECK_MODULES(idx, modalias, want)              \
        do {                                            \
                char *_got = modules_of(idx, modalias); \
                CHECK_STREQ(_got, want);                \
                free(_got);                             \
        } while (0)

static uint64_t rnd(uint64_t *st);

/* ---- parsing ----------------------------------------------------------- */

TEST(parse_and_lookup) {
        static const char text[] = "# Aliases extracted from modules themselves.\n"
                                   "\n"
                                   "   \t\n"
                                   "alias usb:v046DpC52Bd*dc*dsc*dp*ic*isc*ip*in* logitech_dj\n"
                                   "alias usb:v*p*d*dc*dsc*dp*ic03isc01ip01in* usbhid\n"
                                   "alias\tpci:v00008086d000008B1sv*sd*bc*sc*i*\tiwlwifi\r\n"
                                   "  # indented comment\n"
                                   "alias crypto-twofish twofish_x86_64\n"
                                   "alias usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in* uas\n"
                                   "alias usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in* usb_storage\n"
                                   "alias usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in* usb_storage\n"
                                   "alias bad]pattern never\n"
                                   "alias last:* lastmod"; /* no final newline */
        rk_alias_index *idx = index_of(text);

        ASSERT(idx);
        CHECK_INTEQ(rk_alias_index_size(idx), 8); /* the refused pattern left out, the repeated line kept */
        CHECK_MODULES(idx, "usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00", "logitech_dj usbhid");
        CHECK_MODULES(idx, "usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip02in00", "logitech_dj");
        CHECK_MODULES(idx, "usb:v1234p5678d1200dc00dsc00dp00ic03isc01ip01in00", "usbhid");
        CHECK_MODULES(idx, "pci:v00008086d000008B1sv00008086sd00004070bc02sc80i00", "iwlwifi");
        CHECK_MODULES(idx, "pci:v00008086d000008B2sv00008086sd00004070bc02sc80i00", "");
        /* '-' and '_' are the same outside brackets, in the pattern and the modalias */
        CHECK_MODULES(idx, "crypto-twofish", "twofish_x86_64");
        CHECK_MODULES(idx, "crypto_twofish", "twofish_x86_64");
        CHECK_MODULES(idx, "crypto-twofis", "");
        CHECK_MODULES(idx, "usb:v13FDp3940d0210dc00dsc00dp00ic08isc06ip50in00", "uas usb_storage usb_storage");
        CHECK_MODULES(idx, "usb:v13FDp3940d0310dc00dsc00dp00ic08isc06ip50in00", "");
        CHECK_MODULES(idx, "last:", "lastmod");
        CHECK_MODULES(idx, "bad]pattern", "");
        CHECK_INTEQ(rk_alias_index_lookup(idx, "usb:v13FDp3940d0210dc00dsc00dp00ic08isc06ip50in00", NULL, NULL), 3);
        CHECK_INTEQ(rk_alias_index_lookup(idx, NULL, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_alias_index_lookup(NULL, "x", NULL, NULL), -EINVAL);
        rk_alias_index_free(idx);
}

TEST(malformed_lines) {
        static const struct {
                const char *text;
                unsigned line;
        } cases[] = {
                { "alias a b\nalias c\n", 2 },
                { "alias a b c\n", 1 },
                { "\n\n# c\nbalias a b\n", 4 },
                { "alias a b\nblacklist foo\n", 2 },
                { "aliasx a b\n", 1 },
                { "options foo bar=1\n", 1 },
        };
        rk_alias_index *idx = NULL;
        unsigned line;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                line = 0;
                CHECK_INTEQ(rk_alias_index_new_from_buffer(cases[i].text, strlen(cases[i].text), &idx, &line),
                            -EBADMSG);
                CHECK_INTEQ(line, cases[i].line);
        }
        /* a NUL byte inside a line */
        CHECK_INTEQ(rk_alias_index_new_from_buffer("alias a b\nalias a\0b c\n", 22, &idx, &line), -EBADMSG);
        CHECK_INTEQ(line, 2);
        CHECK_INTEQ(rk_alias_index_new_from_buffer("x", 1, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_alias_index_new_from_buffer(NULL, 1, &idx, NULL), -EINVAL);

        /* empty input is a valid, empty index */
        ASSERT(rk_alias_index_new_from_buffer("", 0, &idx, &line) == 0);
        CHECK_INTEQ(rk_alias_index_size(idx), 0);
        CHECK_INTEQ(rk_alias_index_lookup(idx, "anything", NULL, NULL), 0);
        rk_alias_index_free(idx);
        CHECK(rk_alias_index_free(NULL) == NULL);
}

TEST(files) {
        char path[] = "/tmp/rk-test-alias-XXXXXX";
        int fd = mkstemp(path);
        rk_alias_index *idx = NULL;
        unsigned line = 7;
        static const char text[] = "alias pci:v*d*sv*sd*bc0Csc03i30* xhci_pci\nalias x\n";

        ASSERT(fd >= 0);
        CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t) sizeof(text) - 1);
        close(fd);
        CHECK_INTEQ(rk_alias_index_new_from_file(path, &idx, &line), -EBADMSG);
        CHECK_INTEQ(line, 2);
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHECK(write(fd, text, 42) == 42);
        close(fd);
        ASSERT(rk_alias_index_new_from_file(path, &idx, &line) == 0);
        CHECK_INTEQ(line, 0);
        CHECK_MODULES(idx, "pci:v00001033d00000194sv00000000sd00000000bc0Csc03i30", "xhci_pci");
        rk_alias_index_free(idx);
        unlink(path);

        CHECK_INTEQ(rk_alias_index_new_from_file("/nonexistent/modules.alias", &idx, &line), -ENOENT);
        CHECK_INTEQ(rk_alias_index_new_from_file("/", &idx, &line), -EISDIR);
        CHECK_INTEQ(rk_alias_index_new_from_file(NULL, &idx, &line), -EINVAL);
}

TEST(normalize) {
        char buf[RK_ALIAS_MAX + 1];
        size_t len = 0;
        static char longer[RK_ALIAS_MAX + 100];

        CHECK_INTEQ(rk_alias_normalize("crypto-twofish-asm", buf, &len), 0);
        CHECK_STREQ(buf, "crypto_twofish_asm");
        CHECK_INTEQ(len, 18);
        CHECK_INTEQ(rk_alias_normalize("a-[0-9]-b", buf, NULL), 0);
        CHECK_STREQ(buf, "a_[0-9]_b");
        CHECK_INTEQ(rk_alias_normalize("a]", buf, NULL), -EINVAL);
        CHECK_INTEQ(rk_alias_normalize("a[b", buf, NULL), -EINVAL);
        CHECK_INTEQ(rk_alias_normalize("[]]", buf, NULL), -EINVAL); /* libkmod ends the set at the first ']' */
        CHECK_INTEQ(rk_alias_normalize(NULL, buf, NULL), -EINVAL);
        /* kept to RK_ALIAS_MAX bytes */
        memset(longer, 'x', sizeof(longer) - 1);
        CHECK_INTEQ(rk_alias_normalize(longer, buf, &len), 0);
        CHECK_INTEQ(len, RK_ALIAS_MAX);
        longer[RK_ALIAS_MAX - 10] = '[';
        CHECK_INTEQ(rk_alias_normalize(longer, buf, &len), -EINVAL);
}

/* libkmod's alias_normalize(), transcribed; buf has room for its overrun,
 * which is reported as -2 */
static int ref_alias_normalize(const char *alias, char *buf) {
        size_t i;

        for (i = 0; i < RK_ALIAS_MAX; i++) {
                const char c = alias[i];
                switch (c) {
                case '-':
                        buf[i] = '_';
                        break;
                case ']':
                        return -EINVAL;
                case '[':
                        while (alias[i] != ']' && alias[i] != '\0') {
                                buf[i] = alias[i];
                                i++;
                        }
                        if (alias[i] != ']')
                                return -EINVAL;
                        if (i >= RK_ALIAS_MAX)
                                return -2;
                        buf[i] = alias[i];
                        break;
                case '\0':
                        goto finish;
                default:
                        buf[i] = c;
                }
        }
finish:
        buf[i] = '\0';
        return 0;
}

TEST(normalize_against_libkmod) {
        static char in[2 * RK_ALIAS_MAX], want[4 * RK_ALIAS_MAX], got[RK_ALIAS_MAX + 1];
        uint64_t st = 0x4e0f3a11ULL;
        unsigned long n = 0;

        for (unsigned k = 0; k < 200000; k++) {
                /* mostly short strings; some around the RK_ALIAS_MAX cut */
                size_t len = k % 50 ? (size_t) (rnd(&st) % 24) : RK_ALIAS_MAX - 8 + (size_t) (rnd(&st) % 16);
                int rw, rg;

                for (size_t i = 0; i < len; i++) {
                        /* long strings: no brackets until near the cut */
                        const char *alpha = len > 100 && i < len - 24 ? "-_a0" : "-_[]a0:";
                        in[i] = alpha[rnd(&st) % strlen(alpha)];
                }
                in[len] = '\0';
                rw = ref_alias_normalize(in, want);
                rg = rk_alias_normalize(in, got, NULL);
                if (rw == -2) {
                        CHECK_INTEQ(rg, -EINVAL);
                } else {
                        CHECK_INTEQ(rg, rw);
                        if (rw == 0 && rg == 0 && strcmp(want, got) != 0) {
                                fprintf(stderr, "normalize \"%.40s\"...: \"%.40s\" != \"%.40s\"\n", in, got, want);
                                rk_test_failed_flag = true;
                        }
                }
                n++;
        }
        printf("# %lu strings normalised like libkmod's alias_normalize\n", n);
}

/* libkmod compares the literal prefix byte for byte: a backslash there is
 * not an escape, while fnmatch treats the rest of the pattern as usual */
TEST(literal_prefix_rules) {
        rk_alias_index *idx = index_of("alias a\\b* m1\n"
                                       "alias c*\\d m2\n"
                                       "alias e\\f m3\n"
                                       "alias exact m4\n"
                                       "alias exact* m5\n");

        ASSERT(idx);
        CHECK_MODULES(idx, "abx", "");
        CHECK_MODULES(idx, "a\\bx", "m1");
        CHECK_MODULES(idx, "cxd", "m2");
        CHECK_MODULES(idx, "cx\\d", "m2"); /* the star takes "x\\" */
        CHECK_MODULES(idx, "cxe", "");
        CHECK_MODULES(idx, "ef", "");
        CHECK_MODULES(idx, "e\\f", "m3");
        CHECK_MODULES(idx, "exact", "m4 m5");
        CHECK_MODULES(idx, "exactly", "m5");
        CHECK_MODULES(idx, "exac", "");
        /* a modalias holding wildcard bytes takes libkmod's literal walk too */
        CHECK_MODULES(idx, "exact*", "m5");
        CHECK_MODULES(idx, "c*\\d", "m2");
        CHECK_MODULES(idx, "]", "");
        CHECK_MODULES(idx, "[", "");
        rk_alias_index_free(idx);
}

/* ---- the reference: libkmod's algorithm, written plainly -------------- */

struct ref_node {
        char *prefix;
        struct ref_node *child[256];
        uint32_t *vals;
        size_t n_vals;
};

static struct ref_node *ref_node_new(const char *prefix) {
        struct ref_node *n = calloc(1, sizeof(*n));
        n->prefix = strdup(prefix);
        return n;
}

static void ref_free(struct ref_node *n) {
        if (!n)
                return;
        for (int c = 0; c < 256; c++)
                ref_free(n->child[c]);
        free(n->prefix);
        free(n->vals);
        free(n);
}

static void ref_add_value(struct ref_node *n, uint32_t v) {
        for (size_t i = 0; i < n->n_vals; i++)
                if (n->vals[i] == v)
                        return;
        n->vals = realloc(n->vals, (n->n_vals + 1) * sizeof(*n->vals));
        n->vals[n->n_vals++] = v;
}

/* depmod's index_insert(): split a node's prefix where the key departs */
static void ref_insert(struct ref_node *node, const char *key, uint32_t v) {
        size_t i = 0;

        for (;;) {
                size_t j;
                for (j = 0; node->prefix[j]; j++) {
                        if (node->prefix[j] != key[i + j]) {
                                struct ref_node *n = calloc(1, sizeof(*n));
                                *n = *node;
                                n->prefix = strdup(node->prefix + j + 1);
                                memset(node->child, 0, sizeof(node->child));
                                node->vals = NULL;
                                node->n_vals = 0;
                                node->child[(unsigned char) node->prefix[j]] = n;
                                node->prefix[j] = '\0';
                                break;
                        }
                }
                i += j;
                if (key[i] == '\0') {
                        ref_add_value(node, v);
                        return;
                }
                if (!node->child[(unsigned char) key[i]]) {
                        struct ref_node *c = ref_node_new(key + i + 1);
                        node->child[(unsigned char) key[i]] = c;
                        ref_add_value(c, v);
                        return;
                }
                node = node->child[(unsigned char) key[i]];
                i++;
        }
}

struct ref_out {
        uint8_t *hit; /* per alias id */
};

/* libkmod's level 3: every pattern below, fnmatch'ed from the wildcard on */
static void ref_all(struct ref_node *n, size_t j, char *buf, size_t blen, const char *subkey, struct ref_out *o) {
        size_t pushed = strlen(n->prefix + j);

        memcpy(buf + blen, n->prefix + j, pushed);
        blen += pushed;
        for (int c = 0; c < 256; c++)
                if (n->child[c]) {
                        buf[blen] = (char) c;
                        ref_all(n->child[c], 0, buf, blen + 1, subkey, o);
                }
        buf[blen] = '\0';
        if (n->n_vals && fnmatch(buf, subkey, 0) == 0)
                for (size_t i = 0; i < n->n_vals; i++)
                        o->hit[n->vals[i]] = 1;
}

/* libkmod's level 2: descend along the key until a wildcard */
static void ref_search(struct ref_node *n, const char *key, struct ref_out *o) {
        static char buf[8192];
        size_t i = 0;

        while (n) {
                size_t j;
                for (j = 0; n->prefix[j]; j++) {
                        char ch = n->prefix[j];
                        if (ch == '*' || ch == '?' || ch == '[') {
                                ref_all(n, j, buf, 0, key + i + j, o);
                                return;
                        }
                        if (ch != key[i + j])
                                return;
                }
                i += j;
                for (const char *w = "*?["; *w; w++)
                        if (n->child[(unsigned char) *w]) {
                                buf[0] = *w;
                                ref_all(n->child[(unsigned char) *w], 0, buf, 1, key + i, o);
                        }
                if (key[i] == '\0') {
                        for (size_t k = 0; k < n->n_vals; k++)
                                o->hit[n->vals[k]] = 1;
                        return;
                }
                n = n->child[(unsigned char) key[i]];
                i++;
        }
}

/* ---- generated alias sets ----------------------------------------------- */

static uint64_t rnd(uint64_t *st) {
        *st ^= *st >> 12;
        *st ^= *st << 25;
        *st ^= *st >> 27;
        return *st * 0x2545F4914F6CDD1DULL;
}

static unsigned pick(uint64_t *st, unsigned n) {
        return (unsigned) (rnd(st) % n);
}

static const char *const prefixes[] = { "usb:v", "pci:v0000", "of:N", "acpi", "hid:b0003g", "x", "", "dmi-" };
static const char *const pieces[] = { "*",    "*",   "?",   "[0-2]", "[!a]", "0",  "1",  "A", "B",  "dc",
                                      "isc0", "ip0", "-",   "_",     "\\",   "\\*", "[]", ":", "vv", "[a-c]x",
                                      "*dc*", "ic03", "C*", "0A", "v046D", "pC52B", "isc01ip01in", "Cqcom,sm8250",
                                      "pC52", "v046" };

/* n_prefixes small makes big groups of patterns sharing a literal prefix */
static void gen_pattern(uint64_t *st, unsigned n_prefixes, char *buf, size_t cap) {
        size_t n = 0;
        const char *pre = prefixes[pick(st, n_prefixes)];
        unsigned k = pick(st, 8);

        n = (size_t) snprintf(buf, cap, "%s", pre);
        while (k--) {
                const char *piece = pieces[pick(st, sizeof(pieces) / sizeof(pieces[0]))];
                if (n + strlen(piece) + 1 >= cap)
                        break;
                strcpy(buf + n, piece);
                n += strlen(piece);
        }
        if (n == 0)
                strcpy(buf, "z");
}

/* a modalias shaped after a pattern, possibly spoilt or holding wildcards */
static void gen_modalias(uint64_t *st, const char *pat, char *buf, size_t cap) {
        size_t o = 0;
        bool keep_wild = pick(st, 8) == 0;

        for (size_t i = 0; pat[i] && o + 8 < cap; i++) {
                char c = pat[i];
                if (!keep_wild && c == '*') {
                        unsigned n = pick(st, 4);
                        while (n--)
                                buf[o++] = "0A1dc:i-_"[pick(st, 9)];
                } else if (!keep_wild && (c == '?' || c == '[')) {
                        buf[o++] = "012abcx"[pick(st, 7)];
                        if (c == '[')
                                while (pat[i + 1] && pat[i + 1] != ']')
                                        i++;
                        if (pat[i + 1] == ']')
                                i++;
                } else {
                        buf[o++] = c;
                }
        }
        switch (pick(st, 6)) {
        case 0:
                if (o)
                        buf[pick(st, (unsigned) o)] = "0A_-*?x"[pick(st, 7)];
                break;
        case 1:
                o -= o ? pick(st, (unsigned) o) : 0;
                break;
        case 2:
                buf[o++] = '0';
                break;
        default:
                break;
        }
        buf[o] = '\0';
}

struct gen_set {
        char text[1 << 18];
        char pats[600][64];
        char mods[600][8];
        size_t n;
};

TEST(random_against_reference) {
        static struct gen_set g;
        uint64_t st = 0x0a11a5e5ULL;
        unsigned long compared = 0, matched = 0, wild = 0, bad_sets = 0;

        for (unsigned set = 0; set < 60; set++) {
                size_t o = 0;
                struct ref_node *root = ref_node_new("");
                rk_alias_index *idx;
                char norm[RK_ALIAS_MAX + 1];

                g.n = 80 + pick(&st, 500);
                for (size_t i = 0; i < g.n; i++) {
                        gen_pattern(&st, 1 + set % (sizeof(prefixes) / sizeof(prefixes[0])), g.pats[i],
                                    sizeof(g.pats[i]));
                        snprintf(g.mods[i], sizeof(g.mods[i]), "m%u", pick(&st, 12));
                        o += (size_t) snprintf(g.text + o, sizeof(g.text) - o, "alias %s %s\n", g.pats[i], g.mods[i]);
                        if (rk_alias_normalize(g.pats[i], norm, NULL) == 0)
                                ref_insert(root, norm, (uint32_t) i);
                }
                idx = index_of(g.text);
                if (!idx) {
                        bad_sets++;
                        ref_free(root);
                        continue;
                }
                for (unsigned q = 0; q < 400; q++) {
                        char key[128];
                        struct ref_out out;
                        struct result want = { 0 }, got = { 0 };
                        uint8_t hit[600] = { 0 };

                        gen_modalias(&st, g.pats[pick(&st, (unsigned) g.n)], key, sizeof(key));
                        out.hit = hit;
                        if (rk_alias_normalize(key, norm, NULL) == 0)
                                ref_search(root, norm, &out);
                        for (size_t i = 0; i < g.n; i++)
                                if (hit[i]) {
                                        char np[RK_ALIAS_MAX + 1];
                                        CHECK(rk_alias_normalize(g.pats[i], np, NULL) == 0);
                                        result_add(&want, g.mods[i], np);
                                }
                        result_sort(&want); /* one per line, repeated lines included */
                        CHECK(rk_alias_index_lookup(idx, key, collect, &got) == (int) got.n);
                        result_sort(&got);
                        bool same = got.n == want.n;
                        for (size_t i = 0; same && i < got.n; i++)
                                same = strcmp(got.items[i], want.items[i]) == 0;
                        if (!same) {
                                fprintf(stderr, "set %u: \"%s\": got %zu, want %zu\n", set, key, got.n, want.n);
                                for (size_t i = 0; i < got.n; i++)
                                        fprintf(stderr, "  got  %s\n", got.items[i]);
                                for (size_t i = 0; i < want.n; i++)
                                        fprintf(stderr, "  want %s\n", want.items[i]);
                                rk_test_failed_flag = true;
                        }
                        compared++;
                        matched += want.n > 0;
                        wild += key[strcspn(key, "*?[")] != '\0';
                        result_clear(&want);
                        result_clear(&got);
                }
                rk_alias_index_free(idx);
                ref_free(root);
        }
        printf("# %lu lookups compared with the reference (%lu matching, %lu with wildcard bytes)\n", compared,
               matched, wild);
        CHECK_INTEQ(bad_sets, 0);
        CHECK(matched > compared / 4);
        CHECK(wild > 1000);
}
