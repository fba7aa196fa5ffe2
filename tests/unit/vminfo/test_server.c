/* vminfod core without sockets: routing (I2–I9), cache refresh and events
 * (I10–I12, I29), the history ring, ?since resume/resync and the slow-client
 * bound.  Uses the files loader on a temporary root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "server.h"
#include "vminfo/ring.h"

#define U1 "11111111-2222-3333-4444-555555555555"
#define U2 "22222222-2222-3333-4444-555555555555"

struct fx {
    vm_ctx ctx;
    vminfod_loader loader;
    vminfod *d;
};

static void put_vm(struct fx *f, const char *uuid, const char *json)
{
    vm_err err = VM_ERR_INIT;
    cleanup_free char *dir = vm_ctx_vm_dir(&f->ctx, uuid);
    cleanup_free char *path = xasprintf("%s/vm.json", dir);
    assert_int_equal(mkdir_p(dir, 0755, &err), 0);
    assert_int_equal(write_file_atomic(path, json, strlen(json), 0644, &err), 0);
}

static int setup_opts(void **state, size_t ring_events, size_t client_buffer)
{
    struct fx *f = xcalloc(1, sizeof *f);
    vm_err err = VM_ERR_INIT;
    char tmpl[] = "/tmp/vminfo-unit.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    setenv("VMADM_ROOT", tmpl, 1);
    assert_int_equal(vm_ctx_init(&f->ctx, &err), 0);
    vminfod_files_loader(&f->ctx, &f->loader);
    vminfod_opts o;
    vminfod_opts_default(&o);
    o.ring_events = ring_events;
    o.client_buffer = client_buffer;
    assert_int_equal(vminfod_new(&f->ctx, &f->loader, &o, &f->d, &err), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_opts(state, 4096, 4u << 20);
}

static int setup_stall(void **state)
{
    setup_opts(state, 4096, 4u << 20);
    struct fx *f = *state;
    vminfod_free(f->d);
    vm_err err = VM_ERR_INIT;
    vminfod_opts o;
    vminfod_opts_default(&o);
    o.stall_ms = 1000;
    assert_int_equal(vminfod_new(&f->ctx, &f->loader, &o, &f->d, &err), 0);
    return 0;
}

static int setup_small(void **state)
{
    return setup_opts(state, 4, 2048);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vm_err err = VM_ERR_INIT;
    vminfod_free(f->d);
    rm_rf(f->ctx.root, &err);
    vm_ctx_free(&f->ctx);
    free(f);
    return 0;
}

static const char *query_arg(void *cls, const char *key)
{
    static char buf[256];
    char *v = vminfod_query_get(cls, key);
    if (!v)
        return NULL;
    snprintf(buf, sizeof buf, "%s", v);
    free(v);
    return buf;
}

/* A request as the TCP (redact) or unix transport would make it. */
static void get_as(struct fx *f, const char *path, const char *query, int redact, const char *peer, vminfod_resp *r)
{
    vminfod_req req = { .method = "GET",
                        .path = path,
                        .arg = query_arg,
                        .arg_cls = (void *)query,
                        .user_agent = "unit-test",
                        .redact = redact,
                        .peer = peer,
                        .trusted = peer && !strcmp(peer, "uid:0") };
    vminfod_handle(f->d, &req, r);
}

static void get(struct fx *f, const char *method, const char *path, const char *query, vminfod_resp *r)
{
    vminfod_req req = {
        .method = method, .path = path, .arg = query_arg, .arg_cls = (void *)query, .user_agent = "unit-test"
    };
    vminfod_handle(f->d, &req, r);
}

static char *body_of(vminfod_resp *r)
{
    return xstrndup(r->body ? r->body : "", r->len);
}

/* Everything a listener has pending, as text. */
static char *drain(struct fx *f, vminfod_listener *l, ssize_t *last)
{
    char buf[512];
    size_t cap = 1, n = 0;
    char *out = xcalloc(1, 1);
    ssize_t r;
    while ((r = vminfod_listener_read(f->d, l, buf, sizeof buf)) > 0) {
        out = xrealloc(out, cap += (size_t)r);
        memcpy(out + n, buf, (size_t)r);
        n += (size_t)r;
        out[n] = '\0';
    }
    if (last)
        *last = r;
    return out;
}

