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
// # Revocations on Redis
//
// With Redis, each replica keeps its own Revocations, which Redis.Follow keeps current. An entry is one
// key, under the key prefix (default "caddy-cognito:"), whose TTL ends when the entry expires:
//
//	<prefix>revoked:jti:<origin_jti>     any value ("1")
//	<prefix>revoked:sub:<sub>            the cut-off, in unix milliseconds
//	<prefix>revoked:identity:<id>        any value ("1")
//
// After writing or deleting a key, the writer publishes the key's name on <prefix>revocations, and
// every replica reads that key and applies it within a round trip. A replica also reads every key
// again (SCAN) when its subscription starts, after every reconnection and every resync interval, so a
// publication lost while it was disconnected delays a revocation and never loses it. A key without a
// TTL is honoured while it exists, so it is never forgotten: always give one.
//
// Redis.Revoke and Redis.Unrevoke do both steps. An application's sign-out handler can do them with
// any client; after AdminUserGlobalSignOut of a user whose refresh tokens last 30 days:
//
//	redis-cli SET caddy-cognito:revoked:sub:7d3f0c1e-5b8a-4c2d-9e6f-0a1b2c3d4e5f 1796374800000 PX 2592000000
//	redis-cli PUBLISH caddy-cognito:revocations caddy-cognito:revoked:sub:7d3f0c1e-5b8a-4c2d-9e6f-0a1b2c3d4e5f
//
// A value is at most MaxValueSize bytes, with no control characters; identity ids keep their colon
// (revoked:identity:eu-west-1:0c5d...).
//
// The package does not import Caddy.
package fleet
