/*
 * _csearch: the per-keystroke name filter of bpftui.core.discovery.search,
 * scanned and ranked in C.
 *
 * Names(joined) takes the names lowercased and UTF-8 encoded by the caller,
 * each one followed by a NUL byte, keeps that bytes object and records where
 * every name starts. Names.search(query, fuzzy, wanted) then ranks exactly as
 * NameIndex.search does: the exact name, names starting with the query, names
 * containing it (catalogue order within each), then with fuzzy the names
 * holding the query's characters in order, the earliest match end first.
 *
 * The query must be ASCII. In UTF-8 an ASCII byte is always a whole
 * character, never part of a longer one, so matching bytes is matching
 * characters; only a match end needs converting, from bytes to characters,
 * and only when some name is not ASCII. Non-ASCII queries stay in Python.
 *
 * Every search scans all names, 1.2 MB for the 56 000 kernel functions, in
 * 0.2 to 1.3 ms on the machine this was measured on (Python took 2.5 to
 * 15 ms), so nothing is kept from one search to the next: the object never
 * changes after construction, and that lets a search drop the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* memmem is a GNU and BSD extension; pyconfig.h defines _GNU_SOURCE. */
#include <string.h>

/* How a name matched the query; the ranking order of the first three. */
enum kind { MISS = 0, EXACT, PREFIX, INSIDE, KINDS };

typedef struct {
    PyObject_HEAD
    PyObject *joined;   /* bytes: name i is joined[starts[i]:starts[i+1] - 1] */
    Py_ssize_t *starts; /* count + 1 offsets, the last one len(joined) */
    Py_ssize_t count;
    int ascii;          /* no byte >= 0x80: byte offsets are character offsets */
} NamesObject;

/* A name holding the query's characters in order but not the query itself. */
typedef struct {
    Py_ssize_t index;
    Py_ssize_t end; /* in characters, where the earliest match ends */
} Scattered;

/* What one search found, before ranking; freed when the search returns. */
typedef struct {
    unsigned char *kind;        /* per name, an enum kind */
    Py_ssize_t in_kind[KINDS];  /* names of each kind */
    Scattered *scattered;       /* fuzzy-only hits, catalogue order */
    Py_ssize_t n_scattered;
    Py_ssize_t latest_end;      /* the largest end among them */
} Scan;

/* ------------------------------------------------------------ matching */

static const char *
text_of(const NamesObject *self)
{
    return PyBytes_AS_STRING(self->joined);
}

static Py_ssize_t
size_of_name(const NamesObject *self, Py_ssize_t i)
{
    return self->starts[i + 1] - 1 - self->starts[i];
}

/* The name holding byte `at`, searching forward from name `from`. The scans
 * only move forward, so all the steps of one scan add up to the name count. */
static Py_ssize_t
name_at(const NamesObject *self, Py_ssize_t from, Py_ssize_t at)
{
    while (self->starts[from + 1] <= at)
        from++;
    return from;
}

static enum kind
kind_of(const NamesObject *self, Py_ssize_t i, Py_ssize_t at, Py_ssize_t qlen)
{
    if (at != self->starts[i])
        return INSIDE;
    return size_of_name(self, i) == qlen ? EXACT : PREFIX;
}

/* Marks every name containing the query. The query holds no NUL, so an
 * occurrence never spans two names, and the first one found from a name's
 * start is that name's leftmost: it alone tells a prefix. */
static void
scan_substring(const NamesObject *self, const char *query, Py_ssize_t qlen,
               Scan *scan)
{
    const char *text = text_of(self);
    const char *stop = text + PyBytes_GET_SIZE(self->joined);
    const char *from = text;
    const char *hit;
    Py_ssize_t i = 0;

    while ((hit = memmem(from, (size_t)(stop - from), query, (size_t)qlen))) {
        enum kind kind;

        i = name_at(self, i, hit - text);
        kind = kind_of(self, i, hit - text, qlen);
        scan->kind[i] = (unsigned char)kind;
        scan->in_kind[kind]++;
        from = text + self->starts[i + 1];
    }
}

/* Bytes up to the end of the query's characters taken in order, each at
 * its first chance, or -1 when they are not all there. memchr per
 * character: it costs a few nanoseconds whatever the length, a byte loop
 * one per byte, and names run to twenty bytes and more. */