static json_t *line(const char *text, int i)
{
    cleanup_strv char **lines = strv_split(text, "\n");
    if ((size_t)i >= strv_len(lines))
        return NULL;
    return json_loads(lines[i], 0, NULL);
}

static void test_routes(void **state)
{
    struct fx *f = *state;
    vminfod_resp r;
    put_vm(f, U1, "{\"alias\":\"a\"}");
    vminfod_refresh_all(f->d, "startup");

    get(f, "GET", "/ping", NULL, &r);
    assert_int_equal(r.status, 200);
    cleanup_free char *ping = body_of(&r);
    assert_string_equal(ping, "{\"ping\":\"pong\"}");
    vminfod_resp_free(&r);

    get(f, "GET", "/vms", NULL, &r);
    assert_int_equal(r.status, 200);
    cleanup_json json_t *vms = json_loadb(r.body, r.len, 0, NULL);
    assert_int_equal(json_array_size(vms), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(vms, 0), "alias")), "a");
    vminfod_resp_free(&r);

    get(f, "GET", "/vms/", NULL, &r);
    assert_int_equal(r.status, 200);
    vminfod_resp_free(&r);

    get(f, "GET", "/vms/" U1, NULL, &r);
    assert_int_equal(r.status, 200);
    cleanup_json json_t *vm = json_loadb(r.body, r.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(vm, "uuid")), U1);
    vminfod_resp_free(&r);

    get(f, "GET", "/vms/" U2, NULL, &r);
    assert_int_equal(r.status, 404);
    cleanup_free char *nf = body_of(&r);
    assert_string_equal(nf, "VM Not Found: " U2);
    vminfod_resp_free(&r);

    const char *unsupported[] = { "/", "/nope", "/ping/x", "/vms/a/b", "//..//" };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        get(f, "GET", unsupported[i], NULL, &r);
        assert_int_equal(r.status, 404);
        cleanup_free char *b = body_of(&r);
        assert_string_equal(b, "Unsupported URL Path");
        vminfod_resp_free(&r);
    }
    /* normalised path */
    get(f, "GET", "//vms/../ping", NULL, &r);
    assert_int_equal(r.status, 200);
    vminfod_resp_free(&r);

    const char *methods[] = { "POST", "PUT", "DELETE", "HEAD" };
    for (size_t i = 0; i < 4; i++) {
        get(f, methods[i], "/ping", NULL, &r);
        assert_int_equal(r.status, 400);
        assert_int_equal(r.len, 0);
        vminfod_resp_free(&r);
    }

    get(f, "GET", "/status", NULL, &r);
    assert_int_equal(r.status, 200);
    cleanup_json json_t *st = json_loadb(r.body, r.len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(st, "numVms")), 1);
    assert_int_equal(json_integer_value(json_object_get(st, "pid")), getpid());
    assert_non_null(json_object_get(json_object_get(st, "memory"), "rss"));
    assert_null(json_object_get(st, "fswatcher"));
    vminfod_resp_free(&r);
    get(f, "GET", "/status", "full=1", &r);
    cleanup_json json_t *stf = json_loadb(r.body, r.len, 0, NULL);
    assert_non_null(json_object_get(stf, "fswatcher"));
    vminfod_resp_free(&r);

    get(f, "GET", "/events", "since=x1", &r);
    assert_int_equal(r.status, 400);
    vminfod_resp_free(&r);
}

static void test_query(void **state)
{
    (void)state;
    cleanup_free char *a = vminfod_query_get("a=1&full&b=x%20y+z", "b");
    cleanup_free char *b = vminfod_query_get("a=1&full&b=x", "full");
    cleanup_free char *c = vminfod_query_get("a=1", "full");
    cleanup_free char *d = vminfod_query_get("a=%zz%4", "a");
    assert_string_equal(a, "x y z");
    assert_string_equal(b, "");
    assert_null(c);
    assert_string_equal(d, "%zz%4");
}

