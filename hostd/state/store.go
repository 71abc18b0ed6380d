// Package state keeps the daemon's records in one bbolt file, so that a restarted daemon (even
// after SIGKILL) knows which instances it launched and what each one holds on the host.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/hostd/hostd/hostd/api"
)

// Phase is where an instance is in its life. Launching is written before any host resource is
// made, so a daemon that dies mid-launch finds the record at start and cleans up behind it.
type Phase string

// Instance phases.
const (
	Launching  Phase = "launching"
	Running    Phase = api.StateRunning
	Stopped    Phase = api.StateStopped
	Terminated Phase = api.StateTerminated
)

// Instance is what the daemon records of one instance.
type Instance struct {
	ID         string     `json:"id"`
	Phase      Phase      `json:"phase"`
	Command    []string   `json:"command"`
	Limits     api.Limits `json:"limits"`
	IDSlot     int        `json:"id_slot"`
	HostID     uint32     `json:"host_id"`
	IDCount    uint32     `json:"id_count"`
	Pid        int        `json:"pid,omitempty"`
	PidStart   uint64     `json:"pid_start,omitempty"` // start time of Pid, to tell it from a reused pid
	LaunchTime time.Time  `json:"launch_time"`
	EndTime    time.Time  `json:"end_time,omitzero"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Reason     string     `json:"reason,omitempty"`
}

var instancesBucket = []byte("instances")

// Store is the daemon's database.
type Store struct {
	db *bolt.DB
}

// Open opens (or creates) the database at path. A second daemon on the same file fails here
// after a second instead of corrupting it.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("state file %s is locked: another hostd is using this --state-dir", path)
		}
		return nil, fmt.Errorf("opening state file %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(instancesBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// PutInstance writes rec, replacing any record with its id.
func (s *Store) PutInstance(rec *Instance) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(instancesBucket).Put([]byte(rec.ID), data)
	})
}

// DeleteInstance removes the record of id; a missing record is not an error.
func (s *Store) DeleteInstance(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(instancesBucket).Delete([]byte(id))
	})
}

// Instances returns every record, oldest launch first.
func (s *Store) Instances() ([]*Instance, error) {
	var out []*Instance
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(instancesBucket).ForEach(func(k, v []byte) error {
			rec := new(Instance)
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("record %s is corrupt: %w", k, err)
			}
			out = append(out, rec)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].LaunchTime.Before(out[j].LaunchTime) })
	return out, err
}
