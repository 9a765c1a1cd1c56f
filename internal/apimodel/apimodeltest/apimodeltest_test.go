package apimodeltest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/pyjson"
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
