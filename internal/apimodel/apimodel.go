// Package apimodel holds the shapes of SageMaker's CreateTrainingJob request
// and DescribeTrainingJob answer, generated from botocore's model of the API
// (the model the aws CLI validates and prints with): each structure's
// members in the model's order, which are required, the types of values,
// and the length, range, pattern and enum constraints.
//
// It is data only, so that packages which must not link the AWS SDK (job,
// the smtrain command) can tell a request member from a misspelt key, an
// answer-only member from a request member, and a timestamp from a number.
// Regenerate model_gen.go with `go generate` where python3 has botocore.
package apimodel

//go:generate go run gen.go

import "sync"

// Roots of the model.
const (
	CreateTrainingJobRequest    = "CreateTrainingJobRequest"
	DescribeTrainingJobResponse = "DescribeTrainingJobResponse"
)

// Shape types, as the model names them.
const (
	Structure = "structure"
	List      = "list"
	Map       = "map"
	String    = "string"
	Integer   = "integer"
	Long      = "long"
	Boolean   = "boolean"
	Float     = "float"
	Double    = "double"
	Timestamp = "timestamp"
	Blob      = "blob"
)

// Member is one member of a structure and the name of its shape.
type Member struct {
	Name, Shape string
}

// Shape is one shape of the model.
type Shape struct {
	Name string
	Type string
	// Members of a structure, in the model's order.
	Members []Member
	// Required members of a structure.
	Required []string
	// Member is the element shape of a list; Key and Value those of a map.
	Member, Key, Value string
	// Min and Max bound a string's or list's length, a map's size or a
	// number's value, where HasMin and HasMax say so.
	Min, Max       int64
	HasMin, HasMax bool
	// Pattern is the model's regular expression for a string (Java syntax).
	Pattern string
	// Enum lists the values the model knows for a string; the service may
	// accept newer ones.
	Enum []string
}

var shapes = sync.OnceValue(load)

// Lookup returns the shape named name, or nil.
func Lookup(name string) *Shape { return shapes()[name] }

// Names returns every shape name of the model, in no particular order.
func Names() []string {
	m := shapes()
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	return out
}

// Field returns the shape of the structure member name, or nil when s is
// not a structure or has no such member.
func (s *Shape) Field(name string) *Shape {
	for _, m := range s.Members {
		if m.Name == name {
			return Lookup(m.Shape)
		}
	}
	return nil
}

// Elem returns the shape of a list's elements or a map's values, or nil.
func (s *Shape) Elem() *Shape {
	switch s.Type {
	case List:
		return Lookup(s.Member)
	case Map:
		return Lookup(s.Value)
	}
	return nil
}

// IsRequired reports whether member name of the structure s is required.
func (s *Shape) IsRequired(name string) bool {
	for _, r := range s.Required {
		if r == name {
			return true
		}
	}
	return false
}
