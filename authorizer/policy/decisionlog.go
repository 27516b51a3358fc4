package policy

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage"
)

// redacted replaces the value of a credential header a policy returned, in decision logs.
const redacted = "**REDACTED**"

// logDecision hands the decision to OPA's decision log plugin, which applies the configured mask and
// drop policies and uploads or prints it. The input never holds credentials (they are left out when it
// is built); the result may, when a policy adds a credential header for the upstream (an API key
// from its data), so the values of credential headers in the result are replaced before logging,
// whatever mask policy is configured. A decision that cannot be logged fails, as in OPA's own server.
func (e *Engine) logDecision(ctx context.Context, plugin *logs.Plugin, txn storage.Transaction, input ast.Value, result *ast.Term, evalErr error, red *Redaction) error {
	id, err := decisionID()
	if err != nil {
		return fmt.Errorf("decision log: %w", err)
	}
	// Copies: the input shares the identity and config of other requests, and masking edits what it
	// logs in place.
	inputJSON, err := ast.JSONWithOpt(input, ast.JSONOpt{CopyMaps: true})
	if err != nil {
		return fmt.Errorf("decision log: %w", err)
	}
	info := &server.Info{
		Txn:        txn,
		DecisionID: id,
		Path:       e.logPath,
		Timestamp:  time.Now().UTC(),
		Input:      &inputJSON,
		InputAST:   input,
		Error:      evalErr,
		Bundles:    bundleRevisions(ctx, e.manager.Store, txn),
	}
	if result != nil {
		r, err := ast.JSONWithOpt(result.Value, ast.JSONOpt{CopyMaps: true})
		if err != nil {
			return fmt.Errorf("decision log: %w", err)
		}
		r = redactResult(r, red)
		info.Results = &r
	}
	if err := plugin.Log(ctx, info); err != nil {
		return fmt.Errorf("decision log: %w", err)
	}
	return nil
}

// redactResult replaces the values of credential headers in a decision object's "headers".
func redactResult(r any, red *Redaction) any {
	obj, ok := r.(map[string]any)
	if !ok {
		return r
	}
	headers, ok := obj["headers"].(map[string]any)
	if !ok {
		return r
	}
	for name := range headers {
		if red.header(strings.ToLower(name)) {
			headers[name] = redacted
		}
	}
	return r
}

// bundleRevisions names the active bundles and their revisions, as OPA's decision logs show them.
func bundleRevisions(ctx context.Context, store storage.Store, txn storage.Transaction) map[string]server.BundleInfo {
	names, err := bundle.ReadBundleNamesFromStore(ctx, store, txn)
	if err != nil {
		return nil
	}
	infos := make(map[string]server.BundleInfo, len(names))
	for _, name := range names {
		rev, err := bundle.ReadBundleRevisionFromStore(ctx, store, txn, name)
		if err != nil {
			continue
		}
		infos[name] = server.BundleInfo{Revision: rev}
	}
	return infos
}

// decisionID is a random (version 4) UUID, the form OPA gives decision ids.
func decisionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
