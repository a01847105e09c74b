/*
 * mock.c: the mock payment scheme of iotp-rs (core/src/payapi/mock.rs) as a C plugin, written
 * against include/iotp_plugin.h only (C99 and libc).
 *
 * It behaves as the Rust MockScheme call for call: protocol x-iotp-mock, brand x-mockcard, the
 * instruments approve, decline-<Code>, extra-round and timeout, the same PackagedContent names
 * and `key=value;...` texts, the same payment records in the host's key-value space (a store
 * written by one can be read by the other), the same RFC 3867 calls, and response documents
 * written byte for byte as core/src/payapi/documents.rs writes them. Only its software id
 * differs: "iotp-rs C mock scheme 1.0". See README.md beside this file for what differs.
 *
 * The wire: each call receives an IotpPaymentApiRequest document and returns an
 * IotpPaymentApiResponse document. The reader below is small and bounded: UTF-8 only, at most
 * 4 MiB (MsgTooLarge above), 64 levels of elements, 64 attributes per element, the five
 * built-in entities and character references, CDATA, comments and processing instructions
 * skipped, no DTD internal subset. A document it cannot read gets an ErrorResponse with
 * ErrorCode SyntaxError; a call the mock does not implement gets ReqNotSupp.
 *
 * Host services: kv_get/kv_put/kv_insert_if_absent/kv_delete hold the payment records (a
 * Payment Handler's payment is inserted if absent: never authorised twice), callback reports
 * progress while authorising (a cancel reply declines the payment), log reports each payment,
 * now_unix_millis dates that report, random draws the challenges.
 *
 * Thread-safe: every call works on its own memory (an arena freed when the call returns); the
 * only global is the host services table kept by the first start, never written afterwards.
 */
#include <stdarg.h>
#include <string.h>

#include "iotp_plugin.h"

#define SOFTWARE_ID "iotp-rs C mock scheme 1.0"
#define PROTOCOL_ID "x-iotp-mock"
#define BRAND_ID "x-mockcard"
#define AUTH_ALGORITHM "x-iotp-mock-challenge"
#define NAMESPACE "http://www.iotp.org/2000/08/PaymentAPI"
#define DECLARATION "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

/* The reader's limits (those of iotp::xml::Limits::default()). */
#define MAX_DOCUMENT_BYTES (4u * 1024u * 1024u)
#define MAX_DEPTH 64
#define MAX_ATTRIBUTES 64

/* The completion codes a decline-<Code> instrument produces (mock.rs DECLINE_CODES). */
static const char *const DECLINE_CODES[] = {
    "BrandNotSupp", "CurrNotSupp", "AuthError", "InsuffFunds",
    "InstBrandInvalid", "InstNotValid", "BadInstrument", "Unspecified",
};
#define DECLINE_COUNT (sizeof DECLINE_CODES / sizeof DECLINE_CODES[0])

/* ------------------------------------------------------------------------------------------ */
/* Descriptor and claims */

#define CALL(name) " <Call Name=\"" name "\"/>\n"
#define DECLINE(code) \
    " <TestInstrument Id=\"decline-" code "\" ProcessState=\"Failed\"" \
    " CompletionCode=\"" code "\"/>\n"

/* The IotpPluginClaims document: MockScheme::claims().to_xml() with this plugin's SoftwareId. */
static const char CLAIMS[] =
    DECLARATION
    "<IotpPluginClaims xmlns=\"urn:iotp-rs:plugin-claims:1\" SoftwareId=\"" SOFTWARE_ID "\">\n"
    " <Role Name=\"Consumer\"/>\n"
    " <Role Name=\"Merchant\"/>\n"
    " <Role Name=\"PaymentHandler\"/>\n"
    " <Protocol Id=\"" PROTOCOL_ID "\"/>\n"
    " <Brand Id=\"" BRAND_ID "\"/>\n"
    " <Direction Name=\"Debit\"/>\n"
    " <Direction Name=\"Credit\"/>\n"
    " <AuthAlgorithm Name=\"" AUTH_ALGORITHM "\"/>\n"
    CALL("FindAcceptedPaymentBrand")
    CALL("FindAcceptedPaymentProtocol")
    CALL("GetPaymentInitializationData")
    CALL("InquireAuthChallenge")
    CALL("Authenticate")
    CALL("CheckAuthResponse")
    CALL("FindPaymentInstrument")
    CALL("CheckPaymentPossibility")
    CALL("StartPaymentConsumer")
    CALL("StartPaymentInquiry")
    CALL("StartPaymentPaymentHandler")
    CALL("InquirePaymentStatus")
    CALL("ContinueProcess")
    CALL("ChangeProcessState")
    CALL("InquireProcessState")
    CALL("CheckPaymentReceipt")
    CALL("ExpandPaymentReceipt")
    CALL("RemovePaymentLog")
    " <TestInstrument Id=\"approve\" ProcessState=\"CompletedOk\"/>\n"
    " <TestInstrument Id=\"extra-round\" ProcessState=\"CompletedOk\" ExchangeRounds=\"1\"/>\n"
    " <TestInstrument Id=\"timeout\" ProcessState=\"Failed\" Transient=\"true\"/>\n"
    DECLINE("BrandNotSupp")
    DECLINE("CurrNotSupp")
    DECLINE("AuthError")
    DECLINE("InsuffFunds")
    DECLINE("InstBrandInvalid")
    DECLINE("InstNotValid")
    DECLINE("BadInstrument")
    DECLINE("Unspecified")
    "</IotpPluginClaims>\n";

const IotpPluginDescriptor iotp_plugin_descriptor = {
    sizeof(IotpPluginDescriptor), IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_KIND_PAYMENT_SCHEME,
    "mock-c", "1.0.0", CLAIMS,
};

/* The host's services: the table of the first start (see iotp_plugin_entry). */
static const IotpHostServices *host;

/* ------------------------------------------------------------------------------------------ */
/* Memory: a growing byte buffer (the response, scratch text), and a per-call arena */

typedef struct {
    char *p;
    size_t len;
    size_t cap;
    int oom;
} buf;

