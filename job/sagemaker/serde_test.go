package sagemaker_test

import (
	"context"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"testing"

	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/apimodel/apimodeltest"
	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/sagemaker-go/training/job"
)

// TestSubmitSendsWhatTheSDKSends generates random valid CreateTrainingJob
// requests from the API model, every member at every depth appearing across
// them, and sends each twice to a real HTTP server: as a job file through
// Submit, and as the SDK's own CreateTrainingJobInput (filled member by
// member from the same JSON) through the SDK's serializer. The two bodies
// are equal, and equal to the file.
func TestSubmitSendsWhatTheSDKSends(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	ctx := context.Background()
	g := apimodeltest.New(7)
	seen := map[string]bool{}
	const n = 200
	for i := range n {
		req := g.Request(fmt.Sprintf("serde-%d", i))
		text := pyjson.Format{}.Encode(req)
		for _, p := range apimodeltest.Paths(req, apimodel.CreateTrainingJobRequest) {
			seen[p] = true
		}

		spec, err := job.Parse([]byte(text))
		require.NoError(t, err)
		_, err = c.Submit(ctx, spec)
		require.NoError(t, err, text)

		in := &sm.CreateTrainingJobInput{}
		unknown := fill(reflect.ValueOf(in).Elem(), req, "")
		require.Empty(t, unknown, "members the SDK's types do not have")
		_, err = c.SageMaker.CreateTrainingJob(ctx, in)
		require.NoError(t, err)

		bodies := f.bodies("SageMaker.CreateTrainingJob")
		require.Len(t, bodies, 2*(i+1))
		ours, sdk := canonical(t, bodies[2*i]), canonical(t, bodies[2*i+1])
		require.Equal(t, sdk, ours, "Submit and the SDK send different bodies for\n%s", text)
		require.Equal(t, canonical(t, text), ours, "the body is not the file")
	}
	for _, p := range apimodeltest.AllPaths(apimodel.CreateTrainingJobRequest) {
		assert.True(t, seen[p], "no request had %s", p)
	}
}

// canonical is a JSON text with its object keys sorted and its numbers as
// Python reads them (so 1 and 1.0 differ, as they do on the wire).
func canonical(t *testing.T, text string) string {
	t.Helper()
	v, err := pyjson.Parse([]byte(text))
	require.NoError(t, err, text)
	return pyjson.Format{SortKeys: true}.Encode(v)
}

// fill sets dst, a value of the SDK's types, from the JSON value v, matching
// structure members to fields by name; it returns the paths of members
// that have no field.
func fill(dst reflect.Value, v any, path string) []string {
	switch dst.Kind() {
	case reflect.Pointer:
		dst.Set(reflect.New(dst.Type().Elem()))
		return fill(dst.Elem(), v, path)
	case reflect.Struct:
		obj := v.(*pyjson.Object)
		var unknown []string
		for _, k := range obj.Keys() {
			mv, _ := obj.Get(k)
			field := dst.FieldByName(k)
			if !field.IsValid() || !slices.ContainsFunc(reflect.VisibleFields(dst.Type()), func(f reflect.StructField) bool { return f.Name == k && f.IsExported() }) {
				unknown = append(unknown, path+"."+k)
				continue
			}
			unknown = append(unknown, fill(field, mv, path+"."+k)...)
		}
		return unknown
	case reflect.Slice:
		l := v.([]any)
		s := reflect.MakeSlice(dst.Type(), len(l), len(l))
		var unknown []string
		for i, e := range l {
			unknown = append(unknown, fill(s.Index(i), e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		dst.Set(s)
		return unknown
	case reflect.Map:
		obj := v.(*pyjson.Object)
		m := reflect.MakeMapWithSize(dst.Type(), obj.Len())
		var unknown []string
		for _, k := range obj.Keys() {
			mv, _ := obj.Get(k)
			e := reflect.New(dst.Type().Elem()).Elem()
			unknown = append(unknown, fill(e, mv, path+"["+k+"]")...)
			m.SetMapIndex(reflect.ValueOf(k).Convert(dst.Type().Key()), e)
		}
		dst.Set(m)
		return unknown
	case reflect.String:
		dst.SetString(v.(string))
	case reflect.Bool:
		dst.SetBool(v.(bool))
	case reflect.Int32, reflect.Int64:
		switch n := v.(type) {
		case int64:
			dst.SetInt(n)
		case *big.Int:
			dst.SetInt(n.Int64())
		}
	case reflect.Float32, reflect.Float64:
		switch n := v.(type) {
		case float64:
			dst.SetFloat(n)
		case int64:
			dst.SetFloat(float64(n))
		}
	default:
		panic(fmt.Sprintf("%s: cannot fill a %s", path, dst.Type()))
	}
	return nil
}