static Py_ssize_t
subsequence_end(const char *text, Py_ssize_t size, const char *query,
                Py_ssize_t qlen)
{
    const char *at = text, *stop = text + size;

    for (Py_ssize_t k = 0; k < qlen; k++) {
        at = memchr(at, query[k], (size_t)(stop - at));
        if (at == NULL)
            return -1;
        at++;
    }
    return at - text;
}

/* Characters in the first `size` bytes of valid UTF-8: the bytes that do
 * not continue a multi-byte sequence. */
static Py_ssize_t
characters(const char *text, Py_ssize_t size)
{
    Py_ssize_t n = 0;

    for (Py_ssize_t at = 0; at < size; at++)
        n += ((unsigned char)text[at] & 0xC0) != 0x80;
    return n;
}

/* Records name i if the rest of the query follows `first`, the first
 * occurrence of its first character there. Starting from the first
 * occurrence and taking each character at its first chance gives the
 * earliest end any match in the name can have: the one ranking uses. */
static void
scan_name(const NamesObject *self, Py_ssize_t i, const char *first,
          const char *query, Py_ssize_t qlen, Scan *scan)
{
    const char *name = text_of(self) + self->starts[i];
    const char *rest = first + 1;
    Py_ssize_t end = subsequence_end(rest, name + size_of_name(self, i) - rest,
                                     query + 1, qlen - 1);

    if (end < 0)
        return;
    end += rest - name;
    if (!self->ascii)
        end = characters(name, end);
    scan->scattered[scan->n_scattered++] = (Scattered){i, end};
    if (end > scan->latest_end)
        scan->latest_end = end;
}

/* Records the names holding the query (at least two characters) only as a
 * subsequence, with their match ends. The first character is sought
 * across all names at once, passing over names without it at memchr's
 * speed; a name that contains the query is a hit already and needs no
 * other look. Returns -1 when memory runs out. */
static int
scan_scattered(const NamesObject *self, const char *query, Py_ssize_t qlen,
               Scan *scan)
{
    const char *text = text_of(self);
    const char *stop = text + PyBytes_GET_SIZE(self->joined);
    const char *from = text, *first;
    Py_ssize_t room = self->count, i = 0;

    for (int kind = EXACT; kind < KINDS; kind++)
        room -= scan->in_kind[kind];
    scan->scattered = PyMem_RawCalloc((size_t)room + 1, sizeof(Scattered));
    if (scan->scattered == NULL)
        return -1;

    while ((first = memchr(from, query[0], (size_t)(stop - from)))) {
        i = name_at(self, i, first - text);
        if (scan->kind[i] == MISS)
            scan_name(self, i, first, query, qlen, scan);
        from = text + self->starts[i + 1];
    }
    return 0;
}

/* ------------------------------------------------------------ ranking */

/* Appends the names of one kind in catalogue order while `out` has room;
 * returns the new length of `out`. */
static Py_ssize_t
take_kind(const NamesObject *self, const Scan *scan, enum kind kind,
          Py_ssize_t *out, Py_ssize_t n, Py_ssize_t wanted)
{
    Py_ssize_t left = scan->in_kind[kind];

    for (Py_ssize_t i = 0; left > 0 && n < wanted && i < self->count; i++) {
        if (scan->kind[i] == kind) {
            out[n++] = i;
            left--;
        }
    }
    return n;
}

/* Appends the scattered hits by match end, ties in catalogue order: a
 * counting sort, ends being bounded by the longest name. Only slots that
 * fit in `out` are written. Returns the new length, or -1 without memory. */
static Py_ssize_t
take_scattered(const Scan *scan, Py_ssize_t *out, Py_ssize_t n,
               Py_ssize_t wanted)
{
    Py_ssize_t room = wanted - n;
    Py_ssize_t *first = PyMem_RawCalloc((size_t)scan->latest_end + 2,
                                        sizeof(Py_ssize_t));

    if (first == NULL)
        return -1;
    for (Py_ssize_t s = 0; s < scan->n_scattered; s++)
        first[scan->scattered[s].end + 1]++;
    for (Py_ssize_t end = 0; end <= scan->latest_end; end++)
        first[end + 1] += first[end];

    for (Py_ssize_t s = 0; s < scan->n_scattered; s++) {
        Py_ssize_t slot = first[scan->scattered[s].end]++;

        if (slot < room)
            out[n + slot] = scan->scattered[s].index;
    }
    PyMem_RawFree(first);
    return n + Py_MIN(room, scan->n_scattered);
}

