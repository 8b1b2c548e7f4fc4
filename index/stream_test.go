package index

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestStreamRegistry(t *testing.T) {
	errFn := errors.New("fn says no")
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		var cam1 Stream
		steps := []struct {
			name string
			do   func() error
			want error
		}{
			{"create", func() (err error) {
				cam1, err = x.CreateStream(ctx, Stream{Name: "cam1", MediaType: "video/h264", DeviceName: "porch"})
				return err
			}, nil},
			{"defaults", func() error {
				re := regexp.MustCompile(`^arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam1/(\d+)$`)
				m := re.FindStringSubmatch(cam1.ARN)
				if m == nil || m[1] != fmt.Sprint(t0.UnixMilli()) {
					return fmt.Errorf("ARN %q", cam1.ARN)
				}
				if cam1.RetentionHours != DefaultRetentionHours || cam1.Status != StatusActive || cam1.Version == "" || !cam1.Created.Equal(t0) {
					return fmt.Errorf("stream %+v", cam1)
				}
				return nil
			}, nil},
			{"create duplicate", func() error {
				_, err := x.CreateStream(ctx, Stream{Name: "cam1"})
				return err
			}, ErrStreamExists},
			{"create bad name", func() error {
				_, err := x.CreateStream(ctx, Stream{Name: "bad name"})
				return err
			}, ErrInvalidStream},
			{"create long name", func() error {
				_, err := x.CreateStream(ctx, Stream{Name: strings.Repeat("a", 257)})
				return err
			}, ErrInvalidStream},
			{"create retention too long", func() error {
				_, err := x.CreateStream(ctx, Stream{Name: "cam2", RetentionHours: MaxRetentionHours + 1})
				return err
			}, ErrInvalidStream},
			{"create bad status", func() error {
				_, err := x.CreateStream(ctx, Stream{Name: "cam2", Status: "SLEEPING"})
				return err
			}, ErrInvalidStream},
			{"create zero retention", func() error {
				s, err := x.CreateStream(ctx, Stream{Name: "a-zero", RetentionHours: ZeroRetentionHours})
				if err == nil && s.RetentionHours != 0 {
					return fmt.Errorf("retention %d, want 0", s.RetentionHours)
				}
				return err
			}, nil},
			{"get", func() error {
				s, err := x.Stream(ctx, "cam1")
				if err == nil && s != cam1 {
					return fmt.Errorf("got %+v, want %+v", s, cam1)
				}
				return err
			}, nil},
			{"get missing", func() error {
				_, err := x.Stream(ctx, "nope")
				return err
			}, ErrStreamNotFound},
			{"list sorted", func() error {
				ss, err := x.Streams(ctx)
				if err != nil {
					return err
				}
				if len(ss) != 2 || ss[0].Name != "a-zero" || ss[1].Name != "cam1" {
					return fmt.Errorf("streams %+v", ss)
				}
				return nil
			}, nil},
			{"update wrong version", func() error {
				_, err := x.UpdateStream(ctx, "cam1", "stale", func(s *Stream) error { s.RetentionHours = 48; return nil })
				return err
			}, ErrVersionMismatch},
			{"update missing", func() error {
				_, err := x.UpdateStream(ctx, "nope", "", func(s *Stream) error { return nil })
				return err
			}, ErrStreamNotFound},
			{"update fn error", func() error {
				_, err := x.UpdateStream(ctx, "cam1", "", func(s *Stream) error { return errFn })
				return err
			}, errFn},
			{"update invalid", func() error {
				_, err := x.UpdateStream(ctx, "cam1", "", func(s *Stream) error { s.RetentionHours = -3; return nil })
				return err
			}, ErrInvalidStream},
			{"update right version", func() error {
				s, err := x.UpdateStream(ctx, "cam1", cam1.Version, func(s *Stream) error {
					s.RetentionHours, s.Name, s.ARN = 48, "renamed", "arn:x"
					return nil
				})
				if err != nil {
					return err
				}
				if s.RetentionHours != 48 || s.Name != "cam1" || s.ARN != cam1.ARN || s.Version == cam1.Version {
					return fmt.Errorf("updated %+v", s)
				}
				got, err := x.Stream(ctx, "cam1")
				if err == nil && got != s {
					return fmt.Errorf("stored %+v, returned %+v", got, s)
				}
				return err
			}, nil},
			{"update old version again", func() error {
				_, err := x.UpdateStream(ctx, "cam1", cam1.Version, func(s *Stream) error { return nil })
				return err
			}, ErrVersionMismatch},
			{"delete", func() error { return x.DeleteStream(ctx, "cam1") }, nil},
			{"get deleted", func() error {
				_, err := x.Stream(ctx, "cam1")
				return err
			}, ErrStreamNotFound},
			{"delete again", func() error { return x.DeleteStream(ctx, "cam1") }, ErrStreamNotFound},
			{"recreate", func() error {
				s, err := x.CreateStream(ctx, Stream{Name: "cam1"})
				if err == nil && s.RetentionHours != DefaultRetentionHours {
					return fmt.Errorf("recreated %+v", s)
				}
				return err
			}, nil},
		}
		for _, st := range steps {
			checkErr(t, st.name, st.do(), st.want)
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // substring of the error, "" for none
	}{
		{"no dir", Options{}, "Dir is required"},
		{"memory", Options{InMemory: true}, ""},
		{"ratio", Options{InMemory: true, GCDiscardRatio: 1.5}, "GCDiscardRatio"},
		{"bucket and vlog", Options{InMemory: true, BucketWidth: time.Millisecond, ValueLogFileSize: 10}, "ValueLogFileSize"},
		{"threshold", Options{InMemory: true, ValueThreshold: 2 << 20}, "ValueThreshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.EnsureDefaults().Validate()
			if tt.want == "" {
				checkErr(t, "validate", err, nil)
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate: %v, want %q", err, tt.want)
			}
		})
	}
	// All problems are reported at once.
	o := Options{InMemory: true, BucketWidth: time.Millisecond, ValueLogFileSize: 10}
	err := o.EnsureDefaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "BucketWidth") || !strings.Contains(err.Error(), "ValueLogFileSize") {
		t.Fatalf("validate: %v, want both problems", err)
	}
}
