package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/kinedge/kinedge/ingest/rtsp"
)

// maxPullBody bounds the body of POST /v1/streams.
const maxPullBody = 64 << 10

// Register adds the pulled-camera routes of the REST API to mux (behind
// the caller's authentication):
//
//	POST   /v1/streams                {"name": …, "source": "rtsp://…"} → 201, Location
//	DELETE /v1/streams/{name}/source  → 204 (the recordings stay)
//
// Errors are JSON {"message": …}: 400 for a bad body, name or URL, 409 for
// a video stream already pulled, 404 for one not pulled.
func (m *Manager) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/streams", m.handleAdd)
	mux.HandleFunc("DELETE /v1/streams/{name}/source", m.handleRemove)
}

func (m *Manager) handleAdd(w http.ResponseWriter, r *http.Request) {
	var p Pull
	dec := json.NewDecoder(io.LimitReader(r.Body, maxPullBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		jsonError(w, http.StatusBadRequest, "body must be JSON {\"name\": …, \"source\": \"rtsp://…\"}: "+err.Error())
		return
	}
	err := m.AddPull(p)
	switch {
	case errors.Is(err, ErrPullExists):
		jsonError(w, http.StatusConflict, fmt.Sprintf("video stream %s is already pulled; DELETE /v1/streams/%s/source first", p.Name, p.Name))
	case errors.Is(err, ErrInvalidPull):
		jsonError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		jsonError(w, http.StatusInternalServerError, err.Error())
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/v1/streams/"+p.Name)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"name": p.Name, "source": rtsp.RedactURL(p.Source)})
	}
}

func (m *Manager) handleRemove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	switch err := m.RemovePull(name); {
	case errors.Is(err, ErrNotPulled):
		jsonError(w, http.StatusNotFound, fmt.Sprintf("video stream %s is not pulled", name))
	case err != nil:
		jsonError(w, http.StatusInternalServerError, err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
