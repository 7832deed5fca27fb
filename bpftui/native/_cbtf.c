/*
 * _cbtf: every kernel function of vmlinux and module BTF with its C prototype.
 *
 * The C twin of two Python classes, which stay the reference:
 * bpftui.native.btf.BtfBlob (the format, include/uapi/linux/btf.h) and
 * bpftui.core.discovery.btf.Btf (prototypes rendered as C). For each blob it
 * gives the same strings those give, or None: None whenever this file cannot
 * be sure to give exactly that (damaged or unusual BTF, the other byte
 * order, a type graph deeper than MAX_DEPTH). None sends the blob through
 * the Python code, which then reports the damage with its own messages, so
 * nothing here needs error text.
 *
 * Input is untrusted. The header and every record are checked against the
 * data before anything is read from them, every walk through the type graph
 * is bounded by MAX_DEPTH, and all the text made (memoized pieces and the
 * strings handed back) is drawn from one budget proportional to the input:
 * hostile BTF ends in None, never in a crash, a hang or a huge allocation.
 *
 * Text is built as bytes in one arena and decoded to str once per result.
 * Names are decoded by Python as UTF-8 with errors="replace"; every name here
 * ends up between ASCII characters (or at an end), where decoding the whole
 * prototype gives the same characters as decoding each name alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Kinds, as numbered in include/uapi/linux/btf.h. */
enum {
    KIND_INT = 1, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM,
    KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT,
    KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT,
    KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64, KIND_LAST = KIND_ENUM64,
};

#define BTF_MAGIC 0xEB9F
#define HEADER_LEN 24
/* Real declarators nest about ten deep; this stops loops among types. */
#define MAX_DEPTH 64
/* Text may take this much plus BUDGET_PER_BYTE per input byte: a 5.5 MB
 * vmlinux needs 7.3 MB (1.8 MB memoized, 5.5 MB of results), hostile input
 * could ask for exponentially many. */
#define BUDGET_BASE (32u << 20)
/* Longer function names are left to Python, which refuses them (MAX_NAME
 * in bpftui/core/discovery/btf.py); the kernel's own limit is 512. */
#define MAX_NAME 1024u
#define BUDGET_PER_BYTE 16u

/* Words in a record: the btf_type, the kind's fixed data, then vlen items. */
static const uint8_t FIXED_WORDS[KIND_LAST + 1] = {
    [KIND_INT] = 4, [KIND_PTR] = 3, [KIND_ARRAY] = 6, [KIND_STRUCT] = 3,
    [KIND_UNION] = 3, [KIND_ENUM] = 3, [KIND_FWD] = 3, [KIND_TYPEDEF] = 3,
    [KIND_VOLATILE] = 3, [KIND_CONST] = 3, [KIND_RESTRICT] = 3,
    [KIND_FUNC] = 3, [KIND_FUNC_PROTO] = 3, [KIND_VAR] = 4,
    [KIND_DATASEC] = 3, [KIND_FLOAT] = 3, [KIND_DECL_TAG] = 4,
    [KIND_TYPE_TAG] = 3, [KIND_ENUM64] = 3,
};
static const uint8_t ITEM_WORDS[KIND_LAST + 1] = {
    [KIND_STRUCT] = 3, [KIND_UNION] = 3, [KIND_ENUM] = 2,
    [KIND_FUNC_PROTO] = 2, [KIND_DATASEC] = 3, [KIND_ENUM64] = 3,
};

/* Outcomes of the walks below. NONE is a prefix that does not exist: the
 * declarator goes inside the declaration (arrays, function types). */
enum { PYERR = -2, FAIL = -1, NONE = 0, SOME = 1 };

/* A slice of the arena, by offset: the arena moves when it grows. */
typedef struct {
    uint32_t off, len;
} Text;

/* Bytes to copy: from stable memory (the string section, a literal, a
 * local buffer of the caller) or, when bytes is NULL, from the arena. */
typedef struct {
    const char *bytes;
    uint32_t off, len;
} Piece;