static void test_events(void **state)
{
    struct fx *f = *state;
    vminfod_resp r;

    put_vm(f, U1, "{\"alias\":\"a\",\"disks\":[{\"path\":\"/p\",\"size\":1}]}");
    vminfod_refresh_all(f->d, "startup");

    get(f, "GET", "/events", NULL, &r);
    assert_int_equal(r.kind, VMINFOD_RESP_EVENTS);
    vminfod_listener *l = r.listener;
    ssize_t last;
    cleanup_free char *t0 = drain(f, l, &last);
    assert_int_equal(last, 0); /* nothing more: would suspend */
    cleanup_json json_t *ready = line(t0, 0);
    assert_string_equal(json_string_value(json_object_get(ready, "type")), "ready");
    /* vms is the array as a string (I9) */
    json_t *vms = json_object_get(ready, "vms");
    assert_true(json_is_string(vms));
    cleanup_json json_t *arr = json_loads(json_string_value(vms), 0, NULL);
    assert_int_equal(json_array_size(arr), 1);
    long long seq0 = json_integer_value(json_object_get(ready, "seq"));

    /* modify: disks keyed by path */
    put_vm(f, U1, "{\"alias\":\"a\",\"disks\":[{\"path\":\"/p\",\"size\":2}]}");
    vminfod_refresh_vm(f->d, U1);
    /* unchanged reload emits nothing */
    vminfod_refresh_vm(f->d, U1);
    /* create */
    put_vm(f, U2, "{\"alias\":\"b\"}");
    vminfod_refresh_vm(f->d, U2);
    cleanup_free char *t1 = drain(f, l, NULL);
    cleanup_json json_t *m = line(t1, 0);
    cleanup_json json_t *c = line(t1, 1);
    assert_null(line(t1, 2));
    assert_string_equal(json_string_value(json_object_get(m, "type")), "modify");
    assert_int_equal(json_integer_value(json_object_get(m, "seq")), seq0 + 1);
    json_t *ch = json_array_get(json_object_get(m, "changes"), 0);
    assert_string_equal(json_string_value(json_object_get(ch, "prettyPath")), "disks.*.size");
    assert_string_equal(json_string_value(json_object_get(ch, "ident")), "/p");
    assert_int_equal(
        json_integer_value(
            json_object_get(json_object_get(m, "vm"), "disks")
                ? json_object_get(json_array_get(json_object_get(json_object_get(m, "vm"), "disks"), 0), "size")
                : NULL),
        2);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "create");
    assert_string_equal(json_string_value(json_object_get(c, "uuid")), U2);
    assert_non_null(json_object_get(c, "vm"));

    /* I29: config file missing while the directory stays → no delete */
    cleanup_free char *dir2 = vm_ctx_vm_dir(&f->ctx, U2);
    cleanup_free char *cfg2 = xasprintf("%s/vm.json", dir2);
    assert_int_equal(unlink(cfg2), 0);
    vminfod_refresh_vm(f->d, U2);
    cleanup_free char *t2 = drain(f, l, NULL);
    assert_string_equal(t2, "");
    get(f, "GET", "/vms/" U2, NULL, &r);
    assert_int_equal(r.status, 200);
    vminfod_resp_free(&r);

    /* committed delete: directory renamed away */
    cleanup_free char *gone = xasprintf("%s/.deleting-%s", f->ctx.etc_dir, U2);
    assert_int_equal(rename(dir2, gone), 0);
    vminfod_refresh_vm(f->d, U2);
    cleanup_free char *t3 = drain(f, l, NULL);
    cleanup_json json_t *del = line(t3, 0);
    assert_string_equal(json_string_value(json_object_get(del, "type")), "delete");
    assert_null(json_object_get(del, "vm"));
    get(f, "GET", "/vms/" U2, NULL, &r);
    assert_int_equal(r.status, 404);
    vminfod_resp_free(&r);

    /* drift found by a full rescan is emitted as modify */
    put_vm(f, U1, "{\"alias\":\"drifted\",\"disks\":[{\"path\":\"/p\",\"size\":2}]}");
    vminfod_refresh_all(f->d, "periodic");
    cleanup_free char *t4 = drain(f, l, NULL);
    cleanup_json json_t *dr = line(t4, 0);
    assert_string_equal(json_string_value(json_object_get(dr, "type")), "modify");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(dr, "changes"), 0), "newValue")), "drifted");

    /* closing ends the stream */
    vminfod_close_listeners(f->d);
    char b[16];
    assert_int_equal(vminfod_listener_read(f->d, l, b, sizeof b), -1);
    vminfod_listener_free(f->d, l);
}

