/* SPDX-License-Identifier: Apache-2.0
 * ferryd's INI configuration; see config.h. One table describes every
 * key (section, name, type, default, whether SIGHUP may change it, a check
 * for what the type alone cannot say, and where it lands in struct cfg);
 * libinih feeds it line by line and the table does the rest.
 */
#include "daemon/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/http.h"
#include "transforms/gtid.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum key_type {
        KT_STRING,   /* any text, may be empty */
        KT_PATH,     /* absolute: the daemon runs from / under systemd */
        KT_INT,      /* decimal in min..max */
        KT_BOOL,     /* true|false|yes|no|on|off|1|0 */
        KT_DURATION, /* cfg_parse_duration, stored in ms */
        KT_ENUM,     /* one of names; a name ending in ':' is a prefix */
        KT_LIST,     /* comma list, trimmed, no empty items, >= 1 item */
};

struct enum_name {
        const char *name;
        int value;
};

struct key_def;

/* Checks what the type cannot (and fills fields derived from the value,
 * such as the password read from password_file). Runs after the typed
 * value is stored. @returns 0, or -1 with why written. */
typedef int (*key_check_fn)(struct cfg *cfg, const struct key_def *k,
                            const char *value, char *why, size_t whysz);

struct key_def {
        const char *section;
        const char *key;
        enum key_type type;
        const char *def;  /* NULL: no default (required, or stays NULL) */
        size_t off;       /* into struct cfg */
        size_t count_off; /* KT_LIST: the size_t item count */
        bool required;    /* always; role/transport ones are cross-checks */
        bool reloadable;  /* SIGHUP may change it without a restart */
        const struct enum_name *names; /* KT_ENUM */
        long long min, max;            /* KT_INT */
        key_check_fn check;
};

static const struct enum_name roles[] = {{"all", CFG_ROLE_ALL},
                                         {"source", CFG_ROLE_SOURCE},
                                         {"sink", CFG_ROLE_SINK},
                                         {NULL, 0}};
static const struct enum_name transports[] = {{"direct", CFG_TRANSPORT_DIRECT},
                                              {"kafka", CFG_TRANSPORT_KAFKA},
                                              {NULL, 0}};
static const struct enum_name starts[] = {{"snapshot", CFG_START_SNAPSHOT},
                                          {"now", CFG_START_NOW},
                                          {"gtid:", CFG_START_GTID},
                                          {NULL, 0}};
static const struct enum_name on_errors[] = {
        {"stop", CFG_ON_ERROR_STOP},
        {"dead_letter", CFG_ON_ERROR_DEAD_LETTER},
        {NULL, 0}};
static const struct enum_name log_levels[] = {{"debug", LOG_LVL_DEBUG},
                                              {"info", LOG_LVL_INFO},
                                              {"warning", LOG_LVL_WARNING},
                                              {"error", LOG_LVL_ERROR},
                                              {NULL, 0}};

static int check_listen(struct cfg *cfg, const struct key_def *k,
                        const char *value, char *why, size_t whysz);
static int check_start(struct cfg *cfg, const struct key_def *k,
                       const char *value, char *why, size_t whysz);
static int check_password_file(struct cfg *cfg, const struct key_def *k,
                               const char *value, char *why, size_t whysz);
static int check_action(struct cfg *cfg, const struct key_def *k,
                        const char *value, char *why, size_t whysz);

#define OFF(field) offsetof(struct cfg, field)
#define KEY(sec, name, ty, dflt, field)                                        \
        .section = (sec), .key = (name), .type = (ty), .def = (dflt),          \
        .off = OFF(field)

