/* lib/mdata NoCloud seed and ISO 9660 writer: the seed files of two VM
 * objects as golden transcripts (golden/vm.json → nocloud.txt,
 * golden/vm-odd.json → nocloud-odd.txt: values that try to break the YAML
 * structure), and images read back by a tiny ISO 9660 reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../common/golden.h"
#include "common/util.h"
#include "mdata/iso9660.h"
#include "mdata/nocloud.h"

static const char *golden_dir;

static json_t *load(const char *name)
{
    cleanup_free char *path = xasprintf("%s/%s", golden_dir, name);
    json_t *vm = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(vm);
    return vm;
}

static void check_seed(const char *vmfile, const char *goldfile)
{
    cleanup_json json_t *vm = load(vmfile);
    mdata_seed s;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(mdata_nocloud_seed(vm, &s, &err), 0);
    char *out = NULL;
    size_t olen;
    FILE *f = open_memstream(&out, &olen);
    for (size_t i = 0; i < s.n; i++) {
        fprintf(f, "=== %s (%zu bytes)\n", s.files[i].name, s.files[i].len);
        fwrite(s.files[i].data, 1, s.files[i].len, f);
        /* The structured files are one line: no value adds a line. */
        if (strcmp(s.files[i].name, "user-data")) {
            const char *nl = memchr(s.files[i].data, '\n', s.files[i].len);
            size_t first = strncmp(s.files[i].data, "#cloud-config\n", 14) ? 0 : 14;
            nl = memchr(s.files[i].data + first, '\n', s.files[i].len - first);
            assert_true(nl == s.files[i].data + s.files[i].len - 1);
        }
    }
    fclose(f);
    cleanup_free char *pa = xasprintf("%s/%s", golden_dir, goldfile);
    assert_int_equal(golden_check(pa, out), 0);
    free(out);
    mdata_seed_free(&s);
}

static void test_golden_seed(void **state)
{
    (void)state;
    check_seed("vm.json", "nocloud.txt");
}

static void test_golden_odd(void **state)
{
    (void)state;
    check_seed("vm-odd.json", "nocloud-odd.txt");
}

static void test_minimal(void **state)
{
    (void)state;
    cleanup_json json_t *vm = json_pack("{s:s}", "uuid", "8d5c1b2a-7f3e-4c6d-9a0b-1e2f3a4b5c6d");
    mdata_seed s;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(mdata_nocloud_seed(vm, &s, &err), 0);
    assert_int_equal(s.n, 3); /* no nics: no network-config */
    assert_string_equal(s.files[0].data,
                        "{\"instance-id\": \"8d5c1b2a-7f3e-4c6d-9a0b-1e2f3a4b5c6d\", "
                        "\"local-hostname\": \"8d5c1b2a-7f3e-4c6d-9a0b-1e2f3a4b5c6d\"}\n");
    assert_string_equal(s.files[1].data, "#cloud-config\n{}\n");
    assert_string_equal(s.files[2].data, "#cloud-config\n{}\n");
    mdata_seed_free(&s);
    json_object_set_new(vm, "uuid", json_string("../x"));
    assert_int_equal(mdata_nocloud_seed(vm, &s, &err), -1);
    assert_string_equal(err.msg, "VM object has no valid uuid");
}

