package memscrub

import (
	"errors"

	"golang.org/x/sys/unix"
)

// fallocate is fallocate(2), retried when a signal interrupts it: tmpfs gives up with EINTR on
// any pending signal, and Go's runtime signals its threads (preemption) at any time. Every mode
// used here is idempotent, so the retry only finishes the work.
func fallocate(fd int, mode uint32, off, size int64) error {
	for {
		err := unix.Fallocate(fd, mode, off, size)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
