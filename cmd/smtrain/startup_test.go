package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagemaker-go/training/internal/testenv"
)

// BenchmarkLocalStart measures a real `smtrain local` process from its
// start to its hosts' first output line: "first" is the first line of any
// host, "all" the moment every host has printed its line. Each host's
// program prints one line and exits. Medians over b.N runs:
//
//	go test -run '^$' -bench LocalStart -benchtime 20x ./cmd/smtrain
//
// SMTRAIN_TEST_BIN names another smtrain executable to measure instead;
// SMTRAIN_COMPARE_BIN one to measure beside it, run for run in turn (so
// that a busy machine weighs on both alike), reported as old-ms-*.
func BenchmarkLocalStart(b *testing.B) {
	for _, n := range []int{1, 2, 16} {
		b.Run(fmt.Sprintf("process/hosts=%d", n), func(b *testing.B) {
			benchLocalStart(b, n, map[string]any{"Program": []string{"sh", "-c", "echo ready"}})
		})
	}
	b.Run("container/hosts=2", func(b *testing.B) {
		img := testenv.BaseImage(b, "python")
		benchLocalStart(b, 2, map[string]any{"AlgorithmSpecification": map[string]any{
			"TrainingInputMode":   "File",
			"TrainingImage":       img,
			"ContainerEntrypoint": []string{"sh", "-c", "echo ready"},
		}})
	})
}

func benchLocalStart(b *testing.B, hosts int, fields map[string]any) {
	bins := []string{smtrainBinary(b)}
	if old := os.Getenv("SMTRAIN_COMPARE_BIN"); old != "" {
		bins = append(bins, old)
	}
	dir := b.TempDir()
	spec := map[string]any{
		"TrainingJobName":        fmt.Sprintf("start-bench-%d-%d", hosts, os.Getpid()),
		"AlgorithmSpecification": map[string]any{"TrainingInputMode": "File"},
		"OutputDataConfig":       map[string]any{"S3OutputPath": "file://out"},
		"ResourceConfig":         map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": hosts},
		"StoppingCondition":      map[string]any{"MaxRuntimeInSeconds": 600},
	}
	for k, v := range fields {
		spec[k] = v
	}
	data, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	jobFile := filepath.Join(dir, "job.json")
	if err := os.WriteFile(jobFile, data, 0o644); err != nil {
		b.Fatal(err)
	}
	first, all, cpu := make([][]float64, len(bins)), make([][]float64, len(bins)), make([][]float64, len(bins))
	for b.Loop() {
		for i, bin := range bins {
			f, a, c := startOnce(b, bin, jobFile, hosts)
			first[i], all[i], cpu[i] = append(first[i], f), append(all[i], a), append(cpu[i], c)
		}
	}
	b.ReportMetric(median(first[0]), "ms-first")
	b.ReportMetric(median(all[0]), "ms-all")
	b.ReportMetric(median(cpu[0]), "ms-cpu")
	if len(bins) > 1 {
		b.ReportMetric(median(first[1]), "old-ms-first")
		b.ReportMetric(median(all[1]), "old-ms-all")
		b.ReportMetric(median(cpu[1]), "old-ms-cpu")
	}
}

// startOnce runs smtrain local once and returns the milliseconds from its
// start to the first host's line and to the last host's first line, and
// the CPU time of the whole run (smtrain and the processes it waited for).
func startOnce(b *testing.B, bin, jobFile string, hosts int) (first, all, cpu float64) {
	cmd := exec.Command(bin, "local", "-f", jobFile, "--quiet")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(out)
	var lines []string
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if !strings.HasPrefix(line, "[algo-") || !strings.HasSuffix(line, "] ready") {
			continue
		}
		ms := float64(time.Since(start).Microseconds()) / 1000
		if len(seen) == 0 {
			first = ms
		}
		seen[line] = true
		if len(seen) == hosts {
			all = ms
		}
	}
	if err := cmd.Wait(); err != nil || len(seen) != hosts {
		b.Fatalf("%s local: %v; %d of %d hosts printed:\n%s", bin, err, len(seen), hosts, strings.Join(lines, "\n"))
	}
	ps := cmd.ProcessState
	return first, all, float64((ps.UserTime() + ps.SystemTime()).Microseconds()) / 1000
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
