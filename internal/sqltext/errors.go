package sqltext

import (
	"errors"
	"strconv"
)

// ErrPlaceholder is wrapped by every placeholder rewriting error.
var ErrPlaceholder = errors.New("aiodb: placeholder error")

// PlaceholderError describes a placeholder rewriting failure, found before
// anything is sent to the server; errors.Is(err, ErrPlaceholder) holds.
// Its message names the problem and never contains argument values.
type PlaceholderError struct {
	// Offset is the byte offset in the source query where the problem was
	// found, or -1 when the error is about the arguments as a whole (their
	// number, or a sql.Named argument).
	Offset int
	// Msg describes the problem.
	Msg string
}

// Error returns "aiodb: placeholder error at byte N: problem".
func (e *PlaceholderError) Error() string {
	if e.Offset < 0 {
		return "aiodb: placeholder error: " + e.Msg
	}
	return "aiodb: placeholder error at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Unwrap returns ErrPlaceholder.
func (e *PlaceholderError) Unwrap() error { return ErrPlaceholder }
