package rtsp_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/rtsp"
)

// discard is a media.Writer that drops everything.
type discard struct{}

func (discard) WriteFrame(*media.Frame) {}
func (discard) Discontinuity(string)    {}
func (discard) Close()                  {}

// router accepts every stream name but "private".
type router struct{}

func (router) Publish(req *rtsp.PublishRequest) (media.Writer, error) {
	if req.Stream == "private" {
		return nil, fmt.Errorf("%w: %s", rtsp.ErrStreamNotFound, req.Stream)
	}
	return discard{}, nil
}

// A camera publishes with
//
//	ffmpeg -re -i clip.mkv -c copy -f rtsp rtsp://camera:secret@HOST:8554/cam1
func ExampleServer() {
	s := &rtsp.Server{
		Address:        "127.0.0.1:0", // ":8554" in production
		UDPRTPAddress:  "",            // ":8000" and ":8001" enable UDP
		UDPRTCPAddress: "",
		Router:         router{},
		Auth:           rtsp.StaticCredentials("camera", "secret"),
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if err := s.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	fmt.Println(len(s.Sessions()), "publishers")
	// Output: 0 publishers
}
