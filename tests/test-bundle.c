/* SPDX-License-Identifier: MIT */
/*
 * Bundles: the sample bundles in tests/data/bundles (good ones of each kind,
 * bad ones with one problem each), real macOS Info.plist files, and bundles
 * built on the fly in a temporary directory for what git cannot hold well
 * (symlinks leaving the bundle, FIFOs, deep nesting, many children).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalogue/bundle.h"
#include "shared/macro.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------- */

static rk_bundle *load(const char *rel, int want, rk_diag *d) {
        rk_bundle *b = NULL;
        int r = rk_bundle_load(rk_test_path(rel), &b, d);
        if (r != want) {
                fprintf(stderr, "%s: rk_bundle_load() = %d, wanted %d\n", rel, r, want);
                if (d)
                        rk_diag_print(d, stderr);
                rk_test_failed_flag = true;
        }
        return b;
}

/* The one diagnostic matching all given parts (NULL: any), or NULL. */
static const rk_diag_item *find(const rk_diag *d, rk_diag_level level, const char *bundle, const char *personality,
                                const char *key, const char *msg) {
        for (size_t i = 0; i < d->n; i++) {
                const rk_diag_item *it = &d->items[i];
                if (it->level == level && (!bundle || streq_ptr(it->bundle, bundle)) &&
                    (!personality || streq_ptr(it->personality, personality)) && (!key || streq_ptr(it->key, key)) &&
                    (!msg || strstr(it->message, msg)))
                        return it;
        }
        return NULL;
}

static void check_diag(const char *file, int line, const rk_diag *d, rk_diag_level level, const char *bundle,
                       const char *personality, const char *key, const char *msg) {
        if (find(d, level, bundle, personality, key, msg))
                return;
        fprintf(stderr, "%s:%d: no %s for bundle %s, personality %s, key %s, '%s' among:\n", file, line,
                rk_diag_level_name(level), bundle ? bundle : "*", personality ? personality : "*", key ? key : "*",
                msg ? msg : "*");
        rk_diag_print(d, stderr);
        rk_test_failed_flag = true;
}

#define CHECK_DIAG(d, level, bundle, personality, key, msg) \
        check_diag(__FILE__, __LINE__, d, level, bundle, personality, key, msg)

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static void rm_rf(const char *dir) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void mkdir_p(const char *path) {
        char buf[4096];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        mkdir(buf, 0755);
                        *p = '/';
                }
        mkdir(buf, 0755);
}

/* Write dir/rel (creating parents) with the given mode. */
static void put(const char *dir, const char *rel, const char *content, mode_t mode) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        *strrchr(path, '/') = 0;
        mkdir_p(path);
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        f = fopen(path, "we");
        if (!f) {
                fprintf(stderr, "cannot write %s\n", path);
                abort();
        }
        fputs(content, f);
        fclose(f);
        chmod(path, mode);
}

static char *tmpdir(void) {
        char *t = strdup("/tmp/rk-test-bundle-XXXXXX");
        if (!t || !mkdtemp(t))
                abort();
        return t;
}

#define PL_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n"
#define PL_TAIL "</dict>\n</plist>\n"
#define PERS(name, provider) \
        "<key>" name "</key><dict><key>IOClass</key><string>C</string><key>IOProviderClass</key><string>" provider \
        "</string></dict>"

static char *info(const char *id, const char *type, const char *exe, const char *extra) {
        char *s = NULL;
        if (asprintf(&s,
                     PL_HEAD "<key>CFBundleIdentifier</key><string>%s</string>\n"
                             "<key>CFBundlePackageType</key><string>%s</string>\n"
                             "<key>CFBundleVersion</key><string>1.0</string>\n"
                             "%s%s%s%s" PL_TAIL,
                     id, type, exe ? "<key>CFBundleExecutable</key><string>" : "", exe ? exe : "",
                     exe ? "</string>\n" : "", extra ? extra : "") < 0)
                abort();
        return s;
}

