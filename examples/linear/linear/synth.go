package linear

import (
	"bufio"
	"io"
	"math"
	"strconv"
)

// TrueWeights and TrueBias are the parameters behind the bundled data set
// (examples/linear/data) and Synth.
var (
	TrueWeights = []float64{2, -3, 0.5, 1.5}
	TrueBias    = 0.7
)

// Noise is the standard deviation of the label noise of Synth.
const Noise = 0.1

// Synth writes n rows of synthetic CSV data with TrueWeights and TrueBias:
// features uniform in [-1, 1); for Linear the label is w·x + b plus normal
// noise (σ = Noise); for Logistic it is 1 with probability sigmoid(4(w·x +
// b)), else 0. Numbers have 5 decimals. The same seed gives the same bytes:
// the generator is SplitMix64, defined here, not a library source whose
// sequence may change.
func Synth(w io.Writer, n int, seed uint64, objective string) error {
	g := splitmix(seed)
	bw := bufio.NewWriter(w)
	var b []byte
	x := make([]float64, len(TrueWeights))
	for range n {
		z := TrueBias
		for i, wi := range TrueWeights {
			x[i] = math.Round((2*g.float()-1)*1e5) / 1e5
			z += wi * x[i]
		}
		var y float64
		if objective == Logistic {
			if g.float() < sigmoid(4*z) {
				y = 1
			}
		} else {
			y = z + Noise*g.normal()
		}
		b = strconv.AppendFloat(b[:0], y, 'f', 5, 64)
		for _, xi := range x {
			b = append(b, ',')
			b = strconv.AppendFloat(b, xi, 'f', 5, 64)
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a number in [0, 1).
func (s *splitmix) float() float64 { return float64(s.next()>>11) / (1 << 53) }

// normal returns a standard normal number (Box–Muller).
func (s *splitmix) normal() float64 {
	u := 1 - s.float() // (0, 1]
	v := s.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}
