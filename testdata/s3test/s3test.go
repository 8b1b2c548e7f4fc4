// Package s3test runs versitygw (github.com/versity/versitygw, posix
// backend) as the S3 server of firehose's tests: on a free loopback port,
// over a t.TempDir(), with a deadline, stoppable and restartable on the
// same port and directory to play an outage.
package s3test

import (
	"context"
	"io"
	"net"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// Credentials of the server's root account.
const (
	AccessKey = "kinedgetest"
	SecretKey = "kinedgetestsecret"
)

// runFor bounds one run of the server.
const runFor = 10 * time.Minute

// Server is a running (or stopped) versitygw.
type Server struct {
	t      testing.TB
	bin    string
	Dir    string
	Addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts versitygw (skipping the test without it, failing under
// CI=true) and waits until it answers.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testtool.Need(t, "versitygw")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{t: t, bin: bin, Dir: t.TempDir(), Addr: addr}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Endpoint returns http://host:port.
func (s *Server) Endpoint() string { return "http://" + s.Addr }

// Restart starts the server again, on the same port and directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.cmd = testtool.Command(s.t, runFor, s.bin, "-a", AccessKey, "-s", SecretKey, "-p", s.Addr, "-q", "posix", s.Dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("versitygw: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.cmd, s.exited)
	s.waitReady()
}

// waitReady polls the server until it lists buckets.
func (s *Server) waitReady() {
	s.t.Helper()
	c := s.Client()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("versitygw exited before it answered: %v", err)
		case <-deadline:
			s.t.Fatalf("versitygw not ready after 30s: %v", err)
		case <-tick.C:
		}
	}
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Client returns a minio-go client of the server.
func (s *Server) Client() *minio.Client {
	c, err := minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// MakeBucket creates bucket.
func (s *Server) MakeBucket(bucket string) {
	s.t.Helper()
	if err := s.Client().MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		s.t.Fatalf("make bucket %s: %v", bucket, err)
	}
}

// Object is an object read back.
type Object struct {
	Key  string
	Body []byte
}

// Objects returns the bucket's objects, by key.
func (s *Server) Objects(bucket string) []Object {
	s.t.Helper()
	c := s.Client()
	ctx := context.Background()
	var out []Object
	for info := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if info.Err != nil {
			s.t.Fatalf("list %s: %v", bucket, info.Err)
		}
		o, err := c.GetObject(ctx, bucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			s.t.Fatalf("get %s: %v", info.Key, err)
		}
		b, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			s.t.Fatalf("read %s: %v", info.Key, err)
		}
		out = append(out, Object{Key: info.Key, Body: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
