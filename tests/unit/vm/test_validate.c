/* Payload normalisation and validation (reference V1–V12): a table of good
 * and bad payloads per brand with the exact message create/update print. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "vm/validate.h"

#define IMG "1e1df5b1-c668-438c-b55d-98cf3105058d"
#define UUID1 "b1a5e2f4-5c2e-4d4e-9d0a-0123456789ab"

/* What create/update do with a payload: normalise, validate, format.
 * Returns NULL when valid, else the message (static buffer). */
static const char *check(const char *brand, const char *action, const char *payload_json)
{
    static char msg[VM_ERR_MSGLEN];
    json_error_t je;
    json_t *p = json_loads(payload_json, 0, &je);
    if (!p)
        fail_msg("bad test payload %s: %s", payload_json, je.text);
    vm_err err = VM_ERR_INIT;
    const char *out = NULL;
    if (vm_payload_normalize(p, action, &err) < 0) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        out = msg;
    } else {
        json_t *res = vm_validate(brand, action, p);
        if (vm_validate_err(res, brand, action, &err) < 0) {
            snprintf(msg, sizeof msg, "%s", err.msg);
            out = msg;
            assert_int_equal(err.code, VMERR_INVALID);
        } else {
            /* vm_validate_err() may only succeed on a NULL result. */
            assert_null(res);
        }
        json_decref(res);
    }
    json_decref(p);
    return out;
}

struct vcase {
    const char *brand, *action, *payload;
    const char *expect; /* NULL = valid */
};

