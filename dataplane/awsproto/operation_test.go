package awsproto

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

type opInput struct {
	Name  *string `json:"Name"`
	Count int     `json:"Count"`
}

// Operation decodes, then validates, then calls, and stops at the first
// step that fails with that step's error.
func TestOperation(t *testing.T) {
	errInvalid := Errorf(ValidationException, "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	validate := func(in *opInput) error {
		if in.Name == nil {
			return errInvalid
		}
		return nil
	}
	var called *opInput
	op := Operation(validate, func(_ context.Context, r *http.Request, in *opInput) (any, error) {
		if r == nil {
			return nil, errors.New("no request")
		}
		called = in
		return map[string]int{"Count": in.Count}, nil
	})
	tests := []struct {
		name     string
		codec    Codec
		body     string
		wantType string // error type, "" for success
		called   bool
	}{
		{"valid JSON", JSON, `{"Name":"a","Count":3}`, "", true},
		{"valid CBOR", CBOR, "\xa2\x64Name\x61a\x65Count\x03", "", true},
		{"malformed", JSON, `{"Name":`, SerializationException, false},
		{"wrong type", JSON, `{"Name":1}`, SerializationException, false},
		{"invalid", JSON, `{"Count":3}`, ValidationException, false},
		{"empty body is an empty input", JSON, ``, ValidationException, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called = nil
			out, err := op(context.Background(), httptest.NewRequest(http.MethodPost, "/", nil), tt.codec, []byte(tt.body))
			if tt.wantType == "" {
				if err != nil || out.(map[string]int)["Count"] != 3 {
					t.Fatalf("out %v, err %v", out, err)
				}
			} else {
				var ae *Error
				if !errors.As(err, &ae) || ae.Type != tt.wantType {
					t.Fatalf("err = %v, want %s", err, tt.wantType)
				}
			}
			if (called != nil) != tt.called {
				t.Errorf("called = %v, want %v", called != nil, tt.called)
			}
		})
	}
}

// A nil validate accepts every input that decodes.
func TestOperationNoValidate(t *testing.T) {
	op := Operation(nil, func(_ context.Context, _ *http.Request, in *opInput) (any, error) { return in.Name == nil, nil })
	out, err := op(context.Background(), nil, JSON, []byte(`{}`))
	if err != nil || out != true {
		t.Fatalf("out %v, err %v", out, err)
	}
}
