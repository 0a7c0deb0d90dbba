/* SPDX-License-Identifier: MIT */
/*
 * Plist reading and writing: real macOS Info.plist files (tests/data/macos)
 * parse in XML and binary form and agree; the XML locator names the line,
 * column and key path of the first problem in malformed input; hostile
 * binary plists are refused before libplist sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/macro.h"
#include "test.h"
#include "value/plist.h"

static const char *const real_files[] = {
        "tests/data/macos/IntelMausi.kext-Info.plist",
        "tests/data/macos/IntelMausi.kext-Info.binary.plist",
        "tests/data/macos/IntelBluetoothFirmware.kext-Info.plist",
        "tests/data/macos/USBPorts.kext-Info.plist",
        "tests/data/macos/Karabiner-DriverKit-VirtualHIDDevice.dext-Info.plist.in",
};

static char *read_all(const char *path, size_t *len) {
        FILE *f = fopen(path, "rbe");
        char *buf = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
                buf = malloc((size_t) n + 1);
                if (buf && fread(buf, 1, (size_t) n, f) == (size_t) n) {
                        buf[n] = 0;
                        *len = (size_t) n;
                } else {
                        free(buf);
                        buf = NULL;
                }
        }
        fclose(f);
        return buf;
}

static rk_value *parse_str(const char *s, rk_diag *diag) {
        rk_value *v = NULL;
        if (rk_plist_parse(s, strlen(s), "<test>", &v, diag) < 0)
                return NULL;
        return v;
}

TEST(real_files_parse) {
        for (size_t i = 0; i < ELEMENTSOF(real_files); i++) {
                _cleanup_(rk_value_unrefp) rk_value *v = NULL;
                rk_diag d;
                rk_diag_init(&d);
                int r = rk_plist_load(rk_test_path(real_files[i]), &v, &d);
                if (r < 0) {
                        fprintf(stderr, "%s: %d\n", real_files[i], r);
                        rk_diag_print(&d, stderr);
                }
                CHECK(r == 0);
                CHECK(rk_value_is(v, RK_TYPE_DICT));
                CHECK(rk_dict_get_string(v, "CFBundleIdentifier") != NULL);
                CHECK(rk_value_is(rk_dict_get(v, "IOKitPersonalities"), RK_TYPE_DICT));
                CHECK_INTEQ(d.n, 0);
                rk_diag_done(&d);
        }
}

TEST(real_files_locator_accepts) {
        for (size_t i = 0; i < ELEMENTSOF(real_files); i++) {
                size_t len = 0;
                _cleanup_(freep) char *buf = read_all(rk_test_path(real_files[i]), &len);
                _cleanup_(freep) char *path = NULL, *msg = NULL;
                int line = 0, col = 0;
                ASSERT(buf);
                if (len >= 8 && memcmp(buf, "bplist00", 8) == 0)
                        continue;
                CHECK_INTEQ(rk_plist_xml_locate_error(buf, len, &line, &col, &path, &msg), 0);
                if (msg)
                        fprintf(stderr, "%s:%d:%d: %s: %s\n", real_files[i], line, col, path, msg);
        }
}

TEST(real_xml_equals_binary) {
        _cleanup_(rk_value_unrefp) rk_value *x = NULL, *b = NULL;
        ASSERT(rk_plist_load(rk_test_path("tests/data/macos/IntelMausi.kext-Info.plist"), &x, NULL) == 0);
        ASSERT(rk_plist_load(rk_test_path("tests/data/macos/IntelMausi.kext-Info.binary.plist"), &b, NULL) ==
               0);
        CHECK(rk_value_equal(x, b));
        const rk_value *p = rk_dict_get(rk_dict_get(b, "IOKitPersonalities"), "IntelMausi");
        uint64_t score = 0;
        CHECK(rk_dict_get_u64(p, "IOProbeScore", &score) && score == 1000);
        CHECK_STREQ(rk_dict_get_string(p, "IOProviderClass"), "IOPCIDevice");
}

TEST(real_files_round_trip) {
        for (size_t i = 0; i < ELEMENTSOF(real_files); i++) {
                _cleanup_(rk_value_unrefp) rk_value *v = NULL, *vx = NULL, *vb = NULL;
                _cleanup_(freep) char *xml = NULL, *bin = NULL;
                size_t nx = 0, nb = 0;

                ASSERT(rk_plist_load(rk_test_path(real_files[i]), &v, NULL) == 0);
                ASSERT(rk_plist_to_xml(v, &xml, &nx) == 0);
                ASSERT(rk_plist_to_binary(v, &bin, &nb) == 0);
                ASSERT(rk_plist_parse(xml, nx, "xml", &vx, NULL) == 0);
                ASSERT(rk_plist_parse(bin, nb, "bin", &vb, NULL) == 0);
                CHECK(rk_value_equal(v, vx));
                CHECK(rk_value_equal(v, vb));
        }
}

TEST(real_usb_personality_values) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        uint64_t vid = 0, pid = 0;
        ASSERT(rk_plist_load(rk_test_path("tests/data/macos/IntelBluetoothFirmware.kext-Info.plist"), &v,
                             NULL) == 0);
        const rk_value *p = rk_dict_get(rk_dict_get(v, "IOKitPersonalities"), "IntelBluetoothFirmware_ax200");
        CHECK(rk_dict_get_u64(p, "idVendor", &vid) && vid == 32903);
        CHECK(rk_dict_get_u64(p, "idProduct", &pid) && pid == 41);
        /* non-ASCII text survives */
        CHECK(strstr(rk_dict_get_string(v, "NSHumanReadableCopyright"), "\xe9\x92\x9f") != NULL);
}

