/* SPDX-License-Identifier: Apache-2.0
 * The metric catalog as data, for tests and tooling that want to walk
 * every name ferry exports; see metric_names.h.
 */
#include "daemon/metric_names.h"

#define FERRY_METRIC_DEF(type, name_help, labels) {type, name_help, labels},

const struct metric_def ferry_metric_defs[] = {
        FERRY_METRIC_CATALOG(FERRY_METRIC_DEF)};
const size_t ferry_metric_defs_n =
        sizeof(ferry_metric_defs) / sizeof(ferry_metric_defs[0]);
