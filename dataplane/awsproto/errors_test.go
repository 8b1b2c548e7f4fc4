package awsproto

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestErrorf(t *testing.T) {
	tests := []struct {
		typ    string
		status int
	}{
		{ValidationException, 400},
		{SerializationException, 400},
		{ResourceNotFoundException, 400},
		{ProvisionedThroughputExceededException, 400},
		{AccessDeniedException, 400},
		{UnrecognizedClientException, 403},
		{InvalidSignatureException, 403},
		{IncompleteSignatureException, 403},
		{MissingAuthenticationTokenException, 403},
		{InternalFailure, 500},
		{ServiceUnavailableException, 503},
		{RequestEntityTooLarge, 413},
		{"SomethingNew", 400},
	}
	for _, tt := range tests {
		e := Errorf(tt.typ, "shard %s: %d%%", "shardId-000000000000", 5)
		if e.Type != tt.typ || e.HTTPStatus() != tt.status || e.Message != "shard shardId-000000000000: 5%" {
			t.Errorf("Errorf(%s) = %+v, status %d", tt.typ, e, e.HTTPStatus())
		}
	}
	if got := (&Error{Type: ValidationException}).HTTPStatus(); got != 400 {
		t.Errorf("zero Status = %d, want 400", got)
	}
}

func TestErrorMatching(t *testing.T) {
	err := fmt.Errorf("put record: %w", Errorf(ResourceNotFoundException, "Stream s not found."))
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"Is same type", errors.Is(err, &Error{Type: ResourceNotFoundException}), true},
		{"Is other type", errors.Is(err, &Error{Type: ResourceInUseException}), false},
		{"Is plain error", errors.Is(errors.New("x"), &Error{Type: ResourceNotFoundException}), false},
		{"TypeOf wrapped", TypeOf(err) == ResourceNotFoundException, true},
		{"TypeOf plain", TypeOf(errors.New("x")) == "", true},
		{"TypeOf nil", TypeOf(nil) == "", true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if s := err.Error(); s != "put record: awsproto: ResourceNotFoundException: Stream s not found." {
		t.Errorf("Error() = %q", s)
	}
	if s := (&Error{Type: InternalFailure}).Error(); s != "awsproto: InternalFailure" {
		t.Errorf("Error() = %q", s)
	}
}

// TypeOf returns the AWS error type of err if it is or wraps an *Error, and
// "" otherwise.
func TypeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}

// AccessKeyFromContext returns the access key id Middleware verified, and
// false when the request did not go through a verifying Middleware.
func AccessKeyFromContext(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(ctxAccessKey).(string)
	return k, ok
}
