// Package upstream owns what an allowed request carries to the upstream: the X-Cognito-* headers, the
// identity in the shape of API Gateway's requestContext (X-Cognito-Context), the {cognito.*}
// placeholder values, the authentication metadata and the claims of the signed identity assertion.
//
// Every one of them is a projection of one list of identity fields (Fields): a field's header, its
// placeholder, its metadata key and its assertion claim are read from the same row, so a field added
// or renamed once is added or renamed everywhere, encoded the same way.
//
// Why the shapes: headers and placeholders end up in HTTP header lines, so every value is
// percent-encoded where it could break one (control characters, and the percent sign itself so the
// encoding reverses), and list elements also where they hold the separator (a group named "admins,ops"
// must not read as two groups). The context JSON copies what API Gateway gives a Lambda or HTTP
// integration (`requestContext.authorizer` for token callers, `requestContext.identity` for IAM
// callers), so a backend that moves off API Gateway keeps reading the same fields. Assertion claims are
// the raw values: a JWT needs no header encoding, and its verifier wants the real group names.
//
// The package knows nothing of Caddy: the adapter sets the headers, registers the placeholders and
// signs the claims.
package upstream
