#include "ct/ct_config.h"
#include "ct/ct_mdata.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define MIB (1024LL * 1024LL)
#define CFS_PERIOD_US 100000LL

static void add(json_t *items, const char *key, const char *value)
{
    json_array_append_new(items, json_pack("[ss]", key, value));
}

static void addf(json_t *items, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void addf(json_t *items, const char *key, const char *fmt, ...)
{
    va_list ap;
    char *v = NULL;
    va_start(ap, fmt);
    if (vasprintf(&v, fmt, ap) < 0)
        v = NULL;
    va_end(ap);
    if (!v)
        abort();
    add(items, key, v);
    free(v);
}

static void note(json_t *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(json_t *notes, const char *fmt, ...)
{
    va_list ap;
    char *v = NULL;
    if (!notes)
        return;
    va_start(ap, fmt);
    if (vasprintf(&v, fmt, ap) < 0)
        v = NULL;
    va_end(ap);
    if (v)
        json_array_append_new(notes, json_string(v));
    free(v);
}

/* A non-negative integer property; absent or null -> *out = 0. */
static int get_uint(json_t *vmobj, const char *key, int64_t max, int64_t *out, vm_err *err)
{
    json_t *v = json_object_get(vmobj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) == (double)(int64_t)json_real_value(v))
        *out = (int64_t)json_real_value(v);
    else if (json_is_integer(v) && json_integer_value(v) >= 0)
        *out = json_integer_value(v);
    else
        return vm_err_set(err, VMERR_INVALID, "invalid value for %s: must be a non-negative integer", key);
    if (*out > max)
        return vm_err_set(err, VMERR_INVALID, "invalid value for %s: %lld is too large", key, (long long)*out);
    return 0;
}

static const char *cg_prefix(int version)
{
    return version == CT_CG_V2 ? "lxc.cgroup2." : "lxc.cgroup.";
}

int ct_config_limits(json_t *vmobj, const ct_host *host, bool explicit_defaults, json_t *items, json_t *notes,
                     vm_err *err)
{
    int64_t mem, swap, lwps, cap, shares;
    /* MiB values up to 2^40 MiB keep bytes inside int64. */
    if (get_uint(vmobj, "max_physical_memory", 1LL << 40, &mem, err) < 0 ||
        get_uint(vmobj, "max_swap", 1LL << 40, &swap, err) < 0 ||
        get_uint(vmobj, "max_lwps", INT_MAX, &lwps, err) < 0 || get_uint(vmobj, "cpu_cap", 1000000, &cap, err) < 0 ||
        get_uint(vmobj, "cpu_shares", 1000000, &shares, err) < 0)
        return -1;
    bool has_shares = json_object_get(vmobj, "cpu_shares") && !json_is_null(json_object_get(vmobj, "cpu_shares"));
    char key[128];

    if (host->memory == CT_CG_V1) {
        snprintf(key, sizeof key, "%smemory.limit_in_bytes", cg_prefix(CT_CG_V1));
        if (mem)
            addf(items, key, "%lld", (long long)(mem * MIB));
        else if (explicit_defaults)
            add(items, key, "-1");
        if (host->memsw) {
            /* SmartOS max_swap caps memory+swap, exactly memsw.  The kernel
             * requires memsw >= memory, so a smaller max_swap is raised. */
            int64_t memsw = swap;
            if (memsw && mem && memsw < mem) {
                note(notes, "max_swap %lld MiB < max_physical_memory %lld MiB: using %lld MiB", (long long)swap,
                     (long long)mem, (long long)mem);
                memsw = mem;
            }
            snprintf(key, sizeof key, "%smemory.memsw.limit_in_bytes", cg_prefix(CT_CG_V1));
            if (memsw)
                addf(items, key, "%lld", (long long)(memsw * MIB));
            else if (explicit_defaults)
                add(items, key, "-1");
        } else if (swap) {
            note(notes, "max_swap ignored: the kernel has no swap accounting (memory.memsw)");
        }
    } else if (host->memory == CT_CG_V2) {
        snprintf(key, sizeof key, "%smemory.max", cg_prefix(CT_CG_V2));
        if (mem)
            addf(items, key, "%lld", (long long)(mem * MIB));
        else if (explicit_defaults)
            add(items, key, "max");
        snprintf(key, sizeof key, "%smemory.swap.max", cg_prefix(CT_CG_V2));
        if (swap) {
            int64_t only_swap = swap > mem && mem ? swap - mem : mem ? 0 : swap;
            addf(items, key, "%lld", (long long)(only_swap * MIB));
        } else if (explicit_defaults) {
            add(items, key, "max");
        }
    } else if (mem || swap) {
        note(notes, "memory limits ignored: no memory cgroup controller");
    }

    if (host->pids) {
        snprintf(key, sizeof key, "%spids.max", cg_prefix(host->pids));
        if (lwps)
            addf(items, key, "%lld", (long long)lwps);
        else if (explicit_defaults)
            add(items, key, "max");
    } else if (lwps) {
        note(notes, "max_lwps ignored: no pids cgroup controller");
    }

    if (host->cpu == CT_CG_V1) {
        if (cap || explicit_defaults) {
            snprintf(key, sizeof key, "%scpu.cfs_period_us", cg_prefix(CT_CG_V1));
            addf(items, key, "%lld", CFS_PERIOD_US);
            snprintf(key, sizeof key, "%scpu.cfs_quota_us", cg_prefix(CT_CG_V1));
            if (cap)
                addf(items, key, "%lld", (long long)(cap * CFS_PERIOD_US / 100));
            else
                add(items, key, "-1");
        }
        if (has_shares || explicit_defaults) {
            int64_t s = has_shares ? shares * 1024 / 100 : 1024;
            if (s < 2)
                s = 2;
            if (s > 262144)
                s = 262144;
            snprintf(key, sizeof key, "%scpu.shares", cg_prefix(CT_CG_V1));
            addf(items, key, "%lld", (long long)s);
        }
    } else if (host->cpu == CT_CG_V2) {
        snprintf(key, sizeof key, "%scpu.max", cg_prefix(CT_CG_V2));
        if (cap)
            addf(items, key, "%lld %lld", (long long)(cap * CFS_PERIOD_US / 100), CFS_PERIOD_US);
        else if (explicit_defaults)
            addf(items, key, "max %lld", CFS_PERIOD_US);
        if (has_shares || explicit_defaults) {
            int64_t w = has_shares ? shares : 100;
            if (w < 1)
                w = 1;
            if (w > 10000)
                w = 10000;
            snprintf(key, sizeof key, "%scpu.weight", cg_prefix(CT_CG_V2));
            addf(items, key, "%lld", (long long)w);
        }
    } else if (cap || has_shares) {
        note(notes, "cpu_cap/cpu_shares ignored: no cpu cgroup controller");
    }
    return 0;
}

/* Signal names LXC accepts for lxc.signal.halt that make sense for an init. */
static bool valid_signal_name(const char *s)
{
    static const char *const names[] = {
        "SIGPWR", "SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT", NULL
    };
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(s, names[i]))
            return true;
    if (str_has_prefix(s, "SIGRTMIN+")) {
        int64_t n;
        return parse_i64(s + strlen("SIGRTMIN+"), &n) && n >= 0 && n <= 30;
    }
    return false;
}

