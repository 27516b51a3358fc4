package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestBoundedOPAConfig checks that the decision log buffer gets a size limit unless OPA's
// configuration sets one (or a rate limit, which OPA refuses to combine with it), and that the rest
// of the configuration passes through unchanged, from YAML or JSON.
func TestBoundedOPAConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // JSON; empty: unchanged
	}{
		{name: "empty", in: "", want: `{}`},
		{name: "no decision logs", in: `{"bundles": {"b": {"service": "s"}}}`, want: `{"bundles": {"b": {"service": "s"}}}`},
		{name: "decision logs without limit", in: "decision_logs:\n  console: true\n", want: `{"decision_logs": {"console": true, "reporting": {"buffer_size_limit_bytes": 16777216}}}`},
		{name: "size buffer without limit", in: `{"decision_logs": {"service": "s", "reporting": {"buffer_type": "size", "min_delay_seconds": 1}}}`, want: `{"decision_logs": {"service": "s", "reporting": {"buffer_type": "size", "min_delay_seconds": 1, "buffer_size_limit_bytes": 16777216}}}`},
		{name: "own limit kept", in: `{"decision_logs": {"reporting": {"buffer_size_limit_bytes": 1024}}}`, want: `{"decision_logs": {"reporting": {"buffer_size_limit_bytes": 1024}}}`},
		{name: "rate limit kept alone", in: `{"decision_logs": {"reporting": {"max_decisions_per_second": 10}}}`, want: `{"decision_logs": {"reporting": {"max_decisions_per_second": 10}}}`},
		{name: "event buffer has its own default", in: `{"decision_logs": {"reporting": {"buffer_type": "event"}}}`, want: `{"decision_logs": {"reporting": {"buffer_type": "event"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := boundedOPAConfig([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %s, want %s", out, tt.want)
			}
		})
	}
	if _, err := boundedOPAConfig([]byte("services: [")); err == nil {
		t.Fatal("a configuration that does not parse was accepted")
	}
}
