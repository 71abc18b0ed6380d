package probe

import (
	"fmt"
	"io"
	"net"
	"time"
)

// The first byte a client sends tells the server what to do with the connection.
const (
	modeBulk = 'B' // discard everything: throughput
	modeRR   = 'R' // echo each byte: request/response
)

// PerfResult is what `probe bulk` and `probe rr` print.
type PerfResult struct {
	Addr         string  `json:"Addr"`
	Seconds      float64 `json:"Seconds"`
	Bytes        int64   `json:"Bytes,omitempty"`
	Gbps         float64 `json:"Gbps,omitempty"`
	Transactions int64   `json:"Transactions,omitempty"`
	PerSecond    float64 `json:"PerSecond,omitempty"`
	// MaxGapMicros is the longest transaction: a packet lost and sent again shows as a gap of a
	// retransmission timeout (200 ms or more).
	MaxGapMicros int64 `json:"MaxGapMicros,omitempty"`
	// P50Micros and P99Micros are the transactions' median and 99th percentile (dns, metadata).
	P50Micros int64 `json:"P50Micros,omitempty"`
	P99Micros int64 `json:"P99Micros,omitempty"`
}

// transactionTimeout ends a request/response run whose connection stopped answering.
const transactionTimeout = 3 * time.Second

// Serve answers bulk and request/response clients on a TCP port for d, and echoes whatever UDP
// comes to the same port (a service such as DNS, which a flood keeps busy).
func Serve(port int, d time.Duration) error {
	ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	defer ln.Close()
	udp, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	defer udp.Close()
	go echo(udp)
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(d))
	for {
		conn, err := ln.Accept()
		if err != nil {
			return nil // the deadline: done
		}
		go serveConn(conn)
	}
}

// echo sends each datagram back to its sender until conn is closed.
func echo(conn net.PacketConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = conn.WriteTo(buf[:n], from)
	}
}

func serveConn(conn net.Conn) {
	defer conn.Close()
	mode := make([]byte, 1)
	if _, err := io.ReadFull(conn, mode); err != nil {
		return
	}
	if mode[0] == modeBulk {
		_, _ = io.Copy(io.Discard, conn)
		return
	}
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(conn, b); err != nil {
			return
		}
		if _, err := conn.Write(b); err != nil {
			return
		}
	}
}

// Bulk sends as much as it can over one TCP connection for d.
func Bulk(addr string, d time.Duration) (*PerfResult, error) {
	conn, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	buf := make([]byte, 128<<10)
	buf[0] = modeBulk
	var sent int64
	start := time.Now()
	for time.Since(start) < d {
		n, err := conn.Write(buf)
		sent += int64(n)
		if err != nil {
			return nil, err
		}
	}
	secs := time.Since(start).Seconds()
	return &PerfResult{Addr: addr, Seconds: secs, Bytes: sent, Gbps: float64(sent) * 8 / secs / 1e9}, nil
}

// RequestResponse bounces one byte back and forth over one TCP connection for d.
func RequestResponse(addr string, d time.Duration) (*PerfResult, error) {
	conn, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{modeRR}); err != nil {
		return nil, err
	}
	b := []byte{1}
	var n int64
	var maxGap time.Duration
	start := time.Now()
	for time.Since(start) < d {
		t := time.Now()
		_ = conn.SetDeadline(t.Add(transactionTimeout))
		if _, err := conn.Write(b); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(conn, b); err != nil {
			return nil, fmt.Errorf("after %d transactions: %w", n, err)
		}
		maxGap = max(maxGap, time.Since(t))
		n++
	}
	secs := time.Since(start).Seconds()
	return &PerfResult{Addr: addr, Seconds: secs, Transactions: n, PerSecond: float64(n) / secs, MaxGapMicros: maxGap.Microseconds()}, nil
}

// Connections opens and closes TCP connections to addr one after another for d, or until it made
// count of them (count < 0: no count): each is a new flow for every firewall on the way.
func Connections(addr string, d time.Duration, count int64) (*PerfResult, error) {
	var n int64
	start := time.Now()
	for time.Since(start) < d && n != count {
		conn, err := net.DialTimeout("tcp4", addr, transactionTimeout)
		if err != nil {
			return nil, fmt.Errorf("after %d connections: %w", n, err)
		}
		// Closed with a reset, not a FIN: no TIME_WAIT, so the client's ports do not run out.
		_ = conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
		n++
	}
	secs := time.Since(start).Seconds()
	return &PerfResult{Addr: addr, Seconds: secs, Transactions: n, PerSecond: float64(n) / secs}, nil
}
