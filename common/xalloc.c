/* SPDX-License-Identifier: Apache-2.0
 * Aborting allocators (see xalloc.h for why).
 */
#include "common/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t size)
{
        /* No logger here: it might allocate. */
        fprintf(stderr, "<2>ferry: out of memory allocating %zu bytes\n",
                size);
        abort();
}

void *xmalloc(size_t size)
{
        void *p = malloc(size ? size : 1);
        if (!p)
                oom(size);
        return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
        void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
        if (!p)
                oom(nmemb * size);
        return p;
}

void *xrealloc(void *ptr, size_t size)
{
        void *p = realloc(ptr, size ? size : 1);
        if (!p)
                oom(size);
        return p;
}

char *xstrdup(const char *s)
{
        return xmemdup(s, strlen(s) + 1);
}

char *xstrndup(const char *s, size_t n)
{
        char *p = xmalloc(n + 1);
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

void *xmemdup(const void *src, size_t n)
{
        void *p = xmalloc(n);
        if (n)
                memcpy(p, src, n);
        return p;
}

void xalloc_install_jansson(void)
{
        json_set_alloc_funcs(xmalloc, free);
}