static const struct vcase cases[] = {
    /* ---- required properties (V8) ---- */
    { "bhyve", "create", "{\"brand\":\"bhyve\"}", NULL },
    { "bhyve", "create", "{}", NULL },
    { "kvm", "create", "{}", "Missing required properties: brand" },
    { "kvm", "create", "{\"brand\":\"kvm\"}", NULL },
    { "joyent", "create", "{\"brand\":\"joyent\"}", "Missing required properties: image_uuid" },
    { "joyent", "create", "{}", "Missing required properties: brand,image_uuid" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\"}", NULL },
    { "joyent-minimal", "create", "{\"brand\":\"joyent-minimal\",\"image_uuid\":\"" IMG "\"}", NULL },
    { "joyent-minimal", "create", "{\"brand\":\"joyent-minimal\"}", "Missing required properties: image_uuid" },
    { "lx", "create", "{\"brand\":\"lx\",\"image_uuid\":\"" IMG "\"}", "Missing required properties: kernel_version" },
    { "lx", "create", "{\"brand\":\"lx\"}", "Missing required properties: image_uuid,kernel_version" },
    { "lx", "create", "{\"brand\":\"lx\",\"image_uuid\":\"" IMG "\",\"kernel_version\":\"4.3.0\"}", NULL },
    { "lx", "receive", "{\"brand\":\"lx\",\"image_uuid\":\"" IMG "\"}", "Missing required properties: kernel_version" },
    /* nothing is required on update */
    { "joyent", "update", "{}", NULL },
    { "lx", "update", "{\"alias\":\"x\"}", NULL },

    /* ---- properties the brand refuses (named, not dropped) ---- */
    { "bhyve", "create", "{\"brand\":\"bhyve\",\"dns_domain\":\"example.com\"}",
      "Invalid properties for brand \"bhyve\" on create: dns_domain" },
    { "bhyve", "create", "{\"brand\":\"bhyve\",\"dns_domain\":\"x\",\"tmpfs\":10,\"kernel_version\":\"4.3.0\"}",
      "Invalid properties for brand \"bhyve\" on create: dns_domain,tmpfs,kernel_version" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"vcpus\":2}",
      "Invalid properties for brand \"joyent\" on create: vcpus" },
    { "joyent-minimal", "create", "{\"brand\":\"joyent-minimal\",\"image_uuid\":\"" IMG "\",\"disks\":[]}",
      "Invalid properties for brand \"joyent-minimal\" on create: disks" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"kernel_version\":\"4.3.0\"}",
      "Invalid properties for brand \"joyent\" on create: kernel_version" },
    { "lx", "create", "{\"brand\":\"lx\",\"image_uuid\":\"" IMG "\",\"kernel_version\":\"4\",\"mdata_exec_timeout\":5}",
      "Invalid properties for brand \"lx\" on create: mdata_exec_timeout" },
    { "kvm", "create", "{\"brand\":\"kvm\",\"no_such_property\":1}",
      "Invalid properties for brand \"kvm\" on create: no_such_property" },
    /* update-only operators are refused on create and vice versa */
    { "bhyve", "create", "{\"brand\":\"bhyve\",\"set_tags\":{\"a\":\"b\"}}",
      "Invalid properties for brand \"bhyve\" on create: set_tags" },
    { "bhyve", "update", "{\"uuid\":\"" UUID1 "\"}", "Invalid properties for brand \"bhyve\" on update: uuid" },
    { "joyent", "update", "{\"brand\":\"joyent\"}", "Invalid properties for brand \"joyent\" on update: brand" },
    { "joyent", "update", "{\"tags\":{\"a\":1}}", "Invalid properties for brand \"joyent\" on update: tags" },
    { "joyent", "update", "{\"add_disks\":[{\"size\":10}]}",
      "Invalid properties for brand \"joyent\" on update: add_disks" },
    { "bhyve", "update", "{\"customer_metadata\":{\"a\":\"b\"}}",
      "Invalid properties for brand \"bhyve\" on update: customer_metadata" },
    /* bad values win over missing and bad properties (V10) */
    { "joyent", "create", "{\"brand\":\"joyent\",\"alias\":42,\"vcpus\":1}", "Invalid value(s) for: alias" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"vcpus\":1}", "Missing required properties: image_uuid" },

    /* ---- types (V3) ---- */
    { "joyent", "update", "{\"alias\":42}", "Invalid value(s) for: alias" },
    { "joyent", "update", "{\"alias\":null}", NULL },
    { "joyent", "update", "{\"alias\":\"\"}", NULL },
    { "joyent", "update", "{\"alias\":\"web-01.example\"}", NULL },
    { "joyent", "update", "{\"alias\":\"../x\"}", "Invalid value(s) for: alias" },
    { "joyent", "update", "{\"alias\":\"a/b\"}", "Invalid value(s) for: alias" },
    { "joyent", "update", "{\"alias\":\"..\"}", "Invalid value(s) for: alias" },
    { "joyent", "update", "{\"alias\":\"a\\nb\"}", "Invalid value(s) for: alias" },
    { "joyent", "update", "{\"autoboot\":\"aardvark\"}", "Invalid value(s) for: autoboot" },
    { "joyent", "update", "{\"autoboot\":\"true\"}", NULL },
    { "joyent", "update", "{\"autoboot\":\"false\"}", NULL },
    { "joyent", "update", "{\"autoboot\":\"1\"}", NULL },
    { "joyent", "update", "{\"autoboot\":0}", NULL },
    { "joyent", "update", "{\"autoboot\":2}", "Invalid value(s) for: autoboot" },
    { "joyent", "update", "{\"cpu_cap\":1500.3}", "Invalid value(s) for: cpu_cap" },
    { "joyent", "update", "{\"cpu_cap\":\"2323\"}", NULL },
    { "joyent", "update", "{\"cpu_cap\":1500}", NULL },
    { "joyent", "update", "{\"cpu_cap\":\"\"}", NULL },
    { "joyent", "update", "{\"cpu_cap\":null}", NULL },
    { "joyent", "update", "{\"cpu_cap\":true}", "Invalid value(s) for: cpu_cap" },
    { "joyent", "update", "{\"cpu_cap\":{\"a\":1}}", "Invalid value(s) for: cpu_cap" },
    { "joyent", "update", "{\"cpu_cap\":-1}", "Invalid value(s) for: cpu_cap" },
    /* V9: a non-numeric string fails while normalising */
    { "joyent", "update", "{\"cpu_cap\":\"Ah Elbereth Gilthoniel\"}", "Invalid value for cpu_cap: null:number" },
    { "bhyve", "update", "{\"ram\":\"lots\"}", "Invalid value for ram: null:number" },
    { "bhyve", "update", "{\"ram\":\"512\"}", NULL },
    { "joyent", "update", "{\"max_swap\":128}", "Invalid value(s) for: max_swap" },
    { "joyent", "update", "{\"max_swap\":256}", NULL },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"not-a-uuid\"}", "Invalid value(s) for: image_uuid" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"\"}", "Invalid value(s) for: image_uuid" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"1E1DF5B1-C668-438C-B55D-98CF3105058D\"}",
      "Invalid value(s) for: image_uuid" },
    { "bhyve", "create", "{\"uuid\":\"1234\"}", "Invalid value(s) for: uuid" },
    { "bhyve", "create", "{\"uuid\":\"" UUID1 "\"}", NULL },
    { "bhyve", "update", "{\"owner_uuid\":\"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz\"}",
      "Invalid value(s) for: owner_uuid" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"customer_metadata\":{\"a\":{\"b\":1}}}",
      "Invalid value(s) for: customer_metadata" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"customer_metadata\":{\"a\":1,\"b\":true,\"c\":\"s\"}}",
      NULL },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"tags\":[1]}",
      "Invalid value(s) for: tags" },
    { "joyent", "update", "{\"set_internal_metadata\":{\"a\":[1]}}", "Invalid value(s) for: set_internal_metadata" },
    { "joyent", "update", "{\"set_routes\":{\"10.0.0.0/8\":\"10.1.1.1\"}}", NULL },
    /* lists: comma string or array without commas in elements */
    { "joyent", "update", "{\"resolvers\":\"8.8.8.8,8.8.4.4\"}", NULL },
    { "joyent", "update", "{\"resolvers\":[\"8.8.8.8\",\"8.8.4.4\"]}", NULL },
    { "joyent", "update", "{\"resolvers\":[\"8.8.8.8,8.8.4.4\"]}", "Invalid value(s) for: resolvers" },
    { "joyent", "update", "{\"resolvers\":{\"hello\":\"world\"}}", "Invalid value(s) for: resolvers" },
    { "joyent", "update", "{\"remove_tags\":\"a,b\"}", NULL },
    { "joyent", "update", "{\"remove_tags\":[\"a\",\"b\"]}", NULL },
    { "joyent", "update", "{\"remove_nics\":\"aa:bb:cc:dd:ee:ff\"}", "Invalid value(s) for: remove_nics" },
    /* enumerations and ranges */
    { "bhyve", "update", "{\"bootrom\":\"uefi\"}", NULL },
    { "bhyve", "update", "{\"bootrom\":\"floppy\"}",
      "Invalid value(s) for: bootrom (bootrom accepts: bios, uefi, /usr/share/bhyve/uefi-rom.bin, "
      "/usr/share/bhyve/uefi-csm-rom.bin, /usr/share/bhyve/BHYVE_UEFI.fd, /usr/share/bhyve/BHYVE_UEFI_CSM.fd)" },
    { "bhyve", "update", "{\"bootrom\":\"/usr/share/bhyve/uefi-rom.bin\"}", NULL },
    { "bhyve", "create", "{\"bootrom\":\"/usr/share/bhyve/uefi-csm-rom.bin\"}", NULL },
    { "bhyve", "update", "{\"vcpus\":0}", "Invalid value(s) for: vcpus" },
    { "bhyve", "update", "{\"vcpus\":64}", NULL },
    { "bhyve", "update", "{\"vcpus\":65}", "Invalid value(s) for: vcpus" },
    { "bhyve", "update", "{\"vnc_port\":-1}", NULL },
    { "bhyve", "update", "{\"vnc_port\":-2}", "Invalid value(s) for: vnc_port" },
    { "bhyve", "update", "{\"zfs_io_priority\":16384}", "Invalid value(s) for: zfs_io_priority" },
    { "joyent", "update", "{\"zfs_root_compression\":\"lz4\"}", NULL },
    { "joyent", "update", "{\"zfs_root_compression\":\"brotli\"}", "Invalid value(s) for: zfs_root_compression" },
    { "bhyve", "create", "{\"zpool\":\"zones\"}", NULL },
    { "bhyve", "create", "{\"zpool\":\"zo/nes\"}", "Invalid value(s) for: zpool" },
    { "bhyve", "create", "{\"zpool\":\"\"}", "Invalid value(s) for: zpool" },
    /* numbers the memory arithmetic cannot hold are refused, not wrapped */
    { "bhyve", "create", "{\"ram\":9223372036854775807}", "Invalid value(s) for: ram" },
    { "joyent", "update", "{\"max_physical_memory\":9223372036854775807}",
      "Invalid value(s) for: max_physical_memory" },
    { "joyent", "update", "{\"cpu_cap\":1e300}", "Invalid value(s) for: cpu_cap" },
    /* several bad values: comma-joined in payload order, no space */
    { "joyent", "update", "{\"alias\":42,\"autoboot\":\"aardvark\",\"max_swap\":128}",
      "Invalid value(s) for: alias,autoboot,max_swap" },

    /* ---- object arrays and their members (V3, V4) ---- */
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":{}}",
      "Invalid value(s) for: nics" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":\"net0\"}",
      "Invalid value(s) for: nics" },
    { "joyent", "create", "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[\"net0\"]}",
      "Invalid value(s) for: nics" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":500}]}",
      "Invalid value(s) for: nics.*.mtu" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":10000}]}",
      "Invalid value(s) for: nics.*.mtu" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":1500.3}]}",
      "Invalid value(s) for: nics.*.mtu" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG
      "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":\"fifteen hundred\"}]}",
      "Invalid value(s) for: nics.*.mtu" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":{}}]}",
      "Invalid value(s) for: nics.*.mtu" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":576}]}", NULL },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":4242}]}", NULL },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":9000}]}", NULL },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"mtu\":\"2323\"}]}", NULL },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG
      "\",\"nics\":[{\"nic_tag\":\"admin\",\"mac\":\"aa:bb:cc:dd:ee:ff:12\"}]}",
      "Invalid value(s) for: nics.*.mac" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG
      "\",\"nics\":[{\"nic_tag\":\"admin\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}]}",
      NULL },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"physical\":\"net0\"}],"
      "\"dataset_name\":\"x\"}",
      "Invalid properties for brand \"joyent\" on create: nics.*.physical,dataset_name" },
    { "joyent", "create",
      "{\"brand\":\"joyent\",\"image_uuid\":\"" IMG "\",\"nics\":[{\"nic_tag\":\"admin\",\"model\":\"virtio\"}]}",
      "Invalid properties for brand \"joyent\" on create: nics.*.model" },
    { "bhyve", "create", "{\"nics\":[{\"nic_tag\":\"admin\",\"model\":\"virtio\",\"vlan_id\":4096}]}",
      "Invalid value(s) for: nics.*.vlan_id" },
    { "bhyve", "create", "{\"nics\":[{\"nic_tag\":\"admin\",\"model\":\"pcnet\"}]}",
      "Invalid value(s) for: nics.*.model" },
    /* disks (V4, V5) */
    { "bhyve", "create", "{\"disks\":[{\"size\":1024,\"model\":\"virtio\",\"boot\":true},{\"size\":512}]}", NULL },
    { "bhyve", "create", "{\"disks\":[{\"image_uuid\":\"" IMG "\",\"boot\":true}]}", NULL },
    { "bhyve", "create", "{\"disks\":[{\"size\":1024,\"foo\":1}]}",
      "Invalid properties for brand \"bhyve\" on create: disks.*.foo" },
    { "bhyve", "create", "{\"disks\":[{\"size\":1024},{\"model\":\"virtio\"}]}",
      "Missing required properties: disks.1.size" },
    { "bhyve", "create", "{\"disks\":[{\"model\":\"virtio\"}]}", "Missing required properties: disks.0.size" },
    { "bhyve", "create", "{\"disks\":[{\"media\":\"cdrom\",\"path\":\"/x.iso\"}]}", NULL },
    { "bhyve", "create", "{\"disks\":[{\"nocreate\":true,\"path\":\"/dev/x\"}]}", NULL },
    /* V9 converts top-level values only; a bad member is named with its array */
    { "bhyve", "create", "{\"disks\":[{\"size\":\"big\"}]}", "Invalid value(s) for: disks.*.size" },
    { "bhyve", "create", "{\"disks\":[{\"size\":-5}]}", "Invalid value(s) for: disks.*.size" },
    { "bhyve", "create", "{\"disks\":[{\"size\":10,\"uuid\":\"nope\"}]}", "Invalid value(s) for: disks.*.uuid" },
    { "bhyve", "create", "{\"disks\":[{\"size\":10,\"media\":\"tape\"}]}", "Invalid value(s) for: disks.*.media" },
    { "bhyve", "create", "{\"disks\":[1]}", "Invalid value(s) for: disks" },
    { "bhyve", "create", "{\"disks\":[{\"size\":10,\"dangerous_allow_shrink\":true}]}",
      "Invalid properties for brand \"bhyve\" on create: disks.*.dangerous_allow_shrink" },
    { "bhyve", "update", "{\"add_disks\":[{\"model\":\"virtio\"}]}", "Missing required properties: add_disks.0.size" },
    { "bhyve", "update", "{\"add_disks\":[{\"size\":100}]}", NULL },
    { "bhyve", "update", "{\"update_disks\":[{\"size\":100}]}", "Missing required properties: disks.*.path" },
    { "bhyve", "update", "{\"update_disks\":[{\"path\":\"/dev/zvol/rdsk/zones/x/disk0\",\"size\":100}]}", NULL },
    { "bhyve", "update", "{\"update_disks\":[{\"path\":\"/p\",\"block_size\":4096}]}",
      "Invalid properties for brand \"bhyve\" on update: disks.*.block_size" },
    { "bhyve", "update", "{\"update_nics\":[{\"mtu\":1500}]}", "Missing required properties: nics.*.mac" },
    { "bhyve", "update", "{\"update_nics\":[{\"mac\":\"aa:bb:cc:dd:ee:ff\",\"mtu\":1500}]}", NULL },
    { "joyent", "update", "{\"add_nics\":[{\"nic_tag\":\"admin\",\"mtu\":100}]}", "Invalid value(s) for: nics.*.mtu" },
};

