// Package policies holds the built-in Rego library of caddy-cognito, embedded in the binary:
//
//   - data.cognito.lib: helpers for your own policies (is_member_of, has_scope, path_matches,
//     claim_equals, ...);
//   - data.cognito.builtin: the built-in policy over the route settings in input.config (groups,
//     scopes, claim rules, and the IAM-style role policies of identity-pool callers);
//   - data.cognito.iam: the evaluator of IAM-style role policies (execute-api:Invoke on the request's
//     resource ARN, explicit deny over allow over implicit deny, wildcards, policy variables,
//     conditions);
//   - data.cognito.authz: the default decision, data.cognito.authz.decision, taken from the built-in
//     policy.
//
// The policy engine loads the library into every policy, so your Rego can `import data.cognito.lib`
// without copying it; the default decision module is loaded only when no policy of yours is given.
// The Rego unit tests beside these files run under `go test`.
package policies

import (
	"embed"
	"io/fs"
)

//go:embed cognito/lib.rego cognito/builtin.rego cognito/iam.rego cognito/authz.rego
var files embed.FS

// Module is one Rego source file.
type Module struct {
	// Path is the file's path in this package, e.g. "cognito/lib.rego"; it names the module in errors.
	Path string
	// Source is the Rego text.
	Source string
}

// Library returns the modules any policy may import: data.cognito.lib, data.cognito.builtin and
// data.cognito.iam.
func Library() []Module {
	return []Module{mustRead("cognito/lib.rego"), mustRead("cognito/builtin.rego"), mustRead("cognito/iam.rego")}
}

// Default returns the module that defines the default decision, data.cognito.authz.decision, as the
// built-in policy's decision.
func Default() Module {
	return mustRead("cognito/authz.rego")
}

// FS returns the embedded Rego files (without their tests), e.g. to copy them next to your own
// policy for `opa test` or into a bundle.
func FS() fs.FS {
	return files
}

func mustRead(path string) Module {
	b, err := files.ReadFile(path)
	if err != nil {
		// The go:embed directive above names every path this package reads, so this cannot happen
		// in a binary that compiled.
		panic("policies: " + err.Error())
	}
	return Module{Path: path, Source: string(b)}
}
