// Package apimodeltest generates random values of the API model's shapes
// for tests: CreateTrainingJob requests that are valid for the model and
// for this module's own checks, and DescribeTrainingJob answers. Values
// are those of internal/pyjson (ordered objects), so a test can write them
// as a job file, send them, and compare what was sent.
package apimodeltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// Generator makes random values of shapes. Members are each left out with
// probability Omit (required ones never); lists and maps have 0 to 3
// entries within the model's bounds.
type Generator struct {
	R    *rand.Rand
	Omit float64
}

// New returns a Generator seeded with seed that leaves out a quarter of the
// optional members.
func New(seed uint64) *Generator {
	return &Generator{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), Omit: 0.25}
}

// Value returns a random value of the shape named name.
func (g *Generator) Value(name string) any {
	sh := apimodel.Lookup(name)
	if sh == nil {
		panic("apimodeltest: no shape " + name)
	}
	return g.value(sh, 0)
}

func (g *Generator) count(sh *apimodel.Shape) int {
	lo, hi := int64(0), int64(3)
	if sh.HasMin {
		lo = max(lo, sh.Min)
	}
	if sh.HasMax {
		hi = min(hi, sh.Max)
	}
	if hi < lo {
		hi = lo
	}
	return int(lo + g.R.Int64N(hi-lo+1))
}

func (g *Generator) value(sh *apimodel.Shape, depth int) any {
	switch sh.Type {
	case apimodel.Structure:
		obj := pyjson.NewObject()
		for _, m := range sh.Members {
			if !sh.IsRequired(m.Name) && g.R.Float64() < g.Omit {
				continue
			}
			obj.Set(m.Name, g.value(apimodel.Lookup(m.Shape), depth+1))
		}
		return obj
	case apimodel.List:
		n := g.count(sh)
		l := make([]any, n)
		for i := range l {
			l[i] = g.value(sh.Elem(), depth+1)
		}
		return l
	case apimodel.Map:
		n := g.count(sh)
		obj := pyjson.NewObject()
		key := apimodel.Lookup(sh.Key)
		for tries := 0; obj.Len() < n && tries < 20; tries++ {
			obj.Set(g.String(key), g.value(sh.Elem(), depth+1))
		}
		return obj
	case apimodel.String:
		return g.String(sh)
	case apimodel.Boolean:
		return g.R.IntN(2) == 0
	case apimodel.Integer, apimodel.Long:
		lo, hi := int64(0), int64(100000)
		if sh.Type == apimodel.Long && g.R.IntN(4) == 0 {
			hi = math.MaxInt64 / 2
		}
		if sh.HasMin {
			lo = sh.Min
		}
		if sh.HasMax {
			hi = sh.Max
		}
		if hi < lo {
			hi = lo
		}
		return lo + g.R.Int64N(hi-lo+1)
	case apimodel.Float, apimodel.Double:
		switch g.R.IntN(3) {
		case 0:
			return float64(g.R.IntN(1000)) / 8
		case 1:
			return g.R.NormFloat64() * math.Pow(10, float64(g.R.IntN(12)-6))
		}
		return float64(g.R.IntN(100))
	case apimodel.Timestamp:
		// Epoch seconds with milliseconds, as SageMaker sends them.
		return float64(1_600_000_000_000+g.R.Int64N(200_000_000_000)) / 1000
	}
	panic("apimodeltest: shape type " + sh.Type)
}

