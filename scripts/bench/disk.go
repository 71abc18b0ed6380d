package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hostd/hostd/memscrub"
)

// nopJournal keeps nothing: the benchmark's store lives for one run.
type nopJournal struct{}

func (nopJournal) SaveExtent(*memscrub.ExtentRecord) error { return nil }
func (nopJournal) DeleteExtent(string) error               { return nil }

// benchWipe times a volume's deletion (its wipe) and the next volume's creation on that extent,
// per mode and size, against writing the same zeros with dd. Every extent is filled with data
// first: wiping blocks that were never written would prove nothing.
func benchWipe(w *bytes.Buffer) error {
	dir, err := os.MkdirTemp("/var/tmp", "hostd-bench-disk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store := filepath.Join(dir, "disk.img")
	type row struct {
		mode memscrub.WipeMode
		size int64
	}
	rows := []row{{memscrub.WipeFast, 1 << 30}, {memscrub.WipePunchHole, 1 << 30}, {memscrub.WipeOverwrite, 1 << 30},
		{memscrub.WipeFast, 10 << 30}, {memscrub.WipePunchHole, 10 << 30}}
	fmt.Fprintf(w, "## Deleting and reusing a volume (issue 5)\n\n")
	fmt.Fprintf(w, "A volume's extent, filled with data, deleted (wiped, then freed) and a new volume created on the same extent; a file store on this machine's disk (ext4). `fast` is fallocate zero-range (the default), `punch-hole` fallocate punch-hole, `overwrite` zeros written and synced. The baseline writes the same zeros with `dd if=/dev/zero conv=notrunc,fsync`.\n\n")
	fmt.Fprintf(w, "| extent | mode | delete (wipe) | create on it | dd of the same zeros | wipe vs dd |\n|---|---|---|---|---|---|\n")
	dd := map[int64]time.Duration{}
	for _, r := range rows {
		_ = os.Remove(store)
		s, err := memscrub.OpenDiskStore(memscrub.DiskConfig{Path: store, Size: 11 << 30, Scrub: true, Wipe: r.mode,
			Journal: nopJournal{}, Log: slog.New(slog.DiscardHandler)}, nil)
		if err != nil {
			return err
		}
		if _, err := s.Create("vol-a", r.size); err != nil {
			return err
		}
		if err := fill(store, r.size); err != nil {
			return err
		}
		start := time.Now()
		if err := s.Delete("vol-a"); err != nil {
			return err
		}
		wipe := time.Since(start)
		start = time.Now()
		ext, err := s.Create("vol-b", r.size)
		if err != nil {
			return err
		}
		create := time.Since(start)
		if ext.Offset != 0 {
			return fmt.Errorf("the new volume did not reuse the extent")
		}
		if _, ok := dd[r.size]; !ok {
			if dd[r.size], err = ddZeros(store, r.size); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "| %d GiB | %s | %s | %s | %s | %.0f× faster |\n", r.size>>30, r.mode, ms(wipe), ms(create), ms(dd[r.size]), float64(dd[r.size])/float64(wipe))
	}
	fmt.Fprintf(w, "\n`fast` reads back zero but may leave the old bytes on the medium; that is safe only because guests never see the store itself, and `--wipe overwrite` is there for operators who must destroy them.\n\n")
	return nil
}

// fill writes size bytes of non-zero data at the start of the store and syncs them.
func fill(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	block := bytes.Repeat([]byte("tenant data "), (1<<20)/12+1)[:1<<20]
	for off := int64(0); off < size; off += 1 << 20 {
		if _, err := f.WriteAt(block, off); err != nil {
			return err
		}
	}
	return f.Sync()
}

func ddZeros(path string, size int64) (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command("dd", "if=/dev/zero", "of="+path, "bs=1M", fmt.Sprintf("count=%d", size>>20), "conv=notrunc,fsync").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("dd: %v: %s", err, out)
	}
	return time.Since(start), nil
}