static Py_ssize_t
rank(const NamesObject *self, const Scan *scan, Py_ssize_t *out,
     Py_ssize_t wanted)
{
    Py_ssize_t n = 0;

    for (int kind = EXACT; kind < KINDS; kind++)
        n = take_kind(self, scan, (enum kind)kind, out, n, wanted);
    if (n < wanted && scan->n_scattered > 0)
        n = take_scattered(scan, out, n, wanted);
    return n;
}

/* ------------------------------------------------------------ one search */

static Py_ssize_t
hits_of(const Scan *scan)
{
    Py_ssize_t total = scan->n_scattered;

    for (int kind = EXACT; kind < KINDS; kind++)
        total += scan->in_kind[kind];
    return total;
}

/* Scans and ranks without touching Python objects, so without the GIL.
 * Fills *out (PyMem_Raw memory, the caller frees it) with *shown indices
 * and returns the hit count, or -1 when memory runs out. */
static Py_ssize_t
scan_and_rank(const NamesObject *self, const char *query, Py_ssize_t qlen,
              int fuzzy, Py_ssize_t wanted, Py_ssize_t **out,
              Py_ssize_t *shown)
{
    Scan scan = {0};
    Py_ssize_t total = -1;

    scan.kind = PyMem_RawCalloc((size_t)self->count + 1, 1);
    if (scan.kind == NULL)
        goto done;
    scan_substring(self, query, qlen, &scan);
    if (fuzzy && qlen > 1 && scan_scattered(self, query, qlen, &scan) < 0)
        goto done;

    *out = PyMem_RawCalloc((size_t)Py_MIN(wanted, hits_of(&scan)) + 1,
                           sizeof(Py_ssize_t));
    if (*out == NULL)
        goto done;
    *shown = rank(self, &scan, *out, wanted);
    if (*shown >= 0)
        total = hits_of(&scan);

done:
    PyMem_RawFree(scan.kind);
    PyMem_RawFree(scan.scattered);
    return total;
}

/* A list of n ints: indices[0..n), or 0..n-1 when indices is NULL. */
static PyObject *
index_list(const Py_ssize_t *indices, Py_ssize_t n)
{
    PyObject *list = PyList_New(n);

    for (Py_ssize_t i = 0; list != NULL && i < n; i++) {
        PyObject *index = PyLong_FromSsize_t(indices ? indices[i] : i);

        if (index == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, index);
    }
    return list;
}

/* The answer to an empty query: every name matches, in catalogue order. */
static PyObject *
everything(const NamesObject *self, Py_ssize_t wanted)
{
    PyObject *list = index_list(NULL, Py_MIN(wanted, self->count));

    return list == NULL ? NULL : Py_BuildValue("(Nn)", list, self->count);
}

static int
check_query(const char *query, Py_ssize_t qlen)
{
    for (Py_ssize_t at = 0; at < qlen; at++) {
        if (query[at] == '\0' || (unsigned char)query[at] >= 0x80) {
            PyErr_SetString(PyExc_ValueError,
                            "search: the query must be ASCII without NUL; "
                            "search other queries in Python");
            return -1;
        }
    }
    return 0;
}

static PyObject *
Names_search(NamesObject *self, PyObject *args)
{
    PyObject *query_bytes, *list;
    const char *query;
    Py_ssize_t qlen, wanted, total, shown = 0, *out = NULL;
    int fuzzy;

    if (!PyArg_ParseTuple(args, "Spn:search", &query_bytes, &fuzzy, &wanted))
        return NULL;
    if (wanted < 0)
        return PyErr_Format(PyExc_ValueError,
                            "search: wanted must be >= 0, not %zd", wanted);
    query = PyBytes_AS_STRING(query_bytes);
    qlen = PyBytes_GET_SIZE(query_bytes);
    if (check_query(query, qlen) < 0)
        return NULL;
    if (qlen == 0)
        return everything(self, wanted);

    /* SAFETY: without the GIL the scan reads only self's bytes and offsets
     * and the query's bytes: all immutable, and kept alive by the call's own
     * references to self and to the argument tuple until it returns. */
    Py_BEGIN_ALLOW_THREADS
    total = scan_and_rank(self, query, qlen, fuzzy, wanted, &out, &shown);
    Py_END_ALLOW_THREADS

    if (total < 0) {
        PyMem_RawFree(out);
        return PyErr_NoMemory();
    }
    list = index_list(out, shown);
    PyMem_RawFree(out);
    return list == NULL ? NULL : Py_BuildValue("(Nn)", list, total);
}

