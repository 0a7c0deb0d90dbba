/* SPDX-License-Identifier: MIT */
/*
 * Tests for the matching engine (match.c) and ranking/categories
 * (rk_match_index_run): every generic IOKit key, the failure explanations,
 * IOParentMatch, categories and probe-score order, and that configuration
 * keys never affect matching.
 */
#include <stdlib.h>

#include "match/index.h"
#include "test.h"
#include "value/plist.h"

/* Parse a plist fragment: "<dict>...</dict>" */
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

static rk_personality *pers(const char *bundle, const char *name, const char *xml) {
        _cleanup_(rk_value_unrefp) rk_value *d = P(xml);
        rk_personality *p = NULL;
        rk_diag diag;
        rk_diag_init(&diag);
        if (rk_personality_new(d, bundle, name, "test", &p, &diag) < 0) {
                rk_diag_print(&diag, stderr);
                abort();
        }
        rk_diag_done(&diag);
        return p;
}

static rk_match_provider_owned *prov(const char *xml) {
        _cleanup_(rk_value_unrefp) rk_value *d = P(xml);
        rk_match_provider_owned *o = NULL;
        rk_diag diag;
        rk_diag_init(&diag);
        if (rk_match_provider_new_from_dict(d, "test", &o, &diag) < 0) {
                rk_diag_print(&diag, stderr);
                abort();
        }
        rk_diag_done(&diag);
        return o;
}

/* match one personality; returns the score or -1 with why */
static long long m1(const char *pxml, const char *dxml, char *why) {
        _cleanup_(rk_personality_unrefp) rk_personality *p = pers("com.test", "P", pxml);
        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *o = prov(dxml);
        int64_t score = 0;
        char w[RK_MATCH_WHY_MAX] = "";
        bool ok = rk_match_personality(p, rk_match_provider_get(o), NULL, &score, w, sizeof(w));
        if (why)
                strcpy(why, w);
        return ok ? score : -1;
}

#define CHAIN(...) "<key>IOClassChain</key><array>" __VA_ARGS__ "</array>"
#define S(x) "<string>" x "</string>"
#define K(x) "<key>" x "</key>"
#define I(x) "<integer>" x "</integer>"
#define BASE(cls) K("IOClass") S("Drv") K("IOProviderClass") S(cls)

static const char *const dev_plain =
        "<dict>" CHAIN(S("MyNub") S("IOService")) K("IOName") S("widget") K("IOCompatibleNames")
        "<array>" S("acme,widget-2") S("acme,widget") "</array>" K("Color") S("blue") K("Size") I("3")
        K("RKModalias") S("platform:acme-widget") "</dict>";

