/* SPDX-License-Identifier: Apache-2.0
 * ferryctl: steers a running ferryd over its control socket
 * (docs/control-protocol.md). One request, one reply; exit 0 on success,
 * 1 with one line on stderr when ferryd says no or cannot be reached,
 * 2 for a usage error.
 */
#include "common/log.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/ferry_version.h"
#include "daemon/plan.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/ferry/ferryd.sock"

static const char usage[] =
        "Usage: ferryctl [-c FILE | --socket PATH] COMMAND [ARGS]\n"
        "\n"
        "Steers a running ferryd through its control socket.\n"
        "\n"
        "Commands:\n"
        "  status [--json]         state, position, lag, backfill progress,\n"
        "                          last verify and cutover\n"
        "  pause                   stop applying changes (direct: the\n"
        "                          source waits; kafka: messages wait\n"
        "                          in Kafka)\n"
        "  resume                  apply again\n"
        "  snapshot TABLE...       backfill these source tables (again)\n"
        "  verify [--table T]      compare source and target by checksum;\n"
        "                          exit 1 if rows differ\n"
        "  cutover [--dry-run]     pause source writes, drain, verify,\n"
        "                          switch ([cutover] action) and release\n"
        "  abort                   cancel a running cutover\n"
        "  rollback [--dry-run]    after a cutover with [cutover] reverse =\n"
        "                          true: pause writes to the new tables,\n"
        "                          drain the reverse stream, count, rename\n"
        "                          the retired tables back and release\n"
        "  plan                    preflight checks against the servers\n"
        "                          (needs -c; no daemon needed)\n"
        "\n"
        "With transport = kafka, snapshot, verify, cutover and abort go to\n"
        "the ferryd with role = source (or all), pause and resume to each\n"
        "one with role = sink (or all); rollback is direct only.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE       find the socket in ferryd's config\n"
        "                          ([daemon] control_socket)\n"
        "  -s, --socket PATH       the socket (default " DEFAULT_SOCKET ")\n"
        "  -t, --timeout SECONDS   give up waiting for the reply (default:\n"
        "                          30, none for verify, cutover and\n"
        "                          rollback)\n"
        "      --json              print the reply as JSON\n"
        "  -h, --help              this text\n"
        "  -V, --version           the version\n";

struct opts {
        const char *config;
        const char *socket;
        int timeout_s; /* -1: the command's default */
        bool json;
        bool dry_run;
        const char *table;
};

static int die(const char *fmt, ...) FERRY_PRINTF(1, 2);
static int die(const char *fmt, ...)
{
        va_list ap;
        fputs("ferryctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

static int socket_path(const struct opts *o, char *out, size_t out_size)
{
        if (o->socket) {
                snprintf(out, out_size, "%s", o->socket);
                return 0;
        }
        if (!o->config) {
                snprintf(out, out_size, "%s", DEFAULT_SOCKET);
                return 0;
        }
        struct cfg *cfg;
        char err[1024];
        if (cfg_load(o->config, &cfg, err, sizeof(err)))
                return die("%s", err);
        if (!cfg->daemon.control_socket[0]) {
                cfg_free(cfg);
                return die("%s: [daemon] control_socket is empty: this "
                           "ferryd has no control socket",
                           o->config);
        }
        snprintf(out, out_size, "%s", cfg->daemon.control_socket);
        cfg_free(cfg);
        return 0;
}

/* Sends one request and reads one reply line. */
static int call(const char *path, json_t *req, int timeout_s, json_t **reply)
{
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sun.sun_path))
                return die("socket path too long: %s", path);
        memcpy(sun.sun_path, path, strlen(path) + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return die("cannot reach ferryd at %s: %s%s", path, strerror(e),
                           e == ENOENT || e == ECONNREFUSED
                                   ? " (is ferryd running? -c/--socket "
                                     "pick another)"
                                   : "");
        }
        char *text = json_dumps(req, JSON_COMPACT);
        size_t len = strlen(text);
        text[len] = '\n'; /* over the terminator: written by length */
        ssize_t w = write(fd, text, len + 1);
        free(text);
        if (w != (ssize_t)(len + 1)) {
                close(fd);
                return die("writing to %s: %s", path, strerror(errno));
        }
        char *buf = NULL;
        size_t n = 0, cap = 0;
        time_t deadline = timeout_s > 0 ? time(NULL) + timeout_s : 0;
        for (;;) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                int left = deadline ? (int)(deadline - time(NULL)) * 1000 : -1;
                if (deadline && left <= 0) {
                        close(fd);
                        free(buf);
                        return die("no reply from ferryd within %ds",
                                   timeout_s);
                }
                if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
                        close(fd);
                        free(buf);
                        return die("poll: %s", strerror(errno));
                }
                if (cap - n < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        buf = realloc(buf, cap);
                        if (!buf)
                                return die("out of memory");
                }
                ssize_t r = read(fd, buf + n, cap - n - 1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        close(fd);
                        free(buf);
                        return die("ferryd closed the connection without "
                                   "a reply");
                }
                n += (size_t)r;
                if (memchr(buf, '\n', n))
                        break;
        }
        close(fd);
        json_error_t jerr;
        *reply = json_loadb(buf, (size_t)((char *)memchr(buf, '\n', n) - buf),
                            0, &jerr);
        free(buf);
        if (!*reply)
                return die("unreadable reply from ferryd: %s", jerr.text);
        return 0;
}

