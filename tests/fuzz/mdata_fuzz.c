/* libFuzzer harness: arbitrary bytes as lines a guest sends to the
 * metadata service (lib/mdata codec), each answered against a fixed VM
 * object through the key policy.  Every line must map to one kind, a
 * parsed request must carry what the server relies on (bounded, NUL-free
 * key; reqid of lowercase hex), every reply must be one LF-terminated
 * line.  Must never crash, leak or trip UBSan. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "mdata/codec.h"
#include "mdata/keys.h"

static void check_line(const char *s, size_t n)
{
    if (n == 0 || s[n - 1] != '\n' || memchr(s, '\n', n - 1))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *vm;
    if (!vm)
        vm = json_loads("{\"uuid\":\"u\",\"hostname\":\"h\",\"nics\":[{\"ip\":\"10.0.0.1\"}],"
                        "\"routes\":{\"a\":\"nics[0]\",\"b\":\"nics[9]\"},\"tags\":{\"t\":1},"
                        "\"customer_metadata\":{\"k\":\"v\"},\"internal_metadata\":{\"x_pw\":\"p\",\"ns:a\":\"b\"},"
                        "\"internal_metadata_namespaces\":[\"ns\"]}",
                        0, NULL);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        mdata_req r;
        mdata_parse(p, len, &r);
        size_t n;
        char *reply = NULL;
        if (r.kind == MDATA_REQUEST) {
            if (strspn(r.reqid, "0123456789abcdef") != strlen(r.reqid) || !r.reqid[0])
                __builtin_trap();
            if (r.op != MDATA_OP_KEYS && (!r.key || !r.key[0] || strlen(r.key) > MDATA_MAX_KEY))
                __builtin_trap();
            char *v = NULL;
            size_t vl = 0;
            int res = MDATA_R_SUCCESS;
            if (r.op == MDATA_OP_GET)
                res = mdata_get(vm, r.key, &v, &vl);
            else if (r.op == MDATA_OP_KEYS)
                v = mdata_keys(vm), vl = strlen(v);
            else {
                char why[MDATA_WHY_MAX];
                json_t *pl = mdata_update_payload(vm, r.key, r.value, why);
                if (!pl && strncmp(why, "Cannot update the \"", 19))
                    __builtin_trap();
                json_decref(pl);
            }
            reply = mdata_reply(r.reqid, res == MDATA_R_SUCCESS ? "SUCCESS" : "NOTFOUND", v, vl, &n);
            free(v);
        } else {
            reply = mdata_reply_plain(&r, &n);
        }
        check_line(reply, n);
        free(reply);
        mdata_req_free(&r);
        p += len + 1;
    }
    return 0;
}
