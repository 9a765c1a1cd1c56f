// Command stepper is the training program of the spot and retry tests: it
// counts STEPPER_STEPS steps of STEPPER_STEP (a duration) each, saves its
// state after every step atomically (a temporary file, synced, renamed) in
// the checkpoint directory, and at each start records what it found there.
//
// Its state (and, at the end, model/history-<host>.json) holds the step reached,
// what each start found, and every step done in order, so a test sees any
// step lost or repeated across attempts. With STEPPER_LOG set it also
// appends "start <host> <found>" and "done <host> <step>" lines to that
// file, which survives attempts. On SIGTERM it exits 143 at once, unless
// STEPPER_IGNORE_TERM=1: then it goes on (and is killed after the grace
// period), writing each checkpoint in two halves with a pause between, so
// the kill may land in the middle of one.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/env"
)

type state struct {
	Step   int   `json:"step"`
	Starts []int `json:"starts"` // the step each start found
	Done   []int `json:"done"`   // steps done, in order
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stepper:", err)
		os.Exit(1)
	}
}

func run() error {
	e, err := env.Load()
	if err != nil {
		return err
	}
	steps, err := strconv.Atoi(os.Getenv("STEPPER_STEPS"))
	if err != nil {
		return fmt.Errorf("STEPPER_STEPS: %w", err)
	}
	each, err := time.ParseDuration(os.Getenv("STEPPER_STEP"))
	if err != nil {
		return fmt.Errorf("STEPPER_STEP: %w", err)
	}
	slow := os.Getenv("STEPPER_IGNORE_TERM") == "1"
	if slow {
		signal.Ignore(syscall.SIGTERM)
	} else {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		go func() {
			<-c
			fmt.Println("SIGTERM: exiting")
			os.Exit(143)
		}()
	}
	host := e.Resources.CurrentHost
	path := filepath.Join(e.Paths.Checkpoints, "stepper-"+host+".json")
	var st state
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	st.Starts = append(st.Starts, st.Step)
	fmt.Printf("start: found step %d\n", st.Step)
	record(fmt.Sprintf("start %s %d", host, st.Step))
	for st.Step < steps {
		time.Sleep(each)
		st.Step++
		st.Done = append(st.Done, st.Step)
		if err := save(path, st, slow, each); err != nil {
			return err
		}
		record(fmt.Sprintf("done %s %d", host, st.Step))
		fmt.Printf("step %d\n", st.Step)
	}
	b, _ := json.Marshal(st)
	return os.WriteFile(filepath.Join(e.Paths.Model, "history-"+host+".json"), b, 0o644)
}

// save writes st to path whole or not at all.
func save(path string, st state, slow bool, pause time.Duration) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".stepper-*.tmp")
	if err != nil {
		return err
	}
	half := len(b) / 2
	_, err = tmp.Write(b[:half])
	if slow && err == nil {
		tmp.Sync()
		time.Sleep(pause)
	}
	if err == nil {
		_, err = tmp.Write(b[half:])
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func record(line string) {
	p := os.Getenv("STEPPER_LOG")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintln(f, line)
	f.Close()
}