const char *ct_halt_signal(json_t *vmobj, bool init_is_systemd, vm_err *err)
{
    json_t *im = json_object_get(vmobj, "internal_metadata");
    json_t *ov = json_is_object(im) ? json_object_get(im, "vmadm:halt_signal") : NULL;
    if (ov) {
        const char *s = json_string_value(ov);
        if (!s || !valid_signal_name(s)) {
            vm_err_set(err, VMERR_INVALID,
                       "invalid value for internal_metadata.vmadm:halt_signal: "
                       "must be a signal name like SIGPWR, SIGTERM, SIGUSR1 or SIGRTMIN+3");
            return NULL;
        }
        return s;
    }
    const char *brand = json_string_value(json_object_get(vmobj, "brand"));
    /* systemd halts on SIGRTMIN+3 and only starts sigpwr.target on SIGPWR. */
    if (brand && !strcmp(brand, "lx") && init_is_systemd)
        return "SIGRTMIN+3";
    return "SIGPWR";
}

/* LXC writes items back as "key = value" lines: a newline would inject config. */
static bool safe_value(const char *s)
{
    return s && !strpbrk(s, "\n\r");
}

/* lxc.mount.entry is fstab-shaped: fields are split on blanks. */
static bool safe_path_field(const char *s)
{
    return s && *s && !strpbrk(s, " \t\n\r\\");
}

static bool valid_hostname(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 63)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '.' || *p == '_'))
            return false;
    return true;
}

static const char *const brands[] = { "joyent", "joyent-minimal", "lx", NULL };

/* Denied inside every container.  Inside the user namespace most of these
 * already fail for lack of a capability in the host's namespace; the
 * profile is the second wall (and the first one for a privileged
 * container).  keyctl & co answer ENOSYS ("no keyring here", which
 * programs handle), the rest EPERM. */
