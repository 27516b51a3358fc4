package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

func TestParseRoleARN(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		in   string
		want identity.RoleARN
		ok   bool
	}{
		{"plain", "arn:aws:iam::123456789012:role/Guest", identity.RoleARN{"aws", "123456789012", "/", "Guest"}, true},
		{"path", "arn:aws:iam::123456789012:role/service-role/Orders", identity.RoleARN{"aws", "123456789012", "/service-role/", "Orders"}, true},
		{"deep path", "arn:aws:iam::123456789012:role/a/b.c/R+=,.@_-", identity.RoleARN{"aws", "123456789012", "/a/b.c/", "R+=,.@_-"}, true},
		{"china partition", "arn:aws-cn:iam::123456789012:role/R", identity.RoleARN{"aws-cn", "123456789012", "/", "R"}, true},
		{"gov partition", "arn:aws-us-gov:iam::123456789012:role/R", identity.RoleARN{"aws-us-gov", "123456789012", "/", "R"}, true},
		{"name of 64", "arn:aws:iam::123456789012:role/" + strings.Repeat("n", 64), identity.RoleARN{"aws", "123456789012", "/", strings.Repeat("n", 64)}, true},
		{"path of 511", "arn:aws:iam::123456789012:role" + strings.Repeat("/p", 255) + "/R", identity.RoleARN{"aws", "123456789012", strings.Repeat("/p", 255) + "/", "R"}, true},

		{"empty", "", identity.RoleARN{}, false},
		{"not an arn", "guests.json", identity.RoleARN{}, false},
		{"user", "arn:aws:iam::123456789012:user/alice", identity.RoleARN{}, false},
		{"other service", "arn:aws:s3:::bucket-name-here", identity.RoleARN{}, false},
		{"region given", "arn:aws:iam:us-east-1:123456789012:role/R", identity.RoleARN{}, false},
		{"short account", "arn:aws:iam::1234:role/Admin", identity.RoleARN{}, false},
		{"letters in account", "arn:aws:iam::12345678901a:role/Admin", identity.RoleARN{}, false},
		{"empty partition", "arn::iam::123456789012:role/R", identity.RoleARN{}, false},
		{"odd partition", "arn:gcp:iam::123456789012:role/R", identity.RoleARN{}, false},
		{"upper-case partition", "arn:AWS:iam::123456789012:role/R", identity.RoleARN{}, false},
		{"no name", "arn:aws:iam::123456789012:role/", identity.RoleARN{}, false},
		{"path without name", "arn:aws:iam::123456789012:role/p/", identity.RoleARN{}, false},
		{"no slash", "arn:aws:iam::123456789012:roleR", identity.RoleARN{}, false},
		{"empty path element", "arn:aws:iam::123456789012:role//R", identity.RoleARN{}, false},
		{"space in name", "arn:aws:iam::123456789012:role/Ad min", identity.RoleARN{}, false},
		{"percent in name", "arn:aws:iam::123456789012:role/Orders%Admin", identity.RoleARN{}, false},
		{"colon in name", "arn:aws:iam::123456789012:role/a:b", identity.RoleARN{}, false},
		{"star in path", "arn:aws:iam::123456789012:role/*/R", identity.RoleARN{}, false},
		{"non-ASCII name", "arn:aws:iam::123456789012:role/Rölle", identity.RoleARN{}, false},
		{"name of 65", "arn:aws:iam::123456789012:role/" + strings.Repeat("n", 65), identity.RoleARN{}, false},
		{"path of 513", "arn:aws:iam::123456789012:role" + strings.Repeat("/p", 256) + "/R", identity.RoleARN{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := identity.ParseRoleARN(tt.in)
			if !tt.ok {
				if !errors.Is(err, identity.ErrInvalidRoleARN) {
					t.Fatalf("ParseRoleARN(%q) = %+v, %v; want an error wrapping ErrInvalidRoleARN", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRoleARN(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestParseRoleARNError(t *testing.T) {
	t.Parallel()
	_, err := identity.ParseRoleARN("arn:aws:iam::123:role/guest")
	if want := `"arn:aws:iam::123:role/guest" is not an IAM role ARN`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to contain %s", err, want)
	}
}

func FuzzParseRoleARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::123456789012:role/Guest",
		"arn:aws-cn:iam::123456789012:role/service-role/Orders",
		"arn:aws:iam::123456789012:role//R",
		"arn:aws:iam::123456789012:role/Orders%Admin",
		"arn:aws:iam::123456789012:user/alice",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := identity.ParseRoleARN(s)
		if err != nil {
			return
		}
		if a.String() != s {
			t.Fatalf("ParseRoleARN(%q).String() = %q", s, a.String())
		}
		if again, err := identity.ParseRoleARN(a.String()); err != nil || again != a {
			t.Fatalf("reparsing %q: %+v, %v", s, again, err)
		}
	})
}

func TestIsAccountID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"123456789012", true},
		{"000000000000", true},
		{"12345678901", false},
		{"1234567890123", false},
		{"12345678901a", false},
		{"", false},
	} {
		if got := identity.IsAccountID(tt.s); got != tt.want {
			t.Errorf("IsAccountID(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
