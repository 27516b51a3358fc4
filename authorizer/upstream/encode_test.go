package upstream

import "testing"

func TestHeaderSafe(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"plain", "alice@example.com", "alice@example.com"},
		{"empty", "", ""},
		{"line break", "a\r\nX-Injected: 1", "a%0D%0AX-Injected: 1"},
		{"percent", "100%", "100%25"},
		{"delete and tab", "a\x7fb\tc", "a%7Fb%09c"},
		{"utf-8 kept", "zoë", "zoë"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := headerSafe(tt.in); got != tt.want {
				t.Errorf("headerSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHeaderList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		in   []string
		sep  byte
		want string
	}{
		{"none", nil, ',', ""},
		{"groups", []string{"admins", "ops"}, ',', "admins,ops"},
		{"separator in an element", []string{"admins,ops", "eu"}, ',', "admins%2Cops,eu"},
		{"scopes", []string{"orders/read", "a b"}, ' ', "orders/read a%20b"},
		{"comma kept between scopes", []string{"a,b"}, ' ', "a,b"},
		{"control characters", []string{"a\nb"}, ',', "a%0Ab"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := headerList(tt.in, tt.sep); got != tt.want {
				t.Errorf("headerList(%q, %q) = %q, want %q", tt.in, tt.sep, got, tt.want)
			}
		})
	}
}

func TestRoleName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ arn, account, name string }{
		{"arn:aws:iam::123456789012:role/Guest", "123456789012", "Guest"},
		{"arn:aws:iam::123456789012:role/service-role/Orders", "123456789012", "Orders"},
		{"arn:aws:iam::123456789012:role/service-role/Orders%Admin", "123456789012", "Orders%Admin"}, // refused by identity.ParseRoleARN: the lenient fallback
		{"arn:aws:iam::123456789012:user", "123456789012", ""},
		{"not-an-arn", "", ""},
		{"", "", ""},
	} {
		if got := accountID(tt.arn); got != tt.account {
			t.Errorf("accountID(%q) = %q, want %q", tt.arn, got, tt.account)
		}
		if got := roleName(tt.arn); got != tt.name {
			t.Errorf("roleName(%q) = %q, want %q", tt.arn, got, tt.name)
		}
	}
}
