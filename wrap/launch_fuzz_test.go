package wrap

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseCustomOptions: no input panics; without an error, every token
// of the input is kept or was --NCCL_DEBUG's (prefix and value).
func FuzzParseCustomOptions(f *testing.F) {
	for _, s := range []string{"", "-v --lr 35", "--NCCL_DEBUG WARN -x A=1", "--NCCL=INFO", "--NCCL_DEBUG", "--N --", "-X NCCL_DEBUG=WARN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nccl, rest, err := parseCustomOptions(s)
		if err != nil {
			return
		}
		if nccl == "" {
			t.Fatalf("%q: empty NCCL_DEBUG", s)
		}
		if len(rest) > len(strings.Fields(s)) {
			t.Fatalf("%q: %d tokens kept of %d", s, len(rest), len(strings.Fields(s)))
		}
	})
}

// FuzzReceive: a handshake line of any bytes is a message or an error,
// never a panic, and a message sent is received as sent.
func FuzzReceive(f *testing.F) {
	for _, s := range []string{`{"ready":"algo-2"}`, `{"done":true,"code":3,"reason":"x\ny"}`, `{"stop":"SIGTERM"}`, `{`, `[]`, "\xff"} {
		f.Add([]byte(s + "\n"))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := receive(bufio.NewReaderSize(bytes.NewReader(line), maxMessage))
		if err != nil || !utf8.Valid(line) {
			return
		}
		var buf bytes.Buffer
		sendTo(&buf, m)
		again, err := receive(bufio.NewReaderSize(&buf, maxMessage))
		if err != nil || again != m {
			t.Fatalf("%q: sent %+v, received %+v (%v)", line, m, again, err)
		}
	})
}

// FuzzRankEnviron: whatever the session and the file hold, the host's own
// variables come from the file, and nothing is lost of either.
func FuzzRankEnviron(f *testing.F) {
	f.Add("PATH=/bin\x00SM_CURRENT_HOST=algo-1\x00OMPI_COMM_WORLD_RANK=3", "SM_CURRENT_HOST=algo-2\x00PATH=/usr/bin\x00AWS_REGION=x\x00")
	f.Add("", "")
	f.Add("A\x00=\x00B=", "=x\x00\x00C")
	f.Fuzz(func(t *testing.T, session, file string) {
		sess := strings.Split(session, "\x00")
		got := rankEnviron(sess, []byte(file))
		values := map[string]string{}
		for _, kv := range got {
			k, v, _ := strings.Cut(kv, "=")
			values[k] = v
		}
		for _, kv := range strings.Split(file, "\x00") {
			if kv == "" {
				continue
			}
			k, _, _ := strings.Cut(kv, "=")
			if _, ok := values[k]; !ok {
				t.Fatalf("file's %q lost", k)
			}
		}
		for _, kv := range sess {
			k, _, _ := strings.Cut(kv, "=")
			if _, ok := values[k]; !ok && !hostOwned(k) {
				t.Fatalf("session's %q lost", k)
			}
		}
	})
}

// FuzzMPIStderr: any tail gives valid text no longer than the tail.
func FuzzMPIStderr(f *testing.F) {
	f.Add("[1,3]<stderr>:boom[1,3]<stderr>:\nMPI_ABORT was invoked on rank 3 in communicator MPI_COMM_WORLD")
	f.Add("  Process name: [[123,1],2]\n[1,2]<stderr>:x")
	f.Add("")
	f.Fuzz(func(t *testing.T, tail string) {
		stderr, note := mpiStderr(tail)
		if len(stderr) > len(tail) {
			t.Fatalf("%q grew to %q", tail, stderr)
		}
		_ = note
	})
}

// FuzzMissingInterpreter: any first line explains itself or says nothing,
// never panics.
func FuzzMissingInterpreter(f *testing.F) {
	for _, s := range []string{"#!/bin/sh\r\n", "#!/usr/bin/env python3\n", "#!\n", "#! /nope -x", "plain"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, head []byte) {
		p := filepath.Join(dir, "prog")
		if err := os.WriteFile(p, head, 0o755); err != nil {
			t.Fatal(err)
		}
		why := missingInterpreter(p)
		if why != "" && !strings.Contains(why, p) {
			t.Fatalf("%q: %q does not name the file", head, why)
		}
	})
}