static void test_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct vcase *c = &cases[i];
        const char *got = check(c->brand, c->action, c->payload);
        bool ok = (!got && !c->expect) || (got && c->expect && !strcmp(got, c->expect));
        if (!ok) {
            print_error("case %zu: %s %s %s\n  expected: %s\n  got:      %s\n", i, c->brand, c->action, c->payload,
                        c->expect ? c->expect : "(valid)", got ? got : "(valid)");
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* V1: the result object itself. */
static void test_result_object(void **state)
{
    (void)state;
    json_t *p = json_object();
    json_t *r = vm_validate("bogus", "create", p);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "bad_brand")), "bogus");
    assert_int_equal(json_object_size(r), 1);
    vm_err err = VM_ERR_INIT;
    assert_true(vm_validate_err(r, "bogus", "create", &err) < 0);
    assert_string_equal(err.msg, "Unsupported brand: bogus");
    json_decref(r);

    r = vm_validate(NULL, "create", p);
    assert_string_equal(json_string_value(json_object_get(r, "bad_brand")), "undefined");
    json_decref(r);

    /* valid → NULL */
    assert_null(vm_validate("bhyve", "create", p));
    json_decref(p);

    /* exactly the three arrays, in that order */
    p = json_pack("{s:i}", "uuid", 1);
    r = vm_validate("kvm", "create", p);
    assert_non_null(r);
    const char *order[] = { "bad_values", "bad_properties", "missing_properties" };
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v) {
        assert_true(n < 3);
        assert_string_equal(k, order[n]);
        assert_true(json_is_array(v));
        n++;
    }
    assert_int_equal(n, 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "bad_values"), 0)), "uuid");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "missing_properties"), 0)), "brand");
    json_decref(r);
    json_decref(p);

    /* V2: uuid in an update gives bad_properties == ["uuid"] exactly */
    p = json_pack("{s:s}", "uuid", UUID1);
    r = vm_validate("joyent", "update", p);
    assert_non_null(r);
    json_t *bp = json_object_get(r, "bad_properties");
    assert_int_equal(json_array_size(bp), 1);
    assert_string_equal(json_string_value(json_array_get(bp, 0)), "uuid");
    assert_int_equal(json_array_size(json_object_get(r, "bad_values")), 0);
    assert_int_equal(json_array_size(json_object_get(r, "missing_properties")), 0);
    json_decref(r);
    json_decref(p);

    /* V2: an unknown action makes every key bad */
    p = json_pack("{s:s,s:b}", "alias", "x", "autoboot", 1);
    r = vm_validate("joyent", "detonate", p);
    assert_non_null(r);
    bp = json_object_get(r, "bad_properties");
    assert_int_equal(json_array_size(bp), 2);
    assert_string_equal(json_string_value(json_array_get(bp, 0)), "alias");
    assert_string_equal(json_string_value(json_array_get(bp, 1)), "autoboot");
    json_decref(r);
    json_decref(p);

    /* a wildcard member name is reported once, however many members */
    p = json_loads("{\"nics\":[{\"mtu\":1},{\"mtu\":2},{\"mtu\":3}]}", 0, NULL);
    r = vm_validate("bhyve", "create", p);
    assert_int_equal(json_array_size(json_object_get(r, "bad_values")), 1);
    json_decref(r);
    json_decref(p);
}