#define EMPTY ((Piece){"", 0, 0})
#define LITERAL(s) ((Piece){(s), 0, sizeof(s) - 1})
#define RAW(p, n) ((Piece){(p), 0, (uint32_t)(n)})
#define SLICE(t) ((Piece){NULL, (t).off, (t).len})

typedef struct {
    char *data;
    size_t len, cap;
    size_t left; /* of the budget, for the arena and the results alike */
    Text void_prefix;
} Arena;

/* A memoized prefix: every prefix has a byte at least, so an empty one is
 * not known yet, and this length says that there is none. A FUNC_PROTO
 * never has one: the offset of its slot then holds 1 + the index of its
 * shape, once rendered (0 before). */
#define NO_PREFIX UINT32_MAX

/* A FUNC_PROTO rendered: the prototype before and after the function name. */
typedef struct {
    Text head, tail;
} Shape;

typedef struct Blob {
    const unsigned char *types; /* the type section, a run of u32 words */
    size_t nwords;
    const char *strings;
    size_t str_len;
    uint32_t start_id, end_id; /* its types are ids [start_id, end_id) */
    uint32_t str_base;         /* string offsets continue the base's */
    int ascii;                 /* its string section is pure ASCII */
    uint32_t *offsets;         /* the word where each type's record starts */
    uint32_t *funcs;           /* ids of its FUNC records, in order */
    size_t nfuncs;
    Text *prefixes; /* by type, from start_id */
    /* Dense, in order of first use: a vmlinux's 126k types hold 29k
     * FUNC_PROTOs, and lookups in a sparse array would miss the cache. */
    Shape *shapes;
    size_t nshapes, shapes_cap;
    struct Blob *base; /* vmlinux, for module (split) BTF */
} Blob;

/* ------------------------------------------------------------ the arena */

static int spend(Arena *a, size_t bytes)
{
    if (bytes > a->left)
        return FAIL;
    a->left -= bytes;
    return 0;
}

static int reserve(Arena *a, size_t more)
{
    size_t cap = a->cap ? a->cap : 1u << 16;
    char *data;

    if (a->len + more <= a->cap)
        return 0;
    while (cap < a->len + more)
        cap *= 2;
    data = PyMem_Realloc(a->data, cap);
    if (data == NULL)
        return FAIL; /* Python, asked to do it instead, reports the shortage */
    a->data = data;
    a->cap = cap;
    return 0;
}

static const char *piece_bytes(const Arena *a, Piece p)
{
    return p.bytes ? p.bytes : a->data + p.off;
}

/* Copy pieces end to end into the arena. Sources in the arena lie below
 * its end, so they are read after it has grown and never overlap. */
static int join(Arena *a, Text *out, size_t n, const Piece *pieces)
{
    size_t total = 0;
    char *to;

    for (size_t i = 0; i < n; i++)
        total += pieces[i].len;
    if (spend(a, total) < 0 || reserve(a, total) < 0)
        return FAIL;
    to = a->data + a->len;
    for (size_t i = 0; i < n; i++) {
        memcpy(to, piece_bytes(a, pieces[i]), pieces[i].len);
        to += pieces[i].len;
    }
    out->off = (uint32_t)a->len;
    out->len = (uint32_t)total;
    a->len += total;
    return 0;
}

#define JOIN(a, out, ...) \
    join((a), (out), sizeof((Piece[]){__VA_ARGS__}) / sizeof(Piece), \
         (Piece[]){__VA_ARGS__})

static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* Python's str.rstrip(). It also strips some non-ASCII spaces (U+00A0,
 * U+3000...): text ending in a non-ASCII byte is left to Python. */
static int rstrip(const Arena *a, Text *t)
{
    const unsigned char *s = (const unsigned char *)a->data + t->off;

    while (t->len && is_space(s[t->len - 1]))
        t->len--;
    return t->len && s[t->len - 1] >= 0x80 ? FAIL : 0;
}

/* ------------------------------------------------------------ the format */

static uint32_t word(const Blob *b, size_t index)
{
    uint32_t value;

    memcpy(&value, b->types + 4 * index, 4); /* the section may be unaligned */
    return value;
}

static unsigned kind_of(uint32_t info)
{
    return info >> 24 & 0x1f;
}

