//go:build !linux

package store

import "errors"

func pageOutMapped(string, int64) (int64, error) { return 0, errors.ErrUnsupported }
