#include "vm/select.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vm/list.h"
#include "vm/store.h"
#include "vm/vmobj.h"
#include "vminfo/vminfo_client.h"

/* A read from vminfod's cache takes a millisecond, a projection of
 * thousands of VMs a few: a daemon that has not answered within this is
 * stuck, and reading directly is better. */
#define READ_TIMEOUT_MS 2000

static bool vminfod_enabled(const vm_ctx *ctx)
{
    return ctx->vminfod_addr && strcmp(ctx->vminfod_addr, "none") != 0;
}

int vm_select_load_all(const vm_ctx *ctx, json_t **out, vm_err *err)
{
    if (vminfo_client_available(ctx) && vminfo_client_get_vms(ctx, out, err) == 0)
        return 0;
    vm_err_clear(err);
    vm_store_repair(ctx, err);
    return vmobj_load_all(ctx, out, err);
}

int vm_select_load_one(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err)
{
    if (vminfod_enabled(ctx) && uuid_valid(uuid)) {
        /* Straight to the VM, no /ping first: a daemon that is not there
         * refuses the connection at once, a stuck one meets the timeout. */
        cleanup_free char *path = xasprintf("/vms/%s", uuid);
        cleanup_free char *body = NULL;
        size_t len;
        vm_err e = VM_ERR_INIT;
        if (vminfo_client_get_text(ctx, path, READ_TIMEOUT_MS, &body, &len, &e) == 0) {
            json_error_t je;
            *out = json_loadb(body, len, 0, &je);
            if (*out)
                return 0;
        } else if (e.code == VMERR_NOTFOUND) {
            return vm_err_set(err, VMERR_NOTFOUND, "VM %s not found", uuid);
        }
    }
    return vmobj_load(ctx, uuid, out, err);
}

static int check_filter_keys(char **filters, const char *what, vm_err *err)
{
    for (size_t i = 0; filters && filters[i]; i++) {
        const char *eq = strchr(filters[i], '=');
        cleanup_free char *k = eq ? xstrndup(filters[i], (size_t)(eq - filters[i])) : xstrdup(filters[i]);
        if (!vm_list_valid_filter_key(k))
            return vm_err_set(err, VMERR_INVALID, "Invalid %s key: \"%s\"", what, k);
    }
    return 0;
}

/* cols + filter keys + what the fake fields are made from. */
static char **needed_columns(const char *const *cols, char **filters, bool *dotted)
{
    static const char *const always[] = { "uuid", "brand", "max_physical_memory", "ram", "type", "do_not_inventory",
                                          NULL };
    size_t n = 0;
    char **all = xcalloc(1, sizeof *all);
    *dotted = false;
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0;; i++) {
            const char *c = pass == 0 ? (cols ? cols[i] : NULL) : pass == 1 ? (filters ? filters[i] : NULL) : always[i];
            if (!c)
                break;
            const char *eq = pass == 1 ? strchr(c, '=') : NULL;
            char *name = eq ? xstrndup(c, (size_t)(eq - c)) : xstrdup(c);
            if (strchr(name, '.'))
                *dotted = true;
            all = xrealloc(all, (n + 2) * sizeof *all);
            all[n++] = name;
            all[n] = NULL;
        }
    }
    return all;
}

/* The rows from vminfod's projection; -1 (err set) when vminfod is not
 * there or its answer cannot be read as a flat array. */
static int rows_from_vminfod(const vm_ctx *ctx, vm_table *t, vm_err *err)
{
    cleanup_strv char **fields = xcalloc(vm_table_ncols(t) + 1, sizeof *fields);
    size_t n = 0;
    for (size_t c = 0; c < vm_table_ncols(t); c++)
        if (strcmp(vm_table_col_name(t, c), "type")) /* list's own, never stored */
            fields[n++] = xstrdup(vm_table_col_name(t, c));
    cleanup_free char *joined = strv_join(fields, ",");
    cleanup_free char *path = xasprintf("/vms?fields=%s&all=true", joined);
    cleanup_free char *body = NULL;
    size_t len;
    if (vminfo_client_get_text(ctx, path, READ_TIMEOUT_MS, &body, &len, err) < 0)
        return -1;
    return vm_table_add_text(t, body, len, err);
}

/* `vmadm list` hides VMs with do_not_inventory (a migration's stopped
 * source or its target in transit) unless a filter asks about that key;
 * `vmadm lookup` shows them, as SmartOS's does (node-vmadm filters them
 * itself, with its include_dni option). */
static bool asks_inventory(char **filters)
{
    for (size_t i = 0; filters && filters[i]; i++)
        if (str_has_prefix(filters[i], "do_not_inventory="))
            return true;
    return false;
}

static void hide_uninventoried(vm_table *t, char **filters)
{
    int col = vm_table_col(t, "do_not_inventory");
    size_t n = vm_table_nrows(t);
    if (asks_inventory(filters) || col < 0 || n == 0)
        return;
    bool *keep = xcalloc(n, sizeof *keep);
    for (size_t r = 0; r < n; r++)
        keep[r] = vm_table_cell(t, r, (size_t)col)->kind != VM_CELL_TRUE;
    vm_table_keep(t, keep);
    free(keep);
}

static json_t *filtered_objects(json_t *all, char **filters, bool hide_dni, vm_err *err)
{
    size_t i;
    json_t *vm;
    json_array_foreach(all, i, vm)
        vm_list_add_fake_fields(vm);
    json_t *sel = vm_list_filter(all, filters, err);
    if (sel && hide_dni && !asks_inventory(filters))
        for (i = json_array_size(sel); i-- > 0;)
            if (json_is_true(json_object_get(json_array_get(sel, i), "do_not_inventory")))
                json_array_remove(sel, i);
    return sel;
}

vm_table *vm_select_rows(const vm_ctx *ctx, const char *const *cols, char **filters, const char *what, bool hide_dni,
                         vm_err *err)
{
    if (check_filter_keys(filters, what, err) < 0)
        return NULL;
    bool dotted;
    cleanup_strv char **need = needed_columns(cols, filters, &dotted);
    vm_table *t = vm_table_new((const char *const *)need);

    if (!dotted && vminfod_enabled(ctx)) {
        vm_err e = VM_ERR_INIT;
        if (rows_from_vminfod(ctx, t, &e) == 0) {
            vm_list_add_fake_fields_table(t);
            if (vm_list_filter_table(t, filters, err) < 0) {
                vm_table_free(t);
                return NULL;
            }
            if (hide_dni)
                hide_uninventoried(t, filters);
            return t;
        }
    }
    /* Dotted paths (tags.x, disks.*.size) need whole objects; without
     * vminfod only the parts of each VM these columns use are read. */
    cleanup_json json_t *all = NULL;
    int r;
    if (dotted && vminfod_enabled(ctx)) {
        r = vm_select_load_all(ctx, &all, err);
    } else {
        vm_store_repair(ctx, err);
        r = vmobj_load_all_parts(ctx, vmobj_parts_for((const char *const *)need), &all, err);
    }
    cleanup_json json_t *sel = r < 0 ? NULL : filtered_objects(all, filters, hide_dni, err);
    if (!sel) {
        vm_table_free(t);
        return NULL;
    }
    vm_table_add_json(t, sel);
    return t;
}

json_t *vm_select_objects(const vm_ctx *ctx, char **filters, const char *what, vm_err *err)
{
    if (check_filter_keys(filters, what, err) < 0)
        return NULL;
    cleanup_json json_t *all = NULL;
    if (vm_select_load_all(ctx, &all, err) < 0)
        return NULL;
    return filtered_objects(all, filters, false, err);
}
