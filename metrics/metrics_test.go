package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

var testValues = []float64{
	0, 1, -1, 0.25, -0.125, 1e-05, 1.5e-300, 5e-324, -3.2e+10, 3.2e+21, 123456789,
	math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
	math.NaN(), math.Inf(1), math.Inf(-1), math.Pi, 1e100, 100, 1e21, 0.1 + 0.2,
}

var testNames = []string{
	"loss", "train:loss", "validation:accuracy", "a", "x.y", "w[0]", "(a|b)*", "$^", "ü-ß", "a\\b",
	"val_loss", "loss2", "#metric", "a+b?c{2}", strings.Repeat("n", MaxNameLen/2),
}

// textForms are the forms a value may take in a line written with fmt by
// hand: Go's decimal verbs must all be accepted by the regex.
func textForms(v float64) []string {
	forms := []string{strconv.FormatFloat(v, 'g', -1, 64)}
	for _, verb := range []string{"%v", "%g", "%G", "%e", "%E", "%f", "%.3f", "%+g", "%.0f", "%.0e"} {
		forms = append(forms, fmt.Sprintf(verb, v))
	}
	if !math.IsNaN(v) && !math.IsInf(v, 0) && v == math.Trunc(v) && math.Abs(v) < 1e15 {
		forms = append(forms, strconv.FormatInt(int64(v), 10))
	}
	return forms
}

func TestEmitLines(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	require.NoError(t, w.Emit("train:loss", 0.25))
	require.NoError(t, w.EmitStep("train:loss", 3, 1e-05))
	require.NoError(t, w.Emit("x", math.Inf(1)))
	require.NoError(t, w.Emit("x", math.NaN()))
	assert.Equal(t, "#metric train:loss=0.25;\n#metric train:loss=1e-05; step=3;\n#metric x=+Inf;\n#metric x=NaN;\n", buf.String())
}

func TestEmitRejectsBadNames(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, n := range []string{"", "a b", "a=b", "a;b", "a\nb", "\x00", strings.Repeat("x", MaxNameLen+1), strings.Repeat(".", 220), "\xff"} {
		assert.Error(t, w.Emit(n, 1), "%q", n)
		assert.Error(t, CheckName(n), "%q", n)
	}
	assert.Empty(t, buf.String())
	_, err := Definitions("ok", "a b", "ok")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"a b"`)
	assert.Contains(t, err.Error(), `"ok": named twice`)
	many := make([]string, MaxMetrics+1)
	for i := range many {
		many[i] = fmt.Sprint("m", i)
	}
	_, err = Definitions(many...)
	assert.ErrorContains(t, err, "at most 40")
}

func TestDefinitionsJSON(t *testing.T) {
	defs, err := Definitions("train:loss")
	require.NoError(t, err)
	b, err := json.Marshal(defs)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"Name":"train:loss","Regex":`+strconv.Quote(defs[0].Regex)+`}]`, string(b))
	assert.LessOrEqual(t, len(defs[0].Regex), MaxRegexLen)
	r, err := Regex(strings.Repeat("é", MaxNameLen))
	require.NoError(t, err)
	assert.LessOrEqual(t, len([]rune(r)), MaxRegexLen)
}

// TestDefinitionsGo checks every name's regex against lines of every name,
// every value, in every Go decimal form, with and without a step.
func TestDefinitionsGo(t *testing.T) {
	defs, err := Definitions(testNames...)
	require.NoError(t, err)
	for _, d := range defs {
		re := regexp.MustCompile(d.Regex)
		for _, other := range testNames {
			for _, v := range testValues {
				for _, form := range textForms(v) {
					for _, suffix := range []string{";\n", "; step=7;\n"} {
						line := Prefix + other + "=" + form + suffix
						m := re.FindStringSubmatch(line)
						if other != d.Name {
							assert.Nil(t, m, "regex of %q matched %q", d.Name, line)
							continue
						}
						if assert.NotNil(t, m, "regex of %q missed %q", d.Name, line) {
							assert.Equal(t, form, m[1])
						}
					}
				}
			}
		}
	}
}

func TestRegexRejectsNonNumbers(t *testing.T) {
	re := regexp.MustCompile(regex("loss"))
	for _, s := range []string{"#metric loss=;", "#metric loss=abc;", "#metric loss=1.2.3;", "#metric loss=0x10;", "#metric loss=nan;", "#metric loss=1e;", "#metric loss=١;", "#metric loss=1", "metric loss=1;", "#metric  loss=1;"} {
		assert.Nil(t, re.FindStringSubmatch(s), s)
	}
}