/* ------------------------------------------------------------ the type */

static Py_ssize_t
count_names(const char *text, Py_ssize_t size)
{
    const char *at = text, *stop = text + size;
    Py_ssize_t count = 0;

    while ((at = memchr(at, '\0', (size_t)(stop - at))) != NULL) {
        count++;
        at++;
    }
    return count;
}

static int
all_ascii(const char *text, Py_ssize_t size)
{
    unsigned char seen = 0;

    for (Py_ssize_t at = 0; at < size; at++)
        seen |= (unsigned char)text[at];
    return seen < 0x80;
}

/* Finds where every name starts; -1 with an exception set on bad input. */
static int
index_names(NamesObject *self)
{
    const char *text = text_of(self);
    Py_ssize_t size = PyBytes_GET_SIZE(self->joined);

    if (size > 0 && text[size - 1] != '\0') {
        PyErr_SetString(PyExc_ValueError,
                        "Names: every name must end with a NUL byte, "
                        "the last one included");
        return -1;
    }
    self->count = count_names(text, size);
    self->ascii = all_ascii(text, size);
    self->starts = PyMem_Calloc((size_t)self->count + 1, sizeof(Py_ssize_t));
    if (self->starts == NULL) {
        PyErr_NoMemory();
        return -1;
    }

    for (Py_ssize_t i = 1; i <= self->count; i++) {
        const char *from = text + self->starts[i - 1];
        const char *end = memchr(from, '\0', (size_t)(text + size - from));

        /* Never NULL: there are `count` NULs, one per name. */
        self->starts[i] = end + 1 - text;
    }
    return 0;
}

static PyObject *
Names_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"joined", NULL};
    PyObject *joined;
    NamesObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "S:Names", keywords, &joined))
        return NULL;
    self = (NamesObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    /* Holding the bytes object rather than a copy: it is immutable, and the
     * caller needs no copy of its own, so the names live here once. */
    self->joined = Py_NewRef(joined);
    if (index_names(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
Names_dealloc(NamesObject *self)
{
    Py_XDECREF(self->joined);
    PyMem_Free(self->starts);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t
Names_length(NamesObject *self)
{
    return self->count;
}

static PyObject *
Names_sizeof(NamesObject *self, PyObject *Py_UNUSED(ignored))
{
    size_t offsets = self->starts ? (size_t)(self->count + 1) : 0;

    return PyLong_FromSize_t((size_t)Py_TYPE(self)->tp_basicsize +
                             offsets * sizeof(Py_ssize_t));
}

PyDoc_STRVAR(search_doc,
"search(query, fuzzy, wanted, /)\n--\n\n"
"Indices of up to `wanted` matching names, best first, and the hit count.\n\n"
"`query` is lowercased ASCII bytes without NUL. Ranked as\n"
"bpftui.core.discovery.search.NameIndex.search ranks them.");

static PyMethodDef Names_methods[] = {
    {"search", (PyCFunction)Names_search, METH_VARARGS, search_doc},
    {"__sizeof__", (PyCFunction)Names_sizeof, METH_NOARGS,
     "Bytes held, the offsets included (the names bytes are shared)."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Names_as_sequence = {
    .sq_length = (lenfunc)Names_length,
};

PyDoc_STRVAR(Names_doc,
"Names(joined, /)\n--\n\n"
"Names ready for search. `joined` holds every name, lowercased and UTF-8\n"
"encoded, each followed by a NUL byte: b'' is no names, b'\\0' one empty\n"
"name.");

static PyTypeObject NamesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bpftui.native._csearch.Names",
    .tp_basicsize = sizeof(NamesObject),
    .tp_dealloc = (destructor)Names_dealloc,
    .tp_as_sequence = &Names_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Names_doc,
    .tp_methods = Names_methods,
    .tp_new = Names_new,
};

/* ------------------------------------------------------------ the module */

static struct PyModuleDef csearch_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bpftui.native._csearch",
    .m_doc = "Name filtering per keystroke in C; see Names.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__csearch(void)
{
    PyObject *module;

    if (PyType_Ready(&NamesType) < 0)
        return NULL;
    module = PyModule_Create(&csearch_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddType(module, &NamesType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
