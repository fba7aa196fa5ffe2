/* ISO 9660 image writer (iso9660.h), after ECMA-119. */
#include "mdata/iso9660.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define PVD_SECTOR 16
#define LPATH_SECTOR 18
#define MPATH_SECTOR 19
#define ROOT_SECTOR 20
#define FIRST_DATA 21
#define PATH_TABLE_SIZE 10
#define MAX_NAME 30

static void le16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * (3 - i)));
}

/* "Both-byte order" fields: little-endian then big-endian. */
static void both16(uint8_t *p, unsigned v)
{
    le16(p, v);
    be16(p + 2, v);
}

static void both32(uint8_t *p, uint32_t v)
{
    le32(p, v);
    be32(p + 4, v);
}

/* A space-padded text field. */
static void text(uint8_t *p, size_t size, const char *s)
{
    memset(p, ' ', size);
    memcpy(p, s, strlen(s) < size ? strlen(s) : size);
}

/* The 7-byte date of a directory record (UTC). */
static void dir_date(uint8_t *p, const struct tm *t)
{
    p[0] = (uint8_t)t->tm_year;
    p[1] = (uint8_t)(t->tm_mon + 1);
    p[2] = (uint8_t)t->tm_mday;
    p[3] = (uint8_t)t->tm_hour;
    p[4] = (uint8_t)t->tm_min;
    p[5] = (uint8_t)t->tm_sec;
    p[6] = 0;
}

/* The 17-byte date of the volume descriptor: "YYYYMMDDHHMMSScc" + zone. */
static void vol_date(uint8_t *p, const struct tm *t)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d00", (t->tm_year + 1900) % 10000, (t->tm_mon + 1) % 100,
             t->tm_mday % 100, t->tm_hour % 100, t->tm_min % 100, t->tm_sec % 100);
    memcpy(p, buf, 16);
    p[16] = 0;
}

/* One directory record at p; returns its length. */
static size_t dir_record(uint8_t *p, const char *id, size_t idlen, uint32_t sector, uint32_t size, bool dir,
                         const struct tm *t)
{
    size_t len = 33 + idlen + (idlen % 2 == 0); /* padded to an even length */
    memset(p, 0, len);
    p[0] = (uint8_t)len;
    both32(p + 2, sector);
    both32(p + 10, size);
    dir_date(p + 18, t);
    p[25] = dir ? 2 : 0;
    both16(p + 28, 1);
    p[32] = (uint8_t)idlen;
    memcpy(p + 33, id, idlen);
    return len;
}

static bool name_ok(const char *s, size_t max, bool upper_ok)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' || *s == '_' ||
              (upper_ok && isupper((unsigned char)*s))))
            return false;
    return true;
}

/* Identifier order: the names as recorded (upper case). */
static int cmp_upper(const char *a, const char *b)
{
    for (; *a && toupper((unsigned char)*a) == toupper((unsigned char)*b); a++, b++)
        ;
    return toupper((unsigned char)*a) - toupper((unsigned char)*b);
}

static void pvd(uint8_t *p, const char *volid, uint32_t sectors, const struct tm *t)
{
    p[0] = 1;
    memcpy(p + 1, "CD001", 5);
    p[6] = 1;
    text(p + 8, 32, "LINUX");
    text(p + 40, 32, volid);
    both32(p + 80, sectors);
    both16(p + 120, 1);
    both16(p + 124, 1);
    both16(p + 128, ISO9660_SECTOR);
    both32(p + 132, PATH_TABLE_SIZE);
    le32(p + 140, LPATH_SECTOR);
    be32(p + 148, MPATH_SECTOR);
    dir_record(p + 156, "\0", 1, ROOT_SECTOR, ISO9660_SECTOR, true, t);
    text(p + 190, 128, "");
    text(p + 318, 128, "");
    text(p + 446, 128, "");
    text(p + 574, 128, "VMADM");
    text(p + 702, 37, "");
    text(p + 739, 37, "");
    text(p + 776, 37, "");
    vol_date(p + 813, t);
    vol_date(p + 830, t);
    memset(p + 847, '0', 16); /* no expiration */
    memset(p + 864, '0', 16); /* effective at once */
    p[881] = 1;
}