/* A codeless dext at dir/rel with one personality. */
static void put_dext(const char *dir, const char *rel, const char *id) {
        char p[4096];
        _cleanup_(freep) char *s = info(id, "DEXT", NULL, "<key>IOKitPersonalities</key><dict>" PERS("P", "IOUSBHostDevice") "</dict>");
        snprintf(p, sizeof(p), "%s/Contents/Info.plist", rel);
        put(dir, p, s, 0644);
}

static char *path_in(const char *dir, const char *rel) {
        char *s = NULL;
        if (asprintf(&s, "%s/%s", dir, rel) < 0)
                abort();
        return s;
}

/* ---- good bundles ----------------------------------------------------- */

TEST(good_dext) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/good/GoodDriver.dext", 0, &d);
        ASSERT(b);
        CHECK_INTEQ(d.n, 0);
        CHECK_INTEQ(b->kind, RK_BUNDLE_DEXT);
        CHECK_STREQ(rk_bundle_kind_name(b->kind), "dext");
        CHECK_STREQ(b->identifier, "com.example.driver.GoodDriver");
        CHECK_STREQ(rk_bundle_name(b), "com.example.driver.GoodDriver");
        CHECK_STREQ(b->version, "1.0.0");
        CHECK_STREQ(b->package_type, "DEXT");
        CHECK_STREQ(b->executable, "com.example.driver.GoodDriver");
        CHECK(b->executable_path && strstr(b->executable_path, "/Contents/MacOS/com.example.driver.GoodDriver"));
        CHECK(!b->codeless);
        CHECK(strstr(b->info_path, "GoodDriver.dext/Contents/Info.plist") != NULL);
        CHECK_INTEQ(rk_dict_size(b->personalities), 1);
        CHECK(rk_dict_get(b->personalities, "GoodDriver USB") != NULL);
        CHECK_INTEQ(b->n_children, 0);
        rk_diag_done(&d);
}

TEST(good_kext_with_plugin) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/good/GoodPCI.kext", 0, &d);
        ASSERT(b);
        CHECK_INTEQ(d.n, 0);
        CHECK_INTEQ(b->kind, RK_BUNDLE_KEXT);
        CHECK_STREQ(b->version, "1.2.3");
        ASSERT(b->n_children == 1);
        rk_bundle *c = b->children[0];
        CHECK_STREQ(c->identifier, "com.example.kext.GoodPCI.Ports");
        CHECK_INTEQ(c->kind, RK_BUNDLE_KEXT);
        CHECK(c->codeless);
        CHECK(c->executable == NULL && c->executable_path == NULL);
        /* a child outlives its parent when referenced */
        rk_bundle_ref(c);
        b = rk_bundle_unref(b);
        CHECK(b == NULL);
        CHECK_STREQ(c->identifier, "com.example.kext.GoodPCI.Ports");
        CHECK(rk_bundle_unref(c) == NULL);
        rk_diag_done(&d);
}

TEST(good_codeless_kext) {
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/good/Codeless.kext", 0, NULL);
        ASSERT(b);
        CHECK(b->codeless);
        CHECK_STREQ(b->version, "2.0b3");
        CHECK_INTEQ(rk_dict_size(b->personalities), 1);
}

TEST(good_app_with_children) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/good/ExampleHost.app", 0, &d);
        ASSERT(b);
        CHECK_INTEQ(d.n, 0);
        CHECK_INTEQ(b->kind, RK_BUNDLE_APP);
        CHECK_STREQ(rk_bundle_kind_name(b->kind), "app");
        CHECK(b->personalities == NULL);
        ASSERT(b->n_children == 2);
        /* sorted by directory name */
        CHECK_STREQ(b->children[0]->identifier, "com.example.host.Filter");
        CHECK_INTEQ(b->children[0]->kind, RK_BUNDLE_SYSEXT);
        CHECK_STREQ(rk_bundle_kind_name(b->children[0]->kind), "systemextension");
        CHECK_STREQ(b->children[1]->identifier, "com.example.host.KbdDriver");
        CHECK_INTEQ(b->children[1]->kind, RK_BUNDLE_DEXT);
        CHECK_STREQ(b->children[1]->version, "3");
        CHECK_INTEQ(rk_dict_size(b->children[1]->personalities), 1);
        rk_diag_done(&d);
}

