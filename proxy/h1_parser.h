/* HTTP/1.1 message parser (RFC 9112, RFC 9110): an incremental, strict push
 * parser for requests and responses that never allocates and never copies.
 *
 * The caller feeds bytes as they arrive, split anywhere. Names, values and
 * body slices handed to the callbacks point into the caller's buffer. Lines
 * of the head (start line, header and trailer lines) are parsed whole: when a
 * feed ends inside one, h1_parse() stops before it and reports how much it
 * consumed; the caller keeps data[*consumed..len) and presents it again,
 * followed by more bytes. Body bytes and chunk framing are always consumed.
 * A caller that keeps its head bytes in place until on_headers_complete (by
 * feeding data + consumed of one contiguous buffer) may use every name/value
 * slice until then; otherwise a slice is valid only during its callback.
 *
 * Anything that could be read two ways by two implementations (request
 * smuggling) is an error with its own code; docs/http1.md lists the rules. */
#ifndef SKIFF_PROXY_H1_PARSER_H
#define SKIFF_PROXY_H1_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes. Append only: they appear in access logs and counters. */
enum h1_error {
	H1_OK = 0,
	H1_E_CALLBACK,                /* a callback returned an error */
	H1_E_BARE_CR,                 /* CR not followed by LF */
	H1_E_BARE_LF,                 /* LF without CR: we do not accept bare LF */
	H1_E_REQUEST_LINE_TOO_LONG,   /* 414 */
	H1_E_HEADER_LINE_TOO_LONG,    /* 431 */
	H1_E_HEADERS_TOO_LARGE,       /* 431: total bytes of the head (or trailers) */
	H1_E_TOO_MANY_HEADERS,        /* 431 */
	H1_E_BAD_REQUEST_LINE,        /* not "method SP target SP version" */
	H1_E_BAD_METHOD,              /* method is not a token */
	H1_E_BAD_TARGET,              /* not a form allowed for the method */
	H1_E_BAD_VERSION,             /* not "HTTP/" DIGIT "." DIGIT */
	H1_E_VERSION_UNSUPPORTED,     /* 505: well formed, but not 1.0 or 1.1 */
	H1_E_BAD_STATUS_LINE,         /* status code or reason phrase */
	H1_E_BAD_HEADER_NAME,         /* empty, or a char that is not a tchar */
	H1_E_WS_BEFORE_COLON,         /* "Name : value" (RFC 9112 §5.1) */
	H1_E_NO_COLON,                /* header line without ':' */
	H1_E_BAD_HEADER_VALUE,        /* NUL, CTL or DEL in a field value */
	H1_E_OBS_FOLD,                /* line starting with SP/HTAB in a head */
	H1_E_HOST_MISSING,            /* HTTP/1.1 request without Host */
	H1_E_HOST_DUPLICATE,          /* more than one Host */
	H1_E_BAD_HOST,                /* Host value is not uri-host [":" port] */
	H1_E_BAD_CONTENT_LENGTH,      /* sign, space, non-digit, empty, overflow */
	H1_E_MULTIPLE_CONTENT_LENGTH, /* repeated field or a list, even equal */
	H1_E_CL_AND_TE,               /* both Content-Length and Transfer-Encoding */
	H1_E_BAD_TRANSFER_ENCODING,   /* chunked not final, twice, empty element */
	H1_E_TE_UNSUPPORTED,          /* 501: a coding before chunked (requests) */
	H1_E_TE_HTTP10,               /* Transfer-Encoding in an HTTP/1.0 message */
	H1_E_BAD_CHUNK_SIZE,          /* not 1*HEXDIG */
	H1_E_CHUNK_SIZE_OVERFLOW,     /* more than 16 hex digits or > INT64_MAX */
	H1_E_BAD_CHUNK_EXT,           /* chunk extension with a CTL, or no ';' */
	H1_E_CHUNK_EXT_TOO_LONG,
	H1_E_CHUNK_DATA_NO_CRLF, /* chunk data not followed by CRLF */
	H1_E_CONNECT_BODY,       /* CONNECT request with framing headers */
	H1_E_DATA_AFTER_CLOSE,   /* bytes after a message that closes */
	H1_E_TRUNCATED,          /* end of stream inside a message */
	H1_E__COUNT
};

