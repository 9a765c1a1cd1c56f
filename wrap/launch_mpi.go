package wrap

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/proc"
)

// The hosts of an MPI launch meet in two ways. Over ssh, as mpirun needs:
// every host runs sshd, and the leader's mpirun starts the ranks of the
// other hosts through it. And over one TCP connection from each worker's
// train to the leader's train (handshakePort), which replaces the Python
// toolkit's polling (the leader retrying ssh logins, workers watching for
// a process named orted, then a status file /tmp/done.<leader> and 30 s
// sleeps): a worker says it is ready once its sshd accepts connections;
// the leader starts mpirun once it could log in to every ready worker;
// when mpirun exits the leader sends each worker the outcome (exit code
// and failure reason), and the worker exits with it. Either side seeing
// the connection drop knows at once that the other is gone.

// handshakePort is where the leader's train listens for the workers'.
const handshakePort = "7776"

// HostWaitVar names the variable that bounds how long the hosts of a
// distributed launch wait for each other to start (a Go duration; default
// DefaultHostWait).
const HostWaitVar = "SMTRAIN_HOST_WAIT"

// DefaultHostWait is how long the leader waits for every worker, and a
// worker for the leader, unless SMTRAIN_HOST_WAIT says otherwise: as long
// as train waits for host names to resolve.
const DefaultHostWait = 15 * time.Minute

// GethostnameLibrary is where an image puts the gethostname library that
// makes gethostname() and uname() return the host's SageMaker name
// (algo-N) in every rank; mpirun preloads it (-x LD_PRELOAD) when the
// leader has it. examples/mpi builds it.
const GethostnameLibrary = "/usr/local/lib/libsmtrain-gethostname.so"

// doneTimeout bounds how long the leader waits for a worker to take the
// outcome and hang up.
const doneTimeout = 10 * time.Second

// message is one line of the handshake, JSON.
type message struct {
	Ready  string `json:"ready,omitempty"` // worker → leader: its host name
	Stop   string `json:"stop,omitempty"`  // worker → leader: a stop signal came
	Done   bool   `json:"done,omitempty"`  // leader → worker: the run is over
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"` // leader → worker: refused
}

const maxMessage = 64 << 10

func send(c net.Conn, m message) error {
	c.SetWriteDeadline(time.Now().Add(doneTimeout))
	return sendTo(c, m)
}

// sendTo writes m as one line.
func sendTo(w io.Writer, m message) error {
	b, _ := json.Marshal(m)
	_, err := w.Write(append(b, '\n'))
	return err
}

func receive(r *bufio.Reader) (message, error) {
	var m message
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return m, errors.New("handshake message too long")
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("bad handshake message %q: %w", line, err)
	}
	return m, nil
}

// remoteError is a worker's outcome as the leader reported it.
type remoteError struct {
	leader string
	code   int
	text   string
}

func (e *remoteError) Error() string {
	return fmt.Sprintf("the run launched by %s failed with exit code %d", e.leader, e.code)
}

func (e *remoteError) reason() string { return e.text }

// hostWait is SMTRAIN_HOST_WAIT, else DefaultHostWait.
func (x *wrapper) hostWait() time.Duration {
	if s := os.Getenv(HostWaitVar); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
		x.cfg.log.Warn(HostWaitVar+": want a duration such as 5m; using the default", "got", s, "default", DefaultHostWait)
	}
	return DefaultHostWait
}

// hostAddress resolves the current host's name to the address its sshd
// and the handshake listen on.
func hostAddress(ctx context.Context, host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return host, nil
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			return a, nil
		}
	}
	return addrs[0], nil
}

