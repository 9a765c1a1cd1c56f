package hyperparams

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sagemaker-go/training/internal/pyjson"
)

// DecodeOption configures Decode.
type DecodeOption func(*decodeConfig)

type decodeConfig struct{ disallowUnknown bool }

// DisallowUnknown makes Decode report every hyperparameter that no field
// takes. Framework parameters (IsReserved) are never reported.
func DisallowUnknown() DecodeOption {
	return func(c *decodeConfig) { c.disallowUnknown = true }
}

// Decode binds the set into the struct pointed to by dst.
//
// Each exported field takes the hyperparameter named by its tag
// `hp:"name"`, or, untagged, its field name in snake_case (LearningRate →
// learning_rate, HTTPPort → http_port). `hp:"-"` skips a field;
// `hp:"name,required"` or `hp:",required"` makes a missing value an error;
// `default:"..."` gives the value to use when the hyperparameter is missing,
// written as it would be in the file. Fields of embedded structs are
// promoted. A field whose hyperparameter is missing (or null) and has no
// default keeps the value it had.
//
// Values are accepted in every form launchers send them: "0.1", "\"adam\"",
// "True"/"False" (Python's str()), "true", "[64, 32]" (JSON), "['a', 'b']"
// (Python's str() of a list), "64,32" (comma-separated, for slices),
// "a=1,b=2" (for maps), or non-string JSON values. Field types: string,
// bool, every int, uint and float kind (range checked), time.Duration (a Go
// duration "1m30s", or a number of seconds), []byte (the text, like string),
// other slices, maps, pointers, any
// (the decoded value), and every type whose pointer implements
// encoding.TextUnmarshaler (given the value's text).
//
// All problems are returned together (errors.Join of *Error), each naming
// the hyperparameter, the field, what was expected and what was found; the
// fields without a problem are set.
func (s Set) Decode(dst any, opts ...DecodeOption) error {
	var cfg decodeConfig
	for _, o := range opts {
		o(&cfg)
	}
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("hyperparams: Decode needs a non-nil pointer to a struct, got %T", dst)
	}
	root := rv.Elem()
	fields, errs := structFields(root.Type(), nil, "")
	taken := map[string]bool{}
	for _, f := range fields {
		if taken[f.name] {
			errs = append(errs, &Error{Key: f.name, Field: f.goName, Msg: "more than one field takes this hyperparameter"})
			continue
		}
		taken[f.name] = true
		fv := root.FieldByIndex(f.index)
		v, ok := s.vals[f.name]
		if !ok || v.decoded == nil {
			switch {
			case f.required:
				errs = append(errs, &Error{Key: f.name, Field: f.goName, Msg: "required hyperparameter is missing", Err: ErrMissing})
			case f.hasDefault:
				if msg, err := convert(fv, value{raw: f.def, decoded: decodeValue(f.def)}); msg != "" {
					errs = append(errs, &Error{Key: f.name, Field: f.goName, Msg: "bad default tag: " + msg, Err: err})
				}
			}
			continue
		}
		if msg, err := convert(fv, v); msg != "" {
			errs = append(errs, &Error{Key: f.name, Field: f.goName, Msg: msg, Err: err})
		}
	}
	if cfg.disallowUnknown {
		for _, k := range s.keys {
			if !taken[k] && !IsReserved(k) {
				errs = append(errs, &Error{Key: k, Msg: "unknown hyperparameter: no field takes it"})
			}
		}
	}
	return errors.Join(errs...)
}

type field struct {
	name       string
	goName     string
	index      []int
	required   bool
	hasDefault bool
	def        string
}