TEST(real_macos_plists) {
        static const char *const files[] = {
                "tests/data/macos/IntelMausi.kext-Info.plist",
                "tests/data/macos/IntelMausi.kext-Info.binary.plist",
                "tests/data/macos/IntelBluetoothFirmware.kext-Info.plist",
                "tests/data/macos/USBPorts.kext-Info.plist",
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                rk_diag d;
                rk_diag_init(&d);
                _cleanup_(rk_bundle_unrefp) rk_bundle *b = load(files[i], 0, &d);
                CHECK(b && b->kind == RK_BUNDLE_PLIST);
                CHECK_INTEQ(d.n, 0);
                CHECK(b && rk_dict_size(b->personalities) > 0);
                rk_diag_done(&d);
        }
        _cleanup_(rk_bundle_unrefp) rk_bundle *u = load("tests/data/macos/USBPorts.kext-Info.plist", 0, NULL);
        CHECK(u && u->codeless);
        _cleanup_(rk_bundle_unrefp) rk_bundle *m = load("tests/data/macos/IntelMausi.kext-Info.plist", 0, NULL);
        CHECK(m && !m->codeless && streq_ptr(m->executable, "IntelMausi") && !m->executable_path);
}

TEST(real_macos_in_a_bundle) {
        _cleanup_(freep) char *dir = tmpdir(), *kext = path_in(dir, "IntelMausi.kext");
        FILE *in = fopen(rk_test_path("tests/data/macos/IntelMausi.kext-Info.plist"), "re");
        char buf[8192];
        size_t n;
        rk_diag d;

        ASSERT(in);
        n = fread(buf, 1, sizeof(buf) - 1, in);
        fclose(in);
        buf[n] = 0;
        put(dir, "IntelMausi.kext/Contents/Info.plist", buf, 0644);
        put(dir, "IntelMausi.kext/Contents/MacOS/IntelMausi", "\x7f" "ELF", 0644);
        rk_diag_init(&d);
        rk_bundle *b = NULL;
        CHECK_INTEQ(rk_bundle_load(kext, &b, &d), 0);
        CHECK_INTEQ(d.n, 0);
        CHECK(b && b->executable_path);
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(template_warns) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b =
                load("tests/data/macos/Karabiner-DriverKit-VirtualHIDDevice.dext-Info.plist.in", 0, &d);
        ASSERT(b);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_ERROR), 0);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_WARNING), 8);
        CHECK(b->identifier == NULL); /* named by its path */
        CHECK_DIAG(&d, RK_DIAG_WARNING, NULL, NULL, "CFBundleIdentifier", "'$(PRODUCT_BUNDLE_IDENTIFIER)'");
        CHECK_DIAG(&d, RK_DIAG_WARNING, NULL, NULL, "CFBundleVersion", "unexpanded build variable '@VERSION@'");
        CHECK_DIAG(&d, RK_DIAG_WARNING, NULL, "org_pqrs_Karabiner_DriverKit_VirtualHIDKeyboard", "CFBundleIdentifier",
                   "unexpanded build variable");
        rk_diag_done(&d);
}

/* ---- bad samples: one problem each ------------------------------------ */

TEST(bad_package_type) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/Mismatch.dext", -EBADMSG, &d);
        CHECK(b != NULL); /* still read, so lint goes on */
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_ERROR), 1);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.bad.Mismatch", NULL, "CFBundlePackageType",
                   "'KEXT' does not match the directory suffix .dext (expected 'DEXT')");
        rk_diag_done(&d);
}

TEST(bad_version) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/BadVersion.kext", -EBADMSG, &d);
        CHECK(b != NULL);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_ERROR), 1);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.bad.BadVersion", NULL, "CFBundleVersion",
                   "'1.2.3.4' is not a valid kext version");
        rk_diag_done(&d);
}

TEST(bad_missing_executable) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/MissingExec.dext", -EBADMSG, &d);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.bad.MissingExec", NULL, "CFBundleExecutable",
                   "Contents/MacOS/MissingExec does not exist");
        CHECK(b && b->executable_path == NULL);
        rk_diag_done(&d);
}

