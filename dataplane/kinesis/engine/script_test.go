package engine

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateScripts = flag.Bool("update", false, "rewrite the expected output of testdata/script/*.txt")

// TestScripts runs the golden scripts of testdata/script: each block is a
// command, a "----" line and the expected output, blocks separated by a
// blank line. The engine runs on a fake clock, so sequence numbers are
// deterministic. Commands:
//
//	create STREAM SHARDS            put STREAM KEY DATA [HASHKEY]
//	read STREAM SHARD TYPE [ARG]    (TYPE: TRIM_HORIZON, LATEST, AT_n, AFTER_n: n-th put)
//	shards STREAM                   split STREAM SHARD HASHKEY
//	merge STREAM SHARD ADJACENT     count STREAM N
//	advance DURATION                trim
//	retention STREAM HOURS          delete STREAM
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/script/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScript(t, f) })
	}
}

func runScript(t *testing.T, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e, clk := newEngine(t, nil)
	var puts []PutResult
	var out strings.Builder
	for _, block := range strings.Split(strings.TrimSpace(string(raw)), "\n\n") {
		cmd, want, _ := strings.Cut(block, "\n----")
		want = strings.TrimPrefix(want, "\n")
		got := scriptCmd(t, e, clk, &puts, strings.Fields(cmd))
		fmt.Fprintf(&out, "%s\n----\n%s\n\n", cmd, got)
		if !*updateScripts && strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", file, cmd, got, want)
		}
	}
	if *updateScripts {
		if err := os.WriteFile(file, []byte(strings.TrimSuffix(out.String(), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func errText(err error) string {
	if ee, ok := err.(*Error); ok {
		return "error: " + ee.Kind.Error() + ": " + ee.Message
	}
	return "error: " + err.Error()
}

func scriptCmd(t *testing.T, e *Engine, clk *fakeClock, puts *[]PutResult, f []string) string {
	t.Helper()
	num := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("bad number %q", s)
		}
		return n
	}
	ok := func(err error) string {
		if err != nil {
			return errText(err)
		}
		return "ok"
	}
	switch f[0] {
	case "create":
		return ok(e.CreateStream(CreateStreamInput{Name: f[1], ShardCount: num(f[2])}))
	case "delete":
		return ok(e.DeleteStream(f[1], false))
	case "put":
		en := PutEntry{PartitionKey: f[2], Data: []byte(f[3])}
		if len(f) > 4 {
			en.ExplicitHashKey = f[4]
		}
		r, err := e.PutRecord(context.Background(), f[1], en, "")
		if err != nil {
			return errText(err)
		}
		*puts = append(*puts, r)
		return fmt.Sprintf("#%d %s %s", len(*puts)-1, r.ShardID, r.SequenceNumber)
	case "advance":
		d, err := time.ParseDuration(f[1])
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(d)
		return "ok"
	case "trim":
		return ok(e.Trim())
	case "retention":
		h := num(f[2])
		d, _ := e.DescribeStream(f[1])
		if h > d.RetentionHours {
			return ok(e.IncreaseRetention(f[1], h))
		}
		return ok(e.DecreaseRetention(f[1], h))
	case "split":
		return ok(e.SplitShard(f[1], f[2], f[3]))
	case "merge":
		return ok(e.MergeShards(f[1], f[2], f[3]))
	case "count":
		_, err := e.UpdateShardCount(f[1], num(f[2]))
		return ok(err)
	case "shards":
		d, err := e.DescribeStream(f[1])
		if err != nil {
			return errText(err)
		}
		var b strings.Builder
		for _, s := range d.Shards {
			state := "open"
			if !s.Open() {
				state = "closed at " + s.EndingSequenceNumber
			}
			fmt.Fprintf(&b, "%s parents=[%s %s] [%s, %s] from %s %s\n", s.ShardID, s.ParentShardID, s.AdjacentParentShardID, s.StartingHashKey, s.EndingHashKey, s.StartingSequenceNumber, state)
		}
		return strings.TrimSuffix(b.String(), "\n")
	case "read":
		typ, seq := IteratorType(f[3]), ""
		if n, found := strings.CutPrefix(f[3], "AT_"); found && n != "TIMESTAMP" {
			typ, seq = AtSequenceNumber, (*puts)[num(n)].SequenceNumber
		} else if n, found := strings.CutPrefix(f[3], "AFTER_"); found {
			typ, seq = AfterSequenceNumber, (*puts)[num(n)].SequenceNumber
		}
		it, err := e.GetShardIterator(f[1], f[2], typ, seq, time.Time{})
		if err != nil {
			return errText(err)
		}
		var b strings.Builder
		for {
			res, err := e.GetRecords(it, 2)
			if err != nil {
				return errText(err)
			}
			for _, r := range res.Records {
				fmt.Fprintf(&b, "%s %s=%s\n", r.SequenceNumber, r.PartitionKey, r.Data)
			}
			if res.NextShardIterator == "" {
				fmt.Fprintf(&b, "end of shard; children:")
				for _, c := range res.ChildShards {
					fmt.Fprintf(&b, " %s%v", c.ShardID, c.ParentShards)
				}
				return b.String()
			}
			if len(res.Records) == 0 {
				return b.String() + "(caught up)"
			}
			it = res.NextShardIterator
		}
	}
	t.Fatalf("unknown command %q", f[0])
	return ""
}
