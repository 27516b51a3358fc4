package identitypool

import (
	"net/http"
	"slices"
	"sync"
	"testing"
)

// recordingObserver remembers what a Pool reported.
type recordingObserver struct {
	mu     sync.Mutex
	served []string // "op outcome"
	issued []string
}

func (o *recordingObserver) Served(op, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.served = append(o.served, op+" "+outcome)
}

func (o *recordingObserver) Issued(roleARN string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.issued = append(o.issued, roleARN)
}

// TestObserver checks that every API call is reported once with its outcome, and credentials by role
// only when they are issued.
func TestObserver(t *testing.T) {
	t.Parallel()
	o := &recordingObserver{}
	e := newTestEnv(t, func(c *Config) { c.Observer = o })
	guestID := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID})["IdentityId"]
	e.mustOK(t, "GetCredentialsForIdentity", map[string]any{"IdentityId": guestID})
	if status, _, _ := e.call(t, "GetCredentialsForIdentity", map[string]any{"IdentityId": guestID, "CustomRoleArn": authRole}); status != http.StatusBadRequest {
		t.Fatalf("a guest asking for a custom role: status %d, want 400", status)
	}
	if status, _, _ := e.raw(t, http.MethodPost, jsonContentType, "AWSCognitoIdentityService.ListIdentities", []byte("{}")); status != http.StatusBadRequest {
		t.Fatalf("an unknown operation: status %d, want 400", status)
	}
	want := []string{
		"GetId ok",
		"GetCredentialsForIdentity ok",
		"GetCredentialsForIdentity InvalidParameterException",
		" UnknownOperationException",
	}
	if !slices.Equal(o.served, want) {
		t.Errorf("served %q, want %q", o.served, want)
	}
	if !slices.Equal(o.issued, []string{unauthRole}) {
		t.Errorf("issued %q, want one for %s", o.issued, unauthRole)
	}
}
