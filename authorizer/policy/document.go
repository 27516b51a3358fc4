package policy

import (
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// InputDocument is the input document the policy is given for in, as JSON, with every part built
// (headers, query, path segments) whether or not a policy reads it: what `caddy cognito explain`
// shows. Credentials are left out as in every input (see Input.Request).
func InputDocument(in Input) (json.RawMessage, error) {
	v, err := newInputTerms().build(&in, fullUse)
	if err != nil {
		return nil, err
	}
	doc, err := ast.JSON(v)
	if err != nil {
		return nil, fmt.Errorf("converting the policy input: %w", err)
	}
	return json.Marshal(doc)
}
