package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// redisServer is the run's redis-server, on loopback with no persistence, for the variants whose app has
// `redis` (variant.redis): one for them all, each under its own key prefix.
type redisServer struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// errNoRedis is a run without redis-server: its Redis variants are skipped.
var errNoRedis = errors.New("redis-server is not installed: apt-get install redis-server")

// startRedis starts redis-server on a free loopback port, with its files in dir, and waits until it
// answers PING.
func startRedis(dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoRedis
	}
	l, err := listen()
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	log, err := os.Create(dir + "/log")
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &redisServer{addr: addr, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.exited) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		reply, err := r.command("PING")
		if err == nil && reply == "+PONG" {
			return r, nil
		}
		select {
		case <-r.exited:
			logText, _ := os.ReadFile(dir + "/log")
			return nil, fmt.Errorf("redis-server exited before it served:\n%s", tail(logText, 10))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server does not answer PING at %s after 10 s (%v)", addr, err)
		}
	}
}

// url is the server's redis:// URL, database 0.
func (r *redisServer) url() string { return "redis://" + r.addr + "/0" }

// command sends one command of bulk-string-free arguments and returns the first line of its reply
// ("+PONG", ":42"), with a timeout of a second.
func (r *redisServer) command(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func (r *redisServer) stop() {
	_ = r.cmd.Process.Kill()
	<-r.exited
}