static const char *str(json_t *o, const char *k)
{
        const char *s = json_string_value(json_object_get(o, k));
        return s ? s : "-";
}

static double num(json_t *o, const char *k)
{
        return json_number_value(json_object_get(o, k));
}

static void print_status(json_t *r)
{
        printf("state         %s\n", str(r, "state"));
        printf("role          %s (%s transport)\n", str(r, "role"),
               str(r, "transport"));
        printf("position      %s\n",
               *str(r, "position") ? str(r, "position") : "(none yet)");
        printf("lag           %.1fs (source %.1fs, sink %.1fs)\n",
               num(r, "lag_seconds"), num(r, "source_lag_seconds"),
               num(r, "sink_lag_seconds"));
        json_t *bf = json_object_get(r, "backfill");
        if (json_array_size(bf)) {
                printf("backfill\n  %-40s %12s %12s %5s %10s %8s\n", "TABLE",
                       "COPIED", "TOTAL", "DONE", "ROWS/S", "ETA");
                size_t i;
                json_t *t;
                json_array_foreach(bf, i, t)
                {
                        char eta[32] = "-";
                        if (json_object_get(t, "eta_seconds"))
                                snprintf(eta, sizeof(eta), "%.0fs",
                                         num(t, "eta_seconds"));
                        printf("  %-40s %12.0f %12.0f %5s %10.0f %8s\n",
                               str(t, "table"), num(t, "rows_copied"),
                               num(t, "rows_total"),
                               json_is_true(json_object_get(t, "done")) ? "yes"
                                                                        : "no",
                               num(t, "rows_per_second"), eta);
                }
        }
        json_t *v = json_object_get(r, "last_verify");
        if (json_is_object(v))
                printf("last verify   %s (%.2fs)\n",
                       json_object_get(v, "error") ? str(v, "error")
                       : json_is_true(json_object_get(v, "clean"))
                               ? "clean"
                               : "DIFFERENCES (status --json lists keys)",
                       num(v, "seconds"));
        json_t *c = json_object_get(r, "last_cutover");
        if (json_is_object(c))
                printf("last cutover  %s, write pause %.1f ms%s%s\n",
                       str(c, "result"), num(c, "pause_ms"),
                       *str(c, "reason") ? ": " : "",
                       *str(c, "reason") ? str(c, "reason") : "");
        if (json_object_get(r, "cutover_step"))
                printf("cutover step  %s\n", str(r, "cutover_step"));
        json_t *rv = json_object_get(r, "reverse");
        if (json_is_true(json_object_get(rv, "enabled"))) {
                printf("reverse       %s, lag %.1fs%s%s\n", str(rv, "state"),
                       num(rv, "lag_seconds"),
                       json_is_string(json_object_get(rv, "last_error"))
                               ? ": "
                               : "",
                       json_is_string(json_object_get(rv, "last_error"))
                               ? str(rv, "last_error")
                               : "");
                json_t *lr = json_object_get(rv, "last_rollback");
                if (json_is_object(lr))
                        printf("last rollback %s, write pause %.1f ms%s%s\n",
                               str(lr, "result"), num(lr, "pause_ms"),
                               *str(lr, "reason") ? ": " : "",
                               *str(lr, "reason") ? str(lr, "reason") : "");
        }
        if (json_is_string(json_object_get(r, "last_error")))
                printf("last error    %s\n", str(r, "last_error"));
}

