// Package integration holds the end-to-end tests of caddy-cognito: the real Caddy binary built from
// cmd/caddy, a real user-pool emulator (cognito-local), and real AWS clients (aws-sdk-go-v2, the AWS CLI,
// the JavaScript SDK and signers, curl, botocore), all on loopback. It has no code of its own outside
// its tests; see README.md in this directory for how to run them and the load script.
package integration
