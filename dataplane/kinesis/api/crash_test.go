package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index/store"
)

const (
	crashDirEnv  = "KINEDGE_STREAMS_CRASH_DIR"
	crashSyncEnv = "KINEDGE_STREAMS_CRASH_SYNCWRITES"
)

// TestCrashChild is the server process of TestCrashRecovery: it only runs
// when re-executed with KINEDGE_STREAMS_CRASH_DIR set, serves the Kinesis
// API from a Badger DB in that directory on 127.0.0.1 and writes its
// address to <dir>/addr. The parent kills it with SIGKILL.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashRecovery")
	}
	// SyncWrites on: Badger syncs every commit; off: the engine's syncer
	// calls DB.Sync once per group of batches.
	db, err := store.Open(store.Options{Dir: filepath.Join(dir, "db"), MemTableSize: 16 << 20,
		NoSync: os.Getenv(crashSyncEnv) != "true"})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, db, engine.Options{})
	h := &Handler{Engine: e}
	v := &awsproto.Verifier{Secret: func(k string) (string, bool) { return testSecret, k == testKey }, Service: "kinesis"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "addr.tmp")
	if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "addr")); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: awsproto.Middleware(v, h, 0), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		// The parent kills this process (its deadline is at most 10
		// minutes); the timer only bounds an orphan.
		time.Sleep(11 * time.Minute)
		_ = srv.Close()
	}()
	_ = srv.Serve(ln)
}

// startChild starts the server process and returns it with a client.
func startChild(t *testing.T, dir string, syncWrites bool) (*exec.Cmd, *kinesis.Client) {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, "addr"))
	// The child's deadline is the test's: it is killed when the test ends
	// (the test kills it itself, that is the point) and after 10 minutes.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s=%v", crashSyncEnv, syncWrites))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute) // bounds a hang, not the start-up speed
	var addr []byte
	for {
		var err error
		if addr, err = os.ReadFile(filepath.Join(dir, "addr")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("child server did not start")
		}
		time.Sleep(10 * time.Millisecond) // polling for the child's address file
	}
	client := kinesis.New(kinesis.Options{
		BaseEndpoint: aws.String("http://" + string(addr)),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		Retryer:      aws.NopRetryer{},
	})
	return cmd, client
}

// TestCrashRecovery kills the server (SIGKILL) during heavy PutRecords and
// restarts it: every acknowledged record must be there, once, in per-key
// order; records of calls in flight at the kill may or may not be there,
// but only once and after the acknowledged ones.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns server processes")
	}
	for _, syncWrites := range []bool{false, true} {
		t.Run(fmt.Sprintf("SyncWrites=%v", syncWrites), func(t *testing.T) { testCrashRecovery(t, syncWrites) })
	}
}

func testCrashRecovery(t *testing.T, syncWrites bool) {
	dir := t.TempDir()
	cmd, c := startChild(t, dir, syncWrites)
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("crash"), ShardCount: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	const writers, keysPerWriter, perCall = 6, 4, 100
	var (
		mu        sync.Mutex
		acked     = map[string]int{} // key → number of acknowledged records (0..n-1)
		ackedN    int
		wg        sync.WaitGroup
		dataBytes = strings.Repeat("x", 200)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make([]int, keysPerWriter)
			for {
				var entries []types.PutRecordsRequestEntry
				var keys []string
				for i := range perCall {
					k := i % keysPerWriter
					key := fmt.Sprintf("w%d-k%d", w, k)
					entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: []byte(fmt.Sprintf("%s:%d:%s", key, next[k], dataBytes))})
					keys = append(keys, key)
					next[k]++
				}
				out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("crash"), Records: entries})
				if err != nil {
					return // the server was killed
				}
				if aws.ToInt32(out.FailedRecordCount) != 0 {
					t.Errorf("%d records failed", aws.ToInt32(out.FailedRecordCount))
					return
				}
				mu.Lock()
				for _, k := range keys {
					acked[k]++
				}
				ackedN += len(keys)
				mu.Unlock()
			}
		}()
	}
	// The deadline bounds a hang, not the speed: a loaded CI box under
	// -race may take minutes for 20000 records.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		mu.Lock()
		n := ackedN
		mu.Unlock()
		if n >= 20000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d records acknowledged", n)
		}
		time.Sleep(5 * time.Millisecond) // polling the writers' progress
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wg.Wait()

	cmd, c = startChild(t, dir, syncWrites)
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	got := map[string][]int{}
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("crash")})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ls.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("crash"), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for {
			gr, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range gr.Records {
				var key string
				var n int
				parts := strings.SplitN(string(r.Data), ":", 3)
				if len(parts) != 3 || parts[0] != aws.ToString(r.PartitionKey) {
					t.Fatalf("corrupt record %q", r.Data)
				}
				key = parts[0]
				if _, err := fmt.Sscan(parts[1], &n); err != nil {
					t.Fatal(err)
				}
				got[key] = append(got[key], n)
			}
			if len(gr.Records) == 0 {
				break
			}
			iter = gr.NextShardIterator
		}
	}
	total, extra := 0, 0
	for key, n := range acked {
		seq := got[key]
		for i, v := range seq {
			if v != i {
				t.Fatalf("key %s: record %d is %d (lost, duplicated or reordered)", key, i, v)
			}
		}
		if len(seq) < n {
			t.Errorf("key %s: %d records after restart, %d acknowledged", key, len(seq), n)
		}
		total += n
		extra += len(seq) - n
	}
	if len(got) != len(acked) {
		t.Errorf("%d keys read, %d written", len(got), len(acked))
	}
	t.Logf("%d acknowledged records all present after SIGKILL; %d unacknowledged in-flight records were stored too", total, extra)
}
