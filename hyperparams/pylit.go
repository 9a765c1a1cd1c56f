package hyperparams

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sagemaker-go/training/internal/pyjson"
)

// parsePyLiteral reads the Python repr() of a list, tuple or dict of
// strings, numbers, True/False/None, nan/inf, as str() of a Python value
// prints it ("['a', 'b']", "{'lr': 0.1}"), into pyjson values. It exists for
// launchers that pass str(list) where JSON was meant.
func parsePyLiteral(s string) (any, bool) {
	p := pyLit{s: s}
	p.ws()
	if p.i >= len(s) || !strings.ContainsRune("[({", rune(s[p.i])) {
		return nil, false
	}
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.ws()
	return v, p.i == len(s)
}

type pyLit struct {
	s string
	i int
}

func (p *pyLit) ws() {
	for p.i < len(p.s) && strings.IndexByte(" \t\n\r", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyLit) value(depth int) (any, bool) {
	if depth > 100 || p.i >= len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; c {
	case '[', '(':
		end := byte(']')
		if c == '(' {
			end = ')'
		}
		p.i++
		out := []any{}
		for {
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == end {
				p.i++
				return out, true
			}
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			out = append(out, v)
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			} else if p.i >= len(p.s) || p.s[p.i] != end {
				return nil, false
			}
		}
	case '{':
		p.i++
		o := pyjson.NewObject()
		for {
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return o, true
			}
			k, ok := p.value(depth + 1)
			ks, isStr := k.(string)
			if !ok || !isStr {
				return nil, false
			}
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, false
			}
			p.i++
			p.ws()
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			o.Set(ks, v)
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			} else if p.i >= len(p.s) || p.s[p.i] != '}' {
				return nil, false
			}
		}
	case '\'', '"':
		return p.str(c)
	}
	// A bare word: keyword or number.
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(",:]}) \t\n\r", p.s[p.i]) < 0 {
		p.i++
	}
	w := p.s[start:p.i]
	switch w {
	case "True":
		return true, true
	case "False":
		return false, true
	case "None":
		return nil, true
	case "nan":
		return math.NaN(), true
	case "inf":
		return math.Inf(1), true
	case "-inf":
		return math.Inf(-1), true
	}
	digits := strings.ReplaceAll(w, "_", "")
	if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
		return n, true
	}
	if b, ok := new(big.Int).SetString(digits, 10); ok {
		return b, true
	}
	if strings.ContainsAny(digits, "0123456789") && !strings.ContainsAny(digits, "xXpP") {
		if f, err := strconv.ParseFloat(digits, 64); err == nil {
			return f, true
		}
	}
	return nil, false
}

func (p *pyLit) str(q byte) (any, bool) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), true
		case c == '\n':
			return nil, false
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return nil, false
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x', 'u', 'U':
			n := 2 // hex digits: \xhh, \uhhhh, \Uhhhhhhhh
			if e == 'u' {
				n = 4
			} else if e == 'U' {
				n = 8
			}
			if p.i+n > len(p.s) {
				return nil, false
			}
			r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				return nil, false
			}
			b.WriteRune(rune(r))
			p.i += n
		default:
			return nil, false
		}
	}
	return nil, false
}
