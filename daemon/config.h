/* SPDX-License-Identifier: Apache-2.0
 * ferryd's configuration: the INI file of DESIGN.md, parsed with libinih
 * through one table of {section, key, type, default, reloadable, check}.
 * Every error names the file, the line and the key. Durations are stored
 * in milliseconds.
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include "common/ferry_error.h"
#include "connectors/db_tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_role { CFG_ROLE_ALL, CFG_ROLE_SOURCE, CFG_ROLE_SINK };
enum cfg_transport { CFG_TRANSPORT_DIRECT, CFG_TRANSPORT_KAFKA };
enum cfg_start { CFG_START_SNAPSHOT, CFG_START_NOW, CFG_START_GTID };
enum cfg_on_error { CFG_ON_ERROR_STOP, CFG_ON_ERROR_DEAD_LETTER };

/* A MariaDB endpoint ([source] or [sink]). */
struct cfg_db {
        char *host;          /* default "127.0.0.1"; ignored if socket set */
        int port;            /* default 3306 */
        char *socket;        /* unix socket path, or NULL */
        char *user;          /* required */
        char *password;      /* read from password_file; "" if none given */
        char *password_file; /* path as configured, or NULL */
        char *database;      /* required */
        struct db_tls tls;   /* ssl_ca, ssl_cert, ssl_key,
                                ssl_verify_server_cert */
};

struct cfg {
        char *path; /* the file this came from */

        struct {
                enum cfg_role role;           /* default all */
                enum cfg_transport transport; /* default direct */
                char *state_dir;              /* default /var/lib/ferry */
                char *metrics_listen; /* default 127.0.0.1:9187; "" = off */
                char *control_socket; /* default /run/ferry/ferryd.sock */
                int log_level;        /* enum log_level; default info */
        } daemon;

        struct {
                struct cfg_db db;
                char **tables; /* names or LIKE patterns; >= 1 */
                size_t n_tables;
                uint32_t server_id;          /* default 4001; must be != 0 */
                enum cfg_start start;        /* default snapshot */
                char *start_gtid;            /* "0-1-100[,1-2-5]" for gtid: */
                int64_t heartbeat_ms;        /* default 1000 */
                int64_t read_timeout_ms;     /* default 5000; > heartbeat */
                int backfill_max_rows_per_s; /* default 0: no ceiling */
                int64_t backfill_max_lag_ms; /* default 10000; 0: never
                                                back off */
                int backfill_max_redo_fill; /* percent of the target's
                                               checkpoint age; 0 (default):
                                               never hold on it */
        } source;

        struct {
                char *brokers;      /* required when transport = kafka */
                char *topic_prefix; /* default "ferry" */
                /* rdkafka.<property> pass-through, in file order */
                char **rdkafka_keys;
                char **rdkafka_values;
                size_t n_rdkafka;
        } kafka;

        struct {
                struct cfg_db db;
                char *mapping; /* path to the mapping JSON; required for
                                  role sink/all */
                int workers;   /* default 4, 1..256 */
                char *group;   /* default "ferry-sink" */
                enum cfg_on_error on_error; /* default stop */
        } sink;

        struct {
                int64_t max_lag_ms;       /* default 1000 */
                int64_t lock_timeout_ms;  /* default 2000 */
                int64_t drain_timeout_ms; /* default 10000 */
                char *action;             /* "rename" | "exec:PATH" | "none" */
                char *retired_schema;     /* default "ferry_retired" */
                bool reverse; /* default false: stream new -> retired after
                                 a cutover, for ferryctl rollback */
                int64_t reverse_grace_ms; /* default 0: reverse streaming
                                             never stops by itself */
                int pause_count_max_rows; /* default 100000; 0: count
                                             every table in the pause */
        } cutover;
};

/**
 * @brief Reads and validates a config file, and the password files it
 *        names (their contents land in cfg_db.password, never in errstr
 *        or a log line).
 * @param path     the INI file
 * @param cfgp     on success *cfgp is a new config the caller frees with
 *                 cfg_free(); on error *cfgp is NULL
 * @returns 0, or FERRY_ERR_CONFIG with the first error found (later ones
 *          are often its echoes) in errstr, always as
 *          "FILE:LINE: [section] key: what is wrong", e.g.
 *          "/etc/ferry/ferryd.conf:12: [source] port: 'x' is not a whole
 *          number in 1..65535". A missing key names its section's header
 *          line, or line 0 when the section is absent too; errors about a
 *          whole line or section leave the key out ("FILE:LINE: [sink]:
 *          unknown section ..."); an unreadable FILE gives "FILE:0: ...".
 *          Lines are limited to 199 characters (libinih's buffer) and an
 *          indented line is refused (INI would glue it onto the value
 *          above).
 * @context any thread: no globals
 */
int cfg_load(const char *path, struct cfg **cfgp, char *errstr,
             size_t errstr_size) FERRY_WUR;

void cfg_free(struct cfg *cfg);

/* @returns whether SIGHUP may change this key without a restart
 *          (log_level and the [cutover] timeouts today); false for
 *          unknown keys. */
bool cfg_key_reloadable(const char *section, const char *key);

/**
 * @brief For SIGHUP: which keys differ between the running config and a
 *        freshly loaded one but cannot change without a restart.
 * @param out   receives "[source] host, [kafka] rdkafka.*" (truncated to
 *              outsz; may be NULL); never a value, so no secret leaks
 * @returns how many such keys differ (0: the reload can apply in full).
 *          A changed password file's contents count as a change of
 *          password_file.
 */
size_t cfg_reload_diff(const struct cfg *old, const struct cfg *fresh,
                       char *out, size_t outsz);

/**
 * @brief Parses "250ms", "5s", "2m", "1h" (a bare number is an error:
 *        the unit is never guessed).
 * @returns 0 or FERRY_ERR_CONFIG.
 */
int cfg_parse_duration(const char *text, int64_t *ms) FERRY_WUR;

/**
 * @brief Parses true|yes|on|1 and false|no|off|0 (lower case), for bool
 *        keys (none in the contract yet).
 * @returns 0 or FERRY_ERR_CONFIG.
 */
int cfg_parse_bool(const char *text, bool *out) FERRY_WUR;

#endif