static const struct key_def keys[] = {
        {KEY("daemon", "role", KT_ENUM, "all", daemon.role), .names = roles},
        {KEY("daemon", "transport", KT_ENUM, "direct", daemon.transport),
         .names = transports},
        {KEY("daemon", "state_dir", KT_PATH, "/var/lib/ferry",
             daemon.state_dir)},
        {KEY("daemon", "metrics_listen", KT_STRING, "127.0.0.1:9187",
             daemon.metrics_listen),
         .check = check_listen},
        {KEY("daemon", "control_socket", KT_PATH, "/run/ferry/ferryd.sock",
             daemon.control_socket)},
        {KEY("daemon", "log_level", KT_ENUM, "info", daemon.log_level),
         .names = log_levels, .reloadable = true},

        {KEY("source", "host", KT_STRING, "127.0.0.1", source.db.host)},
        {KEY("source", "port", KT_INT, "3306", source.db.port), .min = 1,
         .max = 65535},
        {KEY("source", "socket", KT_PATH, NULL, source.db.socket)},
        {KEY("source", "ssl_ca", KT_PATH, NULL, source.db.tls.ca)},
        {KEY("source", "ssl_cert", KT_PATH, NULL, source.db.tls.cert)},
        {KEY("source", "ssl_key", KT_PATH, NULL, source.db.tls.key)},
        {KEY("source", "ssl_verify_server_cert", KT_BOOL, "true",
             source.db.tls.verify)},
        {KEY("source", "user", KT_STRING, NULL, source.db.user),
         .required = true},
        {KEY("source", "password_file", KT_PATH, NULL, source.db.password_file),
         .check = check_password_file},
        {KEY("source", "database", KT_STRING, NULL, source.db.database),
         .required = true},
        {KEY("source", "tables", KT_LIST, NULL, source.tables),
         .count_off = OFF(source.n_tables), .required = true},
        {KEY("source", "server_id", KT_INT, "4001", source.server_id), .min = 1,
         .max = 4294967295LL},
        {KEY("source", "start", KT_ENUM, "snapshot", source.start),
         .names = starts, .check = check_start},
        {KEY("source", "heartbeat", KT_DURATION, "1s", source.heartbeat_ms)},
        {KEY("source", "read_timeout", KT_DURATION, "5s",
             source.read_timeout_ms)},
        {KEY("source", "backfill_max_rows_per_second", KT_INT, "0",
             source.backfill_max_rows_per_s), .min = 0, .max = 1000000000,
         .reloadable = true},
        {KEY("source", "backfill_max_lag", KT_DURATION, "10s",
             source.backfill_max_lag_ms), .reloadable = true},
        {KEY("source", "backfill_max_redo_fill", KT_INT, "0",
             source.backfill_max_redo_fill), .min = 0, .max = 100,
         .reloadable = true},

        {KEY("kafka", "brokers", KT_STRING, NULL, kafka.brokers)},
        {KEY("kafka", "topic_prefix", KT_STRING, "ferry", kafka.topic_prefix)},
        /* rdkafka.<property> is not a row: see on_entry */

        {KEY("sink", "host", KT_STRING, "127.0.0.1", sink.db.host)},
        {KEY("sink", "port", KT_INT, "3306", sink.db.port), .min = 1,
         .max = 65535},
        {KEY("sink", "socket", KT_PATH, NULL, sink.db.socket)},
        {KEY("sink", "ssl_ca", KT_PATH, NULL, sink.db.tls.ca)},
        {KEY("sink", "ssl_cert", KT_PATH, NULL, sink.db.tls.cert)},
        {KEY("sink", "ssl_key", KT_PATH, NULL, sink.db.tls.key)},
        {KEY("sink", "ssl_verify_server_cert", KT_BOOL, "true",
             sink.db.tls.verify)},
        {KEY("sink", "user", KT_STRING, NULL, sink.db.user)},
        {KEY("sink", "password_file", KT_PATH, NULL, sink.db.password_file),
         .check = check_password_file},
        {KEY("sink", "database", KT_STRING, NULL, sink.db.database)},
        {KEY("sink", "mapping", KT_PATH, NULL, sink.mapping)},
        {KEY("sink", "workers", KT_INT, "4", sink.workers), .min = 1,
         .max = 256},
        {KEY("sink", "group", KT_STRING, "ferry-sink", sink.group)},
        {KEY("sink", "on_error", KT_ENUM, "stop", sink.on_error),
         .names = on_errors},

        /* read when a cutover starts, so a reload applies to the next */
        {KEY("cutover", "max_lag", KT_DURATION, "1s", cutover.max_lag_ms),
         .reloadable = true},
        {KEY("cutover", "lock_timeout", KT_DURATION, "2s",
             cutover.lock_timeout_ms),
         .reloadable = true},
        {KEY("cutover", "drain_timeout", KT_DURATION, "10s",
             cutover.drain_timeout_ms),
         .reloadable = true},
        {KEY("cutover", "action", KT_STRING, "rename", cutover.action),
         .check = check_action},
        {KEY("cutover", "retired_schema", KT_STRING, "ferry_retired",
             cutover.retired_schema)},
        {KEY("cutover", "reverse", KT_BOOL, "false", cutover.reverse)},
        {KEY("cutover", "reverse_grace", KT_DURATION, "0s",
             cutover.reverse_grace_ms)},
        {KEY("cutover", "pause_count_max_rows", KT_INT, "100000",
             cutover.pause_count_max_rows), .min = 0, .max = 2147483647,
         .reloadable = true},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* [kafka] keys with this prefix go to librdkafka as they are */
#define RDKAFKA_PREFIX "rdkafka."

struct parse_state {
        struct cfg *cfg;
        FILE *file;
        const char *path;
        /* Debian's libinih does not pass line numbers: the reader counts
         * them (inih calls it once per line, before handling that line) */
        int line;
        char section[64];        /* the current [section], as inih sees it */
        char prev_key[64];       /* last key in it: what an indented line
                                    would continue */
        int seen_line[NKEYS];    /* 0: not set in the file */
        int section_line[NKEYS]; /* by a section's first row: its header */
        char *err;
        size_t errsz;
        bool failed;
};

int cfg_parse_duration(const char *text, int64_t *ms)
{
        char *end;
        if (*text < '0' || *text > '9')
                return FERRY_ERR_CONFIG; /* "-1s", " 5s", "s", "" */
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || end == text)
                return FERRY_ERR_CONFIG;
        unsigned long long mult;
        if (!strcmp(end, "ms"))
                mult = 1;
        else if (!strcmp(end, "s"))
                mult = 1000;
        else if (!strcmp(end, "m"))
                mult = 60000;
        else if (!strcmp(end, "h"))
                mult = 3600000;
        else
                return FERRY_ERR_CONFIG;
        if (v > (unsigned long long)INT64_MAX / mult)
                return FERRY_ERR_CONFIG;
        *ms = (int64_t)(v * mult);
        return 0;
}

