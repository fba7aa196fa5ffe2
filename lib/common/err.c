#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int vm_err_setv(vm_err *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    err->code = code ? code : VMERR_INTERNAL;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return -1;
}

int vm_err_set(vm_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vm_err_setv(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int vm_err_sys(vm_err *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    int code = VMERR_IO;
    size_t n;

    if (!err)
        return -1;
    if (errnum == ENOENT)
        code = VMERR_NOTFOUND;
    else if (errnum == ENOSPC || errnum == EDQUOT)
        code = VMERR_NOSPACE;
    else if (errnum == EEXIST)
        code = VMERR_EXISTS;
    va_start(ap, fmt);
    vm_err_setv(err, code, fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(errnum));
    return -1;
}

void vm_err_prefix(vm_err *err, const char *fmt, ...)
{
    char pre[1024];
    char old[VM_ERR_MSGLEN];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    size_t pl = strlen(pre), ol;
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    if (pl >= sizeof err->msg)
        pl = sizeof err->msg - 1;
    memcpy(err->msg, pre, pl);
    ol = strlen(old);
    if (pl + ol >= sizeof err->msg)
        ol = sizeof err->msg - 1 - pl;
    memcpy(err->msg + pl, old, ol);
    err->msg[pl + ol] = '\0';
}

void vm_err_clear(vm_err *err)
{
    if (!err)
        return;
    err->code = VMERR_OK;
    err->msg[0] = '\0';
}