static int is_ascii(const char *s, size_t n)
{
    uint64_t seen = 0, chunk;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) { /* a word at a time: 2 MB in a vmlinux */
        memcpy(&chunk, s + i, 8);
        seen |= chunk;
    }
    for (; i < n; i++)
        seen |= (unsigned char)s[i];
    return (seen & 0x8080808080808080u) == 0;
}

/* The header, as BtfBlob._sections checks it. The other byte order is
 * legal BTF, read by Python: it is rare enough not to be worth a copy. */
static int read_header(Blob *b, const unsigned char *data, size_t len)
{
    uint16_t magic;
    uint32_t f[5]; /* hdr_len, type_off, type_len, str_off, str_len */
    uint64_t types_at, strings_at;

    if (len < HEADER_LEN)
        return FAIL;
    memcpy(&magic, data, sizeof magic);
    memcpy(f, data + 4, sizeof f);
    if (magic != BTF_MAGIC || data[2] != 1 || f[0] < HEADER_LEN || f[2] % 4)
        return FAIL;
    types_at = (uint64_t)f[0] + f[1];
    strings_at = (uint64_t)f[0] + f[3];
    if (types_at + f[2] > len || strings_at + f[4] > len)
        return FAIL;
    b->types = data + types_at;
    b->nwords = f[2] / 4;
    b->strings = (const char *)data + strings_at;
    b->str_len = f[4];
    return 0;
}

/* Find where each record starts, as BtfBlob._walk does: records have no
 * index, each one's length follows from its kind and vlen. */
static int walk(Blob *b)
{
    size_t at = 0, count = 0;
    /* Every record is at least 3 words long. */
    size_t most = b->nwords / 3 + 1;

    b->offsets = PyMem_Malloc(most * sizeof *b->offsets);
    b->funcs = PyMem_Malloc(most * sizeof *b->funcs);
    if (b->offsets == NULL || b->funcs == NULL)
        return FAIL;
    while (at < b->nwords) {
        uint32_t info;
        unsigned kind;

        if (at + 1 >= b->nwords)
            return FAIL;
        info = word(b, at + 1);
        kind = kind_of(info);
        if (kind > (unsigned)KIND_LAST || FIXED_WORDS[kind] == 0)
            return FAIL;
        if (kind == KIND_FUNC)
            b->funcs[b->nfuncs++] = b->start_id + (uint32_t)count;
        b->offsets[count++] = (uint32_t)at;
        at += FIXED_WORDS[kind] + (size_t)ITEM_WORDS[kind] * (info & 0xffff);
    }
    if (at != b->nwords)
        return FAIL;
    b->end_id = b->start_id + (uint32_t)count;
    /* The memo stays small: lookups in it miss the cache a lot. */
    b->prefixes = PyMem_Calloc(count ? count : 1, sizeof *b->prefixes);
    return b->prefixes ? 0 : FAIL;
}

static int open_blob(Blob *b, PyObject *bytes, Blob *base)
{
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(bytes);
    uint64_t str_base = base ? (uint64_t)base->str_base + base->str_len : 0;

    /* Python reads split BTF on a base without types as if it had no base
     * (a BtfBlob of no types is false): nothing to imitate. */
    if (base != NULL && base->end_id == base->start_id)
        return FAIL;
    b->base = base;
    b->start_id = base ? base->end_id : 1;
    if (read_header(b, data, (size_t)PyBytes_GET_SIZE(bytes)) < 0)
        return FAIL;
    /* Ids and string offsets are u32 words: a chain past that is not BTF. */
    if (str_base + b->str_len > UINT32_MAX
        || (uint64_t)b->start_id + b->nwords / 3 + 1 > UINT32_MAX)
        return FAIL;
    b->str_base = (uint32_t)str_base;
    b->ascii = is_ascii(b->strings, b->str_len);
    return walk(b);
}

static void close_blob(Blob *b)
{
    PyMem_Free(b->offsets);
    PyMem_Free(b->funcs);
    PyMem_Free(b->prefixes);
    PyMem_Free(b->shapes);
    b->offsets = b->funcs = NULL;
    b->prefixes = NULL;
    b->shapes = NULL;
}

