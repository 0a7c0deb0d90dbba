/* SPDX-License-Identifier: MIT */
/*
 * Code directories: the hash set of a bundle built in a temporary
 * directory, symlinks recorded and not followed, the signature directory
 * left out, nested bundles sealed by their own CodeDirectory, the plist
 * round trip, and every kind of difference named by rk_codedir_compare().
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/macro.h"
#include "test.h"
#include "trust/codedir.h"

static const uint8_t sha_abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                     0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                     0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };

static void put(const char *root, const char *rel, const char *content) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", root, rel);
        for (char *s = strchr(p + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                mkdir(p, 0755);
                *s = '/';
        }
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t) strlen(content))
                rk_test_failed_flag = true;
        if (fd >= 0)
                close(fd);
}

static void link_at(const char *root, const char *rel, const char *target) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", root, rel);
        unlink(p);
        if (symlink(target, p) < 0)
                rk_test_failed_flag = true;
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f) {
        return remove(p);
}

static void rm_rf(const char *p) {
        nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A small dext: Info.plist, executable, a resource, a symlink, a signature dir. */
static char *make_dext(void) {
        char *t = strdup("/tmp/rk-codedir-XXXXXX");
        if (!t || !mkdtemp(t))
                abort();
        put(t, "Contents/Info.plist", "<plist/>");
        put(t, "Contents/MacOS/drv", "abc");
        put(t, "Contents/Resources/a.txt", "A");
        link_at(t, "Contents/Resources/link", "/etc");
        put(t, "Contents/_CodeSignature/CodeDirectory", "ignored");
        return t;
}

static rk_codedir *compute(const char *path) {
        rk_codedir *cd = NULL;
        int r = rk_codedir_new_from_bundle(path, &cd, NULL);
        if (r < 0) {
                fprintf(stderr, "rk_codedir_new_from_bundle(%s) = %d\n", path, r);
                rk_test_failed_flag = true;
        }
        return cd;
}

TEST(hash_set) {
        _cleanup_(freep) char *t = make_dext();
        _cleanup_(rk_codedir_freep) rk_codedir *cd = compute(t);
        ASSERT(cd);
        CHECK_INTEQ(cd->n_entries, 4);
        CHECK_STREQ(cd->entries[0].path, "Contents/Info.plist");
        CHECK_STREQ(cd->entries[1].path, "Contents/MacOS/drv");
        CHECK_STREQ(cd->entries[2].path, "Contents/Resources/a.txt");
        CHECK_STREQ(cd->entries[3].path, "Contents/Resources/link");
        CHECK(memcmp(cd->entries[1].hash, sha_abc, 32) == 0);
        CHECK(!cd->entries[1].symlink);
        CHECK_STREQ(cd->entries[3].symlink, "/etc"); /* recorded, not followed into /etc */
        CHECK(!rk_codedir_find(cd, "Contents/_CodeSignature/CodeDirectory"));
        CHECK(rk_codedir_find(cd, "Contents/MacOS/drv") == &cd->entries[1]);
        CHECK_INTEQ(cd->n_nested, 0);
        uint8_t h[32];
        char p[4096];
        snprintf(p, sizeof p, "%s/Contents/MacOS/drv", t);
        CHECK_INTEQ(rk_codedir_hash_file(AT_FDCWD, p, h), 0);
        CHECK(memcmp(h, sha_abc, 32) == 0);
        snprintf(p, sizeof p, "%s/Contents/Resources/link", t);
        CHECK_INTEQ(rk_codedir_hash_file(AT_FDCWD, p, h), -EBADMSG);
        rm_rf(t);
}

TEST(special_files_refused) {
        _cleanup_(freep) char *t = make_dext();
        char p[4096];
        snprintf(p, sizeof p, "%s/Contents/Resources/fifo", t);
        ASSERT(mkfifo(p, 0644) == 0);
        rk_diag d;
        rk_diag_init(&d);
        rk_codedir *cd = NULL;
        CHECK_INTEQ(rk_codedir_new_from_bundle(t, &cd, &d), -EBADMSG);
        CHECK(!cd);
        CHECK(d.n == 1 && strstr(d.items[0].message, "Contents/Resources/fifo is no regular file"));
        rk_diag_done(&d);
        CHECK_INTEQ(rk_codedir_new_from_bundle("/nonexistent/x.dext", &cd, NULL), -ENOENT);
        CHECK_INTEQ(rk_codedir_new_from_bundle(NULL, &cd, NULL), -EINVAL);
        rm_rf(t);
}

TEST(nested_sealed_separately) {
        _cleanup_(freep) char *t = make_dext();
        put(t, "Contents/Library/SystemExtensions/Child.dext/Contents/MacOS/c", "child");
        put(t, "Contents/PlugIns/Plug.kext/Contents/MacOS/p", "plug");
        put(t, "Contents/PlugIns/Plug.kext/Contents/_CodeSignature/CodeDirectory", "abc");
        put(t, "Contents/Library/Other.dext/Contents/x", "not a nesting place");
        _cleanup_(rk_codedir_freep) rk_codedir *cd = compute(t);
        ASSERT(cd);
        CHECK_INTEQ(cd->n_nested, 2);
        /* the unsigned child is listed as nested but contributes no files */
        CHECK(!rk_codedir_find(cd, "Contents/Library/SystemExtensions/Child.dext/Contents/MacOS/c"));
        CHECK(!rk_codedir_find(cd, "Contents/PlugIns/Plug.kext/Contents/MacOS/p"));
        const rk_codedir_entry *e = rk_codedir_find(cd, "Contents/PlugIns/Plug.kext/Contents/_CodeSignature/CodeDirectory");
        ASSERT(e);
        CHECK(memcmp(e->hash, sha_abc, 32) == 0);
        CHECK(rk_codedir_find(cd, "Contents/Library/Other.dext/Contents/x"));
        CHECK_INTEQ(cd->n_entries, 6);
        rm_rf(t);
}

