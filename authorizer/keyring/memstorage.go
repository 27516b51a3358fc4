package keyring

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
)

// MemoryStorage is a Storage held in memory: for a single process (every ring of one name in it shares
// one MemoryStorage) and for tests. Keys do not survive a restart, so what a ring sealed or signed before a
// restart stops opening or verifying after it. The zero value is not usable; call NewMemoryStorage.
type MemoryStorage struct {
	mu     sync.Mutex
	values map[string][]byte
	locks  map[string]chan struct{}
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{values: map[string][]byte{}, locks: map[string]chan struct{}{}}
}

// Lock waits until name is unlocked or ctx is done, then locks it.
func (m *MemoryStorage) Lock(ctx context.Context, name string) error {
	for {
		m.mu.Lock()
		held, ok := m.locks[name]
		if !ok {
			m.locks[name] = make(chan struct{})
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return fmt.Errorf("waiting for lock %s: %w", name, ctx.Err())
		}
	}
}

// Unlock releases name.
func (m *MemoryStorage) Unlock(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	held, ok := m.locks[name]
	if !ok {
		return fmt.Errorf("unlocking %s: not locked", name)
	}
	delete(m.locks, name)
	close(held)
	return nil
}

// Store keeps a copy of value under key.
func (m *MemoryStorage) Store(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[key] = append([]byte(nil), value...)
	return nil
}

// Load returns a copy of the value under key, or an error matching fs.ErrNotExist.
func (m *MemoryStorage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[key]
	if !ok {
		return nil, fmt.Errorf("loading %s: %w", key, fs.ErrNotExist)
	}
	return append([]byte(nil), v...), nil
}

var _ Storage = (*MemoryStorage)(nil)