/* The blob holding type `id`, as BtfBlob._owner finds it: module BTF
 * holds its own ids, its base the lower ones. NULL for void and for ids
 * out of range. */
static Blob *owner_of(Blob *b, uint32_t id)
{
    while (b != NULL && id < b->start_id)
        b = b->base;
    return b != NULL && id < b->end_id ? b : NULL;
}

static size_t record(const Blob *owner, uint32_t id)
{
    return owner->offsets[id - owner->start_id];
}

/* A name by offset: split BTF continues the base's string section. */
static int string(Blob *b, uint32_t offset, Piece *out)
{
    const char *start, *end;
    size_t local;

    while (b != NULL && offset < b->str_base)
        b = b->base;
    if (b == NULL || (local = offset - b->str_base) >= b->str_len)
        return FAIL;
    start = b->strings + local;
    end = memchr(start, '\0', b->str_len - local);
    if (end == NULL)
        return FAIL;
    *out = RAW(start, end - start);
    return 0;
}

/* The kind of `id` once TYPE_TAGs are skipped (0 for void). */
static int kind_past_tags(Blob *b, uint32_t id)
{
    for (int step = 0; step < MAX_DEPTH; step++) {
        Blob *owner;
        size_t at;

        if (id == 0)
            return 0;
        if ((owner = owner_of(b, id)) == NULL)
            return FAIL;
        at = record(owner, id);
        if (kind_of(word(owner, at + 1)) != KIND_TYPE_TAG)
            return (int)kind_of(word(owner, at + 1));
        id = word(owner, at + 2);
    }
    return FAIL;
}

/* ------------------------------------------------------------ rendering
 *
 * Each type is rendered in the blob that holds it: a vmlinux type only
 * ever refers to vmlinux. (Python follows a vmlinux type's references in
 * the module's id space when a module asks: a difference only for a
 * vmlinux that refers past its end, which fails here, and goes to Python.)
 */

static int prefix(Arena *a, Blob *b, uint32_t id, int depth, Text *out);
static int declare(Arena *a, Blob *b, uint32_t id, Piece inner, int depth,
                   Text *out);

static int named_prefix(Arena *a, Blob *b, const char *tag, uint32_t name_off,
                        const char *anonymous, Text *out)
{
    Piece name;

    if (string(b, name_off, &name) < 0)
        return FAIL;
    if (name.len == 0 && anonymous != NULL)
        name = RAW(anonymous, strlen(anonymous));
    if (JOIN(a, out, RAW(tag, strlen(tag)), name, LITERAL(" ")) < 0)
        return FAIL;
    return SOME;
}

/* const, volatile, restrict: after the star of a pointer they qualify the
 * pointer itself (`char *const p`), else what they precede. */
static int qualified_prefix(Arena *a, Blob *b, const char *qualifier,
                            uint32_t target, int depth, Text *out)
{
    Piece word = RAW(qualifier, strlen(qualifier));
    Text inner;
    int got = prefix(a, b, target, depth, &inner), kind;

    if (got != SOME)
        return got;
    if ((kind = kind_past_tags(b, target)) < 0)
        return FAIL;
    if (kind == KIND_PTR)
        got = JOIN(a, out, SLICE(inner), word, LITERAL(" "));
    else
        got = JOIN(a, out, word, LITERAL(" "), SLICE(inner));
    return got < 0 ? FAIL : SOME;
}

static const char *qualifier_word(unsigned kind)
{
    switch (kind) {
    case KIND_CONST:
        return "const";
    case KIND_VOLATILE:
        return "volatile";
    case KIND_RESTRICT:
        return "restrict";
    }
    return NULL;
}