/* ---- a tiny ISO 9660 reader ---- */
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t rd32be(const unsigned char *p)
{
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

/* The data of file `id` ("META-DATA.;1") in the root directory, or NULL. */
static const unsigned char *iso_find(const unsigned char *img, size_t len, const char *id, uint32_t *flen)
{
    const unsigned char *pvd = img + 16 * 2048;
    assert_true(len >= 18 * 2048);
    assert_memory_equal(pvd, "\1CD001\1", 7);
    assert_int_equal(rd32(pvd + 80), len / 2048);
    assert_int_equal(rd32be(pvd + 84), len / 2048);
    const unsigned char *root = pvd + 156;
    uint32_t dsec = rd32(root + 2), dlen = rd32(root + 10);
    assert_int_equal(dsec, rd32be(root + 6));
    assert_true((size_t)dsec * 2048 + dlen <= len);
    const unsigned char *d = img + (size_t)dsec * 2048;
    char prev[64] = "";
    for (size_t off = 0; off < dlen && d[off];) {
        const unsigned char *r = d + off;
        size_t nl = r[32];
        char name[64] = "";
        memcpy(name, r + 33, nl < 63 ? nl : 63);
        if (off >= 68) { /* after "." and "..": sorted, unique */
            assert_true(strcmp(prev, name) < 0);
            strcpy(prev, name);
        }
        if (!strcmp(name, id)) {
            *flen = rd32(r + 10);
            assert_true((size_t)rd32(r + 2) * 2048 + *flen <= len);
            return img + (size_t)rd32(r + 2) * 2048;
        }
        off += r[0];
    }
    return NULL;
}

static void test_iso_roundtrip(void **state)
{
    (void)state;
    cleanup_json json_t *vm = load("vm.json");
    mdata_seed s;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(mdata_nocloud_seed(vm, &s, &err), 0);
    cleanup_free char *img = NULL;
    size_t len;
    assert_int_equal(iso9660_write("cidata", s.files, s.n, 0, &img, &len, &err), 0);
    const unsigned char *u = (const unsigned char *)img;
    assert_memory_equal(u + 16 * 2048 + 40, "cidata                          ", 32);
    assert_memory_equal(u + 17 * 2048, "\377CD001\1", 7);
    for (size_t i = 0; i < s.n; i++) {
        char id[64];
        size_t k = 0;
        for (const char *c = s.files[i].name; *c; c++)
            id[k++] = *c >= 'a' && *c <= 'z' ? (char)(*c - 32) : *c;
        strcpy(id + k, ".;1");
        uint32_t flen;
        const unsigned char *data = iso_find(u, len, id, &flen);
        assert_non_null(data);
        assert_int_equal(flen, s.files[i].len);
        assert_memory_equal(data, s.files[i].data, flen);
    }
    /* Same input, same date: the same bytes. */
    cleanup_free char *img2 = NULL;
    size_t len2;
    assert_int_equal(mdata_nocloud_image(vm, 0, &img2, &len2, &err), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(img, img2, len);
    mdata_seed_free(&s);
}

static void test_iso_refusals(void **state)
{
    (void)state;
    cleanup_free char *img = NULL;
    size_t len;
    vm_err err = VM_ERR_INIT;
    iso9660_file f[2] = { { "a", "x", 1 }, { "a", "y", 1 } };
    assert_int_equal(iso9660_write("cidata", f, 2, 0, &img, &len, &err), -1);
    assert_string_equal(err.msg, "ISO file name \"a\" is given twice");
    f[0].name = "../x";
    assert_int_equal(iso9660_write("cidata", f, 1, 0, &img, &len, &err), -1);
    assert_string_equal(err.msg, "ISO file name \"../x\" is not valid");
    f[0].name = "a";
    assert_int_equal(iso9660_write("bad label", f, 1, 0, &img, &len, &err), -1);
    assert_string_equal(err.msg, "ISO volume id \"bad label\" is not valid");
    /* The size is checked before any byte is read. */
    f[0].len = ISO9660_MAX_SIZE;
    assert_int_equal(iso9660_write("cidata", f, 1, 0, &img, &len, &err), -1);
    assert_string_equal(err.msg, "ISO image would be 67151872 bytes (limit 67108864)");
    iso9660_file many[60];
    char names[60][8];
    for (int i = 0; i < 60; i++) {
        snprintf(names[i], sizeof names[i], "f%02d", i);
        many[i] = (iso9660_file){ names[i], "", 0 };
    }
    assert_int_equal(iso9660_write("cidata", many, 60, 0, &img, &len, &err), -1);
    assert_string_equal(err.msg, "too many files for one ISO directory sector");
    assert_int_equal(iso9660_write("cidata", many, 20, 0, &img, &len, &err), 0);
}

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "golden";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_seed),   cmocka_unit_test(test_golden_odd),   cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_iso_roundtrip), cmocka_unit_test(test_iso_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
