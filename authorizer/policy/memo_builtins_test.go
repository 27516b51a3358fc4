package policy

import (
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// compileRego compiles one module with every built-in OPA knows.
func compileRego(t *testing.T, rego string) *ast.Compiler {
	t.Helper()
	mod, err := ast.ParseModuleWithOpts("p.rego", "package p\n\n"+rego, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	c := ast.NewCompiler()
	if c.Compile(map[string]*ast.Module{"p.rego": mod}); c.Failed() {
		t.Fatal(c.Errors)
	}
	return c
}

// TestDeterministicBuiltinClasses checks one policy per kind of built-in whose result is not a
// function of its arguments (the clock, randomness, the world outside) against ones that are.
func TestDeterministicBuiltinClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		class, rego string
		want        bool
	}{
		{"clock", `x := time.now_ns()`, false},
		{"clock", `x := io.jwt.decode_verify(input.token, {"secret": "s"})`, false},
		{"clock", `x := crypto.x509.parse_and_verify_certificates(input.pem)`, false},
		{"clock", `x := crypto.x509.parse_and_verify_certificates_with_options(input.pem, {"DNSName": "a"})`, false},
		{"clock, in a function", "f(y) := time.now_ns() + y\n\nx := f(1)", false},
		{"randomness", `x := rand.intn("k", 10)`, false},
		{"randomness", `x := uuid.rfc4122("k")`, false},
		{"randomness", `x := io.jwt.encode_sign({"alg": "ES256"}, {}, input.jwk)`, false},
		{"randomness", `x := io.jwt.encode_sign_raw("{}", "{}", "{}")`, false},
		{"outside world", `x := http.send({"method": "GET", "url": "http://127.0.0.1:1"})`, false},
		{"outside world", `x := net.lookup_ip_addr("example.com")`, false},
		{"outside world", `x := opa.runtime()`, false},
		{"outside world", `x := json.match_schema(input, {"$ref": "http://127.0.0.1:1/s"})`, false},
		{"outside world", `x := json.verify_schema({"$ref": "http://127.0.0.1:1/s"})`, false},
		{"pure: time arithmetic", `x := time.add_date(time.parse_rfc3339_ns("2026-01-01T00:00:00Z"), 0, 0, 1)`, true},
		{"pure: decoding a token without verifying it", `x := io.jwt.decode(input.token)`, true},
		{"pure: verifying a signature alone", `x := io.jwt.verify_hs256(input.token, "s")`, true},
		{"pure: parsing certificates", `x := crypto.x509.parse_certificates(input.pem)`, true},
		{"pure: strings and regexes", `x := regex.match("^a", lower(input.s))`, true},
	}
	for _, tt := range tests {
		t.Run(tt.class+": "+tt.rego, func(t *testing.T) {
			t.Parallel()
			if got := deterministic(compileRego(t, tt.rego)); got != tt.want {
				t.Fatalf("deterministic = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestUnrepeatableBuiltinsListed lists every built-in of this OPA version that turns memoization
// off, so that an OPA upgrade that adds one fails here until doc comments (deterministic) and the
// README's list name it.
func TestUnrepeatableBuiltinsListed(t *testing.T) {
	t.Parallel()
	want := []string{
		"crypto.x509.parse_and_verify_certificates", "crypto.x509.parse_and_verify_certificates_with_options",
		"http.send", "internal.print", "io.jwt.decode_verify", "io.jwt.encode_sign", "io.jwt.encode_sign_raw",
		"json.match_schema", "json.verify_schema", "net.lookup_ip_addr", "opa.runtime", "print", "rand.intn",
		"time.now_ns", "uuid.rfc4122",
	}
	var got []string
	for _, b := range ast.Builtins {
		if unrepeatableBuiltin(b.Name, b.Nondeterministic) {
			got = append(got, b.Name)
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(got, want) {
		t.Fatalf("built-ins that turn memoization off:\n got %q\nwant %q", got, want)
	}
}