TEST(provider_class_against_chain) {
        char why[RK_MATCH_WHY_MAX];
        CHECK(m1("<dict>" BASE("MyNub") "</dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") "</dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("Other") "</dict>", dev_plain, why) == -1);
        CHECK_STREQ(why, "IOProviderClass");
}

TEST(name_match_name_and_compatible) {
        char why[RK_MATCH_WHY_MAX];
        CHECK(m1("<dict>" BASE("IOService") K("IONameMatch") S("widget") "</dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("IONameMatch") S("acme,widget") "</dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("IONameMatch") "<array>" S("nope") S("acme,widget-2") "</array></dict>",
                 dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("IONameMatch") S("widge") "</dict>", dev_plain, why) == -1);
        CHECK_STREQ(why, "IONameMatch");
}

TEST(property_match_dict_and_array) {
        char why[RK_MATCH_WHY_MAX];
        CHECK(m1("<dict>" BASE("IOService") K("IOPropertyMatch") "<dict>" K("Color") S("blue") K("Size") I("3")
                 "</dict></dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("IOPropertyMatch") "<dict>" K("Color") S("red") "</dict></dict>",
                 dev_plain, why) == -1);
        CHECK_STREQ(why, "IOPropertyMatch");
        /* an integer never equals a string, as OSNumber vs OSString */
        CHECK(m1("<dict>" BASE("IOService") K("IOPropertyMatch") "<dict>" K("Size") S("3") "</dict></dict>",
                 dev_plain, NULL) == -1);
        /* array: one of the dictionaries must match */
        CHECK(m1("<dict>" BASE("IOService") K("IOPropertyMatch") "<array><dict>" K("Color") S("red")
                 "</dict><dict>" K("Color") S("blue") "</dict></array></dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("IOPropertyMatch") "<array><dict>" K("Color") S("red")
                 "</dict><dict>" K("Missing") S("blue") "</dict></array></dict>", dev_plain, why) == -1);
        CHECK_STREQ(why, "IOPropertyMatch");
}

TEST(property_exists_match_any) {
        char why[RK_MATCH_WHY_MAX];
        CHECK(m1("<dict>" BASE("IOService") K("IOPropertyExistsMatch") S("Color") "</dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("IOPropertyExistsMatch") "<array>" S("Nope") S("Size")
                 "</array></dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("IOPropertyExistsMatch") S("Nope") "</dict>", dev_plain, why) == -1);
        CHECK_STREQ(why, "IOPropertyExistsMatch");
}

TEST(resource_match_needs_published_resources) {
        _cleanup_(rk_personality_unrefp) rk_personality *p =
                pers("b", "p", "<dict>" BASE("IOService") K("IOResourceMatch") "<array>" S("IOKit") S("IOBSD")
                               "</array></dict>");
        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *o = prov(dev_plain);
        _cleanup_(rk_value_unrefp) rk_value *some = P("<dict>" K("IOKit") "<true/></dict>");
        _cleanup_(rk_value_unrefp) rk_value *all = P("<dict>" K("IOKit") "<true/>" K("IOBSD") S("x") "</dict>");
        char why[RK_MATCH_WHY_MAX];
        int64_t score;
        CHECK(!rk_match_personality(p, rk_match_provider_get(o), NULL, &score, why, sizeof(why)));
        CHECK_STREQ(why, "IOResourceMatch");
        CHECK(!rk_match_personality(p, rk_match_provider_get(o), some, &score, why, sizeof(why)));
        CHECK(rk_match_personality(p, rk_match_provider_get(o), all, &score, why, sizeof(why)));
}

TEST(modalias_globs) {
        char why[RK_MATCH_WHY_MAX];
        CHECK(m1("<dict>" BASE("IOService") K("RKModaliasMatch") S("platform:acme-*") "</dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("RKModaliasMatch") "<array>" S("usb:*") S("platform:acme-widge?")
                 "</array></dict>", dev_plain, NULL) == 0);
        CHECK(m1("<dict>" BASE("IOService") K("RKModaliasMatch") S("platform:acme-[xyz]*") "</dict>", dev_plain,
                 why) == -1);
        CHECK_STREQ(why, "RKModaliasMatch");
        /* no modalias at all: never matches */
        CHECK(m1("<dict>" BASE("IOService") K("RKModaliasMatch") S("*") "</dict>",
                 "<dict>" CHAIN(S("IOService")) "</dict>", why) == -1);
}

TEST(probe_score_and_config_keys) {
        /* configuration keys do not take part in matching */
        CHECK(m1("<dict>" BASE("IOService") K("IOProbeScore") I("1234") K("Color") S("red") K("MyTunable")
                 I("99") "</dict>", dev_plain, NULL) == 1234);
        CHECK(m1("<dict>" BASE("IOService") K("IOProbeScore") I("-7") "</dict>", dev_plain, NULL) == -7);
}

static const char *const dev_child =
        "<dict>" CHAIN(S("Leaf") S("IOService")) K("IOName") S("leaf")
        K("IOParent") "<dict>" CHAIN(S("MidNub") S("IOService")) K("IOName") S("mid") K("Bus") S("spi")
        K("IOParent") "<dict>" CHAIN(S("RootNub") S("IOService")) K("IOName") S("root") K("Vendor") S("acme")
        "</dict></dict></dict>";

TEST(parent_match_any_ancestor_and_explained) {
        char why[RK_MATCH_WHY_MAX];
        CHECK(m1("<dict>" BASE("Leaf") K("IOParentMatch") "<dict>" K("IOProviderClass") S("MidNub") "</dict></dict>",
                 dev_child, NULL) == 0);
        CHECK(m1("<dict>" BASE("Leaf") K("IOParentMatch") "<dict>" K("IOPropertyMatch") "<dict>" K("Vendor")
                 S("acme") "</dict></dict></dict>", dev_child, NULL) == 0); /* grandparent */
        CHECK(m1("<dict>" BASE("Leaf") K("IOParentMatch") "<dict>" K("IONameMatch") S("nobody") "</dict></dict>",
                 dev_child, why) == -1);
        CHECK_STREQ(why, "IOParentMatch.IONameMatch");
        CHECK(m1("<dict>" BASE("Leaf") K("IOParentMatch") "<dict>" K("IOProviderClass") S("MidNub")
                 K("IOParentMatch") "<dict>" K("IONameMatch") S("nobody") "</dict></dict></dict>", dev_child,
                 why) == -1);
        CHECK_STREQ(why, "IOParentMatch.IOParentMatch.IONameMatch");
        /* no parent at all */
        CHECK(m1("<dict>" BASE("IOService") K("IOParentMatch") "<dict>" K("IONameMatch") S("x") "</dict></dict>",
                 dev_plain, why) == -1);
        CHECK_STREQ(why, "IOParentMatch");
}

TEST(validation_names_keys) {
        static const struct {
                const char *xml, *key;
        } bad[] = {
                { "<dict>" K("IOClass") S("D") "</dict>", "IOProviderClass" },
                { "<dict>" K("IOProviderClass") S("X") "</dict>", "IOClass" },
                { "<dict>" BASE("X") K("IOProbeScore") S("10") "</dict>", "IOProbeScore" },
                { "<dict>" BASE("X") K("IONameMatch") "<array/></dict>", "IONameMatch" },
                { "<dict>" BASE("X") K("IONameMatch") "<array>" I("1") "</array></dict>", "IONameMatch" },
                { "<dict>" BASE("X") K("IOPropertyMatch") S("x") "</dict>", "IOPropertyMatch" },
                { "<dict>" BASE("X") K("IOPropertyMatch") "<array>" S("x") "</array></dict>", "IOPropertyMatch" },
                { "<dict>" BASE("X") K("IOMatchCategory") I("3") "</dict>", "IOMatchCategory" },
                { "<dict>" BASE("X") K("IOResourceMatch") "<dict/></dict>", "IOResourceMatch" },
                { "<dict>" BASE("X") K("RKModaliasMatch") S("usb:v[12") "</dict>", "RKModaliasMatch" },
                { "<dict>" BASE("X") K("IOParentMatch") S("x") "</dict>", "IOParentMatch" },
                { "<dict>" BASE("X") K("IOParentMatch") "<dict>" K("IONameMatch") I("1") "</dict></dict>",
                  "IOParentMatch.IONameMatch" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(rk_value_unrefp) rk_value *d = P(bad[i].xml);
                rk_where w = { .file = "f.plist", .bundle = "com.b", .personality = "Pers" };
                rk_diag diag;
                rk_diag_init(&diag);
                CHECK(rk_personality_validate(d, &w, &diag) >= 1);
                ASSERT(diag.n >= 1);
                CHECK_STREQ(diag.items[0].key, bad[i].key);
                CHECK_STREQ(diag.items[0].bundle, "com.b");
                CHECK_STREQ(diag.items[0].personality, "Pers");
                rk_diag_done(&diag);
        }
}

static rk_match_index *index_of(rk_personality **ps, size_t n) {
        rk_match_index *idx = NULL;
        if (rk_match_index_new(&idx) < 0)
                abort();
        for (size_t i = 0; i < n; i++) {
                if (rk_match_index_add(idx, ps[i]) < 0)
                        abort();
                rk_personality_unref(ps[i]);
        }
        return idx;
}

TEST(categories_and_ranking) {
        rk_personality *ps[] = {
                pers("com.a", "Low", "<dict>" BASE("IOService") K("IOProbeScore") I("100") "</dict>"),
                pers("com.b", "High", "<dict>" BASE("MyNub") K("IOProbeScore") I("5000") "</dict>"),
                pers("com.c", "Tie", "<dict>" BASE("MyNub") K("IOProbeScore") I("100") "</dict>"),
                pers("com.d", "Other", "<dict>" BASE("MyNub") K("IOMatchCategory") S("Logger") "</dict>"),
                pers("com.e", "Nope", "<dict>" BASE("MyNub") K("IONameMatch") S("nope") "</dict>"),
        };
        _cleanup_(rk_match_index_freep) rk_match_index *idx = index_of(ps, ELEMENTSOF(ps));
        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *o = prov(dev_plain);
        rk_match_result r;
        ASSERT(rk_match_index_run(idx, rk_match_provider_get(o), NULL, RK_MATCH_EXPLAIN, &r) == 0);
        ASSERT(r.n_categories == 2);
        CHECK_STREQ(r.categories[0].name, "IODefaultMatchCategory");
        ASSERT(r.categories[0].n == 3);
        CHECK_STREQ(r.categories[0].candidates[0].personality->name, "High");
        CHECK_STREQ(r.categories[0].candidates[1].personality->bundle, "com.a"); /* tie: by bundle */
        CHECK_STREQ(r.categories[0].candidates[2].personality->bundle, "com.c");
        CHECK_STREQ(r.categories[1].name, "Logger");
        ASSERT(r.n_rejected == 1);
        CHECK_STREQ(r.rejected[0].personality->name, "Nope");
        CHECK_STREQ(r.rejected[0].key, "IONameMatch");
        rk_match_result_done(&r);

        /* without EXPLAIN: same candidates through the index, no rejections */
        ASSERT(rk_match_index_run(idx, rk_match_provider_get(o), NULL, 0, &r) == 0);
        CHECK_INTEQ(r.n_categories, 2);
        CHECK_INTEQ(r.n_rejected, 0);
        rk_match_result_done(&r);

        CHECK_INTEQ(rk_match_index_remove_bundle(idx, "com.b"), 1);
        ASSERT(rk_match_index_run(idx, rk_match_provider_get(o), NULL, 0, &r) == 0);
        CHECK_STREQ(r.categories[0].candidates[0].personality->bundle, "com.a");
        rk_match_result_done(&r);
}

TEST(provider_description_errors) {
        static const char *const bad[] = {
                "<dict/>",
                "<dict>" K("IOClassChain") "<array/></dict>",
                "<dict>" K("IOClassChain") "<array>" I("1") "</array></dict>",
                "<dict>" CHAIN(S("A")) K("IOParent") S("x") "</dict>",
                "<dict>" CHAIN(S("A")) K("IOCompatibleNames") S("x") "</dict>",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(rk_value_unrefp) rk_value *d = P(bad[i]);
                rk_match_provider_owned *o = NULL;
                rk_diag diag;
                rk_diag_init(&diag);
                CHECK(rk_match_provider_new_from_dict(d, "dev.plist", &o, &diag) == -EBADMSG);
                CHECK(o == NULL);
                CHECK(diag.n == 1);
                rk_diag_done(&diag);
        }
}
