/* SPDX-License-Identifier: MIT */
/*
 * Bundles: Name.dext, Name.kext, Name.systemextension and App.app
 * directories (Contents/Info.plist, Contents/MacOS/<executable>), and bare
 * Info.plist files for offline matching.
 *
 * rk_bundle_load() reads and validates a bundle.  Every problem found goes to
 * diag naming the bundle (its identifier, or its path before that is known),
 * the personality and the key.  Returns 0 and the bundle when it has no
 * errors (warnings allowed), -EBADMSG when it has errors (*ret is still set
 * when the Info.plist could be read at all, so lint can go on; NULL when the
 * bundle has no readable Contents/Info.plist or the path is no bundle),
 * -ENOENT / -ENOTDIR / -EACCES when the path cannot be opened (also
 * reported to diag), -EINVAL for a NULL path or ret, -ENOMEM.  A NULL diag
 * is allowed.  Errors in children count as errors of the bundle; each child
 * names itself.  Rules and layouts: docs/bundles.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "shared/diag.h"
#include "value/value.h"

typedef enum rk_bundle_kind {
        RK_BUNDLE_DEXT,    /* .dext, CFBundlePackageType DEXT */
        RK_BUNDLE_KEXT,    /* .kext, KEXT */
        RK_BUNDLE_SYSEXT,  /* .systemextension, SYSX */
        RK_BUNDLE_APP,     /* .app, APPL: carries extensions */
        RK_BUNDLE_PLIST,   /* a bare Info.plist file */
        _RK_BUNDLE_KIND_MAX,
} rk_bundle_kind;

typedef struct rk_bundle rk_bundle;

struct rk_bundle {
        unsigned refs;
        rk_bundle_kind kind;
        char *path;       /* as given */
        char *info_path;  /* the Info.plist read */
        rk_value *info;   /* its contents */
        /* borrowed from info; NULL when missing */
        const char *identifier;
        const char *version;
        const char *package_type;
        const char *executable;
        char *executable_path; /* Contents/MacOS/<executable>, NULL if codeless */
        bool codeless;         /* no CFBundleExecutable: personalities only */
        rk_value *personalities; /* IOKitPersonalities dict or NULL (borrowed from info) */
        rk_bundle **children;  /* app: Contents/Library/SystemExtensions, kext: Contents/PlugIns */
        size_t n_children;
};

int rk_bundle_load(const char *path, rk_bundle **ret, rk_diag *diag);
rk_bundle *rk_bundle_ref(rk_bundle *b);
rk_bundle *rk_bundle_unref(rk_bundle *b);
static inline void rk_bundle_unrefp(rk_bundle **b) {
        if (*b)
                rk_bundle_unref(*b);
}
const char *rk_bundle_kind_name(rk_bundle_kind k); /* "dext", "kext", ... */
/* the name to use in messages: identifier, else path */
const char *rk_bundle_name(const rk_bundle *b);

/* True for names rk_bundle_load() takes: *.dext, *.kext, *.systemextension, *.app, *.plist. */
bool rk_bundle_is_bundle_name(const char *name);

/*
 * The bundle paths in an extension directory ("DIR/NAME" for every entry
 * rk_bundle_is_bundle_name() accepts, hidden ones left out), sorted so that
 * results never depend on readdir order.  Free each path and the array.
 * Errors: those of opendir(3) (-ENOENT, -ENOTDIR, -EACCES...), -ENOMEM.
 */
int rk_bundle_list_dir(const char *dir, char ***ret, size_t *ret_n);
