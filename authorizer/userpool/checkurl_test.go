package userpool_test

import (
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"", true},
		{"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123", true},
		{"http://localhost:9229/local_pool", true},
		{"ftp://x", false},
		{"file:///etc/passwd", false},
		{"cognito-idp.us-east-1.amazonaws.com", false},
		{"HTTPS://upper.example.com", false},
	} {
		if err := userpool.CheckURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}
