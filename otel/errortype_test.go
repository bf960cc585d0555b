package aiodbotel

import (
	"fmt"
	"testing"

	"github.com/aiodb/aiodb"
)

// TestErrorTypeSentinels: error.type names every aiodb sentinel a statement
// can fail with, the outcome of a write before the primary's state.
func TestErrorTypeSentinels(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: two writable nodes", aiodb.ErrSplitBrain), "aiodb.ErrSplitBrain"},
		{fmt.Errorf("%w (the statement failed with: %w)", aiodb.ErrPrimaryDown, fmt.Errorf("%w: link broke", aiodb.ErrOutcomeUnknown)), "aiodb.ErrOutcomeUnknown"},
		{fmt.Errorf("%w: after the block", aiodb.ErrBlockDone), "aiodb.ErrBlockDone"},
		{aiodb.ErrPrimaryDown, "aiodb.ErrPrimaryDown"},
	} {
		if got := errorType(&aiodb.Event{Err: c.err}); got != c.want {
			t.Errorf("error.type of %v: %s, want %s", c.err, got, c.want)
		}
	}
}
