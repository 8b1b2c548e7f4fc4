package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/kinedge/kinedge/dataplane/authz"
)

const usersUsage = `usage: kinedge users <add|list|remove|rotate> [flags] [args]

  add NAME GRANT...   create a user; GRANT is action:pattern (admin, publish, read,
                      put-records, get-records, firehose on stream names such as cam*);
                      prints the access key and secret once
  list                list the users and their grants (never secrets)
  remove NAME         delete a user
  rotate NAME         give a user a new access key and secret, printed once

The commands call the running appliance's admin API (/v1/users) with the admin
credentials (--user/--pass, KINEDGE_ACCESS_KEY/KINEDGE_SECRET_KEY, or the data dir's).
`

// runUsers is `kinedge users`.
func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usersUsage)
		if len(args) == 0 {
			return errors.New("users: no subcommand given")
		}
		return flag.ErrHelp
	}
	sub := args[0]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	rest := fs.Args()
	switch sub {
	case "list":
		var out struct{ Users []authz.User }
		if err := c.call(ctx, http.MethodGet, "/v1/users", nil, &out); err != nil {
			return fmt.Errorf("users list: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tACCESS KEY\tGRANTS\tSOURCE")
		for _, u := range out.Users {
			src := "users"
			if u.Builtin {
				src = "config"
			}
			var gs []string
			for _, g := range u.Grants {
				gs = append(gs, g.String())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.AccessKey, strings.Join(gs, ","), src)
		}
		return tw.Flush()
	case "add":
		if len(rest) < 2 {
			return errors.New("users add: give NAME and at least one GRANT (action:pattern, e.g. publish:cam1)")
		}
		req := authz.AddRequest{Name: rest[0]}
		for _, s := range rest[1:] {
			g, err := authz.ParseGrant(s)
			if err != nil {
				return fmt.Errorf("users add: %w", err)
			}
			req.Grants = append(req.Grants, g)
		}
		var u authz.User
		if err := c.call(ctx, http.MethodPost, "/v1/users", req, &u); err != nil {
			return fmt.Errorf("users add: %w", err)
		}
		return printSecret(stdout, u, *asJSON)
	case "remove", "rotate":
		if len(rest) != 1 {
			return fmt.Errorf("users %s: give one NAME", sub)
		}
		path := "/v1/users/" + url.PathEscape(rest[0])
		if sub == "remove" {
			if err := c.call(ctx, http.MethodDelete, path, nil, nil); err != nil {
				return fmt.Errorf("users remove: %w", err)
			}
			fmt.Fprintf(stdout, "removed %s\n", rest[0])
			return nil
		}
		var u authz.User
		if err := c.call(ctx, http.MethodPost, path+"/rotate", nil, &u); err != nil {
			return fmt.Errorf("users rotate: %w", err)
		}
		return printSecret(stdout, u, *asJSON)
	}
	fmt.Fprint(stderr, usersUsage)
	return fmt.Errorf("users: unknown subcommand %q", sub)
}

// printSecret shows a new key pair: the only time the secret is shown.
func printSecret(w io.Writer, u authz.User, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(u)
	}
	_, err := fmt.Fprintf(w, "user        %s\naccess key  %s\nsecret      %s\n(the secret is shown only now: store it)\n", u.Name, u.AccessKey, u.Secret)
	return err
}

// call sends a JSON request to the admin API and decodes the answer into
// out (when not nil); a refusal is an error with the server's message.
func (c *apiClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Message string }
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%s: %s (sent %s)", resp.Status, e.Message, c.creds)
		}
		return fmt.Errorf("%s: %s", resp.Status, e.Message)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
