package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
)

// The keys command runs offline, against the data directory of a stopped
// appliance, for three reasons: Badger's directory lock already makes a
// second process fail clearly while serve runs; a running keyring caches
// unwrapped keys and writes new key records, which a rotation would race;
// and a rotation is rare, operator-driven and short (one small transaction
// per data key, thousands per second), so a minute of downtime is cheaper
// than an admin API whose crash safety must hold against live writes. The
// running appliance only reads the files RotateMaster leaves: it accepts
// the pending and retired master keys, so a rotation killed midway never
// stops it from starting (see docs/keys.md).

const keysUsage = `usage: kinedge keys <command> [--config file] [--data-dir dir]

Offline: stop kinedge serve first (the database is locked while it runs).

commands:
  list                  data keys (id, alias, created, retired, master check) and master key files
  rotate-master         new master key; every data key re-wrapped under it, no media re-encrypted;
                        the old key kept as <master key file>.retired-<check>; re-run to finish
                        a rotation that was interrupted
  retire-master CHECK   delete the retired master key file of CHECK once no data key needs it
                        (archived objects wrapped by it then need your backup of that file)

`

// rotateCrashEnv makes rotate-master kill itself with SIGKILL after the
// given number of durable steps (tests of crash safety only).
const rotateCrashEnv = "KINEDGE_TEST_ROTATE_KILL_AFTER"

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("keys", flag.ContinueOnError)
	fset.SetOutput(stderr)
	configFile := fset.String("config", "", "the appliance's YAML config `file` (default $KINEDGE_CONFIG)")
	dataDir := fset.String("data-dir", "", "the data `dir` (default from the config)")
	fset.Usage = func() {
		fmt.Fprint(stderr, keysUsage)
		fset.PrintDefaults()
	}
	if len(args) == 0 {
		fset.Usage()
		return errors.New("keys: no command given")
	}
	cmd := args[0]
	// Flags may come before or after the arguments (retire-master CHECK --data-dir D).
	var pos []string
	for rest := args[1:]; ; {
		if err := fset.Parse(rest); err != nil {
			return err
		}
		if fset.NArg() == 0 {
			break
		}
		pos = append(pos, fset.Arg(0))
		rest = fset.Args()[1:]
	}
	var cfgArgs []string
	if *configFile != "" {
		cfgArgs = append(cfgArgs, "--config", *configFile)
	}
	if *dataDir != "" {
		cfgArgs = append(cfgArgs, "--data-dir", *dataDir)
	}
	cfg, _, err := loadConfig(cfgArgs, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch cmd {
	case "list":
		if len(pos) != 0 {
			return fmt.Errorf("keys list: unexpected arguments %q", pos)
		}
		return withKeyStore(ctx, &cfg, log, func(ks seal.KeyStore) error { return keysList(ctx, &cfg, ks, log, stdout) })
	case "rotate-master":
		if len(pos) != 0 {
			return fmt.Errorf("keys rotate-master: unexpected arguments %q", pos)
		}
		path, err := rotatableMasterPath(&cfg)
		if err != nil {
			return err
		}
		hook, err := rotateHook()
		if err != nil {
			return err
		}
		return withKeyStore(ctx, &cfg, log, func(ks seal.KeyStore) error {
			old, next, err := seal.RotateMaster(ctx, path, ks, hook)
			if err != nil {
				return fmt.Errorf("keys rotate-master: %w", err)
			}
			fmt.Fprintf(stdout, "master key rotated: %s is now check %s; the old key (check %s) is kept in %s:\n"+
				"back up both; delete the old one with \"kinedge keys retire-master %s\" once no archive needs it\n",
				path, next.CheckValue(), old.CheckValue(), seal.RetiredMasterPath(path, old.CheckValue()), old.CheckValue())
			return nil
		})
	case "retire-master":
		if len(pos) != 1 {
			return errors.New("keys retire-master: give the check value of the retired master key (see kinedge keys list)")
		}
		check := pos[0]
		path := masterKeyPath(&cfg)
		return withKeyStore(ctx, &cfg, log, func(ks seal.KeyStore) error {
			if err := seal.RetireMaster(ctx, path, ks, check); err != nil {
				return fmt.Errorf("keys retire-master: %w", err)
			}
			fmt.Fprintf(stdout, "retired master key %s deleted (%s)\n", check, seal.RetiredMasterPath(path, check))
			return nil
		})
	default:
		fset.Usage()
		return fmt.Errorf("keys: unknown command %q", cmd)
	}
}

// rotateHook returns the rotation's step hook: nil, or a SIGKILL of this
// process after $KINEDGE_TEST_ROTATE_KILL_AFTER steps.
func rotateHook() (func(seal.RotationStep), error) {
	v := os.Getenv(rotateCrashEnv)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%s=%q: want a step count >= 1", rotateCrashEnv, v)
	}
	steps := 0
	return func(step seal.RotationStep) {
		steps++
		if steps == n {
			fmt.Fprintf(os.Stderr, "kinedge: %s: killed after step %d (%s)\n", rotateCrashEnv, n, step)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}, nil
}