// TestDefinitionsPython runs the same lines through Python's re, which is
// what the SageMaker documentation calls the dialect.
func TestDefinitionsPython(t *testing.T) {
	testenv.Need(t, "python3")
	defs, err := Definitions(testNames...)
	require.NoError(t, err)
	type tc struct {
		Regex string  `json:"regex"`
		Line  string  `json:"line"`
		Want  *string `json:"want"`
	}
	var cases []tc
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, d := range defs {
		for _, other := range testNames {
			for _, v := range testValues {
				buf.Reset()
				require.NoError(t, w.EmitStep(other, 7, v))
				line := buf.String()
				var want *string
				if other == d.Name {
					s := strconv.FormatFloat(v, 'g', -1, 64)
					want = &s
				}
				cases = append(cases, tc{d.Regex, line, want})
				for _, form := range textForms(v) {
					var want *string
					if other == d.Name {
						want = &form
					}
					cases = append(cases, tc{d.Regex, Prefix + other + "=" + form + ";", want})
				}
			}
		}
	}
	in, err := json.Marshal(cases)
	require.NoError(t, err)
	const script = `
import json, re, sys
cases = json.load(sys.stdin)
bad = []
for c in cases:
    m = re.search(c["regex"], c["line"])
    got = m.group(1) if m else None
    if got != c["want"]:
        bad.append([c["regex"], c["line"], c["want"], got])
    if got is not None:
        float(got)  # SageMaker turns the group into a number
print(json.dumps({"n": len(cases), "bad": bad[:20]}))
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	var res struct {
		N   int
		Bad [][]any
	}
	require.NoError(t, json.Unmarshal(out, &res))
	assert.Equal(t, len(cases), res.N)
	assert.Empty(t, res.Bad)
}

func TestConcurrentEmit(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				assert.NoError(t, w.EmitStep(fmt.Sprint("m", g), i, float64(i)/3))
			}
		}()
	}
	wg.Wait()
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		l, ok := ParseLine(sc.Text())
		require.True(t, ok, sc.Text())
		assert.Equal(t, float64(l.Step)/3, l.Value)
		n++
	}
	assert.Equal(t, 8*200, n)
}

type flushWriter struct {
	bytes.Buffer
	flushes int
}

func (f *flushWriter) Flush() error { f.flushes++; return nil }

func TestFlushAndPackageOutput(t *testing.T) {
	fw := &flushWriter{}
	bw := bufio.NewWriter(fw)
	SetOutput(bw)
	t.Cleanup(func() { SetOutput(io.Discard) })
	require.NoError(t, Emit("a", 1))
	assert.Equal(t, "#metric a=1;\n", fw.String(), "a bufio.Writer is flushed after each line")
	require.NoError(t, EmitStep("a", 2, 3))
	assert.Equal(t, "#metric a=1;\n#metric a=3; step=2;\n", fw.String())
}

func TestParseLine(t *testing.T) {
	l, ok := ParseLine("2024-01-01T00:00:00 #metric val:acc=0.5; step=12;\n")
	require.True(t, ok)
	assert.Equal(t, Line{Name: "val:acc", Value: 0.5, Step: 12, HasStep: true}, l)
	l, ok = ParseLine("#metric x=-Inf;")
	require.True(t, ok)
	assert.True(t, math.IsInf(l.Value, -1))
	for _, s := range []string{"", "loss=1;", "#metric loss=1", "#metric loss=x;", "#metric =1;", "#metric a=1; step=x;", "#metric a=1;junk", "#metric a=infinity;"} {
		_, ok := ParseLine(s)
		assert.False(t, ok, s)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("train:loss", 0.25, 3, true)
	f.Add("a", math.NaN(), 0, false)
	f.Add("(x)", math.Inf(-1), -1, true)
	f.Add("ü", 1e-05, 1<<40, true)
	f.Add("a b", 1.0, 0, false)
	f.Fuzz(func(t *testing.T, name string, v float64, step int, hasStep bool) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		var err error
		if hasStep {
			err = w.EmitStep(name, step, v)
		} else {
			err = w.Emit(name, v)
		}
		if CheckName(name) != nil {
			if err == nil {
				t.Fatalf("Emit accepted invalid name %q", name)
			}
			if buf.Len() != 0 {
				t.Fatalf("invalid name %q printed %q", name, buf.String())
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		line := buf.String()
		l, ok := ParseLine(line)
		if !ok || l.Name != name || l.HasStep != hasStep || (hasStep && l.Step != step) {
			t.Fatalf("ParseLine(%q) = %+v, %v", line, l, ok)
		}
		if !(l.Value == v || math.IsNaN(v) && math.IsNaN(l.Value)) {
			t.Fatalf("value %v came back as %v", v, l.Value)
		}
		re := regexp.MustCompile(regex(name))
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("regex %q misses %q", re, line)
		}
		got, err := strconv.ParseFloat(m[1], 64)
		if err != nil || !(got == v || math.IsNaN(v) && math.IsNaN(got)) {
			t.Fatalf("regex captured %q from %q", m[1], line)
		}
	})
}

func FuzzParseLine(f *testing.F) {
	f.Add("#metric a=1;")
	f.Add("#metric a=1; step=2;")
	f.Add("x #metric a=+Inf;\n")
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := ParseLine(s)
		if !ok {
			return
		}
		if CheckName(l.Name) != nil {
			t.Fatalf("parsed invalid name %q", l.Name)
		}
	})
}

func BenchmarkEmit(b *testing.B) {
	w := NewWriter(io.Discard)
	b.ReportAllocs()
	b.SetBytes(int64(len("#metric train:loss=0.123456789; step=12;\n")))
	for i := 0; b.Loop(); i++ {
		if err := w.EmitStep("train:loss", i, 0.123456789); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleDefinitions() {
	defs, err := Definitions("train:loss")
	if err != nil {
		panic(err)
	}
	fmt.Println(defs[0].Name)
	fmt.Println(defs[0].Regex)
	w := NewWriter(os.Stdout)
	w.EmitStep("train:loss", 3, 0.0625)
	// Output:
	// train:loss
	// #metric train:loss=([-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|NaN|Inf));
	// #metric train:loss=0.0625; step=3;
}
