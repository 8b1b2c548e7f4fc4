package authz

import (
	"encoding/json"
	"errors"
	"net/http"
)

// API is the admin API of the users: register it behind a guard that admits
// only admins.
//
//	GET    /v1/users               {"users": [User without secret…]}
//	POST   /v1/users               {"name", "grants": [{"action","streams"}…]} → 201 User with its secret
//	DELETE /v1/users/{name}        204
//	POST   /v1/users/{name}/rotate 200 User with its new secret
//
// Errors are JSON {"message": …}: 400 invalid, 404 unknown user, 409 a
// user of that name exists or is built in.
type API struct{ Store *Store }

// Register adds the routes to mux.
func (a API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/users", a.list)
	mux.HandleFunc("POST /v1/users", a.add)
	mux.HandleFunc("DELETE /v1/users/{name}", a.remove)
	mux.HandleFunc("POST /v1/users/{name}/rotate", a.rotate)
}

// AddRequest is the body of POST /v1/users.
type AddRequest struct {
	Name   string  `json:"name"`
	Grants []Grant `json:"grants"`
}

func (a API) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]User{"users": a.Store.List()})
}

func (a API) add(w http.ResponseWriter, r *http.Request) {
	var req AddRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, message{"body: " + err.Error()})
		return
	}
	u, err := a.Store.Add(r.Context(), req.Name, req.Grants)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (a API) remove(w http.ResponseWriter, r *http.Request) {
	if err := a.Store.Remove(r.Context(), r.PathValue("name")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a API) rotate(w http.ResponseWriter, r *http.Request) {
	u, err := a.Store.Rotate(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

type message struct {
	Message string `json:"message"`
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrBuiltin):
		status = http.StatusConflict
	}
	writeJSON(w, status, message{err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
