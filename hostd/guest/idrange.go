package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// IDRange is a block of host uids and gids that ids 0..Size-1 inside one instance map to.
type IDRange struct {
	HostID uint32
	Size   uint32
}

// Each instance gets 65536 ids (a whole 16-bit uid space, as rootless runtimes give) from a region
// far above any real account's uid. 16384 slots cover the region up to 2^31.
const (
	idRegionStart = 1 << 30
	idRangeSize   = 1 << 16
	idRangeSlots  = 1 << 14
)

// ErrNoIDRange means every id range on the host is taken.
var ErrNoIDRange = errors.New("every host uid range for instances is in use")

// IDAllocator hands out id ranges. The ranges must be distinct across every daemon on the host,
// so a slot is claimed by creating a file with O_EXCL in a directory all daemons share; the file
// names the owner (a daemon's state dir) and the instance.
type IDAllocator struct {
	Dir   string
	Owner string
}

// DefaultIDDir is the host-wide directory of claimed slots.
const DefaultIDDir = "/run/hostd-idranges"

// Range returns the ids of slot.
func (a *IDAllocator) Range(slot int) IDRange {
	return IDRange{HostID: uint32(idRegionStart + slot*idRangeSize), Size: idRangeSize}
}

// Allocate claims the lowest free slot for instanceID.
func (a *IDAllocator) Allocate(instanceID string) (int, error) {
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return 0, err
	}
	for slot := range idRangeSlots {
		f, err := os.OpenFile(a.slotPath(slot), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		_, err = fmt.Fprintf(f, "%s %s\n", a.Owner, instanceID)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(a.slotPath(slot))
			return 0, err
		}
		return slot, nil
	}
	return 0, ErrNoIDRange
}

// Release frees slot if this owner holds it.
func (a *IDAllocator) Release(slot int) {
	if owner, _, ok := a.holder(slot); ok && owner == a.Owner {
		os.Remove(a.slotPath(slot))
	}
}

// Held lists this owner's slots and the instance each was claimed for.
func (a *IDAllocator) Held() (map[int]string, error) {
	entries, err := os.ReadDir(a.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	held := map[int]string{}
	for _, e := range entries {
		slot, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if owner, id, ok := a.holder(slot); ok && owner == a.Owner {
			held[slot] = id
		}
	}
	return held, nil
}

func (a *IDAllocator) holder(slot int) (owner, instanceID string, ok bool) {
	data, err := os.ReadFile(a.slotPath(slot))
	if err != nil {
		return "", "", false
	}
	owner, instanceID, ok = strings.Cut(strings.TrimSpace(string(data)), " ")
	return owner, instanceID, ok
}

func (a *IDAllocator) slotPath(slot int) string {
	return filepath.Join(a.Dir, strconv.Itoa(slot))
}
