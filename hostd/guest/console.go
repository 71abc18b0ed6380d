package guest

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// consoleLimit is the most of a workload's output the console log holds; past it the log starts
// over, so it keeps the latest output.
const consoleLimit = 8 << 20

// CopyConsole appends the workload's output (the pipe src, until every writer has gone) to the
// console log at path. The bytes move from the pipe to the file inside the kernel (splice), so a
// daemon killed at any moment loses none: what it has not moved is still in the pipe for the next
// daemon, which resumes the same log.
func CopyConsole(path string, src *os.File) error {
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer dst.Close()
	st, err := dst.Stat()
	if err != nil {
		return err
	}
	return copyCapped(dst, src, consoleLimit, st.Size())
}

// copyCapped moves src into the file dst from offset written on, emptying dst whenever it reaches
// limit bytes.
func copyCapped(dst, src *os.File, limit, written int64) error {
	raw, err := src.SyscallConn()
	if err != nil {
		return err
	}
	for {
		if written >= limit {
			if err := dst.Truncate(0); err != nil {
				return err
			}
			marker := fmt.Sprintf("[hostd: console log passed %d bytes; earlier output dropped]\n", limit)
			if _, err := dst.WriteAt([]byte(marker), 0); err != nil {
				return err
			}
			written = int64(len(marker))
		}
		var n int64
		var serr error
		err := raw.Read(func(fd uintptr) bool {
			n, serr = unix.Splice(int(fd), nil, int(dst.Fd()), &written, int(min(64<<10, limit-written)), unix.SPLICE_F_NONBLOCK)
			return !errors.Is(serr, unix.EAGAIN)
		})
		switch {
		case err != nil:
			return err
		case serr != nil:
			return serr
		case n == 0: // every writer has gone
			return nil
		}
	}
}
