/* SPDX-License-Identifier: Apache-2.0
 * The report's insides, shared by the engine (verify.c) and the report
 * accessors (verify_report.c). Not for other modules: they use verify.h.
 */
#ifndef FERRY_VERIFY_INT_H
#define FERRY_VERIFY_INT_H

#include "connectors/verify.h"
#include "connectors/verify_plan.h"

/* A chunk (lo, hi]; NULL bounds are open. */
struct verify_range {
        struct verify_key *lo, *hi;
};

struct verify_entry {
        struct verify_result res;
        /* The chunks that differed, for verify_recheck. */
        struct verify_range *bad;
        size_t nbad;
};

struct verify_report {
        struct verify_entry *v;
        size_t n;
        double seconds;
};

/* @returns a new entry in r for source -> target, zeroed. */
struct verify_entry *verify_report_add(struct verify_report *r,
                                       const char *source, const char *target);
/* @brief Appends a key (JSON text, taken over) to e, within max. */
void verify_entry_add_key(struct verify_entry *e, char *key, size_t max);
/* @brief Forgets e's differing keys, counts and chunks (for a recheck). */
void verify_entry_reset_diffs(struct verify_entry *e);
void verify_range_free(struct verify_range *rg);

#endif