static const char seccomp_profile[] = "2\n"
                                      "denylist\n"
                                      "reject_force_umount\n"
                                      "[all]\n"
                                      "open_by_handle_at errno 1\n"
                                      "kexec_load errno 1\n"
                                      "kexec_file_load errno 1\n"
                                      "init_module errno 1\n"
                                      "finit_module errno 1\n"
                                      "delete_module errno 1\n"
                                      "keyctl errno 38\n"
                                      "add_key errno 38\n"
                                      "request_key errno 38\n"
                                      "bpf errno 1\n"
                                      "perf_event_open errno 1\n"
                                      "userfaultfd errno 1\n"
                                      "iopl errno 1\n"
                                      "ioperm errno 1\n"
                                      "swapon errno 1\n"
                                      "swapoff errno 1\n"
                                      "acct errno 1\n"
                                      "lookup_dcookie errno 1\n"
                                      "quotactl errno 1\n"
                                      "nfsservctl errno 1\n";

const char *ct_seccomp_profile(void)
{
    return seccomp_profile;
}

/* User namespace, idmapped rootfs, seccomp, capabilities, AppArmor (see
 * ct_config.h). */
static int add_confinement(json_t *items, const char *uuid, const ct_host *host, const ct_inputs *in, vm_err *err)
{
    if (!in->privileged) {
        if (in->idmap_base < CT_IDMAP_BASE || in->idmap_base > CT_IDMAP_BASE + (CT_IDMAP_SLOTS - 1) * CT_IDMAP_SIZE ||
            (in->idmap_base - CT_IDMAP_BASE) % CT_IDMAP_SIZE)
            return vm_err_set(err, VMERR_INVALID, "container %s has no valid subordinate id range", uuid);
        addf(items, "lxc.idmap", "u 0 %u %u", in->idmap_base, CT_IDMAP_SIZE);
        addf(items, "lxc.idmap", "g 0 %u %u", in->idmap_base, CT_IDMAP_SIZE);
        /* Files on disk keep their ids: uid 0 on disk is container root.
         * A layered root's overlay is built over idmapped layers instead
         * (the kernel refuses an idmapped mount of an overlay). */
        if (!in->shifted_root)
            add(items, "lxc.rootfs.options", "idmap=container");
    }
    add(items, "lxc.apparmor.profile", host->apparmor ? "generated" : "unconfined");
    addf(items, "lxc.seccomp.profile", "%s/lxc/%s/seccomp", in->rundir, uuid);
    return 0;
}

