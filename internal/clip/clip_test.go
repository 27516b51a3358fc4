package clip

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven cha..."},
		{"abcé", 4, "abc..."}, // é is 2 bytes: cutting at 4 would split it
		{"ééé", 3, "é..."},
		{"x", 0, "x"[:0] + "..."},
	} {
		got := String(c.in, c.n)
		if got != c.want {
			t.Errorf("String(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("String(%q, %d) = %q: not valid UTF-8", c.in, c.n, got)
		}
	}
}
