package job

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// A job file is kept as it was written: every member, at every depth,
// whether or not Spec has a field for it, with its value as written
// (explicit false, "", 0 and [] included). Spec's fields are a typed view
// of the members the backends read. Request and MarshalJSON write the
// members as written, except where a typed field was changed since Parse:
// that member alone is written from the field.

// localMembers are the members of a job file that are not part of the
// CreateTrainingJob request: they are for local runs and never sent.
var localMembers = map[string]bool{"Program": true}

// document is what Parse keeps of a job file: its members as written (never
// modified), and the typed fields as they were decoded from them.
type document struct {
	tree *pyjson.Object
	orig specFields
}

// specFields is Spec without its methods: the plain encoding/json view.
type specFields Spec

// Parse decodes a job file: the JSON of a CreateTrainingJob request (every
// member of the API is accepted, at every depth, and kept as written) plus
// the local-only Program. Values of the wrong type are errors naming the
// member and what was expected; so is a member whose name differs from one
// of the API's only in case. A member the API model does not know is kept
// and sent (it may be newer than this program): UnknownMembers lists them.
// Parse does not check the API's limits (Validate does).
func Parse(data []byte) (Spec, error) {
	v, err := pyjson.Parse(data)
	if err != nil {
		return Spec{}, fmt.Errorf("job JSON: %w", err)
	}
	tree, ok := v.(*pyjson.Object)
	if !ok {
		return Spec{}, fmt.Errorf("job JSON: want an object of CreateTrainingJob members, got %s", pyjson.Describe(v))
	}
	var p ValidationError
	checkTree(&p, tree)
	if err := p.Err(); err != nil {
		return Spec{}, fmt.Errorf("job JSON: %w", err)
	}
	compact := []byte(pyjson.Format{}.Encode(tree))
	var s, orig specFields
	if err := json.Unmarshal(compact, &s); err != nil {
		return Spec{}, fmt.Errorf("job JSON: %w", err)
	}
	if err := json.Unmarshal(compact, &orig); err != nil {
		return Spec{}, fmt.Errorf("job JSON: %w", err)
	}
	spec := Spec(s)
	spec.doc = &document{tree: tree, orig: orig}
	return spec, nil
}

// UnmarshalJSON decodes a job file as Parse does.
func (s *Spec) UnmarshalJSON(data []byte) error {
	spec, err := Parse(data)
	if err != nil {
		return err
	}
	spec.BaseDir = s.BaseDir
	*s = spec
	return nil
}

// MarshalJSON writes the job file: every member as it was parsed, in its
// order, except the typed fields changed since (written from the fields);
// a Spec built in Go is written from its fields.
func (s Spec) MarshalJSON() ([]byte, error) {
	tree, err := s.tree()
	if err != nil {
		return nil, err
	}
	return []byte(pyjson.Format{}.Encode(tree)), nil
}

// Request returns the body of the CreateTrainingJob request that s stands
// for: the job file's members as MarshalJSON writes them, without the
// local-only ones (Program). Nothing is added, no default filled in, no
// explicit false, "", 0 or [] dropped.
func (s Spec) Request() ([]byte, error) {
	tree, err := s.requestTree()
	if err != nil {
		return nil, err
	}
	return []byte(pyjson.Format{}.Encode(tree)), nil
}

func (s Spec) requestTree() (*pyjson.Object, error) {
	tree, err := s.tree()
	if err != nil {
		return nil, err
	}
	out := pyjson.NewObject() // tree may be the parsed file's own
	for _, k := range tree.Keys() {
		if !localMembers[k] {
			v, _ := tree.Get(k)
			out.Set(k, v)
		}
	}
	return out, nil
}

// Member returns the JSON of the member at path ("DebugHookConfig",
// "AlgorithmSpecification.TrainingImageConfig", "InputDataConfig[0].DataSource"),
// as Request would send it, and whether it is set.
func (s Spec) Member(path string) (json.RawMessage, bool) {
	tree, err := s.requestTree()
	if err != nil {
		return nil, false
	}
	var v any = tree
	for _, step := range splitPath(path) {
		switch x := v.(type) {
		case *pyjson.Object:
			var ok bool
			if v, ok = x.Get(step.name); !ok {
				return nil, false
			}
		case []any:
			if step.index < 0 || step.index >= len(x) {
				return nil, false
			}
			v = x[step.index]
		default:
			return nil, false
		}
	}
	return json.RawMessage(pyjson.Format{}.Encode(v)), true
}

type pathStep struct {
	name  string
	index int // for a list element; -1 for a member
}

