package testtool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// AWSCLI runs the AWS CLI (botocore: a SigV4 signer and a JSON parser
// nobody here wrote) against an endpoint, in a home of its own: no user
// configuration, one attempt, no pager, ISO 8601 timestamps (so botocore
// parses them instead of echoing them).
type AWSCLI struct {
	// Path is the aws binary (Need(t, "aws")).
	Path string
	// Endpoint is the --endpoint-url; Region the --region.
	Endpoint, Region string
	// Key and Secret are the credentials.
	Key, Secret string
	// Config holds more lines of the [default] profile
	// ("cli_binary_format = raw-in-base64-out").
	Config []string
}

// Run runs aws <service> args with a one-minute deadline and returns its
// stdout and stderr.
func (c AWSCLI) Run(t testing.TB, service string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	config := filepath.Join(home, "config")
	lines := append([]string{"[default]", "cli_timestamp_format = iso8601"}, c.Config...)
	if err := os.WriteFile(config, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := Command(t, time.Minute, c.Path, append([]string{service, "--endpoint-url", c.Endpoint, "--region", c.Region, "--output", "json"}, args...)...)
	cmd.Env = []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID=" + c.Key, "AWS_SECRET_ACCESS_KEY=" + c.Secret,
		"AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard", "AWS_PAGER=",
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}
