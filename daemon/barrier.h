/* SPDX-License-Identifier: Apache-2.0
 * A barrier through the stream: a ferry.signal row written on the source
 * reaches the sink after every change committed before it, and the sink
 * records its id in the target's ferry.offsets (part "barrier") in the
 * same transaction as the rows before it. Seeing the id there means
 * "everything up to here is applied", wherever the sink runs.
 */
#ifndef FERRY_BARRIER_H
#define FERRY_BARRIER_H

#include "common/ferry_error.h"
#include "daemon/config.h"

#include <mysql.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/**
 * @brief How a flow passes a barrier: writes one on src (its id into
 *        id) and waits until the sink(s) behind dst applied it, as
 *        barrier_pass does for the direct pipeline.
 * @returns 0, FERRY_ERR_RETRY on timeout or abort, or another error
 */
typedef int(barrier_fn)(void *opaque, MYSQL *src, MYSQL *dst,
                        int64_t timeout_ms, const atomic_bool *abort, char *id,
                        size_t id_size, char *errstr, size_t errstr_size);

/**
 * @brief Writes a new barrier row (kind "barrier") into src's
 *        ferry.signal; its id, unique per process, goes into id.
 * @returns 0 or a db_classify() code, with errstr
 */
int barrier_write(const struct cfg *cfg, MYSQL *src, char *id, size_t id_size,
                  char *errstr, size_t errstr_size) FERRY_WUR;

/**
 * @brief Writes a new barrier on src (id returned in id, unique per
 *        process) and waits until dst shows it applied.
 * @param timeout_ms  give up after this long
 * @param abort       checked while waiting; may be NULL
 * @returns 0; FERRY_ERR_RETRY on timeout or abort; or a db_classify()
 *          code, with errstr saying which
 */
int barrier_pass(const struct cfg *cfg, MYSQL *src, MYSQL *dst,
                 int64_t timeout_ms, const atomic_bool *abort, char *id,
                 size_t id_size, char *errstr, size_t errstr_size) FERRY_WUR;

#endif
