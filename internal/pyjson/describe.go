package pyjson

import (
	"fmt"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// maxQuoted is how many characters of a value an error message shows.
const maxQuoted = 80

// Describe names the JSON type of a value for an error message ("want a
// list, got a string (\"a\")"): "null", "a boolean (true)", "a number
// (5)", "a string (...)" (quoted by Quote), "a list", "an object".
func Describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean (" + Dumps(v) + ")"
	case int64, int, *big.Int, float64:
		s := Dumps(v) // ASCII: cutting bytes is safe
		if len(s) > maxQuoted {
			s = s[:maxQuoted] + "..."
		}
		return "a number (" + s + ")"
	case string:
		return "a string (" + Quote(v) + ")"
	case []any:
		return "a list"
	case *Object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Quote quotes s for an error message as strconv.Quote does, shortened to
// its first 80 characters and "..." when longer.
func Quote(s string) string {
	if utf8.RuneCountInString(s) > maxQuoted {
		s = string([]rune(s)[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
