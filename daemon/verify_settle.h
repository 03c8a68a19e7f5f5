/* SPDX-License-Identifier: Apache-2.0
 * An online verify that tells rows in flight from real differences.
 *
 * Under a steady writer some rows of every chunk are always in flight,
 * so re-checking whole chunks never settles. Instead the first pass
 * names the differing keys; then, up to `rounds` times, a barrier makes
 * sure everything written before it is applied and only those keys are
 * looked at again (verify_keys). A key that differs every time is a
 * difference; one that settled was in flight.
 */
#ifndef FERRY_VERIFY_SETTLE_H
#define FERRY_VERIFY_SETTLE_H

#include "common/ferry_error.h"
#include "daemon/barrier.h"
#include "daemon/config.h"
#include "transforms/mapping.h"

#include <jansson.h>
#include <mysql.h>
#include <stdatomic.h>
#include <stdint.h>

/**
 * @brief Verifies (only_table or every mapped table) and settles.
 * @param settle_ms  how long each barrier may take to pass (a sink that
 *                   cannot catch up fails the verify after this)
 * @param pass, pass_opaque  how barriers pass (the flow's); NULL: the
 *                   direct pipeline's barrier_pass
 * @param out  verify_report_json() shape; "clean" and each table's
 *             differing keys are what persisted; "rounds" says how many
 *             re-checks ran
 * @returns 0 (differences are in *out), or an error with errstr
 */
int verify_settled(const struct cfg *cfg, const struct mapping *m, MYSQL *src,
                   MYSQL *dst, const char *only_table, int rounds,
                   int64_t settle_ms, barrier_fn *pass, void *pass_opaque,
                   const atomic_bool *abort, json_t **out, char *errstr,
                   size_t errstr_size) FERRY_WUR;

#endif
