/* A loader that takes etc/vms/<uuid>/vm.json as the whole VM object (plus
 * "state"/"pid" from run/vms/<uuid>/pid): lets the daemon, its unit tests
 * and the fuzz harness run without lib/vm. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "server.h"

/* Alive and not a zombie. */
static int pid_alive(int64_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static int files_load_one(void *arg, const char *uuid, json_t **out, vm_err *err)
{
    const vm_ctx *ctx = arg;
    cleanup_free char *dir = vm_ctx_vm_dir(ctx, uuid);
    cleanup_free char *path = xasprintf("%s/vm.json", dir);
    json_t *vm = NULL;

    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_NOTFOUND, "VM %s not found", uuid);
    if (read_json_file(path, &vm, err) < 0) {
        if (!path_exists(path))
            err->code = VMERR_NOTFOUND;
        return -1;
    }
    if (!json_is_object(vm)) {
        json_decref(vm);
        return vm_err_set(err, VMERR_INVALID, "%s: not a JSON object", path);
    }
    if (!json_object_get(vm, "uuid"))
        json_object_set_new(vm, "uuid", json_string(uuid));
    if (!json_object_get(vm, "zonename"))
        json_object_set_new(vm, "zonename", json_string(uuid));

    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    cleanup_free char *pidpath = xasprintf("%s/pid", rundir);
    cleanup_free char *pidtxt = NULL;
    vm_err e2 = VM_ERR_INIT;
    int64_t pid;
    if (read_file(pidpath, &pidtxt, NULL, &e2) == 0) {
        char *nl = strchr(pidtxt, '\n');
        if (nl)
            *nl = '\0';
        int alive = parse_i64(pidtxt, &pid) && pid > 0 && pid < 0x7fffffff && pid_alive(pid);
        json_object_set_new(vm, "state", json_string(alive ? "running" : "stopped"));
        if (alive)
            json_object_set_new(vm, "pid", json_integer(pid));
    }
    *out = vm;
    return 0;
}

static int files_list(void *arg, json_t **out, vm_err *err)
{
    const vm_ctx *ctx = arg;
    DIR *dir = opendir(ctx->etc_dir);
    struct dirent *de;
    json_t *a = json_array();

    if (!dir) {
        json_decref(a);
        return vm_err_sys(err, errno, "cannot read %s", ctx->etc_dir);
    }
    while ((de = readdir(dir)))
        if (uuid_valid(de->d_name))
            json_array_append_new(a, json_string(de->d_name));
    closedir(dir);
    *out = a;
    return 0;
}

static int files_load_each(void *arg, vminfod_want_fn want, vminfod_each_fn fn, void *fnarg, vm_err *err)
{
    cleanup_json json_t *uuids = NULL;
    size_t i;
    json_t *u;

    if (files_list(arg, &uuids, err) < 0)
        return -1;
    json_array_foreach(uuids, i, u) {
        json_t *vm = NULL;
        vm_err e = VM_ERR_INIT;
        if (want && !want(fnarg, json_string_value(u)))
            continue;
        if (files_load_one(arg, json_string_value(u), &vm, &e) == 0 && fn(fnarg, json_string_value(u), vm) < 0)
            return -1;
    }
    return 0;
}

static json_t *files_watch_paths(void *arg, const char *uuid)
{
    const vm_ctx *ctx = arg;
    cleanup_free char *dir = vm_ctx_vm_dir(ctx, uuid);
    cleanup_free char *path = xasprintf("%s/vm.json", dir);
    return json_pack("[s]", path);
}

void vminfod_files_loader(const vm_ctx *ctx, vminfod_loader *out)
{
    out->arg = (void *)ctx;
    out->load_each = files_load_each;
    out->load_one = files_load_one;
    out->list_uuids = files_list;
    out->watch_paths = files_watch_paths;
}
