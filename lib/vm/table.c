#include "vm/table.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vm/cell.h"

/* Strings live in blocks that never move, so cells can point into them. */
struct block {
    struct block *next;
    size_t used, cap;
    char data[];
};

struct vm_table {
    char **cols;
    size_t ncols;
    vm_cell *cells; /* physical rows × ncols */
    size_t nphys, cap;
    size_t *order; /* visible rows → physical rows */
    size_t nrows;
    struct block *blocks;
};

vm_table *vm_table_new(const char *const *cols)
{
    vm_table *t = xcalloc(1, sizeof *t);
    size_t n = 0;
    while (cols && cols[n])
        n++;
    t->cols = xcalloc(n + 1, sizeof *t->cols);
    for (size_t i = 0; i < n; i++)
        if (vm_table_col(t, cols[i]) < 0)
            t->cols[t->ncols++] = xstrdup(cols[i]);
    return t;
}

void vm_table_free(vm_table *t)
{
    if (!t)
        return;
    strv_free(t->cols);
    free(t->cells);
    free(t->order);
    while (t->blocks) {
        struct block *b = t->blocks;
        t->blocks = b->next;
        free(b);
    }
    free(t);
}

static char *table_alloc(vm_table *t, size_t n)
{
    struct block *b = t->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = xmalloc(sizeof *b + cap);
        b->used = 0;
        b->cap = cap;
        b->next = t->blocks;
        t->blocks = b;
    }
    char *p = b->data + b->used;
    b->used += n;
    return p;
}

static const char *table_strdup(vm_table *t, const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(table_alloc(t, n), s, n);
}

size_t vm_table_ncols(const vm_table *t)
{
    return t->ncols;
}

const char *vm_table_col_name(const vm_table *t, size_t col)
{
    return col < t->ncols ? t->cols[col] : NULL;
}

int vm_table_col(const vm_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i], name))
            return (int)i;
    return -1;
}

size_t vm_table_nrows(const vm_table *t)
{
    return t->nrows;
}

const vm_cell *vm_table_cell(const vm_table *t, size_t row, size_t col)
{
    return &t->cells[t->order[row] * t->ncols + col];
}

void vm_table_set_cell(vm_table *t, size_t row, size_t col, const vm_cell *c)
{
    t->cells[t->order[row] * t->ncols + col] = *c;
}

/* A new physical row of missing cells, visible at the end. */
static vm_cell *add_row(vm_table *t)
{
    if (t->nphys == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->cells = xrealloc(t->cells, t->cap * (t->ncols ? t->ncols : 1) * sizeof *t->cells);
        t->order = xrealloc(t->order, t->cap * sizeof *t->order);
    }
    vm_cell *row = &t->cells[t->nphys * t->ncols];
    memset(row, 0, t->ncols * sizeof *row);
    t->order[t->nrows++] = t->nphys++;
    return row;
}

static vm_cell cell_of(vm_table *t, json_t *v)
{
    vm_cell c = { VM_CELL_MISSING, NULL, 0 };
    char num[32];
    if (!v)
        return c;
    switch (json_typeof(v)) {
    case JSON_NULL: c.kind = VM_CELL_NULL; break;
    case JSON_FALSE: c.kind = VM_CELL_FALSE; break;
    case JSON_TRUE:
        c.kind = VM_CELL_TRUE;
        c.text = "true";
        break;
    case JSON_INTEGER:
        c.kind = VM_CELL_NUM;
        c.num = (double)json_integer_value(v);
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        c.text = table_strdup(t, num);
        break;
    case JSON_REAL:
        c.kind = VM_CELL_NUM;
        c.num = json_real_value(v);
        snprintf(num, sizeof num, "%g", c.num);
        c.text = table_strdup(t, num);
        break;
    case JSON_STRING: {
        size_t n = json_string_length(v);
        char *s = table_alloc(t, n + 1);
        memcpy(s, json_string_value(v), n + 1);
        c.kind = VM_CELL_STR;
        c.text = s;
        break;
    }
    default: {
        cleanup_free char *s = vm_list_cell(v);
        c.kind = VM_CELL_OTHER;
        c.text = table_strdup(t, s ? s : "");
        break;
    }
    }
    return c;
}

void vm_table_add_json(vm_table *t, json_t *vms)
{
    size_t i;
    json_t *vm;
    json_array_foreach(vms, i, vm) {
        vm_cell *row = add_row(t);
        for (size_t c = 0; c < t->ncols; c++) {
            json_t *v;
            if (!strchr(t->cols[c], '.')) {
                v = json_object_get(vm, t->cols[c]);
                row[c] = cell_of(t, v);
            } else {
                cleanup_json json_t *all = vm_list_values(vm, t->cols[c]);
                row[c] = cell_of(t, json_array_get(all, 0));
            }
        }
    }
}

/* ---- the flat-array parser ---- */

