package apimodeltest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/sagemaker-go/training/job"
)

// Every string shape of the model gets values within its bounds that
// match its pattern.
func TestStrings(t *testing.T) {
	g := New(1)
	for _, n := range apimodel.Names() {
		sh := apimodel.Lookup(n)
		if sh.Type != apimodel.String {
			continue
		}
		_, check := compile(sh.Pattern)
		for range 20 {
			s := g.String(sh)
			if check != nil {
				assert.True(t, check(s), "%s: %q does not match %q", n, s, sh.Pattern)
			}
			if len(sh.Enum) > 0 {
				assert.Contains(t, sh.Enum, s)
			}
		}
	}
}

func TestValues(t *testing.T) {
	g := New(2)
	for range 50 {
		v := g.Value(apimodel.CreateTrainingJobRequest)
		obj, ok := v.(*pyjson.Object)
		require.True(t, ok)
		for _, r := range apimodel.Lookup(apimodel.CreateTrainingJobRequest).Required {
			_, ok := obj.Get(r)
			assert.True(t, ok, r)
		}
		_ = g.Value(apimodel.DescribeTrainingJobResponse)
	}
}

// Generated requests are valid: they parse, pass Validate and carry every
// member CreateTrainingJob requires; and over a few hundred of them every
// member of the model appears.
func TestRequestsAreValid(t *testing.T) {
	g := New(3)
	seen := map[string]bool{}
	for i := range 300 {
		req := g.Request(fmt.Sprintf("gen-%d", i))
		for _, p := range Paths(req, apimodel.CreateTrainingJobRequest) {
			seen[p] = true
		}
		text := pyjson.Format{}.Encode(req)
		s, err := job.Parse([]byte(text))
		require.NoError(t, err, text)
		require.NoError(t, s.Validate(), text)
		require.NoError(t, s.CheckRequired(), text)
		assert.Empty(t, s.UnknownMembers())
		body, err := s.Request()
		require.NoError(t, err)
		assert.Equal(t, text, string(body), "the request is the file")
	}
	for _, p := range AllPaths(apimodel.CreateTrainingJobRequest) {
		assert.True(t, seen[p], "no generated request has %s", p)
	}
}
