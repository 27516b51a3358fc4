package policy

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader"

	"github.com/caddy-cognito/caddy-cognito/policies"
)

// builtinModulePrefix names the modules of the embedded library in OPA's store and in errors.
const builtinModulePrefix = "caddy-cognito/policies/"

// loaded is what the engine hands to OPA when it starts: modules and data from files, bundles from
// .tar.gz files, and the embedded library.
type loaded struct {
	files   loader.Result
	bundles map[string]*bundle.Bundle
	name    string // the policy, as errors name it
}

func parseEmbedded(m policies.Module) (*ast.Module, error) {
	parsed, err := ast.ParseModuleWithOpts(builtinModulePrefix+m.Path, m.Source, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
	if err != nil {
		return nil, fmt.Errorf("parsing the embedded %s: %w", m.Path, err)
	}
	return parsed, nil
}

// load reads the policy files, directories and bundles in paths, and adds the embedded library
// (data.cognito.lib, data.cognito.builtin) so that users' policies can import it, unless they declare
// one of its packages themselves (a copy of the library in their own tree replaces ours). Without paths it also
// adds the default decision. Rego test files (*_test.rego) are not loaded: tests do not belong in a
// running gateway. Every parse error is returned here, with the file and line.
func load(paths []string) (*loaded, error) {
	l := &loaded{
		files:   loader.Result{Modules: map[string]*loader.RegoFile{}, Documents: map[string]any{}},
		bundles: map[string]*bundle.Bundle{},
		name:    "built-in policy",
	}
	if len(paths) > 0 {
		l.name = fmt.Sprintf("policy %v", paths)
	}
	fileLoader := loader.NewFileLoader().WithRegoVersion(ast.RegoV1).WithProcessAnnotation(true)
	var plain []string
	for _, p := range paths {
		if !strings.HasSuffix(p, ".tar.gz") && !strings.HasSuffix(p, ".tgz") {
			plain = append(plain, p)
			continue
		}
		b, err := fileLoader.AsBundle(p)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", l.name, err)
		}
		l.bundles[p] = b
	}
	if len(plain) > 0 {
		res, err := fileLoader.Filtered(plain, func(_ string, info fs.FileInfo, _ int) bool {
			return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
		})
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", l.name, err)
		}
		l.files = *res
		if l.files.Modules == nil {
			l.files.Modules = map[string]*loader.RegoFile{}
		}
	}

	declared := map[string]bool{}
	for _, f := range l.files.Modules {
		declared[f.Parsed.Package.Path.String()] = true
	}
	for _, b := range l.bundles {
		for _, m := range b.Modules {
			declared[m.Parsed.Package.Path.String()] = true
		}
	}
	var builtin []policies.Module
	for _, m := range policies.Library() {
		parsed, err := parseEmbedded(m)
		if err != nil {
			return nil, err
		}
		if declared[parsed.Package.Path.String()] {
			// The user's tree carries its own copy of the library: it replaces ours entirely, as
			// our modules depend on one another.
			builtin = nil
			break
		}
		builtin = append(builtin, m)
	}
	if len(paths) == 0 {
		builtin = append(builtin, policies.Default())
	}
	for _, m := range builtin {
		parsed, err := parseEmbedded(m)
		if err != nil {
			return nil, err
		}
		l.files.Modules[parsed.Package.Location.File] = &loader.RegoFile{Name: parsed.Package.Location.File, Parsed: parsed, Raw: []byte(m.Source)}
	}
	return l, nil
}
