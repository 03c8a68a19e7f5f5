/* SPDX-License-Identifier: Apache-2.0
 * `ferryctl plan -c FILE`: preflight checks against the live servers.
 */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include "daemon/config.h"

#include <stdio.h>

/**
 * @brief Checks binlog settings, GTID, grants, primary keys, the mapping
 *        against both sides and, for transport = kafka, the brokers and
 *        topics; prints one ok/PROBLEM line per check to out.
 * @returns 0 when nothing is wrong, 1 otherwise
 */
int plan_run(const struct cfg *cfg, FILE *out);

#endif
