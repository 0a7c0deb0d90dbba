/* SPDX-License-Identifier: MIT */
/*
 * Signing and verification through the library: a CA, developer
 * certificates (good, expired, other root, revoked through a CRL, without
 * the codeSigning usage, granting entitlements) made here with OpenSSL, a
 * small dext built in a temporary directory, and each failure mapped to
 * its errno with its message.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "shared/macro.h"
#include "test.h"
#include "trust/entitlements.h"
#include "trust/sign.h"
#include "value/plist.h"

static char tmp[64];

static void put(const char *rel, const char *content) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        for (char *s = strchr(p + strlen(tmp) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                mkdir(p, 0755);
                *s = '/';
        }
        FILE *f = fopen(p, "we");
        if (!f || fputs(content, f) < 0)
                rk_test_failed_flag = true;
        if (f)
                fclose(f);
}

static const char *at(const char *rel) {
        static char p[4096];
        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        return p;
}

static void ext(X509 *c, X509 *issuer, int nid, const char *v) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, issuer, c, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
        if (!e || !X509_add_ext(c, e, -1))
                rk_test_failed_flag = true;
        X509_EXTENSION_free(e);
}

/* Write NAME.key and NAME.pem; issuer NULL: a root.  Returns the certificate (caller frees). */
static X509 *mkcert(const char *name, const char *team, X509 *issuer, EVP_PKEY *ikey, EVP_PKEY **key_out,
                    long nb, long na, bool codesign, const char *grant) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *c = X509_new();
        X509_NAME *n = X509_get_subject_name(c);
        char cn[256];
        snprintf(cn, sizeof cn, team ? "ringkit Developer: %s (%s)" : "%s", name, team);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0);
        if (team)
                X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8, (const unsigned char *) team, -1, -1, 0);
        static long serial = 1;
        ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
        X509_set_version(c, 2);
        X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : n);
        X509_gmtime_adj(X509_getm_notBefore(c), nb);
        X509_gmtime_adj(X509_getm_notAfter(c), na);
        X509_set_pubkey(c, key);
        ext(c, issuer ?: c, NID_basic_constraints, issuer ? "critical,CA:FALSE" : "critical,CA:TRUE");
        ext(c, issuer ?: c, NID_key_usage, issuer ? "critical,digitalSignature" : "critical,keyCertSign,cRLSign");
        if (codesign)
                ext(c, issuer ?: c, NID_ext_key_usage, "codeSigning");
        if (grant) {
                _cleanup_(rk_value_unrefp) rk_value *a = NULL, *s = NULL;
                unsigned char *der = NULL;
                size_t len = 0;
                rk_value_new_array(&a);
                rk_value_new_string(grant, &s);
                rk_array_append(a, s);
                CHECK(rk_cert_grants_encode(a, &der, &len) == 0);
                ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
                ASN1_OCTET_STRING_set(os, der, (int) len);
                ASN1_OBJECT *obj = OBJ_txt2obj(RK_GRANT_OID, 1);
                X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
                X509_add_ext(c, e, -1);
                X509_EXTENSION_free(e);
                ASN1_OBJECT_free(obj);
                ASN1_OCTET_STRING_free(os);
                free(der);
        }
        X509_sign(c, issuer ? ikey : key, EVP_sha256());
        char p[512];
        snprintf(p, sizeof p, "%s/%s.key", tmp, name);
        FILE *f = fopen(p, "we");
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
        fclose(f);
        snprintf(p, sizeof p, "%s/%s.pem", tmp, name);
        f = fopen(p, "we");
        PEM_write_X509(f, c);
        fclose(f);
        if (key_out)
                *key_out = key;
        else
                EVP_PKEY_free(key);
        return c;
}

static void write_crl(X509 *ca, EVP_PKEY *cakey, X509 *revoked, const char *path) {
        X509_CRL *crl = X509_CRL_new();
        ASN1_TIME *now = X509_gmtime_adj(NULL, 0), *next = X509_gmtime_adj(NULL, 86400);
        X509_CRL_set_version(crl, 1);
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
        X509_CRL_set1_lastUpdate(crl, now);
        X509_CRL_set1_nextUpdate(crl, next);
        X509_REVOKED *rv = X509_REVOKED_new();
        X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(revoked));
        X509_REVOKED_set_revocationDate(rv, now);
        X509_CRL_add0_revoked(crl, rv);
        X509_CRL_sign(crl, cakey, EVP_sha256());
        FILE *f = fopen(path, "we");
        PEM_write_X509_CRL(f, crl);
        fclose(f);
        ASN1_TIME_free(now);
        ASN1_TIME_free(next);
        X509_CRL_free(crl);
}

