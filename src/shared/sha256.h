/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4), small and dependency-free, for the programs that
 * must start fast and so do not load libcrypto: ringkit-sandbox-exec checks
 * the bytes it runs with it.  Bundle verification uses OpenSSL.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct rk_sha256_ctx {
        uint32_t h[8];
        uint64_t len;           /* bytes so far */
        uint8_t buf[64];
        size_t n;               /* bytes in buf */
} rk_sha256_ctx;

void rk_sha256_init(rk_sha256_ctx *c);
void rk_sha256_update(rk_sha256_ctx *c, const void *data, size_t len);
void rk_sha256_final(rk_sha256_ctx *c, uint8_t out[32]);
void rk_sha256(const void *data, size_t len, uint8_t out[32]);
