/* SPDX-License-Identifier: Apache-2.0
 * ferryd as a long-running service: the libevent loop that owns signals,
 * timers, the metrics/health endpoint and systemd notifications, with
 * the pipeline's threads underneath.
 */
#ifndef FERRY_SERVICE_H
#define FERRY_SERVICE_H

#include "daemon/config.h"

/**
 * @brief Runs until SIGTERM/SIGINT (graceful drain) or a fatal error.
 * @returns the process exit code
 * @context main thread
 */
int service_run(struct cfg *cfg);

#endif