/* Once per process: the certificates and trust stores under tmp. */
static void setup(void) {
        if (tmp[0])
                return;
        snprintf(tmp, sizeof tmp, "/tmp/rk-sign-XXXXXX");
        if (!mkdtemp(tmp))
                abort();
        EVP_PKEY *cakey = NULL, *ca2key = NULL;
        X509 *ca = mkcert("ca", NULL, NULL, NULL, &cakey, 0, 86400, false, NULL);
        X509 *ca2 = mkcert("ca2", NULL, NULL, NULL, &ca2key, 0, 86400, false, NULL);
        X509_free(mkcert("dev", "ABCDE12345", ca, cakey, NULL, 0, 86400, true, NULL));
        X509_free(mkcert("expired", "ABCDE12345", ca, cakey, NULL, -172800, -86400, true, NULL));
        X509_free(mkcert("stranger", "ABCDE12345", ca2, ca2key, NULL, 0, 86400, true, NULL));
        X509_free(mkcert("nocs", "ABCDE12345", ca, cakey, NULL, 0, 86400, false, NULL));
        X509_free(mkcert("granted", "ABCDE12345", ca, cakey, NULL, 0, 86400, true,
                         "com.apple.developer.driverkit.transport.usb"));
        X509 *rev = mkcert("revoked", "ABCDE12345", ca, cakey, NULL, 0, 86400, true, NULL);
        mkdir(at("trust"), 0755);
        mkdir(at("trust-crl"), 0755);
        put("trust/root.pem", "");
        FILE *f = fopen(at("trust/root.pem"), "we");
        PEM_write_X509(f, ca);
        fclose(f);
        f = fopen(at("trust-crl/root.pem"), "we");
        PEM_write_X509(f, ca);
        fclose(f);
        write_crl(ca, cakey, rev, at("trust-crl/crl.pem"));
        X509_free(rev);
        X509_free(ca);
        X509_free(ca2);
        EVP_PKEY_free(cakey);
        EVP_PKEY_free(ca2key);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f) {
        return remove(p);
}

/* A fresh unsigned dext at tmp/b.dext. */
static const char *fresh_bundle(void) {
        setup();
        nftw(at("b.dext"), rm_one, 16, FTW_DEPTH | FTW_PHYS);
        put("b.dext/Contents/Info.plist",
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>"
            "<key>CFBundleIdentifier</key><string>com.example.b</string>"
            "<key>CFBundleVersion</key><string>1.0</string>"
            "<key>CFBundlePackageType</key><string>DEXT</string>"
            "<key>CFBundleExecutable</key><string>b</string>"
            "<key>IOKitPersonalities</key><dict><key>p</key><dict><key>IOClass</key><string>IOUserService</string>"
            "<key>IOProviderClass</key><string>IOUSBHostDevice</string><key>IOUserClass</key><string>B</string>"
            "<key>IOUserServerName</key><string>com.example.b</string></dict></dict>"
            "</dict></plist>");
        put("b.dext/Contents/MacOS/b", "binary");
        chmod(at("b.dext/Contents/MacOS/b"), 0755);
        return strdup(at("b.dext"));
}

static char *path_of(const char *name, const char *ext_) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s.%s", tmp, name, ext_) < 0)
                abort();
        return p;
}

static int sign_as(const char *bundle, const char *who, const char *ents, unsigned flags, rk_diag *d) {
        _cleanup_(freep) char *k = path_of(who, "key"), *c = path_of(who, "pem");
        return rk_sign_bundle(bundle, k, c, NULL, ents, flags, d);
}

static bool has_msg(const rk_diag *d, const char *msg) {
        for (size_t i = 0; i < d->n; i++)
                if (strstr(d->items[i].message, msg))
                        return true;
        fprintf(stderr, "no '%s' among:\n", msg);
        rk_diag_print(d, stderr);
        return false;
}