func structFields(t reflect.Type, index []int, prefix string) ([]field, []error) {
	var out []field
	var errs []error
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("hp")
		if tag == "-" {
			continue
		}
		idx := append(index[:len(index):len(index)], i)
		if sf.Anonymous && !hasTag && sf.Type.Kind() == reflect.Struct && !implementsText(sf.Type) {
			f, e := structFields(sf.Type, idx, prefix+sf.Name+".")
			out, errs = append(out, f...), append(errs, e...)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = snakeCase(sf.Name)
		}
		f := field{name: name, goName: prefix + sf.Name, index: idx}
		for _, o := range strings.Split(opts, ",") {
			switch strings.TrimSpace(o) {
			case "":
			case "required":
				f.required = true
			default:
				errs = append(errs, &Error{Key: name, Field: f.goName, Msg: fmt.Sprintf("unknown hp tag option %q", o)})
			}
		}
		f.def, f.hasDefault = sf.Tag.Lookup("default")
		if !supported(sf.Type, 0) {
			errs = append(errs, &Error{Key: name, Field: f.goName, Msg: "unsupported field type " + sf.Type.String()})
			continue
		}
		out = append(out, f)
	}
	return out, errs
}

// snakeCase converts a Go field name: LearningRate → learning_rate,
// HTTPPort → http_port, Layer2Size → layer2_size, LR → lr.
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			if i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]) ||
				(unicode.IsUpper(r[i-1]) && i+1 < len(r) && unicode.IsLower(r[i+1]))) {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
)

func implementsText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshalerType)
}

func supported(t reflect.Type, depth int) bool {
	if depth > 10 {
		return false
	}
	if implementsText(t) || t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Interface:
		return t.NumMethod() == 0
	case reflect.Slice, reflect.Pointer:
		return supported(t.Elem(), depth+1)
	case reflect.Map:
		return supported(t.Key(), depth+1) && supported(t.Elem(), depth+1)
	}
	return false
}

// text gives the text form of a value: the decoded string when it decoded to
// a string ("\"adam\"" → adam), else the file's string ("1e-5" stays
// "1e-5"), else the JSON form of a non-string value.
func text(v value) string {
	if s, ok := v.decoded.(string); ok {
		return s
	}
	if s, ok := v.raw.(string); ok {
		return s
	}
	return pyjson.Dumps(v.raw)
}

// got describes a value as found in the file, for error messages: a string
// quoted, any other value as JSON.
func got(v value) string {
	if s, ok := v.raw.(string); ok {
		return pyjson.Quote(s)
	}
	s := pyjson.Dumps(v.raw)
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// convert stores v into fv. It returns "" on success, else what was wrong
// ("want an integer, got \"ten\"") and the underlying error, if any.
func convert(fv reflect.Value, v value) (string, error) {
	t := fv.Type()
	if t.Kind() != reflect.Pointer && implementsText(t) {
		if err := fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text(v))); err != nil {
			return fmt.Sprintf("want a valid %s, got %s: %v", t, got(v), err), err
		}
		return "", nil
	}
	if t == durationType {
		return convertDuration(fv, v)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.decoded == nil {
			fv.SetZero()
			return "", nil
		}
		p := reflect.New(t.Elem())
		if msg, err := convert(p.Elem(), v); msg != "" {
			return msg, err
		}
		fv.Set(p)
		return "", nil
	case reflect.Interface:
		fv.Set(reflect.ValueOf(&v.decoded).Elem())
		return "", nil
	case reflect.String:
		fv.SetString(text(v))
		return "", nil
	case reflect.Bool:
		switch d := v.decoded.(type) {
		case bool:
			fv.SetBool(d)
			return "", nil
		case int64:
			if d == 0 || d == 1 {
				fv.SetBool(d == 1)
				return "", nil
			}
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(d)); err == nil {
				fv.SetBool(b)
				return "", nil
			}
		}
		return "want a boolean (true, false, True, False, 1, 0), got " + got(v), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, msg := toBigInt(v)
		if msg != "" {
			return msg, nil
		}
		if !n.IsInt64() || fv.OverflowInt(n.Int64()) {
			return fmt.Sprintf("want an integer that fits in %s, got %s", t, got(v)), nil
		}
		fv.SetInt(n.Int64())
		return "", nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, msg := toBigInt(v)
		if msg != "" {
			return msg, nil
		}
		if n.Sign() < 0 || !n.IsUint64() || fv.OverflowUint(n.Uint64()) {
			return fmt.Sprintf("want a non-negative integer that fits in %s, got %s", t, got(v)), nil
		}
		fv.SetUint(n.Uint64())
		return "", nil
	case reflect.Float32, reflect.Float64:
		f, ok := toFloat(v)
		if !ok {
			return "want a number, got " + got(v), nil
		}
		if !math.IsInf(f, 0) && fv.OverflowFloat(f) {
			return fmt.Sprintf("want a number that fits in %s, got %s", t, got(v)), nil
		}
		fv.SetFloat(f)
		return "", nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !implementsText(t.Elem()) {
			fv.SetBytes([]byte(text(v))) // []byte: the text, as for string
			return "", nil
		}
		return convertSlice(fv, v)
	case reflect.Map:
		return convertMap(fv, v)
	}
	return "unsupported field type " + t.String(), nil
}

