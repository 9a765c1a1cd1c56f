// Package mototest starts a moto server (AWS service mocks) for tests of
// the SageMaker launcher: a real HTTP server on loopback, like httptest.
package mototest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sagemaker-go/training/internal/testenv"
)

// Start runs `python3 -m moto.server` on a free loopback port for the test
// and returns its URL once it is listening; it is stopped at cleanup. Where
// python3 or moto (with its server extra) is missing, the test is skipped,
// or fails under SMTRAIN_TEST_STRICT=1.
func Start(t testing.TB) string {
	t.Helper()
	testenv.NeedPythonModule(t, "moto")
	testenv.NeedPythonModule(t, "flask") // moto.server needs moto[server]
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})

	// moto (werkzeug) says "Running on http://127.0.0.1:PORT" once it
	// listens.
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var seen []string
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, fmt.Sprintf("Running on http://127.0.0.1:%d", port)) {
				ready <- nil
				for sc.Scan() { // keep draining so moto never blocks on its log
				}
				return
			}
			seen = append(seen, line)
		}
		ready <- fmt.Errorf("moto exited before listening: %s", strings.Join(seen, "\n"))
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("moto did not start listening within 60s")
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}