TEST(real_data_values) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        size_t n = 0;
        ASSERT(rk_plist_load(rk_test_path("tests/data/macos/USBPorts.kext-Info.plist"), &v, NULL) == 0);
        const rk_value *p = rk_dict_get(rk_dict_get(v, "IOKitPersonalities"), "_SB.PCI0.XHC");
        const rk_value *pc = rk_dict_get(rk_dict_get(p, "IOProviderMergeProperties"), "port-count");
        const uint8_t *d = rk_data(pc, &n);
        ASSERT(d);
        CHECK_INTEQ(n, 4);
        CHECK(d[0] == 0x10 && d[1] == 0 && d[2] == 0 && d[3] == 0);
}

/* ---- the locator ------------------------------------------------------ */

typedef struct bad_case {
        const char *doc;
        int line, col;
        const char *path;
        const char *msg; /* substring */
} bad_case;

#define HDR "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n"

static const bad_case bad_cases[] = {
        { HDR "<dict>\n  <key>IOKitPersonalities</key>\n  <dict>\n    <key>MyDriver</key>\n    <dict>\n"
              "      <key>IOProbeScore</key>\n      <integer>abc</integer>\n    </dict>\n  </dict>\n</dict>\n</plist>\n",
          9, 7, "IOKitPersonalities.MyDriver.IOProbeScore", "invalid integer 'abc'" },
        { HDR "<dict>\n<key>a</key>\n<string>x</string>\n<string>y</string>\n</dict>\n</plist>\n", 6, 1, "",
          "expected <key> in <dict>, found <string>" },
        { HDR "<dict>\n<key>Items</key>\n<array>\n<integer>1</integer>\n<integer>2</integer>\n<integer>3</integer>\n"
              "<real>x</real>\n</array>\n</dict>\n</plist>\n",
          9, 1, "Items[3]", "invalid real 'x'" },
        { HDR "<dict>\n<key>a</key>\n<!-- never closed\n</dict>\n</plist>\n", 5, 1, "", "unterminated comment" },
        { HDR "<dict>\n<key>a</key>\n<array>\n</dict>\n</plist>\n", 6, 1, "a",
          "</dict> closes <array> opened at line 5" },
        { HDR "<dict>\n<key>a</key>\n<strin>x</strin>\n</dict>\n</plist>\n", 5, 1, "", "unknown element <strin>" },
        { HDR "<dict>\n<key>OSBundleLibraries</key>\n</dict>\n</plist>\n", 4, 1, "OSBundleLibraries",
          "key 'OSBundleLibraries' has no value" },
        { HDR "<dict>\n<key>a</key>\n<key>b</key>\n<string>x</string>\n</dict>\n</plist>\n", 5, 1, "a",
          "has no value (found <key>)" },
        { HDR "<dict>\n<key>d</key>\n<data>AAE</data>\n</dict>\n</plist>\n", 5, 1, "d", "invalid base64" },
        { HDR "<dict>\n<key>d</key>\n<data>AA=E</data>\n</dict>\n</plist>\n", 5, 1, "d", "invalid base64" },
        { HDR "<dict>\n<key>t</key>\n<date>2020-13-01T00:00:00Z</date>\n</dict>\n</plist>\n", 5, 1, "t",
          "invalid date" },
        { HDR "<dict>\n<key>t</key>\n<date>2021-02-29T00:00:00Z</date>\n</dict>\n</plist>\n", 5, 1, "t",
          "invalid date" },
        { HDR "<dict>\n<key>t</key>\n<date>2069-01-19T03:14:08Z</date>\n</dict>\n</plist>\n", 5, 1, "t",
          "outside 1932-12-13T20:45:52Z..2069-01-19T03:14:07Z" },
        { HDR "<dict>\n<key>t</key>\n<date>1932-12-13T20:45:51Z</date>\n</dict>\n</plist>\n", 5, 1, "t",
          "outside 1932" },
        { HDR "<dict>\n<key>s</key>\n<string>a &foo; b</string>\n</dict>\n</plist>\n", 5, 11, "s",
          "invalid entity reference '&foo;'" },
        { HDR "<dict>\n<key>s</key>\n<string>a & b</string>\n</dict>\n</plist>\n", 5, 11, "s",
          "invalid entity reference" },
        { HDR "<dict>\n<key>s</key>\n<string>&#0;</string>\n</dict>\n</plist>\n", 5, 9, "s",
          "invalid entity reference" },
        { HDR "<dict>\n<key>s</key>\n<string>abc", 5, 1, "s", "unterminated <string> opened at line 5" },
        { HDR "<dict>\n<key>s</key>\n<string>a<![CDATA[b</string>\n</dict>\n</plist>\n", 5, 10, "s",
          "unterminated CDATA section" },
        { HDR "<dict>\n<key>a</key>\n<true/>\n</dict>\n</plist>\n<string>x</string>\n", 8, 1, "",
          "more than one root value (found <string>)" },
        { HDR "<dict/>\n<dict/>\n</plist>\n", 4, 1, "", "more than one root value" },
        { "<dict/>\n<dict/>\n", 2, 1, "", "more than one root value" },
        { HDR "</plist>\n", 2, 1, "", "missing root value in <plist>" },
        { "<?xml version=\"1.0\x02\"?>\n<true/>\n", 1, 19, "", "control character 0x02 in processing instruction" },
        { "<?xml encoding=\"UTF-8?>\n<array/>\n", 1, 1, "", "unterminated processing instruction (open quote)" },
        { "<!DOCTYPE plist \"x>\n<true/>\n", 1, 1, "", "unterminated <!DOCTYPE>" },
        { "<?>x?>\n<true/>\n", 1, 1, "", "processing instruction without a target name" },
        { "<!DOCTYPE plist [ ']>' ]>\n<true/>\n", 1, 22, "", "text outside the root element: '' ]>" },
        { "<?xml version=\"1.0\"?>\n<!-- nothing -->\n", 3, 1, "", "no root value" },
        { "", 1, 1, "", "no root value" },
        { HDR "<dict>\n<key>a</key>\n<true/>\n</dict>\n</plist>\ntrailing\n", 8, 1, "",
          "text outside the root element: 'trailing" },
        { HDR "<dict>\nhello\n<key>a</key><true/>\n</dict>\n</plist>\n", 4, 1, "",
          "text outside elements in <dict>: 'hello" },
        { HDR "<dict>\n<key>a</key>\n<integer>99999999999999999999</integer>\n</dict>\n</plist>\n", 5, 1, "a",
          "integer out of range" },
        { HDR "<dict>\n<key>a</key>\n<integer>-9223372036854775809</integer>\n</dict>\n</plist>\n", 5, 1, "a",
          "integer out of range" },
        { HDR "<dict>\n<key>a</key>\n<integer>010</integer>\n</dict>\n</plist>\n", 5, 1, "a", "leading zero" },
        { HDR "<dict>\n<key>a</key>\n<integer></integer>\n</dict>\n</plist>\n", 5, 1, "a", "invalid integer ''" },
        { HDR "<array>\n<key>a</key>\n</array>\n</plist>\n", 4, 1, "", "<key> outside a <dict>" },
        { HDR "<dict>\n<key>a</key>\n<true>yes</true>\n</dict>\n</plist>\n", 5, 1, "a", "must be empty" },
        { HDR "<dict>\n<key>a</key>\n<string>x<dict/></string>\n</dict>\n</plist>\n", 5, 10, "a",
          "unexpected <dict> inside <string>" },
        { HDR "<dict>\n<key>a</key>\n<string>x</integer>\n</dict>\n</plist>\n", 5, 10, "a",
          "</integer> closes <string> opened at line 5" },
        { HDR "<dict>\n<key>a</key>\n<dict>\n<key>b</key>\n<array>\n<dict>\n<key>c</key>\n<string>x</string>\n"
              "<true/>\n</dict>\n</array>\n</dict>\n</dict>\n</plist>\n",
          11, 1, "a.b[0]", "expected <key> in <dict>, found <true>" },
        { HDR "<dict>\n<key>a</key>\n<dict>\n", 5, 1, "a", "unterminated <dict> opened at line 5" },
        { HDR "<dict>\n<key/>\n<string>x</string>\n</dict>\n</plist>\n", 4, 1, "", "empty key written as <key/>" },
        { HDR "<dict>\n<key>a</key>\n<string attr=x>s</string>\n</dict>\n</plist>\n", 5, 14, "",
          "not quoted" },
        { HDR "<dict\n", 3, 1, "", "unterminated <dict> tag" },
        { "\xff\xfe<\0p\0", 1, 1, "", "UTF-16" },
        { HDR "<dict>\n<key>a</key>\n<string>x</string>\n</dict>\n</plist>\n</dict>\n", 8, 1, "",
          "unexpected </dict>, no element is open" },
        { HDR "<dict>\n<!DOCTYPE plist>\n</dict>\n</plist>\n", 4, 1, "", "<!DOCTYPE> after the root" },
        { "<plist version=\"1.0\">\n<plist>\n", 2, 1, "", "unexpected <plist> inside <plist>" },
        { HDR "<dict>\n<key>caf\xc3\xa9</key>\n<integer>x</integer>\n</dict>\n</plist>\n", 5, 1, "caf\xc3\xa9",
          "invalid integer" },
        { HDR "<dict>\n  <key>k</key>\t<integer>x</integer>\n</dict>\n</plist>\n", 4, 16, "k", "invalid integer" },
        { HDR "<dict>\n<key>a&amp;b</key>\n<real>1e</real>\n</dict>\n</plist>\n", 5, 1, "a&b", "invalid real" },
};

