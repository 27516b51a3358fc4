package identity

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidRoleARN is wrapped by every error of ParseRoleARN. A role ARN decides which policy applies
// to a caller, so one parser holds the rule: a looser copy elsewhere would let a role name through that
// the policy keyed under another spelling.
var ErrInvalidRoleARN = errors.New("not an IAM role ARN")

// The limits IAM puts on a role's name and path.
const (
	maxRoleNameLen = 64
	maxRolePathLen = 512
)

// RoleARN is an IAM role ARN, `arn:<partition>:iam::<account>:role<path><name>`, split into its parts.
type RoleARN struct {
	// Partition is `aws`, `aws-cn`, `aws-us-gov`, ...
	Partition string
	// Account is the 12-digit account id.
	Account string
	// Path is `/` or `/<element>/.../`.
	Path string
	// Name is the role name, 1 to 64 characters of `A-Za-z0-9+=,.@_-`.
	Name string
}

// String returns the ARN. For a RoleARN from ParseRoleARN it is the parsed text.
func (a RoleARN) String() string {
	return "arn:" + a.Partition + ":iam::" + a.Account + ":role" + a.Path + a.Name
}

type roleARNError struct {
	arn, reason string
}

func (e *roleARNError) Error() string {
	return fmt.Sprintf("%.64q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>): %s", e.arn, e.reason)
}

func (e *roleARNError) Is(target error) bool { return target == ErrInvalidRoleARN }

// ParseRoleARN parses an IAM role ARN, `arn:<partition>:iam::<12-digit account>:role<path><name>`,
// strictly: the partition is `aws` or `aws-<suffix>` in lowercase letters, digits and hyphens; the path
// is `/` or `/<element>/.../` with non-empty elements, at most 512 characters; the name is 1 to 64
// characters; both use IAM's characters `A-Za-z0-9+=,.@_-`. Errors wrap ErrInvalidRoleARN.
func ParseRoleARN(s string) (RoleARN, error) {
	fail := func(reason string) (RoleARN, error) { return RoleARN{}, &roleARNError{arn: s, reason: reason} }
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return fail(`does not start with "arn:"`)
	}
	partition, rest, ok := strings.Cut(rest, ":")
	if !ok || !validPartition(partition) {
		return fail("the partition is not aws or aws-<name>")
	}
	rest, ok = strings.CutPrefix(rest, "iam::")
	if !ok {
		return fail("not an IAM ARN without a region (iam::)")
	}
	account, resource, ok := strings.Cut(rest, ":")
	if !ok || !IsAccountID(account) {
		return fail("the account is not 12 digits")
	}
	resource, ok = strings.CutPrefix(resource, "role/")
	if !ok {
		return fail("not a role (:role/)")
	}
	i := strings.LastIndexByte(resource, '/') + 1
	path, name := "/"+resource[:i], resource[i:]
	switch {
	case name == "" || len(name) > maxRoleNameLen:
		return fail(fmt.Sprintf("the role name must have 1 to %d characters", maxRoleNameLen))
	case !validIAMName(name):
		return fail("the role name has a character outside A-Za-z0-9+=,.@_-")
	case len(path) > maxRolePathLen:
		return fail(fmt.Sprintf("the role path has more than %d characters", maxRolePathLen))
	case strings.Contains(path, "//"):
		return fail("the role path has an empty element")
	}
	for _, elem := range strings.Split(strings.Trim(path, "/"), "/") {
		if elem != "" && !validIAMName(elem) {
			return fail("the role path has a character outside A-Za-z0-9+=,.@_-")
		}
	}
	return RoleARN{Partition: partition, Account: account, Path: path, Name: name}, nil
}

// IsAccountID reports whether s is an AWS account id: 12 decimal digits.
func IsAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

func validPartition(p string) bool {
	if p != "aws" && !strings.HasPrefix(p, "aws-") || len(p) > 32 || strings.HasSuffix(p, "-") {
		return false
	}
	return strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// validIAMName reports whether s is made of the characters IAM allows in role names and path elements.
func validIAMName(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0) {
			return false
		}
	}
	return true
}
