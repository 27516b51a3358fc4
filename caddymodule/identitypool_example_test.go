package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// A pool for an app whose users sign in to a Cognito user pool: members of the group admins get the
// admin role, other users the user role, guests the guest role; the JSON is what `caddy adapt` writes.
func ExampleIdentityPoolEndpoint_UnmarshalCaddyfile() {
	d := caddyfile.NewTestDispenser(`cognito_identity_pool us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4 {
		login cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123 {
			client_id 4example5client6id
		}
		authenticated_role arn:aws:iam::123456789012:role/app-user
		unauthenticated_role arn:aws:iam::123456789012:role/app-guest
		role_mapping cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123 rules {
			rule cognito:groups contains admins arn:aws:iam::123456789012:role/app-admin
			ambiguous authenticated_role
		}
		principal_tag tenant custom:tenant
	}`)
	var pool IdentityPoolEndpoint
	if err := pool.UnmarshalCaddyfile(d); err != nil {
		fmt.Println(err)
		return
	}
	out, _ := json.MarshalIndent(pool, "", "  ")
	fmt.Println(string(out))
	// Output:
	// {
	//   "identity_pool_id": "us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4",
	//   "logins": [
	//     {
	//       "provider": "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
	//       "client_ids": [
	//         "4example5client6id"
	//       ]
	//     }
	//   ],
	//   "authenticated_role": "arn:aws:iam::123456789012:role/app-user",
	//   "unauthenticated_role": "arn:aws:iam::123456789012:role/app-guest",
	//   "role_mappings": {
	//     "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123": {
	//       "type": "rules",
	//       "rules": [
	//         {
	//           "claim": "cognito:groups",
	//           "match": "contains",
	//           "value": "admins",
	//           "role_arn": "arn:aws:iam::123456789012:role/app-admin"
	//         }
	//       ],
	//       "ambiguous": "authenticated_role"
	//     }
	//   },
	//   "principal_tags": {
	//     "tenant": "custom:tenant"
	//   },
	//   "route": "Testfile:1"
	// }
}