TEST(locator_cases) {
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const bad_case *c = &bad_cases[i];
                _cleanup_(freep) char *path = NULL, *msg = NULL;
                int line = 0, col = 0;
                size_t len = strlen(c->doc);
                if (c->doc[0] == '\xff')
                        len = 6;
                int r = rk_plist_xml_locate_error(c->doc, len, &line, &col, &path, &msg);
                if (r != 1 || line != c->line || col != c->col || !path || strcmp(path, c->path) != 0 || !msg ||
                    !strstr(msg, c->msg)) {
                        fprintf(stderr, "case %zu: r=%d %d:%d path '%s' msg '%s'; wanted %d:%d '%s' '%s'\n", i, r,
                                line, col, path ? path : "(null)", msg ? msg : "(null)", c->line, c->col, c->path,
                                c->msg);
                        rk_test_failed_flag = true;
                }
        }
}

static const char *const good_docs[] = {
        "<dict/>",
        "<array/>",
        "<string/>",
        "<string></string>",
        "\xef\xbb\xbf<plist version=\"1.0\"><true/></plist>",
        "<?xml version='1.0'?><!DOCTYPE plist [ <!ENTITY x 'y'> ]><plist version='1.0'><false/></plist>",
        "<?xml version='1.0?><!DOCTYPE plist 'x><true/>",
        "<!DOCTYPE plist [ \"]>\" [ ] ]><true/>",
        "<!-- c --><plist><!-- d --><dict><!-- e --><key>a</key><!-- f --><integer>-0x1F</integer></dict></plist>",
        "<dict><key></key><string/></dict>",
        "<data>\n\tAAEC\n\tAwQ=\n</data>",
        "<data></data>",
        "<data>AA==</data>",
        "<integer> 42 </integer>",
        "<integer>+7</integer>",
        "<integer>0</integer>",
        "<integer>-9223372036854775808</integer>",
        "<integer>18446744073709551615</integer>",
        "<integer>0xFFFFFFFFFFFFFFFF</integer>",
        "<real>1.5</real>",
        "<real>-1e-3</real>",
        "<real>nan</real>",
        "<date>2024-02-29T23:59:59Z</date>",
        "<date>1932-12-13T20:45:52Z</date>",
        "<date>2069-01-19T03:14:07Z</date>",
        "<string>&amp;&lt;&gt;&quot;&apos;&#65;&#x42;&#x1F600;</string>",
        "<string>a<![CDATA[<b>&]]>c<!-- x -->d</string>",
        "<dict ><key >a</key ><true /></dict >",
        "<true></true>",
};