/* V9: coercion of strings into the table's types. */
static void test_normalize(void **state)
{
    (void)state;
    json_t *p = json_loads("{\"ram\":\"512\",\"autoboot\":\"false\",\"resolvers\":\"8.8.8.8,1.1.1.1\","
                           "\"cpu_cap\":\"\",\"alias\":\"x\",\"unknown\":\"7\","
                           "\"nics\":[{\"mtu\":\"1500\",\"primary\":\"true\",\"ips\":\"10.0.0.1/24,10.0.0.2/24\"}]}",
                           0, NULL);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_payload_normalize(p, "update", &err), 0);
    assert_true(json_is_integer(json_object_get(p, "ram")));
    assert_int_equal(json_integer_value(json_object_get(p, "ram")), 512);
    assert_true(json_is_false(json_object_get(p, "autoboot")));
    json_t *res = json_object_get(p, "resolvers");
    assert_true(json_is_array(res));
    assert_int_equal(json_array_size(res), 2);
    assert_string_equal(json_string_value(json_array_get(res, 1)), "1.1.1.1");
    /* "" for an integer means unset: kept as is for update to remove */
    assert_string_equal(json_string_value(json_object_get(p, "cpu_cap")), "");
    assert_string_equal(json_string_value(json_object_get(p, "unknown")), "7");
    json_t *nic = json_array_get(json_object_get(p, "nics"), 0);
    assert_int_equal(json_integer_value(json_object_get(nic, "mtu")), 1500);
    assert_true(json_is_true(json_object_get(nic, "primary")));
    assert_int_equal(json_array_size(json_object_get(nic, "ips")), 2);
    json_decref(p);

    /* not an object */
    p = json_array();
    assert_true(vm_payload_normalize(p, "create", &err) < 0);
    assert_int_equal(err.code, VMERR_INVALID);
    json_decref(p);
}

