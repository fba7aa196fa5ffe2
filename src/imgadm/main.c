/* imgadm: SmartOS imgadm(8) subset on top of lib/image.  The command table
 * and the dispatch; each command lives in its own file (imgadm.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"
#include "imgadm.h"

static const imgadm_cmd cmds[] = {
    { "install", imgadm_cmd_install, "install -m <manifest> -f <file> [-P <pool>] [-q] [--allow-setuid]",
      "Install an image from a manifest and its file." },
    { "list", imgadm_cmd_list, "list [-j] [-H] [-o field,...] [-P <pool>] [field=value ...]",
      "List installed images (default columns: uuid,name,version,os,type,pub)." },
    { "get", imgadm_cmd_get, "get [-P <pool>] <uuid>", "Print an installed image's manifest." },
    { "delete", imgadm_cmd_delete, "delete [-P <pool>] <uuid>",
      "Delete an installed image (refused while VMs use it)." },
    { "create", imgadm_cmd_create,
      "create [-o <outdir>] [-c zstd|gzip|none] [-q] <vm uuid> name=<name> version=<version> "
      "[field=value ...]",
      "Build an image (manifest + file) from a stopped VM's disk or zone root." },
    { "sources", imgadm_cmd_sources, "sources [-j] | -a <url> [-f] | -d <url> | -e [-f]",
      "List, add, delete or edit the image sources (IMGAPI servers or static mirrors)." },
    { "avail", imgadm_cmd_avail, "avail [-j] [-H] [-o field,...] [-s field,...] [field=value ...]",
      "List the images the sources offer." },
    { "import", imgadm_cmd_import, "import [-q] [-j] [-S <url>] [-P <pool>] <uuid | name@version | name>",
      "Download an image (and its origins) from the sources and install it." },
    { "update", imgadm_cmd_update, "update [-q] [-j] [-S <url>] [-P <pool>] [uuid ...]",
      "Refresh installed images' manifests from the sources." },
};

void imgadm_usage(FILE *f)
{
    fputs("Usage: imgadm <command> [options]\n\nCommands:\n", f);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  imgadm %s\n      %s\n", cmds[i].synopsis, cmds[i].summary);
    fputs("  imgadm help\n", f);
}

int imgadm_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "imgadm: error: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    imgadm_usage(stderr);
    return 2;
}

int imgadm_opt_error(const vm_opts *o, int c)
{
    char m[160];
    vm_opts_error(o, c, m, sizeof m);
    return imgadm_usage_error("%s", m);
}

int imgadm_fail(const vm_err *err)
{
    fprintf(stderr, "imgadm: error: %s\n", err->msg);
    return err->code == VMERR_USAGE ? 2 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return imgadm_usage_error("%s", "no command given");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        imgadm_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        vm_ctx ctx;
        vm_err err = VM_ERR_INIT;
        if (vm_ctx_init(&ctx, &err) < 0)
            return imgadm_fail(&err);
        img_tmp_sweep(&ctx); /* temp files of installs killed with -9 */
        int rc = cmds[i].run(&ctx, argc - 1, argv + 1);
        vm_ctx_free(&ctx);
        return rc;
    }
    return imgadm_usage_error("unknown command \"%s\"", cmd);
}