// String returns a random string of the string shape sh: one of its enum
// values, or a string matching its pattern within its length bounds.
func (g *Generator) String(sh *apimodel.Shape) string {
	if len(sh.Enum) > 0 {
		return sh.Enum[g.R.IntN(len(sh.Enum))]
	}
	lo, hi := 0, 4096
	if sh.HasMin {
		lo = int(sh.Min)
	}
	if sh.HasMax {
		hi = int(sh.Max)
	}
	re, check := compile(sh.Pattern)
	for range 200 {
		var b strings.Builder
		if re != nil {
			g.gen(&b, re, min(hi, 8))
		} else {
			n := lo + g.R.IntN(max(min(hi, lo+24)-lo, 0)+1)
			for range n {
				b.WriteRune(g.anyRune())
			}
		}
		s := b.String()
		if n := utf8.RuneCountInString(s); n >= lo && n <= max(hi, lo) && (check == nil || check(s)) {
			return s
		}
	}
	panic(fmt.Sprintf("apimodeltest: no string of %d-%d characters matches %q (%s)", lo, hi, sh.Pattern, sh.Name))
}

// compile translates a model pattern (Java syntax) into Go's: the parse
// tree strings are generated from, and the check they must pass (the
// whole string matches). A lookbehind "(?<!-)" at the end becomes a check
// that the string does not end with "-".
func compile(pattern string) (*syntax.Regexp, func(string) bool) {
	if pattern == "" {
		return nil, nil
	}
	p := strings.ReplaceAll(pattern, `\p{Alnum}`, `a-zA-Z0-9`)
	p = strings.ReplaceAll(p, `{1,2048}`, `{1,1000}`)
	notDash := strings.HasSuffix(p, `(?<!-)`)
	p = strings.TrimSuffix(p, `(?<!-)`)
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		panic(fmt.Sprintf("apimodeltest: pattern %q: %v", pattern, err))
	}
	whole := regexp.MustCompile(`^(?:` + p + `)$`)
	return re.Simplify(), func(s string) bool {
		return whole.MatchString(s) && !(notDash && strings.HasSuffix(s, "-"))
	}
}

var printable = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/ =+@,é€中😀\"\\\t")

func (g *Generator) anyRune() rune { return printable[g.R.IntN(len(printable))] }

// gen writes a random string that re matches, with repetitions kept short.
func (g *Generator) gen(b *strings.Builder, re *syntax.Regexp, budget int) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		var n int
		for i := 0; i < len(re.Rune); i += 2 {
			n += int(min(re.Rune[i+1], re.Rune[i]+200) - re.Rune[i] + 1)
		}
		if n == 0 {
			return
		}
		k := g.R.IntN(n)
		for i := 0; i < len(re.Rune); i += 2 {
			span := int(min(re.Rune[i+1], re.Rune[i]+200) - re.Rune[i] + 1)
			if k < span {
				r := re.Rune[i] + rune(k)
				if r < 0x20 || r >= 0xD800 && r <= 0xDFFF {
					r = 'a' // keep generated text printable
					if !inClass(re, r) {
						r = re.Rune[i]
					}
				}
				b.WriteRune(r)
				return
			}
			k -= span
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteRune(g.anyRune())
	case syntax.OpCapture:
		g.gen(b, re.Sub[0], budget)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			g.gen(b, s, budget)
		}
	case syntax.OpAlternate:
		g.gen(b, re.Sub[g.R.IntN(len(re.Sub))], budget)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, 4
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
			if hi < 0 || hi > lo+4 {
				hi = lo + 4
			}
		}
		if budget < hi {
			hi = max(lo, budget)
		}
		for range lo + g.R.IntN(hi-lo+1) {
			g.gen(b, re.Sub[0], budget)
		}
	}
}

func inClass(re *syntax.Regexp, r rune) bool {
	for i := 0; i < len(re.Rune); i += 2 {
		if r >= re.Rune[i] && r <= re.Rune[i+1] {
			return true
		}
	}
	return false
}

