/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the metrics registry (rendering, escaping, histogram
 * buckets, exact totals under concurrent updates, misuse aborts, the
 * catalog) and for the HTTP endpoint's address handling.
 */
#include "common/buf.h"
#include "daemon/http.h"
#include "daemon/metric_names.h"
#include "daemon/metrics.h"
#include "tests/unit/unit.h"

#include <event2/event.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char *render(struct metrics *reg)
{
        struct buf out;

        buf_init(&out);
        metrics_render(reg, &out);
        return buf_steal(&out);
}

static void test_counter_gauge_text(void)
{
        struct metrics *reg = metrics_new();
        struct metric_counter *c, *c2, *c3;
        struct metric_gauge *g;
        char *text;

        c = metrics_counter(reg, "ferry_events_total", "Events read.", "table",
                            "clerk_sync_ticket", "op", "c", NULL);
        c2 = metrics_counter(reg, "ferry_events_total", "ignored help", "table",
                             "clerk_sync_ticket", "op", "c", NULL);
        c3 = metrics_counter(reg, "ferry_events_total", "Events read.", "table",
                             "clerk_sync_ticket", "op", "u", NULL);
        CHECK(c == c2);
        CHECK(c != c3);
        metric_counter_add(c, 41);
        metric_counter_inc(c2);
        metric_counter_inc(c3);
        CHECK(metric_counter_get(c) == 42);

        g = metrics_gauge(reg, "ferry_source_lag_seconds", "Lag.", NULL);
        metric_gauge_set(g, 1.5);
        metric_gauge_add(g, 0.25);
        CHECK(metric_gauge_get(g) == 1.75);

        text = render(reg);
        CHECK_STR(text,
                  "# HELP ferry_events_total Events read.\n"
                  "# TYPE ferry_events_total counter\n"
                  "ferry_events_total{table=\"clerk_sync_ticket\",op=\"c\"} "
                  "42\n"
                  "ferry_events_total{table=\"clerk_sync_ticket\",op=\"u\"} "
                  "1\n"
                  "# HELP ferry_source_lag_seconds Lag.\n"
                  "# TYPE ferry_source_lag_seconds gauge\n"
                  "ferry_source_lag_seconds 1.75\n");
        free(text);
        metrics_free(reg);
}

static void test_values(void)
{
        struct metrics *reg = metrics_new();
        struct metric_gauge *g;
        char *text;

        g = metrics_gauge(reg, "v", "h", "k", "int", NULL);
        metric_gauge_set_int(g, 9007199254740993LL); /* rounds to 2^53 */
        metric_gauge_set(metrics_gauge(reg, "v", "h", "k", "tenth", NULL), 0.1);
        metric_gauge_set(metrics_gauge(reg, "v", "h", "k", "third", NULL),
                         1.0 / 3);
        metric_gauge_set(metrics_gauge(reg, "v", "h", "k", "nan", NULL), NAN);
        metric_gauge_set(metrics_gauge(reg, "v", "h", "k", "inf", NULL),
                         INFINITY);
        metric_gauge_set(metrics_gauge(reg, "v", "h", "k", "ninf", NULL),
                         -INFINITY);
        metric_gauge_set(metrics_gauge(reg, "v", "h", "k", "neg", NULL), -12);
        text = render(reg);
        CHECK_STR(text, "# HELP v h\n"
                        "# TYPE v gauge\n"
                        "v{k=\"int\"} 9007199254740992\n"
                        "v{k=\"tenth\"} 0.1\n"
                        "v{k=\"third\"} 0.33333333333333331\n"
                        "v{k=\"nan\"} NaN\n"
                        "v{k=\"inf\"} +Inf\n"
                        "v{k=\"ninf\"} -Inf\n"
                        "v{k=\"neg\"} -12\n");
        free(text);
        metrics_free(reg);
}

static void test_escaping(void)
{
        struct metrics *reg = metrics_new();
        char *text;

        metric_counter_inc(metrics_counter(
                reg, "esc_total", "Back\\slash and\nnewline \"quoted\".", "v",
                "a\\b\"c\nd", "empty", "", NULL));
        text = render(reg);
        CHECK_STR(text, "# HELP esc_total Back\\\\slash and\\nnewline "
                        "\"quoted\".\n"
                        "# TYPE esc_total counter\n"
                        "esc_total{v=\"a\\\\b\\\"c\\nd\",empty=\"\"} 1\n");
        free(text);
        metrics_free(reg);
}