/* verify and check the errno and one message */
static void expect(const char *bundle, const char *trust, const char *team, int want, const char *msg) {
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_signing_info_freep) rk_signing_info *info = NULL;
        int r = rk_verify_bundle(bundle, at(trust), team, 0, &info, &d);
        if (r != want) {
                fprintf(stderr, "rk_verify_bundle = %d, wanted %d\n", r, want);
                rk_diag_print(&d, stderr);
                rk_test_failed_flag = true;
        }
        if (msg)
                CHECK(has_msg(&d, msg));
        rk_diag_done(&d);
}

TEST(sign_and_verify) {
        _cleanup_(freep) char *b = (char *) fresh_bundle();
        rk_diag d;
        rk_diag_init(&d);
        ASSERT(sign_as(b, "dev", NULL, 0, &d) == 0);
        _cleanup_(rk_signing_info_freep) rk_signing_info *info = NULL;
        CHECK_INTEQ(rk_verify_bundle(b, at("trust"), "ABCDE12345", 0, &info, &d), 0);
        CHECK_INTEQ(d.n, 0);
        ASSERT(info);
        CHECK_INTEQ(info->verdict, RK_VERDICT_VALID);
        CHECK_STREQ(info->identifier, "com.example.b");
        CHECK_STREQ(info->team, "ABCDE12345");
        CHECK(info->signer && strstr(info->signer, "CN = ringkit Developer: dev (ABCDE12345)"));
        CHECK_INTEQ(info->n_files, 2);
        CHECK(!info->entitlements);
        CHECK(info->not_after > info->not_before);
        ASSERT(info->codedir);
        const rk_codedir_entry *e = rk_codedir_find(info->codedir, "Contents/MacOS/b");
        uint8_t h[32];
        CHECK(e && rk_codedir_hash_file(AT_FDCWD, at("b.dext/Contents/MacOS/b"), h) == 0 && memcmp(h, e->hash, 32) == 0);
        rk_diag_done(&d);
        expect(b, "trust-crl", NULL, 0, NULL); /* a CRL that does not list it */
        CHECK_INTEQ(rk_verify_bundle(b, NULL, NULL, 0, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_sign_bundle(b, NULL, "x", NULL, NULL, 0, NULL), -EINVAL);
}

TEST(unsigned_and_tampered) {
        _cleanup_(freep) char *b = (char *) fresh_bundle();
        expect(b, "trust", NULL, -ENOENT, "not signed");
        ASSERT(sign_as(b, "dev", NULL, 0, NULL) == 0);
        put("b.dext/Contents/MacOS/b", "patched");
        expect(b, "trust", NULL, -EBADMSG, "file changed: Contents/MacOS/b");
        put("b.dext/Contents/MacOS/b", "binary");
        expect(b, "trust", NULL, 0, NULL);
        put("b.dext/Contents/MacOS/helper", "x");
        expect(b, "trust", NULL, -EBADMSG, "file added: Contents/MacOS/helper");
        unlink(at("b.dext/Contents/MacOS/helper"));
        unlink(at("b.dext/Contents/MacOS/b"));
        expect(b, "trust", NULL, -EBADMSG, "file removed: Contents/MacOS/b");
        put("b.dext/Contents/MacOS/b", "binary");
        put("b.dext/Contents/_CodeSignature/CodeSignature", "garbage");
        expect(b, "trust", NULL, -EBADMSG, "Contents/_CodeSignature/CodeSignature is not a CMS signature");
}

TEST(signature_swapped) {
        _cleanup_(freep) char *b = (char *) fresh_bundle();
        ASSERT(sign_as(b, "dev", NULL, 0, NULL) == 0);
        _cleanup_(freep) char *sig = strdup(at("b.dext/Contents/_CodeSignature/CodeSignature"));
        _cleanup_(freep) char *saved = strdup(at("saved-sig"));
        /* keep this signature, change the code directory's bytes under it */
        ASSERT(rename(sig, saved) == 0);
        put("b.dext/Contents/MacOS/b", "other");
        ASSERT(sign_as(b, "dev", NULL, 0, NULL) == 0);
        ASSERT(rename(saved, sig) == 0);
        expect(b, "trust", NULL, -EBADMSG, "CodeSignature does not sign Contents/_CodeSignature/CodeDirectory");
}

TEST(certificates) {
        _cleanup_(freep) char *b = (char *) fresh_bundle();
        ASSERT(sign_as(b, "expired", NULL, 0, NULL) == 0);
        expect(b, "trust", NULL, -EKEYEXPIRED, "certificate expired: CN = ringkit Developer: expired (ABCDE12345)");
        ASSERT(sign_as(b, "stranger", NULL, 0, NULL) == 0);
        expect(b, "trust", NULL, -EKEYREJECTED, "certificate untrusted: CN = ringkit Developer: stranger (ABCDE12345)");
        ASSERT(sign_as(b, "revoked", NULL, 0, NULL) == 0);
        expect(b, "trust", NULL, 0, NULL);
        expect(b, "trust-crl", NULL, -EKEYREVOKED, "certificate revoked: CN = ringkit Developer: revoked (ABCDE12345)");
        ASSERT(sign_as(b, "nocs", NULL, 0, NULL) == 0);
        expect(b, "trust", NULL, -EKEYREJECTED, "not for code signing");
        ASSERT(sign_as(b, "dev", NULL, 0, NULL) == 0);
        expect(b, "trust", "ZZZZZ99999", -EKEYREJECTED, "signed by team ABCDE12345, expected team ZZZZZ99999");

        /* a key that is not the certificate's */
        _cleanup_(freep) char *k = path_of("stranger", "key"), *c = path_of("dev", "pem");
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_sign_bundle(b, k, c, NULL, NULL, 0, &d), -EKEYREJECTED);
        CHECK(has_msg(&d, "key does not match certificate"));
        rk_diag_done(&d);
        /* a root has no Team ID */
        _cleanup_(freep) char *ck = path_of("ca", "key"), *cc = path_of("ca", "pem");
        CHECK_INTEQ(rk_sign_bundle(b, ck, cc, NULL, NULL, 0, NULL), -EBADMSG);
}