// Request returns a random CreateTrainingJob request named name that is
// valid for the API model and passes this module's checks before a
// submission (job.Spec.Validate, CheckRequired, the launcher's Check): the
// members those checks constrain are set to valid values; every other
// member is as generated.
func (g *Generator) Request(name string) *pyjson.Object {
	req := g.Value(apimodel.CreateTrainingJobRequest).(*pyjson.Object)
	req.Set("TrainingJobName", name)
	req.Set("RoleArn", "arn:aws:iam::123456789012:role/Role-"+name)
	bucket := func(i int) string { return fmt.Sprintf("s3://bucket-%d/%s/key-%d", i, name, g.R.IntN(100)) }

	alg := obj(req, "AlgorithmSpecification")
	if _, ok := alg.Get("TrainingInputMode"); !ok {
		alg.Set("TrainingInputMode", g.String(apimodel.Lookup("TrainingInputMode")))
	}
	if img, _ := get[string](alg, "TrainingImage"); img == "" {
		if _, ok := alg.Get("AlgorithmName"); !ok {
			alg.Set("TrainingImage", "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1")
		}
	}
	if defs, ok := get[[]any](alg, "MetricDefinitions"); ok {
		for i, d := range defs {
			d.(*pyjson.Object).Set("Name", fmt.Sprintf("metric:%d", i))
			d.(*pyjson.Object).Set("Regex", fmt.Sprintf("m%d=([0-9.]+);", i))
		}
	}
	mode, _ := get[string](alg, "TrainingInputMode")

	var groups []string
	res, hasRes := get[*pyjson.Object](req, "ResourceConfig")
	if hasRes {
		if gs, ok := get[[]any](res, "InstanceGroups"); ok && len(gs) > 0 {
			res.Delete("InstanceType")
			res.Delete("InstanceCount")
			for i, gv := range gs {
				grp := gv.(*pyjson.Object)
				n := fmt.Sprintf("group-%d", i)
				grp.Set("InstanceGroupName", n)
				grp.Set("InstanceCount", int64(1+g.R.IntN(3)))
				groups = append(groups, n)
			}
		} else {
			res.Delete("InstanceGroups")
			res.Set("InstanceType", g.String(apimodel.Lookup("TrainingInstanceType")))
			res.Set("InstanceCount", int64(1+g.R.IntN(4)))
		}
	} else if _, ok := req.Get("ServerlessJobConfig"); !ok {
		r := pyjson.NewObject()
		r.Set("InstanceType", "ml.m5.large")
		r.Set("InstanceCount", int64(1))
		req.Set("ResourceConfig", r)
	}

	if chans, ok := get[[]any](req, "InputDataConfig"); ok {
		for i, cv := range chans {
			ch := cv.(*pyjson.Object)
			ch.Set("ChannelName", fmt.Sprintf("channel-%d", i))
			ds := obj(ch, "DataSource")
			// One data source per channel, S3 most often.
			keep := []string{"S3DataSource", "FileSystemDataSource", "DatasetSource"}[min(g.R.IntN(6), 2)]
			for _, k := range []string{"S3DataSource", "FileSystemDataSource", "DatasetSource"} {
				if k != keep {
					ds.Delete(k)
				}
			}
			if _, ok := ds.Get(keep); !ok {
				ds.Set(keep, g.Value(apimodel.Lookup("DataSource").Field(keep).Name))
			}
			if src, ok := get[*pyjson.Object](ds, "S3DataSource"); ok {
				src.Set("S3Uri", bucket(i))
				if names, ok := get[[]any](src, "InstanceGroupNames"); ok {
					var valid []any
					for j := range names {
						if j < len(groups) {
							valid = append(valid, groups[j])
						}
					}
					if valid == nil {
						src.Delete("InstanceGroupNames")
					} else {
						src.Set("InstanceGroupNames", valid)
					}
				}
			}
			if fs, ok := get[*pyjson.Object](ds, "FileSystemDataSource"); ok {
				fs.Set("DirectoryPath", "/fsx/"+name)
			}
			chMode, _ := get[string](ch, "InputMode")
			if chMode == "" {
				chMode = mode
			}
			if c, _ := get[string](ch, "CompressionType"); c == "Gzip" && chMode != "Pipe" {
				ch.Set("CompressionType", "None")
			}
		}
	}
	obj(req, "OutputDataConfig").Set("S3OutputPath", bucket(100))
	if c, ok := get[*pyjson.Object](req, "CheckpointConfig"); ok {
		c.Set("S3Uri", bucket(101))
		if _, ok := c.Get("LocalPath"); ok {
			c.Set("LocalPath", "/opt/ml/checkpoints")
		}
	}
	if tb, ok := get[*pyjson.Object](req, "TensorBoardOutputConfig"); ok {
		tb.Set("S3OutputPath", bucket(102))
		if _, ok := tb.Get("LocalPath"); ok {
			tb.Set("LocalPath", "/opt/ml/output/tensorboard")
		}
	}
	if sc, ok := get[*pyjson.Object](req, "StoppingCondition"); ok {
		if run, ok := get[int64](sc, "MaxRuntimeInSeconds"); ok && run > 28*24*3600 {
			sc.Set("MaxRuntimeInSeconds", int64(3600))
		}
		spot, _ := get[bool](req, "EnableManagedSpotTraining")
		if !spot {
			sc.Delete("MaxWaitTimeInSeconds")
		} else {
			run, ok := get[int64](sc, "MaxRuntimeInSeconds")
			if !ok {
				run = 86400
			}
			if wait, _ := get[int64](sc, "MaxWaitTimeInSeconds"); wait < run {
				sc.Set("MaxWaitTimeInSeconds", run)
			}
		}
	} else if spot, _ := get[bool](req, "EnableManagedSpotTraining"); spot {
		req.Set("EnableManagedSpotTraining", false)
	}
	if v, ok := get[*pyjson.Object](req, "VpcConfig"); ok {
		for _, k := range []string{"SecurityGroupIds", "Subnets"} {
			if l, _ := get[[]any](v, k); len(l) == 0 {
				v.Set(k, []any{g.String(apimodel.Lookup(apimodel.Lookup("VpcConfig").Field(k).Member))})
			}
		}
	}
	return req
}