static void test_histogram(void)
{
        static const double bounds[] = {0.1, 0.5, 1};
        struct metrics *reg = metrics_new();
        struct metric_histogram *h;
        char *text;

        h = metrics_histogram(reg, "ferry_sink_batch_duration_seconds",
                              "Batch time.", bounds, 3, "table", "t", NULL);
        CHECK(h == metrics_histogram(reg, "ferry_sink_batch_duration_seconds",
                                     "Batch time.", bounds, 3, "table", "t",
                                     NULL));
        metric_histogram_observe(h, 0.05);
        metric_histogram_observe(h, 0.1); /* le is inclusive */
        metric_histogram_observe(h, 0.3);
        metric_histogram_observe(h, 2);
        metric_histogram_observe(h, NAN); /* ignored */
        CHECK(metric_histogram_count(h) == 4);
        text = render(reg);
        CHECK_STR(text, "# HELP ferry_sink_batch_duration_seconds Batch time.\n"
                        "# TYPE ferry_sink_batch_duration_seconds histogram\n"
                        "ferry_sink_batch_duration_seconds_bucket"
                        "{table=\"t\",le=\"0.1\"} 2\n"
                        "ferry_sink_batch_duration_seconds_bucket"
                        "{table=\"t\",le=\"0.5\"} 3\n"
                        "ferry_sink_batch_duration_seconds_bucket"
                        "{table=\"t\",le=\"1\"} 3\n"
                        "ferry_sink_batch_duration_seconds_bucket"
                        "{table=\"t\",le=\"+Inf\"} 4\n"
                        "ferry_sink_batch_duration_seconds_sum{table=\"t\"} "
                        "2.45\n"
                        "ferry_sink_batch_duration_seconds_count{table=\"t\"} "
                        "4\n");
        free(text);

        /* Default buckets, no labels: le on its own in braces. */
        h = metrics_histogram(reg, "d_seconds", "D.", NULL, 0, NULL);
        metric_histogram_observe(h, 100);
        text = render(reg);
        CHECK(strstr(text, "d_seconds_bucket{le=\"0.0005\"} 0\n") != NULL);
        CHECK(strstr(text, "d_seconds_bucket{le=\"30\"} 0\n") != NULL);
        CHECK(strstr(text, "d_seconds_bucket{le=\"+Inf\"} 1\n") != NULL);
        CHECK(strstr(text, "d_seconds_sum 100\nd_seconds_count 1\n") != NULL);
        free(text);
        metrics_free(reg);
}

static void test_enum(void)
{
        static const char *const states[] = {FERRY_M_CUTOVER_STATE_VALUES};
        struct metrics *reg = metrics_new();
        struct metric_enum *e;
        char *text;

        e = metrics_enum(reg, FERRY_M_CUTOVER_STATE, "state", states,
                         sizeof(states) / sizeof(states[0]), NULL);
        metric_enum_set(e, 4);
        metric_enum_set(e, 99); /* ignored */
        CHECK(metric_enum_get(e) == 4);
        text = render(reg);
        CHECK(strstr(text, "# TYPE ferry_cutover_state gauge\n"
                           "ferry_cutover_state{state=\"backfilling\"} 0\n"
                           "ferry_cutover_state{state=\"streaming\"} 0\n"
                           "ferry_cutover_state{state=\"paused\"} 0\n"
                           "ferry_cutover_state{state=\"cutting_over\"} 0\n"
                           "ferry_cutover_state{state=\"cut_over\"} 1\n"
                           "ferry_cutover_state{state=\"error\"} 0\n") != NULL);
        free(text);
        metrics_free(reg);
}

static double forty_two(void *opaque)
{
        (*(int *)opaque)++;
        return 42;
}

static void test_bind(void)
{
        struct metrics *reg = metrics_new();
        struct metric_gauge *g;
        struct metric_counter *c;
        int calls = 0;
        char *text;

        g = metrics_gauge(reg, "cb", "h", NULL);
        c = metrics_counter(reg, "cb_total", "h", NULL);
        metric_gauge_set(g, 7);
        metric_counter_add(c, 3);
        metric_gauge_bind(g, forty_two, &calls);
        metric_counter_bind(c, forty_two, &calls);
        text = render(reg);
        CHECK(strstr(text, "\ncb 42\n") != NULL);
        CHECK(strstr(text, "\ncb_total 42\n") != NULL);
        CHECK(calls == 2);
        free(text);
        metric_gauge_bind(g, NULL, NULL);
        metric_counter_bind(c, NULL, NULL);
        text = render(reg);
        CHECK(strstr(text, "\ncb 7\n") != NULL);
        CHECK(strstr(text, "\ncb_total 3\n") != NULL);
        CHECK(calls == 2);
        free(text);
        metrics_free(reg);
}

