package authorizer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// TestDotSegmentsAgree: the authorizer, choosing the path to decide on, and the policy input, taking
// that path, refuse the same dot segments; the policy used to let dot segments with path parameters
// through, which the authorizer refused.
func TestDotSegmentsAgree(t *testing.T) {
	e := engine(t, "")
	for _, tt := range []struct {
		path    string
		refused bool
	}{
		{"/public/..;/admin", true},
		{"/public/..;jsessionid=x/admin", true},
		{"/public/.;x/admin", true},
		{"/public/../admin", true},
		{"/public/./admin", true},
		{"/public/%2e%2e/admin", true},
		{"/public/.%2E/admin", true},
		{"/public/..b/admin", false},
		{"/public/...;x", false},
		{"/orders;v=2/42", false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			_, err := DecisionPath(&http.Request{URL: &url.URL{Path: tt.path}})
			if refused := errors.Is(err, ErrBadPath); refused != tt.refused {
				t.Errorf("DecisionPath: %v, want refused=%v", err, tt.refused)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			_, err = e.Decide(context.Background(), policy.Input{Request: r, Path: tt.path, Identity: identity.Anonymous()})
			if refused := errors.Is(err, policy.ErrBadRequest); refused != tt.refused {
				t.Errorf("policy input: %v, want refused=%v", err, tt.refused)
			}
		})
	}
}