static void print_result(const char *cmd, json_t *r, bool as_json)
{
        if (as_json || (strcmp(cmd, "status") && strcmp(cmd, "cutover") &&
                        strcmp(cmd, "rollback") && strcmp(cmd, "verify"))) {
                char *t = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);
                if (as_json)
                        printf("%s\n", t);
                else if (strcmp(cmd, "status"))
                        printf("%s: ok\n", cmd);
                free(t);
                return;
        }
        if (!strcmp(cmd, "status")) {
                print_status(r);
        } else if (!strcmp(cmd, "cutover") || !strcmp(cmd, "rollback")) {
                printf("%s %s: write pause %.1f ms\n", cmd, str(r, "result"),
                       num(r, "pause_ms"));
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(r, "steps"), k, v)
                        printf("  %-20s %.1f ms\n", k, json_number_value(v));
        } else {
                printf("verify %s in %.2fs\n",
                       json_is_true(json_object_get(r, "clean"))
                               ? "clean"
                               : "found differences",
                       num(r, "seconds"));
                size_t i;
                json_t *t;
                json_array_foreach(json_object_get(r, "tables"), i, t)
                {
                        printf("  %-36s -> %-36s %10.0f rows %s\n",
                               str(t, "source"), str(t, "target"),
                               num(t, "rows_source"),
                               num(t, "chunks_differing") > 0 ? "DIFFERS"
                                                              : "ok");
                        size_t j;
                        json_t *key;
                        json_array_foreach(json_object_get(t, "differing_keys"),
                                           j, key)
                        {
                                char *kt = json_dumps(key, JSON_COMPACT);
                                printf("      key %s\n", kt);
                                free(kt);
                        }
                }
        }
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                {"config", required_argument, NULL, 'c'},
                {"socket", required_argument, NULL, 's'},
                {"timeout", required_argument, NULL, 't'},
                {"json", no_argument, NULL, 'j'},
                {"dry-run", no_argument, NULL, 'n'},
                {"table", required_argument, NULL, 'T'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {NULL, 0, NULL, 0},
        };
        struct opts o = {.timeout_s = -1};
        int c;
        /* Options may come before or after the command ("status --json"). */
        while ((c = getopt_long(argc, argv, "c:s:t:hV", longopts, NULL)) !=
               -1) {
                switch (c) {
                case 'c':
                        o.config = optarg;
                        break;
                case 's':
                        o.socket = optarg;
                        break;
                case 't':
                        o.timeout_s = atoi(optarg);
                        if (o.timeout_s <= 0) {
                                fprintf(stderr,
                                        "ferryctl: --timeout '%s': "
                                        "expected whole seconds > 0\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'j':
                        o.json = true;
                        break;
                case 'n':
                        o.dry_run = true;
                        break;
                case 'T':
                        o.table = optarg;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                case 'V':
                        printf("ferryctl %s\n", FERRY_VERSION);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        }
        if (optind >= argc) {
                fputs(usage, stderr);
                return 2;
        }
        const char *cmd = argv[optind++];
        if (!strcmp(cmd, "plan")) {
                if (!o.config || optind < argc) {
                        fprintf(stderr, "ferryctl: plan needs -c FILE (the "
                                        "daemon's config) and nothing else\n");
                        return 2;
                }
                struct cfg *cfg;
                char err[1024];
                if (cfg_load(o.config, &cfg, err, sizeof(err)))
                        return die("%s", err);
                int prc = plan_run(cfg, stdout);
                cfg_free(cfg);
                return prc;
        }
        json_t *args = json_object();
        static const char *const simple[] = {"status", "pause", "resume",
                                             "abort", NULL};
        bool known = false;
        for (size_t i = 0; simple[i]; i++)
                known = known || !strcmp(cmd, simple[i]);
        if (!strcmp(cmd, "snapshot")) {
                json_t *t = json_array();
                for (; optind < argc; optind++)
                        json_array_append_new(t, json_string(argv[optind]));
                if (!json_array_size(t)) {
                        json_decref(t);
                        json_decref(args);
                        fprintf(stderr, "ferryctl: snapshot needs at least "
                                        "one TABLE\n");
                        return 2;
                }
                json_object_set_new(args, "tables", t);
                known = true;
        } else if (!strcmp(cmd, "verify")) {
                if (o.table)
                        json_object_set_new(args, "table",
                                            json_string(o.table));
                known = true;
        } else if (!strcmp(cmd, "cutover") || !strcmp(cmd, "rollback")) {
                json_object_set_new(args, "dry_run", json_boolean(o.dry_run));
                known = true;
        }
        if (!known || optind < argc) {
                json_decref(args);
                fprintf(stderr,
                        known ? "ferryctl: %s: unexpected argument "
                                "'%s'\n"
                              : "ferryctl: unknown command '%s'%s\n",
                        cmd, known ? argv[optind] : "; see ferryctl --help");
                return 2;
        }
        if (o.timeout_s < 0)
                o.timeout_s = !strcmp(cmd, "verify") ||
                                              !strcmp(cmd, "cutover") ||
                                              !strcmp(cmd, "rollback")
                                      ? 0
                                      : 30;

        char path[512];
        if (socket_path(&o, path, sizeof(path))) {
                json_decref(args);
                return 1;
        }
        json_t *req =
                json_pack("{s:i, s:s, s:o}", "v", CONTROL_PROTOCOL_VERSION,
                          "cmd", cmd, "args", args);
        json_t *reply = NULL;
        int rc = call(path, req, o.timeout_s, &reply);
        json_decref(req);
        if (rc)
                return 1;
        if (!json_is_true(json_object_get(reply, "ok"))) {
                rc = die("%s: %s", cmd, str(reply, "error"));
                json_decref(reply);
                return rc;
        }
        json_t *result = json_object_get(reply, "result");
        print_result(cmd, result, o.json);
        /* verify answers ok with differences: that is a failure to report */
        if (!strcmp(cmd, "verify") &&
            !json_is_true(json_object_get(result, "clean")))
                rc = 1;
        json_decref(reply);
        return rc;
}
