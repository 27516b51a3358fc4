package integration

// The stand-in upstreams the examples ship print only what their gateway sends.

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	fwd "github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

// standInHeader matches a placeholder of an X-Cognito-* request header, as the stand-ins print them.
var standInHeader = regexp.MustCompile(`\{http\.request\.header\.(X-Cognito-[A-Za-z-]+)\}`)

// TestExampleStandInsPrintWhatIsSent checks that every X-Cognito-* header an example's stand-in upstream
// prints is sent by a route of the gateway it stands behind: a default, or named by a `forward` line
// (the route's `forward all`: every header of its callers). A field the gateway never sends would be
// empty in every answer, and the README that shows it would be wrong. The end-to-end tests of each
// example check the values.
func TestExampleStandInsPrintWhatIsSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		standIn  string   // the file with the stand-in's respond template, relative to the repository root
		gateways []string // the Caddyfiles whose routes it answers
	}{
		{"Caddyfile.example", []string{"Caddyfile.example"}},
		{"examples/browser/Caddyfile", []string{"examples/browser/Caddyfile"}},
		{"examples/sidecar/compose.yaml", []string{"examples/sidecar/Caddyfile"}},
		{"examples/sidecar/deployment.yaml", []string{"examples/sidecar/Caddyfile"}},
		// The stand-in of examples/README.md serves the examples that send to UPSTREAM's default.
		{"examples/README.md", []string{"examples/userpool/Caddyfile", "examples/guests/Caddyfile",
			"examples/userpool-and-identitypool/Caddyfile", "examples/oidc/Caddyfile"}},
	}
	read := func(t *testing.T, name string) string {
		t.Helper()
		text, err := os.ReadFile(filepath.Join(harness.root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(text)
	}
	for _, tt := range tests {
		t.Run(tt.standIn, func(t *testing.T) {
			t.Parallel()
			sent := map[string]bool{}
			for _, g := range tt.gateways {
				for _, h := range sentHeaders(t, g, read(t, g)) {
					sent[h] = true
				}
			}
			printed := standInHeader.FindAllStringSubmatch(read(t, tt.standIn), -1)
			if len(printed) == 0 {
				t.Fatalf("%s prints no X-Cognito-* header: is its stand-in still there?", tt.standIn)
			}
			for _, m := range printed {
				if h := http.CanonicalHeaderKey(m[1]); !sent[h] {
					t.Errorf("%s prints %s, which no route of %s sends: forward it there, or stop printing it",
						tt.standIn, h, strings.Join(tt.gateways, ", "))
				}
			}
		})
	}
}

// sentHeaders returns the X-Cognito-* headers the cognito_authorizer routes of a Caddyfile send on allow:
// the defaults of the callers they accept (user_pool and oidc: tokens; identity_pool: signed requests)
// and what their uncommented `forward` lines name.
func sentHeaders(t *testing.T, name, caddyfile string) []string {
	t.Helper()
	tokenHeaders := []string{fwd.HeaderSub, fwd.HeaderGroups, fwd.HeaderUsername, fwd.HeaderScopes, fwd.HeaderClientID}
	identityHeaders := []string{fwd.HeaderIdentityID, fwd.HeaderIdentityPoolID, fwd.HeaderAuthType,
		fwd.HeaderAuthProvider, fwd.HeaderRoleARN}
	var tokens, identities, all bool
	var named []string
	for _, line := range strings.Split(caddyfile, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if i := slices.IndexFunc(f, func(s string) bool { return strings.HasPrefix(s, "#") }); i >= 0 {
			f = f[:i]
		}
		switch f[0] {
		case "user_pool", "oidc":
			tokens = true
		case "identity_pool":
			identities = true
		case "forward":
			for _, h := range f[1:] {
				if h == "all" {
					all = true
				} else {
					named = append(named, http.CanonicalHeaderKey(h))
				}
			}
		}
	}
	if !tokens && !identities {
		t.Fatalf("%s has no cognito_authorizer route (no user_pool, oidc or identity_pool line)", name)
	}
	sent := named
	if tokens {
		sent = append(sent, fwd.HeaderSub, fwd.HeaderGroups)
		if all {
			sent = append(sent, tokenHeaders...)
		}
	}
	if identities {
		sent = append(sent, fwd.HeaderIdentityID)
		if all {
			sent = append(sent, identityHeaders...)
		}
	}
	return sent
}
