/* SPDX-License-Identifier: Apache-2.0
 * Project-wide error codes. Functions return 0 or one of these (negative),
 * and write a human-readable reason into a caller's errstr buffer.
 * RETRY means the caller may back off and try again (network, server
 * restart); FATAL means this flow must stop until an operator acts.
 */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#define FERRY_OK         0
#define FERRY_ERR_RETRY  (-1) /* transient: reconnect / back off */
#define FERRY_ERR_FATAL  (-2) /* stop the flow, operator must act */
#define FERRY_ERR_CONFIG (-3) /* bad configuration or mapping */
#define FERRY_ERR_DATA   (-4) /* undecodable input (bad bytes, bad JSON) */
#define FERRY_ERR_SCHEMA (-5) /* source structure the decoder cannot follow */
#define FERRY_ERR_STOP   (-6) /* orderly stop was requested */
#define FERRY_ERR_CONFLICT (-7) /* a unique key value held by another row */

#define FERRY_WUR __attribute__((warn_unused_result))
#define FERRY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

const char *ferry_err_name(int err);

#endif
