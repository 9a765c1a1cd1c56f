package pyjson

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Dumps encodes v as json.dumps(v, sort_keys=True, separators=(",", ":"),
// ensure_ascii=True) does, byte for byte: Python float repr, NaN/Infinity
// tokens, every character outside ' '..'~' escaped as lowercase \uXXXX
// (surrogate pairs above U+FFFF), object keys sorted by code point.
//
// Besides the Parse value types it accepts the other Go integer and float
// kinds, json.Number, maps with string keys and slices of any of these; any other type is
// first encoded with encoding/json. It panics only for a value that
// encoding/json cannot encode either, like json.dumps raising TypeError.
func Dumps(v any) string {
	var b strings.Builder
	appendJSON(&b, v)
	return b.String()
}

// EnvValue formats v as the toolkit does for an SM_* environment variable: a
// string as it is, nil as "", anything else as Dumps.
func EnvValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	return Dumps(v)
}

// FloatRepr formats f as Python's repr(float): the shortest digits that read
// back as f, in exponent form when the exponent is below -4 or at least 16
// ("1e-05", "1.5e+16"), otherwise positional with at least one decimal
// ("5.0", "0.0001"); "nan", "inf", "-inf".
func FloatRepr(f float64) string {
	var tmp [32]byte
	return string(appendFloatRepr(tmp[:0], f))
}

func appendFloatRepr(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	neg := e[0] == '-'
	if neg {
		e = e[1:]
		dst = append(dst, '-')
	}
	ei := slices.Index(e, 'e')
	mant, expPart := e[:ei], e[ei+1:]
	exp, _ := strconv.Atoi(string(expPart))
	digits := make([]byte, 0, 20)
	digits = append(digits, mant[0])
	if len(mant) > 2 {
		digits = append(digits, mant[2:]...)
	}
	if exp < -4 || exp >= 16 {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	if exp < 0 {
		dst = append(dst, '0', '.')
		for i := 0; i < -exp-1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	// exp >= 0: digits[0..exp] before the point.
	if len(digits) <= exp+1 {
		dst = append(dst, digits...)
		for i := len(digits); i < exp+1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	}
	dst = append(dst, digits[:exp+1]...)
	dst = append(dst, '.')
	return append(dst, digits[exp+1:]...)
}

func appendJSONFloat(b *strings.Builder, f float64) {
	switch {
	case math.IsNaN(f):
		b.WriteString("NaN")
	case math.IsInf(f, 1):
		b.WriteString("Infinity")
	case math.IsInf(f, -1):
		b.WriteString("-Infinity")
	default:
		var tmp [32]byte
		b.Write(appendFloatRepr(tmp[:0], f))
	}
}

const hexDigits = "0123456789abcdef"

func writeU4(b *strings.Builder, r rune) {
	b.WriteString(`\u`)
	b.WriteByte(hexDigits[r>>12&0xF])
	b.WriteByte(hexDigits[r>>8&0xF])
	b.WriteByte(hexDigits[r>>4&0xF])
	b.WriteByte(hexDigits[r&0xF])
}

// writeEscapedASCII writes the escape json.dumps gives the ASCII byte c:
// \" \\ \n \r \t \b \f, else \u00XX.
func writeEscapedASCII(b *strings.Builder, c byte) {
	switch c {
	case '"':
		b.WriteString(`\"`)
	case '\\':
		b.WriteString(`\\`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	case '\b':
		b.WriteString(`\b`)
	case '\f':
		b.WriteString(`\f`)
	default:
		writeU4(b, rune(c))
	}
}

func appendJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		b.WriteString(s[start:i])
		if c < utf8.RuneSelf {
			writeEscapedASCII(b, c)
			i++
			start = i
			continue
		}
		r, n := decodeRune(s[i:])
		if r >= 0x10000 {
			r -= 0x10000
			writeU4(b, 0xD800+(r>>10))
			writeU4(b, 0xDC00+(r&0x3FF))
		} else {
			writeU4(b, r) // includes U+FFFD for bytes that are not UTF-8
		}
		i += n
		start = i
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedCopy(keys []string) []string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return keys
}

// appendList writes open, the elements (each written by elem) separated by
// sep, and close: the one loop behind every list and dict that Dumps, Str
// and ArgValue write.
func appendList[E any](b *strings.Builder, open, sep, close string, elems []E, elem func(*strings.Builder, E)) {
	b.WriteString(open)
	for i, e := range elems {
		if i > 0 {
			b.WriteString(sep)
		}
		elem(b, e)
	}
	b.WriteString(close)
}

// appendJSONObject writes m as a JSON object with the given key order.
func appendJSONObject[V any](b *strings.Builder, keys []string, m map[string]V, val func(*strings.Builder, V)) {
	appendList(b, "{", ",", "}", keys, func(b *strings.Builder, k string) {
		appendJSONString(b, k)
		b.WriteByte(':')
		val(b, m[k])
	})
}

// appendAtom writes v when it is nil, a bool or an integer, which JSON and
// Python write alike but for the words for None, True and False; it
// reports whether v was one of these.
func appendAtom(b *strings.Builder, v any, none, yes, no string) bool {
	switch v := v.(type) {
	case nil:
		b.WriteString(none)
	case bool:
		if v {
			b.WriteString(yes)
		} else {
			b.WriteString(no)
		}
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case int:
		b.WriteString(strconv.Itoa(v))
	case *big.Int:
		b.WriteString(v.String())
	default:
		return false
	}
	return true
}

func appendJSON(b *strings.Builder, v any) {
	switch v := v.(type) {
	case float64:
		appendJSONFloat(b, v)
	case string:
		appendJSONString(b, v)
	case json.Number:
		if n, err := Parse([]byte(v)); err == nil {
			appendJSON(b, n)
		} else {
			appendJSONString(b, string(v))
		}
	case []any:
		appendList(b, "[", ",", "]", v, appendJSON)
	case []string:
		appendList(b, "[", ",", "]", v, appendJSONString)
	case *Object:
		appendJSONObject(b, sortedCopy(v.keys), v.m, appendJSON)
	case map[string]any:
		appendJSONObject(b, sortedKeys(v), v, appendJSON)
	case map[string]string:
		appendJSONObject(b, sortedKeys(v), v, appendJSONString)
	default:
		if !appendAtom(b, v, "null", "true", "false") {
			appendReflect(b, v)
		}
	}
}

func appendReflect(b *strings.Builder, v any) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(rv.Int(), 10))
		return
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString(strconv.FormatUint(rv.Uint(), 10))
		return
	case reflect.Float32, reflect.Float64:
		appendJSONFloat(b, rv.Float())
		return
	case reflect.Bool:
		appendJSON(b, rv.Bool())
		return
	case reflect.String:
		if _, ok := v.(json.Marshaler); !ok {
			appendJSONString(b, rv.String())
			return
		}
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			b.WriteString("null")
			return
		}
		if _, ok := v.(json.Marshaler); !ok {
			appendJSON(b, rv.Elem().Interface())
			return
		}
	case reflect.Slice, reflect.Array:
		if _, ok := v.(json.Marshaler); ok || rv.Type().Elem().Kind() == reflect.Uint8 {
			break // []byte is base64 in encoding/json; keep its rules
		}
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			b.WriteString("null")
			return
		}
		elems := make([]any, rv.Len())
		for i := range elems {
			elems[i] = rv.Index(i).Interface()
		}
		appendList(b, "[", ",", "]", elems, appendJSON)
		return
	case reflect.Map:
		if _, ok := v.(json.Marshaler); ok || rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			b.WriteString("null")
			return
		}
		m := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			m[it.Key().String()] = it.Value().Interface()
		}
		appendJSON(b, m)
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("pyjson.Dumps: cannot encode %T: %v", v, err))
	}
	pv, err := Parse(data)
	if err != nil {
		panic(fmt.Sprintf("pyjson.Dumps: cannot encode %T: %v", v, err))
	}
	appendJSON(b, pv)
}

