package policies_test

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/caddy-cognito/caddy-cognito/policies"
)

// TestRego runs every Rego test beside the policies through OPA's test runner, one Go subtest per
// Rego test, and fails when it finds none.
func TestRego(t *testing.T) {
	t.Parallel()
	modules := map[string]*ast.Module{}
	err := fs.WalkDir(os.DirFS("."), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return err
		}
		modules[path] = m
		return nil
	})
	if err != nil {
		t.Fatalf("loading the policies: %v", err)
	}

	ctx := context.Background()
	results, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithEnablePrintStatements(true)).
		SetStore(inmem.New()).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		Run(ctx, modules)
	if err != nil {
		t.Fatalf("running the Rego tests: %v", err)
	}
	n := 0
	for r := range results {
		n++
		t.Run(r.Package+"."+r.Name, func(t *testing.T) {
			if r.Error != nil {
				t.Fatalf("%s: error: %v\n%s", r.Location, r.Error, r.Output)
			}
			if r.Fail || r.Skip {
				t.Fatalf("%s: %s\n%s", r.Location, r.String(), r.Output)
			}
		})
	}
	if n == 0 {
		t.Fatal("found no Rego test beside the policies")
	}
}

// TestEmbedded checks that every policy file in the package (tests aside) is embedded, so a new file
// cannot be forgotten in the go:embed directive, and that Library and Default return all of them.
func TestEmbedded(t *testing.T) {
	t.Parallel()
	onDisk, embedded := regoFiles(t, os.DirFS(".")), regoFiles(t, policies.FS())
	if !slices.Equal(onDisk, embedded) {
		t.Fatalf("embedded %v, on disk %v", embedded, onDisk)
	}
	var got []string
	for _, m := range append(policies.Library(), policies.Default()) {
		if !strings.Contains(m.Source, "package cognito.") {
			t.Errorf("%s: no cognito package in its source", m.Path)
		}
		got = append(got, m.Path)
	}
	slices.Sort(got)
	if !slices.Equal(got, embedded) {
		t.Fatalf("Library and Default return %v, embedded are %v", got, embedded)
	}
}

// regoFiles lists the policy files of fsys, tests excluded, sorted.
func regoFiles(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	var paths []string
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".rego") && !strings.HasSuffix(path, "_test.rego") {
			paths = append(paths, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	return paths
}