// splitPath splits "A.B[2].C" into A, B, [2], C.
func splitPath(path string) []pathStep {
	var steps []pathStep
	for _, part := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			steps = append(steps, pathStep{name: name, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			n := -2
			fmt.Sscanf(num, "%d", &n)
			steps = append(steps, pathStep{index: n})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return steps
}

// UnknownMembers lists the members of s that the API model this program
// was built with does not know ("AlgorithmSpecification.TrainingImagConfig"),
// in file order: misspelt keys, or members newer than the model. They are
// sent as written.
func (s Spec) UnknownMembers() []string {
	tree, err := s.requestTree()
	if err != nil {
		return nil
	}
	var out []string
	walkMembers(tree, apimodel.Lookup(apimodel.CreateTrainingJobRequest), "", func(path string, v any, sh *apimodel.Shape) bool {
		if sh == nil {
			out = append(out, path)
			return false
		}
		return true
	})
	return out
}

// Unhandled lists the members set in s that a backend using only the
// members at the given paths ignores: each member that is not one of them,
// nor inside one, nor a structure holding one, once and at the highest
// level ("DebugHookConfig", not each of its members); members set to false
// ask for nothing and are not listed. Paths write list
// elements as "[]" ("InputDataConfig[].ChannelName"). Members the API model
// does not know are not listed (UnknownMembers lists them).
func (s Spec) Unhandled(handled ...string) []string {
	tree, err := s.requestTree()
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	walkMembers(tree, apimodel.Lookup(apimodel.CreateTrainingJobRequest), "", func(path string, v any, sh *apimodel.Shape) bool {
		if sh == nil || v == false {
			return false // UnknownMembers lists it; false asks for nothing
		}
		generic := genericPath(path)
		for _, h := range handled {
			if h == generic || strings.HasPrefix(generic, h+".") || strings.HasPrefix(generic, h+"[]") {
				return false // handled, with everything inside it
			}
		}
		for _, h := range handled {
			if strings.HasPrefix(h, generic+".") || strings.HasPrefix(h, generic+"[]") {
				return true // some of it is handled: look inside
			}
		}
		if !seen[generic] {
			seen[generic] = true
			out = append(out, generic)
		}
		return false
	})
	return out
}

// genericPath replaces list indexes by "[]".
func genericPath(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '[' {
			j := strings.IndexByte(path[i:], ']')
			if j > 0 {
				b.WriteString("[]")
				i += j
				continue
			}
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

// walkMembers calls f for each structure member in v (of shape sh), depth
// first in file order, with its path, its value and its shape (nil for a
// member the model does not know); f returns whether to look inside it.
// Members of map values are not members: a map is visited as one member.
func walkMembers(v any, sh *apimodel.Shape, path string, f func(path string, v any, sh *apimodel.Shape) bool) {
	if sh == nil {
		return
	}
	switch sh.Type {
	case apimodel.Structure:
		obj, ok := v.(*pyjson.Object)
		if !ok {
			return
		}
		for _, k := range obj.Keys() {
			mv, _ := obj.Get(k)
			ms := sh.Field(k)
			p := k
			if path != "" {
				p = path + "." + k
			}
			if f(p, mv, ms) {
				walkMembers(mv, ms, p, f)
			}
		}
	case apimodel.List:
		l, _ := v.([]any)
		for i, e := range l {
			walkMembers(e, sh.Elem(), fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// checkTree reports values of the wrong type for their member's shape
// (every problem, with its path), members whose name differs from one of
// the model's only in case, and a malformed Program.
func checkTree(p *ValidationError, tree *pyjson.Object) {
	for _, k := range tree.Keys() {
		if localMembers[k] {
			v, _ := tree.Get(k)
			l, ok := v.([]any)
			if !ok {
				p.Add(k, "want a list of strings (an argv, or a Go package directory), got %s", pyjson.Describe(v))
				continue
			}
			for i, e := range l {
				if _, ok := e.(string); !ok {
					p.Add(fmt.Sprintf("%s[%d]", k, i), "want a string, got %s", pyjson.Describe(e))
				}
			}
		}
	}
	checkValue(p, "", tree, apimodel.Lookup(apimodel.CreateTrainingJobRequest), true)
}

func checkValue(p *ValidationError, path string, v any, sh *apimodel.Shape, top bool) {
	field := path
	if field == "" {
		field = "job JSON"
	}
	if v == nil {
		p.Add(field, "want %s, got null (leave the member out instead)", describeShape(sh))
		return
	}
	switch sh.Type {
	case apimodel.Structure:
		obj, ok := v.(*pyjson.Object)
		if !ok {
			p.Add(field, "want %s, got %s", describeShape(sh), pyjson.Describe(v))
			return
		}
		for _, k := range obj.Keys() {
			mv, _ := obj.Get(k)
			mp := k
			if path != "" {
				mp = path + "." + k
			}
			if ms := sh.Field(k); ms != nil {
				checkValue(p, mp, mv, ms, false)
				continue
			}
			if top && localMembers[k] {
				continue
			}
			for _, m := range sh.Members {
				if strings.EqualFold(m.Name, k) {
					p.Add(mp, "not a member of %s; did you mean %s? (member names are case-sensitive)", strings.TrimSuffix(sh.Name, "Request"), m.Name)
					break
				}
			}
		}
	case apimodel.List:
		l, ok := v.([]any)
		if !ok {
			p.Add(field, "want a list, got %s", pyjson.Describe(v))
			return
		}
		for i, e := range l {
			checkValue(p, fmt.Sprintf("%s[%d]", path, i), e, sh.Elem(), false)
		}
	case apimodel.Map:
		obj, ok := v.(*pyjson.Object)
		if !ok {
			p.Add(field, "want an object of %s values, got %s", describeShape(sh.Elem()), pyjson.Describe(v))
			return
		}
		for _, k := range obj.Keys() {
			mv, _ := obj.Get(k)
			checkValue(p, fmt.Sprintf("%s[%q]", path, k), mv, sh.Elem(), false)
		}
	case apimodel.String, apimodel.Blob:
		if _, ok := v.(string); !ok {
			p.Add(field, "want a string, got %s", pyjson.Describe(v))
		}
	case apimodel.Boolean:
		if _, ok := v.(bool); !ok {
			p.Add(field, "want true or false, got %s", pyjson.Describe(v))
		}
	case apimodel.Integer, apimodel.Long:
		lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
		if sh.Type == apimodel.Long {
			lo, hi = math.MinInt64, math.MaxInt64
		}
		switch n := v.(type) {
		case int64:
			if n < lo || n > hi {
				p.Add(field, "want an integer in %d..%d, got %d", lo, hi, n)
			}
		case *big.Int:
			p.Add(field, "want an integer in %d..%d, got %s", lo, hi, n)
		default:
			p.Add(field, "want an integer, got %s", pyjson.Describe(v))
		}
	case apimodel.Float, apimodel.Double, apimodel.Timestamp:
		switch n := v.(type) {
		case int64, *big.Int:
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				p.Add(field, "want a finite number, got %s", pyjson.Describe(v))
			}
		default:
			if _, ok := v.(string); !ok || sh.Type != apimodel.Timestamp {
				p.Add(field, "want a number, got %s", pyjson.Describe(v))
			}
		}
	}
}

func describeShape(sh *apimodel.Shape) string {
	switch sh.Type {
	case apimodel.Structure:
		return "an object (" + sh.Name + ")"
	case apimodel.List:
		return "a list"
	case apimodel.Map:
		return "an object"
	case apimodel.String, apimodel.Blob:
		return "a string"
	case apimodel.Boolean:
		return "true or false"
	case apimodel.Integer, apimodel.Long:
		return "an integer"
	}
	return "a number"
}

// CheckRequired reports, in one error, every member that CreateTrainingJob
// requires and s lacks, at every depth ("AlgorithmSpecification.TrainingInputMode",
// "InputDataConfig[0].DataSource.S3DataSource.S3DataType"), as the API
// model marks them. A local run applies the platform's defaults instead;
// a request sent to SageMaker must carry them.
func (s Spec) CheckRequired() error {
	var p ValidationError
	s.missingRequired(&p)
	return p.Err()
}

// missingRequired reports the members the API model marks required that s
// lacks, at every depth.
func (s Spec) missingRequired(p *ValidationError) {
	tree, err := s.requestTree()
	if err != nil {
		p.Add("job JSON", "%v", err)
		return
	}
	req := apimodel.Lookup(apimodel.CreateTrainingJobRequest)
	check := func(path string, v any, sh *apimodel.Shape) {
		obj, ok := v.(*pyjson.Object)
		if !ok || sh == nil || sh.Type != apimodel.Structure {
			return
		}
		for _, r := range sh.Required {
			if _, ok := obj.Get(r); !ok {
				field := r
				if path != "" {
					field = path + "." + r
				}
				if field == "RoleArn" {
					p.Add(field, "set it in the job file to the ARN of an IAM role SageMaker can assume (arn:aws:iam::123456789012:role/NAME)")
					continue
				}
				p.Add(field, "required by CreateTrainingJob")
			}
		}
	}
	check("", tree, req)
	walkMembers(tree, req, "", func(path string, v any, sh *apimodel.Shape) bool {
		if sh == nil {
			return false
		}
		if sh.Type == apimodel.List {
			l, _ := v.([]any)
			for i, e := range l {
				check(fmt.Sprintf("%s[%d]", path, i), e, sh.Elem())
			}
		} else {
			check(path, v, sh)
		}
		return true
	})
}

// tree returns s as a JSON object: the parsed members with the changed
// typed fields written over them, or, for a Spec built in Go, its fields.
func (s Spec) tree() (*pyjson.Object, error) {
	cur := reflect.ValueOf(specFields(s))
	if s.doc == nil {
		v, err := encodeValue(cur)
		if err != nil {
			return nil, err
		}
		obj, _ := v.(*pyjson.Object)
		if obj == nil {
			obj = pyjson.NewObject()
		}
		return obj, nil
	}
	v, _, err := merge(s.doc.tree, true, reflect.ValueOf(s.doc.orig), cur, false)
	if err != nil {
		return nil, err
	}
	return v.(*pyjson.Object), nil
}

// merge returns the JSON value of a typed field cur, given the value as
// written (raw, present) and the field as it was decoded from it (orig):
// raw itself when the field did not change; otherwise the field's value,
// keeping what was written for the parts of it that did not change. It
// reports whether the member is to be written.
func merge(raw any, present bool, orig, cur reflect.Value, omitempty bool) (any, bool, error) {
	if cur.Kind() == reflect.Struct {
		if structFieldsEqual(orig, cur) {
			return raw, present, nil
		}
	} else if reflect.DeepEqual(orig.Interface(), cur.Interface()) {
		return raw, present, nil
	}
	switch cur.Kind() {
	case reflect.Pointer:
		if cur.IsNil() {
			return nil, false, nil
		}
		if orig.IsNil() {
			orig = reflect.New(cur.Type().Elem())
		}
		return merge(raw, present, orig.Elem(), cur.Elem(), false)
	case reflect.Struct:
		obj, _ := raw.(*pyjson.Object)
		out := pyjson.NewObject()
		if obj != nil {
			for _, k := range obj.Keys() {
				v, _ := obj.Get(k)
				out.Set(k, v)
			}
		}
		t := cur.Type()
		for i := range t.NumField() {
			name, omit, ok := jsonName(t.Field(i))
			if !ok {
				continue
			}
			var rv any
			var rp bool
			if obj != nil {
				rv, rp = obj.Get(name)
			}
			v, keep, err := merge(rv, rp, orig.Field(i), cur.Field(i), omit)
			if err != nil {
				return nil, false, err
			}
			if keep {
				out.Set(name, v)
			} else {
				out.Delete(name)
			}
		}
		return out, true, nil
	case reflect.Slice:
		if cur.IsNil() || omitempty && cur.Len() == 0 {
			return nil, false, nil
		}
		if l, ok := raw.([]any); ok && len(l) == orig.Len() && len(l) == cur.Len() {
			out := make([]any, len(l))
			for i := range l {
				v, _, err := merge(l[i], true, orig.Index(i), cur.Index(i), false)
				if err != nil {
					return nil, false, err
				}
				out[i] = v
			}
			return out, true, nil
		}
	case reflect.Map:
		if cur.IsNil() || omitempty && cur.Len() == 0 {
			return nil, false, nil
		}
		out := pyjson.NewObject()
		if obj, ok := raw.(*pyjson.Object); ok {
			for _, k := range obj.Keys() {
				if mv := cur.MapIndex(reflect.ValueOf(k)); mv.IsValid() {
					v, err := encodeValue(mv)
					if err != nil {
						return nil, false, err
					}
					out.Set(k, v)
				}
			}
		}
		keys := cur.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			if _, ok := out.Get(k.String()); !ok {
				v, err := encodeValue(cur.MapIndex(k))
				if err != nil {
					return nil, false, err
				}
				out.Set(k.String(), v)
			}
		}
		return out, true, nil
	default:
		if omitempty && cur.IsZero() {
			return nil, false, nil
		}
	}
	v, err := encodeValue(cur)
	return v, err == nil, err
}

// structFieldsEqual compares the exported, JSON-visible fields of two
// values of one struct type (the unexported ones, like Spec's document,
// are not part of the JSON).
func structFieldsEqual(a, b reflect.Value) bool {
	t := a.Type()
	for i := range t.NumField() {
		if _, _, ok := jsonName(t.Field(i)); ok && !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			return false
		}
	}
	return true
}

// jsonName is the member name of a struct field, whether it has
// omitempty, and whether it is part of the JSON at all.
func jsonName(f reflect.StructField) (name string, omitempty, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, strings.Contains(","+opts+",", ",omitempty,"), true
}

// encodeValue is v as encoding/json writes it, read back as a JSON value.
func encodeValue(v reflect.Value) (any, error) {
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return pyjson.Parse(b)
}
