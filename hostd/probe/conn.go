package probe

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// ConnResult is what `probe connect` and `probe listen` print.
type ConnResult struct {
	Proto    string `json:"Proto"`
	Local    string `json:"Local,omitempty"`
	Remote   string `json:"Remote,omitempty"`
	Sent     string `json:"Sent,omitempty"`
	Received string `json:"Received,omitempty"`
}

// Connect sends message to addr over proto (tcp or udp) and waits up to timeout for the
// listener's reply.
func Connect(proto, addr, message string, timeout time.Duration) (*ConnResult, error) {
	if proto != "tcp" && proto != "udp" {
		return nil, fmt.Errorf("--proto must be tcp or udp, not %q", proto)
	}
	conn, err := net.DialTimeout(proto+"4", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte(message)); err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("no reply from %s within %s: %w", addr, timeout, err)
	}
	return &ConnResult{Proto: proto, Local: conn.LocalAddr().String(), Remote: conn.RemoteAddr().String(), Sent: message, Received: string(buf[:n])}, nil
}

// Listen waits up to timeout for one connection (tcp) or datagram (udp) on port, reads one
// message, answers "echo: " and the message, and reports who sent what.
func Listen(proto string, port int, timeout time.Duration) (*ConnResult, error) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 64<<10)
	switch proto {
	case "tcp":
		ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		_ = ln.(*net.TCPListener).SetDeadline(deadline)
		conn, err := ln.Accept()
		if err != nil {
			return nil, timeoutError(err, timeout)
		}
		defer conn.Close()
		_ = conn.SetDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		_, err = conn.Write(append([]byte("echo: "), buf[:n]...))
		return &ConnResult{Proto: proto, Local: conn.LocalAddr().String(), Remote: conn.RemoteAddr().String(), Received: string(buf[:n])}, err
	case "udp":
		pc, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		if err != nil {
			return nil, err
		}
		defer pc.Close()
		_ = pc.SetDeadline(deadline)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return nil, timeoutError(err, timeout)
		}
		_, err = pc.WriteTo(append([]byte("echo: "), buf[:n]...), from)
		return &ConnResult{Proto: proto, Local: pc.LocalAddr().String(), Remote: from.String(), Received: string(buf[:n])}, err
	}
	return nil, fmt.Errorf("--proto must be tcp or udp, not %q", proto)
}

func timeoutError(err error, timeout time.Duration) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("nothing arrived within %s", timeout)
	}
	return err
}