TEST(round_trip) {
        _cleanup_(freep) char *t = make_dext();
        _cleanup_(rk_codedir_freep) rk_codedir *cd = compute(t), *back = NULL;
        ASSERT(cd);
        CHECK_INTEQ(rk_codedir_set_identity(cd, "com.example.drv", "ABCDE12345"), 0);
        cd->has_entitlements = true;
        memcpy(cd->entitlements_hash, sha_abc, 32);
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        ASSERT(rk_codedir_to_value(cd, &v) == 0);
        CHECK_INTEQ(rk_dict_size(rk_dict_get(v, "Files")), 4);
        CHECK_STREQ(rk_dict_get_string(rk_dict_get(rk_dict_get(v, "Files"), "Contents/Resources/link"), "symlink"),
                    "/etc");
        ASSERT(rk_codedir_from_value(v, "cd", &back, NULL) == 0);
        CHECK_STREQ(back->identifier, "com.example.drv");
        CHECK_STREQ(back->team, "ABCDE12345");
        CHECK(back->has_entitlements);
        CHECK_INTEQ(rk_codedir_compare(cd, back, "b", NULL), 0);

        rk_diag d;
        rk_diag_init(&d);
        rk_dict_set_integer(v, "RKCodeDirectoryVersion", 2, false);
        rk_codedir *bad = NULL;
        CHECK_INTEQ(rk_codedir_from_value(v, "cd", &bad, &d), -EBADMSG);
        rk_dict_set_integer(v, "RKCodeDirectoryVersion", 1, false);
        rk_dict_set_string(rk_dict_get(v, "Files"), "Contents/Info.plist", "nope");
        CHECK_INTEQ(rk_codedir_from_value(v, "cd", &bad, &d), -EBADMSG);
        CHECK_INTEQ(d.n, 2);
        CHECK(d.n == 2 && streq_ptr(d.items[1].key, "Contents/Info.plist"));
        rk_diag_done(&d);
        rm_rf(t);
}

static bool has_msg(const rk_diag *d, const char *msg) {
        for (size_t i = 0; i < d->n; i++)
                if (strstr(d->items[i].message, msg))
                        return true;
        return false;
}

TEST(every_difference_named) {
        _cleanup_(freep) char *t = make_dext();
        _cleanup_(rk_codedir_freep) rk_codedir *signed_cd = compute(t);
        ASSERT(signed_cd);
        rk_codedir_set_identity(signed_cd, "com.example.drv", "T");
        signed_cd->has_entitlements = true;

        put(t, "Contents/MacOS/drv", "abd");                /* changed */
        put(t, "Contents/Resources/new", "x");              /* added */
        char p[4096];
        snprintf(p, sizeof p, "%s/Contents/Info.plist", t); /* removed */
        unlink(p);
        link_at(t, "Contents/Resources/link", "/tmp");      /* symlink retargeted */
        snprintf(p, sizeof p, "%s/Contents/Resources/a.txt", t);
        unlink(p);
        link_at(t, "Contents/Resources/a.txt", "link");     /* file became a symlink */
        _cleanup_(rk_codedir_freep) rk_codedir *now = compute(t);
        ASSERT(now);
        rk_codedir_set_identity(now, "com.example.other", "T");

        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_codedir_compare(signed_cd, now, "com.example.drv", &d), -EBADMSG);
        CHECK_INTEQ(d.n, 7);
        CHECK(has_msg(&d, "file changed: Contents/MacOS/drv"));
        CHECK(has_msg(&d, "file added: Contents/Resources/new"));
        CHECK(has_msg(&d, "file removed: Contents/Info.plist"));
        CHECK(has_msg(&d, "symlink changed: Contents/Resources/link (now -> /tmp, signed -> /etc)"));
        CHECK(has_msg(&d, "file changed: Contents/Resources/a.txt (was a file, now a symlink to link)"));
        CHECK(has_msg(&d, "identifier changed: signed for com.example.drv, bundle is com.example.other"));
        CHECK(has_msg(&d, "entitlements removed: Contents/_CodeSignature/Entitlements.plist"));
        CHECK(d.n && streq_ptr(d.items[0].bundle, "com.example.drv"));
        rk_diag_done(&d);

        /* a change in the signature directory is not a file difference */
        put(t, "Contents/_CodeSignature/CodeDirectory", "changed");
        _cleanup_(rk_codedir_freep) rk_codedir *again = compute(t);
        ASSERT(again);
        rk_codedir_set_identity(again, "com.example.other", "T");
        CHECK_INTEQ(rk_codedir_compare(now, again, "b", NULL), 0);
        rm_rf(t);
}
