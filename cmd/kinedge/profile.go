package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/kinedge/kinedge/index/store"
)

// Profiles size the appliance's memory: Badger's memtables, caches and
// value-log files, and the queues between ingest and storage. "pi" is for
// boards with 1 to 2 GiB of RAM and an SD card; "auto" (the default)
// chooses it when the machine has at most piMemTotal of RAM.
const (
	profileAuto    = "auto"
	profileDefault = "default"
	profilePi      = "pi"
	piMemTotal     = 2 << 30
)

// profile is what a profile sets (the pi profile's sizes were chosen by
// measurement with `kinedge bench-ingest --profile pi`; see the README).
type profile struct {
	name string
	// store holds the Badger sizes (the rest of store.Options comes from
	// the configuration).
	store store.Options
	// queueBytes is video.queue_bytes when the configuration leaves it 0.
	queueBytes int
	// writeQueue is the data streams' group-commit queue (put requests).
	writeQueue int
	// gcPercent is the Go garbage collector's GOGC when the environment
	// does not set one (0: the runtime's 100).
	gcPercent int
}

func profileNamed(name string) profile {
	switch name {
	case profilePi:
		return profile{
			name: profilePi,
			store: store.Options{MemTableSize: 2 << 20, NumMemtables: 2, BlockCacheSize: 2 << 20,
				IndexCacheSize: 2 << 20, ValueLogFileSize: 16 << 20},
			queueBytes: 2 << 20,
			writeQueue: 32,
			// A heap goal of 1.5 times the live heap: about 9 MB less
			// anonymous memory with four cameras, for 5-10% more CPU
			// (bench-ingest, see the README).
			gcPercent: 50,
		}
	default:
		return profile{
			name: profileDefault,
			store: store.Options{MemTableSize: 8 << 20, NumMemtables: 2, BlockCacheSize: 8 << 20,
				IndexCacheSize: 4 << 20, ValueLogFileSize: 64 << 20},
			queueBytes: 8 << 20,
			writeQueue: 256,
		}
	}
}

// resolveProfile returns the profile configured, choosing for "auto" by
// the machine's memory (memTotal, bytes; 0 when unknown), and says why.
func resolveProfile(configured string, memTotal int64) (profile, string) {
	switch configured {
	case profilePi, profileDefault:
		return profileNamed(configured), "configured"
	}
	if memTotal > 0 && memTotal <= piMemTotal {
		return profileNamed(profilePi), fmt.Sprintf("auto: %d MiB of RAM", memTotal>>20)
	}
	if memTotal == 0 {
		return profileNamed(profileDefault), "auto: memory size unknown"
	}
	return profileNamed(profileDefault), fmt.Sprintf("auto: %d MiB of RAM", memTotal>>20)
}

// readMemTotal returns MemTotal from /proc/meminfo in bytes, or 0.
func readMemTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// storeOptions returns the database's options: the profile's sizes and
// the configured budget.
func (c *Config) storeOptions(p profile) (store.Options, error) {
	o := p.store
	policy, err := store.ParsePolicy(c.Storage.Policy)
	if err != nil {
		return o, err
	}
	pct := c.Storage.MinFreePercent
	if pct == 0 {
		pct = -1 // the store's "no percentage"
	}
	o.Budget = store.Budget{MaxBytes: int64(c.Storage.MaxBytes), MinFreeBytes: int64(c.Storage.MinFreeBytes), MinFreePercent: pct, Policy: policy}
	return o, nil
}