/* The name of an error ("H1_E_CL_AND_TE"), "H1_OK", or "H1_E_UNKNOWN". */
const char *h1_error_name(enum h1_error e);

/* The status a server answers to a request that failed with `e`: 400, 414,
 * 431, 501 or 505 (500 for H1_E_CALLBACK, 0 for H1_OK). For a response
 * from upstream the proxy answers 502 whatever the code. */
int h1_error_status(enum h1_error e);

enum h1_kind { H1_REQUEST, H1_RESPONSE };

/* Methods whose semantics the parser or the proxy needs; any other token is
 * H1_METHOD_OTHER (its text is in the request line). */
enum h1_method {
	H1_METHOD_OTHER = 0,
	H1_METHOD_GET,
	H1_METHOD_HEAD,
	H1_METHOD_POST,
	H1_METHOD_PUT,
	H1_METHOD_DELETE,
	H1_METHOD_CONNECT,
	H1_METHOD_OPTIONS,
	H1_METHOD_TRACE,
	H1_METHOD_PATCH,
};

/* How the body of a message is delimited (RFC 9112 §6.3). */
enum h1_framing {
	H1_FRAMING_NONE,   /* no body: the message ends with its head */
	H1_FRAMING_LENGTH, /* Content-Length bytes (> 0) */
	H1_FRAMING_CHUNKED,
	H1_FRAMING_UNTIL_CLOSE, /* responses only: ends at h1_parse_eof() */
};

enum h1_target_form {
	H1_TARGET_ORIGIN,
	H1_TARGET_ABSOLUTE,
	H1_TARGET_AUTHORITY,
	H1_TARGET_ASTERISK
};

/* A pointer and length into the caller's buffer; not NUL-terminated. */
struct h1_slice {
	const char *p;
	size_t len;
};

struct h1_request_line {
	struct h1_slice method;
	struct h1_slice target;
	enum h1_method method_id;
	enum h1_target_form form;
	uint8_t version_minor; /* HTTP/1.<minor>: 0 or 1 */
};

struct h1_status_line {
	uint8_t version_minor;
	uint16_t status;        /* 100..599 */
	struct h1_slice reason; /* may be empty */
};

/* What the head decided, given to on_headers_complete. */
struct h1_head {
	enum h1_framing framing;
	uint64_t content_length; /* the Content-Length value when there was one
				    (also for HEAD/304 responses, which have no body) */
	enum h1_method method;   /* request's method (for a response: the one set) */
	uint16_t status;         /* responses */
	uint8_t version_minor;
	bool keep_alive; /* the connection may carry another message after this one */
	bool interim;    /* a 1xx response other than 101: the final one follows */
	bool upgrade;    /* request: Upgrade + "Connection: upgrade" (HTTP/1.1); response: 101 */
	bool tunnel;     /* after this message the stream is opaque bytes (see h1_parse) */
	bool expect_continue; /* request: "Expect: 100-continue" */
};

/* Every callback returns 0 to go on, H1_PAUSE to make h1_parse() return
 * H1_PARSE_PAUSED right after it (the next call resumes), or any other value
 * to stop with H1_E_CALLBACK. A NULL callback is skipped. */
#define H1_PAUSE 1

struct h1_callbacks {
	/* The first byte of a message (empty lines before a request excepted).
	 * A response parser's caller sets the request method here at the latest
	 * (h1_parser_set_request_method). */
	int (*on_message_begin)(void *user);
	int (*on_request_line)(void *user, const struct h1_request_line *rl);
	int (*on_status_line)(void *user, const struct h1_status_line *sl);
	/* One field: name as received (case kept), value without leading and
	 * trailing whitespace. */
	int (*on_header)(void *user, struct h1_slice name, struct h1_slice value);
	int (*on_headers_complete)(void *user, const struct h1_head *head);
	/* Body bytes, chunk framing removed; one call per contiguous slice. */
	int (*on_body)(void *user, const char *data, size_t len);
	/* A field of the trailer section of a chunked body. */
	int (*on_trailer)(void *user, struct h1_slice name, struct h1_slice value);
	int (*on_message_complete)(void *user);
};

