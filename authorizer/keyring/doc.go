// Package keyring keeps the keys that seal, MAC and sign, shared by every instance that uses them.
//
// A Ring owns:
//   - rotation: key generations, each an AES-256-GCM key that seals and an ECDSA P-256 key that signs; a
//     new generation is published ahead of use, takes over on a schedule, and a retired one keeps opening
//     and verifying for the Retention window (the longest lifetime of anything it sealed or signed);
//   - storage: the generations and a root key that never rotates live in one document in a Storage
//     (Caddy's, in production), written under the storage lock, so instances that share the storage share
//     the keys; a key id an instance does not know is looked up again, rate-limited;
//   - seal and open (Seal, Open): an envelope with the key id in clear, for tokens such as an identity
//     pool's session tokens;
//   - sign and publish (SignJWT, JWKS): ES256 JWTs and the JSON Web Key Set that verifies them;
//   - derived keys (DeriveKey): MAC keys derived from the root key, for what must outlive every rotation,
//     such as identity ids.
//
// What a ring serves decides where it lives in storage (Options.Purpose): an identity pool's ring, or a
// ring that signs (the gateway's identity assertions). A later change adds rings whose keys are derived
// from a shared secret, so that replicas of a fleet need no shared storage.
//
// The package does not import Caddy.
package keyring