int cfg_parse_bool(const char *text, bool *out)
{
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
                if (!strcmp(text, yes[i])) {
                        *out = true;
                        return 0;
                }
                if (!strcmp(text, no[i])) {
                        *out = false;
                        return 0;
                }
        }
        return FERRY_ERR_CONFIG;
}

static char *trim(char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r'))
                s[--n] = '\0';
        return s;
}

static void fail(struct parse_state *ps, int line, const char *section,
                 const char *key, const char *fmt, ...) FERRY_PRINTF(5, 6);

/* Keeps the first error only: later ones are often its echoes (a bad
 * role makes every role cross-check noise). */
static void fail(struct parse_state *ps, int line, const char *section,
                 const char *key, const char *fmt, ...)
{
        if (ps->failed)
                return;
        char what[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (key)
                snprintf(ps->err, ps->errsz, "%s:%d: [%s] %s: %s", ps->path,
                         line, section, key, what);
        else
                snprintf(ps->err, ps->errsz, "%s:%d: [%s]: %s", ps->path, line,
                         section, what);
        ps->failed = true;
}

static const struct key_def *find_key(const char *section, const char *key)
{
        for (size_t i = 0; i < NKEYS; i++)
                if (!strcmp(keys[i].section, section) &&
                    !strcmp(keys[i].key, key))
                        return &keys[i];
        return NULL;
}

/* @returns the index of the section's first row, or -1 if unknown. */
static int find_section(const char *section)
{
        for (size_t i = 0; i < NKEYS; i++)
                if (!strcmp(keys[i].section, section))
                        return (int)i;
        return -1;
}

static void section_names(char *out, size_t outsz)
{
        size_t used = 0;
        out[0] = '\0';
        for (size_t i = 0; i < NKEYS; i++) {
                if (find_section(keys[i].section) != (int)i)
                        continue;
                int n = snprintf(out + used, outsz - used, "%s%s",
                                 used ? ", " : "", keys[i].section);
                if (n < 0 || (size_t)n >= outsz - used)
                        return;
                used += (size_t)n;
        }
}

static void enum_names(const struct enum_name *names, char *out, size_t outsz)
{
        size_t used = 0;
        out[0] = '\0';
        for (const struct enum_name *e = names; e->name; e++) {
                size_t len = strlen(e->name);
                bool prefix = len && e->name[len - 1] == ':';
                int n = snprintf(out + used, outsz - used, "%s%s%s",
                                 used ? ", " : "", e->name,
                                 prefix ? "..." : "");
                if (n < 0 || (size_t)n >= outsz - used)
                        return;
                used += (size_t)n;
        }
}

static int check_listen(struct cfg *cfg, const struct key_def *k,
                        const char *value, char *why, size_t whysz)
{
        char *host = NULL;
        uint16_t port;
        (void)cfg;
        (void)k;
        if (!*value)
                return 0; /* off */
        int rc = http_listen_parse(value, &host, &port, why, whysz);
        free(host);
        return rc ? -1 : 0;
}

static int check_start(struct cfg *cfg, const struct key_def *k,
                       const char *value, char *why, size_t whysz)
{
        (void)k;
        free(cfg->source.start_gtid);
        cfg->source.start_gtid = NULL;
        if (cfg->source.start != CFG_START_GTID)
                return 0;
        const char *text = value + strlen("gtid:");
        struct gtid_pos pos;
        gtid_pos_init(&pos);
        int bad = gtid_pos_parse(&pos, text, why, whysz);
        if (!bad && pos.n == 0) {
                snprintf(why, whysz, "gtid: needs a position like 0-1-100");
                bad = 1;
        }
        gtid_pos_free(&pos);
        if (bad)
                return -1;
        cfg->source.start_gtid = xstrdup(text);
        return 0;
}

static int check_action(struct cfg *cfg, const struct key_def *k,
                        const char *value, char *why, size_t whysz)
{
        (void)cfg;
        (void)k;
        if (!strcmp(value, "rename") || !strcmp(value, "none"))
                return 0;
        if (!strncmp(value, "exec:", 5) && value[5] == '/')
                return 0;
        snprintf(why, whysz,
                 "'%s' is not one of rename, none, exec:/absolute/path", value);
        return -1;
}

/* Reads the whole secret; one trailing newline (or CRLF) is an editor's,
 * not the password's. Nothing of it goes into why. */
static int read_password(const char *path, char **out, char *why, size_t whysz)
{
        FILE *f = fopen(path, "r");
        if (!f) {
                snprintf(why, whysz, "cannot read '%s': %s", path,
                         strerror(errno));
                return -1;
        }
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf), f);
        int err = ferror(f) ? errno : 0;
        bool more = !err && n == sizeof(buf) && fgetc(f) != EOF;
        fclose(f);
        if (err) {
                snprintf(why, whysz, "cannot read '%s': %s", path,
                         strerror(err));
                return -1;
        }
        if (more) {
                snprintf(why, whysz,
                         "'%s' is longer than %zu bytes: not a "
                         "password file?",
                         path, sizeof(buf) - 1);
                memset(buf, 0, sizeof(buf));
                return -1;
        }
        if (n && buf[n - 1] == '\n')
                n--;
        if (n && buf[n - 1] == '\r')
                n--;
        if (memchr(buf, '\0', n) || memchr(buf, '\n', n)) {
                snprintf(why, whysz,
                         "'%s' holds more than one line or a NUL "
                         "byte: the password must be its only line",
                         path);
                memset(buf, 0, sizeof(buf));
                return -1;
        }
        *out = xmalloc(n + 1);
        memcpy(*out, buf, n);
        (*out)[n] = '\0';
        memset(buf, 0, sizeof(buf));
        return 0;
}