static int compute_prefix(Arena *a, Blob *b, uint32_t id, int depth, Text *out)
{
    size_t at = record(b, id);
    uint32_t name_off = word(b, at), info = word(b, at + 1);
    uint32_t target = word(b, at + 2);
    unsigned kind = kind_of(info);
    Text inner;
    int got;

    switch (kind) {
    case KIND_INT: case KIND_FLOAT: case KIND_TYPEDEF:
        return named_prefix(a, b, "", name_off, NULL, out);
    case KIND_STRUCT:
        return named_prefix(a, b, "struct ", name_off, "{...}", out);
    case KIND_UNION:
        return named_prefix(a, b, "union ", name_off, "{...}", out);
    case KIND_ENUM: case KIND_ENUM64:
        return named_prefix(a, b, "enum ", name_off, "{...}", out);
    case KIND_FWD:
        return named_prefix(a, b, info >> 31 ? "union " : "struct ", name_off,
                            NULL, out);
    case KIND_PTR:
        if ((got = prefix(a, b, target, depth, &inner)) != SOME)
            return got;
        return JOIN(a, out, SLICE(inner), LITERAL("*")) < 0 ? FAIL : SOME;
    case KIND_CONST: case KIND_VOLATILE: case KIND_RESTRICT:
        return qualified_prefix(a, b, qualifier_word(kind), target, depth,
                                out);
    case KIND_TYPE_TAG:
        return prefix(a, b, target, depth, out);
    case KIND_ARRAY: case KIND_FUNC_PROTO:
        return NONE;
    }
    return FAIL; /* FUNC, VAR, DATASEC, DECL_TAG: no C type */
}

/* Text that declares `id` when a declarator is appended (`const char *`),
 * memoized: a kernel's functions use a few thousand types over and over. */
static int prefix(Arena *a, Blob *b, uint32_t id, int depth, Text *out)
{
    Blob *owner;
    Text *memo;
    int got;

    if (id == 0) {
        *out = a->void_prefix;
        return SOME;
    }
    if ((owner = owner_of(b, id)) == NULL)
        return FAIL;
    memo = &owner->prefixes[id - owner->start_id];
    if (memo->len == NO_PREFIX)
        return NONE;
    if (memo->len) {
        *out = *memo;
        return SOME;
    }
    if (depth > MAX_DEPTH)
        return FAIL;
    /* Failures are not kept: the blob asking fails with them. */
    if ((got = compute_prefix(a, owner, id, depth + 1, out)) < 0)
        return got;
    *memo = got == SOME ? *out : (Text){0, NO_PREFIX};
    return got;
}

/* The parameter list of the FUNC_PROTO at word `at` between parentheses,
 * after `lead`: `lead(int a, char *b)`, `lead(void)`. */
static int call(Arena *a, Blob *b, size_t at, Piece lead, int depth,
                Text *out);

/* Declarations whose declarator sits inside: arrays, function types and
 * what points to or qualifies them. */
static int wrapped(Arena *a, Blob *b, uint32_t id, Piece inner, int depth,
                   Text *out)
{
    size_t at = record(b, id);
    uint32_t target = word(b, at + 2);
    unsigned kind = kind_of(word(b, at + 1));
    const char *qualifier = qualifier_word(kind);
    char count[16];
    Text around, declared;
    int got;

    switch (kind) {
    case KIND_ARRAY:
        got = snprintf(count, sizeof count, "[%u]", (unsigned)word(b, at + 5));
        if (JOIN(a, &around, inner, RAW(count, got)) < 0)
            return FAIL;
        return declare(a, b, word(b, at + 3), SLICE(around), depth, out);
    case KIND_FUNC_PROTO:
        if (call(a, b, at, inner, depth, &around) < 0)
            return FAIL;
        return declare(a, b, target, SLICE(around), depth, out);
    case KIND_PTR:
        if ((got = kind_past_tags(b, target)) < 0)
            return FAIL;
        if (got == KIND_ARRAY || got == KIND_FUNC_PROTO)
            got = JOIN(a, &around, LITERAL("(*"), inner, LITERAL(")"));
        else
            got = JOIN(a, &around, LITERAL("*"), inner);
        if (got < 0)
            return FAIL;
        return declare(a, b, target, SLICE(around), depth, out);
    case KIND_TYPE_TAG:
        return declare(a, b, target, inner, depth, out);
    }
    if (qualifier == NULL || (got = kind_past_tags(b, target)) < 0)
        return FAIL;
    if (got == KIND_PTR) {
        if (JOIN(a, &around, RAW(qualifier, strlen(qualifier)), LITERAL(" "),
                 inner) < 0
            || rstrip(a, &around) < 0)
            return FAIL;
        return declare(a, b, target, SLICE(around), depth, out);
    }
    if (declare(a, b, target, inner, depth, &declared) < 0)
        return FAIL;
    if (JOIN(a, out, RAW(qualifier, strlen(qualifier)), LITERAL(" "),
             SLICE(declared)) < 0)
        return FAIL;
    return 0;
}

