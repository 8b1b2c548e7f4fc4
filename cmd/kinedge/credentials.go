package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kinedge/kinedge/firmware/atomicfile"
	"go.yaml.in/yaml/v3"
)

// credentialsFile is the name, under the data dir, of the credentials that
// were generated because the operator set none.
const credentialsFile = "credentials.yaml"

type savedCredentials struct {
	AccessKey   string `yaml:"access_key,omitempty"`
	SecretKey   string `yaml:"secret_key,omitempty"`
	PublishUser string `yaml:"publish_user,omitempty"`
	PublishPass string `yaml:"publish_pass,omitempty"`
}

// ensureCredentials fills unset credentials from <data_dir>/credentials.yaml,
// generating and saving (0600) the missing ones; newly generated ones are
// printed once to out.
func ensureCredentials(c *Config, out io.Writer) error {
	path := filepath.Join(c.DataDir, credentialsFile)
	var saved savedCredentials
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := yaml.Unmarshal(b, &saved); err != nil {
			return fmt.Errorf("credentials: %s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("credentials: %w", err)
	}
	var generated []string
	fill := func(dst *string, saved *string, name string, gen func() string) {
		if *dst != "" {
			return
		}
		if *saved == "" {
			*saved = gen()
			generated = append(generated, fmt.Sprintf("  %-13s %s", name, *saved))
		}
		*dst = *saved
	}
	fill(&c.AccessKey, &saved.AccessKey, "access key", func() string { return "AKIA" + randomToken(16) })
	fill(&c.SecretKey, &saved.SecretKey, "secret key", func() string { return randomToken(40) })
	if !c.AnonymousPublish {
		fill(&c.PublishUser, &saved.PublishUser, "publish user", func() string { return "camera" })
		fill(&c.PublishPass, &saved.PublishPass, "publish pass", func() string { return strings.ToLower(randomToken(20)) })
	}
	if len(generated) == 0 {
		return nil
	}
	b, err = yaml.Marshal(saved)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	fmt.Fprintf(out, "kinedge: generated credentials (saved in %s, shown only now):\n%s\n", path, strings.Join(generated, "\n"))
	return nil
}

// randomToken returns n (at most 52) characters of crypto-random base32.
func randomToken(n int) string {
	return (rand.Text() + rand.Text())[:n]
}