static void test_since(void **state)
{
    struct fx *f = *state; /* ring of 4 events */
    vminfod_resp r;
    char js[64];

    vminfod_refresh_all(f->d, "startup");
    get(f, "GET", "/events", NULL, &r);
    cleanup_free char *t0 = drain(f, r.listener, NULL);
    vminfod_listener_free(f->d, r.listener);
    cleanup_json json_t *ready = line(t0, 0);
    long long seq0 = json_integer_value(json_object_get(ready, "seq"));

    for (int i = 0; i < 3; i++) {
        snprintf(js, sizeof js, "{\"n\":%d}", i);
        put_vm(f, U1, js);
        vminfod_refresh_vm(f->d, U1);
    }
    /* resumable: the 3 events after seq0 replayed after a "resumed" line */
    char q[64];
    snprintf(q, sizeof q, "since=%lld", seq0);
    get(f, "GET", "/events", q, &r);
    cleanup_free char *t1 = drain(f, r.listener, NULL);
    vminfod_listener_free(f->d, r.listener);
    cleanup_json json_t *h = line(t1, 0);
    assert_string_equal(json_string_value(json_object_get(h, "type")), "resumed");
    for (int i = 1; i <= 3; i++) {
        cleanup_json json_t *e = line(t1, i);
        assert_non_null(e);
        assert_int_equal(json_integer_value(json_object_get(e, "seq")), seq0 + i);
    }
    cleanup_json json_t *e4 = line(t1, 4);
    assert_null(e4);

    /* push the ring past seq0: 3 more events; ring keeps 4 */
    for (int i = 3; i < 6; i++) {
        snprintf(js, sizeof js, "{\"n\":%d}", i);
        put_vm(f, U1, js);
        vminfod_refresh_vm(f->d, U1);
    }
    get(f, "GET", "/events", q, &r);
    cleanup_free char *t2 = drain(f, r.listener, NULL);
    vminfod_listener_free(f->d, r.listener);
    cleanup_json json_t *rs = line(t2, 0);
    assert_string_equal(json_string_value(json_object_get(rs, "type")), "resync");
    cleanup_json json_t *rsv = json_loads(json_string_value(json_object_get(rs, "vms")), 0, NULL);
    assert_int_equal(json_array_size(rsv), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rsv, 0), "n")), 5);
    cleanup_json json_t *after = line(t2, 1);
    assert_null(after);

    /* a seq from the future (another daemon instance) resyncs too */
    snprintf(q, sizeof q, "since=%lld", seq0 + 1000);
    get(f, "GET", "/events", q, &r);
    cleanup_free char *t3 = drain(f, r.listener, NULL);
    vminfod_listener_free(f->d, r.listener);
    cleanup_json json_t *rs2 = line(t3, 0);
    assert_string_equal(json_string_value(json_object_get(rs2, "type")), "resync");
}

static void test_slow_client(void **state)
{
    struct fx *f = *state; /* client buffer 2048 bytes */
    vminfod_resp r;
    char js[256];

    vminfod_refresh_all(f->d, "startup");
    get(f, "GET", "/events", NULL, &r);
    vminfod_listener *slow = r.listener;
    get(f, "GET", "/events", NULL, &r);
    vminfod_listener *fast = r.listener;
    free(drain(f, slow, NULL)); /* ready line only; then stops reading */
    for (int i = 0; i < 20; i++) {
        snprintf(js, sizeof js, "{\"pad\":\"%0200d\"}", i);
        put_vm(f, U1, js);
        vminfod_refresh_vm(f->d, U1);
        free(drain(f, fast, NULL)); /* the fast one keeps up */
    }
    char b[64];
    assert_int_equal(vminfod_listener_read(f->d, slow, b, sizeof b), -2);
    ssize_t last;
    free(drain(f, fast, &last));
    assert_int_equal(last, 0);
    vminfod_listener_free(f->d, slow);
    vminfod_listener_free(f->d, fast);
}

#define SECRET_VM \
    "{\"alias\":\"s\",\"vnc_password\":\"VNCSECRET\",\"internal_metadata\":{\"k\":\"INTSECRET\"}," \
    "\"customer_metadata\":{\"root_pw\":\"PWSECRET\",\"role\":\"web\"}}"

static bool has_secret(const char *s, size_t n)
{
    return memmem(s, n, "SECRET", 6) != NULL;
}

/* Issue 14 #5: the TCP view never shows vnc_password, internal_metadata or
 * customer_metadata *_pw — in /vms, /vms/<uuid>, ?fields=, the ready line
 * and modify events — while the unix view shows everything. */