/* `id` declared as `inner` (the bare type when inner is empty). */
static int declare(Arena *a, Blob *b, uint32_t id, Piece inner, int depth,
                   Text *out)
{
    Blob *owner;
    int got = prefix(a, b, id, depth, out);

    if (got == SOME) {
        if (inner.len)
            return JOIN(a, out, SLICE(*out), inner);
        return rstrip(a, out);
    }
    if (got < 0 || depth > MAX_DEPTH || (owner = owner_of(b, id)) == NULL)
        return FAIL;
    return wrapped(a, owner, id, inner, depth + 1, out);
}

/* One parameter as at most two pieces: `struct sk_buff *` and `skb`. */
static int parameter(Arena *a, Blob *b, uint32_t name_off, uint32_t type,
                     int depth, Piece out[2])
{
    Piece name = EMPTY;
    Text text;
    int got;

    out[1] = EMPTY;
    if (name_off == 0 && type == 0) {
        out[0] = LITERAL("...");
        return 0;
    }
    if (name_off != 0 && string(b, name_off, &name) < 0)
        return FAIL;
    if ((got = prefix(a, b, type, depth, &text)) < 0)
        return FAIL;
    if (got == NONE) {
        if (declare(a, b, type, name, depth, &text) < 0)
            return FAIL;
    } else if (name.len) {
        out[1] = name;
    } else if (rstrip(a, &text) < 0) {
        return FAIL;
    }
    out[0] = SLICE(text);
    return 0;
}

/* Most prototypes take a few parameters: their pieces fit on the stack. */
#define STACK_PIECES 32

static int call(Arena *a, Blob *b, size_t at, Piece lead, int depth,
                Text *out)
{
    size_t count = word(b, at + 1) & 0xffff, n = 0;
    /* lead, "(", then ", " and two pieces per parameter, or "void", ")" */
    size_t most = 3 * count + 4;
    Piece stack[STACK_PIECES], *pieces = stack;
    int got = 0;

    if (depth > MAX_DEPTH)
        return FAIL;
    if (most > STACK_PIECES
        && (pieces = PyMem_Malloc(most * sizeof *pieces)) == NULL)
        return FAIL;
    pieces[n++] = lead;
    pieces[n++] = LITERAL("(");
    for (size_t i = 0; i < count && got == 0; i++) {
        if (i)
            pieces[n++] = LITERAL(", ");
        got = parameter(a, b, word(b, at + 3 + 2 * i), word(b, at + 4 + 2 * i),
                        depth + 1, &pieces[n]);
        n += 2;
    }
    /* As Python's `", ".join(params) or "void"`: a lone parameter whose
     * text is empty (an unnamed one of a nameless type) reads void too. */
    if (count == 0
        || (count == 1 && got == 0 && pieces[2].len + pieces[3].len == 0))
        pieces[n++] = LITERAL("void");
    pieces[n++] = LITERAL(")");
    if (got == 0)
        got = join(a, out, n, pieces);
    if (pieces != stack)
        PyMem_Free(pieces);
    return got;
}

/* A prototype around the function's name, split where the name goes:
 * `int ` and `(int a)`; `void (*` and `(int a))(long)` for a function
 * returning a function pointer. */
