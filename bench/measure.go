package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// requestKind is what wrk sends to a variant, and the baselines measured with the same requests.
type requestKind struct {
	name   string
	script string // the wrk Lua script
	method string // of signed requests ("" for bearer ones)
	body   string // of signed requests
	plain  string // the plain reverse_proxy variant with these requests
	floor  string // the cache-only authorizer floor with these requests
	once   bool   // each signed request is sent once: enough are signed for a measurement
	paths  int    // of signed requests sent in turn: how many distinct ones (default 1000)
}

func (k *requestKind) String() string { return k.name }

var (
	bearerVaried = &requestKind{name: "bearer token, GET /items/<n>", script: bearerLua(true),
		plain: "plain", floor: "floor-authorizer"}
	bearerFixed = &requestKind{name: "bearer token, GET /items/1", script: bearerLua(false),
		plain: "plain", floor: "floor-authorizer"}
	sigv4Get = &requestKind{name: "SigV4, GET /items/<n>", script: signedLua, method: "GET",
		plain: "plain-sigv4-get", floor: "floor-authorizer-sigv4-get"}
	// A caller's working set of paths, which the decision memo holds (64 per caller): what a memoized
	// path-reading policy costs.
	sigv4Get32 = &requestKind{name: "SigV4, GET /items/1..32", script: signedLua, method: "GET",
		plain: "plain-sigv4-get", floor: "floor-authorizer-sigv4-get", paths: 32}
	// Sent once each, as a client does: under replay_protection a signature sent again is refused.
	sigv4Post = &requestKind{name: "SigV4, POST 1 KiB /items/<n>, each signed once", script: signedLua, method: "POST",
		body: strings.Repeat("x", 1024), plain: "plain-sigv4-post-1k", floor: "floor-authorizer-sigv4-post-1k", once: true}
)

// bearerLua sends the run's access token (BENCH_TOKEN) as a bearer token, to a new path each request
// (/items/1, /items/2, ...: nothing decided for one path serves another) or always to /items/1.
func bearerLua(varied bool) string {
	path := `"/items/1"`
	if varied {
		path = `"/items/" .. n`
	}
	return `local token = os.getenv("BENCH_TOKEN")
assert(token and token ~= "", "BENCH_TOKEN is not set")
wrk.headers["Authorization"] = "Bearer " .. token
local n = 0
request = function()
	n = n + 1
	return wrk.format(nil, ` + path + `)
end
`
}

// signedLua sends the signed requests of the file SIGNED_REQUESTS (signedRequests' format): thread i of
// BENCH_THREADS sends the i-th of every BENCH_THREADS requests, in turn, so that no two threads send the
// same one. A thread that has sent all of its own starts over, and done says so: for requests sent once
// (requestKind.once) that is a replay, and the run is void.
const signedLua = `local threads = {}
setup = function(thread)
	threads[#threads + 1] = thread
	thread:set("id", #threads)
end
local headers, method, authorization, body = {}, nil, nil, nil
local paths, signatures = {}, {}
init = function(args)
	local file = os.getenv("SIGNED_REQUESTS")
	assert(file and file ~= "", "SIGNED_REQUESTS is not set")
	local count = tonumber(os.getenv("BENCH_THREADS"))
	assert(count and count >= 1, "BENCH_THREADS is not set")
	for name, value in pairs(wrk.headers) do
		headers[name] = value
	end
	local line_number = 0
	for line in io.lines(file) do
		if line_number == 0 then
			for field in string.gmatch(line, "[^\t]+") do
				if method == nil then
					method = field
				else
					local name, value = string.match(field, "^([^=]+)=(.*)$")
					headers[name] = value
				end
			end
			authorization = headers["Authorization"]
			if method == "POST" then
				body = string.rep("x", 1024)
			end
		elseif (line_number - 1) % count == id - 1 then
			local path, signature = string.match(line, "^([^\t]+)\t([^\t]+)$")
			paths[#paths + 1] = path
			signatures[#signatures + 1] = signature
		end
		line_number = line_number + 1
	end
	assert(#paths > 0, "no signed request for thread " .. id .. " in " .. file)
end
local n = 0
laps = 0
request = function()
	if n == #paths then
		n = 0
		laps = laps + 1
	end
	n = n + 1
	headers["Authorization"] = authorization .. signatures[n]
	return wrk.format(method, paths[n], headers, body)
end
done = function(summary, latency, requests)
	for _, thread in ipairs(threads) do
		local laps = thread:get("laps")
		if laps and laps > 0 then
			print("bench: thread " .. thread:get("id") .. " sent its signed requests again " .. laps .. " time(s)")
		end
	end
end
`

