// Package fleet holds the state that replicas of a gateway share: which request signatures were seen
// (ReplayStore) and which credentials are revoked (Revocations).
//
// Both work in memory on one instance (sigv4.ReplayCache is a ReplayStore; a Revocations with no
// source is complete by itself). Revocations follows Cognito's semantics: a revoked refresh token
// revokes every access and ID token that carries its jti as origin_jti; a global sign-out revokes every
// token of a subject issued before a cut-off; an identity pool's identity id can be revoked. Every entry
// expires with the longest lifetime of what it can revoke, so the set stays bounded. The check done on
// each request is local: a map lookup under a read lock, no allocation.
//
// The package does not import Caddy.
package fleet