TEST(bad_codeless_without_personalities) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/Codeless.dext", -EBADMSG, &d);
        CHECK(b != NULL);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.bad.Codeless", NULL, "CFBundleExecutable",
                   "a codeless dext must carry personalities");
        rk_diag_done(&d);
}

TEST(bad_personalities) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/BadPersonality.kext", -EBADMSG, &d);
        CHECK(b != NULL);
        /* reported by bundle.c */
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.bad.BadPersonality", "NotADict", NULL,
                   "a personality must be a dictionary, not a string");
        /* reported by rk_personality_validate(), called for every personality */
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.bad.BadPersonality", "NoProvider", "IOProviderClass", NULL);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.bad.BadPersonality", "NoProvider", "IOProbeScore", NULL);
        CHECK(!find(&d, RK_DIAG_ERROR, NULL, "Fine", NULL, NULL));
        for (size_t i = 0; i < d.n; i++)
                CHECK(d.items[i].file && strstr(d.items[i].file, "BadPersonality.kext/Contents/Info.plist"));
        rk_diag_done(&d);
}

TEST(bad_flat_layout) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/Flat.dext", -EBADMSG, &d);
        CHECK(b == NULL);
        CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, NULL, "flat iOS layout) is not supported");
        CHECK(d.n == 1 && strstr(d.items[0].bundle, "Flat.dext"));
        rk_diag_done(&d);
}

TEST(bad_malformed_plist) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/Malformed.kext", -EBADMSG, &d);
        CHECK(b == NULL);
        ASSERT(d.n == 1);
        CHECK_INTEQ(d.items[0].line, 12);
        CHECK_INTEQ(d.items[0].column, 4);
        CHECK_STREQ(d.items[0].key, "IOKitPersonalities.P.IOProbeScore");
        CHECK(strstr(d.items[0].message, "invalid integer '12abc'") != NULL);
        rk_diag_done(&d);
}

TEST(bad_child_named) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/BrokenChild.app", -EBADMSG, &d);
        ASSERT(b);
        CHECK_INTEQ(b->n_children, 1);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_ERROR), 1);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.bad.BrokenChild.Driver", NULL, "CFBundleVersion",
                   "'1.x' is not a valid bundle version");
        rk_diag_done(&d);
}

TEST(bad_types) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = load("tests/data/bundles/bad/WrongTypes.kext", -EBADMSG, &d);
        ASSERT(b);
        CHECK(b->identifier == NULL);
        CHECK(strstr(rk_bundle_name(b), "WrongTypes.kext") != NULL);
        CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, "CFBundleIdentifier", "it contains white space");
        CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, "CFBundleVersion", "must be a string, not an array");
        CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, "CFBundleExecutable", "must be a string, not an integer");
        CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, "IOKitPersonalities",
                   "must be a dictionary of personalities, not an array");
        rk_diag_done(&d);
}

/* ---- built on the fly ------------------------------------------------- */

typedef struct plist_case {
        const char *type, *extra, *key, *msg; /* msg NULL: no error */
} plist_case;

