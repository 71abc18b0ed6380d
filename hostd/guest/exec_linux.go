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
	"syscall"

	"golang.org/x/sys/unix"
)

// The exec protocol, over the instance's SOCK_SEQPACKET control socket, one JSON message per
// packet. The client sends an execRequest with its stdin, stdout and stderr attached (SCM_RIGHTS),
// so the command reads and writes the client's own files with no copying in between. The init
// answers with the pid, and later with the exit code. The client may send signals meanwhile;
// closing the connection kills the command.
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
	rights := unix.UnixRights(int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd()))
	if _, _, err := conn.WriteMsgUnix(req, rights, nil); err != nil {
		return 0, fmt.Errorf("sending the command: %w", err)
	}
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