// withKeyStore opens the stopped appliance's database and runs fn on its
// key store.
func withKeyStore(ctx context.Context, cfg *Config, log *slog.Logger, fn func(seal.KeyStore) error) error {
	dir := filepath.Join(cfg.DataDir, "db")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("keys: no database in %s: %w", cfg.DataDir, err)
	}
	db, err := store.Open(store.Options{Dir: dir, Logger: log})
	if err != nil {
		return fmt.Errorf("keys: open the database %s (stop kinedge serve first: this command runs offline): %w", dir, err)
	}
	defer db.Close()
	idx, err := index.Open(index.Options{DB: db, Logger: log})
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer idx.Close()
	return fn(idx.Keys())
}

// keysList prints the data keys and the master keys; never key material.
func keysList(ctx context.Context, cfg *Config, ks seal.KeyStore, log *slog.Logger, stdout io.Writer) error {
	masters, _, err := loadMasterKeys(cfg, log)
	if err != nil {
		return err
	}
	recs, err := ks.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys list: %w", err)
	}
	fmt.Fprintf(stdout, "master key %s (active)\n", masters.Active.CheckValue())
	if !masters.Pending.IsZero() {
		fmt.Fprintf(stdout, "master key %s (pending: a rotation was interrupted; run kinedge keys rotate-master to finish it)\n", masters.Pending.CheckValue())
	}
	for _, m := range masters.Retired {
		fmt.Fprintf(stdout, "master key %s (retired)\n", m.CheckValue())
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tALIAS\tCREATED\tRETIRED\tMASTER CHECK")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", r.ID, r.Alias, r.Created.UTC().Format(time.RFC3339), r.Retired, r.MasterCheck)
	}
	return tw.Flush()
}

// checkMasterKeySources refuses a master key given both in the config file
// and in KINEDGE_MASTER_KEY (which would silently win). It runs before
// applyEnv; Validate refuses master_key with master_key_file.
func checkMasterKeySources(cfg *Config, getenv func(string) string) error {
	if cfg.MasterKey != "" && getenv(seal.MasterKeyEnv) != "" {
		return fmt.Errorf("config: the master key is set twice, by master_key in the config file and by %s: keep one", seal.MasterKeyEnv)
	}
	return nil
}

// masterKeyPath is the master key file: master_key_file, or
// <data_dir>/master.key. Pending and retired keys live next to it.
func masterKeyPath(cfg *Config) string {
	if cfg.MasterKeyFile != "" {
		return cfg.MasterKeyFile
	}
	return filepath.Join(cfg.DataDir, seal.MasterKeyFile)
}

// rotatableMasterPath is the file rotate-master replaces: a key given as a
// value (master_key, KINEDGE_MASTER_KEY) has no file to rotate.
func rotatableMasterPath(cfg *Config) (string, error) {
	if cfg.MasterKey != "" {
		return "", fmt.Errorf("keys rotate-master: the master key comes from master_key or %s, which kinedge cannot rewrite: "+
			"move it to a file (master_key_file) to rotate it here", seal.MasterKeyEnv)
	}
	return masterKeyPath(cfg), nil
}

// loadMasterKeys returns the active master key, from master_key (or
// KINEDGE_MASTER_KEY), from master_key_file (which must exist: separate
// media that is not mounted must not silently get a new key), or from
// <data_dir>/master.key (created 0600 at the first start), with the
// pending and retired keys found next to the file. created reports a new
// key.
func loadMasterKeys(cfg *Config, log *slog.Logger) (seal.MasterKeys, bool, error) {
	path := masterKeyPath(cfg)
	var active seal.MasterKey
	var created bool
	var err error
	switch {
	case cfg.MasterKey != "":
		active, err = seal.ParseMasterKey(cfg.MasterKey)
		if err != nil {
			return seal.MasterKeys{}, false, fmt.Errorf("master_key (%s): %w", seal.MasterKeyEnv, err)
		}
	case cfg.MasterKeyFile != "":
		if _, err := os.Stat(path); err != nil {
			return seal.MasterKeys{}, false, fmt.Errorf("master_key_file: %w (is its media mounted?)", err)
		}
		active, _, err = seal.LoadOrCreateMasterKey(path, "")
	default:
		active, created, err = seal.LoadOrCreateMasterKey(path, "")
	}
	if err != nil {
		return seal.MasterKeys{}, false, err
	}
	masters, err := seal.LoadMasterKeys(path, active)
	if err != nil {
		return seal.MasterKeys{}, false, err
	}
	if !masters.Pending.IsZero() {
		log.Warn("an interrupted master key rotation: both keys are accepted; run kinedge keys rotate-master (server stopped) to finish it",
			"pending", seal.PendingMasterPath(path), "pending_check", masters.Pending.CheckValue())
	}
	return masters, created, nil
}