static const plist_case plist_cases[] = {
        { "KEXT", "<key>CFBundleVersion</key><string>1.0.0d12</string>", NULL, NULL },
        { "KEXT", "<key>CFBundleVersion</key><string>9999.99.99fc999</string>", NULL, NULL },
        { "KEXT", "<key>CFBundleVersion</key><string>10000</string>", "CFBundleVersion", "not a valid kext version" },
        { "KEXT", "<key>CFBundleVersion</key><string>1.100</string>", "CFBundleVersion", "not a valid kext version" },
        { "KEXT", "<key>CFBundleVersion</key><string>1.0x1</string>", "CFBundleVersion", "not a valid kext version" },
        { "KEXT", "<key>CFBundleVersion</key><string>1.0b</string>", "CFBundleVersion", "not a valid kext version" },
        { "KEXT", "<key>CFBundleVersion</key><string></string>", "CFBundleVersion", "not a valid kext version" },
        { "DEXT", "<key>CFBundleVersion</key><string>2026.05.05</string>", NULL, NULL },
        { "DEXT", "<key>CFBundleVersion</key><string>1.0b1</string>", "CFBundleVersion", "not a valid bundle version" },
        { "DEXT", "<key>CFBundleVersion</key><string>1..2</string>", "CFBundleVersion", "not a valid bundle version" },
        { "DEXT", "<key>CFBundleVersion</key><integer>1</integer>", "CFBundleVersion", "must be a string, not an integer" },
        { "DEXT", "", "CFBundleVersion", "missing" },
        { "DEXT", "<key>CFBundleVersion</key><string>1</string><key>CFBundleExecutable</key><string>../x</string>",
          "CFBundleExecutable", "is not a file name" },
        { "DEXT", "<key>CFBundleVersion</key><string>1</string><key>CFBundleExecutable</key><string>..</string>",
          "CFBundleExecutable", "is not a file name" },
        { "DEXT", "<key>CFBundleVersion</key><string>1</string><key>CFBundleExecutable</key><string></string>",
          "CFBundleExecutable", "is not a file name" },
        { "DEXT", "<key>CFBundleVersion</key><string>1</string><key>IOKitPersonalities</key><dict/>",
          "CFBundleExecutable", "a codeless dext must carry personalities" },
        { "APPL", "<key>CFBundleVersion</key><string>1</string>", "CFBundleExecutable",
          "an app bundle needs an executable" },
        { "BNDL", "<key>CFBundleVersion</key><string>1</string>", NULL, NULL },
        { "KEXT", "<key>CFBundleVersion</key><string>1</string><key>OSBundleLibraries</key><array/>",
          "OSBundleLibraries", "must be a dictionary" },
        { "KEXT",
          "<key>CFBundleVersion</key><string>1</string><key>OSBundleLibraries</key><dict>"
          "<key>com.apple.kpi.iokit</key><integer>8</integer></dict>",
          "OSBundleLibraries.com.apple.kpi.iokit", "must be a version string, not an integer" },
};

static const char *const identifier_cases[][2] = {
        { "com.example.ok-id_2", NULL },
        { "com.example/evil", "contains '/'" },
        { "com.example..x", "empty component" },
        { ".com.example", "empty component" },
        { "com.example.", "empty component" },
        { "com.exa mple", "white space" },
        { "com.ex\xc3\xa4mple", "only letters, digits" },
        { "", "it is empty" },
};

static void lint_plist(const char *doc, const char *key, const char *msg) {
        _cleanup_(freep) char *dir = tmpdir(), *p = path_in(dir, "Info.plist");
        rk_bundle *b = NULL;
        rk_diag d;

        put(dir, "Info.plist", doc, 0644);
        rk_diag_init(&d);
        int r = rk_bundle_load(p, &b, &d);
        if (msg) {
                CHECK_INTEQ(r, -EBADMSG);
                CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, key, msg);
        } else if (r != 0) {
                fprintf(stderr, "unexpected errors for %s\n", doc);
                rk_diag_print(&d, stderr);
                rk_test_failed_flag = true;
        }
        CHECK(b != NULL);
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(plist_rules) {
        for (size_t i = 0; i < ELEMENTSOF(plist_cases); i++) {
                const plist_case *c = &plist_cases[i];
                _cleanup_(freep) char *doc = NULL;
                if (asprintf(&doc,
                             PL_HEAD "<key>CFBundleIdentifier</key><string>com.example.t</string>"
                                     "<key>CFBundlePackageType</key><string>%s</string>%s"
                                     "<key>IOKitPersonalities</key><dict>" PERS("P", "IOResources") "</dict>" PL_TAIL,
                             c->type, c->extra) < 0)
                        abort();
                /* the empty-personalities case must not get the extra personality */
                if (strstr(c->extra, "<key>IOKitPersonalities</key><dict/>"))
                        *strstr(doc, "<key>IOKitPersonalities</key><dict><key>P") = 0, strcat(doc, PL_TAIL);
                lint_plist(doc, c->key, c->msg);
        }
}

