package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The exec protocol, over the instance's SOCK_SEQPACKET control socket, one JSON message per
// packet. The client sends an execRequest with three pipe ends attached (SCM_RIGHTS) for the
// command's stdin, stdout and stderr, and copies between those pipes and its own files. The init
// answers with the pid, and later with the exit code. The client may send signals meanwhile;
// closing the connection kills the command.
//
// Pipes, not the client's own files: guest root can reach into anything its instance holds (it
// may ptrace its init, or pidfd_getfd a command's fds), and the client's own stdio may be the
// operator's terminal. A guest gets only pipes made for this one command.
type execRequest struct {
	Args []string `json:"Args"`
}

type execMessage struct {
	Pid      int    `json:"Pid,omitempty"`
	ExitCode *int   `json:"ExitCode,omitempty"`
	Error    string `json:"Error,omitempty"`
	Signal   int    `json:"Signal,omitempty"`
}

// ErrInstanceGone means the instance stopped or was terminated while the command ran.
var ErrInstanceGone = errors.New("the instance stopped while the command was running")

// Exec runs args in the instance whose init listens on socket, with stdio as the command's stdin,
// stdout and stderr, and returns its exit code. SIGINT, SIGTERM and SIGHUP to the caller are
// passed on to the command.
func Exec(socket string, args []string, stdio [3]*os.File) (int, error) {
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		return 0, fmt.Errorf("connecting to the instance: %w", err)
	}
	defer conn.Close()
	req, err := json.Marshal(execRequest{Args: args})
	if err != nil {
		return 0, err
	}
	guestEnds, proxy, err := execPipes(stdio)
	if err != nil {
		return 0, err
	}
	rights := unix.UnixRights(int(guestEnds[0].Fd()), int(guestEnds[1].Fd()), int(guestEnds[2].Fd()))
	_, _, err = conn.WriteMsgUnix(req, rights, nil)
	for _, f := range guestEnds {
		f.Close() // the init has its copies now; the command's exit then ends our reads
	}
	if err != nil {
		return 0, fmt.Errorf("sending the command: %w", err)
	}
	defer proxy.drain()
	first, err := readMessage(conn)
	if err != nil {
		return 0, err
	}
	if first.Error != "" {
		return 0, &LaunchError{Reason: first.Error}
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			_ = writeMessage(conn, execMessage{Signal: int(s.(syscall.Signal))})
		}
	}()
	last, err := readMessage(conn)
	if err != nil {
		return 0, err
	}
	if last.ExitCode == nil {
		return 0, ErrInstanceGone
	}
	return *last.ExitCode, nil
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

func readMessage(conn *net.UnixConn) (execMessage, error) {
	var m execMessage
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err == io.EOF || (err == nil && n == 0) {
		return m, ErrInstanceGone
	}
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(buf[:n], &m)
}

func writeMessage(conn *net.UnixConn, m execMessage) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = conn.Write(data)
	return err
}

// serveExec accepts exec requests for as long as the init lives.
func serveExec(ln *net.UnixListener, in *initProcess, env []string) {
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			log.Printf("control socket: %v", err)
			return
		}
		go handleExec(conn, in, env)
	}
}

func handleExec(conn *net.UnixConn, in *initProcess, env []string) {
	defer conn.Close()
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	files, err := receivedFiles(oob[:oobn])
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var req execRequest
	if err == nil {
		err = json.Unmarshal(buf[:n], &req)
	}
	if err == nil && (len(files) != 3 || len(req.Args) == 0) {
		err = errors.New("an exec request carries a command and exactly three file descriptors")
	}
	if err != nil {
		_ = writeMessage(conn, execMessage{Error: err.Error()})
		return
	}
	reply := make(chan spawnResult)
	exited := make(chan int, 1)
	in.spawns <- spawnRequest{args: req.Args, env: env, files: files, reply: reply, exited: exited}
	res := <-reply
	if res.err != nil {
		_ = writeMessage(conn, execMessage{Error: res.err.Error()})
		return
	}
	if writeMessage(conn, execMessage{Pid: res.pid}) != nil {
		in.signals <- signalRequest{pid: res.pid, sig: syscall.SIGKILL}
		return
	}
	// Signals from the client go to the command; the client going away kills it. Once the
	// command has been reaped its pid may be reused, so nothing is sent after that.
	finished := make(chan struct{})
	go func() {
		for {
			m, err := readMessage(conn)
			sig := syscall.Signal(m.Signal)
			if err != nil {
				sig = syscall.SIGKILL
			}
			select {
			case <-finished:
				return
			default:
			}
			if sig > 0 {
				in.signals <- signalRequest{pid: res.pid, sig: sig}
			}
			if err != nil {
				return
			}
		}
	}()
	code := <-exited
	close(finished)
	_ = writeMessage(conn, execMessage{ExitCode: &code})
}

func receivedFiles(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return files, err
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "exec-stdio"))
		}
	}
	return files, nil
}