TEST(locator_accepts_good) {
        for (size_t i = 0; i < ELEMENTSOF(good_docs); i++) {
                _cleanup_(freep) char *path = NULL, *msg = NULL;
                int line = 0, col = 0;
                int r = rk_plist_xml_locate_error(good_docs[i], strlen(good_docs[i]), &line, &col, &path, &msg);
                if (r != 0) {
                        fprintf(stderr, "good %zu: %d:%d %s: %s\n", i, line, col, path, msg);
                        rk_test_failed_flag = true;
                }
                /* and libplist takes it too */
                _cleanup_(rk_value_unrefp) rk_value *v = parse_str(good_docs[i], NULL);
                if (!v) {
                        fprintf(stderr, "good %zu refused by rk_plist_parse\n", i);
                        rk_test_failed_flag = true;
                }
        }
}

TEST(locator_values) {
        _cleanup_(rk_value_unrefp) rk_value *v =
                parse_str("<dict><key>s</key><string>a<![CDATA[<b>]]>&#x42;&amp;</string>"
                          "<key>i</key><integer>-0x10</integer><key>h</key><integer>0x10</integer>"
                          "<key>d</key><data>AAEC AwQ=</data></dict>",
                          NULL);
        int64_t i = 0;
        uint64_t h = 0;
        size_t n = 0;
        ASSERT(v);
        CHECK_STREQ(rk_dict_get_string(v, "s"), "a<b>B&");
        CHECK(rk_integer_s64(rk_dict_get(v, "i"), &i) && i == -16);
        CHECK(rk_dict_get_u64(v, "h", &h) && h == 16);
        CHECK(rk_data(rk_dict_get(v, "d"), &n) && n == 5);
}

