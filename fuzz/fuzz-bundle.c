/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the bundle loader: the input is an Info.plist.  A dext
 * bundle is made once per process in a fresh directory under /tmp (with an
 * executable, so that path is taken too); each input overwrites its
 * Contents/Info.plist and the bundle is loaded and checked.  The same input
 * is also loaded as a bare Info.plist file.  The directory is the one piece
 * of state kept between runs, as a fuzz target may; it is removed at exit.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalogue/bundle.h"
#include "shared/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char bundle_dir[] = "/tmp/rk-fuzz-bundle-XXXXXX";
static char dext[sizeof(bundle_dir) + 32], info[sizeof(bundle_dir) + 64];

static void write_file(const char *path, const void *data, size_t size, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                abort();
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                abort();
        close(fd);
}

/* Remove what setup() made, when the fuzzer exits normally. */
static void cleanup(void) {
        static const char *const rel[] = { "Fuzz.dext/Contents/MacOS/Fuzz", "Fuzz.dext/Contents/MacOS/com.example.fuzz",
                                           "Fuzz.dext/Contents/Info.plist", "Fuzz.dext/Contents/MacOS",
                                           "Fuzz.dext/Contents", "Fuzz.dext", "" };
        char p[sizeof(bundle_dir) + 96];

        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
                snprintf(p, sizeof(p), "%s/%s", bundle_dir, rel[i]);
                remove(p);
        }
}

static void setup(void) {
        char p[sizeof(bundle_dir) + 96];

        if (!mkdtemp(bundle_dir))
                abort();
        snprintf(dext, sizeof(dext), "%s/Fuzz.dext", bundle_dir);
        mkdir(dext, 0755);
        snprintf(p, sizeof(p), "%s/Contents", dext);
        mkdir(p, 0755);
        snprintf(p, sizeof(p), "%s/Contents/MacOS", dext);
        mkdir(p, 0755);
        /* executables a fuzzed CFBundleExecutable may name */
        snprintf(p, sizeof(p), "%s/Contents/MacOS/Fuzz", dext);
        write_file(p, "#!/bin/sh\n", 10, 0755);
        snprintf(p, sizeof(p), "%s/Contents/MacOS/com.example.fuzz", dext);
        write_file(p, "#!/bin/sh\n", 10, 0644);
        snprintf(info, sizeof(info), "%s/Contents/Info.plist", dext);
        atexit(cleanup);
}

static void load(const char *path) {
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
        rk_diag diag;

        rk_diag_init(&diag);
        int r = rk_bundle_load(path, &b, &diag);
        if (r == 0 && rk_diag_count(&diag, RK_DIAG_ERROR) != 0)
                abort(); /* success means no errors */
        if (b) {
                (void) rk_bundle_name(b);
                (void) rk_bundle_kind_name(b->kind);
        }
        rk_diag_done(&diag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!info[0])
                setup();
        write_file(info, data, size, 0644);
        load(dext);
        load(info);
        return 0;
}