// obj returns the object member k of o, adding an empty one if needed.
func obj(o *pyjson.Object, k string) *pyjson.Object {
	if v, ok := get[*pyjson.Object](o, k); ok {
		return v
	}
	v := pyjson.NewObject()
	o.Set(k, v)
	return v
}

func get[T any](o *pyjson.Object, k string) (T, bool) {
	v, ok := o.Get(k)
	t, isT := v.(T)
	return t, ok && isT
}

// Paths lists the member paths of v (of shape name), list elements as "[]"
// ("InputDataConfig[].DataSource.S3DataSource.S3Uri"): what a set of
// generated values covers.
func Paths(v any, name string) []string {
	var out []string
	var walk func(v any, sh *apimodel.Shape, path string)
	walk = func(v any, sh *apimodel.Shape, path string) {
		switch sh.Type {
		case apimodel.Structure:
			o, _ := v.(*pyjson.Object)
			if o == nil {
				return
			}
			for _, k := range o.Keys() {
				mv, _ := o.Get(k)
				p := k
				if path != "" {
					p = path + "." + k
				}
				out = append(out, p)
				if ms := sh.Field(k); ms != nil {
					walk(mv, ms, p)
				}
			}
		case apimodel.List:
			l, _ := v.([]any)
			for _, e := range l {
				walk(e, sh.Elem(), path+"[]")
			}
		}
	}
	walk(v, apimodel.Lookup(name), "")
	return out
}

// AllPaths lists every member path of the shape name.
func AllPaths(name string) []string {
	var out []string
	var walk func(sh *apimodel.Shape, path string)
	walk = func(sh *apimodel.Shape, path string) {
		switch sh.Type {
		case apimodel.Structure:
			for _, m := range sh.Members {
				p := m.Name
				if path != "" {
					p = path + "." + m.Name
				}
				out = append(out, p)
				walk(apimodel.Lookup(m.Shape), p)
			}
		case apimodel.List:
			walk(sh.Elem(), path+"[]")
		}
	}
	walk(apimodel.Lookup(name), "")
	return out
}
