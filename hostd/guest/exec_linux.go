package guest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hostd/hostd/hostd/guest/initc"
)

// Exec, over the instance's control socket (see initc's wire.h): the client sends EXEC with the
// arguments and three pipe ends attached for the command's stdin, stdout and stderr, and copies
// between those pipes and its own files. The init answers with the pid, and later the exit code.
// The client may send signals meanwhile; closing the connection kills the command. The init
// serves exec whether or not a daemon runs.
//
// Pipes, not the client's own files: the command is guest code, and the client's stdio may be the
// operator's terminal. A guest gets only pipes made for this one command.

// ErrInstanceGone means the instance stopped or was terminated while the command ran.
var ErrInstanceGone = errors.New("the instance stopped while the command was running")

// Exec runs args in the instance whose init listens on socket, with stdio as the command's stdin,
// stdout and stderr, and returns its exit code. SIGINT, SIGTERM and SIGHUP to the caller are
// passed on to the command.
func Exec(socket string, args []string, stdio [3]*os.File) (int, error) {
	req, err := initc.Args(args)
	if err != nil {
		return 0, err
	}
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		return 0, fmt.Errorf("connecting to the instance: %w", err)
	}
	defer conn.Close()
	guestEnds, proxy, err := execPipes(stdio)
	if err != nil {
		return 0, err
	}
	err = initc.Send(conn, initc.MsgExec, req, guestEnds[:]...)
	for _, f := range guestEnds {
		f.Close() // the init has its copies now; the command's exit then ends our reads
	}
	if err != nil {
		return 0, fmt.Errorf("sending the command: %w", err)
	}
	defer proxy.drain()
	first, err := receive(conn)
	if err != nil {
		return 0, err
	}
	switch first.Type {
	case initc.MsgError:
		return 0, &LaunchError{Reason: string(first.Payload)}
	case initc.MsgPid:
	default:
		return 0, fmt.Errorf("the instance's init answered message %d", first.Type)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			_ = initc.Send(conn, initc.MsgSignal, initc.Uint32(uint32(s.(syscall.Signal))))
		}
	}()
	last, err := receive(conn)
	if err != nil {
		return 0, err
	}
	if last.Type != initc.MsgExit {
		return 0, fmt.Errorf("the instance's init answered message %d", last.Type)
	}
	code, err := initc.ParseInt32(last.Payload)
	return int(code), err
}

// receive reads the init's next answer; the connection ending means the instance did.
func receive(conn *net.UnixConn) (initc.Message, error) {
	m, err := initc.Receive(conn)
	if errors.Is(err, io.EOF) {
		return m, ErrInstanceGone
	}
	m.Close()
	return m, err
}

// execProxy copies between the client's stdio and the command's pipes.
type execProxy struct {
	outputs sync.WaitGroup
	readers []*os.File
}

// execPipes makes the command's stdin, stdout and stderr pipes, starts copying, and returns the
// ends that go to the guest.
func execPipes(stdio [3]*os.File) (guestEnds [3]*os.File, p *execProxy, err error) {
	p = &execProxy{}
	inR, inW, err := os.Pipe()
	if err != nil {
		return guestEnds, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return guestEnds, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return guestEnds, nil, err
	}
	go func() {
		_, _ = io.Copy(inW, stdio[0])
		inW.Close() // end of input reaches the command
	}()
	for _, c := range [][2]*os.File{{stdio[1], outR}, {stdio[2], errR}} {
		p.outputs.Add(1)
		p.readers = append(p.readers, c[1])
		go func(dst, src *os.File) {
			defer p.outputs.Done()
			_, _ = io.Copy(dst, src)
		}(c[0], c[1])
	}
	return [3]*os.File{inR, outW, errW}, p, nil
}

// drain waits for the command's output to end: at once, normally, since the command has exited;
// at most a second when something it left in the background still holds its stdout.
func (p *execProxy) drain() {
	done := make(chan struct{})
	go func() { p.outputs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		for _, r := range p.readers {
			_ = r.SetReadDeadline(time.Now())
		}
		<-done
	}
}