func toBigInt(v value) (*big.Int, string) {
	switch d := v.decoded.(type) {
	case int64:
		return big.NewInt(d), ""
	case *big.Int:
		return d, ""
	case float64:
		if !math.IsInf(d, 0) && !math.IsNaN(d) && d == math.Trunc(d) {
			n, _ := big.NewFloat(d).Int(nil)
			return n, ""
		}
	case string:
		// An optional sign and decimal digits ("+8080", "01"): what
		// json.loads left as text.
		if n, ok := new(big.Int).SetString(strings.TrimSpace(d), 10); ok {
			return n, ""
		}
	}
	return nil, "want an integer, got " + got(v)
}

func toFloat(v value) (float64, bool) {
	switch d := v.decoded.(type) {
	case float64:
		return d, true
	case int64:
		return float64(d), true
	case *big.Int:
		f, _ := new(big.Float).SetInt(d).Float64()
		return f, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(d), 64)
		if err == nil || errors.Is(err, strconv.ErrRange) {
			return f, !strings.ContainsAny(d, "xXpP_")
		}
	}
	return 0, false
}

func convertDuration(fv reflect.Value, v value) (string, error) {
	const want = `want a duration ("90s", "1m30s") or a number of seconds, got `
	if s, ok := v.decoded.(string); ok {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return want + got(v), err
		}
		fv.SetInt(int64(d))
		return "", nil
	}
	f, ok := toFloat(v)
	if _, isBool := v.decoded.(bool); isBool || !ok {
		return want + got(v), nil
	}
	ns := f * float64(time.Second)
	if math.IsNaN(ns) || ns >= math.MaxInt64 || ns < math.MinInt64 {
		return want + got(v) + " (out of range)", nil
	}
	fv.SetInt(int64(math.Round(ns)))
	return "", nil
}

// listItems returns the elements of a list value: a JSON list, the Python
// repr of a list or tuple, or comma-separated text; an empty string is an
// empty list and any other single value a list of one.
func listItems(v value) ([]value, bool) {
	var items []any
	switch d := v.decoded.(type) {
	case []any:
		items = d
	case *pyjson.Object:
		return nil, false
	case string:
		if lit, ok := parsePyLiteral(d); ok {
			l, isList := lit.([]any)
			if !isList {
				return nil, false
			}
			items = l
			break
		}
		if strings.TrimSpace(d) == "" {
			return []value{}, true
		}
		parts := strings.Split(d, ",")
		out := make([]value, len(parts))
		for i, p := range parts {
			p = strings.TrimSpace(p)
			out[i] = value{raw: p, decoded: decodeValue(p)}
		}
		return out, true
	default:
		return []value{v}, true
	}
	out := make([]value, len(items))
	for i, e := range items {
		out[i] = value{raw: e, decoded: e}
	}
	return out, true
}

func convertSlice(fv reflect.Value, v value) (string, error) {
	items, ok := listItems(v)
	if !ok {
		return fmt.Sprintf("want a list (JSON \"[1, 2]\", Python \"['a', 'b']\" or \"a,b\"), got %s", got(v)), nil
	}
	sl := reflect.MakeSlice(fv.Type(), len(items), len(items))
	for i, it := range items {
		if msg, err := convert(sl.Index(i), it); msg != "" {
			return fmt.Sprintf("element %d: %s", i, msg), err
		}
	}
	fv.Set(sl)
	return "", nil
}

