package sigv4

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The AWS signing test suite (aws-c-auth's v4 cases), copied under testdata/ at the repository root
// with its LICENSE and NOTICE.
const suiteDir = "../../testdata/aws-signing-test-suite/v4"

type suiteCase struct {
	name string
	dir  string
	ctx  struct {
		Credentials struct {
			AccessKeyID     string `json:"access_key_id"`
			SecretAccessKey string `json:"secret_access_key"`
			Token           string `json:"token"`
		} `json:"credentials"`
		Normalize bool      `json:"normalize"`
		Region    string    `json:"region"`
		Service   string    `json:"service"`
		Timestamp time.Time `json:"timestamp"`
	}
}

func (c *suiteCase) file(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadSuite(t testing.TB) []*suiteCase {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(suiteDir, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no suite cases in %s: %v", suiteDir, err)
	}
	var cases []*suiteCase
	for _, d := range dirs {
		c := &suiteCase{name: filepath.Base(d), dir: d}
		if err := json.Unmarshal([]byte(c.file(t, "context.json")), &c.ctx); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cases = append(cases, c)
	}
	return cases
}

// verifier returns a Verifier configured as the case's context says, with the clock at its timestamp.
// The suite's "normalize": false cases are S3's canonicalization (no normalization; their paths
// have no '%', so single and double encoding agree).
func (c *suiteCase) verifier(t testing.TB) *Verifier {
	t.Helper()
	cr := c.ctx.Credentials
	src := func(_ context.Context, id, token string) (*Credential, error) {
		if id != cr.AccessKeyID {
			return nil, fmt.Errorf("access key %s: %w", id, ErrUnknownCredential)
		}
		if token != cr.Token {
			return nil, fmt.Errorf("session token does not belong to %s: %w", id, ErrUnknownCredential)
		}
		return &Credential{SecretAccessKey: cr.SecretAccessKey}, nil
	}
	v, err := NewVerifier(src, Options{
		Region:  c.ctx.Region,
		Service: c.ctx.Service,
		S3:      !c.ctx.Normalize,
		Now:     func() time.Time { return c.ctx.Timestamp },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readSuiteRequest turns a suite request file into the *http.Request Go's server would hand a
// handler: http.ReadRequest runs the same parser as the server (request line, header folding of
// multi-line values into one space-joined value, Host moved to r.Host, RequestURI kept verbatim).
//
// The get-space-* cases put a raw space in the request-target, which Go's server refuses (400)
// before any handler runs; to still exercise the canonical encoding of a space, the request line
// is parsed with "/" as its target and the request then given the real target as the server would
// present it: RequestURI verbatim and URL from url.ParseRequestURI.
func readSuiteRequest(raw string) (*http.Request, error) {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err == nil {
		return r, nil
	}
	line, rest, _ := strings.Cut(raw, "\n")
	fields := strings.Split(line, " ")
	if len(fields) <= 3 {
		return nil, err
	}
	method, proto := fields[0], fields[len(fields)-1]
	target := strings.Join(fields[1:len(fields)-1], " ")
	r, err = http.ReadRequest(bufio.NewReader(strings.NewReader(method + " / " + proto + "\n" + rest)))
	if err != nil {
		return nil, err
	}
	if r.URL, err = url.ParseRequestURI(target); err != nil {
		return nil, err
	}
	r.RequestURI = target
	return r, nil
}

// expectedRefusal lists suite cases that must be refused, and why.
//
// post-sts-header-after signs the request and then adds the session token without signing it
// (its "omit_session_token": true). In the header form that is accepted, as AWS accepts it: an unsigned
// X-Amz-Security-Token header is allowed (the token must still belong to the access key that signed).
// In the query form the token is a query parameter, and every parameter of the query is part of the
// canonical request: the signature cannot match, and guessing which parameters were left out of it
// is not something a verifier should do.
var expectedRefusal = map[string]map[string]error{
	"post-sts-header-after": {"query": ErrSignatureMismatch},
}

func TestSuite(t *testing.T) {
	t.Parallel()
	for _, c := range loadSuite(t) {
		for _, form := range []string{"header", "query"} {
			t.Run(c.name+"/"+form, func(t *testing.T) {
				t.Parallel()
				v := c.verifier(t)
				var canonical, sts string
				v.trace = func(cr, s []byte) { canonical, sts = string(cr), string(s) }
				r, err := readSuiteRequest(c.file(t, form+"-signed-request.txt"))
				if err != nil {
					t.Fatal(err)
				}
				res, err := v.Verify(r)
				if want := expectedRefusal[c.name][form]; want != nil {
					if !errors.Is(err, want) {
						t.Fatalf("Verify: got %v, want %v", err, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("Verify: %v\ncanonical request:\n%s", err, canonical)
				}
				if got, want := canonical, c.file(t, form+"-canonical-request.txt"); got != want {
					t.Errorf("canonical request:\n%s\nwant:\n%s", got, want)
				}
				if got, want := sts, c.file(t, form+"-string-to-sign.txt"); got != want {
					t.Errorf("string to sign:\n%s\nwant:\n%s", got, want)
				}
				if got, want := res.Signature, c.file(t, form+"-signature.txt"); got != want {
					t.Errorf("Signature = %s, want %s", got, want)
				}
				if res.AccessKeyID != c.ctx.Credentials.AccessKeyID || res.Presigned != (form == "query") ||
					!res.SignedAt.Equal(c.ctx.Timestamp) {
					t.Errorf("Result = %+v", res)
				}
				// The body was hashed and must still be there for the upstream.
				_, wantBody, _ := strings.Cut(c.file(t, "request.txt"), "\n\n")
				if r.Body != nil {
					if body, _ := io.ReadAll(r.Body); string(body) != wantBody {
						t.Errorf("body after Verify = %q, want %q", body, wantBody)
					}
				}
			})
		}
	}
}

// TestSuiteTampered changes one byte of every signed part of every signed request (method,
// request-target with path and query, each signed header's name and value, the Authorization
// header, the body) and requires each variant to be refused. Variants that Go cannot parse as a
// request never reach a handler and are skipped.
func TestSuiteTampered(t *testing.T) {
	t.Parallel()
	for _, c := range loadSuite(t) {
		for _, form := range []string{"header", "query"} {
			if expectedRefusal[c.name][form] != nil {
				continue
			}
			t.Run(c.name+"/"+form, func(t *testing.T) {
				t.Parallel()
				v := c.verifier(t)
				raw := c.file(t, form+"-signed-request.txt")
				positions := signedPositions(t, raw)
				orig, err := readSuiteRequest(raw)
				if err != nil {
					t.Fatal(err)
				}
				method := orig.Method
				origPath, _, _ := strings.Cut(orig.RequestURI, "?")
				pathEnd := len(method) + 1 + len(origPath)
				tested := 0
				for _, p := range positions {
					b := []byte(raw)
					b[p] = mutate(b[p])
					r, err := readSuiteRequest(string(b))
					if err != nil {
						continue
					}
					// Normalization signs "/a/.." as "/": bytes of a segment that ".." removes are
					// not covered by the signature, by the SigV4 specification. path.Clean (an
					// independent implementation) tells which changes leave the signed path alone.
					if c.ctx.Normalize && p < pathEnd {
						newPath, _, _ := strings.Cut(r.RequestURI, "?")
						if path.Clean(newPath) == path.Clean(origPath) &&
							strings.HasSuffix(newPath, "/") == strings.HasSuffix(origPath, "/") {
							continue
						}
					}
					tested++
					if res, err := v.Verify(r); err == nil {
						t.Errorf("byte %d %q -> %q: verified %+v\n%s", p, raw[p], b[p], res, b)
					} else if e := (*Error)(nil); !errors.As(err, &e) {
						t.Errorf("byte %d: error %T is not *Error", p, err)
					}
				}
				t.Logf("%d of %d tampered variants tested", tested, len(positions))
				if tested < len(positions)*3/4 {
					t.Errorf("only %d of %d tampered requests could be parsed", tested, len(positions))
				}
			})
		}
	}
}

// signedPositions returns the offsets of the signed bytes of a raw suite request: the method, the
// request-target, the names and values of signed headers (and of Authorization), the body.
func signedPositions(t *testing.T, raw string) []int {
	t.Helper()
	r, err := readSuiteRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	signed := r.URL.Query().Get("X-Amz-SignedHeaders")
	if a := r.Header.Get("Authorization"); a != "" {
		_, signed, _ = strings.Cut(a, "SignedHeaders=")
		signed, _, _ = strings.Cut(signed, ",")
	}
	isSigned := func(name string) bool {
		name = strings.ToLower(name)
		return name == "authorization" || strings.Contains(";"+signed+";", ";"+name+";")
	}

	var pos []int
	head, _, hasBody := strings.Cut(raw, "\n\n")
	line, _, _ := strings.Cut(head, "\n")
	protoAt := strings.LastIndexByte(line, ' ')
	for i := 0; i < protoAt; i++ {
		if raw[i] != ' ' || i > strings.IndexByte(line, ' ') { // the method, then the whole target
			pos = append(pos, i)
		}
	}
	off := len(line) + 1
	inSigned := false
	for _, l := range strings.Split(head, "\n")[1:] {
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			name, _, _ := strings.Cut(l, ":")
			inSigned = isSigned(name)
		}
		if inSigned {
			for i := 0; i < len(l); i++ {
				if l[i] != ':' && !(i == 0 && l[0] == ' ') {
					pos = append(pos, off+i)
				}
			}
		}
		off += len(l) + 1
	}
	if hasBody {
		for i := len(head) + 2; i < len(raw); i++ {
			pos = append(pos, i)
		}
	}
	return pos
}

// mutate changes a byte to another one of the same kind, so the request stays parseable.
func mutate(c byte) byte {
	switch {
	case c == 'z', c == 'Z':
		return c - 25
	case c == '9':
		return '0'
	case 'a' <= c && c < 'z', 'A' <= c && c < 'Z', '0' <= c && c < '9':
		return c + 1
	default:
		return 'x'
	}
}