static int render_shape(Arena *a, Blob *b, size_t at, Shape *out)
{
    Text marked, declared;
    const char *mark;
    int got;

    /* A NUL byte marks the name: names, being C strings, hold none. */
    if (call(a, b, at, RAW("\0", 1), 0, &marked) < 0
        || (got = prefix(a, b, word(b, at + 2), 0, &out->head)) < 0)
        return FAIL;
    if (got == SOME) {
        out->tail = (Text){marked.off + 1, marked.len - 1};
        return 0;
    }
    if (declare(a, b, word(b, at + 2), SLICE(marked), 0, &declared) < 0)
        return FAIL;
    /* Cut as str.partition does: at the first mark, if any. */
    mark = memchr(a->data + declared.off, '\0', declared.len);
    out->head.off = declared.off;
    out->head.len = mark ? (uint32_t)(mark - (a->data + declared.off))
                         : declared.len;
    out->tail.off = out->head.off + out->head.len + (mark != NULL);
    out->tail.len = declared.len - out->head.len - (mark != NULL);
    return 0;
}

/* The shape of FUNC_PROTO `proto`, memoized in the blob holding it. */
static int shape(Arena *a, Blob *b, uint32_t proto, Shape **out)
{
    Blob *owner = owner_of(b, proto);
    Text *slot;
    size_t at;
    Shape made;

    if (owner == NULL)
        return FAIL;
    slot = &owner->prefixes[proto - owner->start_id];
    if (slot->len == NO_PREFIX && slot->off) {
        *out = &owner->shapes[slot->off - 1];
        return 0;
    }
    at = record(owner, proto);
    if (kind_of(word(owner, at + 1)) != KIND_FUNC_PROTO
        || render_shape(a, owner, at, &made) < 0)
        return FAIL;
    if (owner->nshapes == owner->shapes_cap) {
        size_t cap = owner->shapes_cap ? 2 * owner->shapes_cap : 1024;
        Shape *grown = PyMem_Realloc(owner->shapes, cap * sizeof *grown);

        if (grown == NULL)
            return FAIL;
        owner->shapes = grown;
        owner->shapes_cap = cap;
    }
    owner->shapes[owner->nshapes++] = made;
    *slot = (Text){(uint32_t)owner->nshapes, NO_PREFIX};
    *out = &owner->shapes[owner->nshapes - 1];
    return 0;
}

/* ------------------------------------------------------------ results */

/* A str of pieces. Pure ASCII is copied straight into the str; other
 * text goes through the arena's spare room and Python's UTF-8 decoder. */
static PyObject *text_of(Arena *a, int ascii, size_t n, const Piece *pieces)
{
    size_t total = 0;
    char *to;
    PyObject *text = NULL;

    for (size_t i = 0; i < n; i++)
        total += pieces[i].len;
    if (spend(a, total) < 0)
        return Py_NewRef(Py_None);
    if (ascii) {
        if ((text = PyUnicode_New((Py_ssize_t)total, 127)) == NULL)
            return NULL;
        to = (char *)PyUnicode_1BYTE_DATA(text);
    } else {
        if (reserve(a, total) < 0)
            return Py_NewRef(Py_None);
        to = a->data + a->len;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(to, piece_bytes(a, pieces[i]), pieces[i].len);
        to += pieces[i].len;
    }
    if (!ascii)
        text = PyUnicode_DecodeUTF8(a->data + a->len, (Py_ssize_t)total,
                                    "replace");
    return text;
}

/* Name and prototype of one FUNC into the lists at `i`: 0, FAIL or PYERR. */
static int function(Arena *a, Blob *b, size_t i, int ascii, PyObject *names,
                    PyObject *protos)
{
    size_t at = record(b, b->funcs[i]);
    Piece name;
    Shape *memo;
    PyObject *text;

    if (string(b, word(b, at), &name) < 0 || name.len > MAX_NAME
        || shape(a, b, word(b, at + 2), &memo) < 0)
        return FAIL;
    if ((text = text_of(a, ascii, 1, &name)) == NULL)
        return PYERR;
    PyList_SET_ITEM(names, i, text); /* NULL items are fine to free */
    if (text == Py_None)
        return FAIL;
    text = text_of(a, ascii, 3,
                   (Piece[]){SLICE(memo->head), name, SLICE(memo->tail)});
    if (text == NULL)
        return PYERR;
    PyList_SET_ITEM(protos, i, text);
    return text == Py_None ? FAIL : 0;
}

