/* SPDX-License-Identifier: Apache-2.0
 * The Kafka-mode source checkpoint file; see source_checkpoint.h.
 */
#include "daemon/source_checkpoint.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int source_checkpoint_read(const char *state_dir, char **gtid,
                           json_t **snapshot, char *errstr, size_t errstr_size)
{
        char path[4096];
        json_error_t jerr;
        snprintf(path, sizeof(path), "%s/%s", state_dir,
                 SOURCE_CHECKPOINT_FILE);
        *gtid = NULL;
        *snapshot = NULL;
        if (access(path, F_OK) != 0 && errno == ENOENT)
                return FERRY_ERR_STOP;
        json_t *root = json_load_file(path, 0, &jerr);
        if (!root) {
                snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line,
                         jerr.text);
                return FERRY_ERR_FATAL;
        }
        json_t *g = json_object_get(root, "gtid");
        json_t *s = json_object_get(root, "snapshot");
        if (!json_is_string(g) || (s && !json_is_object(s))) {
                snprintf(errstr, errstr_size,
                         "%s: needs \"gtid\" (a string) "
                         "and optionally \"snapshot\" (an object)",
                         path);
                json_decref(root);
                return FERRY_ERR_FATAL;
        }
        const char *k;
        json_t *v;
        json_object_foreach(s, k, v)
        {
                if (!json_is_string(v)) {
                        snprintf(errstr, errstr_size,
                                 "%s: snapshot.%s is "
                                 "not a string",
                                 path, k);
                        json_decref(root);
                        return FERRY_ERR_FATAL;
                }
        }
        *gtid = xstrdup(json_string_value(g));
        *snapshot = s ? json_incref(s) : json_object();
        json_decref(root);
        return 0;
}

void source_checkpoint_format(const char *gtid, const json_t *snapshot,
                              struct buf *out)
{
        json_t *root = json_object();
        json_object_set_new(root, "gtid", json_string(gtid));
        json_object_set_new(root, "snapshot",
                            snapshot ? json_deep_copy(snapshot)
                                     : json_object());
        char *text = json_dumps(root, JSON_COMPACT);
        buf_puts(out, text);
        free(text);
        json_decref(root);
}

static int fail_errno(char *errstr, size_t errstr_size, const char *what,
                      const char *path)
{
        snprintf(errstr, errstr_size, "%s %s: %s", what, path, strerror(errno));
        return FERRY_ERR_FATAL;
}

int source_checkpoint_write(const char *state_dir, const char *text,
                            char *errstr, size_t errstr_size)
{
        char path[4096], tmp[4200];
        snprintf(path, sizeof(path), "%s/%s", state_dir,
                 SOURCE_CHECKPOINT_FILE);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
                return fail_errno(errstr, errstr_size, "creating", state_dir);

        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return fail_errno(errstr, errstr_size, "creating", tmp);
        size_t len = strlen(text), off = 0;
        while (off < len) {
                ssize_t w = write(fd, text + off, len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        int e = errno;
                        close(fd);
                        errno = e;
                        return fail_errno(errstr, errstr_size, "writing", tmp);
                }
                off += (size_t)w;
        }
        if (write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
                int e = errno;
                close(fd);
                errno = e;
                return fail_errno(errstr, errstr_size, "syncing", tmp);
        }
        if (close(fd) != 0)
                return fail_errno(errstr, errstr_size, "closing", tmp);
        if (rename(tmp, path) != 0)
                return fail_errno(errstr, errstr_size, "renaming", tmp);
        /* The rename is durable only once the directory is synced. */
        int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return fail_errno(errstr, errstr_size, "opening", state_dir);
        int rc = fsync(dfd);
        int e = errno;
        close(dfd);
        errno = e;
        if (rc != 0)
                return fail_errno(errstr, errstr_size, "syncing", state_dir);
        return 0;
}
