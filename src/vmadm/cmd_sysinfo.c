/* vmadm sysinfo: the compute node as SmartOS's sysinfo(8) describes it —
 * the keys Triton's agents (cn-agent heartbeats, vm-agent, the CNAPI
 * sysinfo) read — from Linux's /sys and /proc, plus this node's VM and
 * image counts.  JSON on stdout.  Keys with no Linux meaning (Live Image's
 * platform build, SDC Version) are left out rather than made up. */
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "image/image.h"
#include "net/nictag.h"
#include "storage/storage.h"
#include "vm/store.h"
#include "vmadm.h"

/* First line of a small file, trimmed; NULL if unreadable or empty. */
static char *read_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[512];
    char *r = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!r)
        return NULL;
    buf[strcspn(buf, "\n")] = '\0';
    return buf[0] ? xstrdup(buf) : NULL;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v && *v)
        json_object_set_new(o, key, json_string(v));
}

/* The machine's uuid: DMI's product_uuid, else /etc/machine-id as a uuid. */
static char *host_uuid(void)
{
    char *u = read_line("/sys/class/dmi/id/product_uuid");
    if (u && strlen(u) == 36) {
        for (char *p = u; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p + 32);
        return u;
    }
    free(u);
    cleanup_free char *m = read_line("/etc/machine-id");
    if (!m || strlen(m) != 32)
        return NULL;
    return xasprintf("%.8s-%.4s-%.4s-%.4s-%.12s", m, m + 8, m + 12, m + 16, m + 20);
}

/* CPU Type, CPU Virtualization, CPU Physical Cores (sockets), CPU Total Cores. */
static void cpu_info(json_t *o)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[1024], model[256] = "";
    const char *virt = "none";
    int sockets[256] = { 0 }, nsock = 0;
    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *c = strchr(line, ':');
            if (!c)
                continue;
            c += c[1] == ' ' ? 2 : 1;
            c[strcspn(c, "\n")] = '\0';
            if (!model[0] && str_has_prefix(line, "model name"))
                snprintf(model, sizeof model, "%s", c);
            else if (str_has_prefix(line, "physical id")) {
                int id = atoi(c);
                if (id >= 0 && id < 256 && !sockets[id]++)
                    nsock++;
            } else if (str_has_prefix(line, "flags")) {
                if (strstr(c, " vmx") || str_has_prefix(c, "vmx"))
                    virt = "vmx";
                else if (strstr(c, " svm") || str_has_prefix(c, "svm"))
                    virt = "svm";
            }
        }
        fclose(f);
    }
    set_str(o, "CPU Type", model);
    json_object_set_new(o, "CPU Virtualization", json_string(virt));
    json_object_set_new(o, "CPU Physical Cores", json_integer(nsock ? nsock : 1));
    json_object_set_new(o, "CPU Total Cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
}

static void memory_info(json_t *o)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kib = 0;
    if (f) {
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemTotal: %lld kB", &kib) == 1)
                break;
        fclose(f);
    }
    json_object_set_new(o, "MiB of Memory", json_sprintf("%lld", kib / 1024));
}

/* "Disks": whole block devices (no partitions, loops, RAM disks). */
static void disks_info(json_t *o)
{
    json_t *disks = json_object();
    FILE *p = fopen("/proc/partitions", "r");
    char line[256];
    if (p) {
        while (fgets(line, sizeof line, p)) {
            char name[64];
            unsigned long long blocks;
            if (sscanf(line, " %*u %*u %llu %63s", &blocks, name) != 2)
                continue;
            cleanup_free char *dev = xasprintf("/sys/block/%s", name);
            if (access(dev, F_OK) != 0 || str_has_prefix(name, "loop") || str_has_prefix(name, "ram") ||
                str_has_prefix(name, "zram") || str_has_prefix(name, "dm-"))
                continue;
            json_object_set_new(disks, name,
                                json_pack("{s:I}", "Size in GB", (json_int_t)(blocks * 1024 / 1000000000)));
        }
        fclose(p);
    }
    json_object_set_new(o, "Disks", disks);
}

/* "Network Interfaces": physical links with MAC, IPv4, link status and the
 * NIC tags carried on them (SmartOS's "NIC Names"); tags whose bridge has
 * no uplink (etherstubs) go under "Virtual Network Interfaces". */
