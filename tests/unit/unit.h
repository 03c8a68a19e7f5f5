/* SPDX-License-Identifier: Apache-2.0
 * A minimal assertion kit for unit tests: each CHECK that fails prints
 * where and why and marks the run failed; the runner exits non-zero.
 */
#ifndef FERRY_UNIT_H
#define FERRY_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                          \
        do {                                                                 \
                unit_checks++;                                               \
                if (!(cond)) {                                               \
                        unit_failures++;                                     \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n",         \
                                __FILE__, __LINE__, #cond);                  \
                }                                                            \
        } while (0)

#define CHECK_STR(got, want)                                                 \
        do {                                                                 \
                const char *g_ = (got), *w_ = (want);                        \
                unit_checks++;                                               \
                if (!g_ || strcmp(g_, w_)) {                                 \
                        unit_failures++;                                     \
                        fprintf(stderr,                                      \
                                "%s:%d: got '%s', want '%s'\n",              \
                                __FILE__, __LINE__, g_ ? g_ : "(null)", w_); \
                }                                                            \
        } while (0)

#define UNIT_DONE()                                                          \
        do {                                                                 \
                printf("%d checks, %d failed\n", unit_checks,               \
                       unit_failures);                                       \
                return unit_failures ? 1 : (unit_checks ? 0 : 1);            \
        } while (0)

#endif
