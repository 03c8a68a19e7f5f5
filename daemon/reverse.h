/* SPDX-License-Identifier: Apache-2.0
 * Reverse streaming after a cutover ([cutover] reverse = true): a second
 * direct pipeline reads the TARGET server's binlog from the position the
 * cutover captured in its write pause, maps the new tables' changes
 * through the inverted mapping (transforms/mapping_reverse.h) and applies
 * them to the old tables in retired_schema, so that `ferryctl rollback`
 * (daemon/rollback.h) within the grace period loses nothing.
 *
 * Durable state, all in the target's ferry.offsets under the forward
 * pipeline's name: part "cutover" (the cutover happened), "reverse"
 * ("<unix time> <target GTID position>": where the reverse stream
 * starts) and "rollback" (a rollback switched back: stream nothing). The
 * reverse pipeline keeps its own position with the rows it applies, in
 * the source server's ferry.offsets, like any direct pipeline.
 */
#ifndef FERRY_REVERSE_H
#define FERRY_REVERSE_H

#include "common/ferry_error.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/metrics.h"

#include <jansson.h>
#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>

#define REVERSE_PART  "reverse"
#define ROLLBACK_PART "rollback"

struct reverse;

/**
 * @brief Loads cfg->sink.mapping and inverts it (when reverse = true),
 *        so that a mapping that cannot be streamed back stops ferryd at
 *        start, not at the cutover. Lossy columns are logged.
 * @returns 0 or FERRY_ERR_CONFIG with errstr naming table and column
 */
int reverse_check(const struct cfg *cfg, char *errstr,
                  size_t errstr_size) FERRY_WUR;

/**
 * @brief In the cutover's write pause (nothing reaches the new tables
 *        then): the target's binlog position, where the reverse stream
 *        must start so it sees neither ferry's forward writes nor miss
 *        the application's first one.
 * @returns 0 or a db_classify() code; an empty position (binlog off on
 *          the target) is an error
 */
int reverse_capture(MYSQL *dst, char *pos, size_t pos_size, char *errstr,
                    size_t errstr_size) FERRY_WUR;

/* @brief After the switch: stores pos as part "reverse" on the target.
 * @returns 0 or a db_classify() code */
int reverse_record(const struct cfg *cfg, MYSQL *dst, const char *pos,
                   char *errstr, size_t errstr_size) FERRY_WUR;

/* @brief After a rollback switched: stores part "rollback" on the
 * target, so a restarted ferryd stays rolled back. */
int rollback_record(const struct cfg *cfg, MYSQL *dst, char *errstr,
                    size_t errstr_size) FERRY_WUR;

/* @returns whether a cutover with this config captures a position. */
bool reverse_wanted(const struct cfg *cfg);

/**
 * @brief The reverse side of the service; does nothing until the
 *        forward stream has cut over (reverse_tick).
 * @param cfg  must outlive r; reg may be NULL
 * @context loop
 */
struct reverse *reverse_new(const struct cfg *cfg, struct metrics *reg);
/* @brief Stops the reverse stream (draining it) and any rollback. */
void reverse_free(struct reverse *r);

/**
 * @brief Drives it from the service tick.
 * @param cut_over  the forward stream has ended at a cutover and no
 *                  cutover is running (its outcome is recorded)
 * @context loop
 */
void reverse_tick(struct reverse *r, bool cut_over);

/* @returns "rolling_back", "rolled_back", or NULL (the forward state
 * stands). */
const char *reverse_service_state(struct reverse *r);

/* @returns the "reverse" object of ferryctl status (a new reference). */
json_t *reverse_status(struct reverse *r);

/* @brief The rollback verb: answers req once the rollback finished. */
void reverse_rollback(struct reverse *r, struct control_req *req, json_t *args);

#endif