/* Limits; a head or trailer section past one is an error (431, or 414 for
 * the request line). h1_limits_default() gives the values in brackets. */
struct h1_limits {
	uint32_t max_start_line;  /* request/status line, CRLF excluded [8192] */
	uint32_t max_header_line; /* one field line, CRLF excluded [8192] */
	uint32_t max_head_bytes;  /* start line + fields + CRLFs; also trailers [65536] */
	uint32_t max_headers;     /* field lines per head; also trailers [100] */
	uint32_t max_chunk_ext;   /* bytes of extensions on one chunk line [1024] */
};

void h1_limits_default(struct h1_limits *l);

/* Parser state. Embed it anywhere; the fields are private. */
struct h1_parser {
	const struct h1_callbacks *cb;
	void *user;
	struct h1_limits limits;
	struct h1_head head;
	uint64_t remaining; /* body or chunk bytes still to come */
	enum h1_error error;
	uint32_t scanned;    /* bytes of the pending line already scanned */
	uint32_t head_bytes; /* bytes of the current head or trailer section */
	uint32_t nfields;
	uint32_t chunk_line; /* hex digits, then extension bytes, of a chunk line */
	uint16_t flags;      /* H1F_* in h1_parser.c */
	uint8_t kind;
	uint8_t state;
	uint8_t host_count;
	uint8_t cl_count;
	uint8_t te_elements;
	uint8_t te_chunked;            /* chunked codings seen */
	enum h1_method request_method; /* response parsers: set by the caller */
};

/* Prepares p for a new connection. `limits` may be NULL for the defaults;
 * `cb` must outlive p. */
void h1_parser_init(struct h1_parser *p, enum h1_kind kind, const struct h1_callbacks *cb,
		    void *user, const struct h1_limits *limits);

enum h1_parse_result {
	H1_PARSE_ERROR = -1, /* see h1_parser_error(); sticky */
	H1_PARSE_OK = 0,     /* all input used but data[*consumed..len): an
				unfinished line to present again with more bytes */
	H1_PARSE_PAUSED = 1, /* a callback returned H1_PAUSE */
	H1_PARSE_TUNNEL = 2, /* the message before an upgrade or CONNECT is
				complete: data[*consumed..] on is not HTTP/1 */
};

/* Parses data[0..len). Sets *consumed to the bytes it is done with: their
 * callbacks have run and the caller may drop them. Returns an
 * h1_parse_result. After H1_PARSE_TUNNEL every further call returns it
 * again with *consumed = 0: for a response (101, or 2xx to CONNECT) the
 * stream is a tunnel for good; a request parser waits for the caller to
 * learn the answer and call h1_parser_resume() if the upgrade or CONNECT
 * was refused. */
int h1_parse(struct h1_parser *p, const char *data, size_t len, size_t *consumed);

/* The peer closed its side. Completes a response delimited by close
 * (on_message_complete runs) and returns H1_PARSE_OK; returns H1_PARSE_OK
 * between messages or in a tunnel; H1_PARSE_ERROR (H1_E_TRUNCATED) inside a
 * message. `pending` is how many unconsumed bytes the caller still holds
 * (a partial line is a truncated message too). */
int h1_parse_eof(struct h1_parser *p, size_t pending);

/* For a response parser: the method of the request this response answers
 * (HEAD: no body; CONNECT: a 2xx opens a tunnel). Call it before the status
 * line is parsed, in on_message_begin at the latest. It holds through 1xx
 * interim responses and is forgotten (back to GET semantics) when a final
 * response completes. */
void h1_parser_set_request_method(struct h1_parser *p, enum h1_method m);

/* For a request parser stopped with H1_PARSE_TUNNEL: the server refused the
 * upgrade or CONNECT, so what follows is HTTP/1 again. No effect otherwise. */
void h1_parser_resume(struct h1_parser *p);

/* H1_OK unless h1_parse() or h1_parse_eof() returned H1_PARSE_ERROR. */
enum h1_error h1_parser_error(const struct h1_parser *p);

#endif
