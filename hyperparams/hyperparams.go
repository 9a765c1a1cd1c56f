// Package hyperparams owns input/config/hyperparameters.json.
package hyperparams

// FileName is the base name of the hyperparameters file.
const FileName = "hyperparameters.json"

// Set is an ordered set of hyperparameters (file order), each with the raw
// value from the file and the value decoded the toolkit's way.
type Set struct {
	keys []string
	vals map[string]value
}

type value struct {
	raw     any // the JSON value as written in the file (usually a string)
	decoded any // pyjson value after the toolkit's json.loads fallback
}

// Parse decodes the content of hyperparameters.json (all keys, none split off).
func Parse(data []byte) (Set, error) { panic("unimplemented") }

// ReadFile reads and parses a hyperparameters.json file.
func ReadFile(path string) (Set, error) { panic("unimplemented") }

// WriteFile writes hps as hyperparameters.json (atomically).
func WriteFile(path string, hps map[string]string) error { panic("unimplemented") }

// IsReserved reports whether name is a framework parameter (the toolkit's
// reserved names and every sagemaker_* key).
func IsReserved(name string) bool { panic("unimplemented") }

// Split separates framework parameters (reserved names and sagemaker_*) from
// user hyperparameters.
func (s Set) Split() (user, framework Set) { panic("unimplemented") }

// Keys returns the names in file order.
func (s Set) Keys() []string { return s.keys }

// Len returns the number of hyperparameters.
func (s Set) Len() int { return len(s.keys) }

// Value returns the decoded value (a pyjson value) of name.
func (s Set) Value(name string) (any, bool) {
	v, ok := s.vals[name]
	return v.decoded, ok
}

// Args returns the toolkit's to_cmd_args() list for the set.
func (s Set) Args() []string { panic("unimplemented") }

// Decode binds the set into the struct pointed to by dst.
func (s Set) Decode(dst any, opts ...DecodeOption) error { panic("unimplemented") }

// DecodeOption configures Decode.
type DecodeOption func(*decodeConfig)

type decodeConfig struct{ disallowUnknown bool }
