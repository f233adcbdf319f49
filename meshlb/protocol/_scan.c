/*
 * The head scanners of fastpath.py, in C: the same rules, one pass over the bytes.
 *
 * fastpath.py holds the reference implementation and the reasoning; this file must accept
 * exactly what it accepts and return the same values (tests/protocol/test_fastpath.py runs
 * every case against both). A scanner returns None for any head that is not of the common
 * shape, and the caller takes the general path.
 *
 *   scan_request(head, max_target, max_headers)
 *       -> (method, target, host, content_length or -1, keep_alive, request_id, raw) | None
 *   scan_response(head, max_headers)
 *       -> (status, reason, content_length or -1, keep_alive, raw) | None
 *
 * `head` is a complete head, CRLFCRLF included.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* RFC 9110 §5.6.2 tchar */
static unsigned char tchar[256];
/* field-value bytes the fast path admits: SP, HTAB and visible ASCII (no obs-text) */
static unsigned char vchar[256];

static void init_tables(void) {
    const char *extra = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        tchar[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        vchar[c] = (c >= 0x20 && c <= 0x7e) || c == '\t';
    }
    for (const char *p = extra; *p; p++) tchar[(unsigned char)*p] = 1;
}

static int name_is(const char *name, Py_ssize_t len, const char *lower) {
    Py_ssize_t n = (Py_ssize_t)strlen(lower);
    if (len != n) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != lower[i]) return 0;
    }
    return 1;
}

static int name_starts(const char *name, Py_ssize_t len, const char *lower) {
    Py_ssize_t n = (Py_ssize_t)strlen(lower);
    return len >= n && name_is(name, n, lower);
}

enum { F_PLAIN, F_HOST, F_LENGTH, F_CONNECTION, F_REQUEST_ID, F_REFUSE };

/* The kind of a field name, for requests (request=1) or responses. */
static int field_kind(const char *name, Py_ssize_t len, int request) {
    switch (len) {
    case 2:
        return name_is(name, len, "te") ? F_REFUSE : F_PLAIN;
    case 4:
        if (name_is(name, len, "host")) return request ? F_HOST : F_REFUSE;
        break;
    case 6:
        if (name_is(name, len, "expect")) return request ? F_REFUSE : F_PLAIN;
        break;
    case 7:
        if (name_is(name, len, "upgrade") || name_is(name, len, "trailer")) return F_REFUSE;
        break;
    case 9: /* who the request came from: meshlb rewrites these (proxy/forwarding.py) */
        if (name_is(name, len, "forwarded") || name_is(name, len, "x-real-ip"))
            return request ? F_REFUSE : F_PLAIN;
        break;
    case 10:
        if (name_is(name, len, "connection")) return F_CONNECTION;
        if (name_is(name, len, "keep-alive")) return F_REFUSE;
        break;
    case 12:
        if (name_is(name, len, "x-request-id")) return request ? F_REQUEST_ID : F_PLAIN;
        break;
    case 14:
        if (name_is(name, len, "content-length")) return F_LENGTH;
        break;
    case 15:
        if (name_is(name, len, "x-forwarded-for")) return F_REFUSE;
        break;
    case 17:
        if (name_is(name, len, "transfer-encoding")) return F_REFUSE;
        break;
    }
    if (name_starts(name, len, "proxy-")) return F_REFUSE;
    if (request && name_starts(name, len, "x-forwarded-")) return F_REFUSE;
    return F_PLAIN;
}

/* M1: 1-18 digits, no leading zero unless the value is "0". -2 if not canonical. */
static long long parse_length(const char *v, Py_ssize_t n) {
    if (n < 1 || n > 18 || (v[0] == '0' && n > 1)) return -2;
    long long value = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -2;
        value = value * 10 + (v[i] - '0');
    }
    return value;
}

typedef struct {
    Py_ssize_t host_start, host_end;   /* request: Host value, trailing whitespace kept */
    long long length;                  /* -1 absent */
    Py_ssize_t cut_start, cut_end;     /* the Connection line, -1 if none */
    Py_ssize_t id_start, id_end;       /* request: X-Request-Id, trailing whitespace trimmed */
    int keep_alive;
} fields_t;

/* Scan field lines from `pos` to the final CRLF. 0: of the common shape; -1: refused. */
static int scan_fields(const char *s, Py_ssize_t pos, Py_ssize_t size, int request,
                       Py_ssize_t max_headers, fields_t *out) {
    Py_ssize_t count = 0;
    out->host_start = out->host_end = -1;
    out->length = -1;
    out->cut_start = out->cut_end = -1;
    out->id_start = out->id_end = -1;
    out->keep_alive = 1;
    for (;;) {
        if (pos + 2 > size) return -1;
        if (s[pos] == '\r') {
            /* the empty line: it must end the head */
            return (s[pos + 1] == '\n' && pos + 2 == size) ? 0 : -1;
        }
        Py_ssize_t line = pos;
        while (pos < size && tchar[(unsigned char)s[pos]]) pos++;
        if (pos == line || pos >= size || s[pos] != ':') return -1;
        Py_ssize_t name_len = pos - line;
        pos++;
        Py_ssize_t value_start = pos;
        while (pos < size && vchar[(unsigned char)s[pos]]) pos++;
        if (pos + 1 >= size || s[pos] != '\r' || s[pos + 1] != '\n') return -1;
        Py_ssize_t value_end = pos; /* at the CR */
        pos += 2;
        if (++count > max_headers) return -1;
        int kind = field_kind(s + line, name_len, request);
        if (kind == F_PLAIN) continue;
        if (kind == F_REFUSE) return -1;
        while (value_start < value_end && (s[value_start] == ' ' || s[value_start] == '\t'))
            value_start++;
        if (kind == F_HOST) {
            if (out->host_start >= 0) return -1;
            out->host_start = value_start;
            out->host_end = value_end;
        } else if (kind == F_LENGTH) {
            if (out->length != -1) return -1;
            out->length = parse_length(s + value_start, value_end - value_start);
            if (out->length < 0) return -1;
        } else if (kind == F_REQUEST_ID) {
            if (out->id_start >= 0) return -1;
            Py_ssize_t end = value_end;
            while (end > value_start && (s[end - 1] == ' ' || s[end - 1] == '\t')) end--;
            out->id_start = value_start;
            out->id_end = end;
        } else { /* F_CONNECTION */
            if (out->cut_start >= 0) return -1;
            Py_ssize_t end = value_end;
            while (end > value_start && (s[end - 1] == ' ' || s[end - 1] == '\t')) end--;
            if (name_is(s + value_start, end - value_start, "close"))
                out->keep_alive = 0;
            else if (!name_is(s + value_start, end - value_start, "keep-alive"))
                return -1;
            out->cut_start = line;
            out->cut_end = pos;
        }
    }
}

