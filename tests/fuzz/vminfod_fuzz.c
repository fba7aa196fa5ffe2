/* libFuzzer harness for vminfod request handling: the input is
 * "<method>\n<path>[?<query>]\n<user-agent>" and goes through the same
 * routing/response function the HTTP layer calls (vminfod_handle), including
 * /events listeners (?since= resume/resync) read to the end of what they
 * have.  A daemon with a few VMs (files loader, temporary root) is built once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "server.h"

static vm_ctx ctx;
static vminfod_loader loader;
static vminfod *d;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    vm_err err = VM_ERR_INIT;
    char tmpl[] = "/tmp/vminfod-fuzz.XXXXXX";
    vminfod_opts o;

    (void)argc;
    (void)argv;
    if (!mkdtemp(tmpl))
        abort();
    setenv("VMADM_ROOT", tmpl, 1);
    if (vm_ctx_init(&ctx, &err) < 0)
        abort();
    const char *vms[][2] = {
        { "11111111-2222-3333-4444-555555555555",
          "{\"alias\":\"a\",\"disks\":[{\"path\":\"/p\"}],\"vnc_password\":\"SECRET\","
          "\"internal_metadata\":{\"k\":\"SECRET\"},\"customer_metadata\":{\"root_pw\":\"SECRET\",\"x\":1}}" },
        { "22222222-2222-3333-4444-555555555555", "{\"alias\":\"b\\\"\\\\\\n\"}" },
    };
    for (size_t i = 0; i < 2; i++) {
        char *dir = vm_ctx_vm_dir(&ctx, vms[i][0]);
        char *path = xasprintf("%s/vm.json", dir);
        if (mkdir_p(dir, 0755, &err) < 0 || write_file_atomic(path, vms[i][1], strlen(vms[i][1]), 0644, &err) < 0)
            abort();
        free(dir);
        free(path);
    }
    vminfod_files_loader(&ctx, &loader);
    vminfod_opts_default(&o);
    o.ring_events = 8;
    o.client_buffer = 4096;
    if (vminfod_new(&ctx, &loader, &o, &d, &err) < 0)
        abort();
    vminfod_refresh_all(d, "startup");
    /* some history for ?since= */
    for (int i = 0; i < 3; i++) {
        char *path = xasprintf("%s/11111111-2222-3333-4444-555555555555/vm.json", ctx.etc_dir);
        char *js = xasprintf("{\"alias\":\"a%d\",\"vnc_password\":\"SECRET%d\"}", i, i);
        write_file_atomic(path, js, strlen(js), 0644, &err);
        vminfod_refresh_vm(d, "11111111-2222-3333-4444-555555555555");
        free(path);
        free(js);
    }
    return 0;
}

struct query {
    const char *q;
    char *last;
};

static const char *arg(void *cls, const char *key)
{
    struct query *q = cls;
    free(q->last);
    q->last = vminfod_query_get(q->q, key);
    return q->last;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = xstrndup((const char *)data, size);
    char *method = in, *url = NULL, *ua = NULL;
    char *nl = strchr(method, '\n');
    if (nl) {
        *nl = '\0';
        url = nl + 1;
        nl = strchr(url, '\n');
        if (nl) {
            *nl = '\0';
            ua = nl + 1;
        }
    }
    char *query = NULL;
    if (url && (query = strchr(url, '?')))
        *query++ = '\0';

    struct query q = { query, NULL };
    /* Odd-sized inputs take the TCP view, which must never show a secret. */
    int redact = (int)(size & 1);
    vminfod_req req = { .method = method,
                        .path = url ? url : "/",
                        .arg = arg,
                        .arg_cls = &q,
                        .user_agent = ua,
                        .redact = redact,
                        .peer = "ip:127.0.0.1" };
    vminfod_resp r;
    vminfod_handle(d, &req, &r);
    if (r.status < 200 || r.status > 599)
        abort();
    if (r.kind == VMINFOD_RESP_EVENTS) {
        char buf[1024];
        ssize_t n;
        while ((n = vminfod_listener_read(d, r.listener, buf, sizeof buf)) > 0) {
            if (redact && memmem(buf, (size_t)n, "SECRET", 6))
                abort();
        }
        vminfod_listener_free(d, r.listener);
    } else if (r.status == 200 && r.len && r.ctype && str_has_prefix(r.ctype, "text/plain")) {
        /* /metrics: Prometheus text, never a secret */
        if (memmem(r.body, r.len, "SECRET", 6))
            abort();
    } else if (r.status == 200 && r.len) {
        /* every other 200 body is JSON */
        json_t *j = json_loadb(r.body, r.len, JSON_DECODE_ANY, NULL);
        if (!j || (redact && memmem(r.body, r.len, "SECRET", 6)))
            abort();
        json_decref(j);
    }
    vminfod_resp_free(&r);
    free(q.last);
    free(in);
    return 0;
}