static void test_redact(void **state)
{
    struct fx *f = *state;
    vminfod_resp r;
    put_vm(f, U1, SECRET_VM);
    vminfod_refresh_all(f->d, "startup");
    const char *paths[] = { "/vms", "/vms/" U1, "/vms", NULL };
    const char *queries[] = { NULL, NULL, "fields=alias,vnc_password,uuid", NULL };
    for (size_t i = 0; paths[i]; i++) {
        get_as(f, paths[i], queries[i], 1, "ip:127.0.0.1", &r);
        assert_int_equal(r.status, 200);
        assert_false(has_secret(r.body, r.len));
        if (i != 2) /* what is not secret is still there */
            assert_non_null(memmem(r.body, r.len, "\"role\":\"web\"", 12));
        vminfod_resp_free(&r);
        get_as(f, paths[i], queries[i], 0, "uid:0", &r);
        assert_int_equal(r.status, 200);
        assert_true(has_secret(r.body, r.len));
        vminfod_resp_free(&r);
    }
    get_as(f, "/events", NULL, 1, "ip:127.0.0.1", &r);
    vminfod_listener *tcp = r.listener;
    get_as(f, "/events", NULL, 0, "uid:0", &r);
    vminfod_listener *local = r.listener;
    cleanup_free char *t0 = drain(f, tcp, NULL);
    cleanup_free char *u0 = drain(f, local, NULL);
    assert_false(has_secret(t0, strlen(t0)));
    assert_true(has_secret(u0, strlen(u0)));
    /* a change of every secret, and of a harmless key */
    put_vm(f, U1,
           "{\"alias\":\"s2\",\"vnc_password\":\"VNCSECRET2\",\"internal_metadata\":{\"k\":\"INTSECRET2\"},"
           "\"customer_metadata\":{\"root_pw\":\"PWSECRET2\",\"role\":\"web\",\"x_pw\":\"NEWSECRET\"}}");
    vminfod_refresh_vm(f->d, U1);
    put_vm(f, U1, "{\"alias\":\"s3\"}");
    vminfod_refresh_vm(f->d, U1);
    cleanup_free char *t1 = drain(f, tcp, NULL);
    cleanup_free char *u1 = drain(f, local, NULL);
    assert_false(has_secret(t1, strlen(t1)));
    assert_non_null(strstr(t1, "\"s2\""));
    assert_non_null(strstr(t1, "\"s3\""));
    assert_true(has_secret(u1, strlen(u1)));
    vminfod_listener_free(f->d, tcp);
    vminfod_listener_free(f->d, local);
}

/* Issue 14 #12: streams are capped per client and per transport with a
 * clear 429/503; other requests and root's unix socket still work; a
 * stream whose client reads nothing is dropped after stall_ms. */
static void test_stream_caps(void **state)
{
    struct fx *f = *state;
    vminfod_resp r;
    vminfod_listener *l[300];
    size_t n = 0;
    vminfod_refresh_all(f->d, "startup");
    for (int i = 0; i < 32; i++) {
        get_as(f, "/events", NULL, 1, "ip:127.0.0.1", &r);
        assert_int_equal(r.status, 200);
        l[n++] = r.listener;
    }
    get_as(f, "/events", NULL, 1, "ip:127.0.0.1", &r);
    assert_int_equal(r.status, 429);
    assert_null(r.listener);
    assert_non_null(strstr(r.body, "too many event streams"));
    vminfod_resp_free(&r);
    /* another client, and everything else, still served */
    get_as(f, "/ping", NULL, 1, "ip:127.0.0.1", &r);
    assert_int_equal(r.status, 200);
    vminfod_resp_free(&r);
    for (int i = 0; n < 256; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "ip:10.0.0.%d", i / 32);
        get_as(f, "/events", NULL, 1, peer, &r);
        assert_int_equal(r.status, 200);
        l[n++] = r.listener;
    }
    get_as(f, "/events", NULL, 1, "ip:10.9.9.9", &r);
    assert_int_equal(r.status, 503);
    vminfod_resp_free(&r);
    /* the unix socket counts apart; root is not capped per client */
    for (int i = 0; i < 40; i++) {
        get_as(f, "/events", NULL, 0, "uid:0", &r);
        assert_int_equal(r.status, 200);
        l[n++] = r.listener;
    }
    while (n)
        vminfod_listener_free(f->d, l[--n]);
}