TEST(entitlements) {
        _cleanup_(freep) char *b = (char *) fresh_bundle();
        put("ents.plist", "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>"
                          "<key>com.apple.developer.driverkit</key><true/>"
                          "<key>com.apple.developer.driverkit.transport.usb</key><array><dict><key>idVendor</key>"
                          "<integer>1452</integer></dict></array></dict></plist>");
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(sign_as(b, "dev", at("ents.plist"), 0, &d), -EPERM);
        CHECK(has_msg(&d, "entitlement escalation: com.apple.developer.driverkit.transport.usb is not granted by "
                          "certificate CN = ringkit Developer: dev"));
        rk_diag_done(&d);
        ASSERT(sign_as(b, "dev", at("ents.plist"), RK_SIGN_ALLOW_UNGRANTED, NULL) == 0);
        expect(b, "trust", NULL, -EPERM, "entitlement escalation: com.apple.developer.driverkit.transport.usb");

        ASSERT(sign_as(b, "granted", at("ents.plist"), 0, NULL) == 0);
        _cleanup_(rk_signing_info_freep) rk_signing_info *info = NULL;
        CHECK_INTEQ(rk_verify_bundle(b, at("trust"), NULL, 0, &info, NULL), 0);
        ASSERT(info && info->entitlements && info->granted);
        CHECK(rk_dict_get(info->entitlements, RK_ENT_USB));
        CHECK_STREQ(rk_string(rk_array_get(info->granted, 0)), "com.apple.developer.driverkit.transport.usb");

        put("b.dext/Contents/_CodeSignature/Entitlements.plist",
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>"
            "<key>com.apple.developer.driverkit</key><true/></dict></plist>");
        expect(b, "trust", NULL, -EBADMSG, "entitlements changed: Contents/_CodeSignature/Entitlements.plist");
        unlink(at("b.dext/Contents/_CodeSignature/Entitlements.plist"));
        expect(b, "trust", NULL, -EBADMSG, "entitlements removed");
}

__attribute__((destructor)) static void cleanup_tmp(void) {
        if (tmp[0])
                nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
