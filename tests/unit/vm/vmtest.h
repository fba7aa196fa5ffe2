/* What lib/vm's unit tests share: a private VMADM_ROOT per test (no
 * vminfod, default pool) and a JSON literal helper that fails the test on
 * bad JSON.  Include after <cmocka.h>. */
#ifndef VM_TEST_VMTEST_H
#define VM_TEST_VMTEST_H

#include <jansson.h>
#include "common/ctx.h"

typedef struct vmt_root {
    char root[64];
    vm_ctx ctx;
} vmt_root;

/* A fresh root /tmp/vmt-unit-<tag>.XXXXXX with its context; 0 or -1. */
int vmt_root_setup(vmt_root *r, const char *tag);
/* The nic tags "admin" and "external" in the root's store (local tags
 * whose bridges these tests never create); 0 or -1. */
int vmt_root_tags(vmt_root *r);
/* The fake runtime's call log (runtime.h), then emptied; caller frees. */
char *vmt_take_log(vmt_root *r);
/* Removes the root and frees the context. */
void vmt_root_teardown(vmt_root *r);
/* Parses s; a parse error fails the running test. */
json_t *vmt_json(const char *s);

#endif
