package archive

import (
	"cmp"
	"slices"
	"strconv"
)

func sortEntries(es []Entry) {
	slices.SortStableFunc(es, func(a, b Entry) int {
		if c := a.ServerTime.Compare(b.ServerTime); c != 0 {
			return c
		}
		x, _ := strconv.ParseUint(a.Number, 10, 64)
		y, _ := strconv.ParseUint(b.Number, 10, 64)
		return cmp.Compare(x, y)
	})
}
