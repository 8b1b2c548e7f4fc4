package main

import (
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinedge/kinedge/dataplane/video/upstream"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
)

// openUpstreams starts a forwarder per entry of upstreams: each sends its
// stream's stored fragments to the upstream KVS with PutMedia, from a
// cursor in the "u/" space, woken by every stored fragment (see
// dataplane/video/upstream).
func (a *appliance) openUpstreams(cfg *Config, keyring *seal.Keyring, log *slog.Logger) error {
	if len(cfg.Upstreams) == 0 {
		return nil
	}
	space, err := a.db.Space("u/")
	if err != nil {
		return err
	}
	for _, u := range cfg.Upstreams {
		f := &upstream.Forwarder{
			Index: a.idx, Space: space, Opener: keyring,
			Client: &upstream.Client{Endpoint: u.Upstream.Endpoint, Region: u.Upstream.Region,
				Credentials: aws.Credentials{AccessKeyID: u.Upstream.AccessKey, SecretAccessKey: u.Upstream.SecretKey}},
			Stream: u.Stream, Remote: u.Upstream.Stream,
			Logger: log.With("component", "upstream"),
		}
		if err := f.Start(); err != nil {
			return err
		}
		a.upstreams = append(a.upstreams, f)
		log.Info("upstream forwarding on", "stream", u.Stream, "endpoint", u.Upstream.Endpoint, "region", u.Upstream.Region, "remote_stream", f.Remote)
	}
	prev := a.sources.OnStored
	a.sources.OnStored = func(fr index.Fragment) {
		if prev != nil {
			prev(fr)
		}
		for _, f := range a.upstreams {
			f.Notify(fr)
		}
	}
	return nil
}