// fakeCredentials sign the requests of plain and floor variants, which check no signature, when no
// SigV4 variant runs to issue real ones.
var fakeCredentials = &credentials{Credentials: aws.Credentials{
	AccessKeyID: "ASIABENCHFAKE0000000", SecretAccessKey: "bench-fake-secret", SessionToken: "bench-fake-session",
}}

// prepare writes the variant's wrk script (and its signed requests, signed now, enough for d when each is
// sent once) and returns wrk's arguments after the connection options, and its environment.
func (e *env) prepare(ctx context.Context, o options, in *instance, d time.Duration) ([]string, []string, error) {
	script := filepath.Join(in.dir, "wrk.lua")
	if err := os.WriteFile(script, []byte(in.requests.script), 0o600); err != nil {
		return nil, nil, err
	}
	environ := append(os.Environ(), "BENCH_TOKEN="+e.pool.accessToken, "BENCH_THREADS="+strconv.Itoa(o.threads))
	if in.requests.method != "" {
		creds, err := e.credentialsFor(ctx)
		if err != nil {
			return nil, nil, err
		}
		signed, err := signedRequests(ctx, creds, in.url, in.requests.method, in.requests.body, e.signedCount(in, d))
		if err != nil {
			return nil, nil, err
		}
		file := filepath.Join(in.dir, "signed.txt")
		if err := os.WriteFile(file, []byte(signed), 0o600); err != nil {
			return nil, nil, err
		}
		environ = append(environ, "SIGNED_REQUESTS="+file)
	}
	return []string{"-s", script, in.url + "/"}, environ, nil
}

// onceRate is the rate, in requests/s, that the requests sent once are signed for until a variant has been
// measured: about three times plain reverse_proxy's on the 2-core VM of the README's figures.
const onceRate = 20000

// signedCount is how many requests to sign for a measurement of in for d: 1000 (or the kind's paths) sent
// in turn, or, sent
// once, enough for twice the fastest rate measured of in so far (onceRate before), for a second more than d.
func (e *env) signedCount(in *instance, d time.Duration) int {
	if !in.requests.once {
		if in.requests.paths > 0 {
			return in.requests.paths
		}
		return 1000
	}
	rate := max(onceRate, 2*e.fastest[in.name])
	return int(rate * (d.Seconds() + 1))
}

// credentialsFor returns guest credentials of the run's identity pool, from the first SigV4 variant
// running (again after 30 minutes: they last an hour), or fake ones when none runs.
func (e *env) credentialsFor(ctx context.Context) (*credentials, error) {
	if e.creds != nil && time.Since(e.creds.fetched) < 30*time.Minute {
		return e.creds, nil
	}
	for _, in := range e.running {
		if strings.Contains(in.site, "cognito_identity_pool") {
			creds, err := guestCredentials(ctx, in)
			if err != nil {
				return nil, err
			}
			e.creds = creds
			return creds, nil
		}
	}
	return fakeCredentials, nil
}

var rpsLine = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)

// wrkRun runs wrk against in for d and returns its requests/s, or an error when a response was not 2xx
// or 3xx or a socket failed: a fast 401 is no throughput.
func (e *env) wrkRun(ctx context.Context, wrk string, o options, in *instance, d time.Duration) (float64, error) {
	args, environ, err := e.prepare(ctx, o, in, d)
	if err != nil {
		return 0, fmt.Errorf("variant %s: %w", in.name, err)
	}
	args = append([]string{"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections), "-d", wrkDuration(d)}, args...)
	cmd := exec.CommandContext(ctx, wrk, args...)
	cmd.Env = environ
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("variant %s: wrk: %v\n%s", in.name, err, out)
	}
	if in.requests.once && bytes.Contains(out, []byte("sent its signed requests again")) {
		return 0, fmt.Errorf("variant %s: wrk sent a signed request twice (%d signed for %s were too few): "+
			"under replay protection that is refused, its measurement would mean nothing:\n%s",
			in.name, e.signedCount(in, d), d, out)
	}
	if bad := regexp.MustCompile(`Non-2xx or 3xx responses|Socket errors`); bad.Match(out) {
		logText, _ := os.ReadFile(filepath.Join(in.dir, "log"))
		return 0, fmt.Errorf("variant %s: failed responses, its measurement would mean nothing:\n%s\nits log:\n%s",
			in.name, out, tail(logText, 20))
	}
	m := rpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("variant %s: no Requests/sec in wrk's output:\n%s", in.name, out)
	}
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, fmt.Errorf("variant %s: wrk's Requests/sec: %w", in.name, err)
	}
	e.fastest[in.name] = max(e.fastest[in.name], rps)
	return rps, nil
}

