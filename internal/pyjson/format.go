package pyjson

import (
	"strings"
	"unicode/utf8"
)

// Format is a layout of Python's json.dumps for values of the Parse types
// (other Go values are written as Dumps writes them).
type Format struct {
	// Indent is json.dumps' indent: that many spaces per level, with the
	// separators "," and ": ". Zero writes one line with the separators
	// "," and ":" (separators=(",", ":")).
	Indent int
	// SortKeys orders object keys by code point; otherwise they keep
	// their insertion order, as a Python dict does.
	SortKeys bool
	// EnsureASCII escapes every character outside ' '..'~' as \uXXXX;
	// otherwise only '"', '\\' and control characters are escaped.
	EnsureASCII bool
}

// Encode writes v as json.dumps does with the options of f.
func (f Format) Encode(v any) string {
	var b strings.Builder
	f.append(&b, v, 0)
	return b.String()
}

func (f Format) newline(b *strings.Builder, level int) {
	if f.Indent > 0 {
		b.WriteByte('\n')
		for range level * f.Indent {
			b.WriteByte(' ')
		}
	}
}

func (f Format) append(b *strings.Builder, v any, level int) {
	switch v := v.(type) {
	case string:
		if f.EnsureASCII {
			appendJSONString(b, v)
		} else {
			appendJSONStringUTF8(b, v)
		}
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			f.newline(b, level+1)
			f.append(b, e, level+1)
		}
		f.newline(b, level)
		b.WriteByte(']')
	case *Object:
		if v.Len() == 0 {
			b.WriteString("{}")
			return
		}
		keys := v.keys
		if f.SortKeys {
			keys = sortedCopy(keys)
		}
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			f.newline(b, level+1)
			f.append(b, k, level+1)
			b.WriteByte(':')
			if f.Indent > 0 {
				b.WriteByte(' ')
			}
			f.append(b, v.m[k], level+1)
		}
		f.newline(b, level)
		b.WriteByte('}')
	default:
		appendJSON(b, v)
	}
}

// appendJSONStringUTF8 writes s as json.dumps(s, ensure_ascii=False) does:
// only '"', '\\' and the control characters below U+0020 are escaped. A
// lone surrogate (kept by Parse as its WTF-8 bytes) and bytes that are not
// UTF-8 are written as \uXXXX, so the output stays valid UTF-8.
func appendJSONStringUTF8(b *strings.Builder, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n == 3 && s[i:i+3] == "\uFFFD" {
				i += n
				continue
			}
			b.WriteString(s[start:i])
			r, n = decodeRune(s[i:])
			writeU4(b, r)
			i += n
			start = i
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b.WriteString(s[start:i])
		writeEscapedASCII(b, c)
		i++
		start = i
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
