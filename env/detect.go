package env

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// detectTimeout bounds each run of nvidia-smi or neuron-ls.
const detectTimeout = 10 * time.Second

// detect fills the machine's counts. Tools that are not on PATH are not run
// (exec.LookPath is cheap; starting a process is not).
func (e *Env) detect() {
	e.NumCPUs = runtime.NumCPU()
	e.NumGPUs = detectGPUs()
	e.NumNeurons = detectNeurons(e.Resources.CurrentInstanceType)
	e.SMDDPRun = onPath("smddprun")
	e.SMDDPMPRun = onPath("smddpmprun")
}

func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// detectGPUs counts the lines of `nvidia-smi --list-gpus` that start with
// "GPU ", as the toolkit does; 0 when nvidia-smi is absent or fails.
func detectGPUs() int {
	out, ok := runTool("nvidia-smi", "--list-gpus")
	if !ok {
		return 0
	}
	return countGPUs(out)
}

// countGPUs counts the lines of nvidia-smi --list-gpus output that start
// with "GPU ".
func countGPUs(out []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "GPU ") {
			n++
		}
	}
	return n
}

// detectNeurons returns the Neuron cores as the toolkit counts them: 64 when
// instanceType contains "trn2.48xlarge", else the sum of nc_count in
// `neuron-ls -j` output; 0 when neuron-ls is absent, fails or prints
// something else.
func detectNeurons(instanceType string) int {
	if strings.Contains(instanceType, "trn2.48xlarge") {
		return 64
	}
	out, ok := runTool("neuron-ls", "-j")
	if !ok {
		return 0
	}
	return countNeuronCores(out)
}

// countNeuronCores sums nc_count over the JSON array neuron-ls -j prints; 0
// when out is not such an array.
func countNeuronCores(out []byte) int {
	var devs []struct {
		NCCount int `json:"nc_count"`
	}
	if err := json.Unmarshal(out, &devs); err != nil {
		return 0
	}
	n := 0
	for _, d := range devs {
		n += d.NCCount
	}
	return n
}

func runTool(name string, args ...string) ([]byte, bool) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), detectTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).Output()
	if err != nil {
		return nil, false
	}
	return out, true
}
