package account

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// A Sealer encrypts access-key secrets for the store and decrypts them to verify a request.
//
// It is AES-256-GCM under the daemon's master key (a keyfile under the state dir, mode 0600,
// made on first start). Each sealed secret is bound to its access key id as additional data,
// so a sealed secret copied onto another key's record does not open. Whoever holds the master
// key and the store can recover every secret: that is the price of Signature Version 4, whose
// verifier must hold the secret itself; keep the state dir root-only.
type Sealer struct {
	aead cipher.AEAD
}

// sealVersion is the first byte of every sealed secret, so that the format can change later.
const sealVersion = 1

// NewSealer returns a Sealer for a 32-byte master key.
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != 32 {
		return nil, fmt.Errorf("master key must be 32 bytes, not %d", len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts the secret of the access key accessKeyID: version, random nonce, ciphertext.
func (s *Sealer) Seal(accessKeyID string, secret []byte) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return s.aead.Seal(out, out[1:], secret, []byte(accessKeyID))
}

// ErrUnseal is returned for a sealed secret that does not open: another master key, another
// access key's record, or a damaged store.
var ErrUnseal = errors.New("sealed secret does not open with this master key and access key id")

// Open decrypts a secret sealed for accessKeyID.
func (s *Sealer) Open(accessKeyID string, sealed []byte) ([]byte, error) {
	n := 1 + s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrUnseal
	}
	secret, err := s.aead.Open(nil, sealed[1:n], sealed[n:], []byte(accessKeyID))
	if err != nil {
		return nil, ErrUnseal
	}
	return secret, nil
}