func wrkDuration(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
}

// measureAll measures every running variant once per round, in the same order each round, each after
// its own warm-up, and returns each one's requests/s of every round.
func measureAll(ctx context.Context, e *env, wrk string, o options, progress io.Writer) (map[string][]float64, error) {
	results := map[string][]float64{}
	for round := 1; round <= o.rounds; round++ {
		for _, in := range e.running {
			if o.warmup > 0 {
				if _, err := e.wrkRun(ctx, wrk, o, in, o.warmup); err != nil {
					return nil, err
				}
			}
			rps, err := e.wrkRun(ctx, wrk, o, in, o.duration)
			if err != nil {
				return nil, err
			}
			results[in.name] = append(results[in.name], rps)
			fmt.Fprintf(progress, "round %d/%d  %-32s %9.0f req/s\n", round, o.rounds, in.name, rps)
		}
	}
	return results, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// table is the Markdown table of results, in the variants' order.
func table(results map[string][]float64, skipped map[string]string) string {
	var b strings.Builder
	b.WriteString("| variant | requests | req/s (median) | vs plain | vs floor | spread (min–max) |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|\n")
	ratio := func(v float64, base string, self string) string {
		r, ok := results[base]
		if !ok || base == self || strings.HasPrefix(self, "plain") {
			return "—"
		}
		return fmt.Sprintf("%.2f", v/median(r))
	}
	for _, v := range variants {
		if why, ok := skipped[v.name]; ok {
			fmt.Fprintf(&b, "| %s | %s | not run: %s | | | |\n", v.name, v.requests, strings.ReplaceAll(why, "|", `\|`))
			continue
		}
		r, ok := results[v.name]
		if !ok {
			continue
		}
		m := median(r)
		lo, hi := slices.Min(r), slices.Max(r)
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %.0f–%.0f (%.0f%%) |\n", v.name, v.requests, m,
			ratio(m, v.requests.plain, v.name), ratio(m, v.requests.floor, v.name), lo, hi, 100*(hi-lo)/m)
	}
	return b.String()
}

// findWrk returns wrk's path.
func findWrk() (string, error) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		return "", errors.New("wrk is not installed: apt-get install wrk (or brew install wrk)")
	}
	return path, nil
}

// describeMachine says where the figures come from.
func describeMachine(caddyVersion, wrk string) string {
	model := "unknown CPU"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(info); m != nil {
			model = strings.TrimSpace(string(m[1]))
		}
	}
	goVersion := runtime.Version()
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		goVersion = strings.TrimSpace(string(out))
	}
	wrkVersion := "wrk"
	if out, _ := exec.Command(wrk, "-v").CombinedOutput(); len(out) > 0 {
		wrkVersion, _, _ = strings.Cut(firstLine(out), " Copyright")
	}
	return fmt.Sprintf("Machine: %s, %d cores (GOMAXPROCS %d), %s/%s, %s, Caddy %s; %s; load average before the run %s.\n",
		model, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, goVersion, caddyVersion,
		strings.TrimSpace(wrkVersion), loadAverage())
}

// loadAverage is the 1, 5 and 15 minute load averages: on a shared machine, what the figures are worth.
func loadAverage() string {
	avg, err := os.ReadFile("/proc/loadavg")
	if fields := strings.Fields(string(avg)); err == nil && len(fields) >= 3 {
		return strings.Join(fields[:3], " ")
	}
	return "unknown"
}
