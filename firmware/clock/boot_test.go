package clock

import (
	"errors"
	"os"
	"testing"
	"time"
)

var bootIDCases = []struct {
	in   string
	want string // "" for an error
}{
	{"4dfb04db-b803-443f-a596-cd20d218407b\n", "4dfb04db-b803-443f-a596-cd20d218407b"},
	{"4dfb04db-b803-443f-a596-cd20d218407b", "4dfb04db-b803-443f-a596-cd20d218407b"},
	{"", ""},
	{"\n", ""},
	{"4dfb04db-b803-443f-a596-cd20d218407b\n\n", ""},
	{"4DFB04DB-B803-443F-A596-CD20D218407B\n", ""},
	{"4dfb04dbb803443fa596cd20d218407b\n", ""},
	{"4dfb04db-b803-443f-a596_cd20d218407b\n", ""},
	{"4dfb04db-b803-443f-a596-cd20d218407g\n", ""},
	{"4dfb04db-b803-443f-a596-cd20d218407b0\n", ""},
}

func TestParseBootID(t *testing.T) {
	for _, c := range bootIDCases {
		got, err := ParseBootID([]byte(c.in))
		if c.want == "" {
			if !errors.Is(err, ErrBootID) {
				t.Errorf("%q: %q, %v; want ErrBootID", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzParseBootID(f *testing.F) {
	for _, c := range bootIDCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseBootID(b)
		if err != nil {
			if !errors.Is(err, ErrBootID) || id != "" {
				t.Fatalf("%q: %q, %v", b, id, err)
			}
			return
		}
		// What is accepted reads back the same.
		if again, err := ParseBootID([]byte(id + "\n")); err != nil || again != id || len(id) != 36 {
			t.Fatalf("%q gave %q, which reads back as %q, %v", b, id, again, err)
		}
	})
}

// TestKernelBoot reads this machine's boot: the id is well-formed and
// stays, the boot clock runs forward.
func TestKernelBoot(t *testing.T) {
	if _, err := os.Stat(BootIDPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no %s under CI: %v", BootIDPath, err)
		}
		t.Skipf("no %s here (not Linux, or no /proc): %v", BootIDPath, err)
	}
	b1, err := KernelBoot()
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	deadline := before.Add(10 * time.Second)
	var b2 Boot
	for { // until the boot clock visibly moves
		if b2, err = KernelBoot(); err != nil {
			t.Fatal(err)
		}
		if b2.Since > b1.Since || time.Now().After(deadline) {
			break
		}
	}
	if b1.ID != b2.ID || b1.Since <= 0 || b2.Since <= b1.Since {
		t.Fatalf("two readings %+v then %+v: want one boot and a clock that runs", b1, b2)
	}
	t.Logf("this machine's boot: %s, up %v", b1.ID, b1.Since)
}

// TestTimelineAnchor: the anchor pairs the boot reading of Start with the
// timeline's reading then, follows RaiseStart and an offset, and is an
// error when the boot could not be read.
func TestTimelineAnchor(t *testing.T) {
	c := &fakeClocks{wall: time.Unix(0, 0).UTC(), mono: 5 * time.Second}
	w := c.watcher(Unsynced)
	since := time.Hour // the boot clock: an hour ahead of this process's
	tl := &Timeline{Wall: w.Wall, Mono: w.Mono,
		Boot: func() (Boot, error) { return Boot{ID: "boot-1", Since: since + c.mono}, nil }}
	tl.Start(w.Check())
	a, err := tl.Anchor()
	if err != nil {
		t.Fatal(err)
	}
	want := Anchor{BootID: "boot-1", Since: time.Hour + 5*time.Second, Wall: DefaultFloor}
	if a != want {
		t.Fatalf("anchor at start %+v, want %+v", a, want)
	}
	c.tick(time.Minute, 0)
	newest := DefaultFloor.Add(time.Hour)
	tl.RaiseStart(newest)
	// The timeline reads newest now, a minute after the boot reading.
	want.Wall = newest.Add(-time.Minute)
	if a, _ := tl.Anchor(); a != want {
		t.Fatalf("anchor after the raise %+v, want %+v", a, want)
	}
	// A jump to a plausible time while unsynced: the offset moves the
	// timeline, and the anchor with it.
	c.tick(time.Second, 0)
	c.wall = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	st, changed := tl.Observe(w.Check())
	if !changed {
		t.Fatal("the jump did not move the timeline")
	}
	want.Wall, want.Offset = want.Wall.Add(st.Offset), st.Offset
	if a, _ := tl.Anchor(); a != want {
		t.Fatalf("anchor after the jump %+v, want %+v", a, want)
	}
	// Where the boot cannot be read, there is no anchor.
	broken := &Timeline{Wall: w.Wall, Mono: w.Mono, Boot: func() (Boot, error) { return Boot{}, ErrBootID }}
	broken.Start(w.Check())
	if _, err := broken.Anchor(); !errors.Is(err, ErrBootID) {
		t.Fatalf("anchor without a boot: %v", err)
	}
}