static void test_value_checks(void **state)
{
    (void)state;
    assert_true(vm_valid_mac("aa:bb:cc:dd:ee:ff"));
    assert_true(vm_valid_mac("a:b:c:d:e:f"));
    assert_true(vm_valid_mac("AA:BB:CC:DD:EE:FF"));
    assert_false(vm_valid_mac("aa:bb:cc:dd:ee:ff:12"));
    assert_false(vm_valid_mac("aa:bb:cc:dd:ee"));
    assert_false(vm_valid_mac("aa:bb:cc:dd:ee:"));
    assert_false(vm_valid_mac("aaa:bb:cc:dd:ee:ff"));
    assert_false(vm_valid_mac("gg:bb:cc:dd:ee:ff"));
    assert_false(vm_valid_mac(""));
    assert_true(vm_valid_alias("web0"));
    assert_false(vm_valid_alias("."));
    assert_false(vm_valid_alias("a/b"));
    assert_false(vm_valid_alias("a\tb"));
    char longa[300];
    memset(longa, 'a', sizeof longa - 1);
    longa[sizeof longa - 1] = '\0';
    assert_false(vm_valid_alias(longa));

    int64_t n;
    json_t *v = json_string("2323");
    assert_int_equal(vm_check_integer(v, &n), 0);
    assert_int_equal(n, 2323);
    json_decref(v);
    v = json_string("-");
    assert_true(vm_check_integer(v, &n) < 0);
    json_decref(v);
    v = json_string("12a");
    assert_true(vm_check_integer(v, &n) < 0);
    json_decref(v);
    v = json_string("99999999999999999999999");
    assert_true(vm_check_integer(v, &n) < 0);
    json_decref(v);
    v = json_real(3.0);
    assert_int_equal(vm_check_integer(v, &n), 0);
    assert_int_equal(n, 3);
    json_decref(v);
    v = json_real(1e300);
    assert_true(vm_check_integer(v, &n) < 0);
    json_decref(v);

    int b;
    v = json_string("yes");
    assert_true(vm_check_boolean(v, &b) < 0);
    json_decref(v);
    v = json_integer(1);
    assert_int_equal(vm_check_boolean(v, &b), 0);
    assert_int_equal(b, 1);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_result_object),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_value_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