int ct_config_build(json_t *vmobj, const ct_host *host, const ct_inputs *in, json_t **items_out, json_t *notes,
                    vm_err *err)
{
    cleanup_json json_t *items = json_array();
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    const char *brand = json_string_value(json_object_get(vmobj, "brand"));

    if (!uuid || !uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");
    bool brand_ok = false;
    for (size_t i = 0; brand && brands[i]; i++)
        brand_ok |= !strcmp(brand, brands[i]);
    if (!brand_ok)
        return vm_err_set(err, VMERR_INVALID, "brand %s is not a container brand", brand ? brand : "(none)");
    if (!in->rootfs || in->rootfs[0] != '/' || !safe_value(in->rootfs))
        return vm_err_set(err, VMERR_INVALID, "invalid zone root path");
    if (!in->rundir || !safe_value(in->rundir))
        return vm_err_set(err, VMERR_INVALID, "invalid runtime directory");

    const char *hostname = json_string_value(json_object_get(vmobj, "hostname"));
    if (!hostname || !*hostname)
        hostname = json_string_value(json_object_get(vmobj, "zonename"));
    if (!hostname || !*hostname)
        hostname = uuid;
    if (!valid_hostname(hostname))
        return vm_err_set(err, VMERR_INVALID, "invalid hostname: %s", hostname);

    const char *init = json_string_value(json_object_get(vmobj, "init_name"));
    if (!init || !*init)
        init = "/sbin/init";
    if (init[0] != '/' || !safe_value(init))
        return vm_err_set(err, VMERR_INVALID, "invalid value for init_name: must be an absolute path");

    const char *halt = ct_halt_signal(vmobj, in->init_is_systemd, err);
    if (!halt)
        return -1;

    int64_t tmpfs_mib;
    if (get_uint(vmobj, "tmpfs", 1LL << 30, &tmpfs_mib, err) < 0)
        return -1;

    add(items, "lxc.uts.name", hostname);
    addf(items, "lxc.rootfs.path", "dir:%s", in->rootfs);
    if (add_confinement(items, uuid, host, in, err) < 0)
        return -1;
    if (ct_net_config(vmobj, in, items, err) < 0)
        return -1;
    add(items, "lxc.autodev", "1");
    /* ":force": with a cgroup namespace LXC otherwise leaves /sys/fs/cgroup
     * empty, expecting init to mount it; busybox-style inits never do, and
     * the zone should see its own limits. */
    add(items, "lxc.mount.auto", "proc:mixed sys:ro cgroup:mixed:force");
    add(items, "lxc.init.cmd", init);
    add(items, "lxc.signal.halt", halt);
    /* The console stays a pty allocated by LXC (lxc.console.path unset) so
     * ct_console can attach to it; everything init prints also goes to the
     * log file. */
    addf(items, "lxc.console.logfile", "%s/console.log", in->rundir);
    add(items, "lxc.tty.max", "0");
    add(items, "lxc.pty.max", "1024");
    addf(items, "lxc.log.file", "%s/lxc.log", in->rundir);
    add(items, "lxc.log.level", "WARN");
    /* Same privilege floor as LXC's common.conf, spelled out so the config
     * does not depend on files of the host's lxc package. */
    add(items, "lxc.cap.drop", "mac_admin mac_override sys_time sys_module sys_rawio");

    int devver = host->memory == CT_CG_V2 ? CT_CG_V2 : CT_CG_V1;
    static const char *const dev_allow[] = { "c *:* m",     "b *:* m",      "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",
                                             "c 1:8 rwm",   "c 1:9 rwm",    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",
                                             "c 136:* rwm", "c 10:229 rwm", NULL };
    char key[64];
    snprintf(key, sizeof key, "%sdevices.deny", cg_prefix(devver));
    add(items, key, "a");
    snprintf(key, sizeof key, "%sdevices.allow", cg_prefix(devver));
    for (size_t i = 0; dev_allow[i]; i++)
        add(items, key, dev_allow[i]);

    if (tmpfs_mib > 0)
        addf(items, "lxc.mount.entry", "tmpfs tmp tmpfs rw,nosuid,nodev,mode=1777,size=%lldm,create=dir 0 0",
             (long long)tmpfs_mib);

    /* Delegated datasets: zones/<uuid>/data is bind-mounted at /data. */
    json_t *datasets = json_object_get(vmobj, "datasets");
    if (datasets && !json_is_array(datasets))
        return vm_err_set(err, VMERR_INVALID, "invalid value for datasets: must be an array");
    size_t i;
    json_t *ds;
    json_array_foreach(datasets, i, ds) {
        const char *name = json_string_value(ds);
        const char *dir = json_string_value(json_array_get(in->dataset_dirs, i));
        const char *slash = name ? strrchr(name, '/') : NULL;
        if (!name || !slash || !slash[1])
            return vm_err_set(err, VMERR_INVALID, "invalid delegated dataset name: %s", name ? name : "(not a string)");
        if (!dir || dir[0] != '/')
            return vm_err_set(err, VMERR_INVALID, "no directory for delegated dataset %s", name);
        if (!safe_path_field(dir) || !safe_path_field(slash + 1))
            return vm_err_set(err, VMERR_INVALID,
                              "delegated dataset %s: path %s cannot be bind-mounted "
                              "(blanks or backslashes)",
                              name, dir);
        addf(items, "lxc.mount.entry", "%s %s none bind,create=dir%s 0 0", dir, slash + 1,
             in->privileged ? "" : ",idmap=container");
    }

    if (ct_mdata_mounts(items, in, err) < 0 || ct_config_limits(vmobj, host, false, items, notes, err) < 0)
        return -1;

    json_t *pair;
    json_array_foreach(items, i, pair) {
        if (!safe_value(json_string_value(json_array_get(pair, 1))))
            return vm_err_set(err, VMERR_INVALID, "invalid value for %s: contains a newline",
                              json_string_value(json_array_get(pair, 0)));
    }
    *items_out = steal_ptr(items);
    return 0;
}

static int probe_one(const char *ctrl, const char *v2_list)
{
    char path[256];
    /* A v1 hierarchy of that controller is mounted (root cgroups lack most
     * limit files, e.g. pids.max, so look for the hierarchy itself). */
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s/cgroup.procs", ctrl);
    if (access(path, F_OK) == 0)
        return CT_CG_V1;
    if (v2_list) {
        /* Whole word match in the space-separated controller list. */
        size_t n = strlen(ctrl);
        for (const char *p = v2_list; (p = strstr(p, ctrl)); p += n)
            if ((p == v2_list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
                return CT_CG_V2;
    }
    return CT_CG_NONE;
}

void ct_host_probe(ct_host *host)
{
    cleanup_free char *v2 = NULL;
    size_t len;
    vm_err e = VM_ERR_INIT;
    /* Pure v2: controllers listed at the root.  Hybrid: the unified mount
     * lives at /sys/fs/cgroup/unified and v1 dirs hold the controllers. */
    if (read_file("/sys/fs/cgroup/cgroup.controllers", &v2, &len, &e) < 0)
        v2 = NULL;
    host->memory = probe_one("memory", v2);
    host->pids = probe_one("pids", v2);
    host->cpu = probe_one("cpu", v2);
    host->memsw = access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0;
    host->apparmor = access("/sys/kernel/security/apparmor", F_OK) == 0;
}
