package authz

import "context"

type ctxKey struct{}

// WithUser returns a copy of ctx carrying the authenticated user, for
// handlers that show each user only what it may read (stream lists).
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, ctxKey{}, u)
}

// UserFrom returns the user WithUser stored; false when the request was
// not made by a user (anonymous reads, media tokens): the caller's guard
// already decided what those may see.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(ctxKey{}).(User)
	return u, ok
}