static void test_stall(void **state)
{
    struct fx *f = *state;
    vminfod_resp r;
    vminfod_refresh_all(f->d, "startup");
    get_as(f, "/events", NULL, 1, "ip:127.0.0.1", &r);
    vminfod_listener *never = r.listener; /* its ready line is never read */
    get_as(f, "/events", NULL, 1, "ip:127.0.0.1", &r);
    vminfod_listener *idle = r.listener; /* reads, then just waits */
    free(drain(f, idle, NULL));
    usleep(1200 * 1000);
    vminfod_keepalive(f->d);
    char b[64];
    assert_int_equal(vminfod_listener_read(f->d, never, b, sizeof b), -2);
    assert_int_equal(vminfod_listener_read(f->d, idle, b, sizeof b), 0);
    vminfod_listener_free(f->d, never);
    vminfod_listener_free(f->d, idle);
}

/* Issue 14 #14: hostile ?since values are answered without overflow: the
 * int64 extremes resync, anything outside int64 is a 400. */
static void test_since_extremes(void **state)
{
    struct fx *f = *state;
    vminfod_resp r;
    static const char *const resync[] = { "since=9223372036854775807", "since=-9223372036854775808",
                                          "since=9223372036854775806", NULL };
    static const char *const bad[] = { "since=9223372036854775808",
                                       "since=-9223372036854775809",
                                       "since=99999999999999999999999",
                                       "since=1x",
                                       "since=",
                                       NULL };

    vminfod_refresh_all(f->d, "startup");
    for (size_t i = 0; resync[i]; i++) {
        get(f, "GET", "/events", resync[i], &r);
        assert_int_equal(r.status, 200);
        cleanup_free char *t = drain(f, r.listener, NULL);
        vminfod_listener_free(f->d, r.listener);
        cleanup_json json_t *h = line(t, 0);
        assert_string_equal(json_string_value(json_object_get(h, "type")), "resync");
    }
    for (size_t i = 0; bad[i]; i++) {
        get(f, "GET", "/events", bad[i], &r);
        assert_int_equal(r.status, 400);
        assert_null(r.listener);
        vminfod_resp_free(&r);
    }
    vminfo_ring ring;
    vminfo_ring_init(&ring, 2, 100, INT64_MAX - 1);
    assert_false(vminfo_ring_can_resume(&ring, INT64_MAX));
    assert_true(vminfo_ring_can_resume(&ring, INT64_MAX - 2));
    vminfo_ring_free(&ring);
}

static void test_ring(void **state)
{
    (void)state;
    vminfo_ring r;
    vminfo_ring_init(&r, 3, 100, 10);
    assert_int_equal(vminfo_ring_oldest(&r), 10);
    assert_true(vminfo_ring_can_resume(&r, 9));
    assert_false(vminfo_ring_can_resume(&r, 10)); /* future */
    assert_false(vminfo_ring_can_resume(&r, 8));
    for (int i = 0; i < 5; i++)
        assert_int_equal(vminfo_ring_push(&r, xstrdup("0123456789"), 10), 10 + i);
    /* 3 kept by count */
    assert_int_equal(vminfo_ring_oldest(&r), 12);
    assert_null(vminfo_ring_get(&r, 11));
    assert_non_null(vminfo_ring_get(&r, 14));
    assert_null(vminfo_ring_get(&r, 15));
    assert_int_equal(vminfo_ring_pos(&r, 12), 20);
    assert_int_equal(vminfo_ring_pos(&r, 15), 50);
    assert_true(vminfo_ring_can_resume(&r, 11));
    assert_false(vminfo_ring_can_resume(&r, 10));
    assert_true(vminfo_ring_can_resume(&r, 14));
    /* byte bound: a 95-byte event leaves only itself */
    char *big = xmalloc(96);
    memset(big, 'x', 95);
    big[95] = '\0';
    vminfo_ring_push(&r, big, 95);
    assert_int_equal(r.count, 1);
    assert_int_equal(vminfo_ring_oldest(&r), 15);
    vminfo_ring_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test(test_query),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_since, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client, setup_small, teardown),
        cmocka_unit_test(test_ring),
        cmocka_unit_test_setup_teardown(test_since_extremes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall, setup_stall, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
