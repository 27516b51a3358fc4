package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

// maxPolicyBytes bounds what is read of a route's policy files to tell whether they changed.
const maxPolicyBytes = 64 << 20

// policyEngine is a policy engine in the shared pool; the last configuration to release it closes it
// (stopping bundle polling and flushing decision logs).
type policyEngine struct{ *authorizer.PolicyEngine }

func (e policyEngine) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.Close(ctx)
	policyMemo.untrack(e.PolicyEngine)
	return nil
}

// acquireEngine returns the policy engine of c, shared by every route (and configuration) with the
// same policy: the same decision, OPA configuration and files, compared by content, so a `caddy
// reload` after a policy file changed compiles the new policy, and one with nothing changed reuses
// the compiled one.
func (g *gate) acquireEngine(ctx caddy.Context, c *Config) (*authorizer.PolicyEngine, error) {
	var opaConfig []byte
	if c.OPAConfigFile != "" {
		var err error
		if opaConfig, err = readLimited(c.OPAConfigFile, 1<<20); err != nil {
			return nil, fmt.Errorf("opa_config: %w", err)
		}
	}
	key, err := policyKey(c.Policy, c.Decision, opaConfig)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	v, _, err := shared.LoadOrNew(key, func() (caddy.Destructor, error) {
		e, err := authorizer.NewPolicyEngine(ctx, authorizer.EngineConfig{
			Paths: c.Policy, Decision: c.Decision, OPAConfig: opaConfig,
			// The engine may outlive this configuration, so it logs through Caddy's default logger.
			Logger:       caddy.Log().Named("http.handlers.cognito_authorizer.opa"),
			OnActivation: observeActivation,
		})
		if err != nil {
			return nil, err
		}
		policyMemo.track(e)
		return policyEngine{e}, nil
	})
	if err != nil {
		return nil, err
	}
	g.releases = append(g.releases, func() { _, _ = shared.Delete(key) })
	return v.(policyEngine).PolicyEngine, nil
}

// policyKey identifies a policy by the content of everything it is built from.
func policyKey(paths []string, decision string, opaConfig []byte) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "decision %q\nopa %d\n", decision, len(opaConfig))
	h.Write(opaConfig)
	total := 0
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := readLimited(path, maxPolicyBytes-total)
			if err != nil {
				return err
			}
			total += len(b)
			fmt.Fprintf(h, "file %q %d\n", path, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return "policy|" + hex.EncodeToString(h.Sum(nil)), nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, errors.New(path + ": too large")
	}
	return b, nil
}
