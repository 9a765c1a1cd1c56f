package pyjson

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects Parse accepts.
// Python's json.loads fails with RecursionError near 1000 levels; Parse
// returns a SyntaxError instead.
const MaxDepth = 1000

// maxIntDigits is CPython's default int/str conversion limit
// (sys.get_int_max_str_digits()): json.loads raises ValueError on longer
// integer literals.
const maxIntDigits = 4300

// SyntaxError describes where and why Parse failed.
type SyntaxError struct {
	Offset int64  // byte offset of the problem in the input
	Msg    string // what was expected
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at byte offset %d", e.Msg, e.Offset)
}

// Parse decodes data as Python's json.loads does: surrounding whitespace is
// allowed; NaN, Infinity and -Infinity are accepted; integers become int64, or
// *big.Int when they do not fit; any literal with '.', 'e' or 'E' becomes a
// float64 (overflow gives ±Inf as Python's float() does); objects become
// *Object (first-insertion order, last value wins on duplicate keys).
// Control characters inside strings, leading zeros, trailing data and invalid
// UTF-8 are rejected. A lone UTF-16 surrogate written as \uD800 is kept as its
// WTF-8 byte sequence, which Dumps and Str write back as \ud800.
func Parse(data []byte) (any, error) {
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, &SyntaxError{Offset: int64(off), Msg: "invalid UTF-8"}
	}
	p := parser{data: data}
	p.skipWS()
	if len(data) >= 3 && p.pos == 0 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		return nil, p.errf("unexpected UTF-8 byte order mark")
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos != len(p.data) {
		return nil, p.errf("extra data after the value")
	}
	return v, nil
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) errf(format string, args ...any) error {
	return &SyntaxError{Offset: int64(p.pos), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) hasPrefix(s string) bool {
	return len(p.data)-p.pos >= len(s) && string(p.data[p.pos:p.pos+len(s)]) == s
}

func (p *parser) value(depth int) (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.errf("expecting value")
	}
	switch c := p.data[p.pos]; {
	case c == '"':
		return p.str()
	case c == '{':
		if depth >= MaxDepth {
			return nil, p.errf("nesting deeper than %d levels", MaxDepth)
		}
		return p.object(depth + 1)
	case c == '[':
		if depth >= MaxDepth {
			return nil, p.errf("nesting deeper than %d levels", MaxDepth)
		}
		return p.array(depth + 1)
	case c == 'n' && p.hasPrefix("null"):
		p.pos += 4
		return nil, nil
	case c == 't' && p.hasPrefix("true"):
		p.pos += 4
		return true, nil
	case c == 'f' && p.hasPrefix("false"):
		p.pos += 5
		return false, nil
	case c == 'N' && p.hasPrefix("NaN"):
		p.pos += 3
		return math.NaN(), nil
	case c == 'I' && p.hasPrefix("Infinity"):
		p.pos += 8
		return math.Inf(1), nil
	case c == '-' && p.hasPrefix("-Infinity"):
		p.pos += 9
		return math.Inf(-1), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, p.errf("expecting value")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *parser) number() (any, error) {
	start := p.pos
	i := p.pos
	if p.data[i] == '-' {
		i++
	}
	switch {
	case i < len(p.data) && p.data[i] == '0':
		i++
	case i < len(p.data) && p.data[i] >= '1' && p.data[i] <= '9':
		for i < len(p.data) && isDigit(p.data[i]) {
			i++
		}
	default:
		return nil, p.errf("expecting value")
	}
	intEnd := i
	isFloat := false
	if i+1 < len(p.data) && p.data[i] == '.' && isDigit(p.data[i+1]) {
		isFloat = true
		i += 2
		for i < len(p.data) && isDigit(p.data[i]) {
			i++
		}
	}
	if i < len(p.data) && (p.data[i] == 'e' || p.data[i] == 'E') {
		j := i + 1
		if j < len(p.data) && (p.data[j] == '+' || p.data[j] == '-') {
			j++
		}
		if j < len(p.data) && isDigit(p.data[j]) {
			for j < len(p.data) && isDigit(p.data[j]) {
				j++
			}
			isFloat = true
			i = j
		}
	}
	lit := string(p.data[start:i])
	if isFloat {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			// Only a range error is possible here: ParseFloat then
			// returns ±Inf (overflow) or 0 (underflow), as float() does.
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
				return nil, p.errf("bad number %q", lit)
			}
		}
		p.pos = i
		return f, nil
	}
	digits := intEnd - start
	if lit[0] == '-' {
		digits--
	}
	if digits > maxIntDigits {
		return nil, p.errf("integer literal longer than %d digits", maxIntDigits)
	}
	p.pos = i
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return n, nil
	}
	b, ok := new(big.Int).SetString(lit, 10)
	if !ok {
		return nil, p.errf("bad number %q", lit)
	}
	return b, nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (p *parser) hex4(at int) (rune, bool) {
	if at+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for k := 0; k < 4; k++ {
		h := hexVal(p.data[at+k])
		if h < 0 {
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	return r, true
}

func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for i := p.pos; i < len(p.data); i++ {
		c := p.data[i]
		if c == '"' {
			p.pos = i + 1
			return string(p.data[start:i]), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	var buf []byte
	for {
		if p.pos >= len(p.data) {
			return "", &SyntaxError{Offset: int64(start - 1), Msg: "unterminated string"}
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errf("invalid control character 0x%02x in string", c)
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		// Escape.
		if p.pos+1 >= len(p.data) {
			return "", &SyntaxError{Offset: int64(start - 1), Msg: "unterminated string"}
		}
		e := p.data[p.pos+1]
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4(p.pos + 2)
			if !ok {
				return "", p.errf("invalid \\uXXXX escape")
			}
			p.pos += 6
			if r >= 0xD800 && r <= 0xDBFF && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				if r2, ok := p.hex4(p.pos + 2); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
					p.pos += 6
					buf = utf8.AppendRune(buf, 0x10000+(r-0xD800)<<10+(r2-0xDC00))
					continue
				}
			}
			buf = appendWTF8(buf, r)
			continue
		default:
			return "", p.errf("invalid escape \\%c", e)
		}
		p.pos += 2
	}
}

// appendWTF8 appends r as UTF-8, or a surrogate code point as its
// generalised UTF-8 (WTF-8) three-byte form.
func appendWTF8(b []byte, r rune) []byte {
	if r >= 0xD800 && r <= 0xDFFF {
		return append(b, 0xED, byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
	}
	return utf8.AppendRune(b, r)
}

// decodeRune decodes the first code point of s, like utf8.DecodeRuneInString,
// but also decodes a WTF-8 surrogate (ED A0..BF 80..BF).
func decodeRune(s string) (rune, int) {
	if len(s) >= 3 && s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 && s[2] <= 0xBF {
		return 0xD000 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F), 3
	}
	return utf8.DecodeRuneInString(s)
}

func (p *parser) array(depth int) (any, error) {
	p.pos++ // [
	out := []any{}
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return out, nil
	}
	for {
		p.skipWS()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		end, err := p.next(']')
		if err != nil {
			return nil, err
		}
		if end {
			return out, nil
		}
	}
}

// next consumes what follows an element: a ',' (it returns false) or the
// closing byte (it returns true).
func (p *parser) next(closing byte) (bool, error) {
	p.skipWS()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ',':
			p.pos++
			return false, nil
		case closing:
			p.pos++
			return true, nil
		}
	}
	return false, p.errf("expecting ',' delimiter or '%c'", closing)
}

func (p *parser) object(depth int) (any, error) {
	p.pos++ // {
	o := NewObject()
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return o, nil
	}
	for {
		p.skipWS()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errf("expecting property name enclosed in double quotes")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errf("expecting ':' delimiter")
		}
		p.pos++
		p.skipWS()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		o.Set(k, v)
		end, err := p.next('}')
		if err != nil {
			return nil, err
		}
		if end {
			return o, nil
		}
	}
}
