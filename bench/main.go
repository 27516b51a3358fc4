// Command bench measures the gateway end to end, every configuration side by side in one run: it builds
// the benchmark's Caddy once (bench/benchcaddy: cmd/caddy's modules and the floors of bench/floor), starts a
// tiny upstream and one Caddy per variant (variants.go), mints a user pool's tokens and gets identity-pool
// credentials locally, then measures each variant with wrk in interleaved rounds and prints one Markdown
// table: median requests/s, the ratio to plain reverse_proxy and to the cache-only authorizer floor with
// the same requests, and the spread across rounds.
//
//	go run ./bench                                 # every variant, 3 rounds of 8 s, wrk -t2 -c32
//	go run ./bench -variants plain,jwt -rounds 5 -duration 20s
//	go run ./bench -profile jwt                    # a CPU profile of the gateway under load, grouped
//
// Loopback only; needs wrk (apt-get install wrk) and Go, and for the variants with Redis redis-server
// (apt-get install redis-server), which the run starts on loopback and stops; without it they are skipped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

// options are the command line's.
type options struct {
	variants       []string
	rounds         int
	duration       time.Duration
	warmup         time.Duration
	threads        int
	connections    int
	caddy          string // a built benchmark Caddy, or "" to build one
	profile        string // a variant to profile instead of measuring the table
	profileSeconds int
	keep           bool // keep the work directory
}

func main() {
	var o options
	var names string
	flag.StringVar(&names, "variants", strings.Join(defaultVariants, ","), "the variants to measure, comma-separated, in this order")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds: every variant once per round")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "how long wrk measures a variant in a round")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "how long wrk warms a variant up before each measurement")
	flag.IntVar(&o.threads, "threads", 2, "wrk -t")
	flag.IntVar(&o.connections, "connections", 32, "wrk -c")
	flag.StringVar(&o.caddy, "caddy", "", "a benchmark Caddy already built (go build ./bench/benchcaddy); default: build one")
	flag.StringVar(&o.profile, "profile", "", "profile this variant under load (Caddy's /debug/pprof) instead of measuring the table")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 10, "how long the profile samples")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (Caddyfiles, logs, profiles)")
	list := flag.Bool("list", false, "list the variants and exit")
	flag.Parse()
	if *list {
		for _, v := range variants {
			fmt.Printf("%-32s %s\n", v.name, v.requests)
		}
		return
	}
	o.variants = strings.Split(names, ",")
	if o.profile != "" {
		o.variants = []string{o.profile}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run is the whole benchmark: the table (or the profile) on out, progress on progress.
func run(ctx context.Context, o options, out, progress io.Writer) error {
	if o.rounds < 1 || o.duration < time.Second || o.threads < 1 || o.connections < o.threads {
		return errors.New("need -rounds >= 1, -duration >= 1s and -connections >= -threads >= 1")
	}
	chosen, err := choose(o.variants)
	if err != nil {
		return err
	}
	wrk, err := findWrk()
	if err != nil {
		return err
	}
	env, err := start(ctx, o, chosen, progress)
	if env != nil {
		defer env.close()
	}
	if err != nil {
		return err
	}
	fmt.Fprint(out, describeMachine(env.caddyVersion, wrk))
	if o.profile != "" {
		return profile(ctx, env, wrk, o, env.running[0], out)
	}
	results, err := measureAll(ctx, env, wrk, o, progress)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n`%s`: wrk -t%d -c%d, %d interleaved round(s) of %s after a %s warm-up each; "+
		"median requests/s, the spread is the slowest and fastest round.\n\n",
		strings.Join(append([]string{"go run ./bench"}, commandLine(o)...), " "), o.threads, o.connections, o.rounds, o.duration, o.warmup)
	fmt.Fprint(out, table(results, env.skipped))
	fmt.Fprintf(out, "\nLoad average after the run: %s.\n", loadAverage())
	return nil
}

// commandLine is the flags of o that differ from the defaults, to print the command that made a table.
func commandLine(o options) []string {
	var args []string
	if strings.Join(o.variants, ",") != strings.Join(defaultVariants, ",") {
		args = append(args, "-variants", strings.Join(o.variants, ","))
	}
	if o.rounds != 3 {
		args = append(args, fmt.Sprintf("-rounds %d", o.rounds))
	}
	if o.duration != 8*time.Second {
		args = append(args, "-duration "+o.duration.String())
	}
	if o.warmup != 2*time.Second {
		args = append(args, "-warmup "+o.warmup.String())
	}
	if o.threads != 2 || o.connections != 32 {
		args = append(args, fmt.Sprintf("-threads %d -connections %d", o.threads, o.connections))
	}
	return args
}

// choose returns the named variants, each once, in the order given.
func choose(names []string) ([]variant, error) {
	byName := map[string]variant{}
	for _, v := range variants {
		byName[v.name] = v
	}
	var chosen []variant
	seen := map[string]bool{}
	for _, name := range names {
		name = strings.TrimSpace(name)
		v, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("no variant %q (go run ./bench -list)", name)
		}
		if !seen[name] {
			seen[name] = true
			chosen = append(chosen, v)
		}
	}
	if len(chosen) == 0 {
		return nil, errors.New("no variant to run")
	}
	return chosen, nil
}
