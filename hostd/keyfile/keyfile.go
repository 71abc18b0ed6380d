// Package keyfile keeps the daemon's own secret keys: 32 random bytes each, in a file of mode
// 0600 under the state dir, created on first start and read on every start after.
//
// The audit trail's Ed25519 signing key and the master key that seals access-key secrets are
// such keys. A key file is published with link(2), so a crash while creating one leaves either
// no key or a whole key, never a short one that a later start would take for real.
package keyfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Size is the length of every key: an AES-256 key, or an Ed25519 seed.
const Size = 32

// LoadOrCreate returns the key in path, creating it first if the file does not exist. It refuses
// a key file that others than its owner may read or write, or that is not exactly Size bytes:
// either means the key can no longer be trusted, and the operator must look.
func LoadOrCreate(path string) ([]byte, error) {
	key, err := load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := create(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process created it first: use theirs
			return load(path)
		}
		return nil, err
	}
	return key, nil
}

func load(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %v; it must be a regular file of mode 0600: "+
			"if someone else could read it, make a new key (move the file away) and tell whoever relies on the old one", path, st.Mode())
	}
	key := make([]byte, Size+1)
	n, err := f.Read(key)
	if err != nil || n != Size {
		return nil, fmt.Errorf("key file %s does not hold a %d-byte key (read %d bytes, %v)", path, Size, n, err)
	}
	return key[:Size], nil
}

// create writes key to a temporary file, syncs it and links it into place: link fails if path
// exists, so two starts racing cannot overwrite each other's key.
func create(path string, key []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(key); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the directory entries in dir durable (a file created, renamed or removed in it).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
