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
// ring that signs (the gateway's identity assertions).
//
// A fleet may share a secret instead of storage (NewFromSecret): every key is then derived with
// HKDF-SHA256 from the secret, per purpose, per ring name and per rotation epoch (unix time over
// RotationInterval), so replicas that share the secret hold the same keys and rotate together without
// talking to each other. A key id carries the secret's fingerprint and the epoch, never the secret; a
// previous secret keeps opening and verifying what it sealed and signed until that has expired. Secrets
// are checked first (ValidateSecret), and no error contains one. The root key (DeriveKey, behind an
// identity pool's identity ids) comes from an identity secret of its own, which a routine rotation
// keeps (see Secret).
//
// The package does not import Caddy.
package keyring