// Str formats v as Python's str(v): None, True, False, integers, float repr
// ("4.0", "1e-05", "nan", "inf"), a string as it is; lists and dicts as
// Python prints them, with repr() of their elements ("[1, 2, 'x']",
// "{'a': 1}", dict keys in insertion order).
func Str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b strings.Builder
	appendRepr(&b, v)
	return b.String()
}

// Repr formats v as Python's repr(v); it differs from Str only for strings.
func Repr(v any) string {
	var b strings.Builder
	appendRepr(&b, v)
	return b.String()
}

func appendRepr(b *strings.Builder, v any) {
	switch v := v.(type) {
	case float64:
		var tmp [32]byte
		b.Write(appendFloatRepr(tmp[:0], v))
	case string:
		appendStrRepr(b, v)
	case []any:
		appendList(b, "[", ", ", "]", v, appendRepr)
	case []string:
		appendList(b, "[", ", ", "]", v, appendStrRepr)
	case *Object:
		appendReprDict(b, v.keys, v.m)
	case map[string]any:
		appendReprDict(b, sortedKeys(v), v) // Go maps have no order: sorted keys
	default:
		if appendAtom(b, v, "None", "True", "False") {
			return
		}
		// Other Go types print as the value their JSON form parses to.
		if pv, err := Parse([]byte(Dumps(v))); err == nil {
			appendRepr(b, pv)
		}
	}
}

// appendReprDict writes m as Python prints a dict, with the given key order.
func appendReprDict(b *strings.Builder, keys []string, m map[string]any) {
	appendList(b, "{", ", ", "}", keys, func(b *strings.Builder, k string) {
		appendStrRepr(b, k)
		b.WriteString(": ")
		appendRepr(b, m[k])
	})
}

// appendStrRepr writes repr(s) with Python's quote choice and escapes.
func appendStrRepr(b *strings.Builder, s string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == quote || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c < 0x20 || c == 0x7f:
				b.WriteString(`\x`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xF])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := decodeRune(s[i:])
		switch {
		case r != utf8.RuneError && unicode.IsPrint(r) || r == utf8.RuneError && n == 3:
			b.WriteString(s[i : i+n])
		case r <= 0xFF:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xF])
		case r <= 0xFFFF:
			writeU4(b, r)
		default:
			b.WriteString(`\U`)
			for sh := 28; sh >= 0; sh -= 4 {
				b.WriteByte(hexDigits[r>>uint(sh)&0xF])
			}
		}
		i += n
	}
	b.WriteByte(quote)
}

// ArgValue formats v as the toolkit's to_cmd_args() formats a hyperparameter
// value: nil as "", a dict as its items sorted by key and joined as
// "k=v,k=v" with str() of each value, anything else as Str.
func ArgValue(v any) string {
	var keys []string
	var m map[string]any
	switch v := v.(type) {
	case nil:
		return ""
	case *Object:
		keys, m = sortedCopy(v.keys), v.m
	case map[string]any:
		keys, m = sortedKeys(v), v
	default:
		return Str(v)
	}
	var b strings.Builder
	appendList(&b, "", ",", "", keys, func(b *strings.Builder, k string) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(Str(m[k]))
	})
	return b.String()
}
