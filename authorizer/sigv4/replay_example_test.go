package sigv4_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// A ReplayCache lets a signed POST through once: the same request sent again while its signature is
// still valid is refused.
func ExampleReplayCache() {
	signedAt := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret"}
	source := func(context.Context, string, string) (*sigv4.Credential, error) {
		return &sigv4.Credential{SecretAccessKey: creds.SecretAccessKey}, nil
	}
	v, err := sigv4.NewVerifier(source, sigv4.Options{
		Region:      "us-east-1",
		Now:         func() time.Time { return signedAt },
		ReplayCache: sigv4.NewReplayCache(10_000),
	})
	if err != nil {
		panic(err)
	}

	const body = `{"amount":100}`
	r := httptest.NewRequest("POST", "https://api.example.com/prod/payments", strings.NewReader(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, sha256Hex([]byte(body)), "execute-api", "us-east-1", signedAt); err != nil {
		panic(err)
	}
	replay := r.Clone(context.Background())

	_, err = v.Verify(r)
	fmt.Println("first:", err)
	replay.Body = io.NopCloser(strings.NewReader(body))
	_, err = v.Verify(replay)
	fmt.Println("again:", errors.Is(err, sigv4.ErrReplayedSignature))
	// Output:
	// first: <nil>
	// again: true
}