static void nics_info(const vm_ctx *ctx, json_t *o)
{
    json_t *nics = json_object(), *vnics = json_object();
    net_tag *tags = NULL;
    size_t ntags = 0;
    vm_err e = VM_ERR_INIT;
    if (net_tag_list(ctx, &tags, &ntags, &e) < 0)
        ntags = 0;
    struct if_nameindex *ifs = if_nameindex();
    for (struct if_nameindex *i = ifs; i && i->if_index; i++) {
        cleanup_free char *devp = xasprintf("/sys/class/net/%s/device", i->if_name);
        if (access(devp, F_OK) != 0)
            continue; /* virtual: bridges, veths, taps, lo */
        cleanup_free char *macp = xasprintf("/sys/class/net/%s/address", i->if_name);
        cleanup_free char *opp = xasprintf("/sys/class/net/%s/operstate", i->if_name);
        cleanup_free char *mac = read_line(macp);
        cleanup_free char *op = read_line(opp);
        json_t *n = json_object();
        set_str(n, "MAC Address", mac);
        json_object_set_new(n, "ip4addr", json_string(""));
        json_object_set_new(n, "Link Status", json_string(op && !strcmp(op, "up") ? "up" : "down"));
        json_t *names = json_array();
        for (size_t t = 0; t < ntags; t++)
            if (!strcmp(tags[t].link, i->if_name) || !strcmp(tags[t].bridge, i->if_name))
                json_array_append_new(names, json_string(tags[t].name));
        json_object_set_new(n, "NIC Names", names);
        json_object_set_new(nics, i->if_name, n);
    }
    if (ifs)
        if_freenameindex(ifs);
    /* IPv4 addresses, of the link or of the bridge carrying its tag. */
    struct ifaddrs *ia = NULL;
    if (getifaddrs(&ia) == 0) {
        for (struct ifaddrs *a = ia; a; a = a->ifa_next) {
            if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
                continue;
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr, ip, sizeof ip);
            const char *link = a->ifa_name;
            for (size_t t = 0; t < ntags; t++)
                if (!strcmp(tags[t].bridge, a->ifa_name) && tags[t].link[0])
                    link = tags[t].link;
            json_t *n = json_object_get(nics, link);
            if (n && !*json_string_value(json_object_get(n, "ip4addr")))
                json_object_set_new(n, "ip4addr", json_string(ip));
        }
        freeifaddrs(ia);
    }
    for (size_t t = 0; t < ntags; t++)
        if (tags[t].local)
            json_object_set_new(
                vnics, tags[t].name,
                json_pack("{s:s,s:s,s:s}", "MAC Address", "", "ip4addr", "", "Host Interface", tags[t].bridge));
    free(tags);
    json_object_set_new(o, "Network Interfaces", nics);
    json_object_set_new(o, "Virtual Network Interfaces", vnics);
}

/* Zpool, its size, and the counts of VMs and images on this node. */
static void pool_info(const vm_ctx *ctx, json_t *o)
{
    vm_err e = VM_ERR_INIT;
    json_object_set_new(o, "Zpool", json_string(ctx->pool));
    cleanup_vs_pool vs_pool *pool = NULL;
    vs_space sp;
    if (vs_pool_open(ctx, NULL, &pool, &e) == 0 && vs_pool_space(pool, &sp, &e) == 0) {
        json_object_set_new(o, "Zpool Size in GiB", json_integer((json_int_t)(sp.size >> 30)));
        json_object_set_new(o, "Zpool Free in GiB", json_integer((json_int_t)(sp.available >> 30)));
    }
    cleanup_json json_t *vms = NULL, *imgs = NULL;
    json_object_set_new(o, "VM Count",
                        json_integer(vm_store_list(ctx, &vms, &e) == 0 ? (json_int_t)json_array_size(vms) : 0));
    json_object_set_new(o, "Image Count",
                        json_integer(img_list(ctx, NULL, &imgs, &e) == 0 ? (json_int_t)json_array_size(imgs) : 0));
}

int cmd_sysinfo(const vm_ctx *ctx, args *a)
{
    if (a->npos)
        return usage("Too many arguments.");
    cleanup_json json_t *o = json_object();
    struct utsname un;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    uname(&un);
    cleanup_free char *uuid = host_uuid();
    set_str(o, "UUID", uuid);
    set_str(o, "Hostname", host);
    json_object_set_new(o, "System Type", json_string(un.sysname));
    set_str(o, "Live Image", un.release);
    FILE *st = fopen("/proc/stat", "r");
    char line[256];
    while (st && fgets(line, sizeof line, st)) {
        long long bt;
        if (sscanf(line, "btime %lld", &bt) == 1) {
            json_object_set_new(o, "Boot Time", json_sprintf("%lld", bt));
            break;
        }
    }
    if (st)
        fclose(st);
    cleanup_free char *vendor = read_line("/sys/class/dmi/id/sys_vendor");
    cleanup_free char *product = read_line("/sys/class/dmi/id/product_name");
    cleanup_free char *serial = read_line("/sys/class/dmi/id/product_serial");
    set_str(o, "Manufacturer", vendor);
    set_str(o, "Product", product);
    set_str(o, "Serial Number", serial);
    /* HVM VMs run everywhere (QEMU falls back to TCG); which accelerator
     * they get is "HVM Accelerator". */
    bool kvm = ctx->accel != VM_ACCEL_TCG && access("/dev/kvm", R_OK | W_OK) == 0;
    json_object_set_new(o, "VM Capable", json_true());
    json_object_set_new(o, "Bhyve Capable", json_true());
    json_object_set_new(o, "HVM API", json_true());
    json_object_set_new(o, "HVM Accelerator", json_string(kvm ? "kvm" : "tcg"));
    cpu_info(o);
    memory_info(o);
    pool_info(ctx, o);
    disks_info(o);
    nics_info(ctx, o);
    print_json(o);
    return 0;
}
