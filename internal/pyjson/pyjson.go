// Package pyjson reproduces the parts of Python's json and str() that the
// SageMaker training toolkit's output depends on: json.loads (NaN, Infinity,
// arbitrary-precision integers, ordered objects), json.dumps with
// sort_keys=True, separators=(",", ":") and ensure_ascii=True, and str()/repr()
// of decoded values (Str, and the toolkit's value rules for command-line
// arguments, ArgValue, and for SM_* environment variables, EnvValue), and
// str.upper() (Upper) for variable names. Describe and Quote show a value
// in the error messages of the packages that read the contract's files.
//
// Values are: nil, bool, int64, *big.Int (integers outside int64), float64,
// string, []any and *Object.
package pyjson

// Object is a JSON object that keeps its keys in first-insertion order, as a
// Python dict does.
type Object struct {
	keys []string
	m    map[string]any
}

// NewObject returns an empty object.
func NewObject() *Object { return &Object{m: map[string]any{}} }

// Set stores v under k; a new key is appended, an existing one keeps its place.
func (o *Object) Set(k string, v any) {
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

// Get returns the value stored under k.
func (o *Object) Get(k string) (any, bool) {
	v, ok := o.m[k]
	return v, ok
}

// Keys returns the keys in insertion order. The slice must not be modified.
func (o *Object) Keys() []string { return o.keys }

// Len returns the number of keys.
func (o *Object) Len() int { return len(o.keys) }

// Delete removes k and its value; the other keys keep their order.
func (o *Object) Delete(k string) {
	if _, ok := o.m[k]; !ok {
		return
	}
	delete(o.m, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

// Plain is v with every *Object replaced, at any depth, by a
// map[string]any: the form exported APIs hand out (the key order is lost,
// which only str() of a dict shows). Lists are copied; other values are
// returned as they are.
func Plain(v any) any {
	switch v := v.(type) {
	case *Object:
		m := make(map[string]any, len(v.keys))
		for _, k := range v.keys {
			m[k] = Plain(v.m[k])
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = Plain(e)
		}
		return out
	}
	return v
}

// Truthy is Python's bool(v) for a pyjson value.
func Truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case int64:
		return v != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case *Object:
		return v.Len() > 0
	}
	return true // *big.Int outside int64 is never zero
}