TEST(identifier_rules) {
        for (size_t i = 0; i < ELEMENTSOF(identifier_cases); i++) {
                _cleanup_(freep) char *doc = info(identifier_cases[i][0], "DEXT", "x",
                                                  "<key>IOKitPersonalities</key><dict>" PERS("P", "IOResources") "</dict>");
                lint_plist(doc, "CFBundleIdentifier", identifier_cases[i][1]);
        }
        /* a kext identifier is limited to 63 characters; a dext's is not */
        _cleanup_(freep) char *dir = tmpdir(), *kext = path_in(dir, "Long.kext"), *dext = path_in(dir, "Long.dext");
        char id[80];
        memset(id, 'a', 70);
        memcpy(id, "com.", 4);
        id[70] = 0;
        _cleanup_(freep) char *k = info(id, "KEXT", NULL, "<key>IOKitPersonalities</key><dict>" PERS("P", "IOResources") "</dict>");
        _cleanup_(freep) char *dx = info(id, "DEXT", NULL, "<key>IOKitPersonalities</key><dict>" PERS("P", "IOResources") "</dict>");
        put(dir, "Long.kext/Contents/Info.plist", k, 0644);
        put(dir, "Long.dext/Contents/Info.plist", dx, 0644);
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(kext, &b, &d), -EBADMSG);
        CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, "CFBundleIdentifier", "at most 63 characters");
        b = rk_bundle_unref(b);
        CHECK_INTEQ(rk_bundle_load(dext, &b, NULL), 0);
        b = rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(root_not_a_dict) {
        lint_plist("<array><string>x</string></array>", NULL, "the Info.plist root must be a dictionary, not an array");
}