static char *nested(unsigned depth) {
        size_t n = depth * 15 + 32;
        char *s = malloc(n), *p = s;
        if (!s)
                return NULL;
        for (unsigned i = 0; i < depth; i++)
                p += sprintf(p, "<array>");
        p += sprintf(p, "<true/>");
        for (unsigned i = 0; i < depth; i++)
                p += sprintf(p, "</array>");
        return s;
}

TEST(depth_limit) {
        _cleanup_(freep) char *ok = nested(RK_PLIST_MAX_DEPTH), *deep = nested(RK_PLIST_MAX_DEPTH + 1);
        _cleanup_(freep) char *path = NULL, *msg = NULL, *huge = nested(100000);
        int line = 0, col = 0;
        rk_value *v = NULL;
        rk_diag d;

        ASSERT(ok && deep && huge);
        CHECK_INTEQ(rk_plist_xml_locate_error(ok, strlen(ok), &line, &col, &path, &msg), 0);
        v = parse_str(ok, NULL);
        CHECK(v);
        rk_value_unref(v);
        CHECK_INTEQ(rk_plist_xml_locate_error(deep, strlen(deep), &line, &col, &path, &msg), 1);
        CHECK(msg && strstr(msg, "nested deeper than 128"));
        CHECK_INTEQ(col, (RK_PLIST_MAX_DEPTH + 1) * 7 + 1); /* the value at depth 129 */
        rk_diag_init(&d);
        CHECK(parse_str(huge, &d) == NULL);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_ERROR), 1);
        rk_diag_done(&d);
}

