package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
)

// userPool is a user pool of the benchmark's own: an RSA key whose JWKS it serves on loopback, and the
// access token of one user in group readers, minted as Cognito mints them (RS256, the claims of a Cognito
// access token, about 1 KB).
type userPool struct {
	id, clientID, issuer, jwksURL string
	accessToken                   string
	srv                           *http.Server
}

func newUserPool() (*userPool, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	l, err := listen()
	if err != nil {
		return nil, err
	}
	p := &userPool{id: "us-east-1_Bench0001", clientID: "4bench0client0id0000000000"}
	p.issuer = "http://" + l.Addr().String() + "/" + p.id
	p.jwksURL = p.issuer + "/.well-known/jwks.json"
	const kid = "bench-key-1"
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	mux := http.NewServeMux()
	mux.HandleFunc("/"+p.id+"/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(l) }()

	now := time.Now().Unix()
	claims := map[string]any{
		"sub":            "5f2e7a9c-0b1d-4c3e-9f8a-1b2c3d4e5f60",
		"cognito:groups": []string{"readers"},
		"iss":            p.issuer,
		"version":        2,
		"client_id":      p.clientID,
		"origin_jti":     "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
		"event_id":       "9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9",
		"token_use":      "access",
		"scope":          "aws.cognito.signin.user.admin openid orders/read",
		"custom:tenant":  "tenant-1",
		"auth_time":      now,
		"iat":            now,
		"exp":            now + 3600, // longer than any run
		"jti":            "1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6",
		"username":       "bench-user",
	}
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid})
	payload, _ := json.Marshal(claims)
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return nil, err
	}
	p.accessToken = input + "." + b64(sig)
	return p, nil
}

func (p *userPool) close() { _ = p.srv.Close() }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// credentials are an identity-pool guest's.
type credentials struct {
	aws.Credentials
	fetched time.Time
}

// guestCredentials gets a guest's credentials (GetId, GetCredentialsForIdentity) from the identity pool
// that in serves, with the AWS SDK as any client would. They are good at every SigV4 instance: all derive
// their keys from the run's key_secret.
func guestCredentials(ctx context.Context, in *instance) (*credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	region, _, _ := strings.Cut(identityPoolID, ":")
	client := cognitoidentity.New(cognitoidentity.Options{
		Region: region, BaseEndpoint: aws.String(in.url + "/identity"), Credentials: aws.AnonymousCredentials{},
	})
	id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(identityPoolID)})
	if err != nil {
		return nil, fmt.Errorf("GetId at %s: %w", in.name, err)
	}
	got, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		return nil, fmt.Errorf("GetCredentialsForIdentity at %s: %w", in.name, err)
	}
	return &credentials{Credentials: aws.Credentials{
		AccessKeyID: aws.ToString(got.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(got.Credentials.SecretKey),
		SessionToken: aws.ToString(got.Credentials.SessionToken),
	}, fetched: time.Now()}, nil
}

// signedRequests signs n requests (method to /items/1, /items/2, ...; POSTs with body) for the host of
// baseURL, and returns them as signedLua reads them: a first line of what they share, the method and the
// signed headers as name=value, tab-separated, the Authorization header's value up to its signature; then
// one line a request, its path and its signature. Each path has its own signature, so that a request sent
// once is never a replay. Signatures are good for AWS's 5 minutes of skew: sign again before each
// measurement.
func signedRequests(ctx context.Context, creds *credentials, baseURL, method, body string, n int) (string, error) {
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	region, _, _ := strings.Cut(identityPoolID, ":")
	signer := v4.NewSigner()
	now := time.Now()
	var b strings.Builder
	var shared string
	for i := 1; i <= n; i++ {
		path := fmt.Sprintf("/items/%d", i)
		req, err := http.NewRequest(method, baseURL+path, strings.NewReader(body))
		if err != nil {
			return "", err
		}
		names := []string{"X-Amz-Date", "X-Amz-Security-Token"}
		if body != "" {
			req.Header.Set("Content-Type", "application/octet-stream")
			names = append(names, "Content-Type")
		}
		if err := signer.SignHTTP(ctx, creds.Credentials, req, hash, "execute-api", region, now); err != nil {
			return "", fmt.Errorf("signing: %w", err)
		}
		prefix, signature, ok := strings.Cut(req.Header.Get("Authorization"), "Signature=")
		if !ok {
			return "", errors.New("signing: no Signature= in the Authorization header")
		}
		if i == 1 {
			var line strings.Builder
			line.WriteString(method)
			for _, name := range names {
				fmt.Fprintf(&line, "\t%s=%s", name, req.Header.Get(name))
			}
			shared = line.String() + "\tAuthorization=" + prefix + "Signature="
			b.WriteString(shared + "\n")
		} else if !strings.HasSuffix(shared, "\tAuthorization="+prefix+"Signature=") {
			// Signed at one instant with one set of headers, only the signature may differ.
			return "", fmt.Errorf("signing: request %d's Authorization differs from the first's before its signature", i)
		}
		b.WriteString(path + "\t" + signature + "\n")
	}
	return b.String(), nil
}
