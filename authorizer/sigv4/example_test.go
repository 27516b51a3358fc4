package sigv4_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// A Verifier checks a request signed by any SigV4 client; here aws-sdk-go-v2 signs it.
func ExampleVerifier_Verify() {
	signedAt := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token"}

	// The credential source: in the authorizer, the identity pool opens the session token.
	source := func(_ context.Context, accessKeyID, sessionToken string) (*sigv4.Credential, error) {
		if accessKeyID != creds.AccessKeyID || sessionToken != creds.SessionToken {
			return nil, sigv4.ErrUnknownCredential
		}
		return &sigv4.Credential{
			SecretAccessKey: creds.SecretAccessKey,
			Expires:         signedAt.Add(time.Hour),
			Identity: &identity.Identity{Kind: identity.KindIdentityPool, Pool: &identity.PoolCredentials{
				IdentityID: "us-east-1:0a1b2c3d",
			}},
		}, nil
	}
	v, err := sigv4.NewVerifier(source, sigv4.Options{
		Region: "us-east-1",
		Now:    func() time.Time { return signedAt.Add(time.Minute) },
	})
	if err != nil {
		panic(err)
	}

	r := httptest.NewRequest("GET", "https://api.example.com/prod/orders?status=open", nil)
	emptyHash := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, emptyHash, "execute-api", "us-east-1", signedAt); err != nil {
		panic(err)
	}

	res, err := v.Verify(r)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(res.AccessKeyID, res.Credential.Identity.Pool.IdentityID, res.SignedAt.Format(time.RFC3339), res.ValidUntil.Format(time.RFC3339))

	r.Header.Set("X-Amz-Date", "20260314T150927Z") // one second later than signed
	_, err = v.Verify(r)
	fmt.Println(errors.Is(err, sigv4.ErrSignatureMismatch))
	// Output:
	// ASIAEXAMPLE us-east-1:0a1b2c3d 2026-03-14T15:09:26Z 2026-03-14T15:14:26Z
	// true
}

// IsSigned tells a SigV4 request from one carrying another kind of credential, without verifying.
func ExampleIsSigned() {
	bearer := httptest.NewRequest("GET", "/orders", nil)
	bearer.Header.Set("Authorization", "Bearer eyJraWQiOi...")
	presigned := httptest.NewRequest("GET", "/report?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...", nil)
	fmt.Println(sigv4.IsSigned(bearer), sigv4.IsSigned(presigned))
	// Output: false true
}

// An *Error says what to answer the client, in API Gateway's terms; its Error() is for the log.
func ExampleError() {
	v, _ := sigv4.NewVerifier(func(context.Context, string, string) (*sigv4.Credential, error) {
		return nil, sigv4.ErrUnknownCredential
	}, sigv4.Options{Region: "us-east-1"})

	_, err := v.Verify(httptest.NewRequest("GET", "/orders", nil))
	var e *sigv4.Error
	if errors.As(err, &e) {
		w := httptest.NewRecorder()
		w.Header().Set("x-amzn-ErrorType", e.Type)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
		fmt.Print(w.Code, " ", w.Header().Get("x-amzn-ErrorType"), " ", w.Body.String())
	}
	fmt.Println(errors.Is(err, sigv4.ErrNotSigned), http.StatusText(e.Status))
	// Output:
	// 403 MissingAuthenticationTokenException {"message":"Missing Authentication Token"}
	// true Forbidden
}
