package guest

import (
	"fmt"
	"io"
	"os"
)

// consoleLimit is the most of a workload's output the console log holds; past it the log starts
// over, so it keeps the latest output.
const consoleLimit = 8 << 20

// CopyConsole appends the workload's output (src, until every writer has gone) to the console
// log at path, for as long as it lasts. A daemon restarted mid-way resumes the same log.
func CopyConsole(path string, src io.Reader) error {
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
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

// copyCapped copies src to the file dst, which holds written bytes already, emptying dst whenever
// it would pass limit bytes.
func copyCapped(dst *os.File, src io.Reader, limit, written int64) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if written+int64(n) > limit {
				if err := dst.Truncate(0); err != nil {
					return err
				}
				m, _ := fmt.Fprintf(dst, "[hostd: console log passed %d bytes; earlier output dropped]\n", limit)
				written = int64(m)
			}
			m, werr := dst.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
