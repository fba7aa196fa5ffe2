/* imgadm sources: list (-j), add (-a, ping-checked unless -f), delete (-d)
 * or edit (-e, in $EDITOR) the image sources.  Messages as SmartOS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"

static int find_url(json_t *urls, const char *url)
{
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
        if (strcmp(json_string_value(u), url) == 0)
            return (int)i;
    return -1;
}

static int sources_add(vm_ctx *ctx, json_t *urls, const char *arg, int force)
{
    vm_err err = VM_ERR_INIT;
    cleanup_free char *url = NULL;
    if (img_source_url_check(arg, &url, &err) < 0)
        return imgadm_fail(&err);
    if (find_url(urls, url) >= 0) {
        printf("Already have image source \"%s\", no change\n", url);
        return 0;
    }
    if (!force && img_source_ping(url, &err) < 0)
        return imgadm_fail(&err);
    json_array_append_new(urls, json_string(url));
    if (img_sources_set(ctx, urls, &err) < 0)
        return imgadm_fail(&err);
    printf("Added image source \"%s\"\n", url);
    return 0;
}

static int sources_del(vm_ctx *ctx, json_t *urls, const char *arg)
{
    vm_err err = VM_ERR_INIT;
    cleanup_free char *url = NULL;
    if (img_source_url_check(arg, &url, &err) < 0)
        url = xstrdup(arg); /* a bad URL is simply not in the list */
    int at = find_url(urls, url);
    if (at < 0) {
        printf("Do not have image source \"%s\", no change\n", url);
        return 0;
    }
    json_array_remove(urls, (size_t)at);
    if (img_sources_set(ctx, urls, &err) < 0)
        return imgadm_fail(&err);
    printf("Deleted image source \"%s\"\n", url);
    return 0;
}

/* The edited text: one URL a line, '#' comments and blank lines dropped. */
static int parse_edit(const char *text, json_t *out, vm_err *err)
{
    cleanup_strv char **lines = strv_split(text, "\n");
    for (size_t i = 0; lines[i]; i++) {
        char *hash = strchr(lines[i], '#');
        if (hash)
            *hash = 0;
        char *s = lines[i], *e = s + strlen(s);
        while (*s == ' ' || *s == '\t')
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e == s)
            continue;
        cleanup_free char *raw = xstrndup(s, (size_t)(e - s));
        cleanup_free char *url = NULL;
        if (img_source_url_check(raw, &url, err) < 0)
            return -1;
        if (find_url(out, url) < 0)
            json_array_append_new(out, json_string(url));
    }
    return 0;
}

static int run_editor(const char *path)
{
    const char *ed = getenv("VISUAL");
    if (!ed || !*ed)
        ed = getenv("EDITOR");
    if (!ed || !*ed)
        ed = "vi";
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exec $0 \"$1\"", ed, path, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int sources_edit(vm_ctx *ctx, json_t *urls, int force)
{
    vm_err err = VM_ERR_INIT;
    cleanup_free char *dir = xasprintf("%s/var/imgadm/tmp", ctx->root);
    if (mkdir_p(dir, 0700, &err) < 0)
        return imgadm_fail(&err);
    cleanup_free char *path = xasprintf("%s/sources-%ld.txt", dir, (long)getpid());
    cleanup_free char *before = NULL;
    {
        size_t n = json_array_size(urls);
        char **v = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            v[i] = (char *)json_string_value(json_array_get(urls, i));
        cleanup_free char *joined = strv_join(v, "\n");
        free(v);
        before =
            xasprintf("%s%s\n#\n# Enter source URLs, one per line.\n# Comments beginning with \"#\" are stripped.\n#\n",
                      joined, n ? "\n" : "");
    }
    if (write_file_atomic(path, before, strlen(before), 0600, &err) < 0)
        return imgadm_fail(&err);
    int rc = run_editor(path);
    cleanup_free char *after = NULL;
    size_t len;
    int r = read_file(path, &after, &len, &err);
    unlink(path);
    if (rc != 0) {
        fprintf(stderr, "imgadm: error: editor exited with status %d; image sources unchanged\n", rc);
        return 1;
    }
    if (r < 0)
        return imgadm_fail(&err);
    cleanup_json json_t *next = json_array();
    if (parse_edit(after, next, &err) < 0)
        return imgadm_fail(&err);
    if (json_equal(next, urls)) {
        printf("Image sources unchanged\n");
        return 0;
    }
    size_t i;
    json_t *u;
    json_array_foreach(next, i, u)
        if (find_url(urls, json_string_value(u)) < 0 && !force && img_source_ping(json_string_value(u), &err) < 0)
            return imgadm_fail(&err);
    if (img_sources_set(ctx, next, &err) < 0)
        return imgadm_fail(&err);
    bool changed = false;
    json_array_foreach(urls, i, u)
        if (find_url(next, json_string_value(u)) < 0) {
            printf("Deleted image source \"%s\"\n", json_string_value(u));
            changed = true;
        }
    json_array_foreach(next, i, u)
        if (find_url(urls, json_string_value(u)) < 0) {
            printf("Added image source \"%s\"\n", json_string_value(u));
            changed = true;
        }
    if (!changed)
        printf("Reordered image sources\n");
    return 0;
}

int imgadm_cmd_sources(vm_ctx *ctx, int argc, char **argv)
{
    const char *add = NULL, *del = NULL;
    int edit = 0, force = 0, as_json = 0, c;
    vm_opts op;
    vm_opts_init(&op, argc, argv, "a:d:efjvh", NULL, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'a': add = op.arg; break;
        case 'd': del = op.arg; break;
        case 'e': edit = 1; break;
        case 'f': force = 1; break;
        case 'j': as_json = 1; break;
        case 'v': break; /* one type of source: the list is the same */
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    if (op.npos > 0)
        return imgadm_usage_error("unexpected args: %s", op.pos[0]);
    if ((add != NULL) + (del != NULL) + edit > 1)
        return imgadm_usage_error("%s", "cannot specify more than one of \"-a\", \"-d\" and \"-e\"");
    vm_err err = VM_ERR_INIT;
    int lockfd = -1;
    if ((add || del || edit) && (lockfd = img_sources_lock(ctx, &err)) < 0)
        return imgadm_fail(&err);
    cleanup_close int lk = lockfd; /* held until the command returns */
    (void)lk;
    cleanup_json json_t *urls = NULL;
    if (img_sources_get(ctx, &urls, &err) < 0)
        return imgadm_fail(&err);
    if (add)
        return sources_add(ctx, urls, add, force);
    if (del)
        return sources_del(ctx, urls, del);
    if (edit)
        return sources_edit(ctx, urls, force);
    if (as_json) {
        cleanup_free char *s = json_pretty(urls);
        printf("%s\n", s);
        return 0;
    }
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
        printf("%s\n", json_string_value(u));
    return 0;
}
