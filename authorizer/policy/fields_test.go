package policy

import (
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

// TestInputHasEveryUpstreamField keeps input.identity and the list of what goes upstream from drifting
// apart: the policy decides on every fact the upstream receives, under the same name. The input keeps
// its own shape (the OPA contract: every key present, raw values, claims and IAM context whole), so it
// is not built from that list; this test is what ties them.
func TestInputHasEveryUpstreamField(t *testing.T) {
	t.Parallel()
	// Upstream fields the input holds in another form.
	derived := map[string]string{
		"user_id":                 "subject (user_pool, oidc) or identity_id (identity_pool)",
		"authentication_type":     "authenticated",
		"authentication_provider": "context[\"cognito-identity.amazonaws.com:amr\"]",
	}
	in := identityValue(&identity.Identity{Kind: identity.KindIdentityPool})
	for _, f := range upstream.Fields() {
		if _, ok := derived[f.Name]; ok {
			continue
		}
		found := false
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			_, found = in[n]
			if found {
				break
			}
		}
		if !found {
			t.Errorf("upstream field %q is not in input.identity", f.Name)
		}
	}
}