// launchMPI runs the program under mpirun: the leader launches every
// rank, a worker serves ssh until the leader reports the outcome.
func (x *wrapper) launchMPI(ctx context.Context, l launch, program []string, pk programKind, environ []string, code string) error {
	log := x.cfg.log
	rank, err := launchedProgram(l.kind, pk, program)
	if err != nil {
		return err
	}
	if err := writeRankEnv(x.env.Paths.Base, environ); err != nil {
		return failure.Platform(fmt.Errorf("the environment of this host's ranks: %w", err))
	}
	ssh, err := sshFromEnviron()
	if err != nil {
		return err
	}
	workers := slices.DeleteFunc(slices.Clone(l.hosts), func(h string) bool { return h == l.leader })
	var (
		server *sshd
		ln     net.Listener
	)
	if len(workers) > 0 {
		if ssh.addr, err = hostAddress(ctx, l.current); err != nil {
			return failure.Platform(fmt.Errorf("resolve this host's name %s: %w", l.current, err))
		}
		if l.current == l.leader {
			// Listening first lets the workers say they are ready while
			// this sshd starts.
			if ln, err = net.Listen("tcp", net.JoinHostPort(ssh.addr, handshakePort)); err != nil {
				return failure.Platform(fmt.Errorf("listen for the workers: %w", err))
			}
			defer ln.Close()
		}
		confDir := filepath.Join(x.env.Paths.Base, filepath.Dir(rankEnvFile))
		if server, err = x.startSSHD(ctx, ssh, confDir, os.Getenv(env.BaseDirVar)); err != nil {
			return err
		}
		defer server.stop()
	}
	if l.current != l.leader {
		log.Info("MPI worker: serving ssh until the leader's run is over", "leader", l.leader, "launcher", l.kind.String())
		return x.serve(ctx, l, server)
	}
	self, err := os.Executable()
	if err != nil {
		return failure.Platform(fmt.Errorf("locate train for the ranks: %w", err))
	}
	rank = append([]string{self, execRankArg}, rank...)
	preload := ""
	if _, err := os.Stat(GethostnameLibrary); err == nil {
		preload = GethostnameLibrary
	}
	var argv []string
	if l.kind == launchSMDDP {
		argv = smddpArgv(l, preload, x.env.SMDDPRun, rank)
	} else {
		mp, err := modelParallelArgs(x.env.MPParameters, os.Getenv(torchVersionVar), l.itype, x.env.SMDDPMPRun)
		if err != nil {
			return failure.Client(err)
		}
		argv = mpirunArgv(l, mpiCommand{preload: preload, credentials: awsCredentials(), mp: mp, program: rank})
	}
	if a := ssh.clientArgs(); len(a) > 0 {
		environ = append(environ, "OMPI_MCA_plm_rsh_args="+strings.Join(a, " "))
	}
	if argv[0], err = exec.LookPath(argv[0]); err != nil {
		return failure.WithExitCode(failure.Client(fmt.Errorf("%s needs Open MPI's mpirun on the leader: %w", l.kind, err)), 127)
	}
	return x.lead(ctx, l, ln, workers, ssh, argv, rank, environ, code)
}

// worker is the leader's view of one worker's train.
type worker struct {
	host string
	conn net.Conn
	stop chan string   // a stop signal the worker passed on
	gone chan struct{} // closed when the connection ends
	err  error         // why it ended, once gone is closed
}

// read takes the worker's messages until the connection ends.
func (w *worker) read(in *bufio.Reader) {
	defer close(w.gone)
	for {
		m, err := receive(in)
		if err != nil {
			w.err = err
			return
		}
		if m.Stop != "" {
			select {
			case w.stop <- m.Stop:
			default:
			}
		}
	}
}

// lead waits for every worker, runs mpirun, and reports its outcome to
// the workers.
func (x *wrapper) lead(ctx context.Context, l launch, ln net.Listener, workers []string, ssh sshSetup, argv, rankProgram, environ []string, code string) (err error) {
	log := x.cfg.log
	start := time.Now()
	conns, err := x.gather(ctx, l, ln, workers, ssh)
	defer func() {
		x.finish(conns, err)
	}()
	if err != nil {
		if serr := x.stopped(ctx); serr != nil {
			return serr
		}
		return err
	}
	if len(workers) > 0 {
		log.Info("every worker is ready", "workers", workers, "after", time.Since(start).Round(time.Millisecond))
	}

	// mpirun is stopped (SIGTERM, SIGKILL after the grace period) when a
	// stop signal comes, when a worker passes one on, or when a worker's
	// train goes away: the job cannot complete without it.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for _, w := range conns {
		go func() {
			select {
			case sig := <-w.stop:
				log.Warn("a worker was asked to stop: stopping the run", "worker", w.host, "signal", sig)
				cancel(fmt.Errorf("%s was stopped by %s", w.host, sig))
			case <-w.gone:
				cancel(&lostError{host: w.host, err: w.err})
			case <-runCtx.Done():
			}
		}()
	}
	log.Info("Invoking user script", "command", boundedCommand(argv), "cwd", code)
	runStart := time.Now()
	err = x.spawn(runCtx, "ExecuteUserScriptError", argv, environ, code, true)
	log.Info("mpirun exited", "exit", failure.ExitCode(err), "after", time.Since(runStart).Round(time.Millisecond))
	var xe *exitError
	if errors.As(err, &xe) {
		xe.Stderr, xe.Note = mpiStderr(xe.Stderr)
		var le *lostError
		if ctx.Err() == nil && errors.As(context.Cause(runCtx), &le) {
			xe.Note = "mpirun was stopped: " + le.Error()
		}
		// The whole command is in the log; the failure file names the
		// launch and the rank's command.
		xe.Argv = append(append(slices.Clone(argv[:5]), "..."), rankProgram...)
	}
	return err
}

