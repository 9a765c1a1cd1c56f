package pyjson_test

import (
	"fmt"

	"github.com/sagemaker-go/training/internal/pyjson"
)

func Example() {
	v, err := pyjson.Parse([]byte(`{"lr": 1e-5, "layers": [64, 32], "name": "résnet", "flag": true, "scale": NaN}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pyjson.Dumps(v)) // json.dumps(v, sort_keys=True, separators=(",", ":"))
	fmt.Println(pyjson.Str(v))   // str(v)
	o := v.(*pyjson.Object)
	for _, k := range o.Keys() {
		x, _ := o.Get(k)
		fmt.Printf("SM_HP_%s=%s  --%s %s\n", pyjson.Upper(k), pyjson.EnvValue(x), k, pyjson.ArgValue(x))
	}
	// Output:
	// {"flag":true,"layers":[64,32],"lr":1e-05,"name":"r\u00e9snet","scale":NaN}
	// {'lr': 1e-05, 'layers': [64, 32], 'name': 'résnet', 'flag': True, 'scale': nan}
	// SM_HP_LR=1e-05  --lr 1e-05
	// SM_HP_LAYERS=[64,32]  --layers [64, 32]
	// SM_HP_NAME=résnet  --name résnet
	// SM_HP_FLAG=true  --flag True
	// SM_HP_SCALE=NaN  --scale nan
}
