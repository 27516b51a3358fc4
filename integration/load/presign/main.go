// Command presign prepares the requests of the load test's SigV4 variants: it gets guest credentials
// from an identity pool served by cognito_identity_pool (GetId, GetCredentialsForIdentity), signs n
// requests (a POST of a 1 KiB body to /items/1, /items/2, ... on the API's host) with aws-sdk-go-v2's
// signer, and writes them for variants/sigv4-post-1k.lua: one request per line, its path then its
// signed headers as name=value, tab-separated. Signatures are valid for AWS's 5-minute skew, so run.sh
// signs again before every measurement.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
)

func main() {
	identity := flag.String("identity", "", "the identity pool's endpoint, e.g. http://127.0.0.1:8080/identity")
	pool := flag.String("pool", "", "the identity pool id")
	api := flag.String("api", "", "the API's base URL, e.g. http://127.0.0.1:8080")
	n := flag.Int("n", 1000, "how many requests")
	out := flag.String("out", "", "the file to write")
	flag.Parse()
	if *identity == "" || *pool == "" || *api == "" || *out == "" {
		log.Fatal("presign: -identity, -pool, -api and -out are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	region, _, _ := strings.Cut(*pool, ":")
	client := cognitoidentity.New(cognitoidentity.Options{
		Region: region, BaseEndpoint: identity, Credentials: aws.AnonymousCredentials{},
	})
	id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: pool})
	if err != nil {
		log.Fatalf("presign: GetId: %v", err)
	}
	got, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		log.Fatalf("presign: GetCredentialsForIdentity: %v", err)
	}
	creds := aws.Credentials{
		AccessKeyID: aws.ToString(got.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(got.Credentials.SecretKey),
		SessionToken: aws.ToString(got.Credentials.SessionToken),
	}
	body := strings.Repeat("x", 1024)
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	signer := v4.NewSigner()
	now := time.Now()
	var b strings.Builder
	for i := 1; i <= *n; i++ {
		path := fmt.Sprintf("/items/%d", i)
		req, err := http.NewRequest("POST", *api+path, strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		if err := signer.SignHTTP(ctx, creds, req, hash, "execute-api", region, now); err != nil {
			log.Fatalf("presign: signing: %v", err)
		}
		b.WriteString(path)
		for _, name := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Content-Type"} {
			fmt.Fprintf(&b, "\t%s=%s", name, req.Header.Get(name))
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o600); err != nil {
		log.Fatal(err)
	}
}