static void test_process(void)
{
        struct metrics *reg = metrics_new();
        char *text, *p;

        metrics_register_process(reg, "0.1.0");
        text = render(reg);
        p = strstr(text, "\nprocess_resident_memory_bytes ");
        CHECK(p && strtod(p + 31, NULL) > 1e5);
        p = strstr(text, "\nprocess_open_fds ");
        CHECK(p && strtod(p + 18, NULL) >= 3);
        p = strstr(text, "\nprocess_start_time_seconds ");
        CHECK(p && strtod(p + 28, NULL) > 1.5e9);
        CHECK(strstr(text, "\nferry_uptime_seconds ") != NULL);
        CHECK(strstr(text, "\nprocess_cpu_seconds_total ") != NULL);
        CHECK(strstr(text, "\nferry_build_info{version=\"0.1.0\"} 1\n") !=
              NULL);
        free(text);
        metrics_free(reg);
}

/* Every catalog entry registers cleanly and renders with HELP and TYPE. */
static void test_catalog(void)
{
        struct metrics *reg = metrics_new();
        char *text;

        CHECK(ferry_metric_defs_n >= 20);
        for (size_t i = 0; i < ferry_metric_defs_n; i++) {
                const struct metric_def *d = &ferry_metric_defs[i];
                const char *l = d->labels;
                const char *a = NULL, *b = NULL;
                char l1[32] = "", l2[32] = "", line[256];

                for (size_t j = 0; j < i; j++)
                        CHECK(strcmp(ferry_metric_defs[j].name, d->name));
                if (*l && sscanf(l, "%31[^,],%31s", l1, l2) >= 1)
                        a = l1;
                if (l2[0])
                        b = l2;
                if (!strcmp(d->type, "counter")) {
                        metric_counter_inc(metrics_counter(
                                reg, d->name, d->help, a, a ? "x" : NULL, b,
                                b ? "y" : NULL, NULL));
                } else if (!strcmp(d->type, "gauge")) {
                        metric_gauge_set(metrics_gauge(reg, d->name, d->help, a,
                                                       a ? "x" : NULL, b,
                                                       b ? "y" : NULL, NULL),
                                         1);
                } else if (!strcmp(d->type, "histogram")) {
                        metric_histogram_observe(
                                metrics_histogram(reg, d->name, d->help, NULL,
                                                  0, a, a ? "x" : NULL, b,
                                                  b ? "y" : NULL, NULL),
                                0.01);
                } else {
                        static const char *const st[] = {"a", "b"};
                        CHECK(!strcmp(d->type, "enum"));
                        CHECK(a && !b);
                        metrics_enum(reg, d->name, d->help, a, st, 2, NULL);
                }
                text = render(reg);
                snprintf(line, sizeof(line), "# HELP %s ", d->name);
                CHECK(strstr(text, line) != NULL);
                snprintf(line, sizeof(line), "# TYPE %s %s\n", d->name,
                         strcmp(d->type, "enum") ? d->type : "gauge");
                CHECK(strstr(text, line) != NULL);
                free(text);
        }
        metrics_free(reg);
}

enum { N_THREADS = 8, N_ADDS = 100000 };

static void *hammer(void *arg)
{
        struct metrics *reg = arg;
        /* Looking the handle up concurrently must yield the same one. */
        struct metric_counter *c =
                metrics_counter(reg, "hits_total", "h", "table", "t", NULL);
        struct metric_gauge *g = metrics_gauge(reg, "level", "h", NULL);
        struct metric_histogram *h =
                metrics_histogram(reg, "lat_seconds", "h", NULL, 0, NULL);

        for (int i = 0; i < N_ADDS; i++) {
                metric_counter_inc(c);
                metric_gauge_add(g, 1);
                if (i % 10 == 0)
                        metric_histogram_observe(h, 0.001 * (i % 7));
        }
        return NULL;
}

static void test_concurrency(void)
{
        struct metrics *reg = metrics_new();
        pthread_t t[N_THREADS];
        struct buf out;

        for (int i = 0; i < N_THREADS; i++)
                CHECK(pthread_create(&t[i], NULL, hammer, reg) == 0);
        /* Scrape while they run: must not block or crash. */
        buf_init(&out);
        for (int i = 0; i < 20; i++) {
                buf_reset(&out);
                metrics_render(reg, &out);
        }
        buf_free(&out);
        for (int i = 0; i < N_THREADS; i++)
                pthread_join(t[i], NULL);
        CHECK(metric_counter_get(metrics_counter(reg, "hits_total", "h",
                                                 "table", "t", NULL)) ==
              (uint64_t)N_THREADS * N_ADDS);
        CHECK(metric_gauge_get(metrics_gauge(reg, "level", "h", NULL)) ==
              (double)N_THREADS * N_ADDS);
        CHECK(metric_histogram_count(metrics_histogram(reg, "lat_seconds", "h",
                                                       NULL, 0, NULL)) ==
              (uint64_t)N_THREADS * (N_ADDS / 10));
        metrics_free(reg);
}