// lostError is a worker's train gone during the run.
type lostError struct {
	host string
	err  error
}

func (e *lostError) Error() string {
	return fmt.Sprintf("the train of %s went away during the run (%v)", e.host, e.err)
}

// gather accepts the workers' connections until every worker is ready
// and the leader can log in to it over ssh, or the wait runs out.
func (x *wrapper) gather(ctx context.Context, l launch, ln net.Listener, workers []string, ssh sshSetup) ([]*worker, error) {
	if len(workers) == 0 {
		return nil, nil
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		return nil, failure.Clientf("a distributed launch over MPI needs the ssh client on the leader: %v (Debian/Ubuntu: apt-get install openssh-client)", err)
	}
	log := x.cfg.log
	wait := x.hostWait()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	go func() { <-ctx.Done(); ln.Close() }()

	type result struct {
		w   *worker
		err error
	}
	results := make(chan result, len(workers))
	pending := map[string]bool{}
	for _, h := range workers {
		pending[h] = true
	}
	var mu sync.Mutex
	claimed := map[string]bool{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				in := bufio.NewReaderSize(c, maxMessage)
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				m, err := receive(in)
				c.SetReadDeadline(time.Time{})
				if err != nil {
					c.Close()
					return
				}
				mu.Lock()
				ok := slices.Contains(workers, m.Ready) && !claimed[m.Ready]
				claimed[m.Ready] = claimed[m.Ready] || ok
				mu.Unlock()
				if !ok {
					send(c, message{Error: fmt.Sprintf("%q is not a worker of this launch, or is connected already (workers: %s)", m.Ready, strings.Join(workers, ", "))})
					c.Close()
					return
				}
				w := &worker{host: m.Ready, conn: c, stop: make(chan string, 1), gone: make(chan struct{})}
				go w.read(in)
				if err := x.probeSSH(ctx, ssh, w.host); err != nil {
					results <- result{w, err}
					return
				}
				results <- result{w: w}
			}()
		}
	}()

	var conns []*worker
	var errs []error
	for len(pending) > 0 {
		select {
		case r := <-results:
			delete(pending, r.w.host)
			conns = append(conns, r.w)
			if r.err != nil {
				errs = append(errs, r.err)
				continue
			}
			log.Info("worker ready", "worker", r.w.host)
		case <-ctx.Done():
			var silent, noLogin []string
			mu.Lock()
			for _, h := range workers {
				switch {
				case pending[h] && claimed[h]:
					noLogin = append(noLogin, h)
				case pending[h]:
					silent = append(silent, h)
				}
			}
			mu.Unlock()
			if len(silent) > 0 {
				errs = append(errs, fmt.Errorf("%s: no word from the train of %s within %s (%s): did it start, and can it reach %s port %s?",
					l.kind, strings.Join(silent, ", "), wait, HostWaitVar, l.leader, handshakePort))
			}
			if len(noLogin) > 0 {
				errs = append(errs, fmt.Errorf("%s: the sshd of %s, ready, never accepted a login within %s (%s)",
					l.kind, strings.Join(noLogin, ", "), wait, HostWaitVar))
			}
			if context.Cause(ctx) != context.DeadlineExceeded {
				errs = []error{context.Cause(ctx)}
			}
			return conns, failure.Platform(errors.Join(errs...))
		}
	}
	if len(errs) > 0 {
		return conns, failure.Client(errors.Join(errs...))
	}
	return conns, nil
}

