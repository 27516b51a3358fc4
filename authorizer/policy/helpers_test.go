package policy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// newEngine starts an Engine for the test and closes it when the test ends.
func newEngine(t *testing.T, cfg policy.Config) *policy.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := policy.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Close(ctx)
	})
	return e
}

// writeFiles writes files (name -> content) into a new temporary directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// policyEngine starts an Engine on one Rego module (its decision at data.test.decision).
func policyEngine(t *testing.T, rego string) *policy.Engine {
	t.Helper()
	dir := writeFiles(t, map[string]string{"test.rego": "package test\n\n" + rego})
	return newEngine(t, policy.Config{Paths: []string{dir}, Decision: "data.test.decision"})
}

// get is an Input for a GET of target (a path with an optional query) by id.
func get(target string, id *identity.Identity) policy.Input {
	r := httptest.NewRequest(http.MethodGet, "https://api.example.com"+target, nil)
	return policy.Input{Request: r, Path: r.URL.Path, Identity: id}
}

// Callers used across the tests.
func alice() *identity.Identity {
	return &identity.Identity{
		Kind:          identity.KindUserPool,
		Authenticated: true,
		Issuer:        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
		Subject:       "11111111-2222-3333-4444-555555555555",
		Username:      "alice",
		ClientID:      "client-1",
		TokenUse:      "access",
		Groups:        []string{"admins", "staff"},
		Scopes:        []string{"orders/read"},
		ExpiresAt:     time.Unix(1_900_000_000, 0),
		Claims: map[string]any{
			"sub":              "11111111-2222-3333-4444-555555555555",
			"custom:tenant_id": "t1",
			"tenants":          []any{"t1", "t2"},
			"level":            float64(3),
			"email_verified":   true,
		},
	}
}

func bob() *identity.Identity {
	return &identity.Identity{
		Kind:          identity.KindOIDC,
		Authenticated: true,
		Issuer:        "https://idp.example.com",
		Subject:       "bob",
		Scopes:        []string{"orders/write"},
		Claims:        map[string]any{"sub": "bob", "custom:tenant_id": "t2"},
	}
}

func guest() *identity.Identity {
	return &identity.Identity{
		Kind:    identity.KindIdentityPool,
		Subject: "us-east-1:aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		Pool: &identity.PoolCredentials{
			IdentityID:     "us-east-1:aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			IdentityPoolID: "us-east-1:ffffffff-0000-1111-2222-333333333333",
			RoleARN:        "arn:aws:iam::123456789012:role/guest",
			PrincipalTags:  map[string]string{"tenant": "t1"},
			AccessKeyID:    "ASIAEXAMPLEEXAMPLE00",
		},
	}
}

func mustRules(t *testing.T, groups, scopes []string, claims ...policy.ClaimRule) *policy.Rules {
	t.Helper()
	r, err := policy.NewRules(groups, scopes, claims)
	if err != nil {
		t.Fatalf("NewRules: %v", err)
	}
	return r
}

// anyRole is rules with WithAnyRole.
func anyRole(t *testing.T, r *policy.Rules) *policy.Rules {
	t.Helper()
	out, err := r.WithAnyRole()
	if err != nil {
		t.Fatalf("WithAnyRole: %v", err)
	}
	return out
}
