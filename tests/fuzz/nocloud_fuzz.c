/* libFuzzer harness: arbitrary bytes as a VM payload (parsed as JSON; a
 * non-JSON input becomes the hostname and every customer value) through
 * the NoCloud seed generator and the ISO writer (lib/mdata/nocloud.h).
 * The structured files (meta-data, vendor-data, network-config) must stay
 * one YAML flow line after an optional "#cloud-config" line, with no byte
 * outside YAML's printable set but that final LF; the image must be whole
 * sectors within ISO9660_MAX_SIZE.  Must never crash, leak or trip UBSan. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "mdata/nocloud.h"

#define UUID "8d5c1b2a-7f3e-4c6d-9a0b-1e2f3a4b5c6d"

static void check_structured(const iso9660_file *f)
{
    const unsigned char *p = (const unsigned char *)f->data;
    size_t n = f->len, start = 0;
    if (n >= 14 && !memcmp(p, "#cloud-config\n", 14))
        start = 14;
    if (n <= start || p[n - 1] != '\n')
        __builtin_trap();
    for (size_t i = start; i < n - 1; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *vm = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(vm)) {
        json_decref(vm);
        json_t *s = json_stringn_nocheck((const char *)data, size);
        vm = json_pack("{s:O, s:{s:O, s:O, s:O, s:O}, s:[{s:O, s:[O], s:O}], s:{s:O}}", "hostname", s,
                       "customer_metadata", "hostname", s, "root_authorized_keys", s, "user-script", s, "user-data", s,
                       "nics", "interface", s, "ips", s, "mac", s, "routes", "10.0.0.0/8", s);
        json_decref(s);
    }
    json_object_set_new(vm, "uuid", json_string(UUID));
    mdata_seed seed;
    vm_err err = VM_ERR_INIT;
    if (mdata_nocloud_seed(vm, &seed, &err) < 0)
        __builtin_trap();
    for (size_t i = 0; i < seed.n; i++)
        if (strcmp(seed.files[i].name, "user-data"))
            check_structured(&seed.files[i]);
    char *img = NULL;
    size_t len = 0;
    if (iso9660_write(MDATA_SEED_VOLID, seed.files, seed.n, 0, &img, &len, &err) == 0 &&
        (len % ISO9660_SECTOR || len > ISO9660_MAX_SIZE))
        __builtin_trap();
    free(img);
    mdata_seed_free(&seed);
    json_decref(vm);
    return 0;
}
