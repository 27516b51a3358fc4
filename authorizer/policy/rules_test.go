package policy_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

func TestParseClaimRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   string
		want   policy.ClaimRule
		errHas string
	}{
		{name: "segment", args: "custom:tenant_id segment 1", want: policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromSegment, Segment: 1}},
		{name: "segment 0", args: "tenant segment 0", want: policy.ClaimRule{Claim: "tenant", From: policy.FromSegment}},
		{name: "header", args: "custom:tenant_id header X-Tenant-Id", want: policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromHeader, Name: "X-Tenant-Id"}},
		{name: "query", args: "custom:tenant_id query tenant", want: policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromQuery, Name: "tenant"}},
		{name: "values", args: "custom:plan value pro enterprise", want: policy.ClaimRule{Claim: "custom:plan", From: policy.FromValue, Values: []string{"pro", "enterprise"}}},
		{name: "no arguments", args: "", errHas: "got 0 argument"},
		{name: "claim only", args: "custom:tenant_id", errHas: "got 1 argument"},
		{name: "source without argument", args: "custom:tenant_id segment", errHas: "got 2 argument"},
		{name: "unknown source", args: "custom:tenant_id cookie tenant", errHas: `unknown source "cookie"`},
		{name: "segment not a number", args: "t segment one", errHas: `segment index "one" is not a number`},
		{name: "negative segment", args: "t segment -1", errHas: "out of range"},
		{name: "segment too far", args: "t segment 64", errHas: "out of range"},
		{name: "two segments", args: "t segment 1 2", errHas: "takes one argument"},
		{name: "two headers", args: "t header A B", errHas: "takes one argument"},
		{name: "invalid header name", args: "t header X:Tenant", errHas: "invalid header name"},
		{name: "credential header", args: "t header Authorization", errHas: "carries credentials"},
		{name: "credential header, any case", args: "t header cookie", errHas: "carries credentials"},
		{name: "credential query parameter", args: "t query x-amz-signature", errHas: "carries credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := policy.ParseClaimRule(strings.Fields(tt.args))
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("got %+v, %v; want an error saying %q", got, err, tt.errHas)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if _, err := policy.NewRules(nil, nil, []policy.ClaimRule{got}); err != nil {
				t.Fatalf("NewRules refuses a parsed rule: %v", err)
			}
		})
	}
}

func TestNewRules(t *testing.T) {
	t.Parallel()
	ok := policy.ClaimRule{Claim: "c", From: policy.FromSegment, Segment: 1}
	many := make([]string, 65)
	for i := range many {
		many[i] = "g"
	}
	tests := []struct {
		name   string
		groups []string
		scopes []string
		claims []policy.ClaimRule
		errHas string
	}{
		{name: "nothing"},
		{name: "everything", groups: []string{"admins", "Domain Users"}, scopes: []string{"orders/read"}, claims: []policy.ClaimRule{ok}},
		{name: "empty group", groups: []string{"admins", ""}, errHas: "group is empty"},
		{name: "empty scope", scopes: []string{""}, errHas: "scope is empty"},
		{name: "scope with a space", scopes: []string{"orders/read orders/write"}, errHas: "contains a space"},
		{name: "group with a newline", groups: []string{"a\nb"}, errHas: "control character"},
		{name: "group not UTF-8", groups: []string{"\xff"}, errHas: "not valid UTF-8"},
		{name: "group too long", groups: []string{strings.Repeat("g", 257)}, errHas: "longer than"},
		{name: "too many groups", groups: many, errHas: "at most 64"},
		{name: "claim rule without claim", claims: []policy.ClaimRule{{From: policy.FromSegment}}, errHas: "claim name is empty"},
		{name: "claim rule without source", claims: []policy.ClaimRule{{Claim: "c"}}, errHas: "unknown source"},
		{name: "segment rule with a name", claims: []policy.ClaimRule{{Claim: "c", From: policy.FromSegment, Name: "x"}}, errHas: "only a segment index"},
		{name: "header rule with a segment", claims: []policy.ClaimRule{{Claim: "c", From: policy.FromHeader, Name: "X-T", Segment: 2}}, errHas: "only a header name"},
		{name: "query rule with values", claims: []policy.ClaimRule{{Claim: "c", From: policy.FromQuery, Name: "t", Values: []string{"a"}}}, errHas: "only a parameter name"},
		{name: "query rule without name", claims: []policy.ClaimRule{{Claim: "c", From: policy.FromQuery}}, errHas: "is empty"},
		{name: "value rule without values", claims: []policy.ClaimRule{{Claim: "c", From: policy.FromValue}}, errHas: "needs 1 to 64 values"},
		{name: "value rule with an empty value", claims: []policy.ClaimRule{{Claim: "c", From: policy.FromValue, Values: []string{""}}}, errHas: "value is empty"},
		{name: "value rule with a name", claims: []policy.ClaimRule{{Claim: "c", From: policy.FromValue, Values: []string{"a"}, Name: "n"}}, errHas: "only values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := policy.NewRules(tt.groups, tt.scopes, tt.claims)
			if tt.errHas == "" {
				if err != nil || r == nil {
					t.Fatalf("NewRules: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("got %v; want an error saying %q", err, tt.errHas)
			}
		})
	}
}
