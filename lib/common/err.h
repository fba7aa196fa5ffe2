/* Error object passed down every call (crun/libvirt style).
 *
 * Every fallible function takes a `vm_err *err` as its last argument and
 * returns a negative value on failure after filling it.  The message is the
 * operator-facing text, written by the code that knows the cause; callers
 * add context with vm_err_prefix() rather than replacing it. */
#ifndef VM_ERR_H
#define VM_ERR_H

#include <stdarg.h>

enum vm_err_code {
    VMERR_OK = 0,
    VMERR_INTERNAL, /* bug or unexpected system failure */
    VMERR_INVALID, /* bad input (payload, argument) */
    VMERR_USAGE, /* command-line usage error: exit 2 */
    VMERR_NOTFOUND,
    VMERR_EXISTS,
    VMERR_BUSY, /* in use: dependent clones, holds, locked */
    VMERR_STATE, /* wrong VM state for the operation */
    VMERR_NOSPACE, /* space accounting refused */
    VMERR_IO,
    VMERR_TIMEOUT,
    VMERR_UNSUPPORTED,
    VMERR_ALREADY, /* no-op success reported as a message (already running) */
};

#define VM_ERR_MSGLEN 4096

typedef struct vm_err {
    int code;
    char msg[VM_ERR_MSGLEN];
} vm_err;

#define VM_ERR_INIT \
    { \
        0, \
        { \
            0 \
        } \
    }

/* All setters return -1 so that `return vm_err_set(...)` reads naturally. */
int vm_err_set(vm_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vm_err_setv(vm_err *err, int code, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* Appends ": <strerror(errnum)>". */
int vm_err_sys(vm_err *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends text to an existing message. */
void vm_err_prefix(vm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vm_err_clear(vm_err *err);
static inline int vm_err_is_set(const vm_err *err)
{
    return err && err->code != VMERR_OK;
}

#endif