// mapItems returns the entries of an object value: a JSON object, the Python
// repr of a dict, or "k=v,k=v" (the toolkit's command-line form).
func mapItems(v value) ([]string, []value, bool) {
	var o *pyjson.Object
	switch d := v.decoded.(type) {
	case *pyjson.Object:
		o = d
	case string:
		if lit, ok := parsePyLiteral(d); ok {
			if o, ok = lit.(*pyjson.Object); !ok {
				return nil, nil, false
			}
			break
		}
		if strings.TrimSpace(d) == "" {
			return nil, nil, true
		}
		var keys []string
		var vals []value
		for _, part := range strings.Split(d, ",") {
			k, val, ok := strings.Cut(part, "=")
			if !ok {
				return nil, nil, false
			}
			val = strings.TrimSpace(val)
			keys = append(keys, strings.TrimSpace(k))
			vals = append(vals, value{raw: val, decoded: decodeValue(val)})
		}
		return keys, vals, true
	default:
		return nil, nil, false
	}
	keys := o.Keys()
	vals := make([]value, len(keys))
	for i, k := range keys {
		e, _ := o.Get(k)
		vals[i] = value{raw: e, decoded: e}
	}
	return keys, vals, true
}

func convertMap(fv reflect.Value, v value) (string, error) {
	keys, vals, ok := mapItems(v)
	if !ok {
		return fmt.Sprintf("want an object (JSON \"{\\\"a\\\": 1}\", Python \"{'a': 1}\" or \"a=1,b=2\"), got %s", got(v)), nil
	}
	t := fv.Type()
	m := reflect.MakeMapWithSize(t, len(keys))
	for i, k := range keys {
		kv := reflect.New(t.Key()).Elem()
		if msg, err := convert(kv, value{raw: k, decoded: decodeValue(k)}); msg != "" {
			return fmt.Sprintf("key %s: %s", pyjson.Quote(k), msg), err
		}
		ev := reflect.New(t.Elem()).Elem()
		if msg, err := convert(ev, vals[i]); msg != "" {
			return fmt.Sprintf("key %s: %s", pyjson.Quote(k), msg), err
		}
		m.SetMapIndex(kv, ev)
	}
	fv.Set(m)
	return "", nil
}

// Get converts the hyperparameter name to T with Decode's rules, e.g.
// Get[[]int](s, "layers"). A missing or null value is an error wrapping
// ErrMissing.
func Get[T any](s Set, name string) (T, error) {
	var x T
	if !supported(reflect.TypeFor[T](), 0) {
		return x, &Error{Key: name, Msg: "unsupported type " + reflect.TypeFor[T]().String()}
	}
	v, ok := s.vals[name]
	if !ok || v.decoded == nil {
		return x, &Error{Key: name, Msg: "hyperparameter is missing", Err: ErrMissing}
	}
	if msg, err := convert(reflect.ValueOf(&x).Elem(), v); msg != "" {
		return x, &Error{Key: name, Msg: msg, Err: err}
	}
	return x, nil
}

// String returns name as text: "\"adam\"" and "adam" both give adam; a
// number keeps the form it has in the file.
func (s Set) String(name string) (string, error) { return Get[string](s, name) }

// Int returns name as an int ("10", 10, "1e3").
func (s Set) Int(name string) (int, error) { return Get[int](s, name) }

// Int64 returns name as an int64.
func (s Set) Int64(name string) (int64, error) { return Get[int64](s, name) }

// Float returns name as a float64 ("0.1", "1e-5", "NaN").
func (s Set) Float(name string) (float64, error) { return Get[float64](s, name) }

// Bool returns name as a bool ("true", "True", true, "1").
func (s Set) Bool(name string) (bool, error) { return Get[bool](s, name) }

// Duration returns name as a time.Duration ("90s", or a number of seconds).
func (s Set) Duration(name string) (time.Duration, error) { return Get[time.Duration](s, name) }

// Strings returns name as a list of strings ("[\"a\", \"b\"]", "['a', 'b']", "a,b").
func (s Set) Strings(name string) ([]string, error) { return Get[[]string](s, name) }