TEST(missing_identifier_and_type) {
        _cleanup_(freep) char *dir = tmpdir(), *dext = path_in(dir, "X.dext");
        put(dir, "X.dext/Contents/Info.plist", PL_HEAD "<key>CFBundleVersion</key><string>1</string>" PL_TAIL, 0644);
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(dext, &b, &d), -EBADMSG);
        CHECK_DIAG(&d, RK_DIAG_ERROR, dext, NULL, "CFBundleIdentifier", "missing");
        CHECK_DIAG(&d, RK_DIAG_ERROR, dext, NULL, "CFBundlePackageType", "missing");
        CHECK_DIAG(&d, RK_DIAG_ERROR, dext, NULL, "CFBundleExecutable", "codeless dext must carry personalities");
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(symlinked_info_plist_escaping) {
        _cleanup_(freep) char *dir = tmpdir(), *kext = path_in(dir, "Esc.kext"), *target = path_in(dir, "outside.plist"),
                             *link = path_in(dir, "Esc.kext/Contents/Info.plist");
        _cleanup_(freep) char *doc = info("com.example.esc", "KEXT", NULL,
                                          "<key>IOKitPersonalities</key><dict>" PERS("P", "IOResources") "</dict>");
        put(dir, "outside.plist", doc, 0644);
        mkdir_p(kext);
        mkdir_p(link); /* makes .../Info.plist a directory: replace it with the link */
        rmdir(link);
        ASSERT(symlink(target, link) == 0);
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(kext, &b, &d), -EBADMSG);
        CHECK(b == NULL);
        CHECK_DIAG(&d, RK_DIAG_ERROR, kext, NULL, NULL, "Contents/Info.plist leads outside the bundle");
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(symlink_inside_bundle_allowed) {
        _cleanup_(freep) char *dir = tmpdir(), *kext = path_in(dir, "In.kext");
        _cleanup_(freep) char *doc = info("com.example.in", "KEXT", "In",
                                          "<key>OSBundleLibraries</key><dict/>"
                                          "<key>IOKitPersonalities</key><dict>" PERS("P", "IOResources") "</dict>");
        put(dir, "In.kext/Contents/Resources/Real.plist", doc, 0644);
        put(dir, "In.kext/Contents/Resources/in.so", "ELF", 0644);
        _cleanup_(freep) char *l1 = path_in(dir, "In.kext/Contents/Info.plist");
        _cleanup_(freep) char *l2 = path_in(dir, "In.kext/Contents/MacOS/In");
        _cleanup_(freep) char *macos = path_in(dir, "In.kext/Contents/MacOS");
        mkdir_p(macos);
        ASSERT(symlink("Resources/Real.plist", l1) == 0);
        ASSERT(symlink("../Resources/in.so", l2) == 0);
        rk_bundle *b = NULL;
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(kext, &b, &d), 0);
        rk_diag_print(&d, stderr);
        CHECK(b && b->executable_path);
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(symlinked_executable_escaping) {
        _cleanup_(freep) char *dir = tmpdir(), *dext = path_in(dir, "E.dext"), *exe = path_in(dir, "E.dext/Contents/MacOS/E");
        _cleanup_(freep) char *doc = info("com.example.e", "DEXT", "E", NULL);
        put(dir, "E.dext/Contents/Info.plist", doc, 0644);
        _cleanup_(freep) char *macos = path_in(dir, "E.dext/Contents/MacOS");
        mkdir_p(macos);
        ASSERT(symlink("/bin/sh", exe) == 0);
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(dext, &b, &d), -EBADMSG);
        CHECK(b && !b->executable_path);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.e", NULL, "CFBundleExecutable",
                   "Contents/MacOS/E leads outside the bundle");
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(executable_not_regular_or_not_executable) {
        _cleanup_(freep) char *dir = tmpdir(), *dext = path_in(dir, "E.dext"), *sys = path_in(dir, "S.systemextension");
        _cleanup_(freep) char *doc = info("com.example.e", "DEXT", "E", NULL);
        _cleanup_(freep) char *doc2 = info("com.example.s", "SYSX", "S", NULL);
        put(dir, "E.dext/Contents/Info.plist", doc, 0644);
        put(dir, "E.dext/Contents/MacOS/E/file", "", 0644);
        put(dir, "S.systemextension/Contents/Info.plist", doc2, 0644);
        put(dir, "S.systemextension/Contents/MacOS/S", "", 0644);
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(dext, &b, &d), -EBADMSG);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.e", NULL, "CFBundleExecutable", "is not a regular file");
        b = rk_bundle_unref(b);
        CHECK_INTEQ(rk_bundle_load(sys, &b, &d), 0);
        CHECK_DIAG(&d, RK_DIAG_WARNING, "com.example.s", NULL, "CFBundleExecutable", "is not executable (mode 644)");
        CHECK(b && b->kind == RK_BUNDLE_SYSEXT && !b->codeless);
        b = rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(fifo_info_plist_does_not_block) {
        _cleanup_(freep) char *dir = tmpdir(), *dext = path_in(dir, "F.dext"), *fifo = path_in(dir, "F.dext/Contents/Info.plist");
        _cleanup_(freep) char *contents = path_in(dir, "F.dext/Contents");
        mkdir_p(contents);
        ASSERT(mkfifo(fifo, 0644) == 0);
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(dext, &b, &d), -EBADMSG);
        CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, NULL, "Info.plist is not a regular file");
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(child_symlink_refused) {
        _cleanup_(freep) char *dir = tmpdir(), *app = path_in(dir, "A.app");
        _cleanup_(freep) char *doc = info("com.example.a", "APPL", "A", NULL);
        put(dir, "A.app/Contents/Info.plist", doc, 0755);
        put(dir, "A.app/Contents/MacOS/A", "", 0755);
        put_dext(dir, "Elsewhere.dext", "com.example.elsewhere");
        put_dext(dir, "A.app/Contents/Library/SystemExtensions/In.dext", "com.example.a.in");
        put(dir, "A.app/Contents/Library/SystemExtensions/notes.txt", "", 0644);
        _cleanup_(freep) char *target = path_in(dir, "Elsewhere.dext"),
                             *link = path_in(dir, "A.app/Contents/Library/SystemExtensions/Out.dext");
        ASSERT(symlink(target, link) == 0);
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(app, &b, &d), -EBADMSG);
        ASSERT(b);
        CHECK_INTEQ(b->n_children, 1);
        CHECK_STREQ(b->children[0]->identifier, "com.example.a.in");
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.a", NULL, NULL, "SystemExtensions/Out.dext is a symbolic link: refused");
        CHECK_DIAG(&d, RK_DIAG_WARNING, "com.example.a", NULL, NULL, "notes.txt is not a .dext or .systemextension bundle");
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(nesting_bounded) {
        _cleanup_(freep) char *dir = tmpdir(), *top = path_in(dir, "A.kext");
        const char *levels[] = { "A.kext", "A.kext/Contents/PlugIns/B.kext",
                                 "A.kext/Contents/PlugIns/B.kext/Contents/PlugIns/C.kext",
                                 "A.kext/Contents/PlugIns/B.kext/Contents/PlugIns/C.kext/Contents/PlugIns/D.kext" };
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                char id[64], p[512];
                snprintf(id, sizeof(id), "com.example.level%zu", i);
                _cleanup_(freep) char *doc = info(id, "KEXT", NULL,
                                                  "<key>IOKitPersonalities</key><dict>" PERS("P", "IOResources") "</dict>");
                snprintf(p, sizeof(p), "%s/Contents/Info.plist", levels[i]);
                put(dir, p, doc, 0644);
        }
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(top, &b, &d), -EBADMSG);
        ASSERT(b && b->n_children == 1 && b->children[0]->n_children == 1);
        CHECK_INTEQ(b->children[0]->children[0]->n_children, 0);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.level2", NULL, NULL, "nested deeper than 3 levels");
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(children_bounded) {
        _cleanup_(freep) char *dir = tmpdir(), *app = path_in(dir, "Many.app");
        _cleanup_(freep) char *doc = info("com.example.many", "APPL", "Many", NULL);
        put(dir, "Many.app/Contents/Info.plist", doc, 0644);
        put(dir, "Many.app/Contents/MacOS/Many", "", 0755);
        for (int i = 0; i < 70; i++) {
                char rel[256], id[64];
                snprintf(rel, sizeof(rel), "Many.app/Contents/Library/SystemExtensions/D%02d.dext", i);
                snprintf(id, sizeof(id), "com.example.many.d%02d", i);
                put_dext(dir, rel, id);
        }
        rk_diag d;
        rk_bundle *b = NULL;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load(app, &b, &d), -EBADMSG);
        CHECK(b && b->n_children == 64);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "com.example.many", NULL, NULL, "more than 64 entries");
        rk_bundle_unref(b);
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(unreadable_paths) {
        rk_diag d;
        rk_bundle *b = (rk_bundle *) 1;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_bundle_load("/nonexistent/X.dext", &b, &d), -ENOENT);
        CHECK(b == NULL);
        CHECK_DIAG(&d, RK_DIAG_ERROR, "/nonexistent/X.dext", NULL, NULL, "cannot open");
        CHECK_INTEQ(rk_bundle_load(rk_test_path("tests/data/bundles"), &b, &d), -EBADMSG);
        CHECK_DIAG(&d, RK_DIAG_ERROR, NULL, NULL, NULL, "not a bundle");
        CHECK_INTEQ(rk_bundle_load(NULL, &b, &d), -EINVAL);
        CHECK_INTEQ(rk_bundle_load("x", NULL, &d), -EINVAL);
        _cleanup_(freep) char *dir = tmpdir(), *empty = path_in(dir, "Empty.kext");
        mkdir_p(empty);
        CHECK_INTEQ(rk_bundle_load(empty, &b, &d), -EBADMSG);
        CHECK_DIAG(&d, RK_DIAG_ERROR, empty, NULL, NULL, "missing Contents/Info.plist");
        rk_diag_done(&d);
        rm_rf(dir);
}

TEST(trailing_slash_and_helpers) {
        _cleanup_(freep) char *p = strdup(rk_test_path("tests/data/bundles/good/Codeless.kext/"));
        rk_bundle *b = NULL;
        CHECK_INTEQ(rk_bundle_load(p, &b, NULL), 0);
        CHECK(b && b->kind == RK_BUNDLE_KEXT);
        CHECK(rk_bundle_ref(b) == b);
        CHECK(rk_bundle_unref(b) == NULL);
        CHECK(rk_bundle_unref(b) == NULL);
        CHECK(rk_bundle_unref(NULL) == NULL);
        CHECK(rk_bundle_name(NULL) == NULL);
        CHECK_STREQ(rk_bundle_kind_name(RK_BUNDLE_PLIST), "plist");
        CHECK_STREQ(rk_bundle_kind_name(_RK_BUNDLE_KIND_MAX), "unknown");
}
