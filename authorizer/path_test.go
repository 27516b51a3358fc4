package authorizer

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func TestDecisionPath(t *testing.T) {
	cases := []struct {
		target string // the request target as sent on the wire
		want   string // "" when refused
	}{
		{"/orders/42", "/orders/42"},
		{"/orders/42/", "/orders/42/"},
		{"/", "/"},
		{"/caf%C3%A9/a%20b", "/café/a b"},
		{"/Admin/Users", "/Admin/Users"},
		{"/public/../admin", ""},
		{"/admin/../public", ""},
		{"/public/./admin", ""},
		{"/public/%2e%2e/admin", ""},
		{"/public/%2E%2e/admin", ""},
		{"/public/.%2e/admin", ""},
		{"/a%2Fb", ""},
		{"/a%2fb", ""},
		{"/a%5Cb", ""},
		{"/a\\b", ""},
		{"//admin", ""},
		{"/admin//x", ""},
		{"/a%00b", ""},
		{"/a%0D%0Ab", ""},
		{"/..", ""},
		{"/...", "/..."},
		{"/a..b/c", "/a..b/c"},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			checkDecisionPath(t, tc.target, tc.want)
		})
	}
}

func TestDecisionPathRefusesAsteriskForm(t *testing.T) {
	if _, err := DecisionPath(&http.Request{URL: &url.URL{Path: "*"}}); !errors.Is(err, ErrBadPath) {
		t.Errorf("OPTIONS * form: err = %v, want ErrBadPath", err)
	}
}

// checkDecisionPath checks DecisionPath on the request target: want is the path the policy decides on,
// or "" for a path refused with ErrBadPath.
func checkDecisionPath(t *testing.T, target, want string) {
	t.Helper()
	u, err := url.ParseRequestURI(target)
	if err != nil {
		t.Fatalf("parse %q: %v", target, err)
	}
	got, err := DecisionPath(&http.Request{URL: u})
	if want == "" {
		if !errors.Is(err, ErrBadPath) {
			t.Errorf("DecisionPath(%q) = %q, %v; want ErrBadPath", target, got, err)
		}
		return
	}
	if err != nil || got != want {
		t.Errorf("DecisionPath(%q) = %q, %v; want %q", target, got, err, want)
	}
}