/* Misuse is a programming error: the registering process aborts. */
static int aborts(int which)
{
        static const double bad_bounds[] = {1, 0.5};
        pid_t pid;
        int status;

        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                struct metrics *reg = metrics_new();
                int devnull = open("/dev/null", O_WRONLY);
                if (devnull >= 0)
                        dup2(devnull, STDERR_FILENO);
                switch (which) {
                case 0:
                        metrics_counter(reg, "no_suffix", "h", NULL);
                        break;
                case 1:
                        metrics_gauge(reg, "g_total", "h", NULL);
                        break;
                case 2:
                        metrics_gauge(reg, "x", "h", NULL);
                        metrics_counter(reg, "x", "h", NULL);
                        break;
                case 3:
                        metrics_gauge(reg, "x", "h", "a", "1", NULL);
                        metrics_gauge(reg, "x", "h", "b", "1", NULL);
                        break;
                case 4:
                        metrics_gauge(reg, "bad-name", "h", NULL);
                        break;
                case 5:
                        metrics_gauge(reg, "x", "h", "__a", "1", NULL);
                        break;
                case 6:
                        metrics_histogram(reg, "x", "h", bad_bounds, 2, NULL);
                        break;
                case 7:
                        metrics_histogram(reg, "x", "h", NULL, 0, "le", "1",
                                          NULL);
                        break;
                case 8:
                        metrics_gauge(reg, "x", "h", "a", NULL, NULL);
                        break;
                }
                _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
                return 0;
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void test_misuse(void)
{
        for (int i = 0; i <= 8; i++) {
                int ok = aborts(i);
                if (!ok)
                        fprintf(stderr, "misuse case %d did not abort\n", i);
                CHECK(ok);
        }
}

static void test_listen_parse(void)
{
        char err[256];
        char *host = NULL;
        uint16_t port = 1;

        CHECK(http_listen_parse("127.0.0.1:9187", &host, &port, err,
                                sizeof(err)) == 0);
        CHECK_STR(host, "127.0.0.1");
        CHECK(port == 9187);
        free(host);
        CHECK(http_listen_parse("[::1]:0", &host, &port, err, sizeof(err)) ==
              0);
        CHECK_STR(host, "::1");
        CHECK(port == 0);
        free(host);
        CHECK(http_listen_parse("localhost:65535", &host, &port, err,
                                sizeof(err)) == 0);
        CHECK(port == 65535);
        free(host);

        static const char *const bad[] = {
                "",           "9187",      ":9187",    "host:",
                "host:65536", "host:-1",   "host:12x", "::1:9187",
                "[::1]",      "[::1]9187", "[]:1",     "h:+5",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                CHECK(http_listen_parse(bad[i], &host, &port, err,
                                        sizeof(err)) == FERRY_ERR_CONFIG);
                CHECK(strstr(err, "metrics_listen") != NULL);
                if (*bad[i])
                        CHECK(strstr(err, bad[i]) != NULL);
        }
}

static void test_server_bind(void)
{
        struct event_base *base = event_base_new();
        struct metrics *reg = metrics_new();
        struct http_server *a, *b;
        char err[256], addr[64];

        a = http_server_new(base, "127.0.0.1:0", reg, NULL, NULL, err,
                            sizeof(err));
        CHECK(a != NULL);
        CHECK(a && http_server_port(a) != 0);
        if (a) {
                /* The same port twice: the second names it and fails. */
                snprintf(addr, sizeof(addr), "127.0.0.1:%u",
                         (unsigned)http_server_port(a));
                b = http_server_new(base, addr, reg, NULL, NULL, err,
                                    sizeof(err));
                CHECK(b == NULL);
                CHECK(strstr(err, addr) != NULL);
                CHECK(strstr(err, "in use") != NULL);
                http_server_free(b);
        }
        b = http_server_new(base, "no-port", reg, NULL, NULL, err, sizeof(err));
        CHECK(b == NULL && strstr(err, "'no-port'") != NULL);
        /* IPv6 loopback may be missing in a container; only check that a
         * success reports a port. */
        b = http_server_new(base, "[::1]:0", reg, NULL, NULL, err, sizeof(err));
        CHECK(!b || http_server_port(b) != 0);
        http_server_free(b);
        http_server_free(a);
        http_server_free(NULL);
        metrics_free(reg);
        metrics_free(NULL);
        event_base_free(base);
}

int main(void)
{
        test_counter_gauge_text();
        test_values();
        test_escaping();
        test_histogram();
        test_enum();
        test_bind();
        test_process();
        test_catalog();
        test_concurrency();
        test_misuse();
        test_listen_parse();
        test_server_bind();
        UNIT_DONE();
}