TEST(parse_reports_position) {
        rk_diag d;
        rk_diag_init(&d);
        const char *doc = HDR "<dict>\n<key>IOKitPersonalities</key>\n<dict>\n<key>P</key>\n<dict>\n"
                              "<key>IOProbeScore</key>\n<integer>1x</integer>\n</dict>\n</dict>\n</dict>\n</plist>\n";
        rk_value *v = NULL;
        CHECK_INTEQ(rk_plist_parse(doc, strlen(doc), "Info.plist", &v, &d), -EBADMSG);
        CHECK(v == NULL);
        ASSERT(d.n == 1);
        CHECK_STREQ(d.items[0].file, "Info.plist");
        CHECK_INTEQ(d.items[0].line, 9);
        CHECK_INTEQ(d.items[0].column, 1);
        CHECK_STREQ(d.items[0].key, "IOKitPersonalities.P.IOProbeScore");
        CHECK(strstr(d.items[0].message, "invalid integer '1x'") != NULL);
        rk_diag_done(&d);
}

TEST(parse_rejects_empty_and_garbage) {
        rk_value *v = NULL;
        CHECK_INTEQ(rk_plist_parse("", 0, "x", &v, NULL), -EBADMSG);
        CHECK_INTEQ(rk_plist_parse("hello", 5, "x", &v, NULL), -EBADMSG);
        CHECK_INTEQ(rk_plist_parse("bplist00", 8, "x", &v, NULL), -EBADMSG);
        CHECK_INTEQ(rk_plist_parse(NULL, 3, "x", &v, NULL), -EINVAL);
        CHECK_INTEQ(rk_plist_load("/nonexistent/Info.plist", &v, NULL), -ENOENT);
        CHECK(v == NULL);
}

/* ---- binary plists refused before libplist ---------------------------- */

/*
 * Build "bplist00" + objects + offset table (2-byte offsets) + trailer with
 * the given reference size; objects are given as byte strings.
 */
static size_t make_bplist(uint8_t *out, const uint8_t *const *objs, const size_t *lens, size_t n, unsigned ref_size,
                          uint64_t top) {
        size_t p = 8, offs[4096];
        memcpy(out, "bplist00", 8);
        for (size_t i = 0; i < n; i++) {
                offs[i] = p;
                memcpy(out + p, objs[i], lens[i]);
                p += lens[i];
        }
        size_t table = p;
        for (size_t i = 0; i < n; i++) {
                out[p++] = (uint8_t) (offs[i] >> 8);
                out[p++] = (uint8_t) offs[i];
        }
        memset(out + p, 0, 32);
        out[p + 6] = 2;
        out[p + 7] = (uint8_t) ref_size;
        for (int k = 0; k < 8; k++) {
                out[p + 8 + k] = (uint8_t) ((uint64_t) n >> (56 - 8 * k));
                out[p + 16 + k] = (uint8_t) (top >> (56 - 8 * k));
                out[p + 24 + k] = (uint8_t) ((uint64_t) table >> (56 - 8 * k));
        }
        return p + 32;
}