static void free_password(char **pw)
{
        if (*pw)
                memset(*pw, 0, strlen(*pw));
        free(*pw);
        *pw = NULL;
}

static int check_password_file(struct cfg *cfg, const struct key_def *k,
                               const char *value, char *why, size_t whysz)
{
        struct cfg_db *db =
                !strcmp(k->section, "source") ? &cfg->source.db : &cfg->sink.db;
        free_password(&db->password);
        return read_password(value, &db->password, why, whysz);
}

static void free_list(char ***items, size_t *n)
{
        for (size_t i = 0; i < *n; i++)
                free((*items)[i]);
        free(*items);
        *items = NULL;
        *n = 0;
}

/* Stores value into the row's field. @returns 0, or -1 with why written. */
static int store(struct cfg *cfg, const struct key_def *k, const char *value,
                 char *why, size_t whysz)
{
        char *field = (char *)cfg + k->off;

        switch (k->type) {
        case KT_PATH:
                if (value[0] != '/') {
                        snprintf(why, whysz, "'%s' is not an absolute path",
                                 value);
                        return -1;
                }
                /* fall through */
        case KT_STRING: {
                char **dst = (char **)field;
                free(*dst);
                *dst = xstrdup(value);
                return 0;
        }
        case KT_INT: {
                char *end;
                errno = 0;
                long long v = strtoll(value, &end, 10);
                if (errno || end == value || *end || v < k->min || v > k->max) {
                        snprintf(why, whysz,
                                 "'%s' is not a whole number in %lld..%lld",
                                 value, k->min, k->max);
                        return -1;
                }
                /* server_id is the one field wider than int */
                if (k->max > INT_MAX)
                        *(uint32_t *)field = (uint32_t)v;
                else
                        *(int *)field = (int)v;
                return 0;
        }
        case KT_BOOL:
                if (cfg_parse_bool(value, (bool *)field)) {
                        snprintf(why, whysz, "'%s' is not true or false",
                                 value);
                        return -1;
                }
                return 0;
        case KT_DURATION:
                if (cfg_parse_duration(value, (int64_t *)field)) {
                        snprintf(why, whysz,
                                 "'%s' is not a duration like 250ms, 5s, "
                                 "2m, 1h",
                                 value);
                        return -1;
                }
                return 0;
        case KT_ENUM:
                for (const struct enum_name *e = k->names; e->name; e++) {
                        size_t len = strlen(e->name);
                        bool prefix = e->name[len - 1] == ':';
                        if (prefix ? !strncmp(e->name, value, len)
                                   : !strcmp(e->name, value)) {
                                *(int *)field = e->value;
                                return 0;
                        }
                }
                {
                        char list[256];
                        enum_names(k->names, list, sizeof(list));
                        snprintf(why, whysz, "'%s' is not one of %s", value,
                                 list);
                }
                return -1;
        case KT_LIST: {
                char ***items = (char ***)field;
                size_t *n = (size_t *)((char *)cfg + k->count_off);
                char *copy = xstrdup(value), *p = copy;
                free_list(items, n);
                for (;;) {
                        char *comma = strchr(p, ',');
                        if (comma)
                                *comma = '\0';
                        char *item = trim(p);
                        if (!*item) {
                                snprintf(why, whysz,
                                         "empty item %zu in "
                                         "'%s': name tables or LIKE "
                                         "patterns, comma separated",
                                         *n + 1, value);
                                free(copy);
                                free_list(items, n);
                                return -1;
                        }
                        *items = xrealloc(*items, (*n + 1) * sizeof(char *));
                        (*items)[(*n)++] = xstrdup(item);
                        if (!comma)
                                break;
                        p = comma + 1;
                }
                free(copy);
                return 0;
        }
        }
        snprintf(why, whysz, "no such type");
        return -1;
}