struct scan {
    const char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool eat(struct scan *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at p (no overlongs, no
 * surrogates, at most U+10FFFF), or 0: jansson refuses anything else. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t n;
    unsigned cp;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string at s->p (after skipping blanks), decoded into t's blocks
 * (into `tmp` of size tmpn when t is NULL: keys).  NULL on bad input,
 * including what jansson refuses: raw control characters, lone or
 * misordered surrogates, \u0000. */
static char *scan_string(struct scan *s, vm_table *t, char *tmp, size_t tmpn)
{
    if (!eat(s, '"'))
        return NULL;
    const char *q = s->p;
    while (q < s->end && *q != '"' && *q != '\\')
        q++;
    /* The decoded text is never longer than the raw one. */
    size_t cap = (size_t)(s->end - s->p) + 1;
    if (q < s->end && *q == '"')
        cap = (size_t)(q - s->p) + 1;
    else {
        const char *r = q;
        while (r < s->end && *r != '"') {
            if (*r == '\\')
                r++;
            r++;
        }
        cap = (size_t)(r - s->p) + 1;
    }
    char *out;
    if (t)
        out = table_alloc(t, cap);
    else if (cap <= tmpn)
        out = tmp;
    else
        return NULL;
    size_t n = 0;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"') {
            out[n] = '\0';
            return out;
        }
        if (c < 0x20)
            return NULL;
        if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)s->p - 1, (const unsigned char *)s->end);
            if (!l)
                return NULL;
            memcpy(out + n, s->p - 1, l);
            n += l;
            s->p += l - 1;
            continue;
        }
        if (c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        if (s->p >= s->end)
            return NULL;
        c = (unsigned char)*s->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/': out[n++] = (char)c; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(s->p, s->end, &cp) < 0)
                return NULL;
            s->p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return NULL;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || hex4(s->p + 2, s->end, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return NULL;
                s->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0)
                return NULL;
            n += put_utf8(out + n, cp);
            break;
        }
        default: return NULL;
        }
    }
    return NULL;
}

/* A JSON number at s->p: its text as vmadm renders it ("%lld" for integers,
 * "%g" otherwise, as jansson would hand it over). */
static int scan_number(struct scan *s, vm_table *t, vm_cell *c)
{
    const char *b = s->p, *p = s->p;
    bool real = false;
    if (p < s->end && *p == '-')
        p++;
    if (p >= s->end || *p < '0' || *p > '9')
        return -1;
    if (*p == '0')
        p++;
    else
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    if (p < s->end && *p == '.') {
        real = true;
        p++;
        if (p >= s->end || *p < '0' || *p > '9')
            return -1;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || *p < '0' || *p > '9')
            return -1;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    char buf[64], num[32];
    size_t n = (size_t)(p - b);
    if (n >= sizeof buf)
        return -1; /* jansson's business: overlong numbers are rare */
    memcpy(buf, b, n);
    buf[n] = '\0';
    if (!real) {
        char *e;
        errno = 0;
        long long v = strtoll(buf, &e, 10);
        if (errno)
            return -1; /* jansson refuses integers beyond 64 bits */
        c->num = (double)v;
        snprintf(num, sizeof num, "%lld", v);
    } else {
        c->num = strtod(buf, NULL);
        if (!isfinite(c->num))
            return -1;
        snprintf(num, sizeof num, "%g", c->num);
    }
    c->kind = VM_CELL_NUM;
    c->text = table_strdup(t, num);
    s->p = p;
    return 0;
}

static bool eat_word(struct scan *s, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
        return false;
    s->p += n;
    return true;
}

static int scan_value(struct scan *s, vm_table *t, vm_cell *c)
{
    skip_ws(s);
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '"':
        c->text = scan_string(s, t, NULL, 0);
        c->kind = VM_CELL_STR;
        return c->text ? 0 : -1;
    case 't': *c = (vm_cell){ VM_CELL_TRUE, "true", 0 }; return eat_word(s, "true") ? 0 : -1;
    case 'f': *c = (vm_cell){ VM_CELL_FALSE, NULL, 0 }; return eat_word(s, "false") ? 0 : -1;
    case 'n': *c = (vm_cell){ VM_CELL_NULL, NULL, 0 }; return eat_word(s, "null") ? 0 : -1;
    default: return scan_number(s, t, c); /* objects and arrays fail here too */
    }
}

int vm_table_add_text(vm_table *t, const char *text, size_t len, vm_err *err)
{
    struct scan s = { text, text + len };
    size_t nrows0 = t->nrows, nphys0 = t->nphys;
    char key[256];

    if (!eat(&s, '['))
        goto bad;
    if (!eat(&s, ']')) {
        do {
            if (!eat(&s, '{'))
                goto bad;
            size_t phys = t->nphys;
            add_row(t);
            if (!eat(&s, '}')) {
                do {
                    const char *k = scan_string(&s, NULL, key, sizeof key);
                    vm_cell c;
                    if (!k || !eat(&s, ':') || scan_value(&s, t, &c) < 0)
                        goto bad;
                    int col = vm_table_col(t, k);
                    if (col >= 0)
                        t->cells[phys * t->ncols + (size_t)col] = c;
                } while (eat(&s, ','));
                if (!eat(&s, '}'))
                    goto bad;
            }
        } while (eat(&s, ','));
        if (!eat(&s, ']'))
            goto bad;
    }
    skip_ws(&s);
    if (s.p != s.end)
        goto bad;
    return 0;
bad:
    t->nrows = nrows0;
    t->nphys = nphys0;
    return vm_err_set(err, VMERR_INVALID, "not a flat JSON array of objects at byte %zu", (size_t)(s.p - text));
}

/* ---- order ---- */

void vm_table_keep(vm_table *t, const bool *keep)
{
    size_t n = 0;
    for (size_t r = 0; r < t->nrows; r++)
        if (keep[r])
            t->order[n++] = t->order[r];
    t->nrows = n;
}

struct sortarg {
    const vm_table *t;
    vm_table_cmp cmp;
    void *arg;
};

/* Ties keep the load order (uuid order), so the sort is stable. */
static int cmp_phys(const void *a, const void *b, void *arg)
{
    const struct sortarg *sa = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = sa->cmp(&sa->t->cells[x * sa->t->ncols], &sa->t->cells[y * sa->t->ncols], sa->arg);
    return c ? c : (x > y) - (x < y);
}

void vm_table_sort_rows(vm_table *t, vm_table_cmp cmp, void *arg)
{
    struct sortarg sa = { t, cmp, arg };
    if (t->nrows < 2)
        return; /* also: no rows, no order array */
    qsort_r(t->order, t->nrows, sizeof *t->order, cmp_phys, &sa);
}
