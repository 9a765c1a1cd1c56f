package pyjson

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"a": [1, 2.5, "x", null, true, false, NaN, -Infinity, {"b": {}}]}`,
		`" 5 "`, `01`, `-0`, `1e400`, `123456789012345678901234567890`, `"\ud800\udc00\ud800"`,
		`"\u00e9\n\t\\\""`, `[1,]`, `{"a":1,"a":2}`, "\"\x01\"", "\xff", `[[[[[]]]]]`, `1.5e+16`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			return
		}
		_ = Str(v)
		out := Dumps(v)
		v2, err := Parse([]byte(out))
		if err != nil {
			t.Fatalf("Parse(Dumps(v)) of %q: %v (Dumps gave %q)", data, err, out)
		}
		if out2 := Dumps(v2); out2 != out {
			t.Fatalf("Dumps not stable: %q then %q", out, out2)
		}
		for _, f := range []Format{{}, {Indent: 4}, {Indent: 2, SortKeys: true, EnsureASCII: true}} {
			text := f.Encode(v)
			v3, err := Parse([]byte(text))
			if err != nil {
				t.Fatalf("Parse(%+v.Encode(v)) of %q: %v (Encode gave %q)", f, data, err, text)
			}
			if out3 := Dumps(v3); out3 != out {
				t.Fatalf("%+v.Encode changed the value: %q, then %q", f, out, out3)
			}
		}
	})
}

func FuzzDumpsRoundTrip(f *testing.F) {
	f.Add("adam", 0.1, int64(10), "key")
	f.Add("é😀\n\"'\\", 1e-5, int64(-1), "")
	f.Add("", math.Inf(1), int64(math.MinInt64), "ß")
	f.Fuzz(func(t *testing.T, s string, x float64, n int64, k string) {
		if !utf8.ValidString(s) || !utf8.ValidString(k) {
			return // Dumps writes bytes that are not UTF-8 as U+FFFD
		}
		v := []any{s, x, n, obj(k, s, k+"2", []any{x})}
		out := Dumps(v)
		got, err := Parse([]byte(out))
		if err != nil {
			t.Fatalf("Parse(%q): %v", out, err)
		}
		if !same(v, got) {
			t.Fatalf("round trip of %#v gave %#v via %q", v, got, out)
		}
		if strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			t.Fatalf("Dumps output not ASCII: %q", out)
		}
		if FloatRepr(x) != Str(x) {
			t.Fatalf("FloatRepr and Str differ for %v", x)
		}
	})
}
