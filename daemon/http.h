/* SPDX-License-Identifier: Apache-2.0
 * The operations HTTP endpoint on metrics_listen: GET /metrics (the
 * registry in Prometheus text), /healthz (the loop answers, so we live)
 * and /readyz (a module says whether we are connected and streaming).
 * It is libevent's evhttp on main's event_base: no thread of its own.
 */
#ifndef FERRY_HTTP_H
#define FERRY_HTTP_H

#include "common/ferry_error.h"
#include "daemon/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct http_server;

/* @brief Says whether the daemon is ready to be routed to / counted as up.
 * @param reason when not ready, one line on why ("source not connected"),
 *        written into the caller's buffer.
 * @returns true when ready.
 * @context loop */
typedef bool (*http_ready_fn)(void *opaque, char *reason, size_t reason_size);

/* @brief Splits "host:port" or "[ipv6]:port" (port 0..65535).
 * @param host receives a copy without brackets; the caller frees it.
 * @returns 0, or FERRY_ERR_CONFIG with errstr naming the address.
 * @context any */
int http_listen_parse(const char *addr, char **host, uint16_t *port,
                      char *errstr, size_t errstr_size) FERRY_WUR;

/* @brief Listens on addr and serves the endpoints on base.
 * @param addr "host:port" or "[ipv6]:port"; port 0 picks a free port
 *        (see http_server_port).
 * @param reg rendered on every GET /metrics; not owned, must outlive the
 *        server.
 * @param ready readiness callback, or NULL for always ready.
 * @returns the server, or NULL with errstr naming the address and why
 *          (bad syntax, unknown host, address in use).
 * @context loop */
struct http_server *http_server_new(struct event_base *base, const char *addr,
                                    struct metrics *reg, http_ready_fn ready,
                                    void *opaque, char *errstr,
                                    size_t errstr_size);

/* @returns the port actually bound (useful after asking for port 0). */
uint16_t http_server_port(const struct http_server *srv);

/* @brief Stops listening, drops open connections and frees; NULL is a
 * no-op. @context loop */
void http_server_free(struct http_server *srv);

#endif
