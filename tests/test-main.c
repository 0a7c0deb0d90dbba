/* SPDX-License-Identifier: MIT */
/* main() for unit tests built on tests/test.h. */
#include <limits.h>

#include "test.h"

#define MAX_CASES 512

static rk_test_case cases[MAX_CASES];
static size_t n_cases;
bool rk_test_failed_flag;

void rk_test_register(const char *name, void (*fn)(void)) {
        if (n_cases >= MAX_CASES) {
                fprintf(stderr, "too many test cases\n");
                abort();
        }
        cases[n_cases++] = (rk_test_case){ name, fn };
}

const char *rk_test_srcdir(void) {
        const char *s = getenv("RK_TEST_SRCDIR");
        return s ? s : ".";
}

const char *rk_test_path(const char *rel) {
        static char buf[PATH_MAX];
        snprintf(buf, sizeof(buf), "%s/%s", rk_test_srcdir(), rel);
        return buf;
}

int main(void) {
        const char *filter = getenv("RK_TEST_FILTER");
        unsigned passed = 0, failed = 0;

        setvbuf(stdout, NULL, _IOLBF, 0);
        for (size_t i = 0; i < n_cases; i++) {
                if (filter && !strstr(cases[i].name, filter))
                        continue;
                rk_test_failed_flag = false;
                cases[i].fn();
                fflush(stderr);
                if (rk_test_failed_flag) {
                        printf("FAIL %s\n", cases[i].name);
                        failed++;
                } else {
                        printf("ok   %s\n", cases[i].name);
                        passed++;
                }
        }
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}
