/* SPDX-License-Identifier: MIT */
/*
 * A minimal unit-test harness.  TEST(name) defines a case that registers
 * itself; CHECK() records a failure and goes on; ASSERT() records and leaves
 * the case.  main() comes from RK_TEST_MAIN (or test-main.c) and prints one
 * line per case and a closing "N passed, N failed" line.
 *
 * Environment: RK_TEST_FILTER=substr runs only matching cases;
 * RK_TEST_SRCDIR points at the source tree (tests/data lives there).
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rk_test_case {
        const char *name;
        void (*fn)(void);
} rk_test_case;

void rk_test_register(const char *name, void (*fn)(void));
extern bool rk_test_failed_flag;
const char *rk_test_srcdir(void);
/* path under the source tree; returns a static buffer valid until the next call */
const char *rk_test_path(const char *rel);

#define TEST(name)                                                            \
        static void test_##name(void);                                        \
        __attribute__((constructor)) static void register_##name(void) {      \
                rk_test_register(#name, test_##name);                         \
        }                                                                     \
        static void test_##name(void)

#define CHECK(c)                                                                          \
        do {                                                                              \
                if (!(c)) {                                                               \
                        fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
                        rk_test_failed_flag = true;                                       \
                }                                                                         \
        } while (0)

#define ASSERT(c)                                                                          \
        do {                                                                               \
                if (!(c)) {                                                                \
                        fprintf(stderr, "%s:%d: ASSERT(%s) failed\n", __FILE__, __LINE__, #c); \
                        rk_test_failed_flag = true;                                        \
                        return;                                                            \
                }                                                                          \
        } while (0)

#define CHECK_STREQ(a, b)                                                                        \
        do {                                                                                     \
                const char *_a = (a), *_b = (b);                                                 \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                         \
                        fprintf(stderr, "%s:%d: CHECK_STREQ(%s, %s): \"%s\" != \"%s\"\n", __FILE__, \
                                __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");      \
                        rk_test_failed_flag = true;                                              \
                }                                                                                \
        } while (0)

#define CHECK_INTEQ(a, b)                                                                       \
        do {                                                                                    \
                long long _a = (long long) (a), _b = (long long) (b);                           \
                if (_a != _b) {                                                                 \
                        fprintf(stderr, "%s:%d: CHECK_INTEQ(%s, %s): %lld != %lld\n", __FILE__, \
                                __LINE__, #a, #b, _a, _b);                                      \
                        rk_test_failed_flag = true;                                             \
                }                                                                               \
        } while (0)
