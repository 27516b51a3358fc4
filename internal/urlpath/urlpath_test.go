package urlpath

import "testing"

func TestIsDotSegment(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		seg  string
		want bool
	}{
		{".", true},
		{"..", true},
		{"..;", true},
		{"..;jsessionid=x", true},
		{".;x", true},
		{"%2e", true},
		{"%2E%2e", true},
		{".%2e", true},
		{"%2e%2e;x", true},
		{"", false},
		{"...", false},
		{"..b", false},
		{"a..", false},
		{"...;x", false},
		{"%2e%2e%2e", false},
		{"%2f", false},
		{";..", false},
	} {
		if got := IsDotSegment(tt.seg); got != tt.want {
			t.Errorf("IsDotSegment(%q) = %v, want %v", tt.seg, got, tt.want)
		}
	}
}