/* The field lines from `pos`, less the Connection line (hop-by-hop, RFC 9110 §7.6.1). */
static PyObject *raw_fields(const char *s, Py_ssize_t pos, Py_ssize_t size, const fields_t *f) {
    if (f->cut_start < 0) return PyBytes_FromStringAndSize(s + pos, size - 2 - pos);
    Py_ssize_t before = f->cut_start - pos, after = size - 2 - f->cut_end;
    PyObject *raw = PyBytes_FromStringAndSize(NULL, before + after);
    if (raw != NULL) {
        memcpy(PyBytes_AS_STRING(raw), s + pos, before);
        memcpy(PyBytes_AS_STRING(raw) + before, s + f->cut_end, after);
    }
    return raw;
}

static PyObject *scan_request(PyObject *self, PyObject *args) {
    (void)self;
    const char *s;
    Py_ssize_t size, max_target, max_headers;
    if (!PyArg_ParseTuple(args, "y#nn", &s, &size, &max_target, &max_headers)) return NULL;
    Py_ssize_t pos = 0;
    while (pos < size && s[pos] >= 'A' && s[pos] <= 'Z') pos++;
    Py_ssize_t method_end = pos;
    if (method_end == 0 || pos + 1 >= size || s[pos] != ' ' || s[pos + 1] != '/') Py_RETURN_NONE;
    Py_ssize_t target_start = ++pos;
    while (pos < size && s[pos] >= 0x21 && s[pos] <= 0x7e && s[pos] != '#') pos++;
    Py_ssize_t target_end = pos;
    if (target_end - target_start > max_target || size - pos < 11 ||
        memcmp(s + pos, " HTTP/1.1\r\n", 11) != 0)
        Py_RETURN_NONE;
    pos += 11;
    fields_t f;
    if (scan_fields(s, pos, size, 1, max_headers, &f) < 0 || f.host_start < 0) Py_RETURN_NONE;
    PyObject *raw = raw_fields(s, pos, size, &f);
    if (raw == NULL) return NULL;
    PyObject *request_id = Py_None;
    if (f.id_start >= 0) {
        request_id = PyBytes_FromStringAndSize(s + f.id_start, f.id_end - f.id_start);
        if (request_id == NULL) {
            Py_DECREF(raw);
            return NULL;
        }
    } else {
        Py_INCREF(Py_None);
    }
    return Py_BuildValue("(y#y#y#LONN)", s, method_end, s + target_start,
                         target_end - target_start, s + f.host_start,
                         f.host_end - f.host_start, f.length,
                         f.keep_alive ? Py_True : Py_False, request_id, raw);
}

static PyObject *scan_response(PyObject *self, PyObject *args) {
    (void)self;
    const char *s;
    Py_ssize_t size, max_headers;
    if (!PyArg_ParseTuple(args, "y#n", &s, &size, &max_headers)) return NULL;
    if (size < 13 || memcmp(s, "HTTP/1.1 ", 9) != 0 || s[9] < '2' || s[9] > '5' ||
        s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' || s[12] != ' ')
        Py_RETURN_NONE;
    int status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    Py_ssize_t pos = 13;
    while (pos < size && vchar[(unsigned char)s[pos]]) pos++;
    Py_ssize_t reason_end = pos;
    if (pos + 1 >= size || s[pos] != '\r' || s[pos + 1] != '\n') Py_RETURN_NONE;
    pos += 2;
    fields_t f;
    if (scan_fields(s, pos, size, 0, max_headers, &f) < 0) Py_RETURN_NONE;
    if ((status == 204 || status == 304) && f.length >= 0) Py_RETURN_NONE;
    PyObject *raw = raw_fields(s, pos, size, &f);
    if (raw == NULL) return NULL;
    return Py_BuildValue("(iy#LON)", status, s + 13, reason_end - 13, f.length,
                         f.keep_alive ? Py_True : Py_False, raw);
}

static PyMethodDef methods[] = {
    {"scan_request", scan_request, METH_VARARGS, "Scan a common request head, or None."},
    {"scan_response", scan_response, METH_VARARGS, "Scan a common response head, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "meshlb.protocol._scan", "C head scanners for fastpath.py.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) {
    init_tables();
    return PyModule_Create(&module);
}