static void path_table(uint8_t *p, bool big)
{
    p[0] = 1; /* identifier length: the root's 0x00 */
    if (big) {
        be32(p + 2, ROOT_SECTOR);
        be16(p + 6, 1);
    } else {
        le32(p + 2, ROOT_SECTOR);
        le16(p + 6, 1);
    }
}

int iso9660_write(const char *volid, const iso9660_file *files, size_t n, time_t when, char **img, size_t *len,
                  vm_err *err)
{
    if (!name_ok(volid, 32, true))
        return vm_err_set(err, VMERR_INVALID, "ISO volume id \"%s\" is not valid", volid);
    uint64_t sectors = FIRST_DATA, dir_used = 34 * 2;
    for (size_t i = 0; i < n; i++) {
        if (!name_ok(files[i].name, MAX_NAME, false))
            return vm_err_set(err, VMERR_INVALID, "ISO file name \"%s\" is not valid", files[i].name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(files[i].name, files[j].name))
                return vm_err_set(err, VMERR_INVALID, "ISO file name \"%s\" is given twice", files[i].name);
        dir_used += 33 + strlen(files[i].name) + 3 + 1;
        sectors += (files[i].len + ISO9660_SECTOR - 1) / ISO9660_SECTOR;
    }
    if (dir_used > ISO9660_SECTOR)
        return vm_err_set(err, VMERR_INVALID, "too many files for one ISO directory sector");
    if (sectors * ISO9660_SECTOR > ISO9660_MAX_SIZE)
        return vm_err_set(err, VMERR_INVALID, "ISO image would be %llu bytes (limit %d)",
                          (unsigned long long)(sectors * ISO9660_SECTOR), ISO9660_MAX_SIZE);

    struct tm t;
    gmtime_r(&when, &t);
    size_t size = (size_t)sectors * ISO9660_SECTOR;
    uint8_t *out = xcalloc(size, 1);
    pvd(out + PVD_SECTOR * ISO9660_SECTOR, volid, (uint32_t)sectors, &t);
    uint8_t *term = out + (PVD_SECTOR + 1) * ISO9660_SECTOR;
    term[0] = 255;
    memcpy(term + 1, "CD001", 5);
    term[6] = 1;
    path_table(out + LPATH_SECTOR * ISO9660_SECTOR, false);
    path_table(out + MPATH_SECTOR * ISO9660_SECTOR, true);

    /* The root directory: ".", "..", then the files sorted by identifier
     * (ECMA-119 9.3); the data keeps the caller's order. */
    uint8_t *dir = out + ROOT_SECTOR * ISO9660_SECTOR;
    size_t off = dir_record(dir, "\0", 1, ROOT_SECTOR, ISO9660_SECTOR, true, &t);
    off += dir_record(dir + off, "\1", 1, ROOT_SECTOR, ISO9660_SECTOR, true, &t);
    uint32_t *start = xcalloc(n ? n : 1, sizeof *start);
    uint32_t next = FIRST_DATA;
    for (size_t i = 0; i < n; i++) {
        start[i] = next;
        memcpy(out + (size_t)next * ISO9660_SECTOR, files[i].data, files[i].len);
        next += (uint32_t)((files[i].len + ISO9660_SECTOR - 1) / ISO9660_SECTOR);
    }
    bool *done = xcalloc(n ? n : 1, sizeof *done);
    for (size_t k = 0; k < n; k++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && (best == n || cmp_upper(files[i].name, files[best].name) < 0))
                best = i;
        done[best] = true;
        char id[MAX_NAME + 4];
        size_t idlen = 0;
        for (const char *c = files[best].name; *c; c++)
            id[idlen++] = (char)toupper((unsigned char)*c);
        memcpy(id + idlen, ".;1", 3);
        idlen += 3;
        off += dir_record(dir + off, id, idlen, start[best], (uint32_t)files[best].len, false, &t);
    }
    free(done);
    free(start);
    *img = (char *)out;
    *len = size;
    return 0;
}