static void expect_binary_refused(const uint8_t *buf, size_t len, const char *what) {
        rk_value *v = NULL;
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_plist_parse(buf, len, "bin", &v, &d), -EBADMSG);
        CHECK(v == NULL);
        if (d.n != 1 || !strstr(d.items[0].message, what)) {
                fprintf(stderr, "wanted '%s', got:\n", what);
                rk_diag_print(&d, stderr);
                rk_test_failed_flag = true;
        }
        rk_diag_done(&d);
}

TEST(binary_valid_hand_made) {
        static const uint8_t dict[] = { 0xd1, 1, 2 }, key[] = { 0x51, 'k' }, val[] = { 0x10, 42 };
        const uint8_t *objs[] = { dict, key, val };
        const size_t lens[] = { sizeof(dict), sizeof(key), sizeof(val) };
        uint8_t buf[256];
        size_t n = make_bplist(buf, objs, lens, 3, 1, 0);
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        uint64_t u = 0;
        ASSERT(rk_plist_parse(buf, n, "bin", &v, NULL) == 0);
        CHECK(rk_dict_get_u64(v, "k", &u) && u == 42);
}

TEST(binary_cycle) {
        static const uint8_t arr[] = { 0xa1, 0 }; /* an array holding itself */
        const uint8_t *objs[] = { arr };
        const size_t lens[] = { sizeof(arr) };
        uint8_t buf[128];
        expect_binary_refused(buf, make_bplist(buf, objs, lens, 1, 1, 0), "contains itself");
}

TEST(binary_bad_reference_and_offsets) {
        static const uint8_t arr[] = { 0xa1, 7 }, s[] = { 0x51, 'x' };
        const uint8_t *objs[] = { arr, s };
        const size_t lens[] = { sizeof(arr), sizeof(s) };
        uint8_t buf[128];
        size_t n = make_bplist(buf, objs, lens, 2, 1, 0);
        expect_binary_refused(buf, n, "reference to object 7, which does not exist");

        n = make_bplist(buf, objs, lens, 2, 1, 5);
        expect_binary_refused(buf, n, "top object 5 out of range");

        static const uint8_t arr2[] = { 0xa1, 1 };
        objs[0] = arr2;
        n = make_bplist(buf, objs, lens, 2, 1, 0);
        buf[n - 32 - 1] = 0xf0; /* object 1's offset now points past the objects */
        expect_binary_refused(buf, n, "outside the object area");

        n = make_bplist(buf, objs, lens, 2, 1, 0);
        buf[n - 32 + 6] = 9; /* offset size */
        expect_binary_refused(buf, n, "bad offset or reference size");

        static const uint8_t longstr[] = { 0x5f, 0x10, 0x7f, 'a' }; /* 127 bytes claimed, 1 present */
        objs[1] = longstr;
        const size_t lens2[] = { sizeof(arr2), sizeof(longstr) };
        n = make_bplist(buf, objs, lens2, 2, 1, 0);
        expect_binary_refused(buf, n, "runs past the objects");
        expect_binary_refused((const uint8_t *) "bplist00\x08", 9, "too short");
}

TEST(binary_expansion_bomb) {
        /* 30 arrays, each holding the next one twice: 2^30 values once expanded */
        uint8_t objs_buf[31][3];
        const uint8_t *objs[31];
        size_t lens[31];
        uint8_t buf[512];
        for (int i = 0; i < 30; i++) {
                objs_buf[i][0] = 0xa2;
                objs_buf[i][1] = objs_buf[i][2] = (uint8_t) (i + 1);
                objs[i] = objs_buf[i];
                lens[i] = 3;
        }
        objs_buf[30][0] = 0x09;
        objs[30] = objs_buf[30];
        lens[30] = 1;
        expect_binary_refused(buf, make_bplist(buf, objs, lens, 31, 1, 0), "expands to more than");
}