// probeSSH logs in to host as mpirun will (ssh HOST true with the same
// options), retrying while the server is not there yet; a refused login
// fails at once.
func (x *wrapper) probeSSH(ctx context.Context, ssh sshSetup, host string) error {
	args := append(ssh.clientArgs(), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", host, "true")
	delay := 50 * time.Millisecond
	for {
		cmd := exec.CommandContext(ctx, "ssh", args...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "Permission denied") || strings.Contains(msg, "Host key verification failed") ||
			strings.Contains(msg, "Too many authentication failures") {
			return fmt.Errorf("ssh to %s (as mpirun will: ssh %s) is refused: %s; the hosts need one key pair "+
				"(the client key's public half in authorized_keys) and StrictHostKeyChecking no", host, entry.Quote(args), msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ssh to %s: %v (last: %s)", host, context.Cause(ctx), msg)
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// finish sends every connected worker the outcome of the run and waits
// (a bounded time) for each to hang up.
func (x *wrapper) finish(conns []*worker, err error) {
	m := message{Done: true}
	if err != nil {
		m.Code = failure.ExitCode(err)
		m.Reason = err.Error()
		var r reasoner
		if errors.As(err, &r) {
			m.Reason = r.reason()
		}
	}
	var wg sync.WaitGroup
	for _, w := range conns {
		wg.Go(func() {
			defer w.conn.Close()
			if err := send(w.conn, m); err != nil {
				x.cfg.log.Warn("could not tell a worker the run is over", "worker", w.host, "err", err)
				return
			}
			select {
			case <-w.gone:
			case <-time.After(doneTimeout):
				x.cfg.log.Warn("a worker did not hang up after the run", "worker", w.host)
			}
		})
	}
	wg.Wait()
}

// serve is a worker's part: tell the leader this host is ready, then wait
// for the outcome. A stop signal is passed to the leader (which stops
// mpirun, and so every rank) and to this host's ranks directly.
func (x *wrapper) serve(ctx context.Context, l launch, server *sshd) error {
	log := x.cfg.log
	wait := x.hostWait()
	leader := net.JoinHostPort(l.leader, handshakePort)
	dialCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var conn net.Conn
	delay := 20 * time.Millisecond
	for conn == nil {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(dialCtx, "tcp", leader)
		if err == nil {
			conn = c
			break
		}
		select {
		case <-dialCtx.Done():
			if serr := x.stopped(ctx); serr != nil {
				return serr
			}
			return failure.Platform(fmt.Errorf("%s worker: the leader %s never answered on port %s within %s (%s): %v", l.kind, l.leader, handshakePort, wait, HostWaitVar, err))
		case <-time.After(delay):
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
	defer conn.Close()
	if err := send(conn, message{Ready: l.current}); err != nil {
		return failure.Platform(fmt.Errorf("tell the leader %s this host is ready: %w", l.leader, err))
	}
	msgs := make(chan message, 1)
	errc := make(chan error, 1)
	go func() {
		in := bufio.NewReaderSize(conn, maxMessage)
		for {
			m, err := receive(in)
			if err != nil {
				errc <- err
				return
			}
			msgs <- m
			if m.Done || m.Error != "" {
				return
			}
		}
	}()
	var (
		stopSig  syscall.Signal
		stopping = ctx.Done()
		graceEnd <-chan time.Time
		again    = x.stops.Again()
	)
	for {
		select {
		case m := <-msgs:
			if m.Error != "" {
				return failure.Client(fmt.Errorf("the leader %s refused this host: %s", l.leader, m.Error))
			}
			if stopSig != 0 {
				if m.Code == 0 {
					log.Info("the run ended with success after a stop request", "signal", stopSig)
					return nil
				}
				return stopError(stopSig, fmt.Errorf("the run launched by %s ended with exit code %d", l.leader, m.Code))
			}
			if m.Code == 0 {
				log.Info("the leader reports the run is over", "leader", l.leader)
				return nil
			}
			reason := m.Reason
			if reason == "" {
				reason = fmt.Sprintf("the run launched by %s failed with exit code %d", l.leader, m.Code)
			}
			return failure.WithExitCode(failure.Algorithm(&remoteError{leader: l.leader, code: m.Code, text: reason}), m.Code)
		case err := <-errc:
			if stopSig != 0 {
				return stopError(stopSig, fmt.Errorf("the leader %s hung up: %v", l.leader, err))
			}
			return failure.Platform(fmt.Errorf("%s worker: the connection to the leader %s ended before the run was over (its train stopped or failed): %v", l.kind, l.leader, err))
		case <-stopping:
			stopping = nil
			stopSig, _ = x.stops.Signal()
			log.Warn("stop signal: passing it to the leader and to this host's ranks", "signal", stopSig, "grace", x.cfg.grace)
			send(conn, message{Stop: proc.SigName(stopSig)})
			server.signalSessions(stopSig)
			graceEnd = time.After(x.cfg.grace)
		case <-graceEnd:
			log.Error("grace period over: killing this host's ranks")
			server.signalSessions(syscall.SIGKILL)
			return stopError(stopSig, fmt.Errorf("the grace period (%s) ran out before the leader reported the end of the run", x.cfg.grace))
		case sig := <-again:
			log.Warn("second stop signal: killing this host's ranks now", "signal", sig)
			server.signalSessions(syscall.SIGKILL)
			return stopError(stopSig, fmt.Errorf("killed by a second signal (%s)", proc.SigName(sig)))
		}
	}
}

// stopError is a worker's outcome after a stop signal.
func stopError(sig syscall.Signal, err error) error {
	return failure.WithExitCode(failure.Client(fmt.Errorf("stopped by %s: %w", proc.SigName(sig), err)), proc.SigExitCode(sig))
}

// boundedCommand renders argv for the log, cut to maxLoggedCommand
// characters.
func boundedCommand(argv []string) string {
	s := entry.Quote(argv)
	if len(s) > maxLoggedCommand {
		return fmt.Sprintf("%s... (%d more bytes)", strings.ToValidUTF8(s[:maxLoggedCommand], ""), len(s)-maxLoggedCommand)
	}
	return s
}

// maxLoggedCommand bounds the command line written to the log.
const maxLoggedCommand = 4096

// mpiStderr picks, from the end of mpirun's stderr, what explains a
// failure, and names the failing rank when Open MPI's closing notice does.
// The ranks' own stderr lines (tagged [job,rank]<stderr>: by --tag-output)
// come before that notice, which would otherwise fill the failure file:
// the failing rank's lines are kept, else every rank's, else (no rank
// wrote anything) the notice itself.
func mpiStderr(tail string) (stderr, note string) {
	lines := strings.Split(tail, "\n")
	rank := ""
	for _, l := range lines {
		for _, re := range mpiOutput().failedRank {
			if m := re.FindStringSubmatch(l); m != nil {
				rank = m[1]
				note = strings.TrimSpace("mpirun reports rank " + rank + " " + m[2])
			}
		}
	}
	var all, failed []string
	for _, l := range lines {
		m := mpiOutput().rankTag.FindStringSubmatch(l)
		if m == nil || m[2] != "stderr" {
			continue
		}
		// Open MPI tags a line's pieces as they arrive: keep the tag at
		// its start only.
		l = m[0] + mpiOutput().innerTag.ReplaceAllString(l[len(m[0]):], "")
		if l == m[0] {
			continue
		}
		all = append(all, l)
		if m[1] == rank {
			failed = append(failed, l)
		}
	}
	switch {
	case len(failed) > 0:
		return strings.Join(failed, "\n"), note
	case len(all) > 0:
		return strings.Join(all, "\n"), note
	}
	return tail, note
}

// mpiOutput are the patterns of mpirun's output, compiled when an MPI
// program's failure is explained rather than at every start of train.
var mpiOutput = sync.OnceValue(func() (p struct {
	rankTag, innerTag *regexp.Regexp
	failedRank        []*regexp.Regexp
}) {
	p.rankTag = regexp.MustCompile(`^\[\d+,(\d+)\]<(stdout|stderr)>:`)
	p.innerTag = regexp.MustCompile(`\[\d+,\d+\]<(stdout|stderr)>:`)
	p.failedRank = []*regexp.Regexp{
		// Open MPI 4 and 5's notices.
		regexp.MustCompile(`^MPI_ABORT was invoked on rank (\d+) (in communicator .*)$`),
		regexp.MustCompile(`^mpirun noticed that process rank (\d+) (with PID \d+ on node .*)$`),
		regexp.MustCompile(`^\s*Process name: \[\[\d+,\d+\],(\d+)\]()$`),
		regexp.MustCompile(`^\s*Proc: \[\[\d+,\d+\],(\d+)\]()$`),
	}
	return p
})