static void put(buf *b, const void *bytes, size_t n) {
    if (b->oom || n == 0) {
        return;
    }
    if (n > (size_t)-1 - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        char *grown;
        while (cap < b->len + n) {
            if (cap > (size_t)-1 / 2) {
                cap = b->len + n;
                break;
            }
            cap *= 2;
        }
        grown = realloc(b->p, cap);
        if (grown == NULL) {
            b->oom = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, bytes, n);
    b->len += n;
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void putc_(buf *b, char c) { put(b, &c, 1); }

static void buf_free(buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Alignment for arena blocks. */
typedef union {
    long double ld;
    long long ll;
    void *p;
    double d;
} align_t;

typedef struct chunk {
    struct chunk *next;
    size_t used;
    size_t cap;
    align_t data[];
} chunk;

/* Everything a call allocates but the response: freed at once when the call returns. */
typedef struct {
    chunk *head;
    int oom;
} arena;

#define CHUNK_BYTES 16384u

static void *arena_alloc(arena *a, size_t n) {
    char *block;
    if (a->oom) {
        return NULL;
    }
    if (n > (size_t)-1 - 2 * sizeof(align_t) - sizeof(chunk)) {
        a->oom = 1;
        return NULL;
    }
    n = (n + sizeof(align_t) - 1) / sizeof(align_t) * sizeof(align_t);
    if (n == 0) {
        n = sizeof(align_t);
    }
    if (a->head == NULL || a->head->cap - a->head->used < n) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        chunk *k = malloc(sizeof(chunk) + cap);
        if (k == NULL) {
            a->oom = 1;
            return NULL;
        }
        k->used = 0;
        k->cap = cap;
        if (a->head != NULL && n > CHUNK_BYTES) {
            /* A large block of its own: keep filling the current chunk. */
            k->next = a->head->next;
            a->head->next = k;
            k->used = n;
            return (char *)k->data;
        }
        k->next = a->head;
        a->head = k;
    }
    block = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return block;
}

static void arena_free(arena *a) {
    while (a->head != NULL) {
        chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* A nul-terminated copy of n bytes; "" when memory ran out (the call then fails). */
static char *arena_strndup(arena *a, const char *s, size_t n) {
    char *copy = arena_alloc(a, n + 1);
    if (copy == NULL) {
        return (char *)"";
    }
    if (n > 0) {
        memcpy(copy, s, n);
    }
    copy[n] = '\0';
    return copy;
}

/* Bytes that are not nul-terminated: PackagedContent text, kv values, `key=value` fields. */
typedef struct {
    const char *p;
    size_t n;
} slice;

/* ------------------------------------------------------------------------------------------ */
/* Characters */

static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* XML NameStartChar and NameChar, approximated for non-ASCII (any byte of a multi-byte
 * character is accepted: the document is valid UTF-8 already). */
static int is_name_start(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

static int is_name_char(int c) {
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Valid UTF-8; with `xml`, only characters XML allows (no C0 controls but tab, LF and CR, no
 * U+FFFE nor U+FFFF). */
static int utf8_ok(const uint8_t *s, size_t n, int xml) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (xml && c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                return 0;
            }
            i++;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) {
                return 0;
            }
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
            uint8_t hi = c == 0xED ? 0x9F : 0xBF;
            if (i + 2 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80) {
                return 0;
            }
            if (xml && c == 0xEF && s[i + 1] == 0xBF && (s[i + 2] == 0xBE || s[i + 2] == 0xBF)) {
                return 0;
            }
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
            uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
            if (i + 3 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80
                || (s[i + 3] & 0xC0) != 0x80) {
                return 0;
            }
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static void put_utf8(buf *b, uint32_t cp) {
    char out[4];
    if (cp < 0x80) {
        out[0] = (char)cp;
        put(b, out, 1);
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        put(b, out, 2);
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        put(b, out, 3);
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        put(b, out, 4);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The XML reader: a whole document into a tree of elements in the arena */

typedef struct xattr {
    const char *name;
    const char *value; /* decoded, nul-terminated (XML forbids NUL, so none inside) */
    struct xattr *next;
} xattr;

typedef struct xel {
    const char *name;
    xattr *attrs;
    struct xel *children; /* element children, in document order */
    struct xel *next;
    const char *text; /* the element's own character data, concatenated */
    size_t text_len;
} xel;

typedef struct {
    const uint8_t *s;
    size_t n;
    size_t i;
    size_t start; /* after a byte order mark */
    arena *a;
    buf scratch; /* attribute values being decoded */
    const char *error;
    size_t error_at;
} parser;

static int perr(parser *p, const char *reason) {
    if (p->error == NULL) {
        p->error = reason;
        p->error_at = p->i;
    }
    return 0;
}

static int starts(const parser *p, const char *s) {
    size_t n = strlen(s);
    return p->n - p->i >= n && memcmp(p->s + p->i, s, n) == 0;
}

/* The position of `s` at or after `from`, or p->n. */
static size_t find(const parser *p, size_t from, const char *s) {
    size_t n = strlen(s);
    size_t i;
    if (p->n < n) {
        return p->n;
    }
    for (i = from; i + n <= p->n; i++) {
        if (p->s[i] == (uint8_t)s[0] && memcmp(p->s + i, s, n) == 0) {
            return i;
        }
    }
    return p->n;
}

static void skip_ws(parser *p) {
    while (p->i < p->n && is_ws(p->s[p->i])) {
        p->i++;
    }
}

static int read_name(parser *p, size_t *start, size_t *len) {
    size_t i = p->i;
    if (i >= p->n || !is_name_start(p->s[i])) {
        return 0;
    }
    while (i < p->n && is_name_char(p->s[i])) {
        i++;
    }
    *start = p->i;
    *len = i - p->i;
    p->i = i;
    return 1;
}

static int xml_char(uint32_t cp) {
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF)
           || (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* At '&' in s[*i..end): appends the character the reference stands for. */
static int read_reference(parser *p, size_t *i, size_t end, buf *out) {
    static const struct {
        const char *name;
        char c;
    } builtin[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"apos", '\''}, {"quot", '"'}};
    size_t j = *i + 1;
    size_t semi = j;
    while (semi < end && semi - j <= 12 && p->s[semi] != ';') {
        semi++;
    }
    if (semi >= end || p->s[semi] != ';') {
        return perr(p, "an entity or character reference without `;`");
    }
    if (j < semi && p->s[j] == '#') {
        uint32_t cp = 0;
        int hex = j + 1 < semi && p->s[j + 1] == 'x';
        size_t k = j + 1 + (hex ? 1 : 0);
        if (k >= semi) {
            return perr(p, "an empty character reference");
        }
        for (; k < semi; k++) {
            uint8_t c = p->s[k];
            uint32_t d;
            if (c >= '0' && c <= '9') {
                d = (uint32_t)(c - '0');
            } else if (hex && c >= 'a' && c <= 'f') {
                d = (uint32_t)(c - 'a' + 10);
            } else if (hex && c >= 'A' && c <= 'F') {
                d = (uint32_t)(c - 'A' + 10);
            } else {
                return perr(p, "an invalid character reference");
            }
            cp = cp * (hex ? 16u : 10u) + d;
            if (cp > 0x10FFFF) {
                return perr(p, "an invalid character reference");
            }
        }
        if (!xml_char(cp)) {
            return perr(p, "a character reference to a character XML does not allow");
        }
        put_utf8(out, cp);
    } else {
        size_t k;
        for (k = 0; k < sizeof builtin / sizeof builtin[0]; k++) {
            if (strlen(builtin[k].name) == semi - j
                && memcmp(p->s + j, builtin[k].name, semi - j) == 0) {
                break;
            }
        }
        if (k == sizeof builtin / sizeof builtin[0]) {
            return perr(p, "an undefined entity (only the XML built-ins are allowed)");
        }
        putc_(out, builtin[k].c);
    }
    *i = semi + 1;
    return 1;
}

/* Character data s[from..to) with line ends normalised (CR LF and CR become LF). */
static void put_text(buf *out, const uint8_t *s, size_t from, size_t to) {
    size_t start = from;
    size_t i;
    for (i = from; i < to; i++) {
        if (s[i] == '\r') {
            put(out, s + start, i - start);
            putc_(out, '\n');
            if (i + 1 < to && s[i + 1] == '\n') {
                i++;
            }
            start = i + 1;
        }
    }
    put(out, s + start, to - start);
}

/* At a comment, a processing instruction or a DOCTYPE: skips it. A DOCTYPE is allowed only
 * before the root element, and without internal subset (no DTD, no entities). */
static int skip_markup(parser *p, int before_root) {
    if (starts(p, "<?")) {
        size_t at = p->i;
        size_t target, target_len, end;
        p->i += 2;
        if (!read_name(p, &target, &target_len)) {
            return perr(p, "a processing instruction without target");
        }
        end = find(p, p->i, "?>");
        if (end >= p->n) {
            return perr(p, "an unterminated processing instruction");
        }
        if (target_len == 3 && (p->s[target] | 0x20) == 'x' && (p->s[target + 1] | 0x20) == 'm'
            && (p->s[target + 2] | 0x20) == 'l' && at > p->start) {
            p->i = at;
            return perr(p, "an XML declaration not at the start");
        }
        p->i = end + 2;
    } else if (starts(p, "<!--")) {
        size_t end = find(p, p->i + 4, "--");
        if (end >= p->n || end + 2 >= p->n || p->s[end + 2] != '>') {
            return perr(p, "an unterminated comment, or `--` in a comment");
        }
        p->i = end + 3;
    } else if (starts(p, "<!DOCTYPE")) {
        size_t i = p->i;
        if (!before_root) {
            return perr(p, "a DOCTYPE after the root element");
        }
        while (i < p->n && p->s[i] != '>' && p->s[i] != '[') {
            i++;
        }
        if (i >= p->n || p->s[i] == '[') {
            return perr(p, "a DTD internal subset (no DTD, no entities)");
        }
        p->i = i + 1;
    } else {
        return perr(p, "markup that is not allowed here");
    }
    return 1;
}

/* Skips whitespace, comments, processing instructions (and a DOCTYPE before the root). */
static int skip_misc(parser *p, int before_root) {
    for (;;) {
        skip_ws(p);
        if (!starts(p, "<?") && !starts(p, "<!")) {
            return 1;
        }
        if (!skip_markup(p, before_root)) {
            return 0;
        }
    }
}

static const char *text_of(parser *p, buf *b) {
    if (b->oom) {
        p->a->oom = 1;
    }
    return arena_strndup(p->a, b->p != NULL ? b->p : "", b->len);
}

/* An element at '<', with its attributes and content. */
static xel *read_element(parser *p, int depth) {
    xel *e;
    xel **tail;
    xattr **attr_tail;
    size_t name_at, name_len;
    size_t count = 0;
    buf text = {NULL, 0, 0, 0};
    if (depth > MAX_DEPTH) {
        perr(p, "elements nested too deep");
        return NULL;
    }
    p->i++;
    if (!read_name(p, &name_at, &name_len)) {
        perr(p, "an invalid element name");
        return NULL;
    }
    e = arena_alloc(p->a, sizeof *e);
    if (e == NULL) {
        return NULL;
    }
    memset(e, 0, sizeof *e);
    e->name = arena_strndup(p->a, (const char *)p->s + name_at, name_len);
    e->text = "";
    tail = &e->children;
    attr_tail = &e->attrs;

    /* Attributes, up to `>` or `/>`. */
    for (;;) {
        size_t attr_at, attr_len, value_end, i;
        uint8_t quote;
        xattr *a;
        xattr *other;
        skip_ws(p);
        if (p->i >= p->n) {
            perr(p, "the document ends in a start tag");
            return NULL;
        }
        if (p->s[p->i] == '>') {
            p->i++;
            break;
        }
        if (starts(p, "/>")) {
            p->i += 2;
            return e;
        }
        if (!read_name(p, &attr_at, &attr_len)) {
            perr(p, "an invalid attribute name");
            return NULL;
        }
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != '=') {
            perr(p, "an attribute without `=`");
            return NULL;
        }
        p->i++;
        skip_ws(p);
        if (p->i >= p->n || (p->s[p->i] != '"' && p->s[p->i] != '\'')) {
            perr(p, "an attribute value not in quotes");
            return NULL;
        }
        quote = p->s[p->i++];
        value_end = p->i;
        while (value_end < p->n && p->s[value_end] != quote) {
            value_end++;
        }
        if (value_end >= p->n) {
            perr(p, "an unterminated attribute value");
            return NULL;
        }
        /* Decoded: references replaced, whitespace normalised to spaces. */
        p->scratch.len = 0;
        for (i = p->i; i < value_end;) {
            uint8_t c = p->s[i];
            if (c == '<') {
                p->i = i;
                perr(p, "`<` in an attribute value");
                return NULL;
            } else if (c == '&') {
                if (!read_reference(p, &i, value_end, &p->scratch)) {
                    return NULL;
                }
            } else if (c == '\r' || c == '\n' || c == '\t') {
                putc_(&p->scratch, ' ');
                i += c == '\r' && i + 1 < value_end && p->s[i + 1] == '\n' ? 2 : 1;
            } else {
                size_t run = i;
                while (run < value_end && p->s[run] != '<' && p->s[run] != '&' && p->s[run] != '\r'
                       && p->s[run] != '\n' && p->s[run] != '\t') {
                    run++;
                }
                put(&p->scratch, p->s + i, run - i);
                i = run;
            }
        }
        p->i = value_end + 1;
        if (++count > MAX_ATTRIBUTES) {
            perr(p, "too many attributes");
            return NULL;
        }
        a = arena_alloc(p->a, sizeof *a);
        if (a == NULL) {
            return NULL;
        }
        a->name = arena_strndup(p->a, (const char *)p->s + attr_at, attr_len);
        a->value = text_of(p, &p->scratch);
        a->next = NULL;
        for (other = e->attrs; other != NULL; other = other->next) {
            if (strcmp(other->name, a->name) == 0) {
                perr(p, "a duplicated attribute");
                return NULL;
            }
        }
        *attr_tail = a;
        attr_tail = &a->next;
    }

    /* Content, up to the end tag. */
    for (;;) {
        if (p->i >= p->n) {
            perr(p, "an element without end tag");
            break;
        }
        if (p->s[p->i] == '<') {
            if (starts(p, "</")) {
                size_t end_at, end_len;
                p->i += 2;
                if (!read_name(p, &end_at, &end_len) || end_len != name_len
                    || memcmp(p->s + end_at, p->s + name_at, name_len) != 0) {
                    perr(p, "an end tag that does not match its start tag");
                    break;
                }
                skip_ws(p);
                if (p->i >= p->n || p->s[p->i] != '>') {
                    perr(p, "an unterminated end tag");
                    break;
                }
                p->i++;
                e->text = text_of(p, &text);
                e->text_len = text.len;
                buf_free(&text);
                return e;
            } else if (starts(p, "<![CDATA[")) {
                size_t end = find(p, p->i + 9, "]]>");
                if (end >= p->n) {
                    perr(p, "an unterminated CDATA section");
                    break;
                }
                put_text(&text, p->s, p->i + 9, end);
                p->i = end + 3;
            } else if (starts(p, "<?") || starts(p, "<!")) {
                if (!skip_markup(p, 0)) {
                    break;
                }
            } else {
                xel *child = read_element(p, depth + 1);
                if (child == NULL) {
                    break;
                }
                *tail = child;
                tail = &child->next;
            }
        } else if (p->s[p->i] == '&') {
            if (!read_reference(p, &p->i, p->n, &text)) {
                break;
            }
        } else {
            size_t run = p->i;
            while (run < p->n && p->s[run] != '<' && p->s[run] != '&') {
                run++;
            }
            put_text(&text, p->s, p->i, run);
            p->i = run;
        }
    }
    buf_free(&text);
    return NULL;
}

/* The root element of a document, or NULL with p->error (or p->a->oom) set. */
static xel *read_document(parser *p) {
    xel *root;
    if (p->n >= 3 && memcmp(p->s, "\xEF\xBB\xBF", 3) == 0) {
        p->i = p->start = 3;
    }
    if (!utf8_ok(p->s + p->i, p->n - p->i, 1)) {
        perr(p, "not UTF-8, or a character XML does not allow");
        return NULL;
    }
    if (!skip_misc(p, 1)) {
        return NULL;
    }
    if (p->i >= p->n || p->s[p->i] != '<') {
        perr(p, p->i >= p->n ? "no root element" : "text outside the root element");
        return NULL;
    }
    root = read_element(p, 1);
    if (root == NULL) {
        if (p->error == NULL && !p->a->oom) {
            perr(p, "an unreadable element");
        }
        return NULL;
    }
    if (!skip_misc(p, 0)) {
        return NULL;
    }
    if (p->i < p->n) {
        perr(p, "content after the root element");
        return NULL;
    }
    return root;
}

static const char *attribute(const xel *e, const char *name) {
    const xattr *a;
    for (a = e->attrs; a != NULL; a = a->next) {
        if (strcmp(a->name, name) == 0) {
            return a->value;
        }
    }
    /* The RFC spells it both ways. */
    if (strcmp(name, "WalletID") == 0) {
        return attribute(e, "WalletId");
    }
    return NULL;
}

static const xel *child_named(const xel *e, const char *name) {
    const xel *c;
    for (c = e->children; c != NULL; c = c->next) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The writer: escapes as core/src/xml/writer.rs does */

static void put_escaped(buf *b, const char *s, size_t n, int in_attribute) {
    size_t start = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        const char *r = NULL;
        switch (s[i]) {
        case '&':
            r = "&amp;";
            break;
        case '<':
            r = "&lt;";
            break;
        case '>':
            r = in_attribute ? NULL : "&gt;";
            break;
        case '"':
            r = in_attribute ? "&quot;" : NULL;
            break;
        case '\t':
            r = in_attribute ? "&#9;" : NULL;
            break;
        case '\n':
            r = in_attribute ? "&#10;" : NULL;
            break;
        case '\r':
            r = "&#13;";
            break;
        default:
            break;
        }
        if (r != NULL) {
            put(b, s + start, i - start);
            puts_(b, r);
            start = i + 1;
        }
    }
    put(b, s + start, n - start);
}

/* `<name` */
static void open_tag(buf *b, const char *name) {
    putc_(b, '<');
    puts_(b, name);
}

/* ` name="value"` */
static void attr(buf *b, const char *name, const char *value) {
    putc_(b, ' ');
    puts_(b, name);
    puts_(b, "=\"");
    put_escaped(b, value, strlen(value), 1);
    putc_(b, '"');
}

static void end_tag(buf *b, const char *name) {
    puts_(b, "</");
    puts_(b, name);
    putc_(b, '>');
}

static const char BASE64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_base64(buf *b, const uint8_t *data, size_t n) {
    size_t i;
    for (i = 0; i + 2 < n; i += 3) {
        char q[4];
        q[0] = BASE64[data[i] >> 2];
        q[1] = BASE64[((data[i] & 3) << 4) | (data[i + 1] >> 4)];
        q[2] = BASE64[((data[i + 1] & 15) << 2) | (data[i + 2] >> 6)];
        q[3] = BASE64[data[i + 2] & 63];
        put(b, q, 4);
    }
    if (n - i == 1) {
        char q[4];
        q[0] = BASE64[data[i] >> 2];
        q[1] = BASE64[(data[i] & 3) << 4];
        q[2] = q[3] = '=';
        put(b, q, 4);
    } else if (n - i == 2) {
        char q[4];
        q[0] = BASE64[data[i] >> 2];
        q[1] = BASE64[((data[i] & 3) << 4) | (data[i + 1] >> 4)];
        q[2] = BASE64[(data[i + 1] & 15) << 2];
        q[3] = '=';
        put(b, q, 4);
    }
}

/* A PackagedContent under `tag`, as documents.rs put_pc writes it: Name, Content unless PCDATA,
 * Transform unless NONE; the text, or base64 of the bytes. */
static void put_pc_full(buf *b, const char *tag, const char *name, const char *content,
                        int base64, const uint8_t *data, size_t n) {
    open_tag(b, tag);
    if (name != NULL) {
        attr(b, "Name", name);
    }
    if (content != NULL && strcmp(content, "PCDATA") != 0) {
        attr(b, "Content", content);
    }
    if (base64) {
        attr(b, "Transform", "BASE64");
    }
    if (n == 0) {
        puts_(b, "/>");
        return;
    }
    putc_(b, '>');
    if (base64) {
        put_base64(b, data, n);
    } else {
        put_escaped(b, (const char *)data, n, 0);
    }
    end_tag(b, tag);
}

/* A named PCDATA PackagedContent holding `text`. */
static void put_pc(buf *b, const char *tag, const char *name, const char *text) {
    put_pc_full(b, tag, name, NULL, 0, (const uint8_t *)text, strlen(text));
}

/* ------------------------------------------------------------------------------------------ */
/* A call: its arena, its error */

typedef struct {
    void *call_ctx;
    arena a;
    /* The ErrorResponse, when `failed`. */
    int failed;
    const char *code;
    const char *severity;
    const char *desc;
    const char *retry; /* MinRetrySecs, or NULL */
    const char *loc_element;
    const char *loc_att;
} ctx;

/* The concatenation of the strings up to NULL, in the arena. */
static const char *cat(ctx *c, ...) {
    va_list args;
    size_t n = 0;
    const char *s;
    char *out;
    char *w;
    va_start(args, c);
    while ((s = va_arg(args, const char *)) != NULL) {
        n += strlen(s);
    }
    va_end(args);
    out = arena_alloc(&c->a, n + 1);
    if (out == NULL) {
        return "";
    }
    w = out;
    va_start(args, c);
    while ((s = va_arg(args, const char *)) != NULL) {
        size_t len = strlen(s);
        memcpy(w, s, len);
        w += len;
    }
    va_end(args);
    *w = '\0';
    return out;
}

static const char *number(ctx *c, uint64_t v) {
    char digits[24];
    size_t i = sizeof digits;
    digits[--i] = '\0';
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return arena_strndup(&c->a, digits + i, sizeof digits - 1 - i);
}

static const char *sdup(ctx *c, slice s) { return arena_strndup(&c->a, s.p, s.n); }

/* Sets the call's error (the first one wins); returns -1 for `return fail(...)`. */
static int fail(ctx *c, const char *code, const char *severity, const char *desc) {
    if (!c->failed) {
        c->failed = 1;
        c->code = code;
        c->severity = severity;
        c->desc = desc;
    }
    return -1;
}

static int fail_at(ctx *c, const char *code, const char *desc, const char *element,
                   const char *att) {
    if (!c->failed) {
        fail(c, code, "HardError", desc);
        c->loc_element = element;
        c->loc_att = att;
    }
    return -1;
}

/* ApiError::illegal_value: AttValIllegal on an attribute of the request. */
static int illegal_value(ctx *c, const char *att, const char *desc) {
    return fail_at(c, "AttValIllegal", desc, "IotpPaymentApiRequest", att);
}

/* mock.rs encap_error: EncapProtErr located at the PaySchemeData. */
static int encap_error(ctx *c, const char *desc) {
    return fail_at(c, "EncapProtErr", desc, "PaySchemeData", NULL);
}

static int transient(ctx *c, const char *code, const char *retry, const char *desc) {
    if (!c->failed) {
        fail(c, code, "TransientError", desc);
        c->retry = retry;
    }
    return -1;
}

/* ApiError::business: BusError, the core asks InquireProcessState. */
static int business(ctx *c, const char *desc) { return fail(c, "BusError", "HardError", desc); }

/* A host service failed: as the engine's host reports a store error. */
static int host_failed(ctx *c, const char *service, IotpStatus status) {
    return transient(c, "SystemBusy", "5",
                     cat(c, "the host's ", service, " failed with status ",
                         number(c, status), (const char *)NULL));
}

/* ------------------------------------------------------------------------------------------ */
/* Validation: what documents.rs decode_request checks, in its order */

static const char *const PAY_DIRECTIONS[] = {"Debit", "Credit", NULL};
static const char *const PROCESS_TYPES[] = {"Payment", "Inquiry", NULL};
static const char *const SEVERITIES[] = {"Warning", "TransientError", "HardError", NULL};
static const char *const PAYMENT_STATES[] = {
    "NotYetStarted", "InProgress", "CompletedOk", "Failed", "ProcessError", "Suspended", NULL,
};
static const char *const ALGORITHM_TYPES[] = {"digest", "signature", NULL};

/* The first 64 characters of a value, for error descriptions. */
static const char *shown(ctx *c, const char *value) {
    size_t i = 0;
    int chars = 0;
    while (value[i] != '\0') {
        if (((uint8_t)value[i] & 0xC0) != 0x80 && chars++ == 64) {
            break;
        }
        i++;
    }
    return arena_strndup(&c->a, value, i);
}

static int missing(ctx *c, const xel *e, const char *att) {
    return fail_at(c, "AttMissing",
                   cat(c, e->name, " has no ", att, " attribute", (const char *)NULL), e->name,
                   att);
}

static int illegal(ctx *c, const xel *e, const char *att, const char *value) {
    return fail_at(c, "AttValIllegal",
                   cat(c, e->name, "/@", att, ": \"", shown(c, value), "\" is not a legal value",
                       (const char *)NULL),
                   e->name, att);
}

static int required(ctx *c, const xel *e, const char *att) {
    return attribute(e, att) != NULL ? 0 : missing(c, e, att);
}

/* A closed list: required, or optional (absent is fine). */
static int one_of(ctx *c, const xel *e, const char *att, const char *const *values, int needed) {
    const char *v = attribute(e, att);
    size_t i;
    if (v == NULL) {
        return needed ? missing(c, e, att) : 0;
    }
    for (i = 0; values[i] != NULL; i++) {
        if (strcmp(v, values[i]) == 0) {
            return 0;
        }
    }
    return illegal(c, e, att, v);
}

/* A PackagedContent as read: documents.rs get_pc. */
typedef struct {
    const char *name;    /* NULL when absent */
    const char *content; /* NULL when absent (PCDATA) */
    int base64;
    const uint8_t *data;
    size_t len;
} pc;

static int b64_value(uint8_t ch) {
    const char *at;
    if (ch == '\0' || ch == '=') {
        return -1;
    }
    at = strchr(BASE64, ch);
    return at == NULL ? -1 : (int)(at - BASE64);
}

/* Standard base64 with canonical padding, ASCII whitespace ignored (as the base64 crate's
 * STANDARD engine after documents.rs removes whitespace). */
static int base64_decode(ctx *c, const char *text, size_t n, const uint8_t **out, size_t *out_len) {
    size_t m = 0;
    size_t i;
    size_t pads = 0;
    uint8_t *bytes;
    uint8_t *w;
    uint32_t acc = 0;
    size_t seen = 0;
    char *compact = arena_alloc(&c->a, n + 1);
    if (compact == NULL) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char ch = text[i];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\f' && ch != '\r') {
            compact[m++] = ch;
        }
    }
    if (m % 4 != 0) {
        return 0;
    }
    if (m > 0 && compact[m - 1] == '=') {
        pads = m > 1 && compact[m - 2] == '=' ? 2 : 1;
    }
    bytes = arena_alloc(&c->a, m / 4 * 3 + 1);
    if (bytes == NULL) {
        return 0;
    }
    w = bytes;
    for (i = 0; i < m - pads; i++) {
        int v = b64_value((uint8_t)compact[i]);
        if (v < 0) {
            return 0;
        }
        acc = (acc << 6) | (uint32_t)v;
        if (++seen == 4) {
            *w++ = (uint8_t)(acc >> 16);
            *w++ = (uint8_t)(acc >> 8);
            *w++ = (uint8_t)acc;
            acc = 0;
            seen = 0;
        }
    }
    if (pads == 1) { /* three symbols: two bytes, the last two bits zero */
        if ((acc & 3) != 0) {
            return 0;
        }
        *w++ = (uint8_t)(acc >> 10);
        *w++ = (uint8_t)(acc >> 2);
    } else if (pads == 2) { /* two symbols: one byte, the last four bits zero */
        if ((acc & 15) != 0) {
            return 0;
        }
        *w++ = (uint8_t)(acc >> 4);
    }
    *out = bytes;
    *out_len = (size_t)(w - bytes);
    return 1;
}

static int read_pc(ctx *c, const xel *e, pc *out) {
    const char *transform = attribute(e, "Transform");
    out->base64 = 0;
    if (transform != NULL && strcmp(transform, "BASE64") == 0) {
        out->base64 = 1;
    } else if (transform != NULL && strcmp(transform, "NONE") != 0) {
        return illegal(c, e, "Transform", transform);
    }
    if (e->children != NULL) {
        return fail_at(c, "ElContIllegal",
                       cat(c, e->name, " holds elements; PackagedContent is text",
                           (const char *)NULL),
                       e->name, NULL);
    }
    if (out->base64) {
        if (!base64_decode(c, e->text, e->text_len, &out->data, &out->len)) {
            return fail_at(c, "ElContIllegal",
                           cat(c, e->name, " with Transform=\"BASE64\" is not base64",
                               (const char *)NULL),
                           e->name, NULL);
        }
    } else {
        out->data = (const uint8_t *)e->text;
        out->len = e->text_len;
    }
    out->name = attribute(e, "Name");
    out->content = attribute(e, "Content");
    return 0;
}

/* Every PackagedContent child named `tag` (or `alias`). */
static int check_pcs(ctx *c, const xel *e, const char *tag, const char *alias) {
    const xel *k;
    for (k = e->children; k != NULL; k = k->next) {
        pc ignored;
        if ((strcmp(k->name, tag) == 0 || (alias != NULL && strcmp(k->name, alias) == 0))
            && read_pc(c, k, &ignored) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The text of the first PackagedContent under `tag` named `name` (mock.rs content): none when
 * there is no such content or its bytes are not UTF-8 (or hold a NUL, which C strings cannot). */
static int content(ctx *c, const xel *call, const char *tag, const char *name, slice *text) {
    const xel *k;
    for (k = call->children; k != NULL; k = k->next) {
        pc p;
        if (strcmp(k->name, tag) != 0 || read_pc(c, k, &p) != 0) {
            continue;
        }
        if (p.name != NULL && strcmp(p.name, name) == 0) {
            if (!utf8_ok(p.data, p.len, 0) || memchr(p.data, '\0', p.len) != NULL) {
                return 0;
            }
            text->p = p.len > 0 ? (const char *)p.data : "";
            text->n = p.len;
            return 1;
        }
    }
    return 0;
}

/* What a call's request holds, in documents.rs table order; only what can be invalid. */
enum check {
    END,
    REQ,       /* a required attribute */
    AMOUNT,    /* PayDirection (closed), CurrCodeType (open, defaulted), CurrCode, Amount */
    PCS,       /* PackagedContent children */
    OFFER,     /* ProtocolBrand, then Brand, ProtocolAmount, PayProtocol and Order content */
    BRAND_SEL, /* the three BrandSel... contents */
    ALGORITHMS,
    ALGORITHM, /* exactly one Algorithm (the first) */
    PROCESS_TYPE,
    ERROR_SEVERITY,
    PROCESS_STATE,
};

typedef struct {
    enum check check;
    const char *name;
} rule;

static int check_algorithm(ctx *c, const xel *a) {
    const xel *k;
    for (k = a->children; k != NULL; k = k->next) {
        if (strcmp(k->name, "Parameter") == 0 && required(c, k, "type") != 0) {
            return -1;
        }
    }
    if (required(c, a, "ID") != 0 || one_of(c, a, "type", ALGORITHM_TYPES, 0) != 0
        || required(c, a, "name") != 0) {
        return -1;
    }
    return 0;
}

static int check_request(ctx *c, const xel *call, const rule *rules) {
    const rule *r;
    for (r = rules; r->check != END; r++) {
        int bad = 0;
        switch (r->check) {
        case END:
            break;
        case REQ:
            bad = required(c, call, r->name);
            break;
        case AMOUNT:
            bad = one_of(c, call, "PayDirection", PAY_DIRECTIONS, 1)
                  || required(c, call, "CurrCode") || required(c, call, "Amount");
            break;
        case PCS:
            bad = check_pcs(c, call, r->name, NULL);
            break;
        case OFFER: {
            const xel *pb = child_named(call, "ProtocolBrand");
            bad = (pb != NULL
                   && (required(c, pb, "ProtocolBrandId")
                       || check_pcs(c, pb, "PackagedContent", "ProtocolBrandPackagedContent")))
                  || check_pcs(c, call, "BrandPackagedContent", NULL)
                  || check_pcs(c, call, "ProtocolAmountPackagedContent", NULL)
                  || check_pcs(c, call, "PayProtocolPackagedContent", NULL)
                  || check_pcs(c, call, "OrderPackagedContent", NULL);
            break;
        }
        case BRAND_SEL:
            bad = check_pcs(c, call, "BrandSelBrandInfoPackagedContent", NULL)
                  || check_pcs(c, call, "BrandSelProtocolAmountInfoPackagedContent", NULL)
                  || check_pcs(c, call, "BrandSelCurrencyAmountInfoPackagedContent", NULL);
            break;
        case ALGORITHMS: {
            const xel *k;
            for (k = call->children; k != NULL && !bad; k = k->next) {
                if (strcmp(k->name, "Algorithm") == 0) {
                    bad = check_algorithm(c, k);
                }
            }
            break;
        }
        case ALGORITHM: {
            const xel *a = child_named(call, "Algorithm");
            bad = a != NULL ? check_algorithm(c, a)
                            : fail_at(c, "ElMissing",
                                      cat(c, call->name, " has no Algorithm element",
                                          (const char *)NULL),
                                      call->name, NULL);
            break;
        }
        case PROCESS_TYPE:
            bad = one_of(c, call, "ProcessType", PROCESS_TYPES, 0);
            break;
        case ERROR_SEVERITY:
            bad = one_of(c, call, "ErrorSeverity", SEVERITIES, 0);
            break;
        case PROCESS_STATE:
            bad = one_of(c, call, "ProcessState", PAYMENT_STATES, 1);
            break;
        }
        if (bad) {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Mock helpers: fields, numbers, codes, host services */

/* `key=value;key=value`: the value of the first item whose key is `key` (mock.rs field). */
static int field(slice text, const char *key, slice *value) {
    size_t key_len = strlen(key);
    size_t i = 0;
    for (;;) {
        size_t end = i;
        const char *eq;
        while (end < text.n && text.p[end] != ';') {
            end++;
        }
        eq = memchr(text.p + i, '=', end - i);
        if (eq != NULL && (size_t)(eq - (text.p + i)) == key_len
            && memcmp(text.p + i, key, key_len) == 0) {
            value->p = eq + 1;
            value->n = (size_t)(text.p + end - (eq + 1));
            return 1;
        }
        if (end >= text.n) {
            return 0;
        }
        i = end + 1;
    }
}

static int field_is(slice text, const char *key, const char *expected) {
    slice v;
    return field(text, key, &v) && v.n == strlen(expected) && memcmp(v.p, expected, v.n) == 0;
}

/* A u64 as Rust's `str::parse::<u64>` reads it: an optional `+`, then decimal digits. */
static int parse_u64(slice s, uint64_t *out) {
    size_t i = s.n > 0 && s.p[0] == '+' ? 1 : 0;
    uint64_t v = 0;
    if (i >= s.n) {
        return 0;
    }
    for (; i < s.n; i++) {
        uint64_t d;
        if (s.p[i] < '0' || s.p[i] > '9') {
            return 0;
        }
        d = (uint64_t)(s.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return 0;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int field_u64(ctx *c, const xel *call, const char *tag, const char *name, const char *key,
                     uint64_t *out) {
    slice text, v;
    return content(c, call, tag, name, &text) && field(text, key, &v) && parse_u64(v, out);
}

/* CompletionCode::from_wire: the RFC's second spellings read as the first. */
static const char *completion_code(const char *code) {
    if (strcmp(code, "PaymCancelled") == 0) {
        return "PaymtCancelled";
    }
    if (strcmp(code, "DelivCanceled") == 0) {
        return "DelivCancelled";
    }
    return code;
}

static int is_final(const char *state) {
    return strcmp(state, "CompletedOk") == 0 || strcmp(state, "Failed") == 0
           || strcmp(state, "ProcessError") == 0;
}

static uint32_t random_u32(ctx *c, int *ok) {
    uint8_t b[4] = {0, 0, 0, 0};
    IotpStatus s = host->random(c->call_ctx, b, sizeof b);
    *ok = s == IOTP_PLUGIN_OK;
    if (!*ok) {
        host_failed(c, "random", s);
    }
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* 1 with the value (copied to the arena), 0 when the key has none, -1 when the host failed. */
static int kv_get(ctx *c, const char *key, slice *value) {
    IotpBuffer got = {NULL, 0, 0};
    IotpStatus s = host->kv_get(c->call_ctx, (const uint8_t *)key, strlen(key), &got);
    if (s == IOTP_PLUGIN_NOT_FOUND) {
        return 0;
    }
    if (s != IOTP_PLUGIN_OK) {
        return host_failed(c, "kv_get", s);
    }
    value->p = arena_strndup(&c->a, (const char *)got.ptr, got.ptr != NULL ? got.len : 0);
    value->n = got.ptr != NULL ? got.len : 0;
    host->free_buffer(c->call_ctx, got);
    if (c->a.oom) {
        value->n = 0;
    }
    return 1;
}

static int kv_put(ctx *c, const char *key, const char *value) {
    IotpStatus s = host->kv_put(c->call_ctx, (const uint8_t *)key, strlen(key),
                                (const uint8_t *)value, strlen(value));
    return s == IOTP_PLUGIN_OK ? 0 : host_failed(c, "kv_put", s);
}

static void log_line(ctx *c, uint32_t level, const char *message) {
    (void)host->log(c->call_ctx, level, (const uint8_t *)message, strlen(message));
}

/* ------------------------------------------------------------------------------------------ */
/* The payment record (mock.rs Record), in the same text as the Rust mock keeps it */

typedef struct {
    const char *state;
    const char *code; /* NULL: none; "" is a code too, until the record is stored */
    const char *instrument;
    const char *amount;
    const char *currency;
    const char *direction;
    int has_challenge;
    uint64_t challenge;
} record;

static const char *record_encode(ctx *c, const record *r) {
    return cat(c, "state=", r->state, ";code=", r->code != NULL ? r->code : "",
               ";instrument=", r->instrument, ";amount=", r->amount, ";currency=", r->currency,
               ";direction=", r->direction, ";challenge=",
               r->has_challenge ? number(c, r->challenge) : "", (const char *)NULL);
}

static int record_decode(ctx *c, slice bytes, record *r) {
    slice v;
    if (!utf8_ok((const uint8_t *)bytes.p, bytes.n, 0)) {
        return 0;
    }
    if (!field(bytes, "state", &v)) {
        return 0;
    }
    r->state = sdup(c, v);
    r->code = field(bytes, "code", &v) && v.n > 0 ? completion_code(sdup(c, v)) : NULL;
    if (!field(bytes, "instrument", &v)) {
        return 0;
    }
    r->instrument = sdup(c, v);
    if (!field(bytes, "amount", &v)) {
        return 0;
    }
    r->amount = sdup(c, v);
    if (!field(bytes, "currency", &v)) {
        return 0;
    }
    r->currency = sdup(c, v);
    if (!field(bytes, "direction", &v)) {
        return 0;
    }
    r->direction = sdup(c, v);
    r->has_challenge = field(bytes, "challenge", &v) && parse_u64(v, &r->challenge);
    return 1;
}

static int record_damaged(ctx *c) {
    return fail(c, "UnknownError", "HardError", "the mock's payment record is damaged");
}

/* The key of a payment: the Payment Handler's, else the Consumer's (mock.rs key_of), and the
 * bytes stored under it; AttValIllegal on PayId when there is neither. */
static int find_key(ctx *c, const char *pay_id, const char **key, slice *value) {
    const char *keys[2];
    int k;
    keys[0] = cat(c, "handler/", pay_id, (const char *)NULL);
    keys[1] = cat(c, "consumer/", pay_id, (const char *)NULL);
    for (k = 0; k < 2; k++) {
        int found = kv_get(c, keys[k], value);
        if (found < 0) {
            return -1;
        }
        if (found) {
            *key = keys[k];
            return 0;
        }
    }
    return illegal_value(c, "PayId", cat(c, "no payment ", pay_id, (const char *)NULL));
}

/* find_key, and the record under the key (mock.rs Record::load). */
static int key_of(ctx *c, const char *pay_id, const char **key, record *r) {
    slice value;
    if (find_key(c, pay_id, key, &value) != 0) {
        return -1;
    }
    return record_decode(c, value, r) ? 0 : record_damaged(c);
}

static void put_status(buf *b, const record *r) {
    attr(b, "ProcessState", r->state);
    attr(b, "PercentComplete", is_final(r->state) ? "100" : "50");
    if (r->code != NULL) {
        attr(b, "CompletionCode", r->code);
    }
}

/* A Start/Continue response: ContStatus and at most one PaySchemePackagedContent. */
static void put_step(buf *b, const char *response, int more, const char *name, const char *text) {
    open_tag(b, response);
    attr(b, "ContStatus", more ? "Continue" : "End");
    if (name == NULL) {
        puts_(b, "/>");
        return;
    }
    putc_(b, '>');
    put_pc(b, "PaySchemePackagedContent", name, text);
    end_tag(b, response);
}

/* The Payment Handler's final scheme data (mock.rs Record::final_data). */
static void put_final(ctx *c, buf *b, const char *response, const record *r, const char *pay_id) {
    if (strcmp(r->state, "CompletedOk") == 0) {
        put_step(b, response, 0, "MockAuth",
                 cat(c, "approved;direction=", r->direction, ";amount=", r->amount,
                     ";currency=", r->currency, ";ref=", pay_id, (const char *)NULL));
    } else {
        put_step(b, response, 0, "MockDecline",
                 cat(c, "declined;code=", r->code != NULL ? r->code : "Unspecified",
                     (const char *)NULL));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The calls */

typedef int (*handler)(ctx *c, const xel *call, buf *out);

static int find_accepted_payment_brand(ctx *c, const xel *call, buf *out) {
    const char *curr = attribute(call, "CurrCode");
    int ok = strlen(curr) == 3;
    size_t i;
    (void)c;
    for (i = 0; ok && i < 3; i++) {
        ok = curr[i] >= 'A' && curr[i] <= 'Z';
    }
    open_tag(out, "FindAcceptedPaymentBrandResponse");
    if (!ok) {
        puts_(out, "/>");
        return 0;
    }
    putc_(out, '>');
    open_tag(out, "BrandItem");
    attr(out, "BrandId", BRAND_ID);
    attr(out, "xml:lang", "en");
    attr(out, "BrandName", "Mock Card");
    attr(out, "BrandLogoNetLocn", "https://mock.invalid/logo.png");
    puts_(out, "/>");
    end_tag(out, "FindAcceptedPaymentBrandResponse");
    return 0;
}

static int find_accepted_payment_protocol(ctx *c, const xel *call, buf *out) {
    const char *code_type = attribute(call, "CurrCodeType");
    (void)c;
    puts_(out, "<FindAcceptedPaymentProtocolResponse>");
    open_tag(out, "ProtocolItem");
    attr(out, "ProtocolId", PROTOCOL_ID);
    attr(out, "ProtocolName", "IOTP mock payment protocol");
    putc_(out, '>');
    put_pc(out, "PayProtocolPackagedContent", "MockAccept", "version=1");
    open_tag(out, "CurrencyAmount");
    attr(out, "PayDirection", attribute(call, "PayDirection"));
    attr(out, "CurrCodeType", code_type != NULL ? code_type : "ISO4217-A");
    attr(out, "CurrCode", attribute(call, "CurrCode"));
    attr(out, "Amount", attribute(call, "Amount"));
    puts_(out, "/>");
    end_tag(out, "ProtocolItem");
    end_tag(out, "FindAcceptedPaymentProtocolResponse");
    return 0;
}

static int get_payment_initialization_data(ctx *c, const xel *call, buf *out) {
    const xel *k;
    puts_(out, "<GetPaymentInitializationDataResponse>");
    /* The Order content goes back as it came. */
    for (k = call->children; k != NULL; k = k->next) {
        pc p;
        if (strcmp(k->name, "OrderPackagedContent") == 0 && read_pc(c, k, &p) == 0) {
            put_pc_full(out, "OrderPackagedContent", p.name, p.content, p.base64, p.data, p.len);
        }
    }
    put_pc(out, "TradingRoleDataPackagedContent", "Payment:MockOrder",
           cat(c, "merchant-pay-id=", attribute(call, "MerchantPayId"),
               ";amount=", attribute(call, "Amount"), ";currency=", attribute(call, "CurrCode"),
               (const char *)NULL));
    end_tag(out, "GetPaymentInitializationDataResponse");
    return 0;
}

static int inquire_auth_challenge(ctx *c, const xel *call, buf *out) {
    const xel *first = child_named(call, "Algorithm");
    int ok;
    uint32_t challenge = random_u32(c, &ok) % 1000000u;
    if (!ok) {
        return -1;
    }
    puts_(out, "<InquireAuthChallengeResponse>");
    put_pc(out, "AuthReqPackagedContent", "MockAuthChallenge",
           cat(c, "challenge=", number(c, challenge), (const char *)NULL));
    open_tag(out, "Algorithm");
    attr(out, "ID", first != NULL ? attribute(first, "ID") : "");
    attr(out, "name", AUTH_ALGORITHM);
    puts_(out, "/>");
    end_tag(out, "InquireAuthChallengeResponse");
    return 0;
}

static int authenticate(ctx *c, const xel *call, buf *out) {
    uint64_t challenge;
    if (!field_u64(c, call, "AuthReqPackagedContent", "MockAuthChallenge", "challenge",
                   &challenge)) {
        return encap_error(c, "no MockAuthChallenge in the authentication request");
    }
    puts_(out, "<AuthenticateResponse>");
    put_pc(out, "AuthResPackagedContent", "MockAuthAnswer",
           cat(c, "answer=", number(c, challenge + 1), (const char *)NULL));
    end_tag(out, "AuthenticateResponse");
    return 0;
}

static int check_auth_response(ctx *c, const xel *call, buf *out) {
    uint64_t challenge, answer;
    int right = field_u64(c, call, "AuthReqPackagedContent", "MockAuthChallenge", "challenge",
                          &challenge)
                && field_u64(c, call, "AuthResPackagedContent", "MockAuthAnswer", "answer",
                             &answer)
                && answer == challenge + 1;
    open_tag(out, "CheckAuthResponseResponse");
    if (right) {
        attr(out, "ProcessState", "CompletedOk");
    } else {
        attr(out, "ProcessState", "Failed");
        attr(out, "PercentComplete", "100");
        attr(out, "CompletionCode", "AuthFailed");
        attr(out, "StatusDesc", "wrong answer to the challenge");
    }
    puts_(out, "/>");
    return 0;
}

static void put_instrument(buf *out, const char *id, const char *name) {
    open_tag(out, "PayInstrument");
    attr(out, "Id", id);
    attr(out, "xml:lang", "en");
    attr(out, "PayInstName", name);
    puts_(out, "/>");
}

static int find_payment_instrument(ctx *c, const xel *call, buf *out) {
    size_t i;
    (void)call;
    puts_(out, "<FindPaymentInstrumentResponse>");
    put_instrument(out, "approve", "Mock card: approves");
    put_instrument(out, "extra-round", "Mock card: one more exchange round");
    put_instrument(out, "timeout", "Mock card: the processor never answers");
    for (i = 0; i < DECLINE_COUNT; i++) {
        put_instrument(out, cat(c, "decline-", DECLINE_CODES[i], (const char *)NULL),
                       cat(c, "Mock card: declines with ", DECLINE_CODES[i], (const char *)NULL));
    }
    end_tag(out, "FindPaymentInstrumentResponse");
    return 0;
}

static int is_instrument(const char *id) {
    size_t i;
    if (strcmp(id, "approve") == 0 || strcmp(id, "extra-round") == 0
        || strcmp(id, "timeout") == 0) {
        return 1;
    }
    if (strncmp(id, "decline-", 8) != 0) {
        return 0;
    }
    for (i = 0; i < DECLINE_COUNT; i++) {
        if (strcmp(id + 8, DECLINE_CODES[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int check_payment_possibility(ctx *c, const xel *call, buf *out) {
    const char *id = attribute(call, "PaymentInstrumentId");
    if (id == NULL) {
        id = "approve";
    }
    if (!is_instrument(id)) {
        return illegal_value(c, "PaymentInstrumentId",
                             cat(c, "no mock instrument ", id, (const char *)NULL));
    }
    puts_(out, "<CheckPaymentPossibilityResponse>");
    put_pc(out, "BrandSelBrandInfoPackagedContent", "MockSelection",
           cat(c, "instrument=", id, (const char *)NULL));
    end_tag(out, "CheckPaymentPossibilityResponse");
    return 0;
}

static int start_payment_consumer(ctx *c, const xel *call, buf *out) {
    record r;
    memset(&r, 0, sizeof r);
    r.state = "InProgress";
    r.instrument = attribute(call, "PaymentInstrumentId");
    if (r.instrument == NULL) {
        r.instrument = "approve";
    }
    r.amount = attribute(call, "Amount");
    r.currency = attribute(call, "CurrCode");
    r.direction = attribute(call, "PayDirection");
    if (kv_put(c, cat(c, "consumer/", attribute(call, "ConsumerPayId"), (const char *)NULL),
               record_encode(c, &r))
        != 0) {
        return -1;
    }
    put_step(out, "StartPaymentConsumerResponse", 1, "MockPayment",
             cat(c, "instrument=", r.instrument, ";amount=", r.amount, ";currency=", r.currency,
                 ";direction=", r.direction, (const char *)NULL));
    return 0;
}

static int start_payment_inquiry(ctx *c, const xel *call, buf *out) {
    puts_(out, "<StartPaymentInquiryResponse>");
    put_pc(out, "PaySchemePackagedContent", "MockInquiry",
           cat(c, "consumer-pay-id=", attribute(call, "ConsumerPayId"), (const char *)NULL));
    end_tag(out, "StartPaymentInquiryResponse");
    return 0;
}

/* RFC 3867 CallBack while authorising; 1 with the completion code when the core asks to cancel.
 * A CallBack the host cannot take, or a reply that cannot be read, means go on (as a Rust
 * bridge host answers Continue when it has nothing to say). */
static int callback_cancel(ctx *c, const char *pay_id, const char **code) {
    buf doc = {NULL, 0, 0, 0};
    IotpBuffer reply = {NULL, 0, 0};
    IotpStatus s;
    int cancel = 0;
    puts_(&doc, DECLARATION "<IotpPaymentApiRequest xmlns=\"" NAMESPACE "\">");
    open_tag(&doc, "CallBack");
    attr(&doc, "ContentSoftwareID", SOFTWARE_ID);
    attr(&doc, "PayId", pay_id);
    attr(&doc, "ProcessState", "InProgress");
    attr(&doc, "PercentComplete", "50");
    attr(&doc, "StatusDesc", "authorising");
    puts_(&doc, "/></IotpPaymentApiRequest>\n");
    if (doc.oom) {
        buf_free(&doc);
        c->a.oom = 1;
        return 0;
    }
    s = host->callback(c->call_ctx, (const uint8_t *)doc.p, doc.len, &reply);
    buf_free(&doc);
    if (s != IOTP_PLUGIN_OK) {
        log_line(c, IOTP_LOG_WARN, "mock: the host refused the CallBack; going on");
        return 0;
    }
    if (reply.ptr != NULL && reply.len <= MAX_DOCUMENT_BYTES) {
        parser p;
        xel *root;
        memset(&p, 0, sizeof p);
        p.s = reply.ptr;
        p.n = reply.len;
        p.a = &c->a;
        root = read_document(&p);
        buf_free(&p.scratch);
        if (root != NULL && strcmp(root->name, "IotpPaymentApiResponse") == 0) {
            const xel *answer = child_named(root, "CallBackResponse");
            const char *asked = answer != NULL ? attribute(answer, "CompletionCode") : NULL;
            if (asked != NULL) {
                *code = completion_code(asked);
                cancel = 1;
            }
        } else {
            log_line(c, IOTP_LOG_WARN, "mock: unreadable CallBack response; going on");
        }
    }
    host->free_buffer(c->call_ctx, reply);
    return cancel;
}

static int start_payment_payment_handler(ctx *c, const xel *call, buf *out) {
    static const char response[] = "StartPaymentPaymentHandlerResponse";
    const char *pay_id = attribute(call, "PaymentHandlerPayId");
    const char *key = cat(c, "handler/", pay_id, (const char *)NULL);
    const char *cancel_code = NULL;
    const char *encoded;
    slice text, instrument, stored;
    record r;
    bool inserted = false;
    IotpStatus s;
    int ok;
    int64_t now;
    int found = kv_get(c, key, &stored);
    if (found < 0) {
        return -1;
    }
    /* A payment already started (a retransmitted or resumed Payment Request) is answered from
     * its record: it is never authorised twice. */
    if (found && record_decode(c, stored, &r)) {
        if (r.has_challenge && !is_final(r.state)) {
            put_step(out, response, 1, "MockChallenge",
                     cat(c, "challenge=", number(c, r.challenge), (const char *)NULL));
        } else {
            put_final(c, out, response, &r, pay_id);
        }
        return 0;
    }
    if (!content(c, call, "PaySchemePackagedContent", "MockPayment", &text)) {
        return encap_error(c, "the Payment Request has no MockPayment scheme data");
    }
    if (!field(text, "instrument", &instrument)) {
        return encap_error(c, "MockPayment names no instrument");
    }
    if (!field_is(text, "amount", attribute(call, "Amount"))
        || !field_is(text, "currency", attribute(call, "CurrCode"))) {
        return encap_error(
            c, "MockPayment's amount or currency differs from the selected CurrencyAmount");
    }
    memset(&r, 0, sizeof r);
    r.instrument = sdup(c, instrument);
    if (strcmp(r.instrument, "timeout") == 0) {
        return transient(c, "UnknownError", "1", "the mock card processor did not answer in time");
    }
    r.state = "CompletedOk";
    r.amount = attribute(call, "Amount");
    r.currency = attribute(call, "CurrCode");
    r.direction = attribute(call, "PayDirection");
    if (callback_cancel(c, pay_id, &cancel_code)) {
        r.state = "Failed";
        r.code = cancel_code;
    } else if (strcmp(r.instrument, "extra-round") == 0) {
        uint32_t drawn = random_u32(c, &ok);
        if (!ok) {
            return -1;
        }
        r.state = "InProgress";
        r.has_challenge = 1;
        r.challenge = drawn % 1000000u;
    } else if (strncmp(r.instrument, "decline-", 8) == 0) {
        r.state = "Failed";
        r.code = completion_code(r.instrument + 8);
    } else if (strcmp(r.instrument, "approve") != 0) {
        r.state = "Failed";
        r.code = "BadInstrument";
    }
    encoded = record_encode(c, &r);
    s = host->kv_insert_if_absent(c->call_ctx, (const uint8_t *)key, strlen(key),
                                  (const uint8_t *)encoded, strlen(encoded), &inserted);
    if (s != IOTP_PLUGIN_OK) {
        return host_failed(c, "kv_insert_if_absent", s);
    }
    if (!inserted) {
        return transient(c, "MsgBeingProc", "1",
                         "this payment is being started by another request");
    }
    now = host->now_unix_millis(c->call_ctx);
    log_line(c, IOTP_LOG_INFO,
             cat(c, "mock payment ", pay_id, ": ", r.state, " (at ",
                 now >= 0 ? number(c, (uint64_t)now) : "an unknown time", " ms)",
                 (const char *)NULL));
    if (r.has_challenge) {
        put_step(out, response, 1, "MockChallenge",
                 cat(c, "challenge=", number(c, r.challenge), (const char *)NULL));
    } else {
        put_final(c, out, response, &r, pay_id);
    }
    return 0;
}

static int inquire_payment_status(ctx *c, const xel *call, buf *out) {
    const char *pay_id = attribute(call, "PaymentHandlerPayId");
    slice stored;
    record r;
    int found = kv_get(c, cat(c, "handler/", pay_id, (const char *)NULL), &stored);
    if (found < 0) {
        return -1;
    }
    if (!found) {
        return illegal_value(c, "PayId", "no such payment");
    }
    if (!record_decode(c, stored, &r)) {
        return record_damaged(c);
    }
    open_tag(out, "InquirePaymentStatusResponse");
    attr(out, "PaymentHandlerPayId", pay_id);
    put_status(out, &r);
    putc_(out, '>');
    put_pc(out, "PaySchemePackagedContent", "MockStatus",
           cat(c, "state=", r.state, (const char *)NULL));
    end_tag(out, "InquirePaymentStatusResponse");
    return 0;
}

static int continue_process(ctx *c, const xel *call, buf *out) {
    static const char response[] = "ContinueProcessResponse";
    const char *pay_id = attribute(call, "PayId");
    const char *process_type = attribute(call, "ProcessType");
    const char *severity = attribute(call, "ErrorSeverity");
    const char *key;
    record r;
    uint64_t number_read;
    slice t;
    if ((process_type != NULL && strcmp(process_type, "Inquiry") == 0)
        || (severity != NULL && strcmp(severity, "HardError") == 0)) {
        put_step(out, response, 0, NULL, NULL);
        return 0;
    }
    if (key_of(c, pay_id, &key, &r) != 0) {
        return -1;
    }
    if (strncmp(key, "consumer/", 9) == 0) {
        /* The Consumer's side: answer a challenge, or take the final data. */
        if (field_u64(c, call, "PaySchemePackagedContent", "MockChallenge", "challenge",
                      &number_read)) {
            put_step(out, response, 1, "MockChallengeResp",
                     cat(c, "answer=", number(c, number_read + 1), (const char *)NULL));
            return 0;
        }
        if (content(c, call, "PaySchemePackagedContent", "MockAuth", &t)) {
            r.state = "CompletedOk";
        } else if (content(c, call, "PaySchemePackagedContent", "MockDecline", &t)) {
            slice code;
            r.state = "Failed";
            r.code = field(t, "code", &code) ? completion_code(sdup(c, code)) : NULL;
        }
        if (kv_put(c, key, record_encode(c, &r)) != 0) {
            return -1;
        }
        put_step(out, response, 0, NULL, NULL);
        return 0;
    }
    /* The Payment Handler's side: check the answer to the challenge. */
    if (!is_final(r.state)) {
        if (!field_u64(c, call, "PaySchemePackagedContent", "MockChallengeResp", "answer",
                       &number_read)) {
            return encap_error(c, "expected MockChallengeResp");
        }
        if (r.has_challenge && number_read == r.challenge + 1) {
            r.state = "CompletedOk";
        } else {
            r.state = "Failed";
            r.code = "AuthError";
        }
        r.has_challenge = 0;
        if (kv_put(c, key, record_encode(c, &r)) != 0) {
            return -1;
        }
    }
    put_final(c, out, response, &r, pay_id);
    return 0;
}

static int change_process_state(ctx *c, const xel *call, buf *out) {
    const char *key;
    record r;
    if (key_of(c, attribute(call, "PayId"), &key, &r) != 0) {
        return -1;
    }
    /* A change request on a final state returns the old state, with no error. */
    if (!is_final(r.state)) {
        const char *state = attribute(call, "ProcessState");
        const char *code = attribute(call, "CompletionCode");
        r.state = strcmp(state, "Suspended") == 0 ? "InProgress" : state;
        r.code = code != NULL ? completion_code(code) : NULL;
        if (kv_put(c, key, record_encode(c, &r)) != 0) {
            return -1;
        }
    }
    open_tag(out, "ChangeProcessStateResponse");
    put_status(out, &r);
    puts_(out, "/>");
    return 0;
}

static int inquire_process_state(ctx *c, const xel *call, buf *out) {
    const char *pay_id = attribute(call, "PayId");
    const char *key;
    record r;
    int ok;
    if (key_of(c, pay_id, &key, &r) != 0) {
        return -1;
    }
    ok = strcmp(r.state, "CompletedOk") == 0 && strncmp(key, "handler/", 8) == 0;
    open_tag(out, "InquireProcessStateResponse");
    put_status(out, &r);
    if (!ok) {
        puts_(out, "/>");
        return 0;
    }
    attr(out, "PayReceiptNameRefs", "MockAuth");
    putc_(out, '>');
    put_pc(out, "PackagedContent", "MockReceipt",
           cat(c, "paid;amount=", r.amount, ";currency=", r.currency, ";ref=", pay_id,
               (const char *)NULL));
    end_tag(out, "InquireProcessStateResponse");
    return 0;
}

static int check_payment_receipt(ctx *c, const xel *call, buf *out) {
    slice t;
    if (!content(c, call, "PackagedContent", "MockAuth", &t) || t.n < 9
        || memcmp(t.p, "approved;", 9) != 0) {
        return business(c, "the receipt has no MockAuth approval");
    }
    puts_(out, "<CheckPaymentReceiptResponse/>");
    return 0;
}

static int expand_payment_receipt(ctx *c, const xel *call, buf *out) {
    slice t, ref;
    if (!content(c, call, "PackagedContent", "MockAuth", &t)) {
        return business(c, "the receipt has no MockAuth approval");
    }
    open_tag(out, "ExpandPaymentReceiptResponse");
    attr(out, "BrandId", BRAND_ID);
    attr(out, "ProtocolId", PROTOCOL_ID);
    if (field(t, "ref", &ref)) {
        attr(out, "ProtocolTransId", sdup(c, ref));
    }
    puts_(out, "/>");
    return 0;
}

static int remove_payment_log(ctx *c, const xel *call, buf *out) {
    const char *key;
    slice ignored;
    IotpStatus s;
    /* The record is not read: a damaged one goes too. */
    if (find_key(c, attribute(call, "PayId"), &key, &ignored) != 0) {
        return -1;
    }
    s = host->kv_delete(c->call_ctx, (const uint8_t *)key, strlen(key));
    if (s != IOTP_PLUGIN_OK) {
        return host_failed(c, "kv_delete", s);
    }
    puts_(out, "<RemovePaymentLogResponse/>");
    return 0;
}

/* Every call of RFC 3867 (documents.rs BRIDGE_CALLS, and CallBack), what its request must
 * hold, and the mock's handler (NULL: ReqNotSupp). */
#define RULES(...) (const rule[]){__VA_ARGS__, {END, NULL}}
#define NO_RULES (const rule[]){{END, NULL}}

static const struct {
    const char *name;
    const rule *rules;
    handler handle;
} CALLS[] = {
    {"FindAcceptedPaymentBrand",
     RULES({AMOUNT, NULL}, {REQ, "MerchantPayId"}, {PCS, "MerchantData"}),
     find_accepted_payment_brand},
    {"FindAcceptedPaymentProtocol",
     RULES({AMOUNT, NULL}, {REQ, "MerchantPayId"}, {PCS, "BrandPackagedContent"},
           {PCS, "MerchantData"}),
     find_accepted_payment_protocol},
    {"GetPaymentInitializationData",
     RULES({REQ, "BrandId"}, {REQ, "MerchantPayId"}, {AMOUNT, NULL}, {REQ, "ProtocolId"},
           {REQ, "OkFrom"}, {REQ, "OkTo"}, {OFFER, NULL}, {BRAND_SEL, NULL}, {PCS, "MerchantData"}),
     get_payment_initialization_data},
    {"InquireAuthChallenge", RULES({REQ, "AuthenticationId"}, {ALGORITHMS, NULL}),
     inquire_auth_challenge},
    {"Authenticate",
     RULES({REQ, "AuthenticationId"}, {ALGORITHM, NULL}, {PCS, "AuthReqPackagedContent"}),
     authenticate},
    {"CheckAuthResponse",
     RULES({REQ, "AuthenticationId"}, {ALGORITHM, NULL}, {PCS, "AuthReqPackagedContent"},
           {PCS, "AuthResPackagedContent"}),
     check_auth_response},
    {"FindPaymentInstrument",
     RULES({REQ, "BrandId"}, {REQ, "ProtocolId"}, {AMOUNT, NULL}, {REQ, "ConsumerPayId"},
           {OFFER, NULL}),
     find_payment_instrument},
    {"CheckPaymentPossibility",
     RULES({REQ, "BrandId"}, {AMOUNT, NULL}, {REQ, "ProtocolId"}, {REQ, "ConsumerPayId"},
           {OFFER, NULL}),
     check_payment_possibility},
    {"StartPaymentConsumer",
     RULES({REQ, "BrandId"}, {AMOUNT, NULL}, {REQ, "ProtocolId"}, {REQ, "OkFrom"}, {REQ, "OkTo"},
           {REQ, "ConsumerPayId"}, {OFFER, NULL}),
     start_payment_consumer},
    {"ResumePaymentConsumer", NO_RULES, NULL},
    {"StartPaymentInquiry", RULES({REQ, "ConsumerPayId"}), start_payment_inquiry},
    {"PaymentInstrumentInquiry", NO_RULES, NULL},
    {"StartPaymentPaymentHandler",
     RULES({REQ, "BrandId"}, {AMOUNT, NULL}, {REQ, "ProtocolId"}, {REQ, "OkFrom"}, {REQ, "OkTo"},
           {REQ, "PaymentHandlerPayId"}, {REQ, "MerchantOrgId"}, {OFFER, NULL}, {BRAND_SEL, NULL},
           {PCS, "TradingRoleDataPackagedContent"}, {PCS, "PaySchemePackagedContent"}),
     start_payment_payment_handler},
    {"ResumePaymentPaymentHandler", NO_RULES, NULL},
    {"InquirePaymentStatus",
     RULES({REQ, "PaymentHandlerPayId"}, {PCS, "PaySchemePackagedContent"}),
     inquire_payment_status},
    {"ContinueProcess",
     RULES({REQ, "PayId"}, {PROCESS_TYPE, NULL}, {ERROR_SEVERITY, NULL},
           {PCS, "PaySchemePackagedContent"}),
     continue_process},
    {"ChangeProcessState", RULES({REQ, "PayId"}, {PROCESS_STATE, NULL}, {PROCESS_TYPE, NULL}),
     change_process_state},
    {"InquireProcessState", RULES({REQ, "PayId"}), inquire_process_state},
    {"CheckPaymentReceipt", RULES({REQ, "PayId"}, {PCS, "PackagedContent"}), check_payment_receipt},
    {"ExpandPaymentReceipt", RULES({REQ, "PayId"}, {PCS, "PackagedContent"}),
     expand_payment_receipt},
    {"RemovePaymentLog", RULES({REQ, "PayId"}), remove_payment_log},
    {"InquirePendingPayment", NO_RULES, NULL},
    {"ManagePaymentSoftware", NO_RULES, NULL},
    {"CallBack", NO_RULES, NULL},
};
#define CALL_COUNT (sizeof CALLS / sizeof CALLS[0])

/* ------------------------------------------------------------------------------------------ */
/* The document: read, dispatch, write */

static int not_supported(ctx *c, const char *name) {
    return fail(c, "ReqNotSupp", "HardError",
                cat(c, name, " is not supported by this payment bridge", (const char *)NULL));
}

/* Reads the request and writes the answer's element (or sets the error). */
static void serve(ctx *c, const uint8_t *request, size_t request_len, buf *out) {
    parser p;
    xel *root;
    const xel *call;
    const char *ns;
    const char *name;
    size_t i;
    if (request_len > MAX_DOCUMENT_BYTES) {
        fail(c, "MsgTooLarge", "HardError",
             cat(c, "the request is ", number(c, request_len), " bytes, more than the limit of ",
                 number(c, MAX_DOCUMENT_BYTES), (const char *)NULL));
        return;
    }
    memset(&p, 0, sizeof p);
    p.s = request != NULL ? request : (const uint8_t *)"";
    p.n = request != NULL ? request_len : 0;
    p.a = &c->a;
    root = read_document(&p);
    buf_free(&p.scratch);
    if (root == NULL) {
        if (!c->a.oom) {
            fail(c, "SyntaxError", "HardError",
                 cat(c, "the request is not well-formed XML: ", p.error, " (byte ",
                     number(c, p.error_at), ")", (const char *)NULL));
        }
        return;
    }
    if (strcmp(root->name, "IotpPaymentApiRequest") != 0) {
        fail_at(c, "SyntaxError",
                cat(c, "the document is a ", root->name, ", not an IotpPaymentApiRequest",
                    (const char *)NULL),
                root->name, NULL);
        return;
    }
    ns = attribute(root, "xmlns");
    if (ns != NULL && strcmp(ns, NAMESPACE) != 0) {
        fail_at(c, "SyntaxError",
                cat(c, "IotpPaymentApiRequest is in namespace \"", ns, "\", not " NAMESPACE,
                    (const char *)NULL),
                "IotpPaymentApiRequest", "xmlns");
        return;
    }
    call = root->children;
    if (call == NULL || call->next != NULL) {
        fail(c, "SyntaxError", "HardError",
             "IotpPaymentApiRequest must hold exactly one call element");
        return;
    }
    name = strcmp(call->name, "CheckPaymentPossiblity") == 0 ? "CheckPaymentPossibility"
                                                              : call->name;
    for (i = 0; i < CALL_COUNT; i++) {
        if (strcmp(name, CALLS[i].name) == 0) {
            break;
        }
    }
    if (i == CALL_COUNT || CALLS[i].handle == NULL) {
        not_supported(c, call->name);
        return;
    }
    if (check_request(c, call, CALLS[i].rules) != 0) {
        return;
    }
    CALLS[i].handle(c, call, out);
}

static void put_error(buf *b, const ctx *c) {
    open_tag(b, "ErrorResponse");
    attr(b, "ErrorCode", c->code);
    attr(b, "ErrorDesc", c->desc);
    attr(b, "Severity", c->severity);
    if (c->retry != NULL) {
        attr(b, "MinRetrySecs", c->retry);
    }
    if (c->loc_element == NULL) {
        puts_(b, "/>");
        return;
    }
    putc_(b, '>');
    open_tag(b, "ErrorLocation");
    attr(b, "ElementType", c->loc_element);
    if (c->loc_att != NULL) {
        attr(b, "AttName", c->loc_att);
    }
    puts_(b, "/>");
    end_tag(b, "ErrorResponse");
}

static IotpStatus call(void *plugin_ctx, void *call_ctx, const uint8_t *request,
                       size_t request_len, IotpBuffer *out) {
    ctx c;
    buf body = {NULL, 0, 0, 0};
    buf doc = {NULL, 0, 0, 0};
    (void)plugin_ctx;
    if (out == NULL || host == NULL) {
        return IOTP_PLUGIN_ERR_BAD_ARGUMENT;
    }
    memset(&c, 0, sizeof c);
    c.call_ctx = call_ctx;
    serve(&c, request, request_len, &body);
    puts_(&doc, DECLARATION "<IotpPaymentApiResponse xmlns=\"" NAMESPACE "\">");
    if (c.failed) {
        put_error(&doc, &c);
    } else {
        put(&doc, body.p, body.len);
    }
    puts_(&doc, "</IotpPaymentApiResponse>\n");
    buf_free(&body);
    if (doc.oom || body.oom || c.a.oom) {
        arena_free(&c.a);
        buf_free(&doc);
        return IOTP_PLUGIN_ERR_INTERNAL;
    }
    arena_free(&c.a);
    out->ptr = (uint8_t *)doc.p;
    out->len = doc.len;
    out->cap = doc.cap;
    return IOTP_PLUGIN_OK;
}

static void free_buffer(void *plugin_ctx, IotpBuffer buffer) {
    (void)plugin_ctx;
    free(buffer.ptr);
}

static const IotpPluginTable TABLE = {
    sizeof(IotpPluginTable), IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_KIND_PAYMENT_SCHEME,
    IOTP_PLUGIN_FLAG_THREAD_SAFE, NULL, call, free_buffer, NULL, NULL,
};

static int same_services(const IotpHostServices *a, const IotpHostServices *b) {
    return a->kv_get == b->kv_get && a->kv_put == b->kv_put
           && a->kv_insert_if_absent == b->kv_insert_if_absent && a->kv_delete == b->kv_delete
           && a->callback == b->callback && a->log == b->log
           && a->now_unix_millis == b->now_unix_millis && a->random == b->random
           && a->free_buffer == b->free_buffer;
}

/* Calls use only the services' functions, with the call context the host passes them; so the
 * table of the first start serves every start of the same host, and is never written again
 * (calls of a started plugin may run while another start happens). A second, different host
 * implementation in the same process is refused. */
const IotpPluginTable *iotp_plugin_entry(uint32_t host_abi_version,
                                         const IotpHostServices *services) {
    static const char started[] = "mock-c: started (" SOFTWARE_ID ")";
    if (host_abi_version != IOTP_PLUGIN_ABI_VERSION || services == NULL
        || services->abi_version != IOTP_PLUGIN_ABI_VERSION
        || services->struct_size < sizeof(IotpHostServices) || services->kv_get == NULL
        || services->kv_put == NULL || services->kv_insert_if_absent == NULL
        || services->kv_delete == NULL || services->callback == NULL || services->log == NULL
        || services->now_unix_millis == NULL || services->random == NULL
        || services->free_buffer == NULL) {
        return NULL;
    }
    if (host == NULL) {
        host = services;
    } else if (!same_services(host, services)) {
        return NULL;
    }
    (void)services->log(services->ctx, IOTP_LOG_INFO, (const uint8_t *)started,
                        sizeof started - 1);
    return &TABLE;
}