/* A chain of n - 1 one-element arrays ending in <false/>: the leaf is n - 1 deep. */
static size_t chain(uint8_t *buf, size_t n) {
        static uint8_t objs_buf[300][2];
        const uint8_t *objs[300];
        size_t lens[300];
        for (size_t i = 0; i + 1 < n; i++) {
                objs_buf[i][0] = 0xa1;
                objs_buf[i][1] = (uint8_t) (i + 1);
                objs[i] = objs_buf[i];
                lens[i] = 2;
        }
        objs_buf[n - 1][0] = 0x08;
        objs[n - 1] = objs_buf[n - 1];
        lens[n - 1] = 1;
        return make_bplist(buf, objs, lens, n, 1, 0);
}

TEST(binary_depth) {
        static uint8_t buf[2048];
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        /* the leaf at depth 128 is fine, as in XML */
        CHECK_INTEQ(rk_plist_parse(buf, chain(buf, RK_PLIST_MAX_DEPTH + 1), "bin", &v, NULL), 0);
        expect_binary_refused(buf, chain(buf, RK_PLIST_MAX_DEPTH + 2), "nested deeper than 128");
        expect_binary_refused(buf, chain(buf, 250), "nested deeper than 128");
}

TEST(binary_found_by_fuzzing) {
        static const struct {
                const char *file, *msg;
        } cases[] = {
                /* libplist 2.2 asserts (aborts the process) in plist_get_key_val() */
                { "fuzz/corpus/plist/crash-libplist-bin-nul-in-key", "holds a NUL character" },
                /* ... and in plist_get_string_val() */
                { "fuzz/corpus/bundle/crash-libplist-bin-nul-in-string", "holds a NUL character" },
                /* the same assertion through XML: a NUL inside a CDATA section */
                { "fuzz/corpus/plist/crash-libplist-xml-nul-in-cdata", "NUL byte in <string>" },
                /* libplist's binary writer cuts the string at the bad byte */
                { "fuzz/corpus/plist/crash-libplist-bin-writer-truncates-invalid-utf8", "not valid UTF-8" },
                /* libplist's int32 date API garbles dates outside 1933..2069 */
                { "fuzz/corpus/plist/crash-libplist-bin-date-out-of-int32", "date outside 1933..2069" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                rk_value *v = NULL;
                rk_diag d;
                rk_diag_init(&d);
                CHECK_INTEQ(rk_plist_load(rk_test_path(cases[i].file), &v, &d), -EBADMSG);
                CHECK(v == NULL);
                CHECK(d.n == 1 && strstr(d.items[0].message, cases[i].msg));
                rk_diag_done(&d);
        }
}

TEST(xml_invalid_utf8) {
        const char *doc = "<dict>\n<key>k</key>\n<string>ab\xc3(</string>\n</dict>";
        _cleanup_(freep) char *path = NULL, *msg = NULL;
        int line = 0, col = 0;
        CHECK_INTEQ(rk_plist_xml_locate_error(doc, strlen(doc), &line, &col, &path, &msg), 1);
        CHECK_INTEQ(line, 3);
        CHECK_INTEQ(col, 11);
        CHECK_STREQ(path, "k");
        CHECK(msg && strstr(msg, "invalid UTF-8 in <string>"));
        /* overlong and surrogate forms too */
        CHECK_INTEQ(rk_plist_xml_locate_error("<string>\xc0\xaf</string>", 13, &line, &col, NULL, NULL), 1);
        CHECK_INTEQ(rk_plist_xml_locate_error("<string>\xed\xa0\x80</string>", 20, &line, &col, NULL, NULL), 1);
}

TEST(date_limits) {
        _cleanup_(rk_value_unrefp) rk_value *hi = parse_str("<date>2069-01-19T03:14:07Z</date>", NULL);
        _cleanup_(rk_value_unrefp) rk_value *lo = parse_str("<date>1932-12-13T20:45:52Z</date>", NULL);
        _cleanup_(rk_value_unrefp) rk_value *y2k = parse_str("<date>2001-01-01T00:00:01Z</date>", NULL);
        double d = 0;
        CHECK(rk_date(hi, &d) && d == 2147483647.0);
        CHECK(rk_date(lo, &d) && d == -2147483648.0);
        CHECK(rk_date(y2k, &d) && d == 1.0);
}