static int set_value(struct parse_state *ps, const struct key_def *k,
                     const char *value, int line)
{
        char why[512];
        if (store(ps->cfg, k, value, why, sizeof(why)) ||
            (k->check && k->check(ps->cfg, k, value, why, sizeof(why)))) {
                fail(ps, line, k->section, k->key, "%s", why);
                return -1;
        }
        return 0;
}

/* Sees every raw line before inih does: counts lines and catches what
 * inih would silently misread (a line cut at its buffer size, an indented
 * line glued onto the previous value, a section that holds no keys). */
static char *read_line(char *str, int num, void *stream)
{
        struct parse_state *ps = stream;
        char *r = fgets(str, num, ps->file);
        if (!r)
                return NULL;
        ps->line++;
        if (ps->failed)
                return r;
        if (!strchr(str, '\n') && !feof(ps->file)) {
                int c = fgetc(ps->file);
                if (c != '\n' && c != EOF) {
                        while (c != '\n' && c != EOF)
                                c = fgetc(ps->file);
                        fail(ps, ps->line, ps->section, NULL,
                             "line is longer than %d characters", num - 1);
                        return r;
                }
        }
        char *s = str;
        if (ps->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
                s += 3;
        bool indented = *s == ' ' || *s == '\t';
        char copy[512];
        snprintf(copy, sizeof(copy), "%s", s);
        char *t = trim(copy);
        if (!*t || *t == ';' || *t == '#')
                return r;
        if (indented && ps->prev_key[0]) {
                fail(ps, ps->line, ps->section, ps->prev_key, "%s",
                     "this line is indented, so INI would read it as more "
                     "of this key's value; remove the leading whitespace");
                return r;
        }
        if (*t == '[') {
                char *close = strchr(t, ']');
                if (!close)
                        return r; /* inih reports the syntax error */
                *close = '\0';
                snprintf(ps->section, sizeof(ps->section), "%s", t + 1);
                ps->prev_key[0] = '\0';
                int first = find_section(ps->section);
                if (first < 0) {
                        char known[128];
                        section_names(known, sizeof(known));
                        fail(ps, ps->line, ps->section, NULL,
                             "unknown section (sections: %s)", known);
                } else if (!ps->section_line[first]) {
                        ps->section_line[first] = ps->line;
                }
        }
        return r;
}

static int add_rdkafka(struct parse_state *ps, const char *name,
                       const char *value, int line)
{
        struct cfg *cfg = ps->cfg;
        const char *prop = name + strlen(RDKAFKA_PREFIX);
        size_t n = cfg->kafka.n_rdkafka;

        if (!*prop) {
                fail(ps, line, "kafka", name, "%s",
                     "needs a librdkafka property name after 'rdkafka.'");
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                if (!strcmp(cfg->kafka.rdkafka_keys[i], prop)) {
                        fail(ps, line, "kafka", name, "%s", "set twice");
                        return 0;
                }
        }
        cfg->kafka.rdkafka_keys =
                xrealloc(cfg->kafka.rdkafka_keys, (n + 1) * sizeof(char *));
        cfg->kafka.rdkafka_values =
                xrealloc(cfg->kafka.rdkafka_values, (n + 1) * sizeof(char *));
        cfg->kafka.rdkafka_keys[n] = xstrdup(prop);
        cfg->kafka.rdkafka_values[n] = xstrdup(value);
        cfg->kafka.n_rdkafka++;
        return 1;
}

static int on_entry(void *user, const char *section, const char *name,
                    const char *value)
{
        struct parse_state *ps = user;
        int line = ps->line;

        if (ps->failed)
                return 1; /* already reported; keep inih quiet */
        snprintf(ps->prev_key, sizeof(ps->prev_key), "%s", name);
        if (!strcmp(section, "kafka") &&
            !strncmp(name, RDKAFKA_PREFIX, strlen(RDKAFKA_PREFIX)))
                return add_rdkafka(ps, name, value, line);
        if (!*section) {
                fail(ps, line, "", name, "%s",
                     "key before any [section] header");
                return 0;
        }
        const struct key_def *k = find_key(section, name);
        if (!k) {
                fail(ps, line, section, name, "%s", "unknown key");
                return 0;
        }
        size_t i = (size_t)(k - keys);
        if (ps->seen_line[i]) {
                fail(ps, line, section, name, "set twice (first on line %d)",
                     ps->seen_line[i]);
                return 0;
        }
        ps->seen_line[i] = line;
        return set_value(ps, k, value, line) ? 0 : 1;
}

static void apply_defaults(struct parse_state *ps)
{
        for (size_t i = 0; i < NKEYS; i++)
                if (keys[i].def)
                        (void)set_value(ps, &keys[i], keys[i].def, 0);
}

/* A missing key points at its section's header, or line 0 when the
 * whole section is missing. */
static void require(struct parse_state *ps, const char *section,
                    const char *key, const char *why)
{
        const struct key_def *k = find_key(section, key);
        if (!k || ps->seen_line[k - keys])
                return;
        int line = ps->section_line[find_section(section)];
        fail(ps, line, section, key, "missing required key%s", why);
}

/* The line a key was set on, or its section's, or 0. */
static int line_of(struct parse_state *ps, const char *section, const char *key)
{
        const struct key_def *k = find_key(section, key);
        if (ps->seen_line[k - keys])
                return ps->seen_line[k - keys];
        return ps->section_line[find_section(section)];
}

static void cross_check(struct parse_state *ps)
{
        struct cfg *cfg = ps->cfg;
        for (size_t i = 0; i < NKEYS; i++)
                if (keys[i].required)
                        require(ps, keys[i].section, keys[i].key, "");
        if (cfg->daemon.role != CFG_ROLE_SOURCE) {
                require(ps, "sink", "user", " (role includes the sink)");
                require(ps, "sink", "database", " (role includes the sink)");
                require(ps, "sink", "mapping", " (role includes the sink)");
        } else if (cfg->sink.db.user || cfg->sink.db.database ||
                   cfg->sink.mapping) {
                /* Optional for the source role, but all or nothing: the
                 * cutover verifies the target through the mapping. */
                const char *why = " (role = source with a [sink] target, "
                                  "which the cutover verifies)";
                require(ps, "sink", "user", why);
                require(ps, "sink", "database", why);
                require(ps, "sink", "mapping", why);
        }
        if (cfg->daemon.transport == CFG_TRANSPORT_KAFKA)
                require(ps, "kafka", "brokers", " (transport = kafka)");
        if (cfg->daemon.transport == CFG_TRANSPORT_DIRECT &&
            cfg->daemon.role != CFG_ROLE_ALL)
                fail(ps, line_of(ps, "daemon", "transport"), "daemon",
                     "transport", "%s",
                     "direct carries events inside one process, so it "
                     "needs role = all (use transport = kafka to split "
                     "source and sink)");
        /* Reverse streaming reads the target's binlog into the tables a
         * rename retired: it needs both. */
        if (cfg->cutover.reverse &&
            cfg->daemon.transport != CFG_TRANSPORT_DIRECT)
                fail(ps, line_of(ps, "cutover", "reverse"), "cutover",
                     "reverse", "%s",
                     "needs transport = direct (reverse streaming is not "
                     "built for Kafka)");
        else if (cfg->cutover.reverse && strcmp(cfg->cutover.action, "rename"))
                fail(ps, line_of(ps, "cutover", "reverse"), "cutover",
                     "reverse", "%s",
                     "needs action = rename: the old tables must still "
                     "exist, in retired_schema, to stream back into");
        if (cfg->source.heartbeat_ms < 100)
                fail(ps, line_of(ps, "source", "heartbeat"), "source",
                     "heartbeat", "%s", "must be at least 100ms");
        if (cfg->source.read_timeout_ms <= cfg->source.heartbeat_ms)
                fail(ps, line_of(ps, "source", "read_timeout"), "source",
                     "read_timeout", "%s",
                     "must be longer than heartbeat, or an idle but "
                     "healthy connection would time out");
}

int cfg_load(const char *path, struct cfg **cfgp, char *errstr,
             size_t errstr_size)
{
        struct cfg *cfg = xcalloc(1, sizeof(*cfg));
        struct parse_state ps = {
                .cfg = cfg, .path = path, .err = errstr, .errsz = errstr_size};
        *cfgp = NULL;
        cfg->path = xstrdup(path);
        apply_defaults(&ps);
        if (ps.failed) { /* a bad row in the table: a bug, not the user's */
                cfg_free(cfg);
                return FERRY_ERR_CONFIG;
        }

        FILE *f = fopen(path, "r");
        if (!f) {
                snprintf(errstr, errstr_size, "%s:0: cannot read: %s", path,
                         strerror(errno));
                cfg_free(cfg);
                return FERRY_ERR_CONFIG;
        }
        ps.file = f;
        int r = ini_parse_stream(read_line, &ps, on_entry, &ps);
        int read_errno = ferror(f) ? errno : 0;
        fclose(f);
        if (read_errno && !ps.failed) {
                snprintf(errstr, errstr_size, "%s:%d: cannot read: %s", path,
                         ps.line, strerror(read_errno));
                ps.failed = true;
        }
        if (r > 0 && !ps.failed) {
                snprintf(errstr, errstr_size,
                         "%s:%d: [%s]: syntax error: expected key = value, "
                         "[section] or a ; comment",
                         path, r, ps.section);
                ps.failed = true;
        }
        if (r < 0 && !ps.failed) {
                snprintf(errstr, errstr_size, "%s:0: cannot parse: %s", path,
                         r == -2 ? "out of memory" : "cannot read");
                ps.failed = true;
        }
        if (!ps.failed)
                cross_check(&ps);
        if (ps.failed) {
                cfg_free(cfg);
                return FERRY_ERR_CONFIG;
        }
        if (!cfg->source.db.password)
                cfg->source.db.password = xstrdup("");
        if (!cfg->sink.db.password)
                cfg->sink.db.password = xstrdup("");
        *cfgp = cfg;
        return 0;
}

static void free_db(struct cfg_db *db)
{
        free(db->host);
        free(db->socket);
        free(db->user);
        free_password(&db->password);
        free(db->password_file);
        free(db->database);
        free(db->tls.ca);
        free(db->tls.cert);
        free(db->tls.key);
}

void cfg_free(struct cfg *cfg)
{
        if (!cfg)
                return;
        free(cfg->path);
        free(cfg->daemon.state_dir);
        free(cfg->daemon.metrics_listen);
        free(cfg->daemon.control_socket);
        free_db(&cfg->source.db);
        free_list(&cfg->source.tables, &cfg->source.n_tables);
        free(cfg->source.start_gtid);
        free(cfg->kafka.brokers);
        free(cfg->kafka.topic_prefix);
        for (size_t i = 0; i < cfg->kafka.n_rdkafka; i++) {
                free(cfg->kafka.rdkafka_keys[i]);
                free(cfg->kafka.rdkafka_values[i]);
        }
        free(cfg->kafka.rdkafka_keys);
        free(cfg->kafka.rdkafka_values);
        free_db(&cfg->sink.db);
        free(cfg->sink.mapping);
        free(cfg->sink.group);
        free(cfg->cutover.action);
        free(cfg->cutover.retired_schema);
        free(cfg);
}

bool cfg_key_reloadable(const char *section, const char *key)
{
        const struct key_def *k = find_key(section, key);
        return k && k->reloadable;
}

static bool str_differs(const char *a, const char *b)
{
        if (!a || !b)
                return a != b;
        return strcmp(a, b) != 0;
}

static bool key_differs(const struct cfg *a, const struct cfg *b,
                        const struct key_def *k)
{
        const char *fa = (const char *)a + k->off;
        const char *fb = (const char *)b + k->off;

        if (k->check == check_password_file) {
                const struct cfg_db *da = !strcmp(k->section, "source")
                                                  ? &a->source.db
                                                  : &a->sink.db;
                const struct cfg_db *db = !strcmp(k->section, "source")
                                                  ? &b->source.db
                                                  : &b->sink.db;
                if (str_differs(da->password, db->password))
                        return true;
        }
        if (k->check == check_start &&
            str_differs(a->source.start_gtid, b->source.start_gtid))
                return true;
        switch (k->type) {
        case KT_STRING:
        case KT_PATH:
                return str_differs(*(char *const *)fa, *(char *const *)fb);
        case KT_INT:
                if (k->max > INT_MAX)
                        return *(const uint32_t *)fa != *(const uint32_t *)fb;
                return *(const int *)fa != *(const int *)fb;
        case KT_BOOL:
                return *(const bool *)fa != *(const bool *)fb;
        case KT_DURATION:
                return *(const int64_t *)fa != *(const int64_t *)fb;
        case KT_ENUM:
                return *(const int *)fa != *(const int *)fb;
        case KT_LIST: {
                size_t na = *(const size_t *)((const char *)a + k->count_off);
                size_t nb = *(const size_t *)((const char *)b + k->count_off);
                char *const *la = *(char *const *const *)fa;
                char *const *lb = *(char *const *const *)fb;
                if (na != nb)
                        return true;
                for (size_t i = 0; i < na; i++)
                        if (strcmp(la[i], lb[i]))
                                return true;
                return false;
        }
        }
        return true;
}

static bool rdkafka_differs(const struct cfg *a, const struct cfg *b)
{
        if (a->kafka.n_rdkafka != b->kafka.n_rdkafka)
                return true;
        for (size_t i = 0; i < a->kafka.n_rdkafka; i++)
                if (strcmp(a->kafka.rdkafka_keys[i],
                           b->kafka.rdkafka_keys[i]) ||
                    strcmp(a->kafka.rdkafka_values[i],
                           b->kafka.rdkafka_values[i]))
                        return true;
        return false;
}

static void list_add(char *out, size_t outsz, size_t *used, const char *sec,
                     const char *key)
{
        if (!out || !outsz || *used >= outsz)
                return;
        int n = snprintf(out + *used, outsz - *used, "%s[%s] %s",
                         *used ? ", " : "", sec, key);
        if (n > 0)
                *used += (size_t)n;
}

size_t cfg_reload_diff(const struct cfg *old, const struct cfg *fresh,
                       char *out, size_t outsz)
{
        size_t n = 0, used = 0;
        if (out && outsz)
                out[0] = '\0';
        for (size_t i = 0; i < NKEYS; i++) {
                if (keys[i].reloadable || !key_differs(old, fresh, &keys[i]))
                        continue;
                list_add(out, outsz, &used, keys[i].section, keys[i].key);
                n++;
        }
        if (rdkafka_differs(old, fresh)) {
                list_add(out, outsz, &used, "kafka", RDKAFKA_PREFIX "*");
                n++;
        }
        return n;
}
