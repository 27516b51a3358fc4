package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// categories group a CPU profile's samples. A sample goes to the first category "anywhere" one of
// whose patterns a frame of its stack contains (GC work done by a background worker or an assist is GC,
// a log write from any caller is logging, OPA's evaluation is OPA's whoever called it); otherwise to the
// category of its frame nearest the leaf that matches one, runtime frames aside: our handler calls the next one, so the work
// of reverse_proxy below it is reverse_proxy's, not ours.
var categories = []struct {
	name     string
	patterns string
	anywhere bool
}{
	{"GC (background and assists)", "runtime.gcBgMarkWorker runtime.gcAssistAlloc runtime.bgsweep runtime.bgscavenge runtime.gcStart runtime.markroot", true},
	{"logging (zap, access and request logs)", "go.uber.org/zap logRequest", true},
	{"OPA evaluation", "github.com/open-policy-agent/opa/", true},
	{"writing the request upstream", "net/http.(*persistConn).writeLoop net/http.(*Request).write net/http.Header.write", true},
	{"reading the upstream's response", "net/http.(*persistConn).readLoop", true},
	{"allocation (mallocgc)", "runtime.mallocgc", true},
	{"network syscalls", "syscall. internal/poll.", false},
	{"caddy-cognito (verification, policy input, headers)", "github.com/caddy-cognito/caddy-cognito/", false},
	{"reverse_proxy, other", "modules/caddyhttp/reverseproxy", false},
	{"the server: reading requests, writing responses", "net/http. net/textproto. caddyserver/caddy/v2", false},
}

// runtimeCategory is a sample's whose stack matched no category but runs in the runtime (the scheduler,
// timers, a frame of runtime code called by no category's): our frames calling memmove are ours.
const runtimeCategory = "scheduler and other runtime"

const otherCategory = "other"

// profile measures in under load for o.profileSeconds with Caddy's /debug/pprof/profile and prints the
// samples grouped by categories, per request, and the profile's top functions.
func profile(ctx context.Context, e *env, wrk string, o options, in *instance, out io.Writer) error {
	if o.warmup > 0 {
		if _, err := e.wrkRun(ctx, wrk, o, in, o.warmup); err != nil {
			return err
		}
	}
	seconds := o.profileSeconds
	load := make(chan error, 1)
	var rps float64
	go func() {
		var err error
		// Running past both ends of the profile.
		rps, err = e.wrkRun(ctx, wrk, o, in, time.Duration(seconds+2)*time.Second)
		load <- err
	}()
	time.Sleep(time.Second)
	file := filepath.Join(in.dir, "cpu.pprof")
	fetchErr := fetchProfile(ctx, in.admin, seconds, file)
	if err := <-load; err != nil {
		return err
	}
	if fetchErr != nil {
		return fetchErr
	}
	traces, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-traces", file).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -traces: %v", err)
	}
	byCategory, total := group(string(traces))
	requests := rps * float64(seconds)
	fmt.Fprintf(out, "\n`go run ./bench -profile %s -profile-seconds %d`: Caddy's CPU for %d s under wrk -t%d -c%d "+
		"(%.0f req/s; %.0f µs of Caddy CPU per request).\n\n", in.name, seconds, seconds, o.threads, o.connections,
		rps, total.Seconds()*1e6/requests)
	fmt.Fprintln(out, "| where | share of Caddy's CPU | µs per request |")
	fmt.Fprintln(out, "|---|--:|--:|")
	names := make([]string, 0, len(byCategory))
	for name := range byCategory {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return byCategory[names[i]] > byCategory[names[j]] })
	for _, name := range names {
		d := byCategory[name]
		fmt.Fprintf(out, "| %s | %.1f%% | %.1f |\n", name, 100*d.Seconds()/total.Seconds(), d.Seconds()*1e6/requests)
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", file).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -top: %v", err)
	}
	fmt.Fprintf(out, "\nTop functions (go tool pprof -top %s):\n\n```\n%s```\n", file, top)
	if !o.keep {
		fmt.Fprintln(out, "(-keep keeps the profile)")
	}
	return nil
}

func fetchProfile(ctx context.Context, admin string, seconds int, file string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("fetching the CPU profile: %s: %s", resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, 256<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// group sums the samples of `go tool pprof -traces` output by category.
func group(traces string) (map[string]time.Duration, time.Duration) {
	byCategory := map[string]time.Duration{}
	var total, value time.Duration
	var stack []string
	flush := func() {
		if value > 0 {
			byCategory[categorize(stack)] += value
			total += value
		}
		value, stack = 0, stack[:0]
	}
	sc := bufio.NewScanner(strings.NewReader(traces))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(line, " ") {
			continue
		}
		if len(fields) >= 2 && value == 0 && len(stack) == 0 {
			if d, err := time.ParseDuration(fields[0]); err == nil {
				value = d
				stack = append(stack, fields[1])
				continue
			}
		}
		stack = append(stack, fields[0])
	}
	flush()
	return byCategory, total
}

func categorize(stack []string) string {
	matches := func(frame, patterns string) bool {
		for _, pattern := range strings.Fields(patterns) {
			if strings.Contains(frame, pattern) {
				return true
			}
		}
		return false
	}
	for _, c := range categories {
		if c.anywhere && slices.ContainsFunc(stack, func(frame string) bool { return matches(frame, c.patterns) }) {
			return c.name
		}
	}
	for _, frame := range stack { // leaf first, as pprof -traces prints them
		for _, c := range categories {
			if !c.anywhere && matches(frame, c.patterns) {
				return c.name
			}
		}
	}
	if slices.ContainsFunc(stack, func(frame string) bool { return strings.HasPrefix(frame, "runtime.") }) {
		return runtimeCategory
	}
	return otherCategory
}
