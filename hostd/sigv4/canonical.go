package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/hostd/hostd/hostd/api"
)

// canonicalRequest is the specification's canonical form of a request:
//
//	METHOD \n CANONICAL-PATH \n CANONICAL-QUERY \n CANONICAL-HEADERS \n SIGNED-HEADERS \n PAYLOAD-HASH
//
// where every signed header contributes "name:value\n" to CANONICAL-HEADERS.
func canonicalRequest(r *Request, query []queryParam, a *authorization, payloadHash string, normalize bool) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalPath(b, r.Path, normalize)
	b = append(b, '\n')
	b = appendCanonicalQuery(b, query, a.presigned)
	b = append(b, '\n')
	for _, name := range a.signedHeaders {
		var err error
		if b, err = appendCanonicalHeader(b, r, name); err != nil {
			return nil, err
		}
	}
	b = append(b, '\n')
	for i, name := range a.signedHeaders {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b, nil
}

// writeStringToSign writes the string the signature is the HMAC of:
//
//	AWS4-HMAC-SHA256 \n X-AMZ-DATE \n DATE/REGION/SERVICE/aws4_request \n HEX(SHA256(CANONICAL-REQUEST))
func writeStringToSign(w io.Writer, a *authorization, canonical []byte) {
	sum := sha256.Sum256(canonical)
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	io.WriteString(w, algorithm+"\n"+a.amzDate+"\n"+a.date+"/"+a.region+"/"+a.service+"/"+a.terminator+"\n")
	w.Write(hexSum[:])
}

// appendCanonicalPath appends the path URI-encoded (it is already percent-encoded on the wire, so
// this encodes it a second time, as the specification asks for every service but S3), after
// removing "." and ".." segments and empty segments when normalize is set. A trailing slash
// stays; an empty path is "/".
func appendCanonicalPath(b []byte, path string, normalize bool) []byte {
	if normalize {
		path = normalizePath(path)
	}
	if path == "" {
		return append(b, '/')
	}
	return appendURIEncoded(b, path, true)
}

func normalizePath(path string) string {
	var segments []string
	for s := range strings.SplitSeq(path, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segments) > 0 {
				segments = segments[:len(segments)-1]
			}
		default:
			segments = append(segments, s)
		}
	}
	out := "/" + strings.Join(segments, "/")
	if len(segments) > 0 && strings.HasSuffix(path, "/") {
		out += "/"
	}
	return out
}

// appendCanonicalQuery appends the query parameters sorted by encoded name, then by encoded
// value, as name=value joined by '&' (a parameter without a value is "name="). A presigned URL's
// own X-Amz-Signature is left out: it cannot sign itself.
func appendCanonicalQuery(b []byte, query []queryParam, presigned bool) []byte {
	encoded := make([]queryParam, 0, len(query))
	for _, p := range query {
		if presigned && p.name == paramSignature {
			continue
		}
		encoded = append(encoded, queryParam{
			string(appendURIEncoded(nil, p.name, false)),
			string(appendURIEncoded(nil, p.value, false)),
		})
	}
	slices.SortFunc(encoded, func(x, y queryParam) int {
		if c := strings.Compare(x.name, y.name); c != 0 {
			return c
		}
		return strings.Compare(x.value, y.value)
	})
	for i, p := range encoded {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.name...)
		b = append(b, '=')
		b = append(b, p.value...)
	}
	return b
}

// appendCanonicalHeader appends "name:value\n" for one signed header: its values in the order
// received, each trimmed and with runs of spaces made one, joined by ','. A header that was
// signed but is not in the request is refused: the request is not the one that was signed.
func appendCanonicalHeader(b []byte, r *Request, name string) ([]byte, error) {
	var values []string
	if name == "host" {
		if r.Host != "" {
			values = []string{r.Host}
		}
	} else {
		values = r.Header[http.CanonicalHeaderKey(name)]
	}
	if len(values) == 0 {
		return nil, api.Errorf(api.CodeAuthFailure, "the header %q is signed but not in the request", name)
	}
	b = append(b, name...)
	b = append(b, ':')
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendHeaderValue(b, v)
	}
	return append(b, '\n'), nil
}

func appendHeaderValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b = append(b, v[i])
	}
	return b
}

// appendURIEncoded appends s with every byte but the unreserved ones (A-Z a-z 0-9 - _ . ~) as
// %XX in upper-case hex, and '/' kept as is when keepSlash is set (for paths).
func appendURIEncoded(b []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && keepSlash {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return b
}