/* (names, prototypes) of a blob's own functions, None, or NULL on error. */
static PyObject *blob_functions(Arena *a, Blob *b)
{
    int ascii = b->ascii && (b->base == NULL || b->base->ascii), got = 0;
    PyObject *names = PyList_New((Py_ssize_t)b->nfuncs);
    PyObject *protos = PyList_New((Py_ssize_t)b->nfuncs);
    PyObject *result = NULL;

    if (names == NULL || protos == NULL)
        got = PYERR;
    for (size_t i = 0; i < b->nfuncs && got == 0; i++)
        got = function(a, b, i, ascii, names, protos);
    if (got == 0)
        result = PyTuple_Pack(2, names, protos);
    else if (got == FAIL)
        result = Py_NewRef(Py_None);
    Py_XDECREF(names);
    Py_XDECREF(protos);
    return result;
}

static int check_blobs(PyObject *blobs, size_t *total)
{
    Py_ssize_t n = PyTuple_GET_SIZE(blobs);

    *total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(blobs, i);

        if (item == Py_None)
            continue;
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "blob %zd is %.100s, not bytes", i,
                         Py_TYPE(item)->tp_name);
            return FAIL;
        }
        *total += (size_t)PyBytes_GET_SIZE(item);
    }
    return 0;
}

static PyObject *render_all(PyObject *items, Blob *blobs, Arena *a)
{
    Py_ssize_t n = PyTuple_GET_SIZE(items);
    PyObject *result = PyList_New(n), *entry;
    int have_base = 0;

    for (Py_ssize_t i = 0; result != NULL && i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(items, i);
        Blob *base = i ? &blobs[0] : NULL;

        entry = Py_None;
        if (item != Py_None && (i == 0 || have_base)
            && open_blob(&blobs[i], item, base) == 0)
            entry = blob_functions(a, &blobs[i]);
        else
            Py_INCREF(entry);
        have_base |= i == 0 && entry != Py_None;
        if (entry == NULL)
            Py_CLEAR(result);
        else
            PyList_SET_ITEM(result, i, entry);
        if (i > 0)
            close_blob(&blobs[i]); /* only vmlinux's memos serve again */
    }
    return result;
}

static PyObject *functions(PyObject *module, PyObject *arg)
{
    PyObject *items, *result = NULL;
    Blob *blobs = NULL;
    Arena arena = {0};
    size_t total;
    Py_ssize_t n;

    (void)module;
    /* A tuple of its own holds the bytes objects: nothing run meanwhile (a
     * finalizer, on an allocation) can free them while their data is read. */
    items = PySequence_Tuple(arg);
    if (items == NULL || check_blobs(items, &total) < 0)
        goto out;
    n = PyTuple_GET_SIZE(items);
    arena.left = total > (UINT32_MAX - BUDGET_BASE) / BUDGET_PER_BYTE
                     ? UINT32_MAX
                     : BUDGET_BASE + BUDGET_PER_BYTE * total;
    blobs = PyMem_Calloc(n ? (size_t)n : 1, sizeof *blobs);
    if (blobs == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    if (JOIN(&arena, &arena.void_prefix, LITERAL("void ")) < 0) {
        PyErr_NoMemory();
        goto out;
    }
    result = render_all(items, blobs, &arena);
out:
    if (blobs != NULL)
        close_blob(&blobs[0]);
    PyMem_Free(blobs);
    PyMem_Free(arena.data);
    Py_XDECREF(items);
    return result;
}

PyDoc_STRVAR(functions_doc,
"functions(blobs, /)\n--\n\n"
"Every FUNC of each BTF blob with its C prototype.\n\n"
"blobs[0] is vmlinux BTF, each later blob module (split) BTF on top of it.\n"
"For each blob, in order: (names, prototypes) of its own FUNC records in\n"
"type id order, the same strings bpftui.core.discovery.btf.Btf gives, or\n"
"None where the Python code must read the blob (damaged or unusual BTF).\n"
"Every module is None when vmlinux is; a None blob (unreadable) gives None.");

static PyMethodDef methods[] = {
    {"functions", functions, METH_O, functions_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef cbtf_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_cbtf",
    .m_doc = "Kernel function prototypes from BTF, in C: see speedups.py.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__cbtf(void)
{
    return PyModuleDef_Init(&cbtf_module);
}
