package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// maxCapturedOutput bounds what one child process's output may cost in memory; past it the output is
// marked truncated, and assertions that need all of it (no secret in the logs) fail instead of passing on
// half the evidence.
const maxCapturedOutput = 32 << 20

// process is a child process (a server the test started) running in its own process group, its stdout
// and stderr captured together.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *capturedOutput
	done chan struct{} // closed once the process has exited
	err  error         // how it exited; read only after done is closed

	stopOnce sync.Once
}

// startProcess starts bin in dir with env (the whole environment, not added to ours) and stops it at the
// end of the test. When the test fails, the last part of its output is logged.
func startProcess(t *testing.T, name, dir string, env []string, bin string, args ...string) *process {
	t.Helper()
	out := &capturedOutput{limit: maxCapturedOutput}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, so that stopping it also stops whatever it started (npm, node workers).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild that keeps the pipes open must not hang the test.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output (last 16 KiB):\n%s", name, tail(p.out.String(), 16<<10))
		}
	})
	return p
}

// stop asks the process group to terminate, and kills it if it has not within five seconds.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		// Children that ignored SIGTERM while their leader exited.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// waitFor polls ready every 50 ms until it returns nil, the process exits, or timeout passes.
func (p *process) waitFor(what string, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if done, exitErr := p.exited(); done {
			return fmt.Errorf("%s exited (%v) before %s", p.name, exitErr, what)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s after %v: %w", p.name, what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lostPortRace reports whether output says the port was taken between freePort and the bind.
func lostPortRace(output string) bool {
	return strings.Contains(output, "address already in use") || strings.Contains(output, "EADDRINUSE")
}

// freePort returns a loopback TCP port that was free a moment ago. Servers that cannot be handed a
// listener are started on it, and restarted on another one if they lose it (see lostPortRace).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dialable reports whether something accepts TCP connections at addr.
func dialable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// childEnv is the environment of a child process: ours without the variables whose prefix is listed (so
// nothing on the machine leaks into what a test asserts), plus set.
func childEnv(dropPrefixes []string, set ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range dropPrefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return append(env, set...)
}

// capturedOutput is an io.Writer safe for concurrent use that keeps up to limit bytes.
type capturedOutput struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	limit     int
	truncated bool
}

func (c *capturedOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.limit - c.buf.Len()
	if len(p) > room {
		c.buf.Write(p[:max(room, 0)])
		c.truncated = true
		return len(p), nil
	}
	return c.buf.Write(p)
}

// String returns everything captured so far.
func (c *capturedOutput) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Truncated reports whether output was dropped because of the limit.
func (c *capturedOutput) Truncated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.truncated
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
